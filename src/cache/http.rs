//! An HTTP(S) server as a build cache: objects are read with GET and written with PUT, as
//! WebDAV servers, object-store gateways and simple upload endpoints accept.

use std::path::Path;

use super::CacheError;
use crate::fetch::FetchOptions;

/// Downloads object `name` under `base` to `dest`; `Ok(false)` when the server has none.
pub(super) fn get(
    base: &str,
    name: &str,
    dest: &Path,
    opts: &FetchOptions,
) -> Result<bool, CacheError> {
    super::download(base, &format!("{base}/{name}"), dest, opts)
}

/// Uploads object `name` under `base`.
pub(super) fn put(
    base: &str,
    name: &str,
    bytes: &[u8],
    opts: &FetchOptions,
) -> Result<(), CacheError> {
    put_url(base, name, &format!("{base}/{name}"), bytes, opts)
}

/// PUTs `bytes` to `url` (object `name` of cache `cache`); any status but 2xx is refused.
pub(super) fn put_url(
    cache: &str,
    name: &str,
    url: &str,
    bytes: &[u8],
    opts: &FetchOptions,
) -> Result<(), CacheError> {
    let write_error = |reason: String| CacheError::Write {
        cache: cache.to_string(),
        object: name.to_string(),
        reason,
    };
    let response = crate::fetch::download::http_agent(opts)
        .put(url)
        .header("content-type", "application/octet-stream")
        .send(bytes)
        .map_err(|e| write_error(crate::fetch::download::describe_ureq_error(&e)))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        let hint = match status {
            401 | 403 => " (access denied: check the credentials and that they may write there)",
            405 | 501 => {
                " (the server does not accept PUT: serve the folder with a server that does, or push to the folder itself)"
            }
            _ => "",
        };
        Err(write_error(format!(
            "the server answered HTTP {status}{hint}"
        )))
    }
}
