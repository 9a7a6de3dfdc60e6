//! `lvm bisect`: a binary search over the states of the current profile for the first event
//! after which a test command fails, each state made from the store in a throwaway tree.
//!
//! Nothing a bisection does is recorded and the live tree is never touched: `run` tests each
//! state in the command's scratch space; a manual bisection (`start`, `good`, `bad`, `skip`,
//! `reset`) keeps its verdicts and the tree of the state under test in `.git/lvm-bisect/`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::{DateTime, Utc};
use git2::Oid;
use serde::{Deserialize, Serialize};

use crate::env::Environment;
use crate::envrepo::short;
use crate::events::Event;
use crate::layout::{BISECT_DIR, BISECT_STATE_FILE, BISECT_TREE};
use crate::luaversion::LuaVersion;
use crate::manifest::{self, Change};
use crate::ops::install::rebuild::ensure_in_store;
use crate::ops::{Error, MissingIn, Result, fs_error};

/// What a test said about one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Good,
    Bad,
    Skip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::Skip => "skip",
        }
    }

    /// An exit code read as `git bisect run` reads it: 0 good, 125 skip (the state cannot be
    /// tested), 1 to 127 bad; anything else (128 + a signal) is no verdict and stops the search.
    pub fn from_exit_code(code: i32) -> Option<Verdict> {
        match code {
            0 => Some(Verdict::Good),
            125 => Some(Verdict::Skip),
            1..=127 => Some(Verdict::Bad),
            _ => None,
        }
    }
}

/// What the search knows: the states from the good one to the bad one and the verdicts so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    /// The profile whose states are searched.
    pub profile: String,
    /// Commit ids, oldest first: the first is the good state, the last the bad one.
    states: Vec<String>,
    /// Verdicts by index into `states`.
    verdicts: BTreeMap<usize, Verdict>,
}

/// What the search does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Test the state at this index.
    Test(usize),
    /// The state at this index is the first bad one.
    Found(usize),
    /// Only skipped states are left between the last good and the first bad state: the first
    /// bad one is among the indices `first..=last`.
    OnlySkipped { first: usize, last: usize },
}

impl Search {
    /// A search over `states` (oldest first, at least two): the first is taken as good and the
    /// last as bad.
    pub fn new(profile: String, states: &[Oid]) -> Search {
        let mut verdicts = BTreeMap::new();
        verdicts.insert(0, Verdict::Good);
        verdicts.insert(states.len().saturating_sub(1), Verdict::Bad);
        Search {
            profile,
            states: states.iter().map(Oid::to_string).collect(),
            verdicts,
        }
    }

    /// How many states the search spans, the good and the bad one included.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn mark(&mut self, index: usize, verdict: Verdict) {
        self.verdicts.insert(index, verdict);
    }

    pub fn verdict(&self, index: usize) -> Option<Verdict> {
        self.verdicts.get(&index).copied()
    }

    /// The commit of the state at `index`.
    pub fn commit(&self, index: usize) -> Result<Oid> {
        let text = self.states.get(index).map(String::as_str).unwrap_or("");
        Oid::from_str(text).map_err(|e| {
            Error::Repo(crate::envrepo::RepoError::Git {
                path: format!("bisection state {index}"),
                cause: e,
            })
        })
    }

    /// Where `commit` is among the states, if it is one.
    pub fn index_of(&self, commit: Oid) -> Option<usize> {
        let text = commit.to_string();
        self.states.iter().position(|s| *s == text)
    }

    /// The first state marked bad, and the last one marked good before it.
    fn bounds(&self) -> (usize, usize) {
        let last = self.states.len().saturating_sub(1);
        let bad = self
            .verdicts
            .iter()
            .find(|(_, v)| **v == Verdict::Bad)
            .map_or(last, |(i, _)| *i);
        let good = self
            .verdicts
            .range(..bad)
            .rev()
            .find(|(_, v)| **v == Verdict::Good)
            .map_or(0, |(i, _)| *i);
        (good, bad)
    }

    /// The states between the bounds that have no verdict yet.
    fn untested(&self) -> Vec<usize> {
        let (good, bad) = self.bounds();
        (good + 1..bad)
            .filter(|i| !self.verdicts.contains_key(i))
            .collect()
    }

    /// The next state to test (the untested one nearest the middle of the bounds), or the
    /// answer.
    pub fn next(&self) -> Next {
        let (good, bad) = self.bounds();
        if bad <= good + 1 {
            return Next::Found(bad);
        }
        let middle = good + (bad - good) / 2;
        match self
            .untested()
            .into_iter()
            .min_by_key(|i| i.abs_diff(middle))
        {
            Some(index) => Next::Test(index),
            None => Next::OnlySkipped {
                first: good + 1,
                last: bad,
            },
        }
    }

    /// About how many more tests the search needs after the next one.
    pub fn steps_left(&self) -> usize {
        let untested = self.untested().len();
        // ceil(log2(untested + 1)) tests halve the range down to one state; the next is one.
        (usize::BITS - untested.leading_zeros()).saturating_sub(1) as usize
    }
}

/// Finds the states a bisection searches: the first-parent history of the current profile from
/// `good` (default: its first event) to `bad` (default: its head).
pub fn plan(env: &Environment, good: Option<&str>, bad: Option<&str>) -> Result<Search> {
    let profile = env.profile()?;
    let chain = env.repo().first_parent_chain(env.head()?)?;
    let position = |rev: &str| -> Result<usize> {
        let commit = env.repo().resolve_rev(rev)?;
        chain
            .iter()
            .position(|c| *c == commit)
            .ok_or_else(|| Error::RevisionNotInProfile {
                rev: rev.to_string(),
                profile: profile.clone(),
            })
    };
    let bad_at = match bad {
        Some(rev) => position(rev)?,
        None => chain.len().saturating_sub(1),
    };
    let good_at = match good {
        Some(rev) => position(rev)?,
        None => 0,
    };
    if good_at == bad_at {
        return Err(Error::BisectGoodIsBad {
            commit: short(chain[bad_at]),
        });
    }
    if good_at > bad_at {
        return Err(Error::BisectGoodAfterBad {
            good: short(chain[good_at]),
            bad: short(chain[bad_at]),
            profile,
        });
    }
    Ok(Search::new(profile, &chain[good_at..=bad_at]))
}

/// One tested state.
#[derive(Debug, Clone)]
pub struct Trial {
    pub commit: Oid,
    /// The subject of the event that made the state.
    pub summary: String,
    pub verdict: Verdict,
    /// Builds the store lacked and that were rebuilt for this state (0: all from the store).
    pub rebuilt: usize,
    /// Time to make the state's tree, and to run the test on it.
    pub materialize_ms: u64,
    pub test_ms: u64,
}

/// An event of the searched range, with the package changes it made.
#[derive(Debug, Clone)]
pub struct FoundEvent {
    pub commit: Oid,
    pub summary: String,
    pub timestamp: DateTime<Utc>,
    /// From the state before it to its own.
    pub changes: Vec<Change>,
}

/// What a bisection concluded.
#[derive(Debug, Clone)]
pub enum Finding {
    /// The first event after which the test fails.
    FirstBad(FoundEvent),
    /// The test passes at the bad state: no event of the range makes it fail.
    AllGood { bad: Oid },
    /// The test skipped the bad state (exit 125), so nothing can be concluded.
    BadSkipped { bad: Oid },
    /// The states left were all skipped: the first bad event is one of these.
    OnlySkipped { candidates: Vec<FoundEvent> },
}

/// What `lvm bisect run` did and found.
#[derive(Debug, Clone)]
pub struct BisectOutcome {
    pub finding: Finding,
    /// The states tested, in order.
    pub trials: Vec<Trial>,
    /// How many states the search spanned.
    pub states: usize,
}

/// The event a commit records.
fn event_at(env: &Environment, commit: Oid) -> Result<Event> {
    let (message, _) = env.repo().commit_summary(commit)?;
    Ok(Event::from_commit_message(&message, &commit.to_string())?)
}

/// The event that made the state at `index`, with its changes from the state before.
fn found_event(env: &Environment, search: &Search, index: usize) -> Result<FoundEvent> {
    let commit = search.commit(index)?;
    let event = event_at(env, commit)?;
    let after = env.repo().manifest_at(commit)?;
    let changes = match index.checked_sub(1) {
        Some(before) => manifest::diff(&env.repo().manifest_at(search.commit(before)?)?, &after),
        None => Vec::new(),
    };
    Ok(FoundEvent {
        commit,
        summary: event.summary(),
        timestamp: event.timestamp,
        changes,
    })
}

/// The search's next step: a state to test (its index), or the answer with its events read.
fn step(env: &Environment, search: &Search) -> Result<std::result::Result<usize, Finding>> {
    Ok(Err(match search.next() {
        Next::Test(index) => return Ok(Ok(index)),
        Next::Found(index) => Finding::FirstBad(found_event(env, search, index)?),
        Next::OnlySkipped { first, last } => Finding::OnlySkipped {
            candidates: (first..=last)
                .map(|i| found_event(env, search, i))
                .collect::<Result<_>>()?,
        },
    }))
}

/// Makes the tree of the state at `commit` in `dir` (absent or empty) from the store, after
/// rebuilding any build of it the store lacks; returns its Lua and how many were rebuilt.
fn make_state_tree(env: &Environment, commit: Oid, dir: &Path) -> Result<(LuaVersion, usize)> {
    let state = env.repo().manifest_at(commit)?;
    // Straight from the store, which mostly has every build; looking each one up beforehand
    // would read every entry's record twice per state.
    let rebuilt = match env.materialize_throwaway(&state, dir) {
        Ok(()) => 0,
        // Found before anything is written: rebuild what is missing, then make the tree.
        Err(crate::env::EnvError::NotInStore { .. }) => {
            let rebuilt = ensure_in_store(
                env,
                &state,
                MissingIn::BisectState {
                    commit: short(commit),
                },
            )?;
            env.materialize_throwaway(&state, dir)?;
            rebuilt
        }
        Err(e) => return Err(e.into()),
    };
    Ok((state.lua_version()?, rebuilt))
}

/// Runs `command` on the tree at `dir` of Lua `lua`, as `lvm exec` would; its exit code.
fn run_on_tree(
    env: &Environment,
    command: &[OsString],
    dir: &Path,
    lua: LuaVersion,
) -> Result<i32> {
    let shown = command_text(command);
    let Some((program, args)) = command.split_first() else {
        return Err(Error::BisectCannotRun {
            command: shown,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command given"),
        });
    };
    let interpreter = env.interpreter_for(lua)?;
    let mut process = Command::new(program);
    process.args(args);
    crate::vm::in_tree(&mut process, dir, lua, interpreter.bin.as_deref())?;
    let status = process.status().map_err(|source| Error::BisectCannotRun {
        command: shown,
        source,
    })?;
    Ok(crate::vm::exit_code(status))
}

/// A command line as one readable line.
fn command_text(command: &[OsString]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    format!("`{}`", words.join(" "))
}

/// Tests the state at `index` in a fresh tree at `dir`, discarded afterwards (deleted in the
/// background, so the next step does not wait for the unlinking).
fn test_state(
    env: &Environment,
    search: &Search,
    index: usize,
    command: &[OsString],
    dir: &Path,
) -> Result<Trial> {
    let commit = search.commit(index)?;
    let summary = event_at(env, commit)?.summary();
    env.reporter()
        .bisect_testing(&short(commit), &summary, search.steps_left());
    let started = Instant::now();
    let made = make_state_tree(env, commit, dir);
    let materialize_ms = started.elapsed().as_millis() as u64;
    let started = Instant::now();
    let (code, rebuilt) = match made {
        Ok((lua, rebuilt)) => (run_on_tree(env, command, dir, lua), rebuilt),
        Err(e) => (Err(e), 0),
    };
    let test_ms = started.elapsed().as_millis() as u64;
    if dir.exists() {
        env.discard_throwaway(dir);
    }
    let code = code?;
    let verdict = Verdict::from_exit_code(code).ok_or_else(|| Error::BisectAborted {
        command: command_text(command),
        code,
        commit: short(commit),
    })?;
    env.reporter()
        .bisect_tested(&short(commit), verdict.as_str());
    Ok(Trial {
        commit,
        summary,
        verdict,
        rebuilt,
        materialize_ms,
        test_ms,
    })
}

/// `lvm bisect run`: tests the bad state, then halves the range until the first bad event is
/// found. The good state is taken as good, as `git bisect` takes it. Each state is made from
/// the store in this command's scratch space and removed after its test.
pub fn run(env: &Environment, mut search: Search, command: &[OsString]) -> Result<BisectOutcome> {
    let scratch = env.scratch("bisect-")?;
    let mut trials: Vec<Trial> = Vec::new();
    let states = search.len();
    let last = states.saturating_sub(1);
    let test = |search: &Search, index: usize, trials: &mut Vec<Trial>| -> Result<Verdict> {
        let dir = scratch.path().join(trials.len().to_string());
        let trial = test_state(env, search, index, command, &dir)?;
        let verdict = trial.verdict;
        trials.push(trial);
        Ok(verdict)
    };
    let finish = |finding, trials| BisectOutcome {
        finding,
        trials,
        states,
    };
    match test(&search, last, &mut trials)? {
        Verdict::Good => {
            let bad = search.commit(last)?;
            return Ok(finish(Finding::AllGood { bad }, trials));
        }
        Verdict::Skip => {
            let bad = search.commit(last)?;
            return Ok(finish(Finding::BadSkipped { bad }, trials));
        }
        Verdict::Bad => {}
    }
    loop {
        match step(env, &search)? {
            Ok(index) => {
                let verdict = test(&search, index, &mut trials)?;
                search.mark(index, verdict);
            }
            Err(finding) => return Ok(finish(finding, trials)),
        }
    }
}

/// A manual bisection as kept on disk between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Bisection {
    search: Search,
    /// The index of the state whose tree is ready for testing.
    current: Option<usize>,
}

/// Where a manual bisection stands after a command.
#[derive(Debug, Clone)]
pub enum ManualStep {
    /// The state to test next: its tree is at `tree`.
    Testing {
        commit: Oid,
        summary: String,
        tree: PathBuf,
        lua: LuaVersion,
        steps_left: usize,
        /// Builds the store lacked, rebuilt for it.
        rebuilt: usize,
    },
    /// The search is over.
    Done(Finding),
}

fn bisect_dir(env: &Environment) -> PathBuf {
    env.repo().private_dir().join(BISECT_DIR)
}

fn load(env: &Environment) -> Result<Bisection> {
    let path = bisect_dir(env).join(BISECT_STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoBisection),
        Err(e) => return Err(fs_error("read", &path)(e)),
    };
    let bisection: Bisection = serde_json::from_slice(&bytes)
        .map_err(|source| Error::BisectStateUnreadable { path, source })?;
    let current = env.profile()?;
    if bisection.search.profile != current {
        return Err(Error::BisectOtherProfile {
            started: bisection.search.profile,
            current,
        });
    }
    Ok(bisection)
}

fn save(env: &Environment, bisection: &Bisection) -> Result<()> {
    let dir = bisect_dir(env);
    std::fs::create_dir_all(&dir).map_err(fs_error("create", &dir))?;
    let path = dir.join(BISECT_STATE_FILE);
    let bytes = serde_json::to_vec_pretty(bisection).expect("a bisection serializes");
    crate::fsutil::write_atomic(&path, &bytes).map_err(fs_error("write", &path))
}

/// Takes the next step of a manual bisection: the tree of the next state to test (replacing
/// the last one), or the answer.
fn advance(env: &Environment, mut bisection: Bisection) -> Result<ManualStep> {
    let tree = bisect_dir(env).join(BISECT_TREE);
    if tree.exists() {
        crate::tree::files::remove_tree(&tree)?;
    }
    let index = match step(env, &bisection.search)? {
        Ok(index) => index,
        Err(finding) => {
            bisection.current = None;
            save(env, &bisection)?;
            return Ok(ManualStep::Done(finding));
        }
    };
    let commit = bisection.search.commit(index)?;
    // Saved before the tree is made: when it cannot be (a build that cannot be rebuilt), the
    // state is still the one under test, so `lvm bisect skip` steps past it.
    bisection.current = Some(index);
    save(env, &bisection)?;
    let (lua, rebuilt) = make_state_tree(env, commit, &tree)?;
    Ok(ManualStep::Testing {
        commit,
        summary: event_at(env, commit)?.summary(),
        tree,
        lua,
        steps_left: bisection.search.steps_left(),
        rebuilt,
    })
}

/// `lvm bisect start`: a manual bisection between `good` (default: the first event) and `bad`
/// (default: the head), replacing one in progress; makes the tree of the first state to test.
pub fn start(env: &Environment, good: Option<&str>, bad: Option<&str>) -> Result<ManualStep> {
    let search = plan(env, good, bad)?;
    reset(env)?;
    advance(
        env,
        Bisection {
            search,
            current: None,
        },
    )
}

/// `lvm bisect good|bad|skip [REV]`: the verdict on the state under test (or on `rev`, a state
/// of the bisection), then the next step.
pub fn mark(env: &Environment, verdict: Verdict, rev: Option<&str>) -> Result<ManualStep> {
    let mut bisection = load(env)?;
    let index = match rev {
        Some(rev) => {
            let commit = env.repo().resolve_rev(rev)?;
            bisection
                .search
                .index_of(commit)
                .ok_or_else(|| Error::RevisionNotInProfile {
                    rev: format!("{rev} (between the bisection's good and bad states)"),
                    profile: bisection.search.profile.clone(),
                })?
        }
        None => bisection.current.ok_or(Error::BisectOver)?,
    };
    bisection.search.mark(index, verdict);
    advance(env, bisection)
}

/// The tree of the state under test and its Lua, for `lvm bisect exec`.
pub fn current_tree(env: &Environment) -> Result<(Oid, PathBuf, LuaVersion)> {
    let bisection = load(env)?;
    let index = bisection.current.ok_or(Error::BisectOver)?;
    let commit = bisection.search.commit(index)?;
    let lua = env.repo().manifest_at(commit)?.lua_version()?;
    let tree = bisect_dir(env).join(BISECT_TREE);
    if !tree.is_dir() {
        // Its making failed: the error said why; `lvm bisect skip` moves on.
        return Err(fs_error("find the tree of the state under test", &tree)(
            std::io::ErrorKind::NotFound.into(),
        ));
    }
    Ok((commit, tree, lua))
}

/// `lvm bisect reset`: ends a manual bisection, removing its state and tree; whether there was
/// one.
pub fn reset(env: &Environment) -> Result<bool> {
    let dir = bisect_dir(env);
    if !dir.exists() {
        return Ok(false);
    }
    crate::tree::files::remove_tree(&dir)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(n: usize) -> Search {
        let states: Vec<Oid> = (0..n)
            .map(|i| Oid::from_str(&format!("{:040x}", i + 1)).unwrap())
            .collect();
        Search::new("default".into(), &states)
    }

    /// Runs a search where the states from `first_bad` on fail; returns the answer and how
    /// many states were tested.
    fn bisect(n: usize, first_bad: usize, skipped: &[usize]) -> (Next, usize) {
        let mut s = search(n);
        let mut tested = 0;
        loop {
            match s.next() {
                Next::Test(i) => {
                    tested += 1;
                    let verdict = if skipped.contains(&i) {
                        Verdict::Skip
                    } else if i >= first_bad {
                        Verdict::Bad
                    } else {
                        Verdict::Good
                    };
                    s.mark(i, verdict);
                }
                answer => return (answer, tested),
            }
        }
    }

    #[test]
    fn exit_codes_read_as_git_bisect_run_reads_them() {
        assert_eq!(Verdict::from_exit_code(0), Some(Verdict::Good));
        assert_eq!(Verdict::from_exit_code(1), Some(Verdict::Bad));
        assert_eq!(Verdict::from_exit_code(127), Some(Verdict::Bad));
        assert_eq!(Verdict::from_exit_code(125), Some(Verdict::Skip));
        assert_eq!(Verdict::from_exit_code(128 + 9), None);
        assert_eq!(Verdict::from_exit_code(-1), None);
    }

    #[test]
    fn every_first_bad_state_is_found_in_logarithmic_steps() {
        for n in [2, 3, 5, 64, 65] {
            for first_bad in 1..n {
                let (answer, tested) = bisect(n, first_bad, &[]);
                assert_eq!(answer, Next::Found(first_bad), "n={n}");
                let bound = (usize::BITS - (n - 1).leading_zeros()) as usize;
                assert!(
                    tested <= bound,
                    "n={n} first_bad={first_bad}: {tested} tests"
                );
            }
        }
    }

    #[test]
    fn skipped_states_are_stepped_around_or_named() {
        // The first bad state is found when a state in the middle cannot be tested.
        assert_eq!(bisect(10, 6, &[4]).0, Next::Found(6));
        // A skipped state just before it leaves both as candidates.
        assert_eq!(
            bisect(10, 6, &[5]).0,
            Next::OnlySkipped { first: 5, last: 6 }
        );
        // When the state before the first bad one is skipped, either may be the first bad.
        assert_eq!(
            bisect(4, 3, &[1, 2]).0,
            Next::OnlySkipped { first: 1, last: 3 }
        );
    }

    #[test]
    fn steps_left_halve() {
        assert_eq!(search(2).steps_left(), 0);
        assert_eq!(search(3).steps_left(), 0);
        assert_eq!(search(65).steps_left(), 5);
    }
}
