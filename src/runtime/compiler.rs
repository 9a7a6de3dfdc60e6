//! The system C toolchain an interpreter is built with: the compiler (`$CC`, else `cc`, `gcc`,
//! `clang` on PATH), `ar` and `make`, and the compiler's identity that goes into a runtime's hash.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::RuntimeError;

/// The compilers tried, in order, when `$CC` is not set.
const DEFAULT_COMPILERS: [&str; 3] = ["cc", "gcc", "clang"];

/// A C compiler: the program and the words `$CC` gave after it (`CC="gcc -m64"`).
#[derive(Debug, Clone)]
pub struct Compiler {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// What `--version` printed (first line), or `unknown` when it printed nothing useful.
    pub identity: String,
}

impl Compiler {
    /// The compiler to build with, from `cc_var` (the value of `$CC`) and `path` (`$PATH`).
    pub fn find(
        cc_var: Option<OsString>,
        path: Option<OsString>,
    ) -> Result<Compiler, RuntimeError> {
        let cc = cc_var
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.trim().is_empty());
        let (program, args, looked) = match cc {
            Some(cc) => {
                let mut words = cc.split_whitespace().map(str::to_owned);
                let name = words.next().unwrap_or_default();
                let found = find_program(&name, path.as_deref());
                (
                    found,
                    words.collect(),
                    format!("$CC is `{cc}`, which was not found"),
                )
            }
            None => {
                let found = DEFAULT_COMPILERS
                    .iter()
                    .find_map(|name| find_program(name, path.as_deref()));
                (
                    found,
                    Vec::new(),
                    "looked for cc, gcc and clang on PATH".to_owned(),
                )
            }
        };
        let program = program.ok_or(RuntimeError::NoCompiler { looked })?;
        let identity = identity(&program, &args);
        Ok(Compiler {
            program,
            args,
            identity,
        })
    }

    /// A command running the compiler with `$CC`'s extra words.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        command
    }

    /// The compiler as one shell word list, for makefiles (`CC=...`).
    pub fn make_value(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// First line of `--version`: the compiler's name and release, which (with its path) decide
/// whether an interpreter built earlier was built by the same compiler.
fn identity(program: &Path, args: &[String]) -> String {
    let output = Command::new(program).args(args).arg("--version").output();
    let first_line = output.ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .map(|l| l.trim().to_owned())
    });
    first_line
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `name` as given when it holds a `/`, else the first executable of that name on `path`.
pub fn find_program(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let candidate = PathBuf::from(name);
        return crate::fsutil::is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|candidate| crate::fsutil::is_executable(candidate))
}

/// Another tool a build needs (`ar`, `make`), from its variable (`$AR`) or PATH, or an error
/// naming it and what provides it.
pub fn require_tool(
    name: &str,
    var: Option<OsString>,
    path: Option<OsString>,
    provided_by: &str,
) -> Result<PathBuf, RuntimeError> {
    let wanted = var
        .map(|v| v.to_string_lossy().trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| name.to_owned());
    find_program(&wanted, path.as_deref()).ok_or_else(|| RuntimeError::MissingTool {
        tool: wanted,
        provided_by: provided_by.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(names: &[&str]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            let path = dir.path().join(name);
            std::fs::write(&path, "#!/bin/sh\necho \"fake 1.0 $*\"\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    #[test]
    fn cc_variable_wins_and_keeps_its_extra_words() {
        let dir = dir_with(&["cc", "mycc"]);
        let path = Some(dir.path().as_os_str().to_owned());
        let compiler = Compiler::find(Some("mycc -m64".into()), path).unwrap();
        assert_eq!(compiler.program, dir.path().join("mycc"));
        assert_eq!(compiler.args, ["-m64"]);
        assert_eq!(compiler.identity, "fake 1.0 -m64 --version");
    }

    #[test]
    fn without_cc_the_first_of_cc_gcc_clang_is_used() {
        let dir = dir_with(&["clang", "gcc"]);
        let path = Some(dir.path().as_os_str().to_owned());
        let compiler = Compiler::find(None, path).unwrap();
        assert_eq!(compiler.program, dir.path().join("gcc"));
    }

    #[test]
    fn no_compiler_is_a_clear_error() {
        let dir = dir_with(&["make"]);
        let path = Some(dir.path().as_os_str().to_owned());
        let err = Compiler::find(None, path.clone()).unwrap_err();
        assert!(err.to_string().contains("no C compiler found"), "{err}");
        assert!(err.to_string().contains("--lua-bin"), "{err}");
        let err = Compiler::find(Some("nosuchcc".into()), path).unwrap_err();
        assert!(err.to_string().contains("`nosuchcc`"), "{err}");
    }

    #[test]
    fn a_missing_tool_names_its_package() {
        let dir = dir_with(&["cc"]);
        let path = Some(dir.path().as_os_str().to_owned());
        let err = require_tool("ar", None, path, "binutils").unwrap_err();
        assert!(err.to_string().contains("`ar`"), "{err}");
        assert!(err.to_string().contains("binutils"), "{err}");
    }
}
