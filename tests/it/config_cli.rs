//! `lvm config` through the real binary: the five levels (flag > env var > environment > user >
//! default) as `get --show-origin` reports them and as commands behave, validation that names
//! the key and its allowed values and writes nothing, environment changes recorded as events
//! (log, verify, rollback), and the jobs setting reaching real C builds.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::http_server::TestServer;
use crate::common::rocks::{Lvm, file_server, publish_dir, publish_fixtures, stdout_ok};

fn lvm_toml(lvm: &Lvm) -> String {
    std::fs::read_to_string(lvm.env_dir().join("lvm.toml")).unwrap()
}

fn origin(lvm: &Lvm, extra: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = lvm.command();
    for (k, v) in extra {
        cmd.env(k, v);
    }
    stdout_ok(&cmd.args(args).output().unwrap())
        .trim_end()
        .to_string()
}

fn log_json(lvm: &Lvm) -> Vec<serde_json::Value> {
    let out = lvm.ok(&["log", "--json"]);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn env_with_server() -> (Lvm, PathBuf) {
    let lvm = Lvm::new();
    let (dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    (lvm, dir)
}

#[test]
fn each_level_outranks_the_next_as_get_show_origin_reports() {
    let (lvm, _dir) = env_with_server();
    let env_file = lvm.env_dir().join("lvm.toml");
    let user_file = lvm.user_config();
    let get = ["config", "get", "lock_timeout", "--show-origin"];

    assert_eq!(origin(&lvm, &[], &get), "default\t60");
    lvm.ok(&["config", "set", "--user", "lock_timeout", "40"]);
    assert_eq!(
        origin(&lvm, &[], &get),
        format!("user:{}\t40", user_file.display())
    );
    lvm.ok(&["config", "set", "lock_timeout", "30"]);
    assert_eq!(
        origin(&lvm, &[], &get),
        format!("environment:{}\t30", env_file.display())
    );
    let var = [("LVM_LOCK_TIMEOUT", "20")];
    assert_eq!(origin(&lvm, &var, &get), "env-var:LVM_LOCK_TIMEOUT\t20");
    let mut flagged = vec!["--lock-timeout", "10"];
    flagged.extend(get);
    assert_eq!(origin(&lvm, &var, &flagged), "flag:--lock-timeout\t10");
    // Without --show-origin: the bare value, for scripts.
    assert_eq!(origin(&lvm, &var, &["config", "get", "lock_timeout"]), "20");

    // Unsetting a level uncovers the next one.
    lvm.ok(&["config", "unset", "lock_timeout"]);
    assert_eq!(
        origin(&lvm, &[], &get),
        format!("user:{}\t40", user_file.display())
    );
    lvm.ok(&["config", "unset", "--global", "lock_timeout"]);
    assert_eq!(origin(&lvm, &[], &get), "default\t60");

    // Color: the test helper sets NO_COLOR, which LVM_COLOR and then --color outrank.
    let get = ["config", "get", "color", "--show-origin"];
    assert_eq!(origin(&lvm, &[], &get), "env-var:NO_COLOR\tnever");
    let always = [("LVM_COLOR", "always")];
    assert_eq!(origin(&lvm, &always, &get), "env-var:LVM_COLOR\talways");
    let mut flagged = vec!["--color", "auto"];
    flagged.extend(get);
    assert_eq!(origin(&lvm, &always, &flagged), "flag:--color\tauto");
    let out = lvm
        .command()
        .env_remove("NO_COLOR")
        .args(get)
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out).trim_end(), "default\tauto");
}

/// Starts `lvm install` paused while it holds the writer lock; returns it and the file whose
/// removal lets it go on.
fn hold_lock(lvm: &Lvm) -> (Child, PathBuf) {
    let marker = lvm.root.path().join("pause-locked");
    let child = lvm
        .command()
        .env("LVM_TEST_PAUSE_AT", format!("locked:{}", marker.display()))
        .args(["install", "strutil"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !marker.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "never locked");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, marker)
}

/// Runs a writer against the held lock; returns its stderr and how long it waited.
fn blocked_writer(lvm: &Lvm, vars: &[(&str, &str)], flags: &[&str]) -> (String, Duration) {
    let mut cmd = lvm.command();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd
        .args(flags)
        .args(["install", "chain-c"])
        .output()
        .unwrap();
    let waited = started.elapsed();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("another lvm process is changing"), "{err}");
    (err, waited)
}

#[test]
fn the_resolved_lock_timeout_is_what_writers_wait() {
    let (lvm, _dir) = env_with_server();
    lvm.ok(&["config", "set", "--user", "lock_timeout", "0.2"]);
    lvm.ok(&["config", "set", "lock_timeout", "0.4"]);
    let (first, marker) = hold_lock(&lvm);

    // The environment's 0.4 s beats the user's 0.2 s.
    let (err, waited) = blocked_writer(&lvm, &[], &[]);
    assert!(err.contains("waited 0.4s"), "{err}");
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_secs(30), "{waited:?}");
    // The variable beats the environment; the flag beats the variable.
    let var = [("LVM_LOCK_TIMEOUT", "0.6")];
    let (err, _) = blocked_writer(&lvm, &var, &[]);
    assert!(err.contains("waited 0.6s"), "{err}");
    let (err, waited) = blocked_writer(&lvm, &var, &["--lock-timeout", "0.1"]);
    assert!(err.contains("waited 0.1s"), "{err}");
    assert!(waited < Duration::from_secs(30), "{waited:?}");

    std::fs::remove_file(&marker).unwrap();
    assert!(stdout_ok(&first.wait_with_output().unwrap()).contains("+ strutil"));
    // Without an environment level, the user's value applies.
    lvm.ok(&["config", "unset", "lock_timeout"]);
    let (first, marker) = hold_lock(&lvm);
    let (err, _) = blocked_writer(&lvm, &[], &[]);
    assert!(err.contains("waited 0.2s"), "{err}");
    std::fs::remove_file(&marker).unwrap();
    stdout_ok(&first.wait_with_output().unwrap());
}

#[test]
fn invalid_values_name_the_key_and_allowed_values_and_write_nothing() {
    let (lvm, _dir) = env_with_server();
    lvm.ok(&["config", "set", "--user", "jobs", "2"]);
    let user_before = std::fs::read_to_string(lvm.user_config()).unwrap();
    let env_before = lvm_toml(&lvm);
    let snapshot = lvm.snapshot();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["jobs", "0"],
            &[
                "jobs = '0'",
                "allowed values for jobs: a positive integer or 'auto'",
            ],
        ),
        (
            &["jobs", "many"],
            &["jobs = 'many'", "not a positive integer"],
        ),
        (&["jobs", "1", "2"], &["jobs takes one value"]),
        (
            &["lock_timeout", "-1"],
            &[
                "lock_timeout = '-1'",
                "allowed values for lock_timeout: a number of seconds >= 0",
            ],
        ),
        (
            &["lock_timeout", "soon"],
            &["lock_timeout = 'soon'", "not a number"],
        ),
        (
            &["color", "blue"],
            &[
                "color = 'blue'",
                "allowed values for color: auto, always, never",
            ],
        ),
        (
            &["lua", "6.0"],
            &[
                "lua = '6.0'",
                "not a Lua version",
                "allowed values for lua: 5.1, 5.2, 5.3, 5.4, 5.5, luajit",
            ],
        ),
        (
            &["servers", "ftp://host/rocks"],
            &["unsupported scheme 'ftp://'", "allowed values for servers"],
        ),
        (&["servers", "/no/such/folder"], &["does not exist"]),
        (
            &["jobz", "2"],
            &["unknown key 'jobz'", "did you mean 'jobs'"],
        ),
    ];
    for (args, expected) in cases {
        for scope in [None, Some("--user")] {
            let mut full = vec!["config", "set"];
            full.extend(scope);
            full.extend(*args);
            let err = lvm.fails(&full);
            for fragment in *expected {
                assert!(err.contains(fragment), "{full:?}: {err}");
            }
            assert_eq!(lvm.snapshot(), snapshot, "{full:?}");
            assert_eq!(lvm_toml(&lvm), env_before, "{full:?}");
            assert_eq!(
                std::fs::read_to_string(lvm.user_config()).unwrap(),
                user_before,
                "{full:?}"
            );
        }
    }
    // lua and servers are what an environment is; they cannot be unset there.
    let err = lvm.fails(&["config", "unset", "servers"]);
    assert!(err.contains("'servers' is required"), "{err}");
    assert_eq!(lvm.snapshot(), snapshot);
    assert_eq!(lvm_toml(&lvm), env_before);

    // Bad flags are usage errors; bad variables and files are errors naming their source.
    let out = lvm.run(&["--jobs", "0", "config", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("allowed values for jobs"), "{err}");
    let out = lvm
        .command()
        .env("LVM_JOBS", "lots")
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LVM_JOBS: jobs = 'lots'"), "{err}");
    std::fs::write(lvm.user_config(), "colour = \"never\"\n").unwrap();
    let err = lvm.fails(&["list"]);
    assert!(
        err.contains(&lvm.user_config().display().to_string())
            && err.contains("unknown key 'colour'; did you mean 'color'?"),
        "{err}"
    );
}

#[test]
fn environment_changes_are_events_that_verify_and_roll_back() {
    let (lvm, _dir) = env_with_server();
    lvm.ok(&["install", "strutil"]);
    let before = log_json(&lvm).len();
    let out = lvm.ok(&["config", "set", "jobs", "3"]);
    assert!(out.contains("Set jobs = 3 in"), "{out}");
    assert!(
        lvm_toml(&lvm).contains("\njobs = 3\n"),
        "{}",
        lvm_toml(&lvm)
    );
    let log = log_json(&lvm);
    assert_eq!(log.len(), before + 1);
    assert_eq!(log[0]["event"]["kind"], "config");
    assert_eq!(log[0]["event"]["details"]["key"], "jobs");
    assert_eq!(log[0]["event"]["details"]["value"], "3");
    assert_eq!(log[0]["event"]["changes"], serde_json::json!([]));
    let text = lvm.ok(&["log", "-n", "1"]);
    assert!(text.trim_end().ends_with("config set jobs 3"), "{text}");
    assert!(lvm.ok(&["verify"]).contains("ok"));
    // The packages and the tree stay.
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    assert_eq!(
        stdout_ok(&lvm.lua("print(require('strutil').version)")).trim(),
        "1.1"
    );

    // Setting what is set already records nothing.
    let out = lvm.ok(&["config", "set", "jobs", "3"]);
    assert!(out.contains("jobs is already 3"), "{out}");
    assert_eq!(log_json(&lvm).len(), before + 1);

    // Undoing the change restores the previous lvm.toml, as one rollback event.
    let out = lvm.ok(&["rollback"]);
    assert!(out.contains("settings (lvm.toml) restored"), "{out}");
    assert!(!lvm_toml(&lvm).contains("jobs"), "{}", lvm_toml(&lvm));
    assert_eq!(
        origin(&lvm, &[], &["config", "get", "jobs", "--show-origin"]),
        "default\tauto"
    );
    let log = log_json(&lvm);
    assert_eq!(log[0]["event"]["kind"], "rollback");
    assert_eq!(log.len(), before + 2);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    assert!(lvm.ok(&["verify"]).contains("ok"));

    // A rollback across both kinds of change restores both.
    lvm.ok(&["config", "set", "color", "always"]);
    lvm.ok(&["install", "chain-c"]);
    lvm.ok(&["rollback", "2"]);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    assert!(!lvm_toml(&lvm).contains("color"), "{}", lvm_toml(&lvm));
    let out = lvm.ok(&["config", "unset", "color"]);
    assert!(out.contains("color is not set"), "{out}");
    assert!(lvm.ok(&["verify"]).contains("ok"));

    // git sees a clean repository after every change.
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false);
    let dirty: Vec<_> = repo
        .statuses(Some(&mut opts))
        .unwrap()
        .iter()
        .map(|s| s.path().unwrap_or("?").to_string())
        .collect();
    assert!(dirty.is_empty(), "{dirty:?}");
}

#[test]
fn list_json_has_every_key_with_its_value_and_origin() {
    let (lvm, dir) = env_with_server();
    lvm.ok(&["config", "set", "--user", "jobs", "2"]);
    let out = lvm
        .command()
        .env("LVM_LOCK_TIMEOUT", "7.5")
        .args(["config", "list", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_str(&stdout_ok(&out)).unwrap();
    let keys: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "lua",
            "lua_bin",
            "servers",
            "lock_timeout",
            "jobs",
            "color",
            "http_timeout",
            "download_timeout",
            "manifest_max_age",
            "sign",
            "variables",
            "dev",
            "caches",
            "cache_push",
            "trusted_keys",
            "cache_trust_sources"
        ]
    );
    let env_file = lvm.env_dir().join("lvm.toml").display().to_string();
    let url = format!("file://{}", dir.display());
    assert_eq!(
        rows,
        serde_json::json!([
            {"key": "lua", "value": "5.4", "origin": "environment", "source": env_file},
            {"key": "lua_bin", "value": null, "origin": "default", "source": null},
            {"key": "servers", "value": [url], "origin": "environment", "source": env_file},
            {"key": "lock_timeout", "value": 7.5, "origin": "env-var", "source": "LVM_LOCK_TIMEOUT"},
            {"key": "jobs", "value": 2, "origin": "user",
             "source": lvm.user_config().display().to_string()},
            {"key": "color", "value": "never", "origin": "env-var", "source": "NO_COLOR"},
            {"key": "http_timeout", "value": "default", "origin": "default", "source": null},
            {"key": "download_timeout", "value": 600.0, "origin": "default", "source": null},
            {"key": "manifest_max_age", "value": 60.0, "origin": "default", "source": null},
            {"key": "sign", "value": false, "origin": "default", "source": null},
            {"key": "variables", "value": {}, "origin": "default", "source": null},
            {"key": "dev", "value": false, "origin": "default", "source": null},
            {"key": "caches", "value": [], "origin": "default", "source": null},
            {"key": "cache_push", "value": null, "origin": "default", "source": null},
            {"key": "trusted_keys", "value": [], "origin": "default", "source": null},
            {"key": "cache_trust_sources", "value": true, "origin": "default", "source": null},
        ])
    );
    let text = lvm.ok(&["config", "list"]);
    assert!(text.contains("jobs         = 2"), "{text}");
    assert!(text.contains("(default)") || text.contains("(env-var:NO_COLOR)"));
}

#[test]
fn user_settings_work_without_an_environment_and_seed_init() {
    let lvm = Lvm::new();
    let (dir, _url) = file_server(lvm.root.path());
    let err = lvm.fails(&["config", "set", "jobs", "2"]);
    assert!(
        err.contains("no environment at") && err.contains("--user"),
        "{err}"
    );
    let err = lvm.fails(&["init"]);
    assert!(err.contains("no rocks server given"), "{err}");
    // A folder becomes a file:// URL when stored.
    lvm.ok(&[
        "config",
        "set",
        "--user",
        "servers",
        &dir.display().to_string(),
    ]);
    let user = std::fs::read_to_string(lvm.user_config()).unwrap();
    let url = format!("file://{}", std::fs::canonicalize(&dir).unwrap().display());
    assert!(user.contains(&format!("servers = [\"{url}\"]")), "{user}");
    lvm.ok(&["init"]);
    assert!(lvm_toml(&lvm).contains(&url), "{}", lvm_toml(&lvm));
    assert_eq!(
        origin(&lvm, &[], &["config", "get", "servers", "--show-origin"]),
        format!(
            "environment:{}\t{url}",
            lvm.env_dir().join("lvm.toml").display()
        )
    );
    // LVM_SERVERS outranks the environment's servers for the command it is set for.
    let out = lvm
        .command()
        .env("LVM_SERVERS", "file:///nonexistent/rocks")
        .args(["install", "strutil"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/rocks"), "{err}");
    lvm.ok(&["install", "strutil"]);
}

#[test]
fn flags_work_before_and_after_the_key_and_values() {
    let (lvm, dir) = env_with_server();
    let second = lvm.root.path().join("second-server");
    std::fs::create_dir_all(&second).unwrap();
    let first_url = format!("file://{}", std::fs::canonicalize(&dir).unwrap().display());
    let second_url = format!(
        "file://{}",
        std::fs::canonicalize(&second).unwrap().display()
    );
    let user_file = lvm.user_config();
    let env_file = lvm.env_dir().join("lvm.toml");
    let get = |key: &str| origin(&lvm, &[], &["config", "get", key, "--show-origin"]);

    // The README's form: the flag after the value.
    lvm.ok(&["config", "set", "jobs", "2", "--user"]);
    assert_eq!(get("jobs"), format!("user:{}\t2", user_file.display()));
    lvm.ok(&["config", "set", "--user", "jobs", "3"]);
    assert_eq!(get("jobs"), format!("user:{}\t3", user_file.display()));
    // --global is the same flag; -q after the value too.
    lvm.ok(&["config", "set", "jobs", "4", "--global", "-q"]);
    assert_eq!(get("jobs"), format!("user:{}\t4", user_file.display()));
    assert!(!lvm_toml(&lvm).contains("jobs"), "{}", lvm_toml(&lvm));

    // servers takes several values: a flag after them is a flag, not a server.
    let (a, b) = (dir.display().to_string(), second.display().to_string());
    lvm.ok(&["config", "set", "servers", &a, &b, "--user"]);
    let user = std::fs::read_to_string(&user_file).unwrap();
    assert!(
        user.contains(&format!("servers = [\"{first_url}\", \"{second_url}\"]")),
        "{user}"
    );
    assert!(!user.contains("--user"), "{user}");
    lvm.ok(&["config", "set", "--user", "servers", &b]);
    let user = std::fs::read_to_string(&user_file).unwrap();
    assert!(
        user.contains(&format!("servers = [\"{second_url}\"]")),
        "{user}"
    );
    // Without --user, the environment's lvm.toml, in either order of the other flags.
    lvm.ok(&["config", "set", "servers", &a, &b, "-q"]);
    assert_eq!(
        get("servers"),
        format!(
            "environment:{}\t{first_url} {second_url}",
            env_file.display()
        )
    );
    lvm.ok(&["config", "unset", "jobs", "--user"]);
    assert_eq!(get("jobs"), "default\tauto");
}

#[test]
fn get_json_has_the_value_and_its_origin() {
    let (lvm, _dir) = env_with_server();
    let get = |args: &[&str]| -> serde_json::Value { serde_json::from_str(&lvm.ok(args)).unwrap() };
    let json = get(&["config", "get", "jobs", "--json"]);
    assert_eq!(
        json,
        serde_json::json!({"key": "jobs", "value": "auto", "origin": "default", "source": null}),
        "{json}"
    );
    lvm.ok(&["config", "set", "jobs", "3"]);
    let json = get(&["config", "get", "jobs", "--json"]);
    assert_eq!(json["value"], 3, "{json}");
    assert_eq!(json["origin"], "environment", "{json}");
    let env_file = lvm.env_dir().join("lvm.toml").display().to_string();
    assert_eq!(json["source"], env_file.as_str(), "{json}");
    let json = get(&["--jobs", "5", "config", "get", "--json", "jobs"]);
    assert_eq!(
        (&json["value"], &json["origin"]),
        (&5.into(), &"flag".into())
    );
    // The same object as the key's row of `config list --json`.
    let list = get(&["config", "list", "--json"]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "servers")
        .unwrap()
        .clone();
    assert_eq!(get(&["config", "get", "servers", "--json"]), row);
    let err = lvm.fails(&["config", "get", "jobz", "--json"]);
    assert!(err.contains("did you mean 'jobs'"), "{err}");
}

/// A rock of one C module made of four sources, and a compiler wrapper that records how many
/// compilers run at once.
fn multi_source_rock(root: &Path) -> (String, PathBuf) {
    let src = root.join("rocks/multic-1.0-1");
    std::fs::create_dir_all(src.join("src")).unwrap();
    std::fs::write(
        src.join("multic-1.0-1.rockspec"),
        r#"package = "multic"
version = "1.0-1"
source = { url = "@SERVER@/multic-1.0-1.tar.gz", dir = "multic-1.0-1" }
build = {
  type = "builtin",
  modules = {
    multic = { sources = { "src/main.c", "src/one.c", "src/two.c", "src/three.c" } },
  },
}
"#,
    )
    .unwrap();
    for (name, value) in [("one", 1), ("two", 2), ("three", 3)] {
        std::fs::write(
            src.join(format!("src/{name}.c")),
            format!("int {name}(void) {{ return {value}; }}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        src.join("src/main.c"),
        r#"#include "lua.h"
#include "lauxlib.h"
int one(void); int two(void); int three(void);
static int sum(lua_State *L) { lua_pushinteger(L, one() + two() + three()); return 1; }
int luaopen_multic(lua_State *L) {
  lua_newtable(L); lua_pushcfunction(L, sum); lua_setfield(L, -2, "sum"); return 1;
}
"#,
    )
    .unwrap();
    let server = root.join("multic-server");
    let url = format!("file://{}", server.display());
    publish_dir(&root.join("rocks"), &server, &url);
    let wrapper = root.join("cc-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho + >> {log}\nsleep 0.4\necho - >> {log}\nexec cc \"$@\"\n",
            log = root.join("cc.log").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    (url, wrapper)
}

/// The most compilers the wrapper saw running at once.
fn most_at_once(log: &Path) -> i32 {
    let text = std::fs::read_to_string(log).unwrap();
    let (mut now, mut most) = (0, 0);
    for line in text.lines() {
        now += if line == "+" { 1 } else { -1 };
        most = most.max(now);
    }
    most
}

#[test]
fn jobs_reach_the_builtin_builder_and_builds_stay_correct() {
    for (jobs, how) in [(1, "environment"), (4, "env-var"), (2, "flag")] {
        let lvm = Lvm::new();
        let (url, wrapper) = multi_source_rock(lvm.root.path());
        lvm.init(&[&url]);
        let mut cmd = lvm.command();
        cmd.env("CC", &wrapper);
        match how {
            "environment" => {
                lvm.ok(&["config", "set", "jobs", &jobs.to_string()]);
                // A larger user value is outranked.
                lvm.ok(&["config", "set", "--user", "jobs", "8"]);
            }
            "env-var" => {
                cmd.env("LVM_JOBS", jobs.to_string());
            }
            _ => {
                cmd.env("LVM_JOBS", "1").args(["-j", &jobs.to_string()]);
            }
        }
        let out = cmd.args(["install", "multic"]).output().unwrap();
        stdout_ok(&out);
        let lua = stdout_ok(&lvm.lua("print(require('multic').sum())"));
        assert_eq!(lua.trim(), "6", "jobs={jobs}");
        let most = most_at_once(&lvm.root.path().join("cc.log"));
        if jobs == 1 {
            assert_eq!(most, 1, "jobs=1 ran compilers side by side");
        } else {
            assert!(
                most > 1 && most <= jobs,
                "jobs={jobs}: at most {most} compilers at once"
            );
        }
    }
}

#[test]
fn http_timeout_levels_as_get_show_origin_reports() {
    let (lvm, _dir) = env_with_server();
    let env_file = lvm.env_dir().join("lvm.toml");
    let user_file = lvm.user_config();
    let get = ["config", "get", "http_timeout", "--show-origin"];

    assert_eq!(origin(&lvm, &[], &get), "default\tdefault");
    lvm.ok(&["config", "set", "--user", "http_timeout", "40"]);
    assert_eq!(
        origin(&lvm, &[], &get),
        format!("user:{}\t40", user_file.display())
    );
    // `default` is a value too: an environment can ask for the built-in limits over the user's.
    lvm.ok(&["config", "set", "http_timeout", "default"]);
    assert_eq!(
        origin(&lvm, &[], &get),
        format!("environment:{}\tdefault", env_file.display())
    );
    lvm.ok(&["config", "set", "http_timeout", "2.5"]);
    assert!(
        lvm_toml(&lvm).contains("\nhttp_timeout = 2.5\n"),
        "{}",
        lvm_toml(&lvm)
    );
    assert_eq!(
        origin(&lvm, &[], &get),
        format!("environment:{}\t2.5", env_file.display())
    );
    let var = [("LVM_HTTP_TIMEOUT", "20")];
    assert_eq!(origin(&lvm, &var, &get), "env-var:LVM_HTTP_TIMEOUT\t20");
    let mut flagged = vec!["--http-timeout", "0.5"];
    flagged.extend(get);
    assert_eq!(origin(&lvm, &var, &flagged), "flag:--http-timeout\t0.5");
    assert_eq!(origin(&lvm, &var, &["config", "get", "http_timeout"]), "20");

    // Unsetting a level uncovers the next one.
    lvm.ok(&["config", "unset", "http_timeout"]);
    assert_eq!(
        origin(&lvm, &[], &get),
        format!("user:{}\t40", user_file.display())
    );
    lvm.ok(&["config", "unset", "--user", "http_timeout"]);
    assert_eq!(origin(&lvm, &[], &get), "default\tdefault");
    assert_eq!(log_json(&lvm)[0]["event"]["details"]["key"], "http_timeout");
}

#[test]
fn invalid_http_timeouts_name_the_key_and_change_nothing() {
    let (lvm, _dir) = env_with_server();
    lvm.ok(&["config", "set", "--user", "http_timeout", "9"]);
    let user_before = std::fs::read_to_string(lvm.user_config()).unwrap();
    let env_before = lvm_toml(&lvm);
    let snapshot = lvm.snapshot();
    let allowed = "allowed values for http_timeout: a number of seconds > 0 (e.g. 30, 2.5), or \
                   'default' (30 s to connect, 60 s per read)";
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["http_timeout", "0"],
            &[
                "http_timeout = '0'",
                "must be a finite number of seconds > 0",
                allowed,
            ],
        ),
        (&["http_timeout", "-1"], &["http_timeout = '-1'", allowed]),
        (&["http_timeout", "inf"], &["http_timeout = 'inf'", allowed]),
        (
            &["http_timeout", "soon"],
            &["http_timeout = 'soon'", "not a number", allowed],
        ),
        (
            &["http_timeout", "1", "2"],
            &["http_timeout takes one value"],
        ),
        (
            &["http_timout", "5"],
            &["unknown key 'http_timout'", "did you mean 'http_timeout'"],
        ),
    ];
    for (args, expected) in cases {
        for scope in [None, Some("--user")] {
            let mut full = vec!["config", "set"];
            full.extend(scope);
            full.extend(*args);
            let err = lvm.fails(&full);
            for fragment in *expected {
                assert!(err.contains(fragment), "{full:?}: {err}");
            }
            assert_eq!(lvm.snapshot(), snapshot, "{full:?}");
            assert_eq!(lvm_toml(&lvm), env_before, "{full:?}");
            assert_eq!(
                std::fs::read_to_string(lvm.user_config()).unwrap(),
                user_before,
                "{full:?}"
            );
        }
    }
    // A bad flag is a usage error; a bad variable or file an error naming where it came from.
    let out = lvm.run(&["--http-timeout", "0", "config", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(allowed), "{err}");
    let out = lvm
        .command()
        .env("LVM_HTTP_TIMEOUT", "never")
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LVM_HTTP_TIMEOUT: http_timeout = 'never': not a number"),
        "{err}"
    );
    std::fs::write(lvm.user_config(), "http_timeout = -2\n").unwrap();
    let err = lvm.fails(&["list"]);
    assert!(
        err.contains(&format!(
            "{}: http_timeout = '-2'",
            lvm.user_config().display()
        )),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), snapshot);
}

/// Runs `lvm FLAGS... ARGS...` with `vars`, expecting it to fail on a network timeout; returns
/// how long it took.
fn timed_out(lvm: &Lvm, vars: &[(&str, &str)], flags: &[&str], args: &[&str]) -> Duration {
    let mut cmd = lvm.command();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.args(flags).args(args).output().unwrap();
    let waited = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.to_lowercase().contains("timed out"), "{args:?}: {err}");
    waited
}

/// Whether a wait was the 1 s setting rather than a longer one below it (45 s, or the
/// built-in 60 s per read).
fn waited_about_one_second(waited: Duration) -> bool {
    waited >= Duration::from_millis(900) && waited < Duration::from_secs(20)
}

#[test]
fn the_resolved_http_timeout_is_what_downloads_wait() {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("http-server");
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::serve(&dir);
    publish_fixtures(&dir, &server.url());
    lvm.init(&[&server.url()]);
    server.stall("/strutil-1.1-1.tar.gz");
    let install = ["install", "strutil"];

    // Each level, set to 1 s, outranks a longer value at the level below it.
    lvm.ok(&["config", "set", "--user", "http_timeout", "1"]);
    let waited = timed_out(&lvm, &[], &[], &install);
    assert!(waited_about_one_second(waited), "user: {waited:?}");
    lvm.ok(&["config", "set", "--user", "http_timeout", "45"]);
    lvm.ok(&["config", "set", "http_timeout", "1"]);
    let waited = timed_out(&lvm, &[], &[], &install);
    assert!(waited_about_one_second(waited), "environment: {waited:?}");
    lvm.ok(&["config", "set", "http_timeout", "45"]);
    let var = [("LVM_HTTP_TIMEOUT", "1")];
    let waited = timed_out(&lvm, &var, &[], &install);
    assert!(waited_about_one_second(waited), "env-var: {waited:?}");
    let var = [("LVM_HTTP_TIMEOUT", "45")];
    let waited = timed_out(&lvm, &var, &["--http-timeout", "1"], &install);
    assert!(waited_about_one_second(waited), "flag: {waited:?}");
    assert_eq!(lvm.installed(), Vec::<String>::new());
}

#[test]
fn the_resolved_http_timeout_is_what_git_waits() {
    let (lvm, _dir) = env_with_server();
    let served = lvm.root.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let server = TestServer::serve(&served);
    server.stall("/env.git/info/refs");
    server.stall("/rock.git/info/refs");
    let clone_to = lvm.root.path().join("clone").display().to_string();
    let clone = ["clone", &server.url_for("env.git"), &clone_to];

    // git's transport takes the setting from the process: flag, variable, user file...
    let var = [("LVM_HTTP_TIMEOUT", "45")];
    let waited = timed_out(&lvm, &var, &["--http-timeout", "1"], &clone);
    assert!(waited_about_one_second(waited), "flag: {waited:?}");
    lvm.ok(&["config", "set", "--user", "http_timeout", "45"]);
    let waited = timed_out(&lvm, &[("LVM_HTTP_TIMEOUT", "1")], &[], &clone);
    assert!(waited_about_one_second(waited), "env-var: {waited:?}");
    lvm.ok(&["config", "set", "--user", "http_timeout", "1"]);
    let waited = timed_out(&lvm, &[], &[], &clone);
    assert!(waited_about_one_second(waited), "user: {waited:?}");
    assert!(!Path::new(&clone_to).exists());
    // ...and the environment's lvm.toml, for the git sources it installs.
    lvm.ok(&["config", "set", "--user", "http_timeout", "45"]);
    lvm.ok(&["config", "set", "http_timeout", "1"]);
    let source = format!("git+{}@v1.0", server.url_for("rock.git"));
    let waited = timed_out(&lvm, &[], &[], &["install", &source]);
    assert!(waited_about_one_second(waited), "environment: {waited:?}");
}
