//! `lvm init` and `lvm env list/create/remove`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};

use super::{Context, exit, print_json};
use crate::config::{self, EnvConfig};
use crate::env::Environment;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create it (default: the environment lvm would use here).
    pub path: Option<PathBuf>,
    /// The Lua version.
    #[arg(long, default_value = crate::platform::LUA_VERSION)]
    pub lua: String,
    /// A rocks server (file://, http://, https:// or a folder); repeat for several, in priority
    /// order. Default: the servers in LVM_SERVERS (space-separated).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// Set up a curated profile right away (see `lvm profiles`), as `lvm setup PROFILE` does.
    #[arg(long)]
    pub profile: Option<String>,
    /// With --profile: leave out dev-only packages.
    #[arg(long, requires = "profile")]
    pub prod: bool,
}

pub fn init(ctx: &Context, args: InitArgs) -> Result<i32> {
    let path = match args.path {
        Some(p) => p,
        None => ctx.env_path()?,
    };
    let env = create(ctx, &path, &args.lua, args.servers)?;
    if !ctx.quiet {
        println!(
            "Initialized lvm environment in {} (Lua {}, profile '{}')",
            env.root.display(),
            env.config.lua,
            env.profile()?
        );
    }
    if let Some(profile) = &args.profile {
        let _lock = env.lock(ctx.lock_timeout)?;
        super::curator::setup_profile(
            ctx,
            &env,
            profile,
            args.prod,
            &crate::pipeline::ServerChoice::default(),
        )?;
    }
    Ok(exit::OK)
}

fn create(
    ctx: &Context,
    path: &std::path::Path,
    lua: &str,
    servers: Vec<String>,
) -> Result<Environment> {
    let servers = if servers.is_empty() {
        std::env::var(config::SERVERS_VAR)
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect()
    } else {
        servers
    };
    if servers.is_empty() {
        bail!(
            "no rocks server given: pass --server URL (repeatable: a folder, or a file://, http:// \
             or https:// rocks server such as the public LuaRocks server), or set {}",
            config::SERVERS_VAR
        );
    }
    let servers = servers
        .iter()
        .map(|s| normalize_server(s))
        .collect::<Result<Vec<_>>>()?;
    if lua != crate::platform::LUA_VERSION {
        bail!(
            "--lua {lua}: this lvm supports Lua {} only",
            crate::platform::LUA_VERSION
        );
    }
    let config = EnvConfig::new(lua, servers);
    // Validate exactly as a later read would.
    EnvConfig::parse(&config.to_toml(), "lvm.toml")?;
    Environment::init(path, config, ctx.home.clone())
}

/// Turns a plain folder into a `file://` URL so the config is unambiguous.
pub fn normalize_server(server: &str) -> Result<String> {
    if server.contains("://") {
        return Ok(server.trim_end_matches('/').to_string());
    }
    let path = std::fs::canonicalize(server)
        .with_context(|| format!("rocks server folder '{server}' does not exist"))?;
    Ok(format!("file://{}", path.display()))
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List named environments.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create a named environment.
    Create {
        name: String,
        #[arg(long = "server", value_name = "URL")]
        servers: Vec<String>,
    },
    /// Remove a named environment (its history and tree; the shared store is kept).
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

pub fn env_command(ctx: &Context, command: EnvCommand) -> Result<i32> {
    match command {
        EnvCommand::List { json } => {
            let dir = ctx.home.root.join("envs");
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
            create(ctx, &path, crate::platform::LUA_VERSION, servers)?;
            println!("Created environment '{name}' in {}", path.display());
        }
        EnvCommand::Remove { name } => {
            check_env_name(&name)?;
            let path = config::named_env(&ctx.home.root, &name);
            if !path.join(".git").is_dir() {
                bail!("no environment named '{name}' (see `lvm env list`)");
            }
            // Wait for any writer to finish, so nothing is half-removed under it.
            let env = Environment::open(&path, ctx.home.clone())?;
            let lock = env.lock_only(ctx.lock_timeout)?;
            crate::tree::files::remove_tree(&path)
                .with_context(|| format!("removing {}", path.display()))?;
            drop(lock);
            println!("Removed environment '{name}'");
        }
    }
    Ok(exit::OK)
}
