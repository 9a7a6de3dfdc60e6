//! Events: what a user asked an environment to do and what it changed.
//!
//! Each event is one git commit of the environment's repository. The commit message holds a
//! human summary as its subject and the event as JSON in its body, so `git log` reads well and
//! lvm can replay the log: folding every event's changes from the first commit reproduces
//! `manifest.json` without any network. The schema is documented in `docs/events.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::manifest::{self, Change, Manifest};

/// The event schema version written by this lvm.
pub const SCHEMA: u32 = 1;

/// The id of this lvm process's run, recorded in every event it makes (`details.run`) and on
/// every line of the environment's log, so log lines and events can be matched.
static RUN_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the run id (once per process; later calls are ignored).
pub fn set_run_id(id: String) {
    let _ = RUN_ID.set(id);
}

/// The run id, when the process set one.
pub fn run_id() -> Option<&'static str> {
    RUN_ID.get().map(String::as_str)
}

/// Marks the start of the JSON body in a commit message.
const BODY_MARKER: &str = "lvm-event:";

/// What kind of command made the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Init,
    Install,
    Remove,
    Upgrade,
    Rollback,
    ProfileCreate,
    ProfileSwitch,
    ProfileMerge,
    ProfileDelete,
    Sync,
    Setup,
    Make,
    Link,
    Unlink,
    /// A change of the environment's settings (`lvm.toml`); packages stay.
    Config,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Init => "init",
            EventKind::Install => "install",
            EventKind::Remove => "remove",
            EventKind::Upgrade => "upgrade",
            EventKind::Rollback => "rollback",
            EventKind::ProfileCreate => "profile-create",
            EventKind::ProfileSwitch => "profile-switch",
            EventKind::ProfileMerge => "profile-merge",
            EventKind::ProfileDelete => "profile-delete",
            EventKind::Sync => "sync",
            EventKind::Setup => "setup",
            EventKind::Make => "make",
            EventKind::Link => "link",
            EventKind::Unlink => "unlink",
            EventKind::Config => "config",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub schema: u32,
    pub kind: EventKind,
    /// The command's arguments as the user gave them.
    pub args: Vec<String>,
    /// The package changes, in the order they apply.
    pub changes: Vec<Change>,
    pub timestamp: DateTime<Utc>,
    pub lvm_version: String,
    /// Milliseconds spent per phase (resolve, fetch, build, materialize, commit).
    #[serde(default)]
    pub durations_ms: BTreeMap<String, u64>,
    /// Store hits vs builds, for performance history.
    #[serde(default)]
    pub store_hits: u32,
    #[serde(default)]
    pub builds: u32,
    /// Free-form details (e.g. the target of a rollback, the profile switched from).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

#[derive(Debug, Error)]
pub enum EventError {
    #[error("commit {commit}: message has no lvm event (was it made by hand?)")]
    Missing { commit: String },
    #[error("commit {commit}: malformed lvm event: {source}")]
    Malformed {
        commit: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("commit {commit}: event schema {found} is newer than this lvm understands ({SCHEMA})")]
    Schema { commit: String, found: u32 },
    #[error("commit {commit}: event does not apply to the state before it: {message}")]
    Replay { commit: String, message: String },
}

impl Event {
    pub fn new(kind: EventKind, args: Vec<String>, changes: Vec<Change>) -> Event {
        Event {
            schema: SCHEMA,
            kind,
            args,
            changes,
            timestamp: Utc::now(),
            lvm_version: env!("CARGO_PKG_VERSION").to_string(),
            durations_ms: BTreeMap::new(),
            store_hits: 0,
            builds: 0,
            details: run_id()
                .map(|id| BTreeMap::from([("run".to_string(), id.to_string())]))
                .unwrap_or_default(),
        }
    }

    /// The commit subject: `install penlight 1.14.0-1 (+luafilesystem 1.8.0-1)`.
    pub fn summary(&self) -> String {
        let kind = self.kind.as_str();
        let requested: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut primary = Vec::new();
        let mut secondary = Vec::new();
        for change in &self.changes {
            let is_primary = requested.iter().any(|a| {
                a.split([' ', '@'])
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(change.name()))
            }) || self.is_development_target(change);
            let text = match change {
                Change::Added { name, package } => format!("{name} {}", package.version),
                Change::Removed { name, package } => format!("{name} {}", package.version),
                Change::Changed { name, from, to } if from.version != to.version => {
                    format!("{name} {} → {}", from.version, to.version)
                }
                Change::Changed { name, to, .. } => format!("{name} {}", to.version),
            };
            let sign = match change {
                Change::Added { .. } => "+",
                Change::Removed { .. } => "-",
                Change::Changed { .. } => "~",
            };
            if is_primary {
                primary.push(text);
            } else {
                secondary.push(format!("{sign}{text}"));
            }
        }
        let mut subject = String::from(kind);
        if !primary.is_empty() {
            subject.push(' ');
            subject.push_str(&primary.join(", "));
        } else if !self.args.is_empty() && !matches!(self.kind, EventKind::Init) {
            subject.push(' ');
            subject.push_str(&self.args.join(" "));
        }
        if !secondary.is_empty() {
            let shown: Vec<&str> = secondary.iter().take(6).map(String::as_str).collect();
            let more = secondary.len().saturating_sub(6);
            subject.push_str(&format!(" ({}", shown.join(", ")));
            if more > 0 {
                subject.push_str(&format!(", {more} more"));
            }
            subject.push(')');
        }
        subject
    }

    /// Whether a change is the package a `make` or `link` event built from a directory (its
    /// arguments name a path, not the package).
    fn is_development_target(&self, change: &Change) -> bool {
        let installed = match change {
            Change::Added { package, .. } => package,
            Change::Changed { to, .. } => to,
            Change::Removed { .. } => return false,
        };
        match self.kind {
            EventKind::Make => matches!(installed.source, manifest::PackageSource::Local { .. }),
            EventKind::Link => matches!(installed.source, manifest::PackageSource::Linked { .. }),
            _ => false,
        }
    }

    /// The full commit message: subject, blank line, marker, compact JSON.
    pub fn to_commit_message(&self) -> String {
        let json = serde_json::to_string(self).expect("events always serialize");
        format!("{}\n\n{BODY_MARKER}{json}\n", self.summary())
    }

    /// Reads the event back out of a commit message.
    pub fn from_commit_message(message: &str, commit: &str) -> Result<Event, EventError> {
        let json = message
            .lines()
            .find_map(|line| line.strip_prefix(BODY_MARKER))
            .ok_or_else(|| EventError::Missing {
                commit: commit.into(),
            })?;
        let probe: serde_json::Value =
            serde_json::from_str(json).map_err(|source| EventError::Malformed {
                commit: commit.into(),
                source,
            })?;
        let schema = probe.get("schema").and_then(|s| s.as_u64()).unwrap_or(0) as u32;
        if schema > SCHEMA {
            return Err(EventError::Schema {
                commit: commit.into(),
                found: schema,
            });
        }
        serde_json::from_value(probe).map_err(|source| EventError::Malformed {
            commit: commit.into(),
            source,
        })
    }
}

/// Folds events (oldest first, each with its commit id for errors) into the state they produce.
pub fn replay<'a>(
    lua: &str,
    events: impl IntoIterator<Item = (&'a str, &'a Event)>,
) -> Result<Manifest, EventError> {
    let mut state = Manifest::empty(lua);
    for (commit, event) in events {
        manifest::apply(&mut state, &event.changes).map_err(|message| EventError::Replay {
            commit: commit.into(),
            message,
        })?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_commit_message() {
        let mut e = Event::new(EventKind::Install, vec!["penlight".into()], vec![]);
        e.durations_ms.insert("resolve".into(), 3);
        let msg = e.to_commit_message();
        assert!(msg.starts_with("install penlight\n\n"));
        assert_eq!(Event::from_commit_message(&msg, "c").unwrap(), e);
        assert!(matches!(
            Event::from_commit_message("hand-made commit", "c"),
            Err(EventError::Missing { .. })
        ));
    }
}
