//! The sandbox that evaluates untrusted Lua *data* files (rockspecs, server manifests).
//!
//! Such files are Lua programs, so evaluating them must not give them the machine: a chunk sees
//! only the safe base functions and copies of the `string`, `table` and `math` libraries (no
//! `io`, `os`, `require`, `load`, `debug`, `package`, metatables or `string.dump`), only text
//! chunks are accepted (crafted bytecode can crash the VM), and every evaluation is bounded in
//! instructions and memory. The globals a chunk defines are then copied out of the VM as
//! [`Data`], a plain tree the format modules type-check with field paths.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mlua::chunk::ChunkMode;
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Value, VmState};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use thiserror::Error;

/// How many VM instructions run between two checks of the instruction budget.
const HOOK_INTERVAL: u32 = 1_000;

/// Resource bounds for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// VM instructions a chunk may execute (checked every thousand instructions).
    pub instructions: u64,
    /// Bytes the whole Lua state may allocate.
    pub memory: usize,
    /// Deepest table nesting [`Sandbox::to_data`] copies out (a cycle would be infinite).
    pub max_depth: usize,
    /// Most values [`Sandbox::to_data`] copies out (shared sub-tables are copied each time).
    pub max_values: usize,
}

impl Limits {
    /// Enough for any real rockspec (even ones that build their module lists in loops), small
    /// enough that a hostile one fails in well under a second.
    pub const ROCKSPEC: Limits = Limits {
        instructions: 2_000_000,
        memory: 64 * 1024 * 1024,
        max_depth: 32,
        max_values: 100_000,
    };

    /// Limits for a server manifest of `len` bytes. A manifest is one big table constructor,
    /// which runs a bounded number of instructions and allocates a bounded multiple of memory
    /// per byte of source, so the limits grow with the size (the full manifest of a big server
    /// is tens of megabytes) while a small file with a loop still stops quickly.
    pub fn manifest(len: usize) -> Limits {
        let len64 = u64::try_from(len).unwrap_or(u64::MAX);
        Limits {
            instructions: 2_000_000u64.saturating_add(len64.saturating_mul(4)),
            memory: (256 * 1024 * 1024usize).saturating_add(len.saturating_mul(32)),
            max_depth: 32,
            max_values: 1_000_000usize.saturating_add(len),
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
/// so a chunk cannot swallow the instruction-limit error and keep running.
const PRELUDE: &str = r#"
local check, raw = ...
local raw_pcall, raw_xpcall, raw_pairs, raw_ipairs = raw.pcall, raw.xpcall, raw.pairs, raw.ipairs
local raw_setmetatable = raw.setmetatable
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
return function()
  local base = {}
  for _, name in raw_ipairs(base_names) do base[name] = raw[name] end
  base.pcall = function(f, ...) return pass(raw_pcall(f, ...)) end
  base.xpcall = function(f, handler, ...) return pass(raw_xpcall(f, handler, ...)) end
  base.string = copy(raw.string)
  base.table = copy(raw.table)
  base.math = copy(raw.math)
  return raw_setmetatable({}, { __index = base })
end
"#;

/// A Lua state locked down for evaluating data files. Reusable: each evaluation gets a fresh
/// environment and a fresh instruction budget.
pub struct Sandbox {
    lua: Lua,
    limits: Limits,
    make_env: mlua::Function,
    /// Hook calls so far in the current evaluation (each is [`HOOK_INTERVAL`] instructions).
    ticks: Arc<AtomicU64>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    pub fn new(limits: Limits) -> Result<Sandbox, SandboxError> {
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

        let ticks = Arc::new(AtomicU64::new(0));
        let max_ticks = max_ticks(&limits);
        let check = {
            let ticks = Arc::clone(&ticks);
            lua.create_function(move |_, ()| {
                if ticks.load(Ordering::Relaxed) > max_ticks {
                    Err(mlua::Error::runtime("instruction limit exceeded"))
                } else {
                    Ok(())
                }
            })
            .map_err(SandboxError::Setup)?
        };
        let make_env: mlua::Function = lua
            .load(PRELUDE)
            .set_name("=lvm sandbox prelude")
            .set_mode(ChunkMode::Text)
            .call((check, lua.globals()))
            .map_err(SandboxError::Setup)?;
        {
            let ticks = Arc::clone(&ticks);
            lua.set_hook(
                HookTriggers::new().every_nth_instruction(HOOK_INTERVAL),
                move |_, _| {
                    if ticks.fetch_add(1, Ordering::Relaxed) + 1 > max_ticks {
                        Err(mlua::Error::runtime("instruction limit exceeded"))
                    } else {
                        Ok(VmState::Continue)
                    }
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
            ticks,
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
        self.ticks.store(0, Ordering::Relaxed);
        let env: mlua::Table = self
            .make_env
            .call(())
            .map_err(|e| self.classify(e, chunk_name))?;
        self.lua
            .load(source)
            .set_name(format!("={chunk_name}"))
            .set_mode(ChunkMode::Text)
            .set_environment(env.clone())
            .exec()
            .map_err(|e| self.classify(e, chunk_name))?;
        Ok(env)
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
            budget: self.limits.max_values,
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
        if self.ticks.load(Ordering::Relaxed) > max_ticks(&self.limits) {
            return SandboxError::InstructionLimit {
                chunk,
                limit: self.limits.instructions,
            };
        }
        let root = root_cause(&error);
        match root {
            mlua::Error::MemoryError(_) => SandboxError::MemoryLimit {
                chunk,
                limit: self.limits.memory,
            },
            mlua::Error::SyntaxError { message, .. } => {
                let (line, message) = split_location(message, &chunk);
                SandboxError::Syntax {
                    chunk,
                    line,
                    message,
                }
            }
            mlua::Error::RuntimeError(message) => {
                let first = message.lines().next().unwrap_or_default();
                let (line, message) = split_location(first, &chunk);
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

fn max_ticks(limits: &Limits) -> u64 {
    limits.instructions.div_ceil(u64::from(HOOK_INTERVAL))
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

struct Copier {
    max_depth: usize,
    budget: usize,
}

impl Copier {
    fn value(
        &mut self,
        value: Value,
        at: Seg<'_>,
        depth: usize,
    ) -> Result<Option<Data>, CopyError> {
        if self.budget == 0 {
            return Err((
                at.render(),
                "too many values to copy out (shared sub-tables repeated too often?)".to_string(),
            ));
        }
        self.budget -= 1;
        Ok(Some(match value {
            Value::Nil => return Ok(None),
            Value::Boolean(b) => Data::Boolean(b),
            Value::Integer(i) => Data::Integer(i),
            Value::Number(n) => Data::Number(n),
            Value::String(s) => Data::String(lua_string(&s)),
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
                    let key = lua_string(&s);
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
