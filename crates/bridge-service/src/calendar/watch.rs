//! The watch job: reminders (C5) and status sync (C3). Each user's coming events (a day and a
//! half) are cached in the store and re-read in `$batch`es of 20 users when a change notification
//! arrives, when the cache gets older than `calendar.reconcile_interval`, or when its window runs
//! out. A user's `watch` schedule is due at the next thing that matters for them (a reminder, a
//! meeting starting or ending, the next re-read), so each tick touches only the users due, and
//! most ticks read nothing from Graph at all.

use std::collections::HashMap;
use std::sync::Arc;

use calendar_core::reminders::{due_reminders, reminder_at, reminder_key, render_reminder};
use calendar_core::status::{
    self, CustomStatus, MmStatus, StatusAction, SyncMode, SyncState, Transition, render_prompt,
};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt as _;
use mm_client::ActionStyle;

use super::buttons::{Button, CalendarAction};
use super::commands::WINDOW;
use super::messages::Sent;
use super::metrics::{DmKind, StatusChange};
use super::users::{CalendarUser, Upcoming};
use super::{CalendarApp, JOB_WATCH};

/// Users claimed per round.
const ROUND: u32 = 200;
/// How far back a reminder still goes out (the event must not have started): covers a restart.
const REMINDER_LOOKBACK: TimeDelta = TimeDelta::minutes(15);
/// How far back the cached window starts (a meeting that began before the read still counts).
const LOOK_BEHIND: TimeDelta = TimeDelta::hours(1);
/// The window is read again when less than this is left of it.
const WINDOW_MARGIN: TimeDelta = TimeDelta::hours(12);

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WatchReport {
    pub claimed: usize,
    /// Users whose events were read from Graph.
    pub read: usize,
    pub reminders: usize,
    pub status_changes: usize,
    pub failed: usize,
}

fn needs_watch(user: &CalendarUser) -> bool {
    user.settings.reminders
        || user.settings.status.mode != SyncMode::Off
        || user.status != SyncState::Idle
}

fn stale(user: &CalendarUser, now: DateTime<Utc>, reconcile: TimeDelta) -> bool {
    match &user.upcoming {
        None => true,
        Some(u) => u.fetched_at + reconcile <= now || u.to - WINDOW_MARGIN <= now,
    }
}

/// When the user next needs looking at: the next reminder, meeting start or end, the end of a
/// hands-off or asked period, or the next re-read of their events.
pub(crate) fn next_wake(
    user: &CalendarUser,
    upcoming: &Upcoming,
    state: &SyncState,
    now: DateTime<Utc>,
    reconcile: TimeDelta,
) -> DateTime<Utc> {
    let tz = user.tz_or_utc();
    let mut next = (upcoming.fetched_at + reconcile).min(upcoming.to - WINDOW_MARGIN);
    let mut consider = |at: DateTime<Utc>| {
        if at > now && at < next {
            next = at;
        }
    };
    if user.settings.reminders {
        for event in &upcoming.events {
            if let Some(at) = reminder_at(event, tz) {
                consider(at);
            }
        }
    }
    if user.settings.status.mode != SyncMode::Off || *state != SyncState::Idle {
        for event in upcoming.events.iter().filter(|e| status::is_meeting(e)) {
            consider(event.start_in(tz));
            consider(event.end_in(tz));
        }
        match state {
            SyncState::Applied { until, .. }
            | SyncState::Asked { until, .. }
            | SyncState::Skipped { until } => consider(*until),
            SyncState::Idle => {}
        }
    }
    next.max(now + TimeDelta::seconds(1))
}

/// What a status-sync transition from `before` did, for the metrics (`None`: nothing new, such as
/// a period going on). `current` is the status the machine was given; `meeting_on` whether a
/// meeting is on with sync on; `answered` the reply when the transition answers the confirm-mode
/// question.
fn status_change(
    before: &SyncState,
    transition: &Transition,
    current: MmStatus,
    meeting_on: bool,
    answered: Option<bool>,
) -> Option<StatusChange> {
    let was_applied = matches!(before, SyncState::Applied { .. });
    match &transition.state {
        SyncState::Applied { .. } if was_applied => None,
        SyncState::Applied { applied, .. } => Some(match applied {
            MmStatus::Away => StatusChange::SetAway,
            _ => StatusChange::SetDnd,
        }),
        SyncState::Skipped { .. } if was_applied => Some(StatusChange::LeftChanged),
        SyncState::Skipped { .. } if answered == Some(false) => Some(StatusChange::Declined),
        // Still hands off (the period grew).
        SyncState::Skipped { .. } if matches!(before, SyncState::Skipped { .. }) => None,
        SyncState::Skipped { .. } if current == MmStatus::Offline => {
            Some(StatusChange::SkippedOffline)
        }
        SyncState::Skipped { .. } => Some(StatusChange::SkippedBusy),
        SyncState::Asked { .. } => transition
            .actions
            .iter()
            .any(|a| matches!(a, StatusAction::AskConfirm { .. }))
            .then_some(StatusChange::Asked),
        SyncState::Idle if was_applied => Some(
            if transition
                .actions
                .iter()
                .any(|a| matches!(a, StatusAction::SetStatus(_)))
            {
                StatusChange::Restored
            } else {
                // The user changed it meanwhile: their status stands.
                StatusChange::LeftChanged
            },
        ),
        SyncState::Idle => {
            (meeting_on && current == MmStatus::Offline).then_some(StatusChange::SkippedOffline)
        }
    }
}

impl CalendarApp {
    /// Counts what a status-sync transition did, once it is applied and stored.
    pub(crate) fn count_status_change(
        &self,
        before: &SyncState,
        transition: &Transition,
        current: MmStatus,
        meeting_on: bool,
        answered: Option<bool>,
    ) {
        if let Some(change) = status_change(before, transition, current, meeting_on, answered) {
            self.metrics.status_changed(change);
        }
    }

    pub(crate) async fn run_watch(self: Arc<Self>) {
        loop {
            match self.watch_round().await {
                Ok(report) if report.claimed == ROUND as usize => continue,
                Ok(report) => {
                    if report.reminders + report.status_changes + report.failed > 0 {
                        tracing::info!(?report, "calendar watch");
                    }
                }
                Err(err) => tracing::warn!(error = %err, "calendar watch round failed; retrying"),
            }
            tokio::time::sleep(self.timing.tick).await;
        }
    }

    /// Every connected user is looked at by the next watch round (`admin sync-status`).
    pub(crate) async fn watch_everyone_now(
        &self,
        now: DateTime<Utc>,
    ) -> Result<usize, store::StoreError> {
        let mut after: Option<String> = None;
        let mut n = 0;
        loop {
            let links = self.store().connected_links(after.as_deref(), 500).await?;
            let Some(last) = links.last() else {
                return Ok(n);
            };
            after = Some(last.mm_user_id.clone());
            for link in &links {
                self.store()
                    .set_schedule(&link.mm_user_id, JOB_WATCH, Some(now), now)
                    .await?;
                n += 1;
            }
        }
    }

    /// Claims the users due and handles their reminders and status.
    pub async fn watch_round(&self) -> Result<WatchReport, store::StoreError> {
        let now = self.now();
        let holder = format!("{}#watch#{}", self.instance(), now.timestamp_millis());
        let due = self
            .store()
            .claim_due_schedules(JOB_WATCH, &holder, now, now + TimeDelta::minutes(2), ROUND)
            .await?;
        let mut report = WatchReport {
            claimed: due.len(),
            ..WatchReport::default()
        };
        let mut users = Vec::new();
        for entry in &due {
            match self.calendar_user(&entry.mm_user_id).await? {
                Some(user) if needs_watch(&user) => users.push(user),
                None => {
                    // No longer connected (Microsoft ended the sign-in): a status set for a
                    // meeting is put back all the same, as it would have been.
                    if let Err(err) = self.release_status(&entry.mm_user_id).await {
                        tracing::warn!(mm_user_id = %entry.mm_user_id, error = %err, "could not put back the status of a user no longer connected");
                    }
                    self.store()
                        .finish_schedule(&entry.mm_user_id, JOB_WATCH, &holder, None, now)
                        .await?;
                }
                Some(_) => {
                    self.store()
                        .finish_schedule(&entry.mm_user_id, JOB_WATCH, &holder, None, now)
                        .await?;
                }
            }
        }
        // Re-read the events of those whose cache is stale, twenty users a request.
        let reconcile = self.timing.reconcile;
        let stale_users: Vec<usize> = (0..users.len())
            .filter(|&i| stale(&users[i], now, reconcile))
            .collect();
        for chunk in stale_users.chunks(20) {
            let windows: Vec<_> = chunk
                .iter()
                .map(|&i| (&users[i], now - LOOK_BEHIND, now + WINDOW))
                .collect();
            let results = self.read_events_batch(&windows).await;
            for (&i, result) in chunk.iter().zip(results) {
                match result {
                    Ok(events) => {
                        let upcoming = Upcoming {
                            fetched_at: now,
                            from: now - LOOK_BEHIND,
                            to: now + WINDOW,
                            events,
                        };
                        self.save_upcoming(users[i].mm_user_id(), &upcoming).await?;
                        users[i].upcoming = Some(upcoming);
                        report.read += 1;
                    }
                    Err(err) => {
                        tracing::warn!(mm_user_id = users[i].mm_user_id(), error = %err, "could not read a calendar; retrying in a minute");
                    }
                }
            }
        }
        // Current statuses of those whose status may change, in one request.
        let status_ids: Vec<String> = users
            .iter()
            .filter(|u| u.settings.status.mode != SyncMode::Off || u.status != SyncState::Idle)
            .map(|u| u.mm_user_id().to_owned())
            .collect();
        let statuses: HashMap<String, MmStatus> = if status_ids.is_empty() {
            HashMap::new()
        } else {
            match self.status_client.statuses(&status_ids).await {
                Ok(list) => list
                    .into_iter()
                    .filter_map(|s| Some((s.user_id, MmStatus::parse(&s.status)?)))
                    .collect(),
                Err(err) => {
                    tracing::warn!(error = %err, "could not read Mattermost statuses; status sync waits a round");
                    HashMap::new()
                }
            }
        };
        let mut work = Vec::new();
        for user in &users {
            let current = statuses.get(user.mm_user_id()).copied();
            work.push(self.watch_user(user, current, &holder));
        }
        let outcomes: Vec<Result<UserOutcome, store::StoreError>> =
            futures_util::stream::iter(work)
                .buffer_unordered(16)
                .collect()
                .await;
        for outcome in outcomes {
            let outcome = outcome?;
            report.reminders += outcome.reminders;
            report.status_changes += outcome.status_changes;
            report.failed += usize::from(outcome.failed);
        }
        Ok(report)
    }

    async fn watch_user(
        &self,
        user: &CalendarUser,
        current: Option<MmStatus>,
        holder: &str,
    ) -> Result<UserOutcome, store::StoreError> {
        let mm_user_id = user.mm_user_id();
        let now = self.now();
        let mut outcome = UserOutcome::default();
        let Some(upcoming) = &user.upcoming else {
            // The read failed: again in a minute.
            outcome.failed = true;
            self.store()
                .release_schedule(mm_user_id, JOB_WATCH, holder, now + TimeDelta::minutes(1))
                .await?;
            return Ok(outcome);
        };
        let tz = user.tz_or_utc();
        let mut retry_soon = false;
        if user.settings.reminders {
            for event in due_reminders(&upcoming.events, tz, now, REMINDER_LOOKBACK) {
                let key = reminder_key(mm_user_id, event, tz);
                let text = render_reminder(event, tz, now);
                match self
                    .dm_once(DmKind::Reminder, mm_user_id, &key, &text, &[])
                    .await
                {
                    Ok(Sent::Posted(_)) => outcome.reminders += 1,
                    Ok(Sent::Already) => {}
                    Ok(Sent::Held(_)) => retry_soon = true,
                    Err(err) => {
                        tracing::warn!(mm_user_id, error = %err, "could not send a reminder; retrying");
                        retry_soon = true;
                    }
                }
            }
        }
        let mut state = user.status.clone();
        if let Some(current) = current {
            match self.sync_status(user, &upcoming.events, current, now).await {
                Ok((next, changes)) => {
                    outcome.status_changes += changes;
                    state = next;
                }
                Err(err) => {
                    tracing::warn!(mm_user_id, error = %err, "could not change a status; retrying");
                    retry_soon = true;
                }
            }
        } else if user.settings.status.mode != SyncMode::Off || user.status != SyncState::Idle {
            retry_soon = true;
        }
        let mut next = next_wake(user, upcoming, &state, now, self.timing.reconcile);
        if retry_soon {
            next = next.min(now + TimeDelta::minutes(1));
        }
        outcome.failed = retry_soon;
        self.store()
            .finish_schedule(mm_user_id, JOB_WATCH, holder, Some(next), now)
            .await?;
        Ok(outcome)
    }

    /// One step of the status-sync state machine for a user, its actions applied and the new
    /// state stored: the new state and how many changes were made.
    async fn sync_status(
        &self,
        user: &CalendarUser,
        events: &[calendar_core::Event],
        current: MmStatus,
        now: DateTime<Utc>,
    ) -> Result<(SyncState, usize), super::commands::Failure> {
        let mm_user_id = user.mm_user_id();
        let settings = &user.settings.status;
        // The custom status is read only when the machine may touch it.
        let busy = status::busy_period(events, now).is_some();
        let custom = if busy || matches!(user.status, SyncState::Applied { .. }) {
            self.current_custom_status(mm_user_id).await?
        } else {
            None
        };
        let transition = status::step(
            settings,
            &user.status,
            current,
            custom.as_ref(),
            events,
            now,
        );
        let changes = self.apply_status_actions(user, &transition.actions).await?;
        if transition.state != user.status {
            self.save_status_state(mm_user_id, &transition.state)
                .await?;
        }
        let meeting_on = busy && settings.mode != SyncMode::Off;
        self.count_status_change(&user.status, &transition, current, meeting_on, None);
        Ok((transition.state, changes))
    }

    /// Ends the busy period status sync applied for a user it stops watching (they disconnected,
    /// or Microsoft ended their sign-in): the previous status comes back if ours still shows, as at
    /// the meeting's end. Without this, Mattermost would keep the Do Not Disturb we set (it has
    /// no end time) until the user noticed.
    pub(crate) async fn release_status(
        &self,
        mm_user_id: &str,
    ) -> Result<(), super::commands::Failure> {
        let Some(link) = self.store().account_link(mm_user_id).await? else {
            return Ok(());
        };
        let user = self.user_from_link(link).await?;
        if !matches!(user.status, SyncState::Applied { .. }) {
            return Ok(());
        }
        let statuses = self
            .status_client
            .statuses(&[mm_user_id.to_owned()])
            .await?;
        let Some(current) = statuses.first().and_then(|s| MmStatus::parse(&s.status)) else {
            return Ok(());
        };
        let custom = self.current_custom_status(mm_user_id).await?;
        // With sync off, the rules end an applied period (and only undo what still shows).
        let off = status::StatusSettings {
            mode: SyncMode::Off,
            ..user.settings.status
        };
        let transition = status::step(
            &off,
            &user.status,
            current,
            custom.as_ref(),
            &[],
            self.now(),
        );
        self.apply_status_actions(&user, &transition.actions)
            .await?;
        self.save_status_state(mm_user_id, &transition.state)
            .await?;
        self.count_status_change(&user.status, &transition, current, false, None);
        Ok(())
    }

    pub(crate) async fn current_custom_status(
        &self,
        mm_user_id: &str,
    ) -> Result<Option<CustomStatus>, mm_client::MmError> {
        Ok(self
            .status_client
            .custom_status(mm_user_id)
            .await?
            .map(|c| CustomStatus {
                emoji: c.emoji,
                text: c.text,
            }))
    }

    /// Carries out the state machine's actions in Mattermost; how many there were.
    pub(crate) async fn apply_status_actions(
        &self,
        user: &CalendarUser,
        actions: &[StatusAction],
    ) -> Result<usize, super::commands::Failure> {
        let mm_user_id = user.mm_user_id();
        let client = &self.status_client;
        for action in actions {
            match action {
                StatusAction::SetStatus(status) => {
                    client.set_status(mm_user_id, status.as_str(), None).await?;
                }
                StatusAction::SetCustomStatus { custom, expires } => {
                    client
                        .set_custom_status(
                            mm_user_id,
                            &mm_client::CustomStatus {
                                emoji: custom.emoji.clone(),
                                text: custom.text.clone(),
                                duration: Some("date_and_time".to_owned()),
                                expires_at: Some(*expires),
                            },
                        )
                        .await?;
                }
                StatusAction::RestoreCustomStatus(custom) => {
                    client
                        .set_custom_status(
                            mm_user_id,
                            &mm_client::CustomStatus {
                                emoji: custom.emoji.clone(),
                                text: custom.text.clone(),
                                duration: None,
                                expires_at: None,
                            },
                        )
                        .await?;
                }
                StatusAction::ClearCustomStatus => client.clear_custom_status(mm_user_id).await?,
                StatusAction::AskConfirm {
                    event_id,
                    subject,
                    until,
                } => {
                    let text =
                        render_prompt(subject, settings_busy(user), *until, user.tz_or_utc());
                    let buttons = [
                        Button::new(
                            "Yes, change my status",
                            ActionStyle::Primary,
                            CalendarAction::ConfirmStatus {
                                accept: true,
                                event_id: event_id.clone(),
                            },
                        ),
                        Button::new(
                            "No, leave it",
                            ActionStyle::Default,
                            CalendarAction::ConfirmStatus {
                                accept: false,
                                event_id: event_id.clone(),
                            },
                        ),
                    ];
                    let key = format!("status-prompt:{event_id}:{}", until.timestamp());
                    self.dm_once(DmKind::StatusQuestion, mm_user_id, &key, &text, &buttons)
                        .await?;
                }
            }
        }
        Ok(actions.len())
    }
}

fn settings_busy(user: &CalendarUser) -> status::BusyStatus {
    user.settings.status.busy_status
}

#[derive(Debug, Default)]
struct UserOutcome {
    reminders: usize,
    status_changes: usize,
    failed: bool,
}

#[cfg(test)]
mod tests {
    use calendar_core::status::{BusyStatus, StatusSettings, confirm, step};
    use calendar_core::{Event, EventTime};

    use super::*;

    fn settings(mode: SyncMode, busy_status: BusyStatus) -> StatusSettings {
        StatusSettings {
            mode,
            busy_status,
            custom_status: true,
        }
    }

    /// A meeting from `start` for an hour, and a time during it.
    fn meeting() -> (Vec<Event>, DateTime<Utc>) {
        let start = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let mut event = Event::new(
            "e1",
            "Plan",
            EventTime::timed(start, start + TimeDelta::hours(1)),
        );
        event.attendees = 2;
        (vec![event], start + TimeDelta::minutes(5))
    }

    /// The change a tick makes from `before` with the user showing `current`, at `now`.
    fn tick(
        settings: &StatusSettings,
        before: &SyncState,
        current: MmStatus,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> (Option<StatusChange>, SyncState) {
        let transition = step(settings, before, current, None, events, now);
        let meeting_on = status::busy_period(events, now).is_some();
        let change = status_change(before, &transition, current, meeting_on, None);
        (change, transition.state)
    }

    #[test]
    fn status_sync_outcomes_are_counted_once_each() {
        let (events, during) = meeting();
        let after = during + TimeDelta::hours(2);
        let auto = settings(SyncMode::Auto, BusyStatus::Dnd);

        // Set at the start, kept during the meeting, put back at the end.
        let (change, applied) = tick(&auto, &SyncState::Idle, MmStatus::Online, &events, during);
        assert_eq!(change, Some(StatusChange::SetDnd));
        let (change, _) = tick(&auto, &applied, MmStatus::Dnd, &events, during);
        assert_eq!(change, None);
        let (change, idle) = tick(&auto, &applied, MmStatus::Dnd, &events, after);
        assert_eq!(change, Some(StatusChange::Restored));
        assert_eq!(idle, SyncState::Idle);
        let (change, _) = tick(&auto, &idle, MmStatus::Online, &events, after);
        assert_eq!(change, None);

        // Changed by hand: left, during the meeting or found at its end.
        let (change, skipped) = tick(&auto, &applied, MmStatus::Online, &events, during);
        assert_eq!(change, Some(StatusChange::LeftChanged));
        let (change, _) = tick(&auto, &skipped, MmStatus::Online, &events, during);
        assert_eq!(change, None);
        let (change, _) = tick(&auto, &applied, MmStatus::Online, &events, after);
        assert_eq!(change, Some(StatusChange::LeftChanged));

        // Away as the busy status.
        let away = settings(SyncMode::Auto, BusyStatus::Away);
        let (change, _) = tick(&away, &SyncState::Idle, MmStatus::Online, &events, during);
        assert_eq!(change, Some(StatusChange::SetAway));

        // Already in Do Not Disturb, or offline: left alone.
        let (change, _) = tick(&auto, &SyncState::Idle, MmStatus::Dnd, &events, during);
        assert_eq!(change, Some(StatusChange::SkippedBusy));
        let (change, _) = tick(&auto, &SyncState::Idle, MmStatus::Offline, &events, during);
        assert_eq!(change, Some(StatusChange::SkippedOffline));
        let (change, _) = tick(&auto, &SyncState::Idle, MmStatus::Offline, &events, after);
        assert_eq!(change, None);
    }

    #[test]
    fn confirm_mode_questions_and_answers_are_counted() {
        let (events, during) = meeting();
        let ask = settings(SyncMode::Confirm, BusyStatus::Dnd);
        let (change, asked) = tick(&ask, &SyncState::Idle, MmStatus::Online, &events, during);
        assert_eq!(change, Some(StatusChange::Asked));
        let (change, _) = tick(&ask, &asked, MmStatus::Online, &events, during);
        assert_eq!(change, None, "still waiting: not asked again");

        let answer = |accepted: bool, current: MmStatus| {
            let transition = confirm(&asked, accepted, &ask, current, None, during);
            status_change(&asked, &transition, current, false, Some(accepted))
        };
        assert_eq!(answer(true, MmStatus::Online), Some(StatusChange::SetDnd));
        assert_eq!(
            answer(false, MmStatus::Online),
            Some(StatusChange::Declined)
        );
        assert_eq!(
            answer(true, MmStatus::Offline),
            Some(StatusChange::SkippedOffline)
        );
    }
}
