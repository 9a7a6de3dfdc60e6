//! The curator through the `lvm` binary: the shipped collections and profiles, user data files,
//! `lvm setup` against a rocks server generated from `tests/fixtures/curated/`, every `lvm
//! doctor` finding made real (and fixed with the command it prints), and every `lvm recommend`
//! rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common;
use crate::common::rocks::{Lvm, publish_dir, publish_dir_matching, stdout_ok};
use serde_json::Value;

fn curated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/curated")
}

/// A file:// server with the curated fixtures `keep` accepts.
fn server(lvm: &Lvm, keep: impl Fn(&str) -> bool) -> (PathBuf, String) {
    let dir = lvm.root.path().join("server");
    let url = format!("file://{}", dir.display());
    publish_dir_matching(&curated_dir(), &dir, &url, keep);
    (dir, url)
}

/// An environment on a server with every curated fixture.
fn env_with_all() -> (Lvm, PathBuf) {
    let lvm = Lvm::new();
    let (dir, url) = server(&lvm, |_| true);
    lvm.init(&[&url]);
    (lvm, dir)
}

/// Runs a printed command (`lvm ...`, `rm ... && lvm sync`, `git -C ...`) with `sh`, the test's
/// lvm first on PATH.
fn sh(lvm: &Lvm, command: &str) -> Output {
    sh_with(lvm, command, &[])
}

/// [`sh`] with more environment variables (`LVM_ENV` for another environment, say).
fn sh_with(lvm: &Lvm, command: &str, vars: &[(&str, &str)]) -> Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_lvm")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = lvm.command();
    cmd.env("PATH", path).args(["--version"]);
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c").arg(command);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    for (k, v) in vars {
        sh.env(k, v);
    }
    sh.current_dir(lvm.root.path()).output().unwrap()
}

fn doctor(lvm: &Lvm) -> (bool, Value) {
    let out = lvm.run(&["doctor", "--json", "--offline"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), json)
}

fn findings<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

/// Asserts doctor reports no errors.
fn assert_healthy(lvm: &Lvm) -> Value {
    let (ok, report) = doctor(lvm);
    assert!(ok && report["healthy"] == true, "{report:#}");
    report
}

/// Runs a finding's fix and asserts the environment is healthy afterwards.
fn apply_fix(lvm: &Lvm, finding: &Value) {
    let fix = finding["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("no fix: {finding}"));
    let out = sh(lvm, fix);
    stdout_ok(&out);
    assert_healthy(lvm);
}

fn installed(lvm: &Lvm) -> Vec<String> {
    let json: Value = serde_json::from_str(&lvm.ok(&["list", "--json"])).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn version_of(lvm: &Lvm, name: &str) -> Option<String> {
    let json: Value = serde_json::from_str(&lvm.ok(&["list", "--json"])).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| p["version"].as_str().unwrap().to_string())
}

/// The event of the current profile's head commit, and its parent's.
fn head_events(lvm: &Lvm) -> (Value, Value) {
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let event = |c: &git2::Commit| -> Value {
        let msg = c.message().unwrap().to_string();
        let json = msg
            .lines()
            .find_map(|l| l.strip_prefix("lvm-event:"))
            .unwrap();
        serde_json::from_str(json).unwrap()
    };
    (event(&head), event(&head.parent(0).unwrap()))
}

fn current_branch(lvm: &Lvm) -> String {
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    repo.head().unwrap().shorthand().unwrap().to_string()
}

fn recommendations(lvm: &Lvm, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["recommend", "--json"];
    args.extend_from_slice(extra);
    let json: Value = serde_json::from_str(&lvm.ok(&args)).unwrap();
    json["recommendations"].as_array().unwrap().clone()
}

fn rule<'a>(recs: &'a [Value], name: &str) -> Option<&'a Value> {
    recs.iter().find(|r| r["rule"] == name)
}

/// Commits the working manifest.json by hand (no lvm event), as a user editing the repository
/// would.
fn hand_commit_manifest(lvm: &Lvm, edit: impl FnOnce(&str) -> String) {
    let path = lvm.env_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&text)).unwrap();
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    common::rocks::commit_all(&repo, "hand edit of manifest.json");
}

// ---------------------------------------------------------------- data

#[test]
fn shipped_collections_and_profiles_load_and_list() {
    let lvm = Lvm::new();
    let json: Value = serde_json::from_str(&lvm.ok(&["collections", "--json"])).unwrap();
    let collections = json.as_array().unwrap();
    let names: Vec<&str> = collections
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["core", "networking", "parsing", "testing"]);
    let fixtures: Vec<String> = std::fs::read_dir(curated_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for c in collections {
        assert_eq!(c["category"], c["name"]);
        assert!(c["priority"].as_u64().unwrap() >= 1);
        assert!(c["file"].as_str().unwrap().starts_with("envs/"));
        for m in c["packages"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            assert!(!m["rationale"].as_str().unwrap().is_empty(), "{m}");
            assert!(m["version"].as_str().unwrap().starts_with(">="), "{m}");
            // Every curated package has a fixture of the same name for the setup tests.
            assert!(
                fixtures.iter().any(|f| f.starts_with(&format!("{name}-"))
                    && f[name.len() + 1..].starts_with(|c: char| c.is_ascii_digit())),
                "no fixture for {name}"
            );
        }
    }
    let text = lvm.ok(&["collections"]);
    assert!(
        text.contains("lua-cjson") && text.contains("Fast JSON encoding"),
        "{text}"
    );

    let json: Value = serde_json::from_str(&lvm.ok(&["profiles", "--json"])).unwrap();
    let profiles = json.as_array().unwrap();
    let by_name = |n: &str| profiles.iter().find(|p| p["name"] == n).unwrap();
    let standard = by_name("standard");
    assert_eq!(standard["extends"], "minimal");
    let busted = standard["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "busted")
        .unwrap();
    assert_eq!(busted["dev"], true);
    assert_eq!(by_name("minimal")["packages"].as_array().unwrap().len(), 4);
    let full_busted = by_name("full")["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "busted")
        .unwrap()
        .clone();
    assert_eq!(full_busted["dev"], false);
    let text = lvm.ok(&["profiles"]);
    assert!(text.contains("[dev only]"), "{text}");
}

#[test]
fn invalid_user_files_give_clear_errors() {
    let lvm = Lvm::new();
    let data = lvm.home().join("envs");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("mine.toml");
    let cases: &[(&str, &[&str])] = &[
        (
            "[collection.web]\ncategory = \"web\"\npriorty = 2\n",
            &[
                "mine.toml",
                "collection.web.priorty",
                "did you mean 'priority'",
            ],
        ),
        (
            "[collection.web]\ncategory = \"web\"\npriority = 2\nsummary = \"s\"\n\
             [[collection.web.packages]]\nname = \"http\"\nversion = \">= x!\"\nrationale = \"r\"\n",
            &["mine.toml", "collection.web.packages[1].version"],
        ),
        (
            "[collection.web]\ncategory = \"web\"\npriority = 2\nsummary = \"s\"\n\
             [[collection.web.packages]]\nname = \"http\"\n",
            &["collection.web.packages[1].rationale", "missing"],
        ),
        (
            "[profile.mine]\nsummary = \"s\"\ncollections = [\"core\", \"testin\"]\n",
            &[
                "mine.toml",
                "profile.mine.collections[2]",
                "did you mean 'testing'",
            ],
        ),
        (
            "[profile.mine]\nsummary = \"s\"\nextends = \"nope\"\n",
            &["profile.mine.extends", "no profile named 'nope'"],
        ),
        ("[collection.web\n", &["mine.toml", "not valid TOML"]),
        (
            "[group.json]\npurpose = \"p\"\nmembers = [\"lua-cjson\"]\n",
            &["group.json.members", "at least two"],
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&file, text).unwrap();
        for command in ["collections", "profiles"] {
            let err = lvm.fails(&[command]);
            for e in *expected {
                assert!(err.contains(e), "{text}\n→ {err}\n(missing {e})");
            }
        }
    }

    // Valid user data extends and overrides; named environments in the same folder are ignored.
    std::fs::write(
        &file,
        "[collection.core]\ncategory = \"core\"\npriority = 1\nsummary = \"my core\"\n\
         [[collection.core.packages]]\nname = \"inspect\"\nversion = \">= 3.1\"\nrationale = \"dumps\"\n\
         [profile.tiny]\nsummary = \"just inspect\"\ncollections = [\"core\"]\n",
    )
    .unwrap();
    std::fs::create_dir_all(data.join("default/.git")).unwrap();
    let json: Value = serde_json::from_str(&lvm.ok(&["collections", "--json"])).unwrap();
    let core = json
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "core")
        .unwrap();
    assert_eq!(core["summary"], "my core");
    assert_eq!(core["packages"].as_array().unwrap().len(), 1);
    assert!(lvm.ok(&["profiles"]).contains("tiny — just inspect"));
}

#[test]
fn environment_data_overrides_the_users() {
    let (lvm, _dir) = env_with_all();
    let user = lvm.home().join("envs");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("p.toml"),
        "[profile.app]\nsummary = \"user's\"\npackages = [\"dkjson\"]\n",
    )
    .unwrap();
    let env_data = lvm.env_dir().join("envs");
    std::fs::create_dir_all(&env_data).unwrap();
    std::fs::write(
        env_data.join("p.toml"),
        "[profile.app]\nsummary = \"the project's\"\npackages = [\"inspect >= 3.1\"]\n",
    )
    .unwrap();
    assert!(lvm.ok(&["profiles"]).contains("app — the project's"));
    lvm.ok(&["setup", "app"]);
    assert_eq!(installed(&lvm), ["inspect"]);
    assert_eq!(current_branch(&lvm), "app");
}

// ---------------------------------------------------------------- setup

/// The names of the packages `profile` installs, from `lvm profiles --json`, sorted.
fn profile_packages(catalog: &Value, profile: &str) -> Vec<String> {
    let mut names: Vec<String> = catalog
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == profile)
        .unwrap()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn setup_of_each_shipped_profile() {
    let (lvm, _dir) = env_with_all();
    let catalog: Value = serde_json::from_str(&lvm.ok(&["profiles", "--json"])).unwrap();
    for profile in ["minimal", "standard", "full"] {
        // Each profile branch starts from the empty default profile.
        if current_branch(&lvm) != "default" {
            lvm.ok(&["profile", "switch", "default"]);
        }
        let out = lvm.ok(&["setup", profile]);
        assert!(
            out.contains(&format!("Created profile '{profile}'")),
            "{out}"
        );
        assert_eq!(current_branch(&lvm), profile);
        // One setup event after the switch to the new branch.
        let (event, parent) = head_events(&lvm);
        assert_eq!(event["kind"], "setup");
        assert_eq!(event["args"], serde_json::json!([profile]));
        assert_eq!(parent["kind"], "profile-switch");
        let planned = profile_packages(&catalog, profile);
        let have = installed(&lvm);
        for name in &planned {
            assert!(have.iter().any(|h| h == name), "{profile}: {name} missing");
        }
        // Healthy, with no warning: the closure's C modules (OpenSSL linked) all load.
        let report = assert_healthy(&lvm);
        let worse_than_notes: Vec<&Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "note")
            .collect();
        assert!(worse_than_notes.is_empty(), "{profile}: {report:#}");
        if profile != "minimal" {
            // lua-http's closure, as the real rock's dependencies bring it.
            let have = installed(&lvm);
            for name in [
                "cqueues",
                "luaossl",
                "compat53",
                "bit32",
                "basexx",
                "lpeg",
                "lpeg_patterns",
                "binaryheap",
                "fifo",
                "lpeglabel",
            ] {
                assert!(
                    have.iter().any(|h| h == name),
                    "{profile}: {name} missing: {have:?}"
                );
            }
            assert_eq!(version_of(&lvm, "cqueues").unwrap(), "20200726.54-0");
            // http.zlib needs a zlib module no dependency brings: a note, not an error.
            let zlib = findings(&report, "require")
                .into_iter()
                .find(|f| {
                    f["reason"]
                        .as_str()
                        .unwrap()
                        .contains("'http.zlib' needs module 'zlib'")
                })
                .unwrap_or_else(|| panic!("{report:#}"));
            assert_eq!(zlib["severity"], "note");
        }
    }
    // The C modules linked against OpenSSL work in Debian's Lua.
    let out = stdout_ok(&lvm.lua(
        "local tls = require('http.tls'); print(tls.openssl_version:match('^OpenSSL') ~= nil, \
         #require('openssl.rand').bytes(16), require('bit32').bxor(5, 3))",
    ));
    assert_eq!(out.trim(), "true\t16\t6");
    // The curated modules work in Debian's Lua, C modules included.
    let out = stdout_ok(&lvm.lua(
        "local cjson = require('cjson'); local path = require('pl.path'); \
         local p = require('lua-parser.parser'); local b = require('busted'); \
         print(cjson.encode({1, 'a', true}), path.isdir('.'), p.parse('return 42')[1][1], \
         require('http.request').line(require('http.request').new_from_uri('/x')), b.split('a b')[2])",
    ));
    assert_eq!(out.trim(), "[1,\"a\",true]\ttrue\t42\tGET /x HTTP/1.1\tb");
    // Setting up the profile the environment is on installs in place.
    let out = lvm.ok(&["setup", "full"]);
    assert!(!out.contains("Created profile"), "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
}

/// The Lua modules (`share/lua/5.4`) and C modules (`lib/lua/5.4`) of a rocks tree, by name.
fn tree_modules(tree: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (dir, ext) in [("share/lua/5.4", "lua"), ("lib/lua/5.4", "so")] {
        let root = tree.join(dir);
        for entry in walkdir::WalkDir::new(&root).into_iter().flatten() {
            let rel = entry.path().strip_prefix(&root).unwrap().to_string_lossy();
            let Some(stem) = rel.strip_suffix(&format!(".{ext}")) else {
                continue;
            };
            let stem = stem.strip_suffix("/init").unwrap_or(stem);
            out.insert(stem.replace('/', "."));
        }
    }
    out
}

/// Requires `module` on its own with Debian's `lua5.4`, on `tree` only: `None` when it loads,
/// else the error's first line.
fn bare_require(tree: &Path, module: &str) -> Option<String> {
    let share = tree.join("share/lua/5.4");
    let lib = tree.join("lib/lua/5.4");
    let mut cmd = std::process::Command::new("lua5.4");
    for var in ["LUA_INIT", "LUA_INIT_5_4", "LUA_PATH_5_4", "LUA_CPATH_5_4"] {
        cmd.env_remove(var);
    }
    let out = cmd
        .env(
            "LUA_PATH",
            format!("{0}/?.lua;{0}/?/init.lua", share.display()),
        )
        .env("LUA_CPATH", format!("{}/?.so", lib.display()))
        .args(["-e", &format!("require('{module}')")])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (!out.status.success()).then(|| {
        let err = String::from_utf8_lossy(&out.stderr);
        err.lines().next().unwrap_or("").to_string()
    })
}

/// A LuaRocks tree (Debian's `luarocks`, Lua 5.4) with `packages` installed from `server`, one
/// `luarocks install` each as a user would.
fn luarocks_tree(lvm: &Lvm, tree: &Path, server: &str, packages: &[String]) {
    for package in packages {
        let mut cmd = std::process::Command::new("luarocks");
        for var in ["LUA_PATH", "LUA_CPATH", "LUA_INIT", "LUAROCKS_CONFIG"] {
            cmd.env_remove(var);
        }
        let out = cmd
            .env("HOME", lvm.root.path().join("luarocks-home"))
            .args(["--lua-version", "5.4", "--tree"])
            .arg(tree)
            .args(["install", "--only-server", server, package])
            .output()
            .unwrap();
        stdout_ok(&out);
    }
}

/// `name version` of every rock `luarocks list` finds in `tree`.
fn luarocks_list(lvm: &Lvm, tree: &Path) -> BTreeSet<String> {
    let out = std::process::Command::new("luarocks")
        .env("HOME", lvm.root.path().join("luarocks-home"))
        .args(["--lua-version", "5.4", "--tree"])
        .arg(tree)
        .args(["list", "--porcelain"])
        .output()
        .unwrap();
    stdout_ok(&out)
        .lines()
        .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

/// The modules of the `require` findings of these severities (`require('m') fails` in the reason).
fn modules_in_findings(report: &Value, severities: &[&str]) -> BTreeSet<String> {
    findings(report, "require")
        .into_iter()
        .filter(|f| severities.contains(&f["severity"].as_str().unwrap()))
        .filter_map(|f| {
            let reason = f["reason"].as_str().unwrap();
            let (_, rest) = reason.split_once("require('")?;
            Some(rest.split_once("') fails")?.0.to_string())
        })
        .collect()
}

/// The rule "a module that fails the same way in a tree LuaRocks built is never an lvm error",
/// on every shipped profile: the same packages installed by Debian's luarocks from the same
/// server, each module of that tree required on its own by Debian's lua5.4.
#[test]
#[cfg_attr(
    not(all(lvm_has_luarocks, lvm_has_lua54)),
    ignore = "needs Debian's luarocks and lua5.4"
)]
fn a_module_that_fails_in_a_luarocks_tree_is_never_a_doctor_error() {
    let lvm = Lvm::new();
    let (_dir, url) = server(&lvm, |_| true);
    lvm.init(&[&url]);
    let catalog: Value = serde_json::from_str(&lvm.ok(&["profiles", "--json"])).unwrap();
    // Profiles with the same packages share one LuaRocks tree.
    let mut trees: BTreeMap<Vec<String>, PathBuf> = BTreeMap::new();
    let mut failing_somewhere = BTreeSet::new();
    for profile in ["minimal", "standard", "full"] {
        if current_branch(&lvm) != "default" {
            lvm.ok(&["profile", "switch", "default"]);
        }
        lvm.ok(&["setup", profile]);
        let packages = profile_packages(&catalog, profile);
        let next = lvm.root.path().join(format!("luarocks-{}", trees.len()));
        let theirs = trees
            .entry(packages.clone())
            .or_insert_with(|| {
                luarocks_tree(&lvm, &next, &url, &packages);
                next
            })
            .clone();
        // The same rocks at the same versions, deploying the same modules.
        let ours: BTreeSet<String> = lvm.installed().into_iter().collect();
        assert_eq!(ours, luarocks_list(&lvm, &theirs), "{profile}");
        let modules = tree_modules(&theirs);
        assert_eq!(modules, tree_modules(&lvm.tree()), "{profile}");

        let (_, report) = doctor(&lvm);
        let errors = modules_in_findings(&report, &["error"]);
        let flagged = modules_in_findings(&report, &["error", "warning"]);
        for module in &modules {
            match bare_require(&theirs, module) {
                Some(why) => {
                    failing_somewhere.insert(module.clone());
                    assert!(
                        !errors.contains(module),
                        "{profile}: '{module}' fails in LuaRocks' tree too ({why}), so it is no lvm error: {report:#}"
                    );
                }
                None => {
                    assert_eq!(
                        bare_require(&lvm.tree(), module),
                        None,
                        "{profile}: '{module}' loads in LuaRocks' tree"
                    );
                    assert!(
                        !flagged.contains(module),
                        "{profile}: '{module}' loads in LuaRocks' tree: {report:#}"
                    );
                }
            }
        }
    }
    // The rule was put to the test: a command-line script and a module needing a library
    // nothing provides fail in LuaRocks' tree.
    assert!(
        failing_somewhere.contains("json2lua") && failing_somewhere.contains("http.zlib"),
        "{failing_somewhere:?}"
    );
}

#[test]
fn prod_leaves_dev_only_packages_out() {
    let (lvm, _dir) = env_with_all();
    let out = lvm.ok(&["setup", "standard", "--prod"]);
    assert!(
        out.contains("Left out (dev-only, --prod): busted, luassert"),
        "{out}"
    );
    let have = installed(&lvm);
    assert!(!have.contains(&"busted".into()) && !have.contains(&"luassert".into()));
    for name in ["lua-cjson", "http", "lua-parser", "lpeg", "luasocket"] {
        assert!(have.contains(&name.to_string()), "{name}: {have:?}");
    }
    let (event, _) = head_events(&lvm);
    assert_eq!(event["args"], serde_json::json!(["standard", "--prod"]));
    // A production profile lacking test tools is as intended.
    let recs = recommendations(&lvm, &["--offline"]);
    assert!(rule(&recs, "dev-tools").is_none(), "{recs:?}");

    // The development materialization on the same branch adds them.
    lvm.ok(&["setup", "standard"]);
    assert!(installed(&lvm).contains(&"busted".into()));
    // Back to production: the dev-only packages are named, and recommend removes them.
    let out = lvm.ok(&["setup", "standard", "--prod"]);
    assert!(
        out.contains("Still installed from an earlier development setup: busted, luassert"),
        "{out}"
    );
    // That setup changed nothing, so no event says it was for production: say so.
    let recs = recommendations(&lvm, &["--offline", "--prod"]);
    let extras = rule(&recs, "prod-extras").expect("prod-extras");
    assert_eq!(extras["command"], "lvm remove busted luassert");
    stdout_ok(&sh(&lvm, extras["command"].as_str().unwrap()));
    assert!(!installed(&lvm).contains(&"busted".into()));
    assert!(installed(&lvm).contains(&"penlight".into()));
}

#[test]
fn setup_conflict_goes_through_the_resolver_and_changes_nothing() {
    let (lvm, _dir) = env_with_all();
    lvm.ok(&["install", "legacy-tool"]);
    assert_eq!(version_of(&lvm, "penlight").unwrap(), "1.12.0-1");
    let before = lvm.snapshot();
    let err = lvm.fails(&["setup", "minimal"]);
    assert!(
        err.contains("penlight") && err.contains("legacy-tool"),
        "{err}"
    );
    assert!(err.contains("back on profile 'default'"), "{err}");
    assert_eq!(current_branch(&lvm), "default");
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    assert!(
        repo.find_branch("minimal", git2::BranchType::Local)
            .is_err()
    );
    // The environment's packages are as they were (the profile branch events are gone with it).
    let manifest_before = before.split("\n").skip(1).collect::<Vec<_>>().join("\n");
    let after = lvm.snapshot();
    assert_eq!(
        after.split("\n").skip(1).collect::<Vec<_>>().join("\n"),
        manifest_before
    );
    // Nothing at all changed: no event took the switch back (branches, heads, tree as before).
    assert_eq!(after, before);

    // recommend names the package whose dependencies conflict with the profile.
    let recs = recommendations(&lvm, &["--offline", "--profile", "minimal"]);
    let conflict = rule(&recs, "profile-conflict").expect("profile-conflict");
    assert_eq!(conflict["command"], "lvm remove legacy-tool");
    assert!(
        conflict["reason"]
            .as_str()
            .unwrap()
            .contains("penlight < 1.13"),
        "{conflict}"
    );
    stdout_ok(&sh(&lvm, conflict["command"].as_str().unwrap()));
    lvm.ok(&["setup", "minimal"]);
    assert_eq!(version_of(&lvm, "penlight").unwrap(), "1.14.0-1");
}

#[test]
fn unknown_profile_is_refused_with_the_known_ones() {
    let (lvm, _dir) = env_with_all();
    let before = lvm.snapshot();
    let err = lvm.fails(&["setup", "standrd"]);
    assert!(
        err.contains("no profile named 'standrd'; did you mean 'standard'?"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

// ---------------------------------------------------------------- doctor

/// An environment set up with the minimal profile (two C modules, penlight over lfs, inspect).
fn minimal_env() -> (Lvm, PathBuf) {
    let (lvm, dir) = env_with_all();
    lvm.ok(&["setup", "minimal"]);
    (lvm, dir)
}

#[test]
fn doctor_is_quiet_on_a_healthy_environment() {
    let (lvm, _dir) = minimal_env();
    let report = assert_healthy(&lvm);
    assert_eq!(report["packages"], 4);
    // cjson, cjson.util, lfs, inspect, pl.path, pl.utils (json2lua and lua2json are scripts)
    assert_eq!(report["modules_loaded"], 6);
    let text = lvm.ok(&["doctor", "--offline"]);
    assert!(
        text.contains("healthy: 4 packages, 6 modules load; 0 errors, 0 warnings"),
        "{text}"
    );
}

#[test]
fn doctor_notes_command_line_scripts_installed_as_modules() {
    let (lvm, _dir) = minimal_env();
    let report = assert_healthy(&lvm);
    let require = findings(&report, "require");
    assert_eq!(require.len(), 2, "{report:#}");
    for finding in &require {
        assert_eq!(finding["severity"], "note", "{finding}");
        assert_eq!(finding["package"], "lua-cjson");
        assert!(finding.get("fix").is_none(), "{finding}");
        let reason = finding["reason"].as_str().unwrap();
        assert!(
            reason.contains("command-line script installed as a module"),
            "{reason}"
        );
        assert!(reason.contains("global 'arg'"), "{reason}");
    }
    // lua2json loads once `arg` is set; json2lua then reads the (empty) input and says so.
    let reason = |module: &str| {
        require
            .iter()
            .map(|f| f["reason"].as_str().unwrap())
            .find(|r| r.contains(&format!("'{module}'")))
            .unwrap_or_else(|| panic!("{report:#}"))
            .to_string()
    };
    assert!(reason("lua2json").contains("with `arg` set it loads"));
    assert!(
        reason("json2lua").contains("gets past that (then:")
            && reason("json2lua").contains("expected a JSON array"),
        "{}",
        reason("json2lua")
    );
    // They are scripts that work when run as LuaRocks installs them.
    let script = lvm.tree().join("share/lua/5.4/lua2json.lua");
    let out = std::process::Command::new("lua5.4")
        .arg(&script)
        .args(["1", "2"])
        .env(
            "LUA_CPATH",
            format!("{}/lib/lua/5.4/?.so", lvm.tree().display()),
        )
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out).trim(), "[1,2]");
}

#[test]
fn doctor_finds_a_deleted_tree_file() {
    let (lvm, _dir) = minimal_env();
    std::fs::remove_file(lvm.tree().join("share/lua/5.4/inspect.lua")).unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let tree = findings(&report, "tree");
    assert_eq!(tree.len(), 1, "{report:#}");
    assert_eq!(tree[0]["severity"], "error");
    assert!(
        tree[0]["reason"]
            .as_str()
            .unwrap()
            .contains("share/lua/5.4/inspect.lua is missing"),
        "{report:#}"
    );
    let require = findings(&report, "require");
    assert!(
        require[0]["reason"]
            .as_str()
            .unwrap()
            .contains("require('inspect') fails"),
        "{report:#}"
    );
    assert_eq!(require[0]["fix"], tree[0]["fix"]);
    let text = lvm.run(&["doctor", "--offline"]);
    assert_eq!(text.status.code(), Some(1));
    apply_fix(&lvm, tree[0]);
}

#[test]
fn doctor_finds_a_rock_file_that_differs_from_its_hash() {
    let (lvm, _dir) = minimal_env();
    let rock_file = lvm.tree().join("share/lua/5.4/pl/utils.lua");
    std::fs::remove_file(&rock_file).unwrap();
    std::fs::write(&rock_file, "return {}\n").unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let files = findings(&report, "files");
    let hit = files
        .iter()
        .find(|f| f["reason"].as_str().unwrap().contains("pl/utils.lua"))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(hit["fix"], "lvm verify --repair");
    apply_fix(&lvm, hit);
}

#[test]
fn doctor_finds_a_corrupt_working_manifest() {
    let (lvm, _dir) = minimal_env();
    std::fs::write(lvm.env_dir().join("manifest.json"), "{ corrupt").unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let files = findings(&report, "files");
    assert!(
        files.iter().any(|f| f["reason"]
            .as_str()
            .unwrap()
            .contains("differs from the recorded state")),
        "{report:#}"
    );
    apply_fix(&lvm, files[0]);
}

#[test]
fn doctor_finds_a_corrupt_manifest_in_a_hand_commit() {
    let (lvm, _dir) = minimal_env();
    hand_commit_manifest(&lvm, |_| "{ corrupt".into());
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let history = findings(&report, "history");
    assert_eq!(history.len(), 1, "{report:#}");
    let reason = history[0]["reason"].as_str().unwrap();
    assert!(reason.contains("no lvm event"), "{reason}");
    assert!(reason.contains("discards 1 commit"), "{reason}");
    let fix = history[0]["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("git -C ") && fix.ends_with("&& lvm sync"),
        "{fix}"
    );
    let manifest = findings(&report, "manifest");
    assert_eq!(manifest[0]["fix"], history[0]["fix"]);
    apply_fix(&lvm, history[0]);
    assert_eq!(installed(&lvm).len(), 4);
}

#[test]
fn doctor_finds_a_dependency_removed_by_hand() {
    // From the recorded state, in a hand commit.
    let (lvm, _dir) = minimal_env();
    hand_commit_manifest(&lvm, |text| {
        let mut json: Value = serde_json::from_str(text).unwrap();
        json["packages"]
            .as_object_mut()
            .unwrap()
            .remove("luafilesystem");
        serde_json::to_string_pretty(&json).unwrap() + "\n"
    });
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let deps = findings(&report, "dependencies");
    assert!(
        deps.iter().any(|f| f["package"] == "penlight"
            && f["reason"]
                .as_str()
                .unwrap()
                .contains("needs luafilesystem >= 1.6, which is not installed")),
        "{report:#}"
    );
    // The recorded state was edited without an event: the fix returns to the last sound one.
    let history = findings(&report, "history");
    assert_eq!(deps[0]["fix"], history[0]["fix"]);
    apply_fix(&lvm, deps[0]);

    // From the tree, by hand.
    std::fs::remove_dir_all(lvm.tree().join("lib/luarocks/rocks-5.4/luafilesystem")).unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let deps = findings(&report, "dependencies");
    assert!(
        deps.iter().any(|f| f["reason"].as_str().unwrap().contains(
            "penlight needs luafilesystem, but luafilesystem 1.8.0-1 is missing from the tree"
        )),
        "{report:#}"
    );
    apply_fix(&lvm, deps[0]);
}

#[test]
fn doctor_finds_a_broken_c_module() {
    let (lvm, _dir) = minimal_env();
    let so = lvm.tree().join("lib/lua/5.4/cjson.so");
    // A new file: the tree's copy is a hard link into the store, which must stay intact.
    std::fs::remove_file(&so).unwrap();
    std::fs::write(&so, b"this is not a shared object").unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    // cjson, and lua2json which requires it; json2lua stays a note (it fails on `arg` first).
    let require: Vec<&Value> = findings(&report, "require")
        .into_iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(require.len(), 2, "{report:#}");
    assert!(require.iter().all(|f| f["package"] == "lua-cjson"));
    assert_eq!(require[0]["fix"], require[1]["fix"]);
    assert!(
        require[0]["reason"].as_str().unwrap().contains("cjson.so"),
        "{report:#}"
    );
    assert!(
        findings(&report, "tree")[0]["reason"]
            .as_str()
            .unwrap()
            .contains("lib/lua/5.4/cjson.so differs"),
        "{report:#}"
    );
    apply_fix(&lvm, require[0]);
    let out = stdout_ok(&lvm.lua("print(require('cjson').encode('x'))"));
    assert_eq!(out.trim(), "\"x\"");

    // A module that fails because a dependency's C module is broken gets that one's fix.
    let so = lvm.tree().join("lib/lua/5.4/lfs.so");
    std::fs::remove_file(&so).unwrap();
    std::fs::write(&so, b"").unwrap();
    let (_, report) = doctor(&lvm);
    let require = findings(&report, "require");
    let penlight = require
        .iter()
        .find(|f| f["package"] == "penlight")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(
        penlight["reason"]
            .as_str()
            .unwrap()
            .contains("require('pl.path')"),
        "{report:#}"
    );
    let tree = findings(&report, "tree");
    assert_eq!(tree[0]["package"], "luafilesystem");
    assert_eq!(penlight["fix"], tree[0]["fix"]);
    apply_fix(&lvm, penlight);
}

/// A rock source folder at `root/<name>-1.0-1/` published on its own server; returns its URL.
fn publish_generated(lvm: &Lvm, name: &str, rockspec_body: &str, files: &[(&str, &str)]) -> String {
    publish_rocks(lvm, name, &[(name, rockspec_body, files)])
}

/// A generated rock: its name, its rockspec lines after the common ones, its files.
type GeneratedRock<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Rock source folders `root/<name>-1.0-1/` (name, rockspec lines after the common ones, files)
/// published together on the server `server-<server>`; returns its URL. A `dependencies` line in
/// the body replaces the common one.
fn publish_rocks(lvm: &Lvm, server: &str, rocks: &[GeneratedRock]) -> String {
    let src_root = lvm.root.path().join(format!("src-{server}"));
    for (name, rockspec_body, files) in rocks {
        let rock = src_root.join(format!("{name}-1.0-1"));
        std::fs::create_dir_all(&rock).unwrap();
        std::fs::write(
            rock.join(format!("{name}-1.0-1.rockspec")),
            format!(
                "package = \"{name}\"\nversion = \"1.0-1\"\n\
                 source = {{ url = \"@SERVER@/{name}-1.0-1.tar.gz\" }}\n\
                 description = {{ summary = \"Test fixture generated by tests/curator.rs\" }}\n\
                 dependencies = {{ \"lua >= 5.1\" }}\n{rockspec_body}"
            ),
        )
        .unwrap();
        for (file, text) in *files {
            std::fs::write(rock.join(file), text).unwrap();
        }
    }
    let dir = lvm.root.path().join(format!("server-{server}"));
    let url = format!("file://{}", dir.display());
    publish_dir(&src_root, &dir, &url);
    url
}

/// A rock in the shapes doctor must tell apart: `plugged` loads, `plugged.extra` extends the
/// table its parent registered (loads only after it), `plugged.fast` is an optional accelerator
/// needing a module nothing provides, `plugged.legacy` does not compile.
const PLUGGED: GeneratedRock = (
    "plugged",
    "build = { type = \"builtin\", modules = { plugged = \"plugged.lua\", \
     [\"plugged.extra\"] = \"extra.lua\", [\"plugged.fast\"] = \"fast.lua\", \
     [\"plugged.legacy\"] = \"legacy.lua\" } }\n",
    &[
        (
            "plugged.lua",
            "local plugged = { parts = {} }\npackage.loaded['plugged'] = plugged\nreturn plugged\n",
        ),
        (
            "extra.lua",
            "local parent = package.loaded['plugged']\nparent.parts.extra = true\nreturn parent.parts\n",
        ),
        ("fast.lua", "return require('lvm_fixture_fastlib')\n"),
        ("legacy.lua", "return function(\n"),
    ],
);

#[test]
fn doctor_tells_a_broken_rock_from_modules_that_load_only_in_context() {
    let lvm = Lvm::new();
    let url = publish_rocks(
        &lvm,
        "shapes",
        &[
            PLUGGED,
            (
                "brokenlib",
                "build = { type = \"builtin\", modules = { brokenlib = \"brokenlib.lua\", \
                 [\"brokenlib.version\"] = \"version.lua\" } }\n",
                &[
                    (
                        "brokenlib.lua",
                        "local config = nil\nreturn { level = config.level }\n",
                    ),
                    ("version.lua", "return '1.0'\n"),
                ],
            ),
            (
                "usesbroken",
                "dependencies = { \"lua >= 5.1\", \"brokenlib\" }\n\
                 build = { type = \"builtin\", modules = { usesbroken = \"usesbroken.lua\" } }\n",
                &[("usesbroken.lua", "return { lib = require('brokenlib') }\n")],
            ),
        ],
    );
    lvm.init(&[&url]);
    lvm.ok(&["install", "plugged", "usesbroken"]);
    let (ok, report) = doctor(&lvm);
    assert!(!ok, "{report:#}");
    let require = findings(&report, "require");
    let about = |module: &str| -> &Value {
        require
            .iter()
            .find(|f| f["reason"].as_str().unwrap().contains(module))
            .unwrap_or_else(|| panic!("{module}: {report:#}"))
    };
    // Needs its parent: a note saying so, no fix.
    let extra = about("'plugged.extra' loads only after 'plugged'");
    assert_eq!(extra["severity"], "note");
    assert!(extra.get("fix").is_none());
    // An optional module nothing installed provides: a note.
    let fast = about("'plugged.fast' needs module 'lvm_fixture_fastlib'");
    assert_eq!(fast["severity"], "note");
    // A side module that does not load while the main one does: a warning, not an error.
    let legacy = about("require('plugged.legacy') fails");
    assert_eq!(legacy["severity"], "warning");
    assert!(
        legacy["reason"]
            .as_str()
            .unwrap()
            .contains("plugged's main modules load"),
        "{legacy}"
    );
    // The main module of brokenlib fails: an error, and since usesbroken needs it the fix says
    // that removing it takes usesbroken along.
    let broken = about("require('brokenlib') fails");
    assert_eq!(broken["severity"], "error");
    assert_eq!(broken["package"], "brokenlib");
    let fix = broken["fix"].as_str().unwrap();
    assert!(
        fix.starts_with(
            "lvm remove usesbroken   # brokenlib does not load as built, and usesbroken need it"
        ),
        "{fix}"
    );
    let uses = about("require('usesbroken') fails");
    assert_eq!(uses["severity"], "error");
    assert_eq!(uses["fix"], broken["fix"]);
    assert_eq!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .count(),
        2,
        "{report:#}"
    );
    apply_fix(&lvm, broken);
    assert_eq!(installed(&lvm), vec!["plugged"]);
}

/// A project folder `ROOT/project` with its own environment in `.lvm`: the folder
/// `lvm recommend --scan` and `lvm doctor` read the project's code from.
struct Project<'a> {
    lvm: &'a Lvm,
    dir: PathBuf,
    env: PathBuf,
}

impl<'a> Project<'a> {
    fn new(lvm: &'a Lvm) -> Project<'a> {
        let dir = lvm.root.path().join("project");
        let env = dir.join(".lvm");
        Project { lvm, dir, env }
    }

    /// Runs lvm on the project's environment.
    fn run(&self, args: &[&str]) -> Output {
        let env = self.env.display().to_string();
        let mut all = vec!["--env", env.as_str()];
        all.extend_from_slice(args);
        self.lvm.run(&all)
    }

    fn ok(&self, args: &[&str]) -> String {
        stdout_ok(&self.run(args))
    }

    /// Writes a file of the project (`rel` relative to its folder).
    fn write(&self, rel: &str, text: &str) {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A module the project's own code requires is a main module: when it does not load, the rock
/// is unusable for the project (an error whose fix names the require), while the same module
/// no code requires is a note or a warning.
#[test]
fn doctor_treats_modules_the_project_requires_as_main_modules() {
    let lvm = Lvm::new();
    let url = publish_rocks(&lvm, "project", &[PLUGGED]);
    let project = Project::new(&lvm);
    project.ok(&["init", "--server", &url]);
    project.ok(&["install", "plugged"]);
    let doctor = || -> (bool, Value) {
        let out = project.run(&["doctor", "--json", "--offline"]);
        (
            out.status.success(),
            serde_json::from_slice(&out.stdout).unwrap(),
        )
    };
    let severity_of = |report: &Value, text: &str| -> (String, Value) {
        let found = findings(report, "require")
            .into_iter()
            .find(|f| f["reason"].as_str().unwrap().contains(text))
            .unwrap_or_else(|| panic!("{text}: {report:#}"));
        (
            found["severity"].as_str().unwrap().to_string(),
            found.clone(),
        )
    };
    // No project code yet: the optional part is a note, the broken side module a warning.
    let (ok, report) = doctor();
    assert!(ok, "{report:#}");
    assert_eq!(
        severity_of(&report, "'plugged.fast' needs module").0,
        "note"
    );
    assert_eq!(
        severity_of(&report, "require('plugged.legacy') fails").0,
        "warning"
    );

    project.write(
        "src/app.lua",
        "local plugged = require(\"plugged\")\n\
         local fast = require \"plugged.fast\"\n\
         local ok, legacy = pcall(require, \"plugged.legacy\") -- optional: not a main module\n\
         local extra = require(\"plugged.extra\") -- after its parent, as it needs\n",
    );
    project.write(
        "src/cli.lua",
        "-- the command line\n\nlocal app = require('app')\nlocal legacy = require('plugged.legacy')\n",
    );
    let (ok, report) = doctor();
    assert!(!ok, "{report:#}");
    let (severity, fast) = severity_of(&report, "require('plugged.fast') fails");
    assert_eq!(severity, "error");
    assert!(
        fast["reason"]
            .as_str()
            .unwrap()
            .contains("the project requires it at src/app.lua:2"),
        "{fast}"
    );
    let fix = fast["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("lvm search lvm_fixture_fastlib   # 'plugged.fast', required at src/app.lua:2, needs 'lvm_fixture_fastlib'"),
        "{fix}"
    );
    let (severity, legacy) = severity_of(&report, "require('plugged.legacy') fails");
    assert_eq!(severity, "error");
    let fix = legacy["fix"].as_str().unwrap();
    assert!(
        fix.contains("change the require of 'plugged.legacy' at src/cli.lua:4"),
        "{fix}"
    );
    assert!(!fix.contains("lvm remove"), "{fix}");
    // Needing its parent is not a defect: the project requires the parent first.
    assert_eq!(
        severity_of(&report, "'plugged.extra' loads only after").0,
        "note"
    );
    let errors = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .count();
    assert_eq!(errors, 2, "{report:#}");

    // Changing the requires the fixes name makes the environment healthy again.
    project.write(
        "src/app.lua",
        "local plugged = require(\"plugged\")\nlocal ok, fast = pcall(require, \"plugged.fast\")\n",
    );
    project.write("src/cli.lua", "local app = require('app')\n");
    let (ok, report) = doctor();
    assert!(ok, "{report:#}");
}

#[test]
fn doctor_finds_a_missing_external_library() {
    let (lvm, _dir) = env_with_all();
    // A system library of the test's own, linked by a C module with an rpath to it.
    let ext = lvm.root.path().join("ext");
    std::fs::create_dir_all(&ext).unwrap();
    std::fs::write(
        ext.join("extfoo.c"),
        "int extfoo_answer(void) { return 42; }\n",
    )
    .unwrap();
    std::fs::write(ext.join("extfoo.h"), "int extfoo_answer(void);\n").unwrap();
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(ext.join("libextfoo.so"))
        .arg(ext.join("extfoo.c"))
        .status()
        .unwrap();
    assert!(status.success());
    let makefile = "extmod.so: extmod.c\n\
        \t$(CC) $(CFLAGS) -I$(LUA_INCDIR) -I$(EXTDIR) $(LIBFLAG) -o extmod.so extmod.c -L$(EXTDIR) -lextfoo -Wl,-rpath,$(EXTDIR)\n\
        install: extmod.so\n\tmkdir -p $(INST_LIBDIR)\n\tcp extmod.so $(INST_LIBDIR)/extmod.so\n";
    let source = "#include <lua.h>\n#include \"extfoo.h\"\n\
        static int answer(lua_State *L) { lua_pushinteger(L, extfoo_answer()); return 1; }\n\
        int luaopen_extmod(lua_State *L) { lua_pushcfunction(L, answer); return 1; }\n";
    let body = format!(
        "build = {{ type = \"make\",\n\
           build_variables = {{ EXTDIR = \"{0}\", CFLAGS = \"$(CFLAGS)\", LUA_INCDIR = \"$(LUA_INCDIR)\", LIBFLAG = \"$(LIBFLAG)\" }},\n\
           install_variables = {{ INST_LIBDIR = \"$(LIBDIR)\" }} }}\n",
        ext.display()
    );
    let url = publish_generated(
        &lvm,
        "extmod",
        &body,
        &[("Makefile", makefile), ("extmod.c", source)],
    );
    lvm.ok(&["install", "--server", &url, "extmod"]);
    let out = stdout_ok(&lvm.lua("print(require('extmod')())"));
    assert_eq!(out.trim(), "42");
    assert_healthy(&lvm);

    std::fs::remove_file(ext.join("libextfoo.so")).unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let libs = findings(&report, "libraries");
    assert_eq!(libs.len(), 1, "{report:#}");
    assert_eq!(libs[0]["package"], "extmod");
    assert!(
        libs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("needs the shared library libextfoo.so, which is gone"),
        "{report:#}"
    );
    assert!(libs[0]["fix"].as_str().unwrap().contains("libextfoo.so"));
    let require = findings(&report, "require");
    assert_eq!(require[0]["fix"], libs[0]["fix"], "{report:#}");
}

#[test]
fn doctor_reports_modules_that_need_symbols_nobody_has() {
    let (lvm, _dir) = env_with_all();
    let source = "#include <lua.h>\nint lvm_fixture_symbol_nobody_defines(void);\n\
        static int f(lua_State *L) { lua_pushinteger(L, lvm_fixture_symbol_nobody_defines()); return 1; }\n\
        int luaopen_unlinked(lua_State *L) { lua_pushcfunction(L, f); return 1; }\n";
    let url = publish_generated(
        &lvm,
        "unlinked",
        "build = { type = \"builtin\", modules = { unlinked = \"unlinked.c\" } }\n",
        &[("unlinked.c", source)],
    );
    lvm.ok(&["install", "--server", &url, "unlinked"]);
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let require = findings(&report, "require");
    assert_eq!(require.len(), 1, "{report:#}");
    let reason = require[0]["reason"].as_str().unwrap();
    assert!(reason.contains("undefined symbol"), "{reason}");
    assert!(
        reason.contains("lvm_fixture_symbol_nobody_defines"),
        "{reason}"
    );
    // The embedded VM could not link it, so Debian's lua5.4 gave the verdict.
    assert!(reason.contains("checked with lua5.4"), "{reason}");
    assert_eq!(
        require[0]["fix"],
        "lvm remove unlinked   # the rock as built does not load; report it to its authors"
    );
    apply_fix(&lvm, require[0]);
}

#[test]
fn doctor_notes_curated_constraints_no_published_version_satisfies() {
    let (lvm, _dir) = minimal_env();
    // Healthy against the servers: every curated name and floor of minimal is published.
    let out = lvm.ok(&["doctor", "--json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(findings(&report, "curated").is_empty(), "{report:#}");
    // The user's data raises a floor above every release and names a package nobody publishes.
    let user = lvm.home().join("envs");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("core.toml"),
        "[collection.core]\ncategory = \"core\"\npriority = 1\nsummary = \"mine\"\n\
         [[collection.core.packages]]\nname = \"inspect\"\nversion = \">= 4.0\"\nrationale = \"r\"\n\
         [[collection.core.packages]]\nname = \"lua-cjsonn\"\nrationale = \"r\"\n",
    )
    .unwrap();
    let out = lvm.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "notes only: {report:#}");
    let curated = findings(&report, "curated");
    assert_eq!(curated.len(), 2, "{report:#}");
    assert!(curated.iter().all(|f| f["severity"] == "note"));
    let reason = |name: &str| {
        curated
            .iter()
            .find(|f| f["package"] == name)
            .unwrap_or_else(|| panic!("{name}: {report:#}"))["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        reason("inspect").contains(
            "profile minimal asks for inspect >= 4.0 (collection core), but no published version satisfies it (the servers have 3.1.2-1, 3.1.3-1)"
        ),
        "{}",
        reason("inspect")
    );
    assert!(
        reason("lua-cjsonn").contains("no configured server publishes lua-cjsonn"),
        "{}",
        reason("lua-cjsonn")
    );
}

#[test]
fn doctor_finds_config_problems() {
    let (lvm, dir) = minimal_env();
    let config = lvm.env_dir().join("lvm.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}colour = \"blue\"\n")).unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let cfg = findings(&report, "config");
    assert!(
        cfg[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown key 'colour'"),
        "{report:#}"
    );
    apply_fix(&lvm, cfg[0]);

    // The configured server folder is gone.
    std::fs::rename(&dir, lvm.root.path().join("moved")).unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    let cfg = findings(&report, "config");
    assert!(
        cfg[0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{report:#}"
    );
    std::fs::rename(lvm.root.path().join("moved"), &dir).unwrap();

    // Invalid curated data is a configuration problem too.
    let env_data = lvm.env_dir().join("envs");
    std::fs::create_dir_all(&env_data).unwrap();
    std::fs::write(env_data.join("x.toml"), "[profile.x]\nsumary = \"s\"\n").unwrap();
    let (ok, report) = doctor(&lvm);
    assert!(!ok);
    assert!(
        findings(&report, "catalog")[0]["reason"]
            .as_str()
            .unwrap()
            .contains("profile.x.sumary"),
        "{report:#}"
    );
}

#[test]
fn doctor_notes_newer_versions_and_unreachable_servers() {
    let lvm = Lvm::new();
    let (dir, url) = server(&lvm, |d| d != "inspect-3.1.3-1");
    // A second server nothing listens on: offline is a note, not a failure.
    lvm.init(&[&url, "http://127.0.0.1:9/rocks"]);
    lvm.ok(&["install", "inspect"]);
    assert_eq!(version_of(&lvm, "inspect").unwrap(), "3.1.2-1");
    publish_dir_matching(&curated_dir(), &dir, &url, |d| d == "inspect-3.1.3-1");

    let out = lvm.run(&["doctor", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let updates = findings(&report, "updates");
    assert!(
        updates.iter().all(|f| f["severity"] == "note"),
        "{report:#}"
    );
    assert!(
        updates.iter().any(|f| f["reason"]
            .as_str()
            .unwrap()
            .contains("could not read rocks server http://127.0.0.1:9/rocks")),
        "{report:#}"
    );
    let newer = updates
        .iter()
        .find(|f| f["package"] == "inspect")
        .expect("inspect update");
    assert_eq!(newer["fix"], "lvm install 'inspect >= 3.1.3-1'");

    // recommend suggests the same update, and its command applies it.
    let recs = recommendations(&lvm, &[]);
    let update = rule(&recs, "update").expect("update");
    assert_eq!(update["command"], "lvm install 'inspect >= 3.1.3-1'");
    stdout_ok(&sh(&lvm, update["command"].as_str().unwrap()));
    assert_eq!(version_of(&lvm, "inspect").unwrap(), "3.1.3-1");
    assert!(rule(&recommendations(&lvm, &[]), "update").is_none());
}

/// Records a state in which `name` is no longer requested, through lvm's own change protocol.
fn unrequest(lvm: &Lvm, name: &str) {
    let env = lvm::env::Environment::open(&lvm.env_dir(), lvm::env::Home::new(lvm.home())).unwrap();
    let env = env.lock(std::time::Duration::from_secs(10)).unwrap();
    let mut state = env.manifest().unwrap();
    state.packages.get_mut(name).unwrap().reason.requested = None;
    env.record(
        lvm::events::EventKind::Install,
        vec![],
        state,
        Default::default(),
        Default::default(),
        (0, 0),
    )
    .unwrap()
    .unwrap();
}

#[test]
fn orphans_are_reported_and_removed() {
    let (lvm, _dir) = env_with_all();
    lvm.ok(&["install", "inspect", "lua-cjson"]);
    unrequest(&lvm, "inspect");
    let (ok, report) = doctor(&lvm);
    assert!(ok, "orphans are a warning: {report:#}");
    let orphans = findings(&report, "orphans");
    assert_eq!(orphans[0]["severity"], "warning");
    assert_eq!(orphans[0]["fix"], "lvm remove inspect");
    let recs = recommendations(&lvm, &["--offline"]);
    let rec = rule(&recs, "orphans").expect("orphans");
    assert_eq!(rec["command"], "lvm remove inspect");
    stdout_ok(&sh(&lvm, rec["command"].as_str().unwrap()));
    assert_eq!(installed(&lvm), ["lua-cjson"]);
    assert!(findings(&assert_healthy(&lvm), "orphans").is_empty());
}

// ---------------------------------------------------------------- recommend

#[test]
fn recommends_completing_a_collection_the_environment_mostly_has() {
    let (lvm, _dir) = env_with_all();
    lvm.ok(&["install", "lua-cjson", "penlight", "inspect"]);
    let recs = recommendations(&lvm, &["--offline"]);
    // luafilesystem came in as penlight's dependency: 4 of 4 core members are installed.
    assert!(rule(&recs, "collection").is_none(), "{recs:?}");
    lvm.ok(&["install", "luasocket"]);
    // networking: 1 of 2 is not "mostly".
    assert!(rule(&recommendations(&lvm, &["--offline"]), "collection").is_none());

    let (lvm, _dir) = env_with_all();
    lvm.ok(&["install", "lua-cjson", "luafilesystem", "inspect"]);
    let recs = recommendations(&lvm, &["--offline"]);
    let rec = rule(&recs, "collection").expect("collection");
    assert_eq!(rec["packages"], serde_json::json!(["penlight"]));
    assert_eq!(rec["command"], "lvm install 'penlight >= 1.13'");
    assert!(
        rec["reason"].as_str().unwrap().contains("3 of the 4"),
        "{rec}"
    );
    stdout_ok(&sh(&lvm, rec["command"].as_str().unwrap()));
    assert!(rule(&recommendations(&lvm, &["--offline"]), "collection").is_none());
}

#[test]
fn recommends_test_tools_a_dev_profile_lacks() {
    let (lvm, _dir) = env_with_all();
    lvm.ok(&["setup", "standard"]);
    assert!(rule(&recommendations(&lvm, &["--offline"]), "dev-tools").is_none());
    lvm.ok(&["remove", "busted", "luassert"]);
    let recs = recommendations(&lvm, &["--offline"]);
    let rec = rule(&recs, "dev-tools").expect("dev-tools");
    assert_eq!(
        rec["command"],
        "lvm install 'busted >= 2.0' 'luassert >= 1.8'"
    );
    stdout_ok(&sh(&lvm, rec["command"].as_str().unwrap()));
    assert!(installed(&lvm).contains(&"busted".into()));
}

#[test]
fn recommends_keeping_one_of_two_json_libraries() {
    let (lvm, _dir) = env_with_all();
    lvm.ok(&["install", "dkjson", "lua-cjson"]);
    let recs = recommendations(&lvm, &["--offline"]);
    let rec = rule(&recs, "duplicate").expect("duplicate");
    assert_eq!(rec["command"], "lvm remove dkjson");
    assert!(
        rec["reason"].as_str().unwrap().contains("keep lua-cjson"),
        "{rec}"
    );
    stdout_ok(&sh(&lvm, rec["command"].as_str().unwrap()));
    assert_eq!(installed(&lvm), ["lua-cjson"]);
    assert!(rule(&recommendations(&lvm, &["--offline"]), "duplicate").is_none());
    let text = lvm.ok(&["recommend", "--offline"]);
    assert!(text.contains("No recommendations."), "{text}");
}

#[test]
fn init_with_a_profile_sets_it_up_in_one_go() {
    let lvm = Lvm::new();
    let (_dir, url) = server(&lvm, |_| true);
    let out = lvm.ok(&["init", "--server", &url, "--profile", "minimal", "--prod"]);
    assert!(out.contains("Initialized lvm environment"), "{out}");
    assert_eq!(current_branch(&lvm), "minimal");
    let (event, _) = head_events(&lvm);
    assert_eq!(event["kind"], "setup");
    assert_eq!(event["args"], serde_json::json!(["minimal", "--prod"]));
    assert!(!installed(&lvm).is_empty());
}

#[test]
fn init_with_a_profile_that_fails_leaves_no_environment() {
    let lvm = Lvm::new();
    // A profile that does not exist is refused before anything is made.
    let (_dir, url) = server(&lvm, |_| true);
    let err = lvm.fails(&["init", "--server", &url, "--profile", "nosuch"]);
    assert!(err.contains("nosuch"), "{err}");
    assert!(!lvm.env_dir().exists(), "{err}");
    // A profile whose packages the server lacks fails in the setup: the new environment goes.
    let lvm = Lvm::new();
    let (_empty, empty_url) = server(&lvm, |name| name.starts_with("inspect"));
    let err = lvm.fails(&["init", "--server", &empty_url, "--profile", "minimal"]);
    assert!(err.contains("was not created"), "{err}");
    assert!(!lvm.env_dir().exists(), "{err}");
    // Into a folder that was there and empty: it stays, empty again.
    let folder = lvm.root.path().join("empty-folder");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.to_str().unwrap();
    let err = lvm.fails(&["init", path, "--server", &empty_url, "--profile", "minimal"]);
    assert!(err.contains("was not created"), "{err}");
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0, "{err}");
}

#[test]
fn a_failed_setup_on_an_existing_profile_branch_leaves_it_where_it_was() {
    let (lvm, _dir) = env_with_all();
    lvm.ok(&["install", "legacy-tool"]);
    // The profile branch exists already (with legacy-tool, which clashes with the profile).
    lvm.ok(&["profile", "create", "minimal"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["setup", "minimal"]);
    assert!(err.contains("back on profile 'default'"), "{err}");
    assert_eq!(current_branch(&lvm), "default");
    // Its switch event is taken back: every branch head, the manifest and the tree as before.
    assert_eq!(lvm.snapshot(), before);
    lvm.ok(&["verify"]);
}

// ---------------------------------------------------------------- recommend --scan

#[test]
fn recommend_scan_reads_the_projects_requires() {
    let lvm = Lvm::new();
    let (_dir, url) = server(&lvm, |_| true);
    // A project with its own environment in .lvm, the default folder to scan.
    let project = Project::new(&lvm);
    let env = &project.env;
    let env_arg = env.display().to_string();
    let run = |args: &[&str]| project.ok(args);
    run(&["init", "--server", &url]);
    run(&[
        "install",
        "lua-cjson",
        "penlight",
        "dkjson",
        "inspect",
        "luassert",
    ]);
    project.write(
        "src/app.lua",
        "local cjson = require \"cjson\"\n\
         local path = require(\"pl.path\")\n\
         local util = require \"app.util\" -- the project's own module\n\
         local parser = require(\"lua-parser.parser\")\n\
         local x = require(\"lvm_fixture_nobody_provides\")\n\
         local plugin = require(\"plugins.\" .. name)\n\
         -- require \"dkjson\" is only mentioned in a comment\n\
         local s = \"require 'dkjson'\"\n\
         local ok = pcall(require, \"luacov\") -- optional\n",
    );
    project.write("src/app/util.lua", "return {}\n");
    project.write(
        "spec/app_spec.lua",
        "local inspect = require \"inspect\"\nlocal assert = require \"luassert\"\n",
    );
    // Inside the environment: never scanned.
    project.write(".lvm/stray.lua", "require 'stray_module'\n");

    let json: Value =
        serde_json::from_str(&run(&["recommend", "--json", "--offline", "--scan"])).unwrap();
    let scan = &json["scan"];
    assert_eq!(scan["dir"], project.dir.display().to_string());
    assert_eq!(scan["files"], 3, "{json:#}");
    assert_eq!(scan["requires"], 9, "{json:#}");
    assert_eq!(
        scan["unknown"],
        serde_json::json!([{"file": "src/app.lua", "line": 6, "module": null, "optional": false, "test": false}])
    );
    let recs = json["recommendations"].as_array().unwrap();
    let missing: Vec<&Value> = recs
        .iter()
        .filter(|r| r["rule"] == "missing-module")
        .collect();
    assert_eq!(missing.len(), 2, "{json:#}");
    // Known from the server's rockspecs.
    assert_eq!(missing[0]["command"], "lvm install lua-parser");
    assert!(
        missing[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("src/app.lua:4 requires 'lua-parser.parser', which no installed package provides; lua-parser provides it"),
        "{json:#}"
    );
    // Known nowhere: said so, with the search to run.
    assert_eq!(missing[1]["packages"], serde_json::json!([]));
    assert!(
        missing[1]["reason"]
            .as_str()
            .unwrap()
            .contains("lvm does not know which rock to install"),
        "{json:#}"
    );
    assert_eq!(
        missing[1]["command"],
        "lvm search lvm_fixture_nobody_provides"
    );
    // dkjson is requested and no code requires it (the comment and the string do not count);
    // luassert is a test tool, kept whatever the code says.
    let unused = rule(recs, "unused").unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(unused["packages"], serde_json::json!(["dkjson"]));
    assert_eq!(unused["command"], "lvm remove dkjson");
    assert!(
        unused["reason"]
            .as_str()
            .unwrap()
            .contains("1 require call(s) with a computed name")
    );
    // inspect is required by a spec only.
    let test_only = rule(recs, "test-only").unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(test_only["packages"], serde_json::json!(["inspect"]));

    // The text form says what was scanned and lists the unknown require.
    let text = run(&[
        "recommend",
        "--offline",
        "--scan",
        &project.dir.display().to_string(),
    ]);
    assert!(text.contains("Scanned 3 Lua files under"), "{text}");
    assert!(text.contains("unknown: src/app.lua:6"), "{text}");

    // Each command applies its recommendation.
    let vars = [("LVM_ENV", env_arg.as_str())];
    for r in [missing[0], unused, test_only] {
        stdout_ok(&sh_with(&lvm, r["command"].as_str().unwrap(), &vars));
    }
    let json: Value =
        serde_json::from_str(&run(&["recommend", "--json", "--offline", "--scan"])).unwrap();
    let rules: Vec<&str> = json["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["missing-module"], "{json:#}");
    // The written profile keeps the test tool dev-only beside the package only tests use.
    let written = std::fs::read_to_string(env.join("envs/default.toml")).unwrap();
    assert!(
        written.contains("dev_packages = [\"inspect\", \"luassert\"]"),
        "{written}"
    );
    // inspect (and the test tool) are now dev-only in the project's profile, which the
    // environment follows: a production comparison recommends leaving them out.
    assert_eq!(json["profile"]["name"], "default", "{json:#}");
    let json: Value =
        serde_json::from_str(&run(&["recommend", "--json", "--offline", "--prod"])).unwrap();
    let extras = rule(json["recommendations"].as_array().unwrap(), "prod-extras")
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(
        extras["packages"],
        serde_json::json!(["inspect", "luassert"])
    );
}

#[test]
fn recommend_scan_needs_a_folder_outside_a_project() {
    let (lvm, _dir) = env_with_all();
    let before = lvm.snapshot();
    let err = lvm.fails(&["recommend", "--offline", "--scan"]);
    assert!(
        err.contains("belongs to no project")
            && err.contains("lvm recommend --scan path/to/project"),
        "{err}"
    );
    let missing = lvm.root.path().join("no-such-project");
    let err = lvm.fails(&[
        "recommend",
        "--offline",
        "--scan",
        &missing.display().to_string(),
    ]);
    assert!(
        err.contains("cannot scan") && err.contains("is not a folder"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}
