//! Environments: open/init, the writer lock, crash recovery, and the one protocol every change
//! goes through. The lock lives in [`lock`], the change protocol and recovery in [`change`], the
//! kept trees in [`trees`], the lvm home in [`home`].
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

mod change;
mod error;
mod home;
mod lock;
mod project;
mod scratch;
mod trees;

pub use self::change::ChangePlan;
pub use self::error::EnvError;
pub use self::home::Home;
pub use self::lock::{LockBusy, WriteLock};
pub use self::project::{Desired, STARTED_FROM_DETAIL, WorkFiles, read_work_files_at};
pub use self::scratch::{Scratch, ScratchError};
pub use self::trees::{KEPT_TREES, KeptTree};
pub use crate::layout::TREE_LINK;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use git2::Oid;

use self::change::fill_phases;
use self::error::io;
use crate::config::{EnvConfig, HttpTimeout, Jobs};
use crate::envrepo::{CONFIG_FILE, EnvRepo, LoggedEvent, Place};
use crate::events::{Event, EventKind};
use crate::luaversion::LuaVersion;
use crate::manifest::Manifest;
use crate::report::{Reporter, Silent};

/// The result of the environment layer's functions.
pub type Result<T, E = EnvError> = std::result::Result<T, E>;

/// An open environment.
pub struct Environment {
    root: PathBuf,
    repo: EnvRepo,
    config: EnvConfig,
    home: Home,
    /// A reader's shared hold on the state lock (see [`crate::layout::STATE_LOCK_FILE`]), taken by
    /// [`Environment::open`] and given up when this process becomes the writer.
    read_guard: std::sync::Mutex<Option<fs::File>>,
    /// How long opening waited for a change in progress; the first writer-lock wait counts it
    /// against its timeout, so one command waits at most the lock timeout in total.
    waited_at_open: std::sync::Mutex<Duration>,
    /// What the caller opened it with (overrides and reporter), kept for [`Environment::reopen`].
    options: OpenOptions,
}

/// How a caller opens an environment: settings resolved above the environment's own
/// `lvm.toml` (flags, environment variables), and where progress goes.
#[derive(Clone)]
pub struct OpenOptions {
    /// Rocks servers to use instead of the recorded ones.
    pub servers: Option<Vec<String>>,
    /// The interpreter to use instead of the recorded `lua_bin` or the system's.
    pub lua_bin: Option<PathBuf>,
    /// Parallel build jobs, when not the recorded setting.
    pub jobs: Option<Jobs>,
    /// The network timeout, when not the recorded setting.
    pub http_timeout: Option<HttpTimeout>,
    /// A setting whose recorded value is not read: the one `lvm config set`/`unset` replaces,
    /// so a bad recorded value cannot keep them from fixing it.
    pub setting_replaced: Option<crate::config::Key>,
    /// How long opening may wait for another process's change to finish (the lock timeout);
    /// `None`: [`crate::config::DEFAULT_LOCK_TIMEOUT`].
    pub lock_timeout: Option<Duration>,
    /// The limit in seconds on one whole download, when not the recorded setting.
    pub download_timeout: Option<f64>,
    /// Seconds a fetched server manifest is used without asking the server again, when not
    /// the recorded setting (`--refresh` makes it 0).
    pub manifest_max_age: Option<f64>,
    /// Whether to sign event commits, when not the recorded setting (`--sign`, the user's).
    pub sign: Option<bool>,
    /// Build variables, when not the recorded setting.
    pub variables: Option<std::collections::BTreeMap<String, String>>,
    /// Whether dev sub-servers are used, when not the recorded setting.
    pub dev: Option<bool>,
    /// Build caches to read, when not the recorded setting.
    pub caches: Option<Vec<String>>,
    /// The build cache pushes go to, when not the recorded setting.
    pub cache_push: Option<String>,
    /// Trusted cache signing keys, when not the recorded setting.
    pub trusted_keys: Option<Vec<String>>,
    /// Whether a trusted recipe record stands in for downloading a source, when not the
    /// recorded setting.
    pub cache_trust_sources: Option<bool>,
    /// Receives progress and notices; [`Silent`] by default.
    pub reporter: Arc<dyn Reporter>,
    /// Gives the shell command of lvm's git merge driver for `manifest.json` (the `lvm`
    /// binary, quoted for the shell, and `merge-driver`), registered in the repository whenever
    /// it is created or opened for writing; `None` registers nothing (a library caller has no
    /// lvm binary to offer git). A function, so that the commands that only read never look
    /// for their own binary.
    pub merge_driver: Option<fn() -> Option<String>>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            servers: None,
            lua_bin: None,
            jobs: None,
            sign: None,
            http_timeout: None,
            setting_replaced: None,
            lock_timeout: None,
            download_timeout: None,
            manifest_max_age: None,
            variables: None,
            dev: None,
            caches: None,
            cache_push: None,
            trusted_keys: None,
            cache_trust_sources: None,
            reporter: Arc::new(Silent),
            merge_driver: None,
        }
    }
}

impl OpenOptions {
    /// How long opening may wait for a change in progress.
    fn lock_timeout(&self) -> Duration {
        self.lock_timeout
            .unwrap_or(Duration::from_secs_f64(crate::config::DEFAULT_LOCK_TIMEOUT))
    }

    /// Applies the overrides to the recorded settings; returns the reporter.
    fn apply(&self, config: &mut EnvConfig) {
        if let Some(servers) = &self.servers {
            config.servers = servers.clone();
        }
        if let Some(bin) = &self.lua_bin {
            config.lua_bin = Some(bin.clone());
        }
        if let Some(jobs) = self.jobs {
            config.jobs = Some(jobs);
        }
        if let Some(timeout) = self.http_timeout {
            config.http_timeout = Some(timeout);
        }
        if let Some(limit) = self.download_timeout {
            config.download_timeout = Some(limit);
        }
        if let Some(age) = self.manifest_max_age {
            config.manifest_max_age = Some(age);
        }
        if let Some(variables) = &self.variables {
            config.variables = Some(variables.clone());
        }
        if let Some(dev) = self.dev {
            config.dev = Some(dev);
        }
        if let Some(sign) = self.sign {
            config.sign = Some(sign);
        }
        if let Some(caches) = &self.caches {
            config.caches = Some(caches.clone());
        }
        if let Some(url) = &self.cache_push {
            config.cache_push = Some(url.clone());
        }
        if let Some(keys) = &self.trusted_keys {
            config.trusted_keys = Some(keys.clone());
        }
        if let Some(trust) = self.cache_trust_sources {
            config.cache_trust_sources = Some(trust);
        }
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
/// can act while lvm is stopped there (e.g. holding the writer lock at `locked`). It pauses the
/// first time only: a point that parallel builds reach (`build`) would otherwise pause again
/// after the test let it go, with nobody left to delete the file.
pub fn pause_point(point: &str) {
    static PAUSED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let Ok(spec) = std::env::var("LVM_TEST_PAUSE_AT") else {
        return;
    };
    let Some((at, file)) = spec.split_once(':') else {
        return;
    };
    if at != point {
        return;
    }
    // Held while paused, so a second thread reaching the point waits here and then goes on.
    let Ok(mut paused) = PAUSED.lock() else {
        return;
    };
    if std::mem::replace(&mut *paused, true) {
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

/// The state at one head commit, read without the writer lock: a change is computed from it
/// (resolved, its builds made), then recorded under the lock if the head is still `head`, or
/// computed again from the new head if another writer moved it meanwhile.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub head: Oid,
    pub manifest: Manifest,
}

/// The phases every event reports in `durations_ms` (0 when a change has no such phase).
pub const PHASES: [&str; 4] = ["resolve", "build", "materialize", "commit"];

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
        Self::init_in(root, Place::Standalone, config, home, options)
    }

    /// [`Environment::init_with`] where the events live at `place`: a standalone environment
    /// gets its own repository at `root`; a project one (`root` is `<work tree>/.lvm`) keeps
    /// them in the project's repository (see `docs/projects.md`).
    pub fn init_in(
        root: &Path,
        place: Place,
        config: EnvConfig,
        home: Home,
        options: OpenOptions,
    ) -> Result<Environment> {
        let exists = match place {
            Place::Standalone => root.join(".git").exists(),
            Place::Project => root.join(".git").exists() || root.join(CONFIG_FILE).exists(),
        };
        if exists {
            return Err(EnvError::AlreadyAnEnvironment {
                root: root.to_path_buf(),
            });
        }
        if let Some(bin) = &config.lua_bin {
            // A chosen interpreter must be a Lua of the environment's version before anything
            // is created.
            crate::interpreter::Interpreter::chosen(config.lua, bin)?;
        }
        fs::create_dir_all(root).map_err(io("create", root))?;
        let manifest = Manifest::empty(config.lua);
        let event = init_event(&config);
        // The overrides (`--sign`) decide whether this first event is signed too.
        let mut effective = config.clone();
        options.apply(&mut effective);
        let sign = effective.sign.unwrap_or(false);
        let repo = EnvRepo::create(root, place, &config.to_toml(), &manifest, &event, sign)?;
        let env = Environment::assemble(root, repo, config, home, options);
        let tree_dir = env.materialize(&manifest)?;
        env.switch_tree(&tree_dir)?;
        env.register_in_home();
        env.register_merge_driver();
        Ok(env)
    }

    /// The handle on an environment whose repository is open: the recorded settings with the
    /// caller's overrides applied, and the caller's reporter.
    fn assemble(
        root: &Path,
        mut repo: EnvRepo,
        mut config: EnvConfig,
        home: Home,
        options: OpenOptions,
    ) -> Environment {
        options.apply(&mut config);
        repo.set_signing(config.sign.unwrap_or(false));
        Environment {
            root: root.to_path_buf(),
            repo,
            config,
            home,
            read_guard: std::sync::Mutex::new(None),
            waited_at_open: std::sync::Mutex::new(Duration::ZERO),
            options,
        }
    }

    /// Lists the environment in its home's registry. Failing to is only a warning: the
    /// environment works, `lvm gc` just cannot see it.
    fn register_in_home(&self) {
        if let Err(e) = self.home.register(&self.root) {
            let e = crate::errors::error_text(&e);
            tracing::warn!("{e}; `lvm gc` from other environments will not see this one");
        }
    }

    /// Registers lvm's merge driver for `manifest.json` in the repository when the caller
    /// offers one (see [`OpenOptions::merge_driver`]). Failing to is only a warning: lvm works
    /// without it, only a plain `git merge` falls back to git's text merge.
    pub fn register_merge_driver(&self) {
        let Some(command) = self.options.merge_driver.and_then(|command| command()) else {
            return;
        };
        if let Err(e) = self.repo.register_merge_driver(&command) {
            let e = crate::errors::error_text(&e);
            tracing::warn!("{e}; `git merge` will merge manifest.json as text");
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
        Self::open_repo(EnvRepo::open(root)?, home, options)
    }

    /// [`Environment::open_with`] for a repository the caller has open already (the CLI reads
    /// the environment's settings before it opens the environment), so it is opened once. A
    /// project whose repository has no lvm history yet starts one from its committed files.
    pub fn open_repo(mut repo: EnvRepo, home: Home, options: OpenOptions) -> Result<Environment> {
        if repo.place() == Place::Project && !repo.has_history() {
            project::start_history(&mut repo, &options)?;
        }
        let root = &repo.root().to_path_buf();
        let config = recorded_settings(&repo, repo.head()?, &options)?;
        let env = Environment::assemble(root, repo, config, home, options);
        // Every wait of the open shares one deadline: a stalled writer costs a reader the lock
        // timeout once, not once per wait.
        let deadline = Instant::now() + env.options.lock_timeout();
        let mut waited = env.hold_for_reading(deadline);
        if env.journal_path().exists() || !env.repo.git_lock_files().is_empty() {
            // The writer that left them is gone if its lock is free: finish its change (and
            // remove git's lock files it left) first. A live writer holds the lock, so its
            // files are never touched.
            env.release_read_guard();
            if let Ok(Some(_lock)) = env.try_lock() {
                if let Err(e) = env.recover_interrupted(false) {
                    let e = crate::errors::error_text(&e);
                    tracing::warn!("could not finish an interrupted change: {e}");
                }
            }
            waited += env.hold_for_reading(deadline);
        }
        if let Ok(mut slot) = env.waited_at_open.lock() {
            *slot = waited;
        }
        env.register_in_home();
        Ok(env)
    }

    /// The environment's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its git repository: the events, profiles and remotes.
    pub fn repo(&self) -> &EnvRepo {
        &self.repo
    }

    /// Its settings as recorded at open, with the caller's overrides applied.
    pub fn config(&self) -> &EnvConfig {
        &self.config
    }

    /// The interpreter this environment runs and builds with (see
    /// [`crate::interpreter::Interpreter::resolve`]).
    pub fn interpreter(&self) -> Result<crate::interpreter::Interpreter> {
        self.resolve_interpreter(self.config.lua, self.config.lua_bin.as_deref())
    }

    /// The interpreter for Lua `lua`: `chosen` (checked), the embedded VM for 5.4, the system's
    /// command, and else a runtime lvm builds from the sources it carries, once per machine,
    /// into the home (`lvm runtime`), reporting the build's progress.
    pub fn resolve_interpreter(
        &self,
        lua: LuaVersion,
        chosen: Option<&Path>,
    ) -> Result<crate::interpreter::Interpreter> {
        use crate::interpreter::{Interpreter, InterpreterError};
        use crate::runtime::{BuildEnv, Runtimes};
        match Interpreter::resolve(lua, chosen) {
            Err(InterpreterError::NotFound { .. }) => {
                let provide = |source| EnvError::ProvideRuntime { lua, source };
                let (runtime, _) = Runtimes::new(self.home.runtimes_dir())
                    .ensure(lua, &BuildEnv::from_process(), self.reporter())
                    .map_err(provide)?;
                Ok(Interpreter::provisioned(
                    lua,
                    runtime.bin,
                    runtime.include_dir,
                ))
            }
            found => Ok(found?),
        }
    }

    /// The interpreter for a state of Lua `lua`: the environment's own for its Lua, else (a
    /// state of another profile or from before a Lua change) the one lvm finds for `lua`.
    pub fn interpreter_for(&self, lua: LuaVersion) -> Result<crate::interpreter::Interpreter> {
        if lua == self.config.lua {
            return self.interpreter();
        }
        self.resolve_interpreter(lua, None)
    }

    /// Whether Lua `lua` runs in the embedded VM here: the embedded Lua with no `lua_bin`
    /// chosen for it, as [`Environment::interpreter_for`] resolves it. `lvm run` asks this
    /// first, so that starting a script never looks for the system's interpreter on `PATH`.
    pub fn runs_embedded(&self, lua: LuaVersion) -> bool {
        lua.is_embedded() && (lua != self.config.lua || self.config.lua_bin.is_none())
    }

    /// The environment's Lua version.
    pub fn lua(&self) -> LuaVersion {
        self.config.lua
    }

    /// The lvm home it shares the store and cache of.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Where this environment's operations report progress.
    pub fn reporter(&self) -> &dyn Reporter {
        self.options.reporter.as_ref()
    }

    /// How long opening waits for a change in progress (what it was opened with), for
    /// opening other environments alike.
    pub fn open_timeout(&self) -> Duration {
        self.options.lock_timeout()
    }

    /// A shared handle on the reporter, for work that outlives a borrow of the environment.
    pub fn reporter_handle(&self) -> Arc<dyn Reporter> {
        Arc::clone(&self.options.reporter)
    }

    /// A new scratch directory in `.lvm-tmp` for this command, removed when dropped; scratch
    /// that killed commands left behind is removed first.
    pub fn scratch(&self, prefix: &str) -> Result<Scratch, ScratchError> {
        Scratch::create(&self.root.join(crate::layout::SCRATCH_DIR), prefix)
    }

    /// The environment opened again with the same overrides and reporter, to see what changed
    /// on disk (a pull moved the head and with it the recorded settings).
    pub fn reopen(&self) -> Result<Environment> {
        Environment::open_with(&self.root, self.home.clone(), self.options.clone())
    }

    pub fn head(&self) -> Result<Oid> {
        Ok(self.repo.head()?)
    }

    /// The head commit and its state, to compute a change from without the writer lock (see
    /// [`Snapshot`]). This handle stops holding the state lock as a reader: the snapshot reads
    /// only commits, which never change, and a command that computes a change for minutes
    /// (downloads, builds) must not keep other writers from finishing theirs.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.release_read_guard();
        let head = self.head()?;
        Ok(Snapshot {
            head,
            manifest: self.repo.manifest_at(head)?,
        })
    }

    /// Whether the settings recorded at the head, with this handle's overrides, differ from the
    /// ones it was opened with: another process changed them since (`lvm config set`, a Lua
    /// change), so a change computed with this handle's settings is stale.
    pub fn settings_moved(&self) -> Result<bool> {
        let mut recorded = recorded_settings(&self.repo, self.head()?, &self.options)?;
        self.options.apply(&mut recorded);
        Ok(recorded != self.config)
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

    /// The settings recorded at the head commit (`self.config` is what was read at open).
    pub fn recorded_config(&self) -> Result<EnvConfig> {
        self.config_at(self.head()?)
    }

    /// The settings recorded at the head commit, leaving out `key` whatever its value (see
    /// [`EnvConfig::parse_without`]).
    pub fn recorded_config_without(&self, key: crate::config::Key) -> Result<EnvConfig> {
        let text = self.repo.read_file(self.head()?, CONFIG_FILE)?;
        Ok(EnvConfig::parse_without(
            &String::from_utf8_lossy(&text),
            &self.root.join(CONFIG_FILE).display().to_string(),
            key,
        )?)
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
            LuaVersion::default().as_str(),
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

/// The settings recorded at `commit` as a handle opened with `options` reads them (leaving
/// out the setting it replaces), before its overrides apply.
fn recorded_settings(repo: &EnvRepo, commit: Oid, options: &OpenOptions) -> Result<EnvConfig> {
    let text = repo.head_files(commit)?.settings;
    let file = repo.root().join(CONFIG_FILE).display().to_string();
    match options.setting_replaced {
        Some(key) => EnvConfig::parse_without(&text, &file, key),
        None => EnvConfig::parse(&text, &file),
    }
    .map_err(EnvError::BadSettings)
}

/// The first event of an environment with settings `config`.
fn init_event(config: &EnvConfig) -> Event {
    let mut event = Event::new(EventKind::Init, vec![], vec![]);
    if config.lua != LuaVersion::default() {
        event.lua = Some(config.lua);
    }
    event
        .details
        .insert("servers".into(), config.servers.join(" "));
    fill_phases(&mut event);
    event
}

/// The sha256 of a manifest's canonical bytes.
pub fn manifest_digest(manifest: &Manifest) -> String {
    crate::digest::sha256_bytes(&manifest.to_bytes())
}
