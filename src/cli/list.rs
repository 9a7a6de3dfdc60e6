//! `lvm list`: the installed packages, each with why it is there (requested, or a dependency of
//! which packages) and whether it is linked or made from a local directory.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm list         name, version and why each package is installed
  lvm list --json  the same as JSON")]
pub struct ListArgs {
    /// Print the packages as a JSON array: name, version, requested (the constraint asked for,
    /// "" for any version, null when only a dependency), required_by, source and linked (the
    /// working directory of a linked package, else null).
    #[arg(long)]
    pub json: bool,
}

pub fn exec(ctx: &Context, args: ListArgs) -> Result<i32> {
    let env = ctx.open()?;
    let manifest = env.manifest()?;
    if args.json {
        let out: Vec<_> = manifest
            .packages
            .iter()
            .map(|(name, p)| {
                serde_json::json!({
                    "name": name, "version": p.version.to_string(),
                    "requested": p.reason.requested, "required_by": p.reason.required_by,
                    "source": p.source.describe(),
                    "linked": p.source.linked_path(),
                    "lua": manifest.lua,
                })
            })
            .collect();
        print_json(&out)?;
        return Ok(exit::OK);
    }
    if manifest.packages.is_empty() {
        println!(
            "No packages installed in {} (profile '{}', Lua {})",
            env.root().display(),
            env.profile()?,
            manifest.lua
        );
    }
    for (name, p) in &manifest.packages {
        let why = match &p.reason.requested {
            Some(c) if c.is_empty() => "requested".to_string(),
            Some(c) => format!("requested {c}"),
            None => format!("dependency of {}", p.reason.required_by.join(", ")),
        };
        let mark = match &p.source {
            lvm::manifest::PackageSource::Linked { path, .. } => format!("  [linked to {path}]"),
            lvm::manifest::PackageSource::Local { path, .. } => format!("  [made from {path}]"),
            _ => String::new(),
        };
        println!("{name} {}  ({why}){mark}", p.version);
    }
    Ok(exit::OK)
}
