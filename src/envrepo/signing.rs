//! Signed event commits, made and checked the way git makes and checks signed commits: the
//! format (`gpg.format`: openpgp or ssh) and key (`user.signingkey`) come from git's config, and
//! the signature from the same external tool git runs (`gpg`, or `ssh-keygen -Y sign`).
//!
//! Checking follows `git verify-commit`: an ssh signature is checked against git's
//! `gpg.ssh.allowedSignersFile` (the principal it names is who signed), an openpgp one by `gpg`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thiserror::Error;

/// The namespace git signs commits in (`ssh-keygen -Y sign -n git`).
const SSH_NAMESPACE: &str = "git";

#[derive(Debug, Error)]
pub enum SignError {
    #[error(
        "signing is on (the sign setting or --sign) but git has no signing key: set one with `git config --global user.signingkey KEY` (for ssh, with `git config --global gpg.format ssh`, the path of a public key), or turn signing off with `lvm config unset sign`"
    )]
    NoKey,
    #[error(
        "unknown gpg.format '{0}' in git's config: lvm signs with openpgp (gpg) or ssh (ssh-keygen); set `git config gpg.format ssh` or `openpgp`"
    )]
    UnknownFormat(String),
    #[error(
        "cannot run {program} to sign the event (is it installed? git's gpg.program / gpg.ssh.program name another)"
    )]
    Start {
        program: String,
        #[source]
        cause: std::io::Error,
    },
    #[error("{program} could not sign the event with the key '{key}': {message}")]
    Failed {
        program: String,
        key: String,
        message: String,
    },
    #[error("cannot write the signing scratch files: {0}")]
    Scratch(#[source] std::io::Error),
    #[error("cannot read git's config for signing: {0}")]
    Config(#[source] git2::Error),
}

/// How commits are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenPgp,
    Ssh,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::OpenPgp => "openpgp",
            Format::Ssh => "ssh",
        }
    }

    /// The format git's `gpg.format` names (openpgp when unset).
    fn from_config(config: &git2::Config) -> Result<Format, SignError> {
        match config.get_string("gpg.format").ok().as_deref() {
            None | Some("openpgp") => Ok(Format::OpenPgp),
            Some("ssh") => Ok(Format::Ssh),
            Some(other) => Err(SignError::UnknownFormat(other.to_string())),
        }
    }

    /// The program git runs for this format: `gpg.<format>.program`, else `gpg.program` for
    /// openpgp, else `gpg` or `ssh-keygen`.
    fn program(self, config: &git2::Config) -> String {
        let specific = format!(
            "gpg.{}.program",
            match self {
                Format::OpenPgp => "openpgp",
                Format::Ssh => "ssh",
            }
        );
        let general = (self == Format::OpenPgp)
            .then(|| config.get_string("gpg.program").ok())
            .flatten();
        config
            .get_string(&specific)
            .ok()
            .or(general)
            .unwrap_or_else(|| match self {
                Format::OpenPgp => "gpg".to_string(),
                Format::Ssh => "ssh-keygen".to_string(),
            })
    }
}

/// What signs event commits: a format, a key and the program that signs with it.
#[derive(Debug, Clone)]
pub struct Signer {
    format: Format,
    key: String,
    program: String,
}

impl Signer {
    /// The signer git's config describes. For openpgp without `user.signingkey`, git signs as
    /// the committer (`Name <email>`), and so does this.
    pub fn from_config(config: &git2::Config, committer: &str) -> Result<Signer, SignError> {
        let format = Format::from_config(config)?;
        let key = match config.get_string("user.signingkey") {
            Ok(key) if !key.trim().is_empty() => key.trim().to_string(),
            _ if format == Format::OpenPgp && !committer.is_empty() => committer.to_string(),
            _ => return Err(SignError::NoKey),
        };
        Ok(Signer {
            format,
            program: format.program(config),
            key,
        })
    }

    /// The armored signature of `payload` (a commit's bytes without its signature).
    pub fn sign(&self, payload: &[u8]) -> Result<String, SignError> {
        match self.format {
            Format::OpenPgp => self.sign_openpgp(payload),
            Format::Ssh => self.sign_ssh(payload),
        }
    }

    fn failed(&self, message: &[u8]) -> SignError {
        SignError::Failed {
            program: self.program.clone(),
            key: self.key.clone(),
            message: String::from_utf8_lossy(message).trim().to_string(),
        }
    }

    /// `gpg --status-fd=2 -bsau KEY`, as git runs it: the payload on stdin, the detached
    /// armored signature on stdout.
    fn sign_openpgp(&self, payload: &[u8]) -> Result<String, SignError> {
        let mut command = Command::new(&self.program);
        command.args(["--status-fd=2", "-bsau", &self.key]);
        let out = run_with_input(&self.program, command, payload)?;
        let created = String::from_utf8_lossy(&out.stderr).contains("[GNUPG:] SIG_CREATED ");
        if !out.status.success() || !created || out.stdout.is_empty() {
            return Err(self.failed(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `ssh-keygen -Y sign -n git -f KEY FILE`, as git runs it; a key given literally
    /// (`key::ssh-ed25519 ...` or `ssh-...`) is written to a file and signed with through the
    /// ssh agent (`-U`).
    fn sign_ssh(&self, payload: &[u8]) -> Result<String, SignError> {
        let dir = tempfile::tempdir().map_err(SignError::Scratch)?;
        let literal = self
            .key
            .strip_prefix("key::")
            .or_else(|| self.key.starts_with("ssh-").then_some(self.key.as_str()));
        let key_file = match literal {
            Some(key) => {
                let path = dir.path().join("key.pub");
                std::fs::write(&path, format!("{key}\n")).map_err(SignError::Scratch)?;
                path
            }
            None => expand_home(&self.key),
        };
        let data = dir.path().join("payload");
        std::fs::write(&data, payload).map_err(SignError::Scratch)?;
        let mut command = Command::new(&self.program);
        command
            .args(["-Y", "sign", "-n", SSH_NAMESPACE, "-f"])
            .arg(&key_file);
        if literal.is_some() {
            command.arg("-U");
        }
        command.arg(&data);
        let out = run_with_input(&self.program, command, b"")?;
        let signature = std::fs::read_to_string(dir.path().join("payload.sig"));
        match signature {
            Ok(text) if out.status.success() => Ok(text),
            _ => Err(self.failed(&out.stderr)),
        }
    }
}

/// `~/` at the start of a key path is the home folder, as git reads it.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Runs `command` with `input` on its stdin; its output.
fn run_with_input(
    program: &str,
    mut command: Command,
    input: &[u8],
) -> Result<std::process::Output, SignError> {
    let start = |cause| SignError::Start {
        program: program.to_string(),
        cause,
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(start)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A tool that exits without reading its input closes the pipe: its exit status says why.
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().map_err(start)
}

/// What checking one commit's signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// No signature.
    Unsigned,
    /// A good signature by `signer` (the ssh principal of git's allowed signers, or the
    /// openpgp user id), made with `key` (its fingerprint or key id).
    Good { signer: String, key: String },
    /// A good signature by a key nobody is allowed to sign with (not in git's allowed signers
    /// file): git does not accept it either.
    UnknownKey { key: String },
    /// A signature that does not match the commit (the commit was changed after it was signed,
    /// or the signature is damaged).
    Bad { reason: String },
    /// The signature cannot be checked here (no allowed signers file, no tool, no public key).
    Unchecked { reason: String },
}

/// Checks `signature` over `payload` as `git verify-commit` does, with git's `config`.
pub fn check(config: &git2::Config, signature: &[u8], payload: &[u8]) -> SignatureCheck {
    let text = String::from_utf8_lossy(signature);
    let (format, result) = if text.contains("-----BEGIN SSH SIGNATURE-----") {
        (Format::Ssh, check_ssh(config, signature, payload))
    } else {
        (Format::OpenPgp, check_openpgp(config, signature, payload))
    };
    result.unwrap_or_else(|e| SignatureCheck::Unchecked {
        reason: format!("{} signature: {e}", format.as_str()),
    })
}

fn check_ssh(
    config: &git2::Config,
    signature: &[u8],
    payload: &[u8],
) -> Result<SignatureCheck, SignError> {
    let program = Format::Ssh.program(config);
    let Some(allowed) = config
        .get_path("gpg.ssh.allowedSignersFile")
        .ok()
        .filter(|p| p.is_file())
    else {
        return Ok(SignatureCheck::Unchecked {
            reason: "git's gpg.ssh.allowedSignersFile needs to be configured and exist to check \
                     ssh signatures (as for `git verify-commit`)"
                .to_string(),
        });
    };
    let (_dir, sig_file) = signature_file(signature)?;
    let mut find = Command::new(&program);
    find.args(["-Y", "find-principals", "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(&sig_file);
    let found = run_with_input(&program, find, b"")?;
    let principals: Vec<String> = String::from_utf8_lossy(&found.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut last_failure = String::new();
    for principal in &principals {
        let mut verify = Command::new(&program);
        verify
            .args(["-Y", "verify", "-n", SSH_NAMESPACE, "-f"])
            .arg(&allowed)
            .args(["-I", principal, "-s"])
            .arg(&sig_file);
        let out = run_with_input(&program, verify, payload)?;
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            return Ok(SignatureCheck::Good {
                signer: principal.clone(),
                key: key_in(&said),
            });
        }
        last_failure = format!("{said} {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    if !principals.is_empty() {
        return Ok(SignatureCheck::Bad {
            reason: last_failure.trim().to_string(),
        });
    }
    // No allowed signer has the key: whether the signature is good at all decides between a
    // bad signature and an unknown key.
    let mut novalidate = Command::new(&program);
    novalidate
        .args(["-Y", "check-novalidate", "-n", SSH_NAMESPACE, "-s"])
        .arg(&sig_file);
    let out = run_with_input(&program, novalidate, payload)?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(if out.status.success() {
        SignatureCheck::UnknownKey { key: key_in(&said) }
    } else {
        SignatureCheck::Bad {
            reason: format!("{said} {}", String::from_utf8_lossy(&out.stderr).trim())
                .trim()
                .to_string(),
        }
    })
}

/// `signature` in a file of a new temporary folder (removed when the folder is dropped), for
/// the tools that read a signature from a file.
fn signature_file(signature: &[u8]) -> Result<(tempfile::TempDir, PathBuf), SignError> {
    let dir = tempfile::tempdir().map_err(SignError::Scratch)?;
    let path = dir.path().join("signature");
    std::fs::write(&path, signature).map_err(SignError::Scratch)?;
    Ok((dir, path))
}

/// The key `ssh-keygen` names in `Good "git" signature ... with ED25519 key SHA256:...`.
fn key_in(said: &str) -> String {
    said.split_once(" with ")
        .map(|(_, key)| key.trim().to_string())
        .unwrap_or_else(|| said.to_string())
}

/// `gpg --status-fd=1 --verify SIGNATURE -`, as git runs it, read from gpg's status lines.
fn check_openpgp(
    config: &git2::Config,
    signature: &[u8],
    payload: &[u8],
) -> Result<SignatureCheck, SignError> {
    let program = Format::OpenPgp.program(config);
    let (_dir, sig_file) = signature_file(signature)?;
    let mut verify = Command::new(&program);
    verify
        .args(["--keyid-format=long", "--status-fd=1", "--verify"])
        .arg(&sig_file)
        .arg("-");
    let out = run_with_input(&program, verify, payload)?;
    Ok(openpgp_status(
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
    ))
}

/// What gpg's status lines say about a signature.
fn openpgp_status(status: &str, stderr: &str) -> SignatureCheck {
    for line in status.lines() {
        let Some(rest) = line.strip_prefix("[GNUPG:] ") else {
            continue;
        };
        let mut words = rest.splitn(3, ' ');
        let (tag, key, who) = (words.next(), words.next(), words.next());
        match tag {
            Some("GOODSIG") => {
                return SignatureCheck::Good {
                    signer: who.unwrap_or_default().to_string(),
                    key: key.unwrap_or_default().to_string(),
                };
            }
            Some("BADSIG") => {
                return SignatureCheck::Bad {
                    reason: format!(
                        "gpg: BAD signature from {} (key {})",
                        who.unwrap_or_default(),
                        key.unwrap_or_default()
                    ),
                };
            }
            _ => {}
        }
    }
    SignatureCheck::Unchecked {
        reason: stderr.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpg_status_lines_name_the_signer_or_the_failure() {
        let good = "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 0123456789ABCDEF Alice <a@example.org>\n";
        assert_eq!(
            openpgp_status(good, ""),
            SignatureCheck::Good {
                signer: "Alice <a@example.org>".into(),
                key: "0123456789ABCDEF".into()
            }
        );
        let bad = "[GNUPG:] BADSIG 0123456789ABCDEF Alice <a@example.org>\n";
        assert!(matches!(
            openpgp_status(bad, ""),
            SignatureCheck::Bad { .. }
        ));
        let missing = "[GNUPG:] ERRSIG 0123456789ABCDEF 1 10 00 1 9\n[GNUPG:] NO_PUBKEY 0123\n";
        assert_eq!(
            openpgp_status(missing, "gpg: Can't check signature: No public key"),
            SignatureCheck::Unchecked {
                reason: "gpg: Can't check signature: No public key".into()
            }
        );
    }

    #[test]
    fn ssh_keygen_names_the_key_after_with() {
        assert_eq!(
            key_in("Good \"git\" signature for a@example.org with ED25519 key SHA256:abc"),
            "ED25519 key SHA256:abc"
        );
    }
}
