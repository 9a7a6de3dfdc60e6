//! Lua tables written exactly as LuaRocks 3.8's `persist.save_from_table` writes them, so the
//! `rock_manifest` and tree `manifest` files lvm writes are byte-for-byte what LuaRocks would
//! write for the same content.
//!
//! LuaRocks' rules (`persist.lua`, `util.sortedpairs`): keys sorted with numbers first, then
//! strings bytewise; array items `1..n` written without keys; three-space indentation; a
//! number value is followed by `, ` on the same line, anything else by `,\n`; identifiers are
//! bare keys, other keys `["..."]`; strings are written as `%q` writes them. One deliberate
//! difference: LuaRocks writes strings with line breaks in long brackets, which a key cannot
//! use (`[[[` opens a long string) and a crafted string can break out of; lvm writes every
//! string as a quoted literal with escapes, which no string content can end early.

use std::fmt::Write;

/// A Lua table key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// Numbers sort before strings, as in LuaRocks' `default_sort`.
    Index(i64),
    Name(String),
}

/// A Lua value LuaRocks persists.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Table(Table),
}

/// A table; `insert` keeps keys unique and the writer sorts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table(Vec<(Key, Value)>);

impl Table {
    pub fn new() -> Table {
        Table(Vec::new())
    }

    /// Sets `key` (replacing an existing value).
    pub fn set(&mut self, key: Key, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn set_str(&mut self, key: &str, value: impl Into<String>) {
        self.set(Key::Name(key.to_string()), Value::Str(value.into()));
    }

    pub fn set_table(&mut self, key: &str, value: Table) {
        self.set(Key::Name(key.to_string()), Value::Table(value));
    }

    /// Appends at index `len + 1` of the array part.
    pub fn push(&mut self, value: Value) {
        let next = self
            .0
            .iter()
            .filter(|(k, _)| matches!(k, Key::Index(_)))
            .count() as i64
            + 1;
        self.set(Key::Index(next), value);
    }

    /// The sub-table at `key`, created empty if absent (or replacing a non-table).
    pub fn table_mut(&mut self, key: &str) -> &mut Table {
        let key = Key::Name(key.to_string());
        let pos = match self.0.iter().position(|(k, _)| *k == key) {
            Some(pos) => {
                if !matches!(self.0[pos].1, Value::Table(_)) {
                    self.0[pos].1 = Value::Table(Table::new());
                }
                pos
            }
            None => {
                self.0.push((key, Value::Table(Table::new())));
                self.0.len() - 1
            }
        };
        match &mut self.0[pos].1 {
            Value::Table(t) => t,
            _ => unreachable!("slot was just made a table"),
        }
    }

    fn sorted(&self) -> Vec<&(Key, Value)> {
        let mut items: Vec<&(Key, Value)> = self.0.iter().collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
    }
}

/// `persist.save_from_table`: each top-level field as `name = value` on its own line.
/// Top-level keys must be identifiers (LuaRocks refuses others).
pub fn save_from_table(fields: &Table) -> String {
    let mut out = String::new();
    for (key, value) in fields.sorted() {
        let name = match key {
            Key::Name(n) => n.clone(),
            Key::Index(i) => i.to_string(),
        };
        out.push_str(&name);
        out.push_str(" = ");
        write_value(&mut out, value, 0);
        out.push('\n');
    }
    out
}

fn write_value(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Table(t) => write_table(out, t, level + 1),
        Value::Str(s) => write_string(out, s),
        Value::Num(n) => out.push_str(&format_number(*n)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

fn write_table(out: &mut String, table: &Table, level: usize) {
    const INDENT: &str = "   ";
    out.push('{');
    let mut sep = "\n";
    let mut indent = true;
    let mut next_index = 1i64;
    for (key, value) in table.sorted() {
        out.push_str(sep);
        if indent {
            out.push_str(&INDENT.repeat(level));
        }
        if *key == Key::Index(next_index) {
            next_index += 1;
        } else {
            write_key(out, key, level);
        }
        write_value(out, value, level);
        if matches!(value, Value::Num(_)) {
            sep = ", ";
            indent = false;
        } else {
            sep = ",\n";
            indent = true;
        }
    }
    if sep != "\n" {
        out.push('\n');
        out.push_str(&INDENT.repeat(level.saturating_sub(1)));
    }
    out.push('}');
}

fn write_key(out: &mut String, key: &Key, level: usize) {
    match key {
        Key::Name(name) if is_plain_key(name) => out.push_str(name),
        Key::Name(name) => {
            out.push('[');
            write_value(out, &Value::Str(name.clone()), level);
            out.push(']');
        }
        Key::Index(i) => {
            let _ = write!(out, "[{i}]");
        }
    }
    out.push_str(" = ");
}

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

fn is_plain_key(name: &str) -> bool {
    let mut bytes = name.bytes();
    let starts_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    starts_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') && !KEYWORDS.contains(&name)
}

/// A double-quoted Lua literal that reads back as exactly `s` in every Lua from 5.1 on: quotes,
/// backslashes and control characters are escaped (decimal escapes, three digits when a digit
/// follows, as `%q` does); everything else, UTF-8 included, is written as it is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    let _ = write!(out, "\\{:03}", c as u32);
                } else {
                    let _ = write!(out, "\\{}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Numbers as Lua's `tostring` prints them: integers without a fraction, others with up to 14
/// significant digits (`%.14g`).
pub fn format_number(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    format_g14(n)
}

fn format_g14(n: f64) -> String {
    if !n.is_finite() {
        return if n.is_nan() {
            "nan".into()
        } else if n > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let exp = n.abs().log10().floor() as i32;
    if !(-5..14).contains(&exp) {
        let s = format!("{:.13e}", n);
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = trim_fraction(mantissa);
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", e.abs());
    }
    let decimals = (13 - exp).max(0) as usize;
    trim_fraction(&format!("{:.*}", decimals, n)).to_string()
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_luarocks() {
        let mut version = Table::new();
        version.push(Value::Num(2.0));
        version.push(Value::Num(0.0));
        version.push(Value::Num(-999_999.999_97));
        version.set(Key::Name("revision".into()), Value::Num(1.0));
        version.set_str("string", "2.0alpha3-1");
        let mut c = Table::new();
        c.set_str("op", "==");
        c.set_table("version", version);
        let mut arr = Table::new();
        arr.push(Value::Table(c));
        let mut top = Table::new();
        top.set_table("constraints", arr);
        top.set_table("empty", Table::new());
        top.set_str("foo.bar", "x\"y");
        let mut fields = Table::new();
        fields.set_table("t", top);
        let expected = "t = {\n   constraints = {\n      {\n         op = \"==\",\n         version = {\n            2, 0, -999999.99997, revision = 1, string = \"2.0alpha3-1\"\n         }\n      }\n   },\n   empty = {},\n   [\"foo.bar\"] = \"x\\\"y\"\n}\n";
        assert_eq!(save_from_table(&fields), expected);
    }

    #[test]
    fn numbers_print_like_lua() {
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(0.097), "0.097");
        assert_eq!(format_number(-999.99999), "-999.99999");
        assert_eq!(format_number(1.0 / 3.0), "0.33333333333333");
    }

    /// Loads `text` in a fresh Lua 5.4 (the interpreter lvm embeds) and returns the global
    /// table `t` as (key, value) byte strings, checking that nothing else was defined.
    fn load_in_lua(text: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let lua = mlua::Lua::new();
        let env = lua.create_table().unwrap();
        lua.load(text)
            .set_environment(env.clone())
            .exec()
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let names: Vec<String> = env
            .pairs::<String, mlua::Value>()
            .map(|p| p.unwrap().0)
            .collect();
        assert_eq!(names, ["t"], "{text}");
        let t: mlua::Table = env.get("t").unwrap();
        t.pairs::<mlua::LuaString, mlua::LuaString>()
            .map(|p| {
                let (k, v) = p.unwrap();
                (k.as_bytes().to_vec(), v.as_bytes().to_vec())
            })
            .collect()
    }

    /// Strings built from the pieces that end or open Lua literals and comments.
    fn hostile_string() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just("]]".to_string()),
                    Just("]=]".to_string()),
                    Just("[[".to_string()),
                    Just("[==[".to_string()),
                    Just("\"".to_string()),
                    Just("\\".to_string()),
                    Just("\n".to_string()),
                    Just("\r\n".to_string()),
                    Just("\r".to_string()),
                    Just("\0".to_string()),
                    Just("--".to_string()),
                    Just(" os.exit(3) ".to_string()),
                    "[0-9a-z=]{0,3}",
                ],
                0..10,
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any key and value, written and loaded by a real Lua, read back byte for byte and
        /// define nothing else: no string can end its literal early.
        #[test]
        fn any_string_reads_back_exactly(key in hostile_string(), value in hostile_string()) {
            let mut t = Table::new();
            t.set_str(&key, value.clone());
            let mut fields = Table::new();
            fields.set_table("t", t);
            let text = save_from_table(&fields);
            let read = load_in_lua(&text);
            proptest::prop_assert_eq!(read, vec![(key.into_bytes(), value.into_bytes())]);
        }
    }

    #[test]
    fn keywords_and_odd_keys_are_bracketed() {
        assert!(!is_plain_key("end"));
        assert!(!is_plain_key("a-b"));
        assert!(is_plain_key("_a1"));
        let mut s = String::new();
        write_string(&mut s, "a\nb]]\r\t1");
        assert_eq!(s, r#""a\nb]]\r\0091""#);
    }
}
