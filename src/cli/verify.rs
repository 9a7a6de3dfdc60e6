//! `lvm verify`: checks that the log, manifest.json and the tree agree; with `--repair`,
//! rebuilds what differs from the store.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};
use lvm::ops::verify;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm verify           check; exit 1 on a problem
  lvm verify --repair  rebuild what differs from the store
  lvm verify --json    the report as JSON")]
pub struct VerifyArgs {
    /// Rebuild what differs (tree files, working files) from the store.
    #[arg(long)]
    pub repair: bool,
    /// Print the report as a JSON object: events, packages, problems, linked (name and path of
    /// each linked package), repaired, rebuilt_store_entries and remaining (the problems left).
    #[arg(long)]
    pub json: bool,
}

pub fn exec(ctx: &Context, args: VerifyArgs) -> Result<i32> {
    let env = ctx.open()?;
    let report = verify::verify(&env)?;
    let mut rebuilt = Vec::new();
    let remaining = if args.repair && !report.is_ok() {
        let env = env.lock_only(ctx.lock_timeout)?;
        // Another writer may have changed things while we waited: repair what is broken now.
        let current = verify::verify(&env)?;
        if !current.is_ok() {
            rebuilt = verify::repair(&env, &current)?.rebuilt;
        }
        verify::verify(&env)?.problems
    } else {
        report.problems.clone()
    };
    if args.json {
        print_json(&serde_json::json!({
            "events": report.events,
            "packages": report.packages,
            "problems": report.problems,
            "linked": report.linked.iter().map(|(name, path)| serde_json::json!({"name": name, "path": path})).collect::<Vec<_>>(),
            "repaired": args.repair && !report.is_ok(),
            "rebuilt_store_entries": rebuilt,
            "remaining": remaining,
        }))?;
    } else {
        for (name, path) in &report.linked {
            println!("{name}: linked to {path} (its Lua files are not checked against the store)");
        }
        for p in &report.problems {
            println!("problem: {p}");
        }
        if args.repair && !report.is_ok() {
            for name in &rebuilt {
                println!("rebuilt the store entry of {name}");
            }
            if remaining.is_empty() {
                println!("repaired: the environment now matches its log");
            } else {
                for p in &remaining {
                    println!("still broken: {p}");
                }
            }
        } else if report.is_ok() {
            println!(
                "ok: {} events replay to manifest.json; {} packages, every tree file matches the store",
                report.events, report.packages
            );
        }
    }
    Ok(if remaining.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}
