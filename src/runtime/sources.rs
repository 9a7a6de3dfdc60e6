//! The interpreter sources lvm carries in its binary (packed by `build.rs`: Lua 5.1 to 5.5 from
//! `lua-src`, LuaJIT 2.1 from `luajit-src`) and our own `lua` front-end for the PUC releases.

use std::fs;
use std::path::Path;

use super::RuntimeError;
use crate::luaversion::LuaVersion;

include!(concat!(env!("OUT_DIR"), "/runtime_sources.rs"));

/// The standalone `lua` command of the PUC releases (theirs is not among the carried sources).
pub(super) const FRONT_END: &[u8] = include_bytes!("lua_main.c");
/// The name the front-end gets beside the Lua sources while building.
pub(super) const FRONT_END_NAME: &str = "lvm_lua.c";

/// (id, release, gzipped tar) of one interpreter.
fn entry(interpreter: LuaVersion) -> &'static (&'static str, &'static str, &'static [u8]) {
    SOURCES
        .iter()
        .find(|(id, _, _)| *id == interpreter.as_str())
        .expect("build.rs packs every interpreter")
}

/// The release the carried sources are: `5.1.5`, `2.1.1788856981`.
pub(super) fn release(interpreter: LuaVersion) -> &'static str {
    entry(interpreter).1
}

/// The packed sources' bytes, compressed.
pub(super) fn tarball(interpreter: LuaVersion) -> &'static [u8] {
    entry(interpreter).2
}

/// Unpacks the sources of `interpreter` into `dir` (made by the caller, empty), and for the PUC
/// releases our front-end beside them.
pub(super) fn unpack(interpreter: LuaVersion, dir: &Path) -> Result<(), RuntimeError> {
    let gz = flate2::read::GzDecoder::new(tarball(interpreter));
    tar::Archive::new(gz)
        .unpack(dir)
        .map_err(|e| RuntimeError::io("unpack the interpreter sources into", dir, e))?;
    if !interpreter.is_luajit() {
        let path = dir.join(FRONT_END_NAME);
        fs::write(&path, FRONT_END).map_err(|e| RuntimeError::io("write", &path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interpreter_unpacks_with_its_front_end() {
        for interpreter in LuaVersion::ALL {
            let dir = tempfile::tempdir().unwrap();
            unpack(interpreter, dir.path()).unwrap();
            let expected: &[&str] = if interpreter.is_luajit() {
                &["src/luajit.c", "src/lua.h", "src/Makefile", ".relver"]
            } else {
                &["lapi.c", "lua.h", "luaconf.h", FRONT_END_NAME]
            };
            for file in expected {
                assert!(dir.path().join(file).is_file(), "{interpreter:?}: {file}");
            }
        }
    }

    #[test]
    fn releases_are_the_carried_ones() {
        assert_eq!(release(LuaVersion::Lua51), "5.1.5");
        assert_eq!(release(LuaVersion::Lua53), "5.3.6");
        assert!(release(LuaVersion::LuaJit).starts_with("2.1."));
    }
}
