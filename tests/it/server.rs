//! Rocks servers over a local HTTP server and file://: manifest lookup order, caching, the
//! fallback to the cache when the server is gone, and downloading rockspecs and rocks.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::common::http_server::TestServer;
use crate::common::{Entry, file_url, write_file, zip};
use lvm::fetch::FetchOptions;
use lvm::registry::ServerManifest;
use lvm::server::{Origin, RocksServer, ServerError};
use lvm::version::Version;

const ZIPPED: &str = "-- from manifest-5.4.zip\nrepository = {}\n";
const PLAIN_54: &str = "-- from manifest-5.4\nrepository = {}\n";
const GENERIC: &str = "-- from manifest\nrepository = {}\n";

fn quick() -> FetchOptions {
    FetchOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(300),
        ..FetchOptions::default()
    }
}

/// Publishes the chosen manifest forms in `dir`.
fn publish(dir: &Path, zipped: bool, plain: bool, generic: bool) {
    if zipped {
        write_file(
            dir,
            "manifest-5.4.zip",
            &zip(&[Entry::file("manifest-5.4", ZIPPED)]),
        );
    }
    if plain {
        write_file(dir, "manifest-5.4", PLAIN_54.as_bytes());
    }
    if generic {
        write_file(dir, "manifest", GENERIC.as_bytes());
    }
}

fn requests(server: &TestServer) -> [usize; 3] {
    [
        server.requests("manifest-5.4.zip"),
        server.requests("manifest-5.4"),
        server.requests("manifest"),
    ]
}

#[test]
fn http_manifest_lookup_prefers_zip_then_plain_then_generic() {
    let cases = [
        ((true, true, true), "manifest-5.4.zip", ZIPPED, [1, 0, 0]),
        ((false, true, true), "manifest-5.4", PLAIN_54, [1, 1, 0]),
        ((false, false, true), "manifest", GENERIC, [1, 1, 1]),
    ];
    for ((zipped, plain, generic), file, text, counts) in cases {
        let served = tempfile::tempdir().unwrap();
        publish(served.path(), zipped, plain, generic);
        let http = TestServer::serve(served.path());
        let cache = tempfile::tempdir().unwrap();
        let server = RocksServer::new(&http.url(), cache.path())
            .unwrap()
            .with_options(quick());
        let manifest = server.manifest_text().unwrap();
        assert_eq!(manifest.file, file);
        assert_eq!(manifest.text, text);
        assert_eq!(manifest.origin, Origin::Server);
        assert_eq!(requests(&http), counts, "requests for {file}");
    }
}

#[test]
fn local_manifest_lookup_follows_the_same_order() {
    for (flags, text) in [
        ((true, true, true), ZIPPED),
        ((false, true, true), PLAIN_54),
        ((false, false, true), GENERIC),
    ] {
        let served = tempfile::tempdir().unwrap();
        publish(served.path(), flags.0, flags.1, flags.2);
        let cache = tempfile::tempdir().unwrap();
        for url in [file_url(served.path()), served.path().display().to_string()] {
            let server = RocksServer::new(&url, cache.path()).unwrap();
            assert_eq!(server.manifest_text().unwrap().text, text);
        }
        assert_eq!(
            fs::read_dir(cache.path()).unwrap().count(),
            0,
            "local servers are not cached"
        );
    }
}

#[test]
fn a_server_without_a_manifest_is_an_error_listing_what_was_tried() {
    let served = tempfile::tempdir().unwrap();
    let http = TestServer::serve(served.path());
    let cache = tempfile::tempdir().unwrap();
    let err = RocksServer::new(&http.url(), cache.path())
        .unwrap()
        .manifest_text()
        .unwrap_err();
    assert!(matches!(err, ServerError::NoManifest { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&http.url()) && msg.contains("manifest-5.4.zip, manifest-5.4, manifest"),
        "{msg}"
    );
    assert_eq!(requests(&http), [1, 1, 1]);

    let err = RocksServer::new(&file_url(served.path()), cache.path())
        .unwrap()
        .manifest_text()
        .unwrap_err();
    assert!(matches!(err, ServerError::NoManifest { .. }), "{err:?}");
}

#[test]
fn a_zip_without_the_manifest_inside_is_an_error_naming_the_file() {
    let served = tempfile::tempdir().unwrap();
    write_file(
        served.path(),
        "manifest-5.4.zip",
        &zip(&[Entry::file("something-else", "x")]),
    );
    let http = TestServer::serve(served.path());
    let cache = tempfile::tempdir().unwrap();
    let err = RocksServer::new(&http.url(), cache.path())
        .unwrap()
        .manifest_text()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&http.url())
            && err.contains("manifest-5.4.zip")
            && err.contains("no `manifest-5.4`"),
        "{err}"
    );
}

#[test]
fn manifests_are_refetched_online_and_taken_from_the_cache_when_the_server_is_gone() {
    let served = tempfile::tempdir().unwrap();
    publish(served.path(), false, true, false);
    let cache = tempfile::tempdir().unwrap();
    let http = TestServer::serve(served.path());
    let url = http.url();
    let server = RocksServer::new(&url, cache.path())
        .unwrap()
        .with_options(quick());
    assert_eq!(server.manifest_text().unwrap().text, PLAIN_54);

    // Online: a changed manifest is picked up.
    let updated = "-- updated\nrepository = {}\n";
    write_file(served.path(), "manifest-5.4", updated.as_bytes());
    assert_eq!(server.manifest_text().unwrap().text, updated);
    assert_eq!(http.requests("manifest-5.4"), 2);

    // Failing server: the cached copy is used.
    http.respond_500("manifest-5.4.zip");
    let from_cache = server.manifest_text().unwrap();
    assert_eq!(
        (from_cache.text.as_str(), from_cache.origin),
        (updated, Origin::Cache)
    );

    // Gone entirely: still the cached copy.
    drop(http);
    let again = RocksServer::new(&url, cache.path())
        .unwrap()
        .with_options(quick())
        .manifest_text()
        .unwrap();
    assert_eq!(
        (again.text.as_str(), again.origin, again.file.as_str()),
        (updated, Origin::Cache, "manifest-5.4")
    );

    // Without a cache the error names the server.
    let empty = tempfile::tempdir().unwrap();
    let err = RocksServer::new(&url, empty.path())
        .unwrap()
        .with_options(quick())
        .manifest_text()
        .unwrap_err();
    assert!(matches!(err, ServerError::Fetch { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[test]
fn a_fresh_manifest_replaces_older_cached_forms() {
    let served = tempfile::tempdir().unwrap();
    publish(served.path(), true, false, false);
    let cache = tempfile::tempdir().unwrap();
    let http = TestServer::serve(served.path());
    let server = RocksServer::new(&http.url(), cache.path())
        .unwrap()
        .with_options(quick());
    assert_eq!(server.manifest_text().unwrap().text, ZIPPED);
    fs::remove_file(served.path().join("manifest-5.4.zip")).unwrap();
    publish(served.path(), false, true, false);
    assert_eq!(server.manifest_text().unwrap().text, PLAIN_54);
    http.stall("manifest-5.4.zip");
    let cached = server.manifest_text().unwrap();
    assert_eq!(
        (cached.text.as_str(), cached.origin),
        (PLAIN_54, Origin::Cache)
    );
}

#[test]
fn offline_servers_use_only_the_cache() {
    let served = tempfile::tempdir().unwrap();
    publish(served.path(), false, false, true);
    write_file(served.path(), "foo-1.0-1.rockspec", b"package = 'foo'\n");
    let cache = tempfile::tempdir().unwrap();
    let http = TestServer::serve(served.path());
    let offline = RocksServer::new(&http.url(), cache.path())
        .unwrap()
        .offline(true);
    assert!(matches!(
        offline.manifest_text(),
        Err(ServerError::NotCached { .. })
    ));
    assert!(matches!(
        offline.fetch_file("foo-1.0-1.rockspec"),
        Err(ServerError::NotCached { .. })
    ));
    assert_eq!(http.total_requests(), 0, "offline makes no requests");

    let online = RocksServer::new(&http.url(), cache.path())
        .unwrap()
        .with_options(quick());
    online.manifest_text().unwrap();
    online.fetch_file("foo-1.0-1.rockspec").unwrap();
    let before = http.total_requests();
    assert_eq!(offline.manifest_text().unwrap().text, GENERIC);
    assert!(offline.fetch_file("foo-1.0-1.rockspec").unwrap().is_file());
    assert_eq!(http.total_requests(), before);
}

#[test]
fn rock_files_are_downloaded_once_and_then_served_from_the_cache() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "foo-1.0-1.rockspec", b"package = 'foo'\n");
    write_file(served.path(), "foo-1.0-1.src.rock", b"src rock bytes");
    write_file(served.path(), "foo-1.0-1.all.rock", b"all rock bytes");
    write_file(
        served.path(),
        "foo-1.0-1.linux-x86_64.rock",
        b"binary rock bytes",
    );
    let http = TestServer::serve(served.path());
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let server = RocksServer::new(&http.url(), cache.path())
        .unwrap()
        .with_options(quick());
    let v = Version::parse("1.0-1").unwrap();

    let spec = server.download_rockspec("foo", &v, out.path()).unwrap();
    assert_eq!(spec, out.path().join("foo-1.0-1.rockspec"));
    assert_eq!(fs::read(&spec).unwrap(), b"package = 'foo'\n");
    for (arch, bytes) in [
        ("src", &b"src rock bytes"[..]),
        ("all", b"all rock bytes"),
        ("linux-x86_64", b"binary rock bytes"),
    ] {
        let rock = server.download_rock("foo", &v, arch, out.path()).unwrap();
        assert_eq!(rock, out.path().join(format!("foo-1.0-1.{arch}.rock")));
        assert_eq!(fs::read(&rock).unwrap(), bytes);
    }

    // A second download is a cache hit: no request.
    let again = tempfile::tempdir().unwrap();
    server.download_rockspec("foo", &v, again.path()).unwrap();
    assert_eq!(http.requests("foo-1.0-1.rockspec"), 1);

    // And it survives the server going away.
    let url = http.url();
    drop(http);
    let later = RocksServer::new(&url, cache.path())
        .unwrap()
        .with_options(quick());
    assert_eq!(
        fs::read(later.fetch_file("foo-1.0-1.src.rock").unwrap()).unwrap(),
        b"src rock bytes"
    );
}

#[test]
fn scm_files_are_refetched_and_fall_back_to_the_cache() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "foo-scm-1.rockspec", b"v1");
    let http = TestServer::serve(served.path());
    let cache = tempfile::tempdir().unwrap();
    let server = RocksServer::new(&http.url(), cache.path())
        .unwrap()
        .with_options(quick());
    assert_eq!(
        fs::read(server.fetch_file("foo-scm-1.rockspec").unwrap()).unwrap(),
        b"v1"
    );
    write_file(served.path(), "foo-scm-1.rockspec", b"v2");
    assert_eq!(
        fs::read(server.fetch_file("foo-scm-1.rockspec").unwrap()).unwrap(),
        b"v2"
    );
    assert_eq!(http.requests("foo-scm-1.rockspec"), 2);
    http.respond_500("foo-scm-1.rockspec");
    assert_eq!(
        fs::read(server.fetch_file("foo-scm-1.rockspec").unwrap()).unwrap(),
        b"v2"
    );
}

#[test]
fn missing_files_and_bad_names_are_errors_naming_server_and_file() {
    let served = tempfile::tempdir().unwrap();
    let http = TestServer::serve(served.path());
    let cache = tempfile::tempdir().unwrap();
    for url in [http.url(), file_url(served.path())] {
        let server = RocksServer::new(&url, cache.path())
            .unwrap()
            .with_options(quick());
        let err = server.fetch_file("nope-1.0-1.rockspec").unwrap_err();
        assert!(matches!(err, ServerError::NotFound { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&url) && msg.contains("nope-1.0-1.rockspec"),
            "{msg}"
        );
        for bad in ["../etc/passwd", "a/b.rock", ""] {
            assert!(
                matches!(
                    server.fetch_file(bad),
                    Err(ServerError::InvalidFileName { .. })
                ),
                "{bad}"
            );
        }
    }
    http.respond_500("boom-1.0-1.rockspec");
    let server = RocksServer::new(&http.url(), cache.path())
        .unwrap()
        .with_options(quick());
    let msg = server
        .fetch_file("boom-1.0-1.rockspec")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&http.url()) && msg.contains("boom-1.0-1.rockspec") && msg.contains("500"),
        "{msg}"
    );
}

#[test]
fn local_servers_hand_out_their_own_files() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "foo-1.0-1.src.rock", b"rock");
    let cache = tempfile::tempdir().unwrap();
    let server = RocksServer::new(&file_url(served.path()), cache.path()).unwrap();
    assert_eq!(
        server.fetch_file("foo-1.0-1.src.rock").unwrap(),
        served.path().join("foo-1.0-1.src.rock")
    );
    let out = tempfile::tempdir().unwrap();
    let dest = server
        .download_to("foo-1.0-1.src.rock", &out.path().join("sub/x.rock"))
        .unwrap();
    assert_eq!(fs::read(dest).unwrap(), b"rock");
}

const TWO_PACKAGES: &str = r#"repository = {
   alpha = { ["1.0-1"] = { { arch = "rockspec" }, { arch = "src" } } },
   beta = { ["2.0-1"] = { { arch = "all" } }, ["2.1-1"] = { { arch = "rockspec" } } },
}
"#;

#[test]
fn parsed_manifests_are_cached_by_digest_and_damaged_caches_are_rebuilt() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "manifest", TWO_PACKAGES.as_bytes());
    let cache = tempfile::tempdir().unwrap();
    let server = RocksServer::new(&file_url(served.path()), cache.path()).unwrap();
    let parsed = server.parsed_manifest_path();
    assert!(!parsed.exists());

    let first = server.manifest().unwrap();
    let expected = ServerManifest::parse_lua(TWO_PACKAGES, "manifest").unwrap();
    assert_eq!(first, expected);
    let key = lvm::fetch::sha256_bytes(TWO_PACKAGES.as_bytes());
    let written = fs::read_to_string(&parsed).unwrap();
    assert!(
        written.starts_with(&format!("lvm-parsed-manifest/1 {key} ")),
        "{written}"
    );
    assert_eq!(
        ServerManifest::from_compact(&written, &key, &|_| true),
        Some(expected.clone())
    );

    // The second read takes the cache: a cache tagged with the manifest's digest is believed
    // (here one that holds something else, to see where the answer comes from).
    let decoy = ServerManifest::parse_lua("repository = { decoy = {} }", "m").unwrap();
    fs::write(&parsed, decoy.to_compact(&key).unwrap()).unwrap();
    assert_eq!(server.manifest().unwrap(), decoy);
    let only_beta = server.manifest_matching(&|name| name == "decoy").unwrap();
    assert_eq!(only_beta, decoy);

    // Damaged: rejected, the manifest parsed again and the cache rewritten.
    let damaged = decoy.to_compact(&key).unwrap().replace("decoy", "decoz");
    fs::write(&parsed, damaged).unwrap();
    assert_eq!(server.manifest().unwrap(), expected);
    assert_eq!(fs::read_to_string(&parsed).unwrap(), written);
    fs::write(&parsed, &written[..written.len() / 2]).unwrap();
    assert_eq!(server.manifest().unwrap(), expected);
    assert_eq!(fs::read_to_string(&parsed).unwrap(), written);

    // A changed manifest no longer matches the cache's digest.
    let changed = TWO_PACKAGES.replace("2.1-1", "2.2-1");
    write_file(served.path(), "manifest", changed.as_bytes());
    let fresh = server.manifest_matching(&|name| name == "beta").unwrap();
    let versions: Vec<&str> = fresh.versions("beta").map(Version::as_str).collect();
    assert_eq!(versions, ["2.0-1", "2.2-1"]);
    assert_eq!(fresh.packages.len(), 1);
    let rewritten = fs::read_to_string(&parsed).unwrap();
    let new_key = lvm::fetch::sha256_bytes(changed.as_bytes());
    assert!(rewritten.starts_with(&format!("lvm-parsed-manifest/1 {new_key} ")));
    assert_eq!(
        ServerManifest::from_compact(&rewritten, &new_key, &|_| true)
            .unwrap()
            .packages
            .len(),
        2
    );
}

#[test]
fn a_manifest_that_does_not_parse_is_not_cached_and_names_its_url() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "manifest", b"repository = { foo = 3 }\n");
    let cache = tempfile::tempdir().unwrap();
    let url = file_url(served.path());
    let server = RocksServer::new(&url, cache.path()).unwrap();
    let err = server.manifest().unwrap_err().to_string();
    assert!(
        err.contains(&format!("{url}/manifest")) && err.contains("repository.foo"),
        "{err}"
    );
    assert!(!server.parsed_manifest_path().exists());
}

#[test]
fn an_unwritable_cache_only_costs_time() {
    let served = tempfile::tempdir().unwrap();
    write_file(served.path(), "manifest", TWO_PACKAGES.as_bytes());
    let cache = tempfile::tempdir().unwrap();
    // A file where the cache directory would go.
    let blocked = cache.path().join("blocked");
    fs::write(&blocked, b"").unwrap();
    let server = RocksServer::new(&file_url(served.path()), &blocked).unwrap();
    assert_eq!(server.manifest().unwrap().packages.len(), 2);
    assert!(!server.parsed_manifest_path().exists());
}
