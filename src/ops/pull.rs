//! `lvm pull`: a remote's events for the current profile fetched and fast-forwarded, the
//! store filled from their recorded sources, and the tree made to match. In a project the
//! committed files stay the desired state: the pulled history goes under them, and when they
//! ask for another state it is recorded on top as a `sync` event.

use std::time::Duration;

use crate::env::{Environment, WorkFiles};
use crate::envrepo::remotes::{Relation, SharingError, remote_copy_profile};
use crate::manifest::{self, Change};
use crate::ops::sync::{SyncReport, check_commit, finish_sync, record_work_files};
use crate::ops::{Error, Result};

/// What `lvm pull` did.
#[derive(Debug, Clone)]
pub struct PullReport {
    pub remote: String,
    pub relation: Relation,
    /// The package changes the fast-forward brought.
    pub changes: Vec<Change>,
    pub sync: SyncReport,
    /// Tags of the remote this environment did not have, now made here.
    pub new_tags: Vec<String>,
    /// Tags the remote has at another commit than here: the local ones stay.
    pub kept_tags: Vec<String>,
}

/// `lvm pull`: fetches the remote and fast-forwards the current profile when it can. When the
/// histories diverged, the remote's state goes into profile `<remote>/<profile>` and the pull
/// is refused with what to do. Then the tree is synced.
pub fn pull(env: &Environment, remote: Option<&str>, lock_timeout: Duration) -> Result<PullReport> {
    let repo = env.repo();
    let remote_name = repo.resolve_remote(remote, "pull")?;
    // A project's changed files are recorded at the end, on top of what was pulled.
    let lock = env.lock_keeping_work_files(lock_timeout)?;
    repo.fetch_remote(&remote_name)?;
    let (new_tags, kept_tags) = repo.adopt_remote_tags(&remote_name)?;
    let profile = env.profile()?;
    let local = env.head()?;
    let theirs = repo.tracking_head(&remote_name, &profile).ok_or_else(|| {
        SharingError::RemoteLacksProfile {
            remote: remote_name.clone(),
            profile: profile.clone(),
        }
    })?;
    let rel = match repo.relation(local, theirs)? {
        Relation::Diverged { behind, .. } if started_here_alone(env, local, theirs)? => {
            Relation::Behind(behind)
        }
        rel => rel,
    };
    let mut changes = Vec::new();
    match rel {
        Relation::Same | Relation::Ahead(_) => {}
        Relation::Behind(_) => {
            let target = check_commit(env, theirs)?;
            crate::ops::install::rebuild::ensure_in_store(
                env,
                &target,
                crate::ops::MissingIn::Fetched {
                    commit: crate::envrepo::short(theirs),
                },
            )?;
            changes = manifest::diff(&env.manifest()?, &target);
            lock.fast_forward(
                &profile,
                local,
                theirs,
                &format!("lvm pull {remote_name}: fast-forward"),
            )?;
        }
        Relation::Diverged { ahead, behind } => {
            // Ready for `lvm profile merge`: its state checked and its rocks in the store.
            let target = check_commit(env, theirs)?;
            crate::ops::install::rebuild::ensure_in_store(
                env,
                &target,
                crate::ops::MissingIn::Fetched {
                    commit: crate::envrepo::short(theirs),
                },
            )?;
            let copy = remote_copy_profile(&remote_name, &profile);
            env.repo()
                .force_profile(&copy, theirs)
                .map_err(|source| Error::CreatingProfile {
                    name: copy.clone(),
                    source: Box::new(source.into()),
                })?;
            return Err(SharingError::Diverged {
                profile,
                remote: remote_name,
                ahead,
                behind,
                copy,
            }
            .into());
        }
    }
    // The config may have changed with the new head: read the environment again.
    let fresh = env.reopen()?;
    let fresh = lock.for_reopened(&fresh)?;
    fresh.follow_head()?;
    if fresh.work_files()? == WorkFiles::Changed {
        let before = fresh.manifest()?;
        record_work_files(&fresh, false, 0)?;
        changes = manifest::diff(&before, &fresh.manifest()?);
    }
    let sync = finish_sync(&fresh)?;
    Ok(PullReport {
        remote: remote_name,
        relation: rel,
        changes,
        sync,
        new_tags,
        kept_tags,
    })
}

/// Whether the local history shares nothing with the remote's and was started here from a
/// project's committed files (a clone's first lvm command, before any pull): then the remote's
/// history replaces it, as if the clone had fetched it first, and the committed files are
/// recorded on top.
fn started_here_alone(env: &Environment, local: git2::Oid, theirs: git2::Oid) -> Result<bool> {
    let repo = env.repo();
    if repo.merge_base(local, theirs)?.is_some() {
        return Ok(false);
    }
    let Some(first) = repo.first_parent_chain(local)?.first().copied() else {
        return Ok(false);
    };
    let event = repo.log(first, Some(1))?;
    Ok(event.first().is_some_and(|e| {
        e.event
            .details
            .contains_key(crate::env::STARTED_FROM_DETAIL)
    }))
}
