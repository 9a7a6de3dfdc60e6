//! Build script: bundles the Lua 5.4 C headers into the library, so lvm can compile C modules
//! on machines without a system Lua, exports the `lvm` binary's symbols for C modules, and tells
//! the integration tests which optional tools are installed ([`test_tool_cfgs`]), and packs the
//! sources of every Lua interpreter lvm can provision ([`pack_runtime_sources`]).

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
    // Only the Lua C API is exported: exporting every Rust symbol made the dynamic symbol table
    // 1.4 MB that the loader consults on every symbol lookup at start-up.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let list = out_dir.join("lua-api.dynamic-list");
        fs::write(&list, "{\n  lua_*;\n  luaL_*;\n  luaopen_*;\n};\n")
            .expect("write the dynamic list");
        let arg = format!("-Wl,--dynamic-list={}", list.display());
        println!("cargo:rustc-link-arg-bins={arg}");
        println!("cargo:rustc-link-arg-tests={arg}");
    }

    pack_runtime_sources(&out_dir);
    test_tool_cfgs();
}

/// The PUC-Rio releases `lua-src` carries, as (lvm's id, the crate's folder).
const PUC_SOURCES: [(&str, &str); 5] = [
    ("5.1", "lua-5.1.5"),
    ("5.2", "lua-5.2.4"),
    ("5.3", "lua-5.3.6"),
    ("5.4", "lua-5.4.9"),
    ("5.5", "lua-5.5.1"),
];

/// Packs the sources of Lua 5.1 to 5.5 (from `lua-src`) and LuaJIT 2.1 (from `luajit-src`) as
/// gzipped tarballs in OUT_DIR, and writes `runtime_sources.rs`, which `runtime::sources`
/// includes: lvm builds an interpreter from them on first use, without any network.
fn pack_runtime_sources(out_dir: &std::path::Path) {
    use std::path::Path;

    println!("cargo:rerun-if-changed=Cargo.lock");
    let lua_src = crate_dir("lua-src");
    let luajit_src = crate_dir("luajit-src");

    let mut generated = String::from(
        "/// (id, release, gzipped tar of the source folder), one per interpreter.\n\
         pub(crate) static SOURCES: &[(&str, &str, &[u8])] = &[\n",
    );
    let mut add = |id: &str, release: &str, tarball: &Path| {
        writeln!(
            generated,
            "    ({id:?}, {release:?}, include_bytes!({:?})),",
            tarball.display().to_string()
        )
        .expect("write to String");
    };
    for (id, folder) in PUC_SOURCES {
        let dir = lua_src.join(folder);
        let tarball = out_dir.join(format!("{folder}.tar.gz"));
        pack_dir(&dir, &[], &tarball);
        add(id, folder.trim_start_matches("lua-"), &tarball);
    }
    // LuaJIT's makefile reads its release number from `.relver` outside a git checkout.
    let relver = fs::read_to_string(luajit_src.join("luajit_relver.txt"))
        .expect("luajit-src carries luajit_relver.txt");
    let relver = relver.trim();
    let tarball = out_dir.join("luajit-2.1.tar.gz");
    pack_dir(
        &luajit_src.join("luajit2"),
        &[(".relver", format!("{relver}\n").into_bytes())],
        &tarball,
    );
    add("luajit", &format!("2.1.{relver}"), &tarball);
    generated.push_str("];\n");
    fs::write(out_dir.join("runtime_sources.rs"), generated).expect("write runtime_sources.rs");
}

/// The source folder of a (build-)dependency, as `cargo metadata` knows it: the registry copy,
/// a vendored copy or a path override alike.
fn crate_dir(name: &str) -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("Cargo.toml");
    let host = env::var("HOST").expect("cargo sets HOST");
    // First `--frozen`: never touch the lock or the network when the build already has every
    // package. `cargo metadata` lists dev-dependencies too, which `cargo build` and
    // `cargo install` do not download, so a fresh machine needs the second try, `--locked`:
    // it may download them but never changes the lock. `--filter-platform`: only what this
    // machine's build needs.
    let metadata = |lock_flag: &str| {
        std::process::Command::new(&cargo)
            .args(["metadata", "--format-version", "1", lock_flag])
            .args(["--filter-platform", &host, "--manifest-path"])
            .arg(&manifest)
            .output()
            .expect("run cargo metadata")
    };
    let mut output = metadata("--frozen");
    if !output.status.success() {
        output = metadata("--locked");
    }
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let package = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("{name} is a build-dependency"));
    let manifest_path = package["manifest_path"].as_str().expect("manifest_path");
    PathBuf::from(manifest_path)
        .parent()
        .expect("a manifest is in a folder")
        .to_path_buf()
}

/// Writes `dir` (and the `extra` files at its top) as a gzipped tar at `to`, with sorted
/// entries, zero times and owners, so the bytes (and the interpreters' hashes) depend on the
/// sources only.
fn pack_dir(dir: &std::path::Path, extra: &[(&str, Vec<u8>)], to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                files(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    fn header(size: usize, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_size(size as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        header
    }

    let mut paths = Vec::new();
    files(dir, dir, &mut paths);
    let file = fs::File::create(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let mut archive = tar::Builder::new(gz);
    for path in &paths {
        let full = dir.join(path);
        let data = fs::read(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()));
        let executable = full.metadata().map(|m| m.permissions().mode() & 0o111 != 0);
        let mode = if executable.unwrap_or(false) {
            0o755
        } else {
            0o644
        };
        let mut header = header(data.len(), mode);
        archive
            .append_data(&mut header, path, data.as_slice())
            .expect("append to tar");
    }
    for (name, data) in extra {
        let mut header = header(data.len(), 0o644);
        archive
            .append_data(&mut header, name, data.as_slice())
            .expect("append to tar");
    }
    archive
        .into_inner()
        .and_then(|gz| gz.finish())
        .expect("finish the tarball");
}

/// Tells the integration tests (`tests/it`) which of the tools and files some of them need (and
/// lvm does not ship) are here, as `lvm_has_*` cfgs. A test that needs one is marked
/// `#[cfg_attr(not(lvm_has_...), ignore = "...")]`, so without it the test shows as ignored
/// instead of passing without checking anything.
fn test_tool_cfgs() {
    use std::path::{Path, PathBuf};

    const TOOLS: [(&str, &str); 14] = [
        ("lvm_has_cmake", "cmake"),
        ("lvm_has_fish", "fish"),
        ("lvm_has_zsh", "zsh"),
        ("lvm_has_ssh_keygen", "ssh-keygen"),
        ("lvm_has_lua51", "lua5.1"),
        ("lvm_has_lua52", "lua5.2"),
        ("lvm_has_lua53", "lua5.3"),
        ("lvm_has_lua54", "lua5.4"),
        ("lvm_has_luajit", "luajit"),
        ("lvm_has_luarocks", "luarocks"),
        ("lvm_has_luarocks_admin", "luarocks-admin"),
        ("lvm_has_python3", "python3"),
        // Makes the throwaway certificate authority of the HTTPS tests.
        ("lvm_has_openssl", "openssl"),
        // An S3-compatible server on a folder, for the build cache tests (`.ci/run` builds it).
        ("lvm_has_s3s_fs", "s3s-fs"),
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
    // OpenSSH's server (Debian's openssh-server), which the ssh transport tests start on
    // 127.0.0.1. It is looked for where Debian puts it, since sbin folders are often not on
    // PATH, and tests run it by that absolute path (sshd re-executes itself).
    const SSHD: &str = "/usr/sbin/sshd";
    println!("cargo::rerun-if-changed={SSHD}");
    all_installed &= found("lvm_has_sshd", executable(Path::new(SSHD)));
    // OpenSSL's headers and library (Debian's libssl-dev), which the LuaRocks-shaped fixtures
    // that mirror luasec link against.
    let openssl_files = [
        "/usr/include/openssl/ssl.h",
        "/usr/lib/x86_64-linux-gnu/libssl.so",
    ];
    for file in openssl_files {
        println!("cargo::rerun-if-changed={file}");
    }
    let openssl_lib = [
        "/usr/lib",
        "/usr/lib64",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
    ]
    .iter()
    .any(|dir| Path::new(dir).join("libssl.so").exists());
    all_installed &= found(
        "lvm_has_openssl_dev",
        Path::new("/usr/include/openssl/ssl.h").is_file() && openssl_lib,
    );
    // Running as root, which can give a folder to another user: the test of an environment
    // owned by someone else needs it. What the build makes is owned by whoever builds, so
    // the owner of OUT_DIR says who that is (tests run as the user who builds them).
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let out = env::var_os("OUT_DIR").map(PathBuf::from);
        let root = out.is_some_and(|dir| dir.metadata().is_ok_and(|m| m.uid() == 0));
        found("lvm_runs_as_root", root);
    }
    #[cfg(not(unix))]
    found("lvm_runs_as_root", false);
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
