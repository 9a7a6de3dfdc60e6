//! `lvm sync`: makes the tree match manifest.json, and prints the outcome of a sync (also for
//! `lvm pull` and `lvm clone`, which end with one).

use anyhow::Result;

use super::{Context, exit};
use lvm::envrepo::short;
use lvm::ops::sync::{self, SyncReport};

pub fn exec(ctx: &Context) -> Result<i32> {
    let env = ctx.open()?;
    let report = sync::sync(&env, ctx.lock_timeout)?;
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
                "In sync: the tree matches manifest.json ({} packages, profile '{}')",
                report.packages, report.profile
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
