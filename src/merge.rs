//! Three-way merge of two environment states from their merge base, package by package, as
//! `lvm profile merge` and the git merge driver of `manifest.json` both do it.
//!
//! Pure: states in, a merged state or the conflicts out. A package changed on one side only
//! takes that side's change; changed alike on both sides is no conflict; changed differently is
//! one, unless a choice (`--ours`, `--theirs`, `--prefer NAME=SIDE`) settles it. A package's
//! record is compared without `required_by`, which only follows the other packages. The
//! version of a package nobody asked for follows what is asked for, so two sides moving such a
//! dependency differently take the newer one and leave the rest to the resolver ([`settle`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::luaversion::LuaVersion;
use crate::manifest::{Manifest, Package};
use crate::resolve::{self, PackageSource, Request, ResolveError, SourceError};
use crate::version::{Dependency, Version, VersionError};

/// One side of a merge: the current profile (ours) or the one merged into it (theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Ours,
    Theirs,
}

impl Side {
    /// Reads `ours` or `theirs`.
    pub fn parse(text: &str) -> Option<Side> {
        match text {
            "ours" => Some(Side::Ours),
            "theirs" => Some(Side::Theirs),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::Theirs => "theirs",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How conflicts are settled: one side for every conflict, and per package (which wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    pub all: Option<Side>,
    pub packages: BTreeMap<String, Side>,
}

impl Choices {
    /// The side chosen for `name`, if any.
    pub fn for_package(&self, name: &str) -> Option<Side> {
        self.packages.get(name).copied().or(self.all)
    }
}

/// A package both sides changed differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub name: String,
    /// What our side did to it (`upgraded 1.0-1 → 1.5-1`, `removed 1.0-1`, ...).
    pub ours: String,
    /// What their side did to it.
    pub theirs: String,
}

/// The merged state, and which conflicts a choice settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The merged packages (`required_by` recomputed); dependencies still to be settled.
    pub state: Manifest,
    /// Each conflict settled by a choice, with the side taken.
    pub chosen: Vec<(Conflict, Side)>,
}

/// Why two states do not merge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("the states are for different Lua versions (ours {ours}, theirs {theirs})")]
    DifferentLua { ours: String, theirs: String },
    #[error("{} package(s) changed differently on both sides: {}", .0.len(), names(.0))]
    Conflicts(Vec<Conflict>),
}

fn names(conflicts: &[Conflict]) -> String {
    let names: Vec<&str> = conflicts.iter().map(|c| c.name.as_str()).collect();
    names.join(", ")
}

/// A package record as the merge compares it: without `required_by`, which is derived from the
/// other packages.
fn essence(package: &Package) -> Package {
    let mut p = package.clone();
    p.reason.required_by.clear();
    p
}

/// Whether two records are the same build (everything but the reason).
fn same_build(a: &Package, b: &Package) -> bool {
    a.version == b.version
        && a.source == b.source
        && a.dependencies == b.dependencies
        && a.store_key == b.store_key
        && a.files_sha256 == b.files_sha256
}

/// What one side did to a package since the base, in words.
pub fn describe(base: Option<&Package>, side: Option<&Package>) -> String {
    match (base, side) {
        (None, None) => "left it out".to_string(),
        (None, Some(p)) => match &p.reason.requested {
            Some(c) if !c.is_empty() => format!("installed {} (requested '{c}')", p.version),
            Some(_) => format!("installed {}", p.version),
            None => format!("installed {} as a dependency", p.version),
        },
        (Some(b), None) => format!("removed {}", b.version),
        (Some(b), Some(p)) => {
            let mut parts = Vec::new();
            if !same_build(b, p) {
                let kind = crate::manifest::change_kind(b, p);
                if b.version == p.version {
                    parts.push(format!("{kind} {}", p.version));
                } else {
                    parts.push(format!("{kind} {} → {}", b.version, p.version));
                }
            }
            match (&b.reason.requested, &p.reason.requested) {
                (None, Some(c)) => parts.push(format!("requested '{c}'")),
                (Some(_), None) => parts.push("kept only as a dependency".to_string()),
                (Some(x), Some(y)) if x != y => parts.push(format!("re-constrained '{x}' → '{y}'")),
                _ => {}
            }
            if parts.is_empty() {
                "left it as it was".to_string()
            } else {
                parts.join(", ")
            }
        }
    }
}

/// The three-way merge of one field: the side that changed it, the same change, or a
/// conflict (`None`).
fn merge_field<T: PartialEq + Clone>(base: &T, ours: &T, theirs: &T) -> Option<T> {
    if ours == base || ours == theirs {
        Some(theirs.clone())
    } else if theirs == base {
        Some(ours.clone())
    } else {
        None
    }
}

/// The newer of two builds of a dependency nobody asked for (ours on a tie).
fn newer<'a>(ours: &'a Package, theirs: &'a Package) -> &'a Package {
    if theirs.version > ours.version {
        theirs
    } else {
        ours
    }
}

/// Merges one package; `Err(())` is a conflict.
fn merge_package(
    base: Option<&Package>,
    ours: Option<&Package>,
    theirs: Option<&Package>,
) -> Result<Option<Package>, ()> {
    let [b, o, t] = [base, ours, theirs].map(|p| p.map(essence));
    if o == b || o == t {
        return Ok(theirs.cloned());
    }
    if t == b {
        return Ok(ours.cloned());
    }
    match (ours, theirs) {
        (Some(o), Some(t)) => {
            // Both have it, differently: the constraint and the build merge apart.
            let requested = merge_field(
                &base.and_then(|b| b.reason.requested.clone()),
                &o.reason.requested,
                &t.reason.requested,
            )
            .ok_or(())?;
            let build = match base {
                Some(b) if same_build(b, o) => t,
                Some(b) if same_build(b, t) => o,
                _ if same_build(o, t) => o,
                _ if requested.is_none() => newer(o, t),
                _ => return Err(()),
            };
            let mut merged = build.clone();
            merged.reason.requested = requested;
            Ok(Some(merged))
        }
        // Removed on one side, changed on the other: a conflict when someone asked for it;
        // a dependency stays a candidate, kept only if what is asked for still needs it.
        (Some(kept), None) | (None, Some(kept)) => {
            let asked = base.is_some_and(Package::is_requested) || kept.is_requested();
            if asked {
                Err(())
            } else {
                Ok(Some(kept.clone()))
            }
        }
        (None, None) => Ok(None),
    }
}

/// Merges `ours` and `theirs` from their merge base `base`, settling conflicts by `choices`.
pub fn merge_states(
    base: &Manifest,
    ours: &Manifest,
    theirs: &Manifest,
    choices: &Choices,
) -> Result<Merged, MergeError> {
    if ours.lua != theirs.lua {
        return Err(MergeError::DifferentLua {
            ours: ours.lua.clone(),
            theirs: theirs.lua.clone(),
        });
    }
    let names: BTreeSet<&String> = base
        .packages
        .keys()
        .chain(ours.packages.keys())
        .chain(theirs.packages.keys())
        .collect();
    let mut state = Manifest::empty(&ours.lua);
    let mut conflicts = Vec::new();
    let mut chosen = Vec::new();
    for name in names {
        let [b, o, t] = [base, ours, theirs].map(|m| m.packages.get(name));
        let merged = match merge_package(b, o, t) {
            Ok(merged) => merged,
            Err(()) => {
                let conflict = Conflict {
                    name: name.clone(),
                    ours: describe(b, o),
                    theirs: describe(b, t),
                };
                match choices.for_package(name) {
                    Some(side) => {
                        chosen.push((conflict, side));
                        match side {
                            Side::Ours => o.cloned(),
                            Side::Theirs => t.cloned(),
                        }
                    }
                    None => {
                        conflicts.push(conflict);
                        continue;
                    }
                }
            }
        };
        if let Some(package) = merged {
            state.packages.insert(name.clone(), package);
        }
    }
    if !conflicts.is_empty() {
        return Err(MergeError::Conflicts(conflicts));
    }
    state.recompute_reasons();
    Ok(Merged { state, chosen })
}

/// The recorded builds of some states as the resolver's only candidates: no server, no
/// rockspec, just what the records say.
struct Recorded<'a> {
    /// Per package, its records by version; the first state listing a version wins.
    builds: BTreeMap<&'a str, BTreeMap<&'a Version, &'a Package>>,
}

impl<'a> Recorded<'a> {
    fn new(states: &[&'a Manifest]) -> Recorded<'a> {
        let mut builds: BTreeMap<&str, BTreeMap<&Version, &Package>> = BTreeMap::new();
        for &state in states {
            for (name, package) in &state.packages {
                builds
                    .entry(name.as_str())
                    .or_default()
                    .entry(&package.version)
                    .or_insert(package);
            }
        }
        Recorded { builds }
    }

    fn record(&self, name: &str, version: &Version) -> Option<&'a Package> {
        self.builds.get(name)?.get(version).copied()
    }
}

impl PackageSource for Recorded<'_> {
    fn versions(&self, name: &str) -> Result<Vec<Version>, SourceError> {
        Ok(self
            .builds
            .get(name)
            .map(|v| v.keys().map(|v| (*v).clone()).collect())
            .unwrap_or_default())
    }

    fn dependencies(&self, name: &str, version: &Version) -> Result<Vec<Dependency>, SourceError> {
        let Some(package) = self.record(name, version) else {
            return Ok(vec![]);
        };
        package
            .dependencies
            .iter()
            .map(|d| Dependency::parse(d).map_err(|e| -> SourceError { Box::new(e) }))
            .collect()
    }
}

/// Why the merged packages do not settle among the recorded builds.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("the Lua of the merged state")]
    Lua(#[from] crate::luaversion::UnknownLuaVersion),
    #[error("a requested constraint")]
    Constraint(#[from] VersionError),
    #[error("no set of the recorded builds fits what is asked for")]
    Resolve(#[from] ResolveError),
}

/// The merged state made whole without any server: what the merged state asks for, resolved
/// among the builds `merged` and then `others` record (preferring the merged versions), each
/// package its recorded build. Dependencies one side dropped come back when something asked
/// for still needs them; ones nothing needs any more go.
pub fn settle(merged: &Manifest, others: &[&Manifest]) -> Result<Manifest, SettleError> {
    let lua = LuaVersion::parse(&merged.lua)?;
    let mut states = vec![merged];
    states.extend_from_slice(others);
    let recorded = Recorded::new(&states);
    let requested = merged.requested();
    let requirements = requested
        .iter()
        .map(|(name, constraint)| {
            Ok(Dependency {
                name: name.clone(),
                constraints: crate::version::Constraints::parse(constraint)?,
            })
        })
        .collect::<Result<Vec<_>, VersionError>>()?;
    let preferred = merged
        .packages
        .iter()
        .map(|(n, p)| (n.clone(), p.version.clone()))
        .collect();
    let request = Request::for_lua(lua, requirements, preferred)?;
    let resolution = resolve::resolve(&recorded, &request)?;
    let mut state = Manifest::empty(&merged.lua);
    for (name, version) in &resolution.packages {
        // The resolver only picks versions the records list.
        let Some(record) = recorded.record(name, version) else {
            continue;
        };
        let mut package = record.clone();
        package.reason.requested = requested.get(name).cloned();
        state.packages.insert(name.clone(), package);
    }
    state.recompute_reasons();
    Ok(state)
}

/// `manifest.json` as a merge that stopped on conflicts leaves it for a person: the merged
/// state, with each conflicting package's block between git's conflict markers, our record
/// above, theirs below (an empty side is a removal), each marker saying what that side did.
pub fn conflict_text(
    merged: &Manifest,
    ours: &Manifest,
    theirs: &Manifest,
    conflicts: &[Conflict],
) -> String {
    let mut shown = merged.clone();
    for c in conflicts {
        if let Some(p) = ours
            .packages
            .get(&c.name)
            .or_else(|| theirs.packages.get(&c.name))
        {
            shown.packages.insert(c.name.clone(), p.clone());
        }
    }
    let text = String::from_utf8_lossy(&shown.to_bytes()).into_owned();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for c in conflicts {
        let key = serde_json::to_string(&c.name).unwrap_or_default();
        let start_line = format!("    {key}: {{");
        let Some(start) = lines.iter().position(|l| *l == start_line) else {
            continue;
        };
        let Some(len) = lines[start..]
            .iter()
            .position(|l| l == "    }" || l == "    },")
        else {
            continue;
        };
        let end = start + len;
        let comma = lines[end].ends_with(',');
        let block = |state: &Manifest| package_block(&c.name, state.packages.get(&c.name), comma);
        let mut replacement = vec![format!("<<<<<<< ours: {}", c.ours)];
        replacement.extend(block(ours));
        replacement.push("=======".to_string());
        replacement.extend(block(theirs));
        replacement.push(format!(">>>>>>> theirs: {}", c.theirs));
        lines.splice(start..=end, replacement).for_each(drop);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// A package's block as it stands in `manifest.json` (none for an absent package).
fn package_block(name: &str, package: Option<&Package>, comma: bool) -> Vec<String> {
    let Some(package) = package else {
        return vec![];
    };
    let mut one = Manifest::empty("");
    one.packages.insert(name.to_string(), package.clone());
    let text = String::from_utf8_lossy(&one.to_bytes()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    // `"packages": {` opens the block, and its `}` follows it.
    let Some(open) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("\"packages\""))
    else {
        return vec![];
    };
    let mut block: Vec<String> = lines[open + 1..]
        .iter()
        .take_while(|l| **l != "  }" && **l != "  },")
        .map(|l| l.to_string())
        .collect();
    if comma {
        if let Some(last) = block.last_mut() {
            last.push(',');
        }
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{PackageSource as Source, Reason};

    fn package(version: &str, requested: Option<&str>, deps: &[&str]) -> Package {
        Package {
            version: Version::parse(version).unwrap(),
            reason: Reason {
                requested: requested.map(str::to_string),
                required_by: vec![],
            },
            source: Source::Server {
                server: "file:///srv".into(),
                rockspec_sha256: format!("r-{version}"),
                url: String::new(),
                sha256: None,
                commit: None,
            },
            dependencies: deps.iter().map(|s| s.to_string()).collect(),
            store_key: format!("k-{version}"),
            files_sha256: format!("f-{version}"),
        }
    }

    fn state(packages: &[(&str, Package)]) -> Manifest {
        let mut m = Manifest::empty("5.4");
        for (name, p) in packages {
            m.packages.insert(name.to_string(), p.clone());
        }
        m.recompute_reasons();
        m
    }

    fn asked(version: &str) -> Package {
        package(version, Some(""), &[])
    }

    fn merged(base: &Manifest, ours: &Manifest, theirs: &Manifest) -> Manifest {
        merge_states(base, ours, theirs, &Choices::default())
            .unwrap()
            .state
    }

    fn conflicts(base: &Manifest, ours: &Manifest, theirs: &Manifest) -> Vec<Conflict> {
        match merge_states(base, ours, theirs, &Choices::default()) {
            Err(MergeError::Conflicts(c)) => c,
            other => panic!("expected conflicts, got {other:?}"),
        }
    }

    /// From a and b at 1.0-1: ours upgrades a to 1.5-1 and removes b; theirs upgrades a to
    /// 2.0-1 and b to 1.1-1.
    fn two_conflicts() -> (Manifest, Manifest, Manifest) {
        (
            state(&[("a", asked("1.0-1")), ("b", asked("1.0-1"))]),
            state(&[("a", asked("1.5-1"))]),
            state(&[("a", asked("2.0-1")), ("b", asked("1.1-1"))]),
        )
    }

    #[test]
    fn a_change_on_one_side_takes_that_side() {
        let base = state(&[("a", asked("1.0-1")), ("b", asked("1.0-1"))]);
        // Ours removes a; theirs removes b and installs c: both removals stay.
        let ours = state(&[("b", asked("1.0-1"))]);
        let theirs = state(&[("a", asked("1.0-1")), ("c", asked("2.0-1"))]);
        let m = merged(&base, &ours, &theirs);
        assert_eq!(m.packages.keys().collect::<Vec<_>>(), ["c"]);
        // Nothing changed on one side: the result is the other side.
        assert_eq!(merged(&base, &base, &theirs), theirs);
        assert_eq!(merged(&base, &ours, &base), ours);
    }

    #[test]
    fn the_same_change_on_both_sides_is_no_conflict() {
        let base = state(&[("a", asked("1.0-1"))]);
        let both = state(&[("a", asked("1.1-1")), ("n", asked("1.0-1"))]);
        assert_eq!(merged(&base, &both, &both), both);
        // Removed on both sides.
        let empty = state(&[]);
        assert_eq!(merged(&base, &empty, &empty), empty);
    }

    #[test]
    fn different_changes_are_conflicts_that_say_what_each_side_did() {
        let (base, ours, theirs) = two_conflicts();
        let c = conflicts(&base, &ours, &theirs);
        assert_eq!(
            c,
            [
                Conflict {
                    name: "a".into(),
                    ours: "upgraded 1.0-1 → 1.5-1".into(),
                    theirs: "upgraded 1.0-1 → 2.0-1".into(),
                },
                Conflict {
                    name: "b".into(),
                    ours: "removed 1.0-1".into(),
                    theirs: "upgraded 1.0-1 → 1.1-1".into(),
                },
            ]
        );
        // Installed on both sides with different constraints.
        let ours = state(&[("n", package("1.0-1", Some(">= 1"), &[]))]);
        let theirs = state(&[("n", package("1.0-1", Some("< 2"), &[]))]);
        let c = conflicts(&state(&[]), &ours, &theirs);
        assert_eq!(c[0].ours, "installed 1.0-1 (requested '>= 1')");
        assert_eq!(c[0].theirs, "installed 1.0-1 (requested '< 2')");
    }

    #[test]
    fn choices_settle_conflicts_globally_and_per_package() {
        let (base, ours, theirs) = two_conflicts();
        let all_ours = Choices {
            all: Some(Side::Ours),
            packages: BTreeMap::new(),
        };
        let m = merge_states(&base, &ours, &theirs, &all_ours).unwrap();
        assert_eq!(m.state, ours);
        assert_eq!(m.chosen.len(), 2);
        let mixed = Choices {
            all: Some(Side::Ours),
            packages: [("b".to_string(), Side::Theirs)].into(),
        };
        let m = merge_states(&base, &ours, &theirs, &mixed).unwrap();
        assert_eq!(
            m.state,
            state(&[("a", asked("1.5-1")), ("b", asked("1.1-1"))])
        );
        // A choice for one package leaves the other conflict standing.
        let one = Choices {
            all: None,
            packages: [("a".to_string(), Side::Theirs)].into(),
        };
        match merge_states(&base, &ours, &theirs, &one) {
            Err(MergeError::Conflicts(c)) => assert_eq!(c.len(), 1, "{c:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn constraint_and_build_merge_apart() {
        // Ours asks for the dependency d itself; theirs upgrades it: both kept.
        let base = state(&[("d", package("1.0-1", None, &[]))]);
        let ours = state(&[("d", package("1.0-1", Some(""), &[]))]);
        let theirs = state(&[("d", package("1.1-1", None, &[]))]);
        let m = merged(&base, &ours, &theirs);
        assert_eq!(m.packages["d"], package("1.1-1", Some(""), &[]));
    }

    #[test]
    fn dependencies_nobody_asked_for_follow_what_is_asked_for() {
        let base = state(&[
            ("app", package("1.0-1", Some(""), &["d >= 1.0"])),
            ("d", package("1.0-1", None, &[])),
        ]);
        // Both sides moved d differently as a dependency: the newer, no conflict.
        let ours = state(&[
            ("app", package("1.0-1", Some(""), &["d >= 1.0"])),
            ("d", package("1.5-1", None, &[])),
        ]);
        let theirs = state(&[
            ("app", package("1.0-1", Some(""), &["d >= 1.0"])),
            ("d", package("2.0-1", None, &[])),
        ]);
        assert_eq!(
            merged(&base, &ours, &theirs).packages["d"]
                .version
                .to_string(),
            "2.0-1"
        );
        // Ours removed app (and d with it); theirs upgraded d: d stays a candidate only.
        let ours = state(&[]);
        let m = merged(&base, &ours, &theirs);
        assert!(m.packages.contains_key("d"));
        let settled = settle(&m, &[&ours, &theirs]).unwrap();
        assert!(settled.packages.is_empty(), "{settled:?}");
    }

    #[test]
    fn settle_brings_back_a_dependency_still_needed_and_recomputes_reasons() {
        let base = state(&[
            ("x", package("1.0-1", Some(""), &["d >= 1.0"])),
            ("d", package("1.0-1", None, &[])),
        ]);
        // Ours removed x, and d with it; theirs installed y, which needs d too.
        let ours = state(&[]);
        let theirs = state(&[
            ("x", package("1.0-1", Some(""), &["d >= 1.0"])),
            ("y", package("1.0-1", Some(""), &["d"])),
            ("d", package("1.0-1", None, &[])),
        ]);
        let m = merged(&base, &ours, &theirs);
        assert_eq!(m.packages.keys().collect::<Vec<_>>(), ["y"]);
        let settled = settle(&m, &[&ours, &theirs]).unwrap();
        assert_eq!(settled.packages.keys().collect::<Vec<_>>(), ["d", "y"]);
        assert_eq!(settled.packages["d"].reason.required_by, ["y"]);
        assert_eq!(settled.packages["d"].reason.requested, None);
        Manifest::from_bytes(&settled.to_bytes(), "settled").unwrap();
        // A dependency no recorded build satisfies does not settle.
        let m = state(&[("z", package("1.0-1", Some(""), &["d >= 3"]))]);
        assert!(matches!(
            settle(&m, &[&theirs]),
            Err(SettleError::Resolve(_))
        ));
    }

    #[test]
    fn states_of_different_lua_versions_do_not_merge() {
        let base = state(&[]);
        let mut theirs = state(&[]);
        theirs.lua = "5.1".into();
        assert!(matches!(
            merge_states(&base, &base, &theirs, &Choices::default()),
            Err(MergeError::DifferentLua { .. })
        ));
    }

    #[test]
    fn conflict_text_marks_each_conflicting_block() {
        let base = state(&[
            ("a", asked("1.0-1")),
            ("b", asked("1.0-1")),
            ("c", asked("1.0-1")),
        ]);
        let ours = state(&[("a", asked("1.5-1")), ("c", asked("1.0-1"))]);
        let theirs = state(&[
            ("a", asked("2.0-1")),
            ("b", asked("1.1-1")),
            ("c", asked("1.0-1")),
        ]);
        let c = conflicts(&base, &ours, &theirs);
        let all_ours = Choices {
            all: Some(Side::Ours),
            packages: BTreeMap::new(),
        };
        let partial = merge_states(&base, &ours, &theirs, &all_ours)
            .unwrap()
            .state;
        let text = conflict_text(&partial, &ours, &theirs, &c);
        assert!(
            text.contains("<<<<<<< ours: upgraded 1.0-1 → 1.5-1\n    \"a\": {"),
            "{text}"
        );
        assert!(
            text.contains("<<<<<<< ours: removed 1.0-1\n=======\n    \"b\": {"),
            "{text}"
        );
        assert!(
            text.contains(">>>>>>> theirs: upgraded 1.0-1 → 1.1-1\n    \"c\": {"),
            "{text}"
        );
        assert_eq!(text.matches("<<<<<<<").count(), 2);
        // Taking every block of one side gives that side's manifest back.
        let ours_only = keep_side(&text, true);
        assert_eq!(
            Manifest::from_bytes(ours_only.as_bytes(), "ours").unwrap(),
            ours
        );
        let theirs_only = keep_side(&text, false);
        assert_eq!(
            Manifest::from_bytes(theirs_only.as_bytes(), "theirs").unwrap(),
            theirs
        );
    }

    /// The text with every conflict settled for one side, as a person would edit it.
    fn keep_side(text: &str, ours: bool) -> String {
        let mut out = String::new();
        let mut section = None;
        for line in text.lines() {
            if line.starts_with("<<<<<<<") {
                section = Some(true);
            } else if line == "=======" {
                section = Some(false);
            } else if line.starts_with(">>>>>>>") {
                section = None;
            } else if section.is_none_or(|s| s == ours) {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}
