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
    /// Pasted images, served at `.../messages/{id}/hostedContents/{hosted id}/$value`.
    pub hosted_contents: Vec<HostedContent>,
}

/// A pasted image of a message (Graph's `chatMessageHostedContent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedContent {
    /// Opaque and base64-looking, as Graph's are.
    pub id: String,
    /// Such as `image/png`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A file in SharePoint or OneDrive that a message shares: Graph serves its bytes through
/// `/shares/{u!base64url(content_url)}/driveItem/content`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveFile {
    pub name: String,
    /// The SharePoint URL a `reference` attachment carries.
    pub content_url: String,
    pub bytes: Vec<u8>,
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
    /// Pasted images: an `<img src=".../hostedContents/{id}/$value">` for each is added to the
    /// HTML body when the message is posted (the ids are known then).
    pub images: Vec<(String, HostedContent)>,
    /// Shared files whose bytes the emulator serves (see [`NewMessage::shared_file`]).
    pub drive_files: Vec<DriveFile>,
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
            images: Vec::new(),
            drive_files: Vec::new(),
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

    /// Adds a shared file (a `reference` attachment to a SharePoint URL) whose bytes the emulator
    /// does not have: downloading it answers 404. See [`NewMessage::shared_file`].
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

    /// Adds a pasted image (a hosted content): the HTML body gets an `<img>` whose `src` is the
    /// image's Graph URL, `GET .../hostedContents/{id}/$value` answers `bytes` with
    /// `content_type`. `name` becomes the image's `alt` text.
    pub fn image(mut self, name: &str, bytes: impl Into<Vec<u8>>, content_type: &str) -> Self {
        // Graph's ids are base64 of a descriptor of the stored object; these look alike.
        let descriptor = format!(
            "id=x_0-emu-d{}-{:032x},type=1,url=https://emulator.asm.skype.com/v1/objects/0-emu/views/imgo",
            self.images.len(),
            uuid::Uuid::new_v4().as_u128()
        );
        let id = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, descriptor);
        self.images.push((
            name.to_owned(),
            HostedContent {
                id,
                content_type: content_type.to_owned(),
                bytes: bytes.into(),
            },
        ));
        self
    }

    /// Adds a shared file with its bytes: a `reference` attachment whose `contentUrl` is a
    /// SharePoint URL the emulator serves through `GET /shares/{u!…}/driveItem/content` (a 302 to
    /// a pre-authenticated download URL, as Graph answers).
    pub fn shared_file(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> Self {
        let content_url = format!(
            "https://contoso.sharepoint.com/personal/emulator/Documents/Microsoft Teams Chat Files/{}/{name}",
            uuid::Uuid::new_v4().simple()
        );
        self = self.file(name, &content_url);
        self.drive_files.push(DriveFile {
            name: name.to_owned(),
            content_url,
            bytes: bytes.into(),
        });
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

/// Escapes text for an HTML attribute or text node.
pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
