//! The one tracing set-up shared by every moclojer app: readable text or JSON lines on
//! stderr, filtered by a `RUST_LOG`-style string, with a correlation id on every line
//! logged inside a request.
//!
//! Apps call [`init`] once at start-up with a [`LogFormat`] and a filter they read from their
//! own configuration (`--log-format`, `MOCLOJER_LOG_FORMAT`, `RUST_LOG`); this crate never
//! reads the environment itself. Each incoming request runs inside a
//! [`correlation_span`], so every event logged while handling it carries its
//! `correlation_id`. Tests capture output with [`build_subscriber`] and
//! `tracing::subscriber::with_default`.
//!
//! Text lines escape control characters in every field and message (`\n` for a line feed):
//! a value a user sent (a host, a path) cannot start a forged log line. JSON lines are
//! escaped by JSON itself.
//!
//! This crate is not a metrics or tracing-export pipeline (no OpenTelemetry, no Prometheus)
//! and holds no logging policy: what to log, and at which level, stays with the callers.

use std::fmt;
use std::io::IsTerminal as _;
use std::str::FromStr;

use moclojer_domain::CorrelationId;
use tracing::Subscriber;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, Layered, SubscriberExt as _};
use tracing_subscriber::registry::Registry;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The filter used when none is given, or an empty one is: every event at `INFO` or above.
pub const DEFAULT_FILTER: &str = "info";

/// The environment variable apps conventionally read the log format from. This crate only
/// names it; apps read it and pass the value to [`LogFormat::from_env_value`].
pub const LOG_FORMAT_ENV: &str = "MOCLOJER_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    /// Readable lines for a terminal: time, level, spans with their fields, target, message.
    #[default]
    Text,
    /// One JSON object per line, for log shipping: `timestamp`, `level`, `target`, `fields`
    /// (with `message`), `span` (the current span's name and fields) and `spans` (every
    /// enclosing span, outermost first).
    Json,
}

/// Why a text is not a [`LogFormat`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a log format: expected \"text\" or \"json\"")]
pub struct LogFormatError {
    given: String,
}

impl LogFormat {
    /// The format named by an optional setting, such as the value of [`LOG_FORMAT_ENV`]:
    /// [`LogFormat::Text`] when there is none or it is blank, otherwise as [`FromStr`].
    ///
    /// # Errors
    /// A [`LogFormatError`] when the value names no format.
    pub fn from_env_value(value: Option<&str>) -> Result<Self, LogFormatError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::default()),
            Some(name) => name.parse(),
        }
    }

    /// The format's name, as [`FromStr`] accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = LogFormatError;

    /// `text` or `json`, in any case, surrounding blanks ignored.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let name = raw.trim();
        if name.eq_ignore_ascii_case("text") {
            Ok(Self::Text)
        } else if name.eq_ignore_ascii_case("json") {
            Ok(Self::Json)
        } else {
            Err(LogFormatError {
                given: raw.to_owned(),
            })
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not a log filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{filter:?} is not a log filter (RUST_LOG syntax, e.g. \"info,moclojer=debug\"): {reason}")]
pub struct FilterError {
    filter: String,
    reason: String,
}

/// Parses a `RUST_LOG`-style filter; `None` or blank means [`DEFAULT_FILTER`]. Unlike
/// `RUST_LOG` handling elsewhere, a single bad directive refuses the whole filter instead
/// of being skipped, so a typo is noticed at start-up.
fn parse_filter(filter: Option<&str>) -> Result<EnvFilter, FilterError> {
    let text = match filter.map(str::trim) {
        None | Some("") => DEFAULT_FILTER,
        Some(text) => text,
    };
    EnvFilter::builder().parse(text).map_err(|e| FilterError {
        filter: text.to_owned(),
        reason: e.to_string(),
    })
}

type Filtered = Layered<EnvFilter, Registry>;

/// Text fields as `name=value` (the message bare), separated by spaces, values written as
/// `Debug` shows them (strings quoted) with control characters escaped.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static
{
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let raw = format!("{value:?}");
        let text = escape_controls(&raw);
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}

/// `text` with its control characters written as escapes: `\n`, `\r`, `\t`, `\u{1b}`.
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// The subscriber behind [`init`] and [`build_subscriber`]. `colour` allows ANSI colours
/// in text, still subject to `NO_COLOR` as `tracing-subscriber` reads it.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    colour: bool,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let output: Box<dyn Layer<Filtered> + Send + Sync> = match format {
        LogFormat::Text => {
            let text = tracing_subscriber::fmt::layer()
                .fmt_fields(escaped_fields())
                .with_writer(writer);
            if colour {
                text.boxed()
            } else {
                text.with_ansi(false).boxed()
            }
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_ansi(false)
            .with_writer(writer)
            .boxed(),
    };
    Registry::default().with(filter).with(output)
}

/// A subscriber writing `format` lines to `writer`, keeping the events `filter` enables
/// (`RUST_LOG` syntax; `None` or blank means [`DEFAULT_FILTER`]). It is not installed:
/// tests use it with `tracing::subscriber::with_default`, and [`init`] installs the same
/// set-up on stderr. Text is written without colours.
///
/// # Errors
/// A [`FilterError`] naming the filter when it does not parse.
pub fn build_subscriber<W>(
    format: LogFormat,
    filter: Option<&str>,
    writer: W,
) -> Result<impl Subscriber + Send + Sync + 'static, FilterError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    Ok(subscriber(format, parse_filter(filter)?, writer, false))
}

/// Installs the process-wide subscriber: `format` lines on stderr, filtered by `filter`
/// (`RUST_LOG` syntax; `None` or blank means [`DEFAULT_FILTER`]). Text has colours only
/// when stderr is a terminal. Events from the `log` crate are forwarded too.
///
/// # Errors
/// When the filter does not parse, or a global subscriber (or `log` logger) is already
/// installed, for example by an earlier call; nothing is changed then.
pub fn init(format: LogFormat, filter: Option<&str>) -> anyhow::Result<()> {
    let filter = parse_filter(filter)?;
    let colour = std::io::stderr().is_terminal();
    subscriber(format, filter, std::io::stderr, colour)
        .try_init()
        .map_err(|e| anyhow::anyhow!(e).context("a global tracing subscriber is already installed"))
}

/// An `INFO` span named `request` with the field `correlation_id`, for the whole handling of
/// one request: enter it (or `.instrument(span)` a future) and every event inside carries the
/// id. With a filter above `INFO` the span is disabled, and lines lose the id.
pub fn correlation_span(id: &CorrelationId) -> tracing::Span {
    tracing::info_span!("request", correlation_id = id.as_str())
}

/// A fresh correlation id, for a request that did not bring a usable one: a UUIDv7 as 32
/// lowercase hex digits, so ids sort by creation time.
pub fn new_correlation_id() -> CorrelationId {
    let id = uuid::Uuid::now_v7().simple().to_string();
    CorrelationId::parse(&id).expect("a simple UUID is a correlation id")
}
