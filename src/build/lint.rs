//! What `lvm lint` can tell about a rockspec's build from its text alone: where each module
//! and `build.install` entry would be installed, names the build would refuse, and two
//! entries that would write the same file from different sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::builtin::{Plan, plan_module};
use super::install::{install_destination, install_field};
use crate::rockspec::{Build, BuildType, Problem, Severity};

/// The problems with where `build`'s files would go. A `build.install` entry may name a file
/// a `builtin` C module builds (`install.lib = {"ssl.so"}` beside `modules.ssl`, as luasec
/// does): the module is linked in the build directory first, so that works and is not flagged.
pub fn lint_destinations(build: &Build) -> Vec<Problem> {
    let mut problems = Vec::new();
    // Destination in the rock → (field, the file it comes from in the build directory).
    let mut writers: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    let mut record =
        |problems: &mut Vec<Problem>, dest: PathBuf, field: String, from: String| match writers
            .get(&dest)
        {
            Some((other, other_from)) if *other_from != from => problems.push(Problem {
                path: field,
                line: None,
                message: format!(
                    "installs {} from `{from}`, which {other} installs from `{other_from}`: only \
                     one of them ends up in the rock; drop one or give them different names",
                    dest.display()
                ),
                severity: Severity::Warning,
            }),
            Some(_) => {}
            None => {
                writers.insert(dest, (field, from));
            }
        };
    if build.kind == BuildType::Builtin {
        for (name, module) in &build.modules {
            let field = format!("build.modules[{name:?}]");
            match plan_module(name, module) {
                Ok(Plan::Lua { source, dest }) => record(&mut problems, dest, field, source),
                Ok(Plan::C { dest, .. }) => {
                    let built = dest.strip_prefix("lib").unwrap_or(&dest).to_path_buf();
                    record(&mut problems, dest, field, built.display().to_string());
                }
                Err(e) => problems.push(error(field, e.to_string())),
            }
        }
    }
    for (kind, entries) in build.install.groups() {
        for (i, entry) in entries.iter().enumerate() {
            let field = install_field(kind, entry, i);
            match install_destination(kind, entry, &field) {
                Ok(dest) => {
                    let from = normalized(&entry.path);
                    record(&mut problems, dest, field, from);
                }
                Err(e) => problems.push(error(field, e.to_string())),
            }
        }
    }
    problems
}

fn error(path: String, message: String) -> Problem {
    Problem {
        path,
        line: None,
        message,
        severity: Severity::Error,
    }
}

/// `./a//b.so` and `a/b.so` are the same file.
fn normalized(path: &str) -> String {
    Path::new(path)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect::<PathBuf>()
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rockspec::{CModule, InstallEntry, Module};

    /// An entry `key = path` (`None`: a list item).
    fn entry(key: Option<&str>, path: &str) -> InstallEntry {
        let name = key.map(String::from);
        InstallEntry {
            path: path.into(),
            name,
        }
    }

    #[test]
    fn an_install_entry_may_name_a_module_the_build_links() {
        let mut build = Build::default();
        build.modules.insert(
            "ssl".into(),
            Module::C(CModule {
                sources: vec!["src/ssl.c".into()],
                ..CModule::default()
            }),
        );
        build.install.lib.push(entry(None, "./ssl.so"));
        build.install.lua.push(entry(None, "src/ssl.lua"));
        assert_eq!(lint_destinations(&build), []);
    }

    #[test]
    fn two_sources_for_one_file_and_unsafe_keys_are_flagged() {
        let mut build = Build::default();
        build
            .modules
            .insert("a".into(), Module::Lua("src/a.lua".into()));
        build.install.lua.push(entry(Some("a"), "other/a.lua"));
        build.install.conf.push(entry(Some("../etc/x"), "x.conf"));
        let problems = lint_destinations(&build);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].path, "build.install.lua[\"a\"]");
        assert_eq!(problems[0].severity, Severity::Warning);
        assert!(problems[0].message.contains("src/a.lua"), "{problems:?}");
        assert_eq!(problems[1].severity, Severity::Error);
        assert!(problems[1].message.contains("../etc/x"), "{problems:?}");
    }
}
