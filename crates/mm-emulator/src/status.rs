//! User statuses (`online`, `away`, `offline`, `dnd`), DND end times in seconds, custom statuses
//! (kept as a JSON string in the user's `props.customStatus`), and the `status_change` event,
//! which only the user themself receives.
//!
//! Setting another user's status or custom status needs `edit_other_users`, which only system
//! admins hold here: a bot acting for users must be a system admin, as on a real server.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{post, put};
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset, Timelike as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::AppError;
use crate::ids::is_valid_id;
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

    /// A status as Mattermost's activity tracking sets it, not by hand (`manual` false): `away`
    /// after a while without activity, `online` on activity, `offline` once disconnected. A
    /// later activity makes the user online again. `dnd` is only ever chosen by hand.
    pub(crate) fn set_status_by_activity(
        &mut self,
        user_id: &str,
        status: &str,
    ) -> Result<Status, AppError> {
        if status == "dnd" {
            return Err(AppError::invalid_body("status"));
        }
        let mut next = self.set_status(user_id, status, 0)?;
        next.manual = false;
        if let Some(stored) = self.statuses.get_mut(user_id) {
            stored.manual = false;
        }
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
        return Err(AppError::invalid_param("user_id"));
    }
    // `edit_other_users`: the user themself, or a system admin (a bot only if it is one).
    caller.require_self_or_admin(&user_id)?;
    Ok(Json(shared.lock().set_status(
        &user_id,
        &body.status,
        body.dnd_end_time,
    )?))
}

/// Every requested id gets a status, as Mattermost answers: users without one (or unknown ids)
/// are `offline`. Ids must be well formed.
async fn by_ids(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    body: Bytes,
) -> Result<Json<Vec<Status>>, AppError> {
    let ids: Vec<String> = parse_json(&body, "user_ids")?;
    if ids.is_empty() || !ids.iter().all(|id| is_valid_id(id)) {
        return Err(AppError::invalid_param("user_ids"));
    }
    let mut server = shared.lock();
    let statuses = ids
        .iter()
        .map(|id| {
            if server.users.contains_key(id) {
                server.status(id)
            } else {
                Status {
                    user_id: id.clone(),
                    status: "offline".into(),
                    ..Status::default()
                }
            }
        })
        .collect::<Vec<_>>();
    Ok(Json(statuses))
}

/// The `duration` values Mattermost accepts besides none.
const DURATIONS: [&str; 6] = [
    "thirty_minutes",
    "one_hour",
    "four_hours",
    "today",
    "this_week",
    "date_and_time",
];

/// Mattermost's cap on a custom status text, in characters.
const CUSTOM_TEXT_MAX_CHARS: usize = 100;

/// What Go's zero `time.Time` marshals to: a custom status without an end.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A user's custom status, as Mattermost keeps it (a JSON string in the user's
/// `props.customStatus`: `{"emoji","text","duration","expires_at"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomStatus {
    /// An emoji name without colons; Mattermost stores `speech_balloon` when none is given.
    pub emoji: String,
    /// At most 100 characters are kept.
    pub text: String,
    /// `thirty_minutes`, `one_hour`, `four_hours`, `today`, `this_week`, `date_and_time`, or
    /// empty ("don't clear"). Each needs an `expires_at` that is not past.
    pub duration: String,
    /// When it ends; `None` for never (Go's zero time in the stored JSON).
    pub expires_at: Option<DateTime<Utc>>,
}

impl CustomStatus {
    pub fn new(emoji: &str, text: &str) -> Self {
        Self {
            emoji: emoji.to_owned(),
            text: text.to_owned(),
            ..Self::default()
        }
    }

    /// Ends at `expires_at` (`date_and_time`).
    pub fn until(mut self, expires_at: DateTime<Utc>) -> Self {
        self.duration = "date_and_time".into();
        self.expires_at = Some(expires_at);
        self
    }

    /// Whether it has ended at `now`, as Mattermost's clients judge it.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|end| now >= end)
    }
}

/// `PUT /users/{user_id}/status/custom` as Go decodes it: missing fields are empty, and
/// `expires_at` must be an RFC 3339 time when present.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CustomStatusBody {
    emoji: String,
    text: String,
    duration: String,
    expires_at: Option<String>,
}

/// The stored JSON, in Go's field order.
#[derive(Debug, Serialize)]
struct StoredCustomStatus<'a> {
    emoji: &'a str,
    text: &'a str,
    duration: &'a str,
    expires_at: String,
}

/// `time` as Go's `time.Time` marshals it: RFC 3339, fractional seconds without trailing zeros,
/// `Z` for UTC.
fn go_time(time: &DateTime<FixedOffset>) -> String {
    let mut text = time.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = time.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        text.push('.');
        text.push_str(format!("{nanos:09}").trim_end_matches('0'));
    }
    let offset = time.offset().local_minus_utc();
    if offset == 0 {
        text.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.unsigned_abs() / 60;
        text.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    }
    text
}

/// An RFC 3339 time; Go's zero time (or none) is `None`.
fn parse_go_time(text: &str) -> Result<Option<DateTime<FixedOffset>>, chrono::ParseError> {
    let time = DateTime::parse_from_rfc3339(text)?;
    let zero = DateTime::parse_from_rfc3339(GO_ZERO_TIME)?;
    Ok((time != zero).then_some(time))
}

impl CustomStatusBody {
    /// Mattermost's checks and `PreSave`: emoji or text required, a duration needs an end that is
    /// not past, an end without a duration becomes `date_and_time`, the emoji defaults to
    /// `speech_balloon`, the text is cut at 100 characters. The JSON to store.
    fn to_stored(&self, now: DateTime<Utc>) -> Result<String, AppError> {
        let invalid = || AppError::invalid_param("custom_status");
        if self.emoji.is_empty() && self.text.is_empty() {
            return Err(invalid());
        }
        let expires_at = match self.expires_at.as_deref() {
            None => None,
            Some(text) => parse_go_time(text).map_err(|e| invalid().detailed(e.to_string()))?,
        };
        let not_past = expires_at.is_some_and(|end| end >= now);
        let valid = (self.duration.is_empty() && (expires_at.is_none() || not_past))
            || (DURATIONS.contains(&self.duration.as_str()) && not_past);
        if !valid {
            return Err(invalid());
        }
        let duration = if self.duration.is_empty() && not_past {
            "date_and_time"
        } else {
            &self.duration
        };
        let emoji = if self.emoji.is_empty() {
            "speech_balloon"
        } else {
            &self.emoji
        };
        let text: String = self.text.chars().take(CUSTOM_TEXT_MAX_CHARS).collect();
        let stored = StoredCustomStatus {
            emoji,
            text: &text,
            duration,
            expires_at: expires_at.map_or_else(|| GO_ZERO_TIME.to_owned(), |t| go_time(&t)),
        };
        serde_json::to_string(&stored).map_err(|e| invalid().detailed(e.to_string()))
    }
}

impl From<&CustomStatus> for CustomStatusBody {
    fn from(status: &CustomStatus) -> Self {
        Self {
            emoji: status.emoji.clone(),
            text: status.text.clone(),
            duration: status.duration.clone(),
            expires_at: status.expires_at.map(|t| go_time(&t.fixed_offset())),
        }
    }
}

impl Server {
    /// Stores a checked custom status (JSON) in the user's `props.customStatus`.
    fn store_custom_status(&mut self, user_id: &str, encoded: String) -> Result<(), AppError> {
        let now = self.now_ms();
        let user = self
            .users
            .get_mut(user_id)
            .ok_or_else(AppError::user_not_found)?;
        user.props
            .insert("customStatus".into(), Value::String(encoded));
        user.update_at = now;
        Ok(())
    }

    /// Mattermost leaves an empty string in `props.customStatus`.
    pub(crate) fn clear_custom_status(&mut self, user_id: &str) -> Result<(), AppError> {
        self.store_custom_status(user_id, String::new())
    }

    /// The user's custom status; `None` when there is none, it cannot be read, or it has ended.
    pub(crate) fn custom_status(&self, user_id: &str) -> Result<Option<CustomStatus>, AppError> {
        let user = self.user(user_id)?;
        let Some(text) = user
            .props
            .get("customStatus")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return Ok(None);
        };
        let Ok(stored) = serde_json::from_str::<CustomStatusBody>(text) else {
            return Ok(None);
        };
        let Ok(expires_at) = stored.expires_at.as_deref().map(parse_go_time).transpose() else {
            return Ok(None);
        };
        let status = CustomStatus {
            emoji: stored.emoji,
            text: stored.text,
            duration: stored.duration,
            expires_at: expires_at.flatten().map(|t| t.with_timezone(&Utc)),
        };
        Ok((!status.is_expired_at(Utc::now())).then_some(status))
    }

    /// As the user would set it themself.
    pub(crate) fn set_custom_status_as_user(
        &mut self,
        user_id: &str,
        status: &CustomStatus,
    ) -> Result<(), AppError> {
        self.user(user_id)?;
        let encoded = CustomStatusBody::from(status).to_stored(Utc::now())?;
        self.store_custom_status(user_id, encoded)
    }
}

/// Mattermost checks the body (400), then `edit_other_users` (403): the user themself or a
/// system admin.
async fn set_custom(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    let body: CustomStatusBody = serde_json::from_slice(&body)
        .map_err(|e| AppError::invalid_param("custom_status").detailed(e.to_string()))?;
    let encoded = body.to_stored(Utc::now())?;
    caller.require_self_or_admin(&user_id)?;
    shared.lock().store_custom_status(&user_id, encoded)?;
    Ok(Json(json!({"status": "OK"})))
}

async fn clear_custom(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    caller.require_self_or_admin(&user_id)?;
    shared.lock().clear_custom_status(&user_id)?;
    Ok(Json(json!({"status": "OK"})))
}

#[cfg(test)]
mod tests {
    use crate::MattermostEmulator;
    use crate::users::NewUser;

    #[tokio::test]
    async fn statuses_set_by_activity_are_not_manual() {
        let mm = MattermostEmulator::start().await.expect("start");
        let alice = mm
            .create_user(NewUser::new("alice", "alice@example.com"))
            .expect("user");
        let http = reqwest::Client::new();
        let url = format!("{}users/{}/status", mm.control_url(), alice.id);
        let put = |body: serde_json::Value| http.put(&url).json(&body).send();
        let idle: serde_json::Value = put(serde_json::json!({"status": "away", "manual": false}))
            .await
            .expect("put")
            .json()
            .await
            .expect("json");
        assert_eq!(
            (idle["status"].as_str(), idle["manual"].as_bool()),
            (Some("away"), Some(false))
        );
        let read = mm.status(&alice.id);
        assert_eq!((read.status.as_str(), read.manual), ("away", false));
        let by_hand: serde_json::Value = put(serde_json::json!({"status": "away"}))
            .await
            .expect("put")
            .json()
            .await
            .expect("json");
        assert_eq!(by_hand["manual"], true);
        let dnd = put(serde_json::json!({"status": "dnd", "manual": false}))
            .await
            .expect("put");
        assert_eq!(
            dnd.status().as_u16(),
            400,
            "dnd is only ever chosen by hand"
        );
    }
}
