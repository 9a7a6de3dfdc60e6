//! One build cache entry: a binary rock LuaRocks can install, lvm's metadata about it (store key,
//! what it was built from, the sha256 of every file) and an ed25519 signature over that metadata.
//! Opening an entry trusts nothing it says until the signature and every file hash check out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::keys::{PublicKey, SecretKey};
use crate::format_version::{Format, FormatVersion, Unsupported};
use crate::store::StoreKey;
use crate::tree::files::{self, FsError};

/// The entry layouts this lvm writes and reads.
pub const ENTRY_FORMAT: Format = Format {
    name: "cache entry format",
    writes: FormatVersion::new(1, 0, 0),
    reads: "^1",
};
/// The signed metadata's object name inside an entry's folder (`<key>/entry.json`).
pub const ENTRY_FILE: &str = "entry.json";
/// What a signature covers: this domain tag, then the metadata's exact JSON bytes.
const SIGNED_PREFIX: &[u8] = b"lvm-cache-entry-v1\n";

/// Why an entry is refused.
#[derive(Debug, Error)]
pub enum EntryError {
    #[error("{entry}: not a cache entry ({problem})")]
    Malformed { entry: String, problem: String },
    #[error("{entry}: {unsupported}")]
    Format {
        entry: String,
        unsupported: Box<Unsupported>,
    },
    #[error(
        "{entry}: signed by key '{key}', which is not in trusted_keys (add its public key with \
         `lvm config set trusted_keys ...` if you trust whoever holds it)"
    )]
    Untrusted { entry: String, key: String },
    #[error(
        "{entry}: the signature does not verify with the trusted key '{key}': the entry was \
         changed after it was signed"
    )]
    BadSignature { entry: String, key: String },
    #[error("{entry}: it is the entry of {found}, not of {wanted}")]
    WrongKey {
        entry: String,
        found: String,
        wanted: String,
    },
    #[error("{entry}: file {file} {problem}, so the entry was changed after it was signed")]
    Tampered {
        entry: String,
        file: String,
        problem: String,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// The rock file of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RockFile {
    /// `<name>-<version>.<arch>.rock`, as `luarocks install` expects it named.
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

/// What an entry says about its build; all of it is covered by the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    pub format: FormatVersion,
    /// The store key the entry stands for.
    pub key: StoreKey,
    pub name: String,
    pub version: String,
    /// The Lua (`5.4`, `luajit`) and platform (`linux-x86_64`) it was built for.
    pub lua: String,
    pub platform: String,
    pub rock: RockFile,
    /// sha256 of every file of the unpacked rock, by `/`-separated path.
    pub files: BTreeMap<String, String>,
    /// What the store recorded with the build (the source archive's sha256, the commit).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// An entry's metadata once its signature checked out, with the name of the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub meta: EntryMeta,
    pub signed_by: String,
}

/// A signed cache object (`entry.json`, a recipe record): the metadata as the exact text that
/// was signed, the name of the key that signed it, and the signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignedEntry {
    meta: String,
    signed_by: String,
    signature: String,
}

/// The object names of the entry for `key`: its `entry.json` and its rock file.
pub fn entry_object(key: &StoreKey) -> String {
    format!("{key}/{ENTRY_FILE}")
}

pub fn rock_object(key: &StoreKey, rock_file: &str) -> String {
    format!("{key}/{rock_file}")
}

/// `entry.json` for `meta`, signed with `key`. Deterministic: ed25519 signatures are.
pub fn seal(meta: &EntryMeta, key: &SecretKey) -> Vec<u8> {
    seal_json(SIGNED_PREFIX, meta, key)
}

/// A signed cache object for `meta` (an entry's or a recipe record's metadata): its pretty JSON
/// as the signed text, signed with `key` after the domain tag `prefix`.
pub(super) fn seal_json(prefix: &[u8], meta: &impl Serialize, key: &SecretKey) -> Vec<u8> {
    let text = serde_json::to_string_pretty(meta).unwrap_or_default();
    let mut message = prefix.to_vec();
    message.extend_from_slice(text.as_bytes());
    let signed = SignedEntry {
        signature: key.sign(&message),
        signed_by: key.name.clone(),
        meta: text,
    };
    let mut bytes = serde_json::to_vec_pretty(&signed).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The metadata of a signed cache object (`shown` names it in errors) once its signature by one
/// of `trusted` verifies over the domain tag `prefix` and the exact text, and it is of a
/// `format` this lvm reads; with the name of the key that signed it.
pub(super) fn open_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    shown: &str,
    prefix: &[u8],
    format: &Format,
    trusted: &[PublicKey],
) -> Result<(T, String), EntryError> {
    let malformed = |problem: String| EntryError::Malformed {
        entry: shown.to_string(),
        problem,
    };
    let signed: SignedEntry =
        serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    verify_signature(&signed, shown, prefix, trusted)?;
    if let Some(unsupported) = format.unsupported_in_json(signed.meta.as_bytes(), "format") {
        return Err(EntryError::Format {
            entry: shown.to_string(),
            unsupported: Box::new(unsupported),
        });
    }
    let meta = serde_json::from_str(&signed.meta).map_err(|e| malformed(e.to_string()))?;
    Ok((meta, signed.signed_by))
}

/// The metadata of `entry.json` (`shown` names it in errors) once its signature by one of
/// `trusted` verifies, it is of a format this lvm reads, stands for `wanted` and names a rock
/// file that cannot step out of its folder.
pub fn open(
    bytes: &[u8],
    shown: &str,
    wanted: &StoreKey,
    trusted: &[PublicKey],
) -> Result<Opened, EntryError> {
    let (meta, signed_by): (EntryMeta, String) =
        open_json(bytes, shown, SIGNED_PREFIX, &ENTRY_FORMAT, trusted)?;
    check_meta(&meta, shown, wanted)?;
    Ok(Opened { meta, signed_by })
}

/// Checks what an entry's metadata must be besides signed, wherever it was read (`entry.json`,
/// or folded into a recipe record, `shown` names which): of a format this lvm reads, for the
/// store key `wanted`, naming a rock file that cannot step out of its folder.
pub(super) fn check_meta(
    meta: &EntryMeta,
    shown: &str,
    wanted: &StoreKey,
) -> Result<(), EntryError> {
    ENTRY_FORMAT
        .check(&meta.format)
        .map_err(|unsupported| EntryError::Format {
            entry: shown.to_string(),
            unsupported: Box::new(unsupported),
        })?;
    if meta.key != *wanted {
        return Err(EntryError::WrongKey {
            entry: shown.to_string(),
            found: format!("store key {}", meta.key),
            wanted: format!("store key {wanted}"),
        });
    }
    if !safe_rock_name(&meta.rock.file) {
        return Err(EntryError::Malformed {
            entry: shown.to_string(),
            problem: format!(
                "the rock file name '{}' is not NAME-VERSION.ARCH.rock",
                meta.rock.file
            ),
        });
    }
    Ok(())
}

/// Checks that `signed` is signed by one of `trusted` (by name) and that the signature over
/// the domain tag `prefix` and its exact metadata text verifies with that key.
fn verify_signature(
    signed: &SignedEntry,
    shown: &str,
    prefix: &[u8],
    trusted: &[PublicKey],
) -> Result<(), EntryError> {
    let key = trusted
        .iter()
        .find(|k| k.name == signed.signed_by)
        .ok_or_else(|| EntryError::Untrusted {
            entry: shown.to_string(),
            key: signed.signed_by.clone(),
        })?;
    let mut message = prefix.to_vec();
    message.extend_from_slice(signed.meta.as_bytes());
    if !key.verifies(&message, &signed.signature) {
        return Err(EntryError::BadSignature {
            entry: shown.to_string(),
            key: key.name.clone(),
        });
    }
    Ok(())
}

/// An `entry.json` read without trusting it, to list a cache: what it claims, who it says
/// signed it, whether that signature is a trusted key's, and what [`open`] concludes.
#[derive(Debug)]
pub struct Inspected {
    /// The metadata it carries; `None` when it is not an entry at all. Unchecked unless
    /// `verdict` is `Ok`.
    pub meta: Option<EntryMeta>,
    pub signed_by: Option<String>,
    /// Signed by a key of `trusted_keys`, and the signature verifies.
    pub trusted: bool,
    /// What [`open`] gives: the checked metadata, ready to fetch the rock with, or why not.
    pub verdict: Result<Opened, EntryError>,
}

/// Reads `entry.json` as [`open`] does, keeping what it claims even when it is refused. Pure.
pub fn inspect(bytes: &[u8], shown: &str, wanted: &StoreKey, trusted: &[PublicKey]) -> Inspected {
    let signed: Option<SignedEntry> = serde_json::from_slice(bytes).ok();
    Inspected {
        meta: signed
            .as_ref()
            .and_then(|s| serde_json::from_str(&s.meta).ok()),
        trusted: signed
            .as_ref()
            .is_some_and(|s| verify_signature(s, shown, SIGNED_PREFIX, trusted).is_ok()),
        signed_by: signed.map(|s| s.signed_by),
        verdict: open(bytes, shown, wanted, trusted),
    }
}

/// Whether a rock file name stays in its folder and looks like one. Pure.
fn safe_rock_name(name: &str) -> bool {
    name.ends_with(".rock")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

/// Checks that the files unpacked into `prefix` are exactly those `meta` lists, with their
/// hashes; the first difference is named.
pub fn check_files(prefix: &Path, meta: &EntryMeta, shown: &str) -> Result<(), EntryError> {
    let tampered = |file: &str, problem: &str| EntryError::Tampered {
        entry: shown.to_string(),
        file: file.to_string(),
        problem: problem.to_string(),
    };
    let mut seen = BTreeSet::new();
    for entry in files::list(prefix)? {
        if !entry.is_file() {
            continue;
        }
        let Some(expected) = meta.files.get(&entry.rel) else {
            return Err(tampered(&entry.rel, "is not listed in the signed metadata"));
        };
        let (actual, _) = files::sha256_file(&entry.path)?;
        if actual != *expected {
            return Err(tampered(
                &entry.rel,
                "does not have the sha256 the signed metadata records",
            ));
        }
        seen.insert(entry.rel);
    }
    match meta.files.keys().find(|f| !seen.contains(*f)) {
        Some(missing) => Err(tampered(missing, "is missing from the rock")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &StoreKey) -> EntryMeta {
        EntryMeta {
            format: ENTRY_FORMAT.writes,
            key: key.clone(),
            name: "foo".into(),
            version: "1.0-1".into(),
            lua: "5.4".into(),
            platform: "linux-x86_64".into(),
            rock: RockFile {
                file: "foo-1.0-1.all.rock".into(),
                sha256: "00".into(),
                size: 1,
            },
            files: BTreeMap::from([("lua/foo.lua".into(), crate::digest::sha256_bytes(b"x"))]),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn a_sealed_entry_opens_only_with_a_trusted_key_and_its_own_store_key() {
        let key = StoreKey::compute(&[("lua", "5.4")]);
        let other_key = StoreKey::compute(&[("lua", "5.1")]);
        let signer = SecretKey::generate("team").unwrap();
        let bytes = seal(&meta(&key), &signer);
        let opened = open(&bytes, "e", &key, &[signer.public()]).unwrap();
        assert_eq!(
            (opened.meta, opened.signed_by.as_str()),
            (meta(&key), "team")
        );
        let stranger = SecretKey::generate("other").unwrap();
        let err = open(&bytes, "e", &key, &[stranger.public()]).unwrap_err();
        assert!(err.to_string().contains("signed by key 'team'"), "{err}");
        let err = open(&bytes, "e", &other_key, &[signer.public()]).unwrap_err();
        assert!(matches!(err, EntryError::WrongKey { .. }), "{err}");
        // The same name with another key: the signature fails.
        let impostor = SecretKey::generate("team").unwrap();
        let err = open(&bytes, "e", &key, &[impostor.public()]).unwrap_err();
        assert!(matches!(err, EntryError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn a_changed_metadata_byte_breaks_the_signature() {
        let key = StoreKey::compute(&[("lua", "5.4")]);
        let signer = SecretKey::generate("team").unwrap();
        let text = String::from_utf8(seal(&meta(&key), &signer)).unwrap();
        let changed = text.replace("1.0-1.all.rock", "1.0-2.all.rock");
        assert_ne!(text, changed);
        let err = open(changed.as_bytes(), "e", &key, &[signer.public()]).unwrap_err();
        assert!(matches!(err, EntryError::BadSignature { .. }), "{err}");
        assert!(matches!(
            open(b"{}", "e", &key, &[signer.public()]),
            Err(EntryError::Malformed { .. })
        ));
    }

    #[test]
    fn inspecting_keeps_the_claims_of_a_refused_entry() {
        let key = StoreKey::compute(&[("lua", "5.4")]);
        let signer = SecretKey::generate("team").unwrap();
        let bytes = seal(&meta(&key), &signer);
        let seen = inspect(&bytes, "e", &key, &[signer.public()]);
        assert!(seen.trusted && seen.verdict.is_ok());
        assert_eq!(seen.meta, Some(meta(&key)));
        let stranger = SecretKey::generate("other").unwrap();
        let seen = inspect(&bytes, "e", &key, &[stranger.public()]);
        assert!(!seen.trusted);
        assert_eq!(seen.signed_by.as_deref(), Some("team"));
        assert_eq!(seen.meta.map(|m| m.name), Some("foo".to_string()));
        assert!(matches!(seen.verdict, Err(EntryError::Untrusted { .. })));
        // Trusted signature, but the entry of another store key: trusted, still refused.
        let other_key = StoreKey::compute(&[("lua", "5.1")]);
        let seen = inspect(&bytes, "e", &other_key, &[signer.public()]);
        assert!(seen.trusted);
        assert!(matches!(seen.verdict, Err(EntryError::WrongKey { .. })));
        let seen = inspect(b"not json", "e", &key, &[signer.public()]);
        assert!(seen.meta.is_none() && seen.signed_by.is_none() && !seen.trusted);
        assert!(matches!(seen.verdict, Err(EntryError::Malformed { .. })));
    }

    #[test]
    fn rock_names_cannot_leave_their_folder() {
        assert!(safe_rock_name("foo-1.0-1.linux-x86_64.rock"));
        assert!(!safe_rock_name("../foo.rock"));
        assert!(!safe_rock_name("a/b.rock"));
        assert!(!safe_rock_name("foo.zip"));
    }

    #[test]
    fn files_must_match_exactly() {
        let key = StoreKey::compute(&[("lua", "5.4")]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lua")).unwrap();
        std::fs::write(dir.path().join("lua/foo.lua"), "x").unwrap();
        check_files(dir.path(), &meta(&key), "e").unwrap();
        std::fs::write(dir.path().join("lua/foo.lua"), "y").unwrap();
        let err = check_files(dir.path(), &meta(&key), "e").unwrap_err();
        assert!(
            err.to_string().contains("file lua/foo.lua does not have"),
            "{err}"
        );
        std::fs::write(dir.path().join("lua/foo.lua"), "x").unwrap();
        std::fs::write(dir.path().join("lua/evil.lua"), "x").unwrap();
        let err = check_files(dir.path(), &meta(&key), "e").unwrap_err();
        assert!(
            err.to_string().contains("lua/evil.lua is not listed"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("lua/evil.lua")).unwrap();
        std::fs::remove_file(dir.path().join("lua/foo.lua")).unwrap();
        let err = check_files(dir.path(), &meta(&key), "e").unwrap_err();
        assert!(err.to_string().contains("is missing"), "{err}");
    }
}
