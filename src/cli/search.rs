//! `lvm search TERM`: the packages on the configured rocks servers whose name contains TERM,
//! with their versions. No match exits 0 too (`No package matches 'TERM'`, or `[]`).

use anyhow::Result;
use clap::Args;

use super::servers::{ServerArgs, fetch_environment};
use super::{Context, exit, print_json};
use lvm::ops::search;

#[derive(Debug, Args)]
#[command(after_help = concat!("\
Examples:
  lvm search json         packages whose name contains 'json'
  lvm search              every package
  lvm search lpeg --only-server https://luarocks.org
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
    let env = ctx.open()?;
    let hits = search::search(&env, &args.term, &args.servers.choice()?)?;
    if args.json {
        print_json(&hits)?;
    } else if hits.is_empty() {
        // No match is a result, not a failure: exit 0, as with --json (`[]`).
        println!("No package matches '{}'", args.term);
    } else {
        for hit in &hits {
            println!("{} {}  ({})", hit.name, hit.versions.join(" "), hit.server);
        }
    }
    Ok(exit::OK)
}
