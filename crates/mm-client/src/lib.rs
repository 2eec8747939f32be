#![doc = include_str!("../README.md")]

mod client;
mod error;
mod inbound;
mod models;

pub use client::{MattermostClient, REQUEST_TIMEOUT};
pub use error::MmError;
pub use inbound::{
    ActionRequest, ActionResponse, CommandResponse, PostUpdate, ResponseType, SlashCommandRequest,
};
pub use models::{
    Action, ActionStyle, Attachment, AttachmentField, CommandInfo, CommandSpec, CustomStatus,
    FileInfo, Integration, NewPost, Post, PostProps, Team, User, UserStatus,
};

use url::Url;

/// Why a Mattermost URL could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiUrlError {
    #[error("`{0}` is not an absolute http(s) URL")]
    NotHttp(String),
}

/// The REST API v4 of one Mattermost server, which may live under a path prefix
/// (`https://example.com/chat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MattermostApi {
    base: String,
}

impl MattermostApi {
    pub fn new(site_url: &Url) -> Result<Self, ApiUrlError> {
        if !matches!(site_url.scheme(), "http" | "https") || site_url.cannot_be_a_base() {
            return Err(ApiUrlError::NotHttp(site_url.to_string()));
        }
        Ok(Self {
            base: format!("{}/api/v4", site_url.as_str().trim_end_matches('/')),
        })
    }

    /// `endpoint("/users/me")` is `<site>/api/v4/users/me`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// The WebSocket event stream, `ws://` or `wss://` to match the site's scheme.
    pub fn websocket(&self) -> String {
        let url = self.endpoint("/websocket");
        match url.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", url.trim_start_matches("http://")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_respect_prefixes_and_schemes() {
        let api = MattermostApi::new(&Url::parse("https://example.com/chat/").expect("url"))
            .expect("api");
        assert_eq!(
            api.endpoint("/users/me"),
            "https://example.com/chat/api/v4/users/me"
        );
        assert_eq!(api.websocket(), "wss://example.com/chat/api/v4/websocket");
        let local =
            MattermostApi::new(&Url::parse("http://127.0.0.1:8065").expect("url")).expect("api");
        assert_eq!(
            local.endpoint("posts"),
            "http://127.0.0.1:8065/api/v4/posts"
        );
        assert_eq!(local.websocket(), "ws://127.0.0.1:8065/api/v4/websocket");
        assert!(MattermostApi::new(&Url::parse("mailto:x@y").expect("url")).is_err());
    }
}
