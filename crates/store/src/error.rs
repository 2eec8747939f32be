use std::fmt;

/// Everything a store operation can fail with. Variants are what a caller acts on: retry later
/// (`Unavailable`), give up on a claim (`LeaseLost`), tell a user (`LinkConflict`), or fix the
/// deployment (`InvalidUrl`, `Migration`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is not one this crate can open. The message never contains a password.
    #[error("invalid store URL: {reason}")]
    InvalidUrl { reason: String },
    /// The database could not be reached or the pool gave up waiting; worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("schema migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The caller's claim, reservation or lease was taken over by someone else (it had expired).
    /// Whatever the caller was doing must not be committed.
    #[error("lease lost: {what} is no longer held by this worker")]
    LeaseLost { what: &'static str },
    /// Linking would break the one-to-one rule between Mattermost and Teams accounts.
    #[error("{0}")]
    LinkConflict(LinkConflict),
    /// A value read back from the database is not one this version wrote.
    #[error("unexpected value in the database: {what}")]
    Corrupt { what: String },
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

/// Why an account link was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkConflict {
    /// The Mattermost user is already connected to a different Teams account.
    MattermostUserLinked { teams_user_id: String },
    /// The Teams account is already connected to a different Mattermost user.
    TeamsUserLinked { mm_user_id: String },
}

impl fmt::Display for LinkConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MattermostUserLinked { .. } => f.write_str(
                "this Mattermost account is already connected to another Microsoft account",
            ),
            Self::TeamsUserLinked { .. } => f.write_str(
                "this Microsoft account is already connected to another Mattermost account",
            ),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => Self::Corrupt {
                what: err.to_string(),
            },
            sqlx::Error::Migrate(err) => Self::Migration(*err),
            other => Self::Database(other),
        }
    }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
