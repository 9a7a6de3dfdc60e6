//! `lvm sync`: the store and tree made to match the head commit after git changes made
//! outside lvm, and commits made by hand closed with a `sync` event. In a project, the state the
//! committed `.lvm/manifest.json` asks for is recorded as a `sync` event naming the project
//! commit it came from; `--frozen` first checks it against the project's rockspec.

use std::fs;
use std::path::Path;
use std::time::Duration;

use git2::Oid;

use crate::config::EnvConfig;
use crate::env::{Desired, EnvError, Environment, WriteLock};
use crate::envrepo::remotes::SharingError;
use crate::envrepo::{CONFIG_FILE, MANIFEST_FILE, Place, short};
use crate::events::{Event, EventKind};
use crate::manifest::{self, Change, Manifest};
use crate::ops::history::{hand_commits, head_state};
use crate::ops::install::rebuild::ensure_in_store;
use crate::ops::{Error, MissingIn, Result};
use crate::version::Dependency;

/// `lvm sync`: make the store hold every package the head commit's manifest needs (rebuilding
/// what is missing from the recorded sources), then the tree exactly what the manifest says.
pub fn sync_store_and_tree(env: &Environment, lock_timeout: Duration) -> Result<WriteLock<'_>> {
    // Store entries are content-addressed and inserted atomically, so filling the store needs
    // no lock; the lock's recovery then rebuilds the tree from it.
    ensure_in_store(env, &env.manifest()?, head_state(env)?)?;
    let locked = match env.lock(lock_timeout) {
        Ok(lock) => Ok(lock),
        Err(e) => {
            // Another process may have moved the head meanwhile: fetch what that state needs.
            if ensure_in_store(env, &env.manifest()?, head_state(env)?)? == 0 {
                return Err(e.into());
            }
            env.lock(lock_timeout)
        }
    }?;
    // A tree made from the right state may still lack the symlinks of a linked package (made
    // by hand, or a link removed): remake it, which re-creates them.
    let manifest = env.manifest()?;
    if !links_intact(env, &manifest)? {
        let dir = env.materialize(&manifest)?;
        locked.install_tree(&dir)?;
    }
    Ok(locked)
}

/// What `lvm sync` did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub profile: String,
    pub packages: usize,
    /// The `sync` event recorded to close commits made outside lvm, with its changes.
    pub recorded: Option<(Oid, Vec<Change>)>,
    /// What verification found wrong after the sync (empty when all is well).
    pub problems: Vec<String>,
}

/// How `lvm sync` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// A project's committed files exactly, or fail changing nothing: they must be there,
    /// readable and satisfy the project's rockspec (CI, like `cargo --locked`).
    pub frozen: bool,
}

/// `lvm sync`: makes the tree exactly what the head's `manifest.json` says (building what the
/// store lacks from the recorded sources), closes commits made by hand with a `sync` event, and
/// verifies the result. A malformed or inconsistent head is refused before anything changes.
pub fn sync(env: &Environment, lock_timeout: Duration) -> Result<SyncReport> {
    sync_with(env, lock_timeout, SyncOptions::default())
}

/// [`sync`] with options; in a project, the committed files are the state to sync to.
pub fn sync_with(
    env: &Environment,
    lock_timeout: Duration,
    options: SyncOptions,
) -> Result<SyncReport> {
    match env.repo().place() {
        Place::Project => sync_project(env, lock_timeout, options),
        Place::Standalone if options.frozen => Err(Error::FrozenOutsideProject),
        Place::Standalone => {
            check_commit(env, env.head()?)?;
            let env = sync_store_and_tree(env, lock_timeout)?;
            finish_sync(&env)
        }
    }
}

/// `lvm sync` in a project: the state `.lvm/manifest.json` and `.lvm/lvm.toml` ask for becomes
/// the environment's, recorded as a `sync` event; no resolution, only builds of the recorded
/// sources. Missing files are written from the head (refused with `--frozen`).
fn sync_project(
    env: &Environment,
    lock_timeout: Duration,
    options: SyncOptions,
) -> Result<SyncReport> {
    let desired = match options.frozen {
        true => check_frozen(env.root())?,
        false => match env.read_work_files() {
            Ok(desired) => desired,
            Err(EnvError::MissingWorkFile { .. }) => {
                let locked = sync_store_and_tree(env, lock_timeout)?;
                locked.repo().sync_worktree(locked.head()?)?;
                return finish_sync(&locked);
            }
            Err(e) => return Err(e.into()),
        },
    };
    let file = env.root().join(MANIFEST_FILE).display().to_string();
    // The store needs no lock; builds made here count in the event.
    let rebuilt = ensure_in_store(env, &desired.manifest, MissingIn::ProjectFiles { file })?;
    let locked = env.lock_keeping_work_files(lock_timeout)?;
    let before = locked.manifest()?;
    let recorded = record_work_files(&locked, options.frozen, rebuilt)?;
    let mut report = finish_sync(&locked)?;
    report.recorded = recorded.map(|commit| (commit, manifest::diff(&before, &desired.manifest)));
    Ok(report)
}

/// Records the state a project's committed files ask for as a `sync` event (none when it is
/// the head's already) and makes its tree; the writer lock must be held. `rebuilt`: builds the
/// caller made for it already.
pub(crate) fn record_work_files(
    env: &WriteLock<'_>,
    frozen: bool,
    rebuilt: usize,
) -> Result<Option<Oid>> {
    let desired = env.read_work_files()?;
    let file = env.root().join(MANIFEST_FILE).display().to_string();
    let rebuilt =
        rebuilt + ensure_in_store(env, &desired.manifest, MissingIn::ProjectFiles { file })?;
    let mut details = std::collections::BTreeMap::new();
    match project_commit(env, &desired) {
        Some(commit) => details.insert("project_commit".into(), commit.to_string()),
        None => details.insert("project_files".into(), "uncommitted".into()),
    };
    let args = match frozen {
        true => vec!["--frozen".to_string()],
        false => vec![],
    };
    let packages = desired.manifest.packages.len() as u32;
    let recorded = env.record_with_config(
        EventKind::Sync,
        args,
        desired.manifest.clone(),
        Some(&desired.config),
        details,
        Default::default(),
        (packages.saturating_sub(rebuilt as u32), rebuilt as u32),
    )?;
    let manifest = env.manifest()?;
    if !links_intact(env, &manifest)? {
        let dir = env.materialize(&manifest)?;
        env.install_tree(&dir)?;
    }
    Ok(recorded)
}

/// The project commit the synced files come from: `HEAD`, when its `.lvm/` files are the ones
/// synced (not when they were changed since, or the project has no commit yet).
fn project_commit(env: &Environment, desired: &Desired) -> Option<Oid> {
    let repo = env.repo();
    let head = repo.project_head()?;
    let manifest = repo.read_file(head, MANIFEST_FILE).ok()?;
    let config = repo.read_file(head, CONFIG_FILE).ok()?;
    let committed = Manifest::from_bytes(&manifest, MANIFEST_FILE).ok()?;
    let settings = EnvConfig::parse(&String::from_utf8_lossy(&config), CONFIG_FILE).ok()?;
    (committed == desired.manifest && settings == desired.config).then_some(head)
}

/// What `lvm sync --frozen` checks before anything happens, from the files alone (so it can
/// run before the environment is opened, which in a fresh clone starts lvm's history): the
/// environment at `root` is a project's, its committed files read and agree, and every
/// dependency of the project's rockspec (but `lua`) is in the manifest at a version it allows.
/// A project without a rockspec has no dependencies to check.
pub fn check_frozen(root: &Path) -> Result<Desired> {
    if root.join(".git").exists() {
        return Err(Error::FrozenOutsideProject);
    }
    let desired = crate::env::read_work_files_at(root)?;
    let dir = root.parent().unwrap_or(Path::new("."));
    use crate::fetch::project::{DevMode, ProjectError, find_rockspec};
    let rel = match find_rockspec(dir, DevMode::Make) {
        Ok(rel) => rel,
        Err(ProjectError::NoRockspec { .. }) => return Ok(desired),
        Err(e) => return Err(e.into()),
    };
    let rockspec = crate::rockspec::Rockspec::from_file(&dir.join(&rel))?;
    let unmet = unmet_dependencies(&rockspec.dependencies, &desired.manifest);
    if unmet.is_empty() {
        return Ok(desired);
    }
    Err(Error::FrozenUnsatisfied {
        manifest: root.join(MANIFEST_FILE).display().to_string(),
        rockspec: rel,
        unmet,
    })
}

/// The dependencies a state does not satisfy, each with why. Pure.
fn unmet_dependencies(dependencies: &[Dependency], manifest: &Manifest) -> Vec<String> {
    dependencies
        .iter()
        .filter(|d| d.name != "lua")
        .filter_map(|d| match manifest.packages.get(&d.name) {
            None => Some(format!("{d} (not in the manifest)")),
            Some(p) if !d.matches(&p.version) => {
                Some(format!("{d} ({} in the manifest)", p.version))
            }
            Some(_) => None,
        })
        .collect()
}

/// Checks the head commit's `manifest.json` and `lvm.toml` before anything acts on them.
pub fn check_commit(env: &Environment, commit: Oid) -> Result<Manifest> {
    let bad = |reason: String| SharingError::BadHead {
        commit: short(commit),
        profile: env.profile().unwrap_or_default(),
        root: env.root().display().to_string(),
        reason,
    };
    let config = env
        .repo()
        .read_file(commit, CONFIG_FILE)
        .map_err(|e| bad(e.to_string()))?;
    let config = EnvConfig::parse(
        &String::from_utf8_lossy(&config),
        &format!("{CONFIG_FILE} at {}", short(commit)),
    )
    .map_err(|e| bad(e.to_string()))?;
    let manifest = env
        .repo()
        .manifest_at(commit)
        .map_err(|e| bad(crate::errors::error_text(&e)))?;
    if manifest.lua != config.lua.as_str() {
        return Err(bad(format!(
            "{MANIFEST_FILE} is for Lua {} but {CONFIG_FILE} says {}",
            manifest.lua, config.lua
        ))
        .into());
    }
    Ok(manifest)
}

/// The part of a sync after the tree matches the head; the writer lock must be held.
pub(super) fn finish_sync(env: &WriteLock<'_>) -> Result<SyncReport> {
    let recorded = close_hand_commits(env)?;
    let manifest = env.manifest()?;
    let problems = match crate::ops::verify::verify(env) {
        Ok(report) => report.problems,
        Err(e) => vec![crate::errors::error_text(&e)],
    };
    Ok(SyncReport {
        profile: env.profile()?,
        packages: manifest.packages.len(),
        recorded,
        problems,
    })
}

/// Records a `sync` event on top of commits made by hand. Its first parent is the newest lvm
/// commit, so the first-parent log (what `lvm log` and the replay follow) holds only events, and
/// its changes take that commit's state to the hand-made head's; its second parent is the
/// hand-made head, so the ref moves forward and nothing is lost.
pub(super) fn close_hand_commits(env: &WriteLock<'_>) -> Result<Option<(Oid, Vec<Change>)>> {
    let repo = env.repo();
    let head = env.head()?;
    let (hand, base) = hand_commits(repo, head)?;
    if hand.is_empty() {
        return Ok(None);
    }
    let before = env.repo().manifest_at(base)?;
    let after = env.repo().manifest_at(head)?;
    let changes = manifest::diff(&before, &after);
    let mut event = Event::new(EventKind::Sync, vec![], changes.clone());
    event.details.insert("base".into(), base.to_string());
    event.details.insert("hand_made".into(), head.to_string());
    event
        .details
        .insert("hand_commits".into(), hand.len().to_string());
    let tree = repo.commit_tree(head)?;
    let commit = repo.commit_object(tree, &[base, head], &event)?;
    let profile = env.profile()?;
    repo.publish(&profile, Some(head), commit, &event.summary())?;
    env.repo().sync_worktree(commit)?;
    Ok(Some((commit, changes)))
}

/// Whether the live tree holds every symlink its linked packages need (pointing at the right
/// file). `lvm sync` remakes the tree when not.
pub fn links_intact(env: &Environment, manifest: &Manifest) -> Result<bool> {
    let store = env.home().store()?;
    let tree = env.tree_path();
    let lua = manifest.lua_version()?;
    for (name, package) in &manifest.packages {
        for file in store.linked_files(lua, name, package)? {
            let Some(rock_file) = file.tree_paths.first() else {
                continue;
            };
            if fs::read_link(tree.join(rock_file)).ok().as_deref() != Some(file.target.as_path()) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmet_dependencies_name_the_missing_and_the_wrong_versions() {
        let mut manifest: Manifest =
            Manifest::from_bytes(br#"{"format": "1", "lua": "5.4", "packages": {}}"#, "m").unwrap();
        let deps: Vec<Dependency> = ["lua >= 5.1", "strutil >= 1.1", "chain-a"]
            .iter()
            .map(|d| Dependency::parse(d).unwrap())
            .collect();
        let unmet = unmet_dependencies(&deps, &manifest);
        assert_eq!(unmet.len(), 2, "{unmet:?}");
        assert!(
            unmet[0].starts_with("strutil >= 1.1") && unmet[0].ends_with("(not in the manifest)")
        );
        manifest.packages.clear();
        assert!(
            unmet_dependencies(&deps[..1], &manifest).is_empty(),
            "lua is the environment's"
        );
    }
}
