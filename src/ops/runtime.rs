//! `lvm runtime`: the Lua interpreters lvm builds and shares between environments — make sure
//! one exists (building it on first use), list them, build some ahead of time, remove them.

use crate::env::Home;
use crate::ops::{Error, Result};
use crate::report::{Readiness, Reporter};
pub use crate::runtime::{ACCEPTED_IDS, Interpreter, Runtime};
use crate::runtime::{BuildEnv, Runtimes};

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
    let interpreter = Interpreter::parse(version)?;
    provide(home, interpreter, env, reporter)
}

fn provide(
    home: &Home,
    interpreter: Interpreter,
    env: &BuildEnv,
    reporter: &dyn Reporter,
) -> Result<(Runtime, Readiness)> {
    runtimes(home)
        .ensure(interpreter, env, reporter)
        .map_err(|source| Error::ProvideRuntime {
            interpreter: interpreter.display_name(),
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

/// Removes every runtime of `versions`; returns what was removed (nothing for a version with
/// no runtime). Environments that use one build it again on their next use.
pub fn remove(home: &Home, versions: &[String], reporter: &dyn Reporter) -> Result<Vec<Runtime>> {
    let interpreters = parse_all(versions)?;
    let mut removed = Vec::new();
    for interpreter in interpreters {
        removed.extend(runtimes(home).remove(interpreter, reporter)?);
    }
    Ok(removed)
}

/// The interpreters named by `versions`, each once, in the order given.
fn parse_all(versions: &[String]) -> Result<Vec<Interpreter>> {
    let mut out: Vec<Interpreter> = Vec::new();
    for version in versions {
        let interpreter = Interpreter::parse(version)?;
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
        assert!(err.to_string().contains("`6.0`"), "{err}");
        let ids = parse_all(&["luajit".into(), "5.1".into(), "luajit".into()]).unwrap();
        assert_eq!(ids, [Interpreter::LuaJit, Interpreter::Lua51]);
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
