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
