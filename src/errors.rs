//! Error text for people: an error chain on one line, outermost first, each cause said once.
//! Used where an error becomes text (the CLI's last word, messages that embed a cause).

/// An error and its causes on one line, joined by `: `. Every lvm error either quotes its
/// cause in its own message or returns it as its source, never both, so nothing repeats.
pub fn error_text(err: &anyhow::Error) -> String {
    format!("{err:#}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn error_text_joins_the_chain_and_says_each_cause_once() {
        let err = anyhow!("root cause").context("outer");
        assert_eq!(error_text(&err), "outer: root cause");
        // A typed error quoting its I/O cause, under context: the cause appears once.
        let fs = crate::tree::files::FsError {
            action: "write",
            path: "/x".into(),
            cause: std::io::Error::other("disk full"),
        };
        let err = anyhow::Error::from(fs).context("installing y");
        let text = error_text(&err);
        assert!(
            text.starts_with("installing y: cannot write /x: disk full"),
            "{text}"
        );
        assert_eq!(text.matches("disk full").count(), 1, "{text}");
    }
}
