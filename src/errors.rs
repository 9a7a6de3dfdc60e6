//! Error text for people: one line per error chain, each cause said once.
//! Used where an error becomes text (the CLI's last word, messages that embed a cause).

/// An error and its causes on one line, skipping causes whose text an outer message already
/// includes (many error types quote their source in their own message).
pub fn error_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn error_text_skips_causes_already_quoted() {
        let inner = anyhow!("disk full");
        let err = inner
            .context("cannot write x: disk full")
            .context("installing y");
        assert_eq!(error_text(&err), "installing y: cannot write x: disk full");
        let err = anyhow!("root cause").context("outer");
        assert_eq!(error_text(&err), "outer: root cause");
    }
}
