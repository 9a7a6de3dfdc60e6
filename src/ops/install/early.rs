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

use crate::ops::install::candidates::{Candidates, Origin};
use crate::ops::install::prepare::{Job, compile_weight, ensure_package};
use crate::ops::install::prepared::Finishing;
use crate::ops::install::session::Session;
use crate::rockspec::{BuildType, Rockspec};
use crate::version::Version;

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
            let Some(pending) = candidates.early.claim(name, version, limit) else {
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
}
