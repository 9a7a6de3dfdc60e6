//! Building one interpreter from its unpacked sources into a prefix (`bin/`, `include/`, `lib/`):
//! the PUC releases file by file with the C compiler, LuaJIT with its own makefile.

use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::RuntimeError;
use super::compiler::{Compiler, require_tool};
use super::sources::FRONT_END_NAME;
use crate::luaversion::LuaVersion;
use crate::report::Reporter;

/// The headers C modules compile against, copied into `include/`.
const PUC_HEADERS: [&str; 4] = ["lua.h", "luaconf.h", "lualib.h", "lauxlib.h"];
const LUAJIT_HEADERS: [&str; 6] = [
    "lua.h",
    "luaconf.h",
    "lualib.h",
    "lauxlib.h",
    "lua.hpp",
    "luajit.h",
];

/// The tools of a build and its environment (PATH, `$AR`, `$MAKE`), read once by the caller.
pub(super) struct Toolchain {
    pub compiler: Compiler,
    pub path: Option<OsString>,
    pub ar_var: Option<OsString>,
    pub make_var: Option<OsString>,
    pub jobs: usize,
}

/// The compiler flags of a PUC release, as its own makefile sets them for this platform: the
/// compatibility switch of the release and the platform's `LUA_USE_*`.
pub(super) fn puc_cflags(interpreter: LuaVersion) -> Vec<&'static str> {
    let mut flags = vec!["-std=gnu99", "-O2", "-Wall"];
    flags.extend(match interpreter {
        LuaVersion::Lua52 => Some("-DLUA_COMPAT_ALL"),
        LuaVersion::Lua53 => Some("-DLUA_COMPAT_5_2"),
        LuaVersion::Lua54 => Some("-DLUA_COMPAT_5_3"),
        _ => None,
    });
    if cfg!(target_os = "linux") {
        flags.push("-DLUA_USE_LINUX");
    } else if cfg!(target_os = "macos") {
        flags.push("-DLUA_USE_MACOSX");
    } else {
        flags.extend(["-DLUA_USE_POSIX", "-DLUA_USE_DLOPEN"]);
    }
    flags
}

/// Link flags of the `lua` program: export the Lua API (C modules are shared objects that do
/// not link liblua and find `lua_*` in the program), libm, and dlopen.
pub(super) fn link_flags() -> Vec<&'static str> {
    if cfg!(target_os = "linux") {
        vec!["-Wl,-E", "-lm", "-ldl"]
    } else if cfg!(target_os = "macos") {
        vec!["-lm"]
    } else {
        vec!["-Wl,-E", "-lm"]
    }
}

/// The `make` arguments of a LuaJIT build: a static library linked into `luajit`, which its
/// makefile then links with `-Wl,-E` (exported API) on Linux.
pub(super) const LUAJIT_MAKE_ARGS: [&str; 2] = ["BUILDMODE=static", "Q="];

/// Where LuaJIT's own Lua modules (`jit.v`, `jit.bcsave`, ... behind `-jv` and `-b`) go in a
/// runtime, as LuaJIT's `make install` puts them.
pub(super) const LUAJIT_LIB_DIR: &str = "share/luajit-2.1";

/// Builds `interpreter` from the sources in `src` into `prefix`, for a runtime that will live
/// in `home` (LuaJIT compiles that folder in, to find its `jit.*` modules).
pub(super) fn build(
    interpreter: LuaVersion,
    tools: &Toolchain,
    src: &Path,
    prefix: &Path,
    home: &Path,
    reporter: &dyn Reporter,
) -> Result<(), RuntimeError> {
    for sub in ["bin", "include", "lib"] {
        let dir = prefix.join(sub);
        fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create", &dir, e))?;
    }
    if interpreter.is_luajit() {
        build_luajit(interpreter, tools, src, prefix, home, reporter)
    } else {
        build_puc(interpreter, tools, src, prefix, reporter)
    }
}

fn build_puc(
    interpreter: LuaVersion,
    tools: &Toolchain,
    src: &Path,
    prefix: &Path,
    reporter: &dyn Reporter,
) -> Result<(), RuntimeError> {
    let ar = require_tool("ar", tools.ar_var.clone(), tools.path.clone(), "binutils")?;
    let mut sources: Vec<PathBuf> = fs::read_dir(src)
        .map_err(|e| RuntimeError::io("read", src, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let name = super::display_name(interpreter);
    reporter.runtime_build_started(&name, sources.len() + 2);

    let cflags = puc_cflags(interpreter);
    let objects = compile_all(interpreter, &sources, tools, &cflags, src, reporter)?;
    let front_end = src.join(FRONT_END_NAME).with_extension("o");
    let library: Vec<&PathBuf> = objects.iter().filter(|o| **o != front_end).collect();

    let liblua = prefix.join("lib").join("liblua.a");
    let mut command = Command::new(&ar);
    command.arg("rcs").arg(&liblua).args(&library);
    run(command, "archiving liblua.a", interpreter)?;
    reporter.runtime_build_step(&name, "liblua.a");

    let lua = prefix.join("bin").join("lua");
    let mut command = tools.compiler.command();
    command
        .arg("-o")
        .arg(&lua)
        .args(&objects)
        .args(link_flags());
    run(command, "linking bin/lua", interpreter)?;
    reporter.runtime_build_step(&name, "bin/lua");

    copy_headers(&PUC_HEADERS, src, &prefix.join("include"))?;
    let hpp = prefix.join("include").join("lua.hpp");
    fs::write(&hpp, lua_hpp()).map_err(|e| RuntimeError::io("write", &hpp, e))
}

/// Compiles every source to an object beside it, on up to `jobs` threads; the first failure
/// stops the others from starting new files.
fn compile_all(
    interpreter: LuaVersion,
    sources: &[PathBuf],
    tools: &Toolchain,
    cflags: &[&str],
    include: &Path,
    reporter: &dyn Reporter,
) -> Result<Vec<PathBuf>, RuntimeError> {
    let name = super::display_name(interpreter);
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<RuntimeError>> = Mutex::new(None);
    let failed = || failure.lock().map(|f| f.is_some()).unwrap_or(true);
    std::thread::scope(|scope| {
        for _ in 0..tools.jobs.clamp(1, sources.len().max(1)) {
            scope.spawn(|| {
                while !failed() {
                    let Some(source) = sources.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        return;
                    };
                    let file = source.file_name().unwrap_or_default().to_string_lossy();
                    let mut command = tools.compiler.command();
                    command
                        .args(cflags)
                        .arg("-I")
                        .arg(include)
                        .arg("-c")
                        .arg(source)
                        .arg("-o")
                        .arg(source.with_extension("o"));
                    match run(command, &format!("compiling {file}"), interpreter) {
                        Ok(()) => reporter.runtime_build_step(&name, &file),
                        Err(e) => {
                            if let Ok(mut slot) = failure.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    match failure.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(sources.iter().map(|s| s.with_extension("o")).collect()),
    }
}

fn build_luajit(
    interpreter: LuaVersion,
    tools: &Toolchain,
    src: &Path,
    prefix: &Path,
    home: &Path,
    reporter: &dyn Reporter,
) -> Result<(), RuntimeError> {
    let make = require_tool("make", tools.make_var.clone(), tools.path.clone(), "make")?;
    let ar = require_tool("ar", tools.ar_var.clone(), tools.path.clone(), "binutils")?;
    let src_dir = src.join("src");
    let name = super::display_name(interpreter);
    // One progress step per C file its makefile compiles, for the target and the host tools.
    let steps = count_c_files(&src_dir) + count_c_files(&src_dir.join("host"));
    reporter.runtime_build_started(&name, steps);

    let mut command = Command::new(&make);
    command
        .current_dir(&src_dir)
        .arg(format!("-j{}", tools.jobs.max(1)))
        .args(LUAJIT_MAKE_ARGS)
        .arg(format!("CC={}", tools.compiler.make_value()))
        .arg(format!("TARGET_AR={} rcus", ar.display()))
        // The makefile's own progress lines (`CC  lj_api.o`) come on stdout.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS");
    if let Some(root) = luajit_root(home) {
        // The default `package.path` then has `<home>/share/luajit-2.1/?.lua`, so `-jv` and
        // `-b` find their modules without any LUA_PATH.
        command.arg(format!("PREFIX={root}"));
    }
    run_with_lines(command, "building LuaJIT with make", interpreter, |line| {
        let mut words = line.split_whitespace();
        if let (Some("CC" | "HOSTCC"), Some(file)) = (words.next(), words.next()) {
            reporter.runtime_build_step(&name, file);
        }
    })?;

    let luajit = prefix.join("bin").join("luajit");
    copy_file(&src_dir.join("luajit"), &luajit)?;
    let lua = prefix.join("bin").join("lua");
    std::os::unix::fs::symlink("luajit", &lua)
        .map_err(|e| RuntimeError::io("create the symlink", &lua, e))?;
    copy_file(
        &src_dir.join("libluajit.a"),
        &prefix
            .join("lib")
            .join(format!("lib{}.a", super::lib_name(interpreter))),
    )?;
    copy_headers(&LUAJIT_HEADERS, &src_dir, &prefix.join("include"))?;
    copy_lua_files(
        &src_dir.join("jit"),
        &prefix.join(LUAJIT_LIB_DIR).join("jit"),
    )
}

/// `home` as LuaJIT's makefile can compile it in: it lands in a C string through the shell
/// unquoted, so a folder with blanks, quotes or other shell characters is left out (the
/// `jit.*` modules are then found only through LUA_PATH).
fn luajit_root(home: &Path) -> Option<&str> {
    let text = home.to_str()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+".contains(c);
    text.chars().all(plain).then_some(text)
}

/// Copies the `.lua` files of `from` (not its subfolders) into `to`.
fn copy_lua_files(from: &Path, to: &Path) -> Result<(), RuntimeError> {
    fs::create_dir_all(to).map_err(|e| RuntimeError::io("create", to, e))?;
    let entries = fs::read_dir(from).map_err(|e| RuntimeError::io("read", from, e))?;
    for entry in entries {
        let path = entry.map_err(|e| RuntimeError::io("read", from, e))?.path();
        if path.extension().is_some_and(|x| x == "lua") {
            copy_file(&path, &to.join(path.file_name().unwrap_or_default()))?;
        }
    }
    Ok(())
}

fn count_c_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "c"))
                .count()
        })
        .unwrap_or(0)
}

/// `lua.hpp` as the Lua distribution has it (the bundled 5.4 headers carry the same file).
fn lua_hpp() -> &'static [u8] {
    crate::build::lua_headers()
        .iter()
        .find(|(name, _)| *name == "lua.hpp")
        .map(|(_, bytes)| *bytes)
        .unwrap_or_default()
}

fn copy_headers(names: &[&str], from: &Path, to: &Path) -> Result<(), RuntimeError> {
    names
        .iter()
        .try_for_each(|name| copy_file(&from.join(name), &to.join(name)))
}

fn copy_file(from: &Path, to: &Path) -> Result<(), RuntimeError> {
    fs::copy(from, to)
        .map(drop)
        .map_err(|e| RuntimeError::io("copy into the runtime", from, e))
}

/// Runs a build step, its output captured for the error when it fails.
fn run(command: Command, what: &str, interpreter: LuaVersion) -> Result<(), RuntimeError> {
    run_with_lines(command, what, interpreter, |_| {})
}

/// Runs a build step, passing each line of its stdout to `on_line` as it comes; stderr and
/// stdout end (the last lines) are kept for the error when the step fails.
fn run_with_lines(
    mut command: Command,
    what: &str,
    interpreter: LuaVersion,
    mut on_line: impl FnMut(&str),
) -> Result<(), RuntimeError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::Step {
            interpreter: super::display_name(interpreter),
            what: what.to_owned(),
            detail: format!("cannot run `{program}`: {e}"),
        })?;
    let stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    let mut tail: Vec<String> = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            on_line(&line);
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
    }
    let status = child.wait().map_err(|e| RuntimeError::Step {
        interpreter: super::display_name(interpreter),
        what: what.to_owned(),
        detail: format!("waiting for `{program}`: {e}"),
    })?;
    let stderr = errors.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let mut output: Vec<&str> = stderr.lines().collect();
    output.extend(tail.iter().map(String::as_str));
    let start = output.len().saturating_sub(15);
    Err(RuntimeError::Step {
        interpreter: super::display_name(interpreter),
        what: what.to_owned(),
        detail: format!(
            "`{program}` failed ({status}){}{}",
            if output.is_empty() { "" } else { ":\n" },
            output[start..].join("\n")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_release_gets_its_makefile_compat_switch() {
        assert!(puc_cflags(LuaVersion::Lua52).contains(&"-DLUA_COMPAT_ALL"));
        assert!(puc_cflags(LuaVersion::Lua53).contains(&"-DLUA_COMPAT_5_2"));
        assert!(puc_cflags(LuaVersion::Lua54).contains(&"-DLUA_COMPAT_5_3"));
        assert!(
            !puc_cflags(LuaVersion::Lua51)
                .iter()
                .any(|f| f.contains("COMPAT"))
        );
    }

    #[test]
    fn lua_hpp_is_available_for_every_release() {
        assert!(String::from_utf8_lossy(lua_hpp()).contains("extern \"C\""));
    }
}
