//! The emulator's handle: start it, point clients at its URLs, script the tenant.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use chrono::TimeDelta;
use url::Url;

use crate::calendar::{CalendarEvent, EventUpdate, NewEvent};
use crate::error::EmulatorError;
use crate::faults::FaultRule;
use crate::model::{Chat, ChatMessage, ChatType, NewMessage, NewUser, Presence, Sender, User};
use crate::state::{AppRegistration, DeliveryRecord, Principal, Tenant};
use crate::subscriptions::{self, ChangeType, LifecycleEvent, Outgoing};
use crate::{batch, calendar, chats, control, directory, faults, files, identity, presence};

/// Tuning for tests: Graph's real timeouts are the defaults.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The tenant's directory id.
    pub tenant_id: String,
    /// How long a subscriber has to answer the validation handshake (Graph: 10 s).
    pub validation_timeout: Duration,
    /// How long a subscriber has to answer a notification before it counts as failed (Graph: 3 s).
    pub delivery_timeout: Duration,
    /// Waits between delivery attempts; one retry per entry.
    pub retry_delays: Vec<Duration>,
    /// Lifetime of issued access tokens (Graph: about an hour).
    pub access_token_lifetime: TimeDelta,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            validation_timeout: Duration::from_secs(10),
            delivery_timeout: Duration::from_secs(3),
            retry_delays: subscriptions::default_retry_delays(),
            access_token_lifetime: TimeDelta::seconds(3599),
        }
    }
}

/// State shared by the handle, the routes and the delivery tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    tenant: Mutex<Tenant>,
    pub(crate) options: EmulatorOptions,
    pub(crate) http: reqwest::Client,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Tenant> {
        self.tenant
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn record(&self, record: DeliveryRecord) {
        self.lock().deliveries.push(record);
    }

    /// Sends notifications in the background, each with its own retries.
    pub(crate) fn dispatch(self: &Arc<Self>, outgoing: Vec<Outgoing>) {
        for item in outgoing {
            tokio::spawn(subscriptions::deliver(self.clone(), item));
        }
    }

    pub(crate) fn post(
        self: &Arc<Self>,
        chat_id: &str,
        from: Sender,
        message: NewMessage,
    ) -> Result<ChatMessage, EmulatorError> {
        let (message, outgoing) = self
            .lock()
            .post_message(chat_id, from, message)
            .ok_or_else(|| not_found("chat", chat_id))?;
        self.dispatch(outgoing);
        Ok(message)
    }

    pub(crate) fn update(
        self: &Arc<Self>,
        chat_id: &str,
        message_id: &str,
        change_type: ChangeType,
        change: impl FnOnce(&mut ChatMessage, chrono::DateTime<chrono::Utc>),
    ) -> Result<(), EmulatorError> {
        let outgoing = self
            .lock()
            .update_message(chat_id, message_id, change_type, change)
            .ok_or_else(|| not_found("message", message_id))?;
        self.dispatch(outgoing);
        Ok(())
    }

    pub(crate) fn set_presence(self: &Arc<Self>, user_id: &str, presence: Presence) {
        let outgoing = self.lock().set_presence(user_id, presence);
        self.dispatch(outgoing);
    }

    pub(crate) fn add_event(self: &Arc<Self>, event: NewEvent) -> CalendarEvent {
        let (event, outgoing) = self.lock().add_event(event);
        self.dispatch(outgoing);
        event
    }

    /// Runs a change of the event `ical_uid` and sends its notifications; `NotFound` when the
    /// change finds no such event (returns `None`).
    pub(crate) fn change_events(
        self: &Arc<Self>,
        ical_uid: &str,
        change: impl FnOnce(&mut Tenant) -> Option<Vec<Outgoing>>,
    ) -> Result<(), EmulatorError> {
        let outgoing = change(&mut self.lock()).ok_or_else(|| not_found("event", ical_uid))?;
        self.dispatch(outgoing);
        Ok(())
    }

    pub(crate) fn trigger_lifecycle(
        self: &Arc<Self>,
        subscription_id: &str,
        event: LifecycleEvent,
    ) -> Result<(), EmulatorError> {
        let outgoing = subscriptions::lifecycle(self, subscription_id, event)
            .map_err(|_| not_found("subscription", subscription_id))?;
        self.dispatch(outgoing.into_iter().collect());
        Ok(())
    }
}

/// A running Graph and identity-platform emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct GraphEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl GraphEmulator {
    /// Starts on a free port of 127.0.0.1 with Graph's real timeouts.
    pub async fn start() -> Result<Self, EmulatorError> {
        Self::start_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            EmulatorOptions::default(),
        )
        .await
    }

    pub async fn start_with(
        addr: SocketAddr,
        options: EmulatorOptions,
    ) -> Result<Self, EmulatorError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(EmulatorError::Client)?;
        let shared = Arc::new(Shared {
            tenant: Mutex::new(Tenant::new(options.tenant_id.clone())),
            options,
            http,
        });
        let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(
            tower::util::MapRequest::new(router(shared.clone()), faults::normalize_odata_keys),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(%err, "graph emulator stopped");
            }
        });
        Ok(Self {
            shared,
            addr,
            stop: Some(stop),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`: the control API lives under `_emulator/`.
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr))
            .unwrap_or_else(|_| unreachable!("a socket address is a valid host"))
    }

    /// What to configure as `microsoft.graph_url`.
    pub fn graph_url(&self) -> Url {
        self.base_url()
            .join("v1.0")
            .unwrap_or_else(|_| self.base_url())
    }

    /// What to configure as `microsoft.login_url`.
    pub fn login_url(&self) -> Url {
        self.base_url()
    }

    pub fn tenant_id(&self) -> String {
        self.shared.lock().tenant_id.clone()
    }

    /// Registers an app that may sign users in and get tokens.
    pub fn register_app(&self, app: AppRegistration) {
        self.shared.lock().apps.insert(app.client_id.clone(), app);
    }

    /// Who the authorize endpoint signs in, consenting at once. `None` shows a page to pick a
    /// user (for people driving the sandbox by hand).
    pub fn sign_in_as(&self, user_id: Option<&str>) {
        self.shared.lock().sign_in_as = user_id.map(str::to_owned);
    }

    pub fn add_user(&self, user: NewUser) -> User {
        self.shared.lock().add_user(user)
    }

    pub fn users(&self) -> Vec<User> {
        self.shared.lock().users.values().cloned().collect()
    }

    /// Disables or enables a user (`accountEnabled`).
    pub fn set_account_enabled(&self, user_id: &str, enabled: bool) -> Result<(), EmulatorError> {
        let mut tenant = self.shared.lock();
        let user = tenant
            .users
            .get_mut(user_id)
            .ok_or_else(|| not_found("user", user_id))?;
        user.account_enabled = enabled;
        Ok(())
    }

    pub fn add_chat(&self, chat_type: ChatType, topic: Option<&str>, members: &[&str]) -> Chat {
        self.shared.lock().add_chat(chat_type, topic, members)
    }

    /// Posts a message as a user, as if typed in Teams; subscribers are notified.
    pub fn post_message(
        &self,
        chat_id: &str,
        from_user_id: &str,
        message: NewMessage,
    ) -> Result<ChatMessage, EmulatorError> {
        self.post(chat_id, Sender::User(from_user_id.to_owned()), message)
    }

    /// Posts a message as a bot or connector.
    pub fn post_app_message(
        &self,
        chat_id: &str,
        app_id: &str,
        app_name: &str,
        message: NewMessage,
    ) -> Result<ChatMessage, EmulatorError> {
        let sender = Sender::Application {
            id: app_id.to_owned(),
            display_name: app_name.to_owned(),
        };
        self.post(chat_id, sender, message)
    }

    fn post(
        &self,
        chat_id: &str,
        from: Sender,
        message: NewMessage,
    ) -> Result<ChatMessage, EmulatorError> {
        self.shared.post(chat_id, from, message)
    }

    /// Edits a message's HTML body, as its sender would.
    pub fn edit_message(
        &self,
        chat_id: &str,
        message_id: &str,
        html: &str,
    ) -> Result<(), EmulatorError> {
        self.update(chat_id, message_id, ChangeType::Updated, |m, now| {
            m.content = html.to_owned();
            m.content_type = "html".into();
            m.last_edited = Some(now);
        })
    }

    /// Soft-deletes a message.
    pub fn delete_message(&self, chat_id: &str, message_id: &str) -> Result<(), EmulatorError> {
        self.update(chat_id, message_id, ChangeType::Deleted, |m, now| {
            m.deleted = Some(now)
        })
    }

    /// Adds a reaction (an `updated` change, as in Teams).
    pub fn react(
        &self,
        chat_id: &str,
        message_id: &str,
        user_id: &str,
        reaction: &str,
    ) -> Result<(), EmulatorError> {
        self.update(chat_id, message_id, ChangeType::Updated, |m, now| {
            m.reactions.push(crate::model::Reaction {
                reaction_type: reaction.to_owned(),
                user_id: user_id.to_owned(),
                created: now,
            });
        })
    }

    fn update(
        &self,
        chat_id: &str,
        message_id: &str,
        change_type: ChangeType,
        change: impl FnOnce(&mut ChatMessage, chrono::DateTime<chrono::Utc>),
    ) -> Result<(), EmulatorError> {
        self.shared.update(chat_id, message_id, change_type, change)
    }

    /// Messages of a chat, oldest first, including soft-deleted ones.
    pub fn messages(&self, chat_id: &str) -> Vec<ChatMessage> {
        self.shared
            .lock()
            .messages
            .get(chat_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets a user's presence; presence subscribers are notified.
    pub fn set_presence(&self, user_id: &str, presence: Presence) {
        self.shared.set_presence(user_id, presence);
    }

    /// Schedules an event: the organizer's copy is returned; each attendee gets an invitation in
    /// their own mailbox. Subscribers to the mailboxes' events are notified.
    pub fn add_event(&self, event: NewEvent) -> CalendarEvent {
        self.shared.add_event(event)
    }

    /// The organizer cancels a meeting: their copy is deleted (a `deleted` change), each
    /// attendee's copy is marked cancelled (an `updated` change with `isCancelled` and
    /// `Canceled: ` before the subject).
    pub fn cancel_event(&self, ical_uid: &str) -> Result<(), EmulatorError> {
        self.shared
            .change_events(ical_uid, |tenant| tenant.cancel_event(ical_uid))
    }

    /// Moves a meeting, keeping its length (see [`update_event`](Self::update_event)).
    pub fn reschedule_event(
        &self,
        ical_uid: &str,
        start: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), EmulatorError> {
        self.update_event(
            ical_uid,
            EventUpdate {
                start: Some(start),
                ..EventUpdate::default()
            },
        )
    }

    /// The organizer changes a meeting (time, location, subject, reminder): every copy is
    /// updated (an `updated` change each). A new time asks the attendees again: their answers go
    /// back to `none`, as in Outlook.
    pub fn update_event(&self, ical_uid: &str, update: EventUpdate) -> Result<(), EmulatorError> {
        self.shared
            .change_events(ical_uid, |tenant| tenant.update_event(ical_uid, &update))
    }

    /// Deletes a meeting's copies (a `deleted` change each): every copy, or only `mailbox`'s
    /// (an attendee removing it from their calendar).
    pub fn delete_event(&self, ical_uid: &str, mailbox: Option<&str>) -> Result<(), EmulatorError> {
        self.shared.change_events(ical_uid, |tenant| {
            tenant.remove_event_copies(ical_uid, |e| mailbox.is_none_or(|m| m == e.mailbox))
        })
    }

    /// One mailbox's events (series masters, not their occurrences).
    pub fn events(&self, user_id: &str) -> Vec<CalendarEvent> {
        self.shared
            .lock()
            .events
            .get(user_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The mailbox's time zone (a Windows name such as "W. Europe Standard Time"); UTC by default.
    pub fn set_mailbox_time_zone(&self, user_id: &str, zone: &str) {
        self.shared
            .lock()
            .time_zones
            .insert(user_id.to_owned(), zone.to_owned());
    }

    /// Ids and expiry of the live subscriptions.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        let mut tenant = self.shared.lock();
        tenant.drop_expired_subscriptions();
        tenant
            .subscriptions
            .values()
            .map(|s| SubscriptionInfo {
                id: s.id.clone(),
                resource: s.resource.clone(),
                change_type: s.change_type_text.clone(),
                notification_url: s.notification_url.clone(),
                lifecycle_notification_url: s.lifecycle_url.clone(),
                client_state: s.client_state.clone(),
                expires_at: s.expires_at,
            })
            .collect()
    }

    /// Sends a lifecycle notification for a subscription; `SubscriptionRemoved` also removes it.
    pub fn trigger_lifecycle(
        &self,
        subscription_id: &str,
        event: LifecycleEvent,
    ) -> Result<(), EmulatorError> {
        self.shared.trigger_lifecycle(subscription_id, event)
    }

    /// Moves the emulator's clock, to expire subscriptions, codes and tokens without waiting.
    pub fn advance_clock(&self, by: TimeDelta) {
        self.shared.lock().advance_clock(by);
    }

    /// Every validation and delivery attempt so far, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.lock().deliveries.clone()
    }

    /// Waits until `done` holds for the delivery log, or `timeout` passes; returns the log.
    pub async fn wait_for_deliveries(
        &self,
        timeout: Duration,
        done: impl Fn(&[DeliveryRecord]) -> bool,
    ) -> Vec<DeliveryRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = self.deliveries();
            if done(&log) || tokio::time::Instant::now() >= deadline {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes every refresh token of a user fail with `invalid_grant` (password reset, revoked
    /// consent).
    pub fn revoke_refresh_tokens(&self, user_id: &str) {
        self.shared
            .lock()
            .refresh_tokens
            .retain(|_, grant| grant.user_id != user_id);
    }

    /// A delegated access token for `user_id`, without the sign-in round trip.
    pub fn user_token(&self, client_id: &str, user_id: &str) -> String {
        identity::issue_access_token(
            &self.shared,
            Principal::User {
                user_id: user_id.to_owned(),
                client_id: client_id.to_owned(),
            },
        )
    }

    /// An application (client credentials) access token.
    pub fn app_token(&self, client_id: &str) -> String {
        identity::issue_access_token(
            &self.shared,
            Principal::App {
                client_id: client_id.to_owned(),
            },
        )
    }

    /// Adds a fault: matching requests get it instead of (or before) their normal answer.
    pub fn inject_fault(&self, rule: FaultRule) {
        self.shared.lock().faults.push(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Requests served per route, keyed like `GET /v1.0/chats/{chat_id}/messages`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.lock().counters.clone()
    }

    pub fn request_count(&self, key: &str) -> u64 {
        self.shared.lock().counters.get(key).copied().unwrap_or(0)
    }

    /// Requests that came over HTTP: every counted request less those run from inside a
    /// `$batch` (a batch of 20 is one request on the wire, as Graph's throttling sees it).
    pub fn requests_on_the_wire(&self) -> u64 {
        let counts = self.request_counts();
        let inside = counts.get(crate::BATCH_ITEMS_KEY).copied().unwrap_or(0);
        let all: u64 = counts
            .iter()
            .filter(|(key, _)| key.as_str() != crate::BATCH_ITEMS_KEY)
            .map(|(_, n)| n)
            .sum();
        all.saturating_sub(inside)
    }

    pub fn reset_request_counts(&self) {
        self.shared.lock().counters.clear();
    }

    /// Stops the server.
    pub fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for GraphEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A live subscription, as the emulator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    pub id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

fn not_found(what: &'static str, id: &str) -> EmulatorError {
    EmulatorError::NotFound {
        what,
        id: id.to_owned(),
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let graph = Router::new()
        .route("/me", get(directory::me))
        .route("/users", get(directory::list_users))
        .route("/users/{id}", get(directory::get_user))
        .route("/me/chats", get(chats::my_chats))
        .route("/users/{id}/chats", get(chats::user_chats))
        .route("/chats/{chat_id}", get(chats::get_chat))
        .route("/chats/{chat_id}/members", get(chats::members))
        .route(
            "/chats/{chat_id}/messages",
            get(chats::list_messages).post(chats::send_message),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}",
            get(chats::get_message).patch(chats::edit_message),
        )
        .route(
            "/users/{id}/chats/{chat_id}/messages/{message_id}",
            get(chats::get_user_chat_message),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}/hostedContents",
            get(files::list_hosted),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}/hostedContents/{hosted_id}",
            get(files::get_hosted),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}/hostedContents/{hosted_id}/$value",
            get(files::hosted_value),
        )
        .route("/shares/{share_id}/driveItem", get(files::drive_item))
        .route(
            "/shares/{share_id}/driveItem/content",
            get(files::drive_item_content),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}/softDelete",
            post(chats::soft_delete),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}/undoSoftDelete",
            post(chats::undo_soft_delete),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}/setReaction",
            post(chats::set_reaction),
        )
        .route(
            "/chats/{chat_id}/messages/{message_id}/unsetReaction",
            post(chats::unset_reaction),
        )
        .route("/me/presence", get(presence::mine))
        .route("/users/{id}/presence", get(presence::get_one))
        .route("/communications/presences/{id}", get(presence::get_one))
        .route(
            "/communications/getPresencesByUserId",
            post(presence::by_user_ids),
        )
        .route(
            "/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/subscriptions/{id}",
            get(subscriptions::get)
                .patch(subscriptions::renew)
                .delete(subscriptions::delete),
        )
        .route(
            "/subscriptions/{id}/reauthorize",
            post(subscriptions::reauthorize),
        )
        .route("/me/calendarView", get(calendar::calendar_view_me))
        .route("/me/calendar/calendarView", get(calendar::calendar_view_me))
        .route(
            "/users/{id}/calendarView",
            get(calendar::calendar_view_user),
        )
        .route(
            "/users/{id}/calendar/calendarView",
            get(calendar::calendar_view_user),
        )
        .route("/me/events/{event_id}", get(calendar::get_event_me))
        .route(
            "/users/{id}/events/{event_id}",
            get(calendar::get_event_user),
        )
        .route(
            "/Users/{id}/Events/{event_id}",
            get(calendar::get_event_user),
        )
        .route("/me/events/{event_id}/{action}", post(calendar::respond_me))
        .route(
            "/users/{id}/events/{event_id}/{action}",
            post(calendar::respond_user),
        )
        .route("/me/mailboxSettings", get(calendar::mailbox_settings_me))
        .route(
            "/users/{id}/mailboxSettings",
            get(calendar::mailbox_settings_user),
        )
        .route("/$batch", post(batch::batch));
    Router::new()
        .nest("/v1.0", graph)
        .route("/_layouts/15/download.aspx", get(files::download))
        .route("/{tenant}/oauth2/v2.0/authorize", get(identity::authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(identity::token))
        .nest("/_emulator", control::routes())
        .route("/_emulator/", get(control::summary))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            faults::middleware,
        ))
        .with_state(shared)
}
