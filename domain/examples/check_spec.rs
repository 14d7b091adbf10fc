//! Lints a moclojer spec file with the domain's validator and prints every finding as
//! `path:line:column: severity: message`; exits 1 when there is an error.
//!
//! ```text
//! cargo run -p moclojer-domain --example check_spec -- moclojer.yml
//! cargo run -p moclojer-domain --example check_spec -- --cloud moclojer.edn
//! cargo run -p moclojer-domain --example check_spec -- openapi.yml --mocks mocks.yml
//! ```
//!
//! The format comes from the extension (`.edn` is EDN, anything else YAML). `--cloud` checks
//! as the hosted service does (templates must compile, no local files); the default is the
//! standalone server's view.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line example prints its findings"
)]

use std::process::ExitCode;

use moclojer_domain::Diagnostic;
use moclojer_domain::spec::{self, Format, Limits, Mode};

fn main() -> ExitCode {
    let mut mode = Mode::Standalone;
    let mut path = None;
    let mut mocks = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cloud" => mode = Mode::Cloud,
            "--mocks" => mocks = args.next(),
            _ if path.is_none() => path = Some(arg),
            _ => {
                eprintln!("usage: check_spec [--cloud] <spec> [--mocks <mocks>]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("usage: check_spec [--cloud] <spec> [--mocks <mocks>]");
        return ExitCode::from(2);
    };
    let source = match std::fs::read_to_string(&path) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("{path}: cannot read: {error}");
            return ExitCode::from(2);
        }
    };
    let limits = Limits::default();
    let result = match &mocks {
        None => spec::check(&source, Format::from_path_extension(&path), mode, &limits),
        Some(mocks_path) => match std::fs::read_to_string(mocks_path) {
            Ok(mocks) => spec::check_openapi(&source, &mocks, mode, &limits),
            Err(error) => {
                eprintln!("{mocks_path}: cannot read: {error}");
                return ExitCode::from(2);
            }
        },
    };
    let (diagnostics, failed) = match result {
        Ok((spec, warnings)) => {
            println!(
                "{path}: {} endpoints, {} websockets",
                spec.endpoints.len(),
                spec.websockets.len()
            );
            (warnings, false)
        }
        Err(diagnostics) => (diagnostics, true),
    };
    for diagnostic in &diagnostics {
        print_one(&path, mocks.as_deref(), diagnostic);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_one(path: &str, mocks: Option<&str>, diagnostic: &Diagnostic) {
    let severity = if diagnostic.is_error() {
        "error"
    } else {
        "warning"
    };
    // Findings about the mocks file say so (key `mocks[...]` or a `mocks file:` message).
    let in_mocks = diagnostic.message.starts_with("mocks file: ")
        || diagnostic
            .key
            .as_deref()
            .is_some_and(|key| key.starts_with("mocks["));
    let file = match mocks {
        Some(mocks) if in_mocks => mocks,
        _ => path,
    };
    let place = match (diagnostic.item, &diagnostic.key) {
        (Some(item), Some(key)) if !key.is_empty() => format!(" (item {item}, {key})"),
        (Some(item), _) => format!(" (item {item})"),
        _ => String::new(),
    };
    println!(
        "{file}:{}:{}: {severity}: {}{place}",
        diagnostic.line, diagnostic.column, diagnostic.message
    );
}
