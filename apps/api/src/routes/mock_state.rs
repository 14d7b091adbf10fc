//! A mock's state: what its sequences, scenarios and resources remember between requests,
//! shown and reset on demand.
//!
//! The state is the mock servers' (see `moclojer_ports::MockState`), kept per host: the
//! mock's host, as the request journal's routes name it. Every route is scoped like the
//! other mock routes: another user's mock is 404.

use std::sync::Arc;

use moclojer_domain::Mock;
use moclojer_ports::MockState;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use super::Tag;
use crate::error::{ApiError, ApiResult};
use crate::state::{BearerToken, State};
use crate::views::{NoContent, StateView};

/// The mock state's routes.
#[derive(Debug, Clone)]
pub struct MockStateApi(pub Arc<State>);

impl MockStateApi {
    /// The caller's mock `id` and the state, or why not.
    async fn state_of(
        &self,
        auth: &BearerToken,
        id: &str,
    ) -> ApiResult<(Mock, Arc<dyn MockState>)> {
        let state = &self.0;
        let user = state.caller(auth).await?;
        let mock = state.mock(&user, id).await?;
        let mock_state = state.mock_state.clone().ok_or_else(|| {
            ApiError::unavailable(
                "the mock state is not configured on this api (--state-url or --redis-url)",
            )
        })?;
        Ok((mock, mock_state))
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl MockStateApi {
    /// What the mock's sequences, scenarios and resources remember: `{"revision": N |
    /// null, "scenarios": {name: state}, "sequences": {name: requests answered},
    /// "resources": {path: records}, "bytes": N}`. A scenario in `started` and a sequence
    /// or resource not used yet are absent. The state starts afresh when a new revision
    /// goes live and on `POST /mocks/{id}/state/reset`.
    #[oai(path = "/mocks/:id/state", method = "get", tag = "Tag::Mocks")]
    async fn get_state(&self, auth: BearerToken, id: Path<String>) -> ApiResult<Json<StateView>> {
        let (mock, mock_state) = self.state_of(&auth, &id.0).await?;
        let snapshot = mock_state
            .snapshot(mock.host.as_str())
            .await
            .map_err(|e| ApiError::from_port(e, "mock state"))?;
        Ok(Json(snapshot.into()))
    }

    /// Forgets what the mock remembers: sequences start at their first response, scenarios
    /// in `started`, resources with their seed records.
    #[oai(path = "/mocks/:id/state/reset", method = "post", tag = "Tag::Mocks")]
    async fn reset_state(&self, auth: BearerToken, id: Path<String>) -> ApiResult<NoContent> {
        let (mock, mock_state) = self.state_of(&auth, &id.0).await?;
        mock_state
            .reset(mock.host.as_str())
            .await
            .map_err(|e| ApiError::from_port(e, "mock state"))?;
        tracing::info!(mock = %mock.id, host = %mock.host, "mock state reset");
        Ok(NoContent::Done)
    }
}
