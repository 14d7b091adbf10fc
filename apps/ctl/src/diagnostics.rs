//! The validator's findings, as the api sends them and as compilers print them:
//! `FILE:LINE:COL: error: message` (or `warning:`), one per line on stderr, so editors and
//! CI annotations can jump to them.

use serde::{Deserialize, Serialize};

use crate::out;

/// One finding of the validator.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub(crate) struct Diagnostic {
    /// 1-based line.
    pub(crate) line: u64,
    /// 1-based column.
    pub(crate) column: u64,
    /// What is wrong, for people.
    pub(crate) message: String,
    /// `error` or `warning`.
    #[serde(default = "error")]
    pub(crate) severity: String,
}

fn error() -> String {
    "error".to_owned()
}

impl Diagnostic {
    /// An error at `line`:`column`.
    pub(crate) fn error(line: u64, column: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            column,
            message: message.into(),
            severity: error(),
        }
    }

    /// Whether it stops the spec from being accepted (anything but a warning).
    pub(crate) fn is_error(&self) -> bool {
        self.severity != "warning"
    }

    /// `FILE:LINE:COL: error: message`.
    pub(crate) fn render(&self, file: &str) -> String {
        let severity = if self.is_error() { "error" } else { "warning" };
        format!(
            "{file}:{}:{}: {severity}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Prints every finding about `file` on stderr, errors first; returns how many are errors.
pub(crate) fn report(file: &str, diagnostics: &[Diagnostic]) -> usize {
    let (errors, warnings): (Vec<_>, Vec<_>) = diagnostics.iter().partition(|d| d.is_error());
    for d in errors.iter().chain(&warnings) {
        out::note(&d.render(file));
    }
    errors.len()
}

/// Where the first byte that is not UTF-8 sits in `bytes`: a finding at its line and
/// column (columns count characters).
pub(crate) fn not_utf8(bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    let valid = String::from_utf8_lossy(&bytes[..valid_up_to]);
    let line = valid.matches('\n').count() as u64 + 1;
    let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    Diagnostic::error(line, column, "the file is not UTF-8 text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_compiler() {
        let d = Diagnostic::error(2, 5, "unknown key `pth`");
        assert_eq!(d.render("m.yml"), "m.yml:2:5: error: unknown key `pth`");
        let w: Diagnostic = serde_json::from_str(
            r#"{"line": 1, "column": 1, "message": "m", "severity": "warning", "item": 0}"#,
        )
        .expect("parse");
        assert_eq!(w.render("f"), "f:1:1: warning: m");
        let bare: Diagnostic =
            serde_json::from_str(r#"{"line": 3, "column": 4, "message": "m"}"#).expect("parse");
        assert!(bare.is_error());
    }

    #[test]
    fn finds_the_first_byte_that_is_not_utf8() {
        let bytes = b"- a\n  b\xffc";
        let d = not_utf8(bytes, 7);
        assert_eq!((d.line, d.column), (2, 4));
    }
}
