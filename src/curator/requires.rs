//! The `require` calls of Lua source, read without running it: a small lexer that skips
//! comments and strings, then the call shapes `require "m"`, `require("m")` and `pcall(require, "m")`.
//! A call whose argument is not one literal string is reported as dynamic (its module unknown).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// One `require` call found in a source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequireCall {
    /// The module required; `None` when the argument is computed (`require(name)`).
    pub module: Option<String>,
    /// 1-based line of the `require` word.
    pub line: usize,
    /// Called through `pcall`: the code copes when the module is missing.
    pub optional: bool,
}

/// Every `.lua` file under `dir`, sorted (none when it does not exist). Symbolic links are
/// not followed, so a link out of the folder is not read.
pub fn lua_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    out.sort();
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Str(String),
    Punct(char),
    /// Numbers, multi-character operators and anything else that matters only as "not a call
    /// shape".
    Other,
}

/// Every `require` call in `source`, in order.
pub fn require_calls(source: &str) -> Vec<RequireCall> {
    let tokens = tokenize(source);
    let mut out = Vec::new();
    for (i, (token, line)) in tokens.iter().enumerate() {
        if *token != Token::Name("require".into()) {
            continue;
        }
        let before = i.checked_sub(1).map(|j| &tokens[j].0);
        // `obj.require(...)`, `obj:require(...)` and `function require(...)` are other functions.
        if matches!(before, Some(Token::Punct('.' | ':')))
            || before == Some(&Token::Name("function".into()))
        {
            continue;
        }
        let at = |k: usize| tokens.get(i + k).map(|t| &t.0);
        let optional = i >= 2
            && tokens[i - 1].0 == Token::Punct('(')
            && tokens[i - 2].0 == Token::Name("pcall".into());
        let module = match (at(1), at(2), at(3)) {
            (Some(Token::Str(m)), _, _) => Some(Some(m.clone())),
            (Some(Token::Punct('(')), Some(Token::Str(m)), Some(Token::Punct(')'))) => {
                Some(Some(m.clone()))
            }
            (Some(Token::Punct('(')), _, _) => Some(None),
            // `pcall(require, "m")`
            (Some(Token::Punct(',')), Some(Token::Str(m)), Some(Token::Punct(')' | ',')))
                if optional =>
            {
                Some(Some(m.clone()))
            }
            (Some(Token::Punct(',')), _, _) if optional => Some(None),
            // `local r = require` and other uses of the function as a value.
            _ => None,
        };
        if let Some(module) = module {
            out.push(RequireCall {
                module,
                line: *line,
                optional,
            });
        }
    }
    out
}

/// Splits Lua source into the tokens the call shapes need, with their line; comments are
/// dropped, strings decoded just enough to name a module.
fn tokenize(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // A first line starting with `#` is a shebang, which Lua skips.
    if chars.first() == Some(&'#') {
        while i < chars.len() && chars[i] != '\n' {
            i += 1;
        }
    }
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            i += 2;
            if let Some(level) = long_bracket_level(&chars, i) {
                let (_, end, lines) = long_bracket(&chars, i, level);
                line += lines;
                i = end;
            } else {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
        } else if c == '[' && long_bracket_level(&chars, i).is_some() {
            let level = long_bracket_level(&chars, i).unwrap_or(0);
            let start_line = line;
            let (text, end, lines) = long_bracket(&chars, i, level);
            line += lines;
            i = end;
            out.push((Token::Str(text), start_line));
        } else if c == '"' || c == '\'' {
            let start_line = line;
            let (text, end, lines) = short_string(&chars, i);
            line += lines;
            i = end;
            out.push((Token::Str(text), start_line));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Token::Name(chars[start..i].iter().collect()), line));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push((Token::Other, line));
        } else if c == '.' && chars.get(i + 1) == Some(&'.') {
            // `..` (concatenation) and `...`: not the `.` of a field access.
            while i < chars.len() && chars[i] == '.' {
                i += 1;
            }
            out.push((Token::Other, line));
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// The level of a long bracket opening at `i` (`[[` is 0, `[==[` is 2).
fn long_bracket_level(chars: &[char], i: usize) -> Option<usize> {
    if chars.get(i) != Some(&'[') {
        return None;
    }
    let mut j = i + 1;
    while chars.get(j) == Some(&'=') {
        j += 1;
    }
    (chars.get(j) == Some(&'[')).then_some(j - i - 1)
}

/// A long bracket's text, the index after it, and the newlines it spans (an unclosed one runs
/// to the end of the source, as far as this scanner cares).
fn long_bracket(chars: &[char], i: usize, level: usize) -> (String, usize, usize) {
    let start = i + level + 2;
    let mut j = start;
    while j < chars.len() {
        if chars[j] == ']'
            && chars[j + 1..].iter().take(level).all(|c| *c == '=')
            && chars.get(j + 1 + level) == Some(&']')
        {
            let text: String = chars[start..j].iter().collect();
            let lines = text.matches('\n').count();
            return (text, j + level + 2, lines);
        }
        j += 1;
    }
    let text: String = chars[start.min(chars.len())..].iter().collect();
    let lines = text.matches('\n').count();
    (text, chars.len(), lines)
}

/// A quoted string's text (simple escapes decoded), the index after it, and the newlines it
/// spans (`\` followed by a newline, `\z`).
fn short_string(chars: &[char], i: usize) -> (String, usize, usize) {
    let quote = chars[i];
    let mut text = String::new();
    let mut lines = 0;
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            c if c == quote => return (text, j + 1, lines),
            // An unfinished string ends at the line's end, as Lua's lexer reports it.
            '\n' => return (text, j, lines),
            '\\' => {
                match chars.get(j + 1) {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('\n') => {
                        lines += 1;
                        text.push('\n');
                    }
                    Some(&c) => text.push(c),
                    None => {}
                }
                j += 2;
            }
            c => {
                text.push(c);
                j += 1;
            }
        }
    }
    (text, j, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(source: &str) -> Vec<Option<String>> {
        require_calls(source)
            .into_iter()
            .map(|r| r.module)
            .collect()
    }

    fn m(name: &str) -> Option<String> {
        Some(name.to_string())
    }

    #[test]
    fn call_shapes() {
        let src = "local a = require 'a'\nlocal b = require(\"b.c\")\nlocal c = require [[c]]\n\
                   local d = require ( 'd' )\nlocal e = require[==[e]==]\n";
        assert_eq!(modules(src), vec![m("a"), m("b.c"), m("c"), m("d"), m("e")]);
        let lines: Vec<usize> = require_calls(src).iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn dynamic_requires_are_unknown() {
        let src = "local x = require(name)\nlocal y = require('a.' .. sub)\nlocal z = require(\"p\" .. \"q\")";
        assert_eq!(modules(src), vec![None, None, None]);
    }

    #[test]
    fn comments_and_strings_are_not_code() {
        let src = "-- require 'in_comment'\n--[[ require('in_long_comment')\n]]\n\
                   --[==[ ]] require 'still_comment' ]==]\n\
                   local s = \"require 'in_string'\"\nlocal t = [[require('in_long_string')]]\n\
                   local u = 'it\\'s require(\"escaped\")'\nlocal real = require 'real'\n";
        assert_eq!(modules(src), vec![m("real")]);
        assert_eq!(require_calls(src)[0].line, 8);
    }

    #[test]
    fn other_functions_named_require_are_not_calls() {
        let src = "local x = loader.require('no')\nlocal y = obj:require('no')\n\
                   local function require(n) end\nlocal r = require\nlocal ok = pcall(require, 'opt')\n\
                   local ok2 = pcall(require, dyn)\n";
        let calls = require_calls(src);
        assert_eq!(
            calls.iter().map(|c| c.module.clone()).collect::<Vec<_>>(),
            vec![m("opt"), None]
        );
        assert!(calls.iter().all(|c| c.optional));
    }

    #[test]
    fn shebang_and_unfinished_input_do_not_panic() {
        assert_eq!(modules("#!/usr/bin/env lua\nrequire 'x'"), vec![m("x")]);
        for src in [
            "require '",
            "require [[",
            "--[[",
            "require(",
            "require",
            "'\\",
            "[=",
            "x = \"a\\",
        ] {
            let _ = require_calls(src);
        }
    }
}
