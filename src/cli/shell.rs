//! Shell integration: `lvm completions SHELL`, `lvm man`, and `lvm shell-init SHELL`, which prints
//! a hook that activates the nearest environment's paths whenever the directory changes.

use anyhow::Result;
use clap::{Args, CommandFactory, ValueEnum};

use super::{Cli, exit};

/// The variable that tells lvm a shell is asking for completions, and which shell.
pub const COMPLETE_VAR: &str = "LVM_COMPLETE";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShellKind {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  lvm completions bash > ~/.local/share/bash-completion/completions/lvm
  lvm completions zsh > ~/.zfunc/_lvm  (with fpath+=~/.zfunc before compinit)
  lvm completions fish > ~/.config/fish/completions/lvm.fish")]
pub struct CompletionsArgs {
    pub shell: ShellKind,
}

/// Prints the shell's completion script: it calls `lvm` back with `LVM_COMPLETE=SHELL` at each
/// Tab, so subcommands and flags come from the CLI definition and profile, package and remote
/// names from the environment that applies where the shell is (`complete.rs`).
pub fn completions(args: CompletionsArgs) -> Result<i32> {
    use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};
    let shell: &dyn EnvCompleter = match args.shell {
        ShellKind::Bash => &Bash,
        ShellKind::Zsh => &Zsh,
        ShellKind::Fish => &Fish,
    };
    let name = Cli::command().get_name().to_string();
    shell.write_registration(COMPLETE_VAR, &name, &name, &name, &mut std::io::stdout())?;
    Ok(exit::OK)
}

/// Prints the man page (roff) generated from the CLI definition.
pub fn man() -> Result<i32> {
    let page = clap_mangen::Man::new(Cli::command());
    page.render(&mut std::io::stdout())?;
    Ok(exit::OK)
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  eval \"$(lvm shell-init bash)\"  in ~/.bashrc
  eval \"$(lvm shell-init zsh)\"   in ~/.zshrc
  lvm shell-init fish | source   in ~/.config/fish/config.fish")]
pub struct ShellInitArgs {
    pub shell: ShellKind,
}

/// The hook for a shell profile: at every prompt it runs `lvm shell-hook`, which activates the
/// environment that applies in the current directory (the nearest `.lvm/`, or `LVM_ENV`) and
/// undoes what the previous activation added when it no longer applies.
pub fn shell_init(args: ShellInitArgs) -> Result<i32> {
    print!("{}", hook(args.shell));
    Ok(exit::OK)
}

fn hook(shell: ShellKind) -> &'static str {
    match shell {
        ShellKind::Bash => {
            r#"# lvm: activate the nearest environment, and leave it on the way out. Add to ~/.bashrc:
#   eval "$(lvm shell-init bash)"
_lvm_hook() {
  local out
  out="$(command lvm shell-hook bash 2>/dev/null)" || return 0
  [ -n "$out" ] && eval "$out"
  return 0
}
case ";${PROMPT_COMMAND:-};" in
  *";_lvm_hook;"*) ;;
  *) PROMPT_COMMAND="_lvm_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}" ;;
esac
"#
        }
        ShellKind::Zsh => {
            r#"# lvm: activate the nearest environment, and leave it on the way out. Add to ~/.zshrc:
#   eval "$(lvm shell-init zsh)"
_lvm_hook() {
  local out
  out="$(command lvm shell-hook zsh 2>/dev/null)" || return 0
  [[ -n "$out" ]] && eval "$out"
  return 0
}
autoload -Uz add-zsh-hook
add-zsh-hook precmd _lvm_hook
add-zsh-hook chpwd _lvm_hook
_lvm_hook
"#
        }
        ShellKind::Fish => {
            r#"# lvm: activate the nearest environment, and leave it on the way out. Add to config.fish:
#   lvm shell-init fish | source
function _lvm_hook --on-variable PWD --on-event fish_prompt
    set -l out (command lvm shell-hook fish 2>/dev/null | string collect)
    or return 0
    test -n "$out"; and echo $out | source
end
_lvm_hook
"#
        }
    }
}
