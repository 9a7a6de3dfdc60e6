//! What one installed rock provides, read from its rock dir (`lib/luarocks/rocks-5.4/NAME/VER`):
//! the files it deploys from `lua/` and `lib/`, and the module names they give `require`.

use std::path::{Path, PathBuf};

use crate::rockspec::Rockspec;
use crate::version::Version;

/// Where a deployable file comes from inside a rock dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub path: PathBuf,
}

/// Every regular file the rock deploys, `lua/` first, each folder in walk order.
pub fn deployable_files(rock_dir: &Path) -> Vec<RockFile> {
    let mut out = Vec::new();
    for kind in [FileKind::Lua, FileKind::Lib] {
        let base = rock_dir.join(kind.subdir());
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
            });
        }
    }
    out
}

/// The module names the rock's files give `require`, sorted: `foo/bar.lua` is `foo.bar`,
/// `foo/init.lua` is `foo`, `foo/core.so` is `foo.core`.
pub fn module_names(rock_dir: &Path) -> Vec<String> {
    let lib_ext = format!(".{}", crate::platform::shared_library_extension());
    let mut out: Vec<String> = deployable_files(rock_dir)
        .into_iter()
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

/// Details of an installed rock read from its directory in the tree.
pub struct InstalledInfo {
    pub summary: Option<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub modules: Vec<String>,
    pub commands: Vec<String>,
}

pub fn installed_info(rock_dir: &Path, name: &str, version: &Version) -> InstalledInfo {
    let rockspec = Rockspec::from_file(&rock_dir.join(format!("{name}-{version}.rockspec"))).ok();
    let modules = module_names(rock_dir);
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
        assert_eq!(module_names(dir.path()), ["pl", "pl.path", "socket.core"]);
        let files: Vec<(FileKind, String)> = deployable_files(dir.path())
            .into_iter()
            .map(|f| (f.kind, f.rel))
            .collect();
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
        assert!(deployable_files(dir.path()).is_empty());
        assert!(module_names(dir.path()).is_empty());
    }
}
