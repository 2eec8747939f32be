//! The HTTP endpoints of account linking: `POST /mattermost/command`, `GET /oauth/connect`,
//! `GET /oauth/redirect` and `POST /mattermost/action`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use bridge_core::linking::command::TRIGGER;
use bridge_core::linking::{BotMessage, SignInPage, replies};
use mm_client::{ActionRequest, ActionResponse, CommandResponse, PostUpdate};
use ring::digest;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::TeamsApp;
use super::buttons::{self, Rejected};
use super::pages;
use super::ports::ConnectTarget;

/// The routes of account linking.
pub fn routes(app: Arc<TeamsApp>) -> Router {
    Router::new()
        .route("/mattermost/command", post(command))
        .route("/mattermost/action", post(action))
        .route("/oauth/connect", get(connect))
        .route("/oauth/redirect", get(redirect))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(super::notify::routes(app.notify.clone()))
}

/// `GET /metrics`: Prometheus' text format, with the inbox's depth read at scrape time.
async fn metrics(State(app): State<Arc<TeamsApp>>) -> Response {
    let pipeline = &app.notify;
    match app.store.inbox_counts(app.clock.now()).await {
        Ok(counts) => pipeline.metrics().set_queue(counts),
        Err(err) => tracing::debug!(error = %err, "could not count the inbox for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        pipeline.metrics().render(),
    )
        .into_response()
}

/// Compares two secrets in time that does not depend on where they differ (both are hashed first,
/// so lengths leak nothing either).
pub(crate) fn same_secret(a: &SecretString, b: &SecretString) -> bool {
    let a = digest::digest(&digest::SHA256, a.expose_secret().as_bytes());
    let b = digest::digest(&digest::SHA256, b.expose_secret().as_bytes());
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": message})),
    )
        .into_response()
}

/// `POST /mattermost/command`: a `/msteams` invocation, form-encoded as Mattermost sends it.
async fn command(State(app): State<Arc<TeamsApp>>, body: Bytes) -> Response {
    let fields: HashMap<String, String> = match serde_urlencoded_pairs(&body) {
        Some(fields) => fields,
        None => {
            return (
                StatusCode::BAD_REQUEST,
                "expected a form-encoded slash command",
            )
                .into_response();
        }
    };
    let token = SecretString::from(fields.get("token").cloned().unwrap_or_default());
    let accepted = app
        .command_tokens
        .read()
        .map(|tokens| tokens.iter().any(|t| same_secret(t, &token)))
        .unwrap_or(false);
    if token.expose_secret().is_empty() || !accepted {
        tracing::warn!(
            user_id = fields.get("user_id").map(String::as_str).unwrap_or(""),
            "slash command with a missing or wrong token refused"
        );
        return unauthorized("invalid or missing command token");
    }
    let Some(user_id) = fields.get("user_id").filter(|u| !u.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "user_id is missing").into_response();
    };
    let text = fields.get("text").map(String::as_str).unwrap_or("");
    let reply = match app.linker.command(user_id, text).await {
        Ok(reply) => reply,
        Err(err) => {
            tracing::error!(error = %err, user_id, "/{TRIGGER} failed");
            BotMessage::text(replies::try_again_later())
        }
    };
    let props = buttons::render(
        &reply,
        &app.sealer,
        &app.action_url,
        user_id,
        app.clock.now(),
    );
    let mut response = CommandResponse::ephemeral(reply.text);
    if let Some(props) = props {
        response.attachments = props.attachments;
    }
    axum::Json(response).into_response()
}

/// Form fields as a map; `None` if the body is not `application/x-www-form-urlencoded` text.
fn serde_urlencoded_pairs(body: &[u8]) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    Some(
        url::form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect(),
    )
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
    let now = app.clock.now();
    let action = match buttons::open_context(&app.sealer, &request.context, &request.user_id, now) {
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
    match app.linker.click(&request.user_id, action).await {
        Ok(outcome) => {
            let update = outcome.update.map(|message| {
                let props = buttons::render(
                    &message,
                    &app.sealer,
                    &app.action_url,
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

#[derive(Debug, Deserialize)]
struct ConnectQuery {
    #[serde(default)]
    state: String,
}

fn page(page: &SignInPage) -> Response {
    pages::render(page, "Microsoft Teams for Mattermost")
}

/// `GET /oauth/connect?state=...`: the link from `/msteams connect`; sends the browser to
/// Microsoft's sign-in with the state and the PKCE challenge.
async fn connect(State(app): State<Arc<TeamsApp>>, Query(query): Query<ConnectQuery>) -> Response {
    let again = format!("Run `/{TRIGGER} connect` in Mattermost to get a new link.");
    match app.sign_in.authorize_target(&query.state).await {
        Ok(ConnectTarget::Authorize(url)) => {
            let mut response = Redirect::to(url.as_str()).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Ok(ConnectTarget::Unknown) => page(&SignInPage {
            success: false,
            title: "Link not valid".into(),
            message: format!("This sign-in link is not valid or has already been used. {again}"),
        }),
        Ok(ConnectTarget::Expired) => page(&SignInPage {
            success: false,
            title: "Link expired".into(),
            message: format!("This sign-in link has expired. {again}"),
        }),
        Err(err) => {
            tracing::error!(error = %err, "could not start a sign-in");
            page(&SignInPage {
                success: false,
                title: "Not connected".into(),
                message: replies::try_again_later(),
            })
        }
    }
}

#[derive(Debug, Deserialize)]
struct RedirectQuery {
    #[serde(default)]
    state: String,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth/redirect`: Microsoft sends the browser back with a code (or an error).
async fn redirect(
    State(app): State<Arc<TeamsApp>>,
    Query(query): Query<RedirectQuery>,
) -> Response {
    let result = match (&query.code, &query.error) {
        (Some(code), None) if !code.is_empty() => {
            app.linker.finish_sign_in(&query.state, code).await
        }
        _ => {
            let error = query.error.as_deref().unwrap_or("");
            // The description is for the log only: it comes from the URL, where anyone may have
            // written it. First line, bounded, and Debug-quoted so it cannot forge log lines.
            let description: String = query
                .error_description
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            tracing::info!(error = ?error.chars().take(64).collect::<String>(), ?description, "sign-in returned without a code");
            app.linker.abandon_sign_in(&query.state, error).await
        }
    };
    page(&result)
}
