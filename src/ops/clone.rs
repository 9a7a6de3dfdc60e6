//! `lvm clone`: an environment's repository copied from a URL, its store entries rebuilt from
//! the recorded sources and its tree made; a failed clone leaves nothing behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use git2::{Oid, Repository};

use crate::env::{Environment, Home, OpenOptions};
use crate::envrepo::DEFAULT_PROFILE;
use crate::manifest::Manifest;
use crate::ops::remote::{ORIGIN, SharingError, fetch_all, normalize_url};
use crate::ops::sync::{SyncReport, check_commit, sync};

/// Whether a directory is missing or empty.
pub(super) fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(!path.exists(), |mut d| d.next().is_none())
}

/// The folder `lvm clone URL` makes when no path is given: the repository's name without
/// `.git`. Pure.
pub fn default_clone_dir(url: &str) -> PathBuf {
    let trimmed = url.trim_end_matches(['/', '\\']);
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
    let name = last.strip_suffix(".git").unwrap_or(last);
    PathBuf::from(if name.is_empty() { "env" } else { name })
}

/// What `lvm clone` made.
#[derive(Debug, Clone)]
pub struct CloneReport {
    pub path: PathBuf,
    pub profiles: Vec<String>,
    pub sync: SyncReport,
}

/// `lvm clone URL PATH`: fetches every profile, checks the head's manifest, then makes the tree,
/// fetching and building from the recorded sources whatever the store lacks.
pub fn clone(
    url: &str,
    path: &Path,
    home: Home,
    options: OpenOptions,
    lock_timeout: Duration,
) -> Result<CloneReport> {
    let url = normalize_url(url)?;
    if !is_empty_dir(path) {
        return Err(SharingError::DestinationNotEmpty {
            path: path.display().to_string(),
        }
        .into());
    }
    let created = !path.exists();
    let result = clone_repo(&url, path, &home, options);
    let env = match result {
        Ok(env) => env,
        Err(e) => {
            remove_clone(path, created);
            return Err(e);
        }
    };
    let manifest = match check_commit(&env, env.head()?) {
        Ok(m) => m,
        Err(e) => {
            remove_clone(path, created);
            return Err(SharingError::NotAnEnvironment {
                url,
                reason: format!("{e:#}"),
            }
            .into());
        }
    };
    let sync = first_tree(&env, &manifest)
        .and_then(|()| sync(&env, lock_timeout))
        .with_context(|| {
            format!(
                "the repository was cloned into {}, but its tree could not be made; fix the cause and run `lvm sync --env {}`",
                path.display(),
                path.display()
            )
        })?;
    Ok(CloneReport {
        path: env.root().to_path_buf(),
        profiles: env.repo().profiles()?,
        sync,
    })
}

/// A fresh clone has no tree yet: build what the store lacks and make the first one, so the
/// sync that follows finds the tree in place rather than "repairing" it.
pub(super) fn first_tree(env: &Environment, manifest: &Manifest) -> Result<()> {
    crate::ops::install::rebuild::ensure_in_store(env, manifest)?;
    let dir = env.materialize(manifest)?;
    crate::tree::switch_into_place(&dir, &env.tree_path())?;
    Ok(())
}

pub(super) fn remove_clone(path: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(path);
    } else if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_dir_all(entry.path())
                .or_else(|_| std::fs::remove_file(entry.path()));
        }
    }
}

/// Makes the repository: every remote profile becomes a local profile tracking it, and the
/// current profile is the remote's default (else `default`, else the first).
pub(super) fn clone_repo(
    url: &str,
    path: &Path,
    home: &Home,
    options: OpenOptions,
) -> Result<Environment> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head(DEFAULT_PROFILE);
    let repo = Repository::init_opts(path, &opts)
        .with_context(|| format!("creating a git repository in {}", path.display()))?;
    repo.remote(ORIGIN, url)
        .with_context(|| format!("adding remote '{ORIGIN}' ({url})"))?;
    let advertised = fetch_all(&repo, ORIGIN)?;
    let mut profiles: BTreeMap<String, Oid> = BTreeMap::new();
    for reference in repo.references_glob(&format!("refs/remotes/{ORIGIN}/*"))? {
        let reference = reference?;
        let (Ok(name), Some(target)) = (reference.name(), reference.target()) else {
            continue;
        };
        let profile = name.trim_start_matches(&format!("refs/remotes/{ORIGIN}/"));
        if profile != "HEAD" {
            profiles.insert(profile.to_string(), target);
        }
    }
    if profiles.is_empty() {
        return Err(SharingError::EmptyRemote { url: url.into() }.into());
    }
    for (profile, target) in &profiles {
        let commit = repo.find_commit(*target)?;
        let mut branch = repo.branch(profile, &commit, true)?;
        branch.set_upstream(Some(&format!("{ORIGIN}/{profile}")))?;
    }
    let current = initial_profile(advertised.as_deref(), &profiles);
    repo.set_head(&format!("refs/heads/{current}"))?;
    drop(repo);
    Environment::open_with(path, home.clone(), options).map_err(|e| {
        SharingError::NotAnEnvironment {
            url: url.into(),
            reason: format!("{e:#}"),
        }
        .into()
    })
}

/// The profile a clone starts on. Pure.
pub(super) fn initial_profile(
    advertised: Option<&str>,
    profiles: &BTreeMap<String, Oid>,
) -> String {
    advertised
        .filter(|a| profiles.contains_key(*a))
        .or_else(|| {
            profiles
                .contains_key(DEFAULT_PROFILE)
                .then_some(DEFAULT_PROFILE)
        })
        .or_else(|| profiles.keys().next().map(String::as_str))
        .unwrap_or(DEFAULT_PROFILE)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_dir_is_the_repository_name() {
        assert_eq!(
            default_clone_dir("file:///srv/team.git"),
            PathBuf::from("team")
        );
        assert_eq!(
            default_clone_dir("git@host:envs/web.git/"),
            PathBuf::from("web")
        );
        assert_eq!(default_clone_dir("/srv/x"), PathBuf::from("x"));
        assert_eq!(default_clone_dir("/"), PathBuf::from("env"));
    }

    #[test]
    fn initial_profile_prefers_the_advertised_one() {
        let mut p = BTreeMap::new();
        p.insert("ci".to_string(), Oid::ZERO_SHA1);
        p.insert("default".to_string(), Oid::ZERO_SHA1);
        assert_eq!(initial_profile(Some("ci"), &p), "ci");
        assert_eq!(initial_profile(Some("master"), &p), "default");
        p.remove("default");
        assert_eq!(initial_profile(None, &p), "ci");
    }
}
