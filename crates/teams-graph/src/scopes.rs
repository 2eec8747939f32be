//! The delegated permissions each integration asks for at sign-in.

/// Teams: who the user is (`User.Read`), their chats and chat messages, and presence of the
/// people in them; `offline_access` for a refresh token.
pub const TEAMS: &[&str] = &[
    "offline_access",
    "User.Read",
    "Chat.Read",
    "ChatMessage.Read",
    "Presence.Read.All",
];

/// Calendar: events (own and shared), mailbox settings for the time zone, and a refresh token.
pub const CALENDAR: &[&str] = &[
    "offline_access",
    "User.Read",
    "Calendars.ReadWrite",
    "Calendars.ReadWrite.Shared",
    "MailboxSettings.Read",
];
