//! User statuses (`online`, `away`, `offline`, `dnd`), DND end times in seconds, custom statuses,
//! and the `status_change` event, which only the user themself receives.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::AppError;
use crate::server::{Shared, parse_json};
use crate::state::Server;
use crate::websocket::Event;

/// A user's status. `dnd_end_time` is in epoch **seconds** (0: none); the rest in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    pub user_id: String,
    pub status: String,
    /// Set by the user (or an admin) rather than by activity.
    pub manual: bool,
    pub last_activity_at: i64,
    pub dnd_end_time: i64,
    #[serde(skip)]
    pub(crate) prev_status: String,
}

/// The statuses `PUT /users/{user_id}/status` accepts.
const SETTABLE: [&str; 4] = ["online", "away", "offline", "dnd"];

impl Server {
    /// The current status; an expired DND falls back to the status before it.
    pub(crate) fn status(&mut self, user_id: &str) -> Status {
        let now_secs = chrono::Utc::now().timestamp();
        let status = self
            .statuses
            .entry(user_id.to_owned())
            .or_insert_with(|| Status {
                user_id: user_id.to_owned(),
                status: "offline".into(),
                ..Status::default()
            });
        if status.status == "dnd" && status.dnd_end_time > 0 && status.dnd_end_time <= now_secs {
            status.status = if status.prev_status.is_empty() {
                "online".into()
            } else {
                std::mem::take(&mut status.prev_status)
            };
            status.dnd_end_time = 0;
            status.manual = status.status != "online";
        }
        status.clone()
    }

    pub(crate) fn set_status(
        &mut self,
        user_id: &str,
        status: &str,
        dnd_end_time: i64,
    ) -> Result<Status, AppError> {
        self.user(user_id)?;
        if !SETTABLE.contains(&status) {
            return Err(AppError::invalid_body("status"));
        }
        let now = self.now_ms();
        let previous = self.status(user_id);
        let next = Status {
            user_id: user_id.to_owned(),
            status: status.to_owned(),
            // Setting "online" hands the status back to activity tracking.
            manual: status != "online",
            last_activity_at: now,
            dnd_end_time: if status == "dnd" { dnd_end_time } else { 0 },
            prev_status: if status == "dnd" && previous.status != "dnd" {
                previous.status
            } else {
                previous.prev_status
            },
        };
        self.statuses.insert(user_id.to_owned(), next.clone());
        self.broadcast(
            Event::new("status_change")
                .with("status", status.to_owned())
                .with("user_id", user_id.to_owned())
                .for_user(user_id),
        );
        Ok(next)
    }

    /// A post or other activity makes a user online unless they chose a status by hand.
    pub(crate) fn record_activity(&mut self, user_id: &str) {
        let current = self.status(user_id);
        if current.manual {
            return;
        }
        let now = self.now_ms();
        if current.status == "online" {
            if let Some(status) = self.statuses.get_mut(user_id) {
                status.last_activity_at = now;
            }
        } else {
            let _ = self.set_status(user_id, "online", 0);
        }
    }

    /// `{user_id: status}`, as the WebSocket status actions answer.
    pub(crate) fn status_map(&mut self, user_ids: &[String]) -> Value {
        let known: Vec<&String> = user_ids
            .iter()
            .filter(|id| self.users.contains_key(*id))
            .collect();
        let map: Map<String, Value> = known
            .into_iter()
            .map(|id| (id.clone(), Value::String(self.status(id).status)))
            .collect();
        Value::Object(map)
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/users/{user_id}/status", put(set).get(get_one))
        .route("/api/v4/users/status/ids", post(by_ids))
        .route(
            "/api/v4/users/{user_id}/status/custom",
            put(set_custom).delete(clear_custom),
        )
}

async fn get_one(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Status>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    let mut server = shared.lock();
    server.user(&user_id)?;
    Ok(Json(server.status(&user_id)))
}

#[derive(Debug, Deserialize)]
struct StatusBody {
    user_id: String,
    status: String,
    #[serde(default)]
    dnd_end_time: i64,
}

async fn set(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Json<Status>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    let body: StatusBody = parse_json(&body, "status")?;
    if body.user_id != user_id {
        return Err(AppError::invalid_body("user_id"));
    }
    caller.require_self_or_admin(&user_id)?;
    Ok(Json(shared.lock().set_status(
        &user_id,
        &body.status,
        body.dnd_end_time,
    )?))
}

async fn by_ids(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    body: Bytes,
) -> Result<Json<Vec<Status>>, AppError> {
    let ids: Vec<String> = parse_json(&body, "user_ids")?;
    if ids.is_empty() {
        return Err(AppError::invalid_body("user_ids"));
    }
    let mut server = shared.lock();
    let known: Vec<&String> = ids
        .iter()
        .filter(|id| server.users.contains_key(*id))
        .collect();
    let statuses = known
        .into_iter()
        .map(|id| server.status(id))
        .collect::<Vec<_>>();
    Ok(Json(statuses))
}

#[derive(Debug, Deserialize, Serialize)]
struct CustomStatus {
    emoji: String,
    text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    duration: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    expires_at: String,
}

/// Stored as a JSON string in the user's `props.customStatus`, as Mattermost does; only the user
/// may set it.
async fn set_custom(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    if user_id != caller.user_id {
        return Err(AppError::forbidden());
    }
    let custom: CustomStatus = parse_json(&body, "custom_status")?;
    let encoded = serde_json::to_string(&custom).unwrap_or_default();
    let mut server = shared.lock();
    let now = server.now_ms();
    let user = server
        .users
        .get_mut(&user_id)
        .ok_or_else(AppError::user_not_found)?;
    user.props
        .insert("customStatus".into(), Value::String(encoded));
    user.update_at = now;
    Ok(Json(json!({"status": "OK"})))
}

async fn clear_custom(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    if user_id != caller.user_id {
        return Err(AppError::forbidden());
    }
    let mut server = shared.lock();
    let now = server.now_ms();
    let user = server
        .users
        .get_mut(&user_id)
        .ok_or_else(AppError::user_not_found)?;
    user.props.remove("customStatus");
    user.update_at = now;
    Ok(Json(json!({"status": "OK"})))
}
