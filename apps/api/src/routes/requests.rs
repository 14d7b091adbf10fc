//! A mock's request journal: the requests its host received, newest first, cleared on
//! demand, and followed live as server-sent events.
//!
//! The records are the mock servers' (see `moclojer_foss`'s recorder); the wire form is
//! [`moclojer_ports::entry_json`], the listing's parameters [`JournalQuery::from_params`],
//! the same as the standalone server's admin listener. Every route is scoped like the
//! other mock routes: another user's mock is 404.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use moclojer_domain::journal::ItemLines;
use moclojer_domain::spec::parse_yaml;
use moclojer_domain::{Host, Mock};
use moclojer_ports::{
    JournalEntry, JournalQuery, MAX_JOURNAL_PAGE, PortErrorKind, RecordId, RequestJournal, Scope,
    entry_json, page_json,
};
use poem::web::sse::Event;
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};

use super::Tag;
use crate::error::{ApiError, ApiResult};
use crate::state::{BearerToken, State};
use crate::views::NoContent;

/// How often a live stream looks for new records.
pub const STREAM_POLL: Duration = Duration::from_millis(200);

/// How long one live stream lasts; the client reconnects with `Last-Event-ID` and misses
/// nothing kept meanwhile.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The request journal's routes.
#[derive(Debug, Clone)]
pub struct RequestsApi(pub Arc<State>);

impl RequestsApi {
    /// The caller's mock `id` and the journal, or why not.
    async fn journal_of(
        &self,
        auth: &BearerToken,
        id: &str,
    ) -> ApiResult<(Mock, Scope, Arc<dyn RequestJournal>)> {
        let state = &self.0;
        let user = state.caller(auth).await?;
        let mock = state.mock(&user, id).await?;
        let scope = Scope::User(user.id);
        let journal = state.journal.clone().ok_or_else(|| {
            ApiError::unavailable(
                "the request journal is not configured on this api (--journal-url or --redis-url)",
            )
        })?;
        Ok((mock, scope, journal))
    }
}

/// Where the items of the revision `mock` serves start in its text (the current one when
/// none is live): a mock server knows an endpoint by its index in the generated object,
/// the user by its line. Lines stay as recorded when the text cannot be read.
async fn item_lines(state: &State, scope: &Scope, mock: &Mock) -> ItemLines {
    let live = match state.publications.get(scope, mock.id).await {
        Ok(publication) => publication.live_revision,
        Err(_) => None,
    };
    let content = match live.filter(|r| *r != mock.revision) {
        Some(revision) => match state.mocks.revision(scope, mock.id, revision).await {
            Ok(found) => found.content,
            Err(_) => mock.content.clone(),
        },
        None => mock.content.clone(),
    };
    parse_yaml(content.as_str(), &state.limits)
        .map(|spec| ItemLines::of(&spec))
        .unwrap_or_default()
}

fn journal_error(error: moclojer_ports::PortError) -> ApiError {
    match error.kind() {
        PortErrorKind::Invalid => ApiError::bad_request("bad_cursor", error.to_string()),
        _ => ApiError::from_port(error, "request journal"),
    }
}

/// The listing `pairs` ask for, or 400 naming the parameter.
fn query_of<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ApiResult<JournalQuery> {
    JournalQuery::from_params(pairs).map_err(|reason| ApiError::bad_request("bad_query", reason))
}

#[OpenApi(prefix_path = "/api/v1")]
impl RequestsApi {
    /// The requests the mock's host received, newest first: `{"requests": [...], "next":
    /// cursor | null}`. `limit` (1 to 1,000, default 100), `before` (the previous page's
    /// `next`), `method`, `status` and `path_prefix` narrow the list. Secret headers show
    /// `[redacted]`; bodies are cut at 64 KiB (`body_truncated`); a request no endpoint
    /// answered lists its near misses.
    #[oai(path = "/mocks/:id/requests", method = "get", tag = "Tag::Mocks")]
    #[allow(
        clippy::too_many_arguments,
        reason = "one parameter per query parameter"
    )]
    async fn list_requests(
        &self,
        auth: BearerToken,
        id: Path<String>,
        limit: Query<Option<String>>,
        before: Query<Option<String>>,
        method: Query<Option<String>>,
        status: Query<Option<String>>,
        path_prefix: Query<Option<String>>,
    ) -> ApiResult<Json<serde_json::Value>> {
        let query = query_of(
            [
                ("limit", &limit.0),
                ("before", &before.0),
                ("method", &method.0),
                ("status", &status.0),
                ("path_prefix", &path_prefix.0),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value.as_deref()?))),
        )?;
        let (mock, scope, journal) = self.journal_of(&auth, &id.0).await?;
        let mut page = journal
            .list(mock.host.as_str(), &query)
            .await
            .map_err(journal_error)?;
        if !page.entries.is_empty() {
            let lines = item_lines(&self.0, &scope, &mock).await;
            for entry in &mut page.entries {
                lines.relocate(&mut entry.record);
            }
        }
        Ok(Json(page_json(&page)))
    }

    /// Forgets every request the mock's host received.
    #[oai(path = "/mocks/:id/requests", method = "delete", tag = "Tag::Mocks")]
    async fn clear_requests(&self, auth: BearerToken, id: Path<String>) -> ApiResult<NoContent> {
        let (mock, _, journal) = self.journal_of(&auth, &id.0).await?;
        journal
            .clear(mock.host.as_str())
            .await
            .map_err(journal_error)?;
        Ok(NoContent::Done)
    }

    /// New requests as they arrive, as server-sent events (`event: request`, `id:` the
    /// record's id, `data:` one record as the listing shows it), within a second of the
    /// request. Starts after `Last-Event-ID` or `after` when given (so a reconnecting
    /// client misses nothing kept), else with what arrives from now on. A stream lasts an
    /// hour; reconnect to go on.
    #[oai(
        path = "/mocks/:id/requests/stream",
        method = "get",
        tag = "Tag::Mocks"
    )]
    async fn stream_requests(
        &self,
        auth: BearerToken,
        id: Path<String>,
        after: Query<Option<String>>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<String>>,
    ) -> ApiResult<EventStream<BoxStream<'static, serde_json::Value>>> {
        let (mock, scope, journal) = self.journal_of(&auth, &id.0).await?;
        let start = match last_event_id.0.or(after.0).filter(|s| !s.is_empty()) {
            Some(raw) => Some(RecordId::parse(&raw).ok_or_else(|| {
                ApiError::bad_request("bad_cursor", "after must be a record id from a listing")
            })?),
            None => newest(journal.as_ref(), &mock.host).await?,
        };
        let entries = follow(Arc::clone(&self.0), scope, mock, journal, start);
        Ok(EventStream::new(entries)
            .keep_alive(Duration::from_secs(15))
            .to_event(|value| {
                let id = value["id"].as_str().unwrap_or_default().to_owned();
                Event::message(value.to_string())
                    .event_type("request")
                    .id(id)
            }))
    }
}

/// The id of `host`'s newest record, when it has one.
async fn newest(journal: &dyn RequestJournal, host: &Host) -> ApiResult<Option<RecordId>> {
    let page = journal
        .list(host.as_str(), &JournalQuery::newest(1))
        .await
        .map_err(journal_error)?;
    Ok(page.entries.into_iter().next().map(|e| e.id))
}

/// `mock`'s records after `start`, oldest first, as they arrive, for [`STREAM_LIFETIME`].
/// A journal that fails is asked again at the next look.
fn follow(
    state: Arc<State>,
    scope: Scope,
    mock: Mock,
    journal: Arc<dyn RequestJournal>,
    start: Option<RecordId>,
) -> BoxStream<'static, serde_json::Value> {
    let until = tokio::time::Instant::now() + STREAM_LIFETIME;
    let looks = stream::unfold(
        (Arc::new((state, scope, mock, journal)), start, true),
        move |(held, cursor, first)| async move {
            let (state, scope, mock, journal) = &*held;
            let host = &mock.host;
            if !first {
                tokio::time::sleep(STREAM_POLL).await;
            }
            if tokio::time::Instant::now() >= until {
                return None;
            }
            let query = JournalQuery {
                after: cursor.clone(),
                ..JournalQuery::newest(MAX_JOURNAL_PAGE)
            };
            let mut fresh: Vec<JournalEntry> = match journal.list(host.as_str(), &query).await {
                Ok(page) => page.entries,
                Err(e) => {
                    tracing::debug!(error = %e, "request stream: the journal failed; trying again");
                    Vec::new()
                }
            };
            fresh.reverse();
            if !fresh.is_empty() {
                let lines = item_lines(state, scope, mock).await;
                for entry in &mut fresh {
                    lines.relocate(&mut entry.record);
                }
            }
            let cursor = fresh.last().map(|e| e.id.clone()).or(cursor);
            let values: Vec<serde_json::Value> = fresh.iter().map(entry_json).collect();
            Some((stream::iter(values), (held, cursor, false)))
        },
    );
    looks.flatten().boxed()
}
