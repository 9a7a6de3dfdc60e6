//! Install targets: what the user typed (`name`, `name >= 1.0`, `x.rockspec`, a git URL or
//! checkout) read into [`Target`]s, and the arguments an event records for them.

use std::path::{Path, PathBuf};

use crate::fetch;
use crate::ops::{Error, Result};
use crate::version::{Constraints, Dependency};

/// One thing the user asked to install.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Package(Dependency),
    Rockspec(PathBuf),
    /// A rockspec to download (`https://host/foo-1.0-1.rockspec`).
    RockspecUrl(String),
    /// A rock file: a `.src.rock`, or a binary rock (`.all.rock`, `.linux-x86_64.rock`).
    Rock(PathBuf),
    /// A rock file to download (`https://host/foo-1.0-1.src.rock`).
    RockUrl(String),
    Git(fetch::git::GitSpec),
    /// A project directory built from its files as they are (`lvm make`, `lvm link`).
    Local(crate::fetch::project::LocalTarget),
    /// A build variable given as `NAME=VALUE` (`OPENSSL_DIR=/opt/ssl`), LuaRocks' syntax: it
    /// applies to every build of the command.
    Variable {
        name: String,
        value: String,
    },
}

/// The build variables among `targets`, by name (a later one wins).
pub fn variables_of(targets: &[Target]) -> std::collections::BTreeMap<String, String> {
    targets
        .iter()
        .filter_map(|t| match t {
            Target::Variable { name, value } => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

/// Splits command arguments into build variables (`NAME=VALUE` that is not an existing path)
/// and the rest, each in the order given.
pub fn split_variables(args: &[String]) -> (Vec<Target>, Vec<String>) {
    let mut variables = Vec::new();
    let mut rest = Vec::new();
    for arg in args {
        match variable_target(arg.trim()) {
            Some(variable) => variables.push(variable),
            None => rest.push(arg.clone()),
        }
    }
    (variables, rest)
}

/// `arg` as a build variable, unless it is an existing path (`a=b.rockspec` on disk).
fn variable_target(arg: &str) -> Option<Target> {
    let (name, value) = as_variable(arg).filter(|_| !Path::new(arg).exists())?;
    Some(Target::Variable { name, value })
}

/// `NAME=VALUE` with NAME a build variable name, as LuaRocks reads trailing arguments.
fn as_variable(arg: &str) -> Option<(String, String)> {
    let (name, value) = arg.split_once('=')?;
    crate::config::is_variable_name(name).then(|| (name.to_string(), value.to_string()))
}

/// Whether `arg` is a LuaRocks version with its revision written as a word first
/// (`scm-1`, `dev-2`, `cvs-1`): after a package name, it is the version asked for, as in
/// `luarocks install NAME scm-1`. Numeric versions are read as constraints already.
fn is_word_version(arg: &str) -> bool {
    let Some((version, revision)) = arg.rsplit_once('-') else {
        return false;
    };
    !revision.is_empty()
        && revision.bytes().all(|b| b.is_ascii_digit())
        && version
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && crate::version::Version::parse(arg).is_ok_and(|v| v.is_development())
}

/// Reads install arguments: `name`, `name version`, `'name >= 1.0'`, `x.rockspec` (a file or
/// a URL), `x-1.0-1.src.rock` or a binary rock (a file or a URL), `git+https://...@ref`, or a path to a git
/// repository.
pub fn parse_targets(args: &[String]) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for arg in args {
        let trimmed = arg.trim();
        if let Some(variable) = variable_target(trimmed) {
            targets.push(variable);
            continue;
        }
        let follows_name =
            matches!(targets.last(), Some(Target::Package(dep)) if dep.constraints.is_any());
        let starts_like_constraint = trimmed
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || "<>=~!@".contains(c))
            || (follows_name && is_word_version(trimmed));
        if starts_like_constraint {
            match targets.last_mut() {
                Some(Target::Package(dep)) if dep.constraints.is_any() => {
                    dep.constraints =
                        Constraints::parse(trimmed).map_err(|source| Error::BadConstraint {
                            text: trimmed.to_string(),
                            source,
                        })?;
                    continue;
                }
                _ => {
                    return Err(Error::ConstraintWithoutName {
                        text: trimmed.to_string(),
                    });
                }
            }
        }
        if trimmed.ends_with(".rockspec") && trimmed.contains("://") {
            targets.push(Target::RockspecUrl(trimmed.to_string()));
        } else if trimmed.ends_with(".rockspec") {
            targets.push(Target::Rockspec(PathBuf::from(trimmed)));
        } else if trimmed.ends_with(".rock") && trimmed.contains("://") {
            targets.push(Target::RockUrl(trimmed.to_string()));
        } else if trimmed.ends_with(".rock") {
            targets.push(Target::Rock(PathBuf::from(trimmed)));
        } else if fetch::git::is_git_url(trimmed) {
            targets.push(Target::Git(fetch::git::parse_git_spec(trimmed)?));
        } else if looks_like_path(trimmed) && is_git_checkout(trimmed) {
            targets.push(Target::Git(local_git_spec(trimmed)?));
        } else if trimmed.contains('/') && Path::new(trimmed).exists() {
            return Err(Error::NotInstallablePath {
                text: trimmed.to_string(),
            });
        } else {
            targets.push(Target::Package(Dependency::parse(trimmed)?));
        }
    }
    Ok(targets)
}

/// A project's rockspec: `path` itself, or the one a project folder holds (at the top, else in
/// `rockspec/` or `rockspecs/`).
pub fn project_rockspec(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let rel = fetch::project::find_rockspec(path, fetch::project::DevMode::Make)?;
    Ok(path.join(rel))
}

/// `lvm install --deps-only ROCKSPEC|DIR`: the rockspec's dependencies as targets (without
/// `lua`, which the environment provides), for installing what a project needs but not the
/// project.
pub fn dependency_targets(path: &Path) -> Result<Vec<Target>> {
    let rockspec = crate::rockspec::Rockspec::from_file(&project_rockspec(path)?)?;
    Ok(rockspec
        .dependencies
        .into_iter()
        .filter(|d| d.name != "lua")
        .map(Target::Package)
        .collect())
}

/// A git target given as a local path, with the path made absolute so the recorded source
/// can be fetched again from any directory.
pub(in crate::ops) fn local_git_spec(arg: &str) -> Result<fetch::git::GitSpec> {
    let (path, reference) = split_path_ref(arg);
    let absolute =
        std::fs::canonicalize(path).map_err(|source| Error::UnreadableGitRepository {
            path: path.to_string(),
            source,
        })?;
    let spec = match reference {
        Some(r) => format!("{}@{r}", absolute.display()),
        None => absolute.display().to_string(),
    };
    Ok(fetch::git::parse_git_spec(&spec)?)
}

/// Whether `arg` (a path, optionally followed by `@ref`) names a git repository.
pub(in crate::ops) fn is_git_checkout(arg: &str) -> bool {
    Path::new(split_path_ref(arg).0).join(".git").exists()
}

/// Splits `path@ref` into the path and the git reference; a path that exists as written
/// (even with an `@` in it) has no reference.
pub(in crate::ops) fn split_path_ref(arg: &str) -> (&str, Option<&str>) {
    match arg.rsplit_once('@') {
        Some((path, reference)) if !Path::new(arg).exists() => (path, Some(reference)),
        _ => (arg, None),
    }
}

/// Whether an argument is written as a path (`./x`, `../x`, `/x`, `x/y`, `.`), as opposed to a
/// package name that may happen to match a folder in the current directory.
pub(in crate::ops) fn looks_like_path(arg: &str) -> bool {
    arg.contains('/') || arg == "." || arg == ".."
}

/// The event's arguments: what the user typed, with local paths made absolute (so the log
/// still says which file was meant when read from elsewhere).
pub(in crate::ops) fn event_args(args: &[String], names: &[String]) -> Vec<String> {
    if args.is_empty() {
        return names.to_vec();
    }
    args.iter()
        .map(|arg| {
            if !looks_like_path(arg) || fetch::git::is_git_url(arg) {
                return arg.clone();
            }
            let (path, reference) = split_path_ref(arg);
            match (std::fs::canonicalize(path), reference) {
                (Ok(abs), Some(r)) => format!("{}@{r}", abs.display()),
                (Ok(abs), None) => abs.display().to_string(),
                (Err(_), _) => arg.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn targets_join_names_with_following_constraints() {
        let targets = parse_targets(&args(&["penlight", ">= 1.13", "lpeg 1.1.0-2", "x"])).unwrap();
        let names: Vec<String> = targets
            .iter()
            .map(|t| match t {
                Target::Package(d) => d.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names.len(), 3);
        assert!(names[0].starts_with("penlight") && names[0].contains(">= 1.13"));
        assert!(names[1].starts_with("lpeg") && names[1].contains("1.1.0-2"));
        assert_eq!(names[2], "x");
        let err = parse_targets(&args(&[">= 1.0"])).unwrap_err().to_string();
        assert!(err.contains("no package name comes before it"), "{err}");
    }

    #[test]
    fn targets_recognize_rockspecs_git_urls_and_git_paths() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("myrock");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        let path = repo.display().to_string();
        let targets = parse_targets(&args(&[
            "./x-1.0-1.rockspec",
            "git+file:///srv/r@v1",
            &format!("{path}@v2"),
        ]))
        .unwrap();
        assert_eq!(
            targets[0],
            Target::Rockspec(PathBuf::from("./x-1.0-1.rockspec"))
        );
        let Target::Git(spec) = &targets[1] else {
            panic!("{targets:?}")
        };
        assert_eq!(
            (spec.url.as_str(), spec.reference.as_deref()),
            ("git+file:///srv/r", Some("v1"))
        );
        let Target::Git(spec) = &targets[2] else {
            panic!("{targets:?}")
        };
        let absolute = std::fs::canonicalize(&repo).unwrap();
        assert_eq!(spec.url, format!("git+file://{}", absolute.display()));
        assert_eq!(spec.reference.as_deref(), Some("v2"));
        let err = parse_targets(&args(&[dir.path().to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("neither a .rockspec file nor a git repository"),
            "{err}"
        );
    }

    #[test]
    fn word_versions_follow_names_and_variables_are_luarocks_assignments() {
        let targets = parse_targets(&args(&[
            "lvmx-json",
            "scm-1",
            "luasec",
            "OPENSSL_DIR=/opt/ssl",
            "dev-1",
        ]))
        .unwrap();
        let Target::Package(dep) = &targets[0] else {
            panic!("{targets:?}")
        };
        assert_eq!(dep.to_string(), "lvmx-json == scm-1");
        assert_eq!(
            targets[2],
            Target::Variable {
                name: "OPENSSL_DIR".into(),
                value: "/opt/ssl".into()
            }
        );
        // Not after a name: a package called `dev-1`.
        let Target::Package(dep) = &targets[3] else {
            panic!("{targets:?}")
        };
        assert_eq!(dep.name, "dev-1");
        assert_eq!(
            variables_of(&targets).into_iter().collect::<Vec<_>>(),
            [("OPENSSL_DIR".to_string(), "/opt/ssl".to_string())]
        );
        for not_a_word_version in ["lua-cjson", "1.0-1", "beta-1x", "base-64"] {
            assert!(!is_word_version(not_a_word_version), "{not_a_word_version}");
        }
        assert!(is_word_version("scm-1") && is_word_version("dev-12"));
    }

    #[test]
    fn only_arguments_written_as_paths_are_paths() {
        assert!(looks_like_path("./x") && looks_like_path("a/b") && looks_like_path("."));
        assert!(!looks_like_path("gitrock") && !looks_like_path("lua-cjson"));
    }
}
