//! Attacks on the shared store and on what a build copies into it, through the `lvm` binary:
//! a hostile server's build standing in for another server's package, broken binary rocks,
//! edited store files, kept trees holding a damaged file, symbolic links and source paths that
//! lead out of the build, and `lvm gc` racing an install in another environment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::rocks::{Lvm, file_server, spawn_paused, stdout_ok};
use crate::common::{Entry, tar_gz, zip};

/// A rockspec for `name` 1.0-1 whose sources are `url`, with `build` as its build table.
fn rockspec(name: &str, url: &str, extra_source: &str, build: &str) -> String {
    format!(
        r#"package = "{name}"
version = "1.0-1"
source = {{ url = "{url}"{extra_source} }}
dependencies = {{ "lua >= 5.1" }}
build = {build}
"#
    )
}

/// Writes `files` (name, bytes) into the server folder `dir` and refreshes its manifest.
fn publish(dir: &Path, files: &[(&str, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    lvm::ops::publish::make_manifest(dir).unwrap();
}

/// A command for a second environment `env` sharing `lvm`'s home.
fn in_env(lvm: &Lvm, env: &Path, args: &[&str]) -> Command {
    let mut cmd = lvm.command();
    cmd.env("LVM_ENV", env).args(args);
    cmd
}

fn ok(mut cmd: Command) -> String {
    stdout_ok(&cmd.output().unwrap())
}

/// Every stored entry's folder.
fn store_entries(lvm: &Lvm) -> Vec<PathBuf> {
    let dir = lvm.home().join("store/rocks");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Files under `root` whose name is `name`.
fn files_named(root: &Path, name: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() == name)
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[test]
fn a_hostile_servers_build_is_never_installed_for_another_server() {
    let lvm = Lvm::new();
    let real = lvm.root.path().join("real");
    let real_url = format!("file://{}", real.display());
    let spec = rockspec(
        "victim",
        &format!("{real_url}/victim-1.0.tar.gz"),
        "",
        r#"{ type = "builtin", modules = { victim = "victim.lua" } }"#,
    );
    let genuine = tar_gz(&[Entry::file("victim-1.0/victim.lua", "return 'genuine'")]);
    publish(
        &real,
        &[
            ("victim-1.0-1.rockspec", spec.clone().into_bytes()),
            ("victim-1.0.tar.gz", genuine),
        ],
    );

    // The hostile server publishes the very same rockspec in a source rock with its own files.
    let hostile = lvm.root.path().join("hostile");
    let evil_src = lvm.root.path().join("evil-src");
    std::fs::create_dir_all(&evil_src).unwrap();
    std::fs::write(evil_src.join("victim.lua"), "return 'evil'").unwrap();
    let spec_file = lvm.root.path().join("victim-1.0-1.rockspec");
    std::fs::write(&spec_file, &spec).unwrap();
    lvm::ops::publish::pack_src_rock(&spec_file, &evil_src, &hostile).unwrap();
    lvm::ops::publish::make_manifest(&hostile).unwrap();

    let hostile_env = lvm.root.path().join("hostile-env");
    let hostile_url = format!("file://{}", hostile.display());
    ok(in_env(
        &lvm,
        &hostile_env,
        &["init", "--server", &hostile_url],
    ));
    ok(in_env(&lvm, &hostile_env, &["install", "victim"]));

    lvm.init(&[&real_url]);
    lvm.ok(&["install", "victim"]);
    let got = stdout_ok(&lvm.lua("print((require('victim')))"));
    assert_eq!(
        got.trim(),
        "genuine",
        "the other server's build was installed"
    );
    let verify = lvm.ok(&["verify"]);
    assert!(!verify.contains("problem"), "{verify}");
}

/// A binary rock (`.all.rock`) of `name` 1.0-1 holding `lua/<name>.lua` with `code`, whose
/// `rock_manifest` records `recorded_md5` for that file.
fn all_rock(name: &str, spec: &str, code: &str, recorded_md5: &str) -> Vec<u8> {
    let rockspec_file = format!("{name}-1.0-1.rockspec");
    let manifest = lvm::tree::manifest::rock_manifest(&[
        (
            rockspec_file.clone(),
            Some(lvm::fetch::md5_bytes(spec.as_bytes())),
        ),
        ("lua".to_string(), None),
        (format!("lua/{name}.lua"), Some(recorded_md5.to_string())),
    ]);
    zip(&[
        Entry::file(&rockspec_file, spec),
        Entry::file("rock_manifest", manifest),
        Entry::file(&format!("lua/{name}.lua"), code),
    ])
}

#[test]
fn a_broken_binary_rock_never_enters_the_store() {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("server");
    let url = format!("file://{}", dir.display());
    let spec = rockspec(
        "binrock",
        "https://rocks.example.org/binrock-1.0.tar.gz",
        "",
        r#"{ type = "builtin", modules = { binrock = "binrock.lua" } }"#,
    );
    let code = "return 'binary'";
    publish(
        &dir,
        &[(
            "binrock-1.0-1.all.rock",
            all_rock("binrock", &spec, code, "0123456789abcdef0123456789abcdef"),
        )],
    );
    lvm.init(&[&url]);
    let err = lvm.fails(&["install", "binrock"]);
    assert!(
        err.contains("rock_manifest") && err.contains("lua/binrock.lua"),
        "{err}"
    );
    assert_eq!(store_entries(&lvm), Vec::<PathBuf>::new());

    // The repaired rock installs at once: nothing broken blocks it.
    publish(
        &dir,
        &[(
            "binrock-1.0-1.all.rock",
            all_rock(
                "binrock",
                &spec,
                code,
                &lvm::fetch::md5_bytes(code.as_bytes()),
            ),
        )],
    );
    lvm.ok(&["install", "binrock"]);
    let got = stdout_ok(&lvm.lua("print((require('binrock')))"));
    assert_eq!(got.trim(), "binary");
}

/// Every path under `root` with its modification time and size.
fn listing(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .map(|e| {
            let meta = e.path().symlink_metadata().unwrap();
            format!(
                "{} {:?} {}",
                e.path().display(),
                meta.modified().unwrap(),
                meta.len()
            )
        })
        .collect();
    out.sort();
    out
}

/// Makes a read-only store file writable so a test can damage it (trees cannot, but a user
/// can).
fn writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn verify_checks_the_recorded_digest_and_writes_nothing() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);

    // A healthy verify changes no file or folder anywhere (but its best-effort log line,
    // which a read-only disk just does not get).
    let before = listing(lvm.root.path());
    lvm.ok(&["verify"]);
    let after = listing(lvm.root.path());
    let changed: Vec<&String> = after
        .iter()
        .filter(|line| !before.contains(line))
        .chain(before.iter().filter(|line| !after.contains(line)))
        .filter(|line| !line.contains("/env/logs"))
        .collect();
    assert_eq!(changed, Vec::<&String>::new(), "verify wrote to disk");

    // A store file edited together with the hash its meta.json records.
    let entry = store_entries(&lvm).pop().unwrap();
    let module = files_named(&entry.join("prefix"), "strutil.lua")
        .pop()
        .unwrap();
    let rel = module
        .strip_prefix(entry.join("prefix"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let forged = "return { forged = true }";
    writable(&module);
    std::fs::write(&module, forged).unwrap();
    let meta_path = entry.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["files"][&rel] = lvm::digest::sha256_bytes(forged.as_bytes()).into();
    writable(&meta_path);
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();

    let out = lvm.run(&["verify"]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("files_sha256") && text.contains("strutil"),
        "{text}"
    );
    lvm.ok(&["verify", "--repair"]);
    lvm.ok(&["verify"]);
    let got = stdout_ok(&lvm.lua("print(require('strutil').forged)"));
    assert_eq!(got.trim(), "nil");
}

#[test]
fn repair_leaves_no_kept_tree_with_the_damaged_file() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["install", "chain-c"]);
    let module = files_named(&lvm.tree().join("share"), "strutil.lua")
        .pop()
        .unwrap();
    let original = std::fs::read_to_string(&module).unwrap();
    writable(&module);
    std::fs::write(&module, "return { edited = true }").unwrap();

    let out = lvm.run(&["verify"]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("hard links"), "{text}");
    let repaired = lvm.ok(&["verify", "--repair"]);
    assert!(repaired.contains("repaired"), "{repaired}");

    // Back to the state with strutil only, which a kept tree held before the repair.
    lvm.ok(&["rollback", "1"]);
    let got = stdout_ok(&lvm.lua("print(require('strutil').edited)"));
    assert_eq!(got.trim(), "nil", "the edit is live again after rollback");
    let live = files_named(&lvm.tree().join("share"), "strutil.lua")
        .pop()
        .unwrap();
    assert_eq!(std::fs::read_to_string(live).unwrap(), original);
    lvm.ok(&["verify"]);
}

/// A server with one package whose archive is `archive` and whose rockspec has
/// `extra_source` and `build`; an environment using it.
fn hostile_archive_setup(archive: Vec<u8>, extra_source: &str, build: &str) -> Lvm {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("server");
    let url = format!("file://{}", dir.display());
    let spec = rockspec(
        "linky",
        &format!("{url}/linky-1.0.tar.gz"),
        extra_source,
        build,
    );
    publish(
        &dir,
        &[
            ("linky-1.0-1.rockspec", spec.into_bytes()),
            ("linky-1.0.tar.gz", archive),
        ],
    );
    lvm.init(&[&url]);
    lvm
}

#[test]
fn a_link_in_the_sources_cannot_write_outside_the_build() {
    // `lua/out` stays inside the unpacked archive, but copied into the rock it leads four
    // levels up from `lua/`: out of the rock, into lvm's scratch space.
    let archive = tar_gz(&[
        Entry::file("top/deep/src/x.lua", "return 'x'"),
        Entry::symlink("top/deep/src/lua/out", "../../../.."),
    ]);
    let lvm = hostile_archive_setup(
        archive,
        r#", dir = "top/deep/src""#,
        r#"{ type = "builtin", modules = { x = "x.lua" }, install = { lua = { ["out.pwned"] = "x.lua" } } }"#,
    );
    let err = lvm.fails(&["install", "linky"]);
    assert!(
        err.contains("symbolic link") && err.contains("out"),
        "{err}"
    );
    assert_eq!(
        files_named(lvm.root.path(), "pwned.lua"),
        Vec::<PathBuf>::new()
    );
    assert_eq!(store_entries(&lvm), Vec::<PathBuf>::new());
}

#[test]
fn a_link_in_the_sources_cannot_copy_outside_files_into_the_store() {
    let archive = tar_gz(&[
        Entry::file("top/deep/src/x.lua", "return 'x'"),
        Entry::symlink("top/deep/src/lua/stolen.lua", "../../../../secret.txt"),
    ]);
    let lvm = hostile_archive_setup(
        archive,
        r#", dir = "top/deep/src""#,
        r#"{ type = "builtin", modules = { x = "x.lua" } }"#,
    );
    // Where the copied link leads from the rock prefix: lvm's scratch folder.
    let scratch = lvm.env_dir().join(".lvm-tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("secret.txt"), "the secret").unwrap();
    let err = lvm.fails(&["install", "linky"]);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(store_entries(&lvm), Vec::<PathBuf>::new());
    assert_eq!(
        files_named(&lvm.tree(), "stolen.lua"),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn source_paths_outside_the_sources_are_refused_by_lint_and_install() {
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("id_rsa");
    std::fs::write(&secret, "-----BEGIN KEY-----").unwrap();
    let secret_lua = secret_dir.path().join("id_rsa.lua");
    std::fs::write(&secret_lua, "return '-----BEGIN KEY-----'").unwrap();
    let archive = tar_gz(&[Entry::file("linky-1.0/x.lua", "return 'x'")]);
    for build in [
        format!(
            r#"{{ type = "builtin", modules = {{ x = "x.lua", stolen = "{}" }} }}"#,
            secret_lua.display()
        ),
        format!(
            r#"{{ type = "builtin", modules = {{ x = "x.lua" }}, install = {{ bin = {{ "{}" }} }} }}"#,
            secret.display()
        ),
        r#"{ type = "builtin", modules = { x = "x.lua" }, install = { conf = { "../../../../../../../../../etc/hostname" } } }"#.to_string(),
    ] {
        let lvm = hostile_archive_setup(archive.clone(), "", &build);
        let err = lvm.fails(&["install", "linky"]);
        assert!(err.contains("outside the unpacked sources"), "{build}: {err}");
        assert_eq!(files_named(lvm.root.path(), "id_rsa").len(), 0, "{build}");
        assert_eq!(files_named(lvm.root.path(), "stolen.lua").len(), 0, "{build}");
        assert_eq!(files_named(lvm.root.path(), "hostname"), Vec::<PathBuf>::new());

        let spec = lvm.root.path().join("server/linky-1.0-1.rockspec");
        let out = lvm.run(&["lint", spec.to_str().unwrap()]);
        let report = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{report}");
        assert!(report.contains("error: build."), "{report}");
    }
    assert!(secret.is_file());
}

#[test]
fn gc_in_another_environment_keeps_the_builds_of_an_install_in_flight() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let other = lvm.root.path().join("other-env");
    ok(in_env(&lvm, &other, &["init", "--server", &url]));

    let (installing, marker) = spawn_paused(&lvm, "before-commit", &["install", "chain-c"]);
    let built = store_entries(&lvm);
    assert!(!built.is_empty());
    // The install is between its store inserts and its commit: nothing records its builds yet.
    ok(in_env(&lvm, &other, &["gc"]));
    assert_eq!(
        store_entries(&lvm),
        built,
        "gc removed builds of the install in flight"
    );
    std::fs::remove_file(&marker).unwrap();
    stdout_ok(&installing.wait_with_output().unwrap());
    lvm.ok(&["verify"]);

    // Once committed, the pins are gone; the builds stay because the state needs them.
    let pins = lvm.home().join("store/pins");
    let left: Vec<_> = std::fs::read_dir(&pins)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<PathBuf>::new());
    ok(in_env(&lvm, &other, &["gc"]));
    assert_eq!(store_entries(&lvm), built);
}

#[test]
fn gc_in_another_environment_keeps_the_builds_of_a_rollback_in_flight() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let other = lvm.root.path().join("other-env");
    ok(in_env(&lvm, &other, &["init", "--server", &url]));
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["remove", "strutil"]);
    let built = store_entries(&lvm);
    assert_eq!(built.len(), 1);
    // Without a kept tree of the old state, the rollback makes its tree from the store.
    let live = std::fs::read_link(lvm.tree()).unwrap();
    for kept in std::fs::read_dir(lvm.env_dir().join(".trees")).unwrap() {
        let kept = kept.unwrap().path();
        if kept.file_name() != live.file_name() {
            std::fs::remove_dir_all(&kept).unwrap();
        }
    }

    // Paused with the old state's entries pinned, before it links them: no head needs
    // strutil's build, so `gc --older-than 0` elsewhere would collect it.
    let (rolling, marker) = spawn_paused(&lvm, "pinned", &["rollback", "1"]);
    ok(in_env(&lvm, &other, &["gc", "--older-than", "0"]));
    assert_eq!(
        store_entries(&lvm),
        built,
        "gc removed a build of the rollback in flight"
    );
    std::fs::remove_file(&marker).unwrap();
    stdout_ok(&rolling.wait_with_output().unwrap());
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    lvm.ok(&["verify"]);
}

#[test]
fn pins_of_processes_that_are_gone_do_not_keep_entries() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil"]);
    lvm.ok(&["remove", "strutil"]);
    let entry = store_entries(&lvm).pop().unwrap();
    let key = entry.file_name().unwrap().to_str().unwrap().to_string();
    // A pin left by a process that died: a child that has exited and been reaped.
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let pins = lvm.home().join("store/pins");
    std::fs::create_dir_all(&pins).unwrap();
    // A running process's pin file (this test's own id) lists the keys it pins.
    let live = pins.join(format!("{}.live", std::process::id()));
    std::fs::write(&live, format!("not-a-key\n{key}\n")).unwrap();
    lvm.ok(&["gc", "--older-than", "0"]);
    assert!(
        entry.exists(),
        "gc removed an entry a running process pinned"
    );
    std::fs::remove_file(&live).unwrap();
    // The same from the dead process, and a pin named after its key, as earlier builds wrote.
    let stale = [
        (pins.join(format!("{pid}.stale")), format!("{key}\n")),
        (pins.join(format!("{key}.{pid}.stale")), String::new()),
    ];
    for (file, keys) in &stale {
        std::fs::write(file, keys).unwrap();
    }
    lvm.ok(&["gc", "--older-than", "0"]);
    assert!(!entry.exists(), "a stale pin kept the entry");
    for (file, _) in &stale {
        assert!(!file.exists(), "gc leaves stale pins behind");
    }
}

#[test]
fn a_trickling_download_ends_at_the_download_timeout() {
    use crate::common::http_server::TestServer;
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("http-server");
    std::fs::create_dir_all(&dir).unwrap();
    let server = TestServer::serve(&dir);
    crate::common::rocks::publish_fixtures(&dir, &server.url());
    lvm.init(&[&server.url()]);
    // One byte every 50 ms: never slow enough for the per-read timeout, and the whole archive
    // takes far longer than the one-second limit.
    server.trickle("/strutil-1.1-1.tar.gz", Duration::from_millis(50));
    let before = lvm.snapshot();
    let out = lvm
        .command()
        .env("LVM_DOWNLOAD_TIMEOUT", "1")
        .args(["install", "strutil"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&server.url_for("strutil-1.1-1.tar.gz"))
            && err.contains("download_timeout of 1 s"),
        "{err}"
    );
    assert_eq!(lvm.snapshot(), before);

    // The setting is validated like the other timeouts.
    let err = lvm.fails(&["config", "set", "download_timeout", "-3"]);
    assert!(
        err.contains("download_timeout") && err.contains("> 0"),
        "{err}"
    );
    lvm.ok(&["config", "set", "download_timeout", "120"]);
    assert!(
        lvm.ok(&["config", "get", "download_timeout"])
            .contains("120")
    );
}
