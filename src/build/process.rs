//! Running the external commands of a build (compiler, make, cmake, shell) with their output
//! captured for the report and, on failure, for the error.

use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

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
    /// The slots the process takes one of while it runs, and how many may run at once.
    pub slots: Option<(&'a ProcessSlots, usize)>,
}

/// The build processes (compilers, linkers, tools) running at once, counted across every
/// build that shares this value: each rock's build may run beside others, but together they
/// start no more processes than the limit each one asks with. Clones share the count.
#[derive(Clone, Default)]
pub struct ProcessSlots {
    running: Arc<(Mutex<usize>, Condvar)>,
}

impl ProcessSlots {
    /// Waits until fewer than `limit` processes hold a slot, then holds one until the guard
    /// is dropped.
    pub fn acquire(&self, limit: usize) -> SlotGuard<'_> {
        let (count, freed) = &*self.running;
        let mut running = count.lock().unwrap_or_else(|p| p.into_inner());
        while *running >= limit.max(1) {
            running = freed.wait(running).unwrap_or_else(|p| p.into_inner());
        }
        *running += 1;
        SlotGuard { slots: self }
    }

    /// How many slots are held now.
    pub fn held(&self) -> usize {
        *self.running.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for ProcessSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessSlots({} held)", self.held())
    }
}

/// Slots are how builds share the machine, not a setting of any build: every two are equal.
impl PartialEq for ProcessSlots {
    fn eq(&self, _: &ProcessSlots) -> bool {
        true
    }
}

impl Eq for ProcessSlots {}

/// One held slot, given back when dropped.
pub struct SlotGuard<'a> {
    slots: &'a ProcessSlots,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let (count, freed) = &*self.slots.running;
        let mut running = count.lock().unwrap_or_else(|p| p.into_inner());
        *running = running.saturating_sub(1);
        freed.notify_all();
    }
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
    let slot = inv.slots.map(|(slots, limit)| slots.acquire(limit));
    let output = cmd.output();
    drop(slot);
    let output = match output {
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

/// Runs `invocations` with up to `jobs` of them at once. They are logged in the given order,
/// and the error is that of the first one (in that order) that failed; after a failure no new
/// one starts.
pub fn run_all(
    invocations: Vec<Invocation<'_>>,
    jobs: usize,
    log: &mut Vec<CommandRun>,
    not_found: impl Fn(std::io::Error) -> BuildError + Sync,
) -> Result<(), BuildError> {
    let jobs = jobs.clamp(1, invocations.len().max(1));
    if jobs == 1 {
        for inv in invocations {
            run(inv, log, &not_found)?;
        }
        return Ok(());
    }
    type Outcome = (Vec<CommandRun>, Result<(), BuildError>);
    let count = invocations.len();
    let queue = Mutex::new(invocations.into_iter().enumerate());
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..count).map(|_| None).collect());
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    if failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                    let Some((index, inv)) = next else { break };
                    let mut own = Vec::new();
                    let result = run(inv, &mut own, &not_found);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    if let Ok(mut outcomes) = outcomes.lock() {
                        outcomes[index] = Some((own, result));
                    }
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut first_error = None;
    for (own, result) in outcomes.into_iter().flatten() {
        log.extend(own);
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
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
                slots: None,
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

    fn sleeper<'a>(dir: &'a Path, name: &str, code: i32) -> Invocation<'a> {
        Invocation {
            step: name.to_string(),
            argv: ["sh", "-c", &format!("sleep 0.4; echo {name}; exit {code}")]
                .map(String::from)
                .to_vec(),
            cwd: dir,
            env: None,
            slots: None,
        }
    }

    /// A command that marks itself started in `dir`, then waits (at most 20 s) until `others`
    /// commands have started too, and fails if they never do: it succeeds only when that many
    /// run at the same time.
    fn rendezvous<'a>(dir: &'a Path, name: &str, together: usize) -> Invocation<'a> {
        let script = format!(
            "touch started-{name}; i=0; \
             while [ \"$(ls started-* | wc -l)\" -lt {together} ]; do \
               i=$((i+1)); [ $i -gt 400 ] && {{ echo alone; exit 1; }}; sleep 0.05; \
             done; echo {name}"
        );
        Invocation {
            step: name.to_string(),
            argv: ["sh", "-c", &script].map(String::from).to_vec(),
            cwd: dir,
            env: None,
            slots: None,
        }
    }

    #[test]
    fn run_all_runs_up_to_jobs_at_once_and_logs_in_order() {
        let names = ["a", "b", "c", "d"];
        // With 4 jobs, the four commands meet: each waits until all four have started.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = Vec::new();
        let all = names.iter().map(|n| rendezvous(dir.path(), n, 4)).collect();
        run_all(all, 4, &mut log, |e| BuildError::io("start", "sh", e)).expect("all meet");
        let steps: Vec<&str> = log.iter().map(|c| c.step.as_str()).collect();
        assert_eq!(steps, names);
        assert_eq!(log[2].output, "c\n");
        // With 1 job, no two ever overlap (each holds the `busy` folder while it runs).
        let dir = tempfile::tempdir().expect("tempdir");
        let exclusive = "mkdir busy || { echo overlap; exit 1; }; sleep 0.05; rmdir busy";
        let all = names
            .iter()
            .map(|n| Invocation {
                step: n.to_string(),
                argv: ["sh", "-c", exclusive].map(String::from).to_vec(),
                cwd: dir.path(),
                env: None,
                slots: None,
            })
            .collect();
        run_all(all, 1, &mut Vec::new(), |e| {
            BuildError::io("start", "sh", e)
        })
        .expect("one at a time");
    }

    #[test]
    fn shared_slots_bound_the_processes_of_builds_running_side_by_side() {
        // Two builds of 3 commands, each allowed 3 at once, share one slot: no two commands
        // ever overlap (each holds the `busy` folder while it runs and fails if it finds it).
        let dir = tempfile::tempdir().expect("tempdir");
        let slots = ProcessSlots::default();
        let exclusive = "mkdir busy || { echo overlap; exit 1; }; sleep 0.05; rmdir busy";
        let build = || {
            let all: Vec<Invocation<'_>> = (0..3)
                .map(|i| Invocation {
                    step: format!("step {i}"),
                    argv: ["sh", "-c", exclusive].map(String::from).to_vec(),
                    cwd: dir.path(),
                    env: None,
                    slots: Some((&slots, 1)),
                })
                .collect();
            run_all(all, 3, &mut Vec::new(), |e| {
                BuildError::io("start", "sh", e)
            })
        };
        std::thread::scope(|scope| {
            let other = scope.spawn(build);
            build().expect("never overlapped");
            other.join().expect("joined").expect("never overlapped");
        });
        assert_eq!(slots.held(), 0);
    }

    #[test]
    fn run_all_reports_the_first_failure_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = vec![
            sleeper(dir.path(), "a", 0),
            sleeper(dir.path(), "b", 2),
            sleeper(dir.path(), "c", 3),
        ];
        let mut log = Vec::new();
        let err =
            run_all(all, 3, &mut log, |e| BuildError::io("start", "sh", e)).expect_err("b fails");
        assert!(err.to_string().contains("b failed"), "{err}");
        assert_eq!(log.len(), 3);
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
                slots: None,
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
