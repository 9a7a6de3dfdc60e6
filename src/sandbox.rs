//! The sandbox that evaluates untrusted Lua *data* files (rockspecs, server manifests).
//!
//! Such files are Lua programs, so evaluating them must not give them the machine: a chunk sees
//! only the safe base functions and copies of the `string`, `table` and `math` libraries (no
//! `io`, `os`, `require`, `load`, `debug`, `package`, metatables or `string.dump`), only text
//! chunks are accepted (crafted bytecode can crash the VM), and every evaluation is bounded in
//! instructions, wall-clock time and memory; pattern matching (one C call that the instruction
//! hook cannot interrupt) is charged its worst case up front. The globals a chunk defines are
//! then copied out of the VM as [`Data`], a plain tree the format modules type-check with field
//! paths, within a budget of values and bytes. `docs/security.md` explains every limit.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mlua::chunk::ChunkMode;
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Value, VmState};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use thiserror::Error;

/// How many VM instructions run between two checks of the instruction budget and the clock.
const HOOK_INTERVAL: u32 = 1_000;

/// The name Lua knows every chunk by. Lua cuts chunk names to 60 bytes in its messages, so the
/// real file name (often a long path) is never given to Lua: errors strip this short name and
/// put the file name in front once.
const CHUNK_ID: &str = "lvm-chunk";

/// Resource bounds for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// VM instructions a chunk may execute (checked every thousand instructions); pattern
    /// matching is charged against the same budget, one instruction per worst-case step.
    pub instructions: u64,
    /// Wall-clock time one evaluation may take, checked with the instruction budget.
    pub wall_time: Duration,
    /// Bytes the whole Lua state may allocate.
    pub memory: usize,
    /// Deepest table nesting [`Sandbox::to_data`] copies out (a cycle would be infinite).
    pub max_depth: usize,
    /// Most values [`Sandbox::to_data`] copies out (shared sub-tables are copied each time).
    pub max_values: usize,
    /// Most string bytes (keys and values) copied out of the VM: a string referenced from many
    /// places is counted at each place, as each place gets its own copy.
    pub max_bytes: usize,
}

impl Limits {
    /// Enough for any real rockspec (even ones that build their module lists in loops), small
    /// enough that a hostile one fails in well under a second.
    pub const ROCKSPEC: Limits = Limits {
        instructions: 2_000_000,
        wall_time: Duration::from_secs(5),
        memory: 64 * 1024 * 1024,
        max_depth: 32,
        max_values: 100_000,
        max_bytes: 16 * 1024 * 1024,
    };

    /// The largest server manifest (Lua or JSON text, after decompression) lvm reads. The full
    /// manifest of the biggest public server is a few tens of megabytes.
    pub const MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;

    /// Limits for a server manifest of `len` bytes. A manifest is one big table constructor,
    /// which runs a bounded number of instructions and allocates a bounded multiple of memory
    /// per byte of source, so the limits grow with the size while a small file with a loop
    /// still stops quickly. `len` counts up to [`Limits::MAX_MANIFEST_BYTES`] (bigger manifests
    /// are refused before evaluation), so no manifest gets more than 1 GiB of memory.
    pub fn manifest(len: usize) -> Limits {
        let len = len.min(Limits::MAX_MANIFEST_BYTES);
        let len64 = len as u64;
        Limits {
            instructions: 2_000_000u64.saturating_add(len64.saturating_mul(4)),
            wall_time: Duration::from_secs(60),
            memory: (256 * 1024 * 1024usize).saturating_add(len.saturating_mul(12)),
            max_depth: 32,
            max_values: 1_000_000usize.saturating_add(len),
            max_bytes: (16 * 1024 * 1024usize).saturating_add(len.saturating_mul(2)),
        }
    }
}

/// Why a chunk could not be evaluated or copied out.
#[derive(Debug, Error)]
pub enum SandboxError {
    Syntax {
        chunk: String,
        line: Option<u32>,
        message: String,
    },
    InstructionLimit {
        chunk: String,
        limit: u64,
    },
    /// The wall-clock deadline passed.
    TimeLimit {
        chunk: String,
        limit: Duration,
    },
    /// A C call (pattern matching, `string.rep`, `table.move`) whose worst case does not fit in
    /// what is left of the budget.
    CallLimit {
        chunk: String,
        message: String,
    },
    MemoryLimit {
        chunk: String,
        limit: usize,
    },
    /// A Lua runtime error, e.g. calling a function the sandbox does not provide.
    Runtime {
        chunk: String,
        line: Option<u32>,
        message: String,
    },
    /// A value could not be copied out (too deep, too many values).
    Convert {
        chunk: String,
        path: String,
        message: String,
    },
    Setup(#[source] mlua::Error),
}

impl SandboxError {
    /// The source line the error points at, when Lua reported one.
    pub fn line(&self) -> Option<u32> {
        match self {
            SandboxError::Syntax { line, .. } | SandboxError::Runtime { line, .. } => *line,
            _ => None,
        }
    }

    /// The message without the chunk name, starting with `line N: ` when there is a line: for
    /// errors that name the file themselves.
    pub fn detail_with_line(&self) -> String {
        match self.line() {
            Some(line) => format!("line {line}: {}", self.detail()),
            None => self.detail(),
        }
    }

    /// The message without the chunk name and line, for callers that report those themselves.
    pub fn detail(&self) -> String {
        match self {
            SandboxError::Syntax { message, .. } => format!("syntax error: {message}"),
            SandboxError::InstructionLimit { limit, .. } => format!(
                "instruction limit exceeded ({limit} instructions): the file does not finish \
                 evaluating (an endless loop?); data files must be plain tables"
            ),
            SandboxError::TimeLimit { limit, .. } => format!(
                "time limit exceeded ({} s): the file does not finish evaluating; data files \
                 must be plain tables",
                limit.as_secs_f64()
            ),
            SandboxError::CallLimit { message, .. } => message.clone(),
            SandboxError::MemoryLimit { limit, .. } => format!(
                "memory limit exceeded ({} MiB): the file builds values too large for a data file",
                limit / (1024 * 1024)
            ),
            SandboxError::Runtime { message, .. } => format!(
                "{message} (data files may only use the base functions and the string, table and \
                 math libraries)"
            ),
            SandboxError::Convert { path, message, .. } => format!("{path}: {message}"),
            SandboxError::Setup(e) => format!("cannot set up the Lua sandbox: {e}"),
        }
    }
}

/// Lua's own style: `file:3: message`.
impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chunk = match self {
            SandboxError::Syntax { chunk, .. }
            | SandboxError::InstructionLimit { chunk, .. }
            | SandboxError::TimeLimit { chunk, .. }
            | SandboxError::CallLimit { chunk, .. }
            | SandboxError::MemoryLimit { chunk, .. }
            | SandboxError::Runtime { chunk, .. }
            | SandboxError::Convert { chunk, .. } => chunk.as_str(),
            SandboxError::Setup(_) => return f.write_str(&self.detail()),
        };
        match self.line() {
            Some(line) => write!(f, "{chunk}:{line}: {}", self.detail()),
            None => write!(f, "{chunk}: {}", self.detail()),
        }
    }
}

/// A Lua value copied out of the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Boolean(bool),
    Integer(i64),
    Number(f64),
    String(String),
    Table(DataTable),
    /// A function, userdata or thread: kept by type name so type errors can name it.
    Opaque(&'static str),
}

/// A Lua table split the way data files use tables: a list part and a record part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataTable {
    /// The values at keys `1..=n` (the longest run without a hole).
    pub array: Vec<Data>,
    /// The values at string keys.
    pub fields: BTreeMap<String, Data>,
    /// Integer keys outside the list part (after a hole, zero, negative).
    pub numbered: BTreeMap<i64, Data>,
    /// Every other entry (float, boolean keys...), with its key rendered as Lua (`[2.5]`,
    /// `[true]`), so that type checks can report it.
    pub other: Vec<(String, Data)>,
}

impl Data {
    /// The Lua type name (`string`, `number`, `table`, ...), for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Data::Boolean(_) => "boolean",
            Data::Integer(_) | Data::Number(_) => "number",
            Data::String(_) => "string",
            Data::Table(_) => "table",
            Data::Opaque(name) => name,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Data::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&DataTable> {
        match self {
            Data::Table(t) => Some(t),
            _ => None,
        }
    }
}

/// JSON reads straight into [`Data`] (objects become records, arrays lists); `null` members and
/// list entries are left out, as a Lua table cannot hold `nil`. A `null` document is an error.
impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Data, D::Error> {
        deserializer
            .deserialize_any(DataVisitor)?
            .ok_or_else(|| de::Error::custom("expected a value, found null"))
    }
}

struct DataVisitor;

impl<'de> DeserializeSeed<'de> for DataVisitor {
    type Value = Option<Data>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataVisitor {
    type Value = Option<Data>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Data::Boolean(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Data::Integer(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(match i64::try_from(v) {
            Ok(i) => Data::Integer(i),
            Err(_) => Data::Number(v as f64),
        }))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Data::Number(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Data::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Data::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut table = DataTable::default();
        let mut index: i64 = 0;
        while let Some(item) = seq.next_element_seed(DataVisitor)? {
            index += 1;
            if let Some(value) = item {
                if table.numbered.is_empty() && usize::try_from(index) == Ok(table.array.len() + 1)
                {
                    table.array.push(value);
                } else {
                    table.numbered.insert(index, value);
                }
            }
        }
        Ok(Some(Data::Table(table)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut table = DataTable::default();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(value) = map.next_value_seed(DataVisitor)? {
                table.fields.insert(key, value);
            }
        }
        Ok(Some(Data::Table(table)))
    }
}

impl DataTable {
    pub fn is_empty(&self) -> bool {
        self.array.is_empty()
            && self.fields.is_empty()
            && self.numbered.is_empty()
            && self.other.is_empty()
    }

    /// Keys that are neither strings nor part of the list, rendered as Lua (`[7]`, `[true]`).
    pub fn stray_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.numbered
            .keys()
            .map(|k| format!("[{k}]"))
            .chain(self.other.iter().map(|(k, _)| k.clone()))
    }

    /// Moves `numbered` entries that continue the list into it (after entries were added).
    pub fn normalize(&mut self) {
        while let Some(value) = i64::try_from(self.array.len() + 1)
            .ok()
            .and_then(|next| self.numbered.remove(&next))
        {
            self.array.push(value);
        }
    }

    pub fn get(&self, key: &str) -> Option<&Data> {
        self.fields.get(key)
    }
}

/// Appends `key` to a field path the way it would be written in Lua: `a.b` for identifiers,
/// `a["foo.core"]` otherwise.
pub fn field_path(parent: &str, key: &str) -> String {
    if is_identifier(key) {
        if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        }
    } else {
        format!("{parent}[{key:?}]")
    }
}

/// Appends a 1-based list index to a field path: `a[3]`.
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

fn is_identifier(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !LUA_KEYWORDS.contains(&key)
}

const LUA_KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// Builds a fresh environment per evaluation. Library tables are copied so that one chunk
/// cannot change what the next one sees. `pcall`/`xpcall` re-check the limits after the call,
/// and an `xpcall` message handler checks them before it runs, so a chunk can neither swallow
/// a limit error nor keep running in a handler (Lua runs a handler with hooks off when the
/// error came from the hook). The pattern functions, `string.rep` and `table.move` are replaced
/// once, in the shared library tables (`string` is also every string's metatable index, as in
/// `s:find(p)`): each call is charged its worst case before the C function runs, because the
/// instruction hook cannot interrupt a C call.
const PRELUDE: &str = r#"
local check, charge, raw = ...
local raw_pcall, raw_xpcall, raw_pairs, raw_ipairs = raw.pcall, raw.xpcall, raw.pairs, raw.ipairs
local raw_setmetatable, raw_type = raw.setmetatable, raw.type
local base_names = {
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen", "rawset",
  "select", "tonumber", "tostring", "type", "_VERSION",
}
local function copy(t)
  local c = {}
  for k, v in raw_pairs(t) do c[k] = v end
  return c
end
local function pass(...)
  check()
  return ...
end
-- Not tail calls, so that argument errors still name the function ("bad argument #1 to 'find'").
local function results(...) return ... end
local string = raw.string
local find, match, gmatch, gsub = string.find, string.match, string.gmatch, string.gsub
string.find = function(s, p, init, plain)
  charge("find", s, p, plain)
  return results(find(s, p, init, plain))
end
string.match = function(s, p, init)
  charge("match", s, p)
  return results(match(s, p, init))
end
string.gmatch = function(s, p, init)
  charge("gmatch", s, p)
  return results(gmatch(s, p, init))
end
string.gsub = function(s, p, repl, n)
  charge("gsub", s, p)
  return results(gsub(s, p, repl, n))
end
-- Two more C loops whose length no allocation bounds: an empty string repeated, and moving
-- a range of nils.
local rep, move = string.rep, raw.table.move
string.rep = function(s, n, sep)
  charge("rep", s, n, sep)
  return results(rep(s, n, sep))
end
raw.table.move = function(a1, f, e, t, a2)
  charge("move", f, e)
  return results(move(a1, f, e, t, a2))
end
return function()
  local base = {}
  for _, name in raw_ipairs(base_names) do base[name] = raw[name] end
  base.pcall = function(f, ...) return pass(raw_pcall(f, ...)) end
  base.xpcall = function(f, handler, ...)
    local guarded = handler
    if raw_type(handler) == "function" then
      guarded = function(...)
        check()
        return handler(...)
      end
    end
    return pass(raw_xpcall(f, guarded, ...))
  end
  base.string = copy(raw.string)
  base.table = copy(raw.table)
  base.math = copy(raw.math)
  return raw_setmetatable({}, { __index = base })
end
"#;

/// Which limit stopped the current evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fired {
    Nothing = 0,
    Instructions = 1,
    Time = 2,
    Expensive = 3,
}

/// The budget of one evaluation, shared by the instruction hook, the pattern functions and
/// the `pcall` checks. Once a limit fired it stays fired until the next evaluation, so every
/// later hook call and check fails too.
struct Meter {
    limits: Limits,
    spent: AtomicU64,
    deadline: Mutex<Instant>,
    fired: AtomicU8,
    call_message: Mutex<String>,
}

impl Meter {
    fn new(limits: Limits) -> Meter {
        Meter {
            limits,
            spent: AtomicU64::new(0),
            deadline: Mutex::new(Instant::now() + limits.wall_time),
            fired: AtomicU8::new(Fired::Nothing as u8),
            call_message: Mutex::new(String::new()),
        }
    }

    fn reset(&self) {
        self.spent.store(0, Ordering::Relaxed);
        *lock(&self.deadline) = Instant::now() + self.limits.wall_time;
        self.fired.store(Fired::Nothing as u8, Ordering::Relaxed);
    }

    fn fired(&self) -> Fired {
        match self.fired.load(Ordering::Relaxed) {
            1 => Fired::Instructions,
            2 => Fired::Time,
            3 => Fired::Expensive,
            _ => Fired::Nothing,
        }
    }

    fn fire(&self, what: Fired) -> mlua::Error {
        let _ = self.fired.compare_exchange(
            Fired::Nothing as u8,
            what as u8,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        // The message is replaced by the classified error; Lua code that catches it still
        // cannot continue, as every later check fails.
        mlua::Error::runtime("evaluation limit exceeded")
    }

    /// Counts `amount` instructions and checks both limits.
    fn spend(&self, amount: u64) -> Result<(), mlua::Error> {
        let fired = self.fired();
        if fired != Fired::Nothing {
            return Err(self.fire(fired));
        }
        let spent = self
            .spent
            .fetch_add(amount, Ordering::Relaxed)
            .saturating_add(amount);
        if spent > self.limits.instructions {
            return Err(self.fire(Fired::Instructions));
        }
        if Instant::now() > *lock(&self.deadline) {
            return Err(self.fire(Fired::Time));
        }
        Ok(())
    }

    /// Charges a C call its worst case (`cost` steps), refusing it when that does not fit in
    /// what is left of the instruction budget. `what` describes the call for the error.
    fn charge(&self, cost: f64, what: impl FnOnce() -> String) -> Result<(), mlua::Error> {
        self.spend(0)?;
        let left = self
            .limits
            .instructions
            .saturating_sub(self.spent.load(Ordering::Relaxed));
        if cost > left as f64 {
            *lock(&self.call_message) = format!(
                "{} may take about {cost:.1e} steps, more than the {left} instructions left of \
                 the limit of {}: data files must not do heavy work in one call",
                what(),
                self.limits.instructions
            );
            return Err(self.fire(Fired::Expensive));
        }
        self.spend(cost as u64)
    }

    /// The charge for one call of a wrapped C function (see [`PRELUDE`]), from its arguments.
    fn charge_call(
        &self,
        function: &str,
        a: &Value,
        b: &Value,
        c: &Value,
    ) -> Result<(), mlua::Error> {
        match function {
            "rep" => {
                // Only an empty result can repeat unboundedly: anything longer is bounded by
                // the memory limit.
                let empty = |v: &Value| matches!(v, Value::String(s) if s.as_bytes().is_empty());
                match (empty(a) && (matches!(c, Value::Nil) || empty(c)), number(b)) {
                    (true, Some(n)) if n > 0.0 => {
                        self.charge(n, || format!("string.rep of an empty string {n:.0} times"))
                    }
                    _ => self.spend(0),
                }
            }
            "move" => match (number(a), number(b)) {
                (Some(f), Some(e)) if e >= f => {
                    let count = e - f + 1.0;
                    self.charge(count, || format!("table.move of {count:.0} elements"))
                }
                _ => self.spend(0),
            },
            _ => match (text_len(a), text_bytes(b)) {
                (Some(n), Some(p)) => {
                    let plain = !matches!(c, Value::Nil | Value::Boolean(false));
                    let cost = pattern_cost(function, n, &p, plain);
                    self.charge(cost, || {
                        let shown: String = String::from_utf8_lossy(&p).chars().take(40).collect();
                        format!(
                            "string.{function} with the pattern {shown:?}{} on a {n}-byte \
                             string",
                            if p.len() > 40 { "..." } else { "" }
                        )
                    })
                }
                // The function itself reports the wrong argument.
                _ => self.spend(0),
            },
        }
    }
}

/// A number argument as Lua would read it, when it is one.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An upper bound on the steps Lua's backtracking matcher (`lstrlib.c`) takes for one call of
/// `string.<function>` on a subject of `n` bytes. Each start position (`n + 1`, one for an
/// anchored `find`/`match`/`gsub`) walks the pattern once (`m` items, plus a scan of the subject
/// for each `%b` and back-reference), and each `*`, `+` or `-` item may retry the rest of the
/// pattern at every remaining position (a factor of `n + 1`), each `?` twice. `gmatch` and
/// `gsub` restart after each match, which the start positions already count. A plain `find`
/// compares the pattern at each start.
fn pattern_cost(function: &str, n: usize, pattern: &[u8], plain: bool) -> f64 {
    let n1 = n as f64 + 1.0;
    let m = pattern.len() as f64 + 1.0;
    if plain {
        return n1 * m;
    }
    let shape = PatternShape::of(pattern);
    let anchored = pattern.first() == Some(&b'^') && function != "gmatch";
    let starts = if anchored { 1.0 } else { n1 };
    let per_walk = m + n1 * f64::from(shape.scans);
    let cost = starts
        * per_walk
        * n1.powi(i32::try_from(shape.repeats).unwrap_or(i32::MAX))
        * 2f64.powi(i32::try_from(shape.optionals).unwrap_or(i32::MAX));
    if cost.is_finite() { cost } else { f64::MAX }
}

/// What in a Lua pattern makes matching cost more than one pass.
#[derive(Debug, Default, PartialEq, Eq)]
struct PatternShape {
    /// Single-character items followed by `*`, `+` or `-`.
    repeats: u32,
    /// Single-character items followed by `?`.
    optionals: u32,
    /// `%bxy` and back-references (`%1`), which scan the subject.
    scans: u32,
}

impl PatternShape {
    /// Walks the items the way `lstrlib.c` does (`class_end`); a malformed pattern just stops
    /// the walk (the matcher itself reports it).
    fn of(p: &[u8]) -> PatternShape {
        let mut shape = PatternShape::default();
        let mut i = usize::from(p.first() == Some(&b'^'));
        while i < p.len() {
            match p[i] {
                b'(' | b')' => {
                    i += 1;
                    continue;
                }
                b'%' => match p.get(i + 1) {
                    Some(b'b') => {
                        shape.scans += 1;
                        i += 4;
                        continue;
                    }
                    Some(b'f') => {
                        i = set_end(p, i + 2);
                        continue;
                    }
                    Some(d) if d.is_ascii_digit() => {
                        shape.scans += 1;
                        i += 2;
                        continue;
                    }
                    Some(_) => i += 2,
                    None => break,
                },
                b'[' => i = set_end(p, i),
                _ => i += 1,
            }
            match p.get(i) {
                Some(b'*' | b'+' | b'-') => {
                    shape.repeats += 1;
                    i += 1;
                }
                Some(b'?') => {
                    shape.optionals += 1;
                    i += 1;
                }
                _ => {}
            }
        }
        shape
    }
}

/// The index after the set (`[...]`) starting at `i`, or the pattern's end when it is not one.
fn set_end(p: &[u8], mut i: usize) -> usize {
    if p.get(i) != Some(&b'[') {
        return p.len();
    }
    i += 1;
    if p.get(i) == Some(&b'^') {
        i += 1;
    }
    loop {
        let Some(&c) = p.get(i) else {
            return p.len();
        };
        i += 1;
        if c == b'%' {
            i += 1;
        }
        if p.get(i) == Some(&b']') {
            return i + 1;
        }
    }
}

/// The length Lua gives a pattern-function argument: strings as they are, numbers as they
/// print (at most a few dozen bytes); `None` for anything the function itself will refuse.
fn text_len(value: &Value) -> Option<usize> {
    match value {
        Value::String(s) => Some(s.as_bytes().len()),
        Value::Integer(_) | Value::Number(_) => Some(48),
        _ => None,
    }
}

fn text_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

/// A Lua state locked down for evaluating data files. Reusable: each evaluation gets a fresh
/// environment and a fresh budget.
pub struct Sandbox {
    lua: Lua,
    limits: Limits,
    make_env: mlua::Function,
    meter: Arc<Meter>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

const PRELUDE_NAME: &str = "=lvm sandbox prelude";

/// The prelude compiled once per process. Each sandbox loads this bytecode instead of parsing
/// the source again; it is made here from [`PRELUDE`], never read from anywhere, and the code a
/// sandbox runs for a rockspec is still only ever loaded as text.
fn prelude_bytecode() -> Result<&'static [u8], SandboxError> {
    static BYTECODE: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(bytecode) = BYTECODE.get() {
        return Ok(bytecode);
    }
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).map_err(SandboxError::Setup)?;
    let prelude = lua
        .load(PRELUDE)
        .set_name(PRELUDE_NAME)
        .set_mode(ChunkMode::Text)
        .into_function()
        .map_err(SandboxError::Setup)?;
    Ok(BYTECODE.get_or_init(|| prelude.dump(false)))
}

impl Sandbox {
    pub fn new(limits: Limits) -> Result<Sandbox, SandboxError> {
        // Most of a sandbox's set-up was parsing the prelude, once per rockspec evaluated.
        let lua = Lua::new_with(
            StdLib::STRING | StdLib::TABLE | StdLib::MATH,
            LuaOptions::default(),
        )
        .map_err(SandboxError::Setup)?;
        // `string` is also every string's metatable index, so `("").dump` would reach it even
        // from a copied library table.
        let string: mlua::Table = lua.globals().get("string").map_err(SandboxError::Setup)?;
        string
            .raw_set("dump", Value::Nil)
            .map_err(SandboxError::Setup)?;

        let meter = Arc::new(Meter::new(limits));
        let check = {
            let meter = Arc::clone(&meter);
            lua.create_function(move |_, ()| meter.spend(0))
                .map_err(SandboxError::Setup)?
        };
        let charge = {
            let meter = Arc::clone(&meter);
            lua.create_function(
                move |_, (function, a, b, c): (String, Value, Value, Value)| {
                    meter.charge_call(&function, &a, &b, &c)
                },
            )
            .map_err(SandboxError::Setup)?
        };
        let make_env: mlua::Function = lua
            .load(prelude_bytecode()?)
            .set_name(PRELUDE_NAME)
            .set_mode(ChunkMode::Binary)
            .call((check, charge, lua.globals()))
            .map_err(SandboxError::Setup)?;
        {
            let meter = Arc::clone(&meter);
            lua.set_hook(
                HookTriggers::new().every_nth_instruction(HOOK_INTERVAL),
                move |_, _| {
                    meter
                        .spend(u64::from(HOOK_INTERVAL))
                        .map(|()| VmState::Continue)
                },
            )
            .map_err(SandboxError::Setup)?;
        }
        lua.set_memory_limit(limits.memory)
            .map_err(SandboxError::Setup)?;
        Ok(Sandbox {
            lua,
            limits,
            make_env,
            meter,
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Runs `source` with a fresh environment as `_ENV` and returns that environment: the
    /// globals the chunk defined (the provided functions are not in it). `chunk_name` (usually
    /// the file name) prefixes every error.
    pub fn eval_globals(
        &self,
        source: &str,
        chunk_name: &str,
    ) -> Result<mlua::Table, SandboxError> {
        // Garbage from an earlier evaluation must not count against this one.
        let _ = self.lua.gc_collect();
        self.meter.reset();
        let env: mlua::Table = self
            .make_env
            .call(())
            .map_err(|e| self.classify(e, chunk_name))?;
        self.lua
            .load(source)
            .set_name(format!("={CHUNK_ID}"))
            .set_mode(ChunkMode::Text)
            .set_environment(env.clone())
            .exec()
            .map_err(|e| self.classify(e, chunk_name))?;
        Ok(env)
    }

    /// A fresh budget for copying values out by hand (as the server-manifest reader does).
    pub fn copy_budget(&self) -> CopyBudget {
        CopyBudget {
            values: self.limits.max_values,
            bytes: self.limits.max_bytes,
        }
    }

    /// Copies a value out of the VM. `path` names the value in errors (e.g. `repository`).
    pub fn to_data(
        &self,
        value: Value,
        chunk_name: &str,
        path: &str,
    ) -> Result<Option<Data>, SandboxError> {
        let mut copier = Copier {
            max_depth: self.limits.max_depth,
            budget: self.copy_budget(),
        };
        copier
            .value(value, Seg::Root(path), 0)
            .map_err(|(path, message)| SandboxError::Convert {
                chunk: chunk_name.to_string(),
                path,
                message,
            })
    }

    /// Copies every global of an environment returned by [`Sandbox::eval_globals`].
    pub fn globals_to_data(
        &self,
        env: &mlua::Table,
        chunk_name: &str,
    ) -> Result<DataTable, SandboxError> {
        match self.to_data(Value::Table(env.clone()), chunk_name, "")? {
            Some(Data::Table(t)) => Ok(t),
            _ => Ok(DataTable::default()),
        }
    }

    fn classify(&self, error: mlua::Error, chunk: &str) -> SandboxError {
        let chunk = chunk.to_string();
        match self.meter.fired() {
            Fired::Nothing => {}
            Fired::Instructions => {
                return SandboxError::InstructionLimit {
                    chunk,
                    limit: self.limits.instructions,
                };
            }
            Fired::Time => {
                return SandboxError::TimeLimit {
                    chunk,
                    limit: self.limits.wall_time,
                };
            }
            Fired::Expensive => {
                return SandboxError::CallLimit {
                    chunk,
                    message: lock(&self.meter.call_message).clone(),
                };
            }
        }
        let root = root_cause(&error);
        match root {
            mlua::Error::MemoryError(_) => SandboxError::MemoryLimit {
                chunk,
                limit: self.limits.memory,
            },
            mlua::Error::SyntaxError { message, .. } => {
                let (line, message) = split_location(message, CHUNK_ID);
                SandboxError::Syntax {
                    chunk,
                    line,
                    message,
                }
            }
            mlua::Error::RuntimeError(message) => {
                let first = message.lines().next().unwrap_or_default();
                let (line, message) = split_location(first, CHUNK_ID);
                SandboxError::Runtime {
                    chunk,
                    line,
                    message,
                }
            }
            other => SandboxError::Runtime {
                chunk,
                line: None,
                message: other.to_string(),
            },
        }
    }
}

fn root_cause(error: &mlua::Error) -> &mlua::Error {
    match error {
        mlua::Error::CallbackError { cause, .. } => root_cause(cause),
        mlua::Error::WithContext { cause, .. } => root_cause(cause),
        other => other,
    }
}

/// Splits `chunk:LINE: message` (how Lua prefixes errors) into the line and the message.
fn split_location(message: &str, chunk: &str) -> (Option<u32>, String) {
    let Some(rest) = message
        .strip_prefix(chunk)
        .and_then(|r| r.strip_prefix(':'))
    else {
        return (None, message.to_string());
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match (
        rest[..digits].parse().ok(),
        rest[digits..].strip_prefix(':'),
    ) {
        (Some(line), Some(text)) => (Some(line), text.trim_start().to_string()),
        _ => (None, message.to_string()),
    }
}

/// Where a value sits, built as the copy descends and rendered only for an error message, so
/// that copying a large manifest does not format a path per value.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root(&'a str),
    Field(&'a Seg<'a>, &'a str),
    Index(&'a Seg<'a>, i64),
    Key(&'a Seg<'a>, &'a str),
}

impl Seg<'_> {
    fn render(&self) -> String {
        match self {
            Seg::Root(path) => path.to_string(),
            Seg::Field(parent, key) => field_path(&parent.render(), key),
            Seg::Index(parent, i) => format!("{}[{i}]", parent.render()),
            Seg::Key(parent, key) => format!("{}{key}", parent.render()),
        }
    }
}

type CopyError = (String, String);

/// What is left of the values and string bytes one copy out of the VM may produce. Strings are
/// charged before they are copied, so a string shared by thousands of places stops the copy
/// at the limit instead of after filling memory.
#[derive(Debug, Clone)]
pub struct CopyBudget {
    values: usize,
    bytes: usize,
}

impl CopyBudget {
    /// Takes one value from the budget.
    fn value(&mut self) -> Result<(), String> {
        match self.values.checked_sub(1) {
            Some(left) => {
                self.values = left;
                Ok(())
            }
            None => Err(
                "too many values to copy out (shared sub-tables repeated too often?)".to_string(),
            ),
        }
    }

    /// Copies a string out if its bytes fit in the budget.
    fn string(&mut self, s: &mlua::LuaString) -> Result<String, String> {
        let len = s.as_bytes().len();
        match self.bytes.checked_sub(len) {
            Some(left) => {
                self.bytes = left;
                Ok(lua_string(s))
            }
            None => Err(format!(
                "too much text to copy out (a {len}-byte string with less than that left of \
                 the limit; one big string referenced many times?)"
            )),
        }
    }

    /// [`CopyBudget::string`] for readers that only need to know it did not fit.
    pub fn take_string(&mut self, s: &mlua::LuaString) -> Option<String> {
        self.string(s).ok()
    }
}

struct Copier {
    max_depth: usize,
    budget: CopyBudget,
}

impl Copier {
    fn value(
        &mut self,
        value: Value,
        at: Seg<'_>,
        depth: usize,
    ) -> Result<Option<Data>, CopyError> {
        self.budget.value().map_err(|m| (at.render(), m))?;
        Ok(Some(match value {
            Value::Nil => return Ok(None),
            Value::Boolean(b) => Data::Boolean(b),
            Value::Integer(i) => Data::Integer(i),
            Value::Number(n) => Data::Number(n),
            Value::String(s) => Data::String(self.budget.string(&s).map_err(|m| (at.render(), m))?),
            Value::Table(t) => {
                if depth >= self.max_depth {
                    return Err((
                        at.render(),
                        format!(
                            "tables nested deeper than {} levels (a table containing itself?)",
                            self.max_depth
                        ),
                    ));
                }
                Data::Table(self.table(t, at, depth + 1)?)
            }
            other => Data::Opaque(other.type_name()),
        }))
    }

    fn table(
        &mut self,
        table: mlua::Table,
        at: Seg<'_>,
        depth: usize,
    ) -> Result<DataTable, CopyError> {
        let mut out = DataTable::default();
        for pair in table.pairs::<Value, Value>() {
            let (key, value) = pair.map_err(|e| (at.render(), e.to_string()))?;
            match key {
                Value::String(s) => {
                    let key = self.budget.string(&s).map_err(|m| (at.render(), m))?;
                    if let Some(v) = self.value(value, Seg::Field(&at, &key), depth)? {
                        out.fields.insert(key, v);
                    }
                }
                Value::Integer(i) => {
                    if let Some(v) = self.value(value, Seg::Index(&at, i), depth)? {
                        // Lua usually hands out the list part in order.
                        if usize::try_from(i).is_ok_and(|i| i == out.array.len() + 1) {
                            out.array.push(v);
                        } else {
                            out.numbered.insert(i, v);
                        }
                    }
                }
                other => {
                    let rendered = match &other {
                        Value::Number(n) => format!("[{n}]"),
                        Value::Boolean(b) => format!("[{b}]"),
                        v => format!("[<{}>]", v.type_name()),
                    };
                    if let Some(v) = self.value(value, Seg::Key(&at, &rendered), depth)? {
                        out.other.push((rendered, v));
                    }
                }
            }
        }
        out.normalize();
        Ok(out)
    }
}

/// A Lua string (bytes) as Rust text, invalid UTF-8 replaced.
pub(crate) fn lua_string(s: &mlua::LuaString) -> String {
    String::from_utf8_lossy(&s.as_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(source: &str) -> Result<DataTable, SandboxError> {
        let sandbox = Sandbox::new(Limits::ROCKSPEC)?;
        let env = sandbox.eval_globals(source, "test.lua")?;
        sandbox.globals_to_data(&env, "test.lua")
    }

    #[test]
    fn globals_are_copied_out_without_the_provided_functions() {
        let data =
            eval("a = 1; b = { 'x', 'y', k = true, [5] = 2.5 }; c = string.upper('q')").unwrap();
        assert_eq!(data.fields.len(), 3);
        assert_eq!(data.get("a"), Some(&Data::Integer(1)));
        assert_eq!(data.get("c"), Some(&Data::String("Q".into())));
        let b = data.get("b").and_then(Data::as_table).unwrap();
        assert_eq!(
            b.array,
            vec![Data::String("x".into()), Data::String("y".into())]
        );
        assert_eq!(b.fields.get("k"), Some(&Data::Boolean(true)));
        assert_eq!(b.numbered.get(&5), Some(&Data::Number(2.5)));
        assert_eq!(b.stray_keys().collect::<Vec<_>>(), ["[5]"]);
    }

    #[test]
    fn dangerous_functions_are_absent() {
        for (source, needle) in [
            ("os.execute('true')", "global 'os'"),
            ("io.open('/etc/passwd')", "global 'io'"),
            ("require('x')", "global 'require'"),
            ("load('return 1')", "global 'load'"),
            ("dofile('/etc/passwd')", "global 'dofile'"),
            ("debug.getinfo(1)", "global 'debug'"),
            ("collectgarbage()", "global 'collectgarbage'"),
            ("setmetatable({}, {})", "global 'setmetatable'"),
            ("string.dump(print)", "field 'dump'"),
            ("x = (''):dump()", "method 'dump'"),
        ] {
            let err = eval(source).unwrap_err().to_string();
            assert!(err.contains(needle), "{source}: {err}");
            assert!(err.starts_with("test.lua:1: attempt to"), "{source}: {err}");
        }
    }

    #[test]
    fn library_changes_do_not_leak_between_evaluations() {
        let sandbox = Sandbox::new(Limits::ROCKSPEC).unwrap();
        sandbox.eval_globals("string.upper = nil", "a").unwrap();
        let env = sandbox.eval_globals("x = string.upper('a')", "b").unwrap();
        let data = sandbox.globals_to_data(&env, "b").unwrap();
        assert_eq!(data.get("x"), Some(&Data::String("A".into())));
    }

    #[test]
    fn limits_stop_hostile_chunks() {
        let err = eval("while true do end").unwrap_err();
        assert!(
            matches!(err, SandboxError::InstructionLimit { .. }),
            "{err}"
        );
        let err = eval("while true do pcall(function() while true do end end) end").unwrap_err();
        assert!(
            matches!(err, SandboxError::InstructionLimit { .. }),
            "{err}"
        );
        let err = eval("x = string.rep('x', 1e9)").unwrap_err();
        assert!(matches!(err, SandboxError::MemoryLimit { .. }), "{err}");
        let err = eval("local s = 'x' for i = 1, 40 do s = s .. s end").unwrap_err();
        assert!(err.to_string().contains("memory limit exceeded"), "{err}");
        // Lua itself refuses strings over 2 GiB before allocating.
        let err = eval("x = string.rep('x', 1e10)").unwrap_err();
        assert!(
            err.to_string().contains("resulting string too large"),
            "{err}"
        );
        // A budget resets between evaluations.
        let sandbox = Sandbox::new(Limits::ROCKSPEC).unwrap();
        assert!(sandbox.eval_globals("while true do end", "a").is_err());
        assert!(sandbox.eval_globals("x = 1", "b").is_ok());
    }

    #[test]
    fn pathological_patterns_are_refused_before_they_run() {
        for source in [
            r#"x = ("a"):rep(30):find(("a*"):rep(30).."b")"#,
            r#"x = string.match(("a"):rep(40), ("a?"):rep(40)..("a"):rep(40))"#,
            r#"for w in (("a"):rep(5000)):gmatch("a-a-a-b") do end"#,
            r#"x = pcall(string.gsub, ("a"):rep(30), ("a*"):rep(30).."b", "")"#,
        ] {
            let err = eval(source).unwrap_err();
            assert!(
                matches!(err, SandboxError::CallLimit { .. }),
                "{source}: {err}"
            );
            assert!(err.to_string().contains("may take about"), "{err}");
        }
        // Ordinary rockspec uses pass, and argument errors still name the function.
        let data = eval(
            r#"a = ("lvmx.json.util"):gsub("%.", "/")
               b, c = ("1.13.1-3"):match("^(.-)%-(%d+)$")
               d = select(2, pcall(string.find))"#,
        )
        .unwrap();
        assert_eq!(data.get("a"), Some(&Data::String("lvmx/json/util".into())));
        assert_eq!(data.get("b"), Some(&Data::String("1.13.1".into())));
        assert_eq!(data.get("c"), Some(&Data::String("3".into())));
        let d = data.get("d").and_then(Data::as_str).unwrap();
        assert!(d.contains("bad argument #1 to 'find'"), "{d}");
    }

    #[test]
    fn unbounded_c_loops_are_refused() {
        for source in [
            "x = (''):rep(1e18)",
            "x = string.rep('', math.maxinteger, '')",
            "table.move({}, 1, 1e15, 2)",
        ] {
            let err = eval(source).unwrap_err();
            assert!(
                matches!(err, SandboxError::CallLimit { .. }),
                "{source}: {err}"
            );
        }
        let data = eval("a = ('ab'):rep(3, ',') b = table.move({1, 2, 3}, 1, 3, 2)[4]").unwrap();
        assert_eq!(data.get("a"), Some(&Data::String("ab,ab,ab".into())));
        assert_eq!(data.get("b"), Some(&Data::Integer(3)));
    }

    #[test]
    fn pattern_costs_bound_backtracking() {
        assert_eq!(
            PatternShape::of(b"^(%d+)%.(%d-)x?[%]a]*%b()%1%f[%w]"),
            PatternShape {
                repeats: 3,
                optionals: 1,
                scans: 2,
            }
        );
        assert!(pattern_cost("find", 30, &b"a*".repeat(30), false) > 1e40);
        assert_eq!(pattern_cost("find", 9, b"a*", true), 30.0);
        // Anchored: one start, two repeats (`.-`, `%d+`) over 101 positions, 14 pattern bytes.
        assert_eq!(
            pattern_cost("match", 100, b"^(.-)%-(%d+)$", false),
            14.0 * 101.0 * 101.0
        );
        assert!(
            pattern_cost("gmatch", 100, b"^a", false) > pattern_cost("match", 100, b"^a", false)
        );
    }

    #[test]
    fn error_handlers_cannot_outrun_the_limits() {
        for source in [
            "xpcall(error, function() while true do end end)",
            "while true do xpcall(function() while true do end end, function() while true do end end) end",
            "xpcall(error, function() pcall(function() while true do end end) while true do end end)",
        ] {
            let err = eval(source).unwrap_err();
            assert!(
                matches!(err, SandboxError::InstructionLimit { .. }),
                "{source}: {err}"
            );
        }
    }

    #[test]
    fn the_wall_clock_stops_what_the_instruction_count_allows() {
        let limits = Limits {
            instructions: u64::MAX,
            wall_time: Duration::ZERO,
            ..Limits::ROCKSPEC
        };
        let sandbox = Sandbox::new(limits).unwrap();
        let err = sandbox
            .eval_globals("while true do end", "slow.lua")
            .unwrap_err();
        assert!(matches!(err, SandboxError::TimeLimit { .. }), "{err}");
        assert!(
            err.to_string().starts_with("slow.lua: time limit exceeded"),
            "{err}"
        );
    }

    #[test]
    fn copies_out_are_bounded_in_bytes() {
        let err =
            eval("local s = ('x'):rep(1e6) t = {} for i = 1, 5e4 do t[i] = s end").unwrap_err();
        assert!(
            err.to_string().contains("too much text to copy out"),
            "{err}"
        );
        let err = eval("local s = ('x'):rep(1e6) t = {} for i = 1, 5e4 do t[s .. i] = 1 end")
            .unwrap_err();
        assert!(
            matches!(
                err,
                SandboxError::MemoryLimit { .. } | SandboxError::Convert { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn long_file_names_appear_once() {
        let name = format!("/{}/foo-1.0-1.rockspec", "very-long-directory".repeat(8));
        let sandbox = Sandbox::new(Limits::ROCKSPEC).unwrap();
        for source in ["x = = 1", "error('boom')", "x = nil + 1"] {
            let err = sandbox.eval_globals(source, &name).unwrap_err().to_string();
            assert_eq!(err.matches("very-long-directory").count(), 8, "{err}");
            assert!(err.starts_with(&format!("{name}:1: ")), "{err}");
            assert!(!err.contains(CHUNK_ID), "{err}");
        }
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = eval("a = 1\nb = {\nc = = 2\n}").unwrap_err();
        assert_eq!(err.line(), Some(3), "{err}");
        assert!(
            err.to_string().starts_with("test.lua:3: syntax error:"),
            "{err}"
        );
    }

    #[test]
    fn binary_chunks_are_refused() {
        let err = eval("\x1bLua\x54\x00").unwrap_err();
        assert!(err.to_string().contains("binary"), "{err}");
    }

    #[test]
    fn cycles_are_reported_not_followed() {
        let err = eval("t = {}; t.self = t").unwrap_err().to_string();
        assert!(err.contains("nested deeper than"), "{err}");
    }

    #[test]
    fn field_paths_quote_non_identifiers() {
        assert_eq!(field_path("", "build"), "build");
        assert_eq!(
            field_path("build.modules", "foo.core"),
            "build.modules[\"foo.core\"]"
        );
        assert_eq!(field_path("a", "end"), "a[\"end\"]");
        assert_eq!(index_path("deps", 2), "deps[2]");
    }
}
