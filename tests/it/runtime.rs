//! The Lua interpreters lvm builds itself (`lvm runtime`), on a PATH with a C toolchain and no
//! Lua at all: every PUC release and LuaJIT build and run, our `lua` front-end behaves like
//! Debian's `lua5.x`, C modules compiled against a runtime's headers load in it, and failed,
//! missing-compiler and concurrent builds leave nothing half-made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::common::rocks::Lvm;

/// The programs a build may run, linked into a folder that becomes the whole PATH: a C
/// toolchain, make and the shell tools makefiles use, and no Lua.
const TOOLS: &[&str] = &[
    "cc", "gcc", "ar", "as", "ld", "make", "strip", "sh", "uname", "sed", "cat", "mkdir", "rm",
    "cp", "mv", "grep", "tr", "ln", "echo", "true", "test", "expr", "dirname", "basename",
];

/// A folder under the target dir holding links to [`TOOLS`] found on this PATH.
fn toolchain_path() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-tools");
        std::fs::create_dir_all(&dir).unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        for tool in TOOLS {
            let link = dir.join(tool);
            if link.symlink_metadata().is_ok() {
                continue;
            }
            if let Some(found) = std::env::split_paths(&path)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
            {
                // Another test process may have linked it meanwhile.
                let _ = std::os::unix::fs::symlink(found, &link);
            }
        }
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("lua")), "{names:?}");
        dir
    })
}

/// `lvm` with PATH reduced to [`toolchain_path`] and no compiler variables from outside.
fn lvm_command(lvm: &Lvm) -> Command {
    let mut cmd = lvm.command();
    cmd.env("PATH", toolchain_path())
        .env_remove("CC")
        .env_remove("AR")
        .env_remove("MAKE")
        .env_remove("MAKEFLAGS");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `lvm runtime list --json` as (interpreter id → bin path).
fn listed(lvm: &Lvm) -> BTreeMap<String, Vec<PathBuf>> {
    let mut cmd = lvm_command(lvm);
    cmd.args(["runtime", "list", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run_ok(cmd)).unwrap();
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for runtime in json.as_array().unwrap() {
        out.entry(runtime["interpreter"].as_str().unwrap().to_owned())
            .or_default()
            .push(PathBuf::from(runtime["bin"].as_str().unwrap()));
    }
    out
}

/// One lvm home for the whole test run (kept under the target dir, so a second run reuses it)
/// with every PUC release built once.
struct Shared {
    lvm: Lvm,
    home: PathBuf,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-home");
        let shared = Shared {
            lvm: Lvm::new(),
            home,
        };
        let mut cmd = shared.command();
        cmd.args(["runtime", "install", "5.1", "5.2", "5.3", "5.4", "5.5"]);
        run_ok(cmd);
        shared
    })
}

impl Shared {
    fn command(&self) -> Command {
        let mut cmd = lvm_command(&self.lvm);
        cmd.env("LVM_HOME", &self.home);
        cmd
    }

    /// The runtime of `id` in the shared home: built now unless it is there.
    fn runtime(&self, id: &str) -> serde_json::Value {
        let mut cmd = self.command();
        cmd.args(["runtime", "install", id, "--json"]);
        let json: serde_json::Value = serde_json::from_str(&run_ok(cmd)).unwrap();
        json[0]["runtime"].clone()
    }

    fn bin(&self, id: &str) -> PathBuf {
        PathBuf::from(self.runtime(id)["bin"].as_str().unwrap())
    }
}

/// Runs `program args` with `stdin` as input and no Lua variables from outside, in `dir`.
fn lua(program: &Path, args: &[&str], stdin: &str, dir: &Path) -> Output {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("LUA_INIT")
        .env_remove("LUA_PATH")
        .env_remove("LUA_CPATH")
        .env_remove("LUA_INIT_5_2")
        .env_remove("LUA_INIT_5_3")
        .env_remove("LUA_INIT_5_4")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Output and exit code with what differs between two `lua` programs by nature taken out:
/// the program name in messages and `arg`, table addresses, and the patch release and year in
/// the version line (Debian's 5.4 is not the 5.4 lvm carries).
fn normalized(out: &Output, program: &Path) -> String {
    let program = program.display().to_string();
    let mut all = format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
    .replace(&program, "LUA");
    while let Some(at) = all.find("0x") {
        let end = all[at + 2..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(all.len(), |n| at + 2 + n);
        all.replace_range(at..end, "ADDR");
    }
    all.lines()
        .map(|line| match line.find("  Copyright (C) 1994-") {
            Some(at) if line.starts_with("Lua 5.") => {
                format!("{}  Copyright{}", &line[..7], &line[at + 25..])
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same command lines through Debian's `lua5.x` and lvm's runtime of that version.
fn compare_with_system(id: &str, system: &str) {
    let ours = shared().bin(id);
    let system = PathBuf::from("/usr/bin").join(system);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("args.lua"),
        "print(#arg, arg[0], arg[1], arg[2], arg[-1] ~= nil, ...)\nprint(select('#', ...))\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fails.lua"),
        "local function f() error('deep') end\nf()\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("mymod.lua"), "return { answer = 42 }\n").unwrap();
    std::fs::write(
        dir.path().join("exits.lua"),
        "io.write('bye ') os.exit(3)\n",
    )
    .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["args.lua", "one", "two"], ""),
        (&["--", "args.lua", "-x"], ""),
        (&["-e", "x = 1", "args.lua", "q"], ""),
        (&["-e", "print(type(arg))"], ""),
        (&["-e", "print(1 + 1)", "-e", "print(2)"], ""),
        (&["-e", "error('boom')"], ""),
        (&["-e", "error({})"], ""),
        (&["-e", "os.exit(3)"], ""),
        (&["exits.lua"], ""),
        (&["fails.lua"], ""),
        (&["-e", "syntax error here"], ""),
        (&["missing.lua"], ""),
        (
            &[
                "-e",
                "package.path = './?.lua'",
                "-l",
                "mymod",
                "-e",
                "print(package.loaded.mymod.answer)",
            ],
            "",
        ),
        (&["-", "a", "b"], "print(..., #arg, arg[0])\n"),
        (&[], "print('from stdin')\n"),
        (&["-v"], ""),
        (&["-v", "-e", "print(1)"], ""),
        (&["-x"], ""),
        (&["-e"], ""),
    ];
    for (args, stdin) in cases {
        let expected = normalized(&lua(&system, args, stdin, dir.path()), &system);
        let got = normalized(&lua(&ours, args, stdin, dir.path()), &ours);
        // Usage texts differ in wording between releases; the message, the usage line and the
        // status do not.
        let first_lines = |s: &str| -> String {
            if args.first().is_some_and(|a| *a == "-x" || *a == "-e") && args.len() == 1 {
                s.lines().take(6).collect::<Vec<_>>().join("\n")
            } else {
                s.to_owned()
            }
        };
        assert_eq!(
            first_lines(&got),
            first_lines(&expected),
            "{id}: `lua {}` differs from {}",
            args.join(" "),
            system.display()
        );
    }
}

#[test]
#[cfg_attr(not(lvm_has_lua51), ignore = "needs lua5.1 (Debian package lua5.1)")]
fn front_end_5_1_behaves_like_debian_lua5_1() {
    compare_with_system("5.1", "lua5.1");
}

#[test]
#[cfg_attr(not(lvm_has_lua53), ignore = "needs lua5.3 (Debian package lua5.3)")]
fn front_end_5_3_behaves_like_debian_lua5_3() {
    compare_with_system("5.3", "lua5.3");
}

#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4 (Debian package lua5.4)")]
fn front_end_5_4_behaves_like_debian_lua5_4() {
    compare_with_system("5.4", "lua5.4");
}

#[test]
fn every_puc_release_builds_with_headers_library_and_its_version() {
    let shared = shared();
    for (id, release) in [
        ("5.1", "Lua 5.1.5"),
        ("5.2", "Lua 5.2.4"),
        ("5.3", "Lua 5.3.6"),
        ("5.4", "Lua 5.4."),
        ("5.5", "Lua 5.5."),
    ] {
        let runtime = shared.runtime(id);
        assert!(
            runtime["version"].as_str().unwrap().starts_with(release),
            "{runtime}"
        );
        let bin = PathBuf::from(runtime["bin"].as_str().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let out = lua(&bin, &["-e", "io.write(_VERSION)"], "", dir.path());
        assert_eq!(text(&out.stdout), format!("Lua {id}"));
        let include = PathBuf::from(runtime["include_dir"].as_str().unwrap());
        for header in ["lua.h", "luaconf.h", "lualib.h", "lauxlib.h", "lua.hpp"] {
            assert!(include.join(header).is_file(), "{id}: {header}");
        }
        let lib = PathBuf::from(runtime["lib_dir"].as_str().unwrap());
        assert!(lib.join("liblua.a").is_file(), "{id}");
        assert_eq!(runtime["lib_name"], "lua");
    }
    // Asking again builds nothing.
    let mut cmd = shared.command();
    cmd.args(["runtime", "install", "5.1", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run_ok(cmd)).unwrap();
    assert_eq!(json[0]["built"], false);
}

/// A C module (a shared object that does not link liblua), compiled against `include`.
fn c_module(include: &Path, out_dir: &Path) {
    let source = out_dir.join("hello.c");
    std::fs::write(
        &source,
        "#include \"lua.h\"\n#include \"lauxlib.h\"\n\
         static int greet(lua_State *L) { lua_pushfstring(L, \"hello from %s\", LUA_VERSION); return 1; }\n\
         int luaopen_hello(lua_State *L) {\n\
           lua_newtable(L); lua_pushcfunction(L, greet); lua_setfield(L, -2, \"greet\"); return 1; }\n",
    )
    .unwrap();
    let mut cc = Command::new("cc");
    cc.args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(out_dir.join("hello.so"))
        .arg("-I")
        .arg(include)
        .arg(&source);
    run_ok(cc);
}

fn c_module_loads(id: &str, expected: &str) {
    let runtime = shared().runtime(id);
    let dir = tempfile::tempdir().unwrap();
    c_module(
        Path::new(runtime["include_dir"].as_str().unwrap()),
        dir.path(),
    );
    let bin = PathBuf::from(runtime["bin"].as_str().unwrap());
    let out = lua(
        &bin,
        &[
            "-e",
            "package.cpath = './?.so' io.write(require('hello').greet())",
        ],
        "",
        dir.path(),
    );
    assert_eq!(text(&out.stdout), expected, "{}", text(&out.stderr));
}

#[test]
fn a_c_module_compiled_against_the_5_1_headers_loads_in_5_1() {
    c_module_loads("5.1", "hello from Lua 5.1");
}

#[test]
fn a_c_module_compiled_against_the_5_4_headers_loads_in_5_4() {
    c_module_loads("5.4", "hello from Lua 5.4");
}

/// The one LuaJIT build of the suite (about a minute on 2 cores).
#[test]
fn luajit_builds_runs_jit_and_loads_c_modules() {
    let runtime = shared().runtime("luajit");
    let bin = PathBuf::from(runtime["bin"].as_str().unwrap());
    assert!(bin.ends_with("bin/luajit"), "{}", bin.display());
    let dir = tempfile::tempdir().unwrap();
    let out = lua(&bin, &["-e", "print(jit.version)"], "", dir.path());
    assert!(text(&out.stdout).starts_with("LuaJIT 2.1"), "{out:?}");
    // `bin/lua` is the same interpreter, for tools that expect that name.
    let lua_bin = bin.with_file_name("lua");
    let out = lua(
        &lua_bin,
        &["-e", "io.write(_VERSION, ' ', type(jit))"],
        "",
        dir.path(),
    );
    assert_eq!(text(&out.stdout), "Lua 5.1 table");
    // LuaJIT's own modules are installed and on its default path: `-jv` traces and `-b`
    // writes bytecode, with no LUA_PATH set.
    let out = lua(
        &bin,
        &["-jv", "-e", "local s = 0 for i = 1, 1000 do s = s + i end"],
        "",
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("[TRACE"), "{out:?}");
    let out = lua(
        &bin,
        &["-b", "-e", "return 42", "chunk.out"],
        "",
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytecode = std::fs::read(dir.path().join("chunk.out")).unwrap();
    assert!(bytecode.starts_with(b"\x1bLJ"), "{bytecode:?}");
    let include = PathBuf::from(runtime["include_dir"].as_str().unwrap());
    assert!(include.join("luajit.h").is_file());
    let lib = PathBuf::from(runtime["lib_dir"].as_str().unwrap());
    assert!(lib.join("libluajit-5.1.a").is_file());
    c_module(&include, dir.path());
    let out = lua(
        &bin,
        &[
            "-e",
            "package.cpath = './?.so' io.write(require('hello').greet())",
        ],
        "",
        dir.path(),
    );
    assert_eq!(
        text(&out.stdout),
        "hello from Lua 5.1",
        "{}",
        text(&out.stderr)
    );
}

/// Nothing in the runtimes folder but lock files: no runtime, no scratch folder.
fn only_locks_left(lvm: &Lvm) {
    let dir = lvm.home().join("runtimes");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(".lock-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(names.is_empty(), "left in {}: {names:?}", dir.display());
    assert!(listed(lvm).is_empty());
}

/// `lvm runtime install 5.1` with `CC` set to `cc`; returns stderr, asserting failure.
fn install_fails_with(lvm: &Lvm, cc: &Path) -> String {
    let out = lvm_command(lvm)
        .env("CC", cc)
        .args(["runtime", "install", "5.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    text(&out.stderr)
}

#[test]
fn a_failing_compiler_leaves_nothing_behind() {
    let lvm = Lvm::new();
    let err = install_fails_with(&lvm, Path::new("/bin/false"));
    assert!(err.contains("building Lua 5.1.5: compiling"), "{err}");
    assert!(err.contains("failed"), "{err}");
    only_locks_left(&lvm);
}

#[test]
fn a_build_failing_at_the_last_step_leaves_nothing_behind() {
    use std::os::unix::fs::PermissionsExt;
    let lvm = Lvm::new();
    // Compiles every file, then fails to link, as a full disk would.
    let cc = lvm.root.path().join("cc-no-space");
    std::fs::write(
        &cc,
        "#!/bin/sh
case \" $* \" in *\" -c \"*) exec cc \"$@\";; esac
\
         echo 'ld: final link failed: No space left on device' >&2
exit 1
",
    )
    .unwrap();
    std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = install_fails_with(&lvm, &cc);
    assert!(
        err.contains("building Lua 5.1.5: linking bin/lua failed"),
        "{err}"
    );
    assert!(err.contains("No space left on device"), "{err}");
    only_locks_left(&lvm);
}

#[test]
fn no_c_compiler_is_a_clear_error_naming_the_fixes() {
    let lvm = Lvm::new();
    let empty = tempfile::tempdir().unwrap();
    let out = lvm_command(&lvm)
        .env("PATH", empty.path())
        .args(["runtime", "install", "5.3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no C compiler found"), "{err}");
    assert!(err.contains("--lua-bin"), "{err}");
    assert!(err.contains("gcc"), "{err}");
    only_locks_left(&lvm);
}

#[test]
fn unknown_versions_are_refused_before_anything_is_built() {
    let lvm = Lvm::new();
    for bad in ["6.0", "jit2"] {
        let out = lvm_command(&lvm)
            .args(["runtime", "install", "5.1", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("unknown Lua version '{bad}'")),
            "{err}"
        );
        assert!(err.contains("5.1, 5.2, 5.3, 5.4, 5.5, luajit"), "{err}");
    }
    assert!(!lvm.home().join("runtimes").exists());
}

#[test]
fn two_processes_installing_the_same_runtime_build_it_once() {
    let lvm = Lvm::new();
    let start = || {
        lvm_command(&lvm)
            .args(["runtime", "install", "5.1", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let mut built = 0;
    let mut bins = Vec::new();
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        built += usize::from(json[0]["built"] == true);
        bins.push(json[0]["runtime"]["bin"].as_str().unwrap().to_owned());
    }
    assert_eq!(built, 1, "exactly one process builds");
    assert_eq!(bins[0], bins[1]);
    assert_eq!(listed(&lvm)["5.1"].len(), 1);

    // Removing it leaves nothing a later command would use.
    let out = run_ok({
        let mut cmd = lvm_command(&lvm);
        cmd.args(["runtime", "remove", "5.1"]);
        cmd
    });
    assert!(out.contains("Removed Lua 5.1.5"), "{out}");
    assert!(!Path::new(&bins[0]).exists());
    only_locks_left(&lvm);
}

#[test]
#[cfg_attr(not(lvm_has_lua54), ignore = "needs lua5.4 (Debian package lua5.4)")]
fn lua_init_variables_run_first_unless_dash_big_e() {
    let ours = shared().bin("5.4");
    let system = Path::new("/usr/bin/lua5.4");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("init.lua"), "from_file = 'file'\n").unwrap();
    // (environment variables, command line)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &[("LUA_INIT", "from_init = 'plain'")],
            &["-e", "print(from_init)"],
        ),
        (
            &[
                ("LUA_INIT", "from_init = 'plain'"),
                ("LUA_INIT_5_4", "@init.lua"),
            ],
            &["-e", "print(from_init, from_file)"],
        ),
        (
            &[("LUA_INIT", "from_init = 'plain'")],
            &["-E", "-e", "print(from_init)"],
        ),
        (
            &[("LUA_INIT", "error('in init')")],
            &["-e", "print('not reached')"],
        ),
    ];
    for (vars, args) in cases {
        let run = |program: &Path| {
            let mut cmd = Command::new(program);
            cmd.args(*args)
                .current_dir(dir.path())
                .env_remove("LUA_INIT_5_4");
            for (name, value) in *vars {
                cmd.env(name, value);
            }
            normalized(&cmd.output().unwrap(), program)
        };
        assert_eq!(run(&ours), run(system), "{vars:?} lua {args:?}");
    }
}

#[test]
fn a_killed_build_leaves_nothing_used_and_the_next_one_cleans_up() {
    let lvm = Lvm::new();
    let runtimes = lvm.home().join("runtimes");
    let mut child = lvm_command(&lvm)
        .args(["runtime", "install", "5.1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the build has its scratch folder (or, on a very fast machine, is done).
    let scratch = loop {
        let found = std::fs::read_dir(&runtimes).ok().and_then(|entries| {
            entries.map(|e| e.unwrap().path()).find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".build-")
            })
        });
        if found.is_some() || child.try_wait().unwrap().is_some() {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let Some(scratch) = scratch else {
        return; // finished before it could be killed: nothing to check
    };
    if listed(&lvm).is_empty() {
        // Killed mid-build: its scratch folder is not a runtime, and the next build removes it.
        let mut cmd = lvm_command(&lvm);
        cmd.args(["runtime", "install", "5.1"]);
        run_ok(cmd);
        assert!(!scratch.exists(), "{} left behind", scratch.display());
    }
    assert_eq!(listed(&lvm)["5.1"].len(), 1);
}

/// With no Lua on PATH, an environment for every version but 5.4 (which runs in the embedded VM)
/// installs the fixture closure (its C module compiled against the provisioned headers) and
/// runs it: lvm uses the runtime it built from its own sources, LuaJIT's included.
#[test]
fn environments_without_a_system_lua_run_on_provisioned_runtimes() {
    let shared = shared();
    for (id, version) in [
        ("5.1", "Lua 5.1"),
        ("5.2", "Lua 5.2"),
        ("5.3", "Lua 5.3"),
        ("5.5", "Lua 5.5"),
        ("luajit", "Lua 5.1"),
    ] {
        let lvm = Lvm::new();
        let (_, url) = crate::common::rocks::file_server(lvm.root.path());
        let env = |args: &[&str]| {
            let mut cmd = shared.command();
            cmd.env("LVM_ENV", lvm.env_dir()).args(args);
            run_ok(cmd)
        };
        env(&["init", "--lua", id, "--server", &url]);
        env(&["install", "cmath", "hello-cli", "chain-a"]);
        let out = env(&[
            "run",
            "-e",
            "print(_VERSION, require('cmath').gcd(12, 18), require('chain_a') ~= nil)",
        ]);
        assert_eq!(out.trim(), format!("{version}\t6\ttrue"), "{id}");
        if id == "luajit" {
            let jit = env(&["run", "-e", "print(jit.version)"]);
            assert!(jit.starts_with("LuaJIT 2.1"), "{jit}");
        }
        // doctor loads every module, the C one too, in the same interpreter.
        let doctor = env(&["doctor"]);
        assert!(
            doctor.contains("\nhealthy: 6 packages, 6 modules load; 0 errors"),
            "{id}: {doctor}"
        );
    }
}

/// Copies the shared home's runtime of `id` into `lvm`'s home, as `name` when given (a name
/// this lvm would not build: a superseded runtime).
fn copy_runtime(lvm: &Lvm, id: &str, name: Option<&str>) -> String {
    let from = PathBuf::from(shared().runtime(id)["dir"].as_str().unwrap());
    let name = name.map_or_else(
        || from.file_name().unwrap().to_string_lossy().into_owned(),
        str::to_owned,
    );
    let to = lvm.home().join("runtimes").join(&name);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(&from)
        .arg(&to)
        .status()
        .unwrap();
    assert!(status.success());
    name
}

fn runtime_names(json: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// `runtime remove` refuses a runtime an environment of the home targets (naming it) unless
/// `--force`; `gc` removes the runtimes of Luas no environment targets and superseded builds,
/// and keeps the one in use.
#[test]
fn runtimes_in_use_are_kept_and_the_rest_collected() {
    let lvm = Lvm::new();
    let in_use = copy_runtime(&lvm, "5.1", None);
    let unused = copy_runtime(&lvm, "5.2", None);
    let stale = copy_runtime(&lvm, "5.1", Some("lua-5.1.5-000000000000"));
    let (_, url) = crate::common::rocks::file_server(lvm.root.path());
    let lvm_ok = |args: &[&str]| {
        let mut cmd = lvm_command(&lvm);
        cmd.args(args);
        run_ok(cmd)
    };
    lvm_ok(&["init", "--lua", "5.1", "--server", &url]);
    lvm_ok(&["install", "cmath"]);

    let out = lvm_command(&lvm)
        .args(["runtime", "remove", "5.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Lua 5.1.5 is in use by"), "{err}");
    assert!(err.contains(&lvm.env_dir().display().to_string()), "{err}");
    assert!(
        err.contains("(profile default)") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(listed(&lvm)["5.1"].len(), 2, "nothing removed");

    let dry: serde_json::Value =
        serde_json::from_str(&lvm_ok(&["gc", "--dry-run", "--json"])).unwrap();
    let mut expected = vec![stale, unused];
    expected.sort();
    assert_eq!(runtime_names(&dry["runtimes_removed"]), expected);
    assert_eq!(listed(&lvm).values().map(Vec::len).sum::<usize>(), 3);

    let done: serde_json::Value = serde_json::from_str(&lvm_ok(&["gc", "--json"])).unwrap();
    assert_eq!(runtime_names(&done["runtimes_removed"]), expected);
    let mut cmd = lvm_command(&lvm);
    cmd.args(["runtime", "list", "--json"]);
    let left: serde_json::Value = serde_json::from_str(&run_ok(cmd)).unwrap();
    assert_eq!(runtime_names(&left), std::slice::from_ref(&in_use));
    // The environment still runs on the runtime gc kept.
    let out = lvm_ok(&["run", "-e", "print(_VERSION, require('cmath').gcd(12, 18))"]);
    assert_eq!(out.trim(), "Lua 5.1\t6");

    let out = lvm_ok(&["runtime", "remove", "5.1", "--force"]);
    assert!(
        out.contains(&format!("Removed Lua 5.1.5 ({in_use})")),
        "{out}"
    );
    assert!(listed(&lvm).is_empty());
}
