//! Reading the command line into [`Cli`]: clap's parser of every command, and for the commands
//! that start a Lua script or program or that shells run at every prompt, a parser of that one
//! command, which is much cheaper to build.

use std::ffi::OsString;

use clap::{ArgMatches, Args, FromArgMatches, Parser};

use super::path::PathArgs;
use super::run::{ExecArgs, LuaArgs, RunArgs};
use super::shell_hook::ShellHookArgs;
use super::{Cli, Command, GlobalArgs};

/// The commands read by a parser of their own: the ones that start a Lua script or program,
/// and the ones shells run over and over (`eval "$(lvm path)"`, the hook of `lvm shell-init`
/// at every prompt).
const QUICK_COMMANDS: [&str; 5] = ["run", "lua", "exec", "path", "shell-hook"];

/// The command line as [`Cli`], or clap's error (which prints the usage or help asked for).
pub fn parse_args(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    match parse_quick_command(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(args),
    }
}

/// One of [`QUICK_COMMANDS`], parsed by a parser of that command and the global options only:
/// building the parser of all fifty commands costs more than the rest of lvm's start-up before
/// a script runs (about 1 ms and 230 page faults). The command is the first of those words on
/// the line; when it is not the command clap finds (`lvm --env run list`), clap finds a
/// mistake. Anything this parser does not take as it is (help, version, a mistake) gets
/// `None`, so the full parser answers it with its usual message; a command line this parser
/// takes, the full one reads the same way (see the tests).
fn parse_quick_command(args: &[OsString]) -> Option<Cli> {
    let name: &'static str = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find_map(|a| QUICK_COMMANDS.into_iter().find(|quick| *quick == a))?;
    let asks_for_help_or_version = args
        .iter()
        .any(|a| matches!(a.to_str(), Some("-h" | "--help" | "-V" | "--version")));
    if asks_for_help_or_version {
        return None;
    }
    let subcommand = quick_parser(name)?;
    let parser = GlobalArgs::augment_args(clap::Command::new("lvm")).subcommand(subcommand);
    let matches = parser.try_get_matches_from(args).ok()?;
    let globals = GlobalArgs::from_arg_matches(&matches).ok()?;
    let (_, sub) = matches.subcommand()?;
    let command = quick_command(name, sub)?;
    Some(Cli { globals, command })
}

/// The parser of the quick command `name`.
fn quick_parser(name: &'static str) -> Option<clap::Command> {
    let command = clap::Command::new(name);
    Some(match name {
        "run" => RunArgs::augment_args(command),
        "lua" => LuaArgs::augment_args(command),
        "exec" => ExecArgs::augment_args(command),
        "path" => PathArgs::augment_args(command),
        "shell-hook" => ShellHookArgs::augment_args(command),
        _ => return None,
    })
}

/// The quick command `name` from what its parser matched.
fn quick_command(name: &str, matched: &ArgMatches) -> Option<Command> {
    Some(match name {
        "run" => Command::Run(RunArgs::from_arg_matches(matched).ok()?),
        "lua" => Command::Lua(LuaArgs::from_arg_matches(matched).ok()?),
        "exec" => Command::Exec(ExecArgs::from_arg_matches(matched).ok()?),
        "path" => Command::Path(PathArgs::from_arg_matches(matched).ok()?),
        "shell-hook" => Command::ShellHook(ShellHookArgs::from_arg_matches(matched).ok()?),
        _ => return None,
    })
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
    fn quick_commands_read_as_the_full_parser_reads_them() {
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
            &["path"],
            &["path", "--shell", "fish", "--append"],
            &["path", "--json"],
            &["path", "--lr-cpath", "--env", "e"],
            &["--env", "path", "path"],
            &["shell-hook", "bash"],
            &["shell-hook", "fish"],
            &["-q", "shell-hook", "zsh"],
        ];
        for words in lines {
            let quick = parse_quick_command(&argv(words))
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
            &["which", "path"],
            &["path", "--json", "--lr-path"],
            &["path", "--shell", "tcsh"],
            &["shell-hook"],
            &["shell-hook", "bash", "extra"],
            &["install", "shell-hook"],
        ];
        for words in lines {
            assert!(
                parse_quick_command(&argv(words)).is_none(),
                "the quick parser took {words:?}"
            );
        }
    }
}
