//! Settling publications: a `publishing` revision is checked and marked `published` or
//! `invalid`.
//!
//! The check is the hosted service's one check ([`CloudCheck`]), run on the author's own
//! text, so every diagnostic's line and column point into what they wrote. A `host` the
//! author wrote is allowed there (it is replaced, never trusted). Then the text the store
//! will hold — the items with the mock's host injected — is checked too: setting one host
//! everywhere cannot make a valid spec invalid, but the text is what gets served, so it
//! must pass on its own; a finding there (none is known) is reported with its item and key,
//! at line 1, column 1, since it has no place in the author's text.

use anyhow::Context;
use moclojer_domain::spec::{CloudCheck, Limits};
use moclojer_domain::{Diagnostic, Event, EventKind, MockId, Publication, Revision, ServerStatus};
use moclojer_ports::{
    PortErrorKind, PublicationChange, PublicationChangeError, Scope, change_publication_with,
};

use crate::Deps;
use crate::items::{ItemsError, items_with_host, render};

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
    let pending = deps
        .publications
        .publishing(&Scope::System)
        .await
        .context("list pending publications")?;
    settle_mocks(deps, &pending).await
}

/// Settles the publications of `mock_ids` that are `publishing` (the others are left as
/// they are).
pub(crate) async fn settle_mocks(deps: &Deps, mock_ids: &[MockId]) -> anyhow::Result<Settled> {
    let mut settled = Settled::default();
    for &mock_id in mock_ids {
        match settle_one(deps, mock_id).await? {
            Some(Verdict::Published) => settled.published += 1,
            Some(Verdict::Invalid) => settled.invalid += 1,
            None => {}
        }
    }
    Ok(settled)
}

/// Checks the requested revision and saves the outcome (on a fresh read after a
/// conflict). Returns `None` when nothing was saved: no longer publishing, the mock is
/// gone, or the publication kept changing (left for the next rebuild).
async fn settle_one(deps: &Deps, mock_id: MockId) -> anyhow::Result<Option<Verdict>> {
    let changed = change_publication_with(
        deps.publications.as_ref(),
        &Scope::System,
        mock_id,
        |mut publication| async move {
            let Some(verdict) = decide(deps, &mut publication).await? else {
                return Ok::<_, anyhow::Error>(None);
            };
            let event = Event::new(
                deps.ids.event_id(),
                deps.clock.now(),
                EventKind::PublicationChanged { mock_id },
            );
            tracing::debug!(%mock_id, ?verdict, "settling");
            Ok(Some((publication, vec![event])))
        },
    )
    .await;
    match changed {
        Ok(PublicationChange::Saved(publication)) => {
            let verdict = match publication.server.status() {
                ServerStatus::Published => Verdict::Published,
                _ => Verdict::Invalid,
            };
            tracing::info!(%mock_id, live = ?publication.live_revision, ?verdict, "publication settled");
            Ok(Some(verdict))
        }
        Ok(PublicationChange::Unchanged(_)) => Ok(None),
        Err(PublicationChangeError::Port(e)) if e.kind() == PortErrorKind::NotFound => Ok(None),
        Err(PublicationChangeError::Port(e)) => {
            Err(e).with_context(|| format!("settle the publication of mock {mock_id}"))
        }
        Err(PublicationChangeError::Refused(e)) => Err(e),
        Err(e @ PublicationChangeError::KeptChanging { .. }) => {
            tracing::info!(%mock_id, "{e}; left for the next rebuild");
            Ok(None)
        }
    }
}

/// Marks `publication` published or invalid by the check of its requested revision;
/// `None` (and no change) when it is not publishing or its mock is gone.
async fn decide(deps: &Deps, publication: &mut Publication) -> anyhow::Result<Option<Verdict>> {
    let mock_id = publication.mock_id;
    if publication.server.status() != ServerStatus::Publishing {
        return Ok(None);
    }
    let Some(revision) = publication.requested_revision else {
        tracing::warn!(%mock_id, "publishing without a requested revision; left as it is");
        return Ok(None);
    };
    let Some(findings) = findings_for(deps, mock_id, revision).await? else {
        return Ok(None);
    };
    let now = deps.clock.now();
    let verdict = match findings {
        Ok(()) => {
            publication.mark_published(revision, now)?;
            Verdict::Published
        }
        Err(diagnostics) => {
            publication.mark_invalid(revision, diagnostics, now)?;
            Verdict::Invalid
        }
    };
    Ok(Some(verdict))
}

/// The findings on `revision` of mock `mock_id`: `Ok(())` when it may be served, the
/// diagnostics otherwise; `None` when the mock was deleted meanwhile.
async fn findings_for(
    deps: &Deps,
    mock_id: MockId,
    revision: Revision,
) -> anyhow::Result<Option<Result<(), Vec<Diagnostic>>>> {
    let mock = match deps.mocks.get(&Scope::System, mock_id).await {
        Ok(mock) => mock,
        Err(e) if e.kind() == PortErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read mock {mock_id}")),
    };
    let content = match deps.mocks.revision(&Scope::System, mock_id, revision).await {
        Ok(found) => found.content,
        Err(e) if e.kind() == PortErrorKind::NotFound => {
            return Ok(Some(Err(vec![Diagnostic::error(
                1,
                1,
                format!("revision {revision} of this mock does not exist"),
            )])));
        }
        Err(e) => {
            return Err(e).with_context(|| format!("read revision {revision} of mock {mock_id}"));
        }
    };
    let cloud = CloudCheck {
        limits: &deps.limits,
        destinations: deps.destinations.as_ref(),
    };
    Ok(Some(check(content.as_str(), mock.host.as_str(), cloud)))
}

/// Checks a mock's text as its author wrote it, then as the store will hold it.
pub(crate) fn check(
    source: &str,
    host: &str,
    cloud: CloudCheck<'_>,
) -> Result<(), Vec<Diagnostic>> {
    cloud.check(source).map_err(non_empty)?;
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
        max_bytes: cloud.limits.max_bytes.max(served.len()),
        ..*cloud.limits
    };
    let served_cloud = CloudCheck {
        limits: &served_limits,
        ..cloud
    };
    served_cloud.check(&served).map_err(|findings| {
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
    use moclojer_domain::spec::AnyDestination;

    use super::*;

    fn cloud(limits: &Limits) -> CloudCheck<'_> {
        CloudCheck {
            limits,
            destinations: &AnyDestination,
        }
    }

    #[test]
    fn findings_point_into_the_authors_text() {
        let source = "- endpoint:\n    path: /a\n    response:\n      status: 99999\n";
        let findings = check(source, "a-b.test", cloud(&Limits::default())).unwrap_err();
        assert!(
            findings.iter().any(|d| d.is_error() && d.line == 4),
            "{findings:?}"
        );
    }

    #[test]
    fn an_authors_host_is_no_reason_to_refuse() {
        let source = "- endpoint:\n    host: somewhere.example.com\n    path: /a\n";
        assert_eq!(check(source, "a-b.test", cloud(&Limits::default())), Ok(()));
    }

    #[test]
    fn warnings_alone_do_not_refuse() {
        // the second route is shadowed by the first: a warning
        let source = "- endpoint:\n    path: /a\n- endpoint:\n    path: /a\n";
        assert_eq!(check(source, "a-b.test", cloud(&Limits::default())), Ok(()));
    }
}
