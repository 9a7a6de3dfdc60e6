//! What preparing a package gives (its record, whether the store had it, what its build
//! warned about), and the registry of preparations started before resolution ended.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};

use crate::manifest::Package;
use crate::ops::Result;
use crate::version::Version;

/// One package made sure of in the store.
pub(in crate::ops) struct Prepared {
    /// Its manifest record.
    pub(in crate::ops) package: Package,
    /// Whether it was there already (the store or a build cache had it).
    pub(in crate::ops) hit: bool,
    /// What its build warned about, for the caller to report.
    pub(in crate::ops) warnings: Vec<String>,
}

impl Prepared {
    /// A package found ready, without a build.
    pub(in crate::ops) fn found(package: Package) -> Prepared {
        Prepared {
            package,
            hit: true,
            warnings: vec![],
        }
    }
}

/// The early builds of one plan, by package and version: started by the rockspec prefetch
/// ([`crate::ops::install::early`]), adopted by [`crate::ops::install::prepare::run_jobs`].
#[derive(Default)]
pub(in crate::ops) struct EarlyBuilds {
    started: Mutex<BTreeMap<(String, Version), Arc<Pending>>>,
}

/// One early build: its result once it is over.
#[derive(Default)]
pub(in crate::ops) struct Pending {
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
    pub(in crate::ops) fn finish(&self, result: Option<Result<Prepared>>) {
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
pub(in crate::ops) struct Finishing(pub(in crate::ops) Arc<Pending>);

impl Drop for Finishing {
    fn drop(&mut self) {
        if !self.0.is_over() {
            self.0.finish(None);
        }
    }
}

impl EarlyBuilds {
    /// Whether an early build of this package and version was started.
    pub(in crate::ops) fn started(&self, name: &str, version: &Version) -> bool {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&(name.to_string(), version.clone()))
    }

    /// The result of the early build of this package and version, once it is over; `None`
    /// when none was started (or it ended without a result). Each is adopted once.
    pub(in crate::ops) fn adopt(&self, name: &str, version: &Version) -> Option<Result<Prepared>> {
        let pending = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(name.to_string(), version.clone()))?;
        pending.take()
    }

    /// Records a build of this package and version as started, unless one is already, or
    /// `limit` are running.
    pub(in crate::ops) fn claim(
        &self,
        name: &str,
        version: &Version,
        limit: usize,
    ) -> Option<Arc<Pending>> {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let key = (name.to_string(), version.clone());
        let running = started.values().filter(|p| !p.is_over()).count();
        if started.contains_key(&key) || running >= limit {
            return None;
        }
        let pending = Arc::new(Pending::default());
        started.insert(key, pending.clone());
        Some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_is_claimed_once_and_no_more_than_the_limit_run() {
        let early = EarlyBuilds::default();
        let v = Version::parse("1.0-1").unwrap();
        let a = early.claim("a", &v, 2).expect("first claim");
        assert!(early.claim("a", &v, 2).is_none(), "claimed twice");
        assert!(early.claim("b", &v, 2).is_some());
        assert!(early.claim("c", &v, 2).is_none(), "beyond the limit");
        a.finish(Some(Err(crate::ops::Error::NoLongerAvailable {
            name: "a".into(),
            version: Version::parse("1.0-1").unwrap(),
        })));
        let c = early.claim("c", &v, 2).expect("a is over");
        assert!(early.started("a", &v));
        assert!(early.adopt("a", &v).expect("started").is_err());
        assert!(early.adopt("a", &v).is_none(), "adopted once");
        assert!(early.adopt("z", &v).is_none());
        // A build whose thread unwinds ends without a result: its package is prepared again.
        drop(Finishing(c));
        assert!(early.started("c", &v));
        assert!(early.adopt("c", &v).is_none());
    }
}
