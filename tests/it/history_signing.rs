//! Signed events through the binary with a throwaway ssh key made by `ssh-keygen`: `--sign` and
//! the `sign` setting sign event commits as git does, `lvm verify --signatures` says who signed
//! each event, reports unsigned and tampered ones, and agrees with `git verify-commit`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::rocks::{Lvm, file_server, git, stdout_ok};

/// A home folder with a git config that signs with a new ed25519 key of alice@example.org,
/// and trusts it in the allowed signers file.
fn signing_home(lvm: &Lvm) -> PathBuf {
    let home = lvm.root.path().join("user-home");
    let keys = home.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key = keys.join("alice");
    let made = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "alice@example.org",
            "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let public = std::fs::read_to_string(keys.join("alice.pub")).unwrap();
    let allowed = keys.join("allowed_signers");
    std::fs::write(&allowed, format!("alice@example.org {public}")).unwrap();
    std::fs::write(
        home.join(".gitconfig"),
        format!(
            "[user]\n\tname = Alice\n\temail = alice@example.org\n\tsigningkey = {}\n\
             [gpg]\n\tformat = ssh\n[gpg \"ssh\"]\n\tallowedSignersFile = {}\n",
            keys.join("alice.pub").display(),
            allowed.display()
        ),
    )
    .unwrap();
    home
}

/// lvm with `home` as the home folder (git's global config).
fn lvm_in(lvm: &Lvm, home: &Path, args: &[&str]) -> std::process::Output {
    lvm.command()
        .env("HOME", home)
        .env_remove("GIT_CONFIG_GLOBAL")
        .env_remove("XDG_CONFIG_HOME")
        .env("LVM_CONFIG", lvm.user_config())
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    stdout_ok(&out)
}

/// Whether the real `git verify-commit` accepts `commit`.
fn git_verifies(home: &Path, env: &Path, commit: &str) -> bool {
    Command::new("git")
        .env("HOME", home)
        .env_remove("GIT_CONFIG_GLOBAL")
        .env_remove("XDG_CONFIG_HOME")
        .arg("-C")
        .arg(env)
        .args(["verify-commit", commit])
        .output()
        .unwrap()
        .status
        .success()
}

/// `lvm verify --signatures --json`: its report and exit code.
fn signatures(lvm: &Lvm, home: &Path) -> (serde_json::Value, Option<i32>) {
    let out = lvm_in(lvm, home, &["verify", "--signatures", "--json"]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (json, out.status.code())
}

/// Each event's status, newest first.
fn statuses(report: &serde_json::Value) -> Vec<String> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

/// lvm and git agree on every event: good for lvm exactly when `git verify-commit` accepts it.
fn assert_git_agrees(home: &Path, env: &Path, report: &serde_json::Value) {
    for event in report["events"].as_array().unwrap() {
        let commit = event["commit"].as_str().unwrap();
        assert_eq!(
            git_verifies(home, env, commit),
            event["status"] == "good",
            "git verify-commit and lvm disagree on {event}"
        );
    }
}

#[test]
#[cfg_attr(not(lvm_has_ssh_keygen), ignore = "needs ssh-keygen (openssh-client)")]
fn signed_events_are_verified_as_git_verifies_them() {
    let lvm = Lvm::new();
    let home = signing_home(&lvm);
    let (_dir, url) = file_server(lvm.root.path());
    let env = lvm.env_dir();
    ok(lvm_in(&lvm, &home, &["init", "--server", &url]));
    // One event signed with --sign; then the setting signs every event.
    ok(lvm_in(&lvm, &home, &["--sign", "install", "strutil"]));
    ok(lvm_in(&lvm, &home, &["config", "set", "sign", "true"]));
    ok(lvm_in(&lvm, &home, &["install", "chain-a"]));

    let (report, code) = signatures(&lvm, &home);
    assert_eq!(report["signing"], true, "{report}");
    // Newest first: chain-a, the config change (recorded before signing was on), strutil,
    // init.
    assert_eq!(
        statuses(&report),
        ["good", "unsigned", "good", "unsigned"],
        "{report}"
    );
    assert_eq!(code, Some(1), "unsigned events fail the check");
    let newest = &report["events"][0];
    assert_eq!(newest["signer"], "alice@example.org", "{report}");
    assert!(
        newest["key"].as_str().unwrap().contains("SHA256:"),
        "{report}"
    );
    assert_git_agrees(&home, &env, &report);
    let text = String::from_utf8_lossy(&lvm_in(&lvm, &home, &["verify", "--signatures"]).stdout)
        .into_owned();
    assert!(
        text.contains("signed by alice@example.org") && text.contains("not signed"),
        "{text}"
    );

    // A commit changed after it was signed: its signature no longer matches.
    let tamper = |args: &[&str], input: Option<&[u8]>| -> String {
        use std::io::Write;
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&env)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.unwrap_or_default()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let raw = tamper(&["cat-file", "commit", "HEAD"], None);
    let changed = raw.replacen("install chain-a", "install chain-a (changed)", 1);
    assert_ne!(raw, changed);
    let forged = tamper(
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        Some(format!("{changed}\n").as_bytes()),
    );
    tamper(&["update-ref", "refs/heads/default", &forged], None);
    let (report, code) = signatures(&lvm, &home);
    assert_eq!(statuses(&report)[0], "bad", "{report}");
    assert_eq!(code, Some(1));
    assert_git_agrees(&home, &env, &report);
}

#[test]
#[cfg_attr(not(lvm_has_ssh_keygen), ignore = "needs ssh-keygen (openssh-client)")]
fn an_environment_signed_from_its_first_event_verifies_clean() {
    let lvm = Lvm::new();
    let home = signing_home(&lvm);
    let (_dir, url) = file_server(lvm.root.path());
    // The user's setting signs every event, the first one included.
    ok(lvm_in(
        &lvm,
        &home,
        &["config", "set", "--user", "sign", "true"],
    ));
    ok(lvm_in(&lvm, &home, &["init", "--server", &url]));
    ok(lvm_in(&lvm, &home, &["install", "strutil"]));
    ok(lvm_in(&lvm, &home, &["remove", "strutil"]));
    let (report, code) = signatures(&lvm, &home);
    assert_eq!(statuses(&report), ["good", "good", "good"], "{report}");
    assert_eq!(code, Some(0));
    assert_eq!(report["ok"], true);
    assert_git_agrees(&home, &lvm.env_dir(), &report);
}

#[test]
#[cfg_attr(not(lvm_has_ssh_keygen), ignore = "needs ssh-keygen (openssh-client)")]
fn a_signing_key_that_cannot_sign_changes_nothing() {
    let lvm = Lvm::new();
    let home = signing_home(&lvm);
    let (_dir, url) = file_server(lvm.root.path());
    ok(lvm_in(&lvm, &home, &["init", "--server", &url]));
    let env = lvm.env_dir();
    git(&env, &["config", "user.signingkey", "/nonexistent/key.pub"]);
    let before = lvm.snapshot();
    let out = lvm_in(&lvm, &home, &["--sign", "install", "strutil"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot sign the event commit") && err.contains("/nonexistent/key.pub"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before, "a failed signing changes nothing");

    // Without any key, the error says how to set one.
    git(&env, &["config", "user.signingkey", ""]);
    let out = lvm_in(&lvm, &home, &["--sign", "install", "strutil"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("git config --global user.signingkey"), "{err}");
    assert_eq!(lvm.snapshot(), before);

    // The setting takes true or false only.
    let err = lvm.fails(&["config", "set", "sign", "yes"]);
    assert!(err.contains("sign = 'yes': not true or false"), "{err}");
}
