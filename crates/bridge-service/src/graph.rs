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
    /// Will not work by trying again (403: a permission is missing, a malformed answer).
    #[error("{0}")]
    Permanent(String),
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
            other => Self::Permanent(format!("could not get an app token: {other}")),
        }
    }
}

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
    current: tokio::sync::Mutex<Option<Current>>,
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
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// A client with a valid app token, fetched again when a fifth of its lifetime (at most 5
    /// minutes) is left.
    pub(crate) async fn client(&self) -> Result<Arc<GraphClient>, CallError> {
        let mut current = self.current.lock().await;
        let now = self.clock.now();
        if let Some(c) = current.as_ref()
            && !c.token.needs_refresh(now, c.margin)
        {
            return Ok(c.client.clone());
        }
        let token = self.oauth.client_credentials(now).await;
        (self.observer)("token", if token.is_ok() { 200 } else { 0 });
        let token = token?;
        let client = GraphClient::new(&self.endpoints, &token.access_token)?
            .with_observer(self.observer.clone());
        let client = Arc::new(client);
        let margin = ((token.expires_at - now) / 5).min(TimeDelta::minutes(5));
        *current = Some(Current {
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
        *self.current.lock().await = None;
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
                subscription_id = %raw.item.subscription_id,
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
