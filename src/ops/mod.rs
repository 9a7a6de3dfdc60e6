//! Operations: one file per thing a user does to an environment (install, remove, rollback,
//! push, …), each built from the lower modules and returning data, never text for a terminal.
//!
//! An operation that changes an environment takes the environment's writer lock guard; the
//! stages of an install live in [`install`]. Operations sit above every other library module
//! (`env`, `store`, `tree`, `fetch`, `build`, …) and below the CLI and the library API.

pub mod bisect;
pub mod blame;
pub mod cache;
pub mod cache_entries;
pub mod cherry_pick;
pub mod clone;
pub mod develop;
pub mod diff;
pub mod download;
mod error;
pub mod gc;
pub mod history;
pub mod install;
pub mod lua;
pub mod merge_driver;
pub mod outdated;
pub mod profile;
pub mod publish;
pub mod pull;
pub mod push;
pub mod remove;
pub mod revert;
pub mod rollback;
pub mod runtime;
pub mod search;
pub mod show;
pub mod stats;
pub mod sync;
pub mod tag;
pub mod test;
pub mod unpack;
pub mod upgrade;
pub mod verify;
pub mod which;
pub mod why;

pub(crate) use error::fs_error;
pub use error::{Error, MissingBuild, MissingIn, PackageConflict, PackageFailure, Result};
