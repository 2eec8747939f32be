use std::collections::BTreeMap;
use std::net::ToSocketAddrs as _;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;
use store::{EncryptionKey, KeyError};
use toml::Value;
use url::Url;

use super::{
    BillingModel, CalendarConfig, Config, KeySource, LogConfig, LogFormat, MattermostConfig,
    MicrosoftConfig, Origin, Problem, RawConfig, ServerConfig, StoreConfig, StoreLocation,
    StoreUrl,
};
use crate::Product;

pub(crate) const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
pub(crate) const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";

/// Takes values out of the raw configuration, recording a problem for each bad one. What is left
/// at the end was not recognised.
struct Reader {
    product: Product,
    sections: BTreeMap<String, BTreeMap<String, (Value, Origin)>>,
    problems: Vec<Problem>,
}

impl Reader {
    fn take(&mut self, section: &str, key: &str) -> Option<(Value, Origin)> {
        self.sections.get_mut(section)?.remove(key)
    }

    fn env_name(&self, section: &str, key: &str) -> String {
        format!(
            "{}{}__{}",
            self.product.env_prefix(),
            section.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        )
    }

    fn missing(&mut self, section: &str, key: &str, why: &str) {
        let env = self.env_name(section, key);
        self.problems.push(Problem::error(
            &format!("{section}.{key}"),
            format!("missing: {why}. Set `{key}` in [{section}] or the environment variable {env}"),
        ));
    }

    fn bad(&mut self, section: &str, key: &str, origin: &Origin, message: impl std::fmt::Display) {
        let text = match origin {
            Origin::Env(var) => format!("{message} (from {var})"),
            Origin::File(_) => message.to_string(),
        };
        self.problems
            .push(Problem::error(&format!("{section}.{key}"), text));
    }

    fn warn(&mut self, section: &str, key: &str, message: impl Into<String>) {
        self.problems
            .push(Problem::warning(&format!("{section}.{key}"), message));
    }

    /// A string value; an empty string counts as unset.
    fn string(&mut self, section: &str, key: &str) -> Option<(String, Origin)> {
        let (value, origin) = self.take(section, key)?;
        match value {
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some((s.trim().to_owned(), origin)),
            other => {
                self.bad(
                    section,
                    key,
                    &origin,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn required(&mut self, section: &str, key: &str, why: &str) -> Option<(String, Origin)> {
        let value = self.string(section, key);
        if value.is_none()
            && !self
                .problems
                .iter()
                .any(|p| p.key == format!("{section}.{key}"))
        {
            self.missing(section, key, why);
        }
        value
    }

    fn secret(&mut self, section: &str, key: &str, why: &str) -> Option<SecretString> {
        self.required(section, key, why)
            .map(|(s, _)| SecretString::from(s))
    }

    fn optional_secret(&mut self, section: &str, key: &str) -> Option<SecretString> {
        self.string(section, key)
            .map(|(s, _)| SecretString::from(s))
    }

    fn http_url(&mut self, section: &str, key: &str, value: &str, origin: &Origin) -> Option<Url> {
        match Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                if url.query().is_some() || url.fragment().is_some() {
                    self.bad(
                        section,
                        key,
                        origin,
                        format!("`{value}` must not have a query or fragment"),
                    );
                    return None;
                }
                Some(url)
            }
            Ok(_) => {
                self.bad(
                    section,
                    key,
                    origin,
                    format!("`{value}` is not an http:// or https:// URL"),
                );
                None
            }
            Err(err) => {
                self.bad(
                    section,
                    key,
                    origin,
                    format!("`{value}` is not a valid URL: {err}"),
                );
                None
            }
        }
    }

    fn url_or_default(&mut self, section: &str, key: &str, default: &str) -> Option<Url> {
        match self.string(section, key) {
            Some((value, origin)) => {
                self.http_url(section, key, value.trim_end_matches('/'), &origin)
            }
            None => Url::parse(default).ok(),
        }
    }

    fn integer(
        &mut self,
        section: &str,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let (value, origin) = self.take(section, key)?;
        let parsed = match &value {
            Value::Integer(n) => Some(*n),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                let shown = match &value {
                    Value::String(s) => format!("`{s}`"),
                    Value::Integer(n) => n.to_string(),
                    other => format!("a {}", other.type_str()),
                };
                self.bad(
                    section,
                    key,
                    &origin,
                    format!(
                        "{shown} is not a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    fn boolean(&mut self, section: &str, key: &str) -> Option<Option<bool>> {
        let Some((value, origin)) = self.take(section, key) else {
            return Some(None);
        };
        match &value {
            Value::Boolean(b) => Some(Some(*b)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(Some(true)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(Some(false)),
            other => {
                self.bad(
                    section,
                    key,
                    &origin,
                    format!("expected true or false, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn string_list(&mut self, section: &str, key: &str) -> Vec<(String, Origin)> {
        let Some((value, origin)) = self.take(section, key) else {
            return Vec::new();
        };
        match value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push((s, origin.clone())),
                        other => self.bad(
                            section,
                            &format!("{key}[{i}]"),
                            &origin,
                            format!("expected a string, found {}", other.type_str()),
                        ),
                    }
                }
                out
            }
            Value::String(s) => vec![(s, origin)],
            other => {
                self.bad(
                    section,
                    key,
                    &origin,
                    format!("expected a list of strings, found {}", other.type_str()),
                );
                Vec::new()
            }
        }
    }

    /// Every key nobody asked for is a problem: usually a typo that would otherwise be ignored.
    fn finish(mut self) -> Vec<Problem> {
        for (section, keys) in std::mem::take(&mut self.sections) {
            for (key, (_, origin)) in keys {
                let where_ = match &origin {
                    Origin::Env(var) => format!(" (from {var})"),
                    Origin::File(_) => String::new(),
                };
                let message = if KNOWN_SECTIONS.contains(&section.as_str()) {
                    format!("unknown key{where_}")
                } else {
                    format!(
                        "unknown section [{section}]{where_}; the sections are {}",
                        KNOWN_SECTIONS.join(", ")
                    )
                };
                self.problems
                    .push(Problem::error(&format!("{section}.{key}"), message));
            }
        }
        self.problems
    }
}

const KNOWN_SECTIONS: &[&str] = &[
    "server",
    "store",
    "mattermost",
    "microsoft",
    "log",
    "calendar",
];

pub(crate) fn validate(product: Product, raw: RawConfig) -> (Option<Config>, Vec<Problem>) {
    let mut r = Reader {
        product,
        sections: raw.sections,
        problems: Vec::new(),
    };
    let server = server(&mut r);
    let store = store(&mut r);
    let mattermost = mattermost(&mut r, server.as_ref());
    let microsoft = microsoft(&mut r);
    let log = log(&mut r);
    let calendar = calendar(&mut r);
    let problems = r.finish();
    let config = match (server, store, mattermost, microsoft, log, calendar) {
        (
            Some(server),
            Some(store),
            Some(mattermost),
            Some(microsoft),
            Some(log),
            Some(calendar),
        ) => Some(Config {
            product,
            server,
            store,
            mattermost,
            microsoft,
            log,
            calendar,
        }),
        _ => None,
    };
    (config, problems)
}

/// Reads only `store.url`, `store.data_dir` and `store.max_connections`; other keys are not
/// looked at, so `migrate` runs with a partial configuration.
pub(crate) fn validate_store_location(
    product: Product,
    raw: RawConfig,
) -> (Option<StoreLocation>, Vec<Problem>) {
    let mut r = Reader {
        product,
        sections: raw.sections,
        problems: Vec::new(),
    };
    let (_, url, max_connections) = store_location(&mut r);
    (
        url.map(|url| StoreLocation {
            url,
            max_connections,
        }),
        r.problems,
    )
}

fn server(r: &mut Reader) -> Option<ServerConfig> {
    let listen = match r.string("server", "listen") {
        None => Some(r.product.default_listen()),
        // Host names such as localhost are resolved once, here.
        Some((value, origin)) => match value.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => Some(addr),
            _ => {
                r.bad(
                    "server",
                    "listen",
                    &origin,
                    format!("`{value}` is not an address like 127.0.0.1:8080"),
                );
                None
            }
        },
    };
    let public_url = match r.string("server", "public_url") {
        Some((value, origin)) => {
            let url = r.http_url("server", "public_url", value.trim_end_matches('/'), &origin)?;
            let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if url.scheme() == "http" && !local {
                r.warn(
                    "server",
                    "public_url",
                    "is http://; Microsoft Graph delivers change notifications only to https:// URLs",
                );
            }
            Some(url)
        }
        None => {
            let listen = listen?;
            let url = Url::parse(&format!("http://{listen}")).ok()?;
            r.warn(
                "server",
                "public_url",
                format!(
                    "not set, so {url} is used: fine on this machine, but Microsoft Graph and users' \
                     browsers need the https:// address of your reverse proxy"
                ),
            );
            Some(url)
        }
    };
    Some(ServerConfig {
        listen: listen?,
        public_url: public_url?,
    })
}

fn default_data_dir() -> PathBuf {
    // systemd's StateDirectory= sets this; otherwise a folder next to where the service runs.
    std::env::var_os("STATE_DIRECTORY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// Where the store is and how many connections it may use: all that `migrate` needs.
fn store_location(r: &mut Reader) -> (PathBuf, Option<StoreUrl>, u32) {
    let data_dir = r
        .string("store", "data_dir")
        .map(|(s, _)| PathBuf::from(s))
        .unwrap_or_else(default_data_dir);
    let url = match r.string("store", "url") {
        None => Some(StoreUrl(format!(
            "sqlite://{}",
            data_dir
                .join(format!("{}.db", r.product.binary()))
                .display()
        ))),
        Some((value, origin)) => {
            let scheme = value.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
            if matches!(
                scheme.as_deref(),
                Some("sqlite" | "postgres" | "postgresql")
            ) {
                Some(StoreUrl(value))
            } else {
                r.bad(
                    "store",
                    "url",
                    &origin,
                    format!(
                        "`{}` is not supported; use sqlite://PATH or postgres://USER:PASSWORD@HOST/DB",
                        store::redact_url(&value)
                    ),
                );
                None
            }
        }
    };
    let max_connections = r.integer("store", "max_connections", 1..=200).unwrap_or(8);
    (data_dir, url, u32::try_from(max_connections).unwrap_or(8))
}

fn store(r: &mut Reader) -> Option<StoreConfig> {
    let (data_dir, url, max_connections) = store_location(r);
    let is_postgres = url.as_ref().is_some_and(StoreUrl::is_postgres);
    let current = match r.string("store", "encryption_key") {
        Some((value, origin)) => {
            key(r, "encryption_key", &value, &origin).map(|k| KeySource::Configured(Box::new(k)))
        }
        None if is_postgres => {
            r.missing(
                "store",
                "encryption_key",
                &format!(
                    "with PostgreSQL every replica must seal tokens with the same key (generate one with `{} generate-key`)",
                    r.product.binary()
                ),
            );
            None
        }
        None => {
            let path = data_dir.join(format!("{}.key", r.product.binary()));
            r.warn(
                "store",
                "encryption_key",
                format!(
                    "not set, so a key is generated on first start and kept in {}; set it (from `{} generate-key`) \
                     to keep the key apart from the database",
                    path.display(),
                    r.product.binary()
                ),
            );
            Some(KeySource::File(path))
        }
    };
    let mut previous = Vec::new();
    for (i, (value, origin)) in r
        .string_list("store", "previous_encryption_keys")
        .into_iter()
        .enumerate()
    {
        if let Some(k) = key(
            r,
            &format!("previous_encryption_keys[{i}]"),
            &value,
            &origin,
        ) {
            previous.push(k);
        }
    }
    Some(StoreConfig {
        url: url?,
        data_dir,
        encryption_key: current?,
        previous_encryption_keys: previous,
        max_connections,
    })
}

fn key(r: &mut Reader, key_name: &str, value: &str, origin: &Origin) -> Option<EncryptionKey> {
    match EncryptionKey::from_base64(value) {
        Ok(k) => Some(k),
        Err(err) => {
            let why = match err {
                KeyError::NotBase64 => "is not valid base64".to_owned(),
                KeyError::WrongLength(n) => format!("decodes to {n} bytes; it must be 32"),
                KeyError::Rng => err.to_string(),
            };
            // The value is a secret: say what is wrong with it, never what it is.
            r.bad(
                "store",
                key_name,
                origin,
                format!(
                    "{why} (generate a key with `{} generate-key`)",
                    r.product.binary()
                ),
            );
            None
        }
    }
}

fn mattermost(r: &mut Reader, server: Option<&ServerConfig>) -> Option<MattermostConfig> {
    let url = r
        .required(
            "mattermost",
            "url",
            "the Mattermost server's address, such as https://chat.example.com",
        )
        .and_then(|(value, origin)| {
            r.http_url("mattermost", "url", value.trim_end_matches('/'), &origin)
        });
    let bot_token = r.secret(
        "mattermost",
        "bot_token",
        "the access token of the bot account that posts for the service (System Console > Integrations > Bot Accounts)",
    );
    let admin_token = r.optional_secret("mattermost", "admin_token");
    let command_token = r.optional_secret("mattermost", "command_token");
    if command_token.is_none() && admin_token.is_none() {
        let callback = server
            .map(|s| s.endpoint("/mattermost/command"))
            .unwrap_or_else(|| "<public_url>/mattermost/command".into());
        r.missing(
            "mattermost",
            "command_token",
            &format!(
                "register {} by hand in Mattermost (Integrations > Slash Commands > Add, request URL {callback}, \
                 method POST) and put the token it shows here, or set mattermost.admin_token so the service \
                 registers the command itself",
                r.product.slash_command()
            ),
        );
    }
    Some(MattermostConfig {
        url: url?,
        bot_token: bot_token?,
        admin_token,
        command_token,
    })
}

fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn microsoft(r: &mut Reader) -> Option<MicrosoftConfig> {
    let tenant_id = r
        .required(
            "microsoft",
            "tenant_id",
            "the Directory (tenant) ID of your Azure app registration",
        )
        .and_then(|(value, origin)| {
            let domain = value.contains('.')
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if is_guid(&value) || domain {
                Some(value)
            } else {
                r.bad(
                    "microsoft",
                    "tenant_id",
                    &origin,
                    format!(
                        "`{value}` is neither a GUID nor a domain such as contoso.onmicrosoft.com"
                    ),
                );
                None
            }
        });
    let client_id = r
        .required(
            "microsoft",
            "client_id",
            "the Application (client) ID of your Azure app registration",
        )
        .and_then(|(value, origin)| {
            if is_guid(&value) {
                Some(value)
            } else {
                r.bad(
                    "microsoft",
                    "client_id",
                    &origin,
                    format!("`{value}` is not a GUID"),
                );
                None
            }
        });
    let client_secret = r.secret(
        "microsoft",
        "client_secret",
        "the value (not the id) of a client secret of your Azure app registration",
    );
    let webhook_secret = match r.required(
        "microsoft",
        "webhook_secret",
        "a random string of 16 to 128 characters that Graph echoes back in every change notification",
    ) {
        Some((value, origin)) => {
            let len = value.chars().count();
            if (16..=128).contains(&len) {
                Some(SecretString::from(value))
            } else {
                r.bad(
                    "microsoft",
                    "webhook_secret",
                    &origin,
                    format!("is {len} characters long; it must have 16 to 128"),
                );
                None
            }
        }
        None => None,
    };
    let graph_url = r.url_or_default("microsoft", "graph_url", DEFAULT_GRAPH_URL);
    let login_url = r.url_or_default("microsoft", "login_url", DEFAULT_LOGIN_URL);
    let billing_model = match r.product {
        Product::Teams => billing_model(r),
        Product::Calendar => Some(BillingModel::Evaluation),
    };
    let token_refresh_interval = r
        .integer("microsoft", "token_refresh_interval", 1..=3600)
        .unwrap_or(60);
    let token_refresh_margin = r
        .integer("microsoft", "token_refresh_margin", 60..=3000)
        .unwrap_or(600);
    let graph_rate_limit = r
        .integer("microsoft", "graph_rate_limit", 0..=10_000)
        .unwrap_or(20);
    let notification_lease = r
        .integer("microsoft", "notification_lease", 5..=600)
        .unwrap_or(60);
    let catch_up_horizon = r
        .integer("microsoft", "catch_up_horizon", 0..=10080)
        .unwrap_or(1440);
    Some(MicrosoftConfig {
        catch_up_horizon: chrono::TimeDelta::minutes(catch_up_horizon),
        notification_lease: chrono::TimeDelta::seconds(notification_lease),
        graph_rate_limit: u32::try_from(graph_rate_limit).unwrap_or(20),
        token_refresh_interval: std::time::Duration::from_secs(
            token_refresh_interval.unsigned_abs(),
        ),
        token_refresh_margin: chrono::TimeDelta::seconds(token_refresh_margin),
        tenant_id: tenant_id?,
        client_id: client_id?,
        client_secret: client_secret?,
        webhook_secret: webhook_secret?,
        graph_url: graph_url?,
        login_url: login_url?,
        billing_model: billing_model?,
    })
}

fn billing_model(r: &mut Reader) -> Option<BillingModel> {
    let model = match r.string("microsoft", "billing_model") {
        None => BillingModel::Evaluation,
        Some((value, origin)) => match value.to_ascii_lowercase().as_str() {
            "a" => BillingModel::A,
            "b" => BillingModel::B,
            "evaluation" => BillingModel::Evaluation,
            _ => {
                r.bad(
                    "microsoft",
                    "billing_model",
                    &origin,
                    format!("`{value}` is not one of A, B or evaluation"),
                );
                return None;
            }
        },
    };
    if model == BillingModel::Evaluation {
        r.warn(
            "microsoft",
            "billing_model",
            "evaluation: Microsoft caps the monthly volume of Teams change notifications, and messages stop \
             arriving past it; production sites should set A or B with a billing subscription",
        );
    }
    Some(model)
}

fn log(r: &mut Reader) -> Option<LogConfig> {
    let level = match r.string("log", "level") {
        None => Some("info".to_owned()),
        Some((value, origin)) => {
            match tracing_subscriber::filter::Targets::from_str(&value) {
                Ok(_) => Some(value),
                Err(err) => {
                    r.bad("log", "level", &origin, format!("`{value}` is not a log filter such as `info` or `info,store=debug`: {err}"));
                    None
                }
            }
        }
    };
    let format = match r.string("log", "format") {
        None => Some(LogFormat::Text),
        Some((value, origin)) => match value.as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => {
                r.bad(
                    "log",
                    "format",
                    &origin,
                    format!("`{value}` is not `text` or `json`"),
                );
                None
            }
        },
    };
    Some(LogConfig {
        level: level?,
        format: format?,
    })
}

fn calendar(r: &mut Reader) -> Option<CalendarConfig> {
    let defaults = CalendarConfig::default();
    if r.product != Product::Calendar {
        // Left in the sections: `finish` reports the keys as unknown to this binary.
        if let Some(keys) = r.sections.get("calendar")
            && !keys.is_empty()
        {
            r.warn(
                "calendar",
                "*",
                "the [calendar] section is read by calendar-bridge only; remove it here",
            );
            r.sections.remove("calendar");
        }
        return Some(defaults);
    }
    let mut ok = true;
    let mut admin_user_ids = Vec::new();
    for (value, origin) in r.string_list("calendar", "admin_user_ids") {
        // An environment variable holds one string: ids separated by commas.
        for id in value.split(',').map(str::trim).filter(|id| !id.is_empty()) {
            if id.len() == 26 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
                if !admin_user_ids.iter().any(|a| a == id) {
                    admin_user_ids.push(id.to_owned());
                }
            } else {
                r.bad(
                    "calendar",
                    "admin_user_ids",
                    &origin,
                    format!("`{id}` is not a Mattermost user id (26 letters and digits; usernames do not work here)"),
                );
                ok = false;
            }
        }
    }
    let admin_log_level = match r.string("calendar", "admin_log_level") {
        None => None,
        Some((value, origin)) => match value.to_ascii_lowercase().as_str() {
            "off" | "none" => None,
            "error" => Some(tracing::Level::ERROR),
            "warn" | "warning" => Some(tracing::Level::WARN),
            "info" => Some(tracing::Level::INFO),
            "debug" => Some(tracing::Level::DEBUG),
            _ => {
                r.bad(
                    "calendar",
                    "admin_log_level",
                    &origin,
                    format!("`{value}` is not one of off, error, warn, info, debug"),
                );
                ok = false;
                None
            }
        },
    };
    if admin_log_level.is_some() && admin_user_ids.is_empty() {
        r.warn(
            "calendar",
            "admin_log_level",
            "logs are copied to the admin users, and admin_user_ids is empty: nobody receives them",
        );
    }
    let admin_log_verbose = r.boolean("calendar", "admin_log_verbose");
    let tick = r.integer("calendar", "tick_interval", 1..=300);
    let reconcile = r.integer("calendar", "reconcile_interval", 1..=1440);
    let admin_log_verbose = admin_log_verbose?.unwrap_or(false);
    if !ok {
        return None;
    }
    Some(CalendarConfig {
        admin_user_ids,
        admin_log_level,
        admin_log_verbose,
        tick_interval: tick
            .and_then(|s| u64::try_from(s).ok())
            .map_or(defaults.tick_interval, std::time::Duration::from_secs),
        reconcile_interval: reconcile
            .map_or(defaults.reconcile_interval, chrono::TimeDelta::minutes),
    })
}
