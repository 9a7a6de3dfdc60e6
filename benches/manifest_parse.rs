//! Parses a generated 5,000-package server manifest in both forms, writes and reads the cached
//! form of the result, and prints the timings.
//! Run with `cargo bench --bench manifest_parse` (or `cargo test --bench manifest_parse` for
//! an unoptimised run).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use lvm::registry::ServerManifest;

const PACKAGES: usize = 5_000;
const VERSIONS: usize = 4;

/// A manifest shaped like the ones `luarocks-admin make-manifest` writes, including the
/// `commands` and `modules` indexes.
fn lua_manifest() -> String {
    let mut out = String::from("commands = {\n");
    for p in (0..PACKAGES).step_by(10) {
        let _ = writeln!(
            out,
            "   [\"tool-{p}\"] = {{\n      \"package-{p}/1.0.{VERSIONS}-1\"\n   }},"
        );
    }
    out.push_str("}\nmodules = {\n");
    for p in 0..PACKAGES {
        let _ = writeln!(
            out,
            "   [\"package_{p}.core\"] = {{\n      \"package-{p}/1.0.0-1\"\n   }},"
        );
    }
    out.push_str("}\nrepository = {\n");
    for p in 0..PACKAGES {
        let _ = writeln!(out, "   [\"package-{p}\"] = {{");
        for v in 0..VERSIONS {
            let _ = writeln!(
                out,
                "      [\"1.0.{v}-1\"] = {{\n         {{\n            arch = \"rockspec\"\n         }},\n         {{\n            arch = \"src\"\n         }},\n         {{\n            arch = \"linux-x86_64\",\n            modules = {{\n               [\"package_{p}.core\"] = \"package_{p}/core.so\"\n            }}\n         }}\n      }},"
            );
        }
        out.push_str("   },\n");
    }
    out.push_str("}\n");
    out
}

fn json_manifest() -> String {
    let mut repository = serde_json::Map::new();
    for p in 0..PACKAGES {
        let mut versions = serde_json::Map::new();
        for v in 0..VERSIONS {
            versions.insert(
                format!("1.0.{v}-1"),
                serde_json::json!([
                    {"arch": "rockspec"},
                    {"arch": "src"},
                    {"arch": "linux-x86_64", "modules": {format!("package_{p}.core"): format!("package_{p}/core.so")}}
                ]),
            );
        }
        repository.insert(format!("package-{p}"), serde_json::Value::Object(versions));
    }
    serde_json::json!({"commands": {}, "modules": {}, "repository": repository}).to_string()
}

fn time<T>(label: &str, bytes: usize, f: impl Fn() -> T) -> T {
    const RUNS: u32 = 3;
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        result = Some(f());
        best = best.min(started.elapsed());
    }
    println!(
        "{label}: {:.1} ms (best of {RUNS}, {:.1} MB)",
        best.as_secs_f64() * 1000.0,
        bytes as f64 / 1_000_000.0
    );
    result.expect("ran at least once")
}

fn main() {
    let lua = lua_manifest();
    let json = json_manifest();
    let from_lua = time("lua manifest", lua.len(), || {
        ServerManifest::parse_lua(&lua, "manifest").expect("generated Lua manifest parses")
    });
    let from_json = time("json manifest", json.len(), || {
        ServerManifest::parse_json(&json, "manifest.json").expect("generated JSON manifest parses")
    });
    assert_eq!(from_lua.packages.len(), PACKAGES);
    assert!(from_lua.packages.values().all(|v| v.len() == VERSIONS));
    assert_eq!(from_lua, from_json, "both forms describe the same packages");

    // The cached form later commands read instead of the Lua text.
    let key = "0".repeat(64);
    let compact = time("cached form, write", 0, || {
        from_lua
            .to_compact(&key)
            .expect("a parsed manifest serializes")
    });
    let from_cache = time("cached form, read all", compact.len(), || {
        ServerManifest::from_compact(&compact, &key, &|_| true).expect("the cached form reads back")
    });
    assert_eq!(
        from_cache, from_lua,
        "the cached form holds the same packages"
    );
    let one = time("cached form, read one package", compact.len(), || {
        ServerManifest::from_compact(&compact, &key, &|name| name.contains("package-4321"))
            .expect("the cached form reads back")
    });
    assert_eq!(one.packages.len(), 1);
}
