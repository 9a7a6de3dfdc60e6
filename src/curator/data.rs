//! The curated data: collections (packages that belong together, each with a version constraint
//! and a one-line rationale), profiles (package sets built from collections, with dev-only
//! parts) and same-purpose groups (packages that do the same job).
//!
//! The shipped files under `envs/` are compiled into the binary. The user's `$LVM_HOME/envs/*.toml`
//! and the environment's `<env>/envs/*.toml` are read on top, in that order: a definition with
//! the name of an earlier one replaces it, a new name adds one. Every file is validated when
//! loaded, and errors name the file and the field (`collection.core.packages[2].version`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;
use toml::{Table, Value};

use crate::suggest::did_you_mean;
use crate::version::{Constraint, Constraints, Dependency};

/// The folder name of curated data under the lvm home and inside an environment.
pub const DATA_DIR: &str = "envs";

/// The shipped data, as (name shown in messages, contents).
const BUILTIN: &[(&str, &str)] = &[
    ("envs/core.toml", include_str!("../../envs/core.toml")),
    (
        "envs/networking.toml",
        include_str!("../../envs/networking.toml"),
    ),
    ("envs/parsing.toml", include_str!("../../envs/parsing.toml")),
    ("envs/testing.toml", include_str!("../../envs/testing.toml")),
    (
        "envs/profiles.toml",
        include_str!("../../envs/profiles.toml"),
    ),
    (
        "envs/same-purpose.toml",
        include_str!("../../envs/same-purpose.toml"),
    ),
];

/// The files compiled into lvm, as (name, contents).
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    BUILTIN
}

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("{file}: {field}: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
    #[error("{file}: not valid TOML: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: cannot read: {cause}")]
    Io { file: String, cause: std::io::Error },
    #[error("{what} '{name}' is defined in both {first} and {second}; keep one of them")]
    Duplicate {
        what: &'static str,
        name: String,
        first: String,
        second: String,
    },
    #[error("no {what} named '{name}'{hint} (known: {known}; see `lvm {command}`)")]
    Unknown {
        what: &'static str,
        name: String,
        hint: String,
        known: String,
        command: &'static str,
    },
}

/// One package of a collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub name: String,
    /// The version constraint (empty means any version).
    #[serde(serialize_with = "as_text")]
    pub version: Constraints,
    pub rationale: String,
}

/// Packages that belong together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Collection {
    pub name: String,
    pub category: String,
    /// 1 is the most important; listings and recommendations sort by it.
    pub priority: u32,
    pub summary: String,
    pub packages: Vec<Member>,
    /// The file that defined it.
    pub file: String,
}

/// A package set built from collections and single packages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
    pub summary: String,
    pub extends: Option<String>,
    pub collections: Vec<String>,
    pub dev_collections: Vec<String>,
    #[serde(serialize_with = "deps_as_text")]
    pub packages: Vec<Dependency>,
    #[serde(serialize_with = "deps_as_text")]
    pub dev_packages: Vec<Dependency>,
    pub file: String,
}

/// Packages that do the same job; the first listed is preferred.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    pub purpose: String,
    pub members: Vec<String>,
    pub file: String,
}

fn as_text<S: serde::Serializer>(c: &Constraints, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&c.to_string())
}

fn deps_as_text<S: serde::Serializer>(deps: &[Dependency], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(deps.iter().map(dependency_text))
}

/// `name constraints`, or just `name` for any version.
pub fn dependency_text(dep: &Dependency) -> String {
    if dep.constraints.is_any() {
        dep.name.clone()
    } else {
        format!("{} {}", dep.name, dep.constraints)
    }
}

/// One package a profile materializes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedPackage {
    pub name: String,
    /// Every constraint from every place that lists it, all of which must hold.
    #[serde(serialize_with = "as_text")]
    pub version: Constraints,
    /// Installed only by development materializations.
    pub dev: bool,
    /// Where it comes from (`collection core`, `profile standard`).
    pub via: Vec<String>,
}

impl PlannedPackage {
    pub fn dependency(&self) -> Dependency {
        Dependency {
            name: self.name.clone(),
            constraints: self.version.clone(),
        }
    }
}

/// Every definition in force, after layering.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub collections: BTreeMap<String, Collection>,
    pub profiles: BTreeMap<String, Profile>,
    pub groups: BTreeMap<String, Group>,
}

/// The definitions of one file.
#[derive(Debug, Default)]
struct Parsed {
    collections: Vec<Collection>,
    profiles: Vec<Profile>,
    groups: Vec<Group>,
}

impl Catalog {
    /// The shipped data only.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::from_layers(&[builtin_layer()])
    }

    /// The shipped data, then `<home>/envs/*.toml`, then `<env>/envs/*.toml`.
    pub fn load(home: &Path, env: Option<&Path>) -> Result<Catalog, CatalogError> {
        let mut layers = vec![builtin_layer()];
        layers.push(read_dir_layer(&home.join(DATA_DIR))?);
        if let Some(env) = env {
            layers.push(read_dir_layer(&env.join(DATA_DIR))?);
        }
        Catalog::from_layers(&layers)
    }

    /// Builds a catalog from layers of (file name, text); later layers override earlier ones.
    pub fn from_layers(layers: &[Vec<(String, String)>]) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for layer in layers {
            let mut seen: BTreeMap<(&'static str, String), String> = BTreeMap::new();
            for (file, text) in layer {
                let parsed = parse_file(file, text)?;
                let names = parsed
                    .collections
                    .iter()
                    .map(|c| ("collection", c.name.clone()))
                    .chain(parsed.profiles.iter().map(|p| ("profile", p.name.clone())))
                    .chain(parsed.groups.iter().map(|g| ("group", g.name.clone())));
                for key in names {
                    if let Some(first) = seen.insert(key.clone(), file.clone()) {
                        return Err(CatalogError::Duplicate {
                            what: key.0,
                            name: key.1,
                            first,
                            second: file.clone(),
                        });
                    }
                }
                for c in parsed.collections {
                    catalog.collections.insert(c.name.clone(), c);
                }
                for p in parsed.profiles {
                    catalog.profiles.insert(p.name.clone(), p);
                }
                for g in parsed.groups {
                    catalog.groups.insert(g.name.clone(), g);
                }
            }
        }
        catalog.check_references()?;
        Ok(catalog)
    }

    /// Profiles name existing collections and profiles, without cycles.
    fn check_references(&self) -> Result<(), CatalogError> {
        for profile in self.profiles.values() {
            let field = |f: &str| format!("profile.{}.{f}", profile.name);
            for (list, key) in [
                (&profile.collections, "collections"),
                (&profile.dev_collections, "dev_collections"),
            ] {
                for (i, name) in list.iter().enumerate() {
                    if !self.collections.contains_key(name) {
                        let known: Vec<&str> =
                            self.collections.keys().map(String::as_str).collect();
                        return Err(CatalogError::Invalid {
                            file: profile.file.clone(),
                            field: field(&format!("{key}[{}]", i + 1)),
                            message: format!(
                                "no collection named '{name}'{} (known: {})",
                                did_you_mean(name, &known),
                                known.join(", ")
                            ),
                        });
                    }
                }
            }
            if let Some(base) = &profile.extends {
                if !self.profiles.contains_key(base) {
                    let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                    return Err(CatalogError::Invalid {
                        file: profile.file.clone(),
                        field: field("extends"),
                        message: format!(
                            "no profile named '{base}'{} (known: {})",
                            did_you_mean(base, &known),
                            known.join(", ")
                        ),
                    });
                }
            }
            let mut visited = vec![profile.name.as_str()];
            let mut at = profile;
            while let Some(base) = at.extends.as_deref() {
                if visited.contains(&base) {
                    visited.push(base);
                    return Err(CatalogError::Invalid {
                        file: profile.file.clone(),
                        field: field("extends"),
                        message: format!(
                            "profiles extend each other in a cycle ({}); break it by removing one `extends`",
                            visited.join(" → ")
                        ),
                    });
                }
                visited.push(base);
                match self.profiles.get(base) {
                    Some(p) => at = p,
                    None => break,
                }
            }
        }
        Ok(())
    }

    pub fn collection(&self, name: &str) -> Result<&Collection, CatalogError> {
        self.collections
            .get(name)
            .ok_or_else(|| CatalogError::Unknown {
                what: "collection",
                name: name.to_string(),
                hint: did_you_mean(name, &keys(&self.collections)),
                known: keys(&self.collections).join(", "),
                command: "collections",
            })
    }

    pub fn profile(&self, name: &str) -> Result<&Profile, CatalogError> {
        self.profiles
            .get(name)
            .ok_or_else(|| CatalogError::Unknown {
                what: "profile",
                name: name.to_string(),
                hint: did_you_mean(name, &keys(&self.profiles)),
                known: keys(&self.profiles).join(", "),
                command: "profiles",
            })
    }

    /// The profile and the ones it extends, the most basic first.
    pub fn chain(&self, name: &str) -> Result<Vec<&Profile>, CatalogError> {
        let mut chain = vec![self.profile(name)?];
        while let Some(base) = chain.last().and_then(|p| p.extends.as_deref()) {
            if chain.iter().any(|p| p.name == base) {
                break;
            }
            chain.push(self.profile(base)?);
        }
        chain.reverse();
        Ok(chain)
    }

    /// The packages `profile` materializes; with `prod`, dev-only ones are left out. A package
    /// listed in several places takes every constraint, and is dev-only only when every place
    /// lists it as dev-only.
    pub fn plan(&self, profile: &str, prod: bool) -> Result<Vec<PlannedPackage>, CatalogError> {
        let mut planned: BTreeMap<String, PlannedPackage> = BTreeMap::new();
        let mut add = |dep: &Dependency, dev: bool, via: String| {
            let entry = planned
                .entry(dep.name.clone())
                .or_insert_with(|| PlannedPackage {
                    name: dep.name.clone(),
                    version: Constraints::any(),
                    dev,
                    via: vec![],
                });
            entry.dev &= dev;
            for c in &dep.constraints.0 {
                if !entry.version.0.contains(c) {
                    entry.version.0.push(c.clone());
                }
            }
            if !entry.via.contains(&via) {
                entry.via.push(via);
            }
        };
        for p in self.chain(profile)? {
            for (list, dev) in [(&p.collections, false), (&p.dev_collections, true)] {
                for name in list {
                    let collection = self.collection(name)?;
                    for m in &collection.packages {
                        let dep = Dependency {
                            name: m.name.clone(),
                            constraints: m.version.clone(),
                        };
                        add(&dep, dev, format!("collection {name}"));
                    }
                }
            }
            for (list, dev) in [(&p.packages, false), (&p.dev_packages, true)] {
                for dep in list {
                    add(dep, dev, format!("profile {}", p.name));
                }
            }
        }
        Ok(planned.into_values().filter(|p| !(prod && p.dev)).collect())
    }

    /// The curated constraint on `package`, from every collection that lists it.
    pub fn curated_constraint(&self, package: &str) -> Constraints {
        let mut out: Vec<Constraint> = Vec::new();
        for c in self.collections.values() {
            for m in c.packages.iter().filter(|m| m.name == package) {
                for constraint in &m.version.0 {
                    if !out.contains(constraint) {
                        out.push(constraint.clone());
                    }
                }
            }
        }
        Constraints(out)
    }

    /// Collections sorted by priority, then name.
    pub fn collections_by_priority(&self) -> Vec<&Collection> {
        let mut list: Vec<&Collection> = self.collections.values().collect();
        list.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.name.cmp(&b.name)));
        list
    }
}

fn keys<V>(map: &BTreeMap<String, V>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

fn builtin_layer() -> Vec<(String, String)> {
    BUILTIN
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect()
}

/// Every `*.toml` file directly in `dir`, sorted by name (other entries, such as named
/// environments, are not curated data and are skipped). A missing folder is an empty layer.
fn read_dir_layer(dir: &Path) -> Result<Vec<(String, String)>, CatalogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => {
            return Err(CatalogError::Io {
                file: dir.display().to_string(),
                cause: source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let file = path.display().to_string();
            std::fs::read_to_string(&path)
                .map(|text| (file.clone(), text))
                .map_err(|source| CatalogError::Io {
                    file,
                    cause: source,
                })
        })
        .collect()
}

/// Reads fields of one file, naming the file and field path in every error.
struct Reader<'a> {
    file: &'a str,
}

impl Reader<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> CatalogError {
        CatalogError::Invalid {
            file: self.file.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn table<'v>(&self, value: &'v Value, field: &str) -> Result<&'v Table, CatalogError> {
        value
            .as_table()
            .ok_or_else(|| self.invalid(field, format!("expected a table, found {}", kind(value))))
    }

    fn known_keys(&self, table: &Table, field: &str, known: &[&str]) -> Result<(), CatalogError> {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                return Err(self.invalid(
                    &join(field, key),
                    format!(
                        "unknown field{} (known fields: {})",
                        did_you_mean(key, known),
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn string(
        &self,
        table: &Table,
        field: &str,
        key: &str,
    ) -> Result<Option<String>, CatalogError> {
        match table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.invalid(
                &join(field, key),
                format!("expected a string, found {}", kind(other)),
            )),
        }
    }

    fn required_line(&self, table: &Table, field: &str, key: &str) -> Result<String, CatalogError> {
        let path = join(field, key);
        let text = self
            .string(table, field, key)?
            .ok_or_else(|| self.invalid(&path, "missing; add a one-line text"))?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(self.invalid(&path, "is empty; write one line of text"));
        }
        if text.contains('\n') {
            return Err(self.invalid(&path, "must be a single line"));
        }
        if text.chars().count() > 160 {
            return Err(self.invalid(&path, "is longer than 160 characters; keep it to one line"));
        }
        Ok(text)
    }

    fn strings(&self, table: &Table, field: &str, key: &str) -> Result<Vec<String>, CatalogError> {
        let path = join(field, key);
        let Some(value) = table.get(key) else {
            return Ok(vec![]);
        };
        let list = value.as_array().ok_or_else(|| {
            self.invalid(
                &path,
                format!("expected a list of strings, found {}", kind(value)),
            )
        })?;
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    self.invalid(
                        &format!("{path}[{}]", i + 1),
                        format!("expected a string, found {}", kind(v)),
                    )
                })
            })
            .collect()
    }

    fn name(&self, field: &str, name: &str, what: &str) -> Result<(), CatalogError> {
        let ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.len() <= 64
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if ok {
            Ok(())
        } else {
            Err(self.invalid(
                field,
                format!(
                    "{what} name '{name}': use lower-case letters, digits, '-', '_' and '.', starting with a letter or digit"
                ),
            ))
        }
    }

    fn dependencies(
        &self,
        table: &Table,
        field: &str,
        key: &str,
    ) -> Result<Vec<Dependency>, CatalogError> {
        let path = join(field, key);
        let mut out: Vec<Dependency> = Vec::new();
        for (i, text) in self.strings(table, field, key)?.iter().enumerate() {
            let item = format!("{path}[{}]", i + 1);
            let dep = Dependency::parse(text).map_err(|e| {
                self.invalid(&item, format!("{e} (write e.g. \"penlight >= 1.13\")"))
            })?;
            if dep.name == "lua" {
                return Err(
                    self.invalid(&item, "'lua' is the interpreter, not a package to install")
                );
            }
            if out.iter().any(|d| d.name == dep.name) {
                return Err(self.invalid(&item, format!("{} is listed twice", dep.name)));
            }
            out.push(dep);
        }
        Ok(out)
    }
}

fn join(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

const TOP_KEYS: &[&str] = &["collection", "profile", "group"];
const COLLECTION_KEYS: &[&str] = &["category", "priority", "summary", "packages"];
const MEMBER_KEYS: &[&str] = &["name", "version", "rationale"];
const PROFILE_KEYS: &[&str] = &[
    "summary",
    "extends",
    "collections",
    "dev_collections",
    "packages",
    "dev_packages",
];
const GROUP_KEYS: &[&str] = &["purpose", "members"];

/// Parses and validates one file. `file` names it in errors.
fn parse_file(file: &str, text: &str) -> Result<Parsed, CatalogError> {
    let root: Table = toml::from_str(text).map_err(|e| CatalogError::Syntax {
        file: file.to_string(),
        message: e.to_string().trim().replace('\n', " "),
    })?;
    let r = Reader { file };
    r.known_keys(&root, "", TOP_KEYS)?;
    let mut parsed = Parsed::default();
    if let Some(value) = root.get("collection") {
        for (name, value) in r.table(value, "collection")? {
            parsed.collections.push(parse_collection(&r, name, value)?);
        }
    }
    if let Some(value) = root.get("profile") {
        for (name, value) in r.table(value, "profile")? {
            parsed.profiles.push(parse_profile(&r, name, value)?);
        }
    }
    if let Some(value) = root.get("group") {
        for (name, value) in r.table(value, "group")? {
            parsed.groups.push(parse_group(&r, name, value)?);
        }
    }
    if parsed.collections.is_empty() && parsed.profiles.is_empty() && parsed.groups.is_empty() {
        return Err(r.invalid(
            "(file)",
            "defines nothing; add a [collection.NAME], [profile.NAME] or [group.NAME] table",
        ));
    }
    Ok(parsed)
}

fn parse_collection(r: &Reader<'_>, name: &str, value: &Value) -> Result<Collection, CatalogError> {
    let field = format!("collection.{name}");
    r.name(&field, name, "collection")?;
    let table = r.table(value, &field)?;
    r.known_keys(table, &field, COLLECTION_KEYS)?;
    let category = r.string(table, &field, "category")?.ok_or_else(|| {
        r.invalid(
            &join(&field, "category"),
            "missing; add e.g. category = \"core\"",
        )
    })?;
    r.name(&join(&field, "category"), &category, "category")?;
    let priority = match table.get("priority") {
        Some(Value::Integer(n)) if (1..=100).contains(n) => *n as u32,
        Some(Value::Integer(n)) => {
            return Err(r.invalid(
                &join(&field, "priority"),
                format!("{n} is out of range; use 1 (most important) to 100"),
            ));
        }
        Some(other) => {
            return Err(r.invalid(
                &join(&field, "priority"),
                format!("expected an integer from 1 to 100, found {}", kind(other)),
            ));
        }
        None => {
            return Err(r.invalid(
                &join(&field, "priority"),
                "missing; add e.g. priority = 1 (1 is the most important)",
            ));
        }
    };
    let summary = r.required_line(table, &field, "summary")?;
    let packages_field = join(&field, "packages");
    let list = match table.get("packages") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) | None => {
            return Err(r.invalid(
                &packages_field,
                "a collection needs at least one package ([[collection.NAME.packages]] with name, version and rationale)",
            ));
        }
        Some(other) => {
            return Err(r.invalid(
                &packages_field,
                format!("expected a list of tables, found {}", kind(other)),
            ));
        }
    };
    let mut packages: Vec<Member> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let item_field = format!("{packages_field}[{}]", i + 1);
        let t = r.table(item, &item_field)?;
        r.known_keys(t, &item_field, MEMBER_KEYS)?;
        let pname = r
            .string(t, &item_field, "name")?
            .ok_or_else(|| r.invalid(&join(&item_field, "name"), "missing; name the package"))?;
        r.name(&join(&item_field, "name"), &pname, "package")?;
        if pname == "lua" {
            return Err(r.invalid(
                &join(&item_field, "name"),
                "'lua' is the interpreter, not a package to install",
            ));
        }
        if packages.iter().any(|m| m.name == pname) {
            return Err(r.invalid(
                &join(&item_field, "name"),
                format!("{pname} is listed twice in this collection"),
            ));
        }
        let version_text = r.string(t, &item_field, "version")?.unwrap_or_default();
        let version = Constraints::parse(&version_text).map_err(|e| {
            r.invalid(
                &join(&item_field, "version"),
                format!("{e} (write e.g. \">= 1.2\" or \">= 1.2, < 2\")"),
            )
        })?;
        let rationale = r.required_line(t, &item_field, "rationale")?;
        packages.push(Member {
            name: pname,
            version,
            rationale,
        });
    }
    Ok(Collection {
        name: name.to_string(),
        category,
        priority,
        summary,
        packages,
        file: r.file.to_string(),
    })
}

fn parse_profile(r: &Reader<'_>, name: &str, value: &Value) -> Result<Profile, CatalogError> {
    let field = format!("profile.{name}");
    r.name(&field, name, "profile")?;
    crate::ops::profile::check_name(name).map_err(|e| r.invalid(&field, e.to_string()))?;
    let table = r.table(value, &field)?;
    r.known_keys(table, &field, PROFILE_KEYS)?;
    let summary = r.required_line(table, &field, "summary")?;
    let extends = r.string(table, &field, "extends")?;
    if extends.as_deref() == Some(name) {
        return Err(r.invalid(&join(&field, "extends"), "a profile cannot extend itself"));
    }
    let collections = unique(
        r,
        &field,
        "collections",
        r.strings(table, &field, "collections")?,
    )?;
    let dev_collections = unique(
        r,
        &field,
        "dev_collections",
        r.strings(table, &field, "dev_collections")?,
    )?;
    let packages = r.dependencies(table, &field, "packages")?;
    let dev_packages = r.dependencies(table, &field, "dev_packages")?;
    if extends.is_none()
        && collections.is_empty()
        && dev_collections.is_empty()
        && packages.is_empty()
        && dev_packages.is_empty()
    {
        return Err(r.invalid(
            &field,
            "the profile is empty; give it `extends`, `collections` or `packages`",
        ));
    }
    Ok(Profile {
        name: name.to_string(),
        summary,
        extends,
        collections,
        dev_collections,
        packages,
        dev_packages,
        file: r.file.to_string(),
    })
}

fn unique(
    r: &Reader<'_>,
    field: &str,
    key: &str,
    list: Vec<String>,
) -> Result<Vec<String>, CatalogError> {
    let mut seen = BTreeSet::new();
    for (i, item) in list.iter().enumerate() {
        if !seen.insert(item) {
            return Err(r.invalid(
                &format!("{}[{}]", join(field, key), i + 1),
                format!("'{item}' is listed twice"),
            ));
        }
    }
    Ok(list)
}

fn parse_group(r: &Reader<'_>, name: &str, value: &Value) -> Result<Group, CatalogError> {
    let field = format!("group.{name}");
    r.name(&field, name, "group")?;
    let table = r.table(value, &field)?;
    r.known_keys(table, &field, GROUP_KEYS)?;
    let purpose = r.required_line(table, &field, "purpose")?;
    let members = unique(r, &field, "members", r.strings(table, &field, "members")?)?;
    if members.len() < 2 {
        return Err(r.invalid(
            &join(&field, "members"),
            "a same-purpose group needs at least two packages",
        ));
    }
    for (i, m) in members.iter().enumerate() {
        r.name(&format!("{field}.members[{}]", i + 1), m, "package")?;
    }
    Ok(Group {
        name: name.to_string(),
        purpose,
        members,
        file: r.file.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, &str)]) -> Vec<(String, String)> {
        files
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn shipped_data_loads_and_plans() {
        let catalog = Catalog::builtin().unwrap();
        assert_eq!(
            keys(&catalog.collections),
            ["core", "networking", "parsing", "testing"]
        );
        let dev: Vec<String> = catalog
            .plan("standard", false)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert!(dev.contains(&"busted".to_string()), "{dev:?}");
        let prod: Vec<String> = catalog
            .plan("standard", true)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert!(!prod.contains(&"busted".to_string()), "{prod:?}");
        assert!(prod.contains(&"lua-cjson".to_string()), "{prod:?}");
        // full lists testing as a regular collection, which wins over standard's dev-only one.
        let full = catalog.plan("full", true).unwrap();
        assert!(full.iter().any(|p| p.name == "busted" && !p.dev));
    }

    #[test]
    fn errors_name_file_and_field() {
        let bad = "[collection.x]\ncategory = \"core\"\npriority = 1\nsummary = \"s\"\n\
                   [[collection.x.packages]]\nname = \"a\"\nversion = \">= nope!\"\nrationale = \"r\"\n";
        let err = Catalog::from_layers(&[layer(&[("mine.toml", bad)])]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("mine.toml: collection.x.packages[1].version:"),
            "{text}"
        );
        let typo = "[collection.x]\ncategory = \"core\"\npriorty = 1\n";
        let text = Catalog::from_layers(&[layer(&[("t.toml", typo)])])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("collection.x.priorty") && text.contains("did you mean 'priority'"),
            "{text}"
        );
    }

    #[test]
    fn later_layers_replace_and_references_are_checked() {
        let user = "[collection.core]\ncategory = \"core\"\npriority = 1\nsummary = \"mine\"\n\
                    [[collection.core.packages]]\nname = \"inspect\"\nrationale = \"r\"\n";
        let catalog = Catalog::from_layers(&[builtin_layer(), layer(&[("u.toml", user)])]).unwrap();
        assert_eq!(catalog.collections["core"].summary, "mine");
        assert_eq!(catalog.collections["core"].packages.len(), 1);

        let cycle = "[profile.a]\nsummary = \"a\"\nextends = \"b\"\n\
                     [profile.b]\nsummary = \"b\"\nextends = \"a\"\n";
        let text = Catalog::from_layers(&[layer(&[("c.toml", cycle)])])
            .unwrap_err()
            .to_string();
        assert!(text.contains("cycle"), "{text}");

        let dangling = "[profile.a]\nsummary = \"a\"\ncollections = [\"netwrking\"]\n";
        let text = Catalog::from_layers(&[builtin_layer(), layer(&[("d.toml", dangling)])])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("d.toml: profile.a.collections[1]")
                && text.contains("did you mean 'networking'"),
            "{text}"
        );
    }

    #[test]
    fn duplicates_within_a_layer_are_refused() {
        let g = "[group.g]\npurpose = \"p\"\nmembers = [\"a\", \"b\"]\n";
        let err = Catalog::from_layers(&[layer(&[("one.toml", g), ("two.toml", g)])]).unwrap_err();
        assert!(err.to_string().contains("one.toml and two.toml"), "{err}");
    }
}
