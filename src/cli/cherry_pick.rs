//! `lvm cherry-pick REV`: takes the package changes of an event of another profile (or of a
//! fetched remote profile) into the current one, recorded as a new event.

use anyhow::Result;
use clap::Args;

use super::servers::ServerArgs;
use super::{Context, exit, outcome};
use lvm::ops::cherry_pick;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm cherry-pick dev              the last event of profile 'dev'
  lvm cherry-pick dev~2            an earlier one
  lvm cherry-pick origin/default   after `lvm pull` fetched it (or `git fetch` in the environment)
  lvm cherry-pick 3f2a9c01d4 --json")]
pub struct CherryPickArgs {
    /// The event to take: a profile (its last event), PROFILE~N, a commit id or a tag.
    pub rev: String,
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: CherryPickArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let outcome = cherry_pick::cherry_pick(&env, &args.rev, &args.servers.choice()?)?;
    let nothing = format!(
        "Nothing to do: the changes of {} are here already",
        args.rev
    );
    outcome::report(ctx, args.json, &outcome, "Picked", &nothing)?;
    Ok(exit::OK)
}
