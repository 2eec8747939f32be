//! The service itself: a validated configuration turned into an open store, a loaded sealing key
//! and a bound listener, then served until shutdown. `serve` and `sandbox` both run it.

use std::net::SocketAddr;
use std::sync::Arc;

use store::{Store, StoreOptions, TokenSealer};

use crate::calendar::CalendarApp;
use crate::config::Config;
use crate::server::{self, AppState};
use crate::teams::TeamsApp;
use crate::{Product, ServiceError, keys};

/// A service ready to serve.
#[derive(Debug)]
pub struct Service {
    config: Config,
    store: Store,
    sealer: Arc<TokenSealer>,
    teams: Option<Arc<TeamsApp>>,
    calendar: Option<Arc<CalendarApp>>,
    listener: tokio::net::TcpListener,
}

impl Service {
    /// Opens the store (applying pending migrations), loads the sealing key and binds the listener.
    pub async fn start(config: Config) -> Result<Self, ServiceError> {
        let options = StoreOptions {
            max_connections: config.store.max_connections,
            ..StoreOptions::default()
        };
        let store = Store::open(config.store.url.expose(), &options)
            .await
            .map_err(ServiceError::store(format!(
                "opening the store at {}",
                config.store.url
            )))?;
        let sealer = Arc::new(keys::load_sealer(&config.store)?);
        let (teams, calendar) = match config.product {
            Product::Teams => (
                Some(Arc::new(TeamsApp::new(
                    &config,
                    store.clone(),
                    sealer.clone(),
                )?)),
                None,
            ),
            Product::Calendar => (
                None,
                Some(Arc::new(CalendarApp::new(
                    &config,
                    store.clone(),
                    sealer.clone(),
                )?)),
            ),
        };
        let listener = server::bind(config.server.listen).await?;
        Ok(Self {
            config,
            store,
            sealer,
            teams,
            calendar,
            listener,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn sealer(&self) -> &TokenSealer {
        &self.sealer
    }

    /// The Teams integration, for `teams-bridge`.
    pub fn teams(&self) -> Option<&Arc<TeamsApp>> {
        self.teams.as_ref()
    }

    /// The calendar integration, for `calendar-bridge`.
    pub fn calendar(&self) -> Option<&Arc<CalendarApp>> {
        self.calendar.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves until `shutdown` resolves, finishes in-flight requests, then closes the store.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServiceError> {
        let product = self.config.product;
        tracing::info!(
            service = product.binary(),
            listen = %self.config.server.listen,
            public_url = %self.config.server.public_url,
            store = %self.store.kind(),
            key_id = self.sealer.current_key_id(),
            "serving"
        );
        let state = AppState {
            product,
            store: self.store.clone(),
            teams: self.teams.clone(),
            calendar: self.calendar.clone(),
        };
        let jobs = match (&self.teams, &self.calendar) {
            (Some(app), _) => Some(tokio::spawn(app.clone().run_jobs())),
            (None, Some(app)) => Some(tokio::spawn(app.clone().run_jobs())),
            (None, None) => None,
        };
        let result = server::serve(self.listener, server::router(state), shutdown).await;
        if let Some(jobs) = jobs {
            jobs.abort();
        }
        self.store.close().await;
        result
    }
}
