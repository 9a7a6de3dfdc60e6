//! Downloads of `http://`, `https://` and `file://` URLs (and plain paths) into a file: streamed,
//! size-capped, hashed on the way, written to a temporary file next to the destination and
//! renamed into place only once complete.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

use super::hash::{CopyError, CopyOutcome, HashingWriter, copy_limited};
use super::{FetchError, FetchOptions};

/// Where a download comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Http(String),
    Local(PathBuf),
}

/// Classifies `url`: `http(s)://` stays a URL, `file://` and scheme-less strings become paths.
/// Other schemes are rejected, naming the URL.
pub fn location_of(url: &str) -> Result<Location, FetchError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Location::Http(url.to_string()));
    }
    if let Some(path) = file_url_path(url) {
        return Ok(Location::Local(path));
    }
    if url.contains("://") {
        return Err(FetchError::UnsupportedUrl {
            url: url.to_string(),
        });
    }
    Ok(Location::Local(PathBuf::from(url)))
}

/// The path of a `file://` URL (`file:///abs`, `file://localhost/abs`, or LuaRocks'
/// `file://relative`), percent-decoded; `None` if `url` is not a `file://` URL.
pub fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file://")?;
    let rest = match rest.strip_prefix("localhost") {
        Some(after) if after.starts_with('/') => after,
        _ => rest,
    };
    Some(PathBuf::from(percent_decode(rest)))
}

/// Decodes `%XX` escapes; malformed escapes are kept as written, bytes that are not UTF-8
/// become U+FFFD.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The last path segment of a URL (without query or fragment), which is the file name a
/// download is saved under unless a rockspec's `source.file` says otherwise.
pub fn url_file_name(url: &str) -> Option<String> {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let name = without_query.trim_end_matches('/').rsplit('/').next()?;
    if name.is_empty() {
        return None;
    }
    Some(percent_decode(name))
}

/// Downloads `url` into `dest` and returns the sha256 (hex) of what was stored.
///
/// `dest`'s directory is created if needed. Nothing appears at `dest` unless the whole
/// download succeeded and fit within `opts.max_download_bytes`.
pub fn download(url: &str, dest: &Path, opts: &FetchOptions) -> Result<String, FetchError> {
    let location = location_of(url)?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .map_err(|e| FetchError::io("cannot create directory", &parent, e))?;
    let temp = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(&parent)
        .map_err(|e| FetchError::io("cannot create a temporary file in", &parent, e))?;
    let mut writer = HashingWriter::new(BufWriter::new(temp));

    match location {
        Location::Local(path) => {
            let mut file = File::open(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => FetchError::FileNotFound {
                    url: url.to_string(),
                    path: path.clone(),
                },
                _ => FetchError::Transport {
                    url: url.to_string(),
                    reason: format!("cannot open {}: {e}", path.display()),
                },
            })?;
            copy_into(url, &mut file, &mut writer, dest, opts.max_download_bytes)?;
        }
        Location::Http(url) => {
            let started = std::time::Instant::now();
            // However the transfer failed, past the deadline the deadline is the reason.
            let past_deadline = |e: FetchError| {
                if started.elapsed() >= opts.download_timeout {
                    FetchError::DeadlineExceeded {
                        url: url.clone(),
                        limit: opts.download_timeout,
                    }
                } else {
                    e
                }
            };
            let response = http_get(&url, opts).map_err(past_deadline)?;
            if let Some(len) = response.body().content_length()
                && len > opts.max_download_bytes
            {
                return Err(FetchError::TooLarge {
                    url,
                    limit: opts.max_download_bytes,
                });
            }
            let mut reader = response.into_body().into_reader();
            copy_into(
                &url,
                &mut reader,
                &mut writer,
                dest,
                opts.max_download_bytes,
            )
            .map_err(past_deadline)?;
        }
    }

    let (buffered, sha256) = writer.finish();
    let temp = buffered
        .into_inner()
        .map_err(|e| FetchError::io("cannot write", dest, e.into_error()))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| FetchError::io("cannot write", dest, e))?;
    temp.persist(dest)
        .map_err(|e| FetchError::io("cannot rename download to", dest, e.error))?;
    Ok(sha256)
}

fn copy_into<R: Read, W: Write>(
    url: &str,
    reader: &mut R,
    writer: &mut W,
    dest: &Path,
    limit: u64,
) -> Result<u64, FetchError> {
    match copy_limited(reader, writer, limit) {
        Ok(CopyOutcome::Complete(n)) => Ok(n),
        Ok(CopyOutcome::LimitExceeded) => Err(FetchError::TooLarge {
            url: url.to_string(),
            limit,
        }),
        Err(CopyError::Read(e)) => Err(FetchError::Transport {
            url: url.to_string(),
            reason: format!("reading the response failed: {e}"),
        }),
        Err(CopyError::Write(e)) => Err(FetchError::io("cannot write", dest, e)),
    }
}

/// An HTTP agent configured from `opts`: native TLS with the system's roots, timeouts, and
/// statuses handled by the caller so errors can name them.
pub(crate) fn http_agent(opts: &FetchOptions) -> ureq::Agent {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        // One request with its whole body; `download` names the limit when it trips.
        .timeout_global(Some(opts.download_timeout))
        .user_agent(concat!("lvm/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// GETs `url`, turning transport failures and non-2xx statuses into errors naming the URL.
pub(crate) fn http_get(
    url: &str,
    opts: &FetchOptions,
) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
    let response = http_agent(opts)
        .get(url)
        .call()
        .map_err(|e| FetchError::Transport {
            url: url.to_string(),
            reason: describe_ureq_error(&e),
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::HttpStatus {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    Ok(response)
}

pub(crate) fn describe_ureq_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(which) => {
            format!(
                "timed out ({which}); the server did not answer in time, retry or raise the timeout"
            )
        }
        ureq::Error::Io(io) => format!("connection failed: {io}"),
        ureq::Error::HostNotFound => "host not found; check the URL and your network".to_string(),
        ureq::Error::ConnectionFailed => "connection failed; is the server up?".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_locations() {
        assert_eq!(
            location_of("https://example.test/a.tar.gz").unwrap(),
            Location::Http("https://example.test/a.tar.gz".into())
        );
        assert_eq!(
            location_of("file:///tmp/x").unwrap(),
            Location::Local("/tmp/x".into())
        );
        assert_eq!(
            location_of("file://localhost/tmp/a%20b").unwrap(),
            Location::Local("/tmp/a b".into())
        );
        assert_eq!(
            location_of("rel/path.zip").unwrap(),
            Location::Local("rel/path.zip".into())
        );
        assert!(matches!(
            location_of("ftp://h/x"),
            Err(FetchError::UnsupportedUrl { .. })
        ));
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%"), "A%");
        assert_eq!(percent_decode("caf%C3%A9%20x"), "café x");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn file_names_of_urls() {
        assert_eq!(
            url_file_name("https://h/p/foo-1.0.tar.gz").as_deref(),
            Some("foo-1.0.tar.gz")
        );
        assert_eq!(
            url_file_name("https://h/p/foo.zip?x=1#f").as_deref(),
            Some("foo.zip")
        );
        assert_eq!(
            url_file_name("file:///srv/rocks/").as_deref(),
            Some("rocks")
        );
        assert_eq!(url_file_name("foo.tar.gz").as_deref(), Some("foo.tar.gz"));
    }
}
