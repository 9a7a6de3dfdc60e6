//! `lvm sync`: makes the tree match manifest.json, and prints the outcome of a sync (also for
//! `lvm pull` and `lvm clone`, which end with one).

use anyhow::Result;
use clap::Args;

use super::{Context, exit};
use lvm::envrepo::short;
use lvm::ops::sync::{self, SyncOptions, SyncReport};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm sync                     rebuild the tree from manifest.json
  lvm sync --env ./shared-env  the same for another environment
  lvm sync --frozen            in CI: exactly the project's committed .lvm/manifest.json, or fail")]
pub struct SyncArgs {
    /// In a project: build exactly the committed .lvm/manifest.json and fail, changing
    /// nothing, when it is missing, unreadable, conflicted, from a newer lvm or does not
    /// satisfy the project's rockspec (see docs/projects.md).
    #[arg(long)]
    pub frozen: bool,
}

pub fn exec(ctx: &Context, args: SyncArgs) -> Result<i32> {
    if args.frozen {
        // Before opening: in a fresh clone, opening starts lvm's history.
        sync::check_frozen(&ctx.env_path()?)?;
    }
    // Syncing is the answer to the note about changed project files: no note here.
    let env = ctx.open_without_note()?;
    let options = SyncOptions {
        frozen: args.frozen,
    };
    let report = sync::sync_with(&env, ctx.lock_timeout, options)?;
    Ok(print_sync(ctx, &report))
}

/// Prints a sync's outcome; the exit code says whether verification found problems.
pub(super) fn print_sync(ctx: &Context, report: &SyncReport) -> i32 {
    if let Some((commit, changes)) = &report.recorded {
        if !ctx.quiet {
            println!(
                "Recorded commits made outside lvm as sync event {}",
                short(*commit)
            );
            for c in changes {
                println!("  {}", c.summary());
            }
        }
    }
    if report.problems.is_empty() {
        if !ctx.quiet {
            println!(
                "In sync: the tree matches manifest.json ({}, profile '{}')",
                super::outcome::counted(report.packages, "package"),
                report.profile
            );
        }
        exit::OK
    } else {
        for p in &report.problems {
            eprintln!("problem: {p}");
        }
        eprintln!("run `lvm verify --repair` to rebuild what differs");
        exit::FAILURE
    }
}
