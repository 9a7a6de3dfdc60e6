//! `lvm init` and `lvm env list/create/remove`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};

use super::{Context, exit, print_json};
use lvm::config::{self, EnvConfig, Key, Layer, Origin, Value};
use lvm::env::{Environment, OpenOptions};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create it (default: the environment lvm would use here).
    pub path: Option<PathBuf>,
    /// The Lua version (default: the lua setting of your user config; 5.4).
    #[arg(long)]
    pub lua: Option<String>,
    /// A rocks server (file://, http://, https:// or a folder); repeat for several, in priority
    /// order. Default: the servers in LVM_SERVERS (space-separated), else the servers setting
    /// of your user config (see `lvm config`).
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
    let env = create(ctx, &path, args.lua.as_deref(), args.servers)?;
    if !ctx.quiet {
        println!(
            "Initialized lvm environment in {} (Lua {}, profile '{}')",
            env.root.display(),
            env.config.lua,
            env.profile()?
        );
    }
    if let Some(profile) = &args.profile {
        let env = env.lock(ctx.lock_timeout)?;
        super::curator::setup_profile(
            ctx,
            &env,
            profile,
            args.prod,
            &lvm::ops::install::ServerChoice::default(),
        )?;
    }
    Ok(exit::OK)
}

/// Creates an environment. Its servers and Lua version resolve like any setting, without an
/// environment level (there is none yet): `--server`/`--lua`, then LVM_SERVERS, then the user's
/// config.
fn create(
    ctx: &Context,
    path: &std::path::Path,
    lua: Option<&str>,
    servers: Vec<String>,
) -> Result<Environment> {
    let mut levels = ctx.levels.clone();
    levels.environment = Layer::new();
    if !servers.is_empty() {
        levels.flags.set(
            Value::parse(Key::Servers, &servers.join(" "), "--server")?,
            Origin::Flag("--server"),
        );
    }
    if let Some(lua) = lua {
        levels.flags.set(
            Value::parse(Key::Lua, lua, &format!("--lua {lua}"))?,
            Origin::Flag("--lua"),
        );
    }
    let settings = levels.resolve();
    if settings.servers.is_empty() {
        bail!(
            "no rocks server given: pass --server URL (repeatable: a folder, or a file://, http:// \
             or https:// rocks server such as the public LuaRocks server), set {}, or set your \
             default with `lvm config set --user servers URL`",
            config::SERVERS_VAR
        );
    }
    let servers = settings
        .servers
        .iter()
        .map(|s| normalize_server(s))
        .collect::<Result<Vec<_>>>()?;
    let config = EnvConfig::new(&settings.lua, servers);
    // Validate exactly as a later read would.
    EnvConfig::parse(&config.to_toml(), "lvm.toml")?;
    let options = OpenOptions {
        servers: None,
        ..ctx.open_options()
    };
    Environment::init_with(path, config, ctx.home.clone(), options)
}

/// Turns a plain folder into a `file://` URL so the config is unambiguous.
pub fn normalize_server(server: &str) -> Result<String> {
    Ok(config::normalize_server(server)?)
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
            create(ctx, &path, None, servers)?;
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
            lvm::tree::files::remove_tree(&path)
                .with_context(|| format!("removing {}", path.display()))?;
            drop(lock);
            println!("Removed environment '{name}'");
        }
    }
    Ok(exit::OK)
}
