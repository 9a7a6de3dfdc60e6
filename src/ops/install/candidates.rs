//! Candidates for the resolver: server packages, local rockspecs, git sources and what is
//! installed, with where each exact version's build would come from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::fetch::{self, ExtractLimits};
use crate::manifest::Package;
use crate::ops::install::prepared::EarlyBuilds;
use crate::ops::{Error, Result, fs_error};
use crate::registry::ServerManifest;
use crate::resolve;
use crate::rockspec::{Rockspec, RockspecMemo};
use crate::server::RocksServer;
use crate::version::{Dependency, Version};

/// A target ready for resolution (`Session::fetch_target`), applied to the candidates of every
/// plan of the change with [`Candidates::pin_target`].
#[derive(Debug, Clone)]
pub(in crate::ops) struct TargetPin {
    /// What the target requires: the package with the user's constraint, or the exact version
    /// of a rockspec, rock, git source or project.
    pub(in crate::ops) requirement: Dependency,
    /// The only candidate for the package, when the target is not a package name.
    pub(in crate::ops) pinned: Option<Pinned>,
    /// A package name without a constraint: installing it again keeps the constraint it was
    /// requested with.
    pub(in crate::ops) bare: bool,
}

/// Where the build of one exact package comes from.
#[derive(Debug, Clone)]
pub(in crate::ops) enum Origin {
    /// Published on a rocks server with these arches.
    Server { server: usize, arches: Vec<String> },
    /// A rockspec file on disk.
    LocalRockspec { path: PathBuf },
    /// A rockspec downloaded from `url` into `path` (recorded as the URL).
    RockspecUrl { url: String, path: PathBuf },
    /// A rock file on disk (source or binary) with the text of the rockspec inside it, and
    /// where it is recorded as coming from (its path, or the URL it was downloaded from).
    LocalRock {
        path: PathBuf,
        text: String,
        recorded: String,
    },
    /// A git checkout at a commit, with the rockspec's path inside.
    Git {
        url: String,
        commit: String,
        checkout: PathBuf,
        rockspec: String,
    },
    /// Already installed: its record, reused as it is.
    Installed(Box<Package>),
    /// A project directory (`lvm make`, `lvm link`).
    Local(crate::fetch::project::LocalTarget),
}

/// A fixed candidate (local rockspec, git source, installed package) with known dependencies.
#[derive(Debug, Clone)]
pub(in crate::ops) struct Pinned {
    pub(in crate::ops) version: Version,
    pub(in crate::ops) dependencies: Vec<Dependency>,
    pub(in crate::ops) origin: Origin,
}

/// Candidates from servers plus pinned ones, implementing the resolver's source.
pub(in crate::ops) struct Candidates<'a> {
    pub(in crate::ops) servers: &'a [(RocksServer, ServerManifest)],
    pub(in crate::ops) pinned: BTreeMap<String, Vec<Pinned>>,
    /// Overrides for packages the user asked for from a local rockspec or git: only the
    /// pinned version is a candidate.
    pub(in crate::ops) exclusive: BTreeSet<String>,
    pub(in crate::ops) rockspecs: Mutex<HashMap<(String, String), (String, Rockspec)>>,
    /// Server rockspecs evaluated by earlier commands.
    pub(in crate::ops) memo: RockspecMemo,
    pub(in crate::ops) scratch: &'a Path,
    /// Builds started before the resolution ended, for the preparation to adopt.
    pub(in crate::ops) early: EarlyBuilds,
}

impl Pinned {
    /// A package record as a candidate reused as it is, with the dependencies it lists.
    fn of_record(package: &Package) -> Pinned {
        Pinned {
            version: package.version.clone(),
            dependencies: package
                .dependencies
                .iter()
                .filter_map(|d| Dependency::parse(d).ok())
                .collect(),
            origin: Origin::Installed(Box::new(package.clone())),
        }
    }
}

impl Candidates<'_> {
    /// Makes an installed (or another profile's) package a candidate, with the dependencies
    /// its record lists, so it resolves without any server.
    pub(in crate::ops) fn pin_installed(&mut self, name: &str, package: &Package) {
        let list = self.pinned.entry(name.to_string()).or_default();
        if list.iter().any(|p| p.version == package.version) {
            return;
        }
        list.push(Pinned::of_record(package));
    }

    /// Applies a target: its candidate (a rockspec, rock, git source or project) becomes the
    /// only one of its version and of its package.
    pub(in crate::ops) fn pin_target(&mut self, target: &TargetPin) {
        let Some(pinned) = &target.pinned else {
            return;
        };
        let name = &target.requirement.name;
        let list = self.pinned.entry(name.clone()).or_default();
        list.retain(|p| p.version != pinned.version);
        list.push(pinned.clone());
        self.exclusive.insert(name.clone());
    }

    /// Offers the records an earlier plan of the same change prepared (their store entries
    /// pinned by its session) as they are, in place of any other candidate of the same
    /// version, so planning again after another writer moved the head fetches and builds
    /// nothing for them.
    pub(in crate::ops) fn reuse_prepared(&mut self, prepared: &BTreeMap<String, Package>) {
        for (name, package) in prepared {
            let list = self.pinned.entry(name.clone()).or_default();
            list.retain(|p| p.version != package.version);
            list.push(Pinned::of_record(package));
        }
    }

    pub(in crate::ops) fn server_versions(&self, name: &str) -> Vec<(Version, usize, Vec<String>)> {
        let mut out: Vec<(Version, usize, Vec<String>)> = Vec::new();
        for (i, (_, manifest)) in self.servers.iter().enumerate() {
            if let Some(versions) = manifest.packages.get(name) {
                for (v, arches) in versions {
                    if !out.iter().any(|(seen, _, _)| seen == v) && usable_arches(arches) {
                        out.push((v.clone(), i, arches.clone()));
                    }
                }
            }
        }
        out
    }

    pub(in crate::ops) fn origin(&self, name: &str, version: &Version) -> Option<Origin> {
        if let Some(p) = self
            .pinned
            .get(name)
            .and_then(|ps| ps.iter().find(|p| &p.version == version))
        {
            return Some(p.origin.clone());
        }
        self.server_versions(name)
            .into_iter()
            .find(|(v, _, _)| v == version)
            .map(|(_, server, arches)| Origin::Server { server, arches })
    }

    /// The rockspec text and parsed rockspec of a server package (cached).
    pub(in crate::ops) fn server_rockspec(
        &self,
        name: &str,
        version: &Version,
    ) -> Result<(String, Rockspec)> {
        let key = (name.to_string(), version.to_string());
        if let Some(hit) = self.rockspecs.lock().expect("not poisoned").get(&key) {
            return Ok(hit.clone());
        }
        let Some(Origin::Server { server, arches }) = self.origin(name, version) else {
            return Err(Error::NotOnAnyServer {
                name: name.to_string(),
                version: version.clone(),
            });
        };
        let server = &self.servers[server].0;
        let text = fetch_rockspec_text(server, name, version, &arches, self.scratch)?;
        let rockspec = self
            .memo
            .from_lua(&text, &format!("{name}-{version}.rockspec"))?;
        self.rockspecs
            .lock()
            .expect("not poisoned")
            .insert(key, (text.clone(), rockspec.clone()));
        Ok((text, rockspec))
    }
}

impl Candidates<'_> {
    /// Fetches side by side the server rockspecs the resolver is about to ask for one at a
    /// time: from `roots`, level by level, the version each dependency most likely resolves to
    /// ([`likely_version`]). A pinned version that fits (an installed one) is not fetched, its
    /// dependencies being known, and `skip` (the Lua and what it provides) is left out. A wrong
    /// guess costs one request; failures are left for the resolver to meet and report. Each
    /// rockspec is handed to `fetched` as soon as it arrives (to start its build early,
    /// [`crate::ops::install::early`]).
    pub(in crate::ops) fn prefetch_rockspecs(
        &self,
        roots: &[Dependency],
        skip: &BTreeSet<String>,
        allow_development: bool,
        fetched: &(dyn Fn(&str, &Version) + Sync),
    ) {
        let mut seen: BTreeSet<String> = skip.clone();
        let mut level: Vec<Dependency> = roots.to_vec();
        while !level.is_empty() {
            let mut fetch = Vec::new();
            let mut next = Vec::new();
            for dep in level {
                if !seen.insert(dep.name.clone()) {
                    continue;
                }
                // An installed (or otherwise pinned) version that fits is what the resolver
                // keeps: its dependencies are known, and the server's newer rockspecs are
                // never asked for.
                let pinned: Vec<&Pinned> = self
                    .pinned
                    .get(&dep.name)
                    .map(|ps| ps.iter().filter(|p| dep.matches(&p.version)).collect())
                    .unwrap_or_default();
                next.extend(pinned.iter().flat_map(|p| p.dependencies.iter().cloned()));
                if !pinned.is_empty() || self.exclusive.contains(&dep.name) {
                    continue;
                }
                let versions: Vec<Version> = self
                    .server_versions(&dep.name)
                    .into_iter()
                    .map(|(v, _, _)| v)
                    .collect();
                if let Some(version) = likely_version(&versions, &dep, allow_development) {
                    fetch.push((dep.name, version));
                }
            }
            let rockspecs = self.fetch_rockspecs_side_by_side(fetch, fetched);
            next.extend(rockspecs.into_iter().flat_map(|r| r.dependencies));
            level = next;
        }
    }

    /// The rockspecs of `wanted` (cached as [`Candidates::server_rockspec`] caches them),
    /// fetched by a few threads at once, each handed to `arrived` as it comes; those that
    /// fail are left out.
    fn fetch_rockspecs_side_by_side(
        &self,
        wanted: Vec<(String, Version)>,
        arrived: &(dyn Fn(&str, &Version) + Sync),
    ) -> Vec<Rockspec> {
        // Few enough that a small server's connection queue (5 in Python's `http.server`)
        // takes them all: a dropped connection is retried only after a second.
        const AT_ONCE: usize = 4;
        let queue = Mutex::new(wanted);
        let fetched = Mutex::new(Vec::new());
        let threads = AT_ONCE.min(queue.lock().map_or(0, |q| q.len()));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    while let Some((name, version)) = queue.lock().ok().and_then(|mut q| q.pop()) {
                        let Ok((_, rockspec)) = self.server_rockspec(&name, &version) else {
                            continue;
                        };
                        arrived(&name, &version);
                        if let Ok(mut fetched) = fetched.lock() {
                            fetched.push(rockspec);
                        }
                    }
                });
            }
        });
        fetched.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// The version a dependency most likely resolves to among a server's `versions`: the newest
/// that fits its constraints, a development version (`scm`, `dev`) only when allowed or when
/// nothing else fits, as the resolver picks. Pure.
pub(in crate::ops) fn likely_version(
    versions: &[Version],
    dep: &Dependency,
    allow_development: bool,
) -> Option<Version> {
    let fitting = || versions.iter().filter(|v| dep.constraints.matches(v));
    let released = fitting()
        .filter(|v| allow_development || !v.is_development())
        .max();
    released.or_else(|| fitting().max()).cloned()
}

pub(in crate::ops) fn usable_arches(arches: &[String]) -> bool {
    let platform = crate::platform::rock_arch();
    arches
        .iter()
        .any(|a| a == "rockspec" || a == "src" || a == "all" || *a == platform)
}

/// The rockspec of a server package: the `.rockspec` file when published, else the one inside
/// the `.src.rock`.
pub(in crate::ops) fn fetch_rockspec_text(
    server: &RocksServer,
    name: &str,
    version: &Version,
    arches: &[String],
    scratch: &Path,
) -> Result<String> {
    let file = format!("{name}-{version}.rockspec");
    if arches.iter().any(|a| a == "rockspec") {
        let path = server.fetch_file(&file)?;
        return std::fs::read_to_string(&path).map_err(|source| Error::RockspecNotText {
            file: format!("{}/{file}", server.url()),
            source,
        });
    }
    let (rock, _) = published_rock(name, version, arches);
    let dir = tempfile::tempdir_in(scratch).map_err(fs_error("make a folder in", scratch))?;
    let path = dir.path().join(&rock);
    server.download_to(&rock, &path)?;
    let unpacked = dir.path().join("unpacked");
    fetch::extract(&path, &unpacked, &ExtractLimits::default())?;
    let text = std::fs::read_to_string(unpacked.join(&file)).map_err(|source| {
        Error::RockLacksRockspec {
            rock: format!("{}/{rock}", server.url()),
            file: file.clone(),
            source,
        }
    })?;
    Ok(text)
}

/// The rockspec inside a rock file (`name-version.arch.rock`, source or binary), unpacked into
/// `scratch`. The file's name must say which package, version and arch it is, and the arch must
/// be one this platform installs (`src`, `all` or its own).
pub(in crate::ops) fn rock_rockspec_text(rock: &Path, scratch: &Path) -> Result<String> {
    let shown = rock.display().to_string();
    let file_name = rock
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (name, version, arch) = crate::ops::publish::split_rock_file_name(&file_name)
        .filter(|(_, _, arch)| arch != "rockspec")
        .ok_or_else(|| Error::BadRockFileName {
            file: shown.clone(),
        })?;
    if !usable_arches(std::slice::from_ref(&arch)) {
        return Err(Error::RockForOtherPlatform {
            rock: shown,
            arch,
            platform: crate::platform::rock_arch(),
        });
    }
    fetch::extract(rock, scratch, &ExtractLimits::default())?;
    let file = crate::server::rockspec_file_name(&name, &version);
    std::fs::read_to_string(scratch.join(&file)).map_err(|source| Error::RockLacksRockspec {
        rock: shown,
        file,
        source,
    })
}

/// Whether a rock file is a binary rock (installed as it is) rather than a `.src.rock`. Pure.
pub(in crate::ops) fn is_binary_rock(rock: &Path) -> bool {
    !rock.to_string_lossy().ends_with(".src.rock")
}

/// The rock file to use among the published `arches` (`.src.rock` first, then `.all.rock`, then
/// this platform's binary rock), and whether it is a binary rock (installed as it is). Pure.
pub(in crate::ops) fn published_rock(
    name: &str,
    version: &Version,
    arches: &[String],
) -> (String, bool) {
    let arch = if arches.iter().any(|a| a == "src") {
        "src".to_string()
    } else if arches.iter().any(|a| a == "all") {
        "all".to_string()
    } else {
        crate::platform::rock_arch()
    };
    let binary = arch != "src";
    (crate::server::rock_file_name(name, version, &arch), binary)
}

impl resolve::PackageSource for Candidates<'_> {
    fn versions(&self, name: &str) -> Result<Vec<Version>, resolve::SourceError> {
        let mut versions: Vec<Version> = self
            .pinned
            .get(name)
            .map(|ps| ps.iter().map(|p| p.version.clone()).collect())
            .unwrap_or_default();
        if !self.exclusive.contains(name) {
            for (v, _, _) in self.server_versions(name) {
                if !versions.contains(&v) {
                    versions.push(v);
                }
            }
        }
        Ok(versions)
    }

    fn dependencies(
        &self,
        name: &str,
        version: &Version,
    ) -> Result<Vec<Dependency>, resolve::SourceError> {
        if let Some(p) = self
            .pinned
            .get(name)
            .and_then(|ps| ps.iter().find(|p| &p.version == version))
        {
            return Ok(p.dependencies.clone());
        }
        let (_, rockspec) = self
            .server_rockspec(name, version)
            .map_err(|e| -> resolve::SourceError { Box::new(e) })?;
        Ok(rockspec.dependencies)
    }
}

/// The rockspec inside a git checkout: at the root or in `rockspec(s)/`; with several, the
/// newest version.
pub(in crate::ops) fn find_rockspec_in(checkout: &Path) -> Result<String> {
    let mut found: Vec<(Version, String)> = Vec::new();
    for dir in ["", "rockspec", "rockspecs"] {
        let Ok(entries) = std::fs::read_dir(checkout.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = file.strip_suffix(".rockspec") {
                let version = stem
                    .rsplitn(3, '-')
                    .take(2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("-");
                let rel = if dir.is_empty() {
                    file.clone()
                } else {
                    format!("{dir}/{file}")
                };
                if let Ok(v) = Version::parse(&version) {
                    found.push((v, rel));
                }
            }
        }
    }
    found.sort();
    found
        .pop()
        .map(|(_, rel)| rel)
        .ok_or_else(|| Error::NoRockspecInCheckout {
            checkout: checkout.to_path_buf(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likely_version_is_the_newest_fitting_release() {
        let versions: Vec<Version> = ["1.0-1", "2.1-1", "3.0-1", "scm-1"]
            .iter()
            .map(|v| Version::parse(v).unwrap())
            .collect();
        let pick = |dep: &str, dev: bool| {
            likely_version(&versions, &Dependency::parse(dep).unwrap(), dev).map(|v| v.to_string())
        };
        assert_eq!(pick("x", false).as_deref(), Some("3.0-1"));
        assert_eq!(pick("x < 3", false).as_deref(), Some("2.1-1"));
        assert_eq!(pick("x", true).as_deref(), Some("scm-1"));
        assert_eq!(pick("x == scm", false).as_deref(), Some("scm-1"));
        // Nothing released fits: LuaRocks orders `scm` above every number.
        assert_eq!(pick("x > 4", false).as_deref(), Some("scm-1"));
        assert_eq!(pick("x < 1", false), None);
    }

    #[test]
    fn published_rock_prefers_sources_then_portable_binaries() {
        let v = Version::parse("1.0-1").unwrap();
        let arches =
            |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            published_rock("x", &v, &arches(&["all", "src"])),
            ("x-1.0-1.src.rock".to_string(), false)
        );
        assert_eq!(
            published_rock("x", &v, &arches(&["all"])),
            ("x-1.0-1.all.rock".to_string(), true)
        );
        let platform = crate::platform::rock_arch();
        assert_eq!(
            published_rock("x", &v, &arches(&[platform.as_str()])),
            (format!("x-1.0-1.{platform}.rock"), true)
        );
    }
}
