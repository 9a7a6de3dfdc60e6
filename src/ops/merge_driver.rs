//! `lvm merge-driver`: the git merge driver of `manifest.json`, so a plain `git merge` or
//! `git pull` merges packages three-way as `lvm profile merge` does (see [`crate::merge`]).
//!
//! git hands the driver three files (the merge base's, ours, theirs) and takes the result in
//! ours. Without a resolver over the rocks servers, the merged packages are settled among the
//! builds the two sides recorded; `lvm sync` then makes the tree of the merge.

use std::path::Path;

use crate::manifest::Manifest;
use crate::merge::{self, Choices, Side};
use crate::ops::profile::conflicts_of;
use crate::ops::{Error, PackageConflict, Result, fs_error};

/// Merges the `manifest.json` of `ours` (also where the result goes) and `theirs` from `base`,
/// as git asks a merge driver to; `path` is the file's path in the repository, for messages.
/// On conflicts `ours` gets both sides of each conflicting package between conflict markers
/// and the error lists them; when the merged packages do not settle, `ours` is left as it was.
pub fn merge_files(base: &Path, ours: &Path, theirs: &Path, path: &str) -> Result<Manifest> {
    let read = |file: &Path, side: &str| -> Result<Option<Manifest>> {
        let bytes = std::fs::read(file).map_err(fs_error("read", file))?;
        // git gives an empty base when the file has no common ancestor.
        if bytes.is_empty() {
            return Ok(None);
        }
        Ok(Some(Manifest::from_bytes(
            &bytes,
            &format!("{path} ({side})"),
        )?))
    };
    let our_state = read(ours, "ours")?.unwrap_or_else(|| Manifest::empty(""));
    let their_state = read(theirs, "theirs")?.unwrap_or_else(|| Manifest::empty(""));
    let common = read(base, "merge base")?.unwrap_or_else(|| Manifest::empty(&our_state.lua));
    let merged = match merge::merge_states(&common, &our_state, &their_state, &Choices::default()) {
        Ok(merged) => merged,
        Err(e) => {
            let conflicts = conflicts_of(e, "ours", "theirs")?;
            // Every conflict on our side, so the text around the marked blocks is merged.
            let partial = merge::merge_states(
                &common,
                &our_state,
                &their_state,
                &Choices {
                    all: Some(Side::Ours),
                    packages: Default::default(),
                },
            )
            .map(|m| m.state)
            .unwrap_or_else(|_| our_state.clone());
            let text = merge::conflict_text(&partial, &our_state, &their_state, &conflicts);
            crate::fsutil::write_atomic(ours, text.as_bytes()).map_err(fs_error("write", ours))?;
            return Err(Error::DriverConflicts {
                path: path.to_string(),
                conflicts: conflicts
                    .into_iter()
                    .map(|conflict| PackageConflict {
                        conflict,
                        ours_event: None,
                        theirs_event: None,
                    })
                    .collect(),
            });
        }
    };
    let settled = merge::settle(&merged.state, &[&our_state, &their_state]).map_err(|source| {
        Error::DriverUnsettled {
            path: path.to_string(),
            source,
        }
    })?;
    crate::fsutil::write_atomic(ours, &settled.to_bytes()).map_err(fs_error("write", ours))?;
    Ok(settled)
}
