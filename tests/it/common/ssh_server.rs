//! A real OpenSSH server on 127.0.0.1 for tests: `/usr/sbin/sshd` run as the current user with
//! a host key and a client key generated for it, and the `GIT_SSH_COMMAND` that reaches it.
//!
//! The client command pins everything the developer's own ssh set-up could change: no config
//! file, no agent, only the generated key, and a known_hosts file holding the generated host key
//! (strict checking, batch mode: a wrong key fails instead of prompting).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where Debian's openssh-server installs the daemon; sshd refuses to start from a relative
/// path, since it re-executes itself for every connection.
const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd, stopped (killed and waited for) on drop.
pub struct SshServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

/// Makes an ed25519 key pair at `path` (and `path.pub`), without a passphrase.
pub fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "lvm-test", "-f"])
        .arg(path)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port on 127.0.0.1 that was free a moment ago (the listener is closed for sshd to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

impl SshServer {
    /// Starts sshd and returns once it accepts connections.
    pub fn start() -> SshServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let host_key = dir.path().join("host_key");
        let client_key = dir.path().join("client_key");
        keygen(&host_key);
        keygen(&client_key);
        // Run as root, sshd separates privileges into this directory, which only an init
        // system creates; on a machine without one (a container, CI) it is missing.
        if is_root() {
            fs::create_dir_all("/run/sshd").expect("create /run/sshd for sshd");
        }
        let config = dir.path().join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 HostKey {host_key}\n\
                 AuthorizedKeysFile {authorized}\n\
                 PidFile {pid}\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 LogLevel VERBOSE\n",
                host_key = host_key.display(),
                authorized = client_key.with_extension("pub").display(),
                pid = dir.path().join("sshd.pid").display(),
            ),
        )
        .expect("write sshd_config");
        let log = fs::File::create(dir.path().join("sshd.log")).expect("create sshd.log");
        let port = free_port();
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start /usr/sbin/sshd");
        // Ready once it accepts a connection; a daemon that exited says why in its log.
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().expect("poll sshd") {
                panic!(
                    "sshd exited ({status}): {}",
                    fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let known_hosts = format!(
            "[127.0.0.1]:{port} {}",
            fs::read_to_string(host_key.with_extension("pub")).expect("read host key")
        );
        fs::write(dir.path().join("known_hosts"), known_hosts).expect("write known_hosts");
        SshServer { dir, port, child }
    }

    /// The key sshd accepts.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// `GIT_SSH_COMMAND` for the server with `key`; the port comes from the URL.
    pub fn ssh_command_with(&self, key: &Path) -> String {
        format!(
            "ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o IdentityAgent=none \
             -o UserKnownHostsFile={known} -o GlobalKnownHostsFile=/dev/null \
             -o StrictHostKeyChecking=yes -o BatchMode=yes",
            key = key.display(),
            known = self.dir.path().join("known_hosts").display(),
        )
    }

    /// `GIT_SSH_COMMAND` with the accepted key.
    pub fn ssh_command(&self) -> String {
        self.ssh_command_with(&self.client_key())
    }

    /// `GIT_SSH_COMMAND` with the accepted key and the port, for scp-like locations
    /// (`127.0.0.1:/path`), which cannot carry one.
    pub fn scp_like_command(&self) -> String {
        format!("{} -p {}", self.ssh_command(), self.port)
    }

    /// `ssh://127.0.0.1:PORT/path` for an absolute `path`.
    pub fn url_for(&self, path: &Path) -> String {
        format!("ssh://127.0.0.1:{}{}", self.port, path.display())
    }

    /// What sshd logged so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
