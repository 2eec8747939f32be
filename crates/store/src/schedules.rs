//! Per-user job schedules: when each user's run of a periodic job (daily summary, reminder check,
//! status check) is next due.
//!
//! The scheduler of every replica asks for the runs due now with [`Store::claim_due_schedules`],
//! an index range scan over `(job, due_at)`, and claims what it gets under a lease, so two replicas
//! never run the same user's job at once and a crashed replica's claims are taken over once their
//! lease passes. After the run, [`Store::finish_schedule`] stores the next due time; after a failed
//! run, [`Store::release_schedule`] makes it due again later.
//!
//! Setting a schedule ([`Store::set_schedule`]: a calendar change, a settings change, "sync now")
//! never takes a live claim away, or a second replica would run the same user's job beside the
//! holder. While a claim is live the request is recorded beside it (`rerun_at`, the earliest of
//! the requests) and the holder's `finish_schedule` or `release_schedule` makes the row due at the
//! earlier of its own next time and the requested one, so the request is honoured by exactly one
//! later run. Without a live claim (none, or its lease passed) setting a schedule replaces the due
//! time and clears any stale claim: the newer schedule wins.
//!
//! A claim is identified by its holder. A holder that claims in several concurrent batches and
//! needs to tell its own batches apart uses a distinct holder per batch (`replica-1/42`).

use chrono::{DateTime, Utc};

use crate::backend::{Backend, on_pool};
use crate::{Store, StoreError};

/// A run of a job that was due, claimed by [`Store::claim_due_schedules`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueSchedule {
    pub mm_user_id: String,
    /// When the run was due (at or before the `now` of the claim).
    pub due_at: DateTime<Utc>,
}

/// Rows of `job` (`$3`) that may be claimed at `$4`: due, and not claimed or claimed under a lease
/// that has passed.
const CLAIMABLE: &str =
    "job = $3 AND due_at <= $4 AND (claim_expires_at IS NULL OR claim_expires_at <= $4)";

/// In [`Store::set_schedule`]'s upsert: the existing row is claimed under a lease still running at
/// `now` (`$4`). A NULL `claim_expires_at` counts as no claim.
const LIVE_CLAIM: &str =
    "user_schedules.claimed_by IS NOT NULL AND user_schedules.claim_expires_at > $4";

/// The earlier of `rerun_at` (NULL when nothing was requested during the claim) and the
/// non-NULL `$4`. A CASE rather than SQLite's `MIN(a, b)` or PostgreSQL's `LEAST(a, b)`, which
/// differ on NULL (SQLite's gives NULL, PostgreSQL's ignores it): here NULL < $4 is not true, so
/// NULL gives $4 on both.
const EARLIER_OF_RERUN_AND_4: &str = "CASE WHEN rerun_at < $4 THEN rerun_at ELSE $4 END";

impl Store {
    /// Schedules `mm_user_id`'s next run of `job` at `due_at`. `None` removes the schedule, claimed
    /// or not: nothing is due for that user and job, and a claimer's later
    /// [`Store::finish_schedule`] returns false and changes nothing.
    ///
    /// If a worker holds a live claim on the run (its lease passes after `now`), the claim is kept,
    /// so nobody else runs the job for that user meanwhile, and the run is recorded as wanted at
    /// `due_at` (the earliest, if several are requested during the claim): the holder's
    /// [`Store::finish_schedule`] or [`Store::release_schedule`] then makes it due at the earlier
    /// of its own next time and `due_at`, even when it finishes with no next run. Otherwise (no
    /// claim, or one whose lease has passed) the schedule is replaced and any stale claim cleared
    /// (that claimer's later `finish_schedule` returns false and changes nothing).
    pub async fn set_schedule(
        &self,
        mm_user_id: &str,
        job: &str,
        due_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(due_at) = due_at else {
            let sql = "DELETE FROM user_schedules WHERE mm_user_id = $1 AND job = $2";
            on_pool!(self, pool => {
                sqlx::query(sql).bind(mm_user_id).bind(job).execute(pool).await?;
            });
            return Ok(());
        };
        // The SET expressions all see the row as it was before this statement.
        let sql = format!(
            "INSERT INTO user_schedules
                 (mm_user_id, job, due_at, claimed_by, claim_expires_at, updated_at, rerun_at)
             VALUES ($1, $2, $3, NULL, NULL, $4, NULL)
             ON CONFLICT (mm_user_id, job) DO UPDATE SET
                 due_at = CASE WHEN {LIVE_CLAIM} THEN user_schedules.due_at ELSE excluded.due_at END,
                 claimed_by = CASE WHEN {LIVE_CLAIM} THEN user_schedules.claimed_by END,
                 claim_expires_at =
                     CASE WHEN {LIVE_CLAIM} THEN user_schedules.claim_expires_at END,
                 rerun_at = CASE WHEN {LIVE_CLAIM} THEN
                     CASE WHEN user_schedules.rerun_at < excluded.due_at
                          THEN user_schedules.rerun_at ELSE excluded.due_at END
                 END,
                 updated_at = excluded.updated_at"
        );
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(mm_user_id)
                .bind(job)
                .bind(due_at)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// When `mm_user_id`'s next run of `job` is due, claimed or not; `None` if nothing is
    /// scheduled. While the run is claimed this is the claimed run's due time: a run requested
    /// meanwhile ([`Store::set_schedule`]) shows once the holder has finished or released it.
    pub async fn schedule(
        &self,
        mm_user_id: &str,
        job: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let sql = "SELECT due_at FROM user_schedules WHERE mm_user_id = $1 AND job = $2";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(mm_user_id)
            .bind(job)
            .fetch_optional(pool)
            .await?))
    }

    /// Claims for `holder`, until `lease_until`, up to `limit` runs of `job` that are due at `now`
    /// and not claimed (or whose claim's lease has passed), oldest due first; the result is in
    /// that order. Concurrent callers never receive the same run: SQLite runs the claim as one
    /// write statement, PostgreSQL skips rows another transaction has locked.
    ///
    /// The holder then calls [`Store::finish_schedule`] or [`Store::release_schedule`] for each
    /// run; a run neither finished nor released is claimed again once `lease_until` has passed.
    ///
    /// Taking over a run whose lease passed also takes over a run requested during that lease
    /// ([`Store::set_schedule`]): one requested at or before `now` is done by this run (which
    /// starts after the request) and is dropped; one requested for later stays pending, for this
    /// holder's finish or release.
    pub async fn claim_due_schedules(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueSchedule>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = match &*self.backend {
            Backend::Sqlite(_) => format!(
                "UPDATE user_schedules SET claimed_by = $1, claim_expires_at = $2,
                     rerun_at = CASE WHEN rerun_at <= $4 THEN NULL ELSE rerun_at END
                 WHERE rowid IN (SELECT rowid FROM user_schedules WHERE {CLAIMABLE} ORDER BY due_at LIMIT $5)
                 RETURNING mm_user_id, due_at"
            ),
            Backend::Postgres(_) => format!(
                "WITH due AS (
                     SELECT mm_user_id FROM user_schedules WHERE {CLAIMABLE}
                     ORDER BY due_at LIMIT $5 FOR UPDATE SKIP LOCKED
                 )
                 UPDATE user_schedules s SET claimed_by = $1, claim_expires_at = $2,
                     rerun_at = CASE WHEN s.rerun_at <= $4 THEN NULL ELSE s.rerun_at END
                 FROM due WHERE s.job = $3 AND s.mm_user_id = due.mm_user_id
                 RETURNING s.mm_user_id, s.due_at"
            ),
        };
        let mut due: Vec<DueSchedule> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(holder)
            .bind(lease_until)
            .bind(job)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        // RETURNING gives no order.
        due.sort_by(|a, b| (a.due_at, &a.mm_user_id).cmp(&(b.due_at, &b.mm_user_id)));
        Ok(due)
    }

    /// Ends `holder`'s claim on `mm_user_id`'s run of `job`: the next run is due at `next_due`
    /// (`None` removes the schedule), or at the run requested during the claim
    /// ([`Store::set_schedule`]) if that is earlier: with `next_due = None` and such a request the
    /// schedule is kept, due at the requested time.
    ///
    /// Only if the run is still claimed by `holder`, even past its lease as long as nobody took it
    /// over; otherwise returns false and changes nothing, because another holder claimed it after
    /// the lease passed, or the schedule was removed or (after the lease passed) replaced
    /// meanwhile: the newer schedule wins.
    pub async fn finish_schedule(
        &self,
        mm_user_id: &str,
        job: &str,
        holder: &str,
        next_due: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = match next_due {
            Some(next_due) => {
                let sql = format!(
                    "UPDATE user_schedules SET due_at = {EARLIER_OF_RERUN_AND_4}, rerun_at = NULL,
                         updated_at = $5, claimed_by = NULL, claim_expires_at = NULL
                     WHERE mm_user_id = $1 AND job = $2 AND claimed_by = $3"
                );
                on_pool!(self, pool => sqlx::query(&sql)
                    .bind(mm_user_id)
                    .bind(job)
                    .bind(holder)
                    .bind(next_due)
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected())
            }
            None => {
                // Without a pending request the row goes; with one it stays, due then. Two
                // statements without a transaction suffice: while `holder` holds the claim, only
                // set_schedule writes rerun_at, and never back to NULL, so a delete that missed
                // because of a request is followed by an update that finds it.
                let delete = "DELETE FROM user_schedules
                              WHERE mm_user_id = $1 AND job = $2 AND claimed_by = $3
                                  AND rerun_at IS NULL";
                let keep = "UPDATE user_schedules SET due_at = rerun_at, rerun_at = NULL,
                                updated_at = $4, claimed_by = NULL, claim_expires_at = NULL
                            WHERE mm_user_id = $1 AND job = $2 AND claimed_by = $3
                                AND rerun_at IS NOT NULL";
                on_pool!(self, pool => {
                    let deleted = sqlx::query(delete)
                        .bind(mm_user_id)
                        .bind(job)
                        .bind(holder)
                        .execute(pool)
                        .await?
                        .rows_affected();
                    if deleted == 0 {
                        sqlx::query(keep)
                            .bind(mm_user_id)
                            .bind(job)
                            .bind(holder)
                            .bind(now)
                            .execute(pool)
                            .await?
                            .rows_affected()
                    } else {
                        deleted
                    }
                })
            }
        };
        Ok(n == 1)
    }

    /// Gives back `holder`'s claim after a failed run: the run is due again at `retry_at`, or at
    /// the run requested during the claim ([`Store::set_schedule`]) if that is earlier (the
    /// schedule's `updated_at` is kept). False, changing nothing, if `holder` no longer held it
    /// (see [`Store::finish_schedule`]).
    pub async fn release_schedule(
        &self,
        mm_user_id: &str,
        job: &str,
        holder: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE user_schedules SET due_at = {EARLIER_OF_RERUN_AND_4}, rerun_at = NULL,
                 claimed_by = NULL, claim_expires_at = NULL
             WHERE mm_user_id = $1 AND job = $2 AND claimed_by = $3"
        );
        let n = on_pool!(self, pool => sqlx::query(&sql)
            .bind(mm_user_id)
            .bind(job)
            .bind(holder)
            .bind(retry_at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Removes every schedule of `mm_user_id`, claimed or not (the user disconnected); a claimer's
    /// later [`Store::finish_schedule`] returns false. Returns how many were removed.
    pub async fn delete_schedules(&self, mm_user_id: &str) -> Result<u64, StoreError> {
        let sql = "DELETE FROM user_schedules WHERE mm_user_id = $1";
        Ok(on_pool!(self, pool => sqlx::query(sql)
            .bind(mm_user_id)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// How many runs of `job` are due at `now` and not yet finished, including those claimed and
    /// in progress (for metrics and the admin status).
    pub async fn count_due_schedules(
        &self,
        job: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM user_schedules WHERE job = $1 AND due_at <= $2";
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(job)
            .bind(now)
            .fetch_one(pool)
            .await?);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
