//! `lvm path`: prints shell commands that put the environment on LUA_PATH, LUA_CPATH and PATH
//! (or, with `--lr-path` or `--lr-cpath`, one of the paths alone, or with `--json` the
//! variables' values as a JSON object).

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::{Context, exit, print_json};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// POSIX sh (also dash, ksh).
    Sh,
    /// The same `export` lines as sh.
    Bash,
    /// The same `export` lines as sh.
    Zsh,
    /// `set -gx` lines.
    Fish,
}

const PATH_EXAMPLES: &str = "\
Examples:
  eval \"$(lvm path)\"                    put the environment first (sh, bash)
  eval \"$(lvm path --shell zsh)\"        the same in zsh
  lvm path --shell fish | source        the same in fish
  eval \"$(lvm path --append)\"           after your existing LUA_PATH, LUA_CPATH and PATH
  lvm path --json                       {\"LUA_PATH\": ..., \"LUA_CPATH\": ..., \"PATH\": ...}";

#[derive(Debug, Args)]
#[command(after_help = PATH_EXAMPLES)]
pub struct PathArgs {
    /// The shell syntax to print: sh, bash and zsh get `export` lines, fish `set -gx` lines.
    #[arg(long, value_enum, default_value = "sh")]
    pub shell: Shell,
    /// Put the environment after the existing LUA_PATH, LUA_CPATH and PATH (read when the
    /// output is evaluated) instead of in front, like `luarocks path --append`. Without it,
    /// LUA_PATH and LUA_CPATH are the environment's paths then Lua's default, and PATH gets the
    /// environment's bin in front.
    #[arg(long)]
    pub append: bool,
    /// Print the values LUA_PATH, LUA_CPATH and PATH get (from this process's PATH and, with
    /// --append, its LUA_PATH and LUA_CPATH) as a JSON object instead of shell commands.
    #[arg(long, conflicts_with_all = ["lr_path", "lr_cpath"])]
    pub json: bool,
    /// Print only LUA_PATH.
    #[arg(long, conflicts_with = "lr_cpath")]
    pub lr_path: bool,
    /// Print only LUA_CPATH.
    #[arg(long)]
    pub lr_cpath: bool,
}

pub fn exec(ctx: &Context, args: PathArgs) -> Result<i32> {
    let env = ctx.open()?;
    let tree = env.tree_path();
    let paths = lvm::tree::lua_path_strings(&tree, env.lua())?;
    let var = |name: &str| std::env::var(name).ok();
    let values = if args.append {
        paths.appended_to(
            var("LUA_PATH").as_deref(),
            var("LUA_CPATH").as_deref(),
            var("PATH").as_deref(),
        )
    } else {
        paths.prepended_to(var("PATH").as_deref())
    };
    if args.json {
        print_json(&serde_json::json!({
            "LUA_PATH": values.lua_path,
            "LUA_CPATH": values.lua_cpath,
            "PATH": values.path,
        }))?;
    } else if args.lr_path {
        println!("{}", values.lua_path);
    } else if args.lr_cpath {
        println!("{}", values.lua_cpath);
    } else {
        let shell = match args.shell {
            Shell::Sh | Shell::Bash | Shell::Zsh => lvm::tree::Shell::Posix,
            Shell::Fish => lvm::tree::Shell::Fish,
        };
        if args.append {
            print!(
                "{}",
                lvm::tree::append_path_script(&tree, env.lua(), shell)?
            );
        } else {
            print!("{}", lvm::tree::path_script(&tree, env.lua(), shell)?);
        }
    }
    Ok(exit::OK)
}
