//! `lvm remote add | list | remove`, `lvm push`, `lvm pull`, `lvm clone` and `lvm sync`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::{Context, exit, print_json};
use lvm::envrepo::short;
use lvm::ops::push::{self, PushWhich};
use lvm::ops::remote::{self, Relation};
use lvm::ops::sync::{self, SyncReport};
use lvm::ops::{clone, pull};

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote: a path, file://, ssh:// (or user@host:path), https:// or git:// URL.
    Add { name: String, url: String },
    /// List remotes with their URLs.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote (and what was fetched from it).
    Remove { name: String },
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The remote (default: 'origin', or the only one).
    pub remote: Option<String>,
    /// Push this profile instead of the current one.
    #[arg(long, conflicts_with = "all")]
    pub profile: Option<String>,
    /// Push every profile.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The remote (default: 'origin', or the only one).
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct CloneArgs {
    /// The environment repository: a path, file://, ssh:// (or user@host:path), https:// or
    /// git:// URL.
    pub url: String,
    /// Where to make the environment (default: the repository's name, in this folder).
    pub path: Option<PathBuf>,
}

pub fn remote(ctx: &Context, command: RemoteCommand) -> Result<i32> {
    let env = ctx.open()?;
    let repo = env.repo.git();
    match command {
        RemoteCommand::Add { name, url } => {
            let added = remote::remote_add(repo, &name, &url)?;
            if !ctx.quiet {
                println!("Added remote '{}' ({})", added.name, added.url);
            }
        }
        RemoteCommand::List { json } => {
            let remotes = remote::remote_list(repo)?;
            if json {
                print_json(&remotes)?;
            } else {
                for r in remotes {
                    println!("{}\t{}", r.name, r.url);
                }
            }
        }
        RemoteCommand::Remove { name } => {
            remote::remote_remove(repo, &name)?;
            if !ctx.quiet {
                println!("Removed remote '{name}'");
            }
        }
    }
    Ok(exit::OK)
}

pub fn push(ctx: &Context, args: PushArgs) -> Result<i32> {
    let env = ctx.open()?;
    let which = match (args.profile, args.all) {
        (Some(p), _) => PushWhich::Profile(p),
        (None, true) => PushWhich::All,
        (None, false) => PushWhich::Current,
    };
    let pushed = push::push(&env, args.remote.as_deref(), &which)?;
    if !ctx.quiet {
        if pushed.is_empty() {
            println!("Everything up to date");
        }
        for p in pushed {
            let from = p
                .from
                .as_deref()
                .map_or("(new)".to_string(), |f| f[..10.min(f.len())].to_string());
            println!("Pushed profile '{}': {from} -> {}", p.profile, &p.to[..10]);
        }
    }
    Ok(exit::OK)
}

pub fn pull(ctx: &Context, args: PullArgs) -> Result<i32> {
    let env = ctx.open()?;
    let report = pull::pull(&env, args.remote.as_deref(), ctx.lock_timeout)?;
    if !ctx.quiet {
        match report.relation {
            Relation::Same => println!("Already up to date with '{}'", report.remote),
            Relation::Ahead(n) => println!(
                "Profile '{}' is {n} event(s) ahead of '{}'; nothing to pull (share them with `lvm push`)",
                report.sync.profile, report.remote
            ),
            Relation::Behind(n) => {
                println!(
                    "Fast-forwarded profile '{}' by {n} event(s) from '{}'",
                    report.sync.profile, report.remote
                );
                for c in &report.changes {
                    println!("  {}", c.summary());
                }
            }
            Relation::Diverged { .. } => {}
        }
    }
    Ok(print_sync(ctx, &report.sync))
}

pub fn clone(ctx: &Context, args: CloneArgs) -> Result<i32> {
    let path = args
        .path
        .unwrap_or_else(|| clone::default_clone_dir(&args.url));
    let report = clone::clone(&args.url, &path, ctx.home.clone(), ctx.lock_timeout)?;
    if !ctx.quiet {
        println!(
            "Cloned {} into {} (profiles: {})",
            args.url,
            report.path.display(),
            report.profiles.join(", ")
        );
    }
    Ok(print_sync(ctx, &report.sync))
}

pub fn sync(ctx: &Context) -> Result<i32> {
    let env = ctx.open()?;
    let report = sync::sync(&env, ctx.lock_timeout)?;
    Ok(print_sync(ctx, &report))
}

/// Prints a sync's outcome; the exit code says whether verification found problems.
fn print_sync(ctx: &Context, report: &SyncReport) -> i32 {
    if let Some((commit, changes)) = &report.recorded {
        if !ctx.quiet {
            println!(
                "Recorded commits made outside lvm as sync event {}",
                short(*commit)
            );
            for c in changes {
                println!("  {}", c.summary());
            }
        }
    }
    if report.problems.is_empty() {
        if !ctx.quiet {
            println!(
                "In sync: the tree matches manifest.json ({} packages, profile '{}')",
                report.packages, report.profile
            );
        }
        exit::OK
    } else {
        for p in &report.problems {
            eprintln!("problem: {p}");
        }
        eprintln!("run `lvm verify --repair` to rebuild what differs");
        exit::FAILURE
    }
}
