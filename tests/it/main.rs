//! lvm's integration tests, as one test binary (`cargo test --test it`): each module is one
//! area, all share [`common`], and the library and its helpers are compiled and linked once.
//! Run one area with `cargo test --test it build::`, one test with its full path.
//!
//! Every test shares this process with the others, so none may change process-wide state
//! (environment variables, the current directory, signal handlers, libgit2 options): child
//! processes get their environment and directory through `Command`.
//!
//! Tests that need a tool or file lvm does not ship (`cmake`, `luarocks`, `lua5.4` with
//! LuaRocks' modules, `python3`, the shared version table) carry
//! `#[cfg_attr(not(lvm_has_…), ignore = "…")]`: the package's build script sets the `lvm_has_…`
//! cfgs for what it finds, so a missing tool shows as an ignored test, never as a pass.
//! `cargo test -- --include-ignored` runs them anyway (and they fail, saying what is missing).

mod common;

mod api_errors;
mod bench_smoke;
mod build;
mod cache;
mod config_cli;
mod curator;
mod develop;
mod early_builds;
mod env_history;
mod env_profiles;
mod env_safety;
mod env_trees;
mod example;
mod fetch;
mod git_http;
mod git_ssh;
mod history_bisect;
mod history_merge;
mod history_pack;
mod history_signing;
mod history_tools;
mod hostile_input;
mod hostile_store;
mod https;
mod install;
mod install_errors;
mod install_sources;
mod interactive;
mod lint_cli;
mod lock_scope;
mod lua_versions;
mod luarocks_cmds;
mod manifest_parse;
mod outcome_json;
mod packages_cli;
mod parity;
mod project;
mod resolve;
mod robustness;
mod rockspec;
mod runtime;
mod server;
mod sharing;
mod shell_cli;
mod store;
mod tree;
mod version_props;
mod version_table;
mod vm;
