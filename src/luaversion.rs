//! The Lua an environment targets ([`LuaVersion`]: 5.1 to 5.5 and LuaJIT) and everything that
//! follows from it in LuaRocks' terms: tree paths, path variables, provided rocks, interpreters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A Lua an environment can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LuaVersion {
    Lua51,
    Lua52,
    Lua53,
    #[default]
    Lua54,
    Lua55,
    /// LuaJIT 2.1: Lua 5.1 semantics and C API, so it uses 5.1's paths and rocks.
    LuaJit,
}

/// A version name lvm does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown Lua version '{value}' (accepted: {})", LuaVersion::accepted())]
pub struct UnknownLuaVersion {
    pub value: String,
}

impl LuaVersion {
    /// Every version, in the order help and errors list them.
    pub const ALL: [LuaVersion; 6] = [
        LuaVersion::Lua51,
        LuaVersion::Lua52,
        LuaVersion::Lua53,
        LuaVersion::Lua54,
        LuaVersion::Lua55,
        LuaVersion::LuaJit,
    ];

    /// The version the embedded interpreter runs (mlua's vendored Lua).
    pub const EMBEDDED: LuaVersion = LuaVersion::Lua54;

    /// The name written in `lvm.toml`, `manifest.json` and on the command line (`5.1`, `luajit`).
    pub fn as_str(self) -> &'static str {
        match self {
            LuaVersion::Lua51 => "5.1",
            LuaVersion::Lua52 => "5.2",
            LuaVersion::Lua53 => "5.3",
            LuaVersion::Lua54 => "5.4",
            LuaVersion::Lua55 => "5.5",
            LuaVersion::LuaJit => "luajit",
        }
    }

    /// The accepted names, comma-separated, for messages.
    pub fn accepted() -> String {
        LuaVersion::ALL.map(LuaVersion::as_str).join(", ")
    }

    /// The version of the Lua C API and of the tree paths (`share/lua/5.1`, `rocks-5.1`,
    /// `manifest-5.1`): LuaJIT's is 5.1.
    pub fn abi(self) -> &'static str {
        match self {
            LuaVersion::LuaJit => "5.1",
            other => other.as_str(),
        }
    }

    /// The version the virtual `lua` dependency has (`lua >= 5.1, < 5.4`): the ABI, so LuaJIT
    /// counts as 5.1, as LuaRocks does.
    pub fn lua_dependency_version(self) -> &'static str {
        self.abi()
    }

    /// What `_VERSION` holds in this Lua (`Lua 5.1`; LuaJIT reports `Lua 5.1` too).
    pub fn lua_version_global(self) -> String {
        format!("Lua {}", self.abi())
    }

    pub fn is_luajit(self) -> bool {
        self == LuaVersion::LuaJit
    }

    /// Whether lvm's embedded interpreter serves this version.
    pub fn is_embedded(self) -> bool {
        self == LuaVersion::EMBEDDED
    }

    /// The rocks LuaRocks treats as provided by the interpreter (its `rocks_provided`), besides
    /// `lua` itself, with the version they count as: `bit32` in 5.2, `utf8` from 5.3 on,
    /// `luabitop` and `luajit` under LuaJIT.
    pub fn provided_rocks(self) -> &'static [(&'static str, &'static str)] {
        match self {
            LuaVersion::Lua51 => &[],
            LuaVersion::Lua52 => &[("bit32", "5.2")],
            LuaVersion::Lua53 => &[("utf8", "5.3")],
            LuaVersion::Lua54 => &[("utf8", "5.4")],
            LuaVersion::Lua55 => &[("utf8", "5.5")],
            LuaVersion::LuaJit => &[("luabitop", "2.1"), ("luajit", "2.1")],
        }
    }

    /// Whether `name` is a rock this Lua provides (`lua` included), never installed.
    pub fn provides(self, name: &str) -> bool {
        name == "lua" || self.provided_rocks().iter().any(|(n, _)| *n == name)
    }

    /// The suffix of the versioned path variables (`LUA_PATH_5_4`), for the versions that read
    /// them (5.2 on); 5.1 and LuaJIT read only `LUA_PATH`/`LUA_CPATH`.
    pub fn path_var_suffix(self) -> Option<String> {
        match self {
            LuaVersion::Lua51 | LuaVersion::LuaJit => None,
            other => Some(other.abi().replace('.', "_")),
        }
    }

    /// Interpreter commands a system may have for this version, most specific first
    /// (Debian's `lua5.1`, then other distributions' `lua51`).
    pub fn system_commands(self) -> Vec<String> {
        match self {
            LuaVersion::LuaJit => vec!["luajit".into()],
            other => vec![
                format!("lua{}", other.as_str()),
                format!("lua{}", other.as_str().replace('.', "")),
            ],
        }
    }

    /// Include directories that may hold this version's headers, most specific first
    /// (Debian's `/usr/include/lua5.1`, `/usr/include/luajit-2.1`).
    pub fn system_include_dirs(self) -> Vec<String> {
        match self {
            LuaVersion::LuaJit => vec![
                "/usr/include/luajit-2.1".into(),
                "/usr/local/include/luajit-2.1".into(),
            ],
            other => vec![
                format!("/usr/include/lua{}", other.as_str()),
                format!("/usr/local/include/lua{}", other.as_str()),
                format!("/usr/include/lua{}", other.as_str().replace('.', "")),
            ],
        }
    }

    /// The shared library name build scripts link against (`LUALIB`).
    pub fn library_name(self) -> String {
        match self {
            LuaVersion::LuaJit => "libluajit-5.1.so".into(),
            other => format!("liblua{}.so", other.as_str()),
        }
    }

    /// The version an interpreter's banner or `_VERSION` names: `LuaJIT 2.1.0` is LuaJIT,
    /// `Lua 5.1.5` or `Lua 5.1` is 5.1. `None` for text that names no Lua.
    pub fn from_banner(text: &str) -> Option<LuaVersion> {
        let text = text.trim_start();
        if text.starts_with("LuaJIT") {
            return Some(LuaVersion::LuaJit);
        }
        let rest = text.strip_prefix("Lua ")?;
        let mut parts = rest.split(|c: char| !c.is_ascii_digit());
        let (major, minor) = (parts.next()?, parts.next()?);
        LuaVersion::parse(&format!("{major}.{minor}")).ok()
    }

    /// Reads a version name: `5.1` ... `5.5` or `luajit` (any case, surrounding blanks ignored).
    pub fn parse(text: &str) -> Result<LuaVersion, UnknownLuaVersion> {
        let wanted = text.trim().to_ascii_lowercase();
        LuaVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == wanted)
            .ok_or_else(|| UnknownLuaVersion {
                value: text.to_string(),
            })
    }
}

impl fmt::Display for LuaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LuaVersion {
    type Err = UnknownLuaVersion;
    fn from_str(s: &str) -> Result<LuaVersion, UnknownLuaVersion> {
        LuaVersion::parse(s)
    }
}

impl Serialize for LuaVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LuaVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LuaVersion, D::Error> {
        let text = String::deserialize(d)?;
        LuaVersion::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back() {
        for v in LuaVersion::ALL {
            assert_eq!(LuaVersion::parse(v.as_str()), Ok(v));
        }
        assert_eq!(LuaVersion::parse(" LuaJIT "), Ok(LuaVersion::LuaJit));
        assert_eq!(LuaVersion::default(), LuaVersion::Lua54);
    }

    #[test]
    fn unknown_names_are_refused_with_the_accepted_ones() {
        for bad in ["6.0", "jit2", "5", "5.4.6", ""] {
            let err = LuaVersion::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
            assert!(err.contains("5.1, 5.2, 5.3, 5.4, 5.5, luajit"), "{err}");
        }
    }

    #[test]
    fn luajit_uses_the_paths_and_dependency_version_of_5_1() {
        assert_eq!(LuaVersion::LuaJit.abi(), "5.1");
        assert_eq!(LuaVersion::LuaJit.lua_dependency_version(), "5.1");
        assert_eq!(LuaVersion::LuaJit.lua_version_global(), "Lua 5.1");
        assert_eq!(LuaVersion::Lua53.abi(), "5.3");
    }

    #[test]
    fn provided_rocks_follow_luarocks() {
        let names =
            |v: LuaVersion| -> Vec<&str> { v.provided_rocks().iter().map(|(n, _)| *n).collect() };
        assert!(names(LuaVersion::Lua51).is_empty());
        assert_eq!(names(LuaVersion::Lua52), ["bit32"]);
        assert_eq!(names(LuaVersion::Lua53), ["utf8"]);
        assert_eq!(names(LuaVersion::Lua54), ["utf8"]);
        assert_eq!(names(LuaVersion::LuaJit), ["luabitop", "luajit"]);
        assert!(LuaVersion::Lua51.provides("lua"));
        assert!(!LuaVersion::Lua51.provides("bit32"));
    }

    #[test]
    fn only_5_2_and_later_read_versioned_path_variables() {
        assert_eq!(LuaVersion::Lua51.path_var_suffix(), None);
        assert_eq!(LuaVersion::LuaJit.path_var_suffix(), None);
        assert_eq!(LuaVersion::Lua52.path_var_suffix().as_deref(), Some("5_2"));
        assert_eq!(LuaVersion::Lua54.path_var_suffix().as_deref(), Some("5_4"));
    }

    #[test]
    fn banners_name_their_version() {
        let cases = [
            (
                "Lua 5.1.5  Copyright (C) 1994-2012 Lua.org, PUC-Rio",
                Some(LuaVersion::Lua51),
            ),
            ("Lua 5.4", Some(LuaVersion::Lua54)),
            (
                "LuaJIT 2.1.0-beta3 -- Copyright (C) 2005-2022 Mike Pall.",
                Some(LuaVersion::LuaJit),
            ),
            ("Python 3.11.2", None),
            ("Lua 6.0.0", None),
        ];
        for (text, want) in cases {
            assert_eq!(LuaVersion::from_banner(text), want, "{text}");
        }
    }
}
