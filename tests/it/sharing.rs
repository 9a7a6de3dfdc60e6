//! Sharing environments through git, end to end through the `lvm` binary: push to a bare
//! repository over file://, clone into a second lvm home (empty store) that rebuilds every rock
//! from the fixture server, pull, divergence, clone over `git daemon` on 127.0.0.1, and `lvm sync`
//! after changes made with the real `git` CLI.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::file_url;
use crate::common::rocks::{Lvm, file_server, git, stdout_ok};

fn bare_repo(path: &Path) -> PathBuf {
    git2::Repository::init_bare(path).unwrap();
    path.to_path_buf()
}

/// A source environment with packages, pushed to a bare repository; returns the bare repo.
fn shared_source(a: &Lvm, url: &str, packages: &[&str]) -> PathBuf {
    a.init(&[url]);
    let mut args = vec!["install"];
    args.extend(packages);
    a.ok(&args);
    let bare = bare_repo(&a.root.path().join("shared/env.git"));
    a.ok(&["remote", "add", "origin", &file_url(&bare)]);
    a.ok(&["push"]);
    bare
}

fn clone_into(b: &Lvm, url: &str) -> String {
    b.ok(&["clone", url, b.env_dir().to_str().unwrap()])
}

/// The rocks tree as it is: where the live link points and every file under it.
fn tree_state(lvm: &Lvm) -> String {
    let target = std::fs::read_link(lvm.tree()).unwrap();
    let listing = common::list_tree(&std::fs::canonicalize(lvm.tree()).unwrap());
    format!("{}\n{}", target.display(), listing.join("\n"))
}

fn head_of(lvm: &Lvm, profile: &str) -> String {
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    let reference = repo
        .find_reference(&format!("refs/heads/{profile}"))
        .unwrap();
    reference.target().unwrap().to_string()
}

fn store_entries(lvm: &Lvm) -> usize {
    std::fs::read_dir(lvm.home().join("store/rocks"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn clone_rebuilds_every_rock_from_the_recorded_sources() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    a.init(&[&url]);
    a.ok(&["install", "chain-a", "cmath"]);
    a.ok(&["profile", "create", "ci"]);
    let bare = bare_repo(&a.root.path().join("shared/env.git"));
    let added = a.ok(&["remote", "add", "origin", &file_url(&bare)]);
    assert!(added.contains("Added remote 'origin'"), "{added}");
    let list = a.ok(&["remote", "list"]);
    assert_eq!(list.trim(), format!("origin\t{}", file_url(&bare)));
    let pushed = a.ok(&["push", "--all"]);
    assert!(pushed.contains("Pushed profile 'default'"), "{pushed}");
    assert!(pushed.contains("Pushed profile 'ci'"), "{pushed}");
    assert_eq!(a.ok(&["push"]).trim(), "Everything up to date");

    // A second machine: its own lvm home, so an empty store.
    let b = Lvm::new();
    assert_eq!(store_entries(&b), 0);
    let out = clone_into(&b, &file_url(&bare));
    assert!(out.contains("profiles: ci, default"), "{out}");
    assert!(out.contains("In sync"), "{out}");
    let lua = stdout_ok(
        &b.lua("print(require('chain_a').chain()); print(require('cmath').gcd(84, -36))"),
    );
    assert_eq!(lua.trim(), "chain-a>chain-b>chain-c\n12");
    assert!(store_entries(&b) >= 4, "the clone built into its own store");
    assert_eq!(b.ok(&["list"]), a.ok(&["list"]));
    assert_eq!(head_of(&b, "default"), head_of(&a, "default"));
    assert_eq!(head_of(&b, "ci"), head_of(&a, "ci"));
    let verify = b.ok(&["verify"]);
    assert!(verify.starts_with("ok:"), "{verify}");
    let remotes = b.ok(&["remote", "list"]);
    assert!(remotes.starts_with("origin\t"), "{remotes}");
}

#[test]
fn clone_refuses_a_source_whose_hash_changed() {
    let a = Lvm::new();
    let (server_dir, url) = file_server(a.root.path());
    let bare = shared_source(&a, &url, &["strutil"]);
    // The server now serves other bytes under the recorded archive name.
    let tarball = server_dir.join("strutil-1.1-1.tar.gz");
    let mut bytes = std::fs::read(&tarball).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&tarball, bytes).unwrap();
    let b = Lvm::new();
    let err = b.fails(&["clone", &file_url(&bare), b.env_dir().to_str().unwrap()]);
    assert!(err.contains("sha256"), "{err}");
    assert!(err.contains("lvm sync"), "{err}");
    assert!(!b.tree().exists(), "no tree from unverified sources");
}

#[test]
fn pull_fast_forwards_and_syncs_the_tree() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    let bare = shared_source(&a, &url, &["strutil"]);
    let b = Lvm::new();
    clone_into(&b, &file_url(&bare));
    assert_eq!(
        b.ok(&["pull"]).lines().next().unwrap(),
        "Already up to date with 'origin'"
    );

    a.ok(&["install", "hello-cli"]);
    a.ok(&["push", "origin"]);
    let pulled = b.run(&["pull"]);
    let out = stdout_ok(&pulled);
    assert!(
        out.contains("Fast-forwarded profile 'default' by 1 event(s) from 'origin'"),
        "{out}"
    );
    // Making the tree of the pulled state is the expected work of a pull, not a warning.
    let err = String::from_utf8_lossy(&pulled.stderr);
    assert!(!err.contains("WARN"), "{err}");
    assert!(out.contains("+ hello-cli 1.0-1"), "{out}");
    let lua = stdout_ok(&b.lua("print(require('hello').greet('  pulled '))"));
    assert_eq!(lua.trim(), "hello, pulled");
    assert_eq!(head_of(&b, "default"), head_of(&a, "default"));
    assert!(b.ok(&["verify"]).starts_with("ok:"));
    let log = b.ok(&["log"]);
    assert!(
        log.lines().next().unwrap().contains("install hello-cli"),
        "{log}"
    );
}

#[test]
fn a_pull_killed_after_its_fast_forward_is_finished_by_the_next_lvm() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    let bare = shared_source(&a, &url, &["strutil"]);
    let clones: Vec<Lvm> = (0..2).map(|_| Lvm::new()).collect();
    for b in &clones {
        clone_into(b, &file_url(&bare));
    }
    a.ok(&["install", "hello-cli"]);
    a.ok(&["push", "origin"]);
    for (b, point) in clones.iter().zip(["after-commit", "after-switch"]) {
        let out = b
            .command()
            .env("LVM_FAULT", point)
            .args(["pull"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "the fault at {point} stops lvm");
        // The next lvm finishes the recorded fast-forward: log, manifest and tree agree.
        assert!(
            b.ok(&["verify"]).starts_with("ok:"),
            "after a crash at {point}"
        );
        assert_eq!(head_of(b, "default"), head_of(&a, "default"));
        let lua = stdout_ok(&b.lua("print(require('hello').greet(' ok '))"));
        assert_eq!(lua.trim(), "hello, ok", "after a crash at {point}");
    }
}

#[test]
fn divergence_is_refused_then_merged_and_shared() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    let bare = shared_source(&a, &url, &["strutil"]);
    let b = Lvm::new();
    clone_into(&b, &file_url(&bare));
    a.ok(&["install", "hello-cli"]);
    a.ok(&["push"]);
    b.ok(&["install", "chain-c"]);

    let err = b.fails(&["push"]);
    assert!(err.contains("lvm pull origin"), "{err}");
    let before = tree_state(&b);
    let b_head = head_of(&b, "default");
    let err = b.fails(&["pull"]);
    assert!(
        err.contains("diverged (1 local and 1 remote events"),
        "{err}"
    );
    assert!(err.contains("lvm profile merge origin/default"), "{err}");
    assert_eq!(tree_state(&b), before);
    assert_eq!(head_of(&b, "default"), b_head);
    assert_eq!(head_of(&b, "origin/default"), head_of(&a, "default"));

    b.ok(&["profile", "merge", "origin/default"]);
    let lua = stdout_ok(
        &b.lua("require('hello'); require('strutil'); print(require('chain_c').chain())"),
    );
    assert!(lua.contains("chain-c"), "{lua}");
    b.ok(&["push"]);
    // Copies of remote profiles stay local.
    let all = b.ok(&["push", "--all"]);
    assert!(!all.contains("origin/default"), "{all}");
    assert!(b.ok(&["verify"]).starts_with("ok:"));

    let out = a.ok(&["pull"]);
    assert!(out.contains("Fast-forwarded"), "{out}");
    assert!(out.contains("+ chain-c"), "{out}");
    assert_eq!(head_of(&a, "default"), head_of(&b, "default"));
    assert!(a.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn diverged_clones_that_each_removed_a_package_keep_both_removals_after_the_merge() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    let bare = shared_source(&a, &url, &["strutil", "chain-c", "dia-base"]);
    let b = Lvm::new();
    clone_into(&b, &file_url(&bare));
    // The clone merges manifest.json with lvm's driver when plain git merges it.
    let attr = git(&b.env_dir(), &["check-attr", "merge", "manifest.json"]);
    assert_eq!(attr.trim(), "manifest.json: merge: lvm-manifest");
    a.ok(&["remove", "chain-c"]);
    a.ok(&["push"]);
    b.ok(&["remove", "dia-base"]);
    let err = b.fails(&["pull"]);
    assert!(err.contains("lvm profile merge origin/default"), "{err}");
    let out = b.ok(&["profile", "merge", "origin/default"]);
    assert!(out.contains("- chain-c 2.0-1"), "{out}");
    assert_eq!(b.installed(), ["strutil 1.1-1"], "both removals stay");
    assert!(b.ok(&["verify"]).starts_with("ok:"));
    b.ok(&["push"]);
    let out = a.ok(&["pull"]);
    assert!(
        out.contains("Fast-forwarded") && out.contains("- dia-base"),
        "{out}"
    );
    assert_eq!(a.installed(), ["strutil 1.1-1"]);
    assert!(a.ok(&["verify"]).starts_with("ok:"));
}

/// `git daemon` on 127.0.0.1, killed on drop.
struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    fn serve(base: &Path) -> GitDaemon {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg(format!("--base-path={}", base.display()))
            .arg("--export-all")
            .arg(format!("--port={port}"))
            .arg("--listen=127.0.0.1")
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon runs (Debian's git package ships it)");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("git daemon exited early: {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "git daemon did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        GitDaemon { child, port }
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn clone_over_git_daemon() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    let bare = shared_source(&a, &url, &["chain-b"]);
    let daemon = GitDaemon::serve(bare.parent().unwrap());
    let b = Lvm::new();
    let remote = format!("git://127.0.0.1:{}/env.git", daemon.port);
    let out = clone_into(&b, &remote);
    assert!(out.contains("In sync"), "{out}");
    let lua = stdout_ok(&b.lua("print(require('chain_b').chain())"));
    assert_eq!(lua.trim(), "chain-b>chain-c");
    assert_eq!(
        b.ok(&["pull"]).lines().next().unwrap(),
        "Already up to date with 'origin'"
    );
    let err = b.fails(&[
        "clone",
        &format!("git://127.0.0.1:{}/nothing.git", daemon.port),
        "x",
    ]);
    assert!(err.contains("git daemon"), "{err}");
}

#[test]
fn sync_follows_manual_git_changes() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    a.init(&[&url]);
    a.ok(&["install", "strutil"]);
    a.ok(&["install", "chain-b"]);
    let env = a.env_dir();

    // Undo the last install by hand: restore the files of HEAD~1 and commit them.
    git(&env, &["checkout", "HEAD~1", "--", "."]);
    git(&env, &["commit", "-m", "back to strutil only"]);
    let out = a.ok(&["sync"]);
    assert!(out.contains("Recorded commits made outside lvm"), "{out}");
    assert!(out.contains("- chain-b 1.0-1"), "{out}");
    assert!(!a.lua("require('chain_b')").status.success());
    stdout_ok(&a.lua("require('strutil')"));
    assert!(a.ok(&["verify"]).starts_with("ok:"));
    let log = a.ok(&["log"]);
    assert!(log.lines().next().unwrap().contains(" sync"), "{log}");
    assert_eq!(git(&env, &["status", "--porcelain"]), "");

    // The sync event's first parent is the install of chain-b: resetting to it brings it back.
    git(&env, &["reset", "--hard", "HEAD~1"]);
    let out = a.ok(&["sync"]);
    assert!(!out.contains("Recorded"), "{out}");
    stdout_ok(&a.lua("require('chain_b')"));
    assert!(a.ok(&["verify"]).starts_with("ok:"));
    // In sync already: nothing changes.
    let before = tree_state(&a);
    a.ok(&["sync"]);
    assert_eq!(tree_state(&a), before);
}

#[test]
fn sync_closes_a_hand_made_merge() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    let bare = shared_source(&a, &url, &["chain-a", "hello-cli"]);
    let b = Lvm::new();
    clone_into(&b, &file_url(&bare));
    a.ok(&["install", "cmath"]);
    a.ok(&["push"]);
    b.ok(&["install", "makerock"]);
    let env = b.env_dir();
    git(&env, &["fetch", "origin"]);
    git(&env, &["merge", "--no-edit", "origin/default"]);
    let out = b.ok(&["sync"]);
    assert!(out.contains("+ cmath 1.0-1"), "{out}");
    stdout_ok(&b.lua("require('cmath'); require('makerock'); require('hello')"));
    assert!(b.ok(&["verify"]).starts_with("ok:"));
    b.ok(&["push"]);
    let out = a.ok(&["pull"]);
    assert!(out.contains("+ makerock 1.0-1"), "{out}");
    stdout_ok(&a.lua("require('makerock')"));
    assert!(a.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn sync_refuses_a_malformed_or_inconsistent_manifest() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    a.init(&[&url]);
    a.ok(&["install", "chain-b"]);
    let env = a.env_dir();
    let before = tree_state(&a);
    let good = std::fs::read_to_string(env.join("manifest.json")).unwrap();

    // Inconsistent: chain-b needs chain-c, which is gone.
    let manifest: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut broken = manifest.clone();
    broken["packages"]
        .as_object_mut()
        .unwrap()
        .remove("chain-c");
    std::fs::write(
        env.join("manifest.json"),
        serde_json::to_string_pretty(&broken).unwrap() + "\n",
    )
    .unwrap();
    git(&env, &["commit", "-am", "drop chain-c by hand"]);
    let err = a.fails(&["sync"]);
    assert!(err.contains("refusing to use commit"), "{err}");
    assert!(err.contains("chain-c"), "{err}");
    assert_eq!(tree_state(&a), before);

    // Malformed: not JSON at all.
    std::fs::write(env.join("manifest.json"), "{ not json").unwrap();
    git(&env, &["commit", "-am", "garbage"]);
    let head = head_of(&a, "default");
    let err = a.fails(&["sync"]);
    assert!(err.contains("manifest.json"), "{err}");
    assert_eq!(tree_state(&a), before);
    assert_eq!(head_of(&a, "default"), head);

    // A clone of it is refused with the reason and leaves nothing behind.
    let bare = bare_repo(&a.root.path().join("shared/env.git"));
    git(&env, &["push", bare.to_str().unwrap(), "default"]);
    let b = Lvm::new();
    let err = b.fails(&["clone", &file_url(&bare), b.env_dir().to_str().unwrap()]);
    assert!(err.contains("not a usable lvm environment"), "{err}");
    assert!(err.contains("manifest.json"), "{err}");
    assert!(!b.env_dir().exists());

    // Going back with git and syncing recovers.
    git(&env, &["reset", "--hard", "HEAD~2"]);
    a.ok(&["sync"]);
    assert!(a.ok(&["verify"]).starts_with("ok:"));
    assert_eq!(tree_state(&a), before);
}

#[test]
fn remotes_are_validated() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    a.init(&[&url]);
    let err = a.fails(&["push"]);
    assert!(err.contains("lvm remote add origin URL"), "{err}");
    let err = a.fails(&["remote", "add", "bad/name", "/tmp/x"]);
    assert!(err.contains("remote name 'bad/name'"), "{err}");
    let err = a.fails(&["remote", "add", "origin", "ftp://host/env"]);
    assert!(err.contains("unsupported repository URL"), "{err}");
    // A relative path is stored absolute.
    std::fs::create_dir_all(a.root.path().join("shared")).unwrap();
    a.ok(&["remote", "add", "origin", "shared"]);
    let list = a.ok(&["remote", "list", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&list).unwrap();
    let stored = json[0]["url"].as_str().unwrap();
    assert!(Path::new(stored).is_absolute(), "{stored}");
    let err = a.fails(&["remote", "add", "origin", "/elsewhere"]);
    assert!(err.contains("already exists"), "{err}");
    a.ok(&["remote", "add", "backup", "git://127.0.0.1:1/env.git"]);
    let err = a.fails(&["remote", "remove", "nope"]);
    assert!(err.contains("known: backup, origin"), "{err}");
    a.ok(&["remote", "remove", "origin"]);
    assert!(a.ok(&["remote", "list"]).starts_with("backup\t"));

    // A path with no repository says so (libgit2 alone calls it an unsupported protocol).
    let gone = a.root.path().join("no-such/env.git");
    a.ok(&["remote", "add", "gone", gone.to_str().unwrap()]);
    let err = a.fails(&["push", "gone"]);
    assert!(
        err.contains("no repository there") && err.contains("git init --bare"),
        "{err}"
    );
    assert!(!err.contains("unsupported URL protocol"), "{err}");
    let err = a.fails(&[
        "clone",
        gone.to_str().unwrap(),
        a.root.path().join("copy").to_str().unwrap(),
    ]);
    assert!(err.contains("no repository there"), "{err}");
    assert!(!a.root.path().join("copy").exists());
}

#[test]
fn clone_rebuilds_a_git_source_at_the_recorded_commit() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    a.init(&[&url]);
    let repo_dir = a.root.path().join("gitrock");
    common::rocks::git_fixture(&repo_dir, "first");
    a.ok(&["install", repo_dir.to_str().unwrap()]);
    let bare = bare_repo(&a.root.path().join("shared/env.git"));
    a.ok(&["remote", "add", "origin", bare.to_str().unwrap()]);
    a.ok(&["push"]);
    // The source moves on after it was recorded.
    let module = repo_dir.join("src/gitrock.lua");
    let text = std::fs::read_to_string(&module).unwrap();
    std::fs::write(&module, text.replace("first", "second")).unwrap();
    git(&repo_dir, &["commit", "-am", "second revision"]);

    let b = Lvm::new();
    clone_into(&b, bare.to_str().unwrap());
    let lua = stdout_ok(&b.lua("print(require('gitrock').revision)"));
    assert_eq!(lua.trim(), "first");
    assert!(b.ok(&["verify"]).starts_with("ok:"));
}
