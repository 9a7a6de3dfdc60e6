//! Where lvm keeps things and how an environment is configured.
//!
//! The lvm home (`LVM_HOME`, else `$XDG_DATA_HOME/lvm`, else `~/.local/share/lvm`) holds the
//! shared store, the download cache and named environments. An environment's own settings live
//! in its `lvm.toml` (tracked in its repository), validated on read: unknown keys are rejected
//! with a suggestion.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Rocks servers `lvm init` uses when none is given on the command line (space-separated).
pub const SERVERS_VAR: &str = "LVM_SERVERS";

/// The directory name of a project-local environment (like `.venv`).
pub const LOCAL_ENV_DIR: &str = ".lvm";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot find a home folder for lvm: set LVM_HOME (or HOME / XDG_DATA_HOME) to a writable directory"
    )]
    NoHome,
}

/// `lvm.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// The Lua version the environment targets.
    pub lua: String,
    /// Rocks servers in priority order.
    pub servers: Vec<String>,
}

const CONFIG_KEYS: &[&str] = &["lua", "servers"];

impl EnvConfig {
    pub fn new(lua: &str, servers: Vec<String>) -> EnvConfig {
        EnvConfig {
            lua: lua.to_string(),
            servers,
        }
    }

    pub fn to_toml(&self) -> String {
        let mut out = String::from("# lvm environment settings (see `lvm config`)\n");
        out.push_str(&toml::to_string(self).expect("config always serializes"));
        out
    }

    /// Parses and validates `lvm.toml` text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<EnvConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            file: file.to_string(),
            message,
        };
        let raw: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for key in raw.keys() {
            if !CONFIG_KEYS.contains(&key.as_str()) {
                let hint = suggest(key, CONFIG_KEYS)
                    .map(|s| format!("; did you mean '{s}'?"))
                    .unwrap_or_default();
                return Err(invalid(format!(
                    "unknown key '{key}'{hint} (known keys: {})",
                    CONFIG_KEYS.join(", ")
                )));
            }
        }
        let config: EnvConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if config.lua != crate::platform::LUA_VERSION {
            return Err(invalid(format!(
                "lua = '{}': this lvm supports Lua {} only",
                config.lua,
                crate::platform::LUA_VERSION
            )));
        }
        for server in &config.servers {
            if server.trim().is_empty() {
                return Err(invalid("servers: empty server URL".into()));
            }
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<EnvConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: file.clone(),
            source,
        })?;
        EnvConfig::parse(&text, &file)
    }
}

/// The closest known word within a small edit distance.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The lvm home folder.
pub fn home() -> Result<PathBuf, ConfigError> {
    home_from(
        std::env::var_os("LVM_HOME"),
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )
}

fn home_from(
    lvm_home: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf, ConfigError> {
    let non_empty = |v: Option<std::ffi::OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(p) = non_empty(lvm_home) {
        return Ok(p);
    }
    if let Some(p) = non_empty(xdg) {
        return Ok(p.join("lvm"));
    }
    non_empty(home)
        .map(|h| h.join(".local/share/lvm"))
        .ok_or(ConfigError::NoHome)
}

/// How an environment was found, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvOrigin {
    Flag,
    EnvVar,
    Local,
    Default,
}

/// Finds the environment: `--env PATH`, then `LVM_ENV`, then the nearest `.lvm/` walking up
/// from `cwd`, then `<home>/envs/default`.
pub fn locate_env(
    flag: Option<&Path>,
    env_var: Option<&Path>,
    cwd: &Path,
    home: &Path,
) -> (PathBuf, EnvOrigin) {
    if let Some(p) = flag {
        return (p.to_path_buf(), EnvOrigin::Flag);
    }
    if let Some(p) = env_var.filter(|p| !p.as_os_str().is_empty()) {
        return (p.to_path_buf(), EnvOrigin::EnvVar);
    }
    for dir in cwd.ancestors() {
        let candidate = dir.join(LOCAL_ENV_DIR);
        if candidate.join(".git").is_dir() {
            return (candidate, EnvOrigin::Local);
        }
    }
    (named_env(home, "default"), EnvOrigin::Default)
}

/// The path of a named environment under the lvm home.
pub fn named_env(home: &Path, name: &str) -> PathBuf {
    home.join("envs").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let err = EnvConfig::parse("lua = \"5.4\"\nsever = []\n", "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("did you mean 'servers'"), "{err}");
    }

    #[test]
    fn config_values_are_validated() {
        let ok =
            EnvConfig::parse("lua = \"5.4\"\nservers = [\"file:///srv\"]\n", "lvm.toml").unwrap();
        assert_eq!(ok, EnvConfig::new("5.4", vec!["file:///srv".into()]));
        assert_eq!(EnvConfig::parse(&ok.to_toml(), "lvm.toml").unwrap(), ok);
        let err = EnvConfig::parse("lua = \"5.1\"\nservers = []\n", "e/lvm.toml").unwrap_err();
        assert!(
            err.to_string().starts_with("e/lvm.toml: lua = '5.1'"),
            "{err}"
        );
        assert!(err.to_string().contains("Lua 5.4 only"), "{err}");
        let err = EnvConfig::parse("lua = \"5.4\"\nservers = [\" \"]\n", "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("empty server URL"), "{err}");
        let err = EnvConfig::parse("lua = \"5.4\"\n", "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("servers"), "{err}");
        let err = EnvConfig::parse("lua = ", "lvm.toml").unwrap_err();
        assert!(err.to_string().starts_with("lvm.toml: "), "{err}");
        let err =
            EnvConfig::parse("lua = \"5.4\"\nservers = []\ncolour = 1\n", "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("unknown key 'colour'"), "{err}");
        assert!(
            err.to_string().contains("known keys: lua, servers"),
            "{err}"
        );
    }

    #[test]
    fn home_precedence() {
        let h = home_from(None, Some("/x".into()), Some("/h".into())).unwrap();
        assert_eq!(h, PathBuf::from("/x/lvm"));
        let h = home_from(Some("/l".into()), Some("/x".into()), None).unwrap();
        assert_eq!(h, PathBuf::from("/l"));
        let h = home_from(None, None, Some("/h".into())).unwrap();
        assert_eq!(h, PathBuf::from("/h/.local/share/lvm"));
    }

    #[test]
    fn locate_walks_up_to_a_local_env() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("p");
        std::fs::create_dir_all(project.join(".lvm/.git")).unwrap();
        std::fs::create_dir_all(project.join("src/deep")).unwrap();
        let (p, o) = locate_env(None, None, &project.join("src/deep"), Path::new("/home"));
        assert_eq!((p, o), (project.join(".lvm"), EnvOrigin::Local));
        let (p, o) = locate_env(None, Some(Path::new("/e")), &project, Path::new("/home"));
        assert_eq!((p, o), (PathBuf::from("/e"), EnvOrigin::EnvVar));
    }
}
