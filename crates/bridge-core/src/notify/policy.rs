//! The notification rules (T6, T7): which messages are notified, to whom, and when presence
//! holds a notification back. Every "no" has a named reason, so each can be counted.

use super::model::{Change, LinkedMember, MessageFacts, Presence, Sender};

/// Why a message, or one recipient of it, gets no notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// An edit: the original was notified (or held back) already.
    Edited,
    /// A deletion.
    Deleted,
    /// A team channel post or reply: only chats are notified.
    ChannelPost,
    /// A system event (member added, chat renamed, call started, ...).
    SystemEvent,
    /// Sent by a bot, connector or app.
    FromApplication,
    /// The chat has no linked member other than the sender.
    NoLinkedRecipient,
    /// The recipient turned notifications off.
    NotificationsOff,
    /// The message was sent before the recipient connected their account.
    BeforeConnected,
    /// The recipient is active in Teams (Available, Busy, DoNotDisturb, BeRightBack, in a call or
    /// meeting, presenting, ...): they see the message there.
    ActiveInTeams,
}

impl SkipReason {
    /// A stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Edited => "edited",
            Self::Deleted => "deleted",
            Self::ChannelPost => "channel_post",
            Self::SystemEvent => "system_event",
            Self::FromApplication => "from_application",
            Self::NoLinkedRecipient => "no_linked_recipient",
            Self::NotificationsOff => "notifications_off",
            Self::BeforeConnected => "before_connected",
            Self::ActiveInTeams => "active_in_teams",
        }
    }

    pub const ALL: [SkipReason; 9] = [
        Self::Edited,
        Self::Deleted,
        Self::ChannelPost,
        Self::SystemEvent,
        Self::FromApplication,
        Self::NoLinkedRecipient,
        Self::NotificationsOff,
        Self::BeforeConnected,
        Self::ActiveInTeams,
    ];
}

/// Whether a notification about a change is worth fetching the message for: only new messages
/// are notified. Decided from the notification alone, before any Graph call.
pub fn change_skip(change: Change) -> Option<SkipReason> {
    match change {
        Change::Created => None,
        Change::Updated => Some(SkipReason::Edited),
        Change::Deleted => Some(SkipReason::Deleted),
    }
}

/// Whether the message itself is notified at all (before looking at recipients).
pub fn message_skip(message: &MessageFacts) -> Option<SkipReason> {
    if message.in_channel || message.is_reply {
        return Some(SkipReason::ChannelPost);
    }
    if message.deleted {
        return Some(SkipReason::Deleted);
    }
    if message.message_type != "message" {
        return Some(SkipReason::SystemEvent);
    }
    match message.sender {
        Sender::User { .. } => None,
        Sender::Application { .. } => Some(SkipReason::FromApplication),
        Sender::Nobody => Some(SkipReason::SystemEvent),
    }
}

/// The recipients of a message sent at `sent_at` (when Graph says): the chat's linked members
/// other than the sender. Those with notifications off, or who connected after it was sent, are
/// returned apart, with their reason.
pub fn recipients<'a>(
    sender_microsoft_id: &str,
    linked_members: &'a [LinkedMember],
    sent_at: Option<chrono::DateTime<chrono::Utc>>,
) -> (Vec<&'a LinkedMember>, Vec<(&'a LinkedMember, SkipReason)>) {
    let mut due = Vec::new();
    let mut skipped = Vec::new();
    for member in linked_members {
        if member.microsoft_user_id == sender_microsoft_id {
            continue;
        }
        if let (Some(sent), Some(connected)) = (sent_at, member.connected_at)
            && sent < connected
        {
            skipped.push((member, SkipReason::BeforeConnected));
        } else if member.notifications_on {
            due.push(member);
        } else {
            skipped.push((member, SkipReason::NotificationsOff));
        }
    }
    (due, skipped)
}

/// Presence gating (T7). A notification goes out when the recipient's presence is unknown (no
/// answer, `PresenceUnknown`) or they are away from Teams (`Away`, `Offline`, `OffWork`,
/// `Inactive`); any other activity means they are in Teams and see the message there.
pub fn presence_gate(presence: Option<&Presence>) -> Result<(), SkipReason> {
    let Some(presence) = presence else {
        return Ok(());
    };
    let away = |value: &str| {
        matches!(
            value,
            "Away" | "Offline" | "OffWork" | "Inactive" | "PresenceUnknown" | ""
        )
    };
    if away(&presence.activity) {
        return Ok(());
    }
    // An activity Graph adds later: fall back on availability, which has a small fixed set.
    let known_activity = matches!(
        presence.activity.as_str(),
        "Available"
            | "AvailableIdle"
            | "Busy"
            | "BusyIdle"
            | "DoNotDisturb"
            | "BeRightBack"
            | "InACall"
            | "InAConferenceCall"
            | "InAMeeting"
            | "Presenting"
            | "UrgentInterruptionsOnly"
            | "OutOfOffice"
    );
    if !known_activity && away(&presence.availability) {
        return Ok(());
    }
    Err(SkipReason::ActiveInTeams)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(availability: &str, activity: &str) -> Presence {
        Presence {
            availability: availability.into(),
            activity: activity.into(),
        }
    }

    #[test]
    fn presence_table() {
        let deliver = [
            ("Away", "Away"),
            ("Offline", "Offline"),
            ("Offline", "OffWork"),
            ("Away", "Inactive"),
            ("PresenceUnknown", "PresenceUnknown"),
            ("Away", "SomethingNew"),
            ("", ""),
        ];
        for (availability, activity) in deliver {
            assert_eq!(
                presence_gate(Some(&presence(availability, activity))),
                Ok(()),
                "{availability}/{activity}"
            );
        }
        assert_eq!(presence_gate(None), Ok(()), "no presence answer");
        let suppress = [
            ("Available", "Available"),
            ("AvailableIdle", "AvailableIdle"),
            ("Busy", "Busy"),
            ("Busy", "InACall"),
            ("Busy", "InAConferenceCall"),
            ("Busy", "InAMeeting"),
            ("DoNotDisturb", "Presenting"),
            ("DoNotDisturb", "DoNotDisturb"),
            ("DoNotDisturb", "UrgentInterruptionsOnly"),
            ("BeRightBack", "BeRightBack"),
            ("Offline", "OutOfOffice"),
            ("Busy", "SomethingNew"),
        ];
        for (availability, activity) in suppress {
            assert_eq!(
                presence_gate(Some(&presence(availability, activity))),
                Err(SkipReason::ActiveInTeams),
                "{availability}/{activity}"
            );
        }
    }

    fn message(message_type: &str, sender: Sender) -> MessageFacts {
        MessageFacts {
            message_type: message_type.into(),
            sender,
            in_channel: false,
            deleted: false,
            is_reply: false,
        }
    }

    fn user() -> Sender {
        Sender::User {
            microsoft_user_id: "ms-a".into(),
            display_name: "A".into(),
        }
    }

    #[test]
    fn only_new_chat_messages_from_people_are_notified() {
        assert_eq!(change_skip(Change::Created), None);
        assert_eq!(change_skip(Change::Updated), Some(SkipReason::Edited));
        assert_eq!(change_skip(Change::Deleted), Some(SkipReason::Deleted));
        assert_eq!(
            change_skip(Change::from_graph("nonsense")),
            Some(SkipReason::Edited)
        );

        assert_eq!(message_skip(&message("message", user())), None);
        assert_eq!(
            message_skip(&message(
                "message",
                Sender::Application {
                    display_name: "Bot".into()
                }
            )),
            Some(SkipReason::FromApplication)
        );
        assert_eq!(
            message_skip(&message("systemEventMessage", Sender::Nobody)),
            Some(SkipReason::SystemEvent)
        );
        assert_eq!(
            message_skip(&message("message", Sender::Nobody)),
            Some(SkipReason::SystemEvent)
        );
        let mut channel = message("message", user());
        channel.in_channel = true;
        assert_eq!(message_skip(&channel), Some(SkipReason::ChannelPost));
        let mut deleted = message("message", user());
        deleted.deleted = true;
        assert_eq!(message_skip(&deleted), Some(SkipReason::Deleted));
    }

    #[test]
    fn recipients_are_linked_members_but_the_sender() {
        let member = |ms: &str, mm: &str, on: bool| LinkedMember {
            microsoft_user_id: ms.into(),
            mm_user_id: mm.into(),
            notifications_on: on,
            connected_at: None,
        };
        let members = [
            member("ms-a", "mm-a", true),
            member("ms-b", "mm-b", true),
            member("ms-c", "mm-c", false),
        ];
        let (due, skipped) = recipients("ms-a", &members, None);
        assert_eq!(
            due.iter()
                .map(|m| m.mm_user_id.as_str())
                .collect::<Vec<_>>(),
            ["mm-b"]
        );
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].0.mm_user_id, "mm-c");
        assert_eq!(skipped[0].1, SkipReason::NotificationsOff);
    }

    #[test]
    fn a_message_from_before_a_member_connected_is_not_theirs() {
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).expect("time");
        let member = |ms: &str, connected: i64| LinkedMember {
            microsoft_user_id: ms.into(),
            mm_user_id: format!("mm-{ms}"),
            notifications_on: true,
            connected_at: Some(at(connected)),
        };
        let members = [member("early", 100), member("late", 200)];
        let (due, skipped) = recipients("sender", &members, Some(at(150)));
        assert_eq!(
            due.iter()
                .map(|m| m.microsoft_user_id.as_str())
                .collect::<Vec<_>>(),
            ["early"]
        );
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].0.microsoft_user_id, "late");
        assert_eq!(skipped[0].1, SkipReason::BeforeConnected);
        // Sent at the moment one connected, or with no time known: theirs.
        let (due, _) = recipients("sender", &members, Some(at(200)));
        assert_eq!(due.len(), 2);
        let (due, _) = recipients("sender", &members, None);
        assert_eq!(due.len(), 2);
    }
}
