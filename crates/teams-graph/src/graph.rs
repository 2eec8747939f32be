//! Microsoft Graph resource calls, on graph-rs-sdk, parsed into models of our own.

use std::time::Duration;

use graph_rs_sdk::{GraphClientConfiguration, ODataQuery as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::GraphEndpoints;

/// Why a Graph call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The token is missing, expired or revoked.
    #[error("Graph refused the token (401)")]
    Unauthorized,
    #[error("Graph denied access (403): {0}")]
    Forbidden(String),
    #[error("not found in Graph (404)")]
    NotFound,
    #[error("Graph is throttling or unavailable (retry after {retry_after:?})")]
    Throttled { retry_after: Option<Duration> },
    #[error("Graph answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach Graph: {0}")]
    Transport(String),
    #[error("unexpected answer from Graph: {0}")]
    Decode(String),
}

/// The signed-in Microsoft user (`/me`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MicrosoftUser {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub user_principal_name: String,
}

impl MicrosoftUser {
    /// Mail then UPN, without blanks or repeats (ignoring case).
    pub fn logins(&self) -> Vec<&str> {
        let mut logins: Vec<&str> = Vec::new();
        for login in [
            self.mail.as_deref(),
            Some(self.user_principal_name.as_str()),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        {
            if !login.is_empty() && !logins.iter().any(|l| l.eq_ignore_ascii_case(login)) {
                logins.push(login);
            }
        }
        logins
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A Graph client acting with one access token.
pub struct GraphClient {
    client: graph_rs_sdk::GraphClient,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient").finish_non_exhaustive()
    }
}

async fn parse<T: serde::de::DeserializeOwned>(
    result: Result<reqwest::Response, graph_rs_sdk::error::GraphFailure>,
) -> Result<T, GraphError> {
    let response = result.map_err(|e| GraphError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&bytes).map_err(|e| GraphError::Decode(e.to_string()));
    }
    let detail = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|b| b.error)
        .unwrap_or(ErrorDetail {
            code: String::new(),
            message: String::new(),
        });
    Err(match status {
        401 => GraphError::Unauthorized,
        403 => GraphError::Forbidden(detail.message),
        404 => GraphError::NotFound,
        429 | 503 => GraphError::Throttled { retry_after },
        _ => GraphError::Api {
            status,
            code: detail.code,
            message: detail.message,
        },
    })
}

impl GraphClient {
    /// A client for the configured `graph_url` (any host: public and national clouds, the
    /// emulator).
    pub fn new(
        endpoints: &GraphEndpoints,
        access_token: &SecretString,
    ) -> Result<Self, GraphError> {
        let base = url::Url::parse(endpoints.graph_base())
            .map_err(|e| GraphError::Decode(format!("graph_url: {e}")))?;
        let configuration = GraphClientConfiguration::new()
            .access_token(access_token.expose_secret())
            .timeout(Duration::from_secs(30))
            .https_only(base.scheme() == "https");
        let mut client = graph_rs_sdk::GraphClient::from(configuration);
        // `use_endpoint` accepts only Microsoft's own hosts and panics otherwise; this sets any.
        client.use_test_endpoint(&base);
        Ok(Self { client })
    }

    /// The signed-in user.
    pub async fn me(&self) -> Result<MicrosoftUser, GraphError> {
        parse(
            self.client
                .me()
                .get_user()
                .select(&["id", "displayName", "mail", "userPrincipalName"])
                .send()
                .await,
        )
        .await
    }
}
