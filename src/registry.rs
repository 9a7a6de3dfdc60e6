//! Rocks server manifests: the index a rocks server publishes (`manifest`, `manifest-5.4`, and
//! their `.json` forms), parsed into package name → version → available arches; and the compact
//! form lvm caches a parsed manifest in.
//!
//! The Lua forms are evaluated in the same [`crate::sandbox`] as rockspecs. Their `repository`
//! table is then read straight out of the VM into the typed maps; a table of any other shape
//! goes through the generic copy ([`Sandbox::to_data`]) and [`from_repository`], which words
//! the error (or accepts the odd shape) exactly as for the JSON form.

use std::collections::BTreeMap;
use std::fmt;

use mlua::Value;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use thiserror::Error;

use crate::sandbox::{
    CopyBudget, Data, DataTable, Limits, Sandbox, SandboxError, field_path, index_path,
};
use crate::version::{Version, check_package_name};

/// Package name → version → arches.
pub type Packages = BTreeMap<String, BTreeMap<Version, Vec<String>>>;

/// A server manifest: for each package, its versions and the arches each is published as
/// (`rockspec`, `src`, `all`, or a platform such as `linux-x86_64`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerManifest {
    pub packages: Packages,
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// First line of the compact form; the number changes whenever the layout does.
const COMPACT_MAGIC: &str = "lvm-parsed-manifest/1";

impl ServerManifest {
    /// Parses the Lua form (`repository = { ... }`). `file` names it in errors. The `commands`
    /// and `modules` tables are evaluated but not read.
    pub fn parse_lua(text: &str, file: &str) -> Result<ServerManifest, ManifestError> {
        check_size(text, file)?;
        let sandbox_error = |e: SandboxError| invalid(file, e.detail_with_line());
        let sandbox = Sandbox::new(Limits::manifest(text.len())).map_err(sandbox_error)?;
        let env = sandbox.eval_globals(text, file).map_err(sandbox_error)?;
        let repository: Value = env
            .raw_get("repository")
            .map_err(|e| invalid(file, format!("cannot read `repository`: {e}")))?;
        if let Some(packages) = read_plain_repository(&repository, &mut sandbox.copy_budget()) {
            return Ok(ServerManifest { packages });
        }
        let repository = sandbox
            .to_data(repository, file, "repository")
            .map_err(sandbox_error)?;
        from_repository(repository, file)
    }

    /// Parses the JSON form: an object with the same `repository` member as the Lua form.
    pub fn parse_json(text: &str, file: &str) -> Result<ServerManifest, ManifestError> {
        check_size(text, file)?;
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

    /// Keeps only the packages whose names pass `keep`.
    pub fn retain(&mut self, keep: &dyn Fn(&str) -> bool) {
        self.packages.retain(|name, _| keep(name));
    }

    /// The compact form, tagged with `key` (the digest of the manifest it was parsed from): a
    /// header line `lvm-parsed-manifest/1 KEY BODY-SHA256`, then the packages as one JSON
    /// object `{"name": {"version": ["arch", ...]}}`. See [`ServerManifest::from_compact`].
    pub fn to_compact(&self, key: &str) -> Result<String, serde_json::Error> {
        let body = serde_json::to_string(&self.packages)?;
        let digest = crate::fetch::sha256_bytes(body.as_bytes());
        Ok(format!("{COMPACT_MAGIC} {key} {digest}\n{body}"))
    }

    /// Reads [`ServerManifest::to_compact`]'s output back, keeping only the packages whose
    /// names pass `keep` (the others are skipped unparsed). `None` unless the text is intact
    /// (its body matches its digest), has this layout, was tagged with `key`, and every version
    /// parses: a cache in this form is only ever a shortcut, never trusted over the manifest.
    pub fn from_compact(
        text: &str,
        key: &str,
        keep: &dyn Fn(&str) -> bool,
    ) -> Option<ServerManifest> {
        let (header, body) = text.split_once('\n')?;
        let mut fields = header.split(' ');
        let intact = fields.next() == Some(COMPACT_MAGIC)
            && fields.next() == Some(key)
            && fields.next() == Some(crate::fetch::sha256_bytes(body.as_bytes()).as_str())
            && fields.next().is_none();
        if !intact {
            return None;
        }
        let mut deserializer = serde_json::Deserializer::from_str(body);
        let packages = CompactPackages { keep }
            .deserialize(&mut deserializer)
            .ok()?;
        deserializer.end().ok()?;
        Some(ServerManifest { packages })
    }
}

/// The compact form's package object, skipping the packages `keep` rejects.
struct CompactPackages<'a> {
    keep: &'a dyn Fn(&str) -> bool,
}

impl<'de> DeserializeSeed<'de> for CompactPackages<'_> {
    type Value = Packages;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Packages, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CompactPackages<'_> {
    type Value = Packages;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of packages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Packages, A::Error> {
        let mut packages = Packages::new();
        while let Some(name) = map.next_key::<String>()? {
            if (self.keep)(&name) {
                packages.insert(name, map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(packages)
    }
}

/// Refuses a manifest bigger than [`Limits::MAX_MANIFEST_BYTES`] before evaluating it.
fn check_size(text: &str, file: &str) -> Result<(), ManifestError> {
    if text.len() > Limits::MAX_MANIFEST_BYTES {
        return Err(invalid(
            file,
            format!(
                "{} bytes, more than the {} MiB a rocks server manifest may have",
                text.len(),
                Limits::MAX_MANIFEST_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(())
}

/// Reads a `repository` table of the usual shape straight out of the VM: valid package names
/// mapping to tables of version strings, each mapping to a list of tables with a string `arch`
/// (other members of those tables are not looked at), within the copy budget. `None` for
/// anything else — a stray key, an invalid name or version, a value of the wrong type, two
/// keys that read as the same name or version, too much text — so that the generic path can
/// give the exact error or result.
fn read_plain_repository(repository: &Value, budget: &mut CopyBudget) -> Option<Packages> {
    let Value::Table(repository) = repository else {
        return None;
    };
    let mut packages = Packages::new();
    let read = repository.for_each::<Value, Value>(|name, versions| {
        let (Value::String(name), Value::Table(versions)) = (name, versions) else {
            return Err(not_plain());
        };
        let name = budget.take_string(&name).ok_or_else(not_plain)?;
        check_package_name(&name).map_err(|_| not_plain())?;
        let versions = read_plain_versions(&versions, budget).ok_or_else(not_plain)?;
        match packages.insert(name, versions) {
            None => Ok(()),
            Some(_) => Err(not_plain()),
        }
    });
    read.ok().map(|()| packages)
}

fn read_plain_versions(
    versions: &mlua::Table,
    budget: &mut CopyBudget,
) -> Option<BTreeMap<Version, Vec<String>>> {
    let mut out = BTreeMap::new();
    let read = versions.for_each::<Value, Value>(|text, entries| {
        let (Value::String(text), Value::Table(entries)) = (text, entries) else {
            return Err(not_plain());
        };
        let text = budget.take_string(&text).ok_or_else(not_plain)?;
        let version = Version::parse(&text).map_err(|_| not_plain())?;
        let mut arches = Vec::new();
        for entry in entries.sequence_values::<Value>() {
            let Ok(Value::Table(entry)) = entry else {
                return Err(not_plain());
            };
            match entry.raw_get::<Value>("arch") {
                Ok(Value::String(arch)) => {
                    arches.push(budget.take_string(&arch).ok_or_else(not_plain)?);
                }
                _ => return Err(not_plain()),
            }
        }
        match out.insert(version, arches) {
            None => Ok(()),
            Some(_) => Err(not_plain()),
        }
    });
    read.ok().map(|()| out)
}

/// Stops a table walk in [`read_plain_repository`]; never shown to anyone.
fn not_plain() -> mlua::Error {
    mlua::Error::runtime("not a plain repository table")
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

/// Reads `repository = { name = { ["1.0-1"] = { {arch = "rockspec"}, ... } } }` from its
/// generic copy.
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
        check_package_name(&name)
            .map_err(|e| invalid(file, format!("{}: {e}", field_path("repository", &name))))?;
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
    use proptest::prelude::*;

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

    /// The generic path the fast one stands in for: copy everything out, then type-check.
    fn parse_lua_generic(text: &str, file: &str) -> Result<ServerManifest, ManifestError> {
        let sandbox = Sandbox::new(Limits::manifest(text.len())).unwrap();
        let env = sandbox.eval_globals(text, file).unwrap();
        let repository: Value = env.raw_get("repository").unwrap();
        let data = sandbox.to_data(repository, file, "repository").unwrap();
        from_repository(data, file)
    }

    /// Whether the fast path reads `text`'s repository by itself.
    fn reads_plainly(text: &str) -> bool {
        let sandbox = Sandbox::new(Limits::manifest(text.len())).unwrap();
        let env = sandbox.eval_globals(text, "m").unwrap();
        read_plain_repository(
            &env.raw_get("repository").unwrap(),
            &mut sandbox.copy_budget(),
        )
        .is_some()
    }

    fn lua_quote(s: &str) -> String {
        let mut out = String::from("\"");
        for b in s.bytes() {
            match b {
                b'"' | b'\\' => out.push_str(&format!("\\{}", b as char)),
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('"');
        out
    }

    /// Renders packages as `luarocks-admin make-manifest` would, with `commands`/`modules`
    /// indexes and extra members in the arch tables.
    fn render_lua(packages: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> String {
        let mut out = String::from("commands = { tool = { \"x/1.0-1\" } }\nmodules = {\n");
        for name in packages.keys() {
            out.push_str(&format!(
                "  [{}] = {{ {} }},\n",
                lua_quote(&format!("{name}.core")),
                lua_quote(&format!("{name}/1.0-1"))
            ));
        }
        out.push_str("}\nrepository = {\n");
        for (name, versions) in packages {
            out.push_str(&format!("  [{}] = {{\n", lua_quote(name)));
            for (version, arches) in versions {
                out.push_str(&format!("    [{}] = {{", lua_quote(version)));
                for (i, arch) in arches.iter().enumerate() {
                    out.push_str(&format!(
                        " {{ arch = {}, modules = {{ m{i} = \"m.so\" }} }},",
                        lua_quote(arch)
                    ));
                }
                out.push_str(" },\n");
            }
            out.push_str("  },\n");
        }
        out.push_str("}\n");
        out
    }

    fn version_text() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(0u32..30, 1..4),
            prop::sample::select(vec!["", "rc1", "alpha", "beta2", "scm"]),
            1u32..4,
        )
            .prop_map(|(numbers, word, revision)| {
                let numbers: Vec<String> = numbers.iter().map(u32::to_string).collect();
                if word == "scm" {
                    format!("scm-{revision}")
                } else {
                    format!("{}{word}-{revision}", numbers.join("."))
                }
            })
    }

    fn packages() -> impl Strategy<Value = BTreeMap<String, BTreeMap<String, Vec<String>>>> {
        let arch = prop::sample::select(vec!["rockspec", "src", "all", "linux-x86_64", "ké\"\\y"]);
        let versions = prop::collection::btree_map(
            version_text(),
            prop::collection::vec(arch, 0..4)
                .prop_map(|a| a.into_iter().map(str::to_string).collect::<Vec<_>>()),
            0..5,
        );
        // Valid package names only: the fast path leaves invalid ones to the generic error.
        prop::collection::btree_map("[a-zA-Z0-9][a-zA-Z0-9_.-]{0,11}", versions, 0..30)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The fast path reads generated manifests as the test computes them, and as the
        /// generic copy does.
        #[test]
        fn fast_path_reads_what_was_written(packages in packages()) {
            let text = render_lua(&packages);
            let expected: Packages = packages
                .iter()
                .map(|(name, versions)| {
                    let versions = versions
                        .iter()
                        .map(|(v, arches)| (Version::parse(v).unwrap(), arches.clone()))
                        .collect();
                    (name.clone(), versions)
                })
                .collect();
            prop_assert!(reads_plainly(&text));
            let fast = ServerManifest::parse_lua(&text, "manifest").unwrap();
            prop_assert_eq!(&fast.packages, &expected);
            prop_assert_eq!(&fast, &parse_lua_generic(&text, "manifest").unwrap());
            let compact = fast.to_compact("k").unwrap();
            prop_assert_eq!(ServerManifest::from_compact(&compact, "k", &|_| true), Some(fast));
        }
    }

    #[test]
    fn odd_shapes_take_the_generic_path_and_read_the_same() {
        let cases = [
            // Two keys reading as the same version.
            r#"repository = { foo = { ["1.0-1"] = { { arch = "src" } }, [" 1.0-1"] = { { arch = "all" } } } }"#,
            // Errors.
            r#"repository = { foo = { ["1.0-1"] = { { arch = 5 } } } }"#,
            r#"repository = { foo = { ["1.0-1"] = { "src" } } }"#,
            r#"repository = { foo = { [1] = { { arch = "src" } } } }"#,
            r#"repository = { foo = { ["x!"] = {} } }"#,
            r#"repository = { [true] = {}, [2.5] = {} }"#,
            r#"repository = { foo = 3 }"#,
            r#"repository = 3"#,
            r#"x = 1"#,
        ];
        for text in cases {
            assert!(!reads_plainly(text), "{text}");
            let fast = ServerManifest::parse_lua(text, "manifest").map_err(|e| e.to_string());
            let generic = parse_lua_generic(text, "manifest").map_err(|e| e.to_string());
            assert_eq!(fast, generic, "{text}");
        }
        let plain = [
            // Only the list part of an entry list counts, as in the generic copy.
            r#"repository = { foo = { ["1.0-1"] = { { arch = "src" }, n = 1, [3] = { arch = "all" } } } }"#,
            r#"local e = { arch = "src" } repository = { foo = { ["1-1"] = { e, e } } }"#,
        ];
        for text in plain {
            assert!(reads_plainly(text), "{text}");
            assert_eq!(
                ServerManifest::parse_lua(text, "m").unwrap(),
                parse_lua_generic(text, "m").unwrap()
            );
        }
    }

    #[test]
    fn compact_form_round_trips_filters_and_rejects_damage() {
        let lua = r#"repository = {
            alpha = { ["1.0-1"] = { { arch = "rockspec" }, { arch = "src" } }, ["scm-1"] = {} },
            beta = { ["2.0-1"] = { { arch = "all" } } },
        }"#;
        let m = ServerManifest::parse_lua(lua, "manifest").unwrap();
        let compact = m.to_compact("abc").unwrap();
        assert!(
            compact.starts_with("lvm-parsed-manifest/1 abc "),
            "{compact}"
        );
        let all = |_: &str| true;
        assert_eq!(
            ServerManifest::from_compact(&compact, "abc", &all),
            Some(m.clone())
        );
        let only_beta = ServerManifest::from_compact(&compact, "abc", &|n| n == "beta").unwrap();
        assert_eq!(only_beta.packages.keys().collect::<Vec<_>>(), ["beta"]);
        let mut retained = m.clone();
        retained.retain(&|n| n == "beta");
        assert_eq!(only_beta, retained);

        assert_eq!(ServerManifest::from_compact(&compact, "abd", &all), None);
        let flipped = compact.replacen("2.0-1", "2.0-2", 1);
        assert_eq!(ServerManifest::from_compact(&flipped, "abc", &all), None);
        let truncated = &compact[..compact.len() - 3];
        assert_eq!(ServerManifest::from_compact(truncated, "abc", &all), None);
        assert_eq!(ServerManifest::from_compact("", "abc", &all), None);
        let other_layout = compact.replacen("/1 ", "/0 ", 1);
        assert_eq!(
            ServerManifest::from_compact(&other_layout, "abc", &all),
            None
        );
        // An intact body whose versions do not parse is still refused.
        let body = r#"{"x":{"1.x!-1":[]}}"#;
        let forged = format!(
            "lvm-parsed-manifest/1 abc {}\n{body}",
            crate::fetch::sha256_bytes(body.as_bytes())
        );
        assert_eq!(ServerManifest::from_compact(&forged, "abc", &all), None);
    }

    #[test]
    fn empty_json_arrays_are_empty_tables() {
        let m = ServerManifest::parse_json(r#"{"repository": {"x": []}}"#, "m").unwrap();
        assert!(m.packages["x"].is_empty());
        let m = ServerManifest::parse_json(r#"{"repository": []}"#, "m").unwrap();
        assert!(m.packages.is_empty());
    }
}
