//! The moclojer identity on Supabase Auth: turns a Supabase access token into a [`Caller`].
//!
//! [`SupabaseIdentity`] implements the `Identity` port by verifying the JWT that Supabase
//! Auth issued to a signed-in user, locally, with no call to Supabase per request:
//!
//! - the signature, with the algorithm **from configuration only** ([`SupabaseConfig`]):
//!   a token whose header names another algorithm is refused, which rules out `none` and
//!   the RS256→HS256 confusion. The key is either the project's legacy JWT secret (HS256,
//!   [`KeySource::Secret`]) or one of its public signing keys (ES256, RS256, ...), chosen by
//!   the token's `kid` from the project's JWKS ([`KeySource::Jwks`]), which is fetched,
//!   cached and refreshed at a bounded rate;
//! - the claims: `exp` (required), `nbf`, `iss`, `aud`, and `sub`, which must be the user's
//!   UUID and becomes [`Caller::user_id`]. Tokens of other roles (`anon`, `service_role`)
//!   and of anonymous sign-ins are refused. The `email` claim, when it is an e-mail address,
//!   becomes [`Caller::email`]; a missing or malformed one leaves it `None`.
//!
//! What it is not:
//!
//! - not a token issuer: Supabase mints the tokens, so this crate has no `TokenIssuer` and
//!   cannot revoke a token (an access token stays valid until its `exp`, even after logout);
//! - not a session check: it does not ask the Auth server whether the session still exists;
//! - not user provisioning: it says who the caller is, not whether a local account exists.
//!
//! Nothing here logs a token or a secret, and no secret has a default value.
//!
//! [`Caller`]: moclojer_ports::Caller
//! [`Caller::user_id`]: moclojer_ports::Caller::user_id
//! [`Caller::email`]: moclojer_ports::Caller::email

mod config;
mod identity;
mod jwks;

pub use config::{ConfigError, KeySource, SecretString, SupabaseConfig};
pub use identity::SupabaseIdentity;
/// The signing algorithms, as `jsonwebtoken` names them.
pub use jsonwebtoken::Algorithm;
