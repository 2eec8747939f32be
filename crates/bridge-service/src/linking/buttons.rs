//! Message buttons: the context Mattermost echoes back on a click is sealed by the service
//! (AES-256-GCM with the store's key, so it is authenticated: it cannot be forged or altered) and
//! names the action, the user it was made for and when. A click is honoured only if the context
//! opens, is not too old, and the clicking user is the one it was made for.

use bridge_core::linking::{BotMessage, ButtonAction, ButtonStyle};
use chrono::{DateTime, TimeDelta, Utc};
use mm_client::{Action, ActionStyle, Attachment, Integration, PostProps};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{Sealed, TokenSealer};

/// The associated data of sealed button contexts: a sealed token cannot pass for a button.
const CONTEXT_PURPOSE: &str = "mattermost-action:v1";

/// How long a button keeps working. Settings messages and confirmations sit in DMs; after this a
/// click says to run the command again.
pub(crate) const BUTTON_LIFETIME: TimeDelta = TimeDelta::days(30);

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    action: String,
    user_id: String,
    issued_at: i64,
}

/// Why a click was not honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// No context, not ours, altered or forged.
    Invalid,
    /// Made for another user.
    WrongUser,
    TooOld,
}

/// Seals `action` for `user_id` into a button context.
pub(crate) fn seal_context(
    sealer: &TokenSealer,
    action: ButtonAction,
    user_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let payload = Payload {
        action: action.name().to_owned(),
        user_id: user_id.to_owned(),
        issued_at: now.timestamp(),
    };
    let sealed = serde_json::to_vec(&payload)
        .ok()
        .and_then(|bytes| sealer.seal(&bytes, CONTEXT_PURPOSE).ok());
    match sealed {
        Some(sealed) => json!({"action": action.name(), "seal": sealed.as_str()}),
        // Sealing only fails if the system RNG does; the button then fails closed when clicked.
        None => json!({"action": action.name()}),
    }
}

/// Opens a click's context and checks it against the clicking user.
pub(crate) fn open_context(
    sealer: &TokenSealer,
    context: &Value,
    clicking_user: &str,
    now: DateTime<Utc>,
) -> Result<ButtonAction, Rejected> {
    let sealed = context
        .get("seal")
        .and_then(Value::as_str)
        .ok_or(Rejected::Invalid)?;
    let bytes = sealer
        .open(&Sealed::from_stored(sealed.to_owned()), CONTEXT_PURPOSE)
        .map_err(|_| Rejected::Invalid)?;
    let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| Rejected::Invalid)?;
    let action = ButtonAction::from_name(&payload.action).ok_or(Rejected::Invalid)?;
    if context.get("action").and_then(Value::as_str) != Some(payload.action.as_str()) {
        return Err(Rejected::Invalid);
    }
    if payload.user_id != clicking_user {
        return Err(Rejected::WrongUser);
    }
    let issued = DateTime::from_timestamp(payload.issued_at, 0).ok_or(Rejected::Invalid)?;
    if now - issued > BUTTON_LIFETIME || issued - now > TimeDelta::minutes(5) {
        return Err(Rejected::TooOld);
    }
    Ok(action)
}

/// A bot message as Mattermost post props: the text goes in `message`, the buttons in one
/// attachment whose actions call `action_url` with sealed contexts for `user_id`.
pub(crate) fn render(
    message: &BotMessage,
    sealer: &TokenSealer,
    action_url: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Option<PostProps> {
    if message.buttons.is_empty() {
        return None;
    }
    let actions = message
        .buttons
        .iter()
        .map(|button| Action {
            id: button.action.name().replace('_', ""),
            name: button.label.clone(),
            style: match button.style {
                ButtonStyle::Default => ActionStyle::Default,
                ButtonStyle::Primary => ActionStyle::Primary,
                ButtonStyle::Danger => ActionStyle::Danger,
            },
            integration: Integration {
                url: action_url.to_owned(),
                context: seal_context(sealer, button.action, user_id, now),
            },
            ..Action::default()
        })
        .collect();
    Some(PostProps {
        attachments: vec![Attachment {
            actions,
            ..Attachment::default()
        }],
        ..PostProps::default()
    })
}

#[cfg(test)]
mod tests {
    use store::EncryptionKey;

    use super::*;

    fn sealer() -> TokenSealer {
        TokenSealer::new(EncryptionKey::generate().expect("key"), Vec::new())
    }

    #[test]
    fn contexts_open_only_for_their_user_unaltered_and_in_time() {
        let sealer = sealer();
        let now = Utc::now();
        let context = seal_context(&sealer, ButtonAction::NotificationsOn, "mm-alice", now);
        assert_eq!(
            open_context(&sealer, &context, "mm-alice", now),
            Ok(ButtonAction::NotificationsOn)
        );
        assert_eq!(
            open_context(&sealer, &context, "mm-bob", now),
            Err(Rejected::WrongUser)
        );
        assert_eq!(
            open_context(&sealer, &context, "mm-alice", now + TimeDelta::days(31)),
            Err(Rejected::TooOld)
        );
        // Changing the visible action, or any byte of the seal, is caught.
        let mut altered = context.clone();
        altered["action"] = json!("disconnect");
        assert_eq!(
            open_context(&sealer, &altered, "mm-alice", now),
            Err(Rejected::Invalid)
        );
        let seal = context["seal"].as_str().expect("seal");
        let mut bytes = seal.as_bytes().to_vec();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered =
            json!({"action": "notifications_on", "seal": String::from_utf8(bytes).expect("utf8")});
        assert_eq!(
            open_context(&sealer, &tampered, "mm-alice", now),
            Err(Rejected::Invalid)
        );
        // Another key (another deployment) cannot make valid contexts.
        let forged = seal_context(&self::sealer(), ButtonAction::Disconnect, "mm-alice", now);
        assert_eq!(
            open_context(&sealer, &forged, "mm-alice", now),
            Err(Rejected::Invalid)
        );
        assert_eq!(
            open_context(&sealer, &json!({"action": "disconnect"}), "mm-alice", now),
            Err(Rejected::Invalid)
        );
        // Something else this key sealed (a user's token, a PKCE verifier), even holding a
        // well-formed payload, does not pass for a button: the purpose is bound to the seal.
        let payload = serde_json::to_vec(&json!({
            "action": "disconnect", "user_id": "mm-alice", "issued_at": now.timestamp()
        }))
        .expect("json");
        for purpose in ["account_link:mm-alice", "pkce_verifier:mm-alice", ""] {
            let other = sealer.seal(&payload, purpose).expect("seal");
            let context = json!({"action": "disconnect", "seal": other.as_str()});
            assert_eq!(
                open_context(&sealer, &context, "mm-alice", now),
                Err(Rejected::Invalid),
                "sealed for {purpose:?}"
            );
        }
    }
}
