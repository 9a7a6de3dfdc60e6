//! The errors of the curator's operations (setup, recommend): a catalog that does not say what
//! is asked of it, or an operation that failed, with what the setup undid.

use thiserror::Error;

use crate::errors::ErrorKind;

/// Why a setup or a recommendation failed.
#[derive(Debug, Error)]
pub enum CuratorError {
    #[error(transparent)]
    Catalog(#[from] super::CatalogError),
    #[error("profile '{profile}' has no packages to install{}", if *prod { " with --prod" } else { "" })]
    EmptyProfile { profile: String, prod: bool },
    /// A step of a setup failed; `step` says which and what was undone.
    #[error("{step}")]
    Setup {
        step: String,
        #[source]
        source: Box<crate::ops::Error>,
    },
    #[error(transparent)]
    Op(Box<crate::ops::Error>),
    /// `lvm recommend --scan` without a folder, for an environment that belongs to no project.
    #[error(
        "the environment {env} belongs to no project (it is not a project's .lvm folder), so there is no default folder to scan: name one, e.g. `lvm recommend --scan path/to/project`"
    )]
    NoProjectToScan { env: String },
    /// The folder to scan cannot be read.
    #[error("cannot scan {dir}: {cause}; name a project folder holding Lua files")]
    Scan { dir: String, cause: String },
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
}

impl From<crate::ops::Error> for CuratorError {
    fn from(e: crate::ops::Error) -> Self {
        CuratorError::Op(Box::new(e))
    }
}

impl CuratorError {
    /// What kind of failure this is, for callers that react to each differently.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CuratorError::Catalog(_)
            | CuratorError::EmptyProfile { .. }
            | CuratorError::NoProjectToScan { .. }
            | CuratorError::Scan { .. } => ErrorKind::BadInput,
            CuratorError::Setup { source, .. } | CuratorError::Op(source) => source.kind(),
            CuratorError::Env(e) => e.kind(),
        }
    }
}
