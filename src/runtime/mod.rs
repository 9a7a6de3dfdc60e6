//! Lua interpreters lvm provides itself, offline: built once per machine with the system C
//! compiler from the sources carried in lvm, into the lvm home, and shared by every environment.
//!
//! Each runtime lives in `<home>/runtimes/<name>`, addressed by a hash of its inputs (sources,
//! front-end, compiler identity, flags, platform), and holds `bin/lua` (and `bin/luajit`),
//! `include/`, `lib/` and [`layout::RUNTIME_META_FILE`]. A build happens in a scratch folder
//! under a per-interpreter lock and is renamed into place only once it ran, so a failed or
//! killed build leaves nothing a later command would use, and a concurrent process reuses it.

mod compile;
mod compiler;
mod sources;

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::layout;
use crate::luaversion::{LuaVersion, UnknownLuaVersion};
use crate::report::{Readiness, Reporter};

pub use compiler::Compiler;

/// The written form of [`layout::RUNTIME_META_FILE`]; a reader refuses any other.
const META_FORMAT: u32 = 1;

/// The release lvm carries the sources of: `5.4.9`, `2.1.1788856981`.
pub fn release(lua: LuaVersion) -> &'static str {
    sources::release(lua)
}

/// `Lua 5.4.9`, `LuaJIT 2.1.1788856981`.
pub fn display_name(lua: LuaVersion) -> String {
    let product = if lua.is_luajit() { "LuaJIT" } else { "Lua" };
    format!("{product} {}", release(lua))
}

/// The library a runtime has in `lib/` (its `-l` name): `lua`, `luajit-5.1`.
fn lib_name(lua: LuaVersion) -> &'static str {
    if lua.is_luajit() { "luajit-5.1" } else { "lua" }
}

/// The program in `bin/` that is the interpreter itself (`bin/lua` is always there too).
fn program(lua: LuaVersion) -> &'static str {
    if lua.is_luajit() { "luajit" } else { "lua" }
}

/// An installed interpreter.
#[derive(Debug, Clone, Serialize)]
pub struct Runtime {
    pub interpreter: LuaVersion,
    /// Its folder's name in the runtimes folder: `lua-5.4.9-<hash>`.
    pub name: String,
    pub dir: PathBuf,
    /// The interpreter program: `bin/lua`, `bin/luajit`.
    pub bin: PathBuf,
    pub include_dir: PathBuf,
    pub lib_dir: PathBuf,
    /// The library's `-l` name in `lib_dir`: `lua` (`liblua.a`), `luajit-5.1`.
    pub lib_name: String,
    pub release: String,
    /// The first line of `bin/lua -v`.
    pub version: String,
    /// The compiler that built it (`--version`'s first line).
    pub compiler: String,
    /// The hash of its inputs.
    pub key: String,
    pub built_at: String,
}

/// [`layout::RUNTIME_META_FILE`]: what a finished runtime says about itself.
#[derive(Debug, Serialize, Deserialize)]
struct Metadata {
    format: u32,
    interpreter: String,
    release: String,
    version: String,
    compiler: String,
    key: String,
    built_at: String,
}

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(transparent)]
    UnknownVersion(#[from] UnknownLuaVersion),
    #[error(
        "no C compiler found ({looked}); lvm builds its Lua interpreters from source on first \
         use: install one (Debian: `apt-get install gcc libc6-dev`), or use an installed \
         interpreter with --lua-bin PATH"
    )]
    NoCompiler { looked: String },
    #[error(
        "`{tool}` not found; lvm needs it to build its Lua interpreters: install {provided_by}, \
         or use an installed interpreter with --lua-bin PATH"
    )]
    MissingTool { tool: String, provided_by: String },
    #[error("building {interpreter}: {what} failed: {detail}")]
    Step {
        interpreter: String,
        what: String,
        detail: String,
    },
    #[error("the {interpreter} just built in {} does not work: {detail}", dir.display())]
    Check {
        interpreter: String,
        dir: PathBuf,
        detail: String,
    },
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
}

impl RuntimeError {
    /// An unknown version is bad input; a missing tool, a failed build or I/O is not.
    pub fn kind(&self) -> crate::errors::ErrorKind {
        match self {
            RuntimeError::UnknownVersion(_) => crate::errors::ErrorKind::BadInput,
            _ => crate::errors::ErrorKind::Other,
        }
    }

    fn io(action: &'static str, path: &Path, cause: io::Error) -> RuntimeError {
        RuntimeError::Io {
            action,
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// What a build reads from the process environment, read once by the caller.
#[derive(Debug, Clone, Default)]
pub struct BuildEnv {
    pub cc: Option<OsString>,
    pub path: Option<OsString>,
    pub ar: Option<OsString>,
    pub make: Option<OsString>,
    /// Parallel compile jobs.
    pub jobs: usize,
}

impl BuildEnv {
    /// `$CC`, `$PATH`, `$AR`, `$MAKE` and the number of CPUs of this process.
    pub fn from_process() -> BuildEnv {
        BuildEnv {
            cc: std::env::var_os("CC"),
            path: std::env::var_os("PATH"),
            ar: std::env::var_os("AR"),
            make: std::env::var_os("MAKE"),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The runtimes folder of an lvm home.
#[derive(Debug, Clone)]
pub struct Runtimes {
    root: PathBuf,
}

impl Runtimes {
    pub fn new(root: PathBuf) -> Runtimes {
        Runtimes { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The runtime of `interpreter` for this machine's compiler, built now if there is none.
    /// Without any C compiler, a runtime built earlier (by another compiler) is used.
    pub fn ensure(
        &self,
        interpreter: LuaVersion,
        env: &BuildEnv,
        reporter: &dyn Reporter,
    ) -> Result<(Runtime, Readiness), RuntimeError> {
        let compiler = match Compiler::find(env.cc.clone(), env.path.clone()) {
            Ok(compiler) => compiler,
            Err(no_compiler) => {
                return self
                    .newest(interpreter)
                    .map(|runtime| (runtime, Readiness::FromStore))
                    .ok_or(no_compiler);
            }
        };
        let key = input_key(interpreter, &compiler);
        let dir = self.root.join(dir_name(interpreter, &key));
        if let Some(runtime) = read_runtime(&dir) {
            return Ok((runtime, Readiness::FromStore));
        }
        fs::create_dir_all(&self.root).map_err(|e| RuntimeError::io("create", &self.root, e))?;
        let _lock = self.lock(interpreter, reporter)?;
        // Another process may have built it while this one waited.
        if let Some(runtime) = read_runtime(&dir) {
            return Ok((runtime, Readiness::FromStore));
        }
        self.clear_leftovers(interpreter);
        let scratch = self.root.join(format!(
            "{}{}-{}",
            layout::RUNTIME_SCRATCH_PREFIX,
            interpreter.as_str(),
            std::process::id()
        ));
        let tools = compile::Toolchain {
            compiler,
            path: env.path.clone(),
            ar_var: env.ar.clone(),
            make_var: env.make.clone(),
            jobs: env.jobs,
        };
        let built = build_in(interpreter, &tools, &key, &scratch, &dir, reporter);
        reporter.runtime_build_finished(&display_name(interpreter));
        let placed = built.and_then(|prefix| {
            fs::rename(&prefix, &dir).map_err(|e| RuntimeError::io("move into place", &dir, e))
        });
        let _ = fs::remove_dir_all(&scratch);
        placed?;
        crate::fsutil::sync_dir(&self.root);
        let runtime = read_runtime(&dir).ok_or_else(|| RuntimeError::Check {
            interpreter: display_name(interpreter),
            dir: dir.clone(),
            detail: format!("{} is unreadable", layout::RUNTIME_META_FILE),
        })?;
        Ok((runtime, Readiness::Built))
    }

    /// Every finished runtime, by interpreter and release.
    pub fn installed(&self) -> Vec<Runtime> {
        let mut found: Vec<Runtime> = fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| read_runtime(&e.path()))
            .collect();
        found.sort_by(|a, b| (a.interpreter, &a.built_at).cmp(&(b.interpreter, &b.built_at)));
        found
    }

    /// The most recently built runtime of `interpreter`, whatever compiler built it.
    pub fn newest(&self, interpreter: LuaVersion) -> Option<Runtime> {
        self.installed()
            .into_iter()
            .filter(|r| r.interpreter == interpreter)
            .max_by(|a, b| a.built_at.cmp(&b.built_at))
    }

    /// Removes every runtime of `interpreter` and returns them.
    pub fn remove(
        &self,
        interpreter: LuaVersion,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Runtime>, RuntimeError> {
        let doomed: Vec<Runtime> = self
            .installed()
            .into_iter()
            .filter(|r| r.interpreter == interpreter)
            .collect();
        self.remove_runtimes(&doomed, reporter)?;
        Ok(doomed)
    }

    /// Removes `doomed`. Each is renamed out of the way first (under its interpreter's build
    /// lock), so no command picks up a half-deleted one; a program already running from it
    /// keeps running.
    pub fn remove_runtimes(
        &self,
        doomed: &[Runtime],
        reporter: &dyn Reporter,
    ) -> Result<(), RuntimeError> {
        for runtime in doomed {
            let _lock = self.lock(runtime.interpreter, reporter)?;
            let trash = self.root.join(format!(
                "{}{}-{}",
                layout::RUNTIME_TRASH_PREFIX,
                runtime.name,
                std::process::id()
            ));
            fs::rename(&runtime.dir, &trash)
                .map_err(|e| RuntimeError::io("move out of the way", &runtime.dir, e))?;
            fs::remove_dir_all(&trash).map_err(|e| RuntimeError::io("delete", &trash, e))?;
        }
        Ok(())
    }

    /// The runtimes [`Runtimes::ensure`] would no longer pick: with a C compiler, every one not
    /// built from this lvm's sources by that compiler (it would build a new one); without one,
    /// all but the newest of each interpreter.
    pub fn superseded(&self, env: &BuildEnv) -> Vec<Runtime> {
        let installed = self.installed();
        match Compiler::find(env.cc.clone(), env.path.clone()) {
            Ok(compiler) => installed
                .into_iter()
                .filter(|r| r.name != dir_name(r.interpreter, &input_key(r.interpreter, &compiler)))
                .collect(),
            // `installed` is sorted by interpreter, then build time: every runtime followed by
            // one of the same interpreter is an older build (one read of the folder, not one
            // per interpreter).
            Err(_) => installed
                .iter()
                .zip(installed.iter().skip(1))
                .filter(|(older, next)| older.interpreter == next.interpreter)
                .map(|(older, _)| older.clone())
                .collect(),
        }
    }

    /// The build lock of `interpreter`, waited for (and said so) when another process holds it.
    fn lock(
        &self,
        interpreter: LuaVersion,
        reporter: &dyn Reporter,
    ) -> Result<fs::File, RuntimeError> {
        fs::create_dir_all(&self.root).map_err(|e| RuntimeError::io("create", &self.root, e))?;
        let path = self.root.join(format!(
            "{}{}",
            layout::RUNTIME_LOCK_PREFIX,
            interpreter.as_str()
        ));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| RuntimeError::io("open the lock file", &path, e))?;
        if fs4::FileExt::try_lock(&file).is_err() {
            reporter.runtime_build_waiting(&display_name(interpreter));
            fs4::FileExt::lock(&file).map_err(|e| RuntimeError::io("lock", &path, e))?;
        }
        Ok(file)
    }

    /// Scratch and trash folders of `interpreter` a killed process left; only called under its
    /// lock, so none of them is in use.
    fn clear_leftovers(&self, interpreter: LuaVersion) {
        let scratch = format!(
            "{}{}-",
            layout::RUNTIME_SCRATCH_PREFIX,
            interpreter.as_str()
        );
        for entry in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&scratch) || name.starts_with(layout::RUNTIME_TRASH_PREFIX) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Unpacks, builds and checks `interpreter` under `scratch` for a runtime that will live in
/// `home`; returns the finished prefix.
fn build_in(
    interpreter: LuaVersion,
    tools: &compile::Toolchain,
    key: &str,
    scratch: &Path,
    home: &Path,
    reporter: &dyn Reporter,
) -> Result<PathBuf, RuntimeError> {
    let src = scratch.join("src");
    let prefix = scratch.join("prefix");
    fs::create_dir_all(&src).map_err(|e| RuntimeError::io("create", &src, e))?;
    sources::unpack(interpreter, &src)?;
    compile::build(interpreter, tools, &src, &prefix, home, reporter)?;
    let version = check(interpreter, &prefix)?;
    let metadata = Metadata {
        format: META_FORMAT,
        interpreter: interpreter.as_str().to_owned(),
        release: release(interpreter).to_owned(),
        version,
        compiler: tools.compiler.identity.clone(),
        key: key.to_owned(),
        built_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let text = serde_json::to_string_pretty(&metadata).expect("metadata serializes") + "\n";
    let path = prefix.join(layout::RUNTIME_META_FILE);
    crate::fsutil::write_atomic(&path, text.as_bytes())
        .map_err(|e| RuntimeError::io("write", &path, e))?;
    crate::fsutil::sync_filesystem(&prefix).map_err(|e| RuntimeError::io("sync", &prefix, e))?;
    Ok(prefix)
}

/// Runs the new interpreter: `-v` must name the release, and a smoke chunk must run. Returns
/// the first line of `-v`.
fn check(interpreter: LuaVersion, prefix: &Path) -> Result<String, RuntimeError> {
    let bin = prefix.join("bin").join("lua");
    let failed = |detail: String| RuntimeError::Check {
        interpreter: display_name(interpreter),
        dir: prefix.to_path_buf(),
        detail,
    };
    let run = |args: &[&str]| {
        let mut command = Command::new(&bin);
        // Where LuaJIT's `jit.*` modules are before the runtime moves into place.
        let jit_modules = prefix.join(compile::LUAJIT_LIB_DIR).join("?.lua");
        command
            .args(args)
            .env_remove("LUA_INIT")
            .env("LUA_PATH", format!("{};;", jit_modules.display()));
        for v in ["5_2", "5_3", "5_4", "5_5"] {
            command.env_remove(format!("LUA_INIT_{v}"));
        }
        command
            .output()
            .map_err(|e| failed(format!("cannot run {}: {e}", bin.display())))
    };
    let output = run(&["-v"])?;
    // Lua 5.1 prints its version on stderr, the others on stdout.
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let version = text.lines().next().unwrap_or_default().trim().to_owned();
    if !output.status.success() || !version_matches(interpreter, &version) {
        return Err(failed(format!("`lua -v` printed {text:?}")));
    }
    let jit_modules = if interpreter.is_luajit() {
        "require('jit.v') require('jit.bcsave') "
    } else {
        ""
    };
    let smoke = format!(
        "{jit_modules}local t = setmetatable({{}}, {{__index = function(_, k) return k * 2 end}}) \
         assert(t[21] == 42) assert(_VERSION == 'Lua {}') io.write('ok')",
        interpreter.abi()
    );
    let output = run(&["-e", &smoke])?;
    if !output.status.success() || output.stdout != b"ok" {
        return Err(failed(format!(
            "a test chunk failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(version)
}

/// Whether `lua -v`'s first line is the release lvm carries.
fn version_matches(interpreter: LuaVersion, line: &str) -> bool {
    if interpreter.is_luajit() {
        line.starts_with("LuaJIT 2.1")
    } else {
        line.starts_with(&format!("Lua {} ", release(interpreter)))
    }
}

/// The hash of everything that makes a runtime what it is.
fn input_key(interpreter: LuaVersion, compiler: &Compiler) -> String {
    let mut text = format!(
        "lvm-runtime {META_FORMAT}\ninterpreter {}\nsources {}\n",
        interpreter.as_str(),
        crate::digest::sha256_bytes(sources::tarball(interpreter)),
    );
    if interpreter.is_luajit() {
        text += &format!(
            "make {}\njit modules {}\n",
            compile::LUAJIT_MAKE_ARGS.join(" "),
            compile::LUAJIT_LIB_DIR
        );
    } else {
        text += &format!(
            "front-end {}\ncflags {}\nldflags {}\n",
            crate::digest::sha256_bytes(sources::FRONT_END),
            compile::puc_cflags(interpreter).join(" "),
            compile::link_flags().join(" "),
        );
    }
    text += &format!(
        "compiler {} {}\nidentity {}\ntarget {}-{}\n",
        compiler.program.display(),
        compiler.args.join(" "),
        compiler.identity,
        std::env::consts::ARCH,
        std::env::consts::OS,
    );
    crate::digest::sha256_bytes(text.as_bytes())
}

/// `lua-5.4.9-<12 hex>`, `luajit-2.1.1788856981-<12 hex>`.
fn dir_name(interpreter: LuaVersion, key: &str) -> String {
    format!(
        "{}-{}-{}",
        program(interpreter),
        release(interpreter),
        &key[..12]
    )
}

/// The runtime in `dir` when it is a finished one lvm understands.
fn read_runtime(dir: &Path) -> Option<Runtime> {
    let text = fs::read(dir.join(layout::RUNTIME_META_FILE)).ok()?;
    let meta: Metadata = serde_json::from_slice(&text).ok()?;
    if meta.format != META_FORMAT {
        return None;
    }
    let interpreter = LuaVersion::parse(&meta.interpreter).ok()?;
    let bin = dir.join("bin").join(program(interpreter));
    if !bin.is_file() {
        return None;
    }
    Some(Runtime {
        interpreter,
        name: dir.file_name()?.to_string_lossy().into_owned(),
        dir: dir.to_path_buf(),
        bin,
        include_dir: dir.join("include"),
        lib_dir: dir.join("lib"),
        lib_name: lib_name(interpreter).to_owned(),
        release: meta.release,
        version: meta.version,
        compiler: meta.compiler,
        key: meta.key,
        built_at: meta.built_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_follows_the_compiler_and_the_sources() {
        let compiler = |identity: &str| Compiler {
            program: "/usr/bin/cc".into(),
            args: Vec::new(),
            identity: identity.into(),
        };
        let a = input_key(LuaVersion::Lua54, &compiler("gcc 12"));
        assert_eq!(a, input_key(LuaVersion::Lua54, &compiler("gcc 12")));
        assert_ne!(a, input_key(LuaVersion::Lua54, &compiler("gcc 13")));
        assert_ne!(a, input_key(LuaVersion::Lua53, &compiler("gcc 12")));
        assert!(dir_name(LuaVersion::Lua54, &a).starts_with("lua-5.4."));
    }

    #[test]
    fn version_lines_are_checked_against_the_release() {
        assert!(version_matches(
            LuaVersion::Lua51,
            "Lua 5.1.5  Copyright (C) 1994-2012 Lua.org, PUC-Rio"
        ));
        assert!(!version_matches(LuaVersion::Lua51, "Lua 5.4.9  Copyright"));
        assert!(version_matches(
            LuaVersion::LuaJit,
            "LuaJIT 2.1.1788856981 -- Copyright (C) 2005-2025 Mike Pall."
        ));
    }

    #[test]
    fn without_a_compiler_all_but_the_newest_build_of_each_interpreter_are_superseded() {
        let dir = tempfile::tempdir().unwrap();
        let runtimes = Runtimes::new(dir.path().to_path_buf());
        let fake = |name: &str, lua: LuaVersion, built_at: &str| {
            let runtime = dir.path().join(name);
            fs::create_dir_all(runtime.join("bin")).unwrap();
            fs::write(runtime.join("bin").join(program(lua)), "").unwrap();
            let meta = Metadata {
                format: META_FORMAT,
                interpreter: lua.as_str().to_owned(),
                release: release(lua).to_owned(),
                version: String::new(),
                compiler: "cc".into(),
                key: name.into(),
                built_at: built_at.into(),
            };
            let text = serde_json::to_string(&meta).unwrap();
            fs::write(runtime.join(layout::RUNTIME_META_FILE), text).unwrap();
        };
        fake("lua-5.1-old", LuaVersion::Lua51, "2026-01-01T00:00:00Z");
        fake("lua-5.1-new", LuaVersion::Lua51, "2026-02-01T00:00:00Z");
        fake("lua-5.4-only", LuaVersion::Lua54, "2026-01-15T00:00:00Z");
        let no_compiler = BuildEnv {
            path: Some(dir.path().join("no-tools").into_os_string()),
            ..BuildEnv::default()
        };
        let names: Vec<String> = runtimes
            .superseded(&no_compiler)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["lua-5.1-old"]);
    }

    #[test]
    fn unfinished_folders_are_not_runtimes() {
        let dir = tempfile::tempdir().unwrap();
        let runtimes = Runtimes::new(dir.path().to_path_buf());
        let half = dir.path().join("lua-5.4.9-000000000000");
        fs::create_dir_all(half.join("bin")).unwrap();
        fs::write(half.join("bin/lua"), "").unwrap();
        assert!(runtimes.installed().is_empty());
        fs::write(half.join(layout::RUNTIME_META_FILE), "{not json").unwrap();
        assert!(runtimes.installed().is_empty());
    }
}
