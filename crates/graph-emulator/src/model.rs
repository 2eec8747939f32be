//! The tenant's data as the emulator keeps it, and its JSON form as Graph returns it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Graph's timestamp format: UTC with milliseconds and a `Z`.
pub(crate) fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A directory user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub user_principal_name: String,
    pub account_enabled: bool,
    /// `Member` or `Guest`.
    pub user_type: String,
}

impl User {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "mail": self.mail,
            "userPrincipalName": self.user_principal_name,
            "accountEnabled": self.account_enabled,
            "userType": self.user_type,
        })
    }
}

/// What a test asks for when adding a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub display_name: String,
    pub mail: Option<String>,
    /// Defaults to the mail address.
    pub user_principal_name: Option<String>,
    pub account_enabled: bool,
    pub user_type: String,
    /// A fixed id instead of a generated GUID.
    pub id: Option<String>,
}

impl NewUser {
    /// An enabled member with this name and mail (also used as the UPN).
    pub fn new(display_name: &str, mail: &str) -> Self {
        Self {
            display_name: display_name.to_owned(),
            mail: Some(mail.to_owned()),
            user_principal_name: None,
            account_enabled: true,
            user_type: "Member".to_owned(),
            id: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatType {
    OneOnOne,
    Group,
}

/// A 1:1 or group chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub id: String,
    pub chat_type: ChatType,
    pub topic: Option<String>,
    /// Member user ids.
    pub members: Vec<String>,
    pub created: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
}

impl Chat {
    pub(crate) fn web_url(&self, tenant_id: &str) -> String {
        format!(
            "https://teams.microsoft.com/l/chat/{}/0?tenantId={tenant_id}",
            url_escape(&self.id)
        )
    }
}

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    User(String),
    /// A bot or connector, which the bridge must never notify about.
    Application {
        id: String,
        display_name: String,
    },
}

/// An `<at id="N">` mention of a user in a message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub id: u32,
    pub text: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub reaction_type: String,
    pub user_id: String,
    pub created: DateTime<Utc>,
}

/// A chat message, including soft-deleted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub id: String,
    pub chat_id: String,
    pub from: Sender,
    /// `html` or `text`.
    pub content_type: String,
    pub content: String,
    pub mentions: Vec<Mention>,
    /// Attachments exactly as Graph shows them (`reference` files, cards, message references).
    pub attachments: Vec<Value>,
    pub reactions: Vec<Reaction>,
    /// `message` or `systemEventMessage`.
    pub message_type: String,
    pub event_detail: Option<Value>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub last_edited: Option<DateTime<Utc>>,
    pub deleted: Option<DateTime<Utc>>,
}

/// What a test posts into a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub content_type: String,
    pub content: String,
    pub mentions: Vec<Mention>,
    pub attachments: Vec<Value>,
    pub message_type: String,
    pub event_detail: Option<Value>,
}

impl NewMessage {
    /// A message with an HTML body.
    pub fn html(content: &str) -> Self {
        Self {
            content_type: "html".into(),
            content: content.into(),
            mentions: Vec::new(),
            attachments: Vec::new(),
            message_type: "message".into(),
            event_detail: None,
        }
    }

    /// A plain-text message.
    pub fn text(content: &str) -> Self {
        Self {
            content_type: "text".into(),
            ..Self::html(content)
        }
    }

    /// Adds a mention; the body should contain `<at id="N">text</at>` with N the mention's index.
    pub fn mention(mut self, user_id: &str, text: &str) -> Self {
        let id = u32::try_from(self.mentions.len()).unwrap_or(u32::MAX);
        self.mentions.push(Mention {
            id,
            text: text.into(),
            user_id: user_id.into(),
        });
        self
    }

    /// Adds a shared file (a `reference` attachment to a SharePoint URL).
    pub fn file(mut self, name: &str, content_url: &str) -> Self {
        let id = format!(
            "{:08X}-0000-4000-8000-{:012X}",
            self.attachments.len(),
            self.attachments.len()
        );
        self.attachments.push(json!({
            "id": id,
            "contentType": "reference",
            "contentUrl": content_url,
            "content": null,
            "name": name,
            "thumbnailUrl": null,
            "teamsAppId": null,
        }));
        self
    }

    /// A system event (members added, chat renamed, ...), which bridges must not relay.
    pub fn system_event(detail: Value) -> Self {
        Self {
            content: "<systemEventMessage/>".into(),
            message_type: "systemEventMessage".into(),
            event_detail: Some(detail),
            ..Self::html("")
        }
    }
}

/// A user's presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub availability: String,
    pub activity: String,
}

impl Presence {
    pub fn new(availability: &str, activity: &str) -> Self {
        Self {
            availability: availability.into(),
            activity: activity.into(),
        }
    }
}

/// Percent-encodes what Teams deep links and OData contexts encode.
pub(crate) fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
