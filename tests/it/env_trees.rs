//! Trees of recent states kept in `.trees/`: a rollback, redo or profile switch to one of them
//! reuses it (no new tree directory, the same files), a kept tree whose mark is damaged or
//! missing or whose contents changed is rebuilt instead, the kept set stays bounded, and
//! `lvm verify` accepts it.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::common::rocks::{Lvm, file_server, git, stdout_ok};
use lvm::env::KEPT_TREES;

/// The tree directory names in `.trees/` (not the trash, which is deleted in the background).
fn tree_dirs(lvm: &Lvm) -> BTreeSet<String> {
    std::fs::read_dir(lvm.env_dir().join(".trees"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(".trash-"))
        .collect()
}

/// The directory the live tree link points to.
fn live_dir(lvm: &Lvm) -> PathBuf {
    std::fs::canonicalize(lvm.tree()).unwrap()
}

fn live_name(lvm: &Lvm) -> String {
    live_dir(lvm)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The inode of the tree's own LuaRocks manifest (written for each new tree, never linked).
fn manifest_inode(tree: &Path) -> u64 {
    std::fs::metadata(tree.join("lib/luarocks/rocks-5.4/manifest"))
        .unwrap()
        .ino()
}

fn verify_ok(lvm: &Lvm) {
    let out = lvm.ok(&["verify"]);
    assert!(out.starts_with("ok: "), "{out}");
}

fn lua_prints(lvm: &Lvm, code: &str) -> String {
    stdout_ok(&lvm.lua(code)).trim().to_string()
}

#[test]
fn rollback_redo_and_switch_reuse_the_kept_tree() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1", "cmath"]);
    let first = live_name(&lvm);
    let first_inode = manifest_inode(&live_dir(&lvm));
    lvm.ok(&["install", "dia-base"]);
    let second = live_name(&lvm);
    assert_ne!(first, second);
    assert!(
        tree_dirs(&lvm).contains(&first),
        "the previous tree is kept"
    );

    // Undo: the state of `first` again, so its tree is live again, untouched.
    lvm.ok(&["rollback"]);
    assert_eq!(live_name(&lvm), first);
    assert_eq!(manifest_inode(&live_dir(&lvm)), first_inode);
    assert_eq!(lvm.installed(), ["cmath 1.0-1", "strutil 1.0-1"]);
    assert_eq!(
        lua_prints(
            &lvm,
            "print(require('strutil').version, require('cmath').gcd(12, 18))"
        ),
        "1.0\t6"
    );
    assert!(!lvm.lua("require('dia_base')").status.success());

    // Redo: the second tree comes back.
    let before = tree_dirs(&lvm);
    lvm.ok(&["rollback"]);
    assert_eq!(live_name(&lvm), second);
    assert_eq!(tree_dirs(&lvm), before, "no tree was made or removed");
    assert!(lvm.installed().contains(&"dia-base 2.0-1".to_string()));

    // A profile switch to a state seen before reuses its tree too, and back.
    lvm.ok(&["profile", "create", "other", "--from", "default"]);
    lvm.ok(&["profile", "switch", "other"]);
    lvm.ok(&["remove", "dia-base"]);
    assert_eq!(live_name(&lvm), first, "the same state as `first`");
    lvm.ok(&["profile", "switch", "default"]);
    assert_eq!(live_name(&lvm), second);
    lvm.ok(&["profile", "switch", "other"]);
    assert_eq!(live_name(&lvm), first);
    assert_eq!(manifest_inode(&live_dir(&lvm)), first_inode);
    assert_eq!(lua_prints(&lvm, "print(require('cmath').gcd(9, 6))"), "3");
    verify_ok(&lvm);
}

#[test]
fn a_kept_tree_with_a_damaged_or_missing_mark_or_changed_files_is_rebuilt() {
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 4] = [
        ("damaged mark", |t| {
            std::fs::write(t.join(".lvm-state"), "0123456789abcdef").unwrap()
        }),
        ("missing mark", |t| {
            std::fs::remove_file(t.join(".lvm-state")).unwrap()
        }),
        // What `luarocks install --tree` or a hand edit does while the tree is live.
        ("added module", |t| {
            std::fs::write(t.join("share/lua/5.4/strutil_extra.lua"), "return 1\n").unwrap()
        }),
        ("rewritten tree manifest", |t| {
            std::fs::write(t.join("lib/luarocks/rocks-5.4/manifest"), "return {}\n").unwrap()
        }),
    ];
    for (what, damage) in damages {
        let lvm = Lvm::new();
        let (_dir, url) = file_server(lvm.root.path());
        lvm.init(&[&url]);
        lvm.ok(&["install", "strutil", "1.0-1"]);
        let first = live_dir(&lvm);
        let first_inode = manifest_inode(&first);
        lvm.ok(&["install", "strutil", "1.1-1"]);
        assert!(first.is_dir(), "{what}: the previous tree is kept");
        // Change times have the clock's granularity: make sure the damage comes later.
        std::thread::sleep(std::time::Duration::from_millis(20));
        damage(&first);
        // Held open, the old tree's manifest keeps its inode number even after the damaged
        // tree is deleted, so a new tree's manifest cannot be given the same number.
        let _held = std::fs::File::open(first.join("lib/luarocks/rocks-5.4/manifest")).unwrap();

        lvm.ok(&["rollback"]);
        let now = live_dir(&lvm);
        assert_ne!(now, first, "{what}: the damaged tree was reused");
        assert_ne!(manifest_inode(&now), first_inode, "{what}");
        assert!(!first.exists(), "{what}: the damaged tree is still kept");
        assert_eq!(lvm.installed(), ["strutil 1.0-1"], "{what}");
        assert_eq!(
            lua_prints(&lvm, "print(require('strutil').version)"),
            "1.0",
            "{what}"
        );
        assert!(
            !now.join("share/lua/5.4/strutil_extra.lua").exists(),
            "{what}"
        );
        verify_ok(&lvm);
    }
}

#[test]
fn the_kept_trees_are_bounded_and_the_oldest_go_first() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    // States, each with its own tree: init, then one per install or remove.
    let steps: [&[&str]; 6] = [
        &["install", "strutil", "1.0-1"],
        &["install", "strutil", "1.1-1"],
        &["install", "dia-base", "1.0-1"],
        &["install", "dia-base", "1.5-1"],
        &["install", "dia-base", "2.0-1"],
        &["install", "hello-cli"],
    ];
    let mut lives = vec![live_name(&lvm)];
    for step in steps {
        lvm.ok(step);
        lives.push(live_name(&lvm));
        let dirs = tree_dirs(&lvm);
        assert!(dirs.len() <= KEPT_TREES + 1, "{dirs:?}");
    }
    // The live tree and the most recent ones are there, the oldest are gone.
    let expected: BTreeSet<String> = lives.iter().rev().take(KEPT_TREES + 1).cloned().collect();
    assert_eq!(tree_dirs(&lvm), expected);
    // The evicted trees were deleted in the background.
    let start = std::time::Instant::now();
    while !trash(&lvm).is_empty() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the trash is never deleted: {:?}",
            trash(&lvm)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Going back to an evicted state makes a new tree (and evicts the next oldest). Without
    // `rm` on PATH the evicted tree is deleted before lvm exits.
    let first = first_commit(&lvm);
    let out = lvm
        .command()
        .env("PATH", "/nonexistent")
        .args(["rollback", &first[..12]])
        .output()
        .unwrap();
    stdout_ok(&out);
    assert_eq!(trash(&lvm), Vec::<String>::new());
    assert_eq!(lvm.installed(), Vec::<String>::new());
    assert!(!lives.contains(&live_name(&lvm)));
    assert_eq!(tree_dirs(&lvm).len(), KEPT_TREES + 1);
    verify_ok(&lvm);
}

/// The entries of `.trees/` waiting to be deleted.
fn trash(lvm: &Lvm) -> Vec<String> {
    std::fs::read_dir(lvm.env_dir().join(".trees"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".trash-"))
        .collect()
}

/// The commit of the environment's first event (init).
fn first_commit(lvm: &Lvm) -> String {
    let log: serde_json::Value = serde_json::from_str(&lvm.ok(&["log", "--json"])).unwrap();
    log.as_array().unwrap().last().unwrap()["commit"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn verify_accepts_kept_trees_and_names_them_when_verbose() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    lvm.ok(&["install", "hello-cli"]);
    let kept: Vec<String> = tree_dirs(&lvm)
        .into_iter()
        .filter(|d| *d != live_name(&lvm))
        .collect();
    assert_eq!(kept.len(), 2, "the trees of init and of the first install");
    let out = lvm.command().args(["-v", "verify"]).output().unwrap();
    let stdout = stdout_ok(&out);
    assert!(stdout.starts_with("ok: "), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in &kept {
        assert!(stderr.contains(name.as_str()), "{name} not named: {stderr}");
    }
    // Repair rebuilds the live tree from the store and keeps the bound.
    lvm.ok(&["verify", "--repair"]);
    assert!(tree_dirs(&lvm).len() <= KEPT_TREES + 1);
    verify_ok(&lvm);
    assert_eq!(lua_prints(&lvm, "print(require('strutil').version)"), "1.0");
}

/// What `lvm run` says when the live tree is not of the head's state.
const WARNING: &str = "does not match its recorded state";

/// An environment with `strutil` installed.
fn env_with_strutil() -> Lvm {
    let lvm = Lvm::new();
    let (_, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    lvm
}

/// `lvm run` of code that finds `strutil`.
fn run(lvm: &Lvm) -> std::process::Output {
    lvm.run(&["run", "-e", "print(require('strutil') ~= nil)"])
}

#[test]
fn lvm_run_warns_only_when_the_live_tree_is_not_of_the_recorded_state() {
    let lvm = env_with_strutil();
    let out = run(&lvm);
    assert_eq!(stdout_ok(&out).trim(), "true");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(WARNING));

    // The same state committed by hand in another JSON layout: still the tree's state.
    let manifest_path = lvm.env_dir().join("manifest.json");
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    std::fs::write(&manifest_path, serde_json::to_vec(&recorded).unwrap()).unwrap();
    git(
        &lvm.env_dir(),
        &["commit", "-qam", "the same state, compact"],
    );
    let out = run(&lvm);
    assert_eq!(stdout_ok(&out).trim(), "true");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(WARNING));

    // A tree whose mark names another state.
    let mark = live_dir(&lvm).join(".lvm-state");
    std::fs::write(&mark, format!("{}\n", "0".repeat(64))).unwrap();
    let out = run(&lvm);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(WARNING),
        "{out:?}"
    );
}

#[test]
fn the_head_memo_answers_only_for_the_commit_it_was_made_for() {
    let lvm = env_with_strutil();
    let memo = lvm.env_dir().join(".git/lvm-head-memo");
    let head = || {
        git(&lvm.env_dir(), &["rev-parse", "HEAD"])
            .trim()
            .to_string()
    };
    // The install left the memo of its own commit, so the first reader writes nothing. The
    // writer gave the digest of the manifest it committed.
    let written = std::fs::read_to_string(&memo).unwrap();
    assert!(written.contains(&head()), "{written}");
    let committed = std::fs::read(lvm.env_dir().join("manifest.json")).unwrap();
    let digest = lvm::digest::sha256_bytes(&committed);
    assert!(written.contains(&digest), "{written} lacks {digest}");
    assert!(!String::from_utf8_lossy(&run(&lvm).stderr).contains(WARNING));

    // A hand-made commit of another state, then the memo of the old head put back: the memo
    // is not of the head, so the head's manifest is read and the tree is found out of date.
    let manifest_path = lvm.env_dir().join("manifest.json");
    let mut recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    recorded["packages"] = serde_json::json!({});
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&recorded).unwrap(),
    )
    .unwrap();
    git(&lvm.env_dir(), &["commit", "-qam", "no packages, by hand"]);
    std::fs::write(&memo, &written).unwrap();
    let out = run(&lvm);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(WARNING),
        "{out:?}"
    );
    assert!(std::fs::read_to_string(&memo).unwrap().contains(&head()));

    // A damaged memo is not used either, and the next reader makes it again.
    lvm.ok(&["sync"]);
    std::fs::write(&memo, b"{\"commit\": ").unwrap();
    let out = lvm.run(&["run", "-e", "print((pcall(require, 'strutil')))"]);
    assert_eq!(stdout_ok(&out).trim(), "false");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(WARNING));
    assert!(std::fs::read_to_string(&memo).unwrap().contains(&head()));
}
