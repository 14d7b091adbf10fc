//! From source text to [`Program`]: a small lexer for `{{ }}`, `{% %}` and `{# #}`, and a
//! recursive-descent parser for blocks, expressions and `if` conditions.

use serde_json::Value;

use super::date::DatePattern;
use super::filters::Filter;
use super::hash::Algorithm;
use super::node::{
    Arg, Base, CompareOp, Cond, Expr, FilterCall, ForNode, Node, Operand, Path, Program, Segment,
    SumArg,
};
use super::{MAX_NESTING, TemplateError};

/// Compiles a whole template.
pub(crate) fn parse_template(source: &str) -> Result<Program, TemplateError> {
    let mut parser = Parser::new(source);
    let (nodes, end) = parser.parse_nodes(&[])?;
    debug_assert!(end.is_none(), "the top level has no closing tag");
    let static_text = match nodes.as_slice() {
        [] => Some(String::new()),
        [Node::Text(text)] => Some(text.clone()),
        _ => None,
    };
    let mut roots = parser.roots;
    roots.sort_unstable();
    roots.dedup();
    Ok(Program {
        nodes,
        static_text,
        roots,
        cycles: parser.cycles,
    })
}

/// Compiles a lone `if` expression, with the root names it looks up (sorted, without
/// duplicates); positions are relative to `expression`.
pub(crate) fn parse_condition(expression: &str) -> Result<(Cond, Vec<Box<str>>), TemplateError> {
    let mut parser = Parser::new(expression);
    let words = parser.split_words(expression, 0)?;
    if words.is_empty() {
        return Err(parser.error(0, "the condition is empty"));
    }
    let condition = parser.parse_condition(&words, 0)?;
    let mut roots = parser.roots;
    roots.sort_unstable();
    roots.dedup();
    Ok((condition, roots))
}

/// A whitespace-separated piece of a tag, with its byte offset in the source.
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    offset: usize,
}

impl Word<'_> {
    fn end(&self) -> usize {
        self.offset + self.text.len()
    }
}

#[derive(Debug)]
enum Token<'a> {
    Text(&'a str),
    Var { content: &'a str, offset: usize },
    Tag { words: Vec<Word<'a>>, offset: usize },
}

/// The tag that ended a block: `{% else %}`, `{% endif %}`, …
#[derive(Debug)]
struct EndTag<'a> {
    name: &'a str,
    words: Vec<Word<'a>>,
    offset: usize,
}

/// Tags that close or split a block, refused where no block expects them.
const CLOSING_TAGS: &[&str] = &[
    "elif",
    "else",
    "endif",
    "empty",
    "endfor",
    "endifequal",
    "endifunequal",
    "endwith",
    "endsafe",
    "endblock",
    "endcomment",
    "endverbatim",
];

/// Selmer tags we deliberately do not implement.
const UNSUPPORTED_TAGS: &[&str] = &["include", "extends", "script", "style", "debug"];

#[derive(Debug)]
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    cycles: usize,
    roots: Vec<Box<str>>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            pos: 0,
            depth: 0,
            cycles: 0,
            roots: Vec::new(),
        }
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> TemplateError {
        let (line, column) = position(self.src, offset);
        TemplateError {
            line,
            column,
            message: message.into(),
        }
    }

    // ---- lexer -------------------------------------------------------------------------

    fn next_token(&mut self) -> Result<Option<Token<'a>>, TemplateError> {
        let src = self.src;
        loop {
            if self.pos >= src.len() {
                return Ok(None);
            }
            let rest = &src[self.pos..];
            let Some(at) = find_opener(rest) else {
                self.pos = src.len();
                return Ok(Some(Token::Text(rest)));
            };
            if at > 0 {
                self.pos += at;
                return Ok(Some(Token::Text(&rest[..at])));
            }
            let open = self.pos;
            let inner = open + 2;
            match rest.as_bytes()[1] {
                b'{' => {
                    let Some(close) = src[inner..].find("}}") else {
                        return Err(self.error(open, "'{{' is not closed: expected '}}'"));
                    };
                    let content = &src[inner..inner + close];
                    self.pos = inner + close + 2;
                    check_quotes(content).map_err(|()| self.unbalanced(open))?;
                    return Ok(Some(Token::Var {
                        content,
                        offset: inner,
                    }));
                }
                b'%' => {
                    let Some(close) = src[inner..].find("%}") else {
                        return Err(self.error(open, "'{%' is not closed: expected '%}'"));
                    };
                    let content = &src[inner..inner + close];
                    self.pos = inner + close + 2;
                    let words = self.split_words(content, inner)?;
                    if words.is_empty() {
                        return Err(self.error(open, "empty tag '{% %}'"));
                    }
                    return Ok(Some(Token::Tag {
                        words,
                        offset: open,
                    }));
                }
                _ => {
                    let Some(close) = src[inner..].find("#}") else {
                        return Err(self.error(open, "comment '{#' is not closed: expected '#}'"));
                    };
                    self.pos = inner + close + 2;
                }
            }
        }
    }

    fn unbalanced(&self, offset: usize) -> TemplateError {
        self.error(offset, "malformed tag: a double quote is not closed")
    }

    /// Splits tag content on whitespace outside double quotes.
    fn split_words(&self, content: &'a str, offset: usize) -> Result<Vec<Word<'a>>, TemplateError> {
        let mut words = Vec::new();
        let mut start = None;
        let mut quoted = false;
        for (i, c) in content.char_indices() {
            if c == '"' {
                quoted = !quoted;
            }
            if c.is_whitespace() && !quoted {
                if let Some(s) = start.take() {
                    words.push(Word {
                        text: &content[s..i],
                        offset: offset + s,
                    });
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if quoted {
            return Err(self.unbalanced(offset));
        }
        if let Some(s) = start {
            words.push(Word {
                text: &content[s..],
                offset: offset + s,
            });
        }
        Ok(words)
    }

    // ---- blocks ------------------------------------------------------------------------

    /// Parses nodes until a tag named in `ends` (returned) or the end of the source.
    fn parse_nodes(
        &mut self,
        ends: &[&str],
    ) -> Result<(Vec<Node>, Option<EndTag<'a>>), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(token) = self.next_token()? {
            match token {
                Token::Text(text) => push_text(&mut nodes, text),
                Token::Var { content, offset } => {
                    let expr = self.parse_expr(content, offset, true)?;
                    nodes.push(Node::Var(expr));
                }
                Token::Tag { words, offset } => {
                    let name = words[0].text;
                    if ends.contains(&name) {
                        return Ok((
                            nodes,
                            Some(EndTag {
                                name,
                                words,
                                offset,
                            }),
                        ));
                    }
                    self.parse_tag(&mut nodes, &words, offset)?;
                }
            }
        }
        Ok((nodes, None))
    }

    /// Parses a block body up to one of `ends`; an unclosed block is an error at `open`.
    fn parse_block(
        &mut self,
        open_name: &str,
        open: usize,
        ends: &[&str],
    ) -> Result<(Vec<Node>, EndTag<'a>), TemplateError> {
        let (nodes, end) = self.parse_nodes(ends)?;
        match end {
            Some(end) => Ok((nodes, end)),
            None => {
                let last = ends.last().copied().unwrap_or("end");
                Err(self.error(
                    open,
                    format!("'{{% {open_name} %}}' is not closed: expected '{{% {last} %}}'"),
                ))
            }
        }
    }

    fn enter(&mut self, offset: usize) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(
                offset,
                format!("blocks are nested too deeply (the limit is {MAX_NESTING})"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Parses one tag that is not a block's end: each kind of tag has its own function.
    fn parse_tag(
        &mut self,
        nodes: &mut Vec<Node>,
        words: &[Word<'a>],
        offset: usize,
    ) -> Result<(), TemplateError> {
        let name = words[0].text;
        let args = &words[1..];
        let node = match name {
            "if" => self.nested(offset, |parser| parser.parse_if(args, offset))?,
            "for" => self.nested(offset, |parser| parser.parse_for(args, offset))?,
            "ifequal" | "ifunequal" => {
                self.nested(offset, |parser| parser.parse_compare(name, args, offset))?
            }
            "with" => self.nested(offset, |parser| parser.parse_with(args, offset))?,
            "safe" => {
                let body =
                    self.nested(offset, |parser| parser.parse_body(name, offset, "endsafe"))?;
                Node::Safe(body)
            }
            "block" => {
                let body =
                    self.nested(offset, |parser| parser.parse_body(name, offset, "endblock"))?;
                inline_block(nodes, body);
                return Ok(());
            }
            "comment" => return self.skip_comment(offset),
            "verbatim" => return self.parse_verbatim(nodes, offset),
            "firstof" => self.parse_firstof(args, offset)?,
            "now" => self.parse_now(args, offset)?,
            "cycle" => self.parse_cycle(args, offset)?,
            "sum" => self.parse_sum(args, offset)?,
            _ => return Err(self.refuse_tag(name, offset)),
        };
        nodes.push(node);
        Ok(())
    }

    /// Parses a block tag one nesting level deeper.
    fn nested<T>(
        &mut self,
        offset: usize,
        parse: impl FnOnce(&mut Self) -> Result<T, TemplateError>,
    ) -> Result<T, TemplateError> {
        self.enter(offset)?;
        let parsed = parse(self)?;
        self.leave();
        Ok(parsed)
    }

    /// The body of a block that has no `else`, up to `end`.
    fn parse_body(
        &mut self,
        name: &str,
        offset: usize,
        end: &str,
    ) -> Result<Vec<Node>, TemplateError> {
        Ok(self.parse_block(name, offset, &[end])?.0)
    }

    /// Why a tag that no function parses is refused.
    fn refuse_tag(&self, name: &str, offset: usize) -> TemplateError {
        if CLOSING_TAGS.contains(&name) {
            return self.error(
                offset,
                format!("unexpected '{{% {name} %}}': no open block expects it here"),
            );
        }
        if UNSUPPORTED_TAGS.contains(&name) {
            return self.error(offset, format!("the tag '{name}' is not supported"));
        }
        self.error(offset, format!("unknown tag '{name}'"))
    }

    /// `{% ifequal a b … %}…{% else %}…{% endifequal %}`, and `ifunequal` likewise.
    fn parse_compare(
        &mut self,
        name: &str,
        args: &[Word<'a>],
        offset: usize,
    ) -> Result<Node, TemplateError> {
        let operands = args
            .iter()
            .map(|word| self.parse_operand(*word))
            .collect::<Result<Vec<_>, _>>()?;
        if operands.len() < 2 {
            return Err(self.error(offset, format!("'{name}' needs two values to compare")));
        }
        let end_name = if name == "ifequal" {
            "endifequal"
        } else {
            "endifunequal"
        };
        let (then, end) = self.parse_block(name, offset, &["else", end_name])?;
        let otherwise = if end.name == "else" {
            self.parse_body(name, offset, end_name)?
        } else {
            Vec::new()
        };
        Ok(Node::Compare {
            args: operands,
            equal: name == "ifequal",
            then,
            otherwise,
        })
    }

    /// `{% comment %}…{% endcomment %}`: skipped, whatever is inside.
    fn skip_comment(&mut self, offset: usize) -> Result<(), TemplateError> {
        let Some((_, after)) = find_end_tag(self.src, self.pos, "endcomment") else {
            return Err(self.error(
                offset,
                "'{% comment %}' is not closed: expected '{% endcomment %}'",
            ));
        };
        self.pos = after;
        Ok(())
    }

    /// `{% verbatim %}…{% endverbatim %}`: the inside as text, tags and all.
    fn parse_verbatim(
        &mut self,
        nodes: &mut Vec<Node>,
        offset: usize,
    ) -> Result<(), TemplateError> {
        let Some((end, after)) = find_end_tag(self.src, self.pos, "endverbatim") else {
            return Err(self.error(
                offset,
                "'{% verbatim %}' is not closed: expected '{% endverbatim %}'",
            ));
        };
        push_text(nodes, &self.src[self.pos..end]);
        self.pos = after;
        Ok(())
    }

    /// `{% firstof a b … %}`: the first value that prints as something.
    fn parse_firstof(&mut self, args: &[Word<'a>], offset: usize) -> Result<Node, TemplateError> {
        if args.is_empty() {
            return Err(self.error(offset, "'firstof' needs at least one value"));
        }
        let exprs = args
            .iter()
            .map(|word| self.parse_expr(word.text, word.offset, false))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Node::FirstOf(exprs))
    }

    /// `{% now pattern %}`: the render's time, formatted.
    fn parse_now(&self, args: &[Word<'a>], offset: usize) -> Result<Node, TemplateError> {
        let pattern = args.iter().map(|w| w.text).collect::<Vec<_>>().join(" ");
        let at = args.first().map_or(offset, |w| w.offset);
        let pattern =
            DatePattern::named_or_pattern(&pattern).map_err(|message| self.error(at, message))?;
        Ok(Node::Now(pattern))
    }

    /// `{% cycle a b … %}`: the next of its values, each time it is rendered.
    fn parse_cycle(&mut self, args: &[Word<'a>], offset: usize) -> Result<Node, TemplateError> {
        if args.is_empty() {
            return Err(self.error(offset, "'cycle' needs at least one value"));
        }
        let values = args.iter().map(|w| Box::from(w.text)).collect();
        let node = Node::Cycle {
            index: self.cycles,
            values,
        };
        self.cycles += 1;
        Ok(node)
    }

    /// `{% sum a \2 … %}`: variables and `\`-prefixed numbers, added up.
    fn parse_sum(&mut self, args: &[Word<'a>], offset: usize) -> Result<Node, TemplateError> {
        if args.is_empty() {
            return Err(self.error(offset, "'sum' needs at least one value"));
        }
        let mut terms = Vec::with_capacity(args.len());
        for word in args {
            if let Some(number) = word.text.strip_prefix('\\') {
                let value = parse_number_literal(number).ok_or_else(|| {
                    self.error(word.offset, format!("'{number}' is not a number"))
                })?;
                terms.push(SumArg::Number(value));
            } else {
                let path = parse_path(word.text);
                self.roots.push(Box::from(path.root()));
                terms.push(SumArg::Path(path));
            }
        }
        Ok(Node::Sum(terms))
    }

    fn parse_if(&mut self, args: &[Word<'a>], offset: usize) -> Result<Node, TemplateError> {
        if args.is_empty() {
            return Err(self.error(offset, "'if' needs a condition"));
        }
        let mut condition = self.parse_condition(args, offset)?;
        let mut branches = Vec::new();
        loop {
            let (body, end) = self.parse_block("if", offset, &["elif", "else", "endif"])?;
            branches.push((condition, body));
            match end.name {
                "elif" => {
                    if end.words.len() < 2 {
                        return Err(self.error(end.offset, "'elif' needs a condition"));
                    }
                    condition = self.parse_condition(&end.words[1..], end.offset)?;
                }
                "else" => {
                    let (otherwise, _) = self.parse_block("if", offset, &["endif"])?;
                    return Ok(Node::If {
                        branches,
                        otherwise,
                    });
                }
                _ => {
                    return Ok(Node::If {
                        branches,
                        otherwise: Vec::new(),
                    });
                }
            }
        }
    }

    fn parse_for(&mut self, args: &[Word<'a>], offset: usize) -> Result<Node, TemplateError> {
        let malformed = || {
            self.error(
                offset,
                "malformed 'for': expected '{% for name in list %}' or '{% for key, value in map %}'",
            )
        };
        let Some(in_at) = args.iter().position(|w| w.text == "in") else {
            return Err(malformed());
        };
        let names: Vec<Box<str>> = args[..in_at]
            .iter()
            .flat_map(|w| w.text.split(','))
            .filter(|name| !name.is_empty())
            .map(Box::from)
            .collect();
        let items = &args[in_at + 1..];
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            return Err(malformed());
        };
        if names.is_empty() {
            return Err(malformed());
        }
        for name in &names {
            self.roots.push(name.clone());
        }
        let items = self.parse_expr(&self.src[first.offset..last.end()], first.offset, false)?;
        let (body, end) = self.parse_block("for", offset, &["empty", "endfor"])?;
        let empty = if end.name == "empty" {
            Some(self.parse_block("for", offset, &["endfor"])?.0)
        } else {
            None
        };
        Ok(Node::For(Box::new(ForNode {
            names,
            items,
            body,
            empty,
        })))
    }

    fn parse_with(&mut self, args: &[Word<'a>], offset: usize) -> Result<Node, TemplateError> {
        // `a=b c="x y"` or `a = b`: pieces split on `=` outside quotes, then paired.
        let mut pieces = Vec::new();
        for word in args {
            let mut start = 0;
            let mut quoted = false;
            for (i, c) in word.text.char_indices() {
                match c {
                    '"' => quoted = !quoted,
                    '=' if !quoted => {
                        if i > start {
                            pieces.push(Word {
                                text: &word.text[start..i],
                                offset: word.offset + start,
                            });
                        }
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if start < word.text.len() {
                pieces.push(Word {
                    text: &word.text[start..],
                    offset: word.offset + start,
                });
            }
        }
        if pieces.is_empty() || pieces.len() % 2 != 0 {
            return Err(self.error(offset, "malformed 'with': expected '{% with name=value %}'"));
        }
        let mut names = Vec::new();
        let mut values = Vec::new();
        for pair in pieces.chunks(2) {
            names.push(Box::from(pair[0].text));
            self.roots.push(Box::from(pair[0].text));
            values.push(self.parse_expr(pair[1].text, pair[1].offset, false)?);
        }
        let (body, _) = self.parse_block("with", offset, &["endwith"])?;
        Ok(Node::With {
            names,
            values,
            body,
        })
    }

    // ---- expressions -------------------------------------------------------------------

    /// Parses `value|filter:arg:arg|filter`. `lenient`: a value that is not an accessor is
    /// a missing variable (for `{{ }}`, where Handlebars markers must not fail); otherwise
    /// it is an error.
    fn parse_expr(
        &mut self,
        text: &str,
        offset: usize,
        lenient: bool,
    ) -> Result<Expr, TemplateError> {
        let mut parts = split_outside_quotes(text, '|').into_iter();
        let (base_at, base_text) = parts.next().unwrap_or((0, ""));
        let base = self.parse_base(base_text, offset + base_at, lenient)?;
        let mut filters = Vec::new();
        let mut safe = false;
        for (at, part) in parts {
            if part.trim().is_empty() {
                continue;
            }
            let call = self.parse_filter(part, offset + at)?;
            safe = call.filter == Filter::Safe;
            filters.push(call);
        }
        Ok(Expr {
            base,
            filters,
            safe,
        })
    }

    fn parse_base(
        &mut self,
        raw: &str,
        offset: usize,
        lenient: bool,
    ) -> Result<Base, TemplateError> {
        let text = raw.trim();
        if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
            return Ok(Base::Literal(Value::String(
                text[1..text.len() - 1].to_owned(),
            )));
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Base::Literal(Value::String(text.to_owned())));
        }
        let valid = !text.is_empty()
            && !text.starts_with(['#', '/'])
            && !text.chars().any(|c| c.is_whitespace() || c == '"');
        if !valid {
            if lenient {
                return Ok(Base::Missing);
            }
            let at = offset + (raw.len() - raw.trim_start().len());
            return Err(self.error(at, format!("'{text}' is not a value or variable name")));
        }
        let path = parse_path(text);
        self.roots.push(Box::from(path.root()));
        Ok(Base::Path(path))
    }

    fn parse_filter(&mut self, raw: &str, offset: usize) -> Result<FilterCall, TemplateError> {
        let mut pieces = split_outside_quotes(raw, ':').into_iter();
        let (name_at, name_raw) = pieces.next().unwrap_or((0, ""));
        let name = name_raw.trim();
        let name_offset = offset + name_at + (name_raw.len() - name_raw.trim_start().len());
        let filter = Filter::from_name(name)
            .ok_or_else(|| self.error(name_offset, format!("unknown filter '{name}'")))?;
        let mut args = Vec::new();
        let mut arg_offsets = Vec::new();
        for (at, piece) in pieces {
            let text = piece.trim();
            if text.is_empty() {
                continue;
            }
            arg_offsets.push(offset + at + (piece.len() - piece.trim_start().len()));
            if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
                args.push(Arg::Literal(Value::String(
                    text[1..text.len() - 1].to_owned(),
                )));
            } else if let Some(name) = text.strip_prefix('@').filter(|rest| !rest.is_empty()) {
                let path = parse_path(name);
                self.roots.push(Box::from(path.root()));
                args.push(Arg::Lookup(path, Value::String(text.to_owned())));
            } else {
                args.push(Arg::Literal(Value::String(text.to_owned())));
            }
        }
        let (min, max) = filter.arity();
        if args.len() < min || args.len() > max {
            let expected = match (min, max) {
                (min, max) if min == max => format!("{min}"),
                (min, usize::MAX) => format!("at least {min}"),
                (min, max) => format!("{min} to {max}"),
            };
            let plural = if expected == "1" { "" } else { "s" };
            return Err(self.error(
                name_offset,
                format!(
                    "filter '{name}' takes {expected} argument{plural}, not {}",
                    args.len()
                ),
            ));
        }
        let mut date = None;
        match (filter, args.first()) {
            (Filter::Date, Some(Arg::Literal(Value::String(pattern)))) => {
                let compiled = DatePattern::named_or_pattern(pattern)
                    .map_err(|message| self.error(arg_offsets[0], message))?;
                date = Some(compiled);
            }
            (Filter::Hash, Some(Arg::Literal(Value::String(algorithm)))) => {
                Algorithm::from_name(algorithm)
                    .map_err(|message| self.error(arg_offsets[0], message))?;
            }
            _ => {}
        }
        Ok(FilterCall { filter, args, date })
    }

    // ---- conditions --------------------------------------------------------------------

    fn parse_condition(
        &mut self,
        words: &[Word<'a>],
        offset: usize,
    ) -> Result<Cond, TemplateError> {
        let mut cursor = 0;
        let condition = self.parse_or(words, &mut cursor, offset)?;
        if let Some(extra) = words.get(cursor) {
            return Err(self.error(
                extra.offset,
                format!("unexpected '{}' in condition", extra.text),
            ));
        }
        Ok(condition)
    }

    fn parse_or(
        &mut self,
        words: &[Word<'a>],
        cursor: &mut usize,
        offset: usize,
    ) -> Result<Cond, TemplateError> {
        let mut terms = vec![self.parse_and(words, cursor, offset)?];
        while words.get(*cursor).is_some_and(|w| w.text == "or") {
            *cursor += 1;
            terms.push(self.parse_and(words, cursor, offset)?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Cond::Or(terms)
        })
    }

    fn parse_and(
        &mut self,
        words: &[Word<'a>],
        cursor: &mut usize,
        offset: usize,
    ) -> Result<Cond, TemplateError> {
        let mut terms = vec![self.parse_not(words, cursor, offset)?];
        while words.get(*cursor).is_some_and(|w| w.text == "and") {
            *cursor += 1;
            terms.push(self.parse_not(words, cursor, offset)?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Cond::And(terms)
        })
    }

    fn parse_not(
        &mut self,
        words: &[Word<'a>],
        cursor: &mut usize,
        offset: usize,
    ) -> Result<Cond, TemplateError> {
        // Counted, not recursive: a long run of `not`s must not exhaust the stack.
        let mut negations = 0usize;
        while words.get(*cursor).is_some_and(|w| w.text == "not") {
            *cursor += 1;
            negations += 1;
        }
        let inner = self.parse_primary(words, cursor, offset)?;
        Ok(if negations % 2 == 1 {
            Cond::Not(Box::new(inner))
        } else {
            inner
        })
    }

    fn parse_primary(
        &mut self,
        words: &[Word<'a>],
        cursor: &mut usize,
        offset: usize,
    ) -> Result<Cond, TemplateError> {
        let Some(first) = words.get(*cursor).copied() else {
            let at = words.last().map_or(offset, Word::end);
            return Err(self.error(at, "the condition is incomplete: a value is missing"));
        };
        if is_keyword(first.text) {
            return Err(self.error(
                first.offset,
                format!("expected a value, found '{}'", first.text),
            ));
        }
        *cursor += 1;
        if first.text == "any" || first.text == "all" {
            let mut operands = Vec::new();
            while let Some(word) = words.get(*cursor).filter(|w| !is_keyword(w.text)) {
                operands.push(self.parse_operand(*word)?);
                *cursor += 1;
            }
            if operands.is_empty() {
                return Err(self.error(
                    first.offset,
                    format!("'{}' needs at least one value", first.text),
                ));
            }
            return Ok(if first.text == "any" {
                Cond::Any(operands)
            } else {
                Cond::All(operands)
            });
        }
        let op = words.get(*cursor).and_then(|w| compare_op(w.text));
        let Some(op) = op else {
            let expr = self.parse_expr(first.text, first.offset, false)?;
            return Ok(Cond::Truthy(Operand::Expr(expr)));
        };
        let op_word = words[*cursor];
        *cursor += 1;
        let Some(second) = words.get(*cursor).copied().filter(|w| !is_keyword(w.text)) else {
            return Err(self.error(
                op_word.offset,
                format!("'{}' needs a value on its right", op_word.text),
            ));
        };
        *cursor += 1;
        let left = self.parse_operand(first)?;
        let right = self.parse_operand(second)?;
        Ok(Cond::Compare(left, op, right))
    }

    /// An operand of a comparison: a quoted literal, a number, a `:keyword`, or an expression.
    fn parse_operand(&mut self, word: Word<'a>) -> Result<Operand, TemplateError> {
        let text = word.text;
        if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
            return Ok(Operand::Literal(Value::String(
                text[1..text.len() - 1].to_owned(),
            )));
        }
        if text.starts_with(':') || is_numeric(text) {
            return Ok(Operand::Literal(Value::String(text.to_owned())));
        }
        Ok(Operand::Expr(self.parse_expr(text, word.offset, false)?))
    }
}

fn is_keyword(text: &str) -> bool {
    matches!(text, "and" | "or" | "not") || compare_op(text).is_some()
}

fn compare_op(text: &str) -> Option<CompareOp> {
    Some(match text {
        "=" | "==" => CompareOp::Eq,
        "!=" => CompareOp::Ne,
        "<" => CompareOp::Lt,
        ">" => CompareOp::Gt,
        "<=" => CompareOp::Le,
        ">=" => CompareOp::Ge,
        _ => return None,
    })
}

/// Selmer's `num?`: `-?[0-9]*\.?[0-9]+`.
pub(crate) fn is_numeric(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match frac {
        Some(frac) => all_digits(int) && !frac.is_empty() && all_digits(frac),
        None => !int.is_empty() && all_digits(int),
    }
}

fn parse_number_literal(text: &str) -> Option<Value> {
    if let Ok(int) = text.parse::<i64>() {
        return Some(Value::from(int));
    }
    let float = text.parse::<f64>().ok()?;
    serde_json::Number::from_f64(float).map(Value::Number)
}

/// Splits an accessor on single dots; `..` stands for a literal dot.
pub(crate) fn parse_path(text: &str) -> Path {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '.' {
            current.push(c);
        } else if chars.peek() == Some(&'.') {
            chars.next();
            current.push('.');
        } else {
            segments.push(segment(std::mem::take(&mut current)));
        }
    }
    segments.push(segment(current));
    Path {
        segments: segments.into_boxed_slice(),
    }
}

fn segment(key: String) -> Segment {
    let index = if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
        key.parse().ok()
    } else {
        None
    };
    Segment {
        key: key.into_boxed_str(),
        index,
    }
}

/// Splits on `separator` outside double quotes, keeping each piece's byte offset.
fn split_outside_quotes(text: &str, separator: char) -> Vec<(usize, &str)> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            pieces.push((start, &text[start..i]));
            start = i + c.len_utf8();
        }
    }
    pieces.push((start, &text[start..]));
    pieces
}

fn check_quotes(content: &str) -> Result<(), ()> {
    if content.bytes().filter(|&b| b == b'"').count() % 2 == 0 {
        Ok(())
    } else {
        Err(())
    }
}

fn push_text(nodes: &mut Vec<Node>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Node::Text(previous)) = nodes.last_mut() {
        previous.push_str(text);
    } else {
        nodes.push(Node::Text(text.to_owned()));
    }
}

/// Splices the body of a `{% block %}` into `nodes`: blocks only group, they render in place.
fn inline_block(nodes: &mut Vec<Node>, body: Vec<Node>) {
    for node in body {
        match node {
            Node::Text(text) => push_text(nodes, &text),
            other => nodes.push(other),
        }
    }
}

/// The first `{{`, `{%` or `{#` in `text`.
fn find_opener(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes[from..].iter().position(|&b| b == b'{') {
        let at = from + i;
        match bytes.get(at + 1) {
            Some(b'{' | b'%' | b'#') => return Some(at),
            Some(_) => from = at + 1,
            None => return None,
        }
    }
    None
}

/// Finds `{% name %}` (any inner spacing) at or after `from`: (start of the tag, end of it).
fn find_end_tag(src: &str, from: usize, name: &str) -> Option<(usize, usize)> {
    let mut search = from;
    while let Some(i) = src[search..].find("{%") {
        let start = search + i;
        let inner = &src[start + 2..];
        let trimmed = inner.trim_start();
        if let Some(after_name) = trimmed.strip_prefix(name) {
            let rest = after_name.trim_start();
            if rest.starts_with("%}") {
                let end = src.len() - rest.len() + 2;
                return Some((start, end));
            }
        }
        search = start + 2;
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn position(src: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}
