//! Microsoft Graph resource calls, on graph-rs-sdk, parsed into models of our own.

use std::sync::Arc;
use std::time::Duration;

use graph_rs_sdk::GraphClientConfiguration;
use graph_rs_sdk::error::GraphFailure;
use graph_rs_sdk::http::{BodyRead, Method};
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use url::Url;

use crate::GraphEndpoints;
use crate::de::null_as_empty;
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

/// Told about every HTTP request a [`GraphClient`] makes, once each: the endpoint's label (the
/// method's name, such as `"chat_message"` or `"presences_by_user_ids"`) and the HTTP status, or
/// `0` when no answer came. Callers count calls and throttling per endpoint with it (metrics),
/// without this crate depending on a metrics library. It must be quick: it runs inline.
pub type GraphObserver = Arc<dyn Fn(&'static str, u16) + Send + Sync>;

/// A Graph client acting with one access token (delegated or application): make one per token
/// rather than keeping one whose token may have expired.
pub struct GraphClient {
    client: graph_rs_sdk::GraphClient,
    /// The configured `graph_url`: request URLs are built on it, and `@odata.nextLink`s are
    /// followed only when they stay on its origin (the token is never sent elsewhere).
    base: Url,
    observer: Option<GraphObserver>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.base.as_str())
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

/// What came back from one request: the status, how long Graph asked to wait, and the body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    retry_after: Option<Duration>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The model on 2xx, else the error that says what to do.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, GraphError> {
        decode(self.status, self.retry_after, &self.body)
    }

    /// Ok for any 2xx (whatever the body), else the error.
    pub(crate) fn success(&self) -> Result<(), GraphError> {
        if (200..300).contains(&self.status) {
            Ok(())
        } else {
            decode::<serde::de::IgnoredAny>(self.status, self.retry_after, &self.body).map(|_| ())
        }
    }
}

/// One page of a Graph collection.
#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// Pages followed at most for one listing: a server handing out `nextLink`s for ever must not keep
/// a worker busy for ever.
const MAX_PAGES: usize = 1000;

/// The longest `Retry-After` a listing waits out in place; Graph asking for more ends it with the
/// throttling error (the caller's own retry, an inbox item's for instance, then waits).
const MAX_PAGE_WAIT: Duration = Duration::from_secs(60);

/// How long to wait before asking again for a page that failed on try `attempt` (from 0), or
/// `None` to give up with the result: Graph's `Retry-After` in full (never sooner), a short growing
/// pause for an outage or a dropped connection, four retries at most.
fn page_retry_pause<T>(result: &Result<T, GraphError>, attempt: u32) -> Option<Duration> {
    if attempt >= 4 {
        return None;
    }
    let backoff = Duration::from_millis(250 << attempt);
    match result {
        Err(GraphError::Throttled {
            retry_after: Some(wait),
        }) => (*wait <= MAX_PAGE_WAIT).then_some(*wait),
        Err(GraphError::Throttled { retry_after: None } | GraphError::Transport(_)) => {
            Some(backoff)
        }
        Err(GraphError::Api { status, .. }) if *status >= 500 => Some(backoff),
        _ => None,
    }
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
/// The error an unsuccessful answer stands for.
pub(crate) fn error_of(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> GraphError {
    match decode::<serde::de::IgnoredAny>(status, retry_after(headers), body) {
        Err(err) => err,
        Ok(_) => GraphError::Api {
            status,
            code: String::new(),
            message: String::new(),
        },
    }
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
        let base = Url::parse(endpoints.graph_base())
            .map_err(|e| GraphError::Decode(format!("graph_url: {e}")))?;
        let configuration = GraphClientConfiguration::new()
            .access_token(access_token.expose_secret())
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .https_only(base.scheme() == "https");
        let mut client = graph_rs_sdk::GraphClient::from(configuration);
        // `use_endpoint` accepts only Microsoft's own hosts and panics otherwise; this sets any.
        client.use_test_endpoint(&base);
        Ok(Self {
            client,
            base,
            observer: None,
        })
    }

    /// The same client, telling `observer` about each HTTP request it makes (see
    /// [`GraphObserver`]).
    pub fn with_observer(mut self, observer: GraphObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The signed-in user (`GET /me`); needs a delegated token with `User.Read`.
    pub async fn me(&self) -> Result<MicrosoftUser, GraphError> {
        let url = self.url(&["me"], &[("$select", &USER_FIELDS.join(","))]);
        self.send("me", Method::GET, url, None, &[]).await?.json()
    }

    /// A user of the tenant by object id or UPN (`GET /users/{id}`); works with delegated and
    /// application tokens.
    pub async fn user(&self, id_or_upn: &str) -> Result<MicrosoftUser, GraphError> {
        let url = self.url(
            &["users", id_or_upn],
            &[("$select", &USER_FIELDS.join(","))],
        );
        self.send("user", Method::GET, url, None, &[]).await?.json()
    }

    /// `<graph_url>/<segments>?<query>`: each segment is percent-encoded as a path segment needs
    /// (ids are never spliced in raw), the query form-encoded as graph-rs-sdk's OData helpers do.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends one request through graph-rs-sdk (which adds the token) and reads the whole answer;
    /// the observer hears of it once. Only a missing answer is an error here: statuses are the
    /// caller's to read ([`Answer::json`], [`Answer::success`]).
    pub(crate) async fn send(
        &self,
        label: &'static str,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Answer, GraphError> {
        let body = body
            .map(BodyRead::from_serialize)
            .transpose()
            .map_err(|e| GraphError::Decode(format!("request body: {e}")))?;
        let mut handler = self.client.custom(method, body);
        *AsMut::<Url>::as_mut(&mut handler) = url;
        for (name, value) in headers {
            handler = handler.header(name.clone(), value.clone());
        }
        let response = match handler.send().await {
            Ok(response) => response,
            Err(failure) => {
                self.observe(label, 0);
                return Err(unsent(failure));
            }
        };
        let status = response.status().as_u16();
        self.observe(label, status);
        let retry_after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| GraphError::Transport(describe(e)))?
            .to_vec();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// Sends one GET and hands back the response as it arrives (status and headers read, body
    /// not yet), for downloads that must not be read whole; the observer hears of it once.
    pub(crate) async fn get_streaming(
        &self,
        label: &'static str,
        url: Url,
    ) -> Result<reqwest::Response, GraphError> {
        let mut handler = self.client.custom(Method::GET, None);
        *AsMut::<Url>::as_mut(&mut handler) = url;
        match handler.send().await {
            Ok(response) => {
                self.observe(label, response.status().as_u16());
                Ok(response)
            }
            Err(failure) => {
                self.observe(label, 0);
                Err(unsent(failure))
            }
        }
    }

    /// GETs a collection and every page after it (`@odata.nextLink`), in the order served.
    pub(crate) async fn get_all<T: serde::de::DeserializeOwned>(
        &self,
        label: &'static str,
        first: Url,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Vec<T>, GraphError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(GraphError::Decode(format!(
                    "more than {MAX_PAGES} pages of {label}"
                )));
            }
            let page: Page<T> = self.get_page(label, url, headers).await?;
            items.extend(page.value);
            next = page
                .next_link
                .map(|link| self.next_link(&link))
                .transpose()?;
        }
        Ok(items)
    }

    /// One page of a listing. A page that Graph throttles or fails for a moment is asked for again
    /// (after `Retry-After`, or a short growing pause; four times at most): a long listing should
    /// not start over because one of its many pages hit a 429. A `Retry-After` longer than
    /// [`MAX_PAGE_WAIT`] ends the listing with the throttling error, for the caller to retry later.
    async fn get_page<T: serde::de::DeserializeOwned>(
        &self,
        label: &'static str,
        url: Url,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Page<T>, GraphError> {
        let mut attempt = 0u32;
        loop {
            let result = match self
                .send(label, Method::GET, url.clone(), None, headers)
                .await
            {
                Ok(answer) => answer.json(),
                Err(err) => Err(err),
            };
            let Some(pause) = page_retry_pause(&result, attempt) else {
                return result;
            };
            attempt += 1;
            tokio::time::sleep(pause).await;
        }
    }

    /// A `nextLink` to follow with our token: only on `graph_url`'s origin.
    fn next_link(&self, link: &str) -> Result<Url, GraphError> {
        let url = self
            .base
            .join(link)
            .map_err(|e| GraphError::Decode(format!("@odata.nextLink is not a URL: {e}")))?;
        if url.origin() != self.base.origin() {
            return Err(GraphError::Decode(format!(
                "@odata.nextLink leaves graph_url's host ({})",
                url.host_str().unwrap_or("no host")
            )));
        }
        Ok(url)
    }

    fn observe(&self, label: &'static str, status: u16) {
        if let Some(observer) = &self.observer {
            observer(label, status);
        }
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

    fn client() -> GraphClient {
        let endpoints = GraphEndpoints::new(
            &Url::parse("https://graph.microsoft.com/v1.0").expect("url"),
            &Url::parse("https://login.microsoftonline.com").expect("url"),
            "contoso.onmicrosoft.com",
        )
        .expect("endpoints");
        GraphClient::new(&endpoints, &SecretString::from("eyJ0eXAi.secret-token")).expect("client")
    }

    #[test]
    fn ids_are_encoded_as_path_segments() {
        let graph = client();
        assert_eq!(
            graph
                .url(&["chats", "19:abc@thread.v2", "messages", "16/16?x#y"], &[])
                .as_str(),
            "https://graph.microsoft.com/v1.0/chats/19:abc@thread.v2/messages/16%2F16%3Fx%23y"
        );
        assert_eq!(
            graph
                .url(&["users", "a b"], &[("$select", "id,mail")])
                .as_str(),
            "https://graph.microsoft.com/v1.0/users/a%20b?%24select=id%2Cmail"
        );
    }

    #[test]
    fn next_links_are_followed_on_graphs_origin_only() {
        let graph = client();
        let link = "https://graph.microsoft.com/v1.0/chats/19:a@thread.v2/messages?$top=2&$skiptoken=M2U%3d";
        assert_eq!(
            graph.next_link(link).map(|u| u.to_string()),
            Ok(link.to_owned())
        );
        for elsewhere in [
            "https://evil.example.com/v1.0/chats",
            "http://graph.microsoft.com/v1.0/chats",
            "https://graph.microsoft.com:8443/v1.0/chats",
        ] {
            assert!(
                matches!(graph.next_link(elsewhere), Err(GraphError::Decode(_))),
                "{elsewhere}"
            );
        }
    }

    #[test]
    fn pages_are_asked_again_only_after_graphs_retry_after() {
        let throttled = |secs: f64| -> Result<(), GraphError> {
            Err(GraphError::Throttled {
                retry_after: Some(Duration::from_secs_f64(secs)),
            })
        };
        // Graph's wait in full, not a shorter one of ours.
        assert_eq!(
            page_retry_pause(&throttled(30.0), 0),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            page_retry_pause(&throttled(0.5), 3),
            Some(Duration::from_millis(500))
        );
        assert_eq!(page_retry_pause(&throttled(60.0), 0), Some(MAX_PAGE_WAIT));
        // Longer: the listing gives up, and the caller retries when Graph said.
        assert_eq!(page_retry_pause(&throttled(61.0), 0), None);
        assert_eq!(page_retry_pause(&throttled(1.0), 4), None, "four retries");
        let unavailable: Result<(), GraphError> = Err(GraphError::Throttled { retry_after: None });
        assert_eq!(
            page_retry_pause(&unavailable, 2),
            Some(Duration::from_secs(1))
        );
        let gateway: Result<(), GraphError> = Err(GraphError::Api {
            status: 502,
            code: String::new(),
            message: String::new(),
        });
        assert_eq!(
            page_retry_pause(&gateway, 0),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            page_retry_pause(&Err::<(), _>(GraphError::NotFound), 0),
            None
        );
        assert_eq!(page_retry_pause(&Ok(()), 0), None);
    }

    #[tokio::test]
    async fn a_listing_throttled_for_longer_than_a_minute_ends_with_graphs_wait() {
        use graph_emulator::{Fault, FaultRule, GraphEmulator, NewUser};
        let emulator = GraphEmulator::start().await.expect("emulator");
        let alice = emulator.add_user(NewUser::new("Alice Smith", "alice@contoso.com"));
        let endpoints = GraphEndpoints::new(
            &emulator.graph_url(),
            &emulator.login_url(),
            &emulator.tenant_id(),
        )
        .expect("endpoints");
        let token = SecretString::from(emulator.user_token("bridge-app", &alice.id));
        let graph = GraphClient::new(&endpoints, &token).expect("client");
        emulator.inject_fault(
            FaultRule::new(
                "/v1.0/me/chats",
                Fault::Throttle {
                    retry_after: Some("120".into()),
                },
            )
            .times(1),
        );
        let started = std::time::Instant::now();
        assert_eq!(
            graph.my_chats().await,
            Err(GraphError::Throttled {
                retry_after: Some(Duration::from_secs(120))
            })
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "asked again before Graph's Retry-After: {:?}",
            started.elapsed()
        );
        // Within the minute, the listing waits it out and carries on.
        emulator.inject_fault(
            FaultRule::new(
                "/v1.0/me/chats",
                Fault::Throttle {
                    retry_after: Some("1.5".into()),
                },
            )
            .times(1),
        );
        let started = std::time::Instant::now();
        assert_eq!(graph.my_chats().await, Ok(Vec::new()));
        assert!(started.elapsed() >= Duration::from_millis(1_500));
    }

    #[test]
    fn debug_shows_no_token() {
        let graph = client().with_observer(Arc::new(|_, _| {}));
        let text = format!("{graph:?}");
        assert!(!text.contains("secret-token"), "{text}");
        assert!(text.contains("observer: true"), "{text}");
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
