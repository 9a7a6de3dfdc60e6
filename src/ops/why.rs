//! `lvm why`: the dependency paths from the packages the user asked for down to one installed
//! package, with the constraint at every step (like `cargo tree -i`).

use crate::env::Environment;
use crate::ops::history::{self, Step};
use crate::ops::{Error, Result};
use crate::version::Version;

/// At most this many paths are listed; a dense graph can have very many.
pub const MAX_PATHS: usize = 100;

/// Why a package is installed.
#[derive(Debug, Clone)]
pub struct Why {
    pub name: String,
    pub version: Version,
    /// The constraint the user asked for it with, when the user asked for it.
    pub requested: Option<String>,
    /// The paths from a requested package down to it, shortest first.
    pub paths: Vec<Vec<Step>>,
    /// Whether there were more than [`MAX_PATHS`] paths.
    pub truncated: bool,
}

/// The dependency paths down to `name` in the current state.
pub fn why(env: &Environment, name: &str) -> Result<Why> {
    let state = env.manifest()?;
    let name = name.to_ascii_lowercase();
    let package = state
        .packages
        .get(&name)
        .ok_or_else(|| Error::NotInstalled { name: name.clone() })?;
    let (paths, truncated) = history::paths_to(&state, &name, MAX_PATHS);
    Ok(Why {
        version: package.version.clone(),
        requested: package.reason.requested.clone(),
        paths,
        truncated,
        name,
    })
}
