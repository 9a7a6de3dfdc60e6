//! `lvm recommend --scan DIR`: recommendations from a project's own Lua code. The `require`
//! calls of its files (read statically, [`super::requires`]) against what the environment
//! provides: rocks to install for required modules nothing provides, requested packages nothing
//! requires, packages only tests use. Everything is read locally: the project, the tree, the
//! store and the rockspecs lvm has seen (its cache and `file://` server folders).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::advice::{ActiveProfile, Recommendation};
use super::data::Catalog;
use super::requires::{self, RequireCall};
use super::{install_command, remove_command, shell_word};
use crate::env::Environment;
use crate::luaversion::LuaVersion;
use crate::manifest::Manifest;

/// Modules every Lua has built in.
const STANDARD_MODULES: &[&str] = &[
    "_G",
    "coroutine",
    "debug",
    "io",
    "math",
    "os",
    "package",
    "string",
    "table",
    "utf8",
];

/// One `require` of the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Use {
    /// The file, relative to the scanned folder.
    pub file: String,
    pub line: usize,
    /// `None` for a computed module name.
    pub module: Option<String>,
    pub optional: bool,
    /// The file is a test (under `spec/` or `test/`, or a `*_spec.lua` / `*_test.lua`).
    pub test: bool,
}

/// What scanning a project found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProjectScan {
    pub dir: PathBuf,
    pub files: usize,
    pub uses: Vec<Use>,
    /// Modules the project's own files are (so requiring them needs no rock).
    pub own_modules: BTreeSet<String>,
}

impl ProjectScan {
    /// The `require` calls whose module is computed, so unknown here.
    pub fn dynamic(&self) -> impl Iterator<Item = &Use> {
        self.uses.iter().filter(|u| u.module.is_none())
    }
}

/// Reads every Lua file under `dir`, outside hidden folders and those a project's build skips
/// (version control, environments and rocks trees kept inside it).
pub fn scan(dir: &Path) -> std::io::Result<ProjectScan> {
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a folder", dir.display()),
        ));
    }
    let mut out = ProjectScan {
        dir: dir.to_path_buf(),
        ..ProjectScan::default()
    };
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir() && {
                    let name = e.file_name().to_string_lossy();
                    name.starts_with('.')
                        || crate::fetch::project::SKIPPED_DIRS.contains(&name.as_ref())
                })
        });
    for entry in walker.flatten() {
        let path = entry.path();
        if !entry.file_type().is_file() || path.extension().is_none_or(|x| x != "lua") {
            continue;
        }
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        out.files += 1;
        out.own_modules.extend(own_module_names(&rel));
        let test = is_test_path(&rel);
        let source = String::from_utf8_lossy(&bytes);
        for RequireCall {
            module,
            line,
            optional,
        } in requires::require_calls(&source)
        {
            out.uses.push(Use {
                file: rel.clone(),
                line,
                module,
                optional,
                test,
            });
        }
    }
    Ok(out)
}

/// Whether a project file is a test: under a `spec/`, `test/` or `tests/` folder, or named
/// `*_spec.lua` or `*_test.lua`.
pub fn is_test_path(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let (dirs, file) = parts.split_at(parts.len().saturating_sub(1));
    dirs.iter().any(|d| matches!(*d, "spec" | "test" | "tests"))
        || file
            .first()
            .is_some_and(|f| f.ends_with("_spec.lua") || f.ends_with("_test.lua"))
}

/// The module names a project file can be required as: its path with `/` as `.`, also
/// without a leading `src/`, `lua/` or `lib/`; `x/init.lua` is also `x`.
pub fn own_module_names(rel: &str) -> Vec<String> {
    let Some(stem) = rel.strip_suffix(".lua") else {
        return vec![];
    };
    let mut out = Vec::new();
    let mut add = |path: &str| {
        let module = path.replace('/', ".");
        if let Some(package) = module.strip_suffix(".init") {
            out.push(package.to_string());
        }
        out.push(module);
    };
    add(stem);
    for root in ["src/", "lua/", "lib/"] {
        if let Some(rest) = stem.strip_prefix(root) {
            add(rest);
        }
    }
    out
}

/// Modules the Lua provides itself (the standard library; LuaJIT's `jit`, `ffi` and `bit`).
fn built_in(module: &str, lua: LuaVersion) -> bool {
    let top = module.split('.').next().unwrap_or(module);
    STANDARD_MODULES.contains(&top)
        || (lua == LuaVersion::LuaJit && matches!(top, "jit" | "ffi" | "bit"))
        || (lua == LuaVersion::Lua52 && top == "bit32")
}

/// Module → the rocks that provide it, from what lvm has seen: built rocks in the store, and
/// rockspecs in the download cache and in `file://` server folders.
pub fn known_providers(env: &Environment) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if let Ok(store) = env.home().store() {
        for rock in store.list().unwrap_or_default() {
            let files = crate::tree::rockfiles::prefix_files(&rock.prefix);
            for module in crate::tree::rockfiles::module_names(&files) {
                out.entry(module)
                    .or_default()
                    .insert(rock.meta.name.clone());
            }
        }
    }
    let mut folders = vec![env.home().cache_dir()];
    folders.extend(
        env.config()
            .servers
            .iter()
            .filter_map(|url| url.strip_prefix("file://"))
            .map(PathBuf::from),
    );
    for folder in folders {
        for rockspec in rockspecs_under(&folder) {
            let Ok(spec) = crate::rockspec::Rockspec::from_file(&rockspec) else {
                continue;
            };
            let lua_entries = spec.build.install.lua.iter().filter_map(|e| e.name.clone());
            for module in spec.build.modules.keys().cloned().chain(lua_entries) {
                out.entry(module).or_default().insert(spec.package.clone());
            }
        }
    }
    out
}

fn rockspecs_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .max_depth(3)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "rockspec"))
        .collect()
}

/// What the environment has, for comparing with a scan.
pub struct Installed<'a> {
    pub manifest: &'a Manifest,
    /// Module → the installed package providing it.
    pub modules: BTreeMap<String, String>,
    /// Installed packages that install commands (`bin/`): tools run from the command line.
    pub with_commands: BTreeSet<String>,
    pub lua: LuaVersion,
}

impl<'a> Installed<'a> {
    pub fn read(env: &Environment, manifest: &'a Manifest) -> Installed<'a> {
        let tree = env.tree_path();
        let mut modules = BTreeMap::new();
        let mut with_commands = BTreeSet::new();
        for (name, p) in &manifest.packages {
            let dir = crate::tree::rock_dir(&tree, env.lua(), name, p.version.as_str());
            let files = crate::tree::rockfiles::installed_files(&tree, env.lua(), &dir);
            for module in crate::tree::rockfiles::module_names(&files) {
                modules.insert(module, name.clone());
            }
            if std::fs::read_dir(dir.join("bin")).is_ok_and(|mut d| d.next().is_some()) {
                with_commands.insert(name.clone());
            }
        }
        Installed {
            manifest,
            modules,
            with_commands,
            lua: env.lua(),
        }
    }
}

/// The recommendations a scan leads to (pure: everything read is passed in).
/// `test_tools` are the packages kept for tests whatever the code says (the profile's dev-only
/// packages, the curated testing collections' members); `dev_profile` is the profile data file
/// a `test-only` recommendation writes (its path, its profile name, whether it exists).
pub fn scan_recommendations(
    scan: &ProjectScan,
    installed: &Installed,
    providers: &BTreeMap<String, BTreeSet<String>>,
    test_tools: &BTreeSet<String>,
    dev_profile: &DevProfile,
) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let scanned = scan.dir.display().to_string();
    // Modules required, with where: all uses, and uses outside tests.
    let mut missing: BTreeMap<&str, Vec<&Use>> = BTreeMap::new();
    let mut used_by: BTreeMap<&str, (usize, usize)> = BTreeMap::new(); // package → (code, tests)
    for u in &scan.uses {
        let Some(module) = u.module.as_deref() else {
            continue;
        };
        if built_in(module, installed.lua) || scan.own_modules.contains(module) {
            continue;
        }
        match installed.modules.get(module) {
            Some(package) => {
                let counts = used_by.entry(package.as_str()).or_default();
                if u.test {
                    counts.1 += 1;
                } else {
                    counts.0 += 1;
                }
            }
            None if !u.optional => missing.entry(module).or_default().push(u),
            None => {}
        }
    }
    for (module, uses) in &missing {
        let at = format!("{}:{}", uses[0].file, uses[0].line);
        let more = if uses.len() > 1 {
            format!(" (and {} more)", uses.len() - 1)
        } else {
            String::new()
        };
        match best_provider(module, providers) {
            Some((package, others)) => out.push(Recommendation {
                rule: "missing-module",
                packages: vec![package.clone()],
                reason: format!(
                    "{at}{more} requires '{module}', which no installed package provides; {package} provides it{}",
                    if others.is_empty() {
                        String::new()
                    } else {
                        format!(" (so do {})", others.join(", "))
                    }
                ),
                command: install_command(std::slice::from_ref(&package)),
            }),
            None => out.push(Recommendation {
                rule: "missing-module",
                packages: vec![],
                reason: format!(
                    "{at}{more} requires '{module}', which no installed package provides, and no rock lvm has seen provides it either: lvm does not know which rock to install"
                ),
                command: format!(
                    "lvm search {}",
                    shell_word(module.split('.').next().unwrap_or(module))
                ),
            }),
        }
    }
    let dynamic = scan.dynamic().count();
    let caution = if dynamic > 0 {
        format!(
            "; {dynamic} require call(s) with a computed name could not be read (`lvm recommend --scan --json` lists them), check they do not need it"
        )
    } else {
        String::new()
    };
    let requested: Vec<&String> = installed
        .manifest
        .packages
        .iter()
        .filter(|(name, p)| p.is_requested() && !test_tools.contains(*name))
        .map(|(name, _)| name)
        .collect();
    let unused: Vec<String> = requested
        .iter()
        .filter(|name| !used_by.contains_key(name.as_str()))
        .filter(|name| !installed.with_commands.contains(**name))
        .map(|name| name.to_string())
        .collect();
    if !unused.is_empty() {
        out.push(Recommendation {
            rule: "unused",
            reason: format!(
                "none of the {} Lua files under {scanned} requires a module of {} (a package another one needs stays installed){caution}",
                scan.files,
                unused.join(", ")
            ),
            command: remove_command(&unused),
            packages: unused,
        });
    }
    let test_only: Vec<String> = requested
        .iter()
        .filter(|name| {
            used_by
                .get(name.as_str())
                .is_some_and(|(code, tests)| *code == 0 && *tests > 0)
        })
        .map(|name| name.to_string())
        .collect();
    if !test_only.is_empty() {
        out.push(Recommendation {
            rule: "test-only",
            reason: format!(
                "only tests under {scanned} require {}: make {} dev-only in profile {}, so `lvm setup {} --prod` leaves {} out",
                test_only.join(", "),
                if test_only.len() == 1 { "it" } else { "them" },
                dev_profile.name,
                dev_profile.name,
                if test_only.len() == 1 { "it" } else { "them" },
            ),
            command: dev_profile.command(installed.manifest, &test_only, test_tools),
            packages: test_only,
        });
    }
    out
}

/// The provider to recommend for a module (the one named like it, else the first by name) and
/// the others.
fn best_provider(
    module: &str,
    providers: &BTreeMap<String, BTreeSet<String>>,
) -> Option<(String, Vec<String>)> {
    let all = providers.get(module)?;
    let top = module.split('.').next().unwrap_or(module);
    let chosen = all
        .iter()
        .find(|p| {
            let bare = p.strip_prefix("lua-").unwrap_or(p);
            bare == top || bare.replace('-', "_") == top
        })
        .or_else(|| all.iter().next())?
        .clone();
    let others = all.iter().filter(|p| **p != chosen).cloned().collect();
    Some((chosen, others))
}

/// The project profile a `test-only` recommendation writes: the profile the environment
/// follows (else the one named like its profile branch), defined in the environment's own data
/// folder, which replaces the curated definition of that name.
pub struct DevProfile {
    pub name: String,
    pub file: PathBuf,
    pub exists: bool,
}

impl DevProfile {
    pub fn for_env(env: &Environment, active: Option<&ActiveProfile>) -> DevProfile {
        let name = active
            .map(|a| a.name.clone())
            .or_else(|| env.profile().ok())
            .unwrap_or_else(|| "default".to_string());
        let file = env
            .root()
            .join(super::data::DATA_DIR)
            .join(format!("{name}.toml"));
        DevProfile {
            exists: file.exists(),
            name,
            file,
        }
    }

    /// A command writing the profile: the requested packages with their constraints, the
    /// `dev` ones and the test tools as dev-only. When the file exists, what to change in it.
    fn command(
        &self,
        manifest: &Manifest,
        dev: &[String],
        test_tools: &BTreeSet<String>,
    ) -> String {
        let path = shell_word(&self.file.display().to_string());
        if self.exists {
            return format!(
                "# in {path}, move {} to dev_packages of [profile.{}]",
                dev.join(", "),
                self.name
            );
        }
        let entry = |name: &str| {
            let constraint = manifest.packages[name]
                .reason
                .requested
                .clone()
                .unwrap_or_default();
            let text = if constraint.is_empty() {
                name.to_string()
            } else {
                format!("{name} {constraint}")
            };
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
        };
        let (dev_list, regular): (Vec<&String>, Vec<&String>) = manifest
            .packages
            .iter()
            .filter(|(_, p)| p.is_requested())
            .map(|(n, _)| n)
            .partition(|n| dev.contains(n) || test_tools.contains(*n));
        let list = |names: &[&String]| {
            names
                .iter()
                .map(|n| entry(n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let toml = format!(
            "[profile.{}]\nsummary = \"This project's packages; test tools dev-only\"\npackages = [{}]\ndev_packages = [{}]\n",
            self.name,
            list(&regular),
            list(&dev_list)
        );
        let dir = shell_word(
            &self
                .file
                .parent()
                .unwrap_or(Path::new("."))
                .display()
                .to_string(),
        );
        format!(
            "mkdir -p {dir} && printf '%s' {} > {path}",
            shell_word(&toml)
        )
    }
}

/// The packages kept for tests whatever the code requires: the followed profile's dev-only
/// packages and the curated testing collections' members.
pub fn test_tools(catalog: &Catalog, active: Option<&ActiveProfile>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = catalog
        .collections
        .values()
        .filter(|c| c.category == "testing")
        .flat_map(|c| c.packages.iter().map(|p| p.name.clone()))
        .collect();
    if let Some(plan) = active.and_then(|a| catalog.plan(&a.name, false).ok()) {
        out.extend(plan.into_iter().filter(|p| p.dev).map(|p| p.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_files_are_told_apart() {
        for test in [
            "spec/app_spec.lua",
            "test/helpers.lua",
            "tests/unit/x.lua",
            "src/parser_test.lua",
            "app_spec.lua",
        ] {
            assert!(is_test_path(test), "{test}");
        }
        for code in ["src/app.lua", "spec.lua", "lua/specs/x.lua", "main.lua"] {
            assert!(!is_test_path(code), "{code}");
        }
    }

    #[test]
    fn own_modules_follow_the_usual_layouts() {
        assert_eq!(own_module_names("app.lua"), vec!["app"]);
        assert_eq!(
            own_module_names("src/app/util.lua"),
            vec!["src.app.util", "app.util"]
        );
        assert_eq!(
            own_module_names("lua/app/init.lua"),
            vec!["lua.app", "lua.app.init", "app", "app.init"]
        );
        assert!(own_module_names("README.md").is_empty());
    }

    #[test]
    fn providers_prefer_the_package_named_like_the_module() {
        let mut providers = BTreeMap::new();
        providers.insert(
            "cjson".to_string(),
            BTreeSet::from(["a-fork".to_string(), "lua-cjson".to_string()]),
        );
        assert_eq!(
            best_provider("cjson", &providers),
            Some(("lua-cjson".to_string(), vec!["a-fork".to_string()]))
        );
        assert_eq!(best_provider("absent", &providers), None);
        assert!(built_in("string", LuaVersion::Lua54));
        assert!(built_in("ffi", LuaVersion::LuaJit) && !built_in("ffi", LuaVersion::Lua54));
    }
}
