//! History operations over an environment: rollback targets, verification of the log against
//! the manifest, the store and the tree, repair, and diff rendering for humans and pull
//! requests.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use git2::Oid;

use crate::env::Environment;
use crate::envrepo::{CONFIG_FILE, MANIFEST_FILE, short};
use crate::events::{Event, EventKind};
use crate::manifest::{self, Change};
use crate::store::StoreKey;

/// What `lvm rollback` was asked to return to.
#[derive(Debug, Clone)]
pub enum RollbackSpec {
    /// Undo this many events.
    Steps(usize),
    /// The state at a revision.
    Rev(String),
    /// The state as of a date.
    Date(DateTime<Utc>),
}

/// What a rollback did, for the user.
pub struct RollbackOutcome {
    pub target: String,
    pub changes: Vec<Change>,
    pub switched_profile: Option<String>,
    /// Whether the settings (`lvm.toml`) went back to the target's too.
    pub settings_restored: bool,
}

impl fmt::Display for RollbackOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.switched_profile {
            return write!(f, "Switched back to profile '{p}'");
        }
        if self.changes.is_empty() && !self.settings_restored {
            return write!(f, "Already at the state of {}; nothing to do", self.target);
        }
        writeln!(f, "Rolled back to {}:", self.target)?;
        for c in &self.changes {
            writeln!(f, "  {}", c.summary())?;
        }
        if self.settings_restored {
            writeln!(f, "  settings (lvm.toml) restored")?;
        }
        Ok(())
    }
}

/// Parses `2026-11-25`, `2026-11-25 10:30`, `2026-11-25T10:30:00Z` (UTC).
pub fn parse_date(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Ok(d.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(text, fmt) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        // A bare date means the end of that day.
        return Ok(d.and_hms_opt(23, 59, 59).expect("valid time").and_utc());
    }
    bail!("cannot read date '{text}': use YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]' or RFC 3339 (UTC)")
}

impl RollbackSpec {
    /// Reads `lvm rollback [TARGET] [--to DATE]`: a number of up to six digits counts events,
    /// anything else names a revision (write `HEAD~N` or a longer prefix for an all-digit
    /// commit id).
    pub fn from_args(target: Option<&str>, to: Option<&str>) -> Result<RollbackSpec> {
        Ok(match (target, to) {
            (Some(_), Some(_)) => bail!("give either a target or --to DATE, not both"),
            (_, Some(date)) => RollbackSpec::Date(parse_date(date)?),
            (Some(t), None) if t.len() <= 6 && t.bytes().all(|b| b.is_ascii_digit()) => {
                RollbackSpec::Steps(t.parse()?)
            }
            (Some(t), None) => RollbackSpec::Rev(t.to_string()),
            (None, None) => RollbackSpec::Steps(1),
        })
    }
}

/// Finds the commit whose state a rollback returns to.
fn target_commit(env: &Environment, spec: &RollbackSpec) -> Result<Oid> {
    let events = env.history(None)?;
    match spec {
        RollbackSpec::Steps(n) => {
            if *n == 0 {
                bail!("rollback 0 would change nothing; give a number of events >= 1");
            }
            events.get(*n).map(|e| e.commit).ok_or_else(|| {
                anyhow!(
                    "cannot undo {n} events: the history of profile '{}' has {} events after its first (see `lvm log`)",
                    env.profile().unwrap_or_default(),
                    events.len().saturating_sub(1)
                )
            })
        }
        RollbackSpec::Rev(rev) => {
            let commit = env.repo.resolve_rev(rev)?;
            if !events.iter().any(|e| e.commit == commit) {
                bail!(
                    "revision '{rev}' is not in the history of profile '{}' (see `lvm log`; to take packages from another profile use `lvm profile merge`)",
                    env.profile().unwrap_or_default()
                );
            }
            Ok(commit)
        }
        RollbackSpec::Date(date) => events
            .iter()
            .find(|e| e.event.timestamp <= *date)
            .map(|e| e.commit)
            .ok_or_else(|| {
                anyhow!(
                    "the environment has no state as old as {date} (its first event is from {})",
                    events
                        .last()
                        .map(|e| e.event.timestamp.to_rfc3339())
                        .unwrap_or_default()
                )
            }),
    }
}

/// The profile an event came from, when it switched profiles (a profile switch, or a rollback
/// that undid one).
fn switched_from(event: &crate::events::Event) -> Option<&String> {
    match event.kind {
        EventKind::ProfileSwitch | EventKind::Rollback => event.details.get("from"),
        _ => None,
    }
}

/// Returns the environment to an earlier state as a new `rollback` event, built from the store
/// only (no server, no compiler). Right after a profile switch, undoing one event switches back
/// to the previous profile (one `rollback` event on that profile).
pub fn rollback(
    env: &Environment,
    spec: &RollbackSpec,
    args: Vec<String>,
) -> Result<RollbackOutcome> {
    if let RollbackSpec::Steps(1) = spec {
        let last = env.history(Some(1))?;
        if let Some(from) = last.first().and_then(|l| switched_from(&l.event)) {
            let from = from.clone();
            let target = env.repo.profile_head(&from).map_err(|e| {
                anyhow!(
                    "the last event switched from profile '{from}', which cannot be restored: {e}"
                )
            })?;
            let mut event = Event::new(EventKind::Rollback, args, vec![]);
            event.details.insert("target".into(), target.to_string());
            crate::profiles::switch_with(env, &from, event)?;
            return Ok(RollbackOutcome {
                target: from.clone(),
                changes: vec![],
                switched_profile: Some(from),
                settings_restored: false,
            });
        }
    }
    let target = target_commit(env, spec)?;
    let state = env.repo.manifest_at(target)?;
    let current = env.manifest()?;
    let changes = manifest::diff(&current, &state);
    // The settings are part of the recorded state: a rollback returns to the target's too.
    let config = env.config_at(target)?;
    let settings_restored = config != env.recorded_config()?;
    let mut details = BTreeMap::new();
    details.insert("target".to_string(), target.to_string());
    env.record_with_config(
        EventKind::Rollback,
        args,
        state,
        Some(&config),
        details,
        BTreeMap::new(),
        (0, 0),
    )?;
    Ok(RollbackOutcome {
        target: short(target),
        changes,
        switched_profile: None,
        settings_restored,
    })
}

/// The result of `lvm verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub events: usize,
    pub packages: usize,
    pub problems: Vec<String>,
    /// Store entries whose files no longer match their recorded hashes (package name, key).
    pub corrupt_store: Vec<(String, StoreKey)>,
    /// Linked packages (name, working directory): their Lua files are symlinks that are meant
    /// to change, so only their presence is checked.
    pub linked: Vec<(String, String)>,
    /// Trees of recent states kept in `.trees/` for quick rollbacks and switches: not live, so
    /// not checked and never a problem.
    pub kept_trees: Vec<std::path::PathBuf>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks everything a state is made of: replaying the log reproduces `manifest.json`; the
/// working files match the head commit; every store entry the state uses is present and intact;
/// and the live tree is exactly the tree the store would make (no file missing, changed or
/// added). Read-only.
pub fn verify(env: &Environment) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    for kept in env.kept_trees() {
        tracing::info!(
            "kept tree {} (state {}), not live",
            kept.path.display(),
            kept.digest.get(..12).unwrap_or(&kept.digest)
        );
        report.kept_trees.push(kept.path);
    }
    let head = env.head()?;
    let profile = env.profile()?;
    let recorded = env.manifest()?;
    report.packages = recorded.packages.len();
    match env.history(None).and_then(|h| {
        let replayed = env.replay()?.0;
        Ok((h.len(), replayed))
    }) {
        Err(e) => report.problems.push(format!(
            "the event log of profile '{profile}' does not replay: {e:#}; the history was changed by hand"
        )),
        Ok((events, replayed)) => {
            report.events = events;
            if replayed.to_bytes() != recorded.to_bytes() {
                let differences: Vec<String> = manifest::diff(&replayed, &recorded)
                    .iter()
                    .map(Change::summary)
                    .collect();
                report.problems.push(format!(
                    "replaying the {events} events of profile '{profile}' does not reproduce manifest.json at {} (recorded vs replayed: {}); the history was changed by hand",
                    short(head),
                    if differences.is_empty() {
                        "same packages, different bytes".to_string()
                    } else {
                        differences.join("; ")
                    }
                ));
            }
        }
    }
    if env.has_pending_change() {
        report.problems.push(
            "a change is in progress or was interrupted (.git/lvm-journal exists); run any lvm command that changes the environment to finish it".into(),
        );
    }
    for file in [MANIFEST_FILE, CONFIG_FILE, ".gitignore"] {
        let recorded_bytes = env.repo.read_file(head, file).ok();
        let working = std::fs::read(env.root.join(file)).ok();
        if recorded_bytes.is_some() && working != recorded_bytes {
            let how = if working.is_none() {
                "is missing"
            } else {
                "differs from the recorded state"
            };
            report.problems.push(format!(
                "{file} in {} {how} at {} (profile '{profile}'); `lvm verify --repair` restores it",
                env.root.display(),
                short(head)
            ));
        }
    }
    if !env.tree_matches(&recorded) {
        report.problems.push(format!(
            "the rocks tree {} was not made from the recorded state at {}; `lvm verify --repair` rebuilds it",
            env.tree_path().display(),
            short(head)
        ));
    }
    let store = env.home.store()?;
    let mut store_complete = true;
    for (name, package) in &recorded.packages {
        let key = match StoreKey::parse(&package.store_key) {
            Ok(k) => k,
            Err(e) => {
                report
                    .problems
                    .push(format!("{name}: manifest.json has a bad store key: {e}"));
                store_complete = false;
                continue;
            }
        };
        if !matches!(store.get(&key), Ok(Some(_))) {
            report.problems.push(format!(
                "{name} {}: missing from the store ({}); `lvm verify --repair` rebuilds it",
                package.version,
                store.root().join("rocks").join(key.as_str()).display()
            ));
            store_complete = false;
            continue;
        }
        match store.verify(&key) {
            Ok(v) if v.is_clean() => {}
            Ok(v) => {
                let mut what = Vec::new();
                for (label, list) in [
                    ("modified", &v.modified),
                    ("missing", &v.missing),
                    ("added", &v.extra),
                ] {
                    if !list.is_empty() {
                        what.push(format!("{label} {}", list.join(", ")));
                    }
                }
                report.problems.push(format!(
                    "{name} {}: the store entry {} is corrupted ({}); a tree file was probably edited in place, which changes the store's hard-linked copy too; `lvm verify --repair` rebuilds the entry",
                    package.version,
                    store.root().join("rocks").join(key.as_str()).display(),
                    what.join("; ")
                ));
                report.corrupt_store.push((name.clone(), key));
            }
            Err(e) => report
                .problems
                .push(format!("{name} {}: {e}", package.version)),
        }
    }
    let live_tree = crate::tree::current(&env.tree_path()).ok().flatten();
    let links = crate::develop::check_links(&store, &recorded, live_tree.as_deref())?;
    report.linked = links.linked;
    report.problems.extend(links.problems);
    if store_complete {
        report.problems.extend(compare_tree(env, &recorded)?);
    }
    Ok(report)
}

/// Differences between the live tree and a tree freshly made from the store for `manifest`.
fn compare_tree(env: &Environment, manifest: &manifest::Manifest) -> Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let scratch = env.root.join(".lvm-tmp");
    std::fs::create_dir_all(&scratch)?;
    let expected_dir = tempfile::Builder::new()
        .prefix("verify-")
        .tempdir_in(&scratch)?;
    let expected_root = expected_dir.path().join("tree");
    env.materialize_into(manifest, &expected_root)?;
    let live_root = match crate::tree::current(&env.tree_path()) {
        Ok(Some(p)) => p,
        _ => {
            return Ok(vec![format!(
                "the rocks tree {} is missing; `lvm verify --repair` rebuilds it",
                env.tree_path().display()
            )]);
        }
    };
    // Symlinks of linked packages lead to working files that are meant to change (and may be
    // gone); `develop::check_links` checks them instead.
    let linked = crate::develop::linked_tree_paths(&env.home.store()?, manifest)?;
    let listing = |root: &std::path::Path| -> Result<BTreeMap<String, std::path::PathBuf>> {
        Ok(crate::develop::tree_files_except(root, &linked)?)
    };
    let expected = listing(&expected_root)?;
    let live = listing(&live_root)?;
    let mut problems = Vec::new();
    for (rel, want) in &expected {
        let Some(have) = live.get(rel) else {
            problems.push(format!(
                "tree file {rel} is missing; `lvm verify --repair` restores it"
            ));
            continue;
        };
        let (a, b) = (std::fs::metadata(want)?, std::fs::metadata(have)?);
        let same_file = a.dev() == b.dev() && a.ino() == b.ino();
        let same = same_file
            || (a.mode() & 0o111 == b.mode() & 0o111
                && crate::tree::files::sha256_file(want)?.0
                    == crate::tree::files::sha256_file(have)?.0);
        if !same {
            problems.push(format!(
                "tree file {rel} differs from the store's build; `lvm verify --repair` restores it"
            ));
        }
    }
    for rel in live.keys().filter(|r| !expected.contains_key(*r)) {
        problems.push(format!(
            "tree file {rel} does not belong to any installed package; `lvm verify --repair` removes it"
        ));
    }
    Ok(problems)
}

/// What `lvm verify --repair` did.
#[derive(Debug, Clone, Default)]
pub struct RepairOutcome {
    /// Packages whose corrupted store entries were rebuilt.
    pub rebuilt: Vec<String>,
}

/// Rebuilds the working files, the corrupted or missing store entries (from the recorded
/// sources) and the tree (from the store) for the head commit. Call with the writer lock held
/// (see [`Environment::lock_only`]). A history that does not replay cannot be repaired here.
pub fn repair(env: &Environment, report: &VerifyReport) -> Result<RepairOutcome> {
    let head = env.head()?;
    env.repo.sync_worktree(head)?;
    let manifest = env.repo.manifest_at(head)?;
    let store = env.home.store()?;
    let mut outcome = RepairOutcome::default();
    for (name, key) in &report.corrupt_store {
        store.remove(key)?;
        outcome.rebuilt.push(name.clone());
    }
    crate::pipeline::ensure_in_store(env, &manifest).map_err(|e| {
        anyhow!("cannot rebuild the missing store entries from their recorded sources: {e:#}")
    })?;
    let dir = env.materialize(&manifest)?;
    env.install_tree(&dir)?;
    Ok(outcome)
}

/// One change as JSON for `lvm diff --json`.
pub fn change_json(change: &Change) -> serde_json::Value {
    match change {
        Change::Added { name, package } => serde_json::json!({
            "name": name, "change": "added", "to": package.version.to_string(),
            "source": package.source.describe(),
        }),
        Change::Removed { name, package } => serde_json::json!({
            "name": name, "change": "removed", "from": package.version.to_string(),
        }),
        Change::Changed { name, from, to } => serde_json::json!({
            "name": name, "change": manifest::change_kind(from, to),
            "from": from.version.to_string(), "to": to.version.to_string(),
            "source": to.source.describe(),
        }),
    }
}

/// A Markdown table for a pull-request comment.
pub fn markdown(from: &str, to: &str, changes: &[Change]) -> String {
    let mut out = format!("### Lua environment changes (`{from}` → `{to}`)\n\n");
    if changes.is_empty() {
        out.push_str("No package changes.\n");
        return out;
    }
    out.push_str("| Package | Change | From | To |\n|---|---|---|---|\n");
    for change in changes {
        let (kind, from_v, to_v) = match change {
            Change::Added { package, .. } => ("added", "".into(), package.version.to_string()),
            Change::Removed { package, .. } => ("removed", package.version.to_string(), "".into()),
            Change::Changed { from, to, .. } => (
                manifest::change_kind(from, to),
                from.version.to_string(),
                to.version.to_string(),
            ),
        };
        out.push_str(&format!(
            "| {} | {kind} | {from_v} | {to_v} |\n",
            change.name()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_arguments() {
        assert!(matches!(
            RollbackSpec::from_args(None, None).unwrap(),
            RollbackSpec::Steps(1)
        ));
        assert!(matches!(
            RollbackSpec::from_args(Some("12"), None).unwrap(),
            RollbackSpec::Steps(12)
        ));
        // Seven digits read as a commit id prefix.
        assert!(
            matches!(RollbackSpec::from_args(Some("1234567"), None).unwrap(), RollbackSpec::Rev(r) if r == "1234567")
        );
        assert!(
            matches!(RollbackSpec::from_args(Some("HEAD~2"), None).unwrap(), RollbackSpec::Rev(r) if r == "HEAD~2")
        );
        assert!(RollbackSpec::from_args(Some("1"), Some("2026-01-01")).is_err());
    }

    #[test]
    fn dates() {
        let end_of_day = parse_date("2026-11-25").unwrap();
        assert_eq!(end_of_day.to_rfc3339(), "2026-11-25T23:59:59+00:00");
        assert_eq!(
            parse_date("2026-11-25 10:30").unwrap().to_rfc3339(),
            "2026-11-25T10:30:00+00:00"
        );
        assert_eq!(
            parse_date("2026-11-25T12:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-11-25T10:00:00+00:00"
        );
        let err = parse_date("tomorrow").unwrap_err().to_string();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
    }
}

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
    let mut state = crate::manifest::Manifest::empty(&env.config.lua);
    let mut rows = Vec::new();
    for entry in &logged {
        // Counting through the changes avoids reading one manifest per event.
        crate::events::apply(&mut state, &entry.event.changes).map_err(|message| {
            anyhow!("event {} does not apply: {message}", short(entry.commit))
        })?;
        rows.push((entry.commit.to_string(), &entry.event, state.packages.len()));
    }
    Ok(stats(&rows))
}

#[cfg(test)]
mod stats_tests {
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
