//! The command-line interface: argument parsing (clap), output, and exit codes. Each command
//! lives in the file named after it (`lvm init` in `init.rs`) and calls into the library.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};

use lvm::config::{Key, Layer, Origin, Settings, Value};
use lvm::env::{Environment, Home, OpenOptions};
use lvm::envrepo::EnvRepo;
use lvm::errors::ErrorKind;

// One module per command (or tight group of commands), named after it.
mod bisect;
mod blame;
mod cache;
mod cherry_pick;
mod clone;
mod collections;
mod complete;
mod config;
mod diff;
mod doctor;
mod download;
mod env;
mod gc;
mod init;
mod install;
mod link;
mod lint;
mod list;
mod log;
mod make;
mod make_manifest;
mod merge_driver;
mod pack;
mod path;
mod profile;
mod pull;
mod push;
mod recommend;
mod remote;
mod remove;
mod revert;
mod rollback;
mod run;
mod runtime;
mod search;
mod setup;
mod shell;
mod shell_hook;
mod show;
mod stats;
mod sync;
mod tag;
mod test;
mod unlink;
mod upgrade;
mod verify;
mod which;
mod why;

// Helpers shared by several commands.
mod interactive;
mod outcome;
mod parse;
mod progress;
mod servers;

/// Exit codes scripts can rely on.
pub mod exit {
    pub const OK: i32 = 0;
    /// The command failed (bad input, a failed install, an unhealthy environment).
    pub const FAILURE: i32 = 1;
    /// The command line itself was wrong.
    pub const USAGE: i32 = 2;
    /// Another lvm process held the environment's writer lock longer than `--lock-timeout`;
    /// trying again later may work.
    pub const LOCKED: i32 = 3;
}

const EXAMPLES: &str = "\
Examples:
  lvm init --server file:///srv/rocks      make the default environment
  lvm install penlight 'penlight >= 1.13'  install with a constraint
  lvm install ./foo-1.0-1.rockspec         install a local rockspec
  lvm make                                 build and install the rock in this directory
  lvm link ../my-rock                      install a working copy, edits visible at once
  lvm list                                 what is installed
  lvm log --stat                           history of changes
  lvm rollback                             undo the last change
  eval \"$(lvm path)\"                       use the environment from your shell
  lvm run app.lua                          run Lua with the environment's packages";

#[derive(Debug, Parser)]
#[command(
    name = "lvm",
    version,
    about = "A Lua environment manager: LuaRocks-compatible installs, recorded as git history",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes, before or after its name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More output: -v lvm's debug log, -vv its trace, -vvv every crate's. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The environment to use: a folder, or the name of one made by `lvm env create NAME`
    /// (default: LVM_ENV, then the nearest .lvm/, then the default one).
    #[arg(long, global = true, value_name = "PATH|NAME")]
    pub env: Option<PathBuf>,
    /// Seconds to wait for another lvm process changing the same environment (default: the
    /// lock_timeout setting, see `lvm config`; 60).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = lock_timeout_flag)]
    pub lock_timeout: Option<Value>,
    /// Parallel build jobs: a number or `auto` (default: the jobs setting; auto).
    #[arg(short, long, global = true, value_name = "N|auto", value_parser = jobs_flag)]
    pub jobs: Option<Value>,
    /// Colored output: auto, always or never (default: the color setting; auto).
    #[arg(long, global = true, value_name = "WHEN", value_parser = color_flag)]
    pub color: Option<Value>,
    /// Seconds a server may take to connect or to send more data, or `default` (default: the
    /// http_timeout setting; 30 s to connect, 60 s per read).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = http_timeout_flag)]
    pub http_timeout: Option<Value>,
    /// The Lua interpreter to run and build with, instead of the system's one for the
    /// environment's Lua (default: the lua_bin setting, LVM_LUA_BIN); it must report that version.
    #[arg(long, global = true, value_name = "PATH", value_parser = lua_bin_flag)]
    pub lua_bin: Option<Value>,
    /// Sign the event commits this command records, as git signs commits (gpg.format openpgp
    /// or ssh, user.signingkey from git's config; default: the sign setting).
    #[arg(long, global = true)]
    pub sign: bool,
    /// Ask every rocks server for its manifest now, however recently it was fetched (the
    /// manifest_max_age setting, 60 s by default; sets it to 0 for this command).
    #[arg(long, global = true)]
    pub refresh: bool,
    /// Also use each rocks server's `dev` sub-server (URL/dev), and let development versions
    /// (scm, dev) win, like `luarocks --dev` (default: the dev setting; false).
    #[arg(long, global = true)]
    pub dev: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a rockspec: print every problem with its field path, or `FILE: ok`.
    Lint(lint::LintArgs),
    /// Create an environment (a git repository of events plus a rocks tree).
    Init(init::InitArgs),
    /// Install packages: names with optional constraints, rockspec files, or git sources.
    Install(install::InstallArgs),
    /// Upgrade packages to the newest versions every constraint allows.
    Upgrade(upgrade::UpgradeArgs),
    /// Remove packages and the dependencies nothing else needs.
    Remove(remove::RemoveArgs),
    /// Build the rock in the current directory from its files and install it (like `luarocks make`).
    Make(make::MakeArgs),
    /// Install a working directory's rock with its Lua files linked, so edits show up at once.
    Link(link::LinkArgs),
    /// Remove a package installed with `lvm link`.
    Unlink(unlink::UnlinkArgs),
    /// List installed packages.
    List(list::ListArgs),
    /// Show a package: the installed one in full, else what the rocks servers publish.
    Show(show::ShowArgs),
    /// Which installed package and file provide a Lua module (like `luarocks which`).
    Which(which::WhichArgs),
    /// Fetch a package's .src.rock or rockspec from the rocks servers (like `luarocks download`).
    Download(download::DownloadArgs),
    /// Run the project's tests as its rockspec's test section says (like `luarocks test`).
    Test(test::TestArgs),
    /// Unpack a package or a rock/rockspec file with its sources into NAME-VERSION/ (like
    /// `luarocks unpack`).
    Unpack(download::UnpackArgs),
    /// Search the configured rocks servers.
    ///
    /// Lists each package whose name contains TERM once: its newest versions across the
    /// servers, the servers that publish it (in priority order) and its summary. Summaries come
    /// from the rockspecs, one download each (cached afterwards), so they are read for at most
    /// 20 matches: a package named exactly TERM first, then in name order. The others, and any
    /// summary that cannot be read, are left out. `--json` gives every version.
    Search(search::SearchArgs),
    /// Print shell commands (sh, bash, zsh, fish; or --json) that put the environment on LUA_PATH,
    /// LUA_CPATH and PATH, in front or with --append after.
    Path(path::PathArgs),
    /// Remove store entries no recent state needs.
    Gc(gc::GcArgs),
    /// The environment's history of events.
    Log(log::LogArgs),
    /// Where time went: per command kind and phase, store hit rate, slowest builds.
    Stats(stats::StatsArgs),
    /// One event in full.
    ShowEvent(log::ShowEventArgs),
    /// Return to an earlier state (recorded as a new event).
    Rollback(rollback::RollbackArgs),
    /// Package differences between two revisions or profiles.
    Diff(diff::DiffArgs),
    /// Find the first event after which a test command fails (a binary search over the
    /// profile's states, each made from the store in a scratch tree; nothing is recorded).
    #[command(after_help = "\
Examples:
  lvm bisect run -- lua5.4 test.lua      search automatically
  lvm bisect run --good HEAD~16 --json -- make test
  lvm bisect start --good HEAD~8         or step by step:
  lvm bisect exec -- lua5.4 test.lua     test the state under test
  lvm bisect good                        (or bad, skip) until the first bad event shows
  lvm bisect reset")]
    #[command(subcommand)]
    Bisect(bisect::BisectCommand),
    /// Undo the package changes of one earlier event, keeping everything since (a new event).
    Revert(revert::RevertArgs),
    /// Take the package changes of an event of another profile into this one (a new event).
    CherryPick(cherry_pick::CherryPickArgs),
    /// For each installed package: the event that brought its version, when, by whom, and why.
    Blame(blame::BlameArgs),
    /// The dependency paths from the packages you asked for down to one package.
    Why(why::WhyArgs),
    /// Name an event (a git tag), list or delete tags; a tag works wherever a revision does.
    Tag(tag::TagArgs),
    /// Check that the log, manifest.json and the tree agree.
    Verify(verify::VerifyArgs),
    /// Make the tree match manifest.json (after a clone, pull or manual git change); in a
    /// project, record the committed .lvm/manifest.json as the environment's state.
    Sync(sync::SyncArgs),
    /// Remotes the environment is shared through.
    #[command(after_help = "\
Examples:
  lvm remote add origin ssh://host/srv/envs/app.git
  lvm remote list  each remote with its URL
  lvm remote remove origin")]
    #[command(subcommand)]
    Remote(remote::RemoteCommand),
    /// Send profiles to a remote (never overwrites the remote's history).
    Push(push::PushArgs),
    /// Fetch the current profile from a remote, fast-forward it and sync the tree.
    Pull(pull::PullArgs),
    /// Make a working environment from a shared repository, building what the store lacks.
    Clone(clone::CloneArgs),
    /// Profiles (git branches of the environment).
    #[command(after_help = "\
Examples:
  lvm profile list        the current one marked with '*'
  lvm profile create dev  a copy of the current profile
  lvm profile switch dev
  lvm profile merge dev   dev's changes into the current one, three-way
  lvm profile delete dev")]
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(shell::CompletionsArgs),
    /// Print the man page (roff).
    #[command(hide = true)]
    #[command(after_help = "\
Examples:
  lvm man > lvm.1     write the page
  lvm man | man -l -  read it")]
    Man,
    /// Print a shell hook that activates the nearest environment on `cd`.
    ShellInit(shell::ShellInitArgs),
    /// Print the commands that move the shell to the environment that applies here (run by
    /// the `shell-init` hooks).
    #[command(hide = true)]
    ShellHook(shell_hook::ShellHookArgs),
    /// Merge manifest.json three-way, package by package (run by git in an environment).
    #[command(hide = true)]
    MergeDriver(merge_driver::MergeDriverArgs),
    /// Named environments under the lvm home.
    #[command(after_help = "\
Examples:
  lvm env create web              make one
  lvm install penlight --env web  use it
  lvm env list
  lvm env remove web")]
    #[command(subcommand, name = "env")]
    Envs(env::EnvCommand),
    /// Pack a rockspec and its sources into `<name>-<version>.src.rock` (like `luarocks pack`).
    Pack(pack::PackArgs),
    /// Write the manifest files of a rocks server folder (like `luarocks-admin make-manifest`).
    MakeManifest(make_manifest::MakeManifestArgs),
    /// Run a Lua script (or -e code) in the environment's Lua (embedded for 5.4) with its packages.
    Run(run::RunArgs),
    /// An interactive Lua prompt with the environment's packages (piped input runs as a script).
    Lua(run::LuaArgs),
    /// Run a program with LUA_PATH, LUA_CPATH and PATH set for the environment.
    Exec(run::ExecArgs),
    /// Lua interpreters lvm builds itself (5.1, 5.2, 5.3, 5.4, 5.5, luajit), offline, once per
    /// machine, shared by every environment.
    #[command(after_help = "\
Examples:
  lvm runtime install 5.1 luajit  build them now instead of on first use
  lvm runtime list                what is built, and where
  lvm runtime remove luajit")]
    #[command(subcommand)]
    Runtime(runtime::RuntimeCommand),
    /// Shared, signed build caches on a folder, HTTP(S) or S3-compatible storage: push builds,
    /// and installs fetch them instead of compiling (docs/cache.md).
    #[command(after_help = "\
Examples:
  lvm cache key generate --name ci-1      a signing key; prints the public key to trust
  lvm cache push --to s3://team-builds/lvm
  lvm config set caches s3://team-builds/lvm   installs read it before building
  lvm cache list                          what the caches hold of this environment")]
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Read and change settings (servers, lua, lock_timeout, jobs, color, http_timeout) of the
    /// environment or, with --user, of your user config file.
    #[command(after_help = "\
Examples:
  lvm config list                    every setting, its value and where it comes from
  lvm config get jobs --show-origin
  lvm config set jobs 4              in the environment's lvm.toml
  lvm config set --user color never  in your user config file
  lvm config unset jobs")]
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Curated collections of packages that belong together.
    #[command(after_help = "\
Examples:
  lvm collections         each collection with its packages
  lvm collections --json  the same as JSON")]
    Collections(collections::ListArgs),
    /// Curated profiles: package sets built from collections.
    #[command(after_help = "\
Examples:
  lvm profiles         each curated profile with the packages it installs
  lvm profiles --json  the same as JSON
  lvm setup standard   install one")]
    Profiles(collections::ListArgs),
    /// Install a curated profile on the profile branch of the same name.
    Setup(setup::SetupArgs),
    /// Check the environment's health; each problem comes with the command that fixes it.
    Doctor(doctor::DoctorArgs),
    /// Suggestions for the environment, each with the command that applies it.
    Recommend(recommend::RecommendArgs),
}

impl Command {
    /// Whether the command only reads (prints what is there, or runs a program): such a
    /// command stops quietly when the reader of its output goes away (`lvm log | head`), as
    /// other Unix tools do. Every other command may change something, and a change must
    /// finish whatever happens to its output.
    fn only_reads(&self) -> bool {
        matches!(
            self,
            Command::Lint(_)
                | Command::List(_)
                | Command::Show(_)
                | Command::Which(_)
                | Command::Search(_)
                | Command::Path(_)
                | Command::Log(_)
                | Command::Stats(_)
                | Command::ShowEvent(_)
                | Command::Diff(_)
                | Command::Blame(_)
                | Command::Why(_)
                | Command::Completions(_)
                | Command::Man
                | Command::ShellInit(_)
                | Command::Run(_)
                | Command::Lua(_)
                | Command::Exec(_)
                | Command::Collections(_)
                | Command::Profiles(_)
                | Command::Doctor(_)
                | Command::Recommend(_)
        )
    }
}

/// The exit code of a command whose output was closed before it finished printing (as for a
/// process killed by SIGPIPE, 128 + 13); its change, if any, is complete.
const CLOSED_OUTPUT: i32 = 141;

/// A closed pipe kills a reading command quietly (the Unix default); for any other command it
/// only makes the write fail, so the command goes on and its change completes.
fn set_closed_pipe_behavior(only_reads: bool) {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition, before this process starts any thread.
    unsafe {
        let action = if only_reads {
            libc::SIG_DFL
        } else {
            libc::SIG_IGN
        };
        libc::signal(libc::SIGPIPE, action);
    }
}

/// Whether a panic is a print macro failing on a closed stdout or stderr.
fn is_closed_output_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    text.starts_with("failed printing to std") && text.contains("Broken pipe")
}

/// Runs the command; a print that fails because its reader went away ends it with
/// [`CLOSED_OUTPUT`] instead of a crash report. The library prints nothing, so by then the
/// command's change (if any) is complete: commands print their outcome after it.
fn run_guarded(ctx: &Context, command: Command) -> Result<i32> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_closed_output_panic(info.payload()) {
            default_hook(info);
        }
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(ctx, command))) {
        Ok(result) => result,
        Err(payload) if is_closed_output_panic(payload.as_ref()) => Ok(CLOSED_OUTPUT),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Writes an error line on stderr; a closed stderr loses it rather than ending lvm.
fn error_line(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "error: {text}");
}

/// Log files kept per environment (one per day).
const LOG_FILES_KEPT: usize = 14;

/// Terminal logging as asked (`-v`, `-q`, `RUST_LOG`), plus, for an existing environment, a
/// persistent debug log in `<env>/logs/lvm.YYYY-MM-DD.log`, rotated daily.
fn init_tracing(verbose: u8, quiet: bool, env_logs: Option<PathBuf>, ansi: bool) {
    use lvm::logfile::{RollingLog, SystemClock};
    use tracing_subscriber::layer::Filter;
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, Registry, filter::Targets, fmt};
    type BoxedFilter = Box<dyn Filter<Registry> + Send + Sync>;
    // RUST_LOG may use any of EnvFilter's directives (span and field filters); lvm's own
    // levels are plain targets, which the much smaller `Targets` filter reads, so a start
    // without RUST_LOG does not build an EnvFilter.
    let targets = |directives: &str| directives.parse::<Targets>().unwrap_or_default();
    let filter: BoxedFilter = match EnvFilter::try_from_default_env() {
        Ok(filter) => Box::new(filter),
        Err(_) => Box::new(targets(log_levels(quiet, verbose))),
    };
    let terminal = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .without_time()
        .with_filter(filter);
    let file = env_logs.and_then(|dir| {
        let log = RollingLog::new(dir, "lvm", LOG_FILES_KEPT, SystemClock).ok()?;
        Some(
            fmt::layer()
                .with_writer(log)
                .with_ansi(false)
                .with_filter(targets(ENV_LOG_LEVELS)),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(terminal)
        .with(file)
        .try_init();
}

/// What the environment's log file keeps: lvm's debug lines, other crates' information.
const ENV_LOG_LEVELS: &str = "lvm=debug,info";

/// What the terminal shows without RUST_LOG: -v and -vv open lvm's own logs; the crates below
/// it (the resolver, git, HTTP) stay at warnings unless -vvv asks for them.
fn log_levels(quiet: bool, verbose: u8) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,lvm=debug",
        (false, 2) => "warn,lvm=trace",
        (false, _) => "trace",
    }
}

/// A short id for this process's run.
fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:012x}",
        (nanos ^ (u128::from(std::process::id()) << 40)) & 0xffff_ffff_ffff
    )
}

fn flag_value(key: Key, text: &str) -> std::result::Result<Value, String> {
    Value::parse(key, text, "flag").map_err(|e| match e {
        lvm::config::ConfigError::Invalid { message, .. } => message,
        other => other.to_string(),
    })
}

fn lua_bin_flag(text: &str) -> std::result::Result<Value, String> {
    flag_value(Key::LuaBin, text)
}

fn lock_timeout_flag(text: &str) -> std::result::Result<Value, String> {
    flag_value(Key::LockTimeout, text)
}

fn jobs_flag(text: &str) -> std::result::Result<Value, String> {
    flag_value(Key::Jobs, text)
}

fn color_flag(text: &str) -> std::result::Result<Value, String> {
    flag_value(Key::Color, text)
}

fn http_timeout_flag(text: &str) -> std::result::Result<Value, String> {
    flag_value(Key::HttpTimeout, text)
}

/// The levels settings are resolved from (see [`lvm::config::resolve`]), kept so a command can
/// resolve again with levels of its own (`lvm init` has no environment level yet).
#[derive(Debug, Clone, Default)]
pub struct Levels {
    pub flags: Layer,
    pub env_vars: Layer,
    pub environment: Layer,
    pub user: Layer,
    /// The user config file, when a location for it is known.
    pub user_path: Option<PathBuf>,
}

impl Levels {
    pub fn resolve(&self) -> Settings {
        lvm::config::resolve(&self.flags, &self.env_vars, &self.environment, &self.user)
    }
}

/// The environment level: the settings recorded at the head of the environment at `path`, if
/// there is one there. A broken one is reported by the command that opens it.
fn environment_level(path: &std::path::Path) -> Option<(Layer, EnvRepo)> {
    if !lvm::config::is_environment(path) {
        return None;
    }
    let file = path.join(lvm::envrepo::CONFIG_FILE);
    let read = || -> Result<(Layer, EnvRepo)> {
        let repo = EnvRepo::open(path)?;
        let head = repo.head_files(repo.head()?)?;
        let config = lvm::config::EnvConfig::parse(&head.settings, &file.display().to_string())?;
        Ok((config.layer(&file), repo))
    };
    match read() {
        Ok(read) => Some(read),
        Err(e) => {
            tracing::debug!("environment settings not used: {e:#}");
            None
        }
    }
}

/// What every command needs: where things are and the resolved settings.
pub struct Context {
    pub home: Home,
    pub env_flag: Option<PathBuf>,
    /// The lock_timeout setting, for every writer-lock wait.
    pub lock_timeout: Duration,
    pub quiet: bool,
    pub settings: Settings,
    pub levels: Levels,
    /// The environment's repository, opened to read its settings and kept for
    /// [`Context::open`], so a command opens it once.
    opened: RefCell<Option<EnvRepo>>,
}

impl Context {
    /// Reads the levels (flags given, environment variables, the environment's and the user's
    /// settings) and resolves them.
    /// With `replacing`, a broken user file is left out instead of stopping the command:
    /// `lvm config set`/`unset` must be able to fix it.
    fn configure(&mut self, flags: Layer, replacing: bool) -> Result<()> {
        let env_vars = Layer::from_env_vars(|name| std::env::var(name).ok())?;
        let user_path = lvm::config::user_config_path();
        let user = match user_path.as_deref().map(lvm::config::load_user_config) {
            Some(Ok(layer)) => layer,
            Some(Err(e)) if replacing => {
                tracing::debug!("user settings not used: {e}");
                Layer::new()
            }
            Some(Err(e @ lvm::config::ConfigError::Invalid { .. })) => {
                return Err(anyhow::Error::new(e).context(
                    "your user settings are invalid; `lvm config set --user KEY VALUE` or `lvm config unset --user KEY` replaces a bad value",
                ));
            }
            Some(Err(e)) => return Err(e.into()),
            None => Layer::new(),
        };
        let (environment, opened) = match self.env_path().ok().and_then(|p| environment_level(&p)) {
            Some((layer, repo)) => (layer, Some(repo)),
            None => (Layer::new(), None),
        };
        self.opened = RefCell::new(opened);
        self.levels = Levels {
            flags,
            env_vars,
            environment,
            user,
            user_path,
        };
        self.settings = self.levels.resolve();
        self.lock_timeout = self.settings.lock_timeout();
        // libgit2 makes the http(s) transport itself, so git operations take the setting from
        // the process rather than from the environment they work on.
        lvm::fetch::git_http::set_http_timeout(self.settings.http_timeout());
        Ok(())
    }

    /// Whether to color output on a stream that is (or is not) a terminal.
    pub fn color(&self, is_terminal: bool) -> bool {
        self.settings.color.enabled(is_terminal)
    }

    /// `--env`, else a non-empty `LVM_ENV`, as given.
    fn env_given(&self) -> Option<PathBuf> {
        self.env_flag.clone().or_else(|| {
            std::env::var_os("LVM_ENV")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    pub fn env_path(&self) -> Result<PathBuf> {
        Ok(self.env_location()?.0)
    }

    /// The environment's folder and what chose it (flag, `LVM_ENV`, a `.lvm/` above, the
    /// default).
    pub fn env_location(&self) -> Result<(PathBuf, lvm::config::EnvOrigin)> {
        let cwd = std::env::current_dir()?;
        let env_var = std::env::var_os("LVM_ENV").map(PathBuf::from);
        let (path, origin) = lvm::config::locate_env(
            self.env_flag.as_deref(),
            env_var.as_deref(),
            &cwd,
            &self.home.root,
        );
        tracing::debug!("environment {} ({origin:?})", path.display());
        Ok((path, origin))
    }

    /// Opens the environment with the settings that outrank its `lvm.toml` (servers from a
    /// flag or LVM_SERVERS, the jobs and http_timeout settings), so the library sees the
    /// effective values, and progress drawn on stderr. Nothing writes these back: `lvm config`
    /// reads the recorded settings.
    pub fn open(&self) -> Result<Environment> {
        let env = self.open_without_note()?;
        if !self.quiet {
            if let Some(note) = work_files_note(&env) {
                eprintln!("note: {note}");
            }
        }
        Ok(env)
    }

    /// [`Context::open`] without the note about a project's changed files (the shell hook
    /// gives it once, on entering).
    pub fn open_without_note(&self) -> Result<Environment> {
        let path = self.env_path()?;
        let opened = match self.opened.take() {
            Some(repo) if repo.root() == path => {
                Environment::open_repo(repo, self.home.clone(), self.open_options())
            }
            _ => Environment::open_with(&path, self.home.clone(), self.open_options()),
        };
        // `--env NAME` that is neither a folder nor a named environment: say both were tried.
        let given = self.env_given();
        match given.as_deref().and_then(lvm::config::plain_env_name) {
            Some(name) if !path.exists() => opened.with_context(|| {
                format!(
                    "no environment '{name}': no folder {name} here and no named environment \
                         {} (see `lvm env list`; make one with `lvm env create {name}`)",
                    lvm::config::named_env(&self.home.root, name).display()
                )
            }),
            _ => Ok(opened?),
        }
    }

    /// The environment, or `None` when none was named and the default one does not exist (for
    /// commands that also work outside every environment).
    pub fn open_if_any(&self) -> Result<Option<Environment>> {
        let (path, origin) = self.env_location()?;
        if origin == lvm::config::EnvOrigin::Default && !lvm::config::is_environment(&path) {
            return Ok(None);
        }
        self.open().map(Some)
    }

    /// The settings and reporter an environment is opened (or created) with.
    pub fn open_options(&self) -> OpenOptions {
        let servers = matches!(
            self.settings.origin(Key::Servers),
            Origin::Flag(_) | Origin::EnvVar(_)
        )
        .then(|| self.settings.servers.clone());
        let lua_bin = matches!(
            self.settings.origin(Key::LuaBin),
            Origin::Flag(_) | Origin::EnvVar(_)
        )
        .then(|| self.settings.lua_bin.clone())
        .flatten();
        OpenOptions {
            servers,
            lua_bin,
            jobs: Some(self.settings.jobs),
            http_timeout: Some(self.settings.http_timeout),
            setting_replaced: None,
            lock_timeout: Some(self.lock_timeout),
            download_timeout: Some(self.settings.download_timeout),
            manifest_max_age: Some(self.settings.manifest_max_age),
            sign: Some(self.settings.sign),
            variables: Some(self.settings.variables.clone()),
            dev: Some(self.settings.dev),
            caches: Some(self.settings.caches.clone()),
            cache_push: Some(self.settings.cache_push.clone()),
            trusted_keys: Some(self.settings.trusted_keys.clone()),
            cache_trust_sources: Some(self.settings.cache_trust_sources),
            reporter: Arc::new(progress::Terminal::new()),
            merge_driver: Some(merge_driver::driver_command),
        }
    }
}

/// What to tell the user when a project's committed files ask for another state than the
/// environment's (git changed them), or `None`.
pub(crate) fn work_files_note(env: &Environment) -> Option<String> {
    match env.work_files() {
        Ok(lvm::env::WorkFiles::Changed) => Some(format!(
            "{} differs from the environment's state (git changed it: a pull, checkout or merge); run `lvm sync` to make the tree match it",
            env.root().join(lvm::envrepo::MANIFEST_FILE).display()
        )),
        _ => None,
    }
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    // A shell asking for completions (LVM_COMPLETE=SHELL, set by `lvm completions`' script) is
    // answered here and exits.
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(shell::COMPLETE_VAR)
        .complete();
    let cli = match parse::parse_args(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    set_closed_pipe_behavior(cli.command.only_reads());
    lvm::envrepo::tune_object_cache();
    let plain_stderr = !std::io::stderr().is_terminal();
    // git runs the merge driver inside an environment repository: it needs no lvm home, no
    // settings and no environment, and logs nowhere but to git's stderr.
    if let Command::MergeDriver(args) = cli.command {
        init_tracing(cli.globals.verbose, cli.globals.quiet, None, false);
        return match merge_driver::exec(args) {
            Ok(code) => code,
            Err(e) => {
                error_line(format_args!("{}", lvm::errors::error_text(e.as_ref())));
                exit::FAILURE
            }
        };
    }
    let home = match lvm::config::home() {
        Ok(h) => Home::new(h),
        Err(e) => {
            init_tracing(cli.globals.verbose, cli.globals.quiet, None, !plain_stderr);
            error_line(format_args!("{e}"));
            return exit::FAILURE;
        }
    };
    let mut ctx = Context {
        home,
        env_flag: cli.globals.env,
        lock_timeout: Duration::from_secs_f64(lvm::config::DEFAULT_LOCK_TIMEOUT),
        quiet: cli.globals.quiet,
        settings: Settings::default(),
        levels: Levels::default(),
        opened: RefCell::new(None),
    };
    let mut flags = Layer::new();
    let given = [
        (cli.globals.lock_timeout, "--lock-timeout"),
        (cli.globals.jobs, "--jobs"),
        (cli.globals.color, "--color"),
        (cli.globals.http_timeout, "--http-timeout"),
        (cli.globals.lua_bin, "--lua-bin"),
        (cli.globals.dev.then_some(Value::Dev(true)), "--dev"),
        (
            cli.globals.refresh.then_some(Value::ManifestMaxAge(0.0)),
            "--refresh",
        ),
    ];
    for (value, flag) in given {
        if let Some(value) = value {
            flags.set(value, Origin::Flag(flag));
        }
    }
    if cli.globals.sign {
        flags.set(Value::Sign(true), Origin::Flag("--sign"));
    }
    if matches!(
        cli.command,
        Command::Run(_)
            | Command::Lua(_)
            | Command::Exec(_)
            | Command::List(_)
            | Command::Show(_)
            | Command::Which(_)
            | Command::Path(_)
            | Command::ShellHook(_)
    ) {
        // Commands that only read an environment, and often run (`eval "$(lvm path)"`, a
        // script started through lvm, the shell hook at every prompt): from before the
        // settings are read, the first objects they read from the environment's repository.
        log::reading_only();
    }
    let replacing = matches!(
        cli.command,
        Command::Config(config::ConfigCommand::Set { .. } | config::ConfigCommand::Unset { .. })
    );
    if let Err(e) = ctx.configure(flags, replacing) {
        init_tracing(cli.globals.verbose, cli.globals.quiet, None, !plain_stderr);
        error_line(format_args!("{e:#}"));
        return exit::FAILURE;
    }
    // Starting Lua (`run`, `lua`, `exec`), printing its paths and the shell hook (run at every
    // prompt) are what scripts and shells call over and over; a log line per call would grow
    // the log and cost every start a file append. Their failures still reach the terminal.
    let called_over_and_over = matches!(
        cli.command,
        Command::Run(_)
            | Command::Lua(_)
            | Command::Exec(_)
            | Command::Path(_)
            | Command::ShellHook(_)
    );
    let env_logs = ctx
        .env_path()
        .ok()
        .filter(|_| !called_over_and_over)
        .filter(|p| lvm::config::is_environment(p))
        // A project's clone has no .gitignore yet to keep the logs out of `git status`.
        .filter(|p| lvm::envrepo::ignore_in_project(p).is_ok())
        .map(|p| p.join(lvm::layout::LOGS_DIR));
    let run_id = new_run_id();
    lvm::events::set_run_id(run_id.clone());
    init_tracing(
        cli.globals.verbose,
        cli.globals.quiet,
        env_logs,
        ctx.color(!plain_stderr),
    );
    let span = tracing::info_span!("run", id = %run_id);
    let _entered = span.enter();
    tracing::info!(
        "lvm {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    match run_guarded(&ctx, cli.command) {
        Ok(code) => code,
        Err(e) => {
            error_line(format_args!("{}", lvm::errors::error_text(e.as_ref())));
            match error_kind(&e) {
                ErrorKind::LockBusy => exit::LOCKED,
                _ => exit::FAILURE,
            }
        }
    }
}

/// The kind of a command's failure: the library's typed error under the command's context
/// (the outermost one; a command adds context only around it, never inside).
fn error_kind(err: &anyhow::Error) -> ErrorKind {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<lvm::ops::Error>() {
            return e.kind();
        }
        if let Some(e) = cause.downcast_ref::<lvm::env::EnvError>() {
            return e.kind();
        }
        if let Some(e) = cause.downcast_ref::<lvm::curator::CuratorError>() {
            return e.kind();
        }
    }
    ErrorKind::Other
}

fn run(ctx: &Context, command: Command) -> Result<i32> {
    match command {
        Command::Lint(args) => lint::exec(args),
        Command::Init(args) => init::exec(ctx, args),
        Command::Install(args) => install::exec(ctx, args),
        Command::Upgrade(args) => upgrade::exec(ctx, args),
        Command::Remove(args) => remove::exec(ctx, args),
        Command::Make(args) => make::exec(ctx, args),
        Command::Link(args) => link::exec(ctx, args),
        Command::Unlink(args) => unlink::exec(ctx, args),
        Command::List(args) => list::exec(ctx, args),
        Command::Show(args) => show::exec(ctx, args),
        Command::Which(args) => which::exec(ctx, args),
        Command::Download(args) => download::exec_download(ctx, args),
        Command::Unpack(args) => download::exec_unpack(ctx, args),
        Command::Test(args) => test::exec(ctx, args),
        Command::Search(args) => search::exec(ctx, args),
        Command::Path(args) => path::exec(ctx, args),
        Command::Gc(args) => gc::exec(ctx, args),
        Command::Log(args) => log::log(ctx, args),
        Command::Stats(args) => stats::exec(ctx, args),
        Command::ShowEvent(args) => log::show_event(ctx, args),
        Command::Rollback(args) => rollback::exec(ctx, args),
        Command::Diff(args) => diff::exec(ctx, args),
        Command::Bisect(cmd) => bisect::exec(ctx, cmd),
        Command::Revert(args) => revert::exec(ctx, args),
        Command::CherryPick(args) => cherry_pick::exec(ctx, args),
        Command::Blame(args) => blame::exec(ctx, args),
        Command::Why(args) => why::exec(ctx, args),
        Command::Tag(args) => tag::exec(ctx, args),
        Command::Verify(args) => verify::exec(ctx, args),
        Command::Sync(args) => sync::exec(ctx, args),
        Command::Remote(cmd) => remote::exec(ctx, cmd),
        Command::Push(args) => push::exec(ctx, args),
        Command::Pull(args) => pull::exec(ctx, args),
        Command::Clone(args) => clone::exec(ctx, args),
        Command::Profile(cmd) => profile::exec(ctx, cmd),
        Command::Envs(cmd) => env::exec(ctx, cmd),
        Command::Completions(args) => shell::completions(args),
        Command::Man => shell::man(),
        Command::ShellInit(args) => shell::shell_init(args),
        Command::ShellHook(args) => shell_hook::exec(ctx, args),
        // Run before any setting is read (see `main`).
        Command::MergeDriver(args) => merge_driver::exec(args),
        Command::Pack(args) => pack::exec(ctx, args),
        Command::MakeManifest(args) => make_manifest::exec(ctx.quiet, args),
        Command::Run(args) => run::run(ctx, args),
        Command::Lua(args) => run::lua(ctx, args),
        Command::Exec(args) => run::exec(ctx, args),
        Command::Runtime(cmd) => runtime::exec(ctx, cmd),
        Command::Cache(cmd) => cache::exec(ctx, cmd),
        Command::Config(cmd) => config::exec(ctx, cmd),
        Command::Collections(args) => collections::collections(ctx, args),
        Command::Profiles(args) => collections::profiles(ctx, args),
        Command::Setup(args) => setup::exec(ctx, args),
        Command::Doctor(args) => doctor::exec(ctx, args),
        Command::Recommend(args) => recommend::exec(ctx, args),
    }
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_subscriber::filter::Targets;

    #[test]
    fn log_levels_are_plain_targets_that_parse() {
        let parse = |directives: &str| directives.parse::<Targets>().unwrap();
        let quiet = parse(log_levels(true, 3));
        assert!(quiet.would_enable("lvm::install", &Level::ERROR));
        assert!(!quiet.would_enable("lvm::install", &Level::WARN));
        let plain = parse(log_levels(false, 0));
        assert!(plain.would_enable("git2", &Level::WARN));
        assert!(!plain.would_enable("lvm::install", &Level::INFO));
        let verbose = parse(log_levels(false, 1));
        assert!(verbose.would_enable("lvm::install", &Level::DEBUG));
        assert!(!verbose.would_enable("lvm::install", &Level::TRACE));
        assert!(!verbose.would_enable("ureq", &Level::INFO));
        assert!(parse(log_levels(false, 2)).would_enable("lvm", &Level::TRACE));
        assert!(parse(log_levels(false, 3)).would_enable("ureq", &Level::TRACE));
        let file = parse(ENV_LOG_LEVELS);
        assert!(file.would_enable("lvm::env", &Level::DEBUG));
        assert!(file.would_enable("ureq", &Level::INFO));
        assert!(!file.would_enable("ureq", &Level::DEBUG));
    }
}
