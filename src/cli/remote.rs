//! `lvm remote add | list | remove`: the remotes the environment is shared through (paths, or
//! file://, ssh://, https:// or git:// URLs).

use anyhow::Result;
use clap::Subcommand;

use super::{Context, exit, print_json};

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

pub fn exec(ctx: &Context, command: RemoteCommand) -> Result<i32> {
    let env = ctx.open()?;
    let repo = env.repo();
    match command {
        RemoteCommand::Add { name, url } => {
            let added = repo.remote_add(&name, &url)?;
            if !ctx.quiet {
                println!("Added remote '{}' ({})", added.name, added.url);
            }
        }
        RemoteCommand::List { json } => {
            let remotes = repo.remote_list()?;
            if json {
                print_json(&remotes)?;
            } else {
                for r in remotes {
                    println!("{}\t{}", r.name, r.url);
                }
            }
        }
        RemoteCommand::Remove { name } => {
            repo.remote_remove(&name)?;
            if !ctx.quiet {
                println!("Removed remote '{name}'");
            }
        }
    }
    Ok(exit::OK)
}
