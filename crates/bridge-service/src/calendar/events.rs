//! Event change notifications (C4): the webhook stores them in the inbox; this worker claims
//! them by lease, reads the event with the app's token, tells the user about new invitations
//! (with Accept / Tentative / Decline), changes of time or place and cancellations, each once
//! through the delivery ledger, and re-arms the user's watch so reminders and status follow.
//! Lifecycle events recreate, renew or resynchronise the subscription they are about.

use std::sync::Arc;
use std::time::Duration;

use calendar_core::agenda::{event_details, event_title};
use calendar_core::markdown::escape_text;
use calendar_core::reminders::time_range;
use calendar_core::{Event, EventTime, ResponseStatus};
use chrono::TimeDelta;
use mm_client::ActionStyle;
use store::InboxItem;
use teams_graph::notifications::{ChangeNotification, LifecycleEvent};

use super::CalendarApp;
use super::buttons::{Button, CalendarAction};
use super::messages::Sent;
use super::metrics::DmKind;
use super::users::CalendarUser;
use crate::graph::CallError;

/// Inbox kinds.
pub(crate) const KIND_EVENT: &str = "graph.calendar_event";
pub(crate) const KIND_LIFECYCLE: &str = "graph.calendar_lifecycle";
/// Items claimed per round.
const BATCH: u32 = 32;
const MAX_ATTEMPTS: i64 = 10;

/// The event id in a notification: `resourceData.id`, else the last segment of the resource
/// (`Users/{id}/Events/{event-id}`).
pub(crate) fn event_id(notification: &ChangeNotification) -> Option<String> {
    if let Some(id) = notification
        .resource_data
        .as_ref()
        .and_then(|d| d.id.clone())
        .filter(|id| !id.is_empty())
    {
        return Some(id);
    }
    let last = notification.resource.rsplit('/').next()?;
    let last = last
        .strip_prefix("Events('")
        .and_then(|s| s.strip_suffix("')"))
        .unwrap_or(last);
    (!last.is_empty() && !last.eq_ignore_ascii_case("events")).then(|| last.to_owned())
}

/// The version of an event that users are told about: its time and place.
fn version(event: &Event) -> String {
    let when = match event.when {
        EventTime::Timed { start, end } => format!("{}/{}", start.timestamp(), end.timestamp()),
        EventTime::AllDay {
            first,
            end_exclusive,
        } => format!("{first}/{end_exclusive}"),
    };
    let place = event
        .location
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{when}|{place}").as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// "Mon, Nov 23, 9:00 AM – 9:30 AM" in the user's zone.
fn when(event: &Event, user: &CalendarUser) -> String {
    let tz = user.tz_or_utc();
    let range = time_range(event, tz);
    let when = if range.contains(',') {
        range
    } else {
        let day = event.start_in(tz).with_timezone(&tz).format("%a, %b %-d");
        format!("{day}, {range}")
    };
    if event.recurring {
        format!("Recurring, first {when}")
    } else {
        when
    }
}

fn organizer(event: &Event) -> String {
    match event.organizer.as_deref().map(escape_text) {
        Some(name) if !name.is_empty() => format!(" from {name}"),
        _ => String::new(),
    }
}

pub(crate) fn invitation_text(event: &Event, user: &CalendarUser) -> String {
    format!(
        "**New invitation**{}: {}\n{}{}",
        organizer(event),
        event_title(event),
        when(event, user),
        event_details(event)
    )
}

pub(crate) fn invitation_buttons(event_id: &str) -> Vec<Button> {
    [
        ("Accept", "accept", ActionStyle::Primary),
        ("Tentative", "tentative", ActionStyle::Default),
        ("Decline", "decline", ActionStyle::Danger),
    ]
    .into_iter()
    .map(|(label, response, style)| {
        Button::new(
            label,
            style,
            CalendarAction::Respond {
                response: response.to_owned(),
                event_id: event_id.to_owned(),
            },
        )
    })
    .collect()
}

impl CalendarApp {
    pub(crate) async fn run_event_worker(self: Arc<Self>) {
        let worker = format!("{}-events", self.instance());
        loop {
            match self.event_round(&worker).await {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), self.wake_events.notified())
                            .await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "calendar event worker could not reach the store; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Claims and handles one batch of event and lifecycle notifications: how many were claimed.
    pub async fn event_round(&self, worker: &str) -> Result<usize, store::StoreError> {
        let now = self.now();
        let items = self
            .store()
            .claim_inbox(worker, BATCH, now + TimeDelta::minutes(2), now)
            .await?;
        let n = items.len();
        for item in items {
            let result = match item.kind.as_str() {
                KIND_EVENT => self.handle_event_item(&item).await,
                KIND_LIFECYCLE => self.handle_lifecycle_item(&item).await,
                other => Err(CallError::Permanent(format!("unknown inbox kind {other}"))),
            };
            let outcome = match result {
                Ok(()) => self.store().complete_inbox(&item.claim, self.now()).await,
                Err(err @ CallError::Permanent(_)) => {
                    tracing::error!(item = item.claim.id, error = %err, "calendar notification dead-lettered");
                    self.store()
                        .dead_letter_inbox(&item.claim, &err.to_string(), self.now())
                        .await
                }
                // Throttling, a held delivery or a refused app secret is waiting, not failing:
                // the item is given back without using its attempts.
                Err(err) if err.postpones() => {
                    let wait = match &err {
                        CallError::Throttled(Some(after)) => *after,
                        CallError::Throttled(None) => Duration::from_secs(5),
                        CallError::Held(left) => *left + Duration::from_secs(1),
                        _ => crate::graph::APP_CREDENTIALS_RETRY,
                    };
                    tracing::debug!(item = item.claim.id, error = %err, ?wait, "calendar notification postponed");
                    let at =
                        self.now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::minutes(5));
                    self.store()
                        .postpone_inbox(&item.claim, &err.to_string(), at)
                        .await
                }
                Err(err) if item.failures + 1 >= MAX_ATTEMPTS => {
                    tracing::error!(item = item.claim.id, error = %err, "calendar notification failed too often; dead-lettered");
                    self.store()
                        .dead_letter_inbox(&item.claim, &err.to_string(), self.now())
                        .await
                }
                Err(err) => {
                    let wait =
                        Duration::from_secs(2u64.saturating_pow(
                            u32::try_from(item.failures.clamp(0, 9)).unwrap_or(9) + 1,
                        ));
                    tracing::debug!(item = item.claim.id, error = %err, ?wait, "calendar notification will be retried");
                    let at =
                        self.now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::minutes(1));
                    self.store()
                        .retry_inbox(&item.claim, &err.to_string(), at)
                        .await
                }
            };
            match outcome {
                Err(store::StoreError::LeaseLost { .. }) | Ok(()) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(n)
    }

    /// The owner of the subscription a notification came through, if we know it.
    async fn subscription_owner(
        &self,
        notification: &ChangeNotification,
    ) -> Result<Option<CalendarUser>, CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let Some(subscription) = self
            .store()
            .subscription(&notification.subscription_id)
            .await
            .map_err(store_err)?
        else {
            tracing::info!(subscription_id = %notification.subscription_id, "a calendar notification for a subscription we do not hold; ignored");
            return Ok(None);
        };
        let Some(owner) = subscription.owner_mm_user_id else {
            return Ok(None);
        };
        self.calendar_user(&owner).await.map_err(store_err)
    }

    async fn handle_event_item(&self, item: &InboxItem) -> Result<(), CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let notification = ChangeNotification::from_stored(&item.payload)
            .map_err(|e| CallError::Permanent(format!("unreadable notification: {e}")))?;
        let Some(user) = self.subscription_owner(&notification).await? else {
            return Ok(());
        };
        let Some(event_id) = event_id(&notification) else {
            return Err(CallError::Permanent(
                "a calendar notification without an event id".into(),
            ));
        };
        if notification.change_type != "deleted" {
            match self.read_event(&user, &event_id).await? {
                Some(event) => self.tell_about(&user, &event).await?,
                None => tracing::debug!(mm_user_id = user.mm_user_id(), "a notified event is gone"),
            }
        }
        // Reminders and status follow the change at the next tick.
        self.calendar_changed(user.mm_user_id())
            .await
            .map_err(store_err)
    }

    /// The DMs an event's current state calls for, each once.
    async fn tell_about(&self, user: &CalendarUser, event: &Event) -> Result<(), CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let mm_user_id = user.mm_user_id();
        let seen_key = format!("event-seen:{}", event.id);
        let version_key = format!("event-version:{}:{}", event.id, version(event));
        // A series goes on after its first occurrence (all Graph tells of its time) has passed.
        let over = !event.recurring && event.end_in(user.tz_or_utc()) <= self.now();
        // Own events, and everything while invitations are off, are only recorded, so that
        // turning invitations on later does not replay old news.
        if event.is_organizer || !user.settings.invitations || over {
            self.record_once(mm_user_id, &version_key)
                .await
                .map_err(store_err)?;
            self.record_once(mm_user_id, &seen_key)
                .await
                .map_err(store_err)?;
            return Ok(());
        }
        if event.is_cancelled {
            let text = format!(
                "**Cancelled**{}: {}\n{}",
                organizer(event),
                event_title(event),
                when(event, user)
            );
            return self
                .dm(
                    DmKind::Cancelled,
                    mm_user_id,
                    &format!("event-cancelled:{}", event.id),
                    &text,
                    &[],
                )
                .await;
        }
        let seen = self
            .recorded(mm_user_id, &seen_key)
            .await
            .map_err(store_err)?;
        if !seen {
            // The first we hear of it: this version is the one the user knows.
            self.record_once(mm_user_id, &version_key)
                .await
                .map_err(store_err)?;
            if matches!(
                event.response,
                ResponseStatus::None | ResponseStatus::NotResponded
            ) {
                self.dm(
                    DmKind::Invitation,
                    mm_user_id,
                    &format!("invitation:{}", event.id),
                    &invitation_text(event, user),
                    &invitation_buttons(&event.id),
                )
                .await?;
            }
            self.record_once(mm_user_id, &seen_key)
                .await
                .map_err(store_err)?;
            return Ok(());
        }
        // Seen before: a new time or place is news, once per version.
        let text = format!(
            "**Updated**{}: {}\nNow {}{}",
            organizer(event),
            event_title(event),
            when(event, user),
            event_details(event)
        );
        // A move resets the attendees' answers in Outlook: ask again, with the same buttons.
        let buttons = if !event.is_organizer
            && matches!(
                event.response,
                ResponseStatus::None | ResponseStatus::NotResponded
            ) {
            invitation_buttons(&event.id)
        } else {
            Vec::new()
        };
        self.dm(DmKind::Updated, mm_user_id, &version_key, &text, &buttons)
            .await
    }

    async fn dm(
        &self,
        kind: DmKind,
        mm_user_id: &str,
        key: &str,
        text: &str,
        buttons: &[Button],
    ) -> Result<(), CallError> {
        match self.dm_once(kind, mm_user_id, key, text, buttons).await {
            Ok(Sent::Posted(_) | Sent::Already) => Ok(()),
            Ok(Sent::Held(until)) => Err(CallError::Held(
                (until - self.now()).to_std().unwrap_or_default(),
            )),
            Err(err) => Err(CallError::Transient(err.to_string())),
        }
    }

    async fn handle_lifecycle_item(&self, item: &InboxItem) -> Result<(), CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let notification = ChangeNotification::from_stored(&item.payload)
            .map_err(|e| CallError::Permanent(format!("unreadable notification: {e}")))?;
        let Some(subscription) = self
            .store()
            .subscription(&notification.subscription_id)
            .await
            .map_err(store_err)?
        else {
            return Ok(());
        };
        let owner = subscription.owner_mm_user_id.clone();
        match notification.lifecycle_event {
            Some(LifecycleEvent::SubscriptionRemoved) => {
                tracing::info!(subscription_id = %subscription.id, "Graph removed a calendar subscription; it is recreated");
                self.store()
                    .delete_subscription(&subscription.id)
                    .await
                    .map_err(store_err)?;
                self.linking.signed_in.notify_one();
            }
            Some(LifecycleEvent::ReauthorizationRequired) => {
                self.renew_subscription(&subscription).await?;
            }
            Some(LifecycleEvent::Missed) | Some(LifecycleEvent::Other(_)) | None => {}
        }
        // Whatever happened, what we know of the calendar may be behind: read it again.
        if let Some(owner) = owner {
            self.calendar_changed(&owner).await.map_err(store_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(resource: &str, id: Option<&str>) -> ChangeNotification {
        let data = match id {
            Some(id) => format!(r#","resourceData":{{"id":"{id}"}}"#),
            None => String::new(),
        };
        ChangeNotification::from_stored(&format!(
            r#"{{"subscriptionId":"s","changeType":"updated","resource":"{resource}"{data}}}"#
        ))
        .expect("notification")
    }

    #[test]
    fn the_event_id_comes_from_resource_data_or_the_resource() {
        assert_eq!(
            event_id(&notification("Users/u/Events/AAMk1", Some("AAMk2"))).as_deref(),
            Some("AAMk2")
        );
        assert_eq!(
            event_id(&notification("Users/u/Events/AAMk1", None)).as_deref(),
            Some("AAMk1")
        );
        assert_eq!(
            event_id(&notification("Users('u')/Events('AAMk3')", None)).as_deref(),
            Some("AAMk3")
        );
        assert_eq!(event_id(&notification("Users/u/Events", None)), None);
    }

    #[test]
    fn a_version_changes_with_time_or_place_only() {
        let start = chrono::Utc::now();
        let mut event = Event::new(
            "e",
            "Plan",
            EventTime::timed(start, start + TimeDelta::hours(1)),
        );
        let first = version(&event);
        event.subject = "Plan (renamed)".into();
        assert_eq!(version(&event), first);
        event.location = Some("Room 4".into());
        assert_ne!(version(&event), first);
        let placed = version(&event);
        event.when = EventTime::timed(start + TimeDelta::hours(1), start + TimeDelta::hours(2));
        assert_ne!(version(&event), placed);
    }
}
