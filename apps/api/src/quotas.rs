//! What one account may hold on a shared service: mocks per workspace, endpoints per mock,
//! orgs per user and personal tokens per user. Generous by default, set by the operator
//! (`--max-mocks-per-workspace`, …). The request journal and the mocks' state have their
//! own per-mock bounds (`--journal`, `--state-records`, `--state-bytes`).
//!
//! A count is checked before the write it would pass, so concurrent creates by one account
//! may pass a quota by as many as run at once; the quotas bound what one tenant can take,
//! not an exact number.

use serde_json::json;

use crate::error::ApiError;

/// The quotas of every account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Most mocks in one workspace (personal or org).
    pub mocks_per_workspace: usize,
    /// Most items (endpoints, websockets, resources) in one mock.
    pub endpoints_per_mock: usize,
    /// Most orgs one user owns.
    pub orgs_per_user: usize,
    /// Most personal API tokens one user holds (revoked ones do not count).
    pub tokens_per_user: usize,
}

impl Quotas {
    /// 1,000 mocks per workspace, 1,000 endpoints per mock (what a spec may hold anyway),
    /// 100 orgs and 100 tokens per user.
    pub const DEFAULT: Self = Self {
        mocks_per_workspace: 1_000,
        endpoints_per_mock: 1_000,
        orgs_per_user: 100,
        tokens_per_user: 100,
    };
}

impl Default for Quotas {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// 403 `quota_exceeded` when `count` more of `quota` would pass `limit`; `details` name the
/// quota and its limit.
pub(crate) fn check_count(
    quota: &str,
    count: usize,
    limit: usize,
    what: &str,
) -> Result<(), ApiError> {
    if count < limit {
        return Ok(());
    }
    Err(ApiError::quota_exceeded(
        quota,
        limit,
        format!("{what}: the limit is {limit}; remove one first or ask the operator for more"),
    ))
}

/// 422 `quota_exceeded` for a mock with more than `limit` items.
pub(crate) fn check_items(items: usize, limit: usize) -> Result<(), ApiError> {
    if items <= limit {
        return Ok(());
    }
    Err(ApiError::quota_exceeded_in_content(
        "endpoints_per_mock",
        limit,
        format!("the spec has {items} endpoints; a mock holds at most {limit}"),
    ))
}

/// The `details` of a quota error.
pub(crate) fn details(quota: &str, limit: usize) -> serde_json::Value {
    json!({ "quota": quota, "limit": limit })
}
