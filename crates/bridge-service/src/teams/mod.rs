//! The Microsoft Teams integration's account linking, wired: `/msteams` commands, the sign-in
//! round trip, message buttons and token refresh, over the `bridge-core` linking flows.

mod buttons;
mod http;
pub mod notify;
mod pages;
mod ports;
mod refresh;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bridge_core::linking::Linker;
use bridge_core::linking::command::{AUTOCOMPLETE_DESCRIPTION, AUTOCOMPLETE_HINT, TRIGGER};
use bridge_core::{Clock, SystemClock};
use mm_client::{CommandSpec, MattermostClient};
use secrecy::SecretString;
use store::{Store, TokenSealer};
use teams_graph::{GraphEndpoints, OAuthClient};

use crate::ServiceError;
use crate::config::{BillingModel, Config};
use notify::{AppGraph, Metrics, NotifyPipeline, NotifySettings};

pub use http::routes;
use ports::{BotMessenger, MattermostDirectory, MicrosoftSignIn, StoreAccounts};
pub use refresh::RefreshReport;

type TeamsLinker = Linker<StoreAccounts, MattermostDirectory, MicrosoftSignIn, BotMessenger>;

/// How the background jobs are paced (from `microsoft.token_refresh_*`).
#[derive(Debug, Clone)]
struct TeamsTiming {
    /// How often the token-refresh job looks for tokens about to expire.
    refresh_interval: Duration,
    /// Tokens are refreshed when they expire within this margin.
    refresh_margin: chrono::TimeDelta,
    /// How long to wait before retrying the Mattermost set-up (bot lookup, command registration).
    setup_retry: Duration,
}

/// What [`TeamsApp::register_commands`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Teams where `/msteams` is registered (now or before).
    pub registered: usize,
    /// Teams where Mattermost failed for a while: tried again later.
    pub retry: Vec<String>,
    /// Teams where Mattermost refused (the trigger is taken, or no permission): not retried.
    pub refused: Vec<String>,
}

/// Everything the Teams endpoints and jobs share.
pub struct TeamsApp {
    linker: TeamsLinker,
    sign_in: MicrosoftSignIn,
    store: Store,
    sealer: Arc<TokenSealer>,
    clock: Arc<dyn Clock>,
    oauth: Arc<OAuthClient>,
    /// The client that registers the command (admin token), when configured.
    admin: Option<Arc<MattermostClient>>,
    /// `<public_url>/mattermost/command`
    command_url: String,
    /// `<public_url>/mattermost/action`
    action_url: String,
    /// Tokens Mattermost sends with `/msteams`: the configured one and those learnt by registering.
    command_tokens: RwLock<Vec<SecretString>>,
    timing: TeamsTiming,
    /// A name for this process in job leases.
    instance: String,
    /// Chat notifications: webhook, workers, subscription.
    notify: Arc<NotifyPipeline>,
}

impl std::fmt::Debug for TeamsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsApp")
            .field("command_url", &self.command_url)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

fn client(
    url: &url::Url,
    token: &SecretString,
    key: &str,
) -> Result<MattermostClient, ServiceError> {
    MattermostClient::new(url, token).map_err(|e| ServiceError::Setup(format!("{key}: {e}")))
}

impl TeamsApp {
    /// Builds the integration from a validated configuration. Contacts nothing; Mattermost set-up
    /// happens in [`TeamsApp::run_jobs`].
    pub fn new(
        config: &Config,
        store: Store,
        sealer: Arc<TokenSealer>,
    ) -> Result<Self, ServiceError> {
        let timing = TeamsTiming {
            refresh_interval: config.microsoft.token_refresh_interval,
            refresh_margin: config.microsoft.token_refresh_margin,
            setup_retry: Duration::from_secs(30),
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mm = &config.mattermost;
        let ms = &config.microsoft;
        let bot = Arc::new(client(&mm.url, &mm.bot_token, "mattermost.bot_token")?);
        let admin = match &mm.admin_token {
            Some(token) => Some(Arc::new(client(&mm.url, token, "mattermost.admin_token")?)),
            None => None,
        };
        let endpoints = GraphEndpoints::new(&ms.graph_url, &ms.login_url, &ms.tenant_id)
            .map_err(|e| ServiceError::Setup(format!("microsoft: {e}")))?;
        let oauth = Arc::new(OAuthClient::new(
            endpoints.clone(),
            ms.client_id.clone(),
            ms.client_secret.clone(),
        ));
        let action_url = config.server.endpoint("/mattermost/action");
        let sign_in = MicrosoftSignIn {
            store: store.clone(),
            sealer: sealer.clone(),
            clock: clock.clone(),
            oauth: oauth.clone(),
            endpoints,
            scopes: teams_graph::scopes::TEAMS,
            connect_url: config.server.endpoint("/oauth/connect"),
            redirect_url: config.server.endpoint("/oauth/redirect"),
        };
        let accounts = StoreAccounts {
            store: store.clone(),
            sealer: sealer.clone(),
            clock: clock.clone(),
        };
        let directory = MattermostDirectory {
            client: admin.clone().unwrap_or_else(|| bot.clone()),
        };
        let messenger = BotMessenger::new(
            bot.clone(),
            sealer.clone(),
            clock.clone(),
            action_url.clone(),
        );
        let linker = Linker::new(accounts, directory, sign_in.clone(), messenger);
        let instance = format!("{}-{}", std::process::id(), uuid_like());
        let metrics = Arc::new(Metrics::new());
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
                sign_in.endpoints.clone(),
                clock.clone(),
                metrics,
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
        Ok(Self {
            linker,
            sign_in,
            store,
            sealer,
            clock,
            oauth,
            admin,
            command_url: config.server.endpoint("/mattermost/command"),
            action_url,
            command_tokens: RwLock::new(mm.command_token.iter().cloned().collect()),
            timing,
            instance,
            notify,
        })
    }

    /// Registers `/msteams` in every team with the admin token (idempotent), learning the tokens
    /// Mattermost will send. A team that fails does not stop the others: the tokens learnt are
    /// kept, and the outcome says which teams are left for the next try.
    pub async fn register_commands(&self) -> Result<Registration, mm_client::MmError> {
        let Some(admin) = &self.admin else {
            return Ok(Registration::default());
        };
        let spec = CommandSpec {
            trigger: TRIGGER.to_owned(),
            url: self.command_url.clone(),
            display_name: "Microsoft Teams".to_owned(),
            description: AUTOCOMPLETE_DESCRIPTION.to_owned(),
            auto_complete_desc: AUTOCOMPLETE_DESCRIPTION.to_owned(),
            auto_complete_hint: AUTOCOMPLETE_HINT.to_owned(),
            username: "msteams".to_owned(),
            ..CommandSpec::default()
        };
        let mut outcome = Registration::default();
        for team in admin.teams().await? {
            match admin.ensure_command(&team.id, &spec).await {
                Ok(command) => {
                    self.learn_command_token(SecretString::from(command.token));
                    outcome.registered += 1;
                }
                Err(err) if err.is_transient() => {
                    tracing::warn!(team = %team.name, error = %err, "could not register the slash command in a team; will retry");
                    outcome.retry.push(team.name);
                }
                Err(err) => {
                    // A conflict (another integration owns the trigger) or a refusal does not go
                    // away by asking again: an admin has to look.
                    tracing::error!(team = %team.name, error = %err, "the slash command cannot be registered in this team; register it by hand (see check-config)");
                    outcome.refused.push(team.name);
                }
            }
        }
        Ok(outcome)
    }

    fn learn_command_token(&self, token: SecretString) {
        if let Ok(mut tokens) = self.command_tokens.write()
            && !tokens.iter().any(|t| http::same_secret(t, &token))
        {
            tokens.push(token);
        }
    }

    /// The background work: Mattermost set-up (retried until it succeeds), then token refresh
    /// every `refresh_interval`, until the process stops.
    pub async fn run_jobs(self: Arc<Self>) {
        let setup = {
            let app = self.clone();
            async move {
                loop {
                    match app.register_commands().await {
                        Ok(outcome) => {
                            if outcome.registered > 0 {
                                tracing::info!(teams = outcome.registered, command = TRIGGER, url = %app.command_url, "slash command registered");
                            }
                            if outcome.retry.is_empty() {
                                break;
                            }
                        }
                        Err(err) if err.is_transient() => {
                            tracing::warn!(error = %err, retry_in = ?app.timing.setup_retry, "could not register the slash command");
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "the slash command cannot be registered; check mattermost.admin_token, or register it by hand (see check-config)");
                            break;
                        }
                    }
                    tokio::time::sleep(app.timing.setup_retry).await;
                }
            }
        };
        let refresh = async {
            let mut ticker = tokio::time::interval(self.timing.refresh_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match self.refresh_due_tokens().await {
                    Ok(report) if report.is_empty() => {}
                    Ok(report) => tracing::info!(?report, "token refresh"),
                    Err(err) => {
                        tracing::warn!(error = %err, "token refresh failed; retrying next round")
                    }
                }
            }
        };
        let notify = self.notify.clone().run(2);
        tokio::join!(setup, refresh, notify);
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
        &self.store
    }
}

/// A short random tag telling replicas apart in job leases.
fn uuid_like() -> String {
    let mut bytes = [0u8; 6];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
