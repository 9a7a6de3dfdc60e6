//! The CLI's reporter: library progress drawn on stderr, as a bar on a terminal and as plain
//! lines otherwise (logs, CI, pipes).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use lvm::report::{Readiness, Reporter};
use lvm::version::Version;

/// Entries of a cache from which `lvm cache list --all`/`verify --all` say in a log that they
/// are at work.
const LONG_CACHE_RUN: usize = 100;

/// Draws progress on stderr.
pub struct Terminal {
    /// Whether stderr is a terminal (bars) or not (plain lines).
    tty: bool,
    /// The bar of the change in progress, on a terminal.
    bar: Mutex<Option<ProgressBar>>,
    /// The bar of an interpreter build, on a terminal (it may happen inside a change).
    build_bar: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    pub fn new() -> Terminal {
        Terminal {
            tty: std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
            build_bar: Mutex::new(None),
        }
    }

    /// Prints a line above the bar when there is one, else on stderr.
    fn line(&self, text: &str) {
        match self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            Some(bar) => bar.println(text),
            // A closed stderr must not stop a change: the line is lost, the change goes on.
            None => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }
}

impl Reporter for Terminal {
    fn preparing(&self, total: usize) {
        if !self.tty {
            return;
        }
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn package_started(&self, name: &str, version: &Version) {
        match self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            Some(bar) => bar.set_message(format!("{name} {version}")),
            None => tracing::info!("preparing {name} {version}"),
        }
    }

    fn package_ready(&self, name: &str, version: &Version, how: Readiness) {
        if let Some(bar) = self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            bar.inc(1);
        }
        self.line(&format!("  {name} {version} ({})", how.describe()));
    }

    fn package_failed(&self, name: &str, version: &Version) {
        self.line(&format!("  {name} {version} FAILED"));
    }

    fn prepared(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }

    fn runtime_build_started(&self, name: &str, steps: usize) {
        self.line(&format!(
            "lvm: building {name} from source (once for this machine)"
        ));
        if !self.tty {
            return;
        }
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.build_bar.lock() {
            *slot = Some(bar);
        }
    }

    fn runtime_build_step(&self, name: &str, what: &str) {
        if let Some(bar) = self.build_bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            // The makefile of LuaJIT may do a few more steps than counted ahead.
            if bar.position() < bar.length().unwrap_or(0) {
                bar.inc(1);
            }
            bar.set_message(format!("{name}: {what}"));
        }
    }

    fn runtime_build_finished(&self, _name: &str) {
        if let Some(bar) = self.build_bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }

    fn runtime_build_waiting(&self, name: &str) {
        self.line(&format!(
            "lvm: waiting for another lvm process building {name}"
        ));
    }

    fn cache_checking(&self, cache: &str, total: usize) {
        if !self.tty {
            // A log gets one line for a run long enough to wonder about.
            if total >= LONG_CACHE_RUN {
                self.line(&format!(
                    "lvm: reading {total} entries of build cache {cache}"
                ));
            }
            return;
        }
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"),
        );
        bar.set_message(cache.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn cache_entry_checked(&self, _cache: &str, _key: &str) {
        if let Some(bar) = self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            bar.inc(1);
        }
    }

    fn cache_checked(&self, _cache: &str) {
        self.prepared();
    }

    fn warning(&self, message: &str) {
        self.line(&format!("lvm: warning: {message}"));
    }

    fn bisect_testing(&self, commit: &str, summary: &str, steps_left: usize) {
        self.line(&format!(
            "lvm bisect: testing {commit} ({summary}); about {steps_left} more after this one"
        ));
    }

    fn bisect_tested(&self, commit: &str, verdict: &str) {
        self.line(&format!("lvm bisect: {commit} is {verdict}"));
    }

    fn waiting_for_lock(&self, root: &Path) {
        self.line(&format!(
            "lvm: waiting for another lvm process to finish with {}",
            root.display()
        ));
    }
}
