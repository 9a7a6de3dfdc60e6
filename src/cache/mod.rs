//! Shared build caches: signed store entries on a folder, an HTTP(S) server or S3-compatible
//! object storage, read before a build and written by `lvm cache push` (`docs/cache.md`).
//!
//! An entry lives under its store key: `<key>/entry.json` (signed metadata, [`entry`]) and
//! `<key>/<name>-<version>.<arch>.rock` (a binary rock LuaRocks installs too). Everything read
//! from a cache is hostile until checked: sizes and time are bounded, the signature must be by
//! a trusted key ([`keys`]), the rock must have the signed sha256 and unpack (with `fetch`'s
//! safe extraction) to exactly the signed files. Beside the entries, `recipes/<recipe>.json`
//! ([`recipe`]) name the source digest a build was made from, so an install can find the entry
//! without downloading the source. Backends: [`folder`], [`http`], [`s3`]; every entry of a
//! cache: [`listing`].

pub mod entry;
mod folder;
mod http;
pub mod keys;
pub mod listing;
pub mod recipe;
pub mod s3;

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use self::entry::{EntryError, EntryMeta, Inspected, Opened};
use self::keys::{PublicKey, SecretKey};
use self::listing::Listing;
use self::recipe::{OpenedRecipe, RecipeKey, RecipeMeta};
use crate::fetch::{ExtractLimits, FetchError, FetchOptions};
use crate::store::StoreKey;

/// The largest `entry.json` read from a cache.
const MAX_ENTRY_BYTES: u64 = 16 << 20;
/// The largest rock read from a cache.
const MAX_ROCK_BYTES: u64 = 512 << 20;
/// The longest a cache may take to connect or to send more data: a slow cache costs less than
/// this before lvm builds instead.
const MAX_CACHE_WAIT: Duration = Duration::from_secs(10);
/// The longest one `entry.json` may take in all, however steadily a cache trickles it.
const MAX_ENTRY_TIME: Duration = Duration::from_secs(30);

/// What can go wrong with a cache.
#[derive(Debug, Error)]
pub enum CacheError {
    #[error("build cache '{url}': {reason}")]
    BadUrl { url: String, reason: String },
    #[error("build cache {cache}: cannot read: {reason}")]
    Read { cache: String, reason: String },
    #[error("build cache {cache}: cannot write {object}: {reason}")]
    Write {
        cache: String,
        object: String,
        reason: String,
    },
    #[error(
        "build cache {cache}: no AWS credentials to write with: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with a profile in ~/.aws/credentials)"
    )]
    NoCredentials { cache: String },
    #[error("build cache {cache}: entry refused")]
    Refused {
        cache: String,
        #[source]
        source: EntryError,
    },
    #[error("build cache {cache}: recipe record refused")]
    RecipeRefused {
        cache: String,
        #[source]
        source: EntryError,
    },
    #[error("build cache {cache}: the rock of entry {key} cannot be unpacked")]
    Unpack {
        cache: String,
        key: String,
        #[source]
        source: FetchError,
    },
    #[error(
        "build cache {cache} cannot be listed: {reason}; serve its folder with a directory \
         index (nginx `autoindex on`, Apache `Options +Indexes`, `python3 -m http.server`), or \
         list the folder or S3 bucket behind it (--from file:///... or s3://bucket/prefix)"
    )]
    NotListable { cache: String, reason: String },
    #[error("{}: {cause}", path.display())]
    Local {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl CacheError {
    /// A cache that cannot be reached or read is the network; a bad URL or a missing credential
    /// bad input; a refused entry damaged data; local I/O anything else.
    pub fn kind(&self) -> crate::errors::ErrorKind {
        use crate::errors::ErrorKind;
        match self {
            CacheError::Read { .. } | CacheError::Write { .. } => ErrorKind::Network,
            CacheError::BadUrl { .. }
            | CacheError::NoCredentials { .. }
            | CacheError::NotListable { .. } => ErrorKind::BadInput,
            CacheError::Refused { .. }
            | CacheError::RecipeRefused { .. }
            | CacheError::Unpack { .. } => ErrorKind::Damaged,
            CacheError::Local { .. } => ErrorKind::Other,
        }
    }
}

/// Where a cache is, as its URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheUrl {
    /// `file:///path`.
    Folder(PathBuf),
    /// `http://` or `https://` base URL, without a trailing slash.
    Http(String),
    /// `s3://bucket/prefix` (the prefix may be empty).
    S3 { bucket: String, prefix: String },
}

impl CacheUrl {
    /// Reads a cache URL. Pure.
    pub fn parse(url: &str) -> Result<CacheUrl, CacheError> {
        let bad = |reason: &str| CacheError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = url.trim().trim_end_matches('/');
        let Some((scheme, rest)) = trimmed.split_once("://") else {
            return Err(bad(
                "not a URL: use file:///path, http(s)://host/path or s3://bucket/prefix",
            ));
        };
        match scheme {
            "file" if rest.starts_with('/') && rest.len() > 1 => {
                Ok(CacheUrl::Folder(PathBuf::from(rest)))
            }
            "file" => Err(bad(
                "a folder cache needs an absolute path (file:///srv/lvm-cache)",
            )),
            "http" | "https" if !rest.is_empty() => Ok(CacheUrl::Http(trimmed.to_string())),
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let bucket_ok = (3..=63).contains(&bucket.len())
                    && bucket.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b)
                    });
                if !bucket_ok {
                    return Err(bad(
                        "the S3 bucket name must be 3 to 63 lower-case letters, digits, '-' or '.' (s3://bucket/prefix)",
                    ));
                }
                Ok(CacheUrl::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.to_string(),
                })
            }
            _ => Err(bad(&format!(
                "unsupported scheme '{scheme}://' (use file://, http://, https:// or s3://)"
            ))),
        }
    }
}

enum Backend {
    Folder(PathBuf),
    Http(String),
    S3(Box<s3::S3Cache>),
}

/// An opened cache.
pub struct Cache {
    url: String,
    backend: Backend,
    opts: FetchOptions,
}

impl Cache {
    /// Opens the cache at `url`. `opts` bound the requests, with waits capped at a few
    /// seconds; `s3` says where S3 requests go and as whom.
    pub fn open(url: &str, opts: &FetchOptions, s3: &s3::S3Settings) -> Result<Cache, CacheError> {
        let backend = match CacheUrl::parse(url)? {
            CacheUrl::Folder(path) => Backend::Folder(path),
            CacheUrl::Http(base) => Backend::Http(base),
            CacheUrl::S3 { bucket, prefix } => {
                Backend::S3(Box::new(s3::S3Cache::open(url, &bucket, &prefix, s3)?))
            }
        };
        let mut opts = opts.clone();
        opts.connect_timeout = opts.connect_timeout.min(MAX_CACHE_WAIT);
        opts.read_timeout = opts.read_timeout.min(MAX_CACHE_WAIT);
        Ok(Cache {
            url: url.trim_end_matches('/').to_string(),
            backend,
            opts,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Downloads object `name` to `dest`, at most `max` bytes in at most `within` (capped by
    /// the download_timeout setting); `Ok(false)` when there is none.
    fn get(
        &self,
        name: &str,
        dest: &Path,
        max: u64,
        within: Option<Duration>,
    ) -> Result<bool, CacheError> {
        let mut opts = self.opts.clone();
        opts.max_download_bytes = max;
        if let Some(within) = within {
            opts.download_timeout = opts.download_timeout.min(within);
        }
        match &self.backend {
            Backend::Folder(root) => folder::get(&self.url, root, name, dest, &opts),
            Backend::Http(base) => http::get(base, name, dest, &opts),
            Backend::S3(s3) => s3.get(&self.url, name, dest, &opts),
        }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), CacheError> {
        match &self.backend {
            Backend::Folder(root) => folder::put(&self.url, root, name, bytes),
            Backend::Http(base) => http::put(base, name, bytes, &self.opts),
            Backend::S3(s3) => s3.put(&self.url, name, bytes, &self.opts),
        }
    }

    /// The signed metadata of the entry for `key`, checked (see [`entry::open`]); `None` when
    /// the cache has no such entry.
    pub fn entry(
        &self,
        key: &StoreKey,
        trusted: &[PublicKey],
        scratch: &Path,
    ) -> Result<Option<Opened>, CacheError> {
        let Some((bytes, shown)) = self.entry_bytes(key, scratch)? else {
            return Ok(None);
        };
        entry::open(&bytes, &shown, key, trusted)
            .map(Some)
            .map_err(|source| self.refused(source))
    }

    /// The bytes of the `entry.json` for `key` (read with its size and time limits) and its
    /// URL for messages; `None` when the cache has none.
    fn entry_bytes(
        &self,
        key: &StoreKey,
        scratch: &Path,
    ) -> Result<Option<(Vec<u8>, String)>, CacheError> {
        let object = entry::entry_object(key);
        let Some(bytes) = self.read_metadata(&object, scratch)? else {
            return Ok(None);
        };
        Ok(Some((bytes, format!("{}/{object}", self.url))))
    }

    /// The recipe record for `recipe`, checked (see [`recipe::open`]); `None` when the cache
    /// has none (as caches pushed to by older lvm versions have not).
    pub fn recipe(
        &self,
        recipe: &RecipeKey,
        trusted: &[PublicKey],
        scratch: &Path,
    ) -> Result<Option<OpenedRecipe>, CacheError> {
        let object = recipe::recipe_object(recipe);
        let Some(bytes) = self.read_metadata(&object, scratch)? else {
            return Ok(None);
        };
        let shown = format!("{}/{object}", self.url);
        recipe::open(&bytes, &shown, recipe, trusted)
            .map(Some)
            .map_err(|source| CacheError::RecipeRefused {
                cache: self.url.clone(),
                source,
            })
    }

    /// The bytes of a metadata object (an `entry.json`, a recipe record), read within the
    /// metadata size and time limits; `None` when the cache has no such object.
    fn read_metadata(&self, object: &str, scratch: &Path) -> Result<Option<Vec<u8>>, CacheError> {
        let work = tempdir(scratch)?;
        let file = work.path().join("metadata.json");
        if !self.get(object, &file, MAX_ENTRY_BYTES, Some(MAX_ENTRY_TIME))? {
            return Ok(None);
        }
        std::fs::read(&file)
            .map(Some)
            .map_err(|cause| CacheError::Local { path: file, cause })
    }

    /// Writes the recipe record `meta` unless the cache already has it signed by `signer`;
    /// whether it wrote it. Called after the entry it names is uploaded, so a reader never
    /// finds a record whose entry is not there yet.
    pub fn push_recipe(
        &self,
        meta: &RecipeMeta,
        signer: &SecretKey,
        scratch: &Path,
    ) -> Result<bool, CacheError> {
        match self.recipe(&meta.recipe, &[signer.public()], scratch) {
            Ok(Some(found)) if found.meta == *meta => return Ok(false),
            // Missing, another signer's, damaged, naming another build or of an older format
            // (without the entry's metadata folded in): replaced.
            Ok(_) | Err(CacheError::RecipeRefused { .. }) => {}
            Err(e) => return Err(e),
        }
        self.put(
            &recipe::recipe_object(&meta.recipe),
            &recipe::seal(meta, signer),
        )?;
        Ok(true)
    }

    /// Fetches the entry for `key` into a new folder in `scratch`: `None` when the cache has
    /// none, else the checked metadata and the unpacked rock, whose every file has the hash the
    /// signed metadata records.
    pub fn fetch(
        &self,
        key: &StoreKey,
        trusted: &[PublicKey],
        scratch: &Path,
    ) -> Result<Option<Fetched>, CacheError> {
        let Some(opened) = self.entry(key, trusted, scratch)? else {
            return Ok(None);
        };
        self.fetch_opened(opened, scratch).map(Some)
    }

    /// The rock of an entry whose `entry.json` checked out (see [`Cache::entry`]), fetched and
    /// checked as [`Cache::fetch_rock`] does; a rock the cache lacks is refused, since its own
    /// metadata says it is there.
    pub fn fetch_opened(&self, opened: Opened, scratch: &Path) -> Result<Fetched, CacheError> {
        let entry = format!("{}/{}", self.url, entry::entry_object(&opened.meta.key));
        let file = opened.meta.rock.file.clone();
        self.fetch_rock(opened, scratch)?.ok_or_else(|| {
            self.refused(EntryError::Tampered {
                entry,
                file,
                problem: "is missing from the cache".to_string(),
            })
        })
    }

    /// Downloads the rock that checked, signed entry metadata names (from `entry.json`, or
    /// folded into a recipe record) into a new folder in `scratch`, with the signed size as its
    /// limit, and checks its sha256 and every unpacked file's hash against that metadata.
    /// `None` when the cache has no such rock.
    pub fn fetch_rock(
        &self,
        Opened { meta, signed_by }: Opened,
        scratch: &Path,
    ) -> Result<Option<Fetched>, CacheError> {
        let key = &meta.key;
        let work = tempdir(scratch)?;
        let object = entry::rock_object(key, &meta.rock.file);
        let rock = work.path().join(&meta.rock.file);
        let limit = meta.rock.size.min(MAX_ROCK_BYTES);
        if !self.get(&object, &rock, limit, None)? {
            return Ok(None);
        }
        let shown = format!("{}/{object}", self.url);
        let (sha, size) =
            crate::tree::files::sha256_file(&rock).map_err(|e| self.refused(EntryError::Fs(e)))?;
        if sha != meta.rock.sha256 || size != meta.rock.size {
            return Err(self.refused(EntryError::Tampered {
                entry: shown,
                file: meta.rock.file.clone(),
                problem: "does not have the sha256 the signed metadata records".to_string(),
            }));
        }
        let prefix = work.path().join("prefix");
        let limits = ExtractLimits {
            max_total_bytes: 4 * MAX_ROCK_BYTES,
            ..ExtractLimits::default()
        };
        crate::fetch::extract(&rock, &prefix, &limits).map_err(|source| CacheError::Unpack {
            cache: self.url.clone(),
            key: key.to_string(),
            source,
        })?;
        entry::check_files(&prefix, &meta, &shown).map_err(|source| self.refused(source))?;
        Ok(Some(Fetched {
            meta,
            signed_by,
            prefix,
            bytes: size,
            _work: work,
        }))
    }

    /// Uploads an entry: the rock first, then the signed metadata that makes it visible, so a
    /// reader never finds metadata without its rock. `Pushed::AlreadyThere` when the cache
    /// already has an entry for the key that `signer` signed, with that entry's metadata (its
    /// rock may be another build of the same inputs), which is what a recipe record folds in.
    pub fn push(
        &self,
        meta: &EntryMeta,
        rock: &[u8],
        signer: &SecretKey,
        scratch: &Path,
    ) -> Result<Pushed, CacheError> {
        // Said before anything is sent, rather than after a read that may fail otherwise.
        if let Backend::S3(s3) = &self.backend
            && !s3.has_credentials()
        {
            return Err(CacheError::NoCredentials {
                cache: self.url.clone(),
            });
        }
        match self.entry(&meta.key, &[signer.public()], scratch) {
            Ok(Some(there)) => return Ok(Pushed::AlreadyThere(Box::new(there.meta))),
            // Missing, or an entry this key did not sign (or a damaged one): replaced.
            Ok(None) | Err(CacheError::Refused { .. }) => {}
            Err(e) => return Err(e),
        }
        self.put(&entry::rock_object(&meta.key, &meta.rock.file), rock)?;
        self.put(&entry::entry_object(&meta.key), &entry::seal(meta, signer))?;
        Ok(Pushed::Uploaded {
            bytes: rock.len() as u64,
        })
    }

    fn refused(&self, source: EntryError) -> CacheError {
        CacheError::Refused {
            cache: self.url.clone(),
            source,
        }
    }
}

/// An entry fetched from a cache and checked.
pub struct Fetched {
    pub meta: EntryMeta,
    /// The name of the trusted key that signed it.
    pub signed_by: String,
    /// The unpacked rock, to insert into the store.
    pub prefix: PathBuf,
    /// Bytes downloaded for the rock.
    pub bytes: u64,
    _work: tempfile::TempDir,
}

/// What a push did with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Uploaded {
        bytes: u64,
    },
    /// The cache had it, signed by the same key: the metadata it holds.
    AlreadyThere(Box<EntryMeta>),
}

fn tempdir(scratch: &Path) -> Result<tempfile::TempDir, CacheError> {
    tempfile::Builder::new()
        .prefix("cache-")
        .tempdir_in(scratch)
        .map_err(|cause| CacheError::Local {
            path: scratch.to_path_buf(),
            cause,
        })
}

/// Downloads `url` (object of cache `cache`) to `dest`: `Ok(false)` when it does not exist
/// there, a [`CacheError::Read`] naming the cache for any other failure.
fn download(cache: &str, url: &str, dest: &Path, opts: &FetchOptions) -> Result<bool, CacheError> {
    // Checked right away and dropped after: a crash loses nothing, so no flush to wait for.
    match crate::fetch::download_unflushed(url, dest, opts) {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(CacheError::Read {
            cache: cache.to_string(),
            // The presigned URL's query would only repeat the signature.
            reason: crate::errors::error_text(&e)
                .replace(url, url.split('?').next().unwrap_or(url)),
        }),
    }
}

/// Listing a whole cache (`lvm cache list --all`, `verify --all`): the backends list, and
/// [`listing`] holds the caps and the parsing they share.
impl Cache {
    /// Every store key the cache holds an entry for. A folder is read directly, an S3 prefix
    /// with ListObjectsV2, an HTTP(S) cache through its HTML directory index (as nginx
    /// `autoindex`, Apache `Indexes` and `python3 -m http.server` serve it); a server with no
    /// index is [`CacheError::NotListable`].
    pub fn list(&self, scratch: &Path) -> Result<Listing, CacheError> {
        let work = tempdir(scratch)?;
        let opts = self.listing_opts();
        match &self.backend {
            Backend::Folder(root) => folder::list(&self.url, root),
            Backend::Http(base) => http::list(base, work.path(), &opts),
            Backend::S3(s3) => s3.list(&self.url, work.path(), &opts),
        }
    }

    /// What the cache's `entry.json` for `key` says, read (bounded, as for an install) but not
    /// trusted: its claims, its signer, and whether [`entry::open`] accepts it. `None` when the
    /// cache has no such entry (any more).
    pub fn inspect(
        &self,
        key: &StoreKey,
        trusted: &[PublicKey],
        scratch: &Path,
    ) -> Result<Option<Inspected>, CacheError> {
        let Some((bytes, shown)) = self.entry_bytes(key, scratch)? else {
            return Ok(None);
        };
        Ok(Some(entry::inspect(&bytes, &shown, key, trusted)))
    }

    /// The request limits of one listing response.
    fn listing_opts(&self) -> FetchOptions {
        let mut opts = self.opts.clone();
        opts.max_download_bytes = listing::MAX_LISTING_PAGE_BYTES;
        opts.download_timeout = opts.download_timeout.min(listing::MAX_LISTING_PAGE_TIME);
        opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_urls_are_folders_http_or_s3() {
        assert_eq!(
            CacheUrl::parse("file:///srv/cache/").unwrap(),
            CacheUrl::Folder(PathBuf::from("/srv/cache"))
        );
        assert_eq!(
            CacheUrl::parse("https://cache.example.org/lvm/").unwrap(),
            CacheUrl::Http("https://cache.example.org/lvm".into())
        );
        assert_eq!(
            CacheUrl::parse("s3://team-builds/lvm/x86").unwrap(),
            CacheUrl::S3 {
                bucket: "team-builds".into(),
                prefix: "lvm/x86".into()
            }
        );
        assert_eq!(
            CacheUrl::parse("s3://bucket").unwrap(),
            CacheUrl::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        for bad in [
            "/srv/cache",
            "file://relative",
            "ftp://x/y",
            "s3://B_x/y",
            "s3://",
        ] {
            assert!(CacheUrl::parse(bad).is_err(), "{bad}");
        }
        let err = CacheUrl::parse("ftp://x").unwrap_err().to_string();
        assert!(err.contains("unsupported scheme 'ftp://'"), "{err}");
    }
}
