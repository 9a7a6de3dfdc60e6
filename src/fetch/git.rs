//! Git sources: recognizing git URLs, parsing the `URL@ref` specs typed on the command line,
//! and cloning a repository at a tag, branch, commit or the default branch (with submodules),
//! reporting the exact commit checked out.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{Oid, Repository};

use super::FetchError;
use super::download::file_url_path;

/// A git source as typed by a user: where to clone from and, optionally, what to check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSpec {
    /// A `git+…` or `git://` URL.
    pub url: String,
    /// A tag, branch or commit id; `None` means the default branch.
    pub reference: Option<String>,
}

/// What to check out after cloning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitRef<'a> {
    /// The remote's default branch.
    Default,
    /// A tag, else a branch, else a commit id, with that name (rockspec `source.tag`,
    /// `source.branch`, or a user's `@ref`).
    Named(&'a str),
    /// Exactly this commit (for reproducible rebuilds).
    Commit(&'a str),
}

/// Whether `url` names a git source the way rockspecs do (`git://`, `git+https://`,
/// `git+http://`, `git+ssh://`, `git+file://`).
pub fn is_git_url(url: &str) -> bool {
    url.starts_with("git://") || url.starts_with("git+")
}

/// Parses a git source spec: `git+https://host/repo.git@v1.2`, `git+file:///path/repo@main`,
/// `https://host/repo.git@v1` (a `.git` URL without the `git+` prefix), or a local path to a
/// repository (`../repo@main`). The reference follows the last `@` in the path part, so
/// `user@host` in an ssh URL is not mistaken for one.
pub fn parse_git_spec(spec: &str) -> Result<GitSpec, FetchError> {
    let invalid = |reason: &str| FetchError::InvalidGitSpec {
        spec: spec.to_string(),
        reason: reason.to_string(),
    };
    let spec_trimmed = spec.trim();
    if spec_trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let (location, path_start) = match spec_trimmed.find("://") {
        Some(i) => {
            let after_scheme = i + 3;
            let path_start = spec_trimmed[after_scheme..]
                .find('/')
                .map_or(spec_trimmed.len(), |p| after_scheme + p);
            (spec_trimmed, path_start)
        }
        None => (spec_trimmed, 0),
    };
    let (base, reference) = match location[path_start..].rfind('@') {
        Some(at) => {
            let at = path_start + at;
            let reference = &location[at + 1..];
            if reference.is_empty() {
                return Err(invalid(
                    "nothing follows `@`; write a tag, branch or commit after it, or drop the `@`",
                ));
            }
            (&location[..at], Some(reference.to_string()))
        }
        None => (location, None),
    };
    if base.is_empty() || base.ends_with("://") {
        return Err(invalid("it has no repository location"));
    }
    let url = if is_git_url(base) {
        base.to_string()
    } else if let Some(scheme_end) = base.find("://") {
        let scheme = &base[..scheme_end];
        if !matches!(scheme, "http" | "https" | "ssh" | "file") || !base.ends_with(".git") {
            return Err(invalid(
                "it is not a git URL; write it as git+https://host/repo.git (or git://, git+ssh://, git+file://)",
            ));
        }
        format!("git+{base}")
    } else {
        format!("git+file://{base}")
    };
    Ok(GitSpec { url, reference })
}

/// What git itself is given for `url`: the `git+` prefix dropped, and `file://` turned into a
/// plain path (which also covers LuaRocks' relative `file://dir` form).
pub fn clone_location(url: &str) -> String {
    let bare = url.strip_prefix("git+").unwrap_or(url);
    match file_url_path(bare) {
        Some(path) => path.to_string_lossy().into_owned(),
        None => bare.to_string(),
    }
}

/// The directory name LuaRocks clones into: the URL's last segment without `.git`.
pub fn repo_dir_name(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or("");
    let name = last.strip_suffix(".git").unwrap_or(last);
    if name.is_empty() || name == "." || name == ".." {
        "source".to_string()
    } else {
        name.to_string()
    }
}

/// Registers lvm's own git transports with libgit2, once per process: git's smart HTTP
/// protocol for `http`/`https` ([`super::git_http`]) and the ssh program for the ssh schemes
/// ([`super::git_ssh`]). Every git operation that may reach a remote calls this first.
pub fn ensure_transports() -> Result<(), git2::Error> {
    type Make = fn(&git2::Remote<'_>) -> Result<git2::transport::Transport, git2::Error>;
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    let transports: [(&[&str], Make); 2] = [
        (&super::git_http::SCHEMES, super::git_http::transport),
        (&super::git_ssh::SCHEMES, super::git_ssh::transport),
    ];
    REGISTERED
        .get_or_init(|| {
            for (schemes, make) in transports {
                for &scheme in schemes {
                    // SAFETY: libgit2 keeps custom transports in a global list that transport
                    // lookups read without locking, and refuses a second registration of a
                    // scheme. The `OnceLock` runs this exactly once per process, and every git
                    // network operation in lvm calls `ensure_transports` before it starts, so
                    // any other thread about to look up a transport blocks in `get_or_init`
                    // until the list is complete; nothing ever unregisters.
                    unsafe { git2::transport::register(scheme, make) }.map_err(|e| {
                        format!(
                            "cannot register the {scheme}:// git transport: {}",
                            e.message()
                        )
                    })?;
                }
            }
            Ok(())
        })
        .clone()
        .map_err(|message| git2::Error::from_str(&message))
}

/// Clones `url` into `dest` (which must not exist yet or be empty), checks out `reference`,
/// initializes submodules, and removes the `.git` directory as LuaRocks does. Returns the
/// full id of the commit checked out.
pub fn fetch_git(url: &str, reference: GitRef<'_>, dest: &Path) -> Result<String, FetchError> {
    // Errors name the URL without any credentials in it.
    let shown = super::git_http::split_credentials(url).0;
    let git_error = |what: &str, e: git2::Error| FetchError::Git {
        url: shown.clone(),
        reason: format!("{what}: {}", e.message()),
    };
    let location = clone_location(url);
    ensure_transports().map_err(|e| git_error("clone failed", e))?;
    let repo = RepoBuilder::new()
        .clone(&location, dest)
        .map_err(|e| git_error("clone failed", e))?;
    let oid = resolve(&repo, reference).ok_or_else(|| FetchError::Git {
        url: shown.clone(),
        reason: match reference {
            GitRef::Default => "the repository has no default branch to check out; name a tag or branch".to_string(),
            GitRef::Named(name) => format!("no tag, branch or commit named `{name}`; check the spelling or the repository's tags"),
            GitRef::Commit(id) => format!("commit {id} is not in the repository (was the history rewritten?)"),
        },
    })?;
    let commit = repo
        .find_commit(oid)
        .map_err(|e| git_error("cannot read the commit", e))?;
    repo.checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().force()))
        .map_err(|e| git_error("checkout failed", e))?;
    repo.set_head_detached(oid)
        .map_err(|e| git_error("checkout failed", e))?;
    update_submodules(&repo).map_err(|e| git_error("submodule update failed", e))?;
    drop(commit);
    drop(repo);
    let git_dir = dest.join(".git");
    fs::remove_dir_all(&git_dir).map_err(|e| FetchError::io("cannot remove", &git_dir, e))?;
    Ok(oid.to_string())
}

fn resolve(repo: &Repository, reference: GitRef<'_>) -> Option<Oid> {
    let peel = |refname: &str| {
        repo.find_reference(refname)
            .ok()?
            .peel_to_commit()
            .ok()
            .map(|c| c.id())
    };
    let commit_id = |id: &str| {
        if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        repo.revparse_single(id)
            .ok()?
            .peel_to_commit()
            .ok()
            .map(|c| c.id())
    };
    match reference {
        GitRef::Default => repo.head().ok()?.peel_to_commit().ok().map(|c| c.id()),
        GitRef::Named(name) => peel(&format!("refs/tags/{name}"))
            .or_else(|| peel(&format!("refs/remotes/origin/{name}")))
            .or_else(|| commit_id(name)),
        GitRef::Commit(id) => commit_id(id),
    }
}

fn update_submodules(repo: &Repository) -> Result<(), git2::Error> {
    for mut submodule in repo.submodules()? {
        submodule.update(true, None)?;
        let inner = submodule.open()?;
        update_submodules(&inner)?;
    }
    Ok(())
}

/// Where a clone of `url` goes inside `work_dir`.
pub fn clone_dir(work_dir: &Path, url: &str) -> PathBuf {
    work_dir.join(repo_dir_name(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str, reference: Option<&str>) -> GitSpec {
        GitSpec {
            url: url.to_string(),
            reference: reference.map(str::to_string),
        }
    }

    #[test]
    fn parses_git_urls_with_and_without_refs() {
        assert_eq!(
            parse_git_spec("git+https://host/repo.git@v1.2").unwrap(),
            spec("git+https://host/repo.git", Some("v1.2"))
        );
        assert_eq!(
            parse_git_spec("git+file:///path/repo@main").unwrap(),
            spec("git+file:///path/repo", Some("main"))
        );
        assert_eq!(
            parse_git_spec("git://host/repo.git").unwrap(),
            spec("git://host/repo.git", None)
        );
        assert_eq!(
            parse_git_spec("git+ssh://git@host/org/repo.git").unwrap(),
            spec("git+ssh://git@host/org/repo.git", None)
        );
        assert_eq!(
            parse_git_spec("git+ssh://git@host/org/repo.git@feature/x").unwrap(),
            spec("git+ssh://git@host/org/repo.git", Some("feature/x"))
        );
    }

    #[test]
    fn plain_git_urls_and_paths_become_git_plus_urls() {
        assert_eq!(
            parse_git_spec("https://host/repo.git@v1").unwrap(),
            spec("git+https://host/repo.git", Some("v1"))
        );
        assert_eq!(
            parse_git_spec("/srv/repo@abc123").unwrap(),
            spec("git+file:///srv/repo", Some("abc123"))
        );
        assert_eq!(
            parse_git_spec("../repo").unwrap(),
            spec("git+file://../repo", None)
        );
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(parse_git_spec("").is_err());
        assert!(
            parse_git_spec("git+https://host/repo.git@")
                .unwrap_err()
                .to_string()
                .contains("`@`")
        );
        assert!(
            parse_git_spec("https://host/page")
                .unwrap_err()
                .to_string()
                .contains("git+https://")
        );
        assert!(parse_git_spec("ftp://host/repo.git").is_err());
        assert!(parse_git_spec("git+https://").is_err());
    }

    #[test]
    fn git_url_helpers() {
        assert!(is_git_url("git+https://h/r.git"));
        assert!(is_git_url("git://h/r.git"));
        assert!(!is_git_url("https://h/r.tar.gz"));
        assert_eq!(clone_location("git+https://h/r.git"), "https://h/r.git");
        assert_eq!(clone_location("git+file:///srv/r"), "/srv/r");
        assert_eq!(clone_location("git://h/r.git"), "git://h/r.git");
        assert_eq!(
            repo_dir_name("git+https://h/org/lua-cjson.git"),
            "lua-cjson"
        );
        assert_eq!(repo_dir_name("git+file:///srv/repo/"), "repo");
        assert_eq!(repo_dir_name("git+ssh://git@h:repo.git"), "repo");
    }
}
