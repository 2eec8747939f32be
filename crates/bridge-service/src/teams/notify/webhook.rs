//! `POST /graph/notifications` and `POST /graph/lifecycle`: Graph's calls. The validation
//! handshake is answered at once; a batch is checked item by item (clientState in constant time)
//! and the valid items are stored in the durable inbox before the 202, so nothing accepted can be
//! lost by a crash and the answer comes long before Graph's 3-second limit.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::ExposeSecret as _;
use store::NewInboxItem;
use teams_graph::notifications::ChangeNotification;

use super::NotifyPipeline;
use crate::graph::{BODY_LIMIT, checked_items, handshake, without_client_state};

/// Inbox kinds.
pub(crate) const KIND_MESSAGE: &str = "graph.chat_message";
pub(crate) const KIND_LIFECYCLE: &str = "graph.lifecycle";

pub(crate) fn routes(pipeline: Arc<NotifyPipeline>) -> Router {
    Router::new()
        .route("/graph/notifications", post(change_notifications))
        .route("/graph/lifecycle", post(lifecycle_notifications))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(pipeline)
}

async fn change_notifications(
    State(pipeline): State<Arc<NotifyPipeline>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    receive(&pipeline, Endpoint::Changes, query.as_deref(), &body).await
}

async fn lifecycle_notifications(
    State(pipeline): State<Arc<NotifyPipeline>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    receive(&pipeline, Endpoint::Lifecycle, query.as_deref(), &body).await
}

/// Either endpoint: the handshake when Graph asks for one, else a batch to accept.
async fn receive(
    pipeline: &NotifyPipeline,
    endpoint: Endpoint,
    query: Option<&str>,
    body: &[u8],
) -> Response {
    match handshake(query) {
        Some(response) => response,
        None => accept(pipeline, endpoint, body).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Changes,
    Lifecycle,
}

/// The inbox key of a new chat message: Graph's redeliveries and catch-up land on one row,
/// whichever way the resource was spelled.
pub(crate) fn message_dedupe_key(chat_id: &str, message_id: &str) -> String {
    format!("created:{chat_id}:{message_id}")
}

/// What to do with one valid item.
fn inbox_item(
    endpoint: Endpoint,
    item: &ChangeNotification,
    raw: String,
) -> Result<NewInboxItem, &'static str> {
    match endpoint {
        Endpoint::Lifecycle => {
            if item.lifecycle_event.is_none() {
                return Err("not_lifecycle");
            }
            Ok(NewInboxItem {
                kind: KIND_LIFECYCLE.to_owned(),
                dedupe_key: None,
                payload: without_client_state(&raw),
            })
        }
        Endpoint::Changes => {
            if item.change_type != "created" {
                // Edits and deletions are never notified: not worth a row or a Graph call.
                return Err(bridge_core::notify::policy::SkipReason::Edited.label());
            }
            let Some((chat_id, message_id)) = item.chat_message_ids() else {
                return Err(bridge_core::notify::policy::SkipReason::ChannelPost.label());
            };
            // Graph redelivers a notification it got no timely answer for: one row per message.
            Ok(NewInboxItem {
                kind: KIND_MESSAGE.to_owned(),
                dedupe_key: Some(message_dedupe_key(&chat_id, &message_id)),
                payload: without_client_state(&raw),
            })
        }
    }
}

async fn accept(pipeline: &NotifyPipeline, endpoint: Endpoint, body: &[u8]) -> Response {
    let items = match checked_items(
        body,
        pipeline.webhook_secret.expose_secret(),
        |item, raw| inbox_item(endpoint, item, raw.to_owned()),
        |reason| pipeline.metrics.discarded(reason),
    ) {
        Ok(items) => items,
        Err(refused) => return *refused,
    };
    if !items.is_empty() {
        let now = pipeline.clock.now();
        match pipeline.store.enqueue(&items, now).await {
            Ok(_) => {
                let kind = match endpoint {
                    Endpoint::Changes => "change",
                    Endpoint::Lifecycle => "lifecycle",
                };
                pipeline
                    .metrics
                    .received(kind, u64::try_from(items.len()).unwrap_or(u64::MAX));
                pipeline.wake_workers();
            }
            Err(err) => {
                // Not stored, so not acknowledged: Graph retries, and nothing is lost.
                tracing::error!(error = %err, "could not store Graph notifications; answering 503 so that Graph retries");
                return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response();
            }
        }
    }
    StatusCode::ACCEPTED.into_response()
}
