//! Every name lvm gives a file or folder on disk: in an environment, in its git directory, in
//! a rocks tree and in the lvm home. One place, so no two modules spell a name differently.

// In an environment's root.

/// The live tree: a symlink to one of [`TREES_DIR`]`/*`.
pub const TREE_LINK: &str = "tree";
/// The finished trees: the live one and the few kept for a quick return to their state.
pub const TREES_DIR: &str = ".trees";
/// Scratch space of running commands (checkouts, builds, `lvm run` files).
pub const SCRATCH_DIR: &str = ".lvm-tmp";
/// The writer lock.
pub const LOCK_FILE: &str = ".lvm-lock";
/// The environment's daily log files.
pub const LOGS_DIR: &str = "logs";

// In lvm's private folder: the environment's `.git/` directory, or `<git dir>/lvm/` of a project
// environment (see `envrepo::Place`), so `git status` never shows them.

/// In a project environment's private folder: the name of the current profile.
pub const PROJECT_PROFILE_FILE: &str = "profile";

/// Readers hold it shared while they read; a writer holds it exclusively only from the moment
/// its commit lands until its tree is switched, so no reader sees the new log with the old tree.
pub const STATE_LOCK_FILE: &str = "lvm-state.lock";
/// The journal of a change in progress.
pub const JOURNAL_FILE: &str = "lvm-journal";
/// What readers need of the head commit (its settings, its manifest's digest), for one commit.
pub const HEAD_MEMO_FILE: &str = "lvm-head-memo";
/// The checked cache of the plain log.
pub const LOG_INDEX_FILE: &str = "lvm-log-index";
/// A manual bisection in progress (`lvm bisect start` to `lvm bisect reset`): its state file
/// [`BISECT_STATE_FILE`] and the tree of the state under test, [`BISECT_TREE`].
pub const BISECT_DIR: &str = "lvm-bisect";
/// In [`BISECT_DIR`]: the states searched and the verdicts given, as JSON.
pub const BISECT_STATE_FILE: &str = "state.json";
/// In [`BISECT_DIR`]: the rocks tree of the state under test.
pub const BISECT_TREE: &str = "tree";

// In a rocks tree.

/// Written into every materialized tree: the sha256 of the manifest it was made from.
pub const TREE_STATE_FILE: &str = ".lvm-state";

// In the lvm home.

/// The content-addressed store of built rocks.
pub const STORE_DIR: &str = "store";
/// Downloads and parsed server manifests.
pub const CACHE_DIR: &str = "cache";
/// In [`CACHE_DIR`]: source archives downloaded over HTTP(S), one folder per URL (named by the
/// start of the URL's sha256), so a store hit does not download them again.
pub const SOURCES_CACHE_DIR: &str = "sources";
/// In [`CACHE_DIR`]: evaluated rockspecs by the sha256 of their text, one folder per lvm
/// build (`rockspec::RockspecMemo`).
pub const ROCKSPEC_MEMO_DIR: &str = "rockspecs";
/// The secret key that signs build cache entries (`lvm cache key generate`; owner-only).
pub const CACHE_SIGNING_KEY_FILE: &str = "cache-signing.key";
/// Named environments (`lvm env create NAME`).
pub const ENVS_DIR: &str = "envs";
/// One absolute environment path per line: every environment sharing the store.
pub const ENV_REGISTRY_FILE: &str = "environments";
/// The Lua C headers C modules compile against, per Lua version.
pub const LUA_HEADERS_DIR: &str = "lua-headers";
/// The Lua interpreters lvm built (`lvm runtime`), one folder each, named after the hash of
/// their inputs.
pub const RUNTIMES_DIR: &str = "runtimes";
/// In a runtime's folder: what it is and how it was built; written last, so a folder without
/// it is not a runtime.
pub const RUNTIME_META_FILE: &str = "runtime.json";
/// In the runtimes folder: `<prefix><id>`, the lock serializing builds of one interpreter.
pub const RUNTIME_LOCK_PREFIX: &str = ".lock-";
/// In the runtimes folder: `<prefix><id>-<pid>`, a build in progress.
pub const RUNTIME_SCRATCH_PREFIX: &str = ".build-";
/// In the runtimes folder: a runtime being deleted.
pub const RUNTIME_TRASH_PREFIX: &str = ".trash-";
