//! `lvm pack`: packs a rockspec and its sources into `<name>-<version>.src.rock`, as
//! `luarocks pack` does, ready for a rocks server folder: the files git tracks (in a git
//! checkout), or the repository a git `source.url` names; `--binary NAME` packs an installed
//! package's build as a binary rock.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;

use super::{Context, exit};
use lvm::ops::publish;

const PACK_EXAMPLES: &str = "\
Examples:
  lvm pack foo-1.0-1.rockspec                          pack its folder into ./foo-1.0-1.src.rock
  lvm pack foo-1.0-1.rockspec --to /srv/rocks          write the rock into a server folder
  lvm pack rockspecs/foo-1.0-1.rockspec --source-dir . sources are elsewhere
  lvm pack foo-scm-1.rockspec                          source.url git+https://...: clone and pack
  lvm pack --binary penlight --to /srv/rocks           penlight-1.14.0-1.all.rock, as installed
  lvm make-manifest /srv/rocks                         then index the server folder

In a git checkout only the files git tracks are packed: .git/ and ignored files stay out.";

#[derive(Debug, Args)]
#[command(after_help = PACK_EXAMPLES)]
pub struct PackArgs {
    /// The rockspec to pack. Its `source.url` must end in `.tar.gz`, `.tgz` or `.zip` (the
    /// archive inside the rock gets that name and kind) or be a git URL (the repository is
    /// cloned and packed).
    /// With --binary: the name of an installed package.
    #[arg(value_name = "ROCKSPEC|NAME")]
    pub rockspec: PathBuf,
    /// The folder whose files become the sources (default: the rockspec's folder). Rockspec
    /// files in it are left out.
    #[arg(long, value_name = "DIR", conflicts_with = "binary")]
    pub source_dir: Option<PathBuf>,
    /// Where to write the rock (default: the current folder).
    #[arg(long, value_name = "SERVER_DIR")]
    pub to: Option<PathBuf>,
    /// Pack an installed package's build as `<name>-<version>.<arch>.rock` (`all` when it
    /// has no compiled files), which `luarocks install` and `lvm install` accept.
    #[arg(long)]
    pub binary: bool,
}

/// The folder a rockspec's sources are packed from when none is given.
fn default_source_dir(rockspec: &Path) -> PathBuf {
    match rockspec.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn exec(ctx: &Context, args: PackArgs) -> Result<i32> {
    let out_dir = args.to.clone().unwrap_or_else(|| PathBuf::from("."));
    let rock = if args.binary {
        let env = ctx.open()?;
        let name = args.rockspec.to_string_lossy();
        publish::pack_installed(&env, &name, &out_dir)
            .with_context(|| format!("packing the installed {name}"))?
    } else if source_is_git(&args.rockspec) && args.source_dir.is_none() {
        let scratch = tempfile::tempdir()?;
        publish::pack_git_src_rock(&args.rockspec, &out_dir, scratch.path())
            .with_context(|| format!("packing {}", args.rockspec.display()))?
    } else {
        let source_dir = args
            .source_dir
            .unwrap_or_else(|| default_source_dir(&args.rockspec));
        if !source_dir.is_dir() {
            anyhow::bail!(
                "source folder {} does not exist (pass --source-dir DIR)",
                source_dir.display()
            );
        }
        publish::pack_src_rock(&args.rockspec, &source_dir, &out_dir)
            .with_context(|| format!("packing {}", args.rockspec.display()))?
    };
    if !ctx.quiet {
        println!("Packed {}", rock.display());
    }
    Ok(exit::OK)
}

/// Whether the rockspec's `source.url` is a git repository (a rockspec that cannot be read says
/// why when it is packed).
fn source_is_git(rockspec: &Path) -> bool {
    lvm::rockspec::Rockspec::from_file(rockspec)
        .is_ok_and(|r| lvm::fetch::is_git_url(&r.source.url))
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
