//! `lvm which MODULE`: the installed package and the file that provide a module, like
//! `luarocks which`.

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};
use lvm::ops::which;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm which pl.path        the file and the package that `require \"pl.path\"` loads
  lvm which lfs --json     {module, package, version, file}")]
pub struct WhichArgs {
    /// The module name as given to `require` (`socket.core`).
    pub module: String,
    /// Print the answer as a JSON object: module, package, version and file.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(ctx: &Context, args: WhichArgs) -> Result<i32> {
    let env = ctx.open()?;
    let provider = which::which(&env, &args.module)?;
    if args.json {
        print_json(&provider)?;
    } else {
        println!(
            "{} (provided by {} {})",
            provider.file.display(),
            provider.package,
            provider.version
        );
    }
    Ok(exit::OK)
}
