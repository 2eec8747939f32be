//! The watch job: reminders (C5) and status sync (C3). Each user's coming events (a day and a
//! half, plus the later events whose reminder falls in that time: Outlook's reminders go up to two
//! weeks ahead) are cached in the store and re-read in `$batch`es of 20 users when a change
//! notification arrives, when the cache gets older than `calendar.reconcile_interval`, or when its
//! window runs out. A user's `watch` schedule is due at the next thing that matters for them (a
//! reminder, a meeting starting or ending, the next re-read), so each tick touches only the users
//! due, and most ticks read nothing from Graph at all. A read that fails is tried again after a
//! growing pause ([`read_backoff`]); meanwhile the cache goes on being used up to its window's end.

use std::collections::HashMap;
use std::sync::Arc;

use calendar_core::reminders::{
    LONGEST_REMINDER, due_reminders, reminder_at, reminder_key, render_reminder,
};
use calendar_core::status::{
    self, CustomStatus, MmStatus, Presence, StatusAction, SyncMode, SyncState, Transition,
    render_prompt,
};
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use futures_util::StreamExt as _;
use mm_client::ActionStyle;

use super::buttons::{Button, CalendarAction};
use super::commands::WINDOW;
use super::messages::Sent;
use super::metrics::{DmKind, StatusChange};
use super::users::{CalendarUser, ReadBackoff, Upcoming};
use super::{CalendarApp, JOB_WATCH};

/// Users claimed per round.
const ROUND: u32 = 200;
/// How far back a reminder still goes out (the event must not have started): covers a restart.
const REMINDER_LOOKBACK: TimeDelta = TimeDelta::minutes(15);
/// How far back the cached window starts (a meeting that began before the read still counts).
const LOOK_BEHIND: TimeDelta = TimeDelta::hours(1);
/// The window is read again when less than this is left of it.
const WINDOW_MARGIN: TimeDelta = TimeDelta::hours(12);
/// The pause after a first failed read of a user's events; it doubles with each failure in a
/// row, up to [`MAX_READ_BACKOFF`].
const MIN_READ_BACKOFF: TimeDelta = TimeDelta::minutes(1);
const MAX_READ_BACKOFF: TimeDelta = TimeDelta::minutes(15);

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

/// When the cached events are due to be read again: after `reconcile`, when the window runs
/// low, or at once when a change notification came after the read started (the read may have
/// missed the change, and stored its events after the notification dropped the cache).
fn reread_at(
    upcoming: &Upcoming,
    changed_at: Option<DateTime<Utc>>,
    reconcile: TimeDelta,
) -> DateTime<Utc> {
    if changed_at.is_some_and(|changed| upcoming.fetched_at <= changed) {
        return upcoming.fetched_at;
    }
    (upcoming.fetched_at + reconcile).min(upcoming.to - WINDOW_MARGIN)
}

/// Whether the user's events are read in this round: the cache is missing or due for a re-read
/// ([`reread_at`]), and no failed read asks to wait.
fn needs_read(user: &CalendarUser, now: DateTime<Utc>, reconcile: TimeDelta) -> bool {
    if user.read_backoff.is_some_and(|b| now < b.retry_at) {
        return false;
    }
    match &user.upcoming {
        None => true,
        Some(u) => reread_at(u, user.changed_at, reconcile) <= now,
    }
}

/// The pause before reading again after `failures` failed reads in a row: a minute, doubling,
/// at most [`MAX_READ_BACKOFF`].
fn read_backoff(failures: u32) -> TimeDelta {
    let doublings = failures.saturating_sub(1).min(10);
    (MIN_READ_BACKOFF * (1 << doublings)).min(MAX_READ_BACKOFF)
}

/// The cache of a read at `now` of the events overlapping `[from, read_to)`: those overlapping
/// the window `[from, to)`, and the later ones whose reminder falls before `to` (a reminder up to
/// [`LONGEST_REMINDER`] ahead falls due while its event is cached, without keeping two weeks of
/// events).
fn cache_of(
    events: Vec<calendar_core::Event>,
    tz: Tz,
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Upcoming {
    let events = events
        .into_iter()
        .filter(|e| e.start_in(tz) < to || reminder_at(e, tz).is_some_and(|at| at < to))
        .collect();
    Upcoming {
        fetched_at: now,
        from,
        to,
        events,
    }
}

/// The cached events, when they can still be acted on: not past the end of their window (after
/// failed reads, a cache past it knows nothing of what is on now).
fn usable(upcoming: Option<&Upcoming>, now: DateTime<Utc>) -> Option<&Upcoming> {
    upcoming.filter(|u| now < u.to)
}

/// When the user next needs looking at: the next reminder, meeting start or end, the end of a
/// hands-off or asked period, or `reread` (the next read of their events).
pub(crate) fn next_wake(
    user: &CalendarUser,
    upcoming: &Upcoming,
    state: &SyncState,
    now: DateTime<Utc>,
    reread: DateTime<Utc>,
) -> DateTime<Utc> {
    let tz = user.tz_or_utc();
    let mut next = reread;
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
        // Re-read the events of those whose cache is stale, twenty users a request. The read
        // goes as far beyond the window as the longest reminder (`cache_of` keeps what matters).
        let reconcile = self.timing.reconcile;
        let stale_users: Vec<usize> = (0..users.len())
            .filter(|&i| needs_read(&users[i], now, reconcile))
            .collect();
        let (from, to) = (now - LOOK_BEHIND, now + WINDOW);
        for chunk in stale_users.chunks(20) {
            let windows: Vec<_> = chunk
                .iter()
                .map(|&i| (&users[i], from, to + LONGEST_REMINDER))
                .collect();
            let results = self.read_events_batch(&windows).await;
            for (&i, result) in chunk.iter().zip(results) {
                let user = &mut users[i];
                match result {
                    Ok(events) => {
                        let upcoming = cache_of(events, user.tz_or_utc(), now, from, to);
                        self.save_upcoming(user.mm_user_id(), &upcoming).await?;
                        user.upcoming = Some(upcoming);
                        if user.read_backoff.take().is_some() {
                            self.clear_read_backoff(user.mm_user_id()).await?;
                        }
                        report.read += 1;
                    }
                    Err(err) => {
                        let failures = user.read_backoff.map_or(0, |b| b.failures) + 1;
                        let backoff = ReadBackoff {
                            failures,
                            retry_at: now + read_backoff(failures),
                        };
                        tracing::warn!(mm_user_id = user.mm_user_id(), error = %err, failures, retry_at = %backoff.retry_at, "could not read a calendar; trying again later");
                        self.save_read_backoff(user.mm_user_id(), &backoff).await?;
                        user.read_backoff = Some(backoff);
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
        let statuses: HashMap<String, Presence> = if status_ids.is_empty() {
            HashMap::new()
        } else {
            match self.status_client.statuses(&status_ids).await {
                Ok(list) => list
                    .into_iter()
                    .filter_map(|s| {
                        let status = MmStatus::parse(&s.status)?;
                        Some((
                            s.user_id,
                            Presence {
                                status,
                                manual: s.manual,
                            },
                        ))
                    })
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
        current: Option<Presence>,
        holder: &str,
    ) -> Result<UserOutcome, store::StoreError> {
        let mm_user_id = user.mm_user_id();
        let now = self.now();
        let mut outcome = UserOutcome::default();
        // A read waiting after failures: the next try, when it is later than the usual re-read.
        let retry_read = user.read_backoff.map(|b| b.retry_at).filter(|at| *at > now);
        let Some(upcoming) = usable(user.upcoming.as_ref(), now) else {
            // Nothing known of now: the read failed. A period we applied that has ended by what
            // was last known is ended all the same; the rest waits for the next read.
            outcome.failed = true;
            if let (Some(current), SyncState::Applied { until, .. }) = (current, &user.status)
                && *until <= now
                && let Err(err) = self.sync_status(user, &[], current, now).await
            {
                tracing::warn!(mm_user_id, error = %err, "could not put back a status after a meeting");
            }
            let retry = retry_read.unwrap_or(now + MIN_READ_BACKOFF);
            self.store()
                .release_schedule(mm_user_id, JOB_WATCH, holder, retry)
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
        let reread = retry_read
            .unwrap_or_else(|| reread_at(upcoming, user.changed_at, self.timing.reconcile));
        let mut next = next_wake(user, upcoming, &state, now, reread);
        if retry_soon {
            next = next.min(now + TimeDelta::minutes(1));
        }
        outcome.failed = retry_soon;
        let finished = self
            .store()
            .finish_schedule(mm_user_id, JOB_WATCH, holder, Some(next), now)
            .await?;
        if !finished && self.calendar_user(mm_user_id).await?.is_none() {
            // Disconnected while this round ran: the disconnect could not see a status this
            // round had just set, so it is put back here.
            if let Err(err) = self.release_status(mm_user_id).await {
                tracing::warn!(mm_user_id, error = %err, "could not put back the status of a user who disconnected during a status change");
            }
        }
        Ok(outcome)
    }

    /// One step of the status-sync state machine for a user, its actions applied and the new
    /// state stored: the new state and how many changes were made.
    async fn sync_status(
        &self,
        user: &CalendarUser,
        events: &[calendar_core::Event],
        current: Presence,
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
        // The state is stored once the status is changed: only a failure to change the status
        // itself stops here (custom status failures are logged and passed over), so the status
        // we set is always known and put back later.
        let changes = self.apply_status_actions(user, &transition.actions).await?;
        if transition.state != user.status {
            self.save_status_state(mm_user_id, &transition.state)
                .await?;
        }
        let meeting_on = busy && settings.mode != SyncMode::Off;
        self.count_status_change(&user.status, &transition, current.status, meeting_on, None);
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
        let Some(current) = statuses.first().and_then(|s| {
            Some(Presence {
                status: MmStatus::parse(&s.status)?,
                manual: s.manual,
            })
        }) else {
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
        self.count_status_change(&user.status, &transition, current.status, false, None);
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

    /// Carries out the state machine's actions in Mattermost; how many there were. A status or a
    /// question that cannot be sent is an error (nothing changed: the caller keeps the state and
    /// tries again). A custom status that cannot be set, put back or cleared (custom statuses
    /// turned off on the server, say) is logged and passed over: the status change it goes
    /// with has been made, and its state must be stored, or the status would never be put back.
    pub(crate) async fn apply_status_actions(
        &self,
        user: &CalendarUser,
        actions: &[StatusAction],
    ) -> Result<usize, super::commands::Failure> {
        let mm_user_id = user.mm_user_id();
        let client = &self.status_client;
        for action in actions {
            let custom = match action {
                StatusAction::SetStatus(status) => {
                    client.set_status(mm_user_id, status.as_str(), None).await?;
                    continue;
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
                        .await
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
                        .await
                }
                StatusAction::ClearCustomStatus => client.clear_custom_status(mm_user_id).await,
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
                    continue;
                }
            };
            if let Err(err) = custom {
                tracing::warn!(mm_user_id, error = %err, "could not change a custom status for a meeting; the status itself is handled");
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

    fn user(upcoming: Option<Upcoming>) -> CalendarUser {
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        CalendarUser {
            link: store::AccountLink {
                mm_user_id: "u1".into(),
                teams_user_id: "m1".into(),
                teams_login: "u1@contoso.com".into(),
                token: None,
                token_expires_at: None,
                connected_at: at,
                disconnected_at: None,
            },
            settings: calendar_core::UserSettings::default(),
            tz: Some(Tz::UTC),
            tz_checked_at: Some(at),
            last_summary: None,
            status: SyncState::Idle,
            upcoming,
            changed_at: None,
            read_backoff: None,
        }
    }

    fn read_at(at: DateTime<Utc>, events: Vec<Event>) -> Upcoming {
        cache_of(events, Tz::UTC, at, at - LOOK_BEHIND, at + WINDOW)
    }

    #[test]
    fn a_read_under_way_when_the_calendar_changed_is_read_again() {
        let reconcile = TimeDelta::minutes(30);
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        // A round starts reading at t0; a change notification comes at t0 + 2 s (and drops the
        // cache); the round then stores what it read, stamped t0.
        let mut u = user(Some(read_at(t0, Vec::new())));
        u.changed_at = Some(t0 + TimeDelta::seconds(2));
        let next_round = t0 + TimeDelta::seconds(3);
        assert!(needs_read(&u, next_round, reconcile), "read again at once");
        let upcoming = u.upcoming.as_ref().expect("cache");
        let reread = reread_at(upcoming, u.changed_at, reconcile);
        assert!(next_wake(&u, upcoming, &SyncState::Idle, t0, reread) <= next_round);
        // A read that started after the change is good for the reconcile interval.
        u.upcoming = Some(read_at(t0 + TimeDelta::seconds(3), Vec::new()));
        assert!(!needs_read(&u, t0 + TimeDelta::minutes(29), reconcile));
        assert!(needs_read(&u, t0 + TimeDelta::minutes(31), reconcile));
        // No change known: as before.
        u.changed_at = None;
        assert!(!needs_read(&u, t0 + TimeDelta::minutes(29), reconcile));
    }

    #[test]
    fn failed_reads_back_off_and_an_outdated_cache_is_not_acted_on() {
        let minutes = |n| TimeDelta::minutes(n);
        let pauses: Vec<_> = (1..=7).map(read_backoff).collect();
        assert_eq!(
            pauses,
            [
                minutes(1),
                minutes(2),
                minutes(4),
                minutes(8),
                minutes(15),
                minutes(15),
                minutes(15)
            ]
        );
        assert_eq!(read_backoff(u32::MAX), minutes(15));
        let reconcile = minutes(30);
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        // A stale cache whose re-read failed: not read again before the pause is over, and the
        // user's next wake is then, not the next tick.
        let mut u = user(Some(read_at(t0, Vec::new())));
        let now = t0 + minutes(40);
        assert!(needs_read(&u, now, reconcile));
        u.read_backoff = Some(ReadBackoff {
            failures: 3,
            retry_at: now + read_backoff(3),
        });
        assert!(!needs_read(&u, now + minutes(1), reconcile));
        assert!(needs_read(&u, now + minutes(4), reconcile));
        let upcoming = u.upcoming.as_ref().expect("cache");
        assert_eq!(
            next_wake(&u, upcoming, &SyncState::Idle, now, now + minutes(4)),
            now + minutes(4)
        );
        // With no cache either, reads wait.
        u.upcoming = None;
        assert!(!needs_read(&u, now + minutes(1), reconcile));
        // A cache is used up to the end of its window, not after.
        let cache = read_at(t0, Vec::new());
        assert!(usable(Some(&cache), t0 + TimeDelta::hours(35)).is_some());
        assert!(usable(Some(&cache), t0 + WINDOW).is_none());
        assert!(usable(None, t0).is_none());
    }

    #[test]
    fn reminders_days_ahead_are_cached_in_time() {
        use calendar_core::ReminderSetting;
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let event = |id: &str, starts_in: TimeDelta, minutes: Option<u32>| {
            let start = now + starts_in;
            let mut e = Event::new(id, id, EventTime::timed(start, start + TimeDelta::hours(1)));
            e.reminder = minutes.map_or(ReminderSetting::Unset, ReminderSetting::Minutes);
            e
        };
        let read = vec![
            event("soon", TimeDelta::hours(2), None),
            // Two days ahead with a two-day reminder: due in an hour.
            event(
                "two-days",
                TimeDelta::days(2) + TimeDelta::hours(1),
                Some(2880),
            ),
            // Its reminder is past the window: read again before it falls due.
            event("next-week", TimeDelta::days(7), Some(2880)),
            event("later", TimeDelta::days(5), None),
            // Outlook's longest, two weeks.
            event(
                "fortnight",
                TimeDelta::weeks(2) + TimeDelta::hours(3),
                Some(20160),
            ),
        ];
        let cache = read_at(now, read);
        let ids: Vec<&str> = cache.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["soon", "two-days", "fortnight"]);
        let mut u = user(Some(cache.clone()));
        u.settings.reminders = true;
        // The job wakes for it.
        let reread = reread_at(&cache, None, TimeDelta::hours(2));
        let wake = next_wake(&u, &cache, &SyncState::Idle, now, reread);
        assert_eq!(wake, now + TimeDelta::hours(1));
        let due_at = now + TimeDelta::hours(1);
        let due = due_reminders(&cache.events, Tz::UTC, due_at, REMINDER_LOOKBACK);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id, "two-days");
        assert!(render_reminder(due[0], Tz::UTC, due_at).starts_with("Starting in 2 days: "));
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
