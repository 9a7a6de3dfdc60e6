//! git over ssh end to end through the `lvm` binary, against a real OpenSSH server on 127.0.0.1
//! reached through the ssh program (`GIT_SSH_COMMAND`): sharing an environment (push, clone,
//! pull) over `ssh://` and scp-like locations, installing a `git+ssh://` source, and the errors
//! for a key the server refuses and a host key that is not trusted.

use std::path::Path;
use std::process::Output;

use crate::common::rocks::{Lvm, failed, file_server, stdout_ok, succeeded};
use crate::common::ssh_server::{SshServer, keygen};
use crate::git_http::{assert_gitrock_installed_from, gitrock_setup};

/// Runs `lvm ARGS` with `GIT_SSH_COMMAND` set to `ssh`.
fn run_with(lvm: &Lvm, ssh: &str, args: &[&str]) -> Output {
    lvm.command()
        .env("GIT_SSH_COMMAND", ssh)
        .env_remove("GIT_SSH")
        .args(args)
        .output()
        .unwrap()
}

fn ok_with(lvm: &Lvm, ssh: &str, args: &[&str]) -> String {
    succeeded(args, &run_with(lvm, ssh, args))
}

fn fails_with(lvm: &Lvm, ssh: &str, args: &[&str]) -> String {
    failed(args, &run_with(lvm, ssh, args))
}

/// The branches of the bare repository at `path`, as `name commit` lines.
fn branches(path: &Path) -> Vec<String> {
    let repo = git2::Repository::open_bare(path).unwrap();
    let mut out: Vec<String> = repo
        .references()
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            format!("{} {:?}", r.name().unwrap(), r.target())
        })
        .collect();
    out.sort();
    out
}

#[test]
#[cfg_attr(not(lvm_has_sshd), ignore = "needs sshd (openssh-server)")]
fn push_clone_and_pull_over_ssh() {
    let sshd = SshServer::start();
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    a.init(&[&url]);
    a.ok(&["install", "strutil"]);
    let bare = a.root.path().join("shared/env.git");
    git2::Repository::init_bare(&bare).unwrap();

    // Pushed over ssh://127.0.0.1:PORT/path.
    a.ok(&["remote", "add", "origin", &sshd.url_for(&bare)]);
    let pushed = ok_with(&a, &sshd.ssh_command(), &["push"]);
    assert!(pushed.contains("Pushed profile 'default'"), "{pushed}");
    assert!(
        branches(&bare)
            .iter()
            .any(|b| b.starts_with("refs/heads/default ")),
        "{:?}\n{}",
        branches(&bare),
        sshd.log()
    );

    // Cloned and pulled through the scp-like form, the port in the ssh command.
    let scp_like = format!("127.0.0.1:{}", bare.display());
    let b = Lvm::new();
    let out = ok_with(
        &b,
        &sshd.scp_like_command(),
        &["clone", &scp_like, b.env_dir().to_str().unwrap()],
    );
    assert!(out.contains("In sync"), "{out}");
    assert_eq!(b.ok(&["list"]), a.ok(&["list"]));
    let lua = stdout_ok(&b.lua("print(require('strutil').trim('  cloned  '))"));
    assert_eq!(lua.trim(), "cloned");

    a.ok(&["install", "hello-cli"]);
    ok_with(&a, &sshd.ssh_command(), &["push", "origin"]);
    let out = ok_with(&b, &sshd.scp_like_command(), &["pull"]);
    assert!(out.contains("+ hello-cli 1.0-1"), "{out}");
    let lua = stdout_ok(&b.lua("print(require('hello').greet('  pulled '))"));
    assert_eq!(lua.trim(), "hello, pulled");
    assert!(b.ok(&["verify"]).starts_with("ok:"));
}

#[test]
#[cfg_attr(not(lvm_has_sshd), ignore = "needs sshd (openssh-server)")]
fn installs_a_git_ssh_source() {
    let sshd = SshServer::start();
    let lvm = Lvm::new();
    let (served, tagged) = gitrock_setup(&lvm);
    let url = format!("git+{}", sshd.url_for(&served.join("gitrock.git")));

    ok_with(
        &lvm,
        &sshd.ssh_command(),
        &["install", &format!("{url}@v1.0")],
    );
    assert_gitrock_installed_from(&lvm, &url, &tagged);
}

#[test]
#[cfg_attr(not(lvm_has_sshd), ignore = "needs sshd (openssh-server)")]
fn a_refused_key_or_an_unknown_host_fails_with_sshs_words_and_changes_nothing() {
    let sshd = SshServer::start();
    let lvm = Lvm::new();
    let (served, _) = gitrock_setup(&lvm);
    let bare = lvm.root.path().join("shared/env.git");
    git2::Repository::init_bare(&bare).unwrap();
    lvm.ok(&["remote", "add", "origin", &sshd.url_for(&bare)]);
    let before = lvm.snapshot();

    let stranger = lvm.root.path().join("stranger_key");
    keygen(&stranger);
    let wrong_key = sshd.ssh_command_with(&stranger);
    let err = fails_with(&lvm, &wrong_key, &["push"]);
    assert!(err.contains("Permission denied (publickey)"), "{err}");
    assert!(err.contains("(GIT_SSH_COMMAND)"), "{err}");
    assert!(err.contains("ssh-add"), "the hint: {err}");
    assert!(branches(&bare).is_empty(), "{:?}", branches(&bare));

    let source = format!("git+{}@v1.0", sshd.url_for(&served.join("gitrock.git")));
    let err = fails_with(&lvm, &wrong_key, &["install", &source]);
    assert!(err.contains("Permission denied (publickey)"), "{err}");

    // The right key, but a known_hosts file without the server's key.
    let untrusted = sshd
        .ssh_command()
        .replace("known_hosts", "known_hosts.empty");
    let err = fails_with(&lvm, &untrusted, &["push"]);
    assert!(err.contains("Host key verification failed"), "{err}");
    assert_eq!(lvm.snapshot(), before);
    assert!(branches(&bare).is_empty());
}

#[test]
#[cfg_attr(not(lvm_has_sshd), ignore = "needs sshd (openssh-server)")]
fn gits_core_ssh_command_is_used_without_git_ssh_command() {
    let sshd = SshServer::start();
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let bare = lvm.root.path().join("shared/env.git");
    git2::Repository::init_bare(&bare).unwrap();
    lvm.ok(&["remote", "add", "origin", &sshd.url_for(&bare)]);
    // git's global config, found through HOME as git finds it.
    let home = lvm.root.path().join("user-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".gitconfig"),
        format!("[core]\n\tsshCommand = {}\n", sshd.ssh_command()),
    )
    .unwrap();

    let args = ["push"];
    let out = lvm
        .command()
        .env("HOME", &home)
        .env_remove("GIT_SSH_COMMAND")
        .env_remove("GIT_SSH")
        .env_remove("GIT_CONFIG_GLOBAL")
        .args(args)
        .output()
        .unwrap();
    let pushed = succeeded(&args, &out);
    assert!(pushed.contains("Pushed profile 'default'"), "{pushed}");
    assert!(
        branches(&bare)
            .iter()
            .any(|b| b.starts_with("refs/heads/default ")),
        "{:?}",
        branches(&bare)
    );
}
