//! `lvm remove`: packages and the dependencies nothing else needs leave the state, as one
//! event; dependents are refused unless forced.

use std::collections::{BTreeMap, BTreeSet};

use crate::env::WriteLock;
use crate::events::EventKind;
use crate::manifest::{self, Manifest};
use crate::ops::install::Outcome;
use crate::ops::{Error, Result};
use crate::version::Dependency;

/// Removes packages (and the dependencies nothing else needs) as one event.
pub fn remove(env: &WriteLock<'_>, names: &[String], force: bool) -> Result<Outcome> {
    let current = env.manifest()?;
    let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    for name in &names {
        if !current.packages.contains_key(name) {
            return Err(Error::NotInstalled { name: name.clone() });
        }
    }
    let plan = removal_plan(&current, &names, force)?;
    let changes = manifest::diff(&current, &plan);
    let commit = env.record(
        EventKind::Remove,
        names.clone(),
        plan,
        BTreeMap::new(),
        BTreeMap::new(),
        (0, 0),
    )?;
    Ok(Outcome::removal(commit, names, changes))
}

/// The state after removing `names`: their dependents are refused (or, with `force`, removed
/// too), and dependencies nothing else needs go with them. Pure.
pub fn removal_plan(current: &Manifest, names: &[String], force: bool) -> Result<Manifest> {
    let removing: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut dependents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, package) in &current.packages {
        if removing.contains(name.as_str()) {
            continue;
        }
        for dep in &package.dependencies {
            if let Ok(d) = Dependency::parse(dep) {
                if removing.contains(d.name.as_str()) {
                    dependents.entry(d.name).or_default().push(name.clone());
                }
            }
        }
    }
    let mut plan = current.clone();
    if !dependents.is_empty() && !force {
        let needed_by = dependents
            .iter()
            .map(|(n, by)| format!("{n} is needed by {}", by.join(", ")))
            .collect();
        return Err(Error::WouldBreakDependencies { needed_by });
    }
    // With --force, everything that depends (transitively) on a removed package goes too.
    let mut doomed: BTreeSet<String> = names.iter().cloned().collect();
    loop {
        let before = doomed.len();
        for (name, package) in &current.packages {
            let hit = package
                .dependencies
                .iter()
                .any(|d| Dependency::parse(d).is_ok_and(|d| doomed.contains(&d.name)));
            if hit {
                doomed.insert(name.clone());
            }
        }
        if doomed.len() == before {
            break;
        }
    }
    for name in &doomed {
        plan.packages.remove(name);
    }
    for orphan in plan.orphans() {
        plan.packages.remove(&orphan);
    }
    plan.recompute_reasons();
    Ok(plan)
}
