//! `lvm blame [NAME...]`: for each installed package, the event that brought its version,
//! when, by whom, and why it is installed.

use anyhow::Result;
use clap::Args;

use super::{Context, complete, exit, print_json};
use lvm::envrepo::short;
use lvm::ops::blame::{self, Blame};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm blame                 every installed package
  lvm blame chain-c         one package: which event brought it, when, by whom, why
  lvm blame --json          the same as JSON")]
pub struct BlameArgs {
    /// Packages to blame (default: every installed one).
    #[arg(add = complete::packages())]
    pub names: Vec<String>,
    /// Print a JSON array: name, version, commit, event (kind, summary), time, author,
    /// requested, from_cache (the build cache its event fetched it from: cache, signed_by,
    /// bytes, ms; null when built or in the store) and required_by (each dependent with its
    /// dependency as written).
    #[arg(long)]
    pub json: bool,
}

pub fn exec(ctx: &Context, args: BlameArgs) -> Result<i32> {
    super::log::reading_only();
    let env = ctx.open()?;
    let blamed = blame::blame(&env, &args.names)?;
    if args.json {
        print_json(&blamed.iter().map(blame_json).collect::<Vec<_>>())?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    for b in &blamed {
        let when = b.when().map_or("-".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        });
        let commit = b
            .event
            .as_ref()
            .map_or("(no event)".into(), |e| short(e.commit));
        out.push_str(&format!(
            "{} {} {commit} {when} {}\n",
            b.name,
            b.version,
            b.author.as_deref().unwrap_or("-")
        ));
        if let Some(e) = &b.event {
            out.push_str(&format!("    by:  {}\n", e.summary));
        }
        if let Some(hit) = b.from_cache() {
            out.push_str(&format!(
                "    build: from cache {} (signed by {})\n",
                hit.cache, hit.signed_by
            ));
        }
        out.push_str(&format!("    why: {}\n", reason_text(b)));
    }
    print!("{out}");
    Ok(exit::OK)
}

/// `requested (>= 1.0)`, `dependency of chain-a (chain-b >= 1.0)`, or both.
fn reason_text(b: &Blame) -> String {
    let mut parts = Vec::new();
    match b.requested.as_deref() {
        Some("") => parts.push("requested (any version)".to_string()),
        Some(c) => parts.push(format!("requested ({c})")),
        None => {}
    }
    for d in &b.required_by {
        parts.push(format!("dependency of {} ({})", d.dependent, d.dependency));
    }
    if parts.is_empty() {
        parts.push("neither requested nor needed (an orphan)".into());
    }
    parts.join("; ")
}

fn blame_json(b: &Blame) -> serde_json::Value {
    serde_json::json!({
        "name": b.name,
        "version": b.version.to_string(),
        "commit": b.event.as_ref().map(|e| e.commit.to_string()),
        "kind": b.event.as_ref().map(|e| e.kind.as_str()),
        "summary": b.event.as_ref().map(|e| e.summary.clone()),
        // As the event JSON writes its timestamp.
        "time": b.when(),
        "author": b.author,
        "requested": b.requested,
        "from_cache": b.from_cache(),
        "required_by": b.required_by.iter().map(|d| serde_json::json!({
            "name": d.dependent, "dependency": d.dependency,
        })).collect::<Vec<_>>(),
    })
}
