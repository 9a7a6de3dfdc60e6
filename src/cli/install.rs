//! `lvm install`: installs packages (names with optional constraints, rockspec files, git
//! sources), or with `--interactive` picks them from search results in a checklist.

use anyhow::Result;
use clap::Args;

use super::servers::{ServerArgs, fetch_environment};
use super::{Context, exit, outcome};
use lvm::ops::install;

#[derive(Debug, Args)]
#[command(after_help = concat!("\
Examples:
  lvm install penlight                 newest version
  lvm install penlight 1.13.1-3        an exact version
  lvm install 'penlight >= 1.13, < 2'  a constraint
  lvm install ./foo-1.0-1.rockspec     a local rockspec
  lvm install git+https://host/repo.git@v1.2
  lvm install ../my-rock               a local git checkout (write a path: ./my-rock, not my-rock)
  lvm install --interactive json       tick packages matching 'json' in a checklist

With --interactive, the checklist lists the search results for TERM, the installed ones ticked;
on enter, ticked packages that are missing are installed and unticked ones that were requested
are no longer requested, all as one event. It needs a terminal.

", fetch_environment!()))]
pub struct InstallArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// Package names (optionally followed by a version or constraint), rockspec files, git URLs
    /// (git+https://..., git+file://...[@ref]) or paths to git repositories. With
    /// --interactive: one search term (default: every package).
    #[arg(required_unless_present = "interactive")]
    pub targets: Vec<String>,
    /// Pick packages from search results in a terminal checklist.
    #[arg(long)]
    pub interactive: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: InstallArgs) -> Result<i32> {
    if args.interactive {
        return super::interactive::install_command(ctx, &args.targets, || args.servers.choice());
    }
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let targets = install::parse_targets(&args.targets)?;
    let outcome = install::install(&env, &targets, &args.servers.choice()?, &args.targets)?;
    outcome::report(
        ctx,
        args.json,
        &outcome,
        "Installed",
        &outcome::nothing_installed(&outcome),
    )?;
    Ok(exit::OK)
}
