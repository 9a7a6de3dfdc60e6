//! The `make`, `cmake` and `command` back-ends: the rock's own build system does the work,
//! driven with LuaRocks' variables.

use std::path::Path;

use super::process::{Invocation, run, words};
use super::vars::{Variables, substitute, substitute_all};
use super::{BuildContext, BuildError, CommandRun};
use crate::rockspec::Build;

/// What every tool back-end needs.
pub struct Tool<'a> {
    pub build: &'a Build,
    pub ctx: &'a BuildContext,
    /// The full LuaRocks variable table: used for `$(VAR)` substitution and exported to the
    /// tool's environment, so a Makefile or script can read `$(LUA_INCDIR)`, `$(LIBDIR)`...
    /// without the rockspec passing them (its own assignments still win).
    pub vars: &'a Variables,
    pub source_dir: &'a Path,
    pub prefix: &'a Path,
}

/// The two make invocations' argument lists (after the make program): `-f makefile` if given,
/// the target, then `NAME=value` for `build.variables` merged into `build_variables` /
/// `install_variables` (substituted), plus `CC` if the rockspec did not pass it.
pub fn make_arguments(
    build: &Build,
    vars: &Variables,
    unmatched: &mut Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let mut build_vars = build.build_variables.clone();
    let mut install_vars = build.install_variables.clone();
    for (k, v) in &build.variables {
        build_vars.insert(k.clone(), v.clone());
        install_vars.insert(k.clone(), v.clone());
    }
    substitute_all(&mut build_vars, vars, unmatched);
    substitute_all(&mut install_vars, vars, unmatched);
    let one = |target: Option<&str>, default: &str, mut assignments: Variables| {
        if let Some(cc) = vars.get("CC") {
            assignments
                .entry("CC".to_string())
                .or_insert_with(|| cc.clone());
        }
        let mut args = Vec::new();
        if let Some(makefile) = &build.makefile {
            args.push("-f".to_string());
            args.push(makefile.clone());
        }
        args.extend(words(target.unwrap_or(default)));
        args.extend(assignments.iter().map(|(k, v)| format!("{k}={v}")));
        args
    };
    (
        one(build.build_target.as_deref(), "", build_vars),
        one(build.install_target.as_deref(), "install", install_vars),
    )
}

impl Tool<'_> {
    fn run(
        &self,
        step: String,
        argv: Vec<String>,
        log: &mut Vec<CommandRun>,
        missing: impl FnOnce(std::io::Error) -> BuildError,
    ) -> Result<(), BuildError> {
        run(
            Invocation {
                step,
                argv,
                cwd: self.source_dir,
                env: Some(self.vars),
                slots: Some((&self.ctx.slots, self.ctx.jobs)),
            },
            log,
            missing,
        )
    }

    pub fn make(
        &self,
        log: &mut Vec<CommandRun>,
        unmatched: &mut Vec<String>,
    ) -> Result<(), BuildError> {
        let (build_args, install_args) = make_arguments(self.build, self.vars, unmatched);
        // Only the build pass runs in parallel: install targets often assume an order.
        let passes = [
            (
                self.build.build_pass,
                "building with make (build_target)",
                build_args,
                self.ctx.jobs,
            ),
            (
                self.build.install_pass,
                "installing with make (install_target)",
                install_args,
                1,
            ),
        ];
        for (pass, step, args, jobs) in passes {
            if !pass {
                continue;
            }
            let mut argv = words(&self.ctx.make);
            if jobs > 1 {
                argv.push(format!("-j{jobs}"));
            }
            argv.extend(args);
            self.run(step.to_string(), argv, log, |e| {
                self.tool_missing(
                    &self.ctx.make,
                    "build.type = \"make\"",
                    "install make (e.g. `apt-get install make`) or set MAKE",
                    e,
                )
            })?;
        }
        Ok(())
    }

    pub fn command(
        &self,
        log: &mut Vec<CommandRun>,
        unmatched: &mut Vec<String>,
    ) -> Result<(), BuildError> {
        let commands = [
            ("running build.build_command", &self.build.build_command),
            ("running build.install_command", &self.build.install_command),
        ];
        for (step, command) in commands {
            let Some(command) = command else { continue };
            let script = substitute(command, self.vars, unmatched);
            let argv = vec!["sh".to_string(), "-c".to_string(), script];
            self.run(step.to_string(), argv, log, |e| {
                self.tool_missing(
                    "sh",
                    "build.type = \"command\"",
                    "install a POSIX shell as `sh`",
                    e,
                )
            })?;
        }
        Ok(())
    }

    pub fn cmake(
        &self,
        log: &mut Vec<CommandRun>,
        unmatched: &mut Vec<String>,
    ) -> Result<(), BuildError> {
        let hint = "install CMake (e.g. `apt-get install cmake`) or set CMAKE to its path";
        let purpose = "build.type = \"cmake\"";
        let Some(cmake) = &self.ctx.cmake else {
            return Err(BuildError::ToolNotFound {
                tool: "cmake".to_string(),
                purpose: purpose.to_string(),
                reason: "not on PATH".to_string(),
                hint: hint.to_string(),
            });
        };
        if let Some(lists) = &self.build.cmake {
            let path = self.source_dir.join("CMakeLists.txt");
            std::fs::write(&path, lists)
                .map_err(|e| BuildError::io("write build.cmake to", &path, e))?;
        }
        let mut defines = self.build.variables.clone();
        substitute_all(&mut defines, self.vars, unmatched);
        // Without an install prefix CMake installs into /usr/local; the rock directory is the
        // only place a build may write to.
        defines
            .entry("CMAKE_INSTALL_PREFIX".to_string())
            .or_insert_with(|| self.prefix.display().to_string());
        let build_dir = self.source_dir.join("build.lvm");
        let build_dir_arg = build_dir.display().to_string();
        let mut configure = words(cmake);
        configure.extend([
            "-S".to_string(),
            ".".to_string(),
            "-B".to_string(),
            build_dir_arg.clone(),
        ]);
        configure.extend(defines.iter().map(|(k, v)| format!("-D{k}={v}")));
        let mut steps = vec![("configuring with cmake", configure)];
        if self.build.build_pass {
            let mut argv = words(cmake);
            argv.extend(["--build", &build_dir_arg, "--config", "Release"].map(String::from));
            if self.ctx.jobs > 1 {
                argv.extend(["--parallel".to_string(), self.ctx.jobs.to_string()]);
            }
            steps.push(("building with cmake", argv));
        }
        if self.build.install_pass {
            let mut argv = words(cmake);
            argv.extend(
                [
                    "--build",
                    &build_dir_arg,
                    "--target",
                    "install",
                    "--config",
                    "Release",
                ]
                .map(String::from),
            );
            steps.push(("installing with cmake", argv));
        }
        for (step, argv) in steps {
            self.run(step.to_string(), argv, log, |e| {
                self.tool_missing(cmake, purpose, hint, e)
            })?;
        }
        Ok(())
    }

    fn tool_missing(&self, tool: &str, purpose: &str, hint: &str, e: std::io::Error) -> BuildError {
        BuildError::ToolNotFound {
            tool: tool.to_string(),
            purpose: purpose.to_string(),
            reason: e.to_string(),
            hint: hint.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_arguments_merge_substitute_and_default() {
        let mut build = Build {
            kind: crate::rockspec::BuildType::Make,
            makefile: Some("GNUmakefile".into()),
            build_target: Some("linux extra".into()),
            ..Build::default()
        };
        build
            .variables
            .insert("LUA_INCDIR".into(), "$(LUA_INCDIR)".into());
        build
            .build_variables
            .insert("CFLAGS".into(), "$(CFLAGS) -DX".into());
        build
            .install_variables
            .insert("INST_LIBDIR".into(), "$(LIBDIR)".into());
        let vars: Variables = [
            ("LUA_INCDIR", "/inc"),
            ("CFLAGS", "-O2"),
            ("LIBDIR", "/p/lib"),
            ("CC", "gcc"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut unmatched = Vec::new();
        let (b, i) = make_arguments(&build, &vars, &mut unmatched);
        assert_eq!(
            b,
            [
                "-f",
                "GNUmakefile",
                "linux",
                "extra",
                "CC=gcc",
                "CFLAGS=-O2 -DX",
                "LUA_INCDIR=/inc"
            ]
        );
        assert_eq!(
            i,
            [
                "-f",
                "GNUmakefile",
                "install",
                "CC=gcc",
                "INST_LIBDIR=/p/lib",
                "LUA_INCDIR=/inc"
            ]
        );
    }

    #[test]
    fn make_builds_with_jobs_and_installs_serially() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        let prefix = dir.path().join("prefix");
        std::fs::create_dir_all(&src).expect("src");
        std::fs::write(
            src.join("Makefile"),
            "all:\n\techo \"[$(MAKEFLAGS)]\" > built.txt\ninstall:\n\techo \"[$(MAKEFLAGS)]\" > installed.txt\n",
        )
        .expect("Makefile");
        let build = Build {
            kind: crate::rockspec::BuildType::Make,
            ..Build::default()
        };
        let ctx = BuildContext {
            jobs: 3,
            ..BuildContext::from_vars(
                crate::luaversion::LuaVersion::Lua54,
                dir.path(),
                None,
                |k| std::env::var(k).ok(),
            )
        };
        let tool = Tool {
            build: &build,
            ctx: &ctx,
            vars: &Variables::new(),
            source_dir: &src,
            prefix: &prefix,
        };
        let mut log = Vec::new();
        tool.make(&mut log, &mut Vec::new()).expect("make runs");
        let read = |f: &str| std::fs::read_to_string(src.join(f)).expect("written by make");
        assert!(read("built.txt").contains("-j3"), "{}", read("built.txt"));
        assert!(
            !read("installed.txt").contains("-j"),
            "{}",
            read("installed.txt")
        );
        assert!(log[0].command.starts_with("make -j3"), "{}", log[0].command);
    }

    #[test]
    fn rockspec_cc_wins_over_the_default() {
        let mut build = Build::default();
        build.build_variables.insert("CC".into(), "clang".into());
        let vars: Variables = [("CC".to_string(), "gcc".to_string())].into();
        let (b, i) = make_arguments(&build, &vars, &mut Vec::new());
        assert_eq!(b, ["CC=clang"]);
        assert_eq!(i, ["install", "CC=gcc"]);
    }
}
