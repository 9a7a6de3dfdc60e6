//! `lvm runtime list | install | remove`: the Lua interpreters lvm builds from the sources it
//! carries, once per machine, shared by every environment.

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;

use super::{Context, exit, outcome, progress};
use lvm::ops::runtime::{self, Runtime};
use lvm::report::Readiness;

#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// List the interpreters built in the lvm home.
    #[command(after_help = "\
Examples:
  lvm runtime list         one interpreter per line: version, folder
  lvm runtime list --json  each with its paths, compiler and hash, as JSON")]
    List {
        /// Print a JSON array: each runtime's interpreter id, name, dir, bin, include_dir,
        /// lib_dir, lib_name, release, version, compiler, key and built_at.
        #[arg(long)]
        json: bool,
    },
    /// Build interpreters now (they are otherwise built on first use): 5.1, 5.2, 5.3, 5.4,
    /// 5.5 or luajit. Needs a C compiler (cc, gcc or clang; $CC), ar and, for LuaJIT, make.
    #[command(after_help = "\
Examples:
  lvm runtime install 5.1          Lua 5.1.5, a few seconds
  lvm runtime install luajit 5.3   LuaJIT 2.1 (about a minute on 2 cores) and Lua 5.3.6
  CC=clang lvm runtime install 5.4 with another compiler (a separate runtime)")]
    Install {
        #[arg(required = true, value_name = "VERSION")]
        versions: Vec<String>,
        /// Print what was built or found as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove the interpreters of these versions. A version some environment of the lvm home
    /// targets is refused, naming them (`--force` removes it anyway: they build it again on
    /// their next use). `lvm gc` removes the runtimes nothing needs.
    #[command(after_help = "\
Examples:
  lvm runtime remove luajit
  lvm runtime remove 5.1 5.2
  lvm runtime remove 5.1 --force   even though an environment targets Lua 5.1")]
    Remove {
        #[arg(required = true, value_name = "VERSION")]
        versions: Vec<String>,
        /// Remove runtimes that environments of the lvm home use.
        #[arg(long)]
        force: bool,
    },
}

pub fn exec(ctx: &Context, command: RuntimeCommand) -> Result<i32> {
    let reporter = progress::Terminal::new();
    match command {
        RuntimeCommand::List { json } => {
            let runtimes = runtime::list(&ctx.home);
            let text = if runtimes.is_empty() {
                format!(
                    "No interpreters built yet (lvm provides {}: `lvm runtime install VERSION`)",
                    lvm::luaversion::LuaVersion::accepted()
                )
            } else {
                runtimes
                    .iter()
                    .map(list_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            outcome::print(ctx, json, serde_json::to_value(&runtimes)?, text)?;
        }
        RuntimeCommand::Install { versions, json } => {
            let done = runtime::install(&ctx.home, &versions, &reporter)?;
            let text = done
                .iter()
                .map(|(runtime, how)| {
                    let verb = match how {
                        Readiness::FromStore => "already built",
                        _ => "built",
                    };
                    format!(
                        "{} {verb}: {}",
                        runtime::display_name(runtime.interpreter),
                        runtime.bin.display()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let value = done
                .iter()
                .map(|(runtime, how)| json!({"runtime": runtime, "built": *how != Readiness::FromStore}))
                .collect();
            outcome::print(ctx, json, serde_json::Value::Array(value), text)?;
        }
        RuntimeCommand::Remove { versions, force } => {
            let removed = runtime::remove(&ctx.home, &versions, force, &reporter)?;
            let text = if removed.is_empty() {
                "Nothing to remove".to_owned()
            } else {
                removed
                    .iter()
                    .map(|r| {
                        format!(
                            "Removed {} ({})",
                            runtime::display_name(r.interpreter),
                            r.name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            outcome::print(ctx, false, serde_json::Value::Null, text)?;
        }
    }
    Ok(exit::OK)
}

fn list_line(runtime: &Runtime) -> String {
    format!(
        "{:<8} {:<24} {}",
        runtime.interpreter.as_str(),
        runtime::display_name(runtime.interpreter),
        runtime.dir.display()
    )
}
