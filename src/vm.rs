//! Running Lua inside an environment: the embedded Lua 5.4 interpreter ([`Vm`]) and external
//! interpreters started with the environment's module paths ([`LuaProcess`]).
//!
//! The embedded state is a full Lua, not the rockspec sandbox: it has `io`, `os`, `debug` and
//! loads C modules, which resolve the Lua C API from the running executable (the `lvm` binary
//! exports it; see `build.rs`). Its `package.path` and `package.cpath` search the rocks tree
//! first, then Lua's built-in defaults, exactly as the standalone `lua` computes them from
//! `LUA_PATH="<tree>;;"`; the caller's own `LUA_PATH` is not consulted, so what runs is what the
//! environment holds.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

use mlua::{FromLua, FromLuaMulti, Function, Lua, LuaOptions, MultiValue, StdLib, Value};
use thiserror::Error;

use crate::luaversion::LuaVersion;
use crate::tree::{self, LuaPaths, TreeError};

/// Interpreters [`LuaProcess::find_system`] looks for on `PATH`, in order.
pub const SYSTEM_INTERPRETERS: [&str; 2] = ["lua5.4", "lua"];

/// Errors of the embedded interpreter and of external ones.
#[derive(Debug, Error)]
pub enum VmError {
    /// The tree's location cannot be written into a Lua search path.
    #[error(transparent)]
    Paths(#[from] TreeError),
    /// Setting up the Lua state failed.
    #[error("starting the embedded Lua interpreter: {0}")]
    Setup(mlua::Error),
    /// A script could not be read.
    #[error("cannot read the Lua script {path}: {cause}")]
    Read { path: PathBuf, cause: io::Error },
    /// Lua code failed to compile or raised an error; the message has Lua's `chunk:line:`
    /// location and, for run-time errors, a stack traceback.
    #[error("{context}: {}", lua_message(.cause))]
    Lua { context: String, cause: mlua::Error },
    /// An external interpreter or program could not be started.
    #[error("cannot start {program}: {cause} (is it installed and on PATH?)")]
    Spawn { program: String, cause: io::Error },
    /// Reading an external program's output or waiting for it failed.
    #[error("while running {program}: {cause}")]
    Wait { program: String, cause: io::Error },
}

impl VmError {
    fn lua(context: impl Into<String>, source: mlua::Error) -> VmError {
        VmError::Lua {
            context: context.into(),
            cause: source,
        }
    }

    /// For Lua errors, the message as the standalone `lua` prints it (location, message,
    /// traceback), without lvm's context.
    pub fn lua_message(&self) -> Option<String> {
        match self {
            VmError::Lua { cause, .. } => Some(lua_message(cause)),
            _ => None,
        }
    }
}

/// The text of a Lua error without mlua's "runtime error:"/"syntax error:" prefixes, so it
/// reads like the standalone interpreter's.
pub fn lua_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { traceback, cause } => {
            format!("{}\n{traceback}", lua_message(cause))
        }
        mlua::Error::WithContext { context, cause } => {
            format!("{context}: {}", lua_message(cause))
        }
        other => other.to_string(),
    }
}

/// Replaces the first `;;` of a search path by Lua's `default`, the way `lua` treats
/// `LUA_PATH`: `"a;;b"` becomes `"a;<default>;b"`.
pub fn expand_search_path(path: &str, default: &str) -> String {
    let Some(at) = path.find(";;") else {
        return path.to_string();
    };
    let (prefix, suffix) = (&path[..at], &path[at + 2..]);
    let mut out = String::with_capacity(path.len() + default.len() + 2);
    if !prefix.is_empty() {
        out.push_str(prefix);
        out.push(';');
    }
    out.push_str(default);
    if !suffix.is_empty() {
        out.push(';');
        out.push_str(suffix);
    }
    out
}

/// A script's bytes as Lua's `luaL_loadfile` reads them: without a UTF-8 byte order mark, and
/// with a first line starting with `#` (a shebang) emptied but kept, so line numbers in error
/// messages stay right. A precompiled chunk after a shebang line is returned on its own.
pub fn script_source(bytes: &[u8]) -> Cow<'_, [u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.first() != Some(&b'#') {
        return Cow::Borrowed(bytes);
    }
    let rest = match bytes.iter().position(|&b| b == b'\n') {
        Some(newline) => &bytes[newline..],
        None => &[][..],
    };
    if rest.get(1) == Some(&0x1b) {
        return Cow::Borrowed(&rest[1..]);
    }
    Cow::Borrowed(rest)
}

/// How lines typed at the interactive prompt compile, like `lua -i`.
pub enum Interactive {
    /// A chunk to call; `expression` chunks return values to print.
    Ready { chunk: Function, expression: bool },
    /// The input ends in the middle of a statement: read another line and try again.
    Incomplete,
    /// A syntax error to report (the input is discarded).
    Error(VmError),
}

/// An embedded Lua 5.4 state whose module search paths point into a rocks tree.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let share = dir.path().join("share/lua/5.4");
/// std::fs::create_dir_all(&share)?;
/// std::fs::write(share.join("greet.lua"), "return { hi = function(n) return 'hi ' .. n end }")?;
///
/// let vm = lvm::vm::Vm::new(dir.path())?;
/// assert_eq!(vm.eval::<i64>("6 * 7")?, 42);
/// vm.eval::<()>("greet = require 'greet'")?;
/// assert_eq!(vm.eval::<String>("greet.hi('lua')")?, "hi lua");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Vm {
    lua: Lua,
    /// `protected_call(f, ...)`: calls `f` and returns `true, results...`, or `false` and the
    /// error message with a traceback as the standalone `lua` prints it.
    protected_call: Function,
}

/// The standalone interpreter's message handler (`msghandler` in `lua.c`), in Lua. The library
/// functions are captured before any user code runs, so scripts that replace `debug` or
/// `xpcall` still get tracebacks.
const PROTECTED_CALL: &str = r#"
local traceback, getmetatable, xpcall = debug.traceback, debug.getmetatable, xpcall
local type, tostring, format, gsub = type, tostring, string.format, string.gsub
-- The last two frames are this file's xpcall; `lua` shows its own C caller there instead.
local own_frames = "\n\t%[C%]: in function 'xpcall'\n\tlvm:%d+: in function <lvm:%d+>$"
local function handler(message)
  local kind = type(message)
  if kind ~= "string" and kind ~= "number" then
    local mt = getmetatable(message)
    local to_string = mt and mt.__tostring
    if to_string then
      local text = to_string(message)
      if type(text) == "string" then return text end
    end
    message = format("(error object is a %s value)", kind)
  end
  return (gsub(traceback(tostring(message), 2), own_frames, "\n\t[C]: in ?"))
end
return function(f, ...) return xpcall(f, handler, ...) end
"#;

impl Vm {
    /// A Lua state for the rocks tree at `tree_root` (use the environment's stable `tree`
    /// symlink, so modules are found in whatever tree is live when they are required).
    pub fn new(tree_root: &Path) -> Result<Vm, VmError> {
        Vm::with_paths(&tree::lua_path_strings(tree_root, LuaVersion::EMBEDDED)?)
    }

    /// A Lua state with Lua's default search paths and no environment's packages (for Lua run
    /// outside every environment).
    pub fn plain() -> Result<Vm, VmError> {
        Vm::with_paths(&LuaPaths {
            lua_path: ";;".into(),
            lua_cpath: ";;".into(),
            path: String::new(),
        })
    }

    /// A Lua state searching `paths` (`;;` stands for Lua's default path, as in `LUA_PATH`).
    pub fn with_paths(paths: &LuaPaths) -> Result<Vm, VmError> {
        // SAFETY: mlua's "unsafe" means the state may load C code (C modules, `debug`), which
        // is what running a program in an environment requires.
        let lua = unsafe { Lua::unsafe_new_with(StdLib::NONE, LuaOptions::default()) };
        // `LUA_NOENV` makes `package` ignore the caller's LUA_PATH/LUA_CPATH (like `lua -E`),
        // so `package.path` starts as Lua's compiled-in default, which `;;` then stands for.
        lua.set_named_registry_value("LUA_NOENV", true)
            .map_err(VmError::Setup)?;
        lua.load_std_libs(StdLib::ALL).map_err(VmError::Setup)?;
        let package: mlua::Table = lua.globals().get("package").map_err(VmError::Setup)?;
        for (field, wanted) in [("path", &paths.lua_path), ("cpath", &paths.lua_cpath)] {
            let default: String = package.get(field).map_err(VmError::Setup)?;
            package
                .set(field, expand_search_path(wanted, &default))
                .map_err(VmError::Setup)?;
        }
        let protected_call = lua
            .load(PROTECTED_CALL)
            .set_name("=lvm")
            .call(())
            .map_err(VmError::Setup)?;
        Ok(Vm {
            lua,
            protected_call,
        })
    }

    /// The underlying mlua state, for anything this type does not wrap.
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Evaluates `code` as an expression if it is one (`"1 + 1"`), else runs it as statements
    /// (`"x = 1"`), and converts the results to `T`.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let vm = lvm::vm::Vm::new(dir.path())?;
    /// vm.eval::<()>("function double(x) return 2 * x end")?;
    /// let (a, b): (i64, String) = vm.eval("double(21), _VERSION")?;
    /// assert_eq!((a, b.as_str()), (42, "Lua 5.4"));
    /// assert!(vm.eval::<()>("error('boom')").unwrap_err().to_string().contains("eval:1: boom"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn eval<T: FromLuaMulti>(&self, code: &str) -> Result<T, VmError> {
        let chunk = match self.compile_expression(code, "=eval") {
            Some(f) => f,
            None => self
                .lua
                .load(code)
                .set_name("=eval")
                .into_function()
                .map_err(|e| VmError::lua("evaluating Lua code", e))?,
        };
        self.call_protected(&chunk, vec![])
            .and_then(|results| self.lua.unpack_multi(results))
            .map_err(|e| VmError::lua("evaluating Lua code", e))
    }

    /// `require(module)`: loads a module from the tree (or Lua's default paths) once.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let vm = lvm::vm::Vm::new(dir.path())?;
    /// let string: mlua::Table = vm.require("string")?;
    /// let upper: mlua::Function = string.get("upper")?;
    /// assert_eq!(upper.call::<String>("lvm")?, "LVM");
    /// assert!(vm.require::<mlua::Value>("no.such.module").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn require<T: FromLua>(&self, module: &str) -> Result<T, VmError> {
        let context = || format!("require '{module}'");
        let require: Function = self
            .lua
            .globals()
            .get("require")
            .map_err(|e| VmError::lua(context(), e))?;
        require.call(module).map_err(|e| VmError::lua(context(), e))
    }

    /// Sets the global `arg` the way `lua` does: `interpreter` at negative indices, `script` at
    /// 0 (absent for a prompt), `args` from 1.
    pub fn set_arg<I, A>(
        &self,
        interpreter: &[I],
        script: Option<&OsStr>,
        args: &[A],
    ) -> Result<(), VmError>
    where
        I: AsRef<OsStr>,
        A: AsRef<OsStr>,
    {
        let set = || -> mlua::Result<()> {
            let table = self.lua.create_table()?;
            let below = interpreter.len() as i64;
            for (i, item) in interpreter.iter().enumerate() {
                table.raw_set(i as i64 - below, self.os_string(item.as_ref())?)?;
            }
            if let Some(script) = script {
                table.raw_set(0, self.os_string(script)?)?;
            }
            for (i, item) in args.iter().enumerate() {
                table.raw_set(i as i64 + 1, self.os_string(item.as_ref())?)?;
            }
            self.lua.globals().set("arg", table)
        };
        set().map_err(|e| VmError::lua("setting the global 'arg'", e))
    }

    /// Runs a script file with `args` as `arg[1..]` and `...`, like `lua FILE ARGS...`.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let script = dir.path().join("sum.lua");
    /// std::fs::write(&script, "#!/usr/bin/env lua\nresult = 0\nfor _, a in ipairs(arg) do result = result + tonumber(a) end")?;
    /// let vm = lvm::vm::Vm::new(dir.path())?;
    /// vm.run_file(&script, &["1", "2", "3"])?;
    /// assert_eq!(vm.eval::<i64>("result")?, 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_file<A: AsRef<OsStr>>(&self, path: &Path, args: &[A]) -> Result<(), VmError> {
        let bytes = std::fs::read(path).map_err(|source| VmError::Read {
            path: path.to_path_buf(),
            cause: source,
        })?;
        self.set_arg::<&OsStr, A>(&[], Some(path.as_os_str()), args)?;
        self.run_source(&bytes, &format!("@{}", path.display()), args)
    }

    /// Runs a chunk (source or precompiled; a shebang line is skipped) named `chunk_name`
    /// (`@file` or `=name`, as in Lua's `load`) with `args` as `...`. Does not touch `arg`.
    pub fn run_source<A: AsRef<OsStr>>(
        &self,
        source: &[u8],
        chunk_name: &str,
        args: &[A],
    ) -> Result<(), VmError> {
        let display = chunk_name.trim_start_matches(['@', '=']);
        let context = || format!("running {display}");
        let chunk = self
            .lua
            .load(script_source(source).as_ref())
            .set_name(chunk_name)
            .into_function()
            .map_err(|e| VmError::lua(context(), e))?;
        let values = args
            .iter()
            .map(|a| self.os_string(a.as_ref()).map(Value::String))
            .collect::<mlua::Result<Vec<Value>>>()
            .map_err(|e| VmError::lua(context(), e))?;
        self.call_protected(&chunk, values)
            .map(drop)
            .map_err(|e| VmError::lua(context(), e))
    }

    /// Calls `f` with the standalone interpreter's message handler, so a failure carries the
    /// message and traceback `lua` would print.
    fn call_protected(&self, f: &Function, args: Vec<Value>) -> mlua::Result<MultiValue> {
        let mut call_args = MultiValue::with_capacity(args.len() + 1);
        call_args.push_back(Value::Function(f.clone()));
        call_args.extend(args);
        let mut results: MultiValue = self.protected_call.call(call_args)?;
        match results.pop_front() {
            Some(Value::Boolean(true)) => Ok(results),
            _ => {
                let message = match results.pop_front() {
                    Some(Value::String(s)) => s.to_string_lossy(),
                    Some(other) => format!("{other:?}"),
                    None => "(no error message)".to_string(),
                };
                Err(mlua::Error::RuntimeError(message))
            }
        }
    }

    /// Compiles a line (or lines) typed at a prompt: as `return <input>` when that is an
    /// expression, else as statements; `=expr` is accepted as in Lua 5.1-5.3.
    pub fn compile_interactive(&self, input: &str) -> Interactive {
        let input = input.strip_prefix('=').unwrap_or(input);
        if let Some(chunk) = self.compile_expression(input, "=stdin") {
            return Interactive::Ready {
                chunk,
                expression: true,
            };
        }
        match self.lua.load(input).set_name("=stdin").into_function() {
            Ok(chunk) => Interactive::Ready {
                chunk,
                expression: false,
            },
            Err(mlua::Error::SyntaxError {
                incomplete_input: true,
                ..
            }) => Interactive::Incomplete,
            Err(e) => Interactive::Error(VmError::lua("stdin", e)),
        }
    }

    /// Calls a chunk from [`Vm::compile_interactive`] and prints its results with the global
    /// `print`, as `lua -i` does.
    pub fn call_interactive(&self, chunk: &Function) -> Result<(), VmError> {
        let results = self
            .call_protected(chunk, vec![])
            .map_err(|e| VmError::lua("stdin", e))?;
        if results.is_empty() {
            return Ok(());
        }
        let print: Function = self
            .lua
            .globals()
            .get("print")
            .map_err(|e| VmError::lua("calling 'print'", e))?;
        print
            .call::<()>(results)
            .map_err(|e| VmError::lua("calling 'print'", e))
    }

    fn compile_expression(&self, code: &str, name: &str) -> Option<Function> {
        self.lua
            .load(format!("return {code}"))
            .set_name(name)
            .into_function()
            .ok()
    }

    fn os_string(&self, s: &OsStr) -> mlua::Result<mlua::LuaString> {
        self.lua.create_string(os_bytes(s).as_ref())
    }
}

/// The bytes of an OS string (exact on Unix, where arguments and paths are bytes).
fn os_bytes(s: &OsStr) -> Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Cow::Borrowed(s.as_bytes())
    }
    #[cfg(not(unix))]
    {
        match s.to_string_lossy() {
            Cow::Borrowed(t) => Cow::Borrowed(t.as_bytes()),
            Cow::Owned(t) => Cow::Owned(t.into_bytes()),
        }
    }
}

/// Puts a tree of Lua `lua` on a command's module paths and `PATH`: `LUA_PATH`, `LUA_CPATH`
/// and, for the versions that read them, their versioned forms (`LUA_PATH_5_4`, which Lua 5.4
/// prefers, so an inherited one cannot hide the tree), and the tree's `bin` in front of `PATH`.
pub fn apply_paths(command: &mut Command, paths: &LuaPaths, lua: LuaVersion) {
    command
        .env("LUA_PATH", &paths.lua_path)
        .env("LUA_CPATH", &paths.lua_cpath)
        .env("PATH", prepend_path(&paths.path, std::env::var_os("PATH")));
    if let Some(v) = lua.path_var_suffix() {
        command
            .env(format!("LUA_PATH_{v}"), &paths.lua_path)
            .env(format!("LUA_CPATH_{v}"), &paths.lua_cpath);
    }
}

/// Makes `command` run on the tree at `tree_root` of Lua `lua`, as `lvm exec` runs programs:
/// the tree on its module paths and `PATH` (see [`apply_paths`]), and `LVM_LUA` naming the
/// interpreter the scripts of the tree's `bin` run with, when there is one.
pub fn in_tree(
    command: &mut Command,
    tree_root: &Path,
    lua: LuaVersion,
    interpreter: Option<&Path>,
) -> Result<(), TreeError> {
    apply_paths(command, &tree::lua_path_strings(tree_root, lua)?, lua);
    if let Some(bin) = interpreter {
        command.env("LVM_LUA", bin);
    }
    Ok(())
}

/// `dir` followed by the entries of `path` (which may be absent or empty).
pub fn prepend_path(dir: &str, path: Option<OsString>) -> OsString {
    let mut out = OsString::from(dir);
    if let Some(rest) = path.filter(|p| !p.is_empty()) {
        out.push(":");
        out.push(rest);
    }
    out
}

/// The exit code a shell reports for a finished process: its code, or 128 + the signal that
/// ended it.
pub fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    1
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// An external Lua interpreter (Debian's `lua5.4`, LuaJIT, a rock's script...) started with an
/// environment's module paths.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let share = dir.path().join("share/lua/5.4");
/// # std::fs::create_dir_all(&share)?;
/// # std::fs::write(share.join("greet.lua"), "return { hi = function(n) return 'hi ' .. n end }")?;
/// let v54 = lvm::luaversion::LuaVersion::Lua54;
/// let paths = lvm::tree::lua_path_strings(dir.path(), v54)?;
/// if let Some(lua) = lvm::vm::LuaProcess::find_system() {
///     let mut lines = Vec::new();
///     let status = lvm::vm::LuaProcess::new(&lua, &paths, v54)
///         .args(["-e", "print(require('greet').hi('there'))"])
///         .stream(|_, line| lines.push(line.to_string()))?;
///     assert!(status.success());
///     assert_eq!(lines, ["hi there"]);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LuaProcess {
    program: String,
    command: Command,
}

impl LuaProcess {
    /// `program` (a name looked up on `PATH`, which starts with the tree's `bin`, or a path)
    /// with the module paths of `paths`.
    pub fn new(program: impl AsRef<OsStr>, paths: &LuaPaths, lua: LuaVersion) -> LuaProcess {
        let mut command = Command::new(program.as_ref());
        apply_paths(&mut command, paths, lua);
        LuaProcess {
            program: program.as_ref().to_string_lossy().into_owned(),
            command,
        }
    }

    /// The system's Lua 5.4: `LVM_LUA` when set (as the `bin/` wrappers do), else the first of
    /// [`SYSTEM_INTERPRETERS`] on `PATH`.
    pub fn find_system() -> Option<PathBuf> {
        if let Some(chosen) = std::env::var_os("LVM_LUA").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(chosen));
        }
        let path = std::env::var_os("PATH")?;
        SYSTEM_INTERPRETERS.iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| crate::fsutil::is_executable(candidate))
        })
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> LuaProcess {
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> LuaProcess {
        self.command.args(args);
        self
    }

    /// The command itself, to set a working directory or more variables.
    pub fn command_mut(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Runs with this process's standard streams and waits.
    pub fn status(mut self) -> Result<ExitStatus, VmError> {
        let program = self.program;
        self.command.status().map_err(|source| VmError::Spawn {
            program,
            cause: source,
        })
    }

    /// Runs with its output piped, calling `on_line` for each line of stdout and stderr as it
    /// arrives (invalid UTF-8 is replaced), and returns how it ended.
    pub fn stream(mut self, mut on_line: impl FnMut(Stream, &str)) -> Result<ExitStatus, VmError> {
        let program = self.program;
        let mut child = self
            .command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| VmError::Spawn {
                program: program.clone(),
                cause: source,
            })?;
        let (sender, receiver) = mpsc::channel::<(Stream, io::Result<String>)>();
        let mut readers = Vec::new();
        let pipes: [(Stream, Option<Box<dyn Read + Send>>); 2] = [
            (
                Stream::Stdout,
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ),
            (
                Stream::Stderr,
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ),
        ];
        for (stream, pipe) in pipes {
            let Some(pipe) = pipe else { continue };
            let sender = sender.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).split(b'\n') {
                    let line = line.map(|bytes| {
                        let text = String::from_utf8_lossy(&bytes);
                        text.strip_suffix('\r').unwrap_or(&text).to_string()
                    });
                    let failed = line.is_err();
                    if sender.send((stream, line)).is_err() || failed {
                        break;
                    }
                }
            }));
        }
        drop(sender);
        let mut read_error = None;
        for (stream, line) in receiver {
            match line {
                Ok(text) => on_line(stream, &text),
                Err(e) => read_error = Some(e),
            }
        }
        for reader in readers {
            let _ = reader.join();
        }
        let status = child.wait().map_err(|source| VmError::Wait {
            program: program.clone(),
            cause: source,
        })?;
        match read_error {
            Some(source) => Err(VmError::Wait {
                program,
                cause: source,
            }),
            None => Ok(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_semicolon_stands_for_the_default() {
        assert_eq!(expand_search_path("a;;", "D"), "a;D");
        assert_eq!(expand_search_path(";;b", "D"), "D;b");
        assert_eq!(expand_search_path("a;;b", "D"), "a;D;b");
        assert_eq!(expand_search_path("a;b", "D"), "a;b");
        assert_eq!(expand_search_path(";;", "D"), "D");
        assert_eq!(expand_search_path("a;;b;;c", "D"), "a;D;b;;c");
    }

    #[test]
    fn shebang_line_is_emptied_but_counted() {
        assert_eq!(
            script_source(b"#!/usr/bin/lua\nprint(1)").as_ref(),
            b"\nprint(1)"
        );
        assert_eq!(script_source(b"print(1)").as_ref(), b"print(1)");
        assert_eq!(script_source(b"\xEF\xBB\xBFx=1").as_ref(), b"x=1");
        assert_eq!(script_source(b"#only").as_ref(), b"");
        assert_eq!(script_source(b"#!lua\n\x1bLua").as_ref(), b"\x1bLua");
    }

    #[test]
    fn path_is_prepended() {
        assert_eq!(prepend_path("/t/bin", None), "/t/bin");
        assert_eq!(prepend_path("/t/bin", Some("".into())), "/t/bin");
        assert_eq!(
            prepend_path("/t/bin", Some("/usr/bin:/bin".into())),
            "/t/bin:/usr/bin:/bin"
        );
    }

    fn vm_with_module(dir: &Path, name: &str, source: &str) -> Vm {
        let share = dir.join("share/lua/5.4");
        std::fs::create_dir_all(&share).unwrap();
        std::fs::write(share.join(format!("{name}.lua")), source).unwrap();
        Vm::new(dir).unwrap()
    }

    #[test]
    fn tree_comes_first_and_defaults_follow() {
        let dir = tempfile::tempdir().unwrap();
        let vm = vm_with_module(dir.path(), "m", "return 1");
        let path: String = vm.eval("package.path").unwrap();
        let tree = dir.path().display().to_string();
        assert!(
            path.starts_with(&format!("{tree}/share/lua/5.4/?.lua;")),
            "{path}"
        );
        assert!(path.ends_with("./?.lua;./?/init.lua"), "{path}");
        assert!(!path.contains(";;"), "{path}");
        let cpath: String = vm.eval("package.cpath").unwrap();
        assert!(
            cpath.starts_with(&format!("{tree}/lib/lua/5.4/?.so;")),
            "{cpath}"
        );
    }

    #[test]
    fn modules_load_from_the_tree_once() {
        let dir = tempfile::tempdir().unwrap();
        let vm = vm_with_module(dir.path(), "counter", "n = (n or 0) + 1; return { n = n }");
        let first: mlua::Table = vm.require("counter").unwrap();
        let _again: mlua::Table = vm.require("counter").unwrap();
        assert_eq!(first.get::<i64>("n").unwrap(), 1);
        assert_eq!(vm.eval::<i64>("n").unwrap(), 1);
        let err = vm.require::<Value>("missing_mod").unwrap_err().to_string();
        assert!(err.contains("require 'missing_mod'"), "{err}");
        assert!(err.contains("module 'missing_mod' not found"), "{err}");
    }

    #[test]
    fn runtime_errors_carry_location_and_traceback() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("boom.lua");
        std::fs::write(&script, "local x = 1\n\nerror('boom')\n").unwrap();
        let vm = Vm::new(dir.path()).unwrap();
        let err = vm.run_file(&script, &[] as &[&str]).unwrap_err();
        let message = err.lua_message().unwrap();
        assert!(
            message.starts_with(&format!("{}:3: boom", script.display())),
            "{message}"
        );
        assert!(message.contains("stack traceback:"), "{message}");
    }

    #[test]
    fn syntax_errors_name_the_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let vm = Vm::new(dir.path()).unwrap();
        let err = vm
            .run_source(b"x = = 1", "=snippet", &[] as &[&str])
            .unwrap_err();
        let message = err.lua_message().unwrap();
        assert!(message.starts_with("snippet:1:"), "{message}");
        assert!(err.to_string().starts_with("running snippet: "), "{err}");
    }

    #[test]
    fn arg_table_matches_the_standalone_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let vm = Vm::new(dir.path()).unwrap();
        vm.set_arg(&["lvm", "run"], Some(OsStr::new("s.lua")), &["a", "b"])
            .unwrap();
        let got: String = vm
            .eval("table.concat({arg[-2], arg[-1], arg[0], arg[1], arg[2]}, ' ') .. ' ' .. #arg")
            .unwrap();
        assert_eq!(got, "lvm run s.lua a b 2");
        vm.set_arg(&["lvm", "lua"], None, &[] as &[&str]).unwrap();
        let got: (String, String, Option<String>) = vm.eval("arg[-2], arg[-1], arg[0]").unwrap();
        assert_eq!(got, ("lvm".into(), "lua".into(), None));
    }

    #[test]
    fn script_arguments_are_varargs_too() {
        let dir = tempfile::tempdir().unwrap();
        let vm = Vm::new(dir.path()).unwrap();
        vm.run_source(b"got = table.concat({...}, ',')", "=t", &["x", "y"])
            .unwrap();
        assert_eq!(vm.eval::<String>("got").unwrap(), "x,y");
    }

    #[test]
    fn interactive_input_is_expression_statement_or_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let vm = Vm::new(dir.path()).unwrap();
        assert!(matches!(
            vm.compile_interactive("1 + 1"),
            Interactive::Ready {
                expression: true,
                ..
            }
        ));
        assert!(matches!(
            vm.compile_interactive("=1 + 1"),
            Interactive::Ready {
                expression: true,
                ..
            }
        ));
        assert!(matches!(
            vm.compile_interactive("x = 1"),
            Interactive::Ready {
                expression: false,
                ..
            }
        ));
        assert!(matches!(
            vm.compile_interactive("function f()"),
            Interactive::Incomplete
        ));
        assert!(matches!(
            vm.compile_interactive("x = = 1"),
            Interactive::Error(_)
        ));
    }

    #[test]
    fn streamed_process_reports_lines_and_status() {
        let paths =
            tree::lua_path_strings(Path::new("/nonexistent-tree"), LuaVersion::Lua54).unwrap();
        let mut lines = Vec::new();
        let status = LuaProcess::new("sh", &paths, LuaVersion::Lua54)
            .args(["-c", "echo \"$LUA_PATH_5_4\"; echo err >&2; exit 3"])
            .stream(|stream, line| lines.push((stream, line.to_string())))
            .unwrap();
        assert_eq!(exit_code(status), 3);
        assert!(lines.contains(&(Stream::Stdout, paths.lua_path.clone())));
        assert!(lines.contains(&(Stream::Stderr, "err".to_string())));
        let err = LuaProcess::new("/nonexistent/lua", &paths, LuaVersion::Lua54)
            .status()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/lua"), "{err}");
    }
}
