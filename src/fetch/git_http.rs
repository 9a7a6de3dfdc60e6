//! git's smart HTTP protocol for `http://` and `https://` repositories, spoken over the same
//! HTTP client as downloads and registered with libgit2 as the transport for both schemes.
//!
//! libgit2 is built without its own HTTPS support: with it, libgit2's global initialization
//! loads the system's certificate bundle through OpenSSL, a fixed cost paid by every lvm
//! command, even those that never touch the network. Here TLS is only set up when a connection
//! is made. Credentials come from the URL (`https://user:token@host/repo.git`, sent as Basic
//! auth); there is no prompting. Only the smart protocol is spoken; "dumb" servers that merely
//! serve a repository's files are refused with an error saying so.
//!
//! libgit2 creates the transport itself for every remote it talks to, so nothing can hand it
//! options per call: its timeout is a process-wide value that the program installs from its
//! resolved settings before any git operation ([`set_http_timeout`]).

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use ureq::ResponseExt as _;

use super::download::{describe_ureq_error, http_agent, percent_decode};

/// The User-Agent sent with every git request; some hosts only speak the smart protocol to
/// clients that call themselves `git/`.
pub const USER_AGENT: &str = "git/2.0 (lvm)";

/// The `http_timeout` setting for git's HTTP transport; `None` for the built-in limits.
static HTTP_TIMEOUT: Mutex<Option<Duration>> = Mutex::new(None);

/// Sets how long a git server may take to connect or to send more data (`None`: the built-in
/// limits), for every git operation this process starts afterwards.
pub fn set_http_timeout(timeout: Option<Duration>) {
    *HTTP_TIMEOUT.lock().unwrap_or_else(|e| e.into_inner()) = timeout;
}

fn http_timeout() -> Option<Duration> {
    *HTTP_TIMEOUT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The URL schemes this transport serves.
pub const SCHEMES: [&str; 2] = ["http", "https"];

/// The transport libgit2 asks for when it talks to an http(s) remote: stateless, one HTTP
/// request per exchange.
pub(super) fn transport(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    Transport::smart(remote, true, HttpSubtransport::default())
}

/// One HTTP exchange of the smart protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// `true` for the POST that carries the client's request, `false` for the GET of the
    /// reference advertisement.
    pub post: bool,
    pub url: String,
    /// `git-upload-pack` (fetch) or `git-receive-pack` (push).
    pub service: &'static str,
}

impl ServiceRequest {
    /// The request for `service` against the repository at `base` (no trailing slash needed).
    pub fn new(base: &str, service: Service) -> ServiceRequest {
        let base = base.trim_end_matches('/');
        let (post, name) = match service {
            Service::UploadPackLs => (false, "git-upload-pack"),
            Service::UploadPack => (true, "git-upload-pack"),
            Service::ReceivePackLs => (false, "git-receive-pack"),
            Service::ReceivePack => (true, "git-receive-pack"),
        };
        let url = if post {
            format!("{base}/{name}")
        } else {
            format!("{base}/{}", advertisement_path(name))
        };
        ServiceRequest {
            post,
            url,
            service: name,
        }
    }

    /// The content type a smart server answers with.
    pub fn expected_content_type(&self) -> String {
        if self.post {
            format!("application/x-{}-result", self.service)
        } else {
            format!("application/x-{}-advertisement", self.service)
        }
    }

    fn method(&self) -> &'static str {
        if self.post { "POST" } else { "GET" }
    }
}

fn advertisement_path(service: &str) -> String {
    format!("info/refs?service={service}")
}

/// The repository URL a redirected advertisement request ended up at: `final_url` without the
/// `info/refs?service=…` suffix, so the POST that follows goes where the server moved the
/// repository. `None` when the final URL does not have that shape (then the original is kept).
pub fn redirected_base(final_url: &str, service: &str) -> Option<String> {
    let base = final_url.strip_suffix(&advertisement_path(service))?;
    let base = base.strip_suffix('/')?;
    (!base.is_empty()).then(|| base.to_string())
}

/// Splits the userinfo off a URL: the URL without it (safe to show in messages) and the
/// percent-decoded user and password, if any. A URL without userinfo, or that is not a URL, is
/// returned as it is.
pub fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return (url.to_string(), None);
    };
    if parsed.username().is_empty() && parsed.password().is_none() {
        return (url.to_string(), None);
    }
    let user = percent_decode(parsed.username());
    let password = parsed.password().map(percent_decode).unwrap_or_default();
    // Both only fail for URLs that cannot have userinfo, and this one has some.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    (parsed.to_string(), Some((user, password)))
}

/// The `Authorization` header value for Basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// Whether two URLs name the same host and port (the scheme's default port counts as given),
/// which is where credentials meant for one may go.
fn same_authority(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

fn status_hint(status: u16, sent_credentials: bool) -> &'static str {
    match status {
        401 | 403 if sent_credentials => {
            " (access denied: the credentials in the URL were refused; check the user and token)"
        }
        401 | 403 => {
            " (access denied: put the credentials in the URL, e.g. https://user:token@host/repo.git)"
        }
        404 | 410 => " (no git repository there: check the URL)",
        500..=599 => " (the server failed: retry later)",
        _ => "",
    }
}

/// Where the repository of the current exchange lives: the remote's URL as libgit2 gave it,
/// and the base requests go to (different after a redirect).
#[derive(Debug, Default)]
struct Target {
    requested: String,
    base: String,
}

#[derive(Default)]
struct HttpSubtransport {
    agent: Mutex<Option<ureq::Agent>>,
    target: Arc<Mutex<Target>>,
}

impl HttpSubtransport {
    /// One agent per transport, made on first use, so TLS is set up at most once per
    /// operation, with the timeout in force when the operation started talking to the server.
    fn agent(&self) -> ureq::Agent {
        let mut slot = self.agent.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| http_agent(&crate::fetch::fetch_options(http_timeout(), None)))
            .clone()
    }
}

impl SmartSubtransport for HttpSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let (plain, credentials) = split_credentials(url);
        let base = {
            let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = matches!(action, Service::UploadPackLs | Service::ReceivePackLs)
                || target.requested != url;
            if fresh {
                *target = Target {
                    requested: url.to_string(),
                    base: plain.clone(),
                };
            }
            target.base.clone()
        };
        let request = ServiceRequest::new(&base, action);
        // A redirect to another host does not get the credentials meant for this one.
        let auth = credentials
            .filter(|_| same_authority(&base, &plain))
            .map(|(user, password)| basic_auth(&user, &password));
        Ok(Box::new(HttpStream {
            agent: self.agent(),
            request,
            auth,
            target: Arc::clone(&self.target),
            body: Vec::new(),
            response: None,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// Buffers what libgit2 writes; the first read sends the request and then streams the answer.
struct HttpStream {
    agent: ureq::Agent,
    request: ServiceRequest,
    auth: Option<String>,
    target: Arc<Mutex<Target>>,
    body: Vec<u8>,
    response: Option<ureq::BodyReader<'static>>,
}

impl HttpStream {
    fn send(&mut self) -> io::Result<ureq::BodyReader<'static>> {
        let request = &self.request;
        let fail = |reason: String| {
            io::Error::other(format!("{} {}: {reason}", request.method(), request.url))
        };
        let result = if request.post {
            let mut builder = self
                .agent
                .post(&request.url)
                .header("User-Agent", USER_AGENT)
                .header(
                    "Content-Type",
                    format!("application/x-{}-request", request.service),
                )
                .header("Accept", request.expected_content_type());
            if let Some(auth) = &self.auth {
                builder = builder.header("Authorization", auth);
            }
            builder.send(&self.body[..])
        } else {
            let mut builder = self
                .agent
                .get(&request.url)
                .header("User-Agent", USER_AGENT);
            if let Some(auth) = &self.auth {
                builder = builder.header("Authorization", auth);
            }
            builder.call()
        };
        let response = result.map_err(|e| fail(describe_ureq_error(&e)))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(fail(format!(
                "the server answered HTTP {status}{}",
                status_hint(status, self.auth.is_some())
            )));
        }
        let content_type = response
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let expected = request.expected_content_type();
        if content_type != expected {
            return Err(fail(if request.post {
                format!(
                    "the server answered with content type `{content_type}` instead of `{expected}`"
                )
            } else {
                format!(
                    "not a smart git HTTP server (it answered with content type `{content_type}`, \
                     not `{expected}`); lvm speaks only git's smart HTTP protocol, so serve the \
                     repository with `git http-backend` or a git hosting service"
                )
            }));
        }
        if !request.post
            && let Some(base) = redirected_base(&response.get_uri().to_string(), request.service)
        {
            self.target.lock().unwrap_or_else(|e| e.into_inner()).base = base;
        }
        Ok(response.into_body().into_reader())
    }
}

impl Read for HttpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.response.is_none() {
            self.response = Some(self.send()?);
        }
        match self.response.as_mut() {
            Some(reader) => reader.read(buf),
            None => Ok(0),
        }
    }
}

impl Write for HttpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.response.is_some() {
            return Err(io::Error::other(format!(
                "{}: git wrote more after the request was sent",
                self.request.url
            )));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_per_service() {
        let base = "https://h/org/repo.git";
        let ls = ServiceRequest::new(base, Service::UploadPackLs);
        assert!(!ls.post);
        assert_eq!(
            ls.url,
            "https://h/org/repo.git/info/refs?service=git-upload-pack"
        );
        assert_eq!(
            ls.expected_content_type(),
            "application/x-git-upload-pack-advertisement"
        );
        let pack = ServiceRequest::new(&format!("{base}/"), Service::UploadPack);
        assert!(pack.post);
        assert_eq!(pack.url, "https://h/org/repo.git/git-upload-pack");
        assert_eq!(
            pack.expected_content_type(),
            "application/x-git-upload-pack-result"
        );
        let ls = ServiceRequest::new(base, Service::ReceivePackLs);
        assert_eq!(
            ls.url,
            "https://h/org/repo.git/info/refs?service=git-receive-pack"
        );
        let push = ServiceRequest::new(base, Service::ReceivePack);
        assert_eq!(push.url, "https://h/org/repo.git/git-receive-pack");
        assert_eq!(
            push.expected_content_type(),
            "application/x-git-receive-pack-result"
        );
    }

    #[test]
    fn redirect_base_drops_the_service_suffix() {
        assert_eq!(
            redirected_base(
                "https://new.host/moved/repo.git/info/refs?service=git-upload-pack",
                "git-upload-pack"
            )
            .as_deref(),
            Some("https://new.host/moved/repo.git")
        );
        assert_eq!(
            redirected_base(
                "https://h/r.git/info/refs?service=git-upload-pack",
                "git-receive-pack"
            ),
            None
        );
        assert_eq!(
            redirected_base("https://h/login?next=/r.git", "git-upload-pack"),
            None
        );
    }

    #[test]
    fn credentials_come_from_the_userinfo() {
        assert_eq!(
            split_credentials("https://h/r.git"),
            ("https://h/r.git".to_string(), None)
        );
        assert_eq!(
            split_credentials("https://me:s%40cret@h:8443/r.git"),
            (
                "https://h:8443/r.git".to_string(),
                Some(("me".to_string(), "s@cret".to_string()))
            )
        );
        assert_eq!(
            split_credentials("http://token@h/a@b.git"),
            (
                "http://h/a@b.git".to_string(),
                Some(("token".to_string(), String::new()))
            )
        );
        assert_eq!(
            split_credentials("https://%E2%9C%93:p%3Aw@h/r.git"),
            (
                "https://h/r.git".to_string(),
                Some(("\u{2713}".to_string(), "p:w".to_string()))
            )
        );
        assert_eq!(
            split_credentials("not a url"),
            ("not a url".to_string(), None)
        );
        assert_eq!(basic_auth("me", "pw"), "Basic bWU6cHc=");
    }

    #[test]
    fn the_timeout_is_the_one_set_for_the_process() {
        // The only test that sets it, so none sees another's value.
        assert_eq!(http_timeout(), None);
        set_http_timeout(Some(Duration::from_millis(2500)));
        assert_eq!(http_timeout(), Some(Duration::from_millis(2500)));
        set_http_timeout(None);
        assert_eq!(http_timeout(), None);
    }

    #[test]
    fn credentials_go_only_to_the_same_host_and_port() {
        assert!(same_authority("https://u:p@h:1/x", "https://h:1/y"));
        assert!(same_authority("https://h/x", "https://h:443/y"));
        assert!(!same_authority("https://h:1/x", "https://h:2/x"));
        assert!(!same_authority("https://h/x", "https://elsewhere/x"));
        assert!(!same_authority("https://h/x", "not a url"));
    }
}
