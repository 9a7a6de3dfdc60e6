//! `lvm init`: creates an environment (a git repository of events plus a rocks tree; inside a
//! git work tree, a project environment whose events live in the project's repository), and
//! with `--profile` sets up a curated profile in it; `lvm env create` creates environments alike.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

use super::servers::normalize_server;
use super::{Context, exit};
use lvm::config::{self, EnvConfig, EnvOrigin, Key, Layer, Origin, Value};
use lvm::env::{Environment, OpenOptions};
use lvm::envrepo::{PROJECT_ENV_DIR, Place, work_tree_top};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm init                                in a git work tree: a project environment in <top>/.lvm
                                          (commit .lvm/manifest.json and .lvm/lvm.toml); elsewhere
                                          where lvm looks (LVM_ENV, the nearest .lvm/, the default one)
  lvm init --standalone .lvm              an environment with its own repository, even in a project
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
    /// Make a project environment: `.lvm/` at the top of the git work tree here (or at PATH),
    /// its events in the project's repository (the default inside a work tree; see
    /// docs/projects.md).
    #[arg(long, conflicts_with = "standalone")]
    pub project: bool,
    /// Make an environment with its own git repository, even inside a project's work tree.
    #[arg(long)]
    pub standalone: bool,
}

pub fn exec(ctx: &Context, args: InitArgs) -> Result<i32> {
    let (path, place) = target(ctx, &args)?;
    // Check first: a profile that does not exist must not leave an environment behind.
    if let Some(profile) = &args.profile {
        lvm::curator::Catalog::load(&ctx.home.root, None)?.plan(profile, args.prod)?;
    }
    // A failed setup takes back what init made, in a folder that was missing or empty.
    let created_folder = !path.exists();
    let undoable = lvm::fsutil::is_empty_dir(&path);
    let env = create(ctx, &path, place, args.lua.as_deref(), args.servers)?;
    if !ctx.quiet {
        let what = match place {
            Place::Standalone => "environment",
            Place::Project => "project environment",
        };
        println!(
            "Initialized lvm {what} in {} (Lua {}, profile '{}')",
            env.root().display(),
            env.config().lua,
            env.profile()?
        );
        if place == Place::Project {
            println!(
                "Commit {PROJECT_ENV_DIR}/manifest.json and {PROJECT_ENV_DIR}/lvm.toml with your code; lvm keeps its history under refs/lvm/ (see `lvm log`)"
            );
        }
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

/// Where `lvm init` makes the environment, and of which kind: PATH (else `--env`/`LVM_ENV`, else
/// here) at the top of a git work tree, or its `.lvm/`, is a project environment in `.lvm/`;
/// another folder inside a work tree is refused (one project environment per repository, at
/// its top) unless `--standalone`; outside every work tree it is standalone.
fn target(ctx: &Context, args: &InitArgs) -> Result<(PathBuf, Place)> {
    let (located, origin) = ctx.env_location()?;
    let given = match (&args.path, origin) {
        (Some(p), _) => Some(absolute(p)?),
        (None, EnvOrigin::Flag | EnvOrigin::EnvVar) => Some(absolute(&located)?),
        (None, EnvOrigin::Local | EnvOrigin::Default) => None,
    };
    // An existing environment there is refused by the init itself, whatever kind it is.
    if args.standalone || given.as_deref().is_some_and(config::is_environment) {
        return Ok((given.unwrap_or(located), Place::Standalone));
    }
    let start = match &given {
        Some(p) => p.clone(),
        None => std::env::current_dir()?,
    };
    let Some(top) = work_tree_top(&start) else {
        if args.project {
            bail!(
                "{} is not in a git work tree; a project environment lives in a project's repository (`git init` it first), or drop --project",
                start.display()
            );
        }
        return Ok((given.unwrap_or(located), Place::Standalone));
    };
    if top.join(lvm::envrepo::CONFIG_FILE).is_file() && top.join(".git").is_dir() {
        bail!(
            "{} is already an environment (a standalone one); use it with --env, or pass a PATH outside it",
            top.display()
        );
    }
    let env = top.join(PROJECT_ENV_DIR);
    match given {
        None => Ok((env, Place::Project)),
        Some(p) if same_place(&p, &top) || same_place(&p, &env) => Ok((env, Place::Project)),
        Some(p) => bail!(
            "{} is inside the git work tree {}: a project environment is {} (run `lvm init` there), or make an environment with its own repository here with `lvm init --standalone {}`",
            p.display(),
            top.display(),
            env.display(),
            p.display()
        ),
    }
}

/// `path` made absolute against the current directory.
fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(std::env::current_dir()?.join(path))
}

/// Whether `path` (which may not exist yet) is `place` (canonical).
fn same_place(path: &Path, place: &Path) -> bool {
    let canonical = match (std::fs::canonicalize(path), path.parent(), path.file_name()) {
        (Ok(p), _, _) => p,
        (Err(_), Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(parent) => parent.join(name),
            Err(_) => return false,
        },
        _ => return false,
    };
    canonical == place
}

/// Creates an environment. Its servers and Lua version resolve like any setting, without an
/// environment level (there is none yet): `--server`/`--lua`, then LVM_SERVERS, then the user's
/// config.
pub(super) fn create(
    ctx: &Context,
    path: &std::path::Path,
    place: Place,
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
    Ok(Environment::init_in(
        path,
        place,
        config,
        ctx.home.clone(),
        options,
    )?)
}
