//! `lvm show NAME` for a package that is not installed: what the rocks servers say about it
//! (its versions, and the newest rockspec's summary, license, homepage and dependencies).

use serde::Serialize;

use crate::env::Scratch;
use crate::ops::install::candidates::fetch_rockspec_text;
use crate::ops::install::session::ServerChoice;
use crate::ops::search::{SearchScope, read_published};
use crate::ops::{Error, Result};
use crate::rockspec::Rockspec;

/// A package as the rocks servers publish it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemotePackage {
    pub name: String,
    /// The newest version this platform can use; the other fields describe its rockspec.
    pub version: String,
    /// Every version the servers publish, newest first.
    pub versions: Vec<String>,
    /// The servers that publish it, in priority order.
    pub servers: Vec<String>,
    /// The server the newest version comes from.
    pub server: String,
    pub summary: Option<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub dependencies: Vec<String>,
}

/// Reads `name` (lower-cased) from the scope's servers: its versions, and its newest usable
/// rockspec's description and dependencies. An error names the servers when none has it.
pub fn remote_package(
    scope: &SearchScope,
    name: &str,
    choice: &ServerChoice,
) -> Result<RemotePackage> {
    let name = name.to_ascii_lowercase();
    let published = read_published(scope, choice, &|n| n == name)?;
    let not_found = || Error::PackageNotFound {
        name: name.clone(),
        servers: published
            .servers
            .iter()
            .map(|s| s.url().to_string())
            .collect(),
    };
    let (version, server, arches) = published.newest(&name, &|_| true).ok_or_else(not_found)?;
    let scratch = Scratch::create(&scope.scratch_dir, "show-")?;
    let text = fetch_rockspec_text(server, &name, &version, &arches, scratch.path())?;
    let rockspec = Rockspec::from_lua(&text, &format!("{name}-{version}.rockspec"))?;
    let servers = published.packages[&name]
        .iter()
        .map(|(i, _)| published.servers[*i].url().to_string())
        .collect();
    Ok(RemotePackage {
        versions: published
            .versions(&name)
            .iter()
            .map(|v| v.to_string())
            .collect(),
        servers,
        server: server.url().to_string(),
        summary: rockspec.description.summary_line(),
        license: rockspec.description.license,
        homepage: rockspec.description.homepage,
        dependencies: rockspec
            .dependencies
            .iter()
            .map(|d| d.to_string())
            .collect(),
        version: version.to_string(),
        name,
    })
}
