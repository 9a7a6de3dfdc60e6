//! Loading checks for `lvm doctor`: `require` of every installed module in the environment's
//! interpreter: for Lua 5.4 the embedded one (C modules included; the `lvm` binary exports the
//! Lua C API for them) with the system's `lua5.4` as a fallback for C modules it cannot link,
//! for other versions their interpreter; and the shared libraries C modules need (`ldd`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::interpreter::Interpreter;
use crate::luaversion::LuaVersion;
use crate::tree::rockfiles::{FileKind, RockFile};

/// VM instructions one `require` may run before it counts as hanging.
const INSTRUCTION_BUDGET: u64 = 50_000_000;
const HOOK_EVERY: u32 = 10_000;

/// Who ran a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// lvm's own Lua VM.
    Embedded,
    /// An interpreter program: the environment's, or for 5.4 the system's `lua5.4` when the
    /// embedded VM could not link a C module.
    External,
}

/// The outcome of requiring one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleCheck {
    pub module: String,
    /// `None` when the module loaded.
    pub error: Option<String>,
    pub loader: Loader,
}

/// `package.path` and `package.cpath` limited to the tree, so a module found only elsewhere on
/// the machine counts as missing.
pub fn search_paths(tree: &Path, lua: LuaVersion) -> (String, String) {
    let (share, lib) = (
        crate::tree::lua_dir(tree, lua),
        crate::tree::lib_dir(tree, lua),
    );
    let (s, l) = (share.display(), lib.display());
    (
        format!("{s}/?.lua;{s}/?/init.lua"),
        format!("{l}/?.{}", std::env::consts::DLL_EXTENSION),
    )
}

/// How a module that failed bare is required again, to tell a module that only fails when
/// required on its own from one that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// As a script run: the global `arg` set, standard input empty and output discarded.
    AsScript,
    /// After requiring these modules (its parents), in order.
    AfterParents(Vec<String>),
}

/// Requires each module in `interpreter`: a fresh embedded VM for each when it is the
/// embedded Lua (C modules that fail to link there are retried with the system's `lua5.4`
/// when it is installed), else its program.
pub fn check_modules(
    tree: &Path,
    interpreter: &Interpreter,
    modules: &[String],
) -> Vec<ModuleCheck> {
    modules
        .iter()
        .map(|module| require_in(tree, interpreter, module, None))
        .collect()
}

/// Requires `module` again the way `retry` says, in a fresh interpreter; `None` when it loads.
pub fn retry(
    tree: &Path,
    interpreter: &Interpreter,
    module: &str,
    retry: &Retry,
) -> Option<String> {
    require_in(tree, interpreter, module, Some(retry)).error
}

fn require_in(
    tree: &Path,
    interpreter: &Interpreter,
    module: &str,
    retry: Option<&Retry>,
) -> ModuleCheck {
    let lua = interpreter.lua;
    let external = interpreter.bin.as_deref();
    let check = |error, loader| ModuleCheck {
        module: module.to_string(),
        error,
        loader,
    };
    if !interpreter.is_embedded() {
        let error = match external {
            Some(bin) => require_external(bin, tree, lua, module, retry).err(),
            None => Some(format!("no Lua {lua} interpreter to load it in")),
        };
        return check(error, Loader::External);
    }
    match (require_embedded(tree, module, retry), external) {
        (Err(e), Some(bin)) if e.contains("undefined symbol") => check(
            require_external(bin, tree, LuaVersion::EMBEDDED, module, retry).err(),
            Loader::External,
        ),
        (result, _) => check(result.err(), Loader::Embedded),
    }
}

/// The Lua that requires a module, for both the embedded VM and an interpreter program:
/// arguments are the search paths, the module, the parents to require first (comma-separated)
/// and `"script"` to run it as a script would be.
const REQUIRE_CHUNK: &str = r#"
    local path, cpath, name, parents, mode = ...
    package.path = path
    package.cpath = cpath
    -- A module calling os.exit while loading must not end the check.
    os.exit = function() error("the module called os.exit while loading", 2) end
    -- Required as a library, a module sees no command line (the interpreter program sets one).
    arg = nil
    if mode == "script" then
        arg = { [0] = name }
        local null = io.open("/dev/null", "r")
        if null then io.stdin = null; io.input(null) end
        local sink = io.open("/dev/null", "w")
        if sink then io.stdout = sink; io.output(sink) end
        print = function() end
    end
    for parent in string.gmatch(parents, "[^,]+") do
        local ok, err = pcall(require, parent)
        if not ok then error("its parent " .. parent .. " does not load: " .. tostring(err), 0) end
    end
    local ok, err = pcall(require, name)
    if not ok then error(err, 0) end
"#;

/// The chunk's arguments after the search paths.
fn retry_args(retry: Option<&Retry>) -> (String, &'static str) {
    match retry {
        None => (String::new(), ""),
        Some(Retry::AsScript) => (String::new(), "script"),
        Some(Retry::AfterParents(parents)) => (parents.join(","), ""),
    }
}

/// The first line of a Lua error, without mlua's wrapping and the traceback.
fn first_lines(message: &str) -> String {
    let text = message.split("stack traceback").next().unwrap_or(message);
    let text = text
        .trim()
        .trim_start_matches("runtime error: ")
        .trim_start_matches("callback error: ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn require_embedded(tree: &Path, module: &str, retry: Option<&Retry>) -> Result<(), String> {
    // SAFETY: loading C modules is the point of this check. They are the environment's own
    // modules, built against the same Lua headers as this VM.
    let lua = unsafe { mlua::Lua::unsafe_new() };
    let (path, cpath) = search_paths(tree, LuaVersion::EMBEDDED);
    let steps = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&steps);
    lua.set_hook(
        mlua::HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            let done = counter.fetch_add(u64::from(HOOK_EVERY), Ordering::Relaxed);
            if done > INSTRUCTION_BUDGET {
                Err(mlua::Error::runtime(
                    "loading did not finish within the instruction budget (does it run a loop at load time?)",
                ))
            } else {
                Ok(mlua::VmState::Continue)
            }
        },
    )
    .map_err(|e| e.to_string())?;
    let (parents, mode) = retry_args(retry);
    lua.load(REQUIRE_CHUNK)
        .set_name("=lvm doctor")
        .call::<()>((path, cpath, module.to_string(), parents, mode))
        .map_err(|e| first_lines(&e.to_string()))
}

fn require_external(
    bin: &Path,
    tree: &Path,
    version: LuaVersion,
    module: &str,
    retry: Option<&Retry>,
) -> Result<(), String> {
    let lua = bin;
    let (path, cpath) = search_paths(tree, version);
    let (parents, mode) = retry_args(retry);
    // The chunk replaces os.exit and io.stderr may be the only output left: keep both.
    let script = format!(
        "local exit, stderr = os.exit, io.stderr\n\
         local ok, err = pcall((loadstring or load)({REQUIRE_CHUNK:?}), ...)\n\
         if not ok then stderr:write(tostring(err)); exit(1) end"
    );
    let out = Command::new(lua)
        .arg("-")
        .arg(&path)
        .arg(&cpath)
        .arg(module)
        .arg(&parents)
        .arg(mode)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(script.as_bytes())?;
            }
            child.wait_with_output()
        })
        .map_err(|e| format!("cannot run {}: {e}", lua.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(first_lines(&String::from_utf8_lossy(&out.stderr)))
    }
}

/// Shared libraries a C module needs that the dynamic linker cannot find, per `ldd`. `None`
/// when `ldd` is not available.
pub fn missing_libraries(shared_object: &Path) -> Option<Vec<String>> {
    let out = Command::new("ldd").arg(shared_object).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter(|l| l.contains("=> not found"))
            .filter_map(|l| l.split("=>").next())
            .map(|l| l.trim().to_string())
            .collect(),
    )
}

/// Every shared object among a rock's deployed files.
pub fn shared_objects(files: &[RockFile]) -> Vec<PathBuf> {
    let lib_ext = std::env::consts::DLL_EXTENSION;
    files
        .iter()
        .filter(|f| f.kind == FileKind::Lib)
        .map(|f| f.path.clone())
        .filter(|p| p.extension().is_some_and(|x| x == lib_ext))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_modules_load_and_failures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let lua_dir = dir.path().join("share/lua/5.4");
        std::fs::create_dir_all(lua_dir.join("pkg")).unwrap();
        std::fs::write(lua_dir.join("good.lua"), "return { ok = true }").unwrap();
        std::fs::write(lua_dir.join("pkg/init.lua"), "return require('good')").unwrap();
        std::fs::write(lua_dir.join("bad.lua"), "require('absent_module')").unwrap();
        std::fs::write(lua_dir.join("quits.lua"), "os.exit(3)").unwrap();
        std::fs::write(lua_dir.join("spins.lua"), "while true do end").unwrap();
        let modules: Vec<String> = ["good", "pkg", "bad", "quits", "spins"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let embedded = Interpreter::resolve(LuaVersion::Lua54, None).unwrap();
        let checks = check_modules(dir.path(), &embedded, &modules);
        assert_eq!(checks[0].error, None);
        assert_eq!(checks[1].error, None);
        let bad = checks[2].error.as_deref().unwrap();
        assert!(bad.contains("absent_module"), "{bad}");
        assert!(checks[3].error.as_deref().unwrap().contains("os.exit"));
        assert!(
            checks[4]
                .error
                .as_deref()
                .unwrap()
                .contains("instruction budget")
        );
    }
}
