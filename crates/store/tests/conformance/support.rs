use std::io::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use store::{Store, StoreOptions};

pub(crate) const POSTGRES_URL_VAR: &str = "STORE_TEST_POSTGRES_URL";

/// A store for one test, with whatever keeps its database alive.
pub(crate) struct TestStore {
    pub(crate) store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite file in a temporary directory, not yet migrated.
pub(crate) async fn sqlite() -> Option<TestStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/nested/dir/bridge.db", dir.path().display());
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .expect("open SQLite");
    Some(TestStore {
        store,
        _dir: Some(dir),
    })
}

/// A fresh schema in the PostgreSQL database named by `STORE_TEST_POSTGRES_URL`, not yet migrated.
/// `None` (after saying so) when the variable is unset; a panic when it is set but unreachable.
pub(crate) async fn postgres() -> Option<TestStore> {
    let Some(base) = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            // Written past the test harness's capture, so the skip is visible in `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "\nNOTE: PostgreSQL conformance suite SKIPPED ({POSTGRES_URL_VAR} is not set or empty); \
                 only SQLite was tested. `.ci/run` runs both.\n"
            );
        });
        return None;
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "conformance_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        Utc::now().timestamp_subsec_nanos()
    );
    let admin = sqlx::PgPool::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options[search_path]={schema}");
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .expect("open PostgreSQL");
    Some(TestStore { store, _dir: None })
}

/// A fixed instant plus `millis`, so tests decide what time it is, down to fractions of a second.
pub(crate) fn at(millis: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
        .single()
        .expect("valid date")
        + chrono::TimeDelta::milliseconds(millis)
}
