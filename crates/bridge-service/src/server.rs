//! The HTTP surface. Handlers are small and take their state explicitly; this is the one place
//! where failures turn into responses.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use store::Store;

use crate::{Product, ServiceError};

/// What every handler may need.
#[derive(Debug, Clone)]
pub struct AppState {
    pub product: Product,
    pub store: Store,
    /// The Teams integration, whose dependencies readiness also checks.
    pub teams: Option<std::sync::Arc<crate::teams::TeamsApp>>,
    /// The calendar integration, likewise.
    pub calendar: Option<std::sync::Arc<crate::calendar::CalendarApp>>,
}

/// The service's routes: health for both products, plus the Teams integration's when given.
pub fn router(state: AppState) -> Router {
    let teams = state.teams.clone();
    let calendar = state.calendar.clone();
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    if let Some(app) = teams {
        router = router.merge(crate::teams::routes(app));
    }
    if let Some(app) = calendar {
        router = router.merge(crate::calendar::routes(app));
    }
    router
}

/// Liveness: the process answers. Says nothing about dependencies, so an orchestrator does not
/// restart the service because the database blinked.
async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    service: &'static str,
    store: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// Readiness: the store answers and its schema is current; with the Teams integration, also
/// Mattermost answers and the chat-message subscription is active.
async fn readyz(State(state): State<AppState>) -> Response {
    let backend = state.store.kind().to_string();
    let mut problem = match state.store.ping().await {
        Err(err) => Some(format!("store unreachable: {err}")),
        Ok(()) => match state.store.pending_migrations().await {
            Ok(0) => None,
            Ok(n) => Some(format!(
                "{n} schema migration(s) not applied; run `{} migrate`",
                state.product.binary()
            )),
            Err(err) => Some(format!("cannot read the schema version: {err}")),
        },
    };
    if problem.is_none()
        && let Some(teams) = &state.teams
    {
        problem = teams.readiness_problem().await;
    }
    if problem.is_none()
        && let Some(calendar) = &state.calendar
    {
        problem = calendar.readiness_problem().await;
    }
    let status = if problem.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = Readiness {
        ready: problem.is_none(),
        service: state.product.binary(),
        store: backend,
        problem,
    };
    (status, axum::Json(body)).into_response()
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServiceError::Serve)
}

/// Binds `addr`, with an error that says which address could not be used.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServiceError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServiceError::Bind { addr, source })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    async fn state() -> (AppState, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::connect(&url, &store::StoreOptions::default())
            .await
            .expect("store");
        (
            AppState {
                product: Product::Teams,
                store,
                teams: None,
                calendar: None,
            },
            dir,
        )
    }

    async fn get_json(router: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn readyz_waits_for_migrations_then_reports_ready() {
        let (state, _dir) = state().await;
        let (status, body) = get_json(router(state.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body["problem"]
                .as_str()
                .unwrap_or("")
                .contains("teams-bridge migrate"),
            "{body}"
        );

        state.store.migrate().await.expect("migrate");
        let (status, body) = get_json(router(state.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["ready"], true);
        assert_eq!(body["store"], "SQLite");

        state.store.close().await;
        let (status, body) = get_json(router(state), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body["problem"]
                .as_str()
                .unwrap_or("")
                .contains("unreachable"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn healthz_answers_and_unknown_paths_are_404() {
        let (state, _dir) = state().await;
        let response = router(state.clone())
            .oneshot(
                Request::get("/healthz")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let (status, _) = get_json(router(state), "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
