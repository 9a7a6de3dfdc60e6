//! `external_dependencies`: finding a rock's system headers and libraries before building, and
//! the `<NAME>_DIR` / `<NAME>_INCDIR` / `<NAME>_LIBDIR` variables that tell the build where they
//! are (as LuaRocks' `deps.check_external_deps` does).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::BuildError;
use super::vars::Variables;
use crate::rockspec::{Build, ExternalDependency, Module};

/// The folder below a prefix that holds programs (LuaRocks' `external_deps_subdirs.bin`).
const BIN_SUBDIR: &str = "bin";

/// Where external dependencies are looked for: LuaRocks' `external_deps_dirs` (prefixes, in
/// order) and the subdirectories of each that hold headers and libraries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDirs {
    pub prefixes: Vec<PathBuf>,
    /// Below each prefix: `include`.
    pub include_subdirs: Vec<String>,
    /// Below each prefix: `lib`, the multiarch `lib/x86_64-linux-gnu`, `lib64`.
    pub lib_subdirs: Vec<String>,
}

impl SearchDirs {
    /// LuaRocks' Unix defaults: `/usr/local`, `/usr`, `/`, with Debian's multiarch library
    /// directory (what `gcc -print-multiarch` names) between `lib` and `lib64`.
    pub fn system() -> SearchDirs {
        SearchDirs::under(vec!["/usr/local".into(), "/usr".into(), "/".into()])
    }

    /// LuaRocks' subdirectories below other prefixes.
    pub fn under(prefixes: Vec<PathBuf>) -> SearchDirs {
        SearchDirs {
            prefixes,
            include_subdirs: vec!["include".to_string()],
            lib_subdirs: lib_subdirs(),
        }
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
                        library: Some(library.clone()),
                        ..ExternalDependency::default()
                    },
                );
            }
        }
    }
    found
}

/// The file names LuaRocks tries for a library (`external_deps_patterns.lib`): `foo` is
/// `libfoo.a`, `libfoo.so`, then any `libfoo.so.*`; a name with an extension is also taken
/// literally. Wildcard names come last. Pure.
pub fn library_file_candidates(library: &str) -> Vec<String> {
    const PATTERNS: [&str; 3] = ["lib?.a", "lib?.so", "lib?.so.*"];
    let all = |stem: &str| PATTERNS.map(|p| p.replace('?', stem));
    let mut files = Vec::new();
    if has_extension(library) {
        // LuaRocks' convenience: `foo.so` means the platform's shared library extension.
        for pattern in PATTERNS {
            if let Some(stem) = deconstruct(library, pattern) {
                files.extend(all(&stem));
            }
        }
        files.push(library.to_string());
    } else {
        files.extend(all(library));
    }
    let (mut exact, wild): (Vec<String>, Vec<String>) =
        files.into_iter().partition(|f| !f.contains('*'));
    exact.extend(wild);
    exact
}

/// Whether a name looks like it has a file extension, as LuaRocks judges it
/// (`%.[a-z]+$` or `%.[a-z]+%.`).
fn has_extension(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| {
        if *b != b'.' {
            return false;
        }
        let letters = bytes[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_lowercase())
            .count();
        letters > 0 && matches!(bytes.get(i + 1 + letters), None | Some(b'.'))
    })
}

/// The part of `file` that stands for `?` in `pattern` (`lib?.so` on `libz.so` → `z`).
fn deconstruct(file: &str, pattern: &str) -> Option<String> {
    let (before, after) = pattern.split_once('?')?;
    if after.contains('*') {
        return None;
    }
    let stem = file.strip_prefix(before)?.strip_suffix(after)?;
    (!stem.is_empty()).then(|| stem.to_string())
}

/// The header file names LuaRocks tries (`?.h`): `foo` is `foo.h`; a name with an extension
/// is taken as written.
fn header_file_candidates(header: &str) -> Vec<String> {
    if has_extension(header) {
        vec![header.to_string()]
    } else {
        vec![format!("{header}.h")]
    }
}

/// Whether `dir` holds `file`, where `*` in `file` matches anything.
fn file_in_dir(dir: &Path, file: &str) -> bool {
    let Some((before, after)) = file.split_once('*') else {
        return dir.join(file).is_file();
    };
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.len() >= before.len() + after.len()
                && name.starts_with(before)
                && name.ends_with(after)
        })
    })
}

/// One kind of file a dependency names, and where it was looked for.
struct Probe<'a> {
    /// `BINDIR`, `INCDIR` or `LIBDIR`.
    dir_var: &'static str,
    /// `program`, `header` or `library`.
    kind: &'static str,
    /// What the rockspec wrote.
    wanted: Option<&'a str>,
    /// The file names tried, in LuaRocks' order.
    candidates: Vec<String>,
    /// The folders below a prefix that hold this kind of file.
    subdirs: &'a [String],
}

/// The three probes of LuaRocks' `check_external_dependency_at`, in its (sorted) order:
/// programs in `bin`, headers in the include folders, libraries in the library folders.
fn probes<'a>(
    dep: &'a ExternalDependency,
    dirs: &'a SearchDirs,
    bin: &'a [String],
) -> [Probe<'a>; 3] {
    let probe = |dir_var,
                 kind,
                 wanted: &'a Option<String>,
                 candidates: fn(&str) -> Vec<String>,
                 subdirs| {
        Probe {
            dir_var,
            kind,
            wanted: wanted.as_deref(),
            candidates: wanted.as_deref().map(candidates).unwrap_or_default(),
            subdirs,
        }
    };
    [
        probe(
            "BINDIR",
            "program",
            &dep.program,
            |p| vec![p.to_string()],
            bin,
        ),
        probe(
            "INCDIR",
            "header",
            &dep.header,
            header_file_candidates,
            &dirs.include_subdirs,
        ),
        probe(
            "LIBDIR",
            "library",
            &dep.library,
            library_file_candidates,
            &dirs.lib_subdirs,
        ),
    ]
}

/// LuaRocks' `autodetect_external_dependencies` also points the C modules that link libraries
/// without naming `incdirs` / `libdirs` at the detected dependencies' directories
/// (`$(Z_INCDIR)`, `$(Z_LIBDIR)`), when the rockspec declares no external dependencies.
pub fn add_autodetected_dirs(
    declared: &BTreeMap<String, ExternalDependency>,
    modules: &mut BTreeMap<String, Module>,
) {
    if !declared.is_empty() {
        return;
    }
    for module in modules.values_mut() {
        let Module::C(c) = module else { continue };
        let names: Vec<String> = c
            .libraries
            .iter()
            .map(|l| library_variable_name(l))
            .collect();
        if c.incdirs.is_empty() {
            c.incdirs = names.iter().map(|n| format!("$({n}_INCDIR)")).collect();
        }
        if c.libdirs.is_empty() {
            c.libdirs = names.iter().map(|n| format!("$({n}_LIBDIR)")).collect();
        }
    }
}

/// Looks for one external dependency as LuaRocks' `deps.check_external_deps` does and
/// returns its variables: `NAME_DIR` (the prefix it was found under), `NAME_BINDIR`,
/// `NAME_INCDIR`, `NAME_LIBDIR` and `NAME_BINDIR_FILE` / `NAME_INCDIR_FILE` /
/// `NAME_LIBDIR_FILE` for the file that was found. Prefixes are tried in order (`NAME_DIR` or
/// `DEPS_DIR` from `vars` replaces them); under one prefix, the program, the header and the
/// library the rockspec names must all be found (of a list, any one). `NAME_BINDIR` /
/// `NAME_INCDIR` / `NAME_LIBDIR` in `vars` name the one directory to look in.
pub fn find_external_dependency(
    name: &str,
    dep: &ExternalDependency,
    dirs: &SearchDirs,
    vars: &Variables,
) -> Result<Variables, BuildError> {
    let user = |suffix: &str| vars.get(&format!("{name}_{suffix}")).map(PathBuf::from);
    let prefixes = match user("DIR").or_else(|| vars.get("DEPS_DIR").map(PathBuf::from)) {
        Some(prefix) => vec![prefix],
        None => dirs.prefixes.clone(),
    };
    let bin = [BIN_SUBDIR.to_string()];
    let probes = probes(dep, dirs, &bin);
    // LuaRocks names every file it tried, under every prefix, for the probe that failed last.
    let mut failure: Option<&Probe> = None;
    let mut tried: Vec<PathBuf> = Vec::new();
    'prefixes: for prefix in &prefixes {
        let mut out = Variables::new();
        for probe in &probes {
            let paths: Vec<PathBuf> = match user(probe.dir_var) {
                Some(dir) => vec![dir],
                None => probe.subdirs.iter().map(|s| prefix.join(s)).collect(),
            };
            let mut found = (paths.first().cloned().unwrap_or_default(), None);
            if probe.wanted.is_some() {
                let hit = probe.candidates.iter().find_map(|file| {
                    paths
                        .iter()
                        .find(|d| file_in_dir(d, file))
                        .map(|d| (d.clone(), Some(file.clone())))
                });
                match hit {
                    Some(hit) => found = hit,
                    None => {
                        if failure.is_some_and(|p| p.kind != probe.kind) {
                            tried.clear();
                        }
                        tried.extend(
                            probe
                                .candidates
                                .iter()
                                .flat_map(|file| paths.iter().map(move |d| d.join(file))),
                        );
                        failure = Some(probe);
                        continue 'prefixes;
                    }
                }
            }
            out.insert(
                format!("{name}_{}", probe.dir_var),
                found.0.display().to_string(),
            );
            if let Some(file) = found.1 {
                out.insert(format!("{name}_{}_FILE", probe.dir_var), file);
            }
        }
        out.insert(format!("{name}_DIR"), prefix.display().to_string());
        return Ok(out);
    }
    let Some(probe) = failure else {
        // No prefix to look under (an empty search list): nothing can be found.
        let first = [&dep.program, &dep.header, &dep.library]
            .into_iter()
            .find_map(|wanted| wanted.clone());
        return Err(BuildError::ExternalDependency {
            name: name.to_string(),
            kind: "program, header or library",
            file: first.unwrap_or_default(),
            searched: Vec::new(),
            dir_var: "DIR",
            package: String::new(),
        });
    };
    let mut searched = Vec::new();
    for path in tried {
        if !searched.contains(&path) {
            searched.push(path);
        }
    }
    Err(BuildError::ExternalDependency {
        name: name.to_string(),
        kind: probe.kind,
        file: match probe.kind {
            "library" => library_display(probe.wanted.unwrap_or_default()),
            _ => probe.wanted.unwrap_or_default().to_string(),
        },
        searched,
        dir_var: probe.dir_var,
        package: String::new(),
    })
}

fn library_display(library: &str) -> String {
    if has_extension(library) {
        library.to_string()
    } else {
        format!("lib{library}.so or lib{library}.a")
    }
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
            ..ExternalDependency::default()
        }
    }

    /// LuaRocks' layout below fake prefixes `r/usr/local` and `r/usr`.
    fn dirs_under(r: &Path) -> SearchDirs {
        SearchDirs {
            prefixes: vec![r.join("usr/local"), r.join("usr")],
            include_subdirs: vec!["include".into()],
            lib_subdirs: vec!["lib".into(), "lib/x86_64-linux-gnu".into(), "lib64".into()],
        }
    }

    #[test]
    fn a_library_in_the_multiarch_dir_gives_the_prefix_it_is_under() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        touch(&r.join("usr/include/foo/foo.h"));
        touch(&r.join("usr/lib/x86_64-linux-gnu/libfoo.so.3"));
        let vars = find_external_dependency(
            "FOO",
            &dep(Some("foo/foo.h"), Some("foo")),
            &dirs_under(r),
            &Variables::new(),
        )
        .expect("found");
        let at = |p: &str| r.join(p).display().to_string();
        assert_eq!(vars["FOO_DIR"], at("usr"));
        assert_eq!(vars["FOO_INCDIR"], at("usr/include"));
        assert_eq!(vars["FOO_LIBDIR"], at("usr/lib/x86_64-linux-gnu"));
        assert_eq!(vars["FOO_BINDIR"], at("usr/bin"));
        assert_eq!(vars["FOO_INCDIR_FILE"], "foo/foo.h");
        assert_eq!(vars["FOO_LIBDIR_FILE"], "libfoo.so.*");
    }

    #[test]
    fn header_and_library_must_be_under_one_prefix() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        // The header alone under /usr/local does not make /usr/local the prefix.
        touch(&r.join("usr/local/include/bar.h"));
        touch(&r.join("usr/include/bar.h"));
        touch(&r.join("usr/lib64/libbar.a"));
        let vars = find_external_dependency(
            "BAR",
            &dep(Some("bar.h"), Some("bar")),
            &dirs_under(r),
            &Variables::new(),
        )
        .expect("found");
        assert_eq!(vars["BAR_DIR"], r.join("usr").display().to_string());
        assert_eq!(
            vars["BAR_LIBDIR"],
            r.join("usr/lib64").display().to_string()
        );
        assert_eq!(vars["BAR_LIBDIR_FILE"], "libbar.a");
    }

    #[test]
    fn a_header_only_dependency_gets_the_lib_dir_of_its_prefix() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        touch(&r.join("usr/include/h.h"));
        let vars = find_external_dependency(
            "H",
            &dep(Some("h.h"), None),
            &dirs_under(r),
            &Variables::new(),
        )
        .expect("found");
        assert_eq!(vars["H_LIBDIR"], r.join("usr/lib").display().to_string());
        assert!(!vars.contains_key("H_LIBDIR_FILE"));
    }

    #[test]
    fn a_program_is_looked_for_in_the_bin_folder_of_the_prefix() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        touch(&r.join("usr/bin/pkgtool"));
        touch(&r.join("usr/local/include/p.h"));
        let dep = ExternalDependency {
            program: Some("pkgtool".into()),
            ..ExternalDependency::default()
        };
        let vars =
            find_external_dependency("P", &dep, &dirs_under(r), &Variables::new()).expect("found");
        // /usr/local has no program: the prefix is /usr.
        assert_eq!(vars["P_DIR"], r.join("usr").display().to_string());
        assert_eq!(vars["P_BINDIR"], r.join("usr/bin").display().to_string());
        assert_eq!(vars["P_BINDIR_FILE"], "pkgtool");

        let missing = ExternalDependency {
            program: Some("nope".into()),
            ..ExternalDependency::default()
        };
        let err = find_external_dependency("P", &missing, &dirs_under(r), &Variables::new())
            .expect_err("missing");
        let msg = err.to_string();
        assert!(msg.contains("program `nope`"), "{msg}");
        assert!(msg.contains("P_BINDIR"), "{msg}");
        assert!(
            msg.contains(&r.join("usr/bin/nope").display().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn library_candidates_follow_luarocks_patterns() {
        assert_eq!(
            library_file_candidates("ssl"),
            ["libssl.a", "libssl.so", "libssl.so.*"]
        );
        assert_eq!(
            library_file_candidates("libz.so"),
            ["libz.a", "libz.so", "libz.so", "libz.so.*"]
        );
        assert_eq!(
            library_file_candidates("stdc++"),
            ["libstdc++.a", "libstdc++.so", "libstdc++.so.*"]
        );
        assert!(has_extension("x.so.1") && has_extension("a.h") && !has_extension("lua5.4"));
    }

    #[test]
    fn missing_header_names_dependency_file_and_dirs() {
        let root = tempfile::tempdir().expect("tempdir");
        let err = find_external_dependency(
            "ZZ",
            &dep(Some("zz.h"), None),
            &dirs_under(root.path()),
            &Variables::new(),
        )
        .expect_err("must be missing");
        let msg = err.to_string();
        assert!(msg.contains("ZZ") && msg.contains("header `zz.h`"), "{msg}");
        assert!(
            msg.contains(&root.path().join("usr/include/zz.h").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("ZZ_INCDIR"), "{msg}");
    }

    #[test]
    fn missing_library_is_reported_as_library() {
        let root = tempfile::tempdir().expect("tempdir");
        let err = find_external_dependency(
            "Q",
            &dep(None, Some("q")),
            &dirs_under(root.path()),
            &Variables::new(),
        )
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
    fn user_dir_variables_redirect_the_search() {
        let root = tempfile::tempdir().expect("tempdir");
        let opt = root.path().join("opt/foo");
        touch(&opt.join("include/foo.h"));
        touch(&opt.join("lib/libfoo.so"));
        let mut user = Variables::new();
        user.insert("FOO_DIR".into(), opt.display().to_string());
        let vars = find_external_dependency(
            "FOO",
            &dep(Some("foo.h"), Some("foo")),
            &SearchDirs::system(),
            &user,
        )
        .expect("found");
        assert_eq!(vars["FOO_DIR"], opt.display().to_string());
        assert_eq!(
            vars["FOO_INCDIR"],
            opt.join("include").display().to_string()
        );
        assert_eq!(vars["FOO_LIBDIR"], opt.join("lib").display().to_string());
        // FOO_LIBDIR alone narrows the library search to that one directory.
        let mut narrowed = user.clone();
        narrowed.insert(
            "FOO_LIBDIR".into(),
            root.path().join("elsewhere").display().to_string(),
        );
        let err = find_external_dependency(
            "FOO",
            &dep(Some("foo.h"), Some("foo")),
            &SearchDirs::system(),
            &narrowed,
        )
        .expect_err("not in the named libdir");
        assert!(err.to_string().contains("elsewhere"), "{err}");
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
    fn system_dirs_are_luarocks_prefixes_with_multiarch() {
        let dirs = SearchDirs::system();
        assert_eq!(
            dirs.prefixes,
            [Path::new("/usr/local"), Path::new("/usr"), Path::new("/")]
        );
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(dirs.lib_subdirs, ["lib", "lib/x86_64-linux-gnu", "lib64"]);
        }
    }
}
