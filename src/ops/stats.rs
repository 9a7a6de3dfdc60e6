//! `lvm stats`: what the recorded events say about an environment: counts by kind, phase
//! times, store hit rate and the slowest events.

use std::collections::BTreeMap;

use crate::env::Environment;
use crate::envrepo::short;
use crate::ops::{Error, Result};

/// What `lvm stats` reports: where time went, per command kind and phase, and how often the
/// store saved a build.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub events: usize,
    /// Per event kind: how many, and total milliseconds over all phases.
    pub by_kind: BTreeMap<String, KindStats>,
    /// Total milliseconds per phase (resolve, build, materialize, commit).
    pub by_phase: BTreeMap<String, u64>,
    pub store_hits: u64,
    pub builds: u64,
    /// Store hits / (hits + builds), in percent; none before anything was installed.
    pub hit_rate_percent: Option<u64>,
    /// Packages a build cache supplied (they count among `store_hits`), per cache URL.
    pub cache_hits: BTreeMap<String, u64>,
    /// Rock bytes downloaded from caches, and milliseconds spent fetching them.
    pub cache_bytes: u64,
    pub cache_ms: u64,
    /// Cache hits / (cache hits + builds), in percent: how often a package the store lacked
    /// came from a cache instead of a compiler; none before either happened.
    pub cache_hit_rate_percent: Option<u64>,
    /// The time caches saved, estimated: the cache hits times this history's average
    /// milliseconds per build, less the time spent fetching; none without a build to average.
    pub cache_saved_ms_estimate: Option<u64>,
    /// The events whose build phase took longest, newest first among equals.
    pub slowest_builds: Vec<SlowEvent>,
    /// Installed packages after each event, oldest first (the tree's growth).
    pub packages_over_time: Vec<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindStats {
    pub count: usize,
    pub total_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlowEvent {
    pub commit: String,
    pub summary: String,
    pub build_ms: u64,
    pub builds: u32,
}

/// Summarises events given oldest first, each with its commit id and the package count after
/// it. Pure.
pub fn stats(events: &[(String, &crate::events::Event, usize)]) -> Stats {
    let mut out = Stats {
        events: events.len(),
        ..Stats::default()
    };
    let mut slow = Vec::new();
    for (commit, event, packages) in events {
        let total: u64 = event.durations_ms.values().sum();
        let kind = out
            .by_kind
            .entry(event.kind.as_str().to_string())
            .or_default();
        kind.count += 1;
        kind.total_ms += total;
        for (phase, ms) in &event.durations_ms {
            *out.by_phase.entry(phase.clone()).or_default() += ms;
        }
        out.store_hits += u64::from(event.store_hits);
        for hit in crate::ops::cache::all_supplied(&event.details).into_values() {
            *out.cache_hits.entry(hit.cache).or_default() += 1;
            out.cache_bytes += hit.bytes;
            out.cache_ms += hit.ms;
        }
        out.builds += u64::from(event.builds);
        let build_ms = event.durations_ms.get("build").copied().unwrap_or(0);
        if event.builds > 0 {
            slow.push(SlowEvent {
                commit: commit.clone(),
                summary: event.summary(),
                build_ms,
                builds: event.builds,
            });
        }
        out.packages_over_time.push(*packages);
    }
    let seen = out.store_hits + out.builds;
    out.hit_rate_percent = (seen > 0).then(|| out.store_hits * 100 / seen);
    let cache_hits: u64 = out.cache_hits.values().sum();
    let missed = cache_hits + out.builds;
    out.cache_hit_rate_percent = (missed > 0).then(|| cache_hits * 100 / missed);
    let build_ms: u64 = slow.iter().map(|s| s.build_ms).sum();
    out.cache_saved_ms_estimate = (out.builds > 0 && cache_hits > 0)
        .then(|| (cache_hits * build_ms / out.builds).saturating_sub(out.cache_ms));
    slow.reverse();
    slow.sort_by_key(|s| std::cmp::Reverse(s.build_ms));
    slow.truncate(5);
    out.slowest_builds = slow;
    out
}

/// [`stats`] over the current profile's whole history.
pub fn environment_stats(env: &Environment) -> Result<Stats> {
    let mut logged = env.history(None)?;
    logged.reverse();
    let mut state = crate::manifest::Manifest::empty(crate::luaversion::LuaVersion::default());
    let mut rows = Vec::new();
    for entry in &logged {
        // Counting through the changes avoids reading one manifest per event.
        crate::events::apply_event(&mut state, &entry.event).map_err(|message| {
            Error::EventDoesNotApply {
                commit: short(entry.commit),
                message,
            }
        })?;
        rows.push((entry.commit.to_string(), &entry.event, state.packages.len()));
    }
    Ok(stats(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, EventKind};

    fn event(kind: EventKind, build_ms: u64, hits: u32, builds: u32) -> Event {
        let mut e = Event::new(kind, vec!["x".into()], vec![]);
        e.durations_ms.insert("resolve".into(), 2);
        e.durations_ms.insert("build".into(), build_ms);
        e.store_hits = hits;
        e.builds = builds;
        e
    }

    #[test]
    fn sums_phases_kinds_and_hit_rate() {
        let a = event(EventKind::Install, 300, 1, 3);
        let b = event(EventKind::Install, 10, 4, 0);
        let c = event(EventKind::Rollback, 0, 0, 0);
        let rows = vec![
            ("a".to_string(), &a, 4),
            ("b".into(), &b, 8),
            ("c".into(), &c, 4),
        ];
        let s = stats(&rows);
        assert_eq!(s.events, 3);
        assert_eq!(
            s.by_kind["install"],
            KindStats {
                count: 2,
                total_ms: 314
            }
        );
        assert_eq!(s.by_kind["rollback"].count, 1);
        assert_eq!(s.by_phase["build"], 310);
        assert_eq!(s.by_phase["resolve"], 6);
        assert_eq!(
            (s.store_hits, s.builds, s.hit_rate_percent),
            (5, 3, Some(62))
        );
        assert_eq!(s.slowest_builds.len(), 1);
        assert_eq!(s.slowest_builds[0].commit, "a");
        assert_eq!(s.packages_over_time, vec![4, 8, 4]);
        assert_eq!(stats(&[]).hit_rate_percent, None);
    }
}
