//! What we send to and read from Mattermost's REST API: our own models, holding the fields we
//! use and tolerant of the rest.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A Mattermost user (or bot account).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    /// Empty when the server's privacy settings hide it from the token's account.
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
    /// When the account was deactivated (ms since the epoch); 0 while active.
    #[serde(default)]
    pub delete_at: i64,
}

impl User {
    pub fn is_system_admin(&self) -> bool {
        self.roles.split_whitespace().any(|r| r == "system_admin")
    }

    pub fn is_active(&self) -> bool {
        self.delete_at == 0
    }

    /// "First Last", else the nickname, else the username.
    pub fn display_name(&self) -> String {
        let full = format!("{} {}", self.first_name.trim(), self.last_name.trim());
        let full = full.trim();
        if !full.is_empty() {
            full.to_owned()
        } else if !self.nickname.trim().is_empty() {
            self.nickname.trim().to_owned()
        } else {
            self.username.clone()
        }
    }
}

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Team {
    pub id: String,
    /// The URL name, which Mattermost also sends as `team_domain`.
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
    /// The thread's root post; empty for a root post.
    #[serde(default)]
    pub root_id: String,
    /// All props as sent, including the ones the server adds (`from_bot`, ...).
    #[serde(default)]
    pub props: Value,
    #[serde(default)]
    pub create_at: i64,
    #[serde(default)]
    pub update_at: i64,
    /// The files attached (see [`crate::MattermostClient::upload_file`]).
    #[serde(default, deserialize_with = "null_as_empty_vec")]
    pub file_ids: Vec<String>,
}

fn null_as_empty_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// An uploaded file, as `POST /api/v4/files` answers it; attach it to a post by its id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileInfo {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Bytes.
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub mime_type: String,
}

impl Post {
    /// The message attachments in `props.attachments` (empty if there are none or they do not
    /// parse).
    pub fn attachments(&self) -> Vec<Attachment> {
        self.props
            .get("attachments")
            .and_then(|a| Vec::<Attachment>::deserialize(a).ok())
            .unwrap_or_default()
    }
}

/// A post to create.
///
/// ```
/// # use mm_client::{Action, Attachment, NewPost};
/// let post = NewPost::new("channel id", "Enable notifications?").with_attachments(vec![
///     Attachment::default().with_actions(vec![Action::button(
///         "enable",
///         "Enable",
///         "https://bridge.example.com/mattermost/action",
///         serde_json::json!({"action": "enable"}),
///     )]),
/// ]);
/// assert_eq!(post.props.unwrap().attachments[0].actions[0].id, "enable");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewPost {
    pub channel_id: String,
    pub message: String,
    /// Reply in this thread; must be the root post's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub props: Option<PostProps>,
}

impl NewPost {
    pub fn new(channel_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            channel_id: channel_id.into(),
            message: message.into(),
            ..Self::default()
        }
    }

    pub fn in_thread(mut self, root_id: impl Into<String>) -> Self {
        self.root_id = Some(root_id.into());
        self
    }

    pub fn with_attachments(mut self, attachments: Vec<Attachment>) -> Self {
        self.props = Some(PostProps {
            attachments,
            ..PostProps::default()
        });
        self
    }
}

/// Post props: message attachments (with their buttons), sent as `props.attachments`, and any
/// props of the integration's own (Mattermost keeps them with the post and returns them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostProps {
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// A message attachment (Slack-compatible). Empty fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Plain-text summary for clients that cannot show attachments.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fallback: String,
    /// `#RRGGBB`, or `good` / `warning` / `danger`.
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

impl Attachment {
    /// An attachment showing `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    pub fn with_actions(mut self, actions: Vec<Action>) -> Self {
        self.actions = actions;
        self
    }
}

/// A row of an attachment's table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentField {
    pub title: String,
    pub value: String,
    /// Whether it may sit beside another short field.
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

/// A message button (`type: "button"`).
///
/// Its `id` must hold letters and digits only: Mattermost routes a click by it
/// (`/posts/{post_id}/actions/{action_id}`), and an action without one gets a generated id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "button_type")]
    pub action_type: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub style: ActionStyle,
    #[serde(default)]
    pub integration: Integration,
}

fn button_type() -> String {
    "button".to_owned()
}

impl Default for Action {
    fn default() -> Self {
        Self {
            id: String::new(),
            action_type: button_type(),
            name: String::new(),
            style: ActionStyle::Default,
            integration: Integration::default(),
        }
    }
}

impl Action {
    /// A button labelled `name` whose click POSTs `context` (and who clicked) to `url`.
    pub fn button(
        id: impl Into<String>,
        name: impl Into<String>,
        url: impl Into<String>,
        context: Value,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            integration: Integration {
                url: url.into(),
                context,
            },
            ..Self::default()
        }
    }

    pub fn with_style(mut self, style: ActionStyle) -> Self {
        self.style = style;
        self
    }
}

/// Where a click goes, and the context Mattermost echoes back with it.
///
/// Users never see the context, but Mattermost does not sign clicks either: anyone who can
/// reach the URL can send one. Put something in it that proves the button is yours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub url: String,
    #[serde(default)]
    pub context: Value,
}

/// A custom slash command to register with [`MattermostClient::ensure_command`]. It is
/// registered as a POST command with autocomplete on.
///
/// [`MattermostClient::ensure_command`]: crate::MattermostClient::ensure_command
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSpec {
    /// The word after `/`, such as `msteams` (a leading `/` is dropped, case is lowered).
    pub trigger: String,
    /// Where Mattermost POSTs each invocation.
    pub url: String,
    pub display_name: String,
    pub description: String,
    /// Shown beside the command in the autocomplete list.
    pub auto_complete_desc: String,
    /// The arguments shown after the trigger, such as `[connect|disconnect|status]`.
    pub auto_complete_hint: String,
    /// The name replies are posted under (when the server allows overrides).
    pub username: String,
    pub icon_url: String,
}

/// A registered custom slash command.
#[derive(Debug, Clone, Deserialize)]
pub struct CommandInfo {
    pub id: String,
    pub team_id: String,
    pub trigger: String,
    pub url: String,
    /// What Mattermost sends with each invocation (the form's `token` and the
    /// `Authorization: Token ...` header). Only accounts that may manage commands see it.
    #[serde(default, deserialize_with = "secret_string")]
    pub token: SecretString,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub auto_complete: bool,
    #[serde(default)]
    pub auto_complete_desc: String,
    #[serde(default)]
    pub auto_complete_hint: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
}

/// A user's availability, as `GET /users/{user_id}/status` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserStatus {
    pub user_id: String,
    /// `online`, `away`, `dnd` or `offline` (servers may add others, such as `ooo`).
    pub status: String,
    /// Set by hand (by the user, or by an admin or bot for them) rather than by activity; it
    /// stays until set again. Setting `online` hands the status back to activity.
    #[serde(default)]
    pub manual: bool,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub last_activity_at: i64,
    /// When a `dnd` status ends, in epoch **seconds**; 0 for none.
    #[serde(default)]
    pub dnd_end_time: i64,
}

/// What Mattermost's `PUT /users/{user_id}/status` takes.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatusUpdate<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dnd_end_time: Option<i64>,
}

/// A custom status: an emoji and a short text shown beside the user's name, kept by Mattermost
/// as a JSON string in the user's `props.customStatus`.
///
/// ```
/// # use mm_client::CustomStatus;
/// let end = "2030-05-01T10:30:00Z".parse().unwrap();
/// let status = CustomStatus::new("calendar", "In a meeting").until(end);
/// assert_eq!(
///     serde_json::to_value(&status).unwrap(),
///     serde_json::json!({
///         "emoji": "calendar",
///         "text": "In a meeting",
///         "duration": "date_and_time",
///         "expires_at": "2030-05-01T10:30:00Z"
///     })
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomStatus {
    /// An emoji name without colons, such as `calendar`; Mattermost uses `speech_balloon` when
    /// it is empty.
    #[serde(default)]
    pub emoji: String,
    /// Mattermost keeps the first 100 characters.
    #[serde(default)]
    pub text: String,
    /// How the end was chosen: `thirty_minutes`, `one_hour`, `four_hours`, `today`,
    /// `this_week` or `date_and_time`; `None` for "don't clear". Mattermost refuses a duration
    /// without an `expires_at` that is still to come.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub duration: Option<String>,
    /// When it ends (RFC 3339 on the wire); `None` for never (Mattermost stores Go's zero
    /// time, `0001-01-01T00:00:00Z`, which reads back as `None`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "zero_time_as_none"
    )]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl CustomStatus {
    /// A custom status that stays until cleared.
    pub fn new(emoji: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            emoji: emoji.into(),
            text: text.into(),
            ..Self::default()
        }
    }

    /// Ends at `expires_at` (`duration` `date_and_time`).
    pub fn until(mut self, expires_at: chrono::DateTime<chrono::Utc>) -> Self {
        self.duration = Some("date_and_time".to_owned());
        self.expires_at = Some(expires_at);
        self
    }

    /// Whether it has ended at `now`, as Mattermost's clients judge it (they stop showing it).
    pub fn is_expired_at(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.expires_at.is_some_and(|end| now >= end)
    }

    /// The custom status in a user's `props.customStatus` (a JSON string): `None` when it is
    /// absent, empty (cleared) or unreadable.
    pub(crate) fn from_props(props: &serde_json::Map<String, Value>) -> Option<Self> {
        let text = props.get("customStatus")?.as_str()?;
        if text.trim().is_empty() {
            return None;
        }
        serde_json::from_str(text).ok()
    }
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// An RFC 3339 time; Go's zero time (year 1) and empty strings are none.
fn zero_time_as_none<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
    use chrono::Datelike as _;
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    let time = chrono::DateTime::parse_from_rfc3339(&text)
        .map_err(serde::de::Error::custom)?
        .with_timezone(&chrono::Utc);
    Ok((time.year() > 1).then_some(time))
}

/// A string field held as a secret (secrecy's own `Deserialize` needs a feature we leave off).
pub(crate) fn secret_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<SecretString, D::Error> {
    String::deserialize(deserializer).map(SecretString::from)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn posts_serialize_as_mattermost_expects() {
        let post = NewPost::new("c1", "hi").with_attachments(vec![Attachment {
            title: "Title".into(),
            ..Attachment::text("body").with_actions(vec![
                Action::button("yes", "Yes", "http://x/a", json!({"k": 1}))
                    .with_style(ActionStyle::Primary),
            ])
        }]);
        assert_eq!(
            serde_json::to_value(&post).expect("json"),
            json!({
                "channel_id": "c1",
                "message": "hi",
                "props": {"attachments": [{
                    "title": "Title",
                    "text": "body",
                    "actions": [{
                        "id": "yes",
                        "type": "button",
                        "name": "Yes",
                        "style": "primary",
                        "integration": {"url": "http://x/a", "context": {"k": 1}}
                    }]
                }]}
            })
        );
    }

    #[test]
    fn custom_statuses_read_mattermosts_stored_shape() {
        let stored = |text: &str| {
            let mut props = serde_json::Map::new();
            props.insert("customStatus".into(), json!(text));
            CustomStatus::from_props(&props)
        };
        // What Mattermost stores for "don't clear": empty duration, Go's zero time.
        assert_eq!(
            stored(
                r#"{"emoji":"calendar","text":"Busy","duration":"","expires_at":"0001-01-01T00:00:00Z"}"#
            ),
            Some(CustomStatus::new("calendar", "Busy"))
        );
        let end: chrono::DateTime<chrono::Utc> = "2030-01-01T08:30:00.5Z".parse().expect("time");
        let with_end = stored(
            r#"{"emoji":"calendar","text":"Busy","duration":"date_and_time","expires_at":"2030-01-01T10:30:00.5+02:00"}"#,
        )
        .expect("set");
        assert_eq!(with_end, CustomStatus::new("calendar", "Busy").until(end));
        assert!(!with_end.is_expired_at(end - chrono::TimeDelta::seconds(1)));
        assert!(with_end.is_expired_at(end));
        // Cleared, absent or unreadable: none.
        assert_eq!(stored(""), None);
        assert_eq!(stored("not json"), None);
        assert_eq!(CustomStatus::from_props(&serde_json::Map::new()), None);

        // Sent without the parts it does not have.
        assert_eq!(
            serde_json::to_value(CustomStatus::new("palm_tree", "Away")).expect("json"),
            json!({"emoji": "palm_tree", "text": "Away"})
        );
        let status: UserStatus = serde_json::from_value(json!({
            "user_id": "u", "status": "dnd", "manual": true, "last_activity_at": 5,
            "dnd_end_time": 1_900_000_000, "active_channel": ""
        }))
        .expect("status");
        assert_eq!(status.dnd_end_time, 1_900_000_000);
        assert_eq!(
            serde_json::to_value(StatusUpdate {
                user_id: "u",
                status: "away",
                dnd_end_time: None
            })
            .expect("json"),
            json!({"user_id": "u", "status": "away"})
        );
    }

    #[test]
    fn models_tolerate_extra_and_missing_fields() {
        let user: User = serde_json::from_value(json!({
            "id": "u1", "username": "alice", "roles": "system_user system_admin",
            "locale": "en", "notify_props": {}
        }))
        .expect("user");
        assert!(user.is_system_admin());
        assert!(user.is_active());
        assert_eq!(user.display_name(), "alice");
        let named = User {
            first_name: "Alice".into(),
            last_name: "Smith".into(),
            ..user.clone()
        };
        assert_eq!(named.display_name(), "Alice Smith");
        let nick = User {
            nickname: "Al".into(),
            ..user
        };
        assert_eq!(nick.display_name(), "Al");

        let command: CommandInfo = serde_json::from_value(json!({
            "id": "c", "team_id": "t", "trigger": "x", "url": "http://x", "token": "sekrit",
            "creator_id": "u"
        }))
        .expect("command");
        assert!(!format!("{command:?}").contains("sekrit"));
    }
}
