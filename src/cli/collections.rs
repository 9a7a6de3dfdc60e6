//! `lvm collections` and `lvm profiles`: the curated collections of packages, and the curated
//! profiles built from them, both listed from the catalog.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};
use lvm::curator::{self, Catalog};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the list as a JSON array: for collections, each with name, category, priority,
    /// summary, packages and file; for profiles, each with name, summary, extends, collections,
    /// dev_collections, file and packages (the packages it installs).
    #[arg(long)]
    pub json: bool,
}

/// The catalog for the current environment, or the shipped and user data when there is none.
fn catalog(ctx: &Context) -> Result<Catalog> {
    let env_path = ctx.env_path()?;
    let env_root = lvm::config::is_environment(&env_path).then_some(env_path);
    Ok(Catalog::load(&ctx.home.root, env_root.as_deref())?)
}

fn origin(file: &str) -> String {
    if curator::data::builtin_files()
        .iter()
        .any(|(f, _)| *f == file)
    {
        "shipped".into()
    } else {
        file.to_string()
    }
}

pub fn collections(ctx: &Context, args: ListArgs) -> Result<i32> {
    let catalog = catalog(ctx)?;
    let list = catalog.collections_by_priority();
    if args.json {
        print_json(&list)?;
        return Ok(exit::OK);
    }
    for (i, c) in list.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!(
            "{} [{}, priority {}] — {} ({})",
            c.name,
            c.category,
            c.priority,
            c.summary,
            origin(&c.file)
        );
        for m in &c.packages {
            let version = if m.version.is_any() {
                "any version".to_string()
            } else {
                m.version.to_string()
            };
            println!("  {:<16} {:<12} {}", m.name, version, m.rationale);
        }
    }
    Ok(exit::OK)
}

pub fn profiles(ctx: &Context, args: ListArgs) -> Result<i32> {
    let catalog = catalog(ctx)?;
    let mut out = Vec::new();
    for profile in catalog.profiles.values() {
        let plan = catalog.plan(&profile.name, false)?;
        out.push((profile, plan));
    }
    // Base profiles before the ones that extend them.
    out.sort_by_cached_key(|(p, _)| {
        (
            catalog.chain(&p.name).map(|c| c.len()).unwrap_or(0),
            p.name.clone(),
        )
    });
    if args.json {
        let json: Vec<_> = out
            .iter()
            .map(|(p, plan)| {
                serde_json::json!({
                    "name": p.name, "summary": p.summary, "extends": p.extends,
                    "collections": p.collections, "dev_collections": p.dev_collections,
                    "file": p.file, "packages": plan,
                })
            })
            .collect();
        print_json(&json)?;
        return Ok(exit::OK);
    }
    for (i, (p, plan)) in out.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let extends = p
            .extends
            .as_deref()
            .map(|e| format!(", extends {e}"))
            .unwrap_or_default();
        println!("{} — {} ({}{extends})", p.name, p.summary, origin(&p.file));
        for planned in plan {
            let version = if planned.version.is_any() {
                String::new()
            } else {
                planned.version.to_string()
            };
            let dev = if planned.dev { "  [dev only]" } else { "" };
            println!(
                "  {:<16} {:<12} from {}{dev}",
                planned.name,
                version,
                planned.via.join(", ")
            );
        }
    }
    Ok(exit::OK)
}
