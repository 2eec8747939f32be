//! Emoji reactions on posts and the `reaction_added` / `reaction_removed` events.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::AppError;
use crate::server::{Shared, parse_json};
use crate::state::Server;
use crate::websocket::Event;

/// A reaction; `emoji_name` has no colons (`+1`, `heart`, a custom emoji's name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reaction {
    pub user_id: String,
    pub post_id: String,
    pub emoji_name: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub remote_id: String,
    pub channel_id: String,
}

fn valid_emoji_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-+_".contains(c))
}

fn reaction_event(name: &'static str, reaction: &Reaction) -> Event {
    Event::new(name)
        .with(
            "reaction",
            serde_json::to_string(reaction).unwrap_or_default(),
        )
        .in_channel(&reaction.channel_id)
}

impl Server {
    pub(crate) fn add_reaction(
        &mut self,
        caller: &Caller,
        post_id: &str,
        emoji_name: &str,
    ) -> Result<Reaction, AppError> {
        if !valid_emoji_name(emoji_name) {
            return Err(AppError::invalid_body("emoji_name"));
        }
        let post = self.get_post(caller, post_id)?;
        if !caller.admin && !self.is_member(&post.channel_id, &caller.user_id) {
            return Err(AppError::forbidden());
        }
        let existing = self.reactions.get(post_id).and_then(|list| {
            list.iter()
                .find(|r| r.user_id == caller.user_id && r.emoji_name == emoji_name)
                .cloned()
        });
        if let Some(existing) = existing {
            return Ok(existing);
        }
        let now = self.now_ms();
        let reaction = Reaction {
            user_id: caller.user_id.clone(),
            post_id: post_id.to_owned(),
            emoji_name: emoji_name.to_owned(),
            create_at: now,
            update_at: now,
            channel_id: post.channel_id.clone(),
            ..Reaction::default()
        };
        self.reactions
            .entry(post_id.to_owned())
            .or_default()
            .push(reaction.clone());
        if let Some(post) = self.posts.get_mut(post_id) {
            post.has_reactions = true;
            post.update_at = now;
        }
        self.broadcast(reaction_event("reaction_added", &reaction));
        Ok(reaction)
    }

    pub(crate) fn remove_reaction(
        &mut self,
        caller: &Caller,
        user_id: &str,
        post_id: &str,
        emoji_name: &str,
    ) -> Result<(), AppError> {
        caller.require_self_or_admin(user_id)?;
        self.get_post(caller, post_id)?;
        let list = self.reactions.entry(post_id.to_owned()).or_default();
        let Some(index) = list
            .iter()
            .position(|r| r.user_id == user_id && r.emoji_name == emoji_name)
        else {
            // Removing a reaction that is not there succeeds, as in Mattermost.
            return Ok(());
        };
        let mut reaction = list.remove(index);
        let remaining = !list.is_empty();
        let now = self.now_ms();
        reaction.delete_at = now;
        reaction.update_at = now;
        if let Some(post) = self.posts.get_mut(post_id) {
            post.has_reactions = remaining;
            post.update_at = now;
        }
        self.broadcast(reaction_event("reaction_removed", &reaction));
        Ok(())
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/reactions", post(add))
        .route("/api/v4/posts/{post_id}/reactions", get(list))
        .route(
            "/api/v4/users/{user_id}/posts/{post_id}/reactions/{emoji_name}",
            delete(remove),
        )
}

#[derive(Debug, Deserialize)]
struct ReactionBody {
    user_id: String,
    post_id: String,
    emoji_name: String,
}

async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Reaction>), AppError> {
    let body: ReactionBody = parse_json(&body, "reaction")?;
    // The reaction's user must be the caller, admins included.
    if body.user_id != caller.user_id {
        return Err(AppError::forbidden());
    }
    let reaction = shared
        .lock()
        .add_reaction(&caller, &body.post_id, &body.emoji_name)?;
    Ok((StatusCode::CREATED, Json(reaction)))
}

async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(post_id): Path<String>,
) -> Result<Json<Vec<Reaction>>, AppError> {
    let server = shared.lock();
    server.get_post(&caller, &post_id)?;
    Ok(Json(
        server.reactions.get(&post_id).cloned().unwrap_or_default(),
    ))
}

async fn remove(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((user_id, post_id, emoji_name)): Path<(String, String, String)>,
) -> Result<Json<Value>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    shared
        .lock()
        .remove_reaction(&caller, &user_id, &post_id, &emoji_name)?;
    Ok(Json(json!({"status": "OK"})))
}
