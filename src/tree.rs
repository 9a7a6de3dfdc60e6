//! LuaRocks-compatible rocks trees (the layout of the environment's Lua): writing a rock prefix's `rock_manifest`,
//! materializing a whole tree from rock prefixes (hard links into the store, `bin/` wrappers,
//! the tree `manifest`), switching a live tree atomically through a symlink, hashing a rock's
//! installed files, and the `LUA_PATH`/`LUA_CPATH`/`PATH` values that put a tree in use.
//!
//! Layout (what Debian's `luarocks --lua-version 5.4 --tree T` reads; `V` is the Lua ABI version,
//! 5.1 for LuaJIT): `share/lua/V` (Lua modules), `lib/lua/V` (C modules), `bin` (commands),
//! `lib/luarocks/rocks-V/<name>/<version>/` (the rock prefix without the `lua/` and `lib/`
//! files deployed from it, as LuaRocks leaves it) and `lib/luarocks/rocks-V/manifest`.

pub mod files;
pub mod links;
pub mod manifest;
pub mod persist;
pub mod rockfiles;
pub mod wrapper;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

pub use self::files::FsError;
use self::files::{Entry, EntryKind, Placed, ctx};
pub use self::manifest::{RockContents, path_to_module};
pub use self::wrapper::{LuaPaths, Shell};
use crate::luaversion::LuaVersion;
use crate::version::{Dependency, Version};

/// The name of a rock's manifest file inside its prefix.
pub const ROCK_MANIFEST: &str = "rock_manifest";

/// Where a tree's directory for installed rocks is, relative to the tree root.
pub fn rocks_subdir(lua: LuaVersion) -> String {
    format!("lib/luarocks/rocks-{}", lua.abi())
}

/// `share/lua/5.4`: where Lua modules are deployed, relative to the tree root.
pub fn lua_subdir(lua: LuaVersion) -> String {
    format!("share/lua/{}", lua.abi())
}

/// `lib/lua/5.4`: where C modules are deployed, relative to the tree root.
pub fn lib_subdir(lua: LuaVersion) -> String {
    format!("lib/lua/{}", lua.abi())
}

/// `<tree>/share/lua/5.4`: deployed Lua modules.
pub fn lua_dir(tree: &Path, lua: LuaVersion) -> PathBuf {
    tree.join(lua_subdir(lua))
}

/// `<tree>/lib/lua/5.4`: deployed C modules.
pub fn lib_dir(tree: &Path, lua: LuaVersion) -> PathBuf {
    tree.join(lib_subdir(lua))
}

/// `<tree>/bin`: commands.
pub fn bin_dir(tree: &Path) -> PathBuf {
    tree.join("bin")
}

/// `<tree>/lib/luarocks/rocks-5.4`.
pub fn rocks_dir(tree: &Path, lua: LuaVersion) -> PathBuf {
    tree.join(rocks_subdir(lua))
}

/// `<tree>/lib/luarocks/rocks-5.4/<name>/<version>`.
pub fn rock_dir(tree: &Path, lua: LuaVersion, name: &str, version: &str) -> PathBuf {
    rocks_dir(tree, lua).join(name).join(version)
}

/// `<tree>/lib/luarocks/rocks-5.4/manifest`.
pub fn manifest_path(tree: &Path, lua: LuaVersion) -> PathBuf {
    rocks_dir(tree, lua).join("manifest")
}

/// Errors building, switching or reading a tree.
#[derive(Debug, Error)]
pub enum TreeError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "rocks {first} and {second} both install {file}; remove one of them from the environment, \
         or pin versions that do not overlap"
    )]
    Conflict {
        file: String,
        first: String,
        second: String,
    },
    #[error("rock {name} {version} is listed twice; list each rock version once")]
    DuplicateRock { name: String, version: String },
    #[error(
        "invalid rock {what} '{value}': it must be non-empty and contain no '/', and not be '.' or '..'"
    )]
    BadRockName { what: &'static str, value: String },
    #[error(
        "{}: no {ROCK_MANIFEST} in the rock prefix of {rock}; the prefix is incomplete, rebuild the rock \
         (its {ROCK_MANIFEST} is written after the build)", prefix.display()
    )]
    MissingRockManifest { rock: String, prefix: PathBuf },
    #[error(
        "{}: the rockspec file {file} is missing from the rock prefix; copy the rockspec into the \
         prefix before writing its manifest", prefix.display()
    )]
    MissingRockspec { file: String, prefix: PathBuf },
    #[error("{}: a new tree must be built in an empty directory; remove it or pick another", path.display())]
    TargetNotEmpty { path: PathBuf },
    #[error(
        "{}: the live tree path is not a symlink; lvm manages it as a link to a tree directory, \
         move the existing directory away first", path.display()
    )]
    LiveNotSymlink { path: PathBuf },
    #[error("{}: the path is not valid UTF-8, which Lua search paths need; use a UTF-8 path", path.display())]
    NonUtf8Path { path: PathBuf },
}

/// Writes LuaRocks' `rock_manifest` into `prefix` (md5 of every file, nested by directory),
/// after checking that the rockspec `rockspec_file_name` is in the prefix. Returns its path.
/// Not flushed to disk: a prefix is staged to be copied into the store, which flushes what
/// it keeps.
pub fn write_rock_manifest(prefix: &Path, rockspec_file_name: &str) -> Result<PathBuf, TreeError> {
    if !prefix.join(rockspec_file_name).is_file() {
        return Err(TreeError::MissingRockspec {
            file: rockspec_file_name.to_string(),
            prefix: prefix.to_path_buf(),
        });
    }
    let mut entries = Vec::new();
    for entry in files::list(prefix)? {
        if entry.rel == ROCK_MANIFEST {
            continue;
        }
        let md5 = match entry.kind {
            EntryKind::File { .. } => Some(files::md5_file(&entry.path)?),
            EntryKind::Dir => None,
        };
        entries.push((entry.rel, md5));
    }
    let path = prefix.join(ROCK_MANIFEST);
    if path.exists() {
        fs::remove_file(&path).map_err(ctx("replace", &path))?;
    }
    files::write_file(&path, manifest::rock_manifest(&entries).as_bytes(), 0o644)?;
    Ok(path)
}

/// One rock to put into a tree.
#[derive(Debug, Clone)]
pub struct TreeRock {
    pub name: String,
    pub version: Version,
    /// The built rock prefix (usually a store path).
    pub prefix: PathBuf,
    /// The rockspec's `dependencies`, recorded in the tree manifest.
    pub dependencies: Vec<Dependency>,
}

impl TreeRock {
    fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// What [`materialize`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeReport {
    pub rocks: usize,
    /// Files hard-linked from the rock prefixes.
    pub linked: usize,
    /// Files copied because linking was impossible (another file system).
    pub copied: usize,
    /// Commands installed as wrappers around Lua scripts.
    pub wrappers: Vec<String>,
    /// Tree-relative paths of the deployed modules and commands.
    pub deployed: Vec<String>,
}

/// How one deployed file is produced.
#[derive(Debug, Clone)]
enum Deploy {
    /// A link (or copy) of the rock prefix file at this path.
    Link(PathBuf),
    /// A wrapper running the script kept in the rock dir (tree-relative path).
    Wrapper { command: String, script: String },
}

struct PlannedRock<'a> {
    rock: &'a TreeRock,
    entries: Vec<Entry>,
}

/// Builds a new tree in `target` (absent or empty) from `rocks`: each prefix is linked into
/// `lib/luarocks/rocks-5.4/<name>/<version>/` but for `lua/**` and `lib/**`, which are deployed to
/// `share/lua/5.4` and `lib/lua/5.4`, `bin/*` Lua scripts get wrappers (other executables are
/// linked), and the tree manifest is written. Two rocks deploying the same file is an error
/// that names both, detected before anything is written.
///
/// Nothing is flushed to disk file by file: a new tree is not live yet, so one [`sync_tree`]
/// before it is used (or marked finished) makes it durable at a fraction of the cost of an
/// fsync per file and directory.
pub fn materialize(
    target: &Path,
    lua: LuaVersion,
    rocks: &[TreeRock],
) -> Result<TreeReport, TreeError> {
    let mut sorted: Vec<&TreeRock> = rocks.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    for (i, rock) in sorted.iter().enumerate() {
        check_component("name", &rock.name)?;
        check_component("version", rock.version.as_str())?;
        if i > 0
            && sorted[i - 1].name == rock.name
            && sorted[i - 1].version.as_str() == rock.version.as_str()
        {
            return Err(TreeError::DuplicateRock {
                name: rock.name.clone(),
                version: rock.version.to_string(),
            });
        }
    }
    // Listing each prefix is a few reads of folders: done side by side too.
    let planned = crate::parallel::map(&sorted, |rock| plan_rock(rock))?;
    let deploys = plan_deploys(lua, &planned)?;

    prepare_target(target)?;
    let written = write_tree(target, lua, &planned, &deploys);
    if written.is_err() {
        // The directory was fresh and is useless half-made; leave nothing behind.
        let _ = files::remove_tree(target);
    }
    written
}

fn write_tree(
    target: &Path,
    lua: LuaVersion,
    planned: &[PlannedRock<'_>],
    deploys: &BTreeMap<String, (&TreeRock, Deploy)>,
) -> Result<TreeReport, TreeError> {
    let mut report = TreeReport {
        rocks: planned.len(),
        ..TreeReport::default()
    };
    // A tree is hundreds of independent links and folders, mostly in folders of their own:
    // the file system makes them side by side (see `parallel::map`). What each file became (a
    // link or a copy) comes back in the order of the rocks and files; the rest of the report
    // is the plan's, so neither the tree nor its report depends on the threads.
    let rock_dirs = crate::parallel::map(planned, |p| {
        let dir = rock_dir(target, lua, &p.rock.name, p.rock.version.as_str());
        fs::create_dir_all(&dir).map_err(ctx("create", &dir))?;
        let mut placed = Vec::new();
        for entry in p.entries.iter().filter(|e| stays_in_rock_dir(e)) {
            let dst = dir.join(&entry.rel);
            match entry.kind {
                EntryKind::Dir => fs::create_dir_all(&dst).map_err(ctx("create", &dst))?,
                EntryKind::File { .. } => placed.push(files::link_or_copy(&entry.path, &dst)?),
            }
        }
        Ok::<_, TreeError>(placed)
    })?;
    rock_dirs.iter().flatten().for_each(|p| report.count(*p));
    // Most deployed files share a few folders (`share/lua/5.4`, `bin`): each is made once,
    // before the files, not tried again per file (a failing mkdir and a stat each).
    let mut made: std::collections::HashSet<&Path> = std::collections::HashSet::new();
    let deploys: Vec<(PathBuf, &String, &(&TreeRock, Deploy))> = deploys
        .iter()
        .map(|(rel, deploy)| (target.join(rel), rel, deploy))
        .collect();
    for (dst, _, _) in &deploys {
        if let Some(parent) = dst.parent().filter(|p| !made.contains(*p)) {
            fs::create_dir_all(parent).map_err(ctx("create", parent))?;
            made.insert(parent);
        }
    }
    let deployed = crate::parallel::map(&deploys, |(dst, _, (rock, deploy))| match deploy {
        Deploy::Link(src) => Ok::<_, TreeError>(Some(files::link_or_copy(src, dst)?)),
        Deploy::Wrapper { command, script } => {
            let text =
                wrapper::bin_wrapper(lua, command, &rock.name, rock.version.as_str(), script);
            files::write_file(dst, text.as_bytes(), 0o755)?;
            Ok(None)
        }
    })?;
    deployed.iter().flatten().for_each(|p| report.count(*p));
    for (_, rel, (_, deploy)) in &deploys {
        if let Deploy::Wrapper { command, .. } = deploy {
            report.wrappers.push(command.clone());
        }
        report.deployed.push((*rel).clone());
    }
    let manifest_file = manifest_path(target, lua);
    fs::create_dir_all(rocks_dir(target, lua)).map_err(ctx("create", &rocks_dir(target, lua)))?;
    files::write_file(
        &manifest_file,
        tree_manifest_text(planned).as_bytes(),
        0o644,
    )?;
    Ok(report)
}

impl TreeReport {
    /// Counts a file of the tree as linked or copied.
    fn count(&mut self, placed: Placed) {
        match placed {
            Placed::Linked => self.linked += 1,
            Placed::Copied => self.copied += 1,
        }
    }
}

/// The tree manifest of the planned rocks.
fn tree_manifest_text(planned: &[PlannedRock<'_>]) -> String {
    let contents: Vec<RockContents> = planned
        .iter()
        .map(|p| RockContents {
            name: p.rock.name.clone(),
            version: p.rock.version.clone(),
            dependencies: p.rock.dependencies.clone(),
            files: p
                .entries
                .iter()
                .filter(|e| e.is_file())
                .map(|e| e.rel.clone())
                .collect(),
        })
        .collect();
    manifest::tree_manifest(&contents)
}

/// What one file of a tree [`materialize`] would make is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedFile {
    /// A link to (or copy of) this rock prefix file.
    Stored(PathBuf),
    /// A file lvm writes (a command wrapper, the tree manifest) with this content.
    Written(Vec<u8>),
}

/// Every file (tree-relative path) that [`materialize`] would make from `rocks` for Lua `lua`,
/// without writing anything: how `lvm verify` checks a live tree on a read-only disk.
pub fn expected_files(
    lua: LuaVersion,
    rocks: &[TreeRock],
) -> Result<BTreeMap<String, ExpectedFile>, TreeError> {
    let mut sorted: Vec<&TreeRock> = rocks.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
    let planned = sorted
        .into_iter()
        .map(plan_rock)
        .collect::<Result<Vec<_>, _>>()?;
    let deploys = plan_deploys(lua, &planned)?;
    let mut out = BTreeMap::new();
    for p in &planned {
        let rock_rel = format!("{}/{}/{}", rocks_subdir(lua), p.rock.name, p.rock.version);
        for entry in p
            .entries
            .iter()
            .filter(|e| e.is_file() && stays_in_rock_dir(e))
        {
            out.insert(
                format!("{rock_rel}/{}", entry.rel),
                ExpectedFile::Stored(entry.path.clone()),
            );
        }
    }
    for (rel, (rock, deploy)) in deploys {
        let file = match deploy {
            Deploy::Link(src) => ExpectedFile::Stored(src),
            Deploy::Wrapper { command, script } => ExpectedFile::Written(
                wrapper::bin_wrapper(lua, &command, &rock.name, rock.version.as_str(), &script)
                    .into_bytes(),
            ),
        };
        out.insert(rel, file);
    }
    out.insert(
        format!("{}/manifest", rocks_subdir(lua)),
        ExpectedFile::Written(tree_manifest_text(&planned).into_bytes()),
    );
    Ok(out)
}

/// Whether a rock prefix file leaves the tree's rock dir when the rock is deployed. LuaRocks
/// moves a rock's `lua/` and `lib/` files out to `share/lua/V` and `lib/lua/V`, so a tree holds
/// each module once; everything else stays (`rock_manifest`, the rockspec, `doc/`, and the
/// `bin/` scripts the command wrappers run).
pub fn moved_out_of_rock_dir(prefix_rel: &str) -> bool {
    prefix_rel.starts_with("lua/") || prefix_rel.starts_with("lib/")
}

/// Whether a rock prefix entry (a file, or a folder made in the rock dir) stays there.
fn stays_in_rock_dir(entry: &Entry) -> bool {
    let emptied_folder = !entry.is_file() && matches!(entry.rel.as_str(), "lua" | "lib");
    !moved_out_of_rock_dir(&entry.rel) && !emptied_folder
}

fn check_component(what: &'static str, value: &str) -> Result<(), TreeError> {
    if value.is_empty()
        || value == "."
        || value == ".."
        || value.contains('/')
        || value.contains('\0')
    {
        return Err(TreeError::BadRockName {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

fn plan_rock(rock: &TreeRock) -> Result<PlannedRock<'_>, TreeError> {
    let entries = files::list(&rock.prefix)?;
    let has = |rel: &str| entries.iter().any(|e| e.rel == rel && e.is_file());
    if !has(ROCK_MANIFEST) {
        return Err(TreeError::MissingRockManifest {
            rock: rock.label(),
            prefix: rock.prefix.clone(),
        });
    }
    let rockspec = format!("{}-{}.rockspec", rock.name, rock.version);
    if !has(&rockspec) {
        return Err(TreeError::MissingRockspec {
            file: rockspec,
            prefix: rock.prefix.clone(),
        });
    }
    Ok(PlannedRock { rock, entries })
}

/// Every deployed file (tree-relative path) with the rock that provides it and how it is made.
fn plan_deploys<'a>(
    lua: LuaVersion,
    planned: &[PlannedRock<'a>],
) -> Result<BTreeMap<String, (&'a TreeRock, Deploy)>, TreeError> {
    let lua_dest = lua_subdir(lua);
    let lib_dest = lib_subdir(lua);
    let mut out: BTreeMap<String, (&'a TreeRock, Deploy)> = BTreeMap::new();
    for p in planned {
        let rock_rel = format!("{}/{}/{}", rocks_subdir(lua), p.rock.name, p.rock.version);
        for entry in p.entries.iter().filter(|e| e.is_file()) {
            let Some((top, rest)) = entry.rel.split_once('/') else {
                continue;
            };
            let (dest, deploy) = match top {
                "lua" => (
                    format!("{lua_dest}/{rest}"),
                    Deploy::Link(entry.path.clone()),
                ),
                "lib" => (
                    format!("{lib_dest}/{rest}"),
                    Deploy::Link(entry.path.clone()),
                ),
                "bin" if is_lua_script(&entry.path)? => (
                    format!("bin/{rest}"),
                    Deploy::Wrapper {
                        command: rest.to_string(),
                        script: format!("{rock_rel}/{}", entry.rel),
                    },
                ),
                "bin" => (format!("bin/{rest}"), Deploy::Link(entry.path.clone())),
                _ => continue,
            };
            if let Some((other, _)) = out.get(&dest) {
                return Err(conflict(&dest, other, p.rock));
            }
            out.insert(dest, (p.rock, deploy));
        }
    }
    // A file where another rock needs a directory (`a.lua`-less module `a` vs `a/b.lua`).
    for path in out.keys() {
        let mut ancestor = path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if let Some((owner, _)) = out.get(parent) {
                let (user, _) = &out[path];
                return Err(conflict(parent, owner, user));
            }
            ancestor = parent;
        }
    }
    Ok(out)
}

fn conflict(file: &str, first: &TreeRock, second: &TreeRock) -> TreeError {
    TreeError::Conflict {
        file: file.to_string(),
        first: first.label(),
        second: second.label(),
    }
}

/// LuaRocks' `fs.is_lua`: a file is a Lua script when Lua can compile it (a first line starting
/// with `#` is skipped, as `loadfile` does). Unlike LuaRocks, a `#!` line naming another
/// interpreter settles it: `echo "hi"` compiles as Lua, but a `#!/bin/sh` script is not one.
fn is_lua_script(path: &Path) -> Result<bool, TreeError> {
    let bytes = fs::read(path).map_err(ctx("read", path))?;
    if bytes.contains(&0) {
        return Ok(false);
    }
    if bytes.starts_with(b"#!") {
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        if !String::from_utf8_lossy(first_line).contains("lua") {
            return Ok(false);
        }
    }
    let body: &[u8] = if bytes.first() == Some(&b'#') {
        // Keep the newline so line numbers in errors stay right.
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        &bytes[end..]
    } else {
        &bytes
    };
    let lua = mlua::Lua::new_with(mlua::StdLib::NONE, mlua::LuaOptions::default())
        .map_err(|e| ctx("start Lua to inspect", path)(io::Error::other(e.to_string())))?;
    Ok(lua
        .load(body)
        .set_mode(mlua::chunk::ChunkMode::Text)
        .into_function()
        .is_ok())
}

fn prepare_target(target: &Path) -> Result<(), TreeError> {
    match fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(TreeError::TargetNotEmpty {
                    path: target.to_path_buf(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(target).map_err(ctx("create", target))?;
            Ok(())
        }
        Err(e) => Err(ctx("read", target)(e).into()),
    }
}

/// Makes a tree [`materialize`] wrote durable: one `syncfs(2)` of its file system rather than
/// an fsync of each of its hundreds of files and directories.
pub fn sync_tree(tree: &Path) -> Result<(), TreeError> {
    crate::fsutil::sync_filesystem(tree)
        .map_err(ctx("flush the file system of", tree))
        .map_err(TreeError::from)
}

/// Creates a fresh, empty directory for a new tree beside `live`, in `<parent>/.trees/`.
pub fn new_tree_dir(live: &Path) -> Result<PathBuf, TreeError> {
    let trees = trees_dir(live);
    fs::create_dir_all(&trees).map_err(ctx("create", &trees))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{stamp}-"))
        .tempdir_in(&trees)
        .map_err(ctx("create a tree directory in", &trees))?;
    Ok(dir.keep())
}

fn live_parent(live: &Path) -> PathBuf {
    match live.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn trees_dir(live: &Path) -> PathBuf {
    live_parent(live).join(crate::layout::TREES_DIR)
}

/// The tree directory `live` points to, or `None` when `live` does not exist.
pub fn current(live: &Path) -> Result<Option<PathBuf>, TreeError> {
    match fs::symlink_metadata(live) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ctx("read", live)(e).into()),
        Ok(meta) if !meta.file_type().is_symlink() => {
            return Err(TreeError::LiveNotSymlink {
                path: live.to_path_buf(),
            });
        }
        Ok(_) => {}
    }
    let target = fs::read_link(live).map_err(ctx("read link", live))?;
    Ok(Some(if target.is_absolute() {
        target
    } else {
        live_parent(live).join(target)
    }))
}

/// What [`switch_into_place`] or [`switch_link`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchReport {
    /// The tree directory `live` now points to.
    pub current: PathBuf,
    /// The tree it pointed to before ([`switch_into_place`] removes it, [`switch_link`] keeps
    /// it).
    pub previous: Option<PathBuf>,
}

/// Makes `live` point to `new_tree` atomically (see [`switch_link`]), then removes the previous
/// tree directory, which nothing points to any more.
pub fn switch_into_place(new_tree: &Path, live: &Path) -> Result<SwitchReport, TreeError> {
    let report = switch_link(new_tree, live)?;
    if let Some(prev) = &report.previous {
        let trees_canon = fs::canonicalize(trees_dir(live)).map_err(ctx("resolve", live))?;
        let current = fs::canonicalize(&report.current).ok();
        let prev_canon = fs::canonicalize(prev).ok();
        let is_old_tree = prev_canon.as_deref().is_some_and(|p| {
            Some(p) != current.as_deref() && p.parent() == Some(trees_canon.as_path())
        });
        if is_old_tree {
            files::remove_tree(prev)?;
        }
    }
    Ok(report)
}

/// Makes `live` point to `new_tree` atomically: a new symlink is made beside `live` and renamed
/// over it, so a reader sees the old tree or the new one, never a mix. `new_tree` is moved into
/// `<parent>/.trees/` first if it is elsewhere (same file system). The previous tree directory
/// stays where it is, for the caller to keep (a later switch back to it costs one rename) or
/// remove.
pub fn switch_link(new_tree: &Path, live: &Path) -> Result<SwitchReport, TreeError> {
    let parent = live_parent(live);
    let trees = trees_dir(live);
    fs::create_dir_all(&trees).map_err(ctx("create", &trees))?;
    let previous = current(live)?;

    let trees_canon = fs::canonicalize(&trees).map_err(ctx("resolve", &trees))?;
    let new_canon = fs::canonicalize(new_tree).map_err(ctx("resolve", new_tree))?;
    let placed = if new_canon.parent() == Some(trees_canon.as_path()) {
        new_canon
    } else {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%f").to_string();
        let dest = trees_canon.join(format!("{stamp}-{}", std::process::id()));
        fs::rename(&new_canon, &dest).map_err(ctx("move the new tree into", &trees))?;
        dest
    };
    let name = placed
        .file_name()
        .ok_or_else(|| ctx("name", &placed)(io::Error::other("tree directory has no name")))?;
    let link_target = Path::new(crate::layout::TREES_DIR).join(name);

    let live_name = live
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "live".into());
    let mut attempt = 0u32;
    let tmp_link = loop {
        let candidate = parent.join(format!(
            ".{live_name}.switch-{}-{attempt}",
            std::process::id()
        ));
        match std::os::unix::fs::symlink(&link_target, &candidate) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => attempt += 1,
            Err(e) => return Err(ctx("create symlink", &candidate)(e).into()),
        }
    };
    if let Err(e) = fs::rename(&tmp_link, live) {
        let _ = fs::remove_file(&tmp_link);
        return Err(ctx("switch", live)(e).into());
    }
    files::sync_dir(&parent)?;
    Ok(SwitchReport {
        current: trees.join(name),
        previous,
    })
}

/// The files a `rock_manifest` lists, as (prefix-relative path, md5), and what is wrong with
/// it: unreadable, no table, an entry outside the rock or not an md5.
#[derive(Debug, Default)]
pub struct RockManifestListing {
    pub files: Vec<(String, String)>,
    pub problems: Vec<String>,
}

/// Reads the `rock_manifest` of `prefix` (a rock prefix or a tree's rock dir) in the sandbox:
/// LuaRocks writes it as Lua, and a rock's own copy is as hostile as the rest of the rock.
pub fn read_rock_manifest(prefix: &Path) -> RockManifestListing {
    use crate::sandbox::{Data, Limits, Sandbox};
    let unreadable = |problem: String| RockManifestListing {
        files: vec![],
        problems: vec![problem],
    };
    let path = prefix.join(ROCK_MANIFEST);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return unreadable(format!("{ROCK_MANIFEST} unreadable: {e}")),
    };
    let parsed = Sandbox::new(Limits::ROCKSPEC).and_then(|sandbox| {
        let globals = sandbox.eval_globals(&text, ROCK_MANIFEST)?;
        let value = globals
            .get::<mlua::Value>(ROCK_MANIFEST)
            .unwrap_or(mlua::Value::Nil);
        sandbox.to_data(value, ROCK_MANIFEST, ROCK_MANIFEST)
    });
    let table = match parsed {
        Ok(Some(Data::Table(table))) => table,
        Ok(_) => return unreadable(format!("{ROCK_MANIFEST} has no rock_manifest table")),
        Err(e) => return unreadable(format!("{ROCK_MANIFEST} unreadable: {e}")),
    };
    let mut listing = RockManifestListing::default();
    let mut pending = vec![(String::new(), table)];
    while let Some((dir, table)) = pending.pop() {
        for (name, value) in table.fields {
            let rel = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            if !links::is_contained(&rel) {
                listing
                    .problems
                    .push(format!("{rel}: not a path inside the rock"));
                continue;
            }
            match value {
                Data::Table(sub) => pending.push((rel, sub)),
                Data::String(md5) => listing.files.push((rel, md5)),
                other => listing
                    .problems
                    .push(format!("{rel}: a {} instead of an md5", other.type_name())),
            }
        }
    }
    listing.files.sort();
    listing
}

/// What is wrong with a rock prefix against its own `rock_manifest` (a downloaded binary rock
/// must be whole before it is stored): the manifest unreadable, a listed file missing or with
/// another md5. Empty when everything matches.
pub fn check_rock_manifest(prefix: &Path) -> Result<Vec<String>, TreeError> {
    let RockManifestListing {
        files: listed,
        mut problems,
    } = read_rock_manifest(prefix);
    for (rel, md5) in listed {
        let file = prefix.join(&rel);
        let is_file = fs::symlink_metadata(&file).is_ok_and(|m| m.is_file());
        if !is_file {
            problems.push(format!("{rel} is missing"));
        } else if files::md5_file(&file)? != md5 {
            problems.push(format!("{rel} has another md5"));
        }
    }
    problems.sort();
    Ok(problems)
}

/// A stable hash (sha256 hex) of a rock's installed files: over the sorted relative paths,
/// executable bits and contents of every file under `prefix`.
pub fn hash_tree_files(prefix: &Path) -> Result<String, TreeError> {
    let mut digest = FilesDigest::default();
    for entry in files::list(prefix)? {
        let EntryKind::File { executable, .. } = entry.kind else {
            continue;
        };
        let (content_hash, size) = files::sha256_file(&entry.path)?;
        digest.add(&entry.rel, executable, size, &content_hash);
    }
    Ok(digest.finish())
}

/// [`hash_tree_files`] fed one file at a time, in the order [`files::list`] gives them, for a
/// walk that reads the files for another reason too (the store's check of an entry).
#[derive(Default)]
pub struct FilesDigest(Sha256);

impl FilesDigest {
    pub fn add(&mut self, rel: &str, executable: bool, size: u64, content_sha256: &str) {
        self.0.update((rel.len() as u64).to_le_bytes());
        self.0.update(rel.as_bytes());
        self.0.update([u8::from(executable)]);
        self.0.update(size.to_le_bytes());
        self.0.update(content_sha256.as_bytes());
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

fn utf8(path: &Path) -> Result<&str, TreeError> {
    path.to_str().ok_or_else(|| TreeError::NonUtf8Path {
        path: path.to_path_buf(),
    })
}

/// `LUA_PATH`, `LUA_CPATH` and the `PATH` entry for the tree at `tree_root`.
pub fn lua_path_strings(tree_root: &Path, lua: LuaVersion) -> Result<LuaPaths, TreeError> {
    Ok(wrapper::lua_paths(utf8(tree_root)?, lua))
}

/// Shell commands that put the tree at `tree_root` in use, like `luarocks path` prints.
pub fn path_script(tree_root: &Path, lua: LuaVersion, shell: Shell) -> Result<String, TreeError> {
    Ok(wrapper::path_script(
        &lua_path_strings(tree_root, lua)?,
        shell,
    ))
}

/// Like [`path_script`], with the tree after the existing paths (`luarocks path --append`).
pub fn append_path_script(
    tree_root: &Path,
    lua: LuaVersion,
    shell: Shell,
) -> Result<String, TreeError> {
    Ok(wrapper::append_path_script(
        &lua_path_strings(tree_root, lua)?,
        shell,
    ))
}

/// Names of the rocks and versions found in a tree's rocks directory (for checks and listings).
pub fn installed_rocks(
    tree: &Path,
    lua: LuaVersion,
) -> Result<BTreeSet<(String, String)>, TreeError> {
    let dir = rocks_dir(tree, lua);
    let mut out = BTreeSet::new();
    let names = match fs::read_dir(&dir) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(ctx("read", &dir)(e).into()),
    };
    for name in names {
        let name = name.map_err(ctx("read", &dir))?;
        if !name.path().is_dir() {
            continue;
        }
        let versions = fs::read_dir(name.path()).map_err(ctx("read", &name.path()))?;
        for version in versions {
            let version = version.map_err(ctx("read", &name.path()))?;
            if version.path().join(ROCK_MANIFEST).is_file() {
                out.insert((
                    name.file_name().to_string_lossy().into_owned(),
                    version.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    Ok(out)
}
