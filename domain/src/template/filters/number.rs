//! Number filters: arithmetic (`add`, `multiply`, `divide`, `round`, `between?`) and formats
//! (`double-format`, `number-format`, `currency-format`), with Clojure's idea of a number.

use std::borrow::Cow;

use serde_json::{Number, Value};

use super::java_format::java_format;
use super::{Args, Failure, Filter, Outcome, boolean, string};
use crate::template::render::value_text;

/// A Clojure number: a `Long` or a `Double`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    #[allow(clippy::cast_precision_loss)]
    pub(super) fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }

    pub(super) fn into_value(self) -> Outcome<Value> {
        match self {
            Self::Int(i) => Ok(Value::from(i)),
            Self::Float(f) => Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| Failure::Message(format!("the result {f} is not a finite number"))),
        }
    }
}

/// Selmer's `parse-number`: numbers as they are, text as a `Long` or else a `Double`.
pub(super) fn number(value: &Value) -> Option<Num> {
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

pub(super) fn not_a_number(value: &Value) -> Failure {
    Failure::Message(format!("Expected '{}' to be a number.", value_text(value)))
}

/// The value as a number, or the failure that says it is not one.
fn input_number(input: &Value) -> Outcome<Num> {
    number(input).ok_or_else(|| not_a_number(input))
}

#[allow(clippy::cast_possible_truncation)]
pub(super) fn float_to_long(f: f64) -> Outcome<i64> {
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        Ok(f as i64)
    } else {
        Err(Failure::Message(format!("{f} is out of range")))
    }
}

// ---- arithmetic ---------------------------------------------------------------------------

/// `add:x…`: the sum when every part is a number, else the parts' texts joined.
pub(super) fn add(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
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

/// `multiply:x` and `divide:x`.
pub(super) fn multiply_or_divide(
    filter: Filter,
    input: &Value,
    args: &Args<'_, '_>,
) -> Outcome<Cow<'static, Value>> {
    let left = input_number(input)?;
    let right = args.number(0)?;
    let result = if filter == Filter::Multiply {
        multiply(left, right)?
    } else {
        divide(left, right)?
    };
    Ok(Cow::Owned(result.into_value()?))
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

/// `round`: half up, to a whole number.
pub(super) fn round(input: &Value) -> Outcome<Cow<'static, Value>> {
    let rounded = match input_number(input)? {
        Num::Int(i) => i,
        Num::Float(f) => float_to_long((f + 0.5).floor())?,
    };
    Ok(Cow::Owned(Value::from(rounded)))
}

/// `between?:a:b`: whether the value lies between the two bounds, both included, in either
/// order.
pub(super) fn between(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let value = input_number(input)?.as_f64();
    let (x, y) = (args.number(0)?.as_f64(), args.number(1)?.as_f64());
    Ok(boolean(if x <= y {
        x <= value && value <= y
    } else {
        y <= value && value <= x
    }))
}

// ---- formats ------------------------------------------------------------------------------

/// `double-format[:places]`: fixed decimals (1 by default), rounded half up.
pub(super) fn double_format(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let n = input_number(input)?;
    let places = match args.get(0) {
        Some(_) => usize::try_from(args.long(0)?)
            .map_err(|_| Failure::Message("decimal places cannot be negative".to_owned()))?,
        None => 1,
    };
    let places = limit_width(places)?;
    Ok(string(fixed_half_up(n.as_f64(), places)))
}

/// `number-format:"%…"`: Java's `String.format` with the value.
pub(super) fn number_format(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let n = input_number(input)?;
    Ok(string(java_format(&args.text(0), n)?))
}

/// `currency-format[:lang[:country]]`: US dollars, the only locale we know.
pub(super) fn currency_format(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let n = input_number(input)?;
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
    Ok(string(format!("{sign}${}", group_thousands(&amount))))
}

/// Refuses widths and precisions that would only serve to blow up memory.
pub(super) fn limit_width(width: usize) -> Outcome<usize> {
    if width > 10_000 {
        return Err(Failure::Message(format!("{width} is too wide")));
    }
    Ok(width)
}

/// Java's `%.Nf`: the shortest decimal form of `x`, rounded half up to `places` decimals.
pub(super) fn fixed_half_up(x: f64, places: usize) -> String {
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
pub(super) fn group_thousands(number: &str) -> String {
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
