//! `lvm search`: package names containing a term on every configured rocks server, read from
//! the servers' manifests only.

use anyhow::{Result, bail};
use serde::Serialize;

use crate::env::Environment;
use crate::errors::error_text;
use crate::fetch;
use crate::ops::install::session::ServerChoice;
use crate::server::RocksServer;
use crate::version::Version;

/// One `lvm search` result: the versions of a package on one server, newest first.
#[derive(Debug, Serialize)]
pub struct SearchHit {
    pub name: String,
    pub versions: Vec<String>,
    pub server: String,
}

/// The packages whose names contain `term` (lower-cased) on every server, sorted by name, and
/// for each name one hit per server that has it, in the servers' priority order. Only the
/// servers' manifests are read (from their parsed caches when fresh), and only the matching
/// packages' versions are built. A server listed twice counts once, where it comes first.
/// Unreadable servers are skipped with a warning; an error when none could be read.
pub fn search(env: &Environment, term: &str, choice: &ServerChoice) -> Result<Vec<SearchHit>> {
    let term = term.to_ascii_lowercase();
    let keep = |name: &str| name.contains(&term);
    let cache = env.home().cache_dir();
    let fetch_opts = fetch::fetch_options(env.config().http_timeout());
    let urls = choice.urls(&env.config().servers);
    let mut hits = Vec::new();
    let mut searched: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for url in &urls {
        let read = RocksServer::new(url, &cache).and_then(|server| {
            if searched.iter().any(|done| done == server.url()) {
                return Ok(None);
            }
            let server = server.with_options(fetch_opts.clone());
            Ok(Some((server.manifest_matching(&keep)?, server)))
        });
        let (manifest, server) = match read {
            Ok(Some(read)) => read,
            Ok(None) => continue,
            Err(e) => {
                let e = error_text(&e.into());
                tracing::warn!("rocks server {url} unavailable: {e}");
                failures.push(format!("{url}: {e}"));
                continue;
            }
        };
        let server = server.url().to_string();
        for (name, versions) in manifest.packages {
            hits.push(SearchHit {
                name,
                versions: versions.keys().rev().map(Version::to_string).collect(),
                server: server.clone(),
            });
        }
        searched.push(server);
    }
    if !failures.is_empty() && failures.len() == urls.len() {
        bail!(
            "no rocks server could be read:\n  {}\ncheck the URLs (lvm.toml, --server) and the network",
            failures.join("\n  ")
        );
    }
    // Stable: the hits of one name stay in server priority order.
    hits.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(hits)
}
