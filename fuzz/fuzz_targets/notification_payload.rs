//! Whatever anyone POSTs to `/graph/notifications`: the batch parser, the stored-item reader and
//! the resource parser must never panic, and every item they accept must read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teams_graph::{ChangeNotification, parse_notification_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = parse_notification_batch(data) {
        for item in items.into_iter().flatten() {
            let _ = item.item.chat_message_ids();
            let again =
                ChangeNotification::from_stored(&item.raw).expect("a stored item reads back");
            assert_eq!(again.subscription_id, item.item.subscription_id);
            assert_eq!(again.resource, item.item.resource);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(item) = ChangeNotification::from_stored(text) {
            let _ = item.chat_message_ids();
        }
        let _ = teams_graph::validation_token(text);
    }
});
