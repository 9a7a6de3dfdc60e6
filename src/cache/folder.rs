//! A folder as a build cache (`file:///srv/lvm-cache`, an NFS mount): objects are files, written
//! to a temporary name and renamed into place, so a reader never sees half an object and two
//! pushes of the same entry each leave a whole one.

use std::path::{Path, PathBuf};

use super::CacheError;
use super::entry::ENTRY_FILE;
use super::listing::{Listing, MAX_LISTED_ENTRIES};
use crate::fetch::FetchOptions;
use crate::store::StoreKey;

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

/// The store keys the cache folder `root` holds an `entry.json` for. A folder without one is a
/// push under way (its rock comes first) and is left out, and so are names that are no store
/// key. At most [`MAX_LISTED_ENTRIES`] keys, after at most four times as many names.
pub(super) fn list(url: &str, root: &Path) -> Result<Listing, CacheError> {
    let read_error = |cause: std::io::Error| CacheError::Read {
        cache: url.to_string(),
        reason: format!("cannot list {}: {cause}", root.display()),
    };
    let mut keys = Vec::new();
    let mut more = false;
    for (seen, dirent) in std::fs::read_dir(root).map_err(read_error)?.enumerate() {
        if keys.len() > MAX_LISTED_ENTRIES || seen >= 4 * MAX_LISTED_ENTRIES {
            more = true;
            break;
        }
        let dirent = dirent.map_err(read_error)?;
        let Some(key) = dirent
            .file_name()
            .to_str()
            .and_then(|name| StoreKey::parse(name).ok())
        else {
            continue;
        };
        if dirent.path().join(ENTRY_FILE).is_file() {
            keys.push(key);
        }
    }
    Ok(Listing::of(keys, more))
}
