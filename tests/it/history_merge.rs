//! The three-way profile merge through the `lvm` binary on the fixture rocks: changes made on
//! one side kept (removals included), conflicts refused with each side's change and event,
//! settled with --ours/--theirs/--prefer, merge commits with both parents, nothing recorded for
//! a profile merged already; and the git merge driver of manifest.json with the real git CLI.

use std::path::Path;

use crate::common::rocks::{Lvm, event_json, file_server, git, git_output, stdout_ok};

/// The git CLI's view of a commit's parents.
fn parents(env: &Path, rev: &str) -> Vec<String> {
    git(env, &["rev-list", "--parents", "-n", "1", rev])
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn head_of(env: &Path, profile: &str) -> String {
    git(env, &["rev-parse", profile]).trim().to_string()
}

fn names(lvm: &Lvm) -> Vec<String> {
    lvm.installed()
        .into_iter()
        .map(|p| p.split(' ').next().unwrap().to_string())
        .collect()
}

/// An environment with `packages` installed and a profile `dev` made from it, still on
/// `default`.
fn with_dev(lvm: &Lvm, url: &str, packages: &[&str]) {
    lvm.init(&[url]);
    let mut args = vec!["install"];
    args.extend(packages);
    lvm.ok(&args);
    lvm.ok(&["profile", "create", "dev"]);
}

/// Runs `changes` on profile `profile`, then switches back to `default`.
fn on(lvm: &Lvm, profile: &str, changes: &[&[&str]]) {
    lvm.ok(&["profile", "switch", profile]);
    for args in changes {
        lvm.ok(args);
    }
    lvm.ok(&["profile", "switch", "default"]);
}

#[test]
fn a_removal_on_one_side_stays_removed_and_the_merge_commit_has_both_parents() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    with_dev(&lvm, &url, &["strutil", "chain-c"]);
    let env = lvm.env_dir();
    let base = head_of(&env, "default");
    on(&lvm, "dev", &[&["remove", "chain-c"]]);
    let ours = head_of(&env, "default");
    let theirs = head_of(&env, "dev");

    let out = lvm.ok(&["profile", "merge", "dev"]);
    assert!(out.contains("Merged profile 'dev' into 'default'"), "{out}");
    assert!(out.contains("- chain-c 2.0-1"), "{out}");
    assert_eq!(names(&lvm), ["strutil"]);
    assert_eq!(parents(&env, "default"), [ours, theirs.clone()]);
    let graph = git(&env, &["log", "--graph", "--oneline", "default"]);
    assert!(graph.lines().next().unwrap().starts_with("*   "), "{graph}");
    assert!(graph.contains("|\\"), "{graph}");
    let e = event_json(&git(&env, &["log", "-1", "--format=%B", "default"]));
    assert_eq!(e["kind"], "profile-merge");
    assert_eq!(e["args"], serde_json::json!(["dev"]));
    assert_eq!(e["details"]["merged"], theirs);
    // The common state: where dev was made from.
    assert_eq!(e["details"]["base"], base);
    assert!(e["details"].get("chosen").is_none(), "{e}");
    let lua = stdout_ok(&lvm.lua("print(pcall(require, 'chain_c'), require('strutil') ~= nil)"));
    assert!(lua.starts_with("false"), "{lua}");
    assert!(lvm.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn removals_on_each_side_both_stay_and_installs_on_each_side_both_come() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    with_dev(&lvm, &url, &["strutil", "chain-c", "dia-base"]);
    on(
        &lvm,
        "dev",
        &[&["remove", "chain-c"], &["install", "cmath"]],
    );
    lvm.ok(&["remove", "dia-base"]);
    lvm.ok(&["install", "hello-cli"]);
    lvm.ok(&["profile", "merge", "dev"]);
    assert_eq!(names(&lvm), ["cmath", "hello-cli", "strutil"]);
    let lua = stdout_ok(&lvm.lua("print(require('cmath').gcd(9, 6), require('hello') ~= nil)"));
    assert_eq!(lua.trim(), "3\ttrue");
    assert!(lvm.ok(&["verify"]).starts_with("ok:"));
}

/// `default` and `dev` from a common state with dia-base 1.0-1 and strutil 1.0-1: default
/// upgrades both, dev upgrades dia-base otherwise and removes strutil.
fn conflicting(lvm: &Lvm, url: &str) {
    with_dev(lvm, url, &["dia-base", "1.0-1", "strutil", "1.0-1"]);
    on(
        lvm,
        "dev",
        &[&["install", "dia-base", "2.0-1"], &["remove", "strutil"]],
    );
    lvm.ok(&["install", "dia-base", "1.5-1"]);
    lvm.ok(&["install", "strutil", "1.1-1"]);
}

fn short_commit_of(env: &Path, rev: &str) -> String {
    head_of(env, rev)[..10].to_string()
}

#[test]
fn changes_that_differ_are_conflicts_naming_each_side_and_its_event() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    conflicting(&lvm, &url);
    let env = lvm.env_dir();
    let before = lvm.snapshot();
    let out = lvm.run(&["profile", "merge", "dev"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("profiles 'default' and 'dev' changed 2 package(s) differently"),
        "{err}"
    );
    // Each side's change and the event that made it.
    let dia_ours = short_commit_of(&env, "default~1");
    let dia_theirs = short_commit_of(&env, "dev~1");
    let strutil_ours = short_commit_of(&env, "default");
    let strutil_theirs = short_commit_of(&env, "dev");
    assert!(
        err.contains("dia-base: ours upgraded 1.0-1 → 1.5-1"),
        "{err}"
    );
    assert!(
        err.contains(&format!("in {dia_ours} 'install dia-base")),
        "{err}"
    );
    assert!(err.contains("theirs upgraded 1.0-1 → 2.0-1"), "{err}");
    assert!(
        err.contains(&format!("in {dia_theirs} 'install dia-base")),
        "{err}"
    );
    assert!(
        err.contains("strutil: ours upgraded 1.0-1 → 1.1-1"),
        "{err}"
    );
    assert!(
        err.contains(&format!("in {strutil_ours} 'install strutil")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "theirs removed 1.0-1 in {strutil_theirs} 'remove strutil"
        )),
        "{err}"
    );
    assert!(
        err.contains("--ours") && err.contains("--prefer NAME=ours|theirs"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(lvm.snapshot(), before, "a refused merge changes nothing");
    assert!(lvm.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn ours_theirs_and_prefer_settle_conflicts() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    conflicting(&lvm, &url);
    let env = lvm.env_dir();
    // Each try on its own copy of default: after a merge, dev counts as merged.
    let tries: [(&[&str], &[&str], &str); 4] = [
        (
            &["--ours"],
            &["dia-base 1.5-1", "strutil 1.1-1"],
            "dia-base=ours strutil=ours",
        ),
        (
            &["--theirs"],
            &["dia-base 2.0-1"],
            "dia-base=theirs strutil=theirs",
        ),
        (
            &["--theirs", "--prefer", "strutil=ours"],
            &["dia-base 2.0-1", "strutil 1.1-1"],
            "dia-base=theirs strutil=ours",
        ),
        (
            &["--prefer", "dia-base=ours", "--prefer", "strutil=theirs"],
            &["dia-base 1.5-1"],
            "dia-base=ours strutil=theirs",
        ),
    ];
    for (i, (flags, expected, chosen)) in tries.iter().enumerate() {
        let name = format!("try{i}");
        lvm.ok(&["profile", "create", &name, "--from", "default"]);
        lvm.ok(&["profile", "switch", &name]);
        let mut args = vec!["profile", "merge", "dev"];
        args.extend(*flags);
        let out = lvm.ok(&args);
        assert!(out.contains("took"), "{out}");
        assert_eq!(lvm.installed(), *expected, "{flags:?}");
        let e = event_json(&git(&env, &["log", "-1", "--format=%B", &name]));
        assert_eq!(e["details"]["chosen"], *chosen, "{flags:?}");
        assert_eq!(parents(&env, &name).len(), 2);
        assert!(lvm.ok(&["verify"]).starts_with("ok:"));
    }
    // A choice for one package leaves the other conflict standing.
    lvm.ok(&["profile", "switch", "default"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["profile", "merge", "dev", "--prefer", "strutil=ours"]);
    assert!(err.contains("changed 1 package(s) differently"), "{err}");
    assert!(err.contains("dia-base: ours"), "{err}");
    // A preference for a package no side has is a typo.
    let err = lvm.fails(&["profile", "merge", "dev", "--prefer", "strutl=ours"]);
    assert!(
        err.contains("--prefer strutl: no package 'strutl'")
            && err.contains("did you mean 'strutil'"),
        "{err}"
    );
    let out = lvm.run(&["profile", "merge", "dev", "--prefer", "strutil=mine"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'ours' or 'theirs'"));
    let out = lvm.run(&["profile", "merge", "dev", "--ours", "--theirs"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn a_profile_merged_already_records_nothing_and_says_so() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    with_dev(&lvm, &url, &["strutil"]);
    let env = lvm.env_dir();
    on(&lvm, "dev", &[&["install", "chain-c"]]);
    lvm.ok(&["profile", "merge", "dev"]);
    assert_eq!(names(&lvm), ["chain-c", "strutil"]);
    let before = lvm.snapshot();
    let head = head_of(&env, "default");
    let out = lvm.ok(&["profile", "merge", "dev"]);
    assert!(
        out.contains("Already up to date: profile 'dev' is already merged into 'default'"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["profile", "merge", "dev", "--json"])).unwrap();
    assert_eq!(json["commit"], serde_json::Value::Null);
    assert_eq!(lvm.snapshot(), before);
    assert_eq!(head_of(&env, "default"), head);
    // The current profile itself is refused, as before.
    let err = lvm.fails(&["profile", "merge", "default"]);
    assert!(
        err.contains("cannot merge profile 'default' into itself"),
        "{err}"
    );
    assert!(lvm.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn the_merge_driver_is_registered_and_git_merge_merges_packages_three_way() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    with_dev(&lvm, &url, &["strutil", "chain-c", "dia-base"]);
    let env = lvm.env_dir();
    let attr = git(&env, &["check-attr", "merge", "manifest.json"]);
    assert_eq!(attr.trim(), "manifest.json: merge: lvm-manifest");
    let driver = git(&env, &["config", "merge.lvm-manifest.driver"]);
    assert!(
        driver.trim().ends_with("merge-driver %O %A %B %P"),
        "{driver}"
    );
    assert!(git(&env, &["status", "--porcelain"]).is_empty());
    // Registering again changes nothing.
    let config = std::fs::read(env.join(".git/config")).unwrap();
    let attributes = std::fs::read(env.join(".git/info/attributes")).unwrap();
    lvm.ok(&["install", "makerock"]);
    assert_eq!(std::fs::read(env.join(".git/config")).unwrap(), config);
    assert_eq!(
        std::fs::read(env.join(".git/info/attributes")).unwrap(),
        attributes
    );
    // An environment without it (made by an earlier lvm) gets it at its next change, beside
    // attributes of its own.
    git(&env, &["config", "--remove-section", "merge.lvm-manifest"]);
    std::fs::write(env.join(".git/info/attributes"), "*.txt text\n").unwrap();
    lvm.ok(&["list"]);
    assert!(
        git_output(&env, &["config", "merge.lvm-manifest.driver"])
            .stdout
            .is_empty()
    );
    lvm.ok(&["sync"]);
    assert_eq!(git(&env, &["config", "merge.lvm-manifest.driver"]), driver);
    assert_eq!(
        std::fs::read_to_string(env.join(".git/info/attributes")).unwrap(),
        "*.txt text\n/manifest.json merge=lvm-manifest\n"
    );

    on(
        &lvm,
        "dev",
        &[&["remove", "chain-c"], &["install", "cmath"]],
    );
    lvm.ok(&["remove", "dia-base"]);
    git(&env, &["merge", "--no-edit", "dev"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.join("manifest.json")).unwrap()).unwrap();
    let merged: Vec<&String> = manifest["packages"].as_object().unwrap().keys().collect();
    assert_eq!(
        merged,
        ["cmath", "makerock", "strutil"],
        "both removals stay"
    );
    let out = lvm.ok(&["sync"]);
    assert!(out.contains("Recorded commits made outside lvm"), "{out}");
    assert_eq!(names(&lvm), ["cmath", "makerock", "strutil"]);
    stdout_ok(&lvm.lua("require('cmath'); require('makerock'); require('strutil')"));
    assert!(lvm.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn a_git_merge_with_conflicting_package_changes_stops_with_the_file_conflicted() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    conflicting(&lvm, &url);
    let env = lvm.env_dir();
    let out = git_output(&env, &["merge", "--no-edit", "dev"]);
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("CONFLICT") && all.contains("manifest.json"),
        "{all}"
    );
    assert!(
        all.contains("manifest.json: 2 package(s) changed differently on both sides"),
        "{all}"
    );
    assert!(
        all.contains("dia-base: ours upgraded 1.0-1 → 1.5-1"),
        "{all}"
    );
    let unmerged = git(&env, &["diff", "--name-only", "--diff-filter=U"]);
    assert_eq!(unmerged.trim(), "manifest.json");
    let text = std::fs::read_to_string(env.join("manifest.json")).unwrap();
    assert!(
        text.contains("<<<<<<< ours: upgraded 1.0-1 → 1.5-1"),
        "{text}"
    );
    assert!(text.contains(">>>>>>> theirs: removed 1.0-1"), "{text}");
    git(&env, &["merge", "--abort"]);
    assert!(lvm.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn profiles_without_common_history_are_refused_and_nothing_changes() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    // Another environment's history, fetched as a profile: no commit in common.
    let stranger = Lvm::new();
    stranger.init(&[&url]);
    let env = lvm.env_dir();
    let source = stranger.env_dir().display().to_string();
    git(&env, &["fetch", "--quiet", &source, "default:stranger"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["profile", "merge", "stranger"]);
    assert!(
        err.contains("profiles 'default' and 'stranger' share no history"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}
