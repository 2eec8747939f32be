use chrono::{DateTime, Utc};

use crate::backend::on_pool;
use crate::{Sealed, Store, StoreError, fingerprint};

/// A sign-in round trip being started: the state goes to Microsoft in the authorize URL.
#[derive(Debug, Clone)]
pub struct NewOAuthState<'a> {
    /// The random state value. Only its SHA-256 is stored.
    pub state: &'a str,
    pub mm_user_id: &'a str,
    /// What the sign-in is for, such as `connect` or `connect-bot`.
    pub purpose: &'a str,
    /// The PKCE code verifier, sealed; it never leaves the server.
    pub pkce_verifier: &'a Sealed,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A stored state, as handed back once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    pub mm_user_id: String,
    pub purpose: String,
    pub pkce_verifier: Sealed,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Outcome of [`Store::take_oauth_state`]. In every case the state can no longer be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLookup {
    Valid(OAuthState),
    /// Known, but past its expiry. Returned so the page can say whose sign-in timed out.
    Expired(OAuthState),
    /// Never issued, or already used.
    Unknown,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    mm_user_id: String,
    purpose: String,
    sealed_pkce_verifier: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl Store {
    pub async fn create_oauth_state(&self, new: &NewOAuthState<'_>) -> Result<(), StoreError> {
        let sql = "INSERT INTO oauth_states
                   (state_hash, mm_user_id, purpose, sealed_pkce_verifier, created_at, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, pool => {
            sqlx::query(sql)
            .bind(fingerprint(new.state))
            .bind(new.mm_user_id)
            .bind(new.purpose)
            .bind(new.pkce_verifier.as_str())
            .bind(new.created_at)
            .bind(new.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Consumes a state issued for `purpose`: one atomic delete, so two concurrent redirects with
    /// the same state cannot both succeed. A state issued for another purpose is left alone and
    /// reported as unknown.
    pub async fn take_oauth_state(
        &self,
        state: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<StateLookup, StoreError> {
        let sql = "DELETE FROM oauth_states WHERE state_hash = $1 AND purpose = $2
                   RETURNING mm_user_id, purpose, sealed_pkce_verifier, created_at, expires_at";
        let row: Option<StateRow> = on_pool!(self, pool => sqlx::query_as(sql).bind(fingerprint(state)).bind(purpose).fetch_optional(pool).await?);
        Ok(lookup(row, now))
    }

    /// Looks a state up without using it: the connect page needs the PKCE verifier to send the
    /// user to Microsoft, and the redirect consumes the state later with [`Store::take_oauth_state`].
    pub async fn peek_oauth_state(
        &self,
        state: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<StateLookup, StoreError> {
        let sql = "SELECT mm_user_id, purpose, sealed_pkce_verifier, created_at, expires_at
                   FROM oauth_states WHERE state_hash = $1 AND purpose = $2";
        let row: Option<StateRow> = on_pool!(self, pool => sqlx::query_as(sql).bind(fingerprint(state)).bind(purpose).fetch_optional(pool).await?);
        Ok(lookup(row, now))
    }

    /// Deletes states that expired before `now`; returns how many.
    pub async fn purge_expired_oauth_states(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM oauth_states WHERE expires_at <= $1";
        Ok(on_pool!(self, pool => sqlx::query(sql).bind(now).execute(pool).await?.rows_affected()))
    }
}

fn lookup(row: Option<StateRow>, now: DateTime<Utc>) -> StateLookup {
    match row {
        None => StateLookup::Unknown,
        Some(row) => {
            let found = OAuthState {
                mm_user_id: row.mm_user_id,
                purpose: row.purpose,
                pkce_verifier: Sealed::from_stored(row.sealed_pkce_verifier),
                created_at: row.created_at,
                expires_at: row.expires_at,
            };
            if found.expires_at <= now {
                StateLookup::Expired(found)
            } else {
                StateLookup::Valid(found)
            }
        }
    }
}
