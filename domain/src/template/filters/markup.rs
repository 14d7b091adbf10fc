//! Filters that write or strip HTML: `linebreaks`, `linenumbers`, `remove-tags`, and the
//! links of `email` and `phone`.

use std::borrow::Cow;

use serde_json::Value;

use super::{Args, Failure, Outcome, cow_text, string};
use crate::template::render::{State, value_text};

/// `linebreaks`: paragraphs for blank lines, `<br />` for single line breaks.
pub(super) fn linebreaks(input: &Value) -> Cow<'static, Value> {
    let text = value_text(input);
    let br = text.replace('\n', "<br />");
    let paragraphs = br.replace("<br /><br />", "</p><p>");
    let trimmed = paragraphs.strip_suffix("<p>").unwrap_or(&paragraphs);
    if trimmed.ends_with("</p>") {
        string(format!("<p>{trimmed}"))
    } else {
        string(format!("<p>{trimmed}</p>"))
    }
}

/// `linenumbers`: `1. ` before the first line, and so on.
pub(super) fn linenumbers(input: &Value) -> Cow<'static, Value> {
    let text = value_text(input);
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

/// `remove-tags:tag…`: the text without the named tags; the value itself when none is named.
pub(super) fn remove_tags<'s>(
    input: Cow<'s, Value>,
    args: &Args<'_, '_>,
    st: &mut State<'_>,
) -> Outcome<Cow<'s, Value>> {
    if args.len() == 0 {
        return Ok(input);
    }
    let text = value_text(&input);
    let tags: Vec<String> = (0..args.len())
        .map(|i| args.text(i).to_ascii_lowercase())
        .collect();
    st.spend_bytes(text.len().saturating_mul(tags.len()))?;
    Ok(string(strip_tags(&text, &tags)))
}

/// Removes `<tag>`, `<tag/>`, `<tag attr…>` and `</tag>` for the given tag names, ignoring
/// case.
fn strip_tags(text: &str, tags: &[String]) -> String {
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

/// `email[:validate]`: a `mailto:` link, refusing text that is not an address unless the
/// argument is other than `true`.
pub(super) fn email(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
    let email = value_text(input);
    let validate = args
        .get(0)
        .is_none_or(|v| value_text(&v).eq_ignore_ascii_case("true"));
    if validate && !is_email(&email) {
        return Err(Failure::Message(format!(
            "{email} does not appear to be a valid email address"
        )));
    }
    Ok(string(format!("<a href='mailto:{email}'>{email}</a>")))
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

/// `phone[:prefix][:validate]`: a `tel:` link, with the country prefix replacing a leading
/// `0` and runs of white space as `-`.
pub(super) fn phone(input: &Value, args: &Args<'_, '_>) -> Outcome<Cow<'static, Value>> {
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
    Ok(string(format!(
        "<a href='tel:{}'>{phone}</a>",
        dash_spaces(&number)
    )))
}

/// Each run of white space as one `-`.
fn dash_spaces(number: &str) -> String {
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
    tel
}
