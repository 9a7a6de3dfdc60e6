//! `lvm profile`: named package sets of one environment, each a git branch; create, switch,
//! delete and merge are each recorded as one event.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use git2::Oid;

use crate::env::{ChangePlan, WriteLock};
use crate::events::{Event, EventKind};
use crate::manifest::{self, Manifest};
use crate::merge::{self, Choices, Conflict, MergeError, Side};
use crate::ops::install::Outcome;
use crate::ops::install::prepare::build_target_state;
use crate::ops::install::resolution::{preferred_versions, request_for};
use crate::ops::install::session::{ServerChoice, Session};
use crate::ops::{Error, PackageConflict, Result};
use crate::resolve;

/// Profile names double as branch names, so keep them to what git and shells take plainly.
pub fn check_name(name: &str) -> Result<()> {
    if !crate::envrepo::is_plain_ref_name(name) {
        return Err(Error::BadProfileName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Creates a profile from the current one (or `from`): one `profile-create` event, the new
/// branch's first commit. The current profile and the tree stay as they are. With `lua`, the
/// profile is for that Lua: its packages are rebuilt for it (see [`crate::ops::lua`]).
pub fn create(
    env: &WriteLock<'_>,
    name: &str,
    from: Option<&str>,
    lua: Option<(crate::luaversion::LuaVersion, Option<&std::path::Path>)>,
) -> Result<Oid> {
    check_name(name)?;
    if env.repo().try_profile_head(name).is_some() {
        return Err(Error::ProfileExists {
            name: name.to_string(),
        });
    }
    let source = match from {
        Some(p) => p.to_string(),
        None => env.profile()?,
    };
    let at = env.repo().profile_head(&source)?;
    if let Some((lua, lua_bin)) = lua {
        return crate::ops::lua::create_profile(env, name, &source, at, lua, lua_bin);
    }
    let manifest = env.repo().manifest_at(at)?;
    let mut event = Event::new(EventKind::ProfileCreate, vec![name.to_string()], vec![]);
    event.details.insert("from".into(), source);
    let plan = ChangePlan {
        profile: name.to_string(),
        expected: None,
        parent: at,
        extra_parent: None,
        event,
        target: &manifest,
        switch_to: false,
        delete: None,
    };
    Ok(env.apply(plan, &mut BTreeMap::new())?)
}

/// Switches to another profile: its state becomes the tree (made from the store), recorded as
/// a `profile-switch` event on it.
pub fn switch(env: &WriteLock<'_>, name: &str, args: Vec<String>) -> Result<Oid> {
    let event = Event::new(EventKind::ProfileSwitch, args, vec![]);
    switch_with(env, name, event)
}

/// Switches to `name`, recording `event` (with `details.from` set to the profile left) on it.
pub fn switch_with(env: &WriteLock<'_>, name: &str, mut event: Event) -> Result<Oid> {
    let previous = env.profile()?;
    if previous == name {
        return Err(Error::AlreadyOnProfile {
            name: name.to_string(),
        });
    }
    let head = env.repo().profile_head(name)?;
    let manifest = env.repo().manifest_at(head)?;
    event.details.insert("from".into(), previous);
    let plan = ChangePlan {
        profile: name.to_string(),
        expected: Some(head),
        parent: head,
        extra_parent: None,
        event,
        target: &manifest,
        switch_to: true,
        delete: None,
    };
    Ok(env.apply(plan, &mut BTreeMap::new())?)
}

/// Deletes a profile other than the current one: a `profile-delete` event on the current
/// profile (naming the deleted head, so the profile can be recreated from it), then the branch
/// goes.
pub fn delete(env: &WriteLock<'_>, name: &str) -> Result<Oid> {
    if env.profile()? == name {
        return Err(Error::DeleteCurrentProfile {
            name: name.to_string(),
        });
    }
    let deleted_head = env.repo().profile_head(name)?;
    let head = env.head()?;
    let manifest = env.manifest()?;
    let mut event = Event::new(EventKind::ProfileDelete, vec![name.to_string()], vec![]);
    event
        .details
        .insert("deleted_head".into(), deleted_head.to_string());
    let plan = ChangePlan {
        profile: env.profile()?,
        expected: Some(head),
        parent: head,
        extra_parent: None,
        event,
        target: &manifest,
        switch_to: false,
        delete: Some((name.to_string(), deleted_head)),
    };
    Ok(env.apply(plan, &mut BTreeMap::new())?)
}

/// What `lvm profile merge` did: which profile was merged into which, from which common
/// state, the merge event's outcome (`None` when the other profile was merged already, and
/// nothing was recorded) and the conflicts a choice settled.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    pub merged: String,
    pub into: String,
    /// The merge base: the newest state both profiles share.
    pub base: Oid,
    pub outcome: Option<Outcome>,
    pub chosen: Vec<(Conflict, Side)>,
}

/// Merges another profile into the current one like git merges branches: from their merge
/// base, each package changed on one side takes that side's change; one changed differently on
/// both sides is a conflict, settled by `choices` or refused (naming the package, each side's
/// change and the event that made it). The merged packages are resolved again (among the
/// recorded builds first, then with the rocks servers) and recorded as a `profile-merge` event
/// whose commit has both heads as parents. A profile merged already records nothing.
pub fn merge_profile(
    env: &WriteLock<'_>,
    other: &str,
    choices: &Choices,
    args: Vec<String>,
) -> Result<MergeOutcome> {
    let into = env.profile()?;
    if into == other {
        return Err(Error::MergeIntoItself {
            name: other.to_string(),
        });
    }
    let other_head = env.repo().profile_head(other)?;
    let head = env.head()?;
    let base = env
        .repo()
        .merge_base(head, other_head)?
        .ok_or_else(|| Error::NoCommonHistory {
            current: into.clone(),
            other: other.to_string(),
        })?;
    let mut done = MergeOutcome {
        merged: other.to_string(),
        into: into.clone(),
        base,
        outcome: None,
        chosen: vec![],
    };
    if base == other_head {
        return Ok(done);
    }
    let ours = env.repo().manifest_at(head)?;
    let theirs = env.repo().manifest_at(other_head)?;
    let common = env.repo().manifest_at(base)?;
    check_preferences(choices, &[&common, &ours, &theirs])?;
    let started = Instant::now();
    let merged = match merge::merge_states(&common, &ours, &theirs, choices) {
        Ok(merged) => merged,
        Err(e) => {
            return Err(Error::MergeConflicts {
                conflicts: with_events(
                    env,
                    [head, other_head],
                    base,
                    conflicts_of(e, &into, other)?,
                )?,
                current: into,
                other: other.to_string(),
                base: crate::envrepo::short(base),
            });
        }
    };
    let mut timings = BTreeMap::new();
    let (target, hits, builds) = match merge::settle(&merged.state, &[&ours, &theirs]) {
        Ok(target) => {
            timings.insert("resolve".into(), started.elapsed().as_millis() as u64);
            (target, 0, 0)
        }
        // Among the recorded builds nothing fits: the servers may have a version that does.
        Err(_) => resolve_with_servers(env, other, &merged.state, [&ours, &theirs], &mut timings)?,
    };
    let changes = manifest::diff(&ours, &target);
    let mut event = Event::new(EventKind::ProfileMerge, args, changes.clone());
    event.store_hits = hits;
    event.builds = builds;
    event
        .details
        .insert("merged".into(), other_head.to_string());
    event.details.insert("base".into(), base.to_string());
    if !merged.chosen.is_empty() {
        let chosen: Vec<String> = merged
            .chosen
            .iter()
            .map(|(c, side)| format!("{}={side}", c.name))
            .collect();
        event.details.insert("chosen".into(), chosen.join(" "));
    }
    let cache_hits = crate::ops::cache::all_supplied(&event.details).len() as u32;
    let commit = env.commit_change(head, event, &target, Some(other_head), &mut timings)?;
    done.outcome = Some(Outcome {
        commit: Some(commit),
        named: vec![],
        changes,
        store_hits: hits,
        cache_hits,
        builds,
    });
    done.chosen = merged.chosen;
    Ok(done)
}

/// The conflicts of a merge that stopped on them; states of different Lua versions, which
/// merge not at all, are an error naming the two sides.
pub(in crate::ops) fn conflicts_of(
    e: MergeError,
    current: &str,
    other: &str,
) -> Result<Vec<Conflict>> {
    match e {
        MergeError::Conflicts(conflicts) => Ok(conflicts),
        MergeError::DifferentLua { ours, theirs } => Err(Error::MergeAcrossLua {
            current: current.to_string(),
            other: other.to_string(),
            ours,
            theirs,
        }),
    }
}

/// A `--prefer NAME=SIDE` must name a package of one of the states: anything else is a typo.
fn check_preferences(choices: &Choices, states: &[&Manifest]) -> Result<()> {
    for name in choices.packages.keys() {
        if states.iter().any(|s| s.packages.contains_key(name)) {
            continue;
        }
        let known: BTreeSet<&str> = states
            .iter()
            .flat_map(|s| s.packages.keys().map(String::as_str))
            .collect();
        let known: Vec<&str> = known.into_iter().collect();
        return Err(Error::PreferUnknownPackage {
            name: name.clone(),
            hint: crate::suggest::did_you_mean(name, &known),
        });
    }
    Ok(())
}

/// The conflicts with, for each side, the newest event since the merge base that changed the
/// package.
fn with_events(
    env: &WriteLock<'_>,
    heads: [Oid; 2],
    base: Oid,
    conflicts: Vec<Conflict>,
) -> Result<Vec<PackageConflict>> {
    let [ours, theirs] = heads.map(|head| -> Result<BTreeMap<String, String>> {
        let mut by_package = BTreeMap::new();
        for logged in env.repo().events_since(head, base)? {
            let line = format!(
                "{} '{}'",
                crate::envrepo::short(logged.commit),
                logged.event.summary()
            );
            for change in &logged.event.changes {
                by_package
                    .entry(change.name().to_string())
                    .or_insert_with(|| line.clone());
            }
        }
        Ok(by_package)
    });
    let (ours, theirs) = (ours?, theirs?);
    Ok(conflicts
        .into_iter()
        .map(|conflict| PackageConflict {
            ours_event: ours.get(&conflict.name).cloned(),
            theirs_event: theirs.get(&conflict.name).cloned(),
            conflict,
        })
        .collect())
}

/// The merged packages resolved with the rocks servers too, the recorded builds of both sides
/// pinned and the merged versions preferred; what no store holds is built.
fn resolve_with_servers(
    env: &WriteLock<'_>,
    other: &str,
    merged: &Manifest,
    sides: [&Manifest; 2],
    timings: &mut BTreeMap<String, u64>,
) -> Result<(Manifest, u32, u32)> {
    let started = Instant::now();
    let session = Session::open(env, &ServerChoice::default())?;
    let mut candidates = session.candidates(sides[0]);
    for state in [merged, sides[0], sides[1]] {
        for (name, package) in &state.packages {
            candidates.pin_installed(name, package);
        }
    }
    let requested = merged.requested();
    let request = request_for(
        &requested,
        preferred_versions(merged, &BTreeSet::new()),
        env,
    )?;
    let resolution =
        resolve::resolve(&candidates, &request).map_err(|cause| Error::MergeConflict {
            current: env.profile().unwrap_or_default(),
            other: other.to_string(),
            cause: Box::new(cause),
        })?;
    timings.insert("resolve".into(), started.elapsed().as_millis() as u64);
    build_target_state(
        &session,
        &candidates,
        sides[0],
        &resolution,
        &requested,
        timings,
    )
}
