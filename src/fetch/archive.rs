//! Safe extraction of source archives (`.tar.gz`, `.tar.bz2`, `.tar`, `.zip`).
//!
//! Archives come from the network, so every entry is checked before anything touches the disk:
//! absolute paths, `..` components, device and fifo entries are rejected; symlinks must resolve
//! inside the destination (checked again once everything is unpacked, since a later link can
//! change what an earlier one resolves to); nothing is ever written through a symlink; the
//! entry count and the total unpacked size are capped. Errors name the archive and the entry.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use super::hash::{CopyError, CopyOutcome, copy_limited};
use super::{ExtractLimits, FetchError};

/// The archive formats lvm unpacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    TarGz,
    TarBz2,
    Tar,
    Zip,
}

/// The archive kind a file name implies (`.rock` files are zips).
pub fn kind_from_name(name: &str) -> Option<ArchiveKind> {
    let name = name.to_ascii_lowercase();
    let ends = |suffixes: &[&str]| suffixes.iter().any(|s| name.ends_with(s));
    if ends(&[".tar.gz", ".tgz"]) {
        Some(ArchiveKind::TarGz)
    } else if ends(&[".tar.bz2", ".tbz2", ".tbz"]) {
        Some(ArchiveKind::TarBz2)
    } else if ends(&[".tar"]) {
        Some(ArchiveKind::Tar)
    } else if ends(&[".zip", ".rock"]) {
        Some(ArchiveKind::Zip)
    } else {
        None
    }
}

/// The archive kind the first bytes of a file reveal (at least 262 bytes are needed to see a
/// plain tar's `ustar` marker).
pub fn kind_from_magic(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveKind::TarGz)
    } else if head.starts_with(b"BZh") {
        Some(ArchiveKind::TarBz2)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

/// The kind of the archive at `path`: by name, else by its first bytes; `None` if neither says.
pub fn detect_kind(path: &Path) -> Result<Option<ArchiveKind>, FetchError> {
    let by_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(kind_from_name);
    if by_name.is_some() {
        return Ok(by_name);
    }
    let mut head = Vec::with_capacity(512);
    File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .map_err(|e| FetchError::io("cannot read", path, e))?;
    Ok(kind_from_magic(&head))
}

/// Validates an entry name and turns it into a relative path; `Ok(None)` for names that denote
/// the archive root itself (`./`). The error says what is wrong with the name.
pub fn safe_entry_path(raw: &str) -> Result<Option<PathBuf>, String> {
    if raw.contains('\0') {
        return Err("has a NUL byte in its name".into());
    }
    if raw.starts_with('/') || raw.starts_with('\\') || has_drive_prefix(raw) {
        return Err("has an absolute path".into());
    }
    let mut path = PathBuf::new();
    // Backslashes count as separators too: a zip made on Windows may use them, and `..\x`
    // must not slip through.
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err("has a `..` component that leads outside the destination".into()),
            normal => path.push(normal),
        }
    }
    Ok(if path.as_os_str().is_empty() {
        None
    } else {
        Some(path)
    })
}

fn has_drive_prefix(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Unpacks `archive` into `dest` (created if missing), detecting the format with
/// [`detect_kind`].
pub fn extract(archive: &Path, dest: &Path, limits: &ExtractLimits) -> Result<(), FetchError> {
    match detect_kind(archive)? {
        Some(kind) => extract_as(kind, archive, dest, limits),
        None => Err(FetchError::Archive {
            archive: archive.to_path_buf(),
            reason: "unrecognized archive format (expected .tar.gz, .tgz, .tar.bz2, .tbz2, .tar \
                     or .zip)"
                .into(),
        }),
    }
}

/// Unpacks `archive`, known to be of `kind`, into `dest`.
pub fn extract_as(
    kind: ArchiveKind,
    archive: &Path,
    dest: &Path,
    limits: &ExtractLimits,
) -> Result<(), FetchError> {
    let file = File::open(archive).map_err(|e| FetchError::io("cannot open", archive, e))?;
    let mut out = Unpacker::new(archive, dest, limits)?;
    match kind {
        ArchiveKind::TarGz => {
            out.tar(flate2::read::MultiGzDecoder::new(io::BufReader::new(file)))?
        }
        ArchiveKind::TarBz2 => {
            out.tar(bzip2::read::MultiBzDecoder::new(io::BufReader::new(file)))?
        }
        ArchiveKind::Tar => out.tar(io::BufReader::new(file))?,
        ArchiveKind::Zip => out.zip(file)?,
    }
    out.finish()
}

/// What kind of file a Unix mode describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeType {
    Regular,
    Directory,
    Symlink,
    Special,
}

fn mode_type(mode: u32) -> ModeType {
    match mode & 0o170_000 {
        0 | 0o100_000 => ModeType::Regular,
        0o040_000 => ModeType::Directory,
        0o120_000 => ModeType::Symlink,
        _ => ModeType::Special,
    }
}

/// Longest symlink target accepted from a zip entry (zip stores the target as the data).
const MAX_LINK_TARGET: u64 = 4096;

/// The writing side shared by the tar and zip readers.
struct Unpacker<'a> {
    archive: &'a Path,
    root: PathBuf,
    limits: &'a ExtractLimits,
    entries: u64,
    bytes: u64,
    symlinks: Vec<PathBuf>,
}

impl<'a> Unpacker<'a> {
    fn new(archive: &'a Path, dest: &Path, limits: &'a ExtractLimits) -> Result<Self, FetchError> {
        fs::create_dir_all(dest).map_err(|e| FetchError::io("cannot create directory", dest, e))?;
        let root = fs::canonicalize(dest).map_err(|e| FetchError::io("cannot resolve", dest, e))?;
        Ok(Unpacker {
            archive,
            root,
            limits,
            entries: 0,
            bytes: 0,
            symlinks: Vec::new(),
        })
    }

    fn archive_error(&self, reason: impl Into<String>) -> FetchError {
        FetchError::Archive {
            archive: self.archive.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn entry_error(&self, entry: &str, reason: impl Into<String>) -> FetchError {
        FetchError::ArchiveEntry {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    /// Counts an entry against the cap and validates its name.
    fn begin(&mut self, name: &str) -> Result<Option<PathBuf>, FetchError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.archive_error(format!(
                "it has more than {} entries (raise the entry limit if this archive is trusted)",
                self.limits.max_entries
            )));
        }
        safe_entry_path(name).map_err(|reason| self.entry_error(name, reason))
    }

    fn check_budget(&self, name: &str, declared: u64) -> Result<(), FetchError> {
        if self.bytes.saturating_add(declared) > self.limits.max_total_bytes {
            return Err(self.too_big(name));
        }
        Ok(())
    }

    fn too_big(&self, name: &str) -> FetchError {
        self.entry_error(
            name,
            format!(
                "takes the unpacked size over the {}-byte limit (raise the size limit if this \
                 archive is trusted)",
                self.limits.max_total_bytes
            ),
        )
    }

    /// Creates the parent directories of `rel` inside the root, refusing to pass through a
    /// symlink or a file, and clears whatever non-directory sits at `rel` itself (a later
    /// entry with the same name replaces an earlier one, as with `tar`). Returns the full path.
    fn prepare(&self, name: &str, rel: &Path, want_dir: bool) -> Result<PathBuf, FetchError> {
        let mut cur = self.root.clone();
        if let Some(parent) = rel.parent() {
            for comp in parent.components() {
                cur.push(comp);
                match fs::symlink_metadata(&cur) {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(self.entry_error(name, "would be written through a symlink"));
                    }
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(self.entry_error(name, "lies under a path that is a file"));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        fs::create_dir(&cur)
                            .map_err(|e| FetchError::io("cannot create directory", &cur, e))?;
                    }
                    Err(e) => return Err(FetchError::io("cannot inspect", &cur, e)),
                }
            }
        }
        let full = self.root.join(rel);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() && !m.file_type().is_symlink() => {
                if !want_dir {
                    return Err(self.entry_error(name, "replaces a directory of the same name"));
                }
            }
            Ok(_) => {
                fs::remove_file(&full).map_err(|e| FetchError::io("cannot replace", &full, e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FetchError::io("cannot inspect", &full, e)),
        }
        Ok(full)
    }

    fn dir(&mut self, name: &str, rel: &Path) -> Result<(), FetchError> {
        let full = self.prepare(name, rel, true)?;
        if !full.is_dir() {
            fs::create_dir(&full)
                .map_err(|e| FetchError::io("cannot create directory", &full, e))?;
        }
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        name: &str,
        rel: &Path,
        data: &mut R,
        mode: u32,
        declared: u64,
    ) -> Result<(), FetchError> {
        self.check_budget(name, declared)?;
        let full = self.prepare(name, rel, false)?;
        // create_new refuses to follow a symlink planted at this path.
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&full)
            .map_err(|e| FetchError::io("cannot create", &full, e))?;
        let budget = self.limits.max_total_bytes.saturating_sub(self.bytes);
        match copy_limited(data, &mut out, budget) {
            Ok(CopyOutcome::Complete(n)) => self.bytes += n,
            Ok(CopyOutcome::LimitExceeded) => {
                drop(out);
                let _ = fs::remove_file(&full);
                return Err(self.too_big(name));
            }
            Err(CopyError::Read(e)) => {
                return Err(self.entry_error(name, format!("cannot be read: {e}")));
            }
            Err(CopyError::Write(e)) => return Err(FetchError::io("cannot write", &full, e)),
        }
        set_mode(&full, mode).map_err(|e| FetchError::io("cannot set permissions of", &full, e))
    }

    fn symlink(&mut self, name: &str, rel: &Path, target: &str) -> Result<(), FetchError> {
        let full = self.prepare(name, rel, false)?;
        let parent = full.parent().unwrap_or(&self.root).to_path_buf();
        if let Err(unresolved) = resolve_inside(&self.root, &parent, Path::new(target), 0) {
            return Err(self.entry_error(name, unresolved.describe(Path::new(target))));
        }
        make_symlink(target, &full)
            .map_err(|e| FetchError::io("cannot create symlink", &full, e))?;
        self.symlinks.push(full);
        Ok(())
    }

    /// Hard links are materialized as copies of an already unpacked regular file.
    fn hardlink(&mut self, name: &str, rel: &Path, target: &str) -> Result<(), FetchError> {
        let target_rel = safe_entry_path(target)
            .map_err(|reason| {
                self.entry_error(name, format!("is a hard link whose target {reason}"))
            })?
            .ok_or_else(|| self.entry_error(name, "is a hard link to the archive root"))?;
        let source = self.root.join(&target_rel);
        let through_symlink = target_rel
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .any(|a| {
                fs::symlink_metadata(self.root.join(a)).is_ok_and(|m| m.file_type().is_symlink())
            });
        let is_file = fs::symlink_metadata(&source).is_ok_and(|m| m.is_file());
        if through_symlink || !is_file {
            return Err(self.entry_error(
                name,
                format!(
                    "is a hard link to `{target}`, which is not a regular file unpacked earlier"
                ),
            ));
        }
        let mode = fs::metadata(&source)
            .map(|m| permissions_mode(&m))
            .unwrap_or(0o644);
        let declared = fs::metadata(&source).map(|m| m.len()).unwrap_or(0);
        let mut data =
            File::open(&source).map_err(|e| FetchError::io("cannot open", &source, e))?;
        self.file(name, rel, &mut data, mode, declared)
    }

    fn tar<R: Read>(&mut self, reader: R) -> Result<(), FetchError> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| self.archive_error(format!("not a valid tar archive: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| self.archive_error(format!("corrupt tar data: {e}")))?;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                tar::EntryType::XGlobalHeader
                    | tar::EntryType::XHeader
                    | tar::EntryType::GNULongName
                    | tar::EntryType::GNULongLink
            ) {
                continue;
            }
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8(raw).map_err(|e| {
                self.entry_error(
                    &String::from_utf8_lossy(e.as_bytes()),
                    "has a name that is not valid UTF-8",
                )
            })?;
            let Some(rel) = self.begin(&name)? else {
                continue;
            };
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mode = entry.header().mode().unwrap_or(0o644);
                    let size = entry.size();
                    self.file(&name, &rel, &mut entry, mode, size)?;
                }
                tar::EntryType::Directory => self.dir(&name, &rel)?,
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .ok_or_else(|| self.entry_error(&name, "is a link without a target"))?;
                    if kind == tar::EntryType::Symlink {
                        self.symlink(&name, &rel, &target)?;
                    } else {
                        self.hardlink(&name, &rel, &target)?;
                    }
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    return Err(self.entry_error(
                        &name,
                        "is a device or fifo, which source archives must not contain",
                    ));
                }
                other => {
                    return Err(self.entry_error(
                        &name,
                        format!("has an unsupported tar entry type {other:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn zip(&mut self, file: File) -> Result<(), FetchError> {
        let mut archive = zip::ZipArchive::new(io::BufReader::new(file))
            .map_err(|e| self.archive_error(format!("not a valid zip archive: {e}")))?;
        if archive.len() as u64 > self.limits.max_entries {
            return Err(self.archive_error(format!(
                "it has {} entries, more than the limit of {} (raise the entry limit if this archive is trusted)",
                archive.len(),
                self.limits.max_entries
            )));
        }
        for index in 0..archive.len() {
            let mut entry = archive
                .by_index(index)
                .map_err(|e| self.archive_error(format!("corrupt zip entry #{index}: {e}")))?;
            let name = entry
                .name()
                .map_err(|e| {
                    self.archive_error(format!("zip entry #{index} has an unreadable name: {e}"))
                })?
                .into_owned();
            let Some(rel) = self.begin(&name)? else {
                continue;
            };
            let mode = entry.unix_mode();
            let kind = match mode.map(mode_type) {
                _ if entry.is_dir() => ModeType::Directory,
                Some(kind) => kind,
                None => ModeType::Regular,
            };
            match kind {
                ModeType::Directory => self.dir(&name, &rel)?,
                ModeType::Regular => {
                    let size = entry.size();
                    self.file(&name, &rel, &mut entry, mode.unwrap_or(0o644), size)?;
                }
                ModeType::Symlink => {
                    let mut target = String::new();
                    (&mut entry)
                        .take(MAX_LINK_TARGET)
                        .read_to_string(&mut target)
                        .map_err(|e| {
                            self.entry_error(
                                &name,
                                format!("has an unreadable symlink target: {e}"),
                            )
                        })?;
                    self.symlink(&name, &rel, &target)?;
                }
                ModeType::Special => {
                    return Err(self.entry_error(
                        &name,
                        "is a device or fifo, which source archives must not contain",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Re-checks every symlink now that all of them exist: a link created later can redirect
    /// the path an earlier link resolves through. Offending links are removed.
    fn finish(self) -> Result<(), FetchError> {
        for link in &self.symlinks {
            let Ok(target) = fs::read_link(link) else {
                continue;
            };
            let parent = link.parent().unwrap_or(&self.root);
            if let Err(unresolved) = resolve_inside(&self.root, parent, &target, 0) {
                let _ = fs::remove_file(link);
                let entry = link
                    .strip_prefix(&self.root)
                    .unwrap_or(link)
                    .display()
                    .to_string();
                return Err(self.entry_error(&entry, unresolved.describe(&target)));
            }
        }
        Ok(())
    }
}

/// Why a symlink target was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unresolved {
    /// Absolute, or a step leaves the destination.
    Outside,
    /// Following links goes round in a circle (or deeper than any real tree needs).
    Loop,
}

impl Unresolved {
    fn describe(self, target: &Path) -> String {
        match self {
            Unresolved::Outside => format!(
                "is a symlink to `{}`, which resolves outside the destination",
                target.display()
            ),
            Unresolved::Loop => format!(
                "is a symlink to `{}`, which never resolves: the links form a loop",
                target.display()
            ),
        }
    }
}

/// Resolves `target` (a symlink's contents) from the symlink-free directory `from`, following
/// symlinks that already exist, and returns where it leads if every step stays inside `root`.
/// Absolute targets and any step outside `root` (even one that comes back) are refused.
fn resolve_inside(
    root: &Path,
    from: &Path,
    target: &Path,
    depth: u32,
) -> Result<PathBuf, Unresolved> {
    // Linux's own limit on links followed in one lookup.
    const MAX_LINK_DEPTH: u32 = 40;
    if depth > MAX_LINK_DEPTH {
        return Err(Unresolved::Loop);
    }
    let mut cur = from.to_path_buf();
    for comp in target.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                cur.pop();
            }
            Component::Normal(part) => {
                let next = cur.join(part);
                match fs::symlink_metadata(&next) {
                    Ok(m) if m.file_type().is_symlink() => {
                        let inner = fs::read_link(&next).map_err(|_| Unresolved::Outside)?;
                        cur = resolve_inside(root, &cur, &inner, depth + 1)?;
                    }
                    _ => cur = next,
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(Unresolved::Outside),
        }
        if !cur.starts_with(root) {
            return Err(Unresolved::Outside);
        }
    }
    Ok(cur)
}

/// Keeps the executable bits of an entry and normalizes the rest, so unpacked trees do not
/// depend on the umask or odd modes of whoever made the archive.
fn normalized_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 { 0o755 } else { 0o644 }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(normalized_mode(mode)))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn permissions_mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode()
}

#[cfg(not(unix))]
fn permissions_mode(_meta: &fs::Metadata) -> u32 {
    0o644
}

#[cfg(unix)]
fn make_symlink(target: &str, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn make_symlink(_target: &str, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symlinks in archives are only supported on Unix",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_name() {
        assert_eq!(kind_from_name("a-1.0.tar.gz"), Some(ArchiveKind::TarGz));
        assert_eq!(kind_from_name("A.TGZ"), Some(ArchiveKind::TarGz));
        assert_eq!(kind_from_name("a.tar.bz2"), Some(ArchiveKind::TarBz2));
        assert_eq!(kind_from_name("a.tbz2"), Some(ArchiveKind::TarBz2));
        assert_eq!(kind_from_name("a.tar"), Some(ArchiveKind::Tar));
        assert_eq!(kind_from_name("a.zip"), Some(ArchiveKind::Zip));
        assert_eq!(kind_from_name("a-1.0-1.src.rock"), Some(ArchiveKind::Zip));
        assert_eq!(kind_from_name("v1.0"), None);
    }

    #[test]
    fn kinds_by_magic() {
        assert_eq!(kind_from_magic(&[0x1f, 0x8b, 8]), Some(ArchiveKind::TarGz));
        assert_eq!(kind_from_magic(b"BZh91AY"), Some(ArchiveKind::TarBz2));
        assert_eq!(kind_from_magic(b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(kind_from_magic(&tar), Some(ArchiveKind::Tar));
        assert_eq!(kind_from_magic(b"local x = 1"), None);
    }

    #[test]
    fn entry_paths() {
        assert_eq!(
            safe_entry_path("a/b.lua").unwrap(),
            Some(PathBuf::from("a/b.lua"))
        );
        assert_eq!(
            safe_entry_path("./a//b/").unwrap(),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(safe_entry_path("./").unwrap(), None);
        assert!(safe_entry_path("../evil").unwrap_err().contains(".."));
        assert!(safe_entry_path("a/../../evil").is_err());
        assert!(safe_entry_path("a\\..\\evil").is_err());
        assert!(
            safe_entry_path("/etc/passwd")
                .unwrap_err()
                .contains("absolute")
        );
        assert!(safe_entry_path("C:/x").unwrap_err().contains("absolute"));
        assert!(safe_entry_path("a\0b").is_err());
    }

    #[test]
    fn mode_types() {
        assert_eq!(mode_type(0o100_755), ModeType::Regular);
        assert_eq!(mode_type(0o644), ModeType::Regular);
        assert_eq!(mode_type(0o040_755), ModeType::Directory);
        assert_eq!(mode_type(0o120_777), ModeType::Symlink);
        assert_eq!(mode_type(0o020_644), ModeType::Special);
        assert_eq!(mode_type(0o010_644), ModeType::Special);
    }

    #[test]
    fn modes_keep_only_the_executable_bit() {
        assert_eq!(normalized_mode(0o700), 0o755);
        assert_eq!(normalized_mode(0o600), 0o644);
        assert_eq!(normalized_mode(0o4777), 0o755);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_resolution_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        assert!(resolve_inside(&root, &root.join("sub"), Path::new("../x"), 0).is_ok());
        let outside = Err(Unresolved::Outside);
        assert_eq!(resolve_inside(&root, &root, Path::new("../x"), 0), outside);
        assert_eq!(resolve_inside(&root, &root, Path::new("/etc"), 0), outside);
        // sub/up -> .. is fine on its own, but following it and then `..` leaves the root.
        std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
        assert!(resolve_inside(&root, &root, Path::new("sub/up"), 0).is_ok());
        assert_eq!(
            resolve_inside(&root, &root, Path::new("sub/up/.."), 0),
            outside
        );
        // A link loop is refused, and called a loop, rather than followed forever.
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(
            resolve_inside(&root, &root, Path::new("loop/x"), 0),
            Err(Unresolved::Loop)
        );
    }
}
