//! A folder as a build cache (`file:///srv/lvm-cache`, an NFS mount): objects are files, written
//! to a temporary name and renamed into place, so a reader never sees half an object and two
//! pushes of the same entry each leave a whole one.

use std::path::{Path, PathBuf};

use super::CacheError;
use crate::fetch::FetchOptions;

/// Downloads object `name` of the cache folder `root` to `dest`; `Ok(false)` when it has none.
pub(super) fn get(
    url: &str,
    root: &Path,
    name: &str,
    dest: &Path,
    opts: &FetchOptions,
) -> Result<bool, CacheError> {
    let file = root.join(name);
    super::download(url, &format!("file://{}", file.display()), dest, opts)
}

/// Writes object `name` into the cache folder `root`.
pub(super) fn put(url: &str, root: &Path, name: &str, bytes: &[u8]) -> Result<(), CacheError> {
    let path: PathBuf = root.join(name);
    crate::fsutil::write_atomic(&path, bytes).map_err(|cause| CacheError::Write {
        cache: url.to_string(),
        object: name.to_string(),
        reason: format!("cannot write {}: {cause}", path.display()),
    })
}
