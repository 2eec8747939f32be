//! Subscriptions behave like Graph's: handshake, lifetimes, notifications with clientState,
//! retries for failed or slow answers, lifecycle events, and expiry.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{CLIENT_ID, Receiver, Validation, json, sdk, tenant};
use graph_emulator::{ChatType, LifecycleEvent, NewMessage, Presence};
use serde_json::{Value, json};

fn expiry(minutes: i64) -> String {
    (Utc::now() + TimeDelta::minutes(minutes)).to_rfc3339()
}

fn body(resource: &str, url: &str, lifecycle: Option<&str>, minutes: i64) -> Value {
    let mut body = json!({
        "changeType": "created,updated,deleted",
        "notificationUrl": url,
        "resource": resource,
        "expirationDateTime": expiry(minutes),
        "clientState": "secret-client-state",
    });
    if let Some(lifecycle) = lifecycle {
        body["lifecycleNotificationUrl"] = json!(lifecycle);
    }
    body
}

#[tokio::test]
async fn create_validates_the_endpoint_and_notifications_carry_client_state() {
    let t = tenant().await;
    let receiver = Receiver::start(Validation::Echo).await;
    let app = t.graph.app_token(CLIENT_ID);
    let client = sdk(&t.graph, &app);
    let request = body(
        "/chats/getAllMessages?model=B",
        &receiver.url,
        Some(&receiver.url),
        120,
    );
    let (status, created) = json(
        client
            .subscriptions()
            .create_subscription(&request)
            .send()
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        receiver.validations().len(),
        2,
        "both the notification and lifecycle URL are validated"
    );
    assert_eq!(created["resource"], "/chats/getAllMessages?model=B");
    assert_eq!(created["clientState"], "secret-client-state");
    assert_eq!(created["applicationId"], CLIENT_ID);
    let id = created["id"].as_str().expect("id").to_owned();

    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let message = t
        .graph
        .post_message(&chat.id, &t.alice.id, NewMessage::html("<p>hi</p>"))
        .expect("post");
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let item = &got[0]["value"][0];
    assert_eq!(item["subscriptionId"], id.as_str());
    assert_eq!(item["changeType"], "created");
    assert_eq!(item["clientState"], "secret-client-state");
    assert_eq!(item["tenantId"], t.graph.tenant_id().as_str());
    let resource = format!("chats('{}')/messages('{}')", chat.id, message.id);
    assert_eq!(item["resource"], resource.as_str());
    assert_eq!(item["resourceData"]["@odata.id"], resource.as_str());
    assert_eq!(
        item["resourceData"]["@odata.type"],
        "#Microsoft.Graph.chatMessage"
    );
    assert_eq!(item["resourceData"]["id"], message.id.as_str());

    // Edits and deletes follow as updated and deleted.
    t.graph
        .edit_message(&chat.id, &message.id, "<p>hi!</p>")
        .expect("edit");
    t.graph
        .delete_message(&chat.id, &message.id)
        .expect("delete");
    let got = receiver.wait_for(3).await;
    let kinds: Vec<&str> = got
        .iter()
        .filter_map(|n| n["value"][0]["changeType"].as_str())
        .collect();
    assert_eq!(kinds.len(), 3);
    assert!(
        kinds.contains(&"updated") && kinds.contains(&"deleted"),
        "{kinds:?}"
    );

    let (status, listed) = json(
        client
            .subscriptions()
            .list_subscription()
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["value"].as_array().map(Vec::len), Some(1));
    let response = client
        .subscription(&id)
        .delete_subscription()
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 204);
    let (status, _) = json(
        client
            .subscription(&id)
            .get_subscription()
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_failed_or_slow_handshake_fails_the_create() {
    let t = tenant().await;
    let app = t.graph.app_token(CLIENT_ID);
    let client = sdk(&t.graph, &app);
    // The test emulator allows 500 ms for the handshake (Graph: 10 s).
    for validation in [
        Validation::Status(500),
        Validation::WrongBody,
        Validation::Delay(Duration::from_millis(800)),
    ] {
        let receiver = Receiver::start(validation.clone()).await;
        let request = body("/chats/getAllMessages", &receiver.url, None, 30);
        let (status, error) = json(
            client
                .subscriptions()
                .create_subscription(&request)
                .send()
                .await
                .expect("create"),
        )
        .await;
        assert_eq!(status, 400, "{validation:?}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("Subscription validation request failed"),
            "{error}"
        );
    }
    let nowhere = body("/chats/getAllMessages", "http://127.0.0.1:9/hook", None, 30);
    let (status, _) = json(
        client
            .subscriptions()
            .create_subscription(&nowhere)
            .send()
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(t.graph.subscriptions().is_empty(), "nothing was created");
    assert_eq!(
        graph_emulator::EmulatorOptions::default().validation_timeout,
        Duration::from_secs(10)
    );
}

#[tokio::test]
async fn lifetimes_are_enforced_per_resource() {
    let t = tenant().await;
    let receiver = Receiver::start(Validation::Echo).await;
    let app = t.graph.app_token(CLIENT_ID);
    let client = sdk(&t.graph, &app);
    let cases = [
        (
            body("/chats/getAllMessages", &receiver.url, None, 90),
            400,
            "over an hour needs a lifecycle URL",
        ),
        (
            body(
                "/chats/getAllMessages",
                &receiver.url,
                Some(&receiver.url),
                4321,
            ),
            400,
            "over three days",
        ),
        (
            body(
                "/chats/getAllMessages",
                &receiver.url,
                Some(&receiver.url),
                4300,
            ),
            201,
            "under three days",
        ),
        (
            body("/chats/getAllMessages", &receiver.url, None, -1),
            400,
            "in the past",
        ),
        (
            body("/me/mailFolders('Inbox')/messages", &receiver.url, None, 30),
            400,
            "unsupported resource",
        ),
    ];
    for (request, expected, why) in cases {
        let (status, answer) = json(
            client
                .subscriptions()
                .create_subscription(&request)
                .send()
                .await
                .expect("create"),
        )
        .await;
        assert_eq!(status, expected, "{why}: {answer}");
    }
    // Presence: delegated only, at most an hour.
    let presence = format!("/communications/presences?$filter=id in ('{}')", t.alice.id);
    let (status, _) = json(
        client
            .subscriptions()
            .create_subscription(&body(&presence, &receiver.url, None, 30))
            .send()
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(
        status, 403,
        "application tokens cannot subscribe to presence"
    );
    let bob = t.graph.user_token(CLIENT_ID, &t.bob.id);
    let delegated = sdk(&t.graph, &bob);
    let (status, _) = json(
        delegated
            .subscriptions()
            .create_subscription(&body(&presence, &receiver.url, Some(&receiver.url), 61))
            .send()
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, created) = json(
        delegated
            .subscriptions()
            .create_subscription(&body(&presence, &receiver.url, None, 59))
            .send()
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    t.graph
        .set_presence(&t.alice.id, Presence::new("Away", "Away"));
    t.graph
        .set_presence(&t.carol.id, Presence::new("Busy", "Busy"));
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        receiver.notifications().len(),
        1,
        "only watched users: {got:?}"
    );
    assert_eq!(
        got[0]["value"][0]["resource"],
        format!("communications/presences('{}')", t.alice.id).as_str()
    );
    assert_eq!(got[0]["value"][0]["changeType"], "updated");

    // Renewal follows the same rules.
    let id = created["id"].as_str().expect("id");
    let (status, _) = json(
        client
            .subscription(id)
            .update_subscription(&json!({"expirationDateTime": expiry(120)}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 400);
    let new_expiry = expiry(45);
    let (status, renewed) = json(
        client
            .subscription(id)
            .update_subscription(&json!({"expirationDateTime": new_expiry}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(renewed["expirationDateTime"].is_string());
}

#[tokio::test]
async fn failed_and_slow_deliveries_are_retried_with_backoff() {
    let t = tenant().await;
    let receiver = Receiver::start(Validation::Echo).await;
    let app = t.graph.app_token(CLIENT_ID);
    let request = body(
        &format!("/users/{}/chats/getAllMessages", t.bob.id),
        &receiver.url,
        None,
        30,
    );
    let (status, created) = json(
        sdk(&t.graph, &app)
            .subscriptions()
            .create_subscription(&request)
            .send()
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // 500, then an answer slower than the delivery timeout (300 ms in tests, 3 s in Graph), then 202.
    receiver.answer(&[(500, Duration::ZERO), (202, Duration::from_millis(600))]);
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    t.graph
        .post_message(&chat.id, &t.alice.id, NewMessage::text("hello"))
        .expect("post");
    let log = t
        .graph
        .wait_for_deliveries(Duration::from_secs(5), |log| {
            log.iter()
                .any(|d| d.kind == "change" && d.outcome == Ok(202) && d.attempt == 3)
        })
        .await;
    let attempts: Vec<_> = log
        .iter()
        .filter(|d| d.kind == "change")
        .map(|d| (d.attempt, d.outcome.clone()))
        .collect();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert_eq!(attempts[0], (1, Ok(500)));
    assert!(
        attempts[1].1.as_ref().is_err_and(|e| e.contains("timeout")),
        "{attempts:?}"
    );
    assert_eq!(attempts[2], (3, Ok(202)));
    let gap = log[2].at - log[1].at;
    assert!(
        gap >= TimeDelta::milliseconds(50),
        "backoff between attempts: {gap}"
    );
    assert_eq!(
        receiver.notifications().len(),
        3,
        "the same notification each time"
    );

    // A chat the subscriber's user is not in produces nothing.
    let other = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.carol.id]);
    t.graph
        .post_message(&other.id, &t.alice.id, NewMessage::text("private"))
        .expect("post");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(receiver.notifications().len(), 3);
}

#[tokio::test]
async fn lifecycle_events_reach_the_lifecycle_url_and_removal_stops_delivery() {
    let t = tenant().await;
    let notifications = Receiver::start(Validation::Echo).await;
    let lifecycle = Receiver::start(Validation::Echo).await;
    let app = t.graph.app_token(CLIENT_ID);
    let client = sdk(&t.graph, &app);
    let chat = t.graph.add_chat(
        ChatType::Group,
        Some("ops"),
        &[&t.alice.id, &t.bob.id, &t.carol.id],
    );
    let resource = format!("/chats/{}/messages", chat.id);
    let request = body(&resource, &notifications.url, Some(&lifecycle.url), 600);
    let (status, created) = json(
        client
            .subscriptions()
            .create_subscription(&request)
            .send()
            .await
            .expect("create"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();

    t.graph
        .trigger_lifecycle(&id, LifecycleEvent::ReauthorizationRequired)
        .expect("trigger");
    let got = lifecycle.wait_for(1).await;
    let item = &got[0]["value"][0];
    assert_eq!(item["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(item["subscriptionId"], id.as_str());
    assert_eq!(item["clientState"], "secret-client-state");
    assert!(
        notifications.notifications().is_empty(),
        "lifecycle events go to the lifecycle URL only"
    );
    let response = client
        .subscription(&id)
        .reauthorize()
        .send()
        .await
        .expect("reauthorize");
    assert_eq!(response.status().as_u16(), 204);

    t.graph
        .trigger_lifecycle(&id, LifecycleEvent::SubscriptionRemoved)
        .expect("trigger");
    let got = lifecycle.wait_for(2).await;
    assert_eq!(got[1]["value"][0]["lifecycleEvent"], "subscriptionRemoved");
    assert!(t.graph.subscriptions().is_empty(), "removed");
    t.graph
        .post_message(&chat.id, &t.alice.id, NewMessage::text("lost?"))
        .expect("post");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        notifications.notifications().is_empty(),
        "a removed subscription delivers nothing"
    );
    assert!(
        t.graph
            .trigger_lifecycle(&id, LifecycleEvent::Missed)
            .is_err()
    );
}

#[tokio::test]
async fn expired_subscriptions_stop_delivering_and_disappear() {
    let t = tenant().await;
    let receiver = Receiver::start(Validation::Echo).await;
    let app = t.graph.app_token(CLIENT_ID);
    let client = sdk(&t.graph, &app);
    let request = body("/chats/getAllMessages", &receiver.url, None, 30);
    let (_, created) = json(
        client
            .subscriptions()
            .create_subscription(&request)
            .send()
            .await
            .expect("create"),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    t.graph
        .post_message(&chat.id, &t.alice.id, NewMessage::text("before"))
        .expect("post");
    assert_eq!(receiver.wait_for(1).await.len(), 1);

    t.graph.advance_clock(TimeDelta::minutes(31));
    let fresh = t.graph.app_token(CLIENT_ID);
    t.graph
        .post_message(&chat.id, &t.alice.id, NewMessage::text("after"))
        .expect("post");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(receiver.notifications().len(), 1, "nothing after expiry");
    let (status, _) = json(
        sdk(&t.graph, &fresh)
            .subscription(&id)
            .get_subscription()
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 404);
}
