//! `lvm recommend`: suggestions for the environment, compared with a curated profile, each with
//! the command that applies it.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};
use lvm::curator::{self, RecommendOptions};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm recommend                            suggestions, each with the command that applies it
  lvm recommend --profile standard --prod  compared with a curated profile for production
  lvm recommend --offline --json           without update suggestions, as JSON
  lvm recommend --scan                     also from the requires of this project's Lua code
  lvm recommend --scan path/to/project     from another folder's code

--scan reads the `require` calls of every Lua file under the folder (default: the project the
environment belongs to, the folder holding its .lvm) without running them, and recommends
installing the rock that provides a required module nothing installed provides (known from the
rocks lvm has built and the rockspecs it has seen), removing requested packages no code
requires (test tools aside), and making packages only tests use (spec/, test/, *_spec.lua)
dev-only. A require with a computed name is listed as unknown. Nothing leaves the machine.")]
pub struct RecommendArgs {
    /// Print a JSON object: profile (the curated profile compared with: name and prod, or null),
    /// recommendations (each with rule, packages, reason and command) and with --scan, scan
    /// (dir, files, requires, and unknown: the requires with a computed name, each with file,
    /// line, test).
    #[arg(long)]
    pub json: bool,
    /// Compare against this curated profile (default: the one this profile was set up from).
    #[arg(long)]
    pub profile: Option<String>,
    /// Compare with the profile's production materialization (dev-only packages left out).
    #[arg(long)]
    pub prod: bool,
    /// Do not read the rocks servers (no update suggestions).
    #[arg(long)]
    pub offline: bool,
    /// Also recommend from the `require` calls of a project's Lua files (default folder: the
    /// project the environment belongs to).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "")]
    pub scan: Option<String>,
}

pub fn exec(ctx: &Context, args: RecommendArgs) -> Result<i32> {
    let env = ctx.open()?;
    let catalog = curator::load_catalog(&env)?;
    let found = curator::recommend(
        &env,
        &catalog,
        &RecommendOptions {
            profile: args.profile,
            prod: args.prod.then_some(true),
            offline: args.offline,
            scan: args.scan.map(|dir| {
                Some(std::path::PathBuf::from(dir)).filter(|d| !d.as_os_str().is_empty())
            }),
        },
    )?;
    if args.json {
        print_json(&found)?;
        return Ok(exit::OK);
    }
    if let Some(a) = &found.profile {
        println!(
            "Compared with curated profile '{}'{}",
            a.name,
            if a.prod { " (production)" } else { "" }
        );
    }
    if let Some(scan) = &found.scan {
        println!(
            "Scanned {} Lua files under {}: {} require calls, {} with a computed module name",
            scan.files,
            scan.dir,
            scan.requires,
            scan.unknown.len()
        );
        for unknown in &scan.unknown {
            println!(
                "    unknown: {}:{} (the module name is computed)",
                unknown.file, unknown.line
            );
        }
    }
    if found.recommendations.is_empty() {
        println!("No recommendations.");
    }
    for r in &found.recommendations {
        println!("[{}] {}", r.rule, r.reason);
        println!("    {}", r.command);
    }
    Ok(exit::OK)
}
