//! Log output captured through `build_subscriber`: JSON lines with correlation ids, text,
//! filters, and the refusals of bad settings.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use moclojer_domain::CorrelationId;
use moclojer_telemetry::{
    DEFAULT_FILTER, LogFormat, build_subscriber, correlation_span, init, new_correlation_id,
};
use serde_json::Value;

/// Everything written to it, shared by every clone.
#[derive(Debug, Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8(bytes.clone()).unwrap()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The output of `log` run under a `format` subscriber with `filter`.
fn capture(format: LogFormat, filter: Option<&str>, log: impl FnOnce()) -> String {
    let captured = Captured::default();
    let writer = {
        let captured = captured.clone();
        move || captured.clone()
    };
    let subscriber = build_subscriber(format, filter, writer).unwrap();
    tracing::subscriber::with_default(subscriber, log);
    captured.text()
}

fn json_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn json_lines_carry_the_message_and_the_correlation_id() {
    let id = CorrelationId::parse("req-42.a_b").unwrap();
    let output = capture(LogFormat::Json, None, || {
        tracing::info!("before any request");
        let span = correlation_span(&id);
        let _request = span.enter();
        tracing::info!(workspace_id = "ws-1", attempt = 2, "mock published");
        tracing::debug!("below the default filter");
        let inner = tracing::info_span!("publish", mock = "m-1");
        let _publish = inner.enter();
        tracing::warn!("inside a nested span");
    });

    let lines = json_lines(&output);
    assert_eq!(lines.len(), 3, "{output}");
    assert_eq!(output.lines().count(), 3, "one object per line");

    let outside = &lines[0];
    assert_eq!(outside["fields"]["message"], "before any request");
    assert!(outside.get("span").is_none(), "{outside}");

    let event = &lines[1];
    assert_eq!(event["fields"]["message"], "mock published");
    assert_eq!(event["fields"]["workspace_id"], "ws-1");
    assert_eq!(event["fields"]["attempt"], 2);
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["target"], "telemetry");
    assert!(event["timestamp"].is_string(), "{event}");
    assert_eq!(event["span"]["name"], "request");
    assert_eq!(event["span"]["correlation_id"], "req-42.a_b");

    // In a nested span the id is still on the line, in the list of enclosing spans.
    let nested = &lines[2];
    assert_eq!(nested["level"], "WARN");
    assert_eq!(nested["span"]["name"], "publish");
    assert_eq!(nested["span"]["mock"], "m-1");
    assert_eq!(nested["spans"][0]["name"], "request");
    assert_eq!(nested["spans"][0]["correlation_id"], "req-42.a_b");
}

#[test]
fn text_lines_are_readable_and_carry_the_correlation_id() {
    let id = new_correlation_id();
    let output = capture(LogFormat::Text, None, || {
        let _request = correlation_span(&id).entered();
        tracing::info!(workspace_id = "ws-1", "mock published");
        tracing::debug!("below the default filter");
    });
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(output.contains("mock published"), "{output}");
    assert!(output.contains("INFO"), "{output}");
    assert!(output.contains("workspace_id=\"ws-1\""), "{output}");
    assert!(
        output.contains(&format!("request{{correlation_id=\"{id}\"}}")),
        "{output}"
    );
    assert!(!output.contains('\u{1b}'), "no colour codes: {output:?}");
    assert!(serde_json::from_str::<Value>(output.trim()).is_err());
}

#[test]
fn a_value_a_user_sent_cannot_forge_a_text_line() {
    let host = "evil.test\n2026-01-01T00:00:00Z  INFO forged: admin signed in";
    let output = capture(LogFormat::Text, None, || {
        tracing::warn!(host = %host, path = "/a\r\nb", "request refused: {host}");
    });
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(output.contains("host=evil.test\\n2026"), "{output}");
    assert!(output.contains("request refused: evil.test\\n"), "{output}");
    assert!(output.contains(r#"path="/a\r\nb""#), "{output}");
}

#[test]
fn filters_choose_what_is_written() {
    let log = || {
        tracing::debug!(target: "moclojer_api", "api detail");
        tracing::debug!(target: "sqlx", "driver detail");
        tracing::info!(target: "sqlx", "driver news");
        tracing::warn!(target: "sqlx", "driver trouble");
    };
    let messages = |filter: Option<&str>| -> Vec<String> {
        json_lines(&capture(LogFormat::Json, filter, log))
            .iter()
            .map(|line| line["fields"]["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(DEFAULT_FILTER, "info");
    assert_eq!(messages(None), ["driver news", "driver trouble"]);
    assert_eq!(messages(Some("  ")), ["driver news", "driver trouble"]);
    assert_eq!(messages(Some("warn")), ["driver trouble"]);
    assert_eq!(
        messages(Some("info,moclojer_api=debug")),
        ["api detail", "driver news", "driver trouble"]
    );
}

#[test]
fn log_formats_parse_and_refuse_clearly() {
    for (raw, format) in [
        ("text", LogFormat::Text),
        ("json", LogFormat::Json),
        ("JSON", LogFormat::Json),
        (" json\n", LogFormat::Json),
    ] {
        assert_eq!(raw.parse::<LogFormat>(), Ok(format), "{raw:?}");
    }
    assert_eq!(LogFormat::default(), LogFormat::Text);
    assert_eq!(LogFormat::Json.to_string(), "json");
    assert_eq!(LogFormat::Text.as_str().parse(), Ok(LogFormat::Text));

    for bad in ["xml", "", "jsonl", "text json"] {
        let err = bad.parse::<LogFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{bad:?} is not a log format: expected \"text\" or \"json\"")
        );
    }

    assert_eq!(LogFormat::from_env_value(None), Ok(LogFormat::Text));
    assert_eq!(LogFormat::from_env_value(Some("")), Ok(LogFormat::Text));
    assert_eq!(LogFormat::from_env_value(Some("json")), Ok(LogFormat::Json));
    let err = LogFormat::from_env_value(Some("yaml")).unwrap_err();
    assert!(
        err.to_string().starts_with("\"yaml\" is not a log format"),
        "{err}"
    );
}

#[test]
fn bad_filters_are_refused_clearly() {
    for bad in ["moclojer=loud", "info,sqlx=verbose", "[{"] {
        let Err(err) = build_subscriber(LogFormat::Text, Some(bad), io::sink) else {
            panic!("{bad:?} was accepted as a filter");
        };
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{bad:?} is not a log filter")),
            "{message}"
        );
    }
}

#[test]
fn init_installs_once_and_refuses_bad_settings() {
    // The only test that touches the global subscriber.
    let err = init(LogFormat::Json, Some("moclojer=loud")).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"moclojer=loud\" is not a log filter"),
        "{err:#}"
    );
    init(LogFormat::Text, Some("off")).unwrap();
    let err = init(LogFormat::Text, None).unwrap_err();
    assert!(
        format!("{err:#}").starts_with("a global tracing subscriber is already installed"),
        "{err:#}"
    );
}

#[test]
fn new_correlation_ids_are_valid_and_distinct() {
    let ids: Vec<CorrelationId> = (0..100).map(|_| new_correlation_id()).collect();
    for id in &ids {
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(CorrelationId::parse(id.as_str()).as_ref(), Ok(id));
    }
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len());
}
