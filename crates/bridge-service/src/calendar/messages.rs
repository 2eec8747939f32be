//! The bot's DMs, each through the delivery ledger: a summary, a reminder or an invitation goes to
//! a user once, whatever restarts, replicas and redeliveries do.

use chrono::{DateTime, TimeDelta, Utc};
use mm_client::{MmError, NewPost};
use store::{DeliveryState, Reservation};

use super::CalendarApp;
use super::buttons::{self, Button};
use super::metrics::DmKind;

/// The post prop naming the ledger key a DM was sent under (and so what it is about).
pub(crate) const POST_KEY: &str = "ms_calendar_key";

/// What became of a DM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Posted now (the post's id).
    Posted(String),
    /// The ledger says it went before.
    Already,
    /// Another worker holds it until then (it finishes it, or it lapses and is retried).
    Held(DateTime<Utc>),
}

/// Why a DM could not be sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("Mattermost: {0}")]
    Mattermost(#[from] mm_client::MmError),
}

/// How long a DM's reservation lasts: the bot's id, the DM channel and the post, each within
/// its timeout, and a margin. A crashed holder's reservation lapses after it.
fn reservation_length() -> TimeDelta {
    TimeDelta::from_std(mm_client::REQUEST_TIMEOUT).unwrap_or(TimeDelta::seconds(30)) * 3
        + TimeDelta::seconds(30)
}

/// A failure after which the post may exist all the same (the answer was lost, or Mattermost
/// failed after storing it). A refusal (4xx) or a rate limit (429) means it was not made.
fn uncertain(err: &MmError) -> bool {
    match err {
        MmError::Transport(_) => true,
        MmError::Api { status, .. } => *status >= 500,
        _ => false,
    }
}

impl CalendarApp {
    /// Posts `text` (and `buttons`) to `mm_user_id` in the bot's DM, once per `key`; a post is
    /// counted as a DM of `kind`.
    pub(crate) async fn dm_once(
        &self,
        kind: DmKind,
        mm_user_id: &str,
        key: &str,
        text: &str,
        buttons: &[Button],
    ) -> Result<Sent, SendError> {
        let now = self.now();
        let holder = format!("{}#{key}", self.instance());
        // An earlier attempt that neither recorded its post nor gave up (it crashed, or its
        // answer was lost) left its reservation to lapse; its post may exist.
        let earlier = match self.store().delivery_state(mm_user_id, key).await? {
            Some(DeliveryState::Reserved { until, .. }) => Some(until - reservation_length()),
            Some(DeliveryState::Delivered { .. }) => return Ok(Sent::Already),
            None => None,
        };
        match self
            .store()
            .reserve_delivery(mm_user_id, key, &holder, now + reservation_length(), now)
            .await?
        {
            Reservation::Reserved => {}
            Reservation::AlreadyDelivered { .. } => return Ok(Sent::Already),
            Reservation::InProgress { until, .. } => return Ok(Sent::Held(until)),
        }
        if let Some(started) = earlier
            && let Some(post_id) = self.posted_since(mm_user_id, key, started).await?
        {
            tracing::info!(
                mm_user_id,
                key,
                "a DM an earlier attempt posted is recorded, not posted again"
            );
            self.store()
                .mark_delivered(mm_user_id, key, &holder, Some(&post_id), self.now())
                .await?;
            return Ok(Sent::Already);
        }
        let attempt = self.now();
        let posted = match self.post_dm(mm_user_id, key, text, buttons).await {
            Ok(post_id) => Ok(post_id),
            // Mattermost answered with an error but may have stored the post: look.
            Err(err @ MmError::Api { .. }) if uncertain(&err) => {
                match self.posted_since(mm_user_id, key, attempt).await {
                    Ok(Some(post_id)) => Ok(post_id),
                    Ok(None) => Err((err, true)),
                    Err(_) => Err((err, false)),
                }
            }
            // No answer: the post may still be on its way in. The reservation is left to
            // lapse, and the next attempt looks first.
            Err(err) => {
                let release = !uncertain(&err);
                Err((err, release))
            }
        };
        match posted {
            Ok(post_id) => {
                self.metrics.dm_sent(kind);
                self.store()
                    .mark_delivered(mm_user_id, key, &holder, Some(&post_id), self.now())
                    .await?;
                Ok(Sent::Posted(post_id))
            }
            Err((err, false)) => Err(err.into()),
            Err((err, true)) => {
                let _ = self
                    .store()
                    .release_delivery(mm_user_id, key, &holder)
                    .await;
                Err(err.into())
            }
        }
    }

    /// Records `key` for `mm_user_id` as done without posting anything (a version of an event
    /// the user has seen, so that only later changes are told).
    pub(crate) async fn record_once(
        &self,
        mm_user_id: &str,
        key: &str,
    ) -> Result<bool, store::StoreError> {
        let now = self.now();
        let holder = format!("{}#{key}", self.instance());
        match self
            .store()
            .reserve_delivery(mm_user_id, key, &holder, now + TimeDelta::minutes(1), now)
            .await?
        {
            Reservation::Reserved => {
                self.store()
                    .mark_delivered(mm_user_id, key, &holder, None, now)
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether `key` was recorded for `mm_user_id`.
    pub(crate) async fn recorded(
        &self,
        mm_user_id: &str,
        key: &str,
    ) -> Result<bool, store::StoreError> {
        Ok(matches!(
            self.store().delivery_state(mm_user_id, key).await?,
            Some(store::DeliveryState::Delivered { .. })
        ))
    }

    /// The bot's post in `mm_user_id`'s DM carrying `key`, made since `since` (a minute of clock
    /// skew allowed).
    async fn posted_since(
        &self,
        mm_user_id: &str,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, MmError> {
        let bot_user_id = self.bot_user_id().await?.to_owned();
        let channel_id = self.bot().direct_channel(&bot_user_id, mm_user_id).await?;
        let since = (since - TimeDelta::minutes(1)).timestamp_millis();
        let posts = self.bot().channel_posts_since(&channel_id, since).await?;
        Ok(posts
            .into_iter()
            .find(|p| {
                p.user_id == bot_user_id
                    && p.props.get(POST_KEY).and_then(|v| v.as_str()) == Some(key)
            })
            .map(|p| p.id))
    }

    /// One DM post, without the ledger: the post's id.
    pub(crate) async fn post_dm(
        &self,
        mm_user_id: &str,
        key: &str,
        text: &str,
        buttons: &[Button],
    ) -> Result<String, mm_client::MmError> {
        let bot_user_id = self.bot_user_id().await?.to_owned();
        let channel_id = self.bot().direct_channel(&bot_user_id, mm_user_id).await?;
        let mut props = buttons::render(
            buttons,
            &self.linking.sealer,
            &self.linking.action_url,
            mm_user_id,
            self.now(),
        )
        .unwrap_or_default();
        props.extra.insert(
            POST_KEY.to_owned(),
            serde_json::Value::String(key.to_owned()),
        );
        let post = self
            .bot()
            .create_post(&NewPost {
                props: Some(props),
                ..NewPost::new(channel_id, text.to_owned())
            })
            .await?;
        Ok(post.id)
    }
}
