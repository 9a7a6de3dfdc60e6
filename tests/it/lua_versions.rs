//! Environments of every Lua: tree layout, interpreter, builds, version constraints, changing
//! the Lua, profiles and rollback across Luas, checked with Debian's interpreters and LuaRocks.

use std::path::Path;
use std::process::Command;

use crate::common::rocks::{Lvm, file_server, git, publish_dir_matching};

/// The fixture closure with its C module and a command: what every Lua must install.
const CLOSURE: [&str; 4] = ["cmath", "hello-cli", "chain-a", "dia-top"];
/// Every module the closure provides.
const MODULES: [&str; 10] = [
    "cmath",
    "hello",
    "strutil",
    "chain_a",
    "chain_b",
    "chain_c",
    "dia_top",
    "dia_left",
    "dia_right",
    "dia_base",
];

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An environment for `lua` on the fixture server, with the closure installed.
fn env_with_closure(lua: &str) -> (Lvm, String) {
    let lvm = Lvm::new();
    let (_, url) = file_server(lvm.root.path());
    lvm.ok(&["init", "--lua", lua, "--server", &url]);
    let mut args = vec!["install"];
    args.extend(CLOSURE);
    lvm.ok(&args);
    (lvm, url)
}

/// Requires every module of the closure with `interpreter` after `eval "$(lvm path)"`.
fn requires_everything_after_lvm_path(lvm: &Lvm, interpreter: &str) {
    let lvm_bin = env!("CARGO_BIN_EXE_lvm");
    let requires: String = MODULES
        .iter()
        .map(|m| format!("assert(require('{m}')); "))
        .collect();
    let script = format!(
        "eval \"$('{lvm_bin}' path)\" && {interpreter} -e \"{requires} print(require('cmath').gcd(12, 18))\""
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .envs(lvm_env(lvm))
        .current_dir(lvm.root.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{interpreter}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).trim(), "6");
}

fn lvm_env(lvm: &Lvm) -> Vec<(String, String)> {
    vec![
        ("LVM_HOME".into(), lvm.home().display().to_string()),
        ("LVM_ENV".into(), lvm.env_dir().display().to_string()),
        ("LVM_CONFIG".into(), lvm.user_config().display().to_string()),
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
    ]
}

/// The rocks Debian's LuaRocks lists in the environment's tree for Lua `abi`.
fn luarocks_list(lvm: &Lvm, abi: &str) -> String {
    let out = Command::new("luarocks")
        .args(["--lua-version", abi, "--tree"])
        .arg(lvm.tree())
        .args(["list", "--porcelain"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// Checks an environment of `lua` (tree paths `abi`) made with the closure, with the system
/// interpreter `interpreter`, which `lvm run` must report as `banner`.
fn check_closure_env(lua: &str, abi: &str, interpreter: &str, banner: &str) {
    let (lvm, _) = env_with_closure(lua);
    let tree = lvm.tree();
    assert!(tree.join(format!("share/lua/{abi}/strutil.lua")).is_file());
    assert!(tree.join(format!("lib/lua/{abi}/cmath.so")).is_file());
    assert!(
        tree.join(format!("lib/luarocks/rocks-{abi}/manifest"))
            .is_file()
    );
    assert!(!tree.join("share/lua/5.4").exists());

    let listed = luarocks_list(&lvm, abi);
    for rock in [
        "cmath\t1.0-1",
        "hello-cli\t1.0-1",
        "chain-c\t1.0-1",
        "dia-base\t1.5-1",
    ] {
        assert!(listed.contains(rock), "{rock} not in:\n{listed}");
    }
    requires_everything_after_lvm_path(&lvm, interpreter);

    let which = lvm.ok(&["run", "-e", "print(jit and jit.version or _VERSION)"]);
    assert!(which.starts_with(banner), "{which}");
    // Arguments, exit codes and the C module through `lvm run`.
    let got = lvm.ok(&[
        "run",
        "-e",
        "print(arg[1], require('cmath').gcd(9, 6))",
        "x y",
    ]);
    assert_eq!(got.trim(), "x y\t3");
    let failed = lvm.run(&["run", "-e", "os.exit(7)"]);
    assert_eq!(failed.status.code(), Some(7));
    // The bin/ wrapper runs with the environment's interpreter.
    let hello = lvm.ok(&["exec", "--", "hello-cli", "world"]);
    assert!(!hello.trim().is_empty());
    let shown: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["show", "cmath", "--json"])).unwrap();
    assert_eq!(shown["lua"], lua);
    let doctor = lvm.ok(&["doctor", "--offline"]);
    assert!(doctor.contains("10 modules load"), "{doctor}");
}

#[test]
#[cfg_attr(
    not(all(lvm_has_lua51, lvm_has_luarocks)),
    ignore = "needs lua5.1 with its headers and luarocks"
)]
fn a_lua_5_1_environment_installs_the_closure_that_lua5_1_and_luarocks_read() {
    check_closure_env("5.1", "5.1", "lua5.1", "Lua 5.1");
}

#[test]
#[cfg_attr(
    not(all(lvm_has_luajit, lvm_has_luarocks)),
    ignore = "needs luajit with its headers and luarocks"
)]
fn a_luajit_environment_uses_the_5_1_layout_and_runs_luajit() {
    check_closure_env("luajit", "5.1", "luajit", "LuaJIT");
}

#[test]
#[cfg_attr(not(lvm_has_lua53), ignore = "needs lua5.3")]
fn a_chosen_interpreter_must_be_a_lua_of_the_asked_version() {
    let lvm = Lvm::new();
    let (_, url) = file_server(lvm.root.path());
    let err = lvm.fails(&[
        "init",
        "--lua",
        "5.1",
        "--lua-bin",
        "/usr/bin/lua5.3",
        "--server",
        &url,
    ]);
    assert!(
        err.contains("it is Lua 5.3, but the environment's Lua is 5.1"),
        "{err}"
    );
    assert!(!lvm.env_dir().exists());
    let err = lvm.fails(&[
        "init",
        "--lua",
        "5.1",
        "--lua-bin",
        "/bin/true",
        "--server",
        &url,
    ]);
    assert!(err.contains("/bin/true: not a Lua interpreter"), "{err}");
    assert!(err.contains("5.1, 5.2, 5.3, 5.4, 5.5, luajit"), "{err}");
    assert!(!lvm.env_dir().exists());
    // The right one is taken and recorded.
    lvm.ok(&[
        "init",
        "--lua",
        "5.3",
        "--lua-bin",
        "/usr/bin/lua5.3",
        "--server",
        &url,
    ]);
    let toml = std::fs::read_to_string(lvm.env_dir().join("lvm.toml")).unwrap();
    assert!(
        toml.contains("lua = \"5.3\"") && toml.contains("lua_bin = \"/usr/bin/lua5.3\""),
        "{toml}"
    );
    assert_eq!(lvm.ok(&["run", "-e", "print(_VERSION)"]).trim(), "Lua 5.3");
}

#[test]
fn unknown_lua_versions_are_refused_and_nothing_is_created() {
    let lvm = Lvm::new();
    let (_, url) = file_server(lvm.root.path());
    for bad in ["6.0", "jit2"] {
        let err = lvm.fails(&["init", "--lua", bad, "--server", &url]);
        assert!(err.contains(&format!("'{bad}'")), "{err}");
        assert!(err.contains("5.1, 5.2, 5.3, 5.4, 5.5, luajit"), "{err}");
        assert!(!lvm.env_dir().exists());
    }
}

/// A server with the fixtures and two rocks bound to Lua versions, publishing only the
/// unfiltered `manifest` (as hand-made servers do): the per-Lua manifests `make-manifest` writes
/// would hide the rocks, and these tests are about the resolver refusing them.
fn server_with_version_bound_rocks(root: &Path) -> String {
    let (dir, url) = file_server(root);
    let src = root.join("bound");
    for (name, constraint) in [("needs53", "lua >= 5.3"), ("oldlua", "lua >= 5.1, < 5.4")] {
        let rock = src.join(format!("{name}-1.0-1"));
        std::fs::create_dir_all(rock.join("src")).unwrap();
        std::fs::write(rock.join(format!("src/{name}.lua")), "return {}\n").unwrap();
        std::fs::write(
            rock.join(format!("{name}-1.0-1.rockspec")),
            format!(
                "package = \"{name}\"\nversion = \"1.0-1\"\n\
                 source = {{ url = \"@SERVER@/{name}-1.0-1.tar.gz\" }}\n\
                 dependencies = {{ \"{constraint}\" }}\n\
                 build = {{ type = \"builtin\", modules = {{ {name} = \"src/{name}.lua\" }} }}\n"
            ),
        )
        .unwrap();
    }
    publish_dir_matching(&src, &dir, &url, |_| true);
    for lua in lvm::ops::publish::MANIFEST_LUA_VERSIONS {
        std::fs::remove_file(dir.join(format!("manifest-{lua}"))).unwrap();
    }
    url
}

#[test]
fn a_rock_for_older_luas_is_refused_in_a_5_4_environment() {
    let lvm = Lvm::new();
    let url = server_with_version_bound_rocks(lvm.root.path());
    lvm.ok(&["init", "--server", &url]);
    let err = lvm.fails(&["install", "oldlua"]);
    assert!(err.contains("lua >= 5.1, < 5.4"), "{err}");
    assert!(err.contains("the environment's Lua is 5.4"), "{err}");
    lvm.ok(&["install", "needs53"]);
}

#[test]
#[cfg_attr(not(lvm_has_lua51), ignore = "needs lua5.1")]
fn a_rock_that_needs_lua_5_3_is_refused_in_a_5_1_environment() {
    let lvm = Lvm::new();
    let url = server_with_version_bound_rocks(lvm.root.path());
    lvm.ok(&["init", "--lua", "5.1", "--server", &url]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "needs53"]);
    assert!(err.contains("lua >= 5.3"), "{err}");
    assert!(err.contains("the environment's Lua is 5.1"), "{err}");
    assert_eq!(lvm.snapshot(), before);
    lvm.ok(&["install", "oldlua"]);
}

#[test]
#[cfg_attr(not(lvm_has_luajit), ignore = "needs luajit")]
fn a_refusal_in_a_luajit_environment_names_luajit() {
    let lvm = Lvm::new();
    let url = server_with_version_bound_rocks(lvm.root.path());
    lvm.ok(&["init", "--lua", "luajit", "--server", &url]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "needs53"]);
    assert!(err.contains("lua >= 5.3"), "{err}");
    assert!(
        err.contains("the environment's Lua is LuaJIT, which counts as 5.1"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
#[cfg_attr(not(lvm_has_lua51), ignore = "needs lua5.1")]
fn moving_to_a_lua_some_packages_lack_is_refused_by_name() {
    let lvm = Lvm::new();
    let url = server_with_version_bound_rocks(lvm.root.path());
    lvm.ok(&["init", "--server", &url]);
    lvm.ok(&["install", "needs53", "strutil"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["config", "set", "lua", "5.1"]);
    assert!(err.contains("no version for Lua 5.1: needs53"), "{err}");
    assert!(!err.contains("strutil"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
#[cfg_attr(
    not(all(lvm_has_lua51, lvm_has_luajit)),
    ignore = "needs lua5.1 and luajit with their headers"
)]
fn changing_the_lua_rebuilds_in_one_event_and_rollback_restores_it() {
    let (lvm, _) = env_with_closure("5.1");
    let events = |lvm: &Lvm| lvm.ok(&["log"]).lines().count();
    let before = events(&lvm);
    lvm.ok(&["config", "set", "lua", "luajit"]);
    assert_eq!(events(&lvm), before + 1);
    let which = lvm.ok(&["run", "-e", "print(jit and jit.version or _VERSION)"]);
    assert!(which.starts_with("LuaJIT"), "{which}");
    lvm.ok(&["run", "-e", "assert(require('cmath').gcd(4, 6) == 2)"]);
    lvm.ok(&["verify"]);
    lvm.ok(&["rollback"]);
    assert_eq!(
        lvm.ok(&["run", "-e", "print(jit and jit.version or _VERSION)"])
            .trim(),
        "Lua 5.1"
    );
    let toml = std::fs::read_to_string(lvm.env_dir().join("lvm.toml")).unwrap();
    assert!(toml.contains("lua = \"5.1\""), "{toml}");
    lvm.ok(&["verify"]);
    requires_everything_after_lvm_path(&lvm, "lua5.1");
}

#[test]
#[cfg_attr(not(lvm_has_luajit), ignore = "needs luajit with its headers")]
fn a_profile_of_another_lua_switches_packages_and_interpreter_together() {
    let (lvm, _) = env_with_closure("5.4");
    let out = lvm.ok(&["profile", "create", "jit", "--lua", "luajit"]);
    assert!(out.contains("(Lua luajit)"), "{out}");
    // Creating it changed nothing live.
    assert_eq!(lvm.ok(&["run", "-e", "print(_VERSION)"]).trim(), "Lua 5.4");
    lvm.ok(&["profile", "switch", "jit"]);
    let which = lvm.ok(&[
        "run",
        "-e",
        "print(jit and jit.version or _VERSION, require('cmath').gcd(8, 12))",
    ]);
    assert!(
        which.starts_with("LuaJIT") && which.trim_end().ends_with("\t4"),
        "{which}"
    );
    assert!(lvm.tree().join("lib/lua/5.1/cmath.so").is_file());
    lvm.ok(&["verify"]);
    lvm.ok(&["profile", "switch", "default"]);
    assert_eq!(lvm.ok(&["run", "-e", "print(_VERSION)"]).trim(), "Lua 5.4");
    assert!(lvm.tree().join("lib/lua/5.4/cmath.so").is_file());
    lvm.ok(&["verify"]);
}

#[test]
#[cfg_attr(not(lvm_has_lua51), ignore = "needs lua5.1 with its headers")]
fn a_build_for_lua_5_1_is_never_linked_into_a_5_4_tree() {
    let (lvm, url) = env_with_closure("5.1");
    let home = lvm::env::Home::new(lvm.home());
    let env51 = lvm::env::Environment::open(&lvm.env_dir(), home.clone()).unwrap();
    let mut state = env51.manifest().unwrap();
    assert_eq!(state.lua, "5.1");
    // The same packages, store keys and all, claimed for a 5.4 tree.
    let other = lvm.root.path().join("env54");
    let config = lvm::config::EnvConfig::new(lvm::luaversion::LuaVersion::Lua54, vec![url]);
    let env54 = lvm::env::Environment::init(&other, config, home).unwrap();
    state.lua = "5.4".into();
    let err = env54.materialize(&state).unwrap_err();
    // A state naming builds of another Lua is an inconsistent record, not a request to fix.
    assert_eq!(err.kind(), lvm::api::ErrorKind::Damaged, "{err}");
    let text = lvm::errors::error_text(&err);
    assert!(
        text.contains("was built for Lua 5.1, but this state is for Lua 5.4"),
        "{text}"
    );
}

#[test]
fn a_chosen_program_that_is_no_lua_is_bad_input_and_creates_nothing() {
    let lvm = Lvm::new();
    let (_, url) = file_server(lvm.root.path());
    let mut config = lvm::config::EnvConfig::new(lvm::luaversion::LuaVersion::Lua51, vec![url]);
    config.lua_bin = Some("/bin/true".into());
    let Err(err) =
        lvm::env::Environment::init(&lvm.env_dir(), config, lvm::env::Home::new(lvm.home()))
    else {
        panic!("/bin/true was taken for Lua 5.1");
    };
    assert_eq!(err.kind(), lvm::api::ErrorKind::BadInput, "{err}");
    let text = lvm::errors::error_text(&err);
    assert_eq!(text.matches("not a Lua interpreter").count(), 1, "{text}");
    assert!(!lvm.env_dir().exists());
}

#[test]
#[cfg_attr(not(lvm_has_lua51), ignore = "needs lua5.1")]
fn a_lua_change_some_packages_lack_is_a_conflict_naming_them_once() {
    let lvm = Lvm::new();
    let url = server_with_version_bound_rocks(lvm.root.path());
    lvm.ok(&["init", "--server", &url]);
    lvm.ok(&["install", "needs53", "strutil"]);
    let before = lvm.snapshot();
    let env = lvm::env::Environment::open(&lvm.env_dir(), lvm::env::Home::new(lvm.home())).unwrap();
    let lock = env.lock(std::time::Duration::from_secs(5)).unwrap();
    let err = lvm::ops::lua::change(&lock, lvm::luaversion::LuaVersion::Lua51, None).unwrap_err();
    assert_eq!(err.kind(), lvm::api::ErrorKind::Conflict, "{err}");
    let text = lvm::errors::error_text(&err);
    assert_eq!(
        text.matches("no version for Lua 5.1: needs53").count(),
        1,
        "{text}"
    );
    assert_eq!(text.matches("lua >= 5.3").count(), 1, "{text}");
    drop(lock);
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn a_bad_recorded_lua_is_replaced_by_config_set_lua() {
    let lvm = Lvm::new();
    let (_, url) = file_server(lvm.root.path());
    lvm.ok(&["init", "--server", &url]);
    lvm.ok(&["install", "strutil"]);
    // A hand-made commit names a Lua lvm does not know.
    let toml = lvm.env_dir().join("lvm.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("lua = \"5.4\""), "{text}");
    std::fs::write(&toml, text.replace("lua = \"5.4\"", "lua = \"6.0\"")).unwrap();
    git(&lvm.env_dir(), &["commit", "-qam", "by hand"]);
    let err = lvm.fails(&["list"]);
    assert!(err.contains("lvm.toml") && err.contains("'6.0'"), "{err}");
    lvm.ok(&["config", "set", "lua", "5.4"]);
    let fixed = std::fs::read_to_string(&toml).unwrap();
    assert!(fixed.contains("lua = \"5.4\""), "{fixed}");
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    lvm.ok(&["run", "-e", "require('strutil')"]);
}

#[test]
#[cfg_attr(not(lvm_has_lua51), ignore = "needs lua5.1")]
fn a_rollback_across_a_lua_change_rebuilds_collected_builds_for_the_old_lua() {
    let lvm = Lvm::new();
    let (_, url) = file_server(lvm.root.path());
    lvm.ok(&["init", "--lua", "5.1", "--server", &url]);
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["config", "set", "lua", "5.4"]);
    let gc = lvm.ok(&["gc", "--older-than", "0"]);
    assert!(gc.contains("strutil 1.1-1"), "{gc}");
    lvm.ok(&["rollback"]);
    let run = lvm.ok(&["run", "-e", "print(_VERSION, require('strutil') ~= nil)"]);
    assert_eq!(run.trim(), "Lua 5.1\ttrue");
    assert!(lvm.tree().join("share/lua/5.1/strutil.lua").is_file());
    lvm.ok(&["verify"]);
}

/// Lua 5.4 runs in the embedded VM unless `lua_bin` names an interpreter for it, which then
/// runs `lvm run` (it sees the tree's paths in its environment; the embedded VM sets them
/// itself and leaves the process environment alone).
#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4")]
fn lua_5_4_runs_embedded_unless_an_interpreter_is_chosen_for_it() {
    let lvm = Lvm::new();
    let (_, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let probe = "print(os.getenv('LVM_LUA') and 'external' or 'embedded')";
    assert_eq!(lvm.ok(&["run", "-e", probe]).trim(), "embedded");
    lvm.ok(&["config", "set", "lua_bin", "/usr/bin/lua5.4"]);
    assert_eq!(lvm.ok(&["run", "-e", probe]).trim(), "external");
    lvm.ok(&["config", "unset", "lua_bin"]);
    assert_eq!(lvm.ok(&["run", "-e", probe]).trim(), "embedded");
}
