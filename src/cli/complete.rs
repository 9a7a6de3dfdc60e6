//! Dynamic shell completion: the names a command line can take from the environment that
//! applies here (profiles, installed packages, remotes), read when the shell asks.
//!
//! The shell's registration script (`lvm completions SHELL`) calls lvm back with `LVM_COMPLETE`
//! set; `clap_complete` answers from the CLI definition, and these functions add the names.
//! Completion never fails: an unreadable environment completes nothing.

use std::path::PathBuf;

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use lvm::envrepo::EnvRepo;

/// The environment the command line would use: `--env` is not parsed yet while completing, so
/// `LVM_ENV`, the nearest `.lvm/`, then the default one.
fn environment() -> Option<EnvRepo> {
    let home = lvm::config::home().ok()?;
    let cwd = std::env::current_dir().ok()?;
    let env_var = std::env::var_os("LVM_ENV").map(PathBuf::from);
    let (root, _) = lvm::config::locate_env(None, env_var.as_deref(), &cwd, &home);
    EnvRepo::open(&root).ok()
}

fn candidates(names: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    names.into_iter().map(CompletionCandidate::new).collect()
}

fn profile_names() -> Vec<CompletionCandidate> {
    let names = environment().and_then(|repo| repo.profiles().ok());
    candidates(names.unwrap_or_default())
}

fn package_names() -> Vec<CompletionCandidate> {
    let names = environment().and_then(|repo| {
        let manifest = repo.manifest_at(repo.head().ok()?).ok()?;
        Some(manifest.packages.into_keys().collect::<Vec<_>>())
    });
    candidates(names.unwrap_or_default())
}

fn remote_names() -> Vec<CompletionCandidate> {
    let names = environment().and_then(|repo| repo.remote_list().ok());
    candidates(names.unwrap_or_default().into_iter().map(|r| r.name))
}

/// Completes an argument with the environment's profile names.
pub fn profiles() -> ArgValueCandidates {
    ArgValueCandidates::new(profile_names)
}

/// Completes an argument with the names of the installed packages.
pub fn packages() -> ArgValueCandidates {
    ArgValueCandidates::new(package_names)
}

/// Completes an argument with the environment's remote names.
pub fn remotes() -> ArgValueCandidates {
    ArgValueCandidates::new(remote_names)
}
