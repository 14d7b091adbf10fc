//! The small `String.format` of `number-format`: `%[flags][width][.precision]conversion`
//! with the flags `-#+ 0,(` and the conversions `d f e E x X s S`, plus `%%` and `%n`, for
//! the one number the filter has.

use std::iter::Peekable;
use std::str::Chars;

use super::number::{Num, fixed_half_up, float_to_long, group_thousands, limit_width};
use super::{Failure, Outcome};
use crate::template::render::value_text;

/// Formats `n` with `format`, which may convert it at most once.
pub(super) fn java_format(format: &str, n: Num) -> Outcome<String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let conversion = Conversion::read(&mut chars, format)?;
        match conversion.letter {
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
        let (body, numeric) = conversion.body(n)?;
        conversion.pad_into(&mut out, &body, numeric, negative);
    }
    Ok(out)
}

/// The flags of a conversion; `#` is read and has no effect.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    /// `-`: padded on the right.
    left: bool,
    /// `+`: a sign for positive numbers too.
    plus: bool,
    /// ` `: a space before positive numbers.
    space: bool,
    /// `0`: padded with zeros after the sign.
    zeros: bool,
    /// `,`: thousands grouped.
    group: bool,
    /// `(`: negative numbers in parentheses.
    parens: bool,
}

/// One `%…` of the format, read up to its conversion letter.
#[derive(Debug, Clone, Copy)]
struct Conversion {
    flags: Flags,
    width: usize,
    precision: Option<usize>,
    letter: char,
}

/// Reads decimal digits, saturating.
fn read_number(chars: &mut Peekable<Chars<'_>>) -> usize {
    let mut number = 0usize;
    while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
        number = number.saturating_mul(10).saturating_add(digit as usize);
        chars.next();
    }
    number
}

impl Conversion {
    /// Reads what follows a `%`: flags, width, precision and the conversion letter.
    fn read(chars: &mut Peekable<Chars<'_>>, format: &str) -> Outcome<Self> {
        let mut flags = Flags::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => flags.left = true,
                '+' => flags.plus = true,
                ' ' => flags.space = true,
                '0' => flags.zeros = true,
                ',' => flags.group = true,
                '(' => flags.parens = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let width = read_number(chars);
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            precision = Some(limit_width(read_number(chars))?);
        }
        let width = limit_width(width)?;
        let Some(letter) = chars.next() else {
            return Err(Failure::Message(format!(
                "'{format}' ends in the middle of a conversion"
            )));
        };
        Ok(Self {
            flags,
            width,
            precision,
            letter,
        })
    }

    /// The converted number without sign or padding, and whether it is numeric (signed and
    /// zero-padded) rather than text.
    fn body(&self, n: Num) -> Outcome<(String, bool)> {
        match self.letter {
            'd' => Ok((self.decimal(n)?, true)),
            'f' => Ok((self.fixed(n), true)),
            'e' | 'E' => Ok((self.scientific(n), true)),
            'x' | 'X' => Ok((self.hexadecimal(n)?, false)),
            's' | 'S' => Ok((self.text(n)?, false)),
            other => Err(Failure::Message(format!(
                "the conversion '%{other}' is not supported"
            ))),
        }
    }

    /// `%d`: the digits of an integer (or of a float without a fraction).
    fn decimal(&self, n: Num) -> Outcome<String> {
        let i = match n {
            Num::Int(i) => i,
            Num::Float(f) if f.fract() == 0.0 => float_to_long(f)?,
            Num::Float(f) => {
                return Err(Failure::Message(format!("%d needs an integer, not {f}")));
            }
        };
        let digits = i.unsigned_abs().to_string();
        Ok(if self.flags.group {
            group_thousands(&digits)
        } else {
            digits
        })
    }

    /// `%f`: fixed decimals, 6 unless a precision is given, rounded half up.
    fn fixed(&self, n: Num) -> String {
        let fixed = fixed_half_up(n.as_f64().abs(), self.precision.unwrap_or(6));
        if self.flags.group {
            group_thousands(&fixed)
        } else {
            fixed
        }
    }

    /// `%e` and `%E`: `1.500000e+03`, the exponent signed and of two digits at least.
    fn scientific(&self, n: Num) -> String {
        let formatted = format!("{:.*e}", self.precision.unwrap_or(6), n.as_f64().abs());
        let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        let text = format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
        self.cased(text)
    }

    /// `%x` and `%X`: an integer's two's-complement bits in hexadecimal.
    fn hexadecimal(&self, n: Num) -> Outcome<String> {
        let Num::Int(i) = n else {
            return Err(Failure::Message("%x needs an integer".to_owned()));
        };
        #[allow(clippy::cast_sign_loss)]
        let text = format!("{:x}", i as u64);
        Ok(self.cased(text))
    }

    /// `%s` and `%S`: the number as the template prints it, cut to the precision.
    fn text(&self, n: Num) -> Outcome<String> {
        let text = match n {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => value_text(&Num::Float(f).into_value()?).into_owned(),
        };
        let text = match self.precision {
            Some(p) => text.chars().take(p).collect(),
            None => text,
        };
        Ok(self.cased(text))
    }

    /// Upper case for the capital conversion letters (`E`, `X`, `S`).
    fn cased(&self, text: String) -> String {
        if self.letter.is_ascii_uppercase() {
            text.to_uppercase()
        } else {
            text
        }
    }

    /// Appends `body` with its sign and padded to the width.
    fn pad_into(&self, out: &mut String, body: &str, numeric: bool, negative: bool) {
        let flags = self.flags;
        let (prefix, suffix) = match (numeric, negative) {
            (true, true) if flags.parens => ("(", ")"),
            (true, true) => ("-", ""),
            (true, false) if flags.plus => ("+", ""),
            (true, false) if flags.space => (" ", ""),
            _ => ("", ""),
        };
        let len = prefix.len() + body.chars().count() + suffix.len();
        let fill = self.width.saturating_sub(len);
        if flags.left {
            out.push_str(prefix);
            out.push_str(body);
            out.push_str(suffix);
            out.push_str(&" ".repeat(fill));
        } else if flags.zeros && numeric {
            out.push_str(prefix);
            out.push_str(&"0".repeat(fill));
            out.push_str(body);
            out.push_str(suffix);
        } else {
            out.push_str(&" ".repeat(fill));
            out.push_str(prefix);
            out.push_str(body);
            out.push_str(suffix);
        }
    }
}
