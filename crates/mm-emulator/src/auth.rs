//! Who is calling: access tokens (personal, bot and login sessions), the `Caller` extractor that
//! every `/api/v4` route takes, and the token endpoints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::AppError;
use crate::ids::{is_valid_id, new_id};
use crate::server::{Shared, parse_json};
use crate::state::Server;

/// The description of login sessions, which are not listed as access tokens.
const SESSION: &str = "\u{0}session";

/// A personal or bot access token, as `POST /api/v4/users/{user_id}/tokens` returns it. The
/// `token` is shown only in that answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccessToken {
    pub id: String,
    pub token: String,
    pub user_id: String,
    pub description: String,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) description: String,
    pub(crate) is_active: bool,
}

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) user_id: String,
    pub(crate) admin: bool,
}

impl Caller {
    /// Mattermost accepts `me` wherever a user id goes.
    pub(crate) fn resolve(&self, user_id: &str) -> Result<String, AppError> {
        if user_id == "me" {
            Ok(self.user_id.clone())
        } else if is_valid_id(user_id) {
            Ok(user_id.to_owned())
        } else {
            Err(AppError::invalid_url_param("user_id"))
        }
    }

    /// The caller is `user_id`, or a system admin acting for them.
    pub(crate) fn require_self_or_admin(&self, user_id: &str) -> Result<(), AppError> {
        if self.admin || self.user_id == user_id {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }

    pub(crate) fn require_admin(&self) -> Result<(), AppError> {
        if self.admin {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }
}

/// The token of a request: `Authorization: Bearer|Token <token>` or the `MMAUTHTOKEN` cookie.
pub(crate) fn request_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            return Some(token.trim().to_owned());
        }
        return None;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "MMAUTHTOKEN")
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let token = request_token(&parts.headers).ok_or_else(AppError::unauthorized)?;
        shared.lock().authenticate(&token)
    }
}

impl Server {
    pub(crate) fn authenticate(&self, token: &str) -> Result<Caller, AppError> {
        let record = self
            .tokens
            .get(token)
            .filter(|r| r.is_active)
            .ok_or_else(AppError::unauthorized)?;
        self.caller(&record.user_id)
            .map_err(|_| AppError::unauthorized())
    }

    /// Acting as `user_id` from the scripting API: the user must exist and be active.
    pub(crate) fn caller(&self, user_id: &str) -> Result<Caller, AppError> {
        let user = self.user(user_id)?;
        if user.delete_at != 0 {
            return Err(AppError::unauthorized());
        }
        Ok(Caller {
            user_id: user.id.clone(),
            admin: user.is_system_admin(),
        })
    }

    pub(crate) fn issue_token(
        &mut self,
        user_id: &str,
        description: &str,
    ) -> Result<UserAccessToken, AppError> {
        self.user(user_id)?;
        let token = UserAccessToken {
            id: new_id(),
            token: new_id(),
            user_id: user_id.to_owned(),
            description: description.to_owned(),
        };
        self.tokens.insert(
            token.token.clone(),
            TokenRecord {
                id: token.id.clone(),
                user_id: user_id.to_owned(),
                description: description.to_owned(),
                is_active: true,
            },
        );
        Ok(token)
    }

    fn revoke_token(&mut self, caller: &Caller, token_id: &str) -> Result<(), AppError> {
        let record = self
            .tokens
            .values_mut()
            .find(|r| r.id == token_id)
            .ok_or_else(|| {
                AppError::not_found(
                    "app.user_access_token.get_by_token.app_error",
                    "Unable to get user access token.",
                )
            })?;
        caller.require_self_or_admin(&record.user_id)?;
        record.is_active = false;
        Ok(())
    }

    /// Who may create tokens for `user_id`: admins, the owner of a bot, or the user themself when
    /// they hold the `system_user_access_token` role.
    fn may_create_token(&self, caller: &Caller, user_id: &str) -> bool {
        if caller.admin {
            return true;
        }
        if let Some(bot) = self.bots.get(user_id) {
            return bot.owner_id == caller.user_id;
        }
        caller.user_id == user_id
            && self
                .users
                .get(user_id)
                .is_some_and(|u| u.roles.split(' ').any(|r| r == "system_user_access_token"))
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/users/login", post(login))
        .route(
            "/api/v4/users/{user_id}/tokens",
            post(create_token).get(list_tokens),
        )
        .route("/api/v4/users/tokens/revoke", post(revoke))
}

#[derive(Debug, Deserialize)]
struct LoginBody {
    login_id: String,
    password: String,
}

/// Password login: answers the user and a session token in the `Token` header.
async fn login(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, AppError> {
    let body: LoginBody = parse_json(&body, "login_id")?;
    let mut server = shared.lock();
    let login = body.login_id.to_lowercase();
    let user = server
        .users
        .values()
        .find(|u| u.username == login || u.email.to_lowercase() == login)
        .cloned();
    let invalid = || {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "api.user.login.invalid_credentials_email_username",
            "Enter a valid email or username and/or password.",
        )
    };
    let user = user.ok_or_else(invalid)?;
    if user.delete_at != 0 || user.is_bot || server.passwords.get(&user.id) != Some(&body.password)
    {
        return Err(invalid());
    }
    let session = server.issue_token(&user.id, SESSION)?;
    let mut response = (StatusCode::OK, Json(user)).into_response();
    if let Ok(value) = HeaderValue::from_str(&session.token) {
        response.headers_mut().insert("Token", value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct TokenBody {
    #[serde(default)]
    description: String,
}

async fn create_token(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<UserAccessToken>), AppError> {
    let user_id = caller.resolve(&user_id)?;
    let body: TokenBody = parse_json(&body, "token")?;
    if body.description.is_empty() {
        return Err(AppError::bad_request(
            "model.user_access_token.is_valid.description.app_error",
            "Invalid description, must be 255 or less characters.",
        ));
    }
    let mut server = shared.lock();
    server.user(&user_id)?;
    if !server.may_create_token(&caller, &user_id) {
        return Err(AppError::forbidden());
    }
    let token = server.issue_token(&user_id, &body.description)?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// The user's tokens without their secret (`UserAccessTokenSanitized`).
async fn list_tokens(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Vec<serde_json::Value>>, AppError> {
    let user_id = caller.resolve(&user_id)?;
    caller.require_self_or_admin(&user_id)?;
    let server = shared.lock();
    let mut tokens: Vec<&TokenRecord> = server
        .tokens
        .values()
        .filter(|r| r.user_id == user_id && r.description != SESSION)
        .collect();
    tokens.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(
        tokens
            .into_iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "user_id": r.user_id,
                    "description": r.description,
                    "is_active": r.is_active,
                })
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
struct RevokeBody {
    token_id: String,
}

async fn revoke(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    let body: RevokeBody = parse_json(&body, "token_id")?;
    shared.lock().revoke_token(&caller, &body.token_id)?;
    Ok(Json(json!({"status": "OK"})))
}
