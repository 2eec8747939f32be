//! The bot's DMs, each through the delivery ledger: a summary, a reminder or an invitation goes to
//! a user once, whatever restarts, replicas and redeliveries do.

use chrono::{DateTime, TimeDelta, Utc};
use mm_client::NewPost;
use store::Reservation;

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
        // Long enough for one post with its retries; a crashed holder's reservation lapses.
        let until = now
            + TimeDelta::from_std(mm_client::REQUEST_TIMEOUT).unwrap_or(TimeDelta::seconds(30))
            + TimeDelta::seconds(30);
        match self
            .store()
            .reserve_delivery(mm_user_id, key, &holder, until, now)
            .await?
        {
            Reservation::Reserved => {}
            Reservation::AlreadyDelivered { .. } => return Ok(Sent::Already),
            Reservation::InProgress { until, .. } => return Ok(Sent::Held(until)),
        }
        match self.post_dm(mm_user_id, key, text, buttons).await {
            Ok(post_id) => {
                self.metrics.dm_sent(kind);
                self.store()
                    .mark_delivered(mm_user_id, key, &holder, Some(&post_id), self.now())
                    .await?;
                Ok(Sent::Posted(post_id))
            }
            Err(err) => {
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
