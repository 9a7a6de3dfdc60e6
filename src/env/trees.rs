//! The trees of an environment: the live one, the few kept for a quick return to their state
//! (keyed by the digest of the state they were made from), and the trash of older ones.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::error::io;
use super::{EnvError, Environment, Result, fault_point, manifest_digest};
use crate::layout::{TREE_STATE_FILE, TREES_DIR};
use crate::manifest::Manifest;
use crate::store::StoreKey;
use crate::tree;

/// How many finished trees besides the live one stay in `.trees/`. Rollback, redo and profile
/// switches mostly go back to one of the last few states, and with its tree kept such a change
/// is one symlink rename instead of hundreds of new directories and files. A kept tree costs
/// only directories and small files (its other files are hard links into the store), but the
/// states people move between are few, so more would rarely be hit.
pub const KEPT_TREES: usize = 3;

/// Names of `.trees/` entries on their way out: a rename takes a tree out of use at once, the
/// slow unlinking of its files comes after.
const TRASH_PREFIX: &str = ".trash-";

/// How long a tree may sit in the trash before a writer deletes it itself instead of counting
/// on the background deletion that put it there (which failed or may still be running).
const TRASH_GRACE: Duration = Duration::from_secs(60);

/// A finished tree in `.trees/` that is not live, kept for a quick return to its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptTree {
    pub path: PathBuf,
    /// The sha256 of the manifest it was made from (its `.lvm-state`).
    pub digest: String,
    /// When it was made or last made live again.
    pub last_used: SystemTime,
}

impl Environment {
    /// Whether the live tree was made from exactly this manifest.
    pub fn tree_matches(&self, manifest: &Manifest) -> bool {
        tree_dir_matches(&self.tree_path(), &manifest_digest(manifest))
    }

    /// [`Environment::tree_matches`] for the head's state, for a command that needs nothing
    /// else of the manifest (`lvm run` on every start): the digest of the recorded bytes (from
    /// the head memo, so no git object is read while the head stays) is the tree's mark
    /// whenever they are in the canonical form lvm writes, so the manifest is parsed and
    /// serialized again only when they are not (a hand-made commit, say).
    pub fn tree_matches_head(&self) -> Result<bool> {
        let Ok(mark) = fs::read_to_string(self.tree_path().join(TREE_STATE_FILE)) else {
            return Ok(false);
        };
        let mark = mark.trim();
        let head = self.head()?;
        if self.repo.head_files(head)?.manifest_sha256.as_deref() == Some(mark) {
            return Ok(true);
        }
        let bytes = self.repo.read_file(head, crate::envrepo::MANIFEST_FILE)?;
        let manifest = Manifest::from_bytes(&bytes, crate::envrepo::MANIFEST_FILE)?;
        Ok(mark == manifest_digest(&manifest))
    }

    /// Builds the tree for `manifest` from the store into a fresh `.trees/` directory.
    pub fn materialize(&self, manifest: &Manifest) -> Result<PathBuf> {
        self.materialize_with_digest(manifest, &manifest_digest(manifest))
    }

    /// [`Environment::materialize`] of a manifest whose digest the caller has.
    fn materialize_with_digest(&self, manifest: &Manifest, digest: &str) -> Result<PathBuf> {
        let trees = self.root.join(TREES_DIR);
        fs::create_dir_all(&trees).map_err(io("create", &trees))?;
        let dir = tempfile::Builder::new()
            .prefix("t-")
            .tempdir_in(&trees)
            .map_err(io("make a new tree in", &trees))?
            .keep();
        if let Err(e) = self.materialize_marked(manifest, &dir, digest) {
            let _ = crate::tree::files::remove_tree(&dir);
            return Err(e);
        }
        Ok(dir)
    }

    /// A tree for `manifest` in `.trees/`: a kept one made from the same state when there is
    /// one that nobody changed (then `true`), else a new one from the store.
    pub(super) fn tree_for(&self, manifest: &Manifest) -> Result<(PathBuf, bool)> {
        self.tree_for_digest(manifest, &manifest_digest(manifest))
    }

    fn tree_for_digest(&self, manifest: &Manifest, digest: &str) -> Result<(PathBuf, bool)> {
        match self.reusable_tree(digest) {
            Some(dir) => Ok((dir, true)),
            None => Ok((self.materialize_with_digest(manifest, digest)?, false)),
        }
    }

    /// The tree to make live for `manifest`: `None` when the live tree is of that state
    /// already, else `made` when it is a tree of that state (one a crashed change finished
    /// making), else as [`Environment::tree_for`]. The manifest's digest, which every check
    /// compares, is computed once.
    pub(super) fn tree_to_switch_to(
        &self,
        manifest: &Manifest,
        digest: &str,
        made: Option<&Path>,
    ) -> Result<Option<(PathBuf, bool)>> {
        if tree_dir_matches(&self.tree_path(), digest) {
            return Ok(None);
        }
        if let Some(dir) = made.filter(|dir| tree_dir_matches(dir, digest)) {
            return Ok(Some((dir.to_path_buf(), false)));
        }
        self.tree_for_digest(manifest, digest).map(Some)
    }

    /// The finished trees in `.trees/` other than the live one, most recently used first.
    pub fn kept_trees(&self) -> Vec<KeptTree> {
        let live = self.live_tree_name();
        let Ok(entries) = fs::read_dir(self.root.join(TREES_DIR)) else {
            return Vec::new();
        };
        let mut kept: Vec<KeptTree> = entries
            .flatten()
            .filter(|e| Some(e.file_name()) != live && !is_trash(&e.file_name()))
            .filter_map(|e| {
                let (digest, meta) = tree_mark(&e.path())?;
                Some(KeptTree {
                    path: e.path(),
                    digest,
                    last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                })
            })
            .collect();
        kept.sort_by_key(|k| std::cmp::Reverse(k.last_used));
        kept
    }

    /// A kept tree made from the state with this digest, if one is intact; it is marked as just
    /// used, so pruning keeps it longest. A kept tree that was changed after it was made goes
    /// to the trash instead (see [`tree_unchanged`] for what is checked and why).
    pub(super) fn reusable_tree(&self, digest: &str) -> Option<PathBuf> {
        for kept in self.kept_trees().into_iter().filter(|k| k.digest == digest) {
            let mark = kept.path.join(TREE_STATE_FILE);
            let Some((_, marked)) = tree_mark(&kept.path).filter(|(d, _)| d == digest) else {
                continue;
            };
            if !tree_unchanged(&kept.path, &marked) {
                tracing::warn!(
                    "not reusing the kept tree {}: it was changed after it was made",
                    kept.path.display()
                );
                self.trash_tree(&kept.path);
                continue;
            }
            let touched = fs::OpenOptions::new()
                .write(true)
                .open(&mark)
                .and_then(|f| f.set_modified(SystemTime::now()));
            if let Err(e) = touched {
                tracing::warn!("cannot mark {} as used: {e}", mark.display());
            }
            tracing::info!("reusing the kept tree {}", kept.path.display());
            return Some(kept.path);
        }
        None
    }

    /// Builds the tree for `manifest` in `dir` (absent or empty) from the store only; the tree
    /// is marked with the manifest's digest last, so a half-made tree is never taken for a
    /// finished one.
    pub fn materialize_into(&self, manifest: &Manifest, dir: &Path) -> Result<()> {
        self.materialize_marked(manifest, dir, &manifest_digest(manifest))
    }

    /// [`Environment::materialize_into`], marking the tree with `digest`, the manifest's.
    fn materialize_marked(&self, manifest: &Manifest, dir: &Path, digest: &str) -> Result<()> {
        self.materialize_throwaway(manifest, dir)?;
        fault_point("mid-materialize");
        // One flush of the whole tree, then the mark. The tree is not live before the switch,
        // so nothing needs it durable earlier; and the mark is written only once the rest is on
        // disk, so a crash can lose the mark (the tree is then rebuilt or pruned) but never
        // leave it on a tree whose files are lost. The mark itself needs no flush for the same
        // reason: missing or torn, it does not match. It is written in place, not renamed, so
        // its change time is at least the tree root's (see `tree_unchanged`).
        tree::sync_tree(dir)?;
        let mark = dir.join(TREE_STATE_FILE);
        fs::write(&mark, digest.as_bytes()).map_err(io("write", &mark))?;
        Ok(())
    }

    /// Builds the tree for `manifest` in `dir` (absent or empty) from the store only, neither
    /// flushed nor marked: for a tree that is thrown away after use and never made live (a
    /// state `lvm bisect` tests), so it costs links and directories only.
    pub fn materialize_throwaway(&self, manifest: &Manifest, dir: &Path) -> Result<()> {
        let store = self.home.store()?;
        // A state of the history (a rollback's, a profile's, a bisect step's) may be in no
        // environment's head, so `lvm gc` elsewhere could collect its entries while they are
        // linked; pinned, they stay until the tree holds its own links to every file.
        let pins = store.pins();
        pins.pin_all(&store_keys(manifest)?)?;
        super::pause_point("pinned");
        let rocks = self.tree_rocks(manifest)?;
        let lua = manifest.lua_version()?;
        tree::materialize(dir, lua, &rocks)?;
        for (name, package) in &manifest.packages {
            tree::links::replace_with_links(dir, &store.linked_files(lua, name, package)?)?;
        }
        Ok(())
    }

    /// Gets rid of a tree made by [`Environment::materialize_throwaway`] without waiting for
    /// its unlinking: it is renamed into the trash of `.trees/` (on the same file system as the
    /// scratch space) and deleted in the background, as old trees are; a writer deletes what
    /// is left there later. Where the rename fails, it is deleted here.
    pub fn discard_throwaway(&self, dir: &Path) {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let trees = self.root.join(TREES_DIR);
        let trash = trees.join(format!(
            "{TRASH_PREFIX}throwaway-{}-{name}",
            std::process::id()
        ));
        match fs::create_dir_all(&trees).and_then(|()| fs::rename(dir, &trash)) {
            Ok(()) => delete_in_background(vec![trash]),
            Err(_) => remove_or_warn(dir),
        }
    }

    /// The rocks of `manifest` as the store holds them, ready for [`tree::materialize`]; a
    /// package the store lacks is an error saying how to get it back, one built for another
    /// Lua an error too.
    pub fn tree_rocks(&self, manifest: &Manifest) -> Result<Vec<tree::TreeRock>> {
        let store = self.home.store()?;
        let packages: Vec<_> = manifest.packages.iter().collect();
        // One small read of each entry's metadata: side by side for a large closure.
        crate::parallel::map(&packages, |(name, package)| {
            let key = package_store_key(name, &package.store_key)?;
            let stored = store.get(&key)?.ok_or_else(|| EnvError::NotInStore {
                name: (*name).clone(),
                version: package.version.to_string(),
                key: package.store_key.clone(),
            })?;
            if stored.meta.lua() != manifest.lua {
                return Err(EnvError::BuiltForOtherLua {
                    name: (*name).clone(),
                    version: package.version.to_string(),
                    key: package.store_key.clone(),
                    built: stored.meta.lua().to_string(),
                    lua: manifest.lua.clone(),
                });
            }
            Ok(tree::TreeRock {
                name: (*name).clone(),
                version: package.version.clone(),
                prefix: stored.prefix.clone(),
                dependencies: package
                    .dependencies
                    .iter()
                    .filter_map(|d| crate::version::Dependency::parse(d).ok())
                    .collect(),
            })
        })
    }

    pub(super) fn switch_tree(&self, new_tree: &Path) -> Result<()> {
        tree::switch_link(new_tree, &self.tree_path())?;
        Ok(())
    }

    /// The directory name in `.trees/` the live tree link points to.
    pub(super) fn live_tree_name(&self) -> Option<std::ffi::OsString> {
        fs::read_link(self.tree_path())
            .ok()
            .and_then(|l| l.file_name().map(|n| n.to_os_string()))
    }

    /// Takes a tree out of `.trees/` at once (one rename); [`Environment::prune_trees`]
    /// deletes it. Returns where it went.
    pub(super) fn trash_tree(&self, dir: &Path) -> Option<PathBuf> {
        let name = dir.file_name()?;
        let trash = dir.with_file_name(format!("{TRASH_PREFIX}{}", name.to_string_lossy()));
        match fs::rename(dir, &trash) {
            Ok(()) => Some(trash),
            Err(e) => {
                tracing::warn!("cannot move {} to the trash: {e}", dir.display());
                None
            }
        }
    }

    /// Keeps the live tree and the [`KEPT_TREES`] most recently used finished trees in
    /// `.trees/`; every other entry (older trees, half-made ones a crash left) goes to the trash
    /// and is deleted in the background (see [`delete_in_background`]). Call with the writer
    /// lock held and the state lock released: the trees it deletes are not live, so neither
    /// readers nor the command itself wait for the unlinking.
    pub(super) fn prune_trees(&self) {
        let trees = self.root.join(TREES_DIR);
        let live = self.live_tree_name();
        let Ok(entries) = fs::read_dir(&trees) else {
            return;
        };
        let mut trash = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if Some(&name) == live.as_ref() {
                continue;
            }
            if is_trash(&name) {
                // Left by a deletion that failed (or was killed) a while ago: finish it here.
                // The rename into the trash set its change time.
                let stale = entry
                    .metadata()
                    .map(|m| changed_at(&m))
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > TRASH_GRACE);
                if stale {
                    remove_or_warn(&entry.path());
                }
            } else if tree_mark(&entry.path()).is_none() {
                trash.extend(self.trash_tree(&entry.path()));
            }
        }
        for kept in self.kept_trees().iter().skip(KEPT_TREES) {
            trash.extend(self.trash_tree(&kept.path));
        }
        delete_in_background(trash);
    }
}

/// Whether the tree in `dir` is marked as made from the state with this digest.
fn tree_dir_matches(dir: &Path, digest: &str) -> bool {
    fs::read_to_string(dir.join(TREE_STATE_FILE)).is_ok_and(|s| s.trim() == digest)
}

/// The store keys of every package of `manifest`.
fn store_keys(manifest: &Manifest) -> Result<Vec<StoreKey>> {
    manifest
        .packages
        .iter()
        .map(|(name, package)| package_store_key(name, &package.store_key))
        .collect()
}

/// A package's recorded store key, parsed; the error names the package.
fn package_store_key(name: &str, key: &str) -> Result<StoreKey> {
    StoreKey::parse(key).map_err(|source| EnvError::BadStoreKey {
        name: name.to_string(),
        source,
    })
}

/// A tree's mark (the digest in `.lvm-state`) with the mark file's metadata; `None` for a tree
/// without a complete mark (half-made, or the mark was damaged).
fn tree_mark(dir: &Path) -> Option<(String, fs::Metadata)> {
    let mark = dir.join(TREE_STATE_FILE);
    let text = fs::read_to_string(&mark).ok()?;
    let digest = text.trim();
    let complete = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    let meta = fs::symlink_metadata(&mark).ok()?;
    (complete && meta.is_file()).then(|| (digest.to_string(), meta))
}

fn is_trash(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with(TRASH_PREFIX)
}

/// A file's change time (which no tool can set back, unlike its modification time).
fn changed_at(meta: &fs::Metadata) -> SystemTime {
    use std::os::unix::fs::MetadataExt;
    let since_epoch = Duration::new(
        u64::try_from(meta.ctime()).unwrap_or(0),
        u32::try_from(meta.ctime_nsec()).unwrap_or(0),
    );
    SystemTime::UNIX_EPOCH + since_epoch
}

fn remove_or_warn(dir: &Path) {
    if let Err(e) = crate::tree::files::remove_tree(dir) {
        tracing::warn!("cannot delete the old tree {}: {e}", dir.display());
    }
}

/// Deletes trashed trees in a detached `rm -rf`, so the command that trashed them ends without
/// waiting: unlinking the few hundred directories and links of a 50-rock tree takes longer than
/// making it on a busy disk. Nothing reads the trash, so when the deletion happens does not
/// matter; one that fails leaves the trash for a later writer (see [`TRASH_GRACE`]). Without
/// `rm` the trees are deleted here. The child holds no lock: lvm's files are opened
/// close-on-exec.
fn delete_in_background(dirs: Vec<PathBuf>) {
    if dirs.is_empty() {
        return;
    }
    let spawned = std::process::Command::new("rm")
        .arg("-rf")
        .arg("--")
        .args(&dirs)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Reaped if this process outlives it (a long-running library user); otherwise init
        // adopts it.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => {
            tracing::debug!("cannot run rm to delete old trees ({e}); deleting them now");
            dirs.iter().for_each(|d| remove_or_warn(d));
        }
    }
}

/// Whether nothing in `tree` changed after its mark was written (or last touched), checked by
/// change times, which no tool can set back: the tree root, every directory and every file of
/// the tree's own (one link: the tree `manifest`, wrappers, copies) must be no newer than the
/// mark. Adding, removing or renaming anything (as `luarocks install --tree` or a hand edit
/// does while the tree is live) changes its directory; rewriting a file of the tree's own
/// changes that file. Files hard-linked from the store are skipped, since linking the same
/// store file into a newer tree changes their change time too; editing one in place changes the
/// store entry as well, which `lvm verify` reports and which a new tree would share anyway.
/// This costs one `lstat` per entry, well under the price of making a tree.
fn tree_unchanged(tree: &Path, marked: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let limit = (marked.ctime(), marked.ctime_nsec());
    for entry in walkdir::WalkDir::new(tree).follow_links(false) {
        let Ok(entry) = entry else {
            return false;
        };
        if entry.depth() == 1 && entry.file_name() == TREE_STATE_FILE {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            return false;
        };
        let own = meta.is_dir() || meta.nlink() == 1;
        if own && (meta.ctime(), meta.ctime_nsec()) > limit {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tree: a directory, a file of its own, a file hard-linked from "the store", and
    /// its mark written last.
    fn marked_tree(root: &Path) -> (PathBuf, PathBuf) {
        let store_file = root.join("store-file.lua");
        fs::write(&store_file, "return 1\n").unwrap();
        let tree = root.join("tree");
        fs::create_dir_all(tree.join("share/lua")).unwrap();
        fs::write(tree.join("share/manifest"), "own\n").unwrap();
        fs::hard_link(&store_file, tree.join("share/lua/m.lua")).unwrap();
        fs::write(tree.join(TREE_STATE_FILE), "ab".repeat(32)).unwrap();
        // Change times have the clock's granularity: what the tests do next comes later.
        std::thread::sleep(Duration::from_millis(20));
        (tree, store_file)
    }

    fn unchanged(tree: &Path) -> bool {
        let (_, marked) = tree_mark(tree).expect("a complete mark");
        tree_unchanged(tree, &marked)
    }

    #[test]
    fn an_untouched_tree_is_unchanged_even_when_its_store_files_get_new_links() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, store_file) = marked_tree(dir.path());
        assert!(unchanged(&tree));
        // A newer tree linking the same store file changes the file's change time.
        fs::hard_link(&store_file, dir.path().join("newer-tree-link.lua")).unwrap();
        assert!(unchanged(&tree));
        // Reading changes nothing.
        fs::read_to_string(tree.join("share/manifest")).unwrap();
        assert!(unchanged(&tree));
    }

    #[test]
    fn added_removed_or_rewritten_entries_are_changes() {
        type Change = fn(&Path);
        let changes: [(&str, Change); 4] = [
            ("added file", |t| {
                fs::write(t.join("share/lua/extra.lua"), "x").unwrap()
            }),
            ("removed file", |t| {
                fs::remove_file(t.join("share/lua/m.lua")).unwrap()
            }),
            ("rewritten own file", |t| {
                fs::write(t.join("share/manifest"), "edited\n").unwrap()
            }),
            ("removed directory", |t| {
                fs::remove_dir_all(t.join("share")).unwrap()
            }),
        ];
        for (what, change) in changes {
            let dir = tempfile::tempdir().unwrap();
            let (tree, _) = marked_tree(dir.path());
            change(&tree);
            assert!(!unchanged(&tree), "{what} was not noticed");
        }
    }

    #[test]
    fn only_a_complete_mark_marks_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path();
        assert!(tree_mark(tree).is_none(), "no mark");
        for bad in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
            fs::write(tree.join(TREE_STATE_FILE), bad).unwrap();
            assert!(tree_mark(tree).is_none(), "{bad:?}");
        }
        let digest = "0f".repeat(32);
        fs::write(tree.join(TREE_STATE_FILE), format!("{digest}\n")).unwrap();
        assert_eq!(tree_mark(tree).map(|(d, _)| d), Some(digest));
    }
}
