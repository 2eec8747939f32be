//! The calendar's message buttons (settings toggles, invitation answers, the status-sync
//! question). As for Teams, the context Mattermost echoes back is sealed by the service
//! (AES-256-GCM with the store's key): it names the action, its argument (an event id), the user it
//! was made for and when, and cannot be forged or altered. Its purpose differs from the Teams
//! buttons', so neither product's buttons pass for the other's.

use chrono::{DateTime, TimeDelta, Utc};
use mm_client::{Action, ActionStyle, Attachment, Integration, PostProps};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{Sealed, TokenSealer};

pub(crate) use crate::linking::buttons::Rejected;

const CONTEXT_PURPOSE: &str = "mscalendar-action:v1";

/// Buttons keep working this long; invitations may sit in a DM for weeks before the meeting.
const BUTTON_LIFETIME: TimeDelta = TimeDelta::days(60);

/// What a button does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CalendarAction {
    /// A settings change, in the command's words (`status auto`, `reminders off`, ...).
    Setting(String),
    /// Answer an invitation: `accept`, `tentative` or `decline` the event.
    Respond { response: String, event_id: String },
    /// The status-sync question in confirm mode: change the status for this meeting, or not.
    ConfirmStatus { accept: bool, event_id: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    action: CalendarAction,
    user_id: String,
    issued_at: i64,
}

/// A button to render.
#[derive(Debug, Clone)]
pub(crate) struct Button {
    pub(crate) label: String,
    pub(crate) style: ActionStyle,
    pub(crate) action: CalendarAction,
}

impl Button {
    pub(crate) fn new(
        label: impl Into<String>,
        style: ActionStyle,
        action: CalendarAction,
    ) -> Self {
        Self {
            label: label.into(),
            style,
            action,
        }
    }
}

fn seal(sealer: &TokenSealer, action: &CalendarAction, user_id: &str, now: DateTime<Utc>) -> Value {
    let payload = Payload {
        action: action.clone(),
        user_id: user_id.to_owned(),
        issued_at: now.timestamp(),
    };
    match serde_json::to_vec(&payload)
        .ok()
        .and_then(|bytes| sealer.seal(&bytes, CONTEXT_PURPOSE).ok())
    {
        Some(sealed) => json!({"seal": sealed.as_str()}),
        // Sealing fails only if the system RNG does; the button then fails closed.
        None => json!({}),
    }
}

/// Opens a click's context and checks it against the clicking user.
pub(crate) fn open(
    sealer: &TokenSealer,
    context: &Value,
    clicking_user: &str,
    now: DateTime<Utc>,
) -> Result<CalendarAction, Rejected> {
    let sealed = context
        .get("seal")
        .and_then(Value::as_str)
        .ok_or(Rejected::Invalid)?;
    let bytes = sealer
        .open(&Sealed::from_stored(sealed.to_owned()), CONTEXT_PURPOSE)
        .map_err(|_| Rejected::Invalid)?;
    let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| Rejected::Invalid)?;
    if payload.user_id != clicking_user {
        return Err(Rejected::WrongUser);
    }
    let issued = DateTime::from_timestamp(payload.issued_at, 0).ok_or(Rejected::Invalid)?;
    if now - issued > BUTTON_LIFETIME || issued - now > TimeDelta::minutes(5) {
        return Err(Rejected::TooOld);
    }
    Ok(payload.action)
}

/// Buttons as post props: one attachment whose actions call `action_url` with sealed contexts
/// for `user_id`. `None` when there are no buttons.
pub(crate) fn render(
    buttons: &[Button],
    sealer: &TokenSealer,
    action_url: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Option<PostProps> {
    if buttons.is_empty() {
        return None;
    }
    let actions = buttons
        .iter()
        .enumerate()
        .map(|(i, button)| Action {
            // Letters and digits only: Mattermost routes the click by it.
            id: format!("cal{i}"),
            name: button.label.clone(),
            style: button.style,
            integration: Integration {
                url: action_url.to_owned(),
                context: seal(sealer, &button.action, user_id, now),
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
    fn a_button_opens_for_its_user_only_and_not_when_altered_or_old() {
        let sealer = sealer();
        let now = Utc::now();
        let action = CalendarAction::Respond {
            response: "accept".into(),
            event_id: "AAMk=".into(),
        };
        let props = render(
            &[Button::new("Accept", ActionStyle::Primary, action.clone())],
            &sealer,
            "https://bridge/mattermost/action",
            "alice",
            now,
        )
        .expect("props");
        let context = &props.attachments[0].actions[0].integration.context;
        assert_eq!(open(&sealer, context, "alice", now), Ok(action));
        assert_eq!(open(&sealer, context, "bob", now), Err(Rejected::WrongUser));
        assert_eq!(
            open(&sealer, context, "alice", now + TimeDelta::days(61)),
            Err(Rejected::TooOld)
        );
        let mut altered = context.clone();
        let seal = altered["seal"].as_str().unwrap().to_owned();
        // Change one character in the middle of the sealed text to a different one.
        let middle = seal.len() / 2;
        let replacement = if &seal[middle..=middle] == "A" {
            "B"
        } else {
            "A"
        };
        altered["seal"] = Value::String(format!(
            "{}{replacement}{}",
            &seal[..middle],
            &seal[middle + 1..]
        ));
        assert_eq!(
            open(&sealer, &altered, "alice", now),
            Err(Rejected::Invalid)
        );
        assert_eq!(
            open(&sealer, &json!({}), "alice", now),
            Err(Rejected::Invalid)
        );
    }

    #[test]
    fn a_teams_button_does_not_pass_for_a_calendar_one() {
        let sealer = sealer();
        let now = Utc::now();
        let teams = crate::linking::buttons::seal_context(
            &sealer,
            bridge_core::linking::ButtonAction::Disconnect,
            "alice",
            now,
        );
        assert_eq!(open(&sealer, &teams, "alice", now), Err(Rejected::Invalid));
    }
}
