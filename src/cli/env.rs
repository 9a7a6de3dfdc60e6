//! `lvm env list | create | remove`: named environments under the lvm home (created as `lvm init`
//! creates one).

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;

use super::init::create;
use super::{Context, exit, print_json};
use lvm::config;
use lvm::env::Environment;

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List named environments.
    #[command(after_help = "\
Examples:
  lvm env list         one name per line
  lvm env list --json  the same as JSON")]
    List {
        /// Print the names as a JSON array of strings.
        #[arg(long)]
        json: bool,
    },
    /// Create a named environment.
    #[command(after_help = "\
Examples:
  lvm env create web --server https://rocks.example.org
  lvm env create web              servers from LVM_SERVERS or your user config
  lvm install penlight --env web  then use it by name")]
    Create {
        name: String,
        /// A rocks server (file://, http://, https:// or a folder); repeat for several, in
        /// priority order (default: as for `lvm init`).
        #[arg(long = "server", value_name = "URL")]
        servers: Vec<String>,
    },
    /// Remove a named environment (its history and tree; the shared store is kept).
    #[command(after_help = "\
Examples:
  lvm env remove web")]
    Remove { name: String },
}

fn check_env_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("environment name '{name}': use letters, digits, '-' and '_' only");
    }
    Ok(())
}

pub fn exec(ctx: &Context, command: EnvCommand) -> Result<i32> {
    match command {
        EnvCommand::List { json } => {
            let dir = ctx.home.root.join(lvm::layout::ENVS_DIR);
            let mut names = Vec::new();
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    if entry.path().join(".git").is_dir() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            names.sort();
            if json {
                print_json(&names)?;
            } else {
                for n in names {
                    println!("{n}");
                }
            }
        }
        EnvCommand::Create { name, servers } => {
            check_env_name(&name)?;
            let path = config::named_env(&ctx.home.root, &name);
            if path.join(".git").is_dir() {
                bail!(
                    "environment '{name}' exists already ({}): use it with `lvm --env {name} ...`, \
                     or remove it first with `lvm env remove {name}`",
                    path.display()
                );
            }
            create(ctx, &path, lvm::envrepo::Place::Standalone, None, servers)?;
            println!("Created environment '{name}' in {}", path.display());
        }
        EnvCommand::Remove { name } => {
            check_env_name(&name)?;
            let path = config::named_env(&ctx.home.root, &name);
            if !path.join(".git").is_dir() {
                bail!("no environment named '{name}' (see `lvm env list`)");
            }
            // Wait for any writer to finish, so nothing is half-removed under it.
            let env = Environment::open_with(&path, ctx.home.clone(), ctx.open_options())?;
            let lock = env.lock_only(ctx.lock_timeout)?;
            lvm::tree::files::remove_tree(&path)
                .with_context(|| format!("removing {}", path.display()))?;
            drop(lock);
            println!("Removed environment '{name}'");
        }
    }
    Ok(exit::OK)
}
