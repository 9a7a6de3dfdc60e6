//! `lvm link PATH`: installs a working directory's rock with its Lua files linked, so edits show
//! up at once.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::servers::ServerArgs;
use super::{Context, exit, outcome};
use lvm::ops::develop;

#[derive(Debug, Args)]
#[command(after_help = "\
PATH is the project directory that holds the rockspec (found as `lvm make` finds it), or the
rockspec itself (DIR/NAME.rockspec, or one in DIR/rockspecs/), which picks it when the project
has several; the project directory is where it lives. The package's Lua modules and Lua
scripts in the tree become symlinks to the files in PATH, so edits show up without
reinstalling. C modules are built copies: after changing C sources (or the rockspec), run
`lvm link PATH` again. `lvm verify` reports the package as linked and fails if PATH or a linked
file is gone; `lvm unlink NAME` removes it.

Examples:
  lvm link .
  lvm link ../my-rock
  lvm link ../my-rock/my-rock-scm-1.rockspec")]
pub struct LinkArgs {
    /// Print the outcome as JSON (the commit, the changes and the statistics).
    #[arg(long)]
    pub json: bool,
    /// The project directory, or one of its rockspecs.
    pub path: PathBuf,
    /// Build variables as NAME=VALUE for every build of the command (`OPENSSL_DIR=/opt/ssl`).
    #[arg(value_name = "NAME=VALUE")]
    pub variables: Vec<String>,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: LinkArgs) -> Result<i32> {
    let (variables, rest) = lvm::ops::install::split_variables(&args.variables);
    if let Some(extra) = rest.first() {
        anyhow::bail!(
            "lvm link links one project; '{extra}' is not a build variable (written NAME=VALUE)"
        );
    }
    let env = ctx.open()?;
    let mut given = vec![args.path.display().to_string()];
    given.extend(args.variables.iter().cloned());
    let request = develop::ProjectRequest {
        choice: &args.servers.choice()?,
        variables: &variables,
        args: &given,
    };
    let linked = develop::link((&env, ctx.lock_timeout), &args.path, &request)?;
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
        // The rockspec when one was named, so the command picks the same one again.
        let again = if args.path.is_file() {
            std::fs::canonicalize(&args.path)
                .unwrap_or_else(|_| args.path.clone())
                .display()
                .to_string()
        } else {
            dir.clone()
        };
        headline.push_str(&format!(
            "\nnote: its C modules ({}) are built copies: after changing C sources, run `lvm link {again}` again",
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
