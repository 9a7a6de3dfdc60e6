//! Publishing rocks to a rocks server folder: packing `.src.rock` archives and writing the
//! server's manifest files, as `luarocks pack` and `luarocks-admin make-manifest` do.
//!
//! Packing is deterministic (sorted entries, fixed timestamps and modes), so a published folder
//! can be regenerated and compared byte for byte.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ops::{Error, Result, fs_error};
use crate::registry::ServerManifest;
use crate::rockspec::Rockspec;
use crate::tree::persist::{Key, Table, Value, save_from_table};
use crate::version::Version;

/// The Lua versions a server folder gets a `manifest-<version>` for, each listing only the
/// rocks whose `lua` dependency accepts that version (LuaRocks' `luarocks-admin make-manifest`
/// writes 5.1 to 5.4; 5.5 is added for lvm's 5.5 environments).
pub const MANIFEST_LUA_VERSIONS: [&str; 5] = ["5.1", "5.2", "5.3", "5.4", "5.5"];

/// The server files lvm writes: `manifest` (every rock) and one per Lua version.
pub const MANIFEST_FILES: &[&str] = &[
    "manifest",
    "manifest-5.1",
    "manifest-5.2",
    "manifest-5.3",
    "manifest-5.4",
    "manifest-5.5",
];

/// Splits `name-1.0-1.rockspec`, `name-1.0-1.src.rock`, `name-1.0-1.linux-x86_64.rock` into
/// name, version and arch. Pure.
pub fn split_rock_file_name(file: &str) -> Option<(String, Version, String)> {
    let (stem, arch) = if let Some(stem) = file.strip_suffix(".rockspec") {
        (stem, "rockspec".to_string())
    } else {
        let stem = file.strip_suffix(".rock")?;
        let dot = stem.rfind('.')?;
        (&stem[..dot], stem[dot + 1..].to_string())
    };
    // The version is the last two dash-separated parts: `1.0-1`.
    let revision_dash = stem.rfind('-')?;
    let version_dash = stem[..revision_dash].rfind('-')?;
    let name = &stem[..version_dash];
    let version = Version::parse(&stem[version_dash + 1..]).ok()?;
    if name.is_empty() || version.revision().is_none() {
        return None;
    }
    Some((name.to_string(), version, arch))
}

/// Scans a folder for rockspecs and rocks.
pub fn scan_server_dir(dir: &Path) -> Result<ServerManifest> {
    let mut manifest = ServerManifest::default();
    let entries = std::fs::read_dir(dir).map_err(fs_error("read the server folder", dir))?;
    for entry in entries {
        let entry = entry.map_err(fs_error("read the server folder", dir))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some((name, version, arch)) = split_rock_file_name(&file) {
            let arches = manifest
                .packages
                .entry(name)
                .or_default()
                .entry(version)
                .or_default();
            arches.push(arch);
            arches.sort();
        }
    }
    Ok(manifest)
}

/// The Lua text of a server manifest, formatted as LuaRocks writes it.
pub fn server_manifest_lua(manifest: &ServerManifest) -> String {
    let mut repository = Table::new();
    for (name, versions) in &manifest.packages {
        let mut by_version = Table::new();
        for (version, arches) in versions {
            let mut list = Table::new();
            for arch in arches {
                let mut item = Table::new();
                item.set_str("arch", arch.clone());
                list.push(Value::Table(item));
            }
            by_version.set(Key::Name(version.to_string()), Value::Table(list));
        }
        repository.set(Key::Name(name.clone()), Value::Table(by_version));
    }
    let mut top = Table::new();
    top.set_table("commands", Table::new());
    top.set_table("modules", Table::new());
    top.set_table("repository", repository);
    save_from_table(&top)
}

/// Writes the manifest files of a server folder; returns what `manifest` lists.
pub fn make_manifest(dir: &Path) -> Result<ServerManifest> {
    let manifest = scan_server_dir(dir)?;
    write_published(
        &dir.join("manifest"),
        server_manifest_lua(&manifest).as_bytes(),
    )?;
    let lua_dependencies = lua_dependencies(dir, &manifest);
    for lua in MANIFEST_LUA_VERSIONS {
        let version = Version::parse(lua)?;
        let filtered = for_lua(&manifest, &lua_dependencies, &version);
        write_published(
            &dir.join(format!("manifest-{lua}")),
            server_manifest_lua(&filtered).as_bytes(),
        )?;
    }
    Ok(manifest)
}

/// The `lua` dependency of every published rockspec (by name and version), read from the
/// folder. Rockspecs that do not load are left out, so their rocks stay listed, as LuaRocks
/// keeps them (it prints an error and goes on).
fn lua_dependencies(
    dir: &Path,
    manifest: &ServerManifest,
) -> BTreeMap<(String, Version), crate::version::Constraints> {
    let mut found = BTreeMap::new();
    for (name, versions) in &manifest.packages {
        for (version, arches) in versions {
            if !arches.iter().any(|a| a == "rockspec") {
                continue;
            }
            let path = dir.join(crate::server::rockspec_file_name(name, version));
            let Ok(rockspec) = Rockspec::from_file(&path) else {
                continue;
            };
            if let Some(lua) = rockspec.dependencies.iter().find(|d| d.name == "lua") {
                found.insert((name.clone(), version.clone()), lua.constraints.clone());
            }
        }
    }
    found
}

/// `manifest` without the versions whose `lua` dependency excludes `lua`; a package left with
/// no version goes too. Pure.
pub fn for_lua(
    manifest: &ServerManifest,
    lua_dependencies: &BTreeMap<(String, Version), crate::version::Constraints>,
    lua: &Version,
) -> ServerManifest {
    let mut filtered = ServerManifest::default();
    for (name, versions) in &manifest.packages {
        let kept: BTreeMap<Version, Vec<String>> = versions
            .iter()
            .filter(|(version, _)| {
                lua_dependencies
                    .get(&(name.clone(), (*version).clone()))
                    .is_none_or(|constraints| constraints.matches(lua))
            })
            .map(|(v, a)| (v.clone(), a.clone()))
            .collect();
        if !kept.is_empty() {
            filtered.packages.insert(name.clone(), kept);
        }
    }
    filtered
}

/// Packs `<name>-<version>.src.rock` into `out_dir`: the rockspec plus a `.tar.gz` of
/// `source_dir` (under a top-level `<name>-<version>/` folder), named after `source.url`'s last
/// segment as LuaRocks expects when it unpacks a source rock.
pub fn pack_src_rock(rockspec_path: &Path, source_dir: &Path, out_dir: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(rockspec_path).map_err(fs_error("read", rockspec_path))?;
    let rockspec = Rockspec::from_lua(&text, &rockspec_path.display().to_string())?;
    let archive_name = archive_name(&rockspec)?;
    let top = archive_top_dir(&rockspec, &archive_name);
    let pack_error = |source| Error::Pack {
        path: source_dir.to_path_buf(),
        source,
    };
    let entries = source_entries(source_dir, &top).map_err(pack_error)?;
    if entries.is_empty() {
        return Err(Error::NothingToPack {
            dir: source_dir.to_path_buf(),
        });
    }
    // The archive has the kind `source.url` names: LuaRocks picks the unpacker by its name.
    let archive = if archive_name.ends_with(".zip") {
        deterministic_zip(&entries)
    } else {
        tar_gz(&entries)
    }
    .map_err(pack_error)?;
    let rock_name = format!("{}-{}.src.rock", rockspec.package, rockspec.version);
    let rock =
        src_rock_zip(&archive_name, &archive, &rockspec.file_name(), &text).map_err(pack_error)?;
    std::fs::create_dir_all(out_dir).map_err(fs_error("create the output folder", out_dir))?;
    let out = out_dir.join(rock_name);
    write_published(&out, &rock)?;
    Ok(out)
}

/// Packs `<name>-<version>.src.rock` for a rockspec whose `source.url` is a git repository, as
/// `luarocks pack` does: the repository cloned at `source.tag` (else `source.branch`, else its
/// default branch) into `scratch`, its files (without `.git/`) under the folder named after the
/// repository, beside the rockspec.
pub fn pack_git_src_rock(rockspec_path: &Path, out_dir: &Path, scratch: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(rockspec_path).map_err(fs_error("read", rockspec_path))?;
    let rockspec = Rockspec::from_lua(&text, &rockspec_path.display().to_string())?;
    let reference = match (&rockspec.source.tag, &rockspec.source.branch) {
        (Some(r), _) | (None, Some(r)) => crate::fetch::GitRef::Named(r),
        (None, None) => crate::fetch::GitRef::Default,
    };
    let checkout = crate::fetch::git::clone_dir(scratch, &rockspec.source.url);
    crate::fetch::fetch_git(&rockspec.source.url, reference, &checkout)?;
    let folder = crate::fetch::git::repo_dir_name(&rockspec.source.url);
    let mut entries: Vec<(String, Vec<u8>, bool)> = Vec::new();
    for rel in packable_files(&checkout).map_err(|source| Error::Pack {
        path: checkout.clone(),
        source,
    })? {
        let path = checkout.join(&rel);
        let bytes = std::fs::read(&path).map_err(fs_error("read", &path))?;
        entries.push((format!("{folder}/{rel}"), bytes, is_executable(&path)));
    }
    entries.push((rockspec.file_name(), text.into_bytes(), false));
    let rock = deterministic_zip(&entries).map_err(|source| Error::Pack {
        path: checkout.clone(),
        source,
    })?;
    let out = out_dir.join(format!(
        "{}-{}.src.rock",
        rockspec.package, rockspec.version
    ));
    std::fs::create_dir_all(out_dir).map_err(fs_error("create the output folder", out_dir))?;
    write_published(&out, &rock)?;
    Ok(out)
}

/// The arch of a binary rock made of a built prefix: this platform's when it holds compiled
/// files (under `lib/`), else `all`. Pure over the file list.
pub fn binary_rock_arch(files: &[String]) -> String {
    if files.iter().any(|f| f.starts_with("lib/")) {
        crate::platform::rock_arch()
    } else {
        "all".to_string()
    }
}

/// A binary rock made of a built prefix, in memory.
pub struct BinaryRock {
    /// `<name>-<version>.<arch>.rock`.
    pub file: String,
    pub bytes: Vec<u8>,
    /// The sha256 of every file it holds, by `/`-separated path.
    pub files: BTreeMap<String, String>,
}

/// Packs a built rock prefix (a store entry: the rockspec, `rock_manifest`, `lua/`, `lib/`,
/// `bin/`, `doc/`) as the binary rock layout `luarocks install` reads.
pub fn binary_rock(prefix: &Path, name: &str, version: &Version) -> Result<BinaryRock> {
    let pack_error = |source| Error::Pack {
        path: prefix.to_path_buf(),
        source,
    };
    let files = packable_files(prefix).map_err(pack_error)?;
    let mut entries = Vec::with_capacity(files.len());
    let mut hashes = BTreeMap::new();
    for rel in &files {
        let path = prefix.join(rel);
        let bytes = std::fs::read(&path).map_err(fs_error("read", &path))?;
        hashes.insert(rel.clone(), crate::digest::sha256_bytes(&bytes));
        entries.push((rel.clone(), bytes, is_executable(&path)));
    }
    let bytes = deterministic_zip(&entries).map_err(pack_error)?;
    let arch = binary_rock_arch(&files);
    Ok(BinaryRock {
        file: crate::server::rock_file_name(name, version, &arch),
        bytes,
        files: hashes,
    })
}

/// [`binary_rock`] written into `out_dir` as `<name>-<version>.<arch>.rock`.
pub fn pack_binary_rock(
    prefix: &Path,
    name: &str,
    version: &Version,
    out_dir: &Path,
) -> Result<PathBuf> {
    let rock = binary_rock(prefix, name, version)?;
    std::fs::create_dir_all(out_dir).map_err(fs_error("create the output folder", out_dir))?;
    let out = out_dir.join(&rock.file);
    write_published(&out, &rock.bytes)?;
    Ok(out)
}

/// `lvm pack --binary NAME`: the installed package's build (its store entry) packed as a
/// binary rock into `out_dir`.
pub fn pack_installed(
    env: &crate::env::Environment,
    name: &str,
    out_dir: &Path,
) -> Result<PathBuf> {
    let name = name.to_ascii_lowercase();
    let manifest = env.manifest()?;
    let package = manifest
        .packages
        .get(&name)
        .ok_or_else(|| Error::NotInstalled { name: name.clone() })?;
    let key = crate::store::StoreKey::parse(&package.store_key).map_err(|source| {
        crate::env::EnvError::BadStoreKey {
            name: name.clone(),
            source,
        }
    })?;
    let stored = env
        .home()
        .store()?
        .get(&key)?
        .ok_or_else(|| Error::NotInStore { name: name.clone() })?;
    pack_binary_rock(&stored.prefix, &name, &package.version, out_dir)
}

/// A zip of `(path, bytes, executable)` entries in the given order, with fixed times and modes.
fn deterministic_zip(entries: &[(String, Vec<u8>, bool)]) -> std::io::Result<Vec<u8>> {
    let mut zip_bytes = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut zip_bytes);
    for (path, bytes, executable) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(if *executable { 0o755 } else { 0o644 });
        zip.start_file(path.as_str(), options)?;
        zip.write_all(bytes)?;
    }
    zip.finish()?;
    Ok(zip_bytes.into_inner())
}

/// The zip of a source rock: the source archive and the rockspec, with fixed times.
fn src_rock_zip(
    archive_name: &str,
    tarball: &[u8],
    rockspec_name: &str,
    rockspec_text: &str,
) -> std::io::Result<Vec<u8>> {
    deterministic_zip(&[
        (archive_name.to_string(), tarball.to_vec(), false),
        (
            rockspec_name.to_string(),
            rockspec_text.as_bytes().to_vec(),
            false,
        ),
    ])
}

/// Writes a server file atomically and makes it world-readable: a server folder is there to be
/// read by others (a web server, other users), while atomic writes start from a private file.
fn write_published(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsutil::write_atomic(path, bytes).map_err(fs_error("write", path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(fs_error("make readable", path))?;
    }
    Ok(())
}

/// The folder the packed archive holds the sources in: where LuaRocks looks for them when it
/// builds the rock, `source.dir` when the rockspec gives one, else the archive's name without
/// `.tar.gz`/`.tgz` (LuaRocks' `dir.deduce_base_dir`; `foo-1.0.tar.gz` holds `foo-1.0/`). Pure.
pub fn archive_top_dir(rockspec: &Rockspec, archive_name: &str) -> String {
    if let Some(dir) = rockspec
        .source
        .dir
        .as_deref()
        .map(|d| d.trim_matches('/'))
        .filter(|d| !d.is_empty() && !d.split('/').any(|part| part == ".." || part == "."))
    {
        return dir.to_string();
    }
    PACKABLE_ARCHIVES
        .iter()
        .find_map(|suffix| archive_name.strip_suffix(suffix))
        .unwrap_or(archive_name)
        .to_string()
}

/// The source archive kinds `lvm pack` writes, by the end of `source.url`.
const PACKABLE_ARCHIVES: [&str; 3] = [".tar.gz", ".tgz", ".zip"];

fn archive_name(rockspec: &Rockspec) -> Result<String> {
    if let Some(file) = &rockspec.source.file {
        return Ok(file.clone());
    }
    let last = rockspec
        .source
        .url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if !PACKABLE_ARCHIVES
        .iter()
        .any(|suffix| last.ends_with(suffix))
    {
        return Err(Error::NotPackable {
            rockspec: rockspec.file_name(),
            url: rockspec.source.url.clone(),
        });
    }
    Ok(last)
}

/// A `.tar.gz` of `dir` with every entry under `top/`, sorted, with fixed mtime and owner, so the
/// bytes depend only on the files' names, contents and executable bits.
pub fn deterministic_tar_gz(dir: &Path, top: &str) -> Result<Vec<u8>> {
    source_entries(dir, top)
        .and_then(|entries| tar_gz(&entries))
        .map_err(|source| Error::Pack {
            path: dir.to_path_buf(),
            source,
        })
}

/// A `.tar.gz` of `(path, bytes, executable)` entries in the given order, with fixed times,
/// owners and modes.
fn tar_gz(entries: &[(String, Vec<u8>, bool)]) -> std::io::Result<Vec<u8>> {
    let encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, bytes, executable) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(if *executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, bytes.as_slice())?;
    }
    let encoder = builder.into_inner()?;
    encoder.finish()
}

/// The packable files of `dir` but its rockspecs, as `(top/path, bytes, executable)` sorted by
/// path: the contents of a source archive.
fn source_entries(dir: &Path, top: &str) -> std::io::Result<Vec<(String, Vec<u8>, bool)>> {
    let mut files = packable_files(dir)?;
    files.retain(|rel| !rel.ends_with(".rockspec"));
    files.sort();
    files
        .into_iter()
        .map(|rel| {
            let path = dir.join(&rel);
            let bytes = std::fs::read(&path)?;
            Ok((format!("{top}/{rel}"), bytes, is_executable(&path)))
        })
        .collect()
}

/// The files of `dir` that belong in a published rock, relative and `/`-separated: in a git
/// checkout the files git tracks under `dir` (so `.git/` and ignored files, such as a secret
/// listed in `.gitignore`, stay out), elsewhere every regular file outside `.git/` folders.
pub fn packable_files(dir: &Path) -> std::io::Result<Vec<String>> {
    if let Some(tracked) = git_tracked_files(dir)? {
        return Ok(tracked);
    }
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name() != ".git");
    for entry in walk {
        let entry = entry?;
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .map_err(std::io::Error::other)?;
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(out)
}

/// The files git tracks under `dir` that are on disk, when `dir` is in a git work tree.
fn git_tracked_files(dir: &Path) -> std::io::Result<Option<Vec<String>>> {
    let Ok(repo) = git2::Repository::discover(dir) else {
        return Ok(None);
    };
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let (workdir, dir) = (workdir.canonicalize()?, dir.canonicalize()?);
    let Ok(below) = dir.strip_prefix(&workdir) else {
        return Ok(None);
    };
    let prefix = match below.as_os_str().is_empty() {
        true => String::new(),
        false => format!("{}/", below.to_string_lossy().replace('\\', "/")),
    };
    let index = repo.index().map_err(std::io::Error::other)?;
    let mut out: Vec<String> = index
        .iter()
        .filter_map(|entry| {
            let path = String::from_utf8_lossy(&entry.path).into_owned();
            let rel = path.strip_prefix(&prefix)?.to_string();
            dir.join(&rel).is_file().then_some(rel)
        })
        .collect();
    out.sort();
    Ok(Some(out))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_rock_file_names() {
        let (n, v, a) = split_rock_file_name("chain-a-1.0-1.rockspec").unwrap();
        assert_eq!(
            (n.as_str(), v.as_str(), a.as_str()),
            ("chain-a", "1.0-1", "rockspec")
        );
        let (n, v, a) = split_rock_file_name("lpeg-1.1.0-2.linux-x86_64.rock").unwrap();
        assert_eq!(
            (n.as_str(), v.as_str(), a.as_str()),
            ("lpeg", "1.1.0-2", "linux-x86_64")
        );
        let (_, v, a) = split_rock_file_name("x-scm-1.src.rock").unwrap();
        assert_eq!((v.as_str(), a.as_str()), ("scm-1", "src"));
        assert!(split_rock_file_name("README.md").is_none());
        assert!(split_rock_file_name("noversion.rockspec").is_none());
    }

    const ROCKSPEC: &str = r#"package = "demo"
version = "1.0-1"
source = { url = "https://host.invalid/demo-1.0.tar.gz" }
build = { type = "builtin", modules = { demo = "demo.lua" } }
"#;

    fn rock_source(root: &Path) -> PathBuf {
        let src = root.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("demo-1.0-1.rockspec"), ROCKSPEC).unwrap();
        std::fs::write(src.join("demo.lua"), "return {}\n").unwrap();
        std::fs::write(src.join("sub/notes.txt"), "n\n").unwrap();
        src
    }

    #[test]
    fn packing_and_indexing_twice_gives_identical_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let src = rock_source(tmp.path());
        let mut outputs = Vec::new();
        for run in ["a", "b"] {
            let out = tmp.path().join(run);
            let rock = pack_src_rock(&src.join("demo-1.0-1.rockspec"), &src, &out).unwrap();
            assert_eq!(rock.file_name().unwrap(), "demo-1.0-1.src.rock");
            make_manifest(&out).unwrap();
            let mut files = Vec::new();
            for name in ["demo-1.0-1.src.rock", "manifest", "manifest-5.4"] {
                files.push(std::fs::read(out.join(name)).unwrap());
            }
            outputs.push(files);
            // The second run sees other mtimes on the sources.
            let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
            std::fs::File::options()
                .write(true)
                .open(src.join("demo.lua"))
                .unwrap()
                .set_modified(later)
                .unwrap();
        }
        assert_eq!(outputs[0], outputs[1]);
    }

    #[test]
    fn packed_rock_holds_the_rockspec_and_a_named_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let src = rock_source(tmp.path());
        let rock = pack_src_rock(&src.join("demo-1.0-1.rockspec"), &src, tmp.path()).unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&rock).unwrap()).unwrap();
        let names: Vec<String> = (0..zip.len())
            .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        assert_eq!(names, ["demo-1.0.tar.gz", "demo-1.0-1.rockspec"]);
        let mut tarball = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name("demo-1.0.tar.gz").unwrap(), &mut tarball)
            .unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball.as_slice()));
        let entries: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(entries, ["demo-1.0/demo.lua", "demo-1.0/sub/notes.txt"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&rock).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn the_archive_folder_is_where_luarocks_looks_for_the_sources() {
        let mut rockspec = Rockspec::from_lua(ROCKSPEC, "demo-1.0-1.rockspec").unwrap();
        assert_eq!(archive_top_dir(&rockspec, "demo-1.0.tar.gz"), "demo-1.0");
        assert_eq!(archive_top_dir(&rockspec, "demo-1.0-1.tgz"), "demo-1.0-1");
        rockspec.source.dir = Some("demo-src/".into());
        assert_eq!(archive_top_dir(&rockspec, "demo-1.0.tar.gz"), "demo-src");
        rockspec.source.dir = Some("../out".into());
        assert_eq!(archive_top_dir(&rockspec, "demo-1.0.tar.gz"), "demo-1.0");
    }

    #[test]
    fn packing_needs_an_archive_kind_it_can_write() {
        let tmp = tempfile::tempdir().unwrap();
        let src = rock_source(tmp.path());
        let spec = src.join("demo-1.0-1.rockspec");
        std::fs::write(&spec, ROCKSPEC.replace("demo-1.0.tar.gz", "demo.tar.bz2")).unwrap();
        let err = pack_src_rock(&spec, &src, tmp.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("must end in .tar.gz, .tgz or .zip to pack a source rock (found 'https://host.invalid/demo.tar.bz2')"),
            "{err}"
        );
    }

    #[test]
    fn a_folder_with_nothing_but_rockspecs_is_not_packed() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("rockspecs");
        std::fs::create_dir(&src).unwrap();
        let spec = src.join("demo-1.0-1.rockspec");
        std::fs::write(&spec, ROCKSPEC).unwrap();
        let out = tmp.path().join("out");
        let err = pack_src_rock(&spec, &src, &out).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "nothing to pack in {}: it holds no files but rockspecs",
                src.display()
            )),
            "{err}"
        );
        assert!(!out.exists(), "a failed pack writes nothing");
    }

    #[test]
    fn a_zip_source_url_gets_a_zip_archive_with_the_same_files() {
        let tmp = tempfile::tempdir().unwrap();
        let src = rock_source(tmp.path());
        let spec = src.join("demo-1.0-1.rockspec");
        std::fs::write(&spec, ROCKSPEC.replace("demo-1.0.tar.gz", "demo-1.0.zip")).unwrap();
        let rock = pack_src_rock(&spec, &src, &tmp.path().join("out")).unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&rock).unwrap()).unwrap();
        let mut inner = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name("demo-1.0.zip").unwrap(), &mut inner).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(inner)).unwrap();
        let names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        assert_eq!(names, ["demo-1.0/demo.lua", "demo-1.0/sub/notes.txt"]);
    }
}
