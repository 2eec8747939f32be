use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::{Store, StoreError, fingerprint};

/// A Microsoft Graph change-notification subscription this deployment owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphSubscription {
    /// The id Graph assigned.
    pub id: String,
    /// What the subscription is for, chosen by the bridge (`chats`, `events:<user>`, ...).
    pub purpose: String,
    pub resource: String,
    pub change_type: String,
    /// The Mattermost user whose delegated token owns it, for per-user subscriptions.
    pub owner_mm_user_id: Option<String>,
    /// SHA-256 of the clientState sent to Graph; the value itself is not stored.
    pub client_state_hash: String,
    /// The expiry exactly as Graph returned it.
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl GraphSubscription {
    /// Whether an incoming notification's clientState is the one this subscription was created
    /// with. Compares digests in constant time.
    pub fn client_state_matches(&self, candidate: &str) -> bool {
        let candidate = fingerprint(candidate);
        let (a, b) = (candidate.as_bytes(), self.client_state_hash.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// What [`Store::save_subscription`] writes.
#[derive(Debug, Clone)]
pub struct NewSubscription<'a> {
    pub id: &'a str,
    pub purpose: &'a str,
    pub resource: &'a str,
    pub change_type: &'a str,
    pub owner_mm_user_id: Option<&'a str>,
    /// The clientState sent to Graph; stored as its SHA-256.
    pub client_state: &'a str,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: String,
    purpose: String,
    resource: String,
    change_type: String,
    owner_mm_user_id: Option<String>,
    client_state_hash: String,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SubscriptionRow> for GraphSubscription {
    fn from(r: SubscriptionRow) -> Self {
        Self {
            id: r.id,
            purpose: r.purpose,
            resource: r.resource,
            change_type: r.change_type,
            owner_mm_user_id: r.owner_mm_user_id,
            client_state_hash: r.client_state_hash,
            expires_at: r.expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, purpose, resource, change_type, owner_mm_user_id, client_state_hash, expires_at, created_at, updated_at";

impl Store {
    /// Records a subscription Graph created (or replaces the record with the same id).
    pub async fn save_subscription(
        &self,
        new: &NewSubscription<'_>,
    ) -> Result<GraphSubscription, StoreError> {
        let sql = format!(
            "INSERT INTO graph_subscriptions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (id) DO UPDATE SET
                 purpose = excluded.purpose, resource = excluded.resource,
                 change_type = excluded.change_type, owner_mm_user_id = excluded.owner_mm_user_id,
                 client_state_hash = excluded.client_state_hash, expires_at = excluded.expires_at,
                 updated_at = excluded.updated_at
             RETURNING {COLUMNS}"
        );
        let row: SubscriptionRow = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(new.id)
            .bind(new.purpose)
            .bind(new.resource)
            .bind(new.change_type)
            .bind(new.owner_mm_user_id)
            .bind(fingerprint(new.client_state))
            .bind(new.expires_at)
            .bind(new.now)
            .fetch_one(pool)
            .await?);
        Ok(row.into())
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<GraphSubscription>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM graph_subscriptions WHERE id = $1");
        let row: Option<SubscriptionRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
        Ok(row.map(Into::into))
    }

    /// Every subscription, soonest expiry first.
    pub async fn subscriptions(&self) -> Result<Vec<GraphSubscription>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM graph_subscriptions ORDER BY expires_at, id");
        let rows: Vec<SubscriptionRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn subscriptions_for_purpose(
        &self,
        purpose: &str,
    ) -> Result<Vec<GraphSubscription>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM graph_subscriptions WHERE purpose = $1 ORDER BY expires_at, id"
        );
        let rows: Vec<SubscriptionRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(purpose).fetch_all(pool).await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Subscriptions that expire before `before`: the renewal job's work.
    pub async fn subscriptions_expiring_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<GraphSubscription>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM graph_subscriptions WHERE expires_at < $1 ORDER BY expires_at, id"
        );
        let rows: Vec<SubscriptionRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(before).fetch_all(pool).await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Stores the new expiry Graph returned after a renewal. False if the id is unknown.
    pub async fn renew_subscription(
        &self,
        id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE graph_subscriptions SET expires_at = $2, updated_at = $3 WHERE id = $1";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(id)
            .bind(expires_at)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Forgets a subscription. True if it existed.
    pub async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM graph_subscriptions WHERE id = $1";
        let n =
            on_pool!(self, pool => sqlx::query(sql).bind(id).execute(pool).await?.rows_affected());
        Ok(n == 1)
    }
}
