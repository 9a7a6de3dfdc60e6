//! The head and the profiles' branches read straight from the git folder's files, as git
//! writes them, so that reading the head needs no libgit2 repository.
//!
//! Only the plain forms are read here: `HEAD` naming a branch or a commit, and a loose ref
//! holding a SHA-1 commit id. Anything else (packed refs, a symbolic branch, another ref
//! store or object format) gives `None`, and the caller asks libgit2, which knows them all.

use std::path::Path;

use git2::Oid;

/// A git folder's files are small; anything larger is not one lvm reads by hand.
const MAX_REF_BYTES: u64 = 4096;

/// What `HEAD` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Head {
    /// A branch (the full ref name, `refs/heads/NAME`).
    Branch(String),
    /// A commit (a detached head).
    Detached,
}

/// Whether `git_dir` is a repository's own git folder in the layout `git init` makes, with
/// nothing that sends git elsewhere (a `HEAD` file, `objects/` and `refs/` folders, no
/// `commondir` of a linked work tree), and whether it and the folder holding it belong to
/// the user lvm runs as. A repository of another user is left to libgit2, which refuses it
/// unless git's `safe.directory` names it, as git does.
pub(super) fn is_plain_git_dir(git_dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let owned = |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.is_dir() && m.uid() == me);
    owned(git_dir)
        && git_dir.parent().is_some_and(owned)
        && git_dir.join("HEAD").is_file()
        && git_dir.join("objects").is_dir()
        && git_dir.join("refs").is_dir()
        && !git_dir.join("commondir").exists()
}

/// What `git_dir/HEAD` points at, when it is in one of its two plain forms.
pub(super) fn head(git_dir: &Path) -> Option<Head> {
    parse_head(&read_small(&git_dir.join("HEAD"))?)
}

/// The commit the loose ref `name` (`refs/heads/NAME`, already checked to be a valid ref
/// name) holds in `common_dir`, when it is a loose file holding a commit id.
pub(super) fn loose(common_dir: &Path, name: &str) -> Option<Oid> {
    parse_oid_line(&read_small(&common_dir.join(name))?)
}

fn read_small(path: &Path) -> Option<String> {
    let bytes = crate::fsutil::read_bounded(path, MAX_REF_BYTES).ok()??;
    String::from_utf8(bytes).ok()
}

fn parse_head(text: &str) -> Option<Head> {
    if let Some(target) = text.strip_prefix("ref: ") {
        let target = target.strip_suffix('\n').unwrap_or(target);
        // Only the form git writes; spaces, a `\r` or other control characters (which git
        // trims or refuses) are left to libgit2.
        let plain =
            !target.is_empty() && !target.chars().any(|c| c.is_whitespace() || c.is_control());
        return plain.then(|| Head::Branch(target.to_string()));
    }
    parse_oid_line(text).map(|_| Head::Detached)
}

/// A SHA-1 id in lowercase hex, alone on its line, as git writes a loose ref.
fn parse_oid_line(text: &str) -> Option<Oid> {
    let hex = text.strip_suffix('\n').unwrap_or(text);
    let plain = hex.len() == 40 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    plain.then(|| Oid::from_str(hex).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3e302460b3e1b9fe73a0f1c54c504779ecf78a84";

    #[test]
    fn plain_heads_are_read_and_anything_else_is_left_to_git() {
        assert_eq!(
            parse_head("ref: refs/heads/dev\n"),
            Some(Head::Branch("refs/heads/dev".into()))
        );
        assert_eq!(
            parse_head("ref: refs/heads/dev"),
            Some(Head::Branch("refs/heads/dev".into()))
        );
        assert_eq!(parse_head(&format!("{ID}\n")), Some(Head::Detached));
        for odd in [
            "",
            "ref: \n",
            "ref: a\nb\n",
            "refs/heads/dev\n",
            "0123\n",
            "ref: refs/heads/dev\r\n",
            "ref: refs/heads/dev \n",
            "ref: refs/heads/d\tev\n",
        ] {
            assert_eq!(parse_head(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn a_loose_ref_is_one_sha1_id_on_its_line() {
        let id = Oid::from_str(ID).unwrap();
        assert_eq!(parse_oid_line(&format!("{ID}\n")), Some(id));
        assert_eq!(parse_oid_line(ID), Some(id));
        let sha256 = format!("{ID}{}", &ID[..24]);
        for odd in [
            "ref: refs/heads/x\n".to_string(),
            format!("{}\n", ID.to_uppercase()),
            format!("{ID}\n\n"),
            format!("{ID} \n"),
            sha256,
            String::new(),
        ] {
            assert_eq!(parse_oid_line(&odd), None, "{odd:?}");
        }
    }

    #[test]
    fn files_git_wrote_are_read_and_missing_ones_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let git_dir = repo.path();
        assert!(is_plain_git_dir(git_dir));
        assert_eq!(
            head(git_dir),
            Some(Head::Branch("refs/heads/master".into()))
        );
        assert_eq!(loose(git_dir, "refs/heads/master"), None);
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let who = git2::Signature::now("t", "t@example.org").unwrap();
        let commit = repo
            .commit(Some("HEAD"), &who, &who, "c", &tree, &[])
            .unwrap();
        assert_eq!(loose(git_dir, "refs/heads/master"), Some(commit));
        repo.set_head_detached(commit).unwrap();
        assert_eq!(head(git_dir), Some(Head::Detached));
        std::fs::write(git_dir.join("commondir"), "..\n").unwrap();
        assert!(!is_plain_git_dir(git_dir));
        assert!(!is_plain_git_dir(dir.path()));
    }
}
