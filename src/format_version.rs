//! Versions of lvm's own file formats (`manifest.json`, events, the log cache, store metadata):
//! semver numbers, each reader checking them against the versions it understands.
//!
//! A format's minor version grows when a newer lvm adds what an older reader may ignore, its
//! major version when an older reader would misread the file. A reader states what it reads as
//! a semver requirement (`^1`), so a compatible newer file still reads and an incompatible one
//! is refused with an error that says to upgrade lvm. Before minor versions existed every file
//! carried a whole number (`1`); a whole number `N` still reads as `N.0.0`, and a version with
//! only its major number set is written that way, so today's files keep their bytes.

use std::fmt;

use semver::{Version, VersionReq};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// The version of one of lvm's file formats.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FormatVersion(Version);

impl FormatVersion {
    pub const fn new(major: u64, minor: u64, patch: u64) -> FormatVersion {
        FormatVersion(Version::new(major, minor, patch))
    }

    /// Reads a version as files carry it: a whole number (`1`, meaning `1.0.0`) or a semver
    /// version (`1.2.0`).
    pub fn parse(text: &str) -> Result<FormatVersion, semver::Error> {
        match text.parse::<u64>() {
            Ok(major) => Ok(FormatVersion::new(major, 0, 0)),
            Err(_) => Version::parse(text).map(FormatVersion),
        }
    }

    pub fn semver(&self) -> &Version {
        &self.0
    }

    /// Whether the version is written as a whole number: nothing but the major number is set.
    fn is_whole(&self) -> bool {
        let v = &self.0;
        v.minor == 0 && v.patch == 0 && v.pre.is_empty() && v.build.is_empty()
    }
}

impl fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}", self.0.major)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for FormatVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.is_whole() {
            serializer.serialize_u64(self.0.major)
        } else {
            serializer.collect_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FormatVersionVisitor)
    }
}

struct FormatVersionVisitor;

impl Visitor<'_> for FormatVersionVisitor {
    type Value = FormatVersion;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a format version: a whole number (1) or a semver string (\"1.2.0\")")
    }

    fn visit_u64<E: de::Error>(self, major: u64) -> Result<FormatVersion, E> {
        Ok(FormatVersion::new(major, 0, 0))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<FormatVersion, E> {
        u64::try_from(n)
            .map(|major| FormatVersion::new(major, 0, 0))
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<FormatVersion, E> {
        FormatVersion::parse(text).map_err(|e| E::custom(format!("format version '{text}': {e}")))
    }
}

/// One of lvm's file formats: its name in messages, the version this lvm writes and the
/// versions it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// How messages name it (`manifest format`).
    pub name: &'static str,
    pub writes: FormatVersion,
    /// A semver requirement (`^1`); it must match `writes`.
    pub reads: &'static str,
}

impl Format {
    /// The versions this lvm reads.
    pub fn requirement(&self) -> VersionReq {
        VersionReq::parse(self.reads).expect("format requirements are valid semver requirements")
    }

    /// Whether this lvm reads a file of version `found`.
    pub fn check(&self, found: &FormatVersion) -> Result<(), Unsupported> {
        // What this lvm writes it reads; the requirement is parsed only for other versions, so
        // reading thousands of current events costs no parsing.
        if *found == self.writes || self.requirement().matches(found.semver()) {
            return Ok(());
        }
        Err(Unsupported {
            format: self.name,
            found: found.clone(),
            reads: self.reads,
            newer: *found > self.writes,
        })
    }

    /// Why a JSON file that did not parse cannot be read, when the reason is its version: a
    /// newer lvm may have changed more than this lvm can parse, and saying "upgrade lvm" helps
    /// where "malformed" would not. Reads only the version in the top-level key `field`.
    pub fn unsupported_in_json(&self, json: &[u8], field: &str) -> Option<Unsupported> {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(json).ok()?;
        let found = FormatVersion::deserialize(object.remove(field)?).ok()?;
        self.check(&found).err()
    }
}

/// A file in a version of its format this lvm does not read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{format} {found} is {}", self.explanation())]
pub struct Unsupported {
    /// The format's name in messages (`manifest format`).
    pub format: &'static str,
    pub found: FormatVersion,
    /// The versions this lvm reads (a semver requirement).
    pub reads: &'static str,
    /// Whether a newer lvm wrote it (else it is older than anything this lvm reads).
    pub newer: bool,
}

impl Unsupported {
    fn explanation(&self) -> String {
        let reads = format!(
            "this lvm {} reads {} {}",
            crate_version(),
            self.format,
            self.reads
        );
        if self.newer {
            format!("from a newer lvm ({reads}); upgrade lvm to read it")
        } else {
            format!("older than any this lvm reads ({reads})")
        }
    }
}

fn crate_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: Format = Format {
        name: "sample format",
        writes: FormatVersion::new(1, 0, 0),
        reads: "^1",
    };

    fn from_json(text: &str) -> Result<FormatVersion, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn whole_numbers_read_and_write_as_before() {
        assert_eq!(from_json("1").unwrap(), FormatVersion::new(1, 0, 0));
        assert_eq!(from_json("\"1\"").unwrap(), FormatVersion::new(1, 0, 0));
        assert_eq!(
            serde_json::to_string(&FormatVersion::new(1, 0, 0)).unwrap(),
            "1"
        );
        assert_eq!(FormatVersion::new(2, 0, 0).to_string(), "2");
        assert_eq!(
            FormatVersion::parse("7").unwrap(),
            FormatVersion::new(7, 0, 0)
        );
    }

    #[test]
    fn other_versions_are_semver_strings() {
        let v = from_json("\"1.2.0\"").unwrap();
        assert_eq!(v, FormatVersion::new(1, 2, 0));
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"1.2.0\"");
        assert_eq!(v.to_string(), "1.2.0");
        for bad in ["-1", "1.5", "\"1.2\"", "\"one\"", "null"] {
            assert!(from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reader_reads_its_requirement() {
        assert!(SAMPLE.requirement().matches(SAMPLE.writes.semver()));
        assert_eq!(SAMPLE.check(&FormatVersion::new(1, 0, 0)), Ok(()));
        assert_eq!(SAMPLE.check(&FormatVersion::new(1, 3, 1)), Ok(()));
        let newer = SAMPLE.check(&FormatVersion::new(2, 0, 0)).unwrap_err();
        assert!(newer.newer);
        assert_eq!(
            newer.to_string(),
            format!(
                "sample format 2 is from a newer lvm (this lvm {} reads sample format ^1); \
                 upgrade lvm to read it",
                crate_version()
            )
        );
        let older = SAMPLE.check(&FormatVersion::new(0, 9, 0)).unwrap_err();
        assert_eq!(older.found, FormatVersion::new(0, 9, 0));
        assert!(!older.newer);
        assert!(
            older
                .to_string()
                .starts_with("sample format 0.9.0 is older than any this lvm reads"),
            "{older}"
        );
    }

    #[test]
    fn a_version_is_found_in_json_that_does_not_parse_otherwise() {
        let found = |json: &str| SAMPLE.unsupported_in_json(json.as_bytes(), "format");
        let newer = found(r#"{"format": "2.1.0", "shape": ["unknown"]}"#).unwrap();
        assert_eq!(newer.found, FormatVersion::new(2, 1, 0));
        assert!(newer.newer);
        // Only a version this lvm does not read is a reason; anything else is not about it.
        assert_eq!(found(r#"{"format": 1, "shape": ["unknown"]}"#), None);
        assert_eq!(found(r#"{"format": "1.9.0"}"#), None);
        assert_eq!(found(r#"{"other": 2}"#), None);
        assert_eq!(found(r#"{"format": "two"}"#), None);
        assert_eq!(found("[2]"), None);
        assert_eq!(found("{ not json"), None);
    }
}
