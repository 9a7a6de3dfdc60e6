//! The library face of an environment: one method per thing a program embedding lvm wants to
//! do (install, remove, check, roll back, compare, run Lua), each a thin layer over the module
//! that owns the work ([`crate::ops`], [`crate::vm`]). Writers take
//! the environment's lock as the `lvm` commands do.
//!
//! A tour: publish a one-module rock into a `file://` rocks server, install it, use it from the
//! embedded Lua, undo the install.
//!
//! ```
//! use lvm::config::EnvConfig;
//! use lvm::env::{Environment, Home};
//! use lvm::ops::rollback::RollbackSpec;
//!
//! let tmp = tempfile::tempdir()?;
//! // A rocks server: a rockspec, its source archive, and the server manifest.
//! let (src, server) = (tmp.path().join("src"), tmp.path().join("server"));
//! std::fs::create_dir_all(&src)?;
//! std::fs::create_dir_all(&server)?;
//! std::fs::write(src.join("greet.lua"), "return { hi = function(n) return 'hi ' .. n end }")?;
//! let url = format!("file://{}", server.display());
//! std::fs::write(server.join("greet-1.0-1.rockspec"), format!(r#"
//!     package = "greet"
//!     version = "1.0-1"
//!     source = {{ url = "{url}/greet-1.0-1.tar.gz" }}
//!     build = {{ type = "builtin", modules = {{ greet = "greet.lua" }} }}"#))?;
//! std::fs::write(server.join("greet-1.0-1.tar.gz"), lvm::ops::publish::deterministic_tar_gz(&src, "greet-1.0-1")?)?;
//! lvm::ops::publish::make_manifest(&server)?;
//!
//! let home = Home::new(tmp.path().join("home"));
//! let config = EnvConfig::new(lvm::luaversion::LuaVersion::Lua54, vec![url]);
//! let env = Environment::init(&tmp.path().join("env"), config, home)?;
//! let outcome = env.install_package("greet >= 1.0")?;
//! assert_eq!(outcome.changes.len(), 1);
//!
//! let vm = env.vm()?;
//! assert_eq!(vm.eval::<String>("require('greet').hi('lvm')")?, "hi lvm");
//!
//! assert!(env.check_health()?.problems.is_empty());
//! assert_eq!(env.diff("HEAD~1", "HEAD")?.len(), 1);
//! env.rollback(RollbackSpec::Steps(1))?;
//! assert!(env.manifest()?.packages.is_empty());
//! assert_eq!(env.history(None)?.len(), 3); // init, install, rollback
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::OsStr;
use std::time::Duration;

use crate::env::Environment;
use crate::manifest::{self, Change};
use crate::ops::install::{self, Outcome, ServerChoice};
use crate::ops::remove;
use crate::ops::rollback::{self, RollbackOutcome, RollbackSpec};
use crate::ops::verify::{self, VerifyReport};
use crate::ops::{Error, Result};
use crate::tree::{self, LuaPaths};
use crate::vm::{LuaProcess, Vm};

/// What kind of failure an error is: every error these methods return says it
/// ([`Error::kind`]), so a caller can retry a busy lock, ask about a conflict, report bad input.
pub use crate::errors::ErrorKind;

/// How long library writers wait for another process changing the same environment (the
/// `lvm` default of `--lock-timeout`).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

impl Environment {
    /// Installs one package, as `lvm install` does: `"name"`, `"name >= 1.0, < 2"`,
    /// `"name 1.2-1"`, a `.rockspec` path or a git source. Recorded as one event.
    pub fn install_package(&self, spec: &str) -> Result<Outcome> {
        self.install_packages(&[spec])
    }

    /// Installs several packages as one event.
    pub fn install_packages(&self, specs: &[&str]) -> Result<Outcome> {
        let args: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        let targets = install::parse_targets(&args)?;
        install::install(
            self,
            DEFAULT_LOCK_TIMEOUT,
            &targets,
            &ServerChoice::default(),
            &args,
        )
    }

    /// Removes a package and the dependencies nothing else needs; refuses when installed
    /// packages depend on it.
    pub fn remove_package(&self, name: &str) -> Result<Outcome> {
        let env = self.lock(DEFAULT_LOCK_TIMEOUT)?;
        remove::remove(&env, &[name.to_string()], false)
    }

    /// Whether the log, `manifest.json` and the tree agree (`lvm verify`); problems are listed,
    /// not raised.
    pub fn check_health(&self) -> Result<VerifyReport> {
        verify::verify(self)
    }

    /// Returns to an earlier state, recorded as a new event (`lvm rollback`).
    pub fn rollback(&self, spec: RollbackSpec) -> Result<RollbackOutcome> {
        let env = self.lock(DEFAULT_LOCK_TIMEOUT)?;
        rollback::rollback(&env, &spec)
    }

    /// Package changes from revision or profile `from` to `to` (`lvm diff`).
    pub fn diff(&self, from: &str, to: &str) -> Result<Vec<Change>> {
        let state = |rev: &str| -> Result<manifest::Manifest> {
            let commit = self.repo().resolve_rev(rev)?;
            Ok(self.repo().manifest_at(commit)?)
        };
        Ok(manifest::diff(&state(from)?, &state(to)?))
    }

    /// The module paths and `bin` directory of the live tree, through the stable `tree`
    /// symlink (so they stay right across installs and rollbacks).
    pub fn lua_paths(&self) -> Result<LuaPaths> {
        Ok(tree::lua_path_strings(&self.tree_path(), self.lua())?)
    }

    /// An embedded Lua 5.4 state that finds the environment's modules, C modules included
    /// when the running executable exports the Lua C API (the `lvm` binary does).
    pub fn vm(&self) -> Result<Vm> {
        Vm::new(&self.tree_path()).map_err(|source| Error::StartLua {
            root: self.root().to_path_buf(),
            source,
        })
    }

    /// An external interpreter (`"lua5.4"`, `"luajit"`, a path, or a command of the tree's
    /// `bin`) set up with the environment's paths.
    pub fn lua_process(&self, program: impl AsRef<OsStr>) -> Result<LuaProcess> {
        Ok(LuaProcess::new(program, &self.lua_paths()?, self.lua()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_their_kind_through_the_layers() {
        let busy = crate::env::LockBusy {
            root: "/envs/x".into(),
            waited: Duration::from_secs(1),
        };
        let busy = Error::Env(crate::env::EnvError::from(busy));
        assert_eq!(busy.kind(), ErrorKind::LockBusy);
        let version = crate::version::Version::parse("").unwrap_err();
        assert_eq!(Error::from(version).kind(), ErrorKind::BadInput);
        let unreadable = crate::events::EventError::Missing {
            commit: "abc".into(),
        };
        assert_eq!(Error::from(unreadable).kind(), ErrorKind::Damaged);
        let status = crate::fetch::FetchError::HttpStatus {
            url: "http://127.0.0.1:1/x".into(),
            status: 503,
        };
        // Wrapped as the source of a failed download, the network stays the network.
        let wrapped = Error::Sources {
            url: "http://127.0.0.1:1/x".into(),
            source: Box::new(status.into()),
        };
        assert_eq!(wrapped.kind(), ErrorKind::Network);
        let io = crate::tree::files::FsError {
            action: "write",
            path: "/x".into(),
            cause: std::io::Error::other("disk"),
        };
        assert_eq!(Error::from(io).kind(), ErrorKind::Other);
    }

    #[test]
    fn a_failing_candidate_source_gives_the_resolution_its_kind() {
        let unreachable = Error::from(crate::server::ServerError::NoManifest {
            server: "http://127.0.0.1:1".into(),
            tried: "manifest".into(),
        });
        let failed = crate::resolve::ResolveError::Dependencies {
            package: "x".into(),
            version: crate::version::Version::parse("1.0-1").unwrap(),
            cause: Box::new(unreachable),
        };
        assert_eq!(Error::from(failed).kind(), ErrorKind::Network);
    }
}
