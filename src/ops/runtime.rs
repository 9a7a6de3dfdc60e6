//! `lvm runtime`: the Lua interpreters lvm builds and shares between environments — make sure
//! one exists (building it on first use), list them, build some ahead of time, remove them.

use anyhow::{Context, Result};

use crate::env::Home;
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
    runtimes(home)
        .ensure(interpreter, env, reporter)
        .with_context(|| format!("providing {}", interpreter.display_name()))
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
        .map(|interpreter| {
            runtimes(home)
                .ensure(interpreter, &env, reporter)
                .with_context(|| format!("providing {}", interpreter.display_name()))
        })
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
}
