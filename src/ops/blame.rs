//! `lvm blame`: for each installed package, the event that brought its current version, when,
//! by whom (the commit's author), and why it is installed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::env::Environment;
use crate::ops::history::{self, Dependent, EventRef, Looking};
use crate::ops::{Error, Result};
use crate::version::Version;

/// One package's line of `lvm blame`.
#[derive(Debug, Clone)]
pub struct Blame {
    pub name: String,
    pub version: Version,
    /// The event that brought this version; `None` when no recorded event did (a state made
    /// by hand).
    pub event: Option<EventRef>,
    /// The author of that event's commit (`Name <email>`).
    pub author: Option<String>,
    /// The constraint the user asked for it with, when the user asked for it.
    pub requested: Option<String>,
    /// The installed packages that depend on it, each with its dependency as written.
    pub required_by: Vec<Dependent>,
}

impl Blame {
    pub fn when(&self) -> Option<DateTime<Utc>> {
        self.event.as_ref().map(|e| e.timestamp)
    }

    /// The build cache its event fetched its build from, when one did (else it was built
    /// there, or was in the store).
    pub fn from_cache(&self) -> Option<&crate::ops::cache::CacheHit> {
        self.event.as_ref()?.from_cache.get(&self.name)
    }
}

/// Blames `names` (every installed package when empty), sorted by name. The log is read from
/// the newest event back only as far as the oldest of the events asked about.
pub fn blame(env: &Environment, names: &[String]) -> Result<Vec<Blame>> {
    let state = env.manifest()?;
    let names: Vec<String> = if names.is_empty() {
        state.packages.keys().cloned().collect()
    } else {
        let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        names
    };
    let mut wanted = BTreeMap::new();
    for name in &names {
        let package = state
            .packages
            .get(name)
            .ok_or_else(|| Error::NotInstalled { name: name.clone() })?;
        wanted.insert(name.clone(), Looking::Brought(&package.version));
    }
    let mut found = history::newest_events(env.repo(), env.head()?, &wanted)?;
    let mut dependents = history::dependents(&state);
    let mut authors: BTreeMap<git2::Oid, String> = BTreeMap::new();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let package = &state.packages[&name];
        let event = found.remove(&name);
        let author = match &event {
            Some(e) => Some(match authors.get(&e.commit) {
                Some(a) => a.clone(),
                None => {
                    let a = env.repo().commit_author(e.commit)?;
                    authors.insert(e.commit, a.clone());
                    a
                }
            }),
            None => None,
        };
        out.push(Blame {
            version: package.version.clone(),
            requested: package.reason.requested.clone(),
            required_by: dependents.remove(&name).unwrap_or_default(),
            event,
            author,
            name,
        });
    }
    Ok(out)
}
