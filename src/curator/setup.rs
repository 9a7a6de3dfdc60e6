//! `lvm setup PROFILE [--prod]`: materializes a curated profile into the environment. The
//! profile's packages are installed as one event on the profile branch of the same name, which
//! is created (from the current profile) and switched to when needed. Conflicts go through the
//! resolver and fail the setup with its explanation; nothing is picked silently.

use super::CuratorError;
use super::data::{Catalog, PlannedPackage, dependency_text};
use crate::env::WriteLock;
use crate::errors::error_text;
use crate::events::EventKind;
use crate::ops::install::{self, Outcome, ServerChoice, Target};

/// The event argument of a production setup.
pub const PROD_FLAG: &str = "--prod";

/// What a setup did.
#[derive(Debug, Clone)]
pub struct SetupOutcome {
    pub profile: String,
    /// The profile branch was created by this setup.
    pub created_branch: bool,
    /// The environment was switched to the profile branch.
    pub switched_from: Option<String>,
    pub planned: Vec<PlannedPackage>,
    /// Dev-only packages a production setup left out.
    pub left_out: Vec<PlannedPackage>,
    /// Left-out dev-only packages that were already installed on the branch.
    pub left_out_installed: Vec<String>,
    pub install: Outcome,
}

/// The event arguments of a setup: `PROFILE [--prod]`.
pub fn event_args(profile: &str, prod: bool) -> Vec<String> {
    let mut args = vec![profile.to_string()];
    if prod {
        args.push(PROD_FLAG.to_string());
    }
    args
}

/// Reads a setup back from an event: the profile and whether it was a production setup.
pub fn setup_of(kind: EventKind, args: &[String]) -> Option<(String, bool)> {
    let rest = match kind {
        EventKind::Setup => args,
        _ => return None,
    };
    let profile = rest.first()?.clone();
    Some((profile, rest.iter().any(|a| a == PROD_FLAG)))
}

/// Installs `profile` into `env` (the caller holds the writer lock). On failure after a branch
/// switch, the environment goes back to the profile it was on (and a branch this setup created
/// is deleted), so a failed setup leaves the user where they were.
pub fn setup(
    env: &WriteLock<'_>,
    catalog: &Catalog,
    profile: &str,
    prod: bool,
    choice: &ServerChoice,
) -> Result<SetupOutcome, CuratorError> {
    let everything = catalog.plan(profile, false)?;
    let (planned, left_out): (Vec<PlannedPackage>, Vec<PlannedPackage>) =
        everything.into_iter().partition(|p| !(prod && p.dev));
    if planned.is_empty() {
        return Err(CuratorError::EmptyProfile {
            profile: profile.to_string(),
            prod,
        });
    }
    let targets: Vec<Target> = planned
        .iter()
        .map(|p| Target::Package(p.dependency()))
        .collect();
    let wanted: Vec<String> = planned
        .iter()
        .map(|p| dependency_text(&p.dependency()))
        .collect();
    let (moved, install) = on_profile_branch(env, profile, &wanted.join(", "), |env| {
        install::install_as(
            env,
            &targets,
            choice,
            &event_args(profile, prod),
            EventKind::Setup,
        )
        .map_err(Box::new)
    })?;
    let (created_branch, switched_from) = (moved.created_branch, moved.switched_from);
    let installed = env.manifest()?;
    let left_out_installed = left_out
        .iter()
        .filter(|p| installed.packages.contains_key(&p.name))
        .map(|p| p.name.clone())
        .collect();
    Ok(SetupOutcome {
        profile: profile.to_string(),
        created_branch,
        switched_from,
        planned,
        left_out,
        left_out_installed,
        install,
    })
}

/// How a setup got onto its profile branch.
#[derive(Debug, Clone)]
pub struct BranchMove {
    /// The profile branch was created (from the current profile).
    pub created_branch: bool,
    /// The profile the environment was on, when it was another.
    pub switched_from: Option<String>,
}

/// Runs `change` (one event) on the profile branch `profile`, creating it from the current
/// profile and switching to it first when needed. When `change` fails after a switch, the
/// environment goes back to the profile it was on (and a branch created here is deleted), so
/// the user is left where they were; `what` names the change in the error.
pub fn on_profile_branch<T>(
    env: &WriteLock<'_>,
    profile: &str,
    what: &str,
    change: impl FnOnce(&WriteLock<'_>) -> Result<T, Box<crate::ops::Error>>,
) -> Result<(BranchMove, T), CuratorError> {
    let previous = env.profile()?;
    // Where the profile branch stood, so a failed change can put it back without an event.
    let head_before = env.repo().try_profile_head(profile);
    let mut moved = BranchMove {
        created_branch: false,
        switched_from: None,
    };
    if previous != profile {
        let profiles = env.repo().profiles().map_err(crate::env::EnvError::from)?;
        if !profiles.iter().any(|p| p == profile) {
            crate::ops::profile::create(env, profile, None, None).map_err(|source| {
                CuratorError::Setup {
                    step: format!("creating the profile branch '{profile}'"),
                    source: Box::new(source),
                }
            })?;
            moved.created_branch = true;
        }
        if let Err(e) = crate::ops::profile::switch(env, profile, vec![profile.to_string()]) {
            let mut message = format!("switching to profile '{profile}'");
            if moved.created_branch
                && let Err(undo) = env.take_back_switch(&previous, profile, None)
            {
                message.push_str(&format!(
                    "; deleting the profile it created failed too ({}): run `lvm profile delete {profile}`",
                    error_text(&undo)
                ));
            }
            return Err(CuratorError::Setup {
                step: message,
                source: Box::new(e),
            });
        }
        moved.switched_from = Some(previous.clone());
    }
    match change(env) {
        Ok(done) => Ok((moved, done)),
        Err(e) => {
            let mut message = format!("setting up profile '{profile}' ({what}) failed");
            if let Some(from) = &moved.switched_from {
                match env.take_back_switch(from, profile, head_before) {
                    Ok(()) => message.push_str(&format!("; back on profile '{from}'")),
                    Err(undo) => message.push_str(&format!(
                        "; going back to profile '{from}' failed too ({}): run `lvm profile switch {from}`",
                        error_text(&undo)
                    )),
                }
            }
            Err(CuratorError::Setup {
                step: message,
                source: e,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_args_round_trip() {
        let args = event_args("standard", true);
        assert_eq!(
            setup_of(EventKind::Setup, &args),
            Some(("standard".into(), true))
        );
        assert_eq!(
            setup_of(EventKind::Setup, &["full".to_string()]),
            Some(("full".into(), false))
        );
        assert_eq!(
            setup_of(EventKind::Install, &["penlight".to_string()]),
            None
        );
    }
}
