use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        })
    }
}

pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same statement on whichever pool the store has. The body is expanded once per backend,
/// so one SQL text (with `$1`-style parameters, which both drivers accept) serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &*$store.backend {
            $crate::backend::Backend::Sqlite($pool) => $body,
            $crate::backend::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Tuning of the connection pool. The defaults suit one replica of a small or medium site.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Upper bound on open connections (PostgreSQL); SQLite uses at most this many readers.
    pub max_connections: u32,
    /// How long an operation waits for a free connection before failing with `Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Result of [`Store::migrate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call, oldest first; empty when the schema was already current.
    pub applied: Vec<i64>,
    /// Number of migrations the schema now has.
    pub total: usize,
}

/// The bridges' durable state, on SQLite or PostgreSQL.
///
/// Cheap to clone: clones share one connection pool. Every operation that depends on the time
/// takes `now` from the caller, so the domain's clock (and tests) decide what time it is.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: std::sync::Arc<Backend>,
}

impl fmt::Debug for Store {
    // The URL may hold a password, so only the backend kind is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.kind())
            .finish()
    }
}

impl Store {
    /// Opens the database named by `url` (`sqlite://...` or `postgres://...`) without touching
    /// its schema. A SQLite file and its parent directory are created if missing.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let backend = match scheme(url)? {
            BackendKind::Sqlite => Backend::Sqlite(connect_sqlite(url, options).await?),
            BackendKind::Postgres => Backend::Postgres(connect_postgres(url, options).await?),
        };
        Ok(Self {
            backend: std::sync::Arc::new(backend),
        })
    }

    /// [`Store::connect`], then [`Store::migrate`]: what `serve` does at start.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let store = Self::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn kind(&self) -> BackendKind {
        match &*self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Applies the embedded migrations that the database lacks. Idempotent; safe to run from
    /// several replicas at once (PostgreSQL serialises them with an advisory lock).
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let before = self.applied_migrations().await?;
        let total = match &*self.backend {
            Backend::Sqlite(pool) => {
                SQLITE_MIGRATIONS.run(pool).await?;
                SQLITE_MIGRATIONS.iter().count()
            }
            Backend::Postgres(pool) => {
                POSTGRES_MIGRATIONS.run(pool).await?;
                POSTGRES_MIGRATIONS.iter().count()
            }
        };
        let after = self.applied_migrations().await?;
        let applied = after.into_iter().filter(|v| !before.contains(v)).collect();
        Ok(MigrationReport { applied, total })
    }

    /// Versions of the migrations recorded as applied, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let exists_sql = match self.kind() {
            BackendKind::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            BackendKind::Postgres => {
                "SELECT COUNT(*) FROM (SELECT to_regclass('_sqlx_migrations') AS t) s WHERE t IS NOT NULL"
            }
        };
        let exists: i64 =
            on_pool!(self, pool => sqlx::query_scalar(exists_sql).fetch_one(pool).await?);
        if exists == 0 {
            return Ok(Vec::new());
        }
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await?))
    }

    /// Number of embedded migrations not yet applied; `readyz` reports not ready while above 0.
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        let applied = self.applied_migrations().await?;
        let migrator = match self.kind() {
            BackendKind::Sqlite => &SQLITE_MIGRATIONS,
            BackendKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        Ok(migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count())
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// Waits for in-flight operations and closes every connection.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

fn scheme(url: &str) -> Result<BackendKind, StoreError> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(BackendKind::Sqlite),
        Some("postgres" | "postgresql") => Ok(BackendKind::Postgres),
        _ => Err(StoreError::InvalidUrl {
            reason: format!(
                "{} is not supported; use sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            ),
        }),
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

async fn connect_sqlite(url: &str, options: &StoreOptions) -> Result<SqlitePool, StoreError> {
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl {
            reason: format!("{}: {e}", redact_url(url)),
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let filename = connect.get_filename();
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if let Some(parent) = filename
        .parent()
        .filter(|p| !in_memory && !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::InvalidUrl {
            reason: format!("cannot create directory {}: {e}", parent.display()),
        })?;
    }
    // An in-memory database lives as long as its one connection, so the pool keeps exactly one.
    let pool = if in_memory {
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(options.max_connections.max(1))
    };
    let pool = pool
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await?;
    Ok(pool)
}

async fn connect_postgres(url: &str, options: &StoreOptions) -> Result<PgPool, StoreError> {
    let connect = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl {
        reason: format!("{}: {e}", redact_url(url)),
    })?;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://bridge:s3cret@db.example:5432/bridge?sslmode=require"),
            "postgres://bridge:***@db.example:5432/bridge?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://bridge@db/x"),
            "postgres://bridge@db/x"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/x.db"),
            "sqlite:///var/lib/x.db"
        );
    }

    #[test]
    fn unknown_scheme_is_rejected_without_leaking_the_password() {
        let err = scheme("mysql://root:hunter2@db/x").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not supported"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
