//! An in-process graph-emulator tenant with the bridge's app registered, and a browser that
//! follows the sign-in redirect the way a user's would, up to the bridge's redirect URI.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use graph_emulator::{AppRegistration, EmulatorOptions, GraphEmulator, NewUser, User};
use secrecy::SecretString;
use teams_graph::{GraphEndpoints, OAuthClient, Pkce, TokenSet, scopes};

pub const CLIENT_ID: &str = "11112222-bbbb-3333-cccc-4444dddd5555";
pub const CLIENT_SECRET: &str = "emulator-client-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/oauth/redirect";

pub struct Tenant {
    pub graph: GraphEmulator,
    pub endpoints: GraphEndpoints,
    pub oauth: OAuthClient,
    pub alice: User,
    pub bob: User,
}

pub async fn tenant() -> Tenant {
    let graph = GraphEmulator::start_with(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        EmulatorOptions::default(),
    )
    .await
    .expect("start emulator");
    graph.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        display_name: "Bridge".into(),
    });
    let alice = graph.add_user(NewUser::new("Alice Smith", "alice@contoso.com"));
    let bob = graph.add_user(NewUser {
        user_principal_name: Some("bob.jones@contoso.onmicrosoft.com".into()),
        ..NewUser::new("Bob Jones", "bob@contoso.com")
    });
    let endpoints = GraphEndpoints::new(&graph.graph_url(), &graph.login_url(), &graph.tenant_id())
        .expect("endpoints");
    let oauth = client_with_secret(&endpoints, CLIENT_SECRET);
    Tenant {
        graph,
        endpoints,
        oauth,
        alice,
        bob,
    }
}

pub fn client_with_secret(endpoints: &GraphEndpoints, secret: &str) -> OAuthClient {
    OAuthClient::new(
        endpoints.clone(),
        CLIENT_ID.into(),
        SecretString::from(secret),
    )
}

/// What the identity platform sent the browser back to the bridge with.
#[derive(Debug)]
pub struct Redirect {
    pub location: String,
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// Opens the authorize URL as a browser would, without following the redirect, and reads the
/// 302's `Location`.
pub async fn follow(authorize_url: url::Url) -> Redirect {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser");
    let response = browser.get(authorize_url).send().await.expect("authorize");
    assert_eq!(response.status().as_u16(), 302, "authorize should redirect");
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .expect("a Location header")
        .to_owned();
    let url = url::Url::parse(&location).expect("Location is a URL");
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    Redirect {
        code: param("code"),
        state: param("state"),
        error: param("error"),
        location,
    }
}

/// Signs `user_id` in with the Teams scopes and returns the code with the PKCE pair it is bound
/// to.
pub async fn sign_in(t: &Tenant, user_id: &str) -> (String, Pkce) {
    t.graph.sign_in_as(Some(user_id));
    let pkce = Pkce::generate().expect("pkce");
    let url = t.oauth.authorize_url(
        REDIRECT_URI,
        "the-state",
        &pkce.challenge(),
        scopes::TEAMS,
        None,
    );
    let redirect = follow(url).await;
    (redirect.code.expect("a code"), pkce)
}

/// A full sign-in of `user_id`: tokens with a refresh token.
pub async fn tokens(t: &Tenant, user_id: &str, now: DateTime<Utc>) -> TokenSet {
    let (code, pkce) = sign_in(t, user_id).await;
    t.oauth
        .exchange_code(&code, REDIRECT_URI, pkce.verifier(), scopes::TEAMS, now)
        .await
        .expect("tokens")
}
