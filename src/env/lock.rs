//! The writer lock of an environment and its guard, plus the state lock that keeps readers
//! from seeing a new log with an old tree.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::io;
use super::{EnvError, Environment, Result, pause_point};
use crate::layout::{LOCK_FILE, STATE_LOCK_FILE};

/// Another process held an environment's writer lock for longer than the caller would wait.
#[derive(Debug, thiserror::Error)]
#[error(
    "another lvm process is changing {} (waited {:.1}s; raise --lock-timeout to wait longer)",
    root.display(),
    waited.as_secs_f64()
)]
pub struct LockBusy {
    pub root: PathBuf,
    pub waited: Duration,
}

/// The held writer lock of one environment, released on drop: the proof a change needs.
///
/// Every method that changes the environment (records an event, replaces the tree, repairs
/// it) is on this guard, so a change without the lock does not compile. It derefs to the
/// [`Environment`] for reading.
pub struct WriteLock<'env> {
    env: &'env Environment,
    _file: fs::File,
}

impl std::ops::Deref for WriteLock<'_> {
    type Target = Environment;

    fn deref(&self) -> &Environment {
        self.env
    }
}

impl Environment {
    pub(super) fn state_lock_file(&self) -> std::io::Result<fs::File> {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.state_lock_path())
    }

    /// Takes the state lock shared, waiting while a writer finishes a change (until
    /// `deadline`; then, like a reader that cannot lock, e.g. in a read-only directory, it
    /// reads unlocked). Returns how long it waited.
    pub(super) fn hold_for_reading(&self, deadline: Instant) -> Duration {
        let start = Instant::now();
        let Ok(file) = self.state_lock_file() else {
            return Duration::ZERO;
        };
        while fs4::FileExt::try_lock_shared(&file).is_err() {
            if Instant::now() >= deadline {
                tracing::warn!(
                    "a change to {} takes long to finish; reading anyway",
                    self.root.display()
                );
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Ok(mut guard) = self.read_guard.lock() {
            *guard = Some(file);
        }
        start.elapsed()
    }

    /// What opening waited, once: the first writer-lock wait counts it against its timeout.
    fn take_waited_at_open(&self) -> Duration {
        self.waited_at_open
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    pub(super) fn release_read_guard(&self) {
        if let Ok(mut guard) = self.read_guard.lock() {
            guard.take();
        }
    }

    /// Runs `f` holding the state lock exclusively: readers wait until it returns.
    pub(super) fn exclusively<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.release_read_guard();
        let path = self.state_lock_path();
        let file = self.state_lock_file().map_err(io("open", &path))?;
        fs4::FileExt::lock(&file).map_err(io("lock", &path))?;
        let result = f();
        drop(file);
        result
    }

    pub(super) fn lock_file(&self) -> Result<fs::File> {
        open_lock_file(&self.root)
    }

    /// The writer lock if no other process holds it.
    pub(super) fn try_lock(&self) -> Result<Option<WriteLock<'_>>> {
        let file = self.lock_file()?;
        Ok(match fs4::FileExt::try_lock(&file) {
            Ok(()) => Some(WriteLock {
                env: self,
                _file: file,
            }),
            Err(_) => None,
        })
    }

    /// Takes the writer lock, waiting up to `timeout` (with a message after a moment), without
    /// any recovery beyond finishing an interrupted change. The first lock after opening
    /// counts what the open waited for a change in progress, so a command waits at most
    /// `timeout` in total.
    pub fn lock_only(&self, timeout: Duration) -> Result<WriteLock<'_>> {
        self.release_read_guard();
        let start = Instant::now();
        let budget = timeout.saturating_sub(self.take_waited_at_open());
        let mut told = false;
        let lock = loop {
            if let Some(lock) = self.try_lock()? {
                break lock;
            }
            if start.elapsed() >= budget {
                return Err(LockBusy {
                    root: self.root.clone(),
                    waited: timeout,
                }
                .into());
            }
            if !told && start.elapsed() > Duration::from_millis(300) {
                self.reporter().waiting_for_lock(&self.root);
                told = true;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        pause_point("locked");
        self.recover_interrupted(false)?;
        self.register_merge_driver();
        Ok(lock)
    }

    /// Takes the writer lock (see [`Environment::lock_only`]), then recovers: the working files
    /// and the tree are made to agree with the head commit. In a project whose committed files
    /// ask for another state (git changed them), refuses: `lvm sync` records them first.
    pub fn lock(&self, timeout: Duration) -> Result<WriteLock<'_>> {
        let lock = self.lock_keeping_work_files(timeout)?;
        lock.refuse_if_work_files_changed()?;
        Ok(lock)
    }

    /// [`Environment::lock`] for `lvm sync`, which makes a project's changed files the state.
    pub fn lock_keeping_work_files(&self, timeout: Duration) -> Result<WriteLock<'_>> {
        let lock = self.lock_only(timeout)?;
        lock.recover()?;
        Ok(lock)
    }

    pub(super) fn state_lock_path(&self) -> PathBuf {
        self.repo.private_dir().join(STATE_LOCK_FILE)
    }
}

/// Opens (creating it) the writer lock file of the environment at `root`, unlocked.
pub(super) fn open_lock_file(root: &std::path::Path) -> Result<fs::File> {
    let path = root.join(LOCK_FILE);
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open the lock file", &path))
}

impl WriteLock<'_> {
    /// This lock, for another handle on the same environment (one opened again after its
    /// settings changed), so the change goes on without letting another writer in.
    pub fn for_reopened<'b>(self, other: &'b Environment) -> Result<WriteLock<'b>> {
        let same = |e: &Environment| fs::canonicalize(&e.root).unwrap_or_else(|_| e.root.clone());
        if same(self.env) != same(other) {
            return Err(EnvError::OtherEnvironment {
                held: self.env.root.clone(),
                other: other.root.clone(),
            });
        }
        other.release_read_guard();
        Ok(WriteLock {
            env: other,
            _file: self._file,
        })
    }
}
