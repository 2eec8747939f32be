//! The calendar endpoints: `POST /mattermost/command` (`/mscalendar`), `POST /mattermost/action`
//! (its buttons), `POST /graph/notifications` and `POST /graph/lifecycle` (event changes), and
//! `GET /metrics`; the sign-in round trip is shared ([`crate::linking`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use calendar_core::command::TRIGGER;
use calendar_core::status::{self, SyncState};
use mm_client::{ActionRequest, ActionResponse, CommandResponse, PostProps, PostUpdate};
use secrecy::ExposeSecret as _;
use store::NewInboxItem;
use teams_graph::calendar::EventResponse;
use teams_graph::notifications::ChangeNotification;

use super::buttons::{self, CalendarAction, Rejected};
use super::commands::{Reply, settings_message};
use super::events::{KIND_EVENT, KIND_LIFECYCLE, event_id};
use super::metrics::{ClickOutcome, NotificationOutcome, ScrapeGauge};
use super::{CalendarApp, JOB_SUMMARY, JOB_WATCH};
use crate::graph::{BODY_LIMIT, checked_items, handshake, without_client_state};

/// The routes of the calendar integration.
pub fn routes(app: Arc<CalendarApp>) -> Router {
    Router::new()
        .route("/mattermost/command", post(command))
        .route("/mattermost/action", post(action))
        .route("/metrics", get(metrics))
        .route("/graph/notifications", post(change_notifications))
        .route("/graph/lifecycle", post(lifecycle_notifications))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app.clone())
        .merge(crate::linking::oauth_routes(app.linking.clone()))
}

fn render(app: &CalendarApp, user_id: &str, reply: &Reply) -> Option<PostProps> {
    buttons::render(
        &reply.buttons,
        &app.linking.sealer,
        &app.linking.action_url,
        user_id,
        app.now(),
    )
}

/// `POST /mattermost/command`: a `/mscalendar` invocation, form-encoded as Mattermost sends it.
async fn command(State(app): State<Arc<CalendarApp>>, body: Bytes) -> Response {
    let call = match app.linking.command_call(&body) {
        Ok(call) => call,
        Err(refused) => return *refused,
    };
    let (user_id, text) = (call.user_id.as_str(), call.text.as_str());
    let reply = app.command(user_id, text).await;
    let mut response = CommandResponse::ephemeral(reply.text.clone());
    if let Some(props) = render(&app, user_id, &reply) {
        response.attachments = props.attachments;
    }
    axum::Json(response).into_response()
}

fn note(text: impl Into<String>) -> Response {
    axum::Json(ActionResponse::ephemeral(text)).into_response()
}

/// `POST /mattermost/action`: a click on one of our buttons.
async fn action(State(app): State<Arc<CalendarApp>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<ActionRequest>(&body) else {
        app.metrics.button_click(ClickOutcome::Malformed);
        return (
            StatusCode::BAD_REQUEST,
            "expected an interactive message action",
        )
            .into_response();
    };
    let action = match buttons::open(
        &app.linking.sealer,
        &request.context,
        &request.user_id,
        app.now(),
    ) {
        Ok(action) => action,
        Err(rejected) => {
            tracing::warn!(user_id = %request.user_id, post_id = %request.post_id, ?rejected, "button click refused");
            app.metrics.button_click(match rejected {
                Rejected::Invalid => ClickOutcome::Invalid,
                Rejected::WrongUser => ClickOutcome::WrongUser,
                Rejected::TooOld => ClickOutcome::Expired,
            });
            return note(match rejected {
                Rejected::Invalid => format!(
                    "This button is not valid; nothing was changed. Run `/{TRIGGER} settings` for current buttons."
                ),
                Rejected::WrongUser => {
                    "This button was made for someone else; nothing was changed.".to_owned()
                }
                Rejected::TooOld => format!(
                    "This button has expired; nothing was changed. Run `/{TRIGGER} settings` for current buttons."
                ),
            });
        }
    };
    let user_id = request.user_id.as_str();
    let result = match action {
        CalendarAction::Setting(words) => app.click_setting(user_id, &words).await,
        CalendarAction::Respond { response, event_id } => {
            app.click_respond(user_id, &request.post_id, &response, &event_id)
                .await
        }
        CalendarAction::ConfirmStatus { accept, event_id } => {
            app.click_confirm(user_id, accept, &event_id).await
        }
    };
    match result {
        Ok(response) => {
            app.metrics.button_click(ClickOutcome::Ok);
            axum::Json(response).into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, user_id, "button click failed");
            app.metrics.button_click(ClickOutcome::Failed);
            note(bridge_core::linking::replies::try_again_later())
        }
    }
}

impl CalendarApp {
    async fn click_setting(
        &self,
        user_id: &str,
        words: &str,
    ) -> Result<ActionResponse, super::commands::Failure> {
        // The button carries the command's own words; parsing them again keeps one grammar.
        let text = if words.starts_with("summary") {
            words.to_owned()
        } else {
            format!("settings {words}")
        };
        let reply = self.command(user_id, &text).await;
        let settings = self.user_settings(user_id).await?;
        let message = settings_message(&settings);
        Ok(ActionResponse {
            update: Some(PostUpdate {
                message: message.text.clone(),
                props: Some(render(self, user_id, &message).unwrap_or_default()),
            }),
            ephemeral_text: Some(reply.text.lines().next().unwrap_or("").to_owned()),
            ..ActionResponse::default()
        })
    }

    async fn click_respond(
        &self,
        user_id: &str,
        post_id: &str,
        response: &str,
        event_id: &str,
    ) -> Result<ActionResponse, super::commands::Failure> {
        let (answer, said) = match response {
            "accept" => (EventResponse::Accept, "You accepted."),
            "tentative" => (EventResponse::Tentative, "You tentatively accepted."),
            "decline" => (EventResponse::Decline, "You declined."),
            _ => return Ok(ActionResponse::ephemeral("This button is not valid.")),
        };
        let Some(user) = self.calendar_user(user_id).await? else {
            return Ok(ActionResponse::ephemeral(format!(
                "Your account is not connected any more. Run `/{TRIGGER} connect`, then answer in Outlook."
            )));
        };
        if let Err(err) = self.respond(&user, event_id, answer).await {
            tracing::warn!(error = %err, user_id, "could not answer an invitation");
            return Ok(ActionResponse::ephemeral(format!(
                "Microsoft 365 did not take your answer ({err}); nothing was changed. Try again, or answer in Outlook."
            )));
        }
        // The post keeps its text, says the answer, and loses its buttons.
        let message = match self.bot().get_post(post_id).await {
            Ok(post) => format!("{}\n\n**{said}**", post.message),
            Err(_) => format!("**{said}**"),
        };
        Ok(ActionResponse {
            update: Some(PostUpdate::plain(message)),
            ..ActionResponse::default()
        })
    }

    async fn click_confirm(
        &self,
        user_id: &str,
        accept: bool,
        event_id: &str,
    ) -> Result<ActionResponse, super::commands::Failure> {
        let Some(user) = self.calendar_user(user_id).await? else {
            return Ok(ActionResponse::ephemeral(
                "Your account is not connected any more.",
            ));
        };
        if user.status.asked_event() != Some(event_id) {
            return Ok(ActionResponse {
                update: Some(PostUpdate::plain(
                    "This question is over: the meeting ended or another took its place.",
                )),
                ..ActionResponse::default()
            });
        }
        let statuses = self.status_client.statuses(&[user_id.to_owned()]).await?;
        let current = statuses
            .first()
            .and_then(|s| status::MmStatus::parse(&s.status))
            .unwrap_or(status::MmStatus::Online);
        let custom = self.current_custom_status(user_id).await?;
        let transition = status::confirm(
            &user.status,
            accept,
            &user.settings.status,
            current,
            custom.as_ref(),
            self.now(),
        );
        self.apply_status_actions(&user, &transition.actions)
            .await?;
        self.save_status_state(user_id, &transition.state).await?;
        self.count_status_change(&user.status, &transition, current, false, Some(accept));
        let text = match (&transition.state, accept) {
            (SyncState::Applied { .. }, _) => {
                "Your status is set for this meeting; it goes back afterwards."
            }
            (_, true) => "Your status was left as it is.",
            (_, false) => "Your status is left alone for this meeting.",
        };
        // The watch job looks again at the end of the meeting.
        let now = self.now();
        self.store()
            .set_schedule(user_id, JOB_WATCH, Some(now), now)
            .await?;
        Ok(ActionResponse {
            update: Some(PostUpdate::plain(text)),
            ..ActionResponse::default()
        })
    }
}

/// `GET /metrics`: the counters, and a few gauges read from the store at scrape time (one the
/// store cannot tell now is left out).
async fn metrics(State(app): State<Arc<CalendarApp>>) -> Response {
    let now = app.now();
    let store = app.store();
    let mut gauges = Vec::new();
    let mut gauge = |name, help, value: Result<u64, store::StoreError>| match value {
        Ok(value) => gauges.push(ScrapeGauge { name, help, value }),
        Err(err) => tracing::debug!(error = %err, name, "could not read a gauge for /metrics"),
    };
    gauge(
        "connected_users",
        "Mattermost users with a connected Microsoft account.",
        store.count_connected_links().await,
    );
    gauge(
        "summaries_due",
        "Daily summaries due now and not sent yet.",
        store.count_due_schedules(JOB_SUMMARY, now).await,
    );
    gauge(
        "watch_due",
        "Users whose reminders or status are due for a look.",
        store.count_due_schedules(JOB_WATCH, now).await,
    );
    gauge(
        "event_subscriptions",
        "Graph event subscriptions held.",
        store
            .subscriptions_for_purpose(super::subscriptions::PURPOSE)
            .await
            .map(|s| s.len() as u64),
    );
    if let Ok(counts) = store.inbox_counts(now).await {
        gauge(
            "inbox_pending",
            "Event notifications waiting.",
            Ok(counts.pending),
        );
        gauge(
            "inbox_dead",
            "Event notifications given up on.",
            Ok(counts.dead),
        );
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        app.metrics.render(&gauges),
    )
        .into_response()
}

async fn change_notifications(
    State(app): State<Arc<CalendarApp>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match handshake(query.as_deref()) {
        Some(response) => response,
        None => accept(&app, false, &body).await,
    }
}

async fn lifecycle_notifications(
    State(app): State<Arc<CalendarApp>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match handshake(query.as_deref()) {
        Some(response) => response,
        None => accept(&app, true, &body).await,
    }
}

/// What to store for one valid item.
fn inbox_item(lifecycle: bool, item: &ChangeNotification, raw: &str) -> Option<NewInboxItem> {
    if lifecycle {
        item.lifecycle_event.as_ref()?;
        return Some(NewInboxItem {
            kind: KIND_LIFECYCLE.to_owned(),
            dedupe_key: None,
            payload: without_client_state(raw),
        });
    }
    let id = event_id(item)?;
    // A redelivered "created" lands on one row; updates are not deduplicated (each may carry a
    // new time or place), the ledger keeps their DMs to one per version.
    let dedupe_key =
        (item.change_type == "created").then(|| format!("created:{}:{id}", item.subscription_id));
    Some(NewInboxItem {
        kind: KIND_EVENT.to_owned(),
        dedupe_key,
        payload: without_client_state(raw),
    })
}

async fn accept(app: &CalendarApp, lifecycle: bool, body: &[u8]) -> Response {
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let items = match checked_items(
        body,
        app.webhook_secret.expose_secret(),
        |item, raw| inbox_item(lifecycle, item, raw).ok_or("not_an_event"),
        |reason| {
            *counts.entry(reason).or_default() += 1;
            app.metrics
                .notifications(lifecycle, NotificationOutcome::discarded(reason), 1);
        },
    ) {
        Ok(items) => items,
        Err(refused) => {
            app.metrics
                .notifications(lifecycle, NotificationOutcome::Malformed, 1);
            return *refused;
        }
    };
    if !counts.is_empty() {
        tracing::debug!(?counts, "Graph notification items dropped");
    }
    if !items.is_empty() {
        if let Err(err) = app.store().enqueue(&items, app.now()).await {
            // Not stored, so not acknowledged: Graph retries, and nothing is lost.
            tracing::error!(error = %err, "could not store Graph notifications; answering 503 so that Graph retries");
            app.metrics
                .notifications(lifecycle, NotificationOutcome::Unavailable, items.len());
            return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response();
        }
        app.metrics
            .notifications(lifecycle, NotificationOutcome::Accepted, items.len());
        app.wake_events.notify_one();
    }
    StatusCode::ACCEPTED.into_response()
}
