//! `lvm install`, `remove`, `list`, `show`, `search`, `path`, `gc` and `sync`.

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use super::{Context, exit, outcome, print_json};
use lvm::ops::install::{self, ServerChoice};
use lvm::ops::{gc, remove, search, upgrade};

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Also use this rocks server, before the configured ones (repeatable).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// Use only this rocks server (repeatable).
    #[arg(long = "only-server", value_name = "URL", conflicts_with = "servers")]
    pub only_servers: Vec<String>,
}

impl ServerArgs {
    pub(super) fn choice(&self) -> Result<ServerChoice> {
        let norm = |list: &[String]| -> Result<Vec<String>> {
            list.iter()
                .map(|s| super::setup::normalize_server(s))
                .collect()
        };
        Ok(if !self.only_servers.is_empty() {
            ServerChoice::Only(norm(&self.only_servers)?)
        } else {
            ServerChoice::Extra(norm(&self.servers)?)
        })
    }
}

/// The environment variables that change how packages are fetched (a macro so `concat!` can
/// put it in several help texts).
macro_rules! fetch_environment {
    () => {
        "\
Environment:
  LVM_HTTP_TIMEOUT=SECONDS  how long to wait for a server to connect or to send more data
                            (default: 30 s to connect, 60 s per read)"
    };
}

#[derive(Debug, Args)]
#[command(after_help = concat!("\
Examples:
  lvm install penlight                 newest version
  lvm install penlight 1.13.1-3        an exact version
  lvm install 'penlight >= 1.13, < 2'  a constraint
  lvm install ./foo-1.0-1.rockspec     a local rockspec
  lvm install git+https://host/repo.git@v1.2
  lvm install ../my-rock               a local git checkout (write a path: ./my-rock, not my-rock)
  lvm install --interactive json       tick packages matching 'json' in a checklist

With --interactive, the checklist lists the search results for TERM, the installed ones ticked;
on enter, ticked packages that are missing are installed and unticked ones that were requested
are no longer requested, all as one event. It needs a terminal.

", fetch_environment!()))]
pub struct InstallArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// Package names (optionally followed by a version or constraint), rockspec files, git URLs
    /// (git+https://..., git+file://...[@ref]) or paths to git repositories. With
    /// --interactive: one search term (default: every package).
    #[arg(required_unless_present = "interactive")]
    pub targets: Vec<String>,
    /// Pick packages from search results in a terminal checklist.
    #[arg(long)]
    pub interactive: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn install(ctx: &Context, args: InstallArgs) -> Result<i32> {
    if args.interactive {
        return super::interactive::install_command(ctx, &args.targets, || args.servers.choice());
    }
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let targets = install::parse_targets(&args.targets)?;
    let outcome = install::install(&env, &targets, &args.servers.choice()?, &args.targets)?;
    let headline = outcome::headline(&outcome, "Installed", &outcome::nothing_installed(&outcome));
    outcome::print(
        ctx,
        args.json,
        outcome::json(&outcome),
        outcome::text(&outcome, &headline),
    )?;
    Ok(exit::OK)
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm upgrade              every package, to the newest versions all constraints allow
  lvm upgrade strutil      one package (and what its new version needs)")]
pub struct UpgradeArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// Packages to upgrade (default: all). Packages requested with an exact version stay.
    pub names: Vec<String>,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn upgrade(ctx: &Context, args: UpgradeArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let outcome = upgrade::upgrade(&env, &args.names, &args.servers.choice()?)?;
    let headline = outcome::headline(
        &outcome,
        "Upgraded",
        "Nothing to upgrade: every package is at the newest version allowed",
    );
    outcome::print(
        ctx,
        args.json,
        outcome::json(&outcome),
        outcome::text(&outcome, &headline),
    )?;
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Remove even if other installed packages depend on it (they are removed too).
    #[arg(long)]
    pub force: bool,
}

pub fn remove(ctx: &Context, args: RemoveArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let outcome = remove::remove(&env, &args.names, args.force)?;
    let headline = outcome::headline(&outcome, "Removed", "Nothing to do");
    outcome::print(
        ctx,
        args.json,
        outcome::json(&outcome),
        outcome::text(&outcome, &headline),
    )?;
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
}

pub fn list(ctx: &Context, args: ListArgs) -> Result<i32> {
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
                })
            })
            .collect();
        print_json(&out)?;
        return Ok(exit::OK);
    }
    if manifest.packages.is_empty() {
        println!(
            "No packages installed in {} (profile '{}')",
            env.root.display(),
            env.profile()?
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

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

pub fn show(ctx: &Context, args: ShowArgs) -> Result<i32> {
    let env = ctx.open()?;
    let manifest = env.manifest()?;
    let name = args.name.to_ascii_lowercase();
    let Some(package) = manifest.packages.get(&name) else {
        bail!(
            "{} is not installed in this environment (see `lvm list`, or `lvm search {}`)",
            args.name,
            args.name
        );
    };
    let rock_dir = lvm::tree::rock_dir(&env.tree_path(), &name, package.version.as_str());
    let info = lvm::tree::rockfiles::installed_info(&rock_dir, &name, &package.version);
    if args.json {
        print_json(&serde_json::json!({
            "name": name, "package": package, "summary": info.summary,
            "modules": info.modules, "commands": info.commands, "rock_dir": rock_dir,
        }))?;
        return Ok(exit::OK);
    }
    println!("{name} {}", package.version);
    if let Some(s) = &info.summary {
        println!("  {s}");
    }
    println!("  source:       {}", package.source.describe());
    match &package.reason.requested {
        Some(c) if c.is_empty() => println!("  requested:    yes"),
        Some(c) => println!("  requested:    {c}"),
        None => println!("  required by:  {}", package.reason.required_by.join(", ")),
    }
    if !package.dependencies.is_empty() {
        println!("  dependencies: {}", package.dependencies.join("; "));
    }
    if !info.modules.is_empty() {
        println!("  modules:      {}", info.modules.join(", "));
    }
    if !info.commands.is_empty() {
        println!("  commands:     {}", info.commands.join(", "));
    }
    println!("  installed in: {}", rock_dir.display());
    Ok(exit::OK)
}

#[derive(Debug, Args)]
#[command(after_help = fetch_environment!())]
pub struct SearchArgs {
    /// A substring of the package name (empty: everything).
    #[arg(default_value = "")]
    pub term: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn search(ctx: &Context, args: SearchArgs) -> Result<i32> {
    let env = ctx.open()?;
    let hits = search::search(&env, &args.term, &args.servers.choice()?)?;
    if args.json {
        print_json(&hits)?;
    } else if hits.is_empty() {
        println!("No packages match '{}'", args.term);
        return Ok(exit::FAILURE);
    } else {
        for hit in &hits {
            println!("{} {}  ({})", hit.name, hit.versions.join(" "), hit.server);
        }
    }
    Ok(exit::OK)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    /// The shell syntax to print.
    #[arg(long, value_enum, default_value = "sh")]
    pub shell: Shell,
    /// Print only LUA_PATH.
    #[arg(long, conflicts_with = "lr_cpath")]
    pub lr_path: bool,
    /// Print only LUA_CPATH.
    #[arg(long)]
    pub lr_cpath: bool,
}

pub fn path(ctx: &Context, args: PathArgs) -> Result<i32> {
    let env = ctx.open()?;
    let tree = env.tree_path();
    let paths = lvm::tree::lua_path_strings(&tree)?;
    if args.lr_path {
        println!("{}", paths.lua_path);
    } else if args.lr_cpath {
        println!("{}", paths.lua_cpath);
    } else {
        let shell = match args.shell {
            Shell::Sh => lvm::tree::Shell::Posix,
            Shell::Fish => lvm::tree::Shell::Fish,
        };
        print!("{}", lvm::tree::path_script(&tree, shell)?);
    }
    Ok(exit::OK)
}

#[derive(Debug, Args)]
#[command(after_help = "\
Every state in the history of every profile is kept (so rollback works offline), for this
environment and for every environment under the lvm home, which share the store. Environments
elsewhere (LVM_ENV, a project's .lvm folder) are not seen: after a gc, `lvm sync` there rebuilds
whatever they miss.")]
pub struct GcArgs {
    /// Print what was removed and kept as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also drop store entries only needed by states older than this many days.
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u32>,
    /// Show what would be removed without removing it.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn gc(ctx: &Context, args: GcArgs) -> Result<i32> {
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
    })
}
