//! DNS records on DigitalOcean's Domains API and app domains on DigitalOcean App Platform,
//! for moclojer hosts.
//!
//! - [`DigitalOceanDns`] implements `DnsProvider` over one DigitalOcean domain (zone),
//!   with `GET/POST /domains/{zone}/records` and `GET/PUT/DELETE
//!   /domains/{zone}/records/{id}`. Listings read every page (200 records a page, following
//!   `links.pages.next`). Names are converted between DigitalOcean's relative form (`@` for
//!   the apex, `*` for a wildcard) and our fully qualified one; CNAME targets are written
//!   fully qualified with their final dot, as DigitalOcean requires, and reported without
//!   it. TTLs under 30 s (DigitalOcean's least) are raised to 30 s. `proxied` has no
//!   meaning here: it is ignored, and listed as `false`. Only A, AAAA, CNAME and TXT
//!   records are listed (the port has no other kinds); a record of any type at a name
//!   still makes that name someone else's, except the apex NS and SOA records
//!   DigitalOcean keeps for the zone itself.
//! - [`DigitalOceanApps`] implements `PaasProvider` over one App Platform app: its domains
//!   are the `domains` array of the app spec. A change reads the spec (`GET /apps/{id}`),
//!   changes that array only, and writes the whole spec back (`PUT /apps/{id}` with
//!   `{"spec": ...}`), keeping every other field exactly, known or not (the spec is handled
//!   as JSON, never as a typed struct). A domain is added as `{"domain": "x", "type":
//!   "ALIAS"}`, a wildcard as `{"domain": "*.zone", "type": "ALIAS", "wildcard": true}`;
//!   no `zone` is set, so App Platform does not manage the DNS records itself (that is
//!   [`DigitalOceanDns`]'s job). Changes to one app run one at a time in the process (an
//!   async lock per app) and each is verified by reading the spec again; one that a
//!   writer elsewhere undid is made again a few times, then fails as `Conflict`.
//!
//! # Ownership of DNS records
//!
//! DigitalOcean records have no comment or tag, so which records are ours is kept in the
//! zone itself: a record of type `T` named `N` is ours when the zone also holds a TXT
//! record named `_moclojer.N` (a leading `*` of `N` written `_wildcard`, since `*` may only
//! be a first label) whose content is exactly
//! `heritage=moclojer,owner=<owner>,type=T`. The owner tag is `moclojer` unless
//! [`DigitalOceanDns::with_owner`] names another, so two deployments sharing a zone keep
//! apart. The marker is created before the record (a crash in between leaves a claim the
//! next ensure uses, never a record nobody may manage), removed when the last record it
//! claims is deleted, and removed again if the record it was made for is refused. Markers
//! are bookkeeping: `list_records` does not list them (anyone's), and deleting one by id is
//! a `Conflict`. A record whose name holds anything not claimed by our marker (another
//! type, or a record someone made by hand) is never changed: ensuring that name is a
//! `Conflict`.
//!
//! # Calls, retries and errors
//!
//! Every call goes through the `HttpClient` port (in the services, the egress guard) with
//! `Authorization: Bearer <token>`. A 429 is waited out for its `Retry-After` (or until
//! `ratelimit-reset`) and retried; a 5xx is retried after an exponential, jittered
//! back-off; a connection that failed or timed out is retried for `GET`, `PUT` and `DELETE`
//! only. All within [`RetryPolicy`]'s bounds, after which the call is `Unavailable` (as is
//! a 429 asking for a wait longer than [`RetryPolicy::max_delay`]). DigitalOcean's errors
//! (`{"id", "message"}`) map to kinds: 401 and 403 are `Unauthenticated`, 400 and 422
//! `Invalid`, 404 `NotFound` (deleting an absent record succeeds), 409 `Conflict`, others
//! `Internal`. A 422 on a create that a concurrent writer already made is a success.
//!
//! The token is an [`ApiToken`], whose `Debug` shows nothing of it; nothing here logs it,
//! and page links are never followed as URLs (only their page number is read), so the
//! token only ever goes to the configured base URL.

mod apps;
mod client;
mod config;
mod dns;
mod locks;

pub use apps::DigitalOceanApps;
pub use config::{ApiToken, DEFAULT_BASE_URL, DigitalOceanConfig, RetryPolicy};
pub use dns::{DEFAULT_OWNER, DigitalOceanDns, MARKER_LABEL, MIN_TTL, WILDCARD_LABEL};
