//! `lvm rollback`: returns to an earlier state (some events back, a revision, or the state as of
//! a date), recorded as a new event.

use anyhow::Result;
use clap::Args;

use super::{Context, exit};
use lvm::ops::diff;
use lvm::ops::rollback::{self, RollbackSpec};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm rollback                  undo the last event
  lvm rollback 3                undo the last three
  lvm rollback a1b2c3d          return to the state after that commit
  lvm rollback --to 2026-01-31  the state as of that date
  lvm rollback --json           the outcome as JSON")]
pub struct RollbackArgs {
    /// Print the outcome as JSON (the target, the changes, whether settings were restored).
    #[arg(long)]
    pub json: bool,
    /// How many events to undo (a number), or the revision to return to. Default: undo the last.
    pub target: Option<String>,
    /// Return to the state as of this date (RFC 3339, or YYYY-MM-DD[ HH:MM[:SS]], UTC).
    #[arg(long, conflicts_with = "target")]
    pub to: Option<String>,
}

pub fn exec(ctx: &Context, args: RollbackArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let spec = RollbackSpec::from_args(args.target.as_deref(), args.to.as_deref())?;
    let rolled = rollback::rollback(&env, &spec)?;
    let changes: Vec<_> = rolled.changes.iter().map(diff::change_json).collect();
    let json = serde_json::json!({
        "target": rolled.target,
        "switched_profile": rolled.switched_profile,
        "changes": changes,
        "settings_restored": rolled.settings_restored,
    });
    super::outcome::print(ctx, args.json, json, rollback_text(&rolled))?;
    Ok(exit::OK)
}

/// What `lvm rollback` says: the profile it switched back to, or the state it returned to
/// with the package changes.
fn rollback_text(rolled: &rollback::RollbackOutcome) -> String {
    if let Some(p) = &rolled.switched_profile {
        return format!("Switched back to profile '{p}'");
    }
    if rolled.changes.is_empty() && !rolled.settings_restored {
        return format!("Already at the state of {}; nothing to do", rolled.target);
    }
    let mut out = format!("Rolled back to {}:\n", rolled.target);
    for c in &rolled.changes {
        out.push_str(&format!("  {}\n", c.summary()));
    }
    if rolled.settings_restored {
        out.push_str("  settings (lvm.toml) restored\n");
    }
    out
}
