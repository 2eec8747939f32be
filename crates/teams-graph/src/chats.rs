//! Teams chats and their messages: what a notification names is fetched here, with the chat's
//! members to know who to tell, and missed messages are caught up by listing.
//!
//! The models are the crate's own and forgiving (`#[serde(default)]` throughout): Graph omits or
//! nulls many properties, and its enums grow.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use graph_rs_sdk::http::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::de::{lenient_time, null_as_default, null_as_empty};
use crate::graph::{GraphClient, GraphError};
use crate::subscriptions::graph_time;

/// Most messages Graph lists per page (`$top`).
pub const MAX_MESSAGES_PAGE: u16 = 50;

/// Without it Graph reports system events (members added, chat renamed) as
/// `unknownFutureValue`; with it they read `systemEventMessage`, which the bridge can skip by name.
fn prefer_unknown_enums() -> [(HeaderName, HeaderValue); 1] {
    [(
        HeaderName::from_static("prefer"),
        HeaderValue::from_static("include-unknown-enum-members"),
    )]
}

/// A chat message (`chatMessage`), read from `/chats/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// Unique within its chat only.
    pub id: String,
    /// Filled from the request when Graph leaves it out.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub chat_id: String,
    /// Set on channel replies; chats have none.
    #[serde(default)]
    pub reply_to_id: Option<String>,
    /// Changes with every change, reactions included.
    #[serde(default)]
    pub etag: Option<String>,
    /// `message`, `systemEventMessage`, `chatEvent`, `typing`, `unknownFutureValue`, ...
    #[serde(default, deserialize_with = "null_as_empty")]
    pub message_type: String,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_date_time: Option<DateTime<Utc>>,
    /// Moves on any change, reactions included.
    #[serde(default, deserialize_with = "lenient_time")]
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// Moves on edits of the text only.
    #[serde(default, deserialize_with = "lenient_time")]
    pub last_edited_date_time: Option<DateTime<Utc>>,
    /// Set once soft-deleted (body, sender, mentions and attachments are then emptied).
    #[serde(default, deserialize_with = "lenient_time")]
    pub deleted_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub subject: Option<String>,
    /// `normal`, `high` or `urgent`.
    #[serde(default)]
    pub importance: Option<String>,
    /// A link that opens the message in Teams (often `null` for chat messages).
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub from: MessageSender,
    #[serde(default, deserialize_with = "null_as_default")]
    pub body: ItemBody,
    /// Set for channel posts, which the bridge does not relay.
    #[serde(default)]
    pub channel_identity: Option<ChannelIdentity>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attachments: Vec<Attachment>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub mentions: Vec<Mention>,
}

/// Who sent a message: Graph's `from` identity set, reduced to what matters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(from = "Option<IdentitySet>")]
pub enum MessageSender {
    /// A person (Entra user, guest, email or anonymous user). `display_name` may be empty: Graph
    /// does not always send it; look the id up then.
    User { id: String, display_name: String },
    /// A bot, connector or outgoing webhook, which the bridge does not relay.
    Application { id: String, display_name: String },
    /// No sender: system events and deleted messages have `from: null`.
    #[default]
    Nobody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentitySet {
    #[serde(default)]
    user: Option<Identity>,
    #[serde(default)]
    application: Option<Identity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

impl Identity {
    fn into_parts(self) -> Option<(String, String)> {
        let id = self.id.filter(|id| !id.is_empty())?;
        Some((id, self.display_name.unwrap_or_default()))
    }
}

impl From<Option<IdentitySet>> for MessageSender {
    /// An application wins over a user: a bot posting on someone's behalf is still a bot.
    fn from(set: Option<IdentitySet>) -> Self {
        let Some(set) = set else {
            return Self::Nobody;
        };
        if let Some((id, display_name)) = set.application.and_then(Identity::into_parts) {
            Self::Application { id, display_name }
        } else if let Some((id, display_name)) = set.user.and_then(Identity::into_parts) {
            Self::User { id, display_name }
        } else {
            Self::Nobody
        }
    }
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    /// `html` or `text` (always `html` when there are mentions).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content_type: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content: String,
}

/// The team and channel of a channel post.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelIdentity {
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
}

/// An attachment: a shared file (`reference`, `contentUrl` to SharePoint), a card
/// (`application/vnd.microsoft.card.*`, JSON in `content`), a code snippet, a quoted message
/// (`messageReference`), a meeting (`meetingReference`), ...
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// What `<attachment id="…">` in the body refers to.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content_type: String,
    #[serde(default)]
    pub content_url: Option<String>,
    /// A string of JSON for cards and references, as Graph sends it.
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub thumbnail_url: Option<String>,
}

/// A mention: `<at id="{id}">{mention_text}</at>` in an HTML body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawMention")]
pub struct Mention {
    pub id: u32,
    pub mention_text: String,
    /// The mentioned user; `None` when a bot, a team, a channel or a tag is mentioned.
    pub user_id: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMention {
    #[serde(default)]
    id: u32,
    #[serde(default, deserialize_with = "null_as_empty")]
    mention_text: String,
    #[serde(default)]
    mentioned: Option<MentionedSet>,
}

#[derive(Deserialize)]
struct MentionedSet {
    #[serde(default)]
    user: Option<Identity>,
}

impl From<RawMention> for Mention {
    fn from(raw: RawMention) -> Self {
        let (user_id, display_name) = match raw.mentioned.and_then(|m| m.user) {
            Some(user) => (user.id.filter(|id| !id.is_empty()), user.display_name),
            None => (None, None),
        };
        Self {
            id: raw.id,
            mention_text: raw.mention_text,
            user_id,
            display_name,
        }
    }
}

/// A chat with its members.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    pub id: String,
    /// `oneOnOne`, `group`, `meeting` (or a newer value).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub chat_type: String,
    /// Group chats only.
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_date_time: Option<DateTime<Utc>>,
    /// Moves when the chat is renamed or its members change.
    #[serde(default, deserialize_with = "lenient_time")]
    pub last_updated_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub members: Vec<ChatMember>,
}

/// A member of a chat (`conversationMember`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMember {
    /// The membership id: opaque, not the user's.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub id: String,
    /// The member's Entra object id, to map to accounts; absent for some non-Entra members.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// `owner`, `guest`, ...
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<String>,
    /// Members may come from other tenants.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Deserialize)]
struct ChatId {
    id: String,
}

impl GraphClient {
    /// One message of a chat (`GET /chats/{chat}/messages/{message}`), deleted ones included.
    /// Application (`Chat.Read.All`) or delegated (`Chat.Read`, member of the chat).
    pub async fn chat_message(
        &self,
        chat_id: &str,
        message_id: &str,
    ) -> Result<ChatMessage, GraphError> {
        let url = self.url(&["chats", chat_id, "messages", message_id], &[]);
        let mut message: ChatMessage = self
            .send(
                "chat_message",
                Method::GET,
                url,
                None,
                &prefer_unknown_enums(),
            )
            .await?
            .json()?;
        if message.chat_id.is_empty() {
            chat_id.clone_into(&mut message.chat_id);
        }
        Ok(message)
    }

    /// A chat with its members, in one request (`GET /chats/{id}?$expand=members`).
    pub async fn chat_with_members(&self, chat_id: &str) -> Result<Chat, GraphError> {
        let url = self.url(&["chats", chat_id], &[("$expand", "members")]);
        self.send("chat_with_members", Method::GET, url, None, &[])
            .await?
            .json()
    }

    /// Messages of a chat changed (created, edited, reacted to, deleted) after `since`, oldest
    /// change first: to catch up after missed notifications.
    ///
    /// Lists `/chats/{id}/messages` newest change first with
    /// `$orderby=lastModifiedDateTime desc&$filter=lastModifiedDateTime gt {since}` (the only
    /// filter Graph supports there, and only with that order), `page_size` a page (1 to 50),
    /// following `@odata.nextLink`. The filter is applied here again, so a server that ignores
    /// it (or pages that shift while listing) cannot return older or repeated messages; a
    /// message whose time Graph wrote unreadably is kept.
    pub async fn chat_messages_since(
        &self,
        chat_id: &str,
        since: DateTime<Utc>,
        page_size: u16,
    ) -> Result<Vec<ChatMessage>, GraphError> {
        let url = self.messages_since_url(chat_id, since, page_size);
        let listed: Vec<ChatMessage> = self
            .get_all("chat_messages_since", url, &prefer_unknown_enums())
            .await?;
        // The newest version of each message, by id.
        let mut newest: HashMap<String, ChatMessage> = HashMap::new();
        for mut message in listed {
            if message
                .last_modified_date_time
                .is_some_and(|modified| modified <= since)
            {
                continue;
            }
            if message.chat_id.is_empty() {
                chat_id.clone_into(&mut message.chat_id);
            }
            match newest.get(&message.id) {
                Some(kept) if kept.last_modified_date_time >= message.last_modified_date_time => {}
                _ => {
                    newest.insert(message.id.clone(), message);
                }
            }
        }
        let mut messages: Vec<ChatMessage> = newest.into_values().collect();
        messages.sort_by(|a, b| {
            a.last_modified_date_time
                .cmp(&b.last_modified_date_time)
                .then_with(|| a.created_date_time.cmp(&b.created_date_time))
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(messages)
    }

    fn messages_since_url(&self, chat_id: &str, since: DateTime<Utc>, page_size: u16) -> url::Url {
        let top = page_size.clamp(1, MAX_MESSAGES_PAGE).to_string();
        let filter = format!("lastModifiedDateTime gt {}", graph_time(since));
        self.url(
            &["chats", chat_id, "messages"],
            &[
                ("$top", &top),
                ("$orderby", "lastModifiedDateTime desc"),
                ("$filter", &filter),
            ],
        )
    }

    /// Ids of the chats a user is in (`GET /users/{id}/chats`, every page). Graph documents
    /// listing chats for delegated tokens; with an application token it may refuse (403).
    pub async fn user_chats(&self, user_id: &str) -> Result<Vec<String>, GraphError> {
        let url = self.url(&["users", user_id, "chats"], &[("$top", "50")]);
        let chats: Vec<ChatId> = self.get_all("user_chats", url, &[]).await?;
        Ok(chats.into_iter().map(|c| c.id).collect())
    }

    /// Ids of the signed-in user's chats (`GET /me/chats`, every page); delegated tokens only.
    pub async fn my_chats(&self) -> Result<Vec<String>, GraphError> {
        let url = self.url(&["me", "chats"], &[("$top", "50")]);
        let chats: Vec<ChatId> = self.get_all("my_chats", url, &[]).await?;
        Ok(chats.into_iter().map(|c| c.id).collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn message(json: &str) -> ChatMessage {
        serde_json::from_str(json).expect("a chat message")
    }

    #[test]
    fn catching_up_asks_graph_for_what_it_supports() {
        let endpoints = crate::GraphEndpoints::new(
            &url::Url::parse("https://graph.microsoft.com/v1.0").expect("url"),
            &url::Url::parse("https://login.microsoftonline.com").expect("url"),
            "contoso.onmicrosoft.com",
        )
        .expect("endpoints");
        let graph =
            GraphClient::new(&endpoints, &secrecy::SecretString::from("t")).expect("client");
        let since = Utc
            .with_ymd_and_hms(2021, 3, 28, 20, 48, 29)
            .single()
            .expect("time")
            + chrono::TimeDelta::microseconds(832_123);
        let url = graph.messages_since_url("19:abc@thread.v2", since, 500);
        assert_eq!(url.path(), "/v1.0/chats/19:abc@thread.v2/messages", "{url}");
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            query,
            [
                ("$top".to_owned(), "50".to_owned()),
                (
                    "$orderby".to_owned(),
                    "lastModifiedDateTime desc".to_owned()
                ),
                (
                    "$filter".to_owned(),
                    "lastModifiedDateTime gt 2021-03-28T20:48:29.832Z".to_owned()
                ),
            ]
        );
        assert!(
            graph
                .messages_since_url("c", since, 0)
                .as_str()
                .contains("%24top=1&")
        );
    }

    #[test]
    fn a_documented_message_is_read() {
        // chatmessage-get Example 1, as documented.
        let m = message(
            r##"{
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats('19%3A8ea0e38b-efb3-4757-924a-5f94061cf8c2_97f62344-57dc-409c-88ad-c4af14158ff5%40unq.gbl.spaces')/messages/$entity",
                "id": "1612289992105",
                "replyToId": null,
                "etag": "1612289992105",
                "messageType": "message",
                "createdDateTime": "2021-02-02T18:19:52.105Z",
                "lastModifiedDateTime": "2021-02-02T18:19:52.105Z",
                "lastEditedDateTime": null,
                "deletedDateTime": null,
                "subject": null,
                "summary": null,
                "chatId": "19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_97f62344-57dc-409c-88ad-c4af14158ff5@unq.gbl.spaces",
                "importance": "normal",
                "locale": "en-us",
                "webUrl": null,
                "channelIdentity": null,
                "policyViolation": null,
                "eventDetail": null,
                "from": {
                    "application": null,
                    "device": null,
                    "conversation": null,
                    "user": {
                        "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                        "id": "8ea0e38b-efb3-4757-924a-5f94061cf8c2",
                        "displayName": "Robin Kline",
                        "userIdentityType": "aadUser",
                        "tenantId": "e61ef81e-8bd8-476a-92e8-4a62f8426fca"
                    }
                },
                "body": {"contentType": "text", "content": "test"},
                "attachments": [],
                "mentions": [],
                "reactions": []
            }"##,
        );
        assert_eq!(m.id, "1612289992105");
        assert_eq!(
            m.chat_id,
            "19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_97f62344-57dc-409c-88ad-c4af14158ff5@unq.gbl.spaces"
        );
        assert_eq!(m.message_type, "message");
        assert_eq!(m.etag.as_deref(), Some("1612289992105"));
        assert_eq!(
            m.created_date_time,
            Utc.timestamp_millis_opt(1_612_289_992_105).single()
        );
        assert_eq!(m.deleted_date_time, None);
        assert_eq!(
            m.from,
            MessageSender::User {
                id: "8ea0e38b-efb3-4757-924a-5f94061cf8c2".into(),
                display_name: "Robin Kline".into()
            }
        );
        assert_eq!(m.body.content_type, "text");
        assert_eq!(m.body.content, "test");
        assert_eq!(m.importance.as_deref(), Some("normal"));
        assert_eq!(m.channel_identity, None);
    }

    #[test]
    fn mentions_of_users_bots_and_teams_are_told_apart() {
        let m = message(
            r#"{
                "id": "1",
                "body": {"contentType": "html", "content": "<at id=\"0\">Alex</at> <at id=\"1\">Power Automate</at> <at id=\"2\">WebhookTesting</at>"},
                "mentions": [
                    {"id": 0, "mentionText": "Alex", "mentioned": {"application": null, "device": null, "conversation": null, "tag": null,
                        "user": {"id": "c27c1b19-3904-4822-9813-4f6bdaab2eae", "displayName": "Alex", "userIdentityType": "aadUser"}}},
                    {"id": 1, "mentionText": "Power Automate", "mentioned": {"device": null, "user": null, "conversation": null, "tag": null,
                        "application": {"id": "358f0194-6b0e-4dd3-af35-c24fe8a9ec87", "displayName": "Power Automate", "applicationIdentityType": "bot"}}},
                    {"id": 2, "mentionText": "WebhookTesting", "mentioned": {"application": null, "device": null, "user": null, "tag": null,
                        "conversation": {"id": "68a3e365-f7d9-4a56-b499-24332a9cc572", "displayName": "WebhookTesting", "conversationIdentityType": "team"}}}
                ]
            }"#,
        );
        assert_eq!(
            m.mentions,
            [
                Mention {
                    id: 0,
                    mention_text: "Alex".into(),
                    user_id: Some("c27c1b19-3904-4822-9813-4f6bdaab2eae".into()),
                    display_name: Some("Alex".into()),
                },
                Mention {
                    id: 1,
                    mention_text: "Power Automate".into(),
                    user_id: None,
                    display_name: None,
                },
                Mention {
                    id: 2,
                    mention_text: "WebhookTesting".into(),
                    user_id: None,
                    display_name: None,
                },
            ]
        );
        assert_eq!(m.body.content_type, "html");
        assert_eq!(m.from, MessageSender::Nobody, "no from at all");
        assert_eq!(m.chat_id, "");
    }

    #[test]
    fn attachments_keep_their_urls_and_card_json() {
        let m = message(
            r#"{
                "id": "1",
                "attachments": [
                    {"id": "924D1F74-E0D2-4927-8A67-15ECEF455527", "contentType": "reference",
                     "contentUrl": "https://testing.sharepoint.com/sites/Samples/Shared Documents/General/color.png",
                     "content": null, "name": "color.png", "thumbnailUrl": null, "teamsAppId": null},
                    {"id": "1622853091207", "contentType": "messageReference", "contentUrl": null,
                     "content": "{\"messageId\":\"1622853091207\",\"messagePreview\":\"Testing unread read status\"}",
                     "name": null, "thumbnailUrl": null}
                ]
            }"#,
        );
        assert_eq!(m.attachments.len(), 2);
        let file = &m.attachments[0];
        assert_eq!(file.content_type, "reference");
        assert_eq!(file.name.as_deref(), Some("color.png"));
        assert_eq!(
            file.content_url.as_deref(),
            Some("https://testing.sharepoint.com/sites/Samples/Shared Documents/General/color.png")
        );
        assert_eq!(file.content, None);
        let quote = &m.attachments[1];
        assert_eq!(quote.content_type, "messageReference");
        let content: serde_json::Value =
            serde_json::from_str(quote.content.as_deref().expect("content")).expect("json");
        assert_eq!(content["messageId"], "1622853091207");
    }

    #[test]
    fn senders_bots_and_system_events_are_told_apart() {
        let from = |json: &str| message(&format!(r#"{{"id":"1","from":{json}}}"#)).from;
        assert_eq!(
            from(
                r#"{"device": null, "user": null, "application": {"id": "358f0194", "displayName": "Flow", "applicationIdentityType": "bot"}}"#
            ),
            MessageSender::Application {
                id: "358f0194".into(),
                display_name: "Flow".into()
            }
        );
        assert_eq!(
            from(
                r#"{"application": null, "device": null, "user": {"id": "testemailuser@outlook.com", "displayName": null, "userIdentityType": "emailUser"}}"#
            ),
            MessageSender::User {
                id: "testemailuser@outlook.com".into(),
                display_name: String::new()
            }
        );
        assert_eq!(from("null"), MessageSender::Nobody);
        assert_eq!(
            from(r#"{"application": null, "user": null, "device": {"id": "d"}}"#),
            MessageSender::Nobody
        );
    }

    #[test]
    fn a_system_event_with_a_malformed_date_still_reads() {
        // The third item of the documented list answer, verbatim dates included.
        let m = message(
            r##"{
                "id": "1615943825123",
                "replyToId": null,
                "etag": "1615943825123",
                "messageType": "unknownFutureValue",
                "createdDateTime": "2021-03-1706:47:05.123Z",
                "lastModifiedDateTime": "2021-03-1706:47:05.123Z",
                "chatId": "19:2da4c29f6d7041eca70b638b43d45437@thread.v2",
                "from": null,
                "body": {"contentType": "html", "content": "<systemEventMessage/>"},
                "attachments": [],
                "mentions": [],
                "reactions": [],
                "eventDetail": {"@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail"}
            }"##,
        );
        assert_eq!(m.message_type, "unknownFutureValue");
        assert_eq!(m.created_date_time, None);
        assert_eq!(m.from, MessageSender::Nobody);
        let sparse = message(
            r#"{"id": "2", "body": null, "attachments": null, "mentions": null, "messageType": null}"#,
        );
        assert_eq!(sparse.body, ItemBody::default());
        assert!(sparse.attachments.is_empty() && sparse.mentions.is_empty());
        assert!(serde_json::from_str::<ChatMessage>(r#"{"body": null}"#).is_err());
    }

    #[test]
    fn documented_members_are_read() {
        let chat: Chat = serde_json::from_str(
            r##"{
                "id": "19:8b081ef6-4792-4def-b2c9-c363a1bf41d5_5031bb31-22c0-4f6f-9f73-91d34ab2b32d@unq.gbl.spaces",
                "topic": null,
                "createdDateTime": "2019-04-18T23:51:43.255Z",
                "lastUpdatedDateTime": "2019-04-18T23:51:43.255Z",
                "chatType": "oneOnOne",
                "members": [
                    {"@odata.type": "#microsoft.graph.aadUserConversationMember", "id": "8b081ef6-4792-4def-b2c9-c363a1bf41d5",
                     "roles": ["owner"], "displayName": "John Doe", "userId": "8b081ef6-4792-4def-b2c9-c363a1bf41d5",
                     "email": null, "tenantId": "6e5147da-6a35-4275-b3f3-fc069456b6eb",
                     "visibleHistoryStartDateTime": "2019-04-18T23:51:43.255Z"},
                    {"@odata.type": "#microsoft.graph.aadUserConversationMember", "id": "2de87aaf",
                     "roles": null, "displayName": null, "userId": null, "email": "bart@contoso.com"}
                ]
            }"##,
        )
        .expect("chat");
        assert_eq!(chat.chat_type, "oneOnOne");
        assert_eq!(chat.topic, None);
        assert_eq!(chat.members.len(), 2);
        assert_eq!(
            chat.members[0].user_id.as_deref(),
            Some("8b081ef6-4792-4def-b2c9-c363a1bf41d5")
        );
        assert_eq!(chat.members[0].display_name, "John Doe");
        assert_eq!(chat.members[0].roles, ["owner"]);
        assert_eq!(chat.members[1].user_id, None);
        assert_eq!(chat.members[1].display_name, "");
        assert_eq!(chat.members[1].email.as_deref(), Some("bart@contoso.com"));
    }
}
