//! What the changing commands print: the operations' outcomes as text for people and as JSON
//! for scripts (`--json`), in one place so every command words them alike.

use serde_json::{Value, json};

use lvm::envrepo::short;
use lvm::manifest::Change;
use lvm::ops::diff::change_json;
use lvm::ops::install::Outcome;

/// The first line of an outcome: `{done} ({short commit})` after a change, else `nothing`.
pub fn headline(outcome: &Outcome, done: &str, nothing: &str) -> String {
    match outcome.commit {
        Some(commit) => format!("{done} ({})", short(commit)),
        None => nothing.to_string(),
    }
}

/// What `lvm install` says when nothing changed: which named packages are already there.
pub fn nothing_installed(outcome: &Outcome) -> String {
    match outcome.named.is_empty() {
        true => "Nothing to do".to_string(),
        false => format!(
            "Nothing to do: {} already installed",
            outcome.named.join(", ")
        ),
    }
}

/// The whole text: the headline, then one line per package change and the build statistics
/// (the headline alone when nothing changed).
pub fn text(outcome: &Outcome, headline: &str) -> String {
    if outcome.changes.is_empty() {
        return headline.to_string();
    }
    let mut out = format!("{headline}\n");
    for change in &outcome.changes {
        out.push_str(&format!("  {}\n", change.summary()));
        if let Some(constraint) = constraint_change(change) {
            out.push_str(&format!("      requested: {constraint}\n"));
        }
    }
    out.push_str(&build_counts(outcome));
    out
}

/// `(2 built, 49 from the store)`, with `, N from build caches` when caches supplied any
/// (those are not counted as from the store). Pure.
fn build_counts(outcome: &Outcome) -> String {
    let from_store = outcome.store_hits.saturating_sub(outcome.cache_hits);
    match outcome.cache_hits {
        0 => format!("({} built, {from_store} from the store)", outcome.builds),
        cached => format!(
            "({} built, {from_store} from the store, {cached} from build caches)",
            outcome.builds
        ),
    }
}

/// The outcome as JSON: the commit (null when nothing was recorded), the changes as `lvm diff
/// --json` lists them, and the statistics.
pub fn json(outcome: &Outcome) -> Value {
    json!({
        "commit": outcome.commit.map(|c| c.to_string()),
        "changes": outcome.changes.iter().map(change_json).collect::<Vec<_>>(),
        "builds": outcome.builds,
        "store_hits": outcome.store_hits,
        "cache_hits": outcome.cache_hits,
    })
}

/// Prints an outcome as `--json` asks, or as text unless `--quiet`.
pub fn print(
    ctx: &super::Context,
    as_json: bool,
    outcome_json: Value,
    text: String,
) -> anyhow::Result<()> {
    if as_json {
        super::print_json(&outcome_json)?;
    } else if !ctx.quiet {
        println!("{text}");
    }
    Ok(())
}

/// Prints a package change's outcome: `{done} (commit)` and its changes, or `nothing` when
/// nothing was recorded; as JSON with `--json`.
pub fn report(
    ctx: &super::Context,
    as_json: bool,
    outcome: &Outcome,
    done: &str,
    nothing: &str,
) -> anyhow::Result<()> {
    let headline = headline(outcome, done, nothing);
    print(ctx, as_json, json(outcome), text(outcome, &headline))
}

/// `old → new` when a change moved what the user asked for (the constraint a package is
/// requested with, or whether it is requested at all).
fn constraint_change(change: &Change) -> Option<String> {
    let Change::Changed { from, to, .. } = change else {
        return None;
    };
    let (old, new) = (&from.reason.requested, &to.reason.requested);
    (old != new).then(|| format!("{} → {}", requested_text(old), requested_text(new)))
}

/// A requested constraint for people: `'>= 1.1'`, `any version`, or `not requested` (a
/// dependency only).
fn requested_text(requested: &Option<String>) -> String {
    match requested.as_deref() {
        None => "not requested".into(),
        Some("") => "any version".into(),
        Some(constraint) => format!("'{constraint}'"),
    }
}

/// `n` and the noun, singular for one: `1 package`, `3 packages`.
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_from_caches_are_counted_apart_from_the_store() {
        let outcome = |store_hits, cache_hits| Outcome {
            commit: None,
            named: vec![],
            changes: vec![],
            store_hits,
            cache_hits,
            builds: 2,
        };
        assert_eq!(build_counts(&outcome(3, 0)), "(2 built, 3 from the store)");
        assert_eq!(
            build_counts(&outcome(3, 3)),
            "(2 built, 0 from the store, 3 from build caches)"
        );
    }
}
