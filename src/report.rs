//! Progress and notices the library reports while it works, to whoever drives it.
//! The library never prints: the CLI turns these calls into bars and lines, embedders and
//! tests into whatever they need (or nothing, with [`Silent`]).

use std::path::Path;

use crate::version::Version;

/// How one package of a change was made ready in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Its build was already in the store.
    FromStore,
    /// Its build came from a build cache (signed by a trusted key) into the store.
    FromCache,
    /// Fetched and built now.
    Built,
    /// Built again from the sources an environment's manifest records (sync, pull, clone).
    Rebuilt,
}

impl Readiness {
    /// A few words for people: `from the store`, `from a build cache`, `built`, `rebuilt`.
    pub fn describe(self) -> &'static str {
        match self {
            Readiness::FromStore => "from the store",
            Readiness::FromCache => "from a build cache",
            Readiness::Built => "built",
            Readiness::Rebuilt => "rebuilt",
        }
    }
}

/// Receives progress from long operations. Every method has a default that ignores the call,
/// so an implementation overrides only what it shows. Calls may come from several build
/// threads at once.
pub trait Reporter: Send + Sync {
    /// A change starts making `total` packages ready (store look-ups and builds).
    fn preparing(&self, _total: usize) {}
    /// Work on one package starts.
    fn package_started(&self, _name: &str, _version: &Version) {}
    /// One package is ready.
    fn package_ready(&self, _name: &str, _version: &Version, _how: Readiness) {}
    /// One package could not be made ready; the operation's error says why.
    fn package_failed(&self, _name: &str, _version: &Version) {}
    /// Every package of the change has been handled.
    fn prepared(&self) {}
    /// Another process holds the writer lock of the environment at `root`; the caller waits.
    fn waiting_for_lock(&self, _root: &Path) {}
    /// A Lua interpreter (`name`: `Lua 5.1.5`, `LuaJIT 2.1...`) starts building from the
    /// sources lvm carries, once per machine: about `steps` steps (one per compiled file).
    fn runtime_build_started(&self, _name: &str, _steps: usize) {}
    /// One step of that build is done; `what` names it (a source file, `bin/lua`).
    fn runtime_build_step(&self, _name: &str, _what: &str) {}
    /// The build ended, finished or failed (the operation's result says which).
    fn runtime_build_finished(&self, _name: &str) {}
    /// Another process is building the same interpreter; the caller waits and then uses it.
    fn runtime_build_waiting(&self, _name: &str) {}
    /// A bisection starts testing the state after event `commit` (`summary`, its subject);
    /// about `steps_left` more tests follow this one.
    fn bisect_testing(&self, _commit: &str, _summary: &str, _steps_left: usize) {}
    /// That state was tested: `verdict` is `good`, `bad` or `skip`.
    fn bisect_tested(&self, _commit: &str, _verdict: &str) {}
    /// Every entry of the build cache `cache` is read or checked: `total` of them.
    fn cache_checking(&self, _cache: &str, _total: usize) {}
    /// One entry of that cache (its store key) is done.
    fn cache_entry_checked(&self, _cache: &str, _key: &str) {}
    /// Every entry of that cache is done.
    fn cache_checked(&self, _cache: &str) {}
    /// Something worked but deserves the user's attention (a rockspec's `$(VAR)` that names no
    /// build variable, as LuaRocks warns). `message` is one sentence naming what it is about.
    fn warning(&self, _message: &str) {}
}

/// Reports nothing: the default for library callers that do not pass a reporter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {}
