//! External bodies (`response.external-body`): a JSON, YAML or XLSX source, local or by
//! URL, whose content is itself a template (the original's behaviour, with the decisions in ARCHITECTURE.md).
//!
//! URLs go through the egress guard. Local files exist only in standalone mode, and only
//! under the working directory or the spec's folder: a path that leaves both is refused.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use calamine::{Data, Reader, Xlsx};
use moclojer_domain::spec::{Mode, Provider};
use moclojer_domain::template::{Env, Escape, Template};
use moclojer_egress::OutboundRequest;
use serde_json::{Map, Value};

use crate::engine::EngineOptions;
use crate::outbound::{HostBudget, destination};

/// The largest external source read from a local file, in bytes.
pub const MAX_EXTERNAL_BYTES: usize = 5 * 1024 * 1024;

/// The largest external source fetched by URL, in bytes.
pub const MAX_EXTERNAL_URL_BYTES: usize = 1024 * 1024;

/// How many external bodies a server fetches by URL at once; past it, 503 at once.
pub const MAX_EXTERNAL_FETCHES: usize = 64;

/// How many of those one host may have under way.
pub const MAX_EXTERNAL_FETCHES_PER_HOST: usize = 8;

/// How long a fetched source is reused before it is fetched again.
pub const EXTERNAL_CACHE_TTL: Duration = Duration::from_secs(5);

/// The most bytes of fetched sources the cache holds.
const EXTERNAL_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Why an external body could not be answered, and so the status of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExternalError {
    /// No room to fetch one more now (503).
    Busy,
    /// The source by URL could not be fetched (502); the message names no address.
    Fetch(String),
    /// Anything else (500): a missing file, a source that does not convert or render.
    Failed(String),
}

impl From<String> for ExternalError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

/// Fetches of external bodies by URL: their budget and a short-lived cache, shared by
/// every engine built on the same options (a reload keeps both). Cloning shares them.
#[derive(Debug, Clone)]
pub struct ExternalFetches {
    budget: Arc<HostBudget>,
    cache: Arc<Mutex<FetchCache>>,
}

#[derive(Debug, Default)]
struct FetchCache {
    /// By URL: when fetched, and the body.
    entries: HashMap<String, (Instant, Bytes)>,
    bytes: usize,
}

impl Default for ExternalFetches {
    fn default() -> Self {
        Self {
            budget: HostBudget::new(MAX_EXTERNAL_FETCHES, MAX_EXTERNAL_FETCHES_PER_HOST),
            cache: Arc::default(),
        }
    }
}

impl ExternalFetches {
    /// How many fetches were refused so far for want of room.
    pub fn refused(&self) -> u64 {
        self.budget.refused()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, FetchCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The body fetched from `url` within [`EXTERNAL_CACHE_TTL`] of `now`, if any.
    fn cached(&self, url: &str, now: Instant) -> Option<Bytes> {
        let cache = self.cache();
        let (at, body) = cache.entries.get(url)?;
        (now.duration_since(*at) < EXTERNAL_CACHE_TTL).then(|| body.clone())
    }

    /// Keeps `body` fetched from `url` at `now`, making room by dropping what expired (and,
    /// if that is not enough, everything).
    fn keep(&self, url: &str, body: Bytes, now: Instant) {
        let mut cache = self.cache();
        if cache.bytes + body.len() > EXTERNAL_CACHE_BYTES {
            cache
                .entries
                .retain(|_, (at, _)| now.duration_since(*at) < EXTERNAL_CACHE_TTL);
            if cache.entries.values().map(|(_, b)| b.len()).sum::<usize>() + body.len()
                > EXTERNAL_CACHE_BYTES
            {
                cache.entries.clear();
            }
            cache.bytes = cache.entries.values().map(|(_, b)| b.len()).sum();
        }
        cache.bytes += body.len();
        if let Some((_, old)) = cache.entries.insert(url.to_owned(), (now, body)) {
            cache.bytes -= old.len();
        }
    }
}

/// Loads, converts and renders an external body for a request sent to `host`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn load(
    host: &str,
    provider: &Provider,
    path: &Template,
    sheet: Option<&str>,
    context: &Value,
    env: &(dyn Env + Sync),
    options: &EngineOptions,
    escape: Escape,
) -> Result<Bytes, ExternalError> {
    let location = path
        .render(context, Escape::None, env, &options.render)
        .map_err(|e| e.to_string())?;
    let location = location.trim();
    let raw = fetch(host, location, options).await?;
    let utf8 = || std::str::from_utf8(&raw).map_err(|_| format!("{location} is not UTF-8 text"));
    let text = match provider {
        Provider::Json => utf8()?.to_owned(),
        Provider::Yaml => {
            let value = moclojer_domain::spec::yaml_to_json(utf8()?)
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

async fn fetch(
    host: &str,
    location: &str,
    options: &EngineOptions,
) -> Result<Bytes, ExternalError> {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return fetch_url(host, location, options).await;
    }
    if options.mode == Mode::Cloud {
        return Err(ExternalError::Failed(
            "local files are not available in the hosted service".to_owned(),
        ));
    }
    Ok(read_local(location, options).await?.into())
}

/// The source at `url`, from the cache or fetched within the budget of `host`.
async fn fetch_url(host: &str, url: &str, options: &EngineOptions) -> Result<Bytes, ExternalError> {
    let egress = options
        .egress
        .as_ref()
        .ok_or_else(|| ExternalError::Failed("outbound calls are disabled".to_owned()))?;
    let fetches = &options.external;
    if let Some(body) = fetches.cached(url, Instant::now()) {
        return Ok(body);
    }
    let Some(_slot) = fetches.budget.take(host) else {
        return Err(ExternalError::Busy);
    };
    let response = egress
        .send_limited(OutboundRequest::get(url), MAX_EXTERNAL_URL_BYTES)
        .await
        .map_err(|e| {
            tracing::warn!(to = %destination(url), error = %e, "external body not fetched");
            ExternalError::Fetch(match e {
                moclojer_egress::EgressError::TooLarge { limit } => {
                    format!("the external body is larger than {limit} bytes")
                }
                _ => "the external body could not be fetched".to_owned(),
            })
        })?;
    if !(200..300).contains(&response.status) {
        return Err(ExternalError::Fetch(format!(
            "the external body's server answered {}",
            response.status
        )));
    }
    fetches.keep(url, response.body.clone(), Instant::now());
    Ok(response.body)
}

/// The local file at `location` (standalone only), at most [`MAX_EXTERNAL_BYTES`].
async fn read_local(location: &str, options: &EngineOptions) -> Result<Vec<u8>, String> {
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
