//! `lvm revert`: the package changes of one earlier event of the profile undone, and only
//! those, re-resolved into a new `revert` event; refused when a later event needs them.

use std::collections::BTreeMap;
use std::time::Instant;

use git2::Oid;

use crate::env::WriteLock;
use crate::envrepo::short;
use crate::events::EventKind;
use crate::manifest::Manifest;
use crate::ops::history::{self, DeltaConflict, EventRef, Looking};
use crate::ops::install::Outcome;
use crate::ops::install::planned::{EventOf, prepared_plan, record};
use crate::ops::install::resolution::request_for;
use crate::ops::install::session::{ServerChoice, Session};
use crate::ops::{Error, MissingIn, Result};
use crate::resolve;

/// Undoes the package changes of the event at `rev` (an event of the current profile) as one
/// `revert` event: what it installed goes, what it removed comes back, what it upgraded returns
/// to the version before, each re-resolved with everything installed since. Nothing changes
/// when a later event changed one of those packages again or needs what the event brought.
pub fn revert(env: &WriteLock<'_>, rev: &str, choice: &ServerChoice) -> Result<Outcome> {
    let commit = env.repo().resolve_rev(rev)?;
    let head = env.head()?;
    let profile = env.profile()?;
    let event = event_ref(env, commit)?;
    if !in_first_parents(env, head, commit)? {
        return Err(Error::RevertOutsideProfile {
            rev: rev.to_string(),
            event: event.describe(),
            profile,
        });
    }
    // Undoing the event is taking the changes from its state back to its parent's.
    let (after, before) = states_around(env, &event)?;
    take_delta(
        env,
        choice,
        Delta {
            event: &event,
            before: &before,
            after: &after,
            strict: true,
            action: "revert",
        },
        (EventKind::Revert, "reverted"),
    )
}

/// Whether `commit` is on the first-parent chain from `head` (an event of the profile, not one
/// that came in through a merge).
fn in_first_parents(env: &WriteLock<'_>, head: Oid, commit: Oid) -> Result<bool> {
    Ok(env.repo().first_parent_chain(head)?.contains(&commit))
}

/// The event at `commit`, for messages.
pub(in crate::ops) fn event_ref(env: &WriteLock<'_>, commit: Oid) -> Result<EventRef> {
    let logged = env.repo().log(commit, Some(1))?;
    Ok(logged
        .first()
        .map(EventRef::of)
        .expect("a commit's log holds the commit"))
}

/// The states before and after an event: its first parent's and its own.
pub(in crate::ops) fn states_around(
    env: &WriteLock<'_>,
    event: &EventRef,
) -> Result<(Manifest, Manifest)> {
    let parent = env
        .repo()
        .commit_summary(event.commit)?
        .1
        .ok_or_else(|| Error::FirstEvent {
            event: event.describe(),
        })?;
    Ok((
        env.repo().manifest_at(parent)?,
        env.repo().manifest_at(event.commit)?,
    ))
}

/// One event's package changes, to take into the current state: from `before` to `after`
/// (a revert swaps the event's parent and its own state).
pub(in crate::ops) struct Delta<'a> {
    pub event: &'a EventRef,
    pub before: &'a Manifest,
    pub after: &'a Manifest,
    /// A revert: a package a later event changed again is a conflict.
    pub strict: bool,
    /// `revert` or `cherry-pick`, for messages.
    pub action: &'static str,
}

/// Takes a delta into the current state, re-resolved, and records it as one event of `kind`
/// whose argument is the event's commit (also in `details[detail]`).
pub(in crate::ops) fn take_delta(
    env: &WriteLock<'_>,
    choice: &ServerChoice,
    delta: Delta<'_>,
    (kind, detail): (EventKind, &str),
) -> Result<Outcome> {
    let started = Instant::now();
    let event_text = delta.event.describe();
    if crate::manifest::diff(delta.before, delta.after).is_empty() {
        return Err(Error::NoPackageChanges {
            event: event_text,
            action: delta.action,
        });
    }
    if delta.before.lua != delta.after.lua {
        return Err(Error::DeltaChangesLua { event: event_text });
    }
    let current = env.manifest()?;
    let plan = history::plan_delta(&current, delta.before, delta.after, delta.strict)
        .map_err(|conflict| explain(env, &delta, conflict))?;
    let commit_text = delta.event.commit.to_string();
    if plan.is_empty(&current) {
        return Ok(Outcome::removal(None, vec![], vec![]));
    }
    let session = Session::open(env, choice)?;
    let mut candidates = session.candidates(&current);
    for (name, package) in &plan.brings {
        candidates.pin_installed(name, package);
    }
    let request = request_for(&plan.requested, plan.preferred(&current), env)?;
    let resolution =
        resolve::resolve(&candidates, &request).map_err(|e| session.explain_failure(e.into()))?;
    let mut timings = BTreeMap::new();
    timings.insert("resolve".into(), started.elapsed().as_millis() as u64);
    // What the event brings back may be a build `lvm gc` collected since: rebuild it from its
    // recorded sources first, or refuse naming it.
    let mut wanted = current.clone();
    wanted.packages.clear();
    for (name, package) in &plan.brings {
        if resolution.packages.get(name) == Some(&package.version) {
            wanted.packages.insert(name.clone(), package.clone());
        }
    }
    crate::ops::install::rebuild::ensure_in_store(
        env,
        &wanted,
        MissingIn::Picked {
            commit: short(delta.event.commit),
        },
    )?;
    let event = EventOf {
        kind,
        args: vec![commit_text.clone()],
        details: BTreeMap::from([(detail.to_string(), commit_text)]),
        named: vec![],
    };
    let resolved = (&resolution, &plan.requested);
    let planned = prepared_plan((&session, &candidates), &current, resolved, timings, event)?;
    record(env, planned)
}

/// The error for a delta that cannot be taken, naming the event behind the obstacle.
fn explain(env: &WriteLock<'_>, delta: &Delta<'_>, conflict: DeltaConflict) -> Error {
    let head = match env.head() {
        Ok(head) => head,
        Err(e) => return e.into(),
    };
    let event = delta.event.describe();
    let version_text = |v: &Option<crate::version::Version>| match v {
        Some(v) => v.to_string(),
        None => "not installed".to_string(),
    };
    match conflict {
        DeltaConflict::ChangedSince {
            name,
            expected,
            found,
        } => {
            let wanted = BTreeMap::from([(name.clone(), Looking::LastChange)]);
            let later = history::newest_events(env.repo(), head, &wanted)
                .ok()
                .and_then(|mut found| found.remove(&name));
            Error::ChangedSince {
                event,
                later: later
                    .as_ref()
                    .map_or("made by hand".into(), EventRef::describe),
                later_short: later.map_or("it".into(), |l| short(l.commit)),
                name,
                expected: version_text(&expected),
                found: version_text(&found),
            }
        }
        DeltaConflict::Needed {
            name,
            dependent,
            dependency,
        } => {
            let current = env.manifest().ok();
            let version = current
                .as_ref()
                .and_then(|m| m.packages.get(&dependent))
                .map(|p| p.version.clone());
            let by = version
                .as_ref()
                .and_then(|v| {
                    let wanted = BTreeMap::from([(dependent.clone(), Looking::Brought(v))]);
                    history::newest_events(env.repo(), head, &wanted).ok()
                })
                .and_then(|mut found| found.remove(&dependent))
                .map_or("an event lvm did not record".into(), |e| e.describe());
            let what = match delta.after.packages.get(&name) {
                None => format!("the {} would remove", delta.action),
                Some(p) => format!("the {} would move to {}", delta.action, p.version),
            };
            Error::NeededByOther {
                action: delta.action,
                event,
                dependent: dependent.clone(),
                by,
                dependency,
                what,
                hint: format!(
                    "remove or change {dependent} first (`lvm remove {dependent}`), then {} again",
                    delta.action
                ),
            }
        }
    }
}
