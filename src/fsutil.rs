//! Small filesystem primitives shared by the modules that read and write state: bounded reads
//! of small files, atomic writes, durable renames and flushing a whole file system at once.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

/// The bytes of the file at `path` when it holds at most `max` bytes, else `None`. The buffer
/// is sized from the file's length, so a small file is one read, not one read per doubling
/// of a growing buffer; the bound still holds if the file grows meanwhile.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// Replaces a cache file: a temp file in the same directory renamed over `path`, not flushed.
/// Readers see the old or the new content; after a crash the file may be empty or lost, which a
/// cache must detect (a checksum, a parse) and treat as absent.
pub fn write_cache(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename over
/// the target, fsync of the directory. Readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    // Temp files are created 0600; what we write is ordinary data others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Whether a symbolic link at `link` (relative to some root directory, `lua/a/b`) whose target
/// is `target` leads to a path inside that root, worked out from the names alone (no file is
/// read, so nothing outside the root is ever touched): absolute targets and `..` steps above
/// the root lead outside. Pure.
pub fn link_stays_inside(link: &Path, target: &Path) -> bool {
    use std::path::Component;
    /// Walks `at` (the folders below the root) along `path`; false once it leaves the root.
    fn walk<'p>(at: &mut Vec<&'p std::ffi::OsStr>, path: &'p Path) -> bool {
        for part in path.components() {
            match part {
                Component::Normal(name) => at.push(name),
                Component::CurDir => {}
                Component::ParentDir => {
                    if at.pop().is_none() {
                        return false;
                    }
                }
                Component::RootDir | Component::Prefix(_) => return false,
            }
        }
        true
    }
    let mut at = Vec::new();
    let folder = link.parent().unwrap_or(Path::new(""));
    if !walk(&mut at, folder) || !walk(&mut at, target) {
        return false;
    }
    // A link to the root itself is as dangerous as one above it: writing through it lands
    // beside the rock's own files, and listing it loops.
    !at.is_empty()
}

/// Whether `path` is a file its owner, group or others may run (on other systems: a file).
pub fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Best-effort fsync of a directory, so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Flushes everything written to the file system that holds `path` (`syncfs(2)`): one call
/// instead of an fsync per file and directory when many new files must become durable
/// together, as in a freshly made rocks tree.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    sync_filesystem_of(&dir)
}

#[cfg(target_os = "linux")]
fn sync_filesystem_of(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call; syncfs only reads it.
    if unsafe { libc::syncfs(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem_of(file: &File) -> io::Result<()> {
    // Without syncfs, sync(2) flushes every file system; the descriptor still proves the path
    // exists.
    let _ = file;
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    Ok(())
}

/// Whether a directory is missing or empty.
pub fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).map_or(!path.exists(), |mut d| d.next().is_none())
}

/// Takes back what a failed command put in a folder that was missing or empty before it:
/// the folder goes when the command created it (`created`), else its contents do.
pub fn undo_fill(path: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(path);
    } else if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.flatten() {
            let _ = fs::remove_dir_all(entry.path()).or_else(|_| fs::remove_file(entry.path()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_read_gives_files_up_to_the_bound_whole_and_none_above() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for (len, max, whole) in [
            (0, 4, true),
            (4, 4, true),
            (5, 4, false),
            (3000, 8192, true),
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            fs::write(&path, &bytes).unwrap();
            let read = read_bounded(&path, max).unwrap();
            assert_eq!(read, whole.then_some(bytes), "{len} bytes, at most {max}");
        }
        assert!(read_bounded(&dir.path().join("missing"), 4).is_err());
    }

    #[test]
    fn links_inside_and_outside_a_root() {
        let inside =
            |link: &str, target: &str| link_stays_inside(Path::new(link), Path::new(target));
        assert!(inside("lua/a.lua", "b.lua"));
        assert!(inside("lua/x/a.lua", "../b.lua"));
        assert!(inside("lib/libx.so", "./libx.so.1"));
        assert!(inside("lua/a", "../doc/readme"));
        assert!(!inside("lua/a", "../.."), "above the root");
        assert!(!inside("lua/a", ".."), "the root itself");
        assert!(!inside("lua/a", "/etc/passwd"));
        assert!(!inside("lua/deep/a", "../../../../../home/u/.ssh/id_rsa"));
        assert!(!inside("a", "x/../../y"));
        assert!(!inside("../a", "b"));
    }
}
