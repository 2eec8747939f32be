use std::path::PathBuf;

use bridge_service::Product;
use bridge_service::config::{self, BillingModel, KeySource, Loaded, Severity};
use secrecy::ExposeSecret as _;

const MINIMAL: &str = r#"
[mattermost]
url = "https://chat.example.com/"
bot_token = "bot-token-SECRET-1"
command_token = "command-token-SECRET-2"

[microsoft]
tenant_id = "0f0e0d0c-0b0a-0908-0706-050403020100"
client_id = "00000000-1111-2222-3333-444444444444"
client_secret = "client-secret-SECRET-3"
webhook_secret = "webhook-secret-SECRET-4-long-enough"
"#;

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn load(product: Product, text: &str, env: &[(&str, &str)]) -> Loaded {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, text);
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    config::load_from(product, Some(&path), env)
}

fn error_keys(loaded: &Loaded) -> Vec<&str> {
    loaded.errors().map(|p| p.key.as_str()).collect()
}

#[test]
fn mattermost_and_microsoft_settings_alone_give_a_working_config() {
    let loaded = load(Product::Teams, MINIMAL, &[]);
    assert_eq!(
        error_keys(&loaded),
        Vec::<&str>::new(),
        "{:?}",
        loaded.problems
    );
    let warnings: Vec<_> = loaded.warnings().map(|p| p.key.clone()).collect();
    let config = loaded.config.expect("config");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.server.endpoint("/graph/notifications"),
        "http://127.0.0.1:8080/graph/notifications"
    );
    assert_eq!(config.store.url.expose(), "sqlite://data/teams-bridge.db");
    assert!(
        matches!(&config.store.encryption_key, KeySource::File(p) if p.ends_with("teams-bridge.key"))
    );
    assert_eq!(
        config.microsoft.graph_url.as_str(),
        "https://graph.microsoft.com/v1.0"
    );
    assert_eq!(
        config.microsoft.login_url.as_str(),
        "https://login.microsoftonline.com/"
    );
    assert_eq!(config.microsoft.billing_model, BillingModel::Evaluation);
    assert_eq!(config.mattermost.url.as_str(), "https://chat.example.com/");
    // The defaults that need the admin's attention are warnings, by key.
    assert_eq!(
        warnings,
        [
            "microsoft.billing_model",
            "server.public_url",
            "store.encryption_key"
        ]
    );

    let calendar = load(Product::Calendar, MINIMAL, &[])
        .config
        .expect("calendar config");
    assert_eq!(calendar.server.listen.to_string(), "127.0.0.1:8081");
    assert_eq!(
        calendar.store.url.expose(),
        "sqlite://data/calendar-bridge.db"
    );
}

#[test]
fn environment_overrides_the_file_and_can_stand_alone() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let loaded = load(
        Product::Teams,
        MINIMAL,
        &[
            ("TEAMS_BRIDGE__MATTERMOST__URL", "https://other.example.com"),
            (
                "TEAMS_BRIDGE__SERVER__PUBLIC_URL",
                "https://bridge.example.com/prefix/",
            ),
            ("TEAMS_BRIDGE__STORE__URL", "postgres://bridge:pw@db/bridge"),
            ("TEAMS_BRIDGE__STORE__ENCRYPTION_KEY", key),
            (
                "TEAMS_BRIDGE__STORE__PREVIOUS_ENCRYPTION_KEYS",
                &format!("{key}, {key}"),
            ),
            ("TEAMS_BRIDGE__STORE__MAX_CONNECTIONS", "20"),
            ("TEAMS_BRIDGE__MICROSOFT__BILLING_MODEL", "b"),
            (
                "TEAMS_BRIDGE__MICROSOFT__GRAPH_URL",
                "http://127.0.0.1:9000/v1.0",
            ),
            (
                "CALENDAR_BRIDGE__MATTERMOST__URL",
                "ignored: another product's prefix",
            ),
            ("UNRELATED", "x"),
        ],
    );
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let config = loaded.config.expect("config");
    assert_eq!(config.mattermost.url.as_str(), "https://other.example.com/");
    assert_eq!(
        config.server.endpoint("oauth/redirect"),
        "https://bridge.example.com/prefix/oauth/redirect"
    );
    assert!(config.store.url.is_postgres());
    assert_eq!(config.store.previous_encryption_keys.len(), 2);
    assert_eq!(config.store.max_connections, 20);
    assert_eq!(config.microsoft.billing_model, BillingModel::B);
    assert_eq!(
        config.microsoft.graph_url.as_str(),
        "http://127.0.0.1:9000/v1.0"
    );

    // No file at all: everything from the environment.
    let env = [
        ("TEAMS_BRIDGE__MATTERMOST__URL", "https://chat.example.com"),
        ("TEAMS_BRIDGE__MATTERMOST__BOT_TOKEN", "b"),
        ("TEAMS_BRIDGE__MATTERMOST__ADMIN_TOKEN", "a"),
        (
            "TEAMS_BRIDGE__MICROSOFT__TENANT_ID",
            "contoso.onmicrosoft.com",
        ),
        (
            "TEAMS_BRIDGE__MICROSOFT__CLIENT_ID",
            "00000000-1111-2222-3333-444444444444",
        ),
        ("TEAMS_BRIDGE__MICROSOFT__CLIENT_SECRET", "s"),
        (
            "TEAMS_BRIDGE__MICROSOFT__WEBHOOK_SECRET",
            "0123456789abcdef",
        ),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let loaded = config::load_from(Product::Teams, None, env);
    assert_eq!(error_keys(&loaded), Vec::<&str>::new());
    let config = loaded.config.expect("env-only config");
    assert!(
        config.mattermost.command_token.is_none(),
        "admin_token lets the service register the command"
    );
}

#[test]
fn every_problem_is_reported_with_its_key_and_no_secret() {
    let text = r#"
[server]
listen = "nowhere"
public_url = "ftp://bridge.example.com"
[store]
url = "mysql://root:hunter2@db/x"
encryption_key = "c2VjcmV0LWtleS1TRUNSRVQtNQ=="
previous_encryption_keys = ["not base64 SECRET-6", 7]
max_connections = "many"
[mattermost]
url = "chat.example.com"
bot_tokn = "typo"
[microsoft]
tenant_id = "not a tenant"
client_id = "1234"
webhook_secret = "SECRET-7"
billing_model = "C"
graph_url = "graph"
[log]
level = "loud=="
format = "xml"
[loging]
level = "debug"
"#;
    let loaded = load(Product::Teams, text, &[("TEAMS_BRIDGE__NOT_A_KEY", "1")]);
    assert!(loaded.config.is_none());
    let keys = error_keys(&loaded);
    for expected in [
        "TEAMS_BRIDGE__NOT_A_KEY",
        "log.format",
        "log.level",
        "loging.level",
        "mattermost.bot_token",
        "mattermost.bot_tokn",
        "mattermost.command_token",
        "mattermost.url",
        "microsoft.billing_model",
        "microsoft.client_id",
        "microsoft.client_secret",
        "microsoft.graph_url",
        "microsoft.tenant_id",
        "microsoft.webhook_secret",
        "server.listen",
        "server.public_url",
        "store.encryption_key",
        "store.max_connections",
        "store.previous_encryption_keys[0]",
        "store.previous_encryption_keys[1]",
        "store.url",
    ] {
        assert!(
            keys.contains(&expected),
            "no problem reported for {expected}; got {keys:?}"
        );
    }
    let all = loaded
        .problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for secret in [
        "hunter2",
        "SECRET-5",
        "c2VjcmV0LWtleS1TRUNSRVQtNQ",
        "SECRET-6",
        "SECRET-7",
    ] {
        assert!(
            !all.contains(secret),
            "problem text shows a secret ({secret}):\n{all}"
        );
    }
    assert!(all.contains("decodes to 19 bytes; it must be 32"), "{all}");
    assert!(all.contains("is 8 characters long"), "{all}");
}

#[test]
fn postgres_needs_an_explicit_key_but_migrate_does_not() {
    let loaded = load(
        Product::Teams,
        MINIMAL,
        &[("TEAMS_BRIDGE__STORE__URL", "postgres://db/bridge")],
    );
    assert_eq!(error_keys(&loaded), ["store.encryption_key"]);
    let problem = loaded.errors().next().expect("problem");
    assert!(problem.message.contains("every replica"), "{problem}");
    assert!(
        problem
            .message
            .contains("TEAMS_BRIDGE__STORE__ENCRYPTION_KEY"),
        "{problem}"
    );

    let env = [("TEAMS_BRIDGE__STORE__URL", "postgres://db/bridge")]
        .map(|(k, v)| (k.to_string(), v.to_string()));
    let (location, problems) = config::load_store_location_from(Product::Teams, None, env);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        location.expect("location").url.expose(),
        "postgres://db/bridge"
    );
}

#[test]
fn the_command_token_explains_how_to_register_the_command() {
    let text = MINIMAL.replace("command_token = \"command-token-SECRET-2\"", "");
    let text = format!("[server]\npublic_url = \"https://bridge.example.com\"\n{text}");
    let loaded = load(Product::Teams, &text, &[]);
    assert_eq!(error_keys(&loaded), ["mattermost.command_token"]);
    let message = &loaded.errors().next().expect("problem").message;
    assert!(message.contains("/msteams"), "{message}");
    assert!(
        message.contains("https://bridge.example.com/mattermost/command"),
        "{message}"
    );
    assert!(message.contains("admin_token"), "{message}");

    let with_admin = load(
        Product::Teams,
        &format!("{text}\n"),
        &[("TEAMS_BRIDGE__MATTERMOST__ADMIN_TOKEN", "x")],
    );
    assert!(with_admin.config.is_some(), "{:?}", with_admin.problems);
    let calendar = load(Product::Calendar, &text, &[]);
    assert!(
        calendar
            .errors()
            .next()
            .expect("problem")
            .message
            .contains("/mscalendar")
    );
}

#[test]
fn malformed_toml_and_missing_files_are_named() {
    let loaded = load(Product::Teams, "[server\nlisten = 1", &[]);
    let problem = loaded.errors().next().expect("problem");
    assert_eq!(problem.key, "--config");
    assert!(problem.message.contains("not valid TOML"), "{problem}");
    assert!(problem.message.contains("line 1"), "{problem}");

    let missing = config::load_from(
        Product::Teams,
        Some(std::path::Path::new("/nonexistent/bridge.toml")),
        [],
    );
    let problem = missing.errors().next().expect("problem");
    assert!(
        problem
            .message
            .contains("cannot read /nonexistent/bridge.toml"),
        "{problem}"
    );
}

#[test]
fn calendar_has_no_billing_model() {
    let loaded = load(
        Product::Calendar,
        &format!("{MINIMAL}billing_model = \"A\"\n"),
        &[],
    );
    assert_eq!(error_keys(&loaded), ["microsoft.billing_model"]);
}

#[test]
fn debug_output_of_the_config_holds_no_secret() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let loaded = load(
        Product::Teams,
        MINIMAL,
        &[
            (
                "TEAMS_BRIDGE__STORE__URL",
                "postgres://bridge:db-password-SECRET@db/bridge",
            ),
            ("TEAMS_BRIDGE__STORE__ENCRYPTION_KEY", key),
            (
                "TEAMS_BRIDGE__MATTERMOST__ADMIN_TOKEN",
                "admin-token-SECRET-9",
            ),
        ],
    );
    assert!(
        loaded
            .problems
            .iter()
            .all(|p| p.severity == Severity::Warning)
    );
    let config = loaded.config.expect("config");
    let debug = format!("{config:?}");
    for secret in ["SECRET", key, "AAECAwQF"] {
        assert!(!debug.contains(secret), "Debug shows {secret}: {debug}");
    }
    assert_eq!(
        config.mattermost.bot_token.expose_secret(),
        "bot-token-SECRET-1"
    );
}
