//! The package commands through the `lvm` binary: `remove` (with the dependencies nothing else
//! needs, refusing to break dependents), `list`/`show`/`search` with `--json`, `path` evaluated
//! by `sh` for Debian's `lua5.4`, `gc`, and progress that stays off stdout.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common;
use crate::common::http_server::TestServer;
use crate::common::rocks::{Lvm, file_server, stdout_ok};

fn installed(lvm: &Lvm) -> BTreeSet<String> {
    lvm.installed().into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn remove_takes_orphaned_dependencies_along() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-a", "strutil"]);
    let out = lvm.ok(&["remove", "chain-a"]);
    for gone in ["- chain-a 1.0-1", "- chain-b 1.0-1", "- chain-c 1.0-1"] {
        assert!(out.contains(gone), "{out}");
    }
    assert_eq!(installed(&lvm), set(&["strutil 1.1-1"]));
    assert!(!lvm.tree().join("share/lua/5.4/chain_c.lua").exists());

    let before = lvm.snapshot();
    let err = lvm.fails(&["remove", "chain-a"]);
    assert!(err.contains("chain-a is not installed"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn remove_refuses_to_break_a_dependent_unless_forced() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "hello-cli", "chain-c"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["remove", "strutil"]);
    assert!(
        err.contains("strutil is needed by hello-cli") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);

    let out = lvm.ok(&["remove", "--force", "strutil"]);
    assert!(
        out.contains("- strutil") && out.contains("- hello-cli"),
        "{out}"
    );
    assert_eq!(installed(&lvm), set(&["chain-c 2.0-1"]));
    assert!(!lvm.tree().join("bin/hello-cli").exists());
}

#[test]
fn remove_keeps_a_dependency_the_user_asked_for() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "hello-cli"]);
    lvm.ok(&["remove", "hello-cli"]);
    assert_eq!(installed(&lvm), set(&["strutil 1.1-1"]));
}

#[test]
fn list_show_and_search_as_text_and_json() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let empty = lvm.ok(&["list"]);
    assert!(empty.contains("No packages installed"), "{empty}");
    assert_eq!(lvm.ok(&["list", "--json"]).trim(), "[]");
    lvm.ok(&["install", "hello-cli"]);

    let json: serde_json::Value = serde_json::from_str(&lvm.ok(&["list", "--json"])).unwrap();
    let strutil = json
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "strutil")
        .unwrap();
    assert_eq!(strutil["version"], "1.1-1");
    assert_eq!(strutil["required_by"], serde_json::json!(["hello-cli"]));
    assert_eq!(strutil["source"], url.as_str());

    let show = lvm.ok(&["show", "hello-cli"]);
    assert!(show.starts_with("hello-cli 1.0-1\n"), "{show}");
    assert!(
        show.contains("A command-line script (test fixture)"),
        "{show}"
    );
    assert!(show.contains("commands:     hello-cli"), "{show}");
    assert!(show.contains("modules:      hello"), "{show}");
    let show: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["show", "strutil", "--json"])).unwrap();
    assert_eq!(show["name"], "strutil");
    assert_eq!(show["package"]["version"], "1.1-1");
    assert_eq!(show["package"]["source"]["kind"], "server");
    assert_eq!(show["modules"], serde_json::json!(["strutil"]));
    assert_eq!(show["summary"], "String helpers (test fixture)");
    let err = lvm.fails(&["show", "chain-z"]);
    assert!(
        err.contains("chain-z is neither installed nor on any configured rocks server"),
        "{err}"
    );

    let hits: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["search", "chain", "--json"])).unwrap();
    let names: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chain-a", "chain-b", "chain-c"]);
    assert_eq!(hits[2]["versions"], serde_json::json!(["2.0-1", "1.0-1"]));
    assert_eq!(hits[2]["servers"], serde_json::json!([url]));
    // The summary of the newest rockspec comes along.
    assert_eq!(hits[2]["summary"], "Chain fixture chain-c");
    let text = lvm.ok(&["search", "chain-c"]);
    assert_eq!(
        text.trim(),
        format!("chain-c 2.0-1 1.0-1  ({url})  — Chain fixture chain-c")
    );
    // A rockspec without a summary shows none.
    let text = lvm.ok(&["search", "dia-b"]);
    assert_eq!(text.trim(), format!("dia-base 2.0-1 1.5-1 1.0-1  ({url})"));
    // No match is a result: exit 0 in text and JSON alike.
    let out = lvm.run(&["search", "no-such-thing"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No package matches 'no-such-thing'\n"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let none: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["search", "no-such-thing", "--json"])).unwrap();
    assert_eq!(none, serde_json::json!([]));
}

#[test]
fn search_lists_each_package_once_with_its_versions_across_servers_in_priority_order() {
    let lvm = Lvm::new();
    let (_dir, url_a) = file_server(lvm.root.path());
    let b = lvm.root.path().join("server-b");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        b.join("manifest"),
        r#"repository = {
   ["dia-base"] = { ["9.0-1"] = { { arch = "rockspec" } }, ["1.0-1"] = { { arch = "src" } } },
   ["dia-extra"] = { ["0.1-1"] = { { arch = "rockspec" } } },
}
"#,
    )
    .unwrap();
    let url_b = format!("file://{}", b.display());
    lvm.init(&[&url_a, &url_b]);

    // Each package once: its newest versions across the servers, and which servers have it.
    // Server B publishes no rockspec files: the search still answers, without those summaries.
    let text = lvm.ok(&["search", "dia-"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!("dia-base 9.0-1 2.0-1 1.5-1 +1 older  ({url_a}, {url_b})"),
            format!("dia-extra 0.1-1  ({url_b})"),
            format!("dia-left 1.0-1  ({url_a})"),
            format!("dia-right 1.0-1  ({url_a})"),
            format!("dia-top 1.0-1  ({url_a})"),
        ]
    );

    // `--server` goes first; a server listed twice counts where it comes first.
    let hits: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["search", "dia-base", "--json", "--server", &url_b]))
            .unwrap();
    assert_eq!(
        hits,
        serde_json::json!([
            {
                "name": "dia-base",
                "versions": ["9.0-1", "2.0-1", "1.5-1", "1.0-1"],
                "servers": [url_b, url_a],
            },
        ])
    );

    // Later searches read the servers' parsed manifests from the cache, with the same answer.
    let cached: Vec<_> = walkdir::WalkDir::new(lvm.home().join("cache"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() == "manifest.lvm-parsed")
        .collect();
    assert_eq!(cached.len(), 2, "{cached:?}");
    assert_eq!(lvm.ok(&["search", "dia-"]), text);

    // An unreadable server is skipped with a warning; none readable is an error.
    let gone = format!("file://{}", lvm.root.path().join("gone").display());
    let out = lvm.ok(&["search", "dia-extra", "--server", &gone]);
    assert_eq!(out.trim(), format!("dia-extra 0.1-1  ({url_b})"));
    let err = lvm.fails(&["search", "dia", "--only-server", &gone]);
    assert!(
        err.contains("no rocks server could be read") && err.contains(&gone),
        "{err}"
    );
}

/// A rockspec for a package with nothing to build, with `summary`.
/// Outside every environment (none named, no `.lvm/` above, no default one), `lvm search`
/// reads the servers the settings name and creates nothing; with none it says how to name one.
#[test]
fn search_works_outside_every_environment_with_the_servers_of_the_settings() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    let elsewhere = lvm.root.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let outside = |configure: &dyn Fn(&mut std::process::Command)| {
        let mut cmd = lvm.command();
        cmd.env_remove("LVM_ENV")
            .current_dir(&elsewhere)
            .args(["search", "dia-"]);
        configure(&mut cmd);
        cmd.output().unwrap()
    };
    let by_variable = stdout_ok(&outside(&|c| {
        c.env("LVM_SERVERS", &url);
    }));
    assert!(by_variable.contains("dia-base 2.0-1"), "{by_variable}");
    let by_flag = stdout_ok(&outside(&|c| {
        c.args(["--server", &url]);
    }));
    assert_eq!(by_flag, by_variable);
    lvm.ok(&["config", "set", "--user", "servers", &url]);
    let by_user_file = stdout_ok(&outside(&|_| {}));
    assert_eq!(by_user_file, by_variable);
    assert!(
        !lvm.home().join("envs/default").exists(),
        "a search outside must not create the default environment"
    );

    lvm.ok(&["config", "unset", "--user", "servers"]);
    let none = outside(&|_| {});
    assert_eq!(none.status.code(), Some(1));
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        err.contains("no rocks server to search") && err.contains("--server URL"),
        "{err}"
    );
}

fn summary_rockspec(name: &str, summary: &str) -> String {
    format!(
        "package = \"{name}\"\nversion = \"1.0-1\"\nsource = {{ url = \"http://example.invalid/{name}.tar.gz\" }}\n\
         description = {{ summary = \"{summary}\" }}\nbuild = {{ type = \"builtin\", modules = {{}} }}\n"
    )
}

#[test]
fn search_reads_summaries_for_a_bounded_number_of_matches_through_the_download_cache() {
    let limit = lvm::ops::search::SUMMARY_LIMIT;
    assert_eq!(limit, 20, "`lvm search --help` names the limit");
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("served");
    std::fs::create_dir_all(&dir).unwrap();
    // `many` and many-00 … many-24: more matches than the limit. many-00 is published only as
    // a source rock, so its summary is read from the rockspec inside.
    let mut names = vec!["many".to_string()];
    names.extend((0..25).map(|i| format!("many-{i:02}")));
    for name in &names {
        let text = summary_rockspec(name, &format!("Summary of {name}"));
        let file = format!("{name}-1.0-1.rockspec");
        if name == "many-00" {
            let work = lvm.root.path().join("many-00");
            std::fs::create_dir_all(work.join("src")).unwrap();
            std::fs::write(work.join("src/many.lua"), "return {}\n").unwrap();
            std::fs::write(work.join(&file), text).unwrap();
            lvm::ops::publish::pack_src_rock(&work.join(&file), &work.join("src"), &dir).unwrap();
        } else {
            std::fs::write(dir.join(&file), text).unwrap();
        }
    }
    lvm::ops::publish::make_manifest(&dir).unwrap();
    let server = TestServer::serve(&dir);
    lvm.init(&[&server.url()]);

    let hits: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["search", "many", "--json"])).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), names.len());
    // The exact match first, then in name order, up to the limit; the others have none.
    let with: Vec<&str> = hits
        .iter()
        .filter(|h| h.get("summary").is_some())
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(with, names[..limit]);
    for hit in &hits[..limit] {
        assert_eq!(
            hit["summary"],
            format!("Summary of {}", hit["name"].as_str().unwrap())
        );
    }
    assert_eq!(server.requests("/many-05-1.0-1.rockspec"), 1);
    assert_eq!(server.requests("/many-00-1.0-1.src.rock"), 1);
    assert_eq!(server.requests("/many-24-1.0-1.rockspec"), 0);

    // The rockspecs come from the download cache the second time.
    let text = lvm.ok(&["search", "many"]);
    assert!(
        text.lines()
            .any(|l| l == format!("many 1.0-1  ({})  — Summary of many", server.url())),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == format!("many-24 1.0-1  ({})", server.url())),
        "{text}"
    );
    assert_eq!(server.requests("/many-05-1.0-1.rockspec"), 1);
    assert_eq!(server.requests("/many-00-1.0-1.src.rock"), 1);
    // A narrower search reaches the others.
    let text = lvm.ok(&["search", "many-24"]);
    assert_eq!(
        text.trim(),
        format!("many-24 1.0-1  ({})  — Summary of many-24", server.url())
    );

    // A summary that cannot be read is left out; the search still answers.
    std::fs::remove_file(dir.join("many-23-1.0-1.rockspec")).unwrap();
    let text = lvm.ok(&["search", "many-23"]);
    assert_eq!(text.trim(), format!("many-23 1.0-1  ({})", server.url()));

    let help = lvm.ok(&["search", "--help"]);
    let words = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("for at most 20 matches"), "{help}");
}

#[test]
fn path_output_lets_sh_run_debian_lua_with_c_modules_and_commands() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "cmath", "hello-cli"]);
    let script = lvm.ok(&["path"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{script}\nlua5.4 -e 'local m = require\"cmath\"; print(m.gcd(12, 18), require\"strutil\".version)'\nhello-cli '  from sh  '"
        ))
        .current_dir(elsewhere.path())
        .env_remove("LUA_PATH")
        .env_remove("LUA_CPATH")
        .env_remove("LUA_PATH_5_4")
        .env_remove("LUA_CPATH_5_4")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out), "6\t1.1\nhello, from sh\n");

    let lua_path = lvm.ok(&["path", "--lr-path"]);
    assert!(lua_path.contains("share/lua/5.4/?.lua"), "{lua_path}");
    let lua_cpath = lvm.ok(&["path", "--lr-cpath"]);
    assert!(lua_cpath.contains("lib/lua/5.4/?.so"), "{lua_cpath}");
}

/// Runs `script` in sh with a clean PATH and the given LUA_PATH, then prints the variables.
fn sh_vars(script: &str, lua_path: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "{script}\nprintf '%s\\n' \"$LUA_PATH\" \"$LUA_CPATH\" \"$PATH\""
        ))
        .env_remove("LUA_CPATH")
        .env("PATH", "/usr/bin:/bin");
    match lua_path {
        Some(p) => cmd.env("LUA_PATH", p),
        None => cmd.env_remove("LUA_PATH"),
    };
    stdout_ok(&cmd.output().unwrap())
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn path_speaks_zsh_json_and_appends() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "hello-cli"]);
    let tree = std::fs::canonicalize(lvm.tree()).unwrap();
    let tree_text = lvm.tree().display().to_string();
    let lua = format!("{tree_text}/share/lua/5.4/?.lua;{tree_text}/share/lua/5.4/?/init.lua");
    let clua = format!("{tree_text}/lib/lua/5.4/?.so");
    let bin = format!("{tree_text}/bin");
    assert!(tree.join("bin").exists());

    // zsh and bash take the same export lines as sh.
    let sh = lvm.ok(&["path"]);
    assert_eq!(lvm.ok(&["path", "--shell", "zsh"]), sh);
    assert_eq!(lvm.ok(&["path", "--shell", "bash"]), sh);
    assert!(sh.starts_with("export LUA_PATH="), "{sh}");

    // In front (the default): the tree then Lua's default; an existing LUA_PATH is replaced.
    let vars = sh_vars(&sh, Some("/mine/?.lua"));
    assert_eq!(
        vars,
        [
            format!("{lua};;"),
            format!("{clua};;"),
            format!("{bin}:/usr/bin:/bin")
        ]
    );
    // --append: after what is there, like `luarocks path --append`.
    let append = lvm.ok(&["path", "--append"]);
    assert_eq!(lvm.ok(&["path", "--append", "--shell", "zsh"]), append);
    let vars = sh_vars(&append, Some("/mine/?.lua"));
    assert_eq!(
        vars,
        [
            format!("/mine/?.lua;{lua}"),
            format!(";;{clua}"),
            format!("/usr/bin:/bin:{bin}")
        ]
    );
    // Unset module paths stand for Lua's default, which stays first.
    let vars = sh_vars(&append, None);
    assert_eq!(vars[0], format!(";;{lua}"));
    // Appended, the installed command still runs.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{append}\nhello-cli there"))
        .env("PATH", "/usr/bin:/bin")
        .env_remove("LUA_PATH")
        .env_remove("LUA_CPATH")
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out), "hello, there\n");
    let fish = lvm.ok(&["path", "--append", "--shell", "fish"]);
    assert!(fish.contains("set -gx PATH $PATH"), "{fish}");

    // --json: the values the variables get, for this process's environment.
    let json_of = |append: bool| -> serde_json::Value {
        let mut cmd = lvm.command();
        cmd.args(["path", "--json"])
            .env("PATH", "/usr/bin:/bin")
            .env("LUA_PATH", "/mine/?.lua")
            .env_remove("LUA_CPATH");
        if append {
            cmd.arg("--append");
        }
        serde_json::from_str(&stdout_ok(&cmd.output().unwrap())).unwrap()
    };
    assert_eq!(
        json_of(false),
        serde_json::json!({
            "LUA_PATH": format!("{lua};;"),
            "LUA_CPATH": format!("{clua};;"),
            "PATH": format!("{bin}:/usr/bin:/bin"),
        })
    );
    assert_eq!(
        json_of(true),
        serde_json::json!({
            "LUA_PATH": format!("/mine/?.lua;{lua}"),
            "LUA_CPATH": format!(";;{clua}"),
            "PATH": format!("/usr/bin:/bin:{bin}"),
        })
    );
    // --json with --lr-path is a usage error; an unknown shell names the ones there are.
    let out = lvm.run(&["path", "--json", "--lr-path"]);
    assert_eq!(out.status.code(), Some(2));
    let out = lvm.run(&["path", "--shell", "csh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zsh") && err.contains("fish"), "{err}");
    let help = lvm.ok(&["path", "--help"]);
    for fragment in [
        "--append",
        "--json",
        "zsh",
        "Examples:",
        "lvm path --append",
    ] {
        assert!(help.contains(fragment), "{fragment}: {help}");
    }
}

fn stored(lvm: &Lvm) -> BTreeSet<String> {
    let store = lvm::store::Store::open(&lvm.home().join("store")).unwrap();
    store
        .list()
        .unwrap()
        .into_iter()
        .map(|r| format!("{} {}", r.meta.name, r.meta.version))
        .collect()
}

#[test]
fn gc_keeps_what_history_needs_and_rollback_works_offline_after_it() {
    let lvm = Lvm::new();
    let (server_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    lvm.ok(&["install", "strutil", "1.1-1"]);
    // A named environment in the same home, still in use.
    lvm.ok(&["env", "create", "other", "--server", &url]);
    let other = lvm.home().join("envs/other");
    lvm.ok(&["--env", other.to_str().unwrap(), "install", "chain-c"]);
    // A project environment outside the home, used only through its path: it registered
    // itself, so gc keeps what it needs.
    let project = lvm.root.path().join("project/.lvm");
    lvm.ok(&["init", project.to_str().unwrap(), "--server", &url]);
    lvm.ok(&["--env", project.to_str().unwrap(), "install", "hello-cli"]);
    // An environment that is gone: what only it used is garbage.
    let gone = lvm.root.path().join("gone");
    lvm.ok(&["init", gone.to_str().unwrap(), "--server", &url]);
    lvm.ok(&["--env", gone.to_str().unwrap(), "install", "dia-base"]);
    std::fs::remove_dir_all(&gone).unwrap();
    assert_eq!(
        stored(&lvm),
        set(&[
            "chain-c 2.0-1",
            "dia-base 2.0-1",
            "hello-cli 1.0-1",
            "strutil 1.0-1",
            "strutil 1.1-1"
        ])
    );

    let dry = lvm.ok(&["gc", "--dry-run"]);
    assert!(
        dry.contains("Would remove 1") && dry.contains("dia-base 2.0-1"),
        "{dry}"
    );
    assert_eq!(stored(&lvm).len(), 5);
    let report = lvm.ok(&["gc"]);
    assert!(
        report.contains("Removed 1") && report.contains("dia-base 2.0-1"),
        "{report}"
    );
    assert_eq!(
        stored(&lvm),
        set(&[
            "chain-c 2.0-1",
            "hello-cli 1.0-1",
            "strutil 1.0-1",
            "strutil 1.1-1"
        ])
    );
    assert!(report.contains("and 2 other(s)"), "{report}");

    // Offline: the server is gone, yet the old state comes back from the store.
    std::fs::remove_dir_all(&server_dir).unwrap();
    lvm.ok(&["rollback"]);
    let out = stdout_ok(&lvm.lua("print(require('strutil').version)"));
    assert_eq!(out.trim(), "1.0");
    lvm.ok(&["--env", other.to_str().unwrap(), "verify"]);
    lvm.ok(&["--env", project.to_str().unwrap(), "verify"]);
}

#[test]
fn progress_goes_to_stderr_and_stdout_holds_only_the_result() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let out = lvm.run(&["install", "chain-a"]);
    let stdout = stdout_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chain-c 1.0-1 (built)"), "{stderr}");
    assert!(!stdout.contains("(built)"), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("Installed ("), "{stdout}");
    assert_eq!(lines.len(), 5, "{stdout}");

    let quiet = lvm.run(&["-q", "install", "strutil"]);
    assert_eq!(stdout_ok(&quiet), "");
    let json = lvm.run(&["list", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 4);
}

#[test]
fn upgrade_moves_to_new_versions_as_one_event() {
    let lvm = Lvm::new();
    let server = lvm.root.path().join("server");
    let url = format!("file://{}", server.display());
    common::rocks::publish_fixtures_matching(&server, &url, |d| {
        d == "strutil-1.0-1" || d == "hello-cli-1.0-1"
    });
    lvm.init(&[&url]);
    lvm.ok(&["install", "hello-cli"]);
    let nothing = lvm.ok(&["upgrade"]);
    assert!(nothing.contains("Nothing to upgrade"), "{nothing}");
    // A new strutil appears on the server.
    common::rocks::publish_fixtures_matching(&server, &url, |d| {
        d.starts_with("strutil-") || d == "hello-cli-1.0-1"
    });
    let before = lvm.snapshot();
    let err = lvm.fails(&["upgrade", "nosuchpkg"]);
    assert!(err.contains("nosuchpkg is not installed"), "{err}");
    assert_eq!(lvm.snapshot(), before);
    let out = lvm.ok(&["upgrade", "strutil"]);
    assert!(out.contains("strutil 1.0-1 → 1.1-1 (upgraded)"), "{out}");
    let log = lvm.ok(&["log", "-n", "1"]);
    assert!(log.contains("upgrade strutil 1.0-1 → 1.1-1"), "{log}");
    let lua = common::rocks::stdout_ok(&lvm.lua("print(require('strutil').version)"));
    assert_eq!(lua.trim(), "1.1");
    lvm.ok(&["rollback"]);
    let lua = common::rocks::stdout_ok(&lvm.lua("print(require('strutil').version)"));
    assert_eq!(lua.trim(), "1.0");
}

#[test]
fn stats_match_the_recorded_events() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "cmath"]);
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["rollback"]);
    let stats: serde_json::Value = serde_json::from_str(&lvm.ok(&["stats", "--json"])).unwrap();
    let log: serde_json::Value = serde_json::from_str(&lvm.ok(&["log", "--json"])).unwrap();
    let events: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .collect();
    assert_eq!(stats["events"], events.len());
    let builds: u64 = events.iter().map(|e| e["builds"].as_u64().unwrap()).sum();
    assert_eq!(stats["builds"], builds);
    assert_eq!(builds, 4, "cmath + chain-a, chain-b, chain-c were built");
    assert_eq!(stats["by_kind"]["install"]["count"], 2);
    assert_eq!(stats["by_kind"]["rollback"]["count"], 1);
    assert_eq!(stats["packages_over_time"], serde_json::json!([0, 1, 4, 1]));
    let build_ms: u64 = events
        .iter()
        .map(|e| e["durations_ms"]["build"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(stats["by_phase"]["build"], build_ms);
    let text = lvm.ok(&["stats"]);
    assert!(
        text.contains("4 events") && text.contains("0% hit rate"),
        "{text}"
    );
}
