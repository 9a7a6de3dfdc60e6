//! `lvm search TERM`: the packages on the configured rocks servers whose name contains TERM,
//! each once, with their newest versions, the servers publishing them and their summaries (for
//! at most `search::SUMMARY_LIMIT` of them). No match exits 0 too (`No package matches 'TERM'`,
//! or `[]`).

use anyhow::Result;
use clap::Args;

use super::servers::{ServerArgs, fetch_environment, read_scope};
use super::{Context, exit, print_json};
use lvm::ops::search::{self, SearchHit, Summaries};

/// How many versions a line shows; `--json` has them all.
const SHOWN_VERSIONS: usize = 3;

#[derive(Debug, Args)]
#[command(after_help = concat!("\
Examples:
  lvm search json         packages whose name contains 'json'
  lvm search              every package
  lvm search lpeg --only-server https://rocks.example.org
  lvm search lpeg --json  the hits as JSON

", fetch_environment!()))]
pub struct SearchArgs {
    /// A substring of the package name (empty: everything).
    #[arg(default_value = "")]
    pub term: String,
    /// Print the hits as a JSON array (`[]` when none), one per package and server: name,
    /// versions (newest first) and server.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub servers: ServerArgs,
}

pub fn exec(ctx: &Context, args: SearchArgs) -> Result<i32> {
    let (_, scope) = read_scope(ctx)?;
    let hits = search::search(
        &scope,
        &args.term,
        &args.servers.choice()?,
        Summaries::first(search::SUMMARY_LIMIT),
    )?;
    if args.json {
        print_json(&hits)?;
    } else if hits.is_empty() {
        // No match is a result, not a failure: exit 0, as with --json (`[]`).
        println!("No package matches '{}'", args.term);
    } else {
        for hit in &hits {
            println!("{}", line(hit));
        }
    }
    Ok(exit::OK)
}

/// `name newest versions [+N older]  (servers)  — summary`.
fn line(hit: &SearchHit) -> String {
    let mut out = hit.name.clone();
    for version in hit.versions.iter().take(SHOWN_VERSIONS) {
        out.push(' ');
        out.push_str(version);
    }
    let older = hit.versions.len().saturating_sub(SHOWN_VERSIONS);
    if older > 0 {
        out.push_str(&format!(" +{older} older"));
    }
    out.push_str(&format!("  ({})", hit.servers.join(", ")));
    if let Some(summary) = &hit.summary {
        out.push_str(&format!("  — {summary}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_the_newest_versions_the_servers_and_the_summary() {
        let mut hit = SearchHit {
            name: "dia-base".into(),
            versions: ["9.0-1", "2.0-1", "1.5-1", "1.0-1"]
                .map(String::from)
                .into(),
            servers: vec!["file:///b".into(), "file:///a".into()],
            summary: None,
        };
        assert_eq!(
            line(&hit),
            "dia-base 9.0-1 2.0-1 1.5-1 +1 older  (file:///b, file:///a)"
        );
        hit.versions.truncate(1);
        hit.summary = Some("Diamond base".into());
        assert_eq!(
            line(&hit),
            "dia-base 9.0-1  (file:///b, file:///a)  — Diamond base"
        );
    }
}
