//! `lvm setup`: installs a curated profile on the profile branch of the same name (also for
//! `lvm init --profile`), or with `--interactive` picks curated packages in a checklist.

use anyhow::Result;
use clap::Args;

use super::servers::normalize_server;
use super::{Context, exit};
use lvm::curator;
use lvm::ops::install::ServerChoice;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm setup standard          core, networking, parsing and test tools
  lvm setup standard --prod   the same without dev-only packages
  lvm profiles                what each profile installs
  lvm setup --interactive     tick curated packages in a checklist (current profile)
  lvm setup standard --interactive   the same with standard's packages ticked, on its branch

With --interactive, the checklist lists every package of the curated collections, the installed
ones ticked; on enter, ticked packages that are missing are installed and unticked ones that were
requested are no longer requested (they go unless another package needs them), all as one event
on the current profile. With a PROFILE, its packages (without dev-only ones with --prod) are
ticked too, and the picks are applied on the profile branch PROFILE (created and switched to as
`lvm setup PROFILE` does) as a setup of it. It needs a terminal.")]
pub struct SetupArgs {
    /// A curated profile (see `lvm profiles`).
    #[arg(required_unless_present = "interactive")]
    pub profile: Option<String>,
    /// Production: leave out dev-only packages (test tools).
    #[arg(long, requires = "profile")]
    pub prod: bool,
    /// Pick curated packages in a terminal checklist instead of installing a profile.
    #[arg(long)]
    pub interactive: bool,
    /// Also use this rocks server, before the configured ones (repeatable).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
}

pub fn exec(ctx: &Context, args: SetupArgs) -> Result<i32> {
    if args.interactive {
        if let Some(code) = super::interactive::require_terminal("`lvm setup PROFILE`") {
            return Ok(code);
        }
    }
    let servers = args
        .servers
        .iter()
        .map(|s| normalize_server(s))
        .collect::<Result<Vec<_>>>()?;
    let choice = ServerChoice::Extra(servers);
    if args.interactive {
        let profile = args
            .profile
            .as_deref()
            .map(|name| super::interactive::ProfileSetup {
                name,
                prod: args.prod,
            });
        return super::interactive::setup(ctx, &choice, profile);
    }
    let Some(profile) = args.profile else {
        anyhow::bail!("name a profile to set up (see `lvm profiles`), or pass --interactive");
    };
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    setup_profile(ctx, &env, &profile, args.prod, &choice)
}

/// Installs a curated profile into an open, locked environment (also for `lvm init --profile`).
pub fn setup_profile(
    ctx: &Context,
    env: &lvm::env::WriteLock<'_>,
    profile: &str,
    prod: bool,
    choice: &ServerChoice,
) -> Result<i32> {
    let catalog = curator::load_catalog(env)?;
    let setup = curator::setup(env, &catalog, profile, prod, choice)?;
    if !ctx.quiet {
        println!("{}", setup_text(&setup));
    }
    Ok(exit::OK)
}

/// What `lvm setup` says: the branch it created or switched to, the install, and what a
/// production setup left out.
fn setup_text(setup: &curator::SetupOutcome) -> String {
    let mut out = String::new();
    if setup.created_branch {
        out.push_str(&format!("Created profile '{}'\n", setup.profile));
    }
    if let Some(from) = &setup.switched_from {
        out.push_str(&format!(
            "Switched from profile '{from}' to '{}'\n",
            setup.profile
        ));
    }
    let install = &setup.install;
    let headline = super::outcome::headline(
        install,
        "Installed",
        &super::outcome::nothing_installed(install),
    );
    out.push_str(&super::outcome::text(install, &headline));
    out.push('\n');
    if !setup.left_out.is_empty() {
        let names: Vec<&str> = setup.left_out.iter().map(|p| p.name.as_str()).collect();
        out.push_str(&format!(
            "\nLeft out (dev-only, --prod): {}",
            names.join(", ")
        ));
    }
    if !setup.left_out_installed.is_empty() {
        out.push_str(&format!(
            "\nStill installed from an earlier development setup: {} (remove with `{}`)",
            setup.left_out_installed.join(", "),
            curator::remove_command(&setup.left_out_installed)
        ));
    }
    out
}
