//! Shell integration through the binary: completion scripts, the man page, and the `cd` hook.

use crate::common::rocks::{Lvm, stdout_ok};
use std::process::Command;

#[test]
fn completions_are_generated_for_each_shell_and_parse() {
    let lvm = Lvm::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = lvm.ok(&["completions", shell]);
        assert!(
            script.contains("install") && script.contains("rollback"),
            "{shell}"
        );
    }
    let bash = lvm.root.path().join("lvm.bash");
    std::fs::write(&bash, lvm.ok(&["completions", "bash"])).unwrap();
    stdout_ok(&Command::new("bash").arg("-n").arg(&bash).output().unwrap());
}

#[test]
fn man_page_lists_the_commands() {
    let page = Lvm::new().ok(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH lvm 1"),
        "{page}"
    );
    assert!(page.contains("install"));
}

/// The subcommand names listed under `Commands:` in a help text (without `help`).
fn listed_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim_end() != "Commands:")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_subcommand_help_has_examples() {
    let lvm = Lvm::new();
    // Walk the command tree from `lvm help`; `man` is hidden from the listing.
    let mut pending: Vec<Vec<String>> = listed_subcommands(&lvm.ok(&["help"]))
        .into_iter()
        .map(|name| vec![name])
        .collect();
    pending.push(vec!["man".to_string()]);
    let mut seen = 0;
    let mut missing = Vec::new();
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = lvm.ok(&args);
        if !help.contains("\nExamples:\n") {
            missing.push(path.join(" "));
        }
        for sub in listed_subcommands(&help) {
            let mut child = path.clone();
            child.push(sub);
            pending.push(child);
        }
        seen += 1;
    }
    // The walk did find the commands and the nested ones.
    assert!(seen > 40, "only {seen} commands found");
    assert!(
        missing.is_empty(),
        "no Examples: in the help of {missing:?}"
    );
}

#[test]
fn bash_hook_activates_the_nearest_local_environment() {
    let lvm = Lvm::new();
    let project = lvm.root.path().join("project");
    let server = lvm.root.path().join("empty-server");
    std::fs::create_dir_all(project.join("src/deep")).unwrap();
    std::fs::create_dir_all(&server).unwrap();
    let local_env = project.join(".lvm");
    let out = lvm
        .command()
        .env_remove("LVM_ENV")
        .args(["init", "--server"])
        .arg(&server)
        .arg(&local_env)
        .output()
        .unwrap();
    stdout_ok(&out);
    let script = format!(
        "eval \"$({lvm} shell-init bash)\"; cd '{deep}'; PATH=\"$(dirname {lvm}):$PATH\" _lvm_hook; printf '%s' \"$LUA_PATH\"",
        lvm = env!("CARGO_BIN_EXE_lvm"),
        deep = project.join("src/deep").display(),
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("LVM_HOME", lvm.home())
        .env("LVM_CONFIG", lvm.user_config())
        .env_remove("LVM_ENV")
        .env_remove("LUA_PATH")
        .output()
        .unwrap();
    let lua_path = stdout_ok(&out);
    assert!(
        lua_path.starts_with(&format!("{}/tree/share/lua/5.4/?.lua", local_env.display())),
        "{lua_path}"
    );
}
