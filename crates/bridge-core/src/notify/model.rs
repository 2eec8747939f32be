//! What the notification rules look at: a chat message as Graph describes it, the chat, the
//! linked members and their presence. Filled by the service from Graph's answers.

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    User {
        microsoft_user_id: String,
        display_name: String,
    },
    /// A bot, connector or app ("application" in Graph).
    Application { display_name: String },
    /// No `from` at all (system messages).
    Nobody,
}

/// What kind of change a notification reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

impl Change {
    /// Graph's `changeType`; anything unknown counts as an update (not notified).
    pub fn from_graph(change_type: &str) -> Self {
        match change_type {
            "created" => Self::Created,
            "deleted" => Self::Deleted,
            _ => Self::Updated,
        }
    }
}

/// A chat message, as far as the rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFacts {
    /// Graph's `messageType`: `message`, `systemEventMessage`, `chatEvent`, `typing`, ...
    pub message_type: String,
    pub sender: Sender,
    /// Posted in a team channel rather than a chat.
    pub in_channel: bool,
    /// Soft-deleted (`deletedDateTime` set).
    pub deleted: bool,
    /// A reply to a channel post (`replyToId` set); chats have none.
    pub is_reply: bool,
}

/// The kind of chat, from Graph's `chatType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    OneOnOne,
    Group,
    /// A meeting's chat: notified like a group chat.
    Meeting,
}

impl ChatKind {
    pub fn from_graph(chat_type: &str) -> Self {
        match chat_type {
            "oneOnOne" => Self::OneOnOne,
            "meeting" => Self::Meeting,
            _ => Self::Group,
        }
    }
}

/// A member of the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMember {
    pub microsoft_user_id: String,
    pub display_name: String,
}

/// A chat member who linked a Mattermost account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedMember {
    pub microsoft_user_id: String,
    pub mm_user_id: String,
    /// The user's `/msteams notifications` setting.
    pub notifications_on: bool,
    /// When they connected: a message sent before then is not theirs to be told about (catch-up
    /// reads a chat from its earliest-connected member's start).
    pub connected_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A user's presence in Teams, as Graph's `availability` and `activity` strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub availability: String,
    pub activity: String,
}
