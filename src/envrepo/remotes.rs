//! Remotes of an environment's repository: names, URLs and transports, fetching,
//! pushing profiles, cloning, and how a local profile relates to its remote copy.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{AutotagOption, FetchOptions, Oid, PushOptions, RemoteCallbacks, Repository};
use thiserror::Error;

use super::{EnvRepo, Place};

/// The remote a clone fetches from.
pub const ORIGIN: &str = "origin";

#[derive(Debug, Error)]
pub enum SharingError {
    #[error("{action}: {cause}")]
    Git { action: String, cause: git2::Error },
    #[error(
        "remote name '{name}': use letters, digits, '-', '_' and '.', not starting with '.' or '-' (e.g. `lvm remote add origin URL`)"
    )]
    InvalidRemoteName { name: String },
    #[error(
        "remote '{name}' already exists ({url}); remove it first with `lvm remote remove {name}`"
    )]
    RemoteExists { name: String, url: String },
    #[error("no remote named '{name}' (known: {known}); add it with `lvm remote add {name} URL`")]
    UnknownRemote { name: String, known: String },
    #[error("this environment has no remote; add one with `lvm remote add origin URL`")]
    NoRemote,
    #[error(
        "this environment has several remotes ({known}) and none is called 'origin'; name the one to use, e.g. `lvm {command} {first}`"
    )]
    AmbiguousRemote {
        known: String,
        command: &'static str,
        first: String,
    },
    #[error(
        "'{url}': unsupported repository URL; use a path, file://, ssh:// (or user@host:path), https://, http:// or git://"
    )]
    UnsupportedUrl { url: String },
    #[error(
        "'{url}' is not a valid URL ({reason}); use a path, file://, ssh:// (or user@host:path), https://, http:// or git://"
    )]
    InvalidUrl { url: String, reason: String },
    #[error("{action} {url}: {message}{hint}")]
    Transfer {
        action: &'static str,
        url: String,
        message: String,
        hint: &'static str,
    },
    #[error(
        "remote '{remote}' has no profile '{profile}'; push it from an environment that has it with `lvm push {remote} --profile {profile}`"
    )]
    RemoteLacksProfile { remote: String, profile: String },
    #[error(
        "profile '{profile}' and its copy on '{remote}' have diverged ({ahead} local and {behind} remote events since they split); nothing was changed here except that the remote's state is now profile '{copy}': merge it with `lvm profile merge {copy}`, then share the result with `lvm push {remote}`"
    )]
    Diverged {
        profile: String,
        remote: String,
        ahead: usize,
        behind: usize,
        copy: String,
    },
    #[error(
        "profile '{profile}' on '{remote}' has {behind} event(s) this environment lacks; run `lvm pull {remote}` first (and `lvm profile merge` if it reports divergence), then push again"
    )]
    PushBehind {
        profile: String,
        remote: String,
        behind: usize,
    },
    #[error("'{remote}' refused the update of {reference}: {message}")]
    PushRejected {
        remote: String,
        reference: String,
        message: String,
    },
    #[error("copying the remote's tags")]
    Tags(#[source] Box<super::RepoError>),
    /// The environment's own repository could not be opened.
    #[error(transparent)]
    Repo(Box<super::RepoError>),
    #[error("no profile '{name}' to push (see `lvm profile list`)")]
    UnknownProfile { name: String },
    #[error("{path} already exists and is not empty; clone into a new or empty folder")]
    DestinationNotEmpty { path: String },
    #[error(
        "{url} holds no profiles (no branches); push an environment to it first with `lvm push`"
    )]
    EmptyRemote { url: String },
    #[error("{url} is not a usable lvm environment: {reason}; nothing was cloned")]
    NotAnEnvironment { url: String, reason: String },
    #[error(
        "refusing to use commit {commit} of profile '{profile}': {reason}; fix it with git (e.g. `git revert` or `git reset --hard HEAD~1` in {root}), then run `lvm sync`"
    )]
    BadHead {
        commit: String,
        profile: String,
        root: String,
        reason: String,
    },
    #[error(
        "commit {commit} has no lvm event and lvm events follow it, so the log cannot replay; return to the last commit before it with `git reset --hard {commit}~1` and redo the later changes, or keep going without `lvm verify`"
    )]
    BuriedHandCommit { commit: String },
}

impl SharingError {
    /// A failed transfer is the network; diverged or refused histories a conflict; a bad head
    /// commit damage; a wrong name, URL or destination bad input.
    pub fn kind(&self) -> crate::errors::ErrorKind {
        use crate::errors::ErrorKind;
        match self {
            SharingError::Transfer { .. } => ErrorKind::Network,
            SharingError::Diverged { .. }
            | SharingError::PushBehind { .. }
            | SharingError::PushRejected { .. }
            | SharingError::RemoteExists { .. }
            | SharingError::BuriedHandCommit { .. } => ErrorKind::Conflict,
            SharingError::BadHead { .. } => ErrorKind::Damaged,
            SharingError::Tags(e) | SharingError::Repo(e) => e.kind(),
            SharingError::Git { .. } => ErrorKind::Other,
            SharingError::InvalidRemoteName { .. }
            | SharingError::UnknownRemote { .. }
            | SharingError::NoRemote
            | SharingError::AmbiguousRemote { .. }
            | SharingError::UnsupportedUrl { .. }
            | SharingError::InvalidUrl { .. }
            | SharingError::RemoteLacksProfile { .. }
            | SharingError::UnknownProfile { .. }
            | SharingError::DestinationNotEmpty { .. }
            | SharingError::EmptyRemote { .. }
            | SharingError::NotAnEnvironment { .. } => ErrorKind::BadInput,
        }
    }
}

/// How a remote URL is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A path or `file://` URL.
    Local,
    /// `ssh://` or scp-like `user@host:path`.
    Ssh,
    /// `https://` or `http://`.
    Http,
    /// `git://`.
    Git,
}

/// Classifies a repository URL. Pure.
pub fn transport(url: &str) -> Result<Transport, SharingError> {
    let unsupported = || SharingError::UnsupportedUrl { url: url.into() };
    if url.trim().is_empty() {
        return Err(unsupported());
    }
    if url.contains("://") {
        // A URL: parsed as one, so its scheme is compared as URLs define it (without regard to
        // case) and one that cannot work (no host, a port that is not a number) is refused
        // when it is given rather than when git first tries it.
        let parsed = url::Url::parse(url).map_err(|e| SharingError::InvalidUrl {
            url: url.into(),
            reason: e.to_string(),
        })?;
        return match parsed.scheme() {
            "file" => Ok(Transport::Local),
            "ssh" | "git+ssh" | "ssh+git" => Ok(Transport::Ssh),
            "https" | "http" => Ok(Transport::Http),
            "git" => Ok(Transport::Git),
            _ => Err(unsupported()),
        };
    }
    // Not a URL: git's scp-like `[user@]host:path` or a path, which the url crate cannot tell
    // apart from a URL with an unknown scheme (`host:path` parses as scheme `host`).
    // scp-like syntax: `[user@]host:path`, where the part before ':' has no '/'.
    if let Some((host, _)) = url.split_once(':') {
        if !host.is_empty() && !host.contains('/') && !url.starts_with(['/', '.']) {
            return Ok(Transport::Ssh);
        }
    }
    Ok(Transport::Local)
}

/// Makes a plain path absolute, so the remote works from any directory; URLs are kept as given.
pub fn normalize_url(url: &str) -> Result<String, SharingError> {
    let url = url.trim();
    if transport(url)? == Transport::Local && !url.contains("://") {
        let path = Path::new(url);
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|cwd| cwd.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        });
        return Ok(absolute.display().to_string());
    }
    Ok(url.to_string())
}

/// Remote names double as ref path components (`refs/remotes/NAME/...`) and profile prefixes.
pub fn check_remote_name(name: &str) -> Result<(), SharingError> {
    let ok = super::is_plain_ref_name(name) && git2::Remote::is_valid_name(name);
    if ok {
        Ok(())
    } else {
        Err(SharingError::InvalidRemoteName { name: name.into() })
    }
}

/// The local profile that holds a remote profile's state when the two have diverged.
pub fn remote_copy_profile(remote: &str, profile: &str) -> String {
    format!("{remote}/{profile}")
}

/// One configured remote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteInfo {
    pub name: String,
    pub url: String,
}

fn git_error(action: String, cause: git2::Error) -> SharingError {
    SharingError::Git { action, cause }
}

/// Adds a remote.
fn remote_add(repo: &Repository, name: &str, url: &str) -> Result<RemoteInfo, SharingError> {
    check_remote_name(name)?;
    if let Ok(existing) = repo.find_remote(name) {
        return Err(SharingError::RemoteExists {
            name: name.into(),
            url: existing.url().unwrap_or("").into(),
        });
    }
    let url = normalize_url(url)?;
    repo.remote(name, &url)
        .map_err(|cause| git_error(format!("adding remote '{name}' ({url})"), cause))?;
    Ok(RemoteInfo {
        name: name.into(),
        url,
    })
}

/// The configured remotes, sorted by name.
fn remote_list(repo: &Repository) -> Result<Vec<RemoteInfo>, SharingError> {
    let names = repo
        .remotes()
        .map_err(|cause| git_error("reading the remotes".into(), cause))?;
    let mut out = Vec::new();
    for name in names.iter().flatten().flatten() {
        let remote = repo
            .find_remote(name)
            .map_err(|cause| git_error(format!("reading remote '{name}'"), cause))?;
        out.push(RemoteInfo {
            name: name.to_string(),
            url: remote.url().unwrap_or("").to_string(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes a remote (and its remote-tracking refs).
fn remote_remove(repo: &Repository, place: Place, name: &str) -> Result<(), SharingError> {
    let remote = find_remote(repo, name)?;
    drop(remote);
    repo.remote_delete(name)
        .map_err(|cause| git_error(format!("removing remote '{name}'"), cause))?;
    let removing = || format!("removing what was fetched from '{name}'");
    let mut namespaces = vec![place.remote_tags_prefix(name)];
    if place == Place::Project {
        namespaces.push(place.remote_profiles_prefix(name));
    }
    for namespace in namespaces {
        for reference in repo
            .references_glob(&format!("{namespace}*"))
            .map_err(|cause| git_error(removing(), cause))?
        {
            reference
                .and_then(|mut r| r.delete())
                .map_err(|cause| git_error(removing(), cause))?;
        }
    }
    Ok(())
}

fn find_remote<'r>(repo: &'r Repository, name: &str) -> Result<git2::Remote<'r>, SharingError> {
    repo.find_remote(name).map_err(|_| {
        let known = remote_list(repo)
            .map(|l| l.into_iter().map(|r| r.name).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        SharingError::UnknownRemote {
            name: name.into(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known
            },
        }
    })
}

/// The remote a command uses when none is named: `origin`, else the only one. Pure.
pub fn pick_remote(
    given: Option<&str>,
    known: &[String],
    command: &'static str,
) -> Result<String, SharingError> {
    if let Some(name) = given {
        return Ok(name.to_string());
    }
    match known {
        [] => Err(SharingError::NoRemote),
        [only] => Ok(only.clone()),
        _ if known.iter().any(|k| k == ORIGIN) => Ok(ORIGIN.into()),
        _ => Err(SharingError::AmbiguousRemote {
            known: known.join(", "),
            command,
            first: known[0].clone(),
        }),
    }
}

fn resolve_remote(
    repo: &Repository,
    given: Option<&str>,
    command: &'static str,
) -> Result<String, SharingError> {
    let known: Vec<String> = remote_list(repo)?.into_iter().map(|r| r.name).collect();
    let name = pick_remote(given, &known, command)?;
    find_remote(repo, &name)?;
    Ok(name)
}

fn transfer_error(action: &'static str, url: &str, e: &git2::Error) -> SharingError {
    // libgit2 calls a local path that does not exist an "unsupported URL protocol".
    if transport(url).is_ok_and(|t| t == Transport::Local) {
        let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
        if !path.exists() {
            return SharingError::Transfer {
                action,
                url: url.into(),
                message: "no repository there (the folder does not exist)".into(),
                hint: " (check the path; a shared environment is a bare git repository: create one with `git init --bare PATH`, then `lvm push`)",
            };
        }
    }
    let hint = match (e.class(), transport(url)) {
        (git2::ErrorClass::Ssh, _) | (_, Ok(Transport::Ssh)) => {
            " (for ssh, load your key into ssh-agent with `ssh-add` and check the host is in ~/.ssh/known_hosts)"
        }
        (git2::ErrorClass::Http, _) | (_, Ok(Transport::Http)) => {
            " (for http(s), the server must speak git's smart protocol; if it needs a login, put the credentials in the URL: https://user:token@host/repo.git)"
        }
        (_, Ok(Transport::Git)) => " (is `git daemon` serving that path with --export-all?)",
        _ => "",
    };
    SharingError::Transfer {
        action,
        url: url.into(),
        message: e.message().to_string(),
        hint,
    }
}

/// Fetches every profile of `remote` into `refs/remotes/<remote>/*` (lvm's remote copies in a
/// project, see [`Place`]); returns the remote's default branch when it advertises one.
fn fetch_all(
    repo: &Repository,
    place: Place,
    remote_name: &str,
) -> Result<Option<String>, SharingError> {
    let mut remote = find_remote(repo, remote_name)?;
    let url = remote.url().unwrap_or("").to_string();
    crate::fetch::git::ensure_transports()
        .map_err(|e| transfer_error("fetching from", &url, &e))?;
    let mut opts = FetchOptions::new();
    opts.download_tags(AutotagOption::None);
    opts.prune(git2::FetchPrune::On);
    let refspec = format!(
        "+{}*:{}*",
        place.profiles_prefix(),
        place.remote_profiles_prefix(remote_name)
    );
    // The remote's tags go beside its profiles, not over the local tags (see `tags`).
    let tags = format!(
        "+{}*:{}*",
        place.tags_prefix(),
        place.remote_tags_prefix(remote_name)
    );
    remote
        .fetch(
            &[refspec.as_str(), tags.as_str()],
            Some(&mut opts),
            Some("lvm fetch"),
        )
        .map_err(|e| transfer_error("fetching from", &url, &e))?;
    let default = remote.default_branch().ok().and_then(|b| {
        b.as_str()
            .ok()
            .map(|s| s.trim_start_matches("refs/heads/").to_string())
    });
    Ok(default)
}

fn tracking_head(repo: &Repository, place: Place, remote: &str, profile: &str) -> Option<Oid> {
    repo.find_reference(&format!(
        "{}{profile}",
        place.remote_profiles_prefix(remote)
    ))
    .ok()
    .and_then(|r| r.target())
}

/// Where a local profile stands relative to its copy on a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Same,
    /// The remote has `n` events more; a fast-forward takes them.
    Behind(usize),
    /// The local profile has `n` events more.
    Ahead(usize),
    /// Both have events the other lacks.
    Diverged {
        ahead: usize,
        behind: usize,
    },
}

/// Relates a local commit to a remote one by ancestry. Pure over the repository's graph.
fn relation(repo: &Repository, local: Oid, remote: Oid) -> Result<Relation, SharingError> {
    if local == remote {
        return Ok(Relation::Same);
    }
    let (ahead, behind) = repo
        .graph_ahead_behind(local, remote)
        .map_err(|cause| git_error("comparing a profile with its remote copy".into(), cause))?;
    Ok(match (ahead, behind) {
        (0, b) => Relation::Behind(b),
        (a, 0) => Relation::Ahead(a),
        (a, b) => Relation::Diverged {
            ahead: a,
            behind: b,
        },
    })
}

impl EnvRepo {
    /// [`EnvRepo::git`] for the sharing operations.
    fn shared_git(&self) -> Result<&Repository, SharingError> {
        self.git().map_err(|e| SharingError::Repo(Box::new(e)))
    }

    /// Adds a remote (its name checked, a path made absolute).
    pub fn remote_add(&self, name: &str, url: &str) -> Result<RemoteInfo, SharingError> {
        remote_add(self.shared_git()?, name, url)
    }

    /// The configured remotes, sorted by name.
    pub fn remote_list(&self) -> Result<Vec<RemoteInfo>, SharingError> {
        remote_list(self.shared_git()?)
    }

    /// Removes a remote and what was fetched from it.
    pub fn remote_remove(&self, name: &str) -> Result<(), SharingError> {
        remote_remove(self.shared_git()?, self.place, name)
    }

    /// The remote a command uses: the one named, else `origin`, else the only one.
    pub fn resolve_remote(
        &self,
        given: Option<&str>,
        command: &'static str,
    ) -> Result<String, SharingError> {
        resolve_remote(self.shared_git()?, given, command)
    }

    /// Fetches every profile of `remote` into `refs/remotes/<remote>/*`; returns the remote's
    /// default branch when it advertises one.
    pub fn fetch_remote(&self, remote: &str) -> Result<Option<String>, SharingError> {
        fetch_all(self.shared_git()?, self.place, remote)
    }

    /// Where `profile` stood on `remote` at the last fetch.
    pub fn tracking_head(&self, remote: &str, profile: &str) -> Option<Oid> {
        tracking_head(self.git().ok()?, self.place, remote, profile)
    }

    /// Relates a local commit to a remote one by ancestry.
    pub fn relation(&self, local: Oid, remote: Oid) -> Result<Relation, SharingError> {
        relation(self.shared_git()?, local, remote)
    }

    /// Pushes the branches of `profiles` and the tags `tags` to `remote`. An update the remote
    /// refuses (a tag it has at another commit) is an error naming the reference and the
    /// remote's reason.
    pub fn push_profiles(
        &self,
        remote_name: &str,
        profiles: &[String],
        tags: &[String],
    ) -> Result<(), SharingError> {
        let mut remote = find_remote(self.shared_git()?, remote_name)?;
        let url = remote.url().unwrap_or("").to_string();
        crate::fetch::git::ensure_transports()
            .map_err(|e| transfer_error("pushing to", &url, &e))?;
        let rejections = std::cell::RefCell::new(Vec::new());
        {
            let mut cb = RemoteCallbacks::new();
            cb.push_update_reference(|reference, status| {
                if let Some(message) = status {
                    rejections
                        .borrow_mut()
                        .push((reference.to_string(), message.to_string()));
                }
                Ok(())
            });
            let mut opts = PushOptions::new();
            opts.remote_callbacks(cb);
            let refspecs: Vec<String> = profiles
                .iter()
                .map(|p| self.place.profile_ref(p))
                .chain(
                    tags.iter()
                        .map(|t| format!("{}{t}", self.place.tags_prefix())),
                )
                .map(|name| format!("{name}:{name}"))
                .collect();
            remote
                .push(&refspecs, Some(&mut opts))
                .map_err(|e| transfer_error("pushing to", &url, &e))?;
        }
        match rejections.into_inner().into_iter().next() {
            Some((reference, message)) => Err(SharingError::PushRejected {
                remote: remote_name.to_string(),
                reference,
                message,
            }),
            None => Ok(()),
        }
    }
}

/// Makes a new repository at `path` from the one at `url`: every remote profile becomes a
/// local profile tracking it, and the current profile is the remote's default (else
/// `default`, else the first).
pub fn clone_repository(url: &str, path: &Path) -> Result<(), SharingError> {
    let git = |action: String| move |cause| git_error(action, cause);
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head(super::DEFAULT_PROFILE);
    let repo = Repository::init_opts(path, &opts).map_err(git(format!(
        "creating a git repository in {}",
        path.display()
    )))?;
    repo.remote(ORIGIN, url)
        .map_err(git(format!("adding remote '{ORIGIN}' ({url})")))?;
    let advertised = fetch_all(&repo, Place::Standalone, ORIGIN)?;
    let mut profiles: BTreeMap<String, Oid> = BTreeMap::new();
    let reading = || format!("reading the profiles fetched from {url}");
    for reference in repo
        .references_glob(&format!("refs/remotes/{ORIGIN}/*"))
        .map_err(git(reading()))?
    {
        let reference = reference.map_err(git(reading()))?;
        let (Ok(name), Some(target)) = (reference.name(), reference.target()) else {
            continue;
        };
        let profile = name.trim_start_matches(&format!("refs/remotes/{ORIGIN}/"));
        if profile != "HEAD" {
            profiles.insert(profile.to_string(), target);
        }
    }
    if profiles.is_empty() {
        return Err(SharingError::EmptyRemote { url: url.into() });
    }
    for (profile, target) in &profiles {
        let making = || format!("making profile '{profile}'");
        let commit = repo.find_commit(*target).map_err(git(making()))?;
        let mut branch = repo.branch(profile, &commit, true).map_err(git(making()))?;
        branch
            .set_upstream(Some(&format!("{ORIGIN}/{profile}")))
            .map_err(git(making()))?;
    }
    // Adopting tags records no event, so nothing is signed here.
    let cloned = EnvRepo::assemble_opened(repo, path, Place::Standalone, false)
        .map_err(|e| SharingError::Tags(Box::new(e)))?;
    cloned
        .adopt_remote_tags(ORIGIN)
        .map_err(|e| SharingError::Tags(Box::new(e)))?;
    let repo = cloned.shared_git()?;
    let current = initial_profile(advertised.as_deref(), &profiles);
    repo.set_head(&format!("refs/heads/{current}"))
        .map_err(git(format!("making '{current}' the current profile")))?;
    Ok(())
}

/// The profile a clone starts on. Pure.
fn initial_profile(advertised: Option<&str>, profiles: &BTreeMap<String, Oid>) -> String {
    advertised
        .filter(|a| profiles.contains_key(*a))
        .or_else(|| {
            profiles
                .contains_key(super::DEFAULT_PROFILE)
                .then_some(super::DEFAULT_PROFILE)
        })
        .or_else(|| profiles.keys().next().map(String::as_str))
        .unwrap_or(super::DEFAULT_PROFILE)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_urls() {
        assert_eq!(transport("/srv/env.git").unwrap(), Transport::Local);
        assert_eq!(transport("./env.git").unwrap(), Transport::Local);
        assert_eq!(transport("file:///srv/env.git").unwrap(), Transport::Local);
        assert_eq!(transport("git@host:team/env.git").unwrap(), Transport::Ssh);
        assert_eq!(transport("ssh://host/env.git").unwrap(), Transport::Ssh);
        assert_eq!(transport("https://host/env.git").unwrap(), Transport::Http);
        assert_eq!(
            transport("git://127.0.0.1:9418/env").unwrap(),
            Transport::Git
        );
        assert!(matches!(
            transport("ftp://host/env"),
            Err(SharingError::UnsupportedUrl { .. })
        ));
        assert!(transport("  ").is_err());
    }

    #[test]
    fn urls_are_read_as_urls_and_the_rest_as_scp_like_or_paths() {
        assert_eq!(transport("HTTPS://Host/env.git").unwrap(), Transport::Http);
        assert_eq!(
            transport("git+ssh://git@host/env.git").unwrap(),
            Transport::Ssh
        );
        assert_eq!(
            transport("ssh://[::1]:2222/env.git").unwrap(),
            Transport::Ssh
        );
        assert_eq!(transport("host:env.git").unwrap(), Transport::Ssh);
        assert_eq!(transport("user@host:/abs/env.git").unwrap(), Transport::Ssh);
        assert_eq!(transport("dir/with:colon").unwrap(), Transport::Local);
        assert_eq!(transport("../env.git").unwrap(), Transport::Local);
        for bad in ["https://", "https://host:port/env.git", "http://ho st/env"] {
            let err = transport(bad).unwrap_err();
            assert!(
                matches!(err, SharingError::InvalidUrl { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("is not a valid URL"), "{err}");
        }
    }

    #[test]
    fn paths_become_absolute_and_urls_stay_as_given() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            normalize_url("no-such-dir/env.git").unwrap(),
            cwd.join("no-such-dir/env.git").display().to_string()
        );
        for url in [
            "https://Host/env.git",
            "git@host:team/env.git",
            "file:///srv/env.git",
        ] {
            assert_eq!(normalize_url(&format!(" {url} ")).unwrap(), url);
        }
        assert!(normalize_url("https://").is_err());
    }

    #[test]
    fn remote_names_are_plain() {
        assert!(check_remote_name("origin").is_ok());
        assert!(check_remote_name("team-2.backup").is_ok());
        for bad in ["", "a/b", "-x", ".x", "a b", "x.lock"] {
            assert!(check_remote_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn picks_origin_or_the_only_remote() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(pick_remote(None, &names(&["a"]), "push").unwrap(), "a");
        assert_eq!(
            pick_remote(None, &names(&["a", "origin"]), "push").unwrap(),
            "origin"
        );
        assert_eq!(pick_remote(Some("b"), &names(&["a"]), "push").unwrap(), "b");
        assert!(matches!(
            pick_remote(None, &[], "push"),
            Err(SharingError::NoRemote)
        ));
        let err = pick_remote(None, &names(&["a", "b"]), "pull").unwrap_err();
        assert!(err.to_string().contains("`lvm pull a`"), "{err}");
    }

    #[test]
    fn relation_follows_ancestry() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@localhost").unwrap();
        let tree = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let mk = |parents: &[Oid], msg: &str| {
            let ps: Vec<git2::Commit> = parents
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<&git2::Commit> = ps.iter().collect();
            repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
        };
        let a = mk(&[], "a");
        let b = mk(&[a], "b");
        let c = mk(&[b], "c");
        let d = mk(&[a], "d");
        assert_eq!(relation(&repo, a, a).unwrap(), Relation::Same);
        assert_eq!(relation(&repo, a, c).unwrap(), Relation::Behind(2));
        assert_eq!(relation(&repo, c, a).unwrap(), Relation::Ahead(2));
        assert_eq!(
            relation(&repo, c, d).unwrap(),
            Relation::Diverged {
                ahead: 2,
                behind: 1
            }
        );
    }

    #[test]
    fn initial_profile_prefers_the_advertised_one() {
        let mut p = BTreeMap::new();
        p.insert("ci".to_string(), Oid::ZERO_SHA1);
        p.insert("default".to_string(), Oid::ZERO_SHA1);
        assert_eq!(initial_profile(Some("ci"), &p), "ci");
        assert_eq!(initial_profile(Some("master"), &p), "default");
        p.remove("default");
        assert_eq!(initial_profile(None, &p), "ci");
    }
}
