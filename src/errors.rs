//! Error text and kinds for callers: an error chain on one line, outermost first, each cause
//! said once, and the [`ErrorKind`] every error of the operations boundary answers to.

use std::error::Error;

/// What kind of failure an error is, for callers that react to each differently (retry later,
/// ask the user, report a bug). Every error an operation or the environment returns says its
/// kind (`ops::Error::kind`, `env::EnvError::kind`), each lower module classifying its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Another process is changing the environment; retrying later may work.
    LockBusy,
    /// What was asked cannot be had together: no set of versions satisfies every constraint,
    /// histories diverged, a profile or remote already exists, installed packages need what
    /// is being removed.
    Conflict,
    /// A rocks server, download or git remote could not be reached or read.
    Network,
    /// The request itself is wrong: an unknown package, profile or revision, a malformed
    /// version, rockspec, setting, date or name.
    BadInput,
    /// The environment's recorded state is unreadable or inconsistent (history, manifest.json,
    /// a build the store lacks); `lvm verify --repair` or the history may help.
    Damaged,
    /// Anything else (an I/O failure, a failed build, ...).
    Other,
}

/// An error and its causes (its `source()` chain) on one line, joined by `: `. Every lvm error
/// either quotes its cause in its own message or returns it as its source, never both, so
/// nothing repeats.
pub fn error_text(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("installing y")]
    struct Outer(#[source] crate::tree::files::FsError);

    #[test]
    fn error_text_joins_the_chain_and_says_each_cause_once() {
        // A typed error quoting its I/O cause, as the source of an outer one: once.
        let fs = crate::tree::files::FsError {
            action: "write",
            path: "/x".into(),
            cause: std::io::Error::other("disk full"),
        };
        let text = error_text(&Outer(fs));
        assert!(
            text.starts_with("installing y: cannot write /x: disk full"),
            "{text}"
        );
        assert_eq!(text.matches("disk full").count(), 1, "{text}");
    }

    #[test]
    fn a_context_chain_reads_outermost_first() {
        let err = anyhow::anyhow!("root cause").context("outer");
        assert_eq!(error_text(err.as_ref()), "outer: root cause");
    }
}
