//! The filters of `{{ value|name:arg }}`, after Selmer 1.12.58's `selmer.filters`.
//!
//! A filter takes the value (possibly missing, i.e. `null`) and its arguments, which are
//! literal text or `@accessor` lookups, and returns a new value. Where Selmer would throw on
//! a missing value for a collection filter we return a missing value instead.
//!
//! This module names the filters and dispatches a call to the function of its filter; the
//! filters themselves live by family in the submodules: [`text`] (case, encodings, edits,
//! abbreviations), [`markup`] (line breaks, tags, `email`, `phone`),
//! [`number`](mod@number) (arithmetic and formats, with [`java_format`] for
//! `number-format`) and [`collection`] (counts, picks, sorting, ranges).

mod collection;
mod java_format;
mod markup;
mod number;
mod text;

use std::borrow::Cow;

use serde_json::Value;

use self::number::{Num, not_a_number, number};
use super::date::{DatePattern, parse_date};
use super::node::{Arg, FilterCall};
use super::render::{Evaluated, NULL, Scope, State, lookup, value_text};
use super::{Env, RenderError};

/// Every filter we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    Str,
    Subs,
    AbbrLeft,
    AbbrMiddle,
    AbbrRight,
    AbbrEllipsis,
    Abbreviate,
    Add,
    Multiply,
    Divide,
    Round,
    AddSlashes,
    Center,
    CurrencyFormat,
    NumberFormat,
    Date,
    Default,
    DefaultIfEmpty,
    DoubleFormat,
    First,
    Take,
    Drop,
    DropLast,
    GetDigit,
    Hash,
    Join,
    IsEmpty,
    NotEmpty,
    Json,
    Last,
    Length,
    Count,
    LengthIs,
    CountIs,
    Linebreaks,
    LinebreaksBr,
    Linenumbers,
    RandNth,
    Range,
    Remove,
    Pluralize,
    Safe,
    UrlEscape,
    Lower,
    Upper,
    Capitalize,
    Title,
    Sort,
    SortBy,
    SortByReversed,
    SortReversed,
    Between,
    Replace,
    RemoveTags,
    Email,
    Phone,
    Name,
}

const MANY: usize = usize::MAX;

/// Name, filter, fewest and most arguments.
const TABLE: &[(&str, Filter, usize, usize)] = &[
    ("str", Filter::Str, 0, 0),
    ("subs", Filter::Subs, 2, MANY),
    ("abbr-left", Filter::AbbrLeft, 0, 0),
    ("abbr-middle", Filter::AbbrMiddle, 0, 0),
    ("abbr-right", Filter::AbbrRight, 0, 0),
    ("abbr-ellipsis", Filter::AbbrEllipsis, 1, 1),
    ("abbreviate", Filter::Abbreviate, 1, 2),
    ("add", Filter::Add, 1, MANY),
    ("multiply", Filter::Multiply, 1, 1),
    ("divide", Filter::Divide, 1, 1),
    ("round", Filter::Round, 0, 0),
    ("addslashes", Filter::AddSlashes, 0, 0),
    ("center", Filter::Center, 1, 1),
    ("currency-format", Filter::CurrencyFormat, 0, 2),
    ("number-format", Filter::NumberFormat, 1, 2),
    ("date", Filter::Date, 1, 2),
    ("default", Filter::Default, 1, 1),
    ("default-if-empty", Filter::DefaultIfEmpty, 1, 1),
    ("double-format", Filter::DoubleFormat, 0, 1),
    ("first", Filter::First, 0, 0),
    ("take", Filter::Take, 1, 1),
    ("drop", Filter::Drop, 1, 1),
    ("drop-last", Filter::DropLast, 1, 1),
    ("get-digit", Filter::GetDigit, 1, 1),
    ("hash", Filter::Hash, 1, 1),
    ("join", Filter::Join, 0, 1),
    ("empty?", Filter::IsEmpty, 0, 0),
    ("not-empty", Filter::NotEmpty, 0, 0),
    ("json", Filter::Json, 0, 0),
    ("last", Filter::Last, 0, 0),
    ("length", Filter::Length, 0, 0),
    ("count", Filter::Count, 0, 0),
    ("length-is", Filter::LengthIs, 1, 1),
    ("count-is", Filter::CountIs, 1, 1),
    ("linebreaks", Filter::Linebreaks, 0, 0),
    ("linebreaks-br", Filter::LinebreaksBr, 0, 0),
    ("linenumbers", Filter::Linenumbers, 0, 0),
    ("rand-nth", Filter::RandNth, 0, 0),
    ("range", Filter::Range, 0, 2),
    ("remove", Filter::Remove, 1, 1),
    ("pluralize", Filter::Pluralize, 0, 2),
    ("safe", Filter::Safe, 0, 0),
    ("urlescape", Filter::UrlEscape, 0, 0),
    ("lower", Filter::Lower, 0, 0),
    ("upper", Filter::Upper, 0, 0),
    ("capitalize", Filter::Capitalize, 0, 0),
    ("title", Filter::Title, 0, 0),
    ("sort", Filter::Sort, 0, 0),
    ("sort-by", Filter::SortBy, 1, 1),
    ("sort-by-reversed", Filter::SortByReversed, 1, 1),
    ("sort-reversed", Filter::SortReversed, 0, 0),
    ("between?", Filter::Between, 2, 2),
    ("replace", Filter::Replace, 2, 2),
    ("remove-tags", Filter::RemoveTags, 0, MANY),
    ("email", Filter::Email, 0, 1),
    ("phone", Filter::Phone, 0, 2),
    ("name", Filter::Name, 0, 0),
];

impl Filter {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        TABLE
            .iter()
            .find(|entry| entry.0 == name)
            .map(|entry| entry.1)
    }

    pub(crate) fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|entry| entry.1 == self)
            .map_or("?", |entry| entry.0)
    }

    /// Fewest and most arguments.
    pub(crate) fn arity(self) -> (usize, usize) {
        TABLE
            .iter()
            .find(|entry| entry.1 == self)
            .map_or((0, MANY), |entry| (entry.2, entry.3))
    }
    /// Whether the output is markup, or a boolean, that HTML escaping must leave alone.
    fn html_safe(self) -> bool {
        matches!(
            self,
            Self::LengthIs | Self::CountIs | Self::Between | Self::Email | Self::Phone
        )
    }
}

/// Why a filter stopped: a limit, or a message for [`RenderError::Filter`].
enum Failure {
    Render(RenderError),
    Message(String),
}

impl From<RenderError> for Failure {
    fn from(error: RenderError) -> Self {
        Self::Render(error)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Message(message)
    }
}

type Outcome<T> = Result<T, Failure>;

/// Applies one filter call.
pub(crate) fn apply<'s>(
    call: &'s FilterCall,
    input: Cow<'s, Value>,
    scope: &Scope<'s>,
    st: &mut State<'_>,
) -> Result<Evaluated<'s>, RenderError> {
    match run(call, input, scope, st) {
        Ok(value) => Ok(Evaluated {
            value,
            html_safe: call.filter.html_safe(),
        }),
        Err(Failure::Render(error)) => Err(error),
        Err(Failure::Message(message)) => Err(RenderError::Filter {
            name: call.filter.name().to_owned(),
            message,
        }),
    }
}

/// The arguments of one call, resolved on demand.
struct Args<'s, 'x> {
    call: &'s FilterCall,
    scope: &'x Scope<'s>,
    env: &'x dyn Env,
}

impl<'s> Args<'s, '_> {
    fn len(&self) -> usize {
        self.call.args.len()
    }

    fn get(&self, i: usize) -> Option<Cow<'s, Value>> {
        match self.call.args.get(i)? {
            Arg::Literal(value) => Some(Cow::Borrowed(value)),
            Arg::Lookup(path, raw) => {
                let value = lookup(path, self.scope, self.env);
                Some(if value.is_null() {
                    Cow::Borrowed(raw)
                } else {
                    value
                })
            }
        }
    }

    fn value(&self, i: usize) -> Cow<'s, Value> {
        self.get(i).unwrap_or(Cow::Borrowed(&NULL))
    }

    fn text(&self, i: usize) -> Cow<'s, str> {
        cow_text(self.value(i))
    }

    fn number(&self, i: usize) -> Outcome<Num> {
        let value = self.value(i);
        number(&value).ok_or_else(|| not_a_number(&value))
    }

    /// An integer argument (`Long/valueOf`): decimal digits with an optional sign.
    fn long(&self, i: usize) -> Outcome<i64> {
        let text = self.text(i);
        text.parse::<i64>()
            .map_err(|_| Failure::Message(format!("'{text}' is not an integer")))
    }

    fn long_opt(&self, i: usize) -> Outcome<Option<i64>> {
        if i < self.len() {
            self.long(i).map(Some)
        } else {
            Ok(None)
        }
    }
}

fn cow_text(value: Cow<'_, Value>) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(value) => value_text(value),
        Cow::Owned(Value::String(text)) => Cow::Owned(text),
        Cow::Owned(other) => Cow::Owned(value_text(&other).into_owned()),
    }
}

fn string<'s>(text: String) -> Cow<'s, Value> {
    Cow::Owned(Value::String(text))
}

fn boolean<'s>(value: bool) -> Cow<'s, Value> {
    Cow::Owned(Value::Bool(value))
}

/// Runs one filter call: one arm per filter (or per group of filters that share their
/// code), each a function of the filter's family.
fn run<'s>(
    call: &'s FilterCall,
    input: Cow<'s, Value>,
    scope: &Scope<'s>,
    st: &mut State<'_>,
) -> Outcome<Cow<'s, Value>> {
    let args = Args {
        call,
        scope,
        env: st.env,
    };
    let filter = call.filter;
    Ok(match filter {
        Filter::Safe => input,
        Filter::Default => default(input, &args),
        Filter::DefaultIfEmpty => default_if_empty(input, &args),
        Filter::IsEmpty => boolean(collection::is_empty(&input)),
        Filter::NotEmpty => not_empty(input),
        Filter::Str | Filter::Name => string(value_text(&input).into_owned()),
        Filter::Upper => text::upper(&input, st)?,
        Filter::Lower => text::lower(&input, st)?,
        Filter::Capitalize => string(text::capitalize(&value_text(&input))),
        Filter::Title => text::title(&input, st)?,
        Filter::Json => text::json(&input, st)?,
        Filter::Hash => text::hash(&input, &args, st)?,
        Filter::UrlEscape => text::url_escape(&input, st)?,
        Filter::AddSlashes => text::add_slashes(&input),
        Filter::Center => text::center(&input, &args, st)?,
        Filter::Remove => text::remove(&input, &args),
        Filter::Replace => text::replace(&input, &args, st)?,
        Filter::GetDigit => text::get_digit(input, &args)?,
        Filter::Subs => text::subs(&input, &args)?,
        Filter::AbbrLeft | Filter::AbbrMiddle | Filter::AbbrRight | Filter::AbbrEllipsis => {
            text::abbreviation_option(filter, &input, &args)
        }
        Filter::Abbreviate => text::abbreviate(&input, &args)?,
        Filter::Linebreaks => markup::linebreaks(&input),
        Filter::LinebreaksBr => string(value_text(&input).replace('\n', "<br />")),
        Filter::Linenumbers => markup::linenumbers(&input),
        Filter::RemoveTags => markup::remove_tags(input, &args, st)?,
        Filter::Email => markup::email(&input, &args)?,
        Filter::Phone => markup::phone(&input, &args)?,
        Filter::Add => number::add(&input, &args)?,
        Filter::Multiply | Filter::Divide => number::multiply_or_divide(filter, &input, &args)?,
        Filter::Round => number::round(&input)?,
        Filter::Between => number::between(&input, &args)?,
        Filter::DoubleFormat => number::double_format(&input, &args)?,
        Filter::NumberFormat => number::number_format(&input, &args)?,
        Filter::CurrencyFormat => number::currency_format(&input, &args)?,
        Filter::Length | Filter::Count => collection::length(&input)?,
        Filter::LengthIs | Filter::CountIs => collection::length_is(&input, &args)?,
        Filter::Pluralize => collection::pluralize(&input, &args)?,
        Filter::First => collection::first_or_last(input, false)?,
        Filter::Last => collection::first_or_last(input, true)?,
        Filter::Take | Filter::Drop | Filter::DropLast => {
            collection::slice(filter, &input, &args, st)?
        }
        Filter::RandNth => collection::rand_nth(&input, st)?,
        Filter::Join => collection::join(&input, &args, st)?,
        Filter::Sort | Filter::SortReversed | Filter::SortBy | Filter::SortByReversed => {
            collection::sort(filter, &input, &args, st)?
        }
        Filter::Range => collection::range(&input, &args, st)?,
        Filter::Date => date(call, &input, &args)?,
    })
}

// ---- presence -----------------------------------------------------------------------------

/// `default`: the argument when the value is missing or `false`.
fn default<'s>(input: Cow<'s, Value>, args: &Args<'s, '_>) -> Cow<'s, Value> {
    match &*input {
        Value::Null | Value::Bool(false) => args.value(0),
        _ => input,
    }
}

/// `default-if-empty`: the argument when the value is missing or empty.
fn default_if_empty<'s>(input: Cow<'s, Value>, args: &Args<'s, '_>) -> Cow<'s, Value> {
    if collection::is_empty(&input) {
        args.value(0)
    } else {
        input
    }
}

/// `not-empty`: the value, or a missing value when it is empty.
fn not_empty(input: Cow<'_, Value>) -> Cow<'_, Value> {
    if collection::is_empty(&input) {
        Cow::Borrowed(&NULL)
    } else {
        input
    }
}

// ---- dates --------------------------------------------------------------------------------

fn date(call: &FilterCall, input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let text = match input {
        Value::Null | Value::Bool(false) => return Ok(Cow::Borrowed(&NULL)),
        Value::String(text) => text,
        other => {
            return Err(Failure::Message(format!(
                "{} is not a valid date format.",
                value_text(other)
            )));
        }
    };
    let Some(when) = parse_date(text) else {
        return Err(Failure::Message(format!(
            "{text} is not a valid date (expected RFC 3339 or yyyy-MM-dd)"
        )));
    };
    let pattern = match &call.date {
        Some(pattern) => Cow::Borrowed(pattern),
        None => Cow::Owned(DatePattern::named_or_pattern(&args.text(0))?),
    };
    let mut out = String::new();
    pattern.format_into(&when, &mut out);
    Ok(string(out))
}
