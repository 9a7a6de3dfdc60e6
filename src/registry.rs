//! Rocks server manifests: the index a rocks server publishes (`manifest`, `manifest-5.4`, and
//! their `.json` forms), parsed into package name → version → available arches.
//!
//! The Lua forms are evaluated in the same [`crate::sandbox`] as rockspecs.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::version::Version;

/// A server manifest: for each package, its versions and the arches each is published as
/// (`rockspec`, `src`, `all`, or a platform such as `linux-x86_64`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerManifest {
    pub packages: BTreeMap<String, BTreeMap<Version, Vec<String>>>,
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl ServerManifest {
    /// Parses the Lua form (`repository = { ... }`). `file` names it in errors.
    pub fn parse_lua(text: &str, file: &str) -> Result<ServerManifest, ManifestError> {
        let _ = (text, file);
        todo!("server manifest parsing")
    }

    /// Parses the JSON form.
    pub fn parse_json(text: &str, file: &str) -> Result<ServerManifest, ManifestError> {
        let _ = (text, file);
        todo!("server manifest parsing")
    }
}
