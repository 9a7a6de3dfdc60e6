//! `lvm runtime`: the Lua interpreters lvm builds and shares between environments — make sure
//! one exists (building it on first use), list them, build some ahead of time, remove them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::env::Home;
use crate::envrepo::EnvRepo;
use crate::luaversion::LuaVersion;
use crate::ops::{Error, Result};
use crate::report::{Readiness, Reporter};
use crate::runtime::{BuildEnv, Runtimes};
pub use crate::runtime::{Runtime, display_name};

fn runtimes(home: &Home) -> Runtimes {
    Runtimes::new(home.runtimes_dir())
}

/// The runtime of `version` (`5.1` … `5.5`, `luajit`), built now from the sources lvm carries if
/// this machine has none yet. What an environment whose Lua is not the embedded one runs.
pub fn ensure(home: &Home, version: &str, reporter: &dyn Reporter) -> Result<Runtime> {
    ensure_with(home, version, &BuildEnv::from_process(), reporter).map(|(runtime, _)| runtime)
}

/// [`ensure`] with an explicit build environment, saying whether the runtime was built now.
pub fn ensure_with(
    home: &Home,
    version: &str,
    env: &BuildEnv,
    reporter: &dyn Reporter,
) -> Result<(Runtime, Readiness)> {
    let interpreter = LuaVersion::parse(version).map_err(crate::runtime::RuntimeError::from)?;
    provide(home, interpreter, env, reporter)
}

fn provide(
    home: &Home,
    interpreter: LuaVersion,
    env: &BuildEnv,
    reporter: &dyn Reporter,
) -> Result<(Runtime, Readiness)> {
    runtimes(home)
        .ensure(interpreter, env, reporter)
        .map_err(|source| Error::ProvideRuntime {
            interpreter: crate::runtime::display_name(interpreter),
            source,
        })
}

/// Every runtime built in this lvm home.
pub fn list(home: &Home) -> Vec<Runtime> {
    runtimes(home).installed()
}

/// Builds the runtimes of `versions` that are missing. Every id is checked before anything is
/// built, so a typo builds nothing.
pub fn install(
    home: &Home,
    versions: &[String],
    reporter: &dyn Reporter,
) -> Result<Vec<(Runtime, Readiness)>> {
    let interpreters = parse_all(versions)?;
    let env = BuildEnv::from_process();
    interpreters
        .into_iter()
        .map(|interpreter| provide(home, interpreter, &env, reporter))
        .collect()
}

/// A profile of an environment of the home whose current state targets a Lua.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LuaUser {
    pub environment: PathBuf,
    pub profile: String,
}

impl std::fmt::Display for LuaUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (profile {})",
            self.environment.display(),
            self.profile
        )
    }
}

/// Which Lua each profile of each environment sharing the home targets at its head. Read from
/// their repositories without locking them: a profile head is only ever replaced whole.
pub fn lua_users(home: &Home) -> Result<BTreeMap<LuaVersion, Vec<LuaUser>>> {
    let mut users: BTreeMap<LuaVersion, Vec<LuaUser>> = BTreeMap::new();
    for root in home.environments()? {
        let unreadable = |source| Error::OtherEnvironment {
            root: root.clone(),
            source: Box::new(crate::env::EnvError::Repo(source)),
        };
        let repo = EnvRepo::open(&root).map_err(unreadable)?;
        for profile in repo.profiles().map_err(unreadable)? {
            let head = repo.profile_head(&profile).map_err(unreadable)?;
            let lua = repo.manifest_at(head).map_err(unreadable)?.lua_version()?;
            users.entry(lua).or_default().push(LuaUser {
                environment: root.clone(),
                profile,
            });
        }
    }
    Ok(users)
}

/// Removes every runtime of `versions`; returns what was removed (nothing for a version with
/// no runtime). A version some environment of the home targets is refused, naming them, unless
/// `force` (they then build it again on their next use).
pub fn remove(
    home: &Home,
    versions: &[String],
    force: bool,
    reporter: &dyn Reporter,
) -> Result<Vec<Runtime>> {
    let interpreters = parse_all(versions)?;
    let runtimes = runtimes(home);
    if !force {
        let users = lua_users(home)?;
        for interpreter in &interpreters {
            let in_use = users
                .get(interpreter)
                .filter(|_| runtimes.newest(*interpreter).is_some());
            if let Some(users) = in_use {
                return Err(Error::RuntimeInUse {
                    interpreter: crate::runtime::display_name(*interpreter),
                    users: users.iter().map(ToString::to_string).collect(),
                });
            }
        }
    }
    let mut removed = Vec::new();
    for interpreter in interpreters {
        removed.extend(runtimes.remove(interpreter, reporter)?);
    }
    Ok(removed)
}

/// The runtimes nothing needs: those built for a Lua no environment of the home targets, and
/// those [`crate::runtime::Runtimes::superseded`] by a newer build. Removed unless `dry_run`.
pub fn collect_garbage(
    home: &Home,
    dry_run: bool,
    reporter: &dyn Reporter,
) -> Result<Vec<Runtime>> {
    let runtimes = runtimes(home);
    let users = lua_users(home)?;
    let superseded = runtimes.superseded(&BuildEnv::from_process());
    let doomed: Vec<Runtime> = runtimes
        .installed()
        .into_iter()
        .filter(|r| {
            !users.contains_key(&r.interpreter) || superseded.iter().any(|s| s.name == r.name)
        })
        .collect();
    if !dry_run {
        runtimes.remove_runtimes(&doomed, reporter)?;
    }
    Ok(doomed)
}

/// The interpreters named by `versions`, each once, in the order given.
fn parse_all(versions: &[String]) -> Result<Vec<LuaVersion>> {
    let mut out: Vec<LuaVersion> = Vec::new();
    for version in versions {
        let interpreter = LuaVersion::parse(version).map_err(crate::runtime::RuntimeError::from)?;
        if !out.contains(&interpreter) {
            out.push(interpreter);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_id_among_good_ones_is_refused_before_anything() {
        let err = parse_all(&["5.1".into(), "6.0".into()]).unwrap_err();
        assert!(err.to_string().contains("'6.0'"), "{err}");
        let ids = parse_all(&["luajit".into(), "5.1".into(), "luajit".into()]).unwrap();
        assert_eq!(ids, [LuaVersion::LuaJit, LuaVersion::Lua51]);
    }

    #[test]
    fn a_bad_id_is_bad_input_and_a_missing_compiler_is_not() {
        use crate::errors::{ErrorKind, error_text};
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().to_path_buf());
        let silent = crate::report::Silent;
        let err = ensure_with(&home, "6.0", &BuildEnv::default(), &silent).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadInput);
        let no_tools = BuildEnv {
            path: Some(dir.path().as_os_str().to_owned()),
            ..BuildEnv::default()
        };
        let err = ensure_with(&home, "5.2", &no_tools, &silent).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        let text = error_text(&err);
        assert!(
            text.starts_with("providing Lua 5.2.4: no C compiler found"),
            "{text}"
        );
        assert!(!home.runtimes_dir().exists());
    }
}
