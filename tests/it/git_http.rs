//! git over HTTP end to end through the `lvm` binary: installing a git source and sharing an
//! environment (push, clone, pull) against real `git http-backend` on 127.0.0.1, Basic auth
//! from the URL, redirects, and the errors for a missing repository and a server that only
//! serves files (git's "dumb" protocol).

use std::path::PathBuf;

use crate::common::git_http::{GitHttpServer, enable_push};
use crate::common::http_server::TestServer;
use crate::common::rocks::{
    Lvm, file_server, git, git_fixture, publish_fixtures_matching, stdout_ok,
};

/// An lvm environment whose server has `strutil` (gitrock's dependency), and under
/// `root/served/gitrock.git` a bare copy of the gitrock fixture repository (tag `v1.0`).
/// Returns (served dir, tagged commit).
pub(crate) fn gitrock_setup(lvm: &Lvm) -> (PathBuf, String) {
    let server = lvm.root.path().join("server");
    let url = format!("file://{}", server.display());
    publish_fixtures_matching(&server, &url, |n| n.starts_with("strutil"));
    lvm.init(&[&url]);
    let work = lvm.root.path().join("gitrock");
    let tagged = git_fixture(&work, "over-http");
    let served = lvm.root.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    git(
        &served,
        &[
            "clone",
            "--bare",
            "-q",
            work.to_str().unwrap(),
            "gitrock.git",
        ],
    );
    (served, tagged)
}

fn revision(lvm: &Lvm) -> String {
    stdout_ok(&lvm.lua("print(require('gitrock').revision)"))
        .trim()
        .to_string()
}

/// Asserts that gitrock's tagged revision is installed and recorded as a git source of `url`
/// at commit `tagged`.
pub(crate) fn assert_gitrock_installed_from(lvm: &Lvm, url: &str, tagged: &str) {
    assert_eq!(revision(lvm), "over-http");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap(),
    )
    .unwrap();
    let source = &manifest["packages"]["gitrock"]["source"];
    assert_eq!(source["kind"], "git");
    assert_eq!(source["url"], url);
    assert_eq!(source["commit"], tagged);
}

#[test]
fn installs_a_git_source_over_smart_http() {
    let lvm = Lvm::new();
    let (served, tagged) = gitrock_setup(&lvm);
    let server = GitHttpServer::serve(&served);
    let url = format!("git+{}", server.url_for("gitrock.git"));

    lvm.ok(&["install", &format!("{url}@v1.0")]);
    assert_gitrock_installed_from(&lvm, &url, &tagged);
    let log = server.log();
    assert!(
        log.iter()
            .any(|l| l == "GET /gitrock.git/info/refs?service=git-upload-pack 200"),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l == "POST /gitrock.git/git-upload-pack 200"),
        "{log:?}"
    );
}

#[test]
fn credentials_in_the_url_are_sent_and_redirects_are_followed() {
    let lvm = Lvm::new();
    let (served, _) = gitrock_setup(&lvm);
    let server = GitHttpServer::serve(&served);
    server.require_basic_auth("me", "s3cret");

    let without = lvm.fails(&[
        "install",
        &format!("git+{}@v1.0", server.url_for("gitrock.git")),
    ]);
    assert!(without.contains("401"), "{without}");
    assert!(without.contains("user:token@"), "{without}");
    let wrong = lvm.fails(&[
        "install",
        &format!(
            "git+{}@v1.0",
            server.url_with_credentials("me", "wrong", "gitrock.git")
        ),
    ]);
    assert!(
        wrong.contains("401") && wrong.contains("credentials in the URL were refused"),
        "{wrong}"
    );
    assert!(
        !wrong.contains("wrong@"),
        "the password is not echoed: {wrong}"
    );
    lvm.ok(&[
        "install",
        &format!(
            "git+{}@v1.0",
            server.url_with_credentials("me", "s3cret", "gitrock.git")
        ),
    ]);
    assert_eq!(revision(&lvm), "over-http");

    // A moved repository: the advertisement is redirected, and the POST that follows goes
    // straight to the new place.
    let moved = Lvm::new();
    let (served, _) = gitrock_setup(&moved);
    let server = GitHttpServer::serve(&served);
    server.redirect("old/gitrock.git", "gitrock.git");
    moved.ok(&[
        "install",
        &format!("git+{}@v1.0", server.url_for("old/gitrock.git")),
    ]);
    assert_eq!(revision(&moved), "over-http");
    let log = server.log();
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("POST "))
            .collect::<Vec<_>>(),
        ["POST /gitrock.git/git-upload-pack 200"],
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l == "GET /old/gitrock.git/info/refs?service=git-upload-pack 302"),
        "{log:?}"
    );
}

#[test]
fn a_missing_repository_is_reported_with_its_url_and_status() {
    let lvm = Lvm::new();
    let (served, _) = gitrock_setup(&lvm);
    let server = GitHttpServer::serve(&served);
    lvm.ok(&["install", "strutil"]);
    let before = lvm.snapshot();

    let url = server.url_for("missing.git");
    let err = lvm.fails(&["install", &format!("git+{url}")]);
    assert!(
        err.contains(&format!("{url}/info/refs?service=git-upload-pack")),
        "{err}"
    );
    assert!(err.contains("HTTP 404"), "{err}");
    assert_eq!(lvm.snapshot(), before);

    lvm.ok(&["remote", "add", "origin", &url]);
    let before = lvm.snapshot();
    for command in ["pull", "push"] {
        let err = lvm.fails(&[command]);
        assert!(err.contains(&url) && err.contains("HTTP 404"), "{err}");
        assert_eq!(lvm.snapshot(), before);
    }
}

#[test]
fn a_server_of_plain_files_is_not_a_smart_git_server() {
    let lvm = Lvm::new();
    let (served, _) = gitrock_setup(&lvm);
    let bare = served.join("gitrock.git");
    // What a dumb-protocol client would need: info/refs and objects/info/packs as files.
    git(&bare, &["update-server-info"]);
    assert!(bare.join("info/refs").is_file());
    let server = TestServer::serve(&served);
    let before = lvm.snapshot();

    let url = server.url_for("gitrock.git");
    let err = lvm.fails(&["install", &format!("git+{url}@v1.0")]);
    assert!(err.contains("not a smart git HTTP server"), "{err}");
    assert!(err.contains(&url), "{err}");
    assert_eq!(lvm.snapshot(), before);
    assert_eq!(server.requests("gitrock.git/info/refs"), 1);
}

#[test]
fn push_clone_and_pull_over_smart_http() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    a.init(&[&url]);
    a.ok(&["install", "strutil"]);
    let served = a.root.path().join("shared");
    std::fs::create_dir_all(&served).unwrap();
    git2::Repository::init_bare(served.join("env.git")).unwrap();
    enable_push(&served.join("env.git"));
    let server = GitHttpServer::serve(&served);
    let remote = server.url_for("env.git");

    a.ok(&["remote", "add", "origin", &remote]);
    let pushed = a.ok(&["push"]);
    assert!(pushed.contains("Pushed profile 'default'"), "{pushed}");
    assert!(
        server
            .log()
            .iter()
            .any(|l| l == "POST /env.git/git-receive-pack 200"),
        "{:?}",
        server.log()
    );

    let b = Lvm::new();
    let out = b.ok(&["clone", &remote, b.env_dir().to_str().unwrap()]);
    assert!(out.contains("In sync"), "{out}");
    assert_eq!(b.ok(&["list"]), a.ok(&["list"]));
    let lua = stdout_ok(&b.lua("print(require('strutil').trim('  cloned  '))"));
    assert_eq!(lua.trim(), "cloned");

    a.ok(&["install", "hello-cli"]);
    a.ok(&["push", "origin"]);
    let out = b.ok(&["pull"]);
    assert!(out.contains("+ hello-cli 1.0-1"), "{out}");
    let lua = stdout_ok(&b.lua("print(require('hello').greet('  pulled '))"));
    assert_eq!(lua.trim(), "hello, pulled");
    assert!(b.ok(&["verify"]).starts_with("ok:"));
}
