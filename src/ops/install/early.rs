//! Early builds: a C rock starts preparing (download, compile, store insert) as soon as its
//! rockspec arrives, while the rockspecs the resolver needs next are still on their way, and
//! the preparation after resolution adopts the result instead of starting again.
//!
//! An early build is a guess: the version the resolver most likely picks
//! ([`crate::ops::install::candidates::likely_version`]). It does what preparing the package
//! after resolution would do, so it writes where that writes (the session's scratch space,
//! the store, the download caches) and never the environment. When the resolution picks
//! another version, the early build is left unused: its store entry is harmless (`lvm gc`
//! removes it) and its error, if it failed, is dropped. Only builtin builds (a compiler run by
//! lvm) start early; make, cmake and command builds wait for the resolution to pick them.
//! `LVM_EARLY_BUILDS=0` turns early builds off, to compare.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};

use crate::ops::Result;
use crate::ops::install::candidates::{Candidates, Origin};
use crate::ops::install::prepare::{Job, Prepared, compile_weight, ensure_package};
use crate::ops::install::session::Session;
use crate::rockspec::{BuildType, Rockspec};
use crate::version::Version;

/// The early builds of one plan: started by the rockspec prefetch, adopted by
/// [`crate::ops::install::prepare::run_jobs`].
#[derive(Default)]
pub(in crate::ops) struct EarlyBuilds {
    started: Mutex<BTreeMap<(String, Version), Arc<Pending>>>,
}

/// One early build: its result once it is over.
#[derive(Default)]
struct Pending {
    state: Mutex<State>,
    over: Condvar,
}

#[derive(Default)]
struct State {
    over: bool,
    /// The build's result; none once it is over when its thread ended without one (it
    /// panicked), so the package is prepared again rather than waited for forever.
    result: Option<Result<Prepared>>,
}

impl Pending {
    fn finish(&self, result: Option<Result<Prepared>>) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = State { over: true, result };
        self.over.notify_all();
    }

    fn is_over(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).over
    }

    /// Waits for the build to end and takes its result.
    fn take(&self) -> Option<Result<Prepared>> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while !state.over {
            state = self.over.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.result.take()
    }
}

/// Ends a [`Pending`] without a result if its thread unwinds before finishing it.
struct Finishing(Arc<Pending>);

impl Drop for Finishing {
    fn drop(&mut self) {
        if !self.0.is_over() {
            self.0.finish(None);
        }
    }
}

impl EarlyBuilds {
    /// Whether an early build of this job's package and version was started.
    pub(in crate::ops) fn started(&self, job: &Job) -> bool {
        matches!(job.origin, Origin::Server { .. }) && self.pending(job).is_some()
    }

    /// The result of the early build of this job's package and version, once it is over;
    /// `None` when none was started (or it ended without a result). Each is adopted once.
    pub(in crate::ops) fn adopt(&self, job: &Job) -> Option<Result<Prepared>> {
        // Early builds are of server packages only: a pinned candidate of the same version
        // (a local rockspec, an installed record) is another package.
        if !matches!(job.origin, Origin::Server { .. }) {
            return None;
        }
        let pending = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(job.name.clone(), job.version.clone()))?;
        pending.take()
    }

    fn pending(&self, job: &Job) -> Option<Arc<Pending>> {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(job.name.clone(), job.version.clone()))
            .cloned()
    }

    /// Records a build of `job` as started, unless one is already, or `limit` are running.
    fn claim(&self, job: &Job, limit: usize) -> Option<Arc<Pending>> {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let key = (job.name.clone(), job.version.clone());
        let running = started.values().filter(|p| !p.is_over()).count();
        if started.contains_key(&key) || running >= limit {
            return None;
        }
        let pending = Arc::new(Pending::default());
        started.insert(key, pending.clone());
        Some(pending)
    }
}

/// Runs `work` (resolving, then preparing the resolution) with early builds: `work` gets the
/// function that offers a fetched rockspec's package for an early build. Returns once every
/// early build is over, the ones the resolution did not keep included.
pub(in crate::ops) fn with_early_builds<T>(
    session: &Session,
    candidates: &Candidates<'_>,
    work: impl FnOnce(&(dyn Fn(&str, &Version) + Sync)) -> T,
) -> T {
    if !enabled(std::env::var("LVM_EARLY_BUILDS").ok().as_deref()) {
        return work(&|_, _| {});
    }
    // More at once than may compile at once would only wait for a process slot, and hold a
    // connection of the server besides the rockspec prefetch's.
    let limit = session.build_ctx.jobs.max(1);
    std::thread::scope(|scope| {
        let offer = |name: &str, version: &Version| {
            let Some(job) = early_job(candidates, name, version) else {
                return;
            };
            let Some(pending) = candidates.early.claim(&job, limit) else {
                return;
            };
            tracing::debug!("building {name} {version} before the resolution ends");
            scope.spawn(move || {
                let finishing = Finishing(pending);
                finishing
                    .0
                    .finish(Some(ensure_package(session, candidates, &job)));
            });
        };
        work(&offer)
    })
}

/// The job of a server package worth building early: one whose rockspec is fetched and
/// whose builtin build compiles C. `None` for any other.
fn early_job(candidates: &Candidates<'_>, name: &str, version: &Version) -> Option<Job> {
    let origin @ Origin::Server { .. } = candidates.origin(name, version)? else {
        return None;
    };
    let (_, rockspec) = candidates.server_rockspec(name, version).ok()?;
    compiles_early(&rockspec).then(|| Job {
        name: name.to_string(),
        version: version.clone(),
        origin,
    })
}

/// Whether a rockspec's build is one to start before it is known to be needed: a builtin
/// build that compiles C (the compiler runs the rock's own files, and nothing else). Pure.
fn compiles_early(rockspec: &Rockspec) -> bool {
    rockspec.build.kind == BuildType::Builtin && compile_weight(rockspec) > 0
}

/// Whether `LVM_EARLY_BUILDS` (its value) leaves early builds on: anything but `0`, `false`,
/// `no` or `off`. Pure.
fn enabled(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("0" | "false" | "no" | "off")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::install::prepare::tests::rockspec;

    #[test]
    fn only_builtin_c_builds_start_early() {
        let c = rockspec("{ type = 'builtin', modules = { ['x.core'] = 'core.c' } }");
        let lua = rockspec("{ type = 'builtin', modules = { x = 'x.lua' } }");
        let make = rockspec("{ type = 'make' }");
        let command = rockspec("{ type = 'command', build_command = 'cc -c x.c' }");
        assert!(compiles_early(&c));
        assert!(!compiles_early(&lua));
        assert!(!compiles_early(&make));
        assert!(!compiles_early(&command));
    }

    #[test]
    fn early_builds_are_on_unless_turned_off() {
        assert!(enabled(None));
        assert!(enabled(Some("1")));
        assert!(enabled(Some("")));
        for off in ["0", "false", "No", " off "] {
            assert!(!enabled(Some(off)), "{off}");
        }
    }

    #[test]
    fn a_build_is_claimed_once_and_no_more_than_the_limit_run() {
        let early = EarlyBuilds::default();
        let job = |name: &str| Job {
            name: name.to_string(),
            version: Version::parse("1.0-1").unwrap(),
            origin: Origin::Server {
                server: 0,
                arches: vec!["rockspec".into()],
            },
        };
        let a = early.claim(&job("a"), 2).expect("first claim");
        assert!(early.claim(&job("a"), 2).is_none(), "claimed twice");
        assert!(early.claim(&job("b"), 2).is_some());
        assert!(early.claim(&job("c"), 2).is_none(), "beyond the limit");
        a.finish(Some(Err(crate::ops::Error::NoLongerAvailable {
            name: "a".into(),
            version: Version::parse("1.0-1").unwrap(),
        })));
        let c = early.claim(&job("c"), 2).expect("a is over");
        assert!(early.started(&job("a")));
        assert!(early.adopt(&job("a")).expect("started").is_err());
        assert!(early.adopt(&job("a")).is_none(), "adopted once");
        assert!(early.adopt(&job("z")).is_none());
        // A build whose thread unwinds ends without a result: its package is prepared again.
        drop(Finishing(c));
        assert!(early.started(&job("c")));
        assert!(early.adopt(&job("c")).is_none());
    }
}
