//! Presence: one user's, and in bulk with `getPresencesByUserId` (at most 650 ids).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::error::GraphError;
use crate::identity::Caller;
use crate::state::Tenant;

fn presence_json(tenant: &Tenant, user_id: &str) -> Value {
    let (availability, activity) = tenant
        .presence
        .get(user_id)
        .map(|p| (p.availability.clone(), p.activity.clone()))
        .unwrap_or_else(|| ("PresenceUnknown".into(), "PresenceUnknown".into()));
    json!({"id": user_id, "availability": availability, "activity": activity})
}

pub(crate) async fn mine(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> Result<Json<Value>, GraphError> {
    let user_id = caller.user_id("/me request")?.to_owned();
    let tenant = shared.lock();
    let mut body = presence_json(&tenant, &user_id);
    body["@odata.context"] =
        json!("https://graph.microsoft.com/v1.0/$metadata#users('me')/presence/$entity");
    Ok(Json(body))
}

pub(crate) async fn get_one(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let tenant = shared.lock();
    let user = tenant
        .find_user(&id)
        .ok_or_else(|| GraphError::not_found(&format!("User '{id}' was not found.")))?;
    Ok(Json(presence_json(&tenant, &user.id)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Ids {
    ids: Option<Vec<String>>,
}

pub(crate) async fn by_user_ids(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Json(body): Json<Ids>,
) -> Result<Json<Value>, GraphError> {
    let ids = body
        .ids
        .ok_or_else(|| GraphError::bad_request("The 'ids' property is required."))?;
    if ids.len() > 650 {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Maximum of 650 user IDs are supported per API request.",
        ));
    }
    let tenant = shared.lock();
    let value: Vec<Value> = ids
        .iter()
        .filter(|id| tenant.users.contains_key(*id))
        .map(|id| presence_json(&tenant, id))
        .collect();
    Ok(Json(json!({"value": value})))
}
