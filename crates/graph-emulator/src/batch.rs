//! JSON batching: up to 20 requests in one POST, each run through the same routes (and so counted
//! and throttled one by one, as Graph does).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, header};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt as _;

use crate::emulator::{Shared, router};
use crate::error::GraphError;

#[derive(Debug, Deserialize)]
pub(crate) struct BatchRequest {
    requests: Option<Vec<BatchItem>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchItem {
    id: Option<String>,
    method: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: Map<String, Value>,
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

/// The mark of a request run from inside a `$batch`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InBatch;

/// The counter key that counts the requests run from inside `$batch`es: the requests on the
/// wire are all the counted requests less this many.
pub const BATCH_ITEMS_KEY: &str = "($batch items)";

pub(crate) async fn batch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(request): Json<BatchRequest>,
) -> Result<Json<Value>, GraphError> {
    let items = request
        .requests
        .ok_or_else(|| GraphError::bad_request("The 'requests' property is required."))?;
    if items.len() > 20 {
        return Err(GraphError::bad_request(
            "Invalid batch payload format: the number of requests in a batch is limited to 20.",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for item in &items {
        let id = item
            .id
            .as_deref()
            .ok_or_else(|| GraphError::bad_request("Every request needs an 'id'."))?;
        if !seen.insert(id.to_ascii_lowercase()) {
            return Err(GraphError::bad_request(&format!(
                "Duplicate request id '{id}' in the batch."
            )));
        }
        if item.method.is_none() || item.url.is_none() {
            return Err(GraphError::bad_request(
                "Every request needs a 'method' and a 'url'.",
            ));
        }
    }
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    let host = headers.get(header::HOST).cloned();
    let mut statuses: std::collections::HashMap<String, u16> = std::collections::HashMap::new();
    let mut responses = Vec::new();
    for item in items {
        let id = item.id.unwrap_or_default();
        let failed_dependency = item.depends_on.iter().any(|dep| {
            statuses
                .get(dep)
                .is_none_or(|status| !(200..300).contains(status))
        });
        if failed_dependency {
            statuses.insert(id.clone(), 424);
            responses.push(json!({"id": id, "status": 424, "body": {"error": {"code": "FailedDependency", "message": "A request this one depends on failed."}}}));
            continue;
        }
        let url = item.url.unwrap_or_default();
        let path = format!("/v1.0/{}", url.trim_start_matches('/'));
        let mut builder = Request::builder()
            .method(
                item.method
                    .unwrap_or_default()
                    .to_ascii_uppercase()
                    .as_str(),
            )
            .uri(path);
        // Marks the request as one of a batch's (an extension: no client can set it), so the
        // counters can tell requests on the wire from those inside a `$batch`.
        builder = builder.extension(InBatch);
        if let Some(auth) = &authorization {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        if let Some(host) = &host {
            builder = builder.header(header::HOST, host);
        }
        for (name, value) in &item.headers {
            if let Some(value) = value.as_str() {
                builder = builder.header(name.as_str(), value);
            }
        }
        let body = match &item.body {
            Some(body) => {
                if !item
                    .headers
                    .keys()
                    .any(|k| k.eq_ignore_ascii_case("content-type"))
                {
                    builder = builder.header(header::CONTENT_TYPE, "application/json");
                }
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let request = builder
            .body(body)
            .map_err(|e| GraphError::bad_request(&format!("Request '{id}' is malformed: {e}")))?;
        let request = crate::faults::normalize_odata_keys(request);
        let response = router(shared.clone())
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status();
        let mut response_headers = Map::new();
        for (name, value) in response.headers() {
            if let Ok(value) = value.to_str() {
                response_headers
                    .insert(header_case(name.as_str()), Value::String(value.to_owned()));
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .unwrap_or_default();
        let body = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
        statuses.insert(id.clone(), status.as_u16());
        responses.push(
            json!({"id": id, "status": status.as_u16(), "headers": response_headers, "body": body}),
        );
    }
    Ok(Json(json!({"responses": responses})))
}

/// A header name as Graph writes it in batch answers: `Retry-After`, `Content-Type`, but
/// `request-id` and `client-request-id` in lower case.
fn header_case(name: &str) -> String {
    if matches!(name, "request-id" | "client-request-id") {
        return name.to_owned();
    }
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::header_case;

    #[test]
    fn header_names_are_capitalized_as_graph_writes_them() {
        assert_eq!(header_case("retry-after"), "Retry-After");
        assert_eq!(header_case("content-type"), "Content-Type");
        assert_eq!(header_case("preference-applied"), "Preference-Applied");
        assert_eq!(header_case("request-id"), "request-id");
    }
}
