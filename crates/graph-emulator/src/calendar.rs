//! Calendars: events in each mailbox (an invitation is a copy per attendee, linked by iCalUId),
//! recurrences expanded in `calendarView`, `Prefer: outlook.timezone`, responses to invitations,
//! mailbox settings, and event change notifications.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::error::GraphError;
use crate::identity::Caller;
use crate::model::{graph_time, url_escape};
use crate::state::{Principal, Tenant};
use crate::subscriptions::{ChangeType, Outgoing, Watched};
use crate::timezones::{date_time_time_zone, parse_query_instant, zone};

/// A repeating meeting: `count` occurrences, every day or every week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recurrence {
    Daily { count: u32 },
    Weekly { count: u32 },
}

impl Recurrence {
    fn step(self) -> TimeDelta {
        match self {
            Self::Daily { .. } => TimeDelta::days(1),
            Self::Weekly { .. } => TimeDelta::weeks(1),
        }
    }

    fn count(self) -> u32 {
        match self {
            Self::Daily { count } | Self::Weekly { count } => count,
        }
    }
}

/// What a test schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub organizer: String,
    pub attendees: Vec<String>,
    pub subject: String,
    pub body_html: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The organizer's zone (Windows or IANA name): `originalStartTimeZone`.
    pub time_zone: String,
    pub is_all_day: bool,
    /// `free`, `tentative`, `busy`, `oof`, `workingElsewhere` or `unknown`.
    pub show_as: String,
    pub location: Option<String>,
    /// Whether it is a Teams meeting with a join URL.
    pub online_meeting: bool,
    pub recurrence: Option<Recurrence>,
    /// `reminderMinutesBeforeStart`; `None` leaves the property out of the event's JSON (as
    /// Graph does with a `$select` that omits it), to exercise clients' defaults.
    pub reminder_minutes: Option<u32>,
    /// `isReminderOn`.
    pub is_reminder_on: bool,
}

impl NewEvent {
    /// A one-hour busy meeting organized by `organizer`.
    pub fn meeting(organizer: &str, subject: &str, start: DateTime<Utc>) -> Self {
        Self {
            organizer: organizer.to_owned(),
            attendees: Vec::new(),
            subject: subject.to_owned(),
            body_html: String::new(),
            start,
            end: start + TimeDelta::hours(1),
            time_zone: "UTC".into(),
            is_all_day: false,
            show_as: "busy".into(),
            location: None,
            online_meeting: false,
            recurrence: None,
            reminder_minutes: Some(15),
            is_reminder_on: true,
        }
    }
}

/// An attendee's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeStatus {
    pub user_id: String,
    /// `none`, `accepted`, `tentativelyAccepted` or `declined`.
    pub response: String,
    pub time: Option<DateTime<Utc>>,
}

/// What the organizer changes in a meeting ([`crate::GraphEmulator::update_event`]); `None`
/// keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventUpdate {
    /// A new start; without a new `end` the meeting keeps its length.
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// `Some(None)` clears the location.
    pub location: Option<Option<String>>,
    pub subject: Option<String>,
    /// The organizer's `showAs`.
    pub show_as: Option<String>,
    /// `Some(None)` leaves `reminderMinutesBeforeStart` out.
    pub reminder_minutes: Option<Option<u32>>,
    pub is_reminder_on: Option<bool>,
}

/// One mailbox's copy of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    pub id: String,
    pub ical_uid: String,
    pub mailbox: String,
    pub organizer: String,
    pub attendees: Vec<AttendeeStatus>,
    pub subject: String,
    pub body_html: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub time_zone: String,
    pub is_all_day: bool,
    pub show_as: String,
    pub location: Option<String>,
    pub join_url: Option<String>,
    pub is_cancelled: bool,
    pub recurrence: Option<Recurrence>,
    pub reminder_minutes: Option<u32>,
    pub is_reminder_on: bool,
    /// This mailbox's own answer: `organizer` for the organizer.
    pub response: String,
    pub response_time: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

impl Tenant {
    pub(crate) fn add_event(&mut self, new: NewEvent) -> (CalendarEvent, Vec<Outgoing>) {
        let now = self.now();
        let ical_uid = format!(
            "040000008200E00074C5B7101A82E008{}",
            uuid::Uuid::new_v4().simple().to_string().to_uppercase()
        );
        let join_url = new.online_meeting.then(|| {
            format!(
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{}%40thread.v2/0",
                uuid::Uuid::new_v4().simple()
            )
        });
        let attendees: Vec<AttendeeStatus> = new
            .attendees
            .iter()
            .map(|id| AttendeeStatus {
                user_id: id.clone(),
                response: "none".into(),
                time: None,
            })
            .collect();
        let mut outgoing = Vec::new();
        let mut organizer_copy = None;
        for mailbox in std::iter::once(&new.organizer).chain(&new.attendees) {
            let event = CalendarEvent {
                id: format!("AAMkAG{}", uuid::Uuid::new_v4().simple()),
                ical_uid: ical_uid.clone(),
                mailbox: mailbox.clone(),
                organizer: new.organizer.clone(),
                attendees: attendees.clone(),
                subject: new.subject.clone(),
                body_html: new.body_html.clone(),
                start: new.start,
                end: new.end,
                time_zone: new.time_zone.clone(),
                is_all_day: new.is_all_day,
                show_as: if *mailbox == new.organizer {
                    new.show_as.clone()
                } else {
                    "tentative".into()
                },
                location: new.location.clone(),
                join_url: join_url.clone(),
                is_cancelled: false,
                recurrence: new.recurrence,
                reminder_minutes: new.reminder_minutes,
                is_reminder_on: new.is_reminder_on,
                response: if *mailbox == new.organizer {
                    "organizer".into()
                } else {
                    "none".into()
                },
                response_time: None,
                created: now,
                last_modified: now,
            };
            outgoing.extend(self.event_changed(&event, ChangeType::Created));
            if *mailbox == new.organizer {
                organizer_copy = Some(event.clone());
            }
            self.events.entry(mailbox.clone()).or_default().push(event);
        }
        let organizer_copy =
            organizer_copy.unwrap_or_else(|| unreachable!("the organizer's copy is made first"));
        (organizer_copy, outgoing)
    }

    /// Changes every copy of the event with `ical_uid`; returns the notifications (`updated`),
    /// or `None` when no mailbox has the event.
    pub(crate) fn change_event_everywhere(
        &mut self,
        ical_uid: &str,
        change: impl Fn(&mut CalendarEvent),
    ) -> Option<Vec<Outgoing>> {
        self.change_event_copies(ical_uid, |_| true, change)
    }

    /// Changes the copies of the event with `ical_uid` that `which` picks; returns the
    /// notifications (`updated`), or `None` when no mailbox has the event at all.
    pub(crate) fn change_event_copies(
        &mut self,
        ical_uid: &str,
        which: impl Fn(&CalendarEvent) -> bool,
        change: impl Fn(&mut CalendarEvent),
    ) -> Option<Vec<Outgoing>> {
        let now = self.now();
        let mut found = false;
        let mut changed = Vec::new();
        for events in self.events.values_mut() {
            for event in events.iter_mut().filter(|e| e.ical_uid == ical_uid) {
                found = true;
                if which(event) {
                    change(event);
                    event.last_modified = now;
                    changed.push(event.clone());
                }
            }
        }
        found.then(|| {
            changed
                .iter()
                .flat_map(|e| self.event_changed(e, ChangeType::Updated))
                .collect()
        })
    }

    /// Removes the copies of the event with `ical_uid` that `which` picks; returns the
    /// notifications (`deleted`), or `None` when no mailbox has the event at all.
    pub(crate) fn remove_event_copies(
        &mut self,
        ical_uid: &str,
        which: impl Fn(&CalendarEvent) -> bool,
    ) -> Option<Vec<Outgoing>> {
        let mut found = false;
        let mut removed = Vec::new();
        for events in self.events.values_mut() {
            found |= events.iter().any(|e| e.ical_uid == ical_uid);
            let (gone, kept): (Vec<CalendarEvent>, Vec<CalendarEvent>) = std::mem::take(events)
                .into_iter()
                .partition(|e| e.ical_uid == ical_uid && which(e));
            *events = kept;
            removed.extend(gone);
        }
        found.then(|| {
            removed
                .iter()
                .flat_map(|e| self.event_changed(e, ChangeType::Deleted))
                .collect()
        })
    }

    /// The organizer cancels a meeting: the organizer's copy is deleted (Outlook moves it to
    /// Deleted Items), each attendee's copy is marked cancelled (`Canceled: ` before the subject)
    /// until they remove it. `deleted` and `updated` notifications.
    pub(crate) fn cancel_event(&mut self, ical_uid: &str) -> Option<Vec<Outgoing>> {
        let mut outgoing = self.change_event_copies(
            ical_uid,
            |e| e.mailbox != e.organizer,
            |e| e.is_cancelled = true,
        )?;
        outgoing.extend(
            self.remove_event_copies(ical_uid, |e| e.mailbox == e.organizer)
                .unwrap_or_default(),
        );
        Some(outgoing)
    }

    /// The organizer changes a meeting; a new time asks every attendee again (their answers go
    /// back to `none`, their copies show `tentative`), as Outlook does. `updated` notifications.
    pub(crate) fn update_event(
        &mut self,
        ical_uid: &str,
        update: &EventUpdate,
    ) -> Option<Vec<Outgoing>> {
        self.change_event_everywhere(ical_uid, |e| {
            let length = e.end - e.start;
            let start = update.start.unwrap_or(e.start);
            let end = update.end.unwrap_or_else(|| {
                if update.start.is_some() {
                    start + length
                } else {
                    e.end
                }
            });
            let moved = start != e.start || end != e.end;
            e.start = start;
            e.end = end;
            if let Some(location) = &update.location {
                e.location = location.clone();
            }
            if let Some(subject) = &update.subject {
                e.subject.clone_from(subject);
            }
            if let Some(show_as) = update.show_as.as_ref().filter(|_| e.mailbox == e.organizer) {
                e.show_as.clone_from(show_as);
            }
            if let Some(minutes) = update.reminder_minutes {
                e.reminder_minutes = minutes;
            }
            if let Some(on) = update.is_reminder_on {
                e.is_reminder_on = on;
            }
            if moved {
                for attendee in &mut e.attendees {
                    attendee.response = "none".into();
                    attendee.time = None;
                }
                if e.mailbox != e.organizer {
                    e.response = "none".into();
                    e.response_time = None;
                    e.show_as = "tentative".into();
                }
            }
        })
    }

    fn event_changed(&self, event: &CalendarEvent, change_type: ChangeType) -> Vec<Outgoing> {
        let user_tenant = format!("{}@{}", event.mailbox, self.tenant_id);
        let resource = format!("users/{user_tenant}/events/{}", event.id);
        let data = json!({
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": format!("Users/{user_tenant}/Events/{}", event.id),
            "@odata.etag": format!("W/\"{}\"", event.last_modified.timestamp_millis()),
            "id": event.id,
        });
        let mailbox = event.mailbox.clone();
        self.notifications_for(
            |watched| matches!(watched, Watched::Events(user) if *user == mailbox),
            change_type,
            &resource,
            data,
        )
    }

    pub(crate) fn mailbox_time_zone(&self, user_id: &str) -> String {
        self.time_zones
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| "UTC".into())
    }

    fn event_json(
        &self,
        event: &CalendarEvent,
        zone_name: &str,
        occurrence: Option<(usize, DateTime<Utc>)>,
    ) -> Value {
        let email = |user_id: &str| {
            let user = self.users.get(user_id);
            json!({
                "name": user.map(|u| u.display_name.clone()),
                "address": user.and_then(|u| u.mail.clone()),
            })
        };
        let attendees: Vec<Value> = event
            .attendees
            .iter()
            .map(|a| {
                json!({
                    "type": "required",
                    "status": {"response": a.response, "time": a.time.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), graph_time)},
                    "emailAddress": email(&a.user_id),
                })
            })
            .collect();
        let (id, kind, series_master, start) = match occurrence {
            Some((index, start)) => (
                format!("{}_{index}", event.id),
                "occurrence",
                Some(event.id.clone()),
                start,
            ),
            None if event.recurrence.is_some() => {
                (event.id.clone(), "seriesMaster", None, event.start)
            }
            None => (event.id.clone(), "singleInstance", None, event.start),
        };
        let end = start + (event.end - event.start);
        // All-day events float: the same dates in every zone, midnight to midnight.
        let (start, end) = if event.is_all_day {
            (all_day(start, zone_name), all_day(end, zone_name))
        } else {
            (
                date_time_time_zone(start, zone_name),
                date_time_time_zone(end, zone_name),
            )
        };
        let recurrence = match (event.recurrence, occurrence) {
            (Some(r), None) => json!({
                "pattern": {
                    "type": if matches!(r, Recurrence::Daily { .. }) { "daily" } else { "weekly" },
                    "interval": 1,
                    "month": 0,
                    "dayOfMonth": 0,
                    "daysOfWeek": [event.start.format("%A").to_string().to_lowercase()],
                    "firstDayOfWeek": "sunday",
                    "index": "first",
                },
                "range": {
                    "type": "numbered",
                    "startDate": event.start.format("%Y-%m-%d").to_string(),
                    "endDate": "0001-01-01",
                    "recurrenceTimeZone": event.time_zone,
                    "numberOfOccurrences": r.count(),
                }
            }),
            _ => Value::Null,
        };
        let preview: String = strip_tags(&event.body_html).chars().take(255).collect();
        let mut json = json!({
            "@odata.etag": format!("W/\"{}\"", event.last_modified.timestamp_millis()),
            "id": id,
            "createdDateTime": event.created.to_rfc3339_opts(SecondsFormat::Micros, true),
            "lastModifiedDateTime": event.last_modified.to_rfc3339_opts(SecondsFormat::Micros, true),
            "changeKey": event.last_modified.timestamp_millis().to_string(),
            "categories": [],
            "originalStartTimeZone": event.time_zone,
            "originalEndTimeZone": event.time_zone,
            "iCalUId": event.ical_uid,
            "reminderMinutesBeforeStart": event.reminder_minutes,
            "isReminderOn": event.is_reminder_on,
            "hasAttachments": false,
            "subject": if event.is_cancelled { format!("Canceled: {}", event.subject) } else { event.subject.clone() },
            "bodyPreview": preview,
            "importance": "normal",
            "sensitivity": "normal",
            "isAllDay": event.is_all_day,
            "isCancelled": event.is_cancelled,
            "isOrganizer": event.mailbox == event.organizer,
            "responseRequested": true,
            "seriesMasterId": series_master,
            "showAs": event.show_as,
            "type": kind,
            "webLink": format!("https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item", url_escape(&event.id)),
            "onlineMeetingUrl": null,
            "isOnlineMeeting": event.join_url.is_some(),
            "onlineMeetingProvider": if event.join_url.is_some() { "teamsForBusiness" } else { "unknown" },
            "onlineMeeting": event.join_url.as_ref().map(|url| json!({"joinUrl": url})),
            "allowNewTimeProposals": true,
            "responseStatus": {
                "response": event.response,
                "time": event.response_time.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), graph_time),
            },
            "body": {"contentType": "html", "content": event.body_html},
            "start": start,
            "end": end,
            "location": {
                "displayName": event.location.clone().unwrap_or_default(),
                "locationType": "default",
                "uniqueIdType": "unknown",
            },
            "locations": [],
            "recurrence": recurrence,
            "attendees": attendees,
            "organizer": {"emailAddress": email(&event.organizer)},
        });
        if event.reminder_minutes.is_none()
            && let Some(object) = json.as_object_mut()
        {
            object.remove("reminderMinutesBeforeStart");
        }
        json
    }
}

/// An all-day event's day boundary: the date at midnight, in whichever zone is asked for.
fn all_day(t: DateTime<Utc>, zone_name: &str) -> Value {
    json!({
        "dateTime": format!("{}T00:00:00.0000000", t.format("%Y-%m-%d")),
        "timeZone": zone_name,
    })
}

/// Where an all-day event's day boundary falls in `zone_name`.
fn all_day_instant(t: DateTime<Utc>, zone_name: &str) -> DateTime<Utc> {
    let tz = zone(zone_name).unwrap_or(chrono_tz::Tz::UTC);
    let midnight = t.date_naive().and_time(chrono::NaiveTime::MIN);
    match midnight.and_local_timezone(tz) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.to_utc(),
        chrono::LocalResult::None => midnight.and_utc(),
    }
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The mailbox a request is about: `/me` is the signed-in user; `/users/{id}` needs an
/// application token or that same user.
fn mailbox(tenant: &Tenant, caller: &Caller, user: Option<&str>) -> Result<String, GraphError> {
    let Some(user) = user else {
        return caller.user_id("/me request").map(str::to_owned);
    };
    let found = tenant.find_user(user).ok_or_else(|| {
        // What Exchange answers for a mailbox it does not know.
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            &format!("The requested user '{user}' is invalid."),
        )
    })?;
    match &caller.principal {
        Principal::App { .. } => Ok(found.id.clone()),
        Principal::User { user_id, .. } if *user_id == found.id => Ok(found.id.clone()),
        Principal::User { .. } => Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )),
    }
}

/// The zone asked for with `Prefer: outlook.timezone="..."`, if it is one we know.
fn preferred_zone(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("Prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("outlook.timezone="))
        .map(|z| z.trim_matches('"').to_owned())
        .filter(|z| zone(z).is_some())
}

fn with_preference(body: Value, zone_name: Option<&str>) -> Response {
    let mut response = Json(body).into_response();
    if let Some(Ok(value)) =
        zone_name.map(|z| HeaderValue::from_str(&format!("outlook.timezone=\"{z}\"")))
    {
        response.headers_mut().insert("Preference-Applied", value);
    }
    response
}

pub(crate) async fn calendar_view_me(
    state: State<Arc<Shared>>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Result<Response, GraphError> {
    calendar_view(state, caller, None, &uri, &headers, query)
}

pub(crate) async fn calendar_view_user(
    state: State<Arc<Shared>>,
    caller: Caller,
    Path(user): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Result<Response, GraphError> {
    calendar_view(state, caller, Some(user), &uri, &headers, query)
}

/// Which occurrence of a series, and when it starts.
type Occurrence = (usize, DateTime<Utc>);

/// Events per page when `$top` is not given, as Outlook pages them.
const DEFAULT_PAGE: usize = 10;
/// The largest `$top` the emulator takes.
const MAX_PAGE: usize = 1000;

/// Single events and occurrences overlapping `[startDateTime, endDateTime)`, by start time,
/// `$top` a page (10 unless asked) from `$skip`, with an `@odata.nextLink` while more remain;
/// `$select` and `$orderby=start/dateTime [asc|desc]` are honoured.
fn calendar_view(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    user: Option<String>,
    uri: &Uri,
    headers: &HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, GraphError> {
    let parse = |name: &str| {
        let text = q.get(name).ok_or_else(|| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
            )
        })?;
        parse_query_instant(text).ok_or_else(|| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidParameter",
                &format!("'{text}' is not a date and time."),
            )
        })
    };
    let (from, to) = (parse("startDateTime")?, parse("endDateTime")?);
    let top = match q.get("$top") {
        None => DEFAULT_PAGE,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidParameter",
                    &format!("The value '{text}' of $top is not between 1 and {MAX_PAGE}."),
                ));
            }
        },
    };
    let skip = match q.get("$skip") {
        None => 0,
        Some(text) => text.trim().parse::<usize>().map_err(|_| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidParameter",
                &format!("The value '{text}' of $skip is not a number."),
            )
        })?,
    };
    let descending = match q.get("$orderby").map(|o| o.trim()) {
        None | Some("start/dateTime" | "start/dateTime asc") => false,
        Some("start/dateTime desc") => true,
        Some(other) => {
            return Err(GraphError::bad_request(&format!(
                "The emulator orders calendarView by start/dateTime only, not '{other}'."
            )));
        }
    };
    let select = selection(q.get("$select").map(String::as_str))?;
    let tenant = shared.lock();
    let mailbox = mailbox(&tenant, &caller, user.as_deref())?;
    let zone_name = preferred_zone(headers);
    let shown_in = zone_name.clone().unwrap_or_else(|| "UTC".into());
    let mut found: Vec<(DateTime<Utc>, &CalendarEvent, Option<Occurrence>)> = Vec::new();
    for event in tenant.events.get(&mailbox).into_iter().flatten() {
        let length = event.end - event.start;
        let overlaps = |start: DateTime<Utc>| {
            let end = start + length;
            let (start, end) = if event.is_all_day {
                (
                    all_day_instant(start, &shown_in),
                    all_day_instant(end, &shown_in),
                )
            } else {
                (start, end)
            };
            start < to && end > from
        };
        match event.recurrence {
            None => {
                if overlaps(event.start) {
                    found.push((event.start, event, None));
                }
            }
            Some(recurrence) => {
                for index in 0..recurrence.count() {
                    let start =
                        event.start + recurrence.step() * i32::try_from(index).unwrap_or(i32::MAX);
                    if overlaps(start) {
                        let index = usize::try_from(index).unwrap_or(usize::MAX);
                        found.push((start, event, Some((index, start))));
                    }
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    if descending {
        found.reverse();
    }
    let total = found.len();
    let value: Vec<Value> = found
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|(_, event, occurrence)| {
            selected(
                tenant.event_json(event, &shown_in, occurrence),
                select.as_deref(),
            )
        })
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{mailbox}')/calendarView"),
        "value": value,
    });
    if skip + top < total {
        body["@odata.nextLink"] = json!(next_link(uri, headers, &q, top, skip + top));
    }
    Ok(with_preference(body, zone_name.as_deref()))
}

/// The link to the next page: the same request (same path, window, `$select`, `$orderby`) with
/// `$top` and the next `$skip`, on the host the request came to.
fn next_link(
    uri: &Uri,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    top: usize,
    skip: usize,
) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut pairs: Vec<(&String, &String)> = query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "$top" | "$skip"))
        .collect();
    pairs.sort();
    // The Graph routes are nested under `/v1.0`, which `uri` (the nested router's view) lacks.
    let mut link = format!("http://{host}/v1.0{}?", uri.path());
    for (key, value) in pairs {
        link.push_str(&format!("{}={}&", url_escape_key(key), url_escape(value)));
    }
    link.push_str(&format!("$top={top}&$skip={skip}"));
    link
}

/// Query option names keep their `$`, as Graph writes them.
fn url_escape_key(key: &str) -> String {
    match key.strip_prefix('$') {
        Some(rest) => format!("${}", url_escape(rest)),
        None => url_escape(key),
    }
}

/// The event properties an event's JSON has, which `$select` may name.
const EVENT_PROPERTIES: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "onlineMeeting",
    "allowNewTimeProposals",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
];

/// The properties `$select` names, or `None` for all; 400 for one an event does not have.
fn selection(select: Option<&str>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(select) = select else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for name in select.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(known) = EVENT_PROPERTIES
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
        else {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "RequestBroker--ParseUri",
                &format!(
                    "Could not find a property named '{name}' on type 'microsoft.graph.event'."
                ),
            ));
        };
        names.push((*known).to_owned());
    }
    Ok(Some(names))
}

/// An event's JSON with only the selected properties (and `@odata.etag` and `id`, which Graph
/// always sends).
fn selected(mut event: Value, select: Option<&[String]>) -> Value {
    if let (Some(names), Some(object)) = (select, event.as_object_mut()) {
        object
            .retain(|key, _| key == "@odata.etag" || key == "id" || names.iter().any(|n| n == key));
    }
    event
}

fn find_event<'a>(
    tenant: &'a Tenant,
    mailbox: &str,
    id: &str,
) -> Result<(&'a CalendarEvent, Option<usize>), GraphError> {
    let (master_id, index) = match id.rsplit_once('_') {
        Some((master, index)) if index.chars().all(|c| c.is_ascii_digit()) => {
            (master, index.parse().ok())
        }
        _ => (id, None),
    };
    tenant
        .events
        .get(mailbox)
        .and_then(|events| events.iter().find(|e| e.id == master_id))
        .map(|e| (e, index))
        .ok_or_else(item_not_found)
}

fn item_not_found() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

pub(crate) async fn get_event_me(
    state: State<Arc<Shared>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Query<HashMap<String, String>>,
) -> Result<Response, GraphError> {
    get_event(state, caller, None, headers, id, query)
}

pub(crate) async fn get_event_user(
    state: State<Arc<Shared>>,
    caller: Caller,
    headers: HeaderMap,
    Path((user, id)): Path<(String, String)>,
    query: Query<HashMap<String, String>>,
) -> Result<Response, GraphError> {
    get_event(state, caller, Some(user), headers, id, query)
}

fn get_event(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    user: Option<String>,
    headers: HeaderMap,
    id: String,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, GraphError> {
    let select = selection(q.get("$select").map(String::as_str))?;
    let tenant = shared.lock();
    let mailbox = mailbox(&tenant, &caller, user.as_deref())?;
    let (event, index) = find_event(&tenant, &mailbox, &id)?;
    let zone_name = preferred_zone(&headers);
    let occurrence = match (index, event.recurrence) {
        (Some(i), Some(r)) if u32::try_from(i).is_ok_and(|i| i < r.count()) => Some((
            i,
            event.start + r.step() * i32::try_from(i).unwrap_or(i32::MAX),
        )),
        (Some(_), _) => return Err(item_not_found()),
        _ => None,
    };
    let body = tenant.event_json(event, zone_name.as_deref().unwrap_or("UTC"), occurrence);
    Ok(with_preference(
        selected(body, select.as_deref()),
        zone_name.as_deref(),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponseBody {
    #[serde(default)]
    comment: Option<String>,
    send_response: Option<bool>,
    proposed_new_time: Option<Value>,
}

pub(crate) async fn respond_me(
    state: State<Arc<Shared>>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<ResponseBody>>,
) -> Result<StatusCode, GraphError> {
    respond(
        state,
        caller,
        None,
        id,
        action,
        body.map(|b| b.0).unwrap_or_default(),
    )
}

pub(crate) async fn respond_user(
    state: State<Arc<Shared>>,
    caller: Caller,
    Path((user, id, action)): Path<(String, String, String)>,
    body: Option<Json<ResponseBody>>,
) -> Result<StatusCode, GraphError> {
    respond(
        state,
        caller,
        Some(user),
        id,
        action,
        body.map(|b| b.0).unwrap_or_default(),
    )
}

/// accept / tentativelyAccept / decline: 202, and the organizer's copy learns the answer.
fn respond(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    user: Option<String>,
    id: String,
    action: String,
    body: ResponseBody,
) -> Result<StatusCode, GraphError> {
    let (response, show_as) = match action.as_str() {
        "accept" => ("accepted", "busy"),
        "tentativelyAccept" => ("tentativelyAccepted", "tentative"),
        "decline" => ("declined", "free"),
        _ => {
            return Err(GraphError::not_found(&format!(
                "Resource not found for the segment '{action}'."
            )));
        }
    };
    if body.proposed_new_time.is_some() && (action == "accept" || body.send_response == Some(false))
    {
        return Err(GraphError::bad_request(
            "proposedNewTime can only be sent with tentativelyAccept or decline, and requires sendResponse.",
        ));
    }
    let _ = body.comment;
    let outgoing = {
        let mut tenant = shared.lock();
        let mailbox = mailbox(&tenant, &caller, user.as_deref())?;
        let (event, _) = find_event(&tenant, &mailbox, &id)?;
        if event.organizer == mailbox {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                "Your request can't be completed. You can't respond to a meeting you organized.",
            ));
        }
        if event.is_cancelled {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                "Your request can't be completed. The meeting has been canceled.",
            ));
        }
        let ical_uid = event.ical_uid.clone();
        let now = tenant.now();
        // The answer changes the responder's copy and, when sent, the organizer's (whose
        // attendee list tracks answers); other attendees' copies do not learn it.
        let tell_organizer = body.send_response != Some(false);
        tenant
            .change_event_copies(
                &ical_uid,
                |e| e.mailbox == mailbox || (tell_organizer && e.mailbox == e.organizer),
                |e| {
                    if e.mailbox == mailbox {
                        e.response = response.to_owned();
                        e.response_time = Some(now);
                        e.show_as = show_as.to_owned();
                    }
                    for attendee in e.attendees.iter_mut().filter(|a| a.user_id == mailbox) {
                        attendee.response = response.to_owned();
                        attendee.time = Some(now);
                    }
                },
            )
            .unwrap_or_default()
    };
    shared.dispatch(outgoing);
    Ok(StatusCode::ACCEPTED)
}

pub(crate) async fn mailbox_settings_me(
    state: State<Arc<Shared>>,
    caller: Caller,
) -> Result<Json<Value>, GraphError> {
    mailbox_settings(state, caller, None)
}

pub(crate) async fn mailbox_settings_user(
    state: State<Arc<Shared>>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<Value>, GraphError> {
    mailbox_settings(state, caller, Some(user))
}

fn mailbox_settings(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    user: Option<String>,
) -> Result<Json<Value>, GraphError> {
    let tenant = shared.lock();
    let mailbox = mailbox(&tenant, &caller, user.as_deref())?;
    let time_zone = tenant.mailbox_time_zone(&mailbox);
    Ok(Json(json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{mailbox}')/mailboxSettings"),
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "none",
            "scheduledStartDateTime": {"dateTime": "2026-01-01T00:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2026-01-02T00:00:00.0000000", "timeZone": "UTC"},
            "internalReplyMessage": "",
            "externalReplyMessage": "",
        },
        "timeZone": time_zone,
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": time_zone},
        },
        "userPurpose": {"value": "user"},
        "dateFormat": "MM/dd/yyyy",
        "timeFormat": "hh:mm tt",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
    })))
}
