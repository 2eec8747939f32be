//! Graph with the app's own (client credentials) token, kept and renewed shortly before it
//! expires, and one client reused while the token lasts so connections are pooled, shared by both
//! products. Every request is reported to an observer (the metrics) by endpoint and status.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bridge_core::Clock;
use chrono::TimeDelta;
use teams_graph::notifications;
use teams_graph::{
    AppToken, GraphClient, GraphEndpoints, GraphError, GraphObserver, OAuthClient, OAuthError,
};

/// What a failed call means for the item that needed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Throttled (429/503): try again after the given wait, or a backoff.
    #[error("Graph is throttling (retry after {0:?})")]
    Throttled(Option<Duration>),
    /// Graph refused the app token (expired early, revoked): fetch a new one and try again.
    #[error("Graph refused the app token")]
    Unauthorized,
    /// The resource is gone (deleted message or chat).
    #[error("not found")]
    NotFound,
    /// May work later: network trouble, a 5xx, a token that could not be had just now.
    #[error("{0}")]
    Transient(String),
    /// Another worker (perhaps one that died) holds the delivery's reservation: try again when
    /// it lapses, which says nothing against the item.
    #[error("another worker holds this delivery (its reservation lapses in {0:?})")]
    Held(Duration),
    /// The identity platform refused the app itself (client secret expired or wrong, app removed
    /// from the tenant, consent missing): nothing works until an admin fixes it, and then
    /// everything does. Says nothing against the item that needed it: wait
    /// [`APP_CREDENTIALS_RETRY`] and try again, without using up its attempts.
    #[error("no app token: {0}; an admin must fix the app registration or microsoft.client_secret")]
    AppCredentials(String),
    /// Will not work by trying again (403: a permission is missing, a malformed answer).
    #[error("{0}")]
    Permanent(String),
}

impl CallError {
    /// "Later", not "never", about the item that needed the call (throttling, a held
    /// reservation, refused app credentials): it is postponed without using up its attempts.
    pub(crate) fn postpones(&self) -> bool {
        matches!(
            self,
            Self::Throttled(_) | Self::Held(_) | Self::AppCredentials(_)
        )
    }
}

impl From<GraphError> for CallError {
    fn from(err: GraphError) -> Self {
        match err {
            GraphError::Throttled { retry_after } => Self::Throttled(retry_after),
            GraphError::NotFound => Self::NotFound,
            GraphError::Unauthorized => Self::Unauthorized,
            GraphError::Transport(_) => Self::Transient(err.to_string()),
            GraphError::Api { status, .. } if status >= 500 => Self::Transient(err.to_string()),
            other => Self::Permanent(other.to_string()),
        }
    }
}

impl From<OAuthError> for CallError {
    fn from(err: OAuthError) -> Self {
        match err {
            OAuthError::Throttled { retry_after } => Self::Throttled(retry_after),
            OAuthError::Transport(_) => Self::Transient(err.to_string()),
            // The app's own grant: refused credentials, or an answer an admin has to look at. No
            // variant carries the secret.
            other => Self::AppCredentials(other.to_string()),
        }
    }
}

/// How long work that needed an app token waits after the identity platform refused the app's
/// credentials (see [`CallError::AppCredentials`]): an admin has to act, retrying sooner only
/// adds load and noise.
pub(crate) const APP_CREDENTIALS_RETRY: Duration = Duration::from_secs(300);

/// After a refusal, token requests pause this long: every worker asking at once would only hear
/// the same answer.
const REFUSAL_PAUSE: TimeDelta = TimeDelta::seconds(15);

/// A refusal is logged at error level at most once in this period.
const REFUSAL_LOG_PERIOD: TimeDelta = TimeDelta::minutes(5);

struct Current {
    token: AppToken,
    /// Renew this long before expiry: a fifth of the lifetime, at most 5 minutes.
    margin: TimeDelta,
    client: Arc<GraphClient>,
}

type Limiter = governor::DefaultDirectRateLimiter;

/// The app's Graph access.
pub(crate) struct AppGraph {
    /// Requests a second for the tenant, shared by every worker of this process.
    limiter: Option<Limiter>,
    oauth: Arc<OAuthClient>,
    endpoints: GraphEndpoints,
    clock: Arc<dyn Clock>,
    /// Told of every Graph request: endpoint and status (0 when none came back).
    observer: GraphObserver,
    state: tokio::sync::Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    current: Option<Current>,
    /// The last refusal of the app's credentials, repeated without a request until then.
    refused: Option<(chrono::DateTime<chrono::Utc>, CallError)>,
    /// When a refusal was last logged at error level.
    alarmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for AppGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppGraph").finish_non_exhaustive()
    }
}

impl AppGraph {
    pub(crate) fn new(
        oauth: Arc<OAuthClient>,
        endpoints: GraphEndpoints,
        clock: Arc<dyn Clock>,
        observer: GraphObserver,
        requests_per_second: u32,
    ) -> Self {
        let limiter = std::num::NonZeroU32::new(requests_per_second)
            .map(|rate| governor::RateLimiter::direct(governor::Quota::per_second(rate)));
        Self {
            limiter,
            oauth,
            endpoints,
            clock,
            observer,
            state: tokio::sync::Mutex::new(TokenState::default()),
        }
    }

    /// A client with a valid app token, fetched again when a fifth of its lifetime (at most 5
    /// minutes) is left. When the identity platform refuses the app's credentials, the error is
    /// logged (at most once per [`REFUSAL_LOG_PERIOD`]) and repeated without asking again for
    /// [`REFUSAL_PAUSE`].
    pub(crate) async fn client(&self) -> Result<Arc<GraphClient>, CallError> {
        let mut state = self.state.lock().await;
        let now = self.clock.now();
        if let Some(c) = state.current.as_ref()
            && !c.token.needs_refresh(now, c.margin)
        {
            return Ok(c.client.clone());
        }
        if let Some((until, err)) = &state.refused
            && now < *until
        {
            return Err(err.clone());
        }
        let token = self.oauth.client_credentials(now).await;
        (self.observer)("token", if token.is_ok() { 200 } else { 0 });
        let token = match token.map_err(CallError::from) {
            Ok(token) => token,
            Err(err @ CallError::AppCredentials(_)) => {
                if state
                    .alarmed_at
                    .is_none_or(|at| now - at >= REFUSAL_LOG_PERIOD)
                {
                    state.alarmed_at = Some(now);
                    tracing::error!(
                        error = %err,
                        "Microsoft refused the app's credentials (microsoft.client_id and \
                         microsoft.client_secret, or the app's registration and consent); work \
                         that needs Graph waits until they are fixed"
                    );
                }
                state.refused = Some((now + REFUSAL_PAUSE, err.clone()));
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        if state.refused.take().is_some() {
            state.alarmed_at = None;
            tracing::info!("Microsoft accepts the app's credentials again");
        }
        let client = GraphClient::new(&self.endpoints, &token.access_token)?
            .with_observer(self.observer.clone());
        let client = Arc::new(client);
        let margin = ((token.expires_at - now) / 5).min(TimeDelta::minutes(5));
        state.current = Some(Current {
            token,
            margin,
            client: client.clone(),
        });
        Ok(client)
    }

    /// Waits until the tenant's request rate allows one more Graph request.
    pub(crate) async fn permit(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    pub(crate) fn endpoints(&self) -> &GraphEndpoints {
        &self.endpoints
    }

    /// Forgets the token (after Graph refused it) so the next call fetches a new one.
    pub(crate) async fn drop_token(&self) {
        self.state.lock().await.current = None;
    }
}

// The webhook side, shared by both products' `POST /graph/notifications` and `/graph/lifecycle`.

/// Graph's batches are small; anything above this is not Graph.
pub(crate) const BODY_LIMIT: usize = 1 << 20;
/// The handshake Graph makes when a subscription is created (and at times later): the token
/// from the query, decoded, echoed as plain text.
pub(crate) fn handshake(query: Option<&str>) -> Option<Response> {
    let token = notifications::validation_token(query?)?;
    if token.len() > 4096 {
        return Some((StatusCode::BAD_REQUEST, "validation token too long").into_response());
    }
    Some(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            token,
        )
            .into_response(),
    )
}

/// The item as stored: without its clientState, so the database never holds the webhook secret.
pub(crate) fn without_client_state(raw: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(mut item)) => {
            item.remove("clientState");
            serde_json::Value::Object(item).to_string()
        }
        _ => raw.to_owned(),
    }
}

/// A Graph client with a user's delegated token, if it is not about to expire (the token-refresh
/// job renews it before then; `None` until it has).
pub(crate) fn delegated_client(
    sealer: &store::TokenSealer,
    endpoints: &GraphEndpoints,
    link: &store::AccountLink,
    now: chrono::DateTime<chrono::Utc>,
    observer: GraphObserver,
) -> Result<Option<GraphClient>, CallError> {
    let Some(sealed) = &link.token else {
        return Ok(None);
    };
    let json = sealer
        .open_secret(sealed, &store::link_token_context(&link.mm_user_id))
        .map_err(|e| CallError::Permanent(format!("a stored token cannot be opened: {e}")))?;
    let tokens = teams_graph::TokenSet::from_json(&json)
        .map_err(|e| CallError::Permanent(format!("a stored token is unreadable: {e}")))?;
    if tokens.expires_at <= now + TimeDelta::minutes(1) {
        return Ok(None);
    }
    Ok(Some(
        GraphClient::new(endpoints, &tokens.access_token)?.with_observer(observer),
    ))
}

/// The items of a Graph webhook POST that pass the checks, each turned into what to store by
/// `keep` (given the parsed item and its raw JSON), or `Err(response)` for a body that is not a
/// notification batch at all (400). Malformed items, items whose `clientState` is not `secret`
/// (compared in constant time) and items `keep` refuses are dropped and told to `discard` with a
/// reason; valid items in the same batch are kept.
pub(crate) fn checked_items<T>(
    body: &[u8],
    secret: &str,
    mut keep: impl FnMut(&notifications::ChangeNotification, &str) -> Result<T, &'static str>,
    mut discard: impl FnMut(&'static str),
) -> Result<Vec<T>, Box<Response>> {
    let batch = notifications::parse_notification_batch(body).map_err(|err| {
        tracing::warn!(error = %err, "refused a malformed Graph notification body");
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                format!("malformed notification: {err}"),
            )
                .into_response(),
        )
    })?;
    let mut items = Vec::new();
    for entry in batch {
        let raw = match entry {
            Ok(raw) => raw,
            Err(err) => {
                tracing::warn!(error = %err, "dropped a malformed item of a Graph notification");
                discard("malformed_item");
                continue;
            }
        };
        if !raw.item.client_state_matches(secret) {
            tracing::warn!(
                subscription_id = ?raw.item.subscription_id,
                "dropped a Graph notification whose clientState does not match microsoft.webhook_secret"
            );
            discard("client_state");
            continue;
        }
        match keep(&raw.item, &raw.raw) {
            Ok(item) => items.push(item),
            Err(reason) => discard(reason),
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bridge_core::ManualClock;
    use graph_emulator::{AppRegistration, GraphEmulator};
    use secrecy::SecretString;

    use super::*;

    const CLIENT_ID: &str = "5f3c6d1e-0a2b-4c8d-9e7f-1a2b3c4d5e6f";
    const SECRET: &str = "the-secret-VALUE-that-expired";

    /// Everything logged while it is the thread's default subscriber.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("log")).into_owned()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    fn register(emulator: &GraphEmulator, secret: &str) {
        emulator.register_app(AppRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: secret.into(),
            redirect_uris: vec!["http://127.0.0.1:9/oauth/redirect".into()],
            display_name: "bridge".into(),
        });
    }

    #[test]
    fn refused_app_credentials_are_not_permanent() {
        let refused = CallError::from(OAuthError::InvalidClient {
            description: "AADSTS7000222: The provided client secret keys are expired.".into(),
        });
        assert!(
            matches!(refused, CallError::AppCredentials(_)),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("AADSTS7000222"), "{refused}");
        let not_consented = CallError::from(OAuthError::Rejected {
            status: 400,
            error: "invalid_scope".into(),
            description: "AADSTS70011".into(),
        });
        assert!(
            matches!(not_consented, CallError::AppCredentials(_)),
            "{not_consented:?}"
        );
        assert_eq!(
            CallError::from(OAuthError::Throttled {
                retry_after: Some(Duration::from_secs(3))
            }),
            CallError::Throttled(Some(Duration::from_secs(3)))
        );
        assert!(matches!(
            CallError::from(OAuthError::Transport("reset".into())),
            CallError::Transient(_)
        ));
    }

    #[tokio::test]
    async fn a_refused_secret_is_logged_once_and_not_asked_again_at_once() {
        let (log, _guard) = capture();
        let emulator = GraphEmulator::start().await.expect("emulator");
        // The secret the admin rotated at Microsoft: ours no longer works.
        register(&emulator, "the-new-secret");
        let endpoints = GraphEndpoints::new(
            &emulator.graph_url(),
            &emulator.login_url(),
            &emulator.tenant_id(),
        )
        .expect("endpoints");
        let oauth = Arc::new(OAuthClient::new(
            endpoints.clone(),
            CLIENT_ID.into(),
            SecretString::from(SECRET),
        ));
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let token_requests = Arc::new(AtomicUsize::new(0));
        let counter = token_requests.clone();
        let observer: GraphObserver = Arc::new(move |label, _| {
            if label == "token" {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let graph = AppGraph::new(oauth, endpoints, clock.clone(), observer, 0);

        for _ in 0..5 {
            let err = graph.client().await.expect_err("refused");
            assert!(matches!(err, CallError::AppCredentials(_)), "{err:?}");
            assert!(!err.to_string().contains(SECRET), "{err}");
        }
        assert_eq!(token_requests.load(Ordering::SeqCst), 1, "asked once");
        clock.advance(TimeDelta::seconds(16));
        assert!(matches!(
            graph.client().await,
            Err(CallError::AppCredentials(_))
        ));
        assert_eq!(
            token_requests.load(Ordering::SeqCst),
            2,
            "asked again later"
        );

        let text = log.text();
        let alarms: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("refused the app's credentials"))
            .collect();
        assert_eq!(alarms.len(), 1, "{text}");
        assert!(alarms[0].contains("ERROR"), "{text}");
        assert!(!text.contains(SECRET), "{text}");

        // The admin puts the new secret in place at Microsoft's side: work resumes.
        register(&emulator, SECRET);
        clock.advance(TimeDelta::seconds(16));
        graph.client().await.expect("a token again");
        assert!(log.text().contains("accepts the app's credentials again"));
    }

    #[test]
    fn forged_subscription_ids_are_logged_escaped() {
        let (log, _guard) = capture();
        let body = serde_json::json!({"value": [{
            "subscriptionId": "x\nERROR forged line",
            "clientState": "not-the-secret",
            "changeType": "created",
            "resource": "chats('a')/messages('b')",
            "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
            "tenantId": "t"
        }]})
        .to_string();
        let mut discarded = Vec::new();
        let kept = checked_items(
            body.as_bytes(),
            "the-webhook-secret",
            |_, raw| Ok(raw.to_owned()),
            |reason| discarded.push(reason),
        )
        .expect("a batch");
        assert!(kept.is_empty());
        assert_eq!(discarded, ["client_state"]);
        let text = log.text();
        assert!(text.contains(r#"x\nERROR forged line"#), "{text}");
        assert!(!text.contains("\nERROR forged line"), "{text}");
    }
}
