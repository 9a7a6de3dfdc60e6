//! `lvm pull`: fetches the current profile from a remote, fast-forwards it and syncs the tree
//! (as `lvm sync` does).

use anyhow::Result;
use clap::Args;

use super::sync::print_sync;
use super::{Context, complete};
use lvm::envrepo::remotes::Relation;
use lvm::ops::pull;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm pull         from 'origin' (or the only remote)
  lvm pull backup  from remote 'backup'")]
pub struct PullArgs {
    /// The remote (default: 'origin', or the only one).
    #[arg(add = complete::remotes())]
    pub remote: Option<String>,
}

pub fn exec(ctx: &Context, args: PullArgs) -> Result<i32> {
    let env = ctx.open()?;
    let report = pull::pull(&env, args.remote.as_deref(), ctx.lock_timeout)?;
    if !ctx.quiet {
        match report.relation {
            Relation::Same => println!("Already up to date with '{}'", report.remote),
            Relation::Ahead(n) => println!(
                "Profile '{}' is {n} event(s) ahead of '{}'; nothing to pull (share them with `lvm push`)",
                report.sync.profile, report.remote
            ),
            Relation::Behind(n) => {
                println!(
                    "Fast-forwarded profile '{}' by {n} event(s) from '{}'",
                    report.sync.profile, report.remote
                );
                for c in &report.changes {
                    println!("  {}", c.summary());
                }
            }
            Relation::Diverged { .. } => {}
        }
        if !report.new_tags.is_empty() {
            println!(
                "New tags from '{}': {}",
                report.remote,
                report.new_tags.join(", ")
            );
        }
        if !report.kept_tags.is_empty() {
            println!(
                "Kept the local tags {} ('{}' has them at other events)",
                report.kept_tags.join(", "),
                report.remote
            );
        }
    }
    Ok(print_sync(ctx, &report.sync))
}
