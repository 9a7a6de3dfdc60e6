//! Rocks servers: `file://` folders (or plain paths) and `http(s)://` URLs that publish a
//! manifest and rock files. Owns the manifest lookup order LuaRocks uses for Lua 5.4, the
//! on-disk cache of what was fetched from remote servers (keyed by server URL), the fallback to
//! that cache when a server is unreachable, the cache of parsed manifests (for every server,
//! keyed by the manifest's digest), and downloading rockspecs and rocks.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use thiserror::Error;

use crate::fetch::download::{Conditional, Location, Validators, download_if_changed, location_of};
use crate::fetch::{FetchError, FetchOptions, download, sha256_bytes};
use crate::fsutil::write_atomic;
use crate::luaversion::LuaVersion;
use crate::registry::{ManifestError, ServerManifest};
use crate::version::Version;

/// Errors talking to a rocks server. Each names the server and, where relevant, the file.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("invalid rocks server `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "rocks server {server} has no manifest (tried {tried}); check that the URL points at a \
         rocks server"
    )]
    NoManifest { server: String, tried: String },
    #[error("rocks server {server} has no file {file}; check the package name and version")]
    NotFound { server: String, file: String },
    #[error("rocks server {server}: cannot fetch {file}: {cause}")]
    Fetch {
        server: String,
        file: String,
        cause: Box<FetchError>,
    },
    #[error(
        "rocks server {server}: {file} is not cached and the server is not being contacted \
         (offline); go online or pick a cached package"
    )]
    NotCached { server: String, file: String },
    #[error("rocks server {server}: {file} is not a valid zipped manifest: {reason}")]
    BadManifestZip {
        server: String,
        file: String,
        reason: String,
    },
    #[error(
        "rocks server {server}: {file} is bigger than {limit_mib} MiB, the most lvm reads for a \
         manifest; this is not a rocks server lvm can use"
    )]
    ManifestTooBig {
        server: String,
        file: String,
        limit_mib: u64,
    },
    #[error("rocks server {server}: {file} is not UTF-8 text")]
    NotText { server: String, file: String },
    #[error("rocks server {server}: invalid manifest: {cause}")]
    Manifest {
        server: String,
        cause: ManifestError,
    },
    #[error("rocks server {server}: `{file}` is not a plain file name")]
    InvalidFileName { server: String, file: String },
    #[error("rocks cache {}: {cause}", path.display())]
    Cache { path: PathBuf, cause: io::Error },
}

impl ServerError {
    /// A malformed server URL or file name is bad input, a full or unwritable cache a local
    /// failure; everything else means the server could not be reached or read.
    pub fn kind(&self) -> crate::errors::ErrorKind {
        use crate::errors::ErrorKind;
        match self {
            ServerError::InvalidUrl { .. } | ServerError::InvalidFileName { .. } => {
                ErrorKind::BadInput
            }
            ServerError::Cache { .. } => ErrorKind::Other,
            ServerError::Fetch { cause, .. } if cause.kind() != ErrorKind::Network => cause.kind(),
            ServerError::NoManifest { .. }
            | ServerError::NotFound { .. }
            | ServerError::Fetch { .. }
            | ServerError::NotCached { .. }
            | ServerError::BadManifestZip { .. }
            | ServerError::ManifestTooBig { .. }
            | ServerError::NotText { .. }
            | ServerError::Manifest { .. } => ErrorKind::Network,
        }
    }
}

/// The most manifest bytes lvm reads, decompressed.
fn manifest_cap() -> u64 {
    crate::sandbox::Limits::MAX_MANIFEST_BYTES as u64
}

/// The manifest files LuaRocks looks for, in order, for Lua `lua_version`.
pub fn manifest_candidates(lua_version: &str) -> [String; 3] {
    [
        format!("manifest-{lua_version}.zip"),
        format!("manifest-{lua_version}"),
        "manifest".to_string(),
    ]
}

/// `name-version.rockspec`.
pub fn rockspec_file_name(name: &str, version: &Version) -> String {
    format!("{name}-{version}.rockspec")
}

/// `name-version.arch.rock`, where `arch` is `src`, `all` or a platform such as
/// [`crate::platform::rock_arch`].
pub fn rock_file_name(name: &str, version: &Version, arch: &str) -> String {
    format!("{name}-{version}.{arch}.rock")
}

/// Files of `scm`/`dev` versions follow a branch and change over time, so they are refetched
/// rather than served from the cache; every other rock file is immutable once published.
pub fn is_mutable_file(file: &str) -> bool {
    file.contains("-scm-") || file.contains("-dev-")
}

/// The cache subdirectory for a server URL: readable, and unique thanks to a digest suffix.
pub fn cache_key(url: &str) -> String {
    let readable: String = url
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{readable}-{}", &sha256_bytes(url.as_bytes())[..12])
}

/// The file in a server's cache directory holding its parsed manifest. Not a name a rock,
/// rockspec or manifest candidate can have.
pub const PARSED_MANIFEST_FILE: &str = "manifest.lvm-parsed";

/// The file in a server's cache directory holding what the server said identifies the cached
/// manifest (its ETag and Last-Modified), for asking whether it changed. Not a name a rock,
/// rockspec or manifest candidate can have.
pub const MANIFEST_VALIDATORS_FILE: &str = "manifest.lvm-validators";

/// [`MANIFEST_VALIDATORS_FILE`]'s contents: the cached candidate they describe, and them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CachedValidators {
    file: String,
    #[serde(flatten)]
    validators: Validators,
}

/// Whether a copy last confirmed with its server at `checked` is still within `max_age`
/// at `now`. A time in the future (a clock set back) is not trusted. Pure.
fn is_fresh(checked: SystemTime, now: SystemTime, max_age: Duration) -> bool {
    !max_age.is_zero() && now.duration_since(checked).is_ok_and(|age| age <= max_age)
}

/// Caches a parsed manifest. The cache only saves time, so failing to write it (a read-only
/// lvm home, a full disk) is not an error.
fn save_parsed_manifest(path: &Path, key: &str, manifest: &ServerManifest) {
    let written = manifest
        .to_compact(key)
        .map_err(io::Error::other)
        .and_then(|compact| write_atomic(path, compact.as_bytes()));
    if let Err(e) = written {
        tracing::debug!(
            "cannot cache the parsed manifest in {}: {e}",
            path.display()
        );
    }
}

/// Where a manifest's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Fetched from the server just now (or read from a local server).
    Server,
    /// The server was unreachable (or not contacted): a copy cached earlier.
    Cache,
}

/// A manifest as text, before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestText {
    /// Which candidate it came from (`manifest-5.4.zip`, `manifest-5.4` or `manifest`).
    pub file: String,
    pub text: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerLocation {
    Local(PathBuf),
    Http(String),
}

/// A rocks server and the cache of what was fetched from it.
#[derive(Debug, Clone)]
pub struct RocksServer {
    url: String,
    location: ServerLocation,
    cache: PathBuf,
    options: FetchOptions,
    offline: bool,
    /// How long a fetched manifest is used without asking the server again.
    manifest_max_age: Duration,
    /// Whose manifest to read (`manifest-5.1`, ...).
    lua: LuaVersion,
}

impl RocksServer {
    /// A server at `url` (`http(s)://`, `file://` or a plain path). Files fetched from remote
    /// servers are cached under `cache_root`, in a subdirectory named by [`cache_key`].
    pub fn new(url: &str, cache_root: &Path) -> Result<RocksServer, ServerError> {
        let url = url.trim().trim_end_matches('/').to_string();
        if url.is_empty() {
            return Err(ServerError::InvalidUrl {
                url,
                reason: "it is empty".into(),
            });
        }
        let location = match location_of(&url) {
            Ok(Location::Http(u)) => ServerLocation::Http(u),
            Ok(Location::Local(p)) => ServerLocation::Local(p),
            Err(_) => {
                return Err(ServerError::InvalidUrl {
                    url,
                    reason: "unsupported scheme; use http://, https://, file:// or a path".into(),
                });
            }
        };
        let cache = cache_root.join(cache_key(&url));
        Ok(RocksServer {
            url,
            location,
            cache,
            options: FetchOptions::default(),
            offline: false,
            manifest_max_age: Duration::ZERO,
            lua: LuaVersion::default(),
        })
    }

    /// Uses `options` for downloads (timeouts, size cap).
    pub fn with_options(mut self, options: FetchOptions) -> RocksServer {
        self.options = options;
        self
    }

    /// Reads the manifest for Lua `lua` (LuaJIT reads 5.1's), as LuaRocks does.
    pub fn for_lua(mut self, lua: LuaVersion) -> RocksServer {
        self.lua = lua;
        self
    }

    /// Uses a manifest fetched less than `age` ago without asking the server (the
    /// `manifest_max_age` setting); zero, the default, asks every time.
    pub fn manifest_max_age(mut self, age: Duration) -> RocksServer {
        self.manifest_max_age = age;
        self
    }

    /// When offline, remote servers are never contacted; only cached copies are used.
    pub fn offline(mut self, offline: bool) -> RocksServer {
        self.offline = offline;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// This server's cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    fn file_url(&self, file: &str) -> String {
        format!("{}/{file}", self.url)
    }

    fn fetch_error(&self, file: &str, source: FetchError) -> ServerError {
        if source.is_not_found() {
            ServerError::NotFound {
                server: self.url.clone(),
                file: file.to_string(),
            }
        } else {
            ServerError::Fetch {
                server: self.url.clone(),
                file: file.to_string(),
                cause: Box::new(source),
            }
        }
    }

    fn check_file_name(&self, file: &str) -> Result<(), ServerError> {
        let plain =
            !file.is_empty() && file != "." && file != ".." && !file.contains(['/', '\\', '\0']);
        if plain {
            Ok(())
        } else {
            Err(ServerError::InvalidFileName {
                server: self.url.clone(),
                file: file.to_string(),
            })
        }
    }

    /// Fetches the server's manifest text for its Lua (see [`RocksServer::for_lua`]), trying
    /// `manifest-5.4.zip`, then `manifest-5.4`, then `manifest` (for 5.4). A remote server's answer is cached; when the server is
    /// unreachable or failing (anything but "not found"), the cached copy is used with a
    /// warning.
    pub fn manifest_text(&self) -> Result<ManifestText, ServerError> {
        let candidates = manifest_candidates(self.lua.abi());
        let server_dir = match &self.location {
            ServerLocation::Local(dir) => Some(dir.clone()),
            ServerLocation::Http(_) => None,
        };
        if self.offline && server_dir.is_none() {
            return self.cached_manifest(&candidates).unwrap_or_else(|| {
                Err(ServerError::NotCached {
                    server: self.url.clone(),
                    file: candidates[1].clone(),
                })
            });
        }
        if server_dir.is_none()
            && let Some(fresh) = self.fresh_cached_manifest(&candidates)
        {
            return fresh;
        }
        for candidate in &candidates {
            let fetched = match &server_dir {
                Some(dir) => {
                    let path = dir.join(candidate);
                    if path.is_file() { Ok(path) } else { continue }
                }
                None => {
                    let path = self.cache.join(candidate);
                    // A manifest never needs more than the largest one lvm reads (zipped, it is
                    // smaller still).
                    let options = FetchOptions {
                        max_download_bytes: self.options.max_download_bytes.min(manifest_cap()),
                        ..self.options.clone()
                    };
                    self.refresh_cached(candidate, &path, &options)
                        .map(|_| path)
                }
            };
            match fetched {
                Ok(path) => {
                    if server_dir.is_none() {
                        self.forget_other_manifests(&candidates, candidate);
                    }
                    let text = self.read_manifest(candidate, &path)?;
                    return Ok(ManifestText {
                        file: candidate.clone(),
                        text,
                        origin: Origin::Server,
                    });
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) => {
                    return match self.cached_manifest(&candidates) {
                        Some(cached) => {
                            tracing::warn!(
                                "rocks server {} is unreachable ({e}); using its manifest cached in {}",
                                self.url,
                                self.cache.display()
                            );
                            cached
                        }
                        None => Err(self.fetch_error(candidate, e)),
                    };
                }
            }
        }
        Err(ServerError::NoManifest {
            server: self.url.clone(),
            tried: candidates.join(", "),
        })
    }

    /// Fetches and parses the server's manifest (see [`RocksServer::manifest_text`] and
    /// [`RocksServer::manifest_matching`]).
    pub fn manifest(&self) -> Result<ServerManifest, ServerError> {
        self.manifest_matching(&|_| true)
    }

    /// Fetches the server's manifest (see [`RocksServer::manifest_text`]) and returns the
    /// packages whose names pass `keep`. The parsed manifest is cached in
    /// [`RocksServer::parsed_manifest_path`], keyed by the sha256 of the manifest text, so that
    /// as long as the server's manifest does not change it is parsed only once; a cache that
    /// is damaged or belongs to other text is ignored and rewritten.
    pub fn manifest_matching(
        &self,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<ServerManifest, ServerError> {
        let text = self.manifest_text()?;
        let key = sha256_bytes(text.text.as_bytes());
        let cache = self.parsed_manifest_path();
        let cached = fs::read_to_string(&cache)
            .ok()
            .and_then(|compact| ServerManifest::from_compact(&compact, &key, keep));
        if let Some(manifest) = cached {
            return Ok(manifest);
        }
        let mut manifest = ServerManifest::parse_lua(&text.text, &self.file_url(&text.file))
            .map_err(|source| ServerError::Manifest {
                server: self.url.clone(),
                cause: source,
            })?;
        save_parsed_manifest(&cache, &key, &manifest);
        manifest.retain(keep);
        Ok(manifest)
    }

    /// Where the parsed form of the server's manifest is cached (see
    /// [`ServerManifest::to_compact`]), for local servers too.
    pub fn parsed_manifest_path(&self) -> PathBuf {
        self.cache.join(PARSED_MANIFEST_FILE)
    }

    /// The cached manifest, when one was fetched or confirmed within the freshness window.
    fn fresh_cached_manifest(
        &self,
        candidates: &[String],
    ) -> Option<Result<ManifestText, ServerError>> {
        let candidate = candidates.iter().find(|c| self.cache.join(c).is_file())?;
        let checked = fs::metadata(self.cache.join(candidate))
            .and_then(|m| m.modified())
            .ok()?;
        if !is_fresh(checked, SystemTime::now(), self.manifest_max_age) {
            return None;
        }
        tracing::debug!(
            "rocks server {}: using its manifest fetched within {:?}",
            self.url,
            self.manifest_max_age
        );
        self.cached_manifest(candidates)
    }

    /// Brings the cached `candidate` at `path` up to date: asks the server whether it changed
    /// since the copy cached there (ETag, Last-Modified) and downloads it only if so. A copy
    /// the server confirms gets the current time, which starts its freshness window again.
    fn refresh_cached(
        &self,
        candidate: &str,
        path: &Path,
        options: &FetchOptions,
    ) -> Result<(), FetchError> {
        let record = self.cache.join(MANIFEST_VALIDATORS_FILE);
        let known = fs::read(&record)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CachedValidators>(&bytes).ok())
            .filter(|cached| cached.file == candidate && path.is_file())
            .map(|cached| cached.validators)
            .unwrap_or_default();
        match download_if_changed(&self.file_url(candidate), path, &known, options)? {
            Conditional::NotModified => {
                let touched = fs::File::options()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                if let Err(e) = touched {
                    tracing::debug!("cannot mark {} as checked: {e}", path.display());
                }
            }
            Conditional::Downloaded { validators, .. } => {
                let cached = CachedValidators {
                    file: candidate.to_string(),
                    validators,
                };
                // Only saves a request next time: failing to write it is not an error.
                let written = serde_json::to_vec(&cached)
                    .map_err(io::Error::other)
                    .and_then(|bytes| write_atomic(&record, &bytes));
                if let Err(e) = written {
                    tracing::debug!("cannot write {}: {e}", record.display());
                }
            }
        }
        Ok(())
    }

    /// The first cached manifest candidate, if any.
    fn cached_manifest(&self, candidates: &[String]) -> Option<Result<ManifestText, ServerError>> {
        candidates
            .iter()
            .find(|c| self.cache.join(c).is_file())
            .map(|candidate| {
                let text = self.read_manifest(candidate, &self.cache.join(candidate))?;
                Ok(ManifestText {
                    file: candidate.clone(),
                    text,
                    origin: Origin::Cache,
                })
            })
    }

    /// A fresh manifest makes older cached forms obsolete (the server may have switched from
    /// a zipped manifest to a plain one).
    fn forget_other_manifests(&self, candidates: &[String], keep: &str) {
        for other in candidates.iter().filter(|c| c.as_str() != keep) {
            let _ = fs::remove_file(self.cache.join(other));
        }
    }

    /// Reads a manifest file, unzipping `*.zip` forms (which hold the manifest under the same
    /// name without `.zip`).
    /// Reads at most [`Limits::MAX_MANIFEST_BYTES`] (decompressed), stopping as soon as a
    /// manifest turns out bigger, so that a small zip that inflates enormously is refused
    /// without inflating it.
    fn read_manifest(&self, file: &str, path: &Path) -> Result<String, ServerError> {
        let cap = manifest_cap();
        let bytes = match file.strip_suffix(".zip") {
            Some(inner) => self.unzip_manifest(file, inner, path, cap)?,
            None => {
                let mut bytes = Vec::new();
                fs::File::open(path)
                    .and_then(|f| f.take(cap.saturating_add(1)).read_to_end(&mut bytes))
                    .map_err(|source| ServerError::Cache {
                        path: path.to_path_buf(),
                        cause: source,
                    })?;
                if bytes.len() as u64 > cap {
                    return Err(ServerError::ManifestTooBig {
                        server: self.url.clone(),
                        file: file.to_string(),
                        limit_mib: cap / (1024 * 1024),
                    });
                }
                bytes
            }
        };
        String::from_utf8(bytes).map_err(|_| ServerError::NotText {
            server: self.url.clone(),
            file: file.to_string(),
        })
    }

    fn unzip_manifest(
        &self,
        file: &str,
        inner: &str,
        path: &Path,
        cap: u64,
    ) -> Result<Vec<u8>, ServerError> {
        let bad = |reason: String| ServerError::BadManifestZip {
            server: self.url.clone(),
            file: file.to_string(),
            reason,
        };
        let reader = fs::File::open(path).map_err(|source| ServerError::Cache {
            path: path.to_path_buf(),
            cause: source,
        })?;
        let mut archive =
            zip::ZipArchive::new(io::BufReader::new(reader)).map_err(|e| bad(e.to_string()))?;
        let mut entry = archive
            .by_name(inner)
            .map_err(|_| bad(format!("it holds no `{inner}`")))?;
        let mut bytes = Vec::new();
        (&mut entry)
            .take(cap.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        if bytes.len() as u64 > cap {
            return Err(ServerError::ManifestTooBig {
                server: self.url.clone(),
                file: format!("{file} ({inner} inside)"),
                limit_mib: cap / (1024 * 1024),
            });
        }
        Ok(bytes)
    }

    /// Makes `file` (a rockspec or rock) available locally and returns its path: a local
    /// server's own file, or a cached copy of a remote one. Immutable files are served from
    /// the cache without contacting the server; `scm`/`dev` files are refetched, falling back
    /// to the cache (with a warning) when the server is unreachable.
    pub fn fetch_file(&self, file: &str) -> Result<PathBuf, ServerError> {
        self.check_file_name(file)?;
        let url = match &self.location {
            ServerLocation::Local(dir) => {
                let path = dir.join(file);
                return if path.is_file() {
                    Ok(path)
                } else {
                    Err(ServerError::NotFound {
                        server: self.url.clone(),
                        file: file.to_string(),
                    })
                };
            }
            ServerLocation::Http(_) => self.file_url(file),
        };
        let cached = self.cache.join(file);
        let have_cached = cached.is_file();
        if have_cached && (self.offline || !is_mutable_file(file)) {
            return Ok(cached);
        }
        if self.offline {
            return Err(ServerError::NotCached {
                server: self.url.clone(),
                file: file.to_string(),
            });
        }
        match download(&url, &cached, &self.options) {
            Ok(_) => Ok(cached),
            Err(e) if have_cached && !e.is_not_found() => {
                tracing::warn!(
                    "rocks server {} is unreachable ({e}); using the cached {file}",
                    self.url
                );
                Ok(cached)
            }
            Err(e) => Err(self.fetch_error(file, e)),
        }
    }

    /// Fetches `file` into `dest` (a file path; its directory is created).
    pub fn download_to(&self, file: &str, dest: &Path) -> Result<PathBuf, ServerError> {
        let source = self.fetch_file(file)?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|source| ServerError::Cache {
                path: parent.to_path_buf(),
                cause: source,
            })?;
        }
        fs::copy(&source, dest).map_err(|source| ServerError::Cache {
            path: dest.to_path_buf(),
            cause: source,
        })?;
        Ok(dest.to_path_buf())
    }

    /// Downloads `name-version.rockspec` into the directory `dest_dir`.
    pub fn download_rockspec(
        &self,
        name: &str,
        version: &Version,
        dest_dir: &Path,
    ) -> Result<PathBuf, ServerError> {
        let file = rockspec_file_name(name, version);
        self.download_to(&file, &dest_dir.join(&file))
    }

    /// Downloads `name-version.arch.rock` (`arch` = `src`, `all` or a platform) into the
    /// directory `dest_dir`.
    pub fn download_rock(
        &self,
        name: &str,
        version: &Version,
        arch: &str,
        dest_dir: &Path,
    ) -> Result<PathBuf, ServerError> {
        let file = rock_file_name(name, version, arch);
        self.download_to(&file, &dest_dir.join(&file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lookup_order_for_lua_5_4() {
        assert_eq!(
            manifest_candidates("5.4"),
            ["manifest-5.4.zip", "manifest-5.4", "manifest"]
        );
    }

    #[test]
    fn file_names() {
        let v = Version::parse("1.0-1").unwrap();
        assert_eq!(rockspec_file_name("foo", &v), "foo-1.0-1.rockspec");
        assert_eq!(rock_file_name("foo", &v, "src"), "foo-1.0-1.src.rock");
        assert_eq!(
            rock_file_name("foo", &v, "linux-x86_64"),
            "foo-1.0-1.linux-x86_64.rock"
        );
    }

    #[test]
    fn mutable_files() {
        assert!(is_mutable_file("foo-scm-1.rockspec"));
        assert!(is_mutable_file("foo-dev-1.src.rock"));
        assert!(!is_mutable_file("foo-1.0-1.rockspec"));
    }

    #[test]
    fn a_copy_is_fresh_only_within_its_window_and_never_from_the_future() {
        let checked = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let minute = Duration::from_secs(60);
        assert!(is_fresh(checked, checked + Duration::from_secs(59), minute));
        assert!(is_fresh(checked, checked + minute, minute));
        assert!(!is_fresh(
            checked,
            checked + Duration::from_secs(61),
            minute
        ));
        assert!(!is_fresh(checked, checked, Duration::ZERO));
        assert!(!is_fresh(checked, checked - Duration::from_secs(1), minute));
    }

    #[test]
    fn cache_keys_are_safe_and_distinct() {
        let a = cache_key("https://example.test/rocks");
        let b = cache_key("https://example.test/rocks/");
        assert_ne!(a, b);
        assert!(a.starts_with("https___example.test_rocks-"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        );
        assert!(cache_key(&"x".repeat(500)).len() < 80);
    }

    #[test]
    fn servers_from_urls() {
        let cache = Path::new("/nonexistent-cache");
        let s = RocksServer::new("https://example.test/rocks/", cache).unwrap();
        assert_eq!(s.url(), "https://example.test/rocks");
        assert_eq!(
            s.location,
            ServerLocation::Http("https://example.test/rocks".into())
        );
        let s = RocksServer::new("file:///srv/rocks", cache).unwrap();
        assert_eq!(s.location, ServerLocation::Local("/srv/rocks".into()));
        let s = RocksServer::new("/srv/rocks", cache).unwrap();
        assert_eq!(s.location, ServerLocation::Local("/srv/rocks".into()));
        assert!(
            RocksServer::new("ftp://x", cache)
                .unwrap_err()
                .to_string()
                .contains("ftp://x")
        );
        assert!(RocksServer::new("  ", cache).is_err());
    }
}
