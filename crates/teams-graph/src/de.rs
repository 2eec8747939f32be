//! Lenient readers for Graph's JSON: real Graph omits properties, sends `null` for unset ones, and
//! has been seen sending malformed timestamps (`"2021-03-1706:47:05.123Z"` in its own docs). One
//! odd property must not make a whole message, page or notification unreadable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// `null` (or absent, with `#[serde(default)]`) reads as the empty string.
pub(crate) fn null_as_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// `null` reads as the type's default (an empty list, an empty body).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An ISO 8601 timestamp with any offset, as UTC; `null`, a non-string or an unparsable text
/// reads as `None` rather than failing the enclosing object.
pub(crate) fn lenient_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(parse_time))
}

/// Graph writes `2021-02-02T18:19:52.105Z`, `2021-02-02T11:26:41.0537895-08:00` and, at times,
/// no offset at all (`2019-03-20T11:00:00.0000000`), which is UTC.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// An OData key literal: `'19:abc@thread.v2'` → `19:abc@thread.v2` (`''` is an escaped quote).
pub(crate) fn unquote(key: &str) -> String {
    let key = key.trim();
    key.strip_prefix('\'')
        .and_then(|k| k.strip_suffix('\''))
        .unwrap_or(key)
        .replace("''", "'")
}

/// Decodes `%XX` escapes (not `+`: this is for paths). `None` when the result is not UTF-8;
/// a `%` not followed by two hex digits is kept as it is.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn graph_timestamps_are_read_in_all_their_forms() {
        let t = |s| parse_time(s);
        assert_eq!(
            t("2021-02-02T18:19:52.105Z"),
            Utc.timestamp_millis_opt(1_612_289_992_105).single()
        );
        assert_eq!(
            t("2021-02-02T11:26:41.0537895-08:00").map(|t| t.timestamp()),
            Some(1_612_294_001)
        );
        assert_eq!(
            t("2019-03-20T11:00:00.0000000"),
            Utc.with_ymd_and_hms(2019, 3, 20, 11, 0, 0).single()
        );
        assert_eq!(t("2021-03-1706:47:05.123Z"), None);
        assert_eq!(t(""), None);
    }

    #[test]
    fn percent_escapes_are_decoded_but_plus_is_kept() {
        assert_eq!(
            percent_decode("19%3Aabc%40thread.v2").as_deref(),
            Some("19:abc@thread.v2")
        );
        assert_eq!(percent_decode("a+b%2").as_deref(), Some("a+b%2"));
        assert_eq!(percent_decode("%zz%E2%9C%93").as_deref(), Some("%zz✓"));
        assert_eq!(percent_decode("%FF"), None);
    }
}
