//! A small EDN reader: the file is a sequence of top-level forms (as the original reads it,
//! wrapped in `[` `]`), each form a [`Node`] with its position.
//!
//! Supported: maps, vectors, lists, sets, keywords, symbols, strings with escapes,
//! characters, integers (with `N`, hex, octal), floats (with `M`), `##Inf`/`##NaN`,
//! `true`/`false`/`nil`, comments `;`, discard `#_`, tagged literals (`#inst "…"` keeps the
//! inner value), commas as whitespace. Nesting is checked before each descent, so a
//! 100,000-deep `[[[[` stops at [`Limits::max_depth`].

use std::collections::HashSet;
use std::rc::Rc;

use super::Limits;
use super::tree::{Entries, Kind, Node, Shape};
use super::yaml::depth_message;
use crate::Diagnostic;

/// Reads the whole source as the list of its top-level forms (a [`Kind::Seq`] at 1:1).
pub(super) fn read(source: &str, limits: &Limits) -> Result<Rc<Node>, Diagnostic> {
    let mut reader = Reader {
        source,
        pos: 0,
        line: 1,
        column: 1,
        limits,
        nodes: 0,
    };
    let mut items = Vec::new();
    loop {
        reader.skip_blank(1)?;
        match reader.peek() {
            None => break,
            Some(c @ (')' | ']' | '}')) => {
                return Err(reader.error_here(format!("EDN syntax error: unmatched `{c}`")));
            }
            Some(_) => items.push(reader.form(1)?),
        }
    }
    Ok(Rc::new(Node::new(1, 1, Kind::Seq(items))))
}

#[derive(Debug)]
struct Reader<'a> {
    source: &'a str,
    pos: usize,
    line: u32,
    column: u32,
    limits: &'a Limits,
    nodes: usize,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.source[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.source[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error_at(line: u32, column: u32, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(line, column, message)
    }

    fn error_here(&self, message: impl Into<String>) -> Diagnostic {
        Self::error_at(self.line, self.column, message)
    }

    fn count(&mut self, line: u32, column: u32) -> Result<(), Diagnostic> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(Self::error_at(
                line,
                column,
                format!(
                    "the spec has more than {} values; oversized specs are refused",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    /// Skips whitespace, commas, comments and `#_` discarded forms (read at `depth`). Chains
    /// of `#_` are counted, not recursed into.
    fn skip_blank(&mut self, depth: usize) -> Result<(), Diagnostic> {
        let mut discards: Vec<(u32, u32)> = Vec::new();
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == ',' => {
                    self.bump();
                }
                Some(';') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('#') if self.peek_second() == Some('_') => {
                    discards.push((self.line, self.column));
                    self.bump();
                    self.bump();
                }
                None | Some(')' | ']' | '}') if !discards.is_empty() => {
                    let (line, column) = discards[discards.len() - 1];
                    return Err(Self::error_at(
                        line,
                        column,
                        "EDN syntax error: `#_` discards nothing",
                    ));
                }
                Some(_) if !discards.is_empty() => {
                    self.form(depth)?;
                    discards.pop();
                }
                _ => return Ok(()),
            }
        }
    }

    /// Reads one form whose collections (if any) sit at `depth` (1-based).
    fn form(&mut self, depth: usize) -> Result<Rc<Node>, Diagnostic> {
        let (line, column) = (self.line, self.column);
        let Some(c) = self.peek() else {
            return Err(self.error_here("EDN syntax error: unexpected end of input"));
        };
        let kind = match c {
            '(' | '[' | '{' => {
                self.bump();
                self.collection(c, depth, line, column)?
            }
            '#' if self.peek_second().is_some_and(char::is_alphabetic) => {
                return self.tagged(depth, line, column);
            }
            '#' => self.dispatch(depth, line, column)?,
            '"' => return self.string_node(line, column),
            '\\' => {
                self.bump();
                Kind::Str(self.character(line, column)?)
            }
            ':' => self.keyword(line, column)?,
            ')' | ']' | '}' => {
                return Err(self.error_here(format!("EDN syntax error: unmatched `{c}`")));
            }
            '\'' | '`' | '~' | '@' | '^' => {
                return Err(self.error_here(format!(
                    "EDN syntax error: `{c}` is Clojure reader syntax, not EDN"
                )));
            }
            _ => self.token_form(c, line, column)?,
        };
        self.count(line, column)?;
        Ok(Rc::new(Node::new(line, column, kind)))
    }

    /// A `#` form that is not a tagged literal: a set `#{…}` or a symbolic value (`##Inf`,
    /// `##-Inf`, `##NaN`).
    fn dispatch(&mut self, depth: usize, line: u32, column: u32) -> Result<Kind, Diagnostic> {
        match self.peek_second() {
            Some('{') => {
                self.bump();
                self.bump();
                self.collection('#', depth, line, column)
            }
            Some('#') => {
                self.bump();
                self.bump();
                let token = self.token();
                match token.as_str() {
                    "Inf" => Ok(Kind::Float(f64::INFINITY)),
                    "-Inf" => Ok(Kind::Float(f64::NEG_INFINITY)),
                    "NaN" => Ok(Kind::Float(f64::NAN)),
                    _ => Err(Self::error_at(
                        line,
                        column,
                        format!("EDN syntax error: unknown symbolic value `##{token}`"),
                    )),
                }
            }
            _ => Err(Self::error_at(
                line,
                column,
                "EDN syntax error: unsupported `#` form",
            )),
        }
    }

    /// A tagged literal: `#inst "…"`, `#uuid "…"`, `#my/tag {...}`: the tag is dropped and the
    /// value kept, read one level deeper.
    fn tagged(&mut self, depth: usize, line: u32, column: u32) -> Result<Rc<Node>, Diagnostic> {
        self.bump();
        let _tag = self.token();
        if depth >= self.limits.max_depth {
            return Err(Self::error_at(line, column, depth_message(self.limits)));
        }
        self.skip_blank(depth + 1)?;
        match self.peek() {
            None | Some(')' | ']' | '}') => Err(Self::error_at(
                line,
                column,
                "EDN syntax error: a tag needs a value",
            )),
            Some(_) => self.form(depth + 1),
        }
    }

    /// A string, from its opening quote: its text maps back onto the source after the quote.
    fn string_node(&mut self, line: u32, column: u32) -> Result<Rc<Node>, Diagnostic> {
        self.bump();
        let text = self.string(line, column)?;
        self.count(line, column)?;
        Ok(Rc::new(Node {
            line,
            column,
            kind: Kind::Str(text),
            shape: Shape::Text {
                line,
                column: column + 1,
                next_column: 1,
            },
        }))
    }

    /// A keyword, from its colon.
    fn keyword(&mut self, line: u32, column: u32) -> Result<Kind, Diagnostic> {
        self.bump();
        let name = self.token();
        if name.is_empty() || name.starts_with(':') {
            return Err(Self::error_at(
                line,
                column,
                format!("EDN syntax error: invalid keyword `:{name}`"),
            ));
        }
        Ok(Kind::Keyword(name))
    }

    /// A symbol, `nil`, a boolean or a number, starting with `first`.
    fn token_form(&mut self, first: char, line: u32, column: u32) -> Result<Kind, Diagnostic> {
        let token = self.token();
        if token.is_empty() {
            return Err(self.error_here(format!("EDN syntax error: unexpected `{first}`")));
        }
        atom(&token).ok_or_else(|| {
            Self::error_at(
                line,
                column,
                format!("EDN syntax error: invalid number `{token}`"),
            )
        })
    }

    /// The characters up to the next delimiter.
    fn token(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            self.bump();
        }
        self.source[start..self.pos].to_owned()
    }

    /// The rest of a list, vector, map or set (`open` is `#` for a set) after its opening
    /// delimiter, whose items sit at `depth + 1`.
    fn collection(
        &mut self,
        open: char,
        depth: usize,
        line: u32,
        column: u32,
    ) -> Result<Kind, Diagnostic> {
        if depth >= self.limits.max_depth {
            return Err(Self::error_at(line, column, depth_message(self.limits)));
        }
        let close = match open {
            '(' => ')',
            '[' => ']',
            _ => '}',
        };
        let mut items = Vec::new();
        loop {
            self.skip_blank(depth + 1)?;
            match self.peek() {
                None => {
                    let shown = if open == '#' {
                        "#{".to_owned()
                    } else {
                        open.to_string()
                    };
                    return Err(Self::error_at(
                        line,
                        column,
                        format!("EDN syntax error: `{shown}` is never closed"),
                    ));
                }
                Some(c) if c == close => {
                    self.bump();
                    break;
                }
                Some(c @ (')' | ']' | '}')) => {
                    return Err(self.error_here(format!(
                        "EDN syntax error: `{c}` does not close the `{open}` at {line}:{column}"
                    )));
                }
                Some(_) => items.push(self.form(depth + 1)?),
            }
        }
        if open != '{' {
            return Ok(Kind::Seq(items));
        }
        map_entries(items, line, column).map(Kind::Map)
    }

    /// The rest of a string after its opening quote.
    fn string(&mut self, line: u32, column: u32) -> Result<String, Diagnostic> {
        let mut text = String::new();
        loop {
            let (escape_line, escape_column) = (self.line, self.column);
            match self.bump() {
                None => {
                    return Err(Self::error_at(
                        line,
                        column,
                        "EDN syntax error: a string is never closed",
                    ));
                }
                Some('"') => return Ok(text),
                Some('\\') => {
                    let escaped = match self.bump() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('u') => self.unicode(escape_line, escape_column)?,
                        other => {
                            return Err(Self::error_at(
                                escape_line,
                                escape_column,
                                format!(
                                    "EDN syntax error: unsupported escape `\\{}`",
                                    other.map(String::from).unwrap_or_default()
                                ),
                            ));
                        }
                    };
                    text.push(escaped);
                }
                Some(c) => text.push(c),
            }
        }
    }

    fn unicode(&mut self, line: u32, column: u32) -> Result<char, Diagnostic> {
        let start = self.pos;
        for _ in 0..4 {
            match self.peek() {
                Some(c) if c.is_ascii_hexdigit() => {
                    self.bump();
                }
                _ => {
                    return Err(Self::error_at(
                        line,
                        column,
                        "EDN syntax error: `\\u` needs four hex digits",
                    ));
                }
            }
        }
        u32::from_str_radix(&self.source[start..self.pos], 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| Self::error_at(line, column, "EDN syntax error: invalid `\\u` escape"))
    }

    /// A character literal after its backslash: `\a`, `\newline`, `\u00e9`.
    fn character(&mut self, line: u32, column: u32) -> Result<String, Diagnostic> {
        let Some(first) = self.bump() else {
            return Err(Self::error_at(
                line,
                column,
                "EDN syntax error: `\\` at end of input",
            ));
        };
        let mut name = String::from(first);
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            name.push(c);
            self.bump();
        }
        let c = match name.as_str() {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "backspace" => '\u{8}',
            "formfeed" => '\u{c}',
            _ if name.chars().count() == 1 => first,
            _ if name.len() == 5 && name.starts_with('u') => u32::from_str_radix(&name[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| {
                    Self::error_at(
                        line,
                        column,
                        format!("EDN syntax error: invalid character `\\{name}`"),
                    )
                })?,
            _ => {
                return Err(Self::error_at(
                    line,
                    column,
                    format!("EDN syntax error: invalid character `\\{name}`"),
                ));
            }
        };
        Ok(c.to_string())
    }
}

/// The forms of a map as key-value entries: an even number of them, no key twice.
fn map_entries(items: Vec<Rc<Node>>, line: u32, column: u32) -> Result<Entries, Diagnostic> {
    if items.len() % 2 == 1 {
        return Err(Reader::error_at(
            line,
            column,
            "EDN syntax error: a map needs an even number of forms (key value pairs)",
        ));
    }
    let mut seen = HashSet::new();
    let mut entries = Vec::with_capacity(items.len() / 2);
    let mut iter = items.into_iter();
    while let (Some(key), Some(value)) = (iter.next(), iter.next()) {
        if let Some(identity) = key_identity(&key)
            && !seen.insert(identity)
        {
            return Err(Reader::error_at(
                key.line,
                key.column,
                "EDN syntax error: duplicate key in a map",
            ));
        }
        entries.push((key, value));
    }
    Ok(entries)
}

/// What makes two map keys the same key.
fn key_identity(node: &Node) -> Option<String> {
    Some(match &node.kind {
        Kind::Null => "nil".to_owned(),
        Kind::Bool(b) => format!("b{b}"),
        Kind::Int(i) => format!("i{i}"),
        Kind::Float(f) => format!("f{f}"),
        Kind::Str(s) | Kind::Plain(s) => format!("s{s}"),
        Kind::Keyword(k) => format!("k{k}"),
        Kind::Symbol(s) => format!("y{s}"),
        Kind::Seq(_) | Kind::Map(_) => return None,
    })
}

/// A symbol, `nil`, a boolean or a number. `None` for a malformed number.
fn atom(token: &str) -> Option<Kind> {
    match token {
        "nil" => return Some(Kind::Null),
        "true" => return Some(Kind::Bool(true)),
        "false" => return Some(Kind::Bool(false)),
        _ => {}
    }
    let bytes = token.as_bytes();
    let numeric = bytes[0].is_ascii_digit()
        || (matches!(bytes[0], b'+' | b'-') && bytes.get(1).is_some_and(u8::is_ascii_digit));
    if !numeric {
        return Some(Kind::Symbol(token.to_owned()));
    }
    number(token)
}

fn number(token: &str) -> Option<Kind> {
    let (negative, body) = match token.as_bytes()[0] {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    let signed = |magnitude: i128| -> Option<Kind> {
        let value = if negative { -magnitude } else { magnitude };
        Some(match i64::try_from(value) {
            Ok(value) => Kind::Int(value),
            #[expect(clippy::cast_precision_loss, reason = "a bigint is shown as a double")]
            Err(_) => Kind::Float(value as f64),
        })
    };
    if let Some(ratio) = body.split_once('/') {
        let numerator: f64 = ratio.0.parse().ok()?;
        let denominator: f64 = ratio.1.parse().ok()?;
        let value = numerator / denominator;
        return Some(Kind::Float(if negative { -value } else { value }));
    }
    let integer = body.strip_suffix('N').unwrap_or(body);
    if !integer.is_empty() && integer.bytes().all(|b| b.is_ascii_digit()) {
        let magnitude = if integer.len() > 1 && integer.starts_with('0') {
            i128::from_str_radix(&integer[1..], 8).ok()?
        } else {
            integer.parse::<i128>().ok()?
        };
        return signed(magnitude);
    }
    if let Some(hex) = integer
        .strip_prefix("0x")
        .or_else(|| integer.strip_prefix("0X"))
    {
        return signed(i128::from_str_radix(hex, 16).ok()?);
    }
    let decimal = body.strip_suffix('M').unwrap_or(body);
    if decimal
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        let value: f64 = decimal.parse().ok()?;
        return Some(Kind::Float(if negative { -value } else { value }));
    }
    None
}
