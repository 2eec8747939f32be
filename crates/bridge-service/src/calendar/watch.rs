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
    self, CustomStatus, MmStatus, StatusAction, SyncMode, SyncState, render_prompt,
};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt as _;
use mm_client::ActionStyle;

use super::buttons::{Button, CalendarAction};
use super::commands::WINDOW;
use super::messages::Sent;
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

impl CalendarApp {
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
                match self.dm_once(mm_user_id, &key, &text, &[]).await {
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
                    self.dm_once(mm_user_id, &key, &text, &buttons).await?;
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
