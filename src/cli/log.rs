//! `lvm log` (the environment's history of events) and `lvm show-event` (one event in full, as
//! JSON), with the switch every command that only reads the history uses.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, bail};
use clap::Args;

use super::{Context, exit, print_json};
use lvm::env::Environment;
use lvm::envrepo::short;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm log              one line per event, newest first
  lvm log -n 5 --stat  the last five events with their package changes
  lvm log --json       every event in full, as JSON")]
pub struct LogArgs {
    /// Show at most N events.
    #[arg(short = 'n', long = "max-count")]
    pub max_count: Option<usize>,
    /// List each event's package changes.
    #[arg(long)]
    pub stat: bool,
    /// Print the events as a JSON array, newest first, each with its commit and the event in
    /// full (as `lvm show-event` prints it).
    #[arg(long)]
    pub json: bool,
}

/// For commands that only read the history: libgit2 re-hashes every object it reads to check
/// it, which makes walking a long history (`lvm log --stat`, `--json`, `lvm stats`) about a
/// third slower, and was 15% of the instructions of an `lvm run` start (its SHA-1 with
/// collision detection, over the state's manifest.json). `lvm verify` keeps the check.
pub(super) fn reading_only() {
    git2::opts::strict_hash_verification(false);
}

pub fn log(ctx: &Context, args: LogArgs) -> Result<i32> {
    reading_only();
    let env = ctx.open()?;
    if !args.json && !args.stat {
        return plain_log(&env, args.max_count);
    }
    let events = env.history(args.max_count)?;
    let tags = env.repo().tags_by_commit()?;
    if args.json {
        let out: Vec<_> = events
            .iter()
            .map(|e| {
                let mut entry =
                    serde_json::json!({"commit": e.commit.to_string(), "event": e.event});
                if let Some(names) = tags.get(&e.commit) {
                    entry["tags"] = serde_json::json!(names);
                }
                entry
            })
            .collect();
        print_json(&out)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    for logged in &events {
        let e = &logged.event;
        out.push_str(&format!(
            "{} {} {}{}\n",
            short(logged.commit),
            e.timestamp.format(TIME_FORMAT),
            e.summary(),
            tag_suffix(&tags, logged.commit)
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
    let tags = env.repo().tags_by_commit()?;
    let mut lines = env.repo().log_lines(env.head()?, cached);
    for line in lines.by_ref().take(max_count.unwrap_or(usize::MAX)) {
        let line = line?;
        writeln!(
            out,
            "{} {} {}{}",
            short(line.commit),
            line.time.format_with_items(format.iter()),
            line.summary,
            tag_suffix(&tags, line.commit)
        )?;
    }
    lines.finish();
    out.flush()?;
    Ok(exit::OK)
}

/// ` (tag: v1, tag: v2)` after an event that has tags, like `git log --decorate`.
fn tag_suffix(tags: &BTreeMap<git2::Oid, Vec<String>>, commit: git2::Oid) -> String {
    match tags.get(&commit) {
        Some(names) => {
            let shown: Vec<String> = names.iter().map(|n| format!("tag: {n}")).collect();
            format!(" ({})", shown.join(", "))
        }
        None => String::new(),
    }
}

/// Up to this many events, `lvm log -n N` reads the commits rather than the log cache.
const SHORT_LOG: usize = 200;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm show-event         the last event, as JSON
  lvm show-event HEAD~2  two events before the last
  lvm show-event dev     the last event of profile 'dev'")]
pub struct ShowEventArgs {
    /// A commit id (or prefix), HEAD~N, or a profile name.
    #[arg(default_value = "HEAD")]
    pub rev: String,
}

pub fn show_event(ctx: &Context, args: ShowEventArgs) -> Result<i32> {
    reading_only();
    let env = ctx.open()?;
    let commit = env.repo().resolve_rev(&args.rev)?;
    let logged = env.repo().log(commit, Some(1))?;
    let Some(first) = logged.first() else {
        bail!("no event at {}", args.rev);
    };
    print_json(&serde_json::json!({"commit": first.commit.to_string(), "event": first.event}))?;
    Ok(exit::OK)
}
