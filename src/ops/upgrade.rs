//! `lvm upgrade`: the installed packages (or the named ones) moved to the newest versions
//! every constraint allows, as one event.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::env::Environment;
use crate::events::EventKind;
use crate::ops::install::Outcome;
use crate::ops::install::planned::{
    Base, EventOf, Planned, Planner, plan_then_lock, prepared_plan, resolved_since,
};
use crate::ops::install::resolution::{preferred_versions, request_for};
use crate::ops::install::session::{ServerChoice, Session};
use crate::ops::{Error, Result};
use crate::resolve;

/// Upgrades `names` (every installed package when empty) to the newest versions every
/// constraint allows, as one `upgrade` event. Packages the user pinned with an exact
/// constraint stay as they are. Resolved, downloaded and built without the writer lock, then
/// recorded under it (waiting up to `lock_timeout`), planned again if another writer changed
/// the environment meanwhile.
pub fn upgrade(
    env: &Environment,
    lock_timeout: Duration,
    names: &[String],
    choice: &ServerChoice,
) -> Result<Outcome> {
    let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    plan_then_lock(env, lock_timeout, &Upgrading { names, choice })
}

/// An upgrade as a [`Planner`].
struct Upgrading<'a> {
    /// The packages named (lower-cased); none: every installed one.
    names: Vec<String>,
    choice: &'a ServerChoice,
}

impl Planner for Upgrading<'_> {
    type Session = Session;

    fn open(&self, env: &Environment) -> Result<Session> {
        Session::open(env, self.choice)
    }

    fn plan(&self, env: &Environment, session: &Session, base: &Base<'_>) -> Result<Planned> {
        let started = Instant::now();
        let current = base.current;
        for name in &self.names {
            if !current.packages.contains_key(name) {
                return Err(Error::NotInstalledToUpgrade { name: name.clone() });
            }
        }
        let upgrading: BTreeSet<String> = if self.names.is_empty() {
            current.packages.keys().cloned().collect()
        } else {
            self.names.iter().cloned().collect()
        };
        let mut candidates = session.candidates(current);
        candidates.reuse_prepared(base.prepared);
        let requested = current.requested();
        let request = request_for(&requested, preferred_versions(current, &upgrading), env)?;
        let resolution = resolve::resolve(&candidates, &request)
            .map_err(|e| session.explain_failure(e.into()))?;
        let event = EventOf {
            kind: EventKind::Upgrade,
            args: self.names.clone(),
            details: BTreeMap::new(),
            named: self.names.clone(),
        };
        let resolved = (&resolution, &requested);
        let timings = resolved_since(started);
        prepared_plan((session, &candidates), current, resolved, timings, event)
    }
}
