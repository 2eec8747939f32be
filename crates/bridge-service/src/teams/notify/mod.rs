//! Presence-gated Teams chat notifications (T6, T7, B1-B3, S8): Graph's change notifications are
//! stored in the durable inbox by the webhook, workers claim them by lease, fetch the message,
//! the chat's members and their presence, apply the `bridge-core` rules and send the bot DMs,
//! recording each in the delivery ledger so a (message, recipient) pair is notified at most once.
//! A singleton job keeps the tenant-wide chat-message subscription alive.

mod catch_up;
mod metrics;
mod subscription;
mod webhook;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bridge_core::Clock;
use mm_client::MattermostClient;
use secrecy::SecretString;
use store::Store;

use crate::graph::AppGraph;
pub use crate::graph::CallError;
pub use catch_up::CatchUpReport;
pub use metrics::Metrics;
pub use subscription::SubscriptionReport;
pub(crate) use webhook::routes;
pub use worker::BatchReport;

/// How the pipeline is paced and where Graph calls back.
#[derive(Debug, Clone)]
pub(crate) struct NotifySettings {
    /// `<public_url>/graph/notifications`
    pub(crate) notification_url: String,
    /// `<public_url>/graph/lifecycle`
    pub(crate) lifecycle_url: String,
    /// `chats/getAllMessages`, with `?model=A|B` unless in evaluation mode.
    pub(crate) resource: String,
    /// Items claimed per round; their presence is read in one batch.
    pub(crate) batch_size: u32,
    /// How long a claim lasts before another worker may take the item.
    pub(crate) claim_lease: chrono::TimeDelta,
    /// How often the subscription is checked (and renewed when due).
    pub(crate) subscription_interval: Duration,
    /// How long a chat's member list is reused.
    pub(crate) members_ttl: Duration,
    /// Attempts before an item becomes a dead letter.
    pub(crate) max_attempts: i64,
    /// How far back catch-up reads (zero: no catch-up).
    pub(crate) catch_up_horizon: chrono::TimeDelta,
}

/// A chat's kind, topic and members, cached for [`NotifySettings::members_ttl`].
#[derive(Debug, Clone)]
pub(crate) struct ChatInfo {
    pub(crate) kind: bridge_core::notify::model::ChatKind,
    pub(crate) topic: Option<String>,
    pub(crate) members: Vec<bridge_core::notify::model::ChatMember>,
}

/// A cached chat, filled by the first caller; the others wait for that fetch.
#[derive(Debug)]
pub(crate) struct ChatEntry {
    pub(crate) created: std::time::Instant,
    pub(crate) info: tokio::sync::OnceCell<Arc<ChatInfo>>,
}

/// Everything the webhook, the workers and the subscription job share.
pub struct NotifyPipeline {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) webhook_secret: SecretString,
    /// Opens users' sealed tokens for catch-up.
    pub(crate) sealer: Arc<store::TokenSealer>,
    pub(crate) graph: AppGraph,
    pub(crate) bot: Arc<MattermostClient>,
    pub(crate) bot_user_id: tokio::sync::OnceCell<String>,
    pub(crate) settings: NotifySettings,
    /// A name for this process in claims, reservations and job leases.
    pub(crate) instance: String,
    /// Chats by id: one fetch per chat however many workers ask at once, reused for a while.
    chats: Mutex<HashMap<String, Arc<ChatEntry>>>,
    /// Direct channel ids by Mattermost user: opening one is a Mattermost call per DM otherwise.
    dm_channels: Mutex<HashMap<String, String>>,
    /// Mattermost usernames by user id, for mentions.
    usernames: Mutex<HashMap<String, String>>,
    /// Messages with files are delivered two at a time: a file is held in memory while it is
    /// copied, and concurrent deliveries must not multiply that.
    file_copies: tokio::sync::Semaphore,
    wake: tokio::sync::Notify,
    catch_up: tokio::sync::Notify,
    /// Whether this process has asked for its start-up catch-up (after its first subscription
    /// check, so that what arrives meanwhile is not missed and one run covers both).
    start_caught_up: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for NotifyPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyPipeline")
            .field("instance", &self.instance)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl NotifyPipeline {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        webhook_secret: SecretString,
        sealer: Arc<store::TokenSealer>,
        graph: AppGraph,
        bot: Arc<MattermostClient>,
        settings: NotifySettings,
        instance: String,
    ) -> Self {
        Self {
            store,
            clock,
            metrics,
            webhook_secret,
            sealer,
            graph,
            bot,
            bot_user_id: tokio::sync::OnceCell::new(),
            settings,
            instance,
            chats: Mutex::new(HashMap::new()),
            dm_channels: Mutex::new(HashMap::new()),
            usernames: Mutex::new(HashMap::new()),
            file_copies: tokio::sync::Semaphore::new(2),
            wake: tokio::sync::Notify::new(),
            catch_up: tokio::sync::Notify::new(),
            start_caught_up: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// New items are in the inbox: a sleeping worker looks now rather than at its next tick.
    pub(crate) fn wake_workers(&self) {
        self.wake.notify_one();
    }

    /// The cache entry of a chat: the current one, or a fresh empty one when it is missing or
    /// too old.
    pub(crate) fn chat_entry(&self, chat_id: &str) -> Arc<ChatEntry> {
        let ttl = self.settings.members_ttl;
        let fresh = || {
            Arc::new(ChatEntry {
                created: std::time::Instant::now(),
                info: tokio::sync::OnceCell::new(),
            })
        };
        let Ok(mut chats) = self.chats.lock() else {
            return fresh();
        };
        if chats.len() > 50_000 {
            chats.retain(|_, entry| entry.created.elapsed() < ttl);
        }
        let entry = chats.entry(chat_id.to_owned()).or_insert_with(fresh);
        if entry.created.elapsed() >= ttl {
            *entry = fresh();
        }
        entry.clone()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    async fn relay_inbox_signals(&self) {
        let mut listener = match self.store.listen_inbox().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for inbox signals; workers poll every second");
                return;
            }
        };
        loop {
            match listener.recv().await {
                Ok(()) => self.wake.notify_waiters(),
                Err(err) => {
                    tracing::debug!(error = %err, "inbox signal lost; listening again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// The background work: the subscription job and the workers, until the process stops.
    pub async fn run(self: Arc<Self>, workers: usize) {
        let subscription = {
            let pipeline = self.clone();
            async move { pipeline.run_subscription_job().await }
        };
        let mut tasks = Vec::new();
        {
            // Items stored by other replicas (PostgreSQL) wake this one's workers too.
            let pipeline = self.clone();
            tasks.push(tokio::spawn(
                async move { pipeline.relay_inbox_signals().await },
            ));
        }
        {
            let pipeline = self.clone();
            tasks.push(tokio::spawn(
                async move { pipeline.run_catch_up_job().await },
            ));
        }
        for n in 0..workers.max(1) {
            let pipeline = self.clone();
            tasks.push(tokio::spawn(async move { pipeline.run_worker(n).await }));
        }
        subscription.await;
        for task in tasks {
            let _ = task.await;
        }
    }
}
