//! A small real HTTP/1.1 server on 127.0.0.1 for tests: serves a directory (with an ETag per
//! file, answering 304 to a matching If-None-Match), can be told to answer a given status or to
//! stall on chosen paths, to store PUT bodies (as WebDAV servers and upload endpoints do),
//! counts requests per path, and shuts down (joining its threads) when dropped. Over HTTPS too
//! ([`TestServer::serve_tls`]), with a certificate from a throwaway authority ([`TestTls`]).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Connections served at once; more get a 503 so a runaway client cannot exhaust threads.
const MAX_CONNECTIONS: usize = 32;
/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest PUT body accepted.
const MAX_BODY: usize = 64 << 20;

/// How the server answers a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Answer with this status and a short body.
    Status(u16),
    /// Accept the request and never answer (until the server is dropped).
    Stall,
    /// Serve the file, one byte at a time with this pause in milliseconds between bytes (a
    /// server that stays just under every per-read timeout).
    Trickle(u64),
}

struct Shared {
    root: PathBuf,
    rules: Mutex<HashMap<String, Rule>>,
    counts: Mutex<HashMap<String, usize>>,
    /// Requests per path answered 304 Not Modified.
    not_modified: Mutex<HashMap<String, usize>>,
    shutdown: AtomicBool,
    active: AtomicUsize,
    /// Whether PUT stores its body under the root (else 405).
    puts: AtomicBool,
    /// Set for HTTPS: every connection is TLS with this configuration.
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// A throwaway certificate authority and a certificate it signed for `127.0.0.1`, made with
/// the `openssl` program, for HTTPS test servers. Clients trust it through the file
/// [`TestTls::ca_file`] (given to lvm as `SSL_CERT_FILE`, or its folder as `SSL_CERT_DIR`).
pub struct TestTls {
    dir: tempfile::TempDir,
    config: Arc<rustls::ServerConfig>,
}

impl TestTls {
    pub fn new() -> TestTls {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca");
        std::fs::create_dir(&ca).expect("create the CA folder");
        let at = |name: &str| dir.path().join(name);
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        std::fs::write(
            at("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write server.ext");
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509"][..],
                &ec,
                &["-days", "2", "-subj", "/CN=lvm test CA"],
            ]
            .concat(),
            [&["req"][..], &ec, &["-subj", "/CN=127.0.0.1"]].concat(),
            vec!["x509", "-req", "-days", "2", "-CAcreateserial"],
        ];
        let files: [Vec<(&str, PathBuf)>; 3] = [
            vec![("-keyout", at("ca.key")), ("-out", ca.join("ca.pem"))],
            vec![("-keyout", at("server.key")), ("-out", at("server.csr"))],
            vec![
                ("-in", at("server.csr")),
                ("-CA", ca.join("ca.pem")),
                ("-CAkey", at("ca.key")),
                ("-extfile", at("server.ext")),
                ("-out", at("server.pem")),
            ],
        ];
        for (args, files) in steps.iter().zip(files) {
            let mut cmd = std::process::Command::new("openssl");
            cmd.args(args);
            for (flag, path) in files {
                cmd.arg(flag).arg(path);
            }
            let out = cmd.output().expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let cert = CertificateDer::from_pem_file(at("server.pem")).expect("server.pem");
        let key = PrivateKeyDer::from_pem_file(at("server.key")).expect("server.key");
        // ring, the provider of lvm's own client; rustls deprecates it for lacking
        // post-quantum key exchange, which a loopback test has no use for.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server certificate");
        TestTls {
            dir,
            config: Arc::new(config),
        }
    }

    /// The authority's certificate (PEM), alone in its folder.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca/ca.pem")
    }
}

/// The server. `url()` is its base URL, e.g. `http://127.0.0.1:40123`.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts serving the files under `root`.
    pub fn serve(root: &Path) -> TestServer {
        TestServer::start(root, None)
    }

    /// Starts serving the files under `root` over HTTPS with `tls`'s certificate.
    pub fn serve_tls(root: &Path, tls: &TestTls) -> TestServer {
        TestServer::start(root, Some(Arc::clone(&tls.config)))
    }

    fn start(root: &Path, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            rules: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
            not_modified: Mutex::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            puts: AtomicBool::new(false),
            tls,
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(listener, shared))
        };
        TestServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The base URL, without a trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The URL of `path` (with or without a leading slash).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}/{}", self.url(), path.trim_start_matches('/'))
    }

    /// Answers `path` with `status` from now on.
    pub fn respond_status(&self, path: &str, status: u16) {
        self.set_rule(path, Rule::Status(status));
    }

    pub fn respond_404(&self, path: &str) {
        self.respond_status(path, 404);
    }

    pub fn respond_500(&self, path: &str) {
        self.respond_status(path, 500);
    }

    /// Stores the body of each PUT under the root from now on (written to a temporary file and
    /// renamed, so a concurrent GET sees the old file or the new one), answering 201.
    pub fn accept_puts(&self) {
        self.shared.puts.store(true, Ordering::SeqCst);
    }

    /// Never answers requests for `path`.
    pub fn stall(&self, path: &str) {
        self.set_rule(path, Rule::Stall);
    }

    /// Serves `path` one byte at a time, pausing `pause` between bytes.
    pub fn trickle(&self, path: &str, pause: Duration) {
        self.set_rule(path, Rule::Trickle(pause.as_millis() as u64));
    }

    /// Requests received for `path` so far.
    pub fn requests(&self, path: &str) -> usize {
        self.shared
            .counts
            .lock()
            .unwrap()
            .get(&normalize(path))
            .copied()
            .unwrap_or(0)
    }

    /// Requests for `path` answered 304 Not Modified so far (the client's If-None-Match named
    /// the file's current ETag).
    pub fn not_modified(&self, path: &str) -> usize {
        self.shared
            .not_modified
            .lock()
            .unwrap()
            .get(&normalize(path))
            .copied()
            .unwrap_or(0)
    }

    /// Requests received for any path so far.
    pub fn total_requests(&self) -> usize {
        self.shared.counts.lock().unwrap().values().sum()
    }

    fn set_rule(&self, path: &str, rule: Rule) {
        self.shared
            .rules
            .lock()
            .unwrap()
            .insert(normalize(path), rule);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the acceptor sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// A connection, plain or TLS.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Paths are keyed with exactly one leading slash and no query.
fn normalize(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    format!("/{}", path.trim_start_matches('/'))
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut stream) = stream else { continue };
        workers.retain(|w| !w.is_finished());
        if shared.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            let _ = write_response(&mut stream, 503, b"too many connections", false);
            continue;
        }
        shared.active.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(&shared);
        workers.push(thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            match &shared.tls {
                Some(config) => {
                    let Ok(connection) = rustls::ServerConnection::new(Arc::clone(config)) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(connection, stream);
                    handle(&mut tls, &shared);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
                None => handle(&mut stream, &shared),
            }
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    for worker in workers {
        let _ = worker.join();
    }
}

fn handle(stream: &mut impl ReadWrite, shared: &Shared) {
    let Some(Request {
        method,
        path,
        if_none_match,
        length,
        leftover,
    }) = read_request_head(stream)
    else {
        return;
    };
    let path = normalize(&percent_decode(&path));
    *shared
        .counts
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_insert(0) += 1;
    let head_only = method == "HEAD";
    let rule = shared.rules.lock().unwrap().get(&path).copied();
    match rule {
        Some(Rule::Stall) => {
            while !shared.shutdown.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
        }
        Some(Rule::Trickle(pause)) => {
            let body = resolve(&shared.root, &path)
                .and_then(|p| std::fs::read(p).ok())
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            for byte in body {
                if shared.shutdown.load(Ordering::SeqCst) || stream.write_all(&[byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(pause));
            }
        }
        Some(Rule::Status(status)) => {
            let body = format!("status {status} for {path}\n");
            let _ = write_response(stream, status, body.as_bytes(), head_only);
        }
        None if method == "PUT" => {
            let status = if shared.puts.load(Ordering::SeqCst) {
                store_put(stream, &shared.root, &path, length, leftover)
            } else {
                405
            };
            let _ = write_response(stream, status, b"", false);
        }
        None => match resolve(&shared.root, &path).and_then(|p| std::fs::read(p).ok()) {
            Some(body) if if_none_match.as_deref() == Some(etag(&body).as_str()) => {
                *shared
                    .not_modified
                    .lock()
                    .unwrap()
                    .entry(path.clone())
                    .or_insert(0) += 1;
                let head = format!(
                    "HTTP/1.1 304 Not Modified\r\nETag: {}\r\nConnection: close\r\n\r\n",
                    etag(&body)
                );
                let _ = stream.write_all(head.as_bytes());
            }
            Some(body) => {
                let _ = write_file_response(stream, &body, head_only);
            }
            None => {
                let _ = write_response(stream, 404, b"not found\n", head_only);
            }
        },
    }
}

/// A file's ETag: its length and a 64-bit FNV-1a hash of its bytes, quoted.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{:x}-{hash:016x}\"", body.len())
}

/// What the server reads of a request before answering it.
struct Request {
    method: String,
    path: String,
    if_none_match: Option<String>,
    /// Content-Length (0 without one).
    length: usize,
    /// The body bytes read along with the head.
    leftover: Vec<u8>,
}

/// Reads up to the blank line.
fn read_request_head(stream: &mut impl ReadWrite) -> Option<Request> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    };
    let leftover = head.split_off(end);
    let text = String::from_utf8_lossy(&head);
    let header = |wanted: &str| {
        text.lines().skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_string())
        })
    };
    let mut parts = text.lines().next()?.split_whitespace();
    Some(Request {
        method: parts.next()?.to_string(),
        path: parts.next()?.to_string(),
        if_none_match: header("if-none-match"),
        length: header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        leftover,
    })
}

/// Reads a PUT body of `length` bytes (`leftover` came with the head) and stores it at `path`
/// under `root`; returns the status to answer.
fn store_put(
    stream: &mut impl ReadWrite,
    root: &Path,
    path: &str,
    length: usize,
    mut body: Vec<u8>,
) -> u16 {
    let rel = Path::new(path.trim_start_matches('/'));
    if length > MAX_BODY || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return 400;
    }
    let mut buf = [0u8; 64 * 1024];
    while body.len() < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return 400,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    body.truncate(length);
    let full = root.join(rel);
    let dir = full.parent().unwrap_or(root);
    let stored = std::fs::create_dir_all(dir).and_then(|()| {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&body)?;
        tmp.persist(&full).map(|_| ()).map_err(|e| e.error)
    });
    if stored.is_ok() { 201 } else { 500 }
}

/// Maps a URL path to a file under `root`, refusing anything that is not a plain relative path.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel);
    // A folder answers with its index.html when it has one, as static hosts do.
    let full = if full.is_dir() {
        full.join("index.html")
    } else {
        full
    };
    full.is_file().then_some(full)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A 200 answer with a file and its ETag.
fn write_file_response(
    stream: &mut impl ReadWrite,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nETag: {}\r\nConnection: close\r\n\r\n",
        body.len(),
        etag(body)
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}

fn write_response(
    stream: &mut impl ReadWrite,
    status: u16,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        405 => "Method Not Allowed",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}
