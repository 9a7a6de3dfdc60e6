//! The errors a build can end with.

use std::path::PathBuf;

use thiserror::Error;

/// Why building a rock failed. Messages name the rockspec field or file involved and say what
/// to do about it; command failures carry the tail of the command's output.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error(
        "C compiler `{compiler}` not found or not runnable ({cause}); install gcc (e.g. `apt-get install gcc`) or set CC to a working C compiler"
    )]
    CompilerNotFound {
        compiler: String,
        cause: std::io::Error,
    },

    #[error("`{tool}` not found or not runnable ({reason}); it is needed for {purpose}; {hint}")]
    ToolNotFound {
        tool: String,
        purpose: String,
        reason: String,
        hint: String,
    },

    #[error("{step} failed ({status}): `{command}` in {}\n{output}", cwd.display())]
    CommandFailed {
        step: String,
        command: String,
        cwd: PathBuf,
        status: String,
        /// The tail of the command's standard output and error.
        output: String,
    },

    #[error(
        "external dependency {name}: {kind} `{file}` not found (looked for {}); install the system package that provides it (usually a -dev package), or say where it is: `lvm install {} {name}_DIR=/usr/local` (in a project folder `lvm make {name}_DIR=/usr/local`) for this command (or {name}_{dir_var}=DIR for that one folder), or `lvm config set variables {name}_DIR=/usr/local` for every build",
        display_paths(searched),
        package_or_name(package)
    )]
    ExternalDependency {
        name: String,
        /// `program`, `header` or `library`.
        kind: &'static str,
        file: String,
        /// Every file path tried.
        searched: Vec<PathBuf>,
        /// `BINDIR`, `INCDIR` or `LIBDIR`: the variable that points the search elsewhere.
        dir_var: &'static str,
        /// The rock being built, for the example command (filled in by `build_rock`).
        package: String,
    },

    #[error(
        "Lua {lua_version} header lua.h not found in {} (the Lua include directory), and C modules \
         compile against it: install the development headers of Lua {lua_version} (Debian: the \
         -dev package of the interpreter), or choose an interpreter that has them with --lua-bin",
        dir.display()
    )]
    LuaHeadersMissing {
        dir: PathBuf,
        lua_version: crate::luaversion::LuaVersion,
    },

    #[error("{field}: file `{path}` not found in the sources ({}); fix the path in the rockspec", source_dir.display())]
    MissingFile {
        field: String,
        path: String,
        source_dir: PathBuf,
    },

    #[error(
        "build.copy_directories: directory `{dir}` not found in the sources ({}); fix or remove the entry",
        source_dir.display()
    )]
    MissingDirectory { dir: String, source_dir: PathBuf },

    #[error(
        "{field}: `{value}` is not a valid name here: it must be a relative path without `..` (or a dotted module name without `/`), so that it installs inside the rock"
    )]
    UnsafePath { field: String, value: String },

    #[error(
        "{field}: `{value}` {why}, outside the unpacked sources ({}); a source file must be inside them, fix the path in the rockspec",
        source_dir.display()
    )]
    SourceOutside {
        field: String,
        value: String,
        why: String,
        source_dir: PathBuf,
    },

    #[error(
        "{}: symbolic link to `{}` {why}; a rock may only hold links that stay inside it",
        link.display(), target.display()
    )]
    UnsafeLink {
        link: PathBuf,
        target: PathBuf,
        why: &'static str,
    },

    #[error("{field}: {problem}; fix the rockspec")]
    InvalidRockspec { field: String, problem: String },

    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        action: String,
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        BuildError::Io {
            action: action.into(),
            path: path.into(),
            cause: source,
        }
    }
}

fn package_or_name(package: &str) -> &str {
    if package.is_empty() { "NAME" } else { package }
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "no directories".to_string();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
