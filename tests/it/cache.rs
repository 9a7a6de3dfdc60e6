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
    assert!(err.contains("cmath 1.0-1 (from a build cache)"), "{err}");
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["builds"], 0, "{outcome}");
    assert_eq!(
        (&outcome["store_hits"], &outcome["cache_hits"]),
        (&1.into(), &1.into()),
        "{outcome}"
    );
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

/// A builder on `server` that pushed its packages to the folder cache `tmp/cache`: the
/// builder, its public key, the cache URL, the folder and cmath's store key.
fn builder_pushed_to_folder(server: &str, tmp: &Path) -> (Lvm, String, String, PathBuf, String) {
    let (lvm, public) = builder(server, "team-1");
    let dir = tmp.join("cache");
    let cache = format!("file://{}", dir.display());
    let report = push_json(&lvm, &[], &cache);
    let key = report["packages"][0]["store_key"]
        .as_str()
        .unwrap()
        .to_string();
    (lvm, public, cache, dir, key)
}

/// Pushes the builder's packages to a folder cache; returns (server, cache URL, folder, public
/// key, cmath's store key).
fn pushed_folder(tmp: &Path) -> (String, String, PathBuf, String, String) {
    let (_, server) = file_server(tmp);
    let (_, public, cache, dir, key) = builder_pushed_to_folder(&server, tmp);
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
    let (server, cache, dir, public, key) = pushed_folder(tmp.path());
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
    // A listing shows the entry as another key's and succeeds; verify refuses it and fails.
    let out = run_with(&consumer, &vars, &["cache", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(statuses(&json[0]), ["cmath untrusted"]);
    let detail = json[0]["packages"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("signed by key 'team-1'"), "{detail}");
    let out = run_with(&consumer, &vars, &["cache", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cmath 1.0-1: refused"));
    // An entry whose signature fails under a trusted key: the listing fails too.
    let entry = dir.join(&key).join("entry.json");
    let text = std::fs::read_to_string(&entry).unwrap();
    std::fs::write(&entry, text.replace("\\\"1.0-1\\\"", "\\\"1.0-2\\\"")).unwrap();
    assert_ne!(std::fs::read_to_string(&entry).unwrap(), text);
    let trusting = [
        ("LVM_CACHES", cache.as_str()),
        ("LVM_TRUSTED_KEYS", public.as_str()),
    ];
    let out = run_with(&consumer, &trusting, &["cache", "list"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("cmath 1.0-1: refused"), "{listed}");
    assert!(listed.contains("the signature does not verify"), "{listed}");
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

/// The variables that point lvm at the test S3 server, with its credentials.
fn s3_credentials(s3: &crate::common::s3_server::S3Server) -> [(&'static str, &str); 4] {
    use crate::common::s3_server::{ACCESS_KEY, SECRET_KEY};
    [
        ("AWS_ENDPOINT_URL", s3.url()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
    ]
}

#[test]
#[cfg_attr(not(lvm_has_s3s_fs), ignore = "needs s3s-fs (.ci/run installs it)")]
fn s3_cache_push_then_install_and_anonymous_reads_are_a_note() {
    use crate::common::s3_server::S3Server;
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&tmp.path().join("s3"), &["team-builds"]);
    let (_, server) = file_server(tmp.path());
    let (lvm, public) = builder(&server, "team-1");
    let creds = s3_credentials(&s3);
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

/// The entries `cache list|verify --all --json` printed for its first cache, as
/// `name version status` lines.
fn entry_statuses(json: &serde_json::Value) -> Vec<String> {
    json[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["name"].as_str().unwrap_or("?"),
                e["version"].as_str().unwrap_or("?"),
                e["status"].as_str().unwrap()
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Runs `lvm cache ARGS --all --json`: the exit code and the printed JSON.
fn all_json(lvm: &Lvm, vars: &[(&str, &str)], args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut full = vec!["cache"];
    full.extend_from_slice(args);
    full.extend(["--all", "--json"]);
    let out = run_with(lvm, vars, &full);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "lvm {full:?}: {e}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

/// Two environments push to `cache`: `team-1`'s has cmath and strutil, `team-2`'s chain-a
/// (with chain-b and chain-c). Returns the first environment and both public keys.
fn pushed_from_two(server: &str, cache: &str, vars: &[(&str, &str)]) -> (Lvm, String, String) {
    let (first, key1) = builder(server, "team-1");
    push_json(&first, vars, cache);
    let second = fresh(server);
    second.ok(&["install", "chain-a"]);
    let key2 = second.ok(&["cache", "key", "generate", "--name", "team-2"]);
    push_json(&second, vars, cache);
    (first, key1, key2.trim().to_string())
}

const EVERY_ENTRY_TRUSTED: [&str; 5] = [
    "chain-a 1.0-1 trusted",
    "chain-b 1.0-1 trusted",
    "chain-c 1.0-1 trusted",
    "cmath 1.0-1 trusted",
    "strutil 1.1-1 trusted",
];
const EVERY_ENTRY_OK: [&str; 5] = [
    "chain-a 1.0-1 ok",
    "chain-b 1.0-1 ok",
    "chain-c 1.0-1 ok",
    "cmath 1.0-1 ok",
    "strutil 1.1-1 ok",
];

/// Two builders' packages pushed to the folder `tmp/cache`: the first builder, the folder,
/// its URL and the two public keys.
fn pushed_from_two_to_folder(tmp: &Path) -> (Lvm, PathBuf, String, [String; 2]) {
    let (_, server) = file_server(tmp);
    let dir = tmp.join("cache");
    let cache = format!("file://{}", dir.display());
    let (lvm, key1, key2) = pushed_from_two(&server, &cache, &[]);
    (lvm, dir, cache, [key1, key2])
}

#[test]
fn list_and_verify_all_cover_every_entry_of_a_folder_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let (lvm, dir, cache, [key1, key2]) = pushed_from_two_to_folder(tmp.path());
    let both = format!("{key1} {key2}");
    let trust_both = [("LVM_TRUSTED_KEYS", both.as_str())];

    // Without --all: the environment's two packages; with it, the other environment's too.
    let (out, _) = ok_with(
        &lvm,
        &trust_both,
        &["cache", "list", "--from", &cache, "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(statuses(&json[0]), ["cmath present", "strutil present"]);
    let (code, json) = all_json(&lvm, &trust_both, &["list", "--from", &cache]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(entry_statuses(&json), EVERY_ENTRY_TRUSTED);
    assert_eq!(json[0]["cache"], cache.as_str());
    assert_eq!(json[0]["truncated"], false);
    let cmath = json[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "cmath")
        .unwrap();
    let arch = lvm::platform::rock_arch();
    assert_eq!(cmath["lua"], "5.4", "{cmath}");
    assert_eq!(cmath["platform"], arch.as_str(), "{cmath}");
    assert_eq!(cmath["signed_by"], "team-1", "{cmath}");
    assert_eq!(cmath["trusted"], true, "{cmath}");
    let key = cmath["store_key"].as_str().unwrap();
    let rock = dir.join(key).join(format!("cmath-1.0-1.{arch}.rock"));
    assert_eq!(
        cmath["bytes"].as_u64(),
        Some(std::fs::metadata(&rock).unwrap().len())
    );
    assert!(cmath.get("detail").is_none(), "{cmath}");
    let (code, json) = all_json(&lvm, &trust_both, &["verify", "--from", &cache]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(entry_statuses(&json), EVERY_ENTRY_OK);
    // A push under way (a rock without its entry.json yet) and stray files are not entries.
    std::fs::create_dir_all(dir.join("f".repeat(64))).unwrap();
    std::fs::write(dir.join("f".repeat(64)).join("x-1.0-1.all.rock"), "half").unwrap();
    std::fs::write(dir.join("README"), "team cache").unwrap();

    // Trusting team-1 only: list says which are untrusted and succeeds; verify refuses them,
    // naming the key, and fails.
    let trust_one = [("LVM_TRUSTED_KEYS", key1.as_str())];
    let (code, json) = all_json(&lvm, &trust_one, &["list", "--from", &cache]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        entry_statuses(&json),
        [
            "chain-a 1.0-1 untrusted",
            "chain-b 1.0-1 untrusted",
            "chain-c 1.0-1 untrusted",
            "cmath 1.0-1 trusted",
            "strutil 1.1-1 trusted",
        ]
    );
    let out = run_with(
        &lvm,
        &trust_one,
        &["cache", "verify", "--all", "--from", &cache],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{cache}: 5 entries")), "{text}");
    assert!(
        text.contains(&format!(
            "chain-b 1.0-1 (Lua 5.4, {arch}): refused, signed by team-2, "
        )),
        "{text}"
    );
    assert_eq!(
        text.matches("signed by key 'team-2', which is not in trusted_keys")
            .count(),
        3,
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "cmath 1.0-1 (Lua 5.4, {arch}): ok, signed by team-1"
        )),
        "{text}"
    );

    // A tampered rock: list (which reads entry.json only) still shows the signed claims;
    // verify names the rock file and fails.
    let evil = crate::common::zip(&[crate::common::Entry::file("lua/cmath.lua", "os.exit(1)")]);
    std::fs::write(&rock, evil).unwrap();
    let (code, json) = all_json(&lvm, &trust_both, &["verify", "--from", &cache]);
    assert_eq!(code, Some(1), "{json}");
    let mut expected = EVERY_ENTRY_OK.to_vec();
    expected[3] = "cmath 1.0-1 refused";
    assert_eq!(entry_statuses(&json), expected);
    let bad = json[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == "refused")
        .unwrap();
    let detail = bad["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "file cmath-1.0-1.{arch}.rock does not have the sha256"
        )),
        "{detail}"
    );
    // An entry.json changed after signing: the signature fails, naming the key.
    let other = json[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "strutil")
        .unwrap()["store_key"]
        .as_str()
        .unwrap()
        .to_string();
    let entry_file = dir.join(&other).join("entry.json");
    let text = std::fs::read_to_string(&entry_file).unwrap();
    std::fs::write(&entry_file, text.replacen("strutil", "strutiI", 1)).unwrap();
    let (code, json) = all_json(&lvm, &trust_both, &["list", "--from", &cache]);
    assert_eq!(code, Some(1), "{json}");
    let changed = json[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["store_key"] == other.as_str())
        .unwrap();
    assert_eq!(changed["status"], "refused", "{changed}");
    assert_eq!(changed["trusted"], false, "{changed}");
    assert!(
        changed["detail"]
            .as_str()
            .unwrap()
            .contains("the signature does not verify with the trusted key 'team-1'"),
        "{changed}"
    );

    // Outside every environment, list covers the cache of the user's settings: every entry.
    let mut outside = lvm.command();
    outside
        .env_remove("LVM_ENV")
        .env("LVM_CACHES", &cache)
        .env("LVM_TRUSTED_KEYS", &both)
        .args(["cache", "list", "--json"]);
    let out = outside.output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["entries"].as_array().unwrap().len(), 5, "{json}");
    // --all takes no package names.
    let err = lvm.fails(&["cache", "list", "--all", "cmath"]);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// `python3 -m http.server` on a folder: a static host with a directory index, stopped when
/// dropped.
#[cfg(lvm_has_python3)]
struct StaticHost {
    child: std::process::Child,
    url: String,
}

#[cfg(lvm_has_python3)]
impl StaticHost {
    fn serve(root: &Path) -> StaticHost {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(root)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("python3 -m http.server exited before it listened");
            };
            if let Some(rest) = line.split(" port ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        StaticHost {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

#[cfg(lvm_has_python3)]
impl Drop for StaticHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[cfg_attr(not(lvm_has_python3), ignore = "needs python3 (its http.server)")]
fn an_http_cache_is_listed_through_its_directory_index_or_says_it_cannot_be() {
    #[cfg(lvm_has_python3)]
    {
        let tmp = tempfile::tempdir().unwrap();
        let (_, server) = file_server(tmp.path());
        let root = tmp.path().join("http-cache");
        std::fs::create_dir_all(&root).unwrap();
        // A WebDAV-like server that takes PUT but serves no index.
        let dav = TestServer::serve(&root);
        dav.accept_puts();
        let (lvm, key1, key2) = pushed_from_two(&server, &dav.url(), &[]);
        let both = format!("{key1} {key2}");
        let trust = [("LVM_TRUSTED_KEYS", both.as_str())];
        let out = run_with(
            &lvm,
            &trust,
            &["cache", "list", "--all", "--from", &dav.url()],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("build cache {} cannot be listed", dav.url()))
                && err.contains("HTTP 404")
                && err.contains("autoindex")
                && err.contains("--from file:///"),
            "{err}"
        );
        // The same folder on a static host with a directory index lists and verifies.
        let host = StaticHost::serve(&root);
        let base = format!("{}/", host.url);
        let (code, json) = all_json(&lvm, &trust, &["list", "--from", &base]);
        assert_eq!(code, Some(0), "{json}");
        assert_eq!(entry_statuses(&json), EVERY_ENTRY_TRUSTED);
        let (code, json) = all_json(&lvm, &trust, &["verify", "--cache", &host.url]);
        assert_eq!(code, Some(0), "{json}");
        assert_eq!(entry_statuses(&json), EVERY_ENTRY_OK);
    }
}

#[test]
#[cfg_attr(not(lvm_has_s3s_fs), ignore = "needs s3s-fs (.ci/run installs it)")]
fn list_and_verify_all_on_s3_page_through_the_prefix() {
    use crate::common::s3_server::S3Server;
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&tmp.path().join("s3"), &["team-builds"]);
    let (_, server) = file_server(tmp.path());
    let creds = s3_credentials(&s3);
    let cache = "s3://team-builds/lvm";
    let (lvm, key1, key2) = pushed_from_two(&server, cache, &creds);
    // Another prefix of the bucket is another cache.
    push_json(&lvm, &creds, "s3://team-builds/elsewhere");
    let both = format!("{key1} {key2}");
    let mut vars = creds.to_vec();
    vars.push(("LVM_TRUSTED_KEYS", both.as_str()));
    let (code, json) = all_json(&lvm, &vars, &["list", "--from", cache]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(entry_statuses(&json), EVERY_ENTRY_TRUSTED);
    let (code, json) = all_json(&lvm, &vars, &["verify", "--from", cache]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(entry_statuses(&json), EVERY_ENTRY_OK);

    // More objects than one ListObjectsV2 page (1,000 keys): junk entries written straight
    // into the server's folder. Every one is listed, and refused as not an entry.
    let prefix_dir = tmp.path().join("s3/team-builds/lvm");
    for i in 0..1100 {
        let key = format!("{:064x}", 0xdead_0000_u64 + i);
        std::fs::create_dir_all(prefix_dir.join(&key)).unwrap();
        std::fs::write(prefix_dir.join(&key).join("entry.json"), "{}").unwrap();
    }
    let (code, json) = all_json(&lvm, &vars, &["list", "--from", cache]);
    assert_eq!(code, Some(1), "refused junk fails the listing");
    let entries = json[0]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1105);
    assert_eq!(
        entries.iter().filter(|e| e["status"] == "refused").count(),
        1100
    );
    let junk = entries.iter().find(|e| e["name"].is_null()).unwrap();
    assert!(
        junk["detail"]
            .as_str()
            .unwrap()
            .contains("not a cache entry"),
        "{junk}"
    );
    assert_eq!(json[0]["truncated"], false);
}

#[test]
fn verify_all_checks_a_trusted_rock_against_its_rock_manifest() {
    use lvm::cache::entry::{ENTRY_FORMAT, EntryMeta, RockFile, seal};
    let tmp = tempfile::tempdir().unwrap();
    let lvm = Lvm::new();
    lvm.init(&["file:///nonexistent"]);
    let public = lvm.ok(&["cache", "key", "generate", "--name", "team-1"]);
    let signer = lvm::cache::keys::SecretKey::load(&lvm.home().join("cache-signing.key")).unwrap();
    // A rock whose rock_manifest records another md5 for its module, signed by the trusted
    // key with the true sha256 of every file: only the rock_manifest check can tell.
    let files = [
        (
            "foo-1.0-1.rockspec",
            "package = 'foo'\nversion = '1.0-1'\n".to_string(),
        ),
        ("lua/foo.lua", "return {}\n".to_string()),
        (
            "rock_manifest",
            "rock_manifest = {\n   [\"foo-1.0-1.rockspec\"] = \"x\",\n   lua = {\n      \
             [\"foo.lua\"] = \"00000000000000000000000000000000\"\n   },\n}\n"
                .to_string(),
        ),
    ];
    let rock = crate::common::zip(
        &files
            .iter()
            .map(|(path, text)| crate::common::Entry::file(path, text))
            .collect::<Vec<_>>(),
    );
    let key = lvm::store::StoreKey::parse(&"e".repeat(64)).unwrap();
    let meta = EntryMeta {
        format: ENTRY_FORMAT.writes,
        key: key.clone(),
        name: "foo".into(),
        version: "1.0-1".into(),
        lua: "5.4".into(),
        platform: "all".into(),
        rock: RockFile {
            file: "foo-1.0-1.all.rock".into(),
            sha256: lvm::digest::sha256_bytes(&rock),
            size: rock.len() as u64,
        },
        files: files
            .iter()
            .map(|(path, text)| (path.to_string(), lvm::digest::sha256_bytes(text.as_bytes())))
            .collect(),
        extra: Default::default(),
    };
    let entry = tmp.path().join("cache").join(key.as_str());
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("foo-1.0-1.all.rock"), &rock).unwrap();
    std::fs::write(entry.join("entry.json"), seal(&meta, &signer)).unwrap();
    let cache = format!("file://{}", tmp.path().join("cache").display());
    let vars = [("LVM_TRUSTED_KEYS", public.trim())];
    let (code, json) = all_json(&lvm, &vars, &["list", "--from", &cache]);
    assert_eq!(
        (code, entry_statuses(&json)),
        (Some(0), vec!["foo 1.0-1 trusted".to_string()])
    );
    let (code, json) = all_json(&lvm, &vars, &["verify", "--from", &cache]);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(entry_statuses(&json), ["foo 1.0-1 refused"]);
    let detail = json[0]["entries"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("does not match its rock_manifest")
            && detail.contains("lua/foo.lua has another md5"),
        "{detail}"
    );
}

#[test]
fn entries_a_cache_cannot_send_are_unreadable_and_after_a_few_the_rest_are_not_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let lvm = Lvm::new();
    lvm.init(&["file:///nonexistent"]);
    let public = lvm.ok(&["cache", "key", "generate", "--name", "team-1"]);
    let dir = tmp.path().join("cache");
    // entry.json files past the 16 MiB limit (sparse: no disk used).
    for i in 0..20 {
        let entry = dir.join(format!("{i:064x}"));
        std::fs::create_dir_all(&entry).unwrap();
        let file = std::fs::File::create(entry.join("entry.json")).unwrap();
        file.set_len(17 << 20).unwrap();
    }
    let cache = format!("file://{}", dir.display());
    let vars = [("LVM_TRUSTED_KEYS", public.trim())];
    let (code, json) = all_json(&lvm, &vars, &["verify", "--from", &cache]);
    assert_eq!(code, Some(1), "{json}");
    let entries = json[0]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 20, "{json}");
    assert!(
        entries.iter().all(|e| e["status"] == "unreadable"),
        "{json}"
    );
    let detail = |e: &serde_json::Value| e["detail"].as_str().unwrap().to_string();
    let too_large = entries
        .iter()
        .filter(|e| detail(e).contains("limit"))
        .count();
    let not_asked = entries
        .iter()
        .filter(|e| detail(e).starts_with("not asked: 8 entries of build cache"))
        .count();
    // Eight failures, and at most the three other readers already at work, were read.
    assert!((8..=11).contains(&too_large), "{json}");
    assert_eq!(too_large + not_asked, 20, "{json}");
}

/// A builder whose rocks server is HTTP (sources at `http://` URLs, which recipe records may
/// vouch for), its entries and recipe records pushed to a folder cache.
struct HttpPushed {
    rocks: TestServer,
    server: String,
    cache: String,
    dir: PathBuf,
    public: String,
    /// cmath's store key.
    key: String,
    builder: Lvm,
    _tmp: tempfile::TempDir,
}

const CMATH_SOURCE: &str = "/cmath-1.0-1.tar.gz";

fn http_pushed() -> HttpPushed {
    let tmp = tempfile::tempdir().unwrap();
    let server_dir = tmp.path().join("server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let rocks = TestServer::serve(&server_dir);
    crate::common::rocks::publish_fixtures(&server_dir, &rocks.url());
    let server = rocks.url();
    let (lvm, public, cache, dir, key) = builder_pushed_to_folder(&server, tmp.path());
    HttpPushed {
        rocks,
        server,
        cache,
        dir,
        public,
        key,
        builder: lvm,
        _tmp: tmp,
    }
}

/// The recipe records of a folder cache.
fn recipe_records(dir: &Path) -> Vec<PathBuf> {
    let mut records: Vec<PathBuf> = std::fs::read_dir(dir.join("recipes"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    records.sort();
    records
}

/// cmath's recipe record in a folder cache (the one whose signed text names it).
fn cmath_record(dir: &Path) -> PathBuf {
    recipe_records(dir)
        .into_iter()
        .find(|p| std::fs::read_to_string(p).unwrap().contains("cmath"))
        .expect("a recipe record for cmath")
}

/// Installs cmath in a fresh home reading the pushed cache; returns the outcome and stderr.
fn install_cmath(pushed: &HttpPushed, extra: &[(&str, &str)]) -> (Lvm, serde_json::Value, String) {
    let consumer = fresh(&pushed.server);
    let mut vars = vec![
        ("LVM_CACHES", pushed.cache.as_str()),
        ("LVM_TRUSTED_KEYS", pushed.public.as_str()),
    ];
    vars.extend_from_slice(extra);
    let (out, err) = ok_with(&consumer, &vars, &["install", "cmath", "--json"]);
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lua = stdout_ok(&consumer.lua("print(require('cmath').gcd(12, 18))"));
    assert_eq!(lua.trim(), "6");
    (consumer, outcome, err)
}

#[test]
fn a_recipe_record_installs_from_the_cache_without_the_source() {
    let pushed = http_pushed();
    // One record per package, written beside the entries.
    assert_eq!(recipe_records(&pushed.dir).len(), 2);
    // The source is gone from the rocks server, and no compiler is on PATH.
    pushed.rocks.respond_404(CMATH_SOURCE);
    let before = pushed.rocks.requests(CMATH_SOURCE);
    let consumer = fresh(&pushed.server);
    let path = empty_path(&consumer);
    let vars = [
        ("LVM_CACHES", pushed.cache.as_str()),
        ("LVM_TRUSTED_KEYS", pushed.public.as_str()),
        ("PATH", path.to_str().unwrap()),
    ];
    let (out, err) = ok_with(&consumer, &vars, &["install", "cmath", "--json"]);
    assert!(!err.contains("warning"), "{err}");
    assert!(err.contains("cmath 1.0-1 (from a build cache)"), "{err}");
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["builds"], 0, "{outcome}");
    assert_eq!(
        (&outcome["store_hits"], &outcome["cache_hits"]),
        (&1.into(), &1.into()),
        "{outcome}"
    );
    assert_eq!(
        pushed.rocks.requests(CMATH_SOURCE),
        before,
        "the source was asked for"
    );
    let lua = stdout_ok(&consumer.lua("print(require('cmath').gcd(12, 18))"));
    assert_eq!(lua.trim(), "6");
    // The manifest records the digest the signer built from, the event who vouched for it.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(consumer.env_dir().join("manifest.json")).unwrap(),
    )
    .unwrap();
    let record = std::fs::read_to_string(cmath_record(&pushed.dir)).unwrap();
    let sha = manifest["packages"]["cmath"]["source"]["sha256"]
        .as_str()
        .unwrap();
    assert!(record.contains(sha), "{record}");
    assert_eq!(
        manifest["packages"]["cmath"]["store_key"],
        pushed.key.as_str()
    );
    let (_, event) = crate::common::rocks::event_at(&consumer.env_dir(), "HEAD");
    let details = &event["details"];
    assert_eq!(details["cache.cmath.url"], pushed.cache.as_str(), "{event}");
    assert_eq!(
        details["cache.cmath.source_from"],
        pushed.cache.as_str(),
        "{event}"
    );
    assert_eq!(details["cache.cmath.source_signed_by"], "team-1", "{event}");
}

#[test]
fn the_opt_out_setting_downloads_and_checks_the_source() {
    let pushed = http_pushed();
    let before = pushed.rocks.requests(CMATH_SOURCE);
    let (consumer, outcome, err) = install_cmath(&pushed, &[("LVM_CACHE_TRUST_SOURCES", "false")]);
    assert!(!err.contains("warning"), "{err}");
    // The entry still comes from the cache, found by the downloaded source's digest.
    assert_eq!(outcome["builds"], 0, "{outcome}");
    assert_eq!(pushed.rocks.requests(CMATH_SOURCE), before + 1);
    let (_, event) = crate::common::rocks::event_at(&consumer.env_dir(), "HEAD");
    assert_eq!(event["details"]["cache.cmath.url"], pushed.cache.as_str());
    assert!(
        event["details"]
            .get("cache.cmath.source_signed_by")
            .is_none(),
        "{event}"
    );
}

#[test]
fn a_recipe_record_signed_by_an_untrusted_key_is_ignored() {
    let pushed = http_pushed();
    // The record re-signed by a key nobody trusts; the entry keeps its trusted signature.
    let (record, meta) = cmath_record_meta(&pushed);
    let intruder = lvm::cache::keys::SecretKey::generate("intruder").unwrap();
    std::fs::write(&record, lvm::cache::recipe::seal(&meta, &intruder)).unwrap();
    refused_record_falls_back(
        &pushed,
        "signed by key 'intruder', which is not in trusted_keys",
    );
}

/// Installs cmath after its recipe record was changed: the record is refused with a note
/// saying `why`, the source is downloaded, and its digest still finds the entry.
fn refused_record_falls_back(pushed: &HttpPushed, why: &str) {
    refused_record_then(pushed, why, 0);
}

/// Installs cmath after its recipe record was changed: the record is refused with a note
/// saying `why`, the source is downloaded, and `builds` packages are built; returns stderr.
fn refused_record_then(pushed: &HttpPushed, why: &str, builds: u64) -> String {
    let before = pushed.rocks.requests(CMATH_SOURCE);
    let (_, outcome, err) = install_cmath(pushed, &[]);
    assert!(err.contains("recipe record refused"), "{err}");
    assert!(err.contains(why), "{err}");
    assert!(err.contains("fetching the source instead"), "{err}");
    assert_eq!(pushed.rocks.requests(CMATH_SOURCE), before + 1);
    assert_eq!(outcome["builds"], builds, "{outcome}");
    err
}

#[test]
fn a_tampered_recipe_record_is_refused_and_the_source_fetched() {
    let pushed = http_pushed();
    let record = cmath_record(&pushed.dir);
    let text = std::fs::read_to_string(&record).unwrap();
    let signed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let meta = signed["meta"].as_str().unwrap();
    let sha = serde_json::from_str::<serde_json::Value>(meta).unwrap()["source_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    // Another digest under the signature: the record would name another build.
    let tampered = text.replace(&sha, &"0".repeat(64));
    assert_ne!(tampered, text);
    std::fs::write(&record, tampered).unwrap();
    refused_record_falls_back(&pushed, "the signature does not verify");
}

#[test]
fn a_recipe_record_whose_entry_is_gone_means_a_build() {
    let pushed = http_pushed();
    std::fs::remove_dir_all(pushed.dir.join(&pushed.key)).unwrap();
    assert_eq!(recipe_records(&pushed.dir).len(), 2);
    let before = pushed.rocks.requests(CMATH_SOURCE);
    let (_, outcome, err) = install_cmath(&pushed, &[]);
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(outcome["builds"], 1, "{outcome}");
    assert_eq!(pushed.rocks.requests(CMATH_SOURCE), before + 1);
}

#[test]
fn a_push_adds_recipe_records_to_entries_already_there() {
    let pushed = http_pushed();
    // A cache filled before recipe records existed: entries only. It keeps working.
    std::fs::remove_dir_all(pushed.dir.join("recipes")).unwrap();
    let before = pushed.rocks.requests(CMATH_SOURCE);
    let (_, outcome, _) = install_cmath(&pushed, &[]);
    assert_eq!(outcome["builds"], 0, "{outcome}");
    assert_eq!(pushed.rocks.requests(CMATH_SOURCE), before + 1);
    // Pushing again leaves the entries and adds their records.
    let report = push_json(&pushed.builder, &[], &pushed.cache);
    assert_eq!(statuses(&report), ["cmath present", "strutil present"]);
    assert_eq!(recipe_records(&pushed.dir).len(), 2);
    pushed.rocks.respond_404(CMATH_SOURCE);
    let (_, outcome, _) = install_cmath(&pushed, &[]);
    assert_eq!(outcome["builds"], 0, "{outcome}");
}

/// The HTTP cache serving a pushed folder: its server, which counts requests per path.
fn served_cache(pushed: &HttpPushed) -> TestServer {
    TestServer::serve(&pushed.dir)
}

/// The path of `file` in a served folder cache.
fn cache_path(dir: &Path, file: &Path) -> String {
    format!("/{}", file.strip_prefix(dir).unwrap().display())
}

/// Installs cmath in a fresh home from the pushed folder served over HTTP, with no compiler
/// on PATH; returns the outcome, stderr, and what the cache server was asked: the recipe
/// record, `entry.json`, the rock, and every request.
fn install_cmath_over_http(pushed: &HttpPushed) -> (serde_json::Value, String, [usize; 4]) {
    let cache = served_cache(pushed);
    let record = cache_path(&pushed.dir, &cmath_record(&pushed.dir));
    let entry = format!("/{}/entry.json", pushed.key);
    let rock = format!(
        "/{}/cmath-1.0-1.{}.rock",
        pushed.key,
        lvm::platform::rock_arch()
    );
    let consumer = fresh(&pushed.server);
    let path = empty_path(&consumer);
    let vars = [
        ("LVM_CACHES", cache.url()),
        ("LVM_TRUSTED_KEYS", pushed.public.clone()),
        ("PATH", path.to_str().unwrap().to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (out, err) = ok_with(&consumer, &vars, &["install", "cmath", "--json"]);
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lua = stdout_ok(&consumer.lua("print(require('cmath').gcd(12, 18))"));
    assert_eq!(lua.trim(), "6");
    let asked = [
        cache.requests(&record),
        cache.requests(&entry),
        cache.requests(&rock),
        cache.total_requests(),
    ];
    (outcome, err, asked)
}

#[test]
fn a_hit_through_a_recipe_record_costs_two_requests() {
    let pushed = http_pushed();
    // The record carries the entry's metadata, signed with it.
    let (_, meta) = cmath_record_meta(&pushed);
    let folded = meta.entry.expect("the entry's metadata folded in");
    assert_eq!(folded.key.as_str(), pushed.key);
    pushed.rocks.respond_404(CMATH_SOURCE);
    let (outcome, err, asked) = install_cmath_over_http(&pushed);
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(outcome["builds"], 0, "{outcome}");
    // The record and the rock: `entry.json` is not read.
    assert_eq!(asked, [1, 0, 1, 2], "record, entry.json, rock, all");
}

/// cmath's recipe record in the pushed cache: its file and the metadata it signs.
fn cmath_record_meta(pushed: &HttpPushed) -> (PathBuf, lvm::cache::recipe::RecipeMeta) {
    let record = cmath_record(&pushed.dir);
    let signed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let meta = serde_json::from_str(signed["meta"].as_str().unwrap()).unwrap();
    (record, meta)
}

/// Writes `meta` as cmath's recipe record, signed with the builder's own key.
fn resign_cmath_record(pushed: &HttpPushed, record: &Path, meta: &lvm::cache::recipe::RecipeMeta) {
    let key_file = pushed.builder.home().join("cache-signing.key");
    let signer = lvm::cache::keys::SecretKey::load(&key_file).unwrap();
    std::fs::write(record, lvm::cache::recipe::seal(meta, &signer)).unwrap();
}

/// Re-signs cmath's recipe record with the builder's key as an lvm of format 1.0 wrote it:
/// without the entry's metadata.
fn write_record_of_format_1_0(pushed: &HttpPushed) {
    let (record, mut meta) = cmath_record_meta(pushed);
    meta.entry = None;
    meta.format = lvm::format_version::FormatVersion::new(1, 0, 0);
    resign_cmath_record(pushed, &record, &meta);
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(
        !text.contains("\\\"entry\\\"") && text.contains("\\\"format\\\": 1,"),
        "{text}"
    );
}

#[test]
fn an_older_record_without_the_entry_folded_in_still_installs() {
    let pushed = http_pushed();
    write_record_of_format_1_0(&pushed);
    pushed.rocks.respond_404(CMATH_SOURCE);
    let (outcome, err, asked) = install_cmath_over_http(&pushed);
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(outcome["builds"], 0, "{outcome}");
    // The record names the store key; `entry.json` gives the rock, as before.
    assert_eq!(asked, [1, 1, 1, 3], "record, entry.json, rock, all");
    // Pushing again folds the entry in, and the next install is two requests again.
    let report = push_json(&pushed.builder, &[], &pushed.cache);
    assert_eq!(statuses(&report), ["cmath present", "strutil present"]);
    let (outcome, _, asked) = install_cmath_over_http(&pushed);
    assert_eq!(outcome["builds"], 0, "{outcome}");
    assert_eq!(asked, [1, 0, 1, 2], "record, entry.json, rock, all");
}

#[test]
fn a_rock_swapped_under_rewritten_metadata_is_refused_and_built() {
    let pushed = http_pushed();
    let rock_name = format!("cmath-1.0-1.{}.rock", lvm::platform::rock_arch());
    let rock = pushed.dir.join(&pushed.key).join(&rock_name);
    let real = std::fs::read(&rock).unwrap();
    // A hostile cache: other code in the rock, and the folded data of the record (and the
    // entry's metadata) rewritten to its sha256 and size, under the old signatures.
    let evil = crate::common::zip(&[crate::common::Entry::file("lua/cmath.lua", "os.exit(1)")]);
    std::fs::write(&rock, &evil).unwrap();
    let sha = |bytes: &[u8]| lvm::digest::sha256_bytes(bytes);
    for file in [
        cmath_record(&pushed.dir),
        pushed.dir.join(&pushed.key).join("entry.json"),
    ] {
        let text = std::fs::read_to_string(&file).unwrap();
        let changed = text.replace(&sha(&real), &sha(&evil)).replace(
            &format!("\\\"size\\\": {}", real.len()),
            &format!("\\\"size\\\": {}", evil.len()),
        );
        assert!(changed.contains(&sha(&evil)), "{text}");
        assert!(
            changed.contains(&format!("\\\"size\\\": {}", evil.len())),
            "{text}"
        );
        std::fs::write(&file, changed).unwrap();
    }
    // Both signatures fail: no rock from the cache, a build from the source.
    let err = refused_record_then(&pushed, "the signature does not verify", 1);
    assert!(err.contains("entry refused"), "{err}");
    assert!(err.contains("building it instead"), "{err}");
}

#[test]
fn a_rock_that_does_not_match_its_record_sends_lvm_to_the_entry() {
    let pushed = http_pushed();
    // A trusted record whose folded rock hash is not the rock's: what a reader sees while
    // another builder replaces an entry, between its rock and its record.
    let (record, mut meta) = cmath_record_meta(&pushed);
    meta.entry.as_mut().unwrap().rock.sha256 = lvm::digest::sha256_bytes(b"another build");
    resign_cmath_record(&pushed, &record, &meta);
    pushed.rocks.respond_404(CMATH_SOURCE);
    let (outcome, err, asked) = install_cmath_over_http(&pushed);
    let rock_name = format!("cmath-1.0-1.{}.rock", lvm::platform::rock_arch());
    assert!(
        err.contains(&format!("file {rock_name} does not have the sha256")),
        "{err}"
    );
    assert!(err.contains("reading its entry.json instead"), "{err}");
    // Still no source and no build: the entry's own metadata gives the rock.
    assert_eq!(outcome["builds"], 0, "{outcome}");
    assert_eq!(asked, [1, 1, 2, 4], "record, entry.json, rock, all");
}

#[test]
fn verify_all_reads_each_entry_json_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (lvm, dir, _, signers) = pushed_from_two_to_folder(tmp.path());
    let both = signers.join(" ");
    // The folder on an HTTP host whose directory index links every entry.
    let keys: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.len() == 64)
        .collect();
    let links: String = keys
        .iter()
        .map(|key| format!("<a href=\"{key}/\">{key}/</a>\n"))
        .collect();
    std::fs::write(
        dir.join("index.html"),
        format!("<html><body>{links}</body></html>"),
    )
    .unwrap();
    let host = TestServer::serve(&dir);
    let (code, json) = all_json(
        &lvm,
        &[("LVM_TRUSTED_KEYS", both.as_str())],
        &["verify", "--from", &host.url()],
    );
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(entry_statuses(&json), EVERY_ENTRY_OK);
    assert_eq!(keys.len(), EVERY_ENTRY_OK.len());
    for key in &keys {
        assert_eq!(host.requests(&format!("/{key}/entry.json")), 1, "{key}");
    }
}
