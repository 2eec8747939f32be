use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::{Store, StoreError};

/// How far the bridge has seen a chat: catch-up after downtime starts from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatCursor {
    pub chat_id: String,
    pub last_message_at: DateTime<Utc>,
    pub last_message_id: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CursorRow {
    chat_id: String,
    last_message_at: DateTime<Utc>,
    last_message_id: String,
    updated_at: DateTime<Utc>,
}

impl From<CursorRow> for ChatCursor {
    fn from(r: CursorRow) -> Self {
        Self {
            chat_id: r.chat_id,
            last_message_at: r.last_message_at,
            last_message_id: r.last_message_id,
            updated_at: r.updated_at,
        }
    }
}

impl Store {
    /// Moves a chat's cursor forward to a message. A cursor never moves back: returns false, and
    /// changes nothing, when `message_at` is not later than the stored position (late or
    /// out-of-order notifications).
    pub async fn advance_chat_cursor(
        &self,
        chat_id: &str,
        message_at: DateTime<Utc>,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO chat_cursors (chat_id, last_message_at, last_message_id, updated_at)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (chat_id) DO UPDATE SET
                       last_message_at = excluded.last_message_at,
                       last_message_id = excluded.last_message_id,
                       updated_at = excluded.updated_at
                   WHERE excluded.last_message_at > chat_cursors.last_message_at";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(chat_id)
            .bind(message_at)
            .bind(message_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    pub async fn chat_cursor(&self, chat_id: &str) -> Result<Option<ChatCursor>, StoreError> {
        let sql = "SELECT chat_id, last_message_at, last_message_id, updated_at FROM chat_cursors WHERE chat_id = $1";
        let row: Option<CursorRow> =
            on_pool!(self, pool => sqlx::query_as(sql).bind(chat_id).fetch_optional(pool).await?);
        Ok(row.map(Into::into))
    }

    /// Every cursor, in chat id order: the catch-up job's list of chats.
    pub async fn chat_cursors(&self) -> Result<Vec<ChatCursor>, StoreError> {
        let sql = "SELECT chat_id, last_message_at, last_message_id, updated_at FROM chat_cursors ORDER BY chat_id";
        let rows: Vec<CursorRow> =
            on_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
