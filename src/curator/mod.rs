//! The curator: curated collections and profiles ([`data`]), materializing a profile into an
//! environment ([`setup`]), health checks with fixes ([`doctor`]) and suggestions
//! ([`recommend`]). Nothing here sends usage data anywhere: every check reads the environment,
//! the store and the configured rocks servers' manifests.

pub mod advice;
pub mod data;
pub mod doctor;
mod error;
pub mod loadcheck;
pub mod recommend;
pub mod requires;
pub mod setup;
pub mod usage;

use std::collections::BTreeMap;

use crate::env::Environment;
use crate::server::RocksServer;
use crate::version::Version;

pub use data::{Catalog, CatalogError, Collection, Group, PlannedPackage, Profile};
pub use doctor::{DoctorOptions, DoctorReport, Finding, Severity, doctor};
pub use error::CuratorError;
pub use recommend::{RecommendOptions, Recommendation, Recommendations, recommend};
pub use setup::{SetupOutcome, setup};

/// Loads the catalog in force for `env`: shipped data, the user's, then the environment's.
pub fn load_catalog(env: &Environment) -> Result<Catalog, CatalogError> {
    Catalog::load(&env.home().root, Some(env.root()))
}

/// What the configured rocks servers publish, for update checks.
#[derive(Debug, Default)]
pub struct Available {
    /// Package → (version, server URL), every release version the servers publish.
    pub versions: BTreeMap<String, Vec<(Version, String)>>,
    /// Servers that could not be read, with the reason.
    pub unreachable: Vec<(String, String)>,
}

impl Available {
    /// Reads every configured server's manifest (a remote server's cached copy when it is
    /// unreachable). Development versions (`scm`, `dev`) are left out: they are never an
    /// upgrade to recommend.
    pub fn from_servers(env: &Environment) -> Available {
        let mut out = Available::default();
        for url in &env.config().servers {
            let manifest = RocksServer::new(url, &env.home().cache_dir())
                .map(|s| {
                    s.for_lua(env.lua())
                        .manifest_max_age(env.config().manifest_max_age())
                })
                .map_err(|e| e.to_string())
                .and_then(|s| s.manifest().map_err(|e| e.to_string()));
            match manifest {
                Ok(m) => {
                    for (name, versions) in m.packages {
                        let list = out.versions.entry(name).or_default();
                        for v in versions.into_keys().filter(|v| !v.is_development()) {
                            if !list.iter().any(|(seen, _)| *seen == v) {
                                list.push((v, url.clone()));
                            }
                        }
                    }
                }
                Err(e) => out.unreachable.push((url.clone(), e)),
            }
        }
        out
    }

    /// The newest published version of `name` that `accept` takes, with its server.
    pub fn newest(
        &self,
        name: &str,
        accept: impl Fn(&Version) -> bool,
    ) -> Option<&(Version, String)> {
        self.versions
            .get(name)?
            .iter()
            .filter(|(v, _)| accept(v))
            .max_by(|a, b| a.0.cmp(&b.0))
    }
}

/// Quotes a shell word when it needs it, so printed commands can be pasted as they are.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `lvm install 'a >= 1' b` for a list of install arguments.
pub fn install_command(args: &[String]) -> String {
    let words: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
    format!("lvm install {}", words.join(" "))
}

/// `lvm remove a b`.
pub fn remove_command(names: &[String]) -> String {
    let words: Vec<String> = names.iter().map(|a| shell_word(a)).collect();
    format!("lvm remove {}", words.join(" "))
}
