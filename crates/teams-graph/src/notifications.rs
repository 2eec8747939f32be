//! What Microsoft Graph POSTs to our webhooks, parsed without any I/O: change notifications
//! (`notificationUrl`), lifecycle notifications (`lifecycleNotificationUrl`) and the validation
//! handshake. The webhook answers Graph within its 3-second limit by only parsing and storing;
//! fetching the message and deciding who to tell happen later, from the stored text
//! ([`RawNotification::raw`], read back with [`ChangeNotification::from_stored`]).
//!
//! Graph sends *basic* notifications here (`includeResourceData: false`): the item names the
//! changed resource, and the receiver GETs it. Rich (encrypted) notifications are not decrypted;
//! their `encryptedContent` is kept in the raw text and otherwise ignored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::de::{lenient_time, null_as_empty, percent_decode, unquote};

/// One item of a notification collection: a change to a subscribed resource, or (with
/// [`lifecycle_event`](Self::lifecycle_event) set) a lifecycle event of the subscription itself.
///
/// Unknown properties (`organizationId`, `encryptedContent`, Outlook's `id`, ...) are ignored here
/// and kept in [`RawNotification::raw`]. `Debug` never shows the client state: it is the shared
/// secret that proves a notification comes from our subscription.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotification {
    pub subscription_id: String,
    /// The subscription's `clientState`, echoed by Graph: compare it with ours (see
    /// [`client_state_matches`](Self::client_state_matches)) before trusting anything else.
    #[serde(default)]
    pub client_state: Option<String>,
    /// `created`, `updated` or `deleted`; empty on lifecycle notifications, which have none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub change_type: String,
    /// The changed resource, relative to the Graph version root, such as
    /// `chats('19:…@thread.v2')/messages('1616990032035')`; empty on lifecycle notifications.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub resource: String,
    #[serde(default)]
    pub resource_data: Option<ResourceData>,
    /// When the subscription expires, as Graph knows it: a hint to renew early.
    #[serde(default, deserialize_with = "lenient_time")]
    pub subscription_expiration_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Set on lifecycle notifications only.
    #[serde(default)]
    pub lifecycle_event: Option<LifecycleEvent>,
}

impl std::fmt::Debug for ChangeNotification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeNotification")
            .field("subscription_id", &self.subscription_id)
            .field(
                "client_state",
                &self.client_state.as_ref().map(|_| "<redacted>"),
            )
            .field("change_type", &self.change_type)
            .field("resource", &self.resource)
            .field("resource_data", &self.resource_data)
            .field(
                "subscription_expiration_date_time",
                &self.subscription_expiration_date_time,
            )
            .field("tenant_id", &self.tenant_id)
            .field("lifecycle_event", &self.lifecycle_event)
            .finish()
    }
}

/// `resourceData` of a basic notification: what changed, by id and OData type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceData {
    #[serde(default)]
    pub id: Option<String>,
    /// `#Microsoft.Graph.chatMessage`, `#microsoft.graph.presence`, ... (casing varies).
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    /// The resource's path, fetchable relative to the Graph version root.
    #[serde(rename = "@odata.id", default)]
    pub odata_id: Option<String>,
    #[serde(rename = "@odata.etag", default)]
    pub odata_etag: Option<String>,
}

/// A lifecycle event Graph sends to `lifecycleNotificationUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleEvent {
    /// Graph removed the subscription (Teams chat messages, Outlook): create a new one and catch
    /// up on what was missed.
    SubscriptionRemoved,
    /// The subscription's authorization runs out soon: reauthorize or renew it.
    ReauthorizationRequired,
    /// Notifications were dropped (Outlook): resynchronise.
    Missed,
    /// A value this crate does not know yet, kept as sent.
    Other(String),
}

impl LifecycleEvent {
    /// The value as Graph writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::SubscriptionRemoved => "subscriptionRemoved",
            Self::ReauthorizationRequired => "reauthorizationRequired",
            Self::Missed => "missed",
            Self::Other(other) => other,
        }
    }
}

impl From<&str> for LifecycleEvent {
    fn from(value: &str) -> Self {
        match value {
            "subscriptionRemoved" => Self::SubscriptionRemoved,
            "reauthorizationRequired" => Self::ReauthorizationRequired,
            "missed" => Self::Missed,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl<'de> Deserialize<'de> for LifecycleEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from(String::deserialize(deserializer)?.as_str()))
    }
}

/// A notification item as received: parsed, and its own JSON text to store durably (compact,
/// every property kept, unknown ones included). `Debug` shows the parsed item only: the raw
/// text holds the client state.
#[derive(Clone, PartialEq, Eq)]
pub struct RawNotification {
    pub item: ChangeNotification,
    pub raw: String,
}

impl std::fmt::Debug for RawNotification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawNotification")
            .field("item", &self.item)
            .field("raw", &format_args!("<{} bytes>", self.raw.len()))
            .finish()
    }
}

/// An item of a batch that is not a notification. The rest of the batch is still good: one bad
/// item must not make Graph redeliver (or us drop) the others.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification item {index}: {reason}")]
pub struct ItemError {
    /// The item's position in `value`.
    pub index: usize,
    pub reason: String,
    /// The item's JSON text, for a dead-letter log. Not shown by `Debug` (it may hold the client
    /// state).
    pub raw: String,
}

impl std::fmt::Debug for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemError")
            .field("index", &self.index)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// A body that is not a notification collection at all: answer 400, there is nothing to keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationParseError {
    #[error("the body is not JSON: {0}")]
    Json(String),
    #[error("the body is not a notification collection: {0}")]
    Shape(&'static str),
}

/// Why a single stored or received item is not a notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a change notification: {0}")]
pub struct NotificationError(pub String);

/// Parses the body Graph POSTs to a notification or lifecycle URL:
/// `{"value": [ {…}, … ], "validationTokens": [ … ]}`. The outer error is for a body that is not
/// such a collection; each item is then parsed on its own, so one malformed item is reported
/// (as `Err`) without rejecting the others.
pub fn parse_notification_batch(
    body: &[u8],
) -> Result<Vec<Result<RawNotification, ItemError>>, NotificationParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| NotificationParseError::Json(e.to_string()))?;
    let Value::Object(mut collection) = value else {
        return Err(NotificationParseError::Shape("not a JSON object"));
    };
    let Some(Value::Array(items)) = collection.remove("value") else {
        return Err(NotificationParseError::Shape("no `value` array"));
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let raw = item.to_string();
            match ChangeNotification::from_value(item) {
                Ok(item) => Ok(RawNotification { item, raw }),
                Err(NotificationError(reason)) => Err(ItemError { index, reason, raw }),
            }
        })
        .collect())
}

/// The validation handshake: the decoded `validationToken` query parameter, which the webhook
/// must echo back as `text/plain` with 200 within 10 seconds. `query` is the request's query
/// string, with or without its `?`. `None` for an ordinary notification.
pub fn validation_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .find(|(name, _)| name == "validationToken")
        .map(|(_, token)| token.into_owned())
}

impl ChangeNotification {
    /// Reads back an item stored as [`RawNotification::raw`].
    pub fn from_stored(raw: &str) -> Result<Self, NotificationError> {
        let value: Value =
            serde_json::from_str(raw).map_err(|e| NotificationError(e.to_string()))?;
        Self::from_value(value)
    }

    /// An item with what every notification has: a subscription id, and either a change
    /// (`changeType` and `resource`) or a lifecycle event.
    fn from_value(value: Value) -> Result<Self, NotificationError> {
        if !value.is_object() {
            return Err(NotificationError("not a JSON object".into()));
        }
        let item: Self =
            serde_json::from_value(value).map_err(|e| NotificationError(e.to_string()))?;
        if item.subscription_id.trim().is_empty() {
            return Err(NotificationError("empty subscriptionId".into()));
        }
        if item.lifecycle_event.is_none()
            && (item.change_type.is_empty() || item.resource.is_empty())
        {
            return Err(NotificationError(
                "neither a change (changeType, resource) nor a lifecycleEvent".into(),
            ));
        }
        Ok(item)
    }

    /// Whether the echoed client state is `expected`, compared in constant time (no timing hint
    /// about the secret to whoever posts to the public webhook).
    pub fn client_state_matches(&self, expected: &str) -> bool {
        let Some(actual) = self.client_state.as_deref() else {
            return false;
        };
        let (a, b) = (actual.as_bytes(), expected.as_bytes());
        let mut difference = u8::from(a.len() != b.len());
        for (x, y) in a.iter().zip(b.iter()) {
            difference |= x ^ y;
        }
        difference == 0
    }

    /// The chat id and message id of a chat-message notification, from `resource` (or
    /// `resourceData.@odata.id` when `resource` is empty), in any form Graph writes it:
    /// `chats('19:…@thread.v2')/messages('1616990032035')`, `chats/19:…/messages/1616990032035`,
    /// with or without a leading `/`, a `users('…')/` prefix, or percent-encoding. Channel posts
    /// (`teams(…)/channels(…)/messages(…)`, replies) and anything else give `None`: only chat
    /// messages are relayed.
    pub fn chat_message_ids(&self) -> Option<(String, String)> {
        let resource = if self.resource.is_empty() {
            self.resource_data.as_ref()?.odata_id.as_deref()?
        } else {
            &self.resource
        };
        chat_message_ids(resource)
    }
}

/// See [`ChangeNotification::chat_message_ids`].
fn chat_message_ids(resource: &str) -> Option<(String, String)> {
    let decoded = percent_decode(resource)?;
    let path = decoded.split(['?', '#']).next().unwrap_or_default();
    // (collection, key) pairs: `name('key')`, `name(key)` and `name/key` all give one each.
    let mut parts: Vec<(&str, Option<String>)> = Vec::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if let Some(open) = segment.find('(') {
            let inner = segment[open + 1..].strip_suffix(')')?;
            parts.push((&segment[..open], Some(unquote(inner))));
        } else if let Some((_, key @ None)) = parts.last_mut() {
            *key = Some(segment.to_owned());
        } else {
            parts.push((segment, None));
        }
    }
    let is = |part: &(&str, Option<String>), name: &str| part.0.eq_ignore_ascii_case(name);
    match parts.as_slice() {
        [chat, message] | [(_, Some(_)), chat, message]
            if is(chat, "chats")
                && is(message, "messages")
                && (parts.len() == 2 || is(&parts[0], "users")) =>
        {
            let chat_id = chat.1.clone().filter(|id| !id.is_empty())?;
            let message_id = message.1.clone().filter(|id| !id.is_empty())?;
            Some((chat_id, message_id))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A basic chat-message notification as the Teams change-notification docs print it (the
    /// rich sample's envelope, without `encryptedContent`).
    const CHAT_MESSAGE: &str = r##"{
        "value": [{
            "subscriptionId": "10493aa0-4d29-4df5-bc0c-ef742cc6cd7f",
            "changeType": "created",
            "clientState": "<<--SpecifiedClientState-->>",
            "subscriptionExpirationDateTime": "2021-02-02T10:30:34.9097561-08:00",
            "resource": "chats('19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_97f62344-57dc-409c-88ad-c4af14158ff5@unq.gbl.spaces')/messages('1612289765949')",
            "resourceData": {
                "id": "1612289765949",
                "@odata.type": "#Microsoft.Graph.chatMessage",
                "@odata.id": "chats('19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_97f62344-57dc-409c-88ad-c4af14158ff5@unq.gbl.spaces')/messages('1612289765949')"
            },
            "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"
        }],
        "validationTokens": ["eyJ0eXAiOiJKV1QiLCJhbGciOiJSU..."]
    }"##;

    /// A basic channel-message notification, as documented.
    const CHANNEL_MESSAGE: &str = r##"{
        "subscriptionId": "9f9d1ed0-c9cc-42e7-8d80-a7fc4b0cda3c",
        "changeType": "created",
        "tenantId": "<<--TenantForWhichNotificationWasSent-->>",
        "clientState": "<<--SpecifiedClientState-->>",
        "subscriptionExpirationDateTime": "2021-02-02T11:26:41.0537895-08:00",
        "resource": "teams('fbe2bf47-16c8-47cf-b4a5-4b9b187c508b')/channels('19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2')/messages('1612293113399')",
        "resourceData": {
            "id": "1612293113399",
            "@odata.type": "#Microsoft.Graph.chatMessage",
            "@odata.id": "teams('fbe2bf47-16c8-47cf-b4a5-4b9b187c508b')/channels('19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2')/messages('1612293113399')"
        }
    }"##;

    /// A lifecycle notification, as documented.
    const LIFECYCLE: &str = r##"{
        "value": [{
            "subscriptionId": "<subscription_guid>",
            "subscriptionExpirationDateTime": "2019-03-20T11:00:00.0000000Z",
            "tenantId": "<tenant_guid>",
            "clientState": "<secretClientState>",
            "lifecycleEvent": "reauthorizationRequired"
        }]
    }"##;

    /// A presence notification as documented (less its trailing comma), with `organizationId`.
    const PRESENCE: &str = r##"{
        "value": [{
            "subscriptionId": "{Subscription id}",
            "clientState": "{secret client state}",
            "changeType": "updated",
            "tenantId": "{Organization/Tenant id}",
            "resource": "communications/presences/{id}",
            "subscriptionExpirationDateTime": "2023-09-14T10:00:00.0000000Z",
            "resourceData": {
                "@odata.id": "users/{User Id}/presence",
                "@odata.type": "#microsoft.graph.presence",
                "id": "{User Id}"
            },
            "organizationId": "{Organization/Tenant id}"
        }]
    }"##;

    fn only(body: &str) -> RawNotification {
        let mut batch = parse_notification_batch(body.as_bytes()).expect("a batch");
        assert_eq!(batch.len(), 1);
        batch.remove(0).expect("a notification")
    }

    #[test]
    fn a_chat_message_notification_is_read_and_kept_whole() {
        let raw = only(CHAT_MESSAGE);
        let n = &raw.item;
        assert_eq!(n.subscription_id, "10493aa0-4d29-4df5-bc0c-ef742cc6cd7f");
        assert_eq!(n.change_type, "created");
        assert_eq!(
            n.client_state.as_deref(),
            Some("<<--SpecifiedClientState-->>")
        );
        assert_eq!(
            n.tenant_id.as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(
            n.subscription_expiration_date_time.map(|t| t.to_rfc3339()),
            Some("2021-02-02T18:30:34.909756100+00:00".to_owned())
        );
        assert_eq!(n.lifecycle_event, None);
        let data = n.resource_data.as_ref().expect("resourceData");
        assert_eq!(data.id.as_deref(), Some("1612289765949"));
        assert_eq!(
            data.odata_type.as_deref(),
            Some("#Microsoft.Graph.chatMessage")
        );
        assert_eq!(data.odata_id.as_deref(), Some(n.resource.as_str()));
        assert_eq!(
            n.chat_message_ids(),
            Some((
                "19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_97f62344-57dc-409c-88ad-c4af14158ff5@unq.gbl.spaces".to_owned(),
                "1612289765949".to_owned()
            ))
        );

        // The raw text is the item alone, compact, and reads back to the same notification.
        assert!(!raw.raw.contains('\n') && !raw.raw.contains("validationTokens"));
        assert!(raw.raw.starts_with('{'), "{}", raw.raw);
        assert_eq!(ChangeNotification::from_stored(&raw.raw), Ok(n.clone()));
    }

    #[test]
    fn debug_never_shows_the_client_state() {
        let raw = only(CHAT_MESSAGE);
        for text in [format!("{raw:?}"), format!("{:?}", raw.item)] {
            assert!(!text.contains("SpecifiedClientState"), "{text}");
            assert!(text.contains("10493aa0"), "{text}");
        }
        let bad = parse_notification_batch(br#"{"value":[{"clientState":"hush"}]}"#)
            .expect("a batch")
            .remove(0)
            .expect_err("no subscription id");
        assert!(!format!("{bad:?}").contains("hush"));
        assert!(bad.raw.contains("hush"), "kept for a dead-letter log");
    }

    #[test]
    fn client_states_are_compared_exactly() {
        let n = only(CHAT_MESSAGE).item;
        assert!(n.client_state_matches("<<--SpecifiedClientState-->>"));
        assert!(!n.client_state_matches("<<--SpecifiedClientState-->"));
        assert!(!n.client_state_matches(""));
        let none = ChangeNotification {
            client_state: None,
            ..n
        };
        assert!(!none.client_state_matches(""));
    }

    #[test]
    fn channel_posts_and_replies_are_not_chat_messages() {
        let channel = ChangeNotification::from_stored(CHANNEL_MESSAGE).expect("notification");
        assert_eq!(channel.change_type, "created");
        assert_eq!(channel.chat_message_ids(), None);
        for resource in [
            "teams('d29828b8')/channels('19:f127a8c55ad949d1a238464d22f0f99e@thread.skype')/messages('1565045424600')/replies('1565047490246')",
            "/teams/fbe2bf47/channels/19:4a95@thread.tacv2/messages/1612293113399",
            "chats('19:abc@thread.v2')/messages",
            "chats('19:abc@thread.v2')",
            "chats/getAllMessages",
            "chats('')/messages('1')",
            "chats('19:abc@thread.v2')/messages('1')/hostedContents('x')",
            "communications/presences/{id}",
            "users/u1/messages/AAMk",
            "",
        ] {
            assert_eq!(chat_message_ids(resource), None, "{resource}");
        }
    }

    #[test]
    fn every_chat_message_resource_form_is_understood() {
        let ids = |chat: &str, message: &str| Some((chat.to_owned(), message.to_owned()));
        let expected = ids("19:abc@thread.v2", "1616990032035");
        for resource in [
            "chats('19:abc@thread.v2')/messages('1616990032035')",
            "/chats('19:abc@thread.v2')/messages('1616990032035')",
            "chats/19:abc@thread.v2/messages/1616990032035",
            "/chats/19:abc@thread.v2/messages/1616990032035",
            "Chats('19:abc@thread.v2')/Messages('1616990032035')",
            "chats('19%3Aabc%40thread.v2')/messages('1616990032035')",
            "chats(%2719%3Aabc%40thread.v2%27)/messages(%271616990032035%27)",
            "chats/19%3Aabc%40thread.v2/messages/1616990032035",
            "chats(19:abc@thread.v2)/messages(1616990032035)",
            "users('8ea0e38b')/chats('19:abc@thread.v2')/messages('1616990032035')",
            "chats('19:abc@thread.v2')/messages('1616990032035')?$expand=replies",
        ] {
            assert_eq!(chat_message_ids(resource), expected, "{resource}");
        }
        assert_eq!(
            chat_message_ids(
                "chats('19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_97f62344-57dc-409c-88ad-c4af14158ff5@unq.gbl.spaces')/messages('1612289765949')"
            ),
            ids(
                "19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_97f62344-57dc-409c-88ad-c4af14158ff5@unq.gbl.spaces",
                "1612289765949"
            )
        );
    }

    #[test]
    fn the_odata_id_stands_in_for_a_missing_resource() {
        let mut n = only(CHAT_MESSAGE).item;
        n.resource.clear();
        assert_eq!(
            n.chat_message_ids().map(|(_, m)| m),
            Some("1612289765949".to_owned())
        );
        n.resource_data = None;
        assert_eq!(n.chat_message_ids(), None);
    }

    #[test]
    fn lifecycle_events_are_read_known_or_not() {
        let n = only(LIFECYCLE).item;
        assert_eq!(
            n.lifecycle_event,
            Some(LifecycleEvent::ReauthorizationRequired)
        );
        assert_eq!(n.change_type, "");
        assert_eq!(n.resource, "");
        assert_eq!(n.chat_message_ids(), None);
        assert_eq!(
            n.subscription_expiration_date_time.map(|t| t.to_rfc3339()),
            Some("2019-03-20T11:00:00+00:00".to_owned())
        );
        for (text, event) in [
            ("subscriptionRemoved", LifecycleEvent::SubscriptionRemoved),
            ("missed", LifecycleEvent::Missed),
            ("somethingNew", LifecycleEvent::Other("somethingNew".into())),
        ] {
            let body = LIFECYCLE.replace("reauthorizationRequired", text);
            let n = only(&body).item;
            assert_eq!(n.lifecycle_event.as_ref(), Some(&event));
            assert_eq!(event.as_str(), text);
        }
    }

    #[test]
    fn presence_notifications_with_extra_fields_are_read() {
        let n = only(PRESENCE).item;
        assert_eq!(n.change_type, "updated");
        assert_eq!(n.resource, "communications/presences/{id}");
        assert_eq!(
            n.resource_data.clone().and_then(|d| d.odata_id),
            Some("users/{User Id}/presence".to_owned())
        );
        assert_eq!(n.chat_message_ids(), None);
    }

    #[test]
    fn a_bad_item_does_not_reject_its_batch() {
        let body = format!(
            r#"{{"value": [
                {CHANNEL_MESSAGE},
                {{"changeType": "created", "resource": "chats('a')/messages('1')"}},
                42,
                {{"subscriptionId": "s", "clientState": null}},
                {{"subscriptionId": "s2", "changeType": "deleted", "resource": "chats/a/messages/2",
                  "subscriptionExpirationDateTime": "not a date", "resourceData": null}}
            ]}}"#
        );
        let batch = parse_notification_batch(body.as_bytes()).expect("a batch");
        assert_eq!(batch.len(), 5);
        assert!(batch[0].is_ok());
        let errors: Vec<usize> = batch
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.index))
            .collect();
        assert_eq!(errors, [1, 2, 3]);
        let reason = |i: usize| batch[i].as_ref().expect_err("bad").reason.clone();
        assert!(reason(1).contains("subscriptionId"), "{}", reason(1));
        assert!(reason(3).contains("lifecycleEvent"), "{}", reason(3));
        let last = &batch[4].as_ref().expect("lenient about the date").item;
        assert_eq!(last.subscription_expiration_date_time, None);
        assert_eq!(
            last.chat_message_ids(),
            Some(("a".to_owned(), "2".to_owned()))
        );
    }

    #[test]
    fn bodies_that_are_not_collections_are_refused() {
        for body in [
            &b""[..],
            b"not json",
            b"[]",
            b"{}",
            br#"{"value": {}}"#,
            br#"{"value": null}"#,
            b"\"value\"",
        ] {
            assert!(
                parse_notification_batch(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            parse_notification_batch(br#"{"value": []}"#),
            Ok(Vec::new())
        );
        assert!(ChangeNotification::from_stored("[1]").is_err());
        assert!(ChangeNotification::from_stored("{").is_err());
    }

    #[test]
    fn the_validation_token_is_decoded() {
        let token = "Validation: Testing client application reachability for subscription Request-Id: 8f7d4e2a-1c9b";
        let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        assert_eq!(
            validation_token(&format!("validationToken={encoded}")).as_deref(),
            Some(token)
        );
        assert_eq!(
            validation_token("?tenant=1&validationToken=Validation%3A%20Testing%20%3Cb%3E&x=2")
                .as_deref(),
            Some("Validation: Testing <b>")
        );
        assert_eq!(validation_token(""), None);
        assert_eq!(validation_token("validationtoken=x&token=y"), None);
    }
}
