//! Local development through the `lvm` binary: `lvm make` in a project directory (git state
//! recorded, C compiled for real), `lvm link` (the tree's Lua files are symlinks, edits show up
//! in Debian's lua5.4 without any lvm call), `lvm verify`/`sync` on linked packages, and
//! `lvm unlink`.

use std::path::{Path, PathBuf};

use crate::common::rocks::{Lvm, commit_all, file_server, spawn_paused, stdout_ok};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A pure-Lua project `devrock` 1.0-1 needing `strutil` (from the rocks server), with a module
/// that says `message`, a submodule, and a Lua command.
fn lua_project(dir: &Path, message: &str) {
    write(
        &dir.join("devrock-1.0-1.rockspec"),
        r#"package = "devrock"
version = "1.0-1"
source = { url = "git+https://example.invalid/devrock.git" }
dependencies = { "lua >= 5.1", "strutil >= 1.0" }
build = {
  type = "builtin",
  modules = { devrock = "src/devrock.lua", ["devrock.util"] = "src/devrock/util.lua" },
  install = { bin = { devrock = "bin/devrock.lua" } },
}
"#,
    );
    set_message(dir, message);
    write(
        &dir.join("src/devrock/util.lua"),
        "return { twice = function(s) return s .. s end }\n",
    );
    write(
        &dir.join("bin/devrock.lua"),
        "print('cli: ' .. require('devrock').message())\n",
    );
}

fn set_message(dir: &Path, message: &str) {
    write(
        &dir.join("src/devrock.lua"),
        &format!(
            "local strutil = require('strutil')\nreturn {{ message = function() return {message:?} end, strutil = strutil }}\n"
        ),
    );
}

/// A project `devc` 1.0-1 with a C module `devc.core` and a Lua module `devc`.
fn c_project(dir: &Path, answer: i32) {
    write(
        &dir.join("devc-1.0-1.rockspec"),
        r#"package = "devc"
version = "1.0-1"
source = { url = "git+https://example.invalid/devc.git" }
dependencies = { "lua >= 5.1" }
build = {
  type = "builtin",
  modules = {
    devc = "lua/devc.lua",
    ["devc.core"] = { sources = { "csrc/core.c" } },
  },
}
"#,
    );
    write(
        &dir.join("lua/devc.lua"),
        "local core = require('devc.core')\nreturn { answer = function() return 'lua+' .. core.answer() end }\n",
    );
    write(
        &dir.join("csrc/core.c"),
        &format!(
            r#"#include "lua.h"
#include "lauxlib.h"
static int answer(lua_State *L) {{ lua_pushinteger(L, {answer}); return 1; }}
int luaopen_devc_core(lua_State *L) {{
  lua_newtable(L);
  lua_pushcfunction(L, answer);
  lua_setfield(L, -2, "answer");
  return 1;
}}
"#
        ),
    );
}

fn git_init_commit(dir: &Path) -> String {
    write(&dir.join(".gitignore"), "*.o\n");
    let repo = git2::Repository::init(dir).unwrap();
    commit_all(&repo, "project").to_string()
}

/// Runs lvm in `cwd`.
fn lvm_in(lvm: &Lvm, cwd: &Path, args: &[&str]) -> std::process::Output {
    lvm.command().current_dir(cwd).args(args).output().unwrap()
}

fn manifest(lvm: &Lvm) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap())
        .unwrap()
}

fn head_event(lvm: &Lvm) -> serde_json::Value {
    let shown: serde_json::Value = serde_json::from_str(&lvm.ok(&["show-event"])).unwrap();
    shown["event"].clone()
}

fn setup() -> (Lvm, PathBuf) {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let projects = lvm.root.path().join("projects");
    std::fs::create_dir_all(&projects).unwrap();
    (lvm, std::fs::canonicalize(projects).unwrap())
}

#[test]
fn make_in_a_git_checkout_records_path_commit_and_dirtiness() {
    let (lvm, projects) = setup();
    let dir = projects.join("devrock");
    lua_project(&dir, "first");
    let commit = git_init_commit(&dir);

    let out = stdout_ok(&lvm_in(&lvm, &dir, &["make"]));
    assert!(
        out.contains("+ devrock 1.0-1") && out.contains("strutil"),
        "{out}"
    );
    let source = manifest(&lvm)["packages"]["devrock"]["source"].clone();
    assert_eq!(source["kind"], "local");
    assert_eq!(source["path"], dir.display().to_string());
    assert_eq!(source["rockspec"], "devrock-1.0-1.rockspec");
    assert_eq!(source["commit"], commit);
    assert_eq!(source["dirty"], false);
    let event = head_event(&lvm);
    assert_eq!(event["kind"], "make");
    assert_eq!(event["details"]["path"], dir.display().to_string());
    assert_eq!(event["details"]["commit"], commit);
    assert_eq!(event["details"]["dirty"], "false");
    let lua = stdout_ok(&lvm.lua("print(require('devrock').message())"));
    assert_eq!(lua.trim(), "first");
    // The build happened on a copy: no object or build file landed in the checkout.
    assert!(!dir.join("src/devrock.o").exists());
    let key_before = manifest(&lvm)["packages"]["devrock"]["store_key"].clone();

    // Making the same files again changes nothing.
    let out = stdout_ok(&lvm_in(&lvm, &dir, &["make"]));
    assert!(out.contains("Nothing to do"), "{out}");

    set_message(&dir, "edited");
    let out = stdout_ok(&lvm_in(&lvm, &dir, &["make"]));
    assert!(out.contains("~ devrock 1.0-1"), "{out}");
    let package = manifest(&lvm)["packages"]["devrock"].clone();
    assert_eq!(package["source"]["dirty"], true);
    assert_eq!(package["source"]["commit"], commit);
    assert_ne!(
        package["store_key"], key_before,
        "an edit is a new store entry"
    );
    assert_eq!(head_event(&lvm)["details"]["dirty"], "true");
    let lua = stdout_ok(&lvm.lua("print(require('devrock').message())"));
    assert_eq!(lua.trim(), "edited");
    let list = lvm.ok(&["list"]);
    assert!(
        list.contains(&format!(
            "devrock 1.0-1  (requested == 1.0-1)  [made from {}]",
            dir.display()
        )),
        "{list}"
    );
    let show = lvm.ok(&["show", "devrock"]);
    assert!(
        show.contains("(lvm make at") && show.contains("dirty"),
        "{show}"
    );
    let log = lvm.ok(&["log"]);
    assert_eq!(log.matches(" make devrock 1.0-1").count(), 2, "{log}");
    lvm.ok(&["verify"]);
}

#[test]
fn make_and_link_take_build_variables_like_luarocks_make() {
    let (lvm, projects) = setup();
    let dir = projects.join("extdep");
    crate::common::rocks::copy_dir(
        &crate::common::rocks::fixtures_dir().join("extdep-1.0-1"),
        &dir,
    );
    let before = lvm.snapshot();
    let err = crate::common::rocks::failed(&["make"], &lvm_in(&lvm, &dir, &["make"]));
    assert!(
        err.contains("`lvm make FOO_DIR=/usr/local`"),
        "the hint names the command that was run: {err}"
    );
    assert_eq!(lvm.snapshot(), before);
    let prefix = lvm.root.path().join("opt/foo");
    write(
        &prefix.join("include/lvm-no-such-header.h"),
        "#define LVM_NO_SUCH_VALUE 7\n",
    );
    let foo_dir = format!("FOO_DIR={}", prefix.display());
    let out = stdout_ok(&lvm_in(&lvm, &dir, &["make", &foo_dir]));
    assert!(out.contains("+ extdep 1.0-1"), "{out}");
    assert_eq!(head_event(&lvm)["args"], serde_json::json!([foo_dir]));
    assert_eq!(
        stdout_ok(&lvm.lua("print((require('extdep')))")).trim(),
        "7"
    );
    // The rockspec and the variable in either order; a second rockspec is refused.
    let spec = "extdep-1.0-1.rockspec";
    lvm.ok(&["remove", "extdep"]);
    stdout_ok(&lvm_in(&lvm, &dir, &["make", &foo_dir, spec]));
    let err = crate::common::rocks::failed(&["make"], &lvm_in(&lvm, &dir, &["make", spec, spec]));
    assert!(err.contains("lvm make builds one rockspec"), "{err}");
    lvm.ok(&["remove", "extdep"]);
    let linked = lvm.ok(&["link", dir.to_str().unwrap(), &foo_dir]);
    assert!(linked.contains("extdep"), "{linked}");
    assert_eq!(
        stdout_ok(&lvm.lua("print((require('extdep')))")).trim(),
        "7"
    );
}

#[test]
fn make_with_two_rockspecs_lists_both_and_changes_nothing() {
    let (lvm, projects) = setup();
    let dir = projects.join("devrock");
    lua_project(&dir, "x");
    std::fs::copy(
        dir.join("devrock-1.0-1.rockspec"),
        dir.join("devrock-scm-1.rockspec"),
    )
    .unwrap();
    let before = lvm.snapshot();
    let out = lvm_in(&lvm, &dir, &["make"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("devrock-1.0-1.rockspec") && err.contains("devrock-scm-1.rockspec"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
    // Naming one works, and the help says how the rockspec is found.
    stdout_ok(&lvm_in(&lvm, &dir, &["make", "devrock-1.0-1.rockspec"]));
    let help = lvm.ok(&["make", "--help"]);
    assert!(
        help.contains("rockspecs/") && help.contains("several"),
        "{help}"
    );
}

#[test]
fn link_with_two_rockspecs_suggests_a_command_that_works() {
    let (lvm, projects) = setup();
    let dir = projects.join("devrock");
    lua_project(&dir, "picked");
    std::fs::copy(
        dir.join("devrock-1.0-1.rockspec"),
        dir.join("devrock-scm-1.rockspec"),
    )
    .unwrap();
    let before = lvm.snapshot();
    let err = lvm.fails(&["link", dir.to_str().unwrap()]);
    let first = dir.join("devrock-1.0-1.rockspec");
    let suggested = format!("lvm link {}", first.display());
    assert!(
        err.contains("devrock-scm-1.rockspec") && err.contains(&format!("`{suggested}`")),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
    // The suggested command works, and links the project directory.
    let args: Vec<&str> = suggested.split(' ').skip(1).collect();
    let out = lvm.ok(&args);
    assert!(out.contains("+ devrock 1.0-1"), "{out}");
    let source = manifest(&lvm)["packages"]["devrock"]["source"].clone();
    assert_eq!(source["kind"], "linked");
    assert_eq!(source["path"], dir.display().to_string());
    assert_eq!(source["rockspec"], "devrock-1.0-1.rockspec");
    assert_eq!(
        std::fs::read_link(lvm.tree().join("share/lua/5.4/devrock.lua")).unwrap(),
        dir.join("src/devrock.lua")
    );
    lvm.ok(&["verify"]);
    lvm.ok(&["unlink", "devrock"]);

    // A rockspec in rockspecs/, named relative to the current directory: the project is DIR.
    let nested = projects.join("nested");
    lua_project(&nested, "nested");
    std::fs::create_dir_all(nested.join("rockspecs")).unwrap();
    for name in ["devrock-1.0-1.rockspec", "devrock-scm-1.rockspec"] {
        std::fs::copy(
            nested.join("devrock-1.0-1.rockspec"),
            nested.join("rockspecs").join(name),
        )
        .unwrap();
    }
    std::fs::remove_file(nested.join("devrock-1.0-1.rockspec")).unwrap();
    let err = lvm.fails(&["link", nested.to_str().unwrap()]);
    let suggested = nested.join("rockspecs/devrock-1.0-1.rockspec");
    assert!(
        err.contains(&format!("`lvm link {}`", suggested.display())),
        "{err}"
    );
    let out = lvm_in(&lvm, &nested, &["link", "rockspecs/devrock-1.0-1.rockspec"]);
    assert!(stdout_ok(&out).contains("+ devrock 1.0-1"));
    let source = manifest(&lvm)["packages"]["devrock"]["source"].clone();
    assert_eq!(source["path"], nested.display().to_string());
    assert_eq!(source["rockspec"], "rockspecs/devrock-1.0-1.rockspec");
    let code = "print(require('devrock').message())";
    assert_eq!(stdout_ok(&lvm.lua(code)).trim(), "nested");

    // Neither a directory nor a rockspec: the error says what link takes.
    let other = nested.join("src/devrock.lua");
    let err = lvm.fails(&["link", other.to_str().unwrap()]);
    assert!(
        err.contains("neither a directory nor a .rockspec file"),
        "{err}"
    );
    let help = lvm.ok(&["link", "--help"]);
    assert!(help.contains("rockspec itself"), "{help}");
}

#[test]
fn make_compiles_a_c_module_that_debian_lua_loads() {
    let (lvm, projects) = setup();
    let dir = projects.join("devc");
    c_project(&dir, 42);
    let out = stdout_ok(&lvm_in(&lvm, &dir, &["make"]));
    assert!(out.contains("+ devc 1.0-1"), "{out}");
    let source = manifest(&lvm)["packages"]["devc"]["source"].clone();
    assert_eq!(source["kind"], "local");
    assert!(
        source.get("commit").is_none(),
        "not a git checkout: {source}"
    );
    assert!(lvm.tree().join("lib/lua/5.4/devc/core.so").is_file());
    let lua = stdout_ok(&lvm.lua("print(require('devc').answer())"));
    assert_eq!(lua.trim(), "lua+42");
    assert!(
        !dir.join("csrc/core.o").exists(),
        "objects stay out of the project"
    );
}

#[test]
fn link_builds_without_the_writer_lock_and_keeps_what_another_writer_installed() {
    let (lvm, projects) = setup();
    let dir = projects.join("devrock");
    lua_project(&dir, "linked meanwhile");
    let path = dir.to_str().unwrap();
    let (linking, marker) = spawn_paused(&lvm, "build", &["link", path]);
    // With no wait allowed, this fails if the link holds the writer lock.
    lvm.ok(&["--lock-timeout", "0", "install", "chain-c"]);
    std::fs::remove_file(&marker).unwrap();
    let out = stdout_ok(&linking.wait_with_output().unwrap());
    assert!(out.contains("devrock 1.0-1 is linked to"), "{out}");
    assert_eq!(
        lvm.installed(),
        ["chain-c 2.0-1", "devrock 1.0-1", "strutil 1.1-1"]
    );
    assert_eq!(head_event(&lvm)["kind"], "link");
    lvm.ok(&["verify"]);
    let lua = stdout_ok(&lvm.lua("print(require('devrock').message())"));
    assert_eq!(lua.trim(), "linked meanwhile");
}

#[test]
fn failed_makes_change_nothing() {
    let (lvm, projects) = setup();
    let dir = projects.join("devc");
    c_project(&dir, 1);
    let before = lvm.snapshot();
    let store_before = store_entries(&lvm);

    let rockspec = dir.join("devc-1.0-1.rockspec");
    let good = std::fs::read_to_string(&rockspec).unwrap();
    std::fs::write(&rockspec, "package = 'devc'\nversion = ").unwrap();
    let out = lvm_in(&lvm, &dir, &["make"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("devc-1.0-1.rockspec"), "{err}");
    assert_eq!(lvm.snapshot(), before);

    std::fs::write(&rockspec, good).unwrap();
    write(&dir.join("csrc/core.c"), "int luaopen_devc_core( {\n");
    let out = lvm_in(&lvm, &dir, &["make"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("core.c"), "{err}");
    assert_eq!(lvm.snapshot(), before);
    assert_eq!(store_entries(&lvm), store_before);
}

fn store_entries(lvm: &Lvm) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(lvm.home().join("store/rocks"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn link_round_trip_with_edits_visible_without_lvm() {
    let (lvm, projects) = setup();
    let made = projects.join("devc");
    c_project(&made, 7);
    stdout_ok(&lvm_in(&lvm, &made, &["make"]));

    let dir = projects.join("devrock");
    lua_project(&dir, "linked one");
    let out = lvm.ok(&["link", dir.to_str().unwrap()]);
    assert!(
        out.contains("is linked to") && out.contains("+ devrock 1.0-1"),
        "{out}"
    );
    assert!(!out.contains("C modules"), "{out}");
    let source = manifest(&lvm)["packages"]["devrock"]["source"].clone();
    assert_eq!(source["kind"], "linked");
    assert_eq!(source["path"], dir.display().to_string());

    let deployed = lvm.tree().join("share/lua/5.4/devrock.lua");
    assert_eq!(
        std::fs::read_link(&deployed).unwrap(),
        dir.join("src/devrock.lua")
    );
    let code = "print(require('devrock').message(), require('devrock.util').twice('ab'))";
    assert_eq!(stdout_ok(&lvm.lua(code)).trim(), "linked one\tabab");
    let cli = std::process::Command::new(lvm.tree().join("bin/devrock"))
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&cli).trim(), "cli: linked one");

    // Edit the working files: the same commands see the edits, with no lvm call.
    set_message(&dir, "edited in place");
    write(
        &dir.join("src/devrock/util.lua"),
        "return { twice = function(s) return s .. '+' .. s end }\n",
    );
    assert_eq!(stdout_ok(&lvm.lua(code)).trim(), "edited in place\tab+ab");
    let cli = std::process::Command::new(lvm.tree().join("bin/devrock"))
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&cli).trim(), "cli: edited in place");

    let verify = lvm.ok(&["verify"]);
    assert!(
        verify.contains(&format!("devrock: linked to {}", dir.display())),
        "{verify}"
    );
    let list = lvm.ok(&["list"]);
    assert!(
        list.contains(&format!("[linked to {}]", dir.display())),
        "{list}"
    );
    let show = lvm.ok(&["show", "devrock"]);
    assert!(
        show.contains(&format!("linked to {}", dir.display())),
        "{show}"
    );

    // Debian's luarocks reads the tree with the linked rock in it.
    let listed = std::process::Command::new("luarocks")
        .env("HOME", lvm.root.path())
        .args(["--lua-version", "5.4", "--tree"])
        .arg(lvm.tree())
        .args(["list", "--porcelain"])
        .output()
        .unwrap();
    let listed = stdout_ok(&listed);
    assert!(
        listed.contains("devrock\t1.0-1") && listed.contains("devc\t1.0-1"),
        "{listed}"
    );

    // The working directory goes away: verify fails and says how to fix it.
    let moved = projects.join("devrock-moved");
    std::fs::rename(&dir, &moved).unwrap();
    let out = lvm.run(&["verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("linked to {}, which is gone", dir.display()))
            && text.contains("lvm unlink devrock"),
        "{text}"
    );
    std::fs::rename(&moved, &dir).unwrap();
    std::fs::remove_file(dir.join("src/devrock/util.lua")).unwrap();
    let out = lvm.run(&["verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("the linked file") && text.contains("src/devrock/util.lua"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Unlinking a package that is not linked says how to remove it.
    let err = lvm.fails(&["unlink", "devc"]);
    assert!(
        err.contains("not linked") && err.contains("lvm remove devc"),
        "{err}"
    );

    let events_before = lvm.ok(&["log"]).lines().count();
    let out = lvm.ok(&["unlink", "devrock"]);
    assert!(
        out.contains("- devrock 1.0-1") && out.contains("- strutil"),
        "{out}"
    );
    assert_eq!(lvm.ok(&["log"]).lines().count(), events_before + 1);
    assert!(!lvm.tree().join("share/lua/5.4/devrock.lua").exists());
    lvm.ok(&["verify"]);
    let log = lvm.ok(&["log"]);
    for kind in [
        " make devc 1.0-1",
        " link devrock 1.0-1",
        " unlink devrock 1.0-1",
    ] {
        assert!(log.contains(kind), "{kind} missing from:\n{log}");
    }
}

#[test]
fn linked_c_modules_are_built_and_the_output_says_to_link_again() {
    let (lvm, projects) = setup();
    let dir = projects.join("devc");
    c_project(&dir, 5);
    let out = lvm.ok(&["link", dir.to_str().unwrap()]);
    assert!(
        out.contains("C modules (lib/devc/core.so)") && out.contains("lvm link"),
        "{out}"
    );
    assert_eq!(
        stdout_ok(&lvm.lua("print(require('devc').answer())")).trim(),
        "lua+5"
    );
    // Lua edits are live; the C module stays the built copy until linked again.
    write(
        &dir.join("lua/devc.lua"),
        "local core = require('devc.core')\nreturn { answer = function() return 'new+' .. core.answer() end }\n",
    );
    c_project_c_only(&dir, 6);
    assert_eq!(
        stdout_ok(&lvm.lua("print(require('devc').answer())")).trim(),
        "new+5"
    );
    let out = lvm.ok(&["link", dir.to_str().unwrap()]);
    assert!(out.contains("~ devc 1.0-1"), "{out}");
    assert_eq!(
        stdout_ok(&lvm.lua("print(require('devc').answer())")).trim(),
        "new+6"
    );
}

fn c_project_c_only(dir: &Path, answer: i32) {
    let lua = std::fs::read_to_string(dir.join("lua/devc.lua")).unwrap();
    c_project(dir, answer);
    write(&dir.join("lua/devc.lua"), &lua);
}

#[test]
fn sync_rebuilds_local_builds_from_their_path_and_recreates_links() {
    let (lvm, projects) = setup();
    let made = projects.join("devc");
    c_project(&made, 3);
    stdout_ok(&lvm_in(&lvm, &made, &["make"]));
    let linked = projects.join("devrock");
    lua_project(&linked, "synced");
    lvm.ok(&["link", linked.to_str().unwrap()]);

    // A machine whose store lacks the builds: sync rebuilds them from the recorded paths.
    std::fs::remove_dir_all(lvm.home().join("store")).unwrap();
    std::fs::remove_file(lvm.tree()).unwrap();
    let out = lvm.ok(&["sync"]);
    assert!(out.contains("In sync"), "{out}");
    assert_eq!(
        std::fs::read_link(lvm.tree().join("share/lua/5.4/devrock.lua")).unwrap(),
        linked.join("src/devrock.lua")
    );
    let code = "print(require('devrock').message(), require('devc').answer())";
    assert_eq!(stdout_ok(&lvm.lua(code)).trim(), "synced\tlua+3");

    // A link removed from the tree by hand: sync re-creates it.
    let deployed = lvm.tree().join("share/lua/5.4/devrock.lua");
    std::fs::remove_file(&deployed).unwrap();
    lvm.ok(&["sync"]);
    assert_eq!(
        std::fs::read_link(&deployed).unwrap(),
        linked.join("src/devrock.lua")
    );

    // A `make` build whose files changed cannot be reproduced: sync says so and names the path.
    std::fs::remove_dir_all(lvm.home().join("store")).unwrap();
    c_project(&made, 4);
    let err = lvm.fails(&["sync"]);
    assert!(
        err.contains(&made.display().to_string()) && err.contains("lvm make"),
        "{err}"
    );
    // And one whose directory is gone names the path too.
    std::fs::remove_dir_all(&made).unwrap();
    let err = lvm.fails(&["sync"]);
    assert!(
        err.contains(&format!("{}, which does not exist", made.display())),
        "{err}"
    );
}
