//! Files of chat messages: pasted images (hosted contents) and shared files, downloaded as Graph
//! serves them.
//!
//! - `GET /chats/{chat}/messages/{message}/hostedContents[/{id}[/$value]]`: the list, one's
//!   metadata, its bytes with their content type.
//! - `GET /shares/{u!base64url(url)}/driveItem[/content]`: a shared file by its sharing URL (what
//!   a `reference` attachment's `contentUrl` is). `content` answers 302 to a pre-authenticated
//!   download URL (`/_layouts/15/download.aspx?UniqueId=…&tempauth=…`), which needs no bearer
//!   token and lasts an hour, as SharePoint's do.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::error::GraphError;
use crate::identity::Caller;
use crate::model::{DriveFile, HostedContent, url_escape};
use crate::state::{Principal, Tenant};

/// How long a pre-authenticated download URL works.
const DOWNLOAD_URL_LIFETIME: TimeDelta = TimeDelta::hours(1);

/// The hosted contents of a message the caller may see.
fn hosted_of(
    tenant: &Tenant,
    caller: &Caller,
    chat_id: &str,
    message_id: &str,
) -> Result<Vec<HostedContent>, GraphError> {
    let chat = tenant
        .chats
        .get(chat_id)
        .ok_or_else(|| GraphError::not_found(&format!("Chat '{chat_id}' was not found.")))?;
    if let Principal::User { user_id, .. } = &caller.principal
        && !chat.members.contains(user_id)
    {
        return Err(GraphError::forbidden(
            "The caller is not a member of this chat.",
        ));
    }
    let message = tenant
        .message(chat_id, message_id)
        .filter(|m| m.deleted.is_none())
        .ok_or_else(|| GraphError::not_found(&format!("Message '{message_id}' was not found.")))?;
    Ok(message.hosted_contents.clone())
}

fn hosted_json(chat_id: &str, message_id: &str, hosted: &HostedContent) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.chatMessageHostedContent",
        "id": hosted.id,
        "contentBytes": null,
        "contentType": null,
        "@microsoft.graph.temporaryId": null,
        "contentUrl": format!(
            "https://graph.microsoft.com/v1.0/chats/{}/messages/{}/hostedContents/{}/$value",
            chat_id, message_id, hosted.id
        ),
    })
}

fn hosted_not_found(id: &str) -> GraphError {
    GraphError::not_found(&format!("Hosted content '{id}' was not found."))
}

pub(crate) async fn list_hosted(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    let hosted = hosted_of(&shared.lock(), &caller, &chat_id, &message_id)?;
    let value: Vec<Value> = hosted
        .iter()
        .map(|h| hosted_json(&chat_id, &message_id, h))
        .collect();
    Ok(Json(json!({
        "@odata.context": format!(
            "https://graph.microsoft.com/v1.0/$metadata#chats('{}')/messages('{}')/hostedContents",
            url_escape(&chat_id), message_id
        ),
        "@odata.count": value.len(),
        "value": value,
    })))
}

pub(crate) async fn get_hosted(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id, hosted_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, GraphError> {
    let hosted = hosted_of(&shared.lock(), &caller, &chat_id, &message_id)?;
    let one = hosted
        .iter()
        .find(|h| h.id == hosted_id)
        .ok_or_else(|| hosted_not_found(&hosted_id))?;
    Ok(Json(hosted_json(&chat_id, &message_id, one)))
}

/// `$value`: the bytes, with the image's content type.
pub(crate) async fn hosted_value(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id, hosted_id)): Path<(String, String, String)>,
) -> Result<Response, GraphError> {
    let hosted = hosted_of(&shared.lock(), &caller, &chat_id, &message_id)?;
    let one = hosted
        .into_iter()
        .find(|h| h.id == hosted_id)
        .ok_or_else(|| hosted_not_found(&hosted_id))?;
    let mut response = one.bytes.into_response();
    if let Ok(value) = HeaderValue::from_str(&one.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    Ok(response)
}

/// The file a share id names: `u!` and the sharing URL in base64url (padding optional).
fn shared_file(tenant: &Tenant, share_id: &str) -> Result<DriveFile, GraphError> {
    let not_found = || {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The sharing link no longer exists, or you do not have permission to access it.",
        )
    };
    let encoded = share_id.strip_prefix("u!").ok_or_else(|| {
        GraphError::bad_request("Only encoded sharing URLs (u!…) are supported by the emulator.")
    })?;
    let decoded = URL_SAFE_NO_PAD
        .decode(encoded)
        .or_else(|_| URL_SAFE.decode(encoded))
        .map_err(|_| GraphError::bad_request("The sharing URL is not valid base64url."))?;
    let url = String::from_utf8(decoded)
        .map_err(|_| GraphError::bad_request("The sharing URL is not valid UTF-8."))?;
    tenant.drive_files.get(&url).cloned().ok_or_else(not_found)
}

fn mime_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// A stable id for the file, from its URL.
fn item_id(file: &DriveFile) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, file.content_url.as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// A download URL for the file, valid for an hour.
fn download_url(tenant: &mut Tenant, headers: &HeaderMap, file: &DriveFile) -> String {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let expires = tenant.now() + DOWNLOAD_URL_LIFETIME;
    tenant
        .download_tokens
        .insert(token.clone(), (file.content_url.clone(), expires));
    format!(
        "{}/_layouts/15/download.aspx?UniqueId={}&tempauth={token}",
        origin(headers),
        item_id(file)
    )
}

/// `GET /shares/{id}/driveItem`: the file's metadata, with its download URL.
pub(crate) async fn drive_item(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    headers: HeaderMap,
    Path(share_id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let mut tenant = shared.lock();
    let file = shared_file(&tenant, &share_id)?;
    let url = download_url(&mut tenant, &headers, &file);
    Ok(Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#shares('…')/driveItem/$entity",
        "@microsoft.graph.downloadUrl": url,
        "id": item_id(&file),
        "name": file.name,
        "size": file.bytes.len(),
        "webUrl": file.content_url,
        "file": {"mimeType": mime_type(&file.name)},
    })))
}

/// `GET /shares/{id}/driveItem/content`: 302 to the pre-authenticated download URL.
pub(crate) async fn drive_item_content(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    headers: HeaderMap,
    Path(share_id): Path<String>,
) -> Result<Response, GraphError> {
    let mut tenant = shared.lock();
    let file = shared_file(&tenant, &share_id)?;
    let url = download_url(&mut tenant, &headers, &file);
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The pre-authenticated download: no bearer token, a live `tempauth`.
pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let file = {
        let mut tenant = shared.lock();
        let now = tenant.now();
        tenant
            .download_tokens
            .retain(|_, (_, expires)| *expires > now);
        q.get("tempauth")
            .and_then(|token| tenant.download_tokens.get(token))
            .and_then(|(url, _)| tenant.drive_files.get(url).cloned())
    };
    let Some(file) = file else {
        return (
            StatusCode::UNAUTHORIZED,
            "The download link is invalid or has expired.",
        )
            .into_response();
    };
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mime_type(&file.name)),
    );
    // An ASCII fallback, and the exact name per RFC 6266 / 5987.
    let fallback: String = file
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        url_escape(&file.name)
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
