//! `lvm config list|get|set|unset`: settings at the environment level (its `lvm.toml`, changed
//! as one recorded event) and the user level (the user's config file, written atomically).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use super::{Context, exit, print_json};
use lvm::config::{self, Key, Origin, Value};
use lvm::env::Environment;
use lvm::events::EventKind;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every setting with its effective value and where it comes from.
    #[command(after_help = "\
Examples:
  lvm config list
  lvm config list --json  the same as JSON")]
    List {
        /// Print the settings as a JSON array, each with key, value, origin (its level: flag,
        /// env-var, environment, user or default) and source.
        #[arg(long)]
        json: bool,
    },
    /// The effective value of one setting.
    #[command(after_help = "\
Examples:
  lvm config get jobs                the value
  lvm config get jobs --show-origin  and where it comes from
  lvm config get servers --json")]
    Get {
        /// servers, lua, lua_bin, lock_timeout, jobs, color, http_timeout, download_timeout,
        /// variables or dev.
        key: String,
        /// Also print where the value comes from (flag, env-var, environment, user, default).
        #[arg(long)]
        show_origin: bool,
        /// Print the key, its value, its origin level and source as a JSON object (the form
        /// of one `config list --json` row).
        #[arg(long)]
        json: bool,
    },
    /// Set a setting in the environment's lvm.toml (one recorded event), or with --user in your
    /// config file. The value is checked first; nothing is written when it is invalid.
    #[command(after_help = "\
Examples:
  lvm config set jobs 4              in the environment's lvm.toml
  lvm config set servers file:///srv/rocks https://rocks.example.org
  lvm config set --user color never  in your user config file
  lvm config set variables OPENSSL_DIR=/opt/ssl  build variables (NAME=VALUE words)")]
    Set {
        /// servers, lua, lua_bin, lock_timeout, jobs, color, http_timeout, download_timeout,
        /// variables or dev.
        key: String,
        /// The value (servers: one or more URLs or folders; variables: NAME=VALUE words).
        #[arg(required = true, num_args = 1.., allow_negative_numbers = true)]
        values: Vec<String>,
        #[command(flatten)]
        scope: Scope,
    },
    /// Remove a setting from the environment's lvm.toml (or with --user from your config file),
    /// so the next level's value applies.
    #[command(after_help = "\
Examples:
  lvm config unset jobs  back to the user config's value or the default
  lvm config unset --user color")]
    Unset {
        key: String,
        #[command(flatten)]
        scope: Scope,
    },
}

#[derive(Debug, Args)]
pub struct Scope {
    /// Your user config file (LVM_CONFIG, else $XDG_CONFIG_HOME/lvm/config.toml, else
    /// ~/.config/lvm/config.toml) instead of the environment's lvm.toml.
    #[arg(long, visible_alias = "global")]
    pub user: bool,
}

pub fn exec(ctx: &Context, command: ConfigCommand) -> Result<i32> {
    match command {
        ConfigCommand::List { json } => list(ctx, json),
        ConfigCommand::Get {
            key,
            show_origin,
            json,
        } => get(ctx, &key, show_origin, json),
        ConfigCommand::Set { key, values, scope } => {
            let key = Key::parse(&key, "lvm config set")?;
            let value = parse_for_set(key, &values)?;
            if scope.user {
                set_user(ctx, key, Some(value))
            } else {
                set_environment(ctx, key, Some(value))
            }
        }
        ConfigCommand::Unset { key, scope } => {
            let key = Key::parse(&key, "lvm config unset")?;
            if scope.user {
                set_user(ctx, key, None)
            } else {
                set_environment(ctx, key, None)
            }
        }
    }
}

/// Reading settings reports a broken environment instead of silently leaving its level out.
fn check_environment(ctx: &Context) -> Result<()> {
    let path = ctx.env_path()?;
    if lvm::config::is_environment(&path) {
        Environment::open_with(&path, ctx.home.clone(), ctx.open_options())?;
    }
    Ok(())
}

fn list(ctx: &Context, json: bool) -> Result<i32> {
    check_environment(ctx)?;
    let settings = &ctx.settings;
    if json {
        let rows: Vec<serde_json::Value> = Key::ALL
            .iter()
            .map(|key| setting_json(settings, *key))
            .collect();
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    let shown: Vec<(Key, String)> = Key::ALL
        .iter()
        .map(|k| (*k, settings.value(*k).to_string()))
        .collect();
    let width = shown.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    for (key, value) in shown {
        println!(
            "{:<12} = {value:<width$}  ({})",
            key.name(),
            settings.origin(key)
        );
    }
    Ok(exit::OK)
}

/// One setting as JSON: key, value, origin level and source.
fn setting_json(settings: &config::Settings, key: Key) -> serde_json::Value {
    let origin = settings.origin(key);
    serde_json::json!({
        "key": key.name(),
        "value": settings.value(key).to_json(),
        "origin": origin.level(),
        "source": origin.source(),
    })
}

fn get(ctx: &Context, key: &str, show_origin: bool, json: bool) -> Result<i32> {
    let key = Key::parse(key, "lvm config get")?;
    check_environment(ctx)?;
    let value = ctx.settings.value(key);
    if json {
        print_json(&setting_json(&ctx.settings, key))?;
    } else if show_origin {
        println!("{}\t{value}", ctx.settings.origin(key));
    } else {
        println!("{value}");
    }
    Ok(exit::OK)
}

/// The value `lvm config set KEY VALUE...` asks for, validated; server folders become
/// `file://` URLs.
fn parse_for_set(key: Key, values: &[String]) -> Result<Value> {
    if !matches!(key, Key::Servers | Key::Variables) && values.len() > 1 {
        bail!(
            "{key} takes one value, got {} ({}); allowed values for {key}: {}",
            values.len(),
            values.join(" "),
            key.allowed()
        );
    }
    match Value::parse(key, &values.join(" "), "lvm config set")? {
        Value::Servers(list) => Ok(Value::Servers(
            list.iter()
                .map(|s| config::normalize_server(s))
                .collect::<Result<Vec<_>, _>>()?,
        )),
        other => Ok(other),
    }
}

fn set_user(ctx: &Context, key: Key, value: Option<Value>) -> Result<i32> {
    let Some(path) = &ctx.levels.user_path else {
        bail!(
            "cannot tell where your user config file is: set {} (a file path), XDG_CONFIG_HOME or HOME",
            config::USER_CONFIG_VAR
        );
    };
    // The key's current value is left out: a bad one must not keep set or unset from
    // replacing it.
    let recorded = config::load_user_config(path).ok();
    let mut layer = config::load_user_config_without(path, Some(key))?;
    let message = match value {
        Some(value) => {
            let message = format!("Set {key} = {value} in {}", path.display());
            layer.set(value, Origin::User(path.clone()));
            message
        }
        None => {
            if recorded.is_some_and(|r| r.get(key).is_none()) {
                if !ctx.quiet {
                    println!("{key} is not set in {}", path.display());
                }
                return Ok(exit::OK);
            }
            format!("Unset {key} in {}", path.display())
        }
    };
    config::write_user_config(path, &layer)?;
    if !ctx.quiet {
        println!("{message}");
    }
    Ok(exit::OK)
}

/// `lvm config set lua VERSION`: the packages are rebuilt for the new Lua in the same event,
/// with the interpreter of `--lua-bin` when given.
fn set_lua(ctx: &Context, path: &std::path::Path, lua: lvm::luaversion::LuaVersion) -> Result<i32> {
    // A bad recorded `lua` must not keep this command from replacing it.
    let options = lvm::env::OpenOptions {
        setting_replaced: Some(Key::Lua),
        ..ctx.open_options()
    };
    let env = Environment::open_with(path, ctx.home.clone(), options)?;
    let env = env.lock(ctx.lock_timeout)?;
    let lua_bin = ctx.settings.lua_bin.clone().filter(|_| {
        matches!(
            ctx.settings.origin(Key::LuaBin),
            config::Origin::Flag(_) | config::Origin::EnvVar(_)
        )
    });
    let changed = lvm::ops::lua::change(&env, lua, lua_bin.as_deref())?;
    if !ctx.quiet {
        match changed.commit {
            None => println!("lua is already {lua} in {}", env.root().display()),
            Some(_) => println!(
                "Set lua = {lua} in {} (from {}; {} packages rebuilt for it, {} from the store)",
                env.root().display(),
                changed.from,
                changed.builds,
                changed.store_hits
            ),
        }
    }
    Ok(exit::OK)
}

fn set_environment(ctx: &Context, key: Key, value: Option<Value>) -> Result<i32> {
    let path = ctx.env_path()?;
    if !lvm::config::is_environment(&path) {
        bail!(
            "no environment at {}: create one with `lvm init`, or pass --user to change your own settings{}",
            path.display(),
            ctx.levels
                .user_path
                .as_ref()
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default()
        );
    }
    if let Some(Value::Lua(lua)) = &value {
        return set_lua(ctx, &path, *lua);
    }
    let options = lvm::env::OpenOptions {
        setting_replaced: Some(key),
        ..ctx.open_options()
    };
    let env = Environment::open_with(&path, ctx.home.clone(), options)?;
    let env = env.lock(ctx.lock_timeout)?;
    let file = env.root().join(lvm::envrepo::CONFIG_FILE);
    let current = env.recorded_config_without(key)?;
    let (updated, args) = match &value {
        Some(v) => (
            current.with(v.clone()),
            vec!["set".to_string(), key.to_string(), v.to_string()],
        ),
        None => (
            current.without(key, &file.display().to_string())?,
            vec!["unset".to_string(), key.to_string()],
        ),
    };
    let mut details = BTreeMap::new();
    details.insert("key".to_string(), key.to_string());
    if let Some(v) = &value {
        details.insert("value".to_string(), v.to_string());
    }
    let recorded = env.record_with_config(
        EventKind::Config,
        args,
        env.manifest()?,
        Some(&updated),
        details,
        BTreeMap::new(),
        (0, 0),
    )?;
    if !ctx.quiet {
        match (recorded, &value) {
            (None, Some(v)) => println!("{key} is already {v} in {}", file.display()),
            (None, None) => println!("{key} is not set in {}", file.display()),
            (Some(_), Some(v)) => println!("Set {key} = {v} in {}", file.display()),
            (Some(_), None) => println!("Unset {key} in {}", file.display()),
        }
    }
    Ok(exit::OK)
}
