//! The one team every user belongs to. Slash commands are registered in it and its name is the
//! `team_domain` integrations receive.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::AppError;
use crate::server::Shared;

/// A team, as `GET /api/v4/teams/{team_id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub display_name: String,
    pub name: String,
    pub description: String,
    pub email: String,
    #[serde(rename = "type")]
    pub team_type: String,
    pub company_name: String,
    pub allowed_domains: String,
    pub invite_id: String,
    pub allow_open_invite: bool,
    pub scheme_id: Option<String>,
    pub group_constrained: Option<bool>,
    pub policy_id: Option<String>,
}

impl Team {
    pub(crate) fn new(name: &str, display_name: &str, now: i64) -> Self {
        Self {
            id: crate::ids::new_id(),
            create_at: now,
            update_at: now,
            delete_at: 0,
            display_name: display_name.to_owned(),
            name: name.to_owned(),
            description: String::new(),
            email: String::new(),
            team_type: "O".into(),
            company_name: String::new(),
            allowed_domains: String::new(),
            invite_id: crate::ids::new_id(),
            allow_open_invite: true,
            scheme_id: None,
            group_constrained: None,
            policy_id: None,
        }
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/teams", get(list))
        .route("/api/v4/teams/{team_id}", get(by_id))
        .route("/api/v4/teams/name/{name}", get(by_name))
}

async fn list(State(shared): State<Arc<Shared>>, _caller: Caller) -> Json<Vec<Team>> {
    Json(vec![shared.lock().team.clone()])
}

async fn by_id(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(team_id): Path<String>,
) -> Result<Json<Team>, AppError> {
    let server = shared.lock();
    if server.team.id == team_id {
        Ok(Json(server.team.clone()))
    } else {
        Err(team_not_found())
    }
}

async fn by_name(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Team>, AppError> {
    let server = shared.lock();
    if server.team.name == name {
        Ok(Json(server.team.clone()))
    } else {
        Err(team_not_found())
    }
}

fn team_not_found() -> AppError {
    AppError::not_found(
        "app.team.get.find.app_error",
        "Unable to find the existing team.",
    )
}
