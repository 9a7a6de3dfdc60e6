//! `lvm test [ROCKSPEC]`: runs a rockspec's `test` section (busted or a command) with its
//! `test_dependencies` installed in the environment, as `luarocks test` does.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use crate::env::{Environment, WriteLock};
use crate::events::EventKind;
use crate::manifest::Manifest;
use crate::ops::install::{Outcome, ServerChoice, Target, install_with};
use crate::ops::{Error, Result};
use crate::rockspec::Rockspec;
use crate::version::Dependency;

/// How a project's tests run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestRun {
    /// The environment's `busted` command with these arguments.
    Busted { flags: Vec<String> },
    /// A shell command with these arguments.
    Command { command: String, flags: Vec<String> },
    /// A Lua script run by the environment's interpreter.
    Script { script: String, flags: Vec<String> },
}

/// What the rockspec's `test` section asks for, as LuaRocks reads it: its `type`, else busted
/// when `has_busted_file` (a `.busted` file in the folder the tests run in), else command when
/// it names a command or script. Pure.
pub fn plan(rockspec: &Rockspec, file: &str, has_busted_file: bool) -> Result<TestRun> {
    let spec = rockspec.test.clone().unwrap_or_default();
    let kind = match spec.kind.as_deref() {
        Some(kind) => kind.to_string(),
        None if has_busted_file => "busted".to_string(),
        None if spec.command.is_some() || spec.script.is_some() => "command".to_string(),
        None => {
            return Err(Error::NoTestSuite {
                rockspec: file.to_string(),
            });
        }
    };
    match kind.as_str() {
        "busted" => Ok(TestRun::Busted { flags: spec.flags }),
        "command" => match (spec.script, spec.command) {
            (Some(script), _) => Ok(TestRun::Script {
                script,
                flags: spec.flags,
            }),
            (None, Some(command)) => Ok(TestRun::Command {
                command,
                flags: spec.flags,
            }),
            (None, None) => Err(Error::TestWithoutCommand {
                rockspec: file.to_string(),
            }),
        },
        other => Err(Error::UnsupportedTestType {
            rockspec: file.to_string(),
            kind: other.to_string(),
        }),
    }
}

/// The test dependencies a run needs: the rockspec's `test_dependencies`, plus busted for a
/// busted run when they do not name it (LuaRocks adds it the same way). Pure.
pub fn test_dependencies(rockspec: &Rockspec, run: &TestRun) -> Vec<Dependency> {
    let mut deps = rockspec.test_dependencies.clone();
    if matches!(run, TestRun::Busted { .. }) && !deps.iter().any(|d| d.name == "busted") {
        deps.push(Dependency {
            name: "busted".to_string(),
            constraints: crate::version::Constraints::any(),
        });
    }
    deps
}

/// The dependencies `manifest` does not satisfy (not installed, or at a version they exclude).
/// Pure.
pub fn missing(manifest: &Manifest, deps: &[Dependency]) -> Vec<Dependency> {
    deps.iter()
        .filter(|d| d.name != "lua")
        .filter(|d| {
            manifest
                .packages
                .get(&d.name)
                .is_none_or(|p| !d.constraints.matches(&p.version))
        })
        .cloned()
        .collect()
}

/// Installs the test dependencies `manifest` lacks as one `install` event, recorded with the
/// arguments `--test-dependencies ROCKSPEC`.
pub fn install_missing(
    env: &WriteLock<'_>,
    missing: &[Dependency],
    rockspec_path: &Path,
    choice: &ServerChoice,
) -> Result<Outcome> {
    let targets: Vec<Target> = missing.iter().cloned().map(Target::Package).collect();
    let shown = std::fs::canonicalize(rockspec_path)
        .unwrap_or_else(|_| rockspec_path.to_path_buf())
        .display()
        .to_string();
    let args = vec!["--test-dependencies".to_string(), shown];
    install_with(
        env,
        &targets,
        &[],
        choice,
        &args,
        EventKind::Install,
        BTreeMap::new(),
    )
}

/// Runs the tests in `dir` with the environment's tree on the module paths and `PATH`, with
/// `extra` arguments after the rockspec's flags; an error when they fail.
pub fn run(
    env: &Environment,
    run: &TestRun,
    dir: &Path,
    extra: &[OsString],
    file: &str,
) -> Result<()> {
    let tree = env.tree_path();
    let interpreter = env.interpreter()?;
    let mut command = match run {
        TestRun::Busted { flags } => {
            let mut c = Command::new(crate::tree::bin_dir(&tree).join("busted"));
            c.args(flags);
            c
        }
        TestRun::Command { command, flags } => {
            // As LuaRocks runs it: through the shell, the flags as further words.
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("{command} \"$@\""))
                .arg("sh")
                .args(flags);
            c
        }
        TestRun::Script { script, flags } => {
            let Some(bin) = &interpreter.bin else {
                return Err(Error::RunTests {
                    program: script.clone(),
                    source: std::io::Error::other(format!(
                        "no Lua {} interpreter to run it with",
                        interpreter.lua
                    )),
                });
            };
            let mut c = Command::new(bin);
            c.arg(script).args(flags);
            c
        }
    };
    command.args(extra).current_dir(dir);
    crate::vm::apply_paths(
        &mut command,
        &crate::tree::lua_path_strings(&tree, env.lua())?,
        env.lua(),
    );
    if let Some(bin) = &interpreter.bin {
        command.env("LVM_LUA", bin);
    }
    let program = format!("{:?}", command.get_program());
    let status = command.status().map_err(|source| Error::RunTests {
        program: program.trim_matches('"').to_string(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::TestsFailed {
            rockspec: file.to_string(),
            status: status.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rockspec(test: &str) -> Rockspec {
        let text = format!(
            "rockspec_format = \"3.0\"\npackage = \"p\"\nversion = \"1.0-1\"\nsource = {{ url = \"https://rocks.example.org/p.tar.gz\" }}\ntest_dependencies = {{ \"strutil\" }}\n{test}"
        );
        Rockspec::from_lua(&text, "p-1.0-1.rockspec").unwrap()
    }

    #[test]
    fn the_test_type_is_read_or_detected_as_luarocks_does() {
        let none = rockspec("");
        assert!(matches!(
            plan(&none, "p", false),
            Err(Error::NoTestSuite { .. })
        ));
        assert_eq!(
            plan(&none, "p", true).unwrap(),
            TestRun::Busted { flags: vec![] }
        );
        let command =
            rockspec("test = { type = \"command\", command = \"make check\", flags = { \"-k\" } }");
        assert_eq!(
            plan(&command, "p", true).unwrap(),
            TestRun::Command {
                command: "make check".into(),
                flags: vec!["-k".into()]
            }
        );
        let script = rockspec("test = { script = \"run.lua\" }");
        assert!(matches!(
            plan(&script, "p", false).unwrap(),
            TestRun::Script { .. }
        ));
        let other = rockspec("test = { type = \"luaunit\" }");
        let err = plan(&other, "p", false).unwrap_err().to_string();
        assert!(err.contains("'luaunit' is not supported"), "{err}");
    }

    #[test]
    fn busted_joins_the_test_dependencies_once() {
        let spec = rockspec("");
        let busted = TestRun::Busted { flags: vec![] };
        let names: Vec<String> = test_dependencies(&spec, &busted)
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["strutil", "busted"]);
        let command = TestRun::Command {
            command: "true".into(),
            flags: vec![],
        };
        assert_eq!(test_dependencies(&spec, &command).len(), 1);
    }
}
