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

use crate::format_version::{Format, FormatVersion, Unsupported};
use crate::luaversion::LuaVersion;
use crate::manifest::{self, Change, Manifest, Package};
use crate::version::Version;

/// The event schema version written by this lvm.
pub const SCHEMA: FormatVersion = FormatVersion::new(1, 0, 0);

/// The event schemas this lvm writes and reads.
pub const SCHEMA_SPEC: Format = Format {
    name: "event schema",
    writes: SCHEMA,
    reads: "^1",
};

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
    /// The package changes of one earlier event undone (`lvm revert`).
    Revert,
    /// The package changes of an event of another profile taken (`lvm cherry-pick`).
    CherryPick,
    /// A kind a newer lvm wrote (a compatible minor schema may add kinds): read, shown and
    /// replayed by its changes like any other; never written.
    #[serde(other)]
    Unknown,
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
            EventKind::Revert => "revert",
            EventKind::CherryPick => "cherry-pick",
            EventKind::Unknown => "unknown",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub schema: FormatVersion,
    pub kind: EventKind,
    /// The command's arguments as the user gave them.
    pub args: Vec<String>,
    /// The package changes, in the order they apply.
    pub changes: Vec<EventChange>,
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
    /// The Lua version the state moved to, when the event changed it (`lvm init --lua 5.1`,
    /// `lvm config set lua luajit`, a rollback across versions); absent otherwise. Before the
    /// first event the state is for [`LuaVersion::default`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lua: Option<LuaVersion>,
}

#[derive(Debug, Error)]
pub enum EventError {
    #[error("commit {commit}: message has no lvm event (was it made by hand?)")]
    Missing { commit: String },
    #[error("commit {commit}: malformed lvm event: {cause}")]
    Malformed {
        commit: String,
        cause: serde_json::Error,
    },
    #[error("commit {commit}: {unsupported}")]
    Schema {
        commit: String,
        unsupported: Unsupported,
    },
    #[error("commit {commit}: event does not apply to the state before it: {message}")]
    Replay { commit: String, message: String },
}

impl Event {
    /// An event recording `changes` (as [`manifest::diff`] computes them; removals are kept
    /// by name and version only, see [`EventChange`]).
    pub fn new(kind: EventKind, args: Vec<String>, changes: Vec<Change>) -> Event {
        Event {
            schema: SCHEMA,
            kind,
            args,
            changes: changes.into_iter().map(EventChange::from).collect(),
            timestamp: Utc::now(),
            lvm_version: env!("CARGO_PKG_VERSION").to_string(),
            durations_ms: BTreeMap::new(),
            store_hits: 0,
            builds: 0,
            details: run_id()
                .map(|id| BTreeMap::from([("run".to_string(), id.to_string())]))
                .unwrap_or_default(),
            lua: None,
        }
    }

    /// The commit subject: `install penlight 1.14.0-1 (+luafilesystem 1.8.0-1)`.
    /// The commit subject: one line, whatever the arguments and names hold (control
    /// characters are written as escapes).
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
            let (sign, text) = match change {
                EventChange::Full(Change::Added { name, package }) => {
                    ("+", format!("{name} {}", package.version))
                }
                EventChange::Full(Change::Removed { name, package }) => {
                    ("-", format!("{name} {}", package.version))
                }
                EventChange::Removed { name, version } => ("-", format!("{name} {version}")),
                EventChange::Full(Change::Changed { name, from, to }) => {
                    if from.version != to.version {
                        ("~", format!("{name} {} → {}", from.version, to.version))
                    } else {
                        ("~", format!("{name} {}", to.version))
                    }
                }
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
        one_line(&subject)
    }

    /// Whether a change is the package a `make` or `link` event built from a directory (its
    /// arguments name a path, not the package).
    fn is_development_target(&self, change: &EventChange) -> bool {
        let installed = match change {
            EventChange::Full(Change::Added { package, .. }) => package,
            EventChange::Full(Change::Changed { to, .. }) => to,
            EventChange::Full(Change::Removed { .. }) | EventChange::Removed { .. } => {
                return false;
            }
        };
        match self.kind {
            EventKind::Make => matches!(installed.source, manifest::PackageSource::Local { .. }),
            EventKind::Link => matches!(installed.source, manifest::PackageSource::Linked { .. }),
            _ => false,
        }
    }

    /// The full commit message: subject, blank line, marker, compact JSON. The event is the
    /// message's last line, and the only line that can be: the subject is one line (see
    /// [`Event::summary`]) and compact JSON escapes every line break inside strings.
    pub fn to_commit_message(&self) -> String {
        let json = serde_json::to_string(self).expect("events always serialize");
        format!("{}\n\n{BODY_MARKER}{json}\n", self.summary())
    }

    /// Reads the event back out of a commit message.
    pub fn from_commit_message(message: &str, commit: &str) -> Result<Event, EventError> {
        let (_, json) = split_commit_message(message).ok_or_else(|| EventError::Missing {
            commit: commit.into(),
        })?;
        let unsupported = |unsupported| EventError::Schema {
            commit: commit.into(),
            unsupported,
        };
        let event: Event = serde_json::from_str(json).map_err(|source| {
            // A newer lvm may write what this one cannot read: say so rather than "malformed".
            match SCHEMA_SPEC.unsupported_in_json(json.as_bytes(), "schema") {
                Some(e) => unsupported(e),
                None => EventError::Malformed {
                    commit: commit.into(),
                    cause: source,
                },
            }
        })?;
        SCHEMA_SPEC.check(&event.schema).map_err(unsupported)?;
        Ok(event)
    }
}

/// `text` on one line: control characters (line breaks included) become Rust-style escapes,
/// so no name or argument can start a line of its own in a commit message.
fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Splits a commit message lvm wrote into its subject (the event's [`Event::summary`]) and the
/// event JSON; `None` when it holds no event. The JSON is the message's last line, after the
/// marker (compact JSON has no line breaks); the subject is everything before it. Only the last
/// line counts, so text earlier in the message (a crafted name in an older subject, a
/// hand-written body) can never be read as an event.
pub fn split_commit_message(message: &str) -> Option<(&str, &str)> {
    let body = message.trim_end_matches('\n');
    let start = body.rfind('\n').map_or(0, |i| i + 1);
    let json = body[start..].strip_prefix(BODY_MARKER)?;
    let subject = body[..start].trim_end_matches('\n');
    Some((subject, json))
}

/// A package change as an event records it. Additions and changes carry whole package records
/// (replaying the log needs them); a removal carries the package's name and version only,
/// because the removed record is in the parent commit's `manifest.json`. Events written before
/// that carry the whole removed record, and are read as [`EventChange::Full`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventChange {
    Full(Change),
    Removed { name: String, version: Version },
}

impl From<Change> for EventChange {
    fn from(change: Change) -> EventChange {
        match change {
            Change::Removed { name, package } => EventChange::Removed {
                name,
                version: package.version,
            },
            other => EventChange::Full(other),
        }
    }
}

impl EventChange {
    pub fn name(&self) -> &str {
        match self {
            EventChange::Full(change) => change.name(),
            EventChange::Removed { name, .. } => name,
        }
    }

    /// How a human reads it (as [`Change::summary`]).
    pub fn summary(&self) -> String {
        match self {
            EventChange::Full(change) => change.summary(),
            EventChange::Removed { name, version } => format!("- {name} {version}"),
        }
    }
}

/// Applies one whole event to `state`: its Lua change, then its package changes.
pub fn apply_event(state: &mut Manifest, event: &Event) -> Result<(), String> {
    if let Some(lua) = event.lua {
        state.lua = lua.to_string();
    }
    apply(state, &event.changes)
}

/// Applies an event's changes to the state before it (see [`manifest::apply`]); a removal
/// recorded by version must find that version installed.
pub fn apply(state: &mut Manifest, changes: &[EventChange]) -> Result<(), String> {
    for change in changes {
        match change {
            EventChange::Full(change) => manifest::apply(state, std::slice::from_ref(change))?,
            EventChange::Removed { name, version } => match state.packages.get(name) {
                Some(old) if old.version == *version => {
                    state.packages.remove(name);
                }
                Some(old) => {
                    return Err(format!(
                        "removes {name} {version}, but {} is installed",
                        old.version
                    ));
                }
                None => return Err(format!("removes {name}, which is not installed")),
            },
        }
    }
    Ok(())
}

/// The JSON shape of a removal recorded by version.
#[derive(Serialize)]
struct CompactRemoval<'a> {
    change: &'static str,
    name: &'a str,
    version: &'a Version,
}

impl Serialize for EventChange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EventChange::Full(change) => change.serialize(serializer),
            EventChange::Removed { name, version } => CompactRemoval {
                change: "removed",
                name,
                version,
            }
            .serialize(serializer),
        }
    }
}

/// Every shape a recorded change has had.
#[derive(Deserialize)]
#[serde(tag = "change", rename_all = "lowercase")]
enum WireChange {
    Added {
        name: String,
        package: Box<Package>,
    },
    Removed {
        name: String,
        #[serde(default)]
        version: Option<Version>,
        #[serde(default)]
        package: Option<Box<Package>>,
    },
    Changed {
        name: String,
        from: Box<Package>,
        to: Box<Package>,
    },
}

impl<'de> Deserialize<'de> for EventChange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        Ok(match WireChange::deserialize(deserializer)? {
            WireChange::Added { name, package } => {
                EventChange::Full(Change::Added { name, package })
            }
            WireChange::Changed { name, from, to } => {
                EventChange::Full(Change::Changed { name, from, to })
            }
            WireChange::Removed {
                name,
                package: Some(package),
                version,
            } => {
                if let Some(version) = version.filter(|v| *v != package.version) {
                    return Err(D::Error::custom(format!(
                        "the removal of {name} names version {version} but records package version {}",
                        package.version
                    )));
                }
                EventChange::Full(Change::Removed { name, package })
            }
            WireChange::Removed {
                name,
                version: Some(version),
                package: None,
            } => EventChange::Removed { name, version },
            WireChange::Removed { name, .. } => {
                return Err(D::Error::custom(format!(
                    "the removal of {name} records neither its version nor its package"
                )));
            }
        })
    }
}

/// Folds events (oldest first, each with its commit id for errors) into the state they produce,
/// starting from an empty state for Lua `lua` (an event that changed the Lua says so).
pub fn replay<'a>(
    lua: &str,
    events: impl IntoIterator<Item = (&'a str, &'a Event)>,
) -> Result<Manifest, EventError> {
    let mut state = Manifest::empty(lua);
    for (commit, event) in events {
        apply_event(&mut state, event).map_err(|message| EventError::Replay {
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

    fn package(version: &str) -> Package {
        serde_json::from_value(serde_json::json!({
            "version": version,
            "reason": {"requested": ""},
            "source": {"kind": "server", "server": "file:///srv", "rockspec_sha256": "a".repeat(64),
                       "url": "file:///srv/x.tar.gz", "sha256": "b".repeat(64)},
            "dependencies": ["lua >= 5.1"],
            "store_key": "c".repeat(64),
            "files_sha256": "d".repeat(64),
        }))
        .unwrap()
    }

    fn state(packages: &[(&str, &str)]) -> Manifest {
        let mut m = Manifest::empty("5.4");
        for (name, version) in packages {
            m.packages.insert(name.to_string(), package(version));
        }
        m
    }

    #[test]
    fn removals_are_recorded_by_version_and_replay() {
        let before = state(&[("a", "1.0-1"), ("b", "2.0-1")]);
        let after = state(&[("b", "2.0-1")]);
        let event = Event::new(
            EventKind::Remove,
            vec!["a".into()],
            manifest::diff(&before, &after),
        );
        let msg = event.to_commit_message();
        assert!(
            msg.contains(r#"{"change":"removed","name":"a","version":"1.0-1"}"#),
            "{msg}"
        );
        assert!(!msg.contains("store_key"), "{msg}");
        assert_eq!(event.summary(), "remove a 1.0-1");
        assert_eq!(event.changes[0].summary(), "- a 1.0-1");
        let read = Event::from_commit_message(&msg, "c").unwrap();
        assert_eq!(read, event);
        let mut replayed = before.clone();
        apply(&mut replayed, &read.changes).unwrap();
        assert_eq!(replayed, after);
        // A removal recorded by version must find that version.
        let mut other = state(&[("a", "1.1-1")]);
        let err = apply(&mut other, &read.changes).unwrap_err();
        assert!(
            err.contains("removes a 1.0-1, but 1.1-1 is installed"),
            "{err}"
        );
        let err = apply(&mut Manifest::empty("5.4"), &read.changes).unwrap_err();
        assert!(err.contains("not installed"), "{err}");
    }

    #[test]
    fn old_events_with_whole_removed_records_still_replay() {
        let init = Event::new(EventKind::Init, vec![], vec![]);
        let install = Event::new(
            EventKind::Install,
            vec!["a".into()],
            manifest::diff(&state(&[]), &state(&[("a", "1.0-1"), ("b", "1.0-1")])),
        );
        // How lvm wrote removals before: the whole record.
        let mut old =
            serde_json::to_value(Event::new(EventKind::Remove, vec!["a".into()], vec![])).unwrap();
        old["changes"] = serde_json::json!([
            {"change": "removed", "name": "a", "package": package("1.0-1")}
        ]);
        let old_msg = format!("remove a 1.0-1\n\nlvm-event:{old}\n");
        let old = Event::from_commit_message(&old_msg, "old").unwrap();
        assert!(matches!(
            &old.changes[0],
            EventChange::Full(Change::Removed { .. })
        ));
        assert_eq!(old.changes[0].summary(), "- a 1.0-1");
        assert_eq!(old.summary(), "remove a 1.0-1");
        let new = Event::new(
            EventKind::Remove,
            vec!["b".into()],
            manifest::diff(&state(&[("b", "1.0-1")]), &state(&[])),
        );
        let events = [init, install, old, new];
        let replayed = replay("5.4", events.iter().map(|e| ("c", e))).unwrap();
        assert!(replayed.packages.is_empty());
        // The whole record still has to match exactly.
        let mut wrong = serde_json::to_value(&events[2]).unwrap();
        wrong["changes"][0]["package"]["store_key"] = "e".repeat(64).into();
        let wrong: Event = serde_json::from_value(wrong).unwrap();
        let events = [&events[0], &events[1], &wrong];
        assert!(matches!(
            replay("5.4", events.into_iter().map(|e| ("c", e))),
            Err(EventError::Replay { .. })
        ));
    }

    #[test]
    fn a_removal_without_version_or_record_is_malformed() {
        let mut e = serde_json::to_value(Event::new(EventKind::Remove, vec![], vec![])).unwrap();
        e["changes"] = serde_json::json!([{"change": "removed", "name": "a"}]);
        let err = Event::from_commit_message(&format!("x\n\nlvm-event:{e}\n"), "c")
            .unwrap_err()
            .to_string();
        assert!(err.contains("neither its version nor its package"), "{err}");
    }

    /// The schema version an event was refused for, if it was.
    fn refused_schema(e: &serde_json::Value) -> Option<FormatVersion> {
        match Event::from_commit_message(&format!("x\n\nlvm-event:{e}\n"), "c") {
            Err(EventError::Schema { unsupported, .. }) => Some(unsupported.found),
            _ => None,
        }
    }

    #[test]
    fn newer_schemas_are_refused_as_such() {
        let mut e = serde_json::to_value(Event::new(EventKind::Install, vec![], vec![])).unwrap();
        e["schema"] = 2.into();
        assert_eq!(refused_schema(&e), Some(FormatVersion::new(2, 0, 0)));
        let msg = format!("x\n\nlvm-event:{e}\n");
        let err = Event::from_commit_message(&msg, "c0ffee")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("commit c0ffee: event schema 2 is from a newer lvm")
                && err.contains("reads event schema ^1")
                && err.ends_with("upgrade lvm to read it"),
            "{err}"
        );
        // Even when the newer event has a shape this lvm cannot read.
        e["kind"] = "teleport".into();
        assert_eq!(refused_schema(&e), Some(FormatVersion::new(2, 0, 0)));
        e["schema"] = "2.1.0".into();
        assert_eq!(refused_schema(&e), Some(FormatVersion::new(2, 1, 0)));
        // Schema 1 with a kind this lvm does not know reads (see the next test).
        e["schema"] = 1.into();
        let msg = format!("x\n\nlvm-event:{e}\n");
        assert_eq!(
            Event::from_commit_message(&msg, "c").unwrap().kind,
            EventKind::Unknown
        );
    }

    #[test]
    fn a_kind_from_a_newer_lvm_reads_as_unknown_and_replays() {
        let removed = Change::Removed {
            name: "a".into(),
            package: Box::new(package("1.0-1")),
        };
        let mut e = serde_json::to_value(Event::new(
            EventKind::Remove,
            vec!["x".into()],
            vec![removed],
        ))
        .unwrap();
        e["schema"] = "1.1.0".into();
        e["kind"] = "frobnicate".into();
        let message = format!("Frobnicated\n\nlvm-event:{e}\n");
        let event = Event::from_commit_message(&message, "c0ffee").expect("reads");
        assert_eq!(event.kind, EventKind::Unknown);
        assert_eq!(event.kind.as_str(), "unknown");
        assert_eq!(event.args, ["x"]);
        assert_eq!(event.changes.len(), 1);
    }

    #[test]
    fn a_compatible_newer_schema_reads() {
        // A newer lvm that added fields this one ignores writes schema 1.1.0.
        let mut e = serde_json::to_value(Event::new(EventKind::Install, vec![], vec![])).unwrap();
        e["schema"] = "1.1.0".into();
        e["added_later"] = "ignored".into();
        let msg = format!("x\n\nlvm-event:{e}\n");
        let read = Event::from_commit_message(&msg, "c").unwrap();
        assert_eq!(read.schema, FormatVersion::new(1, 1, 0));
        assert_eq!(read.kind, EventKind::Install);
        // Events written before minor versions existed carry a whole number, and still do.
        assert!(
            Event::new(EventKind::Init, vec![], vec![])
                .to_commit_message()
                .contains(r#"lvm-event:{"schema":1,"#)
        );
    }

    /// Text a hostile name or argument might hold: line breaks, markers, JSON and Lua syntax.
    fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just("\n".to_string()),
                    Just("\r".to_string()),
                    Just(BODY_MARKER.to_string()),
                    Just(r#"{"schema":1,"kind":"install"}"#.to_string()),
                    Just("\u{2028}".to_string()),
                    "[a-z \\\"{}]{0,4}",
                ],
                0..8,
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the names and arguments hold, the message reads back as exactly the event
        /// that wrote it, and holds exactly one line that could be read as an event.
        #[test]
        fn any_text_round_trips_as_exactly_one_event(
            name in hostile_text(),
            arg in hostile_text(),
            version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}-[0-9]",
        ) {
            let mut after = Manifest::empty("5.4");
            after.packages.insert(name.clone(), package(&version));
            let event = Event::new(
                EventKind::Install,
                vec![arg.clone(), name.clone()],
                manifest::diff(&Manifest::empty("5.4"), &after),
            );
            let message = event.to_commit_message();
            proptest::prop_assert_eq!(Event::from_commit_message(&message, "c").unwrap(), event.clone());
            let marked = message.lines().filter(|l| l.starts_with(BODY_MARKER)).count();
            proptest::prop_assert_eq!(marked, 1, "{}", message);
            let (subject, _) = split_commit_message(&message).unwrap();
            proptest::prop_assert!(!subject.contains(['\n', '\r']), "{}", subject);
            proptest::prop_assert_eq!(subject, event.summary());
        }
    }

    #[test]
    fn a_name_cannot_plant_a_second_event() {
        let forged = r#"x
lvm-event:{"schema":1,"kind":"remove","args":[],"changes":[]}"#;
        let event = Event::new(EventKind::Install, vec![forged.into()], vec![]);
        let message = event.to_commit_message();
        assert_eq!(
            message
                .lines()
                .filter(|l| l.starts_with(BODY_MARKER))
                .count(),
            1
        );
        assert_eq!(Event::from_commit_message(&message, "c").unwrap(), event);
        // A message planted by an older lvm (the subject carried the line break) still reads
        // as the event lvm appended last, not the planted one.
        let real = serde_json::to_string(&event).unwrap();
        let old = format!("install {forged}\n\n{BODY_MARKER}{real}\n");
        assert_eq!(Event::from_commit_message(&old, "c").unwrap(), event);
    }

    #[test]
    fn splits_subject_and_body() {
        let e = Event::new(EventKind::Install, vec!["penlight".into()], vec![]);
        let msg = e.to_commit_message();
        let (subject, json) = split_commit_message(&msg).unwrap();
        assert_eq!(subject, e.summary());
        assert!(json.starts_with(r#"{"schema":1,"#), "{json}");
        assert!(!json.contains('\n'));
        assert_eq!(split_commit_message("hand-made\n\nno event"), None);
        // The marker counts only at the start of a line.
        assert_eq!(split_commit_message("say lvm-event:{}"), None);
        assert_eq!(split_commit_message("lvm-event:{}"), Some(("", "{}")));
    }
}
