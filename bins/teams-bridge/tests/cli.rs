//! The `teams-bridge` binary, driven as an admin drives it.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use e2e_support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_teams-bridge");

const SECRETS: [&str; 4] = [
    "bot-token-SECRET-1",
    "command-token-SECRET-2",
    "client-secret-SECRET-3",
    "webhook-secret-SECRET-4-long-enough",
];

fn good_config(dir: &Path, listen: SocketAddr) -> PathBuf {
    let path = dir.join("teams-bridge.toml");
    let text = format!(
        r#"
[server]
listen = "{listen}"
public_url = "https://bridge.example.com"

[store]
data_dir = "{data}"

[mattermost]
url = "https://chat.example.com"
bot_token = "{}"
command_token = "{}"

[microsoft]
tenant_id = "contoso.onmicrosoft.com"
client_id = "00000000-1111-2222-3333-444444444444"
client_secret = "{}"
webhook_secret = "{}"
billing_model = "A"
"#,
        SECRETS[0],
        SECRETS[1],
        SECRETS[2],
        SECRETS[3],
        data = dir.join("data").display(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs the binary with a clean environment (no stray TEAMS_BRIDGE__ variables).
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run teams-bridge")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_names_each_problem_in_a_bad_file() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bad.toml");
    let out = run(&["check-config", "--config", fixture], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for key in [
        "server.listen",
        "server.public_url",
        "store.url",
        "store.encryption_key",
        "mattermost.url",
        "mattermost.bot_token",
        "mattermost.bot_tokn: unknown key",
        "mattermost.command_token",
        "microsoft.tenant_id",
        "microsoft.client_id",
        "microsoft.client_secret",
        "microsoft.webhook_secret",
        "microsoft.billing_model",
    ] {
        assert!(
            stderr.contains(&format!("error: {key}")),
            "{key} not reported:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("hunter2"),
        "the database password leaked:\n{stderr}"
    );
    assert!(stderr.contains("configuration has 13 error(s)"), "{stderr}");
}

#[test]
fn check_config_accepts_a_good_file_and_shows_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = good_config(dir.path(), free_port());
    let out = run(
        &["check-config", "--config", config.to_str().expect("utf8")],
        &[],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(
        stdout.contains("mattermost.bot_token = set (hidden)"),
        "{stdout}"
    );
    for secret in SECRETS {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown"
        );
    }
    // check-config contacts nothing and creates nothing.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn environment_variables_override_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = good_config(dir.path(), free_port());
    let out = run(
        &["check-config", "-c", config.to_str().expect("utf8")],
        &[("TEAMS_BRIDGE__MICROSOFT__CLIENT_ID", "not-a-guid")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: microsoft.client_id: `not-a-guid` is not a GUID (from TEAMS_BRIDGE__MICROSOFT__CLIENT_ID)"),
        "{stderr}"
    );
}

#[test]
fn migrate_creates_the_sqlite_schema_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("fresh/teams-bridge.db");
    let url = format!("sqlite://{}", db.display());
    let env = [("TEAMS_BRIDGE__STORE__URL", url.as_str())];
    let first = run(&["migrate"], &env);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("applied 5 migration(s) to the SQLite schema"),
        "{}",
        text(&first.stdout)
    );
    assert!(db.exists(), "the database file is created on first use");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let query = |sql: &'static str| {
        runtime.block_on(async {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("open db");
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.expect(sql);
            pool.close().await;
            n
        })
    };
    query("SELECT COUNT(*) FROM (SELECT 1 FROM user_preferences UNION ALL SELECT 1 FROM inbox)");
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("open db");
        sqlx::query("INSERT INTO user_preferences VALUES ('u', 'notifications', 'on', '2026-11-23T00:00:00+00:00')")
            .execute(&pool)
            .await
            .expect("insert");
        pool.close().await;
    });

    let second = run(&["migrate"], &env);
    assert!(second.status.success());
    assert!(
        text(&second.stdout).contains("is up to date (5 migration(s)); nothing changed"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(query("SELECT COUNT(*) FROM _sqlx_migrations"), 5);
    assert_eq!(
        query("SELECT COUNT(*) FROM user_preferences"),
        1,
        "data survives a second migrate"
    );
}

#[test]
fn migrate_creates_the_postgres_schema_once() {
    let Some(base) = std::env::var("STORE_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: `migrate` on PostgreSQL SKIPPED (STORE_TEST_POSTGRES_URL is not set or empty).\n"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let schema = format!("cli_migrate_{}", std::process::id());
    runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&base)
            .await
            .expect("PostgreSQL reachable");
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&pool)
            .await
            .expect("drop");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .expect("create");
    });
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options[search_path]={schema}");
    let env = [("TEAMS_BRIDGE__STORE__URL", url.as_str())];
    let first = run(&["migrate"], &env);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("applied 5 migration(s) to the PostgreSQL schema"),
        "{}",
        text(&first.stdout)
    );
    let second = run(&["migrate"], &env);
    assert!(second.status.success());
    assert!(
        text(&second.stdout).contains("nothing changed"),
        "{}",
        text(&second.stdout)
    );
    let tables: i64 = runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&base)
            .await
            .expect("PostgreSQL reachable");
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1")
            .bind(&schema)
            .fetch_one(&pool)
            .await
            .expect("count tables")
    });
    // Ten tables of ours (user_schedules the latest) plus sqlx's migration ledger.
    assert_eq!(tables, 11);
}

#[test]
fn migrate_with_an_unreachable_database_fails_clearly() {
    let port = free_port().port();
    let url = format!("postgres://bridge:db-password-SECRET@127.0.0.1:{port}/bridge");
    let out = run(&["migrate"], &[("TEAMS_BRIDGE__STORE__URL", url.as_str())]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("opening postgres://bridge:***@127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("db-password-SECRET"), "{stderr}");
}

#[test]
fn generate_key_prints_a_usable_key() {
    let out = run(&["generate-key"], &[]);
    assert!(out.status.success());
    let key = text(&out.stdout).trim().to_owned();
    assert_eq!(key.len(), 44, "base64 of 32 bytes: {key}");
    let again = text(&run(&["generate-key"], &[]).stdout).trim().to_owned();
    assert_ne!(key, again);
    let out = run(
        &["migrate"],
        &[
            ("TEAMS_BRIDGE__STORE__URL", "sqlite::memory:"),
            ("TEAMS_BRIDGE__STORE__ENCRYPTION_KEY", key.as_str()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn serve_refuses_a_bad_config_with_exit_code_2() {
    let out = run(
        &["serve"],
        &[("TEAMS_BRIDGE__MATTERMOST__URL", "https://chat.example.com")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: microsoft.client_id: missing"),
        "{stderr}"
    );
    assert!(stderr.contains("teams-bridge cannot start"), "{stderr}");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

#[test]
fn serve_migrates_answers_health_checks_and_logs_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_port();
    let config = good_config(dir.path(), addr);
    let child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().expect("utf8")])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        if let Some(answer) = http_get(addr, "/readyz") {
            break answer;
        }
        assert!(Instant::now() < deadline, "serve did not come up on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // The store is fine, but this configuration's Mattermost (chat.example.com) cannot be
    // reached: the service is alive and says what keeps it from being ready.
    assert_eq!(ready.0, 503, "{}", ready.1);
    let body: serde_json::Value = serde_json::from_str(&ready.1).expect("json");
    assert_eq!(body["ready"], false);
    assert_eq!(body["store"], "SQLite");
    assert!(
        body["problem"]
            .as_str()
            .unwrap_or("")
            .starts_with("Mattermost does not answer the bot token"),
        "{body}"
    );
    assert_eq!(http_get(addr, "/healthz").map(|(s, _)| s), Some(200));
    // The store and its generated key were made in the data directory.
    assert!(dir.path().join("data/teams-bridge.db").exists());
    assert!(dir.path().join("data/teams-bridge.key").exists());

    let _ = running.0.kill();
    let output = running.0.wait_with_output_ref();
    for secret in SECRETS {
        assert!(
            !output.contains(secret),
            "the log shows {secret}:\n{output}"
        );
    }
    assert!(output.contains("serving"), "{output}");
}

trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> String;
}

impl WaitOutput for Child {
    fn wait_with_output_ref(&mut self) -> String {
        let _ = self.wait();
        let mut all = String::new();
        if let Some(mut out) = self.stdout.take() {
            let _ = out.read_to_string(&mut all);
        }
        if let Some(mut err) = self.stderr.take() {
            let _ = err.read_to_string(&mut all);
        }
        all
    }
}

#[test]
fn sandbox_runs_the_service_against_both_seeded_emulators() {
    let addr = free_port();
    let child = Command::new(BIN)
        .args(["sandbox", "--listen", &addr.to_string()])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sandbox");
    let mut running = Running(child);
    // The sandbox prints its guide once the scripted sign-in is done.
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stdout = running.0.stdout.take().expect("stdout");
    let sink = printed.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = sink.lock() {
                text.push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !printed.lock().expect("lock").contains("Link Bob by hand") {
        assert!(
            Instant::now() < deadline,
            "sandbox did not finish its demo on {addr}: {}",
            printed.lock().expect("lock")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready = http_get(addr, "/readyz").expect("readyz");
    assert_eq!(ready.0, 200, "{}", ready.1);
    let _ = running.0.kill();
    let log = running.0.wait_with_output_ref();
    let output = printed.lock().expect("lock").clone();
    assert!(output.contains("Demo tenant"), "{output}");
    assert!(
        output.contains("@alice: /msteams connect -> http://"),
        "{output}"
    );
    assert!(
        output.contains("bot -> @alice: Your Mattermost account is now connected"),
        "{output}"
    );
    assert!(
        output.contains("@alice clicked Enable notifications -> Chat notifications are on"),
        "{output}"
    );
    // Notifications at work: a message to Alice while Away arrives as the bot's DM; the same
    // while Available is held back.
    assert!(
        output.contains("the service subscribed to /chats/getAllMessages"),
        "{output}"
    );
    assert!(
        output.contains(
            "bot -> @alice: **Bob Jones** in an MS Teams chat: > Are we still on for **3 pm**?"
        ),
        "{output}"
    );
    assert!(
        output.contains("not forwarded: Alice is active in Teams"),
        "{output}"
    );
    assert!(output.contains("/_emulator/presence/"), "{output}");
    assert!(output.contains("/_emulator/slash-commands"), "{output}");
    assert!(
        output.contains("Mattermost emulator") && output.contains("slash command: /msteams"),
        "{output}"
    );
    assert!(!log.contains("ERROR"), "{log}");
    let graph_url = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("graph_url:"))
        .map(str::trim)
        .expect("the sandbox prints the Graph URL")
        .to_owned();
    assert!(
        graph_url.starts_with("http://127.0.0.1:") && graph_url.ends_with("/v1.0"),
        "{graph_url}"
    );
}

#[test]
fn reseal_moves_tokens_to_the_current_key_and_reports_what_it_cannot_open() {
    use secrecy::ExposeSecret as _;
    use store::{EncryptionKey, NewLink, Store, StoreOptions, TokenSealer, link_token_context};

    let dir = tempfile::tempdir().expect("tempdir");
    let config = good_config(dir.path(), free_port());
    let url = format!("sqlite://{}/reseal.db", dir.path().display());
    let (old, new, unknown) = (
        EncryptionKey::generate().expect("key"),
        EncryptionKey::generate().expect("key"),
        EncryptionKey::generate().expect("key"),
    );
    let old_b64 = old.to_base64().expose_secret().to_owned();
    let new_b64 = new.to_base64().expose_secret().to_owned();
    let new_id = new.id().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .expect("store");
        let sealers = [
            ("mm-old", TokenSealer::new(old, vec![])),
            (
                "mm-new",
                TokenSealer::new(EncryptionKey::from_base64(&new_b64).expect("key"), vec![]),
            ),
            ("mm-lost", TokenSealer::new(unknown, vec![])),
        ];
        for (user, sealer) in &sealers {
            let token = sealer
                .seal(b"refresh-token", &link_token_context(user))
                .expect("seal");
            let now = chrono::Utc::now();
            let link = NewLink {
                mm_user_id: user,
                teams_user_id: &format!("teams-{user}"),
                teams_login: "x@contoso.com",
                token: &token,
                token_expires_at: None,
                now,
            };
            store.link_account(&link).await.expect("link");
        }
        store.close().await;
    });

    let env = [
        ("TEAMS_BRIDGE__STORE__URL", url.as_str()),
        ("TEAMS_BRIDGE__STORE__ENCRYPTION_KEY", new_b64.as_str()),
        (
            "TEAMS_BRIDGE__STORE__PREVIOUS_ENCRYPTION_KEYS",
            old_b64.as_str(),
        ),
    ];
    let out = run(
        &["reseal", "--config", config.to_str().expect("utf8")],
        &env,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "a token no key opens is a failure:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("re-sealed 1 token(s)"), "{stdout}");
    assert!(
        stdout.contains("1 already used it") && stdout.contains("1 could not be opened"),
        "{stdout}"
    );
    assert!(stderr.contains("mm-lost"), "{stderr}");
    assert!(!stderr.contains(&new_b64) && !stderr.contains(&old_b64) && !stdout.contains(&new_b64));

    let moved = runtime.block_on(async {
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .expect("store");
        let link = store
            .account_link("mm-old")
            .await
            .expect("read")
            .expect("link");
        store.close().await;
        link.token.expect("token")
    });
    assert_eq!(moved.key_id(), Some(new_id.as_str()));
    let only_new = TokenSealer::new(EncryptionKey::from_base64(&new_b64).expect("key"), vec![]);
    assert_eq!(
        only_new
            .open(&moved, &link_token_context("mm-old"))
            .expect("open"),
        b"refresh-token"
    );

    // Nothing left to do for the keys it can open.
    let again = run(
        &["reseal", "--config", config.to_str().expect("utf8")],
        &env,
    );
    assert!(
        text(&again.stdout).contains("re-sealed 0 token(s)"),
        "{}",
        text(&again.stdout)
    );
}
