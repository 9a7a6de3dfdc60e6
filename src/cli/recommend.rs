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
  lvm recommend --offline --json           without update suggestions, as JSON")]
pub struct RecommendArgs {
    /// Print a JSON object: profile (the curated profile compared with: name and prod, or null)
    /// and recommendations (each with rule, packages, reason and command).
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
}

pub fn exec(ctx: &Context, args: RecommendArgs) -> Result<i32> {
    let env = ctx.open()?;
    let catalog = curator::load_catalog(&env)?;
    let (active, recs) = curator::recommend(
        &env,
        &catalog,
        &RecommendOptions {
            profile: args.profile,
            prod: args.prod.then_some(true),
            offline: args.offline,
        },
    )?;
    if args.json {
        print_json(&serde_json::json!({ "profile": active, "recommendations": recs }))?;
        return Ok(exit::OK);
    }
    if let Some(a) = &active {
        println!(
            "Compared with curated profile '{}'{}",
            a.name,
            if a.prod { " (production)" } else { "" }
        );
    }
    if recs.is_empty() {
        println!("No recommendations.");
    }
    for r in &recs {
        println!("[{}] {}", r.rule, r.reason);
        println!("    {}", r.command);
    }
    Ok(exit::OK)
}
