//! What the linking rules talk about: the two accounts, a link's state, and the messages and
//! buttons the bridge shows. Plain data; the adapters fill and render it.

use chrono::{DateTime, Utc};

/// A Mattermost user as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MattermostUser {
    pub id: String,
    pub username: String,
    pub email: String,
    /// A Mattermost system admin: may use the admin subcommands.
    pub is_admin: bool,
    pub is_bot: bool,
}

/// The Microsoft account a user signed in with (`/me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicrosoftAccount {
    pub id: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub user_principal_name: String,
}

impl MicrosoftAccount {
    /// The addresses the account is known by: its mail, then its UPN, without repeats or blanks.
    pub fn logins(&self) -> Vec<&str> {
        let mut logins: Vec<&str> = Vec::with_capacity(2);
        for login in [
            self.mail.as_deref(),
            Some(self.user_principal_name.as_str()),
        ]
        .into_iter()
        .flatten()
        {
            let login = login.trim();
            if !login.is_empty() && !logins.iter().any(|l| l.eq_ignore_ascii_case(login)) {
                logins.push(login);
            }
        }
        logins
    }
}

/// A Mattermost user's link, as the rules see it (no token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub teams_user_id: String,
    /// The Microsoft address that was matched when the link was made.
    pub teams_login: String,
    pub connected_at: DateTime<Utc>,
    /// `None` while connected.
    pub disconnected_at: Option<DateTime<Utc>>,
}

impl LinkState {
    pub fn is_connected(&self) -> bool {
        self.disconnected_at.is_none()
    }
}

/// An admin mapping (B5): this Mattermost user may link the Microsoft account known by `login`
/// although the addresses differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginMapping {
    pub mm_user_id: String,
    pub microsoft_login: String,
}

/// What a button does when clicked. The service signs it into the button's context together with
/// the user it was made for, so a click can neither be forged nor replayed by someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ButtonAction {
    NotificationsOn,
    NotificationsOff,
    Connect,
    Disconnect,
}

impl ButtonAction {
    /// The stable name used in signed contexts.
    pub fn name(self) -> &'static str {
        match self {
            Self::NotificationsOn => "notifications_on",
            Self::NotificationsOff => "notifications_off",
            Self::Connect => "connect",
            Self::Disconnect => "disconnect",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::NotificationsOn,
            Self::NotificationsOff,
            Self::Connect,
            Self::Disconnect,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonStyle {
    Default,
    Primary,
    Danger,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub action: ButtonAction,
    pub style: ButtonStyle,
}

impl Button {
    pub fn new(label: impl Into<String>, action: ButtonAction, style: ButtonStyle) -> Self {
        Self {
            label: label.into(),
            action,
            style,
        }
    }
}

/// A message from the bot: Markdown text and, optionally, buttons under it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BotMessage {
    pub text: String,
    pub buttons: Vec<Button>,
}

impl BotMessage {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            buttons: Vec::new(),
        }
    }

    pub fn with_buttons(text: impl Into<String>, buttons: Vec<Button>) -> Self {
        Self {
            text: text.into(),
            buttons,
        }
    }
}

/// What a button click produces: the clicked post rewritten, and/or a private note to the clicker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClickOutcome {
    pub update: Option<BotMessage>,
    pub ephemeral: Option<String>,
}

/// The browser page at the end of the sign-in round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInPage {
    pub success: bool,
    pub title: String,
    pub message: String,
}
