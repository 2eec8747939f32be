//! The delegated permissions each integration asks for at sign-in. Both ask for `offline_access`
//! (without it no refresh token comes back, and the link dies with the first access token) and
//! `User.Read` (`/me`, to learn who signed in).
//!
//! Asking for a permission later means every user consents again, and asking for more than is
//! used makes admins refuse consent; so each list is what its features need today, and the
//! feature that needs more (sending chat messages needs `ChatMessage.Send`, reactions and edits
//! `Chat.ReadWrite`) adds it.

/// Teams: chats, their members and messages (`Chat.Read`: listing and reading them and
/// subscribing to `/users/{id}/chats/getAllMessages`), and the presence of the people in them
/// (`Presence.Read.All`: `/users/{id}/presence`, `getPresencesByUserId` and presence
/// subscriptions, which are delegated only).
pub const TEAMS: &[&str] = &[
    "offline_access",
    "User.Read",
    "Chat.Read",
    "Presence.Read.All",
];

/// Calendar: the user's events and those shared with them, answering invitations
/// (`Calendars.ReadWrite`, `Calendars.ReadWrite.Shared`), and the mailbox's time zone
/// (`MailboxSettings.Read`).
pub const CALENDAR: &[&str] = &[
    "offline_access",
    "User.Read",
    "Calendars.ReadWrite",
    "Calendars.ReadWrite.Shared",
    "MailboxSettings.Read",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_integration_can_refresh_and_read_me() {
        for scopes in [TEAMS, CALENDAR] {
            assert!(scopes.contains(&"offline_access") && scopes.contains(&"User.Read"));
        }
    }
}
