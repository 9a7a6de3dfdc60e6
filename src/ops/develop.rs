//! `lvm make`, `lvm link` and `lvm unlink`: a project directory built from its files as they
//! are and installed as one event, linked so edits show up without reinstalling, or unlinked.
//!
//! The project's sources come from [`crate::fetch::project`]; the symlinks of a linked package
//! are made with the tree ([`crate::tree::links`]). C modules stay built copies: after changing
//! C sources, `lvm link PATH` again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::env::{Environment, WriteLock};
use crate::events::EventKind;
use crate::fetch::project::{DevMode, GitState, LocalTarget, link_target, target};
use crate::manifest::{self, Package};
use crate::ops::install::{self, Outcome, ServerChoice, Target};
use crate::ops::remove::removal_plan;
use crate::ops::{Error, Result};
use crate::store::{Store, StoreKey};
use crate::version::Version;

#[derive(Debug, Error)]
pub enum DevelopError {
    #[error("{name} is not installed (see `lvm list`)")]
    NotInstalled { name: String },
    #[error(
        "{name} is not linked (it was installed from {source_text}); remove it with `lvm remove {name}`"
    )]
    NotLinked { name: String, source_text: String },
}

/// The C modules (`lib/...` files) of a stored package, tree-relative names like
/// `lib/mymod/core.so`.
fn built_libraries(store: &Store, package: &Package) -> Vec<String> {
    let Some(stored) = StoreKey::parse(&package.store_key)
        .ok()
        .and_then(|k| store.get(&k).ok().flatten())
    else {
        return vec![];
    };
    stored
        .meta
        .files
        .keys()
        .filter(|f| f.starts_with("lib/"))
        .cloned()
        .collect()
}

/// The event details of a `make` or `link`: where the project is, which rockspec, and for
/// `make` in a git checkout its commit and whether it had uncommitted changes.
fn details(target: &LocalTarget) -> BTreeMap<String, String> {
    let mut details = BTreeMap::from([
        ("path".to_string(), target.dir.display().to_string()),
        ("rockspec".to_string(), target.rockspec.clone()),
    ]);
    if let Some(git) = &target.git {
        details.insert("commit".into(), git.commit.clone());
        details.insert("dirty".into(), git.dirty.to_string());
    }
    details
}

/// Installs a project directory as one `make` or `link` event, with its details: built (with
/// its dependencies) without the writer lock, recorded under it (waiting up to
/// `lock_timeout`).
fn install_project(
    (env, lock_timeout): (&Environment, Duration),
    target: LocalTarget,
    request: &ProjectRequest<'_>,
    kind: EventKind,
) -> Result<Outcome> {
    let details = details(&target);
    let mut targets = vec![Target::Local(target)];
    targets.extend(request.variables.iter().cloned());
    let (choice, args) = (request.choice, request.args);
    install::install_planned_first(env, lock_timeout, &targets, choice, args, kind, details)
}

/// What comes with a project to install: the servers for its dependencies, build variables
/// for every build of the command (`Target::Variable`), and the arguments the event records.
pub struct ProjectRequest<'a> {
    pub choice: &'a ServerChoice,
    pub variables: &'a [Target],
    pub args: &'a [String],
}

/// What `lvm make` did: the install's outcome and the project it built (its directory, and
/// its git state when it is a checkout).
#[derive(Debug, Clone)]
pub struct MakeOutcome {
    pub outcome: Outcome,
    pub dir: PathBuf,
    pub git: Option<GitState>,
}

/// `lvm make [ROCKSPEC]`: builds the project in `dir` from its files as they are and installs
/// it (with its dependencies from the rocks servers) as one `make` event.
pub fn make(
    (env, lock_timeout): (&Environment, Duration),
    dir: &Path,
    rockspec: Option<&Path>,
    request: &ProjectRequest<'_>,
) -> Result<MakeOutcome> {
    let target = target(dir, rockspec, DevMode::Make)?;
    let (dir, git) = (target.dir.clone(), target.git.clone());
    let outcome = install_project((env, lock_timeout), target, request, EventKind::Make)?;
    Ok(MakeOutcome { outcome, dir, git })
}

/// What `lvm link` did: the install's outcome, the project directory, the package now linked
/// to it, and that package's C modules (built copies, not links).
#[derive(Debug, Clone)]
pub struct LinkOutcome {
    pub outcome: Outcome,
    pub dir: String,
    pub linked: Option<(String, Version)>,
    pub built_copies: Vec<String>,
}

/// `lvm link PATH`: installs the project in `path` so that its Lua files in the tree are
/// symlinks to the working files, as one `link` event.
pub fn link(
    (env, lock_timeout): (&Environment, Duration),
    path: &Path,
    request: &ProjectRequest<'_>,
) -> Result<LinkOutcome> {
    let target = link_target(path)?;
    let dir = target.dir.display().to_string();
    let outcome = install_project((env, lock_timeout), target, request, EventKind::Link)?;
    // The state the event made, whatever another writer recorded since.
    let manifest = match outcome.commit {
        Some(commit) => env.repo().manifest_at(commit)?,
        None => env.manifest()?,
    };
    let store = env.home().store()?;
    let linked = manifest
        .packages
        .iter()
        .find(|(_, p)| p.source.linked_path() == Some(dir.as_str()));
    let built_copies = linked
        .map(|(_, package)| built_libraries(&store, package))
        .unwrap_or_default();
    let linked = linked.map(|(name, package)| (name.clone(), package.version.clone()));
    Ok(LinkOutcome {
        outcome,
        dir,
        linked,
        built_copies,
    })
}

/// `lvm unlink NAME`: removes a linked package (and the dependencies nothing else needs) as one
/// `unlink` event.
pub fn unlink(env: &WriteLock<'_>, name: &str, force: bool) -> Result<Outcome> {
    let current = env.manifest()?;
    let name = name.to_ascii_lowercase();
    let package = current
        .packages
        .get(&name)
        .ok_or_else(|| DevelopError::NotInstalled { name: name.clone() })?;
    if package.source.linked_path().is_none() {
        return Err(DevelopError::NotLinked {
            name: name.clone(),
            source_text: package.source.describe(),
        }
        .into());
    }
    let plan = removal_plan(&current, std::slice::from_ref(&name), force)?;
    let changes = manifest::diff(&current, &plan);
    let commit = env
        .record(
            EventKind::Unlink,
            vec![name.clone()],
            plan,
            BTreeMap::new(),
            BTreeMap::new(),
            (0, 0),
        )
        .map_err(|source| Error::Unlink {
            name: name.clone(),
            source: Box::new(source),
        })?;
    Ok(Outcome::removal(commit, vec![name], changes))
}
