//! The environment repository over a long life, through the `lvm` binary: packing after changes
//! (`LVM_TEST_PACK_EVERY` stands in for hundreds of events) with `git fsck` accepting the result
//! and history, rollback and log working on it; the plain `lvm log` printing exactly what the
//! parsed events say; and removals recorded by name and version replaying next to older events
//! that carry the whole removed record.

use std::path::Path;
use std::process::Command;

use crate::common::rocks::{Lvm, event_json, file_server};

fn loose_objects(env: &Path) -> Vec<String> {
    let objects = env.join(".git").join("objects");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&objects).unwrap().flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if name.len() != 2 {
            continue;
        }
        for file in std::fs::read_dir(dir.path()).unwrap().flatten() {
            out.push(format!("{name}{}", file.file_name().to_string_lossy()));
        }
    }
    out.sort();
    out
}

fn packs(env: &Path) -> Vec<String> {
    let dir = env.join(".git").join("objects").join("pack");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn git_fsck(env: &Path) {
    let out = Command::new("git")
        .args(["fsck", "--strict", "--no-dangling"])
        .current_dir(env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git fsck failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn verify_ok(lvm: &Lvm, pack_every: &str) {
    let out = lvm.run_with_pack(pack_every, &["verify"]);
    assert!(out.starts_with("ok: "), "{out}");
}

trait PackEvery {
    fn run_with_pack(&self, every: &str, args: &[&str]) -> String;
}

impl PackEvery for Lvm {
    /// Runs lvm with a small packing threshold; asserts success and returns stdout.
    fn run_with_pack(&self, every: &str, args: &[&str]) -> String {
        let out = self
            .command()
            .env("LVM_TEST_PACK_EVERY", every)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "lvm {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The header lines of `lvm log --stat`, which come from the parsed events.
fn parsed_log_lines(lvm: &Lvm) -> Vec<String> {
    lvm.ok(&["log", "--stat"])
        .lines()
        .filter(|l| !l.starts_with("    "))
        .map(str::to_string)
        .collect()
}

#[test]
fn changes_pack_the_repository_and_everything_still_reads_it() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = lvm.env_dir();
    let every = "4";
    lvm.run_with_pack(every, &["install", "strutil", "1.0-1"]);
    lvm.run_with_pack(every, &["install", "chain-a"]);
    assert!(
        packs(&env).is_empty(),
        "packed too early: {:?}",
        packs(&env)
    );
    let loose_before = loose_objects(&env);
    // The fourth unpacked event (init counts) packs everything reachable.
    lvm.run_with_pack(every, &["install", "strutil", "1.1-1"]);
    let after_first = packs(&env);
    assert_eq!(
        after_first.iter().filter(|p| p.ends_with(".pack")).count(),
        1,
        "{after_first:?}"
    );
    assert!(after_first.iter().any(|p| p.ends_with(".idx")));
    let loose = loose_objects(&env);
    assert!(
        loose.is_empty(),
        "loose objects left after packing: {loose:?} (before: {} loose)",
        loose_before.len()
    );
    git_fsck(&env);

    // More changes: loose again until the next threshold, then a second pack.
    lvm.run_with_pack(every, &["remove", "chain-a"]);
    assert!(!loose_objects(&env).is_empty());
    lvm.run_with_pack(every, &["install", "dia-base"]);
    lvm.run_with_pack(every, &["rollback"]);
    assert_eq!(packs(&env), after_first);
    lvm.run_with_pack(every, &["install", "chain-a"]);
    let second = packs(&env);
    assert_eq!(
        second.iter().filter(|p| p.ends_with(".pack")).count(),
        2,
        "{second:?}"
    );
    assert!(loose_objects(&env).is_empty(), "{:?}", loose_objects(&env));
    git_fsck(&env);

    // History reads from the packs: log, rollback by count, verify (replay), stats.
    let log = lvm.ok(&["log"]);
    assert_eq!(log.lines().count(), 8, "{log}");
    assert!(
        log.lines().next().unwrap().contains("install chain-a"),
        "{log}"
    );
    assert!(log.lines().last().unwrap().ends_with(" init"), "{log}");
    assert_eq!(
        log.lines().map(str::to_string).collect::<Vec<_>>(),
        parsed_log_lines(&lvm)
    );
    verify_ok(&lvm, every);
    lvm.run_with_pack(every, &["rollback", "3"]);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    verify_ok(&lvm, every);
    git_fsck(&env);
    let stats: serde_json::Value = serde_json::from_str(&lvm.ok(&["stats", "--json"])).unwrap();
    assert_eq!(stats["events"], 9);

    // Real git reads the packed history too.
    let out = Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(&env)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 9);
}

#[test]
fn plain_log_prints_what_the_parsed_events_say() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["install", "strutil", "1.1-1"]);
    lvm.ok(&["remove", "chain-a"]);
    let plain: Vec<String> = lvm.ok(&["log"]).lines().map(str::to_string).collect();
    assert_eq!(plain, parsed_log_lines(&lvm));
    assert_eq!(plain.len(), 5);
    assert!(
        plain[0].ends_with(" remove chain-a 1.0-1 (-chain-b 1.0-1, -chain-c 1.0-1)"),
        "{plain:?}"
    );
    // `<10 hex> YYYY-MM-DD HH:MM:SS <summary>`
    let fields: Vec<&str> = plain[1].splitn(4, ' ').collect();
    assert_eq!(fields[0].len(), 10);
    assert!(chrono::NaiveDate::parse_from_str(fields[1], "%Y-%m-%d").is_ok());
    assert!(chrono::NaiveTime::parse_from_str(fields[2], "%H:%M:%S").is_ok());
    assert_eq!(fields[3], "install strutil 1.0-1 → 1.1-1");
    let two: Vec<String> = lvm
        .ok(&["log", "-n", "2"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(two, plain[..2]);
}

#[test]
fn removals_are_recorded_by_version_and_old_full_records_still_replay() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = lvm.env_dir();
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["remove", "chain-a"]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["remove", "chain-a"]);

    let repo = git2::Repository::open(&env).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let removal = event_json(head.message().unwrap());
    let changes = removal["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3);
    for change in changes {
        assert_eq!(change["change"], "removed");
        assert_eq!(change["version"], "1.0-1");
        assert!(change.get("package").is_none(), "{change}");
    }

    // Rewrite the first removal (HEAD~3) the way older lvm wrote it: the whole record of each
    // removed package, taken from its parent's manifest.json; then re-make the commits after it
    // on top, so the profile's history mixes both shapes.
    let mut line = Vec::new();
    let mut c = head.clone();
    for _ in 0..4 {
        line.push(c.clone());
        c = c.parent(0).unwrap();
    }
    line.reverse();
    let old_removal = &line[0];
    let parent = old_removal.parent(0).unwrap();
    let parent_manifest: serde_json::Value = {
        let tree = parent.tree().unwrap();
        let blob = repo
            .find_blob(tree.get_name("manifest.json").unwrap().id())
            .unwrap();
        serde_json::from_slice(blob.content()).unwrap()
    };
    let mut event = event_json(old_removal.message().unwrap());
    let compact_len = serde_json::to_string(&event).unwrap().len();
    for change in event["changes"].as_array_mut().unwrap() {
        let name = change["name"].as_str().unwrap().to_string();
        *change = serde_json::json!({
            "change": "removed",
            "name": name,
            "package": parent_manifest["packages"][&name],
        });
    }
    let full = serde_json::to_string(&event).unwrap();
    assert!(
        compact_len * 2 < full.len(),
        "compact removal {compact_len} bytes vs {} with whole records",
        full.len()
    );
    let subject = old_removal.summary().unwrap().unwrap().to_string();
    let sig = old_removal.author();
    let mut new_parent = repo
        .commit(
            None,
            &sig,
            &sig,
            &format!("{subject}\n\nlvm-event:{full}\n"),
            &old_removal.tree().unwrap(),
            &[&parent],
        )
        .unwrap();
    for later in &line[1..] {
        let p = repo.find_commit(new_parent).unwrap();
        new_parent = repo
            .commit(
                None,
                &later.author(),
                &later.committer(),
                later.message().unwrap(),
                &later.tree().unwrap(),
                &[&p],
            )
            .unwrap();
    }
    repo.reference(
        "refs/heads/default",
        new_parent,
        true,
        "test: old-style removal",
    )
    .unwrap();

    // Replay (verify), stats, show-event, log --stat and rollback read both shapes.
    let out = lvm.ok(&["verify"]);
    assert!(out.starts_with("ok: 6 events"), "{out}");
    let shown: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["show-event", "HEAD~3"])).unwrap();
    assert_eq!(
        shown["event"]["changes"][0]["package"]["version"], "1.0-1",
        "{shown}"
    );
    let shown: serde_json::Value = serde_json::from_str(&lvm.ok(&["show-event"])).unwrap();
    assert_eq!(shown["event"]["changes"][0]["version"], "1.0-1", "{shown}");
    let stat = lvm.ok(&["log", "--stat"]);
    assert_eq!(stat.matches("    - chain-b 1.0-1").count(), 2, "{stat}");
    let stats: serde_json::Value = serde_json::from_str(&lvm.ok(&["stats", "--json"])).unwrap();
    assert_eq!(
        stats["packages_over_time"],
        serde_json::json!([0, 3, 0, 1, 4, 1])
    );
    let diff = lvm.ok(&["diff", "HEAD~4", "HEAD~3"]);
    assert!(diff.contains("- chain-a 1.0-1"), "{diff}");
    lvm.ok(&["rollback", "4"]);
    assert_eq!(
        lvm.installed(),
        ["chain-a 1.0-1", "chain-b 1.0-1", "chain-c 1.0-1"]
    );
    let out = lvm.ok(&["verify"]);
    assert!(out.starts_with("ok: 7 events"), "{out}");
}
