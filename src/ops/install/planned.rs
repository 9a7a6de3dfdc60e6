//! A change computed from one state and recorded as one event: planned from a snapshot of the
//! head without the writer lock (resolution, downloads, builds into the store), then, under the
//! lock, recorded if the head did not move, or planned again from the new head if it did.
//!
//! Planning again is quick: what the first plan prepared is in the store, pinned by its session,
//! and reused as it is ([`crate::ops::install::candidates::Candidates::reuse_prepared`]). A
//! package the new plan needs that the first did not prepare (another writer removed a
//! dependency, or changed its version) is fetched and built while the lock is held: that is
//! rare, and bounded by one plan, where retrying without the lock could race another writer
//! again and again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::env::{Environment, WriteLock, pause_point};
use crate::events::EventKind;
use crate::manifest::{self, Manifest, Package};
use crate::ops::Result;
use crate::ops::install::Outcome;
use crate::ops::install::candidates::Candidates;
use crate::ops::install::prepare::build_target_state;
use crate::ops::install::session::Session;
use crate::resolve;

/// The state a plan starts from.
pub(in crate::ops) struct Base<'a> {
    /// The current state (the head's manifest).
    pub(in crate::ops) current: &'a Manifest,
    /// Records an earlier plan of the same change prepared, to reuse rather than fetch again.
    pub(in crate::ops) prepared: &'a BTreeMap<String, Package>,
}

/// What the event of a change says besides its package changes.
pub(in crate::ops) struct EventOf {
    pub(in crate::ops) kind: EventKind,
    pub(in crate::ops) args: Vec<String>,
    pub(in crate::ops) details: BTreeMap<String, String>,
    /// The packages the command named.
    pub(in crate::ops) named: Vec<String>,
}

/// A change computed from a [`Base`], ready to record.
pub(in crate::ops) struct Planned {
    /// The state it was computed from.
    pub(in crate::ops) current: Manifest,
    pub(in crate::ops) target: Manifest,
    pub(in crate::ops) event: EventOf,
    pub(in crate::ops) timings: BTreeMap<String, u64>,
    pub(in crate::ops) hits: u32,
    pub(in crate::ops) builds: u32,
}

/// The plan a resolution makes from `current`: its packages found in the store or built
/// (whatever the store lacks), for the event `event`, with the phase times measured so far.
pub(in crate::ops) fn prepared_plan(
    (session, candidates): (&Session, &Candidates<'_>),
    current: &Manifest,
    (resolution, requested): (&resolve::Resolution, &BTreeMap<String, String>),
    mut timings: BTreeMap<String, u64>,
    event: EventOf,
) -> Result<Planned> {
    let (target, hits, builds) = build_target_state(
        session,
        candidates,
        current,
        resolution,
        requested,
        &mut timings,
    )?;
    let mut event = event;
    event.details.extend(session.caches.event_details(&target));
    Ok(Planned {
        current: current.clone(),
        target,
        event,
        timings,
        hits,
        builds,
    })
}

impl Planned {
    /// This plan, made after `earlier` (a plan of the same change from an older head): the
    /// event counts the store hits, builds and time of both, as the command did both.
    fn after(mut self, earlier: Planned) -> Planned {
        self.hits += earlier.hits;
        self.builds += earlier.builds;
        add_timings(&mut self.timings, &earlier.timings);
        self
    }
}

/// How an operation computes its change: `open` what does not depend on the state (servers,
/// store, fetched targets), once per environment handle; `plan` the change from a state.
pub(in crate::ops) trait Planner {
    type Session;

    fn open(&self, env: &Environment) -> Result<Self::Session>;

    fn plan(&self, env: &Environment, session: &Self::Session, base: &Base<'_>) -> Result<Planned>;
}

/// Plans the change with the writer lock held already (the command changes more under the
/// same lock) and records it.
pub(in crate::ops) fn plan_locked(env: &WriteLock<'_>, planner: &impl Planner) -> Result<Outcome> {
    let started = Instant::now();
    let session = planner.open(env)?;
    let opened = started.elapsed();
    let current = env.manifest()?;
    let planned = planner.plan(env, &session, &fresh(&current))?;
    record(env, with_open_time(planned, opened))
}

/// Plans the change from a snapshot of the head without the writer lock, so downloads and
/// builds never keep other writers waiting; then takes the lock (waiting up to
/// `lock_timeout`) and records it, planned again from the new head when another writer moved
/// it meanwhile, and with a fresh session when that writer changed the settings.
pub(in crate::ops) fn plan_then_lock(
    env: &Environment,
    lock_timeout: Duration,
    planner: &impl Planner,
) -> Result<Outcome> {
    // The lock refuses it anyway; refused now, nothing is downloaded or built first.
    env.refuse_if_work_files_changed()?;
    let snapshot = env.snapshot()?;
    let started = Instant::now();
    let session = planner.open(env)?;
    let opened = started.elapsed();
    let first = planner.plan(env, &session, &fresh(&snapshot.manifest))?;
    let first = with_open_time(first, opened);
    pause_point("planned");
    let lock = env.lock(lock_timeout)?;
    if lock.settings_moved()? {
        // Servers, Lua or build settings of the first plan are no longer the environment's:
        // plan with the new ones, all under the lock.
        tracing::info!("the settings changed while the change was planned; planning again");
        let reopened = env.reopen()?;
        let lock = lock.for_reopened(&reopened)?;
        let session = planner.open(&reopened)?;
        let current = lock.manifest()?;
        let again = planner.plan(&reopened, &session, &fresh(&current))?;
        return record(&lock, again.after(first));
    }
    let head = lock.head()?;
    if head == snapshot.head {
        return record(&lock, first);
    }
    tracing::info!(
        "another change was recorded while this one was planned; planning again from {}",
        crate::envrepo::short(head)
    );
    let current = lock.repo().manifest_at(head)?;
    let prepared = prepared_records(&snapshot.manifest, &first.target);
    let base = Base {
        current: &current,
        prepared: &prepared,
    };
    let again = planner.plan(&lock, &session, &base)?;
    record(&lock, again.after(first))
}

/// A first plan's base: nothing prepared yet.
fn fresh(current: &Manifest) -> Base<'_> {
    static NONE: BTreeMap<String, Package> = BTreeMap::new();
    Base {
        current,
        prepared: &NONE,
    }
}

/// The phase times of a plan that resolved from `started` until now.
pub(in crate::ops) fn resolved_since(started: Instant) -> BTreeMap<String, u64> {
    BTreeMap::from([("resolve".into(), started.elapsed().as_millis() as u64)])
}

/// Counts opening the session (the servers' manifests) as part of resolving.
fn with_open_time(mut planned: Planned, opened: Duration) -> Planned {
    *planned.timings.entry("resolve".into()).or_default() += opened.as_millis() as u64;
    planned
}

/// Records a plan made from the head the lock holds.
pub(in crate::ops) fn record(env: &WriteLock<'_>, planned: Planned) -> Result<Outcome> {
    let changes = manifest::diff(&planned.current, &planned.target);
    let EventOf {
        kind,
        args,
        details,
        named,
    } = planned.event;
    let cache_hits = crate::ops::cache::all_supplied(&details).len() as u32;
    let commit = env.record(
        kind,
        args,
        planned.target,
        details,
        planned.timings,
        (planned.hits, planned.builds),
    )?;
    Ok(Outcome {
        commit,
        named,
        changes,
        store_hits: planned.hits,
        cache_hits,
        builds: planned.builds,
    })
}

/// The packages of `target` that a plan from `before` prepared itself (not kept from
/// `before`): found in the store or built, and pinned by the plan's session. Pure.
pub(in crate::ops) fn prepared_records(
    before: &Manifest,
    target: &Manifest,
) -> BTreeMap<String, Package> {
    target
        .packages
        .iter()
        .filter(|(name, package)| {
            before
                .packages
                .get(*name)
                .is_none_or(|kept| kept.store_key != package.store_key)
        })
        .map(|(name, package)| (name.clone(), package.clone()))
        .collect()
}

/// Adds the phase times of `more` to `timings`. Pure.
fn add_timings(timings: &mut BTreeMap<String, u64>, more: &BTreeMap<String, u64>) {
    for (phase, ms) in more {
        *timings.entry(phase.clone()).or_default() += ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package record as `manifest.json` holds it.
    fn package(version: &str, store_key: &str, requested: Option<&str>) -> Package {
        serde_json::from_value(serde_json::json!({
            "version": version,
            "reason": { "requested": requested },
            "source": { "kind": "server", "server": "file:///srv", "rockspec_sha256": "ab" },
            "dependencies": [],
            "store_key": store_key,
            "files_sha256": "f",
        }))
        .unwrap()
    }

    fn state(packages: &[(&str, Package)]) -> Manifest {
        let mut manifest = Manifest::empty("5.4");
        for (name, package) in packages {
            manifest.packages.insert(name.to_string(), package.clone());
        }
        manifest
    }

    #[test]
    fn prepared_records_are_the_new_builds_not_what_was_kept() {
        let before = state(&[
            ("kept", package("1.0-1", "k1", Some(""))),
            ("upgraded", package("1.0-1", "u1", Some(""))),
            ("gone", package("1.0-1", "g1", Some(""))),
        ]);
        // A kept package whose reason changed is still the same build.
        let target = state(&[
            ("kept", package("1.0-1", "k1", None)),
            ("upgraded", package("2.0-1", "u2", Some(""))),
            ("new", package("0.1-1", "n1", Some(""))),
        ]);
        let prepared = prepared_records(&before, &target);
        assert_eq!(
            prepared.keys().map(String::as_str).collect::<Vec<_>>(),
            ["new", "upgraded"]
        );
        assert_eq!(prepared["upgraded"].store_key, "u2");
        assert!(prepared_records(&target, &target).is_empty());
    }

    #[test]
    fn a_plan_made_again_counts_the_work_of_both() {
        let plan = |hits, builds, resolve| Planned {
            current: Manifest::empty("5.4"),
            target: Manifest::empty("5.4"),
            event: EventOf {
                kind: EventKind::Install,
                args: vec![],
                details: BTreeMap::new(),
                named: vec![],
            },
            timings: BTreeMap::from([("resolve".to_string(), resolve)]),
            hits,
            builds,
        };
        let mut earlier = plan(1, 3, 10);
        earlier.timings.insert("build".into(), 500);
        let both = plan(0, 1, 4).after(earlier);
        assert_eq!((both.hits, both.builds), (1, 4));
        assert_eq!(
            both.timings,
            BTreeMap::from([("build".to_string(), 500), ("resolve".to_string(), 14)])
        );
    }
}
