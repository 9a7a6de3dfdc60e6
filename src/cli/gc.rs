//! `lvm gc`: removes store entries no recent state needs, for this environment and the others
//! under the lvm home that share the store.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, outcome};
use lvm::ops::gc;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm gc --dry-run        what would be removed
  lvm gc                  remove what no state of any profile needs
  lvm gc --older-than 30  also what only states older than 30 days need
  lvm gc --json           what was removed and kept, as JSON

Every state in the history of every profile is kept (so rollback works offline), for this
environment and for every environment sharing the lvm home: the named ones and those lvm
registered when it created or opened them (LVM_ENV paths, a project's .lvm folder). An
environment it never saw may miss something after a gc: `lvm sync` there rebuilds it.

Lua runtimes (`lvm runtime list`) are removed when no profile of those environments targets
their Lua, or when a newer build replaced them (another compiler, another lvm). Cached source
archives (downloaded over HTTP(S), kept in the lvm home's cache/sources) go when no kept
state was built from them, and rockspec evaluations remembered by older lvm builds (in
cache/rockspecs) go too.")]
pub struct GcArgs {
    /// Print what was removed and kept as a JSON object: dry_run, removed (each store entry's
    /// key, name and version), freed_bytes, kept, other_environments, runtimes_removed (as
    /// `lvm runtime list --json` shows them), archives_removed (the cached source archives'
    /// paths), archives_freed_bytes, rockspec_memos_removed and rockspec_memos_freed_bytes.
    #[arg(long)]
    pub json: bool,
    /// Also drop store entries only needed by states older than this many days.
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u32>,
    /// Show what would be removed without removing it.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn exec(ctx: &Context, args: GcArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let report = gc::gc(&env, args.older_than, args.dry_run)?;
    outcome::print(ctx, args.json, gc_json(&report), gc_text(&report))?;
    Ok(exit::OK)
}

/// `lvm gc` for people: what was (or would be) removed and why the rest stays.
fn gc_text(report: &gc::GcOutcome) -> String {
    let verb = if report.dry_run {
        "Would remove"
    } else {
        "Removed"
    };
    let mut out = format!(
        "{verb} {} store entries ({} bytes); kept {} needed by this environment and {} other(s) sharing {}",
        report.store.removed.len(),
        report.store.freed_bytes,
        report.kept,
        report.other_environments,
        report.home.display()
    );
    for entry in &report.store.removed {
        match &entry.meta {
            Some(meta) => out.push_str(&format!("\n  {} {}", meta.name, meta.version)),
            None => out.push_str(&format!("\n  {} (unreadable metadata)", entry.key)),
        }
    }
    if !report.archives.removed.is_empty() {
        out.push_str(&format!(
            "\n{verb} {} cached source archive(s) no kept state was built from ({} bytes)",
            report.archives.removed.len(),
            report.archives.freed_bytes
        ));
    }
    if report.rockspec_memos.files > 0 {
        out.push_str(&format!(
            "\n{verb} {} rockspec evaluation(s) older lvm builds remembered ({} bytes)",
            report.rockspec_memos.files, report.rockspec_memos.freed_bytes
        ));
    }
    if !report.runtimes.is_empty() {
        out.push_str(&format!(
            "\n{verb} {} Lua runtime(s) no environment needs:",
            report.runtimes.len()
        ));
        for runtime in &report.runtimes {
            out.push_str(&format!("\n  {}", runtime.name));
        }
    }
    out
}

fn gc_json(report: &gc::GcOutcome) -> serde_json::Value {
    let removed: Vec<serde_json::Value> = report
        .store
        .removed
        .iter()
        .map(|entry| {
            serde_json::json!({
                "key": entry.key.to_string(),
                "name": entry.meta.as_ref().map(|m| m.name.clone()),
                "version": entry.meta.as_ref().map(|m| m.version.clone()),
            })
        })
        .collect();
    serde_json::json!({
        "dry_run": report.dry_run,
        "removed": removed,
        "freed_bytes": report.store.freed_bytes,
        "kept": report.kept,
        "other_environments": report.other_environments,
        "runtimes_removed": report.runtimes,
        "archives_removed": report.archives.removed,
        "archives_freed_bytes": report.archives.freed_bytes,
        "rockspec_memos_removed": report.rockspec_memos.files,
        "rockspec_memos_freed_bytes": report.rockspec_memos.freed_bytes,
    })
}
