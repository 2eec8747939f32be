//! The OAuth flows against the graph-emulator's identity platform: sign-in with PKCE, refresh,
//! client credentials, and the errors a caller has to tell apart.

mod common;

use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use common::{CLIENT_SECRET, REDIRECT_URI, client_with_secret, follow, sign_in, tenant, tokens};
use graph_emulator::{Fault, FaultRule};
use secrecy::{ExposeSecret as _, SecretString};
use teams_graph::{GraphClient, OAuthError, Pkce, random_state, scopes};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .expect("time")
}

#[tokio::test]
async fn sign_in_round_trip_gives_tokens_for_me() {
    let t = tenant().await;
    t.graph.sign_in_as(Some(&t.alice.id));
    let state = random_state().expect("state");
    let pkce = Pkce::generate().expect("pkce");
    let url = t
        .oauth
        .authorize_url(REDIRECT_URI, &state, &pkce.challenge(), scopes::TEAMS, None);
    assert!(
        url.as_str()
            .starts_with(t.endpoints.authorize_url().as_str())
    );

    let redirect = follow(url).await;
    assert!(
        redirect.location.starts_with(REDIRECT_URI),
        "{}",
        redirect.location
    );
    assert_eq!(redirect.state.as_deref(), Some(state.as_str()));
    let code = redirect.code.expect("a code");

    // The verifier survives storage as text, as the service seals it between the two requests.
    let stored = SecretString::from(pkce.verifier().expose_secret().to_owned());
    let pkce = Pkce::from_verifier(stored);
    let tokens = t
        .oauth
        .exchange_code(&code, REDIRECT_URI, pkce.verifier(), scopes::TEAMS, now())
        .await
        .expect("tokens");
    assert_eq!(tokens.expires_at, now() + TimeDelta::seconds(3599));
    assert!(tokens.refresh_token.is_some(), "offline_access was asked");
    assert_eq!(
        tokens.scopes,
        ["User.Read", "Chat.Read", "Presence.Read.All"]
    );
    assert!(!tokens.needs_refresh(now(), TimeDelta::minutes(5)));

    let me = GraphClient::new(&t.endpoints, &tokens.access_token)
        .expect("graph client")
        .me()
        .await
        .expect("me");
    assert_eq!(me.id, t.alice.id);
    assert_eq!(me.display_name, "Alice Smith");
    assert_eq!(me.mail.as_deref(), Some("alice@contoso.com"));
    assert_eq!(me.user_principal_name, "alice@contoso.com");
    assert_eq!(me.logins(), ["alice@contoso.com"]);
}

#[tokio::test]
async fn login_hint_picks_the_account_without_the_picker() {
    let t = tenant().await;
    t.graph.sign_in_as(None);
    let pkce = Pkce::generate().expect("pkce");
    let url = t.oauth.authorize_url(
        REDIRECT_URI,
        "s",
        &pkce.challenge(),
        scopes::TEAMS,
        Some("bob.jones@contoso.onmicrosoft.com"),
    );
    let code = follow(url).await.code.expect("a code");
    let tokens = t
        .oauth
        .exchange_code(&code, REDIRECT_URI, pkce.verifier(), scopes::TEAMS, now())
        .await
        .expect("tokens");
    let me = GraphClient::new(&t.endpoints, &tokens.access_token)
        .expect("graph client")
        .me()
        .await
        .expect("me");
    assert_eq!(me.id, t.bob.id);
    assert_eq!(
        me.logins(),
        ["bob@contoso.com", "bob.jones@contoso.onmicrosoft.com"]
    );
}

#[tokio::test]
async fn a_verifier_that_does_not_match_is_an_invalid_grant() {
    let t = tenant().await;
    let (code, _) = sign_in(&t, &t.alice.id).await;
    let other = Pkce::generate().expect("pkce");
    let err = t
        .oauth
        .exchange_code(&code, REDIRECT_URI, other.verifier(), scopes::TEAMS, now())
        .await
        .expect_err("wrong verifier");
    let OAuthError::InvalidGrant { description } = &err else {
        panic!("expected InvalidGrant, got {err:?}");
    };
    assert!(description.starts_with("AADSTS501481: "), "{description}");
    assert!(!description.contains('\n'), "only the first line is kept");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(other.verifier().expose_secret()));
    assert!(!text.contains(&code));
}

#[tokio::test]
async fn a_replayed_code_is_an_invalid_grant() {
    let t = tenant().await;
    let (code, pkce) = sign_in(&t, &t.alice.id).await;
    t.oauth
        .exchange_code(&code, REDIRECT_URI, pkce.verifier(), scopes::TEAMS, now())
        .await
        .expect("first use");
    let err = t
        .oauth
        .exchange_code(&code, REDIRECT_URI, pkce.verifier(), scopes::TEAMS, now())
        .await
        .expect_err("second use");
    assert!(
        matches!(&err, OAuthError::InvalidGrant { description } if description.starts_with("AADSTS54005: ")),
        "{err:?}"
    );

    // Codes also run out after ten minutes.
    let (code, pkce) = sign_in(&t, &t.alice.id).await;
    t.graph.advance_clock(TimeDelta::minutes(11));
    let err = t
        .oauth
        .exchange_code(&code, REDIRECT_URI, pkce.verifier(), scopes::TEAMS, now())
        .await
        .expect_err("expired code");
    assert!(
        matches!(&err, OAuthError::InvalidGrant { description } if description.starts_with("AADSTS70008: ")),
        "{err:?}"
    );
}

#[tokio::test]
async fn refresh_gives_new_tokens_until_the_refresh_token_is_revoked() {
    let t = tenant().await;
    let first = tokens(&t, &t.alice.id, now()).await;
    let first_refresh = first.refresh_token.clone().expect("refresh token");

    let later = now() + TimeDelta::minutes(55);
    assert!(first.needs_refresh(later, TimeDelta::minutes(5)));
    let second = t
        .oauth
        .refresh(&first_refresh, scopes::TEAMS, later)
        .await
        .expect("refresh");
    assert_eq!(second.expires_at, later + TimeDelta::seconds(3599));
    assert_ne!(
        second.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    let second_refresh = second.refresh_token.clone().expect("a new refresh token");
    assert_ne!(
        second_refresh.expose_secret(),
        first_refresh.expose_secret()
    );
    let me = GraphClient::new(&t.endpoints, &second.access_token)
        .expect("graph client")
        .me()
        .await
        .expect("me with the refreshed token");
    assert_eq!(me.id, t.alice.id);

    // What is sealed at rest comes back as it was.
    let stored = second.to_json().expect("json");
    let reopened = teams_graph::TokenSet::from_json(&stored).expect("from json");
    assert_eq!(
        reopened.refresh_token.as_ref().map(|r| r.expose_secret()),
        Some(second_refresh.expose_secret())
    );

    // A password reset revokes every refresh token: the user has to sign in again.
    t.graph.revoke_refresh_tokens(&t.alice.id);
    let err = t
        .oauth
        .refresh(&second_refresh, scopes::TEAMS, later)
        .await
        .expect_err("revoked");
    assert!(
        matches!(&err, OAuthError::InvalidGrant { description } if description.starts_with("AADSTS50173: ")),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(second_refresh.expose_secret()));

    let err = t
        .oauth
        .refresh(&SecretString::from("never-issued"), scopes::TEAMS, later)
        .await
        .expect_err("unknown");
    assert!(matches!(err, OAuthError::InvalidGrant { .. }), "{err:?}");
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_invalid_client() {
    let t = tenant().await;
    let (code, pkce) = sign_in(&t, &t.alice.id).await;
    let wrong = client_with_secret(&t.endpoints, "not-the-secret");
    let err = wrong
        .exchange_code(&code, REDIRECT_URI, pkce.verifier(), scopes::TEAMS, now())
        .await
        .expect_err("wrong secret");
    assert!(
        matches!(&err, OAuthError::InvalidClient { description } if description.starts_with("AADSTS7000215: ")),
        "{err:?}"
    );
    let text = format!("{err} {err:?} {wrong:?}");
    assert!(!text.contains("not-the-secret"), "{text}");
    assert!(!text.contains(CLIENT_SECRET), "{text}");

    let err = wrong
        .client_credentials(now())
        .await
        .expect_err("wrong secret");
    assert!(matches!(err, OAuthError::InvalidClient { .. }), "{err:?}");
}

#[tokio::test]
async fn client_credentials_give_an_app_token_that_works_on_graph() {
    let t = tenant().await;
    let app = t.oauth.client_credentials(now()).await.expect("app token");
    assert_eq!(app.expires_at, now() + TimeDelta::seconds(3599));
    let graph = GraphClient::new(&t.endpoints, &app.access_token).expect("graph client");
    let bob = graph
        .user("bob.jones@contoso.onmicrosoft.com")
        .await
        .expect("a user by UPN");
    assert_eq!(bob.id, t.bob.id);
    let alice = graph.user(&t.alice.id).await.expect("a user by id");
    assert_eq!(alice.display_name, "Alice Smith");
    // An application token has no signed-in user.
    let err = graph.me().await.expect_err("/me needs a user");
    assert!(
        matches!(&err, teams_graph::GraphError::Api { status: 400, message, .. } if message.contains("delegated")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_throttled_token_endpoint_says_when_to_come_back() {
    let t = tenant().await;
    let token_path = t.endpoints.token_url().path().to_owned();
    t.graph.inject_fault(
        FaultRule::new(
            &token_path,
            Fault::Throttle {
                retry_after: Some("2.5".into()),
            },
        )
        .times(1),
    );
    let err = t
        .oauth
        .client_credentials(now())
        .await
        .expect_err("throttled");
    assert_eq!(
        err,
        OAuthError::Throttled {
            retry_after: Some(std::time::Duration::from_millis(2500))
        }
    );
    t.graph
        .inject_fault(FaultRule::new(&token_path, Fault::Unavailable).times(1));
    let err = t
        .oauth
        .client_credentials(now())
        .await
        .expect_err("unavailable");
    assert_eq!(err, OAuthError::Throttled { retry_after: None });
    t.oauth
        .client_credentials(now())
        .await
        .expect("works again");
}

#[tokio::test]
async fn an_unreachable_login_host_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let endpoints = teams_graph::GraphEndpoints::new(
        &url::Url::parse(&format!("http://{addr}/v1.0")).expect("url"),
        &url::Url::parse(&format!("http://{addr}/")).expect("url"),
        "contoso.onmicrosoft.com",
    )
    .expect("endpoints");
    let err = client_with_secret(&endpoints, CLIENT_SECRET)
        .refresh(&SecretString::from("RT-secret"), scopes::TEAMS, now())
        .await
        .expect_err("nobody listens");
    let OAuthError::Transport(message) = &err else {
        panic!("expected Transport, got {err:?}");
    };
    assert!(!message.contains("RT-secret") && !message.contains(CLIENT_SECRET));
}
