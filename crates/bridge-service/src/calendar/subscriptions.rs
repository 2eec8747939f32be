//! One event subscription per connected user (C4), kept by a singleton job (a lease, so one
//! replica does it): created for new links, renewed with a quarter of its lifetime left, recreated
//! when Graph lost it, deleted when the user disconnects. The same pass reads the mailbox time
//! zones it does not know yet (or that are a day old), twenty users a request, and sets up the
//! schedules of newly connected users.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::ExposeSecret as _;
use store::{AccountLink, GraphSubscription};
use teams_graph::{GraphError, NewSubscription};

use super::CalendarApp;
use crate::graph::CallError;

const JOB: &str = "calendar-subscriptions";
pub(crate) const PURPOSE: &str = "calendar-events";
const CHANGE_TYPE: &str = "created,updated,deleted";
/// Graph allows Outlook event subscriptions 4,230 minutes; a little less is asked.
const LIFETIME: TimeDelta = TimeDelta::minutes(4200);
/// Time zones are read again after this.
const TIME_ZONE_AGE: TimeDelta = TimeDelta::hours(24);

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SubscriptionsReport {
    pub created: usize,
    pub renewed: usize,
    pub deleted: usize,
    pub failed: usize,
    pub time_zones: usize,
    /// Another replica holds the job.
    pub skipped: bool,
}

impl std::fmt::Display for SubscriptionsReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} renewed, {} deleted, {} failed",
            self.created, self.renewed, self.deleted, self.failed
        )
    }
}

fn renewal_due(subscription: &GraphSubscription, now: DateTime<Utc>) -> bool {
    subscription.expires_at - now < LIFETIME / 4
}

impl CalendarApp {
    fn wanted(&self, link: &AccountLink, now: DateTime<Utc>) -> NewSubscription {
        NewSubscription {
            change_type: CHANGE_TYPE.to_owned(),
            notification_url: self.notification_url.clone(),
            lifecycle_notification_url: Some(self.lifecycle_url.clone()),
            resource: format!("/users/{}/events", link.teams_user_id),
            expiration: now + LIFETIME,
            client_state: self.webhook_secret.expose_secret().to_owned(),
            include_resource_data: false,
            model: None,
        }
    }

    pub(crate) async fn run_subscriptions(self: Arc<Self>) {
        loop {
            match self.subscriptions_pass(false).await {
                Ok(report) if report.skipped => {}
                Ok(report) => {
                    if report != SubscriptionsReport::default() {
                        tracing::info!(?report, "calendar subscriptions");
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "calendar subscription pass failed; retrying")
                }
            }
            let _ =
                tokio::time::timeout(self.timing.subscriptions, self.linking.signed_in.notified())
                    .await;
        }
    }

    /// `admin subscriptions renew`: every subscription renewed now.
    pub(crate) async fn renew_all_subscriptions(
        &self,
    ) -> Result<SubscriptionsReport, store::StoreError> {
        self.subscriptions_pass(true).await
    }

    /// One pass over every connected user.
    pub async fn subscriptions_pass(
        &self,
        renew_all: bool,
    ) -> Result<SubscriptionsReport, store::StoreError> {
        let now = self.now();
        let Some(lease) = self
            .store()
            .try_acquire_job(JOB, self.instance(), now + TimeDelta::minutes(30), now)
            .await?
        else {
            return Ok(SubscriptionsReport {
                skipped: true,
                ..SubscriptionsReport::default()
            });
        };
        let result = self.subscriptions_work(renew_all).await;
        if let Err(err) = self.store().release_job(&lease, self.now()).await {
            tracing::debug!(error = %err, "could not release the calendar subscription lease");
        }
        result
    }

    async fn subscriptions_work(
        &self,
        renew_all: bool,
    ) -> Result<SubscriptionsReport, store::StoreError> {
        let mut report = SubscriptionsReport::default();
        let mut by_owner: HashMap<String, GraphSubscription> = HashMap::new();
        for subscription in self.store().subscriptions_for_purpose(PURPOSE).await? {
            match subscription.owner_mm_user_id.clone() {
                Some(owner) if !by_owner.contains_key(&owner) => {
                    by_owner.insert(owner, subscription);
                }
                // A second one for the same user (a lost race, a crash): one is enough.
                _ => {
                    self.drop_subscription(&subscription, &mut report).await?;
                }
            }
        }
        let mut after: Option<String> = None;
        let mut time_zones_due = Vec::new();
        // Set when Graph throttles us: the pass stops there and the next one carries on.
        let mut interrupted = false;
        'pages: loop {
            let links = self.store().connected_links(after.as_deref(), 500).await?;
            let Some(last) = links.last() else {
                break;
            };
            after = Some(last.mm_user_id.clone());
            for link in links {
                let now = self.now();
                let existing = by_owner.remove(&link.mm_user_id);
                let outcome = match &existing {
                    None => self.create_subscription(&link).await.map(|()| {
                        report.created += 1;
                    }),
                    Some(sub) if renew_all || renewal_due(sub, now) => {
                        self.renew_subscription(sub).await.map(|()| {
                            report.renewed += 1;
                        })
                    }
                    Some(_) => Ok(()),
                };
                if let Err(err) = outcome {
                    tracing::warn!(mm_user_id = %link.mm_user_id, error = %err, "could not keep a calendar subscription; will retry");
                    report.failed += 1;
                    if matches!(err, CallError::Throttled(_) | CallError::AppCredentials(_)) {
                        // Asking again at once only prolongs it (or, with the app's secret
                        // refused, cannot help until an admin acts): stop the whole pass.
                        interrupted = true;
                        break 'pages;
                    }
                }
                if let Some(user) = self.calendar_user(&link.mm_user_id).await? {
                    let old = user
                        .tz_checked_at
                        .is_none_or(|at| at + TIME_ZONE_AGE <= self.now());
                    if existing.is_none() {
                        // A new link: its watch (reminders, status) starts now, and its summary
                        // as soon as the zone is known (now, or once the zone read succeeds).
                        self.reschedule(&user).await?;
                    }
                    if old {
                        time_zones_due.push(user);
                    }
                }
            }
        }
        // Subscriptions of users no longer connected: only after a whole pass, since the owners
        // of those left in `by_owner` after an interrupted one were simply not reached.
        if !interrupted {
            for subscription in by_owner.into_values() {
                self.drop_subscription(&subscription, &mut report).await?;
            }
        }
        for chunk in time_zones_due.chunks(20) {
            let results = self.read_time_zones_batch(chunk).await;
            for (user, result) in chunk.iter().zip(results) {
                match result {
                    Ok(Some(tz)) => {
                        self.save_time_zone(user.mm_user_id(), tz).await?;
                        report.time_zones += 1;
                    }
                    Ok(None) => {
                        tracing::warn!(
                            mm_user_id = user.mm_user_id(),
                            "the mailbox time zone is not one we know; using UTC"
                        );
                        self.save_time_zone(user.mm_user_id(), chrono_tz::Tz::UTC)
                            .await?;
                    }
                    Err(err) => {
                        tracing::warn!(mm_user_id = user.mm_user_id(), error = %err, "could not read a mailbox time zone; will retry");
                    }
                }
            }
        }
        Ok(report)
    }

    async fn create_subscription(&self, link: &AccountLink) -> Result<(), CallError> {
        let now = self.now();
        let wanted = self.wanted(link, now);
        let client = self.graph.client().await?;
        self.graph.permit().await;
        let created = client.create_subscription(&wanted).await?;
        self.store()
            .save_subscription(&store::NewSubscription {
                id: &created.id,
                purpose: PURPOSE,
                resource: &wanted.resource,
                change_type: CHANGE_TYPE,
                owner_mm_user_id: Some(&link.mm_user_id),
                client_state: &wanted.client_state,
                expires_at: created.expiration_date_time,
                now,
            })
            .await
            .map_err(|e| CallError::Transient(format!("store: {e}")))?;
        Ok(())
    }

    /// Extends a subscription; one Graph lost is created again.
    pub(crate) async fn renew_subscription(
        &self,
        subscription: &GraphSubscription,
    ) -> Result<(), CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let client = self.graph.client().await?;
        self.graph.permit().await;
        match client
            .renew_subscription(&subscription.id, self.now() + LIFETIME)
            .await
        {
            Ok(renewed) => {
                self.store()
                    .renew_subscription(&subscription.id, renewed.expiration_date_time, self.now())
                    .await
                    .map_err(store_err)?;
                Ok(())
            }
            Err(GraphError::NotFound) => {
                self.store()
                    .delete_subscription(&subscription.id)
                    .await
                    .map_err(store_err)?;
                let Some(owner) = &subscription.owner_mm_user_id else {
                    return Ok(());
                };
                let Some(link) = self.store().account_link(owner).await.map_err(store_err)? else {
                    return Ok(());
                };
                self.create_subscription(&link).await?;
                // What changed while it was gone is read again.
                self.calendar_changed(owner).await.map_err(store_err)
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn drop_subscription(
        &self,
        subscription: &GraphSubscription,
        report: &mut SubscriptionsReport,
    ) -> Result<(), store::StoreError> {
        let deleted = match self.graph.client().await {
            Ok(client) => {
                self.graph.permit().await;
                client
                    .delete_subscription(&subscription.id)
                    .await
                    .map_err(CallError::from)
            }
            Err(err) => Err(err),
        };
        match deleted {
            Ok(_) => {
                self.store().delete_subscription(&subscription.id).await?;
                report.deleted += 1;
            }
            Err(err) => {
                tracing::warn!(subscription_id = %subscription.id, error = %err, "could not delete a calendar subscription; will retry");
                report.failed += 1;
            }
        }
        Ok(())
    }

    /// `admin subscriptions`: how many, and the soonest expiry.
    pub(crate) async fn describe_subscriptions(&self) -> Result<String, store::StoreError> {
        let subscriptions = self.store().subscriptions_for_purpose(PURPOSE).await?;
        let users = self.store().count_connected_links().await?;
        let now = self.now();
        let mut text = format!(
            "#### Calendar subscriptions\n- Connected users: {users}\n- Event subscriptions: {}",
            subscriptions.len()
        );
        if let Some(first) = subscriptions.first() {
            let left = first.expires_at - now;
            text.push_str(&format!(
                "\n- Soonest expiry: {} (in {} h {} min); each is renewed with a quarter of its \
                 lifetime left",
                first.expires_at.format("%Y-%m-%d %H:%M UTC"),
                left.num_hours(),
                left.num_minutes() % 60
            ));
        }
        let expired = subscriptions.iter().filter(|s| s.expires_at <= now).count();
        if expired > 0 {
            text.push_str(&format!(
                "\n- **{expired} expired**: run `/mscalendar admin subscriptions renew`"
            ));
        }
        Ok(text)
    }
}
