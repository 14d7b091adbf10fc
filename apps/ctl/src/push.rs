//! `push`: a file, or a folder of files, made into mocks of one workspace.
//!
//! Each file is one mock: `--name` or the file's stem (`mocks/users.yml` is `users`). A
//! mock of that name in the workspace is updated when its content differs, byte for byte
//! (the SHA-256 of the file against the SHA-256 of the content the api holds); absent, it
//! is created; otherwise nothing is sent. Every changed file is validated first
//! (`POST /validate`): when any has an error, each finding is printed as
//! `FILE:LINE:COL: error: …` and nothing at all changes (exit 2).
//!
//! `--publish` publishes every pushed mock that does not serve its revision yet (an update
//! of a published mock is republished by the api anyway). `--prune`, for a folder only,
//! unpublishes (never deletes) every other published mock of the workspace: a mock whose
//! file is gone. It manages the whole workspace, so give CI a workspace of its own (an
//! org) when people also make mocks by hand. `--wait` then waits for all of it
//! ([`crate::wait`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use moclojer_domain::MockName;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::{Api, ApiError, Body};
use crate::diagnostics::{self, Diagnostic};
use crate::exit::{CtlResult, Failure};
use crate::mocks::{self, Mock};
use crate::out;
use crate::wait::{self, Goal, Target};

/// What `push` was asked.
#[derive(Debug, Clone)]
pub(crate) struct PushOptions {
    /// A file, or a folder of `*.yml`/`*.yaml` files.
    pub(crate) path: PathBuf,
    /// The mock's name, for a file (its stem when absent).
    pub(crate) name: Option<String>,
    /// The workspace; the caller's personal one when absent.
    pub(crate) workspace: Option<String>,
    /// Publish what is pushed.
    pub(crate) publish: bool,
    /// Unpublish the workspace's mocks that have no file.
    pub(crate) prune: bool,
    /// Wait at most this long for the hosts.
    pub(crate) wait: Option<Duration>,
    /// Print one JSON document.
    pub(crate) json: bool,
}

/// One file as read.
#[derive(Debug, Clone)]
struct Local {
    file: String,
    name: String,
    content: String,
}

/// What a push did to one mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    Created,
    Updated,
    Unchanged,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// One file and the mock it becomes.
#[derive(Debug, Clone)]
struct Planned {
    local: Local,
    /// The mock as the api holds it now, with its content.
    current: Option<Mock>,
    action: Action,
}

/// One pushed mock, as reported.
#[derive(Debug, Clone, Serialize)]
struct Pushed {
    file: String,
    name: String,
    id: String,
    action: Action,
    revision: u64,
    url: String,
    published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    live_after_seconds: Option<f64>,
}

/// One unpublished mock, as reported.
#[derive(Debug, Clone, Serialize)]
struct Pruned {
    name: String,
    id: String,
    url: String,
}

/// The JSON report.
#[derive(Debug, Clone, Serialize)]
struct Report {
    workspace: String,
    mocks: Vec<Pushed>,
    unpublished: Vec<Pruned>,
}

/// `POST /validate`'s answer.
#[derive(Debug, Deserialize)]
struct Validated {
    valid: bool,
    diagnostics: Vec<Diagnostic>,
}

/// The SHA-256 of `content`, in hex.
pub(crate) fn digest(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Runs `push`.
pub(crate) async fn push(api: &Api, options: PushOptions) -> CtlResult<()> {
    let folder = options.path.is_dir();
    if options.prune && !folder {
        return Err(Failure::usage(
            "--prune needs a folder: it unpublishes the mocks whose file is not in it",
        ));
    }
    let locals = read_locals(&options.path, options.name.as_deref())?;
    let workspace = mocks::workspace_or_personal(api, options.workspace.as_deref()).await?;
    let existing = mocks::mocks_of(mocks::list(api).await?, &workspace)?;
    let planned = plan(api, locals, &existing).await?;
    validate_changed(api, &planned).await?;
    let mut pushed = apply(api, &workspace, planned, options.json).await?;
    if options.publish {
        publish_all(api, &mut pushed, options.json).await?;
    }
    let pruned = if options.prune {
        prune(api, &existing, &pushed, &options.path, options.json).await?
    } else {
        Vec::new()
    };
    let mut report = Report {
        workspace,
        mocks: pushed.into_iter().map(|(p, _)| p).collect(),
        unpublished: pruned,
    };
    if let Some(timeout) = options.wait {
        wait_for(api, &mut report, timeout).await?;
    }
    if options.json {
        return out::json(&report);
    }
    out::say(&summary(&report));
    Ok(())
}

/// The files `path` names: itself, or the folder's `*.yml` and `*.yaml` files (not its
/// subfolders), sorted. Exit 1 for a bad name, two files of one name, an empty folder;
/// exit 2 for a file that is not UTF-8.
fn read_locals(path: &Path, name: Option<&str>) -> CtlResult<Vec<Local>> {
    let files = if path.is_dir() {
        if name.is_some() {
            return Err(Failure::usage(
                "--name is for one file; a folder's mocks are named after their files",
            ));
        }
        spec_files(path)?
    } else {
        vec![path.to_path_buf()]
    };
    let mut locals = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut not_utf8 = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let name = match name {
            Some(name) => name.to_owned(),
            None => stem(&file),
        };
        MockName::parse(&name).map_err(|e| {
            Failure::usage(format!(
                "{shown}: {name:?} cannot name a mock: {e} (rename the file, or pass --name for one file)"
            ))
        })?;
        if let Some(other) = seen.insert(name.clone(), shown.clone()) {
            return Err(Failure::usage(format!(
                "{other} and {shown} would both be the mock {name:?}"
            )));
        }
        let bytes = std::fs::read(&file)
            .map_err(|e| Failure::usage(format!("cannot read {shown}: {e}")))?;
        match String::from_utf8(bytes) {
            Ok(content) => locals.push(Local {
                file: shown,
                name,
                content,
            }),
            Err(e) => {
                let finding = diagnostics::not_utf8(e.as_bytes(), e.utf8_error().valid_up_to());
                diagnostics::report(&shown, &[finding]);
                not_utf8.push(shown);
            }
        }
    }
    if !not_utf8.is_empty() {
        return Err(Failure::invalid(format!(
            "not UTF-8 text: {}; nothing was changed",
            not_utf8.join(", ")
        )));
    }
    Ok(locals)
}

/// The folder's `*.yml` and `*.yaml` files, sorted; exit 1 when there is none.
fn spec_files(dir: &Path) -> CtlResult<Vec<PathBuf>> {
    let shown = dir.display();
    let entries =
        std::fs::read_dir(dir).map_err(|e| Failure::usage(format!("cannot read {shown}: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml")
                })
        })
        .collect();
    if files.is_empty() {
        return Err(Failure::usage(format!(
            "{shown} has no *.yml or *.yaml file"
        )));
    }
    files.sort();
    Ok(files)
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What each file will do: the api's content (`GET /mocks/{id}`) is compared with the
/// file's by digest.
async fn plan(api: &Api, locals: Vec<Local>, existing: &[Mock]) -> CtlResult<Vec<Planned>> {
    let by_name: HashMap<&str, &Mock> = existing.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut planned = Vec::new();
    for local in locals {
        let (current, action) = match by_name.get(local.name.as_str()) {
            None => (None, Action::Created),
            Some(listed) => {
                let current: Mock = api.get(&format!("/mocks/{}", listed.id)).await?;
                let held = digest(current.content.as_deref().unwrap_or_default());
                let action = if held == digest(&local.content) {
                    Action::Unchanged
                } else {
                    Action::Updated
                };
                (Some(current), action)
            }
        };
        planned.push(Planned {
            local,
            current,
            action,
        });
    }
    Ok(planned)
}

/// A refusal of `file`'s content: its findings printed, exit 2 (or the api's own exit).
fn spec_failure(file: &str, error: ApiError) -> Failure {
    diagnostics::report(file, &error.diagnostics);
    match error.exit() {
        crate::exit::Exit::Invalid => Failure::invalid(format!("{file}: {}", error.message)),
        _ => error.into(),
    }
}

/// Validates every file that will be sent; prints every finding; exit 2 when any has
/// an error, before anything changes.
async fn validate_changed(api: &Api, planned: &[Planned]) -> CtlResult<()> {
    let mut refused = Vec::new();
    for p in planned.iter().filter(|p| p.action != Action::Unchanged) {
        let body = json!({ "content": p.local.content });
        let validated: Validated = api
            .call(Method::POST, "/validate", Body::Json(&body))
            .await
            .map_err(|e| spec_failure(&p.local.file, e))?;
        let errors = diagnostics::report(&p.local.file, &validated.diagnostics);
        if !validated.valid || errors > 0 {
            refused.push(p.local.file.clone());
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Failure::invalid(format!(
        "{} does not validate; nothing was changed",
        refused.join(", ")
    )))
}

/// Creates and updates; returns each mock as it now is, with its report line.
async fn apply(
    api: &Api,
    workspace: &str,
    planned: Vec<Planned>,
    json: bool,
) -> CtlResult<Vec<(Pushed, Mock)>> {
    let mut pushed = Vec::new();
    for Planned {
        local,
        current,
        action,
    } in planned
    {
        let mock: Mock = match (action, current) {
            (Action::Unchanged, Some(current)) => current,
            (Action::Updated, Some(current)) => {
                let body = json!({ "content": local.content, "revision": current.revision });
                api.call(
                    Method::PUT,
                    &format!("/mocks/{}", current.id),
                    Body::Json(&body),
                )
                .await
                .map_err(|e| spec_failure(&local.file, e))?
            }
            _ => {
                let body =
                    json!({ "workspace": workspace, "name": local.name, "content": local.content });
                api.call(Method::POST, "/mocks", Body::Json(&body))
                    .await
                    .map_err(|e| spec_failure(&local.file, e))?
            }
        };
        if !json {
            out::say(&format!(
                "{} {}: revision {} ({})",
                action.as_str(),
                mock.name,
                mock.revision,
                local.file
            ));
        }
        pushed.push((
            Pushed {
                file: local.file,
                name: mock.name.clone(),
                id: mock.id.clone(),
                action,
                revision: mock.revision,
                url: mock.url.clone(),
                published: mock.enabled,
                live_after_seconds: None,
            },
            mock,
        ));
    }
    Ok(pushed)
}

/// Publishes each pushed mock that neither serves its revision nor is on its way to.
async fn publish_all(api: &Api, pushed: &mut [(Pushed, Mock)], json: bool) -> CtlResult<()> {
    for (report, mock) in pushed.iter_mut() {
        let publishing = mock
            .publication
            .as_ref()
            .is_some_and(|p| p.server.status == "publishing");
        if mock.enabled && (mock.is_live() || publishing) {
            continue;
        }
        api.call::<serde_json::Value>(
            Method::POST,
            &format!("/mocks/{}/publish", mock.id),
            Body::Json(&json!({})),
        )
        .await
        .map_err(|e| spec_failure(&report.file, e))?;
        mock.enabled = true;
        report.published = true;
        if !json {
            out::say(&format!(
                "publishing {}: revision {} at {}",
                mock.name, mock.revision, mock.url
            ));
        }
    }
    Ok(())
}

/// Unpublishes the workspace's published mocks that no file names.
async fn prune(
    api: &Api,
    existing: &[Mock],
    pushed: &[(Pushed, Mock)],
    folder: &Path,
    json: bool,
) -> CtlResult<Vec<Pruned>> {
    let kept: HashSet<&str> = pushed.iter().map(|(p, _)| p.name.as_str()).collect();
    let mut pruned = Vec::new();
    for mock in existing.iter().filter(|m| !kept.contains(m.name.as_str())) {
        let offline = mock
            .publication
            .as_ref()
            .is_none_or(|p| p.server.status == "offline");
        if !mock.enabled && offline {
            continue;
        }
        api.call::<serde_json::Value>(
            Method::POST,
            &format!("/mocks/{}/unpublish", mock.id),
            Body::Json(&json!({})),
        )
        .await?;
        if !json {
            out::say(&format!(
                "unpublished {}: no file for it in {}",
                mock.name,
                folder.display()
            ));
        }
        pruned.push(Pruned {
            name: mock.name.clone(),
            id: mock.id.clone(),
            url: mock.url.clone(),
        });
    }
    Ok(pruned)
}

/// Waits for every published mock of `report` to serve its revision and every pruned one
/// to stop answering; records how long each took.
async fn wait_for(api: &Api, report: &mut Report, timeout: Duration) -> CtlResult<()> {
    let live = report.mocks.iter().filter(|p| p.published).map(|p| Target {
        label: p.file.clone(),
        id: p.id.clone(),
        url: p.url.clone(),
        goal: Goal::Live(p.revision),
    });
    let gone = report.unpublished.iter().map(|p| Target {
        label: p.name.clone(),
        id: p.id.clone(),
        url: p.url.clone(),
        goal: Goal::Offline,
    });
    let targets: Vec<Target> = live.chain(gone).collect();
    if targets.is_empty() {
        out::note("--wait: nothing is published, so nothing to wait for (add --publish)");
        return Ok(());
    }
    let arrived = wait::wait(api, targets, timeout).await?;
    for a in arrived {
        if let Some(p) = report.mocks.iter_mut().find(|p| p.id == a.id) {
            p.live_after_seconds = Some(a.seconds);
        }
    }
    Ok(())
}

/// `3 mocks in alice: 1 created, 1 updated, 1 unchanged; 1 unpublished`.
fn summary(report: &Report) -> String {
    let count = |action| report.mocks.iter().filter(|p| p.action == action).count();
    let mut line = format!(
        "{} mock(s) in {}: {} created, {} updated, {} unchanged",
        report.mocks.len(),
        report.workspace,
        count(Action::Created),
        count(Action::Updated),
        count(Action::Unchanged)
    );
    if !report.unpublished.is_empty() {
        line.push_str(&format!("; {} unpublished", report.unpublished.len()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_sha256_hex() {
        assert_eq!(
            digest(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(digest("a\n"), digest("a"));
    }

    #[test]
    fn a_folder_maps_each_spec_file_to_a_mock_named_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("users.yml"), "- endpoint: {}\n").expect("write");
        std::fs::write(dir.path().join("orders.YAML"), "x").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "x").expect("write");
        std::fs::create_dir(dir.path().join("sub.yml")).expect("mkdir");
        let locals = read_locals(dir.path(), None).expect("read");
        let names: Vec<&str> = locals.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["orders", "users"]);
        assert!(
            read_locals(dir.path(), Some("x")).is_err(),
            "--name with a folder"
        );
    }

    #[test]
    fn bad_names_and_clashes_are_usage_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.yml"), "x").expect("write");
        std::fs::write(dir.path().join("a.yaml"), "x").expect("write");
        let clash = read_locals(dir.path(), None).expect_err("clash");
        assert_eq!(clash.exit, crate::exit::Exit::Usage);
        let bad = dir.path().join("Bad Name.yml");
        std::fs::write(&bad, "x").expect("write");
        let refused = read_locals(&bad, None).expect_err("bad name");
        assert_eq!(refused.exit, crate::exit::Exit::Usage);
        assert!(read_locals(&bad, Some("good")).is_ok());
        let empty = tempfile::tempdir().expect("tempdir");
        assert!(read_locals(empty.path(), None).is_err());
    }

    #[test]
    fn a_file_that_is_not_utf8_does_not_validate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("m.yml");
        std::fs::write(&file, b"a\xff").expect("write");
        let refused = read_locals(&file, None).expect_err("not utf-8");
        assert_eq!(refused.exit, crate::exit::Exit::Invalid);
    }
}
