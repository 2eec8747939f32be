//! Why a Mattermost call failed, in variants a caller can act on.

use mattermost_api::errors::ApiError;

/// Why a Mattermost call failed. No variant carries a token: transport errors are reduced to
/// their messages with the request URL removed, and URLs lose their user info.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MmError {
    /// The user, post, channel or command does not exist, or the token may not see it (404).
    #[error("not found in Mattermost (404)")]
    NotFound,
    /// The token is unknown, revoked, or belongs to a deactivated account (401).
    #[error("Mattermost refused the token (401)")]
    Unauthorized,
    /// The token's account lacks a permission; the server's message names it (403).
    #[error("Mattermost denied the call (403): {0}")]
    Forbidden(String),
    /// Too many requests (429); try again later.
    #[error("Mattermost is rate limiting (429)")]
    RateLimited,
    /// Any other error answer, with Mattermost's error id (such as
    /// `api.command.duplicate_trigger.app_error`) when the body had one.
    #[error("Mattermost answered {status} ({id}): {message}")]
    Api {
        status: u16,
        id: String,
        message: String,
    },
    /// The trigger is taken by a command that calls another URL: someone else's integration,
    /// which is left alone.
    #[error(
        "the slash command /{trigger} already exists and calls {url}; remove it or pick another trigger"
    )]
    CommandConflict { trigger: String, url: String },
    /// No usable answer: the server could not be reached, or its answer could not be read.
    #[error("cannot talk to Mattermost: {0}")]
    Transport(String),
    /// The site URL cannot address a Mattermost server.
    #[error("`{0}` is not a usable Mattermost URL")]
    InvalidUrl(String),
}

impl MmError {
    /// Whether the same call may work later without changing anything (rate limits, server
    /// errors, network trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited | Self::Transport(_) => true,
            Self::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether Mattermost refused an upload for its size (413: over the server's maximum file
    /// size).
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::Api { status: 413, .. })
    }

    pub(crate) fn from_status(status: u16, id: String, message: String) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden(message),
            404 => Self::NotFound,
            429 => Self::RateLimited,
            status => Self::Api {
                status,
                id,
                message,
            },
        }
    }
}

impl From<ApiError> for MmError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::MattermostApiError(e) => {
                Self::from_status(u16::try_from(e.status_code).unwrap_or(0), e.id, e.message)
            }
            // A non-JSON error body, such as the plain-text `limit exceeded` of a 429.
            ApiError::StatusCodeError(status) => {
                Self::from_status(status, String::new(), String::new())
            }
            ApiError::ReqwestError(e) => Self::Transport(describe(&e.without_url())),
            ApiError::UrlError(e) => Self::InvalidUrl(e.to_string()),
            // The others (header, JSON, method, WebSocket) say nothing secret either; the
            // header errors are about the token's *format* and never echo it.
            other => Self::Transport(describe(&other)),
        }
    }
}

/// An error and its sources, `outer: inner: innermost`, so "error sending request" says why.
pub(crate) fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

/// `url` without user name or password, for messages and `Debug`.
pub(crate) fn redacted(url: &url::Url) -> String {
    let mut url = url.clone();
    // Both fail only for URLs that cannot have credentials, which then have none to hide.
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

#[cfg(test)]
mod tests {
    use mattermost_api::models::MattermostError;

    use super::*;

    fn app_error(status_code: i16, id: &str) -> ApiError {
        ApiError::MattermostApiError(MattermostError {
            id: id.to_owned(),
            message: "no".to_owned(),
            request_id: String::new(),
            status_code,
            is_oauth: None,
        })
    }

    #[test]
    fn statuses_map_to_what_a_caller_can_act_on() {
        assert_eq!(MmError::from(app_error(401, "x")), MmError::Unauthorized);
        assert_eq!(
            MmError::from(app_error(403, "x")),
            MmError::Forbidden("no".into())
        );
        assert_eq!(MmError::from(app_error(404, "x")), MmError::NotFound);
        assert_eq!(
            MmError::from(ApiError::StatusCodeError(429)),
            MmError::RateLimited
        );
        assert_eq!(
            MmError::from(app_error(400, "api.command.duplicate_trigger.app_error")),
            MmError::Api {
                status: 400,
                id: "api.command.duplicate_trigger.app_error".into(),
                message: "no".into()
            }
        );
        assert!(MmError::from(ApiError::StatusCodeError(502)).is_transient());
        assert!(!MmError::NotFound.is_transient());
    }

    #[test]
    fn redacted_urls_lose_their_credentials() {
        let url = url::Url::parse("https://bot:s3cret@chat.example.com/mm").expect("url");
        assert_eq!(redacted(&url), "https://chat.example.com/mm");
    }
}
