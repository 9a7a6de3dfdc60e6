//! The event-sourced environment through the `lvm` binary: the env repository and its
//! discovery, manifest.json as a reviewable file, one commit per event with the documented JSON,
//! the log, replay and `lvm verify` (with real corruption and repair), rollback in all its forms
//! (from the store only), and `lvm diff`.

use std::path::Path;

use crate::common::rocks::{Lvm, event_at, event_json, file_server, publish_fixtures, stdout_ok};

/// Paths `git status` would show (ignored files excluded).
fn git_dirty(env: &Path) -> Vec<String> {
    let repo = git2::Repository::open(env).unwrap();
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts)).unwrap();
    statuses
        .iter()
        .map(|s| format!("{:?} {}", s.status(), s.path().unwrap_or("?")))
        .collect()
}

fn assert_clean(lvm: &Lvm) {
    let dirty = git_dirty(&lvm.env_dir());
    assert!(dirty.is_empty(), "git status is not clean: {dirty:?}");
}

fn commit_count(env: &Path) -> usize {
    let repo = git2::Repository::open(env).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.count()
}

fn installed(lvm: &Lvm) -> Vec<String> {
    lvm.installed()
}

fn verify_ok(lvm: &Lvm) {
    let out = lvm.ok(&["verify"]);
    assert!(out.starts_with("ok: "), "{out}");
}

#[test]
fn init_makes_a_git_repo_whose_status_stays_clean() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = lvm.env_dir();
    for file in ["manifest.json", "lvm.toml", ".gitignore"] {
        assert!(env.join(file).is_file(), "{file} missing");
    }
    let toml = std::fs::read_to_string(env.join("lvm.toml")).unwrap();
    assert!(
        toml.contains("lua = \"5.4\"") && toml.contains(&url),
        "{toml}"
    );
    assert!(
        std::fs::symlink_metadata(lvm.tree())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_clean(&lvm);
    assert_eq!(commit_count(&env), 1);
    let (subject, event) = event_at(&env, "HEAD");
    assert_eq!(subject, "init");
    assert_eq!(event["kind"], "init");

    lvm.ok(&["install", "strutil"]);
    assert_clean(&lvm);
    lvm.ok(&["install", "chain-a"]);
    assert_clean(&lvm);
    lvm.ok(&["remove", "chain-a"]);
    assert_clean(&lvm);
    lvm.ok(&["rollback"]);
    assert_clean(&lvm);
    lvm.ok(&["profile", "create", "dev"]);
    assert_clean(&lvm);
    lvm.ok(&["profile", "switch", "dev"]);
    assert_clean(&lvm);
    verify_ok(&lvm);
    // Writing again where an environment exists is refused.
    let err = lvm.fails(&["init", "--server", &url]);
    assert!(err.contains("already an environment"), "{err}");
}

#[test]
fn unsupported_lua_version_is_refused_at_init() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    let err = lvm.fails(&["init", "--lua", "6.0", "--server", &url]);
    assert!(
        err.contains("--lua 6.0") && err.contains("5.4, 5.5, luajit"),
        "{err}"
    );
    assert!(!lvm.env_dir().exists(), "nothing is created");
}

#[test]
fn environment_discovery_order() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    let root = lvm.root.path();
    let project = root.join("project");
    let deep = project.join("src/deep");
    std::fs::create_dir_all(&deep).unwrap();
    let flag_env = root.join("flag-env");
    let var_env = root.join("var-env");
    let local_env = project.join(".lvm");
    let default_env = lvm.home().join("envs/default");
    let run = |cwd: &Path, env_var: Option<&Path>, args: &[&str]| {
        let mut cmd = lvm.command();
        cmd.current_dir(cwd).env_remove("LVM_ENV");
        if let Some(v) = env_var {
            cmd.env("LVM_ENV", v);
        }
        stdout_ok(&cmd.args(args).output().unwrap())
    };
    let where_is = |cwd: &Path, env_var: Option<&Path>, extra: &[&str]| {
        let mut args = extra.to_vec();
        args.push("list");
        let out = run(cwd, env_var, &args);
        out.trim().to_string()
    };
    for env in [&flag_env, &var_env, &local_env] {
        run(
            root,
            None,
            &["init", env.to_str().unwrap(), "--server", &url],
        );
    }
    // No flag, no variable, no .lvm/ above: the default environment under LVM_HOME.
    let out = run(root, None, &["init", "--server", &url]);
    assert!(out.contains(&default_env.display().to_string()), "{out}");

    let flag = ["--env", flag_env.to_str().unwrap()];
    let says = |out: String, env: &Path| {
        assert!(out.contains(&format!("{} ", env.display())), "{out}");
    };
    says(where_is(&deep, Some(&var_env), &flag), &flag_env);
    says(where_is(&deep, Some(&var_env), &[]), &var_env);
    says(where_is(&deep, None, &[]), &local_env);
    says(where_is(root, None, &[]), &default_env);
}

#[test]
fn named_environments_list_create_remove() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.ok(&["env", "create", "web", "--server", &url]);
    lvm.ok(&["env", "create", "cli", "--server", &url]);
    let list: Vec<String> = serde_json::from_str(&lvm.ok(&["env", "list", "--json"])).unwrap();
    assert_eq!(list, ["cli", "web"]);
    let web = lvm.home().join("envs/web");
    let out = stdout_ok(
        &lvm.command()
            .args(["--env", web.to_str().unwrap(), "install", "strutil"])
            .output()
            .unwrap(),
    );
    assert!(out.contains("+ strutil"), "{out}");
    lvm.ok(&["env", "remove", "web"]);
    assert!(!web.exists());
    assert_eq!(lvm.ok(&["env", "list"]).trim(), "cli");
    let err = lvm.fails(&["env", "remove", "web"]);
    assert!(err.contains("no environment named 'web'"), "{err}");
    let err = lvm.fails(&["env", "create", "../x"]);
    assert!(err.contains("letters, digits"), "{err}");
}

#[test]
fn named_environments_are_found_by_name() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.ok(&["env", "create", "proj2", "--server", &url]);
    let named = lvm.home().join("envs/proj2");
    let by_name = |args: &[&str]| {
        let mut cmd = lvm.command();
        cmd.env_remove("LVM_ENV")
            .arg("--env")
            .arg("proj2")
            .args(args);
        stdout_ok(&cmd.output().unwrap())
    };
    assert!(by_name(&["install", "strutil"]).contains("+ strutil"));
    assert!(by_name(&["list"]).contains("strutil"));
    by_name(&["verify"]);
    // LVM_ENV takes a name too.
    let out = lvm
        .command()
        .env("LVM_ENV", "proj2")
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert!(stdout_ok(&out).contains("\"strutil\""));
    // Creating it again says it exists and how to use or remove it; nothing changes.
    let head = crate::common::rocks::git(&named, &["rev-parse", "HEAD"]);
    let err = lvm.fails(&["env", "create", "proj2", "--server", &url]);
    assert!(
        err.contains("environment 'proj2' exists already")
            && err.contains("--env proj2")
            && err.contains("lvm env remove proj2"),
        "{err}"
    );
    assert_eq!(
        crate::common::rocks::git(&named, &["rev-parse", "HEAD"]),
        head
    );
    // An existing folder of that name wins over the named environment.
    let local = lvm.root.path().join("proj2");
    lvm.ok(&["--env", local.to_str().unwrap(), "init", "--server", &url]);
    let mut cmd = lvm.command();
    cmd.env_remove("LVM_ENV")
        .args(["--env", "proj2", "list", "--json"]);
    assert_eq!(stdout_ok(&cmd.output().unwrap()).trim(), "[]");
    // Neither a folder nor a named environment: the error says both were looked for.
    let mut cmd = lvm.command();
    cmd.env_remove("LVM_ENV").args(["--env", "proj3", "list"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no environment 'proj3'")
            && err.contains(&lvm.home().join("envs/proj3").display().to_string())
            && err.contains("lvm env create proj3"),
        "{err}"
    );
    assert!(!lvm.root.path().join("proj3").exists());
}

#[test]
fn manifest_diff_shows_only_the_new_package_block() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["install", "dia-base"]);
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(lvm.env_dir())
        .args([
            "diff",
            "--no-color",
            "HEAD~1",
            "HEAD",
            "--",
            "manifest.json",
        ])
        .output()
        .unwrap();
    let diff = stdout_ok(&out);
    let removed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| &l[1..])
        .collect();
    assert!(removed.is_empty(), "{diff}");
    // The added lines are exactly dia-base's block of the new manifest.
    let manifest = std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap();
    let lines: Vec<&str> = manifest.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "    \"dia-base\": {")
        .unwrap();
    let end = start
        + lines[start..]
            .iter()
            .position(|l| l.starts_with("    }"))
            .unwrap();
    assert_eq!(added, lines[start..=end].to_vec(), "{diff}");
    // Deterministic bytes: sorted keys, two-space indentation, final newline.
    assert!(manifest.ends_with("}\n"));
    let value: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let again = serde_json::to_string_pretty(&value).unwrap() + "\n";
    assert_eq!(manifest, again);
}

#[test]
fn every_change_is_one_commit_with_the_documented_event() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let env = lvm.env_dir();
    let before = chrono::Utc::now();

    lvm.ok(&["install", "strutil", "1.0-1"]);
    assert_eq!(commit_count(&env), 2);
    let (subject, e) = event_at(&env, "HEAD");
    assert_eq!(subject, "install strutil 1.0-1");
    assert_eq!(e["schema"], 1);
    assert_eq!(e["kind"], "install");
    assert_eq!(e["args"], serde_json::json!(["strutil", "1.0-1"]));
    assert_eq!(e["changes"].as_array().unwrap().len(), 1);
    assert_eq!(e["changes"][0]["change"], "added");
    assert_eq!(e["changes"][0]["name"], "strutil");
    assert_eq!(e["changes"][0]["package"]["version"], "1.0-1");
    assert_eq!(
        e["changes"][0]["package"]["reason"]["requested"],
        "== 1.0-1"
    );
    assert_eq!(e["lvm_version"], env!("CARGO_PKG_VERSION"));
    let ts = chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
    assert!(ts >= before && ts <= chrono::Utc::now());
    for phase in ["resolve", "build", "materialize", "commit"] {
        assert!(e["durations_ms"][phase].is_u64(), "{phase} missing: {e}");
    }
    assert_eq!(
        (e["builds"].as_u64(), e["store_hits"].as_u64()),
        (Some(1), Some(0))
    );

    lvm.ok(&["install", "strutil", "1.1-1"]);
    assert_eq!(commit_count(&env), 3);
    let (subject, e) = event_at(&env, "HEAD");
    assert_eq!(subject, "install strutil 1.0-1 → 1.1-1");
    assert_eq!(e["changes"][0]["change"], "changed");
    assert_eq!(e["changes"][0]["from"]["version"], "1.0-1");
    assert_eq!(e["changes"][0]["to"]["version"], "1.1-1");

    lvm.ok(&["install", "chain-a"]);
    let (subject, _) = event_at(&env, "HEAD");
    assert_eq!(
        subject,
        "install chain-a 1.0-1 (+chain-b 1.0-1, +chain-c 1.0-1)"
    );

    lvm.ok(&["remove", "chain-a"]);
    assert_eq!(commit_count(&env), 5);
    let (subject, e) = event_at(&env, "HEAD");
    assert_eq!(
        subject,
        "remove chain-a 1.0-1 (-chain-b 1.0-1, -chain-c 1.0-1)"
    );
    assert_eq!(e["kind"], "remove");
    assert_eq!(e["changes"].as_array().unwrap().len(), 3);

    lvm.ok(&["rollback"]);
    assert_eq!(commit_count(&env), 6);
    let (_, e) = event_at(&env, "HEAD");
    assert_eq!(e["kind"], "rollback");
    assert_eq!(e["args"], serde_json::json!([]));
    let target = git2::Repository::open(&env)
        .unwrap()
        .revparse_single("HEAD~2")
        .unwrap()
        .id()
        .to_string();
    assert_eq!(e["details"]["target"], target);
    for phase in ["resolve", "build", "materialize", "commit"] {
        assert!(e["durations_ms"][phase].is_u64(), "{phase} missing: {e}");
    }

    // A command that changes nothing makes no commit; one that fails makes none either.
    lvm.ok(&["install", "strutil", "1.1-1"]);
    lvm.fails(&["install", "no-such-rock"]);
    assert_eq!(commit_count(&env), 6);

    // lvm log: text, -n, --stat, --json; show-event.
    let log = lvm.ok(&["log"]);
    assert_eq!(log.lines().count(), 6, "{log}");
    assert!(log.lines().next().unwrap().contains("rollback"), "{log}");
    assert!(log.lines().last().unwrap().ends_with(" init"), "{log}");
    let two = lvm.ok(&["log", "-n", "2"]);
    assert_eq!(two.lines().count(), 2, "{two}");
    let stat = lvm.ok(&["log", "--stat", "-n", "2"]);
    assert!(stat.contains("    - chain-a 1.0-1"), "{stat}");
    assert!(stat.contains("    + chain-b 1.0-1"), "{stat}");
    let json: serde_json::Value = serde_json::from_str(&lvm.ok(&["log", "--json"])).unwrap();
    let kinds: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "rollback", "remove", "install", "install", "install", "init"
        ]
    );
    let shown: serde_json::Value =
        serde_json::from_str(&lvm.ok(&["show-event", "HEAD~1"])).unwrap();
    assert_eq!(shown["event"]["kind"], "remove");
    assert_eq!(shown["commit"], json[1]["commit"]);
    let err = lvm.fails(&["show-event", "nope"]);
    assert!(err.contains("revision 'nope' not found"), "{err}");
    verify_ok(&lvm);
}

#[test]
fn verify_passes_after_a_long_mixed_sequence() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["install", "strutil", "1.1-1"]);
    lvm.ok(&["profile", "create", "exp"]);
    lvm.ok(&["install", "dia-base", "1.5-1"]);
    lvm.ok(&["remove", "chain-a"]);
    lvm.ok(&["rollback"]);
    verify_ok(&lvm);
    lvm.ok(&["profile", "switch", "exp"]);
    lvm.ok(&["install", "dia-top"]);
    lvm.ok(&["rollback", "2"]);
    lvm.ok(&["rollback"]);
    verify_ok(&lvm);
    lvm.ok(&["profile", "switch", "default"]);
    lvm.ok(&["profile", "merge", "exp"]);
    lvm.ok(&["remove", "dia-top"]);
    lvm.ok(&["rollback", "--to", &chrono::Utc::now().to_rfc3339()]);
    lvm.ok(&["rollback"]);
    verify_ok(&lvm);
    assert_clean(&lvm);
    let pkgs = installed(&lvm);
    assert!(pkgs.contains(&"dia-top 1.0-1".to_string()), "{pkgs:?}");
    assert!(pkgs.contains(&"strutil 1.1-1".to_string()), "{pkgs:?}");
    let lua = stdout_ok(&lvm.lua("print(require('dia_top') ~= nil, require('chain_a').chain())"));
    assert_eq!(lua.trim(), "true\tchain-a>chain-b>chain-c");
}

/// A deployed module file of the tree (not under the rocks directory).
fn tree_module(lvm: &Lvm, module: &str) -> std::path::PathBuf {
    lvm.tree().join(format!("share/lua/5.4/{module}.lua"))
}

#[test]
fn verify_detects_a_deleted_tree_file_and_repair_restores_it() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-a"]);
    std::fs::remove_file(tree_module(&lvm, "chain_b")).unwrap();
    let out = lvm.run(&["verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("problem: tree file share/lua/5.4/chain_b.lua is missing"),
        "{text}"
    );
    let repaired = lvm.ok(&["verify", "--repair"]);
    assert!(repaired.contains("repaired"), "{repaired}");
    verify_ok(&lvm);
    let lua = stdout_ok(&lvm.lua("print(require('chain_a').chain())"));
    assert_eq!(lua.trim(), "chain-a>chain-b>chain-c");
    assert_clean(&lvm);
}

#[test]
fn verify_detects_an_edit_in_place_that_reaches_the_store_and_repair_rebuilds_it() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    let file = tree_module(&lvm, "strutil");
    // Tree files are hard links into the read-only store: writing one in place (as root can,
    // or after a chmod) changes the stored build too.
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&file, perms).unwrap();
    std::fs::write(&file, "return { broken = true }\n").unwrap();
    let out = lvm.run(&["verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("strutil 1.1-1: the store entry"), "{text}");
    assert!(
        text.contains("is corrupted (modified lua/strutil.lua)"),
        "{text}"
    );
    let repaired = lvm.ok(&["verify", "--repair"]);
    assert!(
        repaired.contains("rebuilt the store entry of strutil"),
        "{repaired}"
    );
    verify_ok(&lvm);
    let lua = stdout_ok(&lvm.lua("print(require('strutil').broken)"));
    assert_eq!(lua.trim(), "nil");
}

#[test]
fn verify_detects_a_replaced_tree_file_and_a_replaced_manifest() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    // Replacing the file (new inode) leaves the store intact.
    let file = tree_module(&lvm, "strutil");
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, "return {}\n").unwrap();
    let manifest = lvm.env_dir().join("manifest.json");
    let recorded = std::fs::read(&manifest).unwrap();
    std::fs::write(
        &manifest,
        b"{\"format\": 1, \"lua\": \"5.4\", \"packages\": {}}\n",
    )
    .unwrap();
    let out = lvm.run(&["verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tree file share/lua/5.4/strutil.lua differs from the store's build"),
        "{text}"
    );
    assert!(text.contains("problem: manifest.json in"), "{text}");
    assert!(text.contains("differs from the recorded state"), "{text}");
    assert!(!text.contains("store entry"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&lvm.run(&["verify", "--json"]).stdout).unwrap();
    assert_eq!(json["problems"].as_array().unwrap().len(), 2, "{json}");
    let repaired = lvm.ok(&["verify", "--repair"]);
    assert!(repaired.contains("repaired"), "{repaired}");
    assert_eq!(std::fs::read(&manifest).unwrap(), recorded);
    verify_ok(&lvm);
    assert_clean(&lvm);
    let lua = stdout_ok(&lvm.lua("print(require('strutil').trim('  x '))"));
    assert_eq!(lua.trim(), "x");
}

#[test]
fn verify_reports_an_unexpected_tree_file_and_a_history_edited_by_hand() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    std::fs::write(tree_module(&lvm, "intruder"), "return 1\n").unwrap();
    let out = lvm.run(&["verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "tree file share/lua/5.4/intruder.lua does not belong to any installed package"
        ),
        "{text}"
    );
    lvm.ok(&["verify", "--repair"]);
    assert!(!tree_module(&lvm, "intruder").exists());

    // A commit made by hand whose manifest.json no longer follows from the events.
    let env = lvm.env_dir();
    let manifest = env.join("manifest.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    value["packages"]["strutil"]["reason"]["requested"] = serde_json::json!(">= 0.1");
    let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
    std::fs::write(&manifest, text).unwrap();
    let repo = git2::Repository::open(&env).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("manifest.json")).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = repo.head().unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("someone", "someone@localhost").unwrap();
    // It even carries an lvm event, but one that does not record the change.
    let mut event = event_json(parent.message().unwrap());
    event["changes"] = serde_json::json!([]);
    let message = format!("hand edit\n\nlvm-event:{event}\n");
    repo.commit(Some("HEAD"), &sig, &sig, &message, &tree, &[&parent])
        .unwrap();
    let out = lvm.run(&["verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("does not reproduce manifest.json"), "{text}");
    assert!(text.contains("~ strutil 1.1-1 (reason changed)"), "{text}");

    // A commit without any event.
    let parent = repo.head().unwrap().peel_to_commit().unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "tweak", &tree, &[&parent])
        .unwrap();
    let out = lvm.run(&["verify"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("does not replay"), "{text}");
    assert!(text.contains("has no lvm event"), "{text}");
}

#[test]
fn rollback_forms_and_rolling_back_a_rollback() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    let after_first = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(50));
    lvm.ok(&["install", "strutil", "1.1-1"]);
    lvm.ok(&["install", "dia-base"]);
    assert_eq!(installed(&lvm), ["dia-base 2.0-1", "strutil 1.1-1"]);

    let out = lvm.ok(&["rollback"]);
    assert!(out.contains("- dia-base 2.0-1"), "{out}");
    assert_eq!(installed(&lvm), ["strutil 1.1-1"]);
    // Undoing the rollback brings dia-base back.
    lvm.ok(&["rollback"]);
    assert_eq!(installed(&lvm), ["dia-base 2.0-1", "strutil 1.1-1"]);

    let out = lvm.ok(&["rollback", "--to", &after_first.to_rfc3339()]);
    assert!(
        out.contains("~ strutil 1.1-1 → 1.0-1 (downgraded)"),
        "{out}"
    );
    assert_eq!(installed(&lvm), ["strutil 1.0-1"]);
    let lua = stdout_ok(&lvm.lua("print(require('strutil').version)"));
    assert_eq!(lua.trim(), "1.0");

    // By revision: the state right after the dia-base install (now HEAD~3).
    let log: serde_json::Value = serde_json::from_str(&lvm.ok(&["log", "--json"])).unwrap();
    let dia_commit = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["kind"] == "install" && e["event"]["args"][0] == "dia-base")
        .unwrap()["commit"]
        .as_str()
        .unwrap()
        .to_string();
    lvm.ok(&["rollback", &dia_commit[..12]]);
    assert_eq!(installed(&lvm), ["dia-base 2.0-1", "strutil 1.1-1"]);

    // By count: undoing 3 events returns to the state after the first rollback.
    lvm.ok(&["rollback", "3"]);
    assert_eq!(installed(&lvm), ["strutil 1.1-1"]);
    let (_, e) = event_at(&lvm.env_dir(), "HEAD");
    assert_eq!(e["args"], serde_json::json!(["3"]));

    let err = lvm.fails(&["rollback", "99"]);
    assert!(err.contains("cannot undo 99 events"), "{err}");
    let err = lvm.fails(&["rollback", "--to", "2001-01-01"]);
    assert!(err.contains("no state as old as"), "{err}");
    let err = lvm.fails(&["rollback", "--to", "yesterday"]);
    assert!(err.contains("cannot read date 'yesterday'"), "{err}");
    let out = lvm.ok(&["rollback", "HEAD"]);
    assert!(out.contains("nothing to do"), "{out}");
    verify_ok(&lvm);
}

#[test]
fn rollback_uses_only_the_store() {
    let lvm = Lvm::new();
    let (dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "cmath", "hello-cli"]);
    lvm.ok(&["remove", "cmath"]);
    lvm.ok(&["install", "strutil", "1.0-1"]);
    // No rocks server and no compiler: anything but the store would fail.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(lvm.home().join("cache")).ok();
    let offline = |args: &[&str]| {
        stdout_ok(
            &lvm.command()
                .env("PATH", "/nonexistent")
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let out = offline(&["rollback", "2"]);
    assert!(out.contains("+ cmath 1.0-1"), "{out}");
    let lua = stdout_ok(&lvm.lua("print(require('cmath').gcd(12, 18))"));
    assert_eq!(lua.trim(), "6");
    offline(&["rollback"]);
    assert_eq!(installed(&lvm), ["hello-cli 1.0-1", "strutil 1.0-1"]);
    offline(&["verify"]);
}

#[test]
fn diff_between_revisions_and_profiles() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    // A second server with the same rocks: same versions, another source.
    let other_dir = lvm.root.path().join("other-server");
    let other_url = format!("file://{}", other_dir.display());
    publish_fixtures(&other_dir, &other_url);
    lvm.init(&[&url]);
    lvm.ok(&[
        "install", "strutil", "1.1-1", "dia-base", "1.5-1", "chain-c",
    ]);
    lvm.ok(&["profile", "create", "old"]);
    lvm.ok(&["remove", "chain-c", "strutil", "dia-base"]);
    lvm.ok(&[
        "install", "strutil", "1.0-1", "dia-base", "2.0-1", "makerock",
    ]);
    lvm.ok(&["remove", "strutil"]);
    lvm.ok(&["install", "strutil", "1.0-1", "--only-server", &other_url]);

    let text = lvm.ok(&["diff", "old", "default"]);
    let expected = [
        "- chain-c 2.0-1",
        "~ dia-base 1.5-1 → 2.0-1 (upgraded)",
        "+ makerock 1.0-1",
        "~ strutil 1.1-1 → 1.0-1 (downgraded)",
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
    assert!(!text.contains('\x1b'), "no color when not on a terminal");
    // The last event only changed where strutil came from.
    let text = lvm.ok(&["diff", "HEAD~2"]);
    assert_eq!(text.trim(), "~ strutil 1.0-1 (source changed)", "{text}");

    let json_text = lvm.ok(&["diff", "old", "default", "--json"]);
    // --format json is the same as --json.
    assert_eq!(
        lvm.ok(&["diff", "old", "default", "--format", "json"]),
        json_text
    );
    let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let kinds: Vec<(&str, &str)> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("chain-c", "removed"),
            ("dia-base", "upgraded"),
            ("makerock", "added"),
            ("strutil", "downgraded")
        ]
    );
    assert_eq!(json["changes"][3]["source"], other_url);

    let md = lvm.ok(&["diff", "old", "default", "--format", "markdown"]);
    assert!(
        md.starts_with("### Lua environment changes (`old` → `default`)"),
        "{md}"
    );
    assert!(
        md.contains("| dia-base | upgraded | 1.5-1 | 2.0-1 |"),
        "{md}"
    );
    assert!(md.contains("| makerock | added |  | 1.0-1 |"), "{md}");

    let same = lvm.ok(&["diff", "HEAD", "HEAD"]);
    assert!(same.contains("no package differences"), "{same}");
    let err = lvm.fails(&["diff", "nope"]);
    assert!(err.contains("revision 'nope' not found"), "{err}");
}

#[test]
fn each_command_logs_to_the_environment_with_the_event_it_made() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    let head: serde_json::Value = serde_json::from_str(&lvm.ok(&["show-event"])).unwrap();
    let run = head["event"]["details"]["run"]
        .as_str()
        .unwrap()
        .to_string();
    let commit = head["commit"].as_str().unwrap().to_string();
    let logs = lvm.env_dir().join("logs");
    let files: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one log file per day");
    let name = files[0].file_name().to_string_lossy().into_owned();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(name, format!("lvm.{today}.log"));
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&run)).collect();
    assert!(
        lines.iter().any(|l| l.contains("lvm install strutil")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.contains(&commit)), "{text}");
    // Starting Lua, printing paths and the shell hook, which scripts and shells run over and
    // over (the hook at every prompt), log nothing.
    lvm.ok(&["run", "-e", "print(1)"]);
    lvm.ok(&["path"]);
    lvm.ok(&["shell-hook", "bash"]);
    lvm.ok(&["list"]);
    let after = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(after.contains("lvm list"), "{after}");
    assert!(
        !after.contains("lvm run")
            && !after.contains("lvm path")
            && !after.contains("lvm shell-hook"),
        "{after}"
    );
    // The log folder is ignored by git: the environment stays clean.
    assert_clean(&lvm);
}

#[test]
fn init_needs_a_server_from_the_flag_or_lvm_servers() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    let out = lvm
        .command()
        .env_remove("LVM_SERVERS")
        .arg("init")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no rocks server given") && err.contains("LVM_SERVERS"),
        "{err}"
    );
    assert!(!lvm.env_dir().exists(), "a refused init creates nothing");
    let out = lvm
        .command()
        .env("LVM_SERVERS", &url)
        .arg("init")
        .output()
        .unwrap();
    stdout_ok(&out);
    let config = std::fs::read_to_string(lvm.env_dir().join("lvm.toml")).unwrap();
    assert!(config.contains(&url), "{config}");
}

#[test]
fn files_of_a_newer_lvm_read_when_compatible_and_are_refused_when_not() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    let env = lvm.env_dir();
    let manifest = std::fs::read_to_string(env.join("manifest.json")).unwrap();
    // This lvm writes the whole numbers every lvm wrote before minor versions existed.
    assert!(manifest.starts_with("{\n  \"format\": 1,\n"), "{manifest}");
    let (subject, event) = event_at(&env, "HEAD");
    assert_eq!(event["schema"], 1);
    // Makes the head what a newer lvm would have written: other versions, and a field more.
    let rewrite = |format: &str, schema: serde_json::Value| {
        let newer = manifest.replace(
            "\"format\": 1,",
            &format!("\"added_later\": true,\n  \"format\": {format},"),
        );
        std::fs::write(env.join("manifest.json"), newer).unwrap();
        let mut e = event.clone();
        e["schema"] = schema;
        e["added_later"] = true.into();
        let message = format!("{subject}\n\nlvm-event:{e}\n");
        crate::common::rocks::git(&env, &["commit", "-q", "-a", "--amend", "-m", &message]);
    };

    // A compatible newer version (same major) reads, replays and verifies.
    rewrite("\"1.1.0\"", "1.1.0".into());
    assert_eq!(installed(&lvm), ["strutil 1.1-1"]);
    verify_ok(&lvm);
    let log: serde_json::Value = serde_json::from_str(&lvm.ok(&["log", "--json"])).unwrap();
    assert_eq!(log[0]["event"]["schema"], "1.1.0");
    assert_eq!(log[0]["event"]["kind"], "install");

    // An incompatible one is refused, naming the file, the version, what this lvm reads and
    // what to do.
    rewrite("2", 2.into());
    let err = lvm.fails(&["list"]);
    assert!(
        err.contains("manifest.json at ")
            && err.contains(": manifest format 2 is from a newer lvm")
            && err.contains("reads manifest format ^1")
            && err.contains("upgrade lvm to read it"),
        "{err}"
    );
    let err = lvm.fails(&["log", "--json"]);
    assert!(
        err.contains("event schema 2 is from a newer lvm")
            && err.contains("reads event schema ^1")
            && err.contains("upgrade lvm to read it"),
        "{err}"
    );
}
