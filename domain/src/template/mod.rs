//! A Selmer-compatible template engine: compiled once, rendered with fuel and an output cap.
//!
//! moclojer bodies are [Selmer](https://github.com/yogthos/Selmer) 1.12.58 templates:
//! `{{ path-params.id }}` variables with `|filter:arg` chains, `{% if %}` / `{% for %}` tags
//! and `{# comments #}`. This module re-implements the part of Selmer that mocks use, as a
//! pure function of (template, context, [`Env`]): no IO, no clock, no randomness of its own.
//!
//! - [`Template::compile`] parses the source once into a tree of nodes with pre-split
//!   accessor paths and resolved filters. Unknown filters and tags, unclosed blocks and
//!   nesting deeper than [`MAX_NESTING`] are [`TemplateError`]s with a line and column.
//! - [`Template::render`] walks the tree against a JSON context. Every node, loop iteration
//!   and filter costs fuel; the output is capped. Both limits come from [`RenderLimits`], so
//!   a hostile template stops quickly with a [`RenderError`].
//! - [`Escape`] says how variable output is escaped for the sink: HTML (Selmer's default),
//!   JSON string content (so a `"` or `\` in a request value can never break a JSON body),
//!   or not at all. `|safe` as the last filter turns escaping off for one output.
//! - [`Condition`] is one `if` expression compiled alone, for webhooks' `if:` key.
//!
//! ```
//! use moclojer_domain::template::{Env, Escape, RenderLimits, Template};
//! use serde_json::json;
//!
//! struct Fixed;
//! impl Env for Fixed {
//!     fn now(&self) -> time::OffsetDateTime { time::OffsetDateTime::UNIX_EPOCH }
//!     fn uuid(&self) -> String { "00000000-0000-4000-8000-000000000000".to_owned() }
//!     fn random(&self) -> u64 { 4 }
//! }
//!
//! let template = Template::compile(r#"{"id": "{{path-params.id}}", "n": "{{name|default:"anon"|upper}}"}"#)?;
//! let context = json!({"path-params": {"id": "a\"b"}});
//! let body = template.render(&context, Escape::Json, &Fixed, &RenderLimits::default())?;
//! assert_eq!(body, r#"{"id": "a\"b", "n": "ANON"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Compatibility notes
//!
//! Compatibility comes first; these are the places where we knowingly differ from Selmer,
//! and the Selmer quirks we keep.
//!
//! - Arrays and objects render as compact JSON (`["a","b"]`, `{"a":1}`), not in Clojure
//!   notation (`["a" "b"]`, `{:a 1}`): JSON is what a mock body wants.
//! - Unknown filters, a wrong number of filter arguments, bad `date` patterns and bad `hash`
//!   algorithms given literally are compile errors, not render errors: a spec is refused
//!   at publish instead of answering 500 later.
//! - `{{` without `}}`, `{%` without `%}` and `{#` without `#}` are compile errors.
//! - Comparisons in `if`, `ifequal` and `ifunequal` use the raw rendered text of a value, not
//!   its HTML-escaped form (Selmer compares `a&amp;b` with `"a&b"`).
//! - Numeric `<`, `>`, `<=`, `>=` with a missing or non-numeric side are false (Selmer
//!   answers true for one missing side and fails for text).
//! - `if` also accepts `and`, `or`, `!=` and `==`, which Selmer does not.
//! - Collection filters (`first`, `last`, `join`, `sort`, `take`, `rand-nth`, …) on a missing
//!   value give a missing value instead of failing; string filters accept numbers.
//! - `date` also accepts RFC 3339 text, `yyyy-MM-dd` dates and `yyyy-MM-ddTHH:mm:ss` local
//!   date-times (read as UTC); names and texts are English whatever the locale argument.
//! - `number-format` and `double-format` accept numeric text and integers for `%f`.
//! - Literal values (`{{"x"|upper}}`) are escaped like variables.
//! - `cycle` counts per render, not for the life of the compiled template.
//! - `forloop.previous` is available only when looping over an array.
//! - Looping over a number or a boolean renders the `{% empty %}` branch (Selmer fails);
//!   `sum` counts missing values as 0.
//! - `email` and `phone` output is exempt from HTML escaping, as in Selmer, but is still
//!   JSON-escaped under [`Escape::Json`].
//! - `currency-format` knows only the `en-US` locale.
//! - The tags `include`, `extends`, `script`, `style` and `debug` are not supported.
//! - Kept on purpose because they are Selmer's: `forloop.revcounter` counts 2, 1, 0 and
//!   `revcounter0` 3, 2, 1 for three items; `cycle` prints its arguments as written (quotes
//!   included); `hash` drops leading zero digits and pads to 32; `{{ x|json }}` is escaped
//!   like any value, so raw JSON needs `|json|safe`.
//! - Handlebars-style markers (`{{#if x}}`, `{{/if}}`) render as missing variables, which is
//!   what Selmer does too: the markers vanish and both branches are kept.

mod date;
mod filters;
mod hash;
mod node;
mod parse;
mod render;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// The deepest nesting of block tags (`if`, `for`, `with`, …) a template may have.
pub const MAX_NESTING: usize = 64;

/// A compiled template. Cheap to clone (the compiled form sits behind an [`Arc`]).
#[derive(Debug, Clone)]
pub struct Template {
    program: Arc<node::Program>,
}

/// Why a template (or a [`Condition`]) does not compile, with a 1-based position in its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    /// 1-based line of the offending construct.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// What is wrong, for a person.
    pub message: String,
}

/// How variable output (`{{ … }}` and `{% firstof %}`) is escaped. Template text and the
/// output of `{% now %}`, `{% cycle %}` and `{% sum %}` never are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Escape {
    /// Selmer's default: `&`, `<`, `>`, `"` and `'` become entities. For `text/html` bodies.
    Html,
    /// As the content of a JSON string: `"` → `\"`, `\` → `\\`, control characters → `\n`,
    /// `\u001f`, …; so a value can never break out of a JSON string.
    Json,
    /// Raw.
    None,
}

/// How much work one render may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RenderLimits {
    /// Steps allowed: each node, loop iteration and filter call costs at least one, and
    /// filters that walk data cost in proportion to its size.
    pub fuel: u64,
    /// Largest output in bytes (for [`Template::render_into`], the bytes this render adds).
    pub max_output: usize,
}

impl Default for RenderLimits {
    /// One million steps and one mebibyte of output.
    fn default() -> Self {
        Self {
            fuel: 1_000_000,
            max_output: 1 << 20,
        }
    }
}

/// Why a render stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template did more work than [`RenderLimits::fuel`] allows.
    #[error("the template does too much work: it was stopped when its step budget ran out")]
    FuelExhausted,
    /// The output would exceed [`RenderLimits::max_output`].
    #[error("the template output is larger than the limit of {max} bytes")]
    OutputTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// A filter could not handle its input or arguments.
    #[error("filter '{name}' failed: {message}")]
    Filter {
        /// The filter's name as written in the template.
        name: String,
        /// What went wrong, for a person.
        message: String,
    },
}

/// What a render needs from the outside world: the time, ids and random numbers.
///
/// Supplies the built-in variables `now` (RFC 3339), `uuid` and `random` (decimal) when the
/// context does not define them, the `{% now %}` tag and the `rand-nth` filter.
pub trait Env {
    /// The current time; its offset is the one `now` and `{% now %}` show.
    fn now(&self) -> time::OffsetDateTime;
    /// A fresh UUID, as text.
    fn uuid(&self) -> String;
    /// A random number.
    fn random(&self) -> u64;
}

impl Template {
    /// Compiles `source`.
    ///
    /// # Errors
    /// [`TemplateError`] for an unknown tag or filter, a block that is not closed, a tag in
    /// the wrong place, a malformed expression, or nesting deeper than [`MAX_NESTING`].
    pub fn compile(source: &str) -> Result<Self, TemplateError> {
        let program = parse::parse_template(source)?;
        Ok(Self {
            program: Arc::new(program),
        })
    }

    /// Renders against `context` (normally a JSON object whose keys are the root variables:
    /// `path-params`, `query-params`, `json-params`, `header-params`, …).
    ///
    /// # Errors
    /// [`RenderError`] when the fuel or output limit is reached or a filter fails.
    pub fn render(
        &self,
        context: &Value,
        escape: Escape,
        env: &dyn Env,
        limits: &RenderLimits,
    ) -> Result<String, RenderError> {
        let mut out = String::new();
        self.render_into(&mut out, context, escape, env, limits)?;
        Ok(out)
    }

    /// Like [`Template::render`], appending to `out`. On error `out` holds partial output.
    ///
    /// # Errors
    /// As [`Template::render`].
    pub fn render_into(
        &self,
        out: &mut String,
        context: &Value,
        escape: Escape,
        env: &dyn Env,
        limits: &RenderLimits,
    ) -> Result<(), RenderError> {
        let context = Context {
            value: context,
            fields: &[],
        };
        render::render_program(&self.program, out, context, escape, env, limits)
    }

    /// Like [`Template::render_into`], against a [`Context`] whose roots may be given field
    /// by field: the same output as against the one JSON object they make.
    ///
    /// # Errors
    /// As [`Template::render`].
    pub fn render_context_into(
        &self,
        out: &mut String,
        context: Context<'_>,
        escape: Escape,
        env: &dyn Env,
        limits: &RenderLimits,
    ) -> Result<(), RenderError> {
        render::render_program(&self.program, out, context, escape, env, limits)
    }

    /// True when the template has no variables and no tags (comments and `verbatim` blocks
    /// aside): rendering it always gives [`Template::static_text`].
    pub fn is_static(&self) -> bool {
        self.program.static_text.is_some()
    }

    /// The output of a static template, without rendering it.
    pub fn static_text(&self) -> Option<&str> {
        self.program.static_text.as_deref()
    }

    /// The root names the template looks up, sorted and without duplicates: context keys
    /// such as `path-params` or `json-params`, built-ins such as `now`, and names bound by
    /// `for` and `with` (so the list may name more than the context needs, never less).
    pub fn variables(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.program.roots.iter().map(|name| &**name)
    }

    /// True when [`Template::variables`] contains `root`.
    pub fn uses_variable(&self, root: &str) -> bool {
        self.program
            .roots
            .binary_search_by(|name| (**name).cmp(root))
            .is_ok()
    }
}

/// A render context: the roots of a JSON object (`value`), and roots given as their fields
/// (`fields`), which a render reads without the object they would make being built (it
/// is built only for a template that reads such a root whole). A root in `fields` hides one
/// of the same name in `value`; a field named twice reads as its last value, as a JSON
/// object built from the list would.
///
/// ```
/// # use moclojer_domain::template::{Context, Env, Escape, RenderLimits, Template};
/// # use serde_json::json;
/// # struct Fixed;
/// # impl Env for Fixed {
/// #     fn now(&self) -> time::OffsetDateTime { time::OffsetDateTime::UNIX_EPOCH }
/// #     fn uuid(&self) -> String { String::new() }
/// #     fn random(&self) -> u64 { 4 }
/// # }
/// let template = Template::compile("{{path-params.id}} {{query-params.q}}")?;
/// let path = [("id", json!(42))];
/// let context = Context {
///     value: &json!({"query-params": {"q": "x"}}),
///     fields: &[("path-params", &path)],
/// };
/// let mut out = String::new();
/// template.render_context_into(&mut out, context, Escape::None, &Fixed, &RenderLimits::default())?;
/// assert_eq!(out, "42 x");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Roots held in a JSON value (normally an object).
    pub value: &'a Value,
    /// Roots given as their fields, in order: `("path-params", &[("id", json!("42"))])`.
    pub fields: &'a [(&'a str, &'a [(&'a str, Value)])],
}

/// A Selmer `if` expression compiled alone, such as a webhook's `path-params.id = 1`.
///
/// It accepts what `{% if … %}` accepts: a value's truthiness, `not`, `and`, `or`,
/// `any a b`, `all a b`, `a = b`, `a != b` and the numeric `<`, `>`, `<=`, `>=`.
/// A caller with no condition at all should treat it as true; compiling `""` is an error.
#[derive(Debug, Clone)]
pub struct Condition {
    condition: Arc<node::Cond>,
    roots: Arc<[Box<str>]>,
}

impl Condition {
    /// Compiles `expression`, with positions relative to it.
    ///
    /// # Errors
    /// [`TemplateError`] when the expression is empty or malformed, or names an unknown
    /// filter.
    pub fn compile(expression: &str) -> Result<Self, TemplateError> {
        let (condition, roots) = parse::parse_condition(expression)?;
        Ok(Self {
            condition: Arc::new(condition),
            roots: roots.into(),
        })
    }

    /// The root names the condition looks up, sorted and without duplicates (see
    /// [`Template::variables`]).
    pub fn variables(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.roots.iter().map(|name| &**name)
    }

    /// True when [`Condition::variables`] contains `root`.
    pub fn uses_variable(&self, root: &str) -> bool {
        self.roots
            .binary_search_by(|name| (**name).cmp(root))
            .is_ok()
    }

    /// Evaluates against `context`, with the same truthiness as `{% if %}`: missing values,
    /// `null`, `false`, `""` and `"false"` are false; everything else (`0` too) is true.
    ///
    /// # Errors
    /// [`RenderError`] when the fuel runs out or a filter fails.
    pub fn eval(
        &self,
        context: &Value,
        env: &dyn Env,
        limits: &RenderLimits,
    ) -> Result<bool, RenderError> {
        render::eval_condition(&self.condition, context, env, limits)
    }
}

/// Appends formatted text to a `String`, which cannot fail.
fn push_fmt(out: &mut String, args: fmt::Arguments<'_>) {
    fmt::Write::write_fmt(out, args).unwrap_or(());
}

impl fmt::Display for Escape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Html => "html",
            Self::Json => "json",
            Self::None => "none",
        })
    }
}
