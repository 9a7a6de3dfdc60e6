//! The environment state, `manifest.json`: the exact packages an environment holds, why, where
//! they came from and what they installed.
//!
//! The bytes are deterministic (sorted keys, fixed formatting, one package per block) so that a
//! `git diff` of two states reads as a list of package changes. The state is a fold of the event
//! log ([`crate::events`]); [`diff`] computes the changes between two states.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::format_version::{Format, FormatVersion, Unsupported};
use crate::luaversion::{LuaVersion, UnknownLuaVersion};
use crate::version::Version;

/// The manifest format this lvm writes.
pub const FORMAT: FormatVersion = FormatVersion::new(1, 0, 0);

/// The manifest formats this lvm writes and reads.
pub const FORMAT_SPEC: Format = Format {
    name: "manifest format",
    writes: FORMAT,
    reads: "^1",
};

/// Where a package came from, enough to fetch and rebuild the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PackageSource {
    /// A rockspec from a rocks server.
    Server {
        /// The rocks server the rockspec came from.
        server: String,
        /// sha256 of the rockspec text.
        rockspec_sha256: String,
        /// The source archive URL the rockspec names (empty for rocks without sources).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        url: String,
        /// sha256 of the fetched source archive, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// The exact commit, for rockspecs whose source is a git repository.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
    },
    /// A git repository given directly (`lvm install git+https://...`).
    Git {
        url: String,
        commit: String,
        /// The rockspec's path inside the repository.
        rockspec: String,
        rockspec_sha256: String,
    },
    /// A local rockspec file (`lvm install ./foo-1.0-1.rockspec`).
    Rockspec {
        path: String,
        rockspec_sha256: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
    },
    /// A rock file on disk (`lvm install ./foo-1.0-1.src.rock`, or a binary rock such as
    /// `foo-1.0-1.all.rock`): a source rock is built, a binary rock installed as it is.
    Rock {
        /// The rock file (absolute).
        path: String,
        /// sha256 of the rock file.
        sha256: String,
        /// sha256 of the rockspec inside it.
        rockspec_sha256: String,
    },
    /// A project directory built as it was (`lvm make`).
    Local {
        /// The project directory (absolute).
        path: String,
        /// The rockspec's path inside it.
        rockspec: String,
        rockspec_sha256: String,
        /// sha256 over the project's files (paths, modes, contents) that went into the build.
        inputs_sha256: String,
        /// The checked-out commit, when the directory is a git checkout.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
        /// Whether the checkout had changes not committed (modified or untracked files).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dirty: Option<bool>,
    },
    /// A development install whose Lua files are symlinks into a working directory
    /// (`lvm link`).
    Linked {
        /// The working directory (absolute).
        path: String,
        /// The rockspec's path inside it.
        rockspec: String,
        rockspec_sha256: String,
    },
}

impl PackageSource {
    /// The sha256 of the source archive it was built from, when it was downloaded from the
    /// rockspec's `source.url` (a server's or a local rockspec's).
    pub fn archive_sha256(&self) -> Option<&str> {
        match self {
            PackageSource::Server { sha256, .. } | PackageSource::Rockspec { sha256, .. } => {
                sha256.as_deref()
            }
            _ => None,
        }
    }

    /// A short human description (`file:///srv/rocks`, `git+https://host/repo@abc1234`).
    pub fn describe(&self) -> String {
        match self {
            PackageSource::Server { server, .. } => server.clone(),
            PackageSource::Git { url, commit, .. } => {
                format!("{url}@{}", &commit[..commit.len().min(10)])
            }
            PackageSource::Rockspec { path, .. } | PackageSource::Rock { path, .. } => path.clone(),
            PackageSource::Local {
                path,
                commit,
                dirty,
                ..
            } => match commit {
                Some(c) => format!(
                    "{path} (lvm make at {}{})",
                    &c[..c.len().min(10)],
                    if *dirty == Some(true) { ", dirty" } else { "" }
                ),
                None => format!("{path} (lvm make)"),
            },
            PackageSource::Linked { path, .. } => format!("linked to {path}"),
        }
    }

    /// The working directory of a linked package.
    pub fn linked_path(&self) -> Option<&str> {
        match self {
            PackageSource::Linked { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// Why a package is in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The constraint the user asked for (`""` for any version), when the user asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    /// The installed packages that depend on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_by: Vec<String>,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub version: Version,
    pub reason: Reason,
    pub source: PackageSource,
    /// Its dependencies as written in the rockspec (including `lua`).
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// The store entry holding its build.
    pub store_key: String,
    /// A hash of its installed files (relative paths and contents).
    pub files_sha256: String,
}

impl Package {
    pub fn is_requested(&self) -> bool {
        self.reason.requested.is_some()
    }
}

/// The whole state of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: FormatVersion,
    pub lua: String,
    pub packages: BTreeMap<String, Package>,
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("{file}: not a valid lvm manifest: {cause}")]
    Parse {
        file: String,
        cause: serde_json::Error,
    },
    #[error("{file}: {unsupported}")]
    Format {
        file: String,
        unsupported: Unsupported,
    },
    #[error("{file}: {message}")]
    Inconsistent { file: String, message: String },
    #[error(
        "{file}: line {line} is a merge conflict marker ({marker}); settle the conflict (keep one side of each package, or take a whole side with `git checkout --ours` or `--theirs` of the file), `git add` it, then run `lvm sync`"
    )]
    ConflictMarkers {
        file: String,
        line: usize,
        marker: String,
    },
    #[error("manifest.json: the Lua of the state")]
    UnknownLua(#[source] UnknownLuaVersion),
}

/// The first line (1-based) that is one of git's conflict markers, with the marker.
fn conflict_marker(bytes: &[u8]) -> Option<(usize, String)> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().enumerate().find_map(|(i, line)| {
        let marker = ["<<<<<<<", "=======", ">>>>>>>", "|||||||"]
            .into_iter()
            .find(|m| line.starts_with(m) && !line[m.len()..].starts_with(['<', '=', '>', '|']))?;
        Some((i + 1, marker.to_string()))
    })
}

impl Manifest {
    pub fn empty(lua: impl fmt::Display) -> Manifest {
        Manifest {
            format: FORMAT,
            lua: lua.to_string(),
            packages: BTreeMap::new(),
        }
    }

    /// The Lua the state is for.
    pub fn lua_version(&self) -> Result<LuaVersion, ManifestError> {
        LuaVersion::parse(&self.lua).map_err(ManifestError::UnknownLua)
    }

    /// The canonical bytes: pretty JSON with sorted keys and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // serde_json::Value keeps object keys sorted (no preserve_order feature), which makes the
        // output independent of struct field order.
        let value = serde_json::to_value(self).expect("manifest is always serializable");
        let mut out = serde_json::to_vec_pretty(&value).expect("values always serialize");
        out.push(b'\n');
        out
    }

    /// Parses and checks a manifest; `file` names it in errors.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Manifest, ManifestError> {
        let unsupported = |unsupported| ManifestError::Format {
            file: file.to_string(),
            unsupported,
        };
        let mut manifest: Manifest = serde_json::from_slice(bytes).map_err(|source| {
            // A merge left half-done, or a newer lvm's shape: say so rather than "invalid".
            if let Some((line, marker)) = conflict_marker(bytes) {
                return ManifestError::ConflictMarkers {
                    file: file.to_string(),
                    line,
                    marker,
                };
            }
            match FORMAT_SPEC.unsupported_in_json(bytes, "format") {
                Some(e) => unsupported(e),
                None => ManifestError::Parse {
                    file: file.to_string(),
                    cause: source,
                },
            }
        })?;
        FORMAT_SPEC.check(&manifest.format).map_err(unsupported)?;
        // What was read is what this lvm understands of the file (fields a compatible newer
        // lvm added are dropped), which is this lvm's format: written back, it says so, and
        // comparing it with a replayed state compares only what both lvms know.
        manifest.format = FORMAT;
        manifest.check_consistency(file)?;
        Ok(manifest)
    }

    /// Every dependency of every package must be installed at a matching version (the virtual
    /// `lua` against the manifest's Lua version).
    fn check_consistency(&self, file: &str) -> Result<(), ManifestError> {
        // The virtual `lua` has the version rockspecs compare against (LuaJIT counts as 5.1).
        let lua_text = LuaVersion::parse(&self.lua)
            .map(|v| v.lua_dependency_version().to_string())
            .unwrap_or_else(|_| self.lua.clone());
        let lua = Version::parse(&lua_text).map_err(|e| ManifestError::Inconsistent {
            file: file.into(),
            message: format!("lua version '{}': {e}", self.lua),
        })?;
        let provided = LuaVersion::parse(&self.lua).ok();
        for (name, package) in &self.packages {
            for text in &package.dependencies {
                let dep = crate::version::Dependency::parse(text).map_err(|e| {
                    ManifestError::Inconsistent {
                        file: file.into(),
                        message: format!("packages.{name}.dependencies: {e}"),
                    }
                })?;
                let installed = if dep.name == "lua" {
                    Some(&lua)
                } else if provided.is_some_and(|v| v.provides(&dep.name)) {
                    continue;
                } else {
                    self.packages.get(&dep.name).map(|p| &p.version)
                };
                match installed {
                    Some(v) if dep.matches(v) => {}
                    Some(v) => {
                        return Err(ManifestError::Inconsistent {
                            file: file.into(),
                            message: format!(
                                "{name} {} needs {dep}, but {} {v} is recorded",
                                package.version, dep.name
                            ),
                        });
                    }
                    None => {
                        return Err(ManifestError::Inconsistent {
                            file: file.into(),
                            message: format!(
                                "{name} {} needs {dep}, which is not in the manifest",
                                package.version
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The packages the user asked for, with their constraints.
    pub fn requested(&self) -> BTreeMap<String, String> {
        self.packages
            .iter()
            .filter_map(|(name, p)| p.reason.requested.clone().map(|c| (name.clone(), c)))
            .collect()
    }

    /// Installed packages that no requested package needs, directly or indirectly.
    pub fn orphans(&self) -> Vec<String> {
        let mut needed: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let mut stack: Vec<String> = self.requested().into_keys().collect();
        while let Some(name) = stack.pop() {
            if !needed.insert(name.clone()) {
                continue;
            }
            if let Some(p) = self.packages.get(&name) {
                for dep in &p.dependencies {
                    if let Ok(d) = crate::version::Dependency::parse(dep) {
                        stack.push(d.name);
                    }
                }
            }
        }
        self.packages
            .keys()
            .filter(|n| !needed.contains(*n))
            .cloned()
            .collect()
    }

    /// The installed packages that need `name`, directly or indirectly, sorted.
    pub fn dependents_closure(&self, name: &str) -> Vec<String> {
        let mut found = std::collections::BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(next) = stack.pop() {
            if let Some(p) = self.packages.get(&next) {
                for by in &p.reason.required_by {
                    if by != name && found.insert(by.clone()) {
                        stack.push(by.clone());
                    }
                }
            }
        }
        found.into_iter().collect()
    }

    /// Recomputes every package's `required_by` from the dependencies.
    pub fn recompute_reasons(&mut self) {
        let mut required_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, p) in &self.packages {
            for dep in &p.dependencies {
                if let Ok(d) = crate::version::Dependency::parse(dep) {
                    if self.packages.contains_key(&d.name) {
                        required_by.entry(d.name).or_default().push(name.clone());
                    }
                }
            }
        }
        for (name, p) in self.packages.iter_mut() {
            let mut by = required_by.remove(name).unwrap_or_default();
            by.sort();
            by.dedup();
            p.reason.required_by = by;
        }
    }
}

/// One package-level difference between two states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    Added {
        name: String,
        package: Box<Package>,
    },
    Removed {
        name: String,
        package: Box<Package>,
    },
    /// Same name, different version, source or build.
    Changed {
        name: String,
        from: Box<Package>,
        to: Box<Package>,
    },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Added { name, .. } | Change::Removed { name, .. } => name,
            Change::Changed { name, .. } => name,
        }
    }

    /// How a human reads it: `+ foo 1.0-1`, `- foo 1.0-1`, `foo 1.0-1 → 1.1-1`.
    pub fn summary(&self) -> String {
        match self {
            Change::Added { name, package } => format!("+ {name} {}", package.version),
            Change::Removed { name, package } => format!("- {name} {}", package.version),
            Change::Changed { name, from, to } => {
                let kind = change_kind(from, to);
                if from.version == to.version {
                    format!("~ {name} {} ({kind})", to.version)
                } else {
                    format!("~ {name} {} → {} ({kind})", from.version, to.version)
                }
            }
        }
    }
}

/// `upgraded`, `downgraded`, `source changed`, `rebuilt` or `reason changed`.
pub fn change_kind(from: &Package, to: &Package) -> &'static str {
    if from.version < to.version {
        "upgraded"
    } else if from.version > to.version {
        "downgraded"
    } else if from.source != to.source {
        "source changed"
    } else if from.store_key != to.store_key || from.files_sha256 != to.files_sha256 {
        "rebuilt"
    } else {
        "reason changed"
    }
}

/// The changes that turn `from` into `to`, sorted by package name.
pub fn diff(from: &Manifest, to: &Manifest) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, old) in &from.packages {
        match to.packages.get(name) {
            None => changes.push(Change::Removed {
                name: name.clone(),
                package: Box::new(old.clone()),
            }),
            Some(new) if new != old => changes.push(Change::Changed {
                name: name.clone(),
                from: Box::new(old.clone()),
                to: Box::new(new.clone()),
            }),
            Some(_) => {}
        }
    }
    for (name, new) in &to.packages {
        if !from.packages.contains_key(name) {
            changes.push(Change::Added {
                name: name.clone(),
                package: Box::new(new.clone()),
            });
        }
    }
    changes.sort_by(|a, b| a.name().cmp(b.name()));
    changes
}

/// Applies changes to a state (the inverse of [`diff`]). Fails when a change does not fit the
/// state it is applied to, which means the log is inconsistent.
pub fn apply(state: &mut Manifest, changes: &[Change]) -> Result<(), String> {
    for change in changes {
        match change {
            Change::Added { name, package } => {
                if state.packages.contains_key(name) {
                    return Err(format!("adds {name}, which is already installed"));
                }
                state.packages.insert(name.clone(), (**package).clone());
            }
            Change::Removed { name, package } => match state.packages.remove(name) {
                Some(old) if old == **package => {}
                Some(old) => {
                    return Err(format!(
                        "removes {name} {}, but {} is installed",
                        package.version, old.version
                    ));
                }
                None => return Err(format!("removes {name}, which is not installed")),
            },
            Change::Changed { name, from, to } => match state.packages.get_mut(name) {
                Some(old) if *old == **from => *old = (**to).clone(),
                Some(old) => {
                    return Err(format!(
                        "changes {name} from {}, but {} is installed",
                        from.version, old.version
                    ));
                }
                None => return Err(format!("changes {name}, which is not installed")),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_markers_are_named_by_line() {
        let text = "{\n  \"format\": \"1\",\n<<<<<<< ours: upgraded\n=======\n>>>>>>> theirs\n}\n";
        let err = Manifest::from_bytes(text.as_bytes(), ".lvm/manifest.json").unwrap_err();
        assert!(
            matches!(&err, ManifestError::ConflictMarkers { line: 3, marker, .. } if marker == "<<<<<<<"),
            "{err}"
        );
        // A JSON string that happens to hold a marker is not one.
        assert_eq!(conflict_marker(b"{\"a\": \"<<<<<<<\"}"), None);
        assert_eq!(conflict_marker(b"========\n"), None);
    }

    fn package(version: &str, deps: &[&str]) -> Package {
        Package {
            version: Version::parse(version).unwrap(),
            reason: Reason {
                requested: Some(String::new()),
                required_by: vec![],
            },
            source: PackageSource::Server {
                server: "file:///srv".into(),
                rockspec_sha256: "ab".into(),
                url: String::new(),
                sha256: None,
                commit: None,
            },
            dependencies: deps.iter().map(|s| s.to_string()).collect(),
            store_key: "k".into(),
            files_sha256: "f".into(),
        }
    }

    #[test]
    fn diff_then_apply_reproduces_the_target() {
        let mut a = Manifest::empty("5.4");
        a.packages.insert("x".into(), package("1.0-1", &[]));
        a.packages.insert("y".into(), package("1.0-1", &[]));
        let mut b = Manifest::empty("5.4");
        b.packages.insert("x".into(), package("1.1-1", &[]));
        b.packages
            .insert("z".into(), package("0.1-1", &["x >= 1.1"]));
        let changes = diff(&a, &b);
        assert_eq!(changes.len(), 3);
        let mut replayed = a.clone();
        apply(&mut replayed, &changes).unwrap();
        assert_eq!(replayed, b);
        assert_eq!(replayed.to_bytes(), b.to_bytes());
    }

    /// `m`'s bytes with its format replaced by `format` (JSON).
    fn with_format(m: &Manifest, format: &str) -> String {
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(text.contains("\"format\": 1,"), "{text}");
        text.replace("\"format\": 1,", &format!("\"format\": {format},"))
    }

    #[test]
    fn format_versions_old_compatible_and_incompatible() {
        let mut m = Manifest::empty("5.4");
        m.packages.insert("x".into(), package("1.0-1", &[]));
        // Written today (and by every lvm before minor versions): a whole number.
        assert!(
            String::from_utf8(m.to_bytes())
                .unwrap()
                .starts_with("{\n  \"format\": 1,\n")
        );
        assert_eq!(
            Manifest::from_bytes(&m.to_bytes(), "manifest.json").unwrap(),
            m
        );
        // A newer lvm that only added what this one may ignore.
        let newer_minor = with_format(&m, "\"1.4.0\"");
        let newer_minor = newer_minor.replace("\"lua\"", "\"added_later\": true,\n  \"lua\"");
        let read = Manifest::from_bytes(newer_minor.as_bytes(), "manifest.json").unwrap();
        // Read as what this lvm understands of it, which is this lvm's format.
        assert_eq!(read, m);
        assert_eq!(read.to_bytes(), m.to_bytes());
        // An incompatible one, also when its shape is one this lvm cannot parse.
        for (format, shown) in [("2", "2"), ("\"3.0.1\"", "3.0.1")] {
            for bytes in [
                with_format(&m, format),
                with_format(&m, format).replace("\"packages\"", "\"rocks\""),
            ] {
                let err = Manifest::from_bytes(bytes.as_bytes(), "env/manifest.json").unwrap_err();
                assert!(matches!(err, ManifestError::Format { .. }), "{err}");
                let err = err.to_string();
                assert!(
                    err.starts_with(&format!(
                        "env/manifest.json: manifest format {shown} is from a newer lvm"
                    )) && err.contains("reads manifest format ^1")
                        && err.ends_with("upgrade lvm to read it"),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn inconsistent_manifest_is_refused() {
        let mut m = Manifest::empty("5.4");
        m.packages
            .insert("z".into(), package("0.1-1", &["x >= 1.1"]));
        let err = Manifest::from_bytes(&m.to_bytes(), "manifest.json").unwrap_err();
        assert!(err.to_string().contains("needs x >= 1.1"), "{err}");
    }
}
