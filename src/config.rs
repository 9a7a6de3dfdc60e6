//! Where lvm keeps things and how it is configured.
//!
//! The lvm home (`LVM_HOME`, else `$XDG_DATA_HOME/lvm`, else `~/.local/share/lvm`) holds the
//! shared store, the download cache and named environments. Settings come from five levels, the
//! first that sets a key wins: a command-line flag, an environment variable, the environment's
//! `lvm.toml` (tracked in its repository), the user's `config.toml` (`LVM_CONFIG`, else
//! `$XDG_CONFIG_HOME/lvm/config.toml`, else `~/.config/lvm/config.toml`), the built-in default.
//! [`resolve`] folds the levels into [`Settings`], remembering where each value came from. Every
//! value is validated where it enters (file, variable, flag, `lvm config set`) by the same
//! [`Value`] parsers, and unknown keys are rejected with a suggestion.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::luaversion::LuaVersion;

/// Rocks servers (space-separated); above the environment's and the user's.
pub const SERVERS_VAR: &str = "LVM_SERVERS";
/// Seconds to wait for the writer lock.
pub const LOCK_TIMEOUT_VAR: &str = "LVM_LOCK_TIMEOUT";
/// Parallel build jobs (`auto` or a positive integer).
pub const JOBS_VAR: &str = "LVM_JOBS";
/// `auto`, `always` or `never`.
pub const COLOR_VAR: &str = "LVM_COLOR";
/// The Lua interpreter an environment runs and builds for, replacing the system one.
pub const LUA_BIN_VAR: &str = "LVM_LUA_BIN";
/// Seconds a server may take to connect or to send more data, or `default`.
pub const HTTP_TIMEOUT_VAR: &str = "LVM_HTTP_TIMEOUT";
/// Environment variable overriding the `download_timeout` setting.
pub const DOWNLOAD_TIMEOUT_VAR: &str = "LVM_DOWNLOAD_TIMEOUT";
/// Environment variable overriding the `manifest_max_age` setting.
pub const MANIFEST_MAX_AGE_VAR: &str = "LVM_MANIFEST_MAX_AGE";
/// How long a rocks server's manifest, once fetched, is used without asking the server again
/// (LuaRocks' `cache_timeout` has the same default).
pub const DEFAULT_MANIFEST_MAX_AGE: f64 = 60.0;
/// `true` or `false`: sign the event commits lvm records (the `sign` setting).
pub const SIGN_VAR: &str = "LVM_SIGN";
/// The informal standard (any non-empty value means no color); below [`COLOR_VAR`].
pub const NO_COLOR_VAR: &str = "NO_COLOR";
/// Build caches to read, in order (space-separated URLs).
pub const CACHES_VAR: &str = "LVM_CACHES";
/// The build cache `lvm cache push` writes to.
pub const CACHE_PUSH_VAR: &str = "LVM_CACHE_PUSH";
/// Public keys whose signatures on cache entries are trusted (space-separated `NAME:KEY`).
pub const TRUSTED_KEYS_VAR: &str = "LVM_TRUSTED_KEYS";
/// `true` or `false`: take a source digest from a trusted signer's recipe record instead of
/// downloading the source (the `cache_trust_sources` setting).
pub const CACHE_TRUST_SOURCES_VAR: &str = "LVM_CACHE_TRUST_SOURCES";
/// The user config file, replacing the XDG location.
pub const USER_CONFIG_VAR: &str = "LVM_CONFIG";

/// Seconds to wait for another lvm process when nothing else is configured.
/// The longest wait a setting may ask for, in seconds (a year): far beyond any real wait, and
/// well inside what a `Duration` holds, so no value can make lvm fail to start.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;
pub const DEFAULT_LOCK_TIMEOUT: f64 = 60.0;

/// The directory name of a project-local environment (like `.venv`).
pub const LOCAL_ENV_DIR: &str = ".lvm";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: cannot read: {cause}")]
    Io { file: String, cause: std::io::Error },
    #[error("{file}: cannot write: {cause}")]
    Write { file: String, cause: std::io::Error },
    #[error(
        "cannot find a home folder for lvm: set LVM_HOME (or HOME / XDG_DATA_HOME) to a writable directory"
    )]
    NoHome,
}

/// A setting lvm knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Lua,
    LuaBin,
    Servers,
    LockTimeout,
    Jobs,
    Color,
    HttpTimeout,
    DownloadTimeout,
    ManifestMaxAge,
    Sign,
    Variables,
    Dev,
    Caches,
    CachePush,
    TrustedKeys,
    CacheTrustSources,
}

impl Key {
    /// Every key, in the order `lvm config list` shows them.
    pub const ALL: [Key; 16] = [
        Key::Lua,
        Key::LuaBin,
        Key::Servers,
        Key::LockTimeout,
        Key::Jobs,
        Key::Color,
        Key::HttpTimeout,
        Key::DownloadTimeout,
        Key::ManifestMaxAge,
        Key::Sign,
        Key::Variables,
        Key::Dev,
        Key::Caches,
        Key::CachePush,
        Key::TrustedKeys,
        Key::CacheTrustSources,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Key::Servers => "servers",
            Key::Lua => "lua",
            Key::LuaBin => "lua_bin",
            Key::LockTimeout => "lock_timeout",
            Key::Jobs => "jobs",
            Key::Color => "color",
            Key::HttpTimeout => "http_timeout",
            Key::DownloadTimeout => "download_timeout",
            Key::ManifestMaxAge => "manifest_max_age",
            Key::Sign => "sign",
            Key::Variables => "variables",
            Key::Dev => "dev",
            Key::Caches => "caches",
            Key::CachePush => "cache_push",
            Key::TrustedKeys => "trusted_keys",
            Key::CacheTrustSources => "cache_trust_sources",
        }
    }

    /// The values the key accepts, for error messages and help.
    pub fn allowed(self) -> String {
        match self {
            Key::Servers => {
                "rocks server URLs (file://, http://, https://) or folders, space-separated"
                    .to_string()
            }
            Key::Lua => LuaVersion::accepted(),
            Key::LuaBin => {
                "the path of a Lua interpreter of the environment's Lua version".to_string()
            }
            Key::LockTimeout => "a number of seconds >= 0 (e.g. 60, 2.5)".to_string(),
            Key::Jobs => "a positive integer or 'auto' (the number of CPUs)".to_string(),
            Key::Color => "auto, always, never".to_string(),
            Key::HttpTimeout => format!(
                "a number of seconds > 0 (e.g. 30, 2.5), or 'default' ({})",
                HttpTimeout::default_text()
            ),
            Key::DownloadTimeout => format!(
                "a number of seconds > 0 for one whole download (default {})",
                crate::fetch::DEFAULT_DOWNLOAD_TIMEOUT.as_secs()
            ),
            Key::ManifestMaxAge => format!(
                "a number of seconds >= 0 a fetched server manifest is used without asking the \
                 server again; 0 asks every time (default {DEFAULT_MANIFEST_MAX_AGE})"
            ),
            Key::Variables => "build variables as NAME=VALUE words (e.g. OPENSSL_DIR=/opt/ssl); \
                 in a file, a table: variables = { OPENSSL_DIR = \"/opt/ssl\" }"
                .to_string(),
            Key::Dev => "true or false".to_string(),
            Key::CacheTrustSources => "true or false: take a package's source digest from a \
                                       recipe record a trusted key signed instead of \
                                       downloading the source (default true)"
                .to_string(),
            Key::Caches => "build cache URLs (file://, http://, https://, s3://bucket/prefix), \
                            space-separated, read in order"
                .to_string(),
            Key::CachePush => "the build cache URL `lvm cache push` writes to (file://, \
                               http://, https://, s3://bucket/prefix)"
                .to_string(),
            Key::TrustedKeys => "public keys as NAME:BASE64 (`lvm cache key generate` prints \
                                 one), space-separated"
                .to_string(),
            Key::Sign => "true or false: sign event commits as git does (gpg.format, \
                          user.signingkey)"
                .to_string(),
        }
    }

    /// The key named `name`; `source` names where it was read, for the error.
    pub fn parse(name: &str, source: &str) -> Result<Key, ConfigError> {
        if let Some(key) = Key::ALL.iter().find(|k| k.name() == name) {
            return Ok(*key);
        }
        let names: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
        let hint = crate::suggest::did_you_mean(name, &names);
        Err(ConfigError::Invalid {
            file: source.to_string(),
            message: format!(
                "unknown key '{name}'{hint} (known keys: {})",
                names.join(", ")
            ),
        })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When output is colored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Color {
    /// When the output is a terminal.
    #[default]
    Auto,
    Always,
    Never,
}

impl Color {
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Auto => "auto",
            Color::Always => "always",
            Color::Never => "never",
        }
    }

    /// Whether to color a stream that is (or is not) a terminal.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            Color::Auto => is_terminal,
            Color::Always => true,
            Color::Never => false,
        }
    }
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How many build processes a rock build runs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jobs {
    /// The number of CPUs.
    #[default]
    Auto,
    /// At least 1.
    Count(u32),
}

impl Jobs {
    /// The number of jobs (`auto`: the CPUs this process may use).
    pub fn count(self) -> usize {
        match self {
            Jobs::Auto => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            Jobs::Count(n) => (n as usize).max(1),
        }
    }
}

impl fmt::Display for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Jobs::Auto => f.write_str("auto"),
            Jobs::Count(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for Jobs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Jobs::Auto => s.serialize_str("auto"),
            Jobs::Count(n) => s.serialize_u32(*n),
        }
    }
}

/// How long a server may take to connect, and then each time to send more data.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum HttpTimeout {
    /// Separate built-in limits for connecting and for each read.
    #[default]
    Default,
    /// One limit for both, in seconds (finite, above 0).
    Seconds(f64),
}

impl HttpTimeout {
    /// What `default` stands for, for messages and help: the built-in download limits.
    pub fn default_text() -> String {
        let built_in = crate::fetch::FetchOptions::default();
        format!(
            "{} s to connect, {} s per read",
            built_in.connect_timeout.as_secs_f64(),
            built_in.read_timeout.as_secs_f64()
        )
    }

    /// The one limit, or `None` for the built-in ones.
    pub fn duration(self) -> Option<Duration> {
        match self {
            HttpTimeout::Default => None,
            HttpTimeout::Seconds(s) => Some(Duration::from_secs_f64(s)),
        }
    }
}

impl fmt::Display for HttpTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpTimeout::Default => f.write_str("default"),
            HttpTimeout::Seconds(s) => write!(f, "{s}"),
        }
    }
}

impl Serialize for HttpTimeout {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HttpTimeout::Default => s.serialize_str("default"),
            HttpTimeout::Seconds(seconds) => s.serialize_f64(*seconds),
        }
    }
}

/// A validated value of one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Servers(Vec<String>),
    Lua(LuaVersion),
    LuaBin(PathBuf),
    LockTimeout(f64),
    Jobs(Jobs),
    Color(Color),
    HttpTimeout(HttpTimeout),
    /// Seconds one whole download may take.
    DownloadTimeout(f64),
    /// Seconds a fetched server manifest is used without asking the server again.
    ManifestMaxAge(f64),
    /// Whether event commits are signed.
    Sign(bool),
    /// Build variables every build gets (`OPENSSL_DIR` → `/opt/ssl`), as in LuaRocks' config.
    Variables(BTreeMap<String, String>),
    /// Whether the servers' `dev` sub-servers are used and development versions may win.
    Dev(bool),
    /// Build caches read before building, in order.
    Caches(Vec<String>),
    /// The build cache pushes go to (empty: none).
    CachePush(String),
    /// Public keys (`NAME:BASE64`) whose signed cache entries are installed.
    TrustedKeys(Vec<String>),
    /// Whether a trusted recipe record's source digest stands in for downloading the source.
    CacheTrustSources(bool),
}

impl Value {
    pub fn key(&self) -> Key {
        match self {
            Value::Servers(_) => Key::Servers,
            Value::Lua(_) => Key::Lua,
            Value::LuaBin(_) => Key::LuaBin,
            Value::LockTimeout(_) => Key::LockTimeout,
            Value::Jobs(_) => Key::Jobs,
            Value::Color(_) => Key::Color,
            Value::HttpTimeout(_) => Key::HttpTimeout,
            Value::DownloadTimeout(_) => Key::DownloadTimeout,
            Value::ManifestMaxAge(_) => Key::ManifestMaxAge,
            Value::Sign(_) => Key::Sign,
            Value::Variables(_) => Key::Variables,
            Value::Dev(_) => Key::Dev,
            Value::Caches(_) => Key::Caches,
            Value::CachePush(_) => Key::CachePush,
            Value::TrustedKeys(_) => Key::TrustedKeys,
            Value::CacheTrustSources(_) => Key::CacheTrustSources,
        }
    }

    /// Reads a value written as text (a flag, an environment variable, `lvm config set`):
    /// servers are space-separated. `source` names where it came from, for the error.
    pub fn parse(key: Key, text: &str, source: &str) -> Result<Value, ConfigError> {
        let bad = |problem: &str| bad_value(source, key, text, problem);
        let trimmed = text.trim();
        let value = match key {
            Key::Servers => Value::Servers(trimmed.split_whitespace().map(String::from).collect()),
            Key::Lua => {
                Value::Lua(LuaVersion::parse(trimmed).map_err(|_| bad("not a Lua version"))?)
            }
            Key::LuaBin if trimmed.is_empty() => return Err(bad("empty path")),
            Key::LuaBin => Value::LuaBin(PathBuf::from(trimmed)),
            Key::LockTimeout => {
                Value::LockTimeout(trimmed.parse::<f64>().map_err(|_| bad("not a number"))?)
            }
            Key::Jobs if trimmed == "auto" => Value::Jobs(Jobs::Auto),
            Key::Jobs => Value::Jobs(Jobs::Count(
                trimmed
                    .parse::<u32>()
                    .map_err(|_| bad("not a positive integer"))?,
            )),
            Key::Color => Value::Color(match trimmed {
                "auto" => Color::Auto,
                "always" => Color::Always,
                "never" => Color::Never,
                _ => return Err(bad("not a color mode")),
            }),
            Key::HttpTimeout if trimmed == "default" => Value::HttpTimeout(HttpTimeout::Default),
            Key::HttpTimeout => Value::HttpTimeout(HttpTimeout::Seconds(
                trimmed.parse::<f64>().map_err(|_| bad("not a number"))?,
            )),
            Key::DownloadTimeout => {
                Value::DownloadTimeout(trimmed.parse::<f64>().map_err(|_| bad("not a number"))?)
            }
            Key::ManifestMaxAge => {
                Value::ManifestMaxAge(trimmed.parse::<f64>().map_err(|_| bad("not a number"))?)
            }
            Key::Sign => Value::Sign(match trimmed {
                "true" => true,
                "false" => false,
                _ => return Err(bad("not true or false")),
            }),
            Key::CacheTrustSources => Value::CacheTrustSources(match trimmed {
                "true" => true,
                "false" => false,
                _ => return Err(bad("not true or false")),
            }),
            Key::Variables => Value::Variables(
                trimmed
                    .split_whitespace()
                    .map(|word| {
                        word.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .ok_or_else(|| bad(&format!("`{word}` is not NAME=VALUE")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Key::Dev => Value::Dev(match trimmed {
                "true" => true,
                "false" => false,
                _ => return Err(bad("not true or false")),
            }),
            Key::Caches => Value::Caches(words(trimmed)),
            Key::CachePush => Value::CachePush(trimmed.trim_end_matches('/').to_string()),
            Key::TrustedKeys => Value::TrustedKeys(words(trimmed)),
        };
        value.checked(text, source)
    }

    /// Reads a value from a TOML file; `source` names the file.
    pub fn from_toml(key: Key, value: &toml::Value, source: &str) -> Result<Value, ConfigError> {
        let shown = value.to_string();
        let bad = |problem: &str| bad_value(source, key, &shown, problem);
        let parsed = match (key, value) {
            (Key::Servers, toml::Value::Array(items)) => Value::Servers(
                items
                    .iter()
                    .map(|i| i.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("every server must be a string"))?,
            ),
            (Key::Servers, _) => {
                return Err(bad(
                    "not a list; write servers = [\"https://...\", \"file:///srv/rocks\"]",
                ));
            }
            (Key::Lua | Key::LuaBin, toml::Value::String(s)) => {
                return Value::parse(key, s, source);
            }
            (Key::LockTimeout, toml::Value::Integer(i)) => Value::LockTimeout(*i as f64),
            (Key::LockTimeout, toml::Value::Float(f)) => Value::LockTimeout(*f),
            (Key::Jobs, toml::Value::Integer(i)) => Value::Jobs(Jobs::Count(
                u32::try_from(*i).map_err(|_| bad("must be at least 1"))?,
            )),
            (Key::HttpTimeout, toml::Value::Integer(i)) => {
                Value::HttpTimeout(HttpTimeout::Seconds(*i as f64))
            }
            (Key::HttpTimeout, toml::Value::Float(f)) => {
                Value::HttpTimeout(HttpTimeout::Seconds(*f))
            }
            (Key::DownloadTimeout, toml::Value::Integer(i)) => Value::DownloadTimeout(*i as f64),
            (Key::DownloadTimeout, toml::Value::Float(f)) => Value::DownloadTimeout(*f),
            (Key::ManifestMaxAge, toml::Value::Integer(i)) => Value::ManifestMaxAge(*i as f64),
            (Key::ManifestMaxAge, toml::Value::Float(f)) => Value::ManifestMaxAge(*f),
            (Key::Sign, toml::Value::Boolean(b)) => Value::Sign(*b),
            (Key::CacheTrustSources, toml::Value::Boolean(b)) => Value::CacheTrustSources(*b),
            (Key::Jobs | Key::Color | Key::HttpTimeout | Key::Dev, toml::Value::String(s)) => {
                return Value::parse(key, s, source);
            }
            (Key::Dev, toml::Value::Boolean(b)) => Value::Dev(*b),
            (Key::Caches | Key::TrustedKeys, toml::Value::Array(items)) => {
                let list = items
                    .iter()
                    .map(|i| i.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("every entry must be a string"))?;
                match key {
                    Key::Caches => Value::Caches(list),
                    _ => Value::TrustedKeys(list),
                }
            }
            (Key::Caches | Key::TrustedKeys, _) => {
                return Err(bad(
                    "not a list; write caches = [\"s3://bucket/lvm\"] or trusted_keys = [\"team-1:BASE64\"]",
                ));
            }
            (Key::CachePush, toml::Value::String(s)) => return Value::parse(key, s, source),
            (Key::Variables, toml::Value::Table(table)) => Value::Variables(
                table
                    .iter()
                    .map(|(k, v)| match v {
                        toml::Value::String(s) => Ok((k.clone(), s.clone())),
                        toml::Value::Integer(i) => Ok((k.clone(), i.to_string())),
                        _ => Err(bad(&format!("the value of {k} is not a string"))),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(bad("wrong type")),
        };
        parsed.checked(&shown, source)
    }

    /// The range checks every way in shares.
    fn checked(self, shown: &str, source: &str) -> Result<Value, ConfigError> {
        let bad = |problem: String| Err(bad_value(source, self.key(), shown, &problem));
        match &self {
            Value::Servers(list) => {
                for server in list {
                    if let Some(problem) = server_problem(server) {
                        return bad(problem);
                    }
                }
            }
            Value::LockTimeout(s) | Value::ManifestMaxAge(s) if !s.is_finite() || *s < 0.0 => {
                return bad("must be a finite number >= 0".to_string());
            }
            Value::Jobs(Jobs::Count(0)) => return bad("must be at least 1".to_string()),
            Value::Caches(list) => {
                if let Some(problem) = list.iter().find_map(|url| cache_url_problem(url)) {
                    return bad(problem);
                }
            }
            Value::CachePush(url) if !url.is_empty() => {
                if let Some(problem) = cache_url_problem(url) {
                    return bad(problem);
                }
            }
            Value::TrustedKeys(list) => {
                for key in list {
                    if let Err(e) = crate::cache::keys::PublicKey::parse(key) {
                        return bad(e.to_string());
                    }
                }
            }
            Value::Variables(vars) => {
                if let Some(name) = vars.keys().find(|k| !is_variable_name(k)) {
                    return bad(format!(
                        "`{name}` is not a variable name (a letter or _, then letters, digits or _)"
                    ));
                }
            }
            Value::HttpTimeout(HttpTimeout::Seconds(s)) | Value::DownloadTimeout(s)
                if !s.is_finite() || *s <= 0.0 =>
            {
                return bad("must be a finite number of seconds > 0".to_string());
            }
            Value::LockTimeout(s)
            | Value::HttpTimeout(HttpTimeout::Seconds(s))
            | Value::DownloadTimeout(s)
            | Value::ManifestMaxAge(s)
                if *s > MAX_SECONDS =>
            {
                return bad(format!("must be at most {MAX_SECONDS} seconds (a year)"));
            }
            _ => {}
        }
        Ok(self)
    }

    /// The value as written in a TOML file.
    pub fn to_toml(&self) -> toml::Value {
        match self {
            Value::Servers(list) => {
                toml::Value::Array(list.iter().cloned().map(toml::Value::String).collect())
            }
            Value::Lua(v) => toml::Value::String(v.to_string()),
            Value::LuaBin(p) => toml::Value::String(p.display().to_string()),
            Value::LockTimeout(s) => toml::Value::Float(*s),
            Value::Jobs(Jobs::Auto) => toml::Value::String("auto".into()),
            Value::Jobs(Jobs::Count(n)) => toml::Value::Integer(i64::from(*n)),
            Value::Color(c) => toml::Value::String(c.as_str().into()),
            Value::HttpTimeout(HttpTimeout::Default) => toml::Value::String("default".into()),
            Value::HttpTimeout(HttpTimeout::Seconds(s)) => toml::Value::Float(*s),
            Value::DownloadTimeout(s) => toml::Value::Float(*s),
            Value::ManifestMaxAge(s) => toml::Value::Float(*s),
            Value::Sign(b) => toml::Value::Boolean(*b),
            Value::Variables(vars) => toml::Value::Table(
                vars.iter()
                    .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                    .collect(),
            ),
            Value::Dev(b) | Value::CacheTrustSources(b) => toml::Value::Boolean(*b),
            Value::Caches(list) | Value::TrustedKeys(list) => {
                toml::Value::Array(list.iter().cloned().map(toml::Value::String).collect())
            }
            Value::CachePush(url) => toml::Value::String(url.clone()),
        }
    }

    /// The value in `lvm config list --json`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Servers(list) => serde_json::json!(list),
            Value::Lua(v) => serde_json::json!(v.as_str()),
            Value::LuaBin(p) if p.as_os_str().is_empty() => serde_json::Value::Null,
            Value::LuaBin(p) => serde_json::json!(p.display().to_string()),
            Value::LockTimeout(s) => serde_json::json!(s),
            Value::Jobs(j) => serde_json::to_value(j).unwrap_or_default(),
            Value::Color(c) => serde_json::json!(c.as_str()),
            Value::HttpTimeout(t) => serde_json::to_value(t).unwrap_or_default(),
            Value::DownloadTimeout(s) => serde_json::json!(s),
            Value::ManifestMaxAge(s) => serde_json::json!(s),
            Value::Sign(b) => serde_json::json!(b),
            Value::Variables(vars) => serde_json::json!(vars),
            Value::Dev(b) | Value::CacheTrustSources(b) => serde_json::json!(b),
            Value::Caches(list) | Value::TrustedKeys(list) => serde_json::json!(list),
            Value::CachePush(url) if url.is_empty() => serde_json::Value::Null,
            Value::CachePush(url) => serde_json::json!(url),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Servers(list) => f.write_str(&list.join(" ")),
            Value::Lua(v) => f.write_str(v.as_str()),
            Value::LuaBin(p) => write!(f, "{}", p.display()),
            Value::LockTimeout(s) => write!(f, "{s}"),
            Value::Jobs(j) => write!(f, "{j}"),
            Value::Color(c) => f.write_str(c.as_str()),
            Value::HttpTimeout(t) => write!(f, "{t}"),
            Value::DownloadTimeout(s) => write!(f, "{s}"),
            Value::ManifestMaxAge(s) => write!(f, "{s}"),
            Value::Sign(b) => write!(f, "{b}"),
            Value::Variables(vars) => {
                let words: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&words.join(" "))
            }
            Value::Dev(b) | Value::CacheTrustSources(b) => write!(f, "{b}"),
            Value::Caches(list) | Value::TrustedKeys(list) => f.write_str(&list.join(" ")),
            Value::CachePush(url) => f.write_str(url),
        }
    }
}

/// Whether `name` can name a build variable: what LuaRocks' `$(NAME)` and a shell variable
/// both accept (a letter or `_`, then letters, digits and `_`).
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Space-separated words of a setting written as text. Pure.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

/// Why a build cache URL is unusable, if it is: the schemes `cache::CacheUrl` reads. Pure.
fn cache_url_problem(url: &str) -> Option<String> {
    crate::cache::CacheUrl::parse(url)
        .err()
        .map(|e| e.to_string())
}

fn bad_value(source: &str, key: Key, value: &str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        file: source.to_string(),
        message: format!(
            "{key} = '{}': {problem} (allowed values for {key}: {})",
            value.trim_matches('"'),
            key.allowed()
        ),
    }
}

/// Why a server entry is unusable, if it is.
fn server_problem(server: &str) -> Option<String> {
    if server.trim().is_empty() {
        return Some("empty server URL".to_string());
    }
    let (scheme, rest) = server.split_once("://")?;
    if !["file", "http", "https"].contains(&scheme) {
        return Some(format!(
            "'{server}' has the unsupported scheme '{scheme}://'"
        ));
    }
    rest.is_empty()
        .then(|| format!("'{server}' names no host or path"))
}

/// Turns a plain folder into a `file://` URL so a stored server is unambiguous; URLs lose a
/// trailing slash.
pub fn normalize_server(server: &str) -> Result<String, ConfigError> {
    if let Some(problem) = server_problem(server) {
        return Err(bad_value("servers", Key::Servers, server, &problem));
    }
    if server.contains("://") {
        return Ok(server.trim_end_matches('/').to_string());
    }
    let path = std::fs::canonicalize(server).map_err(|e| {
        bad_value(
            "servers",
            Key::Servers,
            server,
            &format!("the rocks server folder '{server}' does not exist ({e})"),
        )
    })?;
    Ok(format!("file://{}", path.display()))
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag (`--jobs`).
    Flag(&'static str),
    /// An environment variable (`LVM_JOBS`).
    EnvVar(&'static str),
    /// The environment's `lvm.toml`.
    Environment(PathBuf),
    /// The user's config file.
    User(PathBuf),
    Default,
}

impl Origin {
    /// The level's name: `flag`, `env-var`, `environment`, `user` or `default`.
    pub fn level(&self) -> &'static str {
        match self {
            Origin::Flag(_) => "flag",
            Origin::EnvVar(_) => "env-var",
            Origin::Environment(_) => "environment",
            Origin::User(_) => "user",
            Origin::Default => "default",
        }
    }

    /// The flag, variable or file, when there is one.
    pub fn source(&self) -> Option<String> {
        match self {
            Origin::Flag(name) | Origin::EnvVar(name) => Some(name.to_string()),
            Origin::Environment(path) | Origin::User(path) => Some(path.display().to_string()),
            Origin::Default => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source() {
            Some(source) => write!(f, "{}:{source}", self.level()),
            None => f.write_str(self.level()),
        }
    }
}

/// The values one level sets, each with its origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    values: BTreeMap<Key, (Value, Origin)>,
}

impl Layer {
    pub fn new() -> Layer {
        Layer::default()
    }

    pub fn set(&mut self, value: Value, origin: Origin) {
        self.values.insert(value.key(), (value, origin));
    }

    pub fn remove(&mut self, key: Key) -> Option<Value> {
        self.values.remove(&key).map(|(v, _)| v)
    }

    pub fn get(&self, key: Key) -> Option<&Value> {
        self.values.get(&key).map(|(v, _)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The environment-variable level, reading variables through `var`. Empty variables count
    /// as unset; `LVM_COLOR` wins over `NO_COLOR`.
    pub fn from_env_vars(var: impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        let mut layer = Layer::new();
        let vars = [
            (SERVERS_VAR, Key::Servers),
            (LUA_BIN_VAR, Key::LuaBin),
            (LOCK_TIMEOUT_VAR, Key::LockTimeout),
            (JOBS_VAR, Key::Jobs),
            (COLOR_VAR, Key::Color),
            (HTTP_TIMEOUT_VAR, Key::HttpTimeout),
            (DOWNLOAD_TIMEOUT_VAR, Key::DownloadTimeout),
            (MANIFEST_MAX_AGE_VAR, Key::ManifestMaxAge),
            (SIGN_VAR, Key::Sign),
            (CACHES_VAR, Key::Caches),
            (CACHE_PUSH_VAR, Key::CachePush),
            (TRUSTED_KEYS_VAR, Key::TrustedKeys),
            (CACHE_TRUST_SOURCES_VAR, Key::CacheTrustSources),
        ];
        for (name, key) in vars {
            if let Some(text) = var(name).filter(|v| !v.trim().is_empty()) {
                layer.set(Value::parse(key, &text, name)?, Origin::EnvVar(name));
            }
        }
        if layer.get(Key::Color).is_none() && var(NO_COLOR_VAR).is_some_and(|v| !v.is_empty()) {
            layer.set(Value::Color(Color::Never), Origin::EnvVar(NO_COLOR_VAR));
        }
        Ok(layer)
    }

    /// A config file's level: every key validated, unknown keys rejected with a suggestion.
    /// `origin` is what each value reports (the file's level and path).
    pub fn parse_toml(text: &str, origin: &Origin) -> Result<Layer, ConfigError> {
        Layer::parse_toml_without(text, origin, None)
    }

    /// [`Layer::parse_toml`] leaving out `skip`, whatever its value (the key `lvm config`
    /// is about to replace or remove).
    pub fn parse_toml_without(
        text: &str,
        origin: &Origin,
        skip: Option<Key>,
    ) -> Result<Layer, ConfigError> {
        let file = origin.source().unwrap_or_default();
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            file: file.clone(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut layer = Layer::new();
        for (name, raw) in &table {
            if skip.is_some_and(|k| k.name() == name) {
                continue;
            }
            let key = Key::parse(name, &file)?;
            layer.set(Value::from_toml(key, raw, &file)?, origin.clone());
        }
        Ok(layer)
    }

    /// The layer as a TOML file, keys in [`Key::ALL`] order.
    pub fn to_toml(&self, header: &str) -> String {
        let mut out = String::from(header);
        for key in Key::ALL {
            if let Some(value) = self.get(key) {
                out.push_str(&format!("{key} = {}\n", value.to_toml()));
            }
        }
        out
    }
}

/// The settings a command runs with, each with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub servers: Vec<String>,
    pub lua: LuaVersion,
    /// The interpreter chosen instead of the system's (`lua_bin`).
    pub lua_bin: Option<PathBuf>,
    /// Seconds.
    pub lock_timeout: f64,
    pub jobs: Jobs,
    pub color: Color,
    pub http_timeout: HttpTimeout,
    /// Seconds one whole download may take.
    pub download_timeout: f64,
    /// Seconds a fetched server manifest is used without asking the server again.
    pub manifest_max_age: f64,
    /// Whether event commits are signed.
    pub sign: bool,
    /// Build variables every build gets.
    pub variables: BTreeMap<String, String>,
    /// Use the servers' `dev` sub-servers and let development versions win.
    pub dev: bool,
    /// Build caches read before building, in order.
    pub caches: Vec<String>,
    /// The build cache `lvm cache push` writes to (empty: none).
    pub cache_push: String,
    /// Public keys whose signed cache entries are installed.
    pub trusted_keys: Vec<String>,
    /// Whether a trusted recipe record's source digest stands in for downloading the source.
    pub cache_trust_sources: bool,
    origins: BTreeMap<Key, Origin>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            servers: Vec::new(),
            lua: LuaVersion::default(),
            lua_bin: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            jobs: Jobs::Auto,
            color: Color::Auto,
            http_timeout: HttpTimeout::Default,
            download_timeout: crate::fetch::DEFAULT_DOWNLOAD_TIMEOUT.as_secs_f64(),
            manifest_max_age: DEFAULT_MANIFEST_MAX_AGE,
            sign: false,
            variables: BTreeMap::new(),
            dev: false,
            caches: Vec::new(),
            cache_push: String::new(),
            trusted_keys: Vec::new(),
            cache_trust_sources: true,
            origins: Key::ALL.iter().map(|k| (*k, Origin::Default)).collect(),
        }
    }
}

impl Settings {
    fn apply(&mut self, value: &Value, origin: &Origin) {
        match value {
            Value::Servers(v) => self.servers = v.clone(),
            Value::Lua(v) => self.lua = *v,
            Value::LuaBin(v) => self.lua_bin = Some(v.clone()),
            Value::LockTimeout(v) => self.lock_timeout = *v,
            Value::Jobs(v) => self.jobs = *v,
            Value::Color(v) => self.color = *v,
            Value::HttpTimeout(v) => self.http_timeout = *v,
            Value::DownloadTimeout(v) => self.download_timeout = *v,
            Value::ManifestMaxAge(v) => self.manifest_max_age = *v,
            Value::Sign(v) => self.sign = *v,
            Value::Variables(v) => self.variables = v.clone(),
            Value::Dev(v) => self.dev = *v,
            Value::Caches(v) => self.caches = v.clone(),
            Value::CachePush(v) => self.cache_push = v.clone(),
            Value::TrustedKeys(v) => self.trusted_keys = v.clone(),
            Value::CacheTrustSources(v) => self.cache_trust_sources = *v,
        }
        self.origins.insert(value.key(), origin.clone());
    }

    /// The effective value of `key`.
    pub fn value(&self, key: Key) -> Value {
        match key {
            Key::Servers => Value::Servers(self.servers.clone()),
            Key::Lua => Value::Lua(self.lua),
            Key::LuaBin => Value::LuaBin(self.lua_bin.clone().unwrap_or_default()),
            Key::LockTimeout => Value::LockTimeout(self.lock_timeout),
            Key::Jobs => Value::Jobs(self.jobs),
            Key::Color => Value::Color(self.color),
            Key::HttpTimeout => Value::HttpTimeout(self.http_timeout),
            Key::DownloadTimeout => Value::DownloadTimeout(self.download_timeout),
            Key::ManifestMaxAge => Value::ManifestMaxAge(self.manifest_max_age),
            Key::Sign => Value::Sign(self.sign),
            Key::Variables => Value::Variables(self.variables.clone()),
            Key::Dev => Value::Dev(self.dev),
            Key::Caches => Value::Caches(self.caches.clone()),
            Key::CachePush => Value::CachePush(self.cache_push.clone()),
            Key::TrustedKeys => Value::TrustedKeys(self.trusted_keys.clone()),
            Key::CacheTrustSources => Value::CacheTrustSources(self.cache_trust_sources),
        }
    }

    pub fn origin(&self, key: Key) -> &Origin {
        self.origins.get(&key).unwrap_or(&Origin::Default)
    }

    pub fn lock_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.lock_timeout)
    }

    /// The one network limit, or `None` for the built-in ones.
    pub fn http_timeout(&self) -> Option<Duration> {
        self.http_timeout.duration()
    }

    /// The limit on one whole download.
    pub fn download_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.download_timeout)
    }

    /// How long a fetched server manifest is used without asking the server again.
    pub fn manifest_max_age(&self) -> Duration {
        Duration::from_secs_f64(self.manifest_max_age)
    }
}

/// Folds the levels into the settings: for each key the first level that sets it wins (flag,
/// then environment variable, then the environment's `lvm.toml`, then the user's file), else
/// the default.
pub fn resolve(flags: &Layer, env_vars: &Layer, environment: &Layer, user: &Layer) -> Settings {
    let mut settings = Settings::default();
    for key in Key::ALL {
        let found = [flags, env_vars, environment, user]
            .into_iter()
            .find_map(|layer| layer.values.get(&key));
        if let Some((value, origin)) = found {
            settings.apply(value, origin);
        }
    }
    settings
}

/// The user's config file: `LVM_CONFIG`, else `$XDG_CONFIG_HOME/lvm/config.toml`, else
/// `~/.config/lvm/config.toml`; `None` without any of those variables.
pub fn user_config_path() -> Option<PathBuf> {
    user_config_path_from(
        std::env::var_os(USER_CONFIG_VAR),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

fn user_config_path_from(
    explicit: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let non_empty = |v: Option<std::ffi::OsString>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    non_empty(explicit)
        .or_else(|| non_empty(xdg).map(|x| x.join("lvm/config.toml")))
        .or_else(|| non_empty(home).map(|h| h.join(".config/lvm/config.toml")))
}

/// The user level from `path`; empty when the file does not exist.
pub fn load_user_config(path: &Path) -> Result<Layer, ConfigError> {
    load_user_config_without(path, None)
}

/// [`load_user_config`] leaving out `skip`, whatever its value (see
/// [`Layer::parse_toml_without`]).
pub fn load_user_config_without(path: &Path, skip: Option<Key>) -> Result<Layer, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Layer::parse_toml_without(&text, &Origin::User(path.to_path_buf()), skip),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Layer::new()),
        Err(source) => Err(ConfigError::Io {
            file: path.display().to_string(),
            cause: source,
        }),
    }
}

/// Writes the user level to `path` atomically (creating its folder).
pub fn write_user_config(path: &Path, layer: &Layer) -> Result<(), ConfigError> {
    let text = layer.to_toml("# lvm user settings (see `lvm config`)\n");
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| ConfigError::Write {
        file: path.display().to_string(),
        cause: source,
    })
}

/// `lvm.toml`: the settings an environment records in its history. `lua` and `servers` are
/// required; the other keys override the user's settings for this environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvConfig {
    /// The Lua version the environment targets.
    pub lua: LuaVersion,
    /// Rocks servers in priority order.
    pub servers: Vec<String>,
    /// The interpreter to run and build with instead of the system's one for `lua`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lua_bin: Option<PathBuf>,
    /// Seconds to wait for the writer lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_timeout: Option<f64>,
    /// Parallel build jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Jobs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    /// How long a server may take to connect or to send more data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_timeout: Option<HttpTimeout>,
    /// Seconds one whole download may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_timeout: Option<f64>,
    /// Seconds a fetched server manifest is used without asking the server again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_max_age: Option<f64>,
    /// Whether event commits are signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign: Option<bool>,
    /// Build variables every build gets (`OPENSSL_DIR = "/opt/ssl"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, String>>,
    /// Use the servers' `dev` sub-servers and let development versions win.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<bool>,
    /// Build caches read before building, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caches: Option<Vec<String>>,
    /// The build cache `lvm cache push` writes to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_push: Option<String>,
    /// Public keys whose signed cache entries are installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_keys: Option<Vec<String>>,
    /// Whether a trusted recipe record's source digest stands in for downloading the source
    /// (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_trust_sources: Option<bool>,
}

impl EnvConfig {
    pub fn new(lua: LuaVersion, servers: Vec<String>) -> EnvConfig {
        EnvConfig {
            lua,
            servers,
            lua_bin: None,
            lock_timeout: None,
            jobs: None,
            color: None,
            http_timeout: None,
            download_timeout: None,
            manifest_max_age: None,
            sign: None,
            variables: None,
            dev: None,
            caches: None,
            cache_push: None,
            trusted_keys: None,
            cache_trust_sources: None,
        }
    }

    /// The network limit downloads use: one for connecting and each read, or `None` for the
    /// built-in ones.
    pub fn http_timeout(&self) -> Option<Duration> {
        self.http_timeout.and_then(HttpTimeout::duration)
    }

    /// The limit on one whole download, or `None` for the built-in one.
    pub fn download_timeout(&self) -> Option<Duration> {
        self.download_timeout.map(Duration::from_secs_f64)
    }

    /// How long a fetched server manifest is used without asking the server again.
    pub fn manifest_max_age(&self) -> Duration {
        Duration::from_secs_f64(self.manifest_max_age.unwrap_or(DEFAULT_MANIFEST_MAX_AGE))
    }

    pub fn to_toml(&self) -> String {
        self.layer(Path::new(""))
            .to_toml("# lvm environment settings (see `lvm config`)\n")
    }

    /// The settings as a level of [`resolve`], reporting `path` as their origin.
    pub fn layer(&self, path: &Path) -> Layer {
        let origin = Origin::Environment(path.to_path_buf());
        let mut layer = Layer::new();
        layer.set(Value::Servers(self.servers.clone()), origin.clone());
        layer.set(Value::Lua(self.lua), origin.clone());
        let optional = [
            self.lua_bin.clone().map(Value::LuaBin),
            self.lock_timeout.map(Value::LockTimeout),
            self.jobs.map(Value::Jobs),
            self.color.map(Value::Color),
            self.http_timeout.map(Value::HttpTimeout),
            self.download_timeout.map(Value::DownloadTimeout),
            self.manifest_max_age.map(Value::ManifestMaxAge),
            self.sign.map(Value::Sign),
            self.variables.clone().map(Value::Variables),
            self.dev.map(Value::Dev),
            self.caches.clone().map(Value::Caches),
            self.cache_push.clone().map(Value::CachePush),
            self.trusted_keys.clone().map(Value::TrustedKeys),
            self.cache_trust_sources.map(Value::CacheTrustSources),
        ];
        for value in optional.into_iter().flatten() {
            layer.set(value, origin.clone());
        }
        layer
    }

    /// The settings of a level that holds the required keys.
    fn from_layer(layer: &Layer, file: &str) -> Result<EnvConfig, ConfigError> {
        let missing = |key: Key, example: &str| ConfigError::Invalid {
            file: file.to_string(),
            message: format!("missing key '{key}' (e.g. {key} = {example})"),
        };
        let mut config = EnvConfig::new(LuaVersion::default(), Vec::new());
        for key in Key::ALL {
            match layer.get(key) {
                Some(Value::Servers(v)) => config.servers = v.clone(),
                Some(Value::Lua(v)) => config.lua = *v,
                Some(Value::LuaBin(v)) => config.lua_bin = Some(v.clone()),
                Some(Value::LockTimeout(v)) => config.lock_timeout = Some(*v),
                Some(Value::Jobs(v)) => config.jobs = Some(*v),
                Some(Value::Color(v)) => config.color = Some(*v),
                Some(Value::HttpTimeout(v)) => config.http_timeout = Some(*v),
                Some(Value::DownloadTimeout(v)) => config.download_timeout = Some(*v),
                Some(Value::ManifestMaxAge(v)) => config.manifest_max_age = Some(*v),
                Some(Value::Sign(v)) => config.sign = Some(*v),
                Some(Value::Variables(v)) => config.variables = Some(v.clone()),
                Some(Value::Dev(v)) => config.dev = Some(*v),
                Some(Value::Caches(v)) => config.caches = Some(v.clone()),
                Some(Value::CachePush(v)) => config.cache_push = Some(v.clone()),
                Some(Value::TrustedKeys(v)) => config.trusted_keys = Some(v.clone()),
                Some(Value::CacheTrustSources(v)) => config.cache_trust_sources = Some(*v),
                None if key == Key::Lua => {
                    return Err(missing(key, &format!("\"{}\"", LuaVersion::default())));
                }
                None if key == Key::Servers => {
                    return Err(missing(key, "[\"https://rocks.example.org\"]"));
                }
                None => {}
            }
        }
        Ok(config)
    }

    /// This config with `value` set. Every value is valid here (the [`Value`] parsers
    /// validated it).
    pub fn with(&self, value: Value) -> EnvConfig {
        let mut layer = self.layer(Path::new(""));
        layer.set(value, Origin::Default);
        // The layer holds lua and servers, so this cannot fail.
        EnvConfig::from_layer(&layer, "").unwrap_or_else(|_| self.clone())
    }

    /// This config without `key`; `lua` and `servers` cannot be removed.
    pub fn without(&self, key: Key, file: &str) -> Result<EnvConfig, ConfigError> {
        let mut layer = self.layer(Path::new(""));
        layer.remove(key);
        EnvConfig::from_layer(&layer, file).map_err(|_| ConfigError::Invalid {
            file: file.to_string(),
            message: format!(
                "'{key}' is required in an environment's settings and cannot be unset; set it instead (allowed values: {})",
                key.allowed()
            ),
        })
    }

    /// Parses and validates `lvm.toml` text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<EnvConfig, ConfigError> {
        let layer = Layer::parse_toml(text, &Origin::Environment(PathBuf::from(file)))?;
        EnvConfig::from_layer(&layer, file)
    }

    /// [`EnvConfig::parse`] with the value of `key` left out, whatever it is: what `lvm config
    /// set` and `unset` replace, so a bad recorded value never keeps them from fixing it.
    pub fn parse_without(text: &str, file: &str, key: Key) -> Result<EnvConfig, ConfigError> {
        let layer =
            Layer::parse_toml_without(text, &Origin::Environment(PathBuf::from(file)), Some(key))?;
        let mut layer = layer;
        // A required key being replaced gets a stand-in, so the rest can be read.
        match key {
            Key::Lua => layer.set(Value::Lua(LuaVersion::default()), Origin::Default),
            Key::Servers => layer.set(Value::Servers(Vec::new()), Origin::Default),
            _ => {}
        }
        EnvConfig::from_layer(&layer, file)
    }

    pub fn load(path: &Path) -> Result<EnvConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: file.clone(),
            cause: source,
        })?;
        EnvConfig::parse(&text, &file)
    }
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
    let found = non_empty(lvm_home)
        .or_else(|| non_empty(xdg).map(|p| p.join("lvm")))
        .or_else(|| non_empty(home).map(|h| h.join(".local/share/lvm")))
        .ok_or(ConfigError::NoHome)?;
    // A relative `LVM_HOME=h` is fixed against the current folder once: every path made from
    // the home then has one spelling, so the store can tell that a folder staged in its own
    // temporary space is its own (and move it in rather than copy it).
    Ok(std::path::absolute(&found).unwrap_or(found))
}

/// How an environment was found, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvOrigin {
    Flag,
    EnvVar,
    Local,
    Default,
}

/// Finds the environment: `--env PATH|NAME`, then `LVM_ENV` (a path or a name), then the
/// nearest `.lvm/` walking up from `cwd`, then `<home>/envs/default`. A plain name (no `/`)
/// that is not an existing path but is a named environment (`<home>/envs/NAME`, made by
/// `lvm env create NAME`) means that environment; anything else is a path.
pub fn locate_env(
    flag: Option<&Path>,
    env_var: Option<&Path>,
    cwd: &Path,
    home: &Path,
) -> (PathBuf, EnvOrigin) {
    if let Some(p) = flag {
        return (env_path_or_name(p, cwd, home), EnvOrigin::Flag);
    }
    if let Some(p) = env_var.filter(|p| !p.as_os_str().is_empty()) {
        return (env_path_or_name(p, cwd, home), EnvOrigin::EnvVar);
    }
    for dir in cwd.ancestors() {
        let candidate = dir.join(LOCAL_ENV_DIR);
        if is_environment(&candidate) {
            return (candidate, EnvOrigin::Local);
        }
    }
    (named_env(home, "default"), EnvOrigin::Default)
}

/// Whether `path` holds an environment: its own repository (`.git`), or a project
/// environment's `.lvm/` folder with its committed `lvm.toml` (the events are in the project's
/// repository, see `docs/projects.md`).
pub fn is_environment(path: &Path) -> bool {
    path.join(".git").is_dir()
        || (path.file_name().is_some_and(|n| n == LOCAL_ENV_DIR)
            && path.join(crate::envrepo::CONFIG_FILE).is_file())
}

/// The name in `--env NAME` (or `LVM_ENV=NAME`) when it is a plain name: one component, no
/// `/`, not `.` or `..`.
pub fn plain_env_name(given: &Path) -> Option<&str> {
    let text = given.to_str()?;
    let plain = !text.is_empty() && !text.contains('/') && text != "." && text != "..";
    plain.then_some(text)
}

/// `--env` or `LVM_ENV` as a path: an existing path wins; otherwise a plain name that names an
/// environment under the lvm home is that environment. The path is made absolute: it ends up
/// in `package.path`, `lvm path`'s exports and error messages, which must not depend on the
/// folder a script later changes to.
fn env_path_or_name(given: &Path, cwd: &Path, home: &Path) -> PathBuf {
    let path = absolute_from(cwd, given);
    if let Some(name) = plain_env_name(given) {
        let named = named_env(home, name);
        if !path.exists() && named.exists() {
            return named;
        }
    }
    path
}

/// `path` made absolute against `cwd`, without `.` components. `..` stays: removing it by
/// text would be wrong when the component before it is a symbolic link.
fn absolute_from(cwd: &Path, path: &Path) -> PathBuf {
    cwd.join(path)
        .components()
        .filter(|c| *c != std::path::Component::CurDir)
        .collect()
}

/// The path of a named environment under the lvm home.
pub fn named_env(home: &Path, name: &str) -> PathBuf {
    home.join(crate::layout::ENVS_DIR).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let err = EnvConfig::parse("lua = \"5.4\"\nsever = []\n", "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("did you mean 'servers'"), "{err}");
        let err =
            EnvConfig::parse("lua = \"5.4\"\nservers = []\ncolour = 1\n", "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("unknown key 'colour'"), "{err}");
        assert!(err.to_string().contains("did you mean 'color'"), "{err}");
        assert!(
            err.to_string()
                .contains("known keys: lua, lua_bin, servers, lock_timeout, jobs, color"),
            "{err}"
        );
    }

    #[test]
    fn config_values_are_validated() {
        let ok =
            EnvConfig::parse("lua = \"5.4\"\nservers = [\"file:///srv\"]\n", "lvm.toml").unwrap();
        assert_eq!(
            ok,
            EnvConfig::new(LuaVersion::Lua54, vec!["file:///srv".into()])
        );
        assert_eq!(EnvConfig::parse(&ok.to_toml(), "lvm.toml").unwrap(), ok);
        let err = EnvConfig::parse("lua = \"6.0\"\nservers = []\n", "e/lvm.toml").unwrap_err();
        assert!(
            err.to_string().starts_with("e/lvm.toml: lua = '6.0'"),
            "{err}"
        );
        assert!(err.to_string().contains("not a Lua version"), "{err}");
        assert!(
            err.to_string()
                .contains("allowed values for lua: 5.1, 5.2, 5.3, 5.4, 5.5, luajit"),
            "{err}"
        );
        let jit = EnvConfig::parse("lua = \"luajit\"\nservers = []\n", "lvm.toml").unwrap();
        assert_eq!(jit.lua, LuaVersion::LuaJit);
        let err = EnvConfig::parse("lua = \"5.4\"\nservers = [\" \"]\n", "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("empty server URL"), "{err}");
        let err = EnvConfig::parse("lua = \"5.4\"\n", "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("missing key 'servers'"), "{err}");
        let err = EnvConfig::parse("lua = ", "lvm.toml").unwrap_err();
        assert!(err.to_string().starts_with("lvm.toml: "), "{err}");
    }

    #[test]
    fn the_file_format_is_unchanged_for_the_required_keys() {
        // Environments made before the optional keys existed must read and write the same bytes.
        let config = EnvConfig::new(
            LuaVersion::Lua54,
            vec!["file:///a".into(), "https://b/x".into()],
        );
        assert_eq!(
            config.to_toml(),
            "# lvm environment settings (see `lvm config`)\nlua = \"5.4\"\nservers = [\"file:///a\", \"https://b/x\"]\n"
        );
        let full = config
            .with(Value::LockTimeout(2.5))
            .with(Value::Jobs(Jobs::Count(3)))
            .with(Value::Color(Color::Never));
        let text = full.to_toml();
        assert!(
            text.ends_with("lock_timeout = 2.5\njobs = 3\ncolor = \"never\"\n"),
            "{text}"
        );
        assert_eq!(EnvConfig::parse(&text, "lvm.toml").unwrap(), full);
        let auto = config.with(Value::Jobs(Jobs::Auto));
        assert_eq!(EnvConfig::parse(&auto.to_toml(), "x").unwrap(), auto);
        assert_eq!(full.without(Key::Jobs, "x").unwrap().jobs, None);
        let err = full.without(Key::Servers, "lvm.toml").unwrap_err();
        assert!(err.to_string().contains("'servers' is required"), "{err}");
        let err = full.without(Key::Lua, "lvm.toml").unwrap_err();
        assert!(
            err.to_string().contains("allowed values: 5.1, 5.2"),
            "{err}"
        );
    }

    fn parse(key: Key, text: &str) -> Result<Value, String> {
        Value::parse(key, text, "src").map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_validates_and_names_its_allowed_values() {
        assert_eq!(parse(Key::Jobs, "auto"), Ok(Value::Jobs(Jobs::Auto)));
        assert_eq!(parse(Key::Jobs, " 4 "), Ok(Value::Jobs(Jobs::Count(4))));
        assert_eq!(parse(Key::LockTimeout, "2.5"), Ok(Value::LockTimeout(2.5)));
        assert_eq!(parse(Key::LockTimeout, "0"), Ok(Value::LockTimeout(0.0)));
        assert_eq!(parse(Key::Color, "always"), Ok(Value::Color(Color::Always)));
        assert_eq!(parse(Key::Lua, "5.4"), Ok(Value::Lua(LuaVersion::Lua54)));
        assert_eq!(
            parse(Key::Servers, "file:///a  https://b"),
            Ok(Value::Servers(vec!["file:///a".into(), "https://b".into()]))
        );
        let cases = [
            (
                Key::Jobs,
                "0",
                "allowed values for jobs: a positive integer or 'auto'",
            ),
            (Key::Jobs, "many", "not a positive integer"),
            (Key::Jobs, "-2", "jobs = '-2'"),
            (Key::LockTimeout, "-1", "must be a finite number >= 0"),
            (Key::LockTimeout, "1e20", "must be at most 31536000 seconds"),
            (
                Key::LockTimeout,
                "soon",
                "allowed values for lock_timeout: a number of seconds",
            ),
            (Key::LockTimeout, "inf", "lock_timeout = 'inf'"),
            (
                Key::Color,
                "blue",
                "allowed values for color: auto, always, never",
            ),
            (
                Key::Lua,
                "jit2",
                "allowed values for lua: 5.1, 5.2, 5.3, 5.4, 5.5, luajit",
            ),
            (Key::Servers, "ftp://x", "unsupported scheme 'ftp://'"),
            (Key::Servers, "https://", "names no host or path"),
        ];
        for (key, text, expected) in cases {
            let err = parse(key, text).unwrap_err();
            assert!(err.starts_with("src: "), "{err}");
            assert!(err.contains(expected), "{key} {text}: {err}");
        }
        let err = Key::parse("job", "lvm config").unwrap_err().to_string();
        assert!(err.contains("did you mean 'jobs'"), "{err}");
    }

    #[test]
    fn http_timeout_is_positive_seconds_or_default() {
        let seconds = |s| Ok(Value::HttpTimeout(HttpTimeout::Seconds(s)));
        assert_eq!(parse(Key::HttpTimeout, "2.5"), seconds(2.5));
        assert_eq!(parse(Key::HttpTimeout, " 30 "), seconds(30.0));
        assert_eq!(
            parse(Key::HttpTimeout, "default"),
            Ok(Value::HttpTimeout(HttpTimeout::Default))
        );
        for (text, problem) in [
            ("0", "must be a finite number of seconds > 0"),
            ("-1", "must be a finite number of seconds > 0"),
            ("inf", "must be a finite number of seconds > 0"),
            ("NaN", "must be a finite number of seconds > 0"),
            ("1e20", "must be at most 31536000 seconds"),
            ("soon", "not a number"),
        ] {
            let err = parse(Key::HttpTimeout, text).unwrap_err();
            assert!(
                err.starts_with(&format!("src: http_timeout = '{text}': {problem}"))
                    && err.contains(
                        "allowed values for http_timeout: a number of seconds > 0 (e.g. 30, 2.5), \
                         or 'default' (30 s to connect, 60 s per read)"
                    ),
                "{err}"
            );
        }
        let origin = Origin::User(PathBuf::from("/u/config.toml"));
        for (text, expected) in [
            ("http_timeout = 5", HttpTimeout::Seconds(5.0)),
            ("http_timeout = 0.25", HttpTimeout::Seconds(0.25)),
            ("http_timeout = \"default\"", HttpTimeout::Default),
        ] {
            let layer = Layer::parse_toml(text, &origin).unwrap();
            assert_eq!(
                layer.get(Key::HttpTimeout),
                Some(&Value::HttpTimeout(expected))
            );
        }
        for (text, expected) in [
            (
                "http_timeout = 0",
                "http_timeout = '0': must be a finite number",
            ),
            ("http_timeout = true", "http_timeout = 'true': wrong type"),
            ("http_timeout = \"later\"", "not a number"),
        ] {
            let err = Layer::parse_toml(text, &origin).unwrap_err().to_string();
            assert!(
                err.starts_with("/u/config.toml: ") && err.contains(expected),
                "{err}"
            );
        }
    }

    #[test]
    fn http_timeout_reaches_downloads_as_one_limit_or_none() {
        let config = EnvConfig::new(LuaVersion::Lua54, vec!["file:///a".into()]);
        assert_eq!(config.http_timeout(), None);
        let set = config.with(Value::HttpTimeout(HttpTimeout::Seconds(2.5)));
        assert_eq!(set.http_timeout(), Some(Duration::from_millis(2500)));
        assert!(
            set.to_toml().ends_with("\nhttp_timeout = 2.5\n"),
            "{}",
            set.to_toml()
        );
        assert_eq!(EnvConfig::parse(&set.to_toml(), "lvm.toml").unwrap(), set);
        let default = config.with(Value::HttpTimeout(HttpTimeout::Default));
        assert_eq!(default.http_timeout(), None);
        assert!(
            default
                .to_toml()
                .ends_with("\nhttp_timeout = \"default\"\n")
        );
        assert_eq!(
            EnvConfig::parse(&default.to_toml(), "lvm.toml").unwrap(),
            default
        );
        assert_eq!(set.without(Key::HttpTimeout, "x").unwrap(), config);

        let vars = |name: &str| (name == HTTP_TIMEOUT_VAR).then(|| "7".to_string());
        let s = resolve(
            &Layer::new(),
            &Layer::from_env_vars(vars).unwrap(),
            &set.layer(Path::new("/e/lvm.toml")),
            &Layer::new(),
        );
        assert_eq!(s.http_timeout(), Some(Duration::from_secs(7)));
        assert_eq!(
            s.origin(Key::HttpTimeout),
            &Origin::EnvVar(HTTP_TIMEOUT_VAR)
        );
        assert_eq!(Settings::default().http_timeout(), None);
        assert_eq!(
            Settings::default().value(Key::HttpTimeout).to_string(),
            "default"
        );
        assert_eq!(
            Value::HttpTimeout(HttpTimeout::Seconds(1.5)).to_json(),
            serde_json::json!(1.5)
        );
    }

    #[test]
    fn toml_values_are_typed() {
        let origin = Origin::User(PathBuf::from("/u/config.toml"));
        let layer = Layer::parse_toml(
            "jobs = 2\nlock_timeout = 5\ncolor = \"never\"\nservers = [\"/srv/rocks\"]\n",
            &origin,
        )
        .unwrap();
        assert_eq!(layer.get(Key::Jobs), Some(&Value::Jobs(Jobs::Count(2))));
        assert_eq!(layer.get(Key::LockTimeout), Some(&Value::LockTimeout(5.0)));
        assert_eq!(layer.get(Key::Lua), None);
        let bad = [
            ("jobs = 0", "jobs = '0'"),
            ("jobs = -1", "must be at least 1"),
            ("jobs = \"x\"", "not a positive integer"),
            ("lock_timeout = \"5\"", "wrong type"),
            ("lua = 5.4", "lua = '5.4': wrong type"),
            ("servers = \"https://x\"", "not a list"),
            ("servers = [1]", "every server must be a string"),
            ("color = true", "allowed values for color"),
        ];
        for (text, expected) in bad {
            let err = Layer::parse_toml(text, &origin).unwrap_err().to_string();
            assert!(err.starts_with("/u/config.toml: "), "{err}");
            assert!(err.contains(expected), "{text}: {err}");
        }
        let back = Layer::parse_toml(&layer.to_toml("# x\n"), &origin).unwrap();
        assert_eq!(back, layer);
    }

    fn layer(values: &[(Value, Origin)]) -> Layer {
        let mut layer = Layer::new();
        for (v, o) in values {
            layer.set(v.clone(), o.clone());
        }
        layer
    }

    #[test]
    fn precedence_is_flag_env_var_environment_user_default() {
        let flag = Origin::Flag("--lock-timeout");
        let var = Origin::EnvVar(LOCK_TIMEOUT_VAR);
        let env = Origin::Environment(PathBuf::from("/e/lvm.toml"));
        let user = Origin::User(PathBuf::from("/u/config.toml"));
        let flags = layer(&[(Value::LockTimeout(1.0), flag.clone())]);
        let vars = layer(&[(Value::LockTimeout(2.0), var.clone())]);
        let environment = layer(&[(Value::LockTimeout(3.0), env.clone())]);
        let users = layer(&[(Value::LockTimeout(4.0), user.clone())]);
        let none = Layer::new();
        let levels = [
            ((&flags, &vars, &environment, &users), 1.0, flag),
            ((&none, &vars, &environment, &users), 2.0, var),
            ((&none, &none, &environment, &users), 3.0, env),
            ((&none, &none, &none, &users), 4.0, user),
            (
                (&none, &none, &none, &none),
                DEFAULT_LOCK_TIMEOUT,
                Origin::Default,
            ),
        ];
        for ((f, v, e, u), expected, origin) in levels {
            let s = resolve(f, v, e, u);
            assert_eq!(s.lock_timeout, expected);
            assert_eq!(s.origin(Key::LockTimeout), &origin);
            assert_eq!(s.value(Key::LockTimeout), Value::LockTimeout(expected));
            // Other keys are untouched by a level that does not set them.
            assert_eq!(s.origin(Key::Jobs), &Origin::Default);
            assert_eq!(s.jobs, Jobs::Auto);
        }
        // Keys resolve independently: each takes its own highest level.
        let mixed = resolve(
            &none,
            &layer(&[(Value::Jobs(Jobs::Count(2)), Origin::EnvVar(JOBS_VAR))]),
            &layer(&[(Value::Color(Color::Always), Origin::Default)]),
            &layer(&[
                (Value::Jobs(Jobs::Count(8)), Origin::Default),
                (Value::LockTimeout(9.0), Origin::Default),
            ]),
        );
        assert_eq!(
            (mixed.jobs, mixed.color, mixed.lock_timeout),
            (Jobs::Count(2), Color::Always, 9.0)
        );
        assert_eq!(mixed.lock_timeout(), Duration::from_secs(9));
    }

    #[test]
    fn env_vars_are_read_and_lvm_color_beats_no_color() {
        let vars = |list: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                list.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let layer = Layer::from_env_vars(vars(&[("NO_COLOR", "1"), ("LVM_JOBS", "3")])).unwrap();
        assert_eq!(layer.get(Key::Color), Some(&Value::Color(Color::Never)));
        let s = resolve(&Layer::new(), &layer, &Layer::new(), &Layer::new());
        assert_eq!(s.origin(Key::Color), &Origin::EnvVar("NO_COLOR"));
        assert_eq!(s.origin(Key::Jobs), &Origin::EnvVar("LVM_JOBS"));
        let layer =
            Layer::from_env_vars(vars(&[("NO_COLOR", "1"), ("LVM_COLOR", "always")])).unwrap();
        assert_eq!(layer.get(Key::Color), Some(&Value::Color(Color::Always)));
        let layer = Layer::from_env_vars(vars(&[("NO_COLOR", ""), ("LVM_SERVERS", " ")])).unwrap();
        assert!(layer.is_empty());
        let err = Layer::from_env_vars(vars(&[("LVM_LOCK_TIMEOUT", "-3")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("LVM_LOCK_TIMEOUT: lock_timeout = '-3'"),
            "{err}"
        );
    }

    #[test]
    fn user_config_location() {
        let p = |a: Option<&str>, b: Option<&str>, c: Option<&str>| {
            user_config_path_from(a.map(Into::into), b.map(Into::into), c.map(Into::into))
        };
        assert_eq!(
            p(Some("/c.toml"), Some("/x"), Some("/h")),
            Some(PathBuf::from("/c.toml"))
        );
        assert_eq!(
            p(Some(""), Some("/x"), Some("/h")),
            Some(PathBuf::from("/x/lvm/config.toml"))
        );
        assert_eq!(
            p(None, None, Some("/h")),
            Some(PathBuf::from("/h/.config/lvm/config.toml"))
        );
        assert_eq!(p(None, None, None), None);
    }

    #[test]
    fn user_config_writes_atomically_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("deep/lvm/config.toml");
        assert!(load_user_config(&path).unwrap().is_empty());
        let origin = Origin::User(path.clone());
        let mut layer = Layer::new();
        layer.set(Value::Jobs(Jobs::Count(2)), origin.clone());
        layer.set(Value::Servers(vec!["https://r".into()]), origin.clone());
        write_user_config(&path, &layer).unwrap();
        assert_eq!(load_user_config(&path).unwrap(), layer);
        std::fs::write(&path, "jobz = 1\n").unwrap();
        let err = load_user_config(&path).unwrap_err().to_string();
        assert!(err.contains("did you mean 'jobs'"), "{err}");
    }

    #[test]
    fn servers_are_normalized() {
        let tmp = tempfile::tempdir().unwrap();
        let url = normalize_server(&tmp.path().display().to_string()).unwrap();
        assert!(url.starts_with("file:///"), "{url}");
        assert_eq!(normalize_server("https://x/r/").unwrap(), "https://x/r");
        let err = normalize_server("/no/such/folder").unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn home_precedence() {
        let h = home_from(None, Some("/x".into()), Some("/h".into())).unwrap();
        assert_eq!(h, PathBuf::from("/x/lvm"));
        let h = home_from(Some("/l".into()), Some("/x".into()), None).unwrap();
        assert_eq!(h, PathBuf::from("/l"));
        let h = home_from(None, None, Some("/h".into())).unwrap();
        assert_eq!(h, PathBuf::from("/h/.local/share/lvm"));
        let h = home_from(Some("rel/home".into()), None, None).unwrap();
        assert_eq!(h, std::env::current_dir().unwrap().join("rel/home"));
        assert!(matches!(
            home_from(Some("".into()), None, None),
            Err(ConfigError::NoHome)
        ));
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
        // A plain name: an existing path first, then a named environment, else the path.
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join("envs/proj2/.git")).unwrap();
        let named = home.join("envs/proj2");
        let (p, o) = locate_env(Some(Path::new("proj2")), None, &project, &home);
        assert_eq!((p, o), (named.clone(), EnvOrigin::Flag));
        let (p, _) = locate_env(None, Some(Path::new("proj2")), &project, &home);
        assert_eq!(p, named);
        std::fs::create_dir_all(project.join("proj2")).unwrap();
        let (p, _) = locate_env(Some(Path::new("proj2")), None, &project, &home);
        assert_eq!(p, project.join("proj2"));
        // Relative paths are made absolute against the current folder.
        let (p, _) = locate_env(Some(Path::new("./other")), None, &project, &home);
        assert_eq!(p, project.join("other"));
        let (p, _) = locate_env(None, Some(Path::new("../up/./e")), &project, &home);
        assert_eq!(p, project.join("../up/e"));
        let (p, _) = locate_env(Some(Path::new("nope")), None, &project, &home);
        assert_eq!(p, project.join("nope"));
    }

    #[test]
    fn variables_and_dev_read_from_words_and_tables_and_write_back() {
        let words = Value::parse(Key::Variables, "OPENSSL_DIR=/opt/ssl  X_1=a=b", "t").unwrap();
        let Value::Variables(vars) = &words else {
            panic!("{words:?}")
        };
        assert_eq!(vars["OPENSSL_DIR"], "/opt/ssl");
        assert_eq!(vars["X_1"], "a=b");
        assert_eq!(words.to_string(), "OPENSSL_DIR=/opt/ssl X_1=a=b");
        let config = EnvConfig::parse(
            "lua = \"5.4\"\nservers = []\nvariables = { FOO_DIR = \"/opt/a b\" }\ndev = true\n",
            "lvm.toml",
        )
        .unwrap();
        assert_eq!(config.dev, Some(true));
        assert_eq!(config.variables.as_ref().unwrap()["FOO_DIR"], "/opt/a b");
        assert_eq!(
            EnvConfig::parse(&config.to_toml(), "lvm.toml").unwrap(),
            config
        );
        for (text, problem) in [
            ("NOEQUALS", "`NOEQUALS` is not NAME=VALUE"),
            ("1X=2", "`1X` is not a variable name"),
        ] {
            let err = Value::parse(Key::Variables, text, "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(problem), "{err}");
        }
        let err = Value::parse(Key::Dev, "yes", "t").unwrap_err().to_string();
        assert!(err.contains("not true or false"), "{err}");
    }
}
