//! Hostile input through the `lvm` binary: rockspecs and server manifests (served over real
//! HTTP on 127.0.0.1) written to hang lvm, exhaust its memory, escape its directories or forge
//! history, and archives with link loops. Each attack must end with a clear error that names the
//! file and the limit, and must change nothing. `docs/security.md` describes the limits.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::common::http_server::TestServer;
use crate::common::rocks::Lvm;
use crate::common::{Entry, tar_gz, zip};

/// These attacks used to run forever. A command still running after this long is killed and
/// reported as hung, so a regression fails the test instead of blocking the suite. This is a
/// guard, not a timing assertion: the limits stop every attack here in well under a second.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// Runs `cmd` to completion (or kills it at [`HANG_GUARD`] and fails).
fn run_guarded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "hung: still running after {HANG_GUARD:?}; stderr so far:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Runs lvm with `args`, expects it to fail, and returns its stderr and stdout together.
fn fails(lvm: &Lvm, args: &[&str]) -> String {
    let mut cmd = lvm.command();
    cmd.args(args);
    let out = run_guarded(cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!out.status.success(), "lvm {args:?} succeeded:\n{text}");
    assert_ne!(
        out.status.code(),
        Some(101),
        "lvm {args:?} panicked:\n{text}"
    );
    text
}

/// A rockspec for `name` 1.0-1 whose package field is the Lua expression `package` and which
/// runs `extra` at the end.
fn rockspec(package: &str, extra: &str) -> String {
    format!(
        r#"package = {package}
version = "1.0-1"
source = {{ url = "http://127.0.0.1:9/none.tar.gz" }}
build = {{ type = "builtin", modules = {{}} }}
{extra}
"#
    )
}

/// The Lua server manifest listing `names` at 1.0-1 (as rockspecs), after `extra`.
fn manifest(names: &[&str], extra: &str) -> String {
    let entries: Vec<String> = names
        .iter()
        .map(|n| format!("[{n:?}] = {{ [\"1.0-1\"] = {{ {{ arch = \"rockspec\" }} }} }}"))
        .collect();
    format!("{extra}\nrepository = {{ {} }}\n", entries.join(", "))
}

/// An HTTP rocks server on 127.0.0.1 serving `files`, and an environment using it.
fn hostile_server(files: &[(&str, Vec<u8>)]) -> (Lvm, TestServer) {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("server");
    fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).unwrap();
    }
    let server = TestServer::serve(&dir);
    lvm.init(&[&server.url()]);
    (lvm, server)
}

const ENDLESS_PATTERN: &str = r#"local _ = ("a"):rep(30):find(("a*"):rep(30).."b")"#;
const ENDLESS_HANDLER: &str = "xpcall(error, function() while true do end end)";

#[test]
fn lint_stops_rockspecs_that_never_finish() {
    let lvm = Lvm::new();
    let path = lvm.root.path().join("spin-1.0-1.rockspec");
    for (line, limit) in [
        (ENDLESS_PATTERN, "string.find with the pattern"),
        (ENDLESS_HANDLER, "instruction limit exceeded"),
        (
            r#"local _ = (""):rep(1e18)"#,
            "string.rep of an empty string",
        ),
        ("table.move({}, 1, 1e15, 2)", "table.move of"),
    ] {
        fs::write(&path, rockspec("\"spin\"", line)).unwrap();
        let out = fails(&lvm, &["lint", path.to_str().unwrap()]);
        assert!(out.contains(limit), "{line}: {out}");
        assert!(out.contains("spin-1.0-1.rockspec"), "{out}");
    }
}

#[test]
fn install_and_search_stop_on_rockspecs_that_never_finish() {
    let (lvm, _server) = hostile_server(&[
        ("manifest", manifest(&["regex", "spin"], "").into_bytes()),
        (
            "regex-1.0-1.rockspec",
            rockspec("\"regex\"", ENDLESS_PATTERN).into_bytes(),
        ),
        (
            "spin-1.0-1.rockspec",
            rockspec("\"spin\"", ENDLESS_HANDLER).into_bytes(),
        ),
    ]);
    let before = lvm.snapshot();
    let err = fails(&lvm, &["install", "regex"]);
    assert!(
        err.contains("regex-1.0-1.rockspec") && err.contains("string.find with the pattern"),
        "{err}"
    );
    let err = fails(&lvm, &["install", "spin"]);
    assert!(
        err.contains("spin-1.0-1.rockspec") && err.contains("instruction limit exceeded"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
    // Search reads the newest rockspec for its summary; a hostile one only loses the summary.
    let mut cmd = lvm.command();
    cmd.args(["search", "spin"]);
    let out = run_guarded(cmd);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("spin"),
        "{out:?}"
    );
}

#[test]
fn a_server_manifest_that_never_finishes_fails_and_releases_the_lock() {
    for (line, limit) in [
        (ENDLESS_PATTERN, "string.find with the pattern"),
        (ENDLESS_HANDLER, "instruction limit exceeded"),
    ] {
        let (lvm, _server) = hostile_server(&[("manifest", manifest(&["x"], line).into_bytes())]);
        let before = lvm.snapshot();
        for _ in 0..2 {
            // The second run would report a busy lock (exit 3) if the first had kept it.
            let err = fails(&lvm, &["install", "x"]);
            assert!(err.contains("manifest") && err.contains(limit), "{err}");
        }
        assert_eq!(lvm.snapshot(), before);
    }
}

#[test]
fn one_string_referenced_many_times_cannot_exhaust_memory() {
    // 150 bytes that would copy a 1 MiB string out 100 times (the attack used far more).
    let lvm = Lvm::new();
    let path = lvm.root.path().join("big-1.0-1.rockspec");
    let source = rockspec(
        "\"big\"",
        "local s = ('x'):rep(2^20) t = {} for i = 1, 100 do t[i] = s end",
    );
    fs::write(&path, source).unwrap();
    let out = fails(&lvm, &["lint", path.to_str().unwrap()]);
    assert!(out.contains("too much text to copy out"), "{out}");

    let hostile = "local s = ('x'):rep(2^20) local v = {} for i = 1, 100 do v[i] = { arch = s } end\n\
                   repository = { p = { ['1.0-1'] = v } }\n";
    let (lvm, _server) = hostile_server(&[("manifest", hostile.as_bytes().to_vec())]);
    let err = fails(&lvm, &["install", "p"]);
    assert!(
        err.contains("manifest") && err.contains("too much text to copy out"),
        "{err}"
    );
}

#[test]
fn a_zipped_manifest_that_inflates_past_the_cap_is_refused() {
    let mut inflated = b"repository = {}\n".to_vec();
    inflated.resize(65 * 1024 * 1024, b' ');
    let archive = zip(&[Entry::file("manifest-5.4", &inflated)]);
    assert!(archive.len() < 1024 * 1024, "{}", archive.len());
    let (lvm, _server) = hostile_server(&[("manifest-5.4.zip", archive)]);
    let err = fails(&lvm, &["install", "x"]);
    assert!(
        err.contains("manifest-5.4.zip") && err.contains("bigger than 64 MiB"),
        "{err}"
    );
}

/// Package names that once escaped the build directory, forged an event and injected Lua into
/// the tree's LuaRocks manifest, written as Lua literals.
const HOSTILE_NAMES: &[&str] = &[
    r#""../../../../escape""#,
    r#""x\nlvm-event:{\"schema\":\"1.0.0\",\"kind\":\"remove\",\"args\":[],\"changes\":[]}""#,
    r#""x\n]] os.exit(3) --""#,
];

#[test]
fn hostile_package_names_are_refused_before_use() {
    let mut files = vec![("manifest", manifest(&["x"], "").into_bytes())];
    let tarball = tar_gz(&[Entry::file("x-1.0/x.lua", "return {}")]);
    files.push(("x-1.0.tar.gz", tarball));
    let (lvm, server) = hostile_server(&files);
    let server_dir = lvm.root.path().join("server");
    let before = lvm.snapshot();
    for name in HOSTILE_NAMES {
        let text = format!(
            "package = {name}\nversion = \"1.0-1\"\nsource = {{ url = \"{}/x-1.0.tar.gz\" }}\n\
             build = {{ type = \"builtin\", modules = {{ x = \"x.lua\" }} }}\n",
            server.url()
        );
        fs::write(server_dir.join("x-1.0-1.rockspec"), &text).unwrap();
        let err = fails(&lvm, &["install", "x"]);
        assert!(err.contains("invalid package name"), "{name}: {err}");
        assert_eq!(lvm.snapshot(), before, "{name}");
        // lint says the same.
        let err = fails(
            &lvm,
            &[
                "lint",
                server_dir.join("x-1.0-1.rockspec").to_str().unwrap(),
            ],
        );
        assert!(err.contains("invalid package name"), "{name}: {err}");
    }
    lvm.ok(&["verify"]);
    let escaped: Vec<_> = walkdir::WalkDir::new(lvm.root.path())
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("escape"))
        .collect();
    assert!(escaped.is_empty(), "{escaped:?}");
    let store = lvm.home().join("store");
    let entries: Vec<_> = walkdir::WalkDir::new(&store)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".."))
        .collect();
    assert!(entries.is_empty(), "{entries:?}");
}

#[test]
fn hostile_names_in_a_server_manifest_are_refused() {
    for name in ["../../evil", "x\nlvm-event:{}", "x y", ""] {
        let (lvm, _server) = hostile_server(&[("manifest", manifest(&[name], "").into_bytes())]);
        let err = fails(&lvm, &["install", "x"]);
        assert!(
            err.contains("manifest") && err.contains("invalid package name"),
            "{name:?}: {err}"
        );
    }
}

#[test]
fn install_refuses_a_rockspec_named_for_another_package_as_lint_does() {
    let (lvm, _server) = hostile_server(&[("manifest", manifest(&[], "").into_bytes())]);
    let path = lvm.root.path().join("wrong-1.0-1.rockspec");
    fs::write(&path, rockspec("\"right\"", "")).unwrap();
    let path = path.to_str().unwrap();
    let lint = fails(&lvm, &["lint", path]);
    let install = fails(&lvm, &["install", path]);
    for out in [lint, install] {
        assert!(
            out.contains("does not match the file name wrong-1.0-1.rockspec"),
            "{out}"
        );
    }
}

#[test]
fn long_paths_appear_once_in_errors() {
    let lvm = Lvm::new();
    let dir = lvm
        .root
        .path()
        .join("a-directory-with-a-rather-long-name/and-another-long-one-below-it");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("long-1.0-1.rockspec");
    fs::write(&path, "package = = 1\n").unwrap();
    let out = fails(&lvm, &["lint", path.to_str().unwrap()]);
    assert_eq!(out.matches("rather-long-name").count(), 1, "{out}");
    assert!(!out.contains("lvm-chunk"), "{out}");
}

#[test]
fn a_symlink_loop_in_an_archive_is_called_a_loop() {
    let tarball = tar_gz(&[
        Entry::file("loop-1.0/loop.lua", "return {}"),
        Entry::symlink("loop-1.0/a", "b"),
        Entry::symlink("loop-1.0/b", "a"),
    ]);
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("server");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("loop-1.0.tar.gz"), tarball).unwrap();
    let server = TestServer::serve(&dir);
    fs::write(
        dir.join("loop-1.0-1.rockspec"),
        format!(
            "package = \"loop\"\nversion = \"1.0-1\"\nsource = {{ url = \"{}/loop-1.0.tar.gz\" }}\n\
             build = {{ type = \"builtin\", modules = {{ loop = \"loop.lua\" }} }}\n",
            server.url()
        ),
    )
    .unwrap();
    fs::write(dir.join("manifest"), manifest(&["loop"], "")).unwrap();
    lvm.init(&[&server.url()]);
    let err = fails(&lvm, &["install", "loop"]);
    assert!(err.contains("the links form a loop"), "{err}");
    assert!(!err.contains("outside the destination"), "{err}");
}

/// The tree's LuaRocks manifest stays plain data whatever file names a rock installs: checked
/// with the real `lua5.4` on a manifest written for hostile module names.
#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4")]
fn the_tree_manifest_stays_data_for_a_real_lua() {
    let dir = tempfile::tempdir().unwrap();
    let text = lvm::tree::manifest::tree_manifest(&[lvm::tree::manifest::RockContents {
        name: "x".into(),
        version: lvm::version::Version::parse("1.0-1").unwrap(),
        dependencies: vec![],
        files: vec![
            "lua/x\n]] os.exit(3) --.lua".into(),
            "lua/y\"]=] os.exit(3) --[==[.lua".into(),
        ],
    }]);
    let path = dir.path().join("manifest");
    fs::write(&path, &text).unwrap();
    check_loads_as_data(&path, &text);
}

fn check_loads_as_data(path: &Path, text: &str) {
    let script = format!(
        "local env = {{}} local f = assert(loadfile({:?}, 't', env)) f() \
         local n = 0 for k in pairs(env.modules) do n = n + 1 end print(n)",
        path.display().to_string()
    );
    let out = Command::new("lua5.4")
        .args(["-e", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{text}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2", "{text}");
}
