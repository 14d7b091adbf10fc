//! External bodies (`response.external-body`): a JSON, YAML or XLSX source, local or by
//! URL, whose content is itself a template (the original's behaviour, with the decisions in ARCHITECTURE.md).
//!
//! URLs go through the egress guard. Local files exist only in standalone mode, and only
//! under the working directory or the spec's folder: a path that leaves both is refused.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use calamine::{Data, Reader, Xlsx};
use moclojer_domain::spec::{Mode, Provider};
use moclojer_domain::template::{Env, Escape, Template};
use moclojer_egress::OutboundRequest;
use serde_json::{Map, Value};

use crate::engine::EngineOptions;

/// The largest external source read, in bytes.
pub const MAX_EXTERNAL_BYTES: usize = 5 * 1024 * 1024;

/// Loads, converts and renders an external body; the error is the message of the 500.
pub(crate) async fn load(
    provider: &Provider,
    path: &Template,
    sheet: Option<&str>,
    context: &Value,
    env: &(dyn Env + Sync),
    options: &EngineOptions,
    escape: Escape,
) -> Result<Bytes, String> {
    let location = path
        .render(context, Escape::None, env, &options.render)
        .map_err(|e| e.to_string())?;
    let location = location.trim();
    let raw = fetch(location, options).await?;
    let text = match provider {
        Provider::Json => {
            String::from_utf8(raw).map_err(|_| format!("{location} is not UTF-8 text"))?
        }
        Provider::Yaml => {
            let text =
                String::from_utf8(raw).map_err(|_| format!("{location} is not UTF-8 text"))?;
            let value = moclojer_domain::spec::yaml_to_json(&text)
                .map_err(|e| format!("{location}: {e}"))?;
            value.to_string()
        }
        Provider::Xlsx => xlsx_rows(&raw, sheet)
            .map_err(|e| format!("{location}: {e}"))?
            .to_string(),
        Provider::Unknown(_) => "format not supported, read documentation".to_owned(),
    };
    let template = Template::compile(&text).map_err(|e| format!("{location}: {e}"))?;
    let rendered = template
        .render(context, escape, env, &options.render)
        .map_err(|e| e.to_string())?;
    Ok(Bytes::from(rendered))
}

async fn fetch(location: &str, options: &EngineOptions) -> Result<Vec<u8>, String> {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let egress = options
            .egress
            .as_ref()
            .ok_or("outbound calls are disabled")?;
        let response = egress
            .send(OutboundRequest::get(location))
            .await
            .map_err(|e| e.to_string())?;
        if !(200..300).contains(&response.status) {
            return Err(format!("{location} answered {}", response.status));
        }
        return Ok(response.body.to_vec());
    }
    if options.mode == Mode::Cloud {
        return Err("local files are not available in the hosted service".to_owned());
    }
    let file = resolve_local(location, options.spec_dir.as_deref())?;
    let meta = tokio::fs::metadata(&file)
        .await
        .map_err(|e| format!("{location}: {e}"))?;
    if meta.len() > MAX_EXTERNAL_BYTES as u64 {
        return Err(format!(
            "{location} is larger than {MAX_EXTERNAL_BYTES} bytes"
        ));
    }
    tokio::fs::read(&file)
        .await
        .map_err(|e| format!("{location}: {e}"))
}

/// A local path, relative to the spec's folder or the working directory, that stays under
/// one of them once links are resolved.
fn resolve_local(location: &str, spec_dir: Option<&Path>) -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?;
    let bases: Vec<PathBuf> = spec_dir
        .map(Path::to_path_buf)
        .into_iter()
        .chain([cwd])
        .collect();
    let given = Path::new(location);
    let mut last_error = format!("{location} (No such file or directory)");
    for base in &bases {
        let candidate = if given.is_absolute() {
            given.to_path_buf()
        } else {
            base.join(given)
        };
        let Ok(real) = candidate.canonicalize() else {
            continue;
        };
        let inside = bases
            .iter()
            .filter_map(|b| b.canonicalize().ok())
            .any(|b| real.starts_with(b));
        if inside {
            return Ok(real);
        }
        last_error = format!("{location} is outside the spec's folder and the working directory");
    }
    Err(last_error)
}

/// The sheet (by name, case-insensitive; the first one when none is named) as an array of
/// objects keyed by the first row.
fn xlsx_rows(bytes: &[u8], sheet: Option<&str>) -> Result<Value, String> {
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("not an xlsx workbook: {e}"))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(wanted))
            .cloned()
            .ok_or_else(|| format!("no sheet named {wanted:?}"))?,
        None => names.first().cloned().ok_or("the workbook has no sheets")?,
    };
    let range = workbook.worksheet_range(&name).map_err(|e| e.to_string())?;
    let mut rows = range.rows();
    let headers: Vec<String> = rows
        .next()
        .map(|r| r.iter().map(cell_text).collect())
        .unwrap_or_default();
    let objects = rows
        .map(|row| {
            let mut object = Map::new();
            for (key, cell) in headers.iter().zip(row) {
                object.insert(key.clone(), cell_value(cell));
            }
            Value::Object(object)
        })
        .collect();
    Ok(Value::Array(objects))
}

fn cell_text(cell: &Data) -> String {
    match cell_value(cell) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn cell_value(cell: &Data) -> Value {
    match cell {
        Data::Empty => Value::String(String::new()),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Value::String(s.clone()),
        Data::Int(i) => Value::from(*i),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(*f as i64),
        Data::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Data::Bool(b) => Value::Bool(*b),
        Data::DateTime(d) => Value::String(d.to_string()),
        Data::Error(e) => Value::String(format!("{e:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_stay_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec_dir = dir.path().join("spec");
        std::fs::create_dir_all(&spec_dir).expect("mkdir");
        std::fs::write(spec_dir.join("data.json"), "{}").expect("write");
        std::fs::write(dir.path().join("secret.json"), "{}").expect("write");
        assert!(resolve_local("data.json", Some(&spec_dir)).is_ok());
        let escaped = resolve_local("../secret.json", Some(&spec_dir)).expect_err("outside");
        assert!(escaped.contains("outside"), "{escaped}");
        let absolute = resolve_local("/etc/hostname", Some(&spec_dir));
        assert!(
            absolute.is_err(),
            "an absolute path outside both bases is refused"
        );
        let missing = resolve_local("nope.json", Some(&spec_dir)).expect_err("missing");
        assert!(missing.contains("No such file"), "{missing}");
    }
}
