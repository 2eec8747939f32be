//! Identifiers as Mattermost makes them: 26 characters of a base32 alphabet (lowercase letters and
//! digits) encoding 128 random bits.

/// Mattermost's `NewId` alphabet; every character is lowercase a-z or 0-9.
const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

pub(crate) fn new_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(26);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

pub(crate) fn is_valid_id(id: &str) -> bool {
    id.len() == 26
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Group channels are named by the SHA-1 of their sorted member ids, as Mattermost does.
pub(crate) fn group_channel_name(sorted_ids: &[String]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for id in sorted_ids {
        context.update(id.as_bytes());
    }
    context
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_26_lowercase_alphanumerics() {
        for _ in 0..100 {
            let id = new_id();
            assert!(is_valid_id(&id), "{id}");
        }
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn group_names_are_sha1_hex() {
        assert_eq!(
            group_channel_name(&["a".into(), "bc".into()]),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
