//! Linked packages in a tree: the files of a package that `lvm link` deploys as symlinks into
//! the project's working directory instead of copies, and tree walks that must not follow them.
//!
//! Which files are linked is recorded in the package's store entry ([`LINKED_FILES_KEY`]);
//! the store reads that record into [`LinkedFile`]s (`Store::linked_files`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::{fs, io};

use thiserror::Error;

use crate::luaversion::LuaVersion;
use crate::manifest::Package;
use crate::tree::files::FsError;

/// The store metadata entry of a local build listing its files that are copies of project
/// files: a JSON object from the path in the rock prefix (`lua/a/b.lua`) to the path in the
/// project (`src/a/b.lua`).
pub const LINKED_FILES_KEY: &str = "linked_files";

#[derive(Debug, Error)]
pub enum LinkError {
    #[error(
        "store entry {key} of {name}: its list of linked files is unreadable ({message}); run `lvm link` again"
    )]
    BadLinkRecord {
        name: String,
        key: String,
        message: String,
    },
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LinkError + 'a {
    move |source| LinkError::Io {
        action,
        path: path.to_path_buf(),
        cause: source,
    }
}

/// Whether a relative path stays inside the directory it is relative to.
pub fn is_contained(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// A relative path as `/`-separated text.
pub fn rel_string(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// One file of a linked package: the tree paths that are symlinks to a project file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedFile {
    /// Tree-relative paths: the file in the rock directory when it stays there (a `bin/`
    /// script), and where it is deployed (`share/lua/5.4/...`, `bin/...`), when it is.
    pub tree_paths: Vec<String>,
    /// The project file (absolute).
    pub target: PathBuf,
}

/// Where a rock prefix path is deployed in a tree, if it is.
fn deployed_path(lua: LuaVersion, prefix_rel: &str) -> Option<String> {
    let (top, rest) = prefix_rel.split_once('/')?;
    match top {
        "lua" => Some(format!("{}/{rest}", crate::tree::lua_subdir(lua))),
        "bin" => Some(format!("bin/{rest}")),
        _ => None,
    }
}

/// The files of a linked package that the tree holds as symlinks into its working directory,
/// from `record`, the [`LINKED_FILES_KEY`] entry of its store entry `key` (none for a package
/// that is not linked).
pub fn linked_files(
    lua: LuaVersion,
    name: &str,
    package: &Package,
    key: &str,
    record: Option<&str>,
) -> Result<Vec<LinkedFile>, LinkError> {
    let Some(path) = package.source.linked_path() else {
        return Ok(vec![]);
    };
    let map: BTreeMap<String, String> = match record {
        Some(json) => serde_json::from_str(json).map_err(|e| LinkError::BadLinkRecord {
            name: name.to_string(),
            key: key.to_string(),
            message: e.to_string(),
        })?,
        None => BTreeMap::new(),
    };
    let rock_rel = format!(
        "{}/{name}/{}",
        crate::tree::rocks_subdir(lua),
        package.version
    );
    Ok(map
        .into_iter()
        .filter(|(p, s)| is_contained(p) && is_contained(s))
        .map(|(prefix_rel, source_rel)| {
            // The rock dir keeps a file only when it is not deployed as itself (a `bin/`
            // script, which a wrapper runs); a deployed module is the one copy in the tree.
            let deployed = deployed_path(lua, &prefix_rel);
            let mut tree_paths = Vec::new();
            if !crate::tree::moved_out_of_rock_dir(&prefix_rel) {
                tree_paths.push(format!("{rock_rel}/{prefix_rel}"));
            }
            tree_paths.extend(deployed);
            LinkedFile {
                tree_paths,
                target: Path::new(path).join(source_rel),
            }
        })
        .collect())
}

/// Replaces, in a freshly made tree, the given files of a linked package by symlinks to its
/// working directory. A deployed file is replaced only when it is the rock's file itself (a
/// `bin/` wrapper stays, and runs the linked script). Missing project files give dangling
/// links, which `lvm verify` reports.
pub fn replace_with_links(tree: &Path, files: &[LinkedFile]) -> Result<(), LinkError> {
    use std::os::unix::fs::MetadataExt;
    for file in files {
        let Some((rock_file, deployed)) = file.tree_paths.split_first() else {
            continue;
        };
        let rock_file = tree.join(rock_file);
        let Ok(rock_meta) = fs::metadata(&rock_file) else {
            continue;
        };
        let mut replace = vec![rock_file.clone()];
        for d in deployed {
            let path = tree.join(d);
            // The deployed file is the rock's file itself (a hard link, or a copy where
            // linking was impossible), unlike a command wrapper.
            let same = fs::symlink_metadata(&path).is_ok_and(|m| {
                (m.dev() == rock_meta.dev() && m.ino() == rock_meta.ino())
                    || (m.is_file()
                        && m.len() == rock_meta.len()
                        && fs::read(&path).ok() == fs::read(&rock_file).ok())
            });
            if same {
                replace.push(path);
            }
        }
        for path in replace {
            fs::remove_file(&path).map_err(io_err("replace", &path))?;
            std::os::unix::fs::symlink(&file.target, &path)
                .map_err(io_err("create the symlink", &path))?;
            if let Some(parent) = path.parent() {
                crate::tree::files::sync_dir(parent)?;
            }
        }
    }
    Ok(())
}

/// Every file of a tree (not following symlinks into working directories) except those in
/// `skip` and the tree's state marker, by tree-relative path.
pub fn tree_files_except(
    root: &Path,
    skip: &BTreeSet<String>,
) -> Result<BTreeMap<String, PathBuf>, LinkError> {
    let mut out = BTreeMap::new();
    let walker = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            e.path()
                .strip_prefix(root)
                .is_ok_and(|rel| !skip.contains(&rel_string(rel)))
        });
    for entry in walker {
        let entry = entry.map_err(|e| crate::tree::files::walk_error(e, root))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .map(rel_string)
            .unwrap_or_default();
        if rel != crate::layout::TREE_STATE_FILE {
            out.insert(rel, entry.path().to_path_buf());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment() {
        assert!(is_contained("src/a.lua") && is_contained("./a.lua"));
        assert!(!is_contained("../a.lua") && !is_contained("/etc/x") && !is_contained(""));
    }

    #[test]
    fn deployed_paths() {
        assert_eq!(
            deployed_path(LuaVersion::Lua54, "lua/a/b.lua").as_deref(),
            Some("share/lua/5.4/a/b.lua")
        );
        assert_eq!(
            deployed_path(LuaVersion::LuaJit, "lua/a/b.lua").as_deref(),
            Some("share/lua/5.1/a/b.lua")
        );
        let bin = deployed_path(LuaVersion::Lua54, "bin/tool");
        assert_eq!(bin.as_deref(), Some("bin/tool"));
        assert_eq!(deployed_path(LuaVersion::Lua54, "doc/README"), None);
    }
}
