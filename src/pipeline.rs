//! The install pipeline: from "install penlight" to a target state whose every package is built
//! in the store.
//!
//! Steps, each free of git: gather candidates (rocks servers, local rockspecs, git sources, and
//! what is installed), resolve, then fetch and build in parallel whatever the store lacks. The
//! environment ([`crate::env`]) turns the resulting state into an event and a tree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde::Serialize;

use crate::build::{self, BuildContext};
use crate::env::{Environment, WriteLock};
use crate::events::EventKind;
use crate::fetch::{self, ExtractLimits, FetchOptions, SourceOptions};
use crate::manifest::{self, Change, Manifest, Package, PackageSource, Reason};
use crate::registry::ServerManifest;
use crate::resolve::{self, Request};
use crate::rockspec::Rockspec;
use crate::server::RocksServer;
use crate::store::{GcOptions, RockMeta, Store, StoreKey};
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

/// One thing the user asked to install.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Package(Dependency),
    Rockspec(PathBuf),
    Git(fetch::git::GitSpec),
    /// A project directory built from its files as they are (`lvm make`, `lvm link`).
    Local(crate::develop::LocalTarget),
}

/// Reads install arguments: `name`, `name version`, `'name >= 1.0'`, `x.rockspec`,
/// `git+https://...@ref`, or a path to a git repository.
pub fn parse_targets(args: &[String]) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for arg in args {
        let trimmed = arg.trim();
        let starts_like_constraint = trimmed
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || "<>=~!@".contains(c));
        if starts_like_constraint {
            match targets.last_mut() {
                Some(Target::Package(dep)) if dep.constraints.is_any() => {
                    dep.constraints = Constraints::parse(trimmed)
                        .with_context(|| format!("version or constraint '{trimmed}'"))?;
                    continue;
                }
                _ => bail!(
                    "'{trimmed}' looks like a version or constraint, but no package name comes before it (write e.g. `lvm install penlight {trimmed}`)"
                ),
            }
        }
        if trimmed.ends_with(".rockspec") {
            targets.push(Target::Rockspec(PathBuf::from(trimmed)));
        } else if fetch::git::is_git_url(trimmed) {
            targets.push(Target::Git(fetch::git::parse_git_spec(trimmed)?));
        } else if looks_like_path(trimmed) && is_git_checkout(trimmed) {
            targets.push(Target::Git(local_git_spec(trimmed)?));
        } else if trimmed.contains('/') && Path::new(trimmed).exists() {
            bail!(
                "'{trimmed}' is a path but neither a .rockspec file nor a git repository; to install from a folder, point at its rockspec"
            );
        } else {
            targets.push(Target::Package(Dependency::parse(trimmed)?));
        }
    }
    Ok(targets)
}

/// An error and its causes on one line, skipping causes whose text an outer message already
/// includes (many error types quote their source in their own message).
pub fn error_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// A git target given as a local path, with the path made absolute so the recorded source
/// can be fetched again from any directory.
fn local_git_spec(arg: &str) -> Result<fetch::git::GitSpec> {
    let (path, reference) = split_path_ref(arg);
    let absolute = std::fs::canonicalize(path)
        .with_context(|| format!("git repository '{path}' cannot be read"))?;
    let spec = match reference {
        Some(r) => format!("{}@{r}", absolute.display()),
        None => absolute.display().to_string(),
    };
    Ok(fetch::git::parse_git_spec(&spec)?)
}

/// Whether `arg` (a path, optionally followed by `@ref`) names a git repository.
fn is_git_checkout(arg: &str) -> bool {
    Path::new(split_path_ref(arg).0).join(".git").exists()
}

/// Splits `path@ref` into the path and the git reference; a path that exists as written
/// (even with an `@` in it) has no reference.
fn split_path_ref(arg: &str) -> (&str, Option<&str>) {
    match arg.rsplit_once('@') {
        Some((path, reference)) if !Path::new(arg).exists() => (path, Some(reference)),
        _ => (arg, None),
    }
}

/// Whether an argument is written as a path (`./x`, `../x`, `/x`, `x/y`, `.`), as opposed to a
/// package name that may happen to match a folder in the current directory.
fn looks_like_path(arg: &str) -> bool {
    arg.contains('/') || arg == "." || arg == ".."
}

/// Where the build of one exact package comes from.
#[derive(Debug, Clone)]
enum Origin {
    /// Published on a rocks server with these arches.
    Server { server: usize, arches: Vec<String> },
    /// A rockspec file on disk.
    LocalRockspec { path: PathBuf },
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
    Local(crate::develop::LocalTarget),
}

/// A fixed candidate (local rockspec, git source, installed package) with known dependencies.
#[derive(Debug, Clone)]
struct Pinned {
    version: Version,
    dependencies: Vec<Dependency>,
    origin: Origin,
}

/// Candidates from servers plus pinned ones, implementing the resolver's source.
struct Candidates<'a> {
    servers: &'a [(RocksServer, ServerManifest)],
    pinned: BTreeMap<String, Vec<Pinned>>,
    /// Overrides for packages the user asked for from a local rockspec or git: only the
    /// pinned version is a candidate.
    exclusive: BTreeSet<String>,
    rockspecs: Mutex<HashMap<(String, String), (String, Rockspec)>>,
    scratch: &'a Path,
}

impl Candidates<'_> {
    /// Makes an installed (or another profile's) package a candidate, with the dependencies
    /// its record lists, so it resolves without any server.
    fn pin_installed(&mut self, name: &str, package: &Package) {
        let list = self.pinned.entry(name.to_string()).or_default();
        if list.iter().any(|p| p.version == package.version) {
            return;
        }
        list.push(Pinned {
            version: package.version.clone(),
            dependencies: package
                .dependencies
                .iter()
                .filter_map(|d| Dependency::parse(d).ok())
                .collect(),
            origin: Origin::Installed(Box::new(package.clone())),
        });
    }

    fn server_versions(&self, name: &str) -> Vec<(Version, usize, Vec<String>)> {
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

    fn origin(&self, name: &str, version: &Version) -> Option<Origin> {
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
    fn server_rockspec(&self, name: &str, version: &Version) -> Result<(String, Rockspec)> {
        let key = (name.to_string(), version.to_string());
        if let Some(hit) = self.rockspecs.lock().expect("not poisoned").get(&key) {
            return Ok(hit.clone());
        }
        let Some(Origin::Server { server, arches }) = self.origin(name, version) else {
            bail!("{name} {version} is not on any configured rocks server");
        };
        let server = &self.servers[server].0;
        let text = fetch_rockspec_text(server, name, version, &arches, self.scratch)?;
        let rockspec = Rockspec::from_lua(&text, &format!("{name}-{version}.rockspec"))?;
        self.rockspecs
            .lock()
            .expect("not poisoned")
            .insert(key, (text.clone(), rockspec.clone()));
        Ok((text, rockspec))
    }
}

fn usable_arches(arches: &[String]) -> bool {
    let platform = crate::platform::rock_arch();
    arches
        .iter()
        .any(|a| a == "rockspec" || a == "src" || a == "all" || *a == platform)
}

/// The rockspec of a server package: the `.rockspec` file when published, else the one inside
/// the `.src.rock`.
fn fetch_rockspec_text(
    server: &RocksServer,
    name: &str,
    version: &Version,
    arches: &[String],
    scratch: &Path,
) -> Result<String> {
    let file = format!("{name}-{version}.rockspec");
    if arches.iter().any(|a| a == "rockspec") {
        let path = server.fetch_file(&file)?;
        return std::fs::read_to_string(&path)
            .with_context(|| format!("{}/{file}: cannot read it as UTF-8 text", server.url()));
    }
    let (rock, _) = published_rock(name, version, arches);
    let dir = tempfile::tempdir_in(scratch)?;
    let path = dir.path().join(&rock);
    server.download_to(&rock, &path)?;
    let unpacked = dir.path().join("unpacked");
    fetch::extract(&path, &unpacked, &ExtractLimits::default())?;
    let text = std::fs::read_to_string(unpacked.join(&file))
        .with_context(|| format!("{}/{rock} holds no {file}", server.url()))?;
    Ok(text)
}

/// The rock file to use among the published `arches` (`.src.rock` first, then `.all.rock`, then
/// this platform's binary rock), and whether it is a binary rock (installed as it is). Pure.
fn published_rock(name: &str, version: &Version, arches: &[String]) -> (String, bool) {
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

/// Where the sources of a server package are: its rockspec's `source.url` when the rockspec is
/// published, else inside the published rock.
fn server_hint(server: &RocksServer, arches: &[String]) -> SourceHint {
    if arches.iter().any(|a| a == "rockspec") {
        SourceHint::Remote
    } else {
        SourceHint::Rock {
            server: Box::new(server.clone()),
            arches: arches.to_vec(),
        }
    }
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
            .map_err(|e| -> resolve::SourceError { error_text(&e).into() })?;
        Ok(rockspec.dependencies)
    }
}

/// The environment variable that sets the network timeout, in seconds.
pub const HTTP_TIMEOUT_VAR: &str = "LVM_HTTP_TIMEOUT";

/// Download settings, with connect and read timeouts from `LVM_HTTP_TIMEOUT` (seconds, may be
/// fractional) when set. Pure.
pub fn fetch_options(http_timeout: Option<&str>) -> Result<FetchOptions> {
    let mut opts = FetchOptions::default();
    if let Some(text) = http_timeout.map(str::trim).filter(|t| !t.is_empty()) {
        let seconds: f64 = text
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .ok_or_else(|| {
                anyhow!(
                    "{HTTP_TIMEOUT_VAR}='{text}' is not a positive number of seconds (e.g. {HTTP_TIMEOUT_VAR}=30)"
                )
            })?;
        let timeout = Duration::from_secs_f64(seconds);
        opts.connect_timeout = timeout;
        opts.read_timeout = timeout;
    }
    Ok(opts)
}

/// Everything a change needs: servers with their manifests, the store, build settings.
pub struct Session {
    lua: String,
    cache_dir: PathBuf,
    servers: Vec<(RocksServer, ServerManifest)>,
    store: Store,
    scratch: tempfile::TempDir,
    build_ctx: BuildContext,
    fetch_opts: FetchOptions,
    /// Servers that could not be read, with why; named when a package cannot be found.
    unreachable: Vec<String>,
}

impl Session {
    /// Opens the servers (fetching or reusing their manifests) and the store.
    pub fn open(env: &Environment, choice: &ServerChoice) -> Result<Session> {
        let urls = choice.urls(&env.config.servers);
        let cache = env.home.cache_dir();
        let fetch_opts = fetch_options(std::env::var(HTTP_TIMEOUT_VAR).ok().as_deref())?;
        let mut servers = Vec::new();
        let mut failures = Vec::new();
        for url in urls {
            let server = match RocksServer::new(&url, &cache) {
                Ok(s) => s.with_options(fetch_opts.clone()),
                Err(e) => {
                    failures.push(format!("{url}: {e}"));
                    continue;
                }
            };
            match server.manifest() {
                Ok(m) => servers.push((server, m)),
                Err(e) => {
                    let e = error_text(&e.into());
                    tracing::warn!("rocks server {url} unavailable: {e}");
                    failures.push(format!("{url}: {e}"));
                }
            }
        }
        if servers.is_empty() && !failures.is_empty() {
            tracing::warn!("no rocks server reachable; only installed packages are available");
        }
        let scratch_root = env.root.join(".lvm-tmp");
        std::fs::create_dir_all(&scratch_root)?;
        let scratch = tempfile::tempdir_in(&scratch_root)?;
        let headers = env
            .home
            .root
            .join("lua-headers")
            .join(crate::platform::LUA_VERSION);
        build::write_lua_headers(&headers)?;
        Ok(Session {
            lua: env.config.lua.clone(),
            cache_dir: cache.clone(),
            servers,
            store: env.home.store()?,
            scratch,
            build_ctx: BuildContext {
                jobs: env.config.jobs.unwrap_or_default().count(),
                ..BuildContext::from_env(&headers)
            },
            fetch_opts,
            unreachable: failures,
        })
    }

    /// Adds to a resolution failure which servers could not be read, since the package may
    /// be on one of them.
    fn explain_unreachable(&self, err: anyhow::Error) -> anyhow::Error {
        if self.unreachable.is_empty() {
            return err;
        }
        anyhow!(
            "{}\nthese rocks servers could not be read:\n  {}",
            error_text(&err),
            self.unreachable.join("\n  ")
        )
    }

    /// The rocks server at `url` and the files it publishes for `name` `version` (from this
    /// session's manifests when it is one of its servers).
    fn published(
        &self,
        url: &str,
        name: &str,
        version: &Version,
    ) -> Result<(RocksServer, Vec<String>)> {
        let opened;
        let (server, manifest) = match self.servers.iter().find(|(s, _)| s.url() == url) {
            Some((s, m)) => (s, m),
            None => {
                let server =
                    RocksServer::new(url, &self.cache_dir)?.with_options(self.fetch_opts.clone());
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
            .ok_or_else(|| {
                anyhow!("rocks server {url} no longer lists {name} {version} (it was removed from the server)")
            })?;
        Ok((server.clone(), arches))
    }

    fn candidates(&self, current: &Manifest) -> Candidates<'_> {
        let mut candidates = Candidates {
            servers: &self.servers,
            pinned: BTreeMap::new(),
            exclusive: BTreeSet::new(),
            rockspecs: Mutex::new(HashMap::new()),
            scratch: self.scratch.path(),
        };
        for (name, package) in &current.packages {
            candidates.pin_installed(name, package);
        }
        candidates
    }

    /// Pins a local rockspec or git target; returns its name and the requirement it adds.
    fn pin_target(&self, candidates: &mut Candidates<'_>, target: &Target) -> Result<Dependency> {
        let (rockspec, origin) = match target {
            Target::Package(dep) => return Ok(dep.clone()),
            Target::Rockspec(path) => {
                let rockspec = Rockspec::from_file(path)?;
                let path = std::fs::canonicalize(path)
                    .with_context(|| format!("rockspec {}", path.display()))?;
                (rockspec, Origin::LocalRockspec { path })
            }
            Target::Local(local) => {
                let (_, rockspec) = crate::develop::read_rockspec(local)?;
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
        let name = rockspec.package.clone();
        let version = rockspec.version.clone();
        let list = candidates.pinned.entry(name.clone()).or_default();
        list.retain(|p| p.version != version);
        list.push(Pinned {
            version: version.clone(),
            dependencies: rockspec.dependencies.clone(),
            origin,
        });
        candidates.exclusive.insert(name.clone());
        Ok(Dependency {
            name,
            constraints: Constraints::parse(&format!("== {version}"))?,
        })
    }
}

/// What an install or remove did, for the user.
pub struct Outcome {
    pub summary: String,
    pub changes: Vec<Change>,
    pub store_hits: u32,
    pub builds: u32,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return write!(f, "{}", self.summary);
        }
        writeln!(f, "{}", self.summary)?;
        for c in &self.changes {
            writeln!(f, "  {}", c.summary())?;
        }
        write!(
            f,
            "({} built, {} from the store)",
            self.builds, self.store_hits
        )
    }
}

/// Installs targets into the environment as one event.
pub fn install(
    env: &Environment,
    targets: &[Target],
    choice: &ServerChoice,
    args: &[String],
) -> Result<Outcome> {
    install_as(env, targets, choice, args, EventKind::Install)
}

/// Installs targets as one event of the given kind (`setup` installs a profile's packages).
pub fn install_as(
    env: &Environment,
    targets: &[Target],
    choice: &ServerChoice,
    args: &[String],
    kind: EventKind,
) -> Result<Outcome> {
    install_with(env, targets, &[], choice, args, kind, BTreeMap::new())
}

/// The general install: installs targets and stops requesting `release` in the same event (a
/// checklist applied as a whole), with event details (`make` records the project's path and
/// git state). A released package goes unless another package still needs it, in which case
/// it stays as a dependency.
pub fn install_with(
    env: &Environment,
    targets: &[Target],
    release: &[String],
    choice: &ServerChoice,
    args: &[String],
    kind: EventKind,
    details: BTreeMap<String, String>,
) -> Result<Outcome> {
    let mut timings = BTreeMap::new();
    let started = Instant::now();
    let session = Session::open(env, choice)?;
    let current = env.manifest()?;
    let mut candidates = session.candidates(&current);
    let mut requested: BTreeMap<String, String> = current.requested();
    for name in release {
        requested.remove(&name.to_ascii_lowercase());
    }
    let mut new_requirements = Vec::new();
    for target in targets {
        let dep = session.pin_target(&mut candidates, target)?;
        requested.insert(dep.name.clone(), dep.constraints.to_string());
        new_requirements.push(dep);
    }
    let resolution = resolve_requested(&candidates, &current, &requested, env)
        .map_err(|e| session.explain_unreachable(e))?;
    timings.insert("resolve".into(), started.elapsed().as_millis() as u64);
    let names: Vec<String> = new_requirements.iter().map(|d| d.name.clone()).collect();
    let applied = apply_resolution(
        env,
        (&session, &candidates),
        &current,
        &resolution,
        &requested,
        (kind, event_args(args, &names), details),
        timings,
    )?;
    let (commit, changes, hits, builds) = applied;
    Ok(Outcome {
        summary: match commit {
            Some(c) if release.is_empty() => {
                format!("Installed ({})", crate::envrepo::short(c))
            }
            Some(c) => format!("Changed ({})", crate::envrepo::short(c)),
            None if names.is_empty() => "Nothing to do".to_string(),
            None => format!("Nothing to do: {} already installed", names.join(", ")),
        },
        changes,
        store_hits: hits,
        builds,
    })
}

/// Builds the state a resolution describes (whatever the store lacks gets built) and records
/// it as one event; returns the commit (none when nothing changed), the changes, and the store
/// hits and builds.
fn apply_resolution(
    env: &Environment,
    (session, candidates): (&Session, &Candidates<'_>),
    current: &Manifest,
    resolution: &resolve::Resolution,
    requested: &BTreeMap<String, String>,
    (kind, args, details): (EventKind, Vec<String>, BTreeMap<String, String>),
    mut timings: BTreeMap<String, u64>,
) -> Result<(Option<git2::Oid>, Vec<Change>, u32, u32)> {
    let (target, hits, builds) = build_target_state(
        session,
        candidates,
        current,
        resolution,
        requested,
        &mut timings,
    )?;
    let changes = manifest::diff(current, &target);
    let commit = env.record(kind, args, target, details, timings, (hits, builds))?;
    Ok((commit, changes, hits, builds))
}

/// The event's arguments: what the user typed, with local paths made absolute (so the log
/// still says which file was meant when read from elsewhere).
fn event_args(args: &[String], names: &[String]) -> Vec<String> {
    if args.is_empty() {
        return names.to_vec();
    }
    args.iter()
        .map(|arg| {
            if !looks_like_path(arg) || fetch::git::is_git_url(arg) {
                return arg.clone();
            }
            let (path, reference) = split_path_ref(arg);
            match (std::fs::canonicalize(path), reference) {
                (Ok(abs), Some(r)) => format!("{}@{r}", abs.display()),
                (Ok(abs), None) => abs.display().to_string(),
                (Err(_), _) => arg.clone(),
            }
        })
        .collect()
}

fn resolve_requested(
    candidates: &Candidates<'_>,
    current: &Manifest,
    requested: &BTreeMap<String, String>,
    env: &Environment,
) -> Result<resolve::Resolution> {
    let request = request_for(
        requested,
        preferred_versions(current, &BTreeSet::new()),
        env,
    )?;
    Ok(resolve::resolve(candidates, &request)?)
}

/// The installed versions the resolver should keep, except for `except`.
fn preferred_versions(current: &Manifest, except: &BTreeSet<String>) -> BTreeMap<String, Version> {
    current
        .packages
        .iter()
        .filter(|(n, _)| !except.contains(*n))
        .map(|(n, p)| (n.clone(), p.version.clone()))
        .collect()
}

/// A resolver request for the requested packages (name → constraint text).
fn request_for(
    requested: &BTreeMap<String, String>,
    preferred: BTreeMap<String, Version>,
    env: &Environment,
) -> Result<Request> {
    let mut requirements = Vec::new();
    for (name, constraint) in requested {
        requirements.push(Dependency {
            name: name.clone(),
            constraints: Constraints::parse(constraint)?,
        });
    }
    Ok(Request {
        requirements,
        lua_version: Version::parse(&env.config.lua)?,
        preferred,
        allow_development: false,
    })
}

/// Upgrades `names` (every installed package when empty) to the newest versions every
/// constraint allows, as one `upgrade` event. Packages the user pinned with an exact
/// constraint stay as they are.
pub fn upgrade(env: &Environment, names: &[String], choice: &ServerChoice) -> Result<Outcome> {
    let mut timings = BTreeMap::new();
    let started = Instant::now();
    let current = env.manifest()?;
    let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    for name in &names {
        if !current.packages.contains_key(name) {
            bail!("{name} is not installed (see `lvm list`); install it with `lvm install {name}`");
        }
    }
    let upgrading: BTreeSet<String> = if names.is_empty() {
        current.packages.keys().cloned().collect()
    } else {
        names.iter().cloned().collect()
    };
    let session = Session::open(env, choice)?;
    let candidates = session.candidates(&current);
    let requested = current.requested();
    let request = request_for(&requested, preferred_versions(&current, &upgrading), env)?;
    let resolution = resolve::resolve(&candidates, &request)
        .map_err(|e| session.explain_unreachable(e.into()))?;
    timings.insert("resolve".into(), started.elapsed().as_millis() as u64);
    let (commit, changes, hits, builds) = apply_resolution(
        env,
        (&session, &candidates),
        &current,
        &resolution,
        &requested,
        (EventKind::Upgrade, names.clone(), BTreeMap::new()),
        timings,
    )?;
    Ok(Outcome {
        summary: match commit {
            Some(c) => format!("Upgraded ({})", crate::envrepo::short(c)),
            None => "Nothing to upgrade: every package is at the newest version allowed".into(),
        },
        changes,
        store_hits: hits,
        builds,
    })
}

/// One package the store may lack.
struct Job {
    name: String,
    version: Version,
    origin: Origin,
}

/// Turns a resolution into a full state, building what the store lacks (in parallel).
fn build_target_state(
    session: &Session,
    candidates: &Candidates<'_>,
    current: &Manifest,
    resolution: &resolve::Resolution,
    requested: &BTreeMap<String, String>,
    timings: &mut BTreeMap<String, u64>,
) -> Result<(Manifest, u32, u32)> {
    let mut packages: BTreeMap<String, Package> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (name, version) in &resolution.packages {
        let origin = candidates
            .origin(name, version)
            .ok_or_else(|| anyhow!("{name} {version}: resolved but no longer available"))?;
        match origin {
            Origin::Installed(p) => {
                packages.insert(name.clone(), *p);
            }
            other => jobs.push(Job {
                name: name.clone(),
                version: version.clone(),
                origin: other,
            }),
        }
    }
    let started = Instant::now();
    let results = run_jobs(session, candidates, jobs)?;
    timings.insert("build".into(), started.elapsed().as_millis() as u64);
    let (mut hits, mut builds) = (0, 0);
    for (name, package, was_hit) in results {
        if was_hit {
            hits += 1;
        } else {
            builds += 1;
        }
        packages.insert(name, package);
    }
    let _ = current;
    for (name, package) in packages.iter_mut() {
        package.reason = Reason {
            requested: requested.get(name).cloned(),
            required_by: vec![],
        };
    }
    let mut target = Manifest {
        format: manifest::FORMAT,
        lua: session.lua.clone(),
        packages,
    };
    target.recompute_reasons();
    Ok((target, hits, builds))
}

fn run_jobs(
    session: &Session,
    candidates: &Candidates<'_>,
    jobs: Vec<Job>,
) -> Result<Vec<(String, Package, bool)>> {
    if jobs.is_empty() {
        return Ok(vec![]);
    }
    let progress = Progress::new(jobs.len());
    let queue = Mutex::new(jobs);
    let results = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let workers = session.build_ctx.jobs.clamp(1, 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let Some(job) = queue.lock().expect("not poisoned").pop() else {
                        break;
                    };
                    progress.start(&job.name, &job.version);
                    match ensure_package(session, candidates, &job) {
                        Ok((package, hit)) => {
                            progress.finish(&job.name, &job.version, hit);
                            results
                                .lock()
                                .expect("not poisoned")
                                .push((job.name, package, hit));
                        }
                        Err(e) => {
                            progress.fail(&job.name, &job.version);
                            errors.lock().expect("not poisoned").push(format!(
                                "{} {}: {}",
                                job.name,
                                job.version,
                                error_text(&e)
                            ));
                        }
                    }
                }
            });
        }
    });
    progress.done();
    let errors = errors.into_inner().expect("not poisoned");
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(results.into_inner().expect("not poisoned"))
}

/// Progress on stderr: a bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }
    fn start(&self, name: &str, version: &Version) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{name} {version}")),
            None => tracing::info!("preparing {name} {version}"),
        }
    }
    fn finish(&self, name: &str, version: &Version, hit: bool) {
        let how = if hit { "from the store" } else { "built" };
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.println(format!("  {name} {version} ({how})"));
            }
            None => eprintln!("  {name} {version} ({how})"),
        }
    }
    fn fail(&self, name: &str, version: &Version) {
        match &self.bar {
            Some(bar) => bar.println(format!("  {name} {version} FAILED")),
            None => eprintln!("  {name} {version} FAILED"),
        }
    }
    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The inputs of a build, which make its store key.
fn store_key(
    rockspec_text: &str,
    rockspec: &Rockspec,
    commit: Option<&str>,
    local_inputs: Option<&str>,
    ctx: &BuildContext,
) -> StoreKey {
    let rockspec_sha = fetch::hash::sha256_bytes(rockspec_text.as_bytes());
    let platform = crate::platform::rock_arch();
    let build = build_fingerprint(ctx, rockspec);
    let mut inputs = vec![
        ("rockspec", rockspec_sha.as_str()),
        ("git_commit", commit.unwrap_or("")),
        ("lua", crate::platform::LUA_VERSION),
        ("platform", platform.as_str()),
        ("build", build.as_str()),
    ];
    // A project directory's build depends on its files, which no rockspec or commit pins.
    inputs.extend(local_inputs.map(|sha| ("local_inputs", sha)));
    StoreKey::compute(&inputs)
}

/// Makes sure one package is in the store; returns its manifest record and whether it was
/// already there.
fn ensure_package(
    session: &Session,
    candidates: &Candidates<'_>,
    job: &Job,
) -> Result<(Package, bool)> {
    let mut local_inputs = None;
    let (text, rockspec, source, source_dir_hint) = match &job.origin {
        Origin::Server { server, arches } => {
            let (text, rockspec) = candidates.server_rockspec(&job.name, &job.version)?;
            let source = PackageSource::Server {
                server: session.servers[*server].0.url().to_string(),
                rockspec_sha256: fetch::hash::sha256_bytes(text.as_bytes()),
                url: rockspec.source.url.clone(),
                sha256: None,
                commit: None,
            };
            let hint = server_hint(&session.servers[*server].0, arches);
            (text, rockspec, source, hint)
        }
        Origin::LocalRockspec { path } => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let rockspec = Rockspec::from_lua(&text, &path.display().to_string())?;
            let source = PackageSource::Rockspec {
                path: path.display().to_string(),
                rockspec_sha256: fetch::hash::sha256_bytes(text.as_bytes()),
                url: rockspec.source.url.clone(),
                sha256: None,
                commit: None,
            };
            (text, rockspec, source, SourceHint::Remote)
        }
        Origin::Git {
            url,
            commit,
            checkout,
            rockspec: rel,
        } => {
            let text = std::fs::read_to_string(checkout.join(rel))?;
            let rockspec = Rockspec::from_lua(&text, rel)?;
            let source = PackageSource::Git {
                url: url.clone(),
                commit: commit.clone(),
                rockspec: rel.clone(),
                rockspec_sha256: fetch::hash::sha256_bytes(text.as_bytes()),
            };
            (text, rockspec, source, SourceHint::Dir(checkout.clone()))
        }
        Origin::Installed(p) => return Ok(((**p).clone(), true)),
        Origin::Local(target) => {
            let prepared = crate::develop::prepare(target, session.scratch.path())?;
            local_inputs = Some(prepared.inputs_sha256);
            let hint = SourceHint::Local {
                dir: prepared.build_dir,
                links: prepared.links,
            };
            (prepared.text, prepared.rockspec, prepared.source, hint)
        }
    };
    let commit = match &source {
        PackageSource::Git { commit, .. } => Some(commit.clone()),
        _ => None,
    };
    let key = store_key(
        &text,
        &rockspec,
        commit.as_deref(),
        local_inputs.as_deref(),
        &session.build_ctx,
    );
    if let Some(stored) = session.store.get(&key)? {
        let source = with_source_record(
            source,
            stored.meta.extra.get("source_sha256"),
            stored.meta.extra.get("source_commit"),
        );
        return Ok((
            package_record(&rockspec, source, &key, &stored.prefix)?,
            true,
        ));
    }
    let (stored_path, source) = build_into_store(
        session,
        &job.name,
        &text,
        &rockspec,
        source,
        source_dir_hint,
        &key,
        &Expected::default(),
    )?;
    Ok((
        package_record(&rockspec, source, &key, &stored_path)?,
        false,
    ))
}

/// Where a package's sources are, beyond what `source.url` says.
enum SourceHint {
    /// Fetch `source.url`.
    Remote,
    /// Already on disk (a git checkout or a local folder).
    Dir(PathBuf),
    /// Inside a `.src.rock` (or a binary rock) on a server.
    Rock {
        server: Box<RocksServer>,
        arches: Vec<String>,
    },
    /// A snapshot of a project directory; the build records which of its files it copied.
    Local {
        dir: PathBuf,
        links: Vec<crate::develop::LinkCandidate>,
    },
}

/// What a rebuild must find again: the recorded archive digest and git commit.
#[derive(Debug, Clone, Default)]
struct Expected {
    sha256: Option<String>,
    commit: Option<String>,
}

fn with_source_record(
    mut source: PackageSource,
    sha: Option<&String>,
    commit_value: Option<&String>,
) -> PackageSource {
    match &mut source {
        PackageSource::Server { sha256, commit, .. }
        | PackageSource::Rockspec { sha256, commit, .. } => {
            *sha256 = sha.filter(|s| !s.is_empty()).cloned();
            *commit = commit_value.filter(|s| !s.is_empty()).cloned();
        }
        PackageSource::Git { .. } | PackageSource::Local { .. } | PackageSource::Linked { .. } => {}
    }
    source
}

/// Fetches sources, builds into a temp prefix, and inserts the result into the store.
#[allow(clippy::too_many_arguments)]
fn build_into_store(
    session: &Session,
    name: &str,
    text: &str,
    rockspec: &Rockspec,
    source: PackageSource,
    hint: SourceHint,
    key: &StoreKey,
    expected: &Expected,
) -> Result<(PathBuf, PackageSource)> {
    let work = tempfile::tempdir_in(session.scratch.path())?;
    let prefix = work.path().join("prefix");
    std::fs::create_dir_all(&prefix)?;
    let (mut sha, mut commit) = (None, None);
    let mut prebuilt = false;
    let mut links = None;
    let source_dir = match hint {
        SourceHint::Dir(dir) => dir,
        SourceHint::Local { dir, links: found } => {
            links = Some(found);
            dir
        }
        SourceHint::Remote => {
            let fetched = fetch::fetch_source(
                &rockspec.source,
                &work.path().join("src"),
                &SourceOptions {
                    fetch: session.fetch_opts.clone(),
                    expected_sha256: expected.sha256.clone(),
                    git_commit: expected.commit.clone(),
                },
            )
            .map_err(|e| naming_url(e.into(), &rockspec.source.url))?;
            sha = fetched.archive_sha256;
            commit = fetched.git_commit;
            fetched.dir
        }
        SourceHint::Rock { server, arches } => {
            let (file, binary) = published_rock(name, &rockspec.version, &arches);
            let path = work.path().join(&file);
            server.download_to(&file, &path)?;
            let actual = fetch::sha256_file(&path)?;
            if let Some(recorded) = &expected.sha256
                && !fetch::hash::same_digest(recorded, &actual)
            {
                return Err(fetch::FetchError::Sha256Mismatch {
                    url: format!("{}/{file}", server.url()),
                    expected: recorded.clone(),
                    actual,
                }
                .into());
            }
            sha = Some(actual);
            if binary {
                fetch::extract(&path, &prefix, &ExtractLimits::default())?;
                prebuilt = true;
                prefix.clone()
            } else {
                let unpacked = fetch::unpack_src_rock(
                    &path,
                    &work.path().join("src-rock"),
                    &ExtractLimits::default(),
                )?;
                let fetched = fetch::src_rock_source(
                    &rockspec.source,
                    &unpacked,
                    &SourceOptions {
                        fetch: session.fetch_opts.clone(),
                        ..SourceOptions::default()
                    },
                )?;
                fetched.dir
            }
        }
    };
    if !prebuilt {
        build::build_rock(rockspec, &source_dir, &prefix, &session.build_ctx)
            .with_context(|| format!("building {name} {}", rockspec.version))?;
        crate::fsutil::write_atomic(&prefix.join(rockspec.file_name()), text.as_bytes())?;
        crate::tree::write_rock_manifest(&prefix, &rockspec.file_name())?;
    }
    let mut extra = BTreeMap::new();
    if let Some(links) = &links {
        extra.insert(
            crate::develop::LINKED_FILES_KEY.to_string(),
            crate::develop::linked_files_record(links, &prefix)?,
        );
    }
    extra.insert("source_sha256".to_string(), sha.clone().unwrap_or_default());
    extra.insert(
        "source_commit".to_string(),
        commit.clone().unwrap_or_default(),
    );
    let stored = session.store.insert(
        key,
        &prefix,
        RockMeta {
            name: name.to_string(),
            version: rockspec.version.to_string(),
            extra,
        },
    )?;
    Ok((
        stored.prefix,
        with_source_record(source, sha.as_ref(), commit.as_ref()),
    ))
}

/// Adds the source URL to an error that does not name it already (archive errors name the
/// downloaded file's temporary path).
fn naming_url(err: anyhow::Error, url: &str) -> anyhow::Error {
    if error_text(&err).contains(url) {
        err
    } else {
        err.context(format!("sources from {url}"))
    }
}

fn package_record(
    rockspec: &Rockspec,
    source: PackageSource,
    key: &StoreKey,
    stored: &Path,
) -> Result<Package> {
    Ok(Package {
        version: rockspec.version.clone(),
        reason: Reason {
            requested: None,
            required_by: vec![],
        },
        source,
        dependencies: rockspec
            .dependencies
            .iter()
            .map(|d| d.to_string())
            .collect(),
        store_key: key.to_string(),
        files_sha256: crate::tree::hash_tree_files(stored)?,
    })
}

/// The rockspec inside a git checkout: at the root or in `rockspec(s)/`; with several, the
/// newest version.
fn find_rockspec_in(checkout: &Path) -> Result<String> {
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
    found.pop().map(|(_, rel)| rel).ok_or_else(|| {
        anyhow!(
            "no .rockspec file at the root or in rockspecs/ of {}",
            checkout.display()
        )
    })
}

/// Removes packages (and the dependencies nothing else needs) as one event.
pub fn remove(env: &Environment, names: &[String], force: bool) -> Result<Outcome> {
    let current = env.manifest()?;
    let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    for name in &names {
        if !current.packages.contains_key(name) {
            bail!("{name} is not installed (see `lvm list`)");
        }
    }
    let plan = removal_plan(&current, &names, force)?;
    let changes = manifest::diff(&current, &plan);
    let commit = env.record(
        EventKind::Remove,
        names.clone(),
        plan,
        BTreeMap::new(),
        BTreeMap::new(),
        (0, 0),
    )?;
    Ok(Outcome {
        summary: match commit {
            Some(c) => format!("Removed ({})", crate::envrepo::short(c)),
            None => "Nothing to do".into(),
        },
        changes,
        store_hits: 0,
        builds: 0,
    })
}

/// The state after removing `names`: their dependents are refused (or, with `force`, removed
/// too), and dependencies nothing else needs go with them. Pure.
pub fn removal_plan(current: &Manifest, names: &[String], force: bool) -> Result<Manifest> {
    let removing: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut dependents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, package) in &current.packages {
        if removing.contains(name.as_str()) {
            continue;
        }
        for dep in &package.dependencies {
            if let Ok(d) = Dependency::parse(dep) {
                if removing.contains(d.name.as_str()) {
                    dependents.entry(d.name).or_default().push(name.clone());
                }
            }
        }
    }
    let mut plan = current.clone();
    if !dependents.is_empty() && !force {
        let detail: Vec<String> = dependents
            .iter()
            .map(|(n, by)| format!("{n} is needed by {}", by.join(", ")))
            .collect();
        bail!(
            "refusing to break dependencies: {}; remove those too, or pass --force to remove them along",
            detail.join("; ")
        );
    }
    // With --force, everything that depends (transitively) on a removed package goes too.
    let mut doomed: BTreeSet<String> = names.iter().cloned().collect();
    loop {
        let before = doomed.len();
        for (name, package) in &current.packages {
            let hit = package
                .dependencies
                .iter()
                .any(|d| Dependency::parse(d).is_ok_and(|d| doomed.contains(&d.name)));
            if hit {
                doomed.insert(name.clone());
            }
        }
        if doomed.len() == before {
            break;
        }
    }
    for name in &doomed {
        plan.packages.remove(name);
    }
    for orphan in plan.orphans() {
        plan.packages.remove(&orphan);
    }
    plan.recompute_reasons();
    Ok(plan)
}

/// One `lvm search` result: the versions of a package on one server, newest first.
#[derive(Debug, Serialize)]
pub struct SearchHit {
    pub name: String,
    pub versions: Vec<String>,
    pub server: String,
}

/// The packages whose names contain `term` (lower-cased) on every server, sorted by name, and
/// for each name one hit per server that has it, in the servers' priority order. Only the
/// servers' manifests are read (from their parsed caches when fresh), and only the matching
/// packages' versions are built. A server listed twice counts once, where it comes first.
/// Unreadable servers are skipped with a warning; an error when none could be read.
pub fn search(env: &Environment, term: &str, choice: &ServerChoice) -> Result<Vec<SearchHit>> {
    let term = term.to_ascii_lowercase();
    let keep = |name: &str| name.contains(&term);
    let cache = env.home.cache_dir();
    let fetch_opts = fetch_options(std::env::var(HTTP_TIMEOUT_VAR).ok().as_deref())?;
    let urls = choice.urls(&env.config.servers);
    let mut hits = Vec::new();
    let mut searched: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for url in &urls {
        let read = RocksServer::new(url, &cache).and_then(|server| {
            if searched.iter().any(|done| done == server.url()) {
                return Ok(None);
            }
            let server = server.with_options(fetch_opts.clone());
            Ok(Some((server.manifest_matching(&keep)?, server)))
        });
        let (manifest, server) = match read {
            Ok(Some(read)) => read,
            Ok(None) => continue,
            Err(e) => {
                let e = error_text(&e.into());
                tracing::warn!("rocks server {url} unavailable: {e}");
                failures.push(format!("{url}: {e}"));
                continue;
            }
        };
        let server = server.url().to_string();
        for (name, versions) in manifest.packages {
            hits.push(SearchHit {
                name,
                versions: versions.keys().rev().map(Version::to_string).collect(),
                server: server.clone(),
            });
        }
        searched.push(server);
    }
    if !failures.is_empty() && failures.len() == urls.len() {
        bail!(
            "no rocks server could be read:\n  {}\ncheck the URLs (lvm.toml, --server) and the network",
            failures.join("\n  ")
        );
    }
    // Stable: the hits of one name stay in server priority order.
    hits.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(hits)
}

/// Details of an installed rock read from its directory in the tree.
pub struct InstalledInfo {
    pub summary: Option<String>,
    pub modules: Vec<String>,
    pub commands: Vec<String>,
}

pub fn installed_info(rock_dir: &Path, name: &str, version: &Version) -> InstalledInfo {
    let rockspec = Rockspec::from_file(&rock_dir.join(format!("{name}-{version}.rockspec"))).ok();
    let modules = crate::tree::rockfiles::module_names(rock_dir);
    let mut commands: Vec<String> = std::fs::read_dir(rock_dir.join("bin"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    commands.sort();
    InstalledInfo {
        summary: rockspec.and_then(|r| r.description.summary),
        modules,
        commands,
    }
}

/// Rebuilds into the store every package of `manifest` that the store lacks, from the sources
/// recorded in the manifest, verifying the recorded hashes and commits. Returns how many it
/// rebuilt.
pub fn ensure_in_store(env: &Environment, manifest: &Manifest) -> Result<usize> {
    let store = env.home.store()?;
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
    let session = Session::open(env, &ServerChoice::default())?;
    for (name, package) in &missing {
        rebuild_recorded(&session, name, package)
            .with_context(|| format!("cannot rebuild {name} {}", package.version))?;
        eprintln!("  {name} {} (rebuilt)", package.version);
    }
    Ok(missing.len())
}

/// Makes a fresh, empty directory under the session's scratch space.
fn fresh_dir(session: &Session, prefix: &str) -> Result<PathBuf> {
    Ok(tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(session.scratch.path())?
        .keep())
}

/// Rebuilds one recorded package from the source its record names.
fn rebuild_recorded(session: &Session, name: &str, package: &Package) -> Result<()> {
    let key = StoreKey::parse(&package.store_key)
        .with_context(|| format!("{name}: malformed store key in manifest.json"))?;
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
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("the rockspec {path} it was installed from cannot be read")
            })?;
            check_sha(name, "rockspec", rockspec_sha256, &text)?;
            let expected = Expected {
                sha256: sha256.clone(),
                commit: commit.clone(),
            };
            (text, SourceHint::Remote, expected)
        }
        PackageSource::Git {
            url,
            commit,
            rockspec,
            rockspec_sha256,
        } => {
            let checkout = fresh_dir(session, "git-")?;
            fetch::git::fetch_git(url, fetch::git::GitRef::Commit(commit), &checkout)?;
            let text = std::fs::read_to_string(checkout.join(rockspec))
                .with_context(|| format!("{url} at {commit} has no {rockspec}"))?;
            check_sha(name, "rockspec", rockspec_sha256, &text)?;
            (text, SourceHint::Dir(checkout), Expected::default())
        }
        PackageSource::Local { .. } | PackageSource::Linked { .. } => {
            let prepared = crate::develop::prepare_recorded(name, package, session.scratch.path())?;
            let hint = SourceHint::Local {
                dir: prepared.build_dir,
                links: prepared.links,
            };
            (prepared.text, hint, Expected::default())
        }
    };
    let rockspec = Rockspec::from_lua(&text, &format!("{name}-{}.rockspec", package.version))?;
    build_into_store(
        session,
        name,
        &text,
        &rockspec,
        package.source.clone(),
        hint,
        &key,
        &expected,
    )?;
    Ok(())
}

fn check_sha(name: &str, what: &str, expected: &str, text: &str) -> Result<()> {
    let actual = fetch::hash::sha256_bytes(text.as_bytes());
    if actual != expected {
        bail!(
            "{name}: {what} sha256 mismatch: manifest.json records {expected}, the server now has {actual} (the package was republished; reinstall it to accept the new one)"
        );
    }
    Ok(())
}

/// `lvm sync`: make the store hold every package the head commit's manifest needs (rebuilding
/// what is missing from the recorded sources), then the tree exactly what the manifest says.
pub fn sync(env: &Environment, lock_timeout: Duration) -> Result<WriteLock> {
    // Store entries are content-addressed and inserted atomically, so filling the store needs
    // no lock; the lock's recovery then rebuilds the tree from it.
    ensure_in_store(env, &env.manifest()?)?;
    let locked = match env.lock(lock_timeout) {
        Ok(lock) => Ok(lock),
        Err(e) => {
            // Another process may have moved the head meanwhile: fetch what that state needs.
            if ensure_in_store(env, &env.manifest()?)? == 0 {
                return Err(e);
            }
            env.lock(lock_timeout)
        }
    }?;
    // A tree made from the right state may still lack the symlinks of a linked package (made
    // by hand, or a link removed): remake it, which re-creates them.
    let manifest = env.manifest()?;
    if !crate::develop::links_intact(env, &manifest)? {
        let dir = env.materialize(&manifest)?;
        env.install_tree(&dir)?;
    }
    Ok(locked)
}

/// `lvm gc`: drop store entries that no state in the history of any profile needs, in this
/// environment and in every other environment sharing the lvm home (they share the store). With
/// `older_than_days`, states older than that are not kept alive (profile heads always are).
pub fn gc(env: &Environment, older_than_days: Option<u32>, dry_run: bool) -> Result<String> {
    let cutoff = older_than_days.map(|d| chrono::Utc::now() - chrono::Duration::days(i64::from(d)));
    let mut keep = needed_store_keys(env, cutoff)?;
    let mut others = 0;
    let this = std::fs::canonicalize(&env.root).unwrap_or_else(|_| env.root.clone());
    for root in home_environments(&env.home)? {
        if std::fs::canonicalize(&root).is_ok_and(|r| r == this) {
            continue;
        }
        // An unreadable environment might need anything: collecting without it could delete
        // what it uses, so stop.
        let other = Environment::open(&root, env.home.clone()).with_context(|| {
            format!(
                "cannot read the environment {} to see which store entries it needs; repair or remove it, then run gc again",
                root.display()
            )
        })?;
        keep.extend(needed_store_keys(&other, cutoff)?);
        others += 1;
    }
    let store = env.home.store()?;
    let report = store.gc(&keep, GcOptions { dry_run })?;
    let verb = if dry_run { "Would remove" } else { "Removed" };
    let mut out = format!(
        "{verb} {} store entries ({} bytes); kept {} needed by this environment and {others} other(s) sharing {}",
        report.removed.len(),
        report.freed_bytes,
        keep.len(),
        env.home.root.display()
    );
    for entry in &report.removed {
        match &entry.meta {
            Some(meta) => out.push_str(&format!("\n  {} {}", meta.name, meta.version)),
            None => out.push_str(&format!("\n  {} (unreadable metadata)", entry.key)),
        }
    }
    Ok(out)
}

/// The store keys the states of every profile of `env` use: each profile's head, and every
/// earlier state unless it is older than `cutoff`.
fn needed_store_keys(
    env: &Environment,
    cutoff: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<BTreeSet<StoreKey>> {
    let mut keep = BTreeSet::new();
    for profile in env.repo.profiles()? {
        let head = env.repo.profile_head(&profile)?;
        for (i, logged) in env.repo.log(head, None)?.iter().enumerate() {
            let recent = cutoff.is_none_or(|c| logged.event.timestamp >= c);
            if i == 0 || recent {
                for p in env.repo.manifest_at(logged.commit)?.packages.values() {
                    if let Ok(k) = StoreKey::parse(&p.store_key) {
                        keep.insert(k);
                    }
                }
            }
        }
    }
    Ok(keep)
}

/// The environments sharing the lvm home's store: the named ones under `<home>/envs/` and
/// every registered one (project `.lvm/` folders, `LVM_ENV` paths) that still exists.
fn home_environments(home: &crate::env::Home) -> Result<Vec<PathBuf>> {
    let dir = home.root.join("envs");
    let mut roots = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|entry| entry.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()
            .with_context(|| format!("listing {}", dir.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    roots.extend(home.registered());
    // A registered environment that was deleted needs nothing from the store.
    let mut seen = BTreeSet::new();
    roots.retain(|root| {
        root.join(".git").is_dir()
            && seen.insert(std::fs::canonicalize(root).unwrap_or_else(|_| root.clone()))
    });
    roots.sort();
    Ok(roots)
}

/// Merges another profile's requested packages into the current profile, through the resolver.
pub fn merge_profile(env: &Environment, other: &str) -> Result<String> {
    let other_head = env.repo.profile_head(other)?;
    let theirs = env.repo.manifest_at(other_head)?;
    let current = env.manifest()?;
    let session = Session::open(env, &ServerChoice::default())?;
    let mut candidates = session.candidates(&current);
    for (name, package) in &theirs.packages {
        candidates.pin_installed(name, package);
    }
    let mut requested = current.requested();
    let mut requirements: Vec<Dependency> = Vec::new();
    for (name, constraint) in current.requested().into_iter().chain(theirs.requested()) {
        requirements.push(Dependency {
            name: name.clone(),
            constraints: Constraints::parse(&constraint)?,
        });
        requested.entry(name).or_insert(constraint);
    }
    let request = Request {
        requirements,
        lua_version: Version::parse(&env.config.lua)?,
        preferred: preferred_versions(&current, &BTreeSet::new()),
        allow_development: false,
    };
    let resolution = resolve::resolve(&candidates, &request).map_err(|e| {
        anyhow!(
            "profiles '{}' and '{other}' cannot be merged:\n{e}",
            env.profile().unwrap_or_default()
        )
    })?;
    let mut timings = BTreeMap::new();
    let (target, hits, builds) = build_target_state(
        &session,
        &candidates,
        &current,
        &resolution,
        &requested,
        &mut timings,
    )?;
    let changes = manifest::diff(&current, &target);
    let mut event = crate::events::Event::new(
        EventKind::ProfileMerge,
        vec![other.to_string()],
        changes.clone(),
    );
    event.store_hits = hits;
    event.builds = builds;
    event
        .details
        .insert("merged".into(), other_head.to_string());
    let head = env.head()?;
    env.commit_change(head, event, &target, Some(other_head), &mut timings)?;
    let mut out = format!("Merged profile '{other}' into '{}'", env.profile()?);
    for c in &changes {
        out.push_str(&format!("\n  {}", c.summary()));
    }
    Ok(out)
}

/// The build settings that can change what this rockspec's build produces: none for pure Lua,
/// the C compiler and flags for C modules, plus the tool for make/cmake builds.
fn build_fingerprint(ctx: &BuildContext, rockspec: &Rockspec) -> String {
    use crate::rockspec::{BuildType, Module};
    let compiles_c = rockspec.build.modules.values().any(|m| match m {
        Module::C(_) => true,
        Module::Lua(path) => path.ends_with(".c"),
    });
    let mut parts = Vec::new();
    let compiler = format!(
        "cc={}|cflags={}|libflag={}",
        ctx.cc, ctx.cflags, ctx.libflag
    );
    match rockspec.build.kind {
        BuildType::Builtin if compiles_c => parts.push(compiler),
        BuildType::Builtin | BuildType::None => {}
        BuildType::Make => parts.extend([compiler, format!("make={}", ctx.make)]),
        BuildType::Command => parts.push(compiler),
        BuildType::Cmake => parts.extend([
            compiler,
            format!("cmake={}", ctx.cmake.as_deref().unwrap_or("")),
        ]),
    }
    parts.extend(ctx.variables.iter().map(|(k, v)| format!("{k}={v}")));
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets_join_names_with_following_constraints() {
        let targets = parse_targets(&args(&["penlight", ">= 1.13", "lpeg 1.1.0-2", "x"])).unwrap();
        let names: Vec<String> = targets
            .iter()
            .map(|t| match t {
                Target::Package(d) => d.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names.len(), 3);
        assert!(names[0].starts_with("penlight") && names[0].contains(">= 1.13"));
        assert!(names[1].starts_with("lpeg") && names[1].contains("1.1.0-2"));
        assert_eq!(names[2], "x");
        let err = parse_targets(&args(&[">= 1.0"])).unwrap_err().to_string();
        assert!(err.contains("no package name comes before it"), "{err}");
    }

    #[test]
    fn targets_recognize_rockspecs_git_urls_and_git_paths() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("myrock");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        let path = repo.display().to_string();
        let targets = parse_targets(&args(&[
            "./x-1.0-1.rockspec",
            "git+file:///srv/r@v1",
            &format!("{path}@v2"),
        ]))
        .unwrap();
        assert_eq!(
            targets[0],
            Target::Rockspec(PathBuf::from("./x-1.0-1.rockspec"))
        );
        let Target::Git(spec) = &targets[1] else {
            panic!("{targets:?}")
        };
        assert_eq!(
            (spec.url.as_str(), spec.reference.as_deref()),
            ("git+file:///srv/r", Some("v1"))
        );
        let Target::Git(spec) = &targets[2] else {
            panic!("{targets:?}")
        };
        let absolute = std::fs::canonicalize(&repo).unwrap();
        assert_eq!(spec.url, format!("git+file://{}", absolute.display()));
        assert_eq!(spec.reference.as_deref(), Some("v2"));
        let err = parse_targets(&args(&[dir.path().to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("neither a .rockspec file nor a git repository"),
            "{err}"
        );
    }

    #[test]
    fn only_arguments_written_as_paths_are_paths() {
        assert!(looks_like_path("./x") && looks_like_path("a/b") && looks_like_path("."));
        assert!(!looks_like_path("gitrock") && !looks_like_path("lua-cjson"));
    }

    #[test]
    fn http_timeout_setting() {
        assert_eq!(fetch_options(None).unwrap(), FetchOptions::default());
        assert_eq!(fetch_options(Some(" ")).unwrap(), FetchOptions::default());
        let opts = fetch_options(Some("1.5")).unwrap();
        assert_eq!(opts.connect_timeout, Duration::from_millis(1500));
        assert_eq!(opts.read_timeout, Duration::from_millis(1500));
        for bad in ["0", "-3", "soon", "inf", "NaN"] {
            let err = fetch_options(Some(bad)).unwrap_err().to_string();
            assert!(err.contains(HTTP_TIMEOUT_VAR) && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn error_text_skips_causes_already_quoted() {
        let inner = anyhow!("disk full");
        let err = inner
            .context("cannot write x: disk full")
            .context("installing y");
        assert_eq!(error_text(&err), "installing y: cannot write x: disk full");
        let err = anyhow!("root cause").context("outer");
        assert_eq!(error_text(&err), "outer: root cause");
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
