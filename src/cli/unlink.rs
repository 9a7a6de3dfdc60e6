//! `lvm unlink NAME`: removes a package installed with `lvm link` (and, with `--force`, the
//! packages that depend on it).

use anyhow::Result;
use clap::Args;

use super::{Context, exit, outcome};
use lvm::ops::develop;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm unlink my-rock         remove the package `lvm link ../my-rock` installed
  lvm unlink my-rock --json  the outcome as JSON")]
pub struct UnlinkArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// The linked package.
    pub name: String,
    /// Remove even if other installed packages depend on it (they are removed too).
    #[arg(long)]
    pub force: bool,
}

pub fn exec(ctx: &Context, args: UnlinkArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let unlinked = develop::unlink(&env, &args.name, args.force)?;
    outcome::report(ctx, args.json, &unlinked, "Unlinked", "Nothing to do")?;
    Ok(exit::OK)
}
