//! Settling publications: a `publishing` revision is checked and marked `published` or
//! `invalid`.
//!
//! The check runs on the author's own text, so every diagnostic's line and column point
//! into what they wrote. A `host` the author wrote is allowed there (it is replaced, never
//! trusted). Then the text the store will hold — the items with the mock's host injected —
//! is checked too: setting one host everywhere cannot make a valid spec invalid, but the
//! text is what gets served, so it must pass on its own; a finding there (none is known) is
//! reported with its item and key, at line 1, column 1, since it has no place in the
//! author's text.

use anyhow::Context;
use moclojer_domain::spec::{self, Format, Limits, Mode};
use moclojer_domain::{Diagnostic, Event, EventKind, Mock, Publication, Revision, ServerStatus};
use moclojer_ports::{PortErrorKind, Scope};

use crate::Deps;
use crate::store::{ItemsError, items_with_host, render};

/// How many publications one rebuild settled, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    pub(crate) published: usize,
    pub(crate) invalid: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Published,
    Invalid,
}

/// Settles every publication that is `publishing`.
pub(crate) async fn settle(deps: &Deps) -> anyhow::Result<Settled> {
    let pending: Vec<Publication> = deps
        .publications
        .list(&Scope::System)
        .await
        .context("list publications")?
        .into_iter()
        .filter(|p| p.server.status() == ServerStatus::Publishing)
        .collect();
    let mut settled = Settled::default();
    for publication in pending {
        match settle_one(deps, publication).await? {
            Some(Verdict::Published) => settled.published += 1,
            Some(Verdict::Invalid) => settled.invalid += 1,
            None => {}
        }
    }
    Ok(settled)
}

/// Checks the requested revision and saves the outcome. When someone else saved the
/// publication first, it is read again and settled once more; after a second conflict it
/// is left for the next rebuild. Returns `None` when nothing was saved.
async fn settle_one(deps: &Deps, mut publication: Publication) -> anyhow::Result<Option<Verdict>> {
    let mock_id = publication.mock_id;
    for attempt in 0..2 {
        if attempt > 0 {
            match deps.publications.get(&Scope::System, mock_id).await {
                Ok(fresh) => publication = fresh,
                Err(e) if e.kind() == PortErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e).context("read the publication again"),
            }
        }
        if publication.server.status() != ServerStatus::Publishing {
            return Ok(None);
        }
        let Some(revision) = publication.requested_revision else {
            tracing::warn!(%mock_id, "publishing without a requested revision; left as it is");
            return Ok(None);
        };
        let mock = match deps.mocks.get(&Scope::System, mock_id).await {
            Ok(mock) => mock,
            Err(e) if e.kind() == PortErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("read mock {mock_id}")),
        };
        let findings = match findings_for(deps, &mock, revision).await? {
            Some(findings) => findings,
            None => return Ok(None),
        };
        let now = deps.clock.now();
        let (moved, verdict) = match findings {
            Ok(()) => (
                publication.mark_published(revision, now),
                Verdict::Published,
            ),
            Err(diagnostics) => (
                publication.mark_invalid(revision, diagnostics, now),
                Verdict::Invalid,
            ),
        };
        moved.with_context(|| format!("settle the publication of mock {mock_id}"))?;
        let event = Event::new(
            deps.ids.event_id(),
            now,
            EventKind::PublicationChanged { mock_id },
        );
        match deps
            .publications
            .save(&Scope::System, &publication, &[event])
            .await
        {
            Ok(_) => {
                tracing::info!(
                    %mock_id,
                    host = %mock.host,
                    %revision,
                    verdict = ?verdict,
                    "publication settled"
                );
                return Ok(Some(verdict));
            }
            Err(e) if e.kind() == PortErrorKind::Conflict => {
                tracing::debug!(%mock_id, attempt, "the publication changed meanwhile");
            }
            Err(e) if e.kind() == PortErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("save the publication of mock {mock_id}"));
            }
        }
    }
    tracing::info!(%mock_id, "the publication keeps changing; left for the next rebuild");
    Ok(None)
}

/// The findings on `revision` of `mock`: `Ok(())` when it may be served, the diagnostics
/// otherwise; `None` when the mock was deleted meanwhile.
async fn findings_for(
    deps: &Deps,
    mock: &Mock,
    revision: Revision,
) -> anyhow::Result<Option<Result<(), Vec<Diagnostic>>>> {
    let found = deps.mocks.revision(&Scope::System, mock.id, revision).await;
    let content = match found {
        Ok(found) => found.content,
        Err(e) if e.kind() == PortErrorKind::NotFound => {
            return match deps.mocks.get(&Scope::System, mock.id).await {
                Err(e) if e.kind() == PortErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("read mock {}", mock.id)),
                Ok(_) => Ok(Some(Err(vec![Diagnostic::error(
                    1,
                    1,
                    format!("revision {revision} of this mock does not exist"),
                )]))),
            };
        }
        Err(e) => {
            return Err(e).with_context(|| format!("read revision {revision} of mock {}", mock.id));
        }
    };
    Ok(Some(check(
        content.as_str(),
        mock.host.as_str(),
        &deps.limits,
    )))
}

/// Checks a mock's text as its author wrote it, then as the store will hold it.
pub(crate) fn check(source: &str, host: &str, limits: &Limits) -> Result<(), Vec<Diagnostic>> {
    spec::check(source, Format::Yaml, Mode::Cloud, limits).map_err(non_empty)?;
    let items = items_with_host(source, host).map_err(|e| {
        vec![match e {
            ItemsError::Read(diagnostic) => diagnostic,
            ItemsError::NotAList => Diagnostic::error(1, 1, "a spec is a list of items"),
        }]
    })?;
    let served = render(&items);
    // The generated text may be longer than the author's (quotes, escapes, expanded
    // aliases); its size was bounded by the first check, its shape is bounded the same way.
    let served_limits = Limits {
        max_bytes: limits.max_bytes.max(served.len()),
        ..*limits
    };
    spec::check(&served, Format::Yaml, Mode::Cloud, &served_limits).map_err(|findings| {
        non_empty(
            findings
                .into_iter()
                .map(|d| Diagnostic {
                    line: 1,
                    column: 1,
                    message: format!("with `host: {host}` set: {}", d.message),
                    ..d
                })
                .collect(),
        )
    })?;
    Ok(())
}

/// A refusal always says why.
fn non_empty(mut findings: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if findings.is_empty() {
        findings.push(Diagnostic::error(1, 1, "the spec was refused"));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_point_into_the_authors_text() {
        let source = "- endpoint:\n    path: /a\n    response:\n      status: 99999\n";
        let findings = check(source, "a-b.test", &Limits::default()).unwrap_err();
        assert!(
            findings.iter().any(|d| d.is_error() && d.line == 4),
            "{findings:?}"
        );
    }

    #[test]
    fn an_authors_host_is_no_reason_to_refuse() {
        let source = "- endpoint:\n    host: somewhere.example.com\n    path: /a\n";
        assert_eq!(check(source, "a-b.test", &Limits::default()), Ok(()));
    }

    #[test]
    fn warnings_alone_do_not_refuse() {
        // the second route is shadowed by the first: a warning
        let source = "- endpoint:\n    path: /a\n- endpoint:\n    path: /a\n";
        assert_eq!(check(source, "a-b.test", &Limits::default()), Ok(()));
    }
}
