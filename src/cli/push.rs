//! `lvm push`: sends the current profile (or `--profile NAME`, or `--all`) to a remote, never
//! overwriting the remote's history.

use anyhow::Result;
use clap::Args;

use super::{Context, complete, exit};
use lvm::ops::push::{self, PushWhich};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm push                       the current profile to 'origin' (or the only remote)
  lvm push backup --all          every profile to remote 'backup'
  lvm push origin --profile dev  profile 'dev', without switching to it")]
pub struct PushArgs {
    /// The remote (default: 'origin', or the only one).
    #[arg(add = complete::remotes())]
    pub remote: Option<String>,
    /// Push this profile instead of the current one.
    #[arg(long, conflicts_with = "all", add = complete::profiles())]
    pub profile: Option<String>,
    /// Push every profile.
    #[arg(long)]
    pub all: bool,
}

pub fn exec(ctx: &Context, args: PushArgs) -> Result<i32> {
    let env = ctx.open()?;
    let which = match (args.profile, args.all) {
        (Some(p), _) => PushWhich::Profile(p),
        (None, true) => PushWhich::All,
        (None, false) => PushWhich::Current,
    };
    let pushed = push::push(&env, args.remote.as_deref(), &which)?;
    if !ctx.quiet {
        if pushed.is_empty() {
            println!("Everything up to date");
        }
        for p in &pushed.profiles {
            let from = p
                .from
                .as_deref()
                .map_or("(new)".to_string(), |f| f[..10.min(f.len())].to_string());
            println!("Pushed profile '{}': {from} -> {}", p.profile, &p.to[..10]);
        }
        if !pushed.tags.is_empty() {
            println!("Pushed tags: {}", pushed.tags.join(", "));
        }
    }
    Ok(exit::OK)
}
