//! The history tools through the `lvm` binary on the fixture rocks: `lvm revert` (an install,
//! a removal, an upgrade, and the refusals), `lvm cherry-pick` from another profile and from a
//! fetched remote profile, `lvm blame`, `lvm why`, and tags (made, refused, used as revisions,
//! pushed, cloned and pulled through a bare repository, checked with the real git CLI).

use std::path::Path;

/// `chain-a` with its dependencies, and `strutil`, as `lvm list` names them.
const CHAIN_AND_STRUTIL: [&str; 4] = [
    "chain-a 1.0-1",
    "chain-b 1.0-1",
    "chain-c 1.0-1",
    "strutil 1.1-1",
];

use crate::common::file_url;
use crate::common::rocks::{
    Lvm, event_at, file_server, git, publish_fixtures, publish_fixtures_matching,
};

fn commit_of(env: &Path, rev: &str) -> String {
    let repo = git2::Repository::open(env).unwrap();
    repo.revparse_single(rev)
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string()
}

fn verify_ok(lvm: &Lvm) {
    let out = lvm.ok(&["verify"]);
    assert!(out.starts_with("ok: "), "{out}");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// An environment on the fixture server whose events are made by `Ada <ada@example.org>`.
fn env_with_author() -> (Lvm, String) {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    git(&lvm.env_dir(), &["config", "user.name", "Ada"]);
    git(&lvm.env_dir(), &["config", "user.email", "ada@example.org"]);
    (lvm, url)
}

#[test]
fn revert_of_an_install_removes_it_and_keeps_the_later_installs() {
    let (lvm, _url) = env_with_author();
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["install", "dia-left"]);
    let reverted = commit_of(&lvm.env_dir(), "HEAD~2");
    let out = lvm.ok(&["revert", "HEAD~2"]);
    assert!(out.contains("- chain-a 1.0-1"), "{out}");
    assert_eq!(
        lvm.installed(),
        ["dia-base 2.0-1", "dia-left 1.0-1", "strutil 1.1-1"]
    );
    let (subject, event) = event_at(&lvm.env_dir(), "HEAD");
    assert_eq!(event["kind"], "revert");
    assert_eq!(event["args"], serde_json::json!([reverted]));
    assert_eq!(event["details"]["reverted"], reverted.as_str());
    assert!(
        subject.starts_with(&format!("revert {reverted} (")) && subject.contains("-chain-c 1.0-1"),
        "{subject}"
    );
    verify_ok(&lvm);
    // Undone already: nothing is recorded.
    let head = commit_of(&lvm.env_dir(), "HEAD");
    let out = lvm.ok(&["revert", &reverted]);
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(commit_of(&lvm.env_dir(), "HEAD"), head);
}

#[test]
fn revert_refuses_when_a_later_event_needs_what_the_event_brought() {
    let (lvm, _url) = env_with_author();
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["install", "hello-cli"]);
    let needing = commit_of(&lvm.env_dir(), "HEAD");
    let before = lvm.snapshot();
    let err = lvm.fails(&["revert", "HEAD~1"]);
    assert!(
        err.contains("cannot revert")
            && err.contains("hello-cli")
            && err.contains(&needing[..10])
            && err.contains("install hello-cli 1.0-1")
            && err.contains("strutil >= 1.0")
            && err.contains("would remove"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
    // A revision outside the profile's events, and the first event, are refused by name.
    let err = lvm.fails(&["revert", "nosuchrev"]);
    assert!(err.contains("'nosuchrev' not found"), "{err}");
    let first = commit_of(&lvm.env_dir(), "HEAD~2");
    let err = lvm.fails(&["revert", &first]);
    assert!(err.contains("first event"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn revert_of_a_remove_brings_the_package_back_from_the_store() {
    let (lvm, _url) = env_with_author();
    lvm.ok(&["install", "chain-a", ">= 1.0"]);
    lvm.ok(&["remove", "chain-a"]);
    lvm.ok(&["install", "strutil"]);
    let out = json(&lvm.ok(&["revert", "HEAD~1", "--json"]));
    assert_eq!(out["builds"], 0, "{out}");
    assert_eq!(lvm.installed(), CHAIN_AND_STRUTIL);
    let manifest = json(&std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap());
    assert_eq!(
        manifest["packages"]["chain-a"]["reason"]["requested"],
        ">= 1.0"
    );
    verify_ok(&lvm);
}

#[test]
fn revert_of_an_upgrade_returns_to_the_version_before() {
    let lvm = Lvm::new();
    let server = lvm.root.path().join("server");
    let url = format!("file://{}", server.display());
    publish_fixtures_matching(&server, &url, |n| n != "strutil-1.1-1");
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    publish_fixtures(&server, &url);
    lvm.ok(&["upgrade", "strutil"]);
    lvm.ok(&["install", "dia-left"]);
    assert!(lvm.installed().contains(&"strutil 1.1-1".to_string()));
    lvm.ok(&["revert", "HEAD~1"]);
    assert_eq!(
        lvm.installed(),
        ["dia-base 2.0-1", "dia-left 1.0-1", "strutil 1.0-1"]
    );
    verify_ok(&lvm);
    // Reverting the revert upgrades again.
    lvm.ok(&["revert", "HEAD"]);
    assert!(lvm.installed().contains(&"strutil 1.1-1".to_string()));
    // An upgrade whose package a later event changed again is refused, naming that event.
    lvm.ok(&["remove", "strutil"]);
    let before = lvm.snapshot();
    let err = lvm.fails(&["revert", "HEAD~4"]);
    assert!(
        err.contains("strutil was changed again by the later event")
            && err.contains("remove strutil 1.1-1")
            && err.contains("now not installed"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn cherry_pick_takes_one_event_of_another_profile() {
    let (lvm, _url) = env_with_author();
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["profile", "create", "dev"]);
    lvm.ok(&["profile", "switch", "dev"]);
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["install", "dia-left"]);
    lvm.ok(&["profile", "switch", "default"]);
    let picked = commit_of(&lvm.env_dir(), "dev~1");
    let out = lvm.ok(&["cherry-pick", "dev~1"]);
    assert!(out.contains("+ chain-a 1.0-1"), "{out}");
    assert_eq!(lvm.installed(), CHAIN_AND_STRUTIL);
    let (subject, event) = event_at(&lvm.env_dir(), "HEAD");
    assert_eq!(event["kind"], "cherry-pick");
    assert_eq!(event["args"], serde_json::json!([picked]));
    assert_eq!(event["details"]["picked"], picked.as_str());
    assert!(
        subject.starts_with(&format!("cherry-pick {picked}")),
        "{subject}"
    );
    verify_ok(&lvm);
    // An event of this profile's own history is for revert.
    let before = lvm.snapshot();
    let err = lvm.fails(&["cherry-pick", "HEAD~1"]);
    assert!(
        err.contains("history of profile 'default' already") && err.contains("lvm revert"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn blame_names_the_event_time_author_and_reason() {
    let (lvm, _url) = env_with_author();
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["install", "strutil", ">= 1.0"]);
    let chain_event = commit_of(&lvm.env_dir(), "HEAD~1");
    let blamed = json(&lvm.ok(&["blame", "--json"]));
    let entries = blamed.as_array().unwrap();
    assert_eq!(entries.len(), 4);
    let c = entries.iter().find(|e| e["name"] == "chain-c").unwrap();
    assert_eq!(c["commit"], chain_event.as_str());
    assert_eq!(c["kind"], "install");
    assert_eq!(c["author"], "Ada <ada@example.org>");
    assert_eq!(c["requested"], serde_json::Value::Null);
    assert_eq!(
        c["required_by"],
        serde_json::json!([{"name": "chain-b", "dependency": "chain-c ~> 1.0"}])
    );
    let (_, event) = event_at(&lvm.env_dir(), "HEAD~1");
    assert_eq!(c["time"], event["timestamp"]);
    let s = entries.iter().find(|e| e["name"] == "strutil").unwrap();
    assert_eq!(s["requested"], ">= 1.0");
    let text = lvm.ok(&["blame", "chain-b", "strutil"]);
    assert!(
        text.contains(&format!("chain-b 1.0-1 {}", &chain_event[..10]))
            && text.contains("Ada <ada@example.org>")
            && text.contains("why: dependency of chain-a (chain-b >= 1.0)")
            && text.contains("why: requested (>= 1.0)")
            && !text.lines().any(|l| l.starts_with("chain-c")),
        "{text}"
    );
    let err = lvm.fails(&["blame", "nothere"]);
    assert!(err.contains("nothere is not installed"), "{err}");
}

#[test]
fn why_lists_every_path_with_its_constraints() {
    let (lvm, _url) = env_with_author();
    lvm.ok(&["install", "chain-a"]);
    lvm.ok(&["install", "chain-b"]);
    let text = lvm.ok(&["why", "chain-c"]);
    assert!(
        text.contains("chain-b 1.0-1 (requested: any version) → chain-c 1.0-1 (chain-c ~> 1.0)")
            && text.contains(
                "chain-a 1.0-1 (requested: any version) → chain-b 1.0-1 (chain-b >= 1.0) → chain-c 1.0-1 (chain-c ~> 1.0)"
            ),
        "{text}"
    );
    let why = json(&lvm.ok(&["why", "chain-c", "--json"]));
    assert_eq!(why["version"], "1.0-1");
    let paths = why["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0][0]["name"], "chain-b");
    assert_eq!(paths[0][0]["requested"], "");
    assert_eq!(paths[0][1]["via"], "chain-c ~> 1.0");
    assert_eq!(paths[1].as_array().unwrap().len(), 3);
    assert_eq!(why["truncated"], false);
    let err = lvm.fails(&["why", "strutil"]);
    assert!(err.contains("strutil is not installed"), "{err}");
}

#[test]
fn tags_name_events_and_work_as_revisions() {
    let (lvm, _url) = env_with_author();
    lvm.ok(&["install", "strutil"]);
    let tagged = commit_of(&lvm.env_dir(), "HEAD");
    lvm.ok(&["tag", "before-chain"]);
    // The real git CLI sees a plain tag.
    assert_eq!(
        git(&lvm.env_dir(), &["rev-parse", "before-chain^{commit}"]).trim(),
        tagged
    );
    let before = lvm.snapshot();
    let err = lvm.fails(&["tag", "before-chain", "HEAD"]);
    assert!(
        err.contains("tag 'before-chain' already exists") && err.contains(&tagged[..10]),
        "{err}"
    );
    for bad in ["12", "a/b", "-x", "default"] {
        let err = lvm.fails(&["tag", bad]);
        assert!(err.contains(&format!("'{bad}'")), "{bad}: {err}");
    }
    assert_eq!(lvm.snapshot(), before);
    lvm.ok(&["install", "chain-a"]);
    let log = lvm.ok(&["log"]);
    assert!(
        log.lines()
            .nth(1)
            .unwrap()
            .ends_with("install strutil 1.1-1 (tag: before-chain)"),
        "{log}"
    );
    let diff = lvm.ok(&["diff", "before-chain"]);
    assert!(diff.contains("chain-a"), "{diff}");
    let shown = json(&lvm.ok(&["show-event", "before-chain"]));
    assert_eq!(shown["commit"], tagged.as_str());
    let list = json(&lvm.ok(&["tag", "--list", "--json"]));
    assert_eq!(list[0]["name"], "before-chain");
    assert_eq!(list[0]["commit"], tagged.as_str());
    assert_eq!(list[0]["summary"], "install strutil 1.1-1");
    lvm.ok(&["rollback", "before-chain"]);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    let err = lvm.fails(&["tag", "--delete", "before-chan"]);
    assert!(
        err.contains("tag 'before-chan' does not exist; did you mean 'before-chain'?"),
        "{err}"
    );
    lvm.ok(&["tag", "--delete", "before-chain"]);
    assert_eq!(lvm.ok(&["tag", "--list"]), "");
}

#[test]
fn tags_travel_with_push_clone_and_pull_and_cherry_pick_takes_a_fetched_event() {
    let a = Lvm::new();
    let (_dir, url) = file_server(a.root.path());
    a.init(&[&url]);
    a.ok(&["install", "strutil"]);
    a.ok(&["tag", "v1"]);
    let bare = a.root.path().join("shared/env.git");
    git2::Repository::init_bare(&bare).unwrap();
    a.ok(&["remote", "add", "origin", &file_url(&bare)]);
    let pushed = a.ok(&["push"]);
    assert!(pushed.contains("Pushed tags: v1"), "{pushed}");
    assert_eq!(git(&bare, &["tag", "--list"]).trim(), "v1");
    assert_eq!(
        git(&bare, &["rev-parse", "v1"]).trim(),
        commit_of(&a.env_dir(), "v1")
    );

    let b = Lvm::new();
    b.ok(&["clone", &file_url(&bare), b.env_dir().to_str().unwrap()]);
    let tags = json(&b.ok(&["tag", "--list", "--json"]));
    assert_eq!(tags[0]["name"], "v1");

    // A new tag and a new profile on A reach B with a pull; B picks an event of that profile.
    a.ok(&["profile", "create", "dev"]);
    a.ok(&["profile", "switch", "dev"]);
    a.ok(&["install", "chain-a"]);
    a.ok(&["tag", "chain-added"]);
    a.ok(&["push", "--all"]);
    assert!(a.ok(&["push", "--all"]).contains("Everything up to date"));
    let pulled = b.ok(&["pull"]);
    assert!(
        pulled.contains("New tags from 'origin': chain-added"),
        "{pulled}"
    );
    b.ok(&["cherry-pick", "origin/dev"]);
    assert!(b.installed().contains(&"chain-a 1.0-1".to_string()));
    let (_, event) = event_at(&b.env_dir(), "HEAD");
    assert_eq!(
        event["details"]["picked"],
        commit_of(&a.env_dir(), "dev").as_str()
    );

    // A tag the remote has at another event is refused by the remote, never moved.
    b.ok(&["tag", "clash"]);
    a.ok(&["tag", "clash"]);
    a.ok(&["push", "--all"]);
    let head = commit_of(&bare, "default");
    let err = b.fails(&["push"]);
    assert!(
        err.contains("tag 'clash' names")
            && err.contains(&commit_of(&a.env_dir(), "clash")[..10])
            && err.contains("nothing was pushed"),
        "{err}"
    );
    assert_eq!(commit_of(&bare, "default"), head);
    assert_eq!(
        git(&bare, &["rev-parse", "clash"]).trim(),
        commit_of(&a.env_dir(), "clash")
    );
}
