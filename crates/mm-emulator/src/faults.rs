//! Fault injection and request counting for every `/api/v4` and `/hooks` route, keyed by route
//! template such as `POST /api/v4/posts` or `GET /api/v4/users/{user_id}`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::server::Shared;

/// What a matching request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally, after a delay.
    Latency(Duration),
    /// Mattermost's rate limiter: 429, body `limit exceeded` as plain text, and the
    /// `X-Ratelimit-Limit` (per second), `X-Ratelimit-Remaining` (0) and `X-Ratelimit-Reset`
    /// (seconds) headers, plus `Retry-After`.
    RateLimited { limit: u32, reset_seconds: u64 },
    /// This status (a 5xx, usually) with an AppError body.
    Status(u16),
    /// The request is carried out, then answered with this status instead (a proxy that gave
    /// up after Mattermost did the work): the caller cannot tell whether it happened.
    AnswerLost(u16),
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTarget {
    /// One route, written as the counters write it: `POST /api/v4/posts`.
    Route(String),
    /// Every request whose path starts with this, any method.
    PathPrefix(String),
}

/// A fault for the requests a target matches, for the next `times` of them or for ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub target: FaultTarget,
    pub fault: Fault,
    pub times: Option<u32>,
    /// Matching requests let through before the fault starts.
    pub after: u32,
}

impl FaultRule {
    /// `route` is `"METHOD /template"`, e.g. `"POST /api/v4/posts"`.
    pub fn on_route(route: &str, fault: Fault) -> Self {
        Self {
            target: FaultTarget::Route(route.to_owned()),
            fault,
            times: None,
            after: 0,
        }
    }

    pub fn on_path_prefix(prefix: &str, fault: Fault) -> Self {
        Self {
            target: FaultTarget::PathPrefix(prefix.to_owned()),
            fault,
            times: None,
            after: 0,
        }
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Lets the next `n` matching requests through first.
    pub fn after(mut self, n: u32) -> Self {
        self.after = n;
        self
    }

    fn matches(&self, route: &str, path: &str) -> bool {
        self.times != Some(0)
            && match &self.target {
                FaultTarget::Route(r) => r == route,
                FaultTarget::PathPrefix(prefix) => path.starts_with(prefix.as_str()),
            }
    }
}

pub(crate) fn rate_limited(limit: u32, reset_seconds: u64) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        // Go's http.Error ends the body with a newline.
        "limit exceeded\n",
    )
        .into_response();
    let headers = response.headers_mut();
    let pairs = [
        ("X-Ratelimit-Limit", limit.to_string()),
        ("X-Ratelimit-Remaining", "0".to_owned()),
        ("X-Ratelimit-Reset", reset_seconds.to_string()),
        ("Retry-After", reset_seconds.to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn injected(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    AppError::new(
        status,
        "api.emulator.injected_fault.app_error",
        "The emulator was told to fail this request.",
    )
    .into_response()
}

/// Counts the request, applies the first matching fault, and stamps `X-Version-Id` (and an
/// `X-Request-Id` where the answer has none) as Mattermost does on every answer.
pub(crate) async fn middleware(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/_emulator") {
        return next.run(request).await;
    }
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let route = format!("{} {template}", request.method());
    let fault = {
        let mut server = shared.lock();
        server.count(route.clone());
        server
            .faults
            .iter_mut()
            .find(|rule| rule.matches(&route, &path))
            .and_then(|rule| {
                if rule.after > 0 {
                    rule.after -= 1;
                    return None;
                }
                if let Some(n) = rule.times.as_mut() {
                    *n -= 1;
                }
                Some(rule.fault.clone())
            })
    };
    let mut response = match fault {
        None => next.run(request).await,
        Some(Fault::Latency(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(Fault::RateLimited {
            limit,
            reset_seconds,
        }) => rate_limited(limit, reset_seconds),
        Some(Fault::Status(code)) => injected(code),
        Some(Fault::AnswerLost(code)) => {
            let _done = next.run(request).await;
            injected(code)
        }
    };
    let headers = response.headers_mut();
    if !headers.contains_key("X-Request-Id")
        && let Ok(value) = HeaderValue::from_str(&crate::ids::new_id())
    {
        headers.insert("X-Request-Id", value);
    }
    if let Ok(value) = HeaderValue::from_str(&shared.options.server_version) {
        headers.insert("X-Version-Id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_routes_prefixes_and_counts() {
        let mut rule = FaultRule::on_route("POST /api/v4/posts", Fault::Status(503)).times(1);
        assert!(rule.matches("POST /api/v4/posts", "/api/v4/posts"));
        assert!(!rule.matches("GET /api/v4/posts/{post_id}", "/api/v4/posts/x"));
        rule.times = Some(0);
        assert!(!rule.matches("POST /api/v4/posts", "/api/v4/posts"));
        let prefix = FaultRule::on_path_prefix("/api/v4/users", Fault::Status(500));
        assert!(prefix.matches("GET /api/v4/users/{user_id}", "/api/v4/users/abc"));
    }
}
