//! Import: an OpenAPI document (3.x or Swagger 2.0, YAML or JSON) or an EDN moclojer spec
//! turned into moclojer YAML that the hosted service accepts.
//!
//! - **OpenAPI**: every operation becomes an endpoint (`{id}` → `:id`, typed as its
//!   parameter's schema says: `integer` → `|int`, `number` → `|double` (`|float` for
//!   `format: float`), `boolean` → `|bool`, `uuid` and `date` strings → `|uuid`, `|date`).
//!   Required query parameters are declared (`query:`, typed the same way), optional ones are
//!   not (templates read them anyway). The response is the first success one (200 preferred,
//!   then the first 2xx, `2XX`, `default`, else the first listed), its JSON media type
//!   preferred, sent with that `Content-Type`. Its body is, in order: the media type's
//!   `x-moclojer-body` (a template, as [`export_openapi`](super::export_openapi) writes
//!   it), `example`, the first of `examples`, else an example generated from the schema
//!   (see [`MAX_EXAMPLE_DEPTH`] and the rules in this module's `schema`); bodies are
//!   written as one quoted JSON string, and a literal `{{` in an example is kept literal
//!   (`{% verbatim %}`). Response headers with an explicit example are kept. Request
//!   bodies are not turned into `body:` examples: an imported mock takes any request. Paths
//!   are taken as written (a `servers` URL's path, such as `/v1`, is not put in front), and
//!   header, cookie and body parameters are not declared.
//! - **EDN**: the spec is read and validated as EDN, and its items written as YAML with the
//!   same meaning (structured bodies become JSON strings).
//!
//! Hosts are not written: the hosted service serves every item on the mock's own host (an
//! EDN `host` is dropped, with a warning). Every diagnostic points into the uploaded text.
//! The YAML produced validates with [`check`](super::check) in [`Mode::Cloud`].

mod from_edn;
mod openapi;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;

pub use schema::{MAX_EXAMPLE_DEPTH, MAX_EXAMPLE_VALUES};

use super::{Format, Limits, Mode, check};
use crate::Diagnostic;

/// What an uploaded document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportFormat {
    /// An OpenAPI 3.x or Swagger 2.0 document, YAML or JSON.
    OpenApi,
    /// An EDN moclojer spec: a sequence of maps.
    Edn,
}

impl ImportFormat {
    /// `openapi` or `edn` (ASCII case ignored).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "openapi" => Some(Self::OpenApi),
            "edn" => Some(Self::Edn),
            _ => None,
        }
    }

    /// `openapi` or `edn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenApi => "openapi",
            Self::Edn => "edn",
        }
    }

    /// Guesses the format of `text`: EDN when it begins (after blanks and commas) with a
    /// `;` comment, a `#_` discard, or a `{` whose first key is a keyword (`{:endpoint …}`);
    /// anything else is read as OpenAPI (a JSON object's first key is a string, `{"openapi"`).
    pub fn sniff(text: &str) -> Self {
        let blank = |c: char| c.is_whitespace() || c == ',' || c == '\u{FEFF}';
        let start = text.trim_start_matches(blank);
        if start.starts_with(';') || start.starts_with("#_") {
            return Self::Edn;
        }
        match start.strip_prefix('{') {
            Some(inner) if inner.trim_start_matches(blank).starts_with(':') => Self::Edn,
            _ => Self::OpenApi,
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An imported spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// What the text was read as.
    pub format: ImportFormat,
    /// The moclojer YAML.
    pub content: String,
    /// Warnings, positioned in the uploaded text.
    pub diagnostics: Vec<Diagnostic>,
}

/// Imports `text` as `format`, or as [`ImportFormat::sniff`] guesses when `None`.
///
/// # Errors
/// Every finding (errors and warnings, positioned in `text`) when the text cannot be
/// imported.
pub fn import(
    text: &str,
    format: Option<ImportFormat>,
    limits: &Limits,
) -> Result<Imported, Vec<Diagnostic>> {
    let format = format.unwrap_or_else(|| ImportFormat::sniff(text));
    let (content, diagnostics) = match format {
        ImportFormat::OpenApi => import_openapi(text, limits)?,
        ImportFormat::Edn => import_edn(text, limits)?,
    };
    Ok(Imported {
        format,
        content,
        diagnostics,
    })
}

/// Imports an OpenAPI 3.x or Swagger 2.0 document (YAML or JSON): the moclojer YAML and
/// its warnings (see the module docs).
///
/// # Errors
/// Every finding, positioned in `text`, when one is an error: syntax, not an OpenAPI
/// document, an unsupported version, no `paths`, a path that is not one, a local `$ref` to
/// nothing, more operations than [`Limits::max_items`].
pub fn import_openapi(
    text: &str,
    limits: &Limits,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let read = openapi::read(text, limits)?;
    finish(read, limits)
}

/// Imports an EDN moclojer spec: the same items as YAML, and its warnings.
///
/// # Errors
/// Every finding, positioned in `text`, when the EDN spec does not validate in
/// [`Mode::Cloud`].
pub fn import_edn(
    text: &str,
    limits: &Limits,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let read = from_edn::read(text, limits)?;
    finish(read, limits)
}

/// Where an item of the produced YAML comes from in the uploaded text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    line: u32,
    column: u32,
    key: String,
}

/// What a reader made of the uploaded text: the document to write and what it found.
#[derive(Debug)]
struct Read {
    header: Vec<String>,
    items: Vec<writer::Item>,
    /// One per item.
    origins: Vec<Origin>,
    diagnostics: Vec<Diagnostic>,
}

fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics
}

/// Writes the YAML and checks it as the hosted service will; what the check says is moved
/// to the item's origin in the uploaded text.
fn finish(read: Read, limits: &Limits) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    let Read {
        header,
        items,
        origins,
        mut diagnostics,
    } = read;
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(sorted(diagnostics));
    }
    let yaml = writer::document(&header, &items);
    if yaml.len() > limits.max_bytes {
        diagnostics.push(Diagnostic::error(
            1,
            1,
            format!(
                "the imported spec would have {} bytes; at most {} are accepted (import \
                 fewer operations, or smaller examples)",
                yaml.len(),
                limits.max_bytes
            ),
        ));
        return Err(sorted(diagnostics));
    }
    let (findings, ok) = match check(&yaml, Format::Yaml, Mode::Cloud, limits) {
        Ok((_, warnings)) => (warnings, true),
        Err(findings) => (findings, false),
    };
    for finding in findings {
        let moved = relocate(finding, &origins);
        let known = diagnostics
            .iter()
            .any(|d| d.item == moved.item && d.message == moved.message);
        if moved.is_error() || !known {
            diagnostics.push(moved);
        }
    }
    if ok {
        Ok((yaml, sorted(diagnostics)))
    } else {
        Err(sorted(diagnostics))
    }
}

/// A finding about the produced YAML, moved to the uploaded item it comes from.
fn relocate(mut finding: Diagnostic, origins: &[Origin]) -> Diagnostic {
    let origin = finding
        .item
        .and_then(|item| origins.get(usize::try_from(item).ok()?));
    match origin {
        Some(origin) => {
            (finding.line, finding.column) = (origin.line, origin.column);
            if !origin.key.is_empty() {
                if let Some(inner) = finding.key.take() {
                    finding.message = format!("the imported `{inner}`: {}", finding.message);
                }
                finding.key = Some(origin.key.clone());
            }
        }
        None => {
            (finding.line, finding.column) = (1, 1);
        }
    }
    finding
}
