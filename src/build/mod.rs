//! Building a rock from its unpacked sources into a rock directory.
//!
//! [`build_rock`] runs one of the build back-ends LuaRocks defines (`builtin`, `none`, `make`,
//! `cmake`, `command`) and lays the result out like LuaRocks' per-version rock directory: `lua/`
//! (Lua modules), `lib/` (C modules), `bin/` (scripts), `conf/`, `doc/` and the rockspec's
//! `copy_directories`. External dependencies are checked first. C code for Lua 5.4 compiles
//! against the Lua headers bundled in lvm ([`lua_headers`], [`write_lua_headers`]), so no system
//! Lua is needed; other versions compile against their interpreter's headers.
//! Writing the rockspec and `rock_manifest` next to the result is the caller's job.

mod autodetect;
mod builtin;
mod error;
mod external;
mod headers;
mod install;
mod lint;
mod process;
mod tools;
mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use autodetect::{Detected, detect as autodetect_modules};
pub use builtin::{Plan, plan_module};
pub use error::BuildError;
pub use external::{SearchDirs, dependencies_to_check, find_external_dependency};
pub use headers::{lua_headers, write_lua_headers};
pub use install::install_destination;
pub use lint::lint_destinations;
pub use process::ProcessSlots;
pub use tools::make_arguments;
pub use vars::{Variables, rock_variables, substitute};

use crate::luaversion::LuaVersion;
use crate::rockspec::{BuildType, Install, Rockspec, RockspecFormat};

/// The tools and settings a build uses, LuaRocks' configuration variables in typed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildContext {
    /// The Lua the rock is built for (`LUA_VERSION` is its ABI version: `5.1` for LuaJIT).
    pub lua_version: LuaVersion,
    /// Where the Lua headers are (`LUA_INCDIR`).
    pub lua_incdir: PathBuf,
    /// `LUA_LIBDIR`. C modules do not link a Lua library on Unix; kept for Makefiles that pass
    /// `-L$(LUA_LIBDIR)`.
    pub lua_libdir: PathBuf,
    /// `LUA_BINDIR`: the directory of `lua`.
    pub lua_bindir: PathBuf,
    /// `LUA`: a Lua interpreter, for build scripts that run Lua.
    pub lua: String,
    /// `CC` (also used to link): `$CC` or `cc`. May hold words (`ccache gcc`).
    pub cc: String,
    /// `CFLAGS`: `$CFLAGS` or `-O2 -fPIC`.
    pub cflags: String,
    /// `LIBFLAG`: `$LIBFLAG` or `-shared`.
    pub libflag: String,
    /// `MAKE`: `$MAKE` or `make`.
    pub make: String,
    /// `CMAKE`: `$CMAKE`, or `cmake` found on `PATH`; `None` when not installed.
    pub cmake: Option<String>,
    /// The user's own variables (`OPENSSL_DIR=/opt/ssl`), overriding the defaults.
    pub variables: BTreeMap<String, String>,
    /// Where external dependencies are looked for.
    pub search: SearchDirs,
    /// How many processes a build runs at once: C sources compiled side by side, `make -jN`,
    /// `cmake --build --parallel N` (1: one after another).
    pub jobs: usize,
    /// The process slots this build shares with the builds running beside it (clones of a
    /// context share them): at most `jobs` compilers and tools run at once across all of them.
    pub slots: ProcessSlots,
}

impl BuildContext {
    /// The context for Lua `lua` from the process environment, with the Lua headers in
    /// `headers_dir` and `lua_bin` the interpreter (else the version's command on `PATH`).
    pub fn from_env(lua: LuaVersion, headers_dir: &Path, lua_bin: Option<&Path>) -> BuildContext {
        BuildContext::from_vars(lua, headers_dir, lua_bin, |name| std::env::var(name).ok())
    }

    /// The context with environment variables read through `env` (`CC`, `CFLAGS`, `LIBFLAG`,
    /// `MAKE`, `CMAKE`, `PATH`).
    pub fn from_vars(
        lua_version: LuaVersion,
        headers_dir: &Path,
        lua_bin: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> BuildContext {
        let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let path_var = env("PATH").unwrap_or_default();
        let mut commands = lua_version.system_commands();
        if !lua_version.is_luajit() {
            commands.push("lua".into());
        }
        let lua_path = lua_bin.map(Path::to_path_buf).or_else(|| {
            commands
                .iter()
                .find_map(|name| find_in_path(name, &path_var))
        });
        let mut cflags = non_empty("CFLAGS").unwrap_or_else(|| "-O2 -fPIC".to_string());
        // A C module is a shared object: without position-independent code it fails to link
        // on most architectures, so a user's CFLAGS gets -fPIC as LuaRocks' defaults do.
        if cfg!(unix)
            && !cflags
                .split_whitespace()
                .any(|f| f == "-fPIC" || f == "-fpic")
        {
            cflags.push_str(" -fPIC");
        }
        BuildContext {
            lua_incdir: headers_dir.to_path_buf(),
            lua_libdir: headers_dir
                .parent()
                .map(|p| p.join("lib"))
                .unwrap_or_else(|| headers_dir.join("lib")),
            lua_bindir: lua_path
                .as_ref()
                .and_then(|p| p.parent())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/usr/bin")),
            lua: lua_path
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "lua".to_string()),
            cc: non_empty("CC").unwrap_or_else(|| "cc".to_string()),
            cflags,
            libflag: non_empty("LIBFLAG").unwrap_or_else(|| "-shared".to_string()),
            make: non_empty("MAKE").unwrap_or_else(|| "make".to_string()),
            cmake: non_empty("CMAKE")
                .or_else(|| find_in_path("cmake", &path_var).map(|p| p.display().to_string())),
            variables: BTreeMap::new(),
            search: SearchDirs::system(),
            jobs: 1,
            slots: ProcessSlots::default(),
            lua_version,
        }
    }
}

/// An executable named `name` in one of the `PATH`-style `path_var` directories.
fn find_in_path(name: &str, path_var: &str) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .map(|dir| dir.join(name))
        .find(|candidate| crate::fsutil::is_executable(candidate))
}

/// One command a build ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    /// What it was for (`compiling src/x.c for module x`).
    pub step: String,
    /// The command line, shell-quoted.
    pub command: String,
    pub cwd: PathBuf,
    /// Its standard output followed by its standard error.
    pub output: String,
}

/// What a build did, for logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// The commands run, in order.
    pub commands: Vec<CommandRun>,
    /// Every file in the rock directory afterwards, relative to it, sorted.
    pub files: Vec<PathBuf>,
    /// Non-fatal problems (a `$(VAR)` reference to an unknown variable, removed as LuaRocks
    /// does).
    pub warnings: Vec<String>,
}

/// The rock directory's standard subdirectories; created before the build (Makefiles copy into
/// them without creating them) and removed afterwards when left empty.
const ROCK_SUBDIRS: [&str; 4] = ["lua", "lib", "bin", "conf"];

/// Builds `rockspec` from the sources unpacked in `source_dir` (where `source.dir` already
/// points) into `prefix`, an empty directory that becomes the rock directory. Only `prefix` and
/// `source_dir` are written to.
pub fn build_rock(
    rockspec: &Rockspec,
    source_dir: &Path,
    prefix: &Path,
    ctx: &BuildContext,
) -> Result<BuildReport, BuildError> {
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| BuildError::io("resolve", p, e));
    let source_dir = absolute(source_dir)?;
    let prefix = absolute(prefix)?;
    if !source_dir.is_dir() {
        return Err(BuildError::io(
            "build in the source directory",
            &source_dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let ctx = BuildContext {
        lua_incdir: absolute(&ctx.lua_incdir)?,
        ..ctx.clone()
    };

    let mut vars = rock_variables(&ctx, &prefix);
    for (name, dep) in dependencies_to_check(&rockspec.external_dependencies, &rockspec.build) {
        let found =
            find_external_dependency(&name, &dep, &ctx.search, &vars).map_err(|e| match e {
                BuildError::ExternalDependency {
                    name,
                    kind,
                    file,
                    searched,
                    dir_var,
                    ..
                } => BuildError::ExternalDependency {
                    name,
                    kind,
                    file,
                    searched,
                    dir_var,
                    package: rockspec.package.clone(),
                },
                other => other,
            })?;
        vars.extend(found);
    }

    for sub in ROCK_SUBDIRS {
        let dir = prefix.join(sub);
        std::fs::create_dir_all(&dir).map_err(|e| BuildError::io("create directory", &dir, e))?;
    }

    let mut report = BuildReport::default();
    let mut unmatched = Vec::new();
    let build = &rockspec.build;
    let mut modules = build.modules.clone();
    external::add_autodetected_dirs(&rockspec.external_dependencies, &mut modules);
    let mut install = build.install.clone();
    let mut copy_directories = build.copy_directories.clone();
    if build.kind == BuildType::Builtin
        && modules.is_empty()
        && rockspec.format == RockspecFormat::V3_0
    {
        let detected = detect_with_external_libraries(rockspec, &source_dir, &vars);
        modules = detected.modules;
        if install == Install::default() {
            install.bin = detected.bin;
        }
        if copy_directories.is_none() {
            copy_directories = Some(detected.copy_directories);
        }
    }
    let tool = tools::Tool {
        build,
        ctx: &ctx,
        vars: &vars,
        source_dir: &source_dir,
        prefix: &prefix,
    };
    match build.kind {
        BuildType::None => {}
        BuildType::Builtin => {
            builtin::Builtin {
                modules: &modules,
                ctx: &ctx,
                vars: &vars,
                source_dir: &source_dir,
                prefix: &prefix,
            }
            .run(&mut report.commands, &mut unmatched)?;
        }
        BuildType::Make => tool.make(&mut report.commands, &mut unmatched)?,
        BuildType::Cmake => tool.cmake(&mut report.commands, &mut unmatched)?,
        BuildType::Command => tool.command(&mut report.commands, &mut unmatched)?,
    }

    install::install_entries(&install, &source_dir, &prefix)?;
    install::copy_directories(copy_directories.as_deref(), &source_dir, &prefix)?;

    for sub in ROCK_SUBDIRS {
        // Fails, as intended, when the directory is not empty.
        let _ = std::fs::remove_dir(prefix.join(sub));
    }

    unmatched.sort();
    unmatched.dedup();
    report.warnings = unmatched
        .into_iter()
        .map(|name| {
            format!(
                "unmatched variable $({name}) in the rockspec's build table was replaced by nothing, as LuaRocks does (to give it a value: `lvm install NAME {name}=VALUE`, or `lvm config set variables {name}=VALUE`)"
            )
        })
        .collect();
    report.files = list_files(&prefix)?;
    Ok(report)
}

/// Autodetects a format 3.0 `builtin` rock's modules; C modules link the libraries of the
/// rock's external dependencies, as LuaRocks' `autoextract_libs` arranges.
fn detect_with_external_libraries(
    rockspec: &Rockspec,
    source_dir: &Path,
    vars: &Variables,
) -> autodetect::Detected {
    let mut libraries = Vec::new();
    let mut incdirs = Vec::new();
    let mut libdirs = Vec::new();
    for (name, dep) in &rockspec.external_dependencies {
        if let Some(library) = &dep.library {
            libraries.push(library.clone());
            incdirs.extend(vars.get(&format!("{name}_INCDIR")).cloned());
            libdirs.extend(vars.get(&format!("{name}_LIBDIR")).cloned());
        }
    }
    autodetect::detect(source_dir, &libraries, &incdirs, &libdirs)
}

/// Every file (and symbolic link) below `root`, relative to it, sorted.
fn list_files(root: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            BuildError::io("list", e.path().unwrap_or(root).to_path_buf(), e.into())
        })?;
        if !entry.file_type().is_dir() {
            if let Ok(rel) = entry.path().strip_prefix(root) {
                files.push(rel.to_path_buf());
            }
        }
    }
    files.sort();
    Ok(files)
}
