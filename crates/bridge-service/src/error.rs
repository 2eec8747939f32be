use std::net::SocketAddr;
use std::path::PathBuf;

use store::{KeyError, StoreError};

/// Why the service could not start or had to stop. Each variant names what to look at.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the key file {} does not hold a valid key ({source}); restore it from backup, or delete it to start over (connected users will have to connect again)", path.display())]
    BadKeyFile {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("{key}: {source}")]
    Key {
        key: &'static str,
        #[source]
        source: KeyError,
    },
    #[error("cannot listen on {addr} (server.listen): {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{action}: {source}")]
    Store {
        action: String,
        #[source]
        source: StoreError,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("{0}")]
    Setup(String),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl ServiceError {
    pub(crate) fn store(action: impl Into<String>) -> impl FnOnce(StoreError) -> Self {
        let action = action.into();
        move |source| Self::Store { action, source }
    }

    pub(crate) fn file(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| Self::File {
            action,
            path,
            source,
        }
    }
}
