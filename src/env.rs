//! Environments: open/init, the writer lock, crash recovery, and the one protocol every change
//! goes through.
//!
//! A change is: compute the target state (the pipeline builds whatever the store lacks), make the
//! new rocks tree beside the live one, append the event commit (a ref update that checks the old
//! value), then switch the tree into place with one rename. The commit is the point of no
//! return: after a crash, recovery makes the tree and the working files agree with the
//! profile's head commit, rebuilding the tree from the store. Between the commit and the end of
//! the change a journal names what is left to do, so whoever opens the environment next (a
//! reader too, when no writer runs) finishes an interrupted change instead of seeing half of it.

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
/// Readers hold it shared while they read; a writer holds it exclusively only from the moment
/// its commit lands until its tree is switched, so no reader sees the new log with the old tree.
/// It lives in the repository's `.git/` directory, like the journal, so `git status` never
/// shows it whatever the environment's `.gitignore` says.
const STATE_LOCK_FILE: &str = "lvm-state.lock";
/// The journal of a change in progress (see [`Journal`]).
const JOURNAL_FILE: &str = "lvm-journal";
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
    /// A reader's shared hold on the state lock (see [`STATE_LOCK_FILE`]), taken by
    /// [`Environment::open`] and given up when this process becomes the writer.
    read_guard: std::sync::Mutex<Option<fs::File>>,
}

/// The held writer lock; released on drop.
pub struct WriteLock {
    _file: fs::File,
}

/// Named points where tests can make lvm abort, to prove crash safety (`LVM_FAULT=point`).
/// Every fault point is also a pause point (see [`pause_point`]).
pub fn fault_point(point: &str) {
    pause_point(point);
    if std::env::var("LVM_FAULT").is_ok_and(|p| p == point) {
        eprintln!("lvm: fault injected at {point}");
        std::process::abort();
    }
}

/// A test hook: with `LVM_TEST_PAUSE_AT=<point>:<file>`, lvm writes its process id to `<file>`
/// when it reaches `<point>` and waits until the file is deleted (at most two minutes), so a test
/// can act while lvm is stopped there (e.g. holding the writer lock at `locked`).
pub fn pause_point(point: &str) {
    let Ok(spec) = std::env::var("LVM_TEST_PAUSE_AT") else {
        return;
    };
    let Some((at, file)) = spec.split_once(':') else {
        return;
    };
    if at != point {
        return;
    }
    let file = Path::new(file);
    if fs::write(file, std::process::id().to_string()).is_err() {
        return;
    }
    let start = Instant::now();
    while file.exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many unpacked events make a change pack the repository: [`crate::envrepo::PACK_EVERY`],
/// or `LVM_TEST_PACK_EVERY` (a test hook, so tests see packing without making hundreds of
/// events).
fn pack_every() -> usize {
    std::env::var("LVM_TEST_PACK_EVERY")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(crate::envrepo::PACK_EVERY)
}

/// The phases every event reports in `durations_ms` (0 when a change has no such phase).
pub const PHASES: [&str; 4] = ["resolve", "build", "materialize", "commit"];

/// What a change left to do once its commit exists, written to `.git/lvm-journal` before the
/// profile moves and removed when the change is complete. Finding it means a change was
/// interrupted: if the profile points at `new`, recovery finishes the change; otherwise the
/// change never happened and recovery drops its leftovers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Journal {
    /// The profile the event is appended to.
    profile: String,
    /// Where it pointed before (`None`: the change creates it).
    old: Option<String>,
    /// The event's commit.
    new: String,
    /// The tree made for the new state, in `.trees/`.
    #[serde(default)]
    tree: Option<String>,
    /// Whether `profile` becomes the current profile.
    #[serde(default)]
    switch_to: bool,
    /// A profile to delete, with the commit it must still point at.
    #[serde(default)]
    delete: Option<(String, String)>,
}

/// One change to apply with [`Environment::apply`].
pub struct ChangePlan<'a> {
    /// The profile to append the event to.
    pub profile: String,
    /// The profile's head when the change was computed (`None`: create the profile).
    pub expected: Option<Oid>,
    /// The commit the event follows (the profile's head, or the source of a new profile).
    pub parent: Oid,
    /// A second parent (the other profile of a merge).
    pub extra_parent: Option<Oid>,
    pub event: Event,
    /// The state after the event.
    pub target: &'a Manifest,
    /// Make `profile` the current profile (its state becomes the tree).
    pub switch_to: bool,
    /// Delete this profile once the event is recorded.
    pub delete: Option<(String, Oid)>,
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
        fill_phases(&mut event);
        let repo = EnvRepo::init(root, &config.to_toml(), &manifest, &event)?;
        let env = Environment {
            root: root.to_path_buf(),
            repo,
            config,
            home,
            read_guard: std::sync::Mutex::new(None),
        };
        let tree_dir = env.materialize(&manifest)?;
        env.switch_tree(&tree_dir)?;
        Ok(env)
    }

    /// Opens an existing environment. Writers then call [`Environment::lock`]; a reader gets an
    /// interrupted change finished first when no writer is running, so it never reads half of
    /// one.
    pub fn open(root: &Path, home: Home) -> Result<Environment> {
        let repo = EnvRepo::open(root)?;
        let head = repo.head()?;
        let config_text = repo.read_file(head, CONFIG_FILE)?;
        let config = EnvConfig::parse(
            &String::from_utf8_lossy(&config_text),
            &format!("{}", root.join(CONFIG_FILE).display()),
        )?;
        let env = Environment {
            root: root.to_path_buf(),
            repo,
            config,
            home,
            read_guard: std::sync::Mutex::new(None),
        };
        env.hold_for_reading();
        if env.journal_path().exists() {
            // The writer that left it is gone if its lock is free: finish its change first.
            env.release_read_guard();
            if let Ok(Some(_lock)) = env.try_lock() {
                if let Err(e) = env.recover_interrupted(false) {
                    tracing::warn!("could not finish an interrupted change: {e:#}");
                }
            }
            env.hold_for_reading();
        }
        Ok(env)
    }

    fn state_lock_file(&self) -> std::io::Result<fs::File> {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.state_lock_path())
    }

    /// Takes the state lock shared, waiting while a writer finishes a change (at most a
    /// minute; a reader that cannot lock, e.g. in a read-only directory, reads unlocked).
    fn hold_for_reading(&self) {
        let Ok(file) = self.state_lock_file() else {
            return;
        };
        let start = Instant::now();
        while fs4::FileExt::try_lock_shared(&file).is_err() {
            if start.elapsed() > Duration::from_secs(60) {
                tracing::warn!(
                    "a change to {} takes long to finish; reading anyway",
                    self.root.display()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Ok(mut guard) = self.read_guard.lock() {
            *guard = Some(file);
        }
    }

    fn release_read_guard(&self) {
        if let Ok(mut guard) = self.read_guard.lock() {
            guard.take();
        }
    }

    /// Runs `f` holding the state lock exclusively: readers wait until it returns.
    fn exclusively<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.release_read_guard();
        let file = self
            .state_lock_file()
            .with_context(|| format!("opening {}", self.state_lock_path().display()))?;
        fs4::FileExt::lock(&file)
            .with_context(|| format!("locking {}", self.state_lock_path().display()))?;
        let result = f();
        drop(file);
        result
    }

    fn lock_file(&self) -> Result<fs::File> {
        let path = self.root.join(LOCK_FILE);
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))
    }

    /// The writer lock if no other process holds it.
    fn try_lock(&self) -> Result<Option<WriteLock>> {
        let file = self.lock_file()?;
        Ok(match fs4::FileExt::try_lock(&file) {
            Ok(()) => Some(WriteLock { _file: file }),
            Err(_) => None,
        })
    }

    /// Takes the writer lock, waiting up to `timeout` (with a message after a moment), without
    /// any recovery beyond finishing an interrupted change.
    pub fn lock_only(&self, timeout: Duration) -> Result<WriteLock> {
        self.release_read_guard();
        let start = Instant::now();
        let mut told = false;
        let lock = loop {
            if let Some(lock) = self.try_lock()? {
                break lock;
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
        };
        pause_point("locked");
        self.recover_interrupted(false)?;
        Ok(lock)
    }

    /// Takes the writer lock (see [`Environment::lock_only`]), then recovers: the working files
    /// and the tree are made to agree with the head commit.
    pub fn lock(&self, timeout: Duration) -> Result<WriteLock> {
        let lock = self.lock_only(timeout)?;
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

    fn journal_path(&self) -> PathBuf {
        self.repo.git().path().join(JOURNAL_FILE)
    }

    fn state_lock_path(&self) -> PathBuf {
        self.repo.git().path().join(STATE_LOCK_FILE)
    }

    /// Whether a change was left unfinished (its journal is still there).
    pub fn has_pending_change(&self) -> bool {
        self.journal_path().exists()
    }

    /// Makes the working files and the live tree agree with the head commit. Call with the
    /// writer lock held.
    pub fn recover(&self) -> Result<()> {
        self.recover_interrupted(false)?;
        let head = self.head()?;
        let manifest = self.repo.manifest_at(head)?;
        let dir = if self.tree_matches(&manifest) {
            None
        } else {
            tracing::warn!("the rocks tree does not match the recorded state; rebuilding it");
            Some(self.materialize(&manifest)?)
        };
        self.exclusively(|| {
            self.repo.sync_worktree(head)?;
            if let Some(dir) = &dir {
                self.switch_tree(dir)?;
            }
            Ok(())
        })?;
        self.remove_stale_trees();
        Ok(())
    }

    /// Makes `dir` (a finished tree in `.trees/`) the live tree and the working files those of
    /// the head commit, as one step for readers.
    pub fn install_tree(&self, dir: &Path) -> Result<()> {
        self.exclusively(|| {
            self.repo.sync_worktree(self.head()?)?;
            self.switch_tree(dir)
        })?;
        self.remove_stale_trees();
        Ok(())
    }

    /// Finishes or drops a change a crash interrupted, as its journal says. Call with the
    /// writer lock held.
    fn recover_interrupted(&self, inject_faults: bool) -> Result<()> {
        // With the writer lock held no other lvm process is writing git files, so any git lock
        // file (the index's, a ref's) was left by a killed one, journal or not.
        self.repo.remove_stale_git_locks();
        let path = self.journal_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let journal: Journal = match serde_json::from_str(&text) {
            Ok(j) => j,
            Err(e) => {
                // Only a crash while writing it makes it unreadable, and that is before the
                // commit: nothing happened.
                tracing::warn!(
                    "dropping the unreadable change journal {}: {e}",
                    path.display()
                );
                return remove_file(&path);
            }
        };
        let landed = self
            .repo
            .try_profile_head(&journal.profile)
            .is_some_and(|h| h.to_string() == journal.new);
        if landed {
            tracing::warn!("finishing an interrupted change ({})", journal.profile);
            self.exclusively(|| self.finish(&journal, inject_faults))
        } else {
            tracing::warn!("dropping an interrupted change that was never recorded");
            if let Some(tree) = &journal.tree {
                self.remove_tree_dir(tree);
            }
            self.repo.sync_worktree(self.head()?)?;
            remove_file(&path)
        }
    }

    /// The steps after the point of no return: current profile, deleted profile, working
    /// files, live tree; then the journal goes.
    fn finish(&self, journal: &Journal, inject_faults: bool) -> Result<()> {
        let fault = |point: &str| {
            if inject_faults {
                fault_point(point);
            }
        };
        if journal.switch_to && self.profile()? != journal.profile {
            self.repo.set_current_profile(&journal.profile)?;
        }
        if let Some((name, at)) = &journal.delete {
            if self
                .repo
                .try_profile_head(name)
                .is_some_and(|h| h.to_string() == *at)
            {
                self.repo.delete_profile(name)?;
            }
        }
        let head = self.head()?;
        self.repo.sync_worktree(head)?;
        if journal.profile == self.profile()? {
            let manifest = self.repo.manifest_at(head)?;
            if !self.tree_matches(&manifest) {
                let made = journal
                    .tree
                    .as_ref()
                    .map(|t| self.root.join(TREES_DIR).join(t))
                    .filter(|dir| tree_dir_matches(dir, &manifest));
                let dir = match made {
                    Some(dir) => dir,
                    None => self.materialize(&manifest)?,
                };
                self.switch_tree(&dir)?;
            }
            fault("after-switch");
        }
        remove_file(&self.journal_path())?;
        self.remove_stale_trees();
        Ok(())
    }

    /// Whether the live tree was made from exactly this manifest.
    pub fn tree_matches(&self, manifest: &Manifest) -> bool {
        tree_dir_matches(&self.tree_path(), manifest)
    }

    /// Builds the tree for `manifest` from the store into a fresh `.trees/` directory.
    pub fn materialize(&self, manifest: &Manifest) -> Result<PathBuf> {
        let trees = self.root.join(TREES_DIR);
        fs::create_dir_all(&trees)?;
        let dir = tempfile::Builder::new()
            .prefix("t-")
            .tempdir_in(&trees)?
            .keep();
        if let Err(e) = self.materialize_into(manifest, &dir) {
            let _ = crate::tree::files::remove_tree(&dir);
            return Err(e);
        }
        Ok(dir)
    }

    /// Builds the tree for `manifest` in `dir` (absent or empty) from the store only; the tree
    /// is marked with the manifest's digest last, so a half-made tree is never taken for a
    /// finished one.
    pub fn materialize_into(&self, manifest: &Manifest, dir: &Path) -> Result<()> {
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
        tree::materialize(dir, &rocks)?;
        fault_point("mid-materialize");
        crate::fsutil::write_atomic(
            &dir.join(TREE_STATE_FILE),
            manifest_digest(manifest).as_bytes(),
        )?;
        Ok(())
    }

    fn switch_tree(&self, new_tree: &Path) -> Result<()> {
        tree::switch_into_place(new_tree, &self.tree_path())?;
        Ok(())
    }

    fn remove_tree_dir(&self, name: &str) {
        let live = fs::read_link(self.tree_path()).ok();
        if live.is_some_and(|l| l.file_name() == Some(std::ffi::OsStr::new(name))) {
            return;
        }
        let _ = crate::tree::files::remove_tree(&self.root.join(TREES_DIR).join(name));
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
                let _ = crate::tree::files::remove_tree(&entry.path());
            }
        }
    }

    /// The change protocol for an event on the current profile: tree beside the live one,
    /// commit, switch. On any error before the commit nothing has changed; after it, only the
    /// switch remains and recovery completes it.
    pub fn commit_change(
        &self,
        expected_head: Oid,
        event: Event,
        target: &Manifest,
        extra_parent: Option<Oid>,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<Oid> {
        let plan = ChangePlan {
            profile: self.profile()?,
            expected: Some(expected_head),
            parent: expected_head,
            extra_parent,
            event,
            target,
            switch_to: false,
            delete: None,
        };
        self.apply(plan, timings)
    }

    /// Applies one change: makes the new tree if the live one changes, writes the event's
    /// commit, records what is left to do in the journal, moves the profile (the point of no
    /// return), then finishes (current profile, working files, tree switch).
    pub fn apply(&self, plan: ChangePlan<'_>, timings: &mut BTreeMap<String, u64>) -> Result<Oid> {
        let ChangePlan {
            profile,
            expected,
            parent,
            extra_parent,
            mut event,
            target,
            switch_to,
            delete,
        } = plan;
        let affects_live = switch_to || profile == self.profile()?;
        let started = Instant::now();
        let new_tree = if affects_live && !self.tree_matches(target) {
            Some(self.materialize(target)?)
        } else {
            None
        };
        timings.insert("materialize".into(), started.elapsed().as_millis() as u64);
        let discard = |tree: &Option<PathBuf>| {
            if let Some(t) = tree {
                let _ = crate::tree::files::remove_tree(t);
            }
        };
        fault_point("before-commit");
        let started = Instant::now();
        let state_tree = match self.repo.state_tree(parent, target) {
            Ok(t) => t,
            Err(e) => {
                discard(&new_tree);
                return Err(e.into());
            }
        };
        // The commit object holds the event, so its own writing cannot be timed into it: the
        // commit phase is the work before it (the state's git objects).
        timings.insert("commit".into(), started.elapsed().as_millis() as u64);
        event.durations_ms.extend(timings.clone());
        fill_phases(&mut event);
        let mut parents = vec![parent];
        parents.extend(extra_parent);
        let commit = match self.repo.commit_object(state_tree, &parents, &event) {
            Ok(c) => c,
            Err(e) => {
                discard(&new_tree);
                return Err(e.into());
            }
        };
        let journal = Journal {
            profile: profile.clone(),
            old: expected.map(|o| o.to_string()),
            new: commit.to_string(),
            tree: new_tree
                .as_ref()
                .and_then(|t| t.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
            switch_to,
            delete: delete.map(|(n, o)| (n, o.to_string())),
        };
        let journal_text = serde_json::to_vec(&journal)?;
        if let Err(e) = crate::fsutil::write_atomic(&self.journal_path(), &journal_text) {
            discard(&new_tree);
            return Err(e).context("writing the change journal");
        }
        self.exclusively(|| {
            if let Err(e) = self
                .repo
                .publish(&profile, expected, commit, &event.summary())
            {
                discard(&new_tree);
                let _ = fs::remove_file(self.journal_path());
                return Err(e.into());
            }
            tracing::info!(commit = %commit, profile = %profile, "recorded: {}", event.summary());
            fault_point("after-commit");
            self.finish(&journal, true)
        })?;
        self.repo.pack_after_change(pack_every());
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
        if changes.is_empty() {
            return Ok(None);
        }
        let mut event = Event::new(kind, args, changes);
        event.details.extend(details);
        event.store_hits = counts.0;
        event.builds = counts.1;
        let commit = self.commit_change(head, event, &target, None, &mut timings)?;
        Ok(Some(commit))
    }

    /// Replays the whole log of the current profile; returns the replayed and the recorded
    /// state.
    pub fn replay(&self) -> Result<(Manifest, Manifest)> {
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
        Ok((replayed, recorded))
    }

    /// Replays the whole log of the current profile and compares it to the recorded manifest.
    pub fn replay_matches(&self) -> Result<(Manifest, bool)> {
        let (replayed, recorded) = self.replay()?;
        let same = replayed.to_bytes() == recorded.to_bytes();
        Ok((recorded, same))
    }
}

/// Gives an event every phase of [`PHASES`], so readers of the log find them all.
fn fill_phases(event: &mut Event) {
    for phase in PHASES {
        event.durations_ms.entry(phase.to_string()).or_insert(0);
    }
}

fn tree_dir_matches(dir: &Path, manifest: &Manifest) -> bool {
    fs::read_to_string(dir.join(TREE_STATE_FILE))
        .is_ok_and(|s| s.trim() == manifest_digest(manifest))
}

fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => {
            if let Some(dir) = path.parent() {
                crate::fsutil::sync_dir(dir);
            }
            Ok(())
        }
    }
}

/// The sha256 of a manifest's canonical bytes.
pub fn manifest_digest(manifest: &Manifest) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(manifest.to_bytes()))
}
