//! Rocks trees built from real rock prefixes (Lua files, a C module compiled with `cc`, bin
//! scripts), checked with Debian's `lua5.4` and `luarocks`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lvm::store::{RockMeta, Store, StoreKey};
use lvm::tree::{self, Shell, TreeError, TreeRock};
use lvm::version::{Dependency, Version};

const ALPHA_INIT: &str = r#"local core = require("beta.core")
return { answer = core.add(40, 2), util = require("alpha.util") }
"#;
const ALPHA_UTIL: &str = "return { name = 'alpha.util' }\n";
const ALPHA_TOOL: &str = r#"#!/usr/bin/env lua
local alpha = require("alpha")
print("answer=" .. alpha.answer .. " args=" .. table.concat(arg, ","))
"#;
const BETA_LUA: &str = "return { kind = 'pure beta' }\n";
const BETA_CORE_C: &str = r#"#include "lua.h"
#include "lauxlib.h"
static int add(lua_State *L) {
    lua_pushinteger(L, luaL_checkinteger(L, 1) + luaL_checkinteger(L, 2));
    return 1;
}
int luaopen_beta_core(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, add);
    lua_setfield(L, -2, "add");
    return 1;
}
"#;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn rockspec(name: &str, version: &str, deps: &[&str]) -> String {
    let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
    format!(
        "package = {name:?}\nversion = {version:?}\nsource = {{ url = \"git://example.invalid/{name}\" }}\n\
         description = {{ summary = \"The {name} rock\", license = \"MIT\" }}\n\
         dependencies = {{ {} }}\nbuild = {{ type = \"builtin\", modules = {{}} }}\n",
        deps.join(", ")
    )
}

/// A rock prefix with the given files (relative path, content), its rockspec and manifest.
fn prefix(dir: &Path, name: &str, version: &str, deps: &[&str], files: &[(&str, &str)]) -> PathBuf {
    let p = dir.join(format!("{name}-{version}"));
    fs::create_dir_all(&p).unwrap();
    for (rel, text) in files {
        write(&p.join(rel), text);
        if rel.starts_with("bin/") {
            fs::set_permissions(p.join(rel), fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let spec = format!("{name}-{version}.rockspec");
    write(&p.join(&spec), &rockspec(name, version, deps));
    tree::write_rock_manifest(&p, &spec).unwrap();
    p
}

fn compile_c_module(source: &str, out: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("mod.c");
    fs::write(&c, source).unwrap();
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O0", "-I/usr/include/lua5.4", "-o"])
        .arg(out)
        .arg(&c)
        .status()
        .unwrap();
    assert!(status.success(), "cc failed");
}

fn alpha_prefix(dir: &Path) -> PathBuf {
    prefix(
        dir,
        "alpha",
        "1.0-1",
        &["lua >= 5.1", "beta >= 2.0"],
        &[
            ("lua/alpha/init.lua", ALPHA_INIT),
            ("lua/alpha/util.lua", ALPHA_UTIL),
            ("bin/alpha-tool", ALPHA_TOOL),
            ("conf/alpha.conf", "setting = 1\n"),
            ("doc/README", "alpha docs\n"),
        ],
    )
}

fn beta_prefix(dir: &Path) -> PathBuf {
    let p = dir.join("beta-2.0-1");
    compile_c_module(BETA_CORE_C, &p.join("lib/beta/core.so"));
    prefix(
        dir,
        "beta",
        "2.0-1",
        &["lua >= 5.1"],
        &[("lua/beta.lua", BETA_LUA)],
    )
}

fn tree_rock(name: &str, version: &str, prefix: &Path, deps: &[&str]) -> TreeRock {
    TreeRock {
        name: name.into(),
        version: Version::parse(version).unwrap(),
        prefix: prefix.to_path_buf(),
        dependencies: deps.iter().map(|d| Dependency::parse(d).unwrap()).collect(),
    }
}

/// A command with the Lua and LuaRocks environment of the outer test process removed.
fn clean(mut cmd: Command, home: &Path) -> Command {
    for var in [
        "LUA_PATH",
        "LUA_CPATH",
        "LUA_PATH_5_4",
        "LUA_CPATH_5_4",
        "LUA_INIT",
        "LUA_INIT_5_4",
        "LVM_LUA",
        "LUAROCKS_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    live: PathBuf,
    store: Store,
    alpha: PathBuf,
    beta: PathBuf,
}

/// Two rocks built by hand, stored, materialized and switched into `live`.
fn stored_tree() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let staging = root.join("staging");
    let store = Store::open(&root.join("store")).unwrap();
    let alpha_staged = alpha_prefix(&staging);
    let beta_staged = beta_prefix(&staging);
    let alpha = store
        .insert(
            &StoreKey::compute(&[("rock", "alpha 1.0-1")]),
            &alpha_staged,
            RockMeta {
                name: "alpha".into(),
                version: "1.0-1".into(),
                extra: Default::default(),
            },
        )
        .unwrap();
    let beta = store
        .insert(
            &StoreKey::compute(&[("rock", "beta 2.0-1")]),
            &beta_staged,
            RockMeta {
                name: "beta".into(),
                version: "2.0-1".into(),
                extra: Default::default(),
            },
        )
        .unwrap();
    let live = root.join("env/live");
    fs::create_dir_all(live.parent().unwrap()).unwrap();
    let new = tree::new_tree_dir(&live).unwrap();
    let report = materialize54(
        &new,
        &[
            tree_rock(
                "alpha",
                "1.0-1",
                &alpha.rock.prefix,
                &["lua >= 5.1", "beta >= 2.0"],
            ),
            tree_rock("beta", "2.0-1", &beta.rock.prefix, &["lua >= 5.1"]),
        ],
    )
    .unwrap();
    assert_eq!(report.rocks, 2);
    assert_eq!(report.copied, 0, "same file system: everything is linked");
    assert_eq!(report.wrappers, ["alpha-tool"]);
    tree::switch_into_place(&new, &live).unwrap();
    Env {
        _dir: dir,
        root,
        live,
        store,
        alpha: alpha.rock.prefix,
        beta: beta.rock.prefix,
    }
}

#[test]
fn lua_requires_every_module_of_the_tree_including_c() {
    let env = stored_tree();
    let paths = tree::lua_path_strings(&env.live, V54).unwrap();
    let script = r#"
        local alpha = require("alpha")
        local beta = require("beta")
        local core = require("beta.core")
        assert(package.searchpath("beta.core", package.cpath):match("lib/lua/5.4/beta/core.so$"))
        print(alpha.answer, alpha.util.name, beta.kind, core.add(1, 2))
    "#;
    let out = run(clean(Command::new("lua5.4"), &env.root)
        .env("LUA_PATH", &paths.lua_path)
        .env("LUA_CPATH", &paths.lua_cpath)
        .args(["-e", script]));
    assert_eq!(stdout(&out), "42\talpha.util\tpure beta\t3\n");
}

#[test]
fn path_script_puts_the_tree_in_use_in_sh() {
    let env = stored_tree();
    let script = tree::path_script(&env.live, V54, Shell::Posix).unwrap();
    let file = env.root.join("paths.sh");
    fs::write(&file, &script).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = run(clean(Command::new("sh"), &env.root)
        .current_dir(elsewhere.path())
        .arg("-c")
        .arg(format!(
            ". '{}' && alpha-tool x && lua5.4 -e 'print(require(\"beta.core\").add(2, 3))'",
            file.display()
        )));
    assert_eq!(stdout(&out), "answer=42 args=x\n5\n");
}

#[test]
fn bin_wrapper_runs_from_any_directory_and_through_symlinks() {
    let env = stored_tree();
    let wrapper = env.live.join("bin/alpha-tool");
    let text = fs::read_to_string(&wrapper).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"), "{text}");
    assert_ne!(
        fs::metadata(&wrapper).unwrap().permissions().mode() & 0o111,
        0
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let out = run(clean(Command::new(&wrapper), &env.root)
        .current_dir(elsewhere.path())
        .args(["a b", "c"]));
    assert_eq!(stdout(&out), "answer=42 args=a b,c\n");

    // A user's link to the command, e.g. in ~/.local/bin.
    let link = elsewhere.path().join("tool-link");
    std::os::unix::fs::symlink(&wrapper, &link).unwrap();
    let out = run(clean(Command::new(&link), &env.root).current_dir("/"));
    assert_eq!(stdout(&out), "answer=42 args=\n");

    // LVM_LUA chooses the interpreter.
    let out = clean(Command::new(&wrapper), &env.root)
        .env("LVM_LUA", "/nonexistent/lua")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = run(clean(Command::new(&wrapper), &env.root).env("LVM_LUA", "/usr/bin/lua5.4"));
    assert_eq!(stdout(&out), "answer=42 args=\n");
}

#[test]
fn debian_luarocks_lists_and_shows_the_rocks() {
    let env = stored_tree();
    let live = env.live.to_str().unwrap();
    let out = run(clean(Command::new("luarocks"), &env.root).args([
        "--lua-version",
        "5.4",
        "--tree",
        live,
        "list",
        "--porcelain",
    ]));
    let listed: Vec<(String, String, String)> = stdout(&out)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("alpha".into(), "1.0-1".into(), "installed".into()),
            ("beta".into(), "2.0-1".into(), "installed".into())
        ]
    );

    let out = run(clean(Command::new("luarocks"), &env.root).args([
        "--lua-version",
        "5.4",
        "--tree",
        live,
        "show",
        "alpha",
    ]));
    let text = stdout(&out);
    assert!(text.contains("alpha 1.0-1 - The alpha rock"), "{text}");
    assert!(text.contains("alpha.util"), "{text}");
    assert!(text.contains("alpha-tool"), "{text}");
    assert!(text.contains("beta >= 2.0 (using 2.0-1)"), "{text}");

    let out = run(clean(Command::new("luarocks"), &env.root).args([
        "--lua-version",
        "5.4",
        "--tree",
        live,
        "show",
        "beta",
    ]));
    let text = stdout(&out);
    assert!(text.contains("beta.core"), "{text}");
    assert!(text.contains("lib/lua/5.4/beta/core.so"), "{text}");
}

#[test]
fn tree_files_are_hard_links_into_the_store() {
    let env = stored_tree();
    let ino = |p: &Path| fs::metadata(p).unwrap().ino();
    let rock_dir = tree::rock_dir(&env.live, V54, "alpha", "1.0-1");
    for (in_tree, in_store) in [
        (
            tree::lua_dir(&env.live, V54).join("alpha/util.lua"),
            env.alpha.join("lua/alpha/util.lua"),
        ),
        (
            tree::lib_dir(&env.live, V54).join("beta/core.so"),
            env.beta.join("lib/beta/core.so"),
        ),
        (
            rock_dir.join("bin/alpha-tool"),
            env.alpha.join("bin/alpha-tool"),
        ),
        (
            rock_dir.join("conf/alpha.conf"),
            env.alpha.join("conf/alpha.conf"),
        ),
        (
            rock_dir.join("rock_manifest"),
            env.alpha.join("rock_manifest"),
        ),
    ] {
        assert_eq!(ino(&in_tree), ino(&in_store), "{}", in_tree.display());
    }
    // conf and doc stay in the rock directory.
    assert!(!env.live.join("conf").exists());
    assert!(rock_dir.join("doc/README").is_file());
    // The store copy is read-only, so the tree cannot be used to change it (for non-root users).
    let mode = fs::metadata(env.alpha.join("lua/alpha/util.lua"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o222, 0);
    assert!(
        env.store
            .verify(&StoreKey::compute(&[("rock", "alpha 1.0-1")]))
            .unwrap()
            .is_clean()
    );
    assert_eq!(
        tree::installed_rocks(&env.live, V54)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [
            ("alpha".to_string(), "1.0-1".to_string()),
            ("beta".to_string(), "2.0-1".to_string())
        ]
    );
}

#[test]
fn materialize_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let a = alpha_prefix(dir.path());
    let b = beta_prefix(dir.path());
    let rocks = [
        tree_rock("alpha", "1.0-1", &a, &["lua >= 5.1", "beta >= 2.0"]),
        tree_rock("beta", "2.0-1", &b, &["lua >= 5.1"]),
    ];
    let reversed = [rocks[1].clone(), rocks[0].clone()];
    let t1 = dir.path().join("t1");
    let t2 = dir.path().join("t2");
    materialize54(&t1, &rocks).unwrap();
    materialize54(&t2, &reversed).unwrap();
    for rel in ["lib/luarocks/rocks-5.4/manifest", "bin/alpha-tool"] {
        assert_eq!(
            fs::read(t1.join(rel)).unwrap(),
            fs::read(t2.join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert_eq!(
        tree::hash_tree_files(&t1).unwrap(),
        tree::hash_tree_files(&t2).unwrap()
    );
}

/// A tree of enough rocks to be written by several threads (16 rocks or deployed files a
/// thread, up to four) holds every rock and module, reports them in name order, gives the same
/// files from any order of the rocks, and lets `lua5.4` require each module.
#[test]
fn a_large_tree_written_in_parallel_is_whole_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..70).map(|i| format!("many{i:02}")).collect();
    let rocks: Vec<TreeRock> = names
        .iter()
        .map(|name| {
            let module = format!("return {{ name = {name:?} }}\n");
            let files = [
                (format!("lua/{name}.lua"), module),
                (format!("lua/{name}/sub.lua"), "return 1\n".to_string()),
                ("doc/README.md".to_string(), format!("# {name}\n")),
            ];
            let files: Vec<(&str, &str)> = files
                .iter()
                .map(|(r, t)| (r.as_str(), t.as_str()))
                .collect();
            let p = prefix(dir.path(), name, "1.0-1", &[], &files);
            tree_rock(name, "1.0-1", &p, &[])
        })
        .collect();
    let forward = dir.path().join("forward");
    let report = materialize54(&forward, &rocks).unwrap();
    assert_eq!(report.rocks, 70);
    let mut expected: Vec<String> = names
        .iter()
        .flat_map(|n| {
            [
                format!("share/lua/5.4/{n}.lua"),
                format!("share/lua/5.4/{n}/sub.lua"),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(report.deployed, expected);
    // Per rock: the rockspec, rock_manifest and README in its rock dir, two deployed modules.
    assert_eq!(report.linked + report.copied, 70 * 5);
    for name in &names {
        let rock_dir = forward.join(format!("lib/luarocks/rocks-5.4/{name}/1.0-1"));
        assert!(rock_dir.join("doc/README.md").is_file(), "{name}");
        assert!(rock_dir.join("rock_manifest").is_file(), "{name}");
    }
    let mut reversed = rocks.clone();
    reversed.reverse();
    let backward = dir.path().join("backward");
    let again = materialize54(&backward, &reversed).unwrap();
    assert_eq!(again.deployed, report.deployed);
    assert_eq!(
        tree::hash_tree_files(&forward).unwrap(),
        tree::hash_tree_files(&backward).unwrap()
    );
    let requires: String = names
        .iter()
        .map(|n| format!("assert(require({n:?}).name == {n:?}); assert(require('{n}.sub') == 1)\n"))
        .collect();
    let out = Command::new("lua5.4")
        .env("LUA_PATH", forward.join("share/lua/5.4/?.lua"))
        .args(["-e", &requires])
        .output()
        .expect("lua5.4 is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rock_manifest_is_what_luarocks_writes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let files = [
        ("foo/init.lua", "return { x = 1 }\n"),
        ("foo/bar.lua", "return 2\n"),
        ("footool", "#!/usr/bin/env lua\nprint(require('foo').x)\n"),
    ];
    for (rel, text) in files {
        write(&src.join(rel), text);
    }
    let spec = "package = \"foo\"\nversion = \"1.0-1\"\nsource = { url = \"git://example.invalid/foo\" }\n\
                build = { type = \"builtin\", modules = { foo = \"foo/init.lua\", [\"foo.bar\"] = \"foo/bar.lua\" },\n\
                install = { bin = { \"footool\" } } }\n";
    write(&src.join("foo-1.0-1.rockspec"), spec);
    let lr_tree = dir.path().join("lr-tree");
    run(clean(Command::new("luarocks"), dir.path())
        .current_dir(&src)
        .args(["--lua-version", "5.4", "--tree"])
        .arg(&lr_tree)
        .args(["make", "foo-1.0-1.rockspec"]));
    let theirs =
        fs::read_to_string(lr_tree.join("lib/luarocks/rocks-5.4/foo/1.0-1/rock_manifest")).unwrap();

    let p = dir.path().join("prefix");
    write(&p.join("lua/foo/init.lua"), files[0].1);
    write(&p.join("lua/foo/bar.lua"), files[1].1);
    write(&p.join("bin/footool"), files[2].1);
    write(&p.join("foo-1.0-1.rockspec"), spec);
    let written = tree::write_rock_manifest(&p, "foo-1.0-1.rockspec").unwrap();
    assert_eq!(fs::read_to_string(written).unwrap(), theirs);

    // LuaRocks reads back a tree lvm builds from that prefix.
    let ours = dir.path().join("ours");
    materialize54(&ours, &[tree_rock("foo", "1.0-1", &p, &[])]).unwrap();
    let out = run(clean(Command::new("luarocks"), dir.path())
        .args(["--lua-version", "5.4", "--tree"])
        .arg(&ours)
        .args(["show", "foo"]));
    assert!(stdout(&out).contains("foo.bar"), "{}", stdout(&out));
}

#[test]
fn two_rocks_deploying_the_same_module_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let one = prefix(
        dir.path(),
        "one",
        "1.0-1",
        &[],
        &[("lua/shared/mod.lua", "return 1\n")],
    );
    let two = prefix(
        dir.path(),
        "two",
        "3.1-1",
        &[],
        &[("lua/shared/mod.lua", "return 2\n")],
    );
    let target = dir.path().join("tree");
    let err = materialize54(
        &target,
        &[
            tree_rock("two", "3.1-1", &two, &[]),
            tree_rock("one", "1.0-1", &one, &[]),
        ],
    )
    .unwrap_err();
    match &err {
        TreeError::Conflict {
            file,
            first,
            second,
        } => {
            assert_eq!(file, "share/lua/5.4/shared/mod.lua");
            assert_eq!(
                (first.as_str(), second.as_str()),
                ("one 1.0-1", "two 3.1-1")
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("one 1.0-1") && msg.contains("two 3.1-1") && msg.contains("shared/mod.lua")
    );
    assert!(
        !target.exists(),
        "nothing is written when the plan conflicts"
    );

    // A module file where another rock needs a directory, and the same command twice.
    let three = prefix(dir.path(), "three", "1-1", &[], &[("lua/shared", "x\n")]);
    let err = materialize54(
        &target,
        &[
            tree_rock("one", "1.0-1", &one, &[]),
            tree_rock("three", "1-1", &three, &[]),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(err, TreeError::Conflict { ref file, .. } if file == "share/lua/5.4/shared"),
        "{err}"
    );
    let c1 = prefix(dir.path(), "c1", "1-1", &[], &[("bin/tool", "print(1)\n")]);
    let c2 = prefix(
        dir.path(),
        "c2",
        "1-1",
        &[],
        &[("bin/tool", "#!/bin/sh\necho 2\n")],
    );
    let err = materialize54(
        &target,
        &[
            tree_rock("c1", "1-1", &c1, &[]),
            tree_rock("c2", "1-1", &c2, &[]),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(err, TreeError::Conflict { ref file, .. } if file == "bin/tool"),
        "{err}"
    );
}

#[test]
fn non_lua_commands_are_linked_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let p = prefix(
        dir.path(),
        "shtool",
        "1-1",
        &[],
        &[("bin/hello", "#!/bin/sh\necho \"hello $1\"\n")],
    );
    let t = dir.path().join("tree");
    let report = materialize54(&t, &[tree_rock("shtool", "1-1", &p, &[])]).unwrap();
    assert!(report.wrappers.is_empty());
    assert_eq!(
        fs::metadata(t.join("bin/hello")).unwrap().ino(),
        fs::metadata(p.join("bin/hello")).unwrap().ino()
    );
    let out = run(Command::new(t.join("bin/hello")).arg("there"));
    assert_eq!(stdout(&out), "hello there\n");
}

#[test]
fn materialize_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let p = prefix(
        dir.path(),
        "ok",
        "1-1",
        &[],
        &[("lua/ok.lua", "return 1\n")],
    );
    let busy = dir.path().join("busy");
    write(&busy.join("x"), "x");
    assert!(matches!(
        materialize54(&busy, &[tree_rock("ok", "1-1", &p, &[])]),
        Err(TreeError::TargetNotEmpty { .. })
    ));
    let dup = [
        tree_rock("ok", "1-1", &p, &[]),
        tree_rock("ok", "1-1", &p, &[]),
    ];
    assert!(matches!(
        materialize54(&dir.path().join("d"), &dup),
        Err(TreeError::DuplicateRock { .. })
    ));
    fs::remove_file(p.join("rock_manifest")).unwrap();
    let err = materialize54(&dir.path().join("m"), &[tree_rock("ok", "1-1", &p, &[])]).unwrap_err();
    assert!(
        matches!(err, TreeError::MissingRockManifest { .. }),
        "{err}"
    );
    assert!(matches!(
        tree::write_rock_manifest(&p, "other-1-1.rockspec"),
        Err(TreeError::MissingRockspec { .. })
    ));
    let mut evil = tree_rock("ok", "1-1", &p, &[]);
    evil.name = "../x".into();
    assert!(matches!(
        materialize54(&dir.path().join("e"), &[evil]),
        Err(TreeError::BadRockName { .. })
    ));
}

#[test]
fn switch_into_place_replaces_the_live_tree_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = prefix(
        dir.path(),
        "r",
        "1.0-1",
        &[],
        &[("lua/r.lua", "return 'v1'\n")],
    );
    let v2 = prefix(
        dir.path(),
        "r",
        "2.0-1",
        &[],
        &[("lua/r.lua", "return 'v2'\n")],
    );
    let live = dir.path().join("env/live");
    fs::create_dir_all(live.parent().unwrap()).unwrap();
    assert_eq!(tree::current(&live).unwrap(), None);

    let first = tree::new_tree_dir(&live).unwrap();
    materialize54(&first, &[tree_rock("r", "1.0-1", &v1, &[])]).unwrap();
    let report = tree::switch_into_place(&first, &live).unwrap();
    assert_eq!(report.previous, None);
    assert!(fs::read_link(&live).unwrap().is_relative());
    let cur = tree::current(&live).unwrap().unwrap();
    assert_eq!(
        fs::canonicalize(&cur).unwrap(),
        fs::canonicalize(&first).unwrap()
    );

    let second = tree::new_tree_dir(&live).unwrap();
    materialize54(&second, &[tree_rock("r", "2.0-1", &v2, &[])]).unwrap();
    // Until the switch, readers of the live path see the old tree, complete.
    let module = tree::lua_dir(&live, V54).join("r.lua");
    assert_eq!(fs::read_to_string(&module).unwrap(), "return 'v1'\n");
    let held = fs::File::open(&module).unwrap();

    let report = tree::switch_into_place(&second, &live).unwrap();
    assert_eq!(
        fs::canonicalize(report.previous.unwrap()).ok(),
        None,
        "the old tree directory is gone"
    );
    assert!(!first.exists());
    assert_eq!(fs::read_to_string(&module).unwrap(), "return 'v2'\n");
    assert_eq!(
        fs::canonicalize(tree::current(&live).unwrap().unwrap()).unwrap(),
        fs::canonicalize(&second).unwrap()
    );
    // A reader that opened a file before the switch still reads it whole.
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &held, &mut text).unwrap();
    assert_eq!(text, "return 'v1'\n");
    // No temporary links are left beside the live path.
    let names: Vec<String> = fs::read_dir(live.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, [".trees", "live"]);

    // A tree built elsewhere is moved under .trees first.
    let outside = dir.path().join("outside");
    materialize54(&outside, &[tree_rock("r", "1.0-1", &v1, &[])]).unwrap();
    let report = tree::switch_into_place(&outside, &live).unwrap();
    assert!(!outside.exists() && !second.exists());
    assert!(
        report
            .current
            .starts_with(live.parent().unwrap().join(".trees"))
    );
    assert_eq!(fs::read_to_string(&module).unwrap(), "return 'v1'\n");
}

#[test]
fn switch_refuses_a_real_directory_and_keeps_the_new_tree() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    write(&live.join("precious"), "data");
    let v1 = prefix(
        dir.path(),
        "r",
        "1.0-1",
        &[],
        &[("lua/r.lua", "return 1\n")],
    );
    let new = tree::new_tree_dir(&live).unwrap();
    materialize54(&new, &[tree_rock("r", "1.0-1", &v1, &[])]).unwrap();
    let err = tree::switch_into_place(&new, &live).unwrap_err();
    assert!(matches!(err, TreeError::LiveNotSymlink { .. }), "{err}");
    assert!(live.join("precious").is_file());
    assert!(tree::lua_dir(&new, V54).join("r.lua").is_file());
}

#[test]
fn tree_file_hash_is_stable_and_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    let a = prefix(
        dir.path(),
        "h",
        "1-1",
        &[],
        &[("lua/h.lua", "return 1\n"), ("bin/h", "print(1)\n")],
    );
    let copy = dir.path().join("copy");
    for entry in walk(&a) {
        let rel = entry.strip_prefix(&a).unwrap();
        let dst = copy.join(rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(&entry, &dst).unwrap();
    }
    let h = tree::hash_tree_files(&a).unwrap();
    assert_eq!(h.len(), 64);
    assert_eq!(h, tree::hash_tree_files(&copy).unwrap());

    fs::write(copy.join("lua/h.lua"), "return 2\n").unwrap();
    let changed_content = tree::hash_tree_files(&copy).unwrap();
    assert_ne!(h, changed_content);
    fs::write(copy.join("lua/h.lua"), "return 1\n").unwrap();
    fs::set_permissions(copy.join("bin/h"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_ne!(h, tree::hash_tree_files(&copy).unwrap(), "exec bit counts");
    fs::set_permissions(copy.join("bin/h"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(copy.join("lua/h.lua"), copy.join("lua/g.lua")).unwrap();
    assert_ne!(h, tree::hash_tree_files(&copy).unwrap(), "paths count");
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const V54: lvm::luaversion::LuaVersion = lvm::luaversion::LuaVersion::Lua54;

/// A tree of Lua 5.4, the layout these tests check.
fn materialize54(
    target: &Path,
    rocks: &[tree::TreeRock],
) -> Result<tree::TreeReport, tree::TreeError> {
    tree::materialize(target, V54, rocks)
}
