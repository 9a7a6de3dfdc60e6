//! Bad input through the `lvm` binary: every failed install is a clear error and leaves the
//! environment exactly as it was (branches, manifest.json and the tree, compared with
//! `Lvm::snapshot`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::http_server::TestServer;
use crate::common::rocks::{Lvm, publish_fixtures, publish_fixtures_matching, stdout_ok};
use crate::common::{Entry, zip};

/// A file:// server with the fixtures `keep` accepts, and an environment using it with
/// `chain-c` installed (so "nothing changed" covers a non-empty state).
fn setup(keep: impl Fn(&str) -> bool) -> (Lvm, PathBuf, String) {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("server");
    let url = format!("file://{}", dir.display());
    publish_fixtures_matching(&dir, &url, |n| keep(n) || n.starts_with("chain-c-1"));
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-c"]);
    (lvm, dir, url)
}

/// Publishes a hand-written rockspec for `name` 1.0-1 whose sources are `archive` (served as
/// `file_name`), and refreshes the server manifest.
fn publish_custom(dir: &Path, url: &str, name: &str, file_name: &str, archive: &[u8], extra: &str) {
    std::fs::write(dir.join(file_name), archive).unwrap();
    std::fs::write(
        dir.join(format!("{name}-1.0-1.rockspec")),
        format!(
            r#"package = "{name}"
version = "1.0-1"
source = {{ url = "{url}/{file_name}"{extra} }}
dependencies = {{ "lua >= 5.1" }}
build = {{ type = "builtin", modules = {{ {name} = "{name}.lua" }} }}
"#
        ),
    )
    .unwrap();
    lvm::ops::publish::make_manifest(dir).unwrap();
}

#[test]
fn broken_archive_is_refused() {
    let (lvm, dir, _) = setup(|n| n.starts_with("strutil"));
    std::fs::write(dir.join("strutil-1.1-1.tar.gz"), b"this is not gzip at all").unwrap();
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "strutil"]);
    assert!(err.contains("strutil 1.1-1"), "{err}");
    assert!(
        err.contains("cannot extract") && err.contains("strutil-1.1-1.tar.gz"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn zip_slip_archive_is_refused_and_writes_nothing_outside() {
    let (lvm, dir, url) = setup(|_| false);
    let archive = zip(&[
        Entry::file("slip/slip.lua", "return {}"),
        Entry::file("../../../lvm-zip-slip-evil.lua", "os.exit(1)"),
    ]);
    publish_custom(&dir, &url, "slip", "slip-1.0.zip", &archive, "");
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "slip"]);
    assert!(err.contains("slip 1.0-1"), "{err}");
    assert!(err.contains("../../../lvm-zip-slip-evil.lua"), "{err}");
    assert_eq!(lvm.snapshot(), before);
    let escaped: Vec<_> = walkdir::WalkDir::new(lvm.root.path())
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() == "lvm-zip-slip-evil.lua")
        .collect();
    assert!(escaped.is_empty(), "{escaped:?}");
}

#[test]
fn md5_mismatch_is_refused() {
    let (lvm, dir, url) = setup(|_| false);
    let tarball = common::tar_gz(&[Entry::file("sum-1.0/sum.lua", "return 42")]);
    let wrong = "0123456789abcdef0123456789abcdef";
    let extra = format!(", md5 = \"{wrong}\"");
    publish_custom(&dir, &url, "sum", "sum-1.0.tar.gz", &tarball, &extra);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "sum"]);
    let actual = lvm::fetch::md5_bytes(&tarball);
    assert!(err.contains("sum 1.0-1") && err.contains("md5"), "{err}");
    assert!(err.contains(wrong) && err.contains(&actual), "{err}");
    assert_eq!(lvm.snapshot(), before);

    // The right sum installs.
    let extra = format!(", md5 = \"{actual}\"");
    publish_custom(&dir, &url, "sum", "sum-1.0.tar.gz", &tarball, &extra);
    lvm.ok(&["install", "sum"]);
    assert_eq!(stdout_ok(&lvm.lua("print((require('sum')))")).trim(), "42");
}

/// An HTTP server with every fixture and an environment using it, with `chain-c` installed.
fn http_setup() -> (Lvm, TestServer) {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("http-server");
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::serve(&dir);
    publish_fixtures(&dir, &server.url());
    lvm.init(&[&server.url()]);
    lvm.ok(&["install", "chain-c"]);
    (lvm, server)
}

#[test]
fn http_404_and_500_name_the_file_and_status() {
    let (lvm, server) = http_setup();
    let before = lvm.snapshot();
    server.respond_404("/strutil-1.1-1.tar.gz");
    let err = lvm.fails(&["install", "strutil"]);
    assert!(
        err.contains("404") && err.contains(&server.url_for("strutil-1.1-1.tar.gz")),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);

    // A rockspec not cached yet.
    server.respond_500("/chain-b-1.0-1.rockspec");
    let err = lvm.fails(&["install", "chain-b"]);
    assert!(
        err.contains("500") && err.contains("chain-b-1.0-1.rockspec"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn stalled_server_times_out_quickly_with_lvm_http_timeout() {
    let (lvm, server) = http_setup();
    server.stall("/strutil-1.1-1.tar.gz");
    let before = lvm.snapshot();
    let started = Instant::now();
    let out = lvm
        .command()
        .env("LVM_HTTP_TIMEOUT", "1")
        .args(["install", "strutil"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert!(
        err.contains("strutil-1.1-1.tar.gz") && err.to_lowercase().contains("timed out"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);

    let out = lvm
        .command()
        .env("LVM_HTTP_TIMEOUT", "soon")
        .args(["install", "strutil"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("LVM_HTTP_TIMEOUT") && err.contains("soon"),
        "{err}"
    );
    let help = lvm.ok(&["install", "--help"]);
    assert!(help.contains("LVM_HTTP_TIMEOUT"), "{help}");
}

#[test]
fn unknown_package_is_named() {
    let (lvm, _, _) = setup(|_| false);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "no-such-rock"]);
    assert!(err.contains("no-such-rock"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn impossible_constraint_names_the_newest_version() {
    let (lvm, _, _) = setup(|n| n.starts_with("strutil"));
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "strutil >= 9"]);
    assert!(err.contains("strutil") && err.contains(">= 9"), "{err}");
    assert!(err.contains("1.1-1"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

/// `name@version` is LuaRocks' pin syntax; the error shows it as written, not `@== 9`.
#[test]
fn a_pinned_version_that_does_not_exist_is_shown_as_written() {
    let (lvm, _, _) = setup(|n| n.starts_with("strutil"));
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "strutil@9.0"]);
    assert!(err.contains("strutil @9.0"), "{err}");
    assert!(!err.contains("@=="), "{err}");
    assert!(err.contains("1.1-1"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn missing_c_compiler_is_reported() {
    let (lvm, _, _) = setup(|n| n.starts_with("cmath"));
    let before = lvm.snapshot();
    let out = lvm
        .command()
        .env("CC", "/nonexistent/cc")
        .args(["install", "cmath"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("cmath 1.0-1") && err.contains("/nonexistent/cc"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn missing_external_header_is_reported() {
    let (lvm, _, _) = setup(|n| n.starts_with("extdep"));
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "extdep"]);
    assert!(err.contains("extdep 1.0-1"), "{err}");
    assert!(
        err.contains("FOO") && err.contains("lvm-no-such-header.h"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn failing_server_is_named_when_a_package_cannot_be_found() {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("http-server");
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::serve(&dir);
    publish_fixtures(&dir, &server.url());
    server.respond_500("/manifest-5.4");
    lvm.init(&[&server.url()]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "strutil"]);
    assert!(err.contains("strutil"), "{err}");
    assert!(err.contains(&server.url()) && err.contains("500"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn a_mistyped_package_name_gets_the_closest_published_one() {
    let (lvm, _dir, _url) = setup(|_| true);
    let before = lvm.installed();
    let err = lvm.fails(&["install", "strutl"]);
    assert!(err.contains("no package named 'strutl'"), "{err}");
    assert!(err.contains("did you mean 'strutil'?"), "{err}");
    // Nothing close: no guess.
    let err = lvm.fails(&["install", "zzzzzzzz"]);
    assert!(!err.contains("did you mean"), "{err}");
    assert_eq!(lvm.installed(), before);
}

#[test]
fn a_failing_c_build_among_packages_prepared_side_by_side_changes_nothing() {
    let lvm = Lvm::new();
    let server = common::rocks::serve_side_by_side_closure(
        lvm.root.path(),
        "pbad",
        6,
        &["pbad-c1", "pbad-c2"],
        &["pbad-c2"],
    );
    lvm.init(&[&server.url()]);
    lvm.ok(&["install", "pbad-lua1"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "pbad"]);
    assert!(
        err.contains("pbad-c2 1.0-1") && err.contains("csrc/pbad_c2_len.c"),
        "{err}"
    );
    // The progress lines show every package; the error names the one that failed.
    let error = &err[err.find("error:").expect("an error line")..];
    assert!(!error.contains("pbad-c1"), "{err}");
    assert_eq!(lvm.snapshot(), before);
    assert_eq!(lvm.installed(), ["pbad-lua1 1.0-1"]);
}
