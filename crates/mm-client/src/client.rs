//! An authenticated Mattermost REST client on mattermost_api.

use mattermost_api::errors::ApiError;
use mattermost_api::prelude::{AuthenticationData, Mattermost};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use crate::models::{CommandInfo, CommandSpec, NewPost, Post, PostProps, Team, User};

/// Why a Mattermost call failed. No variant carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MmError {
    #[error("not found in Mattermost (404)")]
    NotFound,
    #[error("Mattermost refused the token (401)")]
    Unauthorized,
    #[error("Mattermost denied the call (403): {0}")]
    Forbidden(String),
    #[error("Mattermost is rate limiting (429)")]
    RateLimited,
    #[error("Mattermost answered {status} ({id}): {message}")]
    Api {
        status: u16,
        id: String,
        message: String,
    },
    #[error(
        "the slash command /{trigger} already exists and calls {url}; remove it or pick another trigger"
    )]
    CommandConflict { trigger: String, url: String },
    #[error("cannot reach Mattermost: {0}")]
    Transport(String),
    #[error("`{0}` is not a usable Mattermost URL")]
    InvalidUrl(String),
}

impl From<ApiError> for MmError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::MattermostApiError(e) => match e.status_code {
                401 => Self::Unauthorized,
                403 => Self::Forbidden(e.message),
                404 => Self::NotFound,
                429 => Self::RateLimited,
                status => Self::Api {
                    status: u16::try_from(status).unwrap_or(0),
                    id: e.id,
                    message: e.message,
                },
            },
            ApiError::StatusCodeError(401) => Self::Unauthorized,
            ApiError::StatusCodeError(403) => Self::Forbidden(String::new()),
            ApiError::StatusCodeError(404) => Self::NotFound,
            ApiError::StatusCodeError(429) => Self::RateLimited,
            ApiError::StatusCodeError(status) => Self::Api {
                status,
                id: String::new(),
                message: String::new(),
            },
            ApiError::ReqwestError(e) => Self::Transport(e.without_url().to_string()),
            ApiError::UrlError(e) => Self::InvalidUrl(e.to_string()),
            other => Self::Transport(other.to_string()),
        }
    }
}

/// A client acting with one token (the bot's or an admin's). `Debug` never shows the token.
pub struct MattermostClient {
    api: Mattermost,
    site: Url,
}

impl std::fmt::Debug for MattermostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MattermostClient")
            .field("site", &self.site.as_str())
            .finish_non_exhaustive()
    }
}

fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl MattermostClient {
    /// A client for the server at `site_url` (with or without a path prefix).
    pub fn new(site_url: &Url, token: &SecretString) -> Result<Self, MmError> {
        let api_base = crate::MattermostApi::new(site_url)
            .map_err(|_| MmError::InvalidUrl(site_url.to_string()))?
            .endpoint("/");
        let api = Mattermost::new(
            &api_base,
            AuthenticationData::from_access_token(token.expose_secret()),
        )
        .map_err(|_| MmError::InvalidUrl(site_url.to_string()))?;
        Ok(Self {
            api,
            site: site_url.clone(),
        })
    }

    async fn get<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, MmError> {
        Ok(self.api.query("GET", endpoint, None, None).await?)
    }

    async fn put<T: DeserializeOwned>(&self, endpoint: &str, body: &Value) -> Result<T, MmError> {
        let body = body.to_string();
        Ok(self.api.query("PUT", endpoint, None, Some(&body)).await?)
    }

    async fn post<T: DeserializeOwned>(&self, endpoint: &str, body: &Value) -> Result<T, MmError> {
        Ok(self.api.post(endpoint, None, body).await?)
    }

    /// The account the token belongs to.
    pub async fn me(&self) -> Result<User, MmError> {
        self.get("users/me").await
    }

    pub async fn user(&self, user_id: &str) -> Result<User, MmError> {
        self.get(&format!("users/{}", path_segment(user_id))).await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<User, MmError> {
        self.get(&format!("users/email/{}", path_segment(email)))
            .await
    }

    pub async fn user_by_username(&self, username: &str) -> Result<User, MmError> {
        self.get(&format!("users/username/{}", path_segment(username)))
            .await
    }

    /// The direct channel of two users (created if needed); returns its id.
    pub async fn direct_channel(&self, user_a: &str, user_b: &str) -> Result<String, MmError> {
        let channel: Value = self
            .post("channels/direct", &json!([user_a, user_b]))
            .await?;
        channel["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MmError::Transport("channel without an id".into()))
    }

    pub async fn create_post(&self, post: &NewPost) -> Result<Post, MmError> {
        let body = serde_json::to_value(post).map_err(|e| MmError::Transport(e.to_string()))?;
        self.post("posts", &body).await
    }

    /// A direct message from the bot (`from_user_id`) to `to_user_id`.
    pub async fn dm(
        &self,
        from_user_id: &str,
        to_user_id: &str,
        message: &str,
        props: Option<PostProps>,
    ) -> Result<Post, MmError> {
        let channel_id = self.direct_channel(from_user_id, to_user_id).await?;
        self.create_post(&NewPost {
            channel_id,
            message: message.to_owned(),
            root_id: None,
            props,
        })
        .await
    }

    /// A post only `user_id` sees, in `channel_id`.
    pub async fn ephemeral(
        &self,
        user_id: &str,
        channel_id: &str,
        message: &str,
        props: Option<PostProps>,
    ) -> Result<Post, MmError> {
        let mut post = json!({"channel_id": channel_id, "message": message});
        if let Some(props) = props {
            post["props"] = serde_json::to_value(props).unwrap_or(Value::Null);
        }
        self.post(
            "posts/ephemeral",
            &json!({"user_id": user_id, "post": post}),
        )
        .await
    }

    pub async fn get_post(&self, post_id: &str) -> Result<Post, MmError> {
        self.get(&format!("posts/{}", path_segment(post_id))).await
    }

    /// Rewrites a post's message (and props, when given).
    pub async fn update_post(
        &self,
        post_id: &str,
        message: &str,
        props: Option<PostProps>,
    ) -> Result<Post, MmError> {
        let mut body = json!({"message": message});
        if let Some(props) = props {
            body["props"] = serde_json::to_value(props).unwrap_or(Value::Null);
        }
        self.put(&format!("posts/{}/patch", path_segment(post_id)), &body)
            .await
    }

    /// The teams the token's account can see (every team, for an admin).
    pub async fn teams(&self) -> Result<Vec<Team>, MmError> {
        self.get("teams").await
    }

    /// Custom slash commands of a team, with their tokens (admin only).
    pub async fn commands(&self, team_id: &str) -> Result<Vec<CommandInfo>, MmError> {
        Ok(self
            .api
            .query(
                "GET",
                "commands",
                Some(&[("team_id", team_id), ("custom_only", "true")]),
                None,
            )
            .await?)
    }

    /// Registers `spec` in the team, or updates the command this service registered before
    /// (same trigger and URL), keeping its token. A command with the same trigger that calls
    /// another URL belongs to someone else: [`MmError::CommandConflict`], and nothing changes.
    pub async fn ensure_command(
        &self,
        team_id: &str,
        spec: &CommandSpec,
    ) -> Result<CommandInfo, MmError> {
        let trigger = spec.trigger.trim_start_matches('/').to_lowercase();
        let body = |id: Option<&str>| {
            let mut body = json!({
                "team_id": team_id,
                "trigger": trigger,
                "url": spec.url,
                "method": "P",
                "display_name": spec.display_name,
                "description": spec.description,
                "auto_complete": true,
                "auto_complete_desc": spec.auto_complete_desc,
                "auto_complete_hint": spec.auto_complete_hint,
                "username": spec.username,
                "icon_url": spec.icon_url,
            });
            if let Some(id) = id {
                body["id"] = Value::from(id);
            }
            body
        };
        let existing = self
            .commands(team_id)
            .await?
            .into_iter()
            .find(|c| c.trigger.eq_ignore_ascii_case(&trigger));
        match existing {
            Some(command) if command.url == spec.url => {
                let mut updated: CommandInfo = self
                    .put(
                        &format!("commands/{}", path_segment(&command.id)),
                        &body(Some(&command.id)),
                    )
                    .await?;
                if updated.token.is_empty() {
                    updated.token = command.token;
                }
                Ok(updated)
            }
            Some(command) => Err(MmError::CommandConflict {
                trigger,
                url: command.url,
            }),
            None => self.post("commands", &body(None)).await,
        }
    }
}
