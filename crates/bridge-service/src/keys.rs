use std::io::Write as _;
use std::path::Path;

use secrecy::ExposeSecret as _;
use store::{EncryptionKey, TokenSealer};

use crate::ServiceError;
use crate::config::{KeySource, StoreConfig};

/// The sealer for the configured keys. Without `encryption_key` (SQLite only), the key kept in the
/// data directory is used, and made on first start.
pub fn load_sealer(config: &StoreConfig) -> Result<TokenSealer, ServiceError> {
    let current = match &config.encryption_key {
        KeySource::Configured(key) => EncryptionKey::from_base64(key.to_base64().expose_secret())
            .map_err(|source| ServiceError::Key {
            key: "store.encryption_key",
            source,
        })?,
        KeySource::File(path) => key_file(path)?,
    };
    let previous = config
        .previous_encryption_keys
        .iter()
        .map(|k| EncryptionKey::from_base64(k.to_base64().expose_secret()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ServiceError::Key {
            key: "store.previous_encryption_keys",
            source,
        })?;
    Ok(TokenSealer::new(current, previous))
}

fn key_file(path: &Path) -> Result<EncryptionKey, ServiceError> {
    match std::fs::read_to_string(path) {
        Ok(text) => EncryptionKey::from_base64(&text).map_err(|source| ServiceError::BadKeyFile {
            path: path.to_owned(),
            source,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = EncryptionKey::generate().map_err(|source| ServiceError::Key {
                key: "store.encryption_key",
                source,
            })?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(ServiceError::file("create", parent))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    writeln!(file, "{}", key.to_base64().expose_secret())
                        .map_err(ServiceError::file("write", path))?;
                    tracing::warn!(
                        path = %path.display(),
                        key_id = key.id(),
                        "generated a new token encryption key; back it up, or set store.encryption_key"
                    );
                    Ok(key)
                }
                // Another process made it first: use theirs.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => key_file(path),
                Err(err) => Err(ServiceError::file("create", path)(err)),
            }
        }
        Err(err) => Err(ServiceError::file("read", path)(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/teams-bridge.key");
        let first = key_file(&path).expect("create");
        let second = key_file(&path).expect("reuse");
        assert_eq!(first.id(), second.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file must be private, mode {mode:o}");
        }
        std::fs::write(&path, "garbage").expect("write");
        let err = key_file(&path).unwrap_err();
        assert!(
            format!("{err:#}").contains("does not hold a valid key"),
            "{err:#}"
        );
    }
}
