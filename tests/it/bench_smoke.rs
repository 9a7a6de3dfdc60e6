//! Runs the benchmark suite in its smoke mode (`bench/run.sh --smoke`: generate a 3-rock
//! server, publish it with `luarocks-admin`, one lvm install and one luarocks install, then the
//! report) so the scripts keep working. The real measurements are never part of `cargo test`.

use std::path::Path;
use std::process::Command;

const BEGIN: &str = "<!-- bench:begin (written by bench/run.sh; do not edit by hand) -->";
const END: &str = "<!-- bench:end -->";

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The cells of the table row whose first cell starts with `label`.
fn row<'a>(doc: &'a str, label: &str) -> Vec<&'a str> {
    let line = doc
        .lines()
        .find(|l| l.starts_with(&format!("| {label}")))
        .unwrap_or_else(|| panic!("no row '{label}' in:\n{doc}"));
    line.trim_matches('|').split(" | ").map(str::trim).collect()
}

fn is_time(cell: &str) -> bool {
    cell.contains(" ms") || cell.contains(" s")
}

#[test]
#[cfg_attr(
    not(all(
        lvm_has_luarocks,
        lvm_has_luarocks_admin,
        lvm_has_lua54,
        lvm_has_python3
    )),
    ignore = "needs luarocks, luarocks-admin, lua5.4 and python3, and build.rs did not find them all on PATH"
)]
fn smoke_run_installs_with_both_tools_and_reports() {
    for tool in ["luarocks", "luarocks-admin", "lua5.4", "python3"] {
        assert!(have(tool), "{tool} is not installed; this test needs it");
    }
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("benchmarks.md");
    std::fs::write(
        &doc,
        format!("# Benchmarks\n\nintro\n\n{BEGIN}\nstale results\n{END}\n\nafterword\n"),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["--smoke", "--lvm", env!("CARGO_BIN_EXE_lvm"), "--doc"])
        .arg(&doc)
        .env("TMPDIR", dir.path())
        .env_remove("LVM_HOME")
        .env_remove("LVM_ENV")
        .env("LVM_CONFIG", dir.path().join("no-user-config.toml"))
        .env_remove("LVM_SERVERS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench/run.sh --smoke failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(text.starts_with("# Benchmarks\n\nintro\n\n"), "{text}");
    assert!(text.trim_end().ends_with("afterword"), "{text}");
    assert!(!text.contains("stale results"), "{text}");
    assert!(text.contains("Smoke run"), "{text}");
    for label in [
        "cold install, 3 rocks, file://",
        "warm install, 3 rocks, file://",
    ] {
        let cells = row(&text, label);
        assert!(
            is_time(cells[1]) && is_time(cells[2]),
            "{label}: lvm and luarocks both timed: {cells:?}"
        );
        let ratio: f64 = cells[3].parse().unwrap_or_else(|_| panic!("{cells:?}"));
        assert!(ratio > 0.0, "{cells:?}");
        assert!(cells[5] == "met" || cells[5] == "**missed**", "{cells:?}");
    }
    // The real-rock shape generator and the compile limit, on the smallest shape: lvm, LuaRocks
    // and the bare compiles all timed, and the ratios computed from them.
    let cells = row(&text, "lpeg-like: 1 C module of 6 files, cold");
    assert!(
        is_time(cells[1]) && is_time(cells[3]) && is_time(cells[6]),
        "lpeg shape: lvm, LuaRocks and the bare compile timed: {cells:?}"
    );
    for ratio in [cells[5], cells[7]] {
        let value: f64 = ratio
            .trim_end_matches([' ', '✓', '✗'])
            .parse()
            .unwrap_or_else(|_| panic!("{cells:?}"));
        assert!(value > 0.0, "{cells:?}");
    }
    // The script cleans up its work directory (and the HTTP server, not started in smoke mode).
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "benchmarks.md")
        .collect();
    assert!(left.is_empty(), "work files left behind: {left:?}");
}
