//! The identity platform: sign-in with PKCE, refresh, client credentials, and the documented
//! error bodies, driven the way the bridge drives them (browser redirects + form POSTs).

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use common::{CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, json, sdk, tenant};
use serde_json::Value;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

const VERIFIER: &str = "a-pkce-code-verifier-that-is-long-enough-0123456789";

fn challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Follows the authorize step as a browser would and returns the redirect's query.
async fn authorize(t: &common::Tenant, extra: &[(&str, &str)]) -> (u16, String) {
    let mut url = t
        .graph
        .login_url()
        .join(&format!("{}/oauth2/v2.0/authorize", t.graph.tenant_id()))
        .expect("url");
    let challenge = challenge(VERIFIER);
    let mut params = vec![
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT_URI),
        ("response_mode", "query"),
        ("scope", "openid offline_access User.Read Chat.Read"),
        ("state", "state-123"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    params.extend_from_slice(extra);
    url.query_pairs_mut().extend_pairs(params);
    let response = http().get(url).send().await.expect("authorize");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&[]).into_owned());
    if location.is_empty() {
        return (status, response.text().await.unwrap_or_default());
    }
    (status, location)
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn token(t: &common::Tenant, form: &[(&str, &str)]) -> (u16, Value) {
    let url = t
        .graph
        .login_url()
        .join(&format!("{}/oauth2/v2.0/token", t.graph.tenant_id()))
        .expect("url");
    json(http().post(url).form(form).send().await.expect("token")).await
}

async fn sign_in(t: &common::Tenant) -> String {
    t.graph.sign_in_as(Some(&t.alice.id));
    let (status, location) = authorize(t, &[]).await;
    assert_eq!(status, 302, "{location}");
    query_param(&location, "code").expect("code")
}

#[tokio::test]
async fn sign_in_with_pkce_gives_tokens_that_work_on_graph() {
    let t = tenant().await;
    t.graph.sign_in_as(Some(&t.alice.id));
    let (status, location) = authorize(&t, &[]).await;
    assert_eq!(status, 302);
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some("state-123")
    );
    let code = query_param(&location, "code").expect("code");

    let (status, body) = token(
        &t,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], "User.Read Chat.Read");
    assert!(
        body["refresh_token"].is_string(),
        "offline_access gives a refresh token"
    );
    let id_token = body["id_token"].as_str().expect("openid gives an id token");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).expect("claims"))
            .expect("base64"),
    )
    .expect("json");
    assert_eq!(claims["oid"], t.alice.id.as_str());
    assert_eq!(claims["preferred_username"], "alice@contoso.com");

    let access = body["access_token"].as_str().expect("access token");
    let me = sdk(&t.graph, access)
        .me()
        .get_user()
        .send()
        .await
        .expect("GET /me");
    let (status, me) = json(me).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"], t.alice.id.as_str());
    assert_eq!(me["mail"], "alice@contoso.com");
    assert_eq!(me["userPrincipalName"], "alice@contoso.com");

    // A replayed code is refused with the documented error body.
    let (status, body) = token(
        &t,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 54005);
    let description = body["error_description"].as_str().expect("description");
    assert!(description.starts_with("AADSTS54005: "), "{description}");
    assert!(description.contains("\r\nTrace ID: ") && description.contains("\r\nCorrelation ID: "));
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[field].is_string(), "{field} missing: {body}");
    }
}

#[tokio::test]
async fn bad_codes_verifiers_and_secrets_are_refused() {
    let t = tenant().await;
    let base = |code: &str, verifier: &str, secret: &str| {
        vec![
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ]
    };
    let as_refs = |v: &Vec<(&'static str, String)>| {
        v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };

    let code = sign_in(&t).await;
    let form = as_refs(&base(
        &code,
        "the-wrong-verifier-0123456789-0123456789-0123",
        CLIENT_SECRET,
    ));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = token(&t, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_codes"][0], 501481, "PKCE mismatch: {body}");

    let code = sign_in(&t).await;
    let form = base(&code, VERIFIER, "not-the-secret");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = token(&t, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"][0], 7000215);
    assert!(!body.to_string().contains("not-the-secret"));

    let form = base("never-issued", VERIFIER, CLIENT_SECRET);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = token(&t, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_codes"][0], 70000);

    // Codes live ten minutes.
    let code = sign_in(&t).await;
    t.graph.advance_clock(TimeDelta::minutes(11));
    let form = base(&code, VERIFIER, CLIENT_SECRET);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, body) = token(&t, &form).await;
    assert_eq!(body["error_codes"][0], 70008, "{body}");

    let (status, body) = token(
        &t,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "password"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn refresh_gives_new_tokens_until_revoked() {
    let t = tenant().await;
    let code = sign_in(&t).await;
    let (_, first) = token(
        &t,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    let refresh_form = |rt: &str| {
        vec![
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", CLIENT_SECRET.to_owned()),
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", rt.to_owned()),
            ("scope", "offline_access User.Read".to_owned()),
        ]
    };
    let form = refresh_form(&refresh);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, second) = token(&t, &form).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(
        second["refresh_token"], first["refresh_token"],
        "a new refresh token comes back"
    );

    // Access tokens expire; the old one is then refused by Graph, the new one is not.
    t.graph.advance_clock(TimeDelta::minutes(61));
    let old = sdk(&t.graph, first["access_token"].as_str().expect("access"))
        .me()
        .get_user()
        .send()
        .await
        .expect("send");
    let (status, body) = json(old).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let form = refresh_form(second["refresh_token"].as_str().expect("rt"));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, third) = token(&t, &form).await;
    assert_eq!(status, 200);
    let fresh = sdk(&t.graph, third["access_token"].as_str().expect("access"))
        .me()
        .get_user()
        .send()
        .await
        .expect("send");
    assert_eq!(fresh.status().as_u16(), 200);

    // After revocation (password reset), refresh fails with invalid_grant.
    t.graph.revoke_refresh_tokens(&t.alice.id);
    let form = refresh_form(third["refresh_token"].as_str().expect("rt"));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = token(&t, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_codes"][0], 50173);
}

#[tokio::test]
async fn client_credentials_need_the_default_scope_and_cannot_use_me() {
    let t = tenant().await;
    let (status, body) = token(
        &t,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    let app = body["access_token"].as_str().expect("token");
    let users = sdk(&t.graph, app)
        .users()
        .list_user()
        .send()
        .await
        .expect("send");
    let (status, users) = json(users).await;
    assert_eq!(status, 200);
    assert_eq!(users["value"].as_array().map(Vec::len), Some(3));
    let me = sdk(&t.graph, app)
        .me()
        .get_user()
        .send()
        .await
        .expect("send");
    let (status, body) = json(me).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("delegated"),
        "{body}"
    );

    let (status, body) = token(
        &t,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
}

#[tokio::test]
async fn the_authorize_page_explains_what_is_wrong() {
    let t = tenant().await;
    let (status, page) =
        authorize(&t, &[("client_id", "00000000-0000-0000-0000-000000000000")]).await;
    assert_eq!(status, 400);
    assert!(page.contains("AADSTS700016"), "{page}");
    let (status, page) = authorize(&t, &[("redirect_uri", "https://evil.example.com/")]).await;
    assert_eq!(status, 400);
    assert!(page.contains("AADSTS50011"), "{page}");

    // Nobody chosen in advance: a page to pick the account; its links sign in.
    let (status, page) = authorize(&t, &[]).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Alice Smith (alice@contoso.com)") && page.contains("Bob Jones"),
        "{page}"
    );
    let (status, location) = authorize(&t, &[("login_hint", "bob@contoso.com")]).await;
    assert_eq!(status, 302);
    assert!(query_param(&location, "code").is_some());

    t.graph
        .set_account_enabled(&t.carol.id, false)
        .expect("carol");
    t.graph.sign_in_as(Some(&t.carol.id));
    let (_, location) = authorize(&t, &[]).await;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some("state-123")
    );
}
