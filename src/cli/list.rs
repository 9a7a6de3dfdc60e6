//! `lvm list`: the installed packages, each with why it is there (requested, or a dependency of
//! which packages) and whether it is linked or made from a local directory; `--outdated`: those
//! the rocks servers have newer versions of (like `luarocks list --outdated`).

use anyhow::Result;
use clap::Args;

use super::servers::{ServerArgs, read_scope};
use super::{Context, exit, print_json};
use lvm::ops::outdated::{OutdatedPackage, outdated};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm list              name, version and why each package is installed
  lvm list --outdated   packages with newer versions on the servers, and what the
                        constraints allow (what `lvm upgrade` would move to)
  lvm list --json       the same as JSON")]
pub struct ListArgs {
    /// Print the packages as a JSON array: name, version, requested (the constraint asked for,
    /// "" for any version, null when only a dependency), required_by, source and linked (the
    /// working directory of a linked package, else null). With --outdated: name, installed,
    /// latest, allowed (the newest the constraints allow, or null), constraints and server.
    #[arg(long)]
    pub json: bool,
    /// Only the packages the rocks servers have newer versions of.
    #[arg(long)]
    pub outdated: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: ListArgs) -> Result<i32> {
    if args.outdated {
        return list_outdated(ctx, &args);
    }
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

fn list_outdated(ctx: &Context, args: &ListArgs) -> Result<i32> {
    let (env, scope) = read_scope(ctx)?;
    let env = match env {
        Some(env) => env,
        None => ctx.open()?,
    };
    let found = outdated(&env, &scope, &args.servers.choice()?)?;
    if args.json {
        print_json(&found)?;
    } else if found.is_empty() {
        println!("Every installed package is at the newest version on the servers");
    } else {
        for package in &found {
            println!("{}", outdated_line(package));
        }
    }
    Ok(exit::OK)
}

/// `name installed → latest` and, when the constraints hold it back, what they allow.
fn outdated_line(p: &OutdatedPackage) -> String {
    let mut line = format!("{} {} → {}", p.name, p.installed, p.latest);
    match &p.allowed {
        Some(allowed) if *allowed == p.latest => {}
        Some(allowed) if *allowed == p.installed => {
            line.push_str(&format!("  (held at {} by {})", p.installed, p.constraints));
        }
        Some(allowed) => line.push_str(&format!("  ({} allows {allowed})", p.constraints)),
        None => line.push_str(&format!("  (nothing published fits {})", p.constraints)),
    }
    line.push_str(&format!("  ({})", p.server));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outdated_line_says_what_the_constraints_allow() {
        let mut p = OutdatedPackage {
            name: "chain-c".into(),
            installed: "1.0-1".into(),
            latest: "2.0-1".into(),
            allowed: Some("2.0-1".into()),
            constraints: String::new(),
            server: "file:///s".into(),
        };
        assert_eq!(outdated_line(&p), "chain-c 1.0-1 → 2.0-1  (file:///s)");
        p.allowed = Some("1.0-1".into());
        p.constraints = "~> 1.0".into();
        assert_eq!(
            outdated_line(&p),
            "chain-c 1.0-1 → 2.0-1  (held at 1.0-1 by ~> 1.0)  (file:///s)"
        );
    }
}
