//! `lvm shell-hook SHELL` (hidden; run by the `shell-init` hooks at every prompt): moves the
//! shell from the environment it activated last to the one that applies here, undoing exactly
//! what the last activation added, like direnv.
//!
//! The shell keeps what an activation did in one exported variable ([`STATE_VAR`]): the
//! environment's root, each variable it set with the value it replaced, and the directory it
//! put in front of `PATH`. Leaving restores a variable only while it still holds the value lvm
//! set (a value the user changed since is theirs), and takes out of `PATH` only lvm's entry, so
//! entries added meanwhile stay.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::shell::ShellKind;
use super::{Context, exit};
use lvm::config::EnvOrigin;

/// The exported variable that holds the current activation (JSON).
pub const STATE_VAR: &str = "_LVM_ACTIVE";

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  eval \"$(lvm shell-hook bash)\"  what the bash hook of `lvm shell-init bash` runs")]
pub struct ShellHookArgs {
    pub shell: ShellKind,
}

/// One activation: which environment, what it set, what it put on `PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    root: String,
    vars: Vec<SetVar>,
    path_entry: String,
}

/// A variable an activation set, and the value it had before (`None`: unset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SetVar {
    name: String,
    before: Option<String>,
    value: String,
}

/// The environment that applies in the current directory, as the shell should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    root: String,
    vars: Vec<(String, String)>,
    path_entry: String,
}

/// What the shell must change: each variable's new value (`None`: unset), in name order.
pub type Changes = BTreeMap<String, Option<String>>;

/// The changes that take a shell whose variables are `current` from `active` (what the hook
/// activated last, if anything) to `target` (the environment that applies here, if any).
pub fn transition(
    current: &BTreeMap<String, String>,
    active: Option<&Activation>,
    target: Option<&Target>,
) -> Changes {
    let mut vars: BTreeMap<String, Option<String>> = BTreeMap::new();
    let get = |vars: &BTreeMap<String, Option<String>>, name: &str| match vars.get(name) {
        Some(value) => value.clone(),
        None => current.get(name).cloned(),
    };
    if let (Some(active), Some(target)) = (active, target)
        && still_in_place(current, active, target)
    {
        return Changes::new();
    }
    if let Some(active) = active {
        for set in &active.vars {
            if get(&vars, &set.name).as_deref() == Some(set.value.as_str()) {
                vars.insert(set.name.clone(), set.before.clone());
            }
        }
        let path = get(&vars, "PATH").unwrap_or_default();
        vars.insert(
            "PATH".into(),
            Some(without_entry(&path, &active.path_entry)),
        );
    }
    let mut state = None;
    if let Some(target) = target {
        // What each variable holds once the last activation is undone is what this one
        // replaces.
        let set = target
            .vars
            .iter()
            .map(|(name, value)| SetVar {
                name: name.clone(),
                before: get(&vars, name),
                value: value.clone(),
            })
            .collect();
        state = Some(Activation {
            root: target.root.clone(),
            vars: set,
            path_entry: target.path_entry.clone(),
        });
        for (name, value) in &target.vars {
            vars.insert(name.clone(), Some(value.clone()));
        }
        let path = get(&vars, "PATH").unwrap_or_default();
        let path = if path.is_empty() {
            target.path_entry.clone()
        } else {
            format!("{}:{path}", target.path_entry)
        };
        vars.insert("PATH".into(), Some(path));
    }
    vars.insert(
        STATE_VAR.into(),
        state.map(|s| serde_json::to_string(&s).expect("an activation serializes")),
    );
    vars.retain(|name, value| current.get(name) != value.as_ref());
    vars
}

/// Whether the shell still shows exactly what `active` set and `target` is the same.
fn still_in_place(
    current: &BTreeMap<String, String>,
    active: &Activation,
    target: &Target,
) -> bool {
    let same_values = active.vars.len() == target.vars.len()
        && active
            .vars
            .iter()
            .zip(&target.vars)
            .all(|(set, (name, value))| set.name == *name && set.value == *value);
    let path_has_entry = current
        .get("PATH")
        .is_some_and(|p| p.split(':').any(|e| e == active.path_entry));
    active.root == target.root
        && active.path_entry == target.path_entry
        && same_values
        && path_has_entry
        && active
            .vars
            .iter()
            .all(|set| current.get(&set.name) == Some(&set.value))
}

/// `path` (a `:`-separated list) without the first occurrence of `entry`.
fn without_entry(path: &str, entry: &str) -> String {
    let mut removed = false;
    path.split(':')
        .filter(|e| {
            let drop = !removed && *e == entry;
            removed |= drop;
            !drop
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// The shell commands that make `changes`.
pub fn script(changes: &Changes, shell: ShellKind) -> String {
    let mut out = String::new();
    for (name, value) in changes {
        let line = match (shell, value) {
            (ShellKind::Bash | ShellKind::Zsh, Some(v)) => {
                format!("export {name}={}", lvm::tree::wrapper::sh_quote(v))
            }
            (ShellKind::Bash | ShellKind::Zsh, None) => format!("unset {name}"),
            // fish keeps PATH as a list: one argument per entry.
            (ShellKind::Fish, Some(v)) if name == "PATH" => {
                let entries: Vec<String> = v
                    .split(':')
                    .filter(|e| !e.is_empty())
                    .map(lvm::tree::wrapper::fish_quote)
                    .collect();
                format!("set -gx PATH {}", entries.join(" "))
            }
            (ShellKind::Fish, Some(v)) => {
                format!("set -gx {name} {}", lvm::tree::wrapper::fish_quote(v))
            }
            (ShellKind::Fish, None) => format!("set -e {name}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Prints the commands that bring the shell to the environment that applies here: the nearest
/// `.lvm/` above the current directory, or the one `--env`/`LVM_ENV` names; none elsewhere
/// (the default environment is not activated by walking into a folder). An environment that
/// exists but cannot be opened leaves the shell as it is.
pub fn exec(ctx: &Context, args: ShellHookArgs) -> Result<i32> {
    let current: BTreeMap<String, String> = std::env::vars().collect();
    let active = current
        .get(STATE_VAR)
        .and_then(|s| serde_json::from_str::<Activation>(s).ok());
    let (path, origin) = ctx.env_location()?;
    let target = if origin == EnvOrigin::Default || !lvm::config::is_environment(&path) {
        None
    } else {
        match ctx.open_without_note() {
            Ok(env) => Some((target_for(&env)?, super::work_files_note(&env))),
            Err(err) => {
                tracing::debug!("shell hook leaves the shell as it is: {err:#}");
                return Ok(exit::OK);
            }
        }
    };
    let (target, note) = target.unzip();
    let changes = transition(&current, active.as_ref(), target.as_ref());
    // Said once, on entering: the hook runs at every prompt.
    if let Some(note) = note.flatten().filter(|_| !changes.is_empty()) {
        eprintln!("lvm: {note}");
    }
    print!("{}", script(&changes, args.shell));
    Ok(exit::OK)
}

fn target_for(env: &lvm::env::Environment) -> Result<Target> {
    let paths = lvm::tree::lua_path_strings(&env.tree_path(), env.lua())?;
    Ok(Target {
        root: env.root().display().to_string(),
        vars: vec![
            ("LUA_CPATH".into(), paths.lua_cpath),
            ("LUA_PATH".into(), paths.lua_path),
        ],
        path_entry: paths.path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn target(root: &str) -> Target {
        Target {
            root: root.into(),
            vars: vec![("LUA_PATH".into(), format!("{root}/share/?.lua;;"))],
            path_entry: format!("{root}/bin"),
        }
    }

    /// Applies `changes` to `vars`, as the shell does when it evaluates the script.
    fn apply(vars: &mut BTreeMap<String, String>, changes: &Changes) {
        for (name, value) in changes {
            match value {
                Some(v) => vars.insert(name.clone(), v.clone()),
                None => vars.remove(name),
            };
        }
    }

    fn active(vars: &BTreeMap<String, String>) -> Option<Activation> {
        vars.get(STATE_VAR)
            .map(|s| serde_json::from_str(s).unwrap())
    }

    fn step(vars: &mut BTreeMap<String, String>, to: Option<&Target>) {
        let changes = transition(vars, active(vars).as_ref(), to);
        apply(vars, &changes);
    }

    #[test]
    fn entering_then_leaving_restores_the_shell_exactly() {
        let start = shell(&[("PATH", "/usr/bin:/bin"), ("HOME", "/h")]);
        let mut vars = start.clone();
        step(&mut vars, Some(&target("/a")));
        assert_eq!(vars["PATH"], "/a/bin:/usr/bin:/bin");
        assert_eq!(vars["LUA_PATH"], "/a/share/?.lua;;");
        step(&mut vars, None);
        assert_eq!(vars, start);
    }

    #[test]
    fn moving_between_environments_keeps_only_the_second() {
        let start = shell(&[("PATH", "/usr/bin"), ("LUA_PATH", "/mine/?.lua")]);
        let mut vars = start.clone();
        step(&mut vars, Some(&target("/a")));
        step(&mut vars, Some(&target("/b")));
        assert_eq!(vars["PATH"], "/b/bin:/usr/bin");
        assert_eq!(vars["LUA_PATH"], "/b/share/?.lua;;");
        step(&mut vars, None);
        assert_eq!(vars, start);
    }

    #[test]
    fn staying_in_one_environment_changes_nothing() {
        let mut vars = shell(&[("PATH", "/usr/bin")]);
        step(&mut vars, Some(&target("/a")));
        let changes = transition(&vars, active(&vars).as_ref(), Some(&target("/a")));
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn what_the_user_changed_inside_an_environment_stays() {
        let mut vars = shell(&[("PATH", "/usr/bin")]);
        step(&mut vars, Some(&target("/a")));
        vars.insert("PATH".into(), format!("/tools:{}", vars["PATH"]));
        vars.insert("LUA_PATH".into(), "/own/?.lua".into());
        step(&mut vars, None);
        assert_eq!(vars["PATH"], "/tools:/usr/bin");
        assert_eq!(vars["LUA_PATH"], "/own/?.lua");
        assert!(!vars.contains_key(STATE_VAR));
    }

    #[test]
    fn a_path_entry_the_user_had_before_survives_leaving() {
        let mut vars = shell(&[("PATH", "/a/bin:/usr/bin")]);
        step(&mut vars, Some(&target("/a")));
        assert_eq!(vars["PATH"], "/a/bin:/a/bin:/usr/bin");
        step(&mut vars, None);
        assert_eq!(vars["PATH"], "/a/bin:/usr/bin");
    }

    #[test]
    fn outside_any_environment_with_nothing_active_prints_nothing() {
        let vars = shell(&[("PATH", "/usr/bin")]);
        assert!(transition(&vars, None, None).is_empty());
    }

    #[test]
    fn fish_gets_path_as_a_list_and_set_e_for_unset() {
        let mut changes = Changes::new();
        changes.insert("PATH".into(), Some("/a b/bin:/usr/bin".into()));
        changes.insert("LUA_PATH".into(), None);
        assert_eq!(
            script(&changes, ShellKind::Fish),
            "set -e LUA_PATH\nset -gx PATH '/a b/bin' '/usr/bin'\n"
        );
        assert_eq!(
            script(&changes, ShellKind::Bash),
            "unset LUA_PATH\nexport PATH='/a b/bin:/usr/bin'\n"
        );
    }
}
