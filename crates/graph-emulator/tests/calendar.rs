//! Calendars: invitations in each attendee's mailbox, calendarView with recurrences and
//! `Prefer: outlook.timezone`, responses, cancellations, mailbox settings and notifications.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{CLIENT_ID, Receiver, Validation, json, tenant};
use graph_emulator::{NewEvent, Recurrence};
use serde_json::{Value, json};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("date")
        .with_timezone(&Utc)
}

async fn get(url: String, token: &str, prefer: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new().get(url).bearer_auth(token);
    if let Some(zone) = prefer {
        request = request.header("Prefer", format!("outlook.timezone=\"{zone}\""));
    }
    let response = request.send().await.expect("get");
    let applied = response
        .headers()
        .get("Preference-Applied")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, body) = json(response).await;
    (status, body, applied)
}

#[tokio::test]
async fn calendar_view_expands_recurrences_in_the_preferred_zone() {
    let t = tenant().await;
    let mut standup = NewEvent::meeting(&t.alice.id, "Stand-up", at("2026-11-23T08:30:00Z"));
    standup.end = standup.start + TimeDelta::minutes(15);
    standup.time_zone = "W. Europe Standard Time".into();
    standup.recurrence = Some(Recurrence::Daily { count: 5 });
    standup.attendees = vec![t.bob.id.clone()];
    standup.online_meeting = true;
    let organizer_copy = t.graph.add_event(standup);
    t.graph.add_event(NewEvent::meeting(
        &t.alice.id,
        "Lunch",
        at("2026-11-24T11:00:00Z"),
    ));
    t.graph.add_event(NewEvent::meeting(
        &t.alice.id,
        "Next week",
        at("2026-12-01T11:00:00Z"),
    ));

    let token = t.graph.user_token(CLIENT_ID, &t.alice.id);
    let url = format!(
        "{}/me/calendarView?startDateTime=2026-11-24T00:00:00Z&endDateTime=2026-11-25T00:00:00Z",
        t.graph.graph_url()
    );
    let (status, body, applied) = get(url.clone(), &token, Some("W. Europe Standard Time")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        applied.as_deref(),
        Some("outlook.timezone=\"W. Europe Standard Time\"")
    );
    let events = body["value"].as_array().expect("value");
    let subjects: Vec<&str> = events
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .collect();
    assert_eq!(
        subjects,
        ["Stand-up", "Lunch"],
        "the day's occurrence and single event, by start"
    );
    let occurrence = &events[0];
    assert_eq!(occurrence["type"], "occurrence");
    assert_eq!(occurrence["seriesMasterId"], organizer_copy.id.as_str());
    assert_eq!(
        occurrence["start"]["dateTime"], "2026-11-24T09:30:00.0000000",
        "UTC+1 in November"
    );
    assert_eq!(occurrence["start"]["timeZone"], "W. Europe Standard Time");
    assert_eq!(occurrence["end"]["dateTime"], "2026-11-24T09:45:00.0000000");
    assert_eq!(occurrence["isOrganizer"], true);
    assert_eq!(occurrence["responseStatus"]["response"], "organizer");
    let join = occurrence["onlineMeeting"]["joinUrl"]
        .as_str()
        .expect("join url");
    assert!(join.starts_with("https://teams.microsoft.com/l/meetup-join/"));
    assert_eq!(
        occurrence["attendees"][0]["emailAddress"]["address"],
        "bob@contoso.com"
    );
    assert_eq!(
        occurrence["organizer"]["emailAddress"]["name"],
        "Alice Smith"
    );

    // Without the header, times are UTC.
    let (_, body, applied) = get(url, &token, None).await;
    assert!(applied.is_none());
    assert_eq!(
        body["value"][0]["start"]["dateTime"],
        "2026-11-24T08:30:00.0000000"
    );
    assert_eq!(body["value"][0]["start"]["timeZone"], "UTC");

    // The series master shows its recurrence.
    let (_, master, _) = get(
        format!("{}/me/events/{}", t.graph.graph_url(), organizer_copy.id),
        &token,
        None,
    )
    .await;
    assert_eq!(master["type"], "seriesMaster");
    assert_eq!(master["recurrence"]["pattern"]["type"], "daily");
    assert_eq!(master["recurrence"]["range"]["numberOfOccurrences"], 5);

    // A window is required.
    let (status, body, _) = get(
        format!("{}/me/calendarView", t.graph.graph_url()),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "ErrorInvalidParameter");
}

#[tokio::test]
async fn invitations_responses_cancellations_and_notifications() {
    let t = tenant().await;
    let receiver = Receiver::start(Validation::Echo).await;
    let app = t.graph.app_token(CLIENT_ID);
    let subscription = json!({
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url,
        "resource": format!("/users/{}/events", t.bob.id),
        "expirationDateTime": (Utc::now() + TimeDelta::minutes(4000)).to_rfc3339(),
        "lifecycleNotificationUrl": receiver.url,
        "clientState": "cal",
    });
    let response = reqwest::Client::new()
        .post(format!("{}/subscriptions", t.graph.graph_url()))
        .bearer_auth(&app)
        .json(&subscription)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(response.status().as_u16(), 201);

    let mut review = NewEvent::meeting(&t.alice.id, "Design review", at("2026-11-25T14:00:00Z"));
    review.attendees = vec![t.bob.id.clone(), t.carol.id.clone()];
    let organizer_copy = t.graph.add_event(review);
    let got = receiver.wait_for(1).await;
    let item = &got[0]["value"][0];
    assert_eq!(item["changeType"], "created");
    assert_eq!(
        item["resourceData"]["@odata.type"],
        "#Microsoft.Graph.Event"
    );
    let bob_event_id = item["resourceData"]["id"].as_str().expect("id").to_owned();
    assert_ne!(
        bob_event_id, organizer_copy.id,
        "each mailbox has its own copy"
    );

    // The notification's @odata.id can be fetched with an application token.
    let odata_id = item["resourceData"]["@odata.id"]
        .as_str()
        .expect("odata id");
    let (status, invitation, _) =
        get(format!("{}/{odata_id}", t.graph.graph_url()), &app, None).await;
    assert_eq!(status, 200, "{invitation}");
    assert_eq!(invitation["responseStatus"]["response"], "none");
    assert_eq!(invitation["isOrganizer"], false);

    let bob = t.graph.user_token(CLIENT_ID, &t.bob.id);
    let accept = reqwest::Client::new()
        .post(format!(
            "{}/me/events/{bob_event_id}/accept",
            t.graph.graph_url()
        ))
        .bearer_auth(&bob)
        .json(&json!({"comment": "see you", "sendResponse": true}))
        .send()
        .await
        .expect("accept");
    assert_eq!(accept.status().as_u16(), 202);
    let alice = t.graph.user_token(CLIENT_ID, &t.alice.id);
    let (_, organizer_view, _) = get(
        format!("{}/me/events/{}", t.graph.graph_url(), organizer_copy.id),
        &alice,
        None,
    )
    .await;
    let bob_status = organizer_view["attendees"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["emailAddress"]["address"] == "bob@contoso.com")
        })
        .map(|x| x["status"]["response"].clone());
    assert_eq!(
        bob_status,
        Some(json!("accepted")),
        "the organizer sees the answer"
    );
    let (_, bob_view, _) = get(
        format!("{}/me/events/{bob_event_id}", t.graph.graph_url()),
        &bob,
        None,
    )
    .await;
    assert_eq!(bob_view["responseStatus"]["response"], "accepted");
    assert_eq!(bob_view["showAs"], "busy");

    // Carol answers tentatively and proposes another time; proposing with `accept` is refused.
    let carol = t.graph.user_token(CLIENT_ID, &t.carol.id);
    let carol_event = t.graph.events(&t.carol.id).remove(0);
    let proposal = json!({
        "comment": "Can we move it?",
        "sendResponse": true,
        "proposedNewTime": {
            "start": {"dateTime": "2026-11-26T14:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-26T15:00:00", "timeZone": "UTC"}
        }
    });
    let respond = |action: &str, body: Value| {
        let url = format!(
            "{}/me/events/{}/{action}",
            t.graph.graph_url(),
            carol_event.id
        );
        let carol = carol.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(carol)
                .json(&body)
                .send()
                .await
                .expect("respond")
                .status()
                .as_u16()
        }
    };
    assert_eq!(respond("accept", proposal.clone()).await, 400);
    assert_eq!(respond("tentativelyAccept", proposal).await, 202);
    let carol_view = &t.graph.events(&t.carol.id)[0];
    assert_eq!(
        (carol_view.response.as_str(), carol_view.show_as.as_str()),
        ("tentativelyAccepted", "tentative")
    );

    // Organizers cannot answer their own meeting; others cannot read Bob's calendar.
    let own = reqwest::Client::new()
        .post(format!(
            "{}/me/events/{}/decline",
            t.graph.graph_url(),
            organizer_copy.id
        ))
        .bearer_auth(&alice)
        .json(&json!({}))
        .send()
        .await
        .expect("decline");
    assert_eq!(own.status().as_u16(), 400);
    let (status, _, _) = get(
        format!(
            "{}/users/{}/events/{bob_event_id}",
            t.graph.graph_url(),
            t.bob.id
        ),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 403);

    t.graph
        .cancel_event(&organizer_copy.ical_uid)
        .expect("cancel");
    let got = receiver.wait_for(3).await;
    assert_eq!(
        got.last().map(|n| n["value"][0]["changeType"].clone()),
        Some(json!("updated"))
    );
    let (_, cancelled, _) = get(
        format!("{}/me/events/{bob_event_id}", t.graph.graph_url()),
        &bob,
        None,
    )
    .await;
    assert_eq!(cancelled["isCancelled"], true);
    assert_eq!(cancelled["subject"], "Canceled: Design review");
}

#[tokio::test]
async fn mailbox_settings_report_the_windows_time_zone() {
    let t = tenant().await;
    t.graph
        .set_mailbox_time_zone(&t.bob.id, "Pacific Standard Time");
    let app = t.graph.app_token(CLIENT_ID);
    let (status, settings, _) = get(
        format!("{}/users/{}/mailboxSettings", t.graph.graph_url(), t.bob.id),
        &app,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(settings["timeZone"], "Pacific Standard Time");
    assert_eq!(
        settings["workingHours"]["timeZone"]["name"],
        "Pacific Standard Time"
    );
    let carol = t.graph.user_token(CLIENT_ID, &t.carol.id);
    let (_, mine, _) = get(
        format!("{}/me/mailboxSettings", t.graph.graph_url()),
        &carol,
        None,
    )
    .await;
    assert_eq!(mine["timeZone"], "UTC");
}

/// The `value` of a page and its `@odata.nextLink`.
fn page(body: &Value) -> (Vec<Value>, Option<String>) {
    (
        body["value"].as_array().cloned().unwrap_or_default(),
        body["@odata.nextLink"].as_str().map(str::to_owned),
    )
}

#[tokio::test]
async fn calendar_view_pages_with_top_and_next_links_for_me_users_and_batches() {
    let t = tenant().await;
    let first = at("2026-11-23T00:00:00Z");
    for i in 0..25 {
        t.graph.add_event(NewEvent::meeting(
            &t.alice.id,
            &format!("Meeting {i:02}"),
            first + TimeDelta::minutes(30 * i),
        ));
    }
    let window = "startDateTime=2026-11-23T00:00:00Z&endDateTime=2026-11-24T00:00:00Z";

    // Without $top, Outlook's pages of 10; every link is followed to the end, in start order.
    let alice = t.graph.user_token(CLIENT_ID, &t.alice.id);
    let mut url = format!("{}/me/calendarView?{window}", t.graph.graph_url());
    let mut subjects = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body, _) = get(url, &alice, None).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        let (value, next) = page(&body);
        subjects.extend(
            value
                .iter()
                .map(|e| e["subject"].as_str().unwrap_or("").to_owned()),
        );
        match next {
            Some(next) => {
                assert!(next.contains("$skip="), "{next}");
                assert!(next.contains("$top=10"), "{next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("Meeting {i:02}")).collect();
    assert_eq!(subjects, expected);
    assert_eq!(t.graph.request_count("GET /v1.0/me/calendarView"), 3);

    // An application token reads /users/{id}; $select keeps id and @odata.etag; $top out of range
    // and unknown properties are refused as Graph does.
    let app = t.graph.app_token(CLIENT_ID);
    let users_url = format!(
        "{}/users/{}/calendarView?{window}&$top=20&$select=subject,start&$orderby=start/dateTime",
        t.graph.graph_url(),
        t.alice.id
    );
    let (status, body, _) = get(users_url.clone(), &app, Some("UTC")).await;
    assert_eq!(status, 200, "{body}");
    let (value, next) = page(&body);
    assert_eq!(value.len(), 20);
    let keys: Vec<&String> = value[0].as_object().expect("event").keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(value[0]["@odata.etag"].is_string() && value[0]["id"].is_string());
    assert!(value[0].get("attendees").is_none());
    let next = next.expect("a second page");
    assert!(next.contains("$select=subject%2Cstart"), "{next}");
    let (_, body, _) = get(next, &app, Some("UTC")).await;
    let (value, next) = page(&body);
    assert_eq!((value.len(), next), (5, None));
    let (status, body, _) = get(users_url.replace("$top=20", "$top=0"), &app, None).await;
    assert_eq!(status, 400, "{body}");
    let (status, body, _) = get(
        users_url.replace("$select=subject,start", "$select=subject,colour"),
        &app,
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "RequestBroker--ParseUri");

    // Inside $batch: the same pages, the Prefer header per item, counted per item and per POST;
    // an unknown mailbox fails its item only.
    let batch = json!({"requests": [
        {"id": "1", "method": "GET",
         "url": format!("/users/{}/calendarView?{window}&$top=20", t.alice.id),
         "headers": {"Prefer": "outlook.timezone=\"W. Europe Standard Time\""}},
        {"id": "2", "method": "GET", "url": format!("/users/nobody@contoso.com/calendarView?{window}")},
    ]});
    t.graph.reset_request_counts();
    let response = reqwest::Client::new()
        .post(format!("{}/$batch", t.graph.graph_url()))
        .bearer_auth(&app)
        .json(&batch)
        .send()
        .await
        .expect("batch");
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    let responses = body["responses"].as_array().expect("responses");
    let one = responses.iter().find(|r| r["id"] == "1").expect("item 1");
    assert_eq!(one["status"], 200);
    assert_eq!(
        one["headers"]["Preference-Applied"],
        "outlook.timezone=\"W. Europe Standard Time\""
    );
    assert_eq!(
        one["body"]["value"][0]["start"]["dateTime"],
        "2026-11-23T01:00:00.0000000"
    );
    let link = one["body"]["@odata.nextLink"].as_str().expect("next link");
    assert!(
        link.starts_with(&format!(
            "{}/users/{}/calendarView?",
            t.graph.graph_url(),
            t.alice.id
        )),
        "{link}"
    );
    let two = responses.iter().find(|r| r["id"] == "2").expect("item 2");
    assert_eq!(two["status"], 404);
    assert_eq!(two["body"]["error"]["code"], "ErrorInvalidUser");
    assert_eq!(t.graph.request_count("POST /v1.0/$batch"), 1);
    assert_eq!(
        t.graph.request_count("GET /v1.0/users/{id}/calendarView"),
        2
    );
}

#[tokio::test]
async fn reminders_all_day_events_and_organizer_changes_over_the_control_api() {
    let t = tenant().await;
    let receiver = Receiver::start(Validation::Echo).await;
    let app = t.graph.app_token(CLIENT_ID);
    for user in [&t.alice.id, &t.bob.id] {
        let response = reqwest::Client::new()
            .post(format!("{}/subscriptions", t.graph.graph_url()))
            .bearer_auth(&app)
            .json(&json!({
                "changeType": "created,updated,deleted",
                "notificationUrl": receiver.url,
                "resource": format!("/users/{user}/events"),
                "expirationDateTime": (Utc::now() + TimeDelta::minutes(4230)).to_rfc3339(),
                "clientState": "cal",
            }))
            .send()
            .await
            .expect("subscribe");
        assert_eq!(response.status().as_u16(), 201);
    }
    let control = t.graph.base_url().join("_emulator/").expect("url");
    let http = reqwest::Client::new();

    // Reminder settings: given, defaulted, or left out with null.
    let created: Value = http
        .post(control.join("events").expect("url"))
        .json(&json!({
            "organizer": t.alice.id, "attendees": [t.bob.id], "subject": "Planning",
            "start": "2026-11-25T14:00:00Z", "end": "2026-11-25T15:00:00Z",
            "reminderMinutesBeforeStart": 5, "isReminderOn": true, "location": "Room 1",
        }))
        .send()
        .await
        .expect("add")
        .json()
        .await
        .expect("json");
    let ical_uid = created["iCalUId"].as_str().expect("uid").to_owned();
    for (body, minutes, on) in [
        (json!({}), json!(15), json!(true)),
        (json!({"isReminderOn": false}), json!(15), json!(false)),
        (
            json!({"reminderMinutesBeforeStart": null}),
            Value::Null,
            json!(true),
        ),
    ] {
        let mut event = json!({
            "organizer": t.carol.id, "subject": "Solo",
            "start": "2026-11-26T09:00:00Z", "end": "2026-11-26T09:30:00Z",
        });
        for (k, v) in body.as_object().expect("object") {
            event[k] = v.clone();
        }
        let added: Value = http
            .post(control.join("events").expect("url"))
            .json(&event)
            .send()
            .await
            .expect("add")
            .json()
            .await
            .expect("json");
        let carol = t.graph.user_token(CLIENT_ID, &t.carol.id);
        let (_, got, _) = get(
            format!(
                "{}/me/events/{}",
                t.graph.graph_url(),
                added["id"].as_str().expect("id")
            ),
            &carol,
            None,
        )
        .await;
        assert_eq!(
            got.get("reminderMinutesBeforeStart")
                .cloned()
                .unwrap_or(Value::Null),
            minutes
        );
        assert_eq!(got["isReminderOn"], on);
    }
    let got = receiver.wait_for(2).await;
    assert!(got.iter().all(|n| n["value"][0]["changeType"] == "created"));

    // All-day events float: the same dates in any zone asked for, whatever the organizer's zone.
    let mut holiday = NewEvent::meeting(&t.bob.id, "Holiday", at("2026-12-24T00:00:00Z"));
    holiday.end = at("2026-12-26T00:00:00Z");
    holiday.is_all_day = true;
    holiday.show_as = "oof".into();
    holiday.time_zone = "Tokyo Standard Time".into();
    t.graph.add_event(holiday);
    let bob = t.graph.user_token(CLIENT_ID, &t.bob.id);
    for zone in ["UTC", "Pacific Standard Time", "Tokyo Standard Time"] {
        let (_, body, _) = get(
            format!(
                "{}/me/calendarView?startDateTime=2026-12-25T12:00:00Z&endDateTime=2026-12-25T13:00:00Z",
                t.graph.graph_url()
            ),
            &bob,
            Some(zone),
        )
        .await;
        let (value, _) = page(&body);
        assert_eq!(value.len(), 1, "{zone}: {body}");
        assert_eq!(value[0]["start"]["dateTime"], "2026-12-24T00:00:00.0000000");
        assert_eq!(value[0]["end"]["dateTime"], "2026-12-26T00:00:00.0000000");
        assert_eq!(value[0]["start"]["timeZone"], zone);
    }

    // Bob accepts; the organizer moves and relocates the meeting: every copy is updated, and
    // the new time asks Bob again.
    let bob_copy = t
        .graph
        .events(&t.bob.id)
        .into_iter()
        .find(|e| e.ical_uid == ical_uid)
        .expect("bob's copy");
    let accepted = http
        .post(format!(
            "{}/me/events/{}/accept",
            t.graph.graph_url(),
            bob_copy.id
        ))
        .bearer_auth(&bob)
        .json(&json!({"sendResponse": true}))
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status().as_u16(), 202);
    let before = receiver.notifications().len();
    let moved = http
        .patch(control.join(&format!("events/{ical_uid}")).expect("url"))
        .json(&json!({"start": "2026-11-25T16:00:00Z", "location": "Room 2", "reminderMinutesBeforeStart": 30}))
        .send()
        .await
        .expect("patch");
    assert_eq!(moved.status().as_u16(), 204);
    let got = receiver.wait_for(before + 2).await;
    let updates: Vec<&Value> = got[before..].iter().map(|n| &n["value"][0]).collect();
    assert_eq!(updates.len(), 2, "one per copy");
    assert!(
        updates
            .iter()
            .all(|u| u["changeType"] == "updated" && u["clientState"] == "cal")
    );
    let (_, bob_view, _) = get(
        format!("{}/me/events/{}", t.graph.graph_url(), bob_copy.id),
        &bob,
        None,
    )
    .await;
    assert_eq!(bob_view["start"]["dateTime"], "2026-11-25T16:00:00.0000000");
    assert_eq!(
        bob_view["end"]["dateTime"], "2026-11-25T17:00:00.0000000",
        "same length"
    );
    assert_eq!(bob_view["location"]["displayName"], "Room 2");
    assert_eq!(bob_view["reminderMinutesBeforeStart"], 30);
    assert_eq!(
        bob_view["responseStatus"]["response"], "none",
        "asked again"
    );
    let unknown = http
        .patch(control.join("events/nope").expect("url"))
        .json(&json!({"location": null}))
        .send()
        .await
        .expect("patch");
    assert_eq!(unknown.status().as_u16(), 404);

    // Cancelling deletes the organizer's copy and marks Bob's cancelled.
    let before = receiver.notifications().len();
    let cancelled = http
        .post(
            control
                .join(&format!("events/{ical_uid}/cancel"))
                .expect("url"),
        )
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status().as_u16(), 204);
    let got = receiver.wait_for(before + 2).await;
    let mut changes: Vec<(String, String)> = got[before..]
        .iter()
        .map(|n| {
            let item = &n["value"][0];
            (
                item["changeType"].as_str().unwrap_or("").to_owned(),
                item["resource"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    changes.sort();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0].0, "deleted");
    assert!(
        changes[0].1.starts_with(&format!("users/{}@", t.alice.id)),
        "{changes:?}"
    );
    assert_eq!(changes[1].0, "updated");
    assert!(
        changes[1].1.ends_with(&format!("/events/{}", bob_copy.id)),
        "{changes:?}"
    );
    assert!(
        !t.graph
            .events(&t.alice.id)
            .iter()
            .any(|e| e.ical_uid == ical_uid)
    );
    assert!(
        t.graph
            .events(&t.bob.id)
            .iter()
            .any(|e| e.ical_uid == ical_uid && e.is_cancelled)
    );

    // Bob removes it from his calendar.
    let before = receiver.notifications().len();
    let removed = http
        .delete(
            control
                .join(&format!("events/{ical_uid}?mailbox={}", t.bob.id))
                .expect("url"),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status().as_u16(), 204);
    let got = receiver.wait_for(before + 1).await;
    assert_eq!(got[before]["value"][0]["changeType"], "deleted");
    let (status, _, _) = get(
        format!("{}/me/events/{}", t.graph.graph_url(), bob_copy.id),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn answers_without_sending_stay_in_the_attendees_calendar() {
    let t = tenant().await;
    let mut sync = NewEvent::meeting(&t.alice.id, "Sync", at("2026-11-27T10:00:00Z"));
    sync.attendees = vec![t.bob.id.clone(), t.carol.id.clone()];
    let organizer_copy = t.graph.add_event(sync);
    let bob_copy = t.graph.events(&t.bob.id).remove(0);
    let bob = t.graph.user_token(CLIENT_ID, &t.bob.id);
    let decline = reqwest::Client::new()
        .post(format!(
            "{}/me/events/{}/decline",
            t.graph.graph_url(),
            bob_copy.id
        ))
        .bearer_auth(&bob)
        .json(&json!({"sendResponse": false}))
        .send()
        .await
        .expect("decline");
    assert_eq!(decline.status().as_u16(), 202);
    assert_eq!(t.graph.events(&t.bob.id)[0].response, "declined");
    let organizer = t
        .graph
        .events(&t.alice.id)
        .into_iter()
        .find(|e| e.id == organizer_copy.id)
        .expect("organizer's copy");
    assert!(
        organizer.attendees.iter().all(|a| a.response == "none"),
        "the organizer was not told"
    );
    // Carol's copy does not track Bob's answers either way.
    assert!(
        t.graph.events(&t.carol.id)[0]
            .attendees
            .iter()
            .all(|a| a.response == "none")
    );
}
