//! The moclojer [`DnsProvider`](moclojer_ports::DnsProvider) on Cloudflare's DNS records
//! API (v4): [`CloudflareDns`] lists a zone's records (every page), creates and updates
//! the records it owns, and deletes them.
//!
//! - **Ownership.** A record is ours when its `comment` is exactly the configured tag
//!   ([`DEFAULT_TAG`] by default). Records of a name that has any record not ours are never
//!   created beside, changed or removed: that is `Conflict`.
//! - **Idempotence.** `ensure_record` reads the records of the name first and updates ours
//!   in place; a create that Cloudflare answers with "record already exists" (81057, 81058)
//!   reads the record back and succeeds.
//! - **Retries.** A `429` waits what `Retry-After` says; a 5xx, a failed connection or a
//!   timeout waits an exponential backoff with jitter; both for a bounded number of attempts
//!   ([`RetryPolicy`]), after which the call is `Unavailable`.
//! - **Errors.** 401/403 and Cloudflare's authentication codes are `Unauthenticated`; 404 is
//!   `NotFound` (and deleting an absent record succeeds); clashing records are `Conflict`;
//!   other 400s are `Invalid`.
//! - **Egress.** Every call goes through the [`HttpClient`](moclojer_ports::HttpClient) port,
//!   so through the egress guard. The token is sent only in the `Authorization` header; its
//!   type ([`ApiToken`]) shows nothing of it in `Debug` and has no `Display`.

mod api;
mod config;
mod dns;

pub use config::{
    ApiToken, CloudflareConfig, DEFAULT_API_BASE, DEFAULT_PAGE_SIZE, DEFAULT_TAG, RetryPolicy,
};
pub use dns::CloudflareDns;
