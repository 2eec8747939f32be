//! `Retry-After`, as Graph and the identity platform send it.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How long the server asked us to wait. Graph sends seconds, sometimes fractional (`2.128`);
/// anything else (absent, negative, a date) leaves the caller to its own backoff.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn whole_and_fractional_seconds() {
        assert_eq!(retry_after(&with("10")), Some(Duration::from_secs(10)));
        assert_eq!(retry_after(&with(" 2.128 ")), Some(Duration::from_millis(2128)));
        assert_eq!(retry_after(&with("-1")), None);
        assert_eq!(retry_after(&with("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
