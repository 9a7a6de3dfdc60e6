//! `lvm remote add | list | remove`: the remotes the environment is shared through (paths, or
//! file://, ssh://, https:// or git:// URLs).

use anyhow::Result;
use clap::Subcommand;

use super::{Context, complete, exit, print_json};

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote: a path, file://, ssh:// (or user@host:path), https:// or git:// URL.
    #[command(after_help = "\
Examples:
  lvm remote add origin ssh://host/srv/envs/app.git
  lvm remote add backup /mnt/backup/app-env
  lvm remote add mirror https://example.com/envs/app.git")]
    Add { name: String, url: String },
    /// List remotes with their URLs.
    #[command(after_help = "\
Examples:
  lvm remote list         one line per remote: name, tab, URL
  lvm remote list --json  the same as JSON")]
    List {
        /// Print the remotes as a JSON array, each with name and url.
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote (and what was fetched from it).
    #[command(after_help = "\
Examples:
  lvm remote remove backup")]
    Remove {
        #[arg(add = complete::remotes())]
        name: String,
    },
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
