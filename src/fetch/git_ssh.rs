//! git's ssh transport for `ssh://` and scp-like `[user@]host:path` repositories: runs the ssh
//! program the way git does and speaks git's smart protocol over its standard input and output.
//!
//! The program is `GIT_SSH_COMMAND` (a shell command), else git's `core.sshCommand`, else
//! `GIT_SSH` (a program), else `ssh`; it is given `[-p PORT] [user@]host "git-upload-pack
//! '/path'"` (or `git-receive-pack` to push), so keys, agents, known hosts and `~/.ssh/config`
//! are OpenSSH's own, exactly as for git. Its standard error is kept (bounded) and its first
//! lines become the error when the transfer fails.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};

use super::download::percent_decode;

/// The URL schemes this transport serves (git's names for ssh).
pub const SCHEMES: [&str; 3] = ["ssh", "ssh+git", "git+ssh"];

/// How much of ssh's standard error is kept for a failure's message.
const STDERR_LIMIT: usize = 8 * 1024;

/// How long the end of ssh's standard error is awaited once ssh has exited.
const STDERR_GRACE: Duration = Duration::from_secs(2);

/// How many lines of ssh's standard error go into a failure's message.
const STDERR_LINES: usize = 4;

/// The transport libgit2 asks for when it talks to an ssh remote: stateful (one connection,
/// one ssh process, for the whole exchange), as git's ssh and git:// transports are.
pub(super) fn transport(remote: &git2::Remote<'_>) -> Result<Transport, git2::Error> {
    Transport::smart(remote, false, SshSubtransport)
}

/// Where an ssh repository is: what ssh connects to and the path the server's git command is
/// given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
}

/// Parses an ssh repository location the way git does: `ssh://[user@]host[:port]/path` (also
/// `git+ssh://`, `ssh+git://`; `/~user/…` is home-relative, `%XX` escapes are decoded) or
/// scp-like `[user@]host:path` (`[host]:path` for an IPv6 address). A host or path that would
/// read as an option of ssh or of the server's git is refused, as git refuses it.
pub fn parse_ssh_url(url: &str) -> Result<SshTarget, String> {
    let target = match url.split_once("://") {
        Some((scheme, _)) => {
            if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
                return Err(format!("`{scheme}://` is not an ssh URL"));
            }
            let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL ({e})"))?;
            let host = parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or("it names no host (write ssh://host/path)")?;
            let path = percent_decode(parsed.path());
            // `ssh://host/~user/repo` is a path relative to a home directory, as in git.
            let path = match path.strip_prefix('/') {
                Some(rest) if rest.starts_with('~') => rest.to_string(),
                _ => path,
            };
            SshTarget {
                user: Some(percent_decode(parsed.username())).filter(|u| !u.is_empty()),
                host: unbracket(host).to_string(),
                port: parsed.port(),
                path,
            }
        }
        None => {
            let (authority, path) = if let Some(rest) = url.strip_prefix('[') {
                // `[host]:path` or `[user@host]:path`: the brackets let the host hold colons.
                let (inside, after) = rest
                    .split_once(']')
                    .ok_or("an opening `[` without its `]`")?;
                let path = after
                    .strip_prefix(':')
                    .ok_or("`[host]` must be followed by `:path`")?;
                (inside, path)
            } else {
                url.split_once(':')
                    .ok_or("not an ssh location (write ssh://host/path or host:path)")?
            };
            let (user, host) = match authority.rsplit_once('@') {
                Some((user, host)) => (Some(user.to_string()), host),
                None => (None, authority),
            };
            SshTarget {
                user: user.filter(|u| !u.is_empty()),
                host: host.to_string(),
                port: None,
                path: path.to_string(),
            }
        }
    };
    if target.host.is_empty() {
        return Err("it names no host".into());
    }
    if target.path.is_empty() {
        return Err("it names no repository path".into());
    }
    let login = target.login();
    if login.starts_with('-') {
        return Err(format!(
            "the host `{login}` starts with `-`, so ssh would read it as an option; refused"
        ));
    }
    if target.path.starts_with('-') {
        return Err(format!(
            "the path `{}` starts with `-`, so git would read it as an option; refused",
            target.path
        ));
    }
    Ok(target)
}

/// An IPv6 address as ssh takes it: without the brackets URLs put around it.
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

impl SshTarget {
    /// `user@host`, or the host alone.
    fn login(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Quotes `s` for a POSIX shell the way git does (`sq_quote_buf`): inside single quotes, with
/// `'` and `!` each taken out of the quotes and escaped. The remote shell reads it back.
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' | '!' => {
                out.push('\'');
                out.push('\\');
                out.push(c);
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The git program the server runs for `service`.
fn server_program(service: Service) -> &'static str {
    match service {
        Service::UploadPackLs | Service::UploadPack => "git-upload-pack",
        Service::ReceivePackLs | Service::ReceivePack => "git-receive-pack",
    }
}

/// The arguments ssh is given: `[-p PORT] [user@]host "git-… '/path'"`.
pub fn ssh_args(target: &SshTarget, service: Service) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(port) = target.port {
        args.push("-p".to_string());
        args.push(port.to_string());
    }
    args.push(target.login());
    args.push(format!(
        "{} {}",
        server_program(service),
        shell_quote(&target.path)
    ));
    args
}

/// The ssh program to run and where that choice came from (named in errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshProgram {
    /// A shell command line (`GIT_SSH_COMMAND`, `core.sshCommand`); the arguments follow it.
    Shell { command: String, from: &'static str },
    /// A program run directly (`GIT_SSH`, else `ssh` from PATH).
    Program { path: String, from: &'static str },
}

/// Picks the ssh program in git's order: `GIT_SSH_COMMAND`, `core.sshCommand`, `GIT_SSH`,
/// `ssh`. An empty value counts as unset. Pure.
pub fn ssh_program(
    git_ssh_command: Option<String>,
    core_ssh_command: Option<String>,
    git_ssh: Option<String>,
) -> SshProgram {
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    if let Some(command) = set(git_ssh_command) {
        return SshProgram::Shell {
            command,
            from: "GIT_SSH_COMMAND",
        };
    }
    if let Some(command) = set(core_ssh_command) {
        return SshProgram::Shell {
            command,
            from: "git's core.sshCommand",
        };
    }
    match set(git_ssh) {
        Some(path) => SshProgram::Program {
            path,
            from: "GIT_SSH",
        },
        None => SshProgram::Program {
            path: "ssh".into(),
            from: "PATH",
        },
    }
}

impl SshProgram {
    /// The program in force for this process: the environment, then git's configuration.
    fn current() -> SshProgram {
        let var = |name: &str| std::env::var(name).ok();
        // Read only when the environment does not already decide.
        let core = || {
            git2::Config::open_default()
                .and_then(|config| config.get_string("core.sshCommand"))
                .ok()
        };
        match var("GIT_SSH_COMMAND").filter(|v| !v.trim().is_empty()) {
            Some(command) => ssh_program(Some(command), None, None),
            None => ssh_program(None, core(), var("GIT_SSH")),
        }
    }

    /// The command that runs this program with `args`. A shell command gets them as `"$@"`,
    /// as git passes them, so they are never re-split.
    fn command(&self, args: &[String]) -> Command {
        match self {
            SshProgram::Shell { command, .. } => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c")
                    .arg(format!("{command} \"$@\""))
                    .arg(command)
                    .args(args);
                cmd
            }
            SshProgram::Program { path, .. } => {
                let mut cmd = Command::new(path);
                cmd.args(args);
                cmd
            }
        }
    }

    /// How errors name the program: `ssh -i key (GIT_SSH_COMMAND)`.
    fn describe(&self) -> String {
        match self {
            SshProgram::Shell { command, from } => format!("`{command}` ({from})"),
            SshProgram::Program { path, from } => format!("`{path}` ({from})"),
        }
    }
}

/// The first lines of what ssh wrote to its standard error, for an error message: control
/// characters dropped (libgit2 keeps messages as C strings), blank lines skipped. Pure.
pub fn stderr_summary(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|line| {
            line.chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
                .trim()
                .to_string()
        })
        .filter(|line| !line.is_empty())
        .take(STDERR_LINES)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The message for an ssh program that ended the exchange with `status`.
fn exit_message(program: &str, status: Option<ExitStatus>, stderr: &[u8]) -> String {
    let ended = match status {
        Some(status) => match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => format!("ended ({status})"),
        },
        None => "could not be waited for".to_string(),
    };
    let said = stderr_summary(stderr);
    if said.is_empty() {
        format!("ssh program {program} {ended} without a message")
    } else {
        format!("ssh program {program} {ended}: {said}")
    }
}

struct SshSubtransport;

impl SmartSubtransport for SshSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let target = parse_ssh_url(url)
            .map_err(|reason| git2::Error::from_str(&format!("ssh location {url}: {reason}")))?;
        let program = SshProgram::current();
        let stream = SshStream::spawn(&program, &ssh_args(&target, action))
            .map_err(|e| git2::Error::from_str(&e.to_string()))?;
        Ok(Box::new(stream))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// What ssh writes to its standard error, read by a thread of its own.
struct StderrReader {
    kept: Arc<Mutex<Vec<u8>>>,
    /// Signalled when the pipe reached its end.
    finished: mpsc::Receiver<()>,
}

impl StderrReader {
    /// What was kept, once the pipe has ended. Called after ssh has exited, when the end comes
    /// at once, unless a process ssh started (a `ProxyCommand`) still holds the pipe: that one
    /// is not waited for beyond a moment, and the thread goes on draining it.
    fn collect(self) -> Vec<u8> {
        let _ = self.finished.recv_timeout(STDERR_GRACE);
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A running ssh program: its standard input and output carry the protocol, and a thread
/// keeps the first part of its standard error (reading the rest, so ssh never blocks on it).
struct SshStream {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<StderrReader>,
    program: String,
    /// Set once the process has been waited for.
    status: Option<ExitStatus>,
}

impl SshStream {
    fn spawn(program: &SshProgram, args: &[String]) -> io::Result<SshStream> {
        let described = program.describe();
        let mut child = program
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::other(format!(
                    "cannot run the ssh program {described}: {e} (install OpenSSH's client, or \
                     name another program with GIT_SSH_COMMAND)"
                ))
            })?;
        let stderr = child.stderr.take().map(|mut pipe| {
            let (done, finished) = mpsc::channel();
            let kept = Arc::new(Mutex::new(Vec::new()));
            let filling = Arc::clone(&kept);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut kept = filling.lock().unwrap_or_else(|e| e.into_inner());
                    let room = STDERR_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                let _ = done.send(());
            });
            StderrReader { kept, finished }
        });
        Ok(SshStream {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            child,
            stderr,
            program: described,
            status: None,
        })
    }

    /// Ends the process (killed unless `gently`: it has already closed its output), closes
    /// the pipes and waits for it; returns what it wrote to its standard error.
    fn finish(&mut self, gently: bool) -> Vec<u8> {
        self.stdin = None;
        self.stdout = None;
        if self.status.is_none() {
            if !gently {
                // It may have exited already; then there is nothing to kill.
                let _ = self.child.kill();
            }
            self.status = self.child.wait().ok();
        }
        self.stderr
            .take()
            .map(StderrReader::collect)
            .unwrap_or_default()
    }

    /// The error for a transfer the ssh program broke off: its exit and its own words.
    fn failure(&mut self, gently: bool, cause: Option<io::Error>) -> io::Error {
        let stderr = self.finish(gently);
        let mut message = exit_message(&self.program, self.status, &stderr);
        if let Some(cause) = cause {
            message = format!("{message} ({cause})");
        }
        io::Error::other(message)
    }
}

impl Read for SshStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stdout) = self.stdout.as_mut() else {
            return Ok(0);
        };
        match stdout.read(buf) {
            Ok(0) if !buf.is_empty() => {
                // ssh closed its output: the exchange is over, cleanly or not.
                let stderr = self.finish(true);
                match self.status {
                    Some(status) if status.success() => Ok(0),
                    status => Err(io::Error::other(exit_message(
                        &self.program,
                        status,
                        &stderr,
                    ))),
                }
            }
            Ok(n) => Ok(n),
            Err(e) => Err(self.failure(false, Some(e))),
        }
    }
}

impl Write for SshStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.failure(true, None));
        };
        match stdin.write(data) {
            Ok(n) => Ok(n),
            // A closed pipe means ssh has gone: its exit says why.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(self.failure(true, None)),
            Err(e) => Err(self.failure(false, Some(e))),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.stdin.as_mut() {
            Some(stdin) => stdin.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for SshStream {
    /// Closing ssh's input ends the server's git, and with it ssh, as when git hangs up; the
    /// process is then waited for, so none is left behind.
    fn drop(&mut self) {
        self.finish(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(user: Option<&str>, host: &str, port: Option<u16>, path: &str) -> SshTarget {
        SshTarget {
            user: user.map(str::to_string),
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn ssh_urls_as_git_reads_them() {
        assert_eq!(
            parse_ssh_url("ssh://git@h:2222/srv/env.git").unwrap(),
            target(Some("git"), "h", Some(2222), "/srv/env.git")
        );
        assert_eq!(
            parse_ssh_url("git+ssh://h/srv/my%20env.git").unwrap(),
            target(None, "h", None, "/srv/my env.git")
        );
        assert_eq!(
            parse_ssh_url("ssh+git://h/~me/env.git").unwrap(),
            target(None, "h", None, "~me/env.git")
        );
        assert_eq!(
            parse_ssh_url("ssh://[::1]:22/env.git").unwrap(),
            target(None, "::1", Some(22), "/env.git")
        );
        assert_eq!(
            parse_ssh_url("me@h:envs/app.git").unwrap(),
            target(Some("me"), "h", None, "envs/app.git")
        );
        assert_eq!(
            parse_ssh_url("h:/srv/app.git").unwrap(),
            target(None, "h", None, "/srv/app.git")
        );
        assert_eq!(
            parse_ssh_url("[::1]:/srv/app.git").unwrap(),
            target(None, "::1", None, "/srv/app.git")
        );
    }

    #[test]
    fn option_like_hosts_and_paths_are_refused() {
        let err = parse_ssh_url("ssh://-oProxyCommand=x/repo.git").unwrap_err();
        assert!(err.contains("starts with `-`"), "{err}");
        let err = parse_ssh_url("-oProxyCommand=x:repo.git").unwrap_err();
        assert!(err.contains("starts with `-`"), "{err}");
        let err = parse_ssh_url("h:--upload-pack=x").unwrap_err();
        assert!(err.contains("path `--upload-pack=x`"), "{err}");
        assert!(
            parse_ssh_url("h:")
                .unwrap_err()
                .contains("no repository path")
        );
        assert!(parse_ssh_url("https://h/r.git").is_err());
        assert!(parse_ssh_url("[::1/r.git").is_err());
    }

    #[test]
    fn paths_are_quoted_as_git_quotes_them() {
        assert_eq!(shell_quote("/srv/env.git"), "'/srv/env.git'");
        assert_eq!(shell_quote("it's!"), "'it'\\''s'\\!''");
        assert_eq!(shell_quote("a b;$(x)"), "'a b;$(x)'");
    }

    #[test]
    fn arguments_name_port_login_and_service() {
        let t = target(Some("git"), "h", Some(2222), "/srv/e.git");
        assert_eq!(
            ssh_args(&t, Service::UploadPackLs),
            ["-p", "2222", "git@h", "git-upload-pack '/srv/e.git'"]
        );
        let t = target(None, "h", None, "e.git");
        assert_eq!(
            ssh_args(&t, Service::ReceivePack),
            ["h", "git-receive-pack 'e.git'"]
        );
    }

    #[test]
    fn the_program_follows_gits_order() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            ssh_program(s("ssh -i k"), s("ssh -v"), s("/bin/myssh")),
            SshProgram::Shell {
                command: "ssh -i k".into(),
                from: "GIT_SSH_COMMAND"
            }
        );
        assert_eq!(
            ssh_program(s(""), s("ssh -v"), s("/bin/myssh")),
            SshProgram::Shell {
                command: "ssh -v".into(),
                from: "git's core.sshCommand"
            }
        );
        assert_eq!(
            ssh_program(None, None, s("/bin/myssh")),
            SshProgram::Program {
                path: "/bin/myssh".into(),
                from: "GIT_SSH"
            }
        );
        assert_eq!(
            ssh_program(None, None, None),
            SshProgram::Program {
                path: "ssh".into(),
                from: "PATH"
            }
        );
    }

    #[test]
    fn a_shell_command_gets_the_arguments_unsplit() {
        let program = SshProgram::Shell {
            command: "printf '%s|'".into(),
            from: "GIT_SSH_COMMAND",
        };
        let out = program
            .command(&["h".into(), "git-upload-pack 'a b'".into()])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "h|git-upload-pack 'a b'|"
        );
    }

    #[test]
    fn stderr_summaries_keep_the_first_lines() {
        assert_eq!(
            stderr_summary(b"\nroot@127.0.0.1: Permission denied (publickey).\r\n"),
            "root@127.0.0.1: Permission denied (publickey)."
        );
        assert_eq!(stderr_summary(b"a\nb\n\nc\nd\ne\n"), "a; b; c; d");
        assert_eq!(stderr_summary(b"nul\0here\x1b[1m"), "nulhere[1m");
        assert_eq!(stderr_summary(b""), "");
    }

    #[test]
    fn a_failing_program_is_reported_with_its_words() {
        let program = SshProgram::Shell {
            command: "echo 'Host key verification failed.' >&2; exit 255; :".into(),
            from: "GIT_SSH_COMMAND",
        };
        let mut stream =
            SshStream::spawn(&program, &["h".into(), "git-upload-pack 'x'".into()]).unwrap();
        let mut buf = [0u8; 16];
        let err = stream.read(&mut buf).unwrap_err().to_string();
        assert!(err.contains("exited with status 255"), "{err}");
        assert!(err.contains("Host key verification failed."), "{err}");
        assert!(err.contains("(GIT_SSH_COMMAND)"), "{err}");
    }

    #[test]
    fn a_process_left_holding_stderr_does_not_hold_up_the_error() {
        // As a ProxyCommand that outlives ssh would: the pipe stays open after the exit.
        let program = SshProgram::Shell {
            command: "sleep 5 >&2 & echo 'Connection closed by proxy' >&2; exit 255; :".into(),
            from: "GIT_SSH_COMMAND",
        };
        let mut stream = SshStream::spawn(&program, &["h".into()]).unwrap();
        let err = stream.read(&mut [0u8; 16]).unwrap_err().to_string();
        assert!(err.contains("Connection closed by proxy"), "{err}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let program = SshProgram::Program {
            path: "/nonexistent/ssh".into(),
            from: "GIT_SSH",
        };
        let err = SshStream::spawn(&program, &[]).err().unwrap().to_string();
        assert!(err.contains("`/nonexistent/ssh` (GIT_SSH)"), "{err}");
    }
}
