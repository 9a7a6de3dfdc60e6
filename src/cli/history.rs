//! `lvm log`, `lvm show-event`, `lvm rollback`, `lvm diff` and `lvm verify`.

use std::io::{IsTerminal, Write};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use super::{Context, exit, print_json};
use lvm::env::Environment;
use lvm::envrepo::short;
use lvm::manifest::{self, Change};
use lvm::ops::rollback::{self, RollbackSpec};
use lvm::ops::{diff, stats, verify};

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Show at most N events.
    #[arg(short = 'n', long = "max-count")]
    pub max_count: Option<usize>,
    /// List each event's package changes.
    #[arg(long)]
    pub stat: bool,
    #[arg(long)]
    pub json: bool,
}

/// For commands that only read the history: libgit2 re-hashes every object it reads to check
/// it, which makes walking a long history (`lvm log --stat`, `--json`, `lvm stats`) about a
/// third slower. `lvm verify` keeps the check.
fn reading_only() {
    git2::opts::strict_hash_verification(false);
}

pub fn log(ctx: &Context, args: LogArgs) -> Result<i32> {
    reading_only();
    let env = ctx.open()?;
    if !args.json && !args.stat {
        return plain_log(&env, args.max_count);
    }
    let events = env.history(args.max_count)?;
    if args.json {
        let out: Vec<_> = events
            .iter()
            .map(|e| serde_json::json!({"commit": e.commit.to_string(), "event": e.event}))
            .collect();
        print_json(&out)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    for logged in &events {
        let e = &logged.event;
        out.push_str(&format!(
            "{} {} {}\n",
            short(logged.commit),
            e.timestamp.format(TIME_FORMAT),
            e.summary()
        ));
        for change in &e.changes {
            out.push_str(&format!("    {}\n", change.summary()));
        }
    }
    print!("{out}");
    Ok(exit::OK)
}

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// `lvm log` without `--stat`/`--json`: one line per event from the commit alone (its subject
/// is the event's summary, its time the event's), printed as the history is walked.
fn plain_log(env: &Environment, max_count: Option<usize>) -> Result<i32> {
    let format: Vec<chrono::format::Item> =
        chrono::format::StrftimeItems::new(TIME_FORMAT).collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let cached = max_count.is_none_or(|n| n > SHORT_LOG);
    let mut lines = env.repo.log_lines(env.head()?, cached);
    for line in lines.by_ref().take(max_count.unwrap_or(usize::MAX)) {
        let line = line?;
        writeln!(
            out,
            "{} {} {}",
            short(line.commit),
            line.time.format_with_items(format.iter()),
            line.summary
        )?;
    }
    lines.finish();
    out.flush()?;
    Ok(exit::OK)
}

/// Up to this many events, `lvm log -n N` reads the commits rather than the log cache.
const SHORT_LOG: usize = 200;

#[derive(Debug, Args)]
pub struct ShowEventArgs {
    /// A commit id (or prefix), HEAD~N, or a profile name.
    #[arg(default_value = "HEAD")]
    pub rev: String,
}

pub fn show_event(ctx: &Context, args: ShowEventArgs) -> Result<i32> {
    reading_only();
    let env = ctx.open()?;
    let commit = env.repo.resolve_rev(&args.rev)?;
    let logged = env.repo.log(commit, Some(1))?;
    let Some(first) = logged.first() else {
        bail!("no event at {}", args.rev);
    };
    print_json(&serde_json::json!({"commit": first.commit.to_string(), "event": first.event}))?;
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Print the outcome as JSON (the target, the changes, whether settings were restored).
    #[arg(long)]
    pub json: bool,
    /// How many events to undo (a number), or the revision to return to. Default: undo the last.
    pub target: Option<String>,
    /// Return to the state as of this date (RFC 3339, or YYYY-MM-DD[ HH:MM[:SS]], UTC).
    #[arg(long, conflicts_with = "target")]
    pub to: Option<String>,
}

pub fn rollback(ctx: &Context, args: RollbackArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let spec = RollbackSpec::from_args(args.target.as_deref(), args.to.as_deref())?;
    let rolled = rollback::rollback(&env, &spec)?;
    let changes: Vec<_> = rolled.changes.iter().map(diff::change_json).collect();
    let json = serde_json::json!({
        "target": rolled.target,
        "switched_profile": rolled.switched_profile,
        "changes": changes,
        "settings_restored": rolled.settings_restored,
    });
    super::outcome::print(ctx, args.json, json, rollback_text(&rolled))?;
    Ok(exit::OK)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// From this revision or profile (default: the previous event).
    pub from: Option<String>,
    /// To this revision or profile (default: the current state).
    pub to: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

pub fn diff(ctx: &Context, args: DiffArgs) -> Result<i32> {
    reading_only();
    let env = ctx.open()?;
    let to_rev = args.to.clone().unwrap_or_else(|| "HEAD".into());
    let from_rev = args.from.clone().unwrap_or_else(|| "HEAD~1".into());
    let from = env.repo.resolve_rev(&from_rev)?;
    let to = env.repo.resolve_rev(&to_rev)?;
    let changes = manifest::diff(&env.repo.manifest_at(from)?, &env.repo.manifest_at(to)?);
    if args.json {
        let out: Vec<_> = changes.iter().map(diff::change_json).collect();
        print_json(&serde_json::json!({"from": from_rev, "to": to_rev, "changes": out}))?;
        return Ok(exit::OK);
    }
    match args.format {
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

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Rebuild what differs (tree files, working files) from the store.
    #[arg(long)]
    pub repair: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn verify(ctx: &Context, args: VerifyArgs) -> Result<i32> {
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

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long)]
    pub json: bool,
}

/// `lvm stats`: time per command kind and phase, store hit rate, slowest builds, tree growth.
pub fn stats(ctx: &Context, args: StatsArgs) -> Result<i32> {
    reading_only();
    let env = ctx.open()?;
    let stats = stats::environment_stats(&env)?;
    if args.json {
        print_json(&stats)?;
        return Ok(exit::OK);
    }
    println!("{} events", stats.events);
    println!("time per command kind:");
    for (kind, k) in &stats.by_kind {
        println!("  {kind:<16} {:>5} events {:>9} ms", k.count, k.total_ms);
    }
    println!("time per phase:");
    for (phase, ms) in &stats.by_phase {
        println!("  {phase:<16} {ms:>9} ms");
    }
    match stats.hit_rate_percent {
        Some(rate) => println!(
            "store: {} hits, {} builds ({rate}% hit rate)",
            stats.store_hits, stats.builds
        ),
        None => println!("store: nothing installed yet"),
    }
    if !stats.slowest_builds.is_empty() {
        println!("slowest builds:");
        for slow in &stats.slowest_builds {
            println!(
                "  {:>7} ms  {}  {}",
                slow.build_ms,
                &slow.commit[..slow.commit.len().min(10)],
                slow.summary
            );
        }
    }
    let growth: Vec<String> = stats
        .packages_over_time
        .iter()
        .map(|n| n.to_string())
        .collect();
    println!("packages after each event: {}", growth.join(" "));
    Ok(exit::OK)
}

/// What `lvm rollback` says: the profile it switched back to, or the state it returned to
/// with the package changes.
fn rollback_text(rolled: &rollback::RollbackOutcome) -> String {
    if let Some(p) = &rolled.switched_profile {
        return format!("Switched back to profile '{p}'");
    }
    if rolled.changes.is_empty() && !rolled.settings_restored {
        return format!("Already at the state of {}; nothing to do", rolled.target);
    }
    let mut out = format!("Rolled back to {}:\n", rolled.target);
    for c in &rolled.changes {
        out.push_str(&format!("  {}\n", c.summary()));
    }
    if rolled.settings_restored {
        out.push_str("  settings (lvm.toml) restored\n");
    }
    out
}
