//! Mocks: create, read, edit, delete, publish and unpublish, with their history.
//!
//! Content is validated on every write with the validator the generator uses, so an
//! invalid spec is refused (422, with line and column) before it is stored. An edit of a
//! published mock republishes it; the generator settles every publish, keeping the last
//! good revision live until the new one is.

use std::collections::HashMap;
use std::sync::Arc;

use moclojer_domain::{
    CorrelationId, EventKind, Host, Mock, MockError, MockId, MockName, Publication, Revision,
    SpecSource, SpecSourceError, User,
};
use moclojer_ports::{
    MAX_REVISION_PAGE, PortErrorKind, PublicationChangeError, RevisionQuery, Scope,
    change_publication,
};
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use super::Tag;
use crate::error::{ApiError, ApiResult, diagnostics_json};
use crate::quotas;
use crate::state::{BearerToken, State};
use crate::views::{
    Created, EditMock, HostAvailability, MockList, MockView, NewMock, NoContent, PublicationView,
    RevisionPageView, RevisionView, ValidateReply, ValidateRequest, WorkspaceMocks, WorkspaceView,
};

/// What a mock holds when it is made without content: one endpoint that says hello.
pub const STARTER_SPEC: &str = r#"- endpoint:
    method: GET
    path: /hello
    response:
      status: 200
      headers:
        Content-Type: application/json
      body: >
        {"hello": "world"}
"#;

/// The history page the `limit` and `before` parameters ask for (an empty value is no
/// value), or 400 naming the parameter.
fn revision_query(limit: Option<&str>, before: Option<&str>) -> ApiResult<RevisionQuery> {
    let mut query = RevisionQuery::default();
    if let Some(raw) = limit.filter(|raw| !raw.is_empty()) {
        query.limit = raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_REVISION_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "limit",
                    format!("limit must be a number from 1 to {MAX_REVISION_PAGE}"),
                )
            })?;
    }
    if let Some(raw) = before.filter(|raw| !raw.is_empty()) {
        let revision = raw.parse::<u64>().ok().and_then(Revision::new);
        query.before = Some(revision.ok_or_else(|| {
            ApiError::bad_field(
                "before",
                "before must be a revision number (1 or more), such as a page's next",
            )
        })?);
    }
    Ok(query)
}

/// Mocks and their publication.
#[derive(Debug, Clone)]
pub struct MocksApi(pub Arc<State>);

fn spec_source(content: String) -> ApiResult<SpecSource> {
    SpecSource::new(content).map_err(|e| match e {
        SpecSourceError::TooLarge { .. } => ApiError::too_large(e.to_string()),
        SpecSourceError::Nul(_) => ApiError::bad_field("content", e.to_string()),
    })
}

impl MocksApi {
    /// `content` as a spec that validates and holds no more endpoints than a mock may.
    fn checked(&self, content: String) -> ApiResult<SpecSource> {
        let source = spec_source(content)?;
        let (spec, _) = self
            .0
            .check_spec(source.as_str())
            .map_err(|diagnostics| ApiError::invalid_spec(&diagnostics))?;
        let items = spec.endpoints.len() + spec.websockets.len() + spec.resources.len();
        quotas::check_items(items, self.0.quotas.endpoints_per_mock)?;
        Ok(source)
    }

    async fn view(
        &self,
        user: &User,
        mock: &Mock,
        publication: Option<&Publication>,
    ) -> ApiResult<MockView> {
        let state = &self.0;
        let workspace = state
            .accounts
            .get_workspace(&Scope::User(user.id), mock.workspace_id)
            .await
            .map_err(|e| ApiError::from_port(e, "mock"))?;
        let mut view = MockView::new(
            mock,
            workspace.handle.as_str(),
            state.mocks_url.of(mock.host.as_str()),
        );
        let publication = match publication {
            Some(p) => p.clone(),
            None => state
                .publications
                .get(&Scope::User(user.id), mock.id)
                .await
                .map_err(|e| ApiError::from_port(e, "mock"))?,
        };
        view.publication = Some(PublicationView::from(&publication));
        Ok(view)
    }

    /// Loads the publication, applies `change` (which returns the kinds of the events the
    /// change implies; none means nothing to save), and saves it with those events; when
    /// the generator or ops saved it meanwhile, starts again from the fresh one.
    async fn change_publication<F>(
        &self,
        scope: &Scope,
        mock_id: MockId,
        correlation: &CorrelationId,
        mut change: F,
    ) -> ApiResult<Publication>
    where
        F: FnMut(&mut Publication) -> ApiResult<Vec<EventKind>>,
    {
        let state = &self.0;
        let changed = change_publication(state.publications.as_ref(), scope, mock_id, |p| {
            let kinds = change(p)?;
            Ok(if kinds.is_empty() {
                None
            } else {
                Some(
                    kinds
                        .into_iter()
                        .map(|kind| state.event(kind, Some(correlation)))
                        .collect(),
                )
            })
        })
        .await;
        match changed {
            Ok(change) => Ok(change.into_publication()),
            Err(PublicationChangeError::Port(e)) => Err(ApiError::from_port(e, "mock")),
            Err(PublicationChangeError::Refused(e)) => Err(e),
            Err(PublicationChangeError::KeptChanging { .. }) => Err(ApiError::conflict(
                "conflict",
                "the publication keeps changing; try again",
            )),
        }
    }

    /// Asks for `mock`'s current revision to be served (the rules are the domain's:
    /// nothing to do when it is live already, ops asked for the host when it has no DNS).
    async fn request_publish(
        &self,
        scope: &Scope,
        mock: &Mock,
        correlation: &CorrelationId,
    ) -> ApiResult<Publication> {
        let now = self.0.clock.now();
        self.change_publication(scope, mock.id, correlation, |p| {
            p.publish(mock.revision, &mock.host, now)
                .map_err(|e| ApiError::conflict("stale_revision", e.to_string()))
        })
        .await
    }

    async fn set_enabled(
        &self,
        scope: &Scope,
        mock: &mut Mock,
        enabled: bool,
        correlation: &CorrelationId,
    ) -> ApiResult<()> {
        let state = &self.0;
        if !mock.set_enabled(enabled, state.clock.now()) {
            return Ok(());
        }
        let event = state.event(
            EventKind::MockChanged {
                mock_id: mock.id,
                revision: mock.revision,
            },
            Some(correlation),
        );
        state
            .mocks
            .update(scope, mock, mock.revision, &[event])
            .await
            .map_err(|e| match e.kind() {
                PortErrorKind::Conflict => ApiError::conflict(
                    "stale_revision",
                    "the mock changed meanwhile; reload it and try again",
                ),
                _ => ApiError::from_port(e, "mock"),
            })
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl MocksApi {
    /// Makes a mock in a workspace the caller belongs to. Its host is
    /// `<name>-<workspace handle>.<zone>`, unique across everyone.
    #[oai(path = "/mocks", method = "post", tag = "Tag::Mocks")]
    async fn create_mock(
        &self,
        auth: BearerToken,
        body: Json<NewMock>,
        correlation: Data<&CorrelationId>,
    ) -> ApiResult<Created<MockView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let workspace = state.workspace(&user, body.workspace.trim()).await?;
        let name = MockName::parse(body.name.trim())
            .map_err(|e| ApiError::bad_field("name", e.to_string()))?;
        let content = self.checked(body.0.content.unwrap_or_else(|| STARTER_SPEC.to_owned()))?;
        let held = state
            .mocks
            .list_in_workspace(&Scope::User(user.id), workspace.id)
            .await
            .map_err(|e| ApiError::from_port(e, "workspace"))?
            .len();
        let limit = state.quotas.mocks_per_workspace;
        quotas::check_count("mocks_per_workspace", held, limit, "this workspace is full")?;
        let now = state.clock.now();
        let mock = Mock::create(
            state.ids.mock_id(),
            &workspace,
            name,
            &state.zone,
            content,
            now,
        );
        let event = state.event(
            EventKind::MockChanged {
                mock_id: mock.id,
                revision: mock.revision,
            },
            Some(&correlation),
        );
        state
            .mocks
            .create(&Scope::User(user.id), &mock, &[event])
            .await
            .map_err(|e| match e.kind() {
                PortErrorKind::Conflict => ApiError::conflict(
                    "host_taken",
                    format!("{} is taken; choose another name", mock.host),
                ),
                _ => ApiError::from_port(e, "workspace"),
            })?;
        state.forget_requests(&mock.host).await;
        state.forget_state(&mock.host).await;
        let publication = Publication::new(mock.id, now);
        Ok(Created::Created(Json(
            self.view(&user, &mock, Some(&publication)).await?,
        )))
    }

    /// Whether `name` is free in the workspace `workspace` (one the caller belongs to), with
    /// the host the mock would have. Hosts are public, so a host taken by anyone is
    /// reported as taken.
    #[oai(path = "/hosts/:workspace/:name", method = "get", tag = "Tag::Mocks")]
    async fn host_availability(
        &self,
        auth: BearerToken,
        workspace: Path<String>,
        name: Path<String>,
    ) -> ApiResult<Json<HostAvailability>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let workspace = state.workspace(&user, &workspace.0).await?;
        let name = match MockName::parse(&name.0) {
            Ok(name) => name,
            Err(e) => {
                return Ok(Json(HostAvailability {
                    host: None,
                    available: false,
                    reason: Some("invalid".to_owned()),
                    message: Some(e.to_string()),
                }));
            }
        };
        let host = Host::new(&name, &workspace.handle, &state.zone);
        let taken = match state.mocks.find_by_host(&Scope::System, &host).await {
            Ok(_) => true,
            Err(e) if e.kind() == PortErrorKind::NotFound => false,
            Err(e) => return Err(ApiError::from_port(e, "host")),
        };
        Ok(Json(HostAvailability {
            host: Some(host.as_str().to_owned()),
            available: !taken,
            reason: taken.then(|| "taken".to_owned()),
            message: None,
        }))
    }

    /// Every mock the caller sees, grouped by workspace (the personal one first, then orgs
    /// by handle), without content.
    #[oai(path = "/mocks", method = "get", tag = "Tag::Mocks")]
    async fn list_mocks(&self, auth: BearerToken) -> ApiResult<Json<MockList>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let scope = Scope::User(user.id);
        let workspaces = state
            .accounts
            .list_workspaces(&scope)
            .await
            .map_err(|e| ApiError::from_port(e, "workspace"))?;
        let mocks = state
            .mocks
            .list_summaries(&scope)
            .await
            .map_err(|e| ApiError::from_port(e, "mock"))?;
        let mut publications: HashMap<MockId, Publication> = state
            .publications
            .list(&scope)
            .await
            .map_err(|e| ApiError::from_port(e, "mock"))?
            .into_iter()
            .map(|p| (p.mock_id, p))
            .collect();
        let mut groups: Vec<WorkspaceMocks> = workspaces
            .iter()
            .map(|w| WorkspaceMocks {
                workspace: WorkspaceView::new(w, user.id),
                mocks: Vec::new(),
            })
            .collect();
        let index: HashMap<_, _> = workspaces
            .iter()
            .enumerate()
            .map(|(i, w)| (w.id, i))
            .collect();
        for mock in &mocks {
            let Some(&i) = index.get(&mock.workspace_id) else {
                continue;
            };
            let handle = workspaces[i].handle.as_str();
            let mut view = MockView::summary(mock, handle, state.mocks_url.of(mock.host.as_str()));
            view.publication = publications
                .remove(&mock.id)
                .as_ref()
                .map(PublicationView::from);
            groups[i].mocks.push(view);
        }
        Ok(Json(MockList { workspaces: groups }))
    }

    /// One mock, with its content and publication.
    #[oai(path = "/mocks/:id", method = "get", tag = "Tag::Mocks")]
    async fn get_mock(&self, auth: BearerToken, id: Path<String>) -> ApiResult<Json<MockView>> {
        let user = self.0.caller(&auth).await?;
        let mock = self.0.mock(&user, &id.0).await?;
        Ok(Json(self.view(&user, &mock, None).await?))
    }

    /// Replaces a mock's content. Invalid content is refused with 422 and the
    /// validator's diagnostics, and nothing changes. A published mock is republished.
    #[oai(path = "/mocks/:id", method = "put", tag = "Tag::Mocks")]
    async fn edit_mock(
        &self,
        auth: BearerToken,
        id: Path<String>,
        body: Json<EditMock>,
        correlation: Data<&CorrelationId>,
    ) -> ApiResult<Json<MockView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let scope = Scope::User(user.id);
        let mut mock = state.mock(&user, &id.0).await?;
        let based_on = match body.revision {
            None => None,
            Some(n) => Some(
                Revision::new(n)
                    .ok_or_else(|| ApiError::bad_field("revision", "revisions start at 1"))?,
            ),
        };
        let content = self.checked(body.0.content)?;
        let before = mock.revision;
        let changed = mock
            .edit(content, based_on, state.clock.now())
            .map_err(|e| match e {
                MockError::StaleRevision { .. } => {
                    ApiError::conflict("stale_revision", e.to_string())
                }
            })?;
        if changed {
            let event = state.event(
                EventKind::MockChanged {
                    mock_id: mock.id,
                    revision: mock.revision,
                },
                Some(&correlation),
            );
            state
                .mocks
                .update_keeping(&scope, &mock, before, &[event], state.keep_revisions)
                .await
                .map_err(|e| match e.kind() {
                    PortErrorKind::Conflict => ApiError::conflict(
                        "stale_revision",
                        "the mock changed meanwhile; reload it and edit again",
                    ),
                    _ => ApiError::from_port(e, "mock"),
                })?;
        }
        let publication = if mock.enabled {
            Some(self.request_publish(&scope, &mock, &correlation).await?)
        } else {
            None
        };
        Ok(Json(self.view(&user, &mock, publication.as_ref()).await?))
    }

    /// Deletes a mock with its history; its host stops answering.
    #[oai(path = "/mocks/:id", method = "delete", tag = "Tag::Mocks")]
    async fn delete_mock(
        &self,
        auth: BearerToken,
        id: Path<String>,
        correlation: Data<&CorrelationId>,
    ) -> ApiResult<NoContent> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let mock = state.mock(&user, &id.0).await?;
        let events = mock
            .deletion_events()
            .map(|kind| state.event(kind, Some(&correlation)));
        state
            .mocks
            .delete(&Scope::User(user.id), mock.id, &events)
            .await
            .map_err(|e| ApiError::from_port(e, "mock"))?;
        state.forget_requests(&mock.host).await;
        state.forget_state(&mock.host).await;
        tracing::info!(mock = %mock.id, host = %mock.host, "mock deleted");
        Ok(NoContent::Done)
    }

    /// Serves the mock's current revision at its host (within about a second).
    #[oai(path = "/mocks/:id/publish", method = "post", tag = "Tag::Mocks")]
    async fn publish(
        &self,
        auth: BearerToken,
        id: Path<String>,
        correlation: Data<&CorrelationId>,
    ) -> ApiResult<Json<PublicationView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let scope = Scope::User(user.id);
        let mut mock = state.mock(&user, &id.0).await?;
        state
            .check(mock.content.as_str())
            .map_err(|diagnostics| ApiError::invalid_spec(&diagnostics))?;
        self.set_enabled(&scope, &mut mock, true, &correlation)
            .await?;
        let publication = self.request_publish(&scope, &mock, &correlation).await?;
        Ok(Json(PublicationView::from(&publication)))
    }

    /// Takes the mock out of service: its host stops answering (within about a second).
    #[oai(path = "/mocks/:id/unpublish", method = "post", tag = "Tag::Mocks")]
    async fn unpublish(
        &self,
        auth: BearerToken,
        id: Path<String>,
        correlation: Data<&CorrelationId>,
    ) -> ApiResult<Json<PublicationView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let scope = Scope::User(user.id);
        let mut mock = state.mock(&user, &id.0).await?;
        self.set_enabled(&scope, &mut mock, false, &correlation)
            .await?;
        let now = state.clock.now();
        let publication = self
            .change_publication(&scope, mock.id, &correlation, |p| {
                Ok(p.take_offline(&mock.host, now))
            })
            .await?;
        Ok(Json(PublicationView::from(&publication)))
    }

    /// What of the mock is live: the server and DNS statuses.
    #[oai(path = "/mocks/:id/publication", method = "get", tag = "Tag::Mocks")]
    async fn publication(
        &self,
        auth: BearerToken,
        id: Path<String>,
    ) -> ApiResult<Json<PublicationView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let mock = state.mock(&user, &id.0).await?;
        let publication = state
            .publications
            .get(&Scope::User(user.id), mock.id)
            .await
            .map_err(|e| ApiError::from_port(e, "mock"))?;
        Ok(Json(PublicationView::from(&publication)))
    }

    /// The mock's history, newest first, without content, a page at a time:
    /// `{"revisions": [{"revision", "created_at"}], "next": n | null}`. `limit` (1 to 100,
    /// default 20) and `before` (the previous page's `next`) choose the page. A mock keeps
    /// its newest revisions (100 unless the api is told otherwise) and its live one.
    #[oai(path = "/mocks/:id/revisions", method = "get", tag = "Tag::Mocks")]
    async fn revisions(
        &self,
        auth: BearerToken,
        id: Path<String>,
        limit: Query<Option<String>>,
        before: Query<Option<String>>,
    ) -> ApiResult<Json<RevisionPageView>> {
        let query = revision_query(limit.0.as_deref(), before.0.as_deref())?;
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let mock = state.mock(&user, &id.0).await?;
        let page = state
            .mocks
            .revision_page(&Scope::User(user.id), mock.id, &query)
            .await
            .map_err(|e| ApiError::from_port(e, "mock"))?;
        Ok(Json(RevisionPageView::from(&page)))
    }

    /// One revision of the mock, with its content.
    #[oai(
        path = "/mocks/:id/revisions/:revision",
        method = "get",
        tag = "Tag::Mocks"
    )]
    async fn revision(
        &self,
        auth: BearerToken,
        id: Path<String>,
        revision: Path<u64>,
    ) -> ApiResult<Json<RevisionView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let mock = state.mock(&user, &id.0).await?;
        let revision =
            Revision::new(revision.0).ok_or_else(|| ApiError::not_found("no such revision"))?;
        let found = state
            .mocks
            .revision(&Scope::User(user.id), mock.id, revision)
            .await
            .map_err(|e| ApiError::from_port(e, "revision"))?;
        Ok(Json(RevisionView::new(&found, true)))
    }

    /// Checks moclojer YAML without storing it: every finding with line and column.
    #[oai(path = "/validate", method = "post", tag = "Tag::Mocks")]
    async fn validate(
        &self,
        auth: BearerToken,
        body: Json<ValidateRequest>,
    ) -> ApiResult<Json<ValidateReply>> {
        let state = &self.0;
        state.caller(&auth).await?;
        let source = spec_source(body.0.content)?;
        let (valid, diagnostics) = match state.check(source.as_str()) {
            Ok(warnings) => (true, warnings),
            Err(findings) => (false, findings),
        };
        Ok(Json(ValidateReply {
            valid,
            diagnostics: diagnostics_json(&diagnostics),
        }))
    }
}
