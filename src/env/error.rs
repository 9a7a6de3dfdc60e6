//! The errors of the environment layer: opening, locking, recording a change, recovering and
//! making trees, each naming one cause and classified by [`EnvError::kind`].

use std::path::PathBuf;

use thiserror::Error;

use super::LockBusy;
use crate::config::ConfigError;
use crate::envrepo::RepoError;
use crate::errors::ErrorKind;
use crate::events::EventError;
use crate::interpreter::InterpreterError;
use crate::manifest::ManifestError;
use crate::store::StoreError;
use crate::tree::TreeError;
use crate::tree::files::FsError;
use crate::tree::links::LinkError;

/// Why an environment could not be opened, locked, changed or repaired.
#[derive(Debug, Error)]
pub enum EnvError {
    #[error("{} is already an environment; use it with --env, or remove it first", root.display())]
    AlreadyAnEnvironment { root: PathBuf },
    #[error(transparent)]
    LockBusy(#[from] LockBusy),
    #[error(
        "{} differs from the environment's state (git changed it: a pull, checkout or merge); run `lvm sync` to make it the environment's state, then run this command again",
        file.display()
    )]
    WorkFilesChanged { file: PathBuf },
    #[error(
        "cannot read {}: commit the project's .lvm/manifest.json and .lvm/lvm.toml (`lvm sync` without --frozen writes them from the environment's state)",
        file.display()
    )]
    MissingWorkFile {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the project's manifest cannot be used; fix it, or take it from a good commit (`git checkout COMMIT -- .lvm/manifest.json`), then run `lvm sync`"
    )]
    BadWorkManifest(#[source] ManifestError),
    #[error(
        "the project's settings cannot be used; fix .lvm/lvm.toml or take it from a good commit (`git checkout COMMIT -- .lvm/lvm.toml`), then run `lvm sync`"
    )]
    BadWorkSettings(#[source] ConfigError),
    #[error(
        "{}: manifest.json is for Lua {manifest_lua} but lvm.toml says {config_lua}; commit files of one state (`git checkout COMMIT -- .lvm/`)",
        root.display()
    )]
    WorkFilesDisagree {
        root: PathBuf,
        manifest_lua: String,
        config_lua: String,
    },
    #[error("the writer lock of {} cannot change {}", held.display(), other.display())]
    OtherEnvironment { held: PathBuf, other: PathBuf },
    #[error("opening the store at {}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error("{name}: malformed store key in manifest.json")]
    BadStoreKey {
        name: String,
        #[source]
        source: StoreError,
    },
    #[error(
        "{name} {version} is not in the store (key {key}); run `lvm sync` to fetch and build it"
    )]
    NotInStore {
        name: String,
        version: String,
        key: String,
    },
    #[error(
        "the environment's settings are invalid; `lvm config set KEY VALUE` or `lvm config unset KEY` replaces a bad value"
    )]
    BadSettings(#[source] ConfigError),
    #[error(
        "{name} {version}: the store entry {key} was built for Lua {built}, but this state is for \
         Lua {lua}; a C module of one Lua cannot load in another, so it is not linked: rebuild it \
         for Lua {lua} (`lvm sync`, or reinstall it)"
    )]
    BuiltForOtherLua {
        name: String,
        version: String,
        key: String,
        built: String,
        lua: String,
    },
    #[error("writing the change journal")]
    Journal(#[source] std::io::Error),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    StoreEntry(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error("no interpreter for Lua {lua} on this system, and lvm could not build one")]
    ProvideRuntime {
        lua: crate::luaversion::LuaVersion,
        #[source]
        source: crate::runtime::RuntimeError,
    },
}

impl EnvError {
    /// What kind of failure this is, for callers that react to each differently.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EnvError::LockBusy(_) => ErrorKind::LockBusy,
            EnvError::WorkFilesChanged { .. } => ErrorKind::Conflict,
            EnvError::MissingWorkFile { .. }
            | EnvError::BadWorkManifest(_)
            | EnvError::BadWorkSettings(_)
            | EnvError::WorkFilesDisagree { .. } => ErrorKind::BadInput,
            EnvError::AlreadyAnEnvironment { .. }
            | EnvError::BadSettings(_)
            | EnvError::Config(_) => ErrorKind::BadInput,
            EnvError::Repo(e) => e.kind(),
            EnvError::Interpreter(e) => e.kind(),
            EnvError::ProvideRuntime { source, .. } => source.kind(),
            EnvError::BadStoreKey { .. }
            | EnvError::NotInStore { .. }
            | EnvError::BuiltForOtherLua { .. }
            | EnvError::Event(_)
            | EnvError::Manifest(_) => ErrorKind::Damaged,
            EnvError::OtherEnvironment { .. }
            | EnvError::Store { .. }
            | EnvError::Journal(_)
            | EnvError::Fs(_)
            | EnvError::StoreEntry(_)
            | EnvError::Tree(_)
            | EnvError::Link(_) => ErrorKind::Other,
        }
    }
}

/// `map_err` for an I/O step on `path`: `cannot <action> <path>: <cause>`.
pub(super) fn io<'a>(
    action: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> EnvError + 'a {
    move |cause| {
        EnvError::Fs(FsError {
            action,
            path: path.to_path_buf(),
            cause,
        })
    }
}
