//! `lvm upgrade`: the installed packages (or the named ones) moved to the newest versions
//! every constraint allows, as one event.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::env::WriteLock;
use crate::events::EventKind;
use crate::ops::install::resolution::{preferred_versions, request_for};
use crate::ops::install::session::{ServerChoice, Session};
use crate::ops::install::{Outcome, apply_resolution};
use crate::ops::{Error, Result};
use crate::resolve;

/// Upgrades `names` (every installed package when empty) to the newest versions every
/// constraint allows, as one `upgrade` event. Packages the user pinned with an exact
/// constraint stay as they are.
pub fn upgrade(env: &WriteLock<'_>, names: &[String], choice: &ServerChoice) -> Result<Outcome> {
    let mut timings = BTreeMap::new();
    let started = Instant::now();
    let current = env.manifest()?;
    let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    for name in &names {
        if !current.packages.contains_key(name) {
            return Err(Error::NotInstalledToUpgrade { name: name.clone() });
        }
    }
    let upgrading: BTreeSet<String> = if names.is_empty() {
        current.packages.keys().cloned().collect()
    } else {
        names.iter().cloned().collect()
    };
    let session = Session::open(env, choice)?;
    let candidates = session.candidates(&current);
    let requested = current.requested();
    let request = request_for(&requested, preferred_versions(&current, &upgrading), env)?;
    let resolution =
        resolve::resolve(&candidates, &request).map_err(|e| session.explain_failure(e.into()))?;
    timings.insert("resolve".into(), started.elapsed().as_millis() as u64);
    let (commit, changes, hits, builds) = apply_resolution(
        env,
        (&session, &candidates),
        &current,
        &resolution,
        &requested,
        (EventKind::Upgrade, names.clone(), BTreeMap::new()),
        timings,
    )?;
    Ok(Outcome {
        commit,
        named: names,
        changes,
        store_hits: hits,
        builds,
    })
}
