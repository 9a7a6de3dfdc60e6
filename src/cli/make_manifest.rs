//! `lvm make-manifest DIR`: writes the manifest files of a rocks server folder, as
//! `luarocks-admin make-manifest` does.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::exit;
use lvm::ops::publish;

const MANIFEST_EXAMPLES: &str = "\
Examples:
  lvm make-manifest /srv/rocks                     index every rockspec and rock in the folder
  lvm init --server file:///srv/rocks              then use the folder as a rocks server";

#[derive(Debug, Args)]
#[command(after_help = MANIFEST_EXAMPLES)]
pub struct MakeManifestArgs {
    /// The server folder holding `.rockspec` and `.rock` files.
    pub dir: PathBuf,
}

pub fn exec(quiet: bool, args: MakeManifestArgs) -> Result<i32> {
    if !args.dir.is_dir() {
        anyhow::bail!(
            "{} is not a folder (give the rocks server folder to index)",
            args.dir.display()
        );
    }
    let manifest = publish::make_manifest(&args.dir)?;
    if !quiet {
        let versions: usize = manifest.packages.values().map(|v| v.len()).sum();
        println!(
            "Wrote {} in {}: {} packages, {} versions",
            publish::MANIFEST_FILES.join(", "),
            args.dir.display(),
            manifest.packages.len(),
            versions
        );
    }
    Ok(exit::OK)
}
