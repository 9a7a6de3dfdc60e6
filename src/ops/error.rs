//! The error every operation returns: one enum whose variants each name one cause, the lower
//! modules' typed errors as sources, and [`Error::kind`] to tell a caller what to do about it.

use std::path::PathBuf;

use thiserror::Error;

use crate::build::BuildError;
use crate::config::ConfigError;
use crate::env::{EnvError, ScratchError};
use crate::envrepo::RepoError;
use crate::envrepo::remotes::SharingError;
use crate::errors::{ErrorKind, error_text};
use crate::events::EventError;
use crate::fetch::FetchError;
use crate::fetch::project::ProjectError;
use crate::interpreter::InterpreterError;
use crate::luaversion::LuaVersion;
use crate::manifest::ManifestError;
use crate::ops::develop::DevelopError;
use crate::resolve::ResolveError;
use crate::rockspec::RockspecError;
use crate::runtime::RuntimeError;
use crate::server::ServerError;
use crate::store::StoreError;
use crate::tree::TreeError;
use crate::tree::files::FsError;
use crate::tree::links::LinkError;
use crate::version::{Version, VersionError};

/// The result of an operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed.
#[derive(Debug, Error)]
pub enum Error {
    // What the user asked for does not fit the environment.
    #[error("{name} is not installed (see `lvm list`)")]
    NotInstalled { name: String },
    #[error("{name} is not installed (see `lvm list`); install it with `lvm install {name}`")]
    NotInstalledToUpgrade { name: String },
    #[error(
        "refusing to break dependencies: {}; remove those too, or pass --force to remove them along",
        needed_by.join("; ")
    )]
    WouldBreakDependencies {
        /// `NAME is needed by A, B`, one entry per package being removed.
        needed_by: Vec<String>,
    },
    #[error("version or constraint '{text}'")]
    BadConstraint {
        text: String,
        #[source]
        source: VersionError,
    },
    #[error(
        "'{text}' looks like a version or constraint, but no package name comes before it (write e.g. `lvm install penlight {text}`)"
    )]
    ConstraintWithoutName { text: String },
    #[error(
        "only build variables were given ({}), no package: name what to install before them, e.g. `lvm install luasec OPENSSL_DIR=/opt/ssl`",
        names.join(", ")
    )]
    OnlyVariables { names: Vec<String> },
    #[error(
        "'{text}' is a path but neither a .rockspec file nor a git repository; to install from a folder, point at its rockspec"
    )]
    NotInstallablePath { text: String },
    #[error("git repository '{path}' cannot be read")]
    UnreadableGitRepository {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no .rockspec file at the root or in rockspecs/ of {}", checkout.display())]
    NoRockspecInCheckout { checkout: PathBuf },

    // A project environment's committed files (`lvm sync --frozen`, docs/projects.md).
    #[error(
        "{manifest} does not satisfy the dependencies of {rockspec}: {}; update it with `lvm install --deps-only` and commit it",
        unmet.join("; ")
    )]
    FrozenUnsatisfied {
        manifest: String,
        rockspec: String,
        /// `NAME CONSTRAINT (not installed)` or `NAME CONSTRAINT (VERSION installed)`.
        unmet: Vec<String>,
    },
    #[error(
        "--frozen is for a project environment (a .lvm/ folder of a git work tree); a standalone environment syncs from its head commit with `lvm sync`"
    )]
    FrozenOutsideProject,

    // The commands LuaRocks users reach for (which, show, download, unpack, test, pack).
    #[error(
        "no installed package provides module '{module}' (see `lvm list`; `lvm search` finds packages by name)"
    )]
    ModuleNotInstalled { module: String },
    #[error(
        "{name} is neither installed nor on any configured rocks server ({}); check the name, or try `lvm search {name}`",
        servers.join(", ")
    )]
    PackageNotFound { name: String, servers: Vec<String> },
    #[error(
        "{name} {wanted} is not on the rocks servers; they have {}",
        available.join(", ")
    )]
    NoMatchingVersion {
        name: String,
        wanted: String,
        available: Vec<String>,
    },
    #[error(
        "'{file}' is not a rock file name: expected NAME-VERSION-REVISION.ARCH.rock (src, all or a platform such as linux-x86_64)"
    )]
    BadRockFileName { file: String },
    #[error(
        "{rock} is a binary rock for {arch}; this machine installs src, all and {platform} rocks (use the .src.rock or the rockspec)"
    )]
    RockForOtherPlatform {
        rock: String,
        arch: String,
        platform: String,
    },
    #[error("the build of {name} is not in the store; `lvm verify --repair` brings it back")]
    NotInStore { name: String },
    #[error("{} exists already; remove it or unpack elsewhere (--to DIR)", dir.display())]
    UnpackFolderExists { dir: PathBuf },
    #[error(
        "{rockspec} has no test section and its folder no .busted file: nothing to run (add `test = {{ type = \"busted\" }}` or `test = {{ type = \"command\", command = \"...\" }}`)"
    )]
    NoTestSuite { rockspec: String },
    #[error("{rockspec}: test type '{kind}' is not supported (supported: busted, command)")]
    UnsupportedTestType { rockspec: String, kind: String },
    #[error("{rockspec}: the command test needs `test.command` or `test.script`")]
    TestWithoutCommand { rockspec: String },
    #[error("the tests of {rockspec} failed ({status})")]
    TestsFailed { rockspec: String, status: String },
    #[error("cannot run {program}")]
    RunTests {
        program: String,
        #[source]
        source: std::io::Error,
    },

    // Profiles.
    #[error(
        "profile name '{name}': use letters, digits, '-', '_' and '.', not starting with '.' or '-'"
    )]
    BadProfileName { name: String },
    #[error("profile '{name}' already exists (see `lvm profile list`)")]
    ProfileExists { name: String },
    #[error("already on profile '{name}'")]
    AlreadyOnProfile { name: String },
    #[error("cannot delete the current profile '{name}'; switch to another first")]
    DeleteCurrentProfile { name: String },
    #[error(
        "cannot merge profile '{name}' into itself: it is the current profile; name another \
         profile (see `lvm profile list`), or switch to the one to merge into first \
         (`lvm profile switch NAME`)"
    )]
    MergeIntoItself { name: String },
    #[error(
        "profiles '{current}' and '{other}' cannot be merged:\n{}",
        error_text(cause)
    )]
    MergeConflict {
        current: String,
        other: String,
        cause: Box<ResolveError>,
    },
    #[error(
        "profiles '{current}' and '{other}' changed {} package(s) differently since their \
         common state {base}:\n{}\nchoose a side for every conflict with --ours or --theirs, \
         or for one package with --prefer NAME=ours|theirs; nothing was changed",
        conflicts.len(), conflict_list(conflicts)
    )]
    MergeConflicts {
        current: String,
        other: String,
        /// The merge base (short commit id).
        base: String,
        conflicts: Vec<PackageConflict>,
    },
    #[error(
        "profiles '{current}' and '{other}' cannot be merged: '{current}' is for Lua {ours} and \
         '{other}' for Lua {theirs}; make them the same Lua first (`lvm config set lua V` on \
         one of them)"
    )]
    MergeAcrossLua {
        current: String,
        other: String,
        ours: String,
        theirs: String,
    },
    #[error(
        "profiles '{current}' and '{other}' share no history, so there is no common state to \
         merge from"
    )]
    NoCommonHistory { current: String, other: String },
    #[error("--prefer {name}: no package '{name}' on either side or in their common state{hint}")]
    PreferUnknownPackage {
        name: String,
        /// `; did you mean 'NAME'?` or nothing.
        hint: String,
    },
    #[error(
        "{path}: {} package(s) changed differently on both sides:\n{}\nthe file holds both \
         sides of each between conflict markers: keep one of each (or take a whole side with \
         `git checkout --ours {path}` or `--theirs`), then `git add {path}`, `git commit` and \
         `lvm sync`; or `git merge --abort` and merge with `lvm profile merge`, which takes \
         --ours, --theirs and --prefer NAME=ours|theirs",
        conflicts.len(), conflict_list(conflicts)
    )]
    DriverConflicts {
        path: String,
        conflicts: Vec<PackageConflict>,
    },
    #[error(
        "{path}: the merged packages do not fit together with the builds either side \
         recorded; the file is left as on our side: `git merge --abort`, then merge with \
         `lvm profile merge`, which also looks for other versions on the rocks servers"
    )]
    DriverUnsettled {
        path: String,
        #[source]
        source: crate::merge::SettleError,
    },

    // The environment's Lua.
    #[error(
        "cannot move the environment to Lua {lua}: {}remove them first (`lvm remove NAME`), or \
         keep Lua {from}; nothing was changed\n{}",
        no_version_list(*lua, blocked), error_text(cause.as_ref())
    )]
    NoVersionForLua {
        lua: LuaVersion,
        /// The Lua the packages were resolved for.
        from: String,
        /// `NAME CONSTRAINT` of each requested package that has no version for `lua` alone.
        blocked: Vec<String>,
        /// Why the requested packages together cannot be had for `lua`.
        cause: Box<Error>,
    },

    // Rollback.
    #[error("cannot read date '{text}': use YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]' or RFC 3339 (UTC)")]
    BadDate { text: String },
    #[error("give either a target or --to DATE, not both")]
    TargetAndDate,
    #[error("rollback 0 would change nothing; give a number of events >= 1")]
    RollbackZero,
    #[error(
        "cannot undo {steps} events: the history of profile '{profile}' has {events} events after its first (see `lvm log`)"
    )]
    NotThatManyEvents {
        steps: usize,
        profile: String,
        events: usize,
    },
    #[error(
        "revision '{rev}' is not in the history of profile '{profile}' (see `lvm log`; to take packages from another profile use `lvm profile merge`)"
    )]
    RevisionNotInProfile { rev: String, profile: String },
    #[error(
        "--good and --bad both name {commit}: a bisection needs a good state before the bad one (`lvm log` lists the states)"
    )]
    BisectGoodIsBad { commit: String },
    #[error(
        "the good state {good} comes after the bad state {bad} in profile '{profile}': give --good an earlier state than --bad (`lvm log` lists them)"
    )]
    BisectGoodAfterBad {
        good: String,
        bad: String,
        profile: String,
    },
    #[error(
        "the test command {command} ended with exit code {code} at {commit}: codes above 127 (a signal) stop a bisection; exit 0 for good, 125 to skip a state, 1-127 (but 125) for bad"
    )]
    BisectAborted {
        command: String,
        code: i32,
        commit: String,
    },
    #[error("cannot run the test command {command} (looked in the tested state's bin, then PATH)")]
    BisectCannotRun {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no bisection in progress in this environment; start one with `lvm bisect start` (or use `lvm bisect run CMD`)"
    )]
    NoBisection,
    #[error(
        "the bisection is over (it printed its answer): `lvm bisect reset` ends it; `lvm bisect good|bad|skip REV` changes the verdict on one of its states"
    )]
    BisectOver,
    #[error(
        "the bisection was started on profile '{started}' but the current profile is '{current}': switch back (`lvm profile switch {started}`) or end it with `lvm bisect reset`"
    )]
    BisectOtherProfile { started: String, current: String },
    #[error(
        "the bisection state {} is unreadable; end it with `lvm bisect reset` and start again",
        path.display()
    )]
    BisectStateUnreadable {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    // Revert and cherry-pick.
    #[error(
        "{event} is not an event of profile '{profile}' (see `lvm log`); to take its package changes into this profile use `lvm cherry-pick {rev}`"
    )]
    RevertOutsideProfile {
        rev: String,
        event: String,
        profile: String,
    },
    #[error(
        "{event} is in the history of profile '{profile}' already; to undo it use `lvm revert {rev}`"
    )]
    PickFromOwnHistory {
        rev: String,
        event: String,
        profile: String,
    },
    #[error(
        "{event} is the first event of the environment; there is nothing before it to go back to"
    )]
    FirstEvent { event: String },
    #[error(
        "{event} changed no packages; there is nothing to {action} (for settings, see `lvm config`)"
    )]
    NoPackageChanges { event: String, action: &'static str },
    #[error(
        "{event} changed the environment's Lua; use `lvm rollback` to return to a state before it, or `lvm config set lua` to change it again"
    )]
    DeltaChangesLua { event: String },
    #[error(
        "cannot revert {event}: {name} was changed again by the later event {later} (now {found}, where {event} left {expected}); revert {later_short} first, or use `lvm install {name} VERSION`"
    )]
    ChangedSince {
        event: String,
        name: String,
        later: String,
        later_short: String,
        expected: String,
        found: String,
    },
    #[error(
        "cannot {action} {event}: {dependent}, installed by {by}, depends on {dependency}, which {what}; {hint}"
    )]
    NeededByOther {
        action: &'static str,
        event: String,
        dependent: String,
        by: String,
        dependency: String,
        what: String,
        hint: String,
    },
    #[error(
        "tag '{tag}' names {here} here but {there} on '{remote}', and tags never move; nothing was pushed: rename yours (`lvm tag NEW {here}`, then `lvm tag --delete {tag}`) and push again"
    )]
    TagElsewhereOnRemote {
        tag: String,
        remote: String,
        here: String,
        there: String,
    },
    #[error("the environment has no state as old as {date} (its first event is from {first})")]
    NothingThatOld { date: String, first: String },
    #[error("the last event switched from profile '{profile}', which cannot be restored")]
    CannotSwitchBack {
        profile: String,
        #[source]
        source: Box<RepoError>,
    },

    // Servers, sources and builds.
    #[error("{cause}{hint}")]
    Resolution {
        cause: Box<ResolveError>,
        /// The closest published name of an unknown package, and the servers that could not
        /// be read (the package may be there).
        hint: String,
        /// Some rocks servers could not be read, so an unknown package may be on one of them.
        servers_unread: bool,
    },
    #[error("{}{}", error_text(cause.as_ref()), unreachable_list(unreachable))]
    WithUnreadableServers {
        cause: Box<Error>,
        /// `URL: why` for each rocks server that could not be read.
        unreachable: Vec<String>,
    },
    #[error(
        "no rocks server could be read:\n  {}\ncheck the URLs (lvm.toml, --server) and the network",
        failures.join("\n  ")
    )]
    NoServerReadable { failures: Vec<String> },
    #[error(
        "no rocks server to search: pass --server URL, or set one for every command with `lvm config set --user servers URL`"
    )]
    NoServerConfigured,
    #[error("rocks server {url} no longer lists {name} {version} (it was removed from the server)")]
    NoLongerListed {
        url: String,
        name: String,
        version: Version,
    },
    #[error("{name} {version} is not on any configured rocks server")]
    NotOnAnyServer { name: String, version: Version },
    #[error("{name} {version}: resolved but no longer available")]
    NoLongerAvailable { name: String, version: Version },
    #[error("{file}: cannot read it as UTF-8 text")]
    RockspecNotText {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{rock} holds no {file}")]
    RockLacksRockspec {
        rock: String,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the rockspec {path} it was installed from cannot be read")]
    RecordedRockspecUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} at {commit} has no {rockspec}")]
    GitSourceLacksRockspec {
        url: String,
        commit: String,
        rockspec: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{name}: {what} sha256 mismatch: manifest.json records {recorded}, the server now has {actual} (the package was republished; reinstall it to accept the new one)"
    )]
    Republished {
        name: String,
        what: String,
        recorded: String,
        actual: String,
    },
    #[error("sources from {url}")]
    Sources {
        url: String,
        #[source]
        source: Box<Error>,
    },
    #[error(
        "{url}: the binary rock is broken, it does not match its rock_manifest ({}); it does not enter the store, ask the server's maintainer to publish it again",
        problems.join("; ")
    )]
    BrokenBinaryRock { url: String, problems: Vec<String> },
    #[error("building {name} {version}")]
    Build {
        name: String,
        version: Version,
        #[source]
        source: BuildError,
    },
    #[error("{}", failures.iter().map(|f| format!("{} {}: {}", f.name, f.version, error_text(&f.error))).collect::<Vec<_>>().join("\n"))]
    Packages { failures: Vec<PackageFailure> },
    #[error("cannot rebuild the missing store entries from their recorded sources")]
    Repair(#[source] Box<Error>),
    #[error(
        "{state} names builds the store lacks, and they cannot be rebuilt from their recorded sources:\n{}\n{}",
        missing_list(missing),
        state.way_out()
    )]
    MissingBuilds {
        state: MissingIn,
        /// Each package whose build is missing, with why it cannot be rebuilt.
        missing: Vec<MissingBuild>,
    },
    #[error(
        "{}: source.url must end in .tar.gz, .tgz or .zip to pack a source rock (found '{url}')",
        rockspec
    )]
    NotPackable { rockspec: String, url: String },
    #[error(
        "nothing to pack in {}: it holds no files but rockspecs (or git tracks none there); \
         pass the rock's sources with --source-dir DIR",
        dir.display()
    )]
    NothingToPack { dir: PathBuf },
    #[error("packing {}", path.display())]
    Pack {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // Environments as a whole.
    #[error(
        "cannot read the environment {}, which shares this lvm home (its store and runtimes); repair or remove it, then run the command again",
        root.display()
    )]
    OtherEnvironment {
        root: PathBuf,
        #[source]
        source: Box<EnvError>,
    },
    #[error(
        "the repository was cloned into {}, but its tree could not be made; fix the cause and run `lvm sync --env {}`",
        path.display(), path.display()
    )]
    ClonedWithoutTree {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    #[error("event {commit} does not apply: {message}")]
    EventDoesNotApply { commit: String, message: String },
    #[error("creating profile '{name}'")]
    CreatingProfile {
        name: String,
        #[source]
        source: Box<Error>,
    },
    #[error("unlinking {name}")]
    Unlink {
        name: String,
        #[source]
        source: Box<EnvError>,
    },

    // The lower modules' errors, as they are.
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Scratch(#[from] ScratchError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Sharing(#[from] SharingError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    CacheKey(#[from] crate::cache::keys::KeyError),
    #[error(
        "no build cache to push to: pass --to URL, or set cache_push (`lvm config set \
         cache_push s3://bucket/lvm`)"
    )]
    NoCachePushTarget,
    #[error(
        "no build cache configured: pass --from URL, or set caches (`lvm config set caches \
         file:///srv/lvm-cache`)"
    )]
    NoCaches,
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error(transparent)]
    Rockspec(#[from] RockspecError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    BuildTool(#[from] BuildError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Develop(#[from] DevelopError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(
        "{interpreter} is in use by {}: they would build it again on their next command; \
         pass --force to remove it anyway",
        users.join(", ")
    )]
    RuntimeInUse {
        interpreter: String,
        users: Vec<String>,
    },
    #[error("providing {interpreter}")]
    ProvideRuntime {
        /// `Lua 5.1.5`, `LuaJIT 2.1...`.
        interpreter: String,
        #[source]
        source: RuntimeError,
    },
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error("starting Lua in the environment {}", root.display())]
    StartLua {
        root: PathBuf,
        #[source]
        source: crate::vm::VmError,
    },
}

/// One package that could not be prepared, among others prepared in parallel.
#[derive(Debug)]
pub struct PackageFailure {
    pub name: String,
    pub version: Version,
    pub error: Error,
}

/// The recorded state whose builds the store lacks, which says what the user can do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingIn {
    /// The head of the current profile (`lvm sync`, `lvm verify --repair`).
    Head { profile: String, commit: String },
    /// A head made by hand (`git commit` in the environment): its commits name the builds.
    HandMadeHead {
        commit: String,
        /// The newest commit lvm recorded, below the hand-made ones.
        base: String,
        root: String,
    },
    /// The state a rollback returns to.
    RollbackTarget { commit: String },
    /// The head of a pulled or cloned repository.
    Fetched { commit: String },
    /// A state `lvm bisect` tests.
    BisectState { commit: String },
    /// The state a revert or cherry-pick makes from the packages of an event.
    Picked { commit: String },
    /// The state a project's committed `manifest.json` asks for (`lvm sync` in a project).
    ProjectFiles { file: String },
}

impl MissingIn {
    /// The commands that get the user out, for this state.
    fn way_out(&self) -> String {
        match self {
            MissingIn::HandMadeHead { base, root, .. } => format!(
                "the environment was not changed; the commits made by hand above {base} name \
                 them: fix manifest.json and commit again, or drop them with `git -C {root} \
                 reset --hard {base}` (the last state lvm recorded), then run `lvm sync`"
            ),
            MissingIn::Head { .. } => {
                "the environment was not changed; to go on without them, `lvm remove NAME` or `lvm install NAME VERSION` (a version \
                 that can be built) records a state that does not need them, and `lvm rollback` \
                 returns to an earlier one (`lvm log` lists them); once their sources are \
                 available again, `lvm sync` or `lvm verify --repair` builds them"
                    .to_string()
            }
            MissingIn::RollbackTarget { .. } => {
                "the environment was not changed; roll back to another state instead (`lvm log` lists them), or run this rollback \
                 again once their sources are available"
                    .to_string()
            }
            MissingIn::BisectState { .. } => {
                "the environment was not changed; mark this state with `lvm bisect skip`, or \
                 make their sources reachable (the rocks servers in lvm.toml, --server) and try \
                 again"
                    .to_string()
            }
            MissingIn::Picked { .. } => {
                "the environment was not changed; run it again once their sources are available \
                 (the rocks servers in lvm.toml, --server)"
                    .to_string()
            }
            MissingIn::ProjectFiles { .. } => {
                "the environment was not changed; make their sources reachable (the rocks \
                 servers in lvm.toml, --server) and run `lvm sync` again, or commit a manifest \
                 whose packages can be built"
                    .to_string()
            }
            MissingIn::Fetched { .. } => {
                "make their sources reachable (the rocks servers in lvm.toml, --server) and try \
                 again"
                    .to_string()
            }
        }
    }
}

impl std::fmt::Display for MissingIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissingIn::Head { profile, commit } => {
                write!(f, "the head of profile '{profile}' ({commit})")
            }
            MissingIn::HandMadeHead { commit, .. } => {
                write!(f, "the head {commit}, made by hand,")
            }
            MissingIn::RollbackTarget { commit } => write!(f, "the state at {commit}"),
            MissingIn::Fetched { commit } => write!(f, "the fetched state at {commit}"),
            MissingIn::ProjectFiles { file } => write!(f, "the state {file} asks for"),
            MissingIn::BisectState { commit } => write!(f, "the bisected state at {commit}"),
            MissingIn::Picked { commit } => {
                write!(f, "the state made from the packages of {commit}")
            }
        }
    }
}

/// One package of a recorded state whose build the store lacks and could not be rebuilt.
#[derive(Debug)]
pub struct MissingBuild {
    pub name: String,
    pub version: Version,
    /// The store key the state records.
    pub key: String,
    /// Why it could not be rebuilt.
    pub error: Error,
}

/// A package both sides of a merge changed differently, with the events that changed it.
#[derive(Debug, Clone)]
pub struct PackageConflict {
    pub conflict: crate::merge::Conflict,
    /// The newest event on our side that changed it (`3f2a9c01d4 install foo 1.1-1`), when
    /// known.
    pub ours_event: Option<String>,
    /// The same on their side.
    pub theirs_event: Option<String>,
}

/// One line per conflict: the package, what each side did, and in which event.
fn conflict_list(conflicts: &[PackageConflict]) -> String {
    let side = |what: &str, event: &Option<String>| match event {
        Some(e) => format!("{what} in {e}"),
        None => what.to_string(),
    };
    conflicts
        .iter()
        .map(|c| {
            format!(
                "  {}: ours {}; theirs {}",
                c.conflict.name,
                side(&c.conflict.ours, &c.ours_event),
                side(&c.conflict.theirs, &c.theirs_event)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line per missing build: the package, its store key and why it cannot be rebuilt.
fn missing_list(missing: &[MissingBuild]) -> String {
    missing
        .iter()
        .map(|m| {
            format!(
                "  {} {} (store key {}): {}",
                m.name,
                m.version,
                m.key,
                error_text(&m.error)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `these packages have no version for Lua 5.1: a, b; ` or nothing when none is alone to blame.
fn no_version_list(lua: LuaVersion, blocked: &[String]) -> String {
    match blocked.is_empty() {
        true => String::new(),
        false => format!(
            "these packages have no version for Lua {lua}: {}; ",
            blocked.join(", ")
        ),
    }
}

/// The list of rocks servers that could not be read, added to a failure they may explain.
fn unreachable_list(servers: &[String]) -> String {
    format!(
        "\nthese rocks servers could not be read:\n  {}",
        servers.join("\n  ")
    )
}

impl Error {
    /// What kind of failure this is, for callers that react to each differently.
    pub fn kind(&self) -> ErrorKind {
        use Error as E;
        match self {
            E::NotInstalled { .. }
            | E::NotInstalledToUpgrade { .. }
            | E::BadConstraint { .. }
            | E::ConstraintWithoutName { .. }
            | E::OnlyVariables { .. }
            | E::NotInstallablePath { .. }
            | E::UnreadableGitRepository { .. }
            | E::NoRockspecInCheckout { .. }
            | E::FrozenUnsatisfied { .. }
            | E::FrozenOutsideProject
            | E::BadProfileName { .. }
            | E::AlreadyOnProfile { .. }
            | E::DeleteCurrentProfile { .. }
            | E::MergeIntoItself { .. }
            | E::NoCommonHistory { .. }
            | E::PreferUnknownPackage { .. }
            | E::BadDate { .. }
            | E::TargetAndDate
            | E::RollbackZero
            | E::NotThatManyEvents { .. }
            | E::RevisionNotInProfile { .. }
            | E::RevertOutsideProfile { .. }
            | E::PickFromOwnHistory { .. }
            | E::FirstEvent { .. }
            | E::NoPackageChanges { .. }
            | E::DeltaChangesLua { .. }
            | E::NothingThatOld { .. }
            | E::BisectGoodIsBad { .. }
            | E::BisectGoodAfterBad { .. }
            | E::BisectAborted { .. }
            | E::BisectCannotRun { .. }
            | E::NoBisection
            | E::BisectOver
            | E::BisectOtherProfile { .. }
            | E::NotOnAnyServer { .. }
            | E::NotPackable { .. }
            | E::NothingToPack { .. }
            | E::NoServerConfigured
            | E::ModuleNotInstalled { .. }
            | E::PackageNotFound { .. }
            | E::NoMatchingVersion { .. }
            | E::BadRockFileName { .. }
            | E::UnpackFolderExists { .. }
            | E::RockForOtherPlatform { .. }
            | E::NoTestSuite { .. }
            | E::UnsupportedTestType { .. }
            | E::TestWithoutCommand { .. } => ErrorKind::BadInput,
            E::TestsFailed { .. } | E::RunTests { .. } => ErrorKind::Other,
            E::WouldBreakDependencies { .. }
            | E::ChangedSince { .. }
            | E::TagElsewhereOnRemote { .. }
            | E::NeededByOther { .. }
            | E::ProfileExists { .. }
            | E::MergeConflict { .. }
            | E::RuntimeInUse { .. }
            | E::MergeConflicts { .. }
            | E::MergeAcrossLua { .. }
            | E::DriverConflicts { .. }
            | E::DriverUnsettled { .. } => ErrorKind::Conflict,
            E::NoServerReadable { .. }
            | E::NoLongerListed { .. }
            | E::RockspecNotText { .. }
            | E::RockLacksRockspec { .. }
            | E::BrokenBinaryRock { .. } => ErrorKind::Network,
            E::CannotSwitchBack { .. }
            | E::NotInStore { .. }
            | E::RecordedRockspecUnreadable { .. }
            | E::GitSourceLacksRockspec { .. }
            | E::EventDoesNotApply { .. }
            | E::BisectStateUnreadable { .. } => ErrorKind::Damaged,
            E::Republished { .. } | E::NoLongerAvailable { .. } | E::Pack { .. } => {
                ErrorKind::Other
            }
            // A package no server lists while some could not be read is the network's doing.
            E::Resolution {
                cause,
                servers_unread: true,
                ..
            } if matches!(**cause, ResolveError::UnknownPackage { .. }) => ErrorKind::Network,
            E::Resolution { cause, .. } => resolution_kind(cause),
            E::Resolve(cause) => resolution_kind(cause),
            E::WithUnreadableServers { cause, .. } => cause.kind(),
            // The packages asked for cannot be had with the Lua asked for, unless the servers
            // that would say so could not be read.
            E::NoVersionForLua { cause, .. } => match cause.kind() {
                ErrorKind::Network => ErrorKind::Network,
                _ => ErrorKind::Conflict,
            },
            E::Interpreter(e) => e.kind(),
            E::Sources { source, .. }
            | E::Repair(source)
            | E::CreatingProfile { source, .. }
            | E::ClonedWithoutTree { source, .. } => source.kind(),
            E::Build { .. } | E::BuildTool(_) => ErrorKind::Other,
            E::Packages { failures } => packages_kind(failures),
            // Sources out of reach are the network's doing; anything else (a version no longer
            // published, changed bytes, an entry that names nothing buildable) is damage.
            E::MissingBuilds { missing, .. } => {
                if missing.iter().all(|m| m.error.kind() == ErrorKind::Network) {
                    ErrorKind::Network
                } else {
                    ErrorKind::Damaged
                }
            }
            E::OtherEnvironment { source, .. } | E::Unlink { source, .. } => source.kind(),
            E::Runtime(e) | E::ProvideRuntime { source: e, .. } => e.kind(),
            E::Env(e) => e.kind(),
            E::Scratch(e) => e.kind(),
            E::Repo(e) => e.kind(),
            E::Sharing(e) => e.kind(),
            E::Fetch(e) => e.kind(),
            E::Server(e) => e.kind(),
            E::Cache(e) => e.kind(),
            E::CacheKey(crate::cache::keys::KeyError::Io { .. }) => ErrorKind::Other,
            E::CacheKey(_) | E::NoCachePushTarget | E::NoCaches => ErrorKind::BadInput,
            E::Manifest(_) | E::Event(_) => ErrorKind::Damaged,
            E::Config(_) | E::Version(_) | E::Rockspec(_) | E::Project(_) | E::Develop(_) => {
                ErrorKind::BadInput
            }
            E::Store(_) | E::Tree(_) | E::Link(_) | E::Fs(_) | E::StartLua { .. } => {
                ErrorKind::Other
            }
        }
    }
}

/// A resolver's own failures say their kind; when the candidates could not list versions or
/// dependencies, the operation's error behind it does (a server that cannot be reached is the
/// network, a broken rockspec bad input).
fn resolution_kind(cause: &ResolveError) -> ErrorKind {
    match cause.source_failure() {
        Some(failure) => match failure.downcast_ref::<Error>() {
            Some(e) => e.kind(),
            None => ErrorKind::Other,
        },
        None => cause.kind(),
    }
}

/// The kind all the failed packages share, else [`ErrorKind::Other`].
fn packages_kind(failures: &[PackageFailure]) -> ErrorKind {
    let mut kinds = failures.iter().map(|f| f.error.kind());
    let first = kinds.next().unwrap_or(ErrorKind::Other);
    if kinds.all(|k| k == first) {
        first
    } else {
        ErrorKind::Other
    }
}

/// `map_err` for an I/O step on `path`: `cannot <action> <path>: <cause>`.
pub(crate) fn fs_error<'a>(
    action: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |cause| {
        Error::Fs(FsError {
            action,
            path: path.to_path_buf(),
            cause,
        })
    }
}
