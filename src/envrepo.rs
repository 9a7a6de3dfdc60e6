//! The environment's git repository: events as commits, profiles as branches.
//!
//! Every event is one commit whose tree holds `manifest.json` and `lvm.toml`; the branch a
//! commit is appended to is the current profile. Appending checks the branch still points where
//! it pointed when the change started, so a concurrent change is detected, never overwritten.
//! Nothing here touches the rocks tree.
//!
//! libgit2 writes every object loose (one zlib file each), so the repository is packed every
//! [`PACK_EVERY`] events: the new objects go into one pack, where each `manifest.json` is a delta
//! against another, and their loose copies are deleted.

use std::cell::OnceCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use git2::{Commit, Oid, Repository, Signature};
use thiserror::Error;

use crate::events::{Event, EventError};
use crate::manifest::{Manifest, ManifestError};

pub use self::head_memo::HeadFiles;
pub use self::place::{PROJECT_ENV_DIR, Place};

mod head_memo;
mod log_index;
pub mod place;
mod refs;
pub mod remotes;
pub mod signing;
pub mod tags;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const CONFIG_FILE: &str = "lvm.toml";
/// Everything lvm writes beside its tracked files: the live tree and its directories, the writer
/// lock, scratch space, and the temporary names of atomic writes and switches (left behind only
/// by a crash, and never worth a `git status` line).
pub const GITIGNORE: &str =
    "/tree\n/.trees/\n/logs/\n/.lvm-lock\n/.lvm-tmp/\n/.tmp*\n/.tree.switch-*\n";
pub const DEFAULT_PROFILE: &str = "default";

/// The name of lvm's git merge driver for `manifest.json` (`merge.lvm-manifest.driver`).
pub const MERGE_DRIVER: &str = "lvm-manifest";
/// What `git config merge.lvm-manifest.name` says the driver is.
const MERGE_DRIVER_NAME: &str = "lvm: three-way merge of the packages in manifest.json";
/// The placeholders git fills in for the driver: base, ours (the result goes there), theirs,
/// and the path in the repository.
pub const MERGE_DRIVER_ARGS: &str = "%O %A %B %P";

/// How many unpacked events of the current profile make [`EnvRepo::pack_if_due`] pack the
/// repository. Loose, each event costs about 14 KiB (its own zlib-compressed copy of the whole
/// `manifest.json`) and `lvm log` opens one file per event; packed, under 2 KiB. Packing 256
/// events takes a fraction of a second, so it is rare enough to go unnoticed after a change,
/// and the loose part stays under about 4 MiB.
pub const PACK_EVERY: usize = 256;

#[derive(Debug, Error)]
pub enum RepoError {
    #[error("environment repository {path}: {cause}")]
    Git { path: String, cause: git2::Error },
    #[error("{path} is not an lvm environment (no git repository); create one with `lvm init`")]
    NotAnEnvironment { path: String },
    #[error(
        "{path} is not at the top of a git work tree: a project environment is the `{PROJECT_ENV_DIR}` folder at the top of the project (run `lvm init` there), or make a standalone one with `lvm init --standalone`"
    )]
    NotAProjectTop { path: String },
    #[error(
        "the project's repository already holds lvm history ({reference}); bring back its `{PROJECT_ENV_DIR}/` files (`git checkout -- {PROJECT_ENV_DIR}`) and run `lvm sync`, or delete that history first with `git update-ref -d {reference}`"
    )]
    ProjectHistoryExists { reference: String },
    #[error("revision '{rev}' not found in the environment's history (see `lvm log`)")]
    UnknownRevision { rev: String },
    #[error("profile '{name}' does not exist{hint} (see `lvm profile list`)")]
    UnknownProfile {
        name: String,
        /// `; did you mean 'NAME'?` for a close existing profile, or nothing.
        hint: String,
    },
    #[error("profile '{name}' already exists")]
    ProfileExists { name: String },
    #[error(
        "tag '{name}' already exists (at {commit}); delete it first with `lvm tag --delete {name}`, or choose another name"
    )]
    TagExists { name: String, commit: String },
    #[error("tag '{name}' does not exist{hint} (see `lvm tag --list`)")]
    UnknownTag {
        name: String,
        /// `; did you mean 'NAME'?` for a close existing tag, or nothing.
        hint: String,
    },
    #[error(
        "tag name '{name}': use letters, digits, '-', '_' and '.', not starting with '.' or '-', not all digits (a number counts events in `lvm rollback N`)"
    )]
    BadTagName { name: String },
    #[error(
        "'{name}' is a profile; a tag of the same name would never be used as a revision (choose another name)"
    )]
    TagIsProfile { name: String },
    #[error(
        "the environment changed while this command ran (profile '{profile}' moved); run it again"
    )]
    Concurrent { profile: String },
    #[error("commit {commit} has no {file}")]
    MissingFile { commit: String, file: String },
    #[error(
        "commit {commit}: its time ({seconds} s after 1970) is out of range; was it made by hand?"
    )]
    BadTime { commit: String, seconds: i64 },
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("cannot sign the event commit")]
    Sign(#[from] signing::SignError),
}

impl RepoError {
    /// An unknown name or revision is bad input, a race or an existing profile a conflict;
    /// anything else means the repository or its records are damaged.
    pub fn kind(&self) -> crate::errors::ErrorKind {
        use crate::errors::ErrorKind;
        match self {
            RepoError::Concurrent { .. }
            | RepoError::ProfileExists { .. }
            | RepoError::TagExists { .. } => ErrorKind::Conflict,
            RepoError::UnknownRevision { .. }
            | RepoError::UnknownTag { .. }
            | RepoError::BadTagName { .. }
            | RepoError::TagIsProfile { .. }
            | RepoError::UnknownProfile { .. }
            | RepoError::NotAnEnvironment { .. }
            | RepoError::NotAProjectTop { .. }
            | RepoError::ProjectHistoryExists { .. }
            | RepoError::BadTime { .. } => ErrorKind::BadInput,
            RepoError::Io { .. } => ErrorKind::Other,
            // The signing key or tool git's config names is missing or refuses.
            RepoError::Sign(_) => ErrorKind::BadInput,
            RepoError::Git { .. }
            | RepoError::MissingFile { .. }
            | RepoError::Event(_)
            | RepoError::Manifest(_) => ErrorKind::Damaged,
        }
    }
}

/// One entry of the history.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub commit: Oid,
    pub event: Event,
}

/// One line of the plain log, read from the commit alone (no event JSON parsed): lvm makes the
/// commit's subject the event's [`Event::summary`] and its author time the event's timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub commit: Oid,
    /// The event's timestamp, to the second.
    pub time: DateTime<Utc>,
    pub summary: String,
}

/// What [`EnvRepo::pack_loose`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOutcome {
    /// The new pack (`.git/objects/pack/pack-*.pack`, its index beside it as `.idx`).
    pub pack: PathBuf,
    /// How many objects went into it; their loose copies are deleted.
    pub objects: usize,
}

/// The commits from one commit back along first parents, newest first.
struct FirstParents<'r> {
    repo: &'r EnvRepo,
    next: Option<Oid>,
}

impl<'r> Iterator for FirstParents<'r> {
    type Item = Result<Commit<'r>, RepoError>;

    fn next(&mut self) -> Option<Self::Item> {
        let oid = self.next.take()?;
        let commit = self.repo.find_commit(oid);
        if let Ok(commit) = &commit {
            self.next = commit.parent_id(0).ok();
        }
        Some(commit)
    }
}

/// The plain log, newest first: [`LogLine`]s from the commits back along first parents,
/// through the log cache (see `log_index`) when it is used. Call [`LogWalk::finish`] at the
/// end so that what the walk read from git is cached for the next one.
pub struct LogWalk<'r> {
    repo: &'r EnvRepo,
    index: Option<log_index::LogIndex>,
    next: Option<Oid>,
}

impl Iterator for LogWalk<'_> {
    type Item = Result<LogLine, RepoError>;

    fn next(&mut self) -> Option<Self::Item> {
        let oid = self.next.take()?;
        if let Some(entry) = self.index.as_ref().and_then(|i| i.get(oid)) {
            if let Some(time) = DateTime::from_timestamp(entry.seconds, 0) {
                self.next = entry.parent;
                return Some(Ok(LogLine {
                    commit: oid,
                    time,
                    summary: entry.summary.clone(),
                }));
            }
        }
        let commit = match self.repo.find_commit(oid) {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        let line = match log_line(&commit) {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        self.next = commit.parent_id(0).ok();
        if let Some(index) = &mut self.index {
            index.learn(
                oid,
                log_index::Entry {
                    parent: self.next,
                    seconds: line.time.timestamp(),
                    summary: line.summary.clone(),
                },
            );
        }
        Some(Ok(line))
    }
}

impl LogWalk<'_> {
    /// Caches what the walk read from git (best effort: the cache is only ever a shortcut).
    pub fn finish(self) {
        if let Some(index) = &self.index {
            index.save(&self.repo.private);
        }
    }
}

/// Lets libgit2 keep lvm's commits and state files in its object cache. A commit lvm makes
/// carries its event (tens of KB after a large install) and `manifest.json` is as large, while
/// libgit2 caches commits only up to 4 KiB and blobs not at all by default: a command that reads
/// the head's files several times (settings, manifest, the head memo) inflated and hashed the
/// same commit each time. The cache's total stays bounded (32 MiB; a long `lvm log` evicts).
/// libgit2 reads these settings without synchronization: call this once, before any thread
/// starts.
pub fn tune_object_cache() {
    const LARGEST_CACHED_OBJECT: usize = 4 << 20;
    const CACHE_SIZE: isize = 32 << 20;
    // SAFETY: called from the CLI's start, before it starts any thread.
    let tuned = unsafe {
        git2::opts::set_cache_object_limit(git2::ObjectType::Commit, LARGEST_CACHED_OBJECT)
            .and_then(|()| {
                git2::opts::set_cache_object_limit(git2::ObjectType::Blob, LARGEST_CACHED_OBJECT)
            })
            .and_then(|()| git2::opts::set_cache_max_size(CACHE_SIZE))
    };
    if let Err(e) = tuned {
        tracing::debug!("libgit2's object cache keeps its defaults: {e}");
    }
}

/// The plain log's line for a commit lvm made.
fn log_line(commit: &Commit<'_>) -> Result<LogLine, RepoError> {
    let oid = commit.id();
    let message = String::from_utf8_lossy(commit.message_bytes());
    let (summary, _) =
        crate::events::split_commit_message(&message).ok_or_else(|| EventError::Missing {
            commit: oid.to_string(),
        })?;
    let seconds = commit.author().when().seconds();
    let time = DateTime::from_timestamp(seconds, 0).ok_or_else(|| RepoError::BadTime {
        commit: oid.to_string(),
        seconds,
    })?;
    Ok(LogLine {
        commit: oid,
        time,
        summary: summary.to_string(),
    })
}

pub struct EnvRepo {
    /// The repository once libgit2 has opened it (see [`EnvRepo::git`]).
    repo: OnceCell<Repository>,
    /// Its git folder: `.git` of a standalone environment, the project's otherwise.
    git_dir: PathBuf,
    /// Where its refs and shared files are: the git folder, or a linked work tree's main one.
    common_dir: PathBuf,
    root: PathBuf,
    /// Whether event commits are signed (the `sign` setting), with git's signing settings.
    signing: bool,
    /// Where the events live: this repository is the environment's own, or its project's.
    place: Place,
    /// lvm's private folder (see [`Place::private_dir`]).
    private: PathBuf,
    /// The head files of the last commit [`EnvRepo::head_files`] was asked about.
    head_files_read: std::cell::RefCell<Option<(Oid, HeadFiles)>>,
}

impl EnvRepo {
    /// No profile `name`, with the closest existing one when there is a close one.
    fn unknown_profile(&self, name: &str) -> RepoError {
        let profiles = self.profiles().unwrap_or_default();
        let known: Vec<&str> = profiles.iter().map(String::as_str).collect();
        RepoError::UnknownProfile {
            name: name.to_string(),
            hint: crate::suggest::did_you_mean(name, &known),
        }
    }

    fn git_err(&self, source: git2::Error) -> RepoError {
        RepoError::Git {
            path: self.root.display().to_string(),
            cause: source,
        }
    }

    /// Opens the environment at `root`: its own repository when `root` holds one, else (a
    /// project environment) the repository of the work tree whose top holds `root` as
    /// [`PROJECT_ENV_DIR`] with its `lvm.toml`. An environment's own repository in the layout
    /// `lvm init` makes is opened with libgit2 only when a git object is first read (see
    /// [`EnvRepo::git`]).
    pub fn open(root: &Path) -> Result<EnvRepo, RepoError> {
        let not_one = || RepoError::NotAnEnvironment {
            path: root.display().to_string(),
        };
        let git_dir = root.join(".git");
        if refs::is_plain_git_dir(&git_dir) {
            let dirs = (git_dir.clone(), git_dir);
            return Ok(Self::assemble(
                OnceCell::new(),
                dirs,
                root,
                Place::Standalone,
                false,
            ));
        }
        if git_dir.exists() {
            let repo = Repository::open(root).map_err(|_| not_one())?;
            return Self::assemble_opened(repo, root, Place::Standalone, false);
        }
        if !root.join(CONFIG_FILE).is_file() {
            return Err(not_one());
        }
        let repo = project_repository(root)?.ok_or_else(not_one)?;
        Self::assemble_opened(repo, root, Place::Project, false)
    }

    /// An `EnvRepo` on `repo`, open already; in a project, lvm's private folder is made.
    fn assemble_opened(
        repo: Repository,
        root: &Path,
        place: Place,
        signing: bool,
    ) -> Result<EnvRepo, RepoError> {
        let dirs = (repo.path().to_path_buf(), repo.commondir().to_path_buf());
        let env = Self::assemble(OnceCell::from(repo), dirs, root, place, signing);
        if place == Place::Project {
            std::fs::create_dir_all(&env.private).map_err(|cause| RepoError::Io {
                path: env.private.display().to_string(),
                cause,
            })?;
        }
        Ok(env)
    }

    /// An `EnvRepo` of the repository whose git folder and common folder are `dirs`.
    fn assemble(
        repo: OnceCell<Repository>,
        (git_dir, common_dir): (PathBuf, PathBuf),
        root: &Path,
        place: Place,
        signing: bool,
    ) -> EnvRepo {
        EnvRepo {
            private: place.private_dir(&git_dir),
            repo,
            git_dir,
            common_dir,
            root: root.to_path_buf(),
            signing,
            place,
            head_files_read: Default::default(),
        }
    }

    /// The git repository, opened on first use. Reading the head and its memo needs no git
    /// object, and the commands that only do that (`lvm run` on every start) skip libgit2's
    /// open: its three config files and repository checks.
    fn git(&self) -> Result<&Repository, RepoError> {
        if let Some(repo) = self.repo.get() {
            return Ok(repo);
        }
        let repo = Repository::open(&self.git_dir).map_err(|e| self.git_err(e))?;
        Ok(self.repo.get_or_init(|| repo))
    }

    /// The commit `oid`.
    fn find_commit(&self, oid: Oid) -> Result<Commit<'_>, RepoError> {
        self.git()?.find_commit(oid).map_err(|e| self.git_err(e))
    }

    /// Signs the event commits made from now on (or stops signing them), as git signs
    /// commits (see [`signing`]).
    pub fn set_signing(&mut self, on: bool) {
        self.signing = on;
    }

    /// Creates the repository with its first commit (an `init` event).
    pub fn init(
        root: &Path,
        config_text: &str,
        manifest: &Manifest,
        event: &Event,
    ) -> Result<EnvRepo, RepoError> {
        Self::init_signing(root, config_text, manifest, event, false)
    }

    /// [`EnvRepo::init`], signing the first commit and those after it when `sign`.
    pub fn init_signing(
        root: &Path,
        config_text: &str,
        manifest: &Manifest,
        event: &Event,
        sign: bool,
    ) -> Result<EnvRepo, RepoError> {
        Self::create(root, Place::Standalone, config_text, manifest, event, sign)
    }

    /// Creates an environment's history where its events live: a new repository at `root`,
    /// or (a project environment, `root` being `<work tree>/.lvm`) profile `default` under
    /// `refs/lvm/` of the project's repository. Its first commit holds `event`; the working
    /// files are written (in a project with the `.gitignore` that keeps the rest out).
    pub fn create(
        root: &Path,
        place: Place,
        config_text: &str,
        manifest: &Manifest,
        event: &Event,
        sign: bool,
    ) -> Result<EnvRepo, RepoError> {
        let repo = match place {
            Place::Standalone => {
                let mut opts = git2::RepositoryInitOptions::new();
                opts.initial_head(DEFAULT_PROFILE);
                Repository::init_opts(root, &opts).map_err(|source| RepoError::Git {
                    path: root.display().to_string(),
                    cause: source,
                })?
            }
            Place::Project => {
                project_repository(root)?.ok_or_else(|| RepoError::NotAProjectTop {
                    path: root.display().to_string(),
                })?
            }
        };
        let env = Self::assemble_opened(repo, root, place, sign)?;
        if env.try_profile_head(DEFAULT_PROFILE).is_some() {
            return Err(RepoError::ProjectHistoryExists {
                reference: place.profile_ref(DEFAULT_PROFILE),
            });
        }
        env.start_history(DEFAULT_PROFILE, config_text, manifest, event)?;
        let manifest_bytes = manifest.to_bytes();
        let mut files: Vec<(&str, &[u8])> = Vec::new();
        if place == Place::Standalone {
            files.push((".gitignore", GITIGNORE.as_bytes()));
        }
        files.push((CONFIG_FILE, config_text.as_bytes()));
        files.push((MANIFEST_FILE, &manifest_bytes));
        env.write_worktree(&files)?;
        Ok(env)
    }

    /// Starts the history of `profile` with a first commit (no parent) holding `event` and
    /// the state, and makes it the current profile. Writes no working file: a project whose
    /// clone lacks lvm's refs starts its history this way under its committed files.
    pub fn start_history(
        &self,
        profile: &str,
        config_text: &str,
        manifest: &Manifest,
        event: &Event,
    ) -> Result<Oid, RepoError> {
        let mut files: Vec<(&str, &[u8])> = Vec::new();
        if self.place == Place::Standalone {
            files.push((".gitignore", GITIGNORE.as_bytes()));
        }
        let manifest_bytes = manifest.to_bytes();
        files.push((CONFIG_FILE, config_text.as_bytes()));
        files.push((MANIFEST_FILE, &manifest_bytes));
        let tree = self.tree_with(None, &files)?;
        let commit = self.commit(&tree, &[], event)?;
        self.publish(profile, None, commit, "lvm init")?;
        if self.place == Place::Project {
            self.set_current_profile(profile)?;
        }
        Ok(commit)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where this environment's events live.
    pub fn place(&self) -> Place {
        self.place
    }

    /// The top of the project's work tree (`None` for a standalone environment).
    pub fn project_dir(&self) -> Option<&Path> {
        match self.place {
            Place::Standalone => None,
            Place::Project => self.git().ok()?.workdir(),
        }
    }

    /// The commit the project's `HEAD` is at (detached or on a branch); `None` for a standalone
    /// environment or a project without commits.
    pub fn project_head(&self) -> Option<Oid> {
        match self.place {
            Place::Standalone => None,
            Place::Project => self
                .git()
                .ok()?
                .head()
                .ok()?
                .peel_to_commit()
                .ok()
                .map(|c| c.id()),
        }
    }

    /// lvm's private folder (the repository's `.git`, or `<git dir>/lvm` in a project), where
    /// it keeps its journal, state lock, log cache and bisection.
    pub fn private_dir(&self) -> &Path {
        &self.private
    }

    /// The file naming the current profile of a project environment.
    fn profile_file(&self) -> PathBuf {
        self.private.join(crate::layout::PROJECT_PROFILE_FILE)
    }

    /// The current profile (the branch HEAD points at; in a project, the one lvm's private
    /// folder names).
    pub fn current_profile(&self) -> Result<String, RepoError> {
        if self.place == Place::Project {
            let name = std::fs::read_to_string(self.profile_file()).unwrap_or_default();
            let name = name.trim();
            return Ok(match name.is_empty() {
                true => DEFAULT_PROFILE.to_string(),
                false => name.to_string(),
            });
        }
        let target = match refs::head(&self.git_dir) {
            Some(refs::Head::Branch(target)) => Some(target),
            Some(refs::Head::Detached) => None,
            None => {
                let head = self
                    .git()?
                    .find_reference("HEAD")
                    .map_err(|e| self.git_err(e))?;
                head.symbolic_target_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            }
        };
        let target = target.unwrap_or_else(|| format!("refs/heads/{DEFAULT_PROFILE}"));
        Ok(target
            .strip_prefix("refs/heads/")
            .unwrap_or(&target)
            .to_string())
    }

    /// The commit the current profile points at.
    pub fn head(&self) -> Result<Oid, RepoError> {
        let profile = self.current_profile()?;
        self.profile_head(&profile)
    }

    /// Whether the current profile has any history yet (a project's fresh clone has none).
    pub fn has_history(&self) -> bool {
        self.current_profile()
            .is_ok_and(|p| self.try_profile_head(&p).is_some())
    }

    pub fn profile_head(&self, profile: &str) -> Result<Oid, RepoError> {
        if let Some(head) = self.try_profile_head(profile) {
            return Ok(head);
        }
        // A repository libgit2 cannot open is that error, not a missing profile.
        self.git()?;
        Err(self.unknown_profile(profile))
    }

    /// Reads a file of a commit's state: the commit's own file for an event commit; in a
    /// project, `.lvm/FILE` of a project commit (one whose tree holds that folder).
    pub fn read_file(&self, commit: Oid, file: &str) -> Result<Vec<u8>, RepoError> {
        let commit_obj = self.find_commit(commit)?;
        let tree = commit_obj.tree().map_err(|e| self.git_err(e))?;
        let in_project = self.place == Place::Project
            && tree
                .get_name(PROJECT_ENV_DIR)
                .is_some_and(|e| e.kind() == Some(git2::ObjectType::Tree));
        let path = match in_project {
            true => format!("{PROJECT_ENV_DIR}/{file}"),
            false => file.to_string(),
        };
        let entry = tree
            .get_path(Path::new(&path))
            .map_err(|_| RepoError::MissingFile {
                commit: commit.to_string(),
                file: path.clone(),
            })?;
        let blob = self
            .git()?
            .find_blob(entry.id())
            .map_err(|e| self.git_err(e))?;
        Ok(blob.content().to_vec())
    }

    /// The manifest recorded at a commit.
    pub fn manifest_at(&self, commit: Oid) -> Result<Manifest, RepoError> {
        let bytes = self.read_file(commit, MANIFEST_FILE)?;
        Ok(Manifest::from_bytes(
            &bytes,
            &format!("{MANIFEST_FILE} at {}", short(commit)),
        )?)
    }

    /// Resolves a revision: a profile name, a tag, a commit id (or prefix), `HEAD~N`, a fetched
    /// remote profile (`origin/dev`), or any git rev. In a project the first four are lvm's
    /// (`HEAD` is lvm's head) and anything else is a project revision (`main`,
    /// `origin/main`, `@~1`), whose state is its `.lvm/manifest.json`; see `docs/projects.md`.
    pub fn resolve_rev(&self, rev: &str) -> Result<Oid, RepoError> {
        if let Some(head) = self.try_profile_head(rev) {
            return Ok(head);
        }
        let unknown = || RepoError::UnknownRevision { rev: rev.into() };
        let spelled = match self.place {
            Place::Standalone => rev.to_string(),
            Place::Project => self.lvm_spelling(rev)?,
        };
        let object = self
            .git()?
            .revparse_single(&spelled)
            .map_err(|_| unknown())?;
        object
            .peel_to_commit()
            .map(|c| c.id())
            .map_err(|_| unknown())
    }

    /// A project revision spelled so git reads lvm's names first: a tag, `HEAD…` (lvm's head),
    /// a fetched remote profile; anything else as given.
    fn lvm_spelling(&self, rev: &str) -> Result<String, RepoError> {
        let tags = self.place.tags_prefix();
        if self.git()?.find_reference(&format!("{tags}{rev}")).is_ok() {
            return Ok(format!("{tags}{rev}"));
        }
        if let Some(rest) = rev.strip_prefix("HEAD")
            && (rest.is_empty() || rest.starts_with(['~', '^']))
        {
            let profile = self.current_profile()?;
            return Ok(format!("{}{rest}", self.place.profile_ref(&profile)));
        }
        if let Some((remote, profile)) = rev.split_once('/') {
            let copy = format!("{}{profile}", self.place.remote_profiles_prefix(remote));
            if self.git()?.find_reference(&copy).is_ok() {
                return Ok(copy);
            }
        }
        Ok(rev.to_string())
    }

    /// The commits from `from` back along first parents (the events of a profile), newest first.
    fn first_parents(&self, from: Oid) -> FirstParents<'_> {
        FirstParents {
            repo: self,
            next: Some(from),
        }
    }

    /// The events of the current profile, newest first, following first parents.
    pub fn log(&self, from: Oid, limit: Option<usize>) -> Result<Vec<LoggedEvent>, RepoError> {
        self.events_from(from)
            .take(limit.unwrap_or(usize::MAX))
            .collect()
    }

    /// The events from `from` back along first parents, newest first, parsed one at a time as
    /// the walk reaches them (a reader that stops early reads no further).
    pub fn events_from(
        &self,
        from: Oid,
    ) -> impl Iterator<Item = Result<LoggedEvent, RepoError>> + '_ {
        self.first_parents(from).map(|commit| {
            let commit = commit?;
            let oid = commit.id();
            let message = String::from_utf8_lossy(commit.message_bytes());
            let event = Event::from_commit_message(&message, &oid.to_string())?;
            Ok(LoggedEvent { commit: oid, event })
        })
    }

    /// A commit's author as git shows it: `Name <email>`.
    pub fn commit_author(&self, commit: Oid) -> Result<String, RepoError> {
        let c = self.find_commit(commit)?;
        let author = c.author();
        Ok(format!(
            "{} <{}>",
            String::from_utf8_lossy(author.name_bytes()),
            String::from_utf8_lossy(author.email_bytes())
        ))
    }

    /// The plain log's line of one commit; a commit made by hand shows its own subject.
    pub fn log_line(&self, commit: Oid) -> Result<LogLine, RepoError> {
        let c = self.find_commit(commit)?;
        match log_line(&c) {
            Err(RepoError::Event(EventError::Missing { .. })) => {
                let seconds = c.author().when().seconds();
                Ok(LogLine {
                    commit,
                    time: DateTime::from_timestamp(seconds, 0).unwrap_or_default(),
                    summary: String::from_utf8_lossy(c.summary_bytes().unwrap_or_default())
                        .into_owned(),
                })
            }
            other => other,
        }
    }

    /// Whether `ancestor` is `commit` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: Oid, commit: Oid) -> Result<bool, RepoError> {
        if ancestor == commit {
            return Ok(true);
        }
        self.git()?
            .graph_descendant_of(commit, ancestor)
            .map_err(|e| self.git_err(e))
    }

    /// The plain log from `from` back along first parents, newest first, one commit at a time
    /// and without parsing any event (see [`LogLine`]), so it can be printed while it is read.
    /// With `cached`, commits are looked up in the log cache first (worth it for a long walk:
    /// reading the cache costs a few milliseconds, reading 10,000 commits a few hundred).
    pub fn log_lines(&self, from: Oid, cached: bool) -> LogWalk<'_> {
        LogWalk {
            repo: self,
            index: cached.then(|| log_index::LogIndex::read(&self.git_dir)),
            next: Some(from),
        }
    }

    /// Writes the git tree of a state: the tree of `base` with `manifest.json` replaced.
    pub fn state_tree(&self, base: Oid, manifest: &Manifest) -> Result<Oid, RepoError> {
        self.state_tree_with_config(base, manifest, None)
    }

    /// [`EnvRepo::state_tree`], with `lvm.toml` replaced too when `config` is given.
    pub fn state_tree_with_config(
        &self,
        base: Oid,
        manifest: &Manifest,
        config: Option<&str>,
    ) -> Result<Oid, RepoError> {
        self.state_tree_of_bytes(base, &manifest.to_bytes(), config)
    }

    /// [`EnvRepo::state_tree_with_config`] from the manifest's bytes, for a writer that has
    /// them already.
    pub fn state_tree_of_bytes(
        &self,
        base: Oid,
        manifest: &[u8],
        config: Option<&str>,
    ) -> Result<Oid, RepoError> {
        let mut files: Vec<(&str, &[u8])> = vec![(MANIFEST_FILE, manifest)];
        files.extend(config.map(|text| (CONFIG_FILE, text.as_bytes())));
        self.tree_with(Some(base), &files)
    }

    /// Writes the commit object of an event without pointing any profile at it.
    pub fn commit_object(
        &self,
        tree: Oid,
        parents: &[Oid],
        event: &Event,
    ) -> Result<Oid, RepoError> {
        self.commit(&tree, parents, event)
    }

    /// Points `profile` at `commit` if it still points at `expected` (`None`: the profile must
    /// not exist yet, and is created). This one reference update is what makes a change happen.
    pub fn publish(
        &self,
        profile: &str,
        expected: Option<Oid>,
        commit: Oid,
        summary: &str,
    ) -> Result<(), RepoError> {
        self.publish_state(profile, expected, commit, summary, None)
    }

    /// [`EnvRepo::publish`], for a writer that knows the sha256 of the commit's
    /// `manifest.json`: the head memo takes it rather than reading the manifest back from git.
    pub fn publish_state(
        &self,
        profile: &str,
        expected: Option<Oid>,
        commit: Oid,
        summary: &str,
        manifest_sha256: Option<&str>,
    ) -> Result<(), RepoError> {
        let name = self.place.profile_ref(profile);
        let result = match expected {
            Some(old) => self
                .git()?
                .reference_matching(&name, commit, true, old, summary)
                .map(|_| ()),
            None => self
                .git()?
                .reference(&name, commit, false, summary)
                .map(|_| ()),
        };
        if result.is_ok() && self.current_profile().is_ok_and(|p| p == profile) {
            // The readers that come next find the new head's settings without a git read.
            self.remember_head_files(commit, manifest_sha256);
        }
        result.map_err(|e| {
            if expected.is_none() && e.code() == git2::ErrorCode::Exists {
                RepoError::ProfileExists {
                    name: profile.into(),
                }
            } else if e.code() == git2::ErrorCode::Modified
                || e.class() == git2::ErrorClass::Reference
            {
                RepoError::Concurrent {
                    profile: profile.to_string(),
                }
            } else {
                self.git_err(e)
            }
        })
    }

    /// The commits of the first-parent chain that ends at `head`, oldest first: the log as
    /// replay and `lvm log` follow it.
    pub fn first_parent_chain(&self, head: Oid) -> Result<Vec<Oid>, RepoError> {
        let mut chain = FirstParents {
            repo: self,
            next: Some(head),
        }
        .map(|commit| commit.map(|c| c.id()))
        .collect::<Result<Vec<Oid>, RepoError>>()?;
        chain.reverse();
        Ok(chain)
    }

    /// A commit's message (lossy UTF-8) and its first parent.
    pub fn commit_summary(&self, commit: Oid) -> Result<(String, Option<Oid>), RepoError> {
        let c = self.find_commit(commit)?;
        let message = String::from_utf8_lossy(c.message_bytes()).into_owned();
        Ok((message, c.parent_id(0).ok()))
    }

    /// The tree a commit records (its `manifest.json`, `lvm.toml` and the rest).
    pub fn commit_tree(&self, commit: Oid) -> Result<Oid, RepoError> {
        let c = self.find_commit(commit)?;
        Ok(c.tree_id())
    }

    /// Points profile `name` at `commit`, creating it or moving it wherever it was (the local
    /// copy of a remote profile).
    pub fn force_profile(&self, name: &str, commit: Oid) -> Result<(), RepoError> {
        self.git()?
            .reference(&self.place.profile_ref(name), commit, true, "lvm")
            .map(|_| ())
            .map_err(|e| self.git_err(e))
    }

    /// The commit a profile points at, or `None` when there is no such profile.
    pub fn try_profile_head(&self, profile: &str) -> Option<Oid> {
        let name = self.place.profile_ref(profile);
        if !git2::Reference::is_valid_name(&name) {
            return None;
        }
        if let Some(commit) = refs::loose(&self.common_dir, &name) {
            return Some(commit);
        }
        self.git()
            .ok()?
            .find_reference(&name)
            .ok()
            .and_then(|r| r.target())
    }

    /// Removes lock files a killed git operation left in the repository. Only call this while
    /// holding the environment's writer lock: lvm is then the only writer.
    pub fn remove_stale_git_locks(&self) {
        for path in self.git_lock_files() {
            tracing::warn!("removing {} left by an interrupted change", path.display());
            let _ = std::fs::remove_file(&path);
        }
    }

    /// The lock files of git operations in the repository (the index's, `HEAD`'s, a ref's).
    /// Without a live writer they were left by a killed one. In a project only lvm's own refs
    /// count: the project's index, `HEAD` and branches belong to git commands lvm knows nothing
    /// of.
    pub fn git_lock_files(&self) -> Vec<PathBuf> {
        let git_dir = &self.git_dir;
        let (mut candidates, refs) = match self.place {
            Place::Standalone => (
                vec![
                    git_dir.join("index.lock"),
                    git_dir.join("HEAD.lock"),
                    git_dir.join("packed-refs.lock"),
                    git_dir.join("config.lock"),
                ],
                git_dir.join("refs"),
            ),
            Place::Project => (Vec::new(), self.common_dir.join("refs").join("lvm")),
        };
        for entry in walkdir::WalkDir::new(refs).into_iter().flatten() {
            if entry.path().extension().is_some_and(|e| e == "lock") {
                candidates.push(entry.path().to_path_buf());
            }
        }
        candidates.retain(|path| path.is_file());
        candidates
    }

    /// Makes lvm's working files match a commit after a change: in a standalone environment
    /// with the index, so `git status` is clean; in a project `lvm.toml` and `manifest.json`
    /// only (the user commits them). The rocks tree is never checked out.
    pub fn sync_worktree(&self, commit: Oid) -> Result<(), RepoError> {
        let mut files = Vec::new();
        for name in self.place.work_files() {
            if let Ok(bytes) = self.read_file(commit, name) {
                files.push((*name, bytes));
            }
        }
        let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        self.write_worktree(&borrowed)
    }

    /// What recovery does to the working files: a standalone environment's follow the head
    /// commit ([`EnvRepo::sync_worktree`]); a project's are the project's desired state and
    /// stay as git left them (`lvm sync` records them).
    pub fn restore_worktree(&self, commit: Oid) -> Result<(), RepoError> {
        match self.place.keeps_work_files() {
            false => self.sync_worktree(commit),
            true => self.write_project_gitignore(),
        }
    }

    /// Writes `.lvm/.gitignore` of a project when it is missing or different.
    pub fn write_project_gitignore(&self) -> Result<(), RepoError> {
        self.write_files(&[(".gitignore", place::PROJECT_GITIGNORE.as_bytes())])
    }

    fn write_files(&self, files: &[(&str, &[u8])]) -> Result<(), RepoError> {
        write_files_in(&self.root, files)
    }

    fn write_worktree(&self, files: &[(&str, &[u8])]) -> Result<(), RepoError> {
        self.write_files(files)?;
        if self.place == Place::Project {
            return self.write_project_gitignore();
        }
        let mut index = self.git()?.index().map_err(|e| self.git_err(e))?;
        let head = self.head()?;
        let tree = self
            .git()?
            .find_commit(head)
            .and_then(|c| c.tree())
            .map_err(|e| self.git_err(e))?;
        index.read_tree(&tree).map_err(|e| self.git_err(e))?;
        index.write().map_err(|e| self.git_err(e))?;
        Ok(())
    }

    fn tree_with(&self, base: Option<Oid>, files: &[(&str, &[u8])]) -> Result<Oid, RepoError> {
        let base_tree = match base {
            Some(c) => Some(
                self.git()?
                    .find_commit(c)
                    .and_then(|c| c.tree())
                    .map_err(|e| self.git_err(e))?,
            ),
            None => None,
        };
        let mut builder = self
            .git()?
            .treebuilder(base_tree.as_ref())
            .map_err(|e| self.git_err(e))?;
        for (name, bytes) in files {
            let blob = self.git()?.blob(bytes).map_err(|e| self.git_err(e))?;
            builder
                .insert(name, blob, 0o100644)
                .map_err(|e| self.git_err(e))?;
        }
        builder.write().map_err(|e| self.git_err(e))
    }

    /// Writes an event's commit. Its author and committer time is the event's timestamp, so
    /// the plain log can print the time without reading the event.
    fn commit(&self, tree: &Oid, parents: &[Oid], event: &Event) -> Result<Oid, RepoError> {
        let tree = self.git()?.find_tree(*tree).map_err(|e| self.git_err(e))?;
        let identity = self
            .git()?
            .signature()
            .or_else(|_| Signature::now("lvm", "lvm@localhost"))
            .map_err(|e| self.git_err(e))?;
        let when = git2::Time::new(
            event.timestamp.timestamp(),
            identity.when().offset_minutes(),
        );
        let signature = Signature::new(
            &String::from_utf8_lossy(identity.name_bytes()),
            &String::from_utf8_lossy(identity.email_bytes()),
            &when,
        )
        .map_err(|e| self.git_err(e))?;
        let repo = self.git()?;
        let parent_commits = parents
            .iter()
            .map(|p| repo.find_commit(*p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.git_err(e))?;
        let parent_refs: Vec<&git2::Commit> = parent_commits.iter().collect();
        let message = event.to_commit_message();
        if !self.signing {
            return self
                .git()?
                .commit(None, &signature, &signature, &message, &tree, &parent_refs)
                .map_err(|e| self.git_err(e));
        }
        // As git does: the commit's bytes are signed by the external tool, and the signature
        // goes into the commit's `gpgsig` header.
        let buffer = self
            .git()?
            .commit_create_buffer(&signature, &signature, &message, &tree, &parent_refs)
            .map_err(|e| self.git_err(e))?;
        let config = self
            .git()?
            .config()
            .map_err(|e| RepoError::Sign(signing::SignError::Config(e)))?;
        let committer = format!(
            "{} <{}>",
            String::from_utf8_lossy(signature.name_bytes()),
            String::from_utf8_lossy(signature.email_bytes())
        );
        let signed = signing::Signer::from_config(&config, &committer)?.sign(&buffer)?;
        // Built from UTF-8 names and message, so the buffer is UTF-8.
        let content = String::from_utf8_lossy(&buffer);
        self.git()?
            .commit_signed(&content, &signed, None)
            .map_err(|e| self.git_err(e))
    }

    /// Checks the signature of `commit` as `git verify-commit` does, with git's config.
    pub fn check_signature(&self, commit: Oid) -> Result<signing::SignatureCheck, RepoError> {
        let (signature, payload) = match self.git()?.extract_signature(&commit, None) {
            Ok(found) => found,
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                return Ok(signing::SignatureCheck::Unsigned);
            }
            Err(e) => return Err(self.git_err(e)),
        };
        let config = self.git()?.config().map_err(|e| self.git_err(e))?;
        Ok(signing::check(&config, &signature, &payload))
    }

    /// Where the loose copy of an object is (or would be).
    fn loose_path(&self, oid: Oid) -> PathBuf {
        let hex = oid.to_string();
        self.git_dir.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    fn is_loose(&self, oid: Oid) -> bool {
        self.loose_path(oid).is_file()
    }

    /// Packs the repository (see [`EnvRepo::pack_loose`]) when the current profile's newest
    /// `every` events are all unpacked. Packing only ever covers whole histories (a pack
    /// holds everything reachable that was loose), so counting back from the head until the
    /// first packed commit counts the events since the last pack.
    pub fn pack_if_due(&self, every: usize) -> Result<Option<PackOutcome>, RepoError> {
        let mut unpacked = 0;
        for commit in self.first_parents(self.head()?) {
            if unpacked >= every || !self.is_loose(commit?.id()) {
                break;
            }
            unpacked += 1;
        }
        if unpacked < every.max(1) {
            return Ok(None);
        }
        self.pack_loose()
    }

    /// [`EnvRepo::pack_if_due`] once a change is complete: the change stands whatever happens
    /// here, so a failure is only reported (the next change tries again).
    pub fn pack_after_change(&self, every: usize) {
        match self.pack_if_due(every) {
            Ok(Some(outcome)) => tracing::debug!(
                "packed {} objects into {}",
                outcome.objects,
                outcome.pack.display()
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!("could not pack the environment's repository: {e}"),
        }
    }

    /// Writes every loose object reachable from a profile into one new pack, then deletes
    /// their loose copies. The pack and its index are complete and synced to disk before the
    /// first loose object goes, so a crash in between leaves each object twice, never zero
    /// times. Loose objects no profile reaches (a commit a failed change wrote, a deleted
    /// profile's history) stay as they are. Readers need no lock: git and libgit2 look for new
    /// packs when an object is not where they expected it. Call with the writer lock held.
    pub fn pack_loose(&self) -> Result<Option<PackOutcome>, RepoError> {
        let objects = self.loose_reachable()?;
        if objects.is_empty() {
            return Ok(None);
        }
        let mut builder = self.git()?.packbuilder().map_err(|e| self.git_err(e))?;
        for (oid, name) in &objects {
            builder
                .insert_object(*oid, name.as_deref())
                .map_err(|e| self.git_err(e))?;
        }
        let pack_dir = self.git()?.path().join("objects").join("pack");
        let io_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| RepoError::Io {
                path,
                cause: source,
            }
        };
        std::fs::create_dir_all(&pack_dir).map_err(io_err(&pack_dir))?;
        builder.write(&pack_dir, 0).map_err(|e| self.git_err(e))?;
        let name = builder
            .name()
            .map_err(|e| self.git_err(e))?
            .map(str::to_string)
            .ok_or_else(|| RepoError::Io {
                path: pack_dir.display().to_string(),
                cause: std::io::Error::other("libgit2 wrote a pack but did not name it"),
            })?;
        let pack = pack_dir.join(format!("pack-{name}.pack"));
        for file in [pack.clone(), pack.with_extension("idx")] {
            std::fs::File::open(&file)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&file))?;
        }
        crate::fsutil::sync_dir(&pack_dir);
        let mut fan_out = HashSet::new();
        for (oid, _) in &objects {
            let path = self.loose_path(*oid);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(RepoError::Io {
                        path: path.display().to_string(),
                        cause: e,
                    });
                }
                _ => {}
            }
            fan_out.extend(path.parent().map(Path::to_path_buf));
        }
        for dir in fan_out {
            // Only empty ones go; others still hold loose objects no profile reaches.
            let _ = std::fs::remove_dir(dir);
        }
        Ok(Some(PackOutcome {
            pack,
            objects: objects.len(),
        }))
    }

    /// The loose objects reachable from a profile, each with its path in the tree (which
    /// guides delta compression), commits first. A packed commit's history is packed, so the
    /// walk stops at packed commits.
    fn loose_reachable(&self) -> Result<Vec<(Oid, Option<String>)>, RepoError> {
        let mut pending: Vec<Oid> = Vec::new();
        for name in self.profiles()? {
            pending.extend(self.try_profile_head(&name));
        }
        let mut seen = HashSet::new();
        let mut commits = Vec::new();
        let mut others = Vec::new();
        while let Some(oid) = pending.pop() {
            if !seen.insert(oid) || !self.is_loose(oid) {
                continue;
            }
            let commit = self.find_commit(oid)?;
            commits.push((oid, None));
            self.loose_tree(commit.tree_id(), String::new(), &mut seen, &mut others)?;
            pending.extend(commit.parent_ids());
        }
        commits.extend(others);
        Ok(commits)
    }

    /// Adds a tree and whatever below it is loose and not seen yet.
    fn loose_tree(
        &self,
        tree: Oid,
        path: String,
        seen: &mut HashSet<Oid>,
        out: &mut Vec<(Oid, Option<String>)>,
    ) -> Result<(), RepoError> {
        if !seen.insert(tree) || !self.is_loose(tree) {
            return Ok(());
        }
        out.push((tree, (!path.is_empty()).then(|| path.clone())));
        let tree = self.git()?.find_tree(tree).map_err(|e| self.git_err(e))?;
        for entry in tree.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes());
            let entry_path = if path.is_empty() {
                name.into_owned()
            } else {
                format!("{path}/{name}")
            };
            match entry.kind() {
                Some(git2::ObjectType::Tree) => {
                    self.loose_tree(entry.id(), entry_path, seen, out)?;
                }
                Some(git2::ObjectType::Blob)
                    if seen.insert(entry.id()) && self.is_loose(entry.id()) =>
                {
                    out.push((entry.id(), Some(entry_path)));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The best common ancestor of two commits (the base of a three-way merge), or `None`
    /// when their histories share no commit.
    pub fn merge_base(&self, a: Oid, b: Oid) -> Result<Option<Oid>, RepoError> {
        match self.git()?.merge_base(a, b) {
            Ok(base) => Ok(Some(base)),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(self.git_err(e)),
        }
    }

    /// The events of the commits `head` reaches and `base` does not (one side of a merge),
    /// newest first. Commits without an event (made with plain git) are left out.
    pub fn events_since(&self, head: Oid, base: Oid) -> Result<Vec<LoggedEvent>, RepoError> {
        let mut walk = self.git()?.revwalk().map_err(|e| self.git_err(e))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL)
            .and_then(|()| walk.push(head))
            .and_then(|()| walk.hide(base))
            .map_err(|e| self.git_err(e))?;
        let mut events = Vec::new();
        for oid in walk {
            let oid = oid.map_err(|e| self.git_err(e))?;
            let (message, _) = self.commit_summary(oid)?;
            match Event::from_commit_message(&message, &oid.to_string()) {
                Ok(event) => events.push(LoggedEvent { commit: oid, event }),
                Err(EventError::Missing { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(events)
    }

    /// Makes plain git merge `manifest.json` with lvm's three-way package merge: the
    /// attribute in `.git/info/attributes` and the driver `command` (run by git's shell with
    /// `%O %A %B %P` appended) in the repository's config. Both stay in `.git/`, which git
    /// never shares, so they are made for each repository lvm creates, clones or changes.
    /// Writes nothing when both are there already.
    pub fn register_merge_driver(&self, command: &str) -> Result<(), RepoError> {
        let driver = format!("{command} {MERGE_DRIVER_ARGS}");
        let mut config = self.git()?.config().map_err(|e| self.git_err(e))?;
        let key = format!("merge.{MERGE_DRIVER}.driver");
        let name_key = format!("merge.{MERGE_DRIVER}.name");
        let local = config
            .open_level(git2::ConfigLevel::Local)
            .map_err(|e| self.git_err(e))?;
        if local.get_string(&key).ok().as_deref() != Some(driver.as_str()) {
            config
                .set_str(&name_key, MERGE_DRIVER_NAME)
                .and_then(|()| config.set_str(&key, &driver))
                .map_err(|e| self.git_err(e))?;
        }
        let path = self.common_dir.join("info").join("attributes");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let line = format!("/{} merge={MERGE_DRIVER}", self.place.manifest_path());
        if !text.lines().any(|l| l == line) {
            let mut new = text;
            if !new.is_empty() && !new.ends_with('\n') {
                new.push('\n');
            }
            new.push_str(&line);
            new.push('\n');
            let io_err = |cause| RepoError::Io {
                path: path.display().to_string(),
                cause,
            };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io_err)?;
            }
            crate::fsutil::write_atomic(&path, new.as_bytes()).map_err(io_err)?;
        }
        Ok(())
    }

    /// Profiles (branches; refs under `refs/lvm/profiles/` in a project), sorted.
    pub fn profiles(&self) -> Result<Vec<String>, RepoError> {
        let prefix = self.place.profiles_prefix();
        let mut names = Vec::new();
        let refs = self
            .git()?
            .references_glob(&format!("{prefix}*"))
            .map_err(|e| self.git_err(e))?;
        for reference in refs {
            let reference = reference.map_err(|e| self.git_err(e))?;
            if let Some(name) = reference.name().ok().and_then(|n| n.strip_prefix(prefix)) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Creates a profile at `at`.
    pub fn create_profile(&self, name: &str, at: Oid) -> Result<(), RepoError> {
        let reference = self.place.profile_ref(name);
        if self.git()?.find_reference(&reference).is_ok() {
            return Err(RepoError::ProfileExists { name: name.into() });
        }
        self.git()?
            .reference(&reference, at, false, "lvm profile create")
            .map_err(|e| self.git_err(e))?;
        Ok(())
    }

    /// Deletes a profile.
    pub fn delete_profile(&self, name: &str) -> Result<(), RepoError> {
        let mut reference = self
            .git()?
            .find_reference(&self.place.profile_ref(name))
            .map_err(|_| self.unknown_profile(name))?;
        reference.delete().map_err(|e| self.git_err(e))
    }

    /// Makes another profile the current one (does not touch the rocks tree).
    pub fn set_current_profile(&self, name: &str) -> Result<(), RepoError> {
        self.profile_head(name)?;
        match self.place {
            Place::Standalone => self
                .git()?
                .set_head(&format!("refs/heads/{name}"))
                .map_err(|e| self.git_err(e)),
            Place::Project => {
                let path = self.profile_file();
                crate::fsutil::write_atomic(&path, format!("{name}\n").as_bytes()).map_err(
                    |cause| RepoError::Io {
                        path: path.display().to_string(),
                        cause,
                    },
                )
            }
        }
    }
}

/// Writes each file into `dir` when it is missing or different (atomically).
fn write_files_in(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), RepoError> {
    for (name, bytes) in files {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() == Some(*bytes) {
            continue;
        }
        crate::fsutil::write_atomic(&path, bytes).map_err(|source| RepoError::Io {
            path: path.display().to_string(),
            cause: source,
        })?;
    }
    Ok(())
}

/// Makes sure a project environment's folder ignores what lvm writes there before lvm writes
/// anything (its logs come first): writes `.gitignore` into `root` when `root` is a project
/// environment's folder (its `lvm.toml`, no repository of its own) lacking it.
pub fn ignore_in_project(root: &Path) -> Result<(), RepoError> {
    let is_project = !root.join(".git").exists() && root.join(CONFIG_FILE).is_file();
    if !is_project || root.join(".gitignore").exists() {
        return Ok(());
    }
    write_files_in(root, &[(".gitignore", place::PROJECT_GITIGNORE.as_bytes())])
}

/// The repository of the project whose work tree has `root` as its [`PROJECT_ENV_DIR`] at the
/// top, found as git finds it (`GIT_DIR` honoured, linked worktrees too); `None` when `root`
/// is not that folder of a work tree.
fn project_repository(root: &Path) -> Result<Option<Repository>, RepoError> {
    if root.file_name().is_none_or(|n| n != PROJECT_ENV_DIR) {
        return Ok(None);
    }
    let Some(top) = work_tree_top(root.parent().unwrap_or(Path::new("."))) else {
        return Ok(None);
    };
    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if std::fs::canonicalize(parent).ok() != Some(top.clone()) {
        return Ok(None);
    }
    Ok(open_work_tree(&top))
}

/// The git repository of the work tree holding `dir` (the nearest existing ancestor of it), as
/// git finds it: `GIT_DIR` and `GIT_CEILING_DIRECTORIES` honoured; bare repositories have none.
fn open_work_tree(dir: &Path) -> Option<Repository> {
    let start = dir.ancestors().find(|d| d.is_dir())?;
    let repo = Repository::open_ext(
        start,
        git2::RepositoryOpenFlags::FROM_ENV,
        &[] as &[&std::ffi::OsStr],
    )
    .ok()?;
    repo.workdir()?;
    Some(repo)
}

/// The top of the git work tree holding `dir` (canonical), or `None` outside every work tree.
pub fn work_tree_top(dir: &Path) -> Option<PathBuf> {
    let repo = open_work_tree(dir)?;
    std::fs::canonicalize(repo.workdir()?).ok()
}

/// Whether `name` is a plain git ref component that shells also take as it is: letters, digits,
/// `-`, `_`, `.`, not starting with `.` or `-`, not ending in `.lock`, at most 64 characters.
pub fn is_plain_ref_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['.', '-'])
        && !name.ends_with(".lock")
}

/// The first ten hex digits of a commit id.
pub fn short(oid: Oid) -> String {
    oid.to_string()[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    fn loose_count(root: &Path) -> usize {
        std::fs::read_dir(root.join(".git/objects"))
            .unwrap()
            .flatten()
            .filter(|d| d.file_name().len() == 2)
            .map(|d| std::fs::read_dir(d.path()).unwrap().count())
            .sum()
    }

    fn pack_count(root: &Path) -> usize {
        std::fs::read_dir(root.join(".git/objects/pack"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                    .count()
            })
            .unwrap_or(0)
    }

    fn fsck(root: &Path) {
        let out = std::process::Command::new("git")
            .args(["fsck", "--strict", "--no-dangling"])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Appends an event the way a change does, without packing.
    fn append(repo: &EnvRepo, parent: Oid, arg: &str, manifest: &Manifest) -> Oid {
        let event = Event::new(EventKind::Install, vec![arg.into()], vec![]);
        let tree = repo.state_tree(parent, manifest).unwrap();
        let commit = repo.commit_object(tree, &[parent], &event).unwrap();
        repo.publish(DEFAULT_PROFILE, Some(parent), commit, &event.summary())
            .unwrap();
        commit
    }

    /// A new environment repository at `dir/env` holding only its `init` event.
    fn empty_repo(dir: &Path) -> (EnvRepo, Manifest) {
        let manifest = Manifest::empty("5.4");
        let init = Event::new(EventKind::Init, vec![], vec![]);
        let repo = EnvRepo::init(&dir.join("env"), "lua = \"5.4\"\n", &manifest, &init).unwrap();
        (repo, manifest)
    }

    #[test]
    fn packs_when_due_and_keeps_what_no_profile_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, mut manifest) = empty_repo(dir.path());
        let root = dir.path().join("env");
        let mut head = repo.head().unwrap();
        // A commit no profile reaches (as a change that failed before its ref moved leaves).
        let tree = repo.state_tree(head, &manifest).unwrap();
        let orphan = repo
            .commit_object(
                tree,
                &[head],
                &Event::new(EventKind::Sync, vec!["orphan".into()], vec![]),
            )
            .unwrap();
        // Each event a different manifest (the field's value does not matter here).
        for i in 0..3 {
            manifest.lua = format!("5.{i}");
            head = append(&repo, head, &format!("e{i}"), &manifest);
            assert_eq!(repo.pack_if_due(5).unwrap(), None, "packed after {i}");
        }
        assert_eq!(pack_count(&root), 0);
        manifest.lua = "5.3".into();
        head = append(&repo, head, "e3", &manifest);
        let loose_before = loose_count(&root);
        let outcome = repo.pack_if_due(5).unwrap().expect("five unpacked events");
        assert!(outcome.pack.is_file() && outcome.pack.with_extension("idx").is_file());
        // Five commits, their trees and manifests, lvm.toml and .gitignore; the orphan's tree
        // is the first commit's, so only the orphan commit stays loose.
        assert_eq!(outcome.objects, 17);
        assert_eq!(loose_count(&root), loose_before - 17);
        assert_eq!(loose_count(&root), 1);
        assert!(repo.is_loose(orphan), "an unreachable object was deleted");
        assert_eq!(repo.pack_if_due(5).unwrap(), None);
        assert_eq!(repo.pack_if_due(1).unwrap(), None, "nothing left to pack");
        fsck(&root);

        // The same repository object and a fresh one read the packed history.
        assert_eq!(repo.log(head, None).unwrap().len(), 5);
        let reopened = EnvRepo::open(&root).unwrap();
        let lines: Vec<LogLine> = reopened
            .log_lines(head, false)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].summary, "install e3");
        assert_eq!(lines[4].summary, "init");
        assert_eq!(reopened.manifest_at(head).unwrap(), manifest);
        assert!(reopened.git().unwrap().find_commit(orphan).is_ok());

        // The next run packs only what is new, on top of the first pack.
        let before = repo.log(head, None).unwrap();
        for i in 4..6 {
            manifest.lua = format!("6.{i}");
            head = append(&repo, head, &format!("e{i}"), &manifest);
        }
        let outcome = repo.pack_if_due(2).unwrap().expect("two unpacked events");
        assert_eq!(outcome.objects, 6, "two commits, their trees and manifests");
        assert_eq!(pack_count(&root), 2);
        fsck(&root);
        let after = repo.log(head, None).unwrap();
        assert_eq!(after.len(), 7);
        assert_eq!(after[2].commit, before[0].commit);
    }

    fn walk(repo: &EnvRepo, from: Oid, cached: bool) -> Vec<LogLine> {
        let mut walk = repo.log_lines(from, cached);
        let lines = walk.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
        walk.finish();
        lines
    }

    #[test]
    fn the_log_cache_gives_what_the_commits_say_and_follows_new_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, mut manifest) = empty_repo(dir.path());
        let root = dir.path().join("env");
        let mut head = repo.head().unwrap();
        for i in 0..4 {
            manifest.lua = format!("5.{i}");
            head = append(&repo, head, &format!("e{i}"), &manifest);
        }
        let cache = root.join(".git").join(log_index::FILE);
        let direct = walk(&repo, head, false);
        assert!(!cache.exists());
        assert_eq!(walk(&repo, head, true), direct);
        assert!(cache.is_file());
        let written = std::fs::metadata(&cache).unwrap().modified().unwrap();
        assert_eq!(walk(&repo, head, true), direct);
        assert_eq!(
            std::fs::metadata(&cache).unwrap().modified().unwrap(),
            written,
            "a walk that learned nothing rewrote the cache"
        );

        // New events, and a profile whose history the cache has not seen, are read from git.
        manifest.lua = "6.0".into();
        head = append(&repo, head, "with\nline break", &manifest);
        let other_base = direct[2].commit;
        repo.create_profile("other", other_base).unwrap();
        let tree = repo.state_tree(other_base, &manifest).unwrap();
        let other = repo
            .commit_object(
                tree,
                &[other_base],
                &Event::new(EventKind::Install, vec!["o".into()], vec![]),
            )
            .unwrap();
        repo.publish("other", Some(other_base), other, "o").unwrap();
        for from in [head, other] {
            let direct = walk(&repo, from, false);
            assert_eq!(walk(&repo, from, true), direct);
            assert_eq!(walk(&repo, from, true), direct);
        }
        // A subject is one line: the break is written as an escape.
        assert_eq!(
            walk(&repo, head, true)[0].summary,
            "install with\\nline break"
        );
        assert_eq!(walk(&repo, other, true).len(), 4);

        // A damaged cache is ignored, and rewritten.
        std::fs::write(&cache, b"lvm-log-index 1\ntruncated").unwrap();
        assert_eq!(walk(&repo, head, true), walk(&repo, head, false));
        assert!(log_index::parse(&std::fs::read(&cache).unwrap()).is_ok());
    }

    #[test]
    fn commit_time_is_the_event_time() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("env");
        let manifest = Manifest::empty("5.4");
        let mut init = Event::new(EventKind::Init, vec![], vec![]);
        init.timestamp = DateTime::parse_from_rfc3339("2024-02-03T04:05:06.789Z")
            .unwrap()
            .with_timezone(&Utc);
        let repo = EnvRepo::init(&root, "lua = \"5.4\"\n", &manifest, &init).unwrap();
        let head = repo.head().unwrap();
        let line = repo.log_lines(head, false).next().unwrap().unwrap();
        assert_eq!(line.time.to_rfc3339(), "2024-02-03T04:05:06+00:00");
        assert_eq!(line.summary, "init");
        let commit = repo.git().unwrap().find_commit(head).unwrap();
        assert_eq!(commit.time().seconds(), line.time.timestamp());
    }
}
