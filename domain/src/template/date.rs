//! Java-style date patterns (`yyyy-MM-dd'T'HH:mm:ss`) for the `date` filter and the
//! `{% now %}` tag, printed in English, plus the date texts the `date` filter reads.
//!
//! The letters follow `java.time.format.DateTimeFormatter.ofPattern`, which Selmer uses.
//! Week-based fields (`w`, `W`, `Y`, `e`, `c`, `F`) are not supported.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::push_fmt;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct DatePattern {
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    Literal(String),
    /// A pattern letter and how many times it is repeated.
    Field(char, usize),
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl DatePattern {
    /// One of Selmer's named formats (`shortDate`, `longDateTime`, …, as in the `en-US`
    /// locale) or a pattern.
    pub(crate) fn named_or_pattern(text: &str) -> Result<Self, String> {
        let pattern = match text {
            "shortDate" => "M/d/yy",
            "mediumDate" => "MMM d, y",
            "longDate" => "MMMM d, y",
            "fullDate" => "EEEE, MMMM d, y",
            "shortTime" => "h:mm a",
            "mediumTime" => "h:mm:ss a",
            "longTime" => "h:mm:ss a z",
            "fullTime" => "h:mm:ss a zzzz",
            "shortDateTime" => "M/d/yy, h:mm a",
            "mediumDateTime" => "MMM d, y, h:mm:ss a",
            "longDateTime" => "MMMM d, y 'at' h:mm:ss a z",
            "fullDateTime" => "EEEE, MMMM d, y 'at' h:mm:ss a zzzz",
            other => other,
        };
        Self::compile(pattern)
    }

    /// Compiles a `DateTimeFormatter` pattern.
    pub(crate) fn compile(pattern: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_alphabetic() {
                let mut count = 1;
                while chars.get(i + count) == Some(&c) {
                    count += 1;
                }
                check_letter(c, count)?;
                if !literal.is_empty() {
                    items.push(Item::Literal(std::mem::take(&mut literal)));
                }
                items.push(Item::Field(c, count));
                i += count;
                continue;
            }
            match c {
                '\'' => {
                    if chars.get(i + 1) == Some(&'\'') {
                        literal.push('\'');
                        i += 2;
                        continue;
                    }
                    let mut j = i + 1;
                    loop {
                        match chars.get(j) {
                            None => {
                                return Err(format!(
                                    "date pattern '{pattern}' has an unclosed quote"
                                ));
                            }
                            Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                                literal.push('\'');
                                j += 2;
                            }
                            Some('\'') => break,
                            Some(&other) => {
                                literal.push(other);
                                j += 1;
                            }
                        }
                    }
                    i = j + 1;
                }
                // Optional sections: every field is always available, so print them.
                '[' | ']' => i += 1,
                '{' | '}' | '#' => {
                    return Err(format!(
                        "date pattern '{pattern}' uses the reserved character '{c}'"
                    ));
                }
                other => {
                    literal.push(other);
                    i += 1;
                }
            }
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        Ok(Self { items })
    }

    /// Appends `t` formatted with this pattern.
    pub(crate) fn format_into(&self, t: &OffsetDateTime, out: &mut String) {
        for item in &self.items {
            match item {
                Item::Literal(text) => out.push_str(text),
                Item::Field(letter, count) => field(out, t, *letter, *count),
            }
        }
    }
}

fn check_letter(letter: char, count: usize) -> Result<(), String> {
    let max = match letter {
        'G' | 'M' | 'L' | 'Q' | 'q' | 'E' | 'X' | 'x' | 'Z' => 5,
        'u' | 'y' | 'n' | 'A' | 'N' => 19,
        'D' => 3,
        'd' | 'h' | 'K' | 'k' | 'H' | 'm' | 's' => 2,
        'S' => 9,
        'a' => 1,
        'z' => 4,
        'O' => {
            return if count == 1 || count == 4 {
                Ok(())
            } else {
                Err("pattern letter 'O' must appear once or four times".to_owned())
            };
        }
        'V' => {
            return if count == 2 {
                Ok(())
            } else {
                Err("pattern letter 'V' must appear twice".to_owned())
            };
        }
        'w' | 'W' | 'Y' | 'e' | 'c' | 'F' | 'g' | 'B' => {
            return Err(format!(
                "date pattern letter '{letter}' (week-based or localized) is not supported"
            ));
        }
        _ => return Err(format!("unknown date pattern letter '{letter}'")),
    };
    if count > max {
        return Err(format!(
            "too many pattern letters '{letter}' (at most {max})"
        ));
    }
    Ok(())
}

fn pad(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    push_fmt(out, format_args!("{:0width$}", value.unsigned_abs()));
}

fn field(out: &mut String, t: &OffsetDateTime, letter: char, count: usize) {
    let year = i64::from(t.year());
    let month = u8::from(t.month());
    let hour = t.hour();
    match letter {
        'G' => {
            let ad = year > 0;
            out.push_str(match (count, ad) {
                (4, true) => "Anno Domini",
                (4, false) => "Before Christ",
                (5, true) => "A",
                (5, false) => "B",
                (_, true) => "AD",
                (_, false) => "BC",
            });
        }
        'y' | 'u' => {
            let year = if letter == 'y' && year <= 0 {
                1 - year
            } else {
                year
            };
            if count == 2 {
                pad(out, year.rem_euclid(100), 2);
            } else {
                pad(out, year, count);
            }
        }
        'M' | 'L' => month_field(out, month, count),
        'Q' | 'q' => {
            let quarter = (month - 1) / 3 + 1;
            match count {
                1 | 5 => pad(out, quarter.into(), 1),
                2 => pad(out, quarter.into(), 2),
                3 => {
                    push_fmt(out, format_args!("Q{quarter}"));
                }
                _ => out.push_str(["1st", "2nd", "3rd", "4th"][usize::from(quarter - 1)]),
            }
            if count == 4 {
                out.push_str(" quarter");
            }
        }
        'd' => pad(out, t.day().into(), count),
        'D' => pad(out, t.ordinal().into(), count),
        'E' => {
            let name = WEEKDAYS[usize::from(t.weekday().number_days_from_monday())];
            match count {
                4 => out.push_str(name),
                5 => out.push_str(&name[..1]),
                _ => out.push_str(&name[..3]),
            }
        }
        'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
        'H' => pad(out, hour.into(), count),
        'k' => pad(out, if hour == 0 { 24 } else { hour.into() }, count),
        'K' => pad(out, (hour % 12).into(), count),
        'h' => {
            let h = hour % 12;
            pad(out, if h == 0 { 12 } else { h.into() }, count);
        }
        'm' => pad(out, t.minute().into(), count),
        's' => pad(out, t.second().into(), count),
        'S' => {
            let digits = format!("{:09}", t.nanosecond());
            out.push_str(&digits[..count.min(9)]);
        }
        'n' => pad(out, t.nanosecond().into(), count),
        'A' => {
            let millis = i64::from(t.hour()) * 3_600_000
                + i64::from(t.minute()) * 60_000
                + i64::from(t.second()) * 1_000
                + i64::from(t.millisecond());
            pad(out, millis, count);
        }
        'N' => {
            let nanos = (i64::from(t.hour()) * 3_600 + i64::from(t.minute()) * 60) * 1_000_000_000
                + i64::from(t.second()) * 1_000_000_000
                + i64::from(t.nanosecond());
            pad(out, nanos, count);
        }
        _ => offset_field(out, t.offset().whole_seconds(), letter, count),
    }
}

fn month_field(out: &mut String, month: u8, count: usize) {
    let name = MONTHS[usize::from(month - 1)];
    match count {
        1 | 2 => pad(out, month.into(), count),
        3 => out.push_str(&name[..3]),
        4 => out.push_str(name),
        _ => out.push_str(&name[..1]),
    }
}

/// Offset letters: `X`, `x`, `Z`, `z`, `O`, `V`.
fn offset_field(out: &mut String, seconds: i32, letter: char, count: usize) {
    let sign = if seconds < 0 { '-' } else { '+' };
    let total = seconds.unsigned_abs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    let zero = total == 0;
    match letter {
        'X' | 'x' => {
            if zero && letter == 'X' {
                out.push('Z');
                return;
            }
            push_fmt(out, format_args!("{sign}{h:02}"));
            match count {
                1 if m != 0 => {
                    push_fmt(out, format_args!("{m:02}"));
                }
                1 => {}
                2 => {
                    push_fmt(out, format_args!("{m:02}"));
                }
                3 => {
                    push_fmt(out, format_args!(":{m:02}"));
                }
                4 => {
                    push_fmt(out, format_args!("{m:02}"));
                    if s != 0 {
                        push_fmt(out, format_args!("{s:02}"));
                    }
                }
                _ => {
                    push_fmt(out, format_args!(":{m:02}"));
                    if s != 0 {
                        push_fmt(out, format_args!(":{s:02}"));
                    }
                }
            }
        }
        'Z' => match count {
            4 if zero => out.push_str("GMT"),
            4 => {
                push_fmt(out, format_args!("GMT{sign}{h:02}:{m:02}"));
            }
            5 if zero => out.push('Z'),
            5 => {
                push_fmt(out, format_args!("{sign}{h:02}:{m:02}"));
            }
            _ => {
                push_fmt(out, format_args!("{sign}{h:02}{m:02}"));
            }
        },
        'O' => {
            if zero {
                out.push_str("GMT");
            } else if count == 4 {
                push_fmt(out, format_args!("GMT{sign}{h:02}:{m:02}"));
            } else if m == 0 {
                push_fmt(out, format_args!("GMT{sign}{h}"));
            } else {
                push_fmt(out, format_args!("GMT{sign}{h}:{m:02}"));
            }
        }
        'z' if zero => out.push_str(if count == 4 {
            "Coordinated Universal Time"
        } else {
            "UTC"
        }),
        'V' if zero => out.push('Z'),
        _ => {
            push_fmt(out, format_args!("{sign}{h:02}:{m:02}"));
        }
    }
}

/// Reads a date for the `date` filter: RFC 3339, `yyyy-MM-ddTHH:mm:ss[.S…]` (as UTC) or
/// `yyyy-MM-dd` (midnight UTC).
pub(crate) fn parse_date(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let local = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(text, local) {
        return Some(t.assume_utc());
    }
    let date = format_description!("[year]-[month]-[day]");
    Date::parse(text, date)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

/// RFC 3339 text for the `now` variable.
pub(crate) fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| {
        // Years beyond 9999 or offsets with seconds: fall back to a plain pattern.
        let mut out = String::new();
        if let Ok(pattern) = DatePattern::compile("uuuu-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX") {
            pattern.format_into(t, &mut out);
        }
        out
    })
}
