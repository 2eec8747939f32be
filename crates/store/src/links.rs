use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::error::is_unique_violation;
use crate::{LinkConflict, Sealed, Store, StoreError};

/// The associated data a link's token is sealed with, binding it to its row: a sealed token copied
/// to another user's link does not open.
pub fn link_token_context(mm_user_id: &str) -> String {
    format!("account_link:{mm_user_id}")
}

/// A Mattermost user's link to a Microsoft account, connected or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLink {
    pub mm_user_id: String,
    pub teams_user_id: String,
    /// The Microsoft mail or UPN that matched the Mattermost email (or the admin mapping).
    pub teams_login: String,
    /// The sealed OAuth token set; `None` once disconnected.
    pub token: Option<Sealed>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub connected_at: DateTime<Utc>,
    pub disconnected_at: Option<DateTime<Utc>>,
}

impl AccountLink {
    pub fn is_connected(&self) -> bool {
        self.disconnected_at.is_none()
    }
}

/// What [`Store::link_account`] writes.
#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    pub mm_user_id: &'a str,
    pub teams_user_id: &'a str,
    pub teams_login: &'a str,
    pub token: &'a Sealed,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    mm_user_id: String,
    teams_user_id: String,
    teams_login: String,
    sealed_token: Option<String>,
    token_expires_at: Option<DateTime<Utc>>,
    connected_at: DateTime<Utc>,
    disconnected_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct LinkWithPreference {
    #[sqlx(flatten)]
    link: LinkRow,
    preference: Option<String>,
}

impl From<LinkRow> for AccountLink {
    fn from(row: LinkRow) -> Self {
        Self {
            mm_user_id: row.mm_user_id,
            teams_user_id: row.teams_user_id,
            teams_login: row.teams_login,
            token: row.sealed_token.map(Sealed::from_stored),
            token_expires_at: row.token_expires_at,
            connected_at: row.connected_at,
            disconnected_at: row.disconnected_at,
        }
    }
}

const COLUMNS: &str = "mm_user_id, teams_user_id, teams_login, sealed_token, token_expires_at, connected_at, disconnected_at";

impl Store {
    /// Connects `mm_user_id` to `teams_user_id`, or refreshes the token of that same link.
    ///
    /// Fails with [`StoreError::LinkConflict`] when either side is already connected to someone
    /// else; nothing is written then.
    pub async fn link_account(&self, link: &NewLink<'_>) -> Result<AccountLink, StoreError> {
        let sql = format!(
            "INSERT INTO account_links ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)
             ON CONFLICT (mm_user_id) DO UPDATE SET
                 teams_user_id = excluded.teams_user_id,
                 teams_login = excluded.teams_login,
                 sealed_token = excluded.sealed_token,
                 token_expires_at = excluded.token_expires_at,
                 connected_at = CASE WHEN account_links.disconnected_at IS NULL
                     THEN account_links.connected_at ELSE excluded.connected_at END,
                 disconnected_at = NULL
             WHERE account_links.disconnected_at IS NOT NULL
                OR account_links.teams_user_id = excluded.teams_user_id
             RETURNING {COLUMNS}"
        );
        let result: Result<Option<LinkRow>, sqlx::Error> = on_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(link.mm_user_id)
                .bind(link.teams_user_id)
                .bind(link.teams_login)
                .bind(link.token.as_str())
                .bind(link.token_expires_at)
                .bind(link.now)
                .fetch_optional(pool)
                .await
        });
        match result {
            Ok(Some(row)) => Ok(row.into()),
            Ok(None) => {
                let existing = self.account_link(link.mm_user_id).await?;
                Err(StoreError::LinkConflict(
                    LinkConflict::MattermostUserLinked {
                        teams_user_id: existing.map(|l| l.teams_user_id).unwrap_or_default(),
                    },
                ))
            }
            Err(err) if is_unique_violation(&err) => {
                let holder = self
                    .connected_link_by_teams_user(link.teams_user_id)
                    .await?;
                Err(StoreError::LinkConflict(LinkConflict::TeamsUserLinked {
                    mm_user_id: holder.map(|l| l.mm_user_id).unwrap_or_default(),
                }))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The link of a Mattermost user, connected or disconnected.
    pub async fn account_link(&self, mm_user_id: &str) -> Result<Option<AccountLink>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM account_links WHERE mm_user_id = $1");
        let row: Option<LinkRow> = on_pool!(self, pool => sqlx::query_as(&sql).bind(mm_user_id).fetch_optional(pool).await?);
        Ok(row.map(Into::into))
    }

    /// The connected link that holds a Teams account, if any.
    pub async fn connected_link_by_teams_user(
        &self,
        teams_user_id: &str,
    ) -> Result<Option<AccountLink>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM account_links WHERE teams_user_id = $1 AND disconnected_at IS NULL"
        );
        let row: Option<LinkRow> = on_pool!(self, pool => sqlx::query_as(&sql).bind(teams_user_id).fetch_optional(pool).await?);
        Ok(row.map(Into::into))
    }

    /// Swaps a connected link's sealed token for `new` only if it is still `current`: re-sealing
    /// with a new key must not overwrite a token refreshed in the meantime. True if swapped.
    pub async fn replace_link_token(
        &self,
        mm_user_id: &str,
        current: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE account_links SET sealed_token = $3
                   WHERE mm_user_id = $1 AND sealed_token = $2 AND disconnected_at IS NULL";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(mm_user_id)
            .bind(current.as_str())
            .bind(new.as_str())
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Stores a refreshed token set only if the link still holds `current`, the token it was
    /// refreshed from: a user who disconnected, or reconnected (perhaps to another account) while
    /// the refresh was on its way, keeps what they have now. True if stored.
    pub async fn refresh_link_token(
        &self,
        mm_user_id: &str,
        current: &Sealed,
        new: &Sealed,
        token_expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE account_links SET sealed_token = $3, token_expires_at = $4
                   WHERE mm_user_id = $1 AND sealed_token = $2 AND disconnected_at IS NULL";
        let n = on_pool!(self, pool => sqlx::query(sql)
            .bind(mm_user_id)
            .bind(current.as_str())
            .bind(new.as_str())
            .bind(token_expires_at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Marks the link disconnected and deletes its token. Returns false if it was not connected.
    pub async fn disconnect_account(
        &self,
        mm_user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE account_links SET disconnected_at = $2, sealed_token = NULL, token_expires_at = NULL
                   WHERE mm_user_id = $1 AND disconnected_at IS NULL";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(mm_user_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Disconnects the link only if it still holds `current`: a refresh that Microsoft refused
    /// must not end a link the user renewed (reconnected) while the refresh was on its way.
    /// True if it was disconnected.
    pub async fn disconnect_account_if_token(
        &self,
        mm_user_id: &str,
        current: &Sealed,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE account_links SET disconnected_at = $3, sealed_token = NULL, token_expires_at = NULL
                   WHERE mm_user_id = $1 AND sealed_token = $2 AND disconnected_at IS NULL";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(mm_user_id)
            .bind(current.as_str())
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Connected links whose token expires before `before`, soonest first: the refresh job's work.
    pub async fn links_expiring_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AccountLink>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM account_links
             WHERE disconnected_at IS NULL AND token_expires_at IS NOT NULL AND token_expires_at < $1
             ORDER BY token_expires_at, mm_user_id LIMIT $2"
        );
        let rows: Vec<LinkRow> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The connected links of these Teams accounts, each with the value of the user preference
    /// `preference` (if set): one query for a whole chat's members.
    pub async fn connected_links_with_preference(
        &self,
        teams_user_ids: &[String],
        preference: &str,
    ) -> Result<Vec<(AccountLink, Option<String>)>, StoreError> {
        if teams_user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::new();
        // Bounded lists: a chat has at most a few hundred members, but keep statements small.
        for chunk in teams_user_ids.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT l.mm_user_id, l.teams_user_id, l.teams_login, l.sealed_token, l.token_expires_at,
                        l.connected_at, l.disconnected_at, p.value AS preference
                 FROM account_links l
                 LEFT JOIN user_preferences p ON p.mm_user_id = l.mm_user_id AND p.name = $1
                 WHERE l.disconnected_at IS NULL AND l.teams_user_id IN ({})
                 ORDER BY l.mm_user_id",
                placeholders.join(", ")
            );
            let found: Vec<LinkWithPreference> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(&sql).bind(preference);
                for id in chunk {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?
            });
            rows.extend(found);
        }
        Ok(rows
            .into_iter()
            .map(|r| (r.link.into(), r.preference))
            .collect())
    }

    /// Connected links in Mattermost user id order, a page at a time: pass the last id seen.
    pub async fn connected_links(
        &self,
        after_mm_user_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountLink>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM account_links
             WHERE disconnected_at IS NULL AND mm_user_id > $1
             ORDER BY mm_user_id LIMIT $2"
        );
        let rows: Vec<LinkRow> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(after_mm_user_id.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many users are connected now.
    pub async fn count_connected_links(&self) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM account_links WHERE disconnected_at IS NULL";
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
