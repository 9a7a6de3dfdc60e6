//! `lvm push`: the current profile (or every profile) sent to a remote; refused when the
//! remote has events this environment lacks.

use anyhow::Result;
use git2::PushOptions;

use crate::env::Environment;
use crate::ops::remote::{
    Relation, SharingError, callbacks, fetch_all, find_remote, relation, resolve_remote,
    tracking_head, transfer_error,
};

/// What to push.
#[derive(Debug, Clone)]
pub enum PushWhich {
    Current,
    Profile(String),
    /// Every profile except local copies of remote profiles (`origin/default`).
    All,
}

/// One profile's outcome of a push.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub profile: String,
    /// The remote's commit before (None: the profile is new there).
    pub from: Option<String>,
    pub to: String,
}

/// Pushes profiles to a remote. Refuses, before sending anything, when the remote has events
/// the local profile lacks (pull and merge first): pushes never overwrite history.
pub fn push(env: &Environment, remote: Option<&str>, which: &PushWhich) -> Result<Vec<Pushed>> {
    let repo = env.repo().git();
    let remote_name = resolve_remote(repo, remote, "push")?;
    let profiles = match which {
        PushWhich::Current => vec![env.profile()?],
        PushWhich::Profile(p) => {
            if !env.repo().profiles()?.contains(p) {
                return Err(SharingError::UnknownProfile { name: p.clone() }.into());
            }
            vec![p.clone()]
        }
        PushWhich::All => env
            .repo()
            .profiles()?
            .into_iter()
            .filter(|p| !p.contains('/'))
            .collect(),
    };
    fetch_all(repo, &remote_name)?;
    let mut plan = Vec::new();
    for profile in &profiles {
        let local = env.repo().profile_head(profile)?;
        let theirs = tracking_head(repo, &remote_name, profile);
        match theirs.map(|t| relation(repo, local, t)).transpose()? {
            Some(Relation::Same) => {}
            Some(Relation::Behind(behind) | Relation::Diverged { behind, .. }) => {
                return Err(SharingError::PushBehind {
                    profile: profile.clone(),
                    remote: remote_name.clone(),
                    behind,
                }
                .into());
            }
            None | Some(Relation::Ahead(_)) => plan.push(Pushed {
                profile: profile.clone(),
                from: theirs.map(|t| t.to_string()),
                to: local.to_string(),
            }),
        }
    }
    if plan.is_empty() {
        return Ok(plan);
    }
    let mut remote = find_remote(repo, &remote_name)?;
    let url = remote.url().unwrap_or("").to_string();
    crate::fetch::git_http::ensure_registered()
        .map_err(|e| transfer_error("pushing to", &url, &e))?;
    let rejections = std::cell::RefCell::new(Vec::new());
    {
        let mut cb = callbacks();
        cb.push_update_reference(|reference, status| {
            if let Some(message) = status {
                rejections
                    .borrow_mut()
                    .push((reference.to_string(), message.to_string()));
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cb);
        let refspecs: Vec<String> = plan
            .iter()
            .map(|p| format!("refs/heads/{0}:refs/heads/{0}", p.profile))
            .collect();
        remote
            .push(&refspecs, Some(&mut opts))
            .map_err(|e| transfer_error("pushing to", &url, &e))?;
    }
    if let Some((reference, message)) = rejections.into_inner().into_iter().next() {
        return Err(SharingError::PushRejected {
            remote: remote_name,
            reference,
            message,
        }
        .into());
    }
    Ok(plan)
}
