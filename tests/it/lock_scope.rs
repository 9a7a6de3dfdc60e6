//! Installs and upgrades download and build without the environment's writer lock, through
//! the `lvm` binary: while one is stopped in the middle of its builds (`LVM_TEST_PAUSE_AT`),
//! other writers change the environment with `--lock-timeout 0` (so they would fail at once if
//! the lock were held); then it records its event on top of theirs, planned again from the new
//! head, or records nothing when its build fails.

use std::path::Path;
use std::process::{Child, Output};

use crate::common::rocks::{
    Lvm, copy_dir, file_server, fixtures_dir, publish_dir_matching, publish_fixtures_matching,
    spawn_paused, stdout_ok,
};

/// Runs a writer that must not wait for any other lvm process: with `--lock-timeout 0` it
/// fails at once if another process holds the writer lock.
fn at_once(lvm: &Lvm, args: &[&str]) -> String {
    let mut all = vec!["--lock-timeout", "0"];
    all.extend_from_slice(args);
    lvm.ok(&all)
}

/// Lets a paused lvm go on; returns its output once it has finished.
fn resume(child: Child, marker: &Path) -> Output {
    std::fs::remove_file(marker).unwrap();
    child.wait_with_output().unwrap()
}

/// Asserts the paused lvm is still running at its pause point.
fn still_paused(child: &mut Child, marker: &Path) {
    assert!(child.try_wait().unwrap().is_none(), "the paused lvm ended");
    assert!(marker.exists(), "the paused lvm went on");
}

/// The event at `rev` as `lvm show-event` prints it.
fn event(lvm: &Lvm, rev: &str) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_str(&lvm.ok(&["show-event", rev])).unwrap();
    json["event"].clone()
}

/// The kind and arguments of every event of the log, oldest first.
fn log(lvm: &Lvm) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(&lvm.ok(&["log", "--json"])).unwrap();
    let mut events: Vec<String> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let event = &e["event"];
            let args: Vec<&str> = event["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            format!("{} {}", event["kind"].as_str().unwrap(), args.join(" "))
                .trim_end()
                .to_string()
        })
        .collect();
    events.reverse();
    events
}

/// The packages an event changed, as `+ name version` / `- name version` / `name old -> new`.
fn changes(event: &serde_json::Value) -> Vec<String> {
    event["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap();
            let version = |p: &serde_json::Value| p["version"].as_str().unwrap().to_string();
            match c["change"].as_str().unwrap() {
                "added" => format!("+ {name} {}", version(&c["package"])),
                "removed" => format!("- {name} {}", c["version"].as_str().unwrap()),
                _ => format!("{name} {} -> {}", version(&c["from"]), version(&c["to"])),
            }
        })
        .collect()
}

/// What `lvm list --json` says `name` was installed for: its requested constraint, or none
/// when it is only a dependency.
fn requested(lvm: &Lvm, name: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(&lvm.ok(&["list", "--json"])).unwrap();
    let package = json
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not installed: {json}"));
    package["requested"].as_str().map(str::to_string)
}

#[test]
fn writers_go_on_while_an_install_builds_and_its_event_lands_on_top() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-c"]);
    // Stopped with its sources unpacked, about to compile the C module.
    let (mut installing, marker) = spawn_paused(&lvm, "build", &["install", "cmath"]);
    // It holds neither the writer lock nor the readers' state lock, which a writer takes
    // exclusively to finish its change.
    for lock in [".lvm-lock", ".git/lvm-state.lock"] {
        let path = lvm.env_dir().join(lock);
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        fs4::FileExt::try_lock(&file).unwrap_or_else(|e| panic!("{lock} is held: {e}"));
    }

    assert!(at_once(&lvm, &["install", "strutil"]).contains("+ strutil"));
    assert!(at_once(&lvm, &["remove", "chain-c"]).contains("- chain-c"));
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    still_paused(&mut installing, &marker);

    let out = resume(installing, &marker);
    assert!(stdout_ok(&out).contains("+ cmath 1.0-1"));
    assert_eq!(lvm.installed(), ["cmath 1.0-1", "strutil 1.1-1"]);
    lvm.ok(&["verify"]);
    assert_eq!(
        log(&lvm),
        [
            "init",
            "install chain-c",
            "install strutil",
            "remove chain-c",
            "install cmath"
        ]
    );
    let head = event(&lvm, "HEAD");
    assert_eq!(changes(&head), ["+ cmath 1.0-1"]);
    assert_eq!(
        (head["builds"].as_u64(), head["store_hits"].as_u64()),
        (Some(1), Some(0))
    );
    let lua =
        stdout_ok(&lvm.lua("print(require('cmath').gcd(12, 18), require('strutil').version)"));
    assert_eq!(lua.trim(), "6\t1.1");
}

/// The diamond with the newest dia-base both sides allow.
const DIAMOND: [&str; 4] = [
    "dia-base 1.5-1",
    "dia-left 1.0-1",
    "dia-right 1.0-1",
    "dia-top 1.0-1",
];

#[test]
fn an_install_planned_again_keeps_what_another_writer_changed_meanwhile() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "dia-base == 1.0-1"]);
    // Planned from a head where dia-base 1.0-1 is installed: it keeps it.
    let (installing, marker) = spawn_paused(&lvm, "build", &["install", "dia-top"]);
    at_once(&lvm, &["install", "dia-base == 1.5-1"]);

    let out = resume(installing, &marker);
    stdout_ok(&out);
    // Recording the first plan would have taken dia-base back to 1.0-1.
    assert_eq!(lvm.installed(), DIAMOND);
    assert_eq!(requested(&lvm, "dia-base").as_deref(), Some("== 1.5-1"));
    let head = event(&lvm, "HEAD");
    // dia-base only gains its dependents (its reason): its version stays.
    assert_eq!(
        changes(&head),
        [
            "dia-base 1.5-1 -> 1.5-1",
            "+ dia-left 1.0-1",
            "+ dia-right 1.0-1",
            "+ dia-top 1.0-1"
        ]
    );
    // The three builds of the first plan are reused as they are: nothing is built twice.
    assert_eq!(
        (head["builds"].as_u64(), head["store_hits"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(
        log(&lvm),
        [
            "init",
            "install dia-base == 1.0-1",
            "install dia-base == 1.5-1",
            "install dia-top"
        ]
    );
    lvm.ok(&["verify"]);
}

#[test]
fn a_dependency_removed_meanwhile_comes_back_as_the_new_plan_picks_it() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "dia-base == 1.0-1"]);
    let (installing, marker) = spawn_paused(&lvm, "build", &["install", "dia-top"]);
    at_once(&lvm, &["remove", "dia-base"]);
    assert_eq!(lvm.installed(), Vec::<String>::new());

    let out = resume(installing, &marker);
    stdout_ok(&out);
    // Planned again: dia-base is no longer requested nor installed, so the resolver picks the
    // newest version both dependents allow, which the first plan did not build; it is built
    // under the lock.
    assert_eq!(lvm.installed(), DIAMOND);
    assert_eq!(requested(&lvm, "dia-base"), None);
    let head = event(&lvm, "HEAD");
    assert_eq!(
        changes(&head),
        [
            "+ dia-base 1.5-1",
            "+ dia-left 1.0-1",
            "+ dia-right 1.0-1",
            "+ dia-top 1.0-1"
        ]
    );
    assert_eq!(head["builds"].as_u64(), Some(4));
    assert_eq!(
        log(&lvm),
        [
            "init",
            "install dia-base == 1.0-1",
            "remove dia-base",
            "install dia-top"
        ]
    );
    lvm.ok(&["verify"]);
}

/// Publishes `badc 1.0-1`, the cmath fixture with a C source that does not compile, beside
/// the fixtures in `server_dir`.
fn publish_broken_c_rock(root: &Path, server_dir: &Path, url: &str) {
    let src_root = root.join("broken-rocks");
    let dir = src_root.join("badc-1.0-1");
    copy_dir(&fixtures_dir().join("cmath-1.0-1"), &dir);
    std::fs::remove_file(dir.join("cmath-1.0-1.rockspec")).unwrap();
    let rockspec = std::fs::read_to_string(fixtures_dir().join("cmath-1.0-1/cmath-1.0-1.rockspec"))
        .unwrap()
        .replace("\"cmath\"", "\"badc\"")
        .replace("cmath-1.0-1.tar.gz", "badc-1.0-1.tar.gz");
    std::fs::write(dir.join("badc-1.0-1.rockspec"), rockspec).unwrap();
    std::fs::write(dir.join("src/gcd.c"), "this is not C;\n").unwrap();
    publish_dir_matching(&src_root, server_dir, url, |_| true);
}

#[test]
fn a_failed_build_records_nothing_while_another_writer_commits() {
    let lvm = Lvm::new();
    let (dir, url) = file_server(lvm.root.path());
    publish_broken_c_rock(lvm.root.path(), &dir, &url);
    lvm.init(&[&url]);
    let (installing, marker) = spawn_paused(&lvm, "build", &["install", "badc"]);
    at_once(&lvm, &["install", "strutil"]);
    let after_strutil = lvm.snapshot();

    let out = resume(installing, &marker);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("badc") && err.contains("gcd.c"), "{err}");
    assert_eq!(
        lvm.snapshot(),
        after_strutil,
        "the failed install changed something"
    );
    assert_eq!(log(&lvm), ["init", "install strutil"]);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    lvm.ok(&["verify"]);
}

/// The store entries of the lvm home.
fn store_entries(lvm: &Lvm) -> Vec<String> {
    let mut entries: Vec<String> = std::fs::read_dir(lvm.home().join("store/rocks"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries
}

#[test]
fn gc_while_an_install_waits_to_record_keeps_its_builds() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    // Built, not yet locked: the builds are only in the store, pinned by the install.
    let (installing, marker) = spawn_paused(&lvm, "planned", &["install", "chain-a"]);
    let built = store_entries(&lvm);
    assert_eq!(built.len(), 3, "{built:?}");
    // gc takes the same environment's writer lock: the install does not hold it.
    at_once(&lvm, &["gc"]);
    assert_eq!(
        store_entries(&lvm),
        built,
        "gc removed builds of the install"
    );

    stdout_ok(&resume(installing, &marker));
    assert_eq!(
        lvm.installed(),
        ["chain-a 1.0-1", "chain-b 1.0-1", "chain-c 1.0-1"]
    );
    lvm.ok(&["verify"]);
}

#[test]
fn the_settings_another_writer_changed_meanwhile_are_the_ones_recorded() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    let other = lvm.root.path().join("other-server");
    let other_url = format!("file://{}", other.display());
    publish_fixtures_matching(&other, &other_url, |name| name == "cmath-1.0-1");
    lvm.init(&[&url]);
    let (installing, marker) = spawn_paused(&lvm, "build", &["install", "cmath"]);
    // The rockspec the other server publishes names its own URL, so its build has another
    // store key: the first plan's build does not fit the new settings.
    at_once(&lvm, &["config", "set", "servers", &other_url]);

    stdout_ok(&resume(installing, &marker));
    let head = event(&lvm, "HEAD");
    assert_eq!(changes(&head), ["+ cmath 1.0-1"]);
    assert_eq!(
        head["changes"][0]["package"]["source"]["server"],
        *other_url
    );
    assert_eq!(head["builds"].as_u64(), Some(2), "{head}");
    assert_eq!(log(&lvm).last().unwrap(), "install cmath");
    lvm.ok(&["verify"]);
    let lua = stdout_ok(&lvm.lua("print(require('cmath').gcd(12, 18))"));
    assert_eq!(lua.trim(), "6");
}

#[test]
fn an_upgrade_builds_without_the_lock_and_keeps_what_another_writer_installed() {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("server");
    let url = format!("file://{}", dir.display());
    publish_fixtures_matching(&dir, &url, |name| name != "strutil-1.1-1");
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    assert_eq!(lvm.installed(), ["strutil 1.0-1"]);
    publish_fixtures_matching(&dir, &url, |name| name == "strutil-1.1-1");

    let (upgrading, marker) = spawn_paused(&lvm, "build", &["upgrade"]);
    at_once(&lvm, &["install", "chain-c"]);

    assert!(stdout_ok(&resume(upgrading, &marker)).contains("strutil"));
    assert_eq!(lvm.installed(), ["chain-c 2.0-1", "strutil 1.1-1"]);
    let head = event(&lvm, "HEAD");
    assert_eq!(changes(&head), ["strutil 1.0-1 -> 1.1-1"]);
    assert_eq!(
        log(&lvm),
        ["init", "install strutil", "install chain-c", "upgrade"]
    );
    lvm.ok(&["verify"]);
}
