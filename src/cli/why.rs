//! `lvm why NAME`: the dependency paths from what the user asked for down to one installed
//! package, with the constraint at every step.

use anyhow::Result;
use clap::Args;

use super::{Context, complete, exit, print_json};
use lvm::ops::history::Step;
use lvm::ops::why::{self, MAX_PATHS};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm why chain-c         every path from a requested package down to chain-c
  lvm why chain-c --json  the same as JSON")]
pub struct WhyArgs {
    /// An installed package.
    #[arg(add = complete::packages())]
    pub name: String,
    /// Print a JSON object: name, version, requested, paths (each a list of steps from a
    /// requested package down: name, version, requested, via) and truncated.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(ctx: &Context, args: WhyArgs) -> Result<i32> {
    let env = ctx.open()?;
    let why = why::why(&env, &args.name)?;
    if args.json {
        print_json(&serde_json::json!({
            "name": why.name,
            "version": why.version.to_string(),
            "requested": why.requested,
            "paths": why.paths.iter().map(|p| p.iter().map(step_json).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "truncated": why.truncated,
        }))?;
        return Ok(exit::OK);
    }
    let mut out = format!("{} {}\n", why.name, why.version);
    if why.paths.is_empty() {
        out.push_str("  neither requested nor needed by a requested package (an orphan)\n");
    }
    for path in &why.paths {
        let steps: Vec<String> = path.iter().map(step_text).collect();
        out.push_str(&format!("  {}\n", steps.join(" → ")));
    }
    if why.truncated {
        out.push_str(&format!("  (only the first {MAX_PATHS} paths are shown)\n"));
    }
    print!("{out}");
    Ok(exit::OK)
}

/// `chain-a 1.0-1 (requested: any version)` for the top, `chain-b 1.0-1 (chain-b >= 1.0)` below.
fn step_text(step: &Step) -> String {
    match (&step.via, step.requested.as_deref()) {
        (Some(via), _) => format!("{} {} ({via})", step.name, step.version),
        (None, Some("")) => format!("{} {} (requested: any version)", step.name, step.version),
        (None, Some(c)) => format!("{} {} (requested: {c})", step.name, step.version),
        (None, None) => format!("{} {}", step.name, step.version),
    }
}

fn step_json(step: &Step) -> serde_json::Value {
    serde_json::json!({
        "name": step.name,
        "version": step.version.to_string(),
        "requested": step.requested,
        "via": step.via,
    })
}
