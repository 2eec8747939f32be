//! Chats, their members and their messages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::error::GraphError;
use crate::identity::Caller;
use crate::model::{Chat, Mention, NewMessage, Reaction, Sender, url_escape};
use crate::state::{Principal, Tenant};
use crate::subscriptions::ChangeType;

fn chat_not_found(id: &str) -> GraphError {
    GraphError::not_found(&format!("Chat '{id}' was not found."))
}

fn message_not_found(id: &str) -> GraphError {
    GraphError::not_found(&format!("Message '{id}' was not found."))
}

/// The chat, if the caller may see it: apps see every chat, users the chats they are in.
fn visible_chat(tenant: &Tenant, caller: &Caller, chat_id: &str) -> Result<Chat, GraphError> {
    let chat = tenant
        .chats
        .get(chat_id)
        .ok_or_else(|| chat_not_found(chat_id))?;
    match &caller.principal {
        Principal::App { .. } => Ok(chat.clone()),
        Principal::User { user_id, .. } if chat.members.contains(user_id) => Ok(chat.clone()),
        Principal::User { .. } => Err(GraphError::forbidden(
            "The caller is not a member of this chat.",
        )),
    }
}

fn expands_members(q: &HashMap<String, String>) -> bool {
    q.get("$expand")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "members"))
}

fn chats_of(tenant: &Tenant, user_id: &str, q: &HashMap<String, String>) -> Value {
    let value: Vec<Value> = tenant
        .chats
        .values()
        .filter(|c| c.members.iter().any(|m| m == user_id))
        .map(|c| tenant.chat_json(c, expands_members(q)))
        .collect();
    json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{user_id}')/chats"),
        "@odata.count": value.len(),
        "value": value,
    })
}

pub(crate) async fn my_chats(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    let user_id = caller.user_id("/me request")?;
    Ok(Json(chats_of(&shared.lock(), user_id, &q)))
}

pub(crate) async fn user_chats(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    let tenant = shared.lock();
    let user = tenant
        .find_user(&id)
        .ok_or_else(|| GraphError::not_found(&format!("User '{id}' was not found.")))?;
    Ok(Json(chats_of(&tenant, &user.id, &q)))
}

pub(crate) async fn get_chat(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    let tenant = shared.lock();
    let chat = visible_chat(&tenant, &caller, &chat_id)?;
    let mut body = tenant.chat_json(&chat, expands_members(&q));
    body["@odata.context"] = json!("https://graph.microsoft.com/v1.0/$metadata#chats/$entity");
    Ok(Json(body))
}

pub(crate) async fn members(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(chat_id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let tenant = shared.lock();
    let chat = visible_chat(&tenant, &caller, &chat_id)?;
    let value: Vec<Value> = chat
        .members
        .iter()
        .map(|m| tenant.member_json(&chat, m))
        .collect();
    Ok(Json(json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#chats('{}')/members", url_escape(&chat.id)),
        "@odata.count": value.len(),
        "value": value,
    })))
}

/// Newest first, `$top` per page (default 20, at most 50), `@odata.nextLink` to go on.
pub(crate) async fn list_messages(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    let tenant = shared.lock();
    visible_chat(&tenant, &caller, &chat_id)?;
    let top: usize = match q.get("$top") {
        None => 20,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=50).contains(&n) => n,
            _ => return Err(GraphError::bad_request("$top must be between 1 and 50.")),
        },
    };
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // The one filter Graph supports here: `lastModifiedDateTime gt <time>`, which it requires to
    // come with `$orderby=lastModifiedDateTime desc`.
    let modified_after = match q.get("$filter") {
        None => None,
        Some(filter) => {
            let Some(time) = filter
                .strip_prefix("lastModifiedDateTime gt ")
                .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
            else {
                return Err(GraphError::bad_request(
                    "Only lastModifiedDateTime gt <time> is supported in $filter.",
                ));
            };
            if q.get("$orderby").map(String::as_str) != Some("lastModifiedDateTime desc") {
                return Err(GraphError::bad_request(
                    "$filter on lastModifiedDateTime needs $orderby=lastModifiedDateTime desc.",
                ));
            }
            Some(time.with_timezone(&Utc))
        }
    };
    let all = tenant
        .messages
        .get(&chat_id)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut messages: Vec<_> = all
        .iter()
        .filter(|m| modified_after.is_none_or(|after| m.last_modified > after))
        .collect();
    if modified_after.is_some() {
        messages.sort_by(|a, b| {
            b.last_modified
                .cmp(&a.last_modified)
                .then_with(|| b.id.cmp(&a.id))
        });
    } else {
        messages.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    }
    let page: Vec<Value> = messages
        .iter()
        .skip(skip)
        .take(top)
        .map(|m| tenant.message_json(m))
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#chats('{}')/messages", url_escape(&chat_id)),
        "@odata.count": page.len(),
        "value": page,
    });
    if skip + top < messages.len() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let base = format!("http://{host}");
        let mut link = format!(
            "{base}/v1.0/chats/{}/messages?$top={top}&$skiptoken={}",
            url_escape(&chat_id),
            skip + top
        );
        if let Some(after) = modified_after {
            link.push_str(&format!(
                "&$orderby=lastModifiedDateTime%20desc&$filter=lastModifiedDateTime%20gt%20{}",
                url_escape(&crate::model::graph_time(after))
            ));
        }
        body["@odata.nextLink"] = json!(link);
    }
    Ok(Json(body))
}

pub(crate) async fn get_message(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    let tenant = shared.lock();
    visible_chat(&tenant, &caller, &chat_id)?;
    let message = tenant
        .message(&chat_id, &message_id)
        .ok_or_else(|| message_not_found(&message_id))?;
    let mut body = tenant.message_json(message);
    body["@odata.context"] = json!(format!(
        "https://graph.microsoft.com/v1.0/$metadata#chats('{}')/messages/$entity",
        url_escape(&chat_id)
    ));
    Ok(Json(body))
}

pub(crate) async fn get_user_chat_message(
    state: State<Arc<Shared>>,
    caller: Caller,
    Path((_user, chat_id, message_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, GraphError> {
    get_message(state, caller, Path((chat_id, message_id))).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ItemBody {
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SendMessage {
    body: Option<ItemBody>,
    #[serde(default)]
    mentions: Vec<Value>,
    #[serde(default)]
    attachments: Vec<Value>,
}

fn parse_mentions(raw: &[Value]) -> Vec<Mention> {
    raw.iter()
        .filter_map(|m| {
            Some(Mention {
                id: u32::try_from(m.get("id")?.as_u64()?).ok()?,
                text: m.get("mentionText")?.as_str()?.to_owned(),
                user_id: m.pointer("/mentioned/user/id")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// POST /chats/{id}/messages: delegated only, by a member.
pub(crate) async fn send_message(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(chat_id): Path<String>,
    Json(body): Json<SendMessage>,
) -> Result<Response, GraphError> {
    let user_id = caller.user_id("Sending chat messages")?.to_owned();
    let item = body
        .body
        .ok_or_else(|| GraphError::bad_request("The 'body' property is required."))?;
    let (message, outgoing) = {
        let mut tenant = shared.lock();
        visible_chat(&tenant, &caller, &chat_id)?;
        let new = NewMessage {
            content_type: item
                .content_type
                .unwrap_or_else(|| "text".into())
                .to_ascii_lowercase(),
            content: item.content.unwrap_or_default(),
            mentions: parse_mentions(&body.mentions),
            attachments: body.attachments,
            ..NewMessage::html("")
        };
        let (message, outgoing) = tenant
            .post_message(&chat_id, Sender::User(user_id), new)
            .ok_or_else(|| chat_not_found(&chat_id))?;
        (tenant.message_json(&message), outgoing)
    };
    shared.dispatch(outgoing);
    Ok((StatusCode::CREATED, Json(message)).into_response())
}

/// Applies a change to a message the caller may touch: its own, for edits and deletes.
fn change_message(
    shared: &Arc<Shared>,
    caller: &Caller,
    chat_id: &str,
    message_id: &str,
    own_only: bool,
    change_type: ChangeType,
    change: impl FnOnce(&mut crate::model::ChatMessage, chrono::DateTime<chrono::Utc>),
) -> Result<StatusCode, GraphError> {
    let user_id = caller.user_id("Changing chat messages")?.to_owned();
    let outgoing = {
        let mut tenant = shared.lock();
        visible_chat(&tenant, caller, chat_id)?;
        let message = tenant
            .message(chat_id, message_id)
            .ok_or_else(|| message_not_found(message_id))?;
        if own_only && message.from != Sender::User(user_id.clone()) {
            return Err(GraphError::forbidden(
                "Only the sender can change this message.",
            ));
        }
        tenant
            .update_message(chat_id, message_id, change_type, change)
            .ok_or_else(|| message_not_found(message_id))?
    };
    shared.dispatch(outgoing);
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn edit_message(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
    Json(body): Json<SendMessage>,
) -> Result<StatusCode, GraphError> {
    let item = body
        .body
        .ok_or_else(|| GraphError::bad_request("The 'body' property is required."))?;
    change_message(
        &shared,
        &caller,
        &chat_id,
        &message_id,
        true,
        ChangeType::Updated,
        |m, now| {
            m.content = item.content.unwrap_or_default();
            m.content_type = item
                .content_type
                .unwrap_or_else(|| "text".into())
                .to_ascii_lowercase();
            m.last_edited = Some(now);
        },
    )
}

pub(crate) async fn soft_delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, GraphError> {
    change_message(
        &shared,
        &caller,
        &chat_id,
        &message_id,
        true,
        ChangeType::Deleted,
        |m, now| {
            m.deleted = Some(now);
        },
    )
}

pub(crate) async fn undo_soft_delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, GraphError> {
    change_message(
        &shared,
        &caller,
        &chat_id,
        &message_id,
        true,
        ChangeType::Updated,
        |m, _| {
            m.deleted = None;
        },
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReactionBody {
    #[serde(rename = "reactionType")]
    reaction_type: Option<String>,
}

/// Adds (`set`) or removes the caller's reaction: an `updated` change, as in Teams.
async fn react(
    shared: &Arc<Shared>,
    caller: &Caller,
    chat_id: &str,
    message_id: &str,
    body: ReactionBody,
    set: bool,
) -> Result<StatusCode, GraphError> {
    let reaction = body
        .reaction_type
        .ok_or_else(|| GraphError::bad_request("The 'reactionType' property is required."))?;
    let user_id = caller.user_id("Reacting")?.to_owned();
    change_message(
        shared,
        caller,
        chat_id,
        message_id,
        false,
        ChangeType::Updated,
        |m, now| {
            m.reactions
                .retain(|r| !(r.user_id == user_id && r.reaction_type == reaction));
            if set {
                m.reactions.push(Reaction {
                    reaction_type: reaction,
                    user_id,
                    created: now,
                });
            }
        },
    )
}

pub(crate) async fn set_reaction(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
    Json(body): Json<ReactionBody>,
) -> Result<StatusCode, GraphError> {
    react(&shared, &caller, &chat_id, &message_id, body, true).await
}

pub(crate) async fn unset_reaction(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((chat_id, message_id)): Path<(String, String)>,
    Json(body): Json<ReactionBody>,
) -> Result<StatusCode, GraphError> {
    react(&shared, &caller, &chat_id, &message_id, body, false).await
}
