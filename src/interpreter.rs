//! The Lua interpreter of an environment: the program that runs its Lua and the headers its C
//! modules compile against, resolved in one place ([`Interpreter::resolve`]).
//!
//! The order is: the chosen interpreter (`--lua-bin`, `LVM_LUA_BIN`, the `lua_bin` setting),
//! checked to be a Lua of the environment's version; for Lua 5.4 the embedded interpreter
//! (with lvm's bundled headers); otherwise the system's command for that version (`lua5.1`,
//! `luajit`) with its headers (`/usr/include/lua5.1`, `/usr/include/luajit-2.1`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thiserror::Error;

use crate::errors::ErrorKind;
use crate::luaversion::LuaVersion;

/// Lua code that prints which Lua runs it: `LuaJIT 2.1.0-beta3` or `Lua 5.1`.
pub const PROBE: &str = "io.write(jit and jit.version or _VERSION)";

/// Where an environment's interpreter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// lvm's own Lua 5.4 (`bin` is the system's `lua5.4` when there is one, for scripts).
    Embedded,
    /// `--lua-bin`, `LVM_LUA_BIN` or the `lua_bin` setting.
    Chosen,
    /// The system's command for the version, found on `PATH`.
    System,
    /// A runtime lvm built from the sources it carries (`lvm runtime`), when the system has no
    /// interpreter for the version.
    Provisioned,
}

/// The interpreter an environment runs and builds with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub lua: LuaVersion,
    pub source: Source,
    /// The program; `None` only for the embedded Lua on a system without `lua5.4`.
    pub bin: Option<PathBuf>,
    /// The directory holding its `lua.h`; `None` means lvm's bundled Lua 5.4 headers.
    pub include_dir: Option<PathBuf>,
}

/// Why an environment has no interpreter to run and build with.
#[derive(Debug, Error)]
pub enum InterpreterError {
    #[error(
        "no Lua {lua} interpreter found on PATH (looked for {}): install it{}, or choose one \
         with --lua-bin PATH or `lvm config set lua_bin PATH`",
        tried.join(", "), debian_hint(*lua)
    )]
    NotFound { lua: LuaVersion, tried: Vec<String> },
    #[error(
        "{}: not a Lua interpreter (running it with -e '{PROBE}' {outcome}); give the path of \
         a Lua {lua} interpreter (lvm knows Lua {})", bin.display(), LuaVersion::accepted()
    )]
    NotLua {
        bin: PathBuf,
        lua: LuaVersion,
        outcome: String,
    },
    #[error(
        "{}: it is {found_text}, but the environment's Lua is {lua}; give a Lua {lua} \
         interpreter, or create an environment for {found} (`lvm init --lua {found}`)",
        bin.display()
    )]
    WrongVersion {
        bin: PathBuf,
        lua: LuaVersion,
        found: LuaVersion,
        found_text: String,
    },
}

impl InterpreterError {
    /// A chosen interpreter that is not a Lua of the environment's version is a bad setting
    /// (`--lua-bin`, `LVM_LUA_BIN`, `lua_bin`); a system without the version's Lua is not a
    /// fault of the request.
    pub fn kind(&self) -> ErrorKind {
        match self {
            InterpreterError::NotLua { .. } | InterpreterError::WrongVersion { .. } => {
                ErrorKind::BadInput
            }
            InterpreterError::NotFound { .. } => ErrorKind::Other,
        }
    }
}

/// The Debian packages of an interpreter and its headers, for messages.
fn debian_hint(lua: LuaVersion) -> String {
    let packages = match lua {
        LuaVersion::Lua51 => "lua5.1 liblua5.1-0-dev",
        LuaVersion::LuaJit => "luajit libluajit-5.1-dev",
        LuaVersion::Lua55 => return String::new(),
        LuaVersion::Lua52 => "lua5.2 liblua5.2-dev",
        LuaVersion::Lua53 => "lua5.3 liblua5.3-dev",
        LuaVersion::Lua54 => "lua5.4 liblua5.4-dev",
    };
    format!(" (Debian: apt install {packages})")
}

impl Interpreter {
    /// The interpreter of an environment for `lua`, with `chosen` its `lua_bin` setting.
    pub fn resolve(
        lua: LuaVersion,
        chosen: Option<&Path>,
    ) -> Result<Interpreter, InterpreterError> {
        if let Some(bin) = chosen {
            return Interpreter::chosen(lua, bin);
        }
        let path = std::env::var_os("PATH");
        let found = find_command(lua, path.clone());
        if lua.is_embedded() {
            return Ok(Interpreter {
                lua,
                source: Source::Embedded,
                bin: found,
                include_dir: None,
            });
        }
        let bin = found.ok_or_else(|| InterpreterError::NotFound {
            lua,
            tried: lua.system_commands(),
        })?;
        Ok(Interpreter {
            lua,
            source: Source::System,
            include_dir: find_headers(lua, &bin),
            bin: Some(bin),
        })
    }

    /// `bin`, checked to be a Lua interpreter of version `lua` (it is run once).
    pub fn chosen(lua: LuaVersion, bin: &Path) -> Result<Interpreter, InterpreterError> {
        let found = probe(bin).map_err(|outcome| InterpreterError::NotLua {
            bin: bin.to_path_buf(),
            lua,
            outcome,
        })?;
        let (found, found_text) = found;
        if found != lua {
            return Err(InterpreterError::WrongVersion {
                bin: bin.to_path_buf(),
                lua,
                found,
                found_text,
            });
        }
        Ok(Interpreter {
            lua,
            source: Source::Chosen,
            include_dir: (!lua.is_embedded())
                .then(|| find_headers(lua, bin))
                .flatten(),
            bin: Some(bin.to_path_buf()),
        })
    }

    /// A runtime lvm provisioned: its program and headers.
    pub fn provisioned(lua: LuaVersion, bin: PathBuf, include_dir: PathBuf) -> Interpreter {
        Interpreter {
            lua,
            source: Source::Provisioned,
            bin: Some(bin),
            include_dir: Some(include_dir),
        }
    }

    /// Whether Lua runs in lvm's own process (`lvm run`, `lvm lua`).
    pub fn is_embedded(&self) -> bool {
        self.source == Source::Embedded
    }

    /// What `lvm doctor` and messages call it: `the embedded Lua 5.4`, `/usr/bin/luajit`.
    pub fn describe(&self) -> String {
        match (&self.source, &self.bin) {
            (Source::Embedded, _) => format!("the embedded Lua {}", self.lua),
            (_, Some(bin)) => bin.display().to_string(),
            (_, None) => format!("Lua {}", self.lua),
        }
    }
}

/// Runs `bin` with [`PROBE`]: the version it reports and its own words, or why it is not a Lua.
pub fn probe(bin: &Path) -> Result<(LuaVersion, String), String> {
    let output = Command::new(bin)
        .args(["-e", PROBE])
        .env_remove("LUA_INIT")
        .env_remove("LUA_INIT_5_2")
        .env_remove("LUA_INIT_5_3")
        .env_remove("LUA_INIT_5_4")
        .env_remove("LUA_INIT_5_5")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("failed to start: {e}"))?;
    let said = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(format!("failed with {}: {first}", output.status));
    }
    match LuaVersion::from_banner(&said) {
        Some(v) => Ok((v, said)),
        None => Err(format!("printed '{said}'")),
    }
}

/// The first of the version's system commands on `path` (a `PATH`-style list).
pub fn find_command(lua: LuaVersion, path: Option<OsString>) -> Option<PathBuf> {
    let path = path?;
    lua.system_commands().iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| crate::fsutil::is_executable(candidate))
    })
}

/// The include directory with `lua.h` for `lua` next to the interpreter `bin` (its prefix's
/// `include/`, `include/lua5.1`, `include/luajit-2.1`), else in the system's places.
pub fn find_headers(lua: LuaVersion, bin: &Path) -> Option<PathBuf> {
    let bin = std::fs::canonicalize(bin).unwrap_or_else(|_| bin.to_path_buf());
    let prefix = bin.parent().and_then(Path::parent);
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(prefix) = prefix {
        let include = prefix.join("include");
        for dir in lua.system_include_dirs() {
            if let Some(name) = Path::new(&dir).file_name() {
                candidates.push(include.join(name));
            }
        }
        candidates.push(include);
    }
    candidates.extend(lua.system_include_dirs().into_iter().map(PathBuf::from));
    candidates
        .into_iter()
        .find(|dir| headers_match(lua, &dir.join("lua.h")))
}

/// Whether `lua_h` is the header of `lua`: its `LUA_VERSION_NUM` (501 for 5.1 and LuaJIT),
/// and `luajit.h` beside it exactly for LuaJIT.
fn headers_match(lua: LuaVersion, lua_h: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(lua_h) else {
        return false;
    };
    let wanted = lua.abi().replace('.', "0");
    let num = text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("#define") && words.next() == Some("LUA_VERSION_NUM"))
            .then(|| words.next().map(str::to_string))
            .flatten()
    });
    let jit = lua_h.with_file_name("luajit.h").is_file();
    num.as_deref() == Some(wanted.as_str()) && jit == lua.is_luajit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(dir: &Path, num: &str, jit: bool) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("lua.h"),
            format!("#define LUA_VERSION_NUM\t{num}\n"),
        )
        .unwrap();
        if jit {
            std::fs::write(dir.join("luajit.h"), "").unwrap();
        }
    }

    #[test]
    fn headers_are_found_beside_the_interpreter_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        let bin = prefix.join("bin/luajit");
        std::fs::write(&bin, "").unwrap();
        // A 5.1 header is not LuaJIT's.
        header(&prefix.join("include/lua5.1"), "501", false);
        assert_ne!(
            find_headers(LuaVersion::LuaJit, &bin),
            Some(prefix.join("include/lua5.1"))
        );
        header(&prefix.join("include/luajit-2.1"), "501", true);
        assert_eq!(
            find_headers(LuaVersion::LuaJit, &bin),
            Some(prefix.join("include/luajit-2.1"))
        );
        header(&prefix.join("include"), "503", false);
        assert_eq!(
            find_headers(LuaVersion::Lua53, &bin),
            Some(prefix.join("include"))
        );
    }

    #[test]
    fn a_program_that_is_no_lua_is_refused_by_name() {
        let err = Interpreter::chosen(LuaVersion::Lua51, Path::new("/bin/true")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/bin/true: not a Lua interpreter"),
            "{text}"
        );
        assert!(text.contains("5.1, 5.2, 5.3, 5.4, 5.5, luajit"), "{text}");
        let err = Interpreter::chosen(LuaVersion::Lua51, Path::new("/no/such/lua")).unwrap_err();
        assert!(err.to_string().contains("failed to start"), "{err}");
    }

    #[test]
    fn the_embedded_lua_serves_5_4_without_any_system_lua() {
        let found = Interpreter::resolve(LuaVersion::Lua54, None).unwrap();
        assert!(found.is_embedded());
        assert_eq!(found.include_dir, None);
    }
}
