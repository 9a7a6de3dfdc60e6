//! `lvm init`: creates an environment (a git repository of events plus a rocks tree), and with
//! `--profile` sets up a curated profile in it; `lvm env create` creates environments alike.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use super::servers::normalize_server;
use super::{Context, exit};
use lvm::config::{self, EnvConfig, Key, Layer, Origin, Value};
use lvm::env::{Environment, OpenOptions};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm init                                where lvm looks (LVM_ENV, the nearest .lvm/, the default one)
  lvm init .lvm                           a project environment, used in this folder and below
  lvm init --server https://rocks.example.org  with a rocks server
  lvm init --server file:///srv/rocks --server https://rocks.example.org
  lvm init --lua luajit                   an environment for LuaJIT (5.1 paths and rocks)
  lvm init --lua 5.1 --lua-bin /opt/lua51/bin/lua   with a chosen interpreter
  lvm init --profile standard --prod      and set up a curated profile without dev-only packages")]
pub struct InitArgs {
    /// Where to create it (default: the environment lvm would use here).
    pub path: Option<PathBuf>,
    /// The Lua version: 5.1, 5.2, 5.3, 5.4, 5.5 or luajit (default: the lua setting of your
    /// user config; 5.4). Other than 5.4, lvm runs and builds with that Lua's interpreter
    /// (`lua5.1`, `luajit`, ... on PATH, or --lua-bin PATH).
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

pub fn exec(ctx: &Context, args: InitArgs) -> Result<i32> {
    let path = match args.path {
        Some(p) => p,
        None => ctx.env_path()?,
    };
    // Check first: a profile that does not exist must not leave an environment behind.
    if let Some(profile) = &args.profile {
        lvm::curator::Catalog::load(&ctx.home.root, None)?.plan(profile, args.prod)?;
    }
    // A failed setup takes back what init made, in a folder that was missing or empty.
    let created_folder = !path.exists();
    let undoable = lvm::fsutil::is_empty_dir(&path);
    let env = create(ctx, &path, args.lua.as_deref(), args.servers)?;
    if !ctx.quiet {
        println!(
            "Initialized lvm environment in {} (Lua {}, profile '{}')",
            env.root().display(),
            env.config().lua,
            env.profile()?
        );
    }
    if let Some(profile) = &args.profile {
        let set_up = env
            .lock(ctx.lock_timeout)
            .map_err(anyhow::Error::from)
            .and_then(|env| {
                super::setup::setup_profile(
                    ctx,
                    &env,
                    profile,
                    args.prod,
                    &lvm::ops::install::ServerChoice::default(),
                )
            });
        if let Err(e) = set_up {
            drop(env);
            // Undo: the environment this command made goes with the failed setup.
            if undoable {
                lvm::fsutil::undo_fill(&path, created_folder);
            }
            let undone = undoable && lvm::fsutil::is_empty_dir(&path);
            let what = match undone {
                true => format!("the environment in {} was not created", path.display()),
                false => format!(
                    "the empty environment in {} stays; remove it or run `lvm setup {profile}` there",
                    path.display()
                ),
            };
            return Err(e.context(format!("lvm init --profile {profile} failed; {what}")));
        }
    }
    Ok(exit::OK)
}

/// Creates an environment. Its servers and Lua version resolve like any setting, without an
/// environment level (there is none yet): `--server`/`--lua`, then LVM_SERVERS, then the user's
/// config.
pub(super) fn create(
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
    let mut config = EnvConfig::new(settings.lua, servers);
    config.lua_bin = settings.lua_bin.clone();
    // Validate exactly as a later read would.
    EnvConfig::parse(&config.to_toml(), "lvm.toml")?;
    let options = OpenOptions {
        servers: None,
        ..ctx.open_options()
    };
    Ok(Environment::init_with(
        path,
        config,
        ctx.home.clone(),
        options,
    )?)
}
