//! Reading the command line into [`Cli`]: clap's parser of every command, and for the commands
//! that start a Lua script or program, a parser of that one command, which is cheaper to build.

use std::ffi::OsString;

use clap::{Args, FromArgMatches, Parser};

use super::run::{ExecArgs, LuaArgs, RunArgs};
use super::{Cli, Command, GlobalArgs};

/// The command line as [`Cli`], or clap's error (which prints the usage or help asked for).
pub fn parse_args(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    match parse_script_command(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(args),
    }
}

/// `lvm run`, `lvm lua` and `lvm exec`, parsed by a parser of that command and the global
/// options only: building the parser of all fifty commands costs more than the rest of lvm's
/// start-up before the script runs. The command is the first of those three words on the line;
/// when it is not the command clap finds (`lvm --env run list`), clap finds a mistake. Anything
/// this parser does not take as it is (help, version, a mistake) gets `None`, so the full
/// parser answers it with its usual message; a command line this parser takes, the full one
/// reads the same way (see the tests).
fn parse_script_command(args: &[OsString]) -> Option<Cli> {
    let name = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| matches!(*a, "run" | "lua" | "exec"))?;
    let asks_for_help_or_version = args
        .iter()
        .any(|a| matches!(a.to_str(), Some("-h" | "--help" | "-V" | "--version")));
    if asks_for_help_or_version {
        return None;
    }
    let subcommand = match name {
        "run" => RunArgs::augment_args(clap::Command::new("run")),
        "lua" => LuaArgs::augment_args(clap::Command::new("lua")),
        "exec" => ExecArgs::augment_args(clap::Command::new("exec")),
        _ => return None,
    };
    let parser = GlobalArgs::augment_args(clap::Command::new("lvm")).subcommand(subcommand);
    let matches = parser.try_get_matches_from(args).ok()?;
    let globals = GlobalArgs::from_arg_matches(&matches).ok()?;
    let (_, sub) = matches.subcommand()?;
    let command = match name {
        "run" => Command::Run(RunArgs::from_arg_matches(sub).ok()?),
        "lua" => Command::Lua(LuaArgs::from_arg_matches(sub).ok()?),
        _ => Command::Exec(ExecArgs::from_arg_matches(sub).ok()?),
    };
    Some(Cli { globals, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("lvm")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// What the full parser makes of `words`.
    fn full(words: &[&str]) -> String {
        format!("{:?}", Cli::try_parse_from(argv(words)).unwrap())
    }

    #[test]
    fn script_commands_read_as_the_full_parser_reads_them() {
        let lines: &[&[&str]] = &[
            &["run", "-e", "print(1)"],
            &["run", "app.lua", "--port", "8080", "-v"],
            &["run", "-q", "--env", "/srv/e", "app.lua"],
            &["run", "--profile", "dev", "-e", "x()", "a", "b"],
            &["run", "-", "arg"],
            &[
                "run",
                "--lock-timeout",
                "5",
                "--jobs",
                "3",
                "-vv",
                "-e",
                "x",
            ],
            &[
                "run",
                "--color",
                "never",
                "--lua-bin",
                "/usr/bin/lua5.4",
                "s.lua",
            ],
            &[
                "run",
                "--http-timeout",
                "default",
                "--sign",
                "--dev",
                "--refresh",
                "s.lua",
            ],
            &["lua"],
            &["lua", "--profile", "ci", "--env", "e"],
            &["exec", "--", "busted", "spec/", "-o", "TAP"],
            &["exec", "--profile", "ci", "make", "test"],
            &["--env", "/srv/e", "run", "-e", "x"],
            &["-q", "--jobs=2", "lua"],
            // A script's name may start with '-', as in the full parser.
            &["run", "--no-such-flag", "x.lua"],
        ];
        for words in lines {
            let quick = parse_script_command(&argv(words))
                .unwrap_or_else(|| panic!("the quick parser refused {words:?}"));
            assert_eq!(format!("{quick:?}"), full(words), "for {words:?}");
        }
    }

    #[test]
    fn help_version_other_commands_and_mistakes_go_to_the_full_parser() {
        let lines: &[&[&str]] = &[
            &["run", "--help"],
            &["run", "app.lua", "-h"],
            &["--version"],
            &["--env", "run", "list"],
            &["install", "run"],
            // An environment named like a command: the full parser reads it.
            &["--env", "lua", "run", "-e", "x"],
            &["install", "foo"],
            &["run"],
            &["run", "--jobs", "none", "x.lua"],
            &["exec"],
            &["lua", "extra"],
        ];
        for words in lines {
            assert!(
                parse_script_command(&argv(words)).is_none(),
                "the quick parser took {words:?}"
            );
        }
    }
}
