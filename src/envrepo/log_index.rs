//! A cache of the plain log, `.git/lvm-log-index`: for each commit lvm has listed, its first
//! parent, time and summary, so `lvm log` follows a long history without reading every commit.
//!
//! It is derived data. Commits never change, so an entry once right stays right; the file ends
//! with the sha256 of everything before it and is ignored (then rebuilt) when that does not
//! match. A walk starts at the real head and follows parents through the cache, reading from git
//! every commit it does not hold, so a cache that lags (new events, commits fetched from a remote,
//! another profile) is completed rather than trusted. It is rewritten whole (temporary file and
//! rename, no fsync: a torn write fails the checksum) when a walk learned something.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::Oid;
use sha2::{Digest, Sha256};

/// The file's first line.
const HEADER: &str = "lvm-log-index 1\n";
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
            Ok(bytes) => parse(&bytes).unwrap_or_else(|| {
                tracing::debug!("ignoring {}: it does not check out", path.display());
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
        if let Err(e) = write(&path, &render(&self.entries)) {
            tracing::debug!("could not write {}: {e}", path.display());
        }
    }
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(PathBuf::from(path)).map_err(|e| e.error)?;
    Ok(())
}

/// The file's bytes: header, one line per commit (sorted, so equal caches are equal files),
/// checksum.
pub(super) fn render(entries: &HashMap<Oid, Entry>) -> Vec<u8> {
    let mut sorted: Vec<(&Oid, &Entry)> = entries.iter().collect();
    sorted.sort_by_key(|(oid, _)| **oid);
    let mut out = String::with_capacity(HEADER.len() + entries.len() * 140);
    out.push_str(HEADER);
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

/// The entries of a cache file, or `None` when any part of it is off.
pub(super) fn parse(bytes: &[u8]) -> Option<HashMap<Oid, Entry>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let body_end = text.strip_suffix('\n')?.rfind('\n')? + 1;
    let (body, trailer) = text.split_at(body_end);
    let digest = trailer.strip_prefix(TRAILER)?.strip_suffix('\n')?;
    if hex::encode(Sha256::digest(body.as_bytes())) != digest {
        return None;
    }
    let mut entries = HashMap::new();
    for line in body.strip_prefix(HEADER)?.lines() {
        let mut fields = line.splitn(4, ' ');
        let commit = Oid::from_str(fields.next()?).ok()?;
        let parent = match fields.next()? {
            "-" => None,
            hex => Some(Oid::from_str(hex).ok()?),
        };
        let seconds = fields.next()?.parse().ok()?;
        let summary = unescape(fields.next()?)?;
        entries.insert(
            commit,
            Entry {
                parent,
                seconds,
                summary,
            },
        );
    }
    Some(entries)
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

    #[test]
    fn round_trips() {
        let bytes = render(&sample());
        assert_eq!(parse(&bytes), Some(sample()));
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 4);
        assert_eq!(parse(&render(&HashMap::new())), Some(HashMap::new()));
    }

    #[test]
    fn anything_off_is_refused() {
        let bytes = render(&sample());
        // Truncated anywhere.
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(parse(&bytes[..cut]), None, "cut at {cut}");
        }
        // One byte changed (a summary edited by hand).
        let text = String::from_utf8(bytes.clone()).unwrap();
        let edited = text.replace("init", "inix");
        assert_eq!(parse(edited.as_bytes()), None);
        // A consistent checksum over a malformed body.
        let body = format!("{HEADER}not an entry\n");
        let forged = format!(
            "{body}{TRAILER}{}\n",
            hex::encode(Sha256::digest(body.as_bytes()))
        );
        assert_eq!(parse(forged.as_bytes()), None);
        assert_eq!(unescape("bad \\x escape"), None);
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
