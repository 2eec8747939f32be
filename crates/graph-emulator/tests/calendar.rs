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
