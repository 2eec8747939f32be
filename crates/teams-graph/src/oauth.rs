//! The Microsoft identity platform's OAuth 2.0 flows: authorization code with PKCE, refresh
//! token, client credentials. Written against the configured `login_url`, so every cloud and the
//! local emulator work (graph-rs-sdk's OAuth crate only knows the public clouds' hosts).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::GraphEndpoints;
use crate::pkce::Pkce;

/// Why a token request failed. No variant carries a token, code, verifier or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The code or refresh token is expired, revoked, already used, or its PKCE verifier does not
    /// match: the user has to sign in again.
    #[error("invalid_grant: {description}")]
    InvalidGrant { description: String },
    /// The app's client id or secret was refused: an admin has to fix the configuration.
    #[error("invalid_client: {description}")]
    InvalidClient { description: String },
    /// Another documented error answer.
    #[error("{error} (HTTP {status}): {description}")]
    Rejected {
        status: u16,
        error: String,
        description: String,
    },
    /// 429 or 503: try again later.
    #[error("the identity platform is throttling or unavailable (retry after {retry_after:?})")]
    Throttled { retry_after: Option<Duration> },
    #[error("cannot reach the identity platform: {0}")]
    Transport(String),
    #[error("unexpected answer from the identity platform: {0}")]
    Decode(String),
}

/// Delegated tokens of one user. `Debug` shows neither token.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct StoredTokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    expires_at: DateTime<Utc>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl TokenSet {
    /// The JSON to seal at rest.
    pub fn to_json(&self) -> Result<SecretString, OAuthError> {
        let stored = StoredTokens {
            access_token: self.access_token.expose_secret().to_owned(),
            refresh_token: self
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            expires_at: self.expires_at,
            scopes: self.scopes.clone(),
        };
        serde_json::to_string(&stored)
            .map(SecretString::from)
            .map_err(|e| OAuthError::Decode(e.to_string()))
    }

    /// Reads what [`TokenSet::to_json`] wrote.
    pub fn from_json(json: &SecretString) -> Result<Self, OAuthError> {
        let stored: StoredTokens = serde_json::from_str(json.expose_secret())
            .map_err(|_| OAuthError::Decode("stored tokens are not valid JSON".into()))?;
        Ok(Self {
            access_token: SecretString::from(stored.access_token),
            refresh_token: stored.refresh_token.map(SecretString::from),
            expires_at: stored.expires_at,
            scopes: stored.scopes,
        })
    }

    /// True when the access token expires within `margin` of `now`.
    pub fn needs_refresh(&self, now: DateTime<Utc>, margin: TimeDelta) -> bool {
        self.expires_at - margin <= now
    }
}

/// An application (client credentials) token. `Debug` hides it.
#[derive(Clone)]
pub struct AppToken {
    pub access_token: SecretString,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// The app registration's OAuth client.
pub struct OAuthClient {
    endpoints: GraphEndpoints,
    client_id: String,
    client_secret: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("token_url", &self.endpoints.token_url().as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The first line of an AADSTS description: the rest is trace ids and timestamps.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_owned()
}

impl OAuthClient {
    pub fn new(endpoints: GraphEndpoints, client_id: String, client_secret: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            endpoints,
            client_id,
            client_secret,
            http,
        }
    }

    pub fn endpoints(&self) -> &GraphEndpoints {
        &self.endpoints
    }

    /// Where to send the user to sign in. Without `login_hint`, Microsoft shows its account
    /// picker, so a user with several accounts chooses the right one.
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

    async fn request(&self, form: &[(&str, &str)]) -> Result<TokenResponse, OAuthError> {
        let mut fields: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        fields.extend_from_slice(form);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .http
            .post(self.endpoints.token_url().clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| OAuthError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if status == 429 || status == 503 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(OAuthError::Throttled { retry_after });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| OAuthError::Transport(e.without_url().to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes)
                .map_err(|_| OAuthError::Decode(format!("HTTP {status} without a token")));
        }
        let error: ErrorResponse = serde_json::from_slice(&bytes)
            .map_err(|_| OAuthError::Decode(format!("HTTP {status} without an error body")))?;
        let description = first_line(&error.error_description);
        Err(match error.error.as_str() {
            "invalid_grant" => OAuthError::InvalidGrant { description },
            "invalid_client" | "unauthorized_client" => OAuthError::InvalidClient { description },
            _ => OAuthError::Rejected {
                status,
                error: error.error,
                description,
            },
        })
    }

    fn token_set(
        response: TokenResponse,
        previous_refresh: Option<&SecretString>,
        now: DateTime<Utc>,
    ) -> TokenSet {
        TokenSet {
            access_token: SecretString::from(response.access_token),
            refresh_token: response
                .refresh_token
                .map(SecretString::from)
                .or_else(|| previous_refresh.cloned()),
            expires_at: now + TimeDelta::seconds(response.expires_in.unwrap_or(3600)),
            scopes: response
                .scope
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Redeems an authorization code with the PKCE verifier kept since the authorize request.
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
            .request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier.expose_secret()),
                ("scope", &scope),
            ])
            .await?;
        Ok(Self::token_set(response, None, now))
    }

    /// New tokens for a refresh token; the old refresh token is kept when none comes back.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        scopes: &[&str],
        now: DateTime<Utc>,
    ) -> Result<TokenSet, OAuthError> {
        let scope = scopes.join(" ");
        let response = self
            .request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
                ("scope", &scope),
            ])
            .await?;
        Ok(Self::token_set(response, Some(refresh_token), now))
    }

    /// An application token for the Graph resource of the configured `graph_url`.
    pub async fn client_credentials(&self, now: DateTime<Utc>) -> Result<AppToken, OAuthError> {
        let scope = format!("{}/.default", self.endpoints.graph_origin());
        let response = self
            .request(&[("grant_type", "client_credentials"), ("scope", &scope)])
            .await?;
        Ok(AppToken {
            access_token: SecretString::from(response.access_token),
            expires_at: now + TimeDelta::seconds(response.expires_in.unwrap_or(3600)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_json_and_hide_in_debug() {
        let now = Utc::now();
        let tokens = TokenSet {
            access_token: SecretString::from("AT-secret"),
            refresh_token: Some(SecretString::from("RT-secret")),
            expires_at: now,
            scopes: vec!["User.Read".into()],
        };
        let json = tokens.to_json().expect("json");
        let back = TokenSet::from_json(&json).expect("back");
        assert_eq!(back.access_token.expose_secret(), "AT-secret");
        assert_eq!(
            back.refresh_token.as_ref().map(|t| t.expose_secret()),
            Some("RT-secret")
        );
        assert_eq!(back.expires_at, now);
        let debug = format!("{back:?}");
        assert!(
            !debug.contains("AT-secret") && !debug.contains("RT-secret"),
            "{debug}"
        );
        assert!(back.needs_refresh(now - TimeDelta::minutes(1), TimeDelta::minutes(5)));
        assert!(!back.needs_refresh(now - TimeDelta::minutes(10), TimeDelta::minutes(5)));
        assert!(TokenSet::from_json(&SecretString::from("nope")).is_err());
    }
}
