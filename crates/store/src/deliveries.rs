//! The delivery ledger: "tell recipient R about item K" happens at most once.
//!
//! A worker reserves (R, K) before sending and marks it delivered after. A reservation expires, so
//! a crashed worker does not block the item forever; a delivered entry never expires, so a
//! redelivered notification, a restart or a second replica finds it and sends nothing.

use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::inbox::lease_held;
use crate::{Store, StoreError};

/// Outcome of [`Store::reserve_delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The caller holds (R, K) until the time it asked for, and should send now.
    Reserved,
    /// Sent before; do nothing.
    AlreadyDelivered { external_id: Option<String> },
    /// Another worker holds an unexpired reservation.
    InProgress {
        holder: String,
        until: DateTime<Utc>,
    },
}

/// What the ledger knows about (R, K).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryState {
    Reserved {
        holder: String,
        until: DateTime<Utc>,
    },
    Delivered {
        external_id: Option<String>,
        at: DateTime<Utc>,
    },
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    state: String,
    holder: Option<String>,
    reserved_until: Option<DateTime<Utc>>,
    external_id: Option<String>,
    updated_at: DateTime<Utc>,
}

impl DeliveryRow {
    fn into_state(self) -> Result<DeliveryState, StoreError> {
        match (self.state.as_str(), self.holder, self.reserved_until) {
            ("delivered", _, _) => Ok(DeliveryState::Delivered {
                external_id: self.external_id,
                at: self.updated_at,
            }),
            ("reserved", Some(holder), Some(until)) => {
                Ok(DeliveryState::Reserved { holder, until })
            }
            (other, _, _) => Err(StoreError::Corrupt {
                what: format!("delivery state {other:?}"),
            }),
        }
    }
}

impl Store {
    /// Reserves (recipient, item) for `holder` until `until`. Re-reserving one's own reservation
    /// extends it; an expired reservation of someone else is taken over.
    pub async fn reserve_delivery(
        &self,
        recipient: &str,
        item: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        let sql = "INSERT INTO deliveries (recipient, item_key, state, holder, reserved_until, external_id, updated_at)
                   VALUES ($1, $2, 'reserved', $3, $4, NULL, $5)
                   ON CONFLICT (recipient, item_key) DO UPDATE SET
                       holder = excluded.holder, reserved_until = excluded.reserved_until,
                       updated_at = excluded.updated_at
                   WHERE deliveries.state = 'reserved'
                     AND (deliveries.holder = excluded.holder OR deliveries.reserved_until <= excluded.updated_at)";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(recipient)
            .bind(item)
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        if n == 1 {
            return Ok(Reservation::Reserved);
        }
        match self.delivery_state(recipient, item).await? {
            Some(DeliveryState::Delivered { external_id, .. }) => {
                Ok(Reservation::AlreadyDelivered { external_id })
            }
            Some(DeliveryState::Reserved { holder, until }) => {
                Ok(Reservation::InProgress { holder, until })
            }
            // Only reachable if the row was purged in between; the caller may simply try again.
            None => Err(StoreError::LeaseLost {
                what: "delivery reservation",
            }),
        }
    }

    /// Records that the reserved item was sent, with the id of what was posted. Fails with
    /// `LeaseLost` if the reservation was taken over by another worker.
    pub async fn mark_delivered(
        &self,
        recipient: &str,
        item: &str,
        holder: &str,
        external_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE deliveries SET state = 'delivered', external_id = $4, updated_at = $5,
                       holder = NULL, reserved_until = NULL
                   WHERE recipient = $1 AND item_key = $2 AND holder = $3 AND state = 'reserved'";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(recipient)
            .bind(item)
            .bind(holder)
            .bind(external_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        lease_held(n, "delivery reservation")
    }

    /// Drops a reservation after a failed send, so the item can be tried again at once. False if
    /// the caller no longer held it.
    pub async fn release_delivery(
        &self,
        recipient: &str,
        item: &str,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM deliveries WHERE recipient = $1 AND item_key = $2 AND holder = $3 AND state = 'reserved'";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(recipient)
            .bind(item)
            .bind(holder)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Records a delivery in one step, without a reservation. True the first time; every later
    /// call for the same (recipient, item) returns false and changes nothing.
    pub async fn record_delivery(
        &self,
        recipient: &str,
        item: &str,
        external_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO deliveries (recipient, item_key, state, holder, reserved_until, external_id, updated_at)
                   VALUES ($1, $2, 'delivered', NULL, NULL, $3, $4)
                   ON CONFLICT (recipient, item_key) DO UPDATE SET
                       state = 'delivered', holder = NULL, reserved_until = NULL,
                       external_id = excluded.external_id, updated_at = excluded.updated_at
                   WHERE deliveries.state <> 'delivered'";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(recipient)
            .bind(item)
            .bind(external_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    pub async fn delivery_state(
        &self,
        recipient: &str,
        item: &str,
    ) -> Result<Option<DeliveryState>, StoreError> {
        let sql = "SELECT state, holder, reserved_until, external_id, updated_at FROM deliveries
                   WHERE recipient = $1 AND item_key = $2";
        let row: Option<DeliveryRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(recipient)
            .bind(item)
            .fetch_optional(pool)
            .await?);
        row.map(DeliveryRow::into_state).transpose()
    }

    /// How many items were delivered to `recipient`.
    pub async fn count_deliveries(&self, recipient: &str) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM deliveries WHERE recipient = $1 AND state = 'delivered'";
        let n: i64 =
            on_pool!(self, pool => sqlx::query_scalar(sql).bind(recipient).fetch_one(pool).await?);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Forgets deliveries recorded before `before` (older than any redelivery Graph would make).
    pub async fn purge_deliveries_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM deliveries WHERE state = 'delivered' AND updated_at < $1";
        Ok(
            on_pool!(self, pool => sqlx::query(sql).bind(before).execute(pool).await?.rows_affected()),
        )
    }
}
