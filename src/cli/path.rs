//! `lvm path`: prints shell commands that put the environment on LUA_PATH, LUA_CPATH and PATH
//! (or, with `--lr-path` or `--lr-cpath`, one of the paths alone).

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::{Context, exit};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    /// The shell syntax to print.
    #[arg(long, value_enum, default_value = "sh")]
    pub shell: Shell,
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
    let paths = lvm::tree::lua_path_strings(&tree)?;
    if args.lr_path {
        println!("{}", paths.lua_path);
    } else if args.lr_cpath {
        println!("{}", paths.lua_cpath);
    } else {
        let shell = match args.shell {
            Shell::Sh => lvm::tree::Shell::Posix,
            Shell::Fish => lvm::tree::Shell::Fish,
        };
        print!("{}", lvm::tree::path_script(&tree, shell)?);
    }
    Ok(exit::OK)
}
