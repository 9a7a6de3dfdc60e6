//! LuaRocks versions, version constraints and dependency strings.
//!
//! LuaRocks versions (`1.13.1-3`, `scm-1`, `2.1.0.10-1`, `2.0beta2`) are not semver: components
//! can be any number of numbers and words, a trailing `-N` is the rockspec revision, and words
//! such as `alpha`, `rc`, `scm` and `dev` have fixed weights. This module reproduces the rules of
//! LuaRocks' `core/vers.lua` exactly, including its quirks (`==` compares the number of
//! components; `<` pads the shorter version with zeros; `~>` is a prefix match). The `semver`
//! crate is deliberately not used: it rejects most real LuaRocks versions and orders
//! pre-releases differently.
//!
//! LuaRocks' own order is not total (`1` and `1.0` are neither `<`, `==` nor `>`), so
//! [`Version`]'s [`Ord`] is a total order that agrees with LuaRocks' `<` wherever LuaRocks says
//! `<`, and breaks LuaRocks' ties deterministically. The resolver relies on that order.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// An error in a version, constraint or dependency string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VersionError {
    #[error("empty version string")]
    Empty,
    #[error("version '{0}' could not be parsed: '{1}' is neither a number nor a word")]
    BadVersion(String, String),
    #[error("bad constraint operator '{op}' in '{input}' (use ==, ~=, <, >, <=, >= or ~>)")]
    BadOperator { op: String, input: String },
    #[error("no version after operator in constraint '{0}'")]
    MissingVersion(String),
    #[error("bad dependency '{0}': expected a package name optionally followed by constraints, e.g. 'penlight >= 1.5, < 2.0'")]
    BadDependency(String),
}

/// Weights LuaRocks gives to known words inside a version (`core/vers.lua`, `deltas`).
fn word_weight(word: &str) -> f64 {
    match word {
        "dev" => 120_000_000.0,
        "scm" => 110_000_000.0,
        "cvs" => 100_000_000.0,
        "rc" => -1_000.0,
        "pre" => -10_000.0,
        "beta" => -100_000.0,
        "alpha" => -1_000_000.0,
        // Unknown words weigh their first letter, as LuaRocks does.
        other => f64::from(other.as_bytes()[0]) / 1000.0,
    }
}

/// A LuaRocks version: numeric (and weighted word) components plus an optional revision.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
    components: Vec<f64>,
    revision: Option<u64>,
}

impl Version {
    /// Parses a version the way LuaRocks' `vers.parse_version` does.
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        let (mut rest, revision) = split_revision(text);
        let mut components: Vec<f64> = Vec::new();
        // LuaRocks appends a number to a preceding word as a fraction of it (`rc1` is
        // rc + 1/100000) and only moves to the next component after a number.
        let mut word_pending = false;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                let number: f64 = rest[..digits]
                    .parse()
                    .map_err(|_| VersionError::BadVersion(text.into(), rest.into()))?;
                if word_pending {
                    let last = components.last_mut().expect("a word was pushed");
                    *last += number / 100_000.0;
                } else {
                    components.push(number);
                }
                word_pending = false;
                rest = skip_separators(&rest[digits..]);
                continue;
            }
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            if letters == 0 {
                return Err(VersionError::BadVersion(text.into(), rest.into()));
            }
            let weight = word_weight(&rest[..letters]);
            if word_pending {
                *components.last_mut().expect("a word was pushed") = weight;
            } else {
                components.push(weight);
            }
            word_pending = true;
            rest = skip_separators(&rest[letters..]);
        }
        Ok(Version {
            text: text.to_string(),
            components,
            revision,
        })
    }

    /// The version exactly as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The rockspec revision (`3` in `1.13.1-3`), if any.
    pub fn revision(&self) -> Option<u64> {
        self.revision
    }

    /// The version without its revision (`1.13.1` for `1.13.1-3`).
    pub fn upstream(&self) -> &str {
        split_revision(&self.text).0
    }

    /// LuaRocks' `==`: same number of components, equal components, and equal revisions when
    /// both have one.
    pub fn luarocks_eq(&self, other: &Version) -> bool {
        if self.components.len() != other.components.len() {
            return false;
        }
        if self.components.iter().zip(&other.components).any(|(a, b)| a != b) {
            return false;
        }
        match (self.revision, other.revision) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// LuaRocks' `<`: components compared with the shorter padded by zeros, then revisions when
    /// both have one.
    pub fn luarocks_lt(&self, other: &Version) -> bool {
        match compare_padded(&self.components, &other.components) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => match (self.revision, other.revision) {
                (Some(a), Some(b)) => a < b,
                _ => false,
            },
        }
    }

    /// LuaRocks' `<=`, defined as `not (other < self)`.
    pub fn luarocks_le(&self, other: &Version) -> bool {
        !other.luarocks_lt(self)
    }

    /// LuaRocks' `~>` (partial match): every component of `requested` equals this version's
    /// component at the same place (missing ones count as 0), and the revisions are equal when
    /// `requested` has one.
    pub fn prefix_matches(&self, requested: &Version) -> bool {
        let components_match = requested
            .components
            .iter()
            .enumerate()
            .all(|(i, r)| *r == self.components.get(i).copied().unwrap_or(0.0));
        components_match
            && match requested.revision {
                Some(r) => self.revision == Some(r),
                None => true,
            }
    }

    /// True for development versions (`scm`, `dev`, `cvs`), which LuaRocks only installs when
    /// asked for explicitly or when nothing else matches.
    pub fn is_development(&self) -> bool {
        self.components.first().is_some_and(|c| *c >= 100_000_000.0)
    }
}

fn split_revision(text: &str) -> (&str, Option<u64>) {
    if let Some(dash) = text.rfind('-') {
        let (main, rev) = (&text[..dash], &text[dash + 1..]);
        if !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = rev.parse() {
                return (main, Some(n));
            }
        }
    }
    (text, None)
}

fn skip_separators(s: &str) -> &str {
    s.trim_start_matches(['.', '-', '_'])
}

fn compare_padded(a: &[f64], b: &[f64]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0.0),
            b.get(i).copied().unwrap_or(0.0),
        );
        match x.total_cmp(&y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

impl Ord for Version {
    /// A total order agreeing with [`Version::luarocks_lt`]: padded components first, then the
    /// revision (a missing one below any), then the number of components, then the text.
    fn cmp(&self, other: &Self) -> Ordering {
        compare_padded(&self.components, &other.components)
            .then_with(|| self.revision.cmp(&other.revision))
            .then_with(|| self.components.len().cmp(&other.components.len()))
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Structural equality (same position in the total order, i.e. same text). For LuaRocks' `==`
/// use [`Version::luarocks_eq`].
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A constraint operator as LuaRocks spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "~=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "~>")]
    Pessimistic,
}

impl Op {
    fn parse(op: &str) -> Option<Op> {
        Some(match op {
            "==" | "=" | "" => Op::Eq,
            "~=" | "!=" => Op::Ne,
            "<" => Op::Lt,
            ">" => Op::Gt,
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "~>" => Op::Pessimistic,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "~=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Pessimistic => "~>",
        }
    }
}

/// One constraint: an operator and a version, e.g. `>= 1.5`. `no_upgrade` is LuaRocks' `@`
/// prefix (pin: do not upgrade an installed version).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    pub op: Op,
    pub version: Version,
    pub no_upgrade: bool,
}

impl Constraint {
    /// Whether `version` satisfies this constraint under LuaRocks' rules.
    pub fn matches(&self, version: &Version) -> bool {
        let c = &self.version;
        match self.op {
            Op::Eq => version.luarocks_eq(c),
            Op::Ne => !version.luarocks_eq(c),
            Op::Lt => version.luarocks_lt(c),
            Op::Gt => c.luarocks_lt(version),
            Op::Le => version.luarocks_le(c),
            Op::Ge => c.luarocks_le(version),
            Op::Pessimistic => version.prefix_matches(c),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.no_upgrade { "@" } else { "" };
        write!(f, "{at}{} {}", self.op.as_str(), self.version)
    }
}

/// A list of constraints that must all hold (`>= 1.5, < 2.0`). Empty means any version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Constraints(pub Vec<Constraint>);

impl Constraints {
    /// Any version.
    pub fn any() -> Constraints {
        Constraints(Vec::new())
    }

    /// Parses constraints as LuaRocks' `vers.parse_constraints` does: each is an optional `@`,
    /// an optional operator (none means `==`), and a version; separated by commas or spaces.
    pub fn parse(input: &str) -> Result<Constraints, VersionError> {
        let mut out = Vec::new();
        let mut rest = input.trim_start_matches([' ', '\t', ',']);
        while !rest.is_empty() {
            let (no_upgrade, after_at) = match rest.strip_prefix('@') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let op_len = after_at
                .bytes()
                .take_while(|b| b"<>=~!".contains(b))
                .count();
            let op_text = &after_at[..op_len];
            let op = Op::parse(op_text).ok_or_else(|| VersionError::BadOperator {
                op: op_text.into(),
                input: input.trim().into(),
            })?;
            let after_op = after_at[op_len..].trim_start();
            let version_len = after_op
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
                .count();
            if version_len == 0 {
                return Err(VersionError::MissingVersion(input.trim().into()));
            }
            let version = Version::parse(&after_op[..version_len])?;
            out.push(Constraint {
                op,
                version,
                no_upgrade,
            });
            rest = after_op[version_len..].trim_start_matches([' ', '\t', ',']);
        }
        Ok(Constraints(out))
    }

    /// Whether `version` satisfies every constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.0.iter().all(|c| c.matches(version))
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl FromStr for Constraints {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraints::parse(s)
    }
}

/// A dependency as written in a rockspec: a package name and constraints
/// (`penlight >= 1.5, < 2.0`, `lua ~> 5.4`, `luafilesystem`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    pub name: String,
    pub constraints: Constraints,
}

impl Dependency {
    /// Parses a dependency string. Names are lower-cased, as LuaRocks does; a namespace
    /// prefix (`user/name`) is kept.
    pub fn parse(input: &str) -> Result<Dependency, VersionError> {
        let text = input.trim();
        let name_len = text
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || b"._-/".contains(b))
            .count();
        let name = &text[..name_len];
        if name.is_empty() || !name.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(VersionError::BadDependency(input.into()));
        }
        let constraints = Constraints::parse(&text[name_len..])?;
        Ok(Dependency {
            name: name.to_ascii_lowercase(),
            constraints,
        })
    }

    /// Whether `version` of this package satisfies the dependency.
    pub fn matches(&self, version: &Version) -> bool {
        self.constraints.matches(version)
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.constraints.is_any() {
            f.write_str(&self.name)
        } else {
            write!(f, "{} {}", self.name, self.constraints)
        }
    }
}

impl FromStr for Dependency {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dependency::parse(s)
    }
}

impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dependency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Dependency::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn words_take_the_following_number_as_a_fraction() {
        assert!(v("1.0rc1").luarocks_lt(&v("1.0rc2")));
        assert!(v("1.0rc2").luarocks_lt(&v("1.0")));
        assert!(v("2.0beta").luarocks_lt(&v("2.0beta2")));
    }

    #[test]
    fn constraints_parse_and_display() {
        let c = Constraints::parse(">= 1.5, < 2.0").unwrap();
        assert_eq!(c.to_string(), ">= 1.5, < 2.0");
        assert!(c.matches(&v("1.13.1-3")));
        assert!(!c.matches(&v("2.0-1")));
        assert_eq!(Constraints::parse("1.0").unwrap().0[0].op, Op::Eq);
        assert!(Constraints::parse("=> 1.0").is_err());
    }

    #[test]
    fn dependencies_parse() {
        let d = Dependency::parse("LuaFileSystem ~> 1.8").unwrap();
        assert_eq!(d.name, "luafilesystem");
        assert!(d.matches(&v("1.8.0-1")));
        assert!(!d.matches(&v("1.9.0-1")));
        assert!(Dependency::parse(">= 1.0").is_err());
    }
}
