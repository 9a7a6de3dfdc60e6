//! LuaRocks versions, version constraints and dependency strings.
//!
//! LuaRocks versions (`1.13.1-3`, `scm-1`, `2.1.0.10-1`, `2.0beta2`) are not semver: components
//! can be any number of numbers and words, a trailing `-N` is the rockspec revision, and words
//! such as `alpha`, `rc`, `scm` and `dev` have fixed weights. This module reproduces the rules of
//! LuaRocks' `core/vers.lua` (versions, `==`, `<`, `<=`, `~>`) and of the constraint and
//! dependency parsers in `queries.lua` exactly, including their quirks (`==` compares the number
//! of components, so `1.0 == 1.0.0` is false; `<` pads the shorter version with zeros; `~>` is a
//! prefix match, so `~> 2.4` admits `2.4alpha`). The `semver` crate is deliberately not used: it
//! rejects most real LuaRocks versions and orders pre-releases differently.
//!
//! LuaRocks' own order is not total (`1` and `1.0` are neither `<`, `==` nor `>`), so
//! [`Version`]'s [`Ord`] is a total order that agrees with LuaRocks' `<` wherever LuaRocks says
//! `<`, and breaks LuaRocks' ties deterministically. The resolver relies on that order.
//!
//! Where lvm deliberately differs, it refuses input rather than read it differently, with one
//! lenient exception (dependency names):
//!
//! - LuaRocks prints a warning for a version with a character that is neither a digit, a letter
//!   nor a separator (`1.0+build`, `.1`, trailing whitespace, which its trimming pattern
//!   `^%s*(.*)%s*$` does not actually remove) and silently turns the rest into a `0` component.
//!   A warning scrolls by while the resolver goes on with a version nobody wrote, so lvm returns
//!   [`VersionError::BadVersion`] instead. Every version lvm accepts gets LuaRocks' verdicts.
//! - The empty version, which LuaRocks reads as a version with no components, is an error.
//! - A revision too large for a `u64` is an error (LuaRocks keeps it as an inexact float).
//! - In a dependency string LuaRocks ignores everything from a `/` after the name on
//!   (`a/b/c`, `foo >= 1.0/x`) and reads `/foo` as a name; lvm rejects these.
//! - LuaRocks lower-cases package names (rockspec `package`, command-line names, hence every
//!   name in a manifest) but not dependency names, so a dependency on `LuaFileSystem` finds
//!   nothing there; lvm lower-cases dependency names so that it finds `luafilesystem`.
//!
//! Components are `f64`, as in LuaRocks on Lua 5.1 and LuaJIT. On Lua 5.3+ LuaRocks compares
//! numbers above 2^53 as exact integers; no real version has a 16-digit component.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// An error in a version, constraint or dependency string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VersionError {
    #[error("empty version string (write a version such as '1.0-1')")]
    Empty,
    #[error(
        "version '{0}' could not be parsed at '{1}': a version is numbers and words separated by \
         '.', '-' or '_', optionally ending in a revision such as '-1' (e.g. '1.2.3-1', '2.0beta2')"
    )]
    BadVersion(String, String),
    #[error(
        "revision of version '{0}' does not fit in 64 bits; use a smaller number after the last '-'"
    )]
    RevisionTooLarge(String),
    #[error("bad constraint operator '{op}' in '{input}' (use ==, ~=, <, >, <=, >= or ~>)")]
    BadOperator { op: String, input: String },
    #[error(
        "constraint '{0}' has no version where one is expected (constraints look like \
         '>= 1.0, < 2.0')"
    )]
    MissingVersion(String),
    #[error(
        "bad dependency '{0}': expected a package name (letters, digits, '.', '-', '_'), \
         optionally after a 'namespace/', then constraints without '/', \
         e.g. 'penlight >= 1.5, < 2.0'"
    )]
    BadDependency(String),
    #[error(
        "invalid package name {0:?}: LuaRocks package names are letters, digits, '.', '-' and \
         '_', with at least one letter or digit (as in a dependency string)"
    )]
    BadName(String),
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
    /// Parses a version the way LuaRocks' `vers.parse_version` does, except that what LuaRocks
    /// only warns about is an error (see the module documentation).
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        let text = trim_lua_space_start(input);
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        let (mut rest, revision) = match revision_dash(text) {
            Some(dash) => {
                let revision = text[dash + 1..]
                    .parse()
                    .map_err(|_| VersionError::RevisionTooLarge(text.into()))?;
                (&text[..dash], Some(revision))
            }
            None => (text, None),
        };
        let mut components: Vec<f64> = Vec::new();
        // A word waits for the number after it, which LuaRocks adds as a fraction (`rc1` is
        // rc + 1/100000) before moving to the next component; a second word replaces it.
        let mut pending_word: Option<f64> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                // Digit strings always parse (huge ones to infinity, as Lua's `tonumber`).
                let number: f64 = rest[..digits]
                    .parse()
                    .map_err(|_| VersionError::BadVersion(text.into(), rest.into()))?;
                components.push(match pending_word.take() {
                    Some(word) => word + number / 100_000.0,
                    None => number,
                });
                rest = skip_separators(&rest[digits..]);
                continue;
            }
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            if letters == 0 {
                return Err(VersionError::BadVersion(text.into(), rest.into()));
            }
            pending_word = Some(word_weight(&rest[..letters]));
            rest = skip_separators(&rest[letters..]);
        }
        components.extend(pending_word);
        Ok(Version {
            text: text.to_string(),
            components,
            revision,
        })
    }

    /// The version exactly as written, without leading whitespace.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed components, as LuaRocks' `vers.parse_version` stores them in its array part
    /// (LuaRocks writes them into tree manifests).
    pub fn components(&self) -> &[f64] {
        &self.components
    }

    /// The rockspec revision (`3` in `1.13.1-3`), if any.
    pub fn revision(&self) -> Option<u64> {
        self.revision
    }

    /// The version without its revision (`1.13.1` for `1.13.1-3`).
    pub fn upstream(&self) -> &str {
        match revision_dash(&self.text) {
            Some(dash) => &self.text[..dash],
            None => &self.text,
        }
    }

    /// LuaRocks' `==`: same number of components, equal components, and equal revisions when
    /// both have one.
    pub fn luarocks_eq(&self, other: &Version) -> bool {
        if self.components.len() != other.components.len() {
            return false;
        }
        if self
            .components
            .iter()
            .zip(&other.components)
            .any(|(a, b)| a != b)
        {
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

/// Lua's `%s` in the C locale, which LuaRocks' patterns use. Rust's notions differ:
/// `char::is_whitespace` is Unicode and `u8::is_ascii_whitespace` leaves out `\v`.
fn is_lua_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

fn trim_lua_space_start(s: &str) -> &str {
    s.trim_start_matches(is_lua_space)
}

/// Where LuaRocks' `(.*)%-(%d+)$` splits off a revision: the last `-` if only digits follow it.
fn revision_dash(text: &str) -> Option<usize> {
    let dash = text.rfind('-')?;
    let digits = &text[dash + 1..];
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(dash)
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
        // Components are never NaN or -0.0, where `total_cmp` and Lua's `<` would disagree.
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
    /// `>= 1.5`; a pin is written as LuaRocks users write it: `@1.0` (`@` with `==` implied),
    /// or `@>= 1.5` with another operator. Each form parses back to the same constraint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.no_upgrade, self.op) {
            (true, Op::Eq) => write!(f, "@{}", self.version),
            (true, op) => write!(f, "@{} {}", op.as_str(), self.version),
            (false, op) => write!(f, "{} {}", op.as_str(), self.version),
        }
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

    /// Parses constraints as LuaRocks' `parse_constraints` does: each is an optional `@`, an
    /// optional operator (none or `=` means `==`, `!=` means `~=`), optional whitespace and a
    /// version, followed by any run of whitespace and commas. Leading whitespace is skipped, as
    /// LuaRocks does after a dependency's name; a leading comma is an error, as in LuaRocks.
    pub fn parse(input: &str) -> Result<Constraints, VersionError> {
        let mut out = Vec::new();
        let mut rest = trim_lua_space_start(input);
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
            let after_op = trim_lua_space_start(&after_at[op_len..]);
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
            rest = after_op[version_len..].trim_start_matches(|c| c == ',' || is_lua_space(c));
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
    /// Parses a dependency string as LuaRocks' `queries.from_dep_string` does: a name (letters,
    /// digits, `.`, `-`, `_`, at least one letter or digit), optionally prefixed by a namespace
    /// and `/` (`user/name`, kept in [`Dependency::name`]), then constraints. Names are
    /// lower-cased; input LuaRocks would silently truncate at a `/` is rejected (see the module
    /// documentation).
    pub fn parse(input: &str) -> Result<Dependency, VersionError> {
        let bad = || VersionError::BadDependency(input.into());
        let text = trim_lua_space_start(input);
        let first_len = name_run(text);
        let name_len = match text[first_len..].strip_prefix('/') {
            Some(after_slash) => {
                let second_len = name_run(after_slash);
                let second_starts_alnum = after_slash
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric());
                if first_len == 0 || second_len == 0 || !second_starts_alnum {
                    return Err(bad());
                }
                first_len + 1 + second_len
            }
            None if text[..first_len].bytes().any(|b| b.is_ascii_alphanumeric()) => first_len,
            None => return Err(bad()),
        };
        let rest = &text[name_len..];
        if rest.contains('/') {
            return Err(bad());
        }
        let constraints = Constraints::parse(rest)?;
        Ok(Dependency {
            name: text[..name_len].to_ascii_lowercase(),
            constraints,
        })
    }

    /// Whether `version` of this package satisfies the dependency.
    pub fn matches(&self, version: &Version) -> bool {
        self.constraints.matches(version)
    }
}

/// Checks a package name (from a rockspec or a server manifest) against LuaRocks' rule for the
/// names a dependency string can name: letters, digits, `.`, `-` and `_`, at least one letter
/// or digit. Such a name is one plain path segment (never `.`, `..` or containing `/`) and
/// holds no space, quote, bracket or line break, so it is safe in file names, commit messages
/// and generated Lua.
pub fn check_package_name(name: &str) -> Result<(), VersionError> {
    let valid = !name.is_empty()
        && name_run(name) == name.len()
        && name.bytes().any(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(VersionError::BadName(name.to_string()))
    }
}

/// Length of the run of name characters (`[%w%.%-%_]*` in LuaRocks) at the start of `s`.
fn name_run(s: &str) -> usize {
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
        .count()
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
