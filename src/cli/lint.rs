//! `lvm lint FILE.rockspec`: reports every problem in a rockspec, one per line with its field
//! path (or source line), or `FILE: ok`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use lvm::rockspec::{self, Problem};

use super::exit;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm lint foo-1.0-1.rockspec         every problem with its field path, or `FILE: ok`
  lvm lint foo-1.0-1.rockspec --json  the same as JSON")]
pub struct LintArgs {
    /// The rockspec to check.
    pub file: PathBuf,
    /// Print the result as JSON: {"file", "ok", "problems": [{"path", "line", "message", "severity"}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    file: &'a str,
    ok: bool,
    problems: &'a [Problem],
}

pub fn exec(args: LintArgs) -> anyhow::Result<i32> {
    let file = args.file.display().to_string();
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {file} (check that the path names a rockspec)"))?;
    let mut problems = rockspec::lint(&source, &file);
    // Where the build would put files needs the typed rockspec, which a broken one lacks.
    if let Ok(parsed) = rockspec::Rockspec::from_lua(&source, &file) {
        problems.extend(lvm::build::lint_destinations(&parsed.build));
    }
    let ok = problems.is_empty();
    if args.json {
        let report = Report {
            file: &file,
            ok,
            problems: &problems,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if ok {
        println!("{file}: ok");
    } else {
        for problem in &problems {
            println!("{}", render(&file, problem));
        }
    }
    Ok(if ok { exit::OK } else { exit::FAILURE })
}

/// `file:3: error: syntax error: ...` for problems with a line, like compilers print them;
/// `file: error: build.type: ...` for the rest.
fn render(file: &str, problem: &Problem) -> String {
    let location = match problem.line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    };
    if problem.path.is_empty() {
        format!("{location}: {}: {}", problem.severity, problem.message)
    } else {
        format!(
            "{location}: {}: {}: {}",
            problem.severity, problem.path, problem.message
        )
    }
}
