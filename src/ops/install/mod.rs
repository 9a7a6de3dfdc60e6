//! `lvm install`: targets → session and candidates → resolve → prepare (store hits and
//! builds) → record the new state as one event.
//!
//! Each stage is its own file: [`targets`] reads what the user typed, [`session`] opens the
//! servers and the store, [`candidates`] offers versions to the resolver, [`resolution`] makes
//! the request, [`early`] starts C builds while it runs, [`prepare`] fills the store,
//! [`planned`] runs those stages without the writer lock and records the result under it,
//! and the environment records the state ([`crate::env`]). [`rebuild`] makes recorded states
//! whole again (sync, pull, clone).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use git2::Oid;

use crate::env::{Environment, WriteLock};
use crate::events::EventKind;
use crate::manifest::Change;
use crate::ops::Result;
use crate::ops::install::candidates::TargetPin;
use crate::ops::install::early::with_early_builds;
use crate::ops::install::planned::{
    Base, EventOf, Planned, Planner, plan_locked, plan_then_lock, prepared_plan, resolved_since,
};
use crate::ops::install::resolution::resolve_requested;
use crate::ops::install::session::Session;
use crate::ops::install::targets::event_args;

pub(in crate::ops) mod candidates;
pub(in crate::ops) mod early;
pub(in crate::ops) mod planned;
pub(in crate::ops) mod prepare;
pub(in crate::ops) mod prepared;
pub(in crate::ops) mod rebuild;
pub(in crate::ops) mod resolution;
pub(in crate::ops) mod session;
pub(in crate::ops) mod targets;

pub use session::ServerChoice;
pub use targets::{Target, dependency_targets, parse_targets, project_rockspec, split_variables};

/// What a change to the packages did: the event's commit (none when the state did not change
/// and nothing was recorded), what the user named, the package changes and the statistics.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub commit: Option<Oid>,
    /// The packages the command named (lower-cased), when it named any.
    pub named: Vec<String>,
    pub changes: Vec<Change>,
    /// Packages not built: found in the store, or put there from a build cache.
    pub store_hits: u32,
    /// Of `store_hits`, the packages a build cache supplied.
    pub cache_hits: u32,
    pub builds: u32,
}

impl Outcome {
    /// An outcome without store look-ups or builds (removals).
    pub fn removal(commit: Option<Oid>, named: Vec<String>, changes: Vec<Change>) -> Outcome {
        Outcome {
            commit,
            named,
            changes,
            store_hits: 0,
            cache_hits: 0,
            builds: 0,
        }
    }
}

/// Installs targets into the environment as one event, as `lvm install` does: resolved,
/// downloaded and built without the writer lock, then recorded under it (waiting up to
/// `lock_timeout`), planned again if another writer changed the environment meanwhile (see
/// [`planned`]).
pub fn install(
    env: &Environment,
    lock_timeout: Duration,
    targets: &[Target],
    choice: &ServerChoice,
    args: &[String],
) -> Result<Outcome> {
    let kind = EventKind::Install;
    install_planned_first(
        env,
        lock_timeout,
        targets,
        choice,
        args,
        kind,
        BTreeMap::new(),
    )
}

/// Installs targets as one event of the given kind with event details, planned and built
/// without the writer lock and recorded under it, as [`install`] does (`make` and `link`).
pub(in crate::ops) fn install_planned_first(
    env: &Environment,
    lock_timeout: Duration,
    targets: &[Target],
    choice: &ServerChoice,
    args: &[String],
    kind: EventKind,
    details: BTreeMap<String, String>,
) -> Result<Outcome> {
    let mut installing = Installing::new(targets, &[], choice, args, kind)?;
    installing.details = details;
    plan_then_lock(env, lock_timeout, &installing)
}

/// Installs targets as one event of the given kind (`setup` installs a profile's packages),
/// under the writer lock the caller holds.
pub fn install_as(
    env: &WriteLock<'_>,
    targets: &[Target],
    choice: &ServerChoice,
    args: &[String],
    kind: EventKind,
) -> Result<Outcome> {
    install_with(env, targets, &[], choice, args, kind, BTreeMap::new())
}

/// The general install, under the writer lock the caller holds: installs targets and stops
/// requesting `release` in the same event (a checklist applied as a whole), with event
/// details. A released package goes unless
/// another package still needs it, in which case it stays as a dependency.
pub fn install_with(
    env: &WriteLock<'_>,
    targets: &[Target],
    release: &[String],
    choice: &ServerChoice,
    args: &[String],
    kind: EventKind,
    details: BTreeMap<String, String>,
) -> Result<Outcome> {
    let mut installing = Installing::new(targets, release, choice, args, kind)?;
    installing.details = details;
    plan_locked(env, &installing)
}

/// An install as a [`Planner`]: what the user asked, planned from any state.
struct Installing<'a> {
    /// The targets without the build variables.
    targets: Vec<&'a Target>,
    /// Build variables given as arguments.
    variables: BTreeMap<String, String>,
    release: &'a [String],
    choice: &'a ServerChoice,
    args: &'a [String],
    kind: EventKind,
    details: BTreeMap<String, String>,
}

impl<'a> Installing<'a> {
    /// Refuses arguments that are only build variables before anything is opened.
    fn new(
        targets: &'a [Target],
        release: &'a [String],
        choice: &'a ServerChoice,
        args: &'a [String],
        kind: EventKind,
    ) -> Result<Installing<'a>> {
        let variables = targets::variables_of(targets);
        let targets: Vec<&Target> = targets
            .iter()
            .filter(|t| !matches!(t, Target::Variable { .. }))
            .collect();
        if targets.is_empty() && !variables.is_empty() {
            return Err(crate::ops::Error::OnlyVariables {
                names: variables.into_keys().collect(),
            });
        }
        Ok(Installing {
            targets,
            variables,
            release,
            choice,
            args,
            kind,
            details: BTreeMap::new(),
        })
    }
}

impl Planner for Installing<'_> {
    /// The session and the targets, fetched once.
    type Session = (Session, Vec<TargetPin>);

    fn open(&self, env: &Environment) -> Result<Self::Session> {
        let mut session = Session::open(env, self.choice)?;
        // Variables given on the command line win over the settings' (LuaRocks' order).
        session.build_ctx.variables.extend(self.variables.clone());
        let pins = self
            .targets
            .iter()
            .map(|target| session.fetch_target(target))
            .collect::<Result<Vec<_>>>()?;
        Ok((session, pins))
    }

    fn plan(
        &self,
        env: &Environment,
        (session, pins): &Self::Session,
        base: &Base<'_>,
    ) -> Result<Planned> {
        let started = Instant::now();
        // The event records every variable the builds saw, as they are part of each build's
        // store key.
        let mut details = self.details.clone();
        for (name, value) in &session.build_ctx.variables {
            details.insert(format!("variables.{name}"), value.clone());
        }
        let current = base.current;
        let mut candidates = session.candidates(current);
        let mut requested: BTreeMap<String, String> = current.requested();
        for name in self.release {
            requested.remove(&name.to_ascii_lowercase());
        }
        let mut names = Vec::new();
        for pin in pins {
            candidates.pin_target(pin);
            let dep = &pin.requirement;
            // `lvm install NAME` again keeps the constraint NAME was requested with; only a
            // new constraint (or a rockspec, git source or project) replaces it.
            if !(pin.bare && requested.contains_key(&dep.name)) {
                requested.insert(dep.name.clone(), dep.constraints.to_string());
            }
            names.push(dep.name.clone());
        }
        candidates.reuse_prepared(base.prepared);
        let event = EventOf {
            kind: self.kind,
            args: event_args(self.args, &names),
            details,
            named: names,
        };
        // The C rocks whose rockspecs arrive first compile while the resolver still waits
        // for the others.
        with_early_builds(session, &candidates, |fetched| {
            let resolution = resolve_requested(&candidates, current, &requested, env, fetched)
                .map_err(|e| session.explain_failure(e))?;
            let resolved = (&resolution, &requested);
            let timings = resolved_since(started);
            prepared_plan((session, &candidates), current, resolved, timings, event)
        })
    }
}
