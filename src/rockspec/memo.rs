//! A memo of rockspec evaluations on disk: the evaluated rockspec of an exact text, so
//! installing packages whose rockspecs were read before runs no Lua sandbox for them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::{Rockspec, RockspecError};

/// Largest memo file read back; a bigger one is not lvm's and is ignored.
const MAX_MEMO_BYTES: u64 = 4 << 20;

/// Where evaluations are remembered: `<lvm home>/cache/rockspecs/<build>/`, one folder per
/// lvm build, so `lvm gc` can drop what older builds remembered. Only successful evaluations
/// are kept, with their warnings, which are logged again on every use.
#[derive(Debug, Clone)]
pub struct RockspecMemo {
    /// `None` when this lvm's binary cannot be identified: nothing is remembered then.
    dir: Option<PathBuf>,
}

/// What [`RockspecMemo::forget_other_builds`] removed (or would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgottenMemos {
    /// Memo files of other lvm builds.
    pub files: usize,
    pub freed_bytes: u64,
}

/// One remembered evaluation: what [`Rockspec::from_lua`] returned, and the warnings it logged.
#[derive(Serialize, Deserialize)]
struct Remembered {
    /// The key the memo was written under, checked on reading: a file copied or renamed to
    /// another key's name is not taken for that key's evaluation.
    key: String,
    rockspec: Rockspec,
    warnings: Vec<String>,
}

impl RockspecMemo {
    /// The memo of this lvm build under `base` (`<lvm home>/cache/rockspecs`).
    pub fn new(base: &Path) -> Self {
        RockspecMemo {
            dir: this_build().map(|build| base.join(&build[..16])),
        }
    }

    /// Removes (or, with `dry_run`, counts) what other lvm builds remembered under `base`.
    pub fn forget_other_builds(base: &Path, dry_run: bool) -> std::io::Result<ForgottenMemos> {
        let mut forgotten = ForgottenMemos::default();
        let current = this_build().map(|build| build[..16].to_string());
        let entries = match std::fs::read_dir(base) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(forgotten),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if current.as_deref() == entry.file_name().to_str() || !entry.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(entry.path())? {
                let meta = file?.metadata()?;
                forgotten.files += 1;
                forgotten.freed_bytes += meta.len();
            }
            if !dry_run {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(forgotten)
    }

    /// [`Rockspec::from_lua`], answered from the memo when this lvm evaluated the same text
    /// under the same file name before. A missing, damaged or foreign memo file means an
    /// evaluation; failing to write one costs only the next evaluation.
    pub fn from_lua(&self, source: &str, file: &str) -> Result<Rockspec, RockspecError> {
        let (Some(dir), Some(build)) = (&self.dir, this_build()) else {
            return Rockspec::from_lua(source, file);
        };
        let key = memo_key(build, source, file);
        let path = dir.join(format!("{key}.json"));
        if let Some(hit) = read_memo(&path, &key) {
            for warning in &hit.warnings {
                tracing::warn!("{file}: {warning}");
            }
            return Ok(hit.rockspec);
        }
        let (rockspec, warnings) = Rockspec::evaluate_logged(source, file)?;
        let remembered = Remembered {
            key,
            rockspec,
            warnings,
        };
        if let Ok(bytes) = serde_json::to_vec(&remembered) {
            let written = std::fs::create_dir_all(dir)
                .and_then(|()| crate::fsutil::write_cache(&path, &bytes));
            if let Err(e) = written {
                tracing::debug!("cannot remember {file} in {}: {e}", path.display());
            }
        }
        Ok(remembered.rockspec)
    }
}

fn read_memo(path: &Path, key: &str) -> Option<Remembered> {
    let bytes = crate::fsutil::read_bounded(path, MAX_MEMO_BYTES).ok()??;
    let remembered: Remembered = serde_json::from_slice(&bytes).ok()?;
    (remembered.key == key).then_some(remembered)
}

/// This lvm build, as a sha256: its version, and its binary's size and modification time,
/// which stand for the evaluation code, so a rebuilt or upgraded lvm evaluates again. `None`
/// when the binary cannot be found.
fn this_build() -> Option<&'static str> {
    static BUILD: OnceLock<Option<String>> = OnceLock::new();
    BUILD
        .get_or_init(|| {
            let meta = std::env::current_exe().ok()?.metadata().ok()?;
            let modified = meta
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            let platforms = crate::platform::platform_names().join(",");
            let build = format!(
                "{} {} {} {platforms}",
                env!("CARGO_PKG_VERSION"),
                meta.len(),
                modified.as_nanos()
            );
            Some(crate::digest::sha256_bytes(build.as_bytes()))
        })
        .as_deref()
}

/// The memo key of a rockspec text evaluated under a file name by `build`.
fn memo_key(build: &str, source: &str, file: &str) -> String {
    // Lengths first, so no two different (file, source) pairs give the same bytes.
    let input = format!(
        "lvm rockspec memo 1\n{build}\n{} {}\n{file}\n{source}",
        file.len(),
        source.len()
    );
    crate::digest::sha256_bytes(input.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "package = 'memo'\nversion = '1.0-1'\nsource = { url = 'https://rocks.example.org/memo-1.0.tar.gz' }\nbuild = { type = 'builtin', modules = { memo = 'memo.lua' } }\n";

    /// The memo files of this build under `base`.
    fn memo_files(base: &Path) -> Vec<PathBuf> {
        let dir = base.join(&this_build().unwrap()[..16]);
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    #[test]
    fn a_second_evaluation_of_the_same_text_comes_from_the_memo() {
        let tmp = tempfile::tempdir().unwrap();
        let memo = RockspecMemo::new(&tmp.path().join("rockspecs"));
        let first = memo.from_lua(SPEC, "memo-1.0-1.rockspec").unwrap();
        assert_eq!(
            first,
            Rockspec::from_lua(SPEC, "memo-1.0-1.rockspec").unwrap()
        );
        let files = memo_files(&tmp.path().join("rockspecs"));
        assert_eq!(files.len(), 1, "{files:?}");
        // The memo answers, not Lua: a memo edited on disk shows up in the result.
        let text = std::fs::read_to_string(&files[0]).unwrap();
        std::fs::write(&files[0], text.replace("memo.lua", "remembered.lua")).unwrap();
        let second = memo.from_lua(SPEC, "memo-1.0-1.rockspec").unwrap();
        assert_ne!(second, first);
        // Another text or another file name is another key.
        let other = SPEC.replace("1.0-1", "1.1-1");
        memo.from_lua(&other, "memo-1.1-1.rockspec").unwrap();
        assert_eq!(memo_files(&tmp.path().join("rockspecs")).len(), 2);
    }

    #[test]
    fn a_damaged_or_misplaced_memo_means_an_evaluation() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rockspecs");
        let memo = RockspecMemo::new(&dir);
        let expected = memo.from_lua(SPEC, "memo-1.0-1.rockspec").unwrap();
        let path = memo_files(&dir).remove(0);
        std::fs::write(&path, b"{ not json").unwrap();
        assert_eq!(
            memo.from_lua(SPEC, "memo-1.0-1.rockspec").unwrap(),
            expected
        );
        // The memo of another rockspec copied under this one's name is not used.
        let other = SPEC.replace("memo.lua", "other.lua");
        memo.from_lua(&other, "memo-1.0-1.rockspec").unwrap();
        let other_path = memo_files(&dir).into_iter().find(|p| *p != path).unwrap();
        std::fs::copy(&other_path, &path).unwrap();
        assert_eq!(
            memo.from_lua(SPEC, "memo-1.0-1.rockspec").unwrap(),
            expected
        );
    }

    #[test]
    fn gc_forgets_what_other_builds_remembered() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("rockspecs");
        let memo = RockspecMemo::new(&base);
        memo.from_lua(SPEC, "memo-1.0-1.rockspec").unwrap();
        let older = base.join("0123456789abcdef");
        std::fs::create_dir_all(&older).unwrap();
        std::fs::write(older.join("x.json"), b"{}").unwrap();
        let counted = RockspecMemo::forget_other_builds(&base, true).unwrap();
        assert_eq!((counted.files, counted.freed_bytes), (1, 2));
        assert!(older.exists(), "a dry run removes nothing");
        assert_eq!(
            RockspecMemo::forget_other_builds(&base, false).unwrap(),
            counted
        );
        assert!(!older.exists());
        assert_eq!(memo_files(&base).len(), 1, "this build's memo stays");
    }

    #[test]
    fn errors_are_not_remembered() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rockspecs");
        let memo = RockspecMemo::new(&dir);
        assert!(memo.from_lua("package = ", "bad-1.0-1.rockspec").is_err());
        assert!(memo_files(&dir).is_empty());
    }
}
