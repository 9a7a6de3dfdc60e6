//! The change protocol: the new tree beside the live one, the event commit, the journal, the
//! profile move (the point of no return), the switch; and recovery of an interrupted change.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use git2::Oid;

use super::error::io;
use super::scratch;
use super::{
    EnvError, Environment, PHASES, Result, WriteLock, fault_point, manifest_digest, pack_every,
};
use crate::config::EnvConfig;
use crate::events::{Event, EventKind};
use crate::layout::{JOURNAL_FILE, SCRATCH_DIR, TREES_DIR};
use crate::manifest::{self, Manifest};

/// What a change left to do once its commit exists, written to `.git/lvm-journal` before the
/// profile moves and removed when the change is complete. Finding it means a change was
/// interrupted: if the profile points at `new`, recovery finishes the change; otherwise the
/// change never happened and recovery drops its leftovers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Journal {
    /// The profile the event is appended to.
    profile: String,
    /// Where it pointed before (`None`: the change creates it).
    old: Option<String>,
    /// The event's commit.
    new: String,
    /// The tree made for the new state, in `.trees/`.
    #[serde(default)]
    tree: Option<String>,
    /// Whether `profile` becomes the current profile.
    #[serde(default)]
    switch_to: bool,
    /// A profile to delete, with the commit it must still point at.
    #[serde(default)]
    delete: Option<(String, String)>,
    /// Leave the working files as they are: a project's committed files, under which a pull
    /// moves lvm's history (see [`crate::envrepo::Place::keeps_work_files`]).
    #[serde(default)]
    keep_work_files: bool,
}

/// One change to apply with [`Environment::apply`].
pub struct ChangePlan<'a> {
    /// The profile to append the event to.
    pub profile: String,
    /// The profile's head when the change was computed (`None`: create the profile).
    pub expected: Option<Oid>,
    /// The commit the event follows (the profile's head, or the source of a new profile).
    pub parent: Oid,
    /// A second parent (the other profile of a merge).
    pub extra_parent: Option<Oid>,
    pub event: Event,
    /// The state after the event.
    pub target: &'a Manifest,
    /// Make `profile` the current profile (its state becomes the tree).
    pub switch_to: bool,
    /// Delete this profile once the event is recorded.
    pub delete: Option<(String, Oid)>,
}

impl Environment {
    pub(super) fn journal_path(&self) -> PathBuf {
        self.repo.private_dir().join(JOURNAL_FILE)
    }

    /// Whether a change was left unfinished (its journal is still there).
    pub fn has_pending_change(&self) -> bool {
        self.journal_path().exists()
    }

    /// Finishes or drops a change a crash interrupted, as its journal says. Call with the
    /// writer lock held.
    pub(super) fn recover_interrupted(&self, inject_faults: bool) -> Result<()> {
        // With the writer lock held no other lvm process is writing git files, so any git lock
        // file (the index's, a ref's) was left by a killed one, journal or not.
        self.repo.remove_stale_git_locks();
        scratch::sweep(&self.root.join(SCRATCH_DIR));
        let path = self.journal_path();
        // Bytes, not text: a damaged journal (not UTF-8, not JSON) is dropped like any
        // unreadable one rather than blocking every writer.
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let journal: Journal = match serde_json::from_slice(&bytes) {
            Ok(j) => j,
            Err(e) => {
                // It is written atomically, so only damage makes it unreadable. Whatever change
                // it named, the recovery that follows makes the working files and the tree
                // agree with the head commit, so dropping it loses nothing.
                tracing::warn!(
                    "dropping the unreadable change journal {}: {e}",
                    path.display()
                );
                return remove_journal(&path);
            }
        };
        let landed = self
            .repo
            .try_profile_head(&journal.profile)
            .is_some_and(|h| h.to_string() == journal.new);
        if landed {
            tracing::warn!("finishing an interrupted change ({})", journal.profile);
            self.exclusively(|| self.finish(&journal, inject_faults))?;
        } else {
            // Its tree, if finished, is a tree like any kept one (its mark says which state it
            // holds); pruning drops it when it is half-made or beyond the bound.
            tracing::warn!("dropping an interrupted change that was never recorded");
            self.repo.restore_worktree(self.head()?)?;
            remove_journal(&path)?;
        }
        self.prune_trees();
        Ok(())
    }

    /// The steps after the point of no return: current profile, deleted profile, working
    /// files, live tree; then the journal goes.
    fn finish(&self, journal: &Journal, inject_faults: bool) -> Result<()> {
        let fault = |point: &str| {
            if inject_faults {
                fault_point(point);
            }
        };
        if journal.switch_to && self.profile()? != journal.profile {
            self.repo.set_current_profile(&journal.profile)?;
        }
        if let Some((name, at)) = &journal.delete {
            if self
                .repo
                .try_profile_head(name)
                .is_some_and(|h| h.to_string() == *at)
            {
                self.repo.delete_profile(name)?;
            }
        }
        let head = self.head()?;
        if !journal.keep_work_files {
            self.repo.sync_worktree(head)?;
        }
        if journal.profile == self.profile()? {
            let manifest = self.repo.manifest_at(head)?;
            let made = journal
                .tree
                .as_ref()
                .map(|t| self.root.join(TREES_DIR).join(t));
            let digest = manifest_digest(&manifest);
            if let Some((dir, _)) = self.tree_to_switch_to(&manifest, &digest, made.as_deref())? {
                self.switch_tree(&dir)?;
            }
            fault("after-switch");
        }
        // Trees are pruned by the caller once readers may go on: no reader waits for unlinks.
        remove_journal(&self.journal_path())
    }
}

/// Changes: each needs the writer lock, which this guard proves is held.
impl WriteLock<'_> {
    /// Makes the working files and the live tree agree with the head commit. A tree that does
    /// not is a surprise here (a crash, a hand edit), so it is reported as a warning.
    pub fn recover(&self) -> Result<()> {
        self.match_head(false)
    }

    /// [`WriteLock::recover`] after this process moved the head itself (a pull's
    /// fast-forward): the tree is expected to differ, so remaking it is not a warning.
    pub fn follow_head(&self) -> Result<()> {
        self.match_head(true)
    }

    /// Whether `commit` carries an lvm event (it was not made by hand).
    fn is_recorded(&self, commit: Oid) -> bool {
        self.repo.commit_summary(commit).is_ok_and(|(message, _)| {
            Event::from_commit_message(&message, &commit.to_string()).is_ok()
        })
    }

    fn match_head(&self, head_moved_here: bool) -> Result<()> {
        self.recover_interrupted(false)?;
        let head = self.head()?;
        let manifest = self.repo.manifest_at(head)?;
        let dir = if self.tree_matches(&manifest) {
            None
        } else {
            if head_moved_here {
                tracing::info!("making the rocks tree of the new head");
            } else {
                tracing::warn!("the rocks tree does not match the recorded state; rebuilding it");
            }
            match self.tree_for(&manifest) {
                Ok((dir, _)) => Some(dir),
                // A recorded head names builds the store lacks (its entries were removed, or
                // the head came from a `git pull` made outside lvm). Failing here would block
                // every writer, including the ones that get out of it (`remove`, `install`,
                // `rollback`, `sync`, which make their own tree or say what cannot be
                // rebuilt), so the live tree stays. A head made by hand still fails: a change
                // on top would bury it under an event, so `lvm sync` must record or refuse it.
                Err(e @ (EnvError::NotInStore { .. } | EnvError::BadStoreKey { .. }))
                    if self.is_recorded(head) =>
                {
                    tracing::warn!(
                        "keeping the current rocks tree: the recorded state cannot be made from the store ({}); `lvm sync` rebuilds what it lacks",
                        crate::errors::error_text(&e)
                    );
                    None
                }
                Err(e) => return Err(e),
            }
        };
        self.exclusively(|| {
            self.repo.restore_worktree(head)?;
            if let Some(dir) = &dir {
                self.switch_tree(dir)?;
            }
            Ok(())
        })?;
        self.prune_trees();
        Ok(())
    }

    /// Moves `profile` from `from` to `to`, a commit that exists already (a pull's
    /// fast-forward), with the change protocol: the new tree first, then the journal, the
    /// checked ref update and the switch under the state lock, so readers never see the new
    /// log with the old tree and a crash is finished by the next lvm.
    pub fn fast_forward(&self, profile: &str, from: Oid, to: Oid, summary: &str) -> Result<()> {
        let target = self.repo.manifest_at(to)?;
        let new_tree = match profile == self.profile()? {
            true => self
                .tree_to_switch_to(&target, &manifest_digest(&target), None)?
                .map(|(dir, _)| dir),
            false => None,
        };
        let journal = Journal {
            profile: profile.to_string(),
            old: Some(from.to_string()),
            new: to.to_string(),
            tree: new_tree
                .as_ref()
                .and_then(|t| t.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
            switch_to: false,
            delete: None,
            keep_work_files: self.repo.place().keeps_work_files(),
        };
        write_journal(&self.journal_path(), &journal)?;
        self.exclusively(|| {
            if let Err(e) = self.repo.publish(profile, Some(from), to, summary) {
                let _ = fs::remove_file(self.journal_path());
                return Err(e.into());
            }
            fault_point("after-commit");
            self.finish(&journal, true)
        })?;
        self.prune_trees();
        Ok(())
    }

    /// Takes back a profile switch made by the same command whose follow-up failed, leaving
    /// no trace: the current profile goes back to `from` (whose history never saw the switch),
    /// the profile switched to goes back to `head_before` (or is deleted when the command
    /// created it: `None`), and the tree and working files follow the head again.
    ///
    /// It goes through the journal like any change, so a crash part-way is finished by the
    /// next lvm: switching back (and deleting a created profile) is journaled and done under
    /// the state lock; rewinding a profile that existed comes after, when the profile is no
    /// longer current, and a crash before it leaves only its extra switch event.
    pub fn take_back_switch(&self, from: &str, to: &str, head_before: Option<Oid>) -> Result<()> {
        let from_head = self.repo.profile_head(from)?;
        let to_head = self.repo.profile_head(to)?;
        let journal = Journal {
            profile: from.to_string(),
            old: Some(from_head.to_string()),
            new: from_head.to_string(),
            tree: None,
            switch_to: true,
            delete: head_before
                .is_none()
                .then(|| (to.to_string(), to_head.to_string())),
            keep_work_files: false,
        };
        write_journal(&self.journal_path(), &journal)?;
        self.exclusively(|| self.finish(&journal, false))?;
        if let Some(old) = head_before.filter(|old| *old != to_head) {
            self.repo
                .publish(to, Some(to_head), old, "lvm: take back a failed change")?;
        }
        self.prune_trees();
        Ok(())
    }

    /// Deletes every kept tree (all but the live one); returns how many. After damage was
    /// repaired: kept trees hard-link the same files as the store and the live tree did, so
    /// any of them may hold the damaged copy, and a rollback would make it live again.
    pub fn drop_kept_trees(&self) -> usize {
        let dropped = self
            .kept_trees()
            .iter()
            .filter(|kept| self.trash_tree(&kept.path).is_some())
            .count();
        self.prune_trees();
        dropped
    }

    /// Makes `dir` (a finished tree in `.trees/`) the live tree and the working files those of
    /// the head commit, as one step for readers.
    pub fn install_tree(&self, dir: &Path) -> Result<()> {
        self.exclusively(|| {
            self.repo.restore_worktree(self.head()?)?;
            self.switch_tree(dir)
        })?;
        self.prune_trees();
        Ok(())
    }

    /// The change protocol for an event on the current profile: tree beside the live one,
    /// commit, switch. On any error before the commit nothing has changed; after it, only the
    /// switch remains and recovery completes it.
    pub fn commit_change(
        &self,
        expected_head: Oid,
        event: Event,
        target: &Manifest,
        extra_parent: Option<Oid>,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<Oid> {
        let plan = ChangePlan {
            profile: self.profile()?,
            expected: Some(expected_head),
            parent: expected_head,
            extra_parent,
            event,
            target,
            switch_to: false,
            delete: None,
        };
        self.apply(plan, timings)
    }

    /// Applies one change: makes the new tree if the live one changes, writes the event's
    /// commit, records what is left to do in the journal, moves the profile (the point of no
    /// return), then finishes (current profile, working files, tree switch).
    pub fn apply(&self, plan: ChangePlan<'_>, timings: &mut BTreeMap<String, u64>) -> Result<Oid> {
        self.apply_with_config(plan, None, timings)
    }

    /// [`Environment::apply`], also replacing `lvm.toml` with `config` when given.
    pub fn apply_with_config(
        &self,
        plan: ChangePlan<'_>,
        config: Option<&EnvConfig>,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<Oid> {
        let ChangePlan {
            profile,
            expected,
            parent,
            extra_parent,
            mut event,
            target,
            switch_to,
            delete,
        } = plan;
        let affects_live = switch_to || profile == self.profile()?;
        let started = Instant::now();
        // Serialized and hashed once: the tree's mark, the commit and the head memo use both.
        let manifest_bytes = target.to_bytes();
        let digest = crate::digest::sha256_bytes(&manifest_bytes);
        let (new_tree, reused) = match affects_live {
            true => match self.tree_to_switch_to(target, &digest, None)? {
                Some((dir, reused)) => (Some(dir), reused),
                None => (None, false),
            },
            false => (None, false),
        };
        timings.insert("materialize".into(), started.elapsed().as_millis() as u64);
        // A kept tree stays kept when the change fails; a new one is of no use.
        let discard = |tree: &Option<PathBuf>| {
            if let Some(t) = tree.as_ref().filter(|_| !reused) {
                let _ = crate::tree::files::remove_tree(t);
            }
        };
        fault_point("before-commit");
        let started = Instant::now();
        let config_text = config.map(EnvConfig::to_toml);
        let state_tree =
            match self
                .repo
                .state_tree_of_bytes(parent, &manifest_bytes, config_text.as_deref())
            {
                Ok(t) => t,
                Err(e) => {
                    discard(&new_tree);
                    return Err(e.into());
                }
            };
        // The commit object holds the event, so its own writing cannot be timed into it: the
        // commit phase is the work before it (the state's git objects).
        timings.insert("commit".into(), started.elapsed().as_millis() as u64);
        event.durations_ms.extend(timings.clone());
        fill_phases(&mut event);
        let mut parents = vec![parent];
        parents.extend(extra_parent);
        let commit = match self.repo.commit_object(state_tree, &parents, &event) {
            Ok(c) => c,
            Err(e) => {
                discard(&new_tree);
                return Err(e.into());
            }
        };
        let journal = Journal {
            profile: profile.clone(),
            old: expected.map(|o| o.to_string()),
            new: commit.to_string(),
            tree: new_tree
                .as_ref()
                .and_then(|t| t.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
            switch_to,
            delete: delete.map(|(n, o)| (n, o.to_string())),
            keep_work_files: false,
        };
        if let Err(e) = write_journal(&self.journal_path(), &journal) {
            discard(&new_tree);
            return Err(e);
        }
        self.exclusively(|| {
            if let Err(e) =
                self.repo
                    .publish_state(&profile, expected, commit, &event.summary(), Some(&digest))
            {
                discard(&new_tree);
                let _ = fs::remove_file(self.journal_path());
                return Err(e.into());
            }
            tracing::info!(commit = %commit, profile = %profile, "recorded: {}", event.summary());
            fault_point("after-commit");
            self.finish(&journal, true)
        })?;
        self.prune_trees();
        self.repo.pack_after_change(pack_every());
        Ok(commit)
    }

    /// Records an event whose target state is `target` (computed by the caller); does nothing
    /// and returns `None` when the state would not change.
    pub fn record(
        &self,
        kind: EventKind,
        args: Vec<String>,
        target: Manifest,
        details: BTreeMap<String, String>,
        timings: BTreeMap<String, u64>,
        counts: (u32, u32),
    ) -> Result<Option<Oid>> {
        self.record_with_config(kind, args, target, None, details, timings, counts)
    }

    /// [`Environment::record`] for a state that may also change the settings: with `config`,
    /// `lvm.toml` becomes it in the same event. Does nothing and returns `None` when neither
    /// the packages nor the settings would change.
    #[allow(clippy::too_many_arguments)]
    pub fn record_with_config(
        &self,
        kind: EventKind,
        args: Vec<String>,
        target: Manifest,
        config: Option<&EnvConfig>,
        details: BTreeMap<String, String>,
        mut timings: BTreeMap<String, u64>,
        counts: (u32, u32),
    ) -> Result<Option<Oid>> {
        let head = self.head()?;
        let current = self.repo.manifest_at(head)?;
        let changes = manifest::diff(&current, &target);
        let config = match config {
            // A recorded value that no longer reads is replaced too.
            Some(c) if self.config_at(head).map_or(true, |old| old != *c) => Some(c),
            _ => None,
        };
        let lua_changed = current.lua != target.lua;
        if changes.is_empty() && config.is_none() && !lua_changed {
            return Ok(None);
        }
        let mut event = Event::new(kind, args, changes);
        if lua_changed {
            event.lua = Some(target.lua_version()?);
        }
        event.details.extend(details);
        event.store_hits = counts.0;
        event.builds = counts.1;
        let plan = ChangePlan {
            profile: self.profile()?,
            expected: Some(head),
            parent: head,
            extra_parent: None,
            event,
            target: &target,
            switch_to: false,
            delete: None,
        };
        let commit = self.apply_with_config(plan, config, &mut timings)?;
        Ok(Some(commit))
    }
}

/// Gives an event every phase of [`PHASES`], so readers of the log find them all.
pub(super) fn fill_phases(event: &mut Event) {
    for phase in PHASES {
        event.durations_ms.entry(phase.to_string()).or_insert(0);
    }
}

/// Writes the journal of a change (atomically: a torn journal is never read as one).
fn write_journal(path: &Path, journal: &Journal) -> Result<()> {
    let text = serde_json::to_vec(journal).map_err(|e| EnvError::Journal(e.into()))?;
    crate::fsutil::write_atomic(path, &text).map_err(EnvError::Journal)
}

/// Removes the journal of a finished or dropped change. The removal is not flushed: a crash can
/// only bring back the journal of a change that was already finished or dropped, and finishing
/// or dropping it again changes nothing (every step checks before it acts), so an fsync here
/// would buy nothing.
fn remove_journal(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        _ => Ok(()),
    }
}
