//! Every text the linking flows show, in one place.

use chrono::{DateTime, Utc};

use super::command::TRIGGER;
use super::model::{BotMessage, Button, ButtonAction, ButtonStyle, LinkState, LoginMapping};
use super::rules::LinkRefusal;

/// What differs between the products in the linking texts: the slash command and the name of
/// what is connected, plus the direct messages sent when a link starts and when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Wording {
    /// The slash command without its slash: `msteams`, `mscalendar`.
    pub trigger: &'static str,
    /// What the account is connected to: `Microsoft Teams`, `Microsoft 365 Calendar`.
    pub service: &'static str,
    /// The DM after a new link, given the Microsoft login and whether notifications are on.
    pub welcome: fn(&str, bool) -> BotMessage,
    /// The DM after Microsoft refused the link's sign-in (revoked, expired).
    pub revoked: fn() -> BotMessage,
}

impl Wording {
    /// `/msteams`.
    pub const TEAMS: Wording = Wording {
        trigger: TRIGGER,
        service: "Microsoft Teams",
        welcome: connected_dm,
        revoked: credentials_revoked_dm,
    };
}

/// The reply to `connect`: the one-time sign-in link.
pub fn connect_link_to(wording: &Wording, url: &str) -> String {
    format!(
        "[Click here to connect your Mattermost account to {}]({url}). \
         The link works once, for 10 minutes.",
        wording.service
    )
}

/// The page shown when Microsoft sends the browser back with an OAuth `error` instead of a code.
/// Only the error code chooses the text: the description arrives in the URL, where anyone could
/// have written it, so it is logged but never shown.
pub fn sign_in_not_completed(error_code: &str) -> String {
    sign_in_not_completed_for(TRIGGER, error_code)
}

/// [`sign_in_not_completed`] for the command `trigger`.
pub fn sign_in_not_completed_for(trigger: &str, error_code: &str) -> String {
    let what = match error_code {
        "access_denied" => {
            "The sign-in was cancelled, or the permissions were not granted.".to_owned()
        }
        "consent_required" | "interaction_required" => {
            "Microsoft needs the app's permissions approved first (by you, or by an administrator \
             of your organization)."
                .to_owned()
        }
        "login_required" => "You were not signed in to Microsoft.".to_owned(),
        "server_error" | "temporarily_unavailable" => {
            "Microsoft's sign-in service had a problem.".to_owned()
        }
        code if !code.is_empty()
            && code.len() <= 40
            && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
        {
            format!("Microsoft did not complete the sign-in (error `{code}`).")
        }
        _ => "Microsoft did not complete the sign-in.".to_owned(),
    };
    format!("{what} Nothing was changed; run `/{trigger} connect` in Mattermost to try again.")
}

pub fn already_connected(login: &str) -> String {
    already_connected_to(&Wording::TEAMS, login)
}

pub fn already_connected_to(wording: &Wording, login: &str) -> String {
    format!(
        "Your Mattermost account is already connected to {} as **{login}**. \
         To connect another account, run `/{} disconnect` first.",
        wording.service, wording.trigger
    )
}

pub fn not_connected() -> String {
    format!(
        "Your Mattermost account is not connected to Microsoft Teams. \
         Run `/{TRIGGER} connect` to connect it."
    )
}

pub fn disconnected() -> String {
    format!(
        "Your Mattermost account is now disconnected from Microsoft Teams. Its sign-in was deleted \
         and chat notifications are off. Run `/{TRIGGER} connect` to connect again."
    )
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

pub fn status(link: Option<&LinkState>, notifications: bool) -> String {
    match link.filter(|l| l.is_connected()) {
        Some(link) => format!(
            "Your Mattermost account is connected to Microsoft Teams as **{}** (since {}). \
             Chat notifications are {}.",
            link.teams_login,
            day(link.connected_at),
            on_off(notifications)
        ),
        None => not_connected(),
    }
}

pub fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

pub fn notifications_changed(on: bool) -> String {
    if on {
        "Chat notifications are on: Microsoft Teams chats sent to you while you appear Away or \
         Offline in Teams will arrive here as direct messages."
            .to_owned()
    } else {
        "Chat notifications are off.".to_owned()
    }
}

pub fn notifications_status(on: bool) -> String {
    format!(
        "Chat notifications are {}. Change them with `/{TRIGGER} notifications on` or `off`.",
        on_off(on)
    )
}

pub fn notifications_need_connection() -> String {
    format!(
        "Chat notifications need a connected account. Run `/{TRIGGER} connect` first, then \
         `/{TRIGGER} notifications on`."
    )
}

/// The settings message (T8): where things stand, and buttons to change them.
pub fn settings(link: Option<&LinkState>, notifications: bool) -> BotMessage {
    match link.filter(|l| l.is_connected()) {
        Some(link) => BotMessage::with_buttons(
            format!(
                "#### Microsoft Teams settings\n\
                 - Connection: connected as **{}** since {}\n\
                 - Chat notifications: **{}**",
                link.teams_login,
                day(link.connected_at),
                on_off(notifications)
            ),
            vec![
                if notifications {
                    Button::new(
                        "Turn notifications off",
                        ButtonAction::NotificationsOff,
                        ButtonStyle::Default,
                    )
                } else {
                    Button::new(
                        "Turn notifications on",
                        ButtonAction::NotificationsOn,
                        ButtonStyle::Primary,
                    )
                },
                Button::new("Disconnect", ButtonAction::Disconnect, ButtonStyle::Danger),
            ],
        ),
        None => BotMessage::with_buttons(
            "#### Microsoft Teams settings\n\
             - Connection: not connected\n\
             - Chat notifications: need a connected account",
            vec![Button::new(
                "Connect",
                ButtonAction::Connect,
                ButtonStyle::Primary,
            )],
        ),
    }
}

/// The bot's DM after a successful sign-in (T5).
pub fn connected_dm(login: &str, notifications: bool) -> BotMessage {
    let text =
        format!("Your Mattermost account is now connected to Microsoft Teams as **{login}**.");
    if notifications {
        BotMessage::text(format!("{text} Chat notifications are on."))
    } else {
        BotMessage::with_buttons(
            format!(
                "{text}\n\nWould you like to get your Microsoft Teams chats here as direct messages \
                 while you are away from Teams? You can change this any time with \
                 `/{TRIGGER} notifications on|off`."
            ),
            vec![Button::new(
                "Enable notifications",
                ButtonAction::NotificationsOn,
                ButtonStyle::Primary,
            )],
        )
    }
}

pub fn credentials_revoked_dm() -> BotMessage {
    BotMessage::text(format!(
        "Your Microsoft Teams connection stopped working: Microsoft no longer accepts its sign-in \
         (it was revoked or expired, or your password changed). Run `/{TRIGGER} connect` to \
         connect again; your notification setting is kept."
    ))
}

pub fn refusal(refusal: &LinkRefusal) -> String {
    match refusal {
        LinkRefusal::AddressMismatch {
            expected,
            microsoft_logins,
            mapped,
        } => {
            let signed_in = if microsoft_logins.is_empty() {
                "an account without an address".to_owned()
            } else {
                microsoft_logins.join(" / ")
            };
            let whose = if *mapped {
                "the address an admin mapped to your account"
            } else {
                "your Mattermost email"
            };
            format!(
                "You signed in to Microsoft as {signed_in}, which does not match {whose} \
                 ({expected}). Sign in with that Microsoft account, or ask a system admin to map \
                 your account to the Microsoft address."
            )
        }
        LinkRefusal::MicrosoftAccountTaken => {
            "This Microsoft account is already connected to another Mattermost account. \
             Each Microsoft account can be connected to one Mattermost account only."
                .to_owned()
        }
        LinkRefusal::ConnectedElsewhere { teams_login } => {
            format!("{} Nothing was changed.", already_connected(teams_login))
        }
        LinkRefusal::BotAccount => {
            "Bot accounts cannot be connected to a Microsoft account.".into()
        }
    }
}

pub fn try_again_later() -> String {
    "Something went wrong on our side; nothing was changed. Please try again in a minute, and tell \
     your system admin if it keeps happening."
        .to_owned()
}

pub fn admins_only() -> String {
    "Only system admins can manage address mappings.".to_owned()
}

pub fn unknown_user(username: &str) -> String {
    format!("There is no Mattermost user `{username}`.")
}

pub fn mapping_added(username: &str, login: &str) -> String {
    format!(
        "@{username} may now connect the Microsoft account **{login}**. An existing connection \
         is not changed."
    )
}

pub fn mapping_removed(username: &str, existed: bool) -> String {
    if existed {
        format!("@{username} must now connect a Microsoft account matching their email.")
    } else {
        format!("@{username} had no address mapping.")
    }
}

pub fn mapping_list(mappings: &[(String, LoginMapping)]) -> String {
    if mappings.is_empty() {
        return "There are no address mappings.".to_owned();
    }
    let mut text = "| Mattermost user | Microsoft address |\n|---|---|".to_owned();
    for (username, mapping) in mappings {
        text.push_str(&format!("\n| @{username} | {} |", mapping.microsoft_login));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_sign_in_error_is_told_by_its_code_only() {
        assert!(sign_in_not_completed("access_denied").starts_with("The sign-in was cancelled"));
        assert!(sign_in_not_completed("consent_required").contains("administrator"));
        assert!(sign_in_not_completed("invalid_scope").contains("(error `invalid_scope`)"));
        // A code that is not a plain OAuth code is not repeated.
        for odd in ["<script>", "a`b", "", &"x".repeat(41)] {
            let text = sign_in_not_completed(odd);
            assert!(
                text.starts_with("Microsoft did not complete the sign-in. "),
                "{text}"
            );
        }
        assert!(
            sign_in_not_completed("access_denied").ends_with(
                "Nothing was changed; run `/msteams connect` in Mattermost to try again."
            )
        );
    }
}
