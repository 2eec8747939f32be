//! What we send to and read from Mattermost: our own models, holding the fields we use and
//! tolerant of the rest.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Mattermost user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub nickname: String,
    /// Space-separated roles, such as `system_user system_admin`.
    #[serde(default)]
    pub roles: String,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub delete_at: i64,
}

impl User {
    pub fn is_system_admin(&self) -> bool {
        self.roles.split_whitespace().any(|r| r == "system_admin")
    }

    /// "First Last", else the nickname, else the username.
    pub fn display_name(&self) -> String {
        let full = format!("{} {}", self.first_name, self.last_name);
        let full = full.trim();
        if !full.is_empty() {
            full.to_owned()
        } else if !self.nickname.is_empty() {
            self.nickname.clone()
        } else {
            self.username.clone()
        }
    }
}

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub display_name: String,
}

/// A post as Mattermost returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Post {
    pub id: String,
    pub channel_id: String,
    pub user_id: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub root_id: String,
    #[serde(default)]
    pub props: Value,
    #[serde(default)]
    pub create_at: i64,
    #[serde(default)]
    pub update_at: i64,
}

/// A post to create.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewPost {
    pub channel_id: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub props: Option<PostProps>,
}

/// Post props: message attachments (with their buttons).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostProps {
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A message attachment (Slack-compatible).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fallback: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pretext: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title_link: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<AttachmentField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentField {
    pub title: String,
    pub value: String,
    #[serde(default)]
    pub short: bool,
}

/// How a button looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionStyle {
    #[default]
    Default,
    Primary,
    Success,
    Good,
    Warning,
    Danger,
}

/// A button. Its `id` may hold letters and digits only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub id: String,
    #[serde(rename = "type")]
    pub action_type: String,
    pub name: String,
    #[serde(default)]
    pub style: ActionStyle,
    pub integration: Integration,
}

impl Default for Action {
    fn default() -> Self {
        Self {
            id: String::new(),
            action_type: "button".to_owned(),
            name: String::new(),
            style: ActionStyle::Default,
            integration: Integration::default(),
        }
    }
}

/// Where a click goes, and the context Mattermost echoes back with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub url: String,
    #[serde(default)]
    pub context: Value,
}

/// A custom slash command to register.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CommandSpec {
    pub trigger: String,
    pub url: String,
    pub display_name: String,
    pub description: String,
    pub auto_complete_desc: String,
    pub auto_complete_hint: String,
    pub username: String,
    pub icon_url: String,
}

/// A registered command. `token` is what Mattermost sends with each invocation; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct CommandInfo {
    pub id: String,
    pub team_id: String,
    pub trigger: String,
    pub url: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub auto_complete_hint: String,
    #[serde(default)]
    pub auto_complete_desc: String,
}

impl std::fmt::Debug for CommandInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandInfo")
            .field("id", &self.id)
            .field("team_id", &self.team_id)
            .field("trigger", &self.trigger)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The answer to a slash command.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CommandResponse {
    pub response_type: String,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub goto_location: String,
}

impl CommandResponse {
    /// Shown only to the user who ran the command.
    pub fn ephemeral(text: impl Into<String>) -> Self {
        Self {
            response_type: "ephemeral".to_owned(),
            text: text.into(),
            ..Self::default()
        }
    }

    /// Posted in the channel for everyone.
    pub fn in_channel(text: impl Into<String>) -> Self {
        Self {
            response_type: "in_channel".to_owned(),
            text: text.into(),
            ..Self::default()
        }
    }
}

/// What Mattermost POSTs to a button's integration URL (`PostActionIntegrationRequest`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ActionRequest {
    pub user_id: String,
    pub user_name: String,
    pub channel_id: String,
    pub channel_name: String,
    pub team_id: String,
    pub team_domain: String,
    pub post_id: String,
    pub trigger_id: String,
    #[serde(rename = "type")]
    pub action_type: String,
    pub data_source: String,
    pub context: Value,
}

/// The answer to a click: rewrite the post, tell the user something, or send them somewhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<PostUpdate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goto_location: Option<String>,
}

/// The new content of a clicked post.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PostUpdate {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub props: Option<PostProps>,
}
