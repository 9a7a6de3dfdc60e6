//! `lvm test [ROCKSPEC] [-- ARGS]`: runs the project's tests as its rockspec's `test` section
//! says (busted, or a command), with its `test_dependencies` installed first, like
//! `luarocks test`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::servers::ServerArgs;
use super::{Context, exit, outcome};
use lvm::ops::install::project_rockspec;
use lvm::ops::test;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm test                         the project here: its rockspec's test section
  lvm test rockspecs/foo-scm-1.rockspec -- --verbose   arguments for busted or the command

The test type is the section's `type`: `busted` runs the environment's busted command (busted
is added to the test dependencies), `command` runs `test.command` in a shell or `test.script`
with the environment's Lua, each followed by `test.flags` and ARGS. Without a type, a `.busted`
file in the current folder means busted, as in LuaRocks. Missing test dependencies are
installed first, as one event. The tests run in the current folder with the environment's
packages on LUA_PATH, LUA_CPATH and PATH; a failing run exits 1.")]
pub struct TestArgs {
    /// The rockspec, or a project folder holding one (default: the current folder).
    pub rockspec: Option<PathBuf>,
    /// Arguments for the test runner, after `--`.
    #[arg(last = true)]
    pub args: Vec<OsString>,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: TestArgs) -> Result<i32> {
    let path = project_rockspec(args.rockspec.as_deref().unwrap_or(Path::new(".")))?;
    let shown = path.display().to_string();
    let rockspec = lvm::rockspec::Rockspec::from_file(&path)?;
    let here = std::env::current_dir()?;
    let run = test::plan(&rockspec, &shown, here.join(".busted").is_file())?;
    let env = ctx.open()?;
    let missing = test::missing(&env.manifest()?, &test::test_dependencies(&rockspec, &run));
    if !missing.is_empty() {
        let locked = env.lock(ctx.lock_timeout)?;
        let installed = test::install_missing(&locked, &missing, &path, &args.servers.choice()?)?;
        outcome::report(
            ctx,
            false,
            &installed,
            "Installed test dependencies",
            "Test dependencies already installed",
        )?;
    }
    test::run(&env, &run, &here, &args.args, &shown)?;
    Ok(exit::OK)
}
