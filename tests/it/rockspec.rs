//! Rockspec evaluation: real-world-shaped rockspecs map to the typed model (with platform
//! overrides merged for this platform), and malformed or hostile ones fail with errors that
//! name the field path or source line.

use std::path::{Path, PathBuf};
use std::process::Command;

use lvm::rockspec::{
    self, BuildType, InstallEntry, Module, Problem, Rockspec, RockspecError, RockspecFormat,
    Severity,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rockspecs")
        .join(name)
}

fn load(name: &str) -> Rockspec {
    Rockspec::from_file(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn deps(list: &[lvm::version::Dependency]) -> Vec<String> {
    list.iter().map(|d| d.to_string()).collect()
}

fn c_module(rockspec: &Rockspec, name: &str) -> rockspec::CModule {
    match rockspec.build.modules.get(name) {
        Some(Module::C(c)) => c.clone(),
        other => panic!("{name}: expected a C module, got {other:?}"),
    }
}

/// Wraps a build table into an otherwise valid rockspec.
fn with(extra: &str) -> String {
    format!(
        "package = \"demo\"\nversion = \"1.0-1\"\nsource = {{ url = \"https://example.invalid/demo-1.0.tar.gz\" }}\n{extra}\n"
    )
}

fn lint_lines(source: &str) -> Vec<String> {
    rockspec::lint(source, "demo-1.0-1.rockspec")
        .iter()
        .map(Problem::to_string)
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn format_1_0_with_platform_function_and_c_modules() {
    let r = load("luasocket-3.0rc1-2.rockspec");
    assert_eq!(r.format, RockspecFormat::V1_0);
    assert_eq!(r.package, "luasocket");
    assert_eq!(r.version.to_string(), "3.0rc1-2");
    assert_eq!(r.file_name(), "luasocket-3.0rc1-2.rockspec");
    assert_eq!(r.source.tag.as_deref(), Some("v3.0-rc1"));
    assert_eq!(deps(&r.dependencies), ["lua >= 5.1"]);
    assert_eq!(r.description.license.as_deref(), Some("MIT"));
    assert_eq!(r.build.kind, BuildType::Builtin);
    assert_eq!(
        r.build.copy_directories,
        Some(strings(&["doc", "samples", "etc", "test"]))
    );
    // Only the unix table applies on Linux: unix-only modules are present, win32's are not.
    let core = c_module(&r, "socket.core");
    assert_eq!(core.sources.len(), 12);
    assert_eq!(
        core.sources.last().map(String::as_str),
        Some("src/usocket.c")
    );
    assert!(core.libraries.is_empty());
    assert_eq!(core.defines[0], "LUASOCKET_DEBUG");
    assert!(core.defines[1].starts_with("LUASOCKET_API=__attribute__"));
    assert!(r.build.modules.contains_key("socket.unix"));
    assert!(r.build.modules.contains_key("socket.serial"));
    assert_eq!(
        r.build.modules.get("socket.http"),
        Some(&Module::Lua("src/http.lua".into()))
    );
    assert_eq!(r.build.modules.len(), 13);
}

#[cfg(target_os = "linux")]
#[test]
fn format_3_0_with_nested_platform_overrides_and_install_tables() {
    let r = load("lrexlib-pcre-2.9.1-1.rockspec");
    assert_eq!(r.format, RockspecFormat::V3_0);
    assert_eq!(r.package, "lrexlib-pcre");
    assert_eq!(r.source.dir.as_deref(), Some("lrexlib-2.9.1"));
    assert_eq!(
        r.source.md5.as_deref(),
        Some("91bd21e9b2b5c8a0f6a3a3fbb4ce8c1c")
    );
    assert_eq!(r.description.labels, strings(&["regex", "pcre"]));
    assert_eq!(deps(&r.build_dependencies), ["luarocks-fetch-gitrec"]);
    assert_eq!(deps(&r.test_dependencies), ["busted >= 2.0", "luacheck"]);
    assert_eq!(r.supported_platforms, strings(&["unix", "!windows"]));
    // external_dependencies.platforms.linux overrides the library, keeps the header.
    let pcre = &r.external_dependencies["PCRE"];
    assert_eq!(pcre.header.as_deref(), Some("pcre.h"));
    assert_eq!(pcre.library.as_deref(), Some("libpcre.so.3"));
    assert_eq!(r.external_dependencies.len(), 1);

    // The list part is the sources; unix replaces defines[2]; linux (applied after unix)
    // replaces the libraries string with a list.
    let rex = c_module(&r, "rex_pcre");
    assert_eq!(
        rex.sources,
        strings(&["src/common.c", "src/pcre/lpcre.c", "src/pcre/lpcre_f.c"])
    );
    assert_eq!(rex.defines, strings(&["VERSION=\"2.9.1\"", "PCRE_UNIX"]));
    assert_eq!(rex.libraries, strings(&["pcre", "dl"]));
    assert_eq!(rex.incdirs, strings(&["$(PCRE_INCDIR)"]));
    assert_eq!(rex.libdirs, strings(&["$(PCRE_LIBDIR)"]));
    // A string that is not a .lua file is a C module with that one source.
    assert_eq!(c_module(&r, "rex_pcre.single").sources, ["src/single.c"]);
    assert_eq!(
        r.build.modules.get("rex_pcre.util"),
        Some(&Module::Lua("src/util.lua".into()))
    );

    let install = &r.build.install;
    assert_eq!(
        install.bin,
        vec![
            InstallEntry {
                name: None,
                path: "bin/rexgrep".into()
            },
            InstallEntry {
                name: Some("rex-info".into()),
                path: "bin/rex-info.lua".into()
            },
        ]
    );
    assert_eq!(
        install.lua,
        vec![InstallEntry {
            name: Some("rex_pcre.compat".into()),
            path: "src/compat.lua".into()
        }]
    );
    assert_eq!(
        install.conf,
        vec![InstallEntry {
            name: None,
            path: "conf/defaults.conf".into()
        }]
    );
    assert!(install.lib.is_empty());
    assert_eq!(r.build.copy_directories, Some(strings(&["doc", "test"])));
}

#[cfg(target_os = "linux")]
#[test]
fn make_build() {
    let r = load("luaposix-35.1-1.rockspec");
    let b = &r.build;
    assert_eq!(b.kind, BuildType::Make);
    assert_eq!(b.makefile.as_deref(), Some("GNUmakefile"));
    assert_eq!(b.build_target.as_deref(), Some("all"));
    assert_eq!(b.install_target.as_deref(), Some("install-lib"));
    assert!(b.build_pass);
    assert!(!b.install_pass);
    assert_eq!(b.variables["LUA_INCDIR"], "$(LUA_INCDIR)");
    assert_eq!(b.variables["JOBS"], "2");
    assert_eq!(b.build_variables["CFLAGS"], "$(CFLAGS) -Wall");
    assert_eq!(b.install_variables["LUADIR"], "$(LUADIR)");
    assert_eq!(
        deps(&r.dependencies),
        ["lua >= 5.1, < 5.5", "std.normalize ~> 2.0"]
    );
    // Only a unix override: merged on Linux.
    assert_eq!(
        r.external_dependencies["CRYPT"].library.as_deref(),
        Some("crypt")
    );
}

#[test]
fn cmake_build() {
    let r = load("lua-zlib-1.2-2.rockspec");
    assert_eq!(r.build.kind, BuildType::Cmake);
    assert!(
        r.build
            .cmake
            .as_deref()
            .unwrap_or_default()
            .starts_with("cmake_minimum_required")
    );
    assert_eq!(r.build.variables["INSTALL_CMOD"], "$(LIBDIR)");
    assert_eq!(
        r.external_dependencies["ZLIB"].header.as_deref(),
        Some("zlib.h")
    );
    assert_eq!(r.external_dependencies["ZLIB"].library, None);
}

#[test]
fn command_build() {
    let r = load("tl-0.15.2-1.rockspec");
    assert_eq!(r.build.kind, BuildType::Command);
    assert_eq!(
        r.build.build_command.as_deref(),
        Some("LUA=$(LUA) make build")
    );
    assert_eq!(
        r.build.install_command.as_deref(),
        Some("make install PREFIX=$(PREFIX)")
    );
    assert_eq!(r.source.branch.as_deref(), Some("main"));
    assert_eq!(
        r.build.install.bin,
        vec![InstallEntry {
            name: None,
            path: "tl".into()
        }]
    );
}

#[test]
fn luarocks_itself_accepts_the_valid_fixtures_and_rejects_the_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    for (name, valid) in [
        ("luasocket-3.0rc1-2.rockspec", true),
        ("lrexlib-pcre-2.9.1-1.rockspec", true),
        ("luaposix-35.1-1.rockspec", true),
        ("lua-zlib-1.2-2.rockspec", true),
        ("tl-0.15.2-1.rockspec", true),
        ("broken-1.0-1.rockspec", false),
    ] {
        let out = Command::new("luarocks")
            .args(["--lua-version", "5.4", "lint"])
            .arg(fixture(name))
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .output()
            .expect("luarocks is installed");
        assert_eq!(out.status.success(), valid, "luarocks lint {name}: {out:?}");
        assert_eq!(
            rockspec::lint(&std::fs::read_to_string(fixture(name)).unwrap(), name).is_empty(),
            valid,
            "lvm lint {name}"
        );
    }
}

#[test]
fn lenient_forms_luarocks_writers_use() {
    // A single string instead of a list.
    let r = Rockspec::from_lua(
        &with("dependencies = \"lua >= 5.1\"\nbuild = { type = \"none\" }"),
        "t",
    )
    .unwrap();
    assert_eq!(deps(&r.dependencies), ["lua >= 5.1"]);
    assert_eq!(r.build.kind, BuildType::None);
    // Format 1.0 without build.type: builtin when modules are given, none otherwise.
    let r =
        Rockspec::from_lua(&with("build = { modules = { demo = \"demo.lua\" } }"), "t").unwrap();
    assert_eq!(r.build.kind, BuildType::Builtin);
    let r = Rockspec::from_lua(&with("build = { copy_directories = { \"doc\" } }"), "t").unwrap();
    assert_eq!(r.build.kind, BuildType::None);
    // Format 3.0 may leave build out entirely: builtin.
    let r = Rockspec::from_lua(&with("rockspec_format = \"3.0\""), "t").unwrap();
    assert_eq!(r.build.kind, BuildType::Builtin);
    // `module` is LuaRocks' old name for builtin; the old CVS fields fill tag and dir.
    let r = Rockspec::from_lua(
        "package = \"Demo\"\nversion = \"1.0-1\"\nsource = { url = \"cvs://x\", cvs_tag = \"v1\", cvs_module = \"demo\" }\nbuild = { type = \"module\" }",
        "t",
    )
    .unwrap();
    assert_eq!(r.package, "demo");
    assert_eq!(r.build.kind, BuildType::Builtin);
    assert_eq!(r.source.tag.as_deref(), Some("v1"));
    assert_eq!(r.source.dir.as_deref(), Some("demo"));
    // Format 1.1 and `deploy`.
    let r = Rockspec::from_lua(
        &with("rockspec_format = \"1.1\"\ndeploy = { wrap_bin_scripts = false }\nbuild = { type = \"none\" }"),
        "t",
    )
    .unwrap();
    assert_eq!(r.format, RockspecFormat::V1_1);
    // Unknown fields in format 1.0 are warnings: the rockspec still loads, lint reports them.
    let source = with("build = { type = \"none\" }\nhomepage = \"x\"");
    assert!(Rockspec::from_lua(&source, "t").is_ok());
    let problems = rockspec::lint(&source, "t");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].severity, Severity::Warning);
    assert_eq!(
        problems[0].to_string(),
        "homepage: unknown field (ignored); did you mean description.homepage?"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn platform_lists_merge_by_position_as_luarocks_does() {
    let r = Rockspec::from_lua(
        &with(
            r#"dependencies = { "lua >= 5.1", "luafilesystem", platforms = {
                 unix = { "lua >= 5.3" }, linux = { [3] = "luaposix" }, windows = { "winapi" } } }
               source.platforms = { linux = { tag = "linux-tag" } }
               build = { type = "none", platforms = { linux = { type = "make", variables = { A = "1" } } } }"#,
        ),
        "t",
    )
    .unwrap();
    assert_eq!(
        deps(&r.dependencies),
        ["lua >= 5.3", "luafilesystem", "luaposix"]
    );
    assert_eq!(r.source.tag.as_deref(), Some("linux-tag"));
    assert_eq!(r.build.kind, BuildType::Make);
    assert_eq!(r.build.variables["A"], "1");
}

fn invalid_problems(source: &str) -> Vec<String> {
    match Rockspec::from_lua(source, "demo-1.0-1.rockspec") {
        Err(RockspecError::Invalid { file, problems }) => {
            assert_eq!(file, "demo-1.0-1.rockspec");
            problems
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn type_errors_name_every_field_path() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"build = { modules = { ["foo.core"] = { sources = 3 } } }"#,
            &[
                r#"build.modules["foo.core"].sources: expected string or list of strings, found number"#,
            ],
        ),
        (
            r#"dependencies = { "lua >= 5.1", 42, { "x" } }
               build = { type = "none", build_pass = "yes" }"#,
            &[
                "dependencies[2]: expected string, found number",
                "dependencies[3]: expected string, found table",
                "build.build_pass: expected boolean, found string",
            ],
        ),
        (
            r#"build = { type = "builtin", modules = { a = 1, b = { sources = { "a.c", true } } },
                        install = { lua = "x.lua", bin = { 7 } } }"#,
            &[
                "build.modules.a: expected string (a file) or table (a C module), found number",
                "build.modules.b.sources[2]: expected string, found boolean",
                "build.install.lua: expected table, found string",
                "build.install.bin[1]: expected string, found number",
            ],
        ),
        (
            r#"description = "a string"
               external_dependencies = { SSL = { header = 1 } }
               build = { type = "none" }"#,
            &[
                "description: expected table, found string",
                "external_dependencies.SSL.header: expected string, found number",
            ],
        ),
        (
            r#"build = { type = "none", platforms = { windows = { modules = { x = 5 } } } }"#,
            &[
                "build.platforms.windows.modules.x: expected string (a file) or table (a C module), found number",
            ],
        ),
        (
            r#"build = { type = "builtin", modules = { c = { defines = { "A" } } } }"#,
            &[
                r#"build.modules.c.sources: missing: a C module needs its source files (sources = {"file.c"})"#,
            ],
        ),
        (
            r#"dependencies = { "lua >= 5.1", "foo >== 1.0", "a/b/c" }
               build = { type = "none" }"#,
            &[
                "dependencies[2]: bad constraint operator '>==' in",
                "dependencies[3]: bad dependency 'a/b/c': expected a package name",
            ],
        ),
    ];
    for (extra, expected) in cases {
        let problems = invalid_problems(&with(extra));
        assert_eq!(problems.len(), expected.len(), "{extra}\n{problems:#?}");
        for (problem, want) in problems.iter().zip(expected.iter()) {
            assert!(
                problem.starts_with(want),
                "{extra}\n got: {problem}\nwant: {want}"
            );
        }
    }
}

#[test]
fn required_fields_and_formats() {
    let cases: &[(&str, &str)] = &[
        (
            "package = \"demo\"\nversion = \"1.0-1\"\nbuild = { type = \"none\" }",
            "source: missing: a rockspec needs a source table with a url",
        ),
        (
            "package = \"demo\"\nversion = \"1.0-1\"\nsource = { tag = \"v1\" }\nbuild = { type = \"none\" }",
            "source.url: missing (required)",
        ),
        (
            "version = \"1.0-1\"\nsource = { url = \"x\" }\nbuild = { type = \"none\" }",
            "package: missing (required)",
        ),
        (
            "package = \"demo\"\nversion = \"1.0\"\nsource = { url = \"x\" }\nbuild = { type = \"none\" }",
            "version: \"1.0\" has no rockspec revision; write the version as upstream-revision, e.g. \"1.0-1\"",
        ),
        (
            "package = \"demo\"\nversion = \"1.0!-1\"\nsource = { url = \"x\" }\nbuild = { type = \"none\" }",
            "version: version '1.0!-1' could not be parsed at '!': a version is numbers and words separated by '.', '-' or '_', optionally ending in a revision such as '-1' (e.g. '1.2.3-1', '2.0beta2')",
        ),
        (
            "package = \"demo\"\nversion = 1.0\nsource = { url = \"x\" }\nbuild = { type = \"none\" }",
            "version: expected string, found number",
        ),
        (
            "rockspec_format = \"2.0\"\npackage = \"demo\"\nversion = \"1.0-1\"\nsource = { url = \"x\" }\nbuild = { type = \"none\" }",
            "rockspec_format: unsupported rockspec format \"2.0\" (lvm reads 1.0, 1.1 and 3.0)",
        ),
        (
            "package = \"demo\"\nversion = \"1.0-1\"\nsource = { url = \"x\" }\nbuild_dependencies = { \"x\" }\nbuild = { type = \"none\" }",
            "build_dependencies: not supported in rockspec format 1.0 (requires 3.0); set rockspec_format = \"3.0\"",
        ),
        (
            "rockspec_format = \"3.0\"\npackage = \"demo\"\nversion = \"1.0-1\"\nsource = { url = \"x\" }\nlicense = \"MIT\"",
            "license: unknown field (LuaRocks rejects unknown fields in rockspec format 3.0); did you mean description.license?",
        ),
        (
            "package = \"demo\"\nversion = \"1.0-1\"\nsource = { url = \"x\" }\nbuild = { type = \"xmake\" }",
            "build.type: unsupported build type \"xmake\": LuaRocks would need the luarocks-build-xmake rock, which lvm does not support (lvm builds builtin, make, cmake, command and none)",
        ),
    ];
    for (source, expected) in cases {
        let problems = invalid_problems(source);
        assert_eq!(problems, vec![expected.to_string()], "{source}");
    }
}

#[test]
fn hostile_rockspecs_fail_fast_with_clear_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "package = \"x\"\nwhile true do end",
            "instruction limit exceeded",
        ),
        (
            "local x = 0\nfor i = 1, 1e12 do x = x + i end",
            "instruction limit exceeded",
        ),
        ("local s = string.rep(\"x\", 1e9)", "memory limit exceeded"),
        (
            "local s = 'xx'\nfor i = 1, 64 do s = s .. s end",
            "memory limit exceeded",
        ),
        (
            "package = \"x\"\nos.execute(\"touch /tmp/pwned\")",
            "line 2: attempt to index a nil value (global 'os')",
        ),
        (
            "io.open(\"/etc/passwd\")",
            "line 1: attempt to index a nil value (global 'io')",
        ),
        (
            "local lfs = require(\"lfs\")",
            "line 1: attempt to call a nil value (global 'require')",
        ),
        (
            "load(\"x = 1\")()",
            "line 1: attempt to call a nil value (global 'load')",
        ),
        (
            "dofile(\"/etc/passwd\")",
            "line 1: attempt to call a nil value (global 'dofile')",
        ),
        (
            "x = (\"\").dump(print)",
            "line 1: attempt to call a nil value (field 'dump')",
        ),
        (
            "while true do pcall(function() while true do end end) end",
            "instruction limit exceeded",
        ),
        (
            "package = \"x\"\nversion = \"1.0-1\"\nsource = {\n  url = = \"x\"\n}",
            "line 4: syntax error: unexpected symbol near '='",
        ),
        ("error(\"custom failure\")", "line 1: custom failure"),
        ("t = {}\nt.me = t", "tables nested deeper than 32 levels"),
    ];
    for (source, expected) in cases {
        let started = std::time::Instant::now();
        let err = Rockspec::from_lua(source, "evil-1.0-1.rockspec").unwrap_err();
        assert!(
            started.elapsed().as_secs() < 10,
            "{source}: took {:?}",
            started.elapsed()
        );
        let RockspecError::Eval { file, message } = &err else {
            panic!("{source}: expected an evaluation error, got {err:?}");
        };
        assert_eq!(file, "evil-1.0-1.rockspec");
        assert!(
            message.contains(expected),
            "{source}\n got: {message}\nwant: {expected}"
        );
        assert!(
            err.to_string().starts_with("evil-1.0-1.rockspec: "),
            "{err}"
        );
    }
    assert!(!Path::new("/tmp/pwned").exists());
}

#[test]
fn lint_reports_line_paths_and_file_name_mismatches() {
    let problems = rockspec::lint(
        "package = \"x\"\nversion = \"1.0-1\"\nsource = {\n  url = = \"x\"\n}",
        "x-1.0-1.rockspec",
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, Some(4));
    assert_eq!(problems[0].path, "");
    assert!(
        problems[0]
            .message
            .starts_with("syntax error: unexpected symbol near '='")
    );

    // The file name disagrees with the package and the version inside.
    let source = with("build = { type = \"none\" }");
    let problems: Vec<String> = rockspec::lint(&source, "/some/dir/other-2.0-1.rockspec")
        .iter()
        .map(Problem::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "package: \"demo\" does not match the file name other-2.0-1.rockspec (expected the file to be named demo-1.0-1.rockspec)",
            "version: \"1.0-1\" does not match the file name other-2.0-1.rockspec (expected demo-1.0-1.rockspec)",
        ]
    );
    // Files not named name-version.rockspec are not compared.
    assert!(rockspec::lint(&source, "rockspec.lua").is_empty());
    assert!(rockspec::lint(&source, "demo-1.0-1.rockspec").is_empty());

    // Module and install paths must be relative to the sources.
    let lines = lint_lines(&with(
        r#"build = { type = "builtin", modules = { a = "/abs/a.lua", b = "../b.lua",
             c = { sources = { "ok.c", "C:\\x.c" } }, d = "src/d.lua" },
             install = { bin = { tool = "~/bin/tool" } } }"#,
    ));
    assert_eq!(
        lines,
        [
            "build.modules.a: \"/abs/a.lua\" is an absolute path; paths are relative to the source directory",
            "build.modules.b: \"../b.lua\" leaves the source directory with `..`; paths are relative to the source directory",
            "build.modules.c.sources[2]: \"C:\\x.c\" is an absolute Windows path; paths are relative to the source directory",
            "build.install.bin.tool: \"~/bin/tool\" starts at a home directory; paths are relative to the source directory",
        ]
    );
}
