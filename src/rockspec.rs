//! Rockspecs: LuaRocks package descriptions, which are Lua code.
//!
//! A rockspec is evaluated in the [`crate::sandbox`] (no I/O, bounded instructions and memory),
//! its `platforms` overrides are merged for the running platform the way LuaRocks merges them,
//! and the result is mapped to the typed [`Rockspec`]. Mapping errors carry the field path
//! (`build.modules["foo.core"].sources`), which `lvm lint` reports.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::version::{Dependency, Version};

/// `rockspec_format`: absent means 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RockspecFormat {
    #[serde(rename = "1.0")]
    V1_0,
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "3.0")]
    V3_0,
}

/// A fully evaluated rockspec, with platform overrides already merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rockspec {
    pub format: RockspecFormat,
    /// Package name, lower-cased as LuaRocks does.
    pub package: String,
    pub version: Version,
    pub description: Description,
    pub source: Source,
    pub dependencies: Vec<Dependency>,
    pub build_dependencies: Vec<Dependency>,
    pub test_dependencies: Vec<Dependency>,
    /// External (system) dependencies by name, e.g. `OPENSSL = { header = "openssl/ssl.h" }`.
    pub external_dependencies: BTreeMap<String, ExternalDependency>,
    /// As written, e.g. `["unix", "!windows"]`; empty means every platform.
    pub supported_platforms: Vec<String>,
    pub build: Build,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    pub summary: Option<String>,
    pub detailed: Option<String>,
    pub homepage: Option<String>,
    pub license: Option<String>,
    pub maintainer: Option<String>,
    pub labels: Vec<String>,
}

/// Where the package's sources come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub url: String,
    pub tag: Option<String>,
    pub branch: Option<String>,
    pub md5: Option<String>,
    /// The file name to save the download as (overrides the URL's last segment).
    pub file: Option<String>,
    /// The directory inside the unpacked archive that holds the sources.
    pub dir: Option<String>,
}

/// What an external dependency needs: a header and/or a library (either may be given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalDependency {
    pub header: Option<String>,
    pub library: Option<String>,
}

/// The build back-ends lvm implements. Other `build.type` values need a `luarocks-build-<type>`
/// rock and are rejected with an error that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildType {
    Builtin,
    None,
    Make,
    Cmake,
    Command,
}

/// The `build` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    pub kind: BuildType,
    /// `build.modules` for `builtin` (module name → what builds it).
    pub modules: BTreeMap<String, Module>,
    pub install: Install,
    pub copy_directories: Vec<String>,
    /// `build.variables` (make/cmake).
    pub variables: BTreeMap<String, String>,
    /// `make`: `makefile`, `build_target`, `build_pass`, `install_target`, `install_pass`,
    /// `build_variables`, `install_variables`.
    pub makefile: Option<String>,
    pub build_target: Option<String>,
    pub build_pass: bool,
    pub install_target: Option<String>,
    pub install_pass: bool,
    pub build_variables: BTreeMap<String, String>,
    pub install_variables: BTreeMap<String, String>,
    /// `command`: `build_command` and `install_command`.
    pub build_command: Option<String>,
    pub install_command: Option<String>,
    /// `cmake`: the contents of a CMakeLists.txt given inline (`build.cmake`).
    pub cmake: Option<String>,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            kind: BuildType::Builtin,
            modules: BTreeMap::new(),
            install: Install::default(),
            copy_directories: Vec::new(),
            variables: BTreeMap::new(),
            makefile: None,
            build_target: None,
            build_pass: true,
            install_target: None,
            install_pass: true,
            build_variables: BTreeMap::new(),
            install_variables: BTreeMap::new(),
            build_command: None,
            install_command: None,
            cmake: None,
        }
    }
}

/// One entry of `build.modules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Module {
    /// A Lua file (`["foo.bar"] = "src/foo/bar.lua"`), or a single C file given as a string.
    Lua(String),
    /// A C module built from sources.
    C(CModule),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CModule {
    pub sources: Vec<String>,
    pub incdirs: Vec<String>,
    pub libdirs: Vec<String>,
    pub libraries: Vec<String>,
    pub defines: Vec<String>,
}

/// One file of `build.install.*`: an optional target name (the table key, e.g. the module name
/// for `lua`, the command name for `bin`) and the source path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallEntry {
    pub name: Option<String>,
    pub path: String,
}

/// `build.install`: files installed as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    pub lua: Vec<InstallEntry>,
    pub lib: Vec<InstallEntry>,
    pub bin: Vec<InstallEntry>,
    pub conf: Vec<InstallEntry>,
}

/// An error reading or evaluating a rockspec.
#[derive(Debug, Error)]
pub enum RockspecError {
    #[error("{file}: {message}")]
    Eval { file: String, message: String },
    #[error("{file}: {}", problems.join("; "))]
    Invalid { file: String, problems: Vec<String> },
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl Rockspec {
    /// Evaluates rockspec source text. `file` names it in errors.
    pub fn from_lua(source: &str, file: &str) -> Result<Rockspec, RockspecError> {
        let _ = (source, file);
        todo!("rockspec evaluation")
    }

    /// Reads and evaluates a rockspec file.
    pub fn from_file(path: &Path) -> Result<Rockspec, RockspecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RockspecError::Io {
            file: file.clone(),
            source,
        })?;
        Rockspec::from_lua(&text, &file)
    }

    /// `name-version.rockspec`, the name LuaRocks gives this rockspec's file.
    pub fn file_name(&self) -> String {
        format!("{}-{}.rockspec", self.package, self.version)
    }
}
