//! What every handler shares: the ports, the settings, and who the caller is.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::spec::{CloudCheck, Limits};
use moclojer_domain::{
    CorrelationId, Diagnostic, Email, Event, EventKind, Handle, Mock, User, Workspace, Zone,
};
use moclojer_egress::Egress;
use moclojer_ports::{
    AccountRepository, Caller, Clock, IdGenerator, Identity, KeepRevisions, LocalTokens,
    MockRepository, MockState, PortErrorKind, PublicationRepository, RequestJournal, Scope,
};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::error::{ApiError, ApiResult};
use crate::passwords::Passwords;
use crate::signin::SupabaseBrowser;
use crate::throttle::SignInThrottle;

/// How callers sign in.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Accounts live in the database: sign-up and sign-in with a password, the service's
    /// own session tokens.
    Local,
    /// An external identity (Supabase) mints the session tokens; sign-up and sign-in
    /// happen there, and a caller's local account is made on first sight.
    External(Arc<dyn Identity>),
}

/// Where mocks answer, to show their URLs: `<scheme>://<host>[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MocksUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// The port, when not the scheme's default.
    pub port: Option<u16>,
}

impl MocksUrl {
    /// The URL of `host`.
    pub fn of(&self, host: &str) -> String {
        match self.port {
            Some(port) => format!("{}://{host}:{port}", self.scheme),
            None => format!("{}://{host}", self.scheme),
        }
    }
}

/// The api's state.
#[derive(Debug, Clone)]
pub struct State {
    /// Users and workspaces.
    pub accounts: Arc<dyn AccountRepository>,
    /// Mocks.
    pub mocks: Arc<dyn MockRepository>,
    /// Publications.
    pub publications: Arc<dyn PublicationRepository>,
    /// The service's own tokens (sessions in local mode, personal API tokens always).
    pub tokens: LocalTokens,
    /// How people sign in.
    pub auth: AuthMode,
    /// Password hashing.
    pub passwords: Passwords,
    /// Attempts to sign in or up, per client and per e-mail address.
    pub throttle: SignInThrottle,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Fresh ids.
    pub ids: Arc<dyn IdGenerator>,
    /// The zone mock hosts live under.
    pub zone: Zone,
    /// Where mocks answer.
    pub mocks_url: MocksUrl,
    /// How long a session token lasts.
    pub session_ttl: Duration,
    /// The spec validator's limits.
    pub limits: Limits,
    /// The strict egress guard, for checking the destinations a spec names.
    pub egress: Egress,
    /// The built web interface (`web/dist`), served at `/`; `None` when not served.
    pub web_dir: Option<PathBuf>,
    /// In Supabase mode, what the web interface needs to sign in there.
    pub supabase_browser: Option<SupabaseBrowser>,
    /// The requests mocks received, as the mock servers record them; `None` when not
    /// configured (the journal routes answer 503).
    pub journal: Option<Arc<dyn RequestJournal>>,
    /// What stateful mocks remember, as the mock servers keep it; `None` when not
    /// configured (the state routes answer 503).
    pub mock_state: Option<Arc<dyn MockState>>,
    /// How many revisions of each mock an edit keeps (besides the live one).
    pub keep_revisions: KeepRevisions,
    /// What one account may hold.
    pub quotas: crate::Quotas,
}

/// `Authorization: Bearer <token>`: a session token, a personal API token (`mcj_…`), or
/// in Supabase mode a Supabase access token.
#[derive(Debug, SecurityScheme)]
#[oai(ty = "bearer")]
pub struct BearerToken(pub Bearer);

impl State {
    /// The caller `token` stands for, with their account (made on first sight for an
    /// external identity's caller).
    ///
    /// # Errors
    /// 401 for a bad token; 503 when the verifier or the database is down.
    pub async fn caller(&self, token: &BearerToken) -> ApiResult<User> {
        let token = token.0.token.as_str();
        let caller = if LocalTokens::is_ours(token) {
            moclojer_ports::Identity::authenticate(&self.tokens, token).await
        } else {
            match &self.auth {
                AuthMode::Local => {
                    return Err(ApiError::unauthenticated("malformed token"));
                }
                AuthMode::External(identity) => identity.authenticate(token).await,
            }
        }
        .map_err(|e| ApiError::from_port(e, "token"))?;
        self.account(caller).await
    }

    async fn account(&self, caller: Caller) -> ApiResult<User> {
        match self.accounts.get_user(caller.user_id).await {
            Ok(user) => Ok(user),
            Err(e) if e.kind() == PortErrorKind::NotFound => {
                let Some(email) = caller.email else {
                    return Err(ApiError::unauthenticated("the token's user has no account"));
                };
                let user = User::new(caller.user_id, email, self.clock.now());
                match self.accounts.create_user(&user, None).await {
                    Ok(()) => Ok(user),
                    // Two first requests at once: the other one made it.
                    Err(e) if e.kind() == PortErrorKind::Conflict => {
                        self.accounts.get_user(caller.user_id).await.map_err(|_| {
                            ApiError::conflict(
                                "email_taken",
                                "another account already uses this e-mail address",
                            )
                        })
                    }
                    Err(e) => Err(ApiError::from_port(e, "user")),
                }
            }
            Err(e) => Err(ApiError::from_port(e, "user")),
        }
    }

    /// A new event, correlated with the request.
    pub fn event(&self, kind: EventKind, correlation: Option<&CorrelationId>) -> Event {
        Event::new(self.ids.event_id(), self.clock.now(), kind).correlated(correlation.cloned())
    }

    /// The workspace with `handle`, if `user` is a member.
    ///
    /// # Errors
    /// 404 when there is none or `user` is not a member.
    pub async fn workspace(&self, user: &User, handle: &str) -> ApiResult<Workspace> {
        let handle = Handle::parse(handle).map_err(|_| ApiError::not_found("no such workspace"))?;
        self.accounts
            .find_workspace(&Scope::User(user.id), &handle)
            .await
            .map_err(|e| ApiError::from_port(e, "workspace"))
    }

    /// The mock with the id `raw`, if `user` sees it.
    ///
    /// # Errors
    /// 404 when the id is malformed, unknown, or not visible.
    pub async fn mock(&self, user: &User, raw: &str) -> ApiResult<Mock> {
        let id =
            moclojer_domain::MockId::parse(raw).map_err(|_| ApiError::not_found("no such mock"))?;
        self.mocks
            .get(&Scope::User(user.id), id)
            .await
            .map_err(|e| ApiError::from_port(e, "mock"))
    }

    /// Forgets the requests `host` received: a deleted mock's journal goes with it, and a
    /// new mock starts with none. A journal that fails is logged; its records age out.
    pub async fn forget_requests(&self, host: &moclojer_domain::Host) {
        let Some(journal) = &self.journal else {
            return;
        };
        if let Err(e) = journal.clear(host.as_str()).await {
            tracing::warn!(error = %e, %host, "the request journal could not be cleared");
        }
    }

    /// Forgets what `host`'s stateful mocks remember: a deleted mock's state goes with it,
    /// and a new mock of the same host starts afresh (its first revision is older than the
    /// state a deleted one left). A state that fails is logged.
    pub async fn forget_state(&self, host: &moclojer_domain::Host) {
        let Some(mock_state) = &self.mock_state else {
            return;
        };
        if let Err(e) = mock_state.reset(host.as_str()).await {
            tracing::warn!(error = %e, %host, "the mock state could not be reset");
        }
    }

    /// Validates spec text with the hosted service's one check ([`CloudCheck`]), as the
    /// generator and the mock server will: the spec's rules in cloud mode, and every
    /// literal webhook and external-body URL against the egress guard's strict policy, so
    /// that a mock aiming at a private or metadata address is refused when saved, not only
    /// when it fires.
    ///
    /// # Errors
    /// Every finding, when at least one is an error.
    pub fn check(&self, content: &str) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
        self.check_spec(content).map(|(_, warnings)| warnings)
    }

    /// [`State::check`], with the spec read.
    ///
    /// # Errors
    /// Every finding, when at least one is an error.
    pub fn check_spec(
        &self,
        content: &str,
    ) -> Result<(moclojer_domain::spec::Spec, Vec<Diagnostic>), Vec<Diagnostic>> {
        let cloud = CloudCheck {
            limits: &self.limits,
            destinations: &self.egress,
        };
        cloud.check(content)
    }

    /// Reads an e-mail address from a request.
    ///
    /// # Errors
    /// 400 naming the field.
    pub fn email(raw: &str) -> ApiResult<Email> {
        Email::parse(raw.trim()).map_err(|e| ApiError::bad_field("email", e.to_string()))
    }
}
