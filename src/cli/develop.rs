//! `lvm make`, `lvm link` and `lvm unlink`: local development of a rock.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::packages::ServerArgs;
use super::{Context, exit, outcome};
use lvm::ops::develop;

#[derive(Debug, Args)]
#[command(after_help = "\
Without ROCKSPEC, the single *.rockspec file of the current directory is used (else the single
one in its rockspec/ or rockspecs/ folder); with several, lvm lists them and asks for one.

The rock is built from the directory's files as they are (source.url is not downloaded), from a
copy, so build products never land in the directory; files ignored by git and the .git, .lvm,
lua_modules and .luarocks folders are left out. Dependencies come from the rocks servers. The
event records the directory and, in a git checkout, its commit and whether it had uncommitted
changes; `lvm sync` elsewhere rebuilds from that directory if it holds the same files.

Examples:
  lvm make                         the rockspec of the current directory
  lvm make rockspecs/foo-1.0-1.rockspec")]
pub struct MakeArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// The rockspec to build (inside the current directory).
    pub rockspec: Option<PathBuf>,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn make(ctx: &Context, args: MakeArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let cwd = std::env::current_dir()?;
    let given: Vec<String> = args
        .rockspec
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let outcome = develop::make(
        &env,
        &cwd,
        args.rockspec.as_deref(),
        &args.servers.choice()?,
        &given,
    )?;
    let project = made_from(&outcome);
    let headline = match outcome.outcome.changes.is_empty() {
        true => format!("Nothing to do: the build of {project} is installed"),
        false => format!(
            "{} (from {project})",
            outcome::headline(&outcome.outcome, "Made", "Nothing to do")
        ),
    };
    let mut json = outcome::json(&outcome.outcome);
    json["project"] = serde_json::json!({
        "path": outcome.dir.display().to_string(),
        "commit": outcome.git.as_ref().map(|g| g.commit.clone()),
        "dirty": outcome.git.as_ref().map(|g| g.dirty),
    });
    outcome::print(
        ctx,
        args.json,
        json,
        outcome::text(&outcome.outcome, &headline),
    )?;
    Ok(exit::OK)
}

#[derive(Debug, Args)]
#[command(after_help = "\
PATH holds the rockspec (found as `lvm make` finds it). The package's Lua modules and Lua
scripts in the tree become symlinks to the files in PATH, so edits show up without
reinstalling. C modules are built copies: after changing C sources (or the rockspec), run
`lvm link PATH` again. `lvm verify` reports the package as linked and fails if PATH or a linked
file is gone; `lvm unlink NAME` removes it.

Examples:
  lvm link .
  lvm link ../my-rock")]
pub struct LinkArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// The project directory.
    pub path: PathBuf,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn link(ctx: &Context, args: LinkArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let given = vec![args.path.display().to_string()];
    let linked = develop::link(&env, &args.path, &args.servers.choice()?, &given)?;
    let nothing = outcome::nothing_installed(&linked.outcome);
    let dir = &linked.dir;
    let mut headline = match &linked.linked {
        None => outcome::headline(&linked.outcome, "Installed", &nothing),
        Some((name, version)) if linked.outcome.changes.is_empty() => {
            format!("Nothing to do: {name} {version} is linked to {dir}")
        }
        Some((name, version)) => format!(
            "{}: {name} {version} is linked to {dir}; edits to its Lua files show up without reinstalling",
            outcome::headline(&linked.outcome, "Linked", &nothing)
        ),
    };
    if !linked.built_copies.is_empty() {
        headline.push_str(&format!(
            "\nnote: its C modules ({}) are built copies: after changing C sources, run `lvm link {dir}` again",
            linked.built_copies.join(", ")
        ));
    }
    let mut json = outcome::json(&linked.outcome);
    json["linked"] = serde_json::json!(linked.linked.as_ref().map(|(name, version)| {
        serde_json::json!({"name": name, "version": version.to_string(), "path": dir})
    }));
    json["built_copies"] = serde_json::json!(linked.built_copies);
    outcome::print(
        ctx,
        args.json,
        json,
        outcome::text(&linked.outcome, &headline),
    )?;
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct UnlinkArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// The linked package.
    pub name: String,
    /// Remove even if other installed packages depend on it (they are removed too).
    #[arg(long)]
    pub force: bool,
}

pub fn unlink(ctx: &Context, args: UnlinkArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let unlinked = develop::unlink(&env, &args.name, args.force)?;
    let headline = outcome::headline(&unlinked, "Unlinked", "Nothing to do");
    outcome::print(
        ctx,
        args.json,
        outcome::json(&unlinked),
        outcome::text(&unlinked, &headline),
    )?;
    Ok(exit::OK)
}

/// The project a `make` built, for people: its directory, and in a git checkout the commit
/// and whether it had uncommitted changes.
fn made_from(made: &develop::MakeOutcome) -> String {
    match &made.git {
        Some(g) => format!(
            "{} at {}{}",
            made.dir.display(),
            &g.commit[..g.commit.len().min(10)],
            if g.dirty {
                " with uncommitted changes"
            } else {
                ""
            }
        ),
        None => made.dir.display().to_string(),
    }
}
