//! Profiles: named package sets of one environment, each a git branch of its repository.
//! Creating, switching, merging and deleting a profile is recorded as an event.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::env::Environment;
use crate::events::{Event, EventKind};

/// Profile names double as branch names, so keep them to what git and shells take plainly.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['.', '-'])
        && !name.ends_with(".lock");
    if !ok {
        bail!(
            "profile name '{name}': use letters, digits, '-', '_' and '.', not starting with '.' or '-'"
        );
    }
    Ok(())
}

/// Creates a profile from the current one (or `from`), recorded as an event on the new branch.
pub fn create(env: &Environment, name: &str, from: Option<&str>) -> Result<()> {
    check_name(name)?;
    let source = match from {
        Some(p) => p.to_string(),
        None => env.profile()?,
    };
    let at = env.repo.profile_head(&source)?;
    env.repo.create_profile(name, at)?;
    let previous = env.profile()?;
    env.repo.set_current_profile(name)?;
    let mut event = Event::new(EventKind::ProfileCreate, vec![name.to_string()], vec![]);
    event.details.insert("from".into(), source);
    let manifest = env.repo.manifest_at(at)?;
    let result = env.commit_change(at, event, &manifest, None, &mut BTreeMap::new());
    // Creating does not switch: HEAD goes back to the profile the user was on.
    env.repo.set_current_profile(&previous)?;
    let previous_head = env.repo.profile_head(&previous)?;
    env.repo.sync_worktree(previous_head)?;
    if result.is_err() {
        let _ = env.repo.delete_profile(name);
    }
    result.map(|_| ())?;
    // The tree must stay the one of the current profile.
    env.recover()
}

/// Switches to another profile: its state becomes the tree, recorded as an event on it.
pub fn switch(env: &Environment, name: &str, args: Vec<String>) -> Result<()> {
    let previous = env.profile()?;
    if previous == name {
        bail!("already on profile '{name}'");
    }
    let head = env.repo.profile_head(name)?;
    let manifest = env.repo.manifest_at(head)?;
    env.repo.set_current_profile(name)?;
    let mut event = Event::new(EventKind::ProfileSwitch, args, vec![]);
    event.details.insert("from".into(), previous.clone());
    if let Err(e) = env.commit_change(head, event, &manifest, None, &mut BTreeMap::new()) {
        env.repo.set_current_profile(&previous)?;
        return Err(e);
    }
    Ok(())
}

/// Deletes a profile other than the current one.
pub fn delete(env: &Environment, name: &str) -> Result<()> {
    if env.profile()? == name {
        bail!("cannot delete the current profile '{name}'; switch to another first");
    }
    let deleted_head = env.repo.profile_head(name)?;
    env.repo.delete_profile(name)?;
    let head = env.head()?;
    let manifest = env.manifest()?;
    let mut event = Event::new(EventKind::ProfileDelete, vec![name.to_string()], vec![]);
    event
        .details
        .insert("deleted_head".into(), deleted_head.to_string());
    env.commit_change(head, event, &manifest, None, &mut BTreeMap::new())?;
    Ok(())
}
