//! Sign-up, sign-in, the caller's own account, handles and personal API tokens.

use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::{Handle, HandleError, User, Workspace};
use moclojer_ports::{PortErrorKind, TokenId, TokenIssuer};
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use super::Tag;
use crate::error::{ApiError, ApiResult};
use crate::passwords::Passwords;
use crate::quotas;
use crate::state::{AuthMode, BearerToken, State};
use crate::views::{
    ChooseHandle, Created, Credentials, HandleAvailability, NewToken, NoContent, Session,
    SignInConfig, SupabaseSignIn, TokenView, UserView,
};

/// The client of `request`, as the sign-in throttle counts it.
fn client(state: &State, request: &poem::Request) -> std::net::IpAddr {
    let peer = request.remote_addr().as_socket_addr().map(|a| a.ip());
    let real_ip = request
        .header(moclojer_ports::REAL_IP_HEADER)
        .filter(|v| !v.is_empty());
    state.throttle.client(peer, real_ip)
}

/// The longest life of a personal token, in days.
const MAX_TOKEN_DAYS: u32 = 3650;

/// Accounts and tokens.
#[derive(Debug, Clone)]
pub struct AccountsApi(pub Arc<State>);

#[OpenApi(prefix_path = "/api/v1")]
impl AccountsApi {
    /// How people sign in here: locally, or through Supabase (with the project's URL and
    /// anon key, which are public). No token needed.
    #[oai(path = "/config", method = "get", tag = "Tag::Auth")]
    async fn config(&self) -> Json<SignInConfig> {
        let state = &self.0;
        Json(SignInConfig {
            mode: match state.auth {
                AuthMode::Local => "local",
                AuthMode::External(_) => "supabase",
            }
            .to_owned(),
            supabase: state
                .supabase_browser
                .as_ref()
                .filter(|_| matches!(state.auth, AuthMode::External(_)))
                .map(|s| SupabaseSignIn {
                    url: s.url.clone(),
                    anon_key: s.anon_key.clone(),
                }),
            zone: state.zone.as_str().to_owned(),
        })
    }

    /// Makes an account with an e-mail address and a password (local mode) and signs in.
    #[oai(path = "/auth/signup", method = "post", tag = "Tag::Auth")]
    async fn signup(
        &self,
        request: &poem::Request,
        body: Json<Credentials>,
    ) -> ApiResult<Created<Session>> {
        let state = &self.0;
        local_only(state)?;
        state.throttle.attempt(client(state, request), None)?;
        let email = State::email(&body.email)?;
        Passwords::check_rules(&body.password)?;
        let hash = state.passwords.hash(&body.password).await?;
        let user = User::new(state.ids.user_id(), email, state.clock.now());
        state
            .accounts
            .create_user(&user, Some(&hash))
            .await
            .map_err(|e| match e.kind() {
                PortErrorKind::Conflict => ApiError::conflict(
                    "email_taken",
                    "an account with this e-mail address exists; sign in instead",
                ),
                _ => ApiError::from_port(e, "user"),
            })?;
        tracing::info!(user = %user.id, "signed up");
        Ok(Created::Created(Json(session(state, &user).await?)))
    }

    /// Signs in with an e-mail address and a password (local mode).
    #[oai(path = "/auth/login", method = "post", tag = "Tag::Auth")]
    async fn login(
        &self,
        request: &poem::Request,
        body: Json<Credentials>,
    ) -> ApiResult<Json<Session>> {
        let state = &self.0;
        local_only(state)?;
        state
            .throttle
            .attempt(client(state, request), Some(&body.email))?;
        let wrong = || ApiError::unauthenticated("wrong e-mail address or password");
        let found = match State::email(&body.email) {
            Ok(email) => match state.accounts.find_user_by_email(&email).await {
                Ok(record) => Some(record),
                Err(e) if e.kind() == PortErrorKind::NotFound => None,
                Err(e) => return Err(ApiError::from_port(e, "user")),
            },
            Err(_) => None,
        };
        let hash = found.as_ref().and_then(|r| r.password_hash.as_deref());
        if body.password.len() > crate::passwords::MAX_PASSWORD_BYTES
            || !state.passwords.verify(&body.password, hash).await?
        {
            return Err(wrong());
        }
        let Some(record) = found else {
            return Err(wrong());
        };
        Ok(Json(session(state, &record.user).await?))
    }

    /// Ends the session of the token used to call this.
    #[oai(path = "/auth/logout", method = "post", tag = "Tag::Auth")]
    async fn logout(&self, auth: BearerToken) -> ApiResult<NoContent> {
        let state = &self.0;
        state.caller(&auth).await?;
        state
            .tokens
            .revoke(&auth.0.token)
            .await
            .map_err(|e| ApiError::from_port(e, "token"))?;
        Ok(NoContent::Done)
    }

    /// The caller's account.
    #[oai(path = "/me", method = "get", tag = "Tag::Account")]
    async fn me(&self, auth: BearerToken) -> ApiResult<Json<UserView>> {
        let user = self.0.caller(&auth).await?;
        Ok(Json(UserView::from(&user)))
    }

    /// Chooses the caller's handle, once: it names their personal workspace and is the
    /// last part of their mocks' hosts. Choosing the same handle again changes nothing.
    #[oai(path = "/me", method = "put", tag = "Tag::Account")]
    async fn choose_handle(
        &self,
        auth: BearerToken,
        body: Json<ChooseHandle>,
    ) -> ApiResult<Json<UserView>> {
        let state = &self.0;
        let mut user = state.caller(&auth).await?;
        let handle = Handle::parse(body.handle.trim())
            .map_err(|e| ApiError::bad_field("handle", e.to_string()))?;
        if let Some(current) = &user.handle {
            if *current == handle {
                return Ok(Json(UserView::from(&user)));
            }
            return Err(ApiError::conflict(
                "handle_already_chosen",
                format!("your handle is {current}; it cannot change"),
            ));
        }
        user.choose_handle(handle)
            .map_err(|e| ApiError::conflict("handle_already_chosen", e.to_string()))?;
        let workspace = Workspace::personal(state.ids.workspace_id(), &user, state.clock.now())
            .map_err(|e| ApiError::internal(&e))?;
        state
            .accounts
            .create_personal_workspace(&user, &workspace)
            .await
            .map_err(|e| match e.kind() {
                PortErrorKind::Conflict => {
                    ApiError::conflict("handle_taken", "that handle is taken")
                }
                _ => ApiError::from_port(e, "user"),
            })?;
        Ok(Json(UserView::from(&user)))
    }

    /// Whether a handle can be taken (no token needed).
    #[oai(path = "/handles/:handle", method = "get", tag = "Tag::Account")]
    async fn handle_availability(
        &self,
        handle: Path<String>,
    ) -> ApiResult<Json<HandleAvailability>> {
        let raw = handle.0;
        let reply = |available, reason: Option<&str>, message: Option<String>| {
            Json(HandleAvailability {
                handle: raw.clone(),
                available,
                reason: reason.map(str::to_owned),
                message,
            })
        };
        match Handle::parse(&raw) {
            Err(e @ HandleError::Reserved(_)) => {
                Ok(reply(false, Some("reserved"), Some(e.to_string())))
            }
            Err(e) => Ok(reply(false, Some("invalid"), Some(e.to_string()))),
            Ok(handle) => {
                let available = self
                    .0
                    .accounts
                    .handle_available(&handle)
                    .await
                    .map_err(|e| ApiError::from_port(e, "handle"))?;
                Ok(reply(available, (!available).then_some("taken"), None))
            }
        }
    }

    /// Makes a personal API token for scripts and CI. The secret is in this answer only.
    #[oai(path = "/tokens", method = "post", tag = "Tag::Account")]
    async fn create_token(
        &self,
        auth: BearerToken,
        body: Json<NewToken>,
    ) -> ApiResult<Created<TokenView>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let ttl = match body.expires_in_days {
            None => None,
            Some(days @ 1..=MAX_TOKEN_DAYS) => {
                Some(Duration::from_secs(u64::from(days) * 24 * 3600))
            }
            Some(_) => {
                return Err(ApiError::bad_field(
                    "expires_in_days",
                    format!("a token lasts 1 to {MAX_TOKEN_DAYS} days, or omit it for ever"),
                ));
            }
        };
        let held = state
            .tokens
            .list_personal(user.id)
            .await
            .map_err(|e| ApiError::from_port(e, "tokens"))?
            .len();
        let limit = state.quotas.tokens_per_user;
        quotas::check_count(
            "tokens_per_user",
            held,
            limit,
            "you hold as many tokens as allowed",
        )?;
        let issued = state
            .tokens
            .issue_personal(user.id, &body.name, ttl)
            .await
            .map_err(|e| match e.kind() {
                PortErrorKind::Invalid => ApiError::bad_field("name", e.message().to_owned()),
                _ => ApiError::from_port(e, "token"),
            })?;
        Ok(Created::Created(Json(TokenView::new(
            &issued.record,
            Some(issued.token),
        ))))
    }

    /// The caller's personal API tokens (without their secrets), oldest first.
    #[oai(path = "/tokens", method = "get", tag = "Tag::Account")]
    async fn list_tokens(&self, auth: BearerToken) -> ApiResult<Json<Vec<TokenView>>> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let tokens = state
            .tokens
            .list_personal(user.id)
            .await
            .map_err(|e| ApiError::from_port(e, "token"))?;
        Ok(Json(
            tokens.iter().map(|t| TokenView::new(t, None)).collect(),
        ))
    }

    /// Revokes one of the caller's personal API tokens.
    #[oai(path = "/tokens/:id", method = "delete", tag = "Tag::Account")]
    async fn revoke_token(&self, auth: BearerToken, id: Path<String>) -> ApiResult<NoContent> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let id = uuid::Uuid::try_parse(&id.0)
            .map(TokenId::from_uuid)
            .map_err(|_| ApiError::not_found("no such token"))?;
        state
            .tokens
            .revoke_by_id(user.id, id)
            .await
            .map_err(|e| ApiError::from_port(e, "token"))?;
        Ok(NoContent::Done)
    }
}

fn local_only(state: &State) -> ApiResult<()> {
    match state.auth {
        AuthMode::Local => Ok(()),
        AuthMode::External(_) => Err(ApiError::forbidden(
            "accounts are managed by the identity provider; sign in there",
        )),
    }
}

async fn session(state: &State, user: &User) -> ApiResult<Session> {
    let issued = state
        .tokens
        .issue(user.id, state.session_ttl)
        .await
        .map_err(|e| ApiError::from_port(e, "token"))?;
    Ok(Session {
        token: issued.token,
        expires_at: issued.record.expires_at.map(|t| t.to_rfc3339()),
        user: UserView::from(user),
    })
}
