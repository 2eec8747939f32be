//! PKCE (RFC 7636, S256) and OAuth state values, from the system's secure random generator.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use ring::rand::{SecureRandom as _, SystemRandom};
use secrecy::{ExposeSecret as _, SecretString};

/// The system random generator failed; nothing can be made safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError;

fn random_text(bytes: usize) -> Result<String, RandomError> {
    let mut buffer = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buffer)
        .map_err(|_| RandomError)?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// A fresh OAuth `state`: 32 random bytes, base64url (43 characters).
pub fn random_state() -> Result<String, RandomError> {
    random_text(32)
}

/// A PKCE code verifier and its S256 challenge. `Debug` never shows the verifier.
#[derive(Clone)]
pub struct Pkce {
    verifier: SecretString,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge())
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// The challenge method this crate uses.
    pub const METHOD: &'static str = "S256";

    /// A new verifier: 32 random bytes, base64url (43 characters of the unreserved set).
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self {
            verifier: SecretString::from(random_text(32)?),
        })
    }

    /// Rebuilds the pair from a stored verifier.
    pub fn from_verifier(verifier: SecretString) -> Self {
        Self { verifier }
    }

    /// The verifier, to seal and keep until the code is redeemed.
    pub fn verifier(&self) -> &SecretString {
        &self.verifier
    }

    /// `BASE64URL(SHA256(verifier))`, sent in the authorize request.
    pub fn challenge(&self) -> String {
        let hash = digest::digest(&digest::SHA256, self.verifier.expose_secret().as_bytes());
        URL_SAFE_NO_PAD.encode(hash.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b_vector() {
        let pkce = Pkce::from_verifier(SecretString::from(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ));
        assert_eq!(
            pkce.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(Pkce::METHOD, "S256");
        let debug = format!("{pkce:?}");
        assert!(!debug.contains("dBjftJeZ4CVP"), "{debug}");
        assert!(debug.contains("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }

    #[test]
    fn a_stored_verifier_gives_the_same_challenge() {
        let pkce = Pkce::generate().expect("pkce");
        let again = Pkce::from_verifier(pkce.verifier().clone());
        assert_eq!(pkce.challenge(), again.challenge());
        assert_eq!(pkce.challenge().len(), 43);
    }

    #[test]
    fn verifiers_and_states_are_random_and_well_formed() {
        let a = Pkce::generate().expect("pkce");
        let b = Pkce::generate().expect("pkce");
        assert_ne!(a.verifier().expose_secret(), b.verifier().expose_secret());
        let v = a.verifier().expose_secret();
        assert!((43..=128).contains(&v.len()));
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        );
        let state = random_state().expect("state");
        assert_eq!(state.len(), 43);
        assert!(
            state
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        );
        assert_ne!(state, random_state().expect("state"));
    }
}
