//! `lvm lint` as a user runs it: the real binary on rockspec files, checking output and exit
//! codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rockspecs")
        .join(name)
}

fn lvm(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvm"))
        .args(args)
        .env_remove("RUST_LOG")
        // A user config on the machine running the tests must not change the results.
        .env("LVM_CONFIG", "/nonexistent/lvm-config.toml")
        .output()
        .expect("the lvm binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_good_rockspec_is_ok() {
    let file = fixture("luasocket-3.0rc1-2.rockspec");
    let out = lvm(&["lint".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), format!("{}: ok\n", file.display()));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_broken_rockspec_lists_every_problem_and_fails() {
    let file = fixture("broken-1.0-1.rockspec");
    let out = lvm(&["lint".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let f = file.display();
    let expected = [
        format!(
            "{f}: error: homepage: unknown field (LuaRocks rejects unknown fields in rockspec format 3.0); did you mean description.homepage?"
        ),
        format!("{f}: error: source.url: missing (required)"),
        format!("{f}: error: dependencies[2]: expected string, found number"),
        format!(
            "{f}: error: build.modules[\"broken.core\"].sources: expected string or list of strings, found number"
        ),
        format!(
            "{f}: error: build.modules.broken: \"/usr/share/lua/broken.lua\" is an absolute path; paths are relative to the source directory"
        ),
    ];
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stdout}");
}

#[test]
fn syntax_errors_show_the_line_and_json_output_is_structured() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo-1.0-1.rockspec");
    std::fs::write(
        &file,
        "package = \"demo\"\nversion = \"1.0-1\"\nsource = {\n  url = \"x\",\n  tag = = \"v1\"\n}\n",
    )
    .unwrap();
    let out = lvm(&["lint".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        format!(
            "{}:5: error: syntax error: unexpected symbol near '='\n",
            file.display()
        )
    );

    let out = lvm(&["lint".as_ref(), "--json".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["file"], file.display().to_string());
    assert_eq!(report["problems"][0]["line"], 5);
    assert_eq!(report["problems"][0]["severity"], "error");
    assert_eq!(report["problems"][0]["path"], "");

    // A fixed file that is named after another version.
    let misnamed = dir.path().join("demo-2.0-1.rockspec");
    std::fs::write(
        &misnamed,
        "package = \"demo\"\nversion = \"1.0-1\"\nsource = { url = \"x\" }\nbuild = { type = \"none\" }\n",
    )
    .unwrap();
    let out = lvm(&["lint".as_ref(), "--json".as_ref(), misnamed.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["problems"][0]["path"], "version");

    let good = dir.path().join("demo-1.0-1.rockspec");
    std::fs::rename(&misnamed, &good).unwrap();
    let out = lvm(&["lint".as_ref(), "--json".as_ref(), good.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["problems"], serde_json::json!([]));
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("absent-1.0-1.rockspec");
    let out = lvm(&["lint".as_ref(), file.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains(&format!("cannot read {}", file.display())),
        "{out:?}"
    );
    let out = lvm(&["lint".as_ref()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
