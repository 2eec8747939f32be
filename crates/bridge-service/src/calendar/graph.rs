//! The calendar's Graph calls: reads with the app's token (`Calendars.Read`,
//! `MailboxSettings.Read` application permissions), twenty users to a `$batch`; answers to
//! invitations with the user's own delegated token (`Calendars.ReadWrite`), since only the
//! attendee may answer.

use calendar_core::{Event, EventTime, ReminderSetting, ResponseStatus, ShowAs};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use teams_graph::calendar::{CalendarEvent, CalendarViewRequest, EventResponse};

use super::CalendarApp;
use super::users::CalendarUser;
use crate::graph::CallError;

/// A Graph event as the calendar rules see it; `None` when its times cannot be read.
pub(crate) fn to_core(event: &CalendarEvent) -> Option<Event> {
    let when = EventTime::from_graph(
        event.is_all_day,
        &event.start.date_time,
        &event.start.time_zone,
        &event.end.date_time,
        &event.end.time_zone,
    )?;
    Some(Event {
        id: event.id.clone(),
        subject: event.subject.clone().unwrap_or_default(),
        when,
        location: event.location.clone().filter(|l| !l.trim().is_empty()),
        join_url: event.join_url.clone(),
        web_link: event.web_link.clone(),
        show_as: ShowAs::from_graph(event.show_as.as_deref().unwrap_or("")),
        response: ResponseStatus::from_graph(event.response.as_deref().unwrap_or("")),
        is_cancelled: event.is_cancelled,
        is_organizer: event.is_organizer,
        attendees: event.attendee_count(),
        reminder: ReminderSetting::from_graph(
            event.is_reminder_on,
            event.reminder_minutes_before_start,
        ),
        organizer: event.organizer_name.clone(),
        recurring: event.event_type == "seriesMaster",
    })
}

fn to_core_all(events: &[CalendarEvent]) -> Vec<Event> {
    events.iter().filter_map(to_core).collect()
}

impl CalendarApp {
    /// One user's events overlapping `[from, to)`.
    pub(crate) async fn read_events(
        &self,
        user: &CalendarUser,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Event>, CallError> {
        let client = self.graph.client().await?;
        self.graph.permit().await;
        let events = client
            .calendar_view(Some(user.microsoft_id()), from, to)
            .await?;
        Ok(to_core_all(&events))
    }

    /// Several users' events, twenty users a request; results in the order asked.
    pub(crate) async fn read_events_batch(
        &self,
        windows: &[(&CalendarUser, DateTime<Utc>, DateTime<Utc>)],
    ) -> Vec<Result<Vec<Event>, CallError>> {
        if windows.is_empty() {
            return Vec::new();
        }
        let client = match self.graph.client().await {
            Ok(client) => client,
            Err(err) => return windows.iter().map(|_| Err(err.clone())).collect(),
        };
        let requests: Vec<CalendarViewRequest> = windows
            .iter()
            .map(|(user, from, to)| CalendarViewRequest {
                user_id: user.microsoft_id().to_owned(),
                start: *from,
                end: *to,
            })
            .collect();
        for _ in 0..requests.len().div_ceil(20) {
            self.graph.permit().await;
        }
        client
            .calendar_views_batch(&requests)
            .await
            .into_iter()
            .map(|result| {
                result
                    .map(|events| to_core_all(&events))
                    .map_err(CallError::from)
            })
            .collect()
    }

    /// One event of the user's, `None` when it is gone.
    pub(crate) async fn read_event(
        &self,
        user: &CalendarUser,
        event_id: &str,
    ) -> Result<Option<Event>, CallError> {
        let client = self.graph.client().await?;
        self.graph.permit().await;
        match client.event(Some(user.microsoft_id()), event_id).await? {
            Some(event) => Ok(to_core(&event)),
            None => Ok(None),
        }
    }

    /// The user's mailbox time zone; `None` when it names no zone we know.
    pub(crate) async fn read_time_zone(
        &self,
        user: &CalendarUser,
    ) -> Result<Option<Tz>, CallError> {
        let client = self.graph.client().await?;
        self.graph.permit().await;
        let name = client.mailbox_time_zone(Some(user.microsoft_id())).await?;
        Ok(calendar_core::tz::resolve_time_zone(&name))
    }

    /// Several users' mailbox time zones, twenty a request.
    pub(crate) async fn read_time_zones_batch(
        &self,
        users: &[CalendarUser],
    ) -> Vec<Result<Option<Tz>, CallError>> {
        let client = match self.graph.client().await {
            Ok(client) => client,
            Err(err) => return users.iter().map(|_| Err(err.clone())).collect(),
        };
        let ids: Vec<String> = users.iter().map(|u| u.microsoft_id().to_owned()).collect();
        for _ in 0..ids.len().div_ceil(20) {
            self.graph.permit().await;
        }
        client
            .mailbox_time_zones_batch(&ids)
            .await
            .into_iter()
            .map(|result| {
                result
                    .map(|name| calendar_core::tz::resolve_time_zone(&name))
                    .map_err(CallError::from)
            })
            .collect()
    }

    /// Answers an invitation as the user.
    pub(crate) async fn respond(
        &self,
        user: &CalendarUser,
        event_id: &str,
        response: EventResponse,
    ) -> Result<(), CallError> {
        let client = crate::graph::delegated_client(
            &self.linking.sealer,
            self.graph.endpoints(),
            &user.link,
            self.now(),
            crate::metrics::graph_observer(&self.metrics),
        )?
        .ok_or_else(|| {
            CallError::Transient("your sign-in is being renewed; try again in a minute".into())
        })?;
        self.graph.permit().await;
        client
            .respond_to_event(event_id, response, None, true)
            .await
            .map_err(CallError::from)
    }
}
