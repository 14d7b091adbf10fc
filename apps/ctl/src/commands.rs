//! Every command but `push`: `login`, `mocks list`, `publish`, `unpublish`, `delete`,
//! `export`, `import` and `requests`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Api, Body};
use crate::diagnostics::{self, Diagnostic};
use crate::exit::{CtlResult, Exit, Failure};
use crate::mocks::{self, Mock, Publication};
use crate::out;
use crate::wait::{self, Goal, Target};

/// `login`: checks the token with `GET /me` and says whose it is. Nothing is stored: the
/// token is read from `MOCLOJER_TOKEN` on every run.
pub(crate) async fn login(api: &Api, json: bool) -> CtlResult<()> {
    let user = mocks::me(api).await?;
    if json {
        return out::json(&json!({ "api": api.base(), "user": user }));
    }
    let handle = user
        .handle
        .as_deref()
        .map_or_else(|| "no handle yet".to_owned(), |h| format!("handle {h}"));
    out::say(&format!(
        "the token works: {} as {} ({handle}); nothing was stored, MOCLOJER_TOKEN is read on every run",
        api.base(),
        user.email
    ));
    Ok(())
}

/// `mocks list`: every mock the caller sees (of `workspace` when given).
pub(crate) async fn list(api: &Api, workspace: Option<&str>, json: bool) -> CtlResult<()> {
    let groups = mocks::list(api).await?;
    let listed: Vec<Mock> = match workspace {
        Some(workspace) => mocks::mocks_of(groups, workspace)?,
        None => groups.into_iter().flat_map(|g| g.mocks).collect(),
    };
    if json {
        return out::json(&listed);
    }
    if listed.is_empty() {
        out::say("no mocks");
        return Ok(());
    }
    let rows: Vec<[String; 4]> = listed
        .iter()
        .map(|m| {
            [
                format!("{}/{}", m.workspace, m.name),
                format!("r{}", m.revision),
                if m.enabled {
                    m.status()
                } else {
                    "unpublished".to_owned()
                },
                m.url.clone(),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for [name, revision, status, url] in &rows {
        out::say(&format!(
            "{name:<w0$}  {revision:<w1$}  {status:<w2$}  {url}"
        ));
    }
    Ok(())
}

/// `publish NAME|ID [--wait]`.
pub(crate) async fn publish(
    api: &Api,
    wanted: &str,
    workspace: Option<&str>,
    wait: Option<Duration>,
    json: bool,
) -> CtlResult<()> {
    let mock = mocks::find(api, wanted, workspace).await?;
    let publication: Publication = api
        .call(
            Method::POST,
            &format!("/mocks/{}/publish", mock.id),
            Body::Json(&json!({})),
        )
        .await
        .map_err(|e| {
            diagnostics::report(&mock.name, &e.diagnostics);
            Failure::from(e)
        })?;
    if !json {
        out::say(&format!(
            "publishing {}: revision {} at {} ({})",
            mock.name,
            mock.revision,
            mock.url,
            publication.describe()
        ));
    }
    if let Some(timeout) = wait {
        wait_one(api, &mock, Goal::Live(mock.revision), timeout).await?;
    }
    if json {
        return out::json(&json!({ "id": mock.id, "name": mock.name, "publication": publication }));
    }
    Ok(())
}

/// `unpublish NAME|ID [--wait]`.
pub(crate) async fn unpublish(
    api: &Api,
    wanted: &str,
    workspace: Option<&str>,
    wait: Option<Duration>,
    json: bool,
) -> CtlResult<()> {
    let mock = mocks::find(api, wanted, workspace).await?;
    let publication: Publication = api
        .call(
            Method::POST,
            &format!("/mocks/{}/unpublish", mock.id),
            Body::Json(&json!({})),
        )
        .await?;
    if !json {
        out::say(&format!("unpublished {}", mock.name));
    }
    if let Some(timeout) = wait {
        wait_one(api, &mock, Goal::Offline, timeout).await?;
    }
    if json {
        return out::json(&json!({ "id": mock.id, "name": mock.name, "publication": publication }));
    }
    Ok(())
}

async fn wait_one(api: &Api, mock: &Mock, goal: Goal, timeout: Duration) -> CtlResult<()> {
    let target = Target {
        label: mock.name.clone(),
        id: mock.id.clone(),
        url: mock.url.clone(),
        goal,
    };
    wait::wait(api, vec![target], timeout).await.map(drop)
}

/// `delete NAME|ID`: the mock and its history; its host stops answering.
pub(crate) async fn delete(
    api: &Api,
    wanted: &str,
    workspace: Option<&str>,
    json: bool,
) -> CtlResult<()> {
    let mock = mocks::find(api, wanted, workspace).await?;
    api.send(Method::DELETE, &format!("/mocks/{}", mock.id), Body::None)
        .await?;
    if json {
        return out::json(&json!({ "id": mock.id, "name": mock.name, "deleted": true }));
    }
    out::say(&format!("deleted {}", mock.name));
    Ok(())
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The moclojer YAML, as stored.
    Yaml,
    /// An OpenAPI document (JSON) describing the mock's endpoints.
    Openapi,
}

/// Writes `bytes` to `output`, or to stdout.
fn write_out(output: Option<&Path>, bytes: &[u8]) -> CtlResult<()> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes)
                .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
            out::note(&format!("wrote {}", path.display()));
        }
        None => out::say_raw(bytes),
    }
    Ok(())
}

/// `export NAME|ID [--format yaml|openapi] [-o FILE]`: `GET /mocks/{id}/export`.
pub(crate) async fn export(
    api: &Api,
    wanted: &str,
    workspace: Option<&str>,
    format: Format,
    output: Option<&Path>,
) -> CtlResult<()> {
    let mock = mocks::find(api, wanted, workspace).await?;
    let format = match format {
        Format::Yaml => "yaml",
        Format::Openapi => "openapi",
    };
    let path = format!("/mocks/{}/export?format={format}", mock.id);
    let response = api
        .send(Method::GET, &path, Body::None)
        .await
        .map_err(|e| {
            if e.status == 404 {
                // The mock was just found: a 404 here is the route's (an older api).
                Failure::server(format!(
                    "GET {path}: 404 ({}): this api may have no export yet",
                    e.message
                ))
            } else {
                Failure::from(e)
            }
        })?;
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::server(format!("GET {path}: the answer was cut: {e}")))?;
    write_out(output, &bytes)
}

/// `POST /mocks/import`'s answer.
#[derive(Debug, Deserialize)]
struct Imported {
    content: String,
    #[serde(default)]
    diagnostics: Vec<Diagnostic>,
}

/// `import FILE [-o OUT]`: another format (an OpenAPI document, ...) made into moclojer
/// YAML by `POST /mocks/import`; the YAML on stdout or in `OUT`, findings on stderr.
pub(crate) async fn import(
    api: &Api,
    file: &Path,
    output: Option<&PathBuf>,
    json: bool,
) -> CtlResult<()> {
    let shown = file.display().to_string();
    let bytes =
        std::fs::read(file).map_err(|e| Failure::usage(format!("cannot read {shown}: {e}")))?;
    let imported: Imported = api
        .call(Method::POST, "/mocks/import", Body::Bytes(bytes))
        .await
        .map_err(|e| {
            diagnostics::report(&shown, &e.diagnostics);
            match (e.exit(), e.status) {
                (Exit::Invalid, _) => Failure::invalid(format!("{shown}: {}", e.message)),
                // No route, or `/mocks/:id` taking `import` for an id: an older api.
                (_, 404 | 405) => Failure::server(format!(
                    "POST /mocks/import: {} ({}): this api may have no import yet",
                    e.status, e.message
                )),
                _ => Failure::from(e),
            }
        })?;
    diagnostics::report(&shown, &imported.diagnostics);
    if json && output.is_none() {
        return out::json(
            &json!({ "content": imported.content, "diagnostics": imported.diagnostics }),
        );
    }
    write_out(output.map(PathBuf::as_path), imported.content.as_bytes())
}

/// `requests NAME|ID [--limit N]`: the journal, newest first.
pub(crate) async fn requests(
    api: &Api,
    wanted: &str,
    workspace: Option<&str>,
    limit: u32,
    json: bool,
) -> CtlResult<()> {
    let mock = mocks::find(api, wanted, workspace).await?;
    let page: Value = api
        .get(&format!("/mocks/{}/requests?limit={limit}", mock.id))
        .await?;
    if json {
        return out::json(&page);
    }
    let records = page["requests"].as_array().cloned().unwrap_or_default();
    if records.is_empty() {
        out::say(&format!("no requests recorded for {}", mock.name));
    }
    for record in &records {
        out::say(&request_line(record));
    }
    Ok(())
}

/// `2026-12-05T20:54:59.88Z GET /user/7 -> 404 (no endpoint; nearest: GET /hello, line 1: …)`.
fn request_line(record: &Value) -> String {
    let text = |key: &str| record[key].as_str().unwrap_or_default().to_owned();
    let query = text("query");
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let probe = !record["headers"]["x-moclojer-probe"].is_null();
    let answered = match record["matched"]["line"].as_u64() {
        _ if probe => "a probe of the host: ops or --wait".to_owned(),
        Some(line) => format!("endpoint at line {line}"),
        None => {
            let miss = &record["near_misses"][0];
            match miss["method"].as_str() {
                Some(method) => format!(
                    "no endpoint; nearest: {method} {}, line {}: {}",
                    miss["path"].as_str().unwrap_or_default(),
                    miss["line"],
                    miss["differences"][0]["message"]
                        .as_str()
                        .unwrap_or_default()
                ),
                None => "no endpoint".to_owned(),
            }
        }
    };
    format!(
        "{} {} {}{query} -> {} ({answered})",
        text("at"),
        text("method"),
        text("path"),
        record["status"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_in_one_line() {
        let hit = json!({"at": "t", "method": "GET", "path": "/users/7", "query": "a=1",
            "status": 200, "matched": {"endpoint": 0, "line": 1}, "near_misses": []});
        assert_eq!(
            request_line(&hit),
            "t GET /users/7?a=1 -> 200 (endpoint at line 1)"
        );
        let miss = json!({"at": "t", "method": "GET", "path": "/user/7", "query": "",
            "status": 404, "matched": null, "near_misses": [{"endpoint": 0, "line": 3,
            "method": "GET", "path": "/users/:id", "differences": [{"message": "segment 1"}]}]});
        let probe = json!({"at": "t", "method": "GET", "path": "/", "query": "",
            "status": 204, "headers": {"x-moclojer-probe": "1"}, "matched": null});
        assert_eq!(
            request_line(&probe),
            "t GET / -> 204 (a probe of the host: ops or --wait)"
        );
        assert_eq!(
            request_line(&miss),
            "t GET /user/7 -> 404 (no endpoint; nearest: GET /users/:id, line 3: segment 1)"
        );
    }
}
