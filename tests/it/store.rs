//! The content-addressed store on real directories: insert, idempotence and races, read-only
//! entries, listing, removal, garbage collection and verification.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use lvm::store::{GcOptions, RockMeta, Store, StoreError, StoreKey};
use sha2::{Digest, Sha256};

fn staged(dir: &Path, tag: &str) -> PathBuf {
    let p = dir.join(format!("staged-{tag}"));
    fs::create_dir_all(p.join("lua/pkg")).unwrap();
    fs::create_dir_all(p.join("bin")).unwrap();
    fs::create_dir_all(p.join("doc")).unwrap();
    fs::write(p.join("lua/pkg/init.lua"), format!("return '{tag}'\n")).unwrap();
    fs::write(p.join("bin/tool"), "#!/usr/bin/env lua\nprint(1)\n").unwrap();
    fs::set_permissions(p.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(p.join("pkg-1.0-1.rockspec"), "package = 'pkg'\n").unwrap();
    p
}

fn meta(name: &str) -> RockMeta {
    RockMeta {
        name: name.into(),
        version: "1.0-1".into(),
        extra: Default::default(),
    }
}

fn key(tag: &str) -> StoreKey {
    StoreKey::compute(&[("rockspec", tag), ("lua", "5.4")])
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn tmp_entries(store: &Store) -> usize {
    fs::read_dir(store.root().join("tmp")).unwrap().count()
}

#[test]
fn insert_records_metadata_and_seals_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let src = staged(dir.path(), "a");
    let k = key("a");
    assert_eq!(store.get(&k).unwrap(), None);

    let inserted = store.insert(&k, &src, meta("pkg")).unwrap();
    let rock = inserted.rock.clone();
    assert_eq!(
        rock.prefix,
        store.root().join("rocks").join(k.as_str()).join("prefix")
    );
    assert_eq!(rock.meta.name, "pkg");
    assert_eq!(rock.meta.version, "1.0-1");
    assert_eq!(rock.meta.key, k);
    let init = "return 'a'\n";
    let files: Vec<&str> = rock.meta.files.keys().map(String::as_str).collect();
    assert_eq!(
        files,
        ["bin/tool", "lua/pkg/init.lua", "pkg-1.0-1.rockspec"]
    );
    assert_eq!(
        rock.meta.files["lua/pkg/init.lua"],
        sha256_hex(init.as_bytes())
    );
    let expected_size =
        init.len() + "#!/usr/bin/env lua\nprint(1)\n".len() + "package = 'pkg'\n".len();
    assert_eq!(rock.meta.total_size, expected_size as u64);
    assert!(
        rock.prefix.join("doc").is_dir(),
        "empty directories are kept"
    );
    assert_eq!(
        fs::read_to_string(rock.prefix.join("lua/pkg/init.lua")).unwrap(),
        init
    );

    // Read-only files and directories; executables stay executable.
    for rel in ["lua/pkg/init.lua", "bin/tool", "lua/pkg", "lua", ""] {
        let mode = fs::metadata(rock.prefix.join(rel))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o222, 0, "{rel} is writable: {mode:o}");
    }
    assert_ne!(
        fs::metadata(rock.prefix.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode()
            & 0o111,
        0
    );

    // The metadata survives a reopen.
    let reopened = Store::open(store.root()).unwrap();
    assert_eq!(reopened.get(&k).unwrap().unwrap(), rock);
    assert_eq!(tmp_entries(&store), 0);
    let report = store.verify(&k).unwrap();
    assert!(report.is_clean());
    // The check reads every file once, and gives the digest a manifest records from the
    // same reads (the executable `bin/tool` included).
    let files_sha256 = lvm::tree::hash_tree_files(&rock.prefix).unwrap();
    assert_eq!(report.files_sha256.unwrap(), files_sha256);
    // The insert gives the same digest from the hashes it computed while copying.
    assert_eq!(inserted.files_sha256, files_sha256);
}

#[test]
fn insert_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let src = staged(dir.path(), "a");
    let k = key("a");
    let first = store.insert(&k, &src, meta("pkg")).unwrap();
    // The same key again, even with different staged content: the stored entry stands.
    fs::write(src.join("lua/pkg/init.lua"), "return 'changed'\n").unwrap();
    let second = store.insert(&k, &src, meta("pkg")).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        fs::read_to_string(second.rock.prefix.join("lua/pkg/init.lua")).unwrap(),
        "return 'a'\n"
    );
    assert_eq!(store.list().unwrap().len(), 1);
    // An entry changed in place gives way to the next insert of its key, and the digest is
    // that of the staged files.
    let file = first.rock.prefix.join("lua/pkg/init.lua");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&file, "return 'tampered'\n").unwrap();
    let third = store.insert(&k, &src, meta("pkg")).unwrap();
    assert_eq!(
        fs::read_to_string(third.rock.prefix.join("lua/pkg/init.lua")).unwrap(),
        "return 'changed'\n"
    );
    assert!(store.verify(&k).unwrap().is_clean());
    assert_eq!(
        third.files_sha256,
        lvm::tree::hash_tree_files(&third.rock.prefix).unwrap()
    );
    assert_ne!(third.files_sha256, first.files_sha256);
}

#[test]
fn concurrent_inserts_of_one_key_agree() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let k = key("race");
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let store = store.clone();
            let k = k.clone();
            let src = staged(dir.path(), &format!("t{i}"));
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                store.insert(&k, &src, meta("pkg")).unwrap()
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let stored = store.get(&k).unwrap().unwrap();
    let files_sha256 = lvm::tree::hash_tree_files(&stored.prefix).unwrap();
    for r in &results {
        assert_eq!(r.rock.prefix, stored.prefix);
        assert_eq!(r.rock.meta.files, stored.meta.files);
        // Winners and losers alike get the digest of the entry that stands.
        assert_eq!(r.files_sha256, files_sha256);
    }
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(tmp_entries(&store), 0, "losers clean up after themselves");
    assert!(store.verify(&k).unwrap().is_clean());
}

#[test]
fn list_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut keys = Vec::new();
    for tag in ["x", "y", "z"] {
        let k = key(tag);
        store
            .insert(&k, &staged(dir.path(), tag), meta(tag))
            .unwrap();
        keys.push(k);
    }
    // Stray names under rocks/ are not entries.
    fs::create_dir_all(store.root().join("rocks/not-a-key")).unwrap();
    keys.sort();
    let listed: Vec<StoreKey> = store.list().unwrap().into_iter().map(|r| r.key).collect();
    assert_eq!(listed, keys);

    assert!(store.remove(&keys[0]).unwrap());
    assert!(!store.remove(&keys[0]).unwrap());
    assert_eq!(store.get(&keys[0]).unwrap(), None);
    assert!(!store.root().join("rocks").join(keys[0].as_str()).exists());
    assert_eq!(store.list().unwrap().len(), 2);
    assert_eq!(tmp_entries(&store), 0);
}

#[test]
fn gc_removes_only_unkept_entries_and_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let (a, b, c) = (key("a"), key("b"), key("c"));
    for (k, tag) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        store
            .insert(k, &staged(dir.path(), tag), meta(tag))
            .unwrap();
    }
    // An insert interrupted half-way: a temporary directory with a read-only part.
    let half = store.root().join("tmp/insert-crashed/prefix/lua");
    fs::create_dir_all(&half).unwrap();
    fs::write(half.join("x.lua"), "partial").unwrap();
    fs::set_permissions(&half, fs::Permissions::from_mode(0o555)).unwrap();

    let keep: BTreeSet<StoreKey> = [b.clone()].into();
    let dry = store.gc(&keep, GcOptions { dry_run: true }).unwrap();
    assert_eq!(dry.removed.len(), 2);
    assert_eq!(store.list().unwrap().len(), 3, "a dry run removes nothing");
    assert!(half.exists());

    let report = store.gc(&keep, GcOptions::default()).unwrap();
    let mut removed: Vec<StoreKey> = report.removed.iter().map(|r| r.key.clone()).collect();
    for r in &report.removed {
        assert_eq!(r.meta.as_ref().map(|m| m.key.clone()), Some(r.key.clone()));
        assert!(r.bytes > 0);
    }
    removed.sort();
    let mut expected = vec![a.clone(), c.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(report.tmp_removed.len(), 1);
    assert!(report.freed_bytes >= 2 * 10 + "partial".len() as u64);
    assert_eq!(store.get(&a).unwrap(), None);
    assert_eq!(store.get(&c).unwrap(), None);
    assert!(store.get(&b).unwrap().is_some());
    assert!(store.verify(&b).unwrap().is_clean());
    assert_eq!(tmp_entries(&store), 0);

    // Nothing left to collect.
    let again = store.gc(&keep, GcOptions::default()).unwrap();
    assert!(again.removed.is_empty() && again.tmp_removed.is_empty());
}

#[test]
fn verify_reports_modified_missing_and_extra_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let k = key("v");
    let rock = store
        .insert(&k, &staged(dir.path(), "v"), meta("pkg"))
        .unwrap()
        .rock;
    let file = rock.prefix.join("lua/pkg/init.lua");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&file, "return 'tampered'\n").unwrap();
    let report = store.verify(&k).unwrap();
    assert_eq!(report.modified, ["lua/pkg/init.lua"]);
    assert!(report.missing.is_empty() && report.extra.is_empty());
    assert_eq!(report.files_sha256, None, "a damaged entry has no digest");

    let bin = rock.prefix.join("bin");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_file(bin.join("tool")).unwrap();
    fs::write(bin.join("intruder"), "x").unwrap();
    let report = store.verify(&k).unwrap();
    assert_eq!(report.missing, ["bin/tool"]);
    assert_eq!(report.extra, ["bin/intruder"]);
    assert!(!report.is_clean());

    assert!(store.verify(&key("never stored")).is_err());
}

#[test]
fn symlinks_in_the_staged_prefix_are_stored_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let src = staged(dir.path(), "s");
    std::os::unix::fs::symlink("init.lua", src.join("lua/pkg/alias.lua")).unwrap();
    let rock = store.insert(&key("s"), &src, meta("pkg")).unwrap().rock;
    let stored = rock.prefix.join("lua/pkg/alias.lua");
    assert!(
        !fs::symlink_metadata(&stored)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(stored).unwrap(), "return 's'\n");
}

#[test]
fn bad_input_gives_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let missing = dir.path().join("nope");
    let err = store.insert(&key("n"), &missing, meta("pkg")).unwrap_err();
    assert!(matches!(err, StoreError::NotADirectory { .. }), "{err}");
    assert!(err.to_string().contains("nope"));
    assert!(matches!(StoreKey::parse("xyz"), Err(StoreError::BadKey(_))));

    // Corrupt metadata is reported with the path and how to recover.
    let k = key("c");
    store
        .insert(&k, &staged(dir.path(), "c"), meta("pkg"))
        .unwrap();
    let meta_file = store
        .root()
        .join("rocks")
        .join(k.as_str())
        .join("meta.json");
    fs::set_permissions(&meta_file, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&meta_file, "{ not json").unwrap();
    let err = store.get(&k).unwrap_err();
    assert!(matches!(err, StoreError::BadMeta { .. }), "{err}");
    assert!(
        err.to_string().contains("meta.json") && err.to_string().contains("lvm verify --repair"),
        "{err}"
    );
    // Garbage collection still removes a corrupt entry.
    let report = store.gc(&BTreeSet::new(), GcOptions::default()).unwrap();
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].key, k);
    assert_eq!(report.removed[0].meta, None);
    assert!(!store.root().join("rocks").join(k.as_str()).exists());
}

#[test]
fn metadata_format_versions_old_compatible_and_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let k = key("v");
    store
        .insert(&k, &staged(dir.path(), "v"), meta("pkg"))
        .unwrap();
    let meta_file = store
        .root()
        .join("rocks")
        .join(k.as_str())
        .join("meta.json");
    let written = fs::read_to_string(&meta_file).unwrap();
    // 1.1: the key covers the source bytes the build was made from.
    assert!(written.contains("\"format\": \"1.1.0\","), "{written}");
    fs::set_permissions(&meta_file, fs::Permissions::from_mode(0o644)).unwrap();
    let with_format = |format: &str| {
        fs::write(
            &meta_file,
            written.replace("\"format\": \"1.1.0\",", &format!("\"format\": {format},")),
        )
        .unwrap();
    };
    // An entry of an lvm whose keys did not cover the sources (format 1, a whole number) is
    // not trusted, and an insert under its key replaces it.
    with_format("1");
    let err = store.get(&k).unwrap_err();
    assert!(matches!(err, StoreError::Unbound { .. }), "{err}");
    assert!(err.to_string().contains("lvm sync"), "{err}");
    let rock = store
        .insert(&k, &staged(dir.path(), "v"), meta("pkg"))
        .unwrap()
        .rock;
    assert_eq!(rock.meta.format.to_string(), "1.1.0");
    assert!(store.get(&k).unwrap().is_some());
    fs::set_permissions(&meta_file, fs::Permissions::from_mode(0o644)).unwrap();
    // A newer lvm that only added what this one may ignore.
    with_format("\"1.2.0\", \"added_later\": [1, 2]");
    let rock = store.get(&k).unwrap().unwrap();
    assert_eq!(rock.meta.name, "pkg");
    assert_eq!(rock.meta.format.to_string(), "1.2.0");
    assert!(store.verify(&k).unwrap().is_clean());
    // An incompatible newer one is refused with what to do, also when this lvm cannot parse it.
    for format in ["2", "\"2.0.0\", \"files\": \"elsewhere\""] {
        with_format(format);
        let err = store.get(&k).unwrap_err();
        assert!(matches!(err, StoreError::MetaFormat { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&meta_file.display().to_string())
                && text.contains("store metadata format 2 is from a newer lvm")
                && text.contains("reads store metadata format ^1")
                && text.ends_with("upgrade lvm to read it"),
            "{text}"
        );
    }
}

#[test]
fn a_prefix_staged_in_the_store_is_moved_in_and_recorded_as_a_copy_would_be() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    // The same files inserted by copy and by move give the same hashes and digest.
    let copied = store
        .insert(&key("copy"), &staged(dir.path(), "m"), meta("pkg"))
        .unwrap();
    let staging = store.staging().unwrap();
    let src = staged(staging.path(), "m");
    let inode = fs::metadata(src.join("lua/pkg/init.lua")).unwrap().ino();
    let moved = store
        .insert_staged(&key("move"), &src, meta("pkg"))
        .unwrap();
    assert!(!src.exists(), "a staged prefix is moved, not copied");
    let file = moved.rock.prefix.join("lua/pkg/init.lua");
    assert_eq!(fs::metadata(&file).unwrap().ino(), inode);
    assert_eq!(moved.rock.meta.files, copied.rock.meta.files);
    assert_eq!(moved.files_sha256, copied.files_sha256);
    assert_eq!(
        fs::metadata(moved.rock.prefix.join("bin/tool"))
            .unwrap()
            .mode()
            & 0o777,
        0o555,
        "sealed read-only, executable kept"
    );
    assert!(store.verify(&key("move")).unwrap().is_clean());
    drop(staging);
    assert_eq!(tmp_entries(&store), 0);

    // A file with a second link (or a prefix outside the store's space) is copied instead.
    let staging = store.staging().unwrap();
    let src = staged(staging.path(), "l");
    fs::hard_link(src.join("lua/pkg/init.lua"), staging.path().join("outside")).unwrap();
    let linked = store
        .insert_staged(&key("linked"), &src, meta("pkg"))
        .unwrap();
    assert!(src.join("lua/pkg/init.lua").is_file(), "copied, not moved");
    assert!(store.verify(&key("linked")).unwrap().is_clean());
    let outside = staged(dir.path(), "o");
    store
        .insert_staged(&key("outside"), &outside, meta("pkg"))
        .unwrap();
    assert!(outside.join("lua/pkg/init.lua").is_file());
    assert_ne!(
        fs::metadata(linked.rock.prefix.join("lua/pkg/init.lua"))
            .unwrap()
            .ino(),
        fs::metadata(staging.path().join("outside")).unwrap().ino()
    );
}

#[test]
fn a_collection_waits_for_a_staged_prefix_to_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let staging = store.staging().unwrap();
    let src = staged(staging.path(), "g");
    let (done, finished) = std::sync::mpsc::channel();
    let collector = {
        let store = store.clone();
        std::thread::spawn(move || {
            let report = store.gc(&BTreeSet::new(), GcOptions::default()).unwrap();
            done.send(()).unwrap();
            report
        })
    };
    // However long it is given, the collection does not clear the staging space under it.
    assert!(
        finished
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "gc ran while a prefix was staged"
    );
    assert!(src.join("lua/pkg/init.lua").is_file());
    store.insert_staged(&key("g"), &src, meta("pkg")).unwrap();
    drop(staging);
    collector.join().unwrap();
    assert!(store.get(&key("g")).unwrap().is_none(), "no head keeps it");
}
