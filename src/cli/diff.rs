//! `lvm diff`: the package differences between two revisions or profiles, as text, markdown or
//! JSON.

use std::io::IsTerminal;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::log::reading_only;
use super::{Context, exit, print_json};
use lvm::manifest::{self, Change};
use lvm::ops::diff;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    /// The same as --json.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm diff                           what the last event changed
  lvm diff HEAD~3                    changes since three events ago
  lvm diff default dev               between two profiles
  lvm diff HEAD~1 --format markdown  a Markdown list, for a pull request
  lvm diff --json                    the changes as JSON")]
pub struct DiffArgs {
    /// From this revision or profile (default: the previous event).
    pub from: Option<String>,
    /// To this revision or profile (default: the current state).
    pub to: Option<String>,
    /// The changes as JSON (the same as --format json).
    #[arg(long)]
    pub json: bool,
    /// text, markdown or json.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

pub fn exec(ctx: &Context, args: DiffArgs) -> Result<i32> {
    reading_only();
    let env = ctx.open()?;
    let to_rev = args.to.clone().unwrap_or_else(|| "HEAD".into());
    let from_rev = args.from.clone().unwrap_or_else(|| "HEAD~1".into());
    let from = env.repo().resolve_rev(&from_rev)?;
    let to = env.repo().resolve_rev(&to_rev)?;
    let changes = manifest::diff(&env.repo().manifest_at(from)?, &env.repo().manifest_at(to)?);
    let format = if args.json {
        DiffFormat::Json
    } else {
        args.format
    };
    match format {
        DiffFormat::Json => {
            let out: Vec<_> = changes.iter().map(diff::change_json).collect();
            print_json(&serde_json::json!({"from": from_rev, "to": to_rev, "changes": out}))?;
        }
        DiffFormat::Markdown => print!("{}", diff::markdown(&from_rev, &to_rev, &changes)),
        DiffFormat::Text => {
            let color = ctx.color(std::io::stdout().is_terminal());
            if changes.is_empty() {
                println!("no package differences between {from_rev} and {to_rev}");
            }
            for change in &changes {
                let line = change.summary();
                let code = match change {
                    Change::Added { .. } => "32",
                    Change::Removed { .. } => "31",
                    Change::Changed { .. } => "33",
                };
                if color {
                    println!("\x1b[{code}m{line}\x1b[0m");
                } else {
                    println!("{line}");
                }
            }
        }
    }
    Ok(exit::OK)
}
