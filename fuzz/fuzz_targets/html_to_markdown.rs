//! Teams message HTML is untrusted: the converter must never panic, stay within its length bound,
//! and never let text become a channel-wide mention or raw HTML.
#![no_main]

use bridge_core::notify::html::{self, Mention, MentionNames};
use libfuzzer_sys::fuzz_target;

struct Names;

impl MentionNames for Names {
    fn mattermost_username(&self, microsoft_user_id: &str) -> Option<String> {
        (microsoft_user_id == "u1").then(|| "alice".to_owned())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mentions = [
        Mention {
            id: 0,
            microsoft_user_id: Some("u1".into()),
            display_name: "Alice".into(),
        },
        Mention {
            id: 1,
            microsoft_user_id: None,
            display_name: "@all".into(),
        },
    ];
    let out = html::to_markdown(text, &mentions, &Names);
    assert!(out.chars().count() <= html::MAX_MARKDOWN + 64);
    for forbidden in ["@all", "@channel", "@here"] {
        assert!(
            !out.to_lowercase().contains(forbidden),
            "{forbidden} in {out:?}"
        );
    }
    let plain = html::text_to_markdown(text);
    assert!(!plain.contains('<'), "raw < in {plain:?}");
    let _ = html::quote(&out);
});
