//! The examples the project ships: `examples/server` must be exactly what `lvm pack` and
//! `lvm make-manifest` make from `examples/rocks`, the top-level `manifest.json` must be exactly
//! the state of the environment `examples/quickstart.sh` builds, the example rocks' own Lua test
//! suites must pass once installed, and the quickstart script itself must run offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use crate::common::rocks::{Lvm, stdout_ok};

/// The pure-Lua rocks the quickstart asks for; lvmx-strings comes in as their dependency.
const EXAMPLE_ENV_REQUESTS: &[&str] = &["lvmx-json", "lvmx-argparse", "lvmx-csv", "lvmx-inspect"];

/// The server URL the quickstart and this test record: relative to the repository root
/// (LuaRocks' `file://relative` form), so `manifest.json` is the same on every machine.
const EXAMPLE_SERVER: &str = "file://examples/server";

/// The platform `manifest.json` was generated on; store keys include the platform.
const MANIFEST_PLATFORM: &str = "linux-x86_64";

const REGENERATE: &str = "regenerate with `examples/quickstart.sh --regenerate` \
     (or `LVM=target/debug/lvm examples/quickstart.sh --regenerate`) and commit the result";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example_rockspecs() -> Vec<PathBuf> {
    let mut specs = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("examples/rocks")).unwrap() {
        for file in std::fs::read_dir(entry.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "rockspec") {
                specs.push(path);
            }
        }
    }
    specs.sort();
    specs
}

fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// lvm run from the repository root, so the relative server URL resolves.
fn at_root(lvm: &Lvm, args: &[&str]) -> String {
    let out = lvm
        .command()
        .current_dir(repo_root())
        .args(args)
        .output()
        .unwrap();
    stdout_ok(&out)
}

/// Runs a Lua file with Debian's lua5.4 and the environment's tree on the module paths.
fn lua_file(lvm: &Lvm, file: &Path, args: &[&str]) -> Output {
    common::rocks::lua54_in_tree(&lvm.tree())
        .env_remove("LUA_INIT")
        .env_remove("LUA_INIT_5_4")
        .current_dir(repo_root())
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

fn rock_test(name: &str) -> PathBuf {
    let dir = repo_root().join("examples/rocks").join(name).join("tests");
    let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
    file.path()
}

/// Blanks the store keys, for comparing on a platform other than the one `manifest.json` was
/// made on.
fn without_store_keys(bytes: &[u8]) -> serde_json::Value {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    if let Some(packages) = value["packages"].as_object_mut() {
        for package in packages.values_mut() {
            package["store_key"] = serde_json::Value::Null;
        }
    }
    value
}

fn assert_is_committed_manifest(env_manifest: &[u8]) {
    let committed = std::fs::read(repo_root().join("manifest.json"))
        .unwrap_or_else(|e| panic!("manifest.json is missing ({e}); {REGENERATE}"));
    if lvm::platform::rock_arch() == MANIFEST_PLATFORM {
        assert!(
            committed == env_manifest,
            "manifest.json differs from the example environment's state; {REGENERATE}.\n\
             expected (from a fresh install):\n{}",
            String::from_utf8_lossy(env_manifest)
        );
    } else {
        assert_eq!(
            without_store_keys(&committed),
            without_store_keys(env_manifest),
            "manifest.json differs from the example environment's state (store keys, which \
             depend on the platform, not compared); {REGENERATE}"
        );
    }
}

#[test]
fn shipped_server_is_what_pack_and_make_manifest_make() {
    let lvm = Lvm::new();
    let out_dir = lvm.root.path().join("server");
    let specs = example_rockspecs();
    assert!(specs.len() >= 4, "example rockspecs: {specs:?}");
    let to = out_dir.display().to_string();
    for spec in &specs {
        let packed = lvm.ok(&["pack", &spec.display().to_string(), "--to", &to]);
        assert!(packed.contains(".src.rock"), "{packed}");
    }
    let indexed = lvm.ok(&["make-manifest", &to]);
    assert!(
        indexed.contains(&format!("{} packages", specs.len())),
        "{indexed}"
    );
    let fresh = files_of(&out_dir);
    let shipped = files_of(&repo_root().join("examples/server"));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        shipped.keys().collect::<Vec<_>>(),
        "examples/server holds other files than examples/rocks produces; {REGENERATE}"
    );
    for (name, bytes) in &fresh {
        assert!(
            shipped[name] == *bytes,
            "examples/server/{name} differs from what `lvm pack`/`lvm make-manifest` make from \
             examples/rocks; {REGENERATE}"
        );
    }
}

#[test]
fn pack_defaults_to_the_rockspec_folder_and_the_current_folder() {
    let lvm = Lvm::new();
    let rock_dir = lvm.root.path().join("lvmx-strings");
    common::rocks::copy_dir(&repo_root().join("examples/rocks/lvmx-strings"), &rock_dir);
    let out = lvm.ok(&["pack", "lvmx-strings/lvmx-strings-1.0.0-1.rockspec"]);
    assert!(out.contains("lvmx-strings-1.0.0-1.src.rock"), "{out}");
    let packed = std::fs::read(lvm.root.path().join("lvmx-strings-1.0.0-1.src.rock")).unwrap();
    let shipped =
        std::fs::read(repo_root().join("examples/server/lvmx-strings-1.0.0-1.src.rock")).unwrap();
    assert!(
        packed == shipped,
        "packing from a copy must give the shipped bytes"
    );
}

#[test]
fn pack_and_make_manifest_explain_bad_input() {
    let lvm = Lvm::new();
    let err = lvm.fails(&["pack", "missing-1.0-1.rockspec"]);
    assert!(err.contains("missing-1.0-1.rockspec"), "{err}");
    let spec = lvm.root.path().join("zipped-1.0-1.rockspec");
    std::fs::write(
        &spec,
        "package = 'zipped'\nversion = '1.0-1'\nsource = { url = 'https://host.invalid/zipped.7z' }\n\
         build = { type = 'builtin', modules = {} }\n",
    )
    .unwrap();
    let err = lvm.fails(&["pack", &spec.display().to_string()]);
    assert!(err.contains("must end in .tar.gz, .tgz or .zip"), "{err}");
    let err = lvm.fails(&[
        "pack",
        &spec.display().to_string(),
        "--source-dir",
        "nowhere",
    ]);
    assert!(
        err.contains("source folder nowhere does not exist"),
        "{err}"
    );
    let err = lvm.fails(&["make-manifest", "no-such-folder"]);
    assert!(err.contains("no-such-folder is not a folder"), "{err}");
}

#[test]
fn manifest_json_is_the_example_environment_and_the_rocks_work() {
    let lvm = Lvm::new();
    at_root(&lvm, &["init", "--server", EXAMPLE_SERVER]);
    let mut install = vec!["install"];
    install.extend_from_slice(EXAMPLE_ENV_REQUESTS);
    let out = at_root(&lvm, &install);
    assert!(out.contains("+ lvmx-strings 1.0.0-1"), "{out}");
    let state = std::fs::read(lvm.env_dir().join("manifest.json")).unwrap();
    assert_is_committed_manifest(&state);

    for rock in [
        "lvmx-strings",
        "lvmx-json",
        "lvmx-inspect",
        "lvmx-csv",
        "lvmx-argparse",
    ] {
        let out = stdout_ok(&lua_file(&lvm, &rock_test(rock), &[]));
        assert!(
            out.contains(&format!("{rock}: ")) && out.contains("checks passed"),
            "{out}"
        );
    }
    let demo = repo_root().join("examples/demo.lua");
    let out = stdout_ok(&lua_file(
        &lvm,
        &demo,
        &["--json", "--only", "lvmx-csv", "examples/rocks.csv"],
    ));
    assert!(
        out.contains(r#""summary": "CSV with \"quoted\" fields"#),
        "{out}"
    );
    assert!(out.contains("lvmx-hash is not installed"), "{out}");

    // The C module: compiled on install, gone again after a rollback.
    at_root(&lvm, &["install", "lvmx-hash"]);
    let out = stdout_ok(&lua_file(&lvm, &rock_test("lvmx-hash"), &[]));
    assert!(out.contains("lvmx-hash: 10 checks passed"), "{out}");
    assert_eq!(at_root(&lvm, &["diff"]).trim(), "+ lvmx-hash 1.0.0-1");
    at_root(&lvm, &["rollback"]);
    assert_eq!(at_root(&lvm, &["diff"]).trim(), "- lvmx-hash 1.0.0-1");
    assert_is_committed_manifest(&std::fs::read(lvm.env_dir().join("manifest.json")).unwrap());
    let out = stdout_ok(&lua_file(&lvm, &demo, &["examples/rocks.csv"]));
    assert!(out.contains("lvmx-hash is not installed"), "{out}");
}

#[test]
fn quickstart_runs_offline_and_leaves_the_repository_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let before = files_of(&repo_root().join("examples/server"));
    let out = Command::new("bash")
        .arg(repo_root().join("examples/quickstart.sh"))
        .env("LVM", env!("CARGO_BIN_EXE_lvm"))
        .env("TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .env_remove("LVM_HOME")
        .env_remove("LVM_ENV")
        .env_remove("LVM_FAULT")
        .env("LVM_CONFIG", tmp.path().join("no-user-config.toml"))
        .env_remove("LVM_SERVERS")
        .output()
        .unwrap();
    let stdout = stdout_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("identical to the repository's manifest.json"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("Back to the state of manifest.json."),
        "{stdout}"
    );
    assert!(stdout.contains("+ lvmx-hash 1.0.0-1"), "{stdout}");
    assert!(stdout.contains("- lvmx-hash 1.0.0-1"), "{stdout}");
    assert!(stdout.contains("ok: 5 events replay"), "{stdout}");
    assert!(stdout.contains(tmp.path().to_str().unwrap()), "{stdout}");
    assert!(before == files_of(&repo_root().join("examples/server")));
}

#[test]
fn luarocks_installs_from_the_shipped_server() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let out = Command::new("luarocks")
        .env("HOME", tmp.path())
        .env_remove("LUAROCKS_CONFIG")
        .arg("--lua-version")
        .arg("5.4")
        .arg("--tree")
        .arg(&tree)
        .arg(format!(
            "--only-server={}",
            repo_root().join("examples/server").display()
        ))
        .args(["install", "lvmx-argparse"])
        .output()
        .unwrap();
    let log = stdout_ok(&out);
    assert!(
        log.contains("lvmx-strings 1.0.0-1 is now installed"),
        "{log}"
    );
    let out = Command::new("lua5.4")
        .env(
            "LUA_PATH",
            format!("{}/share/lua/5.4/?.lua", tree.display()),
        )
        .env_remove("LUA_INIT")
        .env_remove("LUA_INIT_5_4")
        .arg(rock_test("lvmx-argparse"))
        .output()
        .unwrap();
    assert!(stdout_ok(&out).contains("lvmx-argparse: "));
}
