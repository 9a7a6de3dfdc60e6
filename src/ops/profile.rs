//! `lvm profile`: named package sets of one environment, each a git branch; create, switch,
//! delete and merge are each recorded as one event.

use std::collections::{BTreeMap, BTreeSet};

use git2::Oid;

use crate::env::{ChangePlan, WriteLock};
use crate::events::{Event, EventKind};
use crate::manifest;
use crate::ops::install::Outcome;
use crate::ops::install::prepare::build_target_state;
use crate::ops::install::resolution::preferred_versions;
use crate::ops::install::session::{ServerChoice, Session};
use crate::ops::{Error, Result};
use crate::resolve::{self, Request};
use crate::version::{Constraints, Dependency};

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

/// What `lvm profile merge` did: the merge event's outcome, which profile was merged into
/// which.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    pub merged: String,
    pub into: String,
    pub outcome: Outcome,
}

/// Merges another profile's requested packages into the current profile, through the resolver.
pub fn merge_profile(env: &WriteLock<'_>, other: &str) -> Result<MergeOutcome> {
    let current = env.profile()?;
    if current == other {
        return Err(Error::MergeIntoItself {
            name: other.to_string(),
        });
    }
    let other_head = env.repo().profile_head(other)?;
    let theirs = env.repo().manifest_at(other_head)?;
    let current = env.manifest()?;
    let session = Session::open(env, &ServerChoice::default())?;
    let mut candidates = session.candidates(&current);
    for (name, package) in &theirs.packages {
        candidates.pin_installed(name, package);
    }
    let mut requested = current.requested();
    let mut requirements: Vec<Dependency> = Vec::new();
    for (name, constraint) in current.requested().into_iter().chain(theirs.requested()) {
        requirements.push(Dependency {
            name: name.clone(),
            constraints: Constraints::parse(&constraint)?,
        });
        requested.entry(name).or_insert(constraint);
    }
    let request = Request::for_lua(
        env.lua(),
        requirements,
        preferred_versions(&current, &BTreeSet::new()),
    )?;
    let resolution =
        resolve::resolve(&candidates, &request).map_err(|cause| Error::MergeConflict {
            current: env.profile().unwrap_or_default(),
            other: other.to_string(),
            cause: Box::new(cause),
        })?;
    let mut timings = BTreeMap::new();
    let (target, hits, builds) = build_target_state(
        &session,
        &candidates,
        &current,
        &resolution,
        &requested,
        &mut timings,
    )?;
    let changes = manifest::diff(&current, &target);
    let mut event = crate::events::Event::new(
        EventKind::ProfileMerge,
        vec![other.to_string()],
        changes.clone(),
    );
    event.store_hits = hits;
    event.builds = builds;
    event
        .details
        .insert("merged".into(), other_head.to_string());
    let head = env.head()?;
    let commit = env.commit_change(head, event, &target, Some(other_head), &mut timings)?;
    Ok(MergeOutcome {
        merged: other.to_string(),
        into: env.profile()?,
        outcome: Outcome {
            commit: Some(commit),
            named: vec![],
            changes,
            store_hits: hits,
            builds,
        },
    })
}
