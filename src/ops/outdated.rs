//! `lvm list --outdated`: installed packages the rocks servers have newer versions of, each
//! with the newest version and the newest one the environment's constraints allow.

use serde::Serialize;

use crate::env::Environment;
use crate::manifest::{Manifest, PackageSource};
use crate::ops::Result;
use crate::ops::install::session::ServerChoice;
use crate::ops::search::{SearchScope, read_published};
use crate::version::{Constraints, Dependency, Version};

/// One installed package with a newer version on the servers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutdatedPackage {
    pub name: String,
    pub installed: String,
    /// The newest version this platform can use.
    pub latest: String,
    /// The newest version every constraint on the package allows (what `lvm upgrade` would
    /// pick for it alone); `None` when no published version fits them.
    pub allowed: Option<String>,
    /// The constraints on it: the one it was requested with and those of the installed
    /// packages that depend on it, joined with `, ` (empty for none).
    pub constraints: String,
    /// The server with the newest version.
    pub server: String,
}

/// The constraints on `name` in `manifest`: the requested one and every installed dependent's.
/// Pure.
pub fn constraints_on(manifest: &Manifest, name: &str) -> Vec<Constraints> {
    let mut out = Vec::new();
    if let Some(requested) = manifest
        .packages
        .get(name)
        .and_then(|p| p.reason.requested.as_deref())
        .filter(|c| !c.is_empty())
        .and_then(|c| Constraints::parse(c).ok())
    {
        out.push(requested);
    }
    for package in manifest.packages.values() {
        for dependency in &package.dependencies {
            if let Ok(dep) = Dependency::parse(dependency)
                && dep.name == name
                && !dep.constraints.is_any()
            {
                out.push(dep.constraints);
            }
        }
    }
    out
}

/// The installed packages (those that came from servers or rockspecs, not project folders)
/// whose newest published version is newer than the installed one, by name.
pub fn outdated(
    env: &Environment,
    scope: &SearchScope,
    choice: &ServerChoice,
) -> Result<Vec<OutdatedPackage>> {
    let manifest = env.manifest()?;
    let checked: Vec<(&String, &Version)> = manifest
        .packages
        .iter()
        .filter(|(_, p)| {
            !matches!(
                p.source,
                PackageSource::Local { .. } | PackageSource::Linked { .. }
            )
        })
        .map(|(name, p)| (name, &p.version))
        .collect();
    if checked.is_empty() {
        return Ok(vec![]);
    }
    let published = read_published(scope, choice, &|n| checked.iter().any(|(c, _)| *c == n))?;
    let mut out = Vec::new();
    for (name, installed) in checked {
        let Some((latest, server, _)) = published.newest(name, &|_| true) else {
            continue;
        };
        if latest <= *installed {
            continue;
        }
        let constraints = constraints_on(&manifest, name);
        let allowed = published
            .newest(name, &|v| constraints.iter().all(|c| c.matches(v)))
            .map(|(v, _, _)| v.to_string());
        out.push(OutdatedPackage {
            name: name.clone(),
            installed: installed.to_string(),
            latest: latest.to_string(),
            allowed,
            constraints: constraints
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            server: server.url().to_string(),
        });
    }
    Ok(out)
}
