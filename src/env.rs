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
//!
//! The last few trees stay in `.trees/` after they stop being live, each marked with the digest
//! of the state it was made from, so going back to a recent state (rollback, redo, profile
//! switch) is one symlink rename instead of a new tree.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use git2::Oid;

use crate::config::{EnvConfig, Jobs};
use crate::envrepo::{CONFIG_FILE, EnvRepo, LoggedEvent};
use crate::events::{Event, EventKind};
use crate::manifest::{self, Manifest};
use crate::report::{Reporter, Silent};
use crate::store::{Store, StoreKey};
use crate::tree;

pub use crate::layout::TREE_LINK;
use crate::layout::{
    ENV_REGISTRY_FILE, JOURNAL_FILE, LOCK_FILE, STATE_LOCK_FILE, TREE_STATE_FILE, TREES_DIR,
};

/// How many finished trees besides the live one stay in `.trees/`. Rollback, redo and profile
/// switches mostly go back to one of the last few states, and with its tree kept such a change
/// is one symlink rename instead of hundreds of new directories and files. A kept tree costs
/// only directories and small files (its other files are hard links into the store), but the
/// states people move between are few, so more would rarely be hit.
pub const KEPT_TREES: usize = 3;
/// Names of `.trees/` entries on their way out: a rename takes a tree out of use at once, the
/// slow unlinking of its files comes after.
const TRASH_PREFIX: &str = ".trash-";
/// How long a tree may sit in the trash before a writer deletes it itself instead of counting
/// on the background deletion that put it there (which failed or may still be running).
const TRASH_GRACE: Duration = Duration::from_secs(60);

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
        self.root.join(crate::layout::STORE_DIR)
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(crate::layout::CACHE_DIR)
    }
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.store_dir())
            .with_context(|| format!("opening the store at {}", self.store_dir().display()))
    }

    /// The list of environments that share this home's store, wherever they live (named ones,
    /// project `.lvm/` folders, `LVM_ENV` paths), so `lvm gc` keeps what each needs.
    pub fn registry_file(&self) -> PathBuf {
        self.root.join(ENV_REGISTRY_FILE)
    }

    /// Adds `root` to the registry unless it is listed. Appends one line with `O_APPEND`, so
    /// concurrent processes never lose each other's line; a duplicate is harmless.
    pub fn register(&self, root: &Path) -> Result<()> {
        use std::io::Write;
        let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        if self.registered().contains(&root) {
            return Ok(());
        }
        fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let file = self.registry_file();
        let mut line = root.as_os_str().as_encoded_bytes().to_vec();
        line.push(b'\n');
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(&line))
            .with_context(|| format!("recording the environment in {}", file.display()))
    }

    /// The registered environments, in the order they were first used, without duplicates.
    pub fn registered(&self) -> Vec<PathBuf> {
        let text = fs::read(self.registry_file()).unwrap_or_default();
        parse_registry(&text)
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
    reporter: Arc<dyn Reporter>,
}

/// Another process held an environment's writer lock for longer than the caller would wait.
#[derive(Debug, thiserror::Error)]
#[error(
    "another lvm process is changing {} (waited {:.1}s; raise --lock-timeout to wait longer)",
    root.display(),
    waited.as_secs_f64()
)]
pub struct LockBusy {
    pub root: PathBuf,
    pub waited: Duration,
}

/// How a caller opens an environment: settings resolved above the environment's own
/// `lvm.toml` (flags, environment variables), and where progress goes.
#[derive(Clone)]
pub struct OpenOptions {
    /// Rocks servers to use instead of the recorded ones.
    pub servers: Option<Vec<String>>,
    /// Parallel build jobs, when not the recorded setting.
    pub jobs: Option<Jobs>,
    /// Receives progress and notices; [`Silent`] by default.
    pub reporter: Arc<dyn Reporter>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            servers: None,
            jobs: None,
            reporter: Arc::new(Silent),
        }
    }
}

/// The held writer lock of one environment, released on drop: the proof a change needs.
///
/// Every method that changes the environment (records an event, replaces the tree, repairs
/// it) is on this guard, so a change without the lock does not compile. It derefs to the
/// [`Environment`] for reading.
pub struct WriteLock<'env> {
    env: &'env Environment,
    _file: fs::File,
}

impl std::ops::Deref for WriteLock<'_> {
    type Target = Environment;

    fn deref(&self) -> &Environment {
        self.env
    }
}

impl OpenOptions {
    /// Applies the overrides to the recorded settings; returns the reporter.
    fn apply(self, config: &mut EnvConfig) -> Arc<dyn Reporter> {
        if let Some(servers) = self.servers {
            config.servers = servers;
        }
        if let Some(jobs) = self.jobs {
            config.jobs = Some(jobs);
        }
        self.reporter
    }
}

/// Named points where tests can make lvm abort, to prove crash safety (`LVM_FAULT=point`).
/// Every fault point is also a pause point (see [`pause_point`]).
pub fn fault_point(point: &str) {
    pause_point(point);
    if std::env::var("LVM_FAULT").is_ok_and(|p| p == point) {
        tracing::error!("lvm: fault injected at {point}");
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

/// A finished tree in `.trees/` that is not live, kept for a quick return to its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptTree {
    pub path: PathBuf,
    /// The sha256 of the manifest it was made from (its `.lvm-state`).
    pub digest: String,
    /// When it was made or last made live again.
    pub last_used: SystemTime,
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
        Self::init_with(root, config, home, OpenOptions::default())
    }

    /// [`Environment::init`], with the reporter of `options`; its overrides apply to this
    /// handle only, never to the recorded `lvm.toml`.
    pub fn init_with(
        root: &Path,
        config: EnvConfig,
        home: Home,
        options: OpenOptions,
    ) -> Result<Environment> {
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
        let mut config = config;
        let reporter = options.apply(&mut config);
        let env = Environment {
            root: root.to_path_buf(),
            repo,
            config,
            home,
            read_guard: std::sync::Mutex::new(None),
            reporter,
        };
        let tree_dir = env.materialize(&manifest)?;
        env.switch_tree(&tree_dir)?;
        env.register_in_home();
        Ok(env)
    }

    /// Lists the environment in its home's registry. Failing to is only a warning: the
    /// environment works, `lvm gc` just cannot see it.
    fn register_in_home(&self) {
        if let Err(e) = self.home.register(&self.root) {
            tracing::warn!("{e:#}; `lvm gc` from other environments will not see this one");
        }
    }

    /// Opens an existing environment. Writers then call [`Environment::lock`]; a reader gets an
    /// interrupted change finished first when no writer is running, so it never reads half of
    /// one.
    pub fn open(root: &Path, home: Home) -> Result<Environment> {
        Self::open_with(root, home, OpenOptions::default())
    }

    /// [`Environment::open`], with the overrides and the reporter of `options`.
    pub fn open_with(root: &Path, home: Home, options: OpenOptions) -> Result<Environment> {
        let repo = EnvRepo::open(root)?;
        let head = repo.head()?;
        let config_text = repo.read_file(head, CONFIG_FILE)?;
        let mut config = EnvConfig::parse(
            &String::from_utf8_lossy(&config_text),
            &format!("{}", root.join(CONFIG_FILE).display()),
        )?;
        let reporter = options.apply(&mut config);
        let env = Environment {
            root: root.to_path_buf(),
            repo,
            config,
            home,
            read_guard: std::sync::Mutex::new(None),
            reporter,
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
        env.register_in_home();
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
    fn try_lock(&self) -> Result<Option<WriteLock<'_>>> {
        let file = self.lock_file()?;
        Ok(match fs4::FileExt::try_lock(&file) {
            Ok(()) => Some(WriteLock {
                env: self,
                _file: file,
            }),
            Err(_) => None,
        })
    }

    /// Takes the writer lock, waiting up to `timeout` (with a message after a moment), without
    /// any recovery beyond finishing an interrupted change.
    pub fn lock_only(&self, timeout: Duration) -> Result<WriteLock<'_>> {
        self.release_read_guard();
        let start = Instant::now();
        let mut told = false;
        let lock = loop {
            if let Some(lock) = self.try_lock()? {
                break lock;
            }
            if start.elapsed() >= timeout {
                return Err(LockBusy {
                    root: self.root.clone(),
                    waited: timeout,
                }
                .into());
            }
            if !told && start.elapsed() > Duration::from_millis(300) {
                self.reporter.waiting_for_lock(&self.root);
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
    pub fn lock(&self, timeout: Duration) -> Result<WriteLock<'_>> {
        let lock = self.lock_only(timeout)?;
        lock.recover()?;
        Ok(lock)
    }

    /// Where this environment's operations report progress.
    pub fn reporter(&self) -> &dyn Reporter {
        self.reporter.as_ref()
    }

    /// A shared handle on the reporter, for work that outlives a borrow of the environment.
    pub fn reporter_handle(&self) -> Arc<dyn Reporter> {
        Arc::clone(&self.reporter)
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
                return remove_journal(&path);
            }
        };
        let landed = self
            .repo
            .try_profile_head(&journal.profile)
            .is_some_and(|h| h.to_string() == journal.new);
        if landed {
            tracing::warn!("finishing an interrupted change ({})", journal.profile);
            self.exclusively(|| self.finish(&journal, inject_faults))?;
        } else {
            // Its tree, if finished, is a tree like any kept one (its mark says which state it
            // holds); pruning drops it when it is half-made or beyond the bound.
            tracing::warn!("dropping an interrupted change that was never recorded");
            self.repo.sync_worktree(self.head()?)?;
            remove_journal(&path)?;
        }
        self.prune_trees();
        Ok(())
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
                    None => self.tree_for(&manifest)?.0,
                };
                self.switch_tree(&dir)?;
            }
            fault("after-switch");
        }
        // Trees are pruned by the caller once readers may go on: no reader waits for unlinks.
        remove_journal(&self.journal_path())
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

    /// A tree for `manifest` in `.trees/`: a kept one made from the same state when there is
    /// one that nobody changed (then `true`), else a new one from the store.
    fn tree_for(&self, manifest: &Manifest) -> Result<(PathBuf, bool)> {
        match self.reusable_tree(&manifest_digest(manifest)) {
            Some(dir) => Ok((dir, true)),
            None => Ok((self.materialize(manifest)?, false)),
        }
    }

    /// The finished trees in `.trees/` other than the live one, most recently used first.
    pub fn kept_trees(&self) -> Vec<KeptTree> {
        let live = self.live_tree_name();
        let Ok(entries) = fs::read_dir(self.root.join(TREES_DIR)) else {
            return Vec::new();
        };
        let mut kept: Vec<KeptTree> = entries
            .flatten()
            .filter(|e| Some(e.file_name()) != live && !is_trash(&e.file_name()))
            .filter_map(|e| {
                let (digest, meta) = tree_mark(&e.path())?;
                Some(KeptTree {
                    path: e.path(),
                    digest,
                    last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                })
            })
            .collect();
        kept.sort_by_key(|k| std::cmp::Reverse(k.last_used));
        kept
    }

    /// A kept tree made from the state with this digest, if one is intact; it is marked as just
    /// used, so pruning keeps it longest. A kept tree that was changed after it was made goes
    /// to the trash instead (see [`tree_unchanged`] for what is checked and why).
    fn reusable_tree(&self, digest: &str) -> Option<PathBuf> {
        for kept in self.kept_trees().into_iter().filter(|k| k.digest == digest) {
            let mark = kept.path.join(TREE_STATE_FILE);
            let Some((_, marked)) = tree_mark(&kept.path).filter(|(d, _)| d == digest) else {
                continue;
            };
            if !tree_unchanged(&kept.path, &marked) {
                tracing::warn!(
                    "not reusing the kept tree {}: it was changed after it was made",
                    kept.path.display()
                );
                self.trash_tree(&kept.path);
                continue;
            }
            let touched = fs::OpenOptions::new()
                .write(true)
                .open(&mark)
                .and_then(|f| f.set_modified(SystemTime::now()));
            if let Err(e) = touched {
                tracing::warn!("cannot mark {} as used: {e}", mark.display());
            }
            tracing::info!("reusing the kept tree {}", kept.path.display());
            return Some(kept.path);
        }
        None
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
        for (name, package) in &manifest.packages {
            tree::links::replace_with_links(dir, &store.linked_files(name, package)?)?;
        }
        fault_point("mid-materialize");
        // One flush of the whole tree, then the mark. The tree is not live before the switch,
        // so nothing needs it durable earlier; and the mark is written only once the rest is on
        // disk, so a crash can lose the mark (the tree is then rebuilt or pruned) but never
        // leave it on a tree whose files are lost. The mark itself needs no flush for the same
        // reason: missing or torn, it does not match. It is written in place, not renamed, so
        // its change time is at least the tree root's (see `tree_unchanged`).
        tree::sync_tree(dir)?;
        let mark = dir.join(TREE_STATE_FILE);
        fs::write(&mark, manifest_digest(manifest).as_bytes())
            .with_context(|| format!("writing {}", mark.display()))?;
        Ok(())
    }

    fn switch_tree(&self, new_tree: &Path) -> Result<()> {
        tree::switch_link(new_tree, &self.tree_path())?;
        Ok(())
    }

    /// The directory name in `.trees/` the live tree link points to.
    fn live_tree_name(&self) -> Option<std::ffi::OsString> {
        fs::read_link(self.tree_path())
            .ok()
            .and_then(|l| l.file_name().map(|n| n.to_os_string()))
    }

    /// Takes a tree out of `.trees/` at once (one rename); [`Environment::prune_trees`]
    /// deletes it. Returns where it went.
    fn trash_tree(&self, dir: &Path) -> Option<PathBuf> {
        let name = dir.file_name()?;
        let trash = dir.with_file_name(format!("{TRASH_PREFIX}{}", name.to_string_lossy()));
        match fs::rename(dir, &trash) {
            Ok(()) => Some(trash),
            Err(e) => {
                tracing::warn!("cannot move {} to the trash: {e}", dir.display());
                None
            }
        }
    }

    /// Keeps the live tree and the [`KEPT_TREES`] most recently used finished trees in
    /// `.trees/`; every other entry (older trees, half-made ones a crash left) goes to the trash
    /// and is deleted in the background (see [`delete_in_background`]). Call with the writer
    /// lock held and the state lock released: the trees it deletes are not live, so neither
    /// readers nor the command itself wait for the unlinking.
    fn prune_trees(&self) {
        let trees = self.root.join(TREES_DIR);
        let live = self.live_tree_name();
        let Ok(entries) = fs::read_dir(&trees) else {
            return;
        };
        let mut trash = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if Some(&name) == live.as_ref() {
                continue;
            }
            if is_trash(&name) {
                // Left by a deletion that failed (or was killed) a while ago: finish it here.
                // The rename into the trash set its change time.
                let stale = entry
                    .metadata()
                    .map(|m| changed_at(&m))
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > TRASH_GRACE);
                if stale {
                    remove_or_warn(&entry.path());
                }
            } else if tree_mark(&entry.path()).is_none() {
                trash.extend(self.trash_tree(&entry.path()));
            }
        }
        for kept in self.kept_trees().iter().skip(KEPT_TREES) {
            trash.extend(self.trash_tree(&kept.path));
        }
        delete_in_background(trash);
    }

    /// The settings recorded at the head commit (`self.config` is what was read at open).
    pub fn recorded_config(&self) -> Result<EnvConfig> {
        self.config_at(self.head()?)
    }

    /// The settings recorded at `commit`.
    pub fn config_at(&self, commit: Oid) -> Result<EnvConfig> {
        let text = self.repo.read_file(commit, CONFIG_FILE)?;
        Ok(EnvConfig::parse(
            &String::from_utf8_lossy(&text),
            &format!("{CONFIG_FILE} at {}", crate::envrepo::short(commit)),
        )?)
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

/// A tree's mark (the digest in `.lvm-state`) with the mark file's metadata; `None` for a tree
/// without a complete mark (half-made, or the mark was damaged).
fn tree_mark(dir: &Path) -> Option<(String, fs::Metadata)> {
    let mark = dir.join(TREE_STATE_FILE);
    let text = fs::read_to_string(&mark).ok()?;
    let digest = text.trim();
    let complete = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    let meta = fs::symlink_metadata(&mark).ok()?;
    (complete && meta.is_file()).then(|| (digest.to_string(), meta))
}

fn is_trash(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with(TRASH_PREFIX)
}

/// A file's change time (which no tool can set back, unlike its modification time).
fn changed_at(meta: &fs::Metadata) -> SystemTime {
    use std::os::unix::fs::MetadataExt;
    let since_epoch = Duration::new(
        u64::try_from(meta.ctime()).unwrap_or(0),
        u32::try_from(meta.ctime_nsec()).unwrap_or(0),
    );
    SystemTime::UNIX_EPOCH + since_epoch
}

fn remove_or_warn(dir: &Path) {
    if let Err(e) = crate::tree::files::remove_tree(dir) {
        tracing::warn!("cannot delete the old tree {}: {e}", dir.display());
    }
}

/// Deletes trashed trees in a detached `rm -rf`, so the command that trashed them ends without
/// waiting: unlinking the few hundred directories and links of a 50-rock tree takes longer than
/// making it on a busy disk. Nothing reads the trash, so when the deletion happens does not
/// matter; one that fails leaves the trash for a later writer (see [`TRASH_GRACE`]). Without
/// `rm` the trees are deleted here. The child holds no lock: lvm's files are opened
/// close-on-exec.
fn delete_in_background(dirs: Vec<PathBuf>) {
    if dirs.is_empty() {
        return;
    }
    let spawned = std::process::Command::new("rm")
        .arg("-rf")
        .arg("--")
        .args(&dirs)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Reaped if this process outlives it (a long-running library user); otherwise init
        // adopts it.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => {
            tracing::debug!("cannot run rm to delete old trees ({e}); deleting them now");
            dirs.iter().for_each(|d| remove_or_warn(d));
        }
    }
}

/// Whether nothing in `tree` changed after its mark was written (or last touched), checked by
/// change times, which no tool can set back: the tree root, every directory and every file of
/// the tree's own (one link: the tree `manifest`, wrappers, copies) must be no newer than the
/// mark. Adding, removing or renaming anything (as `luarocks install --tree` or a hand edit
/// does while the tree is live) changes its directory; rewriting a file of the tree's own
/// changes that file. Files hard-linked from the store are skipped, since linking the same
/// store file into a newer tree changes their change time too; editing one in place changes the
/// store entry as well, which `lvm verify` reports and which a new tree would share anyway.
/// This costs one `lstat` per entry, well under the price of making a tree.
fn tree_unchanged(tree: &Path, marked: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let limit = (marked.ctime(), marked.ctime_nsec());
    for entry in walkdir::WalkDir::new(tree).follow_links(false) {
        let Ok(entry) = entry else {
            return false;
        };
        if entry.depth() == 1 && entry.file_name() == TREE_STATE_FILE {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            return false;
        };
        let own = meta.is_dir() || meta.nlink() == 1;
        if own && (meta.ctime(), meta.ctime_nsec()) > limit {
            return false;
        }
    }
    true
}

/// Removes the journal of a finished or dropped change. The removal is not flushed: a crash can
/// only bring back the journal of a change that was already finished or dropped, and finishing
/// or dropping it again changes nothing (every step checks before it acts), so an fsync here
/// would buy nothing.
fn remove_journal(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The paths of a registry file, first occurrence kept; blank lines are skipped.
fn parse_registry(text: &[u8]) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut out: Vec<PathBuf> = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(line));
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// Changes: each needs the writer lock, which this guard proves is held.
impl WriteLock<'_> {
    /// This lock, for another handle on the same environment (one opened again after its
    /// settings changed), so the change goes on without letting another writer in.
    pub fn for_reopened<'b>(self, other: &'b Environment) -> Result<WriteLock<'b>> {
        let same = |e: &Environment| fs::canonicalize(&e.root).unwrap_or_else(|_| e.root.clone());
        if same(self.env) != same(other) {
            bail!(
                "the writer lock of {} cannot change {}",
                self.env.root.display(),
                other.root.display()
            );
        }
        other.release_read_guard();
        Ok(WriteLock {
            env: other,
            _file: self._file,
        })
    }

    /// Makes the working files and the live tree agree with the head commit.
    pub fn recover(&self) -> Result<()> {
        self.recover_interrupted(false)?;
        let head = self.head()?;
        let manifest = self.repo.manifest_at(head)?;
        let dir = if self.tree_matches(&manifest) {
            None
        } else {
            tracing::warn!("the rocks tree does not match the recorded state; rebuilding it");
            Some(self.tree_for(&manifest)?.0)
        };
        self.exclusively(|| {
            self.repo.sync_worktree(head)?;
            if let Some(dir) = &dir {
                self.switch_tree(dir)?;
            }
            Ok(())
        })?;
        self.prune_trees();
        Ok(())
    }

    /// Makes `dir` (a finished tree in `.trees/`) the live tree and the working files those of
    /// the head commit, as one step for readers.
    pub fn install_tree(&self, dir: &Path) -> Result<()> {
        self.exclusively(|| {
            self.repo.sync_worktree(self.head()?)?;
            self.switch_tree(dir)
        })?;
        self.prune_trees();
        Ok(())
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
        self.apply_with_config(plan, None, timings)
    }

    /// [`Environment::apply`], also replacing `lvm.toml` with `config` when given.
    fn apply_with_config(
        &self,
        plan: ChangePlan<'_>,
        config: Option<&EnvConfig>,
        timings: &mut BTreeMap<String, u64>,
    ) -> Result<Oid> {
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
        let (new_tree, reused) = if affects_live && !self.tree_matches(target) {
            let (dir, reused) = self.tree_for(target)?;
            (Some(dir), reused)
        } else {
            (None, false)
        };
        timings.insert("materialize".into(), started.elapsed().as_millis() as u64);
        // A kept tree stays kept when the change fails; a new one is of no use.
        let discard = |tree: &Option<PathBuf>| {
            if let Some(t) = tree.as_ref().filter(|_| !reused) {
                let _ = crate::tree::files::remove_tree(t);
            }
        };
        fault_point("before-commit");
        let started = Instant::now();
        let config_text = config.map(EnvConfig::to_toml);
        let state_tree =
            match self
                .repo
                .state_tree_with_config(parent, target, config_text.as_deref())
            {
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
        self.prune_trees();
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
        timings: BTreeMap<String, u64>,
        counts: (u32, u32),
    ) -> Result<Option<Oid>> {
        self.record_with_config(kind, args, target, None, details, timings, counts)
    }

    /// [`Environment::record`] for a state that may also change the settings: with `config`,
    /// `lvm.toml` becomes it in the same event. Does nothing and returns `None` when neither
    /// the packages nor the settings would change.
    #[allow(clippy::too_many_arguments)]
    pub fn record_with_config(
        &self,
        kind: EventKind,
        args: Vec<String>,
        target: Manifest,
        config: Option<&EnvConfig>,
        details: BTreeMap<String, String>,
        mut timings: BTreeMap<String, u64>,
        counts: (u32, u32),
    ) -> Result<Option<Oid>> {
        let head = self.head()?;
        let current = self.repo.manifest_at(head)?;
        let changes = manifest::diff(&current, &target);
        let config = match config {
            Some(c) if *c != self.config_at(head)? => Some(c),
            _ => None,
        };
        if changes.is_empty() && config.is_none() {
            return Ok(None);
        }
        let mut event = Event::new(kind, args, changes);
        event.details.extend(details);
        event.store_hits = counts.0;
        event.builds = counts.1;
        let plan = ChangePlan {
            profile: self.profile()?,
            expected: Some(head),
            parent: head,
            extra_parent: None,
            event,
            target: &target,
            switch_to: false,
            delete: None,
        };
        let commit = self.apply_with_config(plan, config, &mut timings)?;
        Ok(Some(commit))
    }
}

/// The sha256 of a manifest's canonical bytes.
pub fn manifest_digest(manifest: &Manifest) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(manifest.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_lines_keep_first_occurrence_and_skip_blanks() {
        let text = b"/a/env\n\n/b/.lvm\n/a/env\n  \n/c\n";
        assert_eq!(
            parse_registry(text),
            [
                PathBuf::from("/a/env"),
                PathBuf::from("/b/.lvm"),
                PathBuf::from("/c")
            ]
        );
        assert!(parse_registry(b"").is_empty());
    }

    #[test]
    fn registering_twice_lists_once() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let env = dir.path().join("project/.lvm");
        fs::create_dir_all(&env).unwrap();
        home.register(&env).unwrap();
        home.register(&env).unwrap();
        assert_eq!(home.registered(), [fs::canonicalize(&env).unwrap()]);
    }

    /// A small tree: a directory, a file of its own, a file hard-linked from "the store", and
    /// its mark written last.
    fn marked_tree(root: &Path) -> (PathBuf, PathBuf) {
        let store_file = root.join("store-file.lua");
        fs::write(&store_file, "return 1\n").unwrap();
        let tree = root.join("tree");
        fs::create_dir_all(tree.join("share/lua")).unwrap();
        fs::write(tree.join("share/manifest"), "own\n").unwrap();
        fs::hard_link(&store_file, tree.join("share/lua/m.lua")).unwrap();
        fs::write(tree.join(TREE_STATE_FILE), "ab".repeat(32)).unwrap();
        // Change times have the clock's granularity: what the tests do next comes later.
        std::thread::sleep(Duration::from_millis(20));
        (tree, store_file)
    }

    fn unchanged(tree: &Path) -> bool {
        let (_, marked) = tree_mark(tree).expect("a complete mark");
        tree_unchanged(tree, &marked)
    }

    #[test]
    fn an_untouched_tree_is_unchanged_even_when_its_store_files_get_new_links() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, store_file) = marked_tree(dir.path());
        assert!(unchanged(&tree));
        // A newer tree linking the same store file changes the file's change time.
        fs::hard_link(&store_file, dir.path().join("newer-tree-link.lua")).unwrap();
        assert!(unchanged(&tree));
        // Reading changes nothing.
        fs::read_to_string(tree.join("share/manifest")).unwrap();
        assert!(unchanged(&tree));
    }

    #[test]
    fn added_removed_or_rewritten_entries_are_changes() {
        type Change = fn(&Path);
        let changes: [(&str, Change); 4] = [
            ("added file", |t| {
                fs::write(t.join("share/lua/extra.lua"), "x").unwrap()
            }),
            ("removed file", |t| {
                fs::remove_file(t.join("share/lua/m.lua")).unwrap()
            }),
            ("rewritten own file", |t| {
                fs::write(t.join("share/manifest"), "edited\n").unwrap()
            }),
            ("removed directory", |t| {
                fs::remove_dir_all(t.join("share")).unwrap()
            }),
        ];
        for (what, change) in changes {
            let dir = tempfile::tempdir().unwrap();
            let (tree, _) = marked_tree(dir.path());
            change(&tree);
            assert!(!unchanged(&tree), "{what} was not noticed");
        }
    }

    #[test]
    fn only_a_complete_mark_marks_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path();
        assert!(tree_mark(tree).is_none(), "no mark");
        for bad in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
            fs::write(tree.join(TREE_STATE_FILE), bad).unwrap();
            assert!(tree_mark(tree).is_none(), "{bad:?}");
        }
        let digest = "0f".repeat(32);
        fs::write(tree.join(TREE_STATE_FILE), format!("{digest}\n")).unwrap();
        assert_eq!(tree_mark(tree).map(|(d, _)| d), Some(digest));
    }
}
