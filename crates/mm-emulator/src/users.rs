//! Users and bot accounts: the `User` and `Bot` shapes and `/api/v4/users`, `/api/v4/bots`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::{Caller, UserAccessToken};
use crate::error::AppError;
use crate::ids::new_id;
use crate::server::{Shared, parse_json};
use crate::state::Server;

/// A user as the REST API shows it (never with a password).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub username: String,
    pub auth_service: String,
    pub email: String,
    pub email_verified: bool,
    pub nickname: String,
    pub first_name: String,
    pub last_name: String,
    pub position: String,
    /// Space-separated: `system_user`, plus `system_admin` for administrators.
    pub roles: String,
    pub locale: String,
    pub notify_props: Map<String, Value>,
    pub props: Map<String, Value>,
    pub last_password_update: i64,
    pub last_picture_update: i64,
    pub failed_attempts: i64,
    pub mfa_active: bool,
    pub timezone: Map<String, Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_bot: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bot_description: String,
}

impl User {
    pub fn is_system_admin(&self) -> bool {
        self.roles.split(' ').any(|role| role == "system_admin")
    }
}

/// What the scripting API needs to create a user; the rest takes Mattermost's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub nickname: String,
    /// Lets the user log in with `POST /api/v4/users/login`.
    pub password: Option<String>,
    pub props: Map<String, Value>,
}

impl NewUser {
    pub fn new(username: &str, email: &str) -> Self {
        Self {
            username: username.to_owned(),
            email: email.to_owned(),
            ..Self::default()
        }
    }

    pub fn name(mut self, first_name: &str, last_name: &str) -> Self {
        self.first_name = first_name.to_owned();
        self.last_name = last_name.to_owned();
        self
    }

    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }
}

/// A bot account as `/api/v4/bots` shows it; `user_id` is also its user's id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bot {
    pub user_id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub username: String,
    pub display_name: String,
    pub description: String,
    pub owner_id: String,
}

/// A bot and an access token for it, as the scripting API creates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotAccount {
    pub bot: Bot,
    pub token: String,
}

fn default_notify_props(username: &str) -> Map<String, Value> {
    let props = json!({
        "email": "true",
        "push": "mention",
        "desktop": "mention",
        "desktop_sound": "true",
        "mention_keys": "",
        "channel": "true",
        "first_name": "false",
        "comments": "never",
        "push_threads": "all",
        "desktop_threads": "all",
        "email_threads": "all",
        "auto_responder_active": "false",
        "auto_responder_message": "Hello, I am out of office and unable to respond to messages.",
        "push_status": "away",
    });
    let mut props = match props {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    props.insert(
        "mention_keys".into(),
        json!(format!("{username},@{username}")),
    );
    props
}

fn default_timezone() -> Map<String, Value> {
    let mut tz = Map::new();
    tz.insert("useAutomaticTimezone".into(), json!("true"));
    tz.insert("automaticTimezone".into(), json!(""));
    tz.insert("manualTimezone".into(), json!(""));
    tz
}

/// Mattermost's rule: 3 to 64 characters, starting with a letter, of `a-z 0-9 . - _`.
fn valid_username(name: &str) -> bool {
    (3..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c))
}

fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn invalid_username() -> AppError {
    AppError::bad_request(
        "model.user.is_valid.username.app_error",
        "Username must begin with a letter, and contain between 3 to 64 lowercase characters made up of numbers, letters, and the symbols '.', '-', and '_'.",
    )
}

impl Server {
    pub(crate) fn create_user(&mut self, new: NewUser, is_bot: bool) -> Result<User, AppError> {
        let username = new.username.to_lowercase();
        if !valid_username(&username) {
            return Err(invalid_username());
        }
        let email = new.email.to_lowercase();
        if !valid_email(&email) {
            return Err(AppError::bad_request(
                "model.user.is_valid.email.app_error",
                "Invalid email.",
            ));
        }
        self.check_unique(&username, &email, None)?;
        let now = self.now_ms();
        let user = User {
            id: new_id(),
            create_at: now,
            update_at: now,
            username: username.clone(),
            email,
            email_verified: is_bot,
            nickname: new.nickname,
            first_name: new.first_name,
            last_name: new.last_name,
            roles: "system_user".into(),
            locale: "en".into(),
            notify_props: default_notify_props(&username),
            props: new.props,
            last_password_update: if new.password.is_some() { now } else { 0 },
            timezone: default_timezone(),
            is_bot,
            ..User::default()
        };
        if let Some(password) = new.password {
            self.passwords.insert(user.id.clone(), password);
        }
        self.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    fn check_unique(
        &self,
        username: &str,
        email: &str,
        except: Option<&str>,
    ) -> Result<(), AppError> {
        for user in self.users.values() {
            if Some(user.id.as_str()) == except {
                continue;
            }
            if user.username == username {
                return Err(AppError::bad_request(
                    "app.user.save.username_exists.app_error",
                    "An account with that username already exists.",
                ));
            }
            if user.email == email {
                return Err(AppError::bad_request(
                    "app.user.save.email_exists.app_error",
                    "An account with that email already exists.",
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn create_bot(
        &mut self,
        owner_id: &str,
        username: &str,
        display_name: &str,
        description: &str,
    ) -> Result<Bot, AppError> {
        let email = format!("{}@localhost", username.to_lowercase());
        let mut user = self.create_user(NewUser::new(username, &email), true)?;
        user.first_name = display_name.to_owned();
        user.bot_description = description.to_owned();
        self.users.insert(user.id.clone(), user.clone());
        let bot = Bot {
            user_id: user.id.clone(),
            create_at: user.create_at,
            update_at: user.update_at,
            delete_at: 0,
            username: user.username.clone(),
            display_name: display_name.to_owned(),
            description: description.to_owned(),
            owner_id: owner_id.to_owned(),
        };
        self.bots.insert(bot.user_id.clone(), bot.clone());
        Ok(bot)
    }

    pub(crate) fn set_system_admin(&mut self, user_id: &str, admin: bool) -> Result<(), AppError> {
        let now = self.now_ms();
        let user = self
            .users
            .get_mut(user_id)
            .ok_or_else(AppError::user_not_found)?;
        user.roles = if admin {
            "system_admin system_user".into()
        } else {
            "system_user".into()
        };
        user.update_at = now;
        Ok(())
    }

    pub(crate) fn set_active(&mut self, user_id: &str, active: bool) -> Result<(), AppError> {
        let now = self.now_ms();
        let user = self
            .users
            .get_mut(user_id)
            .ok_or_else(AppError::user_not_found)?;
        user.delete_at = if active { 0 } else { now };
        user.update_at = now;
        if let Some(bot) = self.bots.get_mut(user_id) {
            bot.delete_at = user.delete_at;
            bot.update_at = now;
        }
        Ok(())
    }

    fn patch_user(&mut self, user_id: &str, patch: UserPatch) -> Result<User, AppError> {
        let current = self.user(user_id)?.clone();
        let username = patch
            .username
            .as_deref()
            .map(str::to_lowercase)
            .unwrap_or_else(|| current.username.clone());
        let email = patch
            .email
            .as_deref()
            .map(str::to_lowercase)
            .unwrap_or_else(|| current.email.clone());
        if !valid_username(&username) {
            return Err(invalid_username());
        }
        self.check_unique(&username, &email, Some(user_id))?;
        let now = self.now_ms();
        let user = self
            .users
            .get_mut(user_id)
            .ok_or_else(AppError::user_not_found)?;
        user.username = username;
        user.email = email;
        let fields = [
            (patch.first_name, &mut user.first_name),
            (patch.last_name, &mut user.last_name),
            (patch.nickname, &mut user.nickname),
            (patch.position, &mut user.position),
            (patch.locale, &mut user.locale),
        ];
        for (value, field) in fields {
            if let Some(value) = value {
                *field = value;
            }
        }
        if let Some(props) = patch.props {
            user.props = props;
        }
        if let Some(notify_props) = patch.notify_props {
            user.notify_props = notify_props;
        }
        if let Some(timezone) = patch.timezone {
            user.timezone = timezone;
        }
        user.update_at = now;
        Ok(user.clone())
    }

    fn search_users(&self, search: &UserSearch) -> Vec<User> {
        let term = search.term.trim().trim_start_matches('@').to_lowercase();
        let matches = |user: &User| {
            term.is_empty()
                || [
                    &user.username,
                    &user.first_name,
                    &user.last_name,
                    &user.nickname,
                    &user.email,
                ]
                .iter()
                .any(|field| {
                    let field = field.to_lowercase();
                    field.starts_with(&term) || field.split(' ').any(|w| w.starts_with(&term))
                })
                || format!("{} {}", user.first_name, user.last_name)
                    .to_lowercase()
                    .starts_with(&term)
        };
        // Every user is in the one team.
        if search.without_team {
            return Vec::new();
        }
        let limit = search.limit.unwrap_or(100).clamp(1, 1000);
        self.users
            .values()
            .filter(|u| search.allow_inactive || u.delete_at == 0)
            .filter(|u| {
                search
                    .in_channel_id
                    .as_deref()
                    .is_none_or(|c| self.is_member(c, &u.id))
            })
            .filter(|u| {
                search
                    .not_in_channel_id
                    .as_deref()
                    .is_none_or(|c| !self.is_member(c, &u.id))
            })
            .filter(|u| matches(u))
            .take(limit)
            .cloned()
            .collect()
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/users", post(create))
        .route("/api/v4/users/me", get(me))
        .route("/api/v4/users/{user_id}", get(by_id).delete(deactivate))
        .route("/api/v4/users/{user_id}/patch", put(patch))
        .route("/api/v4/users/{user_id}/active", put(set_active))
        .route("/api/v4/users/email/{email}", get(by_email))
        .route("/api/v4/users/username/{username}", get(by_username))
        .route("/api/v4/users/ids", post(by_ids))
        .route("/api/v4/users/search", post(search))
        .route("/api/v4/bots", post(create_bot))
        .route("/api/v4/bots/{bot_user_id}", get(bot))
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    #[serde(default)]
    auth_service: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    position: String,
    locale: Option<String>,
    props: Option<Map<String, Value>>,
    notify_props: Option<Map<String, Value>>,
    timezone: Option<Map<String, Value>>,
}

/// Creating users needs a system admin: the emulator is a closed server (`EnableOpenServer` off).
async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<User>), AppError> {
    caller.require_admin()?;
    let body: CreateBody = parse_json(&body, "user")?;
    let username = body
        .username
        .ok_or_else(|| AppError::invalid_body("username"))?;
    let email = body.email.ok_or_else(|| AppError::invalid_body("email"))?;
    let email_auth = body.auth_service.is_empty() || body.auth_service == "email";
    if email_auth
        && body
            .password
            .as_deref()
            .is_none_or(|p| p.chars().count() < 8)
    {
        return Err(AppError::bad_request(
            "model.user.is_valid.pwd_length.app_error",
            "Your password must contain at least 8 characters.",
        ));
    }
    let mut server = shared.lock();
    let new = NewUser {
        username,
        email,
        first_name: body.first_name,
        last_name: body.last_name,
        nickname: body.nickname,
        password: body.password,
        props: body.props.unwrap_or_default(),
    };
    let mut user = server.create_user(new, false)?;
    user.auth_service = if email_auth {
        String::new()
    } else {
        body.auth_service
    };
    user.position = body.position;
    if let Some(locale) = body.locale {
        user.locale = locale;
    }
    if let Some(notify_props) = body.notify_props {
        user.notify_props.extend(notify_props);
    }
    if let Some(timezone) = body.timezone {
        user.timezone = timezone;
    }
    server.users.insert(user.id.clone(), user.clone());
    Ok((StatusCode::CREATED, Json(user)))
}

async fn me(State(shared): State<Arc<Shared>>, caller: Caller) -> Result<Json<User>, AppError> {
    Ok(Json(shared.lock().user(&caller.user_id)?.clone()))
}

async fn by_id(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<User>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    Ok(Json(shared.lock().user(&user_id)?.clone()))
}

async fn by_email(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(email): Path<String>,
) -> Result<Json<User>, AppError> {
    let email = email.to_lowercase();
    let server = shared.lock();
    server
        .users
        .values()
        .find(|u| u.email == email)
        .cloned()
        .map(Json)
        .ok_or_else(AppError::user_not_found)
}

async fn by_username(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<User>, AppError> {
    let username = username.to_lowercase();
    let server = shared.lock();
    server
        .users
        .values()
        .find(|u| u.username == username)
        .cloned()
        .map(Json)
        .ok_or_else(AppError::user_not_found)
}

#[derive(Debug, Deserialize)]
struct SinceQuery {
    since: Option<i64>,
}

async fn by_ids(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Query(query): Query<SinceQuery>,
    body: Bytes,
) -> Result<Json<Vec<User>>, AppError> {
    let ids: Vec<String> = parse_json(&body, "user_ids")?;
    if ids.is_empty() {
        return Err(AppError::invalid_body("user_ids"));
    }
    let server = shared.lock();
    let users = ids
        .iter()
        .filter_map(|id| server.users.get(id))
        .filter(|u| query.since.is_none_or(|since| u.update_at > since))
        .cloned()
        .collect();
    Ok(Json(users))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserSearch {
    term: String,
    team_id: Option<String>,
    in_channel_id: Option<String>,
    not_in_channel_id: Option<String>,
    allow_inactive: bool,
    without_team: bool,
    limit: Option<usize>,
}

async fn search(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    body: Bytes,
) -> Result<Json<Vec<User>>, AppError> {
    let search: UserSearch = parse_json(&body, "term")?;
    let server = shared.lock();
    if search
        .team_id
        .as_deref()
        .is_some_and(|t| t != server.team.id)
    {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(server.search_users(&search)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserPatch {
    username: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    nickname: Option<String>,
    position: Option<String>,
    locale: Option<String>,
    props: Option<Map<String, Value>>,
    notify_props: Option<Map<String, Value>>,
    timezone: Option<Map<String, Value>>,
}

async fn patch(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Json<User>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    caller.require_self_or_admin(&user_id)?;
    let patch: UserPatch = parse_json(&body, "user")?;
    Ok(Json(shared.lock().patch_user(&user_id, patch)?))
}

async fn deactivate(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    caller.require_self_or_admin(&user_id)?;
    shared.lock().set_active(&user_id, false)?;
    Ok(Json(json!({"status": "OK"})))
}

#[derive(Debug, Deserialize)]
struct ActiveBody {
    active: bool,
}

async fn set_active(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    caller.require_self_or_admin(&user_id)?;
    let body: ActiveBody = parse_json(&body, "active")?;
    // Reactivating needs an admin; a user may only deactivate themself.
    if body.active && !caller.admin {
        return Err(AppError::forbidden());
    }
    shared.lock().set_active(&user_id, body.active)?;
    Ok(Json(json!({"status": "OK"})))
}

#[derive(Debug, Deserialize)]
struct BotBody {
    username: Option<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
}

async fn create_bot(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Bot>), AppError> {
    caller.require_admin()?;
    let body: BotBody = parse_json(&body, "bot")?;
    let username = body
        .username
        .ok_or_else(|| AppError::invalid_body("username"))?;
    let bot = shared.lock().create_bot(
        &caller.user_id,
        &username,
        &body.display_name,
        &body.description,
    )?;
    Ok((StatusCode::CREATED, Json(bot)))
}

#[derive(Debug, Deserialize)]
struct BotQuery {
    #[serde(default)]
    include_deleted: bool,
}

async fn bot(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(bot_user_id): Path<String>,
    Query(query): Query<BotQuery>,
) -> Result<Json<Bot>, AppError> {
    let server = shared.lock();
    let bot = server
        .bots
        .get(&bot_user_id)
        .filter(|b| query.include_deleted || b.delete_at == 0)
        .ok_or_else(|| {
            AppError::not_found("store.sql_bot.get.missing.app_error", "Bot does not exist.")
        })?;
    if !(caller.admin || caller.user_id == bot.owner_id || caller.user_id == bot.user_id) {
        return Err(AppError::forbidden());
    }
    Ok(Json(bot.clone()))
}

/// A token for the bot, as the scripting API hands it out.
pub(crate) fn bot_account(
    server: &mut Server,
    owner_id: &str,
    username: &str,
    display_name: &str,
) -> Result<BotAccount, AppError> {
    let bot = server.create_bot(owner_id, username, display_name, "")?;
    let UserAccessToken { token, .. } = server.issue_token(&bot.user_id, "emulator")?;
    Ok(BotAccount { bot, token })
}
