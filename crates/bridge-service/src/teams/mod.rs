//! The Microsoft Teams integration: `/msteams` commands and buttons over the shared account
//! linking ([`crate::linking`]), and presence-gated chat notifications ([`notify`]).

pub(crate) mod http;
pub mod notify;

use std::sync::Arc;
use std::time::Duration;

use bridge_core::linking::Wording;
use bridge_core::linking::command::{AUTOCOMPLETE_DESCRIPTION, AUTOCOMPLETE_HINT, TRIGGER};
use mm_client::CommandSpec;
use store::{Store, TokenSealer};

use crate::ServiceError;
use crate::config::{BillingModel, Config};
use crate::graph::AppGraph;
use crate::linking::{Linking, ProductLinking};
use crate::metrics::graph_observer;
use notify::{Metrics, NotifyPipeline, NotifySettings};

pub use crate::linking::{RefreshReport, Registration};
pub use http::routes;

/// Everything the Teams endpoints and jobs share.
pub struct TeamsApp {
    /// Account linking: sign-in, command tokens, buttons, token refresh.
    pub(crate) linking: Arc<Linking>,
    /// Chat notifications: webhook, workers, subscription.
    notify: Arc<NotifyPipeline>,
}

impl std::fmt::Debug for TeamsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsApp")
            .field("linking", &self.linking)
            .finish_non_exhaustive()
    }
}

impl TeamsApp {
    /// Builds the integration from a validated configuration. Contacts nothing; Mattermost set-up
    /// happens in [`TeamsApp::run_jobs`].
    pub fn new(
        config: &Config,
        store: Store,
        sealer: Arc<TokenSealer>,
    ) -> Result<Self, ServiceError> {
        let metrics = Arc::new(Metrics::new());
        let linking = Arc::new(Linking::new(
            config,
            store.clone(),
            sealer.clone(),
            ProductLinking {
                scopes: teams_graph::scopes::TEAMS,
                wording: Wording::TEAMS,
                spec: CommandSpec {
                    trigger: TRIGGER.to_owned(),
                    display_name: "Microsoft Teams".to_owned(),
                    description: AUTOCOMPLETE_DESCRIPTION.to_owned(),
                    auto_complete_desc: AUTOCOMPLETE_DESCRIPTION.to_owned(),
                    auto_complete_hint: AUTOCOMPLETE_HINT.to_owned(),
                    username: "msteams".to_owned(),
                    ..CommandSpec::default()
                },
                refresh_job: "teams-token-refresh",
                page_title: "Microsoft Teams for Mattermost",
                graph_observer: graph_observer(&metrics),
            },
        )?);
        let ms = &config.microsoft;
        let clock = linking.clock.clone();
        let oauth = linking.oauth.clone();
        let bot = linking.bot.clone();
        let instance = linking.instance.clone();
        let resource = match ms.billing_model {
            BillingModel::A => "/chats/getAllMessages?model=A",
            BillingModel::B => "/chats/getAllMessages?model=B",
            BillingModel::Evaluation => "/chats/getAllMessages",
        };
        let notify = Arc::new(NotifyPipeline::new(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            ms.webhook_secret.clone(),
            sealer.clone(),
            AppGraph::new(
                oauth.clone(),
                linking.sign_in.endpoints.clone(),
                clock.clone(),
                graph_observer(&metrics),
                ms.graph_rate_limit,
            ),
            bot,
            NotifySettings {
                notification_url: config.server.endpoint("/graph/notifications"),
                lifecycle_url: config.server.endpoint("/graph/lifecycle"),
                resource: resource.to_owned(),
                batch_size: 64,
                claim_lease: ms.notification_lease,
                subscription_interval: Duration::from_secs(60),
                members_ttl: Duration::from_secs(300),
                max_attempts: 10,
                catch_up_horizon: ms.catch_up_horizon,
            },
            instance.clone(),
        ));
        Ok(Self { linking, notify })
    }

    /// Registers `/msteams` in every team with the admin token (idempotent).
    pub async fn register_commands(&self) -> Result<Registration, mm_client::MmError> {
        self.linking.register_commands().await
    }

    /// One round of the token-refresh job.
    pub async fn refresh_due_tokens(
        &self,
    ) -> Result<RefreshReport, bridge_core::linking::ports::PortError> {
        self.linking.refresh_due_tokens().await
    }

    /// The background work: Mattermost set-up and token refresh ([`Linking::run_jobs`]), and the
    /// notification workers and subscription job, until the process stops.
    pub async fn run_jobs(self: Arc<Self>) {
        let linking = self.linking.clone().run_jobs();
        let notify = self.notify.clone().run(2);
        tokio::join!(linking, notify);
    }

    /// Why the integration cannot work now, if it cannot: Mattermost does not answer the bot's
    /// token, or there is no active chat-message subscription (so no notification would come).
    pub async fn readiness_problem(&self) -> Option<String> {
        if let Err(err) = self.notify.bot.me().await {
            return Some(format!("Mattermost does not answer the bot token: {err}"));
        }
        match self.notify.active_subscription().await {
            Ok(true) => None,
            Ok(false) => Some(
                "no active Microsoft Graph chat-message subscription yet (see the log for why)"
                    .to_owned(),
            ),
            Err(err) => Some(format!("cannot read subscriptions: {err}")),
        }
    }

    /// The chat-notification pipeline.
    pub fn notifications(&self) -> &Arc<NotifyPipeline> {
        &self.notify
    }

    pub fn store(&self) -> &Store {
        &self.linking.store
    }
}
