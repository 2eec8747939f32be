//! The tokens the identity platform hands out, and the JSON they are sealed as at rest.

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::oauth::OAuthError;

/// Delegated tokens of one user. `Debug` shows neither token.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    /// Present when `offline_access` was granted.
    pub refresh_token: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
    /// The scopes granted, as the token endpoint listed them.
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

/// What [`TokenSet::to_json`] writes; borrowed, so no extra copy of a token is left in memory.
#[derive(Serialize)]
struct StoredTokensRef<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    expires_at: DateTime<Utc>,
    scopes: &'a [String],
}

#[derive(Deserialize)]
struct StoredTokens {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    expires_at: DateTime<Utc>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl TokenSet {
    /// The JSON to seal at rest: `access_token`, `refresh_token` (when there is one),
    /// `expires_at` (RFC 3339) and `scopes`.
    pub fn to_json(&self) -> Result<SecretString, OAuthError> {
        let stored = StoredTokensRef {
            access_token: self.access_token.expose_secret(),
            refresh_token: self.refresh_token.as_ref().map(|t| t.expose_secret()),
            expires_at: self.expires_at,
            scopes: &self.scopes,
        };
        serde_json::to_string(&stored)
            .map(SecretString::from)
            .map_err(|e| OAuthError::Decode(format!("tokens cannot be written as JSON: {e}")))
    }

    /// Reads what [`TokenSet::to_json`] wrote. The error never quotes the input.
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

    /// True when the access token expires within `margin` of `now` (or already has): refresh
    /// before using it, so a call does not fail half-way through.
    pub fn needs_refresh(&self, now: DateTime<Utc>, margin: TimeDelta) -> bool {
        self.expires_at - margin <= now
    }
}

/// An application (client credentials) token. There is no refresh token: ask for a new one when
/// it runs out. `Debug` hides it.
#[derive(Clone)]
pub struct AppToken {
    pub access_token: SecretString,
    pub expires_at: DateTime<Utc>,
}

impl AppToken {
    /// True when the token expires within `margin` of `now` (or already has).
    pub fn needs_refresh(&self, now: DateTime<Utc>, margin: TimeDelta) -> bool {
        self.expires_at - margin <= now
    }
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, h, m, 0)
            .single()
            .expect("time")
    }

    fn tokens(refresh: Option<&str>) -> TokenSet {
        TokenSet {
            access_token: SecretString::from("AT-secret"),
            refresh_token: refresh.map(SecretString::from),
            expires_at: at(10, 0),
            scopes: vec!["User.Read".into(), "Chat.Read".into()],
        }
    }

    #[test]
    fn tokens_round_trip_through_json() {
        let json = tokens(Some("RT-secret")).to_json().expect("json");
        let value: serde_json::Value =
            serde_json::from_str(json.expose_secret()).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!({
                "access_token": "AT-secret",
                "refresh_token": "RT-secret",
                "expires_at": "2025-03-01T10:00:00Z",
                "scopes": ["User.Read", "Chat.Read"],
            })
        );
        let back = TokenSet::from_json(&json).expect("back");
        assert_eq!(back.access_token.expose_secret(), "AT-secret");
        assert_eq!(
            back.refresh_token.as_ref().map(|t| t.expose_secret()),
            Some("RT-secret")
        );
        assert_eq!(back.expires_at, at(10, 0));
        assert_eq!(back.scopes, ["User.Read", "Chat.Read"]);

        let without = TokenSet::from_json(&tokens(None).to_json().expect("json")).expect("back");
        assert!(without.refresh_token.is_none());
    }

    #[test]
    fn bad_json_is_refused_without_quoting_it() {
        let err = TokenSet::from_json(&SecretString::from(r#"{"access_token":"AT-secret"}"#))
            .expect_err("no expires_at");
        assert!(!err.to_string().contains("AT-secret"), "{err}");
        assert!(matches!(err, OAuthError::Decode(_)));
        assert!(TokenSet::from_json(&SecretString::from("nope")).is_err());
    }

    #[test]
    fn debug_shows_no_token() {
        let debug = format!("{:?}", tokens(Some("RT-secret")));
        assert!(
            !debug.contains("AT-secret") && !debug.contains("RT-secret"),
            "{debug}"
        );
        assert!(debug.contains("has_refresh_token: true"), "{debug}");
        let app = AppToken {
            access_token: SecretString::from("APP-secret"),
            expires_at: at(10, 0),
        };
        assert!(!format!("{app:?}").contains("APP-secret"));
    }

    #[test]
    fn refresh_is_due_within_the_margin() {
        let t = tokens(None);
        let margin = TimeDelta::minutes(5);
        assert!(!t.needs_refresh(at(9, 50), margin));
        assert!(t.needs_refresh(at(9, 55), margin));
        assert!(t.needs_refresh(at(11, 0), margin));
        let app = AppToken {
            access_token: SecretString::from("x"),
            expires_at: at(10, 0),
        };
        assert!(!app.needs_refresh(at(9, 0), margin));
        assert!(app.needs_refresh(at(9, 58), margin));
    }
}
