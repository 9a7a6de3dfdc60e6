//! What one rock provides: the files it deploys from `lua/` and `lib/`, read from a built rock
//! prefix or, for an installed rock, from its rock dir's `rock_manifest`, and the module names.

use std::path::{Path, PathBuf};

use crate::luaversion::LuaVersion;
use crate::rockspec::Rockspec;
use crate::version::Version;

/// Where a deployable file comes from inside a rock prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// Under `lua/`: deployed to `share/lua/5.4/`.
    Lua,
    /// Under `lib/`: deployed to `lib/lua/5.4/`.
    Lib,
}

impl FileKind {
    fn subdir(self) -> &'static str {
        match self {
            FileKind::Lua => "lua",
            FileKind::Lib => "lib",
        }
    }
}

/// One regular file of a rock's `lua/` or `lib/` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RockFile {
    pub kind: FileKind,
    /// The path below `lua/` or `lib/`, with `/` separators: also its path below the tree's
    /// Lua or C module folder.
    pub rel: String,
    /// Where the file is: in the prefix ([`prefix_files`]), or where the tree deploys it
    /// ([`installed_files`]).
    pub path: PathBuf,
    /// The md5 the rock's `rock_manifest` records ([`installed_files`] only).
    pub md5: Option<String>,
}

/// Every regular file a built rock prefix (a store entry) deploys, `lua/` first, each folder
/// in walk order.
pub fn prefix_files(prefix: &Path) -> Vec<RockFile> {
    let mut out = Vec::new();
    for kind in [FileKind::Lua, FileKind::Lib] {
        let base = prefix.join(kind.subdir());
        for entry in walkdir::WalkDir::new(&base)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&base) else {
                continue;
            };
            out.push(RockFile {
                kind,
                rel: rel.to_string_lossy().replace('\\', "/"),
                path: entry.path().to_path_buf(),
                md5: None,
            });
        }
    }
    out
}

/// Every file an installed rock deployed into `tree`, from the `rock_manifest` in its rock dir
/// (`lib/luarocks/rocks-5.4/NAME/VER`), as LuaRocks finds them: the rock dir no longer holds
/// them. `lua/` first, sorted; none when the manifest cannot be read.
pub fn installed_files(tree: &Path, lua: LuaVersion, rock_dir: &Path) -> Vec<RockFile> {
    let listing = super::read_rock_manifest(rock_dir);
    let mut out: Vec<RockFile> = listing
        .files
        .into_iter()
        .filter_map(|(rel, md5)| {
            let (top, rest) = rel.split_once('/')?;
            let (kind, base) = match top {
                "lua" => (FileKind::Lua, super::lua_dir(tree, lua)),
                "lib" => (FileKind::Lib, super::lib_dir(tree, lua)),
                _ => return None,
            };
            Some(RockFile {
                kind,
                path: base.join(rest),
                rel: rest.to_string(),
                md5: Some(md5),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.kind, &a.rel).cmp(&(b.kind, &b.rel)));
    out
}

/// The module names the rock's files give `require`, sorted: `foo/bar.lua` is `foo.bar`,
/// `foo/init.lua` is `foo`, `foo/core.so` is `foo.core`.
pub fn module_names(files: &[RockFile]) -> Vec<String> {
    let lib_ext = format!(".{}", crate::platform::shared_library_extension());
    let mut out: Vec<String> = files
        .iter()
        .filter(|file| match file.kind {
            FileKind::Lua => file.rel.ends_with(".lua"),
            FileKind::Lib => file.rel.ends_with(&lib_ext),
        })
        .map(|file| {
            let module = super::path_to_module(&file.rel);
            match module.strip_suffix(".init") {
                Some(package) => package.to_string(),
                None => module,
            }
        })
        .filter(|module| !module.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Details of an installed rock read from its rock dir in `tree`.
pub struct InstalledInfo {
    pub summary: Option<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub modules: Vec<String>,
    pub commands: Vec<String>,
}

pub fn installed_info(
    tree: &Path,
    lua: LuaVersion,
    name: &str,
    version: &Version,
) -> InstalledInfo {
    let rock_dir = super::rock_dir(tree, lua, name, version.as_str());
    let rockspec = Rockspec::from_file(&rock_dir.join(format!("{name}-{version}.rockspec"))).ok();
    let modules = module_names(&installed_files(tree, lua, &rock_dir));
    let mut commands: Vec<String> = std::fs::read_dir(rock_dir.join("bin"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    commands.sort();
    let description = rockspec.map(|r| r.description).unwrap_or_default();
    InstalledInfo {
        summary: description.summary,
        license: description.license,
        homepage: description.homepage,
        modules,
        commands,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_modules_of_a_rock_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lua/pl")).unwrap();
        std::fs::create_dir_all(dir.path().join("lib/socket")).unwrap();
        std::fs::write(dir.path().join("lua/pl/init.lua"), "").unwrap();
        std::fs::write(dir.path().join("lua/pl/path.lua"), "").unwrap();
        std::fs::write(dir.path().join("lua/pl/README"), "").unwrap();
        let so = format!(
            "lib/socket/core.{}",
            crate::platform::shared_library_extension()
        );
        std::fs::write(dir.path().join(&so), "").unwrap();
        let files = prefix_files(dir.path());
        assert_eq!(module_names(&files), ["pl", "pl.path", "socket.core"]);
        let files: Vec<(FileKind, String)> = files.into_iter().map(|f| (f.kind, f.rel)).collect();
        assert_eq!(
            files,
            [
                (FileKind::Lua, "pl/README".to_string()),
                (FileKind::Lua, "pl/init.lua".to_string()),
                (FileKind::Lua, "pl/path.lua".to_string()),
                (FileKind::Lib, so.trim_start_matches("lib/").to_string()),
            ]
        );
    }

    #[test]
    fn a_rock_without_modules_has_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(prefix_files(dir.path()).is_empty());
        assert!(module_names(&prefix_files(dir.path())).is_empty());
        let tree = dir.path();
        assert!(installed_files(tree, LuaVersion::Lua54, &tree.join("absent")).is_empty());
    }

    #[test]
    fn an_installed_rocks_files_are_read_from_its_rock_manifest_where_they_are_deployed() {
        let tree = tempfile::tempdir().unwrap();
        let tree = tree.path();
        let rock_dir = crate::tree::rock_dir(tree, LuaVersion::LuaJit, "sock", "1.0-1");
        std::fs::create_dir_all(&rock_dir).unwrap();
        std::fs::write(
            rock_dir.join("rock_manifest"),
            r#"rock_manifest = {
   doc = { ["README.md"] = "d41d8cd98f00b204e9800998ecf8427e" },
   lib = { socket = { ["core.so"] = "0cc175b9c0f1b6a831c399e269772661" } },
   lua = {
      ["socket.lua"] = "92eb5ffee6ae2fec3ad71c777531578f",
      socket = { ["http.lua"] = "4a8a08f09d37b73795649038408b5f33" }
   },
   ["sock-1.0-1.rockspec"] = "8277e0910d750195b448797616e091ad"
}
"#,
        )
        .unwrap();
        let files = installed_files(tree, LuaVersion::LuaJit, &rock_dir);
        let seen: Vec<(FileKind, &str, PathBuf, Option<&str>)> = files
            .iter()
            .map(|f| (f.kind, f.rel.as_str(), f.path.clone(), f.md5.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    FileKind::Lua,
                    "socket.lua",
                    tree.join("share/lua/5.1/socket.lua"),
                    Some("92eb5ffee6ae2fec3ad71c777531578f")
                ),
                (
                    FileKind::Lua,
                    "socket/http.lua",
                    tree.join("share/lua/5.1/socket/http.lua"),
                    Some("4a8a08f09d37b73795649038408b5f33")
                ),
                (
                    FileKind::Lib,
                    "socket/core.so",
                    tree.join("lib/lua/5.1/socket/core.so"),
                    Some("0cc175b9c0f1b6a831c399e269772661")
                ),
            ]
        );
        assert_eq!(
            module_names(&files),
            ["socket", "socket.core", "socket.http"]
        );
    }
}
