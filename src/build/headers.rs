//! The Lua 5.4 C headers bundled into lvm at compile time (see the crate's `build.rs`), so C
//! modules build without a system Lua development package.

use std::fs;
use std::path::Path;

use super::BuildError;

include!(concat!(env!("OUT_DIR"), "/lua_headers.rs"));

/// The bundled headers as (file name, contents): `lua.h`, `luaconf.h`, `lualib.h`,
/// `lauxlib.h` and `lua.hpp`.
pub fn lua_headers() -> &'static [(&'static str, &'static [u8])] {
    LUA_HEADERS
}

/// Writes the bundled headers into `dir` (created if needed), to be used as `LUA_INCDIR`.
pub fn write_lua_headers(dir: &Path) -> Result<(), BuildError> {
    fs::create_dir_all(dir)
        .map_err(|e| BuildError::io("create the Lua include directory", dir, e))?;
    for (name, contents) in LUA_HEADERS {
        let path = dir.join(name);
        // Leave identical files alone so a shared include directory is never half-written
        // while another build reads it.
        if fs::read(&path).is_ok_and(|existing| existing == *contents) {
            continue;
        }
        fs::write(&path, contents).map_err(|e| BuildError::io("write Lua header", &path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str) -> &'static str {
        let (_, bytes) = lua_headers()
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is bundled"));
        std::str::from_utf8(bytes).expect("headers are text")
    }

    #[test]
    fn bundled_lua_h_is_lua_5_4() {
        let version_num = header("lua.h").lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("#define") && words.next() == Some("LUA_VERSION_NUM"))
                .then(|| words.next())
                .flatten()
        });
        assert_eq!(version_num, Some("504"));
    }

    #[test]
    fn all_headers_a_c_module_needs_are_bundled() {
        let names: Vec<&str> = lua_headers().iter().map(|(n, _)| *n).collect();
        for needed in ["lua.h", "luaconf.h", "lualib.h", "lauxlib.h", "lua.hpp"] {
            assert!(names.contains(&needed), "{needed} missing from {names:?}");
        }
        assert!(header("lauxlib.h").contains("luaL_newlib"));
    }

    #[test]
    fn headers_are_written_and_rewritten_idempotently() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inc = dir.path().join("include");
        write_lua_headers(&inc).expect("write");
        write_lua_headers(&inc).expect("write again");
        let lua_h = fs::read_to_string(inc.join("lua.h")).expect("lua.h written");
        assert_eq!(lua_h, header("lua.h"));
        assert!(inc.join("luaconf.h").is_file());
    }
}
