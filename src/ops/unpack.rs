//! `lvm unpack NAME|FILE`: a rockspec, `.src.rock` or binary rock (a local file, or fetched from
//! the servers) unpacked into `<name>-<version>/` with its sources, as `luarocks unpack` does.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::env::Scratch;
use crate::fetch::{self, ExtractLimits, FetchOptions, SourceOptions};
use crate::ops::download::{Wanted, download};
use crate::ops::install::session::ServerChoice;
use crate::ops::publish::split_rock_file_name;
use crate::ops::search::SearchScope;
use crate::ops::{Error, Result, fs_error};
use crate::rockspec::Rockspec;

/// What was unpacked, and where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unpacked {
    pub name: String,
    pub version: String,
    /// `<dest>/<name>-<version>`.
    pub dir: PathBuf,
    pub rockspec: PathBuf,
    /// The folder to build in (`lvm make` there); none for a binary rock, which holds built
    /// files only.
    pub sources: Option<PathBuf>,
}

/// Unpacks `file` (`x-1.0-1.rockspec`, `x-1.0-1.src.rock`, `x-1.0-1.all.rock`, ...) into a new
/// `<dest>/<name>-<version>/`: the rockspec with its sources fetched and unpacked beside it,
/// a source rock's contents with its archive unpacked, or a binary rock's files. Refuses to
/// write into a folder that exists.
pub fn unpack_file(file: &Path, dest: &Path, fetch_opts: &FetchOptions) -> Result<Unpacked> {
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (name, version, arch) =
        split_rock_file_name(&file_name).ok_or_else(|| Error::BadRockFileName {
            file: file.display().to_string(),
        })?;
    let dir = dest.join(format!("{name}-{version}"));
    if dir.exists() {
        return Err(Error::UnpackFolderExists { dir });
    }
    let limits = ExtractLimits::default();
    let (rockspec, sources) = match arch.as_str() {
        "rockspec" => {
            std::fs::create_dir_all(&dir).map_err(fs_error("create", &dir))?;
            let copy = dir.join(&file_name);
            std::fs::copy(file, &copy).map_err(fs_error("copy", file))?;
            let parsed = Rockspec::from_file(&copy)?;
            let opts = SourceOptions {
                fetch: fetch_opts.clone(),
                ..SourceOptions::default()
            };
            let fetched = fetch::fetch_source(&parsed.source, &dir, &opts)?;
            (copy, Some(fetched.dir))
        }
        "src" => {
            let unpacked = fetch::unpack_src_rock(file, &dir, &limits)?;
            let parsed = Rockspec::from_file(&unpacked.rockspec)?;
            let opts = SourceOptions {
                fetch: fetch_opts.clone(),
                ..SourceOptions::default()
            };
            let fetched = fetch::src_rock_source(&parsed.source, &unpacked, &opts)?;
            (unpacked.rockspec, Some(fetched.dir))
        }
        _ => {
            fetch::extract(file, &dir, &limits)?;
            (dir.join(format!("{name}-{version}.rockspec")), None)
        }
    };
    let sources = match sources {
        Some(found) => Some(beside_the_rockspec(&dir, found)?),
        None => None,
    };
    Ok(Unpacked {
        name,
        version: version.to_string(),
        dir,
        rockspec,
        sources,
    })
}

/// Moves a source folder that fetching left one level down (`<dir>/unpacked/foo-1.0`) up beside
/// the rockspec (`<dir>/foo-1.0`), where `luarocks unpack` puts it; a folder already there, or
/// one whose name is taken, stays where it is.
fn beside_the_rockspec(dir: &Path, found: PathBuf) -> Result<PathBuf> {
    let (Some(parent), Some(name)) = (found.parent(), found.file_name()) else {
        return Ok(found);
    };
    let target = dir.join(name);
    if parent == dir || parent.parent() != Some(dir) || target.exists() {
        return Ok(found);
    }
    std::fs::rename(&found, &target).map_err(fs_error("move", &found))?;
    // The folder it came from is left empty (the archive was unpacked into it).
    let _ = std::fs::remove_dir(parent);
    Ok(target)
}

/// Fetches `name` (the newest version `version` allows: its `.src.rock`, else its rockspec, else
/// a binary rock) from the servers and unpacks it into `<dest>/<name>-<version>/`.
pub fn unpack_package(
    scope: &SearchScope,
    choice: &ServerChoice,
    name: &str,
    version: Option<&str>,
    dest: &Path,
) -> Result<Unpacked> {
    let scratch = Scratch::create(&scope.scratch_dir, "unpack-")?;
    let fetched = download(scope, choice, name, version, Wanted::Any, scratch.path())?;
    unpack_file(&fetched.path, dest, &scope.fetch_options())
}
