//! The lvm home: the store and download cache every environment of a user shares, and the
//! registry of those environments (so `lvm gc` keeps what any of them needs).

use std::fs;
use std::path::{Path, PathBuf};

use super::error::io;
use super::{EnvError, Result};
use crate::layout::ENV_REGISTRY_FILE;
use crate::store::Store;

/// Shared folders under the lvm home.
#[derive(Debug, Clone)]
pub struct Home {
    pub root: PathBuf,
}

impl Home {
    pub fn new(root: PathBuf) -> Home {
        Home { root }
    }
    pub fn store_dir(&self) -> PathBuf {
        self.root.join(crate::layout::STORE_DIR)
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(crate::layout::CACHE_DIR)
    }
    /// The Lua interpreters lvm built, shared by every environment (`lvm runtime`).
    pub fn runtimes_dir(&self) -> PathBuf {
        self.root.join(crate::layout::RUNTIMES_DIR)
    }
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.store_dir()).map_err(|source| EnvError::Store {
            path: self.store_dir(),
            source,
        })
    }

    /// The list of environments that share this home's store, wherever they live (named ones,
    /// project `.lvm/` folders, `LVM_ENV` paths), so `lvm gc` keeps what each needs.
    pub fn registry_file(&self) -> PathBuf {
        self.root.join(ENV_REGISTRY_FILE)
    }

    /// Adds `root` to the registry unless it is listed. Appends one line with `O_APPEND`, so
    /// concurrent processes never lose each other's line; a duplicate is harmless.
    pub fn register(&self, root: &Path) -> Result<()> {
        use std::io::Write;
        let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        if self.registered().contains(&root) {
            return Ok(());
        }
        fs::create_dir_all(&self.root).map_err(io("create", &self.root))?;
        let file = self.registry_file();
        let mut line = root.as_os_str().as_encoded_bytes().to_vec();
        line.push(b'\n');
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(&line))
            .map_err(io("record the environment in", &file))
    }

    /// The registered environments, in the order they were first used, without duplicates.
    pub fn registered(&self) -> Vec<PathBuf> {
        let text = fs::read(self.registry_file()).unwrap_or_default();
        parse_registry(&text)
    }

    /// The environments sharing this home's store and runtimes: the named ones under
    /// `<home>/envs/` and every registered one (project `.lvm/` folders, `LVM_ENV` paths) that
    /// still exists, each once, sorted.
    pub fn environments(&self) -> Result<Vec<PathBuf>> {
        let dir = self.root.join(crate::layout::ENVS_DIR);
        let mut roots = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .map(|entry| entry.map(|e| e.path()))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(io("list", &dir))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(io("list", &dir)(e)),
        };
        roots.extend(self.registered());
        // A registered environment that was deleted needs nothing from the home.
        let mut seen = std::collections::BTreeSet::new();
        roots.retain(|root| {
            root.join(".git").is_dir()
                && seen.insert(fs::canonicalize(root).unwrap_or_else(|_| root.clone()))
        });
        roots.sort();
        Ok(roots)
    }
}

/// The paths of a registry file, first occurrence kept; blank lines are skipped.
fn parse_registry(text: &[u8]) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut out: Vec<PathBuf> = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(line));
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_lines_keep_first_occurrence_and_skip_blanks() {
        let text = b"/a/env\n\n/b/.lvm\n/a/env\n  \n/c\n";
        assert_eq!(
            parse_registry(text),
            [
                PathBuf::from("/a/env"),
                PathBuf::from("/b/.lvm"),
                PathBuf::from("/c")
            ]
        );
        assert!(parse_registry(b"").is_empty());
    }

    #[test]
    fn registering_twice_lists_once() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let env = dir.path().join("project/.lvm");
        fs::create_dir_all(&env).unwrap();
        home.register(&env).unwrap();
        home.register(&env).unwrap();
        assert_eq!(home.registered(), [fs::canonicalize(&env).unwrap()]);
    }
}
