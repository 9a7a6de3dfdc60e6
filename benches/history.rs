//! Generates an environment with a long history, for timing `lvm log` and `lvm list` and for
//! measuring how the environment repository grows per event.
//!
//! `cargo bench --bench history -- PATH [--events N]` writes the environment to PATH (which
//! must not exist yet) and keeps it; `bench/run.sh` then times the real binary on it. Without
//! PATH it generates into a temporary folder and removes it. Each event is a real commit made
//! the way `EnvRepo::append` makes it, with a realistic state of about 50 packages (installs, removals and
//! upgrades of single packages); rocks trees are not materialized and the working files are
//! written once at the end. Run without `--bench` (as
//! `cargo test --benches` does) it makes a short history only, so it stays quick.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use git2::{Oid, Signature};
use lvm::config::EnvConfig;
use lvm::envrepo::{DEFAULT_PROFILE, EnvRepo, MANIFEST_FILE};
use lvm::events::{Event, EventKind};
use lvm::manifest::{self, Manifest, Package, PackageSource, Reason};
use lvm::version::Version;
use sha2::{Digest, Sha256};

/// Package names the history draws from; the state hovers around `TARGET_SIZE` of them.
const POOL: usize = 80;
const TARGET_SIZE: usize = 50;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Options {
    path: Option<PathBuf>,
    events: usize,
}

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; a plain `cargo test --benches` run does not.
    let benchmarking = args.iter().any(|a| a == "--bench");
    let mut path = None;
    let mut events = if benchmarking { 10_000 } else { 200 };
    let mut rest = args.iter().filter(|a| *a != "--bench");
    while let Some(arg) = rest.next() {
        if arg == "--events" {
            events = rest
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or("--events needs a number")?;
        } else if arg.starts_with('-') {
            return Err(format!(
                "unknown option {arg}; usage: history [PATH] [--events N]"
            ));
        } else {
            path = Some(PathBuf::from(arg));
        }
    }
    Ok(Options { path, events })
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
        let i = present[rng.below(present.len())];
        versions[i] += 1;
        let version = format!("1.{}-1", versions[i]);
        next.packages.insert(name(i), package(&name(i), &version)?);
        Ok((next, EventKind::Upgrade, name(i)))
    } else if (present.len() < TARGET_SIZE || roll == 1) && !absent.is_empty() {
        let i = absent[rng.below(absent.len())];
        let version = format!("1.{}-1", versions[i]);
        next.packages.insert(name(i), package(&name(i), &version)?);
        Ok((next, EventKind::Install, name(i)))
    } else {
        let i = present[rng.below(present.len())];
        next.packages.remove(&name(i));
        Ok((next, EventKind::Remove, name(i)))
    }
}

fn dir_size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Appends one event commit the way `EnvRepo::append` does (the parent's tree with the new
/// `manifest.json`, the event as the message, the profile's ref and reflog moved), minus the
/// per-event rewrite and fsync of the working files, which would make 10,000 events take
/// minutes; those are written once at the end with `EnvRepo::sync_worktree`.
fn append(
    repo: &EnvRepo,
    parent: Oid,
    event: &Event,
    manifest: &Manifest,
) -> Result<Oid, git2::Error> {
    let git = repo.git();
    let parent = git.find_commit(parent)?;
    let blob = git.blob(&manifest.to_bytes())?;
    let mut builder = git.treebuilder(Some(&parent.tree()?))?;
    builder.insert(MANIFEST_FILE, blob, 0o100644)?;
    let tree = git.find_tree(builder.write()?)?;
    let signature = git
        .signature()
        .or_else(|_| Signature::now("lvm", "lvm@localhost"))?;
    let message = event.to_commit_message();
    let commit = git.commit(None, &signature, &signature, &message, &tree, &[&parent])?;
    git.reference(
        &format!("refs/heads/{DEFAULT_PROFILE}"),
        commit,
        true,
        &event.summary(),
    )?;
    Ok(commit)
}

fn generate(root: &Path, events: usize) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", root.display());
    let started = Instant::now();
    let config = EnvConfig::new(
        lvm::platform::LUA_VERSION,
        vec!["https://rocks.example.org".into()],
    );
    let mut state = Manifest::empty(&config.lua);
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
        head = append(&repo, head, &event, &next).map_err(|e| fail(&e))?;
        state = next;
    }
    repo.sync_worktree(head).map_err(|e| fail(&e))?;
    let generated = started.elapsed();
    let started = Instant::now();
    let log = repo.log(head, None).map_err(|e| fail(&e))?;
    let walked = started.elapsed();
    if log.len() != events {
        return Err(format!(
            "expected {events} events in the log, found {}",
            log.len()
        ));
    }
    let git_bytes = dir_size(&root.join(".git"));
    println!(
        "generated {events} events ({} packages at the end) in {:.1} s",
        state.packages.len(),
        generated.as_secs_f64()
    );
    println!(
        "EnvRepo::log over {events} events: {:.1} ms",
        walked.as_secs_f64() * 1000.0
    );
    println!(
        ".git: {git_bytes} bytes loose ({:.0} bytes per event)",
        git_bytes as f64 / events as f64
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
        Some(path) => {
            if path.exists() {
                eprintln!(
                    "history: {} already exists; give a path that does not",
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
    if let Err(e) = generate(&root, options.events) {
        eprintln!("history: {e}");
        std::process::exit(1);
    }
}
