//! The durable inbox. Webhook handlers store what they accept here before answering, and workers
//! claim items with a lease: a worker that crashes loses its claim when the lease expires, and the
//! item is claimed again. Claims are fenced by the attempt number, so a worker whose lease was
//! taken over cannot complete or retry an item it no longer holds.
//!
//! Failures are counted apart from claims: [`Store::retry_inbox`] records a failed attempt, which
//! uses up the item's budget, while [`Store::postpone_inbox`] (throttling, a reservation held by
//! another worker) and a lease taken over after a crash do not.

use chrono::{DateTime, Utc};

use crate::backend::{Backend, on_pool};
use crate::{Store, StoreError};

/// The PostgreSQL notification channel of new inbox items, followed by the schema's name.
const INBOX_CHANNEL: &str = "bridge_inbox_";

/// New-item signals from other processes (see [`Store::listen_inbox`]).
pub struct InboxListener {
    listener: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for InboxListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxListener").finish_non_exhaustive()
    }
}

impl InboxListener {
    /// Waits for the next signal. After a dropped connection it reconnects by itself; signals
    /// sent meanwhile are lost, which only delays workers until their next poll.
    pub async fn recv(&mut self) -> Result<(), StoreError> {
        self.listener.recv().await?;
        Ok(())
    }
}

/// An item to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxItem {
    /// What the payload is (`graph.notification`, `graph.lifecycle`, ...), for the worker's dispatch.
    pub kind: String,
    /// Items with the same key are stored once; `None` never deduplicates.
    pub dedupe_key: Option<String>,
    pub payload: String,
}

/// Proof that a worker holds an item. Pass it back to complete, retry or dead-letter the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub worker: String,
    /// The attempt this claim is; each claim of an item increments it, whatever became of the
    /// claims before (it fences them). Not a failure count: see [`InboxItem::failures`].
    pub attempt: i64,
    pub lease_expires_at: DateTime<Utc>,
}

/// A claimed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub claim: Claim,
    pub kind: String,
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub received_at: DateTime<Utc>,
    /// The error of the previous attempt, if it failed.
    pub last_error: Option<String>,
    /// Failed attempts before this claim ([`Store::retry_inbox`] calls since the item was stored
    /// or last requeued); postponements and lapsed leases are not counted.
    pub failures: i64,
}

/// How much work the inbox holds, for metrics and readiness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxCounts {
    /// Waiting to be claimed (now or after a retry delay).
    pub pending: u64,
    /// Claimed under a lease that has not expired.
    pub in_flight: u64,
    /// Gave up after too many attempts; kept for an admin to inspect and requeue.
    pub dead: u64,
}

/// A dead-lettered item, for admin tooling.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub kind: String,
    /// Claims of the item, postponed and taken-over ones included.
    pub attempts: i64,
    /// Failed attempts (see [`InboxItem::failures`]).
    pub failures: i64,
    pub last_error: Option<String>,
    pub received_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    kind: String,
    dedupe_key: Option<String>,
    payload: String,
    attempts: i64,
    received_at: DateTime<Utc>,
    claimed_by: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    failures: i64,
}

const CLAIMABLE: &str = "status = 'pending' AND available_at <= $3
    AND (lease_expires_at IS NULL OR lease_expires_at <= $3)";
const RETURNING: &str = "id, kind, dedupe_key, payload, attempts, received_at, claimed_by, lease_expires_at, last_error, failures";

impl Store {
    /// Stores items atomically (all or none). Returns how many were new; items whose
    /// `dedupe_key` is already present are skipped.
    pub async fn enqueue(
        &self,
        items: &[NewInboxItem],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sql = "INSERT INTO inbox (kind, dedupe_key, payload, status, attempts, received_at, available_at)
                   VALUES ($1, $2, $3, 'pending', 0, $4, $4) ON CONFLICT (dedupe_key) DO NOTHING";
        let inserted = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut inserted = 0;
            for item in items {
                inserted += sqlx::query(sql)
                    .bind(&item.kind)
                    .bind(&item.dedupe_key)
                    .bind(&item.payload)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            inserted
        });
        if inserted > 0
            && let Backend::Postgres(pool) = &*self.backend
        {
            // Wakes the workers of every replica (see `InboxListener`); losing this only delays
            // them until their next poll.
            let _ = sqlx::query("SELECT pg_notify($1 || current_schema(), '')")
                .bind(INBOX_CHANNEL)
                .execute(pool)
                .await;
        }
        Ok(inserted)
    }

    /// Listens for new inbox items stored by any process on this database: PostgreSQL's
    /// `LISTEN`, so replicas do not wait for their next poll. `None` on SQLite, where one process
    /// holds the database and wakes its own workers.
    pub async fn listen_inbox(&self) -> Result<Option<InboxListener>, StoreError> {
        match &*self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(pool) => {
                // One channel per schema, so deployments sharing a database do not wake each other.
                let schema: String = sqlx::query_scalar("SELECT current_schema()")
                    .fetch_one(pool)
                    .await?;
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(&format!("{INBOX_CHANNEL}{schema}")).await?;
                Ok(Some(InboxListener { listener }))
            }
        }
    }

    /// Claims up to `limit` ready items, oldest first, until `lease_until`. Concurrent callers
    /// never receive the same item: SQLite runs the claim as one write statement, PostgreSQL
    /// skips rows another transaction has locked.
    pub async fn claim_inbox(
        &self,
        worker: &str,
        limit: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let rows: Vec<ClaimedRow> = match &*self.backend {
            Backend::Sqlite(pool) => {
                let sql = format!(
                    "UPDATE inbox SET claimed_by = $1, lease_expires_at = $2, attempts = attempts + 1
                     WHERE id IN (SELECT id FROM inbox WHERE {CLAIMABLE} ORDER BY id LIMIT $4)
                     RETURNING {RETURNING}"
                );
                sqlx::query_as(&sql)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
            Backend::Postgres(pool) => {
                let sql = format!(
                    "UPDATE inbox SET claimed_by = $1, lease_expires_at = $2, attempts = inbox.attempts + 1
                     FROM (SELECT id FROM inbox WHERE {CLAIMABLE} ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) c
                     WHERE inbox.id = c.id
                     RETURNING {}",
                    RETURNING
                        .split(", ")
                        .map(|c| format!("inbox.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                sqlx::query_as(&sql)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
        };
        let mut items = rows
            .into_iter()
            .map(|row| InboxItem {
                claim: Claim {
                    id: row.id,
                    worker: row.claimed_by.unwrap_or_default(),
                    attempt: row.attempts,
                    lease_expires_at: row.lease_expires_at.unwrap_or(lease_until),
                },
                kind: row.kind,
                dedupe_key: row.dedupe_key,
                payload: row.payload,
                received_at: row.received_at,
                last_error: row.last_error,
                failures: row.failures,
            })
            .collect::<Vec<_>>();
        items.sort_by_key(|item| item.claim.id);
        Ok(items)
    }

    /// Marks a claimed item done.
    pub async fn complete_inbox(
        &self,
        claim: &Claim,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE inbox SET status = 'done', finished_at = $4, claimed_by = NULL, lease_expires_at = NULL
                   WHERE id = $1 AND claimed_by = $2 AND attempts = $3 AND status = 'pending'";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(claim.id)
            .bind(&claim.worker)
            .bind(claim.attempt)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        lease_held(n, "inbox item")
    }

    /// Gives a claimed item back after a failed attempt, to be claimed again from `retry_at`,
    /// keeping `error` for the next attempt and for operators. Counts one failure (see
    /// [`InboxItem::failures`]).
    pub async fn retry_inbox(
        &self,
        claim: &Claim,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.give_back(claim, error, retry_at, 1).await
    }

    /// Gives a claimed item back to be claimed again from `retry_at` without counting a failure:
    /// the attempt was told "later", not "no" (throttling, a delivery another worker holds).
    pub async fn postpone_inbox(
        &self,
        claim: &Claim,
        reason: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.give_back(claim, reason, retry_at, 0).await
    }

    async fn give_back(
        &self,
        claim: &Claim,
        error: &str,
        retry_at: DateTime<Utc>,
        failed: i64,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE inbox SET available_at = $4, last_error = $5, failures = failures + $6,
                       claimed_by = NULL, lease_expires_at = NULL
                   WHERE id = $1 AND claimed_by = $2 AND attempts = $3 AND status = 'pending'";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(claim.id)
            .bind(&claim.worker)
            .bind(claim.attempt)
            .bind(retry_at)
            .bind(error)
            .bind(failed)
            .execute(pool)
            .await?
            .rows_affected());
        lease_held(n, "inbox item")
    }

    /// Stops retrying a claimed item (its last failure is counted). It stays in the inbox as a
    /// dead letter, nothing is lost.
    pub async fn dead_letter_inbox(
        &self,
        claim: &Claim,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE inbox SET status = 'dead', last_error = $4, finished_at = $5,
                       failures = failures + 1, claimed_by = NULL, lease_expires_at = NULL
                   WHERE id = $1 AND claimed_by = $2 AND attempts = $3 AND status = 'pending'";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(claim.id)
            .bind(&claim.worker)
            .bind(claim.attempt)
            .bind(error)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        lease_held(n, "inbox item")
    }

    /// Extends a claim that needs more time. Fails with `LeaseLost` if it was taken over.
    pub async fn extend_inbox_lease(
        &self,
        claim: &Claim,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let sql = "UPDATE inbox SET lease_expires_at = $4
                   WHERE id = $1 AND claimed_by = $2 AND attempts = $3 AND status = 'pending'";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(claim.id)
            .bind(&claim.worker)
            .bind(claim.attempt)
            .bind(lease_until)
            .execute(pool)
            .await?
            .rows_affected());
        lease_held(n, "inbox item")?;
        Ok(Claim {
            lease_expires_at: lease_until,
            ..claim.clone()
        })
    }

    pub async fn inbox_counts(&self, now: DateTime<Utc>) -> Result<InboxCounts, StoreError> {
        let sql = "SELECT
                COALESCE(SUM(CASE WHEN status = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at <= $1) THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN status = 'pending' AND lease_expires_at > $1 THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END), 0)
            FROM inbox WHERE status <> 'done'";
        let (pending, in_flight, dead): (i64, i64, i64) =
            on_pool!(self, pool => sqlx::query_as(sql).bind(now).fetch_one(pool).await?);
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(InboxCounts {
            pending: n(pending),
            in_flight: n(in_flight),
            dead: n(dead),
        })
    }

    /// Dead letters, oldest first.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let sql = "SELECT id, kind, attempts, failures, last_error, received_at FROM inbox
                   WHERE status = 'dead' ORDER BY id LIMIT $1";
        Ok(
            on_pool!(self, pool => sqlx::query_as(sql).bind(i64::from(limit)).fetch_all(pool).await?),
        )
    }

    /// Puts every dead letter back in the queue (after an operator fixed the cause), with a fresh
    /// failure budget. Returns how many. `attempts` keeps counting: it fences claims.
    pub async fn requeue_dead_letters(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "UPDATE inbox SET status = 'pending', available_at = $1, finished_at = NULL, failures = 0
                   WHERE status = 'dead'";
        Ok(on_pool!(self, pool => sqlx::query(sql).bind(now).execute(pool).await?.rows_affected()))
    }

    /// Deletes items finished before `before`. Dead letters are kept.
    pub async fn purge_finished_inbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM inbox WHERE status = 'done' AND finished_at < $1";
        Ok(
            on_pool!(self, pool => sqlx::query(sql).bind(before).execute(pool).await?.rows_affected()),
        )
    }
}

pub(crate) fn lease_held(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost { what })
    }
}
