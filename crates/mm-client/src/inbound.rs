//! What Mattermost sends to an integration (a slash command's form, a button click's JSON) and
//! the answers it understands, so an HTTP server can parse and reply with these types.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::models::{Attachment, PostProps, secret_string};

/// One slash-command invocation: the `application/x-www-form-urlencoded` body Mattermost POSTs
/// to the command's URL (fields missing from the form are empty). Deserializes with any form
/// decoder, such as axum's `Form`; extra fields (Mattermost adds some for `@user` and
/// `~channel` mentions) are ignored.
///
/// Check [`token`](Self::token) against the token registered for the command before trusting
/// anything else in it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SlashCommandRequest {
    pub channel_id: String,
    pub channel_name: String,
    /// `/` and the trigger, such as `/msteams`.
    pub command: String,
    /// Where up to five follow-up answers may be POSTed within 30 minutes.
    pub response_url: String,
    /// The team's URL name.
    pub team_domain: String,
    pub team_id: String,
    /// What the user typed after the trigger.
    pub text: String,
    /// The command's token, proving the request comes from Mattermost.
    #[serde(deserialize_with = "secret_string")]
    pub token: SecretString,
    /// Opens an interactive dialog, briefly.
    pub trigger_id: String,
    pub user_id: String,
    pub user_name: String,
}

impl SlashCommandRequest {
    /// The trigger without its `/`, such as `msteams`.
    pub fn trigger(&self) -> &str {
        self.command.trim_start_matches('/')
    }
}

/// Who sees a command's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// Only the user who ran the command (Mattermost's default).
    #[default]
    Ephemeral,
    /// Everyone in the channel, as a post by the user who ran it.
    InChannel,
}

/// The answer to a slash command, sent back as JSON (`Content-Type: application/json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandResponse {
    pub response_type: ResponseType,
    pub text: String,
    /// Shown under the text; Mattermost stores them as the post's `props.attachments`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// A URL or Mattermost path the user's client opens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goto_location: Option<String>,
}

impl CommandResponse {
    /// Shown only to the user who ran the command.
    pub fn ephemeral(text: impl Into<String>) -> Self {
        Self {
            response_type: ResponseType::Ephemeral,
            text: text.into(),
            ..Self::default()
        }
    }

    /// Posted in the channel for everyone.
    pub fn in_channel(text: impl Into<String>) -> Self {
        Self {
            response_type: ResponseType::InChannel,
            text: text.into(),
            ..Self::default()
        }
    }

    pub fn with_attachments(mut self, attachments: Vec<Attachment>) -> Self {
        self.attachments = attachments;
        self
    }

    /// Also sends the user's client to `location`.
    pub fn with_goto_location(mut self, location: impl Into<String>) -> Self {
        self.goto_location = Some(location.into());
        self
    }
}

/// What Mattermost POSTs as JSON to a button's `integration.url` when it is clicked
/// (`PostActionIntegrationRequest`).
///
/// Mattermost does not sign clicks: trust [`context`](Self::context) only if it carries
/// something you can check, and then only for the user it was made for.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ActionRequest {
    pub user_id: String,
    pub user_name: String,
    pub channel_id: String,
    pub channel_name: String,
    pub team_id: String,
    pub team_domain: String,
    /// The post holding the button.
    pub post_id: String,
    pub trigger_id: String,
    /// `button` or `select`.
    #[serde(rename = "type")]
    pub action_type: String,
    /// For menus filled by Mattermost: `users` or `channels`.
    pub data_source: String,
    /// The button's `integration.context`, as posted (`null` if it had none).
    pub context: Value,
}

impl ActionRequest {
    /// For menus, the value the user picked (`context.selected_option`).
    pub fn selected_option(&self) -> Option<&str> {
        self.context.get("selected_option").and_then(Value::as_str)
    }
}

/// The answer to a click: rewrite the post, tell the user something, or send them somewhere.
/// `ActionResponse::default()` (`{}`) changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<PostUpdate>,
    /// Shown only to the user who clicked, as a post from the post's author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goto_location: Option<String>,
}

impl ActionResponse {
    /// Only tells the user something.
    pub fn ephemeral(text: impl Into<String>) -> Self {
        Self {
            ephemeral_text: Some(text.into()),
            ..Self::default()
        }
    }

    /// Rewrites the clicked post.
    pub fn updating(update: PostUpdate) -> Self {
        Self {
            update: Some(update),
            ..Self::default()
        }
    }
}

/// The new content of a clicked post.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostUpdate {
    pub message: String,
    /// `None` keeps the post's props (its buttons stay); `Some` replaces them, so
    /// `Some(PostProps::default())` removes the buttons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub props: Option<PostProps>,
}

impl PostUpdate {
    /// The message, with the buttons removed.
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            props: Some(PostProps::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;
    use serde_json::json;

    use super::*;

    #[test]
    fn slash_command_requests_hide_their_token() {
        let request: SlashCommandRequest = serde_json::from_value(json!({
            "command": "/msteams", "text": "connect", "token": "sekrit", "user_id": "u1",
            "channel_mentions": "ignored"
        }))
        .expect("request");
        assert_eq!(request.trigger(), "msteams");
        assert_eq!(request.token.expose_secret(), "sekrit");
        assert!(!format!("{request:?}").contains("sekrit"));
    }

    #[test]
    fn answers_serialize_as_mattermost_reads_them() {
        assert_eq!(
            serde_json::to_value(CommandResponse::ephemeral("hi")).expect("json"),
            json!({"response_type": "ephemeral", "text": "hi"})
        );
        assert_eq!(
            serde_json::to_value(CommandResponse::in_channel("hi").with_goto_location("/x"))
                .expect("json"),
            json!({"response_type": "in_channel", "text": "hi", "goto_location": "/x"})
        );
        assert_eq!(
            serde_json::to_value(ActionResponse::updating(PostUpdate::plain("done")))
                .expect("json"),
            json!({"update": {"message": "done", "props": {"attachments": []}}})
        );
        assert_eq!(
            serde_json::to_value(ActionResponse::default()).expect("json"),
            json!({})
        );
    }

    #[test]
    fn action_requests_parse_the_documented_body() {
        let request: ActionRequest = serde_json::from_value(json!({
            "user_id": "u", "post_id": "p", "channel_id": "c", "team_id": "t",
            "type": "select", "context": {"action": "x", "selected_option": "on"}
        }))
        .expect("request");
        assert_eq!(request.action_type, "select");
        assert_eq!(request.selected_option(), Some("on"));
    }
}
