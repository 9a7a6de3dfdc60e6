//! Shared build caches: push to a folder, an HTTP server with PUT and a real S3-compatible
//! server on 127.0.0.1, then installs in fresh lvm homes that fetch instead of building; and
//! every way a cache can fail or lie (tampered, untrusted, silent, no credentials).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::http_server::TestServer;
use crate::common::rocks::{Lvm, file_server, stdout_ok};

/// A fresh lvm home and environment on the fixture server at `server`.
fn fresh(server: &str) -> Lvm {
    let lvm = Lvm::new();
    lvm.init(&[server]);
    lvm
}

/// Runs lvm with extra environment variables.
fn run_with(lvm: &Lvm, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = lvm.command();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

fn ok_with(lvm: &Lvm, vars: &[(&str, &str)], args: &[&str]) -> (String, String) {
    let out = run_with(lvm, vars, args);
    assert!(
        out.status.success(),
        "lvm {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An environment with cmath (a C module) and strutil installed and a signing key named
/// `name`; returns it and the public key to trust.
fn builder(server: &str, name: &str) -> (Lvm, String) {
    let lvm = fresh(server);
    lvm.ok(&["install", "cmath", "strutil"]);
    let public = lvm.ok(&["cache", "key", "generate", "--name", name]);
    (lvm, public.trim().to_string())
}

/// A folder with nothing in it, for a PATH without any compiler (or any other program).
fn empty_path(lvm: &Lvm) -> PathBuf {
    let dir = lvm.root.path().join("empty-path");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn push_json(lvm: &Lvm, vars: &[(&str, &str)], to: &str) -> serde_json::Value {
    let (out, _) = ok_with(lvm, vars, &["cache", "push", "--to", to, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    json[0].clone()
}

fn statuses(report: &serde_json::Value) -> Vec<String> {
    report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["status"].as_str().unwrap()
            )
        })
        .collect()
}

/// Installs cmath in a fresh home whose PATH has no compiler, reading `cache` and trusting
/// `public`; asserts it came from the cache and loads.
fn install_from_cache(server: &str, cache: &str, public: &str, extra: &[(&str, &str)]) {
    let consumer = fresh(server);
    let path = empty_path(&consumer);
    let mut vars = vec![
        ("LVM_CACHES", cache),
        ("LVM_TRUSTED_KEYS", public),
        ("PATH", path.to_str().unwrap()),
    ];
    vars.extend_from_slice(extra);
    let (out, err) = ok_with(&consumer, &vars, &["install", "cmath", "--json"]);
    assert!(!err.contains("warning"), "{err}");
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["builds"], 0, "{outcome}");
    let lua = stdout_ok(&consumer.lua("print(require('cmath').gcd(12, 18))"));
    assert_eq!(lua.trim(), "6");
    // The event says where the build came from; blame, show and stats read it.
    let blame: serde_json::Value =
        serde_json::from_str(&consumer.ok(&["blame", "cmath", "--json"])).unwrap();
    assert_eq!(blame[0]["from_cache"]["cache"], cache, "{blame}");
    assert_eq!(blame[0]["from_cache"]["signed_by"], "team-1", "{blame}");
    let show = consumer.ok(&["show", "cmath"]);
    assert!(
        show.contains(&format!(
            "build:        from cache {cache} (signed by team-1)"
        )),
        "{show}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&consumer.ok(&["stats", "--json"])).unwrap();
    assert_eq!(stats["cache_hits"][cache], 1, "{stats}");
    assert_eq!(stats["builds"], 0, "{stats}");
    assert!(stats["cache_bytes"].as_u64().unwrap() > 0, "{stats}");
    // Without the cache the same install needs the compiler this PATH lacks.
    let control = fresh(server);
    let out = run_with(
        &control,
        &[("PATH", path.to_str().unwrap())],
        &["install", "cmath"],
    );
    assert!(!out.status.success(), "cmath built without a compiler?");
}

#[test]
fn folder_cache_push_then_fresh_home_installs_without_compiler() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, server) = file_server(tmp.path());
    let (lvm, public) = builder(&server, "team-1");
    assert!(public.starts_with("team-1:"), "{public}");
    let cache_dir = tmp.path().join("cache");
    let cache = format!("file://{}", cache_dir.display());
    let report = push_json(&lvm, &[], &cache);
    assert_eq!(statuses(&report), ["cmath uploaded", "strutil uploaded"]);
    // A second push finds them there.
    let report = push_json(&lvm, &[], &cache);
    assert_eq!(statuses(&report), ["cmath present", "strutil present"]);
    // Each entry: signed metadata and a binary rock named as LuaRocks expects.
    let key = report["packages"][0]["store_key"].as_str().unwrap();
    let entry = cache_dir.join(key);
    let arch = lvm::platform::rock_arch();
    assert!(entry.join("entry.json").is_file());
    assert!(entry.join(format!("cmath-1.0-1.{arch}.rock")).is_file());

    install_from_cache(&server, &cache, &public, &[]);

    // list and verify see both entries as the trusted key's.
    let (out, _) = ok_with(
        &lvm,
        &[("LVM_TRUSTED_KEYS", &public)],
        &["cache", "verify", "--from", &cache, "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(statuses(&json[0]), ["cmath ok", "strutil ok"]);
    let (out, _) = ok_with(
        &lvm,
        &[("LVM_TRUSTED_KEYS", &public)],
        &["cache", "list", "--from", &cache, "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(statuses(&json[0]), ["cmath present", "strutil present"]);
    // pull fills an empty store (another lvm home on the same environment) from the cache.
    let other_home = lvm.root.path().join("other-home");
    let vars = [
        ("LVM_HOME", other_home.to_str().unwrap()),
        ("LVM_CACHES", cache.as_str()),
        ("LVM_TRUSTED_KEYS", public.as_str()),
    ];
    let (out, _) = ok_with(&lvm, &vars, &["cache", "pull", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(statuses(&json[0]), ["cmath fetched", "strutil fetched"]);
    assert_eq!(
        std::fs::read_dir(other_home.join("store/rocks"))
            .unwrap()
            .count(),
        2
    );
    let (out, _) = ok_with(&lvm, &vars, &["cache", "pull", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        statuses(&json[0]),
        Vec::<String>::new(),
        "nothing left to pull"
    );
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs luarocks")]
fn a_cache_entry_rock_installs_with_luarocks() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, server) = file_server(tmp.path());
    let (lvm, _) = builder(&server, "team-1");
    let cache_dir = tmp.path().join("cache");
    let report = push_json(&lvm, &[], &format!("file://{}", cache_dir.display()));
    let key = report["packages"][1]["store_key"].as_str().unwrap();
    let rock = cache_dir.join(key).join("strutil-1.1-1.all.rock");
    let tree = tmp.path().join("luarocks-tree");
    let out = std::process::Command::new("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(&tree)
        .args(["install", "--deps-mode", "none"])
        .arg(&rock)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tree.join("share/lua/5.4/strutil.lua").is_file());
}

/// Pushes the builder's packages to a folder cache; returns (server, cache URL, folder, public
/// key, cmath's store key).
fn pushed_folder(tmp: &Path) -> (String, String, PathBuf, String, String) {
    let (_, server) = file_server(tmp);
    let (lvm, public) = builder(&server, "team-1");
    let dir = tmp.join("cache");
    let cache = format!("file://{}", dir.display());
    let report = push_json(&lvm, &[], &cache);
    let key = report["packages"][0]["store_key"]
        .as_str()
        .unwrap()
        .to_string();
    (server, cache, dir, public, key)
}

#[test]
fn a_tampered_rock_is_refused_naming_it_and_lvm_builds_instead() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, cache, dir, public, key) = pushed_folder(tmp.path());
    let rock_name = format!("cmath-1.0-1.{}.rock", lvm::platform::rock_arch());
    let rock = dir.join(&key).join(&rock_name);
    // A rock with other code in it, under the signed metadata.
    let evil = crate::common::zip(&[crate::common::Entry::file("lua/cmath.lua", "os.exit(1)")]);
    std::fs::write(&rock, evil).unwrap();
    let consumer = fresh(&server);
    let vars = [
        ("LVM_CACHES", cache.as_str()),
        ("LVM_TRUSTED_KEYS", public.as_str()),
    ];
    let (out, err) = ok_with(&consumer, &vars, &["install", "cmath", "--json"]);
    assert!(err.contains("entry refused"), "{err}");
    assert!(
        err.contains(&format!("file {rock_name} does not have the sha256")),
        "{err}"
    );
    assert!(err.contains("building it instead"), "{err}");
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["builds"], 1, "{outcome}");
    let lua = stdout_ok(&consumer.lua("print(require('cmath').gcd(12, 18))"));
    assert_eq!(lua.trim(), "6");
    // verify says the same, and fails.
    let out = run_with(&consumer, &vars, &["cache", "verify", "cmath"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cmath 1.0-1: refused"));
}

#[test]
fn an_entry_signed_by_an_untrusted_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, cache, _, _, _) = pushed_folder(tmp.path());
    let stranger = Lvm::new();
    let other_key = stranger.ok(&["cache", "key", "generate", "--name", "someone-else"]);
    let consumer = fresh(&server);
    let vars = [
        ("LVM_CACHES", cache.as_str()),
        ("LVM_TRUSTED_KEYS", other_key.trim()),
    ];
    let (out, err) = ok_with(&consumer, &vars, &["install", "cmath", "--json"]);
    assert!(
        err.contains("signed by key 'team-1', which is not in trusted_keys"),
        "{err}"
    );
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["builds"], 1, "{outcome}");
    // No trusted key at all: the caches are not read, and lvm says why once.
    let consumer = fresh(&server);
    let (_, err) = ok_with(
        &consumer,
        &[("LVM_CACHES", &cache)],
        &["install", "strutil"],
    );
    assert_eq!(err.matches("trusted_keys is empty").count(), 1, "{err}");
}

#[test]
fn http_cache_with_put() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, server) = file_server(tmp.path());
    let (lvm, public) = builder(&server, "team-1");
    let root = tmp.path().join("http-cache");
    std::fs::create_dir_all(&root).unwrap();
    let http = TestServer::serve(&root);
    // A server that refuses PUT: a clear error, nothing half-written.
    let out = run_with(&lvm, &[], &["cache", "push", "--to", &http.url(), "cmath"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HTTP 405") && err.contains("does not accept PUT"),
        "{err}"
    );
    http.accept_puts();
    let report = push_json(&lvm, &[], &http.url());
    assert_eq!(statuses(&report), ["cmath uploaded", "strutil uploaded"]);
    install_from_cache(&server, &http.url(), &public, &[]);
}

#[test]
fn a_cache_that_never_answers_is_a_note_once_and_lvm_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, server) = file_server(tmp.path());
    // Accepts connections and never answers them.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().take(4) {
            open.push(stream);
        }
        // Kept open until the listener's port closes with the test process.
        std::thread::park();
    });
    let consumer = fresh(&server);
    let signer = Lvm::new();
    let public = signer.ok(&["cache", "key", "generate"]);
    let vars = [
        ("LVM_CACHES", silent.as_str()),
        ("LVM_TRUSTED_KEYS", public.trim()),
        ("LVM_HTTP_TIMEOUT", "1"),
    ];
    let (out, err) = ok_with(&consumer, &vars, &["install", "chain-a", "--json"]);
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["builds"], 3, "{outcome}");
    assert_eq!(
        err.matches(&format!("build cache {silent}")).count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("timed out") && err.contains("not used for the rest"),
        "{err}"
    );
    drop(held);
}

#[test]
fn concurrent_pushes_of_the_same_entries_leave_whole_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, cache, _, public, _) = {
        let (_, server) = file_server(tmp.path());
        let (lvm, public) = builder(&server, "team-1");
        let dir = tmp.path().join("cache");
        let cache = format!("file://{}", dir.display());
        let pushes: Vec<_> = (0..3)
            .map(|_| {
                let mut cmd = lvm.command();
                cmd.args(["cache", "push", "--to", &cache]);
                cmd.stdout(std::process::Stdio::null()).spawn().unwrap()
            })
            .collect();
        for mut push in pushes {
            assert!(push.wait().unwrap().success());
        }
        (server, cache, dir, public, ())
    };
    install_from_cache(&server, &cache, &public, &[]);
}

#[test]
fn a_clone_without_sources_or_compiler_takes_every_build_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let (server_dir, server) = file_server(tmp.path());
    let (lvm, public) = builder(&server, "team-1");
    let cache = format!("file://{}", tmp.path().join("cache").display());
    push_json(&lvm, &[], &cache);
    let bare = tmp.path().join("env.git");
    git2::Repository::init_bare(&bare).unwrap();
    let remote = format!("file://{}", bare.display());
    lvm.ok(&["remote", "add", "origin", &remote]);
    lvm.ok(&["push"]);
    // The rocks server is gone: the recorded sources cannot be fetched.
    std::fs::remove_dir_all(&server_dir).unwrap();
    let consumer = Lvm::new();
    let path = empty_path(&consumer);
    let vars = [
        ("LVM_CACHES", cache.as_str()),
        ("LVM_TRUSTED_KEYS", public.as_str()),
        ("PATH", path.to_str().unwrap()),
    ];
    let target = consumer.env_dir();
    ok_with(
        &consumer,
        &vars,
        &["clone", &remote, target.to_str().unwrap()],
    );
    let lua = stdout_ok(&consumer.lua("print(require('cmath').gcd(12, 18))"));
    assert_eq!(lua.trim(), "6");
    assert_eq!(consumer.installed(), ["cmath 1.0-1", "strutil 1.1-1"]);
}

#[test]
fn s3_push_needs_credentials_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, server) = file_server(tmp.path());
    let (lvm, _) = builder(&server, "team-1");
    let out = run_with(
        &lvm,
        &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")],
        &["cache", "push", "--to", "s3://team-builds/lvm"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no AWS credentials to write with") && err.contains("AWS_ACCESS_KEY_ID"),
        "{err}"
    );
}

#[test]
#[cfg_attr(not(lvm_has_s3s_fs), ignore = "needs s3s-fs (.ci/run installs it)")]
fn s3_cache_push_then_install_and_anonymous_reads_are_a_note() {
    use crate::common::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&tmp.path().join("s3"), &["team-builds"]);
    let (_, server) = file_server(tmp.path());
    let (lvm, public) = builder(&server, "team-1");
    let creds = [
        ("AWS_ENDPOINT_URL", s3.url()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
    ];
    let cache = "s3://team-builds/lvm";
    let report = push_json(&lvm, &creds, cache);
    assert_eq!(statuses(&report), ["cmath uploaded", "strutil uploaded"]);
    // The objects are in the bucket, under the prefix.
    let key = report["packages"][0]["store_key"].as_str().unwrap();
    assert!(
        tmp.path()
            .join("s3/team-builds/lvm")
            .join(key)
            .join("entry.json")
            .is_file()
    );
    install_from_cache(&server, cache, &public, &creds);

    // Without credentials the server refuses the anonymous read: a note, then a build.
    let consumer = fresh(&server);
    let vars = [
        ("AWS_ENDPOINT_URL", s3.url()),
        ("LVM_CACHES", cache),
        ("LVM_TRUSTED_KEYS", public.as_str()),
    ];
    let (out, err) = ok_with(&consumer, &vars, &["install", "strutil", "--json"]);
    assert!(err.contains("no AWS credentials were found"), "{err}");
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["builds"], 1, "{outcome}");
}

#[test]
fn cache_settings_are_validated_and_shown() {
    let lvm = Lvm::new();
    lvm.init(&["file:///nonexistent"]);
    let err = lvm.fails(&["config", "set", "trusted_keys", "team-1:AAAA"]);
    assert!(err.contains("an ed25519 key 32"), "{err}");
    let err = lvm.fails(&["config", "set", "caches", "ftp://host/cache"]);
    assert!(err.contains("unsupported scheme 'ftp://'"), "{err}");
    let public = lvm.ok(&["cache", "key", "generate", "--name", "ci-1"]);
    lvm.ok(&["config", "set", "trusted_keys", public.trim()]);
    lvm.ok(&[
        "config",
        "set",
        "caches",
        "s3://team-builds/lvm file:///srv/lvm-cache",
    ]);
    let shown = lvm.ok(&["config", "get", "caches"]);
    assert!(
        shown.contains("s3://team-builds/lvm file:///srv/lvm-cache"),
        "{shown}"
    );
    // A key file is never overwritten.
    let err = lvm.fails(&["cache", "key", "generate"]);
    assert!(err.contains("already there"), "{err}");
    // Unnamed, a key is named after its user and host, so a team's builders differ.
    let out = lvm
        .command()
        .env("USER", "alice smith")
        .args(["cache", "key", "generate", "--out"])
        .arg(lvm.root.path().join("alice.key"))
        .output()
        .unwrap();
    let public = stdout_ok(&out);
    assert!(public.starts_with("alice-smith-"), "{public}");
    lvm.ok(&["config", "set", "trusted_keys", public.trim()]);
    let err = lvm.fails(&["cache", "push"]);
    assert!(err.contains("no build cache to push to"), "{err}");
}
