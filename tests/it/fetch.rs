//! Source fetching end to end: real downloads over file:// and a local HTTP server, digests,
//! every archive format, hostile archives, git sources and source rocks.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::http_server::TestServer;
use crate::common::{Entry, GitRepo, file_url, list_tree, tar, tar_bz2, tar_gz, write_file, zip};
use lvm::fetch::{
    self, ExtractLimits, FetchError, FetchOptions, GitRef, SourceOptions, download, extract,
    fetch_source, md5_bytes, sha256_bytes,
};
use lvm::rockspec::Source;

fn quick() -> FetchOptions {
    FetchOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(300),
        ..FetchOptions::default()
    }
}

fn source(url: &str) -> Source {
    Source {
        url: url.to_string(),
        ..Source::default()
    }
}

fn sample_archive_entries() -> Vec<Entry> {
    vec![
        Entry::dir("foo-1.0/"),
        Entry::file("foo-1.0/src/foo.lua", "return 1\n"),
        Entry::executable("foo-1.0/bin/foo", "#!/bin/sh\necho foo\n"),
        Entry::symlink("foo-1.0/link.lua", "src/foo.lua"),
    ]
}

// ---------- downloads ----------

#[test]
fn downloads_a_file_url_and_a_plain_path() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_file(dir.path(), "in/data.bin", b"payload");
    let dest = dir.path().join("out/a.bin");
    let sha = download(&file_url(&src), &dest, &quick()).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"payload");
    assert_eq!(sha, sha256_bytes(b"payload"));

    let dest2 = dir.path().join("out/b.bin");
    download(src.to_str().unwrap(), &dest2, &quick()).unwrap();
    assert_eq!(fs::read(&dest2).unwrap(), b"payload");
    assert_eq!(
        list_tree(&dir.path().join("out")),
        vec!["a.bin", "b.bin"],
        "no temporary files left"
    );
}

#[test]
fn downloads_over_http_and_counts_one_request() {
    let served = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    write_file(served.path(), "files/big.bin", &body);
    let server = TestServer::serve(served.path());
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("big.bin");
    let sha = download(&server.url_for("files/big.bin"), &dest, &quick()).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), body);
    assert_eq!(sha, sha256_bytes(&body));
    assert_eq!(server.requests("files/big.bin"), 1);
}

fn assert_failed_cleanly(out: &Path) {
    assert!(
        list_tree(out).is_empty(),
        "nothing may be left behind: {:?}",
        list_tree(out)
    );
}

#[test]
fn http_404_and_500_name_the_url_and_status() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "broken.tar.gz", b"x");
    let server = TestServer::serve(served.path());
    server.respond_500("broken.tar.gz");
    let out = tempfile::tempdir().unwrap();

    let missing = server.url_for("missing.tar.gz");
    let err = download(&missing, &out.path().join("m"), &quick()).unwrap_err();
    assert!(
        matches!(err, FetchError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.is_not_found());
    let msg = err.to_string();
    assert!(msg.contains(&missing) && msg.contains("404"), "{msg}");

    let broken = server.url_for("broken.tar.gz");
    let err = download(&broken, &out.path().join("b"), &quick()).unwrap_err();
    assert!(!err.is_not_found());
    let msg = err.to_string();
    assert!(msg.contains(&broken) && msg.contains("500"), "{msg}");
    assert_failed_cleanly(out.path());
}

#[test]
fn a_stalled_server_times_out_with_the_url_in_the_error() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "slow.zip", b"x");
    let server = TestServer::serve(served.path());
    server.stall("slow.zip");
    let out = tempfile::tempdir().unwrap();
    let url = server.url_for("slow.zip");
    let started = Instant::now();
    let err = download(&url, &out.path().join("slow.zip"), &quick()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let msg = err.to_string();
    assert!(msg.contains(&url) && msg.contains("timed out"), "{msg}");
    assert_eq!(server.requests("slow.zip"), 1);
    assert_failed_cleanly(out.path());
}

#[test]
fn an_unreachable_server_is_an_error_naming_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/x.tar.gz");
    let out = tempfile::tempdir().unwrap();
    let err = download(&url, &out.path().join("x"), &quick()).unwrap_err();
    assert!(matches!(err, FetchError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn missing_local_files_and_unknown_schemes_are_errors() {
    let out = tempfile::tempdir().unwrap();
    let url = file_url(&out.path().join("nope.tar.gz"));
    let err = download(&url, &out.path().join("x"), &quick()).unwrap_err();
    assert!(err.is_not_found());
    assert!(err.to_string().contains(&url));
    let err = download("ftp://host/x", &out.path().join("x"), &quick()).unwrap_err();
    assert!(err.to_string().contains("ftp://host/x"));
    assert_failed_cleanly(out.path());
}

#[test]
fn downloads_over_the_size_cap_are_refused() {
    let served = tempfile::tempdir().unwrap();
    let src = write_file(served.path(), "big.bin", &[7u8; 5000]);
    let server = TestServer::serve(served.path());
    let out = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        max_download_bytes: 4999,
        ..quick()
    };
    for url in [server.url_for("big.bin"), file_url(&src)] {
        let err = download(&url, &out.path().join("big.bin"), &opts).unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 4999, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(&url));
    }
    assert_failed_cleanly(out.path());
    let exact = FetchOptions {
        max_download_bytes: 5000,
        ..quick()
    };
    download(
        &server.url_for("big.bin"),
        &out.path().join("ok.bin"),
        &exact,
    )
    .unwrap();
}

// ---------- archives ----------

fn assert_sample_unpacked(root: &Path) {
    assert_eq!(
        fs::read_to_string(root.join("foo-1.0/src/foo.lua")).unwrap(),
        "return 1\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("foo-1.0/link.lua")).unwrap(),
        "return 1\n"
    );
    assert!(
        fs::symlink_metadata(root.join("foo-1.0/link.lua"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    use std::os::unix::fs::PermissionsExt;
    let exe = fs::metadata(root.join("foo-1.0/bin/foo"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(exe & 0o111, 0o111, "executable bit kept: {exe:o}");
    let plain = fs::metadata(root.join("foo-1.0/src/foo.lua"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(plain & 0o111, 0, "plain file not executable: {plain:o}");
}

#[test]
fn extracts_every_supported_format() {
    let entries = sample_archive_entries();
    let formats: Vec<(&str, Vec<u8>)> = vec![
        ("a.tar.gz", tar_gz(&entries)),
        ("a.tgz", tar_gz(&entries)),
        ("a.tar.bz2", tar_bz2(&entries)),
        ("a.tbz2", tar_bz2(&entries)),
        ("a.tar", tar(&entries)),
        ("a.zip", zip(&entries)),
    ];
    for (name, bytes) in formats {
        let dir = tempfile::tempdir().unwrap();
        let archive = write_file(dir.path(), name, &bytes);
        let dest = dir.path().join("out");
        extract(&archive, &dest, &ExtractLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_sample_unpacked(&dest);
    }
}

#[test]
fn detects_archives_without_an_extension_by_their_magic_bytes() {
    let entries = sample_archive_entries();
    for bytes in [
        tar_gz(&entries),
        tar_bz2(&entries),
        tar(&entries),
        zip(&entries),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let archive = write_file(dir.path(), "download", &bytes);
        let dest = dir.path().join("out");
        extract(&archive, &dest, &ExtractLimits::default()).unwrap();
        assert_sample_unpacked(&dest);
    }
    let dir = tempfile::tempdir().unwrap();
    let not_archive = write_file(dir.path(), "notes.txt", b"hello");
    let err = extract(
        &not_archive,
        &dir.path().join("out"),
        &ExtractLimits::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("notes.txt") && err.to_string().contains("unrecognized"),
        "{err}"
    );
}

/// Extracts a hostile archive into `outer/dest` and checks it is refused with an error naming
/// the archive and `entry`, and that nothing appeared in `outer` besides `dest` and the archive.
fn assert_rejected(name: &str, bytes: &[u8], entry: &str, reason: &str) {
    let outer = tempfile::tempdir().unwrap();
    let archive = write_file(outer.path(), name, bytes);
    let dest = outer.path().join("dest");
    let err = extract(&archive, &dest, &ExtractLimits::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(name),
        "{name}: error should name the archive: {msg}"
    );
    assert!(
        msg.contains(entry),
        "{name}: error should name entry {entry}: {msg}"
    );
    assert!(
        msg.contains(reason),
        "{name}: error should say {reason:?}: {msg}"
    );
    let mut top: Vec<String> = fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut expected = vec![name.to_string(), "dest".to_string()];
    top.sort();
    expected.sort();
    assert_eq!(top, expected, "{name}: something was written outside");
    for leftover in list_tree(&dest) {
        assert!(
            !leftover.contains("evil"),
            "{name}: hostile entry was written: {leftover}"
        );
    }
}

#[test]
fn rejects_zip_slip() {
    let entries = vec![
        Entry::file("ok.txt", "fine"),
        Entry::file("../evil", "pwned"),
    ];
    assert_rejected("slip.tar.gz", &tar_gz(&entries), "../evil", "..");
    assert_rejected("slip.zip", &zip(&entries), "../evil", "..");
    let nested = vec![Entry::file("a/../../evil", "pwned")];
    assert_rejected("nested.tar", &tar(&nested), "a/../../evil", "..");
}

#[test]
fn rejects_absolute_paths() {
    let outer_target = tempfile::tempdir().unwrap();
    let absolute = outer_target.path().join("evil").display().to_string();
    let entries = vec![Entry::file(&absolute, "pwned")];
    assert_rejected("abs.tar.gz", &tar_gz(&entries), &absolute, "absolute");
    assert_rejected("abs.zip", &zip(&entries), &absolute, "absolute");
    assert!(!outer_target.path().join("evil").exists());
}

#[test]
fn rejects_symlinks_pointing_outside() {
    let to_etc = vec![
        Entry::symlink("etc-link", "/etc"),
        Entry::file("etc-link/evil", "pwned"),
    ];
    assert_rejected("etc.tar.gz", &tar_gz(&to_etc), "etc-link", "outside");
    assert_rejected("etc.zip", &zip(&to_etc), "etc-link", "outside");

    let up = vec![
        Entry::symlink("up", "../.."),
        Entry::file("up/evil", "pwned"),
    ];
    assert_rejected("up.tar", &tar(&up), "up", "outside");

    // Each link alone stays inside, but `x` goes through `sub/up` and then one level higher.
    let chained = vec![
        Entry::dir("sub/"),
        Entry::symlink("x", "sub/up/.."),
        Entry::symlink("sub/up", ".."),
    ];
    assert_rejected("chain.tar", &tar(&chained), "x", "outside");
}

#[test]
fn never_writes_through_a_symlink_even_one_pointing_inside() {
    let entries = vec![
        Entry::dir("real/"),
        Entry::symlink("alias", "real"),
        Entry::file("alias/evil", "x"),
    ];
    assert_rejected("through.tar.gz", &tar_gz(&entries), "alias/evil", "symlink");
}

#[test]
fn rejects_device_and_fifo_entries() {
    assert_rejected(
        "dev.tar",
        &tar(&[Entry::char_device("evil-null")]),
        "evil-null",
        "device",
    );
    assert_rejected(
        "fifo.tar.gz",
        &tar_gz(&[Entry::fifo("evil-fifo")]),
        "evil-fifo",
        "fifo",
    );
    assert_rejected(
        "dev.zip",
        &zip(&[Entry::char_device("evil-null")]),
        "evil-null",
        "device",
    );
}

#[test]
fn hard_links_are_copies_and_may_not_point_outside() {
    let dir = tempfile::tempdir().unwrap();
    let ok = vec![Entry::file("a.lua", "A"), Entry::hardlink("b.lua", "a.lua")];
    let archive = write_file(dir.path(), "links.tar", &tar(&ok));
    extract(&archive, &dir.path().join("out"), &ExtractLimits::default()).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("out/b.lua")).unwrap(),
        "A"
    );

    let outside = vec![Entry::hardlink("evil", "../../../etc/passwd")];
    assert_rejected("hard.tar", &tar(&outside), "evil", "..");
    let absolute = vec![Entry::hardlink("evil", "/etc/passwd")];
    assert_rejected("hardabs.tar", &tar(&absolute), "evil", "absolute");
}

#[test]
fn size_and_entry_caps_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ExtractLimits {
        max_total_bytes: 1000,
        max_entries: 3,
    };
    let big = vec![
        Entry::file("small", [1u8; 600]),
        Entry::file("evil-big", [2u8; 600]),
    ];
    for (name, bytes) in [("big.tar.gz", tar_gz(&big)), ("big.zip", zip(&big))] {
        let archive = write_file(dir.path(), name, &bytes);
        let dest = dir.path().join(format!("{name}-out"));
        let err = extract(&archive, &dest, &limits).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("evil-big") && err.contains("1000-byte"),
            "{err}"
        );
        assert!(!dest.join("evil-big").exists());
    }
    let many: Vec<Entry> = (0..5).map(|i| Entry::file(&format!("f{i}"), "x")).collect();
    for (name, bytes) in [("many.tar", tar(&many)), ("many.zip", zip(&many))] {
        let archive = write_file(dir.path(), name, &bytes);
        let err = extract(&archive, &dir.path().join(format!("{name}-out")), &limits)
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains("entries"), "{err}");
    }
}

#[test]
fn corrupt_archives_are_errors_naming_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = tar_gz(&sample_archive_entries());
    bytes.truncate(bytes.len() / 2);
    let archive = write_file(dir.path(), "cut.tar.gz", &bytes);
    let err = extract(&archive, &dir.path().join("out"), &ExtractLimits::default()).unwrap_err();
    assert!(err.to_string().contains("cut.tar.gz"), "{err}");
}

// ---------- rockspec sources ----------

#[test]
fn fetches_an_archive_source_over_http_with_md5() {
    let served = tempfile::tempdir().unwrap();
    let bytes = tar_gz(&sample_archive_entries());
    write_file(served.path(), "dist/foo-1.0.tar.gz", &bytes);
    let server = TestServer::serve(served.path());
    let work = tempfile::tempdir().unwrap();
    let mut src = source(&server.url_for("dist/foo-1.0.tar.gz"));
    src.md5 = Some(md5_bytes(&bytes).to_uppercase());
    let opts = SourceOptions {
        fetch: quick(),
        expected_sha256: Some(sha256_bytes(&bytes)),
        ..SourceOptions::default()
    };
    let fetched = fetch_source(&src, work.path(), &opts).unwrap();
    assert_eq!(fetched.dir, work.path().join("unpacked/foo-1.0"));
    assert_eq!(
        fetched.archive_sha256.as_deref(),
        Some(sha256_bytes(&bytes).as_str())
    );
    assert_eq!(fetched.git_commit, None);
    assert!(fetched.dir.join("src/foo.lua").is_file());
    assert!(work.path().join("foo-1.0.tar.gz").is_file());

    // Fetching again into the same work directory starts from a clean unpack.
    write_file(&work.path().join("unpacked"), "stale.txt", b"old");
    let again = fetch_source(&src, work.path(), &opts).unwrap();
    assert_eq!(again.dir, fetched.dir);
    assert!(!work.path().join("unpacked/stale.txt").exists());
}

/// An archive from the archive cache is hashed where it is: nothing is written for a store
/// hit, and the bytes hashed are the bytes a later build unpacks, even when the cached copy is
/// replaced or collected in between; a copy changed in place is refused when unpacked.
#[test]
fn a_cached_archive_is_read_in_place_and_built_from_the_bytes_hashed() {
    let served = tempfile::tempdir().unwrap();
    let bytes = tar_gz(&sample_archive_entries());
    write_file(served.path(), "dist/foo-1.0.tar.gz", &bytes);
    let server = TestServer::serve(served.path());
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("archives");
    let src = source(&server.url_for("dist/foo-1.0.tar.gz"));
    let opts = SourceOptions {
        fetch: quick(),
        archive_cache: Some(cache.clone()),
        ..SourceOptions::default()
    };
    let cached_copy = || {
        walkdir::WalkDir::new(&cache)
            .into_iter()
            .flatten()
            .find(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .expect("a cached copy")
    };

    // Downloaded once into the cache; the work folder is not made.
    let first = root.path().join("first");
    let fetched = fetch::fetch_source_bytes(&src, &first, &opts).unwrap();
    assert_eq!(
        fetched.archive_sha256(),
        Some(sha256_bytes(&bytes).as_str())
    );
    assert!(!first.exists(), "written before a build asked");
    assert_eq!(server.requests("/dist/foo-1.0.tar.gz"), 1);

    // A second fetch reads the cache: no request, nothing written.
    let second = root.path().join("second");
    let again = fetch::fetch_source_bytes(&src, &second, &opts).unwrap();
    assert_eq!(server.requests("/dist/foo-1.0.tar.gz"), 1);
    assert!(!second.exists(), "written before a build asked");

    // The cached copy is replaced (another install, a collection) before the build: the build
    // still unpacks the bytes that were hashed.
    let copy = cached_copy();
    fs::remove_file(&copy).unwrap();
    write_file(copy.parent().unwrap(), "foo-1.0.tar.gz", b"something else");
    let unpacked = fetched
        .unpack(&src, &first, &ExtractLimits::default())
        .unwrap();
    assert!(unpacked.dir.join("src/foo.lua").is_file());
    assert_eq!(
        fs::read(first.join("foo-1.0.tar.gz")).unwrap(),
        bytes,
        "the archive put in the work folder"
    );

    // Changed in place (the same file written over): refused, naming the URL.
    let third = root.path().join("third");
    fs::write(cached_copy(), &bytes).unwrap();
    let held = fetch::fetch_source_bytes(&src, &third, &opts).unwrap();
    let mut changed = bytes.clone();
    let last = changed.len() - 1;
    changed[last] ^= 0xff;
    fs::write(cached_copy(), &changed).unwrap();
    let err = held
        .unpack(&src, &third, &ExtractLimits::default())
        .unwrap_err();
    assert!(matches!(err, FetchError::Sha256Mismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("foo-1.0.tar.gz"), "{err}");
    assert!(
        !third.join("unpacked").exists(),
        "unpacked after a mismatch"
    );
    drop(again);
}

#[test]
fn md5_mismatch_names_file_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = tar_gz(&sample_archive_entries());
    let archive = write_file(dir.path(), "srv/foo-1.0.tar.gz", &bytes);
    let mut src = source(&file_url(&archive));
    src.md5 = Some("0123456789abcdef0123456789abcdef".into());
    let err = fetch_source(&src, &dir.path().join("work"), &SourceOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, FetchError::Md5Mismatch { .. }), "{err:?}");
    assert!(msg.contains("0123456789abcdef0123456789abcdef"), "{msg}");
    assert!(msg.contains(&md5_bytes(&bytes)), "{msg}");
    assert!(msg.contains("foo-1.0.tar.gz"), "{msg}");
    assert!(
        !dir.path().join("work/unpacked").exists(),
        "nothing unpacked after a mismatch"
    );
}

#[test]
fn sha256_mismatch_reports_url_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = zip(&sample_archive_entries());
    let archive = write_file(dir.path(), "srv/foo-1.0.zip", &bytes);
    let url = file_url(&archive);
    let expected = "ab".repeat(32);
    let opts = SourceOptions {
        expected_sha256: Some(expected.clone()),
        ..SourceOptions::default()
    };
    let err = fetch_source(&source(&url), &dir.path().join("work"), &opts).unwrap_err();
    assert_eq!(
        err.to_string().split(" (").next().unwrap(),
        format!(
            "sha256 mismatch for {url}: expected {expected}, got {}",
            sha256_bytes(&bytes)
        )
    );
}

#[test]
fn source_file_and_source_dir_are_honoured() {
    let served = tempfile::tempdir().unwrap();
    let entries = vec![
        Entry::file("a/x.lua", "A"),
        Entry::file("b/sub/y.lua", "B"),
        Entry::file("README", "r"),
    ];
    write_file(served.path(), "archive/v1", &zip(&entries));
    let server = TestServer::serve(served.path());
    let work = tempfile::tempdir().unwrap();

    let mut src = source(&server.url_for("archive/v1"));
    src.file = Some("foo-1.0.zip".into());
    let fetched = fetch_source(
        &src,
        work.path(),
        &SourceOptions {
            fetch: quick(),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        work.path().join("foo-1.0.zip").is_file(),
        "saved under source.file"
    );
    assert_eq!(
        fetched.dir,
        work.path().join("unpacked"),
        "several top-level entries: the root"
    );

    src.dir = Some("b/sub".into());
    let fetched = fetch_source(
        &src,
        work.path(),
        &SourceOptions {
            fetch: quick(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(fetched.dir, work.path().join("unpacked/b/sub"));
    assert!(fetched.dir.join("y.lua").is_file());

    src.dir = Some("c".into());
    let err = fetch_source(
        &src,
        work.path(),
        &SourceOptions {
            fetch: quick(),
            ..Default::default()
        },
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("source.dir `c`") && msg.contains("foo-1.0.zip") && msg.contains("README"),
        "{msg}"
    );
}

#[test]
fn a_lone_lua_file_is_a_valid_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "srv/foo.lua", b"return {}\n");
    let fetched = fetch_source(
        &source(&file_url(&file)),
        &dir.path().join("work"),
        &SourceOptions::default(),
    )
    .unwrap();
    assert_eq!(fetched.dir, dir.path().join("work/unpacked"));
    assert_eq!(
        fs::read_to_string(fetched.dir.join("foo.lua")).unwrap(),
        "return {}\n"
    );
}

// ---------- git ----------

struct GitFixture {
    _dir: tempfile::TempDir,
    repo: GitRepo,
    first: String,
    tagged: String,
    branch_tip: String,
    main_tip: String,
}

/// main: first → tagged (tag v1.0, annotated a1.0) → main_tip; branch `dev` off tagged → branch_tip.
fn git_fixture() -> GitFixture {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("foo"));
    let first = repo.commit(&[("foo.lua", "return 'first'\n")], "first");
    let tagged = repo.commit(&[("foo.lua", "return 'tagged'\n")], "tagged");
    repo.tag("v1.0");
    repo.annotated_tag("a1.0");
    repo.switch_new_branch("dev");
    let branch_tip = repo.commit(
        &[("foo.lua", "return 'dev'\n"), ("dev.lua", "")],
        "dev work",
    );
    repo.switch("main");
    let main_tip = repo.commit(&[("foo.lua", "return 'main'\n")], "main work");
    GitFixture {
        _dir: dir,
        repo,
        first,
        tagged,
        branch_tip,
        main_tip,
    }
}

fn git_url(fixture: &GitFixture) -> String {
    format!("git+file://{}", fixture.repo.path.display())
}

fn foo_contents(dir: &Path) -> String {
    fs::read_to_string(dir.join("foo.lua")).unwrap()
}

#[test]
fn git_sources_check_out_tags_branches_commits_and_the_default_branch() {
    let fx = git_fixture();
    let url = git_url(&fx);
    let cases: Vec<(Source, Option<String>, &str, &str)> = vec![
        (source(&url), None, "return 'main'\n", &fx.main_tip),
        (
            Source {
                tag: Some("v1.0".into()),
                ..source(&url)
            },
            None,
            "return 'tagged'\n",
            &fx.tagged,
        ),
        (
            Source {
                tag: Some("a1.0".into()),
                ..source(&url)
            },
            None,
            "return 'tagged'\n",
            &fx.tagged,
        ),
        (
            Source {
                branch: Some("dev".into()),
                ..source(&url)
            },
            None,
            "return 'dev'\n",
            &fx.branch_tip,
        ),
        // An explicit commit wins over the rockspec's tag (reproducible rebuilds).
        (
            Source {
                tag: Some("v1.0".into()),
                ..source(&url)
            },
            Some(fx.first.clone()),
            "return 'first'\n",
            &fx.first,
        ),
    ];
    for (src, commit, contents, expected_commit) in cases {
        let work = tempfile::tempdir().unwrap();
        let opts = SourceOptions {
            git_commit: commit,
            ..SourceOptions::default()
        };
        let fetched = fetch_source(&src, work.path(), &opts).unwrap();
        assert_eq!(fetched.dir, work.path().join("foo"));
        assert_eq!(
            fetched.git_commit.as_deref(),
            Some(expected_commit),
            "{src:?}"
        );
        assert_eq!(foo_contents(&fetched.dir), contents, "{src:?}");
        assert_eq!(fetched.archive_sha256, None);
        assert!(
            !fetched.dir.join(".git").exists(),
            ".git is removed as LuaRocks does"
        );
        assert_eq!(
            fetched.dir.join("dev.lua").exists(),
            contents.contains("dev")
        );
    }
}

#[test]
fn git_refs_that_do_not_exist_are_errors_naming_url_and_ref() {
    let fx = git_fixture();
    let url = git_url(&fx);
    let work = tempfile::tempdir().unwrap();
    let src = Source {
        tag: Some("v9.9".into()),
        ..source(&url)
    };
    let err = fetch_source(&src, work.path(), &SourceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&url) && err.contains("v9.9"), "{err}");

    let work = tempfile::tempdir().unwrap();
    let opts = SourceOptions {
        git_commit: Some("deadbeef".repeat(5)),
        ..SourceOptions::default()
    };
    let err = fetch_source(&source(&url), work.path(), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&url) && err.contains(&"deadbeef".repeat(5)),
        "{err}"
    );

    let work = tempfile::tempdir().unwrap();
    let missing = format!("git+file://{}", work.path().join("no-such-repo").display());
    let err = fetch_source(
        &source(&missing),
        &work.path().join("w"),
        &SourceOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
}

#[test]
fn git_specs_typed_by_users_can_be_fetched() {
    let fx = git_fixture();
    let spec = fetch::parse_git_spec(&format!("{}@dev", fx.repo.path.display())).unwrap();
    assert_eq!(spec.reference.as_deref(), Some("dev"));
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("clone");
    let commit = fetch::fetch_git(
        &spec.url,
        GitRef::Named(spec.reference.as_deref().unwrap()),
        &dest,
    )
    .unwrap();
    assert_eq!(commit, fx.branch_tip);
    // An abbreviated commit id works as a reference too.
    let dest = work.path().join("clone2");
    let commit = fetch::fetch_git(&spec.url, GitRef::Named(&fx.first[..10]), &dest).unwrap();
    assert_eq!(commit, fx.first);
    assert_eq!(foo_contents(&dest), "return 'first'\n");
}

#[test]
fn git_source_dir_is_resolved_in_the_work_dir_or_the_clone() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("bar.git"));
    let tip = repo.commit(&[("lua/bar.lua", "return 1\n")], "init");
    let url = format!("git+file://{}", repo.path.display());
    let work = tempfile::tempdir().unwrap();
    let fetched = fetch_source(
        &Source {
            dir: Some("bar".into()),
            ..source(&url)
        },
        work.path(),
        &SourceOptions::default(),
    )
    .unwrap();
    assert_eq!(fetched.dir, work.path().join("bar"));
    assert_eq!(fetched.git_commit.as_deref(), Some(tip.as_str()));
    let fetched = fetch_source(
        &Source {
            dir: Some("lua".into()),
            ..source(&url)
        },
        work.path(),
        &SourceOptions::default(),
    )
    .unwrap();
    assert_eq!(fetched.dir, work.path().join("bar/lua"));
}

// ---------- source rocks ----------

const ROCKSPEC: &str = "package = 'foo'\nversion = '1.0-1'\nsource = { url = 'https://example.invalid/foo-1.0.tar.gz' }\n";

#[test]
fn unpacks_a_src_rock_and_finds_its_sources() {
    let dir = tempfile::tempdir().unwrap();
    let inner = tar_gz(&sample_archive_entries());
    let rock = zip(&[
        Entry::file("foo-1.0-1.rockspec", ROCKSPEC),
        Entry::file("foo-1.0.tar.gz", &inner),
    ]);
    let rock_path = write_file(dir.path(), "foo-1.0-1.src.rock", &rock);
    let unpacked =
        fetch::unpack_src_rock(&rock_path, &dir.path().join("u"), &ExtractLimits::default())
            .unwrap();
    assert_eq!(unpacked.rockspec, dir.path().join("u/foo-1.0-1.rockspec"));
    assert_eq!(fs::read_to_string(&unpacked.rockspec).unwrap(), ROCKSPEC);

    let src = Source {
        md5: Some(md5_bytes(&inner)),
        ..source("https://example.invalid/foo-1.0.tar.gz")
    };
    let fetched = fetch::src_rock_source(&src, &unpacked, &SourceOptions::default()).unwrap();
    assert_eq!(fetched.dir, dir.path().join("u/unpacked/foo-1.0"));
    assert_eq!(
        fetched.archive_sha256.as_deref(),
        Some(sha256_bytes(&inner).as_str())
    );
    assert!(fetched.dir.join("src/foo.lua").is_file());

    let bad = Source {
        md5: Some("0".repeat(32)),
        ..src
    };
    assert!(matches!(
        fetch::src_rock_source(&bad, &unpacked, &SourceOptions::default()),
        Err(FetchError::Md5Mismatch { .. })
    ));
}

#[test]
fn src_rocks_with_git_sources_hold_the_clone_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rock = zip(&[
        Entry::file("foo-scm-1.rockspec", ROCKSPEC),
        Entry::file("foo/foo.lua", "return 1\n"),
    ]);
    let rock_path = write_file(dir.path(), "foo-scm-1.src.rock", &rock);
    let unpacked =
        fetch::unpack_src_rock(&rock_path, &dir.path().join("u"), &ExtractLimits::default())
            .unwrap();
    let fetched = fetch::src_rock_source(
        &source("git+https://example.invalid/org/foo.git"),
        &unpacked,
        &SourceOptions::default(),
    )
    .unwrap();
    assert_eq!(fetched.dir, dir.path().join("u/foo"));
}

#[test]
fn src_rocks_without_exactly_one_rockspec_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let none = write_file(
        dir.path(),
        "none.src.rock",
        &zip(&[Entry::file("foo.tar.gz", "x")]),
    );
    let err = fetch::unpack_src_rock(&none, &dir.path().join("a"), &ExtractLimits::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("none.src.rock") && err.to_string().contains("no .rockspec"),
        "{err}"
    );
    let two = write_file(
        dir.path(),
        "two.src.rock",
        &zip(&[
            Entry::file("a.rockspec", "x"),
            Entry::file("b.rockspec", "y"),
        ]),
    );
    let err =
        fetch::unpack_src_rock(&two, &dir.path().join("b"), &ExtractLimits::default()).unwrap_err();
    assert!(err.to_string().contains("a.rockspec, b.rockspec"), "{err}");
}
