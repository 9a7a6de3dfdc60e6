//! The ed25519 keys that sign build cache entries: a secret key file a user makes once
//! (`lvm cache key generate`) and the `NAME:BASE64` public keys the `trusted_keys` setting lists.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use thiserror::Error;

/// Errors of key files and key text.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error(
        "'{text}' is not a public key: write NAME:BASE64, the line `lvm cache key generate` \
         prints ({problem})"
    )]
    BadPublicKey { text: String, problem: String },
    #[error(
        "{}: not a cache signing key ({problem}); make one with `lvm cache key generate`",
        path.display()
    )]
    BadSecretKey {
        path: std::path::PathBuf,
        problem: String,
    },
    #[error(
        "{}: no cache signing key there; make one with `lvm cache key generate` (or pass \
         --key FILE)",
        path.display()
    )]
    NoSecretKey { path: std::path::PathBuf },
    #[error(
        "{}: a signing key is already there; delete it first to replace it (entries it signed \
         stay valid only while its public key is trusted)",
        path.display()
    )]
    Exists { path: std::path::PathBuf },
    #[error("{}: {cause}", path.display())]
    Io {
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("key name '{0}': use letters, digits, '.', '_' and '-' (e.g. team-cache-1)")]
    BadName(String),
}

/// Whether `name` can name a key: it is written before a `:` and shown in messages. Pure.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The name a key gets when none is given: `USER-HOST` (each builder of a team distinct),
/// with any character a name cannot hold replaced by `-`; `lvm-cache` when both are unknown.
/// Pure.
pub fn default_name(user: Option<&str>, host: Option<&str>) -> String {
    let clean = |part: &str| -> String {
        part.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .take(48)
            .collect()
    };
    let parts: Vec<String> = [user, host]
        .into_iter()
        .flatten()
        .map(clean)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        "lvm-cache".to_string()
    } else {
        parts.join("-")
    }
}

/// [`default_name`] for this process: `USER` (or `LOGNAME`) and the host name.
pub fn default_name_here() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string());
    default_name(user.as_deref(), host.as_deref())
}

/// Splits `NAME:BASE64` into the name and 32 decoded bytes. Pure.
fn split_key(text: &str) -> Result<(String, [u8; 32]), String> {
    let (name, data) = text
        .trim()
        .split_once(':')
        .ok_or("no ':' between the name and the key")?;
    if !valid_name(name) {
        return Err(format!(
            "the name '{name}' must be letters, digits, '.', '_' or '-'"
        ));
    }
    let bytes = BASE64
        .decode(data)
        .map_err(|e| format!("the key is not base64: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("the key has {} bytes, an ed25519 key 32", b.len()))?;
    Ok((name.to_string(), bytes))
}

/// A trusted public key: its name and the ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// Parses `NAME:BASE64` (as `lvm cache key generate` prints it).
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let bad = |problem: String| KeyError::BadPublicKey {
            text: text.trim().to_string(),
            problem,
        };
        let (name, bytes) = split_key(text).map_err(bad)?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| bad("not a point of the ed25519 curve".to_string()))?;
        Ok(PublicKey { name, key })
    }

    /// Whether `signature` (base64) over `message` is this key's; strict verification, so no
    /// second encoding of one signature is accepted.
    pub fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let Ok(bytes) = BASE64.decode(signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(self.key.to_bytes()))
    }
}

/// A signing key: its name and the ed25519 secret.
pub struct SecretKey {
    pub name: String,
    key: SigningKey,
}

impl SecretKey {
    /// A new key named `name`, from the operating system's random source.
    pub fn generate(name: &str) -> Result<SecretKey, KeyError> {
        if !valid_name(name) {
            return Err(KeyError::BadName(name.to_string()));
        }
        let mut seed = [0u8; 32];
        let path = Path::new("/dev/urandom");
        std::io::Read::read_exact(
            &mut std::fs::File::open(path).map_err(|cause| io(path, cause))?,
            &mut seed,
        )
        .map_err(|cause| io(path, cause))?;
        Ok(SecretKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads a key file written by [`SecretKey::write_new`].
    pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::NoSecretKey {
                    path: path.to_path_buf(),
                });
            }
            Err(cause) => return Err(io(path, cause)),
        };
        let (name, seed) = split_key(&text).map_err(|problem| KeyError::BadSecretKey {
            path: path.to_path_buf(),
            problem,
        })?;
        Ok(SecretKey {
            name,
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Writes the key to a new file only its owner can read; an existing file is kept.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|cause| io(dir, cause))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|cause| match cause.kind() {
                std::io::ErrorKind::AlreadyExists => KeyError::Exists {
                    path: path.to_path_buf(),
                },
                _ => io(path, cause),
            })?;
        let line = format!("{}:{}\n", self.name, BASE64.encode(self.key.to_bytes()));
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|cause| io(path, cause))
    }

    /// The public half, to list in `trusted_keys`.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The signature (base64) of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        BASE64.encode(self.key.sign(message).to_bytes())
    }
}

fn io(path: &Path, cause: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_user_and_host_made_valid() {
        assert_eq!(
            default_name(Some("alice"), Some("build-7")),
            "alice-build-7"
        );
        assert_eq!(default_name(Some("a b"), Some("h:1")), "a-b-h-1");
        assert_eq!(default_name(None, Some("ci.example")), "ci.example");
        assert_eq!(default_name(None, None), "lvm-cache");
        assert_eq!(default_name(Some(""), Some("")), "lvm-cache");
        assert!(valid_name(&default_name(Some(&"x".repeat(300)), Some("é"))));
    }

    #[test]
    fn a_signature_verifies_with_its_public_key_only() {
        let key = SecretKey::generate("team-1").unwrap();
        let other = SecretKey::generate("team-1").unwrap();
        let signature = key.sign(b"entry");
        let public = PublicKey::parse(&key.public().to_string()).unwrap();
        assert_eq!(public.name, "team-1");
        assert!(public.verifies(b"entry", &signature));
        assert!(!public.verifies(b"entry!", &signature));
        assert!(!other.public().verifies(b"entry", &signature));
        assert!(!public.verifies(b"entry", "not base64"));
    }

    #[test]
    fn bad_public_keys_say_what_is_wrong() {
        let err = |text: &str| PublicKey::parse(text).unwrap_err().to_string();
        assert!(err("nocolon").contains("no ':'"), "{}", err("nocolon"));
        assert!(err("a b:AAAA").contains("name 'a b'"));
        assert!(err("k:AAAA").contains("3 bytes"), "{}", err("k:AAAA"));
        assert!(err("k:@@").contains("not base64"));
        assert!(SecretKey::generate("bad name").is_err());
    }

    #[test]
    fn key_files_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/cache.key");
        let key = SecretKey::generate("ci").unwrap();
        key.write_new(&path).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let loaded = SecretKey::load(&path).unwrap();
        assert_eq!(loaded.public(), key.public());
        assert!(matches!(key.write_new(&path), Err(KeyError::Exists { .. })));
        assert!(matches!(
            SecretKey::load(&dir.path().join("none")),
            Err(KeyError::NoSecretKey { .. })
        ));
    }
}
