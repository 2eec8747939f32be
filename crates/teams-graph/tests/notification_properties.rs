//! Properties of the change-notification parser, which reads what anyone can POST to the
//! webhook: it never panics, and one bad item never costs the good ones.

use proptest::prelude::*;
use teams_graph::{ChangeNotification, parse_notification_batch};

fn valid_item(n: u32) -> serde_json::Value {
    serde_json::json!({
        "subscriptionId": format!("sub-{n}"),
        "clientState": "secret",
        "changeType": "created",
        "resource": format!("chats('19:c{n}@thread.v2')/messages('{n}')"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2_000)) {
        let _ = parse_notification_batch(&body);
    }

    #[test]
    fn arbitrary_text_items_never_panic(text in ".{0,400}") {
        let _ = ChangeNotification::from_stored(&text);
        let body = format!("{{\"value\":[{text}]}}");
        let _ = parse_notification_batch(body.as_bytes());
    }

    #[test]
    fn bad_items_do_not_cost_good_ones(
        junk in proptest::collection::vec(
            prop_oneof![
                Just(serde_json::json!(null)),
                Just(serde_json::json!(42)),
                Just(serde_json::json!("text")),
                Just(serde_json::json!([1, 2])),
                Just(serde_json::json!({"subscriptionId": 7})),
                ".{0,40}".prop_map(|s| serde_json::json!({ "resource": s })),
            ],
            0..8,
        ),
        good in 0u32..6,
    ) {
        let mut value: Vec<serde_json::Value> = junk;
        for n in 0..good {
            value.insert((n as usize * 3) % (value.len() + 1), valid_item(n));
        }
        let body = serde_json::json!({ "value": value }).to_string();
        let parsed = parse_notification_batch(body.as_bytes()).expect("a collection");
        let ok: Vec<_> = parsed.iter().filter_map(|r| r.as_ref().ok()).collect();
        prop_assert!(ok.len() >= good as usize);
        for n in 0..good {
            let wanted = format!("sub-{n}");
            let ids = Some((format!("19:c{n}@thread.v2"), n.to_string()));
            let found = ok
                .iter()
                .any(|r| r.item.subscription_id == wanted && r.item.chat_message_ids() == ids);
            prop_assert!(found, "item {} lost", n);
        }
    }
}
