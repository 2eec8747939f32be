//! Change-notification subscriptions as Graph runs them: validation handshake on create,
//! per-resource lifetimes, notifications POSTed to subscribers with retries, lifecycle events.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::error::GraphError;
use crate::identity::Caller;
use crate::model::graph_time;
use crate::state::{DeliveryRecord, Principal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

/// What a subscription's resource covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Watched {
    /// `/chats/getAllMessages`: every chat message in the tenant.
    AllChatMessages,
    /// `/chats/{id}/messages`.
    ChatMessages(String),
    /// `/users/{id}/chats/getAllMessages`: messages of every chat the user is in.
    UserChatMessages(String),
    /// `communications/presences?$filter=id in (...)`.
    Presence(Vec<String>),
    /// `/users/{id}/events`.
    Events(String),
}

impl Watched {
    /// Longest lifetime Graph grants, in minutes.
    fn max_lifetime(&self) -> i64 {
        match self {
            Self::AllChatMessages | Self::ChatMessages(_) | Self::UserChatMessages(_) => 4320,
            Self::Presence(_) => 60,
            Self::Events(_) => 4230,
        }
    }

    fn is_chat_messages(&self) -> bool {
        matches!(
            self,
            Self::AllChatMessages | Self::ChatMessages(_) | Self::UserChatMessages(_)
        )
    }
}

/// Lifecycle events Graph sends to `lifecycleNotificationUrl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    SubscriptionRemoved,
    Missed,
}

impl LifecycleEvent {
    fn as_str(self) -> &'static str {
        match self {
            Self::ReauthorizationRequired => "reauthorizationRequired",
            Self::SubscriptionRemoved => "subscriptionRemoved",
            Self::Missed => "missed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "reauthorizationRequired" => Some(Self::ReauthorizationRequired),
            "subscriptionRemoved" => Some(Self::SubscriptionRemoved),
            "missed" => Some(Self::Missed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) resource: String,
    pub(crate) watched: Watched,
    pub(crate) change_types: Vec<ChangeType>,
    pub(crate) change_type_text: String,
    pub(crate) notification_url: String,
    pub(crate) lifecycle_url: Option<String>,
    pub(crate) client_state: Option<String>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) application_id: String,
    pub(crate) creator_id: String,
}

impl Subscription {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": self.change_type_text,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_time(self.expires_at),
            "creatorId": self.creator_id,
            "latestSupportedTlsVersion": "v1_2",
            "notificationContentType": "application/json",
            "includeResourceData": false,
        })
    }
}

/// A POST the emulator owes a subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) subscription_id: String,
    pub(crate) url: String,
    pub(crate) kind: &'static str,
    pub(crate) body: Value,
}

fn parse_change_types(text: &str) -> Result<Vec<ChangeType>, GraphError> {
    let mut types = Vec::new();
    for part in text.split(',').map(str::trim) {
        types.push(match part {
            "created" => ChangeType::Created,
            "updated" => ChangeType::Updated,
            "deleted" => ChangeType::Deleted,
            other => {
                return Err(GraphError::bad_request(&format!(
                    "Invalid changeType '{other}'."
                )));
            }
        });
    }
    Ok(types)
}

fn unquote(s: &str) -> &str {
    s.trim()
        .trim_start_matches("('")
        .trim_end_matches("')")
        .trim_matches('\'')
}

/// Understands the resource paths the bridges subscribe to.
pub(crate) fn parse_resource(
    resource: &str,
    caller_user: Option<&str>,
) -> Result<Watched, GraphError> {
    let trimmed = resource.trim_start_matches('/');
    let (path, query) = trimmed.split_once('?').unwrap_or((trimmed, ""));
    let unsupported = || {
        GraphError::bad_request(&format!(
            "Resource '{resource}' is not supported for subscriptions."
        ))
    };
    if let Some(model) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("model="))
        .filter(|model| !matches!(*model, "A" | "B"))
    {
        return Err(GraphError::bad_request(&format!(
            "Invalid model '{model}'; use A or B."
        )));
    }
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["chats", "getAllMessages"] => Ok(Watched::AllChatMessages),
        ["chats", id, "messages"] => Ok(Watched::ChatMessages(unquote(id).to_owned())),
        [chat, "messages"] if chat.starts_with("chats(") => Ok(Watched::ChatMessages(
            unquote(&chat["chats".len()..]).to_owned(),
        )),
        ["users", id, "chats", "getAllMessages"] => {
            Ok(Watched::UserChatMessages(unquote(id).to_owned()))
        }
        ["users", id, "events"] => Ok(Watched::Events(unquote(id).to_owned())),
        ["me", "events"] => caller_user
            .map(|u| Watched::Events(u.to_owned()))
            .ok_or_else(unsupported),
        ["communications", "presences"] => {
            let filter = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("$filter="))
                .ok_or_else(unsupported)?;
            let filter = filter.replace("%20", " ").replace("%27", "'");
            let list = filter
                .strip_prefix("id in (")
                .and_then(|rest| rest.strip_suffix(')'))
                .ok_or_else(unsupported)?;
            let ids: Vec<String> = list
                .split(',')
                .map(|id| id.trim().trim_matches('\'').to_owned())
                .filter(|id| !id.is_empty())
                .collect();
            if ids.len() > 650 {
                return Err(GraphError::bad_request(
                    "A presence subscription can contain at most 650 user ids.",
                ));
            }
            Ok(Watched::Presence(ids))
        }
        _ => Err(unsupported()),
    }
}

fn check_lifetime(
    watched: &Watched,
    expires_at: DateTime<Utc>,
    lifecycle_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), GraphError> {
    if expires_at <= now {
        return Err(GraphError::bad_request(
            "Subscription expiration must be in the future.",
        ));
    }
    let max = watched.max_lifetime();
    if expires_at > now + TimeDelta::minutes(max) {
        return Err(GraphError::bad_request(&format!(
            "Subscription expiration can only be {max} minutes in the future."
        )));
    }
    if watched.is_chat_messages()
        && lifecycle_url.is_none()
        && expires_at > now + TimeDelta::hours(1)
    {
        return Err(GraphError::bad_request(
            "lifecycleNotificationUrl is a required property for subscription creation on this resource when the expirationDateTime value is set to greater than 1 hour.",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateSubscription {
    change_type: Option<String>,
    notification_url: Option<String>,
    lifecycle_notification_url: Option<String>,
    resource: Option<String>,
    expiration_date_time: Option<DateTime<Utc>>,
    client_state: Option<String>,
    include_resource_data: Option<bool>,
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, GraphError> {
    value.ok_or_else(|| GraphError::bad_request(&format!("The '{name}' property is required.")))
}

pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Json(body): Json<CreateSubscription>,
) -> Result<Response, GraphError> {
    let change_type_text = required(body.change_type, "changeType")?;
    let change_types = parse_change_types(&change_type_text)?;
    let notification_url = required(body.notification_url, "notificationUrl")?;
    let resource = required(body.resource, "resource")?;
    let expires_at = required(body.expiration_date_time, "expirationDateTime")?;
    if body.include_resource_data == Some(true) {
        return Err(GraphError::bad_request(
            "includeResourceData requires encryptionCertificate; the emulator sends basic notifications only.",
        ));
    }
    if body
        .client_state
        .as_ref()
        .is_some_and(|c| c.chars().count() > 128)
    {
        return Err(GraphError::bad_request(
            "clientState must be at most 128 characters.",
        ));
    }
    let (caller_user, application_id) = match &caller.principal {
        Principal::User { user_id, client_id } => (Some(user_id.clone()), client_id.clone()),
        Principal::App { client_id } => (None, client_id.clone()),
    };
    let watched = parse_resource(&resource, caller_user.as_deref())?;
    if matches!(watched, Watched::Presence(_)) && caller_user.is_none() {
        return Err(GraphError::forbidden(
            "Presence subscriptions require delegated permissions.",
        ));
    }
    let now = shared.lock().now();
    check_lifetime(
        &watched,
        expires_at,
        body.lifecycle_notification_url.as_deref(),
        now,
    )?;

    let id = uuid::Uuid::new_v4().to_string();
    for url in std::iter::once(&notification_url).chain(body.lifecycle_notification_url.as_ref()) {
        validate_endpoint(&shared, &id, url).await?;
    }
    let subscription = Subscription {
        id: id.clone(),
        resource,
        watched,
        change_types,
        change_type_text,
        notification_url,
        lifecycle_url: body.lifecycle_notification_url,
        client_state: body.client_state,
        expires_at,
        creator_id: caller_user.unwrap_or_default(),
        application_id,
    };
    let json = subscription.to_json();
    shared.lock().subscriptions.insert(id, subscription);
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

/// The handshake: POST `url?validationToken=...`; the endpoint must echo the token, as text, with
/// 200, within the validation timeout (10 s, as Graph).
async fn validate_endpoint(
    shared: &Shared,
    subscription_id: &str,
    url: &str,
) -> Result<(), GraphError> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let separator = if url.contains('?') { '&' } else { '?' };
    let target = format!(
        "{url}{separator}validationToken={}",
        crate::model::url_escape(&token)
    );
    let attempt = shared
        .http
        .post(&target)
        .header("Content-Type", "text/plain; charset=utf-8")
        .timeout(shared.options.validation_timeout)
        .send()
        .await;
    let outcome = match attempt {
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if status.as_u16() == 200 && text == token {
                Ok(200)
            } else if status.as_u16() == 200 {
                Err("200 OK but the body was not the validation token".to_owned())
            } else {
                Err(format!("answered {status}"))
            }
        }
        Err(err) if err.is_timeout() => Err("no answer within the validation timeout".to_owned()),
        Err(err) => Err(format!("unreachable: {err}")),
    };
    // The clock is read first: `record` takes the lock itself.
    let at = shared.lock().now();
    shared.record(DeliveryRecord {
        subscription_id: subscription_id.to_owned(),
        url: url.to_owned(),
        kind: "validation".into(),
        attempt: 1,
        outcome: outcome.clone(),
        at,
    });
    outcome.map(|_| ()).map_err(|why| {
        GraphError::bad_request(&format!(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({why})"
        ))
    })
}

fn visible(shared: &Shared, id: &str) -> Result<Subscription, GraphError> {
    let mut tenant = shared.lock();
    tenant.drop_expired_subscriptions();
    tenant.subscriptions.get(id).cloned().ok_or_else(|| {
        GraphError::not_found(&format!("The object was not found. Subscription id {id}."))
    })
}

pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    Ok(Json(visible(&shared, &id)?.to_json()))
}

pub(crate) async fn list(State(shared): State<Arc<Shared>>, _caller: Caller) -> Json<Value> {
    let mut tenant = shared.lock();
    tenant.drop_expired_subscriptions();
    let value: Vec<Value> = tenant
        .subscriptions
        .values()
        .map(Subscription::to_json)
        .collect();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
        "value": value,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RenewSubscription {
    expiration_date_time: Option<DateTime<Utc>>,
}

pub(crate) async fn renew(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RenewSubscription>,
) -> Result<Json<Value>, GraphError> {
    let expires_at = required(body.expiration_date_time, "expirationDateTime")?;
    let current = visible(&shared, &id)?;
    let now = shared.lock().now();
    check_lifetime(
        &current.watched,
        expires_at,
        current.lifecycle_url.as_deref(),
        now,
    )?;
    let mut tenant = shared.lock();
    let subscription = tenant
        .subscriptions
        .get_mut(&id)
        .ok_or_else(|| GraphError::not_found("The object was not found."))?;
    subscription.expires_at = expires_at;
    Ok(Json(subscription.to_json()))
}

pub(crate) async fn reauthorize(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    visible(&shared, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    visible(&shared, &id)?;
    shared.lock().subscriptions.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Builds the lifecycle notification for `id`; `subscriptionRemoved` also removes it.
pub(crate) fn lifecycle(
    shared: &Shared,
    id: &str,
    event: LifecycleEvent,
) -> Result<Option<Outgoing>, String> {
    let mut tenant = shared.lock();
    let subscription = tenant
        .subscriptions
        .get(id)
        .cloned()
        .ok_or_else(|| format!("no subscription {id}"))?;
    if event == LifecycleEvent::SubscriptionRemoved {
        tenant.subscriptions.remove(id);
    }
    Ok(subscription.lifecycle_url.clone().map(|url| Outgoing {
        subscription_id: subscription.id.clone(),
        url,
        kind: "lifecycle",
        body: json!({
            "value": [{
                "subscriptionId": subscription.id,
                "subscriptionExpirationDateTime": graph_time(subscription.expires_at),
                "tenantId": tenant.tenant_id,
                "clientState": subscription.client_state,
                "lifecycleEvent": event.as_str(),
            }]
        }),
    }))
}

/// Delivers one notification: retried with backoff while the subscriber answers non-2xx or takes
/// longer than the delivery timeout (3 s, as Graph); change notifications stop once their
/// subscription is gone or expired.
pub(crate) async fn deliver(shared: Arc<Shared>, outgoing: Outgoing) {
    let delays = shared.options.retry_delays.clone();
    for attempt in 0..=delays.len() {
        if outgoing.kind == "change" {
            let mut tenant = shared.lock();
            tenant.drop_expired_subscriptions();
            if !tenant.subscriptions.contains_key(&outgoing.subscription_id) {
                return;
            }
        }
        let result = shared
            .http
            .post(&outgoing.url)
            .json(&outgoing.body)
            .timeout(shared.options.delivery_timeout)
            .send()
            .await;
        let outcome = match result {
            Ok(response) => Ok(response.status().as_u16()),
            Err(err) if err.is_timeout() => Err("no answer within the delivery timeout".to_owned()),
            Err(err) => Err(format!("unreachable: {err}")),
        };
        let delivered = matches!(outcome, Ok(status) if (200..300).contains(&status));
        let at = shared.lock().now();
        shared.record(DeliveryRecord {
            subscription_id: outgoing.subscription_id.clone(),
            url: outgoing.url.clone(),
            kind: outgoing.kind.to_owned(),
            attempt: u32::try_from(attempt + 1).unwrap_or(u32::MAX),
            outcome,
            at,
        });
        if delivered {
            return;
        }
        if let Some(delay) = delays.get(attempt) {
            tokio::time::sleep(*delay).await;
        }
    }
}

/// Graph's retry schedule, shortened: the real one goes on for up to four hours.
pub(crate) fn default_retry_delays() -> Vec<Duration> {
    [1, 2, 4, 8, 16, 32]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_the_bridges_use_are_understood() {
        assert_eq!(
            parse_resource("/chats/getAllMessages", None).ok(),
            Some(Watched::AllChatMessages)
        );
        assert_eq!(
            parse_resource("chats/getAllMessages?model=B", None).ok(),
            Some(Watched::AllChatMessages)
        );
        assert!(parse_resource("/chats/getAllMessages?model=C", None).is_err());
        assert_eq!(
            parse_resource("/chats/19:abc@thread.v2/messages", None).ok(),
            Some(Watched::ChatMessages("19:abc@thread.v2".into()))
        );
        assert_eq!(
            parse_resource("chats('19:abc@thread.v2')/messages", None).ok(),
            Some(Watched::ChatMessages("19:abc@thread.v2".into()))
        );
        assert_eq!(
            parse_resource("/users/u1/chats/getAllMessages", None).ok(),
            Some(Watched::UserChatMessages("u1".into()))
        );
        assert_eq!(
            parse_resource("/communications/presences?$filter=id in ('a','b')", None).ok(),
            Some(Watched::Presence(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parse_resource("/me/events", Some("u9")).ok(),
            Some(Watched::Events("u9".into()))
        );
        assert!(parse_resource("/me/mailFolders('Inbox')/messages", None).is_err());
    }

    #[test]
    fn lifetimes_follow_graph() {
        let now = Utc::now();
        let chats = Watched::AllChatMessages;
        assert!(check_lifetime(&chats, now + TimeDelta::minutes(59), None, now).is_ok());
        assert!(
            check_lifetime(&chats, now + TimeDelta::minutes(61), None, now).is_err(),
            "needs lifecycle URL"
        );
        assert!(
            check_lifetime(
                &chats,
                now + TimeDelta::minutes(4320),
                Some("https://x"),
                now
            )
            .is_ok()
        );
        assert!(
            check_lifetime(
                &chats,
                now + TimeDelta::minutes(4321),
                Some("https://x"),
                now
            )
            .is_err()
        );
        let presence = Watched::Presence(vec!["a".into()]);
        assert!(
            check_lifetime(
                &presence,
                now + TimeDelta::minutes(61),
                Some("https://x"),
                now
            )
            .is_err()
        );
        assert!(check_lifetime(&chats, now - TimeDelta::seconds(1), None, now).is_err());
    }
}
