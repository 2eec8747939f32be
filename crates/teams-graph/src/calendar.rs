//! Microsoft 365 calendars: a user's events over a window (`calendarView`), many users' windows
//! in JSON batches of 20, one event by id, answers to invitations, the mailbox's time zone, and
//! event change subscriptions with their notifications.
//!
//! Every event is read with `Prefer: outlook.timezone="UTC"`, so timed events come back in UTC
//! and convert to instants here; all-day events float (the same dates in every zone) and keep
//! their dates. The models are forgiving, as in [`crate::ChatMessage`]: Graph omits properties
//! that a `$select` leaves out, and sends `null` for unset ones.
//!
//! A client with a delegated token reads the signed-in user's calendar (`user: None`, `/me`);
//! one with an application token (`Calendars.Read`, `MailboxSettings.Read`) reads anyone's
//! (`user: Some(id)`, `/users/{id}`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use graph_rs_sdk::http::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use crate::de::{lenient_time, null_as_default, null_as_empty, percent_decode, unquote};
use crate::graph::{GraphClient, GraphError, error_of};
use crate::notifications::ChangeNotification;
use crate::subscriptions::{NewSubscription, graph_time};

/// Most requests Graph takes in one JSON batch (`POST /$batch`); it answers 400 above.
pub const MAX_BATCH_REQUESTS: usize = 20;

/// Events asked for per `calendarView` page (`$top`).
pub const CALENDAR_PAGE_SIZE: u16 = 100;

/// Longest lifetime Graph grants a subscription to Outlook events (without resource data), in
/// minutes: just under three days.
pub const MAX_EVENT_SUBSCRIPTION_MINUTES: i64 = 4230;

/// The event properties read (`$select`): what the agenda, reminders and status sync need, and
/// no body (which can be large).
const EVENT_FIELDS: &[&str] = &[
    "id",
    "subject",
    "start",
    "end",
    "isAllDay",
    "isCancelled",
    "showAs",
    "responseStatus",
    "isOrganizer",
    "organizer",
    "attendees",
    "location",
    "onlineMeeting",
    "onlineMeetingUrl",
    "webLink",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "type",
    "seriesMasterId",
    "lastModifiedDateTime",
    "iCalUId",
];

/// Asks Graph for event times in UTC.
const PREFER_UTC: &str = "outlook.timezone=\"UTC\"";

/// Retries of a throttled or failed page or batch item, after which its error is returned.
const MAX_RETRIES: u32 = 4;

/// The longest wait before a retry, whatever `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// Batch items whose waits end this close together go in one `$batch` (the earlier ones wait
/// for the later), rather than in one POST each.
const GROUPING_SLACK: Duration = Duration::from_secs(1);

fn prefer_utc() -> [(HeaderName, HeaderValue); 1] {
    [(
        HeaderName::from_static("prefer"),
        HeaderValue::from_static(PREFER_UTC),
    )]
}

/// Graph's `dateTimeTimeZone`: a wall-clock time without offset (`2026-11-23T09:00:00.0000000`)
/// and the zone it is in (a Windows or IANA name; `UTC` when asked for with the `Prefer`
/// header, as this module does), both as Graph wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub date_time: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub time_zone: String,
}

impl DateTimeTimeZone {
    /// The wall-clock time as written (an offset or `Z`, which Graph does not send, is ignored).
    pub fn local(&self) -> Option<NaiveDateTime> {
        let text = self.date_time.trim();
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.naive_local())
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok())
            .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").ok())
    }

    /// The date as written: what an all-day event's start and end mean.
    pub fn date(&self) -> Option<NaiveDate> {
        self.local().map(|t| t.date())
    }

    /// Whether the zone is UTC (`UTC`, `Etc/UTC`, `Coordinated Universal Time`, ...).
    pub fn is_utc(&self) -> bool {
        matches!(
            self.time_zone.trim().to_ascii_lowercase().as_str(),
            "utc"
                | "etc/utc"
                | "etc/uct"
                | "etc/zulu"
                | "etc/gmt"
                | "z"
                | "coordinated universal time"
                | "tzone://microsoft/utc"
        )
    }

    /// The instant, when it can be told without a zone database: the zone is UTC, or the text
    /// carries its own offset. `None` for other zones (read with `Prefer: outlook.timezone`,
    /// which this module always sends, Graph answers in UTC).
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        if let Ok(t) = DateTime::parse_from_rfc3339(self.date_time.trim()) {
            return Some(t.to_utc());
        }
        if self.is_utc() {
            self.local().map(|t| t.and_utc())
        } else {
            None
        }
    }
}

/// A name and an address (Graph's `emailAddress`); either may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct EmailAddress {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub address: String,
}

/// An attendee of an event, with their answer as the calendar's owner knows it (the organizer's
/// copy tracks every answer; an attendee's copy may not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub email: EmailAddress,
    /// `none`, `accepted`, `tentativelyAccepted`, `declined`, `notResponded`, ...
    pub response: String,
    /// `required`, `optional` or `resource`.
    pub attendee_type: String,
}

/// An event (or an occurrence of a series) in a user's calendar, from `calendarView` or
/// `/events/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawEvent")]
pub struct CalendarEvent {
    /// Specific to the mailbox (each attendee's copy has its own), and to the occurrence.
    pub id: String,
    /// `None` when Graph did not send it.
    pub subject: Option<String>,
    pub start: DateTimeTimeZone,
    pub end: DateTimeTimeZone,
    pub is_all_day: bool,
    pub is_cancelled: bool,
    /// `free`, `tentative`, `busy`, `oof`, `workingElsewhere` or `unknown`.
    pub show_as: Option<String>,
    /// The calendar owner's answer (`responseStatus.response`): `organizer`, `none`,
    /// `accepted`, `tentativelyAccepted`, `declined`, `notResponded`.
    pub response: Option<String>,
    pub is_organizer: bool,
    /// `organizer.emailAddress.name`.
    pub organizer_name: Option<String>,
    /// `organizer.emailAddress.address`.
    pub organizer_address: Option<String>,
    pub attendees: Vec<Attendee>,
    /// `location.displayName`, when not empty.
    pub location: Option<String>,
    /// `onlineMeeting.joinUrl`, else the legacy `onlineMeetingUrl`.
    pub join_url: Option<String>,
    /// Opens the event in Outlook on the web.
    pub web_link: Option<String>,
    /// `None` when Graph did not say.
    pub is_reminder_on: Option<bool>,
    pub reminder_minutes_before_start: Option<i64>,
    /// `singleInstance`, `occurrence`, `exception` or `seriesMaster`.
    pub event_type: String,
    /// The series an occurrence or exception belongs to.
    pub series_master_id: Option<String>,
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// The meeting's id across calendars (the same in the organizer's and attendees' copies).
    pub ical_uid: Option<String>,
}

impl CalendarEvent {
    /// When a timed event starts, as an instant; `None` for an all-day event (see
    /// [`all_day_dates`](Self::all_day_dates)) or a time not in UTC.
    pub fn start_utc(&self) -> Option<DateTime<Utc>> {
        (!self.is_all_day).then(|| self.start.to_utc()).flatten()
    }

    /// When a timed event ends, as an instant; `None` as for [`start_utc`](Self::start_utc).
    pub fn end_utc(&self) -> Option<DateTime<Utc>> {
        (!self.is_all_day).then(|| self.end.to_utc()).flatten()
    }

    /// An all-day event's first day and the day after its last (Graph's `end`), as written: the
    /// same dates in every zone. `None` for a timed event.
    pub fn all_day_dates(&self) -> Option<(NaiveDate, NaiveDate)> {
        if !self.is_all_day {
            return None;
        }
        let first = self.start.date()?;
        let end = self
            .end
            .date()
            .unwrap_or(first)
            .max(first.succ_opt().unwrap_or(first));
        Some((first, end))
    }

    /// How many attendees the event lists.
    pub fn attendee_count(&self) -> usize {
        self.attendees.len()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    id: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    start: DateTimeTimeZone,
    #[serde(default, deserialize_with = "null_as_default")]
    end: DateTimeTimeZone,
    #[serde(default, deserialize_with = "null_as_default")]
    is_all_day: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    is_cancelled: bool,
    #[serde(default)]
    show_as: Option<String>,
    #[serde(default)]
    response_status: Option<RawStatus>,
    #[serde(default, deserialize_with = "null_as_default")]
    is_organizer: bool,
    #[serde(default)]
    organizer: Option<RawRecipient>,
    #[serde(default, deserialize_with = "null_as_default")]
    attendees: Vec<RawAttendee>,
    #[serde(default)]
    location: Option<RawLocation>,
    #[serde(default)]
    online_meeting: Option<RawOnlineMeeting>,
    #[serde(default)]
    online_meeting_url: Option<String>,
    #[serde(default)]
    web_link: Option<String>,
    #[serde(default)]
    is_reminder_on: Option<bool>,
    #[serde(default)]
    reminder_minutes_before_start: Option<i64>,
    #[serde(default, rename = "type", deserialize_with = "null_as_empty")]
    event_type: String,
    #[serde(default)]
    series_master_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    last_modified_date_time: Option<DateTime<Utc>>,
    #[serde(default, rename = "iCalUId")]
    ical_uid: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    #[serde(default, deserialize_with = "null_as_empty")]
    response: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecipient {
    #[serde(default)]
    email_address: Option<EmailAddress>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAttendee {
    #[serde(default)]
    email_address: Option<EmailAddress>,
    #[serde(default)]
    status: Option<RawStatus>,
    #[serde(default, rename = "type", deserialize_with = "null_as_empty")]
    attendee_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLocation {
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOnlineMeeting {
    #[serde(default)]
    join_url: Option<String>,
}

/// `Some` text unless empty or blank.
fn filled(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

impl From<RawEvent> for CalendarEvent {
    fn from(raw: RawEvent) -> Self {
        let join_url = filled(raw.online_meeting.and_then(|m| m.join_url))
            .or_else(|| filled(raw.online_meeting_url));
        let organizer = raw.organizer.and_then(|o| o.email_address);
        Self {
            id: raw.id,
            subject: raw.subject,
            start: raw.start,
            end: raw.end,
            is_all_day: raw.is_all_day,
            is_cancelled: raw.is_cancelled,
            show_as: filled(raw.show_as),
            response: filled(raw.response_status.map(|s| s.response)),
            is_organizer: raw.is_organizer,
            organizer_name: filled(organizer.as_ref().map(|o| o.name.clone())),
            organizer_address: filled(organizer.map(|o| o.address)),
            attendees: raw
                .attendees
                .into_iter()
                .map(|a| Attendee {
                    email: a.email_address.unwrap_or_default(),
                    response: a.status.map(|s| s.response).unwrap_or_default(),
                    attendee_type: a.attendee_type,
                })
                .collect(),
            location: filled(raw.location.and_then(|l| l.display_name)),
            join_url,
            web_link: filled(raw.web_link),
            is_reminder_on: raw.is_reminder_on,
            reminder_minutes_before_start: raw.reminder_minutes_before_start,
            event_type: raw.event_type,
            series_master_id: filled(raw.series_master_id),
            last_modified_date_time: raw.last_modified_date_time,
            ical_uid: filled(raw.ical_uid),
        }
    }
}

/// One page of `calendarView`.
#[derive(Deserialize)]
struct EventPage {
    #[serde(default, deserialize_with = "null_as_default")]
    value: Vec<CalendarEvent>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailboxSettings {
    #[serde(default)]
    time_zone: Option<String>,
}

impl MailboxSettings {
    fn into_time_zone(self) -> Result<String, GraphError> {
        filled(self.time_zone)
            .ok_or_else(|| GraphError::Decode("mailboxSettings has no timeZone".into()))
    }
}

/// One user's window, for [`GraphClient::calendar_views_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarViewRequest {
    /// The user's object id (or UPN).
    pub user_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// An answer to an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventResponse {
    Accept,
    Tentative,
    Decline,
}

impl EventResponse {
    /// The Graph action: `accept`, `tentativelyAccept` or `decline`.
    pub fn action(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Tentative => "tentativelyAccept",
            Self::Decline => "decline",
        }
    }

    /// The `responseStatus.response` the event then has: `accepted`, `tentativelyAccepted` or
    /// `declined`.
    pub fn status(self) -> &'static str {
        match self {
            Self::Accept => "accepted",
            Self::Tentative => "tentativelyAccepted",
            Self::Decline => "declined",
        }
    }
}

/// The path of a mailbox's resource: `/me/...` or `/users/{id}/...`.
fn mailbox_path<'a>(user: Option<&'a str>, rest: &[&'a str]) -> Vec<&'a str> {
    let mut path = match user {
        None => vec!["me"],
        Some(user) => vec!["users", user],
    };
    path.extend_from_slice(rest);
    path
}

/// An instant as `calendarView` takes it: ISO 8601 in UTC.
fn query_time(t: DateTime<Utc>) -> String {
    graph_time(t)
}

/// Whether an error is worth asking again for: throttling, a moment's outage, no answer.
fn transient(err: &GraphError) -> bool {
    match err {
        GraphError::Throttled { .. } | GraphError::Transport(_) => true,
        GraphError::Api { status, .. } => *status >= 500 && *status != 501,
        _ => false,
    }
}

/// How long to wait before retry number `attempt` (from 1): what Graph asked, else a short
/// growing pause; at most [`MAX_WAIT`].
fn pause(err: &GraphError, attempt: u32) -> Duration {
    let backoff = Duration::from_millis(250 << attempt.saturating_sub(1).min(6));
    let wait = match err {
        GraphError::Throttled {
            retry_after: Some(wait),
        } => *wait,
        _ => backoff,
    };
    wait.min(MAX_WAIT)
}

/// A GET of a batch: where it stands.
struct Slot {
    /// The next URL to GET, relative to the version root; `None` once done.
    next: Option<String>,
    /// Retries used on the current URL.
    attempt: u32,
    not_before: tokio::time::Instant,
    /// The successful answers' bodies, page by page.
    bodies: Vec<Value>,
    error: Option<GraphError>,
}

impl Slot {
    fn finish(&mut self, error: GraphError) {
        self.next = None;
        self.error = Some(error);
    }

    /// Asks again later when the error is transient and retries remain; else finishes with it.
    fn retry_or_finish(&mut self, error: GraphError) {
        if transient(&error) && self.attempt < MAX_RETRIES {
            self.attempt += 1;
            self.not_before = tokio::time::Instant::now() + pause(&error, self.attempt);
        } else {
            self.finish(error);
        }
    }
}

/// A `$batch` answer.
#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    responses: Vec<BatchItem>,
}

#[derive(Deserialize)]
struct BatchItem {
    #[serde(default, deserialize_with = "null_as_empty")]
    id: String,
    #[serde(default)]
    status: u16,
    #[serde(default, deserialize_with = "null_as_default")]
    headers: Map<String, Value>,
    #[serde(default)]
    body: Value,
}

impl BatchItem {
    fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                map.insert(name, value);
            }
        }
        map
    }

    fn error(&self) -> GraphError {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        error_of(self.status, &self.header_map(), &body)
    }
}

impl GraphClient {
    /// The events and occurrences of a calendar overlapping `[start, end)`, by start time:
    /// `GET /me/calendarView` (`user: None`, delegated) or `/users/{id}/calendarView`, with the
    /// properties [`CalendarEvent`] reads, pages of [`CALENDAR_PAGE_SIZE`], times in UTC
    /// (`Prefer: outlook.timezone="UTC"`), every `@odata.nextLink` followed. A page that Graph
    /// throttles or fails for a moment is asked for again (after `Retry-After`, at most 10 s,
    /// four times at most).
    pub async fn calendar_view(
        &self,
        user: Option<&str>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<CalendarEvent>, GraphError> {
        let mut next = Some(self.calendar_view_url(user, start, end));
        let mut events = Vec::new();
        let mut seen = Vec::new();
        while let Some(url) = next.take() {
            let page: EventPage = self.page_with_retries("calendar_view", url.clone()).await?;
            events.extend(page.value);
            seen.push(url);
            if let Some(link) = page.next_link {
                let url = self.on_graph(&link)?;
                if seen.contains(&url) {
                    return Err(GraphError::Decode(
                        "calendarView's @odata.nextLink goes back to a page already read".into(),
                    ));
                }
                next = Some(url);
            }
        }
        Ok(events)
    }

    fn calendar_view_url(
        &self,
        user: Option<&str>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Url {
        let top = CALENDAR_PAGE_SIZE.to_string();
        self.url(
            &mailbox_path(user, &["calendarView"]),
            &[
                ("startDateTime", &query_time(start)),
                ("endDateTime", &query_time(end)),
                ("$select", &EVENT_FIELDS.join(",")),
                ("$top", &top),
                ("$orderby", "start/dateTime"),
            ],
        )
    }

    /// One page, asked again while throttled or failing for a moment.
    async fn page_with_retries(
        &self,
        label: &'static str,
        url: Url,
    ) -> Result<EventPage, GraphError> {
        let mut attempt = 0;
        loop {
            let result = match self
                .send(label, Method::GET, url.clone(), None, &prefer_utc())
                .await
            {
                Ok(answer) => answer.json(),
                Err(err) => Err(err),
            };
            match result {
                Err(err) if transient(&err) && attempt < MAX_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(pause(&err, attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Many users' windows with as few requests as Graph allows: `GET /users/{id}/calendarView`
    /// (as [`calendar_view`](Self::calendar_view) asks it) for each, in JSON batches of at most
    /// [`MAX_BATCH_REQUESTS`] (`POST /$batch`), so 20 users' days cost one request. The answers
    /// are in the order of `requests`, each on its own: one user's error (unknown user, no
    /// mailbox, denied) fails that user only. An item Graph throttles or fails for a moment
    /// (429, 5xx) is asked again after its own `Retry-After` (at most 10 s, four times at most);
    /// further pages (`@odata.nextLink`) are read in later batches, several users' together.
    /// Needs an application token (or the signed-in user's own id). The observer hears of each
    /// `$batch` POST once, as `calendar_views_batch`.
    pub async fn calendar_views_batch(
        &self,
        requests: &[CalendarViewRequest],
    ) -> Vec<Result<Vec<CalendarEvent>, GraphError>> {
        let urls = requests
            .iter()
            .map(|r| self.relative(&self.calendar_view_url(Some(&r.user_id), r.start, r.end)))
            .collect();
        self.batch_get("calendar_views_batch", urls, Some(PREFER_UTC), true)
            .await
            .into_iter()
            .map(|bodies| {
                let mut events = Vec::new();
                for body in bodies? {
                    let page: EventPage = serde_json::from_value(body)
                        .map_err(|e| GraphError::Decode(format!("calendarView page: {e}")))?;
                    events.extend(page.value);
                }
                Ok(events)
            })
            .collect()
    }

    /// The mailbox's time zone (`timeZone` of `GET /me/mailboxSettings` or
    /// `/users/{id}/mailboxSettings`): a Windows name (`Pacific Standard Time`) by default, or
    /// an IANA one when the admin chose so. `Decode` when the mailbox has none.
    pub async fn mailbox_time_zone(&self, user: Option<&str>) -> Result<String, GraphError> {
        let url = self.url(&mailbox_path(user, &["mailboxSettings"]), &[]);
        self.send("mailbox_time_zone", Method::GET, url, None, &[])
            .await?
            .json::<MailboxSettings>()?
            .into_time_zone()
    }

    /// Many mailboxes' time zones in JSON batches of at most [`MAX_BATCH_REQUESTS`], in the
    /// order of `user_ids`, each on its own (retried as in
    /// [`calendar_views_batch`](Self::calendar_views_batch)). The observer hears of each POST as
    /// `mailbox_time_zones_batch`.
    pub async fn mailbox_time_zones_batch(
        &self,
        user_ids: &[String],
    ) -> Vec<Result<String, GraphError>> {
        let urls = user_ids
            .iter()
            .map(|id| self.relative(&self.url(&["users", id, "mailboxSettings"], &[])))
            .collect();
        self.batch_get("mailbox_time_zones_batch", urls, None, false)
            .await
            .into_iter()
            .map(|bodies| {
                let body = bodies?.into_iter().next().unwrap_or_default();
                serde_json::from_value::<MailboxSettings>(body)
                    .map_err(|e| GraphError::Decode(format!("mailboxSettings: {e}")))?
                    .into_time_zone()
            })
            .collect()
    }

    /// One event by id (`GET /me/events/{id}` or `/users/{id}/events/{id}`), times in UTC;
    /// `None` when the calendar has no such event (deleted, or never there).
    pub async fn event(
        &self,
        user: Option<&str>,
        event_id: &str,
    ) -> Result<Option<CalendarEvent>, GraphError> {
        let url = self.url(
            &mailbox_path(user, &["events", event_id]),
            &[("$select", &EVENT_FIELDS.join(","))],
        );
        match self
            .send("event", Method::GET, url, None, &prefer_utc())
            .await?
            .json()
        {
            Ok(event) => Ok(Some(event)),
            Err(GraphError::NotFound) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Answers an invitation in the signed-in user's calendar (`POST /me/events/{id}/accept`,
    /// `tentativelyAccept` or `decline`; delegated token). With `send_response` the organizer
    /// is told (with `comment`); without, only the user's calendar changes.
    ///
    /// Errors to show the user: `NotFound` when the event is gone; `Api { status: 400, message,
    /// .. }` when Outlook refuses the answer (the user organizes the meeting, it was cancelled,
    /// ...), `message` saying why in Outlook's words.
    pub async fn respond_to_event(
        &self,
        event_id: &str,
        response: EventResponse,
        comment: Option<&str>,
        send_response: bool,
    ) -> Result<(), GraphError> {
        let url = self.url(&["me", "events", event_id, response.action()], &[]);
        let mut body = json!({ "sendResponse": send_response });
        if let Some(comment) = comment {
            body["comment"] = json!(comment);
        }
        self.send("respond_to_event", Method::POST, url, Some(&body), &[])
            .await?
            .success()
    }

    /// A URL given by Graph (a `nextLink`) to follow with our token: only on `graph_url`'s
    /// origin.
    fn on_graph(&self, link: &str) -> Result<Url, GraphError> {
        let base = self.url(&[], &[]);
        let url = base
            .join(link)
            .map_err(|e| GraphError::Decode(format!("@odata.nextLink is not a URL: {e}")))?;
        if url.origin() != base.origin() {
            return Err(GraphError::Decode(format!(
                "@odata.nextLink leaves graph_url's host ({})",
                url.host_str().unwrap_or("no host")
            )));
        }
        Ok(url)
    }

    /// A URL on `graph_url` as a batch item names it: relative to the version root
    /// (`/users/{id}/calendarView?…`).
    fn relative(&self, url: &Url) -> Result<String, GraphError> {
        let base = self.url(&[], &[]);
        let root = base.path().trim_end_matches('/');
        let path = url
            .path()
            .strip_prefix(root)
            .filter(|rest| rest.starts_with('/'))
            .ok_or_else(|| {
                GraphError::Decode(format!(
                    "@odata.nextLink is outside graph_url's path ({})",
                    url.path()
                ))
            })?;
        Ok(match url.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        })
    }

    /// GETs each URL (relative to the version root) through `$batch`, at most
    /// [`MAX_BATCH_REQUESTS`] a POST, each with the `Prefer` header if given; with
    /// `follow_next`, every `@odata.nextLink` too. Each URL gets the bodies of its pages, or its
    /// own error.
    async fn batch_get(
        &self,
        label: &'static str,
        urls: Vec<Result<String, GraphError>>,
        prefer: Option<&str>,
        follow_next: bool,
    ) -> Vec<Result<Vec<Value>, GraphError>> {
        let now = tokio::time::Instant::now();
        let mut slots: Vec<Slot> = urls
            .into_iter()
            .map(|url| {
                let (next, error) = match url {
                    Ok(url) => (Some(url), None),
                    Err(err) => (None, Some(err)),
                };
                Slot {
                    next,
                    attempt: 0,
                    not_before: now,
                    bodies: Vec::new(),
                    error,
                }
            })
            .collect();
        loop {
            let mut waiting: Vec<usize> = (0..slots.len())
                .filter(|&i| slots[i].next.is_some())
                .collect();
            let Some(earliest) = waiting.iter().map(|&i| slots[i].not_before).min() else {
                break;
            };
            // This round: what is due by the earliest wait's end, and what is due soon after.
            waiting.retain(|&i| slots[i].not_before <= earliest + GROUPING_SLACK);
            waiting.truncate(MAX_BATCH_REQUESTS);
            if let Some(latest) = waiting.iter().map(|&i| slots[i].not_before).max() {
                tokio::time::sleep_until(latest).await;
            }
            self.batch_round(label, &waiting, &mut slots, prefer, follow_next)
                .await;
        }
        slots
            .into_iter()
            .map(|slot| match slot.error {
                Some(err) => Err(err),
                None => Ok(slot.bodies),
            })
            .collect()
    }

    /// One `$batch` POST of the slots `which`, each slot then done, due again (retry) or on to
    /// its next page.
    async fn batch_round(
        &self,
        label: &'static str,
        which: &[usize],
        slots: &mut [Slot],
        prefer: Option<&str>,
        follow_next: bool,
    ) {
        let requests: Vec<Value> = which
            .iter()
            .map(|&i| {
                let mut request = json!({
                    "id": i.to_string(),
                    "method": "GET",
                    "url": slots[i].next.clone().unwrap_or_default(),
                });
                if let Some(prefer) = prefer {
                    request["headers"] = json!({ "Prefer": prefer });
                }
                request
            })
            .collect();
        let body = json!({ "requests": requests });
        let url = self.url(&["$batch"], &[]);
        let answer = match self.send(label, Method::POST, url, Some(&body), &[]).await {
            Ok(answer) => answer.json::<BatchAnswer>(),
            Err(err) => Err(err),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                // The whole POST failed: every item shares its fate.
                for &i in which {
                    slots[i].retry_or_finish(err.clone());
                }
                return;
            }
        };
        let mut items: HashMap<String, BatchItem> = answer
            .responses
            .into_iter()
            .map(|item| (item.id.clone(), item))
            .collect();
        for &i in which {
            let slot = &mut slots[i];
            let Some(item) = items.remove(&i.to_string()) else {
                slot.retry_or_finish(GraphError::Transport(format!(
                    "$batch answered without request {i}"
                )));
                continue;
            };
            if !(200..300).contains(&item.status) {
                slot.retry_or_finish(item.error());
                continue;
            }
            let next_link = item
                .body
                .get("@odata.nextLink")
                .and_then(Value::as_str)
                .map(str::to_owned);
            slot.bodies.push(item.body);
            slot.attempt = 0;
            slot.next = None;
            if let Some(link) = next_link.filter(|_| follow_next) {
                match self.on_graph(&link).and_then(|url| self.relative(&url)) {
                    Ok(next) => slot.next = Some(next),
                    Err(err) => slot.finish(err),
                }
            }
        }
    }
}

/// A subscription to changes (created, updated, deleted) in a user's calendar: resource
/// `/users/{id}/events` (application token, `Calendars.Read`) or `/me/events` (`user: None`,
/// delegated), basic notifications, expiring as late as Graph allows (see
/// [`event_subscription_expiration`]). Create it with [`GraphClient::create_subscription`];
/// renew it with [`GraphClient::renew_subscription`] and [`event_subscription_expiration`].
pub fn event_subscription(
    user: Option<&str>,
    notification_url: &str,
    lifecycle_notification_url: Option<&str>,
    client_state: &str,
    now: DateTime<Utc>,
) -> NewSubscription {
    NewSubscription {
        change_type: "created,updated,deleted".into(),
        notification_url: notification_url.to_owned(),
        lifecycle_notification_url: lifecycle_notification_url.map(str::to_owned),
        resource: match user {
            Some(user) => format!("/users/{user}/events"),
            None => "/me/events".into(),
        },
        expiration: event_subscription_expiration(now),
        client_state: client_state.to_owned(),
        include_resource_data: false,
        model: None,
    }
}

/// The latest expiry Graph accepts for an event subscription created or renewed at `now`:
/// [`MAX_EVENT_SUBSCRIPTION_MINUTES`] ahead, less a minute for the clocks to differ.
pub fn event_subscription_expiration(now: DateTime<Utc>) -> DateTime<Utc> {
    now + TimeDelta::minutes(MAX_EVENT_SUBSCRIPTION_MINUTES - 1)
}

/// The user and event an event change notification is about, from its `resource` (or
/// `resourceData.@odata.id`): `Users/{user id}@{tenant id}/Events/{event id}` as Outlook writes
/// it, `users/{id}/events/{id}`, `Users('…')/Events('…')`, percent-encoded or not. The tenant
/// suffix is dropped; the event id falls back to `resourceData.id`. `None` for anything else
/// (chat messages, `/me/...` paths, which name no user).
pub fn event_ids(notification: &ChangeNotification) -> Option<(String, String)> {
    let data = notification.resource_data.as_ref();
    let from_path = |path: &str| event_path_ids(path);
    let (user, event) =
        from_path(&notification.resource).or_else(|| from_path(data?.odata_id.as_deref()?))?;
    let event = event
        .or_else(|| data.and_then(|d| d.id.clone()))
        .filter(|id| !id.is_empty())?;
    Some((user, event))
}

/// The user and event named by a resource path; see [`event_ids`].
pub fn event_ids_in(resource: &str) -> Option<(String, String)> {
    match event_path_ids(resource)? {
        (user, Some(event)) => Some((user, event)),
        _ => None,
    }
}

/// `(user, event)` of `users/{u}[/calendar|/calendars/{c}]/events[/{e}]`.
fn event_path_ids(resource: &str) -> Option<(String, Option<String>)> {
    let path = resource.split(['?', '#']).next().unwrap_or_default();
    // (name, key) pairs: `name('key')`, `name(key)` and `name/key` give one each. Segments are
    // decoded one by one: an encoded `/` (`%2F`) belongs to an id.
    let mut parts: Vec<(String, Option<String>)> = Vec::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let segment = percent_decode(segment)?;
        let segment = segment.as_str();
        if let Some(open) = segment.find('(') {
            let inner = segment[open + 1..].strip_suffix(')')?;
            parts.push((segment[..open].to_ascii_lowercase(), Some(unquote(inner))));
        } else if let Some((name, key @ None)) = parts.last_mut()
            && name.as_str() != "calendar"
        {
            *key = Some(segment.to_owned());
        } else {
            parts.push((segment.to_ascii_lowercase(), None));
        }
    }
    let names: Vec<&str> = parts.iter().map(|(name, _)| name.as_str()).collect();
    let events_at = match names.as_slice() {
        ["users", "events"] => 1,
        ["users", "calendar", "events"] | ["users", "calendars", "events"] => 2,
        _ => return None,
    };
    let user = parts[0].1.clone().filter(|u| !u.is_empty())?;
    let event = parts[events_at].1.clone().filter(|e| !e.is_empty());
    Some((without_tenant(&user).to_owned(), event))
}

/// `{user id}@{tenant id}` → `{user id}`; a UPN (`alice@contoso.com`) is left as it is.
fn without_tenant(user: &str) -> &str {
    match user.rsplit_once('@') {
        Some((id, tenant)) if is_guid(tenant) => id,
        _ => user,
    }
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn event(json: &str) -> CalendarEvent {
        serde_json::from_str(json).expect("an event")
    }

    /// The documented seriesMaster example (user-post-events, Example 3), without the doc's
    /// trailing comma.
    const SERIES_MASTER: &str = r#"{
        "@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('919717da-0460-4cca-a6be-d25382429896')/events/$entity",
        "@odata.etag":"W/\"+T8RDneHMkKe2BGYEaQZ4wAA5a9Acw==\"",
        "id":"AAMkADQwMD",
        "createdDateTime":"2017-10-07T04:59:12.9698856Z",
        "lastModifiedDateTime":"2017-10-07T04:59:13.8136423Z",
        "changeKey":"+T8RDneHMkKe2BGYEaQZ4wAA5a9Acw==",
        "categories":[],
        "originalStartTimeZone":"Pacific Standard Time",
        "originalEndTimeZone":"Pacific Standard Time",
        "iCalUId":"040000008200E00074C5B7101A82E0080000000028CEBE04293FD3010000000000000000100000009F85AB8AF8ED4D4FAC777FA89954BDB7",
        "reminderMinutesBeforeStart":15,
        "isReminderOn":true,
        "hasAttachments":false,
        "hideAttendees": false,
        "subject":"Let's go for lunch",
        "bodyPreview":"Does late morning work for you?",
        "importance":"normal",
        "sensitivity":"normal",
        "isAllDay":false,
        "isCancelled":false,
        "isDraft": false,
        "isOrganizer":true,
        "responseRequested":true,
        "seriesMasterId":null,
        "showAs":"busy",
        "type":"seriesMaster",
        "webLink":"https://outlook.office365.com/owa/?itemid=AAMkADQwMD&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl":null,
        "isOnlineMeeting":true,
        "onlineMeetingProvider":"unknown",
        "onlineMeeting":null,
        "allowNewTimeProposals": true,
        "responseStatus":{"response":"organizer","time":"0001-01-01T00:00:00Z"},
        "body":{"contentType":"html","content":"<html></html>"},
        "start":{"dateTime":"2017-09-04T12:00:00.0000000","timeZone":"Pacific Standard Time"},
        "end":{"dateTime":"2017-09-04T14:00:00.0000000","timeZone":"Pacific Standard Time"},
        "location":{"displayName":"Harry's Bar","locationType":"default","uniqueId":"Harry's Bar","uniqueIdType":"private"},
        "locations":[{"displayName":"Harry's Bar","locationType":"default","uniqueIdType":"unknown"}],
        "recurrence":{
            "pattern":{"type":"weekly","interval":1,"month":0,"dayOfMonth":0,"daysOfWeek":["monday"],"firstDayOfWeek":"sunday","index":"first"},
            "range":{"type":"endDate","startDate":"2017-09-04","endDate":"2017-12-31","recurrenceTimeZone":"Pacific Standard Time","numberOfOccurrences":0}
        },
        "attendees":[{"type":"required","status":{"response":"none","time":"0001-01-01T00:00:00Z"},"emailAddress":{"name":"Adele Vance","address":"AdeleV@contoso.onmicrosoft.com"}}],
        "organizer":{"emailAddress":{"name":"Alex Wilber","address":"AlexW@contoso.onmicrosoft.com"}}
    }"#;

    #[test]
    fn the_documented_series_master_is_read() {
        let e = event(SERIES_MASTER);
        assert_eq!(e.id, "AAMkADQwMD");
        assert_eq!(e.subject.as_deref(), Some("Let's go for lunch"));
        assert_eq!(e.event_type, "seriesMaster");
        assert_eq!(e.series_master_id, None);
        assert_eq!(e.response.as_deref(), Some("organizer"));
        assert!(e.is_organizer && !e.is_all_day && !e.is_cancelled);
        assert_eq!(e.show_as.as_deref(), Some("busy"));
        assert_eq!(e.location.as_deref(), Some("Harry's Bar"));
        assert_eq!(
            e.join_url, None,
            "onlineMeeting and onlineMeetingUrl are null"
        );
        assert_eq!(e.is_reminder_on, Some(true));
        assert_eq!(e.reminder_minutes_before_start, Some(15));
        assert_eq!(e.organizer_name.as_deref(), Some("Alex Wilber"));
        assert_eq!(
            e.organizer_address.as_deref(),
            Some("AlexW@contoso.onmicrosoft.com")
        );
        assert_eq!(e.attendee_count(), 1);
        assert_eq!(
            e.attendees[0].email.address,
            "AdeleV@contoso.onmicrosoft.com"
        );
        assert_eq!(e.attendees[0].response, "none");
        assert_eq!(e.attendees[0].attendee_type, "required");
        assert_eq!(
            e.last_modified_date_time.map(|t| t.timestamp_millis()),
            Some(
                Utc.with_ymd_and_hms(2017, 10, 7, 4, 59, 13)
                    .single()
                    .expect("time")
                    .timestamp_millis()
                    + 813
            )
        );
        assert!(e.ical_uid.as_deref().is_some_and(|u| u.starts_with("0400")));
        assert_eq!(
            e.web_link.as_deref(),
            Some(
                "https://outlook.office365.com/owa/?itemid=AAMkADQwMD&exvsurl=1&path=/calendar/item"
            )
        );
        // Pacific time is not converted here: the module always asks for UTC.
        assert_eq!(e.start.time_zone, "Pacific Standard Time");
        assert_eq!(e.start_utc(), None);
        assert_eq!(
            e.start.local().map(|t| t.to_string()).as_deref(),
            Some("2017-09-04 12:00:00")
        );
    }

    #[test]
    fn utc_times_become_instants_and_all_day_events_keep_their_dates() {
        let timed = event(
            r#"{"id":"1","isAllDay":false,
                "start":{"dateTime":"2026-11-23T08:30:00.0000000","timeZone":"UTC"},
                "end":{"dateTime":"2026-11-23T09:00:00.0000000","timeZone":"UTC"}}"#,
        );
        assert_eq!(
            timed.start_utc(),
            Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).single()
        );
        assert_eq!(
            timed.end_utc(),
            Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single()
        );
        assert_eq!(timed.all_day_dates(), None);

        let holiday = event(
            r#"{"id":"2","isAllDay":true,
                "start":{"dateTime":"2026-12-24T00:00:00.0000000","timeZone":"UTC"},
                "end":{"dateTime":"2026-12-26T00:00:00.0000000","timeZone":"UTC"}}"#,
        );
        let date = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).expect("date");
        assert_eq!(holiday.all_day_dates(), Some((date(24), date(26))));
        assert_eq!(holiday.start_utc(), None, "all-day events float");
        // An end that is missing or not after the start makes a one-day event.
        let odd = event(
            r#"{"id":"3","isAllDay":true,"start":{"dateTime":"2026-12-24T00:00:00","timeZone":"Tokyo Standard Time"}}"#,
        );
        assert_eq!(odd.all_day_dates(), Some((date(24), date(25))));
        // An offset in the text wins over the zone.
        let with_offset = DateTimeTimeZone {
            date_time: "2026-11-23T09:00:00+01:00".into(),
            time_zone: "W. Europe Standard Time".into(),
        };
        assert_eq!(
            with_offset.to_utc(),
            Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).single()
        );
    }

    #[test]
    fn sparse_and_null_properties_still_read() {
        let e = event(
            r#"{"id":"x","subject":null,"start":null,"attendees":null,"location":{"displayName":""},
                "organizer":{"emailAddress":null},"responseStatus":null,"isAllDay":null,
                "onlineMeeting":{"joinUrl":null},"onlineMeetingUrl":"https://meet.example.com/j/1",
                "lastModifiedDateTime":"2021-03-1706:47:05.123Z","seriesMasterId":""}"#,
        );
        assert_eq!(e.subject, None);
        assert_eq!(e.start, DateTimeTimeZone::default());
        assert_eq!(e.start_utc(), None);
        assert!(e.attendees.is_empty());
        assert_eq!(e.location, None);
        assert_eq!((e.organizer_name, e.organizer_address), (None, None));
        assert_eq!((e.response, e.show_as), (None, None));
        assert_eq!(e.join_url.as_deref(), Some("https://meet.example.com/j/1"));
        assert_eq!(e.last_modified_date_time, None);
        assert_eq!(e.series_master_id, None);
        assert_eq!(
            (e.is_reminder_on, e.reminder_minutes_before_start),
            (None, None)
        );
        assert!(serde_json::from_str::<CalendarEvent>(r#"{"subject":"no id"}"#).is_err());

        let teams = event(
            r#"{"id":"y","type":"occurrence","seriesMasterId":"AAMk-master",
                "onlineMeeting":{"joinUrl":"https://teams.microsoft.com/l/meetup-join/abc"},
                "onlineMeetingUrl":"https://legacy.example.com"}"#,
        );
        assert_eq!(
            teams.join_url.as_deref(),
            Some("https://teams.microsoft.com/l/meetup-join/abc")
        );
        assert_eq!(teams.series_master_id.as_deref(), Some("AAMk-master"));
    }

    #[test]
    fn the_calendar_view_asks_for_lean_utc_pages() {
        let endpoints = crate::GraphEndpoints::new(
            &Url::parse("https://graph.microsoft.com/v1.0").expect("url"),
            &Url::parse("https://login.microsoftonline.com").expect("url"),
            "contoso.onmicrosoft.com",
        )
        .expect("endpoints");
        let graph =
            GraphClient::new(&endpoints, &secrecy::SecretString::from("t")).expect("client");
        let day = Utc
            .with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
            .single()
            .expect("time");
        let url = graph.calendar_view_url(Some("u 1"), day, day + TimeDelta::days(1));
        assert_eq!(url.path(), "/v1.0/users/u%201/calendarView");
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["startDateTime"], "2026-11-23T00:00:00.000Z");
        assert_eq!(query["endDateTime"], "2026-11-24T00:00:00.000Z");
        assert_eq!(query["$top"], "100");
        assert_eq!(query["$orderby"], "start/dateTime");
        assert!(query["$select"].contains("reminderMinutesBeforeStart"));
        assert!(!query["$select"].contains("body"));
        assert_eq!(
            graph.calendar_view_url(None, day, day).path(),
            "/v1.0/me/calendarView"
        );
        // Batch items name URLs relative to the version root; links elsewhere are refused.
        assert_eq!(
            graph
                .relative(&url)
                .map(|r| r.starts_with("/users/u%201/calendarView?")),
            Ok(true)
        );
        let next = graph
            .on_graph("https://graph.microsoft.com/v1.0/me/calendarView?$skip=100")
            .expect("on graph");
        assert_eq!(
            graph.relative(&next).as_deref(),
            Ok("/me/calendarView?$skip=100")
        );
        assert!(
            graph
                .on_graph("https://evil.example.com/v1.0/me/calendarView")
                .is_err()
        );
        let beside = Url::parse("https://graph.microsoft.com/beta/me").expect("url");
        assert!(graph.relative(&beside).is_err());
    }

    #[test]
    fn retries_wait_what_graph_asks_within_bounds() {
        let throttled = |secs: u64| GraphError::Throttled {
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(pause(&throttled(3), 1), Duration::from_secs(3));
        assert_eq!(pause(&throttled(120), 1), MAX_WAIT);
        let unavailable = GraphError::Throttled { retry_after: None };
        assert_eq!(pause(&unavailable, 1), Duration::from_millis(250));
        assert_eq!(pause(&unavailable, 3), Duration::from_millis(1000));
        let gateway = GraphError::Api {
            status: 504,
            code: String::new(),
            message: String::new(),
        };
        assert!(transient(&gateway) && transient(&unavailable));
        assert!(!transient(&GraphError::NotFound));
        assert!(!transient(&GraphError::Api {
            status: 400,
            code: "ErrorInvalidRequest".into(),
            message: String::new()
        }));
    }

    #[test]
    fn event_subscriptions_follow_graphs_rules() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .single()
            .expect("time");
        let app = event_subscription(
            Some("622eaaff-0683-4862-9de4-f2ec83c2bd98"),
            "https://bridge.example.com/calendar/notifications",
            Some("https://bridge.example.com/calendar/lifecycle"),
            "secret",
            now,
        );
        assert_eq!(
            app.resource,
            "/users/622eaaff-0683-4862-9de4-f2ec83c2bd98/events"
        );
        assert_eq!(app.change_type, "created,updated,deleted");
        assert_eq!(app.resource_with_model(), app.resource, "not metered");
        assert!(!app.include_resource_data);
        assert!(app.expiration - now <= TimeDelta::minutes(MAX_EVENT_SUBSCRIPTION_MINUTES));
        assert!(app.expiration - now > TimeDelta::minutes(4200));
        let delegated = event_subscription(None, "https://b/n", None, "s", now);
        assert_eq!(delegated.resource, "/me/events");
        assert_eq!(delegated.lifecycle_notification_url, None);
    }

    #[test]
    fn event_notifications_name_the_user_and_the_event() {
        let user = "622eaaff-0683-4862-9de4-f2ec83c2bd98";
        let tenant = "84bd8158-6d4d-4958-8b9f-9d6445542f95";
        let notification = |resource: &str, odata_id: &str, id: &str| {
            ChangeNotification::from_stored(
                &json!({
                    "subscriptionId": "s1",
                    "changeType": "updated",
                    "resource": resource,
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Event",
                        "@odata.id": odata_id,
                        "id": id,
                    },
                    "clientState": "c",
                })
                .to_string(),
            )
            .expect("notification")
        };
        let outlook = notification(
            &format!("users/{user}@{tenant}/events/AAMkAGI1AAA="),
            &format!("Users/{user}@{tenant}/Events/AAMkAGI1AAA="),
            "AAMkAGI1AAA=",
        );
        assert_eq!(
            event_ids(&outlook),
            Some((user.to_owned(), "AAMkAGI1AAA=".to_owned()))
        );
        assert_eq!(
            event_ids_in(&format!("Users('{user}')/Events('AAMk%2Fx%3D')")),
            Some((user.to_owned(), "AAMk/x=".to_owned()))
        );
        assert_eq!(
            event_ids_in("/users/alice@contoso.com/calendar/events/E1"),
            Some(("alice@contoso.com".to_owned(), "E1".to_owned()))
        );
        // The id from resourceData when the path stops at the collection.
        let collection = notification(&format!("Users/{user}/Events"), "", "E2");
        assert_eq!(
            event_ids(&collection),
            Some((user.to_owned(), "E2".to_owned()))
        );
        assert_eq!(event_ids_in("me/events/E3"), None, "no user named");
        assert_eq!(event_ids_in("chats('19:a@thread.v2')/messages('1')"), None);
        assert_eq!(event_ids_in(&format!("users/{user}/messages/M1")), None);
    }
}
