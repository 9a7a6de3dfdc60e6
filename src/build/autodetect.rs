//! Rockspec format 3.0 lets a `builtin` build omit `build.modules`: the modules, scripts and
//! documentation directories are then found in the sources, as LuaRocks'
//! `builtin.autodetect_modules` does.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::rockspec::{CModule, InstallEntry, Module};

/// What autodetection found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detected {
    pub modules: BTreeMap<String, Module>,
    /// Files of `src/bin` or `bin`, for `build.install.bin`.
    pub bin: Vec<InstallEntry>,
    /// Which of `doc`, `docs`, `samples`, `tests` exist, for `build.copy_directories`.
    pub copy_directories: Vec<String>,
}

/// Top-level names never taken for modules.
const SKIP: [&str; 5] = ["spec", ".luarocks", "lua_modules", "test.lua", "tests.lua"];

/// Scans `source_dir`: modules under the first of `src`, `lua`, `lib` that exists (else the
/// whole tree). `a/b.lua` is module `a.b`; `x.c` is a C module named after its
/// `luaopen_<name>` function (else after its path), linked with `libraries`, `incdirs` and
/// `libdirs` (those of the rock's external dependencies).
pub fn detect(
    source_dir: &Path,
    libraries: &[String],
    incdirs: &[String],
    libdirs: &[String],
) -> Detected {
    let base = ["src", "lua", "lib"]
        .into_iter()
        .find(|d| source_dir.join(d).is_dir());
    let root = base.map_or_else(|| source_dir.to_path_buf(), |d| source_dir.join(d));
    let mut detected = Detected::default();
    let mut files: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            e.path()
                .strip_prefix(&root)
                .ok()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        })
        .collect();
    files.sort();
    for file in files {
        let first = file.split('/').next().unwrap_or(&file);
        if SKIP.contains(&first) {
            continue;
        }
        let source = match base {
            Some(b) => format!("{b}/{file}"),
            None => file.clone(),
        };
        if let Some(stem) = file.strip_suffix(".lua") {
            detected
                .modules
                .insert(path_to_module(stem), Module::Lua(source));
        } else if let Some(stem) = file.strip_suffix(".c") {
            let name = fs::read_to_string(root.join(&file))
                .ok()
                .and_then(|text| luaopen_name(&text))
                .unwrap_or_else(|| path_to_module(stem));
            detected.modules.insert(
                name,
                Module::C(CModule {
                    sources: vec![source],
                    libraries: libraries.to_vec(),
                    incdirs: incdirs.to_vec(),
                    libdirs: libdirs.to_vec(),
                    defines: Vec::new(),
                }),
            );
        }
    }
    let bindir = ["src/bin", "bin"]
        .into_iter()
        .find(|d| source_dir.join(d).is_dir());
    if let Some(bindir) = bindir {
        let mut names: Vec<String> = fs::read_dir(source_dir.join(bindir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        detected.bin = names
            .into_iter()
            .map(|n| InstallEntry {
                name: None,
                path: format!("{bindir}/{n}"),
            })
            .collect();
    }
    detected.copy_directories = ["doc", "docs", "samples", "tests"]
        .into_iter()
        .filter(|d| source_dir.join(d).is_dir())
        .map(str::to_string)
        .collect();
    detected
}

/// `a/b` → `a.b`, with leading and trailing dots dropped (LuaRocks' `path_to_module`).
fn path_to_module(stem: &str) -> String {
    stem.replace('/', ".").trim_matches('.').to_string()
}

/// The `<name>` of the first `int luaopen_<name>` in C source.
fn luaopen_name(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(pos) = rest.find("int") {
        let after = &rest[pos + 3..];
        let trimmed = after.trim_start();
        if trimmed.len() < after.len() {
            if let Some(name) = trimmed.strip_prefix("luaopen_") {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    return Some(name);
                }
            }
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    #[test]
    fn modules_scripts_and_docs_are_found_under_src() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        write(d, "src/foo.lua", "");
        write(d, "src/foo/bar.lua", "");
        write(d, "src/foo/init.lua", "");
        write(
            d,
            "src/core.c",
            "LUALIB_API int luaopen_foo_core (lua_State *L) {}",
        );
        write(d, "src/spec/x_spec.lua", "");
        write(d, "src/bin/tool", "");
        write(d, "other.lua", "not under src");
        write(d, "doc/index.html", "");
        write(d, "tests/t.lua", "");
        let found = detect(d, &["z".into()], &["/inc".into()], &[]);
        let names: Vec<&str> = found.modules.keys().map(String::as_str).collect();
        assert_eq!(names, ["foo", "foo.bar", "foo.init", "foo_core"]);
        assert_eq!(
            found.modules["foo.bar"],
            Module::Lua("src/foo/bar.lua".into())
        );
        match &found.modules["foo_core"] {
            Module::C(c) => {
                assert_eq!(c.sources, ["src/core.c"]);
                assert_eq!(c.libraries, ["z"]);
                assert_eq!(c.incdirs, ["/inc"]);
            }
            other => panic!("expected a C module, got {other:?}"),
        }
        assert_eq!(
            found.bin,
            [InstallEntry {
                name: None,
                path: "src/bin/tool".into()
            }]
        );
        assert_eq!(found.copy_directories, ["doc", "tests"]);
    }

    #[test]
    fn whole_tree_is_scanned_without_src_lua_or_lib() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "m.lua", "");
        write(dir.path(), "test.lua", "");
        write(dir.path(), "x/y.c", "no open function");
        let found = detect(dir.path(), &[], &[], &[]);
        assert_eq!(found.modules.keys().collect::<Vec<_>>(), ["m", "x.y"]);
    }

    #[test]
    fn luaopen_names() {
        assert_eq!(
            luaopen_name("int luaopen_a_b(lua_State*L)"),
            Some("a_b".into())
        );
        assert_eq!(
            luaopen_name("/* luaopen_x */ int\n  luaopen_y ("),
            Some("y".into())
        );
        assert_eq!(luaopen_name("intluaopen_x"), None);
        assert_eq!(luaopen_name("static int helper(void)"), None);
    }
}
