//! Preparing a resolution: every package of the target state found in the store or fetched
//! and built into it, in parallel, with its manifest record.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use crate::build::{self, BuildContext};
use crate::cache::recipe::RecipeKey;
use crate::errors::error_text;
use crate::fetch::{self, ExtractLimits, SourceOptions};
use crate::manifest::{self, Manifest, Package, PackageSource, Reason};
use crate::ops::install::candidates::{Candidates, Origin, is_binary_rock, published_rock};
use crate::ops::install::prepared::Prepared;
use crate::ops::install::session::Session;
use crate::ops::{Error, PackageFailure, Result, fs_error};
use crate::report::Readiness;
use crate::resolve;
use crate::rockspec::Rockspec;
use crate::server::RocksServer;
use crate::store::{RockMeta, StoreKey};
use crate::version::Version;

/// One package the store may lack.
pub(in crate::ops) struct Job {
    pub(in crate::ops) name: String,
    pub(in crate::ops) version: Version,
    pub(in crate::ops) origin: Origin,
}

/// Turns a resolution into a full state, building what the store lacks (in parallel).
pub(in crate::ops) fn build_target_state(
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
            .ok_or_else(|| Error::NoLongerAvailable {
                name: name.clone(),
                version: version.clone(),
            })?;
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
        lua: session.lua.to_string(),
        packages,
    };
    target.recompute_reasons();
    Ok((target, hits, builds))
}

/// Prepares every job: up to [`prepare_workers`] packages at once, so downloads, unpacking
/// and store inserts go on while compilers run; the compilers and tools of all of them share
/// `jobs` process slots ([`crate::build::ProcessSlots`]), and the packages that compile the
/// most start first ([`schedule`]), so the compiles, the longest part, begin at once. A
/// package whose build started before resolution ended ([`crate::ops::install::early`]) is
/// adopted: its worker waits for that build instead of starting another.
pub(in crate::ops) fn run_jobs(
    session: &Session,
    candidates: &Candidates<'_>,
    jobs: Vec<Job>,
) -> Result<Vec<(String, Package, bool)>> {
    if jobs.is_empty() {
        return Ok(vec![]);
    }
    let reporter = session.reporter.as_ref();
    reporter.preparing(jobs.len());
    let workers = prepare_workers(
        session.build_ctx.jobs,
        jobs.len(),
        session.caches.asks_any(),
    );
    let weighed = jobs
        .into_iter()
        .map(|job| {
            let weight = match &job.origin {
                // Known since resolution: the rockspec is cached, no request is made.
                Origin::Server { .. } => candidates
                    .server_rockspec(&job.name, &job.version)
                    .map_or(0, |(_, rockspec)| compile_weight(&rockspec)),
                _ => 0,
            };
            (job, weight)
        })
        .collect();
    let queue = Mutex::new(schedule(weighed));
    // A package built early looked its caches up itself.
    let prefetched = Mutex::new(prefetch_from_caches(
        session,
        candidates,
        queue
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|job| !built_early(candidates, job)),
    ));
    let results = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let Some(job) = queue.lock().expect("not poisoned").pop_front() else {
                        break;
                    };
                    reporter.package_started(&job.name, &job.version);
                    let ready = prefetched.lock().expect("not poisoned").remove(&job.name);
                    let outcome = match ready {
                        Some(package) => Ok(Prepared::found(package)),
                        None => built_early(candidates, &job)
                            .then(|| candidates.early.adopt(&job.name, &job.version))
                            .flatten()
                            .unwrap_or_else(|| ensure_package(session, candidates, &job)),
                    };
                    match outcome {
                        Ok(Prepared {
                            package,
                            hit,
                            warnings,
                        }) => {
                            for warning in &warnings {
                                reporter.warning(warning);
                            }
                            let how = match hit {
                                true if session.caches.supplied(&package.store_key) => {
                                    Readiness::FromCache
                                }
                                true => Readiness::FromStore,
                                false => Readiness::Built,
                            };
                            reporter.package_ready(&job.name, &job.version, how);
                            results
                                .lock()
                                .expect("not poisoned")
                                .push((job.name, package, hit));
                        }
                        Err(e) => {
                            reporter.package_failed(&job.name, &job.version);
                            errors.lock().expect("not poisoned").push(PackageFailure {
                                name: job.name,
                                version: job.version,
                                error: e,
                            });
                        }
                    }
                }
            });
        }
    });
    reporter.prepared();
    let mut failures = errors.into_inner().expect("not poisoned");
    if !failures.is_empty() {
        // The same failures in the same order whichever worker met them first.
        failures.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        return Err(Error::Packages { failures });
    }
    Ok(results.into_inner().expect("not poisoned"))
}

/// Finds the server packages among `jobs` whose builds a cache holds under a trusted recipe
/// record, and puts those builds into the store, before any package is prepared: up to
/// [`MAX_PREPARING`] packages at once, since over a network cache each lookup waits on round
/// trips, not on this machine. Returns their manifest records by name; a package not found
/// here (no record, no entry, any failure) is prepared as usual.
fn prefetch_from_caches<'a>(
    session: &Session,
    candidates: &Candidates<'_>,
    jobs: impl Iterator<Item = &'a Job>,
) -> BTreeMap<String, Package> {
    if !session.caches.reads_recipes() {
        return BTreeMap::new();
    }
    let pending: Mutex<Vec<&Job>> = Mutex::new(
        jobs.filter(|job| matches!(job.origin, Origin::Server { .. }))
            .collect(),
    );
    let found = Mutex::new(BTreeMap::new());
    let workers = pending
        .lock()
        .expect("not poisoned")
        .len()
        .min(MAX_PREPARING);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    // Its own statement: the lock is released before the lookup, not after.
                    let next = pending.lock().expect("not poisoned").pop();
                    let Some(job) = next else {
                        break;
                    };
                    let Ok(Some(inputs)) = job_inputs(session, candidates, job) else {
                        continue;
                    };
                    let Some(recipe) = recipe_for(session, &job.name, &inputs) else {
                        continue;
                    };
                    if let Ok(Some(package)) = via_recipe(session, &inputs, &recipe) {
                        found
                            .lock()
                            .expect("not poisoned")
                            .insert(job.name.clone(), package);
                    }
                }
            });
        }
    });
    found.into_inner().expect("not poisoned")
}

/// How many packages are prepared at once: beyond the `jobs` that may compile, two more that
/// download, unpack and fill the store meanwhile (work that waits on the network and the
/// disk, not on the processor), at most [`MAX_PREPARING`], and never more than there are
/// packages. With build caches to ask, [`MAX_PREPARING`]: each lookup waits on a cache's
/// round trips, and the builds of packages no cache has still share the `jobs` process
/// slots. Pure.
pub(in crate::ops) fn prepare_workers(jobs: usize, packages: usize, asks_caches: bool) -> usize {
    const BESIDE_COMPILES: usize = 2;
    let wanted = match asks_caches {
        true => MAX_PREPARING,
        false => jobs.max(1) + BESIDE_COMPILES,
    };
    wanted.min(MAX_PREPARING).min(packages).max(1)
}

/// The most packages prepared at once, which is also the most downloads from one rocks
/// server at once: a small server (Python's `http.server` queues 5 connections) drops the
/// connections beyond its queue, and the client retries them only after a second.
const MAX_PREPARING: usize = 8;

/// How much compiling a rockspec's build does, to start the longest first: its C source files
/// for a builtin build, more than any of those for a make, cmake or command build (whose
/// work is unknown until it runs), none for pure Lua. Pure.
pub(in crate::ops) fn compile_weight(rockspec: &Rockspec) -> usize {
    use crate::rockspec::{BuildType, Module};
    const TOOL_BUILD: usize = 1000;
    match rockspec.build.kind {
        BuildType::None => 0,
        BuildType::Make | BuildType::Cmake | BuildType::Command => TOOL_BUILD,
        BuildType::Builtin => rockspec
            .build
            .modules
            .values()
            .map(|m| match m {
                Module::C(c) => c.sources.len(),
                Module::Lua(path) if !path.ends_with(".lua") => 1,
                Module::Lua(_) => 0,
            })
            .sum(),
    }
}

/// The order packages are prepared in: the heaviest compile first, ties by name (the
/// resolution's order). Pure.
pub(in crate::ops) fn schedule<T>(mut weighed: Vec<(T, usize)>) -> VecDeque<T> {
    // Stable: packages of equal weight keep their order.
    weighed.sort_by_key(|(_, weight)| std::cmp::Reverse(*weight));
    weighed.into_iter().map(|(job, _)| job).collect()
}

/// The inputs of a build, which make its store key: the rockspec, the exact source bytes
/// (`source`, [`Sources::identity`]: the downloaded archive's or rock's sha256, or the commit),
/// the Lua version, the platform and the build settings. Keying by the source bytes means a
/// build from one server's files is never taken for a build of another's, even when both
/// publish the same rockspec.
pub(in crate::ops) fn store_key(
    rockspec_text: &str,
    rockspec: &Rockspec,
    commit: Option<&str>,
    source: &str,
    local_inputs: Option<&str>,
    ctx: &BuildContext,
) -> StoreKey {
    let [rockspec_sha, platform, build] = recipe_inputs(rockspec_text, rockspec, ctx);
    let mut inputs = vec![
        ("rockspec", rockspec_sha.as_str()),
        ("git_commit", commit.unwrap_or("")),
        ("source", source),
        ("lua", ctx.lua_version.as_str()),
        ("platform", platform.as_str()),
        ("build", build.as_str()),
    ];
    // A project directory's build depends on its files, which no rockspec or commit pins.
    inputs.extend(local_inputs.map(|sha| ("local_inputs", sha)));
    StoreKey::compute(&inputs)
}

/// The store key's inputs besides the sources: the rockspec's sha256, the platform and the
/// build settings that matter to this rockspec (the Lua version is `ctx`'s). Pure.
fn recipe_inputs(rockspec_text: &str, rockspec: &Rockspec, ctx: &BuildContext) -> [String; 3] {
    [
        crate::digest::sha256_bytes(rockspec_text.as_bytes()),
        crate::platform::rock_arch(),
        build_fingerprint(ctx, rockspec),
    ]
}

/// The address of a recipe record: everything [`store_key`] covers except the source bytes,
/// with where those bytes are downloaded from (`source_from`, see [`recipe_source`]) instead.
/// Pure.
pub(in crate::ops) fn recipe_key(
    rockspec_text: &str,
    rockspec: &Rockspec,
    source_from: &str,
    ctx: &BuildContext,
) -> RecipeKey {
    let [rockspec_sha, platform, build] = recipe_inputs(rockspec_text, rockspec, ctx);
    RecipeKey::compute(&[
        ("recipe", "1"),
        ("rockspec", rockspec_sha.as_str()),
        ("source_from", source_from),
        ("lua", ctx.lua_version.as_str()),
        ("platform", platform.as_str()),
        ("build", build.as_str()),
    ])
}

/// Where a package's source bytes are downloaded from, when a signed recipe record may vouch
/// for them instead: a fixed, published file. `None` for development versions (their archive
/// changes under one URL), git sources without a tag (a branch moves), `file://` and plain
/// paths (they name a file on each machine, not one published file, and reading one costs no
/// network wait), and sources already on disk. Pure.
pub(in crate::ops) fn recipe_source(
    hint: &SourceHint,
    name: &str,
    rockspec: &Rockspec,
) -> Option<String> {
    if rockspec.version.is_development() {
        return None;
    }
    let remote = |url: &str| url.starts_with("https://") || url.starts_with("http://");
    match hint {
        SourceHint::Remote => {
            let url = &rockspec.source.url;
            let fixed = if fetch::is_git_url(url) {
                rockspec.source.tag.is_some()
                    && (url.starts_with("git+http") || url.starts_with("git://"))
            } else {
                remote(url)
            };
            fixed.then(|| url.clone())
        }
        SourceHint::Rock { server, arches } => {
            let (file, _) = published_rock(name, &rockspec.version, arches);
            remote(server.url()).then(|| format!("{}/{file}", server.url()))
        }
        SourceHint::Dir(_) | SourceHint::LocalRock { .. } | SourceHint::Local { .. } => None,
    }
}

/// The recipe of a job whose source a record may vouch for (see [`recipe_source`]).
fn recipe_for(session: &Session, name: &str, inputs: &JobInputs) -> Option<RecipeKey> {
    recipe_source(&inputs.hint, name, &inputs.rockspec)
        .map(|from| recipe_key(&inputs.text, &inputs.rockspec, &from, &session.build_ctx))
}

/// The package from the build a trusted recipe record names, without fetching its source: the
/// record's source digest forms the store key, whose entry comes from the store or a cache
/// (checked as always). `None` when there is no record, the record does not make the key it
/// names, or neither the store nor a cache has that entry; the caller then fetches the source.
fn via_recipe(
    session: &Session,
    inputs: &JobInputs,
    recipe: &RecipeKey,
) -> Result<Option<Package>> {
    let scratch = session.scratch.path();
    let Some(found) = session.caches.recipe(recipe, scratch) else {
        return Ok(None);
    };
    let (sha, commit) = (&found.meta.source_sha256, &found.meta.source_commit);
    let identity = source_identity(
        Some(sha.as_str()).filter(|s| !s.is_empty()),
        Some(commit.as_str()).filter(|s| !s.is_empty()),
    );
    let key = store_key(
        &inputs.text,
        &inputs.rockspec,
        None,
        &identity,
        None,
        &session.build_ctx,
    );
    if key != found.meta.key {
        session.reporter.warning(&format!(
            "build cache {}: the recipe record {recipe} signed by '{}' names store key {}, but \
             its source digest makes {key} here; fetching the source instead",
            found.cache, found.signed_by, found.meta.key
        ));
        return Ok(None);
    }
    let Some((_, files_sha256)) = stored_or_vouched(session, &key, Some(&found))? else {
        return Ok(None);
    };
    session.caches.used_recipe(&key, &found);
    let source = with_source_record(inputs.source.clone(), Some(sha), Some(commit));
    Ok(Some(package_record(
        &inputs.rockspec,
        source,
        &key,
        files_sha256,
    )))
}

/// What preparing a job starts from.
struct JobInputs {
    text: String,
    rockspec: Rockspec,
    /// The manifest record of the source, without the digest fetching it will give.
    source: PackageSource,
    hint: SourceHint,
    /// A project directory's input digest (see [`store_key`]).
    local_inputs: Option<String>,
}

/// The rockspec, source record and source location of a job; `None` for an installed package.
fn job_inputs(
    session: &Session,
    candidates: &Candidates<'_>,
    job: &Job,
) -> Result<Option<JobInputs>> {
    let mut local_inputs = None;
    let (text, rockspec, source, source_dir_hint) = match &job.origin {
        Origin::Server { server, arches } => {
            let (text, rockspec) = candidates.server_rockspec(&job.name, &job.version)?;
            let source = PackageSource::Server {
                server: session.servers[*server].0.url().to_string(),
                rockspec_sha256: crate::digest::sha256_bytes(text.as_bytes()),
                url: rockspec.source.url.clone(),
                sha256: None,
                commit: None,
            };
            let hint = server_hint(&session.servers[*server].0, arches);
            (text, rockspec, source, hint)
        }
        Origin::LocalRockspec { path } | Origin::RockspecUrl { path, .. } => {
            let text = std::fs::read_to_string(path).map_err(fs_error("read", path))?;
            let rockspec = Rockspec::from_lua(&text, &path.display().to_string())?;
            // A downloaded rockspec is recorded by its URL, where a rebuild fetches it again.
            let recorded = match &job.origin {
                Origin::RockspecUrl { url, .. } => url.clone(),
                _ => path.display().to_string(),
            };
            let source = PackageSource::Rockspec {
                path: recorded,
                rockspec_sha256: crate::digest::sha256_bytes(text.as_bytes()),
                url: rockspec.source.url.clone(),
                sha256: None,
                commit: None,
            };
            (text, rockspec, source, SourceHint::Remote)
        }
        Origin::LocalRock {
            path,
            text,
            recorded,
        } => {
            let rockspec = Rockspec::from_lua(text, recorded)?;
            let source = PackageSource::Rock {
                path: recorded.clone(),
                sha256: fetch::sha256_file(path)?,
                rockspec_sha256: crate::digest::sha256_bytes(text.as_bytes()),
            };
            let hint = SourceHint::LocalRock { path: path.clone() };
            (text.clone(), rockspec, source, hint)
        }
        Origin::Git {
            url,
            commit,
            checkout,
            rockspec: rel,
        } => {
            let file = checkout.join(rel);
            let text = std::fs::read_to_string(&file).map_err(fs_error("read", &file))?;
            let rockspec = Rockspec::from_lua(&text, rel)?;
            let source = PackageSource::Git {
                url: url.clone(),
                commit: commit.clone(),
                rockspec: rel.clone(),
                rockspec_sha256: crate::digest::sha256_bytes(text.as_bytes()),
            };
            (text, rockspec, source, SourceHint::Dir(checkout.clone()))
        }
        // In the store already: nothing to prepare.
        Origin::Installed(_) => return Ok(None),
        Origin::Local(target) => {
            let prepared = crate::fetch::project::prepare(target, session.scratch.path())?;
            local_inputs = Some(prepared.inputs_sha256);
            let hint = SourceHint::Local {
                dir: prepared.build_dir,
                links: prepared.links,
            };
            (prepared.text, prepared.rockspec, prepared.source, hint)
        }
    };
    Ok(Some(JobInputs {
        text,
        rockspec,
        source,
        hint: source_dir_hint,
        local_inputs,
    }))
}

/// Whether `job`'s package is being (or was) built early. Early builds are of server packages
/// only: a pinned candidate of the same version (a local rockspec, an installed record) is
/// another package.
fn built_early(candidates: &Candidates<'_>, job: &Job) -> bool {
    matches!(job.origin, Origin::Server { .. }) && candidates.early.started(&job.name, &job.version)
}

/// Makes sure one package is in the store; returns its manifest record, whether it was
/// already there and what its build warned about.
pub(in crate::ops) fn ensure_package(
    session: &Session,
    candidates: &Candidates<'_>,
    job: &Job,
) -> Result<Prepared> {
    if let Origin::Installed(p) = &job.origin {
        return Ok(Prepared::found((**p).clone()));
    }
    let Some(inputs) = job_inputs(session, candidates, job)? else {
        return Err(Error::NoLongerAvailable {
            name: job.name.clone(),
            version: job.version.clone(),
        });
    };
    let recipe = recipe_for(session, &job.name, &inputs);
    if let Some(recipe) = &recipe
        && let Some(package) = via_recipe(session, &inputs, recipe)?
    {
        return Ok(Prepared::found(package));
    }
    let JobInputs {
        text,
        rockspec,
        source,
        hint: source_dir_hint,
        local_inputs,
    } = inputs;
    let commit = match &source {
        PackageSource::Git { commit, .. } => Some(commit.clone()),
        _ => None,
    };
    // The sources come first: the store key names their exact bytes.
    let sources = fetch_sources(
        session,
        &job.name,
        &rockspec,
        source_dir_hint,
        &Expected::default(),
    )?;
    let key = store_key(
        &text,
        &rockspec,
        commit.as_deref(),
        &sources.identity(),
        local_inputs.as_deref(),
        &session.build_ctx,
    );
    if let Some((stored, files_sha256)) = stored_or_cached(session, &key)? {
        let source = with_source_record(
            source,
            stored.meta.extra.get("source_sha256"),
            stored.meta.extra.get("source_commit"),
        );
        return Ok(Prepared::found(package_record(
            &rockspec,
            source,
            &key,
            files_sha256,
        )));
    }
    let built = Built {
        key: &key,
        recipe: recipe.as_ref(),
    };
    let built = build_sources(session, &job.name, &text, &rockspec, source, sources, built)?;
    Ok(Prepared {
        package: package_record(&rockspec, built.source, &key, built.files_sha256),
        hit: false,
        warnings: built.warnings,
    })
}

/// The store entry for `key` with the digest of its files: the intact one in the store, else
/// one a cache supplies; `None` when neither has it.
fn stored_or_cached(
    session: &Session,
    key: &StoreKey,
) -> Result<Option<(crate::store::StoredRock, String)>> {
    stored_or_vouched(session, key, None)
}

/// [`stored_or_cached`], where `vouched` is the recipe record that named `key`, if one did:
/// when it folds in the entry's metadata, the cache is asked for the rock straight away.
fn stored_or_vouched(
    session: &Session,
    key: &StoreKey,
    vouched: Option<&crate::ops::cache::FoundRecipe>,
) -> Result<Option<(crate::store::StoredRock, String)>> {
    if let Some(ready) = intact_entry(session, key)? {
        return Ok(Some(ready));
    }
    let fetched =
        session
            .caches
            .fetch_vouched_into_store(&session.store, &session.pins, key, vouched)?;
    Ok(fetched.map(|inserted| (inserted.rock, inserted.files_sha256)))
}

/// The store entry for `key` with the digest of its files, when it is present and its files
/// still match the hashes it recorded; a damaged entry is removed, so the caller builds it
/// again.
fn intact_entry(
    session: &Session,
    key: &StoreKey,
) -> Result<Option<(crate::store::StoredRock, String)>> {
    session.pins.pin(key)?;
    let Some(stored) = session.store.get(key)? else {
        return Ok(None);
    };
    let check = crate::store::Store::verify_stored(&stored)?;
    if let Some(files_sha256) = check.files_sha256 {
        return Ok(Some((stored, files_sha256)));
    }
    tracing::warn!(
        "store entry {key} no longer matches its recorded hashes ({} modified, {} missing, {} added); building it again",
        check.modified.len(),
        check.missing.len(),
        check.extra.len()
    );
    session.store.remove(key)?;
    Ok(None)
}

/// Where a package's sources are, beyond what `source.url` says.
pub(in crate::ops) enum SourceHint {
    /// Fetch `source.url`.
    Remote,
    /// Already on disk (a git checkout or a local folder).
    Dir(PathBuf),
    /// Inside a `.src.rock` (or a binary rock) on a server.
    Rock {
        server: Box<RocksServer>,
        arches: Vec<String>,
    },
    /// Inside a rock file on disk (source or binary).
    LocalRock { path: PathBuf },
    /// A snapshot of a project directory; the build records which of its files it copied.
    Local {
        dir: PathBuf,
        links: Vec<crate::fetch::project::LinkCandidate>,
    },
}

/// Where the sources of a server package are, as LuaRocks picks them: the server's `.src.rock`
/// when it publishes one (so a rock whose upstream host is gone still installs), else its
/// rockspec's `source.url`, else the published binary rock.
pub(in crate::ops) fn server_hint(server: &RocksServer, arches: &[String]) -> SourceHint {
    let src_rock = arches.iter().any(|a| a == "src");
    if !src_rock && arches.iter().any(|a| a == "rockspec") {
        SourceHint::Remote
    } else {
        SourceHint::Rock {
            server: Box::new(server.clone()),
            arches: arches.to_vec(),
        }
    }
}

/// What a rebuild must find again: the recorded archive digest and git commit.
#[derive(Debug, Clone, Default)]
pub(in crate::ops) struct Expected {
    pub(in crate::ops) sha256: Option<String>,
    pub(in crate::ops) commit: Option<String>,
}

pub(in crate::ops) fn with_source_record(
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
        PackageSource::Git { .. }
        | PackageSource::Rock { .. }
        | PackageSource::Local { .. }
        | PackageSource::Linked { .. } => {}
    }
    source
}

/// One package's scratch folder inside the session's: made only when something is written
/// into it (a package found in the store writes nothing), removed with the package's
/// [`Sources`].
struct JobDir(PathBuf);

impl JobDir {
    /// The folder, which may not exist yet: for callers that make what they write into.
    fn path(&self) -> &Path {
        &self.0
    }

    /// The folder, made if it is not there yet.
    fn made(&self) -> Result<&Path> {
        std::fs::create_dir_all(&self.0).map_err(fs_error("create", &self.0))?;
        Ok(&self.0)
    }
}

impl Drop for JobDir {
    fn drop(&mut self) {
        // Like a temporary directory: best effort, and the session's scratch space goes too.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fetched sources of one package, ready to build (or, for a binary rock, already built).
pub(in crate::ops) struct Sources {
    /// Holds the download, the unpacked sources and the build prefix.
    work: JobDir,
    /// The directory to build in; `None` for a binary rock, unpacked into the prefix already.
    dir: Option<PathBuf>,
    /// sha256 of the downloaded archive or rock.
    sha256: Option<String>,
    /// The commit a git `source.url` was checked out at.
    commit: Option<String>,
    /// A project directory's files that a linked package's tree links to.
    links: Option<Vec<crate::fetch::project::LinkCandidate>>,
    /// A downloaded archive not unpacked yet: only a build needs its files, and a package
    /// found in the store needs none.
    packed: Option<fetch::FetchedBytes>,
}

impl Sources {
    /// The folder a build installs into, made on first use: a package found in the store
    /// never needs one.
    fn prefix(&self) -> Result<PathBuf> {
        // `create_dir_all` makes the job's folder too.
        let prefix = self.work.path().join("prefix");
        std::fs::create_dir_all(&prefix).map_err(fs_error("create", &prefix))?;
        Ok(prefix)
    }

    /// Unpacks the archive [`fetch_sources`] left packed, if any, so `dir` is where to build.
    fn unpack(&mut self, session: &Session, rockspec: &Rockspec) -> Result<()> {
        let Some(packed) = self.packed.take() else {
            return Ok(());
        };
        let fetched = packed
            .unpack(
                &rockspec.source,
                &self.work.made()?.join("src"),
                &session.fetch_opts.limits,
            )
            .map_err(|e| naming_url(e.into(), &rockspec.source.url))?;
        self.dir = Some(fetched.dir);
        Ok(())
    }

    /// The exact bytes the build is made from, as a store key input: the downloaded file's
    /// sha256 or the checked-out commit. Empty for sources already on disk, whose identity
    /// the key holds otherwise (a git origin's commit, a project directory's input digest).
    pub(in crate::ops) fn identity(&self) -> String {
        source_identity(self.sha256.as_deref(), self.commit.as_deref())
    }
}

/// The store key's `source` input for a downloaded file's sha256 or a checked-out commit. Pure.
fn source_identity(sha256: Option<&str>, commit: Option<&str>) -> String {
    match (sha256, commit) {
        (Some(sha), _) => format!("sha256:{sha}"),
        (None, Some(commit)) => format!("git:{commit}"),
        (None, None) => String::new(),
    }
}

/// How a package's `source.url` is fetched: the session's limits and timeouts, the recorded
/// digest or commit a rebuild must find again, and the archive cache (not for development
/// versions, whose archive changes under one URL).
fn source_options(session: &Session, rockspec: &Rockspec, expected: &Expected) -> SourceOptions {
    SourceOptions {
        fetch: session.fetch_opts.clone(),
        expected_sha256: expected.sha256.clone(),
        git_commit: expected.commit.clone(),
        archive_cache: (!rockspec.version.is_development())
            .then(|| session.cache_dir.join(crate::layout::SOURCES_CACHE_DIR)),
    }
}

/// Fetches a package's sources into a fresh scratch directory, checking what `expected`
/// records (a rebuild must find the same bytes again).
pub(in crate::ops) fn fetch_sources(
    session: &Session,
    name: &str,
    rockspec: &Rockspec,
    hint: SourceHint,
    expected: &Expected,
) -> Result<Sources> {
    let work = JobDir(session.job_dir_path());
    let mut sources = Sources {
        dir: None,
        sha256: None,
        commit: None,
        links: None,
        packed: None,
        work,
    };
    let dir = match hint {
        SourceHint::Dir(dir) => dir,
        SourceHint::Local { dir, links } => {
            sources.links = Some(links);
            dir
        }
        SourceHint::Remote => {
            let fetched = fetch::fetch_source_bytes(
                &rockspec.source,
                &sources.work.path().join("src"),
                &source_options(session, rockspec, expected),
            )
            .map_err(|e| naming_url(e.into(), &rockspec.source.url))?;
            sources.sha256 = fetched.archive_sha256().map(str::to_string);
            sources.commit = fetched.git_commit().map(str::to_string);
            match fetched {
                fetch::FetchedBytes::Checkout(checkout) => checkout.dir,
                packed @ fetch::FetchedBytes::Archive { .. } => {
                    sources.packed = Some(packed);
                    return Ok(sources);
                }
            }
        }
        SourceHint::Rock { server, arches } => {
            let (file, binary) = published_rock(name, &rockspec.version, &arches);
            // `download_to` makes the job's folder.
            let path = sources.work.path().join(&file);
            server.download_to(&file, &path)?;
            let shown = format!("{}/{file}", server.url());
            let rock = (path.as_path(), shown.as_str(), binary);
            match rock_sources(session, &mut sources, rock, rockspec, expected)? {
                Some(dir) => dir,
                None => return Ok(sources),
            }
        }
        SourceHint::LocalRock { path } => {
            let shown = path.display().to_string();
            let rock = (path.as_path(), shown.as_str(), is_binary_rock(&path));
            match rock_sources(session, &mut sources, rock, rockspec, expected)? {
                Some(dir) => dir,
                None => return Ok(sources),
            }
        }
    };
    sources.dir = Some(dir);
    Ok(sources)
}

/// The sources inside a rock file (`shown` names it in errors): checked against the recorded
/// digest, a binary rock unpacked into the prefix as built (`None`), a source rock's sources
/// located for the build.
fn rock_sources(
    session: &Session,
    sources: &mut Sources,
    (rock, shown, binary): (&Path, &str, bool),
    rockspec: &Rockspec,
    expected: &Expected,
) -> Result<Option<PathBuf>> {
    let actual = fetch::sha256_file(rock)?;
    if let Some(recorded) = &expected.sha256
        && !crate::digest::same_digest(recorded, &actual)
    {
        return Err(fetch::FetchError::Sha256Mismatch {
            url: shown.to_string(),
            expected: recorded.clone(),
            actual,
        }
        .into());
    }
    sources.sha256 = Some(actual);
    if binary {
        let prefix = sources.prefix()?;
        fetch::extract(rock, &prefix, &ExtractLimits::default())?;
        check_binary_rock(shown, rockspec, &prefix)?;
        return Ok(None);
    }
    let unpacked = fetch::unpack_src_rock(
        rock,
        &sources.work.made()?.join("src-rock"),
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
    Ok(Some(fetched.dir))
}

/// A binary rock must be whole before it enters the store: its rockspec and `rock_manifest`
/// present, and every file `rock_manifest` lists there with the md5 it records. A broken rock
/// in the store would otherwise stand in for the package until `lvm gc`.
fn check_binary_rock(url: &str, rockspec: &Rockspec, prefix: &Path) -> Result<()> {
    let rockspec_file = rockspec.file_name();
    let mut problems = crate::tree::check_rock_manifest(prefix)?;
    if !prefix.join(&rockspec_file).is_file() {
        problems.insert(0, format!("{rockspec_file} is missing"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::BrokenBinaryRock {
            url: url.to_string(),
            problems,
        })
    }
}

/// Fetches sources, builds into a temp prefix, and inserts the result into the store under
/// `key` (a rebuild of a recorded package: `expected` holds its recorded source digest).
#[allow(clippy::too_many_arguments)]
pub(in crate::ops) fn build_into_store(
    session: &Session,
    name: &str,
    text: &str,
    rockspec: &Rockspec,
    source: PackageSource,
    hint: SourceHint,
    key: &StoreKey,
    expected: &Expected,
) -> Result<(PathBuf, PackageSource)> {
    let recipe = recipe_source(&hint, name, rockspec)
        .map(|from| recipe_key(text, rockspec, &from, &session.build_ctx));
    let sources = fetch_sources(session, name, rockspec, hint, expected)?;
    let built = Built {
        key,
        recipe: recipe.as_ref(),
    };
    let built = build_sources(session, name, text, rockspec, source, sources, built)?;
    for warning in &built.warnings {
        session.reporter.warning(warning);
    }
    Ok((built.prefix, built.source))
}

/// Where a build goes: its store key, and the recipe a record may name it by (kept in the
/// store's metadata, for `lvm cache push`).
struct Built<'a> {
    key: &'a StoreKey,
    recipe: Option<&'a RecipeKey>,
}

/// Builds fetched sources into their prefix and inserts the result into the store under its key.
fn build_sources(
    session: &Session,
    name: &str,
    text: &str,
    rockspec: &Rockspec,
    source: PackageSource,
    mut sources: Sources,
    Built { key, recipe }: Built<'_>,
) -> Result<BuiltRock> {
    sources.unpack(session, rockspec)?;
    let prefix = sources.prefix()?;
    let mut warnings = Vec::new();
    if let Some(source_dir) = &sources.dir {
        crate::env::pause_point("build");
        let report = build::build_rock(rockspec, source_dir, &prefix, &session.build_ctx).map_err(
            |source| Error::Build {
                name: name.to_string(),
                version: rockspec.version.clone(),
                source,
            },
        )?;
        warnings.extend(
            report
                .warnings
                .iter()
                .map(|warning| format!("{name} {}: {warning}", rockspec.version)),
        );
        // Staged for the store, which flushes what it keeps: a plain write.
        let copy = prefix.join(rockspec.file_name());
        std::fs::write(&copy, text.as_bytes()).map_err(fs_error("write", &copy))?;
        crate::tree::write_rock_manifest(&prefix, &rockspec.file_name())?;
    }
    let (sha, commit) = (sources.sha256.clone(), sources.commit.clone());
    let mut extra = BTreeMap::new();
    if let Some(links) = &sources.links {
        extra.insert(
            crate::tree::links::LINKED_FILES_KEY.to_string(),
            crate::fetch::project::linked_files_record(links, &prefix)?,
        );
    }
    extra.insert("source_sha256".to_string(), sha.clone().unwrap_or_default());
    // Which Lua the build is for, so a tree of another Lua never links it (see
    // `Environment::materialize_into`).
    extra.insert(crate::store::LUA_KEY.to_string(), session.lua.to_string());
    extra.insert(
        "source_commit".to_string(),
        commit.clone().unwrap_or_default(),
    );
    if let Some(recipe) = recipe {
        extra.insert(
            crate::ops::cache::RECIPE_KEY.to_string(),
            recipe.to_string(),
        );
    }
    session.pins.pin(key)?;
    let stored = session.store.insert(
        key,
        &prefix,
        RockMeta {
            name: name.to_string(),
            version: rockspec.version.to_string(),
            extra,
        },
    )?;
    Ok(BuiltRock {
        prefix: stored.rock.prefix,
        files_sha256: stored.files_sha256,
        source: with_source_record(source, sha.as_ref(), commit.as_ref()),
        warnings,
    })
}

/// A build in the store: where its files are and their digest (which the insert computed from
/// the reads it made anyway), its source record, and what the build warned about (reported by
/// the caller, once the package is known to be used).
struct BuiltRock {
    prefix: PathBuf,
    files_sha256: String,
    source: PackageSource,
    warnings: Vec<String>,
}

/// Adds the source URL to an error that does not name it already (archive errors name the
/// downloaded file's temporary path).
pub(in crate::ops) fn naming_url(err: Error, url: &str) -> Error {
    if error_text(&err).contains(url) {
        err
    } else {
        Error::Sources {
            url: url.to_string(),
            source: Box::new(err),
        }
    }
}

/// The manifest's record of a package built from `rockspec` and stored under `key`, whose
/// files have the digest `files_sha256` ([`crate::tree::hash_tree_files`]).
pub(in crate::ops) fn package_record(
    rockspec: &Rockspec,
    source: PackageSource,
    key: &StoreKey,
    files_sha256: String,
) -> Package {
    Package {
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
        files_sha256,
    }
}

/// The build settings that can change what this rockspec's build produces: none for pure Lua,
/// the C compiler and flags for C modules, plus the tool for make/cmake builds, and the build
/// variables (the `variables` setting and `NAME=VALUE` arguments) for every build that runs
/// a compiler or a tool.
pub(in crate::ops) fn build_fingerprint(ctx: &BuildContext, rockspec: &Rockspec) -> String {
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
        // Nothing of a pure Lua build reads the settings, build variables included: the same
        // files whatever they are.
        BuildType::Builtin | BuildType::None => return String::new(),
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
pub(in crate::ops) mod tests {
    use super::*;

    /// A rockspec of package `x` with this `build` table.
    pub(in crate::ops) fn rockspec(build: &str) -> Rockspec {
        let text = format!(
            "package = 'x'\nversion = '1.0-1'\nsource = {{ url = 'https://rocks.example.org/x-1.0.tar.gz' }}\nbuild = {build}\n"
        );
        Rockspec::from_lua(&text, "x-1.0-1.rockspec").expect("valid rockspec")
    }

    #[test]
    fn compile_weight_counts_c_sources_and_puts_tools_above_them() {
        let pure = rockspec("{ type = 'builtin', modules = { x = 'x.lua' } }");
        let one =
            rockspec("{ type = 'builtin', modules = { x = 'x.lua', ['x.core'] = 'core.c' } }");
        let three = rockspec(
            "{ type = 'builtin', modules = { a = { sources = { 'a.c', 'b.c' } }, c = 'c.c' } }",
        );
        let make = rockspec("{ type = 'make' }");
        let weights = [&pure, &one, &three, &make].map(compile_weight);
        assert_eq!(weights[..3], [0, 1, 3]);
        assert!(weights[3] > 100, "{weights:?}");
        assert_eq!(compile_weight(&rockspec("{ type = 'none' }")), 0);
    }

    fn with_source(version: &str, source: &str) -> Rockspec {
        let text = format!(
            "package = 'x'\nversion = '{version}'\nsource = {source}\nbuild = {{ type = 'builtin', modules = {{ x = 'x.lua' }} }}\n"
        );
        Rockspec::from_lua(&text, "x.rockspec").expect("valid rockspec")
    }

    #[test]
    fn only_fixed_published_sources_take_a_recipe_record() {
        let source = |version: &str, table: &str| {
            recipe_source(&SourceHint::Remote, "x", &with_source(version, table))
        };
        let archive = "{ url = 'https://rocks.example.org/x-1.0.tar.gz' }";
        assert_eq!(
            source("1.0-1", archive).as_deref(),
            Some("https://rocks.example.org/x-1.0.tar.gz")
        );
        // Development versions: the archive behind the URL changes.
        assert_eq!(source("scm-1", archive), None);
        assert_eq!(source("dev-1", archive), None);
        // git: a tag pins the commit the record names; a branch or no reference moves.
        let tagged = "{ url = 'git+https://rocks.example.org/x.git', tag = 'v1.0' }";
        assert!(source("1.0-1", tagged).is_some());
        let branch = "{ url = 'git+https://rocks.example.org/x.git', branch = 'main' }";
        assert_eq!(source("1.0-1", branch), None);
        assert_eq!(
            source("1.0-1", "{ url = 'git+file:///srv/x.git', tag = 'v1' }"),
            None
        );
        // A file on each machine, not one published file.
        assert_eq!(
            source("1.0-1", "{ url = 'file:///srv/x-1.0.tar.gz' }"),
            None
        );
        assert_eq!(source("1.0-1", "{ url = 'x-1.0.tar.gz' }"), None);
        // Sources already on disk are never downloaded.
        let rockspec = with_source("1.0-1", archive);
        assert_eq!(
            recipe_source(&SourceHint::Dir("/tmp".into()), "x", &rockspec),
            None
        );
    }

    #[test]
    fn a_recipe_covers_the_store_key_inputs_but_the_source_bytes() {
        let ctx = BuildContext::from_vars(
            crate::luaversion::LuaVersion::default(),
            Path::new("/usr/include/lua5.4"),
            None,
            |_| None,
        );
        let text = "package = 'x'";
        let rockspec = with_source("1.0-1", "{ url = 'https://rocks.example.org/x.tar.gz' }");
        let from = "https://rocks.example.org/x.tar.gz";
        let recipe = recipe_key(text, &rockspec, from, &ctx);
        assert_eq!(recipe, recipe_key(text, &rockspec, from, &ctx));
        assert_ne!(recipe, recipe_key("package = 'y'", &rockspec, from, &ctx));
        assert_ne!(
            recipe,
            recipe_key(text, &rockspec, "https://mirror.example.org/x", &ctx)
        );
        // The store key adds the source bytes: two digests, two keys.
        let a = store_key(
            text,
            &rockspec,
            None,
            &source_identity(Some("aa"), None),
            None,
            &ctx,
        );
        let b = store_key(
            text,
            &rockspec,
            None,
            &source_identity(Some("bb"), None),
            None,
            &ctx,
        );
        assert_ne!(a, b);
        assert_eq!(source_identity(None, Some("c0ffee")), "git:c0ffee");
    }

    #[test]
    fn heaviest_compiles_come_first_and_ties_keep_their_order() {
        let order = schedule(vec![("a", 0), ("b", 3), ("c", 0), ("d", 1), ("e", 3)]);
        assert_eq!(Vec::from(order), ["b", "e", "d", "a", "c"]);
    }

    #[test]
    fn workers_go_beyond_the_compile_jobs_but_not_beyond_the_packages() {
        assert_eq!(prepare_workers(2, 51, false), 4);
        assert_eq!(prepare_workers(2, 3, false), 3);
        assert_eq!(prepare_workers(0, 5, false), 3);
        assert_eq!(prepare_workers(16, 51, false), 8);
        assert_eq!(prepare_workers(4, 0, false), 1);
        assert_eq!(prepare_workers(2, 51, true), 8);
        assert_eq!(prepare_workers(2, 3, true), 3);
    }
}
