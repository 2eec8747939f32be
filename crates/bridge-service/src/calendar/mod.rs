//! The Microsoft 365 Calendar integration (C1-C6): `/mscalendar` over the shared account linking,
//! the daily summary, reminders, status sync, invitations with answer buttons, and the admins'
//! log copies. The rules are `calendar-core`'s; this module reads calendars (in `$batch`es of up
//! to 20 users, only for the users due), keeps per-user state in the store and talks to
//! Mattermost.
//!
//! Work is driven by per-user schedules in the store (`user_schedules`), claimed by lease so that
//! replicas split it: `summary` (the next daily summary), `watch` (the next reminder, meeting
//! start or end, or re-read of the user's coming events). Event change notifications re-arm
//! `watch` at once, so a new meeting changes the status within a tick of starting.

mod buttons;
mod commands;
mod events;
mod graph;
mod http;
mod messages;
mod metrics;
mod subscriptions;
mod summary;
mod users;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use bridge_core::linking::{BotMessage, Wording};
use calendar_core::command::{AUTOCOMPLETE_DESCRIPTION, AUTOCOMPLETE_HINT, TRIGGER};
use mm_client::{CommandSpec, MattermostClient};
use secrecy::SecretString;
use store::{Store, TokenSealer};

use crate::ServiceError;
use crate::config::{CalendarConfig, Config};
use crate::graph::AppGraph;
use crate::linking::{Linking, ProductLinking};
use crate::metrics::graph_observer;
use metrics::{CalendarMetrics, DmKind};

pub use http::routes;

/// Job names in `user_schedules`.
pub(crate) const JOB_SUMMARY: &str = "calendar.summary";
pub(crate) const JOB_WATCH: &str = "calendar.watch";

/// How the jobs are paced.
#[derive(Debug, Clone)]
pub(crate) struct CalendarTiming {
    /// How often due schedules are looked for.
    pub(crate) tick: Duration,
    /// How old a user's cached coming events may get before they are read again.
    pub(crate) reconcile: chrono::TimeDelta,
    /// How often subscriptions and new links are looked after.
    pub(crate) subscriptions: Duration,
}

/// Everything the calendar endpoints and jobs share.
pub struct CalendarApp {
    pub(crate) linking: Arc<Linking>,
    pub(crate) graph: AppGraph,
    /// Sets users' statuses: the admin client when configured (setting another user's status
    /// needs the `edit_other_users` permission), else the bot.
    pub(crate) status_client: Arc<MattermostClient>,
    pub(crate) webhook_secret: SecretString,
    pub(crate) settings: CalendarConfig,
    pub(crate) timing: CalendarTiming,
    /// `<public_url>/graph/notifications` and `/graph/lifecycle`.
    pub(crate) notification_url: String,
    pub(crate) lifecycle_url: String,
    pub(crate) bot_user_id: tokio::sync::OnceCell<String>,
    /// Wakes the event worker when the webhook stored something.
    pub(crate) wake_events: tokio::sync::Notify,
    /// The counters of `GET /metrics`.
    pub(crate) metrics: Arc<CalendarMetrics>,
}

impl std::fmt::Debug for CalendarApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalendarApp")
            .field("linking", &self.linking)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

fn welcome(login: &str, _notifications: bool) -> BotMessage {
    BotMessage::text(format!(
        "Your Mattermost account is now connected to Microsoft 365 Calendar as **{login}**.\n\n\
         You will get a message for each new invitation (with buttons to answer it) and a \
         reminder before each event. Run `/{TRIGGER} settings` to turn on a daily summary of \
         your day or to show Do Not Disturb during meetings, and `/{TRIGGER} help` for \
         everything else."
    ))
}

fn revoked() -> BotMessage {
    BotMessage::text(format!(
        "Your Microsoft 365 Calendar connection stopped working: Microsoft no longer accepts its \
         sign-in (it was revoked or expired, or your password changed). Run `/{TRIGGER} connect` \
         to connect again; your settings are kept."
    ))
}

/// The calendar's wording of the shared linking texts.
pub(crate) const WORDING: Wording = Wording {
    trigger: TRIGGER,
    service: "Microsoft 365 Calendar",
    welcome,
    revoked,
};

impl CalendarApp {
    /// Builds the integration from a validated configuration. Contacts nothing.
    pub fn new(
        config: &Config,
        store: Store,
        sealer: Arc<TokenSealer>,
    ) -> Result<Self, ServiceError> {
        let metrics = Arc::new(CalendarMetrics::new());
        let linking = Arc::new(Linking::new(
            config,
            store,
            sealer,
            ProductLinking {
                scopes: teams_graph::scopes::CALENDAR,
                wording: WORDING,
                spec: CommandSpec {
                    trigger: TRIGGER.to_owned(),
                    display_name: "Microsoft 365 Calendar".to_owned(),
                    description: AUTOCOMPLETE_DESCRIPTION.to_owned(),
                    auto_complete_desc: AUTOCOMPLETE_DESCRIPTION.to_owned(),
                    auto_complete_hint: AUTOCOMPLETE_HINT.to_owned(),
                    username: "mscalendar".to_owned(),
                    ..CommandSpec::default()
                },
                refresh_job: "calendar-token-refresh",
                page_title: "Microsoft 365 Calendar for Mattermost",
                graph_observer: graph_observer(&metrics),
            },
        )?);
        let ms = &config.microsoft;
        let graph = AppGraph::new(
            linking.oauth.clone(),
            linking.sign_in.endpoints.clone(),
            linking.clock.clone(),
            graph_observer(&metrics),
            ms.graph_rate_limit,
        );
        let status_client = linking.admin.clone().unwrap_or_else(|| linking.bot.clone());
        Ok(Self {
            graph,
            status_client,
            webhook_secret: ms.webhook_secret.clone(),
            settings: config.calendar.clone(),
            timing: CalendarTiming {
                tick: config.calendar.tick_interval,
                reconcile: config.calendar.reconcile_interval,
                subscriptions: Duration::from_secs(60),
            },
            notification_url: config.server.endpoint("/graph/notifications"),
            lifecycle_url: config.server.endpoint("/graph/lifecycle"),
            bot_user_id: tokio::sync::OnceCell::new(),
            wake_events: tokio::sync::Notify::new(),
            metrics,
            linking,
        })
    }

    pub fn store(&self) -> &Store {
        &self.linking.store
    }

    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.linking.clock.now()
    }

    pub(crate) fn bot(&self) -> &Arc<MattermostClient> {
        &self.linking.bot
    }

    /// A name for this process in claims and leases.
    pub(crate) fn instance(&self) -> &str {
        &self.linking.instance
    }

    /// The bot's own user id, asked once.
    pub(crate) async fn bot_user_id(&self) -> Result<&str, mm_client::MmError> {
        self.bot_user_id
            .get_or_try_init(|| async { self.bot().me().await.map(|me| me.id) })
            .await
            .map(String::as_str)
    }

    /// Whether `mm_user_id` may run the admin subcommands: a configured admin user id, or a
    /// Mattermost system admin.
    pub(crate) async fn is_admin(&self, mm_user_id: &str) -> bool {
        if self
            .settings
            .admin_user_ids
            .iter()
            .any(|id| id == mm_user_id)
        {
            return true;
        }
        match self.bot().user(mm_user_id).await {
            Ok(user) => user.is_system_admin(),
            Err(err) => {
                tracing::warn!(error = %err, mm_user_id, "could not read a user's roles");
                false
            }
        }
    }

    /// The background work until the process stops: linking's (command registration, token
    /// refresh), then the summary, watch, event and subscription jobs.
    pub async fn run_jobs(self: Arc<Self>) {
        // The admins' copies of warnings and errors (C6), when `calendar.admin_log_level` is set
        // (the layer was installed with the log subscriber).
        if let Some(receiver) = crate::admin_log::take_receiver() {
            let metrics = self.metrics.clone();
            tokio::spawn(crate::admin_log::forward(
                receiver,
                self.bot().clone(),
                self.settings.admin_user_ids.clone(),
                move || metrics.dm_sent(DmKind::AdminLog),
            ));
        }
        let linking = self.linking.clone().run_jobs();
        let summary = self.clone().run_summaries();
        let watch = self.clone().run_watch();
        let events = self.clone().run_event_worker();
        let subscriptions = self.clone().run_subscriptions();
        tokio::join!(linking, summary, watch, events, subscriptions);
    }

    /// Why the integration cannot work now, if it cannot: Mattermost does not answer the bot's
    /// token.
    pub async fn readiness_problem(&self) -> Option<String> {
        match self.bot().me().await {
            Ok(_) => None,
            Err(err) => Some(format!("Mattermost does not answer the bot token: {err}")),
        }
    }
}
