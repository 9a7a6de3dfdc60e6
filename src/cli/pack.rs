//! `lvm pack`: packs a rockspec and its sources into `<name>-<version>.src.rock`, as
//! `luarocks pack` does, ready for a rocks server folder.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;

use super::exit;
use lvm::ops::publish;

const PACK_EXAMPLES: &str = "\
Examples:
  lvm pack foo-1.0-1.rockspec                          pack its folder into ./foo-1.0-1.src.rock
  lvm pack foo-1.0-1.rockspec --to /srv/rocks          write the rock into a server folder
  lvm pack rockspecs/foo-1.0-1.rockspec --source-dir . sources are elsewhere
  lvm make-manifest /srv/rocks                         then index the server folder";

#[derive(Debug, Args)]
#[command(after_help = PACK_EXAMPLES)]
pub struct PackArgs {
    /// The rockspec to pack. Its `source.url` must end in `.tar.gz` or `.tgz`: the archive
    /// inside the rock gets that name.
    pub rockspec: PathBuf,
    /// The folder whose files become the sources (default: the rockspec's folder). Rockspec
    /// files in it are left out.
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<PathBuf>,
    /// Where to write `<name>-<version>.src.rock` (default: the current folder).
    #[arg(long, value_name = "SERVER_DIR")]
    pub to: Option<PathBuf>,
}

/// The folder a rockspec's sources are packed from when none is given.
fn default_source_dir(rockspec: &Path) -> PathBuf {
    match rockspec.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn exec(quiet: bool, args: PackArgs) -> Result<i32> {
    let source_dir = args
        .source_dir
        .unwrap_or_else(|| default_source_dir(&args.rockspec));
    if !source_dir.is_dir() {
        anyhow::bail!(
            "source folder {} does not exist (pass --source-dir DIR)",
            source_dir.display()
        );
    }
    let out_dir = args.to.unwrap_or_else(|| PathBuf::from("."));
    let rock = publish::pack_src_rock(&args.rockspec, &source_dir, &out_dir)
        .with_context(|| format!("packing {}", args.rockspec.display()))?;
    if !quiet {
        println!("Packed {}", rock.display());
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_default_to_the_rockspec_folder() {
        assert_eq!(
            default_source_dir(Path::new("rocks/foo/foo-1.0-1.rockspec")),
            PathBuf::from("rocks/foo")
        );
        assert_eq!(
            default_source_dir(Path::new("foo-1.0-1.rockspec")),
            PathBuf::from(".")
        );
    }
}
