//! `lvm run`, `lvm lua` and `lvm exec`: Lua scripts, the interactive Lua prompt, and other
//! programs, run inside an environment.

use std::ffi::{OsStr, OsString};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use super::{Context, exit};
use lvm::env::Environment;
use lvm::interpreter::Interpreter;
use lvm::luaversion::LuaVersion;
use lvm::tree;
use lvm::vm::{self, Interactive, Vm, VmError};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm run app.lua --port 8080        a script with arguments (arg[1], arg[2], ...)
  lvm run -e 'print(require(\"cmath\").gcd(12, 18))'
  lvm run --profile dev test.lua     with another profile's packages, without switching")]
pub struct RunArgs {
    /// Lua code to run instead of a script; the remaining arguments become arg[1], arg[2], ...
    #[arg(short = 'e', value_name = "CODE")]
    pub code: Option<String>,
    /// Use the packages of this profile without switching to it.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The script ('-' reads standard input), then its arguments.
    #[arg(
        value_name = "SCRIPT [ARGS]",
        required_unless_present = "code",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub rest: Vec<OsString>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm lua                           a prompt where require finds the packages
  lvm lua --profile dev             with another profile's packages, without switching
  echo 'print(_VERSION)' | lvm lua  piped input runs as a script")]
pub struct LuaArgs {
    /// Use the packages of this profile without switching to it.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm exec -- lua5.4 -e 'print(package.path)'
  lvm exec -- busted spec/           a command installed by a rock
  lvm exec --profile ci -- make test")]
pub struct ExecArgs {
    /// Use the packages of this profile without switching to it.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    #[command(flatten)]
    pub program: ProgramArgs,
}

/// A program to run and its arguments, after `--` (`lvm exec`, `lvm bisect`).
#[derive(Debug, Args)]
pub struct ProgramArgs {
    /// The program and its arguments (after `--`).
    #[arg(
        value_name = "COMMAND [ARGS]",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_parser = clap::value_parser!(OsString)
    )]
    pub command: Vec<OsString>,
}

pub fn run(ctx: &Context, args: RunArgs) -> Result<i32> {
    let Some(env) = ctx.open_if_any()? else {
        // Outside every environment: the embedded Lua with no packages.
        if args.profile.is_some() {
            bail!("--profile needs an environment: none here (see `lvm env list`, `lvm init`)");
        }
        return run_embedded(&Vm::plain()?, &args);
    };
    let tree = RunTree::open(ctx, &env, args.profile.as_deref())?;
    if !env.runs_embedded(tree.lua) {
        let interpreter = tree.interpreter(&env)?;
        let mut words: Vec<OsString> = Vec::new();
        match &args.code {
            Some(code) => {
                // `lua -e CODE ARGS` would take ARGS[1] for a script: the arguments reach the
                // code through `arg`, as they do in the embedded Lua.
                words.push("-e".into());
                words.push(lua_arg_table(&args.rest).into());
                words.push("-e".into());
                words.push(code.into());
            }
            None => words.extend(args.rest.iter().cloned()),
        }
        return tree.run_external(&interpreter, &words);
    }
    run_embedded(&tree.vm()?, &args)
}

/// `lvm run` in the embedded Lua: `-e CODE`, a script or `-` (stdin), with `arg` as `lua` sets
/// it, and the exit code a `lua` would give.
fn run_embedded(vm: &Vm, args: &RunArgs) -> Result<i32> {
    let (script, script_args, source, chunk_name) = match (&args.code, args.rest.split_first()) {
        (Some(code), _) => (
            OsString::from(code),
            args.rest.as_slice(),
            code.as_bytes().to_vec(),
            "=(command line)".to_string(),
        ),
        (None, Some((script, rest))) if script == "-" => {
            (script.clone(), rest, read_stdin()?, "=stdin".to_string())
        }
        (None, Some((script, rest))) => {
            let path = Path::new(script);
            let source = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    eprintln!("lua: cannot open {}: {e}", path.display());
                    return Ok(exit::FAILURE);
                }
            };
            (script.clone(), rest, source, format!("@{}", path.display()))
        }
        (None, None) => bail!("give a script to run, or code with -e (see `lvm run --help`)"),
    };
    let argv: Vec<OsString> = std::env::args_os().collect();
    vm.set_arg(
        &interpreter_args(&argv, &script, script_args),
        Some(&script),
        script_args,
    )?;
    Ok(report(vm.run_source(&source, &chunk_name, script_args)))
}

pub fn lua(ctx: &Context, args: LuaArgs) -> Result<i32> {
    let env = ctx.open()?;
    let tree = RunTree::open(ctx, &env, args.profile.as_deref())?;
    let interpreter = tree.interpreter(&env)?;
    if !interpreter.is_embedded() {
        // The interpreter's own prompt on a terminal; piped input runs as a script.
        let words: Vec<OsString> = match std::io::stdin().is_terminal() {
            true => vec!["-i".into()],
            false => vec!["-".into()],
        };
        return tree.run_external(&interpreter, &words);
    }
    let vm = tree.vm()?;
    let argv: Vec<OsString> = std::env::args_os().collect();
    vm.set_arg::<OsString, OsString>(&argv, None, &[])?;
    if !std::io::stdin().is_terminal() {
        // Piped input is a script, as `lua -` reads it.
        let source = read_stdin()?;
        return Ok(report(vm.run_source(&source, "=stdin", &[] as &[&str])));
    }
    let profile = match &args.profile {
        Some(p) => p.clone(),
        None => env.profile()?,
    };
    let version: String = vm.eval("_VERSION")?;
    println!(
        "{version} (embedded in lvm) in {} (profile '{profile}'); Ctrl-D to leave",
        env.root().display()
    );
    interactive(&vm)?;
    Ok(exit::OK)
}

pub fn exec(ctx: &Context, args: ExecArgs) -> Result<i32> {
    let env = ctx.open()?;
    let tree = RunTree::open(ctx, &env, args.profile.as_deref())?;
    exec_on(&env, &tree, &args.program.command)
}

/// Runs `command` (a program and its arguments) on `tree`, as `lvm exec` does; its exit code,
/// 127 when it cannot be run.
pub(super) fn exec_on(env: &Environment, tree: &RunTree, command: &[OsString]) -> Result<i32> {
    let Some((program, program_args)) = command.split_first() else {
        bail!("give the command to run after `--` (see `lvm exec --help`)");
    };
    let mut command = Command::new(program);
    command.args(program_args);
    tree.prepare(&mut command, &tree.interpreter(env)?)?;
    match command.status() {
        Ok(status) => Ok(vm::exit_code(status)),
        Err(e) => {
            eprintln!(
                "lvm exec: cannot run {}: {e} (looked in {} first, then PATH)",
                program.to_string_lossy(),
                tree::bin_dir(&tree.root).display()
            );
            // What shells answer for a command that cannot be found or run.
            Ok(127)
        }
    }
}

/// Lua code that sets `arg` to `-e` and `args` (what the standalone interpreter gives a
/// script), every byte written as a decimal escape so any argument survives quoting.
fn lua_arg_table(args: &[OsString]) -> String {
    let quote = |s: &OsStr| -> String {
        let bytes = s.as_encoded_bytes();
        let mut out = String::from("\"");
        for b in bytes {
            out.push_str(&format!("\\{b:03}"));
        }
        out.push('"');
        out
    };
    let items: Vec<String> = args.iter().map(|a| quote(a)).collect();
    format!("arg = {{ [0] = \"-e\", {} }}", items.join(", "))
}

/// Prints a Lua failure like the standalone interpreter and returns the exit code.
fn report(result: Result<(), VmError>) -> i32 {
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            match e.lua_message() {
                Some(message) => eprintln!("lua: {message}"),
                None => eprintln!("lua: {e}"),
            }
            exit::FAILURE
        }
    }
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut source = Vec::new();
    std::io::stdin()
        .read_to_end(&mut source)
        .context("reading Lua code from standard input")?;
    Ok(source)
}

/// The words of lvm's own command line before the script, which Lua's `arg` holds at negative
/// indices: everything before `script` when the command line ends with `script args...`,
/// else just the program name.
pub fn interpreter_args(argv: &[OsString], script: &OsStr, args: &[OsString]) -> Vec<OsString> {
    if let Some(at) = argv.len().checked_sub(args.len() + 1) {
        if argv[at] == script && argv[at + 1..] == *args {
            return argv[..at].to_vec();
        }
    }
    argv.first().cloned().into_iter().collect()
}

/// The tree a run uses: the live one, a scratch tree of another profile that is removed
/// when the run ends, or the tree of the state a bisection tests.
pub(super) struct RunTree {
    root: PathBuf,
    /// The Lua the tree is for (another profile's may differ from the environment's).
    lua: LuaVersion,
    /// Where the scratch tree of another profile is made (in `.lvm-tmp`, ignored by the
    /// environment's git); `None` for the live tree.
    scratch: Option<lvm::env::Scratch>,
}

impl RunTree {
    /// A tree that exists already at `root`, for Lua `lua`, that the run leaves in place.
    pub(super) fn at(root: PathBuf, lua: LuaVersion) -> RunTree {
        RunTree {
            root,
            lua,
            scratch: None,
        }
    }

    fn open(ctx: &Context, env: &Environment, profile: Option<&str>) -> Result<RunTree> {
        match profile {
            Some(p) if p != env.profile()? => RunTree::of_profile(ctx, env, p),
            _ => {
                if !env.tree_matches_head()? {
                    eprintln!(
                        "lvm: the rocks tree of {} does not match its recorded state; run `lvm sync`",
                        env.root().display()
                    );
                }
                Ok(RunTree {
                    root: env.tree_path(),
                    lua: env.lua(),
                    scratch: None,
                })
            }
        }
    }

    /// Makes `profile`'s tree from the store in a scratch directory. Writers delete every
    /// tree under `.trees/` that is not live, so the new tree is moved out of there while the
    /// writer lock keeps them away.
    fn of_profile(ctx: &Context, env: &Environment, profile: &str) -> Result<RunTree> {
        let head = env.repo().profile_head(profile)?;
        let manifest = env.repo().manifest_at(head)?;
        let scratch = env.scratch("run-")?;
        let root = scratch.path().join("tree");
        {
            let env = env.lock(ctx.lock_timeout)?;
            let built = env.materialize(&manifest).with_context(|| {
                format!("making the tree of profile '{profile}' from the store")
            })?;
            if let Err(e) = std::fs::rename(&built, &root) {
                let _ = tree::files::remove_tree(&built);
                return Err(e)
                    .with_context(|| format!("moving {} to {}", built.display(), root.display()));
            }
        }
        Ok(RunTree {
            root,
            lua: manifest.lua_version()?,
            scratch: Some(scratch),
        })
    }

    /// The interpreter for this tree's Lua: the environment's, or for another profile of
    /// another Lua, the one lvm finds for that Lua.
    fn interpreter(&self, env: &Environment) -> Result<Interpreter> {
        Ok(env.interpreter_for(self.lua)?)
    }

    /// Puts the tree on `command`'s paths; scripts of the tree's `bin` run with `interpreter`.
    fn prepare(&self, command: &mut Command, interpreter: &Interpreter) -> Result<()> {
        vm::in_tree(command, &self.root, self.lua, interpreter.bin.as_deref())?;
        Ok(())
    }

    /// Runs the external `interpreter` with `args` on this tree; its exit code.
    fn run_external(&self, interpreter: &Interpreter, args: &[OsString]) -> Result<i32> {
        let Some(bin) = &interpreter.bin else {
            bail!("no Lua {} interpreter to run", self.lua);
        };
        let mut command = Command::new(bin);
        command.args(args);
        self.prepare(&mut command, interpreter)?;
        let status = command
            .status()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(vm::exit_code(status))
    }

    /// The embedded Lua for this tree. With a scratch tree, `os.exit` removes it first, since
    /// exiting skips destructors.
    fn vm(&self) -> Result<Vm> {
        let vm = Vm::new(&self.root)?;
        if let Some(scratch) = &self.scratch {
            let dir = scratch.path().to_path_buf();
            let wrap = || -> mlua::Result<()> {
                let lua = vm.lua();
                let os: mlua::Table = lua.globals().get("os")?;
                let exit: mlua::Function = os.get("exit")?;
                let wrapper = lua.create_function(move |_, args: mlua::MultiValue| {
                    let _ = tree::files::remove_tree(&dir);
                    exit.call::<mlua::MultiValue>(args)
                })?;
                os.set("exit", wrapper)
            };
            wrap().context("preparing os.exit")?;
        }
        Ok(vm)
    }
}

/// The prompt loop of `lvm lua` on a terminal, like `lua -i`: expressions print their values,
/// incomplete statements continue on the next line, `_PROMPT`/`_PROMPT2` set the prompts.
fn interactive(vm: &Vm) -> Result<()> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new().context("starting line editing")?;
    let mut buffer = String::new();
    loop {
        // Lua writes through C's stdio; what it printed without a newline shows before the
        // prompt only once flushed.
        let _ = vm.eval::<()>("io.stdout:flush()");
        let (global, default) = if buffer.is_empty() {
            ("_PROMPT", "> ")
        } else {
            ("_PROMPT2", ">> ")
        };
        let prompt: String = vm
            .lua()
            .globals()
            .get::<Option<String>>(global)
            .ok()
            .flatten()
            .unwrap_or_else(|| default.to_string());
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(e).context("reading from the terminal"),
        };
        if !buffer.is_empty() {
            buffer.push('\n');
        }
        buffer.push_str(&line);
        let outcome = match vm.compile_interactive(&buffer) {
            Interactive::Incomplete => continue,
            Interactive::Ready { chunk, .. } => vm.call_interactive(&chunk),
            Interactive::Error(e) => Err(e),
        };
        let _ = editor.add_history_entry(buffer.as_str());
        buffer.clear();
        if let Err(e) = outcome {
            let _ = vm.eval::<()>("io.stdout:flush()");
            eprintln!("lua: {}", e.lua_message().unwrap_or_else(|| e.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn words_before_the_script_are_the_interpreter() {
        let argv = os(&["lvm", "--env", "e", "run", "s.lua", "a", "-x"]);
        assert_eq!(
            interpreter_args(&argv, OsStr::new("s.lua"), &os(&["a", "-x"])),
            os(&["lvm", "--env", "e", "run"])
        );
        let argv = os(&["lvm", "run", "-e", "print(1)", "a"]);
        assert_eq!(
            interpreter_args(&argv, OsStr::new("print(1)"), &os(&["a"])),
            os(&["lvm", "run", "-e"])
        );
    }

    #[test]
    fn unexpected_command_lines_keep_the_program_name() {
        let argv = os(&["lvm", "run", "s.lua", "--", "a"]);
        assert_eq!(
            interpreter_args(&argv, OsStr::new("s.lua"), &os(&["a"])),
            os(&["lvm"])
        );
        assert!(interpreter_args(&[], OsStr::new("s"), &[]).is_empty());
    }
}
