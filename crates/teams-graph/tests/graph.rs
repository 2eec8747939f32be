//! Graph calls through graph-rs-sdk against the graph-emulator, and the errors they map to.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{CLIENT_ID, tenant, tokens};
use graph_emulator::{Fault, FaultRule};
use secrecy::SecretString;
use teams_graph::{GraphClient, GraphError};

#[tokio::test]
async fn a_bad_or_expired_token_is_unauthorized() {
    let t = tenant().await;
    let bad = SecretString::from("not-a-token");
    let graph = GraphClient::new(&t.endpoints, &bad).expect("graph client");
    assert!(!format!("{graph:?}").contains("not-a-token"));
    assert_eq!(graph.me().await, Err(GraphError::Unauthorized));

    let tokens = tokens(&t, &t.alice.id, Utc::now()).await;
    let graph = GraphClient::new(&t.endpoints, &tokens.access_token).expect("graph client");
    assert_eq!(graph.me().await.map(|me| me.id), Ok(t.alice.id.clone()));
    t.graph.advance_clock(TimeDelta::minutes(61));
    assert_eq!(graph.me().await, Err(GraphError::Unauthorized));
}

#[tokio::test]
async fn missing_users_and_throttling_are_told_apart() {
    let t = tenant().await;
    let token = SecretString::from(t.graph.user_token(CLIENT_ID, &t.alice.id));
    let graph = GraphClient::new(&t.endpoints, &token).expect("graph client");
    assert_eq!(
        graph.user("nobody@contoso.com").await,
        Err(GraphError::NotFound)
    );

    t.graph.inject_fault(
        FaultRule::new(
            "/v1.0/me",
            Fault::Throttle {
                retry_after: Some("2.128".into()),
            },
        )
        .times(1),
    );
    assert_eq!(
        graph.me().await,
        Err(GraphError::Throttled {
            retry_after: Some(Duration::from_millis(2128))
        })
    );
    t.graph
        .inject_fault(FaultRule::new("/v1.0/me", Fault::Unavailable).times(1));
    assert_eq!(
        graph.me().await,
        Err(GraphError::Throttled { retry_after: None })
    );
    assert_eq!(graph.me().await.map(|me| me.id), Ok(t.alice.id.clone()));
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error() {
    let t = tenant().await;
    let token = SecretString::from(t.graph.user_token(CLIENT_ID, &t.alice.id));
    let graph = GraphClient::new(&t.endpoints, &token).expect("graph client");
    t.graph
        .inject_fault(FaultRule::new("/v1.0/me", Fault::DropConnection).times(1));
    let err = graph.me().await.expect_err("dropped");
    assert!(matches!(err, GraphError::Transport(_)), "{err:?}");
}
