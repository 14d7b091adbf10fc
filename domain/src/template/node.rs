//! The compiled form of a template: nodes, expressions, conditions.

use serde_json::Value;

use super::date::DatePattern;
use super::filters::Filter;

/// A whole compiled template.
#[derive(Debug)]
pub(crate) struct Program {
    pub(crate) nodes: Vec<Node>,
    /// Set when the template has no variables and no tags.
    pub(crate) static_text: Option<String>,
    /// Root names looked up, sorted, deduplicated.
    pub(crate) roots: Vec<Box<str>>,
    /// How many `{% cycle %}` tags the template has (each keeps a counter per render).
    pub(crate) cycles: usize,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    Var(Expr),
    If {
        branches: Vec<(Cond, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    For(Box<ForNode>),
    /// `ifequal` (`equal: true`) and `ifunequal`.
    Compare {
        args: Vec<Operand>,
        equal: bool,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        names: Vec<Box<str>>,
        values: Vec<Expr>,
        body: Vec<Node>,
    },
    FirstOf(Vec<Expr>),
    Now(DatePattern),
    Cycle {
        index: usize,
        values: Vec<Box<str>>,
    },
    Sum(Vec<SumArg>),
    /// `{% safe %}…{% endsafe %}`: no escaping inside.
    Safe(Vec<Node>),
}

#[derive(Debug)]
pub(crate) struct ForNode {
    pub(crate) names: Vec<Box<str>>,
    pub(crate) items: Expr,
    pub(crate) body: Vec<Node>,
    pub(crate) empty: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(crate) enum SumArg {
    Number(Value),
    Path(Path),
}

/// A value with its filters: `path-params.id|default:"x"|upper`.
#[derive(Debug)]
pub(crate) struct Expr {
    pub(crate) base: Base,
    pub(crate) filters: Vec<FilterCall>,
    /// The last filter is `safe`: the output is not escaped.
    pub(crate) safe: bool,
}

#[derive(Debug)]
pub(crate) enum Base {
    /// `"text"` or digits, as a JSON string.
    Literal(Value),
    Path(Path),
    /// Something that is not an accessor (e.g. Handlebars' `#if x`): always missing.
    Missing,
}

/// A dotted accessor, pre-split: `tags.0.name`.
#[derive(Debug)]
pub(crate) struct Path {
    pub(crate) segments: Box<[Segment]>,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) key: Box<str>,
    /// The key read as an array index, when it is all digits.
    pub(crate) index: Option<usize>,
}

impl Path {
    pub(crate) fn root(&self) -> &str {
        self.segments.first().map_or("", |segment| &segment.key)
    }
}

#[derive(Debug)]
pub(crate) struct FilterCall {
    pub(crate) filter: Filter,
    pub(crate) args: Vec<Arg>,
    /// A `date` pattern or named format given literally, compiled once.
    pub(crate) date: Option<DatePattern>,
}

#[derive(Debug)]
pub(crate) enum Arg {
    /// A literal, as a JSON string.
    Literal(Value),
    /// `@accessor`: looked up; the raw text (with `@`) when missing, as Selmer does.
    Lookup(Path, Value),
}

#[derive(Debug)]
pub(crate) enum Cond {
    Truthy(Operand),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Any(Vec<Operand>),
    All(Vec<Operand>),
    Compare(Operand, CompareOp, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug)]
pub(crate) enum Operand {
    /// A quoted string, a number or a `:keyword`, as a JSON string.
    Literal(Value),
    Expr(Expr),
}
