//! The services' configuration: one TOML file, every key overridable by an environment variable
//! (`TEAMS_BRIDGE__SECTION__KEY`, `CALENDAR_BRIDGE__SECTION__KEY`), validated in one pass that
//! reports every problem with the key's name.

mod source;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use store::EncryptionKey;
use url::Url;

pub use source::{Origin, RawConfig};

use crate::Product;

/// How serious a configuration problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The service works, but probably not as the admin wants.
    Warning,
    /// The service cannot start.
    Error,
}

/// One problem, named by its key (`microsoft.client_id`) or by the variable or option that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub key: String,
    pub message: String,
}

impl Problem {
    pub(crate) fn error(key: &str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            key: key.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn warning(key: &str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.key, self.message)
    }
}

/// A validated configuration. `Debug` shows no secret.
#[derive(Debug)]
pub struct Config {
    pub product: Product,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub mattermost: MattermostConfig,
    pub microsoft: MicrosoftConfig,
    pub log: LogConfig,
    /// `[calendar]`: read by `calendar-bridge` only (defaults elsewhere).
    pub calendar: CalendarConfig,
}

/// `[calendar]` (C1-C6).
#[derive(Debug, Clone)]
pub struct CalendarConfig {
    /// Mattermost user ids that may run the admin subcommands and receive the admin logs, besides
    /// Mattermost's system admins (who may run them but get no logs unless listed).
    pub admin_user_ids: Vec<String>,
    /// Warnings and errors (at this level and above) copied to the admin users as bot DMs;
    /// `None` (`off`, the default) copies nothing.
    pub admin_log_level: Option<tracing::Level>,
    /// Whether those copies carry the log event's context (target and fields).
    pub admin_log_verbose: bool,
    /// How often due summaries, reminders and status changes are looked for (seconds; default 15).
    pub tick_interval: std::time::Duration,
    /// How often each user's upcoming events are re-read as a safety net for missed change
    /// notifications (minutes; default 30).
    pub reconcile_interval: chrono::TimeDelta,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        Self {
            admin_user_ids: Vec::new(),
            admin_log_level: None,
            admin_log_verbose: false,
            tick_interval: std::time::Duration::from_secs(15),
            reconcile_interval: chrono::TimeDelta::minutes(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The HTTPS base that Microsoft and Mattermost call back. Build callback URLs with
    /// [`ServerConfig::endpoint`].
    pub public_url: Url,
}

impl ServerConfig {
    /// The public URL of one of the service's endpoints, such as `/graph/notifications`, whether or
    /// not `public_url` has a path prefix.
    pub fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.public_url.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

#[derive(Debug)]
pub struct StoreConfig {
    pub url: StoreUrl,
    pub data_dir: PathBuf,
    pub encryption_key: KeySource,
    pub previous_encryption_keys: Vec<EncryptionKey>,
    pub max_connections: u32,
}

/// A store URL; may hold a database password, so `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(pub(crate) String);

impl StoreUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres:") || self.0.starts_with("postgresql:")
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({})", store::redact_url(&self.0))
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&store::redact_url(&self.0))
    }
}

/// Where the token-sealing key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// `store.encryption_key`.
    Configured(Box<EncryptionKey>),
    /// Not configured: a key is generated on first start and kept in this file (SQLite only).
    File(PathBuf),
}

#[derive(Debug)]
pub struct MattermostConfig {
    /// The Mattermost server's base URL, without a trailing slash.
    pub url: Url,
    pub bot_token: SecretString,
    pub admin_token: Option<SecretString>,
    /// The token Mattermost sends with slash-command requests; `None` when the service registers
    /// the command itself with `admin_token` and learns the token then.
    pub command_token: Option<SecretString>,
}

#[derive(Debug)]
pub struct MicrosoftConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub webhook_secret: SecretString,
    pub graph_url: Url,
    pub login_url: Url,
    pub billing_model: BillingModel,
    /// How often connected users' tokens are checked for refresh (seconds; default 60).
    pub token_refresh_interval: std::time::Duration,
    /// Tokens expiring within this margin are refreshed (seconds; default 600).
    pub token_refresh_margin: chrono::TimeDelta,
    /// How far back chat notifications are caught up after downtime or a lost subscription
    /// (minutes; default 1440, 0 turns catch-up off).
    pub catch_up_horizon: chrono::TimeDelta,
    /// How long a worker holds a claimed notification before another may take it over (seconds;
    /// default 60): what a crashed worker delays.
    pub notification_lease: chrono::TimeDelta,
    /// Graph requests a second this service makes with the app's token for notifications
    /// (default 20, Graph's limit for reading chat messages per app and tenant; 0: no limit).
    pub graph_rate_limit: u32,
}

/// Payment model for Microsoft Teams metered APIs (`model=` on subscriptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingModel {
    A,
    B,
    /// No model: free, but Microsoft caps the monthly volume.
    Evaluation,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `info,store=debug`.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The outcome of loading: the configuration if it has no error, and every problem found.
#[derive(Debug)]
pub struct Loaded {
    pub config: Option<Config>,
    pub problems: Vec<Problem>,
}

impl Loaded {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }
}

/// Loads and validates the configuration from `path` and the process environment.
pub fn load(product: Product, path: Option<&Path>) -> Loaded {
    load_from(product, path, std::env::vars())
}

/// [`load`] with an explicit environment, for tests and embedders.
pub fn load_from(
    product: Product,
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Loaded {
    let (raw, mut problems) = RawConfig::load(path, product.env_prefix(), env);
    let (config, more) = validate::validate(product, raw);
    problems.extend(more);
    problems.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.key.cmp(&b.key)));
    let has_errors = problems.iter().any(|p| p.severity == Severity::Error);
    Loaded {
        config: if has_errors { None } else { config },
        problems,
    }
}

/// Where the database is: what `migrate` needs, and nothing else.
#[derive(Debug, Clone)]
pub struct StoreLocation {
    pub url: StoreUrl,
    pub max_connections: u32,
}

/// Only the store's location, for `migrate`, which needs no keys, Mattermost or Microsoft settings.
pub fn load_store_location(
    product: Product,
    path: Option<&Path>,
) -> (Option<StoreLocation>, Vec<Problem>) {
    load_store_location_from(product, path, std::env::vars())
}

pub fn load_store_location_from(
    product: Product,
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> (Option<StoreLocation>, Vec<Problem>) {
    let (raw, mut problems) = RawConfig::load(path, product.env_prefix(), env);
    let (store, more) = validate::validate_store_location(product, raw);
    problems.extend(more);
    let has_errors = problems.iter().any(|p| p.severity == Severity::Error);
    (if has_errors { None } else { store }, problems)
}
