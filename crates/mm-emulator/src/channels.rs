//! Channels: direct (`D`), group (`G`), open (`O`) and private (`P`), and their members.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::AppError;
use crate::ids::{group_channel_name, is_valid_id, new_id};
use crate::server::{Shared, parse_json};
use crate::state::Server;
use crate::websocket::Event;

/// A channel as the REST API shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Channel {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    /// Empty for direct and group channels.
    pub team_id: String,
    /// `O` open, `P` private, `D` direct, `G` group.
    #[serde(rename = "type")]
    pub channel_type: String,
    pub display_name: String,
    /// Direct channels: `{idA}__{idB}` with the ids sorted.
    pub name: String,
    pub header: String,
    pub purpose: String,
    pub last_post_at: i64,
    pub last_root_post_at: i64,
    pub total_msg_count: i64,
    pub total_msg_count_root: i64,
    pub extra_update_at: i64,
    pub creator_id: String,
    pub scheme_id: Option<String>,
    pub props: Option<Value>,
    pub group_constrained: Option<bool>,
    pub shared: Option<bool>,
    pub policy_id: Option<String>,
}

/// The kind of a team channel made by the scripting API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelType {
    Open,
    Private,
}

impl ChannelType {
    fn code(self) -> &'static str {
        match self {
            ChannelType::Open => "O",
            ChannelType::Private => "P",
        }
    }
}

pub(crate) fn direct_channel_name(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}__{b}")
    } else {
        format!("{b}__{a}")
    }
}

impl Server {
    fn insert_channel(&mut self, channel: Channel, members: BTreeSet<String>) -> Channel {
        self.members.insert(channel.id.clone(), members);
        self.channel_posts.insert(channel.id.clone(), Vec::new());
        self.channels.insert(channel.id.clone(), channel.clone());
        channel
    }

    fn blank_channel(&mut self, channel_type: &str, name: String, creator_id: &str) -> Channel {
        let now = self.now_ms();
        Channel {
            id: new_id(),
            create_at: now,
            update_at: now,
            channel_type: channel_type.to_owned(),
            name,
            creator_id: creator_id.to_owned(),
            ..Channel::default()
        }
    }

    pub(crate) fn find_direct_channel(&self, a: &str, b: &str) -> Option<&Channel> {
        let name = direct_channel_name(a, b);
        self.channels
            .values()
            .find(|c| c.channel_type == "D" && c.name == name)
    }

    /// The direct channel between two users, created on first use.
    pub(crate) fn direct_channel(
        &mut self,
        caller: &crate::auth::Caller,
        a: &str,
        b: &str,
    ) -> Result<Channel, AppError> {
        if !caller.admin && caller.user_id != a && caller.user_id != b {
            return Err(AppError::forbidden());
        }
        for id in [a, b] {
            if self.users.get(id).is_none_or(|u| u.delete_at != 0) {
                return Err(AppError::bad_request(
                    "api.channel.create_direct_channel.invalid_user.app_error",
                    "Invalid user ID for direct channel creation.",
                )
                .detailed(format!("user_id={id}")));
            }
        }
        if let Some(existing) = self.find_direct_channel(a, b) {
            return Ok(existing.clone());
        }
        let channel = self.blank_channel("D", direct_channel_name(a, b), "");
        let channel = self.insert_channel(channel, [a.to_owned(), b.to_owned()].into());
        for (user, teammate) in [(a, b), (b, a)] {
            self.broadcast(
                Event::new("direct_added")
                    .with("creator_id", caller.user_id.clone())
                    .with("teammate_id", teammate.to_owned())
                    .for_user(user),
            );
        }
        Ok(channel)
    }

    pub(crate) fn group_channel(
        &mut self,
        caller: &crate::auth::Caller,
        ids: &[String],
    ) -> Result<Channel, AppError> {
        let mut members: BTreeSet<String> = ids.iter().cloned().collect();
        members.insert(caller.user_id.clone());
        if !(3..=8).contains(&members.len()) {
            return Err(AppError::bad_request(
                "api.channel.create_group.bad_size.app_error",
                "Group message channels must contain at least 3 and no more than 8 users.",
            ));
        }
        let mut usernames = Vec::new();
        for id in &members {
            let user = self
                .users
                .get(id)
                .filter(|u| u.delete_at == 0)
                .ok_or_else(|| {
                    AppError::bad_request(
                        "api.channel.create_group.bad_user.app_error",
                        "One of the provided users does not exist.",
                    )
                })?;
            usernames.push(user.username.clone());
        }
        let sorted: Vec<String> = members.iter().cloned().collect();
        let name = group_channel_name(&sorted);
        if let Some(existing) = self.channels.values().find(|c| c.name == name) {
            return Ok(existing.clone());
        }
        usernames.sort();
        let mut channel = self.blank_channel("G", name, &caller.user_id);
        channel.display_name = usernames.join(", ");
        let channel = self.insert_channel(channel, members.clone());
        let teammates = serde_json::to_string(&sorted).unwrap_or_default();
        for member in &members {
            self.broadcast(
                Event::new("group_added")
                    .with("teammate_ids", teammates.clone())
                    .for_user(member),
            );
        }
        Ok(channel)
    }

    pub(crate) fn team_channel(
        &mut self,
        creator_id: &str,
        name: &str,
        display_name: &str,
        channel_type: ChannelType,
    ) -> Result<Channel, AppError> {
        let name = name.to_lowercase();
        let valid = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c));
        if !valid || display_name.is_empty() {
            return Err(AppError::bad_request(
                "model.channel.is_valid.name.app_error",
                "Invalid channel name.",
            ));
        }
        if self
            .channels
            .values()
            .any(|c| c.team_id == self.team.id && c.name == name)
        {
            return Err(AppError::bad_request(
                "store.sql_channel.save_channel.exists.app_error",
                "A channel with that name already exists on the same team.",
            ));
        }
        let mut channel = self.blank_channel(channel_type.code(), name, creator_id);
        channel.display_name = display_name.to_owned();
        channel.team_id = self.team.id.clone();
        Ok(self.insert_channel(channel, [creator_id.to_owned()].into()))
    }

    pub(crate) fn add_member(&mut self, channel_id: &str, user_id: &str) -> Result<(), AppError> {
        let channel = self.channel(channel_id)?;
        if matches!(channel.channel_type.as_str(), "D" | "G") {
            return Err(AppError::bad_request(
                "api.channel.add_user_to_channel.type.app_error",
                "Can not add user to this channel type.",
            ));
        }
        let team_id = channel.team_id.clone();
        self.user(user_id)?;
        let added = self
            .members
            .entry(channel_id.to_owned())
            .or_default()
            .insert(user_id.to_owned());
        if added {
            self.broadcast(
                Event::new("user_added")
                    .with("user_id", user_id.to_owned())
                    .with("team_id", team_id)
                    .in_channel(channel_id),
            );
        }
        Ok(())
    }

    /// The channel, if the caller may read it.
    pub(crate) fn readable_channel(
        &self,
        caller: &crate::auth::Caller,
        channel_id: &str,
    ) -> Result<&Channel, AppError> {
        let channel = self.channel(channel_id)?;
        if caller.admin
            || self.is_member(channel_id, &caller.user_id)
            || channel.channel_type == "O"
        {
            Ok(channel)
        } else {
            Err(AppError::forbidden())
        }
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/channels", post(create))
        .route("/api/v4/channels/direct", post(direct))
        .route("/api/v4/channels/group", post(group))
        .route("/api/v4/channels/{channel_id}", get(by_id))
        .route("/api/v4/channels/{channel_id}/members", post(add_member))
}

async fn direct(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Channel>), AppError> {
    let ids: Vec<String> = parse_json(&body, "user_ids")?;
    let [a, b] = ids.as_slice() else {
        return Err(AppError::invalid_body("user_ids"));
    };
    if !is_valid_id(a) || !is_valid_id(b) {
        return Err(AppError::invalid_body("user_id"));
    }
    let channel = shared.lock().direct_channel(&caller, a, b)?;
    Ok((StatusCode::CREATED, Json(channel)))
}

async fn group(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Channel>), AppError> {
    let ids: Vec<String> = parse_json(&body, "user_ids")?;
    let channel = shared.lock().group_channel(&caller, &ids)?;
    Ok((StatusCode::CREATED, Json(channel)))
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    team_id: String,
    name: String,
    display_name: String,
    #[serde(rename = "type")]
    channel_type: String,
}

async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Channel>), AppError> {
    let body: CreateBody = parse_json(&body, "channel")?;
    let channel_type = match body.channel_type.as_str() {
        "O" => ChannelType::Open,
        "P" => ChannelType::Private,
        _ => return Err(AppError::invalid_body("type")),
    };
    let mut server = shared.lock();
    if body.team_id != server.team.id {
        return Err(AppError::forbidden());
    }
    let channel = server.team_channel(
        &caller.user_id,
        &body.name,
        &body.display_name,
        channel_type,
    )?;
    Ok((StatusCode::CREATED, Json(channel)))
}

async fn by_id(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(channel_id): Path<String>,
) -> Result<Json<Channel>, AppError> {
    if !is_valid_id(&channel_id) {
        return Err(AppError::invalid_url_param("channel_id"));
    }
    Ok(Json(
        shared
            .lock()
            .readable_channel(&caller, &channel_id)?
            .clone(),
    ))
}

#[derive(Debug, Deserialize)]
struct MemberBody {
    user_id: String,
}

async fn add_member(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(channel_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let body: MemberBody = parse_json(&body, "user_id")?;
    let mut server = shared.lock();
    let channel = server.channel(&channel_id)?;
    let may_add = caller.admin
        || server.is_member(&channel_id, &caller.user_id)
        || (channel.channel_type == "O" && caller.user_id == body.user_id);
    if !may_add {
        return Err(AppError::forbidden());
    }
    server.add_member(&channel_id, &body.user_id)?;
    let now = server.now_ms();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "channel_id": channel_id,
            "user_id": body.user_id,
            "roles": "channel_user",
            "last_viewed_at": 0,
            "msg_count": 0,
            "mention_count": 0,
            "notify_props": {"desktop": "default", "email": "default", "mark_unread": "all", "push": "default"},
            "last_update_at": now,
            "scheme_user": true,
            "scheme_admin": false,
        })),
    ))
}
