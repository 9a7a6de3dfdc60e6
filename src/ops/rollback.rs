//! `lvm rollback`: the state of an earlier event (by steps, revision or date) recorded as a
//! new event, settings included; undoing a profile switch switches back.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use git2::Oid;

use crate::env::{Environment, WriteLock};
use crate::envrepo::short;
use crate::events::{Event, EventKind};
use crate::manifest::{self, Change};
use crate::ops::{Error, MissingIn, Result};

/// What `lvm rollback` was asked to return to.
#[derive(Debug, Clone)]
pub enum RollbackSpec {
    /// Undo the last event (`lvm rollback` with no argument).
    Last,
    /// Undo this many events.
    Steps(usize),
    /// The state at a revision.
    Rev(String),
    /// The state as of a date.
    Date(DateTime<Utc>),
}

/// What a rollback did: the target (a short commit id, or the profile switched back to), the
/// package changes, and whether the settings went back too.
#[derive(Debug, Clone)]
pub struct RollbackOutcome {
    pub target: String,
    pub changes: Vec<Change>,
    pub switched_profile: Option<String>,
    /// Whether the settings (`lvm.toml`) went back to the target's too.
    pub settings_restored: bool,
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
    Err(Error::BadDate {
        text: text.to_string(),
    })
}

impl RollbackSpec {
    /// Reads `lvm rollback [TARGET] [--to DATE]`: a number of up to six digits counts events,
    /// anything else names a revision (write `HEAD~N` or a longer prefix for an all-digit
    /// commit id).
    pub fn from_args(target: Option<&str>, to: Option<&str>) -> Result<RollbackSpec> {
        Ok(match (target, to) {
            (Some(_), Some(_)) => return Err(Error::TargetAndDate),
            (_, Some(date)) => RollbackSpec::Date(parse_date(date)?),
            (Some(t), None) if t.len() <= 6 && t.bytes().all(|b| b.is_ascii_digit()) => {
                // Six digits always fit.
                RollbackSpec::Steps(t.parse().unwrap_or(usize::MAX))
            }
            (Some(t), None) => RollbackSpec::Rev(t.to_string()),
            (None, None) => RollbackSpec::Last,
        })
    }

    /// The arguments a `rollback` event records for this spec, the same whoever asks (the CLI
    /// or the library API): none for the last event, the number of events, the revision, or
    /// `--to` with the exact instant the date was read as.
    pub fn event_args(&self) -> Vec<String> {
        match self {
            RollbackSpec::Last => vec![],
            RollbackSpec::Steps(n) => vec![n.to_string()],
            RollbackSpec::Rev(rev) => vec![rev.clone()],
            RollbackSpec::Date(date) => vec!["--to".into(), date.to_rfc3339()],
        }
    }
}

/// Finds the commit whose state a rollback returns to.
fn target_commit(env: &Environment, spec: &RollbackSpec) -> Result<Oid> {
    let events = env.history(None)?;
    match spec {
        RollbackSpec::Last => target_commit(env, &RollbackSpec::Steps(1)),
        RollbackSpec::Steps(n) => {
            if *n == 0 {
                return Err(Error::RollbackZero);
            }
            events
                .get(*n)
                .map(|e| e.commit)
                .ok_or_else(|| Error::NotThatManyEvents {
                    steps: *n,
                    profile: env.profile().unwrap_or_default(),
                    events: events.len().saturating_sub(1),
                })
        }
        RollbackSpec::Rev(rev) => {
            let commit = env.repo().resolve_rev(rev)?;
            if !events.iter().any(|e| e.commit == commit) {
                return Err(Error::RevisionNotInProfile {
                    rev: rev.clone(),
                    profile: env.profile().unwrap_or_default(),
                });
            }
            Ok(commit)
        }
        RollbackSpec::Date(date) => events
            .iter()
            .find(|e| e.event.timestamp <= *date)
            .map(|e| e.commit)
            .ok_or_else(|| Error::NothingThatOld {
                date: date.to_string(),
                first: events
                    .last()
                    .map(|e| e.event.timestamp.to_rfc3339())
                    .unwrap_or_default(),
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
/// (no server, no compiler) when it holds every build the state names; builds it lacks are
/// rebuilt from their recorded sources first, and when one cannot be, nothing changes. Right after a profile switch, undoing one event switches back
/// to the previous profile (one `rollback` event on that profile).
pub fn rollback(env: &WriteLock<'_>, spec: &RollbackSpec) -> Result<RollbackOutcome> {
    let args = spec.event_args();
    if let RollbackSpec::Last | RollbackSpec::Steps(1) = spec {
        let last = env.history(Some(1))?;
        if let Some(from) = last.first().and_then(|l| switched_from(&l.event)) {
            let from = from.clone();
            let target =
                env.repo()
                    .profile_head(&from)
                    .map_err(|source| Error::CannotSwitchBack {
                        profile: from.clone(),
                        source: Box::new(source),
                    })?;
            let mut event = Event::new(EventKind::Rollback, args, vec![]);
            event.details.insert("target".into(), target.to_string());
            crate::ops::profile::switch_with(env, &from, event)?;
            return Ok(RollbackOutcome {
                target: from.clone(),
                changes: vec![],
                switched_profile: Some(from),
                settings_restored: false,
            });
        }
    }
    let target = target_commit(env, spec)?;
    let state = env.repo().manifest_at(target)?;
    // The target may name builds the store lacks (`lvm gc` dropped them, or a commit made by
    // hand names them): rebuild them from their recorded sources before anything changes, or
    // refuse with each package named.
    crate::ops::install::rebuild::ensure_in_store(
        env,
        &state,
        MissingIn::RollbackTarget {
            commit: short(target),
        },
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_arguments() {
        assert!(matches!(
            RollbackSpec::from_args(None, None).unwrap(),
            RollbackSpec::Last
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
        let recorded = |target, to| RollbackSpec::from_args(target, to).unwrap().event_args();
        assert!(recorded(None, None).is_empty());
        assert_eq!(recorded(Some("1"), None), ["1"]);
        assert_eq!(recorded(Some("HEAD~2"), None), ["HEAD~2"]);
        assert_eq!(
            recorded(None, Some("2026-11-25")),
            ["--to", "2026-11-25T23:59:59+00:00"]
        );
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
