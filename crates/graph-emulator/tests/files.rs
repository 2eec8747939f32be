//! Message files as Graph serves them: the hosted contents of a message (list, metadata,
//! `$value`), a shared file's `driveItem` by its encoded sharing URL, and the control API's
//! `images` and `files` with bytes.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{CLIENT_ID, tenant};
use graph_emulator::{ChatType, NewMessage};
use serde_json::{Value, json};

#[tokio::test]
async fn hosted_contents_and_drive_items_have_graphs_shapes() {
    let t = tenant().await;
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let posted = t
        .graph
        .post_message(
            &chat.id,
            &t.alice.id,
            NewMessage::html("<p>hi</p>")
                .image("pic <1>", b"png-bytes".to_vec(), "image/png")
                .shared_file("plan.pdf", b"%PDF-1.7".to_vec()),
        )
        .expect("post");
    assert!(
        posted.content.starts_with(&format!(
            r#"<p>hi</p><p><img src="https://graph.microsoft.com/v1.0/chats/{}/messages/{}/hostedContents/"#,
            chat.id, posted.id
        )),
        "{}",
        posted.content
    );
    assert!(posted.content.contains(r#"alt="pic &lt;1&gt;""#));
    let hosted_id = posted.hosted_contents[0].id.clone();
    assert!(STANDARD.decode(&hosted_id).is_ok(), "{hosted_id}");

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let token = t.graph.app_token(CLIENT_ID);
    let base = format!(
        "{}/chats/{}/messages/{}",
        t.graph.graph_url(),
        chat.id,
        posted.id
    );
    let get = |url: String| http.get(url).bearer_auth(&token).send();

    let list: Value = get(format!("{base}/hostedContents"))
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["value"][0]["id"], json!(hosted_id));
    assert_eq!(list["@odata.count"], 1);
    let one = get(format!("{base}/hostedContents/{hosted_id}"))
        .await
        .expect("one");
    assert_eq!(one.status().as_u16(), 200);
    let value = get(format!("{base}/hostedContents/{hosted_id}/$value"))
        .await
        .expect("value");
    assert_eq!(value.headers()["content-type"], "image/png");
    assert_eq!(value.bytes().await.expect("bytes").as_ref(), b"png-bytes");

    let url = posted.attachments[0]["contentUrl"].as_str().expect("url");
    let share = format!("u!{}", URL_SAFE_NO_PAD.encode(url));
    let item: Value = get(format!("{}/shares/{share}/driveItem", t.graph.graph_url()))
        .await
        .expect("item")
        .json()
        .await
        .expect("json");
    assert_eq!(item["name"], "plan.pdf");
    assert_eq!(item["size"], 8);
    assert_eq!(item["file"]["mimeType"], "application/pdf");
    let download = item["@microsoft.graph.downloadUrl"].as_str().expect("url");
    let bytes = http.get(download).send().await.expect("download");
    assert_eq!(bytes.status().as_u16(), 200);
    assert_eq!(bytes.bytes().await.expect("bytes").as_ref(), b"%PDF-1.7");
    let missing = format!(
        "u!{}",
        URL_SAFE_NO_PAD.encode("https://contoso.sharepoint.com/nope")
    );
    let answer = get(format!(
        "{}/shares/{missing}/driveItem/content",
        t.graph.graph_url()
    ))
    .await
    .expect("missing");
    assert_eq!(answer.status().as_u16(), 404);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["error"]["code"], "itemNotFound");
}

#[tokio::test]
async fn the_control_api_posts_images_and_files_with_bytes() {
    let t = tenant().await;
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let response = reqwest::Client::new()
        .post(format!("{}_emulator/chats/{}/messages", t.graph.base_url(), chat.id))
        .json(&json!({
            "from": t.alice.id,
            "html": "<p>see</p>",
            "images": [{"name": "shot", "base64": STANDARD.encode(b"img"), "contentType": "image/gif"}],
            "files": [
                {"name": "a.txt", "base64": STANDARD.encode(b"abc")},
                {"name": "b.docx", "url": "https://contoso.sharepoint.com/b.docx"}
            ],
        }))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 201);
    let stored = t.graph.messages(&chat.id).pop().expect("message");
    assert_eq!(stored.hosted_contents[0].bytes, b"img");
    assert_eq!(stored.hosted_contents[0].content_type, "image/gif");
    assert_eq!(stored.attachments.len(), 2);
    assert_eq!(
        stored.attachments[1]["contentUrl"],
        "https://contoso.sharepoint.com/b.docx"
    );
}
