//! File uploads (multipart or a raw body), downloads and `FileInfo`, with a configurable maximum
//! size answered by 413 as Mattermost does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::AppError;
use crate::ids::{is_valid_id, new_id};
use crate::server::Shared;
use crate::state::Server;

/// Metadata of an uploaded file, as `/api/v4/files/{file_id}/info` and post metadata show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileInfo {
    pub id: String,
    pub user_id: String,
    /// Empty until a post attaches the file.
    pub post_id: String,
    pub channel_id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub name: String,
    /// Lowercase, without the dot.
    pub extension: String,
    pub size: u64,
    pub mime_type: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub width: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub height: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_preview_image: bool,
    pub mini_preview: Option<String>,
    pub remote_id: String,
    pub archived: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub(crate) info: FileInfo,
    pub(crate) bytes: Bytes,
}

fn mime_type(extension: &str) -> &'static str {
    match extension {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "txt" | "log" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => "",
    }
}

/// Width and height of PNG and GIF images, read from their headers.
fn image_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if bytes.len() >= 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((be(&bytes[16..20]), be(&bytes[20..24])));
    }
    if bytes.len() >= 10 && (bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a")) {
        let w = u32::from(u16::from_le_bytes([bytes[6], bytes[7]]));
        let h = u32::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        return Some((w, h));
    }
    None
}

fn too_large(name: &str, size: u64, limit: u64) -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "api.file.upload_file.too_large_detailed.app_error",
        format!(
            "Unable to upload file {name}. {size} bytes exceeds the maximum allowed {limit} bytes."
        ),
    )
}

impl Server {
    pub(crate) fn store_file(
        &mut self,
        caller: &Caller,
        channel_id: &str,
        name: &str,
        bytes: Bytes,
    ) -> Result<FileInfo, AppError> {
        self.channel(channel_id)?;
        if !caller.admin && !self.is_member(channel_id, &caller.user_id) {
            return Err(AppError::forbidden());
        }
        let size = bytes.len() as u64;
        if size > self.max_file_size {
            return Err(too_large(name, size, self.max_file_size));
        }
        let extension = name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_lowercase())
            .unwrap_or_default();
        let mime = mime_type(&extension);
        let (width, height) = if mime.starts_with("image/") {
            image_size(&bytes).unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        let now = self.now_ms();
        let info = FileInfo {
            id: new_id(),
            user_id: caller.user_id.clone(),
            channel_id: channel_id.to_owned(),
            create_at: now,
            update_at: now,
            name: name.to_owned(),
            extension,
            size,
            mime_type: mime.to_owned(),
            width,
            height,
            has_preview_image: mime.starts_with("image/") && mime != "image/svg+xml",
            ..FileInfo::default()
        };
        self.files.insert(
            info.id.clone(),
            StoredFile {
                info: info.clone(),
                bytes,
            },
        );
        Ok(info)
    }

    fn readable_file(&self, caller: &Caller, file_id: &str) -> Result<&StoredFile, AppError> {
        if !is_valid_id(file_id) {
            return Err(AppError::invalid_url_param("file_id"));
        }
        let file = self
            .files
            .get(file_id)
            .filter(|f| f.info.delete_at == 0)
            .ok_or_else(AppError::file_not_found)?;
        let uploader = file.info.user_id == caller.user_id;
        if !uploader {
            self.readable_channel(caller, &file.info.channel_id)?;
        }
        Ok(file)
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/api/v4/files",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v4/files/{file_id}", get(download))
        .route("/api/v4/files/{file_id}/info", get(info))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UploadQuery {
    channel_id: Option<String>,
    filename: Option<String>,
}

/// A file part, read while counting so an oversized upload stops at the limit.
async fn read_limited(
    mut field: axum::extract::multipart::Field<'_>,
    name: &str,
    limit: u64,
) -> Result<Bytes, AppError> {
    let mut data = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|_| AppError::invalid_body("files"))?
    {
        data.extend_from_slice(&chunk);
        if data.len() as u64 > limit {
            return Err(too_large(name, data.len() as u64, limit));
        }
    }
    Ok(Bytes::from(data))
}

async fn upload(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let limit = shared.lock().max_file_size;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut channel_id = query.channel_id.unwrap_or_default();
    let mut client_ids = Vec::new();
    let mut uploads: Vec<(String, Bytes)> = Vec::new();
    if is_multipart {
        let mut multipart = Multipart::from_request(request, &shared)
            .await
            .map_err(|_| AppError::invalid_body("files"))?;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|_| AppError::invalid_body("files"))?
        {
            match field.name().unwrap_or("") {
                "channel_id" => {
                    channel_id = field
                        .text()
                        .await
                        .map_err(|_| AppError::invalid_body("channel_id"))?;
                }
                "client_ids" => client_ids.push(
                    field
                        .text()
                        .await
                        .map_err(|_| AppError::invalid_body("client_ids"))?,
                ),
                "files" => {
                    let name = field.file_name().unwrap_or("file").to_owned();
                    let bytes = read_limited(field, &name, limit).await?;
                    uploads.push((name, bytes));
                }
                _ => {}
            }
        }
    } else {
        let name = query
            .filename
            .filter(|n| !n.is_empty())
            .ok_or_else(|| AppError::invalid_url_param("filename"))?;
        let body = axum::body::to_bytes(
            request.into_body(),
            usize::try_from(limit + 1).unwrap_or(usize::MAX),
        )
        .await
        .map_err(|_| too_large(&name, limit + 1, limit))?;
        uploads.push((name, body));
    }
    if !is_valid_id(&channel_id) {
        return Err(AppError::invalid_url_param("channel_id"));
    }
    if uploads.is_empty() {
        return Err(AppError::bad_request(
            "api.file.upload_file.multipart.app_error",
            "Unable to upload files: no files in the request.",
        ));
    }
    let mut server = shared.lock();
    let mut infos = Vec::new();
    for (name, bytes) in uploads {
        infos.push(server.store_file(&caller, &channel_id, &name, bytes)?);
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"file_infos": infos, "client_ids": client_ids})),
    ))
}

async fn download(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(file_id): Path<String>,
) -> Result<Response, AppError> {
    let file = shared.lock().readable_file(&caller, &file_id)?.clone();
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    let mime = if file.info.mime_type.is_empty() {
        "application/octet-stream"
    } else {
        file.info.mime_type.as_str()
    };
    if let Ok(value) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let disposition = format!(
        "attachment;filename=\"{}\"",
        file.info.name.replace('"', "")
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

async fn info(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(file_id): Path<String>,
) -> Result<Json<FileInfo>, AppError> {
    Ok(Json(
        shared.lock().readable_file(&caller, &file_id)?.info.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_and_gif_sizes_come_from_headers() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(image_size(&png), Some((640, 480)));
        assert_eq!(image_size(b"GIF89a\x10\x00\x20\x00"), Some((16, 32)));
        assert_eq!(image_size(b"plain text"), None);
    }
}
