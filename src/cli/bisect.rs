//! `lvm bisect`: the first event after which a test command fails, found by a binary search over
//! the profile's states (`run`), or step by step like `git bisect` (`start`, `good`, `bad`, ...).

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::run::{ProgramArgs, RunTree, exec_on};
use super::{Context, exit};
use lvm::envrepo::short;
use lvm::ops::bisect::{self, BisectOutcome, Finding, FoundEvent, ManualStep, Verdict};
use lvm::ops::diff;

#[derive(Debug, Subcommand)]
pub enum BisectCommand {
    /// Test states automatically: CMD's exit code says good (0), bad (1-127 but 125) or skip
    /// (125); prints the first bad event with its package changes.
    Run(RunArgs),
    /// Start a manual bisection: the tree of the first state to test is made, `lvm bisect exec`
    /// runs a command on it.
    #[command(after_help = "\
Examples:
  lvm bisect start                       from the first event to the current state
  lvm bisect start --good HEAD~8 --json  the state to test, its tree and Lua as JSON")]
    Start(RangeArgs),
    /// The state under test (or REV) is good; makes the next one.
    #[command(after_help = "\
Examples:
  lvm bisect good          the state under test passes
  lvm bisect good a1b2c3d  that state of the bisection passes")]
    Good(MarkArgs),
    /// The state under test (or REV) is bad; makes the next one.
    #[command(after_help = "\
Examples:
  lvm bisect bad           the state under test fails
  lvm bisect bad --json    the next state (or the answer) as JSON")]
    Bad(MarkArgs),
    /// The state under test (or REV) cannot be tested; makes another one.
    #[command(after_help = "\
Examples:
  lvm bisect skip          the state under test cannot be judged
  lvm bisect skip HEAD~3   nor can that one")]
    Skip(MarkArgs),
    /// Run a program on the tree of the state under test, as `lvm exec` does.
    #[command(after_help = "\
Examples:
  lvm bisect start --good HEAD~8
  lvm bisect exec -- lua5.4 test.lua
  lvm bisect bad                        then good/bad/skip until the first bad event shows
  lvm bisect reset")]
    Exec(ProgramArgs),
    /// End a manual bisection, removing its state and tree.
    #[command(after_help = "\
Examples:
  lvm bisect reset         the environment is as before `lvm bisect start`")]
    Reset,
}

#[derive(Debug, Args)]
pub struct RangeArgs {
    /// A state where the test passes (a revision of the current profile; default: its first
    /// event). It is taken as good without testing, as git bisect does.
    #[arg(long, value_name = "REV")]
    pub good: Option<String>,
    /// A state where the test fails (default: the current state).
    #[arg(long, value_name = "REV")]
    pub bad: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm bisect run -- lua5.4 test.lua              from the first event to now
  lvm bisect run --good v1 -- busted spec/       from the state tagged v1
  lvm bisect run --good HEAD~20 --json -- make test
Each state is made from the store in a scratch tree (builds the store lacks are rebuilt);
the live tree and the history are not touched. Exit 125 from CMD skips a state.")]
pub struct RunArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// The test: run with the tested state's paths.
    #[command(flatten)]
    pub test: ProgramArgs,
}

#[derive(Debug, Args)]
pub struct MarkArgs {
    /// A state of the bisection to mark instead of the one under test.
    #[arg(value_name = "REV")]
    pub rev: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(ctx: &Context, command: BisectCommand) -> Result<i32> {
    let env = ctx.open()?;
    match command {
        BisectCommand::Run(args) => {
            let search = bisect::plan(&env, args.range.good.as_deref(), args.range.bad.as_deref())?;
            let outcome = bisect::run(&env, search, &args.test.command)?;
            super::outcome::print(ctx, args.range.json, run_json(&outcome), run_text(&outcome))?;
            Ok(finding_code(&outcome.finding))
        }
        BisectCommand::Start(args) => {
            let step = bisect::start(&env, args.good.as_deref(), args.bad.as_deref())?;
            print_step(ctx, args.json, &step)
        }
        BisectCommand::Good(args) => mark(ctx, &env, Verdict::Good, args),
        BisectCommand::Bad(args) => mark(ctx, &env, Verdict::Bad, args),
        BisectCommand::Skip(args) => mark(ctx, &env, Verdict::Skip, args),
        BisectCommand::Exec(args) => {
            let (_, tree, lua) = bisect::current_tree(&env)?;
            exec_on(&env, &RunTree::at(tree, lua), &args.command)
        }
        BisectCommand::Reset => {
            let text = match bisect::reset(&env)? {
                true => "Bisection ended; its tree is removed",
                false => "No bisection in progress",
            };
            if !ctx.quiet {
                println!("{text}");
            }
            Ok(exit::OK)
        }
    }
}

fn mark(
    ctx: &Context,
    env: &lvm::env::Environment,
    verdict: Verdict,
    args: MarkArgs,
) -> Result<i32> {
    let step = bisect::mark(env, verdict, args.rev.as_deref())?;
    print_step(ctx, args.json, &step)
}

/// 0 when the first bad event was found, 1 when the search could not name one.
fn finding_code(finding: &Finding) -> i32 {
    match finding {
        Finding::FirstBad(_) => exit::OK,
        _ => exit::FAILURE,
    }
}

fn event_json(event: &FoundEvent) -> Value {
    json!({
        "commit": event.commit.to_string(),
        "summary": event.summary,
        "timestamp": event.timestamp.to_rfc3339(),
        "changes": event.changes.iter().map(diff::change_json).collect::<Vec<_>>(),
    })
}

fn finding_json(finding: &Finding) -> Value {
    match finding {
        Finding::FirstBad(event) => json!({"result": "first_bad", "first_bad": event_json(event)}),
        Finding::AllGood { bad } => json!({"result": "all_good", "bad": bad.to_string()}),
        Finding::BadSkipped { bad } => json!({"result": "bad_skipped", "bad": bad.to_string()}),
        Finding::OnlySkipped { candidates } => json!({
            "result": "only_skipped",
            "candidates": candidates.iter().map(event_json).collect::<Vec<_>>(),
        }),
    }
}

fn run_json(outcome: &BisectOutcome) -> Value {
    let mut value = finding_json(&outcome.finding);
    value["states"] = json!(outcome.states);
    value["steps"] = outcome
        .trials
        .iter()
        .map(|t| {
            json!({
                "commit": t.commit.to_string(),
                "summary": t.summary,
                "verdict": t.verdict.as_str(),
                "rebuilt": t.rebuilt,
                "materialize_ms": t.materialize_ms,
                "test_ms": t.test_ms,
            })
        })
        .collect();
    value
}

/// An event and its package changes, one per line.
fn event_text(event: &FoundEvent) -> String {
    let mut out = format!(
        "{} {} ({})\n",
        short(event.commit),
        event.summary,
        event.timestamp.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if event.changes.is_empty() {
        out.push_str("  (no package changes: the settings changed)\n");
    }
    for change in &event.changes {
        out.push_str(&format!("  {}\n", change.summary()));
    }
    out
}

fn finding_text(finding: &Finding) -> String {
    match finding {
        Finding::FirstBad(event) => format!("First bad event: {}", event_text(event)),
        Finding::AllGood { bad } => format!(
            "The test passes at the bad state {}: every state in the range is good, so no event \
             made it fail (give --bad a state where it fails)\n",
            short(*bad)
        ),
        Finding::BadSkipped { bad } => format!(
            "The test skipped the bad state {} (exit code 125): nothing can be concluded; give \
             --bad a state the test can judge\n",
            short(*bad)
        ),
        Finding::OnlySkipped { candidates } => {
            let mut out = String::from(
                "Only skipped states are left: the first bad event is one of these:\n",
            );
            for event in candidates {
                out.push_str(&event_text(event));
            }
            out
        }
    }
}

fn run_text(outcome: &BisectOutcome) -> String {
    let rebuilt: usize = outcome.trials.iter().map(|t| t.rebuilt).sum();
    format!(
        "{}Tested {} of {} states ({rebuilt} builds rebuilt; the rest from the store)",
        finding_text(&outcome.finding),
        outcome.trials.len(),
        outcome.states
    )
}

fn print_step(ctx: &Context, as_json: bool, step: &ManualStep) -> Result<i32> {
    match step {
        ManualStep::Testing {
            commit,
            summary,
            tree,
            lua,
            steps_left,
            rebuilt,
        } => {
            let value = json!({
                "result": "testing",
                "commit": commit.to_string(),
                "summary": summary,
                "tree": tree.display().to_string(),
                "lua": lua.as_str(),
                "steps_left": steps_left,
                "rebuilt": rebuilt,
            });
            let mut text = format!(
                "Testing {} {summary} (about {steps_left} more after this one)\n",
                short(*commit)
            );
            if *rebuilt > 0 {
                text.push_str(&format!(
                    "  {rebuilt} builds the store lacked were rebuilt\n"
                ));
            }
            text.push_str(&format!(
                "  its tree: {}\n  test it with `lvm bisect exec -- CMD`, then say `lvm bisect good`, `bad` or `skip`",
                tree.display()
            ));
            super::outcome::print(ctx, as_json, value, text)?;
            Ok(exit::OK)
        }
        ManualStep::Done(finding) => {
            let mut text = finding_text(finding);
            text.push_str("`lvm bisect reset` ends the bisection");
            super::outcome::print(ctx, as_json, finding_json(finding), text)?;
            Ok(finding_code(finding))
        }
    }
}
