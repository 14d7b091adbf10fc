//! Where output goes: results on stdout (human lines, or one JSON document with `--json`),
//! progress, warnings and errors on stderr. A closed pipe (`| head`) ends output quietly
//! instead of panicking.

use std::io::Write;

use serde::Serialize;

use crate::exit::{CtlResult, Failure};

/// One line of results on stdout.
pub(crate) fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").ok();
}

/// Raw text on stdout, as is (an exported spec).
pub(crate) fn say_raw(text: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text).ok();
    stdout.flush().ok();
}

/// One line on stderr.
pub(crate) fn note(line: &str) {
    let mut stderr = std::io::stderr().lock();
    writeln!(stderr, "{line}").ok();
}

/// Text on stderr without a newline (the TTY progress line), flushed.
pub(crate) fn note_inline(text: &str) {
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{text}").ok();
    stderr.flush().ok();
}

/// `value` as pretty JSON on stdout.
pub(crate) fn json<T: Serialize>(value: &T) -> CtlResult<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::server(format!("cannot write JSON: {e}")))?;
    say(&text);
    Ok(())
}
