//! Leases for singleton jobs (subscription renewal, user sync, daily summaries): among all
//! replicas sharing a database, one holds a job's lease at a time. Each change of holder increments
//! the lease's fence, so work stamped with an old fence can be told apart.

use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::inbox::lease_held;
use crate::{Store, StoreError};

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobLease {
    pub name: String,
    pub holder: String,
    /// Increases every time the lease changes hands.
    pub fence: i64,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "name, holder, fence, acquired_at, expires_at";

impl Store {
    /// Takes the lease on `name` for `holder` until `until`, if it is free, expired, or already
    /// `holder`'s (then it is extended). `None` while someone else holds it.
    pub async fn try_acquire_job(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<JobLease>, StoreError> {
        let sql = format!(
            "INSERT INTO job_leases ({COLUMNS}) VALUES ($1, $2, 1, $3, $4)
             ON CONFLICT (name) DO UPDATE SET
                 fence = CASE WHEN job_leases.holder = excluded.holder AND job_leases.expires_at > excluded.acquired_at
                     THEN job_leases.fence ELSE job_leases.fence + 1 END,
                 acquired_at = CASE WHEN job_leases.holder = excluded.holder AND job_leases.expires_at > excluded.acquired_at
                     THEN job_leases.acquired_at ELSE excluded.acquired_at END,
                 holder = excluded.holder,
                 expires_at = excluded.expires_at
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= excluded.acquired_at
             RETURNING {COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(name)
            .bind(holder)
            .bind(now)
            .bind(until)
            .fetch_optional(pool)
            .await?))
    }

    /// Extends a held lease. `LeaseLost` if it expired and someone else took it.
    pub async fn renew_job(
        &self,
        lease: &JobLease,
        until: DateTime<Utc>,
    ) -> Result<JobLease, StoreError> {
        lease_held(self.set_lease_expiry(lease, until).await?, "job lease")?;
        Ok(JobLease {
            expires_at: until,
            ..lease.clone()
        })
    }

    /// Lets go of a lease so another replica can take it at once. False if it was no longer held.
    pub async fn release_job(
        &self,
        lease: &JobLease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.set_lease_expiry(lease, now).await? == 1)
    }

    /// Moves the expiry of a lease the caller still holds (same holder and fence); rows changed.
    async fn set_lease_expiry(
        &self,
        lease: &JobLease,
        expires_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sql =
            "UPDATE job_leases SET expires_at = $4 WHERE name = $1 AND holder = $2 AND fence = $3";
        Ok(on_pool!(self, pool => sqlx::query(sql)
            .bind(&lease.name)
            .bind(&lease.holder)
            .bind(lease.fence)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// The lease record of a job, held or expired.
    pub async fn job_lease(&self, name: &str) -> Result<Option<JobLease>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM job_leases WHERE name = $1");
        Ok(on_pool!(self, pool => sqlx::query_as(&sql).bind(name).fetch_optional(pool).await?))
    }
}
