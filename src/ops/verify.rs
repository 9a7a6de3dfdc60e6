//! `lvm verify`: the log replayed against the manifest, the store and the tree, and the
//! repair that rebuilds what is missing or damaged.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::env::{Environment, WriteLock};
use crate::envrepo::short;
use crate::envrepo::signing::SignatureCheck;
use crate::manifest::{self, Change, Manifest};
use crate::ops::{Error, Result, fs_error};
use crate::store::{Store, StoreKey};

/// Why a store entry changes: tree files are hard links to the store's, so editing one in place
/// edits the shared copy, in every environment and kept tree that uses it.
const EDITED_IN_PLACE: &str = "a tree file was probably edited in place: tree files are hard links to the store's files, so that edits the store's copy too, and every tree that uses it";

/// The result of `lvm verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub events: usize,
    pub packages: usize,
    pub problems: Vec<String>,
    /// Store entries whose files no longer match their recorded hashes (package name, key).
    pub corrupt_store: Vec<(String, StoreKey)>,
    /// Linked packages (name, working directory): their Lua files are symlinks that are meant
    /// to change, so only their presence is checked.
    pub linked: Vec<(String, String)>,
    /// Trees of recent states kept in `.trees/` for quick rollbacks and switches: not live, so
    /// not checked and never a problem.
    pub kept_trees: Vec<std::path::PathBuf>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks everything a state is made of: replaying the log reproduces `manifest.json`; the
/// working files match the head commit; every store entry the state uses is present and intact;
/// and the live tree is exactly the tree the store would make (no file missing, changed or
/// added). Read-only.
pub fn verify(env: &Environment) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    for kept in env.kept_trees() {
        tracing::info!(
            "kept tree {} (state {}), not live",
            kept.path.display(),
            kept.digest.get(..12).unwrap_or(&kept.digest)
        );
        report.kept_trees.push(kept.path);
    }
    let head = env.head()?;
    let profile = env.profile()?;
    let recorded = env.manifest()?;
    report.packages = recorded.packages.len();
    match env.history(None).and_then(|h| {
        let replayed = env.replay()?.0;
        Ok((h.len(), replayed))
    }) {
        Err(e) => report.problems.push(format!(
            "the event log of profile '{profile}' does not replay: {}; the history was changed by hand",
            crate::errors::error_text(&e)
        )),
        Ok((events, replayed)) => {
            report.events = events;
            if replayed.to_bytes() != recorded.to_bytes() {
                let differences: Vec<String> = manifest::diff(&replayed, &recorded)
                    .iter()
                    .map(Change::summary)
                    .collect();
                report.problems.push(format!(
                    "replaying the {events} events of profile '{profile}' does not reproduce manifest.json at {} (recorded vs replayed: {}); the history was changed by hand",
                    short(head),
                    if differences.is_empty() {
                        "same packages, different bytes".to_string()
                    } else {
                        differences.join("; ")
                    }
                ));
            }
        }
    }
    if env.has_pending_change() {
        report.problems.push(
            "a change is in progress or was interrupted (.git/lvm-journal exists); run any lvm command that changes the environment to finish it".into(),
        );
    }
    // A project's files are its desired state: `lvm sync` records them, nothing restores them.
    let way_out = match env.repo().place().keeps_work_files() {
        true => "`lvm sync` makes it the environment's state",
        false => "`lvm verify --repair` restores it",
    };
    for file in env.repo().place().work_files() {
        let recorded_bytes = env.repo().read_file(head, file).ok();
        let working = std::fs::read(env.root().join(file)).ok();
        if recorded_bytes.is_some() && working != recorded_bytes {
            let how = if working.is_none() {
                "is missing"
            } else {
                "differs from the recorded state"
            };
            report.problems.push(format!(
                "{file} in {} {how} at {} (profile '{profile}'); {way_out}",
                env.root().display(),
                short(head)
            ));
        }
    }
    if !env.tree_matches(&recorded) {
        report.problems.push(format!(
            "the rocks tree {} was not made from the recorded state at {}; `lvm verify --repair` rebuilds it",
            env.tree_path().display(),
            short(head)
        ));
    }
    let store = env.home().store()?;
    let mut store_complete = true;
    for (name, package) in &recorded.packages {
        let key = match StoreKey::parse(&package.store_key) {
            Ok(k) => k,
            Err(e) => {
                report
                    .problems
                    .push(format!("{name}: manifest.json has a bad store key: {e}"));
                store_complete = false;
                continue;
            }
        };
        match store.get(&key) {
            Ok(Some(_)) => {}
            Ok(None) => {
                report.problems.push(format!(
                    "{name} {}: missing from the store ({}); `lvm verify --repair` rebuilds it",
                    package.version,
                    store.root().join("rocks").join(key.as_str()).display()
                ));
                store_complete = false;
                continue;
            }
            // Garbage metadata, or an entry of an lvm whose keys did not cover the sources:
            // repair rebuilds it.
            Err(
                e @ (crate::store::StoreError::BadMeta { .. }
                | crate::store::StoreError::Unbound { .. }),
            ) => {
                report.problems.push(format!(
                    "{name} {}: the store entry is damaged ({e}); `lvm verify --repair` rebuilds it",
                    package.version,
                ));
                report.corrupt_store.push((name.clone(), key));
                store_complete = false;
                continue;
            }
            Err(e) => {
                report
                    .problems
                    .push(format!("{name} {}: {e}", package.version));
                store_complete = false;
                continue;
            }
        };
        // The manifest's own digest of the files, recorded in the history: an entry edited
        // together with its meta.json still differs from it. The store's check gives the
        // digest of the files it read.
        match store.verify(&key) {
            Ok(v) if v.files_sha256.as_deref() == Some(package.files_sha256.as_str()) => {}
            Ok(v) if v.is_clean() => {
                report.problems.push(format!(
                    "{name} {}: the files of the store entry {} differ from the digest manifest.json records (files_sha256), although they match the entry's meta.json: the entry was changed; {EDITED_IN_PLACE}; `lvm verify --repair` rebuilds the entry",
                    package.version,
                    store.root().join("rocks").join(key.as_str()).display(),
                ));
                report.corrupt_store.push((name.clone(), key));
            }
            Ok(v) => {
                let mut what = Vec::new();
                for (label, list) in [
                    ("modified", &v.modified),
                    ("missing", &v.missing),
                    ("added", &v.extra),
                ] {
                    if !list.is_empty() {
                        what.push(format!("{label} {}", list.join(", ")));
                    }
                }
                report.problems.push(format!(
                    "{name} {}: the store entry {} is corrupted ({}); {EDITED_IN_PLACE}; `lvm verify --repair` rebuilds the entry",
                    package.version,
                    store.root().join("rocks").join(key.as_str()).display(),
                    what.join("; ")
                ));
                report.corrupt_store.push((name.clone(), key));
            }
            Err(e) => report
                .problems
                .push(format!("{name} {}: {e}", package.version)),
        }
    }
    let live_tree = crate::tree::current(&env.tree_path()).ok().flatten();
    let links = check_links(&store, &recorded, live_tree.as_deref())?;
    report.linked = links.linked;
    report.problems.extend(links.problems);
    if store_complete {
        report.problems.extend(compare_tree(env, &recorded)?);
    }
    Ok(report)
}

/// Differences between the live tree and the tree the store would make for `manifest`
/// ([`crate::tree::expected_files`]), found without writing anything.
fn compare_tree(env: &Environment, manifest: &manifest::Manifest) -> Result<Vec<String>> {
    use crate::tree::ExpectedFile;
    use std::os::unix::fs::MetadataExt;
    let live_root = match crate::tree::current(&env.tree_path()) {
        Ok(Some(p)) => p,
        _ => {
            return Ok(vec![format!(
                "the rocks tree {} is missing; `lvm verify --repair` rebuilds it",
                env.tree_path().display()
            )]);
        }
    };
    // Symlinks of linked packages lead to working files that are meant to change (and may be
    // gone); `check_links` checks them instead.
    let linked = linked_tree_paths(&env.home().store()?, manifest)?;
    let mut expected =
        crate::tree::expected_files(manifest.lua_version()?, &env.tree_rocks(manifest)?)?;
    expected.retain(|rel, _| {
        !linked
            .iter()
            .any(|l| rel == l || rel.starts_with(&format!("{l}/")))
    });
    let live = crate::tree::links::tree_files_except(&live_root, &linked)?;
    let mut problems = Vec::new();
    for (rel, want) in &expected {
        let Some(have) = live.get(rel) else {
            problems.push(format!(
                "tree file {rel} is missing; `lvm verify --repair` restores it"
            ));
            continue;
        };
        let same = match want {
            ExpectedFile::Stored(want) => {
                let (a, b) = (
                    fs::metadata(want).map_err(fs_error("read", want))?,
                    fs::symlink_metadata(have).map_err(fs_error("read", have))?,
                );
                (a.dev() == b.dev() && a.ino() == b.ino())
                    || (b.is_file()
                        && a.mode() & 0o111 == b.mode() & 0o111
                        && crate::tree::files::sha256_file(want)?.0
                            == crate::tree::files::sha256_file(have)?.0)
            }
            ExpectedFile::Written(bytes) => {
                fs::symlink_metadata(have).is_ok_and(|m| m.is_file())
                    && fs::read(have).is_ok_and(|b| b == *bytes)
            }
        };
        if !same {
            problems.push(format!(
                "tree file {rel} differs from the store's build; `lvm verify --repair` restores it"
            ));
        }
    }
    let lua = manifest.lua_version()?;
    let unexpected = live
        .keys()
        .filter(|r| !expected.contains_key(*r) && !older_rock_dir_copy(lua, r));
    for rel in unexpected {
        problems.push(format!(
            "tree file {rel} does not belong to any installed package; `lvm verify --repair` removes it"
        ));
    }
    Ok(problems)
}

/// Whether a tree file is the second link of a deployed module that earlier lvm builds kept
/// in the rock dir (`rocks-5.4/NAME/VER/lua/...`): harmless, and gone from the tree the next
/// change makes, so not a problem to report.
fn older_rock_dir_copy(lua: crate::luaversion::LuaVersion, rel: &str) -> bool {
    let Some(in_rock_dirs) = rel
        .strip_prefix(&crate::tree::rocks_subdir(lua))
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    let mut parts = in_rock_dirs.splitn(3, '/');
    let (_name, _version) = (parts.next(), parts.next());
    parts.next().is_some_and(crate::tree::moved_out_of_rock_dir)
}

/// What `lvm verify --repair` did.
#[derive(Debug, Clone, Default)]
pub struct RepairOutcome {
    /// Packages whose corrupted store entries were rebuilt.
    pub rebuilt: Vec<String>,
    /// Kept trees deleted because they may share a damaged file (the next rollback or
    /// switch makes its tree again from the repaired store).
    pub dropped_kept_trees: usize,
}

/// Rebuilds the working files, the corrupted or missing store entries (from the recorded
/// sources) and the tree (from the store) for the head commit. Call with the writer lock held
/// (see [`Environment::lock_only`]). A history that does not replay cannot be repaired here.
pub fn repair(env: &WriteLock<'_>, report: &VerifyReport) -> Result<RepairOutcome> {
    let head = env.head()?;
    env.repo().restore_worktree(head)?;
    let manifest = env.repo().manifest_at(head)?;
    let store = env.home().store()?;
    let mut outcome = RepairOutcome::default();
    for (name, key) in &report.corrupt_store {
        store.remove(key)?;
        outcome.rebuilt.push(name.clone());
    }
    let state = crate::ops::history::head_state(env)?;
    crate::ops::install::rebuild::ensure_in_store(env, &manifest, state)
        .map_err(|e| Error::Repair(Box::new(e)))?;
    let dir = env.materialize(&manifest)?;
    env.install_tree(&dir)?;
    outcome.dropped_kept_trees = env.drop_kept_trees();
    Ok(outcome)
}

/// What [`check_links`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkReport {
    /// Each linked package with its working directory.
    pub linked: Vec<(String, String)>,
    pub problems: Vec<String>,
}

/// What `lvm verify` says about the linked packages of a state: each one's working directory,
/// and the problems (working directory or a linked file gone, a tree link missing or pointing
/// elsewhere), each with its fix.
pub fn check_links(store: &Store, manifest: &Manifest, tree: Option<&Path>) -> Result<LinkReport> {
    let mut linked = Vec::new();
    let mut problems = Vec::new();
    let lua = manifest.lua_version()?;
    for (name, package) in &manifest.packages {
        let Some(path) = package.source.linked_path() else {
            continue;
        };
        linked.push((name.clone(), path.to_string()));
        if !Path::new(path).is_dir() {
            problems.push(format!(
                "{name} {} is linked to {path}, which is gone; restore it, or run `lvm unlink {name}`",
                package.version
            ));
            continue;
        }
        for file in store.linked_files(lua, name, package)? {
            if !file.target.is_file() {
                problems.push(format!(
                    "{name} {}: the linked file {} is gone; restore it, or run `lvm link {path}` again (or `lvm unlink {name}`)",
                    package.version,
                    file.target.display()
                ));
                continue;
            }
            let Some(tree) = tree else { continue };
            for rel in &file.tree_paths {
                let at = tree.join(rel);
                let is_link = fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink());
                if is_link && fs::read_link(&at).is_ok_and(|t| t != file.target) {
                    problems.push(format!(
                        "tree file {rel} links to {} instead of {}; `lvm verify --repair` restores it",
                        fs::read_link(&at).map(|t| t.display().to_string()).unwrap_or_default(),
                        file.target.display()
                    ));
                } else if !is_link && rel == &file.tree_paths[0] {
                    // Only the rock's own copy must be a link: a deployed command may be a
                    // wrapper that runs it.
                    problems.push(format!(
                        "tree file {rel} should link to {}; `lvm verify --repair` restores it",
                        file.target.display()
                    ));
                }
            }
        }
    }
    Ok(LinkReport { linked, problems })
}

/// The tree-relative paths that are symlinks into working directories, for comparisons that
/// must not follow them.
pub fn linked_tree_paths(store: &Store, manifest: &Manifest) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let lua = manifest.lua_version()?;
    for (name, package) in &manifest.packages {
        for file in store.linked_files(lua, name, package)? {
            out.extend(file.tree_paths);
        }
    }
    Ok(out)
}
/// One event's signature, as `lvm verify --signatures` reports it.
#[derive(Debug, Clone)]
pub struct SignedEvent {
    pub commit: git2::Oid,
    /// The subject of the event's commit.
    pub summary: String,
    pub check: SignatureCheck,
}

/// The signatures of every event of the current profile, newest first.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    pub events: Vec<SignedEvent>,
    /// Whether the environment signs its events (the `sign` setting, or `--sign`).
    pub signing: bool,
}

impl SignatureReport {
    /// Whether every event carries a good signature by an allowed signer.
    pub fn is_ok(&self) -> bool {
        self.events
            .iter()
            .all(|e| matches!(e.check, SignatureCheck::Good { .. }))
    }
}

/// Checks the signature of every event of the current profile as `git verify-commit` does
/// (git's config: `gpg.ssh.allowedSignersFile` for ssh signatures, gpg's keyring for openpgp
/// ones). Read-only.
pub fn signatures(env: &Environment) -> Result<SignatureReport> {
    let events = env
        .history(None)?
        .into_iter()
        .map(|logged| {
            Ok(SignedEvent {
                commit: logged.commit,
                summary: logged.event.summary(),
                check: env.repo().check_signature(logged.commit)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SignatureReport {
        events,
        signing: env.config().sign.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::luaversion::LuaVersion;

    #[test]
    fn only_deployed_modules_in_rock_dirs_count_as_an_older_trees_copies() {
        let older = |rel| older_rock_dir_copy(LuaVersion::Lua54, rel);
        assert!(older("lib/luarocks/rocks-5.4/pl/1.0-1/lua/pl/init.lua"));
        assert!(older("lib/luarocks/rocks-5.4/sock/1.0-1/lib/sock/core.so"));
        assert!(!older("lib/luarocks/rocks-5.4/pl/1.0-1/bin/tool"));
        assert!(!older("lib/luarocks/rocks-5.4/pl/1.0-1/doc/README"));
        assert!(!older("lib/luarocks/rocks-5.4/pl/1.0-1/lua"));
        assert!(!older("lib/luarocks/rocks-5.1/pl/1.0-1/lua/pl/init.lua"));
        assert!(!older("share/lua/5.4/pl/init.lua"));
        assert!(older_rock_dir_copy(
            LuaVersion::LuaJit,
            "lib/luarocks/rocks-5.1/pl/1.0-1/lua/pl/init.lua"
        ));
    }
}
