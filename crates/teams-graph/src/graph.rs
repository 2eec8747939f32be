//! Microsoft Graph resource calls, on graph-rs-sdk, parsed into models of our own.

use std::time::Duration;

use graph_rs_sdk::error::GraphFailure;
use graph_rs_sdk::{GraphClientConfiguration, ODataQuery as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::GraphEndpoints;
use crate::transport::{chain, describe, retry_after};

/// The properties of a user this crate reads.
const USER_FIELDS: &[&str] = &["id", "displayName", "mail", "userPrincipalName"];

/// Why a Graph call failed. No variant carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// 401: the token is missing, expired or revoked. Refresh it, or have the user sign in again.
    #[error("Graph refused the token (401)")]
    Unauthorized,
    /// 403: the token is valid but lacks a permission (or the tenant forbids the call).
    #[error("Graph denied access (403): {message}")]
    Forbidden { message: String },
    /// 404: no such resource (or not visible to this token).
    #[error("not found in Graph (404)")]
    NotFound,
    /// 429 or 503: wait `retry_after` when given, else back off.
    #[error("Graph is throttling or unavailable (retry after {retry_after:?})")]
    Throttled { retry_after: Option<Duration> },
    /// Any other error answer, with Graph's `error.code` and `error.message`.
    #[error("Graph answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer: connection refused or reset, timeout.
    #[error("cannot reach Graph: {0}")]
    Transport(String),
    /// An answer that does not have the documented shape.
    #[error("unexpected answer from Graph: {0}")]
    Decode(String),
}

/// A Microsoft Entra user, as `/me` and `/users/{id}` give it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MicrosoftUser {
    /// The directory object id: what identifies the account for good (mail and UPN can change).
    pub id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub display_name: String,
    /// Users without a mailbox have none.
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub user_principal_name: String,
}

/// Graph sends `null` for unset properties; read it as empty.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

impl MicrosoftUser {
    /// The addresses the user signs in or is written to with, to match against other systems'
    /// accounts: mail then UPN, trimmed, without blanks or repeats (ignoring ASCII case).
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

#[derive(Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A Graph client acting with one access token (delegated or application): make one per token
/// rather than keeping one whose token may have expired.
pub struct GraphClient {
    client: graph_rs_sdk::GraphClient,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient").finish_non_exhaustive()
    }
}

/// Reads a Graph answer: the model on 2xx, else the error that says what to do.
async fn parse<T: serde::de::DeserializeOwned>(
    result: Result<reqwest::Response, GraphFailure>,
) -> Result<T, GraphError> {
    let response = result.map_err(unsent)?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let bytes = response
        .bytes()
        .await
        .map_err(|e| GraphError::Transport(describe(e)))?;
    decode(status, retry_after, &bytes)
}

/// A request without an answer. The SDK's tower stack hands reqwest's errors back boxed.
fn unsent(failure: GraphFailure) -> GraphError {
    GraphError::Transport(match failure {
        GraphFailure::ReqwestError(e) => describe(e),
        GraphFailure::Other(boxed) => match boxed.downcast::<reqwest::Error>() {
            Ok(e) => describe(*e),
            Err(other) => chain(other.as_ref()),
        },
        other => other.to_string(),
    })
}

fn decode<T: serde::de::DeserializeOwned>(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<T, GraphError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(body).map_err(|e| GraphError::Decode(e.to_string()));
    }
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_default();
    Err(match status {
        401 => GraphError::Unauthorized,
        403 => GraphError::Forbidden {
            message: detail.message,
        },
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
            .connect_timeout(Duration::from_secs(10))
            .https_only(base.scheme() == "https");
        let mut client = graph_rs_sdk::GraphClient::from(configuration);
        // `use_endpoint` accepts only Microsoft's own hosts and panics otherwise; this sets any.
        client.use_test_endpoint(&base);
        Ok(Self { client })
    }

    /// The signed-in user (`GET /me`); needs a delegated token with `User.Read`.
    pub async fn me(&self) -> Result<MicrosoftUser, GraphError> {
        parse(self.client.me().get_user().select(USER_FIELDS).send().await).await
    }

    /// A user of the tenant by object id or UPN (`GET /users/{id}`); works with delegated and
    /// application tokens.
    pub async fn user(&self, id_or_upn: &str) -> Result<MicrosoftUser, GraphError> {
        parse(
            self.client
                .user(id_or_upn)
                .get_user()
                .select(USER_FIELDS)
                .send()
                .await,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(mail: Option<&str>, upn: &str) -> MicrosoftUser {
        MicrosoftUser {
            id: "id".into(),
            display_name: "Alice".into(),
            mail: mail.map(str::to_owned),
            user_principal_name: upn.into(),
        }
    }

    #[test]
    fn logins_are_mail_then_upn_without_blanks_or_repeats() {
        assert_eq!(
            user(
                Some("alice@contoso.com"),
                "alice_upn@contoso.onmicrosoft.com"
            )
            .logins(),
            ["alice@contoso.com", "alice_upn@contoso.onmicrosoft.com"]
        );
        assert_eq!(
            user(Some("Alice@Contoso.com"), "alice@contoso.com").logins(),
            ["Alice@Contoso.com"]
        );
        assert_eq!(
            user(None, "alice@contoso.com").logins(),
            ["alice@contoso.com"]
        );
        assert_eq!(
            user(Some("  "), " alice@contoso.com ").logins(),
            ["alice@contoso.com"]
        );
        assert!(user(Some(""), "").logins().is_empty());
    }

    #[test]
    fn users_are_read_with_nulls() {
        let user: MicrosoftUser = decode(
            200,
            None,
            br#"{"@odata.context":"x","id":"42","displayName":null,"mail":null,"userPrincipalName":"dan@contoso.com","jobTitle":"CEO"}"#,
        )
        .expect("user");
        assert_eq!(user.id, "42");
        assert_eq!(user.display_name, "");
        assert_eq!(user.mail, None);
        assert_eq!(user.logins(), ["dan@contoso.com"]);
        let err = decode::<MicrosoftUser>(200, None, br#"{"displayName":"no id"}"#)
            .expect_err("an error");
        assert!(matches!(err, GraphError::Decode(_)), "{err}");
    }

    #[test]
    fn error_answers_say_what_to_do() {
        let body = |code: &str, message: &str| {
            serde_json::json!({"error": {"code": code, "message": message, "innerError": {}}})
                .to_string()
                .into_bytes()
        };
        let err = |status, wait, body: &[u8]| {
            decode::<MicrosoftUser>(status, wait, body).expect_err("an error")
        };
        assert_eq!(
            err(401, None, &body("InvalidAuthenticationToken", "expired")),
            GraphError::Unauthorized
        );
        assert_eq!(
            err(403, None, &body("Forbidden", "Missing scope")),
            GraphError::Forbidden {
                message: "Missing scope".into()
            }
        );
        assert_eq!(err(404, None, b""), GraphError::NotFound);
        let wait = Some(Duration::from_secs(3));
        assert_eq!(
            err(429, wait, &body("TooManyRequests", "slow down")),
            GraphError::Throttled { retry_after: wait }
        );
        assert_eq!(
            err(503, None, b"<html/>"),
            GraphError::Throttled { retry_after: None }
        );
        assert_eq!(
            err(400, None, &body("BadRequest", "Bad $select")),
            GraphError::Api {
                status: 400,
                code: "BadRequest".into(),
                message: "Bad $select".into()
            }
        );
        assert_eq!(
            err(500, None, b"oops"),
            GraphError::Api {
                status: 500,
                code: String::new(),
                message: String::new()
            }
        );
    }
}
