//! Turns `tests/fixtures/rocks/` into real rocks servers and git repositories, and runs the
//! real `lvm` binary against them with an isolated lvm home.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rocks")
}

/// Publishes every fixture rock (except `gitrock`) into `server_dir`: a `.tar.gz` of its
/// sources, its rockspec with `@SERVER@` replaced by `base_url`, and the server manifests.
pub fn publish_fixtures(server_dir: &Path, base_url: &str) {
    publish_fixtures_matching(server_dir, base_url, |_| true);
}

pub fn publish_fixtures_matching(server_dir: &Path, base_url: &str, keep: impl Fn(&str) -> bool) {
    publish_dir_matching(&fixtures_dir(), server_dir, base_url, keep);
}

/// Publishes every `<name>-<version>/` folder of `src_root` (laid out as `tests/fixtures/rocks`)
/// into `server_dir` as a rocks server at `base_url`.
pub fn publish_dir(src_root: &Path, server_dir: &Path, base_url: &str) {
    publish_dir_matching(src_root, server_dir, base_url, |_| true);
}

/// [`publish_dir`] for the folders `keep` accepts; the server manifest lists everything
/// published in `server_dir` so far, so calling it again adds packages.
pub fn publish_dir_matching(
    src_root: &Path,
    server_dir: &Path,
    base_url: &str,
    keep: impl Fn(&str) -> bool,
) {
    std::fs::create_dir_all(server_dir).unwrap();
    for entry in std::fs::read_dir(src_root).unwrap() {
        let entry = entry.unwrap();
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_dir() || dir_name == "gitrock" || !keep(&dir_name) {
            continue;
        }
        publish_one(&entry.path(), &dir_name, server_dir, base_url);
    }
    lvm::ops::publish::make_manifest(server_dir).unwrap();
}

fn publish_one(src: &Path, name_version: &str, server_dir: &Path, base_url: &str) {
    let rockspec_name = format!("{name_version}.rockspec");
    let text = std::fs::read_to_string(src.join(&rockspec_name)).unwrap();
    std::fs::write(
        server_dir.join(&rockspec_name),
        text.replace("@SERVER@", base_url),
    )
    .unwrap();
    let tarball = lvm::ops::publish::deterministic_tar_gz(src, name_version).unwrap();
    std::fs::write(server_dir.join(format!("{name_version}.tar.gz")), tarball).unwrap();
}

/// A file:// server with every fixture.
pub fn file_server(root: &Path) -> (PathBuf, String) {
    let dir = root.join("server");
    let url = format!("file://{}", dir.display());
    publish_fixtures(&dir, &url);
    (dir, url)
}

/// Makes `gitrock` a real git repository at `dest` with commits and tag `v1.0`; returns the
/// tagged commit id.
pub fn git_fixture(dest: &Path, revision: &str) -> String {
    let src = fixtures_dir().join("gitrock");
    copy_dir(&src, dest);
    let rockspec = dest.join("gitrock-1.0-1.rockspec");
    let text = std::fs::read_to_string(&rockspec)
        .unwrap()
        .replace("@GITREPO@", &dest.display().to_string());
    std::fs::write(&rockspec, text).unwrap();
    let module = dest.join("src/gitrock.lua");
    let text = std::fs::read_to_string(&module)
        .unwrap()
        .replace("@REVISION@", revision);
    std::fs::write(&module, text).unwrap();
    let repo = git2::Repository::init(dest).unwrap();
    let commit = commit_all(&repo, "gitrock 1.0");
    let object = repo.find_object(commit, None).unwrap();
    let sig = git2::Signature::now("fixture", "fixture@localhost").unwrap();
    repo.tag("v1.0", &object, &sig, "v1.0", false).unwrap();
    commit.to_string()
}

/// Commits every file of the work tree.
pub fn commit_all(repo: &git2::Repository, message: &str) -> git2::Oid {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("fixture", "fixture@localhost").unwrap();
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)
        .unwrap()
}

pub fn copy_dir(src: &Path, dest: &Path) {
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(src).unwrap();
        let target = dest.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Asserts that `lvm ARGS` succeeded; returns its stdout.
pub fn succeeded(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "lvm {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that `lvm ARGS` failed; returns its stderr.
pub fn failed(args: &[&str], out: &Output) -> String {
    assert!(
        !out.status.success(),
        "lvm {args:?} unexpectedly succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The packages of `lvm list --json` output as `name version`, in its order (sorted by name).
pub fn installed_in(list_json: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(list_json).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

/// An lvm home and environment in a temp dir, driving the real binary.
pub struct Lvm {
    pub root: tempfile::TempDir,
}

impl Lvm {
    pub fn new() -> Lvm {
        Lvm {
            root: tempfile::tempdir().unwrap(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    pub fn env_dir(&self) -> PathBuf {
        self.root.path().join("env")
    }

    pub fn tree(&self) -> PathBuf {
        self.env_dir().join("tree")
    }

    /// The user config file lvm reads (never the developer's own).
    pub fn user_config(&self) -> PathBuf {
        self.root.path().join("user-config/lvm/config.toml")
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lvm"));
        cmd.env("LVM_HOME", self.home())
            .env("LVM_ENV", self.env_dir())
            .env("LVM_CONFIG", self.user_config())
            .env("XDG_CONFIG_HOME", self.root.path().join("user-config"))
            .env_remove("LVM_FAULT")
            .env_remove("RUST_LOG")
            .env_remove("LVM_SERVERS")
            .env_remove("LVM_LOCK_TIMEOUT")
            .env_remove("LVM_JOBS")
            .env_remove("LVM_COLOR")
            .env_remove("LVM_HTTP_TIMEOUT")
            .env_remove("LVM_DOWNLOAD_TIMEOUT")
            .env_remove("LVM_MANIFEST_MAX_AGE")
            .env_remove("LVM_LUA_BIN")
            .env_remove("LVM_CACHES")
            .env_remove("LVM_CACHE_PUSH")
            .env_remove("LVM_TRUSTED_KEYS")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            // Never the developer's own AWS files.
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.root.path().join("aws/credentials"),
            )
            .env("AWS_CONFIG_FILE", self.root.path().join("aws/config"))
            .env("NO_COLOR", "1")
            .current_dir(self.root.path());
        cmd
    }

    /// Runs lvm with `args`; returns the output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs lvm and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(args, &self.run(args))
    }

    /// Runs lvm and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        failed(args, &self.run(args))
    }

    /// Installed packages as `name version`, in `lvm list --json` order (sorted by name).
    pub fn installed(&self) -> Vec<String> {
        installed_in(&self.ok(&["list", "--json"]))
    }

    /// `lvm init` against the given servers.
    pub fn init(&self, servers: &[&str]) {
        let mut args = vec!["init"];
        for s in servers {
            args.push("--server");
            args.push(s);
        }
        self.ok(&args);
    }

    /// A snapshot of everything a failed command must leave alone: HEAD of every branch,
    /// manifest.json, and the tree's file list.
    pub fn snapshot(&self) -> String {
        let repo = git2::Repository::open(self.env_dir()).unwrap();
        let mut out = String::new();
        for b in repo.branches(None).unwrap() {
            let (b, _) = b.unwrap();
            out.push_str(&format!(
                "{} {}\n",
                b.name().unwrap().unwrap(),
                b.get().target().unwrap()
            ));
        }
        out.push_str(&std::fs::read_to_string(self.env_dir().join("manifest.json")).unwrap());
        let tree = std::fs::canonicalize(self.tree()).unwrap();
        let mut files: Vec<String> = walkdir::WalkDir::new(&tree)
            .into_iter()
            .map(|e| {
                e.unwrap()
                    .path()
                    .strip_prefix(&tree)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        files.sort();
        out.push_str(&files.join("\n"));
        out
    }

    /// Runs a Lua snippet with Debian's lua5.4 using the environment's paths.
    pub fn lua(&self, code: &str) -> Output {
        let tree = self.tree();
        let lua_path = format!(
            "{0}/share/lua/5.4/?.lua;{0}/share/lua/5.4/?/init.lua;;",
            tree.display()
        );
        let lua_cpath = format!("{0}/lib/lua/5.4/?.so;;", tree.display());
        Command::new("lua5.4")
            .env("LUA_PATH", lua_path)
            .env("LUA_CPATH", lua_cpath)
            .args(["-e", code])
            .output()
            .unwrap()
    }
}

/// Debian's `lua5.4` with only the rocks tree `tree` on its module paths (no default paths).
pub fn lua54_in_tree(tree: &Path) -> Command {
    let mut cmd = Command::new("lua5.4");
    cmd.env(
        "LUA_PATH",
        format!(
            "{0}/share/lua/5.4/?.lua;{0}/share/lua/5.4/?/init.lua",
            tree.display()
        ),
    )
    .env("LUA_CPATH", format!("{}/lib/lua/5.4/?.so", tree.display()));
    cmd
}

/// Runs the git CLI in `dir` with a fixed identity; asserts success and returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the git CLI in `dir` with a fixed identity, whatever its exit code.
pub fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@localhost"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

/// The event JSON an lvm commit message carries after its `lvm-event:` marker.
/// The subject and event JSON of a revision of the environment at `env`.
pub fn event_at(env: &Path, rev: &str) -> (String, serde_json::Value) {
    let repo = git2::Repository::open(env).unwrap();
    let commit = repo.revparse_single(rev).unwrap().peel_to_commit().unwrap();
    let message = commit.message().unwrap().to_string();
    (
        commit.summary().unwrap().unwrap().to_string(),
        event_json(&message),
    )
}

pub fn event_json(message: &str) -> serde_json::Value {
    let json = message
        .lines()
        .find_map(|l| l.strip_prefix("lvm-event:"))
        .unwrap_or_else(|| panic!("no lvm event in the commit message:\n{message}"));
    serde_json::from_str(json).unwrap()
}

pub fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts lvm paused at `point` (its `LVM_TEST_PAUSE_AT` hook); returns the child once it is
/// there, and the marker file whose removal lets it go on.
pub fn spawn_paused(lvm: &Lvm, point: &str, args: &[&str]) -> (Child, PathBuf) {
    let marker = lvm.root.path().join(format!("pause-{point}"));
    let child = lvm
        .command()
        .env("LVM_TEST_PAUSE_AT", format!("{point}:{}", marker.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "lvm never reached {point}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, marker)
}

/// Writes a closure of rocks as fixture folders into `src_root` (publish them with
/// [`publish_dir`]): `<root>` requires `<root>-lua1` .. `<root>-lua<lua_rocks>` (pure Lua, a
/// module each) and the C rocks `c_rocks` names, each a C module `<name>` of two files; a C
/// rock named in `broken` has a syntax error in its second file. Every module, Lua or C,
/// answers `name` with its rock's name.
pub fn write_side_by_side_closure(
    src_root: &Path,
    root: &str,
    lua_rocks: usize,
    c_rocks: &[&str],
    broken: &[&str],
) {
    let module = |name: &str| name.replace('-', "_");
    let lua_names: Vec<String> = (1..=lua_rocks).map(|i| format!("{root}-lua{i}")).collect();
    let write = |name: &str, deps: &[String], modules: &str, files: &[(String, String)]| {
        let dir = src_root.join(format!("{name}-1.0-1"));
        for (path, text) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        write_builtin_rockspec(&dir, name, "1.0-1", &deps, modules);
    };
    let lua_rock = |name: &str, deps: &[String]| {
        let m = module(name);
        let requires: String = deps
            .iter()
            .map(|d| format!("require(\"{}\")\n", module(d)))
            .collect();
        let text = format!("{requires}return {{ name = \"{name}\" }}\n");
        write(
            name,
            deps,
            &format!("{m} = \"{m}.lua\""),
            &[(format!("{m}.lua"), text)],
        );
    };
    for name in &lua_names {
        lua_rock(name, &[]);
    }
    for name in c_rocks {
        let m = module(name);
        let second = if broken.contains(name) {
            "int rock_name_length(void) { return 1 +; }\n".to_string()
        } else {
            format!("int rock_name_length(void) {{ return {}; }}\n", name.len())
        };
        let first = format!(
            "#include <lua.h>\nint rock_name_length(void);\nint luaopen_{m}(lua_State *L) {{\n  lua_newtable(L);\n  lua_pushstring(L, \"{name}\");\n  lua_setfield(L, -2, \"name\");\n  lua_pushinteger(L, rock_name_length());\n  lua_setfield(L, -2, \"length\");\n  return 1;\n}}\n"
        );
        write(
            name,
            &[],
            &format!("{m} = {{ sources = {{ \"csrc/{m}.c\", \"csrc/{m}_len.c\" }} }}"),
            &[
                (format!("csrc/{m}.c"), first),
                (format!("csrc/{m}_len.c"), second),
            ],
        );
    }
    let all: Vec<String> = lua_names
        .iter()
        .cloned()
        .chain(c_rocks.iter().map(|c| c.to_string()))
        .collect();
    lua_rock(root, &all);
}

/// Writes `<dir>/<name>-<version>.rockspec` for a fixture folder: sources at
/// `@SERVER@/<name>-<version>.tar.gz`, `lua >= 5.1` and `deps` as dependencies, a builtin
/// build of `modules` (the text inside its `modules` table).
pub fn write_builtin_rockspec(dir: &Path, name: &str, version: &str, deps: &[&str], modules: &str) {
    let deps: Vec<String> = std::iter::once("lua >= 5.1")
        .chain(deps.iter().copied())
        .map(|d| format!("\"{d}\""))
        .collect();
    std::fs::write(
        dir.join(format!("{name}-{version}.rockspec")),
        format!(
            "package = \"{name}\"\nversion = \"{version}\"\nsource = {{ url = \"@SERVER@/{name}-{version}.tar.gz\" }}\ndependencies = {{ {} }}\nbuild = {{ type = \"builtin\", modules = {{ {modules} }} }}\n",
            deps.join(", ")
        ),
    )
    .unwrap();
}

/// [`write_side_by_side_closure`] published on a real HTTP server on 127.0.0.1, serving a
/// folder below `root`.
pub fn serve_side_by_side_closure(
    root: &Path,
    name: &str,
    lua_rocks: usize,
    c_rocks: &[&str],
    broken: &[&str],
) -> crate::common::http_server::TestServer {
    let src = root.join("rocks-src");
    let dir = root.join("http-server");
    std::fs::create_dir_all(&dir).unwrap();
    write_side_by_side_closure(&src, name, lua_rocks, c_rocks, broken);
    let server = crate::common::http_server::TestServer::serve(&dir);
    publish_dir(&src, &dir, &server.url());
    server
}
