//! Log files rotated by date: `<dir>/<prefix>.YYYY-MM-DD.log`, one per (UTC) day. Each event
//! goes to the file of the day the clock says it is when the event is written, so a run that
//! crosses midnight continues in the next day's file. Files are appended to, never truncated,
//! and only the `keep` newest files of the series are kept (the oldest go first, when a file is
//! opened). The clock is injected so rotation can be tested without waiting for days; the `lvm`
//! binary passes [`SystemClock`]. [`RollingLog`] is a `tracing-subscriber` `MakeWriter`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use thiserror::Error;

/// Where the time comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

impl<F: Fn() -> DateTime<Utc> + Send + Sync> Clock for F {
    fn now(&self) -> DateTime<Utc> {
        self()
    }
}

#[derive(Debug, Error)]
pub enum LogFileError {
    #[error("cannot create the log folder {dir}: {cause} (check its permissions)")]
    CreateDir { dir: PathBuf, cause: io::Error },
}

/// A date-rotated series of log files in one folder.
pub struct RollingLog {
    dir: PathBuf,
    prefix: String,
    keep: usize,
    clock: Box<dyn Clock>,
    current: Mutex<Option<(NaiveDate, File)>>,
}

impl std::fmt::Debug for RollingLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollingLog")
            .field("dir", &self.dir)
            .field("prefix", &self.prefix)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// `<prefix>.YYYY-MM-DD.log`.
pub fn file_name(prefix: &str, date: NaiveDate) -> String {
    format!("{prefix}.{}.log", date.format("%Y-%m-%d"))
}

/// The date of a file of the series, or `None` for any other file name.
pub fn date_of(prefix: &str, name: &str) -> Option<NaiveDate> {
    let date = name
        .strip_prefix(prefix)?
        .strip_prefix('.')?
        .strip_suffix(".log")?;
    // The exact width keeps `lvm.2024-1-2.log` (not a name this writes) out of the series.
    if date.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// The files of the series among `names` to delete so that `keep` remain, the oldest first.
/// Names outside the series are never chosen. At least one file is always kept (the one being
/// written).
pub fn to_prune<'a>(prefix: &str, names: &'a [String], keep: usize) -> Vec<&'a str> {
    let mut dated: Vec<(NaiveDate, &str)> = names
        .iter()
        .filter_map(|n| Some((date_of(prefix, n)?, n.as_str())))
        .collect();
    dated.sort();
    let excess = dated.len().saturating_sub(keep.max(1));
    dated.into_iter().take(excess).map(|(_, n)| n).collect()
}

impl RollingLog {
    /// A series `<dir>/<prefix>.YYYY-MM-DD.log` keeping `keep` files; creates `dir`. No file is
    /// opened before the first write.
    pub fn new(
        dir: impl Into<PathBuf>,
        prefix: &str,
        keep: usize,
        clock: impl Clock + 'static,
    ) -> Result<RollingLog, LogFileError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| LogFileError::CreateDir {
            dir: dir.clone(),
            cause: source,
        })?;
        Ok(RollingLog {
            dir,
            prefix: prefix.to_string(),
            keep,
            clock: Box::new(clock),
            current: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A writer into today's file (by the clock, now): everything written through it lands in
    /// that one file, so one log event is never split across two days.
    pub fn writer(&self) -> RollingWriter<'_> {
        let today = self.clock.now().date_naive();
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let stale = !matches!(&*current, Some((date, _)) if *date == today);
        let error = if stale {
            *current = None;
            match self.open(today) {
                Ok(file) => {
                    *current = Some((today, file));
                    None
                }
                Err(e) => Some(e),
            }
        } else {
            None
        };
        RollingWriter { current, error }
    }

    fn open(&self, date: NaiveDate) -> io::Result<File> {
        let path = self.dir.join(file_name(&self.prefix, date));
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        self.prune();
        Ok(file)
    }

    /// Deletes the oldest files beyond `keep`. A file that cannot be deleted stays; logging
    /// goes on.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for name in to_prune(&self.prefix, &names, self.keep) {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }
}

/// Writes into one day's file of a [`RollingLog`]; holds the log's lock while it lives.
pub struct RollingWriter<'a> {
    current: MutexGuard<'a, Option<(NaiveDate, File)>>,
    /// Why the day's file could not be opened, reported on write.
    error: Option<io::Error>,
}

impl RollingWriter<'_> {
    fn file(&mut self) -> io::Result<&mut File> {
        if let Some(e) = &self.error {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        match &mut *self.current {
            Some((_, file)) => Ok(file),
            None => Err(io::Error::other("the log file is not open")),
        }
    }
}

impl Write for RollingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RollingLog {
    type Writer = RollingWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.writer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use std::sync::Arc;

    /// A clock the test moves by hand.
    #[derive(Clone)]
    struct Hand(Arc<Mutex<DateTime<Utc>>>);

    impl Hand {
        fn at(t: DateTime<Utc>) -> Hand {
            Hand(Arc::new(Mutex::new(t)))
        }
        fn set(&self, t: DateTime<Utc>) {
            *self.0.lock().unwrap() = t;
        }
    }

    impl Clock for Hand {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    fn noon(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 2, day, 12, 0, 0).unwrap()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn sixteen_days_leave_the_fourteen_newest_files_each_with_its_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Hand::at(noon(1));
        let log = RollingLog::new(tmp.path().join("logs"), "lvm", 14, clock.clone()).unwrap();
        for day in 1..=16 {
            clock.set(noon(day));
            writeln!(log.writer(), "first line of day {day}").unwrap();
            clock.set(noon(day) + Duration::hours(3));
            writeln!(log.writer(), "second line of day {day}").unwrap();
        }
        let expected: Vec<String> = (3..=16)
            .map(|d| format!("lvm.2024-02-{d:02}.log"))
            .collect();
        assert_eq!(files(log.dir()), expected);
        for day in 3..=16 {
            assert_eq!(
                read(log.dir(), &format!("lvm.2024-02-{day:02}.log")),
                format!("first line of day {day}\nsecond line of day {day}\n")
            );
        }
    }

    #[test]
    fn a_write_after_midnight_lands_in_the_next_days_file() {
        let tmp = tempfile::tempdir().unwrap();
        let before = Utc.with_ymd_and_hms(2024, 12, 31, 23, 59, 59).unwrap();
        let clock = Hand::at(before);
        let log = RollingLog::new(tmp.path(), "lvm", 14, clock.clone()).unwrap();
        writeln!(log.writer(), "before midnight").unwrap();
        clock.set(before + Duration::seconds(2));
        writeln!(log.writer(), "after midnight").unwrap();
        assert_eq!(
            files(tmp.path()),
            ["lvm.2024-12-31.log", "lvm.2025-01-01.log"]
        );
        assert_eq!(read(tmp.path(), "lvm.2024-12-31.log"), "before midnight\n");
        assert_eq!(read(tmp.path(), "lvm.2025-01-01.log"), "after midnight\n");
    }

    #[test]
    fn appends_to_the_days_file_and_leaves_other_files_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("lvm.2024-02-05.log"), "from an earlier run\n").unwrap();
        for other in [
            "notes.txt",
            "lvm.log",
            "lvm.2024-2-1.log",
            "other.2020-01-01.log",
        ] {
            std::fs::write(dir.join(other), "x").unwrap();
        }
        let log = RollingLog::new(dir, "lvm", 1, || noon(5)).unwrap();
        writeln!(log.writer(), "from this run").unwrap();
        assert_eq!(
            read(dir, "lvm.2024-02-05.log"),
            "from an earlier run\nfrom this run\n"
        );
        // A new day with keep = 1: the old file of the series goes, nothing else does.
        let log = RollingLog::new(dir, "lvm", 1, || noon(6)).unwrap();
        writeln!(log.writer(), "next day").unwrap();
        assert_eq!(
            files(dir),
            [
                "lvm.2024-02-06.log",
                "lvm.2024-2-1.log",
                "lvm.log",
                "notes.txt",
                "other.2020-01-01.log"
            ]
        );
    }

    #[test]
    fn series_names_and_pruning_are_pure() {
        let day = NaiveDate::from_ymd_opt(2024, 3, 9).unwrap();
        assert_eq!(file_name("lvm", day), "lvm.2024-03-09.log");
        assert_eq!(date_of("lvm", "lvm.2024-03-09.log"), Some(day));
        for name in [
            "lvm.2024-3-9.log",
            "lvm.2024-03-09.txt",
            "lvmx.2024-03-09.log",
        ] {
            assert_eq!(date_of("lvm", name), None, "{name}");
        }
        let names: Vec<String> = [
            "lvm.2024-03-10.log",
            "lvm.2023-12-31.log",
            "x",
            "lvm.2024-01-01.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(to_prune("lvm", &names, 2), ["lvm.2023-12-31.log"]);
        assert_eq!(
            to_prune("lvm", &names, 0),
            ["lvm.2023-12-31.log", "lvm.2024-01-01.log"]
        );
        assert!(to_prune("lvm", &names, 14).is_empty());
    }

    #[test]
    fn tracing_events_go_through_make_writer_into_the_days_file() {
        let tmp = tempfile::tempdir().unwrap();
        let log = RollingLog::new(tmp.path(), "lvm", 14, || noon(7)).unwrap();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log)
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("an event for the file");
        });
        let text = read(tmp.path(), "lvm.2024-02-07.log");
        assert!(text.contains("an event for the file"), "{text}");
    }
}
