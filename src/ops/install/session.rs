//! The session of one change: the rocks servers with their manifests, the store, scratch
//! space and build settings, opened once and shared by every stage of an install.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::build::{self, BuildContext};
use crate::env::Environment;
use crate::errors::error_text;
use crate::fetch::{self, FetchOptions};
use crate::interpreter::Interpreter;
use crate::luaversion::LuaVersion;
use crate::manifest::Manifest;
use crate::ops::install::candidates::{
    Candidates, Origin, Pinned, TargetPin, find_rockspec_in, rock_rockspec_text,
};
use crate::ops::install::prepared::EarlyBuilds;
use crate::ops::install::targets::Target;
use crate::ops::{Error, Result, fs_error};
use crate::registry::ServerManifest;
use crate::report::Reporter;
use crate::resolve::ResolveError;
use crate::rockspec::{Rockspec, RockspecMemo};
use crate::server::RocksServer;
use crate::store::Store;
use crate::version::{Constraints, Dependency, Version};

/// Which rocks servers a command uses.
#[derive(Debug, Clone)]
pub enum ServerChoice {
    /// These first, then the environment's own.
    Extra(Vec<String>),
    /// Only these.
    Only(Vec<String>),
}

impl Default for ServerChoice {
    fn default() -> Self {
        ServerChoice::Extra(vec![])
    }
}

impl ServerChoice {
    /// The server URLs to use, in priority order, given the environment's `configured` ones.
    pub fn urls(&self, configured: &[String]) -> Vec<String> {
        match self {
            ServerChoice::Only(list) => list.clone(),
            ServerChoice::Extra(list) => list.iter().chain(configured).cloned().collect(),
        }
    }
}

/// Everything a change needs: servers with their manifests, the store, build settings.
pub struct Session {
    pub(in crate::ops) lua: LuaVersion,
    pub(in crate::ops) cache_dir: PathBuf,
    pub(in crate::ops) servers: Vec<(RocksServer, ServerManifest)>,
    pub(in crate::ops) store: Store,
    /// The store entries this change uses, kept from `lvm gc` until the session ends (after
    /// the change committed).
    pub(in crate::ops) pins: crate::store::Pins,
    pub(in crate::ops) scratch: crate::env::Scratch,
    pub(in crate::ops) build_ctx: BuildContext,
    pub(in crate::ops) fetch_opts: FetchOptions,
    /// Servers that could not be read, with why; named when a package cannot be found.
    pub(in crate::ops) unreachable: Vec<String>,
    /// Where progress goes (the environment's reporter).
    pub(in crate::ops) reporter: Arc<dyn Reporter>,
    /// The build caches read before building what the store lacks.
    pub(in crate::ops) caches: crate::ops::cache::Caches,
    /// How many package scratch folders were named ([`Session::job_dir_path`]).
    job_dirs: std::sync::atomic::AtomicUsize,
}

impl Session {
    /// Opens the servers (fetching or reusing their manifests) and the store.
    pub fn open(env: &Environment, choice: &ServerChoice) -> Result<Session> {
        Session::open_for(env, choice, &env.interpreter()?)
    }

    /// [`Session::open`] for the Lua of `interpreter`, which may not be the environment's yet
    /// (changing an environment's Lua, a profile of another Lua): its server manifests,
    /// headers and build variables.
    pub fn open_for(
        env: &Environment,
        choice: &ServerChoice,
        interpreter: &Interpreter,
    ) -> Result<Session> {
        let lua = interpreter.lua;
        let urls = with_dev_servers(
            choice.urls(&env.config().servers),
            env.config().dev.unwrap_or(false),
        );
        let cache = env.home().cache_dir();
        let fetch_opts =
            fetch::fetch_options(env.config().http_timeout(), env.config().download_timeout());
        let mut servers = Vec::new();
        let mut failures = Vec::new();
        for url in urls {
            let server = match RocksServer::new(&url, &cache) {
                Ok(s) => s
                    .with_options(fetch_opts.clone())
                    .manifest_max_age(env.config().manifest_max_age())
                    .for_lua(lua),
                Err(e) => {
                    failures.push(format!("{url}: {e}"));
                    continue;
                }
            };
            match server.manifest() {
                Ok(m) => servers.push((server, m)),
                Err(e) => {
                    let e = error_text(&e);
                    tracing::warn!("rocks server {url} unavailable: {e}");
                    failures.push(format!("{url}: {e}"));
                }
            }
        }
        if servers.is_empty() && !failures.is_empty() {
            tracing::warn!("no rocks server reachable; only installed packages are available");
        }
        let scratch = env.scratch("session-")?;
        let headers = match &interpreter.include_dir {
            Some(dir) => dir.clone(),
            None if lua.is_embedded() => {
                let bundled = env
                    .home()
                    .root
                    .join(crate::layout::LUA_HEADERS_DIR)
                    .join(lua.as_str());
                build::write_lua_headers(&bundled)?;
                bundled
            }
            // No headers for this Lua: builds that compile C say so, pure Lua ones go on.
            None => lua
                .system_include_dirs()
                .first()
                .map(PathBuf::from)
                .unwrap_or_default(),
        };
        let store = env.home().store()?;
        Ok(Session {
            lua,
            cache_dir: cache.clone(),
            servers,
            pins: store.pins(),
            store,
            scratch,
            build_ctx: BuildContext {
                jobs: env.config().jobs.unwrap_or_default().count(),
                variables: env.config().variables.clone().unwrap_or_default(),
                ..BuildContext::from_env(lua, &headers, interpreter.bin.as_deref())
            },
            caches: crate::ops::cache::Caches::open(
                env.config(),
                &fetch_opts,
                env.reporter_handle(),
            ),
            fetch_opts,
            job_dirs: Default::default(),
            unreachable: failures,
            reporter: env.reporter_handle(),
        })
    }

    /// Adds to a resolution failure which servers could not be read, since the package may
    /// be on one of them.
    pub(in crate::ops) fn explain_failure(&self, err: Error) -> Error {
        let unreachable = match self.unreachable.is_empty() {
            true => String::new(),
            false => format!(
                "\nthese rocks servers could not be read:\n  {}",
                self.unreachable.join("\n  ")
            ),
        };
        let cause = match err {
            Error::Resolve(cause) => cause,
            other if unreachable.is_empty() => return other,
            other => {
                return Error::WithUnreadableServers {
                    cause: Box::new(other),
                    unreachable: self.unreachable.clone(),
                };
            }
        };
        let mut hint = String::new();
        if let ResolveError::UnknownPackage { name, .. } = &cause {
            let known: Vec<&str> = self
                .servers
                .iter()
                .flat_map(|(_, manifest)| manifest.packages.keys().map(String::as_str))
                .collect();
            hint.push_str(&crate::suggest::did_you_mean(name, &known));
        }
        hint.push_str(&unreachable);
        Error::Resolution {
            cause: Box::new(cause),
            hint,
            servers_unread: !self.unreachable.is_empty(),
        }
    }

    /// The rocks server at `url` and the files it publishes for `name` `version` (from this
    /// session's manifests when it is one of its servers).
    pub(in crate::ops) fn published(
        &self,
        url: &str,
        name: &str,
        version: &Version,
    ) -> Result<(RocksServer, Vec<String>)> {
        let opened;
        let (server, manifest) = match self.servers.iter().find(|(s, _)| s.url() == url) {
            Some((s, m)) => (s, m),
            None => {
                let server = RocksServer::new(url, &self.cache_dir)?
                    .with_options(self.fetch_opts.clone())
                    .for_lua(self.lua);
                let manifest = server.manifest()?;
                opened = (server, manifest);
                (&opened.0, &opened.1)
            }
        };
        let arches = manifest
            .packages
            .get(name)
            .and_then(|versions| versions.get(version))
            .cloned()
            .ok_or_else(|| Error::NoLongerListed {
                url: url.to_string(),
                name: name.to_string(),
                version: version.clone(),
            })?;
        Ok((server.clone(), arches))
    }

    pub(in crate::ops) fn candidates(&self, current: &Manifest) -> Candidates<'_> {
        let mut candidates = Candidates {
            servers: &self.servers,
            pinned: BTreeMap::new(),
            exclusive: BTreeSet::new(),
            rockspecs: Mutex::new(HashMap::new()),
            memo: RockspecMemo::new(&self.cache_dir.join(crate::layout::ROCKSPEC_MEMO_DIR)),
            scratch: self.scratch.path(),
            early: EarlyBuilds::default(),
        };
        for (name, package) in &current.packages {
            candidates.pin_installed(name, package);
        }
        candidates
    }

    /// Makes a target ready for resolution: the requirement it adds and, for a rockspec, rock,
    /// git source or project, the candidate it pins (downloaded or checked out here, once per
    /// session however often the change is planned).
    pub(in crate::ops) fn fetch_target(&self, target: &Target) -> Result<TargetPin> {
        let (rockspec, origin) = match target {
            Target::Package(dep) => {
                return Ok(TargetPin {
                    requirement: dep.clone(),
                    pinned: None,
                    bare: dep.constraints.is_any(),
                });
            }
            Target::Variable { name, .. } => {
                return Err(Error::OnlyVariables {
                    names: vec![name.clone()],
                });
            }
            Target::Rockspec(path) => {
                let rockspec = Rockspec::from_file(path)?;
                let path =
                    std::fs::canonicalize(path).map_err(fs_error("read the rockspec", path))?;
                (rockspec, Origin::LocalRockspec { path })
            }
            Target::RockspecUrl(url) => {
                let file = self.download_to_scratch(url)?;
                let rockspec = Rockspec::from_file(&file)?;
                let origin = Origin::RockspecUrl {
                    url: url.clone(),
                    path: file,
                };
                (rockspec, origin)
            }
            Target::Rock(path) => {
                let path = std::fs::canonicalize(path).map_err(fs_error("read the rock", path))?;
                let recorded = path.display().to_string();
                self.rock_origin(path, recorded)?
            }
            Target::RockUrl(url) => {
                let path = self.download_to_scratch(url)?;
                self.rock_origin(path, url.clone())?
            }
            Target::Local(local) => {
                let (_, rockspec) = crate::fetch::project::read_rockspec(local)?;
                (rockspec, Origin::Local(local.clone()))
            }
            Target::Git(spec) => {
                let checkout = fresh_dir(self, "git-")?;
                let reference = match &spec.reference {
                    Some(r) => fetch::git::GitRef::Named(r),
                    None => fetch::git::GitRef::Default,
                };
                let commit = fetch::git::fetch_git(&spec.url, reference, &checkout)?;
                let rockspec_rel = find_rockspec_in(&checkout)?;
                let rockspec = Rockspec::from_file(&checkout.join(&rockspec_rel))?;
                (
                    rockspec,
                    Origin::Git {
                        url: spec.url.clone(),
                        commit,
                        checkout,
                        rockspec: rockspec_rel,
                    },
                )
            }
        };
        let version = rockspec.version.clone();
        Ok(TargetPin {
            requirement: Dependency {
                name: rockspec.package.clone(),
                constraints: Constraints::parse(&format!("== {version}"))?,
            },
            pinned: Some(Pinned {
                version,
                dependencies: rockspec.dependencies.clone(),
                origin,
            }),
            bare: false,
        })
    }
}

impl Session {
    /// A new path for one package's scratch folder, not made yet: the session's scratch space
    /// is this process's own, so a counter names it uniquely without touching the disk.
    pub(in crate::ops) fn job_dir_path(&self) -> PathBuf {
        let n = self
            .job_dirs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.scratch.path().join(format!("job-{n}"))
    }

    /// Downloads `url` into a fresh scratch folder, under the URL's file name (which says what
    /// a rock file is); returns the file.
    pub(in crate::ops) fn download_to_scratch(&self, url: &str) -> Result<PathBuf> {
        let name = fetch::url_file_name(url).unwrap_or_else(|| "download".to_string());
        let file = fresh_dir(self, "download-")?.join(name);
        fetch::download(url, &file, &self.fetch_opts)?;
        Ok(file)
    }

    /// A rock file on disk as a candidate, with the rockspec it holds.
    fn rock_origin(&self, path: PathBuf, recorded: String) -> Result<(Rockspec, Origin)> {
        let text = rock_rockspec_text(&path, &fresh_dir(self, "rock-")?)?;
        let rockspec = Rockspec::from_lua(&text, &recorded)?;
        let origin = Origin::LocalRock {
            path,
            text,
            recorded,
        };
        Ok((rockspec, origin))
    }
}

/// The servers to read: with `dev`, each server's `dev` sub-server first (`URL/dev`), then the
/// servers themselves, as `luarocks --dev` orders them. Pure.
pub(in crate::ops) fn with_dev_servers(urls: Vec<String>, dev: bool) -> Vec<String> {
    if !dev {
        return urls;
    }
    urls.iter()
        .map(|url| format!("{}/dev", url.trim_end_matches('/')))
        .chain(urls.iter().cloned())
        .collect()
}

/// Makes a fresh, empty directory under the session's scratch space.
pub(in crate::ops) fn fresh_dir(session: &Session, prefix: &str) -> Result<PathBuf> {
    let scratch = session.scratch.path();
    Ok(tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(scratch)
        .map_err(fs_error("make a folder in", scratch))?
        .keep())
}
