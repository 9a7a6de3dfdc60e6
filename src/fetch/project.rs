//! Sources from a project directory (`lvm make`, `lvm link`): its rockspec, its git state,
//! a snapshot of its files to build in, and which of them the build copies verbatim.
//!
//! The snapshot keeps objects and build products out of the working directory; its hash goes
//! into the store key, so a rebuild after an edit is a new store entry. The files the build
//! copies verbatim are recorded in the store entry ([`LINKED_FILES_KEY`](crate::tree::links::LINKED_FILES_KEY)), so a linked package's
//! tree can hold symlinks to them ([`crate::tree::links`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::{fs, io};

use thiserror::Error;

use crate::build::{self, Plan};
use crate::manifest::{Package, PackageSource};
use crate::rockspec::{BuildType, Install, Rockspec, RockspecError, RockspecFormat};
use crate::tree::files::FsError;
use crate::tree::links::{is_contained, rel_string};

/// Folders of a project that are never part of its build: version control, environments and
/// rocks trees kept inside it.
pub const SKIPPED_DIRS: [&str; 4] = [".git", ".lvm", "lua_modules", ".luarocks"];

/// Where rockspecs are looked for, after the project's top folder.
const ROCKSPEC_DIRS: [&str; 2] = ["rockspec", "rockspecs"];

#[derive(Debug, Error)]
pub enum ProjectError {
    #[error(
        "no .rockspec file in {} (nor in its rockspec/ or rockspecs/ folder); write one, or name it: `lvm {command} path/to/NAME-VERSION.rockspec`",
        dir.display()
    )]
    NoRockspec { dir: PathBuf, command: &'static str },
    #[error(
        "{} holds several rockspecs: {}; name the one to use, e.g. `{example}`",
        dir.display(), candidates.join(", ")
    )]
    SeveralRockspecs {
        dir: PathBuf,
        candidates: Vec<String>,
        /// A command that works: `lvm make NAME.rockspec` (run in the directory) or
        /// `lvm link DIR/NAME.rockspec`.
        example: String,
    },
    #[error(
        "{} is neither a directory nor a .rockspec file; `lvm link` takes the project directory that holds the rockspec, or the rockspec itself",
        path.display()
    )]
    NotADirectory { path: PathBuf },
    #[error(
        "the rockspec {} is not inside the project directory {}; run `lvm make` from the directory that holds the sources",
        rockspec.display(), dir.display()
    )]
    RockspecOutside { rockspec: PathBuf, dir: PathBuf },
    #[error(
        "{name} {version} was built from {path}, which does not exist on this machine; put the project there (then run `lvm sync` again), or remove the package (`lvm remove {name}`)"
    )]
    PathGone {
        name: String,
        version: String,
        path: String,
    },
    #[error(
        "{name} {version}: the files in {path} are not those `lvm make` built ({recorded}); restore them, or run `lvm make` in {path} to record the current files"
    )]
    InputsChanged {
        name: String,
        version: String,
        path: String,
        recorded: String,
    },
    #[error(
        "{file} now describes {found}, not {name} {version}; run `lvm make` or `lvm link` there again to record it"
    )]
    DifferentPackage {
        file: String,
        found: String,
        name: String,
        version: String,
    },
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
    #[error("cannot read the git state of {}: {message}", path.display())]
    Git { path: PathBuf, message: String },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Rockspec(#[from] RockspecError),
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error(transparent)]
    Tree(#[from] crate::tree::TreeError),
    #[error(
        "{name} {version} was not built from a project directory (it was installed from {source_text})"
    )]
    NotLocal {
        name: String,
        version: String,
        source_text: String,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ProjectError + 'a {
    move |source| ProjectError::Io {
        action,
        path: path.to_path_buf(),
        cause: source,
    }
}

/// `lvm make` or `lvm link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevMode {
    Make,
    Link,
}

impl DevMode {
    fn command(self) -> &'static str {
        match self {
            DevMode::Make => "make",
            DevMode::Link => "link",
        }
    }
}

/// The commit a git checkout is at, and whether it has changes not committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    pub commit: String,
    pub dirty: bool,
}

/// A project directory to build, with its rockspec.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalTarget {
    /// The project directory (absolute).
    pub dir: PathBuf,
    /// The rockspec's path relative to `dir`.
    pub rockspec: String,
    pub mode: DevMode,
    /// For `make`: the git state recorded with the build.
    pub git: Option<GitState>,
}

/// A project file that the build copies verbatim into the rock prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkCandidate {
    /// Where the build puts it, relative to the rock prefix (`lua/a/b.lua`).
    pub prefix_rel: String,
    /// Where it is in the project (`src/a/b.lua`).
    pub source_rel: String,
    /// sha256 of its contents when the snapshot was taken.
    pub sha256: String,
}

/// A project snapshot ready to build.
#[derive(Debug)]
pub struct Prepared {
    pub text: String,
    pub rockspec: Rockspec,
    pub source: PackageSource,
    /// The copy of the project's files to build in.
    pub build_dir: PathBuf,
    /// sha256 over the snapshot's files.
    pub inputs_sha256: String,
    pub links: Vec<LinkCandidate>,
}

/// The rockspecs directly in `dir` (file names, sorted).
fn rockspecs_in(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".rockspec"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The project's rockspec, relative to `dir`: the single one at the top, else the single one in
/// `rockspec/` or `rockspecs/`; several at the same level is an error that lists them.
pub fn find_rockspec(dir: &Path, mode: DevMode) -> Result<String, ProjectError> {
    let several = |candidates: Vec<String>| {
        let first = candidates.first().cloned().unwrap_or_default();
        // `lvm make` runs in the project directory; `lvm link` takes the rockspec's path.
        let example = match mode {
            DevMode::Make => format!("lvm make {first}"),
            DevMode::Link => format!("lvm link {}", dir.join(&first).display()),
        };
        ProjectError::SeveralRockspecs {
            dir: dir.to_path_buf(),
            candidates,
            example,
        }
    };
    let mut top = rockspecs_in(dir);
    match top.len() {
        1 => return Ok(top.remove(0)),
        0 => {}
        _ => return Err(several(top)),
    }
    let mut nested: Vec<String> = ROCKSPEC_DIRS
        .iter()
        .flat_map(|sub| {
            rockspecs_in(&dir.join(sub))
                .into_iter()
                .map(move |f| format!("{sub}/{f}"))
        })
        .collect();
    match nested.len() {
        1 => Ok(nested.remove(0)),
        0 => Err(ProjectError::NoRockspec {
            dir: dir.to_path_buf(),
            command: mode.command(),
        }),
        _ => Err(several(nested)),
    }
}

/// Whether `rel` (project-relative, `/`-separated) is in a folder that is never built.
fn is_skipped(rel: &str) -> bool {
    rel.split('/')
        .next()
        .is_some_and(|top| SKIPPED_DIRS.contains(&top))
}

/// The commit a project directory's git checkout is at and whether anything in the directory
/// differs from it (modified, staged, deleted or untracked files that are not ignored); `None`
/// outside a git checkout.
pub fn git_state(dir: &Path) -> Result<Option<GitState>, ProjectError> {
    let git_err = |e: git2::Error| ProjectError::Git {
        path: dir.to_path_buf(),
        message: e.message().to_string(),
    };
    let repo = match git2::Repository::discover(dir) {
        Ok(r) => r,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git_err(e)),
    };
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let workdir = fs::canonicalize(workdir).map_err(io_err("resolve", workdir))?;
    let inside = dir
        .strip_prefix(&workdir)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let commit = match repo.head().ok().and_then(|h| h.peel_to_commit().ok()) {
        Some(c) => c.id().to_string(),
        // A repository without commits: nothing is recorded yet, so everything is a change.
        None => return Ok(None),
    };
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(false);
    if !inside.is_empty() {
        opts.pathspec(format!("{inside}/"));
    }
    let statuses = repo.statuses(Some(&mut opts)).map_err(git_err)?;
    let dirty = statuses.iter().any(|entry| {
        let path = entry.path().unwrap_or_default();
        let rel = path
            .strip_prefix(&inside)
            .map(|p| p.trim_start_matches('/'))
            .unwrap_or(path);
        entry.status() != git2::Status::CURRENT
            && !entry.status().contains(git2::Status::IGNORED)
            && !is_skipped(rel)
    });
    Ok(Some(GitState { commit, dirty }))
}

/// The project files that go into a build: every file below `dir` except the folders in
/// [`SKIPPED_DIRS`] and, in a git checkout, ignored files. Relative paths, sorted.
fn project_files(dir: &Path) -> Result<Vec<String>, ProjectError> {
    let repo = git2::Repository::discover(dir).ok();
    let workdir = repo
        .as_ref()
        .and_then(|r| r.workdir())
        .and_then(|w| fs::canonicalize(w).ok());
    let ignored = |path: &Path| -> bool {
        match (&repo, &workdir) {
            (Some(repo), Some(w)) => path
                .strip_prefix(w)
                .ok()
                .is_some_and(|rel| repo.is_path_ignored(rel).unwrap_or(false)),
            _ => false,
        }
    };
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            !is_skipped(&rel) && !ignored(e.path())
        });
    for entry in walker {
        let entry = entry.map_err(|e| crate::tree::files::walk_error(e, dir))?;
        // Symlinks count when they lead to a file; the build reads through them.
        let is_file = entry.file_type().is_file()
            || (entry.file_type().is_symlink() && entry.path().is_file());
        if !is_file {
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(dir) {
            files.push(rel.to_string_lossy().into_owned());
        }
    }
    files.sort();
    Ok(files)
}

/// Copies the project's build inputs into `dest` (modes kept).
fn copy_project(dir: &Path, dest: &Path) -> Result<(), ProjectError> {
    for rel in project_files(dir)? {
        let to = dest.join(&rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        let from = dir.join(&rel);
        fs::copy(&from, &to).map_err(io_err("copy", &from))?;
    }
    Ok(())
}

/// Reads what a command names: the project directory (absolute) and its rockspec. With
/// `rockspec`, it must be inside `dir`.
pub fn target(
    dir: &Path,
    rockspec: Option<&Path>,
    mode: DevMode,
) -> Result<LocalTarget, ProjectError> {
    if !dir.is_dir() {
        return Err(ProjectError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let dir = fs::canonicalize(dir).map_err(io_err("resolve", dir))?;
    let rockspec = match rockspec {
        None => find_rockspec(&dir, mode)?,
        Some(given) => {
            let absolute = fs::canonicalize(given).map_err(io_err("read", given))?;
            absolute
                .strip_prefix(&dir)
                .map(|rel| rel.to_string_lossy().into_owned())
                .map_err(|_| ProjectError::RockspecOutside {
                    rockspec: absolute.clone(),
                    dir: dir.clone(),
                })?
        }
    };
    let git = match mode {
        DevMode::Make => git_state(&dir)?,
        DevMode::Link => None,
    };
    Ok(LocalTarget {
        dir,
        rockspec,
        mode,
        git,
    })
}

/// The target of `lvm link PATH`: PATH is the project directory, or one of its rockspecs (at
/// its top or in its `rockspec/` or `rockspecs/` folder), which picks that rockspec when the
/// project has several.
pub fn link_target(path: &Path) -> Result<LocalTarget, ProjectError> {
    let is_rockspec = path.is_file() && path.extension().is_some_and(|e| e == "rockspec");
    if !is_rockspec {
        return target(path, None, DevMode::Link);
    }
    let absolute = fs::canonicalize(path).map_err(io_err("resolve", path))?;
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let in_rockspec_dir = parent
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| ROCKSPEC_DIRS.contains(&n));
    let dir = match parent.parent() {
        Some(grandparent) if in_rockspec_dir => grandparent,
        _ => parent,
    };
    target(dir, Some(&absolute), DevMode::Link)
}

/// The rockspec of a target, as text and parsed.
pub fn read_rockspec(target: &LocalTarget) -> Result<(String, Rockspec), ProjectError> {
    let path = target.dir.join(&target.rockspec);
    let file = path.display().to_string();
    let text = fs::read_to_string(&path).map_err(|source| RockspecError::Io {
        file: file.clone(),
        cause: source,
    })?;
    let rockspec = Rockspec::from_lua(&text, &file)?;
    Ok((text, rockspec))
}

/// Snapshots the project into a fresh folder under `scratch` and says what the build records.
pub fn prepare(target: &LocalTarget, scratch: &Path) -> Result<Prepared, ProjectError> {
    let (text, rockspec) = read_rockspec(target)?;
    let build_dir = tempfile::Builder::new()
        .prefix("local-")
        .tempdir_in(scratch)
        .map_err(io_err("create a build folder in", scratch))?
        .keep();
    copy_project(&target.dir, &build_dir)?;
    let inputs_sha256 = crate::tree::hash_tree_files(&build_dir)?;
    let links = link_candidates(&rockspec, &build_dir)?;
    let path = target.dir.display().to_string();
    let rockspec_sha256 = crate::digest::sha256_bytes(text.as_bytes());
    let source = match target.mode {
        DevMode::Make => PackageSource::Local {
            path,
            rockspec: target.rockspec.clone(),
            rockspec_sha256,
            inputs_sha256: inputs_sha256.clone(),
            commit: target.git.as_ref().map(|g| g.commit.clone()),
            dirty: target.git.as_ref().map(|g| g.dirty),
        },
        DevMode::Link => PackageSource::Linked {
            path,
            rockspec: target.rockspec.clone(),
            rockspec_sha256,
        },
    };
    Ok(Prepared {
        text,
        rockspec,
        source,
        build_dir,
        inputs_sha256,
        links,
    })
}

/// Snapshots the project a recorded `local` or `linked` package came from, to rebuild it (e.g.
/// on another machine). A `make` build must find exactly the files it was made from; a linked
/// one takes the files as they are now (they are meant to change).
pub fn prepare_recorded(
    name: &str,
    package: &Package,
    scratch: &Path,
) -> Result<Prepared, ProjectError> {
    let (path, rockspec, mode) = match &package.source {
        PackageSource::Local { path, rockspec, .. } => (path, rockspec, DevMode::Make),
        PackageSource::Linked { path, rockspec, .. } => (path, rockspec, DevMode::Link),
        other => {
            return Err(ProjectError::NotLocal {
                name: name.to_string(),
                version: package.version.to_string(),
                source_text: other.describe(),
            });
        }
    };
    let dir = PathBuf::from(path);
    if !dir.is_dir() {
        return Err(ProjectError::PathGone {
            name: name.to_string(),
            version: package.version.to_string(),
            path: path.clone(),
        });
    }
    let target = LocalTarget {
        dir,
        rockspec: rockspec.clone(),
        mode,
        git: None,
    };
    let mut prepared = prepare(&target, scratch)?;
    if prepared.rockspec.package != name || prepared.rockspec.version != package.version {
        return Err(ProjectError::DifferentPackage {
            file: format!("{path}/{rockspec}"),
            found: format!(
                "{} {}",
                prepared.rockspec.package, prepared.rockspec.version
            ),
            name: name.to_string(),
            version: package.version.to_string(),
        });
    }
    if let PackageSource::Local {
        rockspec_sha256,
        inputs_sha256,
        commit,
        dirty,
        ..
    } = &package.source
    {
        let now_rockspec = crate::digest::sha256_bytes(prepared.text.as_bytes());
        if *inputs_sha256 != prepared.inputs_sha256 || *rockspec_sha256 != now_rockspec {
            let recorded = match (commit, dirty) {
                (Some(c), Some(true)) => format!("commit {c} with uncommitted changes"),
                (Some(c), _) => format!("commit {c}"),
                (None, _) => format!("files hashing to {inputs_sha256}"),
            };
            return Err(ProjectError::InputsChanged {
                name: name.to_string(),
                version: package.version.to_string(),
                path: path.clone(),
                recorded,
            });
        }
    }
    prepared.source = package.source.clone();
    Ok(prepared)
}

/// The project files a build of `rockspec` in `dir` copies verbatim into the rock prefix, as
/// the build back-ends place them: `builtin` Lua modules (listed, or autodetected for format
/// 3.0), the top-level `lua/` folder, then `build.install.lua` and `build.install.bin`.
pub fn link_candidates(
    rockspec: &Rockspec,
    dir: &Path,
) -> Result<Vec<LinkCandidate>, ProjectError> {
    let build = &rockspec.build;
    let mut by_dest: BTreeMap<String, String> = BTreeMap::new();
    let mut install_bin = build.install.bin.clone();
    if build.kind == BuildType::Builtin {
        let mut modules = build.modules.clone();
        if modules.is_empty() && rockspec.format == RockspecFormat::V3_0 {
            let detected = build::autodetect_modules(dir, &[], &[], &[]);
            modules = detected.modules;
            if build.install == Install::default() {
                install_bin = detected.bin;
            }
        }
        for (name, module) in &modules {
            if let Ok(Plan::Lua { source, dest }) = build::plan_module(name, module) {
                by_dest.insert(rel_string(&dest), source);
            }
        }
        let lua_dir = dir.join("lua");
        if lua_dir.is_dir() {
            for entry in walkdir::WalkDir::new(&lua_dir).into_iter().flatten() {
                if entry.file_type().is_file()
                    && let Ok(rel) = entry.path().strip_prefix(dir)
                {
                    let rel = rel_string(rel);
                    by_dest.insert(rel.clone(), rel);
                }
            }
        }
    }
    for (kind, entries) in [("lua", &build.install.lua), ("bin", &install_bin)] {
        for entry in entries {
            let field = format!("build.install.{kind}");
            if let Ok(dest) = build::install_destination(kind, entry, &field) {
                by_dest.insert(rel_string(&dest), entry.path.clone());
            }
        }
    }
    let mut out = Vec::new();
    for (prefix_rel, source_rel) in by_dest {
        let source_rel = source_rel.trim_start_matches("./").to_string();
        let path = dir.join(&source_rel);
        if !is_contained(&source_rel) || !path.is_file() {
            continue;
        }
        let (sha256, _) = crate::tree::files::sha256_file(&path)?;
        out.push(LinkCandidate {
            prefix_rel,
            source_rel,
            sha256,
        });
    }
    Ok(out)
}

/// The [`LINKED_FILES_KEY`](crate::tree::links::LINKED_FILES_KEY) record of a finished build in `prefix`: the candidates whose file
/// in the prefix is still byte for byte the project's file (a Makefile may have installed
/// something else under the same name).
pub fn linked_files_record(
    candidates: &[LinkCandidate],
    prefix: &Path,
) -> Result<String, ProjectError> {
    let mut map = BTreeMap::new();
    for c in candidates {
        let built = prefix.join(&c.prefix_rel);
        if built.is_file() && crate::tree::files::sha256_file(&built)?.0 == c.sha256 {
            map.insert(c.prefix_rel.clone(), c.source_rel.clone());
        }
    }
    Ok(serde_json::to_string(&map).unwrap_or_else(|_| "{}".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_the_single_rockspec_top_first_then_in_rockspecs() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_rockspec(dir.path(), DevMode::Make).unwrap_err();
        assert!(matches!(err, ProjectError::NoRockspec { .. }), "{err}");
        write(&dir.path().join("rockspecs/a-1.0-1.rockspec"), "");
        assert_eq!(
            find_rockspec(dir.path(), DevMode::Make).unwrap(),
            "rockspecs/a-1.0-1.rockspec"
        );
        write(&dir.path().join("rockspec/a-2.0-1.rockspec"), "");
        let err = find_rockspec(dir.path(), DevMode::Link)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rockspec/a-2.0-1.rockspec")
                && err.contains("rockspecs/a-1.0-1.rockspec")
                && err.contains("lvm link"),
            "{err}"
        );
        write(&dir.path().join("a-scm-1.rockspec"), "");
        assert_eq!(
            find_rockspec(dir.path(), DevMode::Make).unwrap(),
            "a-scm-1.rockspec"
        );
        write(&dir.path().join("b-scm-1.rockspec"), "");
        let err = find_rockspec(dir.path(), DevMode::Make)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a-scm-1.rockspec, b-scm-1.rockspec") && err.contains("lvm make"),
            "{err}"
        );
    }

    #[test]
    fn skipped_folders() {
        assert!(is_skipped(".git/config") && is_skipped(".lvm") && !is_skipped("src/.git"));
    }

    #[test]
    fn link_candidates_follow_the_builtin_layout() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("src/a.lua"), "return 1");
        write(&dir.path().join("src/a/init.lua"), "return 2");
        write(&dir.path().join("lua/extra/x.lua"), "return 3");
        write(&dir.path().join("scripts/tool"), "print(1)");
        write(&dir.path().join("c/core.c"), "int x;");
        let text = r#"
            package = "a"
            version = "1.0-1"
            source = { url = "git+https://example.invalid/a" }
            build = {
              type = "builtin",
              modules = { a = "src/a.lua", ["a.sub"] = "src/a/init.lua", ["a.core"] = "c/core.c",
                          gone = "src/gone.lua" },
              install = { bin = { tool = "scripts/tool" } },
            }
        "#;
        let rockspec = Rockspec::from_lua(text, "a-1.0-1.rockspec").unwrap();
        let found: Vec<(String, String)> = link_candidates(&rockspec, dir.path())
            .unwrap()
            .into_iter()
            .map(|c| (c.prefix_rel, c.source_rel))
            .collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            found,
            vec![
                pair("bin/tool", "scripts/tool"),
                pair("lua/a.lua", "src/a.lua"),
                pair("lua/a/sub/init.lua", "src/a/init.lua"),
                pair("lua/extra/x.lua", "lua/extra/x.lua"),
            ]
        );
    }

    #[test]
    fn git_state_sees_commits_edits_and_untracked_files_but_not_ignored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(git_state(&root).unwrap(), None);
        let repo = git2::Repository::init(&root).unwrap();
        write(&root.join(".gitignore"), "*.o\n");
        write(&root.join("a.lua"), "return 1");
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@localhost").unwrap();
        let commit = repo
            .commit(Some("HEAD"), &sig, &sig, "c", &tree, &[])
            .unwrap();
        let clean = git_state(&root).unwrap().unwrap();
        assert_eq!(clean.commit, commit.to_string());
        assert!(!clean.dirty);
        write(&root.join("x.o"), "obj");
        fs::create_dir_all(root.join(".lvm/.git")).unwrap();
        assert!(!git_state(&root).unwrap().unwrap().dirty);
        assert_eq!(project_files(&root).unwrap(), vec![".gitignore", "a.lua"]);
        write(&root.join("new.lua"), "return 2");
        assert!(git_state(&root).unwrap().unwrap().dirty);
    }
}
