//! `lvm cache list --all` and `lvm cache verify --all`: every entry a cache holds, whoever
//! pushed it, listed with what it claims and who signed it, or fetched and checked in full.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::cache::{open_caches, parse_trusted};
use crate::cache::entry::{EntryError, Inspected};
use crate::cache::keys::PublicKey;
use crate::cache::listing::MAX_LISTED_ENTRIES;
use crate::cache::{Cache, CacheError};
use crate::env::{Environment, Home, Scratch};
use crate::errors::error_text;
use crate::fetch::FetchOptions;
use crate::ops::Result;
use crate::report::Reporter;
use crate::store::StoreKey;

/// Entries read or checked at once per cache: enough to hide a remote cache's latency,
/// few enough to stay polite to it and to this machine's disk.
const ENTRY_WORKERS: usize = 4;
/// Entries of one cache that may fail to be read before the rest are not asked: a cache that
/// went down costs a few timeouts, not one per entry. Those not asked are reported unreadable,
/// so a verify that did not check everything never succeeds.
const MAX_UNREADABLE: usize = 8;
/// The longest text of a cache's shown as it is (names, versions, key names): longer is cut.
const MAX_SHOWN_CHARS: usize = 200;
/// The longest message about an entry (it quotes URLs and what the entry says).
const MAX_DETAIL_CHARS: usize = 1000;

/// The caches to read, the keys to trust and where to work: an environment's settings, or
/// the user's outside every environment.
pub struct CacheScope {
    caches: Vec<String>,
    trusted: Vec<PublicKey>,
    opts: FetchOptions,
    scratch_dir: PathBuf,
    reporter: Arc<dyn Reporter>,
}

impl CacheScope {
    /// The caches, trusted keys and time limits of `env`'s settings.
    pub fn of(env: &Environment) -> CacheScope {
        let config = env.config();
        CacheScope {
            caches: config.caches.clone().unwrap_or_default(),
            trusted: parse_trusted(config.trusted_keys.as_deref().unwrap_or_default()),
            opts: crate::fetch::fetch_options(config.http_timeout(), config.download_timeout()),
            scratch_dir: env.root().join(crate::layout::SCRATCH_DIR),
            reporter: env.reporter_handle(),
        }
    }

    /// Outside every environment: the `caches` and `trusted_keys` of the user's settings,
    /// working in the lvm home.
    pub fn outside(
        home: &Home,
        caches: Vec<String>,
        trusted_keys: &[String],
        http_timeout: Option<Duration>,
        download_timeout: Option<Duration>,
        reporter: Arc<dyn Reporter>,
    ) -> CacheScope {
        CacheScope {
            caches,
            trusted: parse_trusted(trusted_keys),
            opts: crate::fetch::fetch_options(http_timeout, download_timeout),
            scratch_dir: home.root.join(crate::layout::SCRATCH_DIR),
            reporter,
        }
    }
}

/// One entry of a cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryRow {
    pub store_key: String,
    /// What the entry says it is; `null` when its `entry.json` is not an entry. Only a
    /// `trusted` entry's claims are signed by a key you trust.
    pub name: Option<String>,
    pub version: Option<String>,
    pub lua: Option<String>,
    pub platform: Option<String>,
    /// The name of the key the entry says signed it.
    pub signed_by: Option<String>,
    /// The size of its rock, as its metadata says.
    pub bytes: Option<u64>,
    /// Signed by a key of `trusted_keys`, and the signature verifies.
    pub trusted: bool,
    /// list: `trusted`, `untrusted`, `refused` (the entry does not check out) or `unreadable`
    /// (the cache failed to send it); verify: `ok`, `refused` or `unreadable`.
    pub status: String,
    /// What failed, for `refused` and `unreadable`: which key, which file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl EntryRow {
    /// Whether the entry does not check out or could not be read (`refused`, `unreadable`):
    /// `lvm cache list|verify --all` exit 1 when one does. `untrusted` is not bad in itself.
    pub fn is_bad(&self) -> bool {
        matches!(self.status.as_str(), "refused" | "unreadable")
    }
}

/// Every entry of one cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheEntries {
    pub cache: String,
    /// The cache holds more entries than one listing returns (only the first are here).
    pub truncated: bool,
    pub entries: Vec<EntryRow>,
}

/// `lvm cache list --all`: every entry of `from` (else of each configured cache) with what it
/// claims and whether a trusted key signed it. Only `entry.json` is read.
pub fn list_all(scope: &CacheScope, from: Option<&str>) -> Result<Vec<CacheEntries>> {
    each_entry(scope, from, listed)
}

/// `lvm cache verify --all`: every entry of `from` (else of each configured cache) fetched and
/// checked as an install checks it (a trusted key's signature, the rock's sha256, every file's
/// hash) and its rock against its own `rock_manifest`, as LuaRocks reads it.
pub fn verify_all(scope: &CacheScope, from: Option<&str>) -> Result<Vec<CacheEntries>> {
    each_entry(scope, from, verified)
}

/// How one entry is looked at: `None` when the cache no longer has it.
type Check = fn(&Reading, &StoreKey) -> Option<EntryRow>;

/// What looking at an entry reads with: its cache, the keys to trust, a scratch folder.
struct Reading<'a> {
    cache: &'a Cache,
    trusted: &'a [PublicKey],
    scratch: &'a Path,
}

/// Lists each cache and applies `check` to every entry, [`ENTRY_WORKERS`] at a time,
/// reporting progress. A cache that cannot be listed fails the command.
fn each_entry(scope: &CacheScope, from: Option<&str>, check: Check) -> Result<Vec<CacheEntries>> {
    let urls = match from {
        Some(url) => vec![url.to_string()],
        None => scope.caches.clone(),
    };
    let caches = open_caches(&urls, &scope.opts)?;
    let scratch = Scratch::create(&scope.scratch_dir, "cache-entries-")?;
    let mut out = Vec::new();
    for cache in &caches {
        let listing = cache.list(scratch.path())?;
        if listing.truncated {
            scope.reporter.warning(&format!(
                "build cache {} holds more than {MAX_LISTED_ENTRIES} entries: only the first \
                 {MAX_LISTED_ENTRIES} (by store key) are looked at",
                cache.url()
            ));
        }
        scope
            .reporter
            .cache_checking(cache.url(), listing.keys.len());
        let unreadable_count = AtomicUsize::new(0);
        let rows = on_threads(&listing.keys, ENTRY_WORKERS, |key| {
            let row = if unreadable_count.load(Ordering::Relaxed) >= MAX_UNREADABLE {
                Some(not_asked(key, cache))
            } else {
                let reading = Reading {
                    cache,
                    trusted: &scope.trusted,
                    scratch: scratch.path(),
                };
                check(&reading, key)
            };
            if row.as_ref().is_some_and(|r| r.status == "unreadable") {
                unreadable_count.fetch_add(1, Ordering::Relaxed);
            }
            scope
                .reporter
                .cache_entry_checked(cache.url(), key.as_str());
            row
        });
        scope.reporter.cache_checked(cache.url());
        out.push(CacheEntries {
            cache: cache.url().to_string(),
            truncated: listing.truncated,
            entries: rows.into_iter().flatten().collect(),
        });
    }
    Ok(out)
}

/// `check` of every key on up to `workers` threads; the results in the keys' order.
fn on_threads<R: Send>(
    keys: &[StoreKey],
    workers: usize,
    check: impl Fn(&StoreKey) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(keys.len()));
    std::thread::scope(|scope| {
        for _ in 0..workers.min(keys.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(key) = keys.get(index) else { break };
                    let result = check(key);
                    done.lock().expect("not poisoned").push((index, result));
                }
            });
        }
    });
    let mut done = done.into_inner().expect("not poisoned");
    done.sort_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, result)| result).collect()
}

/// `list --all` of one entry: its `entry.json` inspected.
fn listed(reading: &Reading, key: &StoreKey) -> Option<EntryRow> {
    let (mut row, seen) = match started(reading, key) {
        Ok(started) => started?,
        Err(row) => return Some(row),
    };
    match seen.verdict {
        Ok(_) => row.status = "trusted".to_string(),
        Err(EntryError::Untrusted { .. }) => row.status = "untrusted".to_string(),
        Err(source) => refuse(&mut row, reading.cache, source),
    }
    Some(row)
}

/// `verify --all` of one entry: fetched and checked in full when a trusted key signed it. Its
/// `entry.json` is read once: the inspection's checked metadata names the rock to fetch.
fn verified(reading: &Reading, key: &StoreKey) -> Option<EntryRow> {
    let (mut row, seen) = match started(reading, key) {
        Ok(started) => started?,
        Err(row) => return Some(row),
    };
    let opened = match seen.verdict {
        Ok(opened) => opened,
        Err(source) => {
            refuse(&mut row, reading.cache, source);
            return Some(row);
        }
    };
    let fetched = match reading.cache.fetch_opened(opened, reading.scratch) {
        Ok(fetched) => fetched,
        Err(e @ (CacheError::Refused { .. } | CacheError::Unpack { .. })) => {
            row.status = "refused".to_string();
            row.detail = detail(&error_text(&e));
            return Some(row);
        }
        Err(e) => return Some(unreadable(key, &e)),
    };
    match crate::tree::check_rock_manifest(&fetched.prefix) {
        Ok(problems) if problems.is_empty() => row.status = "ok".to_string(),
        Ok(problems) => {
            row.status = "refused".to_string();
            row.detail = detail(&format!(
                "build cache {}: entry {key}: its rock does not match its rock_manifest, so \
                 LuaRocks would refuse it ({})",
                reading.cache.url(),
                problems.join("; ")
            ));
        }
        Err(e) => {
            row.status = "unreadable".to_string();
            row.detail = detail(&error_text(&e));
        }
    }
    Some(row)
}

/// The entry's `entry.json` inspected, with the row of what it claims (status still to be
/// set); `Ok(None)` when the cache no longer has it, `Err` the row of an entry the cache
/// failed to send.
fn started(
    reading: &Reading,
    key: &StoreKey,
) -> std::result::Result<Option<(EntryRow, Inspected)>, EntryRow> {
    match reading.cache.inspect(key, reading.trusted, reading.scratch) {
        Ok(Some(seen)) => Ok(Some((row_of(key, &seen), seen))),
        Ok(None) => Ok(None),
        Err(e) => Err(unreadable(key, &e)),
    }
}

/// A row with what `entry.json` claims (status still to be set).
fn row_of(key: &StoreKey, seen: &Inspected) -> EntryRow {
    let meta = seen.meta.as_ref();
    let text =
        |field: fn(&crate::cache::entry::EntryMeta) -> &String| meta.map(|m| shown(field(m)));
    EntryRow {
        store_key: key.to_string(),
        name: text(|m| &m.name),
        version: text(|m| &m.version),
        lua: text(|m| &m.lua),
        platform: text(|m| &m.platform),
        signed_by: seen.signed_by.as_deref().map(shown),
        bytes: meta.map(|m| m.rock.size),
        trusted: seen.trusted,
        status: String::new(),
        detail: None,
    }
}

/// Marks `row` refused for the reason `source`.
fn refuse(row: &mut EntryRow, cache: &Cache, source: EntryError) {
    row.status = "refused".to_string();
    let error = CacheError::Refused {
        cache: cache.url().to_string(),
        source,
    };
    row.detail = detail(&error_text(&error));
}

/// The row of an entry the cache failed to send.
fn unreadable(key: &StoreKey, error: &CacheError) -> EntryRow {
    let mut row = unreadable_row(key);
    row.detail = detail(&error_text(error));
    row
}

/// An `unreadable` row, without its detail.
fn unreadable_row(key: &StoreKey) -> EntryRow {
    EntryRow {
        store_key: key.to_string(),
        name: None,
        version: None,
        lua: None,
        platform: None,
        signed_by: None,
        bytes: None,
        trusted: false,
        status: "unreadable".to_string(),
        detail: None,
    }
}

/// The row of an entry not asked for, after [`MAX_UNREADABLE`] others could not be read.
fn not_asked(key: &StoreKey, cache: &Cache) -> EntryRow {
    let mut row = unreadable_row(key);
    row.detail = detail(&format!(
        "not asked: {MAX_UNREADABLE} entries of build cache {} could not be read, so the \
         rest were left alone",
        cache.url()
    ));
    row
}

/// Text a cache sent, safe to print: control characters (a terminal's escape sequences) shown
/// as `?`, and at most [`MAX_SHOWN_CHARS`] characters. Pure.
fn shown(text: &str) -> String {
    printable(text, MAX_SHOWN_CHARS)
}

/// A message about an entry, as [`shown`] but up to [`MAX_DETAIL_CHARS`].
fn detail(text: &str) -> Option<String> {
    Some(printable(text, MAX_DETAIL_CHARS))
}

/// `text` with control characters as `?`, cut after `max` characters (marked `…`). Pure.
fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_text_is_printable_and_short() {
        assert_eq!(shown("luasocket"), "luasocket");
        assert_eq!(shown("evil\x1b[2Jname\n"), "evil?[2Jname?");
        let long = "x".repeat(MAX_SHOWN_CHARS + 5);
        assert_eq!(shown(&long).chars().count(), MAX_SHOWN_CHARS + 1);
    }

    #[test]
    fn threads_keep_the_keys_order() {
        let keys: Vec<StoreKey> = (0..50)
            .map(|i| StoreKey::compute(&[("i", &i.to_string())]))
            .collect();
        let out = on_threads(&keys, 4, |k| k.to_string());
        assert_eq!(out, keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
        assert!(on_threads(&[], 4, |k| k.to_string()).is_empty());
    }
}
