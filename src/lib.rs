//! lvm — a Lua environment manager.
//!
//! lvm installs Lua packages (rocks) into environments, speaking LuaRocks' formats (rockspecs,
//! rocks server manifests, rocks trees), and records every change to an environment as an event
//! in a git repository that belongs to that environment.
//!
//! The crate is a library with one module per concept and an operations layer ([`ops`]) over
//! them; the `lvm` binary (`src/main.rs`, `src/cli/`) parses commands and prints. The library
//! never prints: it returns data and reports progress through a [`report::Reporter`].

#![deny(clippy::print_stdout, clippy::print_stderr)]
// The operations' errors carry their typed causes by value so a caller can match on them; they
// are a few hundred bytes, on the failure path only, which costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod build;
pub mod cache;
pub mod config;
pub mod curator;
pub mod digest;
pub mod env;
pub mod envrepo;
pub mod errors;
pub mod events;
pub mod fetch;
pub mod format_version;
pub mod fsutil;
pub mod interpreter;
pub mod layout;
pub mod logfile;
pub mod luaversion;
pub mod manifest;
pub mod merge;
pub mod ops;
pub mod parallel;
pub mod platform;
pub mod registry;
pub mod report;
pub mod resolve;
pub mod rockspec;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub mod store;
pub mod suggest;
pub mod tree;
pub mod version;
pub mod vm;
