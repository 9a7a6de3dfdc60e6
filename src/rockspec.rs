//! Rockspecs: LuaRocks package descriptions, which are Lua code.
//!
//! A rockspec is evaluated in the [`crate::sandbox`] (no I/O, bounded instructions and memory),
//! its `platforms` overrides are merged for the running platform the way LuaRocks merges them,
//! and the result is mapped to the typed [`Rockspec`]. Mapping errors carry the field path
//! (`build.modules["foo.core"].sources`), which `lvm lint` reports.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::platform::platform_names;
use crate::sandbox::{Data, DataTable, Limits, Sandbox, SandboxError, field_path, index_path};
use crate::version::{Dependency, Version, check_package_name};

mod memo;
pub use memo::{ForgottenMemos, RockspecMemo};

/// `rockspec_format`: absent means 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// The `test` table (rockspec format 3.0), as written; `lvm test` runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestSpec>,
}

/// A rockspec's `test` table: how `luarocks test` (and `lvm test`) runs the package's tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSpec {
    /// `busted` or `command`; none to detect it (busted when a `.busted` file exists).
    pub kind: Option<String>,
    /// A shell command (type `command`).
    pub command: Option<String>,
    /// A Lua script run with the environment's interpreter (type `command`).
    pub script: Option<String>,
    /// Arguments passed to busted, the command or the script.
    pub flags: Vec<String>,
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

impl Description {
    /// The summary on one line (runs of blanks and line breaks made one space), or none when
    /// it is blank: how `show` and `search` print it.
    pub fn summary_line(&self) -> Option<String> {
        let summary = self.summary.as_deref()?;
        let line = summary.split_whitespace().collect::<Vec<_>>().join(" ");
        (!line.is_empty()).then_some(line)
    }
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

/// What an external dependency needs: a program, a header and/or a library (any may be
/// given; LuaRocks' rockspec formats take one name of each, not lists).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalDependency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
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
    /// `build.type`. When absent: `builtin` in format 3.0 (LuaRocks then finds the modules
    /// itself when `modules` is empty) or when `modules` is given, `none` otherwise.
    pub kind: BuildType,
    /// `build.modules` for `builtin` (module name → what builds it).
    pub modules: BTreeMap<String, Module>,
    pub install: Install,
    /// `build.copy_directories`; `None` when the rockspec leaves it out (LuaRocks then copies
    /// `doc`), which differs from an explicit empty list.
    pub copy_directories: Option<Vec<String>>,
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
            copy_directories: None,
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
    /// A Lua file (`["foo.bar"] = "src/foo/bar.lua"`).
    Lua(String),
    /// A C module built from sources. A string that does not end in `.lua` is a C module with
    /// that one source, as LuaRocks reads it.
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

impl Install {
    /// The four groups with their key (`lua`, `lib`, `bin`, `conf`), in LuaRocks' order.
    pub fn groups(&self) -> [(&'static str, &[InstallEntry]); 4] {
        [
            ("lua", &self.lua),
            ("lib", &self.lib),
            ("bin", &self.bin),
            ("conf", &self.conf),
        ]
    }
}

/// An error reading or evaluating a rockspec.
#[derive(Debug, Error)]
pub enum RockspecError {
    #[error("{file}: {message}")]
    Eval { file: String, message: String },
    #[error("{file}: {}", problems.join("; "))]
    Invalid { file: String, problems: Vec<String> },
    #[error("{file}: cannot read: {cause}")]
    Io { file: String, cause: std::io::Error },
}

impl Rockspec {
    /// Evaluates rockspec source text. `file` names it in errors. Warning-level problems (such
    /// as unknown fields in format 1.0) are logged, not returned.
    pub fn from_lua(source: &str, file: &str) -> Result<Rockspec, RockspecError> {
        Rockspec::evaluate_logged(source, file).map(|(rockspec, _)| rockspec)
    }

    /// [`Rockspec::from_lua`], also returning the warnings it logged.
    fn evaluate_logged(source: &str, file: &str) -> Result<(Rockspec, Vec<String>), RockspecError> {
        let mut checked = evaluate(source, file).map_err(|e| RockspecError::Eval {
            file: file.to_string(),
            message: e.detail_with_line(),
        })?;
        // LuaRocks refuses a rockspec whose file name disagrees with its contents when it
        // installs, not only when it lints (`fetch.load_local_rockspec`).
        // Only for an otherwise valid rockspec: a bad version is reported once, as itself.
        if let (Some(_), Some(package), Some(version)) =
            (&checked.rockspec, &checked.package, &checked.version)
        {
            let mismatches = lint_file_name(file, package, version);
            checked.problems.extend(mismatches);
        }
        let (errors, warnings): (Vec<Problem>, Vec<Problem>) = checked
            .problems
            .into_iter()
            .partition(|p| p.severity == Severity::Error);
        let warnings: Vec<String> = warnings.iter().map(Problem::to_string).collect();
        for warning in &warnings {
            tracing::warn!("{file}: {warning}");
        }
        match checked.rockspec {
            Some(rockspec) if errors.is_empty() => Ok((rockspec, warnings)),
            _ => Err(RockspecError::Invalid {
                file: file.to_string(),
                problems: errors.iter().map(Problem::to_string).collect(),
            }),
        }
    }

    /// Reads and evaluates a rockspec file.
    pub fn from_file(path: &Path) -> Result<Rockspec, RockspecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RockspecError::Io {
            file: file.clone(),
            cause: source,
        })?;
        Rockspec::from_lua(&text, &file)
    }

    /// `name-version.rockspec`, the name LuaRocks gives this rockspec's file.
    pub fn file_name(&self) -> String {
        format!("{}-{}.rockspec", self.package, self.version)
    }
}

/// How serious a [`Problem`] is. LuaRocks refuses rockspecs with errors; warnings are things
/// it accepts but that are probably mistakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One thing wrong with a rockspec: the field path (`build.modules["foo.core"].sources`, empty
/// for the file as a whole), the source line when Lua reported one, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub path: String,
    pub line: Option<u32>,
    pub message: String,
    pub severity: Severity,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem `lvm lint` reports for a rockspec: evaluation errors (with their line), type
/// errors (with their field path), and mistakes LuaRocks would only notice later: a module
/// path that is not relative to the source tree, and a file name that does not match the
/// package and version inside. Empty means the rockspec is fine.
pub fn lint(source: &str, file: &str) -> Vec<Problem> {
    let checked = match evaluate(source, file) {
        Ok(checked) => checked,
        Err(e) => {
            return vec![Problem {
                path: String::new(),
                line: e.line(),
                message: e.detail(),
                severity: Severity::Error,
            }];
        }
    };
    let mut problems = checked.problems;
    if let Some(build) = &checked.build {
        problems.extend(lint_paths(build));
    }
    if let (Some(package), Some(version)) = (&checked.package, &checked.version) {
        problems.extend(lint_file_name(file, package, version));
    }
    problems
}

/// The outcome of evaluating and checking a rockspec: the typed rockspec when its shape
/// allowed building one, every problem found, and the package and version when they could be
/// read (for checks that need them even when other fields are broken).
struct Checked {
    rockspec: Option<Rockspec>,
    build: Option<Build>,
    problems: Vec<Problem>,
    package: Option<String>,
    version: Option<String>,
}

fn evaluate(source: &str, file: &str) -> Result<Checked, SandboxError> {
    let sandbox = Sandbox::new(Limits::ROCKSPEC)?;
    let env = sandbox.eval_globals(source, file)?;
    let globals = sandbox.globals_to_data(&env, file)?;
    Ok(check_globals(globals))
}

/// Top-level keys LuaRocks knows, with the format that introduced each.
const TOP_LEVEL: &[(&str, RockspecFormat)] = &[
    ("rockspec_format", RockspecFormat::V1_0),
    ("package", RockspecFormat::V1_0),
    ("version", RockspecFormat::V1_0),
    ("description", RockspecFormat::V1_0),
    ("dependencies", RockspecFormat::V1_0),
    ("build_dependencies", RockspecFormat::V3_0),
    ("test_dependencies", RockspecFormat::V3_0),
    ("supported_platforms", RockspecFormat::V1_0),
    ("external_dependencies", RockspecFormat::V1_0),
    ("source", RockspecFormat::V1_0),
    ("build", RockspecFormat::V1_0),
    ("test", RockspecFormat::V3_0),
    ("hooks", RockspecFormat::V1_0),
    ("deploy", RockspecFormat::V1_1),
];

fn check_globals(mut globals: DataTable) -> Checked {
    let mut c = Checker {
        problems: Vec::new(),
        format: RockspecFormat::V1_0,
    };
    if let Some(format) = c.opt_string(&globals, "", "rockspec_format") {
        match format.as_str() {
            "1.0" => c.format = RockspecFormat::V1_0,
            "1.1" => c.format = RockspecFormat::V1_1,
            "3.0" => c.format = RockspecFormat::V3_0,
            other => c.error(
                "rockspec_format",
                format!("unsupported rockspec format \"{other}\" (lvm reads 1.0, 1.1 and 3.0)"),
            ),
        }
    }
    for (key, since) in TOP_LEVEL {
        if globals.fields.contains_key(*key) {
            c.require_format(key, *since);
        }
    }
    let known: Vec<&str> = TOP_LEVEL.iter().map(|(k, _)| *k).collect();
    c.unknown_keys(&globals, "", &known);

    // Platform overrides are merged before the sections are read, as LuaRocks does.
    for section in [
        "build",
        "dependencies",
        "build_dependencies",
        "test_dependencies",
        "external_dependencies",
        "source",
        "hooks",
        "test",
    ] {
        if let Some(Data::Table(table)) = globals.fields.get_mut(section) {
            let others = merge_platform_overrides(table, section, &mut c);
            for (name, partial) in others {
                let path = field_path(&field_path(section, "platforms"), &name);
                c.check_section(section, &partial, &path);
            }
        }
    }

    let package =
        c.required_string(&globals, "", "package")
            .filter(|name| match check_package_name(name) {
                Ok(()) => true,
                Err(e) => {
                    c.error("package", e.to_string());
                    false
                }
            });
    let version_text = c.required_string(&globals, "", "version");
    let version = version_text.as_deref().and_then(|v| c.version(v));
    let description = c.description(&globals);
    let source = match globals.get("source") {
        None => {
            c.error(
                "source",
                "missing: a rockspec needs a source table with a url",
            );
            None
        }
        Some(value) => c
            .table(value, "source")
            .map(|t| c.source(t, "source", false)),
    };
    let dependencies = c.dependency_field(&globals, "dependencies");
    let build_dependencies = c.dependency_field(&globals, "build_dependencies");
    let test_dependencies = c.dependency_field(&globals, "test_dependencies");
    let external_dependencies = match globals.get("external_dependencies") {
        None => BTreeMap::new(),
        Some(value) => c
            .table(value, "external_dependencies")
            .map(|t| c.external_dependencies(t, "external_dependencies"))
            .unwrap_or_default(),
    };
    let test = match globals.get("test") {
        None => None,
        Some(value) => c.table(value, "test").map(|t| c.test(t, "test")),
    };
    let supported_platforms = match globals.get("supported_platforms") {
        None => Vec::new(),
        Some(value) => c.string_list(value, "supported_platforms"),
    };
    let build = match globals.get("build") {
        None => {
            if c.format < RockspecFormat::V3_0 {
                c.warning(
                    "build",
                    "missing: rockspec format 1.0 requires a build table (add `build = { type = \"none\" }`, or set rockspec_format = \"3.0\")",
                );
            }
            Some(Build {
                kind: if c.format >= RockspecFormat::V3_0 {
                    BuildType::Builtin
                } else {
                    BuildType::None
                },
                ..Build::default()
            })
        }
        Some(value) => c
            .table(value, "build")
            .and_then(|t| c.build(t, "build", false)),
    };

    let rockspec = match (package.clone(), version, source.flatten(), build.clone()) {
        (Some(package), Some(version), Some(source), Some(build)) => Some(Rockspec {
            format: c.format,
            package: package.to_lowercase(),
            version,
            description,
            source,
            dependencies,
            build_dependencies,
            test_dependencies,
            external_dependencies,
            supported_platforms,
            build,
            test,
        }),
        _ => None,
    };
    Checked {
        rockspec,
        build,
        problems: c.problems,
        package,
        version: version_text,
    }
}

/// Removes `platforms` from a section and deep-merges the tables of the running platform into
/// it, least specific first (`unix`, then `linux`), overriding scalars and merging tables — list
/// entries are merged by position, exactly as LuaRocks' `util.deep_merge` does. Returns the
/// overrides for other platforms, which are only type-checked.
fn merge_platform_overrides(
    section: &mut DataTable,
    path: &str,
    c: &mut Checker,
) -> Vec<(String, DataTable)> {
    let platforms_path = field_path(path, "platforms");
    let platforms = match section.fields.remove("platforms") {
        None => return Vec::new(),
        Some(Data::Table(t)) => t,
        Some(other) => {
            c.type_error(&platforms_path, "table", &other);
            return Vec::new();
        }
    };
    c.no_positional(&platforms, &platforms_path);
    let running = platform_names();
    for name in running.iter().rev() {
        match platforms.fields.get(*name) {
            Some(Data::Table(overrides)) => deep_merge(section, overrides),
            Some(other) => c.type_error(&field_path(&platforms_path, name), "table", other),
            None => {}
        }
    }
    let mut others = Vec::new();
    for (name, value) in platforms.fields {
        if running.contains(&name.as_str()) {
            continue;
        }
        match value {
            Data::Table(t) => others.push((name, t)),
            other => c.type_error(&field_path(&platforms_path, &name), "table", &other),
        }
    }
    others
}

fn deep_merge(dst: &mut DataTable, src: &DataTable) {
    for (key, value) in &src.fields {
        merge_value(
            dst.fields
                .entry(key.clone())
                .or_insert(Data::Boolean(false)),
            value,
        );
    }
    for (i, value) in src.array.iter().enumerate() {
        match dst.array.get_mut(i) {
            Some(slot) => merge_value(slot, value),
            None => dst.array.push(value.clone()),
        }
    }
    for (key, value) in &src.numbered {
        let slot = usize::try_from(*key)
            .ok()
            .and_then(|k| k.checked_sub(1))
            .and_then(|i| dst.array.get_mut(i));
        match slot {
            Some(slot) => merge_value(slot, value),
            None => merge_value(
                dst.numbered.entry(*key).or_insert(Data::Boolean(false)),
                value,
            ),
        }
    }
    for (key, value) in &src.other {
        match dst.other.iter_mut().find(|(k, _)| k == key) {
            Some((_, slot)) => merge_value(slot, value),
            None => dst.other.push((key.clone(), value.clone())),
        }
    }
    dst.normalize();
}

fn merge_value(slot: &mut Data, value: &Data) {
    match (slot, value) {
        (Data::Table(dst), Data::Table(src)) => deep_merge(dst, src),
        (slot, value) => *slot = value.clone(),
    }
}

/// Accumulates problems while reading the evaluated globals into the typed model.
struct Checker {
    problems: Vec<Problem>,
    format: RockspecFormat,
}

impl Checker {
    fn push(&mut self, path: &str, message: impl Into<String>, severity: Severity) {
        self.problems.push(Problem {
            path: path.to_string(),
            line: None,
            message: message.into(),
            severity,
        });
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.push(path, message, Severity::Error);
    }

    fn warning(&mut self, path: &str, message: impl Into<String>) {
        self.push(path, message, Severity::Warning);
    }

    fn type_error(&mut self, path: &str, expected: &str, found: &Data) {
        self.error(
            path,
            format!("expected {expected}, found {}", found.type_name()),
        );
    }

    fn require_format(&mut self, path: &str, since: RockspecFormat) {
        if self.format < since {
            self.error(
                path,
                format!(
                    "not supported in rockspec format {} (requires {}); set rockspec_format = \"{}\"",
                    format_name(self.format),
                    format_name(since),
                    format_name(since)
                ),
            );
        }
    }

    /// Keys LuaRocks does not know: an error in format 3.0 (LuaRocks type-checks them), a
    /// warning before.
    fn unknown_keys(&mut self, table: &DataTable, path: &str, known: &[&str]) {
        for key in table.fields.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let p = field_path(path, key);
            let hint = misplaced_hint(path, key);
            if self.format >= RockspecFormat::V3_0 {
                self.error(
                    &p,
                    format!("unknown field (LuaRocks rejects unknown fields in rockspec format 3.0){hint}"),
                );
            } else {
                self.warning(&p, format!("unknown field (ignored){hint}"));
            }
        }
        self.no_positional(table, path);
    }

    /// Reports list entries and odd keys in a table that should only have named fields.
    fn no_positional(&mut self, table: &DataTable, path: &str) {
        for (i, value) in table.array.iter().enumerate() {
            self.error(
                &index_path(path, i + 1),
                format!(
                    "unexpected list entry ({}); this table takes named fields",
                    value.type_name()
                ),
            );
        }
        for key in table.stray_keys() {
            self.error(
                &format!("{path}{key}"),
                "unexpected key; this table takes named fields",
            );
        }
    }

    fn table<'a>(&mut self, value: &'a Data, path: &str) -> Option<&'a DataTable> {
        match value {
            Data::Table(t) => Some(t),
            other => {
                self.type_error(path, "table", other);
                None
            }
        }
    }

    fn opt_string(&mut self, table: &DataTable, parent: &str, key: &str) -> Option<String> {
        match table.get(key)? {
            Data::String(s) => Some(s.clone()),
            other => {
                self.type_error(&field_path(parent, key), "string", other);
                None
            }
        }
    }

    fn required_string(&mut self, table: &DataTable, parent: &str, key: &str) -> Option<String> {
        if table.get(key).is_none() {
            self.error(&field_path(parent, key), "missing (required)");
        }
        self.opt_string(table, parent, key)
    }

    fn opt_bool(&mut self, table: &DataTable, parent: &str, key: &str) -> Option<bool> {
        match table.get(key)? {
            Data::Boolean(b) => Some(*b),
            other => {
                self.type_error(&field_path(parent, key), "boolean", other);
                None
            }
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    fn string_list(&mut self, value: &Data, path: &str) -> Vec<String> {
        match value {
            Data::String(s) => vec![s.clone()],
            Data::Table(t) => {
                let mut out = Vec::new();
                for (i, item) in t.array.iter().enumerate() {
                    match item {
                        Data::String(s) => out.push(s.clone()),
                        other => self.type_error(&index_path(path, i + 1), "string", other),
                    }
                }
                for key in t.fields.keys() {
                    self.error(
                        &field_path(path, key),
                        "unexpected named field in a list of strings",
                    );
                }
                for key in t.stray_keys() {
                    self.error(
                        &format!("{path}{key}"),
                        "unexpected key in a list of strings (a hole in the list?)",
                    );
                }
                out
            }
            other => {
                self.type_error(path, "string or list of strings", other);
                Vec::new()
            }
        }
    }

    fn opt_string_list(&mut self, table: &DataTable, parent: &str, key: &str) -> Vec<String> {
        match table.get(key) {
            None => Vec::new(),
            Some(value) => self.string_list(value, &field_path(parent, key)),
        }
    }

    /// A table of name → string; numbers are accepted and written as Lua would print them.
    fn string_map(
        &mut self,
        table: &DataTable,
        parent: &str,
        key: &str,
    ) -> BTreeMap<String, String> {
        let path = field_path(parent, key);
        let Some(value) = table.get(key) else {
            return BTreeMap::new();
        };
        let Some(map) = self.table(value, &path) else {
            return BTreeMap::new();
        };
        self.no_positional(map, &path);
        let mut out = BTreeMap::new();
        for (name, value) in &map.fields {
            let text = match value {
                Data::String(s) => s.clone(),
                Data::Integer(i) => i.to_string(),
                Data::Number(n) => n.to_string(),
                other => {
                    self.type_error(&field_path(&path, name), "string", other);
                    continue;
                }
            };
            out.insert(name.clone(), text);
        }
        out
    }

    fn version(&mut self, text: &str) -> Option<Version> {
        match Version::parse(text) {
            Ok(v) if v.revision().is_some() && !is_rockspec_version(text) => {
                self.error(
                    "version",
                    format!(
                        "invalid version {text:?}: a rockspec version is letters, digits and \
                         dots, then '-' and the rockspec revision, e.g. \"1.2.0-1\" (LuaRocks' \
                         rule)"
                    ),
                );
                None
            }
            Ok(v) if v.revision().is_none() => {
                self.error(
                    "version",
                    format!(
                        "\"{text}\" has no rockspec revision; write the version as upstream-revision, e.g. \"{text}-1\""
                    ),
                );
                None
            }
            Ok(v) => Some(v),
            Err(e) => {
                self.error("version", e.to_string());
                None
            }
        }
    }

    fn description(&mut self, globals: &DataTable) -> Description {
        let Some(value) = globals.get("description") else {
            return Description::default();
        };
        let Some(t) = self.table(value, "description") else {
            return Description::default();
        };
        self.unknown_keys(
            t,
            "description",
            &[
                "summary",
                "detailed",
                "homepage",
                "license",
                "maintainer",
                "labels",
                "issues_url",
            ],
        );
        for key in ["labels", "issues_url"] {
            if t.fields.contains_key(key) {
                self.require_format(&field_path("description", key), RockspecFormat::V3_0);
            }
        }
        let _ = self.opt_string(t, "description", "issues_url");
        Description {
            summary: self.opt_string(t, "description", "summary"),
            detailed: self.opt_string(t, "description", "detailed"),
            homepage: self.opt_string(t, "description", "homepage"),
            license: self.opt_string(t, "description", "license"),
            maintainer: self.opt_string(t, "description", "maintainer"),
            labels: self.opt_string_list(t, "description", "labels"),
        }
    }

    /// Reads `source`. In a platform override (`partial`) nothing is mandatory.
    fn source(&mut self, t: &DataTable, path: &str, partial: bool) -> Option<Source> {
        self.unknown_keys(
            t,
            path,
            &[
                "url",
                "md5",
                "file",
                "dir",
                "tag",
                "branch",
                "module",
                "cvs_tag",
                "cvs_module",
                "platforms",
            ],
        );
        let url = if partial {
            self.opt_string(t, path, "url")
        } else {
            self.required_string(t, path, "url")
        };
        if url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            self.error(
                &field_path(path, "url"),
                "empty: give the URL of the sources",
            );
        }
        let module = self.opt_string(t, path, "module");
        let cvs_module = self.opt_string(t, path, "cvs_module");
        let cvs_tag = self.opt_string(t, path, "cvs_tag");
        let source = Source {
            url: url.unwrap_or_default(),
            // LuaRocks' old CVS spellings fill in the modern fields.
            tag: self.opt_string(t, path, "tag").or(cvs_tag),
            branch: self.opt_string(t, path, "branch"),
            md5: self.opt_string(t, path, "md5"),
            file: self.opt_string(t, path, "file"),
            dir: self.opt_string(t, path, "dir").or(cvs_module).or(module),
        };
        (!source.url.trim().is_empty()).then_some(source)
    }

    fn dependency_field(&mut self, globals: &DataTable, key: &str) -> Vec<Dependency> {
        match globals.get(key) {
            None => Vec::new(),
            Some(value) => self.dependencies(value, key),
        }
    }

    fn dependencies(&mut self, value: &Data, path: &str) -> Vec<Dependency> {
        let mut out = Vec::new();
        for (i, text) in self.string_list(value, path).into_iter().enumerate() {
            match Dependency::parse(&text) {
                Ok(dep) => out.push(dep),
                Err(e) => {
                    let p = if matches!(value, Data::String(_)) {
                        path.to_string()
                    } else {
                        index_path(path, i + 1)
                    };
                    self.error(&p, e.to_string());
                }
            }
        }
        out
    }

    fn external_dependencies(
        &mut self,
        t: &DataTable,
        path: &str,
    ) -> BTreeMap<String, ExternalDependency> {
        self.no_positional(t, path);
        let mut out = BTreeMap::new();
        for (name, value) in &t.fields {
            let p = field_path(path, name);
            let Some(entry) = self.table(value, &p) else {
                continue;
            };
            self.unknown_keys(entry, &p, &["header", "library", "program"]);
            out.insert(
                name.clone(),
                ExternalDependency {
                    program: self.opt_string(entry, &p, "program"),
                    header: self.opt_string(entry, &p, "header"),
                    library: self.opt_string(entry, &p, "library"),
                },
            );
        }
        out
    }

    /// Type-checks a platform override of a section (its result is not used).
    fn check_section(&mut self, section: &str, t: &DataTable, path: &str) {
        match section {
            "build" => {
                let _ = self.build(t, path, true);
            }
            "dependencies" | "build_dependencies" | "test_dependencies" => {
                let _ = self.dependencies(&Data::Table(t.clone()), path);
            }
            "external_dependencies" => {
                let _ = self.external_dependencies(t, path);
            }
            "source" => {
                let _ = self.source(t, path, true);
            }
            "test" => {
                let _ = self.test(t, path);
            }
            _ => {}
        }
    }

    /// Reads `test`: its type, command or script, and flags. Other keys are the test type's
    /// own (LuaRocks lets them through).
    fn test(&mut self, t: &DataTable, path: &str) -> TestSpec {
        TestSpec {
            kind: self.opt_string(t, path, "type"),
            command: self.opt_string(t, path, "command"),
            script: self.opt_string(t, path, "script"),
            flags: self.opt_string_list(t, path, "flags"),
        }
    }

    /// Reads `build`. In a platform override (`partial`) the defaults are not applied, but the
    /// types are checked all the same.
    fn build(&mut self, t: &DataTable, path: &str, partial: bool) -> Option<Build> {
        let mut build = Build::default();
        let modules_present = t.fields.contains_key("modules");
        build.kind = match self.opt_string(t, path, "type") {
            Some(kind) => match kind.as_str() {
                "builtin" | "module" => BuildType::Builtin,
                "none" => BuildType::None,
                "make" => BuildType::Make,
                "cmake" => BuildType::Cmake,
                "command" => BuildType::Command,
                other => {
                    self.error(
                        &field_path(path, "type"),
                        format!(
                            "unsupported build type \"{other}\": LuaRocks would need the \
                             luarocks-build-{other} rock, which lvm does not support (lvm builds \
                             builtin, make, cmake, command and none)"
                        ),
                    );
                    return None;
                }
            },
            None if modules_present || self.format >= RockspecFormat::V3_0 || partial => {
                BuildType::Builtin
            }
            None => BuildType::None,
        };
        if let Some(value) = t.get("modules") {
            let p = field_path(path, "modules");
            if let Some(modules) = self.table(value, &p) {
                build.modules = self.modules(modules, &p, partial);
            }
        }
        if let Some(value) = t.get("install") {
            let p = field_path(path, "install");
            if let Some(install) = self.table(value, &p) {
                build.install = self.install(install, &p);
            }
        }
        build.copy_directories = t
            .get("copy_directories")
            .map(|value| self.string_list(value, &field_path(path, "copy_directories")));
        build.variables = self.string_map(t, path, "variables");
        build.makefile = self.opt_string(t, path, "makefile");
        build.build_target = self.opt_string(t, path, "build_target");
        build.install_target = self.opt_string(t, path, "install_target");
        build.build_pass = self.opt_bool(t, path, "build_pass").unwrap_or(true);
        build.install_pass = self.opt_bool(t, path, "install_pass").unwrap_or(true);
        build.build_variables = self.string_map(t, path, "build_variables");
        build.install_variables = self.string_map(t, path, "install_variables");
        build.build_command = self.opt_string(t, path, "build_command");
        build.install_command = self.opt_string(t, path, "install_command");
        build.cmake = self.opt_string(t, path, "cmake");
        self.no_positional(t, path);
        Some(build)
    }

    fn modules(&mut self, t: &DataTable, path: &str, partial: bool) -> BTreeMap<String, Module> {
        self.no_positional(t, path);
        let mut out = BTreeMap::new();
        for (name, value) in &t.fields {
            let p = field_path(path, name);
            let module = match value {
                Data::String(file) if file.ends_with(".lua") => Module::Lua(file.clone()),
                Data::String(file) => Module::C(CModule {
                    sources: vec![file.clone()],
                    ..CModule::default()
                }),
                Data::Table(spec) => match self.c_module(spec, &p, partial) {
                    Some(m) => Module::C(m),
                    None => continue,
                },
                other => {
                    self.type_error(&p, "string (a file) or table (a C module)", other);
                    continue;
                }
            };
            out.insert(name.clone(), module);
        }
        out
    }

    /// In a platform override (`partial`) the sources may come from the main table.
    fn c_module(&mut self, t: &DataTable, path: &str, partial: bool) -> Option<CModule> {
        // LuaRocks takes the list part as the sources when there is one.
        let sources = if !t.array.is_empty() {
            if t.fields.contains_key("sources") {
                self.warning(
                    &field_path(path, "sources"),
                    "ignored: the list entries of this table are its sources",
                );
            }
            self.string_list(
                &Data::Table(DataTable {
                    array: t.array.clone(),
                    ..DataTable::default()
                }),
                path,
            )
        } else {
            match t.get("sources") {
                Some(value) => self.string_list(value, &field_path(path, "sources")),
                None if partial => Vec::new(),
                None => {
                    self.error(
                        &field_path(path, "sources"),
                        "missing: a C module needs its source files (sources = {\"file.c\"})",
                    );
                    return None;
                }
            }
        };
        Some(CModule {
            sources,
            incdirs: self.opt_string_list(t, path, "incdirs"),
            libdirs: self.opt_string_list(t, path, "libdirs"),
            libraries: self.opt_string_list(t, path, "libraries"),
            defines: self.opt_string_list(t, path, "defines"),
        })
    }

    fn install(&mut self, t: &DataTable, path: &str) -> Install {
        self.unknown_keys(t, path, &["lua", "lib", "bin", "conf"]);
        Install {
            lua: self.install_entries(t, path, "lua"),
            lib: self.install_entries(t, path, "lib"),
            bin: self.install_entries(t, path, "bin"),
            conf: self.install_entries(t, path, "conf"),
        }
    }

    fn install_entries(&mut self, t: &DataTable, parent: &str, key: &str) -> Vec<InstallEntry> {
        let path = field_path(parent, key);
        let Some(value) = t.get(key) else {
            return Vec::new();
        };
        let Some(table) = self.table(value, &path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, value) in table.array.iter().enumerate() {
            match value {
                Data::String(file) => out.push(InstallEntry {
                    name: None,
                    path: file.clone(),
                }),
                other => self.type_error(&index_path(&path, i + 1), "string", other),
            }
        }
        for (name, value) in &table.fields {
            match value {
                Data::String(file) => out.push(InstallEntry {
                    name: Some(name.clone()),
                    path: file.clone(),
                }),
                other => self.type_error(&field_path(&path, name), "string", other),
            }
        }
        for key in table.stray_keys() {
            self.error(
                &format!("{path}{key}"),
                "unexpected key (use a list entry or a name)",
            );
        }
        out
    }
}

/// Suggests the table a top-level field probably belongs in.
fn misplaced_hint(path: &str, key: &str) -> String {
    if !path.is_empty() {
        return String::new();
    }
    let table = match key {
        "summary" | "detailed" | "homepage" | "license" | "maintainer" | "labels" => "description",
        "url" | "tag" | "branch" | "md5" | "dir" | "file" => "source",
        "modules" | "install" | "copy_directories" | "type" => "build",
        _ => return String::new(),
    };
    format!("; did you mean {table}.{key}?")
}

fn format_name(format: RockspecFormat) -> &'static str {
    match format {
        RockspecFormat::V1_0 => "1.0",
        RockspecFormat::V1_1 => "1.1",
        RockspecFormat::V3_0 => "3.0",
    }
}

/// Source-tree paths in `build.modules` and `build.install` must stay inside the unpacked
/// sources: an error, since the build refuses them too (it would read host files otherwise).
fn lint_paths(build: &Build) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut check = |path: String, file: &str| {
        if let Some(why) = source_path_problem(file) {
            problems.push(Problem {
                path,
                line: None,
                message: format!("\"{file}\" {why}; paths are relative to the source directory"),
                severity: Severity::Error,
            });
        }
    };
    let modules_path = "build.modules";
    for (name, module) in &build.modules {
        let p = field_path(modules_path, name);
        match module {
            Module::Lua(file) => check(p, file),
            Module::C(c) => {
                for (i, file) in c.sources.iter().enumerate() {
                    let sp = if c.sources.len() == 1 {
                        p.clone()
                    } else {
                        index_path(&field_path(&p, "sources"), i + 1)
                    };
                    check(sp, file);
                }
            }
        }
    }
    for (kind, entries) in build.install.groups() {
        let base = field_path("build.install", kind);
        for (i, entry) in entries.iter().enumerate() {
            let p = match &entry.name {
                Some(name) => field_path(&base, name),
                None => index_path(&base, i + 1),
            };
            check(p, &entry.path);
        }
    }
    problems
}

/// Why a source file named in a rockspec (`build.modules`, `build.install`) would be read from
/// outside the unpacked sources, or `None` when it stays inside. The one check behind `lvm lint`
/// and the build back-ends.
pub fn source_path_problem(file: &str) -> Option<&'static str> {
    let bytes = file.as_bytes();
    if file.starts_with('/') || file.starts_with('\\') {
        Some("is an absolute path")
    } else if file.starts_with('~') {
        Some("starts at a home directory")
    } else if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        Some("is an absolute Windows path")
    } else if file.contains("://") {
        Some("is a URL")
    } else if file.split(['/', '\\']).any(|part| part == "..") {
        Some("leaves the source directory with `..`")
    } else if file.is_empty() {
        Some("is empty")
    } else {
        None
    }
}

/// `name-version.rockspec` must agree with the package and version inside, as LuaRocks checks
/// when it loads a rockspec file. Files not named that way are not checked.
fn lint_file_name(file: &str, package: &str, version: &str) -> Vec<Problem> {
    let name = Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((file_package, file_version)) = split_rockspec_file_name(&name) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    if file_package != package.to_lowercase() {
        problems.push(Problem {
            path: "package".into(),
            line: None,
            message: format!(
                "\"{package}\" does not match the file name {name} (expected the file to be named {}-{version}.rockspec)",
                package.to_lowercase()
            ),
            severity: Severity::Error,
        });
    }
    if file_version != version {
        problems.push(Problem {
            path: "version".into(),
            line: None,
            message: format!(
                "\"{version}\" does not match the file name {name} (expected {}-{version}.rockspec)",
                package.to_lowercase()
            ),
            severity: Severity::Error,
        });
    }
    problems
}

/// LuaRocks' rule for the `version` field, `^[%w.]+-%d+$`: what may appear in file names and
/// paths built from it.
fn is_rockspec_version(text: &str) -> bool {
    text.rsplit_once('-').is_some_and(|(upstream, revision)| {
        !upstream.is_empty()
            && upstream
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.')
            && !revision.is_empty()
            && revision.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Splits `lua-cjson-2.1.0-1.rockspec` into (`lua-cjson`, `2.1.0-1`).
fn split_rockspec_file_name(name: &str) -> Option<(String, String)> {
    let stem = name.strip_suffix(".rockspec")?;
    let (rest, revision) = stem.rsplit_once('-')?;
    if revision.is_empty() || !revision.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (package, upstream) = rest.rsplit_once('-')?;
    if package.is_empty() || upstream.is_empty() {
        return None;
    }
    Some((package.to_lowercase(), format!("{upstream}-{revision}")))
}

#[cfg(test)]
mod tests {
    use super::Description;

    #[test]
    fn the_summary_line_joins_blanks_and_drops_an_empty_summary() {
        let with = |summary: Option<&str>| Description {
            summary: summary.map(str::to_owned),
            ..Description::default()
        };
        assert_eq!(
            with(Some("  A JSON\n   library\t"))
                .summary_line()
                .as_deref(),
            Some("A JSON library")
        );
        assert_eq!(with(Some(" \n ")).summary_line(), None);
        assert_eq!(with(None).summary_line(), None);
    }
}
