//! Early builds through the `lvm` binary, on a real HTTP rocks server on 127.0.0.1: a C rock
//! starts building as soon as its rockspec arrives, before the resolution ends. The result
//! (manifest, event, tree) is the one of building after resolution; an early build of a
//! version the resolution leaves never fails the install; a failed one it keeps changes
//! nothing.

use std::path::Path;
use std::process::Output;

use crate::common::http_server::TestServer;
use crate::common::list_tree;
use crate::common::rocks::{
    Lvm, event_at, publish_dir, serve_side_by_side_closure, stdout_ok, write_builtin_rockspec,
};

/// What lvm's debug log says of a package built before the resolution ended.
fn built_early(stderr: &str, package: &str) -> bool {
    stderr.contains(&format!("building {package} before the resolution ends"))
}

/// `lvm -v install NAME` with early builds on (`None`) or set by `LVM_EARLY_BUILDS`.
fn install(lvm: &Lvm, name: &str, early: Option<&str>) -> Output {
    let mut cmd = lvm.command();
    cmd.env_remove("LVM_EARLY_BUILDS");
    if let Some(value) = early {
        cmd.env("LVM_EARLY_BUILDS", value);
    }
    cmd.args(["-v", "install", name]).output().unwrap()
}

#[test]
fn early_builds_leave_the_state_of_builds_after_resolution() {
    let root = tempfile::tempdir().unwrap();
    let server = serve_side_by_side_closure(root.path(), "early", 3, &["early-c1"], &[]);
    let mut results = Vec::new();
    for early in [Some("0"), None] {
        let lvm = Lvm::new();
        lvm.init(&[&server.url()]);
        let out = install(&lvm, "early", early);
        let text = stdout_ok(&out);
        assert!(text.contains("+ early-c1 1.0-1"), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            built_early(&stderr, "early-c1 1.0-1"),
            early.is_none(),
            "{stderr}"
        );
        // Pure-Lua rocks wait for the resolution.
        assert!(!built_early(&stderr, "early-lua1 1.0-1"), "{stderr}");
        let lua =
            stdout_ok(&lvm.lua(
                "local c = require('early_c1'); print(require('early').name, c.name, c.length)",
            ));
        assert_eq!(lua.trim(), "early\tearly-c1\t8");
        let (subject, event) = event_at(&lvm.env_dir(), "HEAD");
        results.push((
            std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap(),
            subject,
            (event["changes"].clone(), event["builds"].clone()),
            list_tree(&lvm.tree()),
        ));
        lvm.ok(&["verify"]);
    }
    assert_eq!(results[0], results[1]);
}

/// Writes a rock as a fixture folder into `src_root`: a pure-Lua module `<name>` or, with `c`,
/// a C module of one file whose text is `c`. Every module answers `version`.
fn write_rock(src_root: &Path, name: &str, version: &str, deps: &[&str], c: Option<&str>) {
    let dir = src_root.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let module = name.replace('-', "_");
    let modules = match c {
        Some(text) => {
            std::fs::write(dir.join(format!("{module}.c")), text).unwrap();
            format!("{module} = {{ sources = {{ \"{module}.c\" }} }}")
        }
        None => {
            let text = format!("return {{ version = \"{version}\" }}\n");
            std::fs::write(dir.join(format!("{module}.lua")), text).unwrap();
            format!("{module} = \"{module}.lua\"")
        }
    };
    write_builtin_rockspec(&dir, name, version, deps, &modules);
}

/// A C module `name` answering `version`.
fn c_module(name: &str, version: &str) -> String {
    format!(
        "#include <lua.h>\nint luaopen_{name}(lua_State *L) {{\n  lua_newtable(L);\n  lua_pushstring(L, \"{version}\");\n  lua_setfield(L, -2, \"version\");\n  return 1;\n}}\n"
    )
}

/// Rocks served over HTTP: `bt-app` needs `bt-c` and `bt-pin`, and `bt-pin` needs
/// `bt-c < 2`. The newest `bt-c`, 2.0-1, whose C file does not compile, is the one every
/// rockspec fetched first points to, so it is built early; only 1.0-1 fits the whole closure.
fn serve_backtracking_rocks(root: &Path) -> TestServer {
    let src = root.join("rocks-src");
    write_rock(&src, "bt-app", "1.0-1", &["bt-c >= 1.0", "bt-pin"], None);
    write_rock(&src, "bt-pin", "1.0-1", &["bt-c < 2"], None);
    write_rock(&src, "bt-c", "1.0-1", &[], Some(&c_module("bt_c", "1.0-1")));
    let broken = "int luaopen_bt_c(void) { return 1 +; }\n";
    write_rock(&src, "bt-c", "2.0-1", &[], Some(broken));
    let dir = root.join("http-server");
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::serve(&dir);
    publish_dir(&src, &dir, &server.url());
    server
}

#[test]
fn a_failed_early_build_of_a_version_the_resolution_leaves_does_not_fail_the_install() {
    let lvm = Lvm::new();
    let server = serve_backtracking_rocks(lvm.root.path());
    lvm.init(&[&server.url()]);
    let out = install(&lvm, "bt-app", None);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = stdout_ok(&out);
    // bt-c 2.0-1 was built early, and its build failed.
    assert!(built_early(&stderr, "bt-c 2.0-1"), "{stderr}");
    assert_eq!(server.requests("/bt-c-2.0-1.tar.gz"), 1);
    assert!(text.contains("+ bt-c 1.0-1"), "{text}");
    assert!(!text.contains("2.0-1"), "{text}");
    assert!(!stderr.contains("error:"), "{stderr}");
    assert_eq!(
        lvm.installed(),
        ["bt-app 1.0-1", "bt-c 1.0-1", "bt-pin 1.0-1"]
    );
    let lua = stdout_ok(&lvm.lua("print(require('bt_c').version)"));
    assert_eq!(lua.trim(), "1.0-1");
    lvm.ok(&["verify"]);
}

#[test]
fn a_failed_early_build_the_resolution_keeps_fails_the_install_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let server = serve_side_by_side_closure(root.path(), "ebad", 2, &["ebad-c1"], &["ebad-c1"]);
    let mut errors = Vec::new();
    for early in [Some("0"), None] {
        let lvm = Lvm::new();
        lvm.init(&[&server.url()]);
        lvm.ok(&["install", "ebad-lua1"]);
        let before = lvm.snapshot();
        let out = install(&lvm, "ebad", early);
        assert!(!out.status.success(), "the install succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            built_early(&stderr, "ebad-c1 1.0-1"),
            early.is_none(),
            "{stderr}"
        );
        let error = stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line:\n{stderr}"))
            .to_string();
        assert!(
            error.contains("ebad-c1 1.0-1") && error.contains("csrc/ebad_c1_len.c"),
            "{error}"
        );
        assert_eq!(lvm.snapshot(), before);
        assert_eq!(lvm.installed(), ["ebad-lua1 1.0-1"]);
        // The homes and scratch folders differ from run to run; the rest of the error does not.
        let error = error.replace(&lvm.root.path().display().to_string(), "ROOT");
        errors.push(error.split(".lvm-tmp").next().unwrap().to_string());
    }
    assert_eq!(errors[0], errors[1]);
}
