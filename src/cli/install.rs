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
  lvm install penlight scm-1           a development version (without --dev)
  lvm --dev install penlight           also read each server's dev sub-server; scm/dev win
  lvm install luasec OPENSSL_DIR=/opt/ssl   a build variable, as with luarocks install
  lvm install 'penlight >= 1.13, < 2'  a constraint
  lvm install ./foo-1.0-1.rockspec     a local rockspec
  lvm install https://rocks.example.org/foo-1.0-1.rockspec
  lvm install ./foo-1.0-1.src.rock     a source rock (built) or a binary rock such as
                                       foo-1.0-1.all.rock (installed as it is)
  lvm install --deps-only .            what the project here needs, not the project
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
    /// Package names (optionally followed by a version or constraint), rockspec files or URLs,
    /// rock files or URLs (.src.rock, .all.rock, .linux-x86_64.rock), git URLs
    /// (git+https://..., git+file://...[@ref]) or paths to git repositories, and build
    /// variables as NAME=VALUE for every build of the command. With --interactive: one search
    /// term (default: every package). With --deps-only: one rockspec or project folder.
    #[arg(required_unless_present_any = ["interactive", "deps_only"])]
    pub targets: Vec<String>,
    /// Install the dependencies of a rockspec or project folder (the only argument, default:
    /// the current folder), not the project itself (like `luarocks install --deps-only`).
    #[arg(long, conflicts_with = "interactive")]
    pub deps_only: bool,
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
    let (targets, event_args) = if args.deps_only {
        let project = match args.targets.as_slice() {
            [] => ".".to_string(),
            [one] => one.clone(),
            _ => anyhow::bail!(
                "--deps-only takes one rockspec or project folder, not {} arguments",
                args.targets.len()
            ),
        };
        let targets = install::dependency_targets(std::path::Path::new(&project))?;
        // Recorded as written, with the path made absolute (`./` so it reads as a path).
        let shown = match project.contains('/') || project == "." {
            true => project,
            false => format!("./{project}"),
        };
        (targets, vec!["--deps-only".to_string(), shown])
    } else {
        (install::parse_targets(&args.targets)?, args.targets.clone())
    };
    let choice = args.servers.choice()?;
    let outcome = install::install(&env, ctx.lock_timeout, &targets, &choice, &event_args)?;
    outcome::report(
        ctx,
        args.json,
        &outcome,
        "Installed",
        &outcome::nothing_installed(&outcome),
    )?;
    Ok(exit::OK)
}
