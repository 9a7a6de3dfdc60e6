//! Rocks server manifests: the index a rocks server publishes (`manifest`, `manifest-5.4`, and
//! their `.json` forms), parsed into package name → version → available arches.
//!
//! The Lua forms are evaluated in the same [`crate::sandbox`] as rockspecs.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use thiserror::Error;

use crate::sandbox::{Data, DataTable, Limits, Sandbox, SandboxError, field_path, index_path};
use crate::version::Version;

/// A server manifest: for each package, its versions and the arches each is published as
/// (`rockspec`, `src`, `all`, or a platform such as `linux-x86_64`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerManifest {
    pub packages: BTreeMap<String, BTreeMap<Version, Vec<String>>>,
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl ServerManifest {
    /// Parses the Lua form (`repository = { ... }`). `file` names it in errors. The `commands`
    /// and `modules` tables are evaluated but not read.
    pub fn parse_lua(text: &str, file: &str) -> Result<ServerManifest, ManifestError> {
        let sandbox_error = |e: SandboxError| invalid(file, e.detail_with_line());
        let sandbox = Sandbox::new(Limits::manifest(text.len())).map_err(sandbox_error)?;
        let env = sandbox.eval_globals(text, file).map_err(sandbox_error)?;
        let repository: mlua::Value = env
            .raw_get("repository")
            .map_err(|e| invalid(file, format!("cannot read `repository`: {e}")))?;
        let repository = sandbox
            .to_data(repository, file, "repository")
            .map_err(sandbox_error)?;
        from_repository(repository, file)
    }

    /// Parses the JSON form: an object with the same `repository` member as the Lua form.
    pub fn parse_json(text: &str, file: &str) -> Result<ServerManifest, ManifestError> {
        let root: JsonRoot = serde_json::from_str(text).map_err(|e| {
            let what = if e.is_data() {
                "not a rocks server manifest"
            } else {
                "not valid JSON"
            };
            invalid(file, format!("{what}: {e}"))
        })?;
        from_repository(root.repository, file)
    }

    /// The versions published for `package`, oldest first.
    pub fn versions(&self, package: &str) -> impl Iterator<Item = &Version> {
        self.packages
            .get(package)
            .into_iter()
            .flat_map(|v| v.keys())
    }
}

/// The JSON form's top level: only an object, whose `commands` and `modules` members are
/// skipped unread.
struct JsonRoot {
    repository: Option<Data>,
}

impl<'de> Deserialize<'de> for JsonRoot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JsonRoot, D::Error> {
        deserializer.deserialize_map(JsonRootVisitor)
    }
}

struct JsonRootVisitor;

impl<'de> Visitor<'de> for JsonRootVisitor {
    type Value = JsonRoot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with a \"repository\" member")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRoot, A::Error> {
        let mut repository = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "repository" {
                repository = map.next_value::<Option<Data>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(JsonRoot { repository })
    }
}

fn invalid(file: &str, message: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        file: file.to_string(),
        message: message.into(),
    }
}

/// Reads `repository = { name = { ["1.0-1"] = { {arch = "rockspec"}, ... } } }`.
fn from_repository(repository: Option<Data>, file: &str) -> Result<ServerManifest, ManifestError> {
    let repository = match repository {
        Some(Data::Table(t)) => t,
        Some(other) => {
            return Err(invalid(
                file,
                format!(
                    "repository: expected a table of packages, found {}; this is not a rocks server manifest",
                    other.type_name()
                ),
            ));
        }
        None => {
            return Err(invalid(
                file,
                "no `repository` table: this is not a rocks server manifest",
            ));
        }
    };
    if let Some(key) = stray_key(&repository) {
        return Err(invalid(
            file,
            format!("repository{key}: expected package names as keys"),
        ));
    }
    let mut packages = BTreeMap::new();
    for (name, versions) in repository.fields {
        let versions = read_versions(&name, versions).map_err(|m| invalid(file, m))?;
        packages.insert(name, versions);
    }
    Ok(ServerManifest { packages })
}

fn read_versions(name: &str, versions: Data) -> Result<BTreeMap<Version, Vec<String>>, String> {
    let package = || field_path("repository", name);
    let Data::Table(versions) = versions else {
        return Err(format!(
            "{}: expected a table of versions for package \"{name}\", found {}",
            package(),
            versions.type_name()
        ));
    };
    if let Some(key) = stray_key(&versions) {
        return Err(format!(
            "{}{key}: expected version strings as keys for package \"{name}\"",
            package()
        ));
    }
    let mut out = BTreeMap::new();
    for (text, entries) in versions.fields {
        let path = field_path(&package(), &text);
        let version = Version::parse(&text)
            .map_err(|e| format!("{path}: package \"{name}\" has an invalid version: {e}"))?;
        let Data::Table(entries) = entries else {
            return Err(format!(
                "{path}: expected a list of {{arch = ...}} tables for {name} {text}, found {}",
                entries.type_name()
            ));
        };
        let mut arches = Vec::with_capacity(entries.array.len());
        for (i, entry) in entries.array.iter().enumerate() {
            let arch = entry
                .as_table()
                .and_then(|t| t.get("arch"))
                .and_then(Data::as_str)
                .ok_or_else(|| {
                    format!(
                        "{}: expected a table with an arch string for {name} {text}, found {}",
                        index_path(&path, i + 1),
                        entry.type_name()
                    )
                })?;
            arches.push(arch.to_string());
        }
        out.insert(version, arches);
    }
    Ok(out)
}

/// A key that is neither a string nor part of the list, rendered for an error message: a
/// package or version table should only have names as keys.
fn stray_key(table: &DataTable) -> Option<String> {
    if !table.array.is_empty() {
        return Some("[1]".to_string());
    }
    table.stray_keys().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_and_json_forms_agree() {
        let lua = r#"
            commands = { busted = { "busted" } }
            modules = { ["lfs"] = { "luafilesystem/1.8.0-1" } }
            repository = {
              luafilesystem = {
                ["1.8.0-1"] = { { arch = "rockspec" }, { arch = "src" }, { arch = "linux-x86_64",
                  modules = { lfs = "lfs.so" } } },
                ["1.7.0-2"] = { { arch = "rockspec" } },
              },
              busted = { ["2.2.0-1"] = { { arch = "all" } } },
            }
        "#;
        let json = r#"{"commands": {}, "modules": {}, "repository": {
            "luafilesystem": {"1.8.0-1": [{"arch": "rockspec"}, {"arch": "src"},
                                          {"arch": "linux-x86_64", "modules": {"lfs": "lfs.so"}}],
                              "1.7.0-2": [{"arch": "rockspec"}]},
            "busted": {"2.2.0-1": [{"arch": "all"}]}}}"#;
        let a = ServerManifest::parse_lua(lua, "manifest").unwrap();
        let b = ServerManifest::parse_json(json, "manifest.json").unwrap();
        assert_eq!(a, b);
        let versions: Vec<String> = a.versions("luafilesystem").map(|v| v.to_string()).collect();
        assert_eq!(versions, ["1.7.0-2", "1.8.0-1"]);
        let lfs = &a.packages["luafilesystem"];
        assert_eq!(
            lfs[&Version::parse("1.8.0-1").unwrap()],
            ["rockspec", "src", "linux-x86_64"]
        );
    }

    #[test]
    fn empty_json_arrays_are_empty_tables() {
        let m = ServerManifest::parse_json(r#"{"repository": {"x": []}}"#, "m").unwrap();
        assert!(m.packages["x"].is_empty());
        let m = ServerManifest::parse_json(r#"{"repository": []}"#, "m").unwrap();
        assert!(m.packages.is_empty());
    }
}
