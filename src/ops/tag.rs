//! `lvm tag`: names for events (plain git tags in the environment's repository), usable
//! wherever a revision is; pushed and pulled with the environment.

use chrono::{DateTime, Utc};
use git2::Oid;

use crate::env::Environment;
use crate::ops::Result;

/// One tag with the event it names.
#[derive(Debug, Clone)]
pub struct TagInfo {
    pub name: String,
    pub commit: Oid,
    /// The event's summary and time (from its commit).
    pub summary: String,
    pub time: DateTime<Utc>,
}

/// Tags the event at `rev` (default: the current one) as `name`; returns the commit tagged.
/// A tag that already exists is an error, never moved. A tag is not an event: it changes no
/// state, so nothing is recorded in the log.
pub fn create(env: &Environment, name: &str, rev: Option<&str>) -> Result<Oid> {
    let commit = match rev {
        Some(rev) => env.repo().resolve_rev(rev)?,
        None => env.head()?,
    };
    env.repo().create_tag(name, commit)?;
    Ok(commit)
}

/// Deletes tag `name`; returns the commit it named.
pub fn delete(env: &Environment, name: &str) -> Result<Oid> {
    Ok(env.repo().delete_tag(name)?)
}

/// Every tag, sorted by name, with the event it names.
pub fn list(env: &Environment) -> Result<Vec<TagInfo>> {
    let mut out = Vec::new();
    for tag in env.repo().tags()? {
        let line = env.repo().log_line(tag.commit)?;
        out.push(TagInfo {
            name: tag.name,
            commit: tag.commit,
            summary: line.summary,
            time: line.time,
        });
    }
    Ok(out)
}
