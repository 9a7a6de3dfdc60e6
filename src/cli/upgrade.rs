//! `lvm upgrade`: upgrades every package (or the ones named) to the newest versions every
//! constraint allows; packages requested with an exact version stay.

use anyhow::Result;
use clap::Args;

use super::servers::ServerArgs;
use super::{Context, complete, exit, outcome};
use lvm::ops::upgrade;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm upgrade              every package, to the newest versions all constraints allow
  lvm upgrade strutil      one package (and what its new version needs)")]
pub struct UpgradeArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// Packages to upgrade (default: all). Packages requested with an exact version stay.
    #[arg(add = complete::packages())]
    pub names: Vec<String>,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: UpgradeArgs) -> Result<i32> {
    let env = ctx.open()?;
    let choice = args.servers.choice()?;
    let outcome = upgrade::upgrade(&env, ctx.lock_timeout, &args.names, &choice)?;
    let nothing = "Nothing to upgrade: every package is at the newest version allowed";
    outcome::report(ctx, args.json, &outcome, "Upgraded", nothing)?;
    Ok(exit::OK)
}
