//! Build script: bundles the Lua 5.4 C headers into the library, so lvm can compile C modules
//! on machines without a system Lua, and exports the `lvm` binary's symbols for C modules.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

/// `lua.hpp` is part of the Lua distribution but not of the headers `lua-src` copies; C++
/// modules include it, so it is added with the distribution's content.
const LUA_HPP: &str = "// lua.hpp\n\
// Lua header files for C++\n\
// 'extern \"C\" not supplied automatically in lua.h and other headers\n\
// because Lua also compiles as C++\n\
\n\
extern \"C\" {\n\
#include \"lua.h\"\n\
#include \"lualib.h\"\n\
#include \"lauxlib.h\"\n\
}\n";

const HEADERS: [&str; 5] = ["lua.h", "luaconf.h", "lualib.h", "lauxlib.h", "lua.hpp"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The same Lua sources mlua vendors, so modules compile against the exact headers of the
    // Lua that runs them.
    let artifacts = lua_src::Build::new()
        .out_dir(out_dir.join("lua-headers"))
        .build(lua_src::Version::Lua54);
    let include_dir = artifacts.include_dir().to_path_buf();

    let hpp = include_dir.join("lua.hpp");
    if !hpp.exists() {
        fs::write(&hpp, LUA_HPP).expect("write lua.hpp");
    }

    let mut generated = String::from("pub(crate) static LUA_HEADERS: &[(&str, &[u8])] = &[\n");
    for name in HEADERS {
        let path = include_dir.join(name);
        if path.exists() {
            writeln!(
                generated,
                "    ({name:?}, include_bytes!({:?})),",
                path.display().to_string()
            )
            .expect("write to String");
        }
    }
    generated.push_str("];\n");
    fs::write(out_dir.join("lua_headers.rs"), generated).expect("write lua_headers.rs");

    // C modules are shared objects that call `lua_*`/`luaL_*` without linking a Lua library
    // (LuaRocks' convention on Linux). When lvm loads them into its own process, the dynamic
    // linker can only resolve those symbols from the executable if its symbols are exported.
    // Test executables get the same, so tests can load built modules into the embedded Lua.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
        println!("cargo:rustc-link-arg-tests=-Wl,--export-dynamic");
    }
}
