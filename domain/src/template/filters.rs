//! The filters of `{{ value|name:arg }}`, after Selmer 1.12.58's `selmer.filters`.
//!
//! A filter takes the value (possibly missing, i.e. `null`) and its arguments, which are
//! literal text or `@accessor` lookups, and returns a new value. Where Selmer would throw on
//! a missing value for a collection filter we return a missing value instead.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::date::{DatePattern, parse_date};
use super::hash;
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
}

/// The algorithms of the `hash` filter.
pub(crate) fn check_hash_algorithm(name: &str) -> Result<(), String> {
    match name {
        "md5" | "sha" | "sha256" | "sha384" | "sha512" => Ok(()),
        other => Err(format!(
            "'{other}' is not a valid hash algorithm (md5, sha, sha256, sha384, sha512)"
        )),
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
        Ok((value, html_safe)) => Ok(Evaluated { value, html_safe }),
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

#[allow(clippy::too_many_lines)]
fn run<'s>(
    call: &'s FilterCall,
    input: Cow<'s, Value>,
    scope: &Scope<'s>,
    st: &mut State<'_>,
) -> Outcome<(Cow<'s, Value>, bool)> {
    let args = Args {
        call,
        scope,
        env: st.env,
    };
    let mut html_safe = false;
    let value = match call.filter {
        Filter::Safe => input,
        Filter::Str | Filter::Name => string(value_text(&input).into_owned()),
        Filter::Upper => {
            let text = value_text(&input);
            st.spend_bytes(text.len())?;
            string(text.to_uppercase())
        }
        Filter::Lower => {
            let text = value_text(&input);
            st.spend_bytes(text.len())?;
            string(text.to_lowercase())
        }
        Filter::Capitalize => string(capitalize(&value_text(&input))),
        Filter::Title => {
            let text = value_text(&input);
            st.spend_bytes(text.len())?;
            string(
                text.split(' ')
                    .map(capitalize)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
        Filter::Default => match &*input {
            Value::Null | Value::Bool(false) => args.value(0),
            _ => input,
        },
        Filter::DefaultIfEmpty => {
            if is_empty(&input) {
                args.value(0)
            } else {
                input
            }
        }
        Filter::IsEmpty => boolean(is_empty(&input)),
        Filter::NotEmpty => {
            if is_empty(&input) {
                Cow::Borrowed(&NULL)
            } else {
                input
            }
        }
        Filter::Length | Filter::Count => Cow::Owned(Value::from(count(&input)?)),
        Filter::LengthIs | Filter::CountIs => {
            html_safe = true;
            boolean(count(&input)? == args.long(0)?)
        }
        Filter::Json => {
            let text = value_text_json(&input);
            st.spend_bytes(text.len())?;
            string(text)
        }
        Filter::Date => date(call, &input, &args)?,
        Filter::Join => join(&input, &args, st)?,
        Filter::First => first_or_last(input, false)?,
        Filter::Last => first_or_last(input, true)?,
        Filter::Take | Filter::Drop | Filter::DropLast => slice(call.filter, &input, &args, st)?,
        Filter::RandNth => {
            let Some(items) = sequence(&input)? else {
                return Ok((Cow::Borrowed(&NULL), false));
            };
            if items.is_empty() {
                return Err(Failure::Message(
                    "cannot pick from an empty collection".to_owned(),
                ));
            }
            let len = u64::try_from(items.len()).unwrap_or(u64::MAX);
            let index = usize::try_from(st.env.random() % len).unwrap_or(0);
            Cow::Owned(items[index].clone().into_owned())
        }
        Filter::Sort | Filter::SortReversed | Filter::SortBy | Filter::SortByReversed => {
            sort(call.filter, &input, &args, st)?
        }
        Filter::Range => range(&input, &args, st)?,
        Filter::Add => add(&input, &args)?,
        Filter::Multiply | Filter::Divide => {
            let left = number(&input).ok_or_else(|| not_a_number(&input))?;
            let right = args.number(0)?;
            let result = if call.filter == Filter::Multiply {
                multiply(left, right)?
            } else {
                divide(left, right)?
            };
            Cow::Owned(result.into_value()?)
        }
        Filter::Round => {
            let n = number(&input).ok_or_else(|| not_a_number(&input))?;
            let rounded = match n {
                Num::Int(i) => i,
                Num::Float(f) => float_to_long((f + 0.5).floor())?,
            };
            Cow::Owned(Value::from(rounded))
        }
        Filter::DoubleFormat => {
            let n = number(&input).ok_or_else(|| not_a_number(&input))?;
            let places = match args.get(0) {
                Some(_) => usize::try_from(args.long(0)?).map_err(|_| {
                    Failure::Message("decimal places cannot be negative".to_owned())
                })?,
                None => 1,
            };
            let places = limit_width(places)?;
            string(fixed_half_up(n.as_f64(), places))
        }
        Filter::NumberFormat => {
            let n = number(&input).ok_or_else(|| not_a_number(&input))?;
            string(java_format(&args.text(0), n)?)
        }
        Filter::CurrencyFormat => {
            let n = number(&input).ok_or_else(|| not_a_number(&input))?;
            for i in 0..args.len() {
                let part = args.text(i);
                if !matches!(&*part, "en" | "US" | "en_US" | "en-US") {
                    return Err(Failure::Message(format!(
                        "the locale '{part}' is not supported (only en US)"
                    )));
                }
            }
            let amount = fixed_half_up(n.as_f64().abs(), 2);
            let sign = if n.as_f64() < 0.0 { "-" } else { "" };
            string(format!("{sign}${}", group_thousands(&amount)))
        }
        Filter::Hash => {
            let text = value_text(&input);
            st.spend_bytes(text.len())?;
            let algorithm = args.text(0);
            check_hash_algorithm(&algorithm)?;
            let digest = match &*algorithm {
                "md5" => hash::md5(text.as_bytes()),
                "sha" => hash::sha1(text.as_bytes()),
                "sha256" => hash::sha256(text.as_bytes()),
                "sha384" => hash::sha384(text.as_bytes()),
                _ => hash::sha512(text.as_bytes()),
            };
            string(selmer_hex(&digest))
        }
        Filter::UrlEscape => {
            let text = value_text(&input);
            st.spend_bytes(text.len())?;
            string(url_encode(&text))
        }
        Filter::AddSlashes => {
            let text = value_text(&input);
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                if c == '"' || c == '\'' {
                    out.push('\\');
                }
                out.push(c);
            }
            string(out)
        }
        Filter::Center => {
            let text = value_text(&input);
            let width = args.long(0)?;
            let missing = usize::try_from(width)
                .unwrap_or(0)
                .saturating_sub(text.chars().count());
            st.check_size(text.len().saturating_add(missing))?;
            let left = missing.div_ceil(2);
            let mut out = " ".repeat(left);
            out.push_str(&text);
            out.push_str(&" ".repeat(missing - left));
            string(out)
        }
        Filter::Linebreaks => {
            let text = value_text(&input);
            let br = text.replace('\n', "<br />");
            let paragraphs = br.replace("<br /><br />", "</p><p>");
            let trimmed = paragraphs.strip_suffix("<p>").unwrap_or(&paragraphs);
            if trimmed.ends_with("</p>") {
                string(format!("<p>{trimmed}"))
            } else {
                string(format!("<p>{trimmed}</p>"))
            }
        }
        Filter::LinebreaksBr => string(value_text(&input).replace('\n', "<br />")),
        Filter::Linenumbers => {
            let text = value_text(&input);
            let mut lines: Vec<&str> = text.split('\n').collect();
            // Java's split drops trailing empty strings (but keeps a lone empty input).
            while lines.len() > 1 && lines.last() == Some(&"") {
                lines.pop();
            }
            let numbered: Vec<String> = lines
                .iter()
                .enumerate()
                .map(|(i, line)| format!("{}. {line}", i + 1))
                .collect();
            string(numbered.join("\n"))
        }
        Filter::Remove => {
            let text = value_text(&input);
            let drop = args.text(0);
            string(text.chars().filter(|c| !drop.contains(*c)).collect())
        }
        Filter::Replace => {
            let text = value_text(&input);
            let search = args.text(0);
            let replacement = args.text(1);
            let hits = if search.is_empty() {
                text.chars().count() + 1
            } else {
                text.matches(&*search).count()
            };
            st.spend_bytes(text.len())?;
            st.check_size(
                text.len()
                    .saturating_add(hits.saturating_mul(replacement.len())),
            )?;
            string(text.replace(&*search, &replacement))
        }
        Filter::RemoveTags => {
            let text = value_text(&input);
            if args.len() == 0 {
                input
            } else {
                let tags: Vec<String> = (0..args.len())
                    .map(|i| args.text(i).to_ascii_lowercase())
                    .collect();
                st.spend_bytes(text.len().saturating_mul(tags.len()))?;
                string(remove_tags(&text, &tags))
            }
        }
        Filter::Pluralize => {
            let n = match &*input {
                Value::Number(number) => number.as_f64().unwrap_or(0.0),
                other => f64::from(u32::try_from(count(other)?).unwrap_or(u32::MAX)),
            };
            let (singular, plural) = match args.len() {
                0 => (Cow::Borrowed(""), Cow::Borrowed("s")),
                1 => (Cow::Borrowed(""), args.text(0)),
                _ => (args.text(0), args.text(1)),
            };
            #[allow(clippy::float_cmp)]
            let one = n == 1.0;
            string(if one { singular } else { plural }.into_owned())
        }
        Filter::Between => {
            html_safe = true;
            let value = number(&input).ok_or_else(|| not_a_number(&input))?.as_f64();
            let (x, y) = (args.number(0)?.as_f64(), args.number(1)?.as_f64());
            boolean(if x <= y {
                x <= value && value <= y
            } else {
                y <= value && value <= x
            })
        }
        Filter::GetDigit => {
            let text = value_text(&input);
            let digits: Vec<char> = text.chars().collect();
            let position = args.long(0)?;
            let index = i64::try_from(digits.len()).unwrap_or(i64::MAX) - position;
            match usize::try_from(index).ok().filter(|i| *i < digits.len()) {
                None => input,
                Some(i) if digits[i] == '.' && i > 0 => string(digits[i - 1].to_string()),
                Some(i) => string(digits[i].to_string()),
            }
        }
        Filter::Subs => subs(&input, &args)?,
        Filter::AbbrLeft | Filter::AbbrMiddle | Filter::AbbrRight | Filter::AbbrEllipsis => {
            let mut map = match &*input {
                Value::Object(map) => map.clone(),
                other => {
                    let mut map = Map::new();
                    map.insert("s".to_owned(), other.clone());
                    map
                }
            };
            let (key, value) = match call.filter {
                Filter::AbbrLeft => ("abbr-position", Cow::Borrowed("left")),
                Filter::AbbrMiddle => ("abbr-position", Cow::Borrowed("middle")),
                Filter::AbbrRight => ("abbr-position", Cow::Borrowed("right")),
                _ => ("abbr-ellipsis", args.text(0)),
            };
            map.insert(key.to_owned(), Value::String(value.into_owned()));
            Cow::Owned(Value::Object(map))
        }
        Filter::Abbreviate => abbreviate(&input, &args)?,
        Filter::Email => {
            html_safe = true;
            let email = value_text(&input);
            let validate = args
                .get(0)
                .is_none_or(|v| value_text(&v).eq_ignore_ascii_case("true"));
            if validate && !is_email(&email) {
                return Err(Failure::Message(format!(
                    "{email} does not appear to be a valid email address"
                )));
            }
            string(format!("<a href='mailto:{email}'>{email}</a>"))
        }
        Filter::Phone => {
            html_safe = true;
            phone(&input, &args)?
        }
    };
    Ok((value, html_safe))
}

// ---- numbers ------------------------------------------------------------------------------

/// A Clojure number: a `Long` or a `Double`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    #[allow(clippy::cast_precision_loss)]
    fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }

    fn into_value(self) -> Outcome<Value> {
        match self {
            Self::Int(i) => Ok(Value::from(i)),
            Self::Float(f) => Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| Failure::Message(format!("the result {f} is not a finite number"))),
        }
    }
}

/// Selmer's `parse-number`: numbers as they are, text as a `Long` or else a `Double`.
fn number(value: &Value) -> Option<Num> {
    match value {
        Value::Number(number) => Some(match number.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(number.as_f64()?),
        }),
        Value::String(text) => parse_number_text(text),
        _ => None,
    }
}

fn parse_number_text(text: &str) -> Option<Num> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Num::Int(i));
    }
    let trimmed = text.trim();
    let looks_numeric = trimmed
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if trimmed.is_empty() || !looks_numeric {
        return None;
    }
    trimmed.parse::<f64>().ok().map(Num::Float)
}

fn not_a_number(value: &Value) -> Failure {
    Failure::Message(format!("Expected '{}' to be a number.", value_text(value)))
}

#[allow(clippy::cast_possible_truncation)]
fn float_to_long(f: f64) -> Outcome<i64> {
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        Ok(f as i64)
    } else {
        Err(Failure::Message(format!("{f} is out of range")))
    }
}

fn add(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let mut texts = vec![value_text(input).into_owned()];
    for i in 0..args.len() {
        texts.push(args.text(i).into_owned());
    }
    let numbers: Option<Vec<Num>> = texts.iter().map(|t| parse_number_text(t)).collect();
    let Some(numbers) = numbers else {
        return Ok(string(texts.concat()));
    };
    let mut int: Option<i64> = Some(0);
    let mut float = 0.0;
    for n in numbers {
        int = match (int, n) {
            (Some(sum), Num::Int(i)) => sum.checked_add(i),
            _ => None,
        };
        float += n.as_f64();
    }
    let total = int.map_or(Num::Float(float), Num::Int);
    Ok(Cow::Owned(total.into_value()?))
}

fn multiply(left: Num, right: Num) -> Outcome<Num> {
    match (left, right) {
        (Num::Int(a), Num::Int(b)) => a
            .checked_mul(b)
            .map(Num::Int)
            .ok_or_else(|| Failure::Message("integer overflow".to_owned())),
        (a, b) => Ok(Num::Float(a.as_f64() * b.as_f64())),
    }
}

fn divide(left: Num, right: Num) -> Outcome<Num> {
    match (left, right) {
        (Num::Int(_), Num::Int(0)) => Err(Failure::Message("Divide by zero".to_owned())),
        (Num::Int(a), Num::Int(b)) if a.checked_rem(b) == Some(0) => Ok(Num::Int(a / b)),
        (a, b) => Ok(Num::Float(a.as_f64() / b.as_f64())),
    }
}

/// Refuses widths and precisions that would only serve to blow up memory.
fn limit_width(width: usize) -> Outcome<usize> {
    if width > 10_000 {
        return Err(Failure::Message(format!("{width} is too wide")));
    }
    Ok(width)
}

/// Java's `%.Nf`: the shortest decimal form of `x`, rounded half up to `places` decimals.
fn fixed_half_up(x: f64, places: usize) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".to_owned()
        } else if x > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        };
    }
    let repr = format!("{}", x.abs());
    let (int, frac) = repr.split_once('.').unwrap_or((&repr, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let mut int_len = int.len();
    let keep = int_len + places;
    if digits.len() > keep {
        let round_up = digits[keep] >= 5;
        digits.truncate(keep);
        if round_up {
            let mut i = keep;
            loop {
                if i == 0 {
                    digits.insert(0, 1);
                    int_len += 1;
                    break;
                }
                i -= 1;
                if digits[i] == 9 {
                    digits[i] = 0;
                } else {
                    digits[i] += 1;
                    break;
                }
            }
        }
    } else {
        digits.resize(keep, 0);
    }
    let mut out = String::with_capacity(digits.len() + 2);
    if x.is_sign_negative() {
        out.push('-');
    }
    for (i, d) in digits.iter().enumerate() {
        if i == int_len {
            out.push('.');
        }
        out.push(char::from(b'0' + d));
    }
    out
}

/// `1234567.89` → `1,234,567.89` (the part before any `.`).
fn group_thousands(number: &str) -> String {
    let (sign, rest) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (rest, None),
    };
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A small `String.format` for `number-format`: `%[flags][width][.precision]conv` with
/// flags `-+ 0,(` and conversions `d f e E x X s S`, plus `%%` and `%n`.
fn java_format(format: &str, n: Num) -> Outcome<String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&flag) = chars.peek() {
            if "-#+ 0,(".contains(flag) {
                flags.push(flag);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = 0usize;
        while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width.saturating_mul(10).saturating_add(digit as usize);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0usize;
            while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
                p = p.saturating_mul(10).saturating_add(digit as usize);
                chars.next();
            }
            precision = Some(limit_width(p)?);
        }
        let width = limit_width(width)?;
        let Some(conversion) = chars.next() else {
            return Err(Failure::Message(format!(
                "'{format}' ends in the middle of a conversion"
            )));
        };
        match conversion {
            '%' => {
                out.push('%');
                continue;
            }
            'n' => {
                out.push('\n');
                continue;
            }
            _ => {}
        }
        if used {
            return Err(Failure::Message(format!(
                "'{format}' needs more than the one value given"
            )));
        }
        used = true;
        let negative = n.as_f64() < 0.0;
        let (body, numeric) = match conversion {
            'd' => {
                let i = match n {
                    Num::Int(i) => i,
                    Num::Float(f) if f.fract() == 0.0 => float_to_long(f)?,
                    Num::Float(f) => {
                        return Err(Failure::Message(format!("%d needs an integer, not {f}")));
                    }
                };
                let digits = i.unsigned_abs().to_string();
                let digits = if flags.contains(',') {
                    group_thousands(&digits)
                } else {
                    digits
                };
                (digits, true)
            }
            'f' => {
                let fixed = fixed_half_up(n.as_f64().abs(), precision.unwrap_or(6));
                let fixed = if flags.contains(',') {
                    group_thousands(&fixed)
                } else {
                    fixed
                };
                (fixed, true)
            }
            'e' | 'E' => {
                let formatted = format!("{:.*e}", precision.unwrap_or(6), n.as_f64().abs());
                let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
                let exponent: i32 = exponent.parse().unwrap_or(0);
                let sign = if exponent < 0 { '-' } else { '+' };
                let text = format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
                let text = if conversion == 'E' {
                    text.to_uppercase()
                } else {
                    text
                };
                (text, true)
            }
            'x' | 'X' => {
                let Num::Int(i) = n else {
                    return Err(Failure::Message("%x needs an integer".to_owned()));
                };
                #[allow(clippy::cast_sign_loss)]
                let text = format!("{:x}", i as u64);
                let text = if conversion == 'X' {
                    text.to_uppercase()
                } else {
                    text
                };
                (text, false)
            }
            's' | 'S' => {
                let text = match n {
                    Num::Int(i) => i.to_string(),
                    Num::Float(f) => value_text(&Num::Float(f).into_value()?).into_owned(),
                };
                let text = match precision {
                    Some(p) => text.chars().take(p).collect(),
                    None => text,
                };
                let text = if conversion == 'S' {
                    text.to_uppercase()
                } else {
                    text
                };
                (text, false)
            }
            other => {
                return Err(Failure::Message(format!(
                    "the conversion '%{other}' is not supported"
                )));
            }
        };
        let (prefix, suffix) = match (numeric, negative) {
            (true, true) if flags.contains('(') => ("(", ")"),
            (true, true) => ("-", ""),
            (true, false) if flags.contains('+') => ("+", ""),
            (true, false) if flags.contains(' ') => (" ", ""),
            _ => ("", ""),
        };
        let len = prefix.len() + body.chars().count() + suffix.len();
        let fill = width.saturating_sub(len);
        if flags.contains('-') {
            out.push_str(prefix);
            out.push_str(&body);
            out.push_str(suffix);
            out.push_str(&" ".repeat(fill));
        } else if flags.contains('0') && numeric {
            out.push_str(prefix);
            out.push_str(&"0".repeat(fill));
            out.push_str(&body);
            out.push_str(suffix);
        } else {
            out.push_str(&" ".repeat(fill));
            out.push_str(prefix);
            out.push_str(&body);
            out.push_str(suffix);
        }
    }
    Ok(out)
}

// ---- collections --------------------------------------------------------------------------

fn not_a_collection(value: &Value) -> Failure {
    Failure::Message(format!(
        "Expected '{}' to be a collection of some sort.",
        value_text(value)
    ))
}

/// Clojure's `count`; `nil` counts 0.
fn count(value: &Value) -> Outcome<i64> {
    let n = match value {
        Value::Null => 0,
        Value::String(text) => text.chars().count(),
        Value::Array(array) => array.len(),
        Value::Object(map) => map.len(),
        other => return Err(not_a_collection(other)),
    };
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(array) => array.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Clojure's `seq`: array elements, the characters of a string, `[key, value]` entries.
/// `None` for a missing value.
fn sequence(value: &Value) -> Outcome<Option<Vec<Cow<'_, Value>>>> {
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Array(array) => array.iter().map(Cow::Borrowed).collect(),
        Value::String(text) => text
            .chars()
            .map(|c| Cow::Owned(Value::String(c.to_string())))
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Cow::Owned(Value::Array(vec![Value::String(k.clone()), v.clone()])))
            .collect(),
        other => return Err(not_a_collection(other)),
    }))
}

fn into_array(items: Vec<Cow<'_, Value>>) -> Value {
    Value::Array(items.into_iter().map(Cow::into_owned).collect())
}

fn first_or_last(input: Cow<'_, Value>, last: bool) -> Outcome<Cow<'_, Value>> {
    match input {
        Cow::Borrowed(Value::Array(array)) => {
            let item = if last { array.last() } else { array.first() };
            Ok(Cow::Borrowed(item.unwrap_or(&NULL)))
        }
        Cow::Owned(Value::Array(mut array)) => {
            let item = if last {
                array.pop()
            } else if array.is_empty() {
                None
            } else {
                Some(array.swap_remove(0))
            };
            Ok(Cow::Owned(item.unwrap_or(Value::Null)))
        }
        other => {
            let Some(mut items) = sequence(&other)? else {
                return Ok(Cow::Borrowed(&NULL));
            };
            let item = if last {
                items.pop()
            } else {
                items.into_iter().next()
            };
            Ok(Cow::Owned(item.map_or(Value::Null, Cow::into_owned)))
        }
    }
}

fn join(input: &Value, args: &Args<'_, '_>, st: &mut State<'_>) -> Outcome<Cow<'static, Value>> {
    let Some(items) = sequence(input)? else {
        return Ok(string(String::new()));
    };
    st.spend_items(items.len())?;
    let separator = args.get(0).map(cow_text).unwrap_or_default();
    let texts: Vec<Cow<'_, str>> = items.iter().map(|item| value_text(item)).collect();
    let size = texts
        .iter()
        .map(|t| t.len())
        .sum::<usize>()
        .saturating_add(separator.len().saturating_mul(texts.len()));
    st.check_size(size)?;
    Ok(string(texts.join(&*separator)))
}

fn slice(
    filter: Filter,
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let n = match args.number(0)? {
        Num::Int(i) => i,
        Num::Float(f) => float_to_long(f.ceil())?,
    };
    let n = usize::try_from(n).unwrap_or(0);
    let Some(mut items) = sequence(input)? else {
        return Ok(Cow::Borrowed(&NULL));
    };
    st.spend_items(items.len())?;
    match filter {
        Filter::Take => items.truncate(n),
        Filter::Drop => {
            items.drain(..n.min(items.len()));
        }
        _ => items.truncate(items.len().saturating_sub(n)),
    }
    Ok(Cow::Owned(into_array(items)))
}

/// Clojure's `compare` for the values JSON has; `None` when they are not comparable.
fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) => Some(Ordering::Less),
        (_, Value::Null) => Some(Ordering::Greater),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(x.len().cmp(&y.len()));
            }
            for (a, b) in x.iter().zip(y) {
                match compare_values(a, b)? {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
            }
            Some(Ordering::Equal)
        }
        _ => None,
    }
}

fn sort(
    filter: Filter,
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let Some(mut items) = sequence(input)? else {
        return Ok(Cow::Borrowed(&NULL));
    };
    let n = items.len();
    st.spend_items(n.saturating_mul(1 + n.max(1).ilog2() as usize))?;
    let key = match filter {
        Filter::SortBy | Filter::SortByReversed => Some(args.text(0)),
        _ => None,
    };
    let reversed = matches!(filter, Filter::SortReversed | Filter::SortByReversed);
    let pick = |value: &Value| -> Value {
        match (&key, value) {
            (Some(key), Value::Object(map)) => map.get(&**key).cloned().unwrap_or(Value::Null),
            (Some(_), _) => Value::Null,
            (None, value) => value.clone(),
        }
    };
    let mut incomparable = None;
    if key.is_some() {
        let mut keyed: Vec<(Value, Cow<'_, Value>)> =
            items.into_iter().map(|item| (pick(&item), item)).collect();
        keyed.sort_by(|a, b| order(&a.0, &b.0, reversed, &mut incomparable));
        items = keyed.into_iter().map(|(_, item)| item).collect();
    } else {
        items.sort_by(|a, b| order(a, b, reversed, &mut incomparable));
    }
    if let Some((a, b)) = incomparable {
        return Err(Failure::Message(format!("cannot compare '{a}' with '{b}'")));
    }
    Ok(Cow::Owned(into_array(items)))
}

fn order(
    a: &Value,
    b: &Value,
    reversed: bool,
    incomparable: &mut Option<(String, String)>,
) -> Ordering {
    match compare_values(a, b) {
        Some(ordering) if reversed => ordering.reverse(),
        Some(ordering) => ordering,
        None => {
            if incomparable.is_none() {
                *incomparable = Some((value_text(a).into_owned(), value_text(b).into_owned()));
            }
            Ordering::Equal
        }
    }
}

fn range(input: &Value, args: &Args<'_, '_>, st: &mut State<'_>) -> Outcome<Cow<'static, Value>> {
    let end = match input {
        Value::Number(number) => number
            .as_i64()
            .ok_or_else(|| Failure::Message(format!("'{number}' is not an integer")))?,
        other => {
            let text = value_text(other);
            text.parse::<i64>()
                .map_err(|_| Failure::Message(format!("'{text}' is not an integer")))?
        }
    };
    let start = args.long_opt(0)?.unwrap_or(0);
    let step = args.long_opt(1)?.unwrap_or(1);
    if step == 0 {
        return Err(Failure::Message(
            "the step of a range cannot be 0".to_owned(),
        ));
    }
    let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
    let span = if step > 0 { end - start } else { start - end };
    let count = if span <= 0 {
        0
    } else {
        (span + step.abs() - 1) / step.abs()
    };
    st.spend(u64::try_from(count).unwrap_or(u64::MAX))?;
    let items = (0..count)
        .map(|i| Value::from(i64::try_from(start + i * step).unwrap_or(0)))
        .collect();
    Ok(Cow::Owned(Value::Array(items)))
}

// ---- text ---------------------------------------------------------------------------------

/// Clojure's `capitalize`: first character upper case, the rest lower case.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => first
            .to_uppercase()
            .chain(chars.as_str().to_lowercase().chars())
            .collect(),
    }
}

/// `json` of a value; a missing value is `null`.
fn value_text_json(value: &Value) -> String {
    value.to_string()
}

/// Selmer prints digests with `(format "%032x" (BigInteger. 1 bytes))`: leading zeros
/// dropped, then padded to at least 32 digits.
fn selmer_hex(bytes: &[u8]) -> String {
    let full: String = bytes.iter().fold(String::new(), |mut out, b| {
        super::push_fmt(&mut out, format_args!("{b:02x}"));
        out
    });
    let trimmed = full.trim_start_matches('0');
    format!("{trimmed:0>32}")
}

/// `java.net.URLEncoder.encode` with UTF-8: `a-zA-Z0-9.-*_` kept, space → `+`.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => super::push_fmt(&mut out, format_args!("%{other:02X}")),
        }
    }
    out
}

/// Removes `<tag>`, `<tag/>`, `<tag attr…>` and `</tag>` for the given tag names, ignoring
/// case.
fn remove_tags(text: &str, tags: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (closing, name_part) = match after.strip_prefix('/') {
            Some(tail) => (true, tail),
            None => (false, after),
        };
        for tag in tags {
            let Some(head) = name_part.get(..tag.len()) else {
                continue;
            };
            if !head.eq_ignore_ascii_case(tag) {
                continue;
            }
            let tail = &name_part[tag.len()..];
            let end = if closing {
                tail.starts_with('>').then_some(1)
            } else if tail.starts_with('>') {
                Some(1)
            } else if tail.starts_with("/>") {
                Some(2)
            } else if tail.starts_with(char::is_whitespace) {
                tail.find('>').map(|i| i + 1)
            } else {
                None
            };
            if let Some(end) = end {
                rest = &tail[end..];
                continue 'outer;
            }
        }
        out.push('<');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,6}$`
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let tld_ok = (2..=6).contains(&tld.len()) && tld.bytes().all(|b| b.is_ascii_alphabetic());
    local_ok && host_ok && tld_ok
}

fn phone(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let phone = value_text(input);
    let first = args.get(0).map(cow_text);
    let second = args.get(1).map(cow_text);
    let (prefix, validate) = match (first, second) {
        (Some(prefix), Some(flag)) => (Some(prefix), flag != "false"),
        (None, _) => (None, true),
        (Some(flag), None) if flag == "false" => (None, false),
        (Some(flag), None) if flag == "true" => (None, true),
        (Some(prefix), None) => (Some(prefix), true),
    };
    let number = match (&prefix, phone.strip_prefix('0')) {
        (Some(prefix), Some(rest)) => format!("+{prefix}-{rest}"),
        _ => phone.clone().into_owned(),
    };
    if validate
        && !number
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b' ' || b == b'+' || b == b'-')
    {
        return Err(Failure::Message(format!(
            "{number} does not appear to be a valid phone number"
        )));
    }
    let mut tel = String::with_capacity(number.len());
    let mut in_space = false;
    for c in number.chars() {
        if c.is_whitespace() {
            if !in_space {
                tel.push('-');
            }
            in_space = true;
        } else {
            tel.push(c);
            in_space = false;
        }
    }
    Ok(string(format!("<a href='tel:{tel}'>{phone}</a>")))
}

fn subs(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let text = value_text(input);
    let chars: Vec<char> = text.chars().collect();
    let bound = |i: usize| -> Outcome<usize> {
        let n = match args.number(i)? {
            Num::Int(n) => n,
            Num::Float(f) => float_to_long(f.trunc())?,
        };
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= chars.len())
            .ok_or_else(|| Failure::Message(format!("String index out of range: {n}")))
    };
    let (start, end) = (bound(0)?, bound(1)?);
    if start > end {
        return Err(Failure::Message(format!(
            "begin {start}, end {end}, length {}",
            chars.len()
        )));
    }
    let mut result: String = chars[start..end].iter().collect();
    if args.len() > 2 && end - start != chars.len() {
        for i in 2..args.len() {
            result.push_str(&args.text(i));
        }
    }
    Ok(string(result))
}

fn abbreviate(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let max_width = args.long(0)?;
    let abbreviated_width = args.long_opt(1)?.unwrap_or(max_width);
    let (text, ellipsis, position) = match input {
        Value::Object(map) if map.contains_key("s") => (
            value_text(&map["s"]).into_owned(),
            map.get("abbr-ellipsis")
                .map_or_else(|| "...".to_owned(), |e| value_text(e).into_owned()),
            map.get("abbr-position")
                .map_or_else(|| "right".to_owned(), |p| value_text(p).into_owned()),
        ),
        other => (
            value_text(other).into_owned(),
            "...".to_owned(),
            "right".to_owned(),
        ),
    };
    let ellipsis_len = i64::try_from(ellipsis.chars().count()).unwrap_or(i64::MAX);
    if max_width < abbreviated_width {
        return Err(Failure::Message(format!(
            "Maximum width {max_width} can't be shorter than abbreviated width {abbreviated_width}"
        )));
    }
    if abbreviated_width < ellipsis_len {
        return Err(Failure::Message(format!(
            "Length {ellipsis_len} of ellipsis '{ellipsis}' can't be bigger than abbreviated width {abbreviated_width}"
        )));
    }
    let chars: Vec<char> = text.chars().collect();
    let width = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    if width <= max_width {
        return Ok(string(text));
    }
    let effective = usize::try_from(abbreviated_width - ellipsis_len).unwrap_or(0);
    let head = |n: usize| chars[..n.min(chars.len())].iter().collect::<String>();
    let tail = |n: usize| {
        chars[chars.len().saturating_sub(n)..]
            .iter()
            .collect::<String>()
    };
    let result = match position.as_str() {
        "left" => format!("{ellipsis}{}", tail(effective)),
        "middle" => format!("{}{ellipsis}{}", head(effective / 2), tail(effective / 2)),
        _ => format!("{}{ellipsis}", head(effective)),
    };
    Ok(string(result))
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
