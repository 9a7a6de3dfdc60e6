//! `lvm profile list | create | switch | delete | merge`: profiles, the git branches of the
//! environment (the curated profiles are `lvm profiles` and `lvm setup`).

use anyhow::Result;
use clap::Subcommand;

use super::{Context, complete, exit, print_json};
use lvm::merge::{Choices, Side};
use lvm::ops::profile::{self, MergeOutcome};

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
    /// Merge another profile into the current one, three-way like `git merge`.
    ///
    /// From their common state, a package changed on one side takes that change; changed
    /// differently on both is a conflict, refused unless --ours, --theirs or --prefer settles
    /// it. Recorded as a merge commit with both profiles' heads as parents; a profile merged
    /// already records nothing (the current profile itself is refused).
    #[command(after_help = "\
Examples:
  lvm profile merge dev                     dev's changes into the current profile
  lvm profile merge dev --theirs            dev's side wherever both changed a package
  lvm profile merge dev --prefer lpeg=ours  our lpeg, the rest merged as usual
  lvm profile merge origin/default          after `lvm pull` reported divergence
  lvm profile merge dev --json              the outcome as JSON")]
    Merge {
        /// The profile to merge (`origin/default` after a diverged `lvm pull`).
        #[arg(add = complete::profiles())]
        other: String,
        /// Take our side (the current profile's) of every conflict.
        #[arg(long, conflicts_with = "theirs")]
        ours: bool,
        /// Take their side (OTHER's) of every conflict.
        #[arg(long)]
        theirs: bool,
        /// Take one side of one package's conflict (repeatable; wins over --ours/--theirs).
        #[arg(long, value_name = "NAME=ours|theirs", value_parser = preference)]
        prefer: Vec<(String, Side)>,
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
        ProfileCommand::Merge {
            other,
            ours,
            theirs,
            prefer,
            json,
        } => {
            let env = env.lock(ctx.lock_timeout)?;
            let mut args = vec![other.clone()];
            args.extend(ours.then(|| "--ours".to_string()));
            args.extend(theirs.then(|| "--theirs".to_string()));
            for (name, side) in &prefer {
                args.extend(["--prefer".to_string(), format!("{name}={side}")]);
            }
            let choices = Choices {
                all: match (ours, theirs) {
                    (true, _) => Some(Side::Ours),
                    (_, true) => Some(Side::Theirs),
                    _ => None,
                },
                packages: prefer.into_iter().collect(),
            };
            let merge = profile::merge_profile(&env, &other, &choices, args)?;
            print_merge(&merge, json)?;
        }
    }
    Ok(exit::OK)
}

/// Reads `--prefer NAME=ours|theirs`.
fn preference(text: &str) -> std::result::Result<(String, Side), String> {
    let (name, side) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}': write NAME=ours or NAME=theirs"))?;
    let side = Side::parse(side)
        .ok_or_else(|| format!("'{text}': the side is 'ours' or 'theirs', not '{side}'"))?;
    if name.is_empty() {
        return Err(format!("'{text}': name the package before '='"));
    }
    Ok((name.to_string(), side))
}

/// What a merge did, as text or JSON (`commit` null when nothing was recorded).
fn print_merge(merge: &MergeOutcome, json: bool) -> Result<()> {
    if json {
        let mut data = match &merge.outcome {
            Some(outcome) => super::outcome::json(outcome),
            None => {
                serde_json::json!({"commit": null, "changes": [], "builds": 0, "store_hits": 0})
            }
        };
        data["merged"] = serde_json::json!(merge.merged);
        data["into"] = serde_json::json!(merge.into);
        data["base"] = serde_json::json!(merge.base.to_string());
        let chosen: serde_json::Map<String, serde_json::Value> = merge
            .chosen
            .iter()
            .map(|(c, side)| (c.name.clone(), serde_json::json!(side.as_str())))
            .collect();
        data["chosen"] = serde_json::Value::Object(chosen);
        return print_json(&data);
    }
    let Some(outcome) = &merge.outcome else {
        println!(
            "Already up to date: profile '{}' is already merged into '{}'; nothing recorded",
            merge.merged, merge.into
        );
        return Ok(());
    };
    let headline = super::outcome::headline(
        outcome,
        &format!("Merged profile '{}' into '{}'", merge.merged, merge.into),
        "",
    );
    let mut text = super::outcome::text(outcome, &headline);
    for (c, side) in &merge.chosen {
        let what = match side {
            Side::Ours => &c.ours,
            Side::Theirs => &c.theirs,
        };
        text.push_str(&format!("\n  {}: took {side} ({what})", c.name));
    }
    println!("{text}");
    Ok(())
}
