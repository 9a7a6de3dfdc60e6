//! Getting package sources onto the disk: downloads (`http(s)://`, `file://`, paths) with
//! timeouts and size caps, content digests, safe archive extraction, git clones, `.src.rock`
//! unpacking, and locating the source directory inside what was fetched the way LuaRocks does.

pub mod archive;
pub mod download;
pub mod git;
pub mod git_http;
pub mod git_ssh;
pub mod hash;
pub mod project;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::rockspec::Source;

pub use archive::{ArchiveKind, extract};
use download::{Location, location_of, sha256_local};
pub use download::{download, download_unflushed, url_file_name};
pub use git::{GitRef, GitSpec, fetch_git, is_git_url, parse_git_spec};
pub use hash::{md5_bytes, md5_file, sha256_bytes, sha256_file, verify_md5};

/// Everything that can go wrong while fetching, verifying or unpacking sources.
#[derive(Debug, Error)]
pub enum FetchError {
    #[error("{context} {}: {cause}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
    #[error("cannot download {url}: the server answered HTTP {status}{}", status_hint(*status))]
    HttpStatus { url: String, status: u16 },
    #[error("cannot download {url}: {} does not exist", path.display())]
    FileNotFound { url: String, path: PathBuf },
    #[error("cannot download {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error(
        "cannot download {url}: it is larger than the {limit}-byte limit (raise the download size \
         limit if this file is expected to be that big)"
    )]
    TooLarge { url: String, limit: u64 },
    #[error(
        "cannot download {url}: not finished within the download_timeout of {} s (the server \
         sends too slowly); retry later, or raise download_timeout (`lvm config set \
         download_timeout SECONDS`, LVM_DOWNLOAD_TIMEOUT)",
        limit.as_secs_f64()
    )]
    DeadlineExceeded { url: String, limit: Duration },
    #[error(
        "cannot download {url}: unsupported URL scheme (use http://, https://, file:// or a local path)"
    )]
    UnsupportedUrl { url: String },
    #[error(
        "md5 mismatch for {}: expected {expected}, got {actual} (the download is corrupt or \
         the rockspec's source.md5 is wrong)",
        file.display()
    )]
    Md5Mismatch {
        file: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "sha256 mismatch for {url}: expected {expected}, got {actual} (the source changed since \
         it was recorded; re-resolve it if the change is legitimate)"
    )]
    Sha256Mismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("cannot extract {}: {reason}", archive.display())]
    Archive { archive: PathBuf, reason: String },
    #[error("cannot extract {}: entry `{entry}` {reason}", archive.display())]
    ArchiveEntry {
        archive: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("source.dir `{dir}` {reason} (fix source.dir in the rockspec)")]
    SourceDir { dir: String, reason: String },
    #[error("cannot save the source of {url}: {reason} (set source.file in the rockspec)")]
    SourceFileName { url: String, reason: String },
    #[error("git source {url}: {reason}")]
    Git { url: String, reason: String },
    #[error("invalid git source `{spec}`: {reason}")]
    InvalidGitSpec { spec: String, reason: String },
    #[error("invalid source rock {}: {reason}", rock.display())]
    SrcRock { rock: PathBuf, reason: String },
}

impl FetchError {
    /// Reaching a server or remote is the network; a malformed URL, git spec or source field
    /// bad input; a digest mismatch or a bad archive damaged data; local I/O anything else.
    pub fn kind(&self) -> crate::errors::ErrorKind {
        use crate::errors::ErrorKind;
        match self {
            FetchError::HttpStatus { .. }
            | FetchError::Transport { .. }
            | FetchError::DeadlineExceeded { .. }
            | FetchError::FileNotFound { .. }
            | FetchError::Git { .. } => ErrorKind::Network,
            FetchError::UnsupportedUrl { .. }
            | FetchError::InvalidGitSpec { .. }
            | FetchError::SourceDir { .. }
            | FetchError::SourceFileName { .. } => ErrorKind::BadInput,
            FetchError::Io { .. }
            | FetchError::TooLarge { .. }
            | FetchError::Md5Mismatch { .. }
            | FetchError::Sha256Mismatch { .. }
            | FetchError::Archive { .. }
            | FetchError::ArchiveEntry { .. }
            | FetchError::SrcRock { .. } => ErrorKind::Other,
        }
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        404 | 410 => " (not found: check the URL, package name and version)",
        401 | 403 => " (access denied: the file is not public)",
        500..=599 => " (the server failed: retry later or use another server)",
        _ => "",
    }
}

impl FetchError {
    pub(crate) fn io(context: &'static str, path: &Path, source: io::Error) -> FetchError {
        FetchError::Io {
            context,
            path: path.to_path_buf(),
            cause: source,
        }
    }

    /// Whether the error means the file does not exist at that location (HTTP 404/410, or a
    /// missing local file), as opposed to the location being unreachable or failing.
    pub fn is_not_found(&self) -> bool {
        match self {
            FetchError::HttpStatus { status, .. } => matches!(status, 404 | 410),
            FetchError::FileNotFound { .. } => true,
            _ => false,
        }
    }
}

/// Limits on what an archive may unpack to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Total bytes of all unpacked files.
    pub max_total_bytes: u64,
    /// Number of entries (files, directories, links).
    pub max_entries: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_total_bytes: 2 << 30,
            max_entries: 100_000,
        }
    }
}

/// How downloads behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for each read from the connection (headers or body) to make progress.
    pub read_timeout: Duration,
    /// Time allowed for one whole download, however steadily the server sends: a server
    /// trickling a byte now and then never trips `read_timeout`.
    pub download_timeout: Duration,
    /// Largest download accepted, in bytes.
    pub max_download_bytes: u64,
    /// Limits applied when unpacking archives.
    pub limits: ExtractLimits,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            download_timeout: DEFAULT_DOWNLOAD_TIMEOUT,
            max_download_bytes: 1 << 30,
            limits: ExtractLimits::default(),
        }
    }
}

/// The built-in limit on one whole download (the `download_timeout` setting's default).
pub const DEFAULT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Download settings whose connect and read timeouts are both `http_timeout` (the
/// `http_timeout` setting, see `config`), or the built-in ones without it, and whose whole
/// downloads end after `download_timeout` (the built-in limit without it). Pure.
pub fn fetch_options(
    http_timeout: Option<Duration>,
    download_timeout: Option<Duration>,
) -> FetchOptions {
    let mut opts = FetchOptions::default();
    if let Some(timeout) = http_timeout {
        opts.connect_timeout = timeout;
        opts.read_timeout = timeout;
    }
    if let Some(limit) = download_timeout {
        opts.download_timeout = limit;
    }
    opts
}

/// Options for [`fetch_source`] beyond the rockspec's own `source` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOptions {
    pub fetch: FetchOptions,
    /// The sha256 the source archive must have (from a lock file), checked after download.
    pub expected_sha256: Option<String>,
    /// The exact commit to check out for git sources, overriding `source.tag`/`source.branch`.
    pub git_commit: Option<String>,
    /// Where archives downloaded over HTTP(S) are kept and reused, one folder per URL (a copy
    /// whose digests no longer fit is fetched again); `None` downloads every time. Only for sources whose URL names
    /// the same bytes for good: not development versions (`scm`, `dev`), whose archives move.
    pub archive_cache: Option<PathBuf>,
}

/// A fetched source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedSource {
    /// The directory to build in (after applying `source.dir`, or the single top-level
    /// directory of the archive).
    pub dir: PathBuf,
    /// sha256 of the downloaded archive (archive sources only).
    pub archive_sha256: Option<String>,
    /// The commit checked out (git sources only).
    pub git_commit: Option<String>,
}

/// The directory (inside the work directory) archives are unpacked into.
const UNPACK_DIR: &str = "unpacked";

/// Fetches the sources a rockspec's `source` table describes into `work_dir` and returns the
/// directory to build in: [`fetch_source_bytes`], then [`FetchedBytes::unpack`].
pub fn fetch_source(
    source: &Source,
    work_dir: &Path,
    opts: &SourceOptions,
) -> Result<FetchedSource, FetchError> {
    fetch_source_bytes(source, work_dir, opts)?.unpack(source, work_dir, &opts.fetch.limits)
}

/// A source whose bytes are fetched and checked but not yet unpacked: what a store key needs
/// (the archive's sha256, or the commit), without unpacking an archive whose build the store
/// may already have.
#[derive(Debug, Clone)]
pub enum FetchedBytes {
    /// An archive checked against `source.md5` and the expected sha256, at `path`; or, for
    /// one checked where it is (`in_place`), to be put at `path` when unpacked.
    Archive {
        path: PathBuf,
        sha256: String,
        in_place: Option<InPlace>,
    },
    /// A git checkout: the tree to build already.
    Checkout(FetchedSource),
}

impl FetchedBytes {
    /// sha256 of the downloaded archive (archive sources only).
    pub fn archive_sha256(&self) -> Option<&str> {
        match self {
            FetchedBytes::Archive { sha256, .. } => Some(sha256),
            FetchedBytes::Checkout(fetched) => fetched.archive_sha256.as_deref(),
        }
    }

    /// The commit checked out (git sources only).
    pub fn git_commit(&self) -> Option<&str> {
        match self {
            FetchedBytes::Archive { .. } => None,
            FetchedBytes::Checkout(fetched) => fetched.git_commit.as_deref(),
        }
    }

    /// The directory to build in: an archive unpacked (safely, within `limits`) into
    /// `work_dir`, and `source.dir` (or the archive's single top folder) found in it.
    pub fn unpack(
        self,
        source: &Source,
        work_dir: &Path,
        limits: &ExtractLimits,
    ) -> Result<FetchedSource, FetchError> {
        match self {
            FetchedBytes::Archive {
                path,
                sha256,
                in_place,
            } => {
                match in_place {
                    Some(InPlace::Local(local)) => copy_unchanged(&local, &path, &sha256)?,
                    Some(InPlace::Cached { url, file, .. }) => {
                        place_unchanged(&url, &file, &path, &sha256)?
                    }
                    None => {}
                }
                unpack_and_locate(source, &path, &sha256, work_dir, limits)
            }
            FetchedBytes::Checkout(fetched) => Ok(fetched),
        }
    }
}

/// Fetches the bytes of the sources a rockspec's `source` table describes into `work_dir`.
///
/// Archives are downloaded (saved as `source.file` if given) and checked against `source.md5`
/// and `opts.expected_sha256`. Git URLs are cloned at `opts.git_commit`, else `source.tag`,
/// else `source.branch`, else the default branch.
pub fn fetch_source_bytes(
    source: &Source,
    work_dir: &Path,
    opts: &SourceOptions,
) -> Result<FetchedBytes, FetchError> {
    let location = location_of(&source.url);
    if is_git_url(&source.url) {
        fs::create_dir_all(work_dir)
            .map_err(|e| FetchError::io("cannot create directory", work_dir, e))?;
        return fetch_git_source(source, work_dir, opts).map(FetchedBytes::Checkout);
    }
    let file_name = source_file_name(source)?;
    let archive = work_dir.join(&file_name);
    // An archive already on this machine (a local one, or the archive cache's copy) is hashed
    // and checked where it is, and put in `work_dir` only when a build unpacks it: a build
    // found in the store needs only the digest, and then nothing is written for it.
    let (sha256, in_place) = match (&opts.archive_cache, location?) {
        (Some(cache), Location::Http(_)) => {
            let expected = CachedBytes {
                sha256: opts.expected_sha256.as_deref(),
                md5: source.md5.as_deref(),
            };
            let (path, file, sha256) =
                cached_download(&source.url, &file_name, cache, &expected, &opts.fetch)?;
            let cached = InPlace::Cached {
                url: source.url.clone(),
                path,
                file: Arc::new(file),
            };
            (sha256, Some(cached))
        }
        (_, Location::Local(path)) => {
            let sha256 = sha256_local(&source.url, &opts.fetch)?;
            let local = LocalArchive {
                url: source.url.clone(),
                path,
                max_bytes: opts.fetch.max_download_bytes,
            };
            (sha256, Some(InPlace::Local(local)))
        }
        // Unpacked right away and checked by its digest: nothing to gain from waiting for the
        // disk (a crash leaves only a scratch folder). The archive cache keeps its copies
        // flushed, since a later install trusts them.
        _ => (
            download_unflushed(&source.url, &archive, &opts.fetch)?,
            None,
        ),
    };
    let checked = match &in_place {
        Some(InPlace::Local(local)) => &local.path,
        Some(InPlace::Cached { path, .. }) => path,
        None => &archive,
    };
    check_archive(source, &source.url, checked, &sha256, opts)?;
    Ok(FetchedBytes::Archive {
        path: archive,
        sha256,
        in_place,
    })
}

/// An archive that was hashed and checked where it is, not yet in the work folder.
#[derive(Debug, Clone)]
pub enum InPlace {
    /// A local archive (a `file://` URL or a path).
    Local(LocalArchive),
    /// The archive cache's copy of the download of `url`, at `path`, held open since it was
    /// hashed: a collection of the cache, or another install replacing the copy, cannot take
    /// away the bytes the digest is of before a build needs them.
    Cached {
        url: String,
        path: PathBuf,
        file: Arc<fs::File>,
    },
}

/// A local source archive (a `file://` URL or a path) that was hashed where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalArchive {
    url: String,
    path: PathBuf,
    max_bytes: u64,
}

/// Copies a local archive to `dest` for unpacking, and fails unless the copy still has the
/// digest the store key was made from: what is built must be the bytes that were hashed.
fn copy_unchanged(local: &LocalArchive, dest: &Path, sha256: &str) -> Result<(), FetchError> {
    let opts = FetchOptions {
        max_download_bytes: local.max_bytes,
        ..FetchOptions::default()
    };
    let copied = download_unflushed(&local.url, dest, &opts)?;
    if !hash::same_digest(sha256, &copied) {
        return Err(FetchError::Sha256Mismatch {
            url: local.url.clone(),
            expected: sha256.to_string(),
            actual: copied,
        });
    }
    Ok(())
}

/// The digests a cached archive must have to stand in for a download.
struct CachedBytes<'a> {
    sha256: Option<&'a str>,
    md5: Option<&'a str>,
}

/// The archive cache's copy of the archive at `url`, saved as `name`: its path, the file open
/// for reading, and its sha256 (of the bytes of that open file), downloading it into `cache`
/// first when it is not there. A copy whose digests differ from `expected` (the server
/// replaced the file) is dropped and downloaded again, so the checks after this see what the
/// server serves now.
fn cached_download(
    url: &str,
    name: &str,
    cache: &Path,
    expected: &CachedBytes<'_>,
    opts: &FetchOptions,
) -> Result<(PathBuf, fs::File, String), FetchError> {
    let cached = cache.join(&sha256_bytes(url.as_bytes())[..16]).join(name);
    if let Ok(file) = fs::File::open(&cached) {
        let sha256 = sha256_of_open(&cached, &file)?;
        let fits = expected
            .sha256
            .is_none_or(|want| hash::same_digest(want, &sha256))
            && expected.md5.is_none_or(|want| {
                md5_file(&cached).is_ok_and(|md5| hash::same_digest(want, &md5))
            });
        if fits {
            return Ok((cached, file, sha256));
        }
        let _ = fs::remove_file(&cached);
    }
    download(url, &cached, opts)?;
    let file = fs::File::open(&cached).map_err(|e| FetchError::io("cannot open", &cached, e))?;
    let sha256 = sha256_of_open(&cached, &file)?;
    Ok((cached, file, sha256))
}

/// The sha256 of the whole of `file` (opened from `path`), read from its start whatever its
/// position.
fn sha256_of_open(path: &Path, file: &fs::File) -> Result<String, FetchError> {
    hash::digest_reader::<sha2::Sha256>(OpenReader { file, at: 0 })
        .map(|(digest, _)| digest)
        .map_err(|e| FetchError::io("cannot read", path, e))
}

/// Reads an open file from a position of its own (`pread`), so two readers of one shared
/// handle do not move each other.
struct OpenReader<'a> {
    file: &'a fs::File,
    at: u64,
}

impl io::Read for OpenReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Copies the archive cache's copy `cached` (the download of `url`, open since it was hashed)
/// to `dest` for unpacking, and fails unless the copy has the digest the store key was made
/// from.
fn place_unchanged(
    url: &str,
    cached: &fs::File,
    dest: &Path,
    sha256: &str,
) -> Result<(), FetchError> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| FetchError::io("cannot create directory", parent, e))?;
    }
    let out = fs::File::create(dest).map_err(|e| FetchError::io("cannot create", dest, e))?;
    let mut writer = hash::HashingWriter::new(io::BufWriter::new(out));
    io::copy(
        &mut OpenReader {
            file: cached,
            at: 0,
        },
        &mut writer,
    )
    .map_err(|e| FetchError::io("cannot copy the cached archive to", dest, e))?;
    let (mut out, placed) = writer.finish();
    io::Write::flush(&mut out).map_err(|e| FetchError::io("cannot write", dest, e))?;
    if !hash::same_digest(sha256, &placed) {
        return Err(FetchError::Sha256Mismatch {
            url: format!("{url} (its copy in the archive cache)"),
            expected: sha256.to_string(),
            actual: placed,
        });
    }
    Ok(())
}

/// What [`trim_archive_cache`] removed (or would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrimmedArchives {
    /// The cached archives removed, by path.
    pub removed: Vec<PathBuf>,
    pub freed_bytes: u64,
}

/// How long a cached archive is left alone after it was downloaded, whatever `keep` says: an
/// install in flight downloads it before any state records its digest.
const ARCHIVE_CACHE_GRACE: Duration = Duration::from_secs(600);

/// Removes the source archives in `cache` (the folder `fetch_source` keeps them in) whose sha256
/// is not in `keep`, unless downloaded within the last ten minutes; with `dry_run`, only says
/// which. Empty folders left behind go too. A missing cache is empty.
pub fn trim_archive_cache(
    cache: &Path,
    keep: &std::collections::BTreeSet<String>,
    dry_run: bool,
) -> Result<TrimmedArchives, FetchError> {
    let mut trimmed = TrimmedArchives::default();
    let Ok(folders) = fs::read_dir(cache) else {
        return Ok(trimmed);
    };
    let now = std::time::SystemTime::now();
    for folder in folders.flatten().map(|e| e.path()) {
        let Ok(files) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in files.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let recent = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_none_or(|age| age < ARCHIVE_CACHE_GRACE);
            if !meta.is_file() || recent || keep.contains(&sha256_file(&path)?) {
                continue;
            }
            if !dry_run {
                fs::remove_file(&path).map_err(|e| FetchError::io("cannot remove", &path, e))?;
            }
            trimmed.freed_bytes += meta.len();
            trimmed.removed.push(path);
        }
        if !dry_run {
            // Only succeeds when the folder is empty.
            let _ = fs::remove_dir(&folder);
        }
    }
    trimmed.removed.sort();
    Ok(trimmed)
}

/// The file name a source archive is saved under: `source.file`, else the URL's last segment.
/// It must be a plain file name, since it is joined to the work directory.
pub fn source_file_name(source: &Source) -> Result<String, FetchError> {
    let name = match &source.file {
        Some(file) => file.clone(),
        None => url_file_name(&source.url).ok_or_else(|| FetchError::SourceFileName {
            url: source.url.clone(),
            reason: "the URL does not end in a file name".into(),
        })?,
    };
    let plain = matches!(archive::safe_entry_path(&name), Ok(Some(p)) if p.components().count() == 1)
        && !name.contains(['/', '\\']);
    if !plain {
        return Err(FetchError::SourceFileName {
            url: source.url.clone(),
            reason: format!("`{name}` is not a plain file name"),
        });
    }
    Ok(name)
}

/// Verifies a source archive already on disk, unpacks it under `work_dir` and picks the
/// source directory. `origin` names the archive in digest errors (its URL, or its path).
/// Checks a fetched archive (`origin` names it in errors) against `source.md5` and the
/// expected sha256.
fn check_archive(
    source: &Source,
    origin: &str,
    archive: &Path,
    sha256: &str,
    opts: &SourceOptions,
) -> Result<(), FetchError> {
    if let Some(md5) = &source.md5 {
        verify_md5(archive, md5)?;
    }
    if let Some(expected) = &opts.expected_sha256
        && !hash::same_digest(expected, sha256)
    {
        return Err(FetchError::Sha256Mismatch {
            url: origin.to_string(),
            expected: expected.trim().to_ascii_lowercase(),
            actual: sha256.to_string(),
        });
    }
    Ok(())
}

/// Unpacks a checked archive into `work_dir` and finds the directory to build in.
fn unpack_and_locate(
    source: &Source,
    archive: &Path,
    sha256: &str,
    work_dir: &Path,
    limits: &ExtractLimits,
) -> Result<FetchedSource, FetchError> {
    let root = work_dir.join(UNPACK_DIR);
    clear_dir(&root)?;
    unpack_source_file(archive, &root, limits)?;
    let dir = locate_source_dir(&root, source.dir.as_deref(), archive)?;
    Ok(FetchedSource {
        dir,
        archive_sha256: Some(sha256.to_string()),
        git_commit: None,
    })
}

/// Unpacks an archive into `root`; a lone `.lua` or `.c` file (which LuaRocks accepts as a
/// source) is copied there instead.
fn unpack_source_file(file: &Path, root: &Path, limits: &ExtractLimits) -> Result<(), FetchError> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if archive::kind_from_name(name).is_none() && (name.ends_with(".lua") || name.ends_with(".c")) {
        fs::create_dir_all(root).map_err(|e| FetchError::io("cannot create directory", root, e))?;
        let target = root.join(name);
        fs::copy(file, &target).map_err(|e| FetchError::io("cannot copy source to", &target, e))?;
        return Ok(());
    }
    extract(file, root, limits)
}

/// Removes a directory this module owns inside the work directory, so a second fetch into the
/// same work directory does not mix in stale files.
fn clear_dir(dir: &Path) -> Result<(), FetchError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FetchError::io("cannot clear", dir, e)),
    }
}

/// The single top-level directory among `entries` (name, is-directory), if that is all there
/// is: LuaRocks builds inside it when the rockspec gives no `source.dir`.
pub fn single_top_dir(entries: &[(String, bool)]) -> Option<&str> {
    match entries {
        [(name, true)] => Some(name),
        _ => None,
    }
}

/// Picks the source directory inside the unpacked `root`: `dir` (rockspec `source.dir`) if
/// given, else the archive's single top-level directory, else `root` itself.
pub fn locate_source_dir(
    root: &Path,
    dir: Option<&str>,
    archive: &Path,
) -> Result<PathBuf, FetchError> {
    let entries = list_dir(root)?;
    if let Some(dir) = dir {
        let rel = archive::safe_entry_path(dir).map_err(|reason| FetchError::SourceDir {
            dir: dir.to_string(),
            reason: format!("is not a relative path inside the sources: it {reason}"),
        })?;
        let path = match rel {
            Some(rel) => root.join(rel),
            None => return Ok(root.to_path_buf()),
        };
        if path.is_dir() {
            return Ok(path);
        }
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        return Err(FetchError::SourceDir {
            dir: dir.to_string(),
            reason: format!(
                "was not found in {} (its top level holds: {})",
                archive.display(),
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            ),
        });
    }
    Ok(match single_top_dir(&entries) {
        Some(name) => root.join(name),
        None => root.to_path_buf(),
    })
}

/// The entries of `dir` as (name, is-a-real-directory), sorted by name.
fn list_dir(dir: &Path) -> Result<Vec<(String, bool)>, FetchError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| FetchError::io("cannot list", dir, e))? {
        let entry = entry.map_err(|e| FetchError::io("cannot list", dir, e))?;
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        entries.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    entries.sort();
    Ok(entries)
}

fn fetch_git_source(
    source: &Source,
    work_dir: &Path,
    opts: &SourceOptions,
) -> Result<FetchedSource, FetchError> {
    let clone_dir = git::clone_dir(work_dir, &source.url);
    clear_dir(&clone_dir)?;
    let reference = match (&opts.git_commit, &source.tag, &source.branch) {
        (Some(commit), _, _) => GitRef::Commit(commit),
        (None, Some(tag), _) => GitRef::Named(tag),
        (None, None, Some(branch)) => GitRef::Named(branch),
        (None, None, None) => GitRef::Default,
    };
    let commit = fetch_git(&source.url, reference, &clone_dir)?;
    let dir = locate_git_dir(work_dir, &clone_dir, source.dir.as_deref())?;
    Ok(FetchedSource {
        dir,
        archive_sha256: None,
        git_commit: Some(commit),
    })
}

/// For git sources LuaRocks resolves `source.dir` against the work directory (where the clone
/// is named after the repository); a path inside the clone is accepted too.
fn locate_git_dir(
    work_dir: &Path,
    clone_dir: &Path,
    dir: Option<&str>,
) -> Result<PathBuf, FetchError> {
    let Some(dir) = dir else {
        return Ok(clone_dir.to_path_buf());
    };
    let bad = |reason: String| FetchError::SourceDir {
        dir: dir.to_string(),
        reason,
    };
    let rel = archive::safe_entry_path(dir).map_err(|reason| {
        bad(format!(
            "is not a relative path inside the sources: it {reason}"
        ))
    })?;
    let Some(rel) = rel else {
        return Ok(clone_dir.to_path_buf());
    };
    [work_dir.join(&rel), clone_dir.join(&rel)]
        .into_iter()
        .find(|p| p.is_dir() && p.starts_with(work_dir))
        .ok_or_else(|| {
            bad(format!(
                "was not found in the clone at {}",
                clone_dir.display()
            ))
        })
}

/// A `.src.rock` unpacked into a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedSrcRock {
    /// The rockspec it carries.
    pub rockspec: PathBuf,
    /// Where it was unpacked (holding the rockspec and the source archive or directory).
    pub root: PathBuf,
}

/// Unpacks a `.src.rock` (a zip holding `name-version.rockspec` and the sources) into `dest`.
/// Once the rockspec is parsed, [`src_rock_source`] finds the sources.
pub fn unpack_src_rock(
    rock: &Path,
    dest: &Path,
    limits: &ExtractLimits,
) -> Result<UnpackedSrcRock, FetchError> {
    archive::extract_as(ArchiveKind::Zip, rock, dest, limits)?;
    let rockspecs: Vec<String> = list_dir(dest)?
        .into_iter()
        .filter(|(n, is_dir)| !is_dir && n.ends_with(".rockspec"))
        .map(|(n, _)| n)
        .collect();
    match rockspecs.as_slice() {
        [one] => Ok(UnpackedSrcRock {
            rockspec: dest.join(one),
            root: dest.to_path_buf(),
        }),
        [] => Err(FetchError::SrcRock {
            rock: rock.to_path_buf(),
            reason: "it holds no .rockspec file".into(),
        }),
        many => Err(FetchError::SrcRock {
            rock: rock.to_path_buf(),
            reason: format!(
                "it holds several rockspecs ({}); a source rock has exactly one",
                many.join(", ")
            ),
        }),
    }
}

/// Locates (and for archives verifies and unpacks) the sources inside an unpacked `.src.rock`,
/// given the rockspec's `source` table. Git sources are packed as the clone's directory.
pub fn src_rock_source(
    source: &Source,
    unpacked: &UnpackedSrcRock,
    opts: &SourceOptions,
) -> Result<FetchedSource, FetchError> {
    let root = &unpacked.root;
    if is_git_url(&source.url) {
        let clone_dir = git::clone_dir(root, &source.url);
        if !clone_dir.is_dir() {
            return Err(FetchError::SrcRock {
                rock: root.clone(),
                reason: format!(
                    "it does not hold the source directory `{}`",
                    git::repo_dir_name(&source.url)
                ),
            });
        }
        let dir = locate_git_dir(root, &clone_dir, source.dir.as_deref())?;
        return Ok(FetchedSource {
            dir,
            archive_sha256: None,
            git_commit: None,
        });
    }
    let file_name = source_file_name(source)?;
    let archive = root.join(&file_name);
    if !archive.is_file() {
        return Err(FetchError::SrcRock {
            rock: root.clone(),
            reason: format!("it does not hold the source archive `{file_name}`"),
        });
    }
    let sha256 = sha256_file(&archive)?;
    check_archive(
        source,
        &archive.display().to_string(),
        &archive,
        &sha256,
        opts,
    )?;
    unpack_and_locate(source, &archive, &sha256, root, &opts.fetch.limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_timeout_setting() {
        let built_in = FetchOptions::default();
        assert_eq!(fetch_options(None, None), built_in);
        assert_eq!(built_in.connect_timeout, Duration::from_secs(30));
        assert_eq!(built_in.read_timeout, Duration::from_secs(60));
        let opts = fetch_options(Some(Duration::from_millis(1500)), None);
        assert_eq!(opts.connect_timeout, Duration::from_millis(1500));
        assert_eq!(opts.read_timeout, Duration::from_millis(1500));
        assert_eq!(opts.max_download_bytes, built_in.max_download_bytes);
    }

    fn entries(list: &[(&str, bool)]) -> Vec<(String, bool)> {
        list.iter().map(|(n, d)| (n.to_string(), *d)).collect()
    }

    #[test]
    fn single_top_dir_rule() {
        assert_eq!(
            single_top_dir(&entries(&[("foo-1.0", true)])),
            Some("foo-1.0")
        );
        assert_eq!(single_top_dir(&entries(&[("foo.lua", false)])), None);
        assert_eq!(single_top_dir(&entries(&[("a", true), ("b", true)])), None);
        assert_eq!(single_top_dir(&entries(&[])), None);
    }

    /// A `.tar.gz` holding `top/hello.lua`.
    fn tar_gz(top: &str) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let body = b"return 1\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{top}/hello.lua"), &body[..])
            .expect("append");
        builder.into_inner().expect("tar").finish().expect("gzip")
    }

    #[test]
    fn source_bytes_are_checked_when_fetched_and_unpacked_only_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = dir.path().join("pkg-1.0.tar.gz");
        fs::write(&archive, tar_gz("pkg-1.0")).expect("write");
        let mut source = Source {
            url: format!("file://{}", archive.display()),
            md5: Some(md5_file(&archive).expect("md5")),
            ..Source::default()
        };
        let opts = SourceOptions::default();
        let work = dir.path().join("work");
        let fetched = fetch_source_bytes(&source, &work, &opts).expect("fetched");
        assert_eq!(
            fetched.archive_sha256(),
            Some(sha256_file(&archive).expect("sha256").as_str())
        );
        // A local archive is read where it is: a store hit needs no copy.
        assert!(!work.exists(), "copied or unpacked before it was asked");
        let again = fetch_source_bytes(&source, &work, &opts).expect("fetched");
        let unpacked = fetched
            .unpack(&source, &work, &opts.fetch.limits)
            .expect("unpacked");
        assert!(unpacked.dir.join("hello.lua").is_file());

        // Replaced between the digest and the build: the build would not be of the bytes its
        // store key names, so it is refused.
        fs::write(&archive, tar_gz("pkg-1.1")).expect("write");
        let replaced = dir.path().join("replaced");
        let err = again
            .unpack(&source, &replaced, &opts.fetch.limits)
            .expect_err("changed bytes");
        assert!(matches!(err, FetchError::Sha256Mismatch { .. }), "{err:?}");
        assert!(!replaced.join(UNPACK_DIR).exists());

        // A wrong digest fails the fetch itself, before anything is unpacked.
        source.md5 = Some("0".repeat(32));
        let other = dir.path().join("other");
        assert!(fetch_source_bytes(&source, &other, &opts).is_err());
        assert!(!other.join(UNPACK_DIR).exists());
    }

    #[test]
    fn source_file_names() {
        let mut source = Source {
            url: "https://h/p/foo-1.0.tar.gz?raw=1".into(),
            ..Source::default()
        };
        assert_eq!(source_file_name(&source).unwrap(), "foo-1.0.tar.gz");
        source.file = Some("bar.zip".into());
        assert_eq!(source_file_name(&source).unwrap(), "bar.zip");
        source.file = Some("../bar.zip".into());
        assert!(
            source_file_name(&source)
                .unwrap_err()
                .to_string()
                .contains("source.file")
        );
        source.file = Some("a/b.zip".into());
        assert!(source_file_name(&source).is_err());
    }

    #[test]
    fn status_hints() {
        let err = FetchError::HttpStatus {
            url: "http://h/x".into(),
            status: 404,
        };
        assert!(err.to_string().contains("http://h/x"));
        assert!(err.to_string().contains("404"));
        assert!(err.is_not_found());
        let err = FetchError::HttpStatus {
            url: "http://h/x".into(),
            status: 500,
        };
        assert!(err.to_string().contains("500"));
        assert!(!err.is_not_found());
    }

    #[test]
    fn locate_source_dir_rules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let archive = Path::new("foo.tar.gz");
        fs::create_dir(root.join("foo-1.0")).unwrap();
        assert_eq!(
            locate_source_dir(root, None, archive).unwrap(),
            root.join("foo-1.0")
        );
        assert_eq!(
            locate_source_dir(root, Some("foo-1.0"), archive).unwrap(),
            root.join("foo-1.0")
        );
        assert_eq!(locate_source_dir(root, Some("."), archive).unwrap(), root);
        let err = locate_source_dir(root, Some("bar"), archive)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bar") && err.contains("foo-1.0") && err.contains("foo.tar.gz"),
            "{err}"
        );
        assert!(locate_source_dir(root, Some("../x"), archive).is_err());
        fs::write(root.join("README"), "x").unwrap();
        assert_eq!(locate_source_dir(root, None, archive).unwrap(), root);
    }
}
