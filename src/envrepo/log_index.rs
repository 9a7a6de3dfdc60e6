//! A cache of the plain log, `.git/lvm-log-index`: for each commit lvm has listed, its first
//! parent, time and summary, so `lvm log` follows a long history without reading every commit.
//!
//! It is derived data. Commits never change, so an entry once right stays right; the file ends
//! with the sha256 of everything before it and is ignored (then rebuilt) when that does not
//! match. A walk starts at the real head and follows parents through the cache, reading from git
//! every commit it does not hold, so a cache that lags (new events, commits fetched from a remote,
//! another profile) is completed rather than trusted. It is rewritten whole (temporary file and
//! rename, no fsync: a torn write fails the checksum) when a walk learned something. Its first
//! line names its format version; a cache in a version this lvm does not read is ignored and
//! rebuilt like a damaged one, since nothing in it is needed.

use std::collections::HashMap;
use std::path::Path;

use git2::Oid;
use sha2::{Digest, Sha256};

use crate::format_version::{Format, FormatVersion, Unsupported};

/// The file's first line is this word, a space and the format version.
const MAGIC: &str = "lvm-log-index";
/// The cache formats this lvm writes and reads.
const FORMAT: Format = Format {
    name: "log cache format",
    writes: FormatVersion::new(1, 0, 0),
    reads: "^1",
};
/// Marks the checksum line, which ends the file.
const TRAILER: &str = "sha256 ";
pub(super) const FILE: &str = crate::layout::LOG_INDEX_FILE;

/// What the cache holds for one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub parent: Option<Oid>,
    /// The commit's author time, in seconds since 1970.
    pub seconds: i64,
    pub summary: String,
}

#[derive(Debug, Default)]
pub(super) struct LogIndex {
    entries: HashMap<Oid, Entry>,
    learned: bool,
}

impl LogIndex {
    /// The cache in `git_dir`; empty when there is none or it does not check out.
    pub fn read(git_dir: &Path) -> LogIndex {
        let path = git_dir.join(FILE);
        let entries = match std::fs::read(&path) {
            Ok(bytes) => parse(&bytes).unwrap_or_else(|why| {
                tracing::debug!("ignoring {} (it is rebuilt): {why}", path.display());
                HashMap::new()
            }),
            Err(_) => HashMap::new(),
        };
        LogIndex {
            entries,
            learned: false,
        }
    }

    pub fn get(&self, commit: Oid) -> Option<&Entry> {
        self.entries.get(&commit)
    }

    pub fn learn(&mut self, commit: Oid, entry: Entry) {
        self.entries.insert(commit, entry);
        self.learned = true;
    }

    /// Writes the cache back if a walk added to it. Failing to (a read-only environment) only
    /// costs the next walk its speed.
    pub fn save(&self, git_dir: &Path) {
        if !self.learned {
            return;
        }
        let path = git_dir.join(FILE);
        if let Err(e) = crate::fsutil::write_cache(&path, &render(&self.entries)) {
            tracing::debug!("could not write {}: {e}", path.display());
        }
    }
}

/// The first line of the file this lvm writes.
fn header() -> String {
    format!("{MAGIC} {}\n", FORMAT.writes)
}

/// The file's bytes: header, one line per commit (sorted, so equal caches are equal files),
/// checksum.
pub(super) fn render(entries: &HashMap<Oid, Entry>) -> Vec<u8> {
    let mut sorted: Vec<(&Oid, &Entry)> = entries.iter().collect();
    sorted.sort_by_key(|(oid, _)| **oid);
    let mut out = String::with_capacity(64 + entries.len() * 140);
    out.push_str(&header());
    for (oid, entry) in sorted {
        let parent = entry.parent.map_or("-".to_string(), |p| p.to_string());
        out.push_str(&format!(
            "{oid} {parent} {} {}\n",
            entry.seconds,
            escape(&entry.summary)
        ));
    }
    let digest = hex::encode(Sha256::digest(out.as_bytes()));
    out.push_str(TRAILER);
    out.push_str(&digest);
    out.push('\n');
    out.into_bytes()
}

/// Why a cache file is not used.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(super) enum Unusable {
    #[error("it does not check out (truncated, edited or not written by lvm)")]
    Damaged,
    #[error(transparent)]
    Version(#[from] Unsupported),
}

/// The entries of a cache file, or why it cannot be used. The version on the first line is
/// checked before anything else, since a newer format may change all that follows it.
pub(super) fn parse(bytes: &[u8]) -> Result<HashMap<Oid, Entry>, Unusable> {
    let text = std::str::from_utf8(bytes).map_err(|_| Unusable::Damaged)?;
    FORMAT.check(&version_of(text).ok_or(Unusable::Damaged)?)?;
    checked_entries(text).ok_or(Unusable::Damaged)
}

/// The format version the first line names.
fn version_of(text: &str) -> Option<FormatVersion> {
    let (first, _) = text.split_once('\n')?;
    FormatVersion::parse(first.strip_prefix(MAGIC)?.strip_prefix(' ')?).ok()
}

/// The entries after the first line, when the checksum matches and every line reads.
fn checked_entries(text: &str) -> Option<HashMap<Oid, Entry>> {
    let body_end = text.strip_suffix('\n')?.rfind('\n')? + 1;
    let (body, trailer) = text.split_at(body_end);
    let digest = trailer.strip_prefix(TRAILER)?.strip_suffix('\n')?;
    if hex::encode(Sha256::digest(body.as_bytes())) != digest {
        return None;
    }
    let (_, lines) = body.split_once('\n')?;
    lines.lines().map(parse_line).collect()
}

/// One line of the body: `commit parent|- seconds summary`.
fn parse_line(line: &str) -> Option<(Oid, Entry)> {
    let mut fields = line.splitn(4, ' ');
    let commit = Oid::from_str(fields.next()?).ok()?;
    let parent = match fields.next()? {
        "-" => None,
        hex => Some(Oid::from_str(hex).ok()?),
    };
    let seconds = fields.next()?.parse().ok()?;
    let summary = unescape(fields.next()?)?;
    Some((
        commit,
        Entry {
            parent,
            seconds,
            summary,
        },
    ))
}

/// Keeps a summary on one line (arguments may hold line breaks).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(text: &str) -> Option<String> {
    if !text.contains('\\') {
        return Some(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    fn sample() -> HashMap<Oid, Entry> {
        HashMap::from([
            (
                oid(1),
                Entry {
                    parent: None,
                    seconds: 1_700_000_000,
                    summary: "init".into(),
                },
            ),
            (
                oid(2),
                Entry {
                    parent: Some(oid(1)),
                    seconds: 1_700_000_100,
                    summary: "install a\\b\nc 1.0-1 (+d 2.0-1)".into(),
                },
            ),
        ])
    }

    /// A file of `body` with a matching checksum.
    fn sealed(body: &str) -> String {
        format!(
            "{body}{TRAILER}{}\n",
            hex::encode(Sha256::digest(body.as_bytes()))
        )
    }

    #[test]
    fn round_trips() {
        let bytes = render(&sample());
        assert_eq!(parse(&bytes).ok(), Some(sample()));
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 4);
        assert_eq!(parse(&render(&HashMap::new())).ok(), Some(HashMap::new()));
    }

    #[test]
    fn anything_off_is_refused() {
        let bytes = render(&sample());
        // Truncated anywhere.
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(parse(&bytes[..cut]).ok(), None, "cut at {cut}");
        }
        // One byte changed (a summary edited by hand).
        let text = String::from_utf8(bytes.clone()).unwrap();
        let edited = text.replace("init", "inix");
        assert_eq!(parse(edited.as_bytes()).ok(), None);
        // A consistent checksum over a malformed body.
        let forged = sealed(&format!("{}not an entry\n", header()));
        assert_eq!(parse(forged.as_bytes()), Err(Unusable::Damaged));
        assert_eq!(unescape("bad \\x escape"), None);
    }

    #[test]
    fn format_versions_old_compatible_and_incompatible() {
        // Written today as by every lvm before minor versions: a whole number.
        let text = String::from_utf8(render(&sample())).unwrap();
        assert!(text.starts_with("lvm-log-index 1\n"), "{text}");
        let (_, rest) = text.split_once('\n').unwrap();
        let (body, _) = rest.rsplit_once(TRAILER).unwrap();
        let with_version = |version: &str| sealed(&format!("{MAGIC} {version}\n{body}"));
        assert_eq!(parse(with_version("1").as_bytes()), Ok(sample()));
        // A newer lvm that only added what this one may ignore.
        assert_eq!(parse(with_version("1.2.0").as_bytes()), Ok(sample()));
        // An incompatible one: not used (and rebuilt), with the reason.
        for (version, found) in [
            ("2", FormatVersion::new(2, 0, 0)),
            ("3.1.0", FormatVersion::new(3, 1, 0)),
        ] {
            match parse(with_version(version).as_bytes()) {
                Err(Unusable::Version(e)) => {
                    assert_eq!(e.found, found);
                    let message = e.to_string();
                    assert!(
                        message.starts_with(&format!(
                            "log cache format {version} is from a newer lvm"
                        )) && message.contains("reads log cache format ^1"),
                        "{message}"
                    );
                }
                other => panic!("{version}: {other:?}"),
            }
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), with_version("2")).unwrap();
        assert!(LogIndex::read(dir.path()).entries.is_empty());
        std::fs::write(dir.path().join(FILE), with_version("1.2.0")).unwrap();
        assert_eq!(LogIndex::read(dir.path()).entries, sample());
    }

    #[test]
    fn save_writes_only_what_was_learned() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = LogIndex::read(dir.path());
        index.save(dir.path());
        assert!(!dir.path().join(FILE).exists());
        for (oid, entry) in sample() {
            index.learn(oid, entry);
        }
        index.save(dir.path());
        let again = LogIndex::read(dir.path());
        assert_eq!(again.entries, sample());
        std::fs::write(dir.path().join(FILE), b"garbage").unwrap();
        assert!(LogIndex::read(dir.path()).entries.is_empty());
    }
}
