//! `sandbox`: the service on this machine with nothing to configure.

use std::net::SocketAddr;
use std::process::ExitCode;

use store::{EncryptionKey, Store, StoreOptions, TokenSealer};

use crate::config::{LogConfig, LogFormat};
use crate::server::{self, AppState};
use crate::{Product, ServiceError, cli};

/// Runs the service against a throwaway SQLite store in a temporary directory, which is deleted
/// on exit.
pub(crate) async fn run(
    product: Product,
    listen: Option<SocketAddr>,
) -> Result<ExitCode, ServiceError> {
    cli::init_logging(&LogConfig {
        level: "info".into(),
        format: LogFormat::Text,
    });
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-sandbox-", product.binary()))
        .tempdir()
        .map_err(ServiceError::file("create", &std::env::temp_dir()))?;
    let url = format!("sqlite://{}/{}.db", dir.path().display(), product.binary());
    let store = Store::open(&url, &StoreOptions::default())
        .await
        .map_err(ServiceError::store("opening the sandbox store"))?;
    let key = EncryptionKey::generate().map_err(|source| ServiceError::Key {
        key: "store.encryption_key",
        source,
    })?;
    let sealer = TokenSealer::new(key, Vec::new());
    let listen = listen.unwrap_or_else(|| product.default_listen());
    let listener = server::bind(listen).await?;
    println!(
        "{} sandbox\n  store:   {url} (deleted on exit)\n  key id:  {}\n  health:  http://{listen}/healthz\n  ready:   http://{listen}/readyz\n\
         The Microsoft Graph and Mattermost emulators and the demo tenant are not in this build yet;\n\
         until they are, the sandbox runs the store and the health endpoints only. Ctrl-C stops it.",
        product.display_name(),
        sealer.current_key_id()
    );
    let state = AppState {
        product,
        store: store.clone(),
    };
    server::serve(listener, server::router(state), server::shutdown_signal()).await?;
    store.close().await;
    drop(dir);
    Ok(ExitCode::SUCCESS)
}
