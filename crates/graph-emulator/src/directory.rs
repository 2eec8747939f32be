//! Users and `/me`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::error::GraphError;
use crate::identity::Caller;

fn user_not_found(id: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub(crate) async fn me(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> Result<Json<Value>, GraphError> {
    let user_id = caller.user_id("/me request")?;
    let tenant = shared.lock();
    let user = tenant
        .users
        .get(user_id)
        .ok_or_else(|| user_not_found(user_id))?;
    let mut body = user.to_json();
    body["@odata.context"] = json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
    Ok(Json(body))
}

pub(crate) async fn list_users(State(shared): State<Arc<Shared>>, _caller: Caller) -> Json<Value> {
    let tenant = shared.lock();
    let value: Vec<Value> = tenant.users.values().map(|u| u.to_json()).collect();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "value": value,
    }))
}

pub(crate) async fn get_user(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let tenant = shared.lock();
    let user = tenant.find_user(&id).ok_or_else(|| user_not_found(&id))?;
    let mut body = user.to_json();
    body["@odata.context"] = json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
    Ok(Json(body))
}
