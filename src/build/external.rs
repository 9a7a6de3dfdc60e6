//! `external_dependencies`: finding a rock's system headers and libraries before building, and
//! the `<NAME>_DIR` / `<NAME>_INCDIR` / `<NAME>_LIBDIR` variables that tell the build where they
//! are (as LuaRocks' `deps.check_external_deps` does).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::BuildError;
use super::vars::Variables;
use crate::rockspec::{Build, ExternalDependency, Module};

/// Where headers and libraries are looked for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDirs {
    pub include: Vec<PathBuf>,
    pub lib: Vec<PathBuf>,
}

impl SearchDirs {
    /// The system's default directories: `/usr/local` before `/usr`, with the Debian multiarch
    /// subdirectories (`/usr/include/x86_64-linux-gnu`, `/usr/lib/x86_64-linux-gnu`).
    pub fn system() -> SearchDirs {
        let mut include = Vec::new();
        let mut lib = Vec::new();
        for prefix in ["/usr/local", "/usr", "/"] {
            let prefix = Path::new(prefix);
            include.push(prefix.join("include"));
            lib.extend(lib_subdirs().iter().map(|sub| prefix.join(sub)));
        }
        if let Some(triple) = multiarch_triple() {
            include.push(Path::new("/usr/include").join(triple));
        }
        SearchDirs { include, lib }
    }
}

/// The multiarch tuple Debian installs libraries under, for the running architecture.
fn multiarch_triple() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let arch = match std::env::consts::ARCH {
        "x86" => "i386",
        "arm" => "arm",
        other => other,
    };
    let abi = if arch == "arm" { "gnueabihf" } else { "gnu" };
    Some(format!("{arch}-linux-{abi}"))
}

fn lib_subdirs() -> Vec<String> {
    let mut subs = vec!["lib".to_string()];
    if let Some(triple) = multiarch_triple() {
        subs.push(format!("lib/{triple}"));
    }
    subs.push("lib64".to_string());
    subs
}

/// The variable prefix LuaRocks derives from a library name when a rock lists libraries but no
/// external dependencies (`ssl` → `SSL`, `stdc++` → `STDCPP`).
fn library_variable_name(library: &str) -> String {
    library
        .to_uppercase()
        .replace('+', "P")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The external dependencies to check: the rockspec's own, or, when it declares none, one per
/// library linked by a `builtin` C module (LuaRocks' autodetection).
pub fn dependencies_to_check(
    declared: &BTreeMap<String, ExternalDependency>,
    build: &Build,
) -> BTreeMap<String, ExternalDependency> {
    if !declared.is_empty() {
        return declared.clone();
    }
    let mut found = BTreeMap::new();
    for module in build.modules.values() {
        if let Module::C(c) = module {
            for library in &c.libraries {
                found.insert(
                    library_variable_name(library),
                    ExternalDependency {
                        header: None,
                        library: Some(library.clone()),
                    },
                );
            }
        }
    }
    found
}

/// Looks for one external dependency and returns the variables to add (`NAME_DIR`,
/// `NAME_BINDIR`, `NAME_INCDIR`, `NAME_LIBDIR`). Variables already in `vars` (given by the user)
/// are kept and restrict the search: `NAME_INCDIR`/`NAME_LIBDIR` name the one directory to look
/// in, `NAME_DIR` a prefix with `include` and `lib` below it.
pub fn find_external_dependency(
    name: &str,
    dep: &ExternalDependency,
    dirs: &SearchDirs,
    vars: &Variables,
) -> Result<Variables, BuildError> {
    let user = |suffix: &str| vars.get(&format!("{name}_{suffix}")).map(PathBuf::from);
    let user_prefix = user("DIR");
    let include_dirs = match (user("INCDIR"), &user_prefix) {
        (Some(d), _) => vec![d],
        (None, Some(p)) => vec![p.join("include")],
        (None, None) => dirs.include.clone(),
    };
    let lib_dirs = match (user("LIBDIR"), &user_prefix) {
        (Some(d), _) => vec![d],
        (None, Some(p)) => lib_subdirs().iter().map(|s| p.join(s)).collect(),
        (None, None) => dirs.lib.clone(),
    };

    let incdir = match &dep.header {
        Some(header) => Some(
            include_dirs
                .iter()
                .find(|d| d.join(header).is_file())
                .cloned()
                .ok_or_else(|| BuildError::ExternalDependency {
                    name: name.to_string(),
                    kind: "header",
                    file: header.clone(),
                    searched: include_dirs.clone(),
                    dir_var: "INCDIR",
                })?,
        ),
        None => None,
    };
    let libdir = match &dep.library {
        Some(library) => Some(
            lib_dirs
                .iter()
                .find(|d| library_in_dir(d, library))
                .cloned()
                .ok_or_else(|| BuildError::ExternalDependency {
                    name: name.to_string(),
                    kind: "library",
                    file: library_display(library),
                    searched: lib_dirs.clone(),
                    dir_var: "LIBDIR",
                })?,
        ),
        None => None,
    };

    let incdir = incdir
        .or_else(|| include_dirs.first().cloned())
        .unwrap_or_default();
    let libdir = libdir
        .or_else(|| lib_dirs.first().cloned())
        .unwrap_or_default();
    let prefix = user_prefix
        .or_else(|| prefix_of(&incdir, &["include"]))
        .or_else(|| prefix_of(&libdir, &["lib", "lib64"]))
        .unwrap_or_else(|| PathBuf::from("/usr"));
    let mut out = Variables::new();
    for (suffix, value) in [
        ("DIR", prefix.clone()),
        ("BINDIR", prefix.join("bin")),
        ("INCDIR", incdir),
        ("LIBDIR", libdir),
    ] {
        let key = format!("{name}_{suffix}");
        if !vars.contains_key(&key) {
            out.insert(key, value.display().to_string());
        }
    }
    Ok(out)
}

/// The file names a `library` entry may be installed as: `foo` is `libfoo.a`, `libfoo.so` or
/// `libfoo.so.<version>`; a name with an extension is taken literally.
fn library_in_dir(dir: &Path, library: &str) -> bool {
    if has_library_extension(library) {
        return dir.join(library).is_file();
    }
    let exact = [format!("lib{library}.a"), format!("lib{library}.so")];
    if exact.iter().any(|f| dir.join(f).is_file()) {
        return true;
    }
    let versioned = format!("lib{library}.so.");
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&versioned))
    })
}

fn has_library_extension(library: &str) -> bool {
    library.ends_with(".a")
        || library.ends_with(".so")
        || library.contains(".so.")
        || library.ends_with(".dylib")
}

fn library_display(library: &str) -> String {
    if has_library_extension(library) {
        library.to_string()
    } else {
        format!("lib{library}.so or lib{library}.a")
    }
}

/// The install prefix of a directory found by the search: `/usr` for `/usr/include` and
/// `/usr/lib/x86_64-linux-gnu`.
fn prefix_of(dir: &Path, markers: &[&str]) -> Option<PathBuf> {
    dir.ancestors()
        .find(|a| {
            a.file_name()
                .is_some_and(|n| markers.iter().any(|m| n == *m))
        })
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rockspec::CModule;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, "").expect("write");
    }

    fn dep(header: Option<&str>, library: Option<&str>) -> ExternalDependency {
        ExternalDependency {
            header: header.map(str::to_string),
            library: library.map(str::to_string),
        }
    }

    #[test]
    fn finds_header_and_library_and_sets_variables() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        touch(&r.join("usr/include/foo/foo.h"));
        touch(&r.join("usr/lib/x86_64-linux-gnu/libfoo.so.3"));
        let dirs = SearchDirs {
            include: vec![r.join("usr/local/include"), r.join("usr/include")],
            lib: vec![r.join("usr/local/lib"), r.join("usr/lib/x86_64-linux-gnu")],
        };
        let vars = find_external_dependency(
            "FOO",
            &dep(Some("foo/foo.h"), Some("foo")),
            &dirs,
            &Variables::new(),
        )
        .expect("found");
        assert_eq!(
            vars["FOO_INCDIR"],
            r.join("usr/include").display().to_string()
        );
        assert_eq!(
            vars["FOO_LIBDIR"],
            r.join("usr/lib/x86_64-linux-gnu").display().to_string()
        );
        assert_eq!(vars["FOO_DIR"], r.join("usr").display().to_string());
        assert_eq!(vars["FOO_BINDIR"], r.join("usr/bin").display().to_string());
    }

    #[test]
    fn static_library_counts() {
        let root = tempfile::tempdir().expect("tempdir");
        touch(&root.path().join("lib/libbar.a"));
        let dirs = SearchDirs {
            include: vec![],
            lib: vec![root.path().join("lib")],
        };
        assert!(
            find_external_dependency("BAR", &dep(None, Some("bar")), &dirs, &Variables::new())
                .is_ok()
        );
    }

    #[test]
    fn missing_header_names_dependency_file_and_dirs() {
        let root = tempfile::tempdir().expect("tempdir");
        let dirs = SearchDirs {
            include: vec![root.path().join("a"), root.path().join("b")],
            lib: vec![],
        };
        let err =
            find_external_dependency("ZZ", &dep(Some("zz.h"), None), &dirs, &Variables::new())
                .expect_err("must be missing");
        let msg = err.to_string();
        assert!(msg.contains("ZZ") && msg.contains("header `zz.h`"), "{msg}");
        assert!(
            msg.contains(&root.path().join("b").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("ZZ_INCDIR"), "{msg}");
    }

    #[test]
    fn missing_library_is_reported_as_library() {
        let root = tempfile::tempdir().expect("tempdir");
        let dirs = SearchDirs {
            include: vec![],
            lib: vec![root.path().to_path_buf()],
        };
        let err = find_external_dependency("Q", &dep(None, Some("q")), &dirs, &Variables::new())
            .expect_err("missing");
        assert!(
            matches!(
                err,
                BuildError::ExternalDependency {
                    kind: "library",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("libq.so"));
    }

    #[test]
    fn user_dir_variables_redirect_the_search_and_are_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let opt = root.path().join("opt/foo");
        touch(&opt.join("include/foo.h"));
        touch(&opt.join("lib/libfoo.so"));
        let empty = SearchDirs {
            include: vec![],
            lib: vec![],
        };
        let mut user = Variables::new();
        user.insert("FOO_DIR".into(), opt.display().to_string());
        let vars = find_external_dependency("FOO", &dep(Some("foo.h"), Some("foo")), &empty, &user)
            .expect("found");
        assert!(
            !vars.contains_key("FOO_DIR"),
            "user value is kept, not overwritten"
        );
        assert_eq!(
            vars["FOO_INCDIR"],
            opt.join("include").display().to_string()
        );
        assert_eq!(vars["FOO_LIBDIR"], opt.join("lib").display().to_string());
    }

    #[test]
    fn libraries_of_c_modules_become_dependencies_when_none_are_declared() {
        let mut build = Build::default();
        build.modules.insert(
            "x".into(),
            Module::C(CModule {
                sources: vec!["x.c".into()],
                libraries: vec!["stdc++".into(), "z".into()],
                ..CModule::default()
            }),
        );
        let deps = dependencies_to_check(&BTreeMap::new(), &build);
        assert_eq!(deps.keys().collect::<Vec<_>>(), ["STDCPP", "Z"]);
        let mut declared = BTreeMap::new();
        declared.insert("OTHER".to_string(), dep(Some("o.h"), None));
        assert_eq!(dependencies_to_check(&declared, &build), declared);
    }

    #[test]
    fn system_dirs_include_multiarch_on_linux() {
        let dirs = SearchDirs::system();
        assert!(dirs.include.contains(&PathBuf::from("/usr/include")));
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert!(
                dirs.include
                    .contains(&PathBuf::from("/usr/include/x86_64-linux-gnu"))
            );
            assert!(
                dirs.lib
                    .contains(&PathBuf::from("/usr/lib/x86_64-linux-gnu"))
            );
        }
    }
}
