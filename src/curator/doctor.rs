//! `lvm doctor`: checks an environment and says, for each problem, how bad it is, why, and the
//! command that fixes it.
//!
//! Checks: the configuration and the curated data files; the event log against manifest.json
//! (and, when they disagree, the commit where they part); the tree against the recorded hashes
//! (`history::verify`) and its deployed files; dependencies; `require` of every module; shared
//! libraries of C modules; orphans; and newer versions on the servers. Only errors make the
//! command fail: an unreachable server is a note.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::env::Environment;
use crate::envrepo::{CONFIG_FILE, MANIFEST_FILE, short};
use crate::events::Event;
use crate::interpreter::Interpreter;
use crate::manifest::{self, Manifest, PackageSource};
use crate::tree::rockfiles::{FileKind, RockFile};
use crate::version::{Dependency, Version};

use super::loadcheck::{self, Loader};

/// The file in a tree recording which manifest it was made from (owned by [`crate::env`]);
/// removing it makes the next writer's recovery rebuild the tree from the store.

#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Do not read the rocks servers (no update check).
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is broken; `lvm doctor` exits non-zero.
    Error,
    /// Works, but is likely not what you want.
    Warning,
    /// For information (updates, checks that could not run).
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Which check found it (`history`, `files`, `tree`, `dependencies`, `require`,
    /// `libraries`, `orphans`, `config`, `catalog`, `updates`).
    pub check: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    pub reason: String,
    /// The command that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Everything `lvm doctor` found, most severe first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DoctorReport {
    pub findings: Vec<Finding>,
    /// Modules required successfully.
    pub modules_loaded: usize,
    pub packages: usize,
}

impl DoctorReport {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    pub fn is_healthy(&self) -> bool {
        self.errors() == 0
    }
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(
        &mut self,
        severity: Severity,
        check: &'static str,
        package: Option<&str>,
        reason: impl Into<String>,
        fix: Option<String>,
    ) {
        self.0.push(Finding {
            severity,
            check,
            package: package.map(str::to_string),
            reason: reason.into(),
            fix,
        });
    }

    fn flagged(&self, package: &str, checks: &[&str]) -> Option<&Finding> {
        self.0.iter().find(|f| {
            f.severity == Severity::Error
                && f.package.as_deref() == Some(package)
                && checks.contains(&f.check)
        })
    }
}

/// The command that makes the tree again from the recorded state and the store.
const REBUILD_TREE_COMMAND: &str = "lvm verify --repair";

/// Runs every check.
pub fn doctor(env: &Environment, options: &DoctorOptions) -> DoctorReport {
    let mut f = Findings(Vec::new());
    check_config(env, &mut f);
    if let Err(e) = super::load_catalog(env) {
        f.add(
            Severity::Error,
            "catalog",
            None,
            format!("curated data: {e}"),
            Some("fix the file and field named above, then run `lvm collections`".into()),
        );
    }
    let history = check_history(env, &mut f);
    let mut report = DoctorReport::default();
    if let Some(manifest) = head_manifest(env, &history, &mut f) {
        report.packages = manifest.packages.len();
        if history.consistent && history.head_readable {
            check_files(env, &manifest, &mut f);
        }
        check_dependencies(&manifest, &history, &mut f);
        let installed = installed_rock_files(env, &manifest);
        check_tree(env, &manifest, &installed, &mut f);
        check_libraries(env, &manifest, &installed, &mut f);
        if let Some(interpreter) = check_interpreter(env, &mut f) {
            report.modules_loaded =
                check_requires(env, &interpreter, &manifest, &installed, &mut f);
        }
        check_orphans(&manifest, &mut f);
        if options.offline {
            f.add(
                Severity::Note,
                "updates",
                None,
                "offline: newer versions on the rocks servers were not checked",
                None,
            );
        } else {
            check_updates(env, &manifest, &mut f);
        }
    }
    let mut findings = f.0;
    findings.sort_by_key(|f| f.severity);
    report.findings = findings;
    report
}

/// The environment's interpreter: found, and a Lua of the environment's version.
fn check_interpreter(env: &Environment, f: &mut Findings) -> Option<Interpreter> {
    let interpreter = match env.interpreter() {
        Ok(i) => i,
        Err(e) => {
            f.add(
                Severity::Error,
                "interpreter",
                None,
                format!("{e:#}"),
                Some(format!(
                    "lvm config set lua_bin PATH   # a Lua {} interpreter",
                    env.lua()
                )),
            );
            return None;
        }
    };
    if let (false, Some(bin)) = (interpreter.is_embedded(), &interpreter.bin) {
        match crate::interpreter::probe(bin) {
            Ok((found, _)) if found == env.lua() => {}
            Ok((found, said)) => {
                f.add(
                    Severity::Error,
                    "interpreter",
                    None,
                    format!(
                        "{} reports {said} (Lua {found}), but the environment's Lua is {}",
                        bin.display(),
                        env.lua()
                    ),
                    Some(format!(
                        "lvm config set lua_bin PATH   # a Lua {} interpreter",
                        env.lua()
                    )),
                );
                return None;
            }
            Err(why) => {
                f.add(
                    Severity::Error,
                    "interpreter",
                    None,
                    format!("{}: not a working Lua interpreter ({why})", bin.display()),
                    Some(format!(
                        "lvm config set lua_bin PATH   # a Lua {} interpreter",
                        env.lua()
                    )),
                );
                return None;
            }
        }
    }
    Some(interpreter)
}

fn check_config(env: &Environment, f: &mut Findings) {
    let path = env.root().join(CONFIG_FILE);
    let recorded = env
        .head()
        .ok()
        .and_then(|h| env.repo().read_file(h, CONFIG_FILE).ok())
        .unwrap_or_default();
    match std::fs::read(&path) {
        Err(_) => f.add(
            Severity::Warning,
            "config",
            None,
            format!("{} is missing from the working directory", path.display()),
            Some("lvm sync".into()),
        ),
        Ok(working) if working != recorded => {
            let text = String::from_utf8_lossy(&working);
            match crate::config::EnvConfig::parse(&text, &path.display().to_string()) {
                Err(e) => f.add(
                    Severity::Error,
                    "config",
                    None,
                    format!("{e}; lvm keeps using the recorded settings"),
                    Some("lvm sync   # restores the recorded lvm.toml".into()),
                ),
                Ok(_) => f.add(
                    Severity::Warning,
                    "config",
                    None,
                    format!(
                        "{} was edited but the change is not recorded, so lvm ignores it",
                        path.display()
                    ),
                    Some("lvm sync   # restores the recorded lvm.toml".into()),
                ),
            }
        }
        Ok(_) => {}
    }
    if env.config().servers.is_empty() {
        f.add(
            Severity::Error,
            "config",
            None,
            "no rocks server is configured, so nothing can be installed or rebuilt",
            Some("lvm install --server URL NAME   # names a server for one command".into()),
        );
    }
    for url in &env.config().servers {
        if let Err(e) = crate::server::RocksServer::new(url, &env.home().cache_dir()) {
            f.add(
                Severity::Error,
                "config",
                None,
                format!("rocks server: {e}"),
                None,
            );
            continue;
        }
        if let Some(dir) = url.strip_prefix("file://") {
            if !Path::new(dir).is_dir() {
                f.add(
                    Severity::Error,
                    "config",
                    None,
                    format!(
                        "rocks server {url}: the folder {dir} does not exist, so rebuilds from it fail"
                    ),
                    Some(format!("mkdir -p {}   # or restore the server folder", super::shell_word(dir))),
                );
            }
        }
    }
}

/// What the log check learned.
struct History {
    /// Replaying the log reproduces manifest.json.
    consistent: bool,
    /// The head's manifest.json reads as a valid state.
    head_readable: bool,
    /// The command that returns to the last sound commit, when there is a bad one.
    reset: Option<String>,
}

/// Where a log stops being sound: the last commit whose event replays to its manifest, and the
/// first that does not (with why).
struct Scan {
    last_good: Option<git2::Oid>,
    first_bad: Option<(git2::Oid, String)>,
    after_good: usize,
}

/// Whether the recorded `manifest.json` bytes are `state`: compared as this lvm reads them, so
/// a manifest a compatible newer lvm wrote (a newer minor format) is not called edited.
fn same_state(state: &Manifest, recorded: &[u8]) -> bool {
    state.to_bytes() == recorded
        || Manifest::from_bytes(recorded, MANIFEST_FILE)
            .is_ok_and(|m| m.to_bytes() == state.to_bytes())
}

fn scan_log(env: &Environment) -> Result<Scan, crate::env::EnvError> {
    let oids = env.repo().first_parent_chain(env.head()?)?;
    let mut state = Manifest::empty(crate::luaversion::LuaVersion::default());
    let mut scan = Scan {
        last_good: None,
        first_bad: None,
        after_good: 0,
    };
    for (i, oid) in oids.iter().enumerate() {
        let (message, _) = env.repo().commit_summary(*oid)?;
        let recorded = env
            .repo()
            .read_file(*oid, MANIFEST_FILE)
            .unwrap_or_default();
        let problem = match Event::from_commit_message(&message, &short(*oid)) {
            Err(e) => Some(e.to_string()),
            Ok(event) => match crate::events::apply_event(&mut state, &event) {
                Err(m) => Some(format!(
                    "commit {}: its event does not apply to the state before it: {m}",
                    short(*oid)
                )),
                Ok(()) if !same_state(&state, &recorded) => Some(format!(
                    "commit {}: manifest.json is not the state its event makes (edited by hand?)",
                    short(*oid)
                )),
                Ok(()) => None,
            },
        };
        match problem {
            Some(p) => {
                scan.first_bad = Some((*oid, p));
                scan.after_good = oids.len() - i;
                break;
            }
            None => scan.last_good = Some(*oid),
        }
    }
    Ok(scan)
}

fn check_history(env: &Environment, f: &mut Findings) -> History {
    let head_readable = env.manifest().is_ok();
    if let Ok((_, true)) = env.replay_matches() {
        return History {
            consistent: true,
            head_readable,
            reset: None,
        };
    }
    let scan = match scan_log(env) {
        Ok(s) => s,
        Err(e) => {
            f.add(
                Severity::Error,
                "history",
                None,
                format!(
                    "cannot read the event log: {}",
                    crate::errors::error_text(&e)
                ),
                Some(format!(
                    "git -C {} fsck",
                    super::shell_word(&env.root().display().to_string())
                )),
            );
            return History {
                consistent: false,
                head_readable,
                reset: None,
            };
        }
    };
    let root = super::shell_word(&env.root().display().to_string());
    let reset = scan
        .last_good
        .map(|good| format!("git -C {root} reset --hard {} && lvm sync", short(good)));
    match &scan.first_bad {
        Some((_, why)) => f.add(
            Severity::Error,
            "history",
            None,
            format!(
                "the event log does not replay to manifest.json: {why}; returning to the last sound commit discards {} commit(s)",
                scan.after_good
            ),
            reset.clone().or_else(|| {
                Some("the first commit is already unsound: make a new environment with `lvm init`".into())
            }),
        ),
        None => f.add(
            Severity::Error,
            "history",
            None,
            "replaying the event log does not reproduce manifest.json",
            Some("lvm verify".into()),
        ),
    }
    History {
        consistent: false,
        head_readable,
        reset,
    }
}

/// The head's state; a manifest whose dependencies do not hold is still read, so the
/// dependency check can say which.
fn head_manifest(env: &Environment, history: &History, f: &mut Findings) -> Option<Manifest> {
    let head = env.head().ok()?;
    let bytes = env
        .repo()
        .read_file(head, MANIFEST_FILE)
        .unwrap_or_default();
    match Manifest::from_bytes(&bytes, MANIFEST_FILE) {
        Ok(m) => Some(m),
        Err(manifest::ManifestError::Inconsistent { .. }) => serde_json::from_slice(&bytes).ok(),
        Err(e) => {
            f.add(
                Severity::Error,
                "manifest",
                None,
                format!("the recorded {e}; package checks were skipped"),
                history
                    .reset
                    .clone()
                    .or_else(|| Some("lvm verify --repair".into())),
            );
            None
        }
    }
}

/// `history::verify`: the working manifest, the tree's state marker, every rock's files
/// against its recorded hash, and the store.
fn check_files(env: &Environment, manifest: &Manifest, f: &mut Findings) {
    match crate::ops::verify::verify(env) {
        Ok(report) => {
            for problem in report.problems {
                let package = problem
                    .split_once(' ')
                    .map(|(name, _)| name)
                    .filter(|name| manifest.packages.contains_key(*name));
                f.add(
                    Severity::Error,
                    "files",
                    package,
                    problem.clone(),
                    Some("lvm verify --repair".into()),
                );
            }
        }
        Err(e) => f.add(
            Severity::Error,
            "files",
            None,
            format!("cannot verify the tree: {}", crate::errors::error_text(&e)),
            Some("lvm verify --repair".into()),
        ),
    }
}

/// The version of `name` a dependency string is checked against.
fn installed_version<'a>(
    manifest: &'a Manifest,
    lua: &'a Version,
    name: &str,
) -> Option<&'a Version> {
    if name == crate::resolve::LUA {
        Some(lua)
    } else {
        manifest.packages.get(name).map(|p| &p.version)
    }
}

fn check_dependencies(manifest: &Manifest, history: &History, f: &mut Findings) {
    let lua_version = manifest.lua_version().ok();
    let dependency_version = lua_version.map(|v| v.lua_dependency_version().to_string());
    let Some(Ok(lua)) = dependency_version.as_deref().map(Version::parse) else {
        f.add(
            Severity::Error,
            "dependencies",
            None,
            format!(
                "manifest.json: lua version '{}' is not a Lua lvm knows",
                manifest.lua
            ),
            history.reset.clone(),
        );
        return;
    };
    for (name, package) in &manifest.packages {
        for text in &package.dependencies {
            let Ok(dep) = Dependency::parse(text) else {
                f.add(
                    Severity::Error,
                    "dependencies",
                    Some(name),
                    format!(
                        "{name} {}: dependency '{text}' cannot be read",
                        package.version
                    ),
                    history.reset.clone(),
                );
                continue;
            };
            if lua_version.is_some_and(|v| dep.name != "lua" && v.provides(&dep.name)) {
                continue;
            }
            let fix = history
                .reset
                .clone()
                .unwrap_or_else(|| super::install_command(std::slice::from_ref(text)));
            match installed_version(manifest, &lua, &dep.name) {
                None => f.add(
                    Severity::Error,
                    "dependencies",
                    Some(name),
                    format!(
                        "{name} {} needs {text}, which is not installed",
                        package.version
                    ),
                    Some(fix),
                ),
                Some(v) if !dep.matches(v) => f.add(
                    Severity::Error,
                    "dependencies",
                    Some(name),
                    format!(
                        "{name} {} needs {text}, but {} {v} is installed",
                        package.version, dep.name
                    ),
                    Some(fix),
                ),
                Some(_) => {}
            }
        }
    }
}

/// The live tree against the recorded state: rocks present, their dependencies present, every
/// deployed module file the rock's own, and no rock the state does not list.
/// Each package's deployed files, read once from its rock dir's `rock_manifest` for the tree,
/// library and require checks; a package without a rock dir in the tree is left out.
fn installed_rock_files(env: &Environment, manifest: &Manifest) -> BTreeMap<String, Vec<RockFile>> {
    let tree = env.tree_path();
    manifest
        .packages
        .iter()
        .filter_map(|(name, p)| {
            let dir = crate::tree::rock_dir(&tree, env.lua(), name, p.version.as_str());
            let files = dir
                .is_dir()
                .then(|| crate::tree::rockfiles::installed_files(&tree, env.lua(), &dir))?;
            Some((name.clone(), files))
        })
        .collect()
}

fn check_tree(
    env: &Environment,
    manifest: &Manifest,
    installed: &BTreeMap<String, Vec<RockFile>>,
    f: &mut Findings,
) {
    let tree = env.tree_path();
    let fix = REBUILD_TREE_COMMAND.to_string();
    if !tree.is_dir() {
        f.add(
            Severity::Error,
            "tree",
            None,
            format!("the live tree {} is missing", tree.display()),
            Some("lvm sync".into()),
        );
        return;
    }
    let present: BTreeSet<(String, String)> =
        crate::tree::installed_rocks(&tree, env.lua()).unwrap_or_default();
    let has =
        |name: &str, version: &Version| present.contains(&(name.to_string(), version.to_string()));
    for (name, package) in &manifest.packages {
        if !has(name, &package.version) {
            // history::verify reports the missing files; say what depends on it.
            for dependent in &package.reason.required_by {
                f.add(
                    Severity::Error,
                    "dependencies",
                    Some(dependent),
                    format!(
                        "{dependent} needs {name}, but {name} {} is missing from the tree",
                        package.version
                    ),
                    Some(fix.clone()),
                );
            }
            continue;
        }
        let files = installed.get(name).map(Vec::as_slice).unwrap_or_default();
        // A linked package's Lua files are the project's working files, meant to change.
        let linked = package.source.linked_path().is_some();
        for (rel, problem) in deployed_problems(&tree, files, linked) {
            f.add(
                Severity::Error,
                "tree",
                Some(name),
                format!("{name} {}: {rel} {problem}", package.version),
                Some(fix.clone()),
            );
        }
    }
    for (name, version) in &present {
        let recorded = manifest
            .packages
            .get(name)
            .is_some_and(|p| p.version.as_str() == version);
        if !recorded {
            f.add(
                Severity::Warning,
                "tree",
                Some(name),
                format!("{name} {version} is in the tree but not in manifest.json"),
                Some(fix.clone()),
            );
        }
    }
}

/// Deployed files (`share/lua/5.4/...`, `lib/lua/5.4/...`) of one rock that are missing or
/// differ from the rock's own copy.
fn deployed_problems(tree: &Path, files: &[RockFile], linked: bool) -> Vec<(String, &'static str)> {
    files
        .iter()
        .filter_map(|file| {
            let shown = file
                .path
                .strip_prefix(tree)
                .unwrap_or(&file.path)
                .display()
                .to_string();
            if !file.path.is_file() {
                Some((shown, "is missing"))
            } else if !linked && !matches_recorded_md5(file) {
                Some((shown, "differs from the rock's recorded file"))
            } else {
                None
            }
        })
        .collect()
}

/// Whether a deployed file still has the md5 its rock's `rock_manifest` records.
fn matches_recorded_md5(file: &RockFile) -> bool {
    let md5 = crate::tree::files::md5_file(&file.path).ok();
    md5.is_some() && md5.as_deref() == file.md5.as_deref()
}

fn check_libraries(
    env: &Environment,
    manifest: &Manifest,
    installed: &BTreeMap<String, Vec<RockFile>>,
    f: &mut Findings,
) {
    let tree = env.tree_path();
    for (name, files) in installed {
        let Some(package) = manifest.packages.get(name) else {
            continue;
        };
        for object in loadcheck::shared_objects(files) {
            let Some(missing) = loadcheck::missing_libraries(&object) else {
                f.add(
                    Severity::Note,
                    "libraries",
                    None,
                    "ldd is not installed, so the shared libraries of C modules were not checked",
                    Some("apt-get install libc-bin".into()),
                );
                return;
            };
            let rel = object
                .strip_prefix(&tree)
                .unwrap_or(&object)
                .display()
                .to_string();
            for lib in missing {
                f.add(
                    Severity::Error,
                    "libraries",
                    Some(name),
                    format!(
                        "{name} {}: {rel} needs the shared library {lib}, which is gone (it was there when the rock was built)",
                        package.version
                    ),
                    Some(format!(
                        "reinstall the system package that provides {lib} (`dpkg -S {lib}` names a packaged one), then `lvm doctor`"
                    )),
                );
            }
        }
    }
}

/// Requires every module of every installed rock; returns how many loaded. A module that fails
/// is retried the ways that tell a rock that cannot be used (an error) from a module that only
/// fails when required on its own (a note): as a script, after its parents.
fn check_requires(
    env: &Environment,
    interpreter: &Interpreter,
    manifest: &Manifest,
    installed: &BTreeMap<String, Vec<RockFile>>,
    f: &mut Findings,
) -> usize {
    let tree = env.tree_path();
    let rocks: BTreeMap<&String, (&[RockFile], Vec<String>)> = installed
        .iter()
        .map(|(name, files)| {
            (
                name,
                (
                    files.as_slice(),
                    crate::tree::rockfiles::module_names(files),
                ),
            )
        })
        .collect();
    let provided: BTreeMap<&str, &str> = rocks
        .iter()
        .flat_map(|(name, (_, modules))| modules.iter().map(|m| (m.as_str(), name.as_str())))
        .collect();
    let required_by_rocks = modules_required_by_rocks(&rocks);
    let required_by_project = modules_required_by_project(env);
    let mut loaded = 0;
    for name in dependencies_first(manifest) {
        let Some((files, modules)) = rocks.get(&name) else {
            continue;
        };
        let name = &name;
        let package = &manifest.packages[name];
        let checks = loadcheck::check_modules(&tree, interpreter, modules);
        let failed = checks.iter().filter(|c| c.error.is_some()).count();
        loaded += checks.len() - failed;
        let nothing_loads = failed == checks.len();
        for check in checks {
            let Some(error) = check.error else {
                continue;
            };
            let how = match check.loader {
                Loader::Embedded => String::new(),
                Loader::External if interpreter.is_embedded() => format!(
                    " (checked with lua{}, because lvm's embedded Lua could not link this C module)",
                    interpreter.lua
                ),
                Loader::External => format!(" (checked with {})", interpreter.describe()),
            };
            let subject = format!("{name} {}", package.version);
            let module = check.module.as_str();
            let failure = format!("require('{module}') fails: {error}{how}");
            let retry = |how: &loadcheck::Retry| loadcheck::retry(&tree, interpreter, module, how);
            let project_sites = required_by_project.get(module);
            let main = is_main_module(name, module, required_by_rocks.get(module))
                || project_sites.is_some();
            let c_module = is_c_module(files, module);
            let failure_kind = classify(module, &error, c_module, &provided, retry);
            let earlier_fix = match failure_kind {
                Failure::Script { .. } | Failure::NeedsParents(_) => None,
                _ => flagged_in_closure(manifest, name, f).map(|e| e.fix.clone()),
            };
            if let Some(fix) = earlier_fix {
                f.add(
                    Severity::Error,
                    "require",
                    Some(name),
                    format!("{subject}: {failure}"),
                    fix,
                );
                continue;
            }
            match failure_kind {
                Failure::Script { retried } => f.add(
                    Severity::Note,
                    "require",
                    Some(name),
                    format!(
                        "{subject}: '{module}' is a command-line script installed as a module: required on its own it fails ({error}) because it reads the command line (the global `arg`); {}, so this is not a defect of the rock",
                        match retried {
                            None => "with `arg` set it loads".to_string(),
                            Some(e) => format!("with `arg` set it gets past that (then: {e})"),
                        }
                    ),
                    None,
                ),
                Failure::NeedsParents(parents) => f.add(
                    Severity::Note,
                    "require",
                    Some(name),
                    format!(
                        "{subject}: '{module}' loads only after {} (required on its own: {error}); code that uses it requires that first",
                        parents
                            .iter()
                            .map(|p| format!("'{p}'"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    None,
                ),
                Failure::Optional(missing) if !main && !nothing_loads => f.add(
                    Severity::Note,
                    "require",
                    Some(name),
                    format!(
                        "{subject}: '{module}' needs module '{missing}', which {name} does not depend on and no installed rock provides: an optional part of {name}, usable once a rock providing '{missing}' is installed"
                    ),
                    None,
                ),
                Failure::Optional(_) | Failure::Broken if main || c_module || nothing_loads => {
                    f.add(
                        Severity::Error,
                        "require",
                        Some(name),
                        format!(
                            "{subject}: {failure}{}",
                            match project_sites {
                                Some(sites) => format!(
                                    " ('{module}' is a main module of {name}: the project requires it at {})",
                                    sites.join(", ")
                                ),
                                None if main => format!(" ('{module}' is a main module of {name})"),
                                None => String::new(),
                            }
                        ),
                        Some(match project_sites {
                            Some(sites) => project_require_fix(name, module, &sites[0], &failure_kind),
                            None => unusable_rock_fix(manifest, name),
                        }),
                    )
                }
                Failure::Optional(_) | Failure::Broken => f.add(
                    Severity::Warning,
                    "require",
                    Some(name),
                    format!(
                        "{subject}: {failure}; {name}'s main modules load, so only this module is unusable"
                    ),
                    Some(format!("report it to the authors of {name}")),
                ),
            }
        }
    }
    loaded
}

/// The installed packages, each after the ones it depends on (so a dependency's findings are
/// known when its dependents are checked); a cycle is broken in name order.
fn dependencies_first(manifest: &Manifest) -> Vec<String> {
    let deps = |name: &str| -> Vec<String> {
        manifest.packages[name]
            .dependencies
            .iter()
            .filter_map(|d| Dependency::parse(d).ok())
            .map(|d| d.name)
            .filter(|d| d != name && manifest.packages.contains_key(d))
            .collect()
    };
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&String> = manifest.packages.keys().collect();
    while !left.is_empty() {
        let ready = left
            .iter()
            .position(|n| deps(n).iter().all(|d| done.contains(d)))
            .unwrap_or(0);
        done.push(left.remove(ready).clone());
    }
    done
}

/// Why a module failed to load, as far as retrying it tells.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// A command-line script: it reads the global `arg`. With `arg` set it loads (`None`) or
    /// fails later for another reason (reading empty input, say).
    Script { retried: Option<String> },
    /// It loads once these parent modules are loaded.
    NeedsParents(Vec<String>),
    /// It needs this module, which no installed rock provides.
    Optional(String),
    /// None of the above: the module does not load.
    Broken,
}

/// Classifies a failed `require`: `retry` requires the module again the way it is given.
fn classify(
    module: &str,
    error: &str,
    c_module: bool,
    provided: &BTreeMap<&str, &str>,
    retry: impl Fn(&loadcheck::Retry) -> Option<String>,
) -> Failure {
    if c_module {
        return Failure::Broken;
    }
    if reads_arg(error) {
        let retried = retry(&loadcheck::Retry::AsScript);
        if !retried.as_deref().is_some_and(reads_arg) {
            return Failure::Script { retried };
        }
    }
    let parents = parent_modules(module, provided);
    if !parents.is_empty() && retry(&loadcheck::Retry::AfterParents(parents.clone())).is_none() {
        return Failure::NeedsParents(parents);
    }
    match missing_module(error) {
        Some(missing) if !provided.contains_key(missing) => Failure::Optional(missing.to_string()),
        _ => Failure::Broken,
    }
}

/// The error is about the global `arg`, which only a script run has.
fn reads_arg(error: &str) -> bool {
    error.contains("global 'arg'")
}

/// The module a `module 'x' not found` error names.
fn missing_module(error: &str) -> Option<&str> {
    let rest = error.split("module '").nth(1)?;
    let (name, after) = rest.split_once('\'')?;
    after.starts_with(" not found").then_some(name)
}

/// The installed modules above `module` in its dotted name (`a` and `a.b` for `a.b.c`),
/// outermost first.
fn parent_modules(module: &str, provided: &BTreeMap<&str, &str>) -> Vec<String> {
    let parts: Vec<&str> = module.split('.').collect();
    (1..parts.len())
        .map(|n| parts[..n].join("."))
        .filter(|p| provided.contains_key(p.as_str()))
        .collect()
}

/// Whether `module` is one of the rock's own C modules.
fn is_c_module(files: &[RockFile], module: &str) -> bool {
    let rel = format!(
        "{}.{}",
        module.replace('.', "/"),
        std::env::consts::DLL_EXTENSION
    );
    files
        .iter()
        .any(|f| f.kind == FileKind::Lib && f.rel == rel)
}

/// A main module of `package`: one that other rocks require, or one named like the package
/// (`cjson` of lua-cjson, `busted` of busted).
fn is_main_module(package: &str, module: &str, required_by: Option<&BTreeSet<String>>) -> bool {
    required_by.is_some_and(|by| by.iter().any(|p| p != package)) || named_like(package, module)
}

/// Whether a module is named like its package, the way rocks name their main module.
fn named_like(package: &str, module: &str) -> bool {
    let bare = package
        .strip_prefix("lua-")
        .or_else(|| package.strip_suffix("-lua"))
        .unwrap_or(package);
    [package, bare]
        .iter()
        .any(|n| module == *n || module == n.replace('-', "_") || module == n.replace('-', "."))
}

/// Module → the installed rocks whose Lua files require it (statically).
fn modules_required_by_rocks(
    rocks: &BTreeMap<&String, (&[RockFile], Vec<String>)>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, (files, _)) in rocks {
        // A linked package's files are symbolic links into its project, not followed here.
        let lua_files = files.iter().filter(|f| {
            f.kind == FileKind::Lua
                && f.rel.ends_with(".lua")
                && std::fs::symlink_metadata(&f.path).is_ok_and(|m| m.is_file())
        });
        for file in lua_files {
            let Ok(source) = std::fs::read_to_string(&file.path) else {
                continue;
            };
            for call in super::requires::require_calls(&source) {
                if let Some(module) = call.module {
                    out.entry(module).or_default().insert(name.to_string());
                }
            }
        }
    }
    out
}

/// Module → where the project the environment belongs to requires it (`src/app.lua:3`), from
/// the same scan as `lvm recommend --scan`. Optional requires (`pcall(require, ...)`) are left
/// out: the project copes without them.
fn modules_required_by_project(env: &Environment) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Some(scan) = super::recommend::project_of(env).and_then(|d| super::usage::scan(&d).ok())
    else {
        return out;
    };
    for site in scan.uses.iter().filter(|u| !u.optional) {
        if let Some(module) = &site.module {
            out.entry(module.clone())
                .or_default()
                .push(format!("{}:{}", site.file, site.line));
        }
    }
    out
}

/// The fix for a module the project requires that does not load, `site` the first `require`
/// of it (`src/app.lua:3`): never `lvm remove`, which would break the project.
fn project_require_fix(package: &str, module: &str, site: &str, failure: &Failure) -> String {
    match failure {
        Failure::Optional(missing) => format!(
            "lvm search {}   # '{module}', required at {site}, needs '{missing}', which no installed rock provides: install the rock that provides it",
            super::shell_word(missing)
        ),
        _ => format!(
            "report it to the authors of {package}, or change the require of '{module}' at {site}: it does not load as {package} is built"
        ),
    }
}

/// The fix for a rock that cannot be used: removing it, and saying which packages go with it
/// when others need it.
fn unusable_rock_fix(manifest: &Manifest, name: &str) -> String {
    let needing = manifest.dependents_closure(name);
    if needing.is_empty() {
        return format!(
            "{}   # the rock as built does not load; report it to its authors",
            super::remove_command(&[name.to_string()])
        );
    }
    let mut remove: Vec<String> = needing
        .iter()
        .chain(std::iter::once(&name.to_string()))
        .filter(|n| manifest.packages.get(*n).is_some_and(|p| p.is_requested()))
        .cloned()
        .collect();
    remove.sort();
    remove.dedup();
    format!(
        "{}   # {name} does not load as built, and {} need it, so they go with it; or keep them and report it to the authors of {name}",
        super::remove_command(&remove),
        needing.join(", ")
    )
}

/// An earlier error on `name` or on a package it depends on (directly or not): a module that
/// fails to load because of it is fixed by fixing that. Another module of `name` failing is no
/// cause: each module's own failure says what fixes it.
fn flagged_in_closure<'a>(manifest: &Manifest, name: &str, f: &'a Findings) -> Option<&'a Finding> {
    const CAUSES: &[&str] = &["tree", "files", "libraries", "dependencies", "require"];
    let mut seen = BTreeSet::new();
    let mut stack = vec![name.to_string()];
    while let Some(next) = stack.pop() {
        if !seen.insert(next.clone()) {
            continue;
        }
        let causes = if next == name {
            &CAUSES[..CAUSES.len() - 1]
        } else {
            CAUSES
        };
        if let Some(found) = f.flagged(&next, causes) {
            return Some(found);
        }
        if let Some(p) = manifest.packages.get(&next) {
            stack.extend(
                p.dependencies
                    .iter()
                    .filter_map(|d| Dependency::parse(d).ok())
                    .map(|d| d.name),
            );
        }
    }
    None
}

fn check_orphans(manifest: &Manifest, f: &mut Findings) {
    let orphans = manifest.orphans();
    if orphans.is_empty() {
        return;
    }
    f.add(
        Severity::Warning,
        "orphans",
        None,
        format!(
            "installed but neither requested nor needed by a requested package: {}",
            orphans.join(", ")
        ),
        Some(super::remove_command(&orphans)),
    );
}

/// The packages of the profile the environment follows that the servers cannot satisfy: a
/// curated name no server publishes (misspelt, or a server missing), or a version floor above
/// every published version. Only asked when every server could be read.
fn check_curated_constraints(env: &Environment, available: &super::Available, f: &mut Findings) {
    let Ok(catalog) = super::load_catalog(env) else {
        return;
    };
    let Some(active) = super::recommend::active_profile(env, &catalog) else {
        return;
    };
    let Ok(plan) = catalog.plan(&active.name, false) else {
        return;
    };
    for planned in plan {
        let wanted = super::data::dependency_text(&planned.dependency());
        let via = planned.via.join(", ");
        match available.versions.get(&planned.name) {
            None => f.add(
                Severity::Note,
                "curated",
                Some(&planned.name),
                format!(
                    "profile {} asks for {wanted} ({via}), but no configured server publishes {}: a misspelt name in the curated data, or a server missing",
                    active.name, planned.name
                ),
                Some("lvm profiles   # shows where the profile's packages come from; fix the data file or add a server with `lvm config set servers ...`".into()),
            ),
            Some(published) if !published.iter().any(|(v, _)| planned.version.matches(v)) => {
                let mut versions: Vec<&Version> = published.iter().map(|(v, _)| v).collect();
                versions.sort();
                let listed: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
                f.add(
                    Severity::Note,
                    "curated",
                    Some(&planned.name),
                    format!(
                        "profile {} asks for {wanted} ({via}), but no published version satisfies it (the servers have {})",
                        active.name,
                        listed.join(", ")
                    ),
                    Some("lvm profiles   # shows where the constraint comes from; lower it in that data file".into()),
                )
            }
            Some(_) => {}
        }
    }
}

fn check_updates(env: &Environment, manifest: &Manifest, f: &mut Findings) {
    let available = super::Available::from_servers(env);
    for (url, why) in &available.unreachable {
        f.add(
            Severity::Note,
            "updates",
            None,
            format!(
                "could not read rocks server {url}, so its newer versions were not checked: {why}"
            ),
            None,
        );
    }
    if available.unreachable.is_empty() {
        check_curated_constraints(env, &available, f);
    }
    let mut newer: BTreeMap<&String, (&Version, &String)> = BTreeMap::new();
    for (name, package) in &manifest.packages {
        if !matches!(package.source, PackageSource::Server { .. }) {
            continue;
        }
        if let Some((v, url)) = available.newest(name, |v| *v > package.version) {
            newer.insert(name, (v, url));
        }
    }
    for (name, (version, url)) in newer {
        let installed = &manifest.packages[name].version;
        f.add(
            Severity::Note,
            "updates",
            Some(name),
            format!("{name} {version} is available on {url} (installed: {installed})"),
            Some(super::install_command(&[format!("{name} >= {version}")])),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadcheck::Retry;

    fn provided<'a>(modules: &[&'a str]) -> BTreeMap<&'a str, &'a str> {
        modules.iter().map(|m| (*m, "pkg")).collect()
    }

    #[test]
    fn failures_are_classified_by_what_the_retries_show() {
        let none = provided(&["a", "a.b"]);
        let arg_error = "x.lua:3: attempt to index a nil value (global 'arg')";
        // A script: with `arg` set it loads, or fails for another reason.
        assert_eq!(
            classify("s", arg_error, false, &none, |_| None),
            Failure::Script { retried: None }
        );
        assert_eq!(
            classify("s", arg_error, false, &none, |_| Some("bad input".into())),
            Failure::Script {
                retried: Some("bad input".into())
            }
        );
        // Still failing on `arg`: not explained by being a script.
        assert_eq!(
            classify("s", arg_error, false, &none, |_| Some(arg_error.into())),
            Failure::Broken
        );
        // Loads after its parents, which are retried outermost first.
        let seen = std::cell::RefCell::new(Vec::new());
        let failure = classify("a.b.c", "attempt to index a nil value", false, &none, |r| {
            seen.borrow_mut().push(r.clone());
            None
        });
        assert_eq!(
            failure,
            Failure::NeedsParents(vec!["a".into(), "a.b".into()])
        );
        assert_eq!(
            seen.into_inner(),
            vec![Retry::AfterParents(vec!["a".into(), "a.b".into()])]
        );
        // A module nothing provides; one that is provided but fails is broken.
        let missing = "module 'zlib' not found:\n\tno field package.preload['zlib']";
        assert_eq!(
            classify("h.zlib", missing, false, &none, |_| Some("x".into())),
            Failure::Optional("zlib".into())
        );
        let present = "module 'a' not found: ...";
        assert_eq!(
            classify("q", present, false, &none, |_| None),
            Failure::Broken
        );
        // A C module is never retried.
        assert_eq!(
            classify("c", arg_error, true, &none, |_| panic!("retried")),
            Failure::Broken
        );
    }

    #[test]
    fn main_modules_are_named_like_the_package_or_required_by_others() {
        assert!(named_like("lua-cjson", "cjson"));
        assert!(named_like("busted", "busted"));
        assert!(named_like("lpeg_patterns", "lpeg_patterns"));
        assert!(named_like("lua-term", "term"));
        assert!(!named_like("lua-cjson", "json2lua"));
        let by: BTreeSet<String> = ["other".to_string()].into();
        assert!(is_main_module("luafilesystem", "lfs", Some(&by)));
        let only_self: BTreeSet<String> = ["luafilesystem".to_string()].into();
        assert!(!is_main_module("luafilesystem", "lfs", Some(&only_self)));
        assert_eq!(
            missing_module("module 'x.y' not found: no file"),
            Some("x.y")
        );
        assert_eq!(missing_module("error loading module 'x' from file"), None);
    }
}
