//! The content-addressed store of built rock prefixes.
//!
//! Each entry is keyed by a [`StoreKey`], a sha256 over everything that went into the build,
//! and lives in `<root>/rocks/<key>/`: the rock prefix in `prefix/` (read-only, so trees that
//! hard-link its files cannot alter it) and `meta.json` (name, version, creation time, sha256
//! of every file, total size). Entries are assembled in `<root>/tmp/` and renamed into place,
//! so an entry is either complete or absent. Inserts hold a shared lock on `<root>/lock` and
//! [`Store::gc`] an exclusive one, so collection never removes an insert's work in progress.
//! A change pins the entries it uses ([`Pins`], a file under `<root>/pins/` named after the
//! process, listing the entries) from before it looks them up or inserts them until it has
//! committed, so [`Store::gc`] in another environment cannot remove them in between; pins of
//! processes that are gone are ignored and cleared.
//!
//! Keys made since store metadata format 1.1 cover the exact source bytes of the build; entries
//! of format 1.0 (whose keys did not) are not trusted: [`Store::get`] refuses them
//! ([`StoreError::Unbound`]) and an insert under their key replaces them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::format_version::{Format, FormatVersion, Unsupported};
use crate::tree::files::{self, EntryKind, FsError, ctx};

/// The `meta.json` layouts this lvm writes and reads.
pub const META_FORMAT: Format = Format {
    name: "store metadata format",
    writes: FormatVersion::new(1, 1, 0),
    reads: "^1",
};
/// The first metadata format whose entries' keys cover the source bytes they were built from.
const SOURCE_BOUND: FormatVersion = FormatVersion::new(1, 1, 0);
const PINS_DIR: &str = "pins";
const META_FILE: &str = "meta.json";
const PREFIX_DIR: &str = "prefix";

/// Errors of the store.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Link(#[from] crate::tree::links::LinkError),
    #[error("invalid store key '{0}': a store key is 64 lower-case hexadecimal digits (a sha256)")]
    BadKey(String),
    #[error(
        "{}: unreadable metadata of store entry {key} ({message}); `lvm verify --repair` in an \
         environment that uses it rebuilds the entry, `lvm gc` drops it when none does", path.display()
    )]
    BadMeta {
        key: String,
        path: PathBuf,
        message: String,
    },
    #[error(
        "{}: store entry {key} was made by an earlier lvm, whose store keys did not cover the \
         downloaded sources, so it is not trusted; `lvm sync` (or `lvm verify --repair`) builds \
         it again from the sources the environment records", path.display()
    )]
    Unbound { key: String, path: PathBuf },
    #[error("{}: {unsupported}", path.display())]
    MetaFormat {
        key: String,
        path: PathBuf,
        unsupported: Box<Unsupported>,
    },
    #[error("{}: the staged rock prefix is not a directory; build the rock into a directory first", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: cannot write store metadata: {message}", path.display())]
    WriteMeta { path: PathBuf, message: String },
}

/// The identity of a build: sha256 (hex) over its named inputs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StoreKey(String);

impl StoreKey {
    /// Hashes named build inputs (rockspec text, source hash or commit, build configuration,
    /// Lua version, platform, ...). Inputs are sorted by name, then value, so the key does not
    /// depend on the order the caller lists them in; each name and value is length-prefixed,
    /// so no two different input lists encode alike.
    pub fn compute(inputs: &[(&str, &str)]) -> StoreKey {
        let mut sorted: Vec<&(&str, &str)> = inputs.iter().collect();
        sorted.sort();
        let mut hasher = Sha256::new();
        hasher.update(b"lvm-store-key-v1\0");
        hasher.update((sorted.len() as u64).to_le_bytes());
        for (name, value) in sorted {
            for part in [name, value] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        }
        StoreKey(hex::encode(hasher.finalize()))
    }

    /// Parses a key as printed (64 lower-case hex digits).
    pub fn parse(text: &str) -> Result<StoreKey, StoreError> {
        let ok = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(StoreKey(text.to_string()))
        } else {
            Err(StoreError::BadKey(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StoreKey {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        StoreKey::parse(&s)
    }
}

impl From<StoreKey> for String {
    fn from(k: StoreKey) -> String {
        k.0
    }
}

/// What the caller says about a rock it inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RockMeta {
    pub name: String,
    pub version: String,
    /// Free-form facts the caller wants kept with the build (e.g. the source archive's sha256).
    pub extra: BTreeMap<String, String>,
}

/// The [`StoredMeta::extra`] entry naming the Lua a rock was built for (`5.1`, `luajit`);
/// entries made before lvm knew several Luas have none and are for 5.4.
pub const LUA_KEY: &str = "lua";

impl StoredMeta {
    /// The Lua the entry was built for, as its name is recorded (`5.4` when not recorded).
    pub fn lua(&self) -> &str {
        self.extra.get(LUA_KEY).map(String::as_str).unwrap_or("5.4")
    }
}

/// The recorded metadata of an entry (`meta.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMeta {
    pub format: FormatVersion,
    pub key: StoreKey,
    pub name: String,
    pub version: String,
    pub created: DateTime<Utc>,
    /// sha256 (hex) of every file, by `/`-separated path relative to the prefix.
    pub files: BTreeMap<String, String>,
    /// Sum of the file sizes, in bytes.
    pub total_size: u64,
    /// What the caller recorded with the build.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// An entry of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRock {
    pub key: StoreKey,
    /// The read-only rock prefix.
    pub prefix: PathBuf,
    pub meta: StoredMeta,
}

/// An entry [`Store::insert`] stored (or found there already, intact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    pub rock: StoredRock,
    /// The digest of its files as [`crate::tree::hash_tree_files`] computes it, from the reads
    /// the insert made anyway.
    pub files_sha256: String,
}

/// Differences between an entry's files and its recorded hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Files whose content no longer matches.
    pub modified: Vec<String>,
    /// Recorded files that are gone.
    pub missing: Vec<String>,
    /// Files that were not recorded.
    pub extra: Vec<String>,
    /// When the entry is intact: the digest of its files as [`crate::tree::hash_tree_files`]
    /// computes it, from the same reads.
    pub files_sha256: Option<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.modified.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

/// An entry [`Store::gc`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedEntry {
    pub key: StoreKey,
    /// `None` when the entry's metadata was unreadable (it is removed all the same).
    pub meta: Option<StoredMeta>,
    /// Bytes its files took.
    pub bytes: u64,
}

/// What [`Store::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries removed (or that would be, with `dry_run`), by key.
    pub removed: Vec<RemovedEntry>,
    /// Abandoned temporary directories removed.
    pub tmp_removed: Vec<PathBuf>,
    /// Bytes freed by both.
    pub freed_bytes: u64,
}

/// Options of [`Store::gc`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcOptions {
    /// Report what would be removed without removing it.
    pub dry_run: bool,
}

/// A store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in [root.join("rocks"), root.join("tmp")] {
            fs::create_dir_all(&dir).map_err(ctx("create", &dir))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry_dir(&self, key: &StoreKey) -> PathBuf {
        self.root.join("rocks").join(key.as_str())
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn lock(&self, exclusive: bool) -> Result<fs::File, StoreError> {
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ctx("open", &path))?;
        let locked = if exclusive {
            fs4::FileExt::lock(&file)
        } else {
            fs4::FileExt::lock_shared(&file)
        };
        locked.map_err(ctx("lock", &path))?;
        Ok(file)
    }

    /// The files of a linked package that a tree holds as symlinks into its working directory,
    /// as its store entry records them; none for a package that is not linked or not stored.
    pub fn linked_files(
        &self,
        lua: crate::luaversion::LuaVersion,
        name: &str,
        package: &crate::manifest::Package,
    ) -> Result<Vec<crate::tree::links::LinkedFile>, StoreError> {
        if package.source.linked_path().is_none() {
            return Ok(vec![]);
        }
        let key = StoreKey::parse(&package.store_key)?;
        let Some(stored) = self.get(&key)? else {
            return Ok(vec![]);
        };
        let record = stored.meta.extra.get(crate::tree::links::LINKED_FILES_KEY);
        Ok(crate::tree::links::linked_files(
            lua,
            name,
            package,
            key.as_str(),
            record.map(String::as_str),
        )?)
    }

    /// The entry for `key`, if present.
    pub fn get(&self, key: &StoreKey) -> Result<Option<StoredRock>, StoreError> {
        let dir = self.entry_dir(key);
        let meta_path = dir.join(META_FILE);
        let text = match fs::read_to_string(&meta_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ctx("read", &meta_path)(e).into()),
        };
        let unsupported = |unsupported| StoreError::MetaFormat {
            key: key.to_string(),
            path: meta_path.clone(),
            unsupported: Box::new(unsupported),
        };
        let meta: StoredMeta = serde_json::from_str(&text).map_err(|e| {
            // A newer lvm may record what this one cannot parse: say so rather than "unreadable".
            match META_FORMAT.unsupported_in_json(text.as_bytes(), "format") {
                Some(found) => unsupported(found),
                None => StoreError::BadMeta {
                    key: key.to_string(),
                    path: meta_path.clone(),
                    message: e.to_string(),
                },
            }
        })?;
        META_FORMAT.check(&meta.format).map_err(unsupported)?;
        if meta.format < SOURCE_BOUND {
            return Err(StoreError::Unbound {
                key: key.to_string(),
                path: meta_path,
            });
        }
        if meta.key != *key {
            return Err(StoreError::BadMeta {
                key: key.to_string(),
                path: meta_path,
                message: format!("it records key {}", meta.key),
            });
        }
        Ok(Some(StoredRock {
            key: key.clone(),
            prefix: dir.join(PREFIX_DIR),
            meta,
        }))
    }

    /// Stores a copy of `staged_prefix` under `key`, and gives the digest of its files from the
    /// hashes the copy computed, so a caller needs no second read of them. Idempotent: when
    /// `key` is already stored (also by a concurrent insert that finished first) and intact,
    /// the existing entry is returned and the staged files are not used; one whose files no
    /// longer match their hashes gives way to the staged files.
    pub fn insert(
        &self,
        key: &StoreKey,
        staged_prefix: &Path,
        meta: RockMeta,
    ) -> Result<Inserted, StoreError> {
        self.insert_filled(key, staged_prefix, meta, Fill::Copy)
    }

    /// [`Store::insert`] for a prefix made in this store's own temporary space
    /// ([`Store::staging`]): its files are moved into the entry rather than copied, when it
    /// holds only plain folders and files of one link each (otherwise they are copied). A
    /// fetched build is then written once, not twice.
    pub fn insert_staged(
        &self,
        key: &StoreKey,
        staged_prefix: &Path,
        meta: RockMeta,
    ) -> Result<Inserted, StoreError> {
        let movable = staged_prefix.starts_with(self.tmp_dir()) && only_plain_files(staged_prefix)?;
        let fill = if movable { Fill::Move } else { Fill::Copy };
        self.insert_filled(key, staged_prefix, meta, fill)
    }

    /// A folder in this store's temporary space to make a prefix in for
    /// [`Store::insert_staged`], removed when dropped. It holds the store's shared lock, so a
    /// collection, which clears that space, waits until the prefix is in the store.
    pub fn staging(&self) -> Result<Staging, StoreError> {
        let lock = self.lock(false)?;
        let dir = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(self.tmp_dir())
            .map_err(ctx("create a temporary directory in", &self.tmp_dir()))?;
        Ok(Staging { dir, _lock: lock })
    }

    fn insert_filled(
        &self,
        key: &StoreKey,
        staged_prefix: &Path,
        meta: RockMeta,
        fill: Fill,
    ) -> Result<Inserted, StoreError> {
        match self.get(key) {
            Ok(Some(_)) => match self.intact(key)? {
                Some(existing) => return Ok(existing),
                None => {
                    self.remove(key)?;
                }
            },
            Ok(None) => {}
            // An untrusted entry of an earlier lvm under the same key gives way to this build.
            Err(StoreError::Unbound { .. }) => {
                self.remove(key)?;
            }
            Err(e) => return Err(e),
        }
        if !staged_prefix.is_dir() {
            return Err(StoreError::NotADirectory {
                path: staged_prefix.to_path_buf(),
            });
        }
        let _lock = self.lock(false)?;
        let tmp = tempfile::Builder::new()
            .prefix("insert-")
            .tempdir_in(self.tmp_dir())
            .map_err(ctx("create a temporary directory in", &self.tmp_dir()))?;
        let prefix = tmp.path().join(PREFIX_DIR);
        let copied = match fill {
            Fill::Copy => copy_prefix(staged_prefix, &prefix)?,
            Fill::Move => move_prefix(staged_prefix, &prefix)?,
        };
        let stored_meta = StoredMeta {
            format: META_FORMAT.writes,
            key: key.clone(),
            name: meta.name,
            version: meta.version,
            created: Utc::now(),
            files: copied.hashes,
            total_size: copied.total_size,
            extra: meta.extra,
        };
        let meta_path = tmp.path().join(META_FILE);
        let json = serde_json::to_vec_pretty(&stored_meta).map_err(|e| StoreError::WriteMeta {
            path: meta_path.clone(),
            message: e.to_string(),
        })?;
        files::write_file(&meta_path, &json, 0o444)?;
        seal(&prefix)?;
        // Everything of the entry is on disk before the rename makes it visible: one flush of
        // the file system rather than one per file and folder (a dozen for a small rock, each
        // a journal commit).
        crate::fsutil::sync_filesystem(tmp.path())
            .map_err(ctx("flush the store of", tmp.path()))?;

        let dest = self.entry_dir(key);
        match fs::rename(tmp.path(), &dest) {
            Ok(()) => {
                files::sync_dir(&self.root.join("rocks"))?;
                Ok(Inserted {
                    rock: StoredRock {
                        key: key.clone(),
                        prefix: dest.join(PREFIX_DIR),
                        meta: stored_meta,
                    },
                    files_sha256: copied.digest.finish(),
                })
            }
            // Someone else stored the same key first: theirs wins, ours is discarded.
            Err(_) if dest.join(META_FILE).is_file() => {
                files::remove_tree(tmp.path())?;
                self.intact(key)?.ok_or_else(|| {
                    ctx("read", &dest)(io::Error::other("entry vanished or changed during insert"))
                        .into()
                })
            }
            Err(e) => Err(ctx("move the new entry into", &dest)(e).into()),
        }
    }

    /// The entry for `key` with the digest of its files, when it is present and its files
    /// match their recorded hashes.
    fn intact(&self, key: &StoreKey) -> Result<Option<Inserted>, StoreError> {
        let Some(rock) = self.get(key)? else {
            return Ok(None);
        };
        Ok(self
            .verify(key)?
            .files_sha256
            .map(|files_sha256| Inserted { rock, files_sha256 }))
    }

    /// The keys of all entries, sorted. Names under `rocks/` that are not keys are ignored.
    pub fn keys(&self) -> Result<Vec<StoreKey>, StoreError> {
        let dir = self.root.join("rocks");
        let mut keys = Vec::new();
        for item in fs::read_dir(&dir).map_err(ctx("read", &dir))? {
            let item = item.map_err(ctx("read", &dir))?;
            if let Some(key) = item
                .file_name()
                .to_str()
                .and_then(|n| StoreKey::parse(n).ok())
            {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Every entry, sorted by key.
    pub fn list(&self) -> Result<Vec<StoredRock>, StoreError> {
        let mut out = Vec::new();
        for key in self.keys()? {
            if let Some(rock) = self.get(&key)? {
                out.push(rock);
            }
        }
        Ok(out)
    }

    /// Removes the entry for `key`; returns whether there was one. The entry is first renamed
    /// out of `rocks/`, so it disappears at once even if deleting its files takes a while.
    pub fn remove(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let dir = self.entry_dir(key);
        if fs::symlink_metadata(&dir).is_err() {
            return Ok(false);
        }
        let holder = tempfile::Builder::new()
            .prefix("remove-")
            .tempdir_in(self.tmp_dir())
            .map_err(ctx("create a temporary directory in", &self.tmp_dir()))?;
        let doomed = holder.path().join(key.as_str());
        fs::rename(&dir, &doomed).map_err(ctx("move out of the store", &dir))?;
        files::remove_tree(holder.path())?;
        Ok(true)
    }

    /// Removes every entry whose key is not in `keep`, and every leftover temporary directory
    /// (interrupted inserts and removals). Waits for running inserts to finish.
    pub fn gc(
        &self,
        keep: &BTreeSet<StoreKey>,
        options: GcOptions,
    ) -> Result<GcReport, StoreError> {
        let _lock = self.lock(true)?;
        let mut report = GcReport::default();
        let pinned = self.live_pins(!options.dry_run)?;
        for key in self.keys()? {
            if keep.contains(&key) || pinned.contains(&key) {
                continue;
            }
            // Unreadable metadata does not protect an entry from collection.
            let meta = self.get(&key).ok().flatten().map(|r| r.meta);
            let bytes = files::disk_size(&self.entry_dir(&key));
            report.freed_bytes += bytes;
            if !options.dry_run {
                self.remove(&key)?;
            }
            report.removed.push(RemovedEntry { key, meta, bytes });
        }
        let tmp = self.tmp_dir();
        let mut leftovers: Vec<PathBuf> = fs::read_dir(&tmp)
            .map_err(ctx("read", &tmp))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        leftovers.sort();
        for path in leftovers {
            report.freed_bytes += files::disk_size(&path);
            if !options.dry_run {
                files::remove_tree(&path)?;
            }
            report.tmp_removed.push(path);
        }
        Ok(report)
    }

    /// A set of pins held by this process; dropping it releases them.
    pub fn pins(&self) -> Pins {
        Pins {
            store: self.clone(),
            file: std::sync::Mutex::new(None),
        }
    }

    fn pins_dir(&self) -> PathBuf {
        self.root.join(PINS_DIR)
    }

    /// The keys pinned by processes that still run; with `clear_stale`, the pin files of
    /// processes that are gone are removed. Call with the exclusive lock held.
    fn live_pins(&self, clear_stale: bool) -> Result<BTreeSet<StoreKey>, StoreError> {
        let dir = self.pins_dir();
        let items = match fs::read_dir(&dir) {
            Ok(items) => items,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
            Err(e) => return Err(ctx("read", &dir)(e).into()),
        };
        let mut live = BTreeSet::new();
        for item in items {
            let item = item.map_err(ctx("read", &dir))?;
            let name = item.file_name();
            let Some(pin_file) = name.to_str().and_then(parse_pin_name) else {
                continue;
            };
            if !process_is_running(pin_file.pid()) {
                if clear_stale {
                    let _ = fs::remove_file(item.path());
                }
                continue;
            }
            match pin_file {
                PinFile::Named { key, .. } => {
                    live.insert(key);
                }
                PinFile::Keys { .. } => {
                    // Written under the shared lock, so whole lines; a file gone meanwhile
                    // (its process just ended) pins nothing.
                    let text = fs::read_to_string(item.path()).unwrap_or_default();
                    live.extend(text.lines().filter_map(|l| StoreKey::parse(l).ok()));
                }
            }
        }
        Ok(live)
    }

    /// Compares the files of the entry for `key` with its recorded hashes. An absent entry is an
    /// error.
    pub fn verify(&self, key: &StoreKey) -> Result<VerifyReport, StoreError> {
        let rock = self.get(key)?.ok_or_else(|| {
            let dir = self.entry_dir(key);
            StoreError::from(ctx("verify", &dir)(io::Error::new(
                io::ErrorKind::NotFound,
                "no such store entry",
            )))
        })?;
        Self::verify_stored(&rock)
    }

    /// [`Store::verify`] for an entry [`Store::get`] already read.
    pub fn verify_stored(rock: &StoredRock) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        let mut seen = BTreeSet::new();
        let mut digest = crate::tree::FilesDigest::default();
        let entries = match files::list(&rock.prefix) {
            Ok(entries) => entries,
            Err(e) if e.cause.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let files::EntryKind::File { executable, .. } = entry.kind else {
                continue;
            };
            match rock.meta.files.get(&entry.rel) {
                None => report.extra.push(entry.rel.clone()),
                Some(expected) => {
                    let (actual, size) = files::sha256_file(&entry.path)?;
                    if actual != *expected {
                        report.modified.push(entry.rel.clone());
                    }
                    digest.add(&entry.rel, executable, size, &actual);
                }
            }
            seen.insert(entry.rel);
        }
        report.missing = rock
            .meta
            .files
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        report.files_sha256 = report.is_clean().then(|| digest.finish());
        Ok(report)
    }
}

/// Pins on store entries that a change in flight uses (see the module documentation). A pin is
/// taken before the entry is looked up or inserted, and all are released when this is
/// dropped, after the change committed (or failed).
#[derive(Debug)]
pub struct Pins {
    store: Store,
    /// This set's pin file, made on the first pin: `<pid>.<random>` under `<root>/pins/`, one
    /// key per line. One file for all of a change's pins, not one per entry: the 51 pin files
    /// of a warm install of 51 rocks cost about as much to create as its tree's folders.
    file: std::sync::Mutex<Option<(PathBuf, fs::File)>>,
}

impl Pins {
    /// Pins `key` for as long as this set lives. Waits while a collection runs, so a
    /// collection either sees the pin or finished before the caller looks the entry up.
    pub fn pin(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.pin_all(std::slice::from_ref(key))
    }

    /// Pins every key of `keys` under one wait for the store lock (see [`Pins::pin`]).
    pub fn pin_all(&self, keys: &[StoreKey]) -> Result<(), StoreError> {
        use std::io::Write as _;
        let mut file = self.file.lock().expect("not poisoned");
        let _lock = self.store.lock(false)?;
        let (path, handle) = match &mut *file {
            Some(made) => made,
            None => {
                let dir = self.store.pins_dir();
                fs::create_dir_all(&dir).map_err(ctx("create", &dir))?;
                let made = tempfile::Builder::new()
                    .prefix(&format!("{}.", std::process::id()))
                    .tempfile_in(&dir)
                    .map_err(ctx("create a pin in", &dir))?;
                let (handle, path) = made.keep().map_err(|e| ctx("keep", &dir)(e.error))?;
                file.insert((path, handle))
            }
        };
        let lines: String = keys.iter().map(|key| format!("{key}\n")).collect();
        handle
            .write_all(lines.as_bytes())
            .map_err(ctx("write a pin to", path))?;
        Ok(())
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        if let Some((path, _)) = self.file.get_mut().expect("not poisoned").take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// What a pin file's name says ([`parse_pin_name`]).
#[derive(Debug, PartialEq, Eq)]
enum PinFile {
    /// `<pid>.<random>`: the keys are its lines.
    Keys { pid: u32 },
    /// `<key>.<pid>.<random>`, as earlier lvm builds pinned: one key, in the name.
    Named { key: StoreKey, pid: u32 },
}

impl PinFile {
    /// The process that wrote the pin file.
    fn pid(&self) -> u32 {
        match self {
            PinFile::Keys { pid } | PinFile::Named { pid, .. } => *pid,
        }
    }
}

/// The process and, for an older pin file, the key a pin file is named after. Pure.
fn parse_pin_name(name: &str) -> Option<PinFile> {
    let mut parts = name.splitn(3, '.');
    let first = parts.next()?;
    if let Ok(pid) = first.parse() {
        return Some(PinFile::Keys { pid });
    }
    let key = StoreKey::parse(first).ok()?;
    let pid = parts.next()?.parse().ok()?;
    Some(PinFile::Named { key, pid })
}

/// Whether a process with this id exists (its pins then still count).
fn process_is_running(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// What [`copy_prefix`] learnt of the files it copied ([`move_prefix`], of those it moved).
#[derive(Default)]
struct Copied {
    /// sha256 of every file, by relative path.
    hashes: BTreeMap<String, String>,
    total_size: u64,
    /// The digest [`crate::tree::hash_tree_files`] gives the copy, from the same reads.
    digest: crate::tree::FilesDigest,
}

/// Copies `src` into the new directory `dst` (symlinks resolved), with the sha256 of every
/// file and the total size. Copies are not flushed: the insert flushes the whole entry once.
fn copy_prefix(src: &Path, dst: &Path) -> Result<Copied, StoreError> {
    fs::create_dir(dst).map_err(ctx("create", dst))?;
    let mut copied = Copied::default();
    for entry in files::list(src)? {
        let target = dst.join(&entry.rel);
        match entry.kind {
            EntryKind::Dir => fs::create_dir_all(&target).map_err(ctx("create", &target))?,
            EntryKind::File { executable, .. } => {
                fs::copy(&entry.path, &target).map_err(ctx("copy into the store", &target))?;
                copied.add(&target, entry.rel, executable)?;
            }
        }
    }
    Ok(copied)
}

impl Copied {
    /// Gives the entry's file `file` (at `rel`) the mode the store keeps, and records its
    /// hash and size.
    fn add(&mut self, file: &Path, rel: String, executable: bool) -> Result<(), StoreError> {
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(file, fs::Permissions::from_mode(mode))
            .map_err(ctx("set permissions of", file))?;
        let (hash, size) = files::sha256_file(file)?;
        self.total_size += size;
        self.digest.add(&rel, executable, size, &hash);
        self.hashes.insert(rel, hash);
        Ok(())
    }
}

/// How [`Store::insert_filled`] fills a new entry's prefix.
enum Fill {
    Copy,
    Move,
}

/// A folder in the store's temporary space ([`Store::staging`]).
pub struct Staging {
    dir: tempfile::TempDir,
    _lock: fs::File,
}

impl Staging {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Whether `dir` holds only folders and regular files with one link each: what can be moved
/// into an entry as it is (a symbolic link is resolved, and a file linked elsewhere copied,
/// by [`copy_prefix`]).
fn only_plain_files(dir: &Path) -> Result<bool, StoreError> {
    use std::os::unix::fs::MetadataExt;
    for item in walkdir::WalkDir::new(dir).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| files::walk_error(e, dir))?;
        let meta =
            fs::symlink_metadata(item.path()).map_err(ctx("read metadata of", item.path()))?;
        let plain = meta.is_dir() || (meta.is_file() && meta.nlink() == 1);
        if !plain {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Moves the staged prefix `src` to `dst` (one rename, in the same file system) and gives
/// each file the mode [`copy_prefix`] would, with the same hashes as it computes.
fn move_prefix(src: &Path, dst: &Path) -> Result<Copied, StoreError> {
    fs::rename(src, dst).map_err(ctx("move into the store", dst))?;
    let mut moved = Copied::default();
    for entry in files::list(dst)? {
        if let EntryKind::File { executable, .. } = entry.kind {
            moved.add(&entry.path, entry.rel, executable)?;
        }
    }
    Ok(moved)
}

/// Makes every file and directory of a stored prefix read-only.
fn seal(prefix: &Path) -> Result<(), StoreError> {
    let entries = files::list(prefix)?;
    // Deepest first: a directory is sealed after its contents.
    for entry in entries.iter().rev() {
        files::make_read_only(&entry.path)?;
    }
    files::make_read_only(prefix)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_order_independent_and_unambiguous() {
        let a = StoreKey::compute(&[("rockspec", "x"), ("lua", "5.4")]);
        let b = StoreKey::compute(&[("lua", "5.4"), ("rockspec", "x")]);
        assert_eq!(a, b);
        assert_ne!(a, StoreKey::compute(&[("lua", "5.4"), ("rockspec", "y")]));
        // Moving bytes between name and value changes the key.
        assert_ne!(
            StoreKey::compute(&[("ab", "c")]),
            StoreKey::compute(&[("a", "bc")])
        );
        assert_ne!(StoreKey::compute(&[]), StoreKey::compute(&[("", "")]));
        assert_eq!(a.as_str().len(), 64);
        assert_eq!(StoreKey::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn key_is_stable_across_releases() {
        // Changing the encoding invalidates every store; this pins it (computed independently).
        assert_eq!(
            StoreKey::compute(&[("lua", "5.4")]).as_str(),
            "dbf887695fec48575f3b95db3855297b3cb195275aea41cb461c14982091f160"
        );
    }

    #[test]
    fn pin_names_carry_key_and_process() {
        let key = StoreKey::compute(&[("lua", "5.4")]);
        assert_eq!(
            parse_pin_name(&format!("{key}.4242.Xy1z")),
            Some(PinFile::Named {
                key: key.clone(),
                pid: 4242
            })
        );
        assert_eq!(
            parse_pin_name("4242.Xy1z"),
            Some(PinFile::Keys { pid: 4242 })
        );
        assert!(parse_pin_name(&format!("{key}.x.y")).is_none());
        assert!(parse_pin_name("not-a-key.1.y").is_none());
        assert!(process_is_running(std::process::id()));
    }

    #[test]
    fn bad_keys_are_rejected() {
        assert!(StoreKey::parse("abc").is_err());
        assert!(StoreKey::parse(&"A".repeat(64)).is_err());
        assert!(StoreKey::parse(&"../".repeat(21)).is_err());
    }
}
