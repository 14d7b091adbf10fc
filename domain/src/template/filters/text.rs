//! Text filters: case (`upper`, `title`, …), encodings (`json`, `hash`, `urlescape`,
//! `addslashes`), edits (`center`, `remove`, `replace`, `get-digit`, `subs`) and
//! abbreviations (`abbr-left`, …, `abbreviate`).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::number::{Num, float_to_long};
use super::{Args, Failure, Filter, Outcome, string};
use crate::template::hash::Algorithm;
use crate::template::render::{State, value_text};

// ---- case ---------------------------------------------------------------------------------

/// `upper`.
pub(super) fn upper(input: &Value, st: &mut State<'_>) -> Outcome<Cow<'static, Value>> {
    let text = value_text(input);
    st.spend_bytes(text.len())?;
    Ok(string(text.to_uppercase()))
}

/// `lower`.
pub(super) fn lower(input: &Value, st: &mut State<'_>) -> Outcome<Cow<'static, Value>> {
    let text = value_text(input);
    st.spend_bytes(text.len())?;
    Ok(string(text.to_lowercase()))
}

/// `title`: every space-separated word capitalized.
pub(super) fn title(input: &Value, st: &mut State<'_>) -> Outcome<Cow<'static, Value>> {
    let text = value_text(input);
    st.spend_bytes(text.len())?;
    Ok(string(
        text.split(' ')
            .map(capitalize)
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

/// Clojure's `capitalize`: first character upper case, the rest lower case.
pub(super) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => first
            .to_uppercase()
            .chain(chars.as_str().to_lowercase().chars())
            .collect(),
    }
}

// ---- encodings ----------------------------------------------------------------------------

/// `json` of a value; a missing value is `null`.
pub(super) fn json(input: &Value, st: &mut State<'_>) -> Outcome<Cow<'static, Value>> {
    let text = input.to_string();
    st.spend_bytes(text.len())?;
    Ok(string(text))
}

/// `hash:"algorithm"`: the digest of the value's text, printed as Selmer prints it.
pub(super) fn hash(
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let text = value_text(input);
    st.spend_bytes(text.len())?;
    let algorithm = Algorithm::from_name(&args.text(0))?;
    Ok(string(algorithm.selmer_digest(text.as_bytes())))
}

/// `urlescape`: `java.net.URLEncoder.encode` with UTF-8, which is the
/// `application/x-www-form-urlencoded` byte serializer: `a-zA-Z0-9.-*_` kept, space → `+`,
/// every other byte `%XX`.
pub(super) fn url_escape(input: &Value, st: &mut State<'_>) -> Outcome<Cow<'static, Value>> {
    let text = value_text(input);
    st.spend_bytes(text.len())?;
    let mut out = String::with_capacity(text.len());
    out.extend(form_urlencoded::byte_serialize(text.as_bytes()));
    Ok(string(out))
}

/// `addslashes`: a backslash before every quote, single or double.
pub(super) fn add_slashes(input: &Value) -> Cow<'static, Value> {
    let text = value_text(input);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '"' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    string(out)
}

// ---- edits --------------------------------------------------------------------------------

/// `center:width`: padded with spaces on both sides, the odd one on the left.
pub(super) fn center(
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let text = value_text(input);
    let width = args.long(0)?;
    let missing = usize::try_from(width)
        .unwrap_or(0)
        .saturating_sub(text.chars().count());
    st.check_size(text.len().saturating_add(missing))?;
    let left = missing.div_ceil(2);
    let mut out = " ".repeat(left);
    out.push_str(&text);
    out.push_str(&" ".repeat(missing - left));
    Ok(string(out))
}

/// `remove:"chars"`: the text without any of the given characters.
pub(super) fn remove(input: &Value, args: &Args<'_, '_>) -> Cow<'static, Value> {
    let text = value_text(input);
    let drop = args.text(0);
    string(text.chars().filter(|c| !drop.contains(*c)).collect())
}

/// `replace:"search":"replacement"`, every occurrence.
pub(super) fn replace(
    input: &Value,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'static, Value>> {
    let text = value_text(input);
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
    Ok(string(text.replace(&*search, &replacement)))
}

/// `get-digit:n`: the n-th character from the right (a `.` gives the one before it); the
/// value itself when `n` is out of range.
pub(super) fn get_digit<'s>(input: Cow<'s, Value>, args: &Args<'_, '_>) -> Outcome<Cow<'s, Value>> {
    let text = value_text(&input);
    let digits: Vec<char> = text.chars().collect();
    let position = args.long(0)?;
    let index = i64::try_from(digits.len()).unwrap_or(i64::MAX) - position;
    Ok(
        match usize::try_from(index).ok().filter(|i| *i < digits.len()) {
            None => input,
            Some(i) if digits[i] == '.' && i > 0 => string(digits[i - 1].to_string()),
            Some(i) => string(digits[i].to_string()),
        },
    )
}

/// `subs:start:end[:suffix…]`: the characters from `start` to `end`, then the suffixes when
/// that is not the whole text.
pub(super) fn subs(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
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

// ---- abbreviations ------------------------------------------------------------------------

/// `abbr-left`, `abbr-middle`, `abbr-right` and `abbr-ellipsis:"…"`: options for a later
/// `abbreviate`, kept in a map next to the text (`s`).
pub(super) fn abbreviation_option(
    filter: Filter,
    input: &Value,
    args: &Args<'_, '_>,
) -> Cow<'static, Value> {
    let mut map = match input {
        Value::Object(map) => map.clone(),
        other => {
            let mut map = Map::new();
            map.insert("s".to_owned(), other.clone());
            map
        }
    };
    let (key, value) = match filter {
        Filter::AbbrLeft => ("abbr-position", Cow::Borrowed("left")),
        Filter::AbbrMiddle => ("abbr-position", Cow::Borrowed("middle")),
        Filter::AbbrRight => ("abbr-position", Cow::Borrowed("right")),
        _ => ("abbr-ellipsis", args.text(0)),
    };
    map.insert(key.to_owned(), Value::String(value.into_owned()));
    Cow::Owned(Value::Object(map))
}

/// `abbreviate:max-width[:abbreviated-width]`, with the options of the `abbr-…` filters.
pub(super) fn abbreviate(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
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
