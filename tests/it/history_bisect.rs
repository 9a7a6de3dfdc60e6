//! `lvm bisect` through the binary on the fixture rocks: the first bad event found by `run`
//! and step by step, every state good, a range that is no range, skipped states, the live tree
//! and history untouched, and states made from the store without a compile (or rebuilt when
//! the store lost their build).

use std::path::{Path, PathBuf};

use crate::common::make_writable;
use crate::common::rocks::{Lvm, file_server};

/// A test that passes while strutil is 1.0 and fails from its upgrade to 1.1 on; it skips
/// (125) a state without strutil, and loads cmath (a C module) when the state has it, so a
/// state's compiled build is used too.
const TEST: &str = r#"
local ok, s = pcall(require, "strutil")
if not ok then os.exit(125) end
local has_cmath, cmath = pcall(require, "cmath")
if has_cmath and cmath.gcd(12, 18) ~= 6 then os.exit(2) end
os.exit(s.version == "1.0" and 0 or 1)
"#;

/// An environment whose history is: init, strutil 1.0, cmath, chain-a, strutil 1.1 (the
/// first bad event), dia-top; returns the test script's path.
fn history(lvm: &Lvm) -> PathBuf {
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    lvm.ok(&["install", "cmath"]);
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["install", "strutil", "1.1-1"]);
    lvm.ok(&["install", "dia-top"]);
    let script = lvm.root.path().join("test.lua");
    std::fs::write(&script, TEST).unwrap();
    // Keep the server folder: a rebuild reads it.
    std::mem::forget(_dir);
    script
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Every store entry with its metadata: equal before and after means nothing was built or
/// inserted.
fn store_entries(lvm: &Lvm) -> Vec<(PathBuf, String)> {
    let rocks = lvm.home().join("store/rocks");
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(rocks)
        .unwrap()
        .flatten()
        .map(|e| {
            let meta = std::fs::read_to_string(e.path().join("meta.json")).unwrap_or_default();
            (e.path(), meta)
        })
        .collect();
    out.sort();
    out
}

/// Where the live tree link points: a bisection never moves it.
fn live_tree(lvm: &Lvm) -> PathBuf {
    std::fs::read_link(lvm.tree()).unwrap()
}

fn short_head(lvm: &Lvm, rev: &str) -> String {
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    let commit = repo.revparse_single(rev).unwrap().peel_to_commit().unwrap();
    commit.id().to_string()
}

#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4")]
fn run_finds_the_first_bad_event_from_the_store_leaving_the_live_tree_alone() {
    let lvm = Lvm::new();
    let script = history(&lvm);
    let script = script.to_str().unwrap();
    let before = lvm.snapshot();
    let link = live_tree(&lvm);
    let store = store_entries(&lvm);
    let upgrade = short_head(&lvm, "HEAD~1");

    let out = json(&lvm.ok(&[
        "bisect", "run", "--good", "HEAD~4", "--json", "--", "lua5.4", script,
    ]));
    assert_eq!(out["result"], "first_bad", "{out}");
    assert_eq!(out["first_bad"]["commit"], upgrade.as_str(), "{out}");
    assert_eq!(out["states"], 5, "{out}");
    let changes = out["first_bad"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{out}");
    assert_eq!(changes[0]["name"], "strutil");
    assert_eq!(changes[0]["from"], "1.0-1");
    assert_eq!(changes[0]["to"], "1.1-1");
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(
        steps[0]["verdict"], "bad",
        "the bad state is tested first: {out}"
    );
    assert!(steps.len() <= 3, "5 states take at most 3 tests: {out}");
    assert!(steps.iter().all(|s| s["rebuilt"] == 0), "{out}");

    // Made from the store: no entry built or added, none changed.
    assert_eq!(
        store_entries(&lvm),
        store,
        "the store changed: something was built"
    );
    // The live tree, its files, every profile and manifest.json are as they were; nothing
    // was recorded and no scratch tree is left.
    assert_eq!(lvm.snapshot(), before);
    assert_eq!(live_tree(&lvm), link);
    let scratch: Vec<_> = std::fs::read_dir(lvm.env_dir().join(".lvm-tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(scratch.is_empty(), "scratch left behind: {scratch:?}");

    // The text names the event and its change; the default range (from the first event)
    // finds the same one, stepping around the states without strutil (exit 125).
    let text = lvm.ok(&["bisect", "run", "--", "lua5.4", script]);
    assert!(
        text.contains("First bad event: ")
            && text.contains(&upgrade[..10])
            && text.contains("~ strutil 1.0-1 → 1.1-1 (upgraded)"),
        "{text}"
    );
}

#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4")]
fn every_state_good_and_bad_equal_to_good_are_said_clearly() {
    let lvm = Lvm::new();
    let script = history(&lvm);
    let script = script.to_str().unwrap();
    // Up to the state before the upgrade every state passes.
    let out = lvm.run(&[
        "bisect", "run", "--good", "HEAD~4", "--bad", "HEAD~2", "--", "lua5.4", script,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("The test passes at the bad state")
            && text.contains("every state in the range is good"),
        "{text}"
    );
    let err = lvm.fails(&[
        "bisect", "run", "--good", "HEAD~2", "--bad", "HEAD~2", "--", "true",
    ]);
    assert!(err.contains("--good and --bad both name"), "{err}");
    let err = lvm.fails(&[
        "bisect", "run", "--good", "HEAD", "--bad", "HEAD~2", "--", "true",
    ]);
    assert!(err.contains("comes after the bad state"), "{err}");
    let err = lvm.fails(&["bisect", "run", "--good", "nonsense", "--", "true"]);
    assert!(err.contains("nonsense"), "{err}");
    // A command that cannot be run stops the search with its name.
    let err = lvm.fails(&["bisect", "run", "--", "lvm-no-such-test-command"]);
    assert!(
        err.contains("cannot run the test command `lvm-no-such-test-command`"),
        "{err}"
    );
}

#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4")]
fn skipped_states_leave_the_candidates_named() {
    let lvm = Lvm::new();
    let script = history(&lvm);
    // Skips every state but the bad one (the only one with dia-top, where it fails): the
    // first bad event is one of the skipped ones or the bad one, and all are named.
    let bad = short_head(&lvm, "HEAD");
    let _ = script;
    let code = "if pcall(require, 'dia_top') then os.exit(1) end os.exit(125)";
    let out = lvm.run(&[
        "bisect", "run", "--good", "HEAD~3", "--json", "--", "lua5.4", "-e", code,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(out["result"], "only_skipped", "{out}");
    let candidates: Vec<&str> = out["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["commit"].as_str().unwrap())
        .collect();
    assert_eq!(candidates.len(), 3, "{out}");
    assert_eq!(candidates.last(), Some(&bad.as_str()));
}

#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4")]
fn manual_bisection_steps_through_states_and_exec_runs_on_each() {
    let lvm = Lvm::new();
    let script = history(&lvm);
    let script = script.to_str().unwrap();
    let before = lvm.snapshot();
    let upgrade = short_head(&lvm, "HEAD~1");

    let err = lvm.fails(&["bisect", "good"]);
    assert!(err.contains("no bisection in progress"), "{err}");

    let mut step = json(&lvm.ok(&["bisect", "start", "--good", "HEAD~4", "--json"]));
    let mut rounds = 0;
    while step["result"] == "testing" {
        rounds += 1;
        assert!(rounds <= 4, "{step}");
        let tree = Path::new(step["tree"].as_str().unwrap()).to_path_buf();
        assert!(tree.starts_with(lvm.env_dir().join(".git")), "{step}");
        let code = lvm
            .run(&["bisect", "exec", "--", "lua5.4", script])
            .status
            .code()
            .unwrap();
        let verdict = match code {
            0 => "good",
            125 => "skip",
            _ => "bad",
        };
        step = json(&lvm.ok(&["bisect", verdict, "--json"]).replace('\n', " "));
    }
    assert_eq!(step["result"], "first_bad", "{step}");
    assert_eq!(step["first_bad"]["commit"], upgrade.as_str());
    assert_eq!(
        lvm.snapshot(),
        before,
        "nothing recorded, the live tree as it was"
    );
    let err = lvm.fails(&["bisect", "bad"]);
    assert!(err.contains("the bisection is over"), "{err}");
    let text = lvm.ok(&["bisect", "reset"]);
    assert!(text.contains("Bisection ended"), "{text}");
    assert!(!lvm.env_dir().join(".git/lvm-bisect").exists());
    let err = lvm.fails(&["bisect", "exec", "--", "true"]);
    assert!(err.contains("no bisection in progress"), "{err}");
}

#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4")]
fn a_state_whose_build_the_store_lost_is_rebuilt_and_reported() {
    let lvm = Lvm::new();
    let script = history(&lvm);
    let script = script.to_str().unwrap();
    // strutil 1.0 is in no state from HEAD on: drop its store entry.
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    let old = repo.revparse_single("HEAD~2:manifest.json").unwrap();
    let manifest = json(std::str::from_utf8(old.as_blob().unwrap().content()).unwrap());
    let key = manifest["packages"]["strutil"]["store_key"]
        .as_str()
        .unwrap()
        .to_string();
    let entry = lvm.home().join("store/rocks").join(&key);
    assert!(entry.is_dir(), "{}", entry.display());
    make_writable(&entry);
    std::fs::remove_dir_all(&entry).unwrap();

    let out = json(&lvm.ok(&[
        "bisect", "run", "--good", "HEAD~4", "--json", "--", "lua5.4", script,
    ]));
    assert_eq!(out["result"], "first_bad", "{out}");
    let rebuilt: u64 = out["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rebuilt"].as_u64().unwrap())
        .sum();
    assert_eq!(rebuilt, 1, "{out}");
    assert!(entry.is_dir(), "the build is back in the store");
}
