//! The tenant-wide chat-message subscription (`/chats/getAllMessages`), kept by a singleton job
//! (a job lease, so one replica does it): created when missing, renewed well before the expiry
//! Graph returned, recreated when Graph removed it, and reconciled against Graph's own list so a
//! subscription left behind by a crash is adopted or deleted rather than doubled.

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::ExposeSecret as _;
use teams_graph::{NewSubscription, Subscription};

use super::NotifyPipeline;
use crate::graph::CallError;

/// The job lease's name.
const JOB: &str = "teams-chat-subscription";
/// What the stored row is for.
pub(crate) const PURPOSE: &str = "chats";
/// Only new messages are notified, so only creations are asked for (metered APIs bill per
/// notification).
const CHANGE_TYPE: &str = "created";
/// Asked-for lifetime. Graph grants up to three days for chat messages with a lifecycle URL;
/// older tenants cap it at an hour, which [`SHORT_LIFETIME`] falls back to.
const LIFETIME: TimeDelta = TimeDelta::hours(24);
const SHORT_LIFETIME: TimeDelta = TimeDelta::minutes(55);

/// What one run of the job did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SubscriptionReport {
    pub created: bool,
    pub renewed: bool,
    /// Subscriptions we had that Graph no longer has (removed, expired).
    pub lost: usize,
    /// Duplicates deleted at Graph.
    pub deleted: usize,
    /// Another replica holds the job.
    pub skipped: bool,
    /// The subscription's expiry after the run.
    pub expires_at: Option<DateTime<Utc>>,
}

impl NotifyPipeline {
    /// Whether to renew now: with a quarter of the granted lifetime left (six hours of a day,
    /// about a quarter hour of an hour), so a few failed runs still leave time.
    fn renewal_due(
        &self,
        id: &str,
        expires: DateTime<Utc>,
        stored: &[store::GraphSubscription],
        now: DateTime<Utc>,
    ) -> bool {
        let granted = stored
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.expires_at - s.updated_at)
            .filter(|granted| *granted > TimeDelta::zero())
            .unwrap_or(SHORT_LIFETIME);
        expires - now <= granted / 4
    }

    fn wanted(&self, expiration: DateTime<Utc>) -> NewSubscription {
        NewSubscription {
            change_type: CHANGE_TYPE.to_owned(),
            notification_url: self.settings.notification_url.clone(),
            lifecycle_notification_url: Some(self.settings.lifecycle_url.clone()),
            resource: self.settings.resource.clone(),
            expiration,
            client_state: self.webhook_secret.expose_secret().to_owned(),
            include_resource_data: false,
            // Already in `resource` (see the `billing_model` setting).
            model: None,
        }
    }

    /// One run of the subscription job.
    pub async fn ensure_subscription(&self) -> Result<SubscriptionReport, CallError> {
        let now = self.clock.now();
        let Some(lease) = self
            .store
            .try_acquire_job(JOB, &self.instance, now + TimeDelta::minutes(5), now)
            .await
            .map_err(|e| CallError::Transient(format!("taking the subscription job: {e}")))?
        else {
            return Ok(SubscriptionReport {
                skipped: true,
                ..SubscriptionReport::default()
            });
        };
        let result = self.reconcile(now).await;
        if let Err(err) = self.store.release_job(&lease, self.clock.now()).await {
            tracing::debug!(error = %err, "could not release the subscription job lease");
        }
        if let Ok(report) = &result {
            self.metrics
                .set_subscriptions(i64::from(report.expires_at.is_some()));
            let first = !self
                .start_caught_up
                .swap(true, std::sync::atomic::Ordering::SeqCst);
            if first || report.lost > 0 || report.created {
                // Whatever came while the service was down, or while there was no subscription.
                self.request_catch_up();
            }
        }
        result
    }

    async fn reconcile(&self, now: DateTime<Utc>) -> Result<SubscriptionReport, CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let graph = self.graph.client().await?;
        let mut report = SubscriptionReport::default();
        let remote: Vec<Subscription> = graph
            .list_subscriptions()
            .await?
            .into_iter()
            .filter(|s| s.notification_url == self.settings.notification_url)
            .collect();
        let stored = self
            .store
            .subscriptions_for_purpose(PURPOSE)
            .await
            .map_err(store_err)?;
        // Ours that Graph no longer has: forget them (and say so: messages may have been missed).
        let mut live: Vec<(String, DateTime<Utc>)> = Vec::new();
        for s in &stored {
            match remote.iter().find(|r| r.id == s.id) {
                Some(r) => live.push((r.id.clone(), r.expiration_date_time)),
                None => {
                    tracing::warn!(subscription_id = %s.id, "the chat-message subscription is gone at Graph; creating a new one");
                    self.store
                        .delete_subscription(&s.id)
                        .await
                        .map_err(store_err)?;
                    report.lost += 1;
                }
            }
        }
        // Graph's that we do not know (a crash between creating and storing): adopt one of the
        // right resource if we have none, delete the rest, so notifications never come twice.
        for r in &remote {
            if stored.iter().any(|s| s.id == r.id) {
                continue;
            }
            if live.is_empty()
                && r.resource.trim_start_matches('/')
                    == self.settings.resource.trim_start_matches('/')
            {
                self.save(&r.id, &r.resource, r.expiration_date_time, now)
                    .await?;
                live.push((r.id.clone(), r.expiration_date_time));
                tracing::info!(subscription_id = %r.id, "adopted a chat-message subscription found at Graph");
            } else if graph.delete_subscription(&r.id).await? {
                report.deleted += 1;
            }
        }
        // More than one of ours: keep the one that lasts longest.
        live.sort_by_key(|(_, expires)| std::cmp::Reverse(*expires));
        for (id, _) in live.iter().skip(1) {
            if graph.delete_subscription(id).await? {
                report.deleted += 1;
            }
            self.store
                .delete_subscription(id)
                .await
                .map_err(store_err)?;
        }
        match live.first() {
            Some((id, expires)) if !self.renewal_due(id, *expires, &stored, now) => {
                report.expires_at = Some(*expires);
            }
            Some((id, _)) => match self.renew(id, now).await? {
                Some(expires_at) => {
                    report.renewed = true;
                    report.expires_at = Some(expires_at);
                }
                None => {
                    self.store
                        .delete_subscription(id)
                        .await
                        .map_err(store_err)?;
                    report.lost += 1;
                    report.expires_at = Some(self.create(now).await?);
                    report.created = true;
                }
            },
            None => {
                report.expires_at = Some(self.create(now).await?);
                report.created = true;
            }
        }
        Ok(report)
    }

    /// Renews a subscription at Graph (which also reauthorizes it) and stores the expiry Graph
    /// returned; `None` when Graph no longer has it. A tenant that caps lifetimes at an hour
    /// refuses a day: it is renewed for what it grants.
    pub(crate) async fn renew(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, CallError> {
        let graph = self.graph.client().await?;
        let renewed = match graph.renew_subscription(id, now + LIFETIME).await {
            Ok(renewed) => renewed,
            Err(err) => match CallError::from(err) {
                CallError::NotFound => return Ok(None),
                CallError::Permanent(_) => {
                    graph.renew_subscription(id, now + SHORT_LIFETIME).await?
                }
                other => return Err(other),
            },
        };
        self.store
            .renew_subscription(id, renewed.expiration_date_time, now)
            .await
            .map_err(|e| CallError::Transient(format!("store: {e}")))?;
        Ok(Some(renewed.expiration_date_time))
    }

    async fn create(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, CallError> {
        let graph = self.graph.client().await?;
        let created = match graph
            .create_subscription(&self.wanted(now + LIFETIME))
            .await
        {
            Ok(created) => created,
            Err(err) => match CallError::from(err) {
                CallError::Permanent(why) => {
                    tracing::info!(reason = %why, "Graph refused a day-long subscription; asking for an hour");
                    graph
                        .create_subscription(&self.wanted(now + SHORT_LIFETIME))
                        .await?
                }
                other => return Err(other),
            },
        };
        self.save(
            &created.id,
            &created.resource,
            created.expiration_date_time,
            now,
        )
        .await?;
        tracing::info!(subscription_id = %created.id, expires_at = %created.expiration_date_time, resource = %created.resource, "chat-message subscription created");
        Ok(created.expiration_date_time)
    }

    async fn save(
        &self,
        id: &str,
        resource: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), CallError> {
        self.store
            .save_subscription(&store::NewSubscription {
                id,
                purpose: PURPOSE,
                resource,
                change_type: CHANGE_TYPE,
                owner_mm_user_id: None,
                client_state: self.webhook_secret.expose_secret(),
                expires_at,
                now,
            })
            .await
            .map(|_| ())
            .map_err(|e| CallError::Transient(format!("store: {e}")))
    }

    /// Deletes finished inbox items and delivered ledger entries once they are older than the
    /// catch-up horizon plus a day: until then they are what keeps catch-up and Graph's
    /// redeliveries from notifying twice. Dead letters and pending items are never deleted.
    pub(crate) async fn housekeeping(&self) {
        let keep = self.settings.catch_up_horizon.max(TimeDelta::zero()) + TimeDelta::days(1);
        let before = self.clock.now() - keep;
        match self.store.purge_finished_inbox(before).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "old inbox items deleted"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not delete old inbox items"),
        }
        match self.store.purge_deliveries_before(before).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "old delivery records deleted"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not delete old delivery records"),
        }
    }

    /// Whether a chat-message subscription that has not expired is on record.
    pub(crate) async fn active_subscription(&self) -> Result<bool, store::StoreError> {
        let now = self.clock.now();
        Ok(self
            .store
            .subscriptions_for_purpose(PURPOSE)
            .await?
            .iter()
            .any(|s| s.expires_at > now))
    }

    /// Runs the job every `subscription_interval` until the process stops; a failed run is
    /// retried at the next tick.
    pub(crate) async fn run_subscription_job(&self) {
        let mut ticker = tokio::time::interval(self.settings.subscription_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_housekeeping: Option<std::time::Instant> = None;
        loop {
            ticker.tick().await;
            if last_housekeeping
                .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(3600))
            {
                self.housekeeping().await;
                last_housekeeping = Some(std::time::Instant::now());
            }
            match self.ensure_subscription().await {
                Ok(report)
                    if report.created
                        || report.renewed
                        || report.lost > 0
                        || report.deleted > 0 =>
                {
                    tracing::info!(?report, "chat-message subscription");
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "could not keep the chat-message subscription; retrying")
                }
            }
        }
    }
}
