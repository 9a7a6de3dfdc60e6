//! `lvm remove`: removes packages and the dependencies nothing else needs (with `--force`, also
//! the packages that depend on them).

use anyhow::Result;
use clap::Args;

use super::{Context, complete, exit, outcome};
use lvm::ops::remove;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm remove penlight               and the dependencies nothing else needs
  lvm remove luafilesystem --force  and the packages that depend on it
  lvm remove penlight --json        the outcome as JSON")]
pub struct RemoveArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    #[arg(required = true, add = complete::packages())]
    pub names: Vec<String>,
    /// Remove even if other installed packages depend on it (they are removed too).
    #[arg(long)]
    pub force: bool,
}

pub fn exec(ctx: &Context, args: RemoveArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let outcome = remove::remove(&env, &args.names, args.force)?;
    outcome::report(ctx, args.json, &outcome, "Removed", "Nothing to do")?;
    Ok(exit::OK)
}
