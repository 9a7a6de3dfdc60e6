//! `lvm gc`: store entries that no state of any environment sharing the lvm home needs are
//! removed, and so are the Lua runtimes none of them targets.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::env::{Environment, WriteLock};
use crate::ops::{Error, Result};
use crate::store::{GcOptions, StoreKey};

/// What `lvm gc` removed (or would remove, with `dry_run`) and what it kept.
#[derive(Debug)]
pub struct GcOutcome {
    pub dry_run: bool,
    pub store: crate::store::GcReport,
    /// Store entries some state still needs.
    pub kept: usize,
    /// Other environments sharing the store whose states were kept alive.
    pub other_environments: usize,
    /// The lvm home whose store was collected.
    pub home: PathBuf,
    /// Lua runtimes removed: built for a Lua no environment targets, or superseded.
    pub runtimes: Vec<crate::runtime::Runtime>,
    /// Cached source archives (`<home>/cache/sources`) no kept state was built from.
    pub archives: crate::fetch::TrimmedArchives,
    /// Rockspec evaluations other lvm builds remembered (`<home>/cache/rockspecs`).
    pub rockspec_memos: crate::rockspec::ForgottenMemos,
}

/// `lvm gc`: drop store entries that no state in the history of any profile needs, in this
/// environment and in every other environment sharing the lvm home (they share the store). With
/// `older_than_days`, states older than that are not kept alive (profile heads always are).
pub fn gc(env: &WriteLock<'_>, older_than_days: Option<u32>, dry_run: bool) -> Result<GcOutcome> {
    let cutoff = older_than_days.map(|d| chrono::Utc::now() - chrono::Duration::days(i64::from(d)));
    let mut keep = Needed::default();
    keep.add_states_of(env, cutoff)?;
    let mut others = 0;
    let this = std::fs::canonicalize(env.root()).unwrap_or_else(|_| env.root().to_path_buf());
    for root in env.home().environments()? {
        if std::fs::canonicalize(&root).is_ok_and(|r| r == this) {
            continue;
        }
        // An unreadable environment might need anything: collecting without it could delete
        // what it uses, so stop.
        let options = crate::env::OpenOptions {
            lock_timeout: Some(env.open_timeout()),
            ..Default::default()
        };
        let other =
            Environment::open_with(&root, env.home().clone(), options).map_err(|source| {
                Error::OtherEnvironment {
                    root: root.clone(),
                    source: Box::new(source),
                }
            })?;
        keep.add_states_of(&other, cutoff)?;
        others += 1;
    }
    let store = env.home().store()?;
    let report = store.gc(&keep.store_keys, GcOptions { dry_run })?;
    let archives = crate::fetch::trim_archive_cache(
        &env.home()
            .cache_dir()
            .join(crate::layout::SOURCES_CACHE_DIR),
        &keep.archives,
        dry_run,
    )?;
    let memos = env
        .home()
        .cache_dir()
        .join(crate::layout::ROCKSPEC_MEMO_DIR);
    let rockspec_memos = crate::rockspec::RockspecMemo::forget_other_builds(&memos, dry_run)
        .map_err(crate::ops::fs_error("remove old rockspec memos in", &memos))?;
    let runtimes = crate::ops::runtime::collect_garbage(env.home(), dry_run, env.reporter())?;
    Ok(GcOutcome {
        rockspec_memos,
        dry_run,
        store: report,
        kept: keep.store_keys.len(),
        archives,
        other_environments: others,
        home: env.home().root.clone(),
        runtimes,
    })
}

/// What the kept states use: their store entries, and the sha256 of the source archives they
/// were built from (cached downloads a rebuild would fetch again).
#[derive(Debug, Default)]
struct Needed {
    store_keys: BTreeSet<StoreKey>,
    archives: BTreeSet<String>,
}

impl Needed {
    /// Adds what the states of every profile of `env` use: each profile's head, and every
    /// earlier state unless it is older than `cutoff`.
    fn add_states_of(
        &mut self,
        env: &Environment,
        cutoff: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<()> {
        for profile in env.repo().profiles()? {
            let head = env.repo().profile_head(&profile)?;
            for (i, logged) in env.repo().log(head, None)?.iter().enumerate() {
                let recent = cutoff.is_none_or(|c| logged.event.timestamp >= c);
                if i == 0 || recent {
                    for p in env.repo().manifest_at(logged.commit)?.packages.values() {
                        if let Ok(k) = StoreKey::parse(&p.store_key) {
                            self.store_keys.insert(k);
                        }
                        if let Some(sha256) = p.source.archive_sha256() {
                            self.archives.insert(sha256.to_string());
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
