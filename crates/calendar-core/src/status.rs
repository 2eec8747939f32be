//! Status sync (C3): the user's Mattermost status follows their meetings.
//!
//! [`step`] is a state machine the service evaluates for each user on a tick (every minute, and
//! when a calendar change or a status change arrives). It is given the stored [`SyncState`], the
//! user's current status and custom status as Mattermost reports them, and the events around
//! now; it returns the next state and the actions to carry out. The rules:
//!
//! - a **meeting** is a timed event, not cancelled or declined, shown as busy or out of office,
//!   with at least one attendee other than the user ([`is_meeting`]); a focus block or a private
//!   appointment does not count;
//! - meetings that overlap, or follow each other with less than [`CONTINUITY_GAP`] between
//!   them, make one **busy period** ([`busy_period`]). Ticks are discrete, so without this a tick
//!   between two back-to-back meetings would restore the status and the next would set it again;
//! - when a busy period starts, the status is set to the chosen busy status (with an "In a
//!   meeting" custom status that expires at the end of the period), or the user is asked first;
//!   the status and custom status found are kept in the state, and put back when the period
//!   ends. An unanswered question lapses when the period ends (or is dropped when the user
//!   switches to auto mode, which then applies);
//! - a user who is offline is left offline (they may come online during the meeting, and are
//!   then handled as at the start); a user who already shows the busy status, or Do Not Disturb,
//!   is left alone for the period (their choice, nothing to restore);
//! - a user who changes their status by hand during the period, or declines the prompt, is left
//!   alone until the period ends ([`SyncState::Skipped`]): nothing is restored, so the user's own
//!   choice stands. The "In a meeting" custom status, if set, then expires by itself at the end of
//!   the period; the custom status it replaced is not put back in that case;
//! - when the period ends and the status is still the one applied, the previous status comes
//!   back; the previous custom status comes back (or ours is cleared) when the custom status shown
//!   is still ours or has expired, but not over a custom status the user set meanwhile. If the
//!   user changed their status, it is not touched, but the custom status is handled the same way.
//!
//! Restoring never sets a status the user did not have: the status restored is the `previous`
//! captured when the period started, or `online` when that was Mattermost's own (an `away` it set
//! after a while without activity, not one chosen by hand): `online` hands the status back to
//! Mattermost's activity tracking, where pinning `away` would keep the user away until they
//! changed it themselves.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventTime, ShowAs};
use crate::markdown::escape_text;
use crate::summary::format_time;

/// Meetings this close (end of one to start of the next) are one busy period. A minute matches
/// the tick of the status job: a tick can land between two back-to-back meetings, and must not
/// restore the status there only to set it again on the next.
pub const CONTINUITY_GAP: TimeDelta = TimeDelta::minutes(1);

/// Text of the custom status set during meetings.
pub const IN_MEETING_TEXT: &str = "In a meeting";

/// Emoji (Mattermost short name) of the custom status set during meetings.
pub const IN_MEETING_EMOJI: &str = "calendar";

/// A Mattermost user status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MmStatus {
    /// Online.
    Online,
    /// Away (set by hand, or by Mattermost after inactivity).
    Away,
    /// Do Not Disturb: no notifications.
    Dnd,
    /// Offline.
    Offline,
}

impl MmStatus {
    /// From Mattermost's `online`, `away`, `dnd` or `offline` (any case).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "online" => Some(Self::Online),
            "away" => Some(Self::Away),
            "dnd" => Some(Self::Dnd),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }

    /// Mattermost's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Dnd => "dnd",
            Self::Offline => "offline",
        }
    }
}

/// A user's status as Mattermost reports it (`GET /users/{id}/status`): the status and its
/// `manual` flag, set when it was chosen by hand (by the user, or through the API) rather than by
/// Mattermost following the user's activity (`away` after a while idle, `online` again on the
/// next activity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Presence {
    /// The status shown.
    pub status: MmStatus,
    /// Chosen by hand; Mattermost's activity tracking leaves it alone.
    pub manual: bool,
}

impl Presence {
    /// A status chosen by hand.
    pub fn manual(status: MmStatus) -> Self {
        Self {
            status,
            manual: true,
        }
    }

    /// A status Mattermost set following the user's activity.
    pub fn automatic(status: MmStatus) -> Self {
        Self {
            status,
            manual: false,
        }
    }
}

impl From<MmStatus> for Presence {
    /// A status without its `manual` flag counts as chosen by hand: it is put back as it was.
    fn from(status: MmStatus) -> Self {
        Self::manual(status)
    }
}

/// A Mattermost custom status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CustomStatus {
    /// Emoji short name, e.g. `calendar`.
    pub emoji: String,
    /// The text shown next to the name.
    pub text: String,
}

impl CustomStatus {
    /// The custom status set during meetings.
    pub fn in_meeting() -> Self {
        Self {
            emoji: IN_MEETING_EMOJI.to_owned(),
            text: IN_MEETING_TEXT.to_owned(),
        }
    }

    /// Whether this is the custom status set during meetings.
    pub fn is_in_meeting(&self) -> bool {
        self.emoji == IN_MEETING_EMOJI && self.text == IN_MEETING_TEXT
    }
}

/// Whether status sync runs, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Never touch the status.
    #[default]
    Off,
    /// Set the busy status when a meeting starts.
    Auto,
    /// Ask the user (a message with buttons) when a meeting starts.
    Confirm,
}

/// The status set during meetings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusyStatus {
    /// Do Not Disturb.
    #[default]
    Dnd,
    /// Away.
    Away,
}

impl BusyStatus {
    /// The Mattermost status it stands for.
    pub fn status(self) -> MmStatus {
        match self {
            Self::Dnd => MmStatus::Dnd,
            Self::Away => MmStatus::Away,
        }
    }
}

/// A user's status-sync settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusSettings {
    /// Whether and how status sync runs.
    pub mode: SyncMode,
    /// The status set during meetings.
    pub busy_status: BusyStatus,
    /// Also set an "In a meeting" custom status.
    pub custom_status: bool,
}

impl Default for StatusSettings {
    /// Off; when turned on, Do Not Disturb with the custom status.
    fn default() -> Self {
        Self {
            mode: SyncMode::Off,
            busy_status: BusyStatus::Dnd,
            custom_status: true,
        }
    }
}

/// Where status sync stands for one user; stored as JSON between ticks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Nothing applied, nothing pending.
    #[default]
    Idle,
    /// The busy status is applied until `until` (the end of the busy period).
    Applied {
        /// The status before, put back at the end.
        previous: MmStatus,
        /// The status set.
        applied: MmStatus,
        /// The custom status before, put back at the end when `custom_set`.
        previous_custom: Option<CustomStatus>,
        /// Whether the "In a meeting" custom status was set.
        custom_set: bool,
        /// The end of the busy period.
        until: DateTime<Utc>,
        /// The meeting on at the last step.
        event_id: String,
        /// Whether `previous` was Mattermost's own rather than chosen by hand: `online` is then
        /// put back, handing the status back to its activity tracking. Absent (false) in states
        /// stored before it was recorded.
        #[serde(default)]
        previous_automatic: bool,
    },
    /// The user was asked whether to set the busy status for the period ending at `until`.
    Asked {
        /// The meeting the question is about.
        event_id: String,
        /// The end of the busy period.
        until: DateTime<Utc>,
    },
    /// Hands off until `until`: the user changed their status during the period, declined the
    /// prompt, or already showed a busy status.
    Skipped {
        /// The end of the busy period.
        until: DateTime<Utc>,
    },
}

impl SyncState {
    /// The event the pending prompt is about, when the state is [`SyncState::Asked`]: the service
    /// checks a button click against it, so a click on an old prompt does nothing.
    pub fn asked_event(&self) -> Option<&str> {
        match self {
            Self::Asked { event_id, .. } => Some(event_id),
            _ => None,
        }
    }

    /// The status put back when an applied period ends (if the applied one still shows then):
    /// the status found at the start, or `online` when Mattermost had set that one itself.
    pub fn restored_status(&self) -> Option<MmStatus> {
        match self {
            Self::Applied {
                previous,
                previous_automatic: true,
                ..
            } if *previous != MmStatus::Offline => Some(MmStatus::Online),
            Self::Applied { previous, .. } => Some(*previous),
            _ => None,
        }
    }
}

/// Something the service must do in Mattermost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusAction {
    /// Set the user's status (by hand, as far as Mattermost knows).
    SetStatus(MmStatus),
    /// Set the custom status, expiring at `expires` (Mattermost clears it then).
    SetCustomStatus {
        /// What to show.
        custom: CustomStatus,
        /// When Mattermost clears it.
        expires: DateTime<Utc>,
    },
    /// Put back the custom status the user had before (without expiry).
    RestoreCustomStatus(CustomStatus),
    /// Remove the custom status.
    ClearCustomStatus,
    /// Ask the user whether to set the busy status for this meeting (confirm mode). `subject`
    /// is untrusted: render it with [`render_prompt`] or escape it.
    AskConfirm {
        /// The meeting, for the buttons' context.
        event_id: String,
        /// The meeting's subject (untrusted).
        subject: String,
        /// The end of the busy period.
        until: DateTime<Utc>,
    },
}

/// The next state and what to do to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transition {
    /// The state to store.
    pub state: SyncState,
    /// What to do, in order.
    pub actions: Vec<StatusAction>,
}

impl Transition {
    fn to(state: SyncState) -> Self {
        Self {
            state,
            actions: Vec::new(),
        }
    }

    fn idle() -> Self {
        Self::to(SyncState::Idle)
    }
}

/// The meetings that drive the status: a timed, listed event of some length, shown as busy or
/// out of office, with at least one attendee other than the user.
pub fn is_meeting(event: &Event) -> bool {
    matches!(event.when, EventTime::Timed { start, end } if end > start)
        && event.is_listed()
        && matches!(event.show_as, ShowAs::Busy | ShowAs::Oof)
        && event.attendees > 0
}

fn bounds(event: &Event) -> (DateTime<Utc>, DateTime<Utc>) {
    match event.when {
        EventTime::Timed { start, end } => (start, end),
        // Not reached: only meetings are bounded, and meetings are timed.
        EventTime::AllDay { .. } => (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MIN_UTC),
    }
}

/// The meeting on at `now` (`start <= now < end`); of several, the one that ends last.
pub fn busy_now(events: &[Event], now: DateTime<Utc>) -> Option<&Event> {
    events
        .iter()
        .filter(|e| is_meeting(e))
        .filter(|e| {
            let (start, end) = bounds(e);
            start <= now && now < end
        })
        .max_by(|a, b| {
            let (a_start, a_end) = bounds(a);
            let (b_start, b_end) = bounds(b);
            a_end
                .cmp(&b_end)
                .then_with(|| b_start.cmp(&a_start))
                .then_with(|| b.id.cmp(&a.id))
        })
}

/// A run of meetings that overlap or follow within [`CONTINUITY_GAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPeriod<'a> {
    /// The start of its first meeting.
    pub start: DateTime<Utc>,
    /// The end of its last meeting.
    pub end: DateTime<Utc>,
    /// The meeting on at the moment asked about, or the next one when that moment falls in a
    /// gap shorter than [`CONTINUITY_GAP`].
    pub event: &'a Event,
}

/// The busy period that `now` falls in, if any.
pub fn busy_period(events: &[Event], now: DateTime<Utc>) -> Option<BusyPeriod<'_>> {
    let mut meetings: Vec<&Event> = events.iter().filter(|e| is_meeting(e)).collect();
    meetings.sort_by_key(|e| bounds(e));
    let mut i = 0;
    while i < meetings.len() {
        let (start, mut end) = bounds(meetings[i]);
        let first = i;
        i += 1;
        while i < meetings.len() && bounds(meetings[i]).0 < end + CONTINUITY_GAP {
            end = end.max(bounds(meetings[i]).1);
            i += 1;
        }
        if start <= now && now < end {
            let event = busy_now(events, now).or_else(|| {
                meetings[first..i]
                    .iter()
                    .copied()
                    .find(|e| bounds(e).0 > now)
            })?;
            return Some(BusyPeriod { start, end, event });
        }
        if start > now {
            break;
        }
    }
    None
}

/// One evaluation of the status-sync rules (see the module docs).
///
/// `current` is the status Mattermost reports, with its `manual` flag ([`Presence`]); a bare
/// [`MmStatus`] counts as chosen by hand.
pub fn step(
    settings: &StatusSettings,
    state: &SyncState,
    current: impl Into<Presence>,
    current_custom: Option<&CustomStatus>,
    events: &[Event],
    now: DateTime<Utc>,
) -> Transition {
    let current = current.into();
    if settings.mode == SyncMode::Off {
        return match state {
            SyncState::Applied { .. } => end_period(state, current, current_custom),
            _ => Transition::idle(),
        };
    }
    let period = busy_period(events, now);
    match state {
        SyncState::Idle => start_period(settings, current, current_custom, period),
        SyncState::Applied {
            previous,
            applied,
            previous_custom,
            custom_set,
            until,
            previous_automatic,
            ..
        } => match period {
            // Changed by hand: hands off for the rest of the period.
            Some(p) if current.status != *applied => Transition::to(SyncState::Skipped {
                until: (*until).max(p.end),
            }),
            // Still busy (or busy again before a tick saw the gap): keep it, follow the end.
            Some(p) => {
                let mut actions = Vec::new();
                if p.end != *until && *custom_set {
                    actions.push(StatusAction::SetCustomStatus {
                        custom: CustomStatus::in_meeting(),
                        expires: p.end,
                    });
                }
                Transition {
                    state: SyncState::Applied {
                        previous: *previous,
                        applied: *applied,
                        previous_custom: previous_custom.clone(),
                        custom_set: *custom_set,
                        until: p.end,
                        event_id: p.event.id.clone(),
                        previous_automatic: *previous_automatic,
                    },
                    actions,
                }
            }
            None => end_period(state, current, current_custom),
        },
        SyncState::Asked { event_id, until } => match period {
            None => Transition::idle(),
            // A new period after the one asked about (a new question), or the user switched to
            // auto mode while the question was open (no question any more).
            Some(p) if p.start > *until || settings.mode == SyncMode::Auto => {
                start_period(settings, current, current_custom, period)
            }
            Some(p) => Transition::to(SyncState::Asked {
                event_id: event_id.clone(),
                until: (*until).max(p.end),
            }),
        },
        SyncState::Skipped { until } => match period {
            Some(p) if p.start <= *until => Transition::to(SyncState::Skipped {
                until: (*until).max(p.end),
            }),
            Some(_) => start_period(settings, current, current_custom, period),
            None if now >= *until => Transition::idle(),
            None => Transition::to(state.clone()),
        },
    }
}

/// The answer to a confirm-mode prompt. Accepting applies the busy status as auto mode would;
/// declining leaves the user alone until the period ends. A click on a prompt that is no longer
/// pending (the state moved on) changes nothing; one after the period ended, or with sync turned
/// off, ends the question.
pub fn confirm(
    state: &SyncState,
    accepted: bool,
    settings: &StatusSettings,
    current: impl Into<Presence>,
    current_custom: Option<&CustomStatus>,
    now: DateTime<Utc>,
) -> Transition {
    let current = current.into();
    let SyncState::Asked { event_id, until } = state else {
        return Transition::to(state.clone());
    };
    if settings.mode == SyncMode::Off || now >= *until {
        return Transition::idle();
    }
    if !accepted || leave_alone(settings, current) {
        return Transition::to(SyncState::Skipped { until: *until });
    }
    apply(settings, current, current_custom, *until, event_id)
}

/// Whether a user showing `current` is left as they are for a period: offline, already showing
/// the busy status, or in Do Not Disturb (stronger than away).
fn leave_alone(settings: &StatusSettings, current: Presence) -> bool {
    matches!(current.status, MmStatus::Offline | MmStatus::Dnd)
        || current.status == settings.busy_status.status()
}

fn start_period(
    settings: &StatusSettings,
    current: Presence,
    current_custom: Option<&CustomStatus>,
    period: Option<BusyPeriod<'_>>,
) -> Transition {
    let Some(p) = period else {
        return Transition::idle();
    };
    if current.status == MmStatus::Offline {
        // Not skipped: if they come online during the meeting, the rules apply then.
        return Transition::idle();
    }
    if leave_alone(settings, current) {
        return Transition::to(SyncState::Skipped { until: p.end });
    }
    match settings.mode {
        SyncMode::Off => Transition::idle(),
        SyncMode::Auto => apply(settings, current, current_custom, p.end, &p.event.id),
        SyncMode::Confirm => Transition {
            state: SyncState::Asked {
                event_id: p.event.id.clone(),
                until: p.end,
            },
            actions: vec![StatusAction::AskConfirm {
                event_id: p.event.id.clone(),
                subject: p.event.subject.clone(),
                until: p.end,
            }],
        },
    }
}

fn apply(
    settings: &StatusSettings,
    current: Presence,
    current_custom: Option<&CustomStatus>,
    until: DateTime<Utc>,
    event_id: &str,
) -> Transition {
    let applied = settings.busy_status.status();
    let mut actions = vec![StatusAction::SetStatus(applied)];
    if settings.custom_status {
        actions.push(StatusAction::SetCustomStatus {
            custom: CustomStatus::in_meeting(),
            expires: until,
        });
    }
    Transition {
        state: SyncState::Applied {
            previous: current.status,
            applied,
            // Ours left over (a lost state) is not worth restoring.
            previous_custom: current_custom.filter(|c| !c.is_in_meeting()).cloned(),
            custom_set: settings.custom_status,
            until,
            event_id: event_id.to_owned(),
            previous_automatic: !current.manual,
        },
        actions,
    }
}

/// Ends an applied period: the previous status back if the applied one still shows, and the
/// previous custom status back (or ours cleared) if ours still shows or has expired.
fn end_period(
    state: &SyncState,
    current: Presence,
    current_custom: Option<&CustomStatus>,
) -> Transition {
    let Some(restored) = state.restored_status() else {
        return Transition::idle();
    };
    let SyncState::Applied {
        applied,
        previous_custom,
        custom_set,
        ..
    } = state
    else {
        return Transition::idle();
    };
    let mut actions = Vec::new();
    if current.status == *applied {
        actions.push(StatusAction::SetStatus(restored));
    }
    if *custom_set {
        match (current_custom, previous_custom) {
            (Some(shown), Some(before)) if shown.is_in_meeting() => {
                actions.push(StatusAction::RestoreCustomStatus(before.clone()));
            }
            (Some(shown), None) if shown.is_in_meeting() => {
                actions.push(StatusAction::ClearCustomStatus);
            }
            (None, Some(before)) => {
                actions.push(StatusAction::RestoreCustomStatus(before.clone()));
            }
            // Nothing shows and nothing was there, or the user set their own meanwhile.
            _ => {}
        }
    }
    Transition {
        state: SyncState::Idle,
        actions,
    }
}

/// The confirm-mode question: "Your meeting **Subject** is starting. Set your status to Do Not
/// Disturb until 10:30 AM?" (the subject escaped). The service adds the Yes and No buttons.
pub fn render_prompt(
    subject: &str,
    busy_status: BusyStatus,
    until: DateTime<Utc>,
    tz: Tz,
) -> String {
    let subject = escape_text(subject);
    let subject = if subject.is_empty() {
        "Your meeting".to_owned()
    } else {
        format!("Your meeting **{subject}**")
    };
    let status = match busy_status {
        BusyStatus::Dnd => "Do Not Disturb",
        BusyStatus::Away => "Away",
    };
    format!(
        "{subject} is starting. Set your status to {status} until {}?",
        format_time(until.with_timezone(&tz).time())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ResponseStatus;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    fn meeting(id: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Event {
        let mut event = Event::new(id, format!("Meeting {id}"), EventTime::timed(start, end));
        event.attendees = 3;
        event
    }

    fn auto() -> StatusSettings {
        StatusSettings {
            mode: SyncMode::Auto,
            ..StatusSettings::default()
        }
    }

    fn in_meeting_until(until: DateTime<Utc>) -> StatusAction {
        StatusAction::SetCustomStatus {
            custom: CustomStatus::in_meeting(),
            expires: until,
        }
    }

    fn vacation() -> CustomStatus {
        CustomStatus {
            emoji: "palm_tree".into(),
            text: "Working from the beach".into(),
        }
    }

    #[test]
    fn statuses_and_settings_as_mattermost_and_json_say_them() {
        for s in [
            MmStatus::Online,
            MmStatus::Away,
            MmStatus::Dnd,
            MmStatus::Offline,
        ] {
            assert_eq!(MmStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(MmStatus::parse("DND"), Some(MmStatus::Dnd));
        assert_eq!(MmStatus::parse("busy"), None);
        let settings = StatusSettings::default();
        assert_eq!(settings.mode, SyncMode::Off);
        assert_eq!(settings.busy_status, BusyStatus::Dnd);
        assert!(settings.custom_status);
        assert_eq!(
            serde_json::to_string(&settings).unwrap(),
            r#"{"mode":"off","busy_status":"dnd","custom_status":true}"#
        );
        let state = SyncState::Applied {
            previous: MmStatus::Online,
            applied: MmStatus::Dnd,
            previous_custom: Some(vacation()),
            custom_set: true,
            until: at(10, 0),
            event_id: "e1".into(),
            previous_automatic: false,
        };
        let json = serde_json::to_string(&state).unwrap();
        assert!(
            json.starts_with(r#"{"state":"applied","previous":"online","applied":"dnd""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<SyncState>(&json).unwrap(), state);
        assert_eq!(
            serde_json::from_str::<SyncState>(r#"{"state":"idle"}"#).unwrap(),
            SyncState::Idle
        );
    }

    #[test]
    fn what_counts_as_a_meeting() {
        let m = meeting("m", at(9, 0), at(10, 0));
        assert!(is_meeting(&m));
        let mut alone = m.clone();
        alone.attendees = 0;
        assert!(!is_meeting(&alone));
        let mut free = m.clone();
        free.show_as = ShowAs::Free;
        assert!(!is_meeting(&free));
        let mut tentative = m.clone();
        tentative.show_as = ShowAs::Tentative;
        assert!(!is_meeting(&tentative));
        let mut oof = m.clone();
        oof.show_as = ShowAs::Oof;
        assert!(is_meeting(&oof));
        let mut declined = m.clone();
        declined.response = ResponseStatus::Declined;
        assert!(!is_meeting(&declined));
        let mut cancelled = m.clone();
        cancelled.is_cancelled = true;
        assert!(!is_meeting(&cancelled));
        let day = at(0, 0).date_naive();
        let mut all_day = Event::new("d", "Offsite", EventTime::all_day(day, day));
        all_day.attendees = 4;
        assert!(!is_meeting(&all_day));
    }

    #[test]
    fn busy_now_picks_the_one_ending_last() {
        let events = vec![
            meeting("short", at(9, 0), at(9, 30)),
            meeting("long", at(9, 15), at(11, 0)),
            meeting("later", at(12, 0), at(13, 0)),
        ];
        assert_eq!(busy_now(&events, at(8, 59)), None);
        assert_eq!(
            busy_now(&events, at(9, 0)).map(|e| e.id.as_str()),
            Some("short")
        );
        assert_eq!(
            busy_now(&events, at(9, 20)).map(|e| e.id.as_str()),
            Some("long")
        );
        assert_eq!(busy_now(&events, at(11, 0)), None);
        let p = busy_period(&events, at(9, 20)).unwrap();
        assert_eq!((p.start, p.end), (at(9, 0), at(11, 0)));
        assert!(busy_period(&events, at(11, 30)).is_none());
        // Back to back, and with a 30-second gap: one period. A gap of a minute: two.
        let chain = vec![
            meeting("a", at(9, 0), at(10, 0)),
            meeting("b", at(10, 0), at(10, 30)),
            meeting("c", at(10, 30) + TimeDelta::seconds(30), at(11, 0)),
            meeting("d", at(12, 0), at(12, 30)),
        ];
        let p = busy_period(&chain, at(10, 30) + TimeDelta::seconds(10)).unwrap();
        assert_eq!(
            (p.start, p.end, p.event.id.as_str()),
            (at(9, 0), at(11, 0), "c")
        );
        assert!(busy_period(&chain, at(11, 30)).is_none());
        let two = vec![
            meeting("a", at(9, 0), at(10, 0)),
            meeting("b", at(10, 1), at(11, 0)),
        ];
        assert_eq!(busy_period(&two, at(9, 0)).unwrap().end, at(10, 0));
    }

    #[test]
    fn auto_applies_and_restores_everything_it_changed() {
        let events = vec![meeting("m", at(9, 0), at(10, 0))];
        let s = auto();
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Online,
            None,
            &events,
            at(8, 59),
        );
        assert_eq!(t, Transition::idle());
        let custom = vacation();
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Online,
            Some(&custom),
            &events,
            at(9, 0),
        );
        assert_eq!(
            t.actions,
            [
                StatusAction::SetStatus(MmStatus::Dnd),
                in_meeting_until(at(10, 0))
            ]
        );
        let applied = t.state;
        assert_eq!(
            applied,
            SyncState::Applied {
                previous: MmStatus::Online,
                applied: MmStatus::Dnd,
                previous_custom: Some(custom.clone()),
                custom_set: true,
                until: at(10, 0),
                event_id: "m".into(),
                previous_automatic: false,
            }
        );
        let ours = CustomStatus::in_meeting();
        // During the meeting: nothing more.
        let t = step(&s, &applied, MmStatus::Dnd, Some(&ours), &events, at(9, 30));
        assert_eq!(t.state, applied);
        assert!(t.actions.is_empty());
        // After: status and custom status back.
        let t = step(&s, &applied, MmStatus::Dnd, Some(&ours), &events, at(10, 0));
        assert_eq!(t.state, SyncState::Idle);
        assert_eq!(
            t.actions,
            [
                StatusAction::SetStatus(MmStatus::Online),
                StatusAction::RestoreCustomStatus(custom.clone())
            ]
        );
        // Ours already expired: the old one still comes back.
        let t = step(&s, &applied, MmStatus::Dnd, None, &events, at(10, 1));
        assert_eq!(
            t.actions,
            [
                StatusAction::SetStatus(MmStatus::Online),
                StatusAction::RestoreCustomStatus(custom)
            ]
        );
        // No custom status before: ours is cleared, or nothing if it expired.
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Away,
            None,
            &events,
            at(9, 0),
        );
        let t = step(&s, &t.state, MmStatus::Dnd, Some(&ours), &events, at(10, 0));
        assert_eq!(
            t.actions,
            [
                StatusAction::SetStatus(MmStatus::Away),
                StatusAction::ClearCustomStatus
            ]
        );
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Away,
            None,
            &events,
            at(9, 0),
        );
        let t = step(&s, &t.state, MmStatus::Dnd, None, &events, at(10, 0));
        assert_eq!(t.actions, [StatusAction::SetStatus(MmStatus::Away)]);
        // Without the custom status setting: only the status.
        let plain = StatusSettings {
            custom_status: false,
            busy_status: BusyStatus::Away,
            ..auto()
        };
        let t = step(
            &plain,
            &SyncState::Idle,
            MmStatus::Online,
            Some(&vacation()),
            &events,
            at(9, 0),
        );
        assert_eq!(t.actions, [StatusAction::SetStatus(MmStatus::Away)]);
        let t = step(
            &plain,
            &t.state,
            MmStatus::Away,
            Some(&vacation()),
            &events,
            at(10, 0),
        );
        assert_eq!(t.actions, [StatusAction::SetStatus(MmStatus::Online)]);
    }

    #[test]
    fn offline_and_already_busy_users_are_left_alone() {
        let events = vec![meeting("m", at(9, 0), at(10, 0))];
        let s = auto();
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Offline,
            None,
            &events,
            at(9, 0),
        );
        assert_eq!(t, Transition::idle());
        // Coming online during the meeting: applied then.
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Online,
            None,
            &events,
            at(9, 20),
        );
        assert_eq!(t.actions[0], StatusAction::SetStatus(MmStatus::Dnd));
        // Already DND: theirs; nothing to restore, and not reapplied if they go online.
        let t = step(&s, &SyncState::Idle, MmStatus::Dnd, None, &events, at(9, 0));
        assert_eq!(t, Transition::to(SyncState::Skipped { until: at(10, 0) }));
        let t = step(&s, &t.state, MmStatus::Online, None, &events, at(9, 30));
        assert!(t.actions.is_empty());
        let t = step(&s, &t.state, MmStatus::Online, None, &events, at(10, 0));
        assert_eq!(t, Transition::idle());
        // DND is not lowered to away.
        let away = StatusSettings {
            busy_status: BusyStatus::Away,
            ..auto()
        };
        let t = step(
            &away,
            &SyncState::Idle,
            MmStatus::Dnd,
            None,
            &events,
            at(9, 0),
        );
        assert!(t.actions.is_empty());
        let t = step(
            &away,
            &SyncState::Idle,
            MmStatus::Away,
            None,
            &events,
            at(9, 0),
        );
        assert!(t.actions.is_empty());
    }

    #[test]
    fn a_change_by_hand_means_hands_off_until_the_period_ends() {
        let events = vec![
            meeting("a", at(9, 0), at(10, 0)),
            meeting("b", at(10, 0), at(11, 0)),
            meeting("c", at(13, 0), at(14, 0)),
        ];
        let s = auto();
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Online,
            None,
            &events,
            at(9, 0),
        );
        assert_eq!(t.actions[1], in_meeting_until(at(11, 0)));
        let ours = CustomStatus::in_meeting();
        // The user sets themselves online during the first meeting.
        let t = step(
            &s,
            &t.state,
            MmStatus::Online,
            Some(&ours),
            &events,
            at(9, 30),
        );
        assert_eq!(t, Transition::to(SyncState::Skipped { until: at(11, 0) }));
        // Nothing through the back-to-back meeting, whatever they do.
        for (now, status) in [(at(10, 0), MmStatus::Online), (at(10, 30), MmStatus::Away)] {
            let next = step(&s, &t.state, status, None, &events, now);
            assert!(next.actions.is_empty());
            assert_eq!(next.state, t.state);
        }
        let t = step(&s, &t.state, MmStatus::Online, None, &events, at(11, 0));
        assert_eq!(t, Transition::idle());
        // The next meeting is handled again.
        let t = step(&s, &t.state, MmStatus::Online, None, &events, at(13, 0));
        assert_eq!(t.actions[0], StatusAction::SetStatus(MmStatus::Dnd));
        // A change by hand seen only after the meeting: nothing restored; our custom status
        // is still handled.
        let t = step(
            &s,
            &t.state,
            MmStatus::Away,
            Some(&ours),
            &events,
            at(14, 0),
        );
        assert_eq!(t.state, SyncState::Idle);
        assert_eq!(t.actions, [StatusAction::ClearCustomStatus]);
        // ... unless the user put up their own custom status.
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Online,
            None,
            &events,
            at(13, 0),
        );
        let t = step(
            &s,
            &t.state,
            MmStatus::Dnd,
            Some(&vacation()),
            &events,
            at(14, 0),
        );
        assert_eq!(t.actions, [StatusAction::SetStatus(MmStatus::Online)]);
    }

    #[test]
    fn back_to_back_and_overlapping_meetings_never_flap() {
        let events = vec![
            meeting("a", at(9, 0), at(10, 0)),
            meeting("b", at(10, 0), at(10, 30)),
            meeting("c", at(10, 20), at(11, 0)),
            meeting("d", at(11, 0) + TimeDelta::seconds(40), at(11, 30)),
        ];
        let s = auto();
        let ours = CustomStatus::in_meeting();
        let mut state = SyncState::Idle;
        let mut status = MmStatus::Online;
        let mut log = Vec::new();
        let mut now = at(8, 50) + TimeDelta::seconds(20);
        while now < at(12, 0) {
            let custom = (status == MmStatus::Dnd).then_some(&ours);
            let t = step(&s, &state, status, custom, &events, now);
            for action in &t.actions {
                if let StatusAction::SetStatus(new) = action {
                    status = *new;
                    log.push((now, *new));
                }
            }
            state = t.state;
            now += TimeDelta::seconds(30);
        }
        assert_eq!(
            log,
            [
                (at(9, 0) + TimeDelta::seconds(20), MmStatus::Dnd),
                (at(11, 30) + TimeDelta::seconds(20), MmStatus::Online)
            ]
        );
    }

    #[test]
    fn a_longer_period_moves_the_custom_status_expiry() {
        let mut events = vec![meeting("a", at(9, 0), at(10, 0))];
        let s = auto();
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Online,
            None,
            &events,
            at(9, 0),
        );
        // A meeting is added right after.
        events.push(meeting("b", at(10, 0), at(10, 45)));
        let ours = CustomStatus::in_meeting();
        let t = step(&s, &t.state, MmStatus::Dnd, Some(&ours), &events, at(9, 1));
        assert_eq!(t.actions, [in_meeting_until(at(10, 45))]);
        let SyncState::Applied { until, .. } = t.state else {
            panic!("{t:?}")
        };
        assert_eq!(until, at(10, 45));
        // The meeting is cancelled mid-way: restore now.
        events.clear();
        let t = step(&s, &t.state, MmStatus::Dnd, Some(&ours), &events, at(9, 30));
        assert_eq!(t.state, SyncState::Idle);
        assert_eq!(
            t.actions,
            [
                StatusAction::SetStatus(MmStatus::Online),
                StatusAction::ClearCustomStatus
            ]
        );
    }

    #[test]
    fn turning_sync_off_restores() {
        let events = vec![meeting("a", at(9, 0), at(10, 0))];
        let t = step(
            &auto(),
            &SyncState::Idle,
            MmStatus::Away,
            None,
            &events,
            at(9, 0),
        );
        let off = StatusSettings::default();
        let ours = CustomStatus::in_meeting();
        let t = step(
            &off,
            &t.state,
            MmStatus::Dnd,
            Some(&ours),
            &events,
            at(9, 10),
        );
        assert_eq!(t.state, SyncState::Idle);
        assert_eq!(
            t.actions,
            [
                StatusAction::SetStatus(MmStatus::Away),
                StatusAction::ClearCustomStatus
            ]
        );
        let skipped = SyncState::Skipped { until: at(10, 0) };
        assert_eq!(
            step(&off, &skipped, MmStatus::Online, None, &events, at(9, 10)),
            Transition::idle()
        );
    }

    #[test]
    fn an_away_mattermost_set_is_not_pinned_at_the_end() {
        let events = vec![meeting("a", at(9, 0), at(10, 0))];
        let s = auto();
        let ours = CustomStatus::in_meeting();
        // Away after a while idle (Mattermost's): online comes back, and activity takes over.
        let t = step(
            &s,
            &SyncState::Idle,
            Presence::automatic(MmStatus::Away),
            None,
            &events,
            at(9, 0),
        );
        assert_eq!(t.actions[0], StatusAction::SetStatus(MmStatus::Dnd));
        assert!(
            matches!(
                t.state,
                SyncState::Applied {
                    previous: MmStatus::Away,
                    previous_automatic: true,
                    ..
                }
            ),
            "{t:?}"
        );
        assert_eq!(t.state.restored_status(), Some(MmStatus::Online));
        let dnd = Presence::manual(MmStatus::Dnd);
        let kept = step(&s, &t.state, dnd, Some(&ours), &events, at(9, 30));
        assert_eq!(kept.state.restored_status(), Some(MmStatus::Online));
        let end = step(&s, &kept.state, dnd, Some(&ours), &events, at(10, 0));
        assert_eq!(
            end.actions,
            [
                StatusAction::SetStatus(MmStatus::Online),
                StatusAction::ClearCustomStatus
            ]
        );
        // Away chosen by hand stays the user's choice.
        let t = step(
            &s,
            &SyncState::Idle,
            Presence::manual(MmStatus::Away),
            None,
            &events,
            at(9, 0),
        );
        let end = step(&s, &t.state, dnd, Some(&ours), &events, at(10, 0));
        assert_eq!(end.actions[0], StatusAction::SetStatus(MmStatus::Away));
        // Turning sync off mid-way restores the same way.
        let t = step(
            &s,
            &SyncState::Idle,
            Presence::automatic(MmStatus::Away),
            None,
            &events,
            at(9, 0),
        );
        let off = step(
            &StatusSettings::default(),
            &t.state,
            dnd,
            Some(&ours),
            &events,
            at(9, 5),
        );
        assert_eq!(off.actions[0], StatusAction::SetStatus(MmStatus::Online));
        // A state stored before the flag existed restores what it captured.
        let old = r#"{"state":"applied","previous":"away","applied":"dnd","previous_custom":null,"custom_set":true,"until":"2026-11-23T10:00:00Z","event_id":"a"}"#;
        let state: SyncState = serde_json::from_str(old).unwrap();
        assert_eq!(state.restored_status(), Some(MmStatus::Away));
        let json = serde_json::to_string(&t.state).unwrap();
        assert!(json.contains(r#""previous_automatic":true"#), "{json}");
        assert_eq!(serde_json::from_str::<SyncState>(&json).unwrap(), t.state);
    }

    #[test]
    fn confirm_mode_asks_and_follows_the_answer() {
        let events = vec![
            meeting("a", at(9, 0), at(10, 0)),
            meeting("b", at(10, 0), at(10, 30)),
            meeting("c", at(12, 0), at(12, 30)),
        ];
        let s = StatusSettings {
            mode: SyncMode::Confirm,
            ..StatusSettings::default()
        };
        let t = step(
            &s,
            &SyncState::Idle,
            MmStatus::Online,
            None,
            &events,
            at(9, 0),
        );
        assert_eq!(
            t.actions,
            [StatusAction::AskConfirm {
                event_id: "a".into(),
                subject: "Meeting a".into(),
                until: at(10, 30)
            }]
        );
        let asked = t.state;
        assert_eq!(asked.asked_event(), Some("a"));
        // Asked once only.
        let t = step(&s, &asked, MmStatus::Online, None, &events, at(9, 5));
        assert_eq!(t, Transition::to(asked.clone()));
        // Yes: applied as auto would.
        let t = confirm(&asked, true, &s, MmStatus::Online, None, at(9, 6));
        assert_eq!(
            t.actions,
            [
                StatusAction::SetStatus(MmStatus::Dnd),
                in_meeting_until(at(10, 30))
            ]
        );
        assert!(matches!(
            t.state,
            SyncState::Applied {
                previous: MmStatus::Online,
                ..
            }
        ));
        let t = step(&s, &t.state, MmStatus::Dnd, None, &events, at(10, 30));
        assert_eq!(t.actions, [StatusAction::SetStatus(MmStatus::Online)]);
        // No: hands off until the end.
        let t = confirm(&asked, false, &s, MmStatus::Online, None, at(9, 6));
        assert_eq!(t, Transition::to(SyncState::Skipped { until: at(10, 30) }));
        let t = step(&s, &t.state, MmStatus::Online, None, &events, at(10, 0));
        assert!(t.actions.is_empty());
        // Unanswered: forgotten when the period ends, asked again for the next one.
        let t = step(&s, &asked, MmStatus::Online, None, &events, at(11, 0));
        assert_eq!(t, Transition::idle());
        let t = step(&s, &asked, MmStatus::Online, None, &events, at(12, 0));
        assert!(
            matches!(&t.actions[..], [StatusAction::AskConfirm { event_id, .. }] if event_id == "c")
        );
        // Switched to auto mode with the question open: applied at the next step.
        let t = step(&auto(), &asked, MmStatus::Online, None, &events, at(9, 10));
        assert_eq!(t.actions[0], StatusAction::SetStatus(MmStatus::Dnd));
        // Late or stale clicks.
        assert_eq!(
            confirm(&asked, true, &s, MmStatus::Online, None, at(10, 30)),
            Transition::idle()
        );
        assert_eq!(
            confirm(&SyncState::Idle, true, &s, MmStatus::Online, None, at(9, 6)),
            Transition::idle()
        );
        assert_eq!(
            confirm(
                &asked,
                true,
                &StatusSettings::default(),
                MmStatus::Online,
                None,
                at(9, 6)
            ),
            Transition::idle()
        );
        // Already DND when they click yes: theirs.
        assert_eq!(
            confirm(&asked, true, &s, MmStatus::Dnd, None, at(9, 6)),
            Transition::to(SyncState::Skipped { until: at(10, 30) })
        );
    }

    #[test]
    fn the_prompt_escapes_the_subject() {
        let text = render_prompt(
            "@all [x](https://evil)",
            BusyStatus::Dnd,
            at(10, 30),
            chrono_tz::Europe::Paris,
        );
        assert_eq!(
            text,
            "Your meeting **@\u{2060}all \\[x\\]\\(https://evil\\)** is starting. Set your status to Do Not Disturb until 11:30 AM?"
        );
        assert_eq!(
            render_prompt("", BusyStatus::Away, at(10, 30), Tz::UTC),
            "Your meeting is starting. Set your status to Away until 10:30 AM?"
        );
    }

    fn layout() -> impl Strategy<Value = Vec<Event>> {
        // Meetings within five hours, often back to back or overlapping, some not meetings.
        prop::collection::vec((0i64..300, 0i64..90, 0u8..10), 0..8).prop_map(|specs| {
            let base = at(8, 0);
            let mut previous_end = 0;
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (start, length, kind))| {
                    // Kind 0-2 starts where the previous ended, to get back-to-back meetings.
                    let start = if kind < 3 { previous_end } else { start };
                    previous_end = start + length;
                    let mut event = meeting(
                        &i.to_string(),
                        base + TimeDelta::minutes(start),
                        base + TimeDelta::minutes(start + length),
                    );
                    match kind {
                        7 => event.show_as = ShowAs::Free,
                        8 => event.attendees = 0,
                        9 => event.response = ResponseStatus::Declined,
                        _ => {}
                    }
                    event
                })
                .collect()
        })
    }

    /// A while after the last meeting ends, when every simulation has settled.
    fn after_all(events: &[Event]) -> DateTime<Utc> {
        events
            .iter()
            .map(|e| e.end_in(Tz::UTC))
            .max()
            .unwrap_or(at(8, 0))
            .max(at(15, 0))
            + TimeDelta::minutes(10)
    }

    fn any_status() -> impl Strategy<Value = MmStatus> {
        prop::sample::select(vec![
            MmStatus::Online,
            MmStatus::Away,
            MmStatus::Dnd,
            MmStatus::Offline,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Random meetings, ticks, changes by hand and prompt answers: no status is ever set
        /// for a user who is offline, and every status restored is the `previous` captured.
        #[test]
        fn never_touches_offline_users_and_restores_what_was_there(
            events in layout(),
            mode in prop::sample::select(vec![SyncMode::Auto, SyncMode::Confirm]),
            busy in prop::sample::select(vec![BusyStatus::Dnd, BusyStatus::Away]),
            custom_status in any::<bool>(),
            initial in any_status(),
            initial_manual in any::<bool>(),
            changes in prop::collection::vec((0i64..420, any_status(), any::<bool>()), 0..6),
            answers in prop::collection::vec(any::<bool>(), 8),
            tick_seconds in 20i64..120,
        ) {
            let settings = StatusSettings { mode, busy_status: busy, custom_status };
            let mut state = SyncState::Idle;
            // Dnd is always chosen by hand; the others may be Mattermost's (activity).
            let mut status = Presence { status: initial, manual: initial_manual || initial == MmStatus::Dnd };
            let mut custom: Option<CustomStatus> = Some(vacation());
            let mut answer = answers.iter().cycle();
            let mut now = at(7, 30);
            let end = after_all(&events);
            while now < end {
                for (minute, new, manual) in &changes {
                    let change_at = at(7, 30) + TimeDelta::minutes(*minute);
                    if change_at <= now && change_at > now - TimeDelta::seconds(tick_seconds) {
                        status = Presence { status: *new, manual: *manual || *new == MmStatus::Dnd };
                    }
                }
                let before = state.clone();
                let t = step(&settings, &state, status, custom.as_ref(), &events, now);
                let mut t = t;
                if matches!(t.state, SyncState::Asked { .. })
                    && t.actions.iter().any(|a| matches!(a, StatusAction::AskConfirm { .. }))
                {
                    let accepted = *answer.next().unwrap();
                    let answered = confirm(&t.state, accepted, &settings, status, custom.as_ref(), now);
                    t.actions.extend(answered.actions);
                    t.state = answered.state;
                }
                for action in &t.actions {
                    match action {
                        StatusAction::SetStatus(new) => {
                            prop_assert_ne!(status.status, MmStatus::Offline, "set {:?} at {} while offline", new, now);
                            if let SyncState::Applied { applied, .. } = &before
                                && *new != *applied
                                && matches!(t.state, SyncState::Idle)
                            {
                                prop_assert_eq!(Some(*new), before.restored_status());
                            }
                            if *new != busy.status() {
                                // Only a restore sets anything but the busy status.
                                prop_assert!(before.restored_status() == Some(*new),
                                    "set {:?} from {:?}", new, before);
                            }
                            if *new != MmStatus::Online && *new != busy.status() {
                                // Never pins a status the user did not choose by hand.
                                prop_assert!(matches!(&before, SyncState::Applied { previous_automatic: false, .. }),
                                    "pinned {:?} from {:?}", new, before);
                            }
                            // Mattermost: anything set through the API but online is manual.
                            status = Presence { status: *new, manual: *new != MmStatus::Online };
                        }
                        StatusAction::SetCustomStatus { custom: c, expires } => {
                            prop_assert!(custom_status && *expires > now);
                            custom = Some(c.clone());
                        }
                        StatusAction::RestoreCustomStatus(c) => {
                            prop_assert_eq!(c, &vacation());
                            custom = Some(c.clone());
                        }
                        StatusAction::ClearCustomStatus => custom = None,
                        StatusAction::AskConfirm { .. } => prop_assert_eq!(mode, SyncMode::Confirm),
                    }
                }
                if let SyncState::Applied { previous, .. } = &t.state {
                    prop_assert_ne!(*previous, MmStatus::Offline);
                }
                state = t.state;
                now += TimeDelta::seconds(tick_seconds);
            }
            // Well after every meeting, nothing of ours is left applied.
            prop_assert!(!matches!(state, SyncState::Applied { .. }), "left applied: {:?}", state);
        }

        /// With nobody touching their status, an online user in auto mode shows the busy status
        /// exactly while a busy period is on: never restored and reapplied inside one.
        #[test]
        fn status_follows_busy_periods_without_flapping(
            events in layout(),
            tick_seconds in 10i64..59,
            offset in 0i64..60,
        ) {
            let settings = auto();
            let mut state = SyncState::Idle;
            let mut status = MmStatus::Online;
            let mut now = at(7, 30) + TimeDelta::seconds(offset);
            let mut changes = 0;
            let end = after_all(&events);
            while now < end {
                let custom = (status == MmStatus::Dnd).then(CustomStatus::in_meeting);
                let t = step(&settings, &state, status, custom.as_ref(), &events, now);
                for action in &t.actions {
                    if let StatusAction::SetStatus(new) = action {
                        status = *new;
                        changes += 1;
                    }
                }
                let period = busy_period(&events, now);
                let expected = if period.is_some() { MmStatus::Dnd } else { MmStatus::Online };
                prop_assert_eq!(status, expected, "at {}", now);
                state = t.state;
                now += TimeDelta::seconds(tick_seconds);
            }
            // Two changes per period at most (set and restore).
            let periods = {
                let mut count = 0;
                let mut t = at(7, 30);
                let mut inside = false;
                while t < end {
                    let on = busy_period(&events, t).is_some();
                    if on && !inside { count += 1; }
                    inside = on;
                    t += TimeDelta::seconds(10);
                }
                count
            };
            prop_assert!(changes <= 2 * periods, "{} changes for {} periods", changes, periods);
        }
    }
}
