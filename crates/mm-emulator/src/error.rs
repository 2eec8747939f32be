//! Errors: `AppError` is what the HTTP API answers (Mattermost's AppError JSON); `EmulatorError`
//! is what the scripting API returns.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ids::new_id;

/// Mattermost's error body: `{"id","message","detailed_error","request_id","status_code","is_oauth"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppError {
    pub(crate) status: StatusCode,
    pub(crate) id: String,
    pub(crate) message: String,
    pub(crate) detailed_error: String,
}

impl AppError {
    pub(crate) fn new(status: StatusCode, id: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            id: id.to_owned(),
            message: message.into(),
            detailed_error: String::new(),
        }
    }

    pub(crate) fn detailed(mut self, detail: impl Into<String>) -> Self {
        self.detailed_error = detail.into();
        self
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
        )
    }

    pub(crate) fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "api.context.permissions.app_error",
            "You do not have the appropriate permissions.",
        )
    }

    pub(crate) fn bad_request(id: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, id, message)
    }

    /// A missing or malformed field of the JSON body.
    pub(crate) fn invalid_body(name: &str) -> Self {
        Self::bad_request(
            "api.context.invalid_body_param.app_error",
            format!("Invalid or missing {name} in request body."),
        )
    }

    /// A malformed path or query parameter.
    pub(crate) fn invalid_url_param(name: &str) -> Self {
        Self::bad_request(
            "api.context.invalid_url_param.app_error",
            format!("Invalid or missing {name} parameter in request URL."),
        )
    }

    pub(crate) fn invalid_param(name: &str) -> Self {
        Self::bad_request(
            "api.context.invalid_param.app_error",
            format!("Invalid {name} parameter."),
        )
    }

    pub(crate) fn not_found(id: &str, message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, id, message)
    }

    pub(crate) fn user_not_found() -> Self {
        Self::not_found("app.user.missing_account.const", "Unable to find the user.")
    }

    pub(crate) fn channel_not_found() -> Self {
        Self::not_found(
            "app.channel.get.existing.app_error",
            "Unable to find the existing channel.",
        )
    }

    pub(crate) fn post_not_found() -> Self {
        Self::not_found("app.post.get.app_error", "Unable to get the post.")
    }

    pub(crate) fn file_not_found() -> Self {
        Self::not_found(
            "app.file_info.get.app_error",
            "Unable to get the file info.",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let request_id = new_id();
        let body = json!({
            "id": self.id,
            "message": self.message,
            "detailed_error": self.detailed_error,
            "request_id": request_id,
            "status_code": self.status.as_u16(),
            "is_oauth": false,
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("X-Request-Id", value);
        }
        response
    }
}

/// Why a scripting call failed.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The emulated server refused the operation, as its REST API would (same status and id).
    #[error("{status} {id}: {message}")]
    Rejected {
        status: u16,
        id: String,
        message: String,
    },
    /// A slash command's URL was unreachable, timed out or answered with a non-2xx status; the
    /// message is what Mattermost shows the user.
    #[error("{message}")]
    CommandFailed { trigger: String, message: String },
    /// An interactive button's integration URL failed or answered badly.
    #[error("{message}")]
    ActionFailed { action_id: String, message: String },
}

impl From<AppError> for EmulatorError {
    fn from(err: AppError) -> Self {
        EmulatorError::Rejected {
            status: err.status.as_u16(),
            id: err.id,
            message: err.message,
        }
    }
}
