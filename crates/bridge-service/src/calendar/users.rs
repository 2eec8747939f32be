//! Per-user calendar state in the store: settings, time zone, status-sync state, the cached
//! coming events, and the schedules derived from them. Values are JSON in `user_preferences`
//! under `calendar.*` names; a value that cannot be read is logged and replaced by its default,
//! so one bad row never stops a user's jobs.

use calendar_core::status::SyncState;
use calendar_core::summary::next_summary_at;
use calendar_core::{Event, UserSettings};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use store::{AccountLink, StoreError};

use super::{CalendarApp, JOB_SUMMARY, JOB_WATCH};

const SETTINGS: &str = "calendar.settings";
/// The IANA name of the mailbox's time zone.
const TIME_ZONE: &str = "calendar.time_zone";
/// When the time zone was last read from the mailbox settings.
const TIME_ZONE_CHECKED: &str = "calendar.time_zone_checked_at";
const LAST_SUMMARY: &str = "calendar.summary_last_sent";
const STATUS_STATE: &str = "calendar.status_state";
const UPCOMING: &str = "calendar.upcoming";
/// When the last change notification for the user's calendar came (RFC 3339): events read
/// before then are out of date, even if the read ended (and was stored) after it.
const CHANGED_AT: &str = "calendar.changed_at";
/// The failed reads of the user's events in a row, and when to try again ([`ReadBackoff`]).
const READ_BACKOFF: &str = "calendar.read_backoff";
/// A summary too long for one post, as split when its first post went out ([`PendingSummary`]):
/// a retry sends the rest of that split, not a new one that a change could shift.
const PENDING_SUMMARY: &str = "calendar.summary_pending";

/// The posts of one day's summary, kept until all of them went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingSummary {
    pub(crate) date: NaiveDate,
    pub(crate) parts: Vec<String>,
}

/// A user's coming events, as last read from Graph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Upcoming {
    pub(crate) fetched_at: DateTime<Utc>,
    /// The window read: `[from, to)`.
    pub(crate) from: DateTime<Utc>,
    pub(crate) to: DateTime<Utc>,
    pub(crate) events: Vec<Event>,
}

/// Reads of a user's events that failed in a row: the next is not tried before `retry_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReadBackoff {
    pub(crate) failures: u32,
    pub(crate) retry_at: DateTime<Utc>,
}

/// Everything the jobs need about one user.
#[derive(Debug, Clone)]
pub(crate) struct CalendarUser {
    pub(crate) link: AccountLink,
    pub(crate) settings: UserSettings,
    /// `None` until the mailbox settings were read.
    pub(crate) tz: Option<Tz>,
    pub(crate) tz_checked_at: Option<DateTime<Utc>>,
    pub(crate) last_summary: Option<NaiveDate>,
    pub(crate) status: SyncState,
    pub(crate) upcoming: Option<Upcoming>,
    /// When the last change notification came (see [`CalendarApp::calendar_changed`]).
    pub(crate) changed_at: Option<DateTime<Utc>>,
    /// Set while reads of the user's events are failing.
    pub(crate) read_backoff: Option<ReadBackoff>,
}

impl CalendarUser {
    pub(crate) fn mm_user_id(&self) -> &str {
        &self.link.mm_user_id
    }

    /// The Microsoft user id (Graph's `/users/{id}`).
    pub(crate) fn microsoft_id(&self) -> &str {
        &self.link.teams_user_id
    }

    /// The time zone, UTC until the mailbox settings are known.
    pub(crate) fn tz_or_utc(&self) -> Tz {
        self.tz.unwrap_or(Tz::UTC)
    }
}

fn parse_or_default<T: for<'de> Deserialize<'de> + Default>(
    mm_user_id: &str,
    name: &str,
    value: Option<&String>,
) -> T {
    match value {
        None => T::default(),
        Some(text) => serde_json::from_str(text).unwrap_or_else(|err| {
            tracing::warn!(mm_user_id, name, error = %err, "a stored calendar value is unreadable; using the default");
            T::default()
        }),
    }
}

impl CalendarApp {
    /// The user's state, if they are connected.
    pub(crate) async fn calendar_user(
        &self,
        mm_user_id: &str,
    ) -> Result<Option<CalendarUser>, StoreError> {
        let Some(link) = self.store().account_link(mm_user_id).await? else {
            return Ok(None);
        };
        if !link.is_connected() {
            return Ok(None);
        }
        self.user_from_link(link).await.map(Some)
    }

    /// The stored state of the user of `link`, connected or not.
    pub(crate) async fn user_from_link(
        &self,
        link: AccountLink,
    ) -> Result<CalendarUser, StoreError> {
        let prefs = self.store().preferences(&link.mm_user_id).await?;
        let tz = prefs
            .get(TIME_ZONE)
            .and_then(|name| calendar_core::tz::resolve_time_zone(name));
        let tz_checked_at = prefs
            .get(TIME_ZONE_CHECKED)
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc));
        let last_summary = prefs
            .get(LAST_SUMMARY)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let upcoming = prefs
            .get(UPCOMING)
            .and_then(|text| serde_json::from_str::<Upcoming>(text).ok());
        let changed_at = prefs
            .get(CHANGED_AT)
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc));
        let read_backoff = prefs
            .get(READ_BACKOFF)
            .and_then(|text| serde_json::from_str::<ReadBackoff>(text).ok());
        let id = link.mm_user_id.as_str();
        Ok(CalendarUser {
            settings: parse_or_default(id, SETTINGS, prefs.get(SETTINGS)),
            status: parse_or_default(id, STATUS_STATE, prefs.get(STATUS_STATE)),
            link,
            tz,
            tz_checked_at,
            last_summary,
            upcoming,
            changed_at,
            read_backoff,
        })
    }

    /// The settings of a user (connected or not; defaults when never set).
    pub(crate) async fn user_settings(&self, mm_user_id: &str) -> Result<UserSettings, StoreError> {
        let value = self.store().preference(mm_user_id, SETTINGS).await?;
        Ok(parse_or_default(mm_user_id, SETTINGS, value.as_ref()))
    }

    /// Saves settings and re-derives the user's schedules from them.
    pub(crate) async fn save_settings(
        &self,
        mm_user_id: &str,
        settings: &UserSettings,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(settings).unwrap_or_default();
        self.store()
            .set_preference(mm_user_id, SETTINGS, &json, self.now())
            .await?;
        if let Some(user) = self.calendar_user(mm_user_id).await? {
            self.reschedule(&user).await?;
        }
        Ok(())
    }

    /// Records the mailbox's time zone (an IANA name) and re-derives the schedules.
    pub(crate) async fn save_time_zone(&self, mm_user_id: &str, tz: Tz) -> Result<(), StoreError> {
        let now = self.now();
        self.store()
            .set_preference(mm_user_id, TIME_ZONE, tz.name(), now)
            .await?;
        self.store()
            .set_preference(mm_user_id, TIME_ZONE_CHECKED, &now.to_rfc3339(), now)
            .await?;
        if let Some(user) = self.calendar_user(mm_user_id).await? {
            self.reschedule(&user).await?;
        }
        Ok(())
    }

    /// The next summary (from the settings, the time zone and the last one sent) and a watch
    /// check now.
    pub(crate) async fn reschedule(&self, user: &CalendarUser) -> Result<(), StoreError> {
        let now = self.now();
        let next = user
            .tz
            .and_then(|tz| next_summary_at(&user.settings.summary, tz, now, user.last_summary));
        self.store()
            .set_schedule(user.mm_user_id(), JOB_SUMMARY, next, now)
            .await?;
        self.store()
            .set_schedule(user.mm_user_id(), JOB_WATCH, Some(now), now)
            .await
    }

    pub(crate) async fn save_last_summary(
        &self,
        mm_user_id: &str,
        date: NaiveDate,
    ) -> Result<(), StoreError> {
        self.store()
            .set_preference(
                mm_user_id,
                LAST_SUMMARY,
                &date.format("%Y-%m-%d").to_string(),
                self.now(),
            )
            .await
    }

    pub(crate) async fn save_status_state(
        &self,
        mm_user_id: &str,
        state: &SyncState,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(state).unwrap_or_default();
        self.store()
            .set_preference(mm_user_id, STATUS_STATE, &json, self.now())
            .await
    }

    pub(crate) async fn save_upcoming(
        &self,
        mm_user_id: &str,
        upcoming: &Upcoming,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(upcoming).unwrap_or_default();
        self.store()
            .set_preference(mm_user_id, UPCOMING, &json, self.now())
            .await
    }

    /// A read of the user's events failed (again): the next waits until `backoff.retry_at`.
    pub(crate) async fn save_read_backoff(
        &self,
        mm_user_id: &str,
        backoff: &ReadBackoff,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(backoff).unwrap_or_default();
        self.store()
            .set_preference(mm_user_id, READ_BACKOFF, &json, self.now())
            .await
    }

    /// A read of the user's events worked after failing.
    pub(crate) async fn clear_read_backoff(&self, mm_user_id: &str) -> Result<(), StoreError> {
        self.store()
            .delete_preference(mm_user_id, READ_BACKOFF)
            .await
            .map(|_| ())
    }

    /// Something changed in the user's calendar: the cached events are dropped and the watch
    /// job looks at the user at once (re-reading them). The time of the change is kept too: a
    /// read that was under way when it came (it started before) may store events without the
    /// change after this, and the watch job reads again over it (`watch::stale`).
    pub(crate) async fn calendar_changed(&self, mm_user_id: &str) -> Result<(), StoreError> {
        let now = self.now();
        self.store()
            .set_preference(mm_user_id, CHANGED_AT, &now.to_rfc3339(), now)
            .await?;
        self.store().delete_preference(mm_user_id, UPCOMING).await?;
        self.store()
            .set_schedule(mm_user_id, JOB_WATCH, Some(now), now)
            .await
    }

    /// A user disconnected: their schedules and cached events go (settings are kept for a
    /// reconnect).
    /// The split of `date`'s summary kept from an earlier try, if any.
    pub(crate) async fn pending_summary(
        &self,
        mm_user_id: &str,
        date: NaiveDate,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let Some(json) = self.store().preference(mm_user_id, PENDING_SUMMARY).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_str::<PendingSummary>(&json)
            .ok()
            .filter(|pending| pending.date == date)
            .map(|pending| pending.parts))
    }

    /// Keeps the split of a summary until every part went out (`None`: it did).
    pub(crate) async fn keep_pending_summary(
        &self,
        mm_user_id: &str,
        pending: Option<&PendingSummary>,
    ) -> Result<(), StoreError> {
        match pending {
            Some(pending) => {
                let json = serde_json::to_string(pending).unwrap_or_default();
                self.store()
                    .set_preference(mm_user_id, PENDING_SUMMARY, &json, self.now())
                    .await
            }
            None => self
                .store()
                .delete_preference(mm_user_id, PENDING_SUMMARY)
                .await
                .map(|_| ()),
        }
    }

    pub(crate) async fn forget_user(&self, mm_user_id: &str) -> Result<(), StoreError> {
        // In a meeting, what status sync set is put back now: nobody would at the meeting's end.
        if let Err(err) = self.release_status(mm_user_id).await {
            tracing::warn!(mm_user_id, error = %err, "could not put back the status of a user who disconnected during a meeting");
        }
        self.store().delete_schedules(mm_user_id).await?;
        self.store().delete_preference(mm_user_id, UPCOMING).await?;
        self.store()
            .delete_preference(mm_user_id, CHANGED_AT)
            .await?;
        self.store()
            .delete_preference(mm_user_id, READ_BACKOFF)
            .await?;
        self.store()
            .delete_preference(mm_user_id, PENDING_SUMMARY)
            .await?;
        self.store()
            .delete_preference(mm_user_id, STATUS_STATE)
            .await
            .map(|_| ())
    }
}
