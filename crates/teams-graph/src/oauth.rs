//! The Microsoft identity platform's OAuth 2.0 flows: authorization code with PKCE, refresh
//! token, client credentials. Written on reqwest against the configured `login_url`, so every
//! cloud, a proxy and the local emulator work alike (graph-rs-sdk's OAuth crate only knows four
//! fixed login hosts).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::GraphEndpoints;
use crate::pkce::Pkce;
use crate::tokens::{AppToken, TokenSet};
use crate::transport::{describe, retry_after};

/// How long one token request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Used when a token answer has no `expires_in`: Entra's usual lifetime, minus a minute.
const DEFAULT_LIFETIME_SECONDS: i64 = 3599;

/// Why a token request failed, sorted by what the caller does about it. No variant carries a
/// token, code, verifier or the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_grant`: the code or refresh token is expired, revoked or already used, or the
    /// PKCE verifier does not match. The user has to sign in again.
    #[error("invalid_grant: {description}")]
    InvalidGrant { description: String },
    /// `invalid_client` / `unauthorized_client`: the app's client id or secret was refused (wrong,
    /// expired, app not in the tenant). An admin has to fix the configuration.
    #[error("the app's credentials were refused: {description}")]
    InvalidClient { description: String },
    /// Another documented error answer (`invalid_scope`, `interaction_required`,
    /// `consent_required`, ...).
    #[error("{error} (HTTP {status}): {description}")]
    Rejected {
        status: u16,
        error: String,
        description: String,
    },
    /// 429, 503 or `temporarily_unavailable`: try again later, after `retry_after` when given.
    #[error("the identity platform is throttling or unavailable (retry after {retry_after:?})")]
    Throttled { retry_after: Option<Duration> },
    /// The request did not get an answer (connection, timeout, a gateway error): try again later.
    #[error("cannot reach the identity platform: {0}")]
    Transport(String),
    /// An answer that is not what the protocol says.
    #[error("unexpected answer from the identity platform: {0}")]
    Decode(String),
}

/// A successful token answer (`access_token`, `refresh_token`, `expires_in`, `scope`).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

impl TokenResponse {
    fn expires_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let seconds = self
            .expires_in
            .unwrap_or(DEFAULT_LIFETIME_SECONDS)
            .clamp(0, i64::from(u32::MAX));
        now + TimeDelta::seconds(seconds)
    }

    /// The granted scopes; the requested ones if the answer does not list them.
    fn scopes(&self, requested: &[&str]) -> Vec<String> {
        match &self.scope {
            Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
            None => requested.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// `expires_in` is a number, but older endpoints sent it as a string; take both.
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(i64),
        Text(String),
    }
    Ok(match Option::<NumberOrText>::deserialize(deserializer)? {
        Some(NumberOrText::Number(n)) => Some(n),
        Some(NumberOrText::Text(text)) => text.trim().parse().ok(),
        None => None,
    })
}

/// The token endpoint's error body (`error`, `error_description`, `error_codes`, trace ids).
#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// The first line of an AADSTS description (`AADSTS50173: The provided grant has expired...`):
/// the lines after it are trace and correlation ids and a timestamp.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// Turns a token endpoint answer into tokens or an [`OAuthError`] a caller can act on.
fn decode(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    if (200..300).contains(&status) {
        let response: TokenResponse = serde_json::from_slice(body)
            .map_err(|_| OAuthError::Decode(format!("HTTP {status} without a token")))?;
        if response.access_token.is_empty() {
            return Err(OAuthError::Decode(format!(
                "HTTP {status} with an empty access token"
            )));
        }
        return Ok(response);
    }
    if status == 429 || status == 503 {
        return Err(OAuthError::Throttled { retry_after });
    }
    let Ok(error) = serde_json::from_slice::<ErrorResponse>(body) else {
        return Err(if status >= 500 {
            OAuthError::Transport(format!("HTTP {status} from the token endpoint"))
        } else {
            OAuthError::Decode(format!("HTTP {status} without an error body"))
        });
    };
    let description = first_line(&error.error_description);
    Err(match error.error.as_str() {
        "invalid_grant" => OAuthError::InvalidGrant { description },
        "invalid_client" | "unauthorized_client" => OAuthError::InvalidClient { description },
        "temporarily_unavailable" => OAuthError::Throttled { retry_after },
        _ => OAuthError::Rejected {
            status,
            error: error.error,
            description,
        },
    })
}

/// The app registration's OAuth client for one tenant: builds sign-in links and talks to the
/// token endpoint. `Debug` shows the token URL and client id, never the secret.
pub struct OAuthClient {
    endpoints: GraphEndpoints,
    client_id: String,
    client_secret: SecretString,
    /// Kept as the build's outcome so that `new` stays infallible without a hidden panic
    /// (reqwest's own `Client::new` panics when TLS cannot be set up); requests report it.
    http: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("token_url", &self.endpoints.token_url().as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// A client with its own HTTP client: 30 s per request, no redirects followed (a token
    /// endpoint never redirects, and following one could carry the secret elsewhere).
    pub fn new(endpoints: GraphEndpoints, client_id: String, client_secret: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the HTTP client cannot be built: {e}"));
        Self {
            endpoints,
            client_id,
            client_secret,
            http,
        }
    }

    /// A client sharing an HTTP client (its proxy and timeout settings) with the caller.
    pub fn with_http_client(
        endpoints: GraphEndpoints,
        client_id: String,
        client_secret: SecretString,
        http: reqwest::Client,
    ) -> Self {
        Self {
            endpoints,
            client_id,
            client_secret,
            http: Ok(http),
        }
    }

    pub fn endpoints(&self) -> &GraphEndpoints {
        &self.endpoints
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Where to send the user to sign in (`response_type=code`, `response_mode=query`, PKCE
    /// `S256`). Without `login_hint` the account picker is shown (`prompt=select_account`), so a
    /// user signed in to several accounts chooses the right one; with it, that account is
    /// suggested.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        pkce_challenge: &str,
        scopes: &[&str],
        login_hint: Option<&str>,
    ) -> Url {
        let mut url = self.endpoints.authorize_url().clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("response_mode", "query")
                .append_pair("scope", &scopes.join(" "))
                .append_pair("state", state)
                .append_pair("code_challenge", pkce_challenge)
                .append_pair("code_challenge_method", Pkce::METHOD);
            match login_hint {
                Some(hint) => query.append_pair("login_hint", hint),
                None => query.append_pair("prompt", "select_account"),
            };
        }
        url
    }

    /// Redeems an authorization code with the PKCE verifier kept since the authorize request.
    /// `now` is when the request is made; the tokens expire `expires_in` seconds after it.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &SecretString,
        scopes: &[&str],
        now: DateTime<Utc>,
    ) -> Result<TokenSet, OAuthError> {
        let scope = scopes.join(" ");
        let response = self
            .request(
                "authorization_code",
                &[
                    ("code", code),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", verifier.expose_secret()),
                    ("scope", &scope),
                ],
            )
            .await?;
        Ok(TokenSet {
            expires_at: response.expires_at(now),
            scopes: response.scopes(scopes),
            access_token: SecretString::from(response.access_token),
            refresh_token: response.refresh_token.map(SecretString::from),
        })
    }

    /// New tokens for a refresh token. The answer usually holds a new refresh token, which
    /// replaces the old one; when it holds none, the old one is kept.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        scopes: &[&str],
        now: DateTime<Utc>,
    ) -> Result<TokenSet, OAuthError> {
        let scope = scopes.join(" ");
        let response = self
            .request(
                "refresh_token",
                &[
                    ("refresh_token", refresh_token.expose_secret()),
                    ("scope", &scope),
                ],
            )
            .await?;
        Ok(TokenSet {
            expires_at: response.expires_at(now),
            scopes: response.scopes(scopes),
            access_token: SecretString::from(response.access_token),
            refresh_token: response
                .refresh_token
                .map(SecretString::from)
                .or_else(|| Some(refresh_token.clone())),
        })
    }

    /// An application token for the Graph resource of the configured `graph_url`: the scope is
    /// `<graph origin>/.default` (`https://graph.microsoft.com/.default` on the public cloud).
    pub async fn client_credentials(&self, now: DateTime<Utc>) -> Result<AppToken, OAuthError> {
        let scope = format!("{}/.default", self.endpoints.graph_origin());
        let response = self
            .request("client_credentials", &[("scope", &scope)])
            .await?;
        Ok(AppToken {
            expires_at: response.expires_at(now),
            access_token: SecretString::from(response.access_token),
        })
    }

    /// POSTs one grant to the token endpoint, the client secret in the form body.
    async fn request(
        &self,
        grant_type: &str,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, OAuthError> {
        let http = self
            .http
            .as_ref()
            .map_err(|e| OAuthError::Transport(e.clone()))?;
        let mut fields: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose_secret()),
            ("grant_type", grant_type),
        ];
        // An empty `scope` is worse than none: the endpoint then defaults to what was consented.
        fields.extend(
            form.iter()
                .filter(|(k, v)| !(*k == "scope" && v.is_empty())),
        );
        let response = http
            .post(self.endpoints.token_url().clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&fields)
            .send()
            .await
            .map_err(|e| {
                let error = describe(e);
                tracing::debug!(grant_type, %error, "token request failed");
                OAuthError::Transport(error)
            })?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| OAuthError::Transport(describe(e)))?;
        let result = decode(status, retry_after, &body);
        if let Err(err) = &result {
            // The error's text comes from the error body, which holds no token or secret.
            tracing::debug!(grant_type, status, error = %err, "token request refused");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> OAuthClient {
        let endpoints = GraphEndpoints::new(
            &Url::parse("https://graph.microsoft.com/v1.0").expect("url"),
            &Url::parse("https://login.microsoftonline.com").expect("url"),
            "contoso.onmicrosoft.com",
        )
        .expect("endpoints");
        OAuthClient::new(
            endpoints,
            "11112222-bbbb-3333-cccc-4444dddd5555".into(),
            SecretString::from("the-client-secret"),
        )
    }

    fn query(url: &Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn authorize_url_carries_the_documented_parameters() {
        let url = client().authorize_url(
            "https://bridge.example.com/oauth/redirect",
            "the-state",
            "the-challenge",
            &["offline_access", "User.Read"],
            None,
        );
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize")
        );
        let pairs = query(&url);
        let expected = [
            ("client_id", "11112222-bbbb-3333-cccc-4444dddd5555"),
            ("response_type", "code"),
            ("redirect_uri", "https://bridge.example.com/oauth/redirect"),
            ("response_mode", "query"),
            ("scope", "offline_access User.Read"),
            ("state", "the-state"),
            ("code_challenge", "the-challenge"),
            ("code_challenge_method", "S256"),
            ("prompt", "select_account"),
        ];
        assert_eq!(
            pairs,
            expected
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        );
        assert!(!url.as_str().contains("the-client-secret"));

        let hinted = client().authorize_url("https://b/r", "s", "c", &["User.Read"], Some("a@b.c"));
        let pairs = query(&hinted);
        assert!(pairs.contains(&("login_hint".into(), "a@b.c".into())));
        assert!(!pairs.iter().any(|(k, _)| k == "prompt"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let debug = format!("{:?}", client());
        assert!(!debug.contains("the-client-secret"), "{debug}");
        assert!(debug.contains("11112222-bbbb-3333-cccc-4444dddd5555"));
    }

    fn aadsts(error: &str, code: u32, text: &str) -> Vec<u8> {
        serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2025-01-01 00:00:00Z"),
            "error_codes": [code],
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn error_bodies_become_actionable_errors() {
        assert_eq!(
            decode(400, None, &aadsts("invalid_grant", 50173, "Revoked.")).err(),
            Some(OAuthError::InvalidGrant {
                description: "AADSTS50173: Revoked.".into()
            })
        );
        assert!(matches!(
            decode(401, None, &aadsts("invalid_client", 7000215, "Bad secret.")),
            Err(OAuthError::InvalidClient { .. })
        ));
        assert!(matches!(
            decode(400, None, &aadsts("unauthorized_client", 700016, "No app.")),
            Err(OAuthError::InvalidClient { .. })
        ));
        assert_eq!(
            decode(400, None, &aadsts("invalid_scope", 70011, "Bad scope.")).err(),
            Some(OAuthError::Rejected {
                status: 400,
                error: "invalid_scope".into(),
                description: "AADSTS70011: Bad scope.".into()
            })
        );
        let wait = Some(Duration::from_millis(2128));
        assert_eq!(
            decode(429, wait, b"").err(),
            Some(OAuthError::Throttled { retry_after: wait })
        );
        assert_eq!(
            decode(400, None, &aadsts("temporarily_unavailable", 1, "Later.")).err(),
            Some(OAuthError::Throttled { retry_after: None })
        );
        assert!(matches!(
            decode(502, None, b"<html>bad gateway</html>"),
            Err(OAuthError::Transport(_))
        ));
        assert!(matches!(
            decode(400, None, b"<html></html>"),
            Err(OAuthError::Decode(_))
        ));
    }

    #[test]
    fn token_answers_are_read_leniently_but_not_blindly() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let response = decode(
            200,
            None,
            br#"{"token_type":"Bearer","access_token":"AT","expires_in":"3599"}"#,
        )
        .expect("token");
        assert_eq!(response.expires_at(now), now + TimeDelta::seconds(3599));
        assert_eq!(response.scopes(&["User.Read"]), ["User.Read"]);
        let response =
            decode(200, None, br#"{"access_token":"AT","scope":"a  b"}"#).expect("token");
        assert_eq!(response.expires_at(now), now + TimeDelta::seconds(3599));
        assert_eq!(response.scopes(&[]), ["a", "b"]);
        let err = decode(200, None, br#"{"access_token":""}"#).err();
        assert!(matches!(err, Some(OAuthError::Decode(_))), "{err:?}");
        let err = decode(200, None, br#"{"refresh_token":"RT-secret"}"#).err();
        assert!(
            matches!(&err, Some(OAuthError::Decode(m)) if !m.contains("RT-secret")),
            "{err:?}"
        );
    }
}
