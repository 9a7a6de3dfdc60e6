//! The environment's git repository: events as commits, profiles as branches.
//!
//! Every event is one commit whose tree holds `manifest.json` and `lvm.toml`; the branch a
//! commit is appended to is the current profile. Appending checks the branch still points where
//! it pointed when the change started, so a concurrent change is detected, never overwritten.
//! Nothing here touches the rocks tree.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature};
use thiserror::Error;

use crate::events::{Event, EventError};
use crate::manifest::{Manifest, ManifestError};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const CONFIG_FILE: &str = "lvm.toml";
/// Everything lvm writes beside its tracked files: the live tree and its directories, the writer
/// lock, scratch space, and the temporary names of atomic writes and switches (left behind only
/// by a crash, and never worth a `git status` line).
pub const GITIGNORE: &str =
    "/tree\n/.trees/\n/logs/\n/.lvm-lock\n/.lvm-tmp/\n/.tmp*\n/.tree.switch-*\n";
pub const DEFAULT_PROFILE: &str = "default";

#[derive(Debug, Error)]
pub enum RepoError {
    #[error("environment repository {path}: {source}")]
    Git {
        path: String,
        #[source]
        source: git2::Error,
    },
    #[error("{path} is not an lvm environment (no git repository); create one with `lvm init`")]
    NotAnEnvironment { path: String },
    #[error("revision '{rev}' not found in the environment's history (see `lvm log`)")]
    UnknownRevision { rev: String },
    #[error("profile '{name}' does not exist (see `lvm profile list`)")]
    UnknownProfile { name: String },
    #[error("profile '{name}' already exists")]
    ProfileExists { name: String },
    #[error(
        "the environment changed while this command ran (profile '{profile}' moved); run it again"
    )]
    Concurrent { profile: String },
    #[error("commit {commit} has no {file}")]
    MissingFile { commit: String, file: String },
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One entry of the history.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub commit: Oid,
    pub event: Event,
}

pub struct EnvRepo {
    repo: Repository,
    root: PathBuf,
}

impl EnvRepo {
    fn git_err(&self, source: git2::Error) -> RepoError {
        RepoError::Git {
            path: self.root.display().to_string(),
            source,
        }
    }

    /// Opens the repository at `root` (the environment directory itself).
    pub fn open(root: &Path) -> Result<EnvRepo, RepoError> {
        let repo = Repository::open(root).map_err(|_| RepoError::NotAnEnvironment {
            path: root.display().to_string(),
        })?;
        Ok(EnvRepo {
            repo,
            root: root.to_path_buf(),
        })
    }

    /// Creates the repository with its first commit (an `init` event).
    pub fn init(
        root: &Path,
        config_text: &str,
        manifest: &Manifest,
        event: &Event,
    ) -> Result<EnvRepo, RepoError> {
        let git_err = |source| RepoError::Git {
            path: root.display().to_string(),
            source,
        };
        let mut opts = git2::RepositoryInitOptions::new();
        opts.initial_head(DEFAULT_PROFILE);
        let repo = Repository::init_opts(root, &opts).map_err(git_err)?;
        let env = EnvRepo {
            repo,
            root: root.to_path_buf(),
        };
        let files: [(&str, &[u8]); 3] = [
            (".gitignore", GITIGNORE.as_bytes()),
            (CONFIG_FILE, config_text.as_bytes()),
            (MANIFEST_FILE, &manifest.to_bytes()),
        ];
        let tree = env.tree_with(None, &files)?;
        let commit = env.commit(&tree, &[], &event.to_commit_message())?;
        env.repo
            .reference(
                &format!("refs/heads/{DEFAULT_PROFILE}"),
                commit,
                false,
                "lvm init",
            )
            .map_err(git_err)?;
        env.write_worktree(&files)?;
        Ok(env)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn git(&self) -> &Repository {
        &self.repo
    }

    /// The current profile (the branch HEAD points at).
    pub fn current_profile(&self) -> Result<String, RepoError> {
        let head = self
            .repo
            .find_reference("HEAD")
            .map_err(|e| self.git_err(e))?;
        let target = head
            .symbolic_target_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| format!("refs/heads/{DEFAULT_PROFILE}"));
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

    pub fn profile_head(&self, profile: &str) -> Result<Oid, RepoError> {
        let reference = self
            .repo
            .find_reference(&format!("refs/heads/{profile}"))
            .map_err(|_| RepoError::UnknownProfile {
                name: profile.to_string(),
            })?;
        reference.target().ok_or_else(|| RepoError::UnknownProfile {
            name: profile.to_string(),
        })
    }

    /// Reads a file of a commit's tree.
    pub fn read_file(&self, commit: Oid, file: &str) -> Result<Vec<u8>, RepoError> {
        let commit_obj = self.repo.find_commit(commit).map_err(|e| self.git_err(e))?;
        let tree = commit_obj.tree().map_err(|e| self.git_err(e))?;
        let entry = tree
            .get_path(Path::new(file))
            .map_err(|_| RepoError::MissingFile {
                commit: commit.to_string(),
                file: file.into(),
            })?;
        let blob = self
            .repo
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

    /// Resolves a revision: a commit id (or prefix), `HEAD~N`, a profile name, or any git rev.
    pub fn resolve_rev(&self, rev: &str) -> Result<Oid, RepoError> {
        if self
            .repo
            .find_reference(&format!("refs/heads/{rev}"))
            .is_ok()
        {
            return self.profile_head(rev);
        }
        let object = self
            .repo
            .revparse_single(rev)
            .map_err(|_| RepoError::UnknownRevision { rev: rev.into() })?;
        object
            .peel_to_commit()
            .map(|c| c.id())
            .map_err(|_| RepoError::UnknownRevision { rev: rev.into() })
    }

    /// The events of the current profile, newest first, following first parents.
    pub fn log(&self, from: Oid, limit: Option<usize>) -> Result<Vec<LoggedEvent>, RepoError> {
        let mut walk = self.repo.revwalk().map_err(|e| self.git_err(e))?;
        walk.push(from).map_err(|e| self.git_err(e))?;
        walk.simplify_first_parent().map_err(|e| self.git_err(e))?;
        let mut out = Vec::new();
        for oid in walk {
            if limit.is_some_and(|n| out.len() >= n) {
                break;
            }
            let oid = oid.map_err(|e| self.git_err(e))?;
            let commit = self.repo.find_commit(oid).map_err(|e| self.git_err(e))?;
            let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
            let event = Event::from_commit_message(&message, &oid.to_string())?;
            out.push(LoggedEvent { commit: oid, event });
        }
        Ok(out)
    }

    /// Appends an event as a commit on the current profile, expecting the profile to still point
    /// at `expected_head`; writes the new manifest into the working directory.
    pub fn append(
        &self,
        expected_head: Oid,
        event: &Event,
        manifest: &Manifest,
        extra_parent: Option<Oid>,
    ) -> Result<Oid, RepoError> {
        let profile = self.current_profile()?;
        let tree = self.state_tree(expected_head, manifest)?;
        let mut parents = vec![expected_head];
        parents.extend(extra_parent);
        let commit = self.commit_object(tree, &parents, event)?;
        self.publish(&profile, Some(expected_head), commit, &event.summary())?;
        self.sync_worktree(self.head()?)?;
        Ok(commit)
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
        let bytes = manifest.to_bytes();
        let mut files: Vec<(&str, &[u8])> = vec![(MANIFEST_FILE, &bytes)];
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
        self.commit(&tree, parents, &event.to_commit_message())
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
        let name = format!("refs/heads/{profile}");
        let result = match expected {
            Some(old) => self
                .repo
                .reference_matching(&name, commit, true, old, summary)
                .map(|_| ()),
            None => self
                .repo
                .reference(&name, commit, false, summary)
                .map(|_| ()),
        };
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

    /// The commit a profile points at, or `None` when there is no such profile.
    pub fn try_profile_head(&self, profile: &str) -> Option<Oid> {
        self.repo
            .find_reference(&format!("refs/heads/{profile}"))
            .ok()
            .and_then(|r| r.target())
    }

    /// Removes lock files a killed git operation left in the repository. Only call this while
    /// holding the environment's writer lock: lvm is then the only writer.
    pub fn remove_stale_git_locks(&self) {
        let git_dir = self.repo.path().to_path_buf();
        let mut candidates = vec![
            git_dir.join("index.lock"),
            git_dir.join("HEAD.lock"),
            git_dir.join("packed-refs.lock"),
            git_dir.join("config.lock"),
        ];
        for entry in walkdir::WalkDir::new(git_dir.join("refs"))
            .into_iter()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "lock") {
                candidates.push(entry.path().to_path_buf());
            }
        }
        for path in candidates {
            if path.is_file() {
                tracing::warn!("removing {} left by an interrupted change", path.display());
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Makes the files of the working directory (and the index) match a commit, so `git status`
    /// is clean. Only lvm's own tracked files are written; the rocks tree is never checked out.
    pub fn sync_worktree(&self, commit: Oid) -> Result<(), RepoError> {
        let mut files = Vec::new();
        for name in [".gitignore", CONFIG_FILE, MANIFEST_FILE] {
            if let Ok(bytes) = self.read_file(commit, name) {
                files.push((name, bytes));
            }
        }
        let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        self.write_worktree(&borrowed)
    }

    fn write_worktree(&self, files: &[(&str, &[u8])]) -> Result<(), RepoError> {
        for (name, bytes) in files {
            let path = self.root.join(name);
            if std::fs::read(&path).ok().as_deref() == Some(*bytes) {
                continue;
            }
            crate::fsutil::write_atomic(&path, bytes).map_err(|source| RepoError::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        let mut index = self.repo.index().map_err(|e| self.git_err(e))?;
        let head = self.head()?;
        let tree = self
            .repo
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
                self.repo
                    .find_commit(c)
                    .and_then(|c| c.tree())
                    .map_err(|e| self.git_err(e))?,
            ),
            None => None,
        };
        let mut builder = self
            .repo
            .treebuilder(base_tree.as_ref())
            .map_err(|e| self.git_err(e))?;
        for (name, bytes) in files {
            let blob = self.repo.blob(bytes).map_err(|e| self.git_err(e))?;
            builder
                .insert(name, blob, 0o100644)
                .map_err(|e| self.git_err(e))?;
        }
        builder.write().map_err(|e| self.git_err(e))
    }

    fn commit(&self, tree: &Oid, parents: &[Oid], message: &str) -> Result<Oid, RepoError> {
        let tree = self.repo.find_tree(*tree).map_err(|e| self.git_err(e))?;
        let signature = self
            .repo
            .signature()
            .or_else(|_| Signature::now("lvm", "lvm@localhost"))
            .map_err(|e| self.git_err(e))?;
        let parent_commits = parents
            .iter()
            .map(|p| self.repo.find_commit(*p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.git_err(e))?;
        let parent_refs: Vec<&git2::Commit> = parent_commits.iter().collect();
        self.repo
            .commit(None, &signature, &signature, message, &tree, &parent_refs)
            .map_err(|e| self.git_err(e))
    }

    /// Profiles (branches), sorted.
    pub fn profiles(&self) -> Result<Vec<String>, RepoError> {
        let mut names = Vec::new();
        let branches = self
            .repo
            .branches(Some(git2::BranchType::Local))
            .map_err(|e| self.git_err(e))?;
        for branch in branches {
            let (branch, _) = branch.map_err(|e| self.git_err(e))?;
            if let Some(name) = branch.name().map_err(|e| self.git_err(e))? {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Creates a profile branch at `at`.
    pub fn create_profile(&self, name: &str, at: Oid) -> Result<(), RepoError> {
        if self
            .repo
            .find_reference(&format!("refs/heads/{name}"))
            .is_ok()
        {
            return Err(RepoError::ProfileExists { name: name.into() });
        }
        let commit = self.repo.find_commit(at).map_err(|e| self.git_err(e))?;
        self.repo
            .branch(name, &commit, false)
            .map_err(|e| self.git_err(e))?;
        Ok(())
    }

    /// Deletes a profile branch.
    pub fn delete_profile(&self, name: &str) -> Result<(), RepoError> {
        let mut branch = self
            .repo
            .find_branch(name, git2::BranchType::Local)
            .map_err(|_| RepoError::UnknownProfile { name: name.into() })?;
        branch.delete().map_err(|e| self.git_err(e))
    }

    /// Points HEAD at another profile (does not touch the rocks tree).
    pub fn set_current_profile(&self, name: &str) -> Result<(), RepoError> {
        self.profile_head(name)?;
        self.repo
            .set_head(&format!("refs/heads/{name}"))
            .map_err(|e| self.git_err(e))
    }
}

/// The first ten hex digits of a commit id.
pub fn short(oid: Oid) -> String {
    oid.to_string()[..10].to_string()
}
