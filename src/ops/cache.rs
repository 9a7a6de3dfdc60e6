//! Build caches seen from an environment: store entries read from the configured caches before
//! a build ([`Caches::fetch_into_store`], the install's one hook), and `lvm cache push`, `pull`,
//! `list`, `verify` and `key generate` over the environment's packages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::cache::entry::{EntryError, EntryMeta, Opened};
use crate::cache::keys::{PublicKey, SecretKey};
use crate::cache::recipe::{RECIPE_FORMAT, RecipeKey, RecipeMeta};
use crate::cache::s3::S3Settings;
use crate::cache::{Cache, CacheError, Fetched, Pushed};
use crate::config::EnvConfig;
use crate::env::{Environment, Home};
use crate::errors::error_text;
use crate::fetch::FetchOptions;
use crate::manifest::Package;
use crate::ops::{Error, Result};
use crate::report::Reporter;
use crate::store::{Inserted, Pins, RockMeta, Store, StoreKey, StoredRock};

/// The store metadata entries that record where a build came from when a cache supplied it.
pub const FROM_CACHE_KEY: &str = "from_cache";
pub const SIGNED_BY_KEY: &str = "cache_signed_by";
/// The store metadata entry naming a build's recipe (see [`crate::cache::recipe`]), written
/// when its source may be vouched for by a recipe record; `lvm cache push` writes the record.
pub const RECIPE_KEY: &str = "recipe";

/// One package a cache supplied during a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheHit {
    /// The cache's URL.
    pub cache: String,
    /// The name of the key that signed the entry.
    pub signed_by: String,
    /// Bytes of the rock downloaded.
    pub bytes: u64,
    /// Milliseconds from asking the cache to the entry being in the store.
    pub ms: u64,
}

/// A trusted recipe record found in a cache: the source digest it vouches for and who said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRecipe {
    pub meta: RecipeMeta,
    /// The cache's URL.
    pub cache: String,
    /// The name of the key that signed the record.
    pub signed_by: String,
}

/// The caches a change reads, with the keys it trusts.
pub struct Caches {
    caches: Vec<Cache>,
    trusted: Vec<PublicKey>,
    /// Whether a trusted recipe record may stand in for downloading a source
    /// (`cache_trust_sources`).
    trust_sources: bool,
    /// Every recipe looked up so far and what was found: packages are looked up all at once
    /// before they are prepared, and not again.
    recipes: Mutex<BTreeMap<RecipeKey, Option<FoundRecipe>>>,
    /// The packages whose source digest a recipe record supplied, by store key.
    recipe_uses: Mutex<BTreeMap<StoreKey, FoundRecipe>>,
    /// Caches that failed once in this change: skipped from then on, so a cache that is down
    /// costs one timeout, not one per package.
    down: Mutex<BTreeSet<String>>,
    hits: Mutex<BTreeMap<StoreKey, CacheHit>>,
    reporter: Arc<dyn Reporter>,
}

impl Caches {
    /// The caches the settings list, opened with `opts` as their limits; one that cannot be
    /// opened is noted through `reporter` and left out.
    pub fn open(config: &EnvConfig, opts: &FetchOptions, reporter: Arc<dyn Reporter>) -> Caches {
        let urls = config.caches.clone().unwrap_or_default();
        let s3 = s3_settings();
        let mut caches = Vec::new();
        for url in urls {
            match Cache::open(&url, opts, &s3) {
                Ok(cache) => caches.push(cache),
                Err(e) => reporter.warning(&format!("{}; not used", error_text(&e))),
            }
        }
        let trusted = trusted_keys(config);
        if !caches.is_empty() && trusted.is_empty() {
            reporter.warning(
                "build caches are set but trusted_keys is empty: no cache entry can be trusted, \
                 so lvm builds instead (trust the public key that signs your team's entries: \
                 `lvm config set trusted_keys NAME:KEY`)",
            );
        }
        Caches {
            caches,
            trusted,
            trust_sources: config.cache_trust_sources.unwrap_or(true),
            recipes: Mutex::new(BTreeMap::new()),
            recipe_uses: Mutex::new(BTreeMap::new()),
            down: Mutex::new(BTreeSet::new()),
            hits: Mutex::new(BTreeMap::new()),
            reporter,
        }
    }

    /// Looks `key` up in each cache in turn and inserts the first entry that checks out into
    /// the store, with the digest of its files. A cache that fails (down, slow, refused entry)
    /// is a note and lvm goes on to the next one, then builds: only the store can fail this.
    pub(in crate::ops) fn fetch_into_store(
        &self,
        store: &Store,
        pins: &Pins,
        key: &StoreKey,
    ) -> Result<Option<Inserted>> {
        self.fetch_vouched_into_store(store, pins, key, None)
    }

    /// [`Caches::fetch_into_store`], where `vouched` is the trusted recipe record that named
    /// `key`, if one did: when it folds in the entry's metadata, the rock is asked of the
    /// record's cache right away, without its `entry.json` (two requests a package with the
    /// record's, not three). A rock that cache lacks sends lvm to the other caches; one that
    /// does not match the record (say, pushed since by another builder) is a note, and the
    /// entries' own metadata is read.
    pub(in crate::ops) fn fetch_vouched_into_store(
        &self,
        store: &Store,
        pins: &Pins,
        key: &StoreKey,
        vouched: Option<&FoundRecipe>,
    ) -> Result<Option<Inserted>> {
        if self.trusted.is_empty() {
            return Ok(None);
        }
        // Fetched straight into the store's own temporary space, the rock's files are moved
        // into the entry rather than written a second time.
        let staging = store.staging()?;
        let scratch = staging.path();
        let mut lacking = None;
        if let Some(found) = vouched
            && let Some(entry) = found.meta.entry.as_ref().filter(|e| e.key == *key)
            && let Some(cache) = self.up().find(|c| c.url() == found.cache)
        {
            let started = Instant::now();
            let opened = Opened {
                meta: entry.clone(),
                signed_by: found.signed_by.clone(),
            };
            match cache.fetch_rock(opened, scratch) {
                Ok(Some(fetched)) => return self.take(store, pins, cache, fetched, started),
                // The record outlived its entry there: its `entry.json` is gone too.
                Ok(None) => lacking = Some(cache.url()),
                Err(e) => self.failed(cache, &e, "reading its entry.json instead"),
            }
        }
        for cache in self.up().filter(|c| Some(c.url()) != lacking) {
            let started = Instant::now();
            match cache.fetch(key, &self.trusted, scratch) {
                Ok(Some(fetched)) => return self.take(store, pins, cache, fetched, started),
                Ok(None) => {}
                Err(e) => self.failed(cache, &e, "building it instead"),
            }
        }
        Ok(None)
    }

    /// Inserts an entry fetched from `cache` (asked at `started`) into the store and counts it
    /// as a hit of that cache.
    fn take(
        &self,
        store: &Store,
        pins: &Pins,
        cache: &Cache,
        fetched: Fetched,
        started: Instant,
    ) -> Result<Option<Inserted>> {
        let key = fetched.meta.key.clone();
        let inserted = insert_fetched(store, pins, &key, cache, &fetched)?;
        self.hits.lock().expect("not poisoned").insert(
            key,
            CacheHit {
                cache: cache.url().to_string(),
                signed_by: fetched.signed_by,
                bytes: fetched.bytes,
                ms: started.elapsed().as_millis() as u64,
            },
        );
        Ok(Some(inserted))
    }

    /// The caches not found down so far in this command, in order.
    fn up(&self) -> impl Iterator<Item = &Cache> {
        self.caches.iter().filter(|cache| {
            !self
                .down
                .lock()
                .expect("not poisoned")
                .contains(cache.url())
        })
    }

    /// Notes a cache's failure: a refused entry or record is said with `instead` (what lvm
    /// does now); any other failure marks the cache down for the rest of the command, said once.
    fn failed(&self, cache: &Cache, e: &CacheError, instead: &str) {
        if let CacheError::Refused { .. }
        | CacheError::RecipeRefused { .. }
        | CacheError::Unpack { .. } = e
        {
            self.reporter
                .warning(&format!("{}; {instead}", error_text(e)));
            return;
        }
        // Packages prepared side by side may each have asked it: one note is enough.
        let first = self
            .down
            .lock()
            .expect("not poisoned")
            .insert(cache.url().to_string());
        if first {
            self.reporter.warning(&format!(
                "{}; not used for the rest of this command",
                error_text(e)
            ));
        }
    }

    /// Whether any cache is asked for builds: some are configured and some key is trusted.
    pub(in crate::ops) fn asks_any(&self) -> bool {
        !self.trusted.is_empty() && !self.caches.is_empty()
    }

    /// Whether recipe records are read at all: some key is trusted and `cache_trust_sources`
    /// is on.
    pub(in crate::ops) fn reads_recipes(&self) -> bool {
        self.trust_sources && self.asks_any()
    }

    /// The first recipe record for `recipe` that a trusted key signed, asked of each cache in
    /// turn (once per command: the answer is kept). A refused record is a note, and lvm
    /// fetches the source as without one.
    pub(in crate::ops) fn recipe(&self, recipe: &RecipeKey, scratch: &Path) -> Option<FoundRecipe> {
        if !self.reads_recipes() {
            return None;
        }
        if let Some(known) = self.recipes.lock().expect("not poisoned").get(recipe) {
            return known.clone();
        }
        let mut found = None;
        for cache in self.up() {
            match cache.recipe(recipe, &self.trusted, scratch) {
                Ok(Some(opened)) => {
                    found = Some(FoundRecipe {
                        meta: opened.meta,
                        cache: cache.url().to_string(),
                        signed_by: opened.signed_by,
                    });
                    break;
                }
                Ok(None) => {}
                Err(e) => self.failed(cache, &e, "fetching the source instead"),
            }
        }
        self.recipes
            .lock()
            .expect("not poisoned")
            .insert(recipe.clone(), found.clone());
        found
    }

    /// Records that `found` supplied the source digest of the build under `key`, for the
    /// event's details.
    pub(in crate::ops) fn used_recipe(&self, key: &StoreKey, found: &FoundRecipe) {
        self.recipe_uses
            .lock()
            .expect("not poisoned")
            .insert(key.clone(), found.clone());
    }

    /// Whether a cache supplied the build under `key` in this command.
    pub(in crate::ops) fn supplied(&self, key: &str) -> bool {
        StoreKey::parse(key)
            .is_ok_and(|key| self.hits.lock().expect("not poisoned").contains_key(&key))
    }

    /// The packages caches supplied so far, by store key.
    pub fn hits(&self) -> BTreeMap<StoreKey, CacheHit> {
        self.hits.lock().expect("not poisoned").clone()
    }

    /// The event details recording which packages of `target` a cache supplied (see
    /// [`provenance_details`]).
    pub(in crate::ops) fn event_details(
        &self,
        target: &crate::manifest::Manifest,
    ) -> BTreeMap<String, String> {
        let hits = self.hits();
        let supplied = target.packages.iter().filter_map(|(name, package)| {
            let key = StoreKey::parse(&package.store_key).ok()?;
            hits.get(&key).map(|hit| (name.as_str(), hit))
        });
        let mut details = provenance_details(supplied);
        let uses = self.recipe_uses.lock().expect("not poisoned");
        for (name, package) in &target.packages {
            let Some(found) = StoreKey::parse(&package.store_key)
                .ok()
                .and_then(|key| uses.get(&key))
            else {
                continue;
            };
            let key = |field: &str| format!("{DETAILS_PREFIX}{name}.{field}");
            details.insert(key("source_from"), found.cache.clone());
            details.insert(key("source_signed_by"), found.signed_by.clone());
        }
        details
    }
}

/// The event details prefix of a package a cache supplied: `cache.<name>.url`, `.signed_by`,
/// `.bytes` and `.ms` (docs/events.md).
pub const DETAILS_PREFIX: &str = "cache.";

/// Event details for packages a cache supplied, four entries each. Pure.
pub fn provenance_details<'a>(
    supplied: impl Iterator<Item = (&'a str, &'a CacheHit)>,
) -> BTreeMap<String, String> {
    let mut details = BTreeMap::new();
    for (name, hit) in supplied {
        let key = |field: &str| format!("{DETAILS_PREFIX}{name}.{field}");
        details.insert(key("url"), hit.cache.clone());
        details.insert(key("signed_by"), hit.signed_by.clone());
        details.insert(key("bytes"), hit.bytes.to_string());
        details.insert(key("ms"), hit.ms.to_string());
    }
    details
}

/// The cache that supplied `name` in an event with these details, if one did. Pure.
pub fn supplied_by(details: &BTreeMap<String, String>, name: &str) -> Option<CacheHit> {
    let get = |field: &str| details.get(&format!("{DETAILS_PREFIX}{name}.{field}"));
    Some(CacheHit {
        cache: get("url")?.clone(),
        signed_by: get("signed_by").cloned().unwrap_or_default(),
        bytes: get("bytes").and_then(|b| b.parse().ok()).unwrap_or(0),
        ms: get("ms").and_then(|b| b.parse().ok()).unwrap_or(0),
    })
}

/// Every package an event's details say a cache supplied, by name. Pure.
pub fn all_supplied(details: &BTreeMap<String, String>) -> BTreeMap<String, CacheHit> {
    details
        .keys()
        .filter_map(|k| k.strip_prefix(DETAILS_PREFIX)?.strip_suffix(".url"))
        .filter_map(|name| Some((name.to_string(), supplied_by(details, name)?)))
        .collect()
}

/// Inserts an entry fetched (and checked) from `cache` into the store under `key`, pinned for
/// the change, recording which cache supplied it and which key signed it.
fn insert_fetched(
    store: &Store,
    pins: &Pins,
    key: &StoreKey,
    cache: &Cache,
    fetched: &Fetched,
) -> Result<Inserted> {
    pins.pin(key)?;
    // Only what describes the build: a signer cannot make the store claim another origin or
    // linked files.
    let mut extra = provenance_free(&fetched.meta.extra);
    extra.insert(FROM_CACHE_KEY.to_string(), cache.url().to_string());
    extra.insert(SIGNED_BY_KEY.to_string(), fetched.signed_by.clone());
    let meta = RockMeta {
        name: fetched.meta.name.clone(),
        version: fetched.meta.version.clone(),
        extra,
    };
    Ok(store.insert_staged(key, &fetched.prefix, meta)?)
}

/// Where this machine's build of a package came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum BuildOrigin {
    /// Fetched from a build cache, signed by the named key.
    Cache { cache: String, signed_by: String },
    /// Built on this machine.
    Built,
}

/// Where the store's build of `package` came from; `None` when the store lacks it.
pub fn build_origin(env: &Environment, package: &Package) -> Result<Option<BuildOrigin>> {
    let Ok(key) = StoreKey::parse(&package.store_key) else {
        return Ok(None);
    };
    let Some(stored) = env.home().store()?.get(&key)? else {
        return Ok(None);
    };
    let extra = &stored.meta.extra;
    Ok(Some(match extra.get(FROM_CACHE_KEY) {
        Some(cache) => BuildOrigin::Cache {
            cache: cache.clone(),
            signed_by: extra.get(SIGNED_BY_KEY).cloned().unwrap_or_default(),
        },
        None => BuildOrigin::Built,
    }))
}

/// Where S3 requests go and as whom: the AWS variables and files of this process.
fn s3_settings() -> S3Settings {
    S3Settings::from_env(|name| std::env::var(name).ok())
}

/// The trusted keys of the settings (validated when they were read).
fn trusted_keys(config: &EnvConfig) -> Vec<PublicKey> {
    parse_trusted(config.trusted_keys.as_deref().unwrap_or_default())
}

/// The public keys of a `trusted_keys` setting (validated when it was read).
pub(in crate::ops) fn parse_trusted(keys: &[String]) -> Vec<PublicKey> {
    keys.iter()
        .filter_map(|k| PublicKey::parse(k).ok())
        .collect()
}

/// Where `lvm cache key generate` puts the signing key, and `push` looks for it.
pub fn default_key_file(home: &Home) -> PathBuf {
    home.root.join(crate::layout::CACHE_SIGNING_KEY_FILE)
}

/// `lvm cache key generate`: a new signing key named `name`, written to `file` (never over an
/// existing one). Returns the public key to list in `trusted_keys`.
pub fn generate_key(name: &str, file: &Path) -> Result<PublicKey> {
    let key = SecretKey::generate(name)?;
    key.write_new(file)?;
    Ok(key.public())
}

/// What happened to one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageRow {
    pub name: String,
    pub version: String,
    pub store_key: String,
    /// `uploaded`, `present`, `fetched`, `in-store`, `ok`, `missing`, `untrusted`, `refused`,
    /// `skipped`.
    pub status: String,
    /// Why, for `untrusted`, `refused` and `skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Bytes moved (uploads, downloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// What one command did with one cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheReport {
    pub cache: String,
    pub packages: Vec<PackageRow>,
}

/// The environment's packages named in `names` (all when empty), by name.
fn chosen_packages(env: &Environment, names: &[String]) -> Result<BTreeMap<String, Package>> {
    let manifest = env.manifest()?;
    if names.is_empty() {
        return Ok(manifest.packages);
    }
    let mut chosen = BTreeMap::new();
    for name in names {
        let name = name.to_ascii_lowercase();
        let package = manifest
            .packages
            .get(&name)
            .ok_or_else(|| Error::NotInstalled { name: name.clone() })?;
        chosen.insert(name, package.clone());
    }
    Ok(chosen)
}

fn row(name: &str, package: &Package, status: &str, detail: Option<String>) -> PackageRow {
    PackageRow {
        name: name.to_string(),
        version: package.version.to_string(),
        store_key: package.store_key.clone(),
        status: status.to_string(),
        detail,
        bytes: None,
    }
}

/// The caches a read command uses: `from`, else the configured ones.
fn read_caches(env: &Environment, from: Option<&str>) -> Result<Vec<Cache>> {
    let urls = match from {
        Some(url) => vec![url.to_string()],
        None => env.config().caches.clone().unwrap_or_default(),
    };
    open_caches(&urls, &fetch_options(env))
}

/// Opens each of `urls` with the limits `opts`; none is [`Error::NoCaches`].
pub(in crate::ops) fn open_caches(urls: &[String], opts: &FetchOptions) -> Result<Vec<Cache>> {
    if urls.is_empty() {
        return Err(Error::NoCaches);
    }
    let s3 = s3_settings();
    urls.iter()
        .map(|url| Cache::open(url, opts, &s3).map_err(Error::from))
        .collect()
}

fn fetch_options(env: &Environment) -> FetchOptions {
    crate::fetch::fetch_options(env.config().http_timeout(), env.config().download_timeout())
}

/// `lvm cache push [--to URL] [NAME...]`: uploads the store entries of the environment's
/// packages (or the named ones), signed with the key in `key_file`, to `to` or the `cache_push`
/// setting. Linked packages (symlinks into a working copy) are skipped.
pub fn push(
    env: &Environment,
    names: &[String],
    to: Option<&str>,
    key_file: &Path,
) -> Result<CacheReport> {
    let url = match to {
        Some(url) => url.to_string(),
        None => env
            .config()
            .cache_push
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or(Error::NoCachePushTarget)?,
    };
    let signer = SecretKey::load(key_file)?;
    let cache = Cache::open(&url, &fetch_options(env), &s3_settings())?;
    let packages = chosen_packages(env, names)?;
    let store = env.home().store()?;
    let scratch = env.scratch("cache-push-")?;
    let lua = env.config().lua.to_string();
    let mut rows = Vec::new();
    for (name, package) in &packages {
        if package.source.linked_path().is_some() {
            let why = "a linked package: its files are a working copy".to_string();
            rows.push(row(name, package, "skipped", Some(why)));
            continue;
        }
        let Some(stored) = intact_store_entry(&store, package)? else {
            let why = "its build is not in the store, or was changed there; `lvm sync` builds it \
                       again"
                .to_string();
            rows.push(row(name, package, "skipped", Some(why)));
            continue;
        };
        let rock = crate::ops::publish::binary_rock(&stored.prefix, name, &package.version)?;
        let meta = EntryMeta {
            format: crate::cache::entry::ENTRY_FORMAT.writes,
            key: stored.key.clone(),
            name: name.clone(),
            version: package.version.to_string(),
            lua: stored
                .meta
                .extra
                .get(crate::store::LUA_KEY)
                .cloned()
                .unwrap_or(lua.clone()),
            platform: crate::platform::rock_arch(),
            rock: crate::cache::entry::RockFile {
                file: rock.file.clone(),
                sha256: crate::digest::sha256_bytes(&rock.bytes),
                size: rock.bytes.len() as u64,
            },
            files: rock.files,
            extra: provenance_free(&stored.meta.extra),
        };
        let mut done = row(name, package, "uploaded", None);
        let held = match cache.push(&meta, &rock.bytes, &signer, scratch.path())? {
            Pushed::Uploaded { bytes } => {
                done.bytes = Some(bytes);
                meta.clone()
            }
            Pushed::AlreadyThere(held) => {
                done.status = "present".to_string();
                *held
            }
        };
        // After the entry, so a reader never finds a record whose entry is missing; an entry
        // already there gets the record an older lvm did not write (or one without the
        // entry's metadata folded in). The record folds in what the cache holds.
        if let Some(recipe) = recipe_record(&meta, held) {
            cache.push_recipe(&recipe, &signer, scratch.path())?;
        }
        rows.push(done);
    }
    Ok(CacheReport {
        cache: cache.url().to_string(),
        packages: rows,
    })
}

/// The recipe record for the entry `entry` of this machine's build, when that build recorded
/// a recipe (a source a record may vouch for) and the source digest it was built from, with
/// `held` folded in: the metadata of the entry the cache holds under the same store key (this
/// one, or the same key's signature over an earlier push of it). Pure.
fn recipe_record(entry: &EntryMeta, held: EntryMeta) -> Option<RecipeMeta> {
    let recipe = RecipeKey::parse(entry.extra.get(RECIPE_KEY)?)?;
    let field = |name: &str| entry.extra.get(name).cloned().unwrap_or_default();
    let (source_sha256, source_commit) = (field("source_sha256"), field("source_commit"));
    if source_sha256.is_empty() && source_commit.is_empty() {
        return None;
    }
    Some(RecipeMeta {
        format: RECIPE_FORMAT.writes,
        recipe,
        key: entry.key.clone(),
        name: entry.name.clone(),
        version: entry.version.clone(),
        source_sha256,
        source_commit,
        entry: Some(held),
    })
}

/// What a store entry records about its build, without where this machine got it from (which
/// cache, signed by whom) or a linked package's working-copy files: neither is part of the
/// build another machine receives. Pure.
fn provenance_free(extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    extra
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), FROM_CACHE_KEY | SIGNED_BY_KEY))
        .filter(|(k, _)| k.as_str() != crate::tree::links::LINKED_FILES_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The store entry of `package` when it is there and its files match their recorded hashes.
fn intact_store_entry(store: &Store, package: &Package) -> Result<Option<StoredRock>> {
    let Ok(key) = StoreKey::parse(&package.store_key) else {
        return Ok(None);
    };
    let Some(stored) = store.get(&key)? else {
        return Ok(None);
    };
    Ok(Store::verify_stored(&stored)?.is_clean().then_some(stored))
}

/// `lvm cache pull [--from URL] [NAME...]`: fetches the builds the store lacks from the caches
/// (checked as an install checks them), so the next change that needs them builds nothing.
pub fn pull(env: &Environment, names: &[String], from: Option<&str>) -> Result<Vec<CacheReport>> {
    let caches = read_caches(env, from)?;
    let trusted = trusted_keys(env.config());
    let packages = chosen_packages(env, names)?;
    let store = env.home().store()?;
    let pins = store.pins();
    let mut reports: Vec<CacheReport> = caches
        .iter()
        .map(|c| CacheReport {
            cache: c.url().to_string(),
            packages: vec![],
        })
        .collect();
    for (name, package) in &packages {
        if intact_store_entry(&store, package)?.is_some() || package.source.linked_path().is_some()
        {
            continue;
        }
        let Ok(key) = StoreKey::parse(&package.store_key) else {
            continue;
        };
        for (cache, report) in caches.iter().zip(reports.iter_mut()) {
            let mut done = row(name, package, "fetched", None);
            let staging = store.staging()?;
            match cache.fetch(&key, &trusted, staging.path()) {
                Ok(Some(fetched)) => {
                    insert_fetched(&store, &pins, &key, cache, &fetched)?;
                    done.bytes = Some(fetched.bytes);
                    report.packages.push(done);
                    break;
                }
                Ok(None) => done.status = "missing".to_string(),
                Err(e) => {
                    done.status = "refused".to_string();
                    done.detail = Some(error_text(&e));
                }
            }
            report.packages.push(done);
        }
    }
    Ok(reports)
}

/// `lvm cache list [--from URL] [NAME...]`: which of the environment's packages each cache holds
/// (`present`: an entry signed by a trusted key for the package's store key; `untrusted`: one
/// signed by a key not in `trusted_keys`, naming it; `refused`: an entry that does not check
/// out, with why; `missing`).
pub fn list(env: &Environment, names: &[String], from: Option<&str>) -> Result<Vec<CacheReport>> {
    check_each(env, names, from, false)
}

/// `lvm cache verify [--from URL] [NAME...]`: like `list`, and downloads each present entry's
/// rock to check its hash and every file's (`ok` or `refused`).
pub fn verify(env: &Environment, names: &[String], from: Option<&str>) -> Result<Vec<CacheReport>> {
    check_each(env, names, from, true)
}

fn check_each(
    env: &Environment,
    names: &[String],
    from: Option<&str>,
    whole: bool,
) -> Result<Vec<CacheReport>> {
    let caches = read_caches(env, from)?;
    let trusted = trusted_keys(env.config());
    let packages = chosen_packages(env, names)?;
    let scratch = env.scratch("cache-check-")?;
    let mut reports = Vec::new();
    for cache in &caches {
        let mut rows = Vec::new();
        for (name, package) in &packages {
            let Ok(key) = StoreKey::parse(&package.store_key) else {
                continue;
            };
            let result = if whole {
                cache
                    .fetch(&key, &trusted, scratch.path())
                    .map(|f| f.map(|f| ("ok", Some(f.bytes))))
            } else {
                cache
                    .entry(&key, &trusted, scratch.path())
                    .map(|m| m.map(|_| ("present", None)))
            };
            let mut done = row(name, package, "missing", None);
            match result {
                Ok(Some((status, bytes))) => {
                    done.status = status.to_string();
                    done.bytes = bytes;
                }
                Ok(None) => {}
                // Listing, another builder's entry is a fact about the cache, not a fault:
                // shown with its key; `verify` and an install refuse it.
                Err(CacheError::Refused {
                    source: untrusted @ EntryError::Untrusted { .. },
                    ..
                }) if !whole => {
                    done.status = "untrusted".to_string();
                    done.detail = Some(error_text(&untrusted));
                }
                Err(e @ (CacheError::Refused { .. } | CacheError::Unpack { .. })) => {
                    done.status = "refused".to_string();
                    done.detail = Some(error_text(&e));
                }
                // The cache itself fails: no use asking it about the other packages.
                Err(e) => return Err(e.into()),
            }
            rows.push(done);
        }
        reports.push(CacheReport {
            cache: cache.url().to_string(),
            packages: rows,
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(extra: &[(&str, &str)]) -> EntryMeta {
        EntryMeta {
            format: crate::cache::entry::ENTRY_FORMAT.writes,
            key: StoreKey::compute(&[("lua", "5.4")]),
            name: "cmath".into(),
            version: "1.0-1".into(),
            lua: "5.4".into(),
            platform: "linux-x86_64".into(),
            rock: crate::cache::entry::RockFile {
                file: "cmath-1.0-1.linux-x86_64.rock".into(),
                sha256: crate::digest::sha256_bytes(b"rock"),
                size: 4,
            },
            files: BTreeMap::new(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_record_folds_in_the_entry_the_cache_holds() {
        let recipe = RecipeKey::compute(&[("rockspec", "x")]);
        let sha = crate::digest::sha256_bytes(b"source");
        let entry = built(&[(RECIPE_KEY, recipe.as_str()), ("source_sha256", &sha)]);
        // An earlier push of the same key: another rock of the same build.
        let mut held = entry.clone();
        held.rock.sha256 = crate::digest::sha256_bytes(b"earlier rock");
        let record = recipe_record(&entry, held.clone()).unwrap();
        assert_eq!(
            (&record.recipe, &record.key, &record.source_sha256),
            (&recipe, &entry.key, &sha)
        );
        assert_eq!(record.entry, Some(held));
        assert_eq!(record.format, RECIPE_FORMAT.writes);
        // A build without a recipe, or without a source digest, gets no record.
        assert_eq!(recipe_record(&built(&[]), built(&[])), None);
        let no_digest = built(&[(RECIPE_KEY, recipe.as_str())]);
        assert_eq!(recipe_record(&no_digest, no_digest.clone()), None);
    }

    #[test]
    fn provenance_round_trips_through_event_details() {
        let hit = CacheHit {
            cache: "s3://team-builds/lvm".into(),
            signed_by: "ci-1".into(),
            bytes: 1234,
            ms: 56,
        };
        let mut details = provenance_details([("luasocket", &hit)].into_iter());
        details.insert("run".into(), "abc".into());
        details.insert("variables.X".into(), "1".into());
        assert_eq!(details["cache.luasocket.url"], "s3://team-builds/lvm");
        assert_eq!(supplied_by(&details, "luasocket"), Some(hit.clone()));
        assert_eq!(supplied_by(&details, "other"), None);
        assert_eq!(
            all_supplied(&details),
            BTreeMap::from([("luasocket".to_string(), hit)])
        );
        // Older events have no such details.
        assert!(all_supplied(&BTreeMap::new()).is_empty());
    }
}
