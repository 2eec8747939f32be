use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::{Store, StoreError};

/// Per-user settings, as named text values. The domain crates own the names and their parsing
/// (`notifications`, `daily_summary_time`, ...); the store only keeps them.
impl Store {
    pub async fn set_preference(
        &self,
        mm_user_id: &str,
        name: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO user_preferences (mm_user_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (mm_user_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
        on_pool!(self, pool => {
            sqlx::query(sql)
            .bind(mm_user_id)
            .bind(name)
            .bind(value)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn preference(
        &self,
        mm_user_id: &str,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT value FROM user_preferences WHERE mm_user_id = $1 AND name = $2";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(mm_user_id)
            .bind(name)
            .fetch_optional(pool)
            .await?))
    }

    /// Every preference of one user, by name.
    pub async fn preferences(
        &self,
        mm_user_id: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let sql = "SELECT name, value FROM user_preferences WHERE mm_user_id = $1";
        let rows: Vec<(String, String)> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(mm_user_id).fetch_all(pool).await?);
        Ok(rows.into_iter().collect())
    }

    /// Returns true if the preference existed.
    pub async fn delete_preference(
        &self,
        mm_user_id: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM user_preferences WHERE mm_user_id = $1 AND name = $2";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(mm_user_id)
            .bind(name)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Users whose preference `name` equals `value`, in id order (for example everyone with
    /// notifications on).
    pub async fn users_with_preference(
        &self,
        name: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT mm_user_id FROM user_preferences WHERE name = $1 AND value = $2 ORDER BY mm_user_id";
        Ok(
            on_pool!(self, pool => sqlx::query_scalar(sql).bind(name).bind(value).fetch_all(pool).await?),
        )
    }
}
