//! History analysis the history tools share: which event brought each package's version and
//! which event last changed it (`lvm blame`, the refusals of `lvm revert`), who depends on a
//! package through what constraint (`lvm blame`, `lvm why`), and one event's package changes
//! as a delta another state can take or give back (`lvm cherry-pick`, `lvm revert`), and the
//! commits made by hand at the top of a profile (`lvm sync` closes them, `lvm verify --repair`
//! and `lvm sync` name them when a build is missing).
//!
//! Everything here is pure over states and events except [`newest_events`], which walks the
//! log from a commit back, newest first, and stops as soon as it has found what it looks for,
//! and [`hand_commits`] / [`head_state`], which walk the first-parent chain from the head.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use git2::Oid;

use crate::env::Environment;
use crate::envrepo::remotes::SharingError;
use crate::envrepo::{EnvRepo, LoggedEvent, short};
use crate::events::{Event, EventChange, EventError, EventKind};
use crate::manifest::{Change, Manifest, Package};
use crate::ops::{MissingIn, Result};
use crate::version::{Dependency, Version};

/// One event as the history tools name it: its commit, kind, summary and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub commit: Oid,
    pub kind: EventKind,
    pub summary: String,
    pub timestamp: DateTime<Utc>,
    /// The packages a build cache supplied in that event, by name (none in older events).
    pub from_cache: std::collections::BTreeMap<String, crate::ops::cache::CacheHit>,
}

impl EventRef {
    pub fn of(logged: &LoggedEvent) -> EventRef {
        EventRef {
            commit: logged.commit,
            kind: logged.event.kind,
            summary: logged.event.summary(),
            timestamp: logged.event.timestamp,
            from_cache: crate::ops::cache::all_supplied(&logged.event.details),
        }
    }

    /// `3f2a9c01d4 (install chain-a 1.0-1 (+chain-b 1.0-1))`, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", crate::envrepo::short(self.commit), self.summary)
    }
}

/// What a change does to package `name`: the version it leaves installed (`None`: removed),
/// or `None` when the change is about another package.
fn change_result<'c>(change: &'c EventChange, name: &str) -> Option<Option<&'c Version>> {
    if change.name() != name {
        return None;
    }
    Some(match change {
        EventChange::Full(Change::Added { package, .. }) => Some(&package.version),
        EventChange::Full(Change::Changed { to, .. }) => Some(&to.version),
        EventChange::Full(Change::Removed { .. }) | EventChange::Removed { .. } => None,
    })
}

/// Whether `change` gives package `name` version `version`: installs it, or moves it there from
/// another version. A change that keeps the version (a rebuild, a new reason) brings nothing.
fn brings(change: &EventChange, name: &str, version: &Version) -> bool {
    match change {
        EventChange::Full(Change::Changed { from, to, .. }) if change.name() == name => {
            from.version != to.version && to.version == *version
        }
        _ => change_result(change, name) == Some(Some(version)),
    }
}

/// What to look for in the log, per package.
#[derive(Debug, Clone, Copy)]
pub enum Looking<'v> {
    /// The event that brought this version (the newest that installed it or moved it there).
    Brought(&'v Version),
    /// The newest event that changed the package's version or removed it.
    LastChange,
}

impl Looking<'_> {
    fn matches(&self, change: &EventChange, name: &str) -> bool {
        match self {
            Looking::Brought(version) => brings(change, name, version),
            Looking::LastChange => match change {
                EventChange::Full(Change::Changed { from, to, .. }) => {
                    change.name() == name && from.version != to.version
                }
                _ => change.name() == name,
            },
        }
    }
}

/// Walks `events` (newest first) until each package of `wanted` has its event; returns what
/// was found (a package whose event is not in the walk is absent: a state made by hand, or
/// history before the walk's end). Stops reading as soon as everything is found. Pure over the
/// iterator.
pub fn find_events<E>(
    events: impl IntoIterator<Item = std::result::Result<LoggedEvent, E>>,
    wanted: &BTreeMap<String, Looking<'_>>,
) -> std::result::Result<BTreeMap<String, EventRef>, E> {
    let mut found = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    for logged in events {
        let logged = logged?;
        let mut this = None;
        for change in &logged.event.changes {
            let name = change.name();
            if found.contains_key(name) {
                continue;
            }
            if let Some(looking) = wanted.get(name) {
                if looking.matches(change, name) {
                    let event = this.get_or_insert_with(|| EventRef::of(&logged)).clone();
                    found.insert(name.to_string(), event);
                }
            }
        }
        if found.len() == wanted.len() {
            break;
        }
    }
    Ok(found)
}

/// [`find_events`] over the log of `repo` from `head` back along first parents.
pub fn newest_events(
    repo: &EnvRepo,
    head: Oid,
    wanted: &BTreeMap<String, Looking<'_>>,
) -> Result<BTreeMap<String, EventRef>> {
    Ok(find_events(repo.events_from(head), wanted)?)
}

/// One dependency edge of a state: `dependent` requires the package with `dependency`, as its
/// rockspec writes it (`chain-c ~> 1.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    pub dependent: String,
    pub dependency: String,
}

/// For each installed package, the installed packages that depend on it with the dependency
/// as written, sorted by dependent. Pure.
pub fn dependents(state: &Manifest) -> BTreeMap<String, Vec<Dependent>> {
    let mut out: BTreeMap<String, Vec<Dependent>> = BTreeMap::new();
    for (name, package) in &state.packages {
        for text in &package.dependencies {
            let Ok(dep) = Dependency::parse(text) else {
                continue;
            };
            if state.packages.contains_key(&dep.name) {
                out.entry(dep.name).or_default().push(Dependent {
                    dependent: name.clone(),
                    dependency: text.clone(),
                });
            }
        }
    }
    out
}

/// One package on a dependency path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub version: Version,
    /// How the package before it on the path requires it (its dependency as written); `None`
    /// for the first, which the user asked for.
    pub via: Option<String>,
    /// The constraint the user asked for, for a requested package (`""`: any version).
    pub requested: Option<String>,
}

/// The dependency paths from what the user asked for down to `name`, each from a requested
/// package to `name` (a requested `name` is a path by itself). Paths never repeat a package;
/// at most `limit` are returned, and the flag says whether there were more. Pure.
pub fn paths_to(state: &Manifest, name: &str, limit: usize) -> (Vec<Vec<Step>>, bool) {
    let graph = dependents(state);
    let mut walk = PathWalk {
        state,
        graph: &graph,
        limit,
        out: Vec::new(),
        truncated: false,
    };
    let mut upward = vec![(name.to_string(), None)];
    walk.up(&mut upward);
    let mut paths = walk.out;
    paths.sort_by(|a, b| {
        let key = |p: &Vec<Step>| p.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        (a.len(), key(a)).cmp(&(b.len(), key(b)))
    });
    (paths, walk.truncated)
}

/// The depth-first walk of [`paths_to`], from the package up through its dependents.
struct PathWalk<'a> {
    state: &'a Manifest,
    graph: &'a BTreeMap<String, Vec<Dependent>>,
    limit: usize,
    out: Vec<Vec<Step>>,
    truncated: bool,
}

impl PathWalk<'_> {
    /// `upward` holds the path so far from the target up, each package with the dependency
    /// text by which the one above it requires it (filled in as the walk climbs).
    fn up(&mut self, upward: &mut Vec<(String, Option<String>)>) {
        if self.truncated {
            return;
        }
        let top = upward.last().expect("never empty").0.clone();
        let Some(package) = self.state.packages.get(&top) else {
            return;
        };
        if package.is_requested() {
            if self.out.len() == self.limit {
                self.truncated = true;
                return;
            }
            self.out.push(self.path_down(upward));
        }
        for edge in self.graph.get(&top).into_iter().flatten() {
            if upward.iter().any(|(n, _)| *n == edge.dependent) {
                continue;
            }
            upward.last_mut().expect("never empty").1 = Some(edge.dependency.clone());
            upward.push((edge.dependent.clone(), None));
            self.up(upward);
            upward.pop();
        }
        upward.last_mut().expect("never empty").1 = None;
    }

    /// The path from the top of `upward` down to the target.
    fn path_down(&self, upward: &[(String, Option<String>)]) -> Vec<Step> {
        upward
            .iter()
            .rev()
            .map(|(name, requires_me)| {
                let package = &self.state.packages[name];
                Step {
                    name: name.clone(),
                    version: package.version.clone(),
                    via: requires_me.clone(),
                    requested: package.reason.requested.clone(),
                }
            })
            .collect()
    }
}

/// What taking one event's package changes asks of the resolver: the requested packages
/// afterwards, the exact packages the delta brings (offered as candidates and preferred), and
/// the packages it takes away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPlan {
    pub requested: BTreeMap<String, String>,
    pub brings: BTreeMap<String, Package>,
    pub takes: BTreeSet<String>,
}

impl DeltaPlan {
    pub fn is_empty(&self, current: &Manifest) -> bool {
        self.brings.is_empty() && self.takes.is_empty() && self.requested == current.requested()
    }

    /// The versions the resolver should keep: the current ones of packages the delta leaves
    /// alone, and the ones it brings.
    pub fn preferred(&self, current: &Manifest) -> BTreeMap<String, Version> {
        current
            .packages
            .iter()
            .filter(|(n, _)| !self.takes.contains(*n) && !self.brings.contains_key(*n))
            .map(|(n, p)| (n.clone(), p.version.clone()))
            .chain(
                self.brings
                    .iter()
                    .map(|(n, p)| (n.clone(), p.version.clone())),
            )
            .collect()
    }
}

/// Why a delta cannot be taken as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaConflict {
    /// (Reverting) a later event changed the package again: it is at `found`, where the event
    /// left it at `expected`.
    ChangedSince {
        name: String,
        expected: Option<Version>,
        found: Option<Version>,
    },
    /// An installed package the delta leaves alone needs a package the delta takes away, or a
    /// version of it other than the one the delta brings.
    Needed {
        name: String,
        dependent: String,
        dependency: String,
    },
}

/// Plans taking the package changes that lead from `before` to `after` into `current`. With
/// `strict` (a revert, whose `before` is the event's own state), a package a later event changed
/// again is a conflict; otherwise (a cherry-pick) the delta's version simply wins. A package
/// already as the delta leaves it is left alone. Pure.
pub fn plan_delta(
    current: &Manifest,
    before: &Manifest,
    after: &Manifest,
    strict: bool,
) -> std::result::Result<DeltaPlan, DeltaConflict> {
    let mut plan = DeltaPlan {
        requested: current.requested(),
        brings: BTreeMap::new(),
        takes: BTreeSet::new(),
    };
    let names: BTreeSet<&String> = before
        .packages
        .keys()
        .chain(after.packages.keys())
        .collect();
    for name in names {
        let (b, a) = (before.packages.get(name), after.packages.get(name));
        let c = current.packages.get(name);
        let version = |p: Option<&Package>| p.map(|p| p.version.clone());
        let requested = |p: Option<&Package>| p.and_then(|p| p.reason.requested.clone());
        if version(b) == version(a) && requested(b) == requested(a) {
            continue;
        }
        if version(c) == version(a) && requested(c) == requested(a) {
            continue;
        }
        if strict && version(c) != version(b) && version(c) != version(a) {
            return Err(DeltaConflict::ChangedSince {
                name: name.clone(),
                expected: version(b),
                found: version(c),
            });
        }
        match a {
            Some(a) => {
                if version(c).as_ref() != Some(&a.version) {
                    plan.brings.insert(name.clone(), a.clone());
                }
                match &a.reason.requested {
                    Some(constraint) => {
                        plan.requested.insert(name.clone(), constraint.clone());
                    }
                    None if requested(b).is_some() => {
                        plan.requested.remove(name);
                    }
                    None => {}
                }
            }
            None => {
                if c.is_some() {
                    plan.takes.insert(name.clone());
                }
                plan.requested.remove(name);
            }
        }
    }
    check_dependents(current, &plan)?;
    Ok(plan)
}

/// Refuses a plan that takes away (or moves out of range) what a package it leaves alone
/// needs.
fn check_dependents(
    current: &Manifest,
    plan: &DeltaPlan,
) -> std::result::Result<(), DeltaConflict> {
    for (dependent, package) in &current.packages {
        if plan.takes.contains(dependent) || plan.brings.contains_key(dependent) {
            continue;
        }
        for text in &package.dependencies {
            let Ok(dep) = Dependency::parse(text) else {
                continue;
            };
            let broken = if plan.takes.contains(&dep.name) {
                true
            } else if let Some(brought) = plan.brings.get(&dep.name) {
                !dep.constraints.matches(&brought.version)
            } else {
                false
            };
            if broken {
                return Err(DeltaConflict::Needed {
                    name: dep.name,
                    dependent: dependent.clone(),
                    dependency: text.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The head of the current profile, as the state whose missing builds `lvm sync` (or
/// `lvm verify --repair`) rebuilds: made by hand or recorded by lvm, which decides the way out.
pub(in crate::ops) fn head_state(env: &Environment) -> Result<MissingIn> {
    let head = env.head()?;
    // A history that does not read is reported by the steps that need it.
    if let Ok((hand, base)) = hand_commits(env.repo(), head)
        && !hand.is_empty()
    {
        return Ok(MissingIn::HandMadeHead {
            commit: short(head),
            base: short(base),
            root: env.root().display().to_string(),
        });
    }
    Ok(MissingIn::Head {
        profile: env.profile()?,
        commit: short(head),
    })
}

/// Whether a commit's message carries an lvm event; a malformed or too new event is an error,
/// not a hand-made commit.
fn has_event(message: &str, commit: Oid) -> Result<bool> {
    match Event::from_commit_message(message, &commit.to_string()) {
        Ok(_) => Ok(true),
        Err(EventError::Missing { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The commits at the top of the first-parent chain that lack an lvm event (newest first) and
/// the newest commit below them that has one. Refuses when an event-less commit is buried
/// under lvm events, which no new commit on top can make replayable.
pub(in crate::ops) fn hand_commits(repo: &EnvRepo, head: Oid) -> Result<(Vec<Oid>, Oid)> {
    let mut hand = Vec::new();
    let mut base = None;
    let mut current = Some(head);
    while let Some(oid) = current {
        let (message, parent) = repo.commit_summary(oid)?;
        let evented = has_event(&message, oid)?;
        match (evented, base) {
            (false, None) => hand.push(oid),
            (true, None) => base = Some(oid),
            (false, Some(_)) => {
                return Err(SharingError::BuriedHandCommit { commit: short(oid) }.into());
            }
            (true, Some(_)) => {}
        }
        current = parent;
    }
    let base = base.ok_or_else(|| SharingError::NotAnEnvironment {
        url: repo.root().display().to_string(),
        reason: "no commit of the current profile carries an lvm event".into(),
    })?;
    Ok((hand, base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::manifest;

    fn package(version: &str, requested: Option<&str>, deps: &[&str]) -> Package {
        let mut deps: Vec<String> = deps.iter().map(|d| d.to_string()).collect();
        deps.insert(0, "lua >= 5.1".into());
        serde_json::from_value(serde_json::json!({
            "version": version,
            "reason": match requested { Some(c) => serde_json::json!({"requested": c}), None => serde_json::json!({}) },
            "source": {"kind": "server", "server": "file:///srv", "rockspec_sha256": "a".repeat(64),
                       "url": "file:///srv/x.tar.gz", "sha256": "b".repeat(64)},
            "dependencies": deps,
            "store_key": format!("{version:0>64}"),
            "files_sha256": "d".repeat(64),
        }))
        .unwrap()
    }

    fn state(packages: &[(&str, Package)]) -> Manifest {
        let mut m = Manifest::empty("5.4");
        for (name, p) in packages {
            m.packages.insert(name.to_string(), p.clone());
        }
        m.recompute_reasons();
        m
    }

    /// The events leading through `states`, newest first, as the log gives them.
    fn log(states: &[Manifest]) -> Vec<std::result::Result<LoggedEvent, ()>> {
        let mut out = Vec::new();
        for (i, pair) in states.windows(2).enumerate() {
            let event = Event::new(
                EventKind::Install,
                vec![format!("e{i}")],
                manifest::diff(&pair[0], &pair[1]),
            );
            out.push(Ok(LoggedEvent {
                commit: Oid::from_bytes(&[i as u8 + 1; 20]).unwrap(),
                event,
            }));
        }
        out.reverse();
        out
    }

    #[test]
    fn the_event_that_brought_a_version_is_the_newest_that_moved_it_there() {
        let s0 = state(&[]);
        let s1 = state(&[("a", package("1.0-1", Some(""), &[]))]);
        let s2 = state(&[("a", package("1.1-1", Some(""), &[]))]);
        // Back to 1.0 (a rollback), then a change of reason only.
        let s3 = s1.clone();
        let mut s4 = s1.clone();
        s4.packages.get_mut("a").unwrap().reason.requested = Some(">= 1.0".into());
        let events = log(&[s0, s1, s2, s3, s4]);
        let v10: Version = "1.0-1".parse().unwrap();
        let wanted = BTreeMap::from([("a".to_string(), Looking::Brought(&v10))]);
        let found = find_events(events.clone(), &wanted).unwrap();
        assert_eq!(found["a"].commit, Oid::from_bytes(&[3; 20]).unwrap());
        let wanted = BTreeMap::from([("a".to_string(), Looking::LastChange)]);
        let found = find_events(events, &wanted).unwrap();
        assert_eq!(found["a"].commit, Oid::from_bytes(&[3; 20]).unwrap());
        // Nothing wanted reads nothing; an unknown package is simply not found.
        let failing = vec![Err::<LoggedEvent, ()>(())];
        assert!(find_events(failing, &BTreeMap::new()).unwrap().is_empty());
        let v9: Version = "9.0-1".parse().unwrap();
        let wanted = BTreeMap::from([("zz".to_string(), Looking::Brought(&v9))]);
        assert!(find_events(log(&[state(&[])]), &wanted).unwrap().is_empty());
    }

    #[test]
    fn paths_lead_from_requested_packages_down() {
        // app -> mid -> leaf, app -> leaf, tool (requested) -> leaf; leaf requested too.
        let s = state(&[
            (
                "app",
                package("1.0-1", Some(">= 1.0"), &["mid >= 1.0", "leaf"]),
            ),
            ("mid", package("1.0-1", None, &["leaf ~> 2.0"])),
            ("leaf", package("2.0-1", Some(""), &[])),
            ("other", package("1.0-1", Some(""), &[])),
        ]);
        let (paths, truncated) = paths_to(&s, "leaf", 10);
        assert!(!truncated);
        let shown: Vec<String> = paths
            .iter()
            .map(|p| {
                p.iter()
                    .map(|s| format!("{}[{}]", s.name, s.via.as_deref().unwrap_or("-")))
                    .collect::<Vec<_>>()
                    .join(" > ")
            })
            .collect();
        assert_eq!(
            shown,
            [
                "leaf[-]",
                "app[-] > leaf[leaf]",
                "app[-] > mid[mid >= 1.0] > leaf[leaf ~> 2.0]"
            ]
        );
        assert_eq!(paths[1][0].requested.as_deref(), Some(">= 1.0"));
        let (paths, truncated) = paths_to(&s, "leaf", 2);
        assert!(truncated);
        assert_eq!(paths.len(), 2);
        assert!(paths_to(&s, "nothing", 10).0.is_empty());
    }

    #[test]
    fn reverting_an_install_takes_it_and_its_dependencies_away() {
        let before = state(&[("b", package("1.0-1", Some(""), &[]))]);
        let after = state(&[
            ("b", package("1.0-1", Some(""), &[])),
            ("x", package("1.0-1", Some(""), &["y"])),
            ("y", package("1.0-1", None, &[])),
        ]);
        let mut current = after.clone();
        current
            .packages
            .insert("z".into(), package("1.0-1", Some(""), &[]));
        let plan = plan_delta(&current, &after, &before, true).unwrap();
        assert_eq!(
            plan.takes,
            BTreeSet::from(["x".to_string(), "y".to_string()])
        );
        assert!(plan.brings.is_empty());
        assert_eq!(
            plan.requested.keys().collect::<Vec<_>>(),
            [&"b".to_string(), &"z".to_string()]
        );
        // A later package that needs what the event brought refuses the revert.
        current
            .packages
            .insert("w".into(), package("1.0-1", Some(""), &["y >= 1.0"]));
        assert_eq!(
            plan_delta(&current, &after, &before, true).unwrap_err(),
            DeltaConflict::Needed {
                name: "y".into(),
                dependent: "w".into(),
                dependency: "y >= 1.0".into()
            }
        );
    }

    #[test]
    fn reverting_an_upgrade_brings_the_old_version_back_unless_changed_since() {
        let before = state(&[("a", package("1.0-1", Some(""), &[]))]);
        let after = state(&[("a", package("1.1-1", Some(""), &[]))]);
        let plan = plan_delta(&after, &after, &before, true).unwrap();
        assert_eq!(plan.brings["a"].version.to_string(), "1.0-1");
        assert_eq!(plan.preferred(&after)["a"].to_string(), "1.0-1");
        let later = state(&[("a", package("1.2-1", Some(""), &[]))]);
        assert_eq!(
            plan_delta(&later, &after, &before, true).unwrap_err(),
            DeltaConflict::ChangedSince {
                name: "a".into(),
                expected: Some("1.1-1".parse().unwrap()),
                found: Some("1.2-1".parse().unwrap()),
            }
        );
        // A cherry-pick of the upgrade onto the later state just takes the event's version.
        let plan = plan_delta(&later, &before, &after, false).unwrap();
        assert_eq!(plan.brings["a"].version.to_string(), "1.1-1");
        // A package that needs the newer version refuses the downgrade.
        let mut current = after.clone();
        current
            .packages
            .insert("d".into(), package("1.0-1", Some(""), &["a >= 1.1"]));
        assert!(matches!(
            plan_delta(&current, &after, &before, true),
            Err(DeltaConflict::Needed { dependent, .. }) if dependent == "d"
        ));
        // Already undone: nothing to do.
        assert!(
            plan_delta(&before, &after, &before, true)
                .unwrap()
                .is_empty(&before)
        );
    }

    #[test]
    fn reverting_a_removal_requests_the_package_again() {
        let before = state(&[("a", package("1.0-1", Some(">= 1.0"), &[]))]);
        let after = state(&[]);
        let plan = plan_delta(&after, &after, &before, true).unwrap();
        assert_eq!(plan.requested["a"], ">= 1.0");
        assert_eq!(plan.brings["a"].version.to_string(), "1.0-1");
    }
}
