//! Where packages come from, through the `lvm` binary: rocks servers in priority order, servers
//! that publish only `.src.rock` or binary `.all.rock` files, local rockspecs, git sources (given
//! directly or named by a rockspec), and the integrity records that make a rebuild fetch the
//! same bytes.

use std::path::{Path, PathBuf};

use crate::common;
use crate::common::rocks::{
    Lvm, commit_all, fixtures_dir, git_fixture, publish_fixtures_matching, stdout_ok,
};

/// A file:// server in `root/<name>` publishing the fixtures `keep` accepts.
fn server_with(root: &Path, name: &str, keep: impl Fn(&str) -> bool) -> (PathBuf, String) {
    let dir = root.join(name);
    let url = format!("file://{}", dir.display());
    publish_fixtures_matching(&dir, &url, keep);
    (dir, url)
}

fn manifest_json(lvm: &Lvm) -> serde_json::Value {
    let text = std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn source_of(lvm: &Lvm, name: &str) -> serde_json::Value {
    manifest_json(lvm)["packages"][name]["source"].clone()
}

/// Deletes the whole store, so the next `lvm sync` must fetch and build everything again.
fn wipe_store(lvm: &Lvm) {
    let store = lvm.home().join("store");
    common::make_writable(&store);
    std::fs::remove_dir_all(&store).unwrap();
}

#[test]
fn extra_servers_come_first_and_only_server_replaces_the_configured_ones() {
    let lvm = Lvm::new();
    let (_a, a) = server_with(lvm.root.path(), "a", |n| n.starts_with("strutil"));
    let (_b, b) = server_with(lvm.root.path(), "b", |n| {
        n.starts_with("strutil") || n.starts_with("chain")
    });
    lvm.init(&[&a]);

    // The same version on both: the configured server is used...
    lvm.ok(&["install", "strutil"]);
    assert_eq!(source_of(&lvm, "strutil")["server"], a.as_str());
    lvm.ok(&["remove", "strutil"]);
    // ...unless --server puts another in front of it.
    lvm.ok(&["install", "--server", &b, "strutil"]);
    assert_eq!(source_of(&lvm, "strutil")["server"], b.as_str());

    // --only-server drops the configured server: a package only it has is unknown.
    let err = lvm.fails(&["install", "--only-server", &a, "chain-a"]);
    assert!(err.contains("chain-a"), "{err}");
    lvm.ok(&["install", "--only-server", &b, "chain-a"]);
    assert_eq!(source_of(&lvm, "chain-c")["server"], b.as_str());
    // The configured servers are still the environment's own.
    let err = lvm.fails(&["install", "chain-c 2.0-1"]);
    assert!(err.contains("chain-c"), "{err}");
}

/// Publishes a fixture only as a `.src.rock` (no rockspec, no separate archive) into `dir`.
fn publish_src_rock(dir: &Path, fixture: &str, base_url: &str) -> PathBuf {
    let src = fixtures_dir().join(fixture);
    let staging = tempfile::tempdir().unwrap();
    let rockspec = staging.path().join(format!("{fixture}.rockspec"));
    let text = std::fs::read_to_string(src.join(format!("{fixture}.rockspec"))).unwrap();
    std::fs::write(&rockspec, text.replace("@SERVER@", base_url)).unwrap();
    lvm::ops::publish::pack_src_rock(&rockspec, &src, dir).unwrap()
}

#[test]
fn installs_and_rebuilds_a_package_published_only_as_a_src_rock() {
    let lvm = Lvm::new();
    let (dir, url) = server_with(lvm.root.path(), "server", |_| false);
    let rock = publish_src_rock(&dir, "strutil-1.1-1", &url);
    lvm::ops::publish::make_manifest(&dir).unwrap();
    assert!(!dir.join("strutil-1.1-1.rockspec").exists());
    assert!(!dir.join("strutil-1.1-1.tar.gz").exists());
    lvm.init(&[&url]);

    lvm.ok(&["install", "strutil"]);
    let out = stdout_ok(&lvm.lua("print(require('strutil').version)"));
    assert_eq!(out.trim(), "1.1");
    let source = source_of(&lvm, "strutil");
    let rock_sha = lvm::fetch::sha256_file(&rock).unwrap();
    assert_eq!(source["sha256"], rock_sha.as_str(), "{source}");

    // A rebuild from nothing gets the sources from the same .src.rock.
    wipe_store(&lvm);
    std::fs::remove_dir_all(std::fs::canonicalize(lvm.tree()).unwrap()).unwrap();
    lvm.ok(&["sync"]);
    let out = stdout_ok(&lvm.lua("print(require('strutil').split('a,b', ',')[2])"));
    assert_eq!(out.trim(), "b");
}

#[test]
fn a_package_recorded_from_source_url_rebuilds_from_it_after_the_server_adds_a_src_rock() {
    let lvm = Lvm::new();
    let (dir, url) = server_with(lvm.root.path(), "server", |f| f == "strutil-1.1-1");
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    let tarball_sha = lvm::fetch::sha256_file(&dir.join("strutil-1.1-1.tar.gz")).unwrap();
    assert_eq!(source_of(&lvm, "strutil")["sha256"], tarball_sha.as_str());

    // The server now publishes a .src.rock too, which new installs prefer; the recorded digest
    // is the tarball's, so the rebuild goes back to source.url instead of failing on the rock.
    let rock = publish_src_rock(&dir, "strutil-1.1-1", &url);
    lvm::ops::publish::make_manifest(&dir).unwrap();
    wipe_store(&lvm);
    std::fs::remove_dir_all(std::fs::canonicalize(lvm.tree()).unwrap()).unwrap();
    lvm.ok(&["sync"]);
    assert_eq!(
        stdout_ok(&lvm.lua("print(require('strutil').version)")).trim(),
        "1.1"
    );
    assert_eq!(source_of(&lvm, "strutil")["sha256"], tarball_sha.as_str());

    // A fresh environment takes the .src.rock.
    let fresh = Lvm::new();
    fresh.init(&[&url]);
    fresh.ok(&["install", "strutil"]);
    let rock_sha = lvm::fetch::sha256_file(&rock).unwrap();
    assert_eq!(source_of(&fresh, "strutil")["sha256"], rock_sha.as_str());
}

/// A binary rock for a pure-Lua fixture: a zip of its rock prefix (`lua/`, the rockspec and
/// `rock_manifest`), as `luarocks pack` makes of an installed rock.
fn publish_all_rock(dir: &Path, fixture: &str, base_url: &str) -> PathBuf {
    let (name, version) = fixture.split_at(fixture.find('-').unwrap());
    let version = &version[1..];
    let src = fixtures_dir().join(fixture);
    let prefix = tempfile::tempdir().unwrap();
    let lua_dir = prefix.path().join("lua");
    std::fs::create_dir_all(&lua_dir).unwrap();
    std::fs::copy(
        src.join(format!("src/{name}.lua")),
        lua_dir.join(format!("{name}.lua")),
    )
    .unwrap();
    let rockspec_name = format!("{fixture}.rockspec");
    let text = std::fs::read_to_string(src.join(&rockspec_name)).unwrap();
    std::fs::write(
        prefix.path().join(&rockspec_name),
        text.replace("@SERVER@", base_url),
    )
    .unwrap();
    lvm::tree::write_rock_manifest(prefix.path(), &rockspec_name).unwrap();
    let mut entries = Vec::new();
    for entry in walkdir::WalkDir::new(prefix.path()).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(prefix.path()).unwrap();
            entries.push(common::Entry::file(
                &rel.display().to_string(),
                std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
    let out = dir.join(format!("{name}-{version}.all.rock"));
    std::fs::write(&out, common::zip(&entries)).unwrap();
    out
}

#[test]
fn installs_a_binary_all_rock_without_building() {
    let lvm = Lvm::new();
    let (dir, url) = server_with(lvm.root.path(), "server", |_| false);
    let rock = publish_all_rock(&dir, "strutil-1.0-1", &url);
    lvm::ops::publish::make_manifest(&dir).unwrap();
    lvm.init(&[&url]);
    // No compiler or make is needed: the rock is installed as published.
    let out = lvm
        .command()
        .env("CC", "/nonexistent/cc")
        .args(["install", "strutil"])
        .output()
        .unwrap();
    stdout_ok(&out);
    let out = stdout_ok(&lvm.lua("print(require('strutil').trim('  all  '))"));
    assert_eq!(out.trim(), "all");
    assert_eq!(
        source_of(&lvm, "strutil")["sha256"],
        lvm::fetch::sha256_file(&rock).unwrap().as_str()
    );
    let rock_dir = lvm.tree().join("lib/luarocks/rocks-5.4/strutil/1.0-1");
    assert!(rock_dir.join("rock_manifest").is_file());
    assert!(rock_dir.join("strutil-1.0-1.rockspec").is_file());

    wipe_store(&lvm);
    std::fs::remove_dir_all(std::fs::canonicalize(lvm.tree()).unwrap()).unwrap();
    lvm.ok(&["sync"]);
    let out = stdout_ok(&lvm.lua("print(require('strutil').version)"));
    assert_eq!(out.trim(), "1.0");
}

#[test]
fn installs_local_rockspecs_checking_md5_and_recording_the_archive_hash() {
    let lvm = Lvm::new();
    let (dir, url) = server_with(lvm.root.path(), "server", |n| n.starts_with("strutil"));
    lvm.init(&[&url]);

    // A rockspec in a work folder whose sources are a local archive (a relative path).
    let local = lvm.root.path().join("work/localrock");
    let sources = lvm.root.path().join("work/localrock-src");
    std::fs::create_dir_all(sources.join("src")).unwrap();
    std::fs::write(
        sources.join("src/localrock.lua"),
        "local s = require('strutil')\nreturn { hi = function() return s.trim('  local  ') end }\n",
    )
    .unwrap();
    std::fs::create_dir_all(&local).unwrap();
    let tarball = lvm::ops::publish::deterministic_tar_gz(&sources, "localrock-0.1").unwrap();
    std::fs::write(local.join("localrock-0.1.tar.gz"), &tarball).unwrap();
    std::fs::write(
        local.join("localrock-0.1-1.rockspec"),
        format!(
            r#"package = "localrock"
version = "0.1-1"
source = {{ url = "file://{}/localrock-0.1.tar.gz" }}
dependencies = {{ "lua >= 5.1", "strutil >= 1.1" }}
build = {{ type = "builtin", modules = {{ localrock = "src/localrock.lua" }} }}
"#,
            local.display()
        ),
    )
    .unwrap();
    let out = lvm
        .command()
        .current_dir(&local)
        .args(["install", "./localrock-0.1-1.rockspec"])
        .output()
        .unwrap();
    stdout_ok(&out);
    let out = stdout_ok(&lvm.lua("print(require('localrock').hi())"));
    assert_eq!(out.trim(), "local");
    let source = source_of(&lvm, "localrock");
    assert_eq!(source["kind"], "rockspec");
    assert_eq!(
        source["path"],
        std::fs::canonicalize(local.join("localrock-0.1-1.rockspec"))
            .unwrap()
            .display()
            .to_string()
            .as_str()
    );
    assert_eq!(
        source["sha256"],
        lvm::fetch::sha256_bytes(&tarball).as_str()
    );
    assert_eq!(
        manifest_json(&lvm)["packages"]["strutil"]["version"],
        "1.1-1"
    );

    // A rockspec whose source is an archive on the server, checked against source.md5.
    let tarball = dir.join("strutil-1.0-1.tar.gz");
    let md5 = lvm::fetch::md5_file(&tarball).unwrap();
    let text = std::fs::read_to_string(dir.join("strutil-1.0-1.rockspec"))
        .unwrap()
        .replace(
            "strutil-1.0-1.tar.gz\" }",
            &format!("strutil-1.0-1.tar.gz\", md5 = \"{md5}\" }}"),
        );
    assert!(text.contains(&md5), "{text}");
    let rockspec = lvm.root.path().join("work/strutil-1.0-1.rockspec");
    std::fs::write(&rockspec, text).unwrap();
    let err = lvm.fails(&["install", rockspec.to_str().unwrap()]);
    // localrock needs strutil >= 1.1: the local 1.0-1 cannot replace it.
    assert!(
        err.contains("strutil") && err.contains("localrock"),
        "{err}"
    );
    lvm.ok(&["remove", "localrock"]);
    lvm.ok(&["install", rockspec.to_str().unwrap()]);
    let source = source_of(&lvm, "strutil");
    assert_eq!(source["kind"], "rockspec");
    assert_eq!(
        source["sha256"],
        lvm::fetch::sha256_file(&tarball).unwrap().as_str()
    );
}

/// Moves tag `v1.0` of the fixture repository to a new commit with another revision string,
/// so a fetch by tag would now get different code.
fn move_tag(repo_dir: &Path, revision: &str) -> String {
    let repo = git2::Repository::open(repo_dir).unwrap();
    std::fs::write(
        repo_dir.join("src/gitrock.lua"),
        format!(
            "local strutil = require(\"strutil\")\nreturn {{ words = function(s) return strutil.split(s, \" \") end, revision = \"{revision}\" }}\n"
        ),
    )
    .unwrap();
    let commit = commit_all(&repo, "moved on");
    let object = repo.find_object(commit, None).unwrap();
    let sig = git2::Signature::now("fixture", "fixture@localhost").unwrap();
    repo.tag("v1.0", &object, &sig, "v1.0 moved", true).unwrap();
    commit.to_string()
}

fn revision(lvm: &Lvm) -> String {
    stdout_ok(&lvm.lua("print(require('gitrock').revision)"))
        .trim()
        .to_string()
}

#[test]
fn installs_from_a_git_url_at_a_tag_and_rebuilds_the_recorded_commit() {
    let lvm = Lvm::new();
    let (_dir, url) = server_with(lvm.root.path(), "server", |n| n.starts_with("strutil"));
    lvm.init(&[&url]);
    let repo = lvm.root.path().join("gitrock");
    let tagged = git_fixture(&repo, "first");

    lvm.ok(&["install", &format!("git+file://{}@v1.0", repo.display())]);
    assert_eq!(revision(&lvm), "first");
    let source = source_of(&lvm, "gitrock");
    assert_eq!(source["kind"], "git");
    assert_eq!(source["commit"], tagged.as_str());
    let show = lvm.ok(&["show", "gitrock"]);
    assert!(show.contains(&tagged[..10]), "{show}");

    rebuild_after_the_tag_moved_gives_the_recorded_commit(&lvm, &repo, &tagged);
}

/// Moves the tag the package was installed from, then rebuilds the environment from nothing
/// (store and tree gone): the rebuild checks out the recorded commit, not where the tag is now.
fn rebuild_after_the_tag_moved_gives_the_recorded_commit(lvm: &Lvm, repo: &Path, tagged: &str) {
    let moved = move_tag(repo, "second");
    assert_ne!(moved, tagged);
    wipe_store(lvm);
    std::fs::remove_dir_all(std::fs::canonicalize(lvm.tree()).unwrap()).unwrap();
    lvm.ok(&["sync"]);
    assert_eq!(revision(lvm), "first");
    assert_eq!(source_of(lvm, "gitrock")["commit"], tagged);
}

#[test]
fn installs_from_a_plain_path_to_a_git_repository() {
    let lvm = Lvm::new();
    let (_dir, url) = server_with(lvm.root.path(), "server", |n| n.starts_with("strutil"));
    lvm.init(&[&url]);
    let repo = lvm.root.path().join("gitrock");
    git_fixture(&repo, "first");
    let head = move_tag(&repo, "second");
    // A plain name is a package name even when a folder of that name is here.
    let err = lvm.fails(&["install", "gitrock"]);
    assert!(err.contains("no package named 'gitrock'"), "{err}");
    // A relative path, at the default branch.
    lvm.ok(&["install", "./gitrock"]);
    assert_eq!(revision(&lvm), "second");
    let source = source_of(&lvm, "gitrock");
    assert_eq!(source["commit"], head.as_str());
    let absolute = std::fs::canonicalize(&repo).unwrap();
    assert_eq!(
        source["url"],
        format!("git+file://{}", absolute.display()).as_str()
    );
    assert_eq!(
        manifest_json(&lvm)["packages"]["strutil"]["version"],
        "1.1-1"
    );
    // The log records the absolute path, not one relative to where lvm ran.
    let event = lvm.ok(&["show-event", "HEAD"]);
    assert!(event.contains(&absolute.display().to_string()), "{event}");

    // The recorded source rebuilds from another directory, at the recorded commit.
    move_tag(&repo, "third");
    wipe_store(&lvm);
    std::fs::remove_dir_all(std::fs::canonicalize(lvm.tree()).unwrap()).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = lvm
        .command()
        .current_dir(elsewhere.path())
        .arg("sync")
        .output()
        .unwrap();
    stdout_ok(&out);
    assert_eq!(revision(&lvm), "second");
}

#[test]
fn rockspec_with_a_git_source_records_the_commit_and_rebuilds_it() {
    let lvm = Lvm::new();
    let repo = lvm.root.path().join("gitrock");
    let tagged = git_fixture(&repo, "first");
    // A server that publishes the gitrock rockspec (source.url = git+file://..., tag v1.0).
    let (dir, url) = server_with(lvm.root.path(), "server", |n| n.starts_with("strutil"));
    std::fs::copy(
        repo.join("gitrock-1.0-1.rockspec"),
        dir.join("gitrock-1.0-1.rockspec"),
    )
    .unwrap();
    lvm::ops::publish::make_manifest(&dir).unwrap();
    lvm.init(&[&url]);

    lvm.ok(&["install", "gitrock"]);
    assert_eq!(revision(&lvm), "first");
    let source = source_of(&lvm, "gitrock");
    assert_eq!(source["kind"], "server");
    assert_eq!(source["commit"], tagged.as_str(), "{source}");

    rebuild_after_the_tag_moved_gives_the_recorded_commit(&lvm, &repo, &tagged);
}

#[test]
fn archive_hashes_are_recorded_and_a_changed_archive_fails_the_rebuild() {
    let lvm = Lvm::new();
    let (dir, url) = server_with(lvm.root.path(), "server", |n| {
        n.starts_with("strutil") || n.starts_with("chain")
    });
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-a", "strutil"]);
    let manifest = manifest_json(&lvm);
    for (name, archive) in [
        ("chain-a", "chain-a-1.0-1.tar.gz"),
        ("chain-b", "chain-b-1.0-1.tar.gz"),
        ("chain-c", "chain-c-1.0-1.tar.gz"),
        ("strutil", "strutil-1.1-1.tar.gz"),
    ] {
        let expected = lvm::fetch::sha256_file(&dir.join(archive)).unwrap();
        assert_eq!(
            manifest["packages"][name]["source"]["sha256"],
            expected.as_str(),
            "{name}"
        );
    }

    // The server now serves other bytes under the same name.
    let archive = dir.join("chain-b-1.0-1.tar.gz");
    let old_sha = lvm::fetch::sha256_file(&archive).unwrap();
    let other = lvm::ops::publish::deterministic_tar_gz(
        &fixtures_dir().join("chain-c-1.0-1"),
        "chain-b-1.0-1",
    )
    .unwrap();
    std::fs::write(&archive, other).unwrap();
    let new_sha = lvm::fetch::sha256_file(&archive).unwrap();
    wipe_store(&lvm);
    let before = lvm.snapshot();
    let err = lvm.fails(&["sync"]);
    assert!(err.contains("chain-b"), "{err}");
    assert!(err.contains(&old_sha) && err.contains(&new_sha), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn local_rockspec_with_a_git_source_records_the_commit_and_rebuilds_it() {
    let lvm = Lvm::new();
    let repo = lvm.root.path().join("gitrock");
    let tagged = git_fixture(&repo, "first");
    let (_dir, url) = server_with(lvm.root.path(), "server", |n| n.starts_with("strutil"));
    lvm.init(&[&url]);
    let rockspec = repo.join("gitrock-1.0-1.rockspec");
    lvm.ok(&["install", rockspec.to_str().unwrap()]);
    assert_eq!(revision(&lvm), "first");
    let source = source_of(&lvm, "gitrock");
    assert_eq!(source["kind"], "rockspec");
    assert_eq!(source["commit"], tagged.as_str(), "{source}");

    rebuild_after_the_tag_moved_gives_the_recorded_commit(&lvm, &repo, &tagged);
}
