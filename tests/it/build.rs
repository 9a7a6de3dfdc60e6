//! Building fixture rocks for real (C compiler, make, cmake, shell) into rock directories, and
//! loading the built C modules with Debian's `lua5.4`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use lvm::build::{
    BuildContext, BuildError, BuildReport, build_rock, lua_headers, write_lua_headers,
};
use lvm::rockspec::{
    Build, BuildType, CModule, Description, ExternalDependency, InstallEntry, Module, Rockspec,
    RockspecFormat, Source,
};
use lvm::version::Version;
use tempfile::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/build")
        .join(name)
}

/// A scratch area: a copy of the fixture's sources (builds write objects there), an empty rock
/// directory and the bundled Lua headers.
struct Scratch {
    _tmp: TempDir,
    src: PathBuf,
    prefix: PathBuf,
    ctx: BuildContext,
}

fn scratch(fixture_name: Option<&str>) -> Scratch {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).expect("mkdir src");
    if let Some(name) = fixture_name {
        copy_dir(&fixture(name), &src);
    }
    let prefix = tmp.path().join("rock");
    fs::create_dir_all(&prefix).expect("mkdir rock");
    let inc = tmp.path().join("lua-include");
    write_lua_headers(&inc).expect("headers");
    // Only PATH from the environment, so a developer's CC/CFLAGS do not change the results.
    let ctx = BuildContext::from_vars(lvm::luaversion::LuaVersion::Lua54, &inc, None, |k| {
        if k == "PATH" {
            std::env::var(k).ok()
        } else {
            None
        }
    });
    Scratch {
        _tmp: tmp,
        src,
        prefix,
        ctx,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk fixture");
        let dest = to.join(entry.path().strip_prefix(from).expect("below fixture"));
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest).expect("mkdir");
        } else {
            fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

fn rockspec(name: &str, build: Build) -> Rockspec {
    Rockspec {
        format: RockspecFormat::V3_0,
        package: name.to_string(),
        version: Version::parse("1.0-1").expect("version"),
        description: Description::default(),
        source: Source {
            url: format!("file:///nowhere/{name}.tar.gz"),
            ..Source::default()
        },
        dependencies: Vec::new(),
        build_dependencies: Vec::new(),
        test_dependencies: Vec::new(),
        external_dependencies: BTreeMap::new(),
        supported_platforms: Vec::new(),
        build,
        test: None,
    }
}

fn lua_module(path: &str) -> Module {
    Module::Lua(path.to_string())
}

fn entry(name: Option<&str>, path: &str) -> InstallEntry {
    InstallEntry {
        name: name.map(str::to_string),
        path: path.to_string(),
    }
}

fn files(report: &BuildReport) -> Vec<String> {
    report
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Runs `code` in Debian's `lua5.4` with `<prefix>/lib` on `package.cpath` and `<prefix>/lua`
/// on `package.path`, and returns its standard output.
fn run_lua(prefix: &Path, code: &str) -> String {
    let script = format!(
        "package.cpath = {:?} .. ';' .. package.cpath; package.path = {:?} .. ';' .. package.path; {code}",
        format!("{}/lib/?.so", prefix.display()),
        format!(
            "{}/lua/?.lua;{}/lua/?/init.lua",
            prefix.display(),
            prefix.display()
        ),
    );
    let out = Command::new("lua5.4")
        .args(["-e", &script])
        .output()
        .expect("run lua5.4 (apt-get install lua5.4)");
    assert!(
        out.status.success(),
        "lua5.4 failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn embedded_lua_h_is_lua_5_4() {
    let (_, lua_h) = lua_headers()
        .iter()
        .find(|(n, _)| *n == "lua.h")
        .expect("lua.h bundled");
    let text = String::from_utf8_lossy(lua_h);
    let num = text
        .lines()
        .filter_map(|l| l.strip_prefix("#define LUA_VERSION_NUM"))
        .map(str::trim)
        .find(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(num, Some("504"));
}

#[test]
fn pure_lua_builtin_with_install_and_copy_directories() {
    let s = scratch(Some("pure"));
    let mut build = Build::default();
    build
        .modules
        .insert("pure".into(), lua_module("src/pure.lua"));
    build
        .modules
        .insert("pure.util".into(), lua_module("src/pure/util.lua"));
    build
        .modules
        .insert("pure.sub".into(), lua_module("src/pure/sub/init.lua"));
    build
        .install
        .bin
        .push(entry(Some("pure-tool"), "bin/pure-tool"));
    build.install.conf.push(entry(None, "etc/pure.conf"));
    build.copy_directories = Some(vec!["samples".into()]);
    let report = build_rock(&rockspec("pure", build), &s.src, &s.prefix, &s.ctx).expect("build");

    assert_eq!(
        files(&report),
        [
            "bin/pure-tool",
            "conf/pure.conf",
            "lua/pure/sub/init.lua",
            "lua/pure/util.lua",
            "lua/pure.lua",
            "samples/hello.lua",
            "samples/nested/data.txt",
        ]
    );
    assert!(
        report.commands.is_empty(),
        "a pure-Lua rock runs no commands"
    );
    #[cfg(unix)]
    {
        assert_eq!(
            mode(&s.prefix.join("bin/pure-tool")),
            0o755,
            "scripts are executable"
        );
        assert_eq!(mode(&s.prefix.join("lua/pure.lua")), 0o644);
    }
    assert_eq!(
        fs::read_to_string(s.prefix.join("lua/pure/util.lua")).expect("read"),
        fs::read_to_string(fixture("pure/src/pure/util.lua")).expect("read")
    );
    assert_eq!(
        run_lua(
            &s.prefix,
            "print(require('pure').twice(21), require('pure.sub').sub)"
        ),
        "42\ttrue"
    );
}

#[test]
fn none_build_installs_files_and_default_docs() {
    let s = scratch(Some("pure"));
    let mut build = Build {
        kind: BuildType::None,
        ..Build::default()
    };
    build
        .install
        .lua
        .push(entry(Some("pure.init"), "src/pure.lua"));
    build
        .install
        .lua
        .push(entry(Some("pure.util"), "src/pure/util.lua"));
    build
        .modules
        .insert("ignored".into(), lua_module("does/not/exist.lua"));
    let report = build_rock(&rockspec("pure", build), &s.src, &s.prefix, &s.ctx).expect("build");
    // No doc/ or docs/ directory in the sources: README.md is the default documentation.
    assert_eq!(
        files(&report),
        ["doc/README.md", "lua/pure/init.lua", "lua/pure/util.lua"]
    );
}

#[test]
fn c_module_builtin_compiles_and_loads_in_lua() {
    let s = scratch(Some("cmod"));
    let mut build = Build::default();
    build.modules.insert(
        "geo.core".into(),
        Module::C(CModule {
            sources: vec!["src/core.c".into(), "src/hypot.c".into()],
            incdirs: vec!["include".into(), "$(LIBM_INCDIR)".into()],
            libdirs: vec!["$(LIBM_LIBDIR)".into()],
            libraries: vec!["m".into()],
            defines: vec!["GEO_SCALE=10".into()],
        }),
    );
    let mut spec = rockspec("geo", build);
    spec.external_dependencies.insert(
        "LIBM".into(),
        ExternalDependency {
            header: Some("math.h".into()),
            library: Some("m".into()),
            ..ExternalDependency::default()
        },
    );
    let report = build_rock(&spec, &s.src, &s.prefix, &s.ctx).expect("build");

    assert_eq!(files(&report), ["lib/geo/core.so"]);
    let steps: Vec<&str> = report.commands.iter().map(|c| c.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "compiling src/core.c for module geo.core",
            "compiling src/hypot.c for module geo.core",
            "linking module geo.core"
        ]
    );
    let compile = &report.commands[0].command;
    assert!(
        compile.contains("-DGEO_SCALE=10") && compile.contains("-Iinclude"),
        "{compile}"
    );
    assert!(
        compile.contains(&format!("-I{}", s.ctx.lua_incdir.display())),
        "{compile}"
    );
    assert!(
        report.commands[2].command.contains("-lm"),
        "{}",
        report.commands[2].command
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let out = run_lua(
        &s.prefix,
        "local g = require('geo.core'); assert(g.hypot(3, 4) == 50); assert(g.version() == 504); print(g.name)",
    );
    assert_eq!(out, "geo");
}

/// A module `name` built from `src/shared.c` (compiled with `-DWHO=who`) and its own
/// `src/<name>.c`, whose `luaopen` returns `{ who = shared_who() }`.
fn shared_source_module(src: &Path, name: &str, who: u32) -> Module {
    fs::write(
        src.join(format!("src/{name}.c")),
        format!(
            "#include <lua.h>\nint shared_who(void);\nint luaopen_{name}(lua_State *L) {{\n  lua_newtable(L);\n  lua_pushinteger(L, shared_who());\n  lua_setfield(L, -2, \"who\");\n  return 1;\n}}\n"
        ),
    )
    .expect("write module source");
    Module::C(CModule {
        sources: vec!["src/shared.c".into(), format!("src/{name}.c")],
        defines: vec![format!("WHO={who}")],
        ..CModule::default()
    })
}

#[test]
fn c_modules_compile_side_by_side_and_a_shared_source_keeps_each_modules_flags() {
    let s = scratch(None);
    fs::create_dir_all(s.src.join("src")).expect("mkdir");
    fs::write(
        s.src.join("src/shared.c"),
        "int shared_who(void) { return WHO; }\n",
    )
    .expect("write shared source");
    let mut build = Build::default();
    // `one` and `two` both compile src/shared.c into src/shared.o with their own WHO; `three`
    // and `four` have no file in common with `two` and compile beside it.
    build
        .modules
        .insert("one".into(), shared_source_module(&s.src, "one", 1));
    build
        .modules
        .insert("two".into(), shared_source_module(&s.src, "two", 2));
    for (name, who) in [("three", 3), ("four", 4)] {
        let source = format!("src/{name}.c");
        shared_source_module(&s.src, name, who);
        fs::write(
            s.src.join(format!("src/{name}_who.c")),
            format!("int shared_who(void) {{ return {who}; }}\n"),
        )
        .expect("write own source");
        build.modules.insert(
            name.into(),
            Module::C(CModule {
                sources: vec![source, format!("src/{name}_who.c")],
                ..CModule::default()
            }),
        );
    }
    let ctx = BuildContext {
        jobs: 4,
        ..s.ctx.clone()
    };
    let report = build_rock(&rockspec("who", build), &s.src, &s.prefix, &ctx).expect("build");
    assert_eq!(
        files(&report),
        ["lib/four.so", "lib/one.so", "lib/three.so", "lib/two.so"]
    );
    // Modules in name order (four, one, three, two): the first three compile as one batch,
    // then link; `two`, compiling shared.c again with its own flags, follows alone.
    let steps: Vec<&str> = report.commands.iter().map(|c| c.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "compiling src/four.c for module four",
            "compiling src/four_who.c for module four",
            "compiling src/shared.c for module one",
            "compiling src/one.c for module one",
            "compiling src/three.c for module three",
            "compiling src/three_who.c for module three",
            "linking module four",
            "linking module one",
            "linking module three",
            "compiling src/shared.c for module two",
            "compiling src/two.c for module two",
            "linking module two",
        ]
    );
    let out = run_lua(
        &s.prefix,
        "print(require('one').who, require('two').who, require('three').who, require('four').who)",
    );
    assert_eq!(out, "1\t2\t3\t4");
}

#[test]
fn c_module_from_a_single_source_string() {
    let s = scratch(Some("makerock"));
    let mut build = Build::default();
    build.modules.insert("mk".into(), lua_module("src/mk.c"));
    build
        .modules
        .insert("mkhelper".into(), lua_module("src/mkhelper.lua"));
    // The source needs MK_VALUE, which a plain string module cannot define: the user's CFLAGS
    // reach the compiler.
    let ctx = BuildContext {
        cflags: "-O1 -fPIC -DMK_VALUE=3".into(),
        ..s.ctx.clone()
    };
    let report = build_rock(&rockspec("mk", build), &s.src, &s.prefix, &ctx).expect("build");
    assert_eq!(files(&report), ["lib/mk.so", "lua/mkhelper.lua"]);
    assert_eq!(run_lua(&s.prefix, "print(require('mk').value)"), "3");
}

#[test]
fn make_build_passes_luarocks_variables() {
    let s = scratch(Some("makerock"));
    let mut build = Build {
        kind: BuildType::Make,
        ..Build::default()
    };
    build.build_variables.insert("MK_VALUE".into(), "7".into());
    build
        .build_variables
        .insert("CFLAGS".into(), "$(CFLAGS) -Wall".into());
    build
        .install_variables
        .insert("INST_LIBDIR".into(), "$(LIBDIR)".into());
    let report = build_rock(&rockspec("mk", build), &s.src, &s.prefix, &s.ctx).expect("build");

    assert_eq!(
        files(&report),
        ["conf/prefix.txt", "lib/mk.so", "lua/mkhelper.lua"]
    );
    assert_eq!(report.commands.len(), 2, "a build pass and an install pass");
    assert!(
        report.commands[0].command.contains("MK_VALUE=7"),
        "{}",
        report.commands[0].command
    );
    assert!(
        report.commands[1].command.contains(" install "),
        "{}",
        report.commands[1].command
    );
    let recorded = fs::read_to_string(s.prefix.join("conf/prefix.txt")).expect("read");
    assert_eq!(
        recorded.trim(),
        std::path::absolute(&s.prefix)
            .expect("abs")
            .display()
            .to_string()
    );
    assert_eq!(
        run_lua(
            &s.prefix,
            "print(require('mk').value, require('mkhelper').helper)"
        ),
        "7\tmk"
    );
}

#[test]
fn make_failure_reports_the_output() {
    let s = scratch(Some("makerock"));
    let build = Build {
        kind: BuildType::Make,
        build_target: Some("no-such-target".into()),
        ..Build::default()
    };
    let err =
        build_rock(&rockspec("mk", build), &s.src, &s.prefix, &s.ctx).expect_err("bad target");
    let msg = err.to_string();
    assert!(matches!(err, BuildError::CommandFailed { .. }), "{msg}");
    assert!(
        msg.contains("no-such-target") && msg.contains("building with make"),
        "{msg}"
    );
}

#[test]
fn command_build_runs_with_variables_in_env_and_substituted() {
    let s = scratch(None);
    let build = Build {
        kind: BuildType::Command,
        build_command: Some(
            "mkdir -p out && test -f \"$LUA_INCDIR/lua.h\" && echo 'return { answer = 42 }' > out/cmdmod.lua".into(),
        ),
        install_command: Some("cp out/cmdmod.lua \"$LUADIR/cmdmod.lua\" && echo $(LUA_VERSION) > $(CONFDIR)/v".into()),
        ..Build::default()
    };
    let report = build_rock(&rockspec("cmdmod", build), &s.src, &s.prefix, &s.ctx).expect("build");
    assert_eq!(files(&report), ["conf/v", "lua/cmdmod.lua"]);
    assert_eq!(
        fs::read_to_string(s.prefix.join("conf/v"))
            .expect("read")
            .trim(),
        "5.4"
    );
    assert_eq!(run_lua(&s.prefix, "print(require('cmdmod').answer)"), "42");
    assert!(
        s.src.join("out/cmdmod.lua").is_file(),
        "commands run in the source directory"
    );
}

fn cmake_build() -> Build {
    let mut build = Build {
        kind: BuildType::Cmake,
        cmake: Some(
            fs::read_to_string(fixture("cmakerock/lists.cmake")).expect("read lists.cmake"),
        ),
        ..Build::default()
    };
    build
        .variables
        .insert("LUA_INCDIR".into(), "$(LUA_INCDIR)".into());
    build
        .variables
        .insert("INSTALL_CMOD".into(), "$(LIBDIR)".into());
    build
}

/// Without cmake this test is ignored (the missing-cmake error is tested below).
#[test]
#[cfg_attr(
    not(lvm_has_cmake),
    ignore = "needs cmake, and build.rs did not find it on PATH"
)]
fn cmake_build_when_cmake_is_installed() {
    let s = scratch(Some("cmakerock"));
    assert!(
        s.ctx.cmake.is_some(),
        "cmake is not installed; this test needs it"
    );
    let report =
        build_rock(&rockspec("cm", cmake_build()), &s.src, &s.prefix, &s.ctx).expect("build");
    assert_eq!(files(&report), ["lib/cm.so"]);
    assert!(
        s.src.join("CMakeLists.txt").is_file(),
        "build.cmake is written as CMakeLists.txt"
    );
    assert_eq!(run_lua(&s.prefix, "print(require('cm').add(40, 2))"), "42");
}

#[test]
fn missing_cmake_is_a_clear_error() {
    let s = scratch(Some("cmakerock"));
    let ctx = BuildContext {
        cmake: None,
        ..s.ctx.clone()
    };
    let err =
        build_rock(&rockspec("cm", cmake_build()), &s.src, &s.prefix, &ctx).expect_err("no cmake");
    let msg = err.to_string();
    assert!(matches!(err, BuildError::ToolNotFound { .. }), "{msg}");
    assert!(
        msg.contains("`cmake`") && msg.contains("install CMake"),
        "{msg}"
    );
}

#[test]
fn missing_external_header_fails_before_building() {
    let s = scratch(Some("cmod"));
    let mut build = Build::default();
    build
        .modules
        .insert("geo.core".into(), lua_module("src/core.c"));
    let mut spec = rockspec("geo", build);
    spec.external_dependencies.insert(
        "NOPELIB".into(),
        ExternalDependency {
            header: Some("nopelib/nope.h".into()),
            ..ExternalDependency::default()
        },
    );
    let err = build_rock(&spec, &s.src, &s.prefix, &s.ctx).expect_err("missing header");
    let msg = err.to_string();
    assert!(
        matches!(err, BuildError::ExternalDependency { kind: "header", .. }),
        "{msg}"
    );
    assert!(
        msg.contains("NOPELIB") && msg.contains("nopelib/nope.h") && msg.contains("/usr/include"),
        "{msg}"
    );
    assert!(!s.src.join("src/core.o").exists(), "nothing was compiled");
}

#[test]
fn missing_library_of_a_module_is_detected_without_declared_dependencies() {
    let s = scratch(Some("cmod"));
    let mut build = Build::default();
    build.modules.insert(
        "geo.core".into(),
        Module::C(CModule {
            sources: vec!["src/core.c".into()],
            libraries: vec!["lvm-surely-absent".into()],
            ..CModule::default()
        }),
    );
    let err = build_rock(&rockspec("geo", build), &s.src, &s.prefix, &s.ctx)
        .expect_err("missing library");
    let msg = err.to_string();
    assert!(
        msg.contains("LVM_SURELY_ABSENT") && msg.contains("liblvm-surely-absent.so"),
        "{msg}"
    );
}

#[test]
fn c_syntax_error_reports_compiler_output() {
    let s = scratch(Some("broken"));
    let mut build = Build::default();
    build
        .modules
        .insert("broken".into(), lua_module("broken.c"));
    let err = build_rock(&rockspec("broken", build), &s.src, &s.prefix, &s.ctx)
        .expect_err("syntax error");
    let msg = err.to_string();
    let BuildError::CommandFailed { step, output, .. } = &err else {
        panic!("expected a command failure, got {msg}");
    };
    assert_eq!(step, "compiling broken.c for module broken");
    assert!(
        output.contains("broken.c:4"),
        "compiler diagnostics are kept: {output}"
    );
    assert!(msg.contains("error"), "{msg}");
}

#[test]
fn missing_define_fails_the_compile() {
    let s = scratch(Some("cmod"));
    let mut build = Build::default();
    build.modules.insert(
        "geo.core".into(),
        Module::C(CModule {
            sources: vec!["src/core.c".into(), "src/hypot.c".into()],
            incdirs: vec!["include".into()],
            ..CModule::default()
        }),
    );
    let err = build_rock(&rockspec("geo", build), &s.src, &s.prefix, &s.ctx)
        .expect_err("GEO_SCALE missing");
    assert!(
        err.to_string().contains("GEO_SCALE must be defined"),
        "{err}"
    );
}

#[test]
fn nonexistent_compiler_is_a_clear_error() {
    let s = scratch(Some("cmod"));
    let ctx = BuildContext::from_vars(
        lvm::luaversion::LuaVersion::Lua54,
        &s.ctx.lua_incdir,
        None,
        |k| match k {
            "CC" => Some("/nonexistent".to_string()),
            "PATH" => std::env::var("PATH").ok(),
            _ => None,
        },
    );
    let mut build = Build::default();
    build
        .modules
        .insert("geo.core".into(), lua_module("src/hypot.c"));
    let err =
        build_rock(&rockspec("geo", build), &s.src, &s.prefix, &ctx).expect_err("no compiler");
    let msg = err.to_string();
    assert!(matches!(err, BuildError::CompilerNotFound { .. }), "{msg}");
    assert!(
        msg.contains("/nonexistent") && msg.contains("install gcc") && msg.contains("CC"),
        "{msg}"
    );
}

#[test]
fn missing_lua_module_file_names_the_field() {
    let s = scratch(Some("pure"));
    let mut build = Build::default();
    build
        .modules
        .insert("pure.gone".into(), lua_module("src/gone.lua"));
    let err =
        build_rock(&rockspec("pure", build), &s.src, &s.prefix, &s.ctx).expect_err("missing file");
    let msg = err.to_string();
    assert!(
        msg.contains("build.modules[\"pure.gone\"]") && msg.contains("src/gone.lua"),
        "{msg}"
    );
}

#[test]
fn install_paths_cannot_escape_the_rock_directory() {
    let s = scratch(Some("pure"));
    let mut build = Build {
        kind: BuildType::None,
        ..Build::default()
    };
    build
        .install
        .conf
        .push(entry(Some("../../escaped.conf"), "etc/pure.conf"));
    let err = build_rock(&rockspec("pure", build), &s.src, &s.prefix, &s.ctx).expect_err("unsafe");
    assert!(matches!(err, BuildError::UnsafePath { .. }), "{err}");
    assert!(
        !s.prefix
            .parent()
            .expect("parent")
            .parent()
            .expect("grandparent")
            .join("escaped.conf")
            .exists()
    );
}

#[test]
fn format_3_builtin_without_modules_autodetects_them() {
    let s = scratch(Some("pure"));
    let report = build_rock(
        &rockspec("pure", Build::default()),
        &s.src,
        &s.prefix,
        &s.ctx,
    )
    .expect("build");
    assert_eq!(
        files(&report),
        [
            "bin/pure-tool",
            "lua/pure/sub/init.lua",
            "lua/pure/util.lua",
            "lua/pure.lua",
            "samples/hello.lua",
            "samples/nested/data.txt",
        ]
    );
    assert_eq!(run_lua(&s.prefix, "print(require('pure').twice(2))"), "4");
}

#[test]
fn c_sources_outside_the_source_directory_are_refused() {
    let s = scratch(Some("cmod"));
    let mut build = Build::default();
    build
        .modules
        .insert("geo.core".into(), lua_module("../outside.c"));
    let err =
        build_rock(&rockspec("geo", build), &s.src, &s.prefix, &s.ctx).expect_err("unsafe source");
    let msg = err.to_string();
    assert!(matches!(err, BuildError::SourceOutside { .. }), "{msg}");
    assert!(msg.contains("build.modules[\"geo.core\"].sources"), "{msg}");
}
