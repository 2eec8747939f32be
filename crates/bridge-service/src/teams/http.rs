//! The Teams endpoints: `POST /mattermost/command` (`/msteams`), `POST /mattermost/action`
//! (its buttons) and `GET /metrics`; the sign-in round trip is shared ([`crate::linking`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bridge_core::linking::command::TRIGGER;
use bridge_core::linking::{BotMessage, replies};
use mm_client::{ActionRequest, ActionResponse, CommandResponse, PostUpdate};

use super::TeamsApp;
use crate::linking::buttons::{self, Rejected};

/// The routes of the Teams integration.
pub fn routes(app: Arc<TeamsApp>) -> Router {
    Router::new()
        .route("/mattermost/command", post(command))
        .route("/mattermost/action", post(action))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(crate::linking::oauth_routes(app.linking.clone()))
        .merge(super::notify::routes(app.notify.clone()))
}

/// `GET /metrics`: Prometheus' text format, with the inbox's depth read at scrape time.
async fn metrics(State(app): State<Arc<TeamsApp>>) -> Response {
    let pipeline = &app.notify;
    match app
        .linking
        .store
        .inbox_counts(app.linking.clock.now())
        .await
    {
        Ok(counts) => pipeline.metrics().set_queue(counts),
        Err(err) => tracing::debug!(error = %err, "could not count the inbox for /metrics"),
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        pipeline.metrics().render(),
    )
        .into_response()
}

/// `POST /mattermost/command`: a `/msteams` invocation, form-encoded as Mattermost sends it.
async fn command(State(app): State<Arc<TeamsApp>>, body: Bytes) -> Response {
    let call = match app.linking.command_call(&body) {
        Ok(call) => call,
        Err(refused) => return *refused,
    };
    let (user_id, text) = (call.user_id.as_str(), call.text.as_str());
    let reply = match app.linking.linker.command(user_id, text).await {
        Ok(reply) => reply,
        Err(err) => {
            tracing::error!(error = %err, user_id, "/{TRIGGER} failed");
            BotMessage::text(replies::try_again_later())
        }
    };
    let props = buttons::render(
        &reply,
        &app.linking.sealer,
        &app.linking.action_url,
        user_id,
        app.linking.clock.now(),
    );
    let mut response = CommandResponse::ephemeral(reply.text);
    if let Some(props) = props {
        response.attachments = props.attachments;
    }
    axum::Json(response).into_response()
}

/// `POST /mattermost/action`: a click on one of our buttons.
async fn action(State(app): State<Arc<TeamsApp>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<ActionRequest>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "expected an interactive message action",
        )
            .into_response();
    };
    let note = |text: &str| {
        axum::Json(ActionResponse {
            ephemeral_text: Some(text.to_owned()),
            ..ActionResponse::default()
        })
        .into_response()
    };
    let now = app.linking.clock.now();
    let action = match buttons::open_context(
        &app.linking.sealer,
        &request.context,
        &request.user_id,
        now,
    ) {
        Ok(action) => action,
        Err(rejected) => {
            tracing::warn!(user_id = %request.user_id, post_id = %request.post_id, ?rejected, "button click refused");
            return note(&match rejected {
                Rejected::Invalid => format!(
                    "This button is not valid; nothing was changed. Run `/{TRIGGER} settings` for current buttons."
                ),
                Rejected::WrongUser => {
                    "This button was made for someone else; nothing was changed.".to_owned()
                }
                Rejected::TooOld => format!(
                    "This button has expired; nothing was changed. Run `/{TRIGGER} settings` for current buttons."
                ),
            });
        }
    };
    match app.linking.linker.click(&request.user_id, action).await {
        Ok(outcome) => {
            let update = outcome.update.map(|message| {
                let props = buttons::render(
                    &message,
                    &app.linking.sealer,
                    &app.linking.action_url,
                    &request.user_id,
                    now,
                );
                PostUpdate {
                    message: message.text,
                    props: Some(props.unwrap_or_default()),
                }
            });
            axum::Json(ActionResponse {
                update,
                ephemeral_text: outcome.ephemeral,
                ..ActionResponse::default()
            })
            .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, user_id = %request.user_id, "button click failed");
            note(&replies::try_again_later())
        }
    }
}
