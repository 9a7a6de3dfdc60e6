//! Environments: open/init, the writer lock, crash recovery, and the one protocol every change
//! goes through.
//!
//! A change is: compute the target state (the pipeline builds whatever the store lacks), make the
//! new rocks tree beside the live one, append the event commit (a ref update that checks the old
//! value), then switch the tree into place with one rename. The commit is the point of no
//! return: after a crash, recovery makes the tree and the working files agree with the
//! profile's head commit, rebuilding the tree from the store.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use git2::Oid;

use crate::config::EnvConfig;
use crate::envrepo::{CONFIG_FILE, EnvRepo, LoggedEvent};
use crate::events::{Event, EventKind};
use crate::manifest::{self, Manifest};
use crate::store::{Store, StoreKey};
use crate::tree;

/// The live tree: a symlink to one of `.trees/*`.
pub const TREE_LINK: &str = "tree";
const TREES_DIR: &str = ".trees";
const LOCK_FILE: &str = ".lvm-lock";
/// Written into every materialized tree: the sha256 of the manifest it was made from.
const TREE_STATE_FILE: &str = ".lvm-state";

/// Shared folders under the lvm home.
#[derive(Debug, Clone)]
pub struct Home {
    pub root: PathBuf,
}

impl Home {
    pub fn new(root: PathBuf) -> Home {
        Home { root }
    }
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.store_dir())
            .with_context(|| format!("opening the store at {}", self.store_dir().display()))
    }
}

/// An open environment.
pub struct Environment {
    pub root: PathBuf,
    pub repo: EnvRepo,
    pub config: EnvConfig,
    pub home: Home,
}

/// The held writer lock; released on drop.
pub struct WriteLock {
    _file: fs::File,
}

/// Named points where tests can make lvm abort, to prove crash safety (`LVM_FAULT=point`).
pub fn fault_point(point: &str) {
    if std::env::var("LVM_FAULT").is_ok_and(|p| p == point) {
        eprintln!("lvm: fault injected at {point}");
        std::process::abort();
    }
}

impl Environment {
    /// Creates a new environment at `root`.
    pub fn init(root: &Path, config: EnvConfig, home: Home) -> Result<Environment> {
        if root.join(".git").exists() {
            bail!(
                "{} is already an environment; use it with --env, or remove it first",
                root.display()
            );
        }
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let manifest = Manifest::empty(&config.lua);
        let mut event = Event::new(EventKind::Init, vec![], vec![]);
        event
            .details
            .insert("servers".into(), config.servers.join(" "));
        let repo = EnvRepo::init(root, &config.to_toml(), &manifest, &event)?;
        let env = Environment {
            root: root.to_path_buf(),
            repo,
            config,
            home,
        };
        let tree_dir = env.materialize(&manifest)?;
        env.switch_tree(&tree_dir)?;
        Ok(env)
    }

    /// Opens an existing environment (no recovery; writers call [`Environment::lock`]).
    pub fn open(root: &Path, home: Home) -> Result<Environment> {
        let repo = EnvRepo::open(root)?;
        let head = repo.head()?;
        let config_text = repo.read_file(head, CONFIG_FILE)?;
        let config = EnvConfig::parse(
            &String::from_utf8_lossy(&config_text),
            &format!("{}", root.join(CONFIG_FILE).display()),
        )?;
        Ok(Environment {
            root: root.to_path_buf(),
            repo,
            config,
            home,
        })
    }

    /// Takes the writer lock, waiting up to `timeout` (with a message after a moment), then
    /// recovers from any interrupted change.
    pub fn lock(&self, timeout: Duration) -> Result<WriteLock> {
        let path = self.root.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        let start = Instant::now();
        let mut told = false;
        loop {
            if fs4::FileExt::try_lock(&file).is_ok() {
                break;
            }
            if start.elapsed() >= timeout {
                bail!(
                    "another lvm process is changing {} (waited {:.1}s; raise --lock-timeout to wait longer)",
                    self.root.display(),
                    timeout.as_secs_f64()
                );
            }
            if !told && start.elapsed() > Duration::from_millis(300) {
                eprintln!(
                    "lvm: waiting for another lvm process to finish with {}",
                    self.root.display()
                );
                told = true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let lock = WriteLock { _file: file };
        self.recover()?;
        Ok(lock)
    }

    pub fn head(&self) -> Result<Oid> {
        Ok(self.repo.head()?)
    }

    /// The current state (the head commit's manifest).
    pub fn manifest(&self) -> Result<Manifest> {
        Ok(self.repo.manifest_at(self.head()?)?)
    }

    pub fn tree_path(&self) -> PathBuf {
        self.root.join(TREE_LINK)
    }

    pub fn profile(&self) -> Result<String> {
        Ok(self.repo.current_profile()?)
    }

    pub fn history(&self, limit: Option<usize>) -> Result<Vec<LoggedEvent>> {
        Ok(self.repo.log(self.head()?, limit)?)
    }

    /// Makes the working files and the live tree agree with the head commit.
    pub fn recover(&self) -> Result<()> {
        let head = self.head()?;
        self.repo.sync_worktree(head)?;
        let manifest = self.repo.manifest_at(head)?;
        if !self.tree_matches(&manifest) {
            tracing::warn!("the rocks tree does not match the recorded state; rebuilding it");
            let dir = self.materialize(&manifest)?;
            self.switch_tree(&dir)?;
        }
        self.remove_stale_trees();
        Ok(())
    }

    /// Whether the live tree was made from exactly this manifest.
    pub fn tree_matches(&self, manifest: &Manifest) -> bool {
        let marker = self.tree_path().join(TREE_STATE_FILE);
        fs::read_to_string(marker).is_ok_and(|s| s.trim() == manifest_digest(manifest))
    }

    /// Builds the tree for `manifest` from the store into a fresh `.trees/` directory.
    pub fn materialize(&self, manifest: &Manifest) -> Result<PathBuf> {
        let store = self.home.store()?;
        let mut rocks = Vec::new();
        for (name, package) in &manifest.packages {
            let key = StoreKey::parse(&package.store_key)
                .with_context(|| format!("{name}: malformed store key in manifest.json"))?;
            let stored = store.get(&key)?.ok_or_else(|| {
                anyhow!(
                    "{name} {} is not in the store (key {}); run `lvm sync` to fetch and build it",
                    package.version,
                    &package.store_key
                )
            })?;
            rocks.push(tree::TreeRock {
                name: name.clone(),
                version: package.version.clone(),
                prefix: stored.prefix.clone(),
                dependencies: package
                    .dependencies
                    .iter()
                    .filter_map(|d| crate::version::Dependency::parse(d).ok())
                    .collect(),
            });
        }
        let trees = self.root.join(TREES_DIR);
        fs::create_dir_all(&trees)?;
        let dir = tempfile::Builder::new()
            .prefix("t-")
            .tempdir_in(&trees)?
            .keep();
        if let Err(e) = tree::materialize(&dir, &rocks) {
            let _ = fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        crate::fsutil::write_atomic(
            &dir.join(TREE_STATE_FILE),
            manifest_digest(manifest).as_bytes(),
        )?;
        Ok(dir)
    }

    fn switch_tree(&self, new_tree: &Path) -> Result<()> {
        tree::switch_into_place(new_tree, &self.tree_path())?;
        Ok(())
    }

    fn remove_stale_trees(&self) {
        let live = fs::read_link(self.tree_path()).ok();
        let Ok(entries) = fs::read_dir(self.root.join(TREES_DIR)) else {
            return;
        };
        for entry in entries.flatten() {
            let is_live = live
                .as_ref()
                .is_some_and(|l| l.file_name() == Some(&entry.file_name()));
            if !is_live {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The change protocol: tree beside the live one, commit, switch. On any error before the
    /// commit nothing has changed; after it, only the switch remains and recovery completes it.
    pub fn commit_change(
        &self,
        expected_head: Oid,
        mut event: Event,
        target: &Manifest,
        extra_parent: Option<Oid>,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<Oid> {
        let started = Instant::now();
        let new_tree = self.materialize(target)?;
        timings.insert("materialize".into(), started.elapsed().as_millis() as u64);
        fault_point("before-commit");
        let started = Instant::now();
        event.durations_ms.extend(timings.clone());
        let commit = match self
            .repo
            .append(expected_head, &event, target, extra_parent)
        {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_dir_all(&new_tree);
                return Err(e.into());
            }
        };
        timings.insert("commit".into(), started.elapsed().as_millis() as u64);
        fault_point("after-commit");
        self.switch_tree(&new_tree)?;
        fault_point("after-switch");
        self.remove_stale_trees();
        Ok(commit)
    }

    /// Records an event whose target state is `target` (computed by the caller); does nothing
    /// and returns `None` when the state would not change.
    pub fn record(
        &self,
        kind: EventKind,
        args: Vec<String>,
        target: Manifest,
        details: BTreeMap<String, String>,
        mut timings: BTreeMap<String, u64>,
        counts: (u32, u32),
    ) -> Result<Option<Oid>> {
        let head = self.head()?;
        let current = self.repo.manifest_at(head)?;
        let changes = manifest::diff(&current, &target);
        if changes.is_empty() && !matches!(kind, EventKind::ProfileSwitch) {
            return Ok(None);
        }
        let mut event = Event::new(kind, args, changes);
        event.details = details;
        event.store_hits = counts.0;
        event.builds = counts.1;
        let commit = self.commit_change(head, event, &target, None, &mut timings)?;
        Ok(Some(commit))
    }

    /// Replays the whole log of the current profile and compares it to the recorded manifest.
    pub fn replay_matches(&self) -> Result<(Manifest, bool)> {
        let head = self.head()?;
        let mut events = self.repo.log(head, None)?;
        events.reverse();
        let ids: Vec<String> = events.iter().map(|e| e.commit.to_string()).collect();
        let replayed = crate::events::replay(
            &self.config.lua,
            ids.iter()
                .map(String::as_str)
                .zip(events.iter().map(|e| &e.event)),
        )?;
        let recorded = self.repo.manifest_at(head)?;
        let same = replayed.to_bytes() == recorded.to_bytes();
        Ok((recorded, same))
    }
}

/// The sha256 of a manifest's canonical bytes.
pub fn manifest_digest(manifest: &Manifest) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(manifest.to_bytes()))
}
