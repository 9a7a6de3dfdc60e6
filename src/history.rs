//! History operations over an environment: rollback targets, verification of the log against
//! the manifest and the tree, repair, and diff rendering for humans and pull requests.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use git2::Oid;

use crate::env::Environment;
use crate::envrepo::short;
use crate::events::EventKind;
use crate::manifest::{self, Change};

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
}

impl fmt::Display for RollbackOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.switched_profile {
            return write!(f, "Switched back to profile '{p}'");
        }
        if self.changes.is_empty() {
            return write!(f, "Already at the state of {}; nothing to do", self.target);
        }
        writeln!(f, "Rolled back to {}:", self.target)?;
        for c in &self.changes {
            writeln!(f, "  {}", c.summary())?;
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
                    "cannot undo {n} events: the history of this profile has {} events after its creation",
                    events.len().saturating_sub(1)
                )
            })
        }
        RollbackSpec::Rev(rev) => {
            let commit = env.repo.resolve_rev(rev)?;
            if !events.iter().any(|e| e.commit == commit) {
                bail!("revision '{rev}' is not in the history of the current profile");
            }
            Ok(commit)
        }
        RollbackSpec::Date(date) => events
            .iter()
            .find(|e| e.event.timestamp <= *date)
            .map(|e| e.commit)
            .ok_or_else(|| anyhow!("the environment has no state as old as {date}")),
    }
}

/// Returns the environment to an earlier state as a new event. Right after a profile switch,
/// undoing one event switches back to the previous profile.
pub fn rollback(env: &Environment, spec: &RollbackSpec) -> Result<RollbackOutcome> {
    if let RollbackSpec::Steps(1) = spec {
        let last = env.history(Some(1))?;
        if let Some(logged) = last.first() {
            if logged.event.kind == EventKind::ProfileSwitch {
                if let Some(from) = logged.event.details.get("from") {
                    crate::profiles::switch(env, from, vec!["rollback".into()])?;
                    return Ok(RollbackOutcome {
                        target: from.clone(),
                        changes: vec![],
                        switched_profile: Some(from.clone()),
                    });
                }
            }
        }
    }
    let target = target_commit(env, spec)?;
    let state = env.repo.manifest_at(target)?;
    let current = env.manifest()?;
    let changes = manifest::diff(&current, &state);
    let mut details = BTreeMap::new();
    details.insert("target".to_string(), target.to_string());
    let args = match spec {
        RollbackSpec::Steps(n) => vec![n.to_string()],
        RollbackSpec::Rev(r) => vec![r.clone()],
        RollbackSpec::Date(d) => vec![format!("--to {}", d.to_rfc3339())],
    };
    env.record(
        EventKind::Rollback,
        args,
        state,
        details,
        BTreeMap::new(),
        (0, 0),
    )?;
    Ok(RollbackOutcome {
        target: short(target),
        changes,
        switched_profile: None,
    })
}

/// The result of `lvm verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub events: usize,
    pub packages: usize,
    pub problems: Vec<String>,
}

/// Checks that replaying the log reproduces manifest.json, that the working manifest matches
/// the head commit, and that every file of the tree matches the store's recorded hashes.
pub fn verify(env: &Environment) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let head = env.head()?;
    report.events = env.history(None)?.len();
    let (recorded, replay_ok) = env.replay_matches()?;
    report.packages = recorded.packages.len();
    if !replay_ok {
        report
            .problems
            .push("replaying the event log does not reproduce manifest.json".into());
    }
    let working = std::fs::read(env.root.join(crate::envrepo::MANIFEST_FILE)).unwrap_or_default();
    if working != recorded.to_bytes() {
        report.problems.push(format!(
            "manifest.json in {} differs from the recorded state at {}",
            env.root.display(),
            short(head)
        ));
    }
    if !env.tree_matches(&recorded) {
        report
            .problems
            .push("the rocks tree was not made from the recorded state".into());
    }
    let store = env.home.store()?;
    let tree_root = env.tree_path();
    for (name, package) in &recorded.packages {
        let rock_dir = crate::tree::rock_dir(&tree_root, name, package.version.as_str());
        match crate::tree::hash_tree_files(&rock_dir) {
            Ok(hash) if hash == package.files_sha256 => {}
            Ok(_) => report.problems.push(format!(
                "{name} {}: installed files differ from the recorded hash",
                package.version
            )),
            Err(e) => report.problems.push(format!(
                "{name} {}: cannot read installed files: {e}",
                package.version
            )),
        }
        if let Ok(key) = crate::store::StoreKey::parse(&package.store_key) {
            if !matches!(store.get(&key), Ok(Some(_))) {
                report.problems.push(format!(
                    "{name} {}: missing from the store (run `lvm sync`)",
                    package.version
                ));
            }
        }
    }
    Ok(report)
}

/// Rebuilds the working files and the tree from the head commit and the store.
pub fn repair(env: &Environment) -> Result<()> {
    let head = env.head()?;
    env.repo.sync_worktree(head)?;
    let manifest = env.repo.manifest_at(head)?;
    crate::pipeline::ensure_in_store(env, &manifest)?;
    let dir = env.materialize(&manifest)?;
    crate::tree::switch_into_place(&dir, &env.tree_path())?;
    Ok(())
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
