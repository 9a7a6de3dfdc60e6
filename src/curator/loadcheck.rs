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

/// The modules a rock provides: Lua files under `lua/` and C modules under `lib/` of its
/// prefix (the rock dir of a tree).
pub fn modules_of(rock_dir: &Path) -> Vec<String> {
    crate::tree::rockfiles::module_names(rock_dir)
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

/// Requires each module in `interpreter`: a fresh embedded VM for each when it is the
/// embedded Lua (C modules that fail to link there are retried with the system's `lua5.4`
/// when it is installed), else its program.
pub fn check_modules(
    tree: &Path,
    interpreter: &Interpreter,
    modules: &[String],
) -> Vec<ModuleCheck> {
    let lua = interpreter.lua;
    let external = interpreter.bin.clone();
    if !interpreter.is_embedded() {
        return modules
            .iter()
            .map(|module| ModuleCheck {
                module: module.clone(),
                error: match &external {
                    Some(bin) => require_external(bin, tree, lua, module).err(),
                    None => Some(format!("no Lua {lua} interpreter to load it in")),
                },
                loader: Loader::External,
            })
            .collect();
    }
    modules
        .iter()
        .map(|module| {
            let error = require_embedded(tree, module).err();
            match (&error, &external) {
                (Some(e), Some(lua)) if e.contains("undefined symbol") => ModuleCheck {
                    module: module.clone(),
                    error: require_external(lua, tree, LuaVersion::EMBEDDED, module).err(),
                    loader: Loader::External,
                },
                _ => ModuleCheck {
                    module: module.clone(),
                    error,
                    loader: Loader::Embedded,
                },
            }
        })
        .collect()
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

fn require_embedded(tree: &Path, module: &str) -> Result<(), String> {
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
    // A module calling os.exit while loading must not end lvm.
    let prelude = r#"
        local path, cpath, name = ...
        package.path = path
        package.cpath = cpath
        os.exit = function() error("the module called os.exit while loading", 2) end
        local ok, err = pcall(require, name)
        if not ok then error(err, 0) end
    "#;
    lua.load(prelude)
        .set_name("=lvm doctor")
        .call::<()>((path, cpath, module.to_string()))
        .map_err(|e| first_lines(&e.to_string()))
}

fn require_external(
    bin: &Path,
    tree: &Path,
    version: LuaVersion,
    module: &str,
) -> Result<(), String> {
    let lua = bin;
    let (path, cpath) = search_paths(tree, version);
    let script = "local path, cpath, name = ...\n\
                  package.path = path; package.cpath = cpath\n\
                  local ok, err = pcall(require, name)\n\
                  if not ok then io.stderr:write(tostring(err)); os.exit(1) end";
    let out = Command::new(lua)
        .arg("-")
        .arg(&path)
        .arg(&cpath)
        .arg(module)
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

/// Every shared object a rock installs (under `lib/` of its rock dir).
pub fn shared_objects(rock_dir: &Path) -> Vec<PathBuf> {
    let lib_ext = std::env::consts::DLL_EXTENSION;
    walkdir::WalkDir::new(rock_dir.join("lib"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
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
