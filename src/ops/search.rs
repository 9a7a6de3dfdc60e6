//! `lvm search`: package names containing a term on every configured rocks server, read from
//! the servers' manifests, each package once with its versions across the servers and, for a
//! bounded number of them, the summary of its newest rockspec.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::env::{Environment, Home, Scratch};
use crate::errors::error_text;
use crate::fetch;
use crate::luaversion::LuaVersion;
use crate::ops::install::candidates::{fetch_rockspec_text, usable_arches};
use crate::ops::install::session::ServerChoice;
use crate::ops::{Error, Result};
use crate::rockspec::Rockspec;
use crate::server::RocksServer;
use crate::version::Version;

/// How many matches `lvm search` reads a summary for: each costs a rockspec download the
/// first time (then it comes from the download cache).
pub const SUMMARY_LIMIT: usize = 20;

/// At most this many summaries are downloaded at once.
const SUMMARY_THREADS: usize = 8;

/// Where a search reads from: the servers, the download cache and the scratch folder of an
/// environment ([`SearchScope::of`]), or of the user's settings and the lvm home when no
/// environment applies ([`SearchScope::outside`]).
#[derive(Debug, Clone)]
pub struct SearchScope {
    servers: Vec<String>,
    cache_dir: PathBuf,
    http_timeout: Option<Duration>,
    download_timeout: Option<Duration>,
    /// How long a fetched server manifest is used without asking the server again.
    manifest_max_age: Duration,
    pub(in crate::ops) scratch_dir: PathBuf,
    /// Whose server manifests are read (`manifest-5.1` for Lua 5.1 and LuaJIT).
    lua: LuaVersion,
}

impl SearchScope {
    /// An environment's servers (with the overrides it was opened with), caches and scratch.
    pub fn of(env: &Environment) -> SearchScope {
        SearchScope {
            servers: env.config().servers.clone(),
            cache_dir: env.home().cache_dir(),
            http_timeout: env.config().http_timeout(),
            download_timeout: env.config().download_timeout(),
            manifest_max_age: env.config().manifest_max_age(),
            scratch_dir: env.root().join(crate::layout::SCRATCH_DIR),
            lua: env.lua(),
        }
    }

    /// How downloads from these servers are made (timeouts, size limit).
    pub fn fetch_options(&self) -> fetch::FetchOptions {
        fetch::fetch_options(self.http_timeout, self.download_timeout)
    }

    /// Servers from settings (flags, `LVM_SERVERS`, the user file) with the home's caches, for
    /// a search where no environment exists, for the Lua the settings name.
    pub fn outside(
        home: &Home,
        servers: Vec<String>,
        http_timeout: Option<Duration>,
        download_timeout: Option<Duration>,
        manifest_max_age: Duration,
        lua: LuaVersion,
    ) -> SearchScope {
        SearchScope {
            servers,
            cache_dir: home.cache_dir(),
            http_timeout,
            download_timeout,
            manifest_max_age,
            scratch_dir: home.root.join(crate::layout::SCRATCH_DIR),
            lua,
        }
    }
}

/// One `lvm search` result: a package, once, whichever servers publish it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub name: String,
    /// Every version any server publishes, newest first, each once.
    pub versions: Vec<String>,
    /// The servers publishing it, in priority order.
    pub servers: Vec<String>,
    /// The newest rockspec's `description.summary`, on one line; absent when it was not read
    /// (beyond the summary limit) or could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Which matches get their summary read from a server.
#[derive(Clone, Copy)]
pub struct Summaries<'a> {
    /// At most this many are read.
    pub limit: usize,
    /// Only packages this accepts (say, those whose summary the caller cannot read locally).
    pub wanted: &'a dyn Fn(&str) -> bool,
}

impl Summaries<'_> {
    /// No summaries.
    pub fn none() -> Summaries<'static> {
        Summaries {
            limit: 0,
            wanted: &|_| false,
        }
    }

    /// Summaries for at most `limit` matches.
    pub fn first(limit: usize) -> Summaries<'static> {
        Summaries {
            limit,
            wanted: &|_| true,
        }
    }
}

/// A package's versions on each server that publishes it: (server index, version → arches).
pub(in crate::ops) type PerServer = Vec<(usize, BTreeMap<Version, Vec<String>>)>;

/// Where a package's newest usable version is published: the first server (in priority order)
/// with it, and its arches there.
struct Newest {
    version: Version,
    server: usize,
    arches: Vec<String>,
}

/// The packages whose names contain `term` (lower-cased) on every server, sorted by name, each
/// once: its versions across the servers (newest first), the servers that publish it in
/// priority order, and for up to `summaries.limit` of them (an exact name match first, then in
/// name order) the summary of the newest version's rockspec, fetched through the same download
/// cache an install uses. Only the servers' manifests are read (from their parsed caches when
/// fresh), and only the matching packages' versions are built. A server listed twice counts
/// once, where it comes first. Unreadable servers are skipped with a warning; an error when
/// none could be read. A summary that cannot be read is left out, never an error.
pub fn search(
    scope: &SearchScope,
    term: &str,
    choice: &ServerChoice,
    summaries: Summaries<'_>,
) -> Result<Vec<SearchHit>> {
    let term = term.to_ascii_lowercase();
    let keep = |name: &str| name.contains(&term);
    let Published {
        servers,
        packages: found,
    } = read_published(scope, choice, &keep)?;
    let mut hits = Vec::with_capacity(found.len());
    let mut newest = Vec::with_capacity(found.len());
    for (name, per_server) in found {
        let mut versions: Vec<&Version> = per_server.iter().flat_map(|(_, v)| v.keys()).collect();
        versions.sort_by(|a, b| b.cmp(a));
        versions.dedup();
        newest.push(newest_usable(&per_server));
        hits.push(SearchHit {
            versions: versions.iter().map(|v| v.to_string()).collect(),
            servers: per_server
                .iter()
                .map(|(i, _)| servers[*i].url().to_string())
                .collect(),
            summary: None,
            name,
        });
    }
    let chosen = summary_order(&hits, &term, summaries)
        .into_iter()
        .filter_map(|i| newest[i].as_ref().map(|n| (i, n)))
        .collect::<Vec<_>>();
    if !chosen.is_empty() {
        // Only a rockspec inside a rock needs scratch space: made when one is chosen, and when
        // it cannot be made, the others can still be read.
        let in_rock = chosen
            .iter()
            .any(|(_, n)| !n.arches.iter().any(|a| a == "rockspec"));
        let scratch = in_rock
            .then(|| Scratch::create(&scope.scratch_dir, "search-").ok())
            .flatten();
        let scratch_path = scratch
            .as_ref()
            .map_or(scope.scratch_dir.as_path(), |d| d.path());
        for (i, summary) in read_summaries(&servers, &hits, &chosen, scratch_path) {
            hits[i].summary = Some(summary);
        }
    }
    Ok(hits)
}

/// What the servers publish for the packages a filter keeps: the servers read (each once, in
/// priority order) and, per package, its versions on each server that has it.
pub(in crate::ops) struct Published {
    pub(in crate::ops) servers: Vec<RocksServer>,
    pub(in crate::ops) packages: BTreeMap<String, PerServer>,
}

impl Published {
    /// A package's versions across the servers, newest first, each once.
    pub(in crate::ops) fn versions(&self, name: &str) -> Vec<Version> {
        let mut versions: Vec<Version> = self
            .packages
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|(_, v)| v.keys().cloned())
            .collect();
        versions.sort_by(|a, b| b.cmp(a));
        versions.dedup();
        versions
    }

    /// The newest version of `name` this platform can use that `accept` takes, with the server
    /// that publishes it (the first in priority order) and its arches there.
    pub(in crate::ops) fn newest(
        &self,
        name: &str,
        accept: &dyn Fn(&Version) -> bool,
    ) -> Option<(Version, &RocksServer, Vec<String>)> {
        let newest = newest_accepted(self.packages.get(name)?, accept)?;
        Some((newest.version, &self.servers[newest.server], newest.arches))
    }
}

/// Reads the manifests of the scope's servers (from their parsed caches when fresh), keeping
/// the packages `keep` accepts. A server listed twice counts once, where it comes first.
/// Unreadable servers are skipped with a warning; an error when none could be read.
pub(in crate::ops) fn read_published(
    scope: &SearchScope,
    choice: &ServerChoice,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Published> {
    let cache = &scope.cache_dir;
    let fetch_opts = scope.fetch_options();
    let urls = choice.urls(&scope.servers);
    if urls.is_empty() {
        return Err(Error::NoServerConfigured);
    }
    let mut servers: Vec<RocksServer> = Vec::new();
    let mut found: BTreeMap<String, PerServer> = BTreeMap::new();
    let mut failures = Vec::new();
    for url in &urls {
        let read = RocksServer::new(url, cache).and_then(|server| {
            if servers.iter().any(|done| done.url() == server.url()) {
                return Ok(None);
            }
            let server = server
                .with_options(fetch_opts.clone())
                .manifest_max_age(scope.manifest_max_age)
                .for_lua(scope.lua);
            Ok(Some((server.manifest_matching(keep)?, server)))
        });
        let (manifest, server) = match read {
            Ok(Some(read)) => read,
            Ok(None) => continue,
            Err(e) => {
                let e = error_text(&e);
                tracing::warn!("rocks server {url} unavailable: {e}");
                failures.push(format!("{url}: {e}"));
                continue;
            }
        };
        let index = servers.len();
        for (name, versions) in manifest.packages {
            found.entry(name).or_default().push((index, versions));
        }
        servers.push(server);
    }
    if !failures.is_empty() && failures.len() == urls.len() {
        return Err(Error::NoServerReadable { failures });
    }
    Ok(Published {
        servers,
        packages: found,
    })
}

/// The newest version of a package that this platform can use, on the first server that
/// publishes it.
fn newest_usable(per_server: &PerServer) -> Option<Newest> {
    newest_accepted(per_server, &|_| true)
}

/// [`newest_usable`] among the versions `accept` takes.
fn newest_accepted(per_server: &PerServer, accept: &dyn Fn(&Version) -> bool) -> Option<Newest> {
    let mut best: Option<Newest> = None;
    for (server, versions) in per_server {
        let Some((version, arches)) = versions
            .iter()
            .rev()
            .find(|(v, a)| usable_arches(a) && accept(v))
        else {
            continue;
        };
        if best.as_ref().is_none_or(|b| *version > b.version) {
            best = Some(Newest {
                version: version.clone(),
                server: *server,
                arches: arches.clone(),
            });
        }
    }
    best
}

/// The indexes of the hits whose summary is read: those `summaries` wants, an exact name
/// match first, then in name order, at most `summaries.limit`.
fn summary_order(hits: &[SearchHit], term: &str, summaries: Summaries<'_>) -> Vec<usize> {
    let exact = hits.iter().position(|h| h.name == term);
    exact
        .into_iter()
        .chain((0..hits.len()).filter(|i| Some(*i) != exact))
        .filter(|i| (summaries.wanted)(&hits[*i].name))
        .take(summaries.limit)
        .collect()
}

/// Reads the chosen hits' summaries on a few threads; what cannot be read is left out (and
/// logged).
fn read_summaries(
    servers: &[RocksServer],
    hits: &[SearchHit],
    chosen: &[(usize, &Newest)],
    scratch: &Path,
) -> Vec<(usize, String)> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..chosen.len().min(SUMMARY_THREADS) {
            scope.spawn(|| {
                while let Some((i, newest)) = chosen.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let name = &hits[*i].name;
                    match summary_of(&servers[newest.server], name, newest, scratch) {
                        Ok(Some(summary)) => {
                            out.lock().expect("not poisoned").push((*i, summary));
                        }
                        Ok(None) => {}
                        Err(e) => tracing::debug!(
                            "no summary for {name} {}: {}",
                            newest.version,
                            error_text(&e)
                        ),
                    }
                }
            });
        }
    });
    out.into_inner().expect("not poisoned")
}

fn summary_of(
    server: &RocksServer,
    name: &str,
    newest: &Newest,
    scratch: &Path,
) -> Result<Option<String>> {
    let text = fetch_rockspec_text(server, name, &newest.version, &newest.arches, scratch)?;
    let rockspec = Rockspec::from_lua(&text, &format!("{name}-{}.rockspec", newest.version))?;
    Ok(rockspec.description.summary_line())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(name: &str) -> SearchHit {
        SearchHit {
            name: name.into(),
            versions: vec![],
            servers: vec![],
            summary: None,
        }
    }

    #[test]
    fn summaries_go_to_an_exact_match_first_then_in_name_order() {
        let hits: Vec<SearchHit> = ["dkjson", "json", "json-lua", "lunajson"]
            .into_iter()
            .map(hit)
            .collect();
        assert_eq!(summary_order(&hits, "json", Summaries::first(2)), [1, 0]);
        assert_eq!(
            summary_order(&hits, "js", Summaries::first(9)),
            [0, 1, 2, 3]
        );
        assert!(summary_order(&hits, "json", Summaries::none()).is_empty());
        let wanted = |name: &str| name != "json";
        let some = Summaries {
            limit: 2,
            wanted: &wanted,
        };
        assert_eq!(summary_order(&hits, "json", some), [0, 2]);
    }

    #[test]
    fn the_newest_usable_version_comes_from_the_first_server_publishing_it() {
        let v = |s: &str| Version::parse(s).unwrap();
        let arches = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let per_server = vec![
            (
                0,
                BTreeMap::from([
                    (v("1.0-1"), arches(&["rockspec"])),
                    (v("3.0-1"), arches(&["some-other-platform"])),
                ]),
            ),
            (1, BTreeMap::from([(v("2.0-1"), arches(&["src"]))])),
            (2, BTreeMap::from([(v("2.0-1"), arches(&["rockspec"]))])),
        ];
        let newest = newest_usable(&per_server).unwrap();
        assert_eq!((newest.version, newest.server), (v("2.0-1"), 1));
        assert!(newest_usable(&vec![]).is_none());
    }
}
