//! Rebuilding recorded packages: a state's packages that the store lacks, built again from
//! the sources its manifest records, with the recorded hashes and commits checked.

use crate::env::Environment;
use crate::fetch;
use crate::manifest::{Manifest, Package, PackageSource};
use std::path::PathBuf;

use crate::ops::install::candidates::{fetch_rockspec_text, rock_rockspec_text};
use crate::ops::install::prepare::{Expected, SourceHint, build_into_store, server_hint};
use crate::ops::install::session::{ServerChoice, Session, fresh_dir};
use crate::ops::{Error, MissingBuild, MissingIn, Result};
use crate::report::Readiness;
use crate::rockspec::Rockspec;
use crate::store::StoreKey;

/// Rebuilds into the store every package of `manifest` (the state `state` names) that the
/// store lacks, from the sources recorded in the manifest, verifying the recorded hashes and
/// commits. Returns how many it rebuilt. Every missing package is tried; those that cannot be
/// rebuilt (source gone, version no longer published, bytes changed, an entry that names
/// nothing buildable) are reported together in one [`Error::MissingBuilds`], and the store
/// keeps what could be built (entries are content-addressed, so that changes no state).
pub fn ensure_in_store(env: &Environment, manifest: &Manifest, state: MissingIn) -> Result<usize> {
    let store = env.home().store()?;
    let missing: Vec<(&String, &Package)> = manifest
        .packages
        .iter()
        .filter(|(_, p)| {
            StoreKey::parse(&p.store_key).map_or(true, |k| !matches!(store.get(&k), Ok(Some(_))))
        })
        .collect();
    if missing.is_empty() {
        return Ok(0);
    }
    // The builds are for the state's Lua, which a rollback target may not share with the head.
    let interpreter = env.interpreter_for(manifest.lua_version()?)?;
    let session = Session::open_for(env, &ServerChoice::default(), &interpreter)?;
    let mut failed = Vec::new();
    for (name, package) in &missing {
        match rebuild_recorded(&session, name, package) {
            Ok(()) => env
                .reporter()
                .package_ready(name, &package.version, Readiness::Rebuilt),
            Err(error) => failed.push(MissingBuild {
                name: name.to_string(),
                version: package.version.clone(),
                key: package.store_key.clone(),
                error,
            }),
        }
    }
    if !failed.is_empty() {
        return Err(Error::MissingBuilds {
            state,
            missing: failed,
        });
    }
    Ok(missing.len())
}

/// Rebuilds one recorded package from the source its record names.
pub(in crate::ops) fn rebuild_recorded(
    session: &Session,
    name: &str,
    package: &Package,
) -> Result<()> {
    let key = StoreKey::parse(&package.store_key).map_err(|source| {
        crate::env::EnvError::BadStoreKey {
            name: name.to_string(),
            source,
        }
    })?;
    // The recorded key is all a cache needs: no sources are fetched for a cache hit.
    let cached = session
        .caches
        .fetch_into_store(&session.store, &session.pins, &key)?;
    if cached.is_some() {
        return Ok(());
    }
    let (text, hint, expected) = match &package.source {
        PackageSource::Server {
            server,
            rockspec_sha256,
            sha256,
            commit,
            ..
        } => {
            let (server, arches) = session.published(server, name, &package.version)?;
            let text = fetch_rockspec_text(
                &server,
                name,
                &package.version,
                &arches,
                session.scratch.path(),
            )?;
            check_sha(name, "rockspec", rockspec_sha256, &text)?;
            let expected = Expected {
                sha256: sha256.clone(),
                commit: commit.clone(),
            };
            (text, server_hint(&server, &arches), expected)
        }
        PackageSource::Rockspec {
            path,
            rockspec_sha256,
            sha256,
            commit,
            ..
        } => {
            let text = recorded_rockspec_text(session, path)?;
            check_sha(name, "rockspec", rockspec_sha256, &text)?;
            let expected = Expected {
                sha256: sha256.clone(),
                commit: commit.clone(),
            };
            (text, SourceHint::Remote, expected)
        }
        PackageSource::Rock {
            path,
            sha256,
            rockspec_sha256,
        } => {
            // A rock downloaded from a URL is fetched again (and checked against its sha256).
            let rock = match path.contains("://") {
                true => session.download_to_scratch(path)?,
                false => PathBuf::from(path),
            };
            let text = rock_rockspec_text(&rock, &fresh_dir(session, "rock-")?)?;
            check_sha(name, "rockspec", rockspec_sha256, &text)?;
            let expected = Expected {
                sha256: Some(sha256.clone()),
                commit: None,
            };
            (text, SourceHint::LocalRock { path: rock }, expected)
        }
        PackageSource::Git {
            url,
            commit,
            rockspec,
            rockspec_sha256,
        } => {
            let checkout = fresh_dir(session, "git-")?;
            fetch::git::fetch_git(url, fetch::git::GitRef::Commit(commit), &checkout)?;
            let text = std::fs::read_to_string(checkout.join(rockspec)).map_err(|source| {
                Error::GitSourceLacksRockspec {
                    url: url.clone(),
                    commit: commit.clone(),
                    rockspec: rockspec.clone(),
                    source,
                }
            })?;
            check_sha(name, "rockspec", rockspec_sha256, &text)?;
            (text, SourceHint::Dir(checkout), Expected::default())
        }
        PackageSource::Local { .. } | PackageSource::Linked { .. } => {
            let prepared =
                crate::fetch::project::prepare_recorded(name, package, session.scratch.path())?;
            let hint = SourceHint::Local {
                dir: prepared.build_dir,
                links: prepared.links,
            };
            (prepared.text, hint, Expected::default())
        }
    };
    let rockspec = Rockspec::from_lua(&text, &format!("{name}-{}.rockspec", package.version))?;
    let retry_from_source_url = matches!(
        (&package.source, &hint),
        (PackageSource::Server { .. }, SourceHint::Rock { .. })
    );
    let built = build_into_store(
        session,
        name,
        &text,
        &rockspec,
        package.source.clone(),
        hint,
        &key,
        &expected,
    );
    match built {
        // Installed from `source.url` before the server published a `.src.rock` (or by an lvm
        // that preferred the rockspec): the recorded digest is the archive's, so fetch that.
        Err(Error::Fetch(fetch::FetchError::Sha256Mismatch { .. })) if retry_from_source_url => {
            build_into_store(
                session,
                name,
                &text,
                &rockspec,
                package.source.clone(),
                SourceHint::Remote,
                &key,
                &expected,
            )?;
        }
        other => {
            other?;
        }
    }
    Ok(())
}

pub(in crate::ops) fn check_sha(name: &str, what: &str, expected: &str, text: &str) -> Result<()> {
    let actual = crate::digest::sha256_bytes(text.as_bytes());
    if actual != expected {
        return Err(Error::Republished {
            name: name.to_string(),
            what: what.to_string(),
            recorded: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

/// The text of a rockspec a package was installed from: a file, or a URL fetched again.
fn recorded_rockspec_text(session: &Session, path: &str) -> Result<String> {
    let unreadable = |source| Error::RecordedRockspecUnreadable {
        path: path.to_string(),
        source,
    };
    if !path.contains("://") {
        return std::fs::read_to_string(path).map_err(unreadable);
    }
    let file = session.download_to_scratch(path)?;
    std::fs::read_to_string(&file).map_err(unreadable)
}
