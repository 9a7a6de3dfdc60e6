//! Scratch directories of running commands in `<env>/.lvm-tmp`: each one is paired with a lock
//! file its owner holds while it lives, so leftovers of killed processes are told from live work
//! and removed, and another process's live scratch never is.
//!
//! A scratch `NAME` is the directory `NAME` and the lock file `NAME.owner`. The owner creates
//! and locks the lock file first and makes the directory second; it removes the directory first
//! and the lock file last. So a directory exists only while its lock file does, and a lock file
//! that can be locked belongs to a dead process (the kernel releases a lock with its process).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The lock file beside each scratch directory.
const OWNER_SUFFIX: &str = ".owner";

/// How old a directory without a lock file (left by an lvm from before the lock files) must be
/// before it is removed: no command runs that long, so it cannot be live work.
const UNOWNED_GRACE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error(
        "{} is not a folder: lvm keeps the scratch files of running commands there; move that file away (or delete it) and try again",
        .0.display()
    )]
    NotAFolder(PathBuf),
    #[error("cannot create scratch space in {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
}

impl ScratchError {
    /// What kind of failure this is: a file where the scratch folder belongs is a damaged
    /// environment; failing to create one is the file system's doing.
    pub fn kind(&self) -> crate::errors::ErrorKind {
        match self {
            ScratchError::NotAFolder(_) => crate::errors::ErrorKind::Damaged,
            ScratchError::Create { .. } => crate::errors::ErrorKind::Other,
        }
    }
}

/// A scratch directory that this process owns; removed (with its lock file) on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    owner: PathBuf,
    /// Held locked for the scratch's lifetime: the proof that its owner is alive.
    _lock: fs::File,
}

impl Scratch {
    /// A new scratch directory under `root` (created if missing), its name starting with
    /// `prefix`. Leftovers of dead processes are removed first.
    pub fn create(root: &Path, prefix: &str) -> Result<Scratch, ScratchError> {
        ensure_folder(root)?;
        sweep(root);
        let create = |cause: std::io::Error| ScratchError::Create {
            path: root.to_path_buf(),
            cause,
        };
        let (lock, owner) = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(OWNER_SUFFIX)
            .tempfile_in(root)
            .map_err(create)?
            .keep()
            .map_err(|e| create(e.error))?;
        let abandon = |cause: std::io::Error| {
            let _ = fs::remove_file(&owner);
            create(cause)
        };
        fs4::FileExt::try_lock(&lock).map_err(|e| {
            abandon(std::io::Error::other(format!(
                "locking {}: {e}",
                owner.display()
            )))
        })?;
        let dir = dir_of(&owner);
        fs::create_dir(&dir).map_err(abandon)?;
        Ok(Scratch {
            dir,
            owner,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = crate::tree::files::remove_tree(&self.dir) {
            tracing::warn!("could not remove the scratch {}: {e}", self.dir.display());
            // Its lock file stays, so the next sweep removes the rest.
            return;
        }
        let _ = fs::remove_file(&self.owner);
    }
}

/// Makes `root` a folder, or says clearly why it cannot be one.
fn ensure_folder(root: &Path) -> Result<(), ScratchError> {
    match fs::symlink_metadata(root) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(ScratchError::NotAFolder(root.to_path_buf())),
        Err(_) => fs::create_dir_all(root).map_err(|cause| {
            if root.is_file() {
                ScratchError::NotAFolder(root.to_path_buf())
            } else {
                ScratchError::Create {
                    path: root.to_path_buf(),
                    cause,
                }
            }
        }),
    }
}

/// The directory a lock file guards.
fn dir_of(owner: &Path) -> PathBuf {
    let name = owner.file_name().unwrap_or_default().to_string_lossy();
    owner.with_file_name(name.strip_suffix(OWNER_SUFFIX).unwrap_or(&name))
}

/// What the sweep does with one entry of the scratch root.
#[derive(Debug, PartialEq, Eq)]
enum Leftover {
    /// A lock file: its directory is removed if nobody holds it.
    Owner,
    /// A directory whose lock file exists: left to the sweep of that lock file.
    Owned,
    /// Anything without a lock file (an older lvm's scratch): removed once old enough.
    Unowned,
}

fn classify(name: &str, has_owner: bool) -> Leftover {
    if name.ends_with(OWNER_SUFFIX) {
        Leftover::Owner
    } else if has_owner {
        Leftover::Owned
    } else {
        Leftover::Unowned
    }
}

/// Removes the scratch of processes that are gone; returns how many scratch directories it
/// removed. Never fails: what cannot be removed now is tried again by the next sweep.
pub fn sweep(root: &Path) -> usize {
    let Ok(entries) = fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = root.join(format!("{name}{OWNER_SUFFIX}"));
        match classify(&name, owner.exists()) {
            Leftover::Owner => removed += usize::from(remove_if_dead(&path)),
            Leftover::Owned => {}
            Leftover::Unowned => {
                let old = fs::symlink_metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > UNOWNED_GRACE);
                if old && crate::tree::files::remove_tree(&path).is_ok() {
                    removed += 1;
                }
            }
        }
    }
    if removed > 0 {
        tracing::info!(
            "removed {removed} scratch folder(s) of interrupted commands from {}",
            root.display()
        );
    }
    removed
}

/// Removes the scratch of the lock file `owner` when no live process holds it.
fn remove_if_dead(owner: &Path) -> bool {
    let Ok(file) = fs::OpenOptions::new().write(true).open(owner) else {
        return false;
    };
    if fs4::FileExt::try_lock(&file).is_err() {
        return false;
    }
    let dir = dir_of(owner);
    let had_dir = dir.exists();
    if crate::tree::files::remove_tree(&dir).is_err() {
        return false;
    }
    let _ = fs::remove_file(owner);
    had_dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_classified_by_their_lock_file() {
        assert_eq!(classify("install-abc.owner", false), Leftover::Owner);
        assert_eq!(classify("install-abc", true), Leftover::Owned);
        assert_eq!(classify(".tmpXYZ", false), Leftover::Unowned);
    }

    #[test]
    fn a_live_scratch_survives_a_sweep_and_a_dead_one_does_not() {
        let root = tempfile::tempdir().unwrap();
        let live = Scratch::create(root.path(), "live-").unwrap();
        fs::write(live.path().join("file"), b"x").unwrap();
        // What a killed process leaves: the directory and a lock file nobody holds.
        let dead_dir = root.path().join("dead-1");
        fs::create_dir(&dead_dir).unwrap();
        fs::write(dead_dir.join("file"), b"x").unwrap();
        fs::write(root.path().join("dead-1.owner"), b"").unwrap();
        // An older lvm's scratch, young: possibly live, so kept.
        fs::create_dir(root.path().join(".tmpOLD")).unwrap();

        assert_eq!(sweep(root.path()), 1);
        assert!(live.path().join("file").exists());
        assert!(!dead_dir.exists());
        assert!(!root.path().join("dead-1.owner").exists());
        assert!(root.path().join(".tmpOLD").exists());
        assert_eq!(sweep(root.path()), 0, "the live one stays");
        drop(live);
        let left: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, [".tmpOLD"], "a dropped scratch leaves nothing");
    }

    #[test]
    fn a_plain_file_in_place_of_the_folder_is_named() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join(".lvm-tmp");
        fs::write(&file, b"").unwrap();
        let err = Scratch::create(&file, "x-").unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("is not a folder"), "{err}");
    }
}
