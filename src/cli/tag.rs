//! `lvm tag`: names an event (a git tag in the environment's repository), lists and deletes
//! tags. A tag works wherever a revision does (`rollback`, `diff`, `revert`, `show-event`).

use anyhow::Result;
use clap::Args;

use super::{Context, exit, print_json};
use lvm::envrepo::short;
use lvm::ops::tag;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm tag before-upgrade          name the current event
  lvm tag known-good HEAD~3       name an earlier one
  lvm rollback before-upgrade     use it as a revision (also diff, revert, show-event)
  lvm tag --list                  every tag with its event (--json for JSON)
  lvm tag --delete known-good")]
pub struct TagArgs {
    /// The tag to make (or delete with --delete).
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    pub name: Option<String>,
    /// The event to tag: a commit id (or prefix), HEAD~N, a profile or a tag (default: the
    /// current event).
    #[arg(conflicts_with_all = ["list", "delete"])]
    pub rev: Option<String>,
    /// List the tags with the events they name.
    #[arg(long, short = 'l')]
    pub list: bool,
    /// Delete the tag NAME.
    #[arg(long, short = 'd', conflicts_with = "list")]
    pub delete: bool,
    /// With --list: print a JSON array of name, commit, summary and time.
    #[arg(long, requires = "list")]
    pub json: bool,
}

pub fn exec(ctx: &Context, args: TagArgs) -> Result<i32> {
    let env = ctx.open()?;
    if args.list {
        let tags = tag::list(&env)?;
        if args.json {
            print_json(
                &tags
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "name": t.name,
                            "commit": t.commit.to_string(),
                            "summary": t.summary,
                            "time": t.time.to_rfc3339(),
                        })
                    })
                    .collect::<Vec<_>>(),
            )?;
        } else {
            for t in &tags {
                println!("{} {} {}", t.name, short(t.commit), t.summary);
            }
        }
        return Ok(exit::OK);
    }
    let name = args.name.as_deref().unwrap_or_default();
    if args.delete {
        let commit = tag::delete(&env, name)?;
        if !ctx.quiet {
            println!("Deleted tag '{name}' (was {})", short(commit));
        }
    } else {
        let commit = tag::create(&env, name, args.rev.as_deref())?;
        if !ctx.quiet {
            println!("Tagged {} as '{name}'", short(commit));
        }
    }
    Ok(exit::OK)
}
