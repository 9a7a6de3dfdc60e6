//! `lvm which MODULE`: the installed package and the file in the tree that `require(MODULE)`
//! loads, as `luarocks which` answers from the rocks tree.

use std::path::PathBuf;

use serde::Serialize;

use crate::env::Environment;
use crate::ops::{Error, Result};
use crate::tree::rockfiles::{FileKind, RockFile, installed_files};

/// Where a module comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    pub module: String,
    pub package: String,
    pub version: String,
    /// The file in the live tree (`share/lua/5.4/...` or `lib/lua/5.4/...`).
    pub file: PathBuf,
}

/// The relative paths below the Lua and C module folders that `require(module)` tries, in
/// Lua's order: `a/b.lua`, `a/b/init.lua`, then `a/b.so`, then LuaRocks' all-in-one loader
/// `a.so` for a submodule `a.b`. Pure.
pub fn module_paths(module: &str) -> Vec<(FileKind, String)> {
    let ext = crate::platform::shared_library_extension();
    let rel = module.replace('.', "/");
    let mut out = vec![
        (FileKind::Lua, format!("{rel}.lua")),
        (FileKind::Lua, format!("{rel}/init.lua")),
        (FileKind::Lib, format!("{rel}.{ext}")),
    ];
    if let Some((root, _)) = module.split_once('.') {
        out.push((FileKind::Lib, format!("{root}.{ext}")));
    }
    out
}

/// Which installed package provides `module`: the first file in Lua's search order that some
/// package's rock ships. An error names the module when no installed package has it.
pub fn which(env: &Environment, module: &str) -> Result<Provider> {
    let manifest = env.manifest()?;
    let tree = env.tree_path();
    let lua = env.lua();
    let shipped: Vec<(String, String, Vec<RockFile>)> = manifest
        .packages
        .iter()
        .map(|(name, package)| {
            let version = package.version.to_string();
            let rock_dir = crate::tree::rock_dir(&tree, lua, name, &version);
            (
                name.clone(),
                version,
                installed_files(&tree, lua, &rock_dir),
            )
        })
        .collect();
    for (kind, rel) in module_paths(module) {
        for (name, version, files) in &shipped {
            if let Some(file) = files.iter().find(|f| f.kind == kind && f.rel == rel) {
                return Ok(Provider {
                    module: module.to_string(),
                    package: name.clone(),
                    version: version.clone(),
                    file: file.path.clone(),
                });
            }
        }
    }
    Err(Error::ModuleNotInstalled {
        module: module.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_order_is_lua_file_init_then_c_library_then_all_in_one() {
        let ext = crate::platform::shared_library_extension();
        let paths: Vec<String> = module_paths("socket.core")
            .into_iter()
            .map(|(_, rel)| rel)
            .collect();
        assert_eq!(
            paths,
            [
                "socket/core.lua".to_string(),
                "socket/core/init.lua".to_string(),
                format!("socket/core.{ext}"),
                format!("socket.{ext}"),
            ]
        );
        assert_eq!(module_paths("lfs").len(), 3);
    }
}
