//! Resolution against in-memory package tables.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use lvm::resolve::{PackageSource, Request, Resolution, ResolveError, SourceError, resolve};
use lvm::version::{Dependency, Version};
use proptest::prelude::*;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn dep(s: &str) -> Dependency {
    Dependency::parse(s).unwrap()
}

/// Packages as `(name, version, dependencies)` rows.
#[derive(Default)]
struct Table {
    packages: BTreeMap<String, BTreeMap<Version, Vec<Dependency>>>,
    failing_versions: Option<String>,
    failing_dependencies: Option<String>,
    dependency_reads: AtomicUsize,
}

impl Table {
    fn new(rows: &[(&str, &str, &[&str])]) -> Table {
        let mut table = Table::default();
        for (name, version, deps) in rows {
            table
                .packages
                .entry(name.to_string())
                .or_default()
                .insert(v(version), deps.iter().map(|d| dep(d)).collect());
        }
        table
    }
}

#[derive(Debug)]
struct Unreachable(String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server unreachable while reading {}", self.0)
    }
}

impl std::error::Error for Unreachable {}

impl PackageSource for Table {
    fn versions(&self, name: &str) -> Result<Vec<Version>, SourceError> {
        if self.failing_versions.as_deref() == Some(name) {
            return Err(Box::new(Unreachable(format!("the manifest for {name}"))));
        }
        // Reverse order: the resolver must not rely on the source sorting.
        Ok(self
            .packages
            .get(name)
            .map(|versions| versions.keys().rev().cloned().collect())
            .unwrap_or_default())
    }

    fn dependencies(&self, name: &str, version: &Version) -> Result<Vec<Dependency>, SourceError> {
        self.dependency_reads.fetch_add(1, Ordering::Relaxed);
        if self.failing_dependencies.as_deref() == Some(name) {
            return Err(Box::new(Unreachable(format!("{name}-{version}.rockspec"))));
        }
        self.packages
            .get(name)
            .and_then(|versions| versions.get(version))
            .cloned()
            .ok_or_else(|| format!("{name} {version} is not in the table").into())
    }
}

fn request(requirements: &[&str]) -> Request {
    Request {
        requirements: requirements.iter().map(|d| dep(d)).collect(),
        lua_version: v("5.4"),
        provided: BTreeMap::new(),
        preferred: BTreeMap::new(),
        allow_development: false,
    }
}

fn picked(resolution: &Resolution) -> Vec<(String, String)> {
    resolution
        .packages
        .iter()
        .map(|(name, version)| (name.clone(), version.to_string()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn no_solution(result: Result<Resolution, ResolveError>) -> String {
    match result {
        Err(ResolveError::NoSolution { report }) => {
            assert!(
                !report.contains("candidates {"),
                "internal sets leaked: {report}"
            );
            report
        }
        other => panic!("expected NoSolution, got {other:?}"),
    }
}

#[test]
fn chain_pulls_in_transitive_dependencies() {
    let table = Table::new(&[
        ("a", "1.0-1", &["b >= 1.0", "lua >= 5.1"]),
        ("b", "1.0-1", &["c"]),
        ("b", "0.9-1", &[]),
        ("c", "2.1-1", &[]),
    ]);
    let resolution = resolve(&table, &request(&["a"])).unwrap();
    assert_eq!(
        picked(&resolution),
        pairs(&[("a", "1.0-1"), ("b", "1.0-1"), ("c", "2.1-1")])
    );
    assert_eq!(
        resolution.dependencies["a"],
        vec![dep("b >= 1.0"), dep("lua >= 5.1")]
    );
    assert_eq!(resolution.dependencies["b"], vec![dep("c")]);
    assert!(resolution.dependencies["c"].is_empty());
}

#[test]
fn diamond_picks_the_newest_shared_version() {
    let table = Table::new(&[
        ("a", "1.0-1", &["b", "c"]),
        ("b", "1.0-1", &["d >= 1.0, < 3.0"]),
        ("c", "1.0-1", &["d >= 2.0"]),
        ("d", "1.0-1", &[]),
        ("d", "2.0-1", &[]),
        ("d", "2.5-1", &[]),
        ("d", "3.0-1", &[]),
    ]);
    let resolution = resolve(&table, &request(&["a"])).unwrap();
    assert_eq!(resolution.packages["d"], v("2.5-1"));
    assert_eq!(resolution.packages.len(), 4);
}

#[test]
fn backtracks_to_an_older_version_when_the_newest_conflicts() {
    let table = Table::new(&[
        ("app", "2.0-1", &["lib >= 2.0"]),
        ("app", "1.0-1", &["lib < 2.0"]),
        ("lib", "2.0-1", &["json < 2.0"]),
        ("lib", "1.0-1", &["json"]),
        ("json", "1.0-1", &[]),
        ("json", "2.2-1", &[]),
    ]);
    let resolution = resolve(&table, &request(&["app", "json >= 2.0"])).unwrap();
    assert_eq!(
        picked(&resolution),
        pairs(&[("app", "1.0-1"), ("json", "2.2-1"), ("lib", "1.0-1")])
    );
}

#[test]
fn conflict_is_explained_with_both_packages_and_constraints() {
    let table = Table::new(&[
        ("app", "1.0-1", &["json >= 2.0"]),
        ("lib", "1.0-1", &["json < 2.0"]),
        ("json", "1.0-1", &[]),
        ("json", "2.0-1", &[]),
    ]);
    let report = no_solution(resolve(&table, &request(&["app", "lib"])));
    for needle in [
        "app 1.0-1 depends on json >= 2.0",
        "lib 1.0-1 depends on json < 2.0",
        "app 1.0-1 and lib 1.0-1 cannot both be installed",
    ] {
        assert!(report.contains(needle), "missing '{needle}' in:\n{report}");
    }
    let message = ResolveError::NoSolution { report }.to_string();
    assert!(message.starts_with("no set of package versions satisfies the request:\n  "));
}

#[test]
fn pessimistic_and_equality_follow_luarocks_quirks() {
    let table = Table::new(&[
        ("lfs", "1.8.0-1", &[]),
        ("lfs", "1.9.0-1", &[]),
        ("bar", "1.0.0-1", &[]),
        ("bar", "0.9-1", &[]),
        ("baz", "1.0.0-1", &[]),
        ("baz", "1.0-2", &[]),
    ]);
    let resolution = resolve(&table, &request(&["lfs ~> 1.8"])).unwrap();
    assert_eq!(resolution.packages["lfs"], v("1.8.0-1"));

    // `==` compares the number of components: 1.0 is not 1.0.0.
    let report = no_solution(resolve(&table, &request(&["bar == 1.0"])));
    assert!(report.contains("bar == 1.0"), "{report}");
    assert!(
        report.contains("1.0.0-1"),
        "available versions listed: {report}"
    );
    let resolution = resolve(&table, &request(&["baz == 1.0"])).unwrap();
    assert_eq!(resolution.packages["baz"], v("1.0-2"));
}

#[test]
fn lua_is_a_virtual_package_with_the_environment_version() {
    let table = Table::new(&[
        ("app", "2.0-1", &["lua >= 5.5"]),
        ("app", "1.0-1", &["lua >= 5.1, < 5.5"]),
    ]);
    let resolution = resolve(&table, &request(&["app"])).unwrap();
    assert_eq!(picked(&resolution), pairs(&[("app", "1.0-1")]));
    assert!(!resolution.dependencies.contains_key("lua"));

    let newer_only = Table::new(&[("app", "2.0-1", &["lua >= 5.5"])]);
    let report = no_solution(resolve(&newer_only, &request(&["app"])));
    assert!(
        report.contains("app 2.0-1 depends on lua >= 5.5"),
        "{report}"
    );
    assert!(report.contains("Lua is 5.4"), "{report}");

    // The request itself may constrain lua.
    let mut on_53 = request(&["lua ~> 5.3"]);
    let report = no_solution(resolve(&table, &on_53));
    assert!(
        report.contains("the request asks for lua ~> 5.3 (the environment's Lua is 5.4)"),
        "{report}"
    );
    on_53.lua_version = v("5.3");
    assert!(resolve(&table, &on_53).unwrap().packages.is_empty());
    on_53.requirements.push(dep("app"));
    assert_eq!(resolve(&table, &on_53).unwrap().packages["app"], v("1.0-1"));
}

#[test]
fn installed_version_is_kept_when_it_satisfies_everything() {
    let table = Table::new(&[
        ("app", "1.0-1", &["json >= 1.0"]),
        ("json", "1.0-1", &[]),
        ("json", "1.5-1", &[]),
        ("json", "2.0-1", &[]),
    ]);
    let mut req = request(&["app"]);
    req.preferred.insert("json".into(), v("1.5-1"));
    assert_eq!(resolve(&table, &req).unwrap().packages["json"], v("1.5-1"));
}

#[test]
fn installed_version_is_dropped_when_a_constraint_excludes_it() {
    let table = Table::new(&[
        ("app", "1.0-1", &["json >= 2.0"]),
        ("json", "1.0-1", &[]),
        ("json", "2.0-1", &[]),
        ("json", "2.1-1", &[]),
    ]);
    let mut req = request(&["app"]);
    req.preferred.insert("json".into(), v("1.0-1"));
    assert_eq!(resolve(&table, &req).unwrap().packages["json"], v("2.1-1"));

    // A preferred version the servers no longer list is ignored rather than invented.
    req.preferred.insert("json".into(), v("1.7-1"));
    assert_eq!(resolve(&table, &req).unwrap().packages["json"], v("2.1-1"));
}

#[test]
fn development_versions_only_when_asked_for_or_alone() {
    let table = Table::new(&[
        ("foo", "1.0-1", &[]),
        ("foo", "scm-1", &[]),
        ("nightly", "dev-1", &[]),
    ]);
    assert_eq!(
        resolve(&table, &request(&["foo"])).unwrap().packages["foo"],
        v("1.0-1")
    );
    assert_eq!(
        resolve(&table, &request(&["foo scm"])).unwrap().packages["foo"],
        v("scm-1")
    );
    assert_eq!(
        resolve(&table, &request(&["foo == scm-1"]))
            .unwrap()
            .packages["foo"],
        v("scm-1")
    );
    assert_eq!(
        resolve(&table, &request(&["nightly"])).unwrap().packages["nightly"],
        v("dev-1")
    );
    let mut dev = request(&["foo"]);
    dev.allow_development = true;
    assert_eq!(resolve(&table, &dev).unwrap().packages["foo"], v("scm-1"));
}

#[test]
fn unknown_package_names_who_wanted_it() {
    let table = Table::new(&[("app", "1.0-1", &["jsn >= 1.0"]), ("json", "1.0-1", &[])]);
    match resolve(&table, &request(&["jsn"])) {
        Err(err @ ResolveError::UnknownPackage { .. }) => assert!(
            err.to_string().starts_with(
                "no package named 'jsn' on the configured servers (wanted by the request)"
            ),
            "{err}"
        ),
        other => panic!("expected UnknownPackage, got {other:?}"),
    }
    match resolve(&table, &request(&["app"])) {
        Err(ResolveError::UnknownPackage {
            name,
            wanted_by,
            explanation,
        }) => {
            assert_eq!(name, "jsn");
            assert_eq!(wanted_by, "app 1.0-1");
            assert!(
                explanation.contains("app 1.0-1 depends on the unknown package 'jsn'"),
                "{explanation}"
            );
        }
        other => panic!("expected UnknownPackage, got {other:?}"),
    }
}

#[test]
fn an_unknown_dependency_of_a_newer_version_falls_back_to_an_older_one() {
    let table = Table::new(&[
        ("app", "2.0-1", &["jsn"]),
        ("app", "1.0-1", &["json"]),
        ("json", "1.0-1", &[]),
    ]);
    let resolution = resolve(&table, &request(&["app"])).unwrap();
    assert_eq!(
        picked(&resolution),
        pairs(&[("app", "1.0-1"), ("json", "1.0-1")])
    );
}

#[test]
fn many_versions_choose_the_newest_allowed() {
    let mut rows: Vec<(String, String)> = Vec::new();
    for major in 0..20 {
        for minor in 0..15 {
            rows.push(("big".into(), format!("{major}.{minor}-1")));
        }
    }
    let table_rows: Vec<(&str, &str, &[&str])> = rows
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str(), &[][..]))
        .collect();
    let table = Table::new(&table_rows);
    assert_eq!(
        resolve(&table, &request(&["big"])).unwrap().packages["big"],
        v("19.14-1")
    );
    assert_eq!(
        resolve(&table, &request(&["big < 7.3"])).unwrap().packages["big"],
        v("7.2-1")
    );
    assert_eq!(
        resolve(&table, &request(&["big ~> 3", "big ~= 3.14"]))
            .unwrap()
            .packages["big"],
        v("3.13-1")
    );
}

#[test]
fn repeated_and_self_dependencies() {
    let table = Table::new(&[
        ("app", "1.0-1", &["json >= 1.0", "json < 2.0", "app >= 1.0"]),
        ("json", "1.0-1", &[]),
        ("json", "1.9-1", &[]),
        ("json", "2.0-1", &[]),
        ("odd", "1.0-1", &["odd >= 2.0"]),
    ]);
    let resolution = resolve(&table, &request(&["app"])).unwrap();
    assert_eq!(resolution.packages["json"], v("1.9-1"));
    let report = no_solution(resolve(&table, &request(&["odd"])));
    assert!(
        report.contains("odd 1.0-1 depends on itself as 'odd >= 2.0'"),
        "{report}"
    );
}

#[test]
fn source_errors_name_the_package() {
    let mut table = Table::new(&[("app", "1.0-1", &["json"]), ("json", "1.0-1", &[])]);
    table.failing_versions = Some("json".into());
    match resolve(&table, &request(&["app"])) {
        Err(err @ ResolveError::Versions { .. }) => {
            let text = err.to_string();
            assert!(text.contains("'json' (wanted by app 1.0-1)"), "{text}");
            assert!(text.contains("server unreachable"), "{text}");
        }
        other => panic!("expected a versions error, got {other:?}"),
    }
    table.failing_versions = None;
    table.failing_dependencies = Some("json".into());
    match resolve(&table, &request(&["app"])) {
        Err(err @ ResolveError::Dependencies { .. }) => {
            assert!(
                err.to_string().contains("dependencies of json 1.0-1"),
                "{err}"
            )
        }
        other => panic!("expected a dependencies error, got {other:?}"),
    }
}

#[test]
fn dependencies_are_read_lazily() {
    let table = Table::new(&[
        ("app", "3.0-1", &["json"]),
        ("app", "2.0-1", &["json"]),
        ("app", "1.0-1", &["json"]),
        ("json", "1.0-1", &[]),
        ("unrelated", "1.0-1", &[]),
    ]);
    resolve(&table, &request(&["app"])).unwrap();
    assert_eq!(table.dependency_reads.load(Ordering::Relaxed), 2);
}

// ---------------------------------------------------------------------------------------------
// Property: any resolution satisfies every constraint, and "no solution" means none exists.

const VERSIONS: &[&str] = &[
    "0.9-1", "1.0-1", "1.0.0-1", "1.5-1", "2.0-1", "2.0.1-1", "scm-1",
];
const CONSTRAINTS: &[&str] = &[
    "",
    ">= 1.0",
    "< 2.0",
    "~> 1.0",
    "~> 2",
    "== 1.0",
    "~= 1.5",
    "> 1.0, <= 2.0",
    "scm",
];
const LUA_CONSTRAINTS: &[&str] = &[">= 5.1", ">= 5.1, < 5.5", ">= 5.5", "~> 5.3"];
const NAMES: &[&str] = &["p0", "p1", "p2", "p3", "p4"];

/// A dependency row: (target index into NAMES or NAMES.len() for lua, constraint index).
type DepSpec = (usize, usize);

fn universe() -> impl Strategy<Value = Vec<Vec<(usize, Vec<DepSpec>)>>> {
    let dep = (0..=NAMES.len(), 0..CONSTRAINTS.len());
    let version = (0..VERSIONS.len(), prop::collection::vec(dep, 0..3));
    prop::collection::vec(prop::collection::vec(version, 1..4), NAMES.len())
}

fn dependency(target: usize, constraint: usize) -> Dependency {
    if target == NAMES.len() {
        dep(&format!(
            "lua {}",
            LUA_CONSTRAINTS[constraint % LUA_CONSTRAINTS.len()]
        ))
    } else {
        dep(&format!("{} {}", NAMES[target], CONSTRAINTS[constraint]))
    }
}

fn build_table(spec: &[Vec<(usize, Vec<DepSpec>)>]) -> Table {
    let mut table = Table::default();
    for (name, versions) in NAMES.iter().zip(spec) {
        for (version, deps) in versions {
            table.packages.entry(name.to_string()).or_default().insert(
                v(VERSIONS[*version]),
                deps.iter().map(|(t, c)| dependency(*t, *c)).collect(),
            );
        }
    }
    table
}

fn satisfied(deps: &[Dependency], picked: &BTreeMap<String, Version>, lua: &Version) -> bool {
    deps.iter().all(|d| {
        if d.name == "lua" {
            d.matches(lua)
        } else {
            picked
                .get(&d.name)
                .is_some_and(|version| d.matches(version))
        }
    })
}

/// Whether some choice of at most one version per package satisfies the request and every
/// picked package's dependencies.
fn solution_exists(table: &Table, req: &Request) -> bool {
    let options: Vec<(String, Vec<Option<Version>>)> = table
        .packages
        .iter()
        .map(|(name, versions)| {
            let mut choices = vec![None];
            choices.extend(versions.keys().cloned().map(Some));
            (name.clone(), choices)
        })
        .collect();
    let mut counters = vec![0usize; options.len()];
    loop {
        let picked: BTreeMap<String, Version> = options
            .iter()
            .zip(&counters)
            .filter_map(|((name, choices), i)| choices[*i].clone().map(|v| (name.clone(), v)))
            .collect();
        if satisfied(&req.requirements, &picked, &req.lua_version)
            && picked
                .iter()
                .all(|(n, v)| satisfied(&table.packages[n][v], &picked, &req.lua_version))
        {
            return true;
        }
        let mut slot = 0;
        loop {
            if slot == counters.len() {
                return false;
            }
            counters[slot] += 1;
            if counters[slot] < options[slot].1.len() {
                break;
            }
            counters[slot] = 0;
            slot += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn resolutions_satisfy_every_constraint(
        spec in universe(),
        wanted in prop::collection::vec((0..=NAMES.len(), 0..CONSTRAINTS.len()), 1..4),
        preferred in prop::collection::vec((0..NAMES.len(), 0..VERSIONS.len()), 0..3),
        allow_development in any::<bool>(),
    ) {
        let table = build_table(&spec);
        let req = Request {
            requirements: wanted.iter().map(|(t, c)| dependency(*t, *c)).collect(),
            lua_version: v("5.4"),
            provided: BTreeMap::new(),
            preferred: preferred
                .iter()
                .map(|(n, ver)| (NAMES[*n].to_string(), v(VERSIONS[*ver])))
                .collect(),
            allow_development,
        };
        match resolve(&table, &req) {
            Ok(resolution) => {
                prop_assert!(satisfied(&req.requirements, &resolution.packages, &req.lua_version));
                for (name, version) in &resolution.packages {
                    let deps = table.packages.get(name).and_then(|vs| vs.get(version));
                    prop_assert!(deps.is_some(), "{} {} is not a candidate", name, version);
                    let deps = deps.unwrap();
                    prop_assert_eq!(&resolution.dependencies[name], deps);
                    prop_assert!(
                        satisfied(deps, &resolution.packages, &req.lua_version),
                        "{} {} has unmet dependencies in {:?}", name, version, resolution.packages
                    );
                }
                prop_assert!(!resolution.packages.contains_key("lua"));
            }
            Err(ResolveError::NoSolution { report }) => {
                prop_assert!(!report.is_empty());
                prop_assert!(
                    !solution_exists(&table, &req),
                    "a solution exists but the resolver reported:\n{}", report
                );
            }
            Err(other) => prop_assert!(false, "unexpected error: {}", other),
        }
    }
}
