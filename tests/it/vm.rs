//! Lua inside an environment through every door: the embedded interpreter (`lvm run`, `lvm lua`),
//! other programs with the environment's paths (`lvm exec`), and another profile's packages
//! (`--profile`), against fixture rocks built for real (the C module `cmath` included).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::rocks::{Lvm, file_server, stdout_ok};

/// An environment on a file:// server of every fixture, with these packages installed.
fn env_with(packages: &[&str]) -> Lvm {
    let lvm = Lvm::new();
    let (_dir, url) = file_server(lvm.root.path());
    lvm.init(&[&url]);
    if !packages.is_empty() {
        let mut args = vec!["install"];
        args.extend_from_slice(packages);
        lvm.ok(&args);
    }
    lvm
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` with `input` on its standard input.
fn with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn script_gets_arg_table_and_varargs_like_lua() {
    let lvm = env_with(&[]);
    std::fs::write(
        lvm.root.path().join("args.lua"),
        "#!/usr/bin/env lua\n\
         print(arg[-1], arg[0], #arg, arg[1], arg[2])\n\
         print(select('#', ...), ...)\n",
    )
    .unwrap();
    let out = lvm.ok(&["run", "args.lua", "one", "--two"]);
    assert_eq!(out, "run\targs.lua\t2\tone\t--two\n2\tone\t--two\n");
}

#[test]
fn code_with_e_and_its_arguments() {
    let lvm = env_with(&[]);
    let out = lvm.ok(&["run", "-e", "print(_VERSION, arg[1], ...)", "x"]);
    assert_eq!(out, "Lua 5.4\tx\tx\n");
}

/// Outside every environment (none named, no `.lvm/` above, no default one), `lvm run` is
/// plain embedded Lua: code, scripts and stdin run with `arg` and exit codes, no package is
/// found, and no environment is created.
#[test]
fn run_outside_every_environment_is_plain_embedded_lua() {
    let lvm = Lvm::new();
    let elsewhere = lvm.root.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("s.lua"), "print(arg[0], arg[1]) os.exit(4)").unwrap();
    let outside = || {
        let mut cmd = lvm.command();
        cmd.env_remove("LVM_ENV").current_dir(&elsewhere);
        cmd
    };
    let out = outside()
        .args(["run", "-e", "print(_VERSION, arg[1], ...)", "x"])
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out), "Lua 5.4\tx\tx\n");
    let out = outside().args(["run", "s.lua", "y"]).output().unwrap();
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(4), "s.lua\ty\n".into())
    );
    let mut piped = outside();
    piped.args(["run", "-"]);
    let out = with_stdin(piped, "print(1 + 1)");
    assert_eq!(stdout_ok(&out), "2\n");
    let out = outside()
        .args(["run", "-e", "require('strutil')"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("module 'strutil' not found"),
        "{}",
        stderr(&out)
    );
    assert!(!lvm.home().join("envs/default").exists());
}

#[test]
fn os_exit_gives_the_exit_code_and_flushes_output() {
    let lvm = env_with(&[]);
    for (code, expected) in [
        ("io.write('partial') os.exit(3)", 3),
        ("os.exit(true)", 0),
        ("os.exit(false)", 1),
        ("os.exit(0, true)", 0),
        ("print('done')", 0),
    ] {
        let out = lvm.run(&["run", "-e", code]);
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{code}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).is_empty(), "{code}: {}", stderr(&out));
    }
    assert_eq!(
        stdout(&lvm.run(&["run", "-e", "io.write('partial') os.exit(3)"])),
        "partial"
    );
}

#[test]
fn errors_print_like_debian_lua_and_exit_1() {
    let lvm = env_with(&[]);
    let script = "local function fail(what)\n  error(what)\nend\nfail('boom')\n";
    std::fs::write(lvm.root.path().join("boom.lua"), script).unwrap();
    let ours = lvm.run(&["run", "boom.lua"]);
    assert_eq!(ours.status.code(), Some(1));
    let theirs = Command::new("lua5.4")
        .arg("boom.lua")
        .current_dir(lvm.root.path())
        .output()
        .unwrap();
    let ours = stderr(&ours);
    assert!(
        ours.starts_with("lua: boom.lua:2: boom\nstack traceback:\n"),
        "{ours}"
    );
    assert_eq!(ours, stderr(&theirs).replacen("lua5.4:", "lua:", 1));
    assert!(ours.contains("boom.lua:4: in main chunk"), "{ours}");
}

#[test]
fn syntax_and_missing_file_errors() {
    let lvm = env_with(&[]);
    std::fs::write(lvm.root.path().join("bad.lua"), "print('ok')\nx = = 1\n").unwrap();
    let out = lvm.run(&["run", "bad.lua"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("lua: bad.lua:2: unexpected symbol near '='"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).is_empty(),
        "nothing runs before a syntax error"
    );
    let out = lvm.run(&["run", "missing.lua"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot open missing.lua"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn embedded_lua_loads_c_and_pure_modules_from_the_tree() {
    let lvm = env_with(&["cmath", "hello-cli"]);
    std::fs::write(
        lvm.root.path().join("use.lua"),
        "local cmath = require('cmath')\n\
         print(cmath.gcd(12, 18), cmath.flavour)\n\
         print(require('hello').greet('  lvm  '), require('strutil').version)\n\
         print(package.searchpath('cmath', package.cpath))\n",
    )
    .unwrap();
    let out = lvm.ok(&["run", "use.lua"]);
    let tree = lvm.tree().display().to_string();
    assert_eq!(
        out,
        format!("6\tfixture\nhello, lvm\t1.1\n{tree}/lib/lua/5.4/cmath.so\n")
    );
}

#[test]
fn the_binary_exports_the_whole_lua_c_api() {
    // C modules resolve every Lua API function from the executable that loads them; one the
    // linker dropped would make `require` fail with "undefined symbol".
    let headers = ["lua.h", "lauxlib.h", "lualib.h"]
        .map(|h| std::fs::read_to_string(format!("/usr/include/lua5.4/{h}")).unwrap());
    let mut api = Vec::new();
    for line in headers.iter().flat_map(|h| h.lines()) {
        if !(line.starts_with("LUA_API")
            || line.starts_with("LUALIB_API")
            || line.starts_with("LUAMOD_API"))
        {
            continue;
        }
        let name = line
            .split(['(', ')'])
            .find(|w| w.starts_with("lua_") || w.starts_with("luaL_") || w.starts_with("luaopen_"));
        api.extend(name.map(str::to_string));
    }
    assert!(api.len() > 140, "parsed only {} API functions", api.len());
    let exported = exported_symbols();
    let missing: Vec<&String> = api.iter().filter(|f| !exported.contains(*f)).collect();
    assert!(missing.is_empty(), "not exported by lvm: {missing:?}");
}

#[test]
fn the_binary_exports_nothing_but_the_lua_c_api() {
    // Every exported symbol is one more entry the dynamic loader searches at each start-up;
    // exporting all of lvm's own symbols made `lvm run` start measurably slower.
    let exported = exported_symbols();
    let foreign: Vec<&String> = exported
        .iter()
        .filter(|s| {
            !["lua_", "luaL_", "luaopen_"]
                .iter()
                .any(|p| s.starts_with(p))
        })
        .collect();
    assert!(
        exported.len() > 140,
        "only {} symbols exported",
        exported.len()
    );
    assert!(
        foreign.is_empty(),
        "exported beyond the Lua API: {foreign:?}"
    );
}

/// The symbols the lvm executable defines and exports to shared objects it loads.
fn exported_symbols() -> std::collections::BTreeSet<String> {
    let nm = Command::new("nm")
        .args(["-D", "--defined-only", env!("CARGO_BIN_EXE_lvm")])
        .output()
        .unwrap();
    assert!(nm.status.success(), "nm failed: {nm:?}");
    String::from_utf8(nm.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn runs_without_any_lua_on_path() {
    let lvm = env_with(&["cmath", "strutil"]);
    let out = lvm
        .command()
        .env("PATH", "/nonexistent")
        .args([
            "run",
            "-e",
            "print(require('cmath').gcd(21, 14), require('strutil').trim(' a '))",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out), "7\ta\n");
}

#[test]
fn a_relative_env_path_gives_absolute_module_paths() {
    // A script that changes folder must still find its modules, and `eval "$(lvm path)"` must
    // work from anywhere: the tree's paths are absolute whatever form `--env` had.
    let lvm = env_with(&["cmath"]);
    let sub = lvm.root.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for given in ["env", "./env", "sub/../env"] {
        // `..` stays as given: only the kernel knows what it leads to through a link.
        let tree = lvm
            .root
            .path()
            .join(given.trim_start_matches("./"))
            .join("tree");
        let tree = tree.display();
        let out = lvm
            .command()
            .env("LVM_ENV", given)
            .args(["run", "-e", "print(package.path) print(package.cpath)"])
            .output()
            .unwrap();
        let paths = stdout_ok(&out);
        assert!(
            paths.starts_with(&format!("{tree}/share/lua/5.4/?.lua;")),
            "LVM_ENV={given}: {paths}"
        );
        let exports = lvm.ok(&["--env", given, "path"]);
        assert!(
            exports.contains(&format!("export LUA_CPATH='{tree}/lib/lua/5.4/?.so;")),
            "--env {given}: {exports}"
        );
    }
    let mut shell = Command::new("sh");
    for (key, value) in lvm.command().get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    let out = shell
        .env_remove("LVM_ENV")
        .arg("-c")
        .arg(format!(
            "cd sub && eval \"$({lvm} --env ../env path)\" && cd / && \
             lua5.4 -e 'print(require(\"cmath\").gcd(21, 14))'",
            lvm = env!("CARGO_BIN_EXE_lvm"),
        ))
        .current_dir(lvm.root.path())
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out), "7\n");
}

#[test]
fn exec_runs_debian_lua_with_the_environment() {
    let lvm = env_with(&["cmath", "strutil"]);
    let out = lvm
        .command()
        // An inherited versioned path must not hide the environment.
        .env("LUA_PATH_5_4", "/elsewhere/?.lua")
        .args([
            "exec",
            "--",
            "lua5.4",
            "-e",
            "print(require('strutil').version, require('cmath').gcd(8, 12))",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_ok(&out), "1.1\t4\n");
    let out = lvm.run(&["exec", "--", "lua5.4", "-e", "os.exit(4)"]);
    assert_eq!(out.status.code(), Some(4));
    let out = lvm.run(&["exec", "--", "sh", "-c", "echo $LUA_CPATH"]);
    assert_eq!(
        stdout_ok(&out),
        format!("{}/lib/lua/5.4/?.so;;\n", lvm.tree().display())
    );
}

#[test]
fn exec_finds_rock_commands_and_reports_missing_ones() {
    let lvm = env_with(&["hello-cli"]);
    let out = lvm.ok(&["exec", "--", "hello-cli", "  bob  "]);
    assert_eq!(out, "hello, bob\n");
    let out = lvm.run(&["exec", "--", "no-such-command-here"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("no-such-command-here"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lua_prompt_reads_piped_stdin_as_a_script() {
    let lvm = env_with(&["strutil"]);
    let mut cmd = lvm.command();
    cmd.arg("lua");
    let out = with_stdin(
        cmd,
        "local s = require('strutil')\nprint(s.trim('  y  '))\nlocal t = {\n  1,\n  2 }\nprint(#t)\n",
    );
    assert_eq!(stdout_ok(&out), "y\n2\n");
    let mut cmd = lvm.command();
    cmd.arg("lua");
    let out = with_stdin(cmd, "print('before')\nerror('piped')\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "before\n");
    assert!(
        stderr(&out).starts_with("lua: stdin:2: piped\nstack traceback:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_dash_reads_the_script_from_stdin() {
    let lvm = env_with(&[]);
    let mut cmd = lvm.command();
    cmd.args(["run", "-", "arg1"]);
    let out = with_stdin(cmd, "print(arg[0], arg[1], ...)");
    assert_eq!(stdout_ok(&out), "-\targ1\targ1\n");
}

#[test]
fn profile_runs_another_profiles_packages_without_switching() {
    let lvm = env_with(&["strutil"]);
    lvm.ok(&["profile", "create", "old"]);
    lvm.ok(&["profile", "switch", "old"]);
    lvm.ok(&["install", "strutil", "1.0-1", "cmath"]);
    lvm.ok(&["profile", "switch", "default"]);
    let before = lvm.snapshot();

    let code = "print(require('strutil').version, pcall(require, 'cmath'))";
    let out = lvm.ok(&["run", "--profile", "old", "-e", code]);
    assert!(out.starts_with("1.0\ttrue\ttable: "), "{out}");
    let out = lvm.ok(&["run", "-e", code]);
    assert!(out.starts_with("1.1\tfalse\t"), "{out}");

    // os.exit leaves no scratch tree behind, and neither does an error.
    let out = lvm.run(&["run", "--profile", "old", "-e", "os.exit(9)"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let out = lvm.run(&["run", "--profile", "old", "-e", "error('x')"]);
    assert_eq!(out.status.code(), Some(1));
    let out = lvm.ok(&["exec", "--profile", "old", "--", "lua5.4", "-e", code]);
    assert!(out.starts_with("1.0\ttrue\t"), "{out}");

    let scratch = lvm.env_dir().join(".lvm-tmp");
    let leftovers: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        lvm.snapshot(),
        before,
        "running must not change the environment"
    );
    assert!(lvm.ok(&["profile", "list"]).contains("* default"));

    let err = lvm.fails(&["run", "--profile", "nope", "-e", "print(1)"]);
    assert!(err.contains("profile 'nope' does not exist"), "{err}");
}

#[test]
fn running_needs_an_environment() {
    let lvm = Lvm::new();
    let err = lvm.fails(&["run", "-e", "print(1)"]);
    assert!(err.starts_with("error: "), "{err}");
    let err = lvm.fails(&["run"]);
    assert!(err.contains("SCRIPT"), "{err}");
}
