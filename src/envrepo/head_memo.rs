//! A memo of what every command reads from the head commit before it starts — the settings file
//! and the digest of the manifest — kept in lvm's private folder, so the commands that only read
//! (`lvm run`, `path`, `list`) inflate no git object while the head has not moved.
//!
//! A commit never changes, so a memo made for one stays true; a memo of another commit (the head
//! moved) is replaced by the next reader. It is written atomically and never flushed: a memo
//! lost in a crash is made again, and one that does not parse is not used.

use std::path::Path;

use git2::Oid;
use serde::{Deserialize, Serialize};

use super::{EnvRepo, MANIFEST_FILE, RepoError};
use crate::layout::HEAD_MEMO_FILE;

/// Larger than any settings file lvm writes; a bigger memo is not read.
const MAX_MEMO_BYTES: u64 = 1 << 20;

/// What a command reads from a commit as it opens the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadFiles {
    /// The settings file's text (invalid UTF-8 replaced, as the settings parser reads it).
    pub settings: String,
    /// The sha256 of the manifest's bytes, if the commit has a manifest.
    pub manifest_sha256: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Memo {
    commit: String,
    #[serde(flatten)]
    files: HeadFiles,
}

impl EnvRepo {
    /// The settings text and manifest digest of `commit`: from the memo when it is of that
    /// commit, else read from git (and remembered).
    pub fn head_files(&self, commit: Oid) -> Result<HeadFiles, RepoError> {
        // What a commit holds never changes, so the answer for one commit is kept for the
        // life of this handle: an open reads the head's settings, then its manifest digest.
        if let Some((known, files)) = &*self.head_files_read.borrow() {
            if *known == commit {
                return Ok(files.clone());
            }
        }
        let path = self.private_dir().join(HEAD_MEMO_FILE);
        let files = match read_memo(&path, commit) {
            Some(files) => files,
            None => self.remember(&path, commit, None)?,
        };
        *self.head_files_read.borrow_mut() = Some((commit, files.clone()));
        Ok(files)
    }

    /// Makes the memo of `commit`, which a writer has just made the head, with the digest of
    /// its manifest when the writer knows it (best effort).
    pub(super) fn remember_head_files(&self, commit: Oid, manifest_sha256: Option<&str>) {
        let path = self.private_dir().join(HEAD_MEMO_FILE);
        if let Err(e) = self.remember(&path, commit, manifest_sha256) {
            tracing::debug!("no head memo for {commit}: {e}");
        }
    }

    /// The settings text and manifest digest of `commit` (the digest read from git unless
    /// given), written to the memo at `path`.
    fn remember(
        &self,
        path: &Path,
        commit: Oid,
        manifest_sha256: Option<&str>,
    ) -> Result<HeadFiles, RepoError> {
        let settings = self.read_file(commit, super::CONFIG_FILE)?;
        let manifest_sha256 = match manifest_sha256 {
            Some(known) => Some(known.to_string()),
            None => match self.read_file(commit, MANIFEST_FILE) {
                Ok(bytes) => Some(crate::digest::sha256_bytes(&bytes)),
                Err(RepoError::MissingFile { .. }) => None,
                Err(e) => return Err(e),
            },
        };
        let files = HeadFiles {
            settings: String::from_utf8_lossy(&settings).into_owned(),
            manifest_sha256,
        };
        write_memo(path, commit, &files);
        Ok(files)
    }
}

/// The memo at `path` if it is a memo of `commit`.
fn read_memo(path: &Path, commit: Oid) -> Option<HeadFiles> {
    let bytes = crate::fsutil::read_bounded(path, MAX_MEMO_BYTES).ok()??;
    parse_memo(&bytes, commit)
}

fn parse_memo(bytes: &[u8], commit: Oid) -> Option<HeadFiles> {
    let memo: Memo = serde_json::from_slice(bytes).ok()?;
    (memo.commit == commit.to_string()).then_some(memo.files)
}

/// Best effort: a reader that may not write here (another user's environment) goes on without.
fn write_memo(path: &Path, commit: Oid, files: &HeadFiles) {
    let memo = Memo {
        commit: commit.to_string(),
        files: files.clone(),
    };
    let written = serde_json::to_vec(&memo)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::fsutil::write_cache(path, &bytes));
    if let Err(e) = written {
        tracing::debug!("could not write {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> HeadFiles {
        HeadFiles {
            settings: "lua = \"5.4\"\n".into(),
            manifest_sha256: Some("ab".repeat(32)),
        }
    }

    #[test]
    fn a_memo_answers_for_its_commit_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HEAD_MEMO_FILE);
        let commit = Oid::from_str(&"1".repeat(40)).unwrap();
        let other = Oid::from_str(&"2".repeat(40)).unwrap();
        write_memo(&path, commit, &files());
        assert_eq!(read_memo(&path, commit), Some(files()));
        assert_eq!(read_memo(&path, other), None);
    }

    #[test]
    fn a_damaged_memo_is_not_used() {
        let commit = Oid::from_str(&"1".repeat(40)).unwrap();
        let good = serde_json::to_vec(&Memo {
            commit: commit.to_string(),
            files: files(),
        })
        .unwrap();
        assert!(parse_memo(&good, commit).is_some());
        for cut in [0, 1, good.len() / 2, good.len() - 1] {
            assert_eq!(parse_memo(&good[..cut], commit), None, "cut at {cut}");
        }
        assert_eq!(parse_memo(b"{\"commit\":1}", commit), None);
    }
}
