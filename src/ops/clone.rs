//! `lvm clone`: an environment's repository copied from a URL, its store entries rebuilt from
//! the recorded sources and its tree made; a failed clone leaves nothing behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env::{Environment, Home, OpenOptions};
use crate::envrepo::remotes::{SharingError, clone_repository, normalize_url};
use crate::errors::error_text;
use crate::manifest::Manifest;
use crate::ops::sync::{SyncReport, check_commit, sync};
use crate::ops::{Error, Result, fs_error};

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
    if !crate::fsutil::is_empty_dir(path) {
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
            crate::fsutil::undo_fill(path, created);
            return Err(e);
        }
    };
    let manifest = match check_commit(&env, env.head()?) {
        Ok(m) => m,
        Err(e) => {
            crate::fsutil::undo_fill(path, created);
            return Err(SharingError::NotAnEnvironment {
                url,
                reason: error_text(&e),
            }
            .into());
        }
    };
    let sync = first_tree(&env, &manifest)
        .and_then(|()| sync(&env, lock_timeout))
        .map_err(|source| Error::ClonedWithoutTree {
            path: path.to_path_buf(),
            source: Box::new(source),
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
    let state = crate::ops::MissingIn::Fetched {
        commit: crate::envrepo::short(env.head()?),
    };
    crate::ops::install::rebuild::ensure_in_store(env, manifest, state)?;
    let dir = env.materialize(manifest)?;
    crate::tree::switch_into_place(&dir, &env.tree_path())?;
    Ok(())
}

/// Makes the repository (see [`clone_repository`]) and opens it as an environment.
pub(super) fn clone_repo(
    url: &str,
    path: &Path,
    home: &Home,
    options: OpenOptions,
) -> Result<Environment> {
    std::fs::create_dir_all(path).map_err(fs_error("create", path))?;
    clone_repository(url, path)?;
    let env = Environment::open_with(path, home.clone(), options).map_err(|e| {
        SharingError::NotAnEnvironment {
            url: url.into(),
            reason: error_text(&e),
        }
    })?;
    env.register_merge_driver();
    Ok(env)
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
}
