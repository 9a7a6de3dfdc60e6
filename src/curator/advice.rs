//! What a recommendation is, shared by the rules of `recommend` and the project scan of
//! `usage`: one suggestion with its command, and the curated profile an environment follows.

use serde::Serialize;

/// One suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// `collection`, `dev-tools`, `prod-extras`, `update`, `duplicate`, `orphans`,
    /// `profile-conflict`.
    pub rule: &'static str,
    pub packages: Vec<String>,
    pub reason: String,
    /// The one command that applies it.
    pub command: String,
}

/// The curated profile an environment follows, and whether it was set up for production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveProfile {
    pub name: String,
    pub prod: bool,
}
