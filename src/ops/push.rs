//! `lvm push`: the current profile (or every profile) sent to a remote; refused when the
//! remote has events this environment lacks.

use crate::env::Environment;
use crate::envrepo::remotes::{Relation, SharingError};
use crate::envrepo::short;
use crate::ops::{Error, Result};

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

/// What a push sent: the profiles that moved and the tags the remote lacked.
#[derive(Debug, Clone, Default)]
pub struct PushOutcome {
    pub profiles: Vec<Pushed>,
    /// Tags sent (the remote had none of that name, or one naming another commit, which it
    /// refuses: tags never move).
    pub tags: Vec<String>,
}

impl PushOutcome {
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty() && self.tags.is_empty()
    }
}

/// Pushes profiles, and every tag the remote lacks, to a remote. Refuses, before sending
/// anything, when the remote has events the local profile lacks (pull and merge first): pushes
/// never overwrite history.
pub fn push(env: &Environment, remote: Option<&str>, which: &PushWhich) -> Result<PushOutcome> {
    let repo = env.repo();
    let remote_name = repo.resolve_remote(remote, "push")?;
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
    repo.fetch_remote(&remote_name)?;
    let mut plan = Vec::new();
    for profile in &profiles {
        let local = env.repo().profile_head(profile)?;
        let theirs = repo.tracking_head(&remote_name, profile);
        match theirs.map(|t| repo.relation(local, t)).transpose()? {
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
    let theirs = repo.remote_tags(&remote_name)?;
    let mut tags = Vec::new();
    for tag in repo.tags()? {
        match theirs.get(&tag.name) {
            Some(there) if *there == tag.commit => {}
            // Tags never move: refused before anything is sent.
            Some(there) => {
                return Err(Error::TagElsewhereOnRemote {
                    tag: tag.name,
                    remote: remote_name,
                    here: short(tag.commit),
                    there: short(*there),
                });
            }
            None => tags.push(tag.name),
        }
    }
    if plan.is_empty() && tags.is_empty() {
        return Ok(PushOutcome::default());
    }
    let profiles: Vec<String> = plan.iter().map(|p| p.profile.clone()).collect();
    repo.push_profiles(&remote_name, &profiles, &tags)?;
    Ok(PushOutcome {
        profiles: plan,
        tags,
    })
}
