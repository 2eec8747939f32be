//! The command line shared by `teams-bridge` and `calendar-bridge`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use secrecy::ExposeSecret as _;
use store::{EncryptionKey, Store, StoreOptions};

use crate::config::{self, Config, KeySource, LogConfig, LogFormat, Problem, Severity};
use crate::server;
use crate::service::Service;
use crate::{Product, ServiceError};

#[derive(Debug, Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    /// TOML configuration file. Every key can also be set, or overridden, by an environment
    /// variable named PREFIX__SECTION__KEY (for example TEAMS_BRIDGE__MATTERMOST__URL).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default): apply pending migrations, then serve the HTTP endpoints
    /// that Mattermost and Microsoft Graph call.
    Serve,
    /// Run the service on this machine with no accounts anywhere: a throwaway SQLite store and a
    /// generated key. Needs no configuration.
    Sandbox {
        /// Address to serve on.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Create or update the database schema named by [store] url, then exit. Running it again
    /// changes nothing. Needs only the [store] section.
    Migrate,
    /// Validate the configuration and report every problem by its key name; exits 1 if any is an
    /// error. Contacts nothing.
    CheckConfig,
    /// Print a new random key for store.encryption_key (base64 of 32 bytes).
    GenerateKey,
    /// Seal every stored token again with the current encryption key, so that the keys in
    /// store.previous_encryption_keys can be retired. Safe while the service runs; exits 1 if
    /// some token could not be opened with any configured key.
    Reseal,
}

/// Runs the binary for `product`: parses the command line, then does what it says.
pub fn main(product: Product) -> ExitCode {
    let about = format!(
        "{}: {} for Mattermost, run next to your Mattermost server.",
        product.binary(),
        product.display_name()
    );
    let matches = Cli::command()
        .name(product.binary())
        .bin_name(product.binary())
        .about(about)
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {}", ServiceError::Runtime(err));
            return ExitCode::FAILURE;
        }
    };
    let path = cli.config.as_deref();
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(product, path).await,
            Command::Sandbox { listen } => crate::sandbox::run(product, listen).await,
            Command::Migrate => migrate(product, path).await,
            Command::CheckConfig => Ok(check_config(product, path)),
            Command::GenerateKey => generate_key(),
            Command::Reseal => reseal(product, path).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Exit code for configuration errors, apart from runtime failures (1).
const CONFIG_ERROR: u8 = 2;

fn print_problems(problems: &[Problem]) {
    for problem in problems {
        eprintln!("{problem}");
    }
}

fn check_config(product: Product, path: Option<&std::path::Path>) -> ExitCode {
    let loaded = config::load(product, path);
    print_problems(&loaded.problems);
    let errors = loaded.errors().count();
    let warnings = loaded.warnings().count();
    match &loaded.config {
        Some(config) if errors == 0 => {
            println!("{}", summary(config));
            println!("configuration OK ({warnings} warning(s))");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("configuration has {errors} error(s) and {warnings} warning(s)");
            ExitCode::from(1)
        }
    }
}

/// The effective configuration, secrets shown only as set or not.
fn summary(config: &Config) -> String {
    let set = |present: bool| if present { "set (hidden)" } else { "not set" };
    let key = match &config.store.encryption_key {
        KeySource::Configured(k) => format!("configured (key id {})", k.id()),
        KeySource::File(path) => format!("kept in {}", path.display()),
    };
    [
        format!("server.listen = {}", config.server.listen),
        format!("server.public_url = {}", config.server.public_url),
        format!("store.url = {}", config.store.url),
        format!("store.encryption_key = {key}"),
        format!(
            "store.previous_encryption_keys = {} key(s)",
            config.store.previous_encryption_keys.len()
        ),
        format!("mattermost.url = {}", config.mattermost.url),
        format!("mattermost.bot_token = {}", set(true)),
        format!(
            "mattermost.admin_token = {}",
            set(config.mattermost.admin_token.is_some())
        ),
        format!(
            "mattermost.command_token = {}",
            set(config.mattermost.command_token.is_some())
        ),
        format!("microsoft.tenant_id = {}", config.microsoft.tenant_id),
        format!("microsoft.client_id = {}", config.microsoft.client_id),
        format!("microsoft.client_secret = {}", set(true)),
        format!("microsoft.webhook_secret = {}", set(true)),
        format!("microsoft.graph_url = {}", config.microsoft.graph_url),
        format!("microsoft.login_url = {}", config.microsoft.login_url),
        format!(
            "microsoft.billing_model = {:?}",
            config.microsoft.billing_model
        ),
        format!("log.level = {}", config.log.level),
    ]
    .join("\n")
}

async fn migrate(
    product: Product,
    path: Option<&std::path::Path>,
) -> Result<ExitCode, ServiceError> {
    let (store_config, problems) = config::load_store_location(product, path);
    let errors: Vec<_> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .cloned()
        .collect();
    let Some(store_config) = store_config.filter(|_| errors.is_empty()) else {
        print_problems(&errors);
        return Ok(ExitCode::from(CONFIG_ERROR));
    };
    let options = StoreOptions {
        max_connections: store_config.max_connections,
        ..StoreOptions::default()
    };
    let store = Store::connect(store_config.url.expose(), &options)
        .await
        .map_err(ServiceError::store(format!("opening {}", store_config.url)))?;
    let report = store
        .migrate()
        .await
        .map_err(ServiceError::store("applying migrations"))?;
    if report.applied.is_empty() {
        println!(
            "{} schema at {} is up to date ({} migration(s)); nothing changed",
            store.kind(),
            store_config.url,
            report.total
        );
    } else {
        println!(
            "applied {} migration(s) to the {} schema at {} ({:?}); it now has {}",
            report.applied.len(),
            store.kind(),
            store_config.url,
            report.applied,
            report.total
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn generate_key() -> Result<ExitCode, ServiceError> {
    let key = EncryptionKey::generate().map_err(|source| ServiceError::Key {
        key: "store.encryption_key",
        source,
    })?;
    println!("{}", key.to_base64().expose_secret());
    Ok(ExitCode::SUCCESS)
}

async fn reseal(
    product: Product,
    path: Option<&std::path::Path>,
) -> Result<ExitCode, ServiceError> {
    let loaded = config::load(product, path);
    let Some(config) = loaded.config else {
        print_problems(&loaded.problems);
        return Ok(ExitCode::from(CONFIG_ERROR));
    };
    let options = StoreOptions {
        max_connections: config.store.max_connections,
        ..StoreOptions::default()
    };
    let store = Store::open(config.store.url.expose(), &options)
        .await
        .map_err(ServiceError::store(format!("opening {}", config.store.url)))?;
    let sealer = crate::load_sealer(&config.store)?;
    let (mut resealed, mut current, mut changed, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut after: Option<String> = None;
    loop {
        let page = store
            .connected_links(after.as_deref(), 200)
            .await
            .map_err(ServiceError::store("listing linked accounts"))?;
        let Some(last) = page.last() else { break };
        after = Some(last.mm_user_id.clone());
        for link in page {
            let Some(token) = link.token else { continue };
            if !sealer.needs_reseal(&token) {
                current += 1;
                continue;
            }
            let context = store::link_token_context(&link.mm_user_id);
            let opened = sealer
                .open(&token, &context)
                .and_then(|plain| sealer.seal(&plain, &context));
            match opened {
                Ok(new) => {
                    let swapped = store
                        .replace_link_token(&link.mm_user_id, &token, &new)
                        .await
                        .map_err(ServiceError::store("saving a re-sealed token"))?;
                    if swapped {
                        resealed += 1;
                    } else {
                        changed += 1;
                    }
                }
                Err(err) => {
                    failed += 1;
                    eprintln!(
                        "cannot re-seal the token of Mattermost user {}: {err}",
                        link.mm_user_id
                    );
                }
            }
        }
    }
    store.close().await;
    println!(
        "re-sealed {resealed} token(s) with key {}; {current} already used it; {changed} changed meanwhile (a refresh sealed them with it); {failed} could not be opened",
        sealer.current_key_id()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Installs the log subscriber: the filter of `log.level`, the format of `log.format`, and the
/// calendar's admin-log copies (C6) when given.
pub fn init_logging(config: &LogConfig, admin_log: Option<crate::admin_log::AdminLogLayer>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter: tracing_subscriber::filter::Targets = config.level.parse().unwrap_or_else(|_| {
        tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
    });
    let registry = tracing_subscriber::registry().with(filter).with(admin_log);
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = match config.format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colour)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

async fn serve(product: Product, path: Option<&std::path::Path>) -> Result<ExitCode, ServiceError> {
    let loaded = config::load(product, path);
    let Some(config) = loaded.config else {
        print_problems(&loaded.problems);
        eprintln!(
            "{} cannot start: fix the errors above (`{} check-config` lists them too)",
            product.binary(),
            product.binary()
        );
        return Ok(ExitCode::from(CONFIG_ERROR));
    };
    let admin_log = match product {
        Product::Calendar => crate::admin_log::install(
            &crate::admin_log::AdminLogSettings::from_calendar(&config.calendar),
        ),
        Product::Teams => None,
    };
    init_logging(&config.log, admin_log);
    for warning in &loaded.problems {
        tracing::warn!(key = %warning.key, "{}", warning.message);
    }
    Service::start(config)
        .await?
        .run(server::shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}
