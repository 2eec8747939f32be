//! Catch-up (B1): after downtime, a removed subscription or Graph's `missed` event, the linked
//! users' chats are read since where the bridge last saw them (with each user's own delegated
//! token) and the messages fed to the inbox as if Graph had notified them. The inbox's dedupe key
//! and the delivery ledger keep this from notifying anything twice; the horizon and each user's
//! connection time keep it from notifying anything old.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use store::{AccountLink, NewInboxItem};
use teams_graph::GraphClient;

use super::NotifyPipeline;
use super::webhook::{KIND_MESSAGE, message_dedupe_key};
use crate::graph::CallError;

/// The job lease's name: one replica catches up at a time.
const JOB: &str = "teams-catch-up";
/// Links read per page.
const PAGE: u32 = 200;

/// What one catch-up did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CatchUpReport {
    pub users: usize,
    /// Users skipped because their token has expired (the refresh job renews it).
    pub users_without_token: usize,
    pub chats: usize,
    /// Messages put in the inbox (not already there).
    pub queued: u64,
    /// Users whose chats could not be listed, and chats that could not be read: the job runs
    /// again a minute later.
    pub failed_users: usize,
    pub failed_chats: usize,
    pub skipped: bool,
}

impl NotifyPipeline {
    /// Asks the catch-up task to run soon.
    pub(crate) fn request_catch_up(&self) {
        self.catch_up.notify_one();
    }

    /// Runs catch-up whenever asked, until the process stops.
    pub(crate) async fn run_catch_up_job(&self) {
        loop {
            self.catch_up.notified().await;
            match self.catch_up_now().await {
                Ok(report) if report.failed_users > 0 || report.failed_chats > 0 => {
                    tracing::warn!(?report, "catch-up incomplete; trying again in a minute");
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    self.catch_up.notify_one();
                }
                Ok(report) if report.queued > 0 => {
                    tracing::info!(?report, "chat messages caught up");
                }
                Ok(report) => tracing::debug!(?report, "catch-up found nothing new"),
                Err(err) => {
                    tracing::warn!(error = %err, "catch-up failed; retrying in a minute");
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    self.catch_up.notify_one();
                }
            }
        }
    }

    /// One catch-up over every connected user.
    pub async fn catch_up_now(&self) -> Result<CatchUpReport, CallError> {
        let horizon = self.settings.catch_up_horizon;
        if horizon <= TimeDelta::zero() {
            return Ok(CatchUpReport::default());
        }
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let now = self.clock.now();
        let Some(lease) = self
            .store
            .try_acquire_job(JOB, &self.instance, now + TimeDelta::minutes(30), now)
            .await
            .map_err(store_err)?
        else {
            return Ok(CatchUpReport {
                skipped: true,
                ..CatchUpReport::default()
            });
        };
        let mut report = CatchUpReport::default();
        let mut seen = HashSet::new();
        let mut after: Option<String> = None;
        let result = loop {
            let links = match self
                .store
                .connected_links(after.as_deref(), PAGE)
                .await
                .map_err(store_err)
            {
                Ok(links) => links,
                Err(err) => break Err(err),
            };
            let Some(last) = links.last() else {
                break Ok(());
            };
            after = Some(last.mm_user_id.clone());
            for link in &links {
                if let Err(err) = self
                    .catch_up_user(link, now - horizon, now, &mut seen, &mut report)
                    .await
                {
                    // One user's failure (a revoked token, a throttled call) does not stop the
                    // others; the next catch-up tries again.
                    tracing::warn!(mm_user_id = %link.mm_user_id, error = %err, "could not catch up a user's chats");
                    report.failed_users += 1;
                }
            }
        };
        if let Err(err) = self.store.release_job(&lease, self.clock.now()).await {
            tracing::debug!(error = %err, "could not release the catch-up lease");
        }
        result.map(|()| report)
    }

    async fn catch_up_user(
        &self,
        link: &AccountLink,
        horizon_start: DateTime<Utc>,
        started: DateTime<Utc>,
        seen: &mut HashSet<String>,
        report: &mut CatchUpReport,
    ) -> Result<(), CallError> {
        let Some(client) = self.user_client(link)? else {
            report.users_without_token += 1;
            return Ok(());
        };
        report.users += 1;
        // Nothing from before the user connected: they did not ask for it then.
        let floor = horizon_start.max(link.connected_at);
        for chat_id in client.my_chats().await? {
            if seen.contains(&chat_id) {
                continue;
            }
            match self.catch_up_chat(&client, &chat_id, floor, started).await {
                Ok(queued) => {
                    // Done for this run; another member's token is tried if this one failed.
                    seen.insert(chat_id);
                    report.chats += 1;
                    report.queued += queued;
                }
                Err(err) => {
                    tracing::warn!(chat_id = %chat_id, error = %err, "could not catch up a chat; trying again later");
                    report.failed_chats += 1;
                }
            }
        }
        Ok(())
    }

    /// Reads one chat since its watermark and queues what is new. The watermark (the chat
    /// cursor) says "read through this time" and only catch-up moves it: live traffic must not, or
    /// a message lost just before it would never be read.
    async fn catch_up_chat(
        &self,
        client: &GraphClient,
        chat_id: &str,
        floor: DateTime<Utc>,
        started: DateTime<Utc>,
    ) -> Result<u64, CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let since = match self.store.chat_cursor(chat_id).await.map_err(store_err)? {
            Some(cursor) => cursor.last_message_at.max(floor),
            None => floor,
        };
        let messages = client.chat_messages_since(chat_id, since, 50).await?;
        let items: Vec<NewInboxItem> = messages
            .iter()
            // Created after the watermark: an old message edited since is not news.
            .filter(|m| m.created_date_time.is_some_and(|at| at > since))
            .filter(|m| m.message_type == "message")
            .map(|m| NewInboxItem {
                kind: KIND_MESSAGE.to_owned(),
                dedupe_key: Some(message_dedupe_key(chat_id, &m.id)),
                payload: serde_json::json!({
                    "subscriptionId": "catch-up",
                    "changeType": "created",
                    "resource": format!("chats('{chat_id}')/messages('{}')", m.id),
                })
                .to_string(),
            })
            .collect();
        let queued = if items.is_empty() {
            0
        } else {
            let n = self
                .store
                .enqueue(&items, self.clock.now())
                .await
                .map_err(store_err)?;
            self.wake_workers();
            n
        };
        // Everything created before this run started (less a minute for clock skew between
        // Graph and us) has now been read or is in the inbox.
        self.store
            .advance_chat_cursor(
                chat_id,
                started - TimeDelta::minutes(1),
                "catch-up",
                self.clock.now(),
            )
            .await
            .map_err(store_err)?;
        Ok(queued)
    }

    /// A Graph client with the user's delegated token, if it has not expired.
    fn user_client(&self, link: &AccountLink) -> Result<Option<GraphClient>, CallError> {
        crate::graph::delegated_client(
            &self.sealer,
            self.graph.endpoints(),
            link,
            self.clock.now(),
            crate::metrics::graph_observer(&self.metrics),
        )
    }
}
