//! A real smart-HTTP git server on 127.0.0.1 for tests: a small HTTP/1.1 front that runs
//! `git http-backend` (the CGI program git ships) for every request, with the repositories under
//! one directory. It can require Basic auth, redirect one path prefix to another, and logs every
//! request line so tests can see which requests a client made.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const MAX_HEAD: usize = 16 * 1024;

struct Shared {
    root: PathBuf,
    /// The `Authorization` header value every request must carry, when set.
    auth: Mutex<Option<String>>,
    /// Path prefix → prefix it is redirected to.
    redirects: Mutex<Vec<(String, String)>>,
    log: Mutex<Vec<String>>,
    shutdown: AtomicBool,
}

/// The server. `url_for("env.git")` is the URL of the repository `<root>/env.git`.
pub struct GitHttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl GitHttpServer {
    /// Serves every repository under `root` (bare or not), for fetching; pushing needs
    /// [`enable_push`].
    pub fn serve(root: &Path) -> GitHttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            auth: Mutex::new(None),
            redirects: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(listener, shared))
        };
        GitHttpServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url_for(&self, repo: &str) -> String {
        format!("{}/{}", self.url(), repo.trim_start_matches('/'))
    }

    /// `http://user:password@127.0.0.1:PORT/repo`.
    pub fn url_with_credentials(&self, user: &str, password: &str, repo: &str) -> String {
        format!(
            "http://{user}:{password}@{}/{}",
            self.addr,
            repo.trim_start_matches('/')
        )
    }

    /// Answers 401 to every request without this Basic auth.
    pub fn require_basic_auth(&self, user: &str, password: &str) {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        *self.shared.auth.lock().unwrap() = Some(format!("Basic {encoded}"));
    }

    /// Answers requests under `/from` with a 302 to the same path under `/to`.
    pub fn redirect(&self, from: &str, to: &str) {
        self.shared.redirects.lock().unwrap().push((
            format!("/{}", from.trim_start_matches('/')),
            format!("/{}", to.trim_start_matches('/')),
        ));
    }

    /// Every request so far, as `METHOD /path?query STATUS`.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }
}

/// Lets `git http-backend` accept pushes into the repository at `repo`.
pub fn enable_push(repo: &Path) {
    let status = Command::new("git")
        .args(["config", "http.receivepack", "true"])
        .current_dir(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success(), "git config in {}", repo.display());
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        workers.retain(|w| !w.is_finished());
        let shared = Arc::clone(&shared);
        workers.push(thread::spawn(move || handle(stream, &shared)));
    }
    for worker in workers {
        let _ = worker.join();
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let (status, headers, body) = respond(&request, shared);
    shared.log.lock().unwrap().push(format!(
        "{} {}{}{} {status}",
        request.method,
        request.path,
        if request.query.is_empty() { "" } else { "?" },
        request.query
    ));
    let mut head = format!("HTTP/1.1 {status} Status\r\n");
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
}

type Response = (u16, Vec<(String, String)>, Vec<u8>);

fn respond(request: &Request, shared: &Shared) -> Response {
    if let Some(expected) = shared.auth.lock().unwrap().as_ref()
        && request.headers.get("authorization") != Some(expected)
    {
        return (
            401,
            vec![(
                "WWW-Authenticate".to_string(),
                "Basic realm=\"git\"".to_string(),
            )],
            b"login required\n".to_vec(),
        );
    }
    for (from, to) in shared.redirects.lock().unwrap().iter() {
        if let Some(rest) = request.path.strip_prefix(from.as_str()) {
            let mut location = format!("{to}{rest}");
            if !request.query.is_empty() {
                location.push('?');
                location.push_str(&request.query);
            }
            return (302, vec![("Location".to_string(), location)], Vec::new());
        }
    }
    run_backend(request, &shared.root)
}

/// Runs `git http-backend` as a CGI program and turns its output into a response.
fn run_backend(request: &Request, root: &Path) -> Response {
    let header = |name: &str| request.headers.get(name).cloned().unwrap_or_default();
    let mut child = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("REQUEST_METHOD", &request.method)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", "test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    let body = request.body.clone();
    // Written from another thread: the backend may answer before it has read everything.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output().expect("git http-backend output");
    let _ = writer.join();
    parse_cgi(&output.stdout).unwrap_or_else(|| {
        (
            500,
            Vec::new(),
            format!(
                "git http-backend gave no CGI response: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into_bytes(),
        )
    })
}

/// Splits a CGI response into status (from `Status:`, else 200), headers and body.
fn parse_cgi(out: &[u8]) -> Option<Response> {
    let (head_len, sep_len) = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))?;
    let head = String::from_utf8_lossy(&out[..head_len]);
    let mut status = 200;
    let mut headers = Vec::new();
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim().to_string();
        if name.eq_ignore_ascii_case("status") {
            status = value.split_whitespace().next()?.parse().ok()?;
        } else if !name.eq_ignore_ascii_case("content-length") {
            headers.push((name.trim().to_string(), value));
        }
    }
    Some((status, headers, out[head_len + sep_len..].to_vec()))
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || data.len() + n > MAX_HEAD {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut parts = lines.next()?.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = data[head_end + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        body = read_chunked(stream, body)?;
    } else {
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        while body.len() < length {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body.truncate(length);
    }
    Some(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}

/// Decodes a chunked body, reading more from `stream` as needed.
fn read_chunked(stream: &mut TcpStream, mut pending: Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut buf = [0u8; 8192];
    let mut fill = |pending: &mut Vec<u8>, want: usize| -> Option<()> {
        while pending.len() < want {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            pending.extend_from_slice(&buf[..n]);
        }
        Some(())
    };
    loop {
        let line_end = loop {
            if let Some(p) = pending.windows(2).position(|w| w == b"\r\n") {
                break p;
            }
            let len = pending.len();
            fill(&mut pending, len + 1)?;
        };
        let size_text = String::from_utf8_lossy(&pending[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        pending.drain(..line_end + 2);
        fill(&mut pending, size + 2)?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&pending[..size]);
        pending.drain(..size + 2);
    }
}
