//! The calendar calls against the graph-emulator: calendarView across pages, many users' days in
//! JSON batches (retries, paging and errors per item), mailbox time zones, events by id,
//! answers to invitations, event subscriptions with their notifications, and all-day events.

mod common;
#[path = "common/webhook.rs"]
mod webhook;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use common::{CLIENT_ID, Tenant, tenant};
use graph_emulator::{
    EventUpdate, Fault, FaultRule, LifecycleEvent as EmulatorLifecycle, NewEvent, NewUser, User,
};
use secrecy::SecretString;
use teams_graph::calendar::{
    CalendarEvent, CalendarViewRequest, EventResponse, event_ids, event_subscription,
    event_subscription_expiration,
};
use teams_graph::{GraphClient, GraphError, GraphObserver, LifecycleEvent};
use webhook::Webhook;

const CLIENT_STATE: &str = "calendar-client-state-5678";
const BATCH_ROUTE: &str = "POST /v1.0/$batch";
const USER_VIEW_ROUTE: &str = "GET /v1.0/users/{id}/calendarView";

/// Every (endpoint, status) the observer was told of.
type Calls = Arc<Mutex<Vec<(&'static str, u16)>>>;

fn calls_to(calls: &Calls, endpoint: &str) -> Vec<u16> {
    calls
        .lock()
        .expect("calls")
        .iter()
        .filter(|(e, _)| *e == endpoint)
        .map(|(_, status)| *status)
        .collect()
}

fn client(t: &Tenant, token: String) -> (GraphClient, Calls) {
    let calls: Calls = Arc::default();
    let sink = calls.clone();
    let observer: GraphObserver = Arc::new(move |endpoint, status| {
        sink.lock().expect("calls").push((endpoint, status));
    });
    let graph = GraphClient::new(&t.endpoints, &SecretString::from(token))
        .expect("graph client")
        .with_observer(observer);
    (graph, calls)
}

/// A client with an application token, as the calendar jobs have.
fn app_client(t: &Tenant) -> (GraphClient, Calls) {
    client(t, t.graph.app_token(CLIENT_ID))
}

/// A client with `user_id`'s delegated token.
fn user_client(t: &Tenant, user_id: &str) -> (GraphClient, Calls) {
    client(t, t.graph.user_token(CLIENT_ID, user_id))
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("date")
        .with_timezone(&Utc)
}

fn subjects(events: &[CalendarEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.subject.as_deref().unwrap_or_default())
        .collect()
}

fn add_users(t: &Tenant, count: usize) -> Vec<User> {
    (0..count)
        .map(|i| {
            t.graph.add_user(NewUser::new(
                &format!("User {i}"),
                &format!("user{i}@contoso.com"),
            ))
        })
        .collect()
}

/// `count` half-hour meetings of `user` from `first`, five minutes apart, subjects `{prefix}-000`…
fn add_meetings(t: &Tenant, user: &str, prefix: &str, first: DateTime<Utc>, count: i64) {
    for i in 0..count {
        let mut meeting = NewEvent::meeting(
            user,
            &format!("{prefix}-{i:03}"),
            first + TimeDelta::minutes(5 * i),
        );
        meeting.end = meeting.start + TimeDelta::minutes(30);
        t.graph.add_event(meeting);
    }
}

fn view(user: &User, day: DateTime<Utc>) -> CalendarViewRequest {
    CalendarViewRequest {
        user_id: user.id.clone(),
        start: day,
        end: day + TimeDelta::days(1),
    }
}

#[tokio::test]
async fn the_calendar_view_reads_every_page_past_100_events() {
    let t = tenant().await;
    let day = at("2026-11-23T00:00:00Z");
    add_meetings(&t, &t.alice.id, "E", day, 250);
    // Outside the window.
    t.graph.add_event(NewEvent::meeting(
        &t.alice.id,
        "Tomorrow",
        day + TimeDelta::hours(30),
    ));
    let (graph, calls) = app_client(&t);
    // The second page is throttled once: it is asked for again, not the whole listing.
    t.graph.inject_fault(
        FaultRule::new(
            &format!("/v1.0/users/{}/calendarView", t.alice.id),
            Fault::Throttle {
                retry_after: Some("0.05".into()),
            },
        )
        .every(2)
        .times(1),
    );
    let events = graph
        .calendar_view(Some(&t.alice.id), day, day + TimeDelta::days(1))
        .await
        .expect("events");
    assert_eq!(events.len(), 250);
    let expected: Vec<String> = (0..250).map(|i| format!("E-{i:03}")).collect();
    assert_eq!(subjects(&events), expected);
    assert_eq!(events[0].start_utc(), Some(day));
    assert_eq!(
        events[249].end_utc(),
        Some(day + TimeDelta::minutes(5 * 249 + 30))
    );
    assert_eq!(events[0].start.time_zone, "UTC");
    assert_eq!(events[0].event_type, "singleInstance");
    assert_eq!(calls_to(&calls, "calendar_view"), [200, 429, 200, 200]);
    assert_eq!(t.graph.request_count(USER_VIEW_ROUTE), 4);

    // The signed-in user's own calendar, with a delegated token: /me.
    let (mine, _) = user_client(&t, &t.alice.id);
    let events = mine
        .calendar_view(None, day, day + TimeDelta::days(1))
        .await
        .expect("my events");
    assert_eq!(events.len(), 250);
    assert_eq!(t.graph.request_count("GET /v1.0/me/calendarView"), 3);

    // Someone else's calendar with a delegated token is refused.
    let err = mine
        .calendar_view(Some(&t.bob.id), day, day + TimeDelta::days(1))
        .await
        .expect_err("denied");
    assert!(matches!(err, GraphError::Forbidden { .. }), "{err}");
}

#[tokio::test]
async fn twenty_five_users_days_take_two_batch_posts() {
    let t = tenant().await;
    let day = at("2026-11-23T00:00:00Z");
    let users = add_users(&t, 25);
    for (i, user) in users.iter().enumerate() {
        for j in 0..=(i % 3) {
            let start = day + TimeDelta::hours(8 + i64::try_from(j).expect("small"));
            t.graph
                .add_event(NewEvent::meeting(&user.id, &format!("u{i}-{j}"), start));
        }
        t.graph.add_event(NewEvent::meeting(
            &user.id,
            "next day",
            day + TimeDelta::hours(33),
        ));
    }
    let (graph, calls) = app_client(&t);
    let requests: Vec<CalendarViewRequest> = users.iter().map(|u| view(u, day)).collect();

    let results = graph.calendar_views_batch(&requests).await;
    assert_eq!(results.len(), 25);
    for (i, result) in results.iter().enumerate() {
        let events = result.as_ref().expect("events");
        let expected: Vec<String> = (0..=(i % 3)).map(|j| format!("u{i}-{j}")).collect();
        assert_eq!(subjects(events), expected, "user {i}");
        assert_eq!(
            events[0].start_utc(),
            Some(day + TimeDelta::hours(8)),
            "in UTC"
        );
    }
    assert_eq!(t.graph.request_count(BATCH_ROUTE), 2, "20 + 5");
    assert_eq!(t.graph.request_count(USER_VIEW_ROUTE), 25);
    assert_eq!(calls_to(&calls, "calendar_views_batch"), [200, 200]);

    // Twenty users' days are one request.
    t.graph.reset_request_counts();
    let results = graph.calendar_views_batch(&requests[..20]).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(t.graph.request_count(BATCH_ROUTE), 1);
    // None is none.
    assert!(graph.calendar_views_batch(&[]).await.is_empty());
    assert_eq!(t.graph.request_count(BATCH_ROUTE), 1);
}

#[tokio::test]
async fn batch_items_are_paged_retried_and_fail_on_their_own() {
    let t = tenant().await;
    let day = at("2026-11-23T00:00:00Z");
    let users = add_users(&t, 4);
    let [busy, busier, throttled, unavailable] = [&users[0], &users[1], &users[2], &users[3]];
    add_meetings(&t, &busy.id, "busy", day, 130);
    add_meetings(&t, &busier.id, "busier", day, 120);
    add_meetings(&t, &throttled.id, "throttled", day, 2);
    add_meetings(&t, &unavailable.id, "unavailable", day, 1);
    t.graph.inject_fault(
        FaultRule::new(
            &format!("/v1.0/users/{}/calendarView", throttled.id),
            Fault::Throttle {
                retry_after: Some("0.2".into()),
            },
        )
        .times(1),
    );
    t.graph.inject_fault(
        FaultRule::new(
            &format!("/v1.0/users/{}/calendarView", unavailable.id),
            Fault::Unavailable,
        )
        .times(1),
    );
    let mut requests: Vec<CalendarViewRequest> = users.iter().map(|u| view(u, day)).collect();
    requests.insert(
        2,
        CalendarViewRequest {
            user_id: "nobody@contoso.com".into(),
            start: day,
            end: day + TimeDelta::days(1),
        },
    );
    let (graph, calls) = app_client(&t);

    let started = Instant::now();
    let results = graph.calendar_views_batch(&requests).await;
    let count = |i: usize| results[i].as_ref().map(Vec::len);
    assert_eq!(count(0), Ok(130), "two pages");
    assert_eq!(count(1), Ok(120), "two pages");
    assert_eq!(results[2], Err(GraphError::NotFound), "that user only");
    assert_eq!(count(3), Ok(2), "retried after Retry-After");
    assert_eq!(count(4), Ok(1), "retried after a 503");
    let busy_events = results[0].as_ref().expect("events");
    assert_eq!(
        busy_events[100].subject.as_deref(),
        Some("busy-100"),
        "pages in order"
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    // The second round carries both follow-up pages and both retries.
    assert_eq!(t.graph.request_count(BATCH_ROUTE), 2);
    assert_eq!(calls_to(&calls, "calendar_views_batch"), [200, 200]);
    assert_eq!(t.graph.request_count(USER_VIEW_ROUTE), 9);
}

#[tokio::test]
async fn an_item_throttled_past_its_retries_fails_alone() {
    let t = tenant().await;
    let day = at("2026-11-23T00:00:00Z");
    t.graph.add_event(NewEvent::meeting(
        &t.bob.id,
        "Bob's",
        day + TimeDelta::hours(9),
    ));
    t.graph.inject_fault(FaultRule::new(
        &format!("/v1.0/users/{}/calendarView", t.alice.id),
        Fault::Throttle {
            retry_after: Some("0.01".into()),
        },
    ));
    let (graph, _) = app_client(&t);
    let results = graph
        .calendar_views_batch(&[view(&t.alice, day), view(&t.bob, day)])
        .await;
    assert_eq!(
        results[0],
        Err(GraphError::Throttled {
            retry_after: Some(Duration::from_millis(10))
        })
    );
    assert_eq!(results[1].as_ref().map(|e| subjects(e)), Ok(vec!["Bob's"]));
    assert_eq!(
        t.graph.request_count(BATCH_ROUTE),
        5,
        "a try and four retries"
    );

    // A throttled $batch POST is retried as a whole.
    t.graph.clear_faults();
    t.graph.reset_request_counts();
    t.graph.inject_fault(
        FaultRule::new(
            "/v1.0/$batch",
            Fault::Throttle {
                retry_after: Some("0.05".into()),
            },
        )
        .times(1),
    );
    let results = graph.calendar_views_batch(&[view(&t.bob, day)]).await;
    assert_eq!(results[0].as_ref().map(Vec::len), Ok(1));
    assert_eq!(t.graph.request_count(BATCH_ROUTE), 2);
}

#[tokio::test]
async fn mailbox_time_zones_one_by_one_and_in_batches() {
    let t = tenant().await;
    t.graph
        .set_mailbox_time_zone(&t.bob.id, "Pacific Standard Time");
    let carol = t
        .graph
        .add_user(NewUser::new("Carol White", "carol@contoso.com"));
    t.graph.set_mailbox_time_zone(&carol.id, "Asia/Tokyo");
    let (graph, calls) = app_client(&t);

    let ids = vec![
        t.alice.id.clone(),
        t.bob.id.clone(),
        "nobody@contoso.com".to_owned(),
        carol.id.clone(),
    ];
    let zones = graph.mailbox_time_zones_batch(&ids).await;
    assert_eq!(
        zones,
        [
            Ok("UTC".to_owned()),
            Ok("Pacific Standard Time".to_owned()),
            Err(GraphError::NotFound),
            Ok("Asia/Tokyo".to_owned()),
        ]
    );
    assert_eq!(t.graph.request_count(BATCH_ROUTE), 1);
    assert_eq!(calls_to(&calls, "mailbox_time_zones_batch"), [200]);

    // 25 mailboxes: two POSTs.
    let many: Vec<String> = add_users(&t, 25).into_iter().map(|u| u.id).collect();
    let zones = graph.mailbox_time_zones_batch(&many).await;
    assert!(zones.iter().all(|z| z.as_deref() == Ok("UTC")));
    assert_eq!(t.graph.request_count(BATCH_ROUTE), 3);

    assert_eq!(
        graph.mailbox_time_zone(Some(&t.bob.id)).await.as_deref(),
        Ok("Pacific Standard Time")
    );
    let (bob, _) = user_client(&t, &t.bob.id);
    assert_eq!(
        bob.mailbox_time_zone(None).await.as_deref(),
        Ok("Pacific Standard Time")
    );
    assert_eq!(
        graph.mailbox_time_zone(Some("nobody@contoso.com")).await,
        Err(GraphError::NotFound)
    );
}

#[tokio::test]
async fn answering_an_invitation_updates_both_calendars() {
    let t = tenant().await;
    let carol = t
        .graph
        .add_user(NewUser::new("Carol White", "carol@contoso.com"));
    let start = at("2026-11-25T14:00:00Z");
    let mut review = NewEvent::meeting(&t.alice.id, "Design review", start);
    review.attendees = vec![t.bob.id.clone(), carol.id.clone()];
    review.online_meeting = true;
    review.location = Some("Room 1".into());
    let organizer_copy = t.graph.add_event(review);
    let window = (start - TimeDelta::hours(1), start + TimeDelta::hours(2));

    let (bob, bob_calls) = user_client(&t, &t.bob.id);
    let invitations = bob
        .calendar_view(None, window.0, window.1)
        .await
        .expect("bob's events");
    assert_eq!(invitations.len(), 1);
    let invitation = &invitations[0];
    assert_eq!(invitation.response.as_deref(), Some("none"));
    assert!(!invitation.is_organizer);
    assert_eq!(invitation.show_as.as_deref(), Some("tentative"));
    assert_eq!(invitation.organizer_name.as_deref(), Some("Alice Smith"));
    assert_eq!(
        invitation.organizer_address.as_deref(),
        Some("alice@contoso.com")
    );
    assert_eq!(invitation.attendee_count(), 2);
    assert_eq!(invitation.location.as_deref(), Some("Room 1"));
    assert!(
        invitation
            .join_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://teams.microsoft.com/l/meetup-join/"))
    );
    assert_eq!(
        invitation.ical_uid.as_deref(),
        Some(organizer_copy.ical_uid.as_str())
    );

    bob.respond_to_event(&invitation.id, EventResponse::Accept, Some("see you"), true)
        .await
        .expect("accepted");
    let accepted = bob
        .event(None, &invitation.id)
        .await
        .expect("read")
        .expect("still there");
    assert_eq!(
        accepted.response.as_deref(),
        Some(EventResponse::Accept.status())
    );
    assert_eq!(accepted.show_as.as_deref(), Some("busy"));

    let (alice, _) = user_client(&t, &t.alice.id);
    let organizer_view = |event: CalendarEvent| {
        event
            .attendees
            .iter()
            .map(|a| (a.email.address.clone(), a.response.clone()))
            .collect::<Vec<_>>()
    };
    let mine = alice
        .event(None, &organizer_copy.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(mine.response.as_deref(), Some("organizer"));
    assert_eq!(
        organizer_view(mine),
        [
            ("bob@contoso.com".to_owned(), "accepted".to_owned()),
            ("carol@contoso.com".to_owned(), "none".to_owned()),
        ]
    );

    // Carol answers without telling the organizer: only her calendar changes.
    let (carol_graph, _) = user_client(&t, &carol.id);
    let carol_copy = &t.graph.events(&carol.id)[0];
    carol_graph
        .respond_to_event(&carol_copy.id, EventResponse::Tentative, None, false)
        .await
        .expect("tentative");
    let hers = carol_graph
        .event(None, &carol_copy.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(hers.response.as_deref(), Some("tentativelyAccepted"));
    let mine = alice
        .event(None, &organizer_copy.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(organizer_view(mine)[1].1, "none");

    // Refusals a user can be shown: the organizer cannot answer; a gone event is NotFound.
    let own = alice
        .respond_to_event(&organizer_copy.id, EventResponse::Decline, None, true)
        .await
        .expect_err("refused");
    match &own {
        GraphError::Api {
            status: 400,
            message,
            ..
        } => assert!(message.contains("meeting you organized"), "{message}"),
        other => panic!("not a 400: {other}"),
    }
    assert_eq!(
        bob.respond_to_event("AAMkAGmissing", EventResponse::Decline, None, true)
            .await,
        Err(GraphError::NotFound)
    );
    assert_eq!(bob.event(None, "AAMkAGmissing").await, Ok(None));
    assert_eq!(calls_to(&bob_calls, "respond_to_event"), [202, 404]);

    // Once cancelled, Bob's copy says so and cannot be answered any more.
    t.graph
        .cancel_event(&organizer_copy.ical_uid)
        .expect("cancel");
    let cancelled = bob
        .event(None, &invitation.id)
        .await
        .expect("read")
        .expect("there");
    assert!(cancelled.is_cancelled);
    let late = bob
        .respond_to_event(&invitation.id, EventResponse::Accept, None, true)
        .await;
    assert!(
        matches!(late, Err(GraphError::Api { status: 400, .. })),
        "{late:?}"
    );
    assert_eq!(alice.event(None, &organizer_copy.id).await, Ok(None));
}

#[tokio::test]
async fn event_subscriptions_deliver_adds_moves_relocations_and_cancellations() {
    let t = tenant().await;
    let hook = Webhook::start();
    let (graph, _) = app_client(&t);
    let now = Utc::now();

    // Bob's calendar with the app token; Alice's own with hers (/me/events).
    let new = event_subscription(
        Some(&t.bob.id),
        &hook.url("/bob"),
        Some(&hook.url("/lifecycle")),
        CLIENT_STATE,
        now,
    );
    let subscription = graph.create_subscription(&new).await.expect("subscribed");
    assert_eq!(subscription.resource, format!("/users/{}/events", t.bob.id));
    assert_eq!(
        subscription.expiration_date_time.timestamp(),
        new.expiration.timestamp()
    );
    let (alice, _) = user_client(&t, &t.alice.id);
    alice
        .create_subscription(&event_subscription(
            None,
            &hook.url("/alice"),
            None,
            CLIENT_STATE,
            now,
        ))
        .await
        .expect("subscribed to /me/events");

    let start = at("2026-11-25T14:00:00Z");
    let mut review = NewEvent::meeting(&t.alice.id, "Design review", start);
    review.attendees = vec![t.bob.id.clone()];
    let organizer_copy = t.graph.add_event(review);

    let created = hook.wait_for("/bob", 1).await;
    let item = &created[0].item;
    assert!(item.client_state_matches(CLIENT_STATE));
    assert_eq!(item.change_type, "created");
    let (user, event_id) = event_ids(item).expect("event ids");
    assert_eq!(user, t.bob.id);
    let invitation = graph
        .event(Some(&user), &event_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(invitation.subject.as_deref(), Some("Design review"));
    let alice_created = hook.wait_for("/alice", 1).await;
    assert_eq!(
        event_ids(&alice_created[0].item),
        Some((t.alice.id.clone(), organizer_copy.id.clone()))
    );

    // Moved.
    let later = start + TimeDelta::hours(2);
    t.graph
        .reschedule_event(&organizer_copy.ical_uid, later)
        .expect("moved");
    let changes = hook.wait_for("/bob", 2).await;
    assert_eq!(changes[1].item.change_type, "updated");
    assert_eq!(
        event_ids(&changes[1].item),
        Some((user.clone(), event_id.clone()))
    );
    let moved = graph
        .event(Some(&user), &event_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(moved.start_utc(), Some(later));
    assert_eq!(moved.end_utc(), Some(later + TimeDelta::hours(1)));

    // Relocated.
    t.graph
        .update_event(
            &organizer_copy.ical_uid,
            EventUpdate {
                location: Some(Some("Room 42".into())),
                ..EventUpdate::default()
            },
        )
        .expect("relocated");
    let changes = hook.wait_for("/bob", 3).await;
    assert_eq!(changes[2].item.change_type, "updated");
    let relocated = graph
        .event(Some(&user), &event_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(relocated.location.as_deref(), Some("Room 42"));

    // Cancelled: Bob's copy is updated, Alice's (the organizer's) deleted.
    t.graph
        .cancel_event(&organizer_copy.ical_uid)
        .expect("cancelled");
    let changes = hook.wait_for("/bob", 4).await;
    assert_eq!(changes[3].item.change_type, "updated");
    let cancelled = graph
        .event(Some(&user), &event_id)
        .await
        .expect("read")
        .expect("there");
    assert!(cancelled.is_cancelled);
    let alice_changes = hook.wait_for("/alice", 4).await;
    let last = &alice_changes.last().expect("a change").item;
    assert_eq!(last.change_type, "deleted");
    assert_eq!(
        event_ids(last),
        Some((t.alice.id.clone(), organizer_copy.id.clone()))
    );
    assert_eq!(
        graph.event(Some(&t.alice.id), &organizer_copy.id).await,
        Ok(None)
    );

    // Lifecycle events reach the lifecycle URL; renewal and deletion work as for chats.
    t.graph
        .trigger_lifecycle(&subscription.id, EmulatorLifecycle::Missed)
        .expect("lifecycle");
    let lifecycle = hook.wait_for("/lifecycle", 1).await;
    assert_eq!(
        lifecycle[0].item.lifecycle_event,
        Some(LifecycleEvent::Missed)
    );
    assert_eq!(lifecycle[0].item.subscription_id, subscription.id);
    let renewed = graph
        .renew_subscription(&subscription.id, event_subscription_expiration(Utc::now()))
        .await
        .expect("renewed");
    assert!(renewed.expiration_date_time > subscription.expiration_date_time);
    let too_long = graph
        .renew_subscription(&subscription.id, Utc::now() + TimeDelta::minutes(4231))
        .await;
    assert!(
        matches!(too_long, Err(GraphError::Api { status: 400, .. })),
        "{too_long:?}"
    );
    assert_eq!(graph.delete_subscription(&subscription.id).await, Ok(true));
}

#[tokio::test]
async fn all_day_events_keep_their_dates_and_reminders_are_read() {
    let t = tenant().await;
    t.graph
        .set_mailbox_time_zone(&t.bob.id, "Pacific Standard Time");
    let mut holiday = NewEvent::meeting(&t.bob.id, "Holidays", at("2026-12-24T00:00:00Z"));
    holiday.end = at("2026-12-26T00:00:00Z");
    holiday.is_all_day = true;
    holiday.show_as = "oof".into();
    holiday.time_zone = "Tokyo Standard Time".into();
    holiday.is_reminder_on = false;
    t.graph.add_event(holiday);
    let mut call = NewEvent::meeting(&t.bob.id, "Call", at("2026-12-24T17:00:00Z"));
    call.reminder_minutes = Some(5);
    t.graph.add_event(call);
    let mut quiet = NewEvent::meeting(&t.bob.id, "Quiet", at("2026-12-24T18:00:00Z"));
    quiet.reminder_minutes = None;
    t.graph.add_event(quiet);

    let (graph, _) = app_client(&t);
    let start = at("2026-12-24T12:00:00Z");
    let end = start + TimeDelta::days(1);
    let direct = graph
        .calendar_view(Some(&t.bob.id), start, end)
        .await
        .expect("events");
    let batched = graph
        .calendar_views_batch(&[CalendarViewRequest {
            user_id: t.bob.id.clone(),
            start,
            end,
        }])
        .await
        .remove(0)
        .expect("events");
    assert_eq!(direct, batched);
    assert_eq!(subjects(&direct), ["Holidays", "Call", "Quiet"]);

    let holidays = &direct[0];
    assert!(holidays.is_all_day);
    let date = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).expect("date");
    assert_eq!(holidays.all_day_dates(), Some((date(24), date(26))));
    assert_eq!(holidays.start.date_time, "2026-12-24T00:00:00.0000000");
    assert_eq!(holidays.start.time_zone, "UTC");
    assert_eq!(holidays.start_utc(), None, "floating dates, not instants");
    assert_eq!(holidays.show_as.as_deref(), Some("oof"));
    assert_eq!(holidays.is_reminder_on, Some(false));

    let call = &direct[1];
    assert_eq!(call.all_day_dates(), None);
    assert_eq!(call.start_utc(), Some(at("2026-12-24T17:00:00Z")));
    assert_eq!(
        (call.is_reminder_on, call.reminder_minutes_before_start),
        (Some(true), Some(5))
    );
    let quiet = &direct[2];
    assert_eq!(
        (quiet.is_reminder_on, quiet.reminder_minutes_before_start),
        (Some(true), None),
        "left out by Graph, not made up"
    );
}
