//! Shell integration through the binary: completion scripts, the man page, and the `cd` hook.

use crate::common::rocks::{Lvm, stdout_ok};
use std::process::Command;

/// Runs `script` in a real `shell` with the environment variables `lvm.command()` sets and lvm
/// on PATH; returns its stdout.
fn in_shell(lvm: &Lvm, shell: &str, script: &str) -> String {
    let probe = lvm.command();
    let mut cmd = Command::new(shell);
    for (key, value) in probe.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let lvm_dir = std::path::Path::new(env!("CARGO_BIN_EXE_lvm"))
        .parent()
        .unwrap();
    cmd.env("PATH", format!("{}:/usr/bin:/bin", lvm_dir.display()))
        .current_dir(lvm.root.path())
        .args(["-c", script]);
    stdout_ok(&cmd.output().unwrap())
}

/// An environment with profiles `dev` and `devel` and remotes `origin` and `backup`.
fn completion_env() -> Lvm {
    let lvm = Lvm::new();
    let server = lvm.root.path().join("empty-server");
    std::fs::create_dir_all(&server).unwrap();
    lvm.init(&[server.to_str().unwrap()]);
    lvm.ok(&["profile", "create", "dev"]);
    lvm.ok(&["profile", "create", "devel"]);
    for remote in ["origin", "backup"] {
        let url = lvm.root.path().join(remote);
        lvm.ok(&["remote", "add", remote, url.to_str().unwrap()]);
    }
    lvm
}

/// The first column of each line (fish prints `value<TAB>description`).
fn values(out: &str) -> Vec<&str> {
    out.lines()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect()
}

#[test]
#[cfg_attr(not(lvm_has_zsh), ignore = "needs zsh")]
fn zsh_completion_script_parses_and_zsh_gets_environment_names() {
    let lvm = completion_env();
    let script = lvm.ok(&["completions", "zsh"]);
    assert!(script.contains("LVM_COMPLETE"), "{script}");
    let file = lvm.root.path().join("lvm.zsh");
    std::fs::write(&file, &script).unwrap();
    stdout_ok(&Command::new("zsh").arg("-n").arg(&file).output().unwrap());
    // What the script's completion function asks lvm, as zsh would.
    let out = lvm
        .command()
        .env("LVM_COMPLETE", "zsh")
        .env("_CLAP_COMPLETE_INDEX", "3")
        .args(["--", "lvm", "profile", "switch", "dev"])
        .output()
        .unwrap();
    let out = stdout_ok(&out);
    assert!(out.contains("dev") && out.contains("devel"), "{out}");
}

#[test]
fn bash_completes_profiles_and_remotes_from_the_environment() {
    let lvm = completion_env();
    let script = lvm.root.path().join("lvm.bash");
    std::fs::write(&script, lvm.ok(&["completions", "bash"])).unwrap();
    stdout_ok(
        &Command::new("bash")
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap(),
    );
    let out = in_shell(
        &lvm,
        "bash",
        r#"source <(lvm completions bash)
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_TYPE=9;
  _clap_complete_lvm lvm "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}";
  printf '%s\n' "${COMPREPLY[@]}"; echo --; }
complete_words lvm profile switch dev
complete_words lvm push b
complete_words lvm prof"#,
    );
    let parts: Vec<Vec<&str>> = out
        .split("--\n")
        .map(|p| p.lines().map(str::trim).collect())
        .collect();
    assert_eq!(parts[0], ["dev", "devel"], "{out}");
    assert_eq!(parts[1], ["backup"], "{out}");
    assert!(
        parts[2].contains(&"profile") && parts[2].contains(&"profiles"),
        "{out}"
    );
}

#[test]
#[cfg_attr(not(lvm_has_fish), ignore = "needs fish")]
fn fish_completes_profiles_remotes_and_packages_from_the_environment() {
    let lvm = completion_env();
    let out = in_shell(
        &lvm,
        "fish",
        "lvm completions fish | source
complete -C 'lvm profile merge dev'; echo ==
complete -C 'lvm remote remove o'; echo ==
complete -C 'lvm push origin --profile dev'",
    );
    let parts: Vec<&str> = out.split("==\n").collect();
    assert_eq!(values(parts[0]), ["dev", "devel"], "{out}");
    assert_eq!(values(parts[1]), ["origin"], "{out}");
    assert_eq!(values(parts[2]), ["dev", "devel"], "{out}");
}

#[test]
fn installed_packages_complete_for_remove_show_and_upgrade() {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("server");
    let url = format!("file://{}", dir.display());
    crate::common::rocks::publish_fixtures_matching(&dir, &url, |n| {
        n.starts_with("chain-c-1") || n.starts_with("strutil")
    });
    lvm.init(&[&url]);
    lvm.ok(&["install", "chain-c", "strutil"]);
    for command in ["remove", "show", "upgrade"] {
        for (prefix, expected) in [("chain", "chain-c"), ("str", "strutil")] {
            let out = lvm
                .command()
                .env("LVM_COMPLETE", "fish")
                .args(["--", "lvm", command, prefix])
                .output()
                .unwrap();
            assert_eq!(values(&stdout_ok(&out)), [expected], "{command} {prefix}");
        }
    }
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

/// Two projects, each with its own `.lvm/`, and a folder outside both.
struct HookProjects {
    lvm: Lvm,
    a: std::path::PathBuf,
    b: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn hook_projects() -> HookProjects {
    let lvm = Lvm::new();
    let server = lvm.root.path().join("empty-server");
    std::fs::create_dir_all(&server).unwrap();
    let make = |name: &str| {
        let project = lvm.root.path().join(name);
        std::fs::create_dir_all(project.join("src")).unwrap();
        let out = lvm
            .command()
            .env_remove("LVM_ENV")
            .args(["init", "--server"])
            .arg(&server)
            .arg(project.join(".lvm"))
            .output()
            .unwrap();
        stdout_ok(&out);
        project
    };
    let (a, b) = (make("a"), make("b"));
    let outside = lvm.root.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    HookProjects { lvm, a, b, outside }
}

/// Runs `script` in a real `shell` that starts with PATH = lvm's folder and the system's, and
/// no LUA_PATH; returns its stdout lines.
fn run_hooked(projects: &HookProjects, shell: &str, script: &str) -> Vec<String> {
    let lvm_dir = std::path::Path::new(env!("CARGO_BIN_EXE_lvm"))
        .parent()
        .unwrap();
    let out = Command::new(shell)
        .args(["-c", script])
        .current_dir(projects.lvm.root.path())
        .env("PATH", format!("{}:/usr/bin:/bin", lvm_dir.display()))
        .env("LVM_HOME", projects.lvm.home())
        .env("LVM_CONFIG", projects.lvm.user_config())
        .env_remove("LVM_ENV")
        .env_remove("LUA_PATH")
        .env_remove("LUA_CPATH")
        .env_remove("_LVM_ACTIVE")
        .output()
        .unwrap();
    stdout_ok(&out).lines().map(str::to_string).collect()
}

/// After entering a, then b, then leaving both: each step's LUA_PATH and PATH as printed by
/// the shell (`-` for an unset LUA_PATH).
fn assert_enter_switch_leave(projects: &HookProjects, lines: &[String]) {
    let lvm_dir = std::path::Path::new(env!("CARGO_BIN_EXE_lvm"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let start_path = format!("{lvm_dir}:/usr/bin:/bin");
    let tree = |p: &std::path::Path| p.join(".lvm/tree").display().to_string();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("{}/share/lua/5.4/?.lua", tree(&projects.a))),
        "in a: {lines:?}"
    );
    assert_eq!(lines[1], format!("{}/bin:{start_path}", tree(&projects.a)));
    assert!(
        lines[2].starts_with(&format!("{}/share/lua/5.4/?.lua", tree(&projects.b))),
        "in b: {lines:?}"
    );
    assert!(
        !lines[2].contains(&tree(&projects.a)),
        "a left in b: {lines:?}"
    );
    assert_eq!(lines[3], format!("{}/bin:{start_path}", tree(&projects.b)));
    assert_eq!(lines[4], "-", "LUA_PATH outside both: {lines:?}");
    assert_eq!(lines[5], start_path, "PATH outside both");
}

#[test]
fn bash_hook_enters_switches_and_leaves_environments() {
    let p = hook_projects();
    // PROMPT_COMMAND runs only at an interactive prompt: the script calls the hook itself.
    let script = format!(
        "eval \"$(lvm shell-init bash)\"
show() {{ _lvm_hook; printf '%s\\n' \"${{LUA_PATH--}}\" \"$PATH\"; }}
cd '{a}/src' && show; cd '{b}' && show; cd '{out}' && show",
        a = p.a.display(),
        b = p.b.display(),
        out = p.outside.display()
    );
    assert_enter_switch_leave(&p, &run_hooked(&p, "bash", &script));
}

#[test]
#[cfg_attr(not(lvm_has_zsh), ignore = "needs zsh")]
fn zsh_hook_enters_switches_and_leaves_environments_on_cd() {
    let p = hook_projects();
    // The chpwd hook fires on `cd` by itself.
    let script = format!(
        "eval \"$(lvm shell-init zsh)\"
show() {{ printf '%s\\n' \"${{LUA_PATH--}}\" \"$PATH\"; }}
cd '{a}/src' && show; cd '{b}' && show; cd '{out}' && show",
        a = p.a.display(),
        b = p.b.display(),
        out = p.outside.display()
    );
    assert_enter_switch_leave(&p, &run_hooked(&p, "zsh", &script));
}

#[test]
#[cfg_attr(not(lvm_has_fish), ignore = "needs fish")]
fn fish_hook_enters_switches_and_leaves_environments_on_cd() {
    let p = hook_projects();
    // The PWD watcher fires on `cd` by itself.
    let script = format!(
        "lvm shell-init fish | source
function show
    if set -q LUA_PATH; echo $LUA_PATH; else; echo -; end
    string join : $PATH
end
cd '{a}/src'; and show; cd '{b}'; and show; cd '{out}'; and show",
        a = p.a.display(),
        b = p.b.display(),
        out = p.outside.display()
    );
    assert_enter_switch_leave(&p, &run_hooked(&p, "fish", &script));
}
