//! Account linking, shared by both products: the sign-in round trip (`/oauth/connect`,
//! `/oauth/redirect`), slash-command registration and token checks, sealed message buttons and
//! the token-refresh job, over the `bridge-core` linking flows. Each product adds its own commands
//! and jobs on top ([`crate::teams`], [`crate::calendar`]).

pub(crate) mod buttons;
mod http;
pub(crate) mod pages;
pub(crate) mod ports;
mod refresh;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bridge_core::linking::{Linker, Wording};
use bridge_core::{Clock, SystemClock};
use mm_client::{CommandSpec, MattermostClient};
use secrecy::SecretString;
use store::{Store, TokenSealer};
use teams_graph::{GraphEndpoints, GraphObserver, OAuthClient};

use crate::ServiceError;
use crate::config::Config;
pub use http::oauth_routes;
pub(crate) use http::same_secret;
use ports::{BotMessenger, MattermostDirectory, MicrosoftSignIn, StoreAccounts};
pub use refresh::RefreshReport;

pub(crate) type ProductLinker =
    Linker<StoreAccounts, MattermostDirectory, MicrosoftSignIn, BotMessenger>;

/// How the background jobs are paced (from `microsoft.token_refresh_*`).
#[derive(Debug, Clone)]
pub(crate) struct LinkTiming {
    /// How often the token-refresh job looks for tokens about to expire.
    pub(crate) refresh_interval: Duration,
    /// Tokens are refreshed when they expire within this margin.
    pub(crate) refresh_margin: chrono::TimeDelta,
    /// How long to wait before retrying the Mattermost set-up (bot lookup, command registration).
    pub(crate) setup_retry: Duration,
}

/// What [`Linking::register_commands`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Teams where the command is registered (now or before).
    pub registered: usize,
    /// Teams where Mattermost failed for a while: tried again later.
    pub retry: Vec<String>,
    /// Teams where Mattermost refused (the trigger is taken, or no permission): not retried.
    pub refused: Vec<String>,
}

/// Everything account linking needs, for one product.
pub struct Linking {
    pub(crate) linker: ProductLinker,
    pub(crate) sign_in: MicrosoftSignIn,
    pub(crate) store: Store,
    pub(crate) sealer: Arc<TokenSealer>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) oauth: Arc<OAuthClient>,
    /// The bot's client: DMs, posts.
    pub(crate) bot: Arc<MattermostClient>,
    /// The client that registers the command (admin token), when configured.
    pub(crate) admin: Option<Arc<MattermostClient>>,
    /// The delegated scopes the product asks for (also used when refreshing).
    pub(crate) scopes: &'static [&'static str],
    /// `<public_url>/mattermost/command`
    pub(crate) command_url: String,
    /// `<public_url>/mattermost/action`
    pub(crate) action_url: String,
    /// Tokens Mattermost sends with the command: the configured one and those learnt by
    /// registering.
    pub(crate) command_tokens: RwLock<Vec<SecretString>>,
    pub(crate) timing: LinkTiming,
    /// A name for this process in job leases.
    pub(crate) instance: String,
    /// The registered command: trigger, names, autocomplete.
    spec: CommandSpec,
    /// The token-refresh job's lease name.
    refresh_job: &'static str,
    /// Title of the sign-in pages.
    pub(crate) page_title: &'static str,
    /// Told after a sign-in ended (a link may be new): the product's jobs look at once.
    pub(crate) signed_in: tokio::sync::Notify,
}

impl std::fmt::Debug for Linking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linking")
            .field("command_url", &self.command_url)
            .field("trigger", &self.spec.trigger)
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

/// What a product brings to linking.
#[derive(Clone)]
pub(crate) struct ProductLinking {
    pub(crate) scopes: &'static [&'static str],
    pub(crate) wording: Wording,
    /// The command to register; `url` is filled in.
    pub(crate) spec: CommandSpec,
    pub(crate) refresh_job: &'static str,
    pub(crate) page_title: &'static str,
    /// Told of the Graph requests of the sign-in (the product's metrics).
    pub(crate) graph_observer: GraphObserver,
}

impl std::fmt::Debug for ProductLinking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductLinking")
            .field("spec", &self.spec)
            .field("refresh_job", &self.refresh_job)
            .finish_non_exhaustive()
    }
}

impl Linking {
    /// Builds linking from a validated configuration. Contacts nothing.
    pub(crate) fn new(
        config: &Config,
        store: Store,
        sealer: Arc<TokenSealer>,
        product: ProductLinking,
    ) -> Result<Self, ServiceError> {
        let timing = LinkTiming {
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
        let command_url = config.server.endpoint("/mattermost/command");
        let sign_in = MicrosoftSignIn {
            store: store.clone(),
            sealer: sealer.clone(),
            clock: clock.clone(),
            oauth: oauth.clone(),
            endpoints,
            scopes: product.scopes,
            connect_url: config.server.endpoint("/oauth/connect"),
            redirect_url: config.server.endpoint("/oauth/redirect"),
            observer: product.graph_observer.clone(),
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
        let linker = Linker::new(accounts, directory, sign_in.clone(), messenger)
            .with_wording(product.wording);
        Ok(Self {
            linker,
            sign_in,
            store,
            sealer,
            clock,
            oauth,
            bot,
            admin,
            scopes: product.scopes,
            spec: CommandSpec {
                url: command_url.clone(),
                ..product.spec
            },
            command_url,
            action_url,
            command_tokens: RwLock::new(mm.command_token.iter().cloned().collect()),
            timing,
            instance: format!("{}-{}", std::process::id(), uuid_like()),
            refresh_job: product.refresh_job,
            page_title: product.page_title,
            signed_in: tokio::sync::Notify::new(),
        })
    }

    /// The slash command without its slash.
    pub fn trigger(&self) -> &str {
        &self.spec.trigger
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether `token` is one Mattermost sends with our command.
    pub(crate) fn accepts_command_token(&self, token: &SecretString) -> bool {
        use secrecy::ExposeSecret as _;
        !token.expose_secret().is_empty()
            && self
                .command_tokens
                .read()
                .map(|tokens| tokens.iter().any(|t| same_secret(t, token)))
                .unwrap_or(false)
    }

    /// Registers the slash command in every team with the admin token (idempotent), learning the
    /// tokens Mattermost will send. A team that fails does not stop the others: the tokens learnt
    /// are kept, and the outcome says which teams are left for the next try.
    pub async fn register_commands(&self) -> Result<Registration, mm_client::MmError> {
        let Some(admin) = &self.admin else {
            return Ok(Registration::default());
        };
        let mut outcome = Registration::default();
        for team in admin.teams().await? {
            match admin.ensure_command(&team.id, &self.spec).await {
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
            && !tokens.iter().any(|t| same_secret(t, &token))
        {
            tokens.push(token);
        }
    }

    /// The background work of linking: Mattermost set-up (retried until it succeeds), then token
    /// refresh every `refresh_interval`, until the process stops.
    pub async fn run_jobs(self: Arc<Self>) {
        let setup = async {
            loop {
                match self.register_commands().await {
                    Ok(outcome) => {
                        if outcome.registered > 0 {
                            tracing::info!(teams = outcome.registered, command = %self.spec.trigger, url = %self.command_url, "slash command registered");
                        }
                        if outcome.retry.is_empty() {
                            break;
                        }
                    }
                    Err(err) if err.is_transient() => {
                        tracing::warn!(error = %err, retry_in = ?self.timing.setup_retry, "could not register the slash command");
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "the slash command cannot be registered; check mattermost.admin_token, or register it by hand (see check-config)");
                        break;
                    }
                }
                tokio::time::sleep(self.timing.setup_retry).await;
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
        tokio::join!(setup, refresh);
    }
}

/// A short random tag telling replicas apart in job leases.
fn uuid_like() -> String {
    let mut bytes = [0u8; 6];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
