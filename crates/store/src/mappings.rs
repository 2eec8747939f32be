use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::{Store, StoreError};

/// An admin's mapping (B5): the Mattermost user may link the Microsoft account known by
/// `microsoft_login` although it differs from their Mattermost email.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LoginMapping {
    pub mm_user_id: String,
    pub microsoft_login: String,
    /// The Mattermost user id of the admin who made it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Sets (or replaces) the mapping of `mm_user_id`.
    pub async fn set_login_mapping(
        &self,
        mm_user_id: &str,
        microsoft_login: &str,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO login_mappings (mm_user_id, microsoft_login, created_by, created_at)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (mm_user_id) DO UPDATE SET microsoft_login = excluded.microsoft_login,
                       created_by = excluded.created_by, created_at = excluded.created_at";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(mm_user_id)
                .bind(microsoft_login)
                .bind(created_by)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn login_mapping(
        &self,
        mm_user_id: &str,
    ) -> Result<Option<LoginMapping>, StoreError> {
        let sql = "SELECT mm_user_id, microsoft_login, created_by, created_at FROM login_mappings
                   WHERE mm_user_id = $1";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).bind(mm_user_id).fetch_optional(pool).await?))
    }

    /// Returns true if there was a mapping.
    pub async fn remove_login_mapping(&self, mm_user_id: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM login_mappings WHERE mm_user_id = $1";
        let n = on_pool!(self, pool => sqlx::query(sql).bind(mm_user_id).execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Every mapping, in Mattermost user id order.
    pub async fn login_mappings(&self) -> Result<Vec<LoginMapping>, StoreError> {
        let sql = "SELECT mm_user_id, microsoft_login, created_by, created_at FROM login_mappings
                   ORDER BY mm_user_id";
        Ok(on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?))
    }
}
