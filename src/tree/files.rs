//! File-system primitives shared by the store and the rocks tree: listing a rock prefix in a
//! stable order, hashing files, linking with a copy fallback, read-only marking, durable
//! renames and removal of read-only directories.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use md5::Md5;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// An I/O failure on one path, saying what was being done.
#[derive(Debug, Error)]
#[error("cannot {action} {}: {cause} (check that the path exists, is accessible and the disk is not full)", path.display())]
pub struct FsError {
    pub action: &'static str,
    pub path: PathBuf,
    pub cause: io::Error,
}

/// Builds a `map_err` adapter naming the action and path.
pub fn ctx<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError {
        action,
        path: path.to_path_buf(),
        cause: source,
    }
}

/// What a listed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File { executable: bool, size: u64 },
}

/// One entry under a listed root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the root, `/`-separated (`lua/a/b.lua`).
    pub rel: String,
    /// The full path on disk.
    pub path: PathBuf,
    pub kind: EntryKind,
}

impl Entry {
    pub fn is_file(&self) -> bool {
        matches!(self.kind, EntryKind::File { .. })
    }
}

/// A failed step of a directory walk under `root`, naming the entry that failed when known.
pub fn walk_error(e: walkdir::Error, root: &Path) -> FsError {
    FsError {
        action: "list",
        path: e.path().unwrap_or(root).to_path_buf(),
        cause: e
            .into_io_error()
            .unwrap_or_else(|| io::Error::other("symbolic link loop")),
    }
}

/// Lists every file and directory under `root` (not `root` itself), sorted by relative path
/// bytewise. Symbolic links are never followed while walking: a link to a file that stays
/// inside `root` ([`crate::fsutil::link_stays_inside`]) is listed as that file, so a stored copy
/// holds real files; a link leading outside `root`, or to a directory, is an error, so nothing
/// outside a rock prefix is ever read into the store. Entries that are neither files nor
/// directories (sockets, fifos, devices) and non-UTF-8 names are errors too, since rock
/// manifests cannot express them.
pub fn list(root: &Path) -> Result<Vec<Entry>, FsError> {
    let mut out = Vec::new();
    for item in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| walk_error(e, root))?;
        let path = item.path().to_path_buf();
        let rel = relative_name(root, &path)?;
        let unsupported = |why: String| FsError {
            action: "store",
            path: path.clone(),
            cause: io::Error::new(io::ErrorKind::Unsupported, why),
        };
        if item.path_is_symlink() {
            let target = fs::read_link(&path).map_err(ctx("read link", &path))?;
            if !crate::fsutil::link_stays_inside(Path::new(&rel), &target) {
                return Err(unsupported(format!(
                    "symbolic link to {} leads outside {}; a rock may only hold links that stay inside it",
                    target.display(),
                    root.display()
                )));
            }
        }
        // Links were checked above to stay inside `root`, so following one here reads only
        // what the walk would list anyway.
        let meta = fs::metadata(&path).map_err(ctx("read metadata of", &path))?;
        let kind = if meta.is_dir() && !item.path_is_symlink() {
            EntryKind::Dir
        } else if meta.is_file() {
            EntryKind::File {
                executable: meta.permissions().mode() & 0o111 != 0,
                size: meta.len(),
            }
        } else if meta.is_dir() {
            return Err(unsupported(
                "symbolic link to a directory; a rock may only hold links to files".to_string(),
            ));
        } else {
            return Err(unsupported(
                "not a regular file or directory; remove it from the rock prefix".to_string(),
            ));
        };
        out.push(Entry { rel, path, kind });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn relative_name(root: &Path, path: &Path) -> Result<String, FsError> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut parts = Vec::new();
    for part in rel.components() {
        let text = part.as_os_str().to_str().ok_or_else(|| FsError {
            action: "name",
            path: path.to_path_buf(),
            cause: io::Error::new(
                io::ErrorKind::InvalidData,
                "file name is not UTF-8; rename the file",
            ),
        })?;
        parts.push(text);
    }
    Ok(parts.join("/"))
}

fn hash_reader<D: Digest>(path: &Path) -> Result<(String, u64), FsError> {
    let file = fs::File::open(path).map_err(ctx("open", path))?;
    crate::digest::digest_reader::<D>(file).map_err(ctx("read", path))
}

/// sha256 (hex) and size of a file.
pub fn sha256_file(path: &Path) -> Result<(String, u64), FsError> {
    hash_reader::<Sha256>(path)
}

/// md5 (hex) of a file, as LuaRocks records in `rock_manifest`.
pub fn md5_file(path: &Path) -> Result<String, FsError> {
    hash_reader::<Md5>(path).map(|(h, _)| h)
}

/// How a file got into place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    Linked,
    Copied,
}

/// Hard-links `src` to `dst`, copying (with permissions) when linking is impossible, e.g.
/// across file systems or where the kernel forbids linking files of other users.
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<Placed, FsError> {
    match fs::hard_link(src, dst) {
        Ok(()) => Ok(Placed::Linked),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(FsError {
            action: "create",
            path: dst.to_path_buf(),
            cause: e,
        }),
        Err(_) => {
            fs::copy(src, dst).map_err(ctx("copy into", dst))?;
            Ok(Placed::Copied)
        }
    }
}

/// Writes a file with `mode` without flushing it (for files whose directory is flushed as a
/// whole later, see [`crate::fsutil::sync_filesystem`]); returns the open file.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<fs::File, FsError> {
    use std::io::Write;
    let mut file = fs::File::create(path).map_err(ctx("create", path))?;
    file.write_all(contents).map_err(ctx("write", path))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(ctx("set permissions of", path))?;
    Ok(file)
}

/// Flushes a directory's entries (new names, renames) to disk.
pub fn sync_dir(path: &Path) -> Result<(), FsError> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(ctx("flush directory", path))
}

/// Clears all write bits of `path`.
pub fn make_read_only(path: &Path) -> Result<(), FsError> {
    let meta = fs::metadata(path).map_err(ctx("read metadata of", path))?;
    let mode = meta.permissions().mode() & !0o222;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(ctx("make read-only", path))
}

/// Removes a directory tree even where its directories were made read-only. A missing path is
/// not an error.
pub fn remove_tree(path: &Path) -> Result<(), FsError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ctx("read metadata of", path)(e)),
        Ok(meta) if !meta.is_dir() => {
            return fs::remove_file(path).map_err(ctx("remove", path));
        }
        Ok(_) => {}
    }
    // Directories need their write bit for their entries to be unlinked; symlinks are not
    // followed so nothing outside `path` is touched.
    for item in walkdir::WalkDir::new(path).follow_links(false) {
        let Ok(item) = item else { continue };
        if item.file_type().is_dir() {
            let p = item.path();
            if let Ok(meta) = fs::metadata(p) {
                let mode = meta.permissions().mode() | 0o700;
                let _ = fs::set_permissions(p, fs::Permissions::from_mode(mode));
            }
        }
    }
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ctx("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Total size in bytes of the files under `path` (0 when it does not exist).
pub fn disk_size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
