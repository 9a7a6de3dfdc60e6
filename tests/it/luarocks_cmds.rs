//! The commands LuaRocks users reach for, through the `lvm` binary: `which`, `show` of a
//! package that is not installed, `list --outdated`, `download`, `unpack`, installs from rock
//! files and rockspec URLs, `install --deps-only`, `test` and `pack` (git-tracked files, git
//! sources, binary rocks that Debian's `luarocks` installs).

use crate::common::rocks::{Lvm, file_server};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn which_names_the_package_and_file_of_a_module() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "hello-cli", "cmath"]);
    let out = lvm.ok(&["which", "strutil"]);
    let file = lvm.tree().join("share/lua/5.4/strutil.lua");
    assert_eq!(
        out.trim(),
        format!("{} (provided by strutil 1.1-1)", file.display())
    );
    let answer = json(&lvm.ok(&["which", "cmath", "--json"]));
    assert_eq!(answer["package"], "cmath");
    assert_eq!(answer["version"], "1.0-1");
    let so = std::path::PathBuf::from(answer["file"].as_str().unwrap());
    assert!(
        so.ends_with("lib/lua/5.4/cmath.so") && so.is_file(),
        "{so:?}"
    );
    let err = lvm.fails(&["which", "no.such.module"]);
    assert!(
        err.contains("no installed package provides module 'no.such.module'"),
        "{err}"
    );
}

#[test]
fn show_reads_a_package_that_is_not_installed_from_the_servers() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let out = lvm.ok(&["show", "chain-c"]);
    assert!(out.starts_with("chain-c 2.0-1  (not installed)\n"), "{out}");
    assert!(out.contains("versions:     2.0-1, 1.0-1"), "{out}");
    let remote = json(&lvm.ok(&["show", "strutil", "--json"]));
    assert_eq!(remote["installed"], false);
    assert_eq!(remote["version"], "1.1-1");
    assert_eq!(remote["versions"], serde_json::json!(["1.1-1", "1.0-1"]));
    assert_eq!(remote["license"], "MIT");
    assert_eq!(remote["summary"], "String helpers (test fixture)");
    assert_eq!(remote["dependencies"], serde_json::json!(["lua >= 5.1"]));
    assert_eq!(remote["servers"], serde_json::json!([url]));
    // Installed, it shows the license too, without asking any server.
    lvm.ok(&["install", "strutil"]);
    let out = lvm.ok(&["show", "strutil"]);
    assert!(out.contains("license:      MIT"), "{out}");
    let local = json(&lvm.ok(&["show", "strutil", "--json"]));
    assert_eq!(
        (local["installed"].clone(), local["license"].clone()),
        (true.into(), "MIT".into())
    );
}

#[test]
fn list_outdated_shows_the_latest_and_what_the_constraints_allow() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    assert_eq!(
        lvm.ok(&["list", "--outdated", "--json"]).trim(),
        "[]",
        "nothing installed, nothing outdated"
    );
    // chain-b needs chain-c ~> 1.0, so 2.0-1 is out of its reach; strutil was asked at 1.0-1.
    lvm.ok(&["install", "chain-a", "strutil == 1.0-1", "dia-base < 2.0"]);
    let found = json(&lvm.ok(&["list", "--outdated", "--json"]));
    let by_name = |name: &str| {
        found
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing in {found}"))
    };
    let chain_c = by_name("chain-c");
    assert_eq!(
        (
            &chain_c["installed"],
            &chain_c["latest"],
            &chain_c["allowed"]
        ),
        (&"1.0-1".into(), &"2.0-1".into(), &"1.0-1".into())
    );
    assert_eq!(chain_c["constraints"], "~> 1.0");
    let dia = by_name("dia-base");
    assert_eq!(
        (&dia["installed"], &dia["latest"], &dia["allowed"]),
        (&"1.5-1".into(), &"2.0-1".into(), &"1.5-1".into())
    );
    assert_eq!(by_name("strutil")["latest"], "1.1-1");
    assert_eq!(found.as_array().unwrap().len(), 3, "{found}");
    let text = lvm.ok(&["list", "--outdated"]);
    assert!(
        text.contains("chain-c 1.0-1 → 2.0-1  (held at 1.0-1 by ~> 1.0)"),
        "{text}"
    );
    lvm.ok(&["install", "strutil >= 1.0"]);
    let text = lvm.ok(&["list", "--outdated"]);
    assert!(text.contains("strutil 1.0-1 → 1.1-1  ("), "{text}");
}

/// Adds `strutil-1.1-1.src.rock` (packed by `lvm pack` from the fixture's sources) to a server
/// folder and indexes it again.
fn publish_src_rock(lvm: &Lvm, server: &std::path::Path) -> std::path::PathBuf {
    let sources = crate::common::rocks::fixtures_dir().join("strutil-1.1-1");
    let spec = server.join("strutil-1.1-1.rockspec");
    lvm.ok(&[
        "pack",
        spec.to_str().unwrap(),
        "--source-dir",
        sources.to_str().unwrap(),
        "--to",
        server.to_str().unwrap(),
    ]);
    lvm.ok(&["make-manifest", server.to_str().unwrap()]);
    server.join("strutil-1.1-1.src.rock")
}

#[test]
fn download_fetches_the_source_rock_or_the_rockspec_as_asked() {
    let lvm = Lvm::new();
    let (server, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let to = lvm.root.path().join("downloads");
    let to_arg = to.to_str().unwrap();
    // Only rockspecs on the server: the rockspec it is.
    let got = json(&lvm.ok(&["download", "strutil", "--to", to_arg, "--json"]));
    assert_eq!(
        (&got["version"], &got["arch"]),
        (&"1.1-1".into(), &"rockspec".into())
    );
    assert!(to.join("strutil-1.1-1.rockspec").is_file());
    let err = lvm.fails(&["download", "strutil", "--source", "--to", to_arg]);
    assert!(
        err.contains("strutil (any version) as a .src.rock is not on the rocks servers; they have 1.1-1, 1.0-1"),
        "{err}"
    );
    publish_src_rock(&lvm, &server);
    let out = lvm.ok(&["download", "strutil", "--to", to_arg]);
    assert!(out.contains("strutil-1.1-1.src.rock"), "{out}");
    let published = std::fs::read(server.join("strutil-1.1-1.src.rock")).unwrap();
    assert_eq!(
        std::fs::read(to.join("strutil-1.1-1.src.rock")).unwrap(),
        published
    );
    // A version or constraint picks among the versions; --rockspec only the rockspec.
    lvm.ok(&["download", "strutil", "< 1.1", "--rockspec", "--to", to_arg]);
    assert!(to.join("strutil-1.0-1.rockspec").is_file());
    let err = lvm.fails(&["download", "no-such-rock", "--to", to_arg]);
    assert!(
        err.contains("no-such-rock is neither installed nor on any configured rocks server"),
        "{err}"
    );
}

#[test]
fn unpack_puts_the_rockspec_and_its_sources_in_a_folder() {
    let lvm = Lvm::new();
    let (server, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let rock = publish_src_rock(&lvm, &server);
    let to = lvm.root.path().join("work");
    let to_arg = to.to_str().unwrap();
    let got = json(&lvm.ok(&["unpack", "strutil", "--to", to_arg, "--json"]));
    let dir = to.join("strutil-1.1-1");
    assert_eq!(got["dir"], dir.to_str().unwrap());
    assert!(dir.join("strutil-1.1-1.rockspec").is_file());
    let sources = std::path::PathBuf::from(got["sources"].as_str().unwrap());
    // Where `luarocks unpack` puts them: beside the rockspec, in the archive's folder.
    assert_eq!(sources, dir.join("strutil-1.1-1"));
    assert!(sources.join("src/strutil.lua").is_file(), "{got}");
    // Again into the same place: refused, nothing changed.
    let err = lvm.fails(&["unpack", rock.to_str().unwrap(), "--to", to_arg]);
    assert!(err.contains("exists already"), "{err}");
    // A rockspec file: its source.url is fetched and unpacked beside it.
    let spec = server.join("strutil-1.0-1.rockspec");
    let got = json(&lvm.ok(&["unpack", spec.to_str().unwrap(), "--to", to_arg, "--json"]));
    let sources = std::path::PathBuf::from(got["sources"].as_str().unwrap());
    assert!(sources.join("src/strutil.lua").is_file(), "{got}");
    assert!(to.join("strutil-1.0-1/strutil-1.0-1.rockspec").is_file());
}

#[test]
fn install_from_rock_files_and_urls_records_where_from() {
    let lvm = Lvm::new();
    let (server, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let rock = publish_src_rock(&lvm, &server);
    let copy = lvm.root.path().join("strutil-1.1-1.src.rock");
    std::fs::copy(&rock, &copy).unwrap();
    lvm.ok(&["install", "./strutil-1.1-1.src.rock"]);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    let manifest = json(&std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap());
    let source = &manifest["packages"]["strutil"]["source"];
    assert_eq!(source["kind"], "rock");
    assert_eq!(
        source["path"],
        copy.canonicalize().unwrap().to_str().unwrap()
    );
    let out = lvm.lua("print(require('strutil') ~= nil)");
    assert!(String::from_utf8_lossy(&out.stdout).contains("true"));

    let http = crate::common::http_server::TestServer::serve(&server);
    let spec_url = http.url_for("strutil-1.0-1.rockspec");
    lvm.ok(&["install", &spec_url]);
    assert_eq!(lvm.installed(), ["strutil 1.0-1"]);
    let log = json(&lvm.ok(&["log", "-n", "1", "--json"]));
    let text = log.to_string();
    assert!(text.contains(&spec_url), "{text}");
    let manifest = json(&std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap());
    assert_eq!(
        manifest["packages"]["strutil"]["source"]["path"],
        spec_url.as_str()
    );
    let rock_url = http.url_for("strutil-1.1-1.src.rock");
    lvm.ok(&["install", &rock_url]);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    let manifest = json(&std::fs::read_to_string(lvm.env_dir().join("manifest.json")).unwrap());
    let source = &manifest["packages"]["strutil"]["source"];
    assert_eq!(
        (&source["kind"], &source["path"]),
        (&"rock".into(), &rock_url.as_str().into())
    );
    // Each rebuilds from the URL it recorded once the store forgot it.
    lvm.ok(&["gc", "--older-than", "0"]);
    lvm.ok(&["rollback"]);
    assert_eq!(lvm.installed(), ["strutil 1.0-1"]);
    lvm.ok(&["gc", "--older-than", "0"]);
    lvm.ok(&["rollback"]);
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    assert!(http.requests("strutil-1.1-1.src.rock") >= 2);

    let bad = lvm.root.path().join("strutil-1.1-1.some-other-os.rock");
    std::fs::copy(&rock, &bad).unwrap();
    let before = lvm.snapshot();
    let err = lvm.fails(&["install", bad.to_str().unwrap()]);
    assert!(err.contains("is a binary rock for some-other-os"), "{err}");
    assert_eq!(lvm.snapshot(), before);
}

#[test]
fn install_deps_only_installs_what_a_project_needs_but_not_the_project() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let project = lvm.root.path().join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("app-1.0-1.rockspec"),
        r#"package = "app"
version = "1.0-1"
source = { url = "https://rocks.example.org/app-1.0.tar.gz" }
dependencies = { "lua >= 5.1", "chain-b", "strutil < 1.1" }
build = { type = "builtin", modules = { app = "app.lua" } }
"#,
    )
    .unwrap();
    let out = lvm
        .command()
        .current_dir(&project)
        .args(["install", "--deps-only"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lvm.installed(),
        ["chain-b 1.0-1", "chain-c 1.0-1", "strutil 1.0-1"]
    );
    let log = lvm.ok(&["log", "-n", "1", "--json"]);
    assert!(log.contains("--deps-only"), "{log}");
    let err = lvm.fails(&["install", "--deps-only", "a", "b"]);
    assert!(
        err.contains("--deps-only takes one rockspec or project folder"),
        "{err}"
    );
}

/// The entry names of a zip file (a rock).
fn zip_names(path: &std::path::Path) -> Vec<String> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .collect()
}

/// The entry names of the `.tar.gz` named `archive` inside a source rock.
fn archive_names(rock: &std::path::Path, archive: &str) -> Vec<String> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(rock).unwrap()).unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(archive).unwrap(), &mut bytes).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    tar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn pack_leaves_out_git_internals_and_ignored_files() {
    let lvm = Lvm::new();
    let project = lvm.root.path().join("app");
    let repo = crate::common::GitRepo::init(&project);
    repo.commit(
        &[
            (
                "app-1.0-1.rockspec",
                "package = \"app\"\nversion = \"1.0-1\"\nsource = { url = \"https://rocks.example.org/app-1.0.tar.gz\" }\nbuild = { type = \"builtin\", modules = { app = \"app.lua\" } }\n",
            ),
            ("app.lua", "return {}\n"),
            (".gitignore", "secret.env\nbuild/\n"),
        ],
        "app",
    );
    std::fs::write(project.join("secret.env"), "TOKEN=hunter2\n").unwrap();
    std::fs::create_dir_all(project.join("build")).unwrap();
    std::fs::write(project.join("build/app.o"), "object").unwrap();
    let out = lvm.root.path().join("out");
    lvm.ok(&[
        "pack",
        project.join("app-1.0-1.rockspec").to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
    ]);
    let names = archive_names(&out.join("app-1.0-1.src.rock"), "app-1.0.tar.gz");
    assert_eq!(names, ["app-1.0/.gitignore", "app-1.0/app.lua"]);
}

#[test]
fn pack_clones_a_git_source_and_the_rock_installs() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    let repo = lvm.root.path().join("gitrock");
    crate::common::rocks::git_fixture(&repo, "packed");
    let out = lvm.root.path().join("out");
    lvm.ok(&[
        "pack",
        repo.join("gitrock-1.0-1.rockspec").to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
    ]);
    let rock = out.join("gitrock-1.0-1.src.rock");
    let names = zip_names(&rock);
    assert!(
        names.contains(&"gitrock/src/gitrock.lua".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"gitrock-1.0-1.rockspec".to_string()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(".git/")), "{names:?}");
    lvm.ok(&["install", rock.to_str().unwrap()]);
    let out = lvm.lua("print(require('gitrock').revision)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "packed");
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs Debian's luarocks")]
fn packed_source_rocks_build_with_luarocks() {
    let lvm = Lvm::new();
    // An archive named otherwise than NAME-VERSION holds its files where LuaRocks looks.
    let (server, _url) = file_server(lvm.root.path());
    let rock = publish_src_rock(&lvm, &server);
    let tree = lvm.root.path().join("luarocks-tree");
    luarocks_install(&lvm, &tree, &rock);
    assert!(tree.join("share/lua/5.4/strutil.lua").is_file());
    let repo = lvm.root.path().join("gitrock");
    crate::common::rocks::git_fixture(&repo, "packed");
    let out = lvm.root.path().join("out");
    let spec = repo.join("gitrock-1.0-1.rockspec");
    lvm.ok(&[
        "pack",
        spec.to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
    ]);
    // Debian's LuaRocks builds it from the repository folder inside the rock.
    luarocks_install(&lvm, &tree, &out.join("gitrock-1.0-1.src.rock"));
    let module = std::fs::read_to_string(tree.join("share/lua/5.4/gitrock.lua")).unwrap();
    assert!(module.contains("revision = \"packed\""), "{module}");
}

/// `luarocks --lua-version 5.4 --tree TREE install ROCK`, dependencies left alone.
fn luarocks_install(lvm: &Lvm, tree: &std::path::Path, rock: &std::path::Path) {
    let run = std::process::Command::new("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(tree)
        .args(["install", "--deps-mode", "none"])
        .arg(rock)
        .env("HOME", lvm.root.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "luarocks install {}: {}",
        rock.display(),
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs Debian's luarocks")]
fn pack_binary_writes_rocks_that_luarocks_installs() {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "strutil", "cmath"]);
    let out = lvm.root.path().join("out");
    let to = out.to_str().unwrap();
    lvm.ok(&["pack", "--binary", "strutil", "--to", to]);
    lvm.ok(&["pack", "--binary", "cmath", "--to", to]);
    let platform = lvm::platform::rock_arch();
    let all = out.join("strutil-1.1-1.all.rock");
    let native = out.join(format!("cmath-1.0-1.{platform}.rock"));
    let names = zip_names(&all);
    for expected in ["rock_manifest", "strutil-1.1-1.rockspec", "lua/strutil.lua"] {
        assert!(names.contains(&expected.to_string()), "{names:?}");
    }
    let tree = lvm.root.path().join("luarocks-tree");
    for rock in [&all, &native] {
        luarocks_install(&lvm, &tree, rock);
    }
    let lua = std::process::Command::new("lua5.4")
        .env(
            "LUA_PATH",
            format!("{}/share/lua/5.4/?.lua;;", tree.display()),
        )
        .env(
            "LUA_CPATH",
            format!("{}/lib/lua/5.4/?.so;;", tree.display()),
        )
        .args([
            "-e",
            "print(type(require('strutil')), require('cmath').gcd(12, 18))",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&lua.stdout).trim(), "table\t6");
    // lvm installs them too, in another environment, as they are.
    let other = Lvm::new();
    other.init(&[&url]);
    other.ok(&["install", all.to_str().unwrap(), native.to_str().unwrap()]);
    let manifest = json(&std::fs::read_to_string(other.env_dir().join("manifest.json")).unwrap());
    assert_eq!(manifest["packages"]["cmath"]["source"]["kind"], "rock");
    let out = other.lua("print(require('cmath').gcd(12, 18))");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "6");
    let err = lvm.fails(&["pack", "--binary", "not-installed", "--to", to]);
    assert!(err.contains("not-installed is not installed"), "{err}");
}

/// A server with the fixture rocks and the busted-shaped runner of `tests/fixtures/testing`.
fn server_with_busted(lvm: &Lvm) -> String {
    let (server, url) = file_server(lvm.root.path());
    let testing = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/testing");
    crate::common::rocks::publish_dir(&testing, &server, &url);
    url
}

/// A project folder with a rockspec (with `test` as given) and a module of its own.
fn test_project(lvm: &Lvm, test: &str) -> std::path::PathBuf {
    let project = lvm.root.path().join("app");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(project.join("spec")).unwrap();
    std::fs::write(
        project.join("app-1.0-1.rockspec"),
        format!(
            r#"rockspec_format = "3.0"
package = "app"
version = "1.0-1"
source = {{ url = "https://rocks.example.org/app-1.0.tar.gz" }}
dependencies = {{ "lua >= 5.1" }}
test_dependencies = {{ "strutil >= 1.1" }}
build = {{ type = "builtin", modules = {{ app = "src/app.lua" }} }}
{test}
"#
        ),
    )
    .unwrap();
    std::fs::write(
        project.join("src/app.lua"),
        "local strutil = require('strutil')\nreturn { words = function(s) return #strutil.split(s, ' ') end }\n",
    )
    .unwrap();
    project
}

fn lvm_test(lvm: &Lvm, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    lvm.command()
        .current_dir(dir)
        .arg("test")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn test_runs_busted_found_by_its_config_file_with_the_test_dependencies() {
    let lvm = Lvm::new();
    let url = server_with_busted(&lvm);
    lvm.init(&[&url]);
    let project = test_project(&lvm, "");
    std::fs::write(project.join(".busted"), "return {}\n").unwrap();
    std::fs::write(
        project.join("spec/app_spec.lua"),
        "local app = dofile('src/app.lua')\ndescribe('app', function()\n  it('counts words', function() assert.equals(3, app.words('a b c')) end)\nend)\n",
    )
    .unwrap();
    let out = lvm_test(&lvm, &project, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok - app counts words"), "{stdout}");
    assert!(stdout.contains("1 successes / 0 failures"), "{stdout}");
    assert_eq!(lvm.installed(), ["busted 0.1-1", "strutil 1.1-1"]);
    let log = lvm.ok(&["log", "-n", "1", "--json"]);
    assert!(log.contains("--test-dependencies"), "{log}");
    // A failing test fails the command; nothing more to install, so nothing is recorded.
    std::fs::write(
        project.join("spec/broken_spec.lua"),
        "describe('broken', function() it('fails', function() assert.equals(1, 2) end) end)\n",
    )
    .unwrap();
    let before = lvm.snapshot();
    let out = lvm_test(&lvm, &project, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("not ok - broken fails: spec/broken_spec.lua:1: expected 1, got 2"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the tests of ./app-1.0-1.rockspec failed"),
        "{stderr}"
    );
    assert_eq!(lvm.snapshot(), before);
    // Arguments after `--` reach the runner: only the passing spec runs.
    let out = lvm_test(&lvm, &project, &["--", "spec/app_spec.lua"]);
    assert!(out.status.success());
}

#[test]
fn test_runs_a_command_or_a_script_and_says_when_there_is_nothing_to_run() {
    let lvm = Lvm::new();
    let url = server_with_busted(&lvm);
    lvm.init(&[&url]);
    let project = test_project(
        &lvm,
        r#"test = { type = "command", command = "printf 'command:%s\n'", flags = { "from-rockspec" } }"#,
    );
    let out = lvm_test(&lvm, &project, &["--", "from-user"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("command:"))
            .collect::<Vec<_>>(),
        ["command:from-rockspec", "command:from-user"]
    );
    assert_eq!(lvm.installed(), ["strutil 1.1-1"]);
    std::fs::write(
        project.join("check.lua"),
        "local app = dofile('src/app.lua')\nprint('script:' .. app.words('x y') .. ':' .. arg[1])\nos.exit(app.words('x y') == 2 and 0 or 1)\n",
    )
    .unwrap();
    let spec = project.join("app-1.0-1.rockspec");
    let text = std::fs::read_to_string(&spec).unwrap();
    let start = text.find("test = ").unwrap();
    std::fs::write(
        &spec,
        format!(
            "{}test = {{ type = \"command\", script = \"check.lua\", flags = {{ \"f\" }} }}\n",
            &text[..start]
        ),
    )
    .unwrap();
    let out = lvm_test(&lvm, &project, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("script:2:f"));
    std::fs::write(&spec, &text[..start]).unwrap();
    let out = lvm_test(&lvm, &project, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no test section and its folder no .busted file"),
        "{stderr}"
    );
}

#[test]
#[cfg_attr(not(lvm_has_luarocks), ignore = "needs Debian's luarocks")]
fn list_outdated_agrees_with_luarocks_on_the_same_tree_and_server() {
    let lvm = Lvm::new();
    let (server, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-a", "strutil == 1.0-1", "dia-top"]);
    let ours = json(&lvm.ok(&["list", "--outdated", "--json"]));
    let mut ours: Vec<String> = ours
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p["name"].as_str().unwrap(),
                p["installed"].as_str().unwrap(),
                p["latest"].as_str().unwrap()
            )
        })
        .collect();
    ours.sort();
    let run = std::process::Command::new("luarocks")
        .args(["--lua-version", "5.4", "--tree"])
        .arg(lvm.tree())
        .arg("--only-server")
        .arg(&server)
        .args(["list", "--outdated", "--porcelain"])
        .env("HOME", lvm.root.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut theirs: Vec<String> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|line| line.split('\t').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    theirs.sort();
    assert_eq!(ours, theirs);
    assert!(ours.len() >= 2, "{ours:?}");
}
