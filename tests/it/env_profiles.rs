//! Profiles as branches of the environment repository, through the `lvm` binary: create, list,
//! switch (from the store only), delete, merge with conflicts explained, and rollback across a
//! switch. Every operation is exactly one commit.

use std::path::Path;

use crate::common::rocks::{Lvm, event_json, file_server, git, stdout_ok};

fn branch_head(env: &Path, name: &str) -> Option<git2::Oid> {
    let repo = git2::Repository::open(env).unwrap();
    repo.find_branch(name, git2::BranchType::Local)
        .ok()
        .and_then(|b| b.get().target())
}

fn event_of(env: &Path, commit: git2::Oid) -> serde_json::Value {
    let repo = git2::Repository::open(env).unwrap();
    let commit = repo.find_commit(commit).unwrap();
    event_json(commit.message().unwrap())
}

fn parents(env: &Path, commit: git2::Oid) -> Vec<git2::Oid> {
    let repo = git2::Repository::open(env).unwrap();
    repo.find_commit(commit).unwrap().parent_ids().collect()
}

fn current(lvm: &Lvm) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["profile", "list", "--json"])).unwrap();
    json["current"].as_str().unwrap().to_string()
}

fn names(lvm: &Lvm) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(&lvm.ok(&["list", "--json"])).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// An environment with strutil installed and a profile `dev` made from `default`, which
/// stays current.
fn strutil_and_a_dev_profile() -> Lvm {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["profile", "create", "dev"]);
    lvm
}

#[test]
fn create_switch_delete_are_one_commit_each() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = lvm.env_dir();
    lvm.ok(&["install", "strutil"]);
    let default_head = branch_head(&env, "default").unwrap();
    let tree_before = std::fs::read_link(lvm.tree()).unwrap();

    lvm.ok(&["profile", "create", "dev"]);
    let dev_head = branch_head(&env, "dev").unwrap();
    assert_eq!(parents(&env, dev_head), [default_head]);
    let e = event_of(&env, dev_head);
    assert_eq!(e["kind"], "profile-create");
    assert_eq!(e["details"]["from"], "default");
    assert_eq!(branch_head(&env, "default"), Some(default_head));
    assert_eq!(current(&lvm), "default");
    assert_eq!(
        std::fs::read_link(lvm.tree()).unwrap(),
        tree_before,
        "tree untouched"
    );
    let list = lvm.ok(&["profile", "list"]);
    assert_eq!(list, "* default\n  dev\n");

    lvm.ok(&["profile", "switch", "dev"]);
    assert_eq!(current(&lvm), "dev");
    let switch = branch_head(&env, "dev").unwrap();
    assert_eq!(parents(&env, switch), [dev_head]);
    let e = event_of(&env, switch);
    assert_eq!(e["kind"], "profile-switch");
    assert_eq!(e["details"]["from"], "default");
    assert_eq!(branch_head(&env, "default"), Some(default_head));
    lvm.ok(&["install", "chain-a"]);
    assert_eq!(names(&lvm), ["chain-a", "chain-b", "chain-c", "strutil"]);

    // --from another profile, without switching.
    lvm.ok(&["profile", "create", "base", "--from", "default"]);
    let base = branch_head(&env, "base").unwrap();
    assert_eq!(parents(&env, base), [default_head]);
    assert_eq!(current(&lvm), "dev");

    lvm.ok(&["profile", "switch", "default"]);
    assert_eq!(names(&lvm), ["strutil"]);
    let tree = lvm.tree().canonicalize().unwrap();
    assert!(!tree.join("share/lua/5.4/chain_a.lua").exists());
    // The live tree and a bounded number of recent ones are kept (old ones go to the trash,
    // deleted in the background).
    let trees = std::fs::read_dir(env.join(".trees"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            !name.to_string_lossy().starts_with(".trash-")
        })
        .count();
    assert!((2..=lvm::env::KEPT_TREES + 1).contains(&trees), "{trees}");

    let before_delete = branch_head(&env, "default").unwrap();
    lvm.ok(&["profile", "delete", "base"]);
    assert!(branch_head(&env, "base").is_none());
    let del = branch_head(&env, "default").unwrap();
    assert_eq!(parents(&env, del), [before_delete]);
    let e = event_of(&env, del);
    assert_eq!(e["kind"], "profile-delete");
    assert_eq!(e["details"]["deleted_head"], base.to_string());

    let err = lvm.fails(&["profile", "delete", "default"]);
    assert!(err.contains("cannot delete the current profile"), "{err}");
    // Switching to the current profile: nothing to do, said on stdout, exit 0, no event.
    let before = lvm.snapshot();
    let out = lvm.ok(&["profile", "switch", "default"]);
    assert!(out.contains("Already on profile 'default'"), "{out}");
    assert_eq!(lvm.snapshot(), before);
    assert_eq!(branch_head(&env, "default"), Some(del));
    let err = lvm.fails(&["profile", "create", "dev"]);
    assert!(err.contains("profile 'dev' already exists"), "{err}");
    let err = lvm.fails(&["profile", "create", "bad/name"]);
    assert!(err.contains("profile name"), "{err}");
    let err = lvm.fails(&["profile", "switch", "nope"]);
    assert!(err.contains("profile 'nope' does not exist"), "{err}");
    assert!(
        !err.contains("did you mean"),
        "nothing close to 'nope': {err}"
    );
    // A typo of an existing profile gets the closest name.
    let err = lvm.fails(&["profile", "switch", "dve"]);
    assert!(
        err.contains("profile 'dve' does not exist; did you mean 'dev'?"),
        "{err}"
    );
    lvm.ok(&["verify"]);
}

#[test]
fn switch_rematerializes_from_the_store_only() {
    let lvm = Lvm::new();
    let (dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "cmath"]);
    lvm.ok(&["profile", "create", "web"]);
    lvm.ok(&["profile", "switch", "web"]);
    lvm.ok(&["remove", "cmath"]);
    lvm.ok(&["install", "hello-cli"]);
    std::fs::remove_dir_all(&dir).unwrap();
    let offline = |args: &[&str]| {
        stdout_ok(
            &lvm.command()
                .env("PATH", "/nonexistent")
                .args(args)
                .output()
                .unwrap(),
        )
    };
    offline(&["profile", "switch", "default"]);
    let out = stdout_ok(&lvm.lua("print(require('cmath').gcd(9, 6), pcall(require, 'hello'))"));
    assert!(out.starts_with("3\tfalse"), "{out}");
    offline(&["profile", "switch", "web"]);
    let out = stdout_ok(&lvm.lua("print(require('hello').greet(' x '), pcall(require, 'cmath'))"));
    assert!(out.starts_with("hello, x\tfalse"), "{out}");
    offline(&["verify"]);
}

#[test]
fn rollback_right_after_a_switch_returns_to_the_previous_profile() {
    let lvm = strutil_and_a_dev_profile();
    let env = lvm.env_dir();
    lvm.ok(&["profile", "switch", "dev"]);
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["profile", "switch", "default"]);
    let dev_head = branch_head(&env, "dev").unwrap();

    let out = lvm.ok(&["rollback"]);
    assert!(out.contains("Switched back to profile 'dev'"), "{out}");
    assert_eq!(current(&lvm), "dev");
    assert_eq!(names(&lvm), ["chain-a", "chain-b", "chain-c", "strutil"]);
    let head = branch_head(&env, "dev").unwrap();
    assert_eq!(parents(&env, head), [dev_head], "one commit, on dev");
    let e = event_of(&env, head);
    assert_eq!(e["kind"], "rollback");
    assert_eq!(e["details"]["from"], "default");
    let lua = stdout_ok(&lvm.lua("print(require('chain_a').chain())"));
    assert_eq!(lua.trim(), "chain-a>chain-b>chain-c");

    // That rollback can itself be rolled back: back to default.
    lvm.ok(&["rollback"]);
    assert_eq!(current(&lvm), "default");
    assert_eq!(names(&lvm), ["strutil"]);
    // Older events of a profile roll back within it.
    lvm.ok(&["rollback", "3"]);
    assert_eq!(current(&lvm), "default");
    assert!(names(&lvm).is_empty());
    lvm.ok(&["verify"]);
}

#[test]
fn merge_brings_the_other_profiles_packages_through_the_resolver() {
    let lvm = strutil_and_a_dev_profile();
    let env = lvm.env_dir();
    lvm.ok(&["profile", "switch", "dev"]);
    lvm.ok(&["install", "dia-top"]);
    lvm.ok(&["profile", "switch", "default"]);
    lvm.ok(&["install", "dia-left"]);
    let ours = branch_head(&env, "default").unwrap();
    let theirs = branch_head(&env, "dev").unwrap();

    let out = lvm.ok(&["profile", "merge", "dev"]);
    assert!(out.contains("Merged profile 'dev' into 'default'"), "{out}");
    let head = branch_head(&env, "default").unwrap();
    assert_eq!(parents(&env, head), [ours, theirs]);
    let e = event_of(&env, head);
    assert_eq!(e["kind"], "profile-merge");
    assert_eq!(e["details"]["merged"], theirs.to_string());
    assert_eq!(
        names(&lvm),
        ["dia-base", "dia-left", "dia-right", "dia-top", "strutil"]
    );
    // dia-base had to move from 2.0-1 (only dia-left's >= 1.0) to 1.5-1 (dia-right's < 2.0).
    let shown: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["show", "dia-base", "--json"])).unwrap();
    assert_eq!(shown["package"]["version"], "1.5-1");
    assert_eq!(
        branch_head(&env, "dev"),
        Some(theirs),
        "the other profile is unchanged"
    );
    lvm.ok(&["verify"]);
}

#[test]
fn merging_the_current_profile_is_refused_and_changes_nothing() {
    let lvm = strutil_and_a_dev_profile();
    let env = lvm.env_dir();
    let before = lvm.snapshot();
    let head = branch_head(&env, "default").unwrap();
    for json in [false, true] {
        let mut args = vec!["profile", "merge", "default"];
        if json {
            args.push("--json");
        }
        let out = lvm.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot merge profile 'default' into itself")
                && err.contains("current profile")
                && err.contains("lvm profile list"),
            "{err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(lvm.snapshot(), before);
        assert_eq!(branch_head(&env, "default"), Some(head));
    }
    let err = lvm.fails(&["profile", "merge", "nope"]);
    assert!(err.contains("profile 'nope' does not exist"), "{err}");
    assert_eq!(lvm.snapshot(), before);
    lvm.ok(&["verify"]);
}

#[test]
fn a_merge_whose_packages_do_not_resolve_names_the_package_and_both_constraints() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["profile", "create", "other"]);
    lvm.ok(&["profile", "switch", "other"]);
    lvm.ok(&["install", "clash-y"]);
    lvm.ok(&["profile", "switch", "default"]);
    lvm.ok(&["install", "clash-x"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["profile", "merge", "other"]);
    assert!(err.contains("cannot be merged"), "{err}");
    assert!(err.contains("dia-base"), "{err}");
    assert!(err.contains(">= 2.0") && err.contains("< 1.1"), "{err}");
    assert!(err.contains("clash-x") && err.contains("clash-y"), "{err}");
    assert_eq!(lvm.snapshot(), before);
    lvm.ok(&["verify"]);
}

/// lvm reads the head and the branches from their files when git wrote them loose; after
/// `git pack-refs` (what `git gc` does) they are in `packed-refs`, which libgit2 reads.
#[test]
fn profiles_whose_refs_git_packed_are_read_switched_and_moved() {
    let lvm = strutil_and_a_dev_profile();
    let env = lvm.env_dir();
    let default_head = branch_head(&env, "default").unwrap();
    git(&env, &["pack-refs", "--all"]);
    assert!(!env.join(".git/refs/heads/default").exists());
    assert!(!env.join(".git/refs/heads/dev").exists());

    assert_eq!(lvm.ok(&["profile", "list"]), "* default\n  dev\n");
    assert_eq!(names(&lvm), ["strutil"]);
    assert_eq!(
        lvm.ok(&["run", "-e", "print(package.path ~= nil)"]),
        "true\n"
    );
    lvm.ok(&["profile", "switch", "dev"]);
    assert_eq!(current(&lvm), "dev");
    lvm.ok(&["install", "chain-a"]);
    assert_eq!(names(&lvm), ["chain-a", "chain-b", "chain-c", "strutil"]);
    assert_eq!(branch_head(&env, "default"), Some(default_head));
    lvm.ok(&["profile", "switch", "default"]);
    assert_eq!(names(&lvm), ["strutil"]);
}
