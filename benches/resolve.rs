//! Resolution time against a generated 5,000-package source.
//!
//! Run with `cargo bench --bench resolve`. The source is generated deterministically: every
//! package has several versions, each depending on a few packages later in the list with a mix
//! of LuaRocks constraints (`>=`, `<`, `~>`, none) and on `lua`, so requests pull in closures of
//! realistic size and the solver has to skip versions.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::Rng;
use lvm::resolve::{PackageSource, Request, SourceError, resolve};
use lvm::version::{Dependency, Version};

const PACKAGES: usize = 5_000;
const RUNS: usize = 20;

struct Generated {
    packages: HashMap<String, Vec<(Version, Vec<Dependency>)>>,
}

impl PackageSource for Generated {
    fn versions(&self, name: &str) -> Result<Vec<Version>, SourceError> {
        Ok(self
            .packages
            .get(name)
            .map(|vs| vs.iter().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default())
    }

    fn dependencies(&self, name: &str, version: &Version) -> Result<Vec<Dependency>, SourceError> {
        self.packages
            .get(name)
            .and_then(|vs| vs.iter().find(|(v, _)| v == version))
            .map(|(_, deps)| deps.clone())
            .ok_or_else(|| format!("{name} {version} not generated").into())
    }
}

fn name(i: usize) -> String {
    format!("pkg{i:04}")
}

fn parse<T, E: std::fmt::Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("generated {what} does not parse: {err:?}"),
    }
}

/// The first packages are frameworks with many dependencies anywhere in the list; the rest
/// have few (fewer than one on average, as on real servers), mostly on near neighbours.
const FRAMEWORKS: usize = 50;

fn fan_out(rng: &mut Rng, i: usize) -> u64 {
    if i + 1 >= PACKAGES {
        return 0;
    }
    if i < FRAMEWORKS {
        return 4 + rng.below(5);
    }
    match rng.below(20) {
        0..=9 => 0,
        10..=14 => 1,
        15..=17 => 2,
        _ => 3,
    }
}

fn target(rng: &mut Rng, i: usize) -> usize {
    if i < FRAMEWORKS {
        FRAMEWORKS + rng.index(PACKAGES - FRAMEWORKS)
    } else {
        let span = (PACKAGES - i - 1) as u64;
        i + 1 + rng.below(span.min(200)) as usize
    }
}

fn generate(seed: u64) -> Generated {
    let mut rng = Rng(seed);
    let mut packages = HashMap::new();
    for i in 0..PACKAGES {
        let majors = 1 + rng.below(3);
        // Versions of one package share their dependencies; only the constraints vary.
        let targets: Vec<usize> = (0..fan_out(&mut rng, i))
            .map(|_| target(&mut rng, i))
            .collect();
        let mut versions = Vec::new();
        for major in 0..majors {
            for minor in 0..1 + rng.below(5) {
                let text = format!("{major}.{minor}.{}-1", rng.below(3));
                let mut deps = vec![parse(
                    Dependency::parse("lua >= 5.1, < 5.5"),
                    "lua dependency",
                )];
                for target in &targets {
                    let constraint = match rng.below(20) {
                        0..=7 => String::new(),
                        8..=13 => format!(">= 0.{}", rng.below(3)),
                        14..=16 => format!("~> {}", rng.below(2)),
                        _ => format!("< {}", 1 + rng.below(2)),
                    };
                    let text = format!("{} {constraint}", name(*target));
                    deps.push(parse(Dependency::parse(&text), "dependency"));
                }
                versions.push((parse(Version::parse(&text), "version"), deps));
            }
        }
        packages.insert(name(i), versions);
    }
    Generated { packages }
}

fn main() {
    let started = Instant::now();
    let source = generate(0x5eed_1234_abcd_0001);
    let versions: usize = source.packages.values().map(Vec::len).sum();
    println!(
        "generated {PACKAGES} packages, {versions} versions in {:?}",
        started.elapsed()
    );

    // Closures of about 20, 100 and 230 packages, and a request with no solution.
    let requests: [&[&str]; 4] = [
        &["pkg0000"],
        &["pkg0010", "pkg0020", "pkg0030", "pkg0040"],
        &[
            "pkg0031", "pkg0032", "pkg0033", "pkg0034", "pkg0035", "pkg0036", "pkg0037", "pkg0041",
            "pkg0042", "pkg0043", "pkg0044", "pkg0045", "pkg0046",
        ],
        &["pkg0001", "pkg0002", "pkg0003"],
    ];
    for roots in requests {
        let request = Request {
            requirements: roots
                .iter()
                .map(|r| parse(Dependency::parse(r), "request"))
                .collect(),
            lua_version: parse(Version::parse("5.4"), "lua version"),
            provided: BTreeMap::new(),
            preferred: BTreeMap::new(),
            allow_development: false,
        };
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        let mut outcome = String::new();
        for _ in 0..RUNS {
            let start = Instant::now();
            let result = resolve(&source, &request);
            times.push(start.elapsed());
            outcome = match result {
                Ok(resolution) => format!("{} packages", resolution.packages.len()),
                Err(err) => format!(
                    "no solution ({} report lines)",
                    err.to_string().lines().count()
                ),
            };
        }
        times.sort();
        println!(
            "request {:?}: {outcome}; min {:?}, median {:?}, max {:?}",
            roots,
            times[0],
            times[RUNS / 2],
            times[RUNS - 1]
        );
    }
}
