//! Generates an environment with a long history, for timing `lvm log` and `lvm list` and for
//! measuring how the environment repository grows per event.
//!
//! `cargo bench --bench history -- PATH [--events N] [--pack-every N]` writes the environment to
//! PATH (which must not exist yet) and keeps it; `bench/run.sh` then times the real binary on
//! it. Without PATH it generates into a temporary folder and removes it. Each event is a real
//! commit made the way a change makes it (`EnvRepo::state_tree`, `commit_object`, `publish`,
//! then `pack_if_due` with `PACK_EVERY` events, or `--pack-every N`; 0 never packs), with a
//! realistic state of about 50 packages (installs, removals and upgrades of single packages);
//! rocks trees are not materialized and the working files are written once at the end. It
//! reports the time of `EnvRepo::log` (every event parsed) and `EnvRepo::log_lines` (the plain
//! `lvm log`, from the commits with libgit2's object hash checks on and off, then through the log
//! cache), and the size of `.git` per event,
//! packed and loose. `--read-only` only times and measures an existing PATH. Run without
//! `--bench` (as `cargo test --benches` does) it makes a short history only, so it stays quick.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::Rng;
use git2::Oid;
use lvm::config::EnvConfig;
use lvm::envrepo::{DEFAULT_PROFILE, EnvRepo, PACK_EVERY};
use lvm::events::{Event, EventKind};
use lvm::manifest::{self, Manifest, Package, PackageSource, Reason};
use lvm::version::Version;
use sha2::{Digest, Sha256};

/// Package names the history draws from; the state hovers around `TARGET_SIZE` of them.
const POOL: usize = 80;
const TARGET_SIZE: usize = 50;

struct Options {
    path: Option<PathBuf>,
    events: usize,
    pack_every: usize,
    /// Only time reading the environment at `path`, which exists.
    read_only: bool,
}

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; a plain `cargo test --benches` run does not.
    let benchmarking = args.iter().any(|a| a == "--bench");
    let mut path = None;
    let mut events = if benchmarking { 10_000 } else { 200 };
    // A short history still packs, so `cargo test --benches` runs the packing path.
    let mut pack_every = if benchmarking { PACK_EVERY } else { 64 };
    let mut read_only = false;
    let mut rest = args.iter().filter(|a| *a != "--bench");
    while let Some(arg) = rest.next() {
        if arg == "--read-only" {
            read_only = true;
        } else if arg == "--events" {
            events = rest
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or("--events needs a number")?;
        } else if arg == "--pack-every" {
            pack_every = rest
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or("--pack-every needs a number (0: never pack)")?;
        } else if arg.starts_with('-') {
            return Err(format!(
                "unknown option {arg}; usage: history [PATH] [--events N] [--pack-every N] [--read-only]"
            ));
        } else {
            path = Some(PathBuf::from(arg));
        }
    }
    if read_only && path.is_none() {
        return Err("--read-only needs the PATH of an environment".into());
    }
    Ok(Options {
        path,
        events,
        pack_every,
        read_only,
    })
}

fn hex_digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// A package record shaped like the ones `lvm install` writes for a rocks-server package.
fn package(name: &str, version: &str) -> Result<Package, String> {
    let version_parsed = Version::parse(version).map_err(|e| format!("{name} {version}: {e}"))?;
    let server = "https://rocks.example.org/";
    Ok(Package {
        version: version_parsed,
        reason: Reason {
            requested: Some(String::new()),
            required_by: Vec::new(),
        },
        source: PackageSource::Server {
            server: server.to_string(),
            rockspec_sha256: hex_digest(&[name, version, "rockspec"]),
            url: format!("{server}{name}-{version}.src.rock"),
            sha256: Some(hex_digest(&[name, version, "source"])),
            commit: None,
        },
        dependencies: vec!["lua >= 5.1".to_string()],
        store_key: hex_digest(&[name, version, "store"]),
        files_sha256: hex_digest(&[name, version, "files"]),
    })
}

fn name(i: usize) -> String {
    format!("rock-{i:02}")
}

/// The next state and the event kind that leads to it: upgrades one time in three, otherwise
/// an install while the state is below its target size, a removal above it.
fn step(
    rng: &mut Rng,
    state: &Manifest,
    versions: &mut [u32],
) -> Result<(Manifest, EventKind, String), String> {
    let mut next = state.clone();
    let present: Vec<usize> = (0..POOL)
        .filter(|i| state.packages.contains_key(&name(*i)))
        .collect();
    let absent: Vec<usize> = (0..POOL)
        .filter(|i| !state.packages.contains_key(&name(*i)))
        .collect();
    let roll = rng.below(3);
    if roll == 0 && !present.is_empty() {
        let i = present[rng.index(present.len())];
        versions[i] += 1;
        let version = format!("1.{}-1", versions[i]);
        next.packages.insert(name(i), package(&name(i), &version)?);
        Ok((next, EventKind::Upgrade, name(i)))
    } else if (present.len() < TARGET_SIZE || roll == 1) && !absent.is_empty() {
        let i = absent[rng.index(absent.len())];
        let version = format!("1.{}-1", versions[i]);
        next.packages.insert(name(i), package(&name(i), &version)?);
        Ok((next, EventKind::Install, name(i)))
    } else {
        let i = present[rng.index(present.len())];
        next.packages.remove(&name(i));
        Ok((next, EventKind::Remove, name(i)))
    }
}

/// Bytes of the files below `path` whose path passes `keep`.
fn dir_size(path: &Path, keep: impl Fn(&Path) -> bool) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| keep(e.path()))
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Appends one event the way a change does (the parent's tree with the new `manifest.json`,
/// the event as the message, the profile's ref and reflog moved, packing when due), minus the
/// rocks tree and the per-event rewrite and fsync of the working files, which would make 10,000
/// events take minutes; those are written once at the end with `EnvRepo::sync_worktree`.
fn append(
    repo: &EnvRepo,
    parent: Oid,
    event: &Event,
    manifest: &Manifest,
    pack_every: usize,
) -> Result<Oid, lvm::envrepo::RepoError> {
    let tree = repo.state_tree(parent, manifest)?;
    let commit = repo.commit_object(tree, &[parent], event)?;
    repo.publish(DEFAULT_PROFILE, Some(parent), commit, &event.summary())?;
    if pack_every > 0 {
        repo.pack_if_due(pack_every)?;
    }
    Ok(commit)
}

fn generate(root: &Path, events: usize, pack_every: usize) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", root.display());
    let started = Instant::now();
    let config = EnvConfig::new(
        lvm::luaversion::LuaVersion::Lua54,
        vec!["https://rocks.example.org".into()],
    );
    let mut state = Manifest::empty(config.lua);
    let init = Event::new(EventKind::Init, vec![], vec![]);
    let repo = EnvRepo::init(root, &config.to_toml(), &state, &init).map_err(|e| fail(&e))?;
    let mut head = repo.head().map_err(|e| fail(&e))?;
    let mut rng = Rng(0x1157_0e5e_bead_0001);
    let mut versions = vec![0u32; POOL];
    // The init commit is the first event.
    for _ in 1..events {
        let (next, kind, arg) = step(&mut rng, &state, &mut versions)?;
        let changes = manifest::diff(&state, &next);
        let mut event = Event::new(kind, vec![arg], changes);
        event.durations_ms = BTreeMap::from([
            ("resolve".to_string(), 3),
            ("build".to_string(), 0),
            ("materialize".to_string(), 12),
            ("commit".to_string(), 4),
        ]);
        event.store_hits = 1;
        head = append(&repo, head, &event, &next, pack_every).map_err(|e| fail(&e))?;
        state = next;
    }
    repo.sync_worktree(head).map_err(|e| fail(&e))?;
    println!(
        "generated {events} events ({} packages at the end) in {:.1} s",
        state.packages.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The best of three runs of `f`, in milliseconds.
fn best_ms(mut f: impl FnMut() -> Result<usize, String>) -> Result<(f64, usize), String> {
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..3 {
        let started = Instant::now();
        count = f()?;
        best = best.min(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((best, count))
}

/// Times reading the history (each run with a freshly opened repository, so libgit2's object
/// cache starts empty) and reports the size of `.git`.
fn report(root: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", root.display());
    let open = || EnvRepo::open(root).map_err(|e| fail(&e));
    let head = open()?.head().map_err(|e| fail(&e))?;
    let lines = |cached: bool| -> Result<usize, String> {
        let repo = open()?;
        let mut walk = repo.log_lines(head, cached);
        let count = walk
            .by_ref()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(&e))?
            .len();
        walk.finish();
        Ok(count)
    };
    for strict in [true, false] {
        git2::opts::strict_hash_verification(strict);
        let (log_ms, events) = best_ms(|| {
            let log = open()?.log(head, None).map_err(|e| fail(&e))?;
            Ok(log.len())
        })?;
        let (lines_ms, count) = best_ms(|| lines(false))?;
        if count != events {
            return Err(format!("{events} events in the log but {count} lines"));
        }
        let hashes = if strict { "checked" } else { "not checked" };
        println!(
            "{events} events, object hashes {hashes}: EnvRepo::log {log_ms:.1} ms, EnvRepo::log_lines {lines_ms:.1} ms (best of 3)"
        );
    }
    // The first cached walk reads every commit and writes the cache; later ones read it.
    let _ = std::fs::remove_file(root.join(".git").join("lvm-log-index"));
    let started = Instant::now();
    lines(true)?;
    let priming_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (cached_ms, count) = best_ms(|| lines(true))?;
    println!(
        "{count} events through the log cache: {cached_ms:.1} ms (best of 3; {priming_ms:.1} ms to build it)"
    );
    git2::opts::strict_hash_verification(true);
    let events = open()?.log_lines(head, false).count();
    let git = root.join(".git");
    let git_bytes = dir_size(&git, |_| true);
    let objects = git.join("objects");
    let packed_bytes = dir_size(&objects.join("pack"), |_| true);
    let loose_bytes = dir_size(&objects, |p| {
        !p.components().any(|c| c.as_os_str() == "pack")
    });
    let per_event = |bytes: u64| bytes as f64 / events as f64;
    println!(
        ".git: {git_bytes} bytes ({:.0} per event); objects: {packed_bytes} bytes packed ({:.0} per event), {loose_bytes} bytes loose ({:.0} per event)",
        per_event(git_bytes),
        per_event(packed_bytes),
        per_event(loose_bytes)
    );
    Ok(())
}

fn main() {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("history: {e}");
            std::process::exit(2);
        }
    };
    let temp;
    let root = match &options.path {
        Some(path) if options.read_only => path.clone(),
        Some(path) => {
            if path.exists() {
                eprintln!(
                    "history: {} already exists; give a path that does not (or --read-only)",
                    path.display()
                );
                std::process::exit(2);
            }
            path.clone()
        }
        None => {
            temp = match tempfile::tempdir() {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("history: creating a temporary folder: {e}");
                    std::process::exit(1);
                }
            };
            temp.path().join("env")
        }
    };
    let generated = if options.read_only {
        Ok(())
    } else {
        generate(&root, options.events, options.pack_every)
    };
    if let Err(e) = generated.and_then(|()| report(&root)) {
        eprintln!("history: {e}");
        std::process::exit(1);
    }
}
