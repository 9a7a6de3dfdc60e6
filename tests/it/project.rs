//! Project environments end to end with the real git CLI: `lvm init` in a project's work tree
//! (no nested repository, two files for `git status`), installs committed with the code, clones
//! synced with `lvm sync --frozen` from the store and in a fresh home, a teammate's pull noted
//! and synced, branches merged through the merge driver, `lvm diff` between project commits,
//! rollback, bad committed files refused; and lvm never touching the user's HEAD, index or
//! branches.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::rocks::{
    Lvm, event_json, failed, file_server, git, git_output, installed_in, succeeded,
};

/// A project folder (a real git work tree) driven by the lvm home of `lvm`.
struct Project<'l> {
    lvm: &'l Lvm,
    dir: PathBuf,
}

impl<'l> Project<'l> {
    /// A new git project with one commit (a README), in the home of `lvm`.
    fn new(lvm: &'l Lvm, name: &str) -> Project<'l> {
        let dir = lvm.root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("README"), "a Lua project\n").unwrap();
        git(&dir, &["add", "README"]);
        git(&dir, &["commit", "-q", "-m", "start"]);
        Project { lvm, dir }
    }

    /// A clone of `from` (any git URL or path) made with `git clone ARGS`, in the home of `lvm`.
    fn clone(lvm: &'l Lvm, from: &Path, name: &str, args: &[&str]) -> Project<'l> {
        let dir = lvm.root.path().join(name);
        let mut all = vec!["clone", "-q"];
        all.extend(args);
        let from = from.to_str().unwrap();
        let to = dir.to_str().unwrap();
        all.extend([from, to]);
        git(lvm.root.path(), &all);
        Project { lvm, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.lvm
            .command()
            .env_remove("LVM_ENV")
            .current_dir(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, &self.run(args))
    }

    fn fails(&self, args: &[&str]) -> String {
        failed(args, &self.run(args))
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    fn env(&self) -> PathBuf {
        self.dir.join(".lvm")
    }

    /// What the user owns in git: HEAD, the branches, the index and the work tree's status.
    fn user_state(&self) -> String {
        format!(
            "HEAD {}\n{}index:\n{}status:\n{}",
            self.git(&["rev-parse", "HEAD"]),
            self.git(&["for-each-ref", "refs/heads", "refs/tags", "refs/remotes"]),
            self.git(&["diff", "--cached", "--name-status"]),
            self.git(&["status", "--porcelain", "--untracked-files=all"]),
        )
    }

    fn lvm_refs(&self) -> String {
        self.git(&["for-each-ref", "refs/lvm", "refs/lvm-remotes"])
    }

    /// Installed packages as `name version`.
    fn installed(&self) -> Vec<String> {
        installed_in(&self.ok(&["list", "--json"]))
    }

    /// The event of lvm's head (or another lvm revision).
    fn event(&self, rev: &str) -> serde_json::Value {
        let message = self.git(&["log", "-1", "--format=%B", rev]);
        event_json(&message)
    }

    fn head_event(&self) -> serde_json::Value {
        self.event("refs/lvm/profiles/default")
    }

    fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }
}

/// A project with `packages` installed and committed, on a file:// fixture server.
fn project_with<'l>(lvm: &'l Lvm, name: &str, packages: &[&str]) -> (Project<'l>, String) {
    let (_dir, url) = file_server(lvm.root.path());
    let project = Project::new(lvm, name);
    project.ok(&["init", "--server", &url]);
    if !packages.is_empty() {
        let mut args = vec!["install"];
        args.extend(packages);
        project.ok(&args);
    }
    project.commit_all("dependencies");
    (project, url)
}

#[test]
fn init_in_a_project_makes_plain_files_and_never_touches_head_index_or_branches() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    let project = Project::new(&lvm, "app");
    // Something staged and something modified of the user's, which lvm must leave alone.
    std::fs::write(project.dir.join("staged.lua"), "return 1\n").unwrap();
    project.git(&["add", "staged.lua"]);
    std::fs::write(project.dir.join("README"), "changed\n").unwrap();
    let before = project.user_state();

    let out = project.ok(&["init", "--server", &url]);
    assert!(out.contains("project environment"), "{out}");
    let env = project.env();
    assert!(!env.join(".git").exists(), "a nested repository was made");
    assert!(env.join(".gitignore").is_file());
    let new_files = |state: &str| -> Vec<String> {
        state
            .lines()
            .filter(|l| l.contains(".lvm/"))
            .map(str::to_string)
            .collect()
    };
    let after_init = project.user_state();
    assert_eq!(
        new_files(&after_init),
        ["?? .lvm/lvm.toml", "?? .lvm/manifest.json"],
        "{after_init}"
    );
    assert_eq!(
        after_init
            .replace("?? .lvm/lvm.toml\n", "")
            .replace("?? .lvm/manifest.json\n", ""),
        before
    );
    assert!(
        project.lvm_refs().contains("refs/lvm/profiles/default"),
        "{}",
        project.lvm_refs()
    );
    // The merge driver is registered in the repository's own config and attributes.
    let attributes = std::fs::read_to_string(project.dir.join(".git/info/attributes")).unwrap();
    assert!(
        attributes.contains("/.lvm/manifest.json merge=lvm-manifest"),
        "{attributes}"
    );
    assert!(
        project
            .git(&["config", "merge.lvm-manifest.driver"])
            .contains("merge-driver")
    );

    project.ok(&["install", "strutil"]);
    assert_eq!(project.installed(), ["strutil 1.1-1"]);
    assert!(
        std::fs::read_to_string(env.join("manifest.json"))
            .unwrap()
            .contains("\"strutil\"")
    );
    let after_install = project.user_state();
    assert_eq!(new_files(&after_install), new_files(&after_init));
    assert_eq!(
        after_install, after_init,
        "an install changed the user's git state"
    );
    let log = project.ok(&["log"]);
    assert!(
        log.contains("install strutil") && log.contains("init"),
        "{log}"
    );
    // The event commits are lvm's: on no branch of the user.
    assert!(
        !project
            .git(&["branch", "--contains", "refs/lvm/profiles/default"])
            .contains("main")
    );

    // Committed with the code, then changed again and rolled back.
    project.git(&["add", ".lvm"]);
    project.git(&["commit", "-q", "-m", "add strutil"]);
    let committed = project.user_state();
    project.ok(&["install", "chain-a"]);
    assert!(
        project
            .git(&["status", "--porcelain"])
            .contains(" M .lvm/manifest.json")
    );
    project.ok(&["rollback"]);
    assert_eq!(project.installed(), ["strutil 1.1-1"]);
    assert_eq!(
        project.user_state(),
        committed,
        "rollback left the files changed"
    );
    assert!(project.head_event()["kind"] == "rollback");
    project.ok(&["verify"]);
    // Profiles are lvm refs too, never branches.
    project.ok(&["profile", "create", "dev"]);
    assert!(project.lvm_refs().contains("refs/lvm/profiles/dev"));
    assert_eq!(project.user_state(), committed);
}

#[test]
fn a_clone_syncs_frozen_from_the_store_or_builds_in_a_fresh_home() {
    let lvm = Lvm::new();
    let (project, _url) = project_with(&lvm, "app", &["strutil", "cmath"]);
    let expected = project.installed();

    // Same home (same store): no build, and no lvm refs in the clone.
    let clone = Project::clone(&lvm, &project.dir, "clone", &[]);
    assert_eq!(clone.lvm_refs(), "", "git clone fetched lvm's refs");
    clone.ok(&["sync", "--frozen"]);
    let event = clone.head_event();
    assert_eq!(event["kind"], "sync");
    assert_eq!(event["args"], serde_json::json!(["--frozen"]));
    assert_eq!(event["builds"], 0, "{event}");
    assert_eq!(event["store_hits"], 2, "{event}");
    assert_eq!(
        event["details"]["project_commit"].as_str().unwrap(),
        clone.git(&["rev-parse", "HEAD"]).trim()
    );
    assert!(clone.env().join("tree/lib/lua/5.4/cmath.so").is_file());
    assert_eq!(clone.git(&["status", "--porcelain"]), "");
    assert_eq!(clone.installed(), expected);

    // A fresh home, and a shallow clone: everything is built from the recorded sources.
    let other_home = Lvm::new();
    let fresh = Project::clone(
        &other_home,
        &project.dir,
        "shallow",
        &["--depth", "1", "--no-local"],
    );
    assert_eq!(fresh.lvm_refs(), "");
    fresh.ok(&["sync", "--frozen"]);
    let event = fresh.head_event();
    assert_eq!(event["builds"], 2, "{event}");
    assert_eq!(fresh.installed(), expected);
    assert_eq!(fresh.git(&["status", "--porcelain"]), "");
    fresh.ok(&["verify"]);
    let log = fresh.ok(&["log"]);
    assert!(log.contains("sync") && log.contains("init"), "{log}");
}

#[test]
fn frozen_refuses_bad_committed_files_and_changes_nothing_of_the_user() {
    let lvm = Lvm::new();
    let (project, _url) = project_with(&lvm, "app", &["strutil"]);
    let clone = Project::clone(&lvm, &project.dir, "clone", &[]);
    let manifest = clone.env().join("manifest.json");
    let good = std::fs::read_to_string(&manifest).unwrap();
    let refuse = |text: Option<&str>, expected: &str| {
        match text {
            Some(t) => std::fs::write(&manifest, t).unwrap(),
            None => std::fs::remove_file(&manifest).unwrap(),
        }
        let before = clone.user_state();
        let err = clone.fails(&["sync", "--frozen"]);
        assert!(err.contains(expected), "expected '{expected}' in:\n{err}");
        assert_eq!(clone.user_state(), before);
        assert!(!clone.env().join("tree").exists(), "a tree was made");
        assert_eq!(clone.lvm_refs(), "", "lvm's history was started");
        std::fs::write(&manifest, &good).unwrap();
    };
    refuse(Some("{ this is not json"), "not a valid lvm manifest");
    refuse(
        Some(&good.replacen(
            "  \"packages\"",
            "<<<<<<< ours\n=======\n>>>>>>> theirs\n  \"packages\"",
            1,
        )),
        "line 4 is a merge conflict marker",
    );
    refuse(
        Some(&good.replacen("\"format\": 1,", "\"format\": \"9.0.0\",", 1)),
        "newer",
    );
    assert!(good.contains("\"format\": 1,"));
    refuse(None, "cannot read");
    refuse(
        Some(&good.replace("\"lua\": \"5.4\"", "\"lua\": \"5.3\"")),
        "is for Lua 5.3",
    );

    // A rockspec the manifest does not satisfy.
    std::fs::write(
        clone.dir.join("app-1.0-1.rockspec"),
        "package = 'app'\nversion = '1.0-1'\nsource = { url = 'git+https://rocks.example.org/app.git' }\n\
         dependencies = { 'lua >= 5.1', 'strutil >= 1.0', 'chain-a' }\nbuild = { type = 'builtin', modules = {} }\n",
    )
    .unwrap();
    clone.git(&["add", "app-1.0-1.rockspec"]);
    let before = clone.user_state();
    let err = clone.fails(&["sync", "--frozen"]);
    assert!(
        err.contains("does not satisfy") && err.contains("chain-a"),
        "{err}"
    );
    assert!(err.contains("lvm install --deps-only"), "{err}");
    assert_eq!(clone.user_state(), before);
    // `lvm install --deps-only` puts it in step; then --frozen passes.
    clone.ok(&["sync"]);
    clone.ok(&["install", "--deps-only", "."]);
    clone.ok(&["sync", "--frozen"]);
    assert!(clone.installed().iter().any(|p| p.starts_with("chain-a ")));
}

#[test]
fn a_teammate_s_pull_is_noted_refused_for_changes_and_synced_naming_the_commit() {
    let lvm = Lvm::new();
    let (alice, _url) = project_with(&lvm, "alice", &["strutil"]);
    let bare = alice.lvm.root.path().join("shared.git");
    git(
        alice.lvm.root.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    alice.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    alice.git(&["push", "-q", "origin", "main"]);
    let bob_home = Lvm::new();
    let bob = Project::clone(&bob_home, &bare, "bob", &[]);
    bob.ok(&["sync"]);
    assert_eq!(bob.installed(), ["strutil 1.1-1"]);

    alice.ok(&["install", "chain-a"]);
    alice.commit_all("use chain-a");
    alice.git(&["push", "-q", "origin", "main"]);
    bob.git(&["pull", "-q", "origin", "main"]);
    let refs = bob.lvm_refs();
    let out = bob.run(&["list"]);
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("differs from the environment's state"),
        "{note}"
    );
    assert!(note.contains("lvm sync"), "{note}");
    // The shell hook says it once, on entering the project.
    let hook = bob
        .lvm
        .command()
        .env_remove("LVM_ENV")
        .env_remove("_LVM_ACTIVE")
        .current_dir(&bob.dir)
        .args(["shell-hook", "bash"])
        .output()
        .unwrap();
    assert!(hook.status.success());
    assert!(String::from_utf8_lossy(&hook.stdout).contains("LUA_PATH"));
    let said = String::from_utf8_lossy(&hook.stderr);
    assert!(
        said.contains("differs from the environment's state"),
        "{said}"
    );
    let verify = bob.run(&["verify"]);
    assert!(!verify.status.success());
    let problems = String::from_utf8_lossy(&verify.stdout);
    assert!(
        problems.contains("`lvm sync` makes it the environment's state"),
        "{problems}"
    );
    let err = bob.fails(&["install", "dia-base"]);
    assert!(err.contains("run `lvm sync`"), "{err}");
    assert_eq!(bob.lvm_refs(), refs, "a refused change moved lvm's refs");
    bob.ok(&["sync"]);
    let event = bob.head_event();
    assert_eq!(event["kind"], "sync");
    assert_eq!(
        event["details"]["project_commit"].as_str().unwrap(),
        bob.git(&["rev-parse", "HEAD"]).trim()
    );
    assert!(bob.installed().iter().any(|p| p.starts_with("chain-a ")));
    assert_eq!(bob.git(&["status", "--porcelain"]), "");
    // No note once in step.
    let out = bob.run(&["list"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("differs"));

    // A detached HEAD at the older commit: the sync names that commit.
    bob.git(&["checkout", "-q", "--detach", "HEAD~1"]);
    bob.ok(&["sync"]);
    assert_eq!(bob.installed(), ["strutil 1.1-1"]);
    assert_eq!(
        bob.head_event()["details"]["project_commit"]
            .as_str()
            .unwrap(),
        bob.git(&["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(bob.git(&["status", "--porcelain"]), "");
}

#[test]
fn branches_that_both_changed_dependencies_merge_through_the_driver() {
    let lvm = Lvm::new();
    let (project, _url) = project_with(&lvm, "app", &["strutil"]);
    project.git(&["checkout", "-q", "-b", "feature"]);
    project.ok(&["install", "chain-a"]);
    project.commit_all("feature needs chain-a");
    project.git(&["checkout", "-q", "main"]);
    project.ok(&["sync"]);
    project.ok(&["install", "dia-base"]);
    project.commit_all("main needs dia-base");
    let out = git_output(&project.dir, &["merge", "-q", "--no-edit", "feature"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = std::fs::read_to_string(project.env().join("manifest.json")).unwrap();
    assert!(
        merged.contains("\"chain-a\"") && merged.contains("\"dia-base\""),
        "{merged}"
    );
    project.ok(&["sync"]);
    let names: Vec<String> = project
        .installed()
        .iter()
        .map(|p| p.split(' ').next().unwrap().to_string())
        .collect();
    for name in ["chain-a", "chain-b", "chain-c", "dia-base", "strutil"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }
    assert_eq!(project.git(&["status", "--porcelain"]), "");
    project.ok(&["verify"]);
}

#[test]
fn diff_compares_the_manifests_of_project_commits_and_keeps_lvm_revisions() {
    let lvm = Lvm::new();
    let (project, _url) = project_with(&lvm, "app", &["strutil"]);
    let first = project.git(&["rev-parse", "HEAD"]).trim().to_string();
    project.ok(&["install", "chain-a"]);
    project.commit_all("chain-a");
    project.git(&["branch", "with-chain"]);

    let out = project.ok(&["diff", &first, "with-chain", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chain-a", "chain-b", "chain-c"], "{json}");
    assert!(
        json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["change"] == "added")
    );
    assert_eq!(json["from"], first.as_str());
    let md = project.ok(&["diff", "@~1", "@", "--format", "markdown"]);
    assert!(md.contains("| chain-a | added |"), "{md}");
    // lvm's own revisions still mean lvm's history: HEAD~1 is the event before the last.
    let out = project.ok(&["diff", "HEAD~1", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["changes"].as_array().unwrap().len(), 3, "{json}");
    // A profile name wins over a project branch of the same name.
    project.git(&["branch", "default", &first]);
    let out = project.ok(&["diff", "default", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json["changes"].as_array().unwrap().is_empty(), "{json}");
    let err = project.fails(&["diff", "no-such-rev"]);
    assert!(err.contains("'no-such-rev' not found"), "{err}");
}

#[test]
fn init_elsewhere_in_a_work_tree_is_refused_and_standalone_still_works() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    let project = Project::new(&lvm, "app");
    std::fs::create_dir_all(project.dir.join("sub")).unwrap();
    let err = project.fails(&["init", "sub/env", "--server", &url]);
    assert!(
        err.contains("inside the git work tree") && err.contains("--standalone"),
        "{err}"
    );
    assert!(!project.dir.join("sub/env").exists());
    project.ok(&["init", "--standalone", "sub/env", "--server", &url]);
    assert!(project.dir.join("sub/env/.git").is_dir());
    assert_eq!(project.lvm_refs(), "");
}

#[test]
fn push_and_pull_carry_lvm_s_refs_through_the_project_s_remote() {
    let lvm = Lvm::new();
    let (alice, _url) = project_with(&lvm, "alice", &["strutil"]);
    let bare = lvm.root.path().join("shared.git");
    git(
        lvm.root.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    alice.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    alice.git(&["push", "-q", "origin", "main"]);
    let remote_refs = || git(&bare, &["for-each-ref", "--format=%(refname)"]);
    assert!(
        !remote_refs().contains("refs/lvm/"),
        "plain git push carried lvm's refs"
    );
    alice.ok(&["push"]);
    assert!(
        remote_refs().contains("refs/lvm/profiles/default"),
        "{}",
        remote_refs()
    );
    assert!(!remote_refs().contains("lvm-remotes"));

    // Bob synced before pulling lvm's history: his own start gives way to the team's.
    let bob_home = Lvm::new();
    let bob = Project::clone(&bob_home, &bare, "bob", &[]);
    bob.ok(&["sync"]);
    let before = bob.user_state();
    bob.ok(&["pull"]);
    assert_eq!(
        bob.user_state(),
        before,
        "lvm pull changed the user's git state"
    );
    let alice_head = alice.git(&["rev-parse", "refs/lvm/profiles/default"]);
    assert_eq!(
        bob.git(&["rev-parse", "refs/lvm/profiles/default"]),
        alice_head
    );
    assert!(bob.ok(&["log"]).contains("install strutil"));

    // A change travels by git for the files and by lvm for the history.
    alice.ok(&["install", "chain-a"]);
    alice.commit_all("chain-a");
    alice.git(&["push", "-q", "origin", "main"]);
    alice.ok(&["push"]);
    bob.git(&["pull", "-q", "origin", "main"]);
    let before = bob.user_state();
    bob.ok(&["pull"]);
    assert_eq!(bob.user_state(), before);
    assert_eq!(
        bob.git(&["rev-parse", "refs/lvm/profiles/default"]),
        alice.git(&["rev-parse", "refs/lvm/profiles/default"]),
        "the committed files matched the pulled head: nothing more to record"
    );
    assert!(bob.installed().iter().any(|p| p.starts_with("chain-a ")));
    bob.ok(&["verify"]);
}

#[test]
fn a_project_without_commits_and_a_linked_worktree_work_with_their_own_private_folders() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    // No commit yet: HEAD is unborn, so a sync names no project commit.
    let dir = lvm.root.path().join("fresh");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    let fresh = Project { lvm: &lvm, dir };
    fresh.ok(&["init", "--server", &url]);
    fresh.ok(&["install", "strutil"]);
    assert_eq!(
        fresh.git(&["status", "--porcelain", "--untracked-files=all"]),
        "?? .lvm/lvm.toml\n?? .lvm/manifest.json\n"
    );
    assert!(fresh.dir.join(".git/lvm/profile").is_file());
    fresh.commit_all("first");

    // A linked worktree has its own tree, current profile and journal; the events are shared.
    let linked = lvm.root.path().join("linked");
    fresh.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "other",
        linked.to_str().unwrap(),
    ]);
    let other = Project {
        lvm: &lvm,
        dir: linked,
    };
    other.ok(&["sync", "--frozen"]);
    assert!(other.env().join("tree/share/lua/5.4/strutil.lua").exists());
    assert!(fresh.dir.join(".git/worktrees/linked/lvm").is_dir());
    assert_eq!(other.installed(), ["strutil 1.1-1"]);
    other.ok(&["install", "chain-a"]);
    other.commit_all("chain-a on the other branch");
    // The first work tree's files still ask for strutil alone: noted there, and synced back.
    let out = fresh.run(&["list"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("differs"));
    fresh.ok(&["sync"]);
    assert_eq!(fresh.installed(), ["strutil 1.1-1"]);
    assert_eq!(fresh.git(&["status", "--porcelain"]), "");
}
