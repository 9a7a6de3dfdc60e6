//! Shell text lvm generates: the `bin/` wrappers of Lua scripts and `lvm path`-style exports.
//!
//! Unlike LuaRocks' wrappers, which bake absolute paths in, lvm's wrappers find their tree from
//! their own location at run time: trees are built in a fresh directory and switched into place
//! through a symlink, so the final path is not known when the wrapper is written.

use crate::luaversion::LuaVersion;

/// Quotes `s` for POSIX sh (and fish) as a single-quoted word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes `s` for fish, whose single quotes treat `\'` and `\\` as escapes.
pub fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
}

/// The wrapper installed as `bin/<command>` for a Lua script kept at `script_rel` (relative to
/// the tree root). It prepends the tree to the module paths of the tree's Lua and runs the
/// script with the interpreter named by `LVM_LUA`, else the system's command for that Lua
/// (`lua5.4`, `luajit`), else `lua` (PUC Lua only: a LuaJIT tree needs LuaJIT).
///
/// Lua 5.2 and later read the versioned variables (`LUA_PATH_5_4`) first, so those are set
/// rather than `LUA_PATH`: an inherited `LUA_PATH_5_4` cannot hide the tree, and interpreters
/// of other Lua versions started by the script are not handed this tree's modules. Lua 5.1 and
/// LuaJIT read only `LUA_PATH`/`LUA_CPATH`. An inherited path is kept after the tree's
/// entries; with none, `;;` keeps Lua's default path.
pub fn bin_wrapper(
    lua: LuaVersion,
    command: &str,
    rock: &str,
    version: &str,
    script_rel: &str,
) -> String {
    // Names only appear in a comment line; control characters must not end it early.
    let printable = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    let (command_text, rock, version) = (printable(command), printable(rock), printable(version));
    let (path_var, cpath_var, inherited_path, inherited_cpath) = match lua.path_var_suffix() {
        Some(v) => (
            format!("LUA_PATH_{v}"),
            format!("LUA_CPATH_{v}"),
            format!("${{LUA_PATH_{v}-${{LUA_PATH-;}}}}"),
            format!("${{LUA_CPATH_{v}-${{LUA_CPATH-;}}}}"),
        ),
        None => (
            "LUA_PATH".to_string(),
            "LUA_CPATH".to_string(),
            "${LUA_PATH-;}".to_string(),
            "${LUA_CPATH-;}".to_string(),
        ),
    };
    let mut candidates = lua.system_commands();
    if !lua.is_luajit() {
        candidates.push("lua".to_string());
    }
    let pick: String = candidates
        .iter()
        .map(|c| format!("elif command -v {c} >/dev/null 2>&1; then\n    lua={c}\n"))
        .collect();
    let lib_ext = crate::platform::shared_library_extension();
    format!(
        r#"#!/bin/sh
# Runs the '{command_text}' command of {rock} {version} with the modules of this rocks tree.
# Written by lvm; the tree is located from this file, so it works from any directory.
self=$0
while [ -h "$self" ]; do
    link=$(readlink "$self") || break
    case $link in
        /*) self=$link ;;
        *) self=$(dirname -- "$self")/$link ;;
    esac
done
tree=$(CDPATH= cd -- "$(dirname -- "$self")/.." && pwd -P) || exit 1
{path_var}="$tree/{lua_dir}/?.lua;$tree/{lua_dir}/?/init.lua;{inherited_path}"
{cpath_var}="$tree/{lib_dir}/?.{lib_ext};{inherited_cpath}"
export {path_var} {cpath_var}
if [ -n "${{LVM_LUA-}}" ]; then
    lua=$LVM_LUA
{pick}else
    echo {no_lua} >&2
    exit 127
fi
exec "$lua" "$tree"/{script} "$@"
"#,
        lua_dir = crate::tree::lua_subdir(lua),
        lib_dir = crate::tree::lib_subdir(lua),
        script = sh_quote(script_rel),
        no_lua = sh_quote(&format!(
            "{command}: no Lua {lua} interpreter found: install {} or set LVM_LUA to its path",
            candidates[0]
        )),
    )
}

/// The module search paths and command directory of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaPaths {
    /// `LUA_PATH`: the tree's `?.lua` and `?/init.lua` patterns, then `;;` (Lua's default).
    pub lua_path: String,
    /// `LUA_CPATH`: the tree's `?.so` pattern, then `;;`.
    pub lua_cpath: String,
    /// The tree's `bin` directory, to put in front of `PATH`.
    pub path: String,
}

/// [`LuaPaths`] for a tree rooted at `root` (written as given; pass an absolute path).
pub fn lua_paths(root: &str, lua: LuaVersion) -> LuaPaths {
    let root = root.trim_end_matches('/');
    let root = if root.is_empty() { "/" } else { root };
    let join = |rest: &str| {
        if root == "/" {
            format!("/{rest}")
        } else {
            format!("{root}/{rest}")
        }
    };
    let lua_dir = join(&crate::tree::lua_subdir(lua));
    let lib_dir = join(&crate::tree::lib_subdir(lua));
    LuaPaths {
        lua_path: format!("{lua_dir}/?.lua;{lua_dir}/?/init.lua;;"),
        lua_cpath: format!(
            "{lib_dir}/?.{};;",
            crate::platform::shared_library_extension()
        ),
        path: join("bin"),
    }
}

/// Shells [`path_script`] can write for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// sh, bash, zsh, dash, ksh: the same `export` syntax.
    Posix,
    Fish,
}

/// Commands that put a tree on the module and command paths, like `luarocks path` prints.
/// `PATH` is extended at evaluation time, so the output can be cached.
pub fn path_script(paths: &LuaPaths, shell: Shell) -> String {
    match shell {
        Shell::Posix => format!(
            "export LUA_PATH={}\nexport LUA_CPATH={}\nexport PATH={}\"${{PATH:+:$PATH}}\"\n",
            sh_quote(&paths.lua_path),
            sh_quote(&paths.lua_cpath),
            sh_quote(&paths.path),
        ),
        Shell::Fish => format!(
            "set -gx LUA_PATH {}\nset -gx LUA_CPATH {}\nset -gx PATH {} $PATH\n",
            fish_quote(&paths.lua_path),
            fish_quote(&paths.lua_cpath),
            fish_quote(&paths.path),
        ),
    }
}

impl LuaPaths {
    /// The tree's `LUA_PATH` patterns without the trailing `;;`.
    fn lua_path_patterns(&self) -> &str {
        self.lua_path.trim_end_matches(';')
    }

    fn lua_cpath_patterns(&self) -> &str {
        self.lua_cpath.trim_end_matches(';')
    }

    /// The values after appending the tree to existing `LUA_PATH`, `LUA_CPATH` and `PATH`
    /// values (like `luarocks path --append`): an unset or empty module path stands for Lua's
    /// default (`;;`), which then comes first.
    pub fn appended_to(
        &self,
        lua_path: Option<&str>,
        lua_cpath: Option<&str>,
        path: Option<&str>,
    ) -> LuaPaths {
        let after = |existing: Option<&str>, patterns: &str| match existing {
            Some(e) if !e.is_empty() => format!("{e};{patterns}"),
            _ => format!(";;{patterns}"),
        };
        LuaPaths {
            lua_path: after(lua_path, self.lua_path_patterns()),
            lua_cpath: after(lua_cpath, self.lua_cpath_patterns()),
            path: match path {
                Some(p) if !p.is_empty() => format!("{p}:{}", self.path),
                _ => self.path.clone(),
            },
        }
    }

    /// The values after putting the tree in front (what [`path_script`] sets): the module paths
    /// are the tree's then Lua's default; `PATH` gets the tree's `bin` in front.
    pub fn prepended_to(&self, path: Option<&str>) -> LuaPaths {
        LuaPaths {
            path: match path {
                Some(p) if !p.is_empty() => format!("{}:{p}", self.path),
                _ => self.path.clone(),
            },
            ..self.clone()
        }
    }
}

/// Like [`path_script`], but the tree goes after the existing `LUA_PATH`, `LUA_CPATH` and
/// `PATH` (read when the output is evaluated), like `luarocks path --append`.
pub fn append_path_script(paths: &LuaPaths, shell: Shell) -> String {
    match shell {
        Shell::Posix => format!(
            "export LUA_PATH=\"${{LUA_PATH:-;}};\"{}\nexport LUA_CPATH=\"${{LUA_CPATH:-;}};\"{}\nexport PATH=\"${{PATH:+$PATH:}}\"{}\n",
            sh_quote(paths.lua_path_patterns()),
            sh_quote(paths.lua_cpath_patterns()),
            sh_quote(&paths.path),
        ),
        Shell::Fish => {
            let var = |name: &str, patterns: &str| {
                format!(
                    "if test -n \"${name}\"; set -gx {name} \"${name};\"{q}; else; set -gx {name} ';;'{q}; end\n",
                    q = fish_quote(patterns)
                )
            };
            format!(
                "{}{}set -gx PATH $PATH {}\n",
                var("LUA_PATH", paths.lua_path_patterns()),
                var("LUA_CPATH", paths.lua_cpath_patterns()),
                fish_quote(&paths.path),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_keeps_the_existing_values_first() {
        let p = lua_paths("/t", LuaVersion::Lua54);
        let a = p.appended_to(Some("/x/?.lua"), None, Some("/usr/bin"));
        assert_eq!(
            a.lua_path,
            "/x/?.lua;/t/share/lua/5.4/?.lua;/t/share/lua/5.4/?/init.lua"
        );
        assert_eq!(a.lua_cpath, ";;/t/lib/lua/5.4/?.so");
        assert_eq!(a.path, "/usr/bin:/t/bin");
        let b = p.prepended_to(Some("/usr/bin"));
        assert_eq!(b.path, "/t/bin:/usr/bin");
        assert_eq!(b.lua_path, p.lua_path);
    }

    #[test]
    fn paths_use_luarocks_patterns_and_default_suffix() {
        let p = lua_paths("/t/", LuaVersion::Lua54);
        assert_eq!(
            p.lua_path,
            "/t/share/lua/5.4/?.lua;/t/share/lua/5.4/?/init.lua;;"
        );
        assert_eq!(p.lua_cpath, "/t/lib/lua/5.4/?.so;;");
        assert_eq!(p.path, "/t/bin");
    }

    #[test]
    fn wrapper_names_cannot_break_out_of_the_comment() {
        let text = bin_wrapper(
            LuaVersion::Lua54,
            "a\nrm -rf x",
            "r",
            "1-1",
            "lib/x/bin/a\nrm -rf x",
        );
        let comment = text.lines().nth(1).unwrap_or_default();
        assert_eq!(
            comment,
            "# Runs the 'a?rm -rf x' command of r 1-1 with the modules of this rocks tree."
        );
        assert!(text.ends_with("exec \"$lua\" \"$tree\"/'lib/x/bin/a\nrm -rf x' \"$@\"\n"));
    }

    #[test]
    fn wrappers_set_the_path_variables_their_lua_reads() {
        let v54 = bin_wrapper(LuaVersion::Lua54, "t", "r", "1-1", "s");
        assert!(
            v54.contains("LUA_PATH_5_4=\"$tree/share/lua/5.4/?.lua;"),
            "{v54}"
        );
        assert!(v54.contains("command -v lua5.4 "), "{v54}");
        let v51 = bin_wrapper(LuaVersion::Lua51, "t", "r", "1-1", "s");
        assert!(
            v51.contains("\nLUA_PATH=\"$tree/share/lua/5.1/?.lua;"),
            "{v51}"
        );
        assert!(v51.contains("export LUA_PATH LUA_CPATH"), "{v51}");
        let jit = bin_wrapper(LuaVersion::LuaJit, "t", "r", "1-1", "s");
        assert!(
            jit.contains("$tree/lib/lua/5.1/?.so;${LUA_CPATH-;}"),
            "{jit}"
        );
        assert!(jit.contains("command -v luajit "), "{jit}");
        assert!(
            !jit.contains("command -v lua "),
            "LuaJIT trees need LuaJIT: {jit}"
        );
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
        assert_eq!(fish_quote(r"a'b\c"), r"'a\'b\\c'");
        let script = path_script(&lua_paths("/it's", LuaVersion::Lua54), Shell::Posix);
        assert!(script.starts_with("export LUA_PATH='/it'\\''s/share/lua/5.4/?.lua;"));
        assert!(script.contains("export PATH='/it'\\''s/bin'\"${PATH:+:$PATH}\"\n"));
    }
}
