//! Change-notification subscriptions (`/subscriptions`): how the bridge asks Graph to POST chat
//! message changes to its webhook, and keeps that request alive. Chat-message subscriptions live
//! at most 3 days (more than 1 hour needs a `lifecycleNotificationUrl`), so they are renewed
//! rather than created once.

use chrono::{DateTime, SecondsFormat, Utc};
use graph_rs_sdk::http::Method;
use serde::Deserialize;
use serde_json::json;

use crate::de::null_as_empty;
use crate::graph::{GraphClient, GraphError};

/// What to subscribe to. `Debug` does not show the client state.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct NewSubscription {
    /// Comma-separated `created`, `updated`, `deleted` (presence: `updated` only).
    pub change_type: String,
    /// The HTTPS webhook; Graph validates it (see [`crate::notifications::validation_token`])
    /// before answering.
    pub notification_url: String,
    /// Where lifecycle events go; required by Graph for Teams resources living over 1 hour.
    /// It cannot be added later: a subscription without one must be recreated.
    pub lifecycle_notification_url: Option<String>,
    /// The path without the base URL: `/chats/getAllMessages`, `/chats/{id}/messages`,
    /// `/users/{id}/chats/getAllMessages`, ...
    pub resource: String,
    /// At most the resource's maximum lifetime from now (chat messages: 4,320 minutes).
    pub expiration: DateTime<Utc>,
    /// Up to 128 characters echoed in every notification: the proof a POST comes from this
    /// subscription. Keep it secret.
    pub client_state: String,
    /// Rich notifications; Graph then requires an encryption certificate, which this crate does
    /// not send, so the bridge uses basic notifications (`false`).
    pub include_resource_data: bool,
    /// The billing model of metered resources (`/chats/getAllMessages`, `/users/{id}/chats/
    /// getAllMessages`): `A` or `B`, added to the resource as `?model=…`, which is where Graph
    /// reads it. `None` is evaluation mode (a small monthly quota, then no notifications).
    /// Ignored when `resource` already has a `model=` parameter.
    pub model: Option<String>,
}

impl std::fmt::Debug for NewSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSubscription")
            .field("change_type", &self.change_type)
            .field("notification_url", &self.notification_url)
            .field(
                "lifecycle_notification_url",
                &self.lifecycle_notification_url,
            )
            .field("resource", &self.resource)
            .field("expiration", &self.expiration)
            .field("client_state", &"<redacted>")
            .field("include_resource_data", &self.include_resource_data)
            .field("model", &self.model)
            .finish()
    }
}

impl NewSubscription {
    /// The resource as sent: with `?model=…` (or `&model=…`) when a model is set.
    pub fn resource_with_model(&self) -> String {
        match self.model.as_deref().map(str::trim) {
            Some(model) if !model.is_empty() && !has_model(&self.resource) => {
                let separator = if self.resource.contains('?') {
                    '&'
                } else {
                    '?'
                };
                format!("{}{separator}model={model}", self.resource)
            }
            _ => self.resource.clone(),
        }
    }

    fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "changeType": self.change_type,
            "notificationUrl": self.notification_url,
            "resource": self.resource_with_model(),
            "expirationDateTime": graph_time(self.expiration),
            "clientState": self.client_state,
            "includeResourceData": self.include_resource_data,
        });
        if let Some(url) = &self.lifecycle_notification_url {
            body["lifecycleNotificationUrl"] = json!(url);
        }
        body
    }
}

fn has_model(resource: &str) -> bool {
    resource
        .split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|kv| kv.starts_with("model=")))
}

/// Graph's timestamp form: UTC, milliseconds, `Z`.
pub(crate) fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A subscription as Graph returns it. `Debug` does not show the client state.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    /// As created, `?model=` included.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub resource: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub change_type: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub notification_url: String,
    #[serde(default)]
    pub lifecycle_notification_url: Option<String>,
    pub expiration_date_time: DateTime<Utc>,
    #[serde(default)]
    pub client_state: Option<String>,
    /// The app that created it.
    #[serde(default)]
    pub application_id: Option<String>,
    /// The user who created it (empty or absent for application tokens).
    #[serde(default)]
    pub creator_id: Option<String>,
    #[serde(default)]
    pub include_resource_data: Option<bool>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("resource", &self.resource)
            .field("change_type", &self.change_type)
            .field("notification_url", &self.notification_url)
            .field(
                "lifecycle_notification_url",
                &self.lifecycle_notification_url,
            )
            .field("expiration_date_time", &self.expiration_date_time)
            .field(
                "client_state",
                &self.client_state.as_ref().map(|_| "<redacted>"),
            )
            .field("application_id", &self.application_id)
            .field("creator_id", &self.creator_id)
            .field("include_resource_data", &self.include_resource_data)
            .finish()
    }
}

impl GraphClient {
    /// Creates a subscription (`POST /subscriptions`). Graph first runs the validation handshake
    /// against both URLs and answers 400 (`GraphError::Api`) when either fails, when the lifetime
    /// is too long, or when a lifecycle URL is missing for over an hour.
    pub async fn create_subscription(
        &self,
        new: &NewSubscription,
    ) -> Result<Subscription, GraphError> {
        let url = self.url(&["subscriptions"], &[]);
        self.send(
            "create_subscription",
            Method::POST,
            url,
            Some(&new.body()),
            &[],
        )
        .await?
        .json()
    }

    /// Extends a subscription to `expiration` (`PATCH /subscriptions/{id}`), which also
    /// reauthorizes it. `NotFound` when Graph no longer has it: create a new one.
    pub async fn renew_subscription(
        &self,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> Result<Subscription, GraphError> {
        let url = self.url(&["subscriptions", id], &[]);
        let body = json!({ "expirationDateTime": graph_time(expiration) });
        self.send("renew_subscription", Method::PATCH, url, Some(&body), &[])
            .await?
            .json()
    }

    /// Deletes a subscription (`DELETE /subscriptions/{id}`): `true` when deleted, `false` when
    /// Graph had no such subscription (already gone counts as done).
    pub async fn delete_subscription(&self, id: &str) -> Result<bool, GraphError> {
        let url = self.url(&["subscriptions", id], &[]);
        let answer = self
            .send("delete_subscription", Method::DELETE, url, None, &[])
            .await?;
        match answer.success() {
            Ok(()) => Ok(true),
            Err(GraphError::NotFound) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The subscriptions this app (application token) or user (delegated) has, every page.
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, GraphError> {
        let url = self.url(&["subscriptions"], &[]);
        self.get_all("list_subscriptions", url, &[]).await
    }

    /// Answers a `reauthorizationRequired` lifecycle event without extending the subscription
    /// (`POST /subscriptions/{id}/reauthorize`).
    pub async fn reauthorize_subscription(&self, id: &str) -> Result<(), GraphError> {
        let url = self.url(&["subscriptions", id, "reauthorize"], &[]);
        self.send("reauthorize_subscription", Method::POST, url, None, &[])
            .await?
            .success()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn new(resource: &str, model: Option<&str>) -> NewSubscription {
        NewSubscription {
            change_type: "created,updated,deleted".into(),
            notification_url: "https://bridge.example.com/graph/notifications".into(),
            lifecycle_notification_url: Some("https://bridge.example.com/graph/lifecycle".into()),
            resource: resource.into(),
            expiration: Utc
                .with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
                .single()
                .expect("time"),
            client_state: "s3cret".into(),
            include_resource_data: false,
            model: model.map(str::to_owned),
        }
    }

    #[test]
    fn the_billing_model_goes_into_the_resource() {
        assert_eq!(
            new("/chats/getAllMessages", Some("B")).resource_with_model(),
            "/chats/getAllMessages?model=B"
        );
        assert_eq!(
            new("/chats/getAllMessages?$filter=x", Some("A")).resource_with_model(),
            "/chats/getAllMessages?$filter=x&model=A"
        );
        assert_eq!(
            new("/chats/getAllMessages?model=A", Some("B")).resource_with_model(),
            "/chats/getAllMessages?model=A"
        );
        assert_eq!(
            new("/chats/getAllMessages", None).resource_with_model(),
            "/chats/getAllMessages"
        );
        assert_eq!(
            new("/chats/getAllMessages", Some(" ")).resource_with_model(),
            "/chats/getAllMessages"
        );
    }

    #[test]
    fn the_request_body_has_graphs_names() {
        let body = new("/users/u1/chats/getAllMessages", Some("B")).body();
        assert_eq!(
            body,
            json!({
                "changeType": "created,updated,deleted",
                "notificationUrl": "https://bridge.example.com/graph/notifications",
                "lifecycleNotificationUrl": "https://bridge.example.com/graph/lifecycle",
                "resource": "/users/u1/chats/getAllMessages?model=B",
                "expirationDateTime": "2025-03-01T09:00:00.000Z",
                "clientState": "s3cret",
                "includeResourceData": false,
            })
        );
        let without = NewSubscription {
            lifecycle_notification_url: None,
            ..new("/chats/a/messages", None)
        };
        assert!(without.body().get("lifecycleNotificationUrl").is_none());
        assert!(!format!("{without:?}").contains("s3cret"));
    }

    #[test]
    fn graphs_subscription_answer_is_read() {
        // The documented Outlook answer: every property, nulls included, 7-digit fractions.
        let s: Subscription = serde_json::from_str(
            r#"{
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
                "id": "5522bd62-7c96-4530-85b0-00b916f6151a",
                "resource": "users/622eaaff-0683-4862-9de4-f2ec83c2bd98/messages",
                "applicationId": "507c3b9a-67b8-463d-88a2-15a8cefb2111",
                "changeType": "created",
                "clientState": "secretClientState",
                "notificationUrl": "https://webhook.azurewebsites.net/api/send/myNotifyClient",
                "notificationQueryOptions": null,
                "notificationContentType": null,
                "lifecycleNotificationUrl": null,
                "expirationDateTime": "2022-01-01T21:42:18.2257768Z",
                "creatorId": "a4c7bd34-4f3b-46b7-a25d-b63c1e2a2842",
                "includeResourceData": null,
                "latestSupportedTlsVersion": "v1_2",
                "encryptionCertificate": null,
                "encryptionCertificateId": null,
                "notificationUrlAppId": null
            }"#,
        )
        .expect("subscription");
        assert_eq!(s.id, "5522bd62-7c96-4530-85b0-00b916f6151a");
        assert_eq!(s.change_type, "created");
        assert_eq!(s.lifecycle_notification_url, None);
        assert_eq!(s.include_resource_data, None);
        assert_eq!(
            s.expiration_date_time.timestamp_millis(),
            Utc.with_ymd_and_hms(2022, 1, 1, 21, 42, 18)
                .single()
                .expect("time")
                .timestamp_millis()
                + 225
        );
        assert!(!format!("{s:?}").contains("secretClientState"));
    }
}
