//! `lvm make`: builds the rock in the current directory from its files and installs it, as
//! `luarocks make` does.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::servers::ServerArgs;
use super::{Context, exit, outcome};
use lvm::ops::{develop, install};

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
  lvm make rockspecs/foo-1.0-1.rockspec
  lvm make CURL_DIR=/opt/curl      a build variable, as with `luarocks make`")]
pub struct MakeArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// The rockspec to build (inside the current directory), and build variables as
    /// NAME=VALUE for every build of the command (`OPENSSL_DIR=/opt/ssl`).
    #[arg(value_name = "ROCKSPEC|NAME=VALUE")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: MakeArgs) -> Result<i32> {
    let (variables, rest) = install::split_variables(&args.args);
    let rockspec = match rest.as_slice() {
        [] => None,
        [one] => Some(PathBuf::from(one)),
        [_, second, ..] => anyhow::bail!(
            "lvm make builds one rockspec; '{second}' is a second one (build variables are \
             written NAME=VALUE)"
        ),
    };
    let env = ctx.open()?;
    let cwd = std::env::current_dir()?;
    let request = develop::ProjectRequest {
        choice: &args.servers.choice()?,
        variables: &variables,
        args: &args.args,
    };
    let outcome = develop::make(
        (&env, ctx.lock_timeout),
        &cwd,
        rockspec.as_deref(),
        &request,
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
