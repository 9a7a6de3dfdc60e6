//! An HTTP(S) server as a build cache: objects are read with GET and written with PUT, as
//! WebDAV servers, object-store gateways and simple upload endpoints accept, and listed through
//! the HTML directory index a static host serves, if it serves one.

use std::path::Path;

use super::CacheError;
use super::listing::{Listing, keys_in_html_index};
use crate::fetch::{FetchError, FetchOptions};

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

/// The store keys the HTML directory index of `base` links to. A static host has no other
/// listing: a server without an index (a 403 or 404 for `base/`, or an answer that is not
/// HTML) is [`CacheError::NotListable`], saying what to do instead.
pub(super) fn list(base: &str, work: &Path, opts: &FetchOptions) -> Result<Listing, CacheError> {
    let url = format!("{base}/");
    let page = work.join("index.html");
    let not_listable = |reason: String| CacheError::NotListable {
        cache: base.to_string(),
        reason,
    };
    match crate::fetch::download(&url, &page, opts) {
        Ok(_) => {}
        Err(FetchError::HttpStatus { status, .. }) if matches!(status, 401..=405 | 410 | 501) => {
            return Err(not_listable(format!("GET {url} answered HTTP {status}")));
        }
        Err(e) => {
            return Err(CacheError::Read {
                cache: base.to_string(),
                reason: crate::errors::error_text(&e),
            });
        }
    }
    let bytes = std::fs::read(&page).map_err(|cause| CacheError::Local {
        path: page.clone(),
        cause,
    })?;
    let keys = keys_in_html_index(&String::from_utf8_lossy(&bytes)).ok_or_else(|| {
        not_listable(format!(
            "GET {url} does not answer with an HTML directory index"
        ))
    })?;
    Ok(Listing::of(keys, false))
}
