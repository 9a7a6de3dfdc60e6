//! `lvm make`, `lvm link` and `lvm unlink`: local development of a rock.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::packages::ServerArgs;
use super::{Context, exit};
use lvm::ops::develop;

#[derive(Debug, Args)]
#[command(after_help = "\
Without ROCKSPEC, the single *.rockspec file of the current directory is used (else the single
one in its rockspec/ or rockspecs/ folder); with several, lvm lists them and asks for one.

The rock is built from the directory's files as they are (source.url is not downloaded), from a
copy, so build products never land in the directory; files ignored by git and the .git, .lvm,
lua_modules and .luarocks folders are left out. Dependencies come from the rocks servers. The
event records the directory and, in a git checkout, its commit and whether it had uncommitted
changes; `lvm sync` elsewhere rebuilds from that directory if it holds the same files.

Examples:
  lvm make                         the rockspec of the current directory
  lvm make rockspecs/foo-1.0-1.rockspec")]
pub struct MakeArgs {
    /// The rockspec to build (inside the current directory).
    pub rockspec: Option<PathBuf>,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn make(ctx: &Context, args: MakeArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let cwd = std::env::current_dir()?;
    let given: Vec<String> = args
        .rockspec
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let outcome = develop::make(
        &env,
        &cwd,
        args.rockspec.as_deref(),
        &args.servers.choice()?,
        &given,
    )?;
    if !ctx.quiet {
        println!("{outcome}");
    }
    Ok(exit::OK)
}

#[derive(Debug, Args)]
#[command(after_help = "\
PATH holds the rockspec (found as `lvm make` finds it). The package's Lua modules and Lua
scripts in the tree become symlinks to the files in PATH, so edits show up without
reinstalling. C modules are built copies: after changing C sources (or the rockspec), run
`lvm link PATH` again. `lvm verify` reports the package as linked and fails if PATH or a linked
file is gone; `lvm unlink NAME` removes it.

Examples:
  lvm link .
  lvm link ../my-rock")]
pub struct LinkArgs {
    /// The project directory.
    pub path: PathBuf,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn link(ctx: &Context, args: LinkArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let given = vec![args.path.display().to_string()];
    let outcome = develop::link(&env, &args.path, &args.servers.choice()?, &given)?;
    if !ctx.quiet {
        println!("{outcome}");
    }
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct UnlinkArgs {
    /// The linked package.
    pub name: String,
    /// Remove even if other installed packages depend on it (they are removed too).
    #[arg(long)]
    pub force: bool,
}

pub fn unlink(ctx: &Context, args: UnlinkArgs) -> Result<i32> {
    let env = ctx.open()?;
    let env = env.lock(ctx.lock_timeout)?;
    let outcome = develop::unlink(&env, &args.name, args.force)?;
    if !ctx.quiet {
        println!("{outcome}");
    }
    Ok(exit::OK)
}
