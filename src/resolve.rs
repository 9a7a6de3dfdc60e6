//! Dependency resolution: picks one version of every package a request needs, with PubGrub over
//! LuaRocks versions and constraints.
//!
//! The resolver is pure: candidate versions and dependencies come from a [`PackageSource`], which
//! the install pipeline implements over rocks servers (fetching rockspecs lazily) and tests
//! implement in memory.
//!
//! LuaRocks constraints (`~>`, `==` comparing the number of components, `~=`) are not intervals
//! of any total order, so a constraint is represented as the set of a package's known candidate
//! versions that LuaRocks' rules accept: a bitset over the candidates' positions in ascending
//! version order. `lua` is a virtual package whose only version is the environment's Lua.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider, DerivationTree,
    Derived, External, Map, PackageResolutionStatistics, PubGrubError, ReportFormatter, Reporter,
    Term, VersionSet,
};
use thiserror::Error;

use crate::luaversion::LuaVersion;
use crate::version::{Dependency, Version};

/// The virtual package standing for the Lua interpreter itself.
pub const LUA: &str = "lua";

/// An error reported by a [`PackageSource`] (network, manifest or rockspec problems).
pub type SourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where candidate versions and their dependencies come from.
pub trait PackageSource {
    /// All known versions of `name`, in any order. An unknown package is `Ok(vec![])`.
    fn versions(&self, name: &str) -> Result<Vec<Version>, SourceError>;

    /// The dependencies of one exact version, as its rockspec lists them (`lua` included).
    fn dependencies(&self, name: &str, version: &Version) -> Result<Vec<Dependency>, SourceError>;
}

/// What to resolve.
#[derive(Debug, Clone)]
pub struct Request {
    /// What the user asked for, plus what the environment already requires.
    pub requirements: Vec<Dependency>,
    /// The environment's Lua version (e.g. `5.4`, `5.1` for LuaJIT): the only version of the
    /// virtual `lua`.
    pub lua_version: Version,
    /// Other rocks the interpreter provides (`bit32` in 5.2, `utf8` from 5.3, `luajit`), each
    /// with its one version: never installed, like `lua`.
    pub provided: BTreeMap<String, Version>,
    /// Installed versions, kept whenever they satisfy every constraint. A preferred version
    /// only counts when the source lists it among the package's versions.
    pub preferred: BTreeMap<String, Version>,
    /// Whether development versions (`scm`, `dev`) may be picked when not asked for.
    pub allow_development: bool,
}

impl Request {
    /// A request for an environment of Lua `lua`: its `lua` version and provided rocks.
    pub fn for_lua(
        lua: LuaVersion,
        requirements: Vec<Dependency>,
        preferred: BTreeMap<String, Version>,
    ) -> Result<Request, crate::version::VersionError> {
        let provided = lua
            .provided_rocks()
            .iter()
            .map(|(name, version)| Ok((name.to_string(), Version::parse(version)?)))
            .collect::<Result<_, crate::version::VersionError>>()?;
        Ok(Request {
            requirements,
            lua_version: Version::parse(lua.lua_dependency_version())?,
            provided,
            preferred,
            allow_development: false,
        })
    }

    /// The environment's Lua as messages name it: `5.4`, or for LuaJIT (the interpreter that
    /// provides the `luajit` rock) `LuaJIT, which counts as 5.1`.
    pub fn lua_described(&self) -> String {
        if self.provided.contains_key("luajit") {
            format!("LuaJIT, which counts as {}", self.lua_version)
        } else {
            self.lua_version.to_string()
        }
    }

    /// Whether `name` is `lua` or a rock the interpreter provides.
    pub fn is_provided(&self, name: &str) -> bool {
        name == LUA || self.provided.contains_key(name)
    }
}

/// A successful resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The version picked for every package needed (never `lua`).
    pub packages: BTreeMap<String, Version>,
    /// What each picked package requires, as its rockspec says (to explain why it is installed).
    pub dependencies: BTreeMap<String, Vec<Dependency>>,
}

/// Why resolution failed.
#[derive(Debug, Error)]
pub enum ResolveError {
    #[error(
        "no package named '{name}' on the configured servers (wanted by {wanted_by}); check the \
         spelling, or add a rocks server that provides it{}",
        indent_explanation(explanation)
    )]
    UnknownPackage {
        name: String,
        wanted_by: String,
        /// The full explanation when the package was wanted indirectly (empty otherwise).
        explanation: String,
    },
    #[error(
        "no set of package versions satisfies the request:\n{}\nrelax the version constraints \
         named above or leave out one of the conflicting packages",
        indent(report)
    )]
    NoSolution { report: String },
    #[error(
        "could not list the versions of '{package}' (wanted by {wanted_by}): {cause}; check \
         that the configured rocks servers are reachable and their manifests valid"
    )]
    Versions {
        package: String,
        wanted_by: String,
        cause: SourceError,
    },
    #[error(
        "could not read the dependencies of {package} {version}: {cause}; check that its \
         rockspec can be fetched and is valid"
    )]
    Dependencies {
        package: String,
        version: Version,
        cause: SourceError,
    },
}

impl ResolveError {
    /// An unknown package is bad input and no solution a conflict; a source that failed to
    /// list versions or dependencies says its own kind, which only the source's owner can read
    /// (see `ops::Error::kind`), so here it is [`ErrorKind::Other`](crate::errors::ErrorKind).
    pub fn kind(&self) -> crate::errors::ErrorKind {
        use crate::errors::ErrorKind;
        match self {
            ResolveError::UnknownPackage { .. } => ErrorKind::BadInput,
            ResolveError::NoSolution { .. } => ErrorKind::Conflict,
            ResolveError::Versions { .. } | ResolveError::Dependencies { .. } => ErrorKind::Other,
        }
    }

    /// The source's own error when listing versions or dependencies failed.
    pub fn source_failure(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            ResolveError::Versions { cause, .. } | ResolveError::Dependencies { cause, .. } => {
                Some(cause.as_ref())
            }
            _ => None,
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("  {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn indent_explanation(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(":\n{}", indent(text))
    }
}

/// Picks a version for every package `request` needs, or explains why none exists.
pub fn resolve(source: &dyn PackageSource, request: &Request) -> Result<Resolution, ResolveError> {
    let provider = Provider::new(source, request);
    let root = Candidate {
        index: 0,
        version: None,
    };
    match pubgrub::resolve(&provider, Pkg::Root, root) {
        Ok(solution) => {
            let mut packages = BTreeMap::new();
            let mut dependencies = BTreeMap::new();
            for (pkg, candidate) in solution {
                let (Pkg::Named(name), Some(version)) = (&pkg, &candidate.version) else {
                    continue;
                };
                if provider.request.is_provided(name) {
                    continue;
                }
                let deps = provider.read_dependencies(name, candidate.index)?;
                packages.insert(name.to_string(), (**version).clone());
                dependencies.insert(name.to_string(), deps.to_vec());
            }
            Ok(Resolution {
                packages,
                dependencies,
            })
        }
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            let formatter = Formatter {
                provider: &provider,
            };
            let report = DefaultStringReporter::report_with_formatter(&tree, &formatter);
            Err(match find_unknown(&tree) {
                Some((name, pkg, set)) => ResolveError::UnknownPackage {
                    name: name.to_string(),
                    wanted_by: formatter.render(pkg, set),
                    explanation: report,
                },
                None => ResolveError::NoSolution { report },
            })
        }
        Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => Err(source),
    }
}

/// The first package in a failure explanation that is unusable because it depends on a package
/// no server knows.
fn find_unknown(
    tree: &DerivationTree<Pkg, CandidateSet, Unusable>,
) -> Option<(&Arc<str>, &Pkg, &CandidateSet)> {
    match tree {
        DerivationTree::External(External::Custom(pkg, set, Unusable::UnknownDependency(name))) => {
            Some((name, pkg, set))
        }
        DerivationTree::External(_) => None,
        DerivationTree::Derived(derived) => {
            find_unknown(&derived.cause1).or_else(|| find_unknown(&derived.cause2))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Version sets: bitsets over a package's candidates.

/// Bits of a [`CandidateSet`], canonical (no trailing zero words) so that derived equality is
/// set equality, and inline for packages with at most 64 versions, which is nearly all of them.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Words {
    Inline(u64),
    Heap(Arc<[u64]>),
}

impl Words {
    fn from_vec(mut words: Vec<u64>) -> Words {
        while words.last() == Some(&0) {
            words.pop();
        }
        match words.as_slice() {
            [] => Words::Inline(0),
            [w] => Words::Inline(*w),
            _ => Words::Heap(words.into()),
        }
    }

    fn as_slice(&self) -> &[u64] {
        match self {
            Words::Inline(w) => std::slice::from_ref(w),
            Words::Heap(ws) => ws,
        }
    }

    fn word(&self, i: usize) -> u64 {
        self.as_slice().get(i).copied().unwrap_or(0)
    }

    /// Applies `op` word by word; `op(0, 0)` must be 0.
    fn zip(&self, other: &Words, op: impl Fn(u64, u64) -> u64) -> Words {
        if let (Words::Inline(a), Words::Inline(b)) = (self, other) {
            return Words::Inline(op(*a, *b));
        }
        let len = self.as_slice().len().max(other.as_slice().len());
        Words::from_vec((0..len).map(|i| op(self.word(i), other.word(i))).collect())
    }
}

/// A set of candidate positions: the positions whose bit differs from `complemented`. The
/// complemented form keeps `full()` and complements exact without knowing how many candidates
/// a package has.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct CandidateSet {
    words: Words,
    complemented: bool,
}

impl CandidateSet {
    fn from_indices(indices: impl IntoIterator<Item = u32>) -> CandidateSet {
        let mut words = Vec::new();
        for i in indices {
            let (word, bit) = ((i / 64) as usize, i % 64);
            if words.len() <= word {
                words.resize(word + 1, 0);
            }
            words[word] |= 1 << bit;
        }
        CandidateSet {
            words: Words::from_vec(words),
            complemented: false,
        }
    }

    fn contains_index(&self, index: u32) -> bool {
        let bit = (self.words.word((index / 64) as usize) >> (index % 64)) & 1 == 1;
        bit != self.complemented
    }

    /// How many of the first `n` positions are in the set.
    fn count_below(&self, n: u32) -> u32 {
        let full_words = (n / 64) as usize;
        let mut count: u32 = (0..full_words)
            .map(|i| self.words.word(i).count_ones())
            .sum();
        if n % 64 != 0 {
            let mask = (1u64 << (n % 64)) - 1;
            count += (self.words.word(full_words) & mask).count_ones();
        }
        if self.complemented { n - count } else { count }
    }

    /// The positions below `n` that are in the set, ascending.
    fn indices_below(&self, n: u32) -> impl DoubleEndedIterator<Item = u32> + Clone + '_ {
        (0..n).filter(move |i| self.contains_index(*i))
    }
}

impl VersionSet for CandidateSet {
    type V = Candidate;

    fn empty() -> Self {
        CandidateSet {
            words: Words::Inline(0),
            complemented: false,
        }
    }

    fn singleton(v: Candidate) -> Self {
        CandidateSet::from_indices([v.index])
    }

    fn complement(&self) -> Self {
        CandidateSet {
            words: self.words.clone(),
            complemented: !self.complemented,
        }
    }

    fn intersection(&self, other: &Self) -> Self {
        let (a, b) = (&self.words, &other.words);
        let (words, complemented) = match (self.complemented, other.complemented) {
            (false, false) => (a.zip(b, |x, y| x & y), false),
            (false, true) => (a.zip(b, |x, y| x & !y), false),
            (true, false) => (a.zip(b, |x, y| !x & y), false),
            (true, true) => (a.zip(b, |x, y| x | y), true),
        };
        CandidateSet {
            words,
            complemented,
        }
    }

    fn union(&self, other: &Self) -> Self {
        let (a, b) = (&self.words, &other.words);
        let (words, complemented) = match (self.complemented, other.complemented) {
            (false, false) => (a.zip(b, |x, y| x | y), false),
            (false, true) => (a.zip(b, |x, y| !x & y), true),
            (true, false) => (a.zip(b, |x, y| x & !y), true),
            (true, true) => (a.zip(b, |x, y| x & y), true),
        };
        CandidateSet {
            words,
            complemented,
        }
    }

    fn contains(&self, v: &Candidate) -> bool {
        self.contains_index(v.index)
    }
}

/// Only pubgrub's own diagnostics use this; failure reports are rendered by [`Formatter`],
/// which knows the versions behind the positions.
impl fmt::Display for CandidateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut positions = Vec::new();
        for (w, word) in self.words.as_slice().iter().enumerate() {
            for bit in 0..64 {
                if word >> bit & 1 == 1 {
                    positions.push((w * 64 + bit).to_string());
                }
            }
        }
        let prefix = if self.complemented { "all but " } else { "" };
        write!(f, "{prefix}candidates {{{}}}", positions.join(", "))
    }
}

/// A version of one package, identified by its position among that package's candidates in
/// ascending version order (so comparing positions compares versions).
#[derive(Clone, Debug)]
struct Candidate {
    index: u32,
    /// `None` for the synthetic root, which has no real version.
    version: Option<Arc<Version>>,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index.cmp(&other.index)
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{v}"),
            None => Ok(()),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Pkg {
    /// The synthetic package holding the request's requirements.
    Root,
    Named(Arc<str>),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the request"),
            Pkg::Named(name) => f.write_str(name),
        }
    }
}

/// Why a version cannot be used although it exists.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Unusable {
    /// It depends on a package no server knows.
    UnknownDependency(Arc<str>),
    /// It depends on itself with a constraint its own version does not satisfy.
    SelfConflict(String),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::UnknownDependency(name) => {
                write!(f, "depends on the unknown package '{name}'")
            }
            Unusable::SelfConflict(dep) => {
                write!(f, "depends on itself as '{dep}'")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The dependency provider.

/// The known versions of one package, ascending.
struct Candidates {
    versions: Vec<Arc<Version>>,
    development: Vec<bool>,
    /// Position of the installed version, when the source lists it.
    preferred: Option<u32>,
}

impl Candidates {
    fn len(&self) -> u32 {
        // A package never has anywhere near 2^32 versions; saturate rather than wrap.
        u32::try_from(self.versions.len()).unwrap_or(u32::MAX)
    }

    fn candidate(&self, index: u32) -> Option<Candidate> {
        self.versions.get(index as usize).map(|v| Candidate {
            index,
            version: Some(v.clone()),
        })
    }

    fn matching(&self, dep: &Dependency) -> CandidateSet {
        CandidateSet::from_indices(
            (0..self.len()).filter(|i| dep.matches(&self.versions[*i as usize])),
        )
    }
}

/// Dependency lists by (package, candidate position).
type ReadDependencies = HashMap<(Pkg, u32), Rc<[Dependency]>>;

struct Provider<'a> {
    source: &'a dyn PackageSource,
    request: &'a Request,
    candidates: RefCell<HashMap<Arc<str>, Rc<Candidates>>>,
    /// The dependencies read for each (package, candidate position), as the source gave them.
    read: RefCell<ReadDependencies>,
}

impl<'a> Provider<'a> {
    fn new(source: &'a dyn PackageSource, request: &'a Request) -> Self {
        Provider {
            source,
            request,
            candidates: RefCell::new(HashMap::new()),
            read: RefCell::new(HashMap::new()),
        }
    }

    fn candidates(
        &self,
        name: &str,
        wanted_by: &dyn Fn() -> String,
    ) -> Result<Rc<Candidates>, ResolveError> {
        if let Some(found) = self.candidates.borrow().get(name) {
            return Ok(found.clone());
        }
        let mut versions = if name == LUA {
            vec![self.request.lua_version.clone()]
        } else if let Some(version) = self.request.provided.get(name) {
            vec![version.clone()]
        } else {
            self.source
                .versions(name)
                .map_err(|cause| ResolveError::Versions {
                    package: name.to_string(),
                    wanted_by: wanted_by(),
                    cause,
                })?
        };
        versions.sort();
        versions.dedup();
        let preferred = self
            .request
            .preferred
            .get(name)
            .and_then(|p| versions.binary_search(p).ok())
            .and_then(|i| u32::try_from(i).ok());
        let candidates = Rc::new(Candidates {
            development: versions.iter().map(Version::is_development).collect(),
            versions: versions.into_iter().map(Arc::new).collect(),
            preferred,
        });
        self.candidates
            .borrow_mut()
            .insert(Arc::from(name), candidates.clone());
        Ok(candidates)
    }

    /// Candidates already fetched (every package pubgrub asks about was first met as a
    /// dependency, which fetched them).
    fn cached(&self, name: &str) -> Option<Rc<Candidates>> {
        self.candidates.borrow().get(name).cloned()
    }

    fn read_dependencies(
        &self,
        name: &Arc<str>,
        index: u32,
    ) -> Result<Rc<[Dependency]>, ResolveError> {
        let pkg = Pkg::Named(name.clone());
        if let Some(deps) = self.read.borrow().get(&(pkg.clone(), index)) {
            return Ok(deps.clone());
        }
        let deps: Rc<[Dependency]> = if self.request.is_provided(name) {
            Rc::from(Vec::new())
        } else {
            let candidates = self.cached(name);
            let Some(version) = candidates
                .as_ref()
                .and_then(|c| c.versions.get(index as usize))
            else {
                return Ok(Rc::from(Vec::new()));
            };
            self.source
                .dependencies(name, version)
                .map_err(|cause| ResolveError::Dependencies {
                    package: name.to_string(),
                    version: (**version).clone(),
                    cause,
                })?
                .into()
        };
        self.read.borrow_mut().insert((pkg, index), deps.clone());
        Ok(deps)
    }

    /// Turns a version's dependency list into pubgrub constraints, merging repeated names.
    fn constraints(
        &self,
        dependent: &Pkg,
        dependent_version: Option<&Version>,
        deps: &[Dependency],
    ) -> Result<Dependencies<Pkg, CandidateSet, Unusable>, ResolveError> {
        let wanted_by = || match (dependent, dependent_version) {
            (Pkg::Named(name), Some(v)) => format!("{name} {v}"),
            _ => "the request".to_string(),
        };
        let mut merged: Vec<(Pkg, CandidateSet)> = Vec::with_capacity(deps.len());
        for dep in deps {
            if let (Pkg::Named(name), Some(version)) = (dependent, dependent_version) {
                if **name == *dep.name {
                    if dep.matches(version) {
                        continue;
                    }
                    return Ok(Dependencies::Unavailable(Unusable::SelfConflict(
                        dep.to_string(),
                    )));
                }
            }
            let candidates = self.candidates(&dep.name, &wanted_by)?;
            if candidates.versions.is_empty() {
                if *dependent == Pkg::Root {
                    return Err(ResolveError::UnknownPackage {
                        name: dep.name.clone(),
                        wanted_by: wanted_by(),
                        explanation: String::new(),
                    });
                }
                return Ok(Dependencies::Unavailable(Unusable::UnknownDependency(
                    Arc::from(dep.name.as_str()),
                )));
            }
            let set = candidates.matching(dep);
            match merged
                .iter_mut()
                .find(|(p, _)| matches!(p, Pkg::Named(n) if **n == *dep.name))
            {
                Some((_, existing)) => *existing = existing.intersection(&set),
                None => merged.push((Pkg::Named(Arc::from(dep.name.as_str())), set)),
            }
        }
        Ok(Dependencies::Available(
            merged.into_iter().collect::<DependencyConstraints<_, _>>(),
        ))
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Candidate;
    type VS = CandidateSet;
    type M = Unusable;
    type Err = ResolveError;
    type Priority = (u32, Reverse<u32>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &CandidateSet,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let Pkg::Named(name) = package else {
            return (u32::MAX, Reverse(0));
        };
        let allowed = self
            .cached(name)
            .map(|c| range.count_below(c.len()))
            .unwrap_or(0);
        if allowed == 0 {
            // Settle impossible packages first: the conflict is found without wasted work.
            return (u32::MAX, Reverse(0));
        }
        (stats.conflict_count(), Reverse(allowed))
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &CandidateSet,
    ) -> Result<Option<Candidate>, ResolveError> {
        let Pkg::Named(name) = package else {
            return Ok(range.contains_index(0).then_some(Candidate {
                index: 0,
                version: None,
            }));
        };
        let Some(candidates) = self.cached(name) else {
            return Ok(None);
        };
        if let Some(preferred) = candidates.preferred.filter(|p| range.contains_index(*p)) {
            return Ok(candidates.candidate(preferred));
        }
        let newest = range.indices_below(candidates.len()).next_back();
        let chosen = if self.request.allow_development {
            newest
        } else {
            // Development versions only when nothing else is allowed, which includes a
            // constraint naming one explicitly (`foo == scm-1`).
            range
                .indices_below(candidates.len())
                .rev()
                .find(|i| !candidates.development[*i as usize])
                .or(newest)
        };
        Ok(chosen.and_then(|i| candidates.candidate(i)))
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Candidate,
    ) -> Result<Dependencies<Pkg, CandidateSet, Unusable>, ResolveError> {
        match package {
            Pkg::Root => {
                let deps: Rc<[Dependency]> = self.request.requirements.clone().into();
                self.read.borrow_mut().insert((Pkg::Root, 0), deps.clone());
                self.constraints(package, None, &deps)
            }
            Pkg::Named(name) if self.request.is_provided(name) => {
                Ok(Dependencies::Available(DependencyConstraints::default()))
            }
            Pkg::Named(name) => {
                let deps = self.read_dependencies(name, version.index)?;
                self.constraints(package, version.version.as_deref(), &deps)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Failure reports in LuaRocks' terms.

struct Formatter<'a, 'b> {
    provider: &'b Provider<'a>,
}

type Terms = Map<Pkg, Term<CandidateSet>>;

/// How many versions a rendered set lists before summarising.
const LISTED_VERSIONS: usize = 5;

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl Formatter<'_, '_> {
    /// A package restricted to a set, e.g. `json >= 2.0-1`, `json 1.0-1 or 1.1-1`, `json`.
    fn render(&self, pkg: &Pkg, set: &CandidateSet) -> String {
        let Pkg::Named(name) = pkg else {
            return "the request".to_string();
        };
        let Some(candidates) = self.provider.cached(name) else {
            return name.to_string();
        };
        let n = candidates.len();
        let allowed: Vec<u32> = set.indices_below(n).collect();
        let version = |i: u32| candidates.versions[i as usize].to_string();
        match allowed.as_slice() {
            [] if &**name == LUA => format!("lua other than {}", self.provider.request.lua_version),
            [] => format!("{name} (no matching version)"),
            // Naming the version when there is only one reads better than "any version".
            all if all.len() as u32 == n && n > 1 => name.to_string(),
            [one] => format!("{name} {}", version(*one)),
            [first, .., last] if last - first + 1 == allowed.len() as u32 && allowed.len() > 3 => {
                if *last == n - 1 {
                    format!("{name} >= {}", version(*first))
                } else if *first == 0 {
                    format!("{name} <= {}", version(*last))
                } else {
                    format!("{name} >= {}, <= {}", version(*first), version(*last))
                }
            }
            // Parenthesised so the list is not mistaken for the commas of the sentence.
            many => {
                let mut listed: Vec<String> = many
                    .iter()
                    .take(LISTED_VERSIONS)
                    .map(|i| version(*i))
                    .collect();
                if many.len() > LISTED_VERSIONS {
                    listed.push(format!("{} more", many.len() - LISTED_VERSIONS));
                }
                format!("{name} ({})", join_or(&listed))
            }
        }
    }

    /// The constraint text every version of `dependent` in `versions` (whose dependencies were
    /// read) uses for `dependency`, when they agree.
    fn constraint_text(
        &self,
        dependent: &Pkg,
        versions: &CandidateSet,
        dependency: &str,
    ) -> Option<String> {
        let read = self.provider.read.borrow();
        let mut texts = read
            .iter()
            .filter(|((p, i), _)| p == dependent && versions.contains_index(*i))
            .map(|(_, deps)| {
                deps.iter()
                    .filter(|d| d.name == dependency)
                    .map(|d| d.constraints.to_string())
                    .filter(|c| !c.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        let first = texts.next()?;
        texts.all(|t| t == first).then_some(first)
    }

    /// The dependency side of "X depends on ...", in the words of the rockspec when possible.
    fn dependency(
        &self,
        dependent: &Pkg,
        versions: &CandidateSet,
        dep: &Pkg,
        set: &CandidateSet,
    ) -> String {
        let Pkg::Named(name) = dep else {
            return "the request".to_string();
        };
        let candidates = self.provider.cached(name);
        let available = candidates.as_ref().map_or(0, |c| set.count_below(c.len()));
        let mut text = match self.constraint_text(dependent, versions, name) {
            Some(constraint) if constraint.is_empty() => name.to_string(),
            Some(constraint) => format!("{name} {constraint}"),
            // The versions disagree on the constraint text; an empty set is explained below.
            None if available == 0 => name.to_string(),
            None => self.render(dep, set),
        };
        if available == 0 {
            if &**name == LUA {
                text += &format!(
                    " (the environment's Lua is {})",
                    self.provider.request.lua_described()
                );
            } else if let Some(c) = candidates.filter(|c| !c.versions.is_empty()) {
                let newest: Vec<String> = c
                    .versions
                    .iter()
                    .rev()
                    .take(LISTED_VERSIONS)
                    .map(|v| v.to_string())
                    .collect();
                text += &format!(
                    " (no such version; newest available: {})",
                    newest.join(", ")
                );
            }
        }
        text
    }

    fn term(&self, pkg: &Pkg, term: &Term<CandidateSet>) -> String {
        match term {
            Term::Positive(set) | Term::Negative(set) => self.render(pkg, set),
        }
    }
}

impl ReportFormatter<Pkg, CandidateSet, Unusable> for Formatter<'_, '_> {
    type Output = String;

    fn format_external(&self, external: &External<Pkg, CandidateSet, Unusable>) -> String {
        match external {
            External::NotRoot(..) => "the request is being resolved".to_string(),
            External::NoVersions(pkg, set) => {
                format!("no version of {} is available", self.render(pkg, set))
            }
            External::Custom(pkg, set, why) => format!("{} {why}", self.render(pkg, set)),
            External::FromDependencyOf(Pkg::Root, set, dep, dep_set) => format!(
                "the request asks for {}",
                self.dependency(&Pkg::Root, set, dep, dep_set)
            ),
            External::FromDependencyOf(pkg, set, dep, dep_set) => format!(
                "{} depends on {}",
                self.render(pkg, set),
                self.dependency(pkg, set, dep, dep_set)
            ),
        }
    }

    /// An incompatibility says its terms cannot all hold: positive terms are versions that
    /// cannot be installed together, negative ones are what they would require instead.
    fn format_terms(&self, terms: &Terms) -> String {
        let mut involves_root = false;
        let mut installed = Vec::new();
        let mut required = Vec::new();
        let mut sorted: Vec<_> = terms.iter().collect();
        sorted.sort_by_key(|(pkg, _)| pkg.to_string());
        for (pkg, term) in sorted {
            match (pkg, term) {
                (Pkg::Root, Term::Positive(_)) => involves_root = true,
                (_, Term::Positive(_)) => installed.push(self.term(pkg, term)),
                (_, Term::Negative(_)) => required.push(self.term(pkg, term)),
            }
        }
        match (installed.len(), required.is_empty()) {
            (0, true) if involves_root => "the request cannot be satisfied".to_string(),
            (0, true) => "no resolution exists".to_string(),
            (0, false) if involves_root => format!("the request requires {}", join_and(&required)),
            (0, false) => format!("{} is required", join_and(&required)),
            (1, true) => format!("{} cannot be installed", installed[0]),
            (2, true) => format!("{} cannot both be installed", join_and(&installed)),
            (_, true) => format!("{} cannot all be installed", join_and(&installed)),
            (1, false) => format!("{} depends on {}", installed[0], join_and(&required)),
            (_, false) => format!(
                "{} together depend on {}",
                join_and(&installed),
                join_and(&required)
            ),
        }
    }

    fn explain_both_external(
        &self,
        external1: &External<Pkg, CandidateSet, Unusable>,
        external2: &External<Pkg, CandidateSet, Unusable>,
        current_terms: &Terms,
    ) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(external1),
            self.format_external(external2),
            self.format_terms(current_terms)
        )
    }

    fn explain_both_ref(
        &self,
        ref_id1: usize,
        derived1: &Derived<Pkg, CandidateSet, Unusable>,
        ref_id2: usize,
        derived2: &Derived<Pkg, CandidateSet, Unusable>,
        current_terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({ref_id1}) and {} ({ref_id2}), {}.",
            self.format_terms(&derived1.terms),
            self.format_terms(&derived2.terms),
            self.format_terms(current_terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, CandidateSet, Unusable>,
        external: &External<Pkg, CandidateSet, Unusable>,
        current_terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.format_terms(&derived.terms),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_external(
        &self,
        external: &External<Pkg, CandidateSet, Unusable>,
        current_terms: &Terms,
    ) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, CandidateSet, Unusable>,
        current_terms: &Terms,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.format_terms(&derived.terms),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior_external: &External<Pkg, CandidateSet, Unusable>,
        external: &External<Pkg, CandidateSet, Unusable>,
        current_terms: &Terms,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior_external),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(indices: &[u32]) -> CandidateSet {
        CandidateSet::from_indices(indices.iter().copied())
    }

    /// Checks the set operations against plain membership over a window of positions that
    /// crosses word boundaries.
    #[test]
    fn set_operations_agree_with_membership() {
        let samples = [
            set(&[]),
            set(&[0]),
            set(&[1, 5, 63]),
            set(&[64, 70]),
            set(&[0, 64, 130]),
            set(&[3, 130]),
        ];
        let mut all = Vec::new();
        for s in &samples {
            all.push(s.clone());
            all.push(s.complement());
        }
        all.push(CandidateSet::full());
        for a in &all {
            assert_eq!(a.complement().complement(), *a);
            for b in &all {
                let inter = a.intersection(b);
                let uni = a.union(b);
                assert_eq!(
                    uni,
                    a.complement().intersection(&b.complement()).complement()
                );
                for i in 0..200 {
                    assert_eq!(
                        inter.contains_index(i),
                        a.contains_index(i) && b.contains_index(i)
                    );
                    assert_eq!(
                        uni.contains_index(i),
                        a.contains_index(i) || b.contains_index(i)
                    );
                }
            }
        }
        assert_eq!(set(&[1, 5, 63]).count_below(64), 3);
        assert_eq!(set(&[1, 5, 63]).complement().count_below(10), 8);
        assert_eq!(set(&[64, 70]).intersection(&set(&[64])), set(&[64]));
        assert_eq!(
            set(&[64, 70]).intersection(&set(&[1])),
            CandidateSet::empty()
        );
    }
}
