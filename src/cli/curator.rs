//! `lvm collections`, `profiles`, `setup`, `doctor` and `recommend`.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};
use lvm::curator::{self, Catalog, DoctorOptions, RecommendOptions, Severity};
use lvm::ops::install::ServerChoice;

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
}

/// The catalog for the current environment, or the shipped and user data when there is none.
fn catalog(ctx: &Context) -> Result<Catalog> {
    let env_path = ctx.env_path()?;
    let env_root = env_path.join(".git").is_dir().then_some(env_path);
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

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm setup standard          core, networking, parsing and test tools
  lvm setup standard --prod   the same without dev-only packages
  lvm profiles                what each profile installs
  lvm setup --interactive     tick curated packages in a checklist (current profile)

With --interactive, the checklist lists every package of the curated collections, the installed
ones ticked; on enter, ticked packages that are missing are installed and unticked ones that were
requested are no longer requested (they go unless another package needs them), all as one event
on the current profile. It needs a terminal.")]
pub struct SetupArgs {
    /// A curated profile (see `lvm profiles`).
    #[arg(
        required_unless_present = "interactive",
        conflicts_with = "interactive"
    )]
    pub profile: Option<String>,
    /// Production: leave out dev-only packages (test tools).
    #[arg(long, conflicts_with = "interactive")]
    pub prod: bool,
    /// Pick curated packages in a terminal checklist instead of installing a profile.
    #[arg(long)]
    pub interactive: bool,
    /// Also use this rocks server, before the configured ones (repeatable).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
}

pub fn setup(ctx: &Context, args: SetupArgs) -> Result<i32> {
    if args.interactive {
        if let Some(code) = super::interactive::require_terminal("`lvm setup PROFILE`") {
            return Ok(code);
        }
    }
    let servers = args
        .servers
        .iter()
        .map(|s| super::setup::normalize_server(s))
        .collect::<Result<Vec<_>>>()?;
    let choice = ServerChoice::Extra(servers);
    let Some(profile) = args.profile.filter(|_| !args.interactive) else {
        return super::interactive::setup(ctx, &choice);
    };
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    setup_profile(ctx, &env, &profile, args.prod, &choice)
}

/// Installs a curated profile into an open, locked environment (also for `lvm init --profile`).
pub fn setup_profile(
    ctx: &Context,
    env: &lvm::env::WriteLock<'_>,
    profile: &str,
    prod: bool,
    choice: &ServerChoice,
) -> Result<i32> {
    let catalog = curator::load_catalog(env)?;
    let setup = curator::setup(env, &catalog, profile, prod, choice)?;
    if !ctx.quiet {
        println!("{}", setup_text(&setup));
    }
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[arg(long)]
    pub json: bool,
    /// Do not read the rocks servers (skips the check for newer versions).
    #[arg(long)]
    pub offline: bool,
}

pub fn doctor(ctx: &Context, args: DoctorArgs) -> Result<i32> {
    let env = ctx.open()?;
    let report = curator::doctor(
        &env,
        &DoctorOptions {
            offline: args.offline,
        },
    );
    let code = if report.is_healthy() {
        exit::OK
    } else {
        exit::FAILURE
    };
    if args.json {
        print_json(&serde_json::json!({
            "healthy": report.is_healthy(),
            "errors": report.errors(),
            "packages": report.packages,
            "modules_loaded": report.modules_loaded,
            "findings": report.findings,
        }))?;
        return Ok(code);
    }
    for f in &report.findings {
        let subject = f
            .package
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        println!(
            "{} [{}{subject}] {}",
            f.severity.as_str(),
            f.check,
            f.reason
        );
        if let Some(fix) = &f.fix {
            println!("    fix: {fix}");
        }
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    println!(
        "{}: {} packages, {} modules load; {} errors, {} warnings, {} notes",
        if report.is_healthy() {
            "healthy"
        } else {
            "unhealthy"
        },
        report.packages,
        report.modules_loaded,
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note)
    );
    Ok(code)
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    #[arg(long)]
    pub json: bool,
    /// Compare against this curated profile (default: the one this profile was set up from).
    #[arg(long)]
    pub profile: Option<String>,
    /// Compare with the profile's production materialization (dev-only packages left out).
    #[arg(long)]
    pub prod: bool,
    /// Do not read the rocks servers (no update suggestions).
    #[arg(long)]
    pub offline: bool,
}

pub fn recommend(ctx: &Context, args: RecommendArgs) -> Result<i32> {
    let env = ctx.open()?;
    let catalog = curator::load_catalog(&env)?;
    let (active, recs) = curator::recommend(
        &env,
        &catalog,
        &RecommendOptions {
            profile: args.profile,
            prod: args.prod.then_some(true),
            offline: args.offline,
        },
    )?;
    if args.json {
        print_json(&serde_json::json!({ "profile": active, "recommendations": recs }))?;
        return Ok(exit::OK);
    }
    if let Some(a) = &active {
        println!(
            "Compared with curated profile '{}'{}",
            a.name,
            if a.prod { " (production)" } else { "" }
        );
    }
    if recs.is_empty() {
        println!("No recommendations.");
    }
    for r in &recs {
        println!("[{}] {}", r.rule, r.reason);
        println!("    {}", r.command);
    }
    Ok(exit::OK)
}

/// What `lvm setup` says: the branch it created or switched to, the install, and what a
/// production setup left out.
fn setup_text(setup: &curator::SetupOutcome) -> String {
    let mut out = String::new();
    if setup.created_branch {
        out.push_str(&format!("Created profile '{}'\n", setup.profile));
    }
    if let Some(from) = &setup.switched_from {
        out.push_str(&format!(
            "Switched from profile '{from}' to '{}'\n",
            setup.profile
        ));
    }
    let install = &setup.install;
    let headline = super::outcome::headline(
        install,
        "Installed",
        &super::outcome::nothing_installed(install),
    );
    out.push_str(&super::outcome::text(install, &headline));
    out.push('\n');
    if !setup.left_out.is_empty() {
        let names: Vec<&str> = setup.left_out.iter().map(|p| p.name.as_str()).collect();
        out.push_str(&format!(
            "\nLeft out (dev-only, --prod): {}",
            names.join(", ")
        ));
    }
    if !setup.left_out_installed.is_empty() {
        out.push_str(&format!(
            "\nStill installed from an earlier development setup: {} (remove with `{}`)",
            setup.left_out_installed.join(", "),
            curator::remove_command(&setup.left_out_installed)
        ));
    }
    out
}
