//! `lvm cherry-pick`: the package changes of an event of another profile (or of a fetched
//! remote profile) taken into the current one, re-resolved, as one `cherry-pick` event.

use crate::env::WriteLock;
use crate::events::EventKind;
use crate::ops::install::Outcome;
use crate::ops::install::session::ServerChoice;
use crate::ops::revert::{Delta, event_ref, states_around, take_delta};
use crate::ops::{Error, Result};

/// Takes the package changes of the event at `rev` (a commit of another profile, a tag, or
/// `origin/PROFILE~N` after a fetch) into the current profile: what it installed or upgraded
/// is requested with the event's constraint and version, what it removed goes. The new event
/// records the source commit in its arguments and `details.picked`. Nothing changes when a
/// package here needs what the event removes.
pub fn cherry_pick(env: &WriteLock<'_>, rev: &str, choice: &ServerChoice) -> Result<Outcome> {
    let commit = env.repo().resolve_rev(rev)?;
    let event = event_ref(env, commit)?;
    if env.repo().is_ancestor(commit, env.head()?)? {
        return Err(Error::PickFromOwnHistory {
            rev: rev.to_string(),
            event: event.describe(),
            profile: env.profile()?,
        });
    }
    let (before, after) = states_around(env, &event)?;
    take_delta(
        env,
        choice,
        Delta {
            event: &event,
            before: &before,
            after: &after,
            strict: false,
            action: "cherry-pick",
        },
        (EventKind::CherryPick, "picked"),
    )
}
