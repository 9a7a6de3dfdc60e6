//! LuaRocks build variables: the table a build sees (`CC`, `CFLAGS`, `LUA_INCDIR`, `PREFIX`,
//! `LIBDIR`, ...) and the `$(NAME)` substitution rockspecs use to refer to them.

use std::collections::BTreeMap;
use std::path::Path;

use super::BuildContext;

/// Variables by name, as passed to make, cmake and commands.
pub type Variables = BTreeMap<String, String>;

/// Replaces every `$(NAME)` in `text` the way LuaRocks' `util.variable_substitutions` does:
/// known names take their value; if any reference is left unmatched, every remaining one is
/// removed (replaced by nothing) and its name is pushed onto `unmatched` (LuaRocks warns).
/// A name is a letter followed by at least one letter, digit or `_`.
pub fn substitute(text: &str, vars: &Variables, unmatched: &mut Vec<String>) -> String {
    let replaced = replace_refs(text, |name| vars.get(name).cloned());
    if find_ref(&replaced, 0).is_none() {
        return replaced;
    }
    replace_refs(&replaced, |name| {
        unmatched.push(name.to_string());
        Some(String::new())
    })
}

/// Substitutes every value of `map` in place.
pub fn substitute_all(map: &mut Variables, vars: &Variables, unmatched: &mut Vec<String>) {
    for value in map.values_mut() {
        *value = substitute(value, vars, unmatched);
    }
}

/// One pass over `text`: each `$(NAME)` for which `value` gives `Some` is replaced; the others
/// are kept as written.
fn replace_refs(text: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some((start, end)) = find_ref(text, pos) {
        out.push_str(&text[pos..start]);
        let name = &text[start + 2..end - 1];
        match value(name) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&text[start..end]),
        }
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

/// The byte range of the first `$(NAME)` at or after `from`.
fn find_ref(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut i = from;
    while let Some(offset) = text.get(i..)?.find("$(") {
        let start = i + offset;
        let name_start = start + 2;
        let mut j = name_start;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        let name = &bytes[name_start..j];
        let well_formed =
            name.len() >= 2 && name[0].is_ascii_alphabetic() && bytes.get(j) == Some(&b')');
        if well_formed {
            return Some((start, j + 1));
        }
        i = start + 2;
    }
    None
}

/// The tool names LuaRocks' configuration defines on Unix (`core/cfg.lua`'s `variables`), with
/// its values. Rockspecs seldom use them, but a `$(VAR)` naming one must not vanish.
const LUAROCKS_TOOLS: &[(&str, &str)] = &[
    ("AR", "ar"),
    ("BUNZIP2", "bunzip2"),
    ("CHMOD", "chmod"),
    ("CP", "cp"),
    ("CURL", "curl"),
    // LuaRocks' defaults, as its own `config variables` shows them (certificate checks off).
    ("CURLNOCERTFLAG", "-k"),
    ("CVS", "cvs"),
    ("FIND", "find"),
    ("GIT", "git"),
    ("GPG", "gpg"),
    ("GUNZIP", "gunzip"),
    ("HG", "hg"),
    ("ICACLS", "icacls"),
    ("LS", "ls"),
    ("MD5", "md5"),
    ("MD5SUM", "md5sum"),
    ("MKDIR", "mkdir"),
    ("MKTEMP", "mktemp"),
    ("OPENSSL", "openssl"),
    ("PWD", "pwd"),
    ("RANLIB", "ranlib"),
    ("RM", "rm"),
    ("RMDIR", "rmdir"),
    ("RSYNC", "rsync"),
    ("RSYNCFLAGS", "--exclude=.git -Oavz"),
    ("SCP", "scp"),
    ("SEVENZ", "7z"),
    ("SSCM", "sscm"),
    ("SVN", "svn"),
    ("TAR", "tar"),
    ("TEST", "test"),
    ("TOUCH", "touch"),
    ("UNZIP", "unzip -n"),
    ("WGET", "wget"),
    ("WGETNOCERTFLAG", "--no-check-certificate"),
    ("ZIP", "zip"),
];

/// The extension of object files (`OBJ_EXTENSION`).
pub fn object_extension() -> &'static str {
    if cfg!(windows) { "obj" } else { "o" }
}

/// The variables LuaRocks defines for building a rock installed at `prefix` (its
/// `cfg.variables` plus `rockspecs.configure_paths`): the tool and Lua settings of `ctx`, then
/// the user's own variables (which may override them), then the rock's install directories
/// (which always point into `prefix`). `ROCKS_TREE` and `SCRIPTS_DIR`, which LuaRocks sets to
/// the tree it installs into, are left out: a build here is shared by every environment's
/// tree, so it must not depend on one.
pub fn rock_variables(ctx: &BuildContext, prefix: &Path) -> Variables {
    let path = |p: &Path| p.display().to_string();
    let mut vars: Variables = LUAROCKS_TOOLS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut set = |k: &str, v: String| {
        vars.insert(k.to_string(), v);
    };
    set("CC", ctx.cc.clone());
    set("LD", ctx.cc.clone());
    set("CFLAGS", ctx.cflags.clone());
    set("LIBFLAG", ctx.libflag.clone());
    set("MAKE", ctx.make.clone());
    set(
        "CMAKE",
        ctx.cmake.clone().unwrap_or_else(|| "cmake".to_string()),
    );
    set(
        "LIB_EXTENSION",
        crate::platform::shared_library_extension().to_string(),
    );
    set("OBJ_EXTENSION", object_extension().to_string());
    set("LUA_VERSION", ctx.lua_version.abi().to_string());
    set("LUA_INCDIR", path(&ctx.lua_incdir));
    set("LUA_LIBDIR", path(&ctx.lua_libdir));
    set("LUA_BINDIR", path(&ctx.lua_bindir));
    set(
        "LUA_DIR",
        ctx.lua_bindir.parent().map(path).unwrap_or_default(),
    );
    set("LUA", ctx.lua.clone());
    set("LUALIB", ctx.lua_version.library_name());
    set("LUAROCKS_UNAME_S", uname_s().to_string());
    set("LUAROCKS_UNAME_M", std::env::consts::ARCH.to_string());
    vars.extend(ctx.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (name, sub) in [
        ("PREFIX", ""),
        ("LUADIR", "lua"),
        ("LIBDIR", "lib"),
        ("BINDIR", "bin"),
        ("CONFDIR", "conf"),
        ("DOCDIR", "doc"),
    ] {
        let dir = if sub.is_empty() {
            prefix.to_path_buf()
        } else {
            prefix.join(sub)
        };
        vars.insert(name.to_string(), path(&dir));
    }
    vars
}

fn uname_s() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "freebsd" => "FreeBSD",
        "windows" => "Windows",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn known_references_are_replaced() {
        let v = vars(&[("LUA_INCDIR", "/inc"), ("CFLAGS", "-O2")]);
        let mut unmatched = Vec::new();
        assert_eq!(
            substitute(
                "$(CFLAGS) -I$(LUA_INCDIR) -I$(LUA_INCDIR)/x",
                &v,
                &mut unmatched
            ),
            "-O2 -I/inc -I/inc/x"
        );
        assert!(unmatched.is_empty());
    }

    #[test]
    fn unknown_references_are_removed_and_reported() {
        let v = vars(&[("LIBDIR", "/p/lib")]);
        let mut unmatched = Vec::new();
        assert_eq!(
            substitute("$(NOPE)/x $(LIBDIR)", &v, &mut unmatched),
            "/x /p/lib"
        );
        assert_eq!(unmatched, ["NOPE"]);
    }

    #[test]
    fn malformed_references_are_left_alone() {
        let v = vars(&[("A", "a"), ("AB", "ab")]);
        let mut unmatched = Vec::new();
        for text in ["$(A)", "$(1AB)", "$(AB", "$AB", "$ (AB)", "$(A-B)"] {
            assert_eq!(substitute(text, &v, &mut unmatched), text);
        }
        assert!(unmatched.is_empty());
        // As in LuaRocks, a reference produced by a substitution is itself unmatched.
        assert_eq!(substitute("$($(AB))", &v, &mut unmatched), "");
        assert_eq!(unmatched, ["ab"]);
    }

    #[test]
    fn rock_variables_follow_luarocks_and_the_environments_lua() {
        use crate::luaversion::LuaVersion;
        let ctx = |lua| {
            BuildContext::from_vars(
                lua,
                Path::new("/inc/lua"),
                Some(Path::new("/opt/lj/bin/luajit")),
                |k| (k == "PATH").then(String::new),
            )
        };
        let jit = rock_variables(&ctx(LuaVersion::LuaJit), Path::new("/rock"));
        assert_eq!(jit["LUA_VERSION"], "5.1");
        assert_eq!(jit["LUALIB"], "libluajit-5.1.so");
        assert_eq!(jit["LUA"], "/opt/lj/bin/luajit");
        assert_eq!(jit["LUA_BINDIR"], "/opt/lj/bin");
        assert_eq!(jit["LUA_DIR"], "/opt/lj");
        assert_eq!(jit["LUA_INCDIR"], "/inc/lua");
        let v51 = rock_variables(&ctx(LuaVersion::Lua51), Path::new("/rock"));
        assert_eq!(v51["LUALIB"], "liblua5.1.so");
        for (name, value) in [
            ("LIB_EXTENSION", "so"),
            ("OBJ_EXTENSION", "o"),
            ("CFLAGS", "-O2 -fPIC"),
            ("LIBFLAG", "-shared"),
            ("MAKE", "make"),
            ("UNZIP", "unzip -n"),
            ("TEST", "test"),
            ("PREFIX", "/rock"),
            ("LIBDIR", "/rock/lib"),
            ("LUADIR", "/rock/lua"),
            ("BINDIR", "/rock/bin"),
            ("CONFDIR", "/rock/conf"),
            ("DOCDIR", "/rock/doc"),
        ] {
            assert_eq!(v51[name], value, "{name}");
        }
        // A user's variable overrides a default, never the rock's own directories.
        let mut user = ctx(LuaVersion::Lua54);
        user.variables.insert("CFLAGS".into(), "-O0".into());
        user.variables.insert("LIBDIR".into(), "/elsewhere".into());
        let vars = rock_variables(&user, Path::new("/rock"));
        assert_eq!(vars["CFLAGS"], "-O0");
        assert_eq!(vars["LIBDIR"], "/rock/lib");
    }

    #[test]
    fn non_ascii_text_is_preserved() {
        let v = vars(&[("AB", "é")]);
        let mut unmatched = Vec::new();
        assert_eq!(substitute("ü$(AB)ü$(", &v, &mut unmatched), "üéü$(");
    }
}
