//! Posts: create (with replies, files and props), get, patch, soft delete, ephemeral posts,
//! threads and channel history, and the `posted` / `post_edited` / `post_deleted` events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::channels::Channel;
use crate::error::AppError;
use crate::files::FileInfo;
use crate::ids::{is_valid_id, new_id};
use crate::reactions::Reaction;
use crate::server::{Shared, parse_json};
use crate::state::{EphemeralRecord, Server};
use crate::websocket::Event;

/// Post props only the server sets; a client's values are dropped.
const RESERVED_PROPS: [&str; 4] = ["from_bot", "from_webhook", "from_oauth_app", "from_plugin"];

/// A post as the REST API and the WebSocket show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Post {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub edit_at: i64,
    pub delete_at: i64,
    pub is_pinned: bool,
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
    pub original_id: String,
    pub message: String,
    /// `""` for a normal post, `system_ephemeral` for an ephemeral one.
    #[serde(rename = "type")]
    pub post_type: String,
    pub props: Map<String, Value>,
    pub hashtags: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_ids: Vec<String>,
    pub pending_post_id: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_reactions: bool,
    pub remote_id: String,
    pub reply_count: i64,
    pub last_reply_at: i64,
    pub participants: Option<Vec<Value>>,
    pub metadata: PostMetadata,
}

/// What Mattermost adds to a post for display: its files, reactions and priority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostMetadata {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embeds: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Value>,
}

/// `{order, posts, next_post_id, prev_post_id, has_next}`; `order` is newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostList {
    pub order: Vec<String>,
    pub posts: BTreeMap<String, Post>,
    pub next_post_id: String,
    pub prev_post_id: String,
    pub has_next: bool,
}

/// A post to create through the scripting API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewPost {
    pub channel_id: String,
    pub message: String,
    pub root_id: String,
    pub file_ids: Vec<String>,
    pub props: Map<String, Value>,
}

impl NewPost {
    pub fn new(channel_id: &str, message: &str) -> Self {
        Self {
            channel_id: channel_id.to_owned(),
            message: message.to_owned(),
            ..Self::default()
        }
    }

    pub fn reply_to(mut self, root_id: &str) -> Self {
        self.root_id = root_id.to_owned();
        self
    }

    pub fn props(mut self, props: Value) -> Self {
        if let Value::Object(map) = props {
            self.props = map;
        }
        self
    }

    pub fn file_ids(mut self, file_ids: &[&str]) -> Self {
        self.file_ids = file_ids.iter().map(|id| (*id).to_owned()).collect();
        self
    }
}

/// Words of the form `#tag`, as Mattermost indexes them.
fn hashtags(message: &str) -> String {
    message
        .split_whitespace()
        .filter_map(|word| {
            let tag = word.trim_end_matches(|c: char| ".,:;!?)".contains(c));
            let rest = tag.strip_prefix('#')?;
            let valid = rest.len() >= 2
                && rest.starts_with(|c: char| c.is_alphabetic())
                && rest
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_.".contains(c));
            valid.then(|| tag.to_owned())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn mentions_username(message: &str, username: &str) -> bool {
    let needle = format!("@{username}");
    message.match_indices(&needle).any(|(at, _)| {
        let after = message[at + needle.len()..].chars().next();
        let before = message[..at].chars().next_back();
        after.is_none_or(|c| !(c.is_ascii_alphanumeric() || "-_".contains(c)))
            && before.is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// Interactive actions need ids to be clicked; Mattermost gives ids to those that lack one.
fn generate_action_ids(props: &mut Map<String, Value>) {
    let Some(Value::Array(attachments)) = props.get_mut("attachments") else {
        return;
    };
    for attachment in attachments {
        let Some(Value::Array(actions)) = attachment.get_mut("actions") else {
            continue;
        };
        for action in actions {
            if let Some(action) = action.as_object_mut() {
                let missing = action
                    .get("id")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if missing {
                    action.insert("id".into(), Value::String(new_id()));
                }
            }
        }
    }
}

impl Server {
    /// Clears reserved props and marks bot posts, as Mattermost does on every write.
    pub(crate) fn sanitize_props(&self, author_id: &str, props: &mut Map<String, Value>) {
        for key in RESERVED_PROPS {
            props.remove(key);
        }
        if self.users.get(author_id).is_some_and(|u| u.is_bot) {
            props.insert("from_bot".into(), Value::String("true".into()));
        }
        generate_action_ids(props);
    }

    pub(crate) fn create_post(
        &mut self,
        caller: &Caller,
        new: NewPost,
        pending_post_id: String,
        set_online: bool,
        priority: Option<Value>,
    ) -> Result<Post, AppError> {
        let channel = self.channel(&new.channel_id)?.clone();
        if !caller.admin && !self.is_member(&channel.id, &caller.user_id) {
            return Err(AppError::forbidden());
        }
        if !pending_post_id.is_empty() {
            let key = (caller.user_id.clone(), pending_post_id.clone());
            if let Some(existing) = self
                .pending_posts
                .get(&key)
                .and_then(|id| self.posts.get(id))
            {
                return Ok(self.render_post(existing));
            }
        }
        if !new.root_id.is_empty() {
            let root_ok = self.posts.get(&new.root_id).is_some_and(|root| {
                root.channel_id == channel.id && root.root_id.is_empty() && root.delete_at == 0
            });
            if !root_ok {
                return Err(AppError::bad_request(
                    "api.post.create_post.root_id.app_error",
                    "Invalid RootId parameter.",
                ));
            }
        }
        // Like Mattermost, files that are not the caller's unattached uploads to this channel
        // are dropped rather than refused.
        let file_ids: Vec<String> = new
            .file_ids
            .into_iter()
            .filter(|id| {
                self.files.get(id).is_some_and(|f| {
                    f.info.user_id == caller.user_id
                        && f.info.channel_id == channel.id
                        && f.info.post_id.is_empty()
                })
            })
            .collect();
        let mut props = new.props;
        self.sanitize_props(&caller.user_id, &mut props);
        let now = self.now_ms();
        let mut post = Post {
            id: new_id(),
            create_at: now,
            update_at: now,
            user_id: caller.user_id.clone(),
            channel_id: channel.id.clone(),
            root_id: new.root_id.clone(),
            hashtags: hashtags(&new.message),
            message: new.message,
            props,
            file_ids: file_ids.clone(),
            pending_post_id: pending_post_id.clone(),
            ..Post::default()
        };
        post.metadata.priority = priority;
        for id in &file_ids {
            if let Some(file) = self.files.get_mut(id) {
                file.info.post_id = post.id.clone();
            }
        }
        if let Some(root) = self.posts.get_mut(&post.root_id) {
            root.reply_count += 1;
            root.last_reply_at = now;
        }
        if let Some(channel) = self.channels.get_mut(&post.channel_id) {
            channel.last_post_at = now;
            channel.total_msg_count += 1;
            if post.root_id.is_empty() {
                channel.last_root_post_at = now;
                channel.total_msg_count_root += 1;
            }
        }
        self.posts.insert(post.id.clone(), post.clone());
        self.channel_posts
            .entry(post.channel_id.clone())
            .or_default()
            .push(post.id.clone());
        if !pending_post_id.is_empty() {
            self.pending_posts
                .insert((caller.user_id.clone(), pending_post_id), post.id.clone());
        }
        if set_online {
            self.record_activity(&caller.user_id);
        }
        let rendered = self.render_post(&post);
        let event = self.posted_event(&rendered, &channel, set_online);
        self.broadcast(event);
        Ok(rendered)
    }

    /// The post with what Mattermost computes on read: files, reactions, thread counts.
    pub(crate) fn render_post(&self, post: &Post) -> Post {
        let mut post = post.clone();
        post.metadata.files = post
            .file_ids
            .iter()
            .filter_map(|id| self.files.get(id).map(|f| f.info.clone()))
            .collect();
        post.metadata.reactions = self.reactions.get(&post.id).cloned().unwrap_or_default();
        post
    }

    fn posted_event(&self, post: &Post, channel: &Channel, set_online: bool) -> Event {
        let sender = self
            .users
            .get(&post.user_id)
            .map(|u| format!("@{}", u.username))
            .unwrap_or_default();
        let display_name = if channel.channel_type == "D" {
            sender.clone()
        } else {
            channel.display_name.clone()
        };
        let mentioned: BTreeSet<String> = self
            .channel_members(&channel.id)
            .into_iter()
            .filter(|member| *member != post.user_id)
            .filter(|member| {
                channel.channel_type == "D"
                    || ["@channel", "@all", "@here"]
                        .iter()
                        .any(|word| mentions_username(&post.message, &word[1..]))
                    || self
                        .users
                        .get(member)
                        .is_some_and(|u| mentions_username(&post.message, &u.username))
            })
            .collect();
        let mut event = Event::new("posted")
            .with("channel_display_name", display_name)
            .with("channel_name", channel.name.clone())
            .with("channel_type", channel.channel_type.clone())
            .with("post", post_string(post))
            .with("sender_name", sender)
            .with("set_online", set_online)
            .with("team_id", channel.team_id.clone())
            .in_channel(&channel.id)
            .mentioning(mentioned);
        if !post.metadata.files.is_empty() {
            event = event.with("otherFile", "true");
            if post
                .metadata
                .files
                .iter()
                .any(|f| f.mime_type.starts_with("image/"))
            {
                event = event.with("image", "true");
            }
        }
        event
    }

    /// A post the caller may read, deleted or not.
    fn visible_post(&self, caller: &Caller, post_id: &str) -> Result<&Post, AppError> {
        let post = self
            .posts
            .get(post_id)
            .ok_or_else(AppError::post_not_found)?;
        self.readable_channel(caller, &post.channel_id)?;
        Ok(post)
    }

    pub(crate) fn get_post(&self, caller: &Caller, post_id: &str) -> Result<Post, AppError> {
        let post = self.visible_post(caller, post_id)?;
        if post.delete_at != 0 {
            return Err(AppError::post_not_found());
        }
        Ok(self.render_post(post))
    }

    pub(crate) fn patch_post(
        &mut self,
        caller: &Caller,
        post_id: &str,
        patch: PostPatch,
    ) -> Result<Post, AppError> {
        let post = self.get_post(caller, post_id)?;
        if !caller.admin && post.user_id != caller.user_id {
            return Err(AppError::forbidden());
        }
        let props = patch.props.map(|mut props| {
            self.sanitize_props(&post.user_id, &mut props);
            props
        });
        let now = self.now_ms();
        let stored = self
            .posts
            .get_mut(post_id)
            .ok_or_else(AppError::post_not_found)?;
        if let Some(message) = patch.message
            && message != stored.message
        {
            stored.hashtags = hashtags(&message);
            stored.message = message;
            stored.edit_at = now;
        }
        if let Some(is_pinned) = patch.is_pinned {
            stored.is_pinned = is_pinned;
        }
        if let Some(file_ids) = patch.file_ids {
            stored.file_ids = file_ids;
        }
        if let Some(has_reactions) = patch.has_reactions {
            stored.has_reactions = has_reactions;
        }
        if let Some(props) = props {
            stored.props = props;
        }
        stored.update_at = now;
        let updated = stored.clone();
        Ok(self.announce_edit(&updated))
    }

    /// Renders an edited post and tells the channel.
    pub(crate) fn announce_edit(&mut self, post: &Post) -> Post {
        let rendered = self.render_post(post);
        self.broadcast(
            Event::new("post_edited")
                .with("post", post_string(&rendered))
                .in_channel(&post.channel_id),
        );
        rendered
    }

    /// Soft delete: the post and its replies get `delete_at`.
    pub(crate) fn delete_post(&mut self, caller: &Caller, post_id: &str) -> Result<(), AppError> {
        let post = self.get_post(caller, post_id)?;
        if !caller.admin && post.user_id != caller.user_id {
            return Err(AppError::forbidden());
        }
        let now = self.now_ms();
        for stored in self.posts.values_mut() {
            if stored.id == post_id || stored.root_id == post_id {
                stored.delete_at = now;
                stored.update_at = now;
            }
        }
        if let Some(root) = self.posts.get_mut(&post.root_id) {
            root.reply_count = (root.reply_count - 1).max(0);
        }
        let deleted = self
            .posts
            .get(post_id)
            .map(|p| self.render_post(p))
            .ok_or_else(AppError::post_not_found)?;
        self.broadcast(
            Event::new("post_deleted")
                .with("post", post_string(&deleted))
                .in_channel(&deleted.channel_id),
        );
        Ok(())
    }

    /// A post only `user_id` sees; it is not stored in the channel.
    pub(crate) fn send_ephemeral(
        &mut self,
        user_id: &str,
        sender_id: &str,
        channel_id: &str,
        root_id: &str,
        message: &str,
        mut props: Map<String, Value>,
    ) -> Post {
        self.sanitize_props(sender_id, &mut props);
        let now = self.now_ms();
        let post = Post {
            id: new_id(),
            create_at: now,
            update_at: now,
            user_id: sender_id.to_owned(),
            channel_id: channel_id.to_owned(),
            root_id: root_id.to_owned(),
            message: message.to_owned(),
            post_type: "system_ephemeral".into(),
            props,
            ..Post::default()
        };
        self.ephemeral.push(EphemeralRecord {
            user_id: user_id.to_owned(),
            post: post.clone(),
        });
        self.broadcast(
            Event::new("ephemeral_message")
                .with("post", post_string(&post))
                .for_user(user_id)
                .in_channel(channel_id),
        );
        post
    }

    fn post_list(&self, ids: Vec<String>) -> PostList {
        let mut list = PostList::default();
        for id in ids {
            if let Some(post) = self.posts.get(&id) {
                list.posts.insert(id.clone(), self.render_post(post));
                list.order.push(id);
            }
        }
        list
    }

    pub(crate) fn channel_posts(
        &self,
        caller: &Caller,
        channel_id: &str,
        query: &ChannelPostsQuery,
    ) -> Result<PostList, AppError> {
        self.readable_channel(caller, channel_id)?;
        let ids = self
            .channel_posts
            .get(channel_id)
            .cloned()
            .unwrap_or_default();
        let newest_first = ids.iter().rev().filter_map(|id| self.posts.get(id));
        if let Some(since) = query.since {
            // Changes since a time include deleted posts, so a client can drop them.
            let changed = newest_first
                .filter(|p| p.update_at > since)
                .map(|p| p.id.clone())
                .collect();
            return Ok(self.post_list(changed));
        }
        let live: Vec<&Post> = newest_first
            .filter(|p| query.include_deleted || p.delete_at == 0)
            .collect();
        let per_page = query.per_page.unwrap_or(60).clamp(1, 200);
        let position = |id: &str| live.iter().position(|p| p.id == id);
        let (start, end) = if let Some(before) = query.before.as_deref().filter(|s| !s.is_empty()) {
            let anchor = position(before).map_or(live.len(), |i| i + 1);
            let start = (anchor + query.page * per_page).min(live.len());
            (start, (start + per_page).min(live.len()))
        } else if let Some(after) = query.after.as_deref().filter(|s| !s.is_empty()) {
            let anchor = position(after).unwrap_or(0);
            let end = anchor.saturating_sub(query.page * per_page);
            (end.saturating_sub(per_page), end)
        } else {
            let start = (query.page * per_page).min(live.len());
            (start, (start + per_page).min(live.len()))
        };
        let page: Vec<String> = live[start..end].iter().map(|p| p.id.clone()).collect();
        let mut list = self.post_list(page);
        list.next_post_id = start
            .checked_sub(1)
            .and_then(|i| live.get(i))
            .map(|p| p.id.clone())
            .unwrap_or_default();
        list.prev_post_id = live.get(end).map(|p| p.id.clone()).unwrap_or_default();
        list.has_next = end < live.len();
        Ok(list)
    }

    fn thread(&self, caller: &Caller, post_id: &str) -> Result<PostList, AppError> {
        let post = self.get_post(caller, post_id)?;
        let root_id = if post.root_id.is_empty() {
            post.id
        } else {
            post.root_id
        };
        let ids = self
            .channel_posts
            .get(&post.channel_id)
            .into_iter()
            .flatten()
            .rev()
            .filter_map(|id| self.posts.get(id))
            .filter(|p| p.delete_at == 0 && (p.id == root_id || p.root_id == root_id))
            .map(|p| p.id.clone())
            .collect();
        Ok(self.post_list(ids))
    }
}

/// The `data.post` of post events: the post as a JSON string.
pub(crate) fn post_string(post: &Post) -> String {
    serde_json::to_string(post).unwrap_or_default()
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/posts", post(create))
        .route("/api/v4/posts/ephemeral", post(ephemeral))
        .route("/api/v4/posts/{post_id}", get(by_id).delete(delete))
        .route("/api/v4/posts/{post_id}/patch", put(patch))
        .route("/api/v4/posts/{post_id}/thread", get(thread))
        .route("/api/v4/channels/{channel_id}/posts", get(channel_posts))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateBody {
    channel_id: String,
    message: String,
    root_id: String,
    file_ids: Vec<String>,
    props: Map<String, Value>,
    pending_post_id: String,
    metadata: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct CreateQuery {
    set_online: Option<bool>,
}

async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(query): Query<CreateQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Post>), AppError> {
    let body: CreateBody = parse_json(&body, "post")?;
    if !is_valid_id(&body.channel_id) {
        return Err(AppError::invalid_body("channel_id"));
    }
    let priority = body
        .metadata
        .as_ref()
        .and_then(|m| m.get("priority"))
        .cloned();
    let new = NewPost {
        channel_id: body.channel_id,
        message: body.message,
        root_id: body.root_id,
        file_ids: body.file_ids,
        props: body.props,
    };
    let post = shared.lock().create_post(
        &caller,
        new,
        body.pending_post_id,
        query.set_online.unwrap_or(true),
        priority,
    )?;
    Ok((StatusCode::CREATED, Json(post)))
}

#[derive(Debug, Deserialize)]
struct EphemeralBody {
    user_id: String,
    post: EphemeralPost,
}

#[derive(Debug, Deserialize)]
struct EphemeralPost {
    channel_id: String,
    message: String,
    #[serde(default)]
    root_id: String,
    #[serde(default)]
    props: Map<String, Value>,
}

/// Needs `create_post_ephemeral`, which only system admins hold.
async fn ephemeral(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Post>), AppError> {
    caller.require_admin()?;
    let body: EphemeralBody = parse_json(&body, "post")?;
    let mut server = shared.lock();
    server.user(&body.user_id)?;
    server.channel(&body.post.channel_id)?;
    let post = server.send_ephemeral(
        &body.user_id,
        &caller.user_id,
        &body.post.channel_id,
        &body.post.root_id,
        &body.post.message,
        body.post.props,
    );
    Ok((StatusCode::CREATED, Json(post)))
}

fn require_post_id(post_id: &str) -> Result<(), AppError> {
    if is_valid_id(post_id) {
        Ok(())
    } else {
        Err(AppError::invalid_url_param("post_id"))
    }
}

async fn by_id(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(post_id): Path<String>,
) -> Result<Json<Post>, AppError> {
    require_post_id(&post_id)?;
    Ok(Json(shared.lock().get_post(&caller, &post_id)?))
}

/// `props` is a JSON object, as in Mattermost's `PostPatch` (the OpenAPI says string).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PostPatch {
    pub(crate) message: Option<String>,
    pub(crate) is_pinned: Option<bool>,
    pub(crate) file_ids: Option<Vec<String>>,
    pub(crate) has_reactions: Option<bool>,
    pub(crate) props: Option<Map<String, Value>>,
}

async fn patch(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(post_id): Path<String>,
    body: Bytes,
) -> Result<Json<Post>, AppError> {
    require_post_id(&post_id)?;
    let patch: PostPatch = parse_json(&body, "post")?;
    Ok(Json(shared.lock().patch_post(&caller, &post_id, patch)?))
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(post_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    require_post_id(&post_id)?;
    shared.lock().delete_post(&caller, &post_id)?;
    Ok(Json(json!({"status": "OK"})))
}

async fn thread(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(post_id): Path<String>,
) -> Result<Json<PostList>, AppError> {
    require_post_id(&post_id)?;
    Ok(Json(shared.lock().thread(&caller, &post_id)?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ChannelPostsQuery {
    pub(crate) page: usize,
    pub(crate) per_page: Option<usize>,
    pub(crate) since: Option<i64>,
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
    pub(crate) include_deleted: bool,
}

async fn channel_posts(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(channel_id): Path<String>,
    query: Result<Query<ChannelPostsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PostList>, AppError> {
    let Query(query) = query.map_err(|_| AppError::invalid_param("page"))?;
    if !is_valid_id(&channel_id) {
        return Err(AppError::invalid_url_param("channel_id"));
    }
    Ok(Json(shared.lock().channel_posts(
        &caller,
        &channel_id,
        &query,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_and_mentions_follow_word_boundaries() {
        assert_eq!(hashtags("ship #release-1 and #x, #ok."), "#release-1 #ok");
        assert!(mentions_username("hi @alice.", "alice"));
        assert!(!mentions_username("hi @alicex", "alice"));
        assert!(!mentions_username("mail a@alice", "alice"));
    }
}
