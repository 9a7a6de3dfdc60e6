//! Build script: bundles the Lua 5.4 C headers into the library, so lvm can compile C modules
//! on machines without a system Lua, exports the `lvm` binary's symbols for C modules, and tells
//! the integration tests which optional tools are installed ([`test_tool_cfgs`]).

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

    test_tool_cfgs();
}

/// Tells the integration tests (`tests/it`) which of the tools and files some of them need (and
/// lvm does not ship) are here, as `lvm_has_*` cfgs. A test that needs one is marked
/// `#[cfg_attr(not(lvm_has_...), ignore = "...")]`, so without it the test shows as ignored
/// instead of passing without checking anything.
fn test_tool_cfgs() {
    use std::path::{Path, PathBuf};

    const TOOLS: [(&str, &str); 7] = [
        ("lvm_has_cmake", "cmake"),
        ("lvm_has_fish", "fish"),
        ("lvm_has_zsh", "zsh"),
        ("lvm_has_lua54", "lua5.4"),
        ("lvm_has_luarocks", "luarocks"),
        ("lvm_has_luarocks_admin", "luarocks-admin"),
        ("lvm_has_python3", "python3"),
    ];
    const SHARED_ORDER: &str = "../shared/data/luarocks-version-order.tsv";

    fn executable(path: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        {
            path.is_file() || path.with_extension("exe").is_file()
        }
    }

    println!("cargo::rerun-if-env-changed=PATH");
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in env::split_paths(&env::var_os("PATH").unwrap_or_default()) {
        if dir.is_absolute() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let found = |cfg: &str, here: bool| {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if here {
            println!("cargo::rustc-cfg={cfg}");
        }
        here
    };

    let mut all_installed = true;
    for (cfg, tool) in TOOLS {
        all_installed &= found(cfg, dirs.iter().any(|dir| executable(&dir.join(tool))));
    }
    // LuaRocks' own modules, which the version tests run under lua5.4 to compare verdicts.
    all_installed &= found(
        "lvm_has_luarocks_modules",
        ["/usr/share/lua", "/usr/local/share/lua"]
            .iter()
            .flat_map(|root| ["5.4", "5.3", "5.2", "5.1"].map(|v| Path::new(root).join(v)))
            .any(|dir| dir.join("luarocks/core/vers.lua").is_file()),
    );
    // Something missing: look again when a program is installed into a PATH folder (installing
    // LuaRocks also adds `luarocks` there), not only when PATH itself changes.
    if !all_installed {
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }

    // A version-order table kept beside the checkout, shared with other LuaRocks tools.
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let shared = manifest_dir.join(SHARED_ORDER);
    if !found("lvm_has_shared_version_order", shared.is_file()) {
        // Its folder, when there is one, so the file appearing there is noticed.
        if let Some(dir) = shared.ancestors().skip(1).take(2).find(|d| d.is_dir()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
}
