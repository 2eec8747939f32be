//! Interactive message buttons and menus: a click POSTs Mattermost's
//! `PostActionIntegrationRequest` to the action's `integration.url`, and the answer may update
//! the post, show the user an ephemeral message, or send them somewhere (`goto_location`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{AppError, EmulatorError};
use crate::ids::new_id;
use crate::posts::Post;
use crate::server::{Shared, parse_json};
use crate::state::Server;

/// Props an integration's update cannot remove from the post.
const RETAINED_PROPS: [&str; 6] = [
    "from_bot",
    "from_webhook",
    "from_plugin",
    "override_username",
    "override_icon_url",
    "override_icon_emoji",
];

/// What clicking a button did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionOutcome {
    /// The integration's JSON answer as it came.
    pub response: Value,
    /// The post after an `update`.
    pub updated_post: Option<Post>,
    /// The ephemeral post made from `ephemeral_text`.
    pub ephemeral: Option<Post>,
    pub goto_location: String,
    pub trigger_id: String,
}

/// The body POSTed to the integration (`model.PostActionIntegrationRequest`).
#[derive(Debug, Clone, Serialize)]
struct IntegrationRequest {
    user_id: String,
    user_name: String,
    channel_id: String,
    channel_name: String,
    team_id: String,
    team_domain: String,
    post_id: String,
    trigger_id: String,
    #[serde(rename = "type")]
    action_type: String,
    data_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Map<String, Value>>,
}

#[derive(Debug)]
pub(crate) enum ActionError {
    App(AppError),
    Failed { action_id: String, message: String },
}

impl From<AppError> for ActionError {
    fn from(err: AppError) -> Self {
        ActionError::App(err)
    }
}

impl From<ActionError> for EmulatorError {
    fn from(err: ActionError) -> Self {
        match err {
            ActionError::App(err) => err.into(),
            ActionError::Failed { action_id, message } => {
                EmulatorError::ActionFailed { action_id, message }
            }
        }
    }
}

impl From<ActionError> for AppError {
    fn from(err: ActionError) -> Self {
        match err {
            ActionError::App(err) => err,
            ActionError::Failed { message, .. } => AppError::bad_request(
                "api.post.do_action.action_integration.app_error",
                "Action integration error.",
            )
            .detailed(message),
        }
    }
}

/// The action with this id among the post's `props.attachments[].actions[]`.
fn find_action(post: &Post, action_id: &str) -> Option<Map<String, Value>> {
    post.props
        .get("attachments")?
        .as_array()?
        .iter()
        .filter_map(|a| a.get("actions")?.as_array())
        .flatten()
        .filter_map(Value::as_object)
        .find(|a| a.get("id").and_then(Value::as_str) == Some(action_id))
        .cloned()
}

impl Server {
    fn prepare_action(
        &self,
        caller: &Caller,
        post_id: &str,
        action_id: &str,
        selected_option: Option<&str>,
    ) -> Result<(String, IntegrationRequest), AppError> {
        let post = self.get_post(caller, post_id)?;
        if !caller.admin && !self.is_member(&post.channel_id, &caller.user_id) {
            return Err(AppError::forbidden());
        }
        let action = find_action(&post, action_id).ok_or_else(|| {
            AppError::not_found(
                "api.post.do_action.action_id.app_error",
                "Invalid action id.",
            )
        })?;
        let integration = action.get("integration").and_then(Value::as_object);
        let url = integration
            .and_then(|i| i.get("url"))
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                AppError::bad_request(
                    "api.post.do_action.action_integration.app_error",
                    "Action integration error.",
                )
            })?;
        let mut context = integration
            .and_then(|i| i.get("context"))
            .and_then(Value::as_object)
            .cloned();
        if let Some(option) = selected_option {
            context
                .get_or_insert_with(Map::new)
                .insert("selected_option".into(), Value::String(option.to_owned()));
        }
        let channel = self.channel(&post.channel_id)?;
        let user = self.user(&caller.user_id)?;
        let (team_id, team_domain) = if channel.team_id.is_empty() {
            (String::new(), String::new())
        } else {
            (self.team.id.clone(), self.team.name.clone())
        };
        let text = |key: &str| {
            action
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let now = chrono::Utc::now().timestamp_millis();
        let request = IntegrationRequest {
            user_id: user.id.clone(),
            user_name: user.username.clone(),
            channel_id: channel.id.clone(),
            channel_name: channel.name.clone(),
            team_id,
            team_domain,
            post_id: post.id.clone(),
            trigger_id: base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}:{now}:{}",
                new_id(),
                user.id,
                new_id()
            )),
            action_type: text("type"),
            data_source: text("data_source"),
            context,
        };
        Ok((url.to_owned(), request))
    }

    /// Applies `update` and `ephemeral_text` from the integration's answer.
    fn apply_action_response(
        &mut self,
        caller: &Caller,
        post_id: &str,
        response: &Value,
    ) -> Result<(Option<Post>, Option<Post>), AppError> {
        let original = self.get_post(caller, post_id)?;
        let mut updated = None;
        if let Some(update) = response.get("update").filter(|u| u.is_object()) {
            let mut post = self
                .posts
                .get(post_id)
                .cloned()
                .ok_or_else(AppError::post_not_found)?;
            let message = update
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let now = self.now_ms();
            if message != post.message {
                post.message = message;
                post.edit_at = now;
            }
            // null or absent props keep the post's; an object replaces them.
            if let Some(props) = update.get("props").and_then(Value::as_object) {
                let mut next = props.clone();
                for key in RETAINED_PROPS {
                    next.remove(key);
                    if let Some(value) = original.props.get(key) {
                        next.insert(key.to_owned(), value.clone());
                    }
                }
                post.props = next;
            }
            post.update_at = now;
            self.posts.insert(post.id.clone(), post.clone());
            updated = Some(self.announce_edit(&post));
        }
        let ephemeral = response
            .get("ephemeral_text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|text| {
                self.send_ephemeral(
                    &caller.user_id,
                    &original.user_id,
                    &original.channel_id,
                    &original.root_id,
                    text,
                    Map::new(),
                )
            });
        Ok((updated, ephemeral))
    }
}

/// Clicks `action_id` on `post_id` as `caller` (a menu choice when `selected_option` is set).
pub(crate) async fn run_action(
    shared: &Arc<Shared>,
    caller: &Caller,
    post_id: &str,
    action_id: &str,
    selected_option: Option<&str>,
) -> Result<ActionOutcome, ActionError> {
    let (url, request) =
        shared
            .lock()
            .prepare_action(caller, post_id, action_id, selected_option)?;
    let failed = |message: String| ActionError::Failed {
        action_id: action_id.to_owned(),
        message,
    };
    let answer = shared
        .http
        .post(&url)
        .json(&request)
        .timeout(shared.options.integration_timeout)
        .send()
        .await
        .map_err(|err| failed(format!("Action failed to execute: {err}")))?;
    let status = answer.status();
    let body = answer
        .bytes()
        .await
        .map_err(|err| failed(format!("Action failed to execute: {err}")))?;
    if !status.is_success() {
        return Err(failed(format!(
            "Action failed to execute: the integration answered {}",
            status.as_u16()
        )));
    }
    let response: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| failed("Action failed to execute: invalid JSON answer".into()))?
    };
    if let Some(message) = response
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
    {
        return Err(failed(message.to_owned()));
    }
    let (updated_post, ephemeral) = shared
        .lock()
        .apply_action_response(caller, post_id, &response)?;
    let goto_location = response
        .get("goto_location")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Ok(ActionOutcome {
        response,
        updated_post,
        ephemeral,
        goto_location,
        trigger_id: request.trigger_id,
    })
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route(
        "/api/v4/posts/{post_id}/actions/{action_id}",
        post(do_action),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActionBody {
    selected_option: Option<String>,
}

/// What a client sends when a user clicks a button or picks a menu option.
async fn do_action(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((post_id, action_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let body: ActionBody = if body.is_empty() {
        ActionBody::default()
    } else {
        parse_json(&body, "action")?
    };
    let outcome = run_action(
        &shared,
        &caller,
        &post_id,
        &action_id,
        body.selected_option.as_deref(),
    )
    .await?;
    let mut answer = json!({"status": "OK", "trigger_id": outcome.trigger_id});
    if !outcome.goto_location.is_empty() {
        answer["goto_location"] = Value::String(outcome.goto_location);
    }
    Ok((StatusCode::OK, Json(answer)))
}
