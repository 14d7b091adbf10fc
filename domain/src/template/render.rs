//! Rendering: walks the compiled nodes against a JSON context with a scope chain that lives
//! on the stack (no allocation per loop iteration), spending fuel and watching the output.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::node::{CompareOp, Cond, Expr, ForNode, Node, Operand, Path, Program, Segment, SumArg};
use super::parse::is_numeric;
use super::{Context, Env, Escape, RenderError, RenderLimits, date, filters, push_fmt};

pub(crate) static NULL: Value = Value::Null;

/// Mutable state of one render.
pub(crate) struct State<'e> {
    pub(crate) env: &'e dyn Env,
    escape: Escape,
    fuel: u64,
    max_output: usize,
    /// Length of the output buffer when the render started.
    base: usize,
    /// One counter per `{% cycle %}` tag.
    cycles: Vec<usize>,
    /// Inside `{% safe %}`.
    safe: bool,
}

impl<'e> State<'e> {
    fn new(env: &'e dyn Env, escape: Escape, limits: &RenderLimits, base: usize) -> Self {
        Self {
            env,
            escape,
            fuel: limits.fuel,
            max_output: limits.max_output,
            base,
            cycles: Vec::new(),
            safe: false,
        }
    }

    /// Spends `steps` of fuel.
    pub(crate) fn spend(&mut self, steps: u64) -> Result<(), RenderError> {
        match self.fuel.checked_sub(steps) {
            Some(left) => {
                self.fuel = left;
                Ok(())
            }
            None => {
                self.fuel = 0;
                Err(RenderError::FuelExhausted)
            }
        }
    }

    /// Spends fuel for work proportional to `bytes` of data.
    pub(crate) fn spend_bytes(&mut self, bytes: usize) -> Result<(), RenderError> {
        self.spend(1 + u64::try_from(bytes / 64).unwrap_or(u64::MAX))
    }

    /// Spends fuel for work proportional to `items` elements.
    pub(crate) fn spend_items(&mut self, items: usize) -> Result<(), RenderError> {
        self.spend(u64::try_from(items).unwrap_or(u64::MAX))
    }

    /// Refuses an intermediate value larger than the output may ever be.
    pub(crate) fn check_size(&self, bytes: usize) -> Result<(), RenderError> {
        if bytes > self.max_output {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> RenderError {
        RenderError::OutputTooLarge {
            max: self.max_output,
        }
    }

    fn check_output(&self, out: &str, adding: usize) -> Result<(), RenderError> {
        if out.len().saturating_sub(self.base).saturating_add(adding) > self.max_output {
            return Err(self.too_large());
        }
        Ok(())
    }

    /// Appends text that is never escaped (template text, tag output).
    fn emit_raw(&self, out: &mut String, text: &str) -> Result<(), RenderError> {
        self.check_output(out, text.len())?;
        out.push_str(text);
        Ok(())
    }

    /// Appends a variable's value with the escaping it calls for.
    fn emit_value(
        &self,
        out: &mut String,
        value: &Value,
        safe: bool,
        html_safe: bool,
    ) -> Result<(), RenderError> {
        let escape = match (self.safe || safe, html_safe, self.escape) {
            (true, _, _) | (false, true, Escape::Html) => Escape::None,
            (false, _, escape) => escape,
        };
        match value {
            Value::Null => {}
            Value::Bool(true) => self.emit_raw(out, "true")?,
            Value::Bool(false) => self.emit_raw(out, "false")?,
            Value::Number(number) => {
                self.check_output(out, 0)?;
                push_fmt(out, format_args!("{number}"));
            }
            Value::String(text) => {
                self.check_output(out, text.len())?;
                push_escaped(out, text, escape);
            }
            Value::Array(_) | Value::Object(_) => {
                let text = value_text(value);
                self.check_output(out, text.len())?;
                push_escaped(out, &text, escape);
            }
        }
        self.check_output(out, 0)
    }
}

/// One link of the scope chain: the context, a set of bound names, or a loop.
pub(crate) struct Scope<'s> {
    parent: Option<&'s Scope<'s>>,
    frame: Frame<'s>,
}

enum Frame<'s> {
    Root(Context<'s>),
    Vars {
        names: &'s [Box<str>],
        values: &'s [Cow<'s, Value>],
    },
    Loop(LoopInfo<'s>),
}

struct LoopInfo<'s> {
    counter0: usize,
    length: usize,
    /// The loop variable, for `forloop.previous.<name>`.
    name: &'s str,
    previous: Option<&'s Value>,
}

/// Renders a whole program.
pub(crate) fn render_program(
    program: &Program,
    out: &mut String,
    context: Context<'_>,
    escape: Escape,
    env: &dyn Env,
    limits: &RenderLimits,
) -> Result<(), RenderError> {
    let mut state = State::new(env, escape, limits, out.len());
    state.spend(1)?;
    if let Some(text) = &program.static_text {
        return state.emit_raw(out, text);
    }
    state.cycles = vec![0; program.cycles];
    let scope = Scope {
        parent: None,
        frame: Frame::Root(context),
    };
    render_nodes(&program.nodes, &scope, &mut state, out)
}

/// Evaluates a lone condition.
pub(crate) fn eval_condition(
    condition: &Cond,
    context: &Value,
    env: &dyn Env,
    limits: &RenderLimits,
) -> Result<bool, RenderError> {
    let mut state = State::new(env, Escape::None, limits, 0);
    let scope = Scope {
        parent: None,
        frame: Frame::Root(Context {
            value: context,
            fields: &[],
        }),
    };
    eval_cond(condition, &scope, &mut state)
}

fn render_nodes<'s>(
    nodes: &'s [Node],
    scope: &Scope<'s>,
    st: &mut State<'_>,
    out: &mut String,
) -> Result<(), RenderError> {
    for node in nodes {
        st.spend(1)?;
        match node {
            Node::Text(text) => st.emit_raw(out, text)?,
            Node::Var(expr) => {
                let value = eval_expr(expr, scope, st)?;
                st.emit_value(out, &value.value, expr.safe, value.html_safe)?;
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let mut chosen = otherwise;
                for (condition, body) in branches {
                    if eval_cond(condition, scope, st)? {
                        chosen = body;
                        break;
                    }
                }
                render_nodes(chosen, scope, st, out)?;
            }
            Node::For(for_node) => render_for(for_node, scope, st, out)?,
            Node::Compare {
                args,
                equal,
                then,
                otherwise,
            } => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(operand(arg, scope, st)?);
                }
                let texts: Vec<_> = values.iter().map(|value| operand_text(value)).collect();
                let all_equal = texts.windows(2).all(|pair| pair[0] == pair[1]);
                let body = if all_equal == *equal { then } else { otherwise };
                render_nodes(body, scope, st, out)?;
            }
            Node::With {
                names,
                values,
                body,
            } => {
                let mut bound = Vec::with_capacity(values.len());
                for value in values {
                    bound.push(eval_expr(value, scope, st)?.value);
                }
                let inner = Scope {
                    parent: Some(scope),
                    frame: Frame::Vars {
                        names,
                        values: &bound,
                    },
                };
                render_nodes(body, &inner, st, out)?;
            }
            Node::FirstOf(exprs) => {
                for expr in exprs {
                    let value = eval_expr(expr, scope, st)?;
                    if !value_text(&value.value).is_empty() {
                        st.emit_value(out, &value.value, expr.safe, value.html_safe)?;
                        break;
                    }
                }
            }
            Node::Now(pattern) => {
                st.check_output(out, 0)?;
                pattern.format_into(&st.env.now(), out);
                st.check_output(out, 0)?;
            }
            Node::Cycle { index, values } => {
                let at = st.cycles[*index] % values.len();
                st.cycles[*index] = at + 1;
                st.emit_raw(out, &values[at])?;
            }
            Node::Sum(terms) => render_sum(terms, scope, st, out)?,
            Node::Safe(body) => {
                let outer = st.safe;
                st.safe = true;
                let result = render_nodes(body, scope, st, out);
                st.safe = outer;
                result?;
            }
        }
    }
    Ok(())
}

fn render_sum<'s>(
    terms: &'s [SumArg],
    scope: &Scope<'s>,
    st: &mut State<'_>,
    out: &mut String,
) -> Result<(), RenderError> {
    let mut int: Option<i64> = Some(0);
    let mut float = 0.0_f64;
    for term in terms {
        let value = match term {
            SumArg::Number(number) => Cow::Borrowed(number),
            SumArg::Path(path) => lookup(path, scope, st.env),
        };
        match &*value {
            Value::Number(number) => {
                match (int, number.as_i64()) {
                    (Some(sum), Some(n)) => int = sum.checked_add(n),
                    _ => int = None,
                }
                float += number.as_f64().unwrap_or(0.0);
            }
            Value::Null => {}
            other => {
                return Err(RenderError::Filter {
                    name: "sum".to_owned(),
                    message: format!("'{}' is not a number", value_text(other)),
                });
            }
        }
    }
    let total = match int {
        Some(sum) => Value::from(sum),
        None => serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number),
    };
    st.emit_value(out, &total, true, true)
}

fn render_for<'s>(
    node: &'s ForNode,
    scope: &Scope<'s>,
    st: &mut State<'_>,
    out: &mut String,
) -> Result<(), RenderError> {
    let items = eval_expr(&node.items, scope, st)?.value;
    let length = match &*items {
        Value::Array(array) => array.len(),
        Value::Object(map) => map.len(),
        Value::String(text) => text.chars().count(),
        _ => 0,
    };
    if length == 0 {
        if let Some(empty) = &node.empty {
            render_nodes(empty, scope, st, out)?;
        }
        return Ok(());
    }
    let names = &node.names[..];
    match &*items {
        Value::Array(array) => {
            for (index, item) in array.iter().enumerate() {
                let previous = index.checked_sub(1).map(|i| &array[i]);
                if names.len() == 1 {
                    let values = [Cow::Borrowed(item)];
                    iterate(node, scope, st, out, (index, length), &values, previous)?;
                } else {
                    let values: Vec<Cow<'_, Value>> = (0..names.len())
                        .map(|i| match item {
                            Value::Array(parts) => {
                                parts.get(i).map_or(Cow::Borrowed(&NULL), Cow::Borrowed)
                            }
                            _ => Cow::Borrowed(&NULL),
                        })
                        .collect();
                    iterate(node, scope, st, out, (index, length), &values, previous)?;
                }
            }
        }
        Value::Object(map) => {
            for (index, (key, value)) in map.iter().enumerate() {
                if names.len() == 1 {
                    let entry = Value::Array(vec![Value::String(key.clone()), value.clone()]);
                    let values = [Cow::Owned(entry)];
                    iterate(node, scope, st, out, (index, length), &values, None)?;
                } else {
                    let mut values =
                        vec![Cow::Owned(Value::String(key.clone())), Cow::Borrowed(value)];
                    values.resize(names.len(), Cow::Borrowed(&NULL));
                    iterate(node, scope, st, out, (index, length), &values, None)?;
                }
            }
        }
        Value::String(text) => {
            for (index, c) in text.chars().enumerate() {
                let values = [Cow::Owned(Value::String(c.to_string()))];
                iterate(node, scope, st, out, (index, length), &values, None)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn iterate<'s>(
    node: &'s ForNode,
    scope: &Scope<'s>,
    st: &mut State<'_>,
    out: &mut String,
    (counter0, length): (usize, usize),
    values: &'s [Cow<'s, Value>],
    previous: Option<&'s Value>,
) -> Result<(), RenderError> {
    st.spend(1)?;
    let loop_scope = Scope {
        parent: Some(scope),
        frame: Frame::Loop(LoopInfo {
            counter0,
            length,
            name: &node.names[0],
            previous,
        }),
    };
    let vars = Scope {
        parent: Some(&loop_scope),
        frame: Frame::Vars {
            names: &node.names,
            values,
        },
    };
    render_nodes(&node.body, &vars, st, out)
}

/// Evaluates an expression: its value, then each filter in turn.
pub(crate) struct Evaluated<'s> {
    pub(crate) value: Cow<'s, Value>,
    /// The last filter produced markup that HTML escaping must not touch.
    pub(crate) html_safe: bool,
}

pub(crate) fn eval_expr<'s>(
    expr: &'s Expr,
    scope: &Scope<'s>,
    st: &mut State<'_>,
) -> Result<Evaluated<'s>, RenderError> {
    let mut value = match &expr.base {
        super::node::Base::Literal(literal) => Cow::Borrowed(literal),
        super::node::Base::Path(path) => lookup(path, scope, st.env),
        super::node::Base::Missing => Cow::Borrowed(&NULL),
    };
    let mut html_safe = false;
    for call in &expr.filters {
        st.spend(1)?;
        let evaluated = filters::apply(call, value, scope, st)?;
        value = evaluated.value;
        html_safe = evaluated.html_safe;
    }
    Ok(Evaluated { value, html_safe })
}

fn eval_cond<'s>(
    cond: &'s Cond,
    scope: &Scope<'s>,
    st: &mut State<'_>,
) -> Result<bool, RenderError> {
    st.spend(1)?;
    Ok(match cond {
        Cond::Truthy(op) => truthy(&*operand(op, scope, st)?),
        Cond::Not(inner) => !eval_cond(inner, scope, st)?,
        Cond::And(terms) => {
            for term in terms {
                if !eval_cond(term, scope, st)? {
                    return Ok(false);
                }
            }
            true
        }
        Cond::Or(terms) => {
            for term in terms {
                if eval_cond(term, scope, st)? {
                    return Ok(true);
                }
            }
            false
        }
        Cond::Any(ops) => {
            for op in ops {
                if truthy(&*operand(op, scope, st)?) {
                    return Ok(true);
                }
            }
            false
        }
        Cond::All(ops) => {
            for op in ops {
                if !truthy(&*operand(op, scope, st)?) {
                    return Ok(false);
                }
            }
            true
        }
        Cond::Compare(left, op, right) => {
            let left = operand(left, scope, st)?;
            let right = operand(right, scope, st)?;
            compare(&left, *op, &right)
        }
    })
}

fn operand<'s>(
    op: &'s Operand,
    scope: &Scope<'s>,
    st: &mut State<'_>,
) -> Result<Cow<'s, Value>, RenderError> {
    match op {
        Operand::Literal(literal) => Ok(Cow::Borrowed(literal)),
        Operand::Expr(expr) => Ok(eval_expr(expr, scope, st)?.value),
    }
}

/// Selmer's truthiness: missing, `null`, `false`, `""` and `"false"` are false.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(text) => !(text.is_empty() || text == "false"),
        _ => true,
    }
}

/// The text a comparison sees: `None` for a missing value.
fn operand_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        other => Some(value_text(other)),
    }
}

fn compare(left: &Value, op: CompareOp, right: &Value) -> bool {
    let (left, right) = (operand_text(left), operand_text(right));
    match op {
        CompareOp::Eq | CompareOp::Ne => {
            let equal = match (&left, &right) {
                (Some(a), Some(b)) if is_numeric(a) && is_numeric(b) => {
                    a.parse::<f64>().ok() == b.parse::<f64>().ok()
                }
                (a, b) => a == b,
            };
            equal == (op == CompareOp::Eq)
        }
        _ => {
            let parse =
                |text: Option<&Cow<'_, str>>| text.and_then(|t| t.trim().parse::<f64>().ok());
            let (Some(a), Some(b)) = (parse(left.as_ref()), parse(right.as_ref())) else {
                return false;
            };
            match op {
                CompareOp::Lt => a < b,
                CompareOp::Gt => a > b,
                CompareOp::Le => a <= b,
                _ => a >= b,
            }
        }
    }
}

/// Looks `path` up: loop and `with` bindings first, then the context, then the built-ins
/// `now`, `uuid` and `random`. Missing → `null`.
pub(crate) fn lookup<'s>(path: &Path, scope: &Scope<'s>, env: &dyn Env) -> Cow<'s, Value> {
    let Some((first, rest)) = path.segments.split_first() else {
        return Cow::Borrowed(&NULL);
    };
    let mut current = scope;
    loop {
        match &current.frame {
            Frame::Root(root) => {
                if let Some((_, fields)) = root.fields.iter().find(|(name, _)| **name == *first.key)
                {
                    return in_fields(fields, rest);
                }
                if let Some(value) = step(Cow::Borrowed(root.value), first) {
                    return descend(value, rest);
                }
            }
            Frame::Vars { names, values } => {
                if let Some(i) = names.iter().position(|name| **name == *first.key) {
                    let value: &'s Value = values.get(i).map_or(&NULL, |v| v);
                    return descend(Cow::Borrowed(value), rest);
                }
            }
            Frame::Loop(info) => {
                if &*first.key == "forloop" {
                    return loop_value(current, info, rest);
                }
            }
        }
        match current.parent {
            Some(parent) => current = parent,
            None => break,
        }
    }
    let builtin = match &*first.key {
        "now" => Value::String(date::rfc3339(&env.now())),
        "uuid" => Value::String(env.uuid()),
        "random" => Value::from(env.random()),
        _ => return Cow::Borrowed(&NULL),
    };
    descend(Cow::Owned(builtin), rest)
}

/// The value at `rest` in the object `fields` make (the last of a name counts, as in a
/// JSON object built from them); built whole only when `rest` is empty.
fn in_fields<'s>(fields: &'s [(&'s str, Value)], rest: &[Segment]) -> Cow<'s, Value> {
    let Some((field, deeper)) = rest.split_first() else {
        let object = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        return Cow::Owned(Value::Object(object));
    };
    match fields.iter().rev().find(|(name, _)| **name == *field.key) {
        Some((_, value)) => descend(Cow::Borrowed(value), deeper),
        None => Cow::Borrowed(&NULL),
    }
}

fn descend<'s>(mut value: Cow<'s, Value>, segments: &[Segment]) -> Cow<'s, Value> {
    for segment in segments {
        match step(value, segment) {
            Some(next) => value = next,
            None => return Cow::Borrowed(&NULL),
        }
    }
    value
}

/// One accessor step: an object key, an array index, or a character of a string.
fn step<'s>(value: Cow<'s, Value>, segment: &Segment) -> Option<Cow<'s, Value>> {
    let char_at = |text: &str| {
        let c = text.chars().nth(segment.index?)?;
        Some(Cow::Owned(Value::String(c.to_string())))
    };
    match value {
        Cow::Borrowed(value) => match value {
            Value::Object(map) => map.get(&*segment.key).map(Cow::Borrowed),
            Value::Array(array) => array.get(segment.index?).map(Cow::Borrowed),
            Value::String(text) => char_at(text),
            _ => None,
        },
        Cow::Owned(value) => match value {
            Value::Object(mut map) => map.swap_remove(&*segment.key).map(Cow::Owned),
            Value::Array(mut array) => {
                let index = segment.index?;
                (index < array.len()).then(|| Cow::Owned(array.swap_remove(index)))
            }
            Value::String(text) => char_at(&text),
            _ => None,
        },
    }
}

/// `forloop.counter`, `forloop.parentloop.first`, `forloop.previous.item`, …
fn loop_value<'s>(scope: &Scope<'s>, info: &LoopInfo<'s>, rest: &[Segment]) -> Cow<'s, Value> {
    let mut here = scope;
    let mut info = info;
    let mut rest = rest;
    loop {
        let Some((segment, after)) = rest.split_first() else {
            return Cow::Owned(loop_object(info));
        };
        let field = match &*segment.key {
            "parentloop" => {
                let mut next = here.parent;
                let mut found = None;
                while let Some(scope) = next {
                    if let Frame::Loop(parent_info) = &scope.frame {
                        found = Some((scope, parent_info));
                        break;
                    }
                    next = scope.parent;
                }
                let Some((scope, parent_info)) = found else {
                    return Cow::Borrowed(&NULL);
                };
                here = scope;
                info = parent_info;
                rest = after;
                continue;
            }
            "previous" => {
                let Some(previous) = info.previous else {
                    return Cow::Borrowed(&NULL);
                };
                return match after.split_first() {
                    None => {
                        let mut map = Map::new();
                        map.insert(info.name.to_owned(), previous.clone());
                        Cow::Owned(Value::Object(map))
                    }
                    Some((name, deeper)) if *name.key == *info.name => {
                        descend(Cow::Borrowed(previous), deeper)
                    }
                    Some(_) => Cow::Borrowed(&NULL),
                };
            }
            name => loop_field(info, name),
        };
        return if after.is_empty() {
            Cow::Owned(field)
        } else {
            Cow::Borrowed(&NULL)
        };
    }
}

fn loop_field(info: &LoopInfo<'_>, name: &str) -> Value {
    let LoopInfo {
        counter0, length, ..
    } = *info;
    match name {
        "counter0" => Value::from(counter0),
        "counter" => Value::from(counter0 + 1),
        // Selmer's definitions: for 3 items revcounter is 2, 1, 0 and revcounter0 is 3, 2, 1.
        "revcounter" => Value::from(length - counter0 - 1),
        "revcounter0" => Value::from(length - counter0),
        "first" => Value::Bool(counter0 == 0),
        "last" => Value::Bool(counter0 + 1 == length),
        "length" => Value::from(length),
        _ => Value::Null,
    }
}

fn loop_object(info: &LoopInfo<'_>) -> Value {
    let mut map = Map::new();
    for name in [
        "length",
        "counter0",
        "counter",
        "revcounter",
        "revcounter0",
        "first",
        "last",
    ] {
        map.insert(name.to_owned(), loop_field(info, name));
    }
    Value::Object(map)
}

/// A value as Clojure's `str` would print it, except that arrays and objects are JSON.
pub(crate) fn value_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::Null => Cow::Borrowed(""),
        Value::Bool(true) => Cow::Borrowed("true"),
        Value::Bool(false) => Cow::Borrowed("false"),
        Value::String(text) => Cow::Borrowed(text),
        Value::Number(number) => Cow::Owned(number.to_string()),
        Value::Array(_) | Value::Object(_) => Cow::Owned(value.to_string()),
    }
}

/// Appends `text` escaped for `escape`.
pub(crate) fn push_escaped(out: &mut String, text: &str, escape: Escape) {
    let mut last = 0;
    match escape {
        Escape::None => {
            out.push_str(text);
            return;
        }
        Escape::Html => {
            for (i, byte) in text.bytes().enumerate() {
                let entity = match byte {
                    b'&' => "&amp;",
                    b'<' => "&lt;",
                    b'>' => "&gt;",
                    b'"' => "&quot;",
                    b'\'' => "&#39;",
                    _ => continue,
                };
                out.push_str(&text[last..i]);
                out.push_str(entity);
                last = i + 1;
            }
        }
        Escape::Json => {
            for (i, byte) in text.bytes().enumerate() {
                let escaped = match byte {
                    b'"' => "\\\"",
                    b'\\' => "\\\\",
                    b'\n' => "\\n",
                    b'\r' => "\\r",
                    b'\t' => "\\t",
                    0x08 => "\\b",
                    0x0c => "\\f",
                    0x00..=0x1f => {
                        out.push_str(&text[last..i]);
                        push_fmt(out, format_args!("\\u{byte:04x}"));
                        last = i + 1;
                        continue;
                    }
                    _ => continue,
                };
                out.push_str(&text[last..i]);
                out.push_str(escaped);
                last = i + 1;
            }
        }
    }
    out.push_str(&text[last..]);
}
