//! `--json` on the commands that change an environment: each prints its outcome as data (the
//! event's commit, the package changes, the statistics), checked against the environment's own
//! history, while the text form stays what people read.

use serde_json::Value;

use crate::common::rocks::{Lvm, file_server};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn head(lvm: &Lvm) -> String {
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    repo.head().unwrap().target().unwrap().to_string()
}

/// The changes of an outcome as `name change` pairs.
fn changes(outcome: &Value) -> Vec<String> {
    outcome["changes"]
        .as_array()
        .expect("a list of changes")
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["name"].as_str().unwrap(),
                c["change"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn install_remove_rollback_and_gc_print_their_outcome_as_json() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);

    let installed = json(&lvm.ok(&["install", "chain-a", "--json"]));
    assert_eq!(installed["commit"], head(&lvm));
    assert_eq!(
        changes(&installed),
        ["chain-a added", "chain-b added", "chain-c added"]
    );
    let prepared =
        installed["builds"].as_u64().unwrap() + installed["store_hits"].as_u64().unwrap();
    assert_eq!(prepared, 3, "{installed}");

    let again = json(&lvm.ok(&["install", "chain-a", "--json"]));
    assert_eq!(again["commit"], Value::Null, "nothing recorded: {again}");
    assert!(changes(&again).is_empty());

    let removed = json(&lvm.ok(&["remove", "chain-a", "--json"]));
    assert_eq!(removed["commit"], head(&lvm));
    assert_eq!(
        changes(&removed),
        ["chain-a removed", "chain-b removed", "chain-c removed"]
    );

    let rolled = json(&lvm.ok(&["rollback", "--json"]));
    assert_eq!(
        changes(&rolled),
        ["chain-a added", "chain-b added", "chain-c added"]
    );
    assert_eq!(rolled["settings_restored"], false);
    assert_eq!(rolled["switched_profile"], Value::Null);

    let gc = json(&lvm.ok(&["gc", "--dry-run", "--json"]));
    assert_eq!(gc["dry_run"], true);
    assert_eq!(gc["kept"], 3, "every build is still needed: {gc}");
    assert_eq!(gc["removed"], serde_json::json!([]));
}

#[test]
fn the_text_form_names_the_commit_the_changes_and_the_builds() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let out = lvm.ok(&["install", "chain-a"]);
    let short = &head(&lvm)[..7];
    assert!(out.starts_with(&format!("Installed ({short}")), "{out}");
    assert!(
        out.contains("+ chain-c 1.0-1") && out.contains("from the store)"),
        "{out}"
    );
    let out = lvm.ok(&["install", "chain-a"]);
    assert_eq!(out.trim(), "Nothing to do: chain-a already installed");
    let out = lvm.ok(&["remove", "chain-a"]);
    assert!(out.starts_with("Removed ("), "{out}");
}
