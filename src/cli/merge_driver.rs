//! `lvm merge-driver BASE OURS THEIRS [PATH]` (hidden): what git runs to merge `manifest.json`
//! in an environment repository, registered there by lvm (see `docs/history.md`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::exit;
use lvm::ops::merge_driver;

#[derive(Debug, Args)]
#[command(after_help = "\
git runs it as `lvm merge-driver %O %A %B %P` for manifest.json, as lvm registers it in each
environment repository (.git/info/attributes and .git/config).

Examples:
  git merge dev   manifest.json merged package by package, then `lvm sync`")]
pub struct MergeDriverArgs {
    /// The merge base's manifest.json (git's %O).
    pub base: PathBuf,
    /// Ours (git's %A); the result is written here.
    pub ours: PathBuf,
    /// Theirs (git's %B).
    pub theirs: PathBuf,
    /// The file's path in the repository (git's %P), for messages.
    #[arg(default_value = lvm::envrepo::MANIFEST_FILE)]
    pub path: String,
}

/// A clean merge exits 0 with the result in OURS; a conflict (or a failure) exits 1, which git
/// reports as a conflict in the file.
pub fn exec(args: MergeDriverArgs) -> Result<i32> {
    merge_driver::merge_files(&args.base, &args.ours, &args.theirs, &args.path)?;
    Ok(exit::OK)
}

/// The shell command git runs as the merge driver: this lvm binary (quoted) with
/// `merge-driver`; `None` when the binary's path is unknown.
pub fn driver_command() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    Some(format!(
        "{} merge-driver",
        lvm::tree::wrapper::sh_quote(&exe.to_string_lossy())
    ))
}
