//! A project environment's committed files against lvm's state: `.lvm/manifest.json` and
//! `.lvm/lvm.toml` are the project's desired state, which git may change under lvm (a pull, a
//! checkout, a merge); and the history a fresh clone starts from them (`docs/projects.md`).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{EnvError, Environment, OpenOptions, Result};
use crate::config::EnvConfig;
use crate::envrepo::{CONFIG_FILE, EnvRepo, MANIFEST_FILE, Place};
use crate::manifest::Manifest;

/// The detail of the `init` event that started a project's history from its committed files.
pub const STARTED_FROM_DETAIL: &str = "started_from";

/// How a project's files stand against the head of the current profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkFiles {
    /// They say what the head says (always, for a standalone environment: lvm owns its files).
    InStep,
    /// One of them is missing: nothing asks for another state.
    Missing,
    /// They say something else: `lvm sync` makes it the environment's state.
    Changed,
}

/// The state a project's files ask for.
#[derive(Debug, Clone)]
pub struct Desired {
    pub manifest: Manifest,
    pub config: EnvConfig,
}

impl Environment {
    /// How the project's files stand against the head (see [`WorkFiles`]).
    pub fn work_files(&self) -> Result<WorkFiles> {
        if self.repo.place() == Place::Standalone {
            return Ok(WorkFiles::InStep);
        }
        let read = |name: &str| fs::read(self.root.join(name)).ok();
        let (Some(manifest), Some(config)) = (read(MANIFEST_FILE), read(CONFIG_FILE)) else {
            return Ok(WorkFiles::Missing);
        };
        let head = self.head()?;
        let head_manifest = self.repo.read_file(head, MANIFEST_FILE)?;
        let head_config = self.repo.read_file(head, CONFIG_FILE)?;
        if manifest == head_manifest && config == head_config {
            return Ok(WorkFiles::InStep);
        }
        // The same state written otherwise (a hand-formatted file) is no change.
        let same = self.read_work_files().is_ok_and(|desired| {
            self.repo.manifest_at(head).ok().as_ref() == Some(&desired.manifest)
                && self.config_at(head).ok().as_ref() == Some(&desired.config)
        });
        Ok(if same {
            WorkFiles::InStep
        } else {
            WorkFiles::Changed
        })
    }

    /// Reads and checks the state the project's files ask for (see [`read_work_files_at`]).
    pub fn read_work_files(&self) -> Result<Desired> {
        read_work_files_at(&self.root)
    }

    /// Refuses a change while the project's files ask for another state than the head's, so a
    /// pulled change is never silently overwritten. [`Environment::lock`] checks it; a change
    /// planned before it takes the lock checks it first too, so it downloads and builds nothing.
    pub fn refuse_if_work_files_changed(&self) -> Result<()> {
        match self.work_files()? {
            WorkFiles::Changed => Err(EnvError::WorkFilesChanged {
                file: self.root.join(MANIFEST_FILE),
            }),
            WorkFiles::InStep | WorkFiles::Missing => Ok(()),
        }
    }
}

/// Reads and checks the state the files of the project environment at `root` ask for: both
/// present, readable, no conflict markers, a format this lvm reads, consistent, and of one Lua.
pub fn read_work_files_at(root: &Path) -> Result<Desired> {
    let path = |name: &str| root.join(name);
    let read = |name: &str| {
        fs::read(path(name)).map_err(|source| EnvError::MissingWorkFile {
            file: path(name),
            source,
        })
    };
    let manifest_bytes = read(MANIFEST_FILE)?;
    let config_bytes = read(CONFIG_FILE)?;
    let manifest =
        Manifest::from_bytes(&manifest_bytes, &path(MANIFEST_FILE).display().to_string())
            .map_err(EnvError::BadWorkManifest)?;
    let config = EnvConfig::parse(
        &String::from_utf8_lossy(&config_bytes),
        &path(CONFIG_FILE).display().to_string(),
    )
    .map_err(EnvError::BadWorkSettings)?;
    if manifest.lua != config.lua.as_str() {
        return Err(EnvError::WorkFilesDisagree {
            root: root.to_path_buf(),
            manifest_lua: manifest.lua.clone(),
            config_lua: config.lua.to_string(),
        });
    }
    Ok(Desired { manifest, config })
}

/// Starts the history of a project environment whose repository has none for the current
/// profile (a fresh or shallow clone: `git clone` does not fetch `refs/lvm/*`): an `init` event
/// with the settings of the committed `lvm.toml` and no packages, under the writer lock. The
/// committed files are left as they are; `lvm sync` then records their packages.
pub(super) fn start_history(repo: &mut EnvRepo, options: &OpenOptions) -> Result<()> {
    let root = repo.root().to_path_buf();
    let root = root.as_path();
    repo.write_project_gitignore()?;
    let config_path = root.join(CONFIG_FILE);
    let text = fs::read_to_string(&config_path).map_err(|source| EnvError::MissingWorkFile {
        file: config_path.clone(),
        source,
    })?;
    let config = EnvConfig::parse(&text, &config_path.display().to_string())
        .map_err(EnvError::BadWorkSettings)?;
    let _lock = hold_writer_lock(root, options.lock_timeout())?;
    if repo.has_history() {
        // Another process started it while this one waited.
        return Ok(());
    }
    let profile = repo.current_profile()?;
    let mut event = super::init_event(&config);
    event
        .details
        .insert(STARTED_FROM_DETAIL.into(), "project files".into());
    let manifest = Manifest::empty(config.lua);
    let mut effective = config.clone();
    options.apply(&mut effective);
    repo.set_signing(effective.sign.unwrap_or(false));
    repo.start_history(&profile, &config.to_toml(), &manifest, &event)?;
    tracing::info!("started lvm's history in the project's repository (profile '{profile}')");
    Ok(())
}

/// The writer lock file of `root`, held (waiting up to `timeout`), before any `Environment`
/// exists to hand out a [`super::WriteLock`].
fn hold_writer_lock(root: &Path, timeout: Duration) -> Result<fs::File> {
    let file = super::lock::open_lock_file(root)?;
    let start = Instant::now();
    while fs4::FileExt::try_lock(&file).is_err() {
        if start.elapsed() >= timeout {
            return Err(super::LockBusy {
                root: root.to_path_buf(),
                waited: timeout,
            }
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(file)
}
