//! `lvm clone`: makes a working environment from a shared repository, building what the store
//! lacks.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::Context;
use super::sync::print_sync;
use lvm::ops::clone;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm clone ssh://host/srv/envs/app.git  into ./app
  lvm clone ../shared-env my-env         into ./my-env
  lvm clone git@host:envs/app.git ~/envs/app")]
pub struct CloneArgs {
    /// The environment repository: a path, file://, ssh:// (or user@host:path), https:// or
    /// git:// URL.
    pub url: String,
    /// Where to make the environment (default: the repository's name, in this folder).
    pub path: Option<PathBuf>,
}

pub fn exec(ctx: &Context, args: CloneArgs) -> Result<i32> {
    let path = args
        .path
        .unwrap_or_else(|| clone::default_clone_dir(&args.url));
    let report = clone::clone(
        &args.url,
        &path,
        ctx.home.clone(),
        ctx.open_options(),
        ctx.lock_timeout,
    )?;
    if !ctx.quiet {
        println!(
            "Cloned {} into {} (profiles: {})",
            args.url,
            report.path.display(),
            report.profiles.join(", ")
        );
    }
    Ok(print_sync(ctx, &report.sync))
}
