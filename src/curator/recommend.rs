//! `lvm recommend`: suggestions, each with its reason and the one command that applies it.
//!
//! Rules: members missing from a collection the environment mostly has; test tools a
//! development profile lacks (and dev-only packages a production profile carries); newer
//! versions every installed constraint accepts; two packages of one same-purpose group;
//! orphans; installed packages whose dependencies conflict with the profile. Every rule reads
//! only the environment, the curated data and the configured servers' manifests.

use std::collections::BTreeSet;

use serde::Serialize;

pub use super::advice::{ActiveProfile, Recommendation};
use super::data::{Catalog, PlannedPackage, dependency_text};
use super::{Available, CuratorError, install_command, remove_command};
use crate::env::Environment;
use crate::manifest::{Manifest, PackageSource};
use crate::version::{Constraints, Dependency, Version};

#[derive(Debug, Clone, Default)]
pub struct RecommendOptions {
    /// Compare against this curated profile (default: the one the current profile branch was
    /// set up from, or the curated profile it is named after).
    pub profile: Option<String>,
    /// Compare with the production materialization (default: what the newest setup was).
    pub prod: Option<bool>,
    /// Do not read the rocks servers (no update suggestions).
    pub offline: bool,
    /// Scan this project folder's Lua code (`Some(None)`: the project the environment belongs
    /// to) for the `missing-module`, `unused` and `test-only` rules.
    pub scan: Option<Option<std::path::PathBuf>>,
}

/// Everything `lvm recommend` found.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendations {
    /// The curated profile compared with.
    pub profile: Option<ActiveProfile>,
    pub recommendations: Vec<Recommendation>,
    /// What `--scan` read, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanSummary>,
}

/// What a `--scan` read: the folder, how many Lua files and `require` calls, and the calls
/// whose module is computed (unknown).
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    pub dir: String,
    pub files: usize,
    pub requires: usize,
    pub unknown: Vec<super::usage::Use>,
}

/// The newest setup on the current profile branch; else the curated profile the branch is
/// named after (a development one).
pub fn active_profile(env: &Environment, catalog: &Catalog) -> Option<ActiveProfile> {
    if let Ok(events) = env.history(None) {
        for logged in events {
            if let Some((name, prod)) =
                super::setup::setup_of(logged.event.kind, &logged.event.args)
            {
                if catalog.profiles.contains_key(&name) {
                    return Some(ActiveProfile { name, prod });
                }
            }
        }
    }
    let branch = env.profile().ok()?;
    catalog
        .profiles
        .contains_key(&branch)
        .then_some(ActiveProfile {
            name: branch,
            prod: false,
        })
}

/// Computes every recommendation.
pub fn recommend(
    env: &Environment,
    catalog: &Catalog,
    options: &RecommendOptions,
) -> Result<Recommendations, CuratorError> {
    let manifest = env.manifest()?;
    let mut active = match &options.profile {
        Some(name) => {
            catalog.profile(name)?;
            let detected = active_profile(env, catalog).filter(|a| &a.name == name);
            Some(ActiveProfile {
                name: name.clone(),
                prod: detected.is_some_and(|a| a.prod),
            })
        }
        None => active_profile(env, catalog),
    };
    if let (Some(a), Some(prod)) = (active.as_mut(), options.prod) {
        a.prod = prod;
    }
    let mut out = Vec::new();
    out.extend(collection_gaps(catalog, &manifest));
    if let Some(active) = &active {
        let plan = catalog.plan(&active.name, false)?;
        out.extend(dev_tools(active, &plan, &manifest));
        out.extend(profile_conflicts(active, &plan, &manifest));
    }
    if !options.offline {
        let available = Available::from_servers(env);
        out.extend(updates(catalog, &manifest, &available));
    }
    out.extend(duplicates(catalog, &manifest));
    out.extend(orphans(&manifest));
    let scan = match &options.scan {
        None => None,
        Some(dir) => {
            let dir = match dir {
                Some(d) => d.clone(),
                None => project_of(env).ok_or_else(|| CuratorError::NoProjectToScan {
                    env: env.root().display().to_string(),
                })?,
            };
            let scan = super::usage::scan(&dir).map_err(|e| CuratorError::Scan {
                dir: dir.display().to_string(),
                cause: e.to_string(),
            })?;
            let installed = super::usage::Installed::read(env, &manifest);
            out.extend(super::usage::scan_recommendations(
                &scan,
                &installed,
                &super::usage::known_providers(env),
                &super::usage::test_tools(catalog, active.as_ref()),
                &super::usage::DevProfile::for_env(env, active.as_ref()),
            ));
            Some(ScanSummary {
                dir: scan.dir.display().to_string(),
                files: scan.files,
                requires: scan.uses.len(),
                unknown: scan.dynamic().cloned().collect(),
            })
        }
    };
    Ok(Recommendations {
        profile: active,
        recommendations: out,
        scan,
    })
}

/// The project a project-local environment (`PROJECT/.lvm`) belongs to.
pub fn project_of(env: &Environment) -> Option<std::path::PathBuf> {
    let root = env.root();
    (root.file_name()? == crate::config::LOCAL_ENV_DIR)
        .then(|| root.parent().map(|p| p.to_path_buf()))
        .flatten()
}

fn install_args(deps: impl IntoIterator<Item = Dependency>) -> Vec<String> {
    deps.into_iter().map(|d| dependency_text(&d)).collect()
}

/// Collections the environment has more than half of, but not all.
pub fn collection_gaps(catalog: &Catalog, manifest: &Manifest) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for collection in catalog.collections_by_priority() {
        let (have, missing): (Vec<_>, Vec<_>) = collection
            .packages
            .iter()
            .partition(|m| manifest.packages.contains_key(&m.name));
        if missing.is_empty() || have.len() * 2 <= collection.packages.len() {
            continue;
        }
        let why: Vec<String> = missing
            .iter()
            .map(|m| format!("{} ({})", m.name, m.rationale))
            .collect();
        out.push(Recommendation {
            rule: "collection",
            packages: missing.iter().map(|m| m.name.clone()).collect(),
            reason: format!(
                "you have {} of the {} packages of the {} collection ({}); it also has {}",
                have.len(),
                collection.packages.len(),
                collection.name,
                collection.summary,
                why.join("; ")
            ),
            command: install_command(&install_args(missing.iter().map(|m| Dependency {
                name: m.name.clone(),
                constraints: m.version.clone(),
            }))),
        });
    }
    out
}

/// A development profile without its test tools; a production one carrying them.
fn dev_tools(
    active: &ActiveProfile,
    plan: &[PlannedPackage],
    manifest: &Manifest,
) -> Vec<Recommendation> {
    let dev: Vec<&PlannedPackage> = plan.iter().filter(|p| p.dev).collect();
    if active.prod {
        // Dev-only packages that nothing outside the dev-only set needs.
        let mut extra: Vec<String> = dev
            .iter()
            .filter(|p| manifest.packages.contains_key(&p.name))
            .map(|p| p.name.clone())
            .collect();
        loop {
            let before = extra.len();
            let kept = extra.clone();
            extra.retain(|name| {
                manifest.packages[name]
                    .reason
                    .required_by
                    .iter()
                    .all(|by| kept.contains(by))
            });
            if extra.len() == before {
                break;
            }
        }
        if extra.is_empty() {
            return vec![];
        }
        return vec![Recommendation {
            rule: "prod-extras",
            reason: format!(
                "profile {} was set up for production, which leaves out dev-only packages, but {} installed",
                active.name,
                if extra.len() == 1 {
                    format!("{} is", extra[0])
                } else {
                    format!("{} are", extra.join(", "))
                }
            ),
            command: remove_command(&extra),
            packages: extra,
        }];
    }
    let missing: Vec<&&PlannedPackage> = dev
        .iter()
        .filter(|p| !manifest.packages.contains_key(&p.name))
        .collect();
    if missing.is_empty() {
        return vec![];
    }
    vec![Recommendation {
        rule: "dev-tools",
        packages: missing.iter().map(|p| p.name.clone()).collect(),
        reason: format!(
            "profile {} is a development profile, but lacks its test tools",
            active.name
        ),
        command: install_command(&install_args(missing.iter().map(|p| p.dependency()))),
    }]
}

/// Constraints installed packages put on `name`, as (who, dependency).
fn constraints_on<'a>(manifest: &'a Manifest, name: &str) -> Vec<(&'a str, Dependency)> {
    let mut out = Vec::new();
    for (who, package) in &manifest.packages {
        for text in &package.dependencies {
            if let Ok(dep) = Dependency::parse(text) {
                if dep.name == name {
                    out.push((who.as_str(), dep));
                }
            }
        }
    }
    out
}

/// Installed packages whose dependencies rule out what the profile asks for, and profile
/// members installed at a version the profile does not accept.
fn profile_conflicts(
    active: &ActiveProfile,
    plan: &[PlannedPackage],
    manifest: &Manifest,
) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for wanted in plan {
        if wanted.version.is_any() {
            continue;
        }
        let Some(installed) = manifest.packages.get(&wanted.name) else {
            continue;
        };
        if wanted.version.matches(&installed.version) {
            continue;
        }
        let blockers: Vec<(&str, Dependency)> = constraints_on(manifest, &wanted.name)
            .into_iter()
            .filter(|(_, dep)| {
                !dep.constraints.is_any() && !compatible(&dep.constraints, &wanted.version)
            })
            .collect();
        let wanted_text = dependency_text(&wanted.dependency());
        if blockers.is_empty() {
            out.push(Recommendation {
                rule: "profile-conflict",
                packages: vec![wanted.name.clone()],
                reason: format!(
                    "profile {} asks for {wanted_text}, but {} {} is installed",
                    active.name, wanted.name, installed.version
                ),
                command: install_command(&[wanted_text]),
            });
            continue;
        }
        let names: Vec<String> = blockers.iter().map(|(who, _)| who.to_string()).collect();
        let why: Vec<String> = blockers
            .iter()
            .map(|(who, dep)| format!("{who} needs {}", dependency_text(dep)))
            .collect();
        out.push(Recommendation {
            rule: "profile-conflict",
            packages: names.clone(),
            reason: format!(
                "profile {} asks for {wanted_text}, but {} (so {} {} is installed); remove {} or keep them out of this profile",
                active.name,
                why.join(", "),
                wanted.name,
                installed.version,
                if names.len() == 1 { "it" } else { "them" },
            ),
            command: remove_command(&names),
        });
    }
    out
}

/// Whether two constraint sets can both hold, judged on the versions they name: a version
/// mentioned by either that satisfies both proves it. Without one, they are treated as
/// conflicting, which is right for the bounds profiles and rockspecs write (`>= a` vs `< b`).
fn compatible(a: &Constraints, b: &Constraints) -> bool {
    let mut probes: Vec<Version> = Vec::new();
    for c in a.0.iter().chain(b.0.iter()) {
        probes.push(c.version.clone());
        // Just above a bound, for `> x` against `< y`.
        probes.extend(Version::parse(&format!("{}.0.0.1", c.version.upstream())).ok());
    }
    probes.sort();
    probes.dedup();
    probes.iter().any(|v| a.matches(v) && b.matches(v))
}

/// The newest published version every installed constraint on a package (its dependents', the
/// user's request, the curated one) accepts.
fn updates(catalog: &Catalog, manifest: &Manifest, available: &Available) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for (name, package) in &manifest.packages {
        if !matches!(package.source, PackageSource::Server { .. }) {
            continue;
        }
        let mut limits: Vec<Constraints> = constraints_on(manifest, name)
            .into_iter()
            .map(|(_, d)| d.constraints)
            .collect();
        let requested = package
            .reason
            .requested
            .as_deref()
            .and_then(|r| Constraints::parse(r).ok())
            .unwrap_or_default();
        limits.push(requested.clone());
        limits.push(catalog.curated_constraint(name));
        let Some((version, url)) = available.newest(name, |v| {
            *v > package.version && limits.iter().all(|c| c.matches(v))
        }) else {
            continue;
        };
        // Keep the user's own bounds (an upper one, say) and raise the floor.
        let mut constraints = Constraints::parse(&format!(">= {version}")).unwrap_or_default();
        constraints.0.extend(
            requested
                .0
                .into_iter()
                .filter(|c| !matches!(c.op, crate::version::Op::Ge | crate::version::Op::Gt)),
        );
        out.push(Recommendation {
            rule: "update",
            packages: vec![name.clone()],
            reason: format!(
                "{name} {version} is available on {url} (installed: {}); every installed constraint on {name} accepts it",
                package.version
            ),
            command: install_command(&install_args([Dependency {
                name: name.clone(),
                constraints,
            }])),
        });
    }
    out
}

/// Two or more requested members of one same-purpose group.
pub fn duplicates(catalog: &Catalog, manifest: &Manifest) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for group in catalog.groups.values() {
        let installed: Vec<&String> = group
            .members
            .iter()
            .filter(|m| manifest.packages.contains_key(*m))
            .collect();
        if installed.len() < 2 {
            continue;
        }
        let keep = installed[0];
        // Only what the user asked for and nothing needs can go.
        let removable: Vec<String> = installed[1..]
            .iter()
            .filter(|m| {
                let p = &manifest.packages[**m];
                p.is_requested() && p.reason.required_by.is_empty()
            })
            .map(|m| m.to_string())
            .collect();
        if removable.is_empty() {
            continue;
        }
        out.push(Recommendation {
            rule: "duplicate",
            packages: removable.clone(),
            reason: format!(
                "{} all do one job ({}); keep {keep} (listed first in group {}) and remove {}",
                installed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                group.purpose,
                group.name,
                removable.join(", ")
            ),
            command: remove_command(&removable),
        });
    }
    out
}

pub fn orphans(manifest: &Manifest) -> Vec<Recommendation> {
    let orphans = manifest.orphans();
    if orphans.is_empty() {
        return vec![];
    }
    let set: BTreeSet<&String> = orphans.iter().collect();
    vec![Recommendation {
        rule: "orphans",
        reason: format!(
            "{} {} installed, but nothing you asked for needs {}",
            set.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if orphans.len() == 1 { "is" } else { "are" },
            if orphans.len() == 1 { "it" } else { "them" },
        ),
        command: remove_command(&orphans),
        packages: orphans,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> Constraints {
        Constraints::parse(text).unwrap()
    }

    #[test]
    fn compatibility_of_bounds() {
        assert!(compatible(&c(">= 1.13"), &c(">= 1.0, < 2")));
        assert!(!compatible(&c(">= 1.13"), &c("< 1.13")));
        assert!(compatible(&c("== 1.14"), &c(">= 1.13")));
        assert!(!compatible(&c("== 1.12"), &c(">= 1.13")));
        assert!(compatible(&c("> 1.0"), &c("< 2")));
    }
}
