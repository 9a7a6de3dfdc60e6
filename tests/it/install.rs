//! The install pipeline end to end through the `lvm` binary: fixture rocks served from a folder
//! and over HTTP on 127.0.0.1, real builds (C included), the store, and a tree that Debian's
//! `lua5.4` and `luarocks` understand.

use crate::common::http_server::TestServer;
use crate::common::rocks::{
    Lvm, file_server, publish_fixtures, publish_fixtures_matching, stdout_ok,
};

#[test]
fn installs_a_dependency_chain_from_a_file_server() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let out = lvm.ok(&["install", "chain-a"]);
    assert!(out.contains("+ chain-c 1.0-1"), "{out}");
    let list = lvm.ok(&["list"]);
    assert!(list.contains("chain-a 1.0-1  (requested)"), "{list}");
    assert!(
        list.contains("chain-c 1.0-1  (dependency of chain-b)"),
        "{list}"
    );
    let lua = stdout_ok(&lvm.lua("print(require('chain_a').chain())"));
    assert_eq!(lua.trim(), "chain-a>chain-b>chain-c");
}

#[test]
fn diamond_picks_the_newest_version_both_sides_allow() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "dia-top"]);
    let json: serde_json::Value = serde_json::from_str(&lvm.ok(&["list", "--json"])).unwrap();
    let base = json
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dia-base")
        .unwrap();
    assert_eq!(base["version"], "1.5-1");
}

#[test]
fn conflict_is_explained_and_changes_nothing() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "clash-app"]);
    assert!(err.contains("clash-x") && err.contains("clash-y"), "{err}");
    assert!(err.contains("dia-base"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn c_module_builds_and_loads_in_debian_lua() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "cmath"]);
    let out = stdout_ok(&lvm.lua("local m = require('cmath'); print(m.gcd(84, -36), m.flavour)"));
    assert_eq!(out.trim(), "12\tfixture");
}

#[test]
fn second_environment_hits_the_store_without_compiling() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let first = lvm.ok(&["install", "cmath", "hello-cli"]);
    assert!(first.contains("(3 built, 0 from the store)"), "{first}");
    // Same home (store), another environment; with no compiler on PATH, any compile would fail.
    let other = lvm.root.path().join("env2");
    let run = |args: &[&str]| {
        let out = lvm
            .command()
            .env("LVM_ENV", &other)
            .env("PATH", "/nonexistent")
            .args(args)
            .output()
            .unwrap();
        stdout_ok(&out)
    };
    run(&["init", "--server", &url]);
    let second = run(&["install", "cmath", "hello-cli"]);
    assert!(second.contains("(0 built, 3 from the store)"), "{second}");
}

#[test]
fn installs_over_http_and_reports_server_errors() {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("http-server");
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::serve(&dir);
    publish_fixtures(&dir, &server.url());
    lvm.init(&[&server.url()]);
    lvm.ok(&["install", "hello-cli"]);
    let out = stdout_ok(&lvm.lua("print(require('hello').greet('  http  '))"));
    assert_eq!(out.trim(), "hello, http");

    server.respond_500("/chain-a-1.0-1.tar.gz");
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", "chain-a"]);
    assert!(
        err.contains("500") && err.contains("chain-a-1.0-1.tar.gz"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn bin_script_wrapper_runs_from_any_directory() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "hello-cli"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(lvm.tree().join("bin/hello-cli"))
        .arg("  wrapper ")
        .current_dir(elsewhere.path())
        .env_remove("LUA_PATH")
        .env_remove("LUA_CPATH")
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out).trim(), "hello, wrapper");
}

#[test]
fn make_built_rock_installs() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "makerock"]);
    let out = stdout_ok(&lvm.lua("print(require('makerock').greeting)"));
    assert_eq!(out.trim(), "made by make");
}

#[test]
fn debian_luarocks_lists_the_tree() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-a", "cmath"]);
    let out = std::process::Command::new("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(lvm.tree())
        .args(["list", "--porcelain"])
        .output()
        .unwrap();
    let listed = stdout_ok(&out);
    for rock in [
        "chain-a\t1.0-1",
        "chain-b\t1.0-1",
        "chain-c\t1.0-1",
        "cmath\t1.0-1",
    ] {
        assert!(listed.contains(rock), "{rock} missing from:\n{listed}");
    }
}

/// Debian's luarocks with its home (config, caches) in a temp dir, so tests share nothing.
fn luarocks(home: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("luarocks");
    cmd.env("HOME", home)
        .env_remove("LUA_PATH")
        .env_remove("LUA_CPATH")
        .env_remove("LUAROCKS_CONFIG")
        .args(["--lua-version", "5.4"]);
    cmd
}

#[test]
fn debian_luarocks_shows_a_rock_of_the_tree() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "hello-cli"]);
    let home = lvm.root.path().join("luarocks-home");
    let out = luarocks(&home)
        .arg("--tree")
        .arg(lvm.tree())
        .args(["show", "strutil"])
        .output()
        .unwrap();
    let shown = stdout_ok(&out);
    assert!(shown.contains("strutil 1.1-1"), "{shown}");
    assert!(shown.contains("String helpers (test fixture)"), "{shown}");
    assert!(shown.contains("MIT"), "{shown}");
    let module = format!(
        "strutil ({}/share/lua/5.4/strutil.lua)",
        lvm.tree().display()
    );
    assert!(shown.contains(&module), "{shown}");
    let out = luarocks(&home)
        .arg("--tree")
        .arg(lvm.tree())
        .args(["show", "--deps", "hello-cli"])
        .output()
        .unwrap();
    let deps = stdout_ok(&out);
    assert!(deps.contains("strutil"), "{deps}");
    let out = luarocks(&home)
        .arg("--tree")
        .arg(lvm.tree())
        .args(["list", "--porcelain"])
        .output()
        .unwrap();
    let listed = stdout_ok(&out);
    assert!(listed.contains("hello-cli\t1.0-1\tinstalled"), "{listed}");
}

#[test]
fn debian_luarocks_installs_from_a_server_lvm_published() {
    let root = tempfile::tempdir().unwrap();
    let (_dir, url) = file_server(root.path());
    let tree = root.path().join("luarocks-tree");
    let out = luarocks(&root.path().join("luarocks-home"))
        .args(["install", "--only-server", &url, "--tree"])
        .arg(&tree)
        .arg("hello-cli")
        .output()
        .unwrap();
    let log = stdout_ok(&out);
    assert!(log.contains("hello-cli 1.0-1 is now installed"), "{log}");
    let out = std::process::Command::new("lua5.4")
        .env(
            "LUA_PATH",
            format!("{}/share/lua/5.4/?.lua;;", tree.display()),
        )
        .args([
            "-e",
            "print(require('hello').greet('  luarocks  '), require('strutil').version)",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out).trim(), "hello, luarocks\t1.1");
}

#[test]
fn installing_again_keeps_the_constraint_and_a_new_one_says_old_and_new() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "< 1.1"]);
    let requested = |lvm: &Lvm| -> serde_json::Value {
        let list: serde_json::Value = serde_json::from_str(&lvm.ok(&["list", "--json"])).unwrap();
        list.as_array().unwrap()[0]["requested"].clone()
    };
    assert_eq!(requested(&lvm), "< 1.1");

    // The bare name again: same version, same constraint, nothing recorded.
    let out = lvm.ok(&["install", "strutil"]);
    assert_eq!(out.trim(), "Nothing to do: strutil already installed");
    assert_eq!(requested(&lvm), "< 1.1");
    assert_eq!(lvm.installed(), ["strutil 1.0-1"]);

    // A new constraint replaces it, and the output says from what to what.
    let out = lvm.ok(&["install", "strutil >= 1.1"]);
    assert!(out.contains("~ strutil 1.0-1 → 1.1-1 (upgraded)"), "{out}");
    assert!(out.contains("requested: '< 1.1' → '>= 1.1'"), "{out}");
    assert_eq!(requested(&lvm), ">= 1.1");
}

#[test]
fn verbose_shows_lvms_own_log_and_the_resolvers_only_at_three_vs() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let stderr = |args: &[&str]| {
        let out = lvm.command().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let one = stderr(&["-v", "install", "chain-b"]);
    assert!(one.contains("DEBUG") && one.contains("lvm"), "{one}");
    assert!(
        !one.contains("pubgrub"),
        "-v shows only lvm's lines:\n{one}"
    );
    let three = stderr(&["-vvv", "install", "chain-a"]);
    assert!(
        three.contains("pubgrub"),
        "-vvv shows the resolver's lines too:\n{three}"
    );
}

/// An HTTP rocks server on 127.0.0.1 publishing the fixture rocks `keep` accepts, from a folder
/// under the test's root.
fn http_server(lvm: &Lvm, keep: impl Fn(&str) -> bool) -> (std::path::PathBuf, TestServer) {
    let dir = lvm.root.path().join("http-server");
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::serve(&dir);
    publish_fixtures_matching(&dir, &server.url(), keep);
    (dir, server)
}

#[test]
fn a_manifest_fetched_within_manifest_max_age_is_used_without_asking_the_server() {
    let lvm = Lvm::new();
    let (dir, server) = http_server(&lvm, |n| n == "strutil-1.0-1" || n == "hello-cli-1.0-1");
    lvm.init(&[&server.url()]);
    // A window no slow test run outlasts.
    lvm.ok(&["config", "set", "manifest_max_age", "3600"]);
    lvm.ok(&["install", "hello-cli"]);
    let asked = server.requests("/manifest-5.4");
    assert!(asked >= 1, "the manifest was never fetched");

    // The server publishes a newer strutil; within the window lvm does not ask.
    publish_fixtures_matching(&dir, &server.url(), |n| n == "strutil-1.1-1");
    lvm.ok(&["install", "strutil"]);
    assert_eq!(
        server.requests("/manifest-5.4"),
        asked,
        "asked within the window"
    );
    assert!(lvm.installed().contains(&"strutil 1.0-1".to_string()));

    // --refresh asks now: the changed manifest is downloaded whole and its version is seen.
    lvm.ok(&["--refresh", "upgrade", "strutil"]);
    assert_eq!(server.requests("/manifest-5.4"), asked + 1);
    assert_eq!(server.not_modified("/manifest-5.4"), 0);
    assert!(lvm.installed().contains(&"strutil 1.1-1".to_string()));
}

#[test]
fn an_unchanged_manifest_is_confirmed_by_a_304_and_used_from_the_cache() {
    let lvm = Lvm::new();
    let (_dir, server) = http_server(&lvm, |n| n.starts_with("chain-"));
    lvm.init(&[&server.url()]);
    // Every command asks the server.
    lvm.ok(&["config", "set", "manifest_max_age", "0"]);
    lvm.ok(&["install", "chain-c"]);
    let (asked, confirmed) = (
        server.requests("/manifest-5.4"),
        server.not_modified("/manifest-5.4"),
    );
    lvm.ok(&["install", "chain-a"]);
    assert_eq!(server.requests("/manifest-5.4"), asked + 1);
    assert_eq!(server.not_modified("/manifest-5.4"), confirmed + 1);
    let out = stdout_ok(&lvm.lua("print(require('chain_a').chain())"));
    assert_eq!(out.trim(), "chain-a>chain-b>chain-c");
}

#[test]
fn source_archives_are_downloaded_once_per_lvm_home() {
    let lvm = Lvm::new();
    let (_dir, server) = http_server(&lvm, |n| n == "hello-cli-1.0-1" || n == "strutil-1.0-1");
    lvm.init(&[&server.url()]);
    lvm.ok(&["install", "hello-cli"]);
    lvm.ok(&["remove", "hello-cli"]);
    let out = lvm.ok(&["install", "hello-cli"]);
    assert!(out.contains("(0 built, 2 from the store)"), "{out}");
    assert_eq!(server.requests("/hello-cli-1.0-1.tar.gz"), 1);
    assert_eq!(server.requests("/strutil-1.0-1.tar.gz"), 1);
    let out = stdout_ok(&lvm.lua("print(require('hello').greet('  again  '))"));
    assert_eq!(out.trim(), "hello, again");

    // A store entry that no longer matches its hashes is built again, from the cached archive
    // (put in the build's folder only then), not from a new download.
    let entry = walkdir::WalkDir::new(lvm.home().join("store/rocks"))
        .into_iter()
        .flatten()
        .find(|e| e.file_name() == "strutil.lua")
        .expect("strutil's module in the store")
        .into_path();
    let mut perms = std::fs::metadata(&entry).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&entry, perms).unwrap();
    std::fs::write(&entry, "return 'damaged'\n").unwrap();
    lvm.ok(&["remove", "hello-cli"]);
    let out = lvm.ok(&["install", "hello-cli"]);
    assert!(out.contains("(1 built, 1 from the store)"), "{out}");
    assert_eq!(server.requests("/strutil-1.0-1.tar.gz"), 1);
    let out = stdout_ok(&lvm.lua("print(require('hello').greet('  built  '))"));
    assert_eq!(out.trim(), "hello, built");
}

#[test]
fn gc_removes_cached_source_archives_no_kept_state_was_built_from() {
    let lvm = Lvm::new();
    let (_dir, server) = http_server(&lvm, |n| n == "hello-cli-1.0-1" || n == "strutil-1.0-1");
    lvm.init(&[&server.url()]);
    lvm.ok(&["install", "hello-cli"]);
    let cache = lvm.home().join("cache/sources");
    let cached = |name: &str| {
        walkdir::WalkDir::new(&cache)
            .into_iter()
            .flatten()
            .find(|e| e.file_name().to_string_lossy() == name)
            .map(|e| e.into_path())
    };
    let hello = cached("hello-cli-1.0-1.tar.gz").expect("cached");
    let strutil = cached("strutil-1.0-1.tar.gz").expect("cached");
    // Downloaded long ago, out of the grace an install in flight gets.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for file in [&hello, &strutil] {
        let f = std::fs::File::options().write(true).open(file).unwrap();
        f.set_modified(an_hour_ago).unwrap();
    }
    lvm.ok(&["remove", "hello-cli"]);
    lvm.ok(&["install", "strutil"]);

    // Every state still needs both while the history keeps them.
    lvm.ok(&["gc"]);
    assert!(hello.exists() && strutil.exists());
    // Only the head counts with --older-than 0: hello-cli's archive goes, strutil's stays.
    let json: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["gc", "--older-than", "0", "--dry-run", "--json"])).unwrap();
    assert_eq!(
        json["archives_removed"],
        serde_json::json!([hello.display().to_string()])
    );
    assert!(hello.exists(), "a dry run removed it");
    let out = lvm.ok(&["gc", "--older-than", "0"]);
    assert!(out.contains("Removed 1 cached source archive(s)"), "{out}");
    assert!(!hello.exists() && strutil.exists());
    assert!(!hello.parent().unwrap().exists(), "its empty folder stays");

    // Needed again, it is downloaded again.
    lvm.ok(&["install", "hello-cli"]);
    assert_eq!(server.requests("/hello-cli-1.0-1.tar.gz"), 2);
}

#[test]
fn packages_prepared_side_by_side_give_the_state_of_one_compile_at_a_time() {
    // 6 pure-Lua rocks and 3 two-file C rocks under `par`.
    let root = tempfile::tempdir().unwrap();
    let server = crate::common::rocks::serve_side_by_side_closure(
        root.path(),
        "par",
        6,
        &["par-c1", "par-c2", "par-c3"],
        &[],
    );
    let mut manifests = Vec::new();
    for jobs in ["1", "4"] {
        let lvm = Lvm::new();
        lvm.init(&[&server.url()]);
        let out = lvm
            .command()
            .env("LVM_JOBS", jobs)
            .args(["install", "par"])
            .output()
            .unwrap();
        let text = stdout_ok(&out);
        assert!(text.contains("+ par-c3 1.0-1"), "{text}");
        let lua = stdout_ok(&lvm.lua(
            "local c1, c3 = require('par_c1'), require('par_c3'); print(require('par').name, c1.name, c1.length, c3.length)",
        ));
        assert_eq!(lua.trim(), "par\tpar-c1\t6\t6");
        manifests.push(std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap());
    }
    assert_eq!(manifests[0], manifests[1]);
    // Each install fetched every rockspec and archive once, the rockspecs fetched ahead of
    // the resolver included.
    for file in [
        "par-1.0-1.rockspec",
        "par-lua4-1.0-1.rockspec",
        "par-c2-1.0-1.tar.gz",
    ] {
        assert_eq!(server.requests(&format!("/{file}")), 2, "{file}");
    }
}

#[test]
fn rockspecs_fetched_ahead_of_the_resolver_skip_newer_versions_of_installed_packages() {
    let lvm = Lvm::new();
    let (dir, server) = http_server(&lvm, |n| n == "dia-left-1.0-1" || n == "dia-base-1.0-1");
    lvm.init(&[&server.url()]);
    lvm.ok(&["config", "set", "manifest_max_age", "0"]);
    lvm.ok(&["install", "dia-left"]);
    // The server gains dia-base 2.0-1; dia-left (dia-base >= 1.0) keeps the installed 1.0-1
    // when another package is installed, so the newer rockspec is never read.
    publish_fixtures_matching(&dir, &server.url(), |n| {
        n == "dia-base-2.0-1" || n == "strutil-1.0-1"
    });
    lvm.ok(&["install", "strutil"]);
    assert!(lvm.installed().contains(&"dia-base 1.0-1".to_string()));
    assert_eq!(server.requests("/strutil-1.0-1.rockspec"), 1);
    assert_eq!(server.requests("/dia-base-2.0-1.rockspec"), 0);
}

#[test]
fn server_rockspecs_are_remembered_evaluated_and_gc_forgets_older_builds_memos() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-a"]);
    let base = lvm.home().join("cache/rockspecs");
    let builds: Vec<std::path::PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(builds.len(), 1, "one folder for this lvm build: {builds:?}");
    let remembered = || std::fs::read_dir(&builds[0]).unwrap().count();
    assert_eq!(remembered(), 3, "chain-a, chain-b and chain-c");

    // What the memo says is what an install uses: here chain-c's module goes elsewhere.
    let chain_c = std::fs::read_dir(&builds[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).unwrap().contains("\"chain-c\""))
        .expect("chain-c's memo");
    let text = std::fs::read_to_string(&chain_c).unwrap();
    assert!(text.contains("\"chain_c\":"), "{text}");
    std::fs::write(
        &chain_c,
        text.replace("\"chain_c\":", "\"chain_c_remembered\":"),
    )
    .unwrap();
    lvm.ok(&["remove", "chain-a", "chain-b", "chain-c"]);
    // The builds go too, so the next install builds from what the memo says.
    lvm.ok(&["gc", "--older-than", "0"]);
    lvm.ok(&["install", "chain-a"]);
    let tree = lvm.tree().join("share/lua/5.4");
    assert!(tree.join("chain_c_remembered.lua").is_file());
    assert_eq!(remembered(), 3);

    let older = base.join("0123456789abcdef");
    std::fs::create_dir_all(&older).unwrap();
    std::fs::write(older.join("old.json"), "{}").unwrap();
    let json: serde_json::Value = serde_json::from_str(&lvm.ok(&["gc", "--json"])).unwrap();
    assert_eq!(json["rockspec_memos_removed"], 1, "{json}");
    assert!(!older.exists());
    assert_eq!(remembered(), 3, "this build's memo stays");
}
