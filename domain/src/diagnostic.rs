//! Diagnostics: what a validator says about a spec, with a position a person can find.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a diagnostic is. Errors refuse a spec; warnings let it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot be served.
    Error,
    /// The spec can be served, but something will not work as the author may expect.
    Warning,
}

/// One finding about a spec: where (1-based line and column, the item's index and key when
/// known) and what.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line in the source text.
    pub line: u32,
    /// 1-based column in the source text.
    pub column: u32,
    /// Index of the top-level item (endpoint) the finding is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// The key within the item, e.g. `endpoint.path`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
}

impl Diagnostic {
    /// An error at `line`:`column`.
    pub fn error(line: u32, column: u32, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            line,
            column,
            item: None,
            key: None,
            message: message.into(),
        }
    }

    /// A warning at `line`:`column`.
    pub fn warning(line: u32, column: u32, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(line, column, message)
        }
    }

    /// The same finding, located in item `index` at `key`.
    #[must_use]
    pub fn in_item(mut self, index: u32, key: impl Into<String>) -> Self {
        self.item = Some(index);
        self.key = Some(key.into());
        self
    }

    /// Whether this finding refuses the spec.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}: {severity}", self.line, self.column)?;
        if let (Some(item), Some(key)) = (self.item, &self.key) {
            write!(f, " in item {item} at {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_place() {
        let d = Diagnostic::error(3, 7, "unknown key").in_item(0, "endpoint.foo");
        assert_eq!(
            d.to_string(),
            "3:7: error in item 0 at endpoint.foo: unknown key"
        );
        assert!(d.is_error());
        assert!(!Diagnostic::warning(1, 1, "x").is_error());
    }
}
