//! The HTTP endpoints shared by both products: the sign-in round trip (`GET /oauth/connect`,
//! `GET /oauth/redirect`), and the helpers the command and action endpoints use.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use bridge_core::linking::{SignInPage, replies};
use ring::digest;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::Linking;
use super::pages;
use super::ports::ConnectTarget;

/// `GET /oauth/connect` and `GET /oauth/redirect`.
pub fn oauth_routes(linking: Arc<Linking>) -> Router {
    Router::new()
        .route("/oauth/connect", get(connect))
        .route("/oauth/redirect", get(redirect))
        .with_state(linking)
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

pub(crate) fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": message})),
    )
        .into_response()
}

/// Form fields as a map; `None` if the body is not `application/x-www-form-urlencoded` text.
pub(crate) fn serde_urlencoded_pairs(body: &[u8]) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    Some(
        url::form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect(),
    )
}

#[derive(Debug, Deserialize)]
struct ConnectQuery {
    #[serde(default)]
    state: String,
}

fn page(app: &Linking, page: &SignInPage) -> Response {
    pages::render(page, app.page_title)
}

/// `GET /oauth/connect?state=...`: the link from `/msteams connect`; sends the browser to
/// Microsoft's sign-in with the state and the PKCE challenge.
async fn connect(State(app): State<Arc<Linking>>, Query(query): Query<ConnectQuery>) -> Response {
    let again = format!(
        "Run `/{} connect` in Mattermost to get a new link.",
        app.trigger()
    );
    match app.sign_in.authorize_target(&query.state).await {
        Ok(ConnectTarget::Authorize(url)) => {
            let mut response = Redirect::to(url.as_str()).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Ok(ConnectTarget::Unknown) => page(
            &app,
            &SignInPage {
                success: false,
                title: "Link not valid".into(),
                message: format!(
                    "This sign-in link is not valid or has already been used. {again}"
                ),
            },
        ),
        Ok(ConnectTarget::Expired) => page(
            &app,
            &SignInPage {
                success: false,
                title: "Link expired".into(),
                message: format!("This sign-in link has expired. {again}"),
            },
        ),
        Err(err) => {
            tracing::error!(error = %err, "could not start a sign-in");
            page(
                &app,
                &SignInPage {
                    success: false,
                    title: "Not connected".into(),
                    message: replies::try_again_later(),
                },
            )
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
async fn redirect(State(app): State<Arc<Linking>>, Query(query): Query<RedirectQuery>) -> Response {
    let result = match (&query.code, &query.error) {
        (Some(code), None) if !code.is_empty() => {
            let page = app.linker.finish_sign_in(&query.state, code).await;
            if page.success {
                app.signed_in.notify_one();
            }
            page
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
    page(&app, &result)
}

/// A slash-command call whose token was accepted.
#[derive(Debug)]
pub(crate) struct CommandCall {
    pub(crate) user_id: String,
    /// What follows the trigger.
    pub(crate) text: String,
}

impl Linking {
    /// Reads a slash-command POST as Mattermost sends it (form-encoded) and checks its token in
    /// constant time: the call, or the response refusing it (400 malformed, 401 wrong token).
    pub(crate) fn command_call(&self, body: &[u8]) -> Result<CommandCall, Box<Response>> {
        let Some(fields) = serde_urlencoded_pairs(body) else {
            return Err(Box::new(
                (
                    StatusCode::BAD_REQUEST,
                    "expected a form-encoded slash command",
                )
                    .into_response(),
            ));
        };
        let token = SecretString::from(fields.get("token").cloned().unwrap_or_default());
        if !self.accepts_command_token(&token) {
            tracing::warn!(
                user_id = fields.get("user_id").map(String::as_str).unwrap_or(""),
                "slash command with a missing or wrong token refused"
            );
            return Err(Box::new(unauthorized("invalid or missing command token")));
        }
        let Some(user_id) = fields.get("user_id").filter(|u| !u.is_empty()) else {
            return Err(Box::new(
                (StatusCode::BAD_REQUEST, "user_id is missing").into_response(),
            ));
        };
        Ok(CommandCall {
            user_id: user_id.clone(),
            text: fields.get("text").cloned().unwrap_or_default(),
        })
    }
}
