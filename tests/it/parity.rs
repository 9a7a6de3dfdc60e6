//! Rockspecs in the shapes real ones use (`tests/fixtures/parity/`, and rocks made here), built
//! through the lvm binary and compared with what Debian's `luarocks --lua-version 5.4` does on
//! the same local server: the same versions picked, the same files in the tree, the same
//! modules loadable.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::http_server::TestServer;
use crate::common::rocks::{
    Lvm, event_json, git, lua54_in_tree, publish_dir, publish_dir_matching, stdout_ok,
};

fn parity_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

/// A file:// rocks server at `root/server` holding the parity fixtures.
fn parity_server(root: &Path) -> String {
    let dir = root.join("server");
    let url = format!("file://{}", dir.display());
    publish_dir(&parity_fixtures(), &dir, &url);
    url
}

/// Writes a one-module pure Lua rock `name-version/` below `src_root`, with `lua_dep` as its
/// `lua` dependency (none when empty), ready for [`publish_dir`]. The module returns its
/// version, so a test sees which one was installed.
fn write_rock(src_root: &Path, name: &str, version: &str, lua_dep: &str) {
    let dir = src_root.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let deps = if lua_dep.is_empty() {
        String::new()
    } else {
        format!("dependencies = {{ \"{lua_dep}\" }}\n")
    };
    std::fs::write(
        dir.join(format!("{name}-{version}.rockspec")),
        format!(
            "package = \"{name}\"\nversion = \"{version}\"\n\
             source = {{ url = \"@SERVER@/{name}-{version}.tar.gz\" }}\n\
             description = {{ summary = \"{name} (test fixture)\" }}\n{deps}\
             build = {{ type = \"builtin\", modules = {{ [\"{module}\"] = \"m.lua\" }} }}\n",
            module = name.replace('-', "_"),
        ),
    )
    .unwrap();
    std::fs::write(dir.join("m.lua"), format!("return \"{version}\"\n")).unwrap();
}

/// Debian's luarocks for Lua 5.4 with its home and configuration in `root` and `servers` as its
/// only rocks servers, so it never reaches the network.
fn luarocks(root: &Path, servers: &[&str]) -> Command {
    let home = root.join("luarocks-home");
    std::fs::create_dir_all(&home).unwrap();
    let config = home.join("config.lua");
    let list: Vec<String> = servers.iter().map(|s| format!("{s:?}")).collect();
    std::fs::write(
        &config,
        format!("rocks_servers = {{ {} }}\n", list.join(", ")),
    )
    .unwrap();
    let mut cmd = Command::new("luarocks");
    cmd.env("HOME", &home)
        .env("LUAROCKS_CONFIG", &config)
        .env_remove("LUA_PATH")
        .env_remove("LUA_CPATH")
        .env_remove("CC")
        .env_remove("CFLAGS")
        .args(["--lua-version", "5.4"]);
    cmd
}

/// Installs with luarocks into `root/luarocks-tree`; returns the tree.
fn luarocks_install(root: &Path, servers: &[&str], args: &[&str]) -> PathBuf {
    let tree = root.join("luarocks-tree");
    let out = luarocks(root, servers)
        .arg("--tree")
        .arg(&tree)
        .arg("install")
        .args(args)
        .output()
        .unwrap();
    stdout_ok(&out);
    tree
}

/// The files (and links) of a rocks tree, relative, without the mark of lvm's trees
/// (`.lvm-state`): everything else must be what LuaRocks makes, rock dirs included.
fn tree_files(tree: &Path) -> BTreeSet<String> {
    let tree = std::fs::canonicalize(tree).unwrap();
    walkdir::WalkDir::new(&tree)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(&tree).unwrap().display().to_string())
        .filter(|p| p != ".lvm-state")
        .collect()
}

fn assert_same_files(lvm_tree: &Path, luarocks_tree: &Path) {
    let ours = tree_files(lvm_tree);
    let theirs = tree_files(luarocks_tree);
    assert_eq!(
        ours.difference(&theirs).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "files lvm installed that luarocks did not"
    );
    assert_eq!(
        theirs.difference(&ours).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "files luarocks installed that lvm did not"
    );
}

/// Runs `code` with lua5.4 on the modules of the rocks tree `tree`.
fn lua_in(tree: &Path, code: &str) -> Output {
    lua54_in_tree(tree).args(["-e", code]).output().unwrap()
}

fn read(tree: &Path, rel: &str) -> String {
    std::fs::read_to_string(tree.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// An install prefix holding OpenSSL-named files, where nothing real is: what a user points
/// OPENSSL_DIR at.
fn fake_openssl(at: &Path) -> String {
    std::fs::create_dir_all(at.join("include/openssl")).unwrap();
    std::fs::create_dir_all(at.join("lib")).unwrap();
    std::fs::write(at.join("include/openssl/ssl.h"), "").unwrap();
    std::fs::write(at.join("lib/libssl.so"), "").unwrap();
    at.display().to_string()
}

fn head_event(lvm: &Lvm) -> serde_json::Value {
    event_json(&git(&lvm.env_dir(), &["log", "-1", "--format=%B"]))
}

#[test]
#[cfg_attr(
    not(all(lvm_has_luarocks, lvm_has_lua54, lvm_has_openssl_dev)),
    ignore = "needs luarocks, lua5.4 and OpenSSL's headers (libssl-dev)"
)]
fn install_entries_naming_a_built_module_install_like_luarocks() {
    let lvm = Lvm::new();
    let url = parity_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "bundled"]);
    let check = "local b = require('bundled') \
                 print(b.answer, b.ssl_linked, b.util.name, package.searchpath('bundled', package.cpath) ~= nil)";
    let ours = stdout_ok(&lvm_lua(&lvm, check));
    assert_eq!(ours.trim(), "42\ttrue\tbundled.util\ttrue");

    let theirs_tree = luarocks_install(lvm.root.path(), &[&url], &["bundled"]);
    let theirs = stdout_ok(&lua_in(&theirs_tree, check));
    assert_eq!(ours, theirs);
    assert_same_files(&lvm.tree(), &theirs_tree);
    // copy_directories = {}: no folder, but the README and LICENSE, as LuaRocks does.
    let rock = lvm.tree().join("lib/luarocks/rocks-5.4/bundled/1.0-1");
    assert!(rock.join("doc/README.md").is_file() && rock.join("doc/LICENSE").is_file());
}

fn lvm_lua(lvm: &Lvm, code: &str) -> Output {
    lua_in(&lvm.tree(), code)
}

#[test]
#[cfg_attr(
    not(all(lvm_has_luarocks, lvm_has_lua54)),
    ignore = "needs luarocks and lua5.4"
)]
fn command_builds_get_luarocks_variables_and_a_warning_for_unknown_ones() {
    let lvm = Lvm::new();
    let url = parity_server(lvm.root.path());
    lvm.init(&[&url]);
    let out = lvm.run(&["install", "cmdbuild"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    stdout_ok(&out);
    assert!(
        stderr.contains("warning: cmdbuild 1.0-1: unmatched variable $(LVM_TEST_UNSET)"),
        "{stderr}"
    );
    let info = "share/lua/5.4/cmdbuild_info.lua";
    assert_eq!(
        read(&lvm.tree(), info),
        "return { lib = \"so\", obj = \"o\", test = \"test\", unset = \"\" }\n"
    );
    // LUA_VERSION is lvm's own addition (LuaRocks defines no such variable).
    assert_eq!(
        read(&lvm.tree(), "share/lua/5.4/cmdbuild_lua.lua"),
        "return \"5.4\"\n"
    );
    assert_eq!(
        stdout_ok(&lvm_lua(&lvm, "print((require('cmdbuild')))")).trim(),
        "built by a command"
    );

    let theirs = luarocks_install(lvm.root.path(), &[&url], &["cmdbuild"]);
    assert_eq!(read(&lvm.tree(), info), read(&theirs, info));
    assert_same_files(&lvm.tree(), &theirs);
}

#[test]
#[cfg_attr(
    not(all(lvm_has_luarocks, lvm_has_openssl_dev)),
    ignore = "needs luarocks and OpenSSL's headers (libssl-dev)"
)]
fn external_dependencies_are_found_where_luarocks_finds_them() {
    let lvm = Lvm::new();
    let url = parity_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "extprobe"]);
    let probe = "share/lua/5.4/extprobe.lua";
    let ours = read(&lvm.tree(), probe);
    let theirs = luarocks_install(lvm.root.path(), &[&url], &["extprobe"]);
    assert_eq!(ours, read(&theirs, probe));
    if Path::new("/usr/lib/x86_64-linux-gnu/libssl.so").exists()
        && !Path::new("/usr/local/include/openssl/ssl.h").exists()
    {
        // Debian's multiarch layout: the prefix is /usr, not an unchecked /usr/local.
        assert_eq!(
            ours,
            "return { dir = \"/usr\", incdir = \"/usr/include\", libdir = \"/usr/lib/x86_64-linux-gnu\" }\n"
        );
    }
}

#[test]
#[cfg_attr(
    not(all(lvm_has_luarocks, lvm_has_openssl_dev)),
    ignore = "needs luarocks and OpenSSL's headers (libssl-dev)"
)]
fn external_programs_are_found_where_luarocks_finds_them() {
    let lvm = Lvm::new();
    let url = parity_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "extprog"]);
    let probe = "share/lua/5.4/extprog.lua";
    let ours = read(&lvm.tree(), probe);
    let theirs = luarocks_install(lvm.root.path(), &[&url], &["extprog"]);
    assert_eq!(ours, read(&theirs, probe));
    assert!(ours.contains("header = \"openssl/ssl.h\""), "{ours}");
    assert!(ours.contains("shell = \"sh\""), "{ours}");

    // Pointed at a folder without the program, the install fails naming it, changing nothing.
    lvm.ok(&["remove", "extprog"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "extprog", "SHELL_BINDIR=/lvm-no-such-dir"]);
    assert!(
        err.contains("SHELL")
            && err.contains("program `sh`")
            && err.contains("/lvm-no-such-dir/sh"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs luarocks")]
fn variables_given_as_arguments_or_settings_reach_the_build_the_event_and_the_store_key() {
    let lvm = Lvm::new();
    let url = parity_server(lvm.root.path());
    lvm.init(&[&url]);
    let opt = fake_openssl(&lvm.root.path().join("opt/ssl"));
    let expected = format!(
        "return {{ dir = \"{opt}\", incdir = \"{opt}/include\", libdir = \"{opt}/lib\" }}\n"
    );
    let assignment = format!("OPENSSL_DIR={opt}");
    lvm.ok(&["install", "extprobe", &assignment]);
    let probe = "share/lua/5.4/extprobe.lua";
    assert_eq!(read(&lvm.tree(), probe), expected);
    let event = head_event(&lvm);
    assert_eq!(event["details"]["variables.OPENSSL_DIR"], opt.as_str());
    assert!(
        event["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == assignment.as_str()),
        "{event}"
    );
    let theirs = luarocks_install(lvm.root.path(), &[&url], &["extprobe", &assignment]);
    assert_eq!(read(&theirs, probe), expected);

    // The same rock with other variables is another build, not the stored one.
    lvm.ok(&["remove", "extprobe"]);
    let other = fake_openssl(&lvm.root.path().join("opt/other"));
    lvm.ok(&[
        "config",
        "set",
        "variables",
        &format!("OPENSSL_DIR={other}"),
    ]);
    let outcome: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["install", "extprobe", "--json"])).unwrap();
    assert_eq!(outcome["builds"], 1, "{outcome}");
    assert!(read(&lvm.tree(), probe).contains(&format!("dir = \"{other}\"")));
    assert_eq!(
        head_event(&lvm)["details"]["variables.OPENSSL_DIR"],
        other.as_str()
    );

    // Only variables, no package: refused, nothing changes.
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", &assignment]);
    assert!(
        err.contains("only build variables were given (OPENSSL_DIR)"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn a_missing_external_dependency_names_a_command_that_works() {
    let lvm = Lvm::new();
    let (_dir, url) = crate::common::rocks::file_server(lvm.root.path());
    lvm.init(&[&url]);
    let err = lvm.fails(&["install", "extdep"]);
    assert!(
        err.contains("`lvm install extdep FOO_DIR=/usr/local`")
            && err.contains("lvm config set variables FOO_DIR=/usr/local"),
        "{err}"
    );
    assert!(err.contains("/usr/include/lvm-no-such-header.h"), "{err}");
    let prefix = lvm.root.path().join("opt/foo");
    std::fs::create_dir_all(prefix.join("include")).unwrap();
    std::fs::write(
        prefix.join("include/lvm-no-such-header.h"),
        "#define LVM_NO_SUCH_VALUE 7\n",
    )
    .unwrap();
    lvm.ok(&[
        "install",
        "extdep",
        &format!("FOO_DIR={}", prefix.display()),
    ]);
    assert_eq!(
        stdout_ok(&lvm.lua("print((require('extdep')))")).trim(),
        "7"
    );
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs luarocks")]
fn docs_are_copied_from_doc_only_like_luarocks() {
    let lvm = Lvm::new();
    let url = parity_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "docrock"]);
    let rock = lvm.tree().join("lib/luarocks/rocks-5.4/docrock/1.0-1");
    assert!(rock.join("doc/manual.md").is_file());
    assert!(!rock.join("docs").exists() && !rock.join("doc/README.md").exists());
    let theirs = luarocks_install(lvm.root.path(), &[&url], &["docrock"]);
    assert_same_files(&lvm.tree(), &theirs);
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs luarocks")]
fn rock_dirs_keep_what_luarocks_keeps_and_no_second_copy_of_deployed_modules() {
    let lvm = Lvm::new();
    let (_, url) = crate::common::rocks::file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "hello-cli", "cmath"]);
    // `luarocks install` takes one rock (a second argument is a version).
    luarocks_install(lvm.root.path(), &[&url], &["hello-cli"]);
    let theirs = luarocks_install(lvm.root.path(), &[&url], &["cmath"]);
    assert_same_files(&lvm.tree(), &theirs);
    // The command's script stays in its rock dir (its wrapper runs it there); the modules are
    // in share/ and lib/ only.
    let rocks = lvm.tree().join("lib/luarocks/rocks-5.4");
    assert!(rocks.join("hello-cli/1.0-1/bin/hello-cli").is_file());
    assert!(!rocks.join("hello-cli/1.0-1/lua").exists());
    assert!(!rocks.join("cmath/1.0-1/lib").exists());
    let which = lvm.ok(&["which", "cmath"]);
    assert!(which.contains("lib/lua/5.4/cmath.so"), "{which}");
    assert_eq!(
        stdout_ok(&lvm.lua("print(require('cmath').gcd(12, 18))")).trim(),
        "6"
    );
}

#[test]
fn a_build_type_from_a_backend_rock_is_refused_naming_the_rock() {
    let lvm = Lvm::new();
    let url = parity_server(lvm.root.path());
    lvm.init(&[&url]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "plugin"]);
    assert!(
        err.contains("luarocks-build-treesitter-parser")
            && err.contains("builtin, make, cmake, command and none"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs luarocks")]
fn a_published_src_rock_is_preferred_so_a_dead_source_url_still_installs() {
    dead_source_url_installs_from_its_src_rock("tar.gz");
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs luarocks")]
fn a_src_rock_packed_for_a_zip_source_url_holds_a_zip_both_tools_install() {
    dead_source_url_installs_from_its_src_rock("zip");
}

/// A rockspec whose `source.url` (ending in `.extension`) is dead, packed by `lvm pack` and
/// installed by lvm and by LuaRocks from the source rock alone, with the same files.
fn dead_source_url_installs_from_its_src_rock(extension: &str) {
    let lvm = Lvm::new();
    let root = lvm.root.path();
    let sources = root.join("sources");
    write_rock(&sources, "deadsrc", "1.0-1", "lua >= 5.1");
    let server = root.join("server");
    std::fs::create_dir_all(&server).unwrap();
    let url = format!("file://{}", server.display());
    // The rockspec points at a host that is gone; the server keeps its .src.rock.
    let source_dir = sources.join("deadsrc-1.0-1");
    let rockspec = server.join("deadsrc-1.0-1.rockspec");
    let text = std::fs::read_to_string(source_dir.join("deadsrc-1.0-1.rockspec")).unwrap();
    std::fs::write(
        &rockspec,
        text.replace(
            "@SERVER@/deadsrc-1.0-1.tar.gz",
            &format!("file:///nonexistent/gone/deadsrc-1.0.{extension}"),
        ),
    )
    .unwrap();
    let rock = lvm::ops::publish::pack_src_rock(&rockspec, &source_dir, &server).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&rock).unwrap()).unwrap();
    let mut archive = zip.by_name(&format!("deadsrc-1.0.{extension}")).unwrap();
    let mut magic = [0u8; 2];
    std::io::Read::read_exact(&mut archive, &mut magic).unwrap();
    let expected: &[u8] = if extension == "zip" {
        b"PK"
    } else {
        b"\x1f\x8b"
    };
    assert_eq!(magic, expected, "the archive's kind follows its name");
    drop(archive);
    lvm::ops::publish::make_manifest(&server).unwrap();

    lvm.init(&[&url]);
    lvm.ok(&["install", "deadsrc"]);
    assert_eq!(
        stdout_ok(&lvm.lua("print((require('deadsrc')))")).trim(),
        "1.0-1"
    );
    let theirs = luarocks_install(root, &[&url], &["deadsrc"]);
    assert_same_files(&lvm.tree(), &theirs);
}

/// A server on 127.0.0.1 with `devpick 1.0-1` and, in its `dev` sub-server, `devpick scm-1`;
/// the main server also lists `wordver` 1.0-1 and scm-1. (HTTP: Debian's LuaRocks 3.8 drops a
/// slash of `file:///` URLs when it appends `/dev`.)
fn server_with_dev(root: &Path) -> (TestServer, String) {
    let sources = root.join("sources");
    write_rock(&sources, "devpick", "1.0-1", "lua >= 5.1");
    write_rock(&sources, "wordver", "1.0-1", "lua >= 5.1");
    write_rock(&sources, "wordver", "scm-1", "lua >= 5.1");
    let dev_sources = root.join("dev-sources");
    write_rock(&dev_sources, "devpick", "scm-1", "lua >= 5.1");
    let dir = root.join("server");
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::serve(&dir);
    let url = server.url();
    publish_dir(&sources, &dir, &url);
    publish_dir(&dev_sources, &dir.join("dev"), &format!("{url}/dev"));
    (server, url)
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs luarocks")]
fn dev_reads_dev_sub_servers_and_lets_development_versions_win_like_luarocks() {
    let lvm = Lvm::new();
    let root = lvm.root.path();
    let (_server, url) = server_with_dev(root);
    lvm.init(&[&url]);
    lvm.ok(&["install", "devpick"]);
    assert_eq!(lvm.installed(), ["devpick 1.0-1"]);
    lvm.ok(&["--dev", "install", "devpick", "scm-1"]);
    assert_eq!(lvm.installed(), ["devpick scm-1"]);

    // The setting does what the flag does.
    let other = Lvm::new();
    other.init(&[&url]);
    other.ok(&["config", "set", "dev", "true"]);
    other.ok(&["install", "devpick"]);
    assert_eq!(other.installed(), ["devpick scm-1"]);

    let listed = |tree: &Path| {
        let out = luarocks(root, &[&url])
            .arg("--tree")
            .arg(tree)
            .args(["list", "--porcelain"])
            .output()
            .unwrap();
        stdout_ok(&out)
    };
    let plain = root.join("lr-plain");
    stdout_ok(
        &luarocks(root, &[&url])
            .arg("--tree")
            .arg(&plain)
            .args(["install", "devpick"])
            .output()
            .unwrap(),
    );
    assert!(listed(&plain).contains("devpick\t1.0-1"));
    let dev = root.join("lr-dev");
    stdout_ok(
        &luarocks(root, &[&url])
            .args(["--dev", "--tree"])
            .arg(&dev)
            .args(["install", "devpick"])
            .output()
            .unwrap(),
    );
    assert!(listed(&dev).contains("devpick\tscm-1"));
}

#[test]
fn an_explicit_word_version_installs_without_dev() {
    let lvm = Lvm::new();
    let (_server, url) = server_with_dev(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "wordver"]);
    assert_eq!(lvm.installed(), ["wordver 1.0-1"]);
    lvm.ok(&["install", "wordver", "scm-1"]);
    assert_eq!(lvm.installed(), ["wordver scm-1"]);
    assert_eq!(
        stdout_ok(&lvm.lua("print((require('wordver')))")).trim(),
        "scm-1"
    );
}

/// name → version → arches of a server manifest file.
fn listed(file: &Path) -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let manifest =
        lvm::registry::ServerManifest::parse_lua(&text, &file.display().to_string()).unwrap();
    manifest
        .packages
        .iter()
        .flat_map(|(name, versions)| {
            versions.iter().flat_map(move |(version, arches)| {
                arches
                    .iter()
                    .map(move |a| (name.clone(), version.to_string(), a.clone()))
            })
        })
        .collect()
}

#[test]
#[cfg_attr(not(lvm_has_luarocks_admin), ignore = "needs luarocks-admin")]
fn make_manifest_leaves_out_rocks_whose_lua_excludes_the_version_like_luarocks_admin() {
    let lvm = Lvm::new();
    let root = lvm.root.path();
    let sources = root.join("sources");
    write_rock(&sources, "only51", "1.0-1", "lua ~> 5.1");
    write_rock(&sources, "modern", "1.0-1", "lua >= 5.3");
    write_rock(&sources, "modern", "0.9-1", "lua >= 5.1");
    write_rock(&sources, "anylua", "1.0-1", "lua >= 5.1, < 5.5");
    write_rock(&sources, "nolua", "1.0-1", "");
    let ours = root.join("ours");
    publish_dir_matching(&sources, &ours, "file:///srv", |_| true);
    let theirs = root.join("theirs");
    crate::common::rocks::copy_dir(&ours, &theirs);
    for file in lvm::ops::publish::MANIFEST_FILES {
        let _ = std::fs::remove_file(theirs.join(file));
    }
    lvm.ok(&["make-manifest", &ours.display().to_string()]);
    let out = Command::new("luarocks-admin")
        .env("HOME", root.join("luarocks-home"))
        .args(["--lua-version", "5.4", "make-manifest"])
        .arg(&theirs)
        .output()
        .unwrap();
    stdout_ok(&out);
    for file in [
        "manifest",
        "manifest-5.1",
        "manifest-5.2",
        "manifest-5.3",
        "manifest-5.4",
    ] {
        assert_eq!(
            listed(&ours.join(file)),
            listed(&theirs.join(file)),
            "{file}"
        );
    }
    let names = |file: &str| -> BTreeSet<String> {
        listed(&ours.join(file))
            .into_iter()
            .map(|(n, v, _)| format!("{n} {v}"))
            .collect()
    };
    assert!(names("manifest-5.4").contains("modern 1.0-1"));
    assert!(!names("manifest-5.4").contains("only51 1.0-1"));
    assert!(
        names("manifest-5.1").contains("only51 1.0-1")
            && names("manifest-5.1").contains("modern 0.9-1")
    );
    assert!(!names("manifest-5.1").contains("modern 1.0-1"));
    assert!(
        !names("manifest-5.5").contains("anylua 1.0-1")
            && names("manifest-5.5").contains("nolua 1.0-1")
    );
}

#[test]
fn lint_accepts_install_entries_naming_built_modules_and_flags_two_sources_for_one_file() {
    let lvm = Lvm::new();
    let bundled = parity_fixtures().join("bundled-1.0-1/bundled-1.0-1.rockspec");
    let out = lvm.ok(&["lint", &bundled.display().to_string()]);
    assert!(out.trim().ends_with("bundled-1.0-1.rockspec: ok"), "{out}");

    let clash = lvm.root.path().join("clash-1.0-1.rockspec");
    std::fs::write(
        &clash,
        "package = \"clash\"\nversion = \"1.0-1\"\nsource = { url = \"https://rocks.example.org/clash-1.0-1.tar.gz\" }\n\
         build = { type = \"builtin\", modules = { clash = \"src/clash.lua\" },\n\
           install = { lua = { clash = \"other/clash.lua\" }, conf = { [\"../etc/clash.conf\"] = \"clash.conf\" } } }\n",
    )
    .unwrap();
    let out = lvm.run(&["lint", &clash.display().to_string()]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "warning: build.install.lua[\"clash\"]: installs lua/clash.lua from `other/clash.lua`"
        ),
        "{text}"
    );
    assert!(
        text.contains("error: build.install.conf[\"../etc/clash.conf\"]"),
        "{text}"
    );
}
