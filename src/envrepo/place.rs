//! Where an environment's events live: its own repository (standalone), or the repository of
//! the project whose `.lvm/` folder it is. Ref names, lvm's private folder, the working files
//! lvm writes and where a commit's state is read all follow from it (see `docs/projects.md`).

use std::path::{Path, PathBuf};

use super::{CONFIG_FILE, MANIFEST_FILE};

/// The folder of a project environment, at the top of the project's work tree.
pub const PROJECT_ENV_DIR: &str = ".lvm";

/// Which kind of repository holds an environment's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The environment's own repository: profiles are branches, `HEAD` is the current profile,
    /// and the working files (with the index) follow the head.
    Standalone,
    /// The repository of a project: profiles are refs under `refs/lvm/profiles/`, the current
    /// profile is a file of lvm's private folder, and the user's `HEAD`, index and branches are
    /// never touched. The committed `.lvm/manifest.json` is the project's desired state.
    Project,
}

impl Place {
    /// The namespace of profile refs.
    pub fn profiles_prefix(self) -> &'static str {
        match self {
            Place::Standalone => "refs/heads/",
            Place::Project => "refs/lvm/profiles/",
        }
    }

    /// The ref of profile `name`.
    pub fn profile_ref(self, name: &str) -> String {
        format!("{}{name}", self.profiles_prefix())
    }

    /// The namespace of tags.
    pub fn tags_prefix(self) -> &'static str {
        match self {
            Place::Standalone => "refs/tags/",
            Place::Project => "refs/lvm/tags/",
        }
    }

    /// Where the profiles `remote` had at the last fetch are kept.
    pub fn remote_profiles_prefix(self, remote: &str) -> String {
        match self {
            Place::Standalone => format!("refs/remotes/{remote}/"),
            Place::Project => format!("refs/lvm-remotes/{remote}/profiles/"),
        }
    }

    /// Where the tags `remote` had at the last fetch are kept: beside its profiles, so a push
    /// knows which tags the remote lacks and a pull which ones this environment lacks, without
    /// touching the local tags.
    pub fn remote_tags_prefix(self, remote: &str) -> String {
        match self {
            Place::Standalone => format!("refs/remote-tags/{remote}/"),
            Place::Project => format!("refs/lvm-remotes/{remote}/tags/"),
        }
    }

    /// lvm's private folder (journal, state lock, log cache, bisection, and in a project the
    /// current profile), given the git directory of the work tree.
    pub fn private_dir(self, git_dir: &Path) -> PathBuf {
        match self {
            Place::Standalone => git_dir.to_path_buf(),
            Place::Project => git_dir.join("lvm"),
        }
    }

    /// The files of a head commit lvm writes into the environment's folder after a change.
    pub fn work_files(self) -> &'static [&'static str] {
        match self {
            Place::Standalone => &[".gitignore", CONFIG_FILE, MANIFEST_FILE],
            Place::Project => &[CONFIG_FILE, MANIFEST_FILE],
        }
    }

    /// Whether the working files are the user's desired state, which only a change the user
    /// asks for rewrites: a project's committed files stay as git left them through recovery
    /// and through a pull that moves lvm's history under them.
    pub fn keeps_work_files(self) -> bool {
        self == Place::Project
    }

    /// The path, from the top of the repository, of the `manifest.json` git merges.
    pub fn manifest_path(self) -> String {
        match self {
            Place::Standalone => MANIFEST_FILE.to_string(),
            Place::Project => format!("{PROJECT_ENV_DIR}/{MANIFEST_FILE}"),
        }
    }
}

/// What `.lvm/.gitignore` of a project says: everything lvm keeps there is ignored but the two
/// files the project commits (the file ignores itself, so `git status` shows those two only).
pub const PROJECT_GITIGNORE: &str = "# Written by lvm: only manifest.json and lvm.toml belong to the project.\n*\n!/manifest.json\n!/lvm.toml\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_names_are_git_s_and_project_names_are_lvm_s() {
        let s = Place::Standalone;
        assert_eq!(s.profile_ref("dev"), "refs/heads/dev");
        assert_eq!(s.remote_profiles_prefix("origin"), "refs/remotes/origin/");
        assert_eq!(s.private_dir(Path::new("/e/.git")), Path::new("/e/.git"));
        let p = Place::Project;
        assert_eq!(p.profile_ref("dev"), "refs/lvm/profiles/dev");
        assert_eq!(p.tags_prefix(), "refs/lvm/tags/");
        assert_eq!(
            p.remote_tags_prefix("origin"),
            "refs/lvm-remotes/origin/tags/"
        );
        assert_eq!(
            p.private_dir(Path::new("/p/.git")),
            Path::new("/p/.git/lvm")
        );
        assert_eq!(p.manifest_path(), ".lvm/manifest.json");
        // No project ref falls under the documented refspec's source but lvm's own.
        assert!(!p.remote_profiles_prefix("o").starts_with("refs/lvm/"));
    }
}
