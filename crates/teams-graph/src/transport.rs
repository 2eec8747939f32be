//! What the HTTP layer tells the two clients: how long to wait when throttled, and why a
//! request got no answer.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How long the server asked us to wait. Graph sends seconds, sometimes fractional (`2.128`);
/// anything else (absent, negative, a date) leaves the caller to its own backoff.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// A reqwest failure with its causes ("error sending request: connection refused"), without the
/// URL: reqwest's own text stops at the first line, which says too little to act on.
pub(crate) fn describe(error: reqwest::Error) -> String {
    chain(&error.without_url())
}

/// An error and its sources on one line, each said once.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
        assert_eq!(
            retry_after(&with(" 2.128 ")),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(retry_after(&with("-1")), None);
        assert_eq!(retry_after(&with("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
