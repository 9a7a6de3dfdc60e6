//! Server manifests: both forms parse to the same packages; malformed and hostile manifests
//! fail with errors naming the file and the package/version at fault.

use lvm::registry::{ManifestError, ServerManifest};
use lvm::version::Version;

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

fn error_of(result: Result<ServerManifest, ManifestError>) -> String {
    match result {
        Ok(m) => panic!("expected an error, parsed {} packages", m.packages.len()),
        Err(e) => e.to_string(),
    }
}

/// A manifest as `luarocks-admin make-manifest` writes it.
const LUA_MANIFEST: &str = r#"commands = {
   busted = {
      "busted/2.2.0-1"
   }
}
modules = {
   lfs = {
      "luafilesystem/1.8.0-1",
      "luafilesystem/1.7.0-2"
   },
   ["busted.core"] = {
      "busted/2.2.0-1"
   }
}
repository = {
   busted = {
      ["2.2.0-1"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "all",
            commands = {
               busted = "busted"
            },
            dependencies = {
               penlight = "1.13.1-1"
            },
            modules = {
               ["busted.core"] = "busted/core.lua"
            }
         }
      }
   },
   luafilesystem = {
      ["1.7.0-2"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "src"
         }
      },
      ["1.8.0-1"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "linux-x86_64"
         }
      },
      ["scm-1"] = {
         {
            arch = "rockspec"
         }
      }
   }
}
"#;

#[test]
fn lua_manifest_as_luarocks_writes_it() {
    let m = ServerManifest::parse_lua(LUA_MANIFEST, "manifest-5.4").unwrap();
    assert_eq!(m.packages.len(), 2);
    assert_eq!(m.packages["busted"][&v("2.2.0-1")], ["rockspec", "all"]);
    let lfs = &m.packages["luafilesystem"];
    let versions: Vec<&str> = lfs.keys().map(Version::as_str).collect();
    assert_eq!(versions, ["1.7.0-2", "1.8.0-1", "scm-1"]);
    assert_eq!(lfs[&v("1.7.0-2")], ["rockspec", "src"]);
    assert_eq!(lfs[&v("1.8.0-1")], ["rockspec", "linux-x86_64"]);
}

#[test]
fn json_manifest_matches_the_lua_form() {
    let json = r#"{
      "commands": {"busted": ["busted/2.2.0-1"]},
      "modules": {"lfs": ["luafilesystem/1.8.0-1", "luafilesystem/1.7.0-2"]},
      "repository": {
        "busted": {"2.2.0-1": [{"arch": "rockspec"},
                               {"arch": "all", "modules": {"busted.core": "busted/core.lua"}}]},
        "luafilesystem": {
          "1.7.0-2": [{"arch": "rockspec"}, {"arch": "src"}],
          "1.8.0-1": [{"arch": "rockspec"}, {"arch": "linux-x86_64"}],
          "scm-1": [{"arch": "rockspec"}]
        }
      }
    }"#;
    let from_json = ServerManifest::parse_json(json, "manifest-5.4.json").unwrap();
    let from_lua = ServerManifest::parse_lua(LUA_MANIFEST, "manifest-5.4").unwrap();
    assert_eq!(from_json, from_lua);
}

#[test]
fn a_manifest_written_by_luarocks_admin_parses() {
    // Build a real server directory with luarocks-admin and parse what it wrote.
    let dir = tempfile::tempdir().unwrap();
    let rockspec = r#"package = "demo"
version = "0.3-1"
source = { url = "https://example.invalid/demo-0.3.tar.gz" }
build = { type = "builtin", modules = { demo = "demo.lua" } }
"#;
    std::fs::write(dir.path().join("demo-0.3-1.rockspec"), rockspec).unwrap();
    std::fs::write(
        dir.path().join("demo-0.2-1.rockspec"),
        rockspec.replace("0.3", "0.2"),
    )
    .unwrap();
    let out = std::process::Command::new("luarocks-admin")
        .args(["--lua-version", "5.4", "make-manifest"])
        .arg(dir.path())
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .expect("luarocks-admin is installed");
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(dir.path().join("manifest")).unwrap();
    let m = ServerManifest::parse_lua(&text, "manifest").unwrap();
    let versions: Vec<&str> = m.versions("demo").map(Version::as_str).collect();
    assert_eq!(versions, ["0.2-1", "0.3-1"]);
    assert_eq!(m.packages["demo"][&v("0.3-1")], ["rockspec"]);
}

#[test]
fn malformed_and_hostile_manifests() {
    let lua_cases: &[(&str, &str)] = &[
        (
            "repository = \"nope\"",
            "manifest: repository: expected a table of packages, found string; this is not a rocks server manifest",
        ),
        (
            "commands = {}\nmodules = {}",
            "manifest: no `repository` table: this is not a rocks server manifest",
        ),
        (
            r#"repository = { foo = { ["1.0-1"] = { { arch = "rockspec" } }, ["1.x!-1"] = { { arch = "src" } } } }"#,
            r#"manifest: repository.foo["1.x!-1"]: package "foo" has an invalid version: version '1.x!-1' could not be parsed at '!'"#,
        ),
        (
            r#"repository = { ["lua-cjson"] = { ["2.1.0-1"] = "rockspec" } }"#,
            r#"manifest: repository["lua-cjson"]["2.1.0-1"]: expected a list of {arch = ...} tables for lua-cjson 2.1.0-1, found string"#,
        ),
        (
            r#"repository = { foo = { ["1.0-1"] = { { arch = "rockspec" }, { nope = 1 } } } }"#,
            r#"manifest: repository.foo["1.0-1"][2]: expected a table with an arch string for foo 1.0-1, found table"#,
        ),
        (
            r#"repository = { foo = { ["1.0-1"] = { "rockspec" } } }"#,
            r#"manifest: repository.foo["1.0-1"][1]: expected a table with an arch string for foo 1.0-1, found string"#,
        ),
        (
            r#"repository = { foo = 3 }"#,
            r#"manifest: repository.foo: expected a table of versions for package "foo", found number"#,
        ),
        (
            r#"repository = { "foo" }"#,
            "manifest: repository[1]: expected package names as keys",
        ),
        (
            r#"repository = { foo = { { arch = "rockspec" } } }"#,
            "manifest: repository.foo[1]: expected version strings as keys for package \"foo\"",
        ),
        (
            "repository = {\n  foo = {\n}",
            "manifest: line 3: syntax error: '}' expected (to close '{' at line 1) near <eof>",
        ),
        (
            "os.execute('true')",
            "manifest: line 1: attempt to index a nil value (global 'os')",
        ),
        (
            "repository = {} while true do end",
            "manifest: instruction limit exceeded",
        ),
    ];
    for (text, expected) in lua_cases {
        let err = error_of(ServerManifest::parse_lua(text, "manifest"));
        assert!(
            err.starts_with(expected),
            "{text}\n got: {err}\nwant: {expected}"
        );
    }
    let json_cases: &[(&str, &str)] = &[
        (
            "[1, 2]",
            "manifest.json: not a rocks server manifest: invalid type: sequence, expected a JSON object with a \"repository\" member at line 1 column 0",
        ),
        (
            "\"x\"",
            "manifest.json: not a rocks server manifest: invalid type: string \"x\", expected a JSON object with a \"repository\" member",
        ),
        (
            "{\"repository\": 5}",
            "manifest.json: repository: expected a table of packages, found number",
        ),
        (
            "{\"repository\": {\"foo\": {\"1.0-1\": [{\"arch\": \"rockspec\"}]},",
            "manifest.json: not valid JSON: EOF while parsing a value at line 1 column 57",
        ),
        (
            "{\"repository\": {\"foo\": {\"\": [{\"arch\": \"rockspec\"}]}}}",
            "manifest.json: repository.foo[\"\"]: package \"foo\" has an invalid version: empty version string",
        ),
        ("{\"modules\": {}}", "manifest.json: no `repository` table"),
        (
            "{\"repository\": null}",
            "manifest.json: no `repository` table",
        ),
    ];
    for (text, expected) in json_cases {
        let err = error_of(ServerManifest::parse_json(text, "manifest.json"));
        assert!(
            err.starts_with(expected),
            "{text}\n got: {err}\nwant: {expected}"
        );
    }
}
