//! Placing files into a rock directory: module-name paths, `build.install`, `copy_directories`
//! and the default documentation, with LuaRocks' naming rules and permissions.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::BuildError;
use crate::rockspec::{Install, InstallEntry};

/// Permissions LuaRocks gives installed files: "read" for Lua modules and config files, "exec"
/// for C modules and scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perms {
    Read,
    Exec,
}

/// The directory part of a module name (`a.b.c` → `a/b`), or `None` when the name could
/// escape the directory it is installed under.
pub fn module_dir(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name.split('.').any(str::is_empty) {
        return None;
    }
    let mut parts: Vec<&str> = name.split('.').collect();
    parts.pop();
    Some(parts.iter().collect())
}

/// The last component of a module name (`a.b.c` → `c`).
pub fn module_basename(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Whether `path` is relative and stays below the directory it is joined to.
pub fn is_contained(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// The path of the source file `rel` that the rockspec field `field` names, refused when it
/// lies outside the unpacked sources `source_dir`: by its name (absolute, `..`; the same check
/// as `lvm lint`, [`crate::rockspec::source_path_problem`]) or through a symbolic link in the
/// sources (a git checkout may hold links to anywhere). Missing files are an error too.
pub fn source_file(source_dir: &Path, field: &str, rel: &str) -> Result<PathBuf, BuildError> {
    let outside = |why: &str| BuildError::SourceOutside {
        field: field.to_string(),
        value: rel.to_string(),
        why: why.to_string(),
        source_dir: source_dir.to_path_buf(),
    };
    if let Some(why) = crate::rockspec::source_path_problem(rel) {
        return Err(outside(why));
    }
    let path = source_dir.join(rel);
    if !path.is_file() {
        return Err(BuildError::MissingFile {
            field: field.to_string(),
            path: rel.to_string(),
            source_dir: source_dir.to_path_buf(),
        });
    }
    let real = fs::canonicalize(&path).map_err(|e| BuildError::io("resolve", &path, e))?;
    let root =
        fs::canonicalize(source_dir).map_err(|e| BuildError::io("resolve", source_dir, e))?;
    if !real.starts_with(&root) {
        return Err(outside(&format!(
            "is a symbolic link to {}",
            real.display()
        )));
    }
    Ok(path)
}

/// Copies one file, creating the destination's parent directories and setting LuaRocks'
/// permissions. A symbolic link already at the destination is replaced, never written through.
pub fn copy_file(from: &Path, to: &Path, perms: Perms) -> Result<(), BuildError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| BuildError::io("create directory", parent, e))?;
    }
    remove_link(to)?;
    fs::copy(from, to).map_err(|e| BuildError::io(format!("copy {} to", from.display()), to, e))?;
    set_perms(to, perms)
}

/// Removes `path` when it is a symbolic link, so what is written there next lands in a new
/// file instead of the link's target.
fn remove_link(path: &Path) -> Result<(), BuildError> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(path).map_err(|e| BuildError::io("replace the link", path, e))?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_perms(path: &Path, perms: Perms) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match perms {
        Perms::Read => 0o644,
        Perms::Exec => 0o755,
    };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| BuildError::io("set permissions of", path, e))
}

#[cfg(not(unix))]
fn set_perms(_path: &Path, _perms: Perms) -> Result<(), BuildError> {
    Ok(())
}

/// Where one `build.install` entry goes, relative to the rock directory. `lua` and `lib` keys
/// are module names (`["a.b"] = "src/b.lua"` → `lua/a/b.lua`; a `.lua` file takes the module's
/// last name); `bin` and `conf` keys are file paths; entries without a key keep their file name.
pub fn install_destination(
    kind: &str,
    entry: &InstallEntry,
    field: &str,
) -> Result<PathBuf, BuildError> {
    let unsafe_path = |value: &str| BuildError::UnsafePath {
        field: field.to_string(),
        value: value.to_string(),
    };
    let file_name = Path::new(&entry.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| unsafe_path(&entry.path))?;
    let base = PathBuf::from(kind);
    let Some(key) = &entry.name else {
        return Ok(base.join(file_name));
    };
    if kind == "lua" || kind == "lib" {
        let dir = module_dir(key).ok_or_else(|| unsafe_path(key))?;
        let name = if file_name.ends_with(".lua") {
            format!("{}.lua", module_basename(key))
        } else {
            file_name
        };
        Ok(base.join(dir).join(name))
    } else if is_contained(key) {
        Ok(base.join(key))
    } else {
        Err(unsafe_path(key))
    }
}

/// The field path of the `index`th (from 0) entry of `build.install.<kind>`:
/// `build.install.lua["a.b"]` for a keyed one, `build.install.lib[1]` otherwise.
pub fn install_field(kind: &str, entry: &InstallEntry, index: usize) -> String {
    match &entry.name {
        Some(key) => format!("build.install.{kind}[{key:?}]"),
        None => format!("build.install.{kind}[{}]", index + 1),
    }
}

/// Installs `build.install` (`lua`, `lib`, `bin`, `conf`) into `prefix`.
pub fn install_entries(
    install: &Install,
    source_dir: &Path,
    prefix: &Path,
) -> Result<(), BuildError> {
    for (kind, entries) in install.groups() {
        // LuaRocks' permissions: modules and scripts executable, Lua files and config read.
        let perms = match kind {
            "lib" | "bin" => Perms::Exec,
            _ => Perms::Read,
        };
        for (i, entry) in entries.iter().enumerate() {
            let field = install_field(kind, entry, i);
            let dest = install_destination(kind, entry, &field)?;
            let from = source_file(source_dir, &field, &entry.path)?;
            copy_file(&from, &prefix.join(&dest), perms)?;
        }
    }
    Ok(())
}

/// Copies `copy_directories` into `prefix` as LuaRocks' `install_files` does: without the
/// field, `doc` when present; when nothing was copied, the top-level README, LICENSE, COPYING
/// and Markdown files into `doc/` (LuaRocks' default documentation).
pub fn copy_directories(
    dirs: Option<&[String]>,
    source_dir: &Path,
    prefix: &Path,
) -> Result<(), BuildError> {
    let default = ["doc".to_string()];
    let wanted = dirs.unwrap_or(&default);
    let mut any = false;
    for dir in wanted {
        if !is_contained(dir) {
            return Err(BuildError::UnsafePath {
                field: "build.copy_directories".to_string(),
                value: dir.clone(),
            });
        }
        let from = source_dir.join(dir);
        if from.is_dir() {
            copy_tree(&from, prefix, Path::new(dir))?;
            any = true;
        } else if dirs.is_some() {
            return Err(BuildError::MissingDirectory {
                dir: dir.clone(),
                source_dir: source_dir.to_path_buf(),
            });
        }
    }
    if !any {
        install_default_docs(source_dir, &prefix.join("doc"))?;
    }
    Ok(())
}

/// LuaRocks' default documentation patterns, matched against the lower-cased name from its
/// start: `readme`, `license`, `copying` and `.*%.md` (so any name holding `.md`).
fn is_default_doc(file_name: &str) -> bool {
    let lower = file_name.to_lowercase();
    ["readme", "license", "copying"]
        .iter()
        .any(|p| lower.starts_with(p))
        || lower.contains(".md")
}

fn install_default_docs(source_dir: &Path, dest: &Path) -> Result<(), BuildError> {
    let entries = fs::read_dir(source_dir)
        .map_err(|e| BuildError::io("list the sources in", source_dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_default_doc(&name) && is_file {
            copy_file(&entry.path(), &dest.join(&name), Perms::Read)?;
        }
    }
    Ok(())
}

/// Copies the directory `from` to `under` (relative) inside the rock directory `prefix`,
/// keeping files' permissions. Symbolic links are recreated as links only when they stay inside
/// `prefix` ([`crate::fsutil::link_stays_inside`]); any other link is an error, so nothing can
/// later write through one, or copy what it points to, outside the rock.
pub fn copy_tree(from: &Path, prefix: &Path, under: &Path) -> Result<(), BuildError> {
    let to = prefix.join(under);
    // `from` itself may be a link too (a git checkout's `lua -> /somewhere`): copied as a link,
    // so it is checked like the others.
    for entry in walkdir::WalkDir::new(from).follow_root_links(false) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(from).to_path_buf();
            BuildError::io("read", path, e.into())
        })?;
        let rel = entry.path().strip_prefix(from).unwrap_or(Path::new(""));
        let dest = to.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            remove_link(&dest)?;
            fs::create_dir_all(&dest).map_err(|e| BuildError::io("create directory", &dest, e))?;
        } else if kind.is_symlink() {
            copy_symlink(entry.path(), &dest, &under.join(rel))?;
        } else {
            remove_link(&dest)?;
            fs::copy(entry.path(), &dest).map_err(|e| {
                BuildError::io(format!("copy {} to", entry.path().display()), &dest, e)
            })?;
        }
    }
    Ok(())
}

/// Recreates the link `from` at `to`, whose path inside the rock is `rel`.
fn copy_symlink(from: &Path, to: &Path, rel: &Path) -> Result<(), BuildError> {
    let target = fs::read_link(from).map_err(|e| BuildError::io("read link", from, e))?;
    if !crate::fsutil::link_stays_inside(rel, &target) {
        return Err(BuildError::UnsafeLink {
            link: from.to_path_buf(),
            target,
            why: "would lead outside the rock once installed",
        });
    }
    if fs::symlink_metadata(to).is_ok() {
        fs::remove_file(to).map_err(|e| BuildError::io("replace", to, e))?;
    }
    std::os::unix::fs::symlink(&target, to).map_err(|e| BuildError::io("create link", to, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: Option<&str>, path: &str) -> InstallEntry {
        InstallEntry {
            name: name.map(str::to_string),
            path: path.to_string(),
        }
    }

    fn dest(kind: &str, name: Option<&str>, path: &str) -> Result<PathBuf, BuildError> {
        install_destination(kind, &entry(name, path), "f")
    }

    #[test]
    fn module_names_map_to_directories() {
        assert_eq!(module_dir("a.b.c"), Some(PathBuf::from("a/b")));
        assert_eq!(module_dir("a"), Some(PathBuf::new()));
        for bad in ["", "a..b", ".a", "a.", "../x", "a/b", "a\\b"] {
            assert_eq!(module_dir(bad), None, "{bad}");
        }
        assert_eq!(module_basename("a.b.c"), "c");
    }

    #[test]
    fn install_destinations_follow_luarocks() {
        let ok = |kind, name, path| dest(kind, name, path).expect("valid");
        assert_eq!(
            ok("lua", Some("a.b"), "src/x.lua"),
            PathBuf::from("lua/a/b.lua")
        );
        assert_eq!(
            ok("lua", Some("a.b"), "src/x.txt"),
            PathBuf::from("lua/a/x.txt")
        );
        assert_eq!(ok("lua", None, "src/x.lua"), PathBuf::from("lua/x.lua"));
        assert_eq!(
            ok("lib", Some("a.core"), "build/core.so"),
            PathBuf::from("lib/a/core.so")
        );
        assert_eq!(
            ok("bin", Some("tool"), "scripts/tool.lua"),
            PathBuf::from("bin/tool")
        );
        assert_eq!(
            ok("bin", None, "scripts/tool.lua"),
            PathBuf::from("bin/tool.lua")
        );
        assert_eq!(
            ok("conf", Some("x/y.conf"), "a.conf"),
            PathBuf::from("conf/x/y.conf")
        );
    }

    #[test]
    fn install_keys_cannot_escape_the_rock() {
        for (kind, key) in [
            ("conf", "../../etc/x"),
            ("bin", "/usr/bin/x"),
            ("lua", "a/../../b"),
        ] {
            let err = dest(kind, Some(key), "f.lua").expect_err(key);
            assert!(matches!(err, BuildError::UnsafePath { .. }), "{err}");
        }
        assert!(dest("bin", None, "..").is_err());
    }

    #[test]
    fn default_docs_are_readme_license_and_markdown() {
        for yes in [
            "README",
            "readme.txt",
            "LICENSE",
            "COPYING",
            "CHANGES.md",
            "x.mdown",
        ] {
            assert!(is_default_doc(yes), "{yes}");
        }
        for no in ["Makefile", "src", "x.lua"] {
            assert!(!is_default_doc(no), "{no}");
        }
    }

    #[test]
    fn copy_directories_defaults_to_doc_then_readme() {
        let src = tempfile::tempdir().expect("tempdir");
        fs::write(src.path().join("README.md"), "hi").expect("write");
        let out = tempfile::tempdir().expect("tempdir");
        copy_directories(None, src.path(), out.path()).expect("copy");
        assert!(out.path().join("doc/README.md").is_file());

        // `docs/` is not a default, as in LuaRocks: the README still goes to `doc/`.
        fs::create_dir_all(src.path().join("docs/api")).expect("mkdir");
        fs::write(src.path().join("docs/api/index.html"), "x").expect("write");
        let out2 = tempfile::tempdir().expect("tempdir");
        copy_directories(None, src.path(), out2.path()).expect("copy");
        assert!(!out2.path().join("docs").exists());
        assert!(out2.path().join("doc/README.md").is_file());

        fs::create_dir_all(src.path().join("doc")).expect("mkdir");
        fs::write(src.path().join("doc/manual.txt"), "x").expect("write");
        let out3 = tempfile::tempdir().expect("tempdir");
        copy_directories(None, src.path(), out3.path()).expect("copy");
        assert!(out3.path().join("doc/manual.txt").is_file());
        assert!(
            !out3.path().join("doc/README.md").exists(),
            "doc/ was copied, so no default docs"
        );

        // An explicit empty list copies no directory, but the default docs all the same.
        let out4 = tempfile::tempdir().expect("tempdir");
        copy_directories(Some(&[]), src.path(), out4.path()).expect("copy");
        assert!(!out4.path().join("doc/manual.txt").exists());
        assert!(out4.path().join("doc/README.md").is_file());
    }

    #[test]
    fn explicit_missing_directory_is_an_error() {
        let src = tempfile::tempdir().expect("tempdir");
        let out = tempfile::tempdir().expect("tempdir");
        let err = copy_directories(Some(&["samples".to_string()]), src.path(), out.path())
            .expect_err("missing");
        assert!(err.to_string().contains("`samples` not found"), "{err}");
        let err = copy_directories(Some(&["../x".to_string()]), src.path(), out.path())
            .expect_err("unsafe");
        assert!(matches!(err, BuildError::UnsafePath { .. }));
    }
}
