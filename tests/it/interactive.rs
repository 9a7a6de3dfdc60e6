//! `lvm setup --interactive` and `lvm install --interactive` driven through a real
//! pseudo-terminal: the real binary draws its checklist on the pty, the test reads the screen
//! through a terminal emulator (vt100), types keys, and checks the environment afterwards with
//! `lvm list --json` and `lvm log --json`. Without a terminal, the flag must fail at once.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::common::rocks::{Lvm, publish_dir_matching};
use rexpect::process::{PtyProcess, WaitStatus};
use serde_json::Value;

const ROWS: u16 = 40;
const COLS: u16 = 220;
/// The machine may be loaded: generous, but never forever.
const PATIENCE: Duration = Duration::from_secs(120);

const DOWN: &str = "\x1b[B";
const SPACE: &str = " ";
const ENTER: &str = "\r";
const ESCAPE: &str = "\x1b";

/// lvm running in a pseudo-terminal, and what its screen shows.
struct Terminal {
    process: PtyProcess,
    writer: File,
    output: Receiver<Vec<u8>>,
    screen: vt100::Parser,
}

impl Terminal {
    /// Starts `lvm args` on a pty of ROWS x COLS.
    fn spawn(lvm: &Lvm, args: &[&str]) -> Terminal {
        Terminal::spawn_sized(lvm, args, ROWS, COLS)
    }

    /// Starts `lvm args` on a pty of `rows` x `cols` (set with `stty` before lvm starts, so its
    /// first look at the terminal size already sees it).
    fn spawn_sized(lvm: &Lvm, args: &[&str], rows: u16, cols: u16) -> Terminal {
        let template = lvm.command();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "stty rows {rows} cols {cols} && exec \"$0\" \"$@\""
            ))
            .arg(env!("CARGO_BIN_EXE_lvm"))
            .args(args)
            .env("TERM", "xterm");
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.current_dir(lvm.root.path());
        let mut process = PtyProcess::new(cmd).expect("starting lvm on a pty");
        process.set_kill_timeout(Some(5_000));
        let writer = process.get_file_handle().unwrap();
        let mut reader = process.get_file_handle().unwrap();
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Reading fails (EIO) once lvm has exited and the pty's other side is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Terminal {
            process,
            writer,
            output,
            screen: vt100::Parser::new(
                std::num::NonZeroU16::new(rows).unwrap(),
                std::num::NonZeroU16::new(cols).unwrap(),
                0,
            ),
        }
    }

    fn contents(&self) -> String {
        self.screen.screen().contents()
    }

    /// Reads output until `done` holds for the screen; panics with the screen after PATIENCE.
    fn wait_for(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.contents();
            if done(&screen) {
                return screen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; screen:\n{screen}"
            );
            match self
                .output
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(bytes) => self.screen.process(&bytes),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let screen = self.contents();
                    assert!(done(&screen), "lvm ended before {what}; screen:\n{screen}");
                    return screen;
                }
            }
        }
    }

    /// How many checklist lines show package `name`.
    fn lines_of(screen: &str, name: &str) -> usize {
        screen
            .lines()
            .filter(|l| {
                l.get(6..)
                    .is_some_and(|rest| rest.starts_with(&format!("{name} ")))
            })
            .count()
    }

    /// The screen line showing package `name` in the checklist.
    fn line_of(screen: &str, name: &str) -> String {
        screen
            .lines()
            .find(|l| {
                l.get(6..)
                    .is_some_and(|rest| rest.starts_with(&format!("{name} ")))
            })
            .unwrap_or_else(|| panic!("no checklist line for {name}:\n{screen}"))
            .to_string()
    }

    /// Types `keys`, then waits until the line of `name` looks as `expected` says.
    fn key(&mut self, keys: &str, name: &str, expected: impl Fn(&str) -> bool) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        self.wait_for(&format!("{name} after {keys:?}"), |s| {
            s.lines()
                .find(|l| {
                    l.get(6..)
                        .is_some_and(|r| r.starts_with(&format!("{name} ")))
                })
                .is_some_and(&expected)
        });
    }

    /// Presses `keys` and waits for lvm to exit; returns its exit code and the final screen.
    fn finish(mut self, keys: &str) -> (i32, String) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        let deadline = Instant::now() + PATIENCE;
        let code = loop {
            match self.process.status() {
                Some(WaitStatus::Exited(_, code)) => break code,
                Some(WaitStatus::StillAlive) | None => {}
                Some(other) => panic!("lvm ended with {other:?}:\n{}", self.contents()),
            }
            assert!(
                Instant::now() < deadline,
                "lvm did not exit; screen:\n{}",
                self.contents()
            );
            if let Ok(bytes) = self.output.recv_timeout(Duration::from_millis(100)) {
                self.screen.process(&bytes);
            }
        };
        while let Ok(bytes) = self.output.recv_timeout(Duration::from_millis(300)) {
            self.screen.process(&bytes);
        }
        (code, self.contents())
    }
}

fn ticked(line: &str) -> bool {
    line[2..5] == *"[x]"
}

fn active(line: &str) -> bool {
    line.starts_with('>')
}

fn curated_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/curated")
}

/// An environment on a file:// server with every curated fixture.
fn env_with_curated() -> Lvm {
    let lvm = Lvm::new();
    let dir = lvm.root.path().join("server");
    let url = format!("file://{}", dir.display());
    publish_dir_matching(&curated_dir(), &dir, &url, |_| true);
    lvm.init(&[&url]);
    lvm
}

fn events(lvm: &Lvm) -> Vec<Value> {
    let log: Value = serde_json::from_str(&lvm.ok(&["log", "--json"])).unwrap();
    log.as_array().unwrap().clone()
}

/// `name version requested?` for each installed package.
fn state(lvm: &Lvm) -> Vec<String> {
    let json: Value = serde_json::from_str(&lvm.ok(&["list", "--json"])).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let why = if p["requested"].is_null() {
                "dependency"
            } else {
                "requested"
            };
            format!(
                "{} {} {why}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn setup_checklist_shows_curated_facts_and_applies_the_picks_as_one_event() {
    let lvm = env_with_curated();
    lvm.ok(&["install", "penlight"]);
    assert_eq!(
        state(&lvm),
        [
            "luafilesystem 1.8.0-1 dependency",
            "penlight 1.14.0-1 requested"
        ]
    );
    let before = events(&lvm).len();

    let mut term = Terminal::spawn(&lvm, &["setup", "--interactive"]);
    let screen = term.wait_for("the checklist", |s| s.contains("luassert"));
    assert!(
        screen.contains("Curated packages for profile 'default'"),
        "{screen}"
    );
    // Installed packages are ticked, with the installed version and their own summary; the
    // curated category and rationale come with every line.
    let penlight = Terminal::line_of(&screen, "penlight");
    assert!(ticked(&penlight), "{penlight}");
    for text in [
        "(installed 1.14.0-1)",
        "[core]",
        "Batteries: tables, strings, paths, classes and more in pure Lua",
        "Test fixture standing in for penlight 1.14.0",
    ] {
        assert!(penlight.contains(text), "{text} in {penlight}");
    }
    assert!(ticked(&Terminal::line_of(&screen, "luafilesystem")));
    // Packages not installed are not ticked; their summary comes from the server's rockspec.
    let cjson = Terminal::line_of(&screen, "lua-cjson");
    assert!(!ticked(&cjson) && active(&cjson), "{cjson}");
    assert!(
        cjson.contains("Fast JSON encoding and decoding in C")
            && cjson.contains("Test fixture standing in for lua-cjson"),
        "{cjson}"
    );
    let busted = Terminal::line_of(&screen, "busted");
    assert!(!ticked(&busted) && busted.contains("[testing]"), "{busted}");

    // lua-cjson, luafilesystem, penlight, inspect: untick penlight, tick inspect.
    term.key(DOWN, "luafilesystem", active);
    term.key(DOWN, "penlight", active);
    term.key(SPACE, "penlight", |l| !ticked(l));
    term.key(DOWN, "inspect", active);
    term.key(SPACE, "inspect", ticked);
    let (code, screen) = term.finish(ENTER);
    assert_eq!(code, 0, "{screen}");

    // One event: inspect added, penlight gone, luafilesystem (left ticked) now requested.
    assert_eq!(
        state(&lvm),
        [
            "inspect 3.1.3-1 requested",
            "luafilesystem 1.8.0-1 requested"
        ]
    );
    let log = events(&lvm);
    assert_eq!(log.len(), before + 1, "{log:#?}");
    let event = &log[0]["event"];
    assert_eq!(event["kind"], "setup");
    assert_eq!(
        event["args"],
        serde_json::json!(["--interactive", "inspect >= 3.1"])
    );
    let changed: Vec<&str> = event["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        ["inspect", "luafilesystem", "penlight"],
        "{event:#}"
    );
    lvm.ok(&["verify"]);
}

#[test]
fn setup_checklist_for_a_profile_ticks_its_packages_and_sets_it_up_on_its_branch() {
    let lvm = env_with_curated();
    lvm.ok(&["install", "penlight"]);
    let mut term = Terminal::spawn(&lvm, &["setup", "minimal", "--interactive"]);
    let screen = term.wait_for("the checklist", |s| s.contains("luassert"));
    assert!(
        screen.contains("Profile 'minimal': its packages ticked"),
        "{screen}"
    );
    // The profile's packages are ticked, installed or not; the others are not.
    for name in ["lua-cjson", "luafilesystem", "penlight", "inspect"] {
        assert!(
            ticked(&Terminal::line_of(&screen, name)),
            "{name}:\n{screen}"
        );
    }
    for name in ["busted", "http", "lpeg"] {
        assert!(
            !ticked(&Terminal::line_of(&screen, name)),
            "{name}:\n{screen}"
        );
    }
    // Untick inspect; take the rest as the profile has it.
    term.key(DOWN, "luafilesystem", active);
    term.key(DOWN, "penlight", active);
    term.key(DOWN, "inspect", active);
    term.key(SPACE, "inspect", |l| !ticked(l));
    let (code, screen) = term.finish(ENTER);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Created profile 'minimal'"), "{screen}");

    // On the profile's own branch, one setup event recording the profile and the picks.
    let repo = git2::Repository::open(lvm.env_dir()).unwrap();
    assert_eq!(repo.head().unwrap().shorthand().unwrap(), "minimal");
    let event = &events(&lvm)[0]["event"];
    assert_eq!(event["kind"], "setup");
    assert_eq!(
        event["args"],
        serde_json::json!(["minimal", "--interactive", "lua-cjson >= 2.1"])
    );
    assert_eq!(
        state(&lvm),
        [
            "lua-cjson 2.1.0-1 requested",
            "luafilesystem 1.8.0-1 dependency",
            "penlight 1.14.0-1 requested"
        ]
    );
    // recommend knows the profile it follows.
    let recs: Value = serde_json::from_str(&lvm.ok(&["recommend", "--json", "--offline"])).unwrap();
    assert_eq!(recs["profile"]["name"], "minimal", "{recs:#}");
    lvm.ok(&["verify"]);
}

#[test]
fn install_checklist_lists_search_results_and_escape_changes_nothing() {
    let lvm = env_with_curated();
    lvm.ok(&["install", "lua-cjson"]);
    let snapshot = lvm.snapshot();

    // Escape leaves everything as it was.
    let mut term = Terminal::spawn(&lvm, &["install", "--interactive", "json"]);
    term.wait_for("the checklist", |s| s.contains("lua-cjson"));
    let (code, screen) = term.finish(ESCAPE);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Cancelled; nothing changed."), "{screen}");
    assert_eq!(lvm.snapshot(), snapshot);

    // Search results in name order: dkjson, lua-cjson (curated, installed).
    let before = events(&lvm).len();
    let mut term = Terminal::spawn(&lvm, &["install", "--interactive", "json"]);
    let screen = term.wait_for("the checklist", |s| s.contains("lua-cjson"));
    assert!(screen.contains("Packages matching 'json'"), "{screen}");
    let dkjson = Terminal::line_of(&screen, "dkjson");
    assert!(!ticked(&dkjson) && active(&dkjson), "{dkjson}");
    assert!(
        dkjson.contains("(2.6-1)") && dkjson.contains("a second JSON library"),
        "{dkjson}"
    );
    let cjson = Terminal::line_of(&screen, "lua-cjson");
    assert!(ticked(&cjson), "{cjson}");
    assert!(
        cjson.contains("(installed 2.1.0-1)")
            && cjson.contains("[core]")
            && cjson.contains("Fast JSON encoding"),
        "{cjson}"
    );
    assert!(
        !screen.contains("penlight"),
        "only matches are listed:\n{screen}"
    );
    term.key(SPACE, "dkjson", ticked);
    let (code, screen) = term.finish(ENTER);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        state(&lvm),
        ["dkjson 2.6-1 requested", "lua-cjson 2.1.0-1 requested"]
    );
    let log = events(&lvm);
    assert_eq!(log.len(), before + 1);
    assert_eq!(log[0]["event"]["kind"], "install");
    assert_eq!(
        log[0]["event"]["args"],
        serde_json::json!(["--interactive", "dkjson"])
    );
}

#[test]
fn install_checklist_lists_each_package_once_and_draws_its_header_once_at_80_columns() {
    let lvm = Lvm::new();
    let dir_a = lvm.root.path().join("server-a");
    let url_a = format!("file://{}", dir_a.display());
    publish_dir_matching(&curated_dir(), &dir_a, &url_a, |_| true);
    // A second server with some of the same packages, and an older penlight only.
    let dir_b = lvm.root.path().join("server-b");
    let url_b = format!("file://{}", dir_b.display());
    publish_dir_matching(&curated_dir(), &dir_b, &url_b, |n| {
        n.starts_with("dkjson-") || n.starts_with("lua-cjson-") || n == "penlight-1.12.0-1"
    });
    lvm.init(&[&url_b, &url_a]);
    let snapshot = lvm.snapshot();

    let header = "Packages matching 'json'";
    let mut term = Terminal::spawn_sized(&lvm, &["install", "--interactive", "json"], 40, 80);
    let screen = term.wait_for("the checklist", |s| s.contains("lua-cjson"));
    for name in ["dkjson", "lua-cjson"] {
        assert_eq!(Terminal::lines_of(&screen, name), 1, "{name}:\n{screen}");
    }
    assert_eq!(screen.matches(header).count(), 1, "{screen}");
    // The header fits on one line, with what the keys do.
    let top = screen.lines().find(|l| l.contains(header)).unwrap();
    assert!(top.contains("space ticks"), "{screen}");
    term.key(SPACE, "dkjson", ticked);
    term.key(DOWN, "lua-cjson", active);
    term.key(SPACE, "lua-cjson", ticked);
    assert_eq!(
        term.contents().matches(header).count(),
        1,
        "{}",
        term.contents()
    );
    let (code, screen) = term.finish(ESCAPE);
    assert_eq!(code, 0, "{screen}");

    // Every package on a screen that shows a few at a time: pages, and the header (with the
    // page) still drawn once as the pages turn. penlight comes once, its newest version.
    let header = "Packages matching ''";
    let mut term = Terminal::spawn_sized(&lvm, &["install", "--interactive"], 10, 80);
    let screen = term.wait_for("the checklist", |s| s.contains("basexx"));
    assert_eq!(screen.matches(header).count(), 1, "{screen}");
    assert!(screen.contains("[Page 1/3]"), "{screen}");
    let names = [
        "basexx",
        "binaryheap",
        "bit32",
        "busted",
        "compat53",
        "cqueues",
        "dkjson",
        "fifo",
        "http",
        "inspect",
        "legacy-tool",
        "lpeg",
        "lpeg_patterns",
        "lpeglabel",
        "lua-cjson",
        "lua-parser",
        "luafilesystem",
        "luaossl",
        "luasocket",
        "luassert",
        "penlight",
    ];
    for name in &names[1..] {
        term.key(DOWN, name, active);
        let screen = term.contents();
        assert_eq!(screen.matches(header).count(), 1, "{name}:\n{screen}");
        assert_eq!(Terminal::lines_of(&screen, name), 1, "{name}:\n{screen}");
    }
    let screen = term.contents();
    assert!(screen.contains("[Page 3/3]"), "{screen}");
    let penlight = Terminal::line_of(&screen, "penlight");
    assert!(penlight.contains("(1.14.0-1)"), "{penlight}");
    let (code, screen) = term.finish(ESCAPE);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(lvm.snapshot(), snapshot);
}

#[test]
fn without_a_terminal_the_flag_fails_at_once() {
    let lvm = env_with_curated();
    let snapshot = lvm.snapshot();
    for args in [
        &["setup", "--interactive"][..],
        &["setup", "standard", "--interactive"][..],
        &["install", "--interactive", "json"][..],
        &["install", "--interactive"][..],
    ] {
        let started = Instant::now();
        // `output()` gives lvm no stdin and pipes for stdout and stderr: no terminal anywhere.
        let out = lvm.run(args);
        assert!(started.elapsed() < PATIENCE);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--interactive needs a terminal") && err.contains("pass package names"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(lvm.snapshot(), snapshot);
    // --prod belongs to a profile.
    let err = lvm.fails(&["setup", "--interactive", "--prod"]);
    assert!(err.contains("--prod") && err.contains("<PROFILE>"), "{err}");
}
