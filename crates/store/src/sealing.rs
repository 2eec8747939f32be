//! Sealing of secrets at rest (OAuth tokens, PKCE verifiers) with AES-256-GCM.
//!
//! A sealed value is text: `v1.<key id>.<base64url(nonce | ciphertext | tag)>`. The key id is
//! derived from the key itself, so rotating keys needs no extra configuration: list the old key
//! under `previous_encryption_keys`, and values sealed with it still open while every new seal uses
//! the current key. Each seal also binds a *context* (for example the Mattermost user id that owns
//! the token) as associated data, so a sealed value copied into another row does not open.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

const FORMAT_VERSION: &str = "v1";
const KEY_LEN: usize = 32;
const KEY_ID_LEN: usize = 6;

/// Why a key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not valid base64")]
    NotBase64,
    #[error("the key must decode to 32 bytes, found {0}")]
    WrongLength(usize),
    #[error("the system random number generator failed")]
    Rng,
}

/// Why a sealed value could not be produced or opened. Never contains key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed with key {key_id}, which is neither the current nor a previous encryption key")]
    UnknownKey { key_id: String },
    #[error("sealed value failed authentication: it was altered, or belongs to another record")]
    Tampered,
    #[error("opened value is not UTF-8")]
    NotUtf8,
    #[error("the system random number generator failed")]
    Rng,
}

/// A 256-bit AES key. Its `Debug` shows only the key id.
pub struct EncryptionKey {
    id: String,
    key: LessSafeKey,
    encoded: SecretString,
}

impl EncryptionKey {
    /// Loads a key from standard base64 (the `encryption_key` config format).
    pub fn from_base64(encoded: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| KeyError::NotBase64)?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != KEY_LEN {
            return Err(KeyError::WrongLength(bytes.len()));
        }
        let fingerprint = digest::digest(&digest::SHA256, bytes);
        let id = URL_SAFE_NO_PAD.encode(&fingerprint.as_ref()[..KEY_ID_LEN]);
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(Self {
            id,
            key: LessSafeKey::new(unbound),
            encoded: SecretString::from(STANDARD.encode(bytes)),
        })
    }

    /// A fresh random key, for `sandbox` and for generating a key to put in the config.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyError::Rng)?;
        Self::from_bytes(&bytes)
    }

    /// The public, non-secret identifier embedded in every value sealed with this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key in config format. Handle with care: this is the secret.
    pub fn to_base64(&self) -> &SecretString {
        &self.encoded
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A sealed secret as stored in the database. Opaque; `Debug` shows only which key sealed it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    /// Wraps text read back from storage. Whether it opens is checked by [`TokenSealer::open`].
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the key that sealed this value, if the value is well formed.
    pub fn key_id(&self) -> Option<&str> {
        let mut parts = self.0.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(FORMAT_VERSION), Some(id), Some(_)) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed(key={})", self.key_id().unwrap_or("?"))
    }
}

/// Seals with the current key; opens with the current or any previous key.
pub struct TokenSealer {
    current: EncryptionKey,
    previous: Vec<EncryptionKey>,
    rng: SystemRandom,
}

impl TokenSealer {
    pub fn new(current: EncryptionKey, previous: Vec<EncryptionKey>) -> Self {
        Self {
            current,
            previous,
            rng: SystemRandom::new(),
        }
    }

    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    /// Encrypts `plaintext` under the current key, bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed, SealError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce_bytes)
            .map_err(|_| SealError::Rng)?;
        let mut buffer = plaintext.to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| SealError::Rng)?;
        let mut body = Vec::with_capacity(NONCE_LEN + buffer.len());
        body.extend_from_slice(&nonce_bytes);
        body.extend_from_slice(&buffer);
        Ok(Sealed(format!(
            "{FORMAT_VERSION}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(body)
        )))
    }

    /// Seals a secret string, such as an OAuth token.
    pub fn seal_secret(&self, secret: &SecretString, context: &str) -> Result<Sealed, SealError> {
        self.seal(secret.expose_secret().as_bytes(), context)
    }

    /// Decrypts a sealed value. Fails if it was sealed for another context, altered, or sealed with
    /// a key that is no longer configured.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, SealError> {
        let mut parts = sealed.0.splitn(3, '.');
        let (Some(FORMAT_VERSION), Some(key_id), Some(body)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
        let mut body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if body.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Malformed);
        }
        let mut ciphertext = body.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&body).map_err(|_| SealError::Malformed)?;
        let plaintext = key
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut ciphertext)
            .map_err(|_| SealError::Tampered)?;
        Ok(plaintext.to_vec())
    }

    /// Opens a sealed secret string.
    pub fn open_secret(&self, sealed: &Sealed, context: &str) -> Result<SecretString, SealError> {
        let bytes = self.open(sealed, context)?;
        String::from_utf8(bytes)
            .map(SecretString::from)
            .map_err(|_| SealError::NotUtf8)
    }

    /// True when `sealed` was made with a previous key and should be sealed again with the current
    /// one (key rotation).
    pub fn needs_reseal(&self, sealed: &Sealed) -> bool {
        sealed.key_id() != Some(self.current.id())
    }
}

impl fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSealer")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self
                    .previous
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Hex SHA-256 of `value`: how OAuth states and subscription client states are kept, so that a
/// copy of the database does not reveal them.
pub fn fingerprint(value: &str) -> String {
    let digest = digest::digest(&digest::SHA256, value.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_base64(&STANDARD.encode([byte; 32])).expect("valid key")
    }

    #[test]
    fn seal_then_open_round_trips_and_uses_a_fresh_nonce() {
        let sealer = TokenSealer::new(key(1), vec![]);
        let a = sealer.seal(b"refresh-token", "user-1").expect("seal");
        let b = sealer.seal(b"refresh-token", "user-1").expect("seal");
        assert_ne!(a, b, "two seals of the same token must differ");
        assert!(!a.as_str().contains("refresh-token"));
        assert_eq!(sealer.open(&a, "user-1").expect("open"), b"refresh-token");
        assert_eq!(sealer.open(&b, "user-1").expect("open"), b"refresh-token");
    }

    #[test]
    fn old_keys_open_what_they_sealed_and_new_seals_use_the_current_key() {
        let old = TokenSealer::new(key(1), vec![]);
        let sealed_with_old = old.seal(b"tok", "ctx").expect("seal");
        let rotated = TokenSealer::new(key(2), vec![key(1)]);
        assert_eq!(rotated.open(&sealed_with_old, "ctx").expect("open"), b"tok");
        assert!(rotated.needs_reseal(&sealed_with_old));
        let resealed = rotated.seal(b"tok", "ctx").expect("seal");
        assert_eq!(resealed.key_id(), Some(rotated.current_key_id()));
        assert!(!rotated.needs_reseal(&resealed));
        // The old key alone cannot open what the new key sealed.
        assert!(matches!(
            old.open(&resealed, "ctx"),
            Err(SealError::UnknownKey { .. })
        ));
    }

    #[test]
    fn wrong_context_or_altered_value_is_a_clear_error() {
        let sealer = TokenSealer::new(key(1), vec![]);
        let sealed = sealer.seal(b"tok", "user-1").expect("seal");
        assert_eq!(sealer.open(&sealed, "user-2"), Err(SealError::Tampered));

        // Flip one character inside the ciphertext (not the last, whose spare bits must be zero).
        let mut chars: Vec<char> = sealed.as_str().chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let altered: String = chars.into_iter().collect();
        assert_eq!(
            sealer.open(&Sealed::from_stored(altered), "user-1"),
            Err(SealError::Tampered)
        );

        for garbage in ["", "v1", "v1.x", "v2.abc.def", "v1.nokey.!!!"] {
            let err = sealer
                .open(&Sealed::from_stored(garbage.into()), "user-1")
                .unwrap_err();
            assert!(
                matches!(err, SealError::Malformed | SealError::UnknownKey { .. }),
                "{garbage}: {err:?}"
            );
        }
        let short = format!("v1.{}.AAAA", sealer.current_key_id());
        assert_eq!(
            sealer.open(&Sealed::from_stored(short), "user-1"),
            Err(SealError::Malformed)
        );
    }

    #[test]
    fn same_id_but_different_key_is_rejected_not_panicking() {
        // A key with the same id cannot exist in practice; a wrong key is an unknown key.
        let sealer = TokenSealer::new(key(1), vec![]);
        let other = TokenSealer::new(key(3), vec![]);
        let sealed = sealer.seal(b"tok", "c").expect("seal");
        assert!(matches!(
            other.open(&sealed, "c"),
            Err(SealError::UnknownKey { .. })
        ));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert_eq!(
            EncryptionKey::from_base64("not base64!").unwrap_err(),
            KeyError::NotBase64
        );
        assert_eq!(
            EncryptionKey::from_base64(&STANDARD.encode([0u8; 16])).unwrap_err(),
            KeyError::WrongLength(16)
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let k = key(7);
        let secret_b64 = k.to_base64().expose_secret().to_owned();
        let sealer = TokenSealer::new(k, vec![key(8)]);
        let sealed = sealer.seal(b"super-secret-token", "c").expect("seal");
        let debug = format!("{sealer:?} {sealed:?} {:?}", key(9));
        assert!(!debug.contains(&secret_b64));
        assert!(!debug.contains("super-secret-token"));
        assert!(!debug.contains(sealed.as_str().rsplit('.').next().expect("body")));
        assert!(debug.contains(sealer.current_key_id()));
    }

    #[test]
    fn generated_keys_are_distinct_and_reload_from_config_format() {
        let a = EncryptionKey::generate().expect("rng");
        let b = EncryptionKey::generate().expect("rng");
        assert_ne!(a.id(), b.id());
        let reloaded = EncryptionKey::from_base64(a.to_base64().expose_secret()).expect("reload");
        assert_eq!(reloaded.id(), a.id());
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
