//! `lvm download NAME [VERSION]`: fetches a package's `.src.rock` or rockspec (or a binary
//! rock) from the rocks servers into a folder, as `luarocks download` does.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ops::install::session::ServerChoice;
use crate::ops::search::{SearchScope, read_published};
use crate::ops::{Error, Result, fs_error};
use crate::version::{Constraints, Version};

/// Which file of a package to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The `.src.rock` when published, else the rockspec, else a binary rock this platform
    /// can use (`.all.rock`, then its own arch).
    Any,
    /// The `.rockspec` only (`--rockspec`).
    Rockspec,
    /// The `.src.rock` only (`--source`).
    SourceRock,
}

/// The file fetched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downloaded {
    pub name: String,
    pub version: String,
    /// `rockspec`, `src`, `all` or a platform such as `linux-x86_64`.
    pub arch: String,
    pub server: String,
    pub path: PathBuf,
}

/// The arch of the file to fetch among those published for one version, in the order of
/// [`Wanted`]; `None` when none fits. Pure.
pub fn pick_arch(published: &[String], wanted: Wanted) -> Option<String> {
    let platform = crate::platform::rock_arch();
    let order: Vec<&str> = match wanted {
        Wanted::Any => vec!["src", "rockspec", "all", platform.as_str()],
        Wanted::Rockspec => vec!["rockspec"],
        Wanted::SourceRock => vec!["src"],
    };
    order
        .into_iter()
        .find(|a| published.iter().any(|p| p == a))
        .map(str::to_string)
}

/// Fetches the newest version of `name` that `version` (an exact version or a constraint)
/// allows and that publishes a file `wanted` takes, into `dest_dir`.
pub fn download(
    scope: &SearchScope,
    choice: &ServerChoice,
    name: &str,
    version: Option<&str>,
    wanted: Wanted,
    dest_dir: &Path,
) -> Result<Downloaded> {
    let name = name.to_ascii_lowercase();
    let constraints = match version {
        Some(text) => Constraints::parse(text).map_err(|source| Error::BadConstraint {
            text: text.to_string(),
            source,
        })?,
        None => Constraints::any(),
    };
    let published = read_published(scope, choice, &|n| n == name)?;
    let Some(per_server) = published.packages.get(&name) else {
        return Err(Error::PackageNotFound {
            name,
            servers: published
                .servers
                .iter()
                .map(|s| s.url().to_string())
                .collect(),
        });
    };
    // Newest version first; the first server (in priority order) that has a wanted file.
    let mut best: Option<(Version, usize, String)> = None;
    for (server, versions) in per_server {
        for (v, arches) in versions.iter().rev() {
            if !constraints.matches(v) {
                continue;
            }
            let Some(arch) = pick_arch(arches, wanted) else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _, _)| v > b) {
                best = Some((v.clone(), *server, arch));
            }
            break;
        }
    }
    let Some((version, server, arch)) = best else {
        return Err(Error::NoMatchingVersion {
            wanted: describe_wanted(version, wanted),
            available: published
                .versions(&name)
                .iter()
                .map(|v| v.to_string())
                .collect(),
            name,
        });
    };
    let server = &published.servers[server];
    let file = match arch.as_str() {
        "rockspec" => crate::server::rockspec_file_name(&name, &version),
        _ => crate::server::rock_file_name(&name, &version, &arch),
    };
    std::fs::create_dir_all(dest_dir).map_err(fs_error("create", dest_dir))?;
    let path = dest_dir.join(&file);
    server.download_to(&file, &path)?;
    Ok(Downloaded {
        name,
        version: version.to_string(),
        arch,
        server: server.url().to_string(),
        path,
    })
}

/// What was asked for, for an error: `1.0-1 as a .src.rock`.
fn describe_wanted(version: Option<&str>, wanted: Wanted) -> String {
    let version = version.unwrap_or("(any version)");
    match wanted {
        Wanted::Any => version.to_string(),
        Wanted::Rockspec => format!("{version} as a .rockspec"),
        Wanted::SourceRock => format!("{version} as a .src.rock"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arches(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sources_come_first_then_the_rockspec_then_binaries() {
        assert_eq!(
            pick_arch(&arches(&["rockspec", "src"]), Wanted::Any).as_deref(),
            Some("src")
        );
        assert_eq!(
            pick_arch(&arches(&["all", "rockspec"]), Wanted::Any).as_deref(),
            Some("rockspec")
        );
        assert_eq!(
            pick_arch(&arches(&["all"]), Wanted::Any).as_deref(),
            Some("all")
        );
        assert_eq!(pick_arch(&arches(&["rockspec"]), Wanted::SourceRock), None);
        assert_eq!(
            pick_arch(&arches(&["src", "rockspec"]), Wanted::Rockspec).as_deref(),
            Some("rockspec")
        );
        assert_eq!(pick_arch(&arches(&["some-other-os"]), Wanted::Any), None);
    }
}
