//! Graph with the app's own (client credentials) token, kept and renewed shortly before it
//! expires, and one client reused while the token lasts so connections are pooled. Every request
//! is counted in the metrics by endpoint and status.

use std::sync::Arc;
use std::time::Duration;

use bridge_core::Clock;
use chrono::TimeDelta;
use teams_graph::{AppToken, GraphClient, GraphEndpoints, GraphError, OAuthClient, OAuthError};

use super::Metrics;

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
    metrics: Arc<Metrics>,
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
        metrics: Arc<Metrics>,
        requests_per_second: u32,
    ) -> Self {
        let limiter = std::num::NonZeroU32::new(requests_per_second)
            .map(|rate| governor::RateLimiter::direct(governor::Quota::per_second(rate)));
        Self {
            limiter,
            oauth,
            endpoints,
            clock,
            metrics,
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
        self.metrics
            .graph_request("token", if token.is_ok() { 200 } else { 0 });
        let token = token?;
        let metrics = self.metrics.clone();
        let client = GraphClient::new(&self.endpoints, &token.access_token)?.with_observer(
            Arc::new(move |endpoint, status| metrics.graph_request(endpoint, status)),
        );
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
