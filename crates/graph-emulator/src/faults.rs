//! Fault injection and request counting, applied to every route, and the rewriting of OData key
//! syntax (`chats('id')/messages('id')`) into plain paths.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::emulator::Shared;
use crate::error::GraphError;

/// What a matching request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer normally, after a delay.
    Latency(Duration),
    /// 429 with Graph's throttling body; `Retry-After` in seconds (may be fractional) or absent.
    Throttle { retry_after: Option<String> },
    /// 503 Service Unavailable.
    Unavailable,
    /// Close the connection without an answer.
    DropConnection,
}

/// A fault for requests whose path starts with `path` (and, if set, whose method matches),
/// for the next `times` requests or for ever.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub method: Option<String>,
    pub path: String,
    pub fault: Fault,
    pub times: Option<u32>,
    /// Only every `n`th matching request (a steady share of failures, such as 1 in 10).
    pub every: Option<u32>,
    /// Matching requests seen so far, for `every`.
    pub seen: u32,
}

impl FaultRule {
    pub fn new(path: &str, fault: Fault) -> Self {
        Self {
            method: None,
            path: path.to_owned(),
            fault,
            times: None,
            every: None,
            seen: 0,
        }
    }

    /// Only every `n`th matching request gets the fault (`n` = 10: a tenth of them).
    pub fn every(mut self, n: u32) -> Self {
        self.every = Some(n.max(1));
        self
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times != Some(0)
            && path.starts_with(&self.path)
            && self.method.as_deref().is_none_or(|m| m == method)
    }
}

pub(crate) async fn middleware(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    if path.starts_with("/_emulator") {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let fault = {
        let mut tenant = shared.lock();
        tenant.count(format!("{method} {route}"));
        if request
            .extensions()
            .get::<crate::batch::InBatch>()
            .is_some()
        {
            tenant.count(crate::batch::BATCH_ITEMS_KEY.to_owned());
        }
        // The first matching rule that fires this time; rules with `every` count each match.
        let mut chosen = None;
        for rule in tenant.faults.iter_mut() {
            if !rule.matches(&method, &path) {
                continue;
            }
            if let Some(every) = rule.every {
                rule.seen = rule.seen.wrapping_add(1);
                if rule.seen % every != 0 {
                    continue;
                }
            }
            if let Some(n) = rule.times.as_mut() {
                *n -= 1;
            }
            chosen = Some(rule.fault.clone());
            break;
        }
        chosen
    };
    match fault {
        None => next.run(request).await,
        Some(Fault::Latency(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(Fault::Throttle { retry_after }) => GraphError {
            retry_after,
            ..GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Please retry again later.",
            )
        }
        .into_response(),
        Some(Fault::Unavailable) => GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please try again later.",
        )
        .into_response(),
        // A body that fails before its first byte makes the server abort the connection.
        Some(Fault::DropConnection) => {
            Response::new(Body::from_stream(futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "connection dropped by fault injection",
                ))
            })))
        }
    }
}

/// Rewrites `/v1.0/chats('19:x')/messages('1')` to `/v1.0/chats/19:x/messages/1`, so the
/// `@odata.id` of a notification can be fetched as it is.
pub(crate) fn normalize_odata_keys(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    if !(path.contains('(') || path.contains("%28")) {
        return request;
    }
    let mut rewritten = path.to_owned();
    for open in ["('", "(%27", "%28'", "%28%27"] {
        rewritten = rewritten.replace(open, "/");
    }
    for close in ["')", "%27)", "'%29", "%27%29"] {
        rewritten = rewritten.replace(close, "");
    }
    let with_query = match uri.query() {
        Some(q) => format!("{rewritten}?{q}"),
        None => rewritten,
    };
    if let Ok(new_uri) = with_query.parse() {
        *request.uri_mut() = new_uri;
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_keys_become_path_segments() {
        let request = Request::builder()
            .uri("/v1.0/chats('19:abc@thread.v2')/messages('1612289992105')?x=1")
            .body(Body::empty())
            .expect("request");
        let rewritten = normalize_odata_keys(request);
        assert_eq!(
            rewritten.uri().to_string(),
            "/v1.0/chats/19:abc@thread.v2/messages/1612289992105?x=1"
        );
    }

    #[test]
    fn rules_match_by_prefix_method_and_count() {
        let mut rule = FaultRule::new("/v1.0/communications", Fault::Unavailable)
            .method("post")
            .times(1);
        assert!(rule.matches("POST", "/v1.0/communications/getPresencesByUserId"));
        assert!(!rule.matches("GET", "/v1.0/communications/getPresencesByUserId"));
        assert!(!rule.matches("POST", "/v1.0/me"));
        rule.times = Some(0);
        assert!(!rule.matches("POST", "/v1.0/communications/getPresencesByUserId"));
    }
}
