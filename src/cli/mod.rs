//! The command-line interface: argument parsing (clap), output, and exit codes. Each command
//! lives in a file of its own and calls into the library.

use clap::{Parser, Subcommand};

mod lint;

/// Exit codes scripts can rely on.
pub mod exit {
    pub const OK: i32 = 0;
    /// The command failed (bad input, a failed install, an unhealthy environment).
    pub const FAILURE: i32 = 1;
    /// The command line itself was wrong.
    pub const USAGE: i32 = 2;
}

#[derive(Debug, Parser)]
#[command(name = "lvm", version, about = "A Lua environment manager", long_about = None)]
pub struct Cli {
    /// More output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a rockspec: print every problem with its field path, or `FILE: ok`.
    Lint(lint::LintArgs),
}

fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "lvm=debug,info",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return code;
        }
    };
    init_tracing(cli.verbose, cli.quiet);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Lint(args) => lint::run(args),
    }
}
