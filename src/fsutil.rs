//! Small filesystem primitives shared by the modules that write state: atomic writes, durable
//! renames and flushing a whole file system at once.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

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
