//! Robustness through the `lvm` binary: bad timeouts from every source, one lock-timeout wait
//! per command, leftovers of killed commands (scratch, git lock files), damage that lvm itself
//! repairs (journal, store metadata), closed output pipes, and crashes injected into every
//! command that changes an environment.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::rocks::{Lvm, file_server, git, spawn_paused};

/// Waits for `child`, giving up (and killing it) after `bound`: a bound far above what the
/// command should take, so only a command that waits for the wrong thing reaches it.
fn wait_within(mut child: Child, bound: Duration, what: &str) -> (ExitStatus, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (status, String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            panic!("{what} still waited after {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn env_with_strutil() -> (Lvm, PathBuf) {
    let lvm = Lvm::new();
    let (dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    (lvm, dir)
}

// Item 12: a stalled writer costs the others the lock timeout once.

#[test]
fn a_stalled_writer_costs_readers_and_writers_the_lock_timeout_once() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    // Stopped between its commit and its tree switch: it holds the writer lock and the state
    // lock, and its journal is there.
    let (writer, marker) = spawn_paused(&lvm, "after-commit", &["install", "strutil"]);

    let reader = lvm
        .command()
        .args(["--lock-timeout", "1", "list", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, err) = wait_within(reader, Duration::from_secs(30), "a reader");
    assert!(status.success(), "{err}");
    assert!(
        err.contains("takes long to finish; reading anyway"),
        "{err}"
    );

    let second = lvm
        .command()
        .args(["--lock-timeout", "1", "install", "chain-c"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, err) = wait_within(second, Duration::from_secs(30), "a second writer");
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("waited 1.0s"), "{err}");

    std::fs::remove_file(&marker).unwrap();
    assert!(writer.wait_with_output().unwrap().status.success());
    lvm.ok(&["verify"]);
}

// Item 10: timeouts are validated at every entry, and a bad stored value can be replaced.

#[test]
fn bad_timeouts_are_refused_by_every_source_with_the_range() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    for value in ["1e300", "1e20", "-1", "nan", "inf"] {
        for flag in ["--lock-timeout", "--http-timeout"] {
            let out = lvm.run(&[&format!("{flag}={value}"), "list"]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
            assert!(err.contains("allowed values"), "{flag} {value}: {err}");
        }
        for var in ["LVM_LOCK_TIMEOUT", "LVM_HTTP_TIMEOUT"] {
            let out = lvm
                .command()
                .env(var, value)
                .args(["list"])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{var}={value}: {err}");
            assert!(err.contains(var) && err.contains("allowed values"), "{err}");
        }
        for key in ["lock_timeout", "http_timeout"] {
            let out = lvm.run(&["config", "set", key, value]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "config set {key} {value}: {err}"
            );
            assert!(err.contains("allowed values"), "{err}");
        }
    }
    lvm.ok(&["verify"]);
}

#[test]
fn a_bad_stored_timeout_never_locks_config_set_or_unset_out() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    // What an older lvm accepted, or a hand-made commit: out of range in lvm.toml.
    let toml = lvm.env_dir().join("lvm.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}lock_timeout = 1e300\n")).unwrap();
    git(&lvm.env_dir(), &["commit", "-qam", "by hand"]);
    let out = lvm.run(&["install", "strutil"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lvm.toml") && err.contains("lvm config unset KEY"),
        "{err}"
    );
    lvm.ok(&["config", "unset", "lock_timeout"]);
    lvm.ok(&["install", "strutil"]);

    std::fs::write(&toml, format!("{text}http_timeout = -3\n")).unwrap();
    git(&lvm.env_dir(), &["commit", "-qam", "by hand again"]);
    lvm.fails(&["list"]);
    lvm.ok(&["config", "set", "http_timeout", "5"]);
    assert_eq!(lvm.ok(&["config", "get", "http_timeout"]).trim(), "5");

    // The user file alike.
    let user = lvm.user_config();
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, "lock_timeout = -1\njobs = 2\n").unwrap();
    let err = lvm.fails(&["list"]);
    assert!(
        err.contains(&user.display().to_string()) && err.contains("config unset --user KEY"),
        "{err}"
    );
    lvm.ok(&["config", "unset", "--user", "lock_timeout"]);
    assert_eq!(
        std::fs::read_to_string(&user)
            .unwrap()
            .trim_end()
            .lines()
            .last(),
        Some("jobs = 2")
    );
    std::fs::write(&user, "lock_timeout = inf\n").unwrap();
    lvm.ok(&["config", "set", "--user", "lock_timeout", "7"]);
    assert_eq!(lvm.ok(&["config", "get", "lock_timeout"]).trim(), "7");
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
}

// Item 13: leftovers of killed commands.

fn scratch_entries(lvm: &Lvm) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(lvm.env_dir().join(".lvm-tmp"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn scratch_of_killed_commands_is_removed_and_live_scratch_is_kept() {
    let (lvm, _dir) = env_with_strutil();
    // What a SIGKILL during an install leaves: a scratch folder and its free lock file.
    let scratch = lvm.env_dir().join(".lvm-tmp");
    std::fs::create_dir_all(scratch.join("session-killed/build")).unwrap();
    std::fs::write(scratch.join("session-killed/build/big.o"), b"x").unwrap();
    std::fs::write(scratch.join("session-killed.owner"), b"").unwrap();

    // A live install, stopped after its scratch was made.
    let (writer, marker) = spawn_paused(&lvm, "before-commit", &["install", "chain-c"]);
    let live = scratch_entries(&lvm);
    assert!(
        live.iter()
            .any(|n| n.starts_with("session-") && n != "session-killed"),
        "{live:?}"
    );
    // verify makes scratch of its own, and clears what dead processes left, not the writer's.
    lvm.ok(&["verify"]);
    let after = scratch_entries(&lvm);
    assert!(
        !after.iter().any(|n| n.starts_with("session-killed")),
        "{after:?}"
    );
    for name in live.iter().filter(|n| !n.starts_with("session-killed")) {
        assert!(
            after.contains(name),
            "live scratch {name} removed: {after:?}"
        );
    }
    std::fs::remove_file(&marker).unwrap();
    assert!(writer.wait_with_output().unwrap().status.success());
    assert_eq!(scratch_entries(&lvm), Vec::<String>::new());

    // A real kill: the next writer clears what it left.
    let (mut writer, _marker) = spawn_paused(&lvm, "before-commit", &["install", "dia-top"]);
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert!(!scratch_entries(&lvm).is_empty());
    lvm.ok(&["remove", "chain-c"]);
    assert_eq!(scratch_entries(&lvm), Vec::<String>::new());
    lvm.ok(&["verify"]);
}

#[test]
fn a_stale_index_lock_is_removed_by_readers_but_a_live_writers_is_kept() {
    let (lvm, _dir) = env_with_strutil();
    let index_lock = lvm.env_dir().join(".git/index.lock");
    // A live writer: its lock files are its own.
    let (writer, marker) = spawn_paused(&lvm, "locked", &["install", "chain-c"]);
    std::fs::write(&index_lock, b"").unwrap();
    lvm.ok(&["list"]);
    assert!(
        index_lock.exists(),
        "a reader removed a live writer's lock file"
    );
    std::fs::remove_file(&marker).unwrap();
    assert!(writer.wait_with_output().unwrap().status.success());

    std::fs::write(&index_lock, b"").unwrap();
    lvm.ok(&["list"]);
    assert!(
        !index_lock.exists(),
        "a reader left a dead writer's lock file"
    );
    std::fs::write(&index_lock, b"").unwrap();
    lvm.ok(&["verify"]);
    assert!(
        !index_lock.exists(),
        "verify left a dead writer's lock file"
    );
}

// Item 14: damage that lvm repairs itself.

#[test]
fn a_journal_that_is_not_utf8_is_dropped() {
    let (lvm, _dir) = env_with_strutil();
    std::fs::write(
        lvm.env_dir().join(".git/lvm-journal"),
        [0xff, 0xfe, 0x00, 0x80],
    )
    .unwrap();
    lvm.ok(&["verify"]);
    std::fs::write(lvm.env_dir().join(".git/lvm-journal"), [0xc3, 0x28]).unwrap();
    lvm.ok(&["install", "chain-c"]);
    assert_eq!(lvm.installed(), ["chain-c 2.0-1", "strutil 1.1-1"]);
    lvm.ok(&["verify"]);
}

/// The store entry folder of `name` in the environment's manifest.
fn store_entry(lvm: &Lvm, name: &str) -> PathBuf {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap(),
    )
    .unwrap();
    let key = manifest["packages"][name]["store_key"].as_str().unwrap();
    lvm.home().join("store/rocks").join(key)
}

fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn a_garbage_store_meta_is_repaired_by_verify() {
    let (lvm, _dir) = env_with_strutil();
    let entry = store_entry(&lvm, "strutil");
    let meta = entry.join("meta.json");
    make_writable(&entry);
    make_writable(&meta);
    std::fs::write(&meta, b"\x00garbage{").unwrap();
    let out = lvm.run(&["verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("damaged") && text.contains("lvm verify --repair"),
        "{text}"
    );
    assert!(!text.contains("store remove"), "{text}");
    lvm.ok(&["verify", "--repair"]);
    lvm.ok(&["verify"]);
    assert!(serde_json::from_slice::<serde_json::Value>(&std::fs::read(&meta).unwrap()).is_ok());
}

#[test]
fn a_plain_file_in_place_of_the_scratch_folder_is_named() {
    let (lvm, _dir) = env_with_strutil();
    let scratch = lvm.env_dir().join(".lvm-tmp");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::write(&scratch, b"").unwrap();
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "chain-c"]);
    assert!(
        err.contains(&scratch.display().to_string()) && err.contains("is not a folder"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

// Item 15: a closed output pipe.

#[test]
fn a_closed_output_pipe_never_stops_a_change() {
    let (lvm, _dir) = env_with_strutil();
    let (reader, writer) = std::io::pipe().unwrap();
    // The reader goes away before lvm writes anything, as `head -1` does after its line.
    drop(reader);
    let out = lvm
        .command()
        .args(["install", "chain-c", "dia-top"])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(out.signal(), None, "killed by a signal: {out:?}");
    assert_eq!(out.code(), Some(141), "{out:?}");
    assert!(!lvm.env_dir().join(".git/lvm-journal").exists());
    let installed = lvm.installed();
    assert!(
        installed.iter().any(|p| p.starts_with("chain-c ")),
        "{installed:?}"
    );
    assert!(
        installed.iter().any(|p| p.starts_with("dia-top ")),
        "{installed:?}"
    );
    lvm.ok(&["verify"]);

    // A reading command still stops quietly, as Unix tools do.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = lvm
        .command()
        .args(["log"])
        .stdout(writer)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(out.signal(), Some(libc::SIGPIPE), "{out:?}");
}

// Crashes in every command that changes an environment.

/// Installed packages and current profile: what "the old or the new state" compares.
fn state(lvm: &Lvm) -> (String, Vec<String>) {
    let json: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["profile", "list", "--json"])).unwrap();
    (
        json["current"].as_str().unwrap().to_string(),
        lvm.installed(),
    )
}

/// After a crash, `lvm verify` accepts the environment, or `verify --repair` repairs it.
fn assert_verifies(lvm: &Lvm, context: &str) {
    if !lvm.run(&["verify"]).status.success() {
        let repaired = lvm.run(&["verify", "--repair"]);
        assert!(
            repaired.status.success(),
            "{context}: not repaired: {}",
            String::from_utf8_lossy(&repaired.stdout)
        );
        lvm.ok(&["verify"]);
    }
    assert!(
        !lvm.env_dir().join(".git/lvm-journal").exists(),
        "{context}"
    );
}

#[test]
fn a_crash_at_any_fault_point_of_any_changing_command_leaves_the_old_or_the_new_state() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    lvm.ok(&["profile", "create", "dev"]);
    lvm.ok(&["install", "cmath"]);
    let project = lvm.root.path().join("linked");
    crate::common::rocks::copy_dir(
        &crate::common::rocks::fixtures_dir().join("strutil-1.1-1"),
        &project,
    );
    let project = project.display().to_string();
    // Each command with the command that undoes it, so every fault point starts from the
    // same state.
    let commands: &[(&[&str], &[&str])] = &[
        (&["upgrade"], &["install", "strutil", "1.0-1"]),
        (&["remove", "cmath"], &["install", "cmath"]),
        (&["rollback"], &["rollback"]),
        (
            &["profile", "switch", "dev"],
            &["profile", "switch", "default"],
        ),
        (
            &["config", "set", "jobs", "3"],
            &["config", "unset", "jobs"],
        ),
        (&["link", &project], &["unlink", "strutil"]),
    ];
    for (command, undo) in commands {
        for point in FAULT_POINTS {
            let before = state(&lvm);
            let out = lvm
                .command()
                .env("LVM_FAULT", point)
                .args(*command)
                .output()
                .unwrap();
            let context = format!("{command:?} with LVM_FAULT={point}");
            assert_verifies(&lvm, &context);
            let after = state(&lvm);
            if !out.status.success() && after != before {
                // The change landed before the crash: undo it for the next point.
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("fault injected"),
                    "{context}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            if after != before || out.status.success() {
                lvm.run(undo);
            }
            assert_verifies(&lvm, &format!("{context}, undone"));
        }
    }
    // A three-way merge of a profile already merged records nothing, so every fault point gets
    // a fresh profile with a change of its own to merge.
    for point in FAULT_POINTS {
        let side = format!("side-{point}");
        lvm.ok(&["profile", "create", &side]);
        lvm.ok(&["profile", "switch", &side]);
        lvm.ok(&["install", "chain-a"]);
        lvm.ok(&["profile", "switch", "default"]);
        let before = state(&lvm);
        let out = lvm
            .command()
            .env("LVM_FAULT", point)
            .args(["profile", "merge", &side])
            .output()
            .unwrap();
        let context = format!("profile merge with LVM_FAULT={point}");
        // A merge whose tree is kept from before (the side profile's own) never reaches
        // mid-materialize; it must then have merged.
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("fault injected")
                || (out.status.success() && state(&lvm) != before),
            "{context}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_verifies(&lvm, &context);
        if state(&lvm) != before {
            lvm.ok(&["rollback"]);
        }
        assert_eq!(state(&lvm), before, "{context}, undone");
    }
}

/// Where `LVM_FAULT` crashes a change: while the tree is made, before and after the commit,
/// after the live tree is switched.
const FAULT_POINTS: [&str; 4] = [
    "mid-materialize",
    "before-commit",
    "after-commit",
    "after-switch",
];

#[test]
fn sigkill_during_any_changing_command_leaves_a_verifiable_environment() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    lvm.ok(&["profile", "create", "dev"]);
    let commands: &[&[&str]] = &[
        &["install", "chain-a"],
        &["upgrade"],
        &["remove", "--force", "chain-a"],
        &["rollback"],
        &["profile", "switch", "dev"],
        &["profile", "switch", "default"],
        &["config", "set", "jobs", "2"],
        &["sync"],
        &["install", "makerock"],
        &["profile", "merge", "dev"],
    ];
    // Spread over the first few hundred milliseconds, where the builds and the change are.
    for (i, command) in commands.iter().cycle().take(20).enumerate() {
        let delay = Duration::from_millis((i as u64 * 37) % 400);
        let mut child = lvm
            .command()
            .args(*command)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        assert_verifies(&lvm, &format!("{command:?} killed after {delay:?}"));
    }
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["verify"]);
}

// Item 14: recorded states that name builds the store lacks.

/// strutil 1.0-1 installed, then upgraded to 1.1-1, then `lvm gc --older-than 0`: the first
/// state's build is gone from the store.
fn env_with_a_collected_build() -> (Lvm, PathBuf) {
    let lvm = Lvm::new();
    let (dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0"]);
    lvm.ok(&["install", "strutil", "1.1"]);
    let gc = lvm.ok(&["gc", "--older-than", "0"]);
    assert!(gc.contains("strutil 1.0-1"), "{gc}");
    (lvm, dir)
}

#[test]
fn a_rollback_to_a_state_whose_build_was_collected_rebuilds_it() {
    let (lvm, _dir) = env_with_a_collected_build();
    let out = lvm.ok(&["rollback"]);
    assert!(out.contains("strutil 1.1-1 → 1.0-1"), "{out}");
    assert_eq!(lvm.installed(), ["strutil 1.0-1"]);
    let run = lvm.lua("print(require('strutil') ~= nil)");
    assert!(run.status.success(), "{run:?}");
    lvm.ok(&["verify"]);
}

#[test]
fn a_rollback_to_a_state_whose_build_cannot_be_rebuilt_changes_nothing() {
    let (lvm, dir) = env_with_a_collected_build();
    // The version is no longer published.
    std::fs::remove_file(dir.join("strutil-1.0-1.rockspec")).unwrap();
    std::fs::remove_file(dir.join("strutil-1.0-1.tar.gz")).unwrap();
    lvm::ops::publish::make_manifest(&dir).unwrap();
    let before = lvm.snapshot();
    let err = lvm.fails(&["rollback"]);
    assert!(
        err.contains("names builds the store lacks")
            && err.contains("strutil 1.0-1 (store key ")
            && err.contains("no longer lists strutil 1.0-1")
            && err.contains("the environment was not changed")
            && err.contains("roll back to another state"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
    assert!(!lvm.env_dir().join(".git/lvm-journal").exists());
    lvm.ok(&["verify"]);
    // The way out: another state.
    lvm.ok(&["rollback", "2"]);
    assert!(lvm.installed().is_empty());
    lvm.ok(&["verify"]);
}

/// A commit made by hand in the environment whose `manifest.json` names strutil 9.9-1 under a
/// store key no build has: a version no server publishes.
fn hand_commit_naming_an_unbuildable_version(lvm: &Lvm) {
    let path = lvm.env_dir().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let strutil = &mut manifest["packages"]["strutil"];
    strutil["version"] = "9.9-1".into();
    strutil["store_key"] = "0".repeat(64).into();
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    git(
        &lvm.env_dir(),
        &["commit", "-q", "-am", "strutil 9.9 by hand"],
    );
}

#[test]
fn sync_refuses_a_hand_made_commit_naming_an_unbuildable_version_and_names_the_way_out() {
    let (lvm, _dir) = env_with_strutil();
    let base = git(&lvm.env_dir(), &["rev-parse", "--short=10", "HEAD"]);
    hand_commit_naming_an_unbuildable_version(&lvm);
    let before = lvm.snapshot();
    let err = lvm.fails(&["sync"]);
    let reset = format!(
        "git -C {} reset --hard {}",
        lvm.env_dir().display(),
        base.trim()
    );
    assert!(
        err.contains("made by hand")
            && err.contains(&format!("strutil 9.9-1 (store key {})", "0".repeat(64)))
            && err.contains("no longer lists strutil 9.9-1")
            && err.contains("the environment was not changed")
            && err.contains(&reset),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
    // `verify --repair` says the same and changes nothing either.
    let err = lvm.fails(&["verify", "--repair"]);
    assert!(err.contains(&reset), "{err}");
    assert_eq!(lvm.snapshot(), before);
    // The way out it names works.
    git(&lvm.env_dir(), &["reset", "-q", "--hard", base.trim()]);
    lvm.ok(&["sync"]);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    lvm.ok(&["verify"]);
}

#[test]
fn a_recorded_head_lacking_its_builds_blocks_no_writer() {
    let (lvm, _dir) = env_with_strutil();
    lvm.ok(&["install", "chain-c"]);
    // The head's strutil build is gone (removed by hand); its source is gone too.
    let entry = store_entry(&lvm, "strutil");
    make_writable(&entry);
    for e in walkdir::WalkDir::new(&entry).into_iter().flatten() {
        if e.file_type().is_dir() {
            make_writable(e.path());
        }
    }
    std::fs::remove_dir_all(&entry).unwrap();
    let server = lvm.root.path().join("server");
    std::fs::remove_file(server.join("strutil-1.1-1.tar.gz")).unwrap();
    let before = lvm.snapshot();
    let err = lvm.fails(&["sync"]);
    assert!(
        err.contains("the head of profile 'default'")
            && err.contains("strutil 1.1-1 (store key ")
            && err.contains("`lvm remove NAME`"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
    // The ways out it names: a rollback to an earlier state, or a new state without it.
    lvm.ok(&["rollback", "2"]);
    assert!(lvm.installed().is_empty());
    lvm.ok(&["verify"]);
}
