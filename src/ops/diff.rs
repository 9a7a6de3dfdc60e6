//! `lvm diff`: the package changes between two states rendered for scripts (JSON) and for
//! pull requests (Markdown).

use crate::manifest::{self, Change};

/// One change as JSON for `lvm diff --json`.
pub fn change_json(change: &Change) -> serde_json::Value {
    match change {
        Change::Added { name, package } => serde_json::json!({
            "name": name, "change": "added", "to": package.version.to_string(),
            "source": package.source.describe(),
        }),
        Change::Removed { name, package } => serde_json::json!({
            "name": name, "change": "removed", "from": package.version.to_string(),
        }),
        Change::Changed { name, from, to } => serde_json::json!({
            "name": name, "change": manifest::change_kind(from, to),
            "from": from.version.to_string(), "to": to.version.to_string(),
            "source": to.source.describe(),
        }),
    }
}

/// A Markdown table for a pull-request comment.
pub fn markdown(from: &str, to: &str, changes: &[Change]) -> String {
    let mut out = format!("### Lua environment changes (`{from}` → `{to}`)\n\n");
    if changes.is_empty() {
        out.push_str("No package changes.\n");
        return out;
    }
    out.push_str("| Package | Change | From | To |\n|---|---|---|---|\n");
    for change in changes {
        let (kind, from_v, to_v) = match change {
            Change::Added { package, .. } => ("added", "".into(), package.version.to_string()),
            Change::Removed { package, .. } => ("removed", package.version.to_string(), "".into()),
            Change::Changed { from, to, .. } => (
                manifest::change_kind(from, to),
                from.version.to_string(),
                to.version.to_string(),
            ),
        };
        out.push_str(&format!(
            "| {} | {kind} | {from_v} | {to_v} |\n",
            change.name()
        ));
    }
    out
}
