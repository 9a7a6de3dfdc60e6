//! Sharing environments through git: remotes, push, pull, clone, and `lvm sync` after any git
//! change made outside lvm.
//!
//! An environment's repository is an ordinary git repository, so it travels over every transport
//! git speaks (paths and `file://`, `ssh://` and `user@host:path`, `git://`, and `https://` and
//! `http://` servers that speak git's smart protocol, through `fetch::git_http`). What arrives is only history; the rocks tree is then made from the head's `manifest.json`, rebuilding
//! into the local store whatever it lacks from the recorded sources (with their recorded hashes
//! and commits). Commits made by hand (`git commit`, `git merge`) carry no lvm event; `lvm sync`
//! closes them with a `sync` event so the log keeps replaying to `manifest.json`
//! (`docs/sharing.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use git2::{
    AutotagOption, Cred, CredentialType, FetchOptions, Oid, PushOptions, RemoteCallbacks,
    Repository,
};
use thiserror::Error;

use crate::config::EnvConfig;
use crate::env::{Environment, Home};
use crate::envrepo::{CONFIG_FILE, DEFAULT_PROFILE, MANIFEST_FILE, short};
use crate::events::{Event, EventError, EventKind};
use crate::manifest::{self, Change, Manifest};

/// The remote a clone fetches from.
pub const ORIGIN: &str = "origin";

#[derive(Debug, Error)]
pub enum SharingError {
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
    if let Some((scheme, _)) = url.split_once("://") {
        return match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(Transport::Local),
            "ssh" | "git+ssh" | "ssh+git" => Ok(Transport::Ssh),
            "https" | "http" => Ok(Transport::Http),
            "git" => Ok(Transport::Git),
            _ => Err(unsupported()),
        };
    }
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
    let ok = crate::profiles::is_plain_ref_name(name) && git2::Remote::is_valid_name(name);
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

/// Adds a remote.
pub fn remote_add(repo: &Repository, name: &str, url: &str) -> Result<RemoteInfo> {
    check_remote_name(name)?;
    if let Ok(existing) = repo.find_remote(name) {
        return Err(SharingError::RemoteExists {
            name: name.into(),
            url: existing.url().unwrap_or("").into(),
        }
        .into());
    }
    let url = normalize_url(url)?;
    repo.remote(name, &url)
        .with_context(|| format!("adding remote '{name}' ({url})"))?;
    Ok(RemoteInfo {
        name: name.into(),
        url,
    })
}

/// The configured remotes, sorted by name.
pub fn remote_list(repo: &Repository) -> Result<Vec<RemoteInfo>> {
    let names = repo.remotes().context("reading the remotes")?;
    let mut out = Vec::new();
    for name in names.iter().flatten().flatten() {
        let remote = repo.find_remote(name)?;
        out.push(RemoteInfo {
            name: name.to_string(),
            url: remote.url().unwrap_or("").to_string(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes a remote (and its remote-tracking refs).
pub fn remote_remove(repo: &Repository, name: &str) -> Result<()> {
    let remote = find_remote(repo, name)?;
    drop(remote);
    repo.remote_delete(name)
        .with_context(|| format!("removing remote '{name}'"))?;
    Ok(())
}

fn find_remote<'r>(repo: &'r Repository, name: &str) -> Result<git2::Remote<'r>> {
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
        .into()
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

fn resolve_remote(repo: &Repository, given: Option<&str>, command: &'static str) -> Result<String> {
    let known: Vec<String> = remote_list(repo)?.into_iter().map(|r| r.name).collect();
    let name = pick_remote(given, &known, command)?;
    find_remote(repo, &name)?;
    Ok(name)
}

/// Credentials for git2's ssh transport: ssh-agent, then unencrypted default keys, then git's
/// credential helpers. Each way is tried once, since libgit2 asks again after a refusal.
/// http(s) remotes take their credentials from the URL instead (`fetch::git_http`).
fn callbacks<'a>() -> RemoteCallbacks<'a> {
    let mut tried: Vec<&'static str> = Vec::new();
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |url, username, allowed| {
        let user = username.unwrap_or("git");
        if allowed.contains(CredentialType::USERNAME) && !tried.contains(&"username") {
            tried.push("username");
            return Cred::username(user);
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            if !tried.contains(&"agent") {
                tried.push("agent");
                return Cred::ssh_key_from_agent(user);
            }
            if !tried.contains(&"keyfile") {
                tried.push("keyfile");
                let home = std::env::var_os("HOME").map(PathBuf::from);
                let key = home.iter().flat_map(|h| {
                    ["id_ed25519", "id_ecdsa", "id_rsa"]
                        .map(|k| h.join(".ssh").join(k))
                        .into_iter()
                        .filter(|p| p.exists())
                });
                if let Some(key) = key.into_iter().next() {
                    return Cred::ssh_key(user, None, &key, None);
                }
            }
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) && !tried.contains(&"helper") {
            tried.push("helper");
            if let Ok(config) = git2::Config::open_default() {
                return Cred::credential_helper(&config, url, username);
            }
        }
        if allowed.contains(CredentialType::DEFAULT) && !tried.contains(&"default") {
            tried.push("default");
            return Cred::default();
        }
        Err(git2::Error::from_str("no credentials accepted"))
    });
    cb
}

fn transfer_error(action: &'static str, url: &str, e: &git2::Error) -> SharingError {
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

/// Fetches every profile of `remote` into `refs/remotes/<remote>/*`; returns the remote's
/// default branch when it advertises one.
fn fetch_all(repo: &Repository, remote_name: &str) -> Result<Option<String>> {
    let mut remote = find_remote(repo, remote_name)?;
    let url = remote.url().unwrap_or("").to_string();
    crate::fetch::git_http::ensure_registered()
        .map_err(|e| transfer_error("fetching from", &url, &e))?;
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks());
    opts.download_tags(AutotagOption::None);
    opts.prune(git2::FetchPrune::On);
    let refspec = format!("+refs/heads/*:refs/remotes/{remote_name}/*");
    remote
        .fetch(&[refspec.as_str()], Some(&mut opts), Some("lvm fetch"))
        .map_err(|e| transfer_error("fetching from", &url, &e))?;
    let default = remote.default_branch().ok().and_then(|b| {
        b.as_str()
            .ok()
            .map(|s| s.trim_start_matches("refs/heads/").to_string())
    });
    Ok(default)
}

fn tracking_head(repo: &Repository, remote: &str, profile: &str) -> Option<Oid> {
    repo.find_reference(&format!("refs/remotes/{remote}/{profile}"))
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
pub fn relation(repo: &Repository, local: Oid, remote: Oid) -> Result<Relation> {
    if local == remote {
        return Ok(Relation::Same);
    }
    let (ahead, behind) = repo.graph_ahead_behind(local, remote)?;
    Ok(match (ahead, behind) {
        (0, b) => Relation::Behind(b),
        (a, 0) => Relation::Ahead(a),
        (a, b) => Relation::Diverged {
            ahead: a,
            behind: b,
        },
    })
}

/// What to push.
#[derive(Debug, Clone)]
pub enum PushWhich {
    Current,
    Profile(String),
    /// Every profile except local copies of remote profiles (`origin/default`).
    All,
}

/// One profile's outcome of a push.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub profile: String,
    /// The remote's commit before (None: the profile is new there).
    pub from: Option<String>,
    pub to: String,
}

/// Pushes profiles to a remote. Refuses, before sending anything, when the remote has events
/// the local profile lacks (pull and merge first): pushes never overwrite history.
pub fn push(env: &Environment, remote: Option<&str>, which: &PushWhich) -> Result<Vec<Pushed>> {
    let repo = env.repo.git();
    let remote_name = resolve_remote(repo, remote, "push")?;
    let profiles = match which {
        PushWhich::Current => vec![env.profile()?],
        PushWhich::Profile(p) => {
            if !env.repo.profiles()?.contains(p) {
                return Err(SharingError::UnknownProfile { name: p.clone() }.into());
            }
            vec![p.clone()]
        }
        PushWhich::All => env
            .repo
            .profiles()?
            .into_iter()
            .filter(|p| !p.contains('/'))
            .collect(),
    };
    fetch_all(repo, &remote_name)?;
    let mut plan = Vec::new();
    for profile in &profiles {
        let local = env.repo.profile_head(profile)?;
        let theirs = tracking_head(repo, &remote_name, profile);
        match theirs.map(|t| relation(repo, local, t)).transpose()? {
            Some(Relation::Same) => {}
            Some(Relation::Behind(behind) | Relation::Diverged { behind, .. }) => {
                return Err(SharingError::PushBehind {
                    profile: profile.clone(),
                    remote: remote_name.clone(),
                    behind,
                }
                .into());
            }
            None | Some(Relation::Ahead(_)) => plan.push(Pushed {
                profile: profile.clone(),
                from: theirs.map(|t| t.to_string()),
                to: local.to_string(),
            }),
        }
    }
    if plan.is_empty() {
        return Ok(plan);
    }
    let mut remote = find_remote(repo, &remote_name)?;
    let url = remote.url().unwrap_or("").to_string();
    crate::fetch::git_http::ensure_registered()
        .map_err(|e| transfer_error("pushing to", &url, &e))?;
    let rejections = std::cell::RefCell::new(Vec::new());
    {
        let mut cb = callbacks();
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
        let refspecs: Vec<String> = plan
            .iter()
            .map(|p| format!("refs/heads/{0}:refs/heads/{0}", p.profile))
            .collect();
        remote
            .push(&refspecs, Some(&mut opts))
            .map_err(|e| transfer_error("pushing to", &url, &e))?;
    }
    if let Some((reference, message)) = rejections.into_inner().into_iter().next() {
        return Err(SharingError::PushRejected {
            remote: remote_name,
            reference,
            message,
        }
        .into());
    }
    Ok(plan)
}

/// What `lvm sync` did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub profile: String,
    pub packages: usize,
    /// The `sync` event recorded to close commits made outside lvm, with its changes.
    pub recorded: Option<(Oid, Vec<Change>)>,
    /// What verification found wrong after the sync (empty when all is well).
    pub problems: Vec<String>,
}

/// What `lvm pull` did.
#[derive(Debug, Clone)]
pub struct PullReport {
    pub remote: String,
    pub relation: Relation,
    /// The package changes the fast-forward brought.
    pub changes: Vec<Change>,
    pub sync: SyncReport,
}

/// Checks the head commit's `manifest.json` and `lvm.toml` before anything acts on them.
pub fn check_commit(env: &Environment, commit: Oid) -> Result<Manifest> {
    let bad = |reason: String| SharingError::BadHead {
        commit: short(commit),
        profile: env.profile().unwrap_or_default(),
        root: env.root.display().to_string(),
        reason,
    };
    let config = env
        .repo
        .read_file(commit, CONFIG_FILE)
        .map_err(|e| bad(e.to_string()))?;
    let config = EnvConfig::parse(
        &String::from_utf8_lossy(&config),
        &format!("{CONFIG_FILE} at {}", short(commit)),
    )
    .map_err(|e| bad(e.to_string()))?;
    let manifest = env
        .repo
        .manifest_at(commit)
        .map_err(|e| bad(format!("{e:#}")))?;
    if manifest.lua != config.lua {
        return Err(bad(format!(
            "{MANIFEST_FILE} is for Lua {} but {CONFIG_FILE} says {}",
            manifest.lua, config.lua
        ))
        .into());
    }
    Ok(manifest)
}

/// `lvm sync`: makes the tree exactly what the head's `manifest.json` says (building what the
/// store lacks from the recorded sources), closes commits made by hand with a `sync` event, and
/// verifies the result. A malformed or inconsistent head is refused before anything changes.
pub fn sync(env: &Environment, lock_timeout: Duration) -> Result<SyncReport> {
    check_commit(env, env.head()?)?;
    let _lock = crate::pipeline::sync(env, lock_timeout)?;
    finish_sync(env)
}

/// The part of a sync after the tree matches the head; the writer lock must be held.
fn finish_sync(env: &Environment) -> Result<SyncReport> {
    let recorded = close_hand_commits(env)?;
    let manifest = env.manifest()?;
    let problems = match crate::history::verify(env) {
        Ok(report) => report.problems,
        Err(e) => vec![format!("{e:#}")],
    };
    Ok(SyncReport {
        profile: env.profile()?,
        packages: manifest.packages.len(),
        recorded,
        problems,
    })
}

/// Whether a commit carries an lvm event; a malformed or too new event is an error, not a
/// hand-made commit.
fn has_event(repo: &Repository, commit: Oid) -> Result<bool> {
    let c = repo.find_commit(commit)?;
    let message = String::from_utf8_lossy(c.message_bytes()).into_owned();
    match Event::from_commit_message(&message, &commit.to_string()) {
        Ok(_) => Ok(true),
        Err(EventError::Missing { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The commits at the top of the first-parent chain that lack an lvm event (newest first) and
/// the newest commit below them that has one. Refuses when an event-less commit is buried
/// under lvm events, which no new commit on top can make replayable.
fn hand_commits(repo: &Repository, head: Oid) -> Result<(Vec<Oid>, Oid)> {
    let mut hand = Vec::new();
    let mut base = None;
    let mut current = Some(head);
    while let Some(oid) = current {
        let commit = repo.find_commit(oid)?;
        let evented = has_event(repo, oid)?;
        match (evented, base) {
            (false, None) => hand.push(oid),
            (true, None) => base = Some(oid),
            (false, Some(_)) => {
                return Err(SharingError::BuriedHandCommit { commit: short(oid) }.into());
            }
            (true, Some(_)) => {}
        }
        current = commit.parent_id(0).ok();
    }
    let base = base.ok_or_else(|| SharingError::NotAnEnvironment {
        url: repo.path().display().to_string(),
        reason: "no commit of the current profile carries an lvm event".into(),
    })?;
    Ok((hand, base))
}

/// Records a `sync` event on top of commits made by hand. Its first parent is the newest lvm
/// commit, so the first-parent log (what `lvm log` and the replay follow) holds only events, and
/// its changes take that commit's state to the hand-made head's; its second parent is the
/// hand-made head, so the ref moves forward and nothing is lost.
fn close_hand_commits(env: &Environment) -> Result<Option<(Oid, Vec<Change>)>> {
    let repo = env.repo.git();
    let head = env.head()?;
    let (hand, base) = hand_commits(repo, head)?;
    if hand.is_empty() {
        return Ok(None);
    }
    let before = env.repo.manifest_at(base)?;
    let after = env.repo.manifest_at(head)?;
    let changes = manifest::diff(&before, &after);
    let mut event = Event::new(EventKind::Sync, vec![], changes.clone());
    event.details.insert("base".into(), base.to_string());
    event.details.insert("hand_made".into(), head.to_string());
    event
        .details
        .insert("hand_commits".into(), hand.len().to_string());
    let tree = repo.find_commit(head)?.tree_id();
    let commit = env.repo.commit_object(tree, &[base, head], &event)?;
    let profile = env.profile()?;
    repo.reference_matching(
        &format!("refs/heads/{profile}"),
        commit,
        true,
        head,
        &event.summary(),
    )
    .map_err(|_| crate::envrepo::RepoError::Concurrent {
        profile: profile.clone(),
    })?;
    env.repo.sync_worktree(commit)?;
    Ok(Some((commit, changes)))
}

/// `lvm pull`: fetches the remote and fast-forwards the current profile when it can. When the
/// histories diverged, the remote's state goes into profile `<remote>/<profile>` and the pull
/// is refused with what to do. Then the tree is synced.
pub fn pull(env: &Environment, remote: Option<&str>, lock_timeout: Duration) -> Result<PullReport> {
    let repo = env.repo.git();
    let remote_name = resolve_remote(repo, remote, "pull")?;
    let _lock = env.lock(lock_timeout)?;
    fetch_all(repo, &remote_name)?;
    let profile = env.profile()?;
    let local = env.head()?;
    let theirs = tracking_head(repo, &remote_name, &profile).ok_or_else(|| {
        SharingError::RemoteLacksProfile {
            remote: remote_name.clone(),
            profile: profile.clone(),
        }
    })?;
    let rel = relation(repo, local, theirs)?;
    let mut changes = Vec::new();
    match rel {
        Relation::Same | Relation::Ahead(_) => {}
        Relation::Behind(_) => {
            let target = check_commit(env, theirs)?;
            crate::pipeline::ensure_in_store(env, &target)?;
            changes = manifest::diff(&env.manifest()?, &target);
            repo.reference_matching(
                &format!("refs/heads/{profile}"),
                theirs,
                true,
                local,
                &format!("lvm pull {remote_name}: fast-forward"),
            )
            .map_err(|_| crate::envrepo::RepoError::Concurrent {
                profile: profile.clone(),
            })?;
        }
        Relation::Diverged { ahead, behind } => {
            // Ready for `lvm profile merge`: its state checked and its rocks in the store.
            let target = check_commit(env, theirs)?;
            crate::pipeline::ensure_in_store(env, &target)?;
            let copy = remote_copy_profile(&remote_name, &profile);
            let commit = repo.find_commit(theirs)?;
            repo.branch(&copy, &commit, true)
                .with_context(|| format!("creating profile '{copy}'"))?;
            return Err(SharingError::Diverged {
                profile,
                remote: remote_name,
                ahead,
                behind,
                copy,
            }
            .into());
        }
    }
    // The config may have changed with the new head: read the environment again.
    let fresh = Environment::open(&env.root, env.home.clone())?;
    fresh.recover()?;
    let sync = finish_sync(&fresh)?;
    Ok(PullReport {
        remote: remote_name,
        relation: rel,
        changes,
        sync,
    })
}

/// Whether a directory is missing or empty.
fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(!path.exists(), |mut d| d.next().is_none())
}

/// The folder `lvm clone URL` makes when no path is given: the repository's name without
/// `.git`. Pure.
pub fn default_clone_dir(url: &str) -> PathBuf {
    let trimmed = url.trim_end_matches(['/', '\\']);
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
    let name = last.strip_suffix(".git").unwrap_or(last);
    PathBuf::from(if name.is_empty() { "env" } else { name })
}

/// What `lvm clone` made.
#[derive(Debug, Clone)]
pub struct CloneReport {
    pub path: PathBuf,
    pub profiles: Vec<String>,
    pub sync: SyncReport,
}

/// `lvm clone URL PATH`: fetches every profile, checks the head's manifest, then makes the tree,
/// fetching and building from the recorded sources whatever the store lacks.
pub fn clone(url: &str, path: &Path, home: Home, lock_timeout: Duration) -> Result<CloneReport> {
    let url = normalize_url(url)?;
    if !is_empty_dir(path) {
        return Err(SharingError::DestinationNotEmpty {
            path: path.display().to_string(),
        }
        .into());
    }
    let created = !path.exists();
    let result = clone_repo(&url, path, &home);
    let env = match result {
        Ok(env) => env,
        Err(e) => {
            remove_clone(path, created);
            return Err(e);
        }
    };
    let manifest = match check_commit(&env, env.head()?) {
        Ok(m) => m,
        Err(e) => {
            remove_clone(path, created);
            return Err(SharingError::NotAnEnvironment {
                url,
                reason: format!("{e:#}"),
            }
            .into());
        }
    };
    let sync = first_tree(&env, &manifest)
        .and_then(|()| sync(&env, lock_timeout))
        .with_context(|| {
            format!(
                "the repository was cloned into {}, but its tree could not be made; fix the cause and run `lvm sync --env {}`",
                path.display(),
                path.display()
            )
        })?;
    Ok(CloneReport {
        path: env.root.clone(),
        profiles: env.repo.profiles()?,
        sync,
    })
}

/// A fresh clone has no tree yet: build what the store lacks and make the first one, so the
/// sync that follows finds the tree in place rather than "repairing" it.
fn first_tree(env: &Environment, manifest: &Manifest) -> Result<()> {
    crate::pipeline::ensure_in_store(env, manifest)?;
    let dir = env.materialize(manifest)?;
    crate::tree::switch_into_place(&dir, &env.tree_path())?;
    Ok(())
}

fn remove_clone(path: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(path);
    } else if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_dir_all(entry.path())
                .or_else(|_| std::fs::remove_file(entry.path()));
        }
    }
}

/// Makes the repository: every remote profile becomes a local profile tracking it, and the
/// current profile is the remote's default (else `default`, else the first).
fn clone_repo(url: &str, path: &Path, home: &Home) -> Result<Environment> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head(DEFAULT_PROFILE);
    let repo = Repository::init_opts(path, &opts)
        .with_context(|| format!("creating a git repository in {}", path.display()))?;
    repo.remote(ORIGIN, url)
        .with_context(|| format!("adding remote '{ORIGIN}' ({url})"))?;
    let advertised = fetch_all(&repo, ORIGIN)?;
    let mut profiles: BTreeMap<String, Oid> = BTreeMap::new();
    for reference in repo.references_glob(&format!("refs/remotes/{ORIGIN}/*"))? {
        let reference = reference?;
        let (Ok(name), Some(target)) = (reference.name(), reference.target()) else {
            continue;
        };
        let profile = name.trim_start_matches(&format!("refs/remotes/{ORIGIN}/"));
        if profile != "HEAD" {
            profiles.insert(profile.to_string(), target);
        }
    }
    if profiles.is_empty() {
        return Err(SharingError::EmptyRemote { url: url.into() }.into());
    }
    for (profile, target) in &profiles {
        let commit = repo.find_commit(*target)?;
        let mut branch = repo.branch(profile, &commit, true)?;
        branch.set_upstream(Some(&format!("{ORIGIN}/{profile}")))?;
    }
    let current = initial_profile(advertised.as_deref(), &profiles);
    repo.set_head(&format!("refs/heads/{current}"))?;
    drop(repo);
    Environment::open(path, home.clone()).map_err(|e| {
        SharingError::NotAnEnvironment {
            url: url.into(),
            reason: format!("{e:#}"),
        }
        .into()
    })
}

/// The profile a clone starts on. Pure.
fn initial_profile(advertised: Option<&str>, profiles: &BTreeMap<String, Oid>) -> String {
    advertised
        .filter(|a| profiles.contains_key(*a))
        .or_else(|| {
            profiles
                .contains_key(DEFAULT_PROFILE)
                .then_some(DEFAULT_PROFILE)
        })
        .or_else(|| profiles.keys().next().map(String::as_str))
        .unwrap_or(DEFAULT_PROFILE)
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
    fn clone_dir_is_the_repository_name() {
        assert_eq!(
            default_clone_dir("file:///srv/team.git"),
            PathBuf::from("team")
        );
        assert_eq!(
            default_clone_dir("git@host:envs/web.git/"),
            PathBuf::from("web")
        );
        assert_eq!(default_clone_dir("/srv/x"), PathBuf::from("x"));
        assert_eq!(default_clone_dir("/"), PathBuf::from("env"));
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
}
