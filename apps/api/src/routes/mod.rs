//! The operations, by area, and the service's health.

pub mod accounts;
pub mod mock_state;
pub mod mocks;
pub mod orgs;
pub mod requests;
pub mod transfer;

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};

use crate::error::{ApiError, ApiResult};
use crate::state::State;
use crate::views::Health;

/// The groups of the OpenAPI document.
#[derive(Debug, Tags)]
pub enum Tag {
    /// Sign-up, sign-in, sign-out.
    Auth,
    /// The caller's account, handles and personal API tokens.
    Account,
    /// Orgs and their members.
    Orgs,
    /// Mocks, their content, history and publication.
    Mocks,
    /// Whether the service is up.
    Health,
}

/// `/livez` and `/readyz`.
#[derive(Debug, Clone)]
pub struct HealthApi(pub Arc<State>);

#[OpenApi]
impl HealthApi {
    /// The process is up.
    #[oai(path = "/livez", method = "get", tag = "Tag::Health")]
    async fn livez(&self) -> Json<Health> {
        Json(Health {
            status: "ok".to_owned(),
        })
    }

    /// The process can serve: its database answers within a second. (Redis is not needed:
    /// events wait in the outbox.)
    #[oai(path = "/readyz", method = "get", tag = "Tag::Health")]
    async fn readyz(&self) -> ApiResult<Json<Health>> {
        let probe =
            moclojer_domain::Handle::parse("readyzprobe").map_err(|e| ApiError::internal(&e))?;
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            self.0.accounts.handle_available(&probe),
        )
        .await;
        match answered {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "not ready: the database does not answer");
                return Err(ApiError::unavailable("the database does not answer"));
            }
            Err(_) => {
                tracing::warn!("not ready: the database did not answer within 1 s");
                return Err(ApiError::unavailable(
                    "the database does not answer in time",
                ));
            }
        }
        Ok(Json(Health {
            status: "ok".to_owned(),
        }))
    }
}
