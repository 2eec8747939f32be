//! The emulator's handle: start it, point clients at its URL, script the server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use url::Url;

use crate::actions::{ActionOutcome, run_action};
use crate::auth::UserAccessToken;
use crate::channels::{Channel, ChannelType};
use crate::commands::{Command, CommandOutcome, NewCommand, run_command};
use crate::error::{AppError, EmulatorError};
use crate::faults::FaultRule;
use crate::posts::{NewPost, Post};
use crate::state::Server;
use crate::status::{CustomStatus, Status};
use crate::teams::Team;
use crate::users::{BotAccount, NewUser, User, bot_account};
use crate::websocket::SocketHub;
use crate::{
    actions, auth, channels, commands, control, faults, files, posts, reactions, status, teams,
    users, websocket,
};

/// Settings; Mattermost's defaults unless a test needs otherwise.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// `FileSettings.MaxFileSize` (Mattermost: 100 MiB); larger uploads get 413.
    pub max_file_size: u64,
    /// How long slash-command and button integrations have to answer (Mattermost: 30 s).
    pub integration_timeout: Duration,
    /// `X-Version-Id` and the `hello` event's `server_version`.
    pub server_version: String,
    /// The one team's name (the `team_domain` integrations see) and display name.
    pub team_name: String,
    pub team_display_name: String,
    /// How long a closed WebSocket connection stays resumable.
    pub websocket_resume_window: Duration,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            max_file_size: 100 * 1024 * 1024,
            integration_timeout: Duration::from_secs(30),
            server_version: "10.5.0.10.5.0.4f0c6a1d8e2b7c93a5d1e6f8b0c2d4e6.false".into(),
            team_name: "emulator".into(),
            team_display_name: "Emulator".into(),
            websocket_resume_window: Duration::from_secs(300),
        }
    }
}

/// State shared by the handle, the routes and the WebSocket tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    server: Mutex<Server>,
    pub(crate) options: EmulatorOptions,
    pub(crate) http: reqwest::Client,
    pub(crate) site_url: Url,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Server> {
        self.server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A JSON body, or Mattermost's 400 naming what was wrong with it. Top-level `null` fields are
/// treated as absent, as Go's decoder leaves such fields at their zero value.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8], name: &str) -> Result<T, AppError> {
    let invalid = |err: serde_json::Error| AppError::invalid_body(name).detailed(err.to_string());
    let value = match serde_json::from_slice::<serde_json::Value>(bytes).map_err(invalid)? {
        serde_json::Value::Object(map) => {
            serde_json::Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    };
    serde_json::from_value(value).map_err(invalid)
}

async fn not_found() -> axum::response::Response {
    AppError::not_found(
        "api.context.404.app_error",
        "Sorry, we could not find the page.",
    )
    .into_response()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(teams::routes())
        .merge(channels::routes())
        .merge(posts::routes())
        .merge(reactions::routes())
        .merge(files::routes())
        .merge(status::routes())
        .merge(commands::routes())
        .merge(actions::routes())
        .merge(websocket::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            faults::middleware,
        ))
        .nest("/_emulator", control::routes())
        // Nesting answers `/_emulator` only; the summary is also at `/_emulator/`.
        .route("/_emulator/", axum::routing::get(control::summary))
        .with_state(shared)
}

/// A running Mattermost emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct MattermostEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MattermostEmulator {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start() -> Result<Self, EmulatorError> {
        Self::start_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            EmulatorOptions::default(),
        )
        .await
    }

    pub async fn start_on(addr: SocketAddr) -> Result<Self, EmulatorError> {
        Self::start_with(addr, EmulatorOptions::default()).await
    }

    pub async fn start_with(
        addr: SocketAddr,
        options: EmulatorOptions,
    ) -> Result<Self, EmulatorError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(EmulatorError::Client)?;
        let site_url = Url::parse(&format!("http://{addr}")).map_err(|_| EmulatorError::Bind {
            addr,
            source: std::io::Error::other("the bound address makes no URL"),
        })?;
        let now = chrono::Utc::now().timestamp_millis();
        let team = Team::new(&options.team_name, &options.team_display_name, now);
        let sockets = SocketHub::new(
            options.websocket_resume_window,
            options.server_version.clone(),
        );
        let server = Server::new(team, options.max_file_size, sockets);
        let shared = Arc::new(Shared {
            server: Mutex::new(server),
            options,
            http,
            site_url,
        });
        let app = router(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(%err, "mattermost emulator stopped");
            }
        });
        Ok(Self {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: what Mattermost calls the Site URL.
    pub fn site_url(&self) -> Url {
        self.shared.site_url.clone()
    }

    /// `ws://127.0.0.1:PORT/api/v4/websocket`.
    pub fn websocket_url(&self) -> String {
        format!("ws://{}/api/v4/websocket", self.addr)
    }

    /// `http://127.0.0.1:PORT/_emulator/`: the control API.
    pub fn control_url(&self) -> String {
        format!("http://{}/_emulator/", self.addr)
    }

    /// Closes WebSocket connections and stops serving; waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.shared.lock().sockets.forget_sessions();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn with_server<T>(
        &self,
        f: impl FnOnce(&mut Server) -> Result<T, AppError>,
    ) -> Result<T, EmulatorError> {
        f(&mut self.shared.lock()).map_err(EmulatorError::from)
    }

    /// The one team.
    pub fn team(&self) -> Team {
        self.shared.lock().team.clone()
    }

    pub fn create_user(&self, new: NewUser) -> Result<User, EmulatorError> {
        self.with_server(|s| s.create_user(new, false))
    }

    /// A bot (owned by no one) with an access token.
    pub fn create_bot(
        &self,
        username: &str,
        display_name: &str,
    ) -> Result<BotAccount, EmulatorError> {
        self.with_server(|s| bot_account(s, "", username, display_name))
    }

    /// A personal access token; its `token` is a Bearer token for the REST API and WebSocket.
    pub fn create_token(
        &self,
        user_id: &str,
        description: &str,
    ) -> Result<UserAccessToken, EmulatorError> {
        self.with_server(|s| s.issue_token(user_id, description))
    }

    pub fn make_system_admin(&self, user_id: &str) -> Result<(), EmulatorError> {
        self.with_server(|s| s.set_system_admin(user_id, true))
    }

    /// Deactivates the user (or bot): its tokens stop working.
    pub fn deactivate_user(&self, user_id: &str) -> Result<(), EmulatorError> {
        self.with_server(|s| s.set_active(user_id, false))
    }

    pub fn user(&self, user_id: &str) -> Option<User> {
        self.shared.lock().users.get(user_id).cloned()
    }

    pub fn user_by_username(&self, username: &str) -> Option<User> {
        let username = username.to_lowercase();
        self.shared
            .lock()
            .users
            .values()
            .find(|u| u.username == username)
            .cloned()
    }

    /// The direct channel between two users, created (as `a`) if needed.
    pub fn direct_channel(&self, a: &str, b: &str) -> Result<Channel, EmulatorError> {
        self.with_server(|s| {
            let caller = s.caller(a)?;
            s.direct_channel(&caller, a, b)
        })
    }

    /// The direct channel between two users, if one exists.
    pub fn find_direct_channel(&self, a: &str, b: &str) -> Option<Channel> {
        self.shared.lock().find_direct_channel(a, b).cloned()
    }

    /// A group channel of 3 to 8 users, created as the first.
    pub fn group_channel(&self, user_ids: &[&str]) -> Result<Channel, EmulatorError> {
        let ids: Vec<String> = user_ids.iter().map(|id| (*id).to_owned()).collect();
        self.with_server(|s| {
            let first = ids
                .first()
                .ok_or_else(|| AppError::invalid_body("user_ids"))?;
            let caller = s.caller(first)?;
            s.group_channel(&caller, &ids)
        })
    }

    /// An open or private channel of the team, with its creator as the first member.
    pub fn create_channel(
        &self,
        creator_id: &str,
        name: &str,
        display_name: &str,
        channel_type: ChannelType,
    ) -> Result<Channel, EmulatorError> {
        self.with_server(|s| {
            s.caller(creator_id)?;
            s.team_channel(creator_id, name, display_name, channel_type)
        })
    }

    pub fn add_channel_member(&self, channel_id: &str, user_id: &str) -> Result<(), EmulatorError> {
        self.with_server(|s| s.add_member(channel_id, user_id))
    }

    pub fn channel(&self, channel_id: &str) -> Option<Channel> {
        self.shared.lock().channels.get(channel_id).cloned()
    }

    /// Posts as `user_id`, with the same checks and events as `POST /api/v4/posts`.
    pub fn create_post(&self, user_id: &str, post: NewPost) -> Result<Post, EmulatorError> {
        self.with_server(|s| {
            let caller = s.caller(user_id)?;
            s.create_post(&caller, post, String::new(), true, None)
        })
    }

    /// A post by id, deleted or not.
    pub fn post(&self, post_id: &str) -> Option<Post> {
        let server = self.shared.lock();
        server.posts.get(post_id).map(|p| server.render_post(p))
    }

    /// The channel's posts that are not deleted, oldest first.
    pub fn channel_posts(&self, channel_id: &str) -> Vec<Post> {
        let server = self.shared.lock();
        server
            .channel_posts
            .get(channel_id)
            .into_iter()
            .flatten()
            .filter_map(|id| server.posts.get(id))
            .filter(|p| p.delete_at == 0)
            .map(|p| server.render_post(p))
            .collect()
    }

    /// What `user_id` received: others' posts in their direct and group channels, oldest first.
    pub fn direct_messages_to(&self, user_id: &str) -> Vec<Post> {
        let server = self.shared.lock();
        let mut posts: Vec<Post> = server
            .channels
            .values()
            .filter(|c| matches!(c.channel_type.as_str(), "D" | "G"))
            .filter(|c| server.is_member(&c.id, user_id))
            .flat_map(|c| server.channel_posts.get(&c.id).into_iter().flatten())
            .filter_map(|id| server.posts.get(id))
            .filter(|p| p.delete_at == 0 && p.user_id != user_id)
            .map(|p| server.render_post(p))
            .collect();
        posts.sort_by_key(|p| p.create_at);
        posts
    }

    /// Ephemeral posts shown to `user_id`, oldest first.
    pub fn ephemeral_posts_for(&self, user_id: &str) -> Vec<Post> {
        self.shared
            .lock()
            .ephemeral
            .iter()
            .filter(|e| e.user_id == user_id)
            .map(|e| e.post.clone())
            .collect()
    }

    /// Sets a status as the user would by hand: `manual` for `away`, `offline` and `dnd` (kept
    /// until set again; activity no longer changes it), while `online` hands the status back to
    /// activity. `dnd_end_time` is in epoch seconds (0: none).
    pub fn set_status(
        &self,
        user_id: &str,
        status: &str,
        dnd_end_time: i64,
    ) -> Result<Status, EmulatorError> {
        self.with_server(|s| s.set_status(user_id, status, dnd_end_time))
    }

    /// The current status (`offline` for a user who never had one); an ended DND has already
    /// fallen back to the status before it.
    pub fn status(&self, user_id: &str) -> Status {
        self.shared.lock().status(user_id)
    }

    /// The user's custom status from `props.customStatus`; `None` when there is none, it was
    /// cleared, or it has ended.
    pub fn custom_status(&self, user_id: &str) -> Result<Option<CustomStatus>, EmulatorError> {
        self.with_server(|s| s.custom_status(user_id))
    }

    /// Sets a custom status as the user would themself, with Mattermost's checks (emoji or text;
    /// a `duration` needs an `expires_at` that is not past).
    pub fn set_custom_status(
        &self,
        user_id: &str,
        status: &CustomStatus,
    ) -> Result<(), EmulatorError> {
        self.with_server(|s| s.set_custom_status_as_user(user_id, status))
    }

    /// Clears the custom status as the user would.
    pub fn clear_custom_status(&self, user_id: &str) -> Result<(), EmulatorError> {
        self.with_server(|s| s.clear_custom_status(user_id))
    }

    /// Registers a custom slash command in the team, as `creator_id`.
    pub fn register_command(
        &self,
        creator_id: &str,
        command: NewCommand,
    ) -> Result<Command, EmulatorError> {
        self.with_server(|s| {
            s.caller(creator_id)?;
            let team_id = s.team.id.clone();
            s.register_command(creator_id, &team_id, command)
        })
    }

    /// Types `text` (such as `/msteams connect`) in a channel as `user_id`: the command's URL
    /// gets the documented form and its answer becomes posts.
    pub async fn run_slash_command(
        &self,
        user_id: &str,
        channel_id: &str,
        text: &str,
    ) -> Result<CommandOutcome, EmulatorError> {
        let caller = self.shared.lock().caller(user_id)?;
        Ok(run_command(&self.shared, &caller, channel_id, "", text).await?)
    }

    /// Clicks a button of an interactive message as `user_id`.
    pub async fn click_button(
        &self,
        user_id: &str,
        post_id: &str,
        action_id: &str,
    ) -> Result<ActionOutcome, EmulatorError> {
        let caller = self.shared.lock().caller(user_id)?;
        Ok(run_action(&self.shared, &caller, post_id, action_id, None).await?)
    }

    /// Picks `option` in an interactive menu as `user_id`; the integration sees it as
    /// `context.selected_option`.
    pub async fn select_option(
        &self,
        user_id: &str,
        post_id: &str,
        action_id: &str,
        option: &str,
    ) -> Result<ActionOutcome, EmulatorError> {
        let caller = self.shared.lock().caller(user_id)?;
        Ok(run_action(&self.shared, &caller, post_id, action_id, Some(option)).await?)
    }

    pub fn set_max_file_size(&self, bytes: u64) {
        self.shared.lock().max_file_size = bytes;
    }

    pub fn inject_fault(&self, rule: FaultRule) {
        self.shared.lock().faults.push(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Requests per route template, such as `POST /api/v4/posts`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.lock().counters.clone()
    }

    pub fn request_count(&self, route: &str) -> u64 {
        self.shared.lock().counters.get(route).copied().unwrap_or(0)
    }

    pub fn reset_counters(&self) {
        self.shared.lock().counters.clear();
    }

    /// Closes every WebSocket; clients can resume with their connection id.
    pub fn drop_websocket_connections(&self) {
        self.shared.lock().sockets.drop_connections();
    }

    /// Closes every WebSocket and forgets their sessions, as a restart would: reconnecting
    /// clients get a new `hello`.
    pub fn forget_websocket_sessions(&self) {
        self.shared.lock().sockets.forget_sessions();
    }

    /// Live WebSocket connections of a user.
    pub fn websocket_connections(&self, user_id: &str) -> usize {
        self.shared.lock().sockets.live_connections(user_id)
    }
}

impl Drop for MattermostEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            self.shared.lock().sockets.forget_sessions();
            let _ = stop.send(());
        }
    }
}
