//! Running the external commands of a build (compiler, make, cmake, shell) with their output
//! captured for the report and, on failure, for the error.

use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

use super::vars::Variables;
use super::{BuildError, CommandRun};

/// How many trailing lines of a failed command's output an error carries.
const TAIL_LINES: usize = 40;
/// And at most how many bytes of them.
const TAIL_BYTES: usize = 6000;

/// One command to run: `argv[0]` is the program.
pub struct Invocation<'a> {
    /// What the command does, for the log and errors (`compiling src/x.c for module x`).
    pub step: String,
    pub argv: Vec<String>,
    pub cwd: &'a Path,
    /// Added to the inherited environment.
    pub env: Option<&'a Variables>,
}

/// Runs `inv`, appends it to `log`, and fails with its output tail if it does not succeed.
/// `not_found` turns a failure to start the program (missing, not executable) into the error
/// that explains which tool is missing.
pub fn run(
    inv: Invocation<'_>,
    log: &mut Vec<CommandRun>,
    not_found: impl FnOnce(std::io::Error) -> BuildError,
) -> Result<(), BuildError> {
    let display = display_command(&inv.argv);
    let Some((program, args)) = inv.argv.split_first() else {
        return Err(not_found(std::io::Error::new(
            ErrorKind::NotFound,
            "empty command",
        )));
    };
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(inv.cwd);
    if let Some(env) = inv.env {
        cmd.envs(env);
    }
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
            return Err(not_found(e));
        }
        Err(e) => return Err(BuildError::io(format!("run `{display}` in"), inv.cwd, e)),
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&stderr);
    }
    log.push(CommandRun {
        step: inv.step.clone(),
        command: display.clone(),
        cwd: inv.cwd.to_path_buf(),
        output: text.clone(),
    });
    if output.status.success() {
        return Ok(());
    }
    Err(BuildError::CommandFailed {
        step: inv.step,
        command: display,
        cwd: inv.cwd.to_path_buf(),
        status: output.status.to_string(),
        output: tail(&text),
    })
}

/// The last lines of a command's output.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if out.len() > TAIL_BYTES {
        let mut cut = out.len() - TAIL_BYTES;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("...{}", &out[cut..]);
    }
    if out.trim().is_empty() {
        "(no output)".to_string()
    } else {
        out
    }
}

/// The command as a shell would take it, for logs.
pub fn display_command(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Splits a command or flags setting (`CC="ccache gcc"`, `CFLAGS="-O2 -fPIC"`) into words.
pub fn words(setting: &str) -> Vec<String> {
    setting.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("line 60") && t.ends_with("line 99"), "{t}");
        assert_eq!(tail(""), "(no output)");
    }

    #[test]
    fn tail_is_bounded_in_bytes() {
        let text = "é".repeat(10_000);
        let t = tail(&text);
        assert!(t.len() <= TAIL_BYTES + 5);
    }

    #[test]
    fn commands_display_with_quotes_where_needed() {
        let argv = ["cc", "-DX=\"a b\"", "it's", "-o", "x.so"].map(String::from);
        assert_eq!(
            display_command(&argv),
            r#"cc '-DX="a b"' 'it'\''s' -o x.so"#
        );
    }

    #[test]
    fn failing_command_carries_its_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = Vec::new();
        let argv = ["sh", "-c", "echo out; echo boom >&2; exit 3"]
            .map(String::from)
            .to_vec();
        let err = run(
            Invocation {
                step: "testing".into(),
                argv,
                cwd: dir.path(),
                env: None,
            },
            &mut log,
            |e| BuildError::io("start", "sh", e),
        )
        .expect_err("exit 3");
        let msg = err.to_string();
        assert!(
            msg.contains("testing failed") && msg.contains("out\nboom"),
            "{msg}"
        );
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn missing_program_goes_through_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let argv = vec!["/nonexistent/prog".to_string()];
        let err = run(
            Invocation {
                step: "x".into(),
                argv,
                cwd: dir.path(),
                env: None,
            },
            &mut Vec::new(),
            |e| BuildError::ToolNotFound {
                tool: "prog".into(),
                purpose: "p".into(),
                reason: e.to_string(),
                hint: "h".into(),
            },
        )
        .expect_err("missing");
        assert!(matches!(err, BuildError::ToolNotFound { .. }));
    }
}
