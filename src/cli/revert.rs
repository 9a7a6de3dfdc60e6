//! `lvm revert REV`: undoes the package changes of one earlier event of the current profile,
//! recorded as a new event.

use anyhow::Result;
use clap::Args;

use super::servers::ServerArgs;
use super::{Context, exit, outcome};
use lvm::ops::revert;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm revert HEAD~2          undo what the event two before the last changed, keep the rest
  lvm revert 3f2a9c01d4      by commit id (see `lvm log`)
  lvm revert before-upgrade  the event a tag names
  lvm revert HEAD --json     the outcome as JSON")]
pub struct RevertArgs {
    /// The event to undo: a commit id (or prefix), HEAD~N or a tag.
    pub rev: String,
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: RevertArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let outcome = revert::revert(&env, &args.rev, &args.servers.choice()?)?;
    let nothing = format!(
        "Nothing to do: the changes of {} are undone already",
        args.rev
    );
    outcome::report(ctx, args.json, &outcome, "Reverted", &nothing)?;
    Ok(exit::OK)
}
