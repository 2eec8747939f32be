//! The control API, under `/_emulator/`: script the tenant over HTTP when the emulator runs as a
//! process (the sandbox, scripts, people). No authentication: it binds to loopback by default.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::calendar::{EventUpdate, NewEvent, Recurrence};
use crate::emulator::Shared;
use crate::faults::{Fault, FaultRule};
use crate::identity::issue_access_token;
use crate::model::{ChatType, NewMessage, NewUser, Presence, Sender, graph_time};
use crate::state::{AppRegistration, Principal};
use crate::subscriptions::{ChangeType, LifecycleEvent};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(summary))
        .route("/users", post(add_user))
        .route("/users/{id}/enabled", post(set_enabled))
        .route("/apps", post(register_app))
        .route("/sign-in-as", post(sign_in_as))
        .route("/tokens", post(token))
        .route("/chats", post(add_chat))
        .route(
            "/chats/{chat_id}/messages",
            get(list_messages).post(post_message),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}",
            axum::routing::patch(edit_message).delete(delete_message),
        )
        .route("/presence/{user_id}", post(set_presence))
        .route("/subscriptions", get(subscriptions))
        .route("/subscriptions/{id}/lifecycle", post(lifecycle))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/counters", get(counters).delete(reset_counters))
        .route("/deliveries", get(deliveries))
        .route("/clock", post(advance_clock))
        .route("/events", post(add_event))
        .route(
            "/events/{ical_uid}",
            axum::routing::patch(update_event).delete(delete_event),
        )
        .route("/events/{ical_uid}/cancel", post(cancel_event))
        .route("/mailbox/{user_id}/timezone", post(set_time_zone))
}

fn fail(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

pub(crate) async fn summary(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let tenant = shared.lock();
    let users: Vec<Value> = tenant.users.values().map(|u| u.to_json()).collect();
    let chats: Vec<Value> = tenant
        .chats
        .values()
        .map(|c| tenant.chat_json(c, true))
        .collect();
    let subscriptions: Vec<Value> = tenant.subscriptions.values().map(|s| s.to_json()).collect();
    Json(
        json!({"tenantId": tenant.tenant_id, "users": users, "chats": chats, "subscriptions": subscriptions}),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserBody {
    display_name: String,
    mail: Option<String>,
    user_principal_name: Option<String>,
    id: Option<String>,
    #[serde(default)]
    guest: bool,
}

async fn add_user(State(shared): State<Arc<Shared>>, Json(body): Json<UserBody>) -> Response {
    let user = shared.lock().add_user(NewUser {
        display_name: body.display_name,
        mail: body.mail,
        user_principal_name: body.user_principal_name,
        account_enabled: true,
        user_type: if body.guest { "Guest" } else { "Member" }.into(),
        id: body.id,
    });
    (StatusCode::CREATED, Json(user.to_json())).into_response()
}

#[derive(Debug, Deserialize)]
struct EnabledBody {
    enabled: bool,
}

async fn set_enabled(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(body): Json<EnabledBody>,
) -> Response {
    let mut tenant = shared.lock();
    match tenant.users.get_mut(&id) {
        Some(user) => {
            user.account_enabled = body.enabled;
            Json(user.to_json()).into_response()
        }
        None => fail(StatusCode::NOT_FOUND, format!("no user {id}")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppBody {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    display_name: Option<String>,
}

async fn register_app(State(shared): State<Arc<Shared>>, Json(body): Json<AppBody>) -> StatusCode {
    let app = AppRegistration {
        client_id: body.client_id,
        client_secret: body.client_secret,
        redirect_uris: body.redirect_uris,
        display_name: body
            .display_name
            .unwrap_or_else(|| "Mattermost bridge".into()),
    };
    shared.lock().apps.insert(app.client_id.clone(), app);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInBody {
    user_id: Option<String>,
}

async fn sign_in_as(State(shared): State<Arc<Shared>>, Json(body): Json<SignInBody>) -> StatusCode {
    shared.lock().sign_in_as = body.user_id;
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    client_id: String,
    user_id: Option<String>,
}

async fn token(State(shared): State<Arc<Shared>>, Json(body): Json<TokenBody>) -> Json<Value> {
    let principal = match body.user_id {
        Some(user_id) => Principal::User {
            user_id,
            client_id: body.client_id,
        },
        None => Principal::App {
            client_id: body.client_id,
        },
    };
    Json(json!({"access_token": issue_access_token(&shared, principal)}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatBody {
    chat_type: String,
    topic: Option<String>,
    members: Vec<String>,
}

async fn add_chat(State(shared): State<Arc<Shared>>, Json(body): Json<ChatBody>) -> Response {
    let chat_type = match body.chat_type.as_str() {
        "oneOnOne" => ChatType::OneOnOne,
        "group" => ChatType::Group,
        other => {
            return fail(
                StatusCode::BAD_REQUEST,
                format!("chatType {other} is not oneOnOne or group"),
            );
        }
    };
    let mut tenant = shared.lock();
    if let Some(unknown) = body.members.iter().find(|m| !tenant.users.contains_key(*m)) {
        return fail(StatusCode::BAD_REQUEST, format!("no user {unknown}"));
    }
    let members: Vec<&str> = body.members.iter().map(String::as_str).collect();
    let chat = tenant.add_chat(chat_type, body.topic.as_deref(), &members);
    (StatusCode::CREATED, Json(tenant.chat_json(&chat, true))).into_response()
}

async fn list_messages(State(shared): State<Arc<Shared>>, Path(chat_id): Path<String>) -> Response {
    let tenant = shared.lock();
    match tenant.messages.get(&chat_id) {
        Some(messages) => {
            let value: Vec<Value> = messages.iter().map(|m| tenant.message_json(m)).collect();
            Json(json!({"value": value})).into_response()
        }
        None => fail(StatusCode::NOT_FOUND, format!("no chat {chat_id}")),
    }
}

#[derive(Debug, Deserialize)]
struct MentionBody {
    #[serde(rename = "userId")]
    user_id: String,
    text: String,
}

/// A shared file: a link only (`url`), or with its bytes (`base64`), served by the emulator.
#[derive(Debug, Deserialize)]
struct FileBody {
    name: String,
    url: Option<String>,
    base64: Option<String>,
}

/// A pasted image.
#[derive(Debug, Deserialize)]
struct ImageBody {
    name: String,
    base64: String,
    #[serde(rename = "contentType")]
    content_type: String,
}

fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text.trim()).ok()
}

fn bad_base64() -> Response {
    fail(StatusCode::BAD_REQUEST, "`base64` is not valid base64")
}

#[derive(Debug, Deserialize)]
struct MessageBody {
    from: Option<String>,
    #[serde(rename = "fromApp")]
    from_app: Option<String>,
    html: Option<String>,
    text: Option<String>,
    #[serde(default)]
    mentions: Vec<MentionBody>,
    #[serde(default)]
    files: Vec<FileBody>,
    #[serde(default)]
    images: Vec<ImageBody>,
}

async fn post_message(
    State(shared): State<Arc<Shared>>,
    Path(chat_id): Path<String>,
    Json(body): Json<MessageBody>,
) -> Response {
    let mut message = match (body.html, body.text) {
        (Some(html), _) => NewMessage::html(&html),
        (None, Some(text)) => NewMessage::text(&text),
        (None, None) => return fail(StatusCode::BAD_REQUEST, "give `html` or `text`"),
    };
    for mention in body.mentions {
        message = message.mention(&mention.user_id, &mention.text);
    }
    for file in body.files {
        message = match (file.base64, file.url) {
            (Some(content), _) => match base64_bytes(&content) {
                Some(bytes) => message.shared_file(&file.name, bytes),
                None => return bad_base64(),
            },
            (None, Some(url)) => message.file(&file.name, &url),
            (None, None) => {
                return fail(StatusCode::BAD_REQUEST, "a file needs `url` or `base64`");
            }
        };
    }
    for image in body.images {
        match base64_bytes(&image.base64) {
            Some(bytes) => message = message.image(&image.name, bytes, &image.content_type),
            None => return bad_base64(),
        }
    }
    let sender = match (body.from, body.from_app) {
        (Some(user), _) => Sender::User(user),
        (None, Some(app)) => Sender::Application {
            id: app.clone(),
            display_name: app,
        },
        (None, None) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "give `from` (a user id) or `fromApp`",
            );
        }
    };
    match shared.post(&chat_id, sender, message) {
        Ok(message) => (
            StatusCode::CREATED,
            Json(shared.lock().message_json(&message)),
        )
            .into_response(),
        Err(err) => fail(StatusCode::NOT_FOUND, err),
    }
}

#[derive(Debug, Deserialize)]
struct EditBody {
    html: String,
}

async fn edit_message(
    State(shared): State<Arc<Shared>>,
    Path((chat_id, message_id)): Path<(String, String)>,
    Json(body): Json<EditBody>,
) -> Response {
    let result = shared.update(&chat_id, &message_id, ChangeType::Updated, |m, now| {
        m.content = body.html;
        m.content_type = "html".into();
        m.last_edited = Some(now);
    });
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => fail(StatusCode::NOT_FOUND, err),
    }
}

async fn delete_message(
    State(shared): State<Arc<Shared>>,
    Path((chat_id, message_id)): Path<(String, String)>,
) -> Response {
    match shared.update(&chat_id, &message_id, ChangeType::Deleted, |m, now| {
        m.deleted = Some(now)
    }) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => fail(StatusCode::NOT_FOUND, err),
    }
}

#[derive(Debug, Deserialize)]
struct PresenceBody {
    availability: String,
    activity: String,
}

async fn set_presence(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    Json(body): Json<PresenceBody>,
) -> Response {
    if !shared.lock().users.contains_key(&user_id) {
        return fail(StatusCode::NOT_FOUND, format!("no user {user_id}"));
    }
    shared.set_presence(&user_id, Presence::new(&body.availability, &body.activity));
    StatusCode::NO_CONTENT.into_response()
}

async fn subscriptions(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let mut tenant = shared.lock();
    tenant.drop_expired_subscriptions();
    let value: Vec<Value> = tenant.subscriptions.values().map(|s| s.to_json()).collect();
    Json(json!({"value": value}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LifecycleBody {
    lifecycle_event: String,
}

async fn lifecycle(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(body): Json<LifecycleBody>,
) -> Response {
    let Some(event) = LifecycleEvent::parse(&body.lifecycle_event) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "lifecycleEvent is one of reauthorizationRequired, subscriptionRemoved, missed",
        );
    };
    match shared.trigger_lifecycle(&id, event) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(err) => fail(StatusCode::NOT_FOUND, err),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultBody {
    path: String,
    method: Option<String>,
    times: Option<u32>,
    /// Only every `every`th matching request.
    every: Option<u32>,
    /// `latency`, `throttle`, `unavailable` or `drop`.
    fault: String,
    latency_ms: Option<u64>,
    retry_after: Option<String>,
}

async fn add_fault(State(shared): State<Arc<Shared>>, Json(body): Json<FaultBody>) -> Response {
    let fault = match body.fault.as_str() {
        "latency" => Fault::Latency(std::time::Duration::from_millis(
            body.latency_ms.unwrap_or(1000),
        )),
        "throttle" => Fault::Throttle {
            retry_after: body.retry_after,
        },
        "unavailable" => Fault::Unavailable,
        "drop" => Fault::DropConnection,
        other => {
            return fail(
                StatusCode::BAD_REQUEST,
                format!("fault {other} is not latency, throttle, unavailable or drop"),
            );
        }
    };
    let mut rule = FaultRule::new(&body.path, fault);
    rule.method = body.method.map(|m| m.to_ascii_uppercase());
    rule.times = body.times;
    rule.every = body.every.map(|n| n.max(1));
    shared.lock().faults.push(rule);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn counters(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.lock().counters))
}

async fn reset_counters(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().counters.clear();
    StatusCode::NO_CONTENT
}

async fn deliveries(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let value: Vec<Value> = shared
        .lock()
        .deliveries
        .iter()
        .map(|d| {
            json!({
                "subscriptionId": d.subscription_id,
                "url": d.url,
                "kind": d.kind,
                "attempt": d.attempt,
                "status": d.outcome.as_ref().ok(),
                "error": d.outcome.as_ref().err(),
                "at": graph_time(d.at),
            })
        })
        .collect();
    Json(json!({"value": value}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockBody {
    advance_seconds: i64,
}

async fn advance_clock(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<ClockBody>,
) -> StatusCode {
    shared
        .lock()
        .advance_clock(chrono::TimeDelta::seconds(body.advance_seconds));
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventBody {
    organizer: String,
    #[serde(default)]
    attendees: Vec<String>,
    subject: String,
    #[serde(default)]
    body: String,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    time_zone: Option<String>,
    #[serde(default)]
    is_all_day: bool,
    show_as: Option<String>,
    location: Option<String>,
    #[serde(default)]
    online_meeting: bool,
    /// `daily` or `weekly`, with `count`.
    recurrence: Option<String>,
    count: Option<u32>,
    /// Absent: 15; `null`: the event has no `reminderMinutesBeforeStart`.
    #[serde(default = "default_reminder_minutes", deserialize_with = "nullable")]
    reminder_minutes_before_start: Option<u32>,
    #[serde(default = "yes")]
    is_reminder_on: bool,
}

fn default_reminder_minutes() -> Option<u32> {
    Some(15)
}

fn yes() -> bool {
    true
}

/// A property that may be `null` (read as `None`); its absence is the field's default.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// A property whose absence (`None`) differs from `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

async fn add_event(State(shared): State<Arc<Shared>>, Json(body): Json<EventBody>) -> Response {
    {
        let tenant = shared.lock();
        if let Some(unknown) = std::iter::once(&body.organizer)
            .chain(&body.attendees)
            .find(|u| !tenant.users.contains_key(*u))
        {
            return fail(StatusCode::BAD_REQUEST, format!("no user {unknown}"));
        }
    }
    let count = body.count.unwrap_or(1);
    let recurrence = match body.recurrence.as_deref() {
        None => None,
        Some("daily") => Some(Recurrence::Daily { count }),
        Some("weekly") => Some(Recurrence::Weekly { count }),
        Some(other) => {
            return fail(
                StatusCode::BAD_REQUEST,
                format!("recurrence {other} is not daily or weekly"),
            );
        }
    };
    let event = shared.add_event(NewEvent {
        organizer: body.organizer,
        attendees: body.attendees,
        subject: body.subject,
        body_html: body.body,
        start: body.start,
        end: body.end,
        time_zone: body.time_zone.unwrap_or_else(|| "UTC".into()),
        is_all_day: body.is_all_day,
        show_as: body.show_as.unwrap_or_else(|| "busy".into()),
        location: body.location,
        online_meeting: body.online_meeting,
        recurrence,
        reminder_minutes: body.reminder_minutes_before_start,
        is_reminder_on: body.is_reminder_on,
    });
    (
        StatusCode::CREATED,
        Json(json!({"id": event.id, "iCalUId": event.ical_uid, "joinUrl": event.join_url})),
    )
        .into_response()
}

async fn cancel_event(State(shared): State<Arc<Shared>>, Path(ical_uid): Path<String>) -> Response {
    match shared.change_events(&ical_uid, |tenant| tenant.cancel_event(&ical_uid)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => fail(StatusCode::NOT_FOUND, err),
    }
}

/// What the organizer changes; absent properties stay as they are.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventUpdateBody {
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    location: Option<Option<String>>,
    subject: Option<String>,
    show_as: Option<String>,
    /// `null` leaves the property out.
    #[serde(default, deserialize_with = "present")]
    reminder_minutes_before_start: Option<Option<u32>>,
    is_reminder_on: Option<bool>,
}

async fn update_event(
    State(shared): State<Arc<Shared>>,
    Path(ical_uid): Path<String>,
    Json(body): Json<EventUpdateBody>,
) -> Response {
    if let (Some(start), Some(end)) = (body.start, body.end)
        && end < start
    {
        return fail(StatusCode::BAD_REQUEST, "`end` is before `start`");
    }
    let update = EventUpdate {
        start: body.start,
        end: body.end,
        location: body.location,
        subject: body.subject,
        show_as: body.show_as,
        reminder_minutes: body.reminder_minutes_before_start,
        is_reminder_on: body.is_reminder_on,
    };
    match shared.change_events(&ical_uid, |tenant| tenant.update_event(&ical_uid, &update)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => fail(StatusCode::NOT_FOUND, err),
    }
}

#[derive(Debug, Deserialize)]
struct DeleteEventQuery {
    /// Only this user's copy (an attendee removing a meeting from their calendar).
    mailbox: Option<String>,
}

async fn delete_event(
    State(shared): State<Arc<Shared>>,
    Path(ical_uid): Path<String>,
    Query(query): Query<DeleteEventQuery>,
) -> Response {
    match shared.change_events(&ical_uid, |tenant| {
        tenant.remove_event_copies(&ical_uid, |e| {
            query.mailbox.as_ref().is_none_or(|m| *m == e.mailbox)
        })
    }) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => fail(StatusCode::NOT_FOUND, err),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeZoneBody {
    time_zone: String,
}

async fn set_time_zone(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    Json(body): Json<TimeZoneBody>,
) -> Response {
    if crate::timezones::zone(&body.time_zone).is_none() {
        return fail(
            StatusCode::BAD_REQUEST,
            format!("unknown time zone {}", body.time_zone),
        );
    }
    shared.lock().time_zones.insert(user_id, body.time_zone);
    StatusCode::NO_CONTENT.into_response()
}
