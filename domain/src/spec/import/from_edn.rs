//! The EDN side of import: the spec read (and validated) as EDN, its items written as YAML
//! that reads back to the same spec.
//!
//! EDN and YAML mean the same once a few things are spelled out: a keyword is its name
//! where the reader takes a value's text (`:get`, `:remote-addr`), and keeps its colon where
//! the reader takes the original's `str` of it (header values, `if`, the values compared in
//! `when`, scenario states); a structured body becomes its JSON text.

use super::super::tree::{Kind, Node, Scalar};
use super::super::{Format, Limits, Method, Mode, check, edn};
use super::writer::{Item, Yaml};
use super::{Origin, Read};
use crate::Diagnostic;

/// The item kinds whose `host` the hosted service replaces.
const HOSTED: [&str; 3] = ["endpoint", "websocket", "resource"];

/// Reads and validates the EDN spec, and makes its items.
pub(super) fn read(text: &str, limits: &Limits) -> Result<Read, Vec<Diagnostic>> {
    let (_, mut diagnostics) = check(text, Format::Edn, Mode::Cloud, limits)?;
    let root = edn::read(text, limits).map_err(|d| vec![d])?;
    let Kind::Seq(forms) = &root.kind else {
        return Err(vec![Diagnostic::error(
            1,
            1,
            "an EDN spec is a sequence of maps",
        )]);
    };
    let mut items = Vec::with_capacity(forms.len());
    let mut origins = Vec::with_capacity(forms.len());
    for (index, form) in forms.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let mut value = convert(form, None, None, false);
        drop_hosts(form, &mut value, index, &mut diagnostics);
        items.push(Item {
            comments: Vec::new(),
            value,
        });
        origins.push(Origin {
            line: form.line,
            column: form.column,
            key: String::new(),
        });
    }
    Ok(Read {
        header: vec!["Imported from EDN".to_owned()],
        items,
        origins,
        diagnostics,
    })
}

/// Takes `host` out of an item's endpoint, websocket or resource, with a warning at it.
fn drop_hosts(form: &Node, value: &mut Yaml, index: u32, diagnostics: &mut Vec<Diagnostic>) {
    let Yaml::Map(kinds) = value else {
        return;
    };
    for (kind, inner) in kinds.iter_mut() {
        let Yaml::Map(fields) = inner else {
            continue;
        };
        if !HOSTED.contains(&kind.as_str()) || !fields.iter().any(|(name, _)| name == "host") {
            continue;
        }
        fields.retain(|(name, _)| name != "host");
        let at = entry(form, kind)
            .and_then(|node| entry(node, "host"))
            .unwrap_or(form);
        diagnostics.push(
            Diagnostic::warning(
                at.line,
                at.column,
                "`host` is dropped: the hosted service answers every item on the mock's own host",
            )
            .in_item(index, format!("{kind}.host")),
        );
    }
}

/// The value of the last `name` entry of a map node.
fn entry<'n>(node: &'n Node, name: &str) -> Option<&'n Node> {
    let Kind::Map(entries) = &node.kind else {
        return None;
    };
    entries
        .iter()
        .rev()
        .find(|(key, _)| key.key_name().as_deref() == Some(name))
        .map(|(_, value)| value.as_ref())
}

/// Whether the value under `key` (in a map under `parent`) is a body: a template that a
/// structure stands for as its JSON text.
fn is_body(key: Option<&str>, parent: Option<&str>) -> bool {
    matches!(
        (key, parent),
        (
            Some("body"),
            Some("response" | "webhook" | "responses" | "sequence")
        ) | (Some("response"), Some("on-connect" | "on-message"))
    )
}

/// Whether keywords under `key` keep their colon (the reader takes their `str`), given
/// whether they do around it.
fn keeps_colon(key: Option<&str>, around: bool) -> bool {
    match key {
        Some("contains" | "matches" | "body-contains") => false,
        Some("headers" | "when" | "scenario" | "if") => true,
        _ => around,
    }
}

/// The YAML form of `node`, found under `key` in a map under `parent` (list entries keep
/// their list's key).
fn convert(node: &Node, key: Option<&str>, parent: Option<&str>, colon: bool) -> Yaml {
    if is_body(key, parent) {
        return body(node);
    }
    let colon = keeps_colon(key, colon);
    match &node.kind {
        Kind::Map(entries) => Yaml::Map(
            entries
                .iter()
                .filter_map(|(name, value)| {
                    let name = name.key_name()?;
                    let value = convert(value, Some(&name), key, colon);
                    Some((name, value))
                })
                .collect(),
        ),
        Kind::Seq(items) => Yaml::Seq(
            items
                .iter()
                .map(|item| convert(item, key, parent, colon))
                .collect(),
        ),
        Kind::Null => Yaml::Null,
        Kind::Bool(flag) => Yaml::Bool(*flag),
        Kind::Int(number) => Yaml::Int(*number),
        Kind::Float(number) => Yaml::Float(*number),
        Kind::Keyword(name) if colon => Yaml::Str(format!(":{name}")),
        Kind::Str(text) | Kind::Symbol(text) | Kind::Keyword(text) if key == Some("method") => {
            // `:get` → `GET`, as people write it in YAML (a method's case does not matter).
            Yaml::Str(Method::parse(text).map_or_else(|| text.clone(), |m| m.as_str().to_owned()))
        }
        Kind::Str(text) | Kind::Symbol(text) | Kind::Keyword(text) => Yaml::Str(text.clone()),
        Kind::Plain(_) => match node.scalar() {
            Some(Scalar::Bool(flag)) => Yaml::Bool(flag),
            Some(Scalar::Int(number)) => Yaml::Int(number),
            Some(Scalar::Float(number)) => Yaml::Float(number),
            Some(Scalar::Str(text) | Scalar::Keyword(text)) => Yaml::Str(text.to_owned()),
            Some(Scalar::Null) | None => Yaml::Null,
        },
    }
}

/// A body as the reader takes it: a string is the template, null is none, anything else
/// its JSON text.
fn body(node: &Node) -> Yaml {
    if node.is_null() {
        return Yaml::Null;
    }
    match node.as_string() {
        Some(text) => Yaml::Quoted(text.to_owned()),
        None => Yaml::Quoted(node.to_json().to_string()),
    }
}
