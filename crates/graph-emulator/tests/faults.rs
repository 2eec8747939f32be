//! Fault injection and request counters: what tests and benchmarks use to check retries and count
//! Graph calls.

mod common;

use std::time::{Duration, Instant};

use common::{CLIENT_ID, json, sdk, tenant};
use graph_emulator::{Fault, FaultRule};

#[tokio::test]
async fn throttling_with_and_without_retry_after_then_recovery() {
    let t = tenant().await;
    let token = t.graph.user_token(CLIENT_ID, &t.alice.id);
    let client = sdk(&t.graph, &token);
    t.graph.inject_fault(
        FaultRule::new(
            "/v1.0/me",
            Fault::Throttle {
                retry_after: Some("2.128".into()),
            },
        )
        .times(1),
    );
    t.graph
        .inject_fault(FaultRule::new("/v1.0/me", Fault::Throttle { retry_after: None }).times(1));

    let response = client.me().get_user().send().await.expect("send");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok()),
        Some("2.128")
    );
    let (_, body) = json(response).await;
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(body["error"]["innerError"]["code"], "429");
    assert_eq!(body["error"]["innerError"]["status"], "429");

    let response = client.me().get_user().send().await.expect("send");
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("Retry-After").is_none());

    let response = client.me().get_user().send().await.expect("send");
    assert_eq!(response.status().as_u16(), 200, "the faults were used up");
    assert_eq!(
        t.graph.request_count("GET /v1.0/me"),
        3,
        "throttled requests count too"
    );
}

#[tokio::test]
async fn unavailable_latency_and_dropped_connections() {
    let t = tenant().await;
    let token = t.graph.user_token(CLIENT_ID, &t.alice.id);
    let client = sdk(&t.graph, &token);

    t.graph
        .inject_fault(FaultRule::new("/v1.0/users", Fault::Unavailable).method("GET"));
    let (status, body) = json(client.users().list_user().send().await.expect("send")).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "ServiceUnavailable");
    t.graph.clear_faults();

    t.graph.inject_fault(
        FaultRule::new("/v1.0/me", Fault::Latency(Duration::from_millis(300))).times(1),
    );
    let started = Instant::now();
    let response = client.me().get_user().send().await.expect("send");
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    t.graph
        .inject_fault(FaultRule::new("/v1.0/me", Fault::DropConnection).times(1));
    let dropped = reqwest::Client::new()
        .get(format!("{}/me", t.graph.graph_url()))
        .bearer_auth(&token)
        .send()
        .await;
    let failed = match dropped {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(
        failed,
        "the client must see a broken connection, not an answer"
    );
    let response = client.me().get_user().send().await.expect("send");
    assert_eq!(
        response.status().as_u16(),
        200,
        "the next request is served"
    );
}

#[tokio::test]
async fn counters_are_per_route_and_resettable() {
    let t = tenant().await;
    let token = t.graph.user_token(CLIENT_ID, &t.alice.id);
    let client = sdk(&t.graph, &token);
    for id in [&t.bob.id, &t.carol.id] {
        client.user(id).get_user().send().await.expect("send");
    }
    client.me().get_user().send().await.expect("send");
    let counts = t.graph.request_counts();
    assert_eq!(counts.get("GET /v1.0/users/{id}"), Some(&2));
    assert_eq!(counts.get("GET /v1.0/me"), Some(&1));
    t.graph.reset_request_counts();
    assert!(t.graph.request_counts().is_empty());

    // The control API reports and scripts the same.
    let http = reqwest::Client::new();
    let control = t.graph.base_url().join("_emulator/").expect("url");
    client.me().get_user().send().await.expect("send");
    let counters: serde_json::Value = http
        .get(control.join("counters").expect("url"))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    assert_eq!(counters["GET /v1.0/me"], 1);
    let fault =
        serde_json::json!({"path": "/v1.0/me", "fault": "throttle", "retryAfter": "5", "times": 1});
    let response = http
        .post(control.join("faults").expect("url"))
        .json(&fault)
        .send()
        .await
        .expect("fault");
    assert_eq!(response.status().as_u16(), 204);
    let response = client.me().get_user().send().await.expect("send");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
}

#[tokio::test]
async fn a_steady_share_of_requests_can_fail() {
    let t = tenant().await;
    let token = t.graph.user_token(CLIENT_ID, &t.alice.id);
    let client = sdk(&t.graph, &token);
    // One in five throttled, one in ten of the others unavailable.
    t.graph.inject_fault(
        FaultRule::new(
            "/v1.0/me",
            Fault::Throttle {
                retry_after: Some("0".into()),
            },
        )
        .every(5),
    );
    t.graph
        .inject_fault(FaultRule::new("/v1.0/me", Fault::Unavailable).every(10));
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let response = client.me().get_user().send().await.expect("send");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 4);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 36);
    assert_eq!(statuses[4], 429, "the fifth");
}
