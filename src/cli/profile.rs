//! `lvm profile list | create | switch | delete | merge`: profiles, the git branches of the
//! environment (the curated profiles are `lvm profiles` and `lvm setup`).

use anyhow::Result;
use clap::Subcommand;

use super::{Context, complete, exit, print_json};
use lvm::ops::profile;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List profiles; the current one is marked with '*'.
    #[command(after_help = "\
Examples:
  lvm profile list
  lvm profile list --json  the same as JSON")]
    List {
        /// Print a JSON object: current (the current profile) and profiles (every name).
        #[arg(long)]
        json: bool,
    },
    /// Create a profile from the current one (or --from another).
    #[command(after_help = "\
Examples:
  lvm profile create dev            a copy of the current profile
  lvm profile create ci --from dev  a copy of profile 'dev'
  lvm profile create jit --lua luajit  the same packages, built for LuaJIT")]
    Create {
        name: String,
        #[arg(long, add = complete::profiles())]
        from: Option<String>,
        /// The profile's Lua (5.1, 5.2, 5.3, 5.4, 5.5, luajit): its packages are re-resolved
        /// and rebuilt for it; `lvm profile switch` then switches packages and interpreter.
        #[arg(long, value_name = "VERSION")]
        lua: Option<String>,
    },
    /// Switch the environment to another profile (already on it: says so, exit 0, no event).
    #[command(after_help = "\
Examples:
  lvm profile switch dev  the tree gets dev's packages
  lvm profile switch default")]
    Switch {
        #[arg(add = complete::profiles())]
        name: String,
    },
    /// Delete a profile (not the current one).
    #[command(after_help = "\
Examples:
  lvm profile delete dev")]
    Delete {
        #[arg(add = complete::profiles())]
        name: String,
    },
    /// Bring another profile's requested packages into the current one, through the resolver
    /// (the current profile itself is refused).
    #[command(after_help = "\
Examples:
  lvm profile merge dev         dev's requested packages into the current profile
  lvm profile merge dev --json  the outcome as JSON")]
    Merge {
        #[arg(add = complete::profiles())]
        other: String,
        /// Print the outcome as JSON (the commit, the changes and the statistics).
        #[arg(long)]
        json: bool,
    },
}

pub fn exec(ctx: &Context, command: ProfileCommand) -> Result<i32> {
    let env = ctx.open()?;
    match command {
        ProfileCommand::List { json } => {
            let current = env.profile()?;
            let names = env.repo().profiles()?;
            if json {
                print_json(&serde_json::json!({"current": current, "profiles": names}))?;
            } else {
                for n in names {
                    let mark = if n == current { "*" } else { " " };
                    println!("{mark} {n}");
                }
            }
        }
        ProfileCommand::Create { name, from, lua } => {
            let lua = lua
                .map(|v| {
                    lvm::luaversion::LuaVersion::parse(&v)
                        .map_err(|e| anyhow::anyhow!("--lua: {e}"))
                })
                .transpose()?;
            let env = env.lock(ctx.lock_timeout)?;
            let lua_bin = ctx.settings.lua_bin.clone().filter(|_| {
                matches!(
                    ctx.settings.origin(lvm::config::Key::LuaBin),
                    lvm::config::Origin::Flag(_) | lvm::config::Origin::EnvVar(_)
                )
            });
            profile::create(
                &env,
                &name,
                from.as_deref(),
                lua.map(|l| (l, lua_bin.as_deref())),
            )?;
            match lua {
                Some(lua) => println!("Created profile '{name}' (Lua {lua})"),
                None => println!("Created profile '{name}'"),
            }
        }
        ProfileCommand::Switch { name } => {
            let env = env.lock(ctx.lock_timeout)?;
            // Nothing to do is not a failure (like `git switch`): no event, exit 0.
            if env.profile()? == name {
                println!("Already on profile '{name}'");
                return Ok(exit::OK);
            }
            profile::switch(&env, &name, vec![name.clone()])?;
            println!("Switched to profile '{name}'");
        }
        ProfileCommand::Delete { name } => {
            let env = env.lock(ctx.lock_timeout)?;
            profile::delete(&env, &name)?;
            println!("Deleted profile '{name}'");
        }
        ProfileCommand::Merge { other, json } => {
            let env = env.lock(ctx.lock_timeout)?;
            let merge = profile::merge_profile(&env, &other)?;
            let mut text = format!("Merged profile '{}' into '{}'", merge.merged, merge.into);
            for c in &merge.outcome.changes {
                text.push_str(&format!("\n  {}", c.summary()));
            }
            let mut data = super::outcome::json(&merge.outcome);
            data["merged"] = serde_json::json!(merge.merged);
            data["into"] = serde_json::json!(merge.into);
            if json {
                super::print_json(&data)?;
            } else {
                println!("{text}");
            }
        }
    }
    Ok(exit::OK)
}
