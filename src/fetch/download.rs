//! Downloads of `http://`, `https://` and `file://` URLs (and plain paths) into a file: streamed,
//! size-capped, hashed on the way, written to a temporary file next to the destination and
//! renamed into place only once complete.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

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

/// What an HTTP server said identifies the copy it sent (its `ETag` and `Last-Modified`), kept
/// beside a cached file so the next request can ask whether it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether there is anything to ask a server with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    /// The conditional request headers these validators make. Pure.
    fn request_headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = Vec::new();
        if let Some(etag) = &self.etag {
            headers.push(("If-None-Match", etag.as_str()));
        }
        if let Some(date) = &self.last_modified {
            headers.push(("If-Modified-Since", date.as_str()));
        }
        headers
    }

    /// The validators of a response's headers. Pure.
    fn of_response<B>(response: &ureq::http::Response<B>) -> Validators {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        }
    }
}

/// The outcome of [`download_if_changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditional {
    /// The server answered 304: the copy the validators describe is current; `dest` is as it was.
    NotModified,
    /// A new copy is at `dest`.
    Downloaded {
        sha256: String,
        /// What the server said identifies this copy (empty for local files).
        validators: Validators,
    },
}

/// Downloads `url` into `dest` and returns the sha256 (hex) of what was stored.
///
/// `dest`'s directory is created if needed. Nothing appears at `dest` unless the whole
/// download succeeded and fit within `opts.max_download_bytes`. The file is flushed to disk
/// before it takes its name, so after a crash a file at `dest` is whole.
pub fn download(url: &str, dest: &Path, opts: &FetchOptions) -> Result<String, FetchError> {
    only_downloaded(
        url,
        download_if_changed(url, dest, &Validators::default(), opts)?,
    )
}

/// [`download`] without flushing the file to disk: for a file read right away and not trusted
/// after a crash (a source archive unpacked into a build's scratch folder), where waiting for
/// the disk is time lost.
pub fn download_unflushed(
    url: &str,
    dest: &Path,
    opts: &FetchOptions,
) -> Result<String, FetchError> {
    only_downloaded(
        url,
        fetch_into(url, dest, &Validators::default(), opts, false)?,
    )
}

/// The digest of an unconditional download: asked without validators, a 304 is an error
/// status.
fn only_downloaded(url: &str, outcome: Conditional) -> Result<String, FetchError> {
    match outcome {
        Conditional::Downloaded { sha256, .. } => Ok(sha256),
        Conditional::NotModified => Err(FetchError::HttpStatus {
            url: url.to_string(),
            status: 304,
        }),
    }
}

/// [`download`], asking an HTTP server with `known` (the validators of the copy at `dest`)
/// whether its file changed: a 304 answer downloads nothing. Local files are always copied.
pub fn download_if_changed(
    url: &str,
    dest: &Path,
    known: &Validators,
    opts: &FetchOptions,
) -> Result<Conditional, FetchError> {
    fetch_into(url, dest, known, opts, true)
}

/// [`download_if_changed`], flushing the new copy to disk before it takes its name when
/// `flush` is set.
fn fetch_into(
    url: &str,
    dest: &Path,
    known: &Validators,
    opts: &FetchOptions,
    flush: bool,
) -> Result<Conditional, FetchError> {
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

    let mut validators = Validators::default();
    match location {
        Location::Local(path) => {
            let mut file = open_local(url, &path)?;
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
            let Some(response) = http_get_if_changed(&url, known, opts).map_err(past_deadline)?
            else {
                return Ok(Conditional::NotModified);
            };
            validators = Validators::of_response(&response);
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
    if flush {
        temp.as_file()
            .sync_all()
            .map_err(|e| FetchError::io("cannot write", dest, e))?;
    }
    temp.persist(dest)
        .map_err(|e| FetchError::io("cannot rename download to", dest, e.error))?;
    Ok(Conditional::Downloaded { sha256, validators })
}

/// Opens the file a local URL names, saying which URL a failure is about.
fn open_local(url: &str, path: &Path) -> Result<File, FetchError> {
    File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => FetchError::FileNotFound {
            url: url.to_string(),
            path: path.to_path_buf(),
        },
        _ => FetchError::Transport {
            url: url.to_string(),
            reason: format!("cannot open {}: {e}", path.display()),
        },
    })
}

/// The sha256 of the local file `url` names (a `file://` URL or a path), read where it is,
/// within the download size limit.
pub(super) fn sha256_local(url: &str, opts: &FetchOptions) -> Result<String, FetchError> {
    let Location::Local(path) = location_of(url)? else {
        return Err(FetchError::Transport {
            url: url.to_string(),
            reason: "not a local file".to_string(),
        });
    };
    let mut file = open_local(url, &path)?;
    let mut writer = HashingWriter::new(io::sink());
    copy_into(url, &mut file, &mut writer, &path, opts.max_download_bytes)?;
    Ok(writer.finish().1)
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

/// The HTTP agent for `opts`' timeouts: one per process and set of timeouts, so every request
/// of a command shares its connection pool (a server is connected to, and TLS set up with it,
/// once rather than for every file) and the TLS configuration, whose system roots cost a read
/// and parse of the whole CA bundle each time one is made.
pub(crate) fn http_agent(opts: &FetchOptions) -> ureq::Agent {
    type Timeouts = (Duration, Duration, Duration);
    static AGENTS: Mutex<Vec<(Timeouts, ureq::Agent)>> = Mutex::new(Vec::new());
    let key = (
        opts.connect_timeout,
        opts.read_timeout,
        opts.download_timeout,
    );
    let mut agents = AGENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, agent)) = agents.iter().find(|(k, _)| *k == key) {
        return agent.clone();
    }
    let agent = new_http_agent(opts);
    agents.push((key, agent.clone()));
    agent
}

/// A new HTTP agent configured from `opts`: rustls with the trusted roots of [`root_certs`],
/// timeouts, and statuses handled by the caller so errors can name them.
/// Connections kept open to one host between requests: as many as lvm sends at once to a host
/// (the 8 packages prepared, or looked up in a cache, side by side), where ureq keeps 3, so the
/// others connected (and shook hands) again for every request.
const IDLE_CONNECTIONS_PER_HOST: usize = 8;

fn new_http_agent(opts: &FetchOptions) -> ureq::Agent {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(root_certs()))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_idle_connections_per_host(IDLE_CONNECTIONS_PER_HOST)
        .max_idle_connections(2 * IDLE_CONNECTIONS_PER_HOST)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        // One request with its whole body; `download` names the limit when it trips.
        .timeout_global(Some(opts.download_timeout))
        .user_agent(concat!("lvm/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// The certificates TLS connections trust, read once per process when the first HTTP agent is
/// made: those of `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set (they replace the
/// system's, as with OpenSSL), else the system's store. Unreadable entries are skipped; with
/// none at all, a TLS connection fails naming an unknown issuer and [`describe_ureq_error`]
/// says where roots come from.
fn root_certs() -> Arc<Vec<ureq::tls::Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<ureq::tls::Certificate<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::debug!("skipped a trusted certificate source: {error}");
            }
            Arc::new(
                found
                    .certs
                    .iter()
                    .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
                    .collect(),
            )
        })
        .clone()
}

/// GETs `url`, asking with `known`'s validators, turning transport failures and non-2xx
/// statuses into errors naming the URL; `None` when the server answers 304 Not Modified to
/// the validators.
fn http_get_if_changed(
    url: &str,
    known: &Validators,
    opts: &FetchOptions,
) -> Result<Option<ureq::http::Response<ureq::Body>>, FetchError> {
    let mut request = http_agent(opts).get(url);
    for (name, value) in known.request_headers() {
        request = request.header(name, value);
    }
    let response = request.call().map_err(|e| FetchError::Transport {
        url: url.to_string(),
        reason: describe_ureq_error(&e),
    })?;
    let status = response.status();
    if status == ureq::http::StatusCode::NOT_MODIFIED && !known.is_empty() {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(FetchError::HttpStatus {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    Ok(Some(response))
}

/// What a TLS error over the server's certificate adds: where trusted certificates come from.
const UNTRUSTED_HINT: &str = " (the server's certificate is not signed by a trusted authority: \
     lvm trusts the system's certificates, or only those of SSL_CERT_FILE and SSL_CERT_DIR when \
     either is set; add the authority there, or check the URL)";

pub(crate) fn describe_ureq_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(which) => {
            format!(
                "timed out ({which}); the server did not answer in time, retry or raise the timeout"
            )
        }
        ureq::Error::Io(io) => {
            let certificate = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)));
            format!(
                "connection failed: {io}{}",
                if certificate { UNTRUSTED_HINT } else { "" }
            )
        }
        ureq::Error::Rustls(e @ rustls::Error::InvalidCertificate(_)) => {
            format!("TLS failed: {e}{UNTRUSTED_HINT}")
        }
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
