//! The emulated tenant: everything the emulator knows, behind one lock that is never held across
//! an `.await`. Changes return the notifications they cause; the caller sends them after unlocking.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::calendar::CalendarEvent;
use crate::faults::FaultRule;
use crate::model::{
    Chat, ChatMessage, ChatType, DriveFile, NewMessage, NewUser, Presence, Sender, User,
    graph_time, html_escape,
};
use crate::subscriptions::{ChangeType, Outgoing, Subscription, Watched};

/// An app registration the identity platform accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRegistration {
    pub client_id: String,
    pub client_secret: String,
    /// Exact redirect URIs; empty accepts any (handy for ad-hoc scripts, never for tests of it).
    pub redirect_uris: Vec<String>,
    pub display_name: String,
}

/// Who an access token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// Delegated: the app acting as a signed-in user.
    User { user_id: String, client_id: String },
    /// Application permissions (client credentials).
    App { client_id: String },
}

#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub(crate) principal: Principal,
    pub(crate) expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: String,
    pub(crate) scope: String,
    pub(crate) code_challenge: Option<(String, String)>,
    pub(crate) expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scope: String,
}

/// One attempt to deliver a notification, for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub subscription_id: String,
    pub url: String,
    /// `change`, `lifecycle` or `validation`.
    pub kind: String,
    pub attempt: u32,
    /// The HTTP status answered, or why there was none.
    pub outcome: Result<u16, String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct Tenant {
    pub(crate) tenant_id: String,
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) chats: BTreeMap<String, Chat>,
    pub(crate) messages: BTreeMap<String, Vec<ChatMessage>>,
    pub(crate) presence: BTreeMap<String, Presence>,
    pub(crate) apps: BTreeMap<String, AppRegistration>,
    pub(crate) sign_in_as: Option<String>,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) redeemed_codes: HashSet<String>,
    pub(crate) access_tokens: HashMap<String, AccessGrant>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub(crate) subscriptions: BTreeMap<String, Subscription>,
    pub(crate) events: BTreeMap<String, Vec<CalendarEvent>>,
    pub(crate) time_zones: BTreeMap<String, String>,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) counters: BTreeMap<String, u64>,
    pub(crate) deliveries: Vec<DeliveryRecord>,
    /// Shared files by their SharePoint URL (what `reference` attachments carry).
    pub(crate) drive_files: BTreeMap<String, DriveFile>,
    /// Pre-authenticated download URLs handed out by `/shares/.../driveItem/content`: token to
    /// (file URL, expiry).
    pub(crate) download_tokens: HashMap<String, (String, DateTime<Utc>)>,
    clock_offset: TimeDelta,
    last_message_ms: i64,
}

impl Tenant {
    pub(crate) fn new(tenant_id: String) -> Self {
        Self {
            tenant_id,
            users: BTreeMap::new(),
            chats: BTreeMap::new(),
            messages: BTreeMap::new(),
            presence: BTreeMap::new(),
            apps: BTreeMap::new(),
            sign_in_as: None,
            codes: HashMap::new(),
            redeemed_codes: HashSet::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            subscriptions: BTreeMap::new(),
            events: BTreeMap::new(),
            time_zones: BTreeMap::new(),
            faults: Vec::new(),
            counters: BTreeMap::new(),
            deliveries: Vec::new(),
            drive_files: BTreeMap::new(),
            download_tokens: HashMap::new(),
            clock_offset: TimeDelta::zero(),
            last_message_ms: 0,
        }
    }

    /// The emulator's notion of now: the real time, moved by [`Tenant::advance_clock`].
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    pub(crate) fn advance_clock(&mut self, by: TimeDelta) {
        self.clock_offset += by;
    }

    pub(crate) fn add_user(&mut self, new: NewUser) -> User {
        let id = new.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let upn = new
            .user_principal_name
            .or_else(|| new.mail.clone())
            .unwrap_or_else(|| format!("{id}@emulator.onmicrosoft.com"));
        let user = User {
            id: id.clone(),
            display_name: new.display_name,
            mail: new.mail,
            user_principal_name: upn,
            account_enabled: new.account_enabled,
            user_type: new.user_type,
        };
        self.users.insert(id, user.clone());
        user
    }

    /// A user by id or by user principal name (case-insensitive), as `/users/{id | upn}` does.
    pub(crate) fn find_user(&self, key: &str) -> Option<&User> {
        self.users
            .get(key)
            .or_else(|| {
                self.users
                    .values()
                    .find(|u| u.user_principal_name.eq_ignore_ascii_case(key))
            })
            // Outlook notifications name users as `{id}@{tenant id}`.
            .or_else(|| key.split_once('@').and_then(|(id, _)| self.users.get(id)))
    }

    pub(crate) fn display_name(&self, user_id: &str) -> Option<String> {
        self.users.get(user_id).map(|u| u.display_name.clone())
    }

    pub(crate) fn add_chat(
        &mut self,
        chat_type: ChatType,
        topic: Option<&str>,
        members: &[&str],
    ) -> Chat {
        let now = self.now();
        let id = match chat_type {
            ChatType::OneOnOne => {
                let mut ids: Vec<&str> = members.to_vec();
                ids.sort_unstable();
                format!("19:{}@unq.gbl.spaces", ids.join("_"))
            }
            ChatType::Group => format!("19:{}@thread.v2", uuid::Uuid::new_v4().simple()),
        };
        let chat = Chat {
            id: id.clone(),
            chat_type,
            topic: topic.map(str::to_owned),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            created: now,
            last_updated: now,
        };
        self.chats.insert(id.clone(), chat.clone());
        self.messages.entry(id).or_default();
        chat
    }

    /// Message ids are creation times in milliseconds, unique within the tenant, like Teams'.
    fn next_message_id(&mut self, now: DateTime<Utc>) -> String {
        let ms = now.timestamp_millis().max(self.last_message_ms + 1);
        self.last_message_ms = ms;
        ms.to_string()
    }

    pub(crate) fn post_message(
        &mut self,
        chat_id: &str,
        from: Sender,
        new: NewMessage,
    ) -> Option<(ChatMessage, Vec<Outgoing>)> {
        if !self.chats.contains_key(chat_id) {
            return None;
        }
        let now = self.now();
        let id = self.next_message_id(now);
        let (mut content_type, mut content) = (new.content_type, new.content);
        let mut hosted_contents = Vec::new();
        if !new.images.is_empty() {
            if content_type != "html" {
                content = format!("<p>{}</p>", html_escape(&content));
                content_type = "html".into();
            }
            for (name, image) in new.images {
                content.push_str(&format!(
                    r#"<p><img src="https://graph.microsoft.com/v1.0/chats/{chat_id}/messages/{id}/hostedContents/{}/$value" alt="{}" itemid="0-emu-{}"></p>"#,
                    image.id,
                    html_escape(&name),
                    hosted_contents.len(),
                ));
                hosted_contents.push(image);
            }
        }
        for file in new.drive_files {
            self.drive_files.insert(file.content_url.clone(), file);
        }
        let message = ChatMessage {
            id,
            chat_id: chat_id.to_owned(),
            from,
            content_type,
            content,
            hosted_contents,
            mentions: new.mentions,
            attachments: new.attachments,
            reactions: Vec::new(),
            message_type: new.message_type,
            event_detail: new.event_detail,
            created: now,
            last_modified: now,
            last_edited: None,
            deleted: None,
        };
        self.messages
            .entry(chat_id.to_owned())
            .or_default()
            .push(message.clone());
        let outgoing = self.chat_message_changed(&message, ChangeType::Created);
        Some((message, outgoing))
    }

    pub(crate) fn message_mut(
        &mut self,
        chat_id: &str,
        message_id: &str,
    ) -> Option<&mut ChatMessage> {
        self.messages
            .get_mut(chat_id)?
            .iter_mut()
            .find(|m| m.id == message_id)
    }

    pub(crate) fn message(&self, chat_id: &str, message_id: &str) -> Option<&ChatMessage> {
        self.messages
            .get(chat_id)?
            .iter()
            .find(|m| m.id == message_id)
    }

    /// Applies `change` to a message and returns the notifications it causes.
    pub(crate) fn update_message(
        &mut self,
        chat_id: &str,
        message_id: &str,
        change_type: ChangeType,
        change: impl FnOnce(&mut ChatMessage, DateTime<Utc>),
    ) -> Option<Vec<Outgoing>> {
        let now = self.now();
        let message = self.message_mut(chat_id, message_id)?;
        change(message, now);
        message.last_modified = now;
        let message = message.clone();
        Some(self.chat_message_changed(&message, change_type))
    }

    pub(crate) fn set_presence(&mut self, user_id: &str, presence: Presence) -> Vec<Outgoing> {
        self.presence.insert(user_id.to_owned(), presence);
        let resource = format!("communications/presences('{user_id}')");
        let data = json!({
            "@odata.type": "#Microsoft.Graph.presence",
            "@odata.id": resource,
            "id": user_id,
        });
        self.notifications_for(
            |watched| matches!(watched, Watched::Presence(ids) if ids.iter().any(|id| id == user_id)),
            ChangeType::Updated,
            &resource,
            data,
        )
    }

    fn chat_message_changed(
        &mut self,
        message: &ChatMessage,
        change_type: ChangeType,
    ) -> Vec<Outgoing> {
        let resource = format!("chats('{}')/messages('{}')", message.chat_id, message.id);
        let data = json!({
            "@odata.type": "#Microsoft.Graph.chatMessage",
            "@odata.id": resource,
            "id": message.id,
        });
        let members = self
            .chats
            .get(&message.chat_id)
            .map(|c| c.members.clone())
            .unwrap_or_default();
        let chat_id = message.chat_id.clone();
        self.notifications_for(
            |watched| match watched {
                Watched::AllChatMessages => true,
                Watched::ChatMessages(id) => *id == chat_id,
                Watched::UserChatMessages(user) => members.iter().any(|m| m == user),
                Watched::Presence(_) | Watched::Events(_) => false,
            },
            change_type,
            &resource,
            data,
        )
    }

    /// The notifications for one change, one per live subscription that watches it.
    pub(crate) fn notifications_for(
        &self,
        watches: impl Fn(&Watched) -> bool,
        change_type: ChangeType,
        resource: &str,
        resource_data: Value,
    ) -> Vec<Outgoing> {
        let now = self.now();
        let tenant_id = self.tenant_id.clone();
        self.subscriptions
            .values()
            .filter(|s| {
                s.expires_at > now && s.change_types.contains(&change_type) && watches(&s.watched)
            })
            .map(|s| Outgoing {
                subscription_id: s.id.clone(),
                url: s.notification_url.clone(),
                kind: "change",
                body: json!({
                    "value": [{
                        "subscriptionId": s.id,
                        "subscriptionExpirationDateTime": graph_time(s.expires_at),
                        "changeType": change_type.as_str(),
                        "resource": resource,
                        "resourceData": resource_data,
                        "clientState": s.client_state,
                        "tenantId": tenant_id,
                    }]
                }),
            })
            .collect()
    }

    /// Removes subscriptions past their expiry: Graph stops delivering to them.
    pub(crate) fn drop_expired_subscriptions(&mut self) {
        let now = self.now();
        self.subscriptions.retain(|_, s| s.expires_at > now);
    }

    pub(crate) fn count(&mut self, key: String) {
        *self.counters.entry(key).or_default() += 1;
    }

    /// JSON of a message as `GET .../messages/{id}` returns it.
    pub(crate) fn message_json(&self, m: &ChatMessage) -> Value {
        let identity = |user_id: &str| {
            json!({
                "application": null,
                "device": null,
                "user": {
                    "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                    "id": user_id,
                    "displayName": self.display_name(user_id),
                    "userIdentityType": "aadUser",
                    "tenantId": self.tenant_id,
                }
            })
        };
        let from = match &m.from {
            Sender::User(id) => identity(id),
            Sender::Application { id, display_name } => json!({
                "application": {
                    "@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                    "id": id,
                    "displayName": display_name,
                    "applicationIdentityType": "bot",
                },
                "device": null,
                "user": null,
            }),
        };
        let mentions: Vec<Value> = m
            .mentions
            .iter()
            .map(|mention| {
                json!({
                    "id": mention.id,
                    "mentionText": mention.text,
                    "mentioned": {
                        "application": null,
                        "device": null,
                        "conversation": null,
                        "tag": null,
                        "user": {
                            "id": mention.user_id,
                            "displayName": self.display_name(&mention.user_id),
                            "userIdentityType": "aadUser",
                        }
                    }
                })
            })
            .collect();
        let reactions: Vec<Value> = m
            .reactions
            .iter()
            .map(|r| {
                json!({
                    "reactionType": r.reaction_type,
                    "createdDateTime": graph_time(r.created),
                    "user": {
                        "application": null,
                        "device": null,
                        "user": {"id": r.user_id, "displayName": null, "userIdentityType": "aadUser"}
                    }
                })
            })
            .collect();
        let deleted = m.deleted.is_some();
        json!({
            "id": m.id,
            "replyToId": null,
            "etag": m.last_modified.timestamp_millis().to_string(),
            "messageType": m.message_type,
            "createdDateTime": graph_time(m.created),
            "lastModifiedDateTime": graph_time(m.last_modified),
            "lastEditedDateTime": m.last_edited.map(graph_time),
            "deletedDateTime": m.deleted.map(graph_time),
            "subject": null,
            "summary": null,
            "chatId": m.chat_id,
            "importance": "normal",
            "locale": "en-us",
            "webUrl": null,
            "channelIdentity": null,
            "policyViolation": null,
            "eventDetail": m.event_detail,
            "from": if deleted { Value::Null } else { from },
            "body": {
                "contentType": if deleted { "html" } else { m.content_type.as_str() },
                "content": if deleted { "" } else { m.content.as_str() },
            },
            "attachments": if deleted { Vec::new() } else { m.attachments.clone() },
            "mentions": if deleted { Vec::new() } else { mentions },
            "reactions": reactions,
        })
    }

    pub(crate) fn member_json(&self, chat: &Chat, user_id: &str) -> Value {
        let user = self.users.get(user_id);
        json!({
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": format!("MCMjMSMj{}##{}", chat.id.len(), user_id),
            "roles": ["owner"],
            "displayName": user.map(|u| u.display_name.clone()),
            "userId": user_id,
            "email": user.and_then(|u| u.mail.clone()),
            "tenantId": self.tenant_id,
            "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        })
    }

    pub(crate) fn chat_json(&self, chat: &Chat, expand_members: bool) -> Value {
        let mut value = json!({
            "id": chat.id,
            "topic": chat.topic,
            "createdDateTime": graph_time(chat.created),
            "lastUpdatedDateTime": graph_time(chat.last_updated),
            "chatType": chat.chat_type_str(),
            "webUrl": chat.web_url(&self.tenant_id),
            "tenantId": self.tenant_id,
        });
        if expand_members {
            let members: Vec<Value> = chat
                .members
                .iter()
                .map(|m| self.member_json(chat, m))
                .collect();
            value["members"] = Value::Array(members);
        }
        value
    }
}

impl Chat {
    pub(crate) fn chat_type_str(&self) -> &'static str {
        match self.chat_type {
            ChatType::OneOnOne => "oneOnOne",
            ChatType::Group => "group",
        }
    }
}
