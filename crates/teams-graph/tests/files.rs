//! Downloading a chat message's files from the graph-emulator: pasted images (hosted contents
//! named by the body's `<img src>`) and shared files (by their SharePoint URL, through
//! `/shares/{u!…}/driveItem/content` and its redirect), within a maximum size.

mod common;

use std::sync::{Arc, Mutex};

use common::{CLIENT_ID, Tenant, tenant};
use graph_emulator::{ChatType, NewMessage};
use secrecy::SecretString;
use teams_graph::{
    Downloaded, GraphClient, GraphError, GraphObserver, encode_sharing_url, hosted_content_ids,
};

type Calls = Arc<Mutex<Vec<(&'static str, u16)>>>;

fn client(t: &Tenant, token: &str) -> (GraphClient, Calls) {
    let calls: Calls = Arc::default();
    let sink = calls.clone();
    let observer: GraphObserver = Arc::new(move |endpoint, status| {
        sink.lock().expect("calls").push((endpoint, status));
    });
    let graph = GraphClient::new(&t.endpoints, &SecretString::from(token.to_owned()))
        .expect("client")
        .with_observer(observer);
    (graph, calls)
}

fn file(outcome: Downloaded) -> teams_graph::Download {
    match outcome {
        Downloaded::File(file) => file,
        other => panic!("expected the file, got {other:?}"),
    }
}

#[tokio::test]
async fn pasted_images_and_shared_files_are_downloaded_within_a_limit() {
    let t = tenant().await;
    let chat = t
        .graph
        .add_chat(ChatType::Group, None, &[&t.alice.id, &t.bob.id]);
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n-image-bytes".to_vec();
    let gif: Vec<u8> = b"GIF89a-second".to_vec();
    let report: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let posted = t
        .graph
        .post_message(
            &chat.id,
            &t.alice.id,
            NewMessage::html("<p>See these</p>")
                .image("screenshot", png.clone(), "image/png")
                .image("second", gif.clone(), "image/gif")
                .shared_file("Q3 report.xlsx", report.clone())
                .file(
                    "elsewhere.docx",
                    "https://contoso.sharepoint.com/x/elsewhere.docx",
                ),
        )
        .expect("post");
    let (graph, calls) = client(&t, &t.graph.app_token(CLIENT_ID));
    let message = graph
        .chat_message(&chat.id, &posted.id)
        .await
        .expect("message");

    // The images, as the body names them.
    let ids = hosted_content_ids(&message.body.content);
    assert_eq!(ids.len(), 2, "{}", message.body.content);
    let first = file(
        graph
            .download_hosted_content(&chat.id, &message.id, &ids[0], 1_000)
            .await
            .expect("image"),
    );
    assert_eq!(first.bytes, png);
    assert_eq!(first.content_type.as_deref(), Some("image/png"));
    assert_eq!(first.name, None);
    let second = file(
        graph
            .download_hosted_content(&chat.id, &message.id, &ids[1], 1_000)
            .await
            .expect("image"),
    );
    assert_eq!(second.bytes, gif);
    assert_eq!(
        graph
            .download_hosted_content(&chat.id, &message.id, &ids[0], 5)
            .await
            .expect("answer"),
        Downloaded::TooLarge {
            limit: 5,
            size: Some(png.len() as u64)
        }
    );
    assert_eq!(
        graph
            .download_hosted_content(&chat.id, &message.id, "bm9uZQ==", 1_000)
            .await,
        Err(GraphError::NotFound)
    );

    // The shared file, through its sharing URL and the redirect.
    let url = |name: &str| {
        message
            .attachments
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .and_then(|a| a.content_url.clone())
            .expect("attachment")
    };
    let shared = file(
        graph
            .download_shared_file(&url("Q3 report.xlsx"), 1_000_000)
            .await
            .expect("shared file"),
    );
    assert_eq!(shared.bytes, report);
    assert_eq!(shared.name.as_deref(), Some("Q3 report.xlsx"));
    assert_eq!(
        shared.content_type.as_deref(),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    assert!(matches!(
        graph
            .download_shared_file(&url("Q3 report.xlsx"), 9_999)
            .await
            .expect("answer"),
        Downloaded::TooLarge { limit: 9_999, .. }
    ));
    // A file whose bytes Graph does not have.
    assert_eq!(
        graph
            .download_shared_file(&url("elsewhere.docx"), 1_000_000)
            .await,
        Err(GraphError::NotFound)
    );
    let calls = calls.lock().expect("calls").clone();
    assert!(
        calls.contains(&("download_hosted_content", 200)),
        "{calls:?}"
    );
    assert!(calls.contains(&("download_shared_file", 200)), "{calls:?}");
    assert!(calls.contains(&("download_shared_file", 404)), "{calls:?}");
}

#[tokio::test]
async fn downloads_need_a_valid_token_and_members_only_see_their_chats() {
    let t = tenant().await;
    let carol = t
        .graph
        .add_user(graph_emulator::NewUser::new("Carol", "carol@contoso.com"));
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let posted = t
        .graph
        .post_message(
            &chat.id,
            &t.alice.id,
            NewMessage::text("pasted")
                .image("img", b"bytes".to_vec(), "image/png")
                .shared_file("a.txt", b"text".to_vec()),
        )
        .expect("post");
    let stored = t.graph.messages(&chat.id).pop().expect("stored");
    assert_eq!(stored.content_type, "html", "an image makes the body HTML");
    let id = stored.hosted_contents[0].id.clone();
    let content_url = stored.attachments[0]["contentUrl"]
        .as_str()
        .expect("url")
        .to_owned();

    let (bad, _) = client(&t, "not-a-token");
    let err = bad
        .download_hosted_content(&chat.id, &posted.id, &id, 100)
        .await
        .expect_err("refused");
    assert_eq!(err, GraphError::Unauthorized);
    assert!(!err.to_string().contains("not-a-token"));
    assert_eq!(
        bad.download_shared_file(&content_url, 100).await,
        Err(GraphError::Unauthorized)
    );

    let (outsider, _) = client(&t, &t.graph.user_token(CLIENT_ID, &carol.id));
    assert!(matches!(
        outsider
            .download_hosted_content(&chat.id, &posted.id, &id, 100)
            .await,
        Err(GraphError::Forbidden { .. })
    ));
    let (member, _) = client(&t, &t.graph.user_token(CLIENT_ID, &t.bob.id));
    assert_eq!(
        file(
            member
                .download_hosted_content(&chat.id, &posted.id, &id, 100)
                .await
                .expect("member")
        )
        .bytes,
        b"bytes"
    );

    // The download URL Graph redirects to works without a token, and only with its tempauth.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let share = format!(
        "{}/shares/{}/driveItem/content",
        t.graph.graph_url(),
        encode_sharing_url(&content_url)
    );
    let redirect = http
        .get(&share)
        .bearer_auth(t.graph.app_token(CLIENT_ID))
        .send()
        .await
        .expect("share");
    assert_eq!(redirect.status().as_u16(), 302);
    let location = redirect.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.contains("tempauth="), "{location}");
    let fetched = http.get(&location).send().await.expect("download");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await.expect("bytes").as_ref(), b"text");
    let forged = location.replace("tempauth=", "tempauth=x");
    assert_eq!(
        http.get(&forged)
            .send()
            .await
            .expect("forged")
            .status()
            .as_u16(),
        401
    );
    // Without a token the share itself is refused.
    assert_eq!(
        http.get(&share)
            .send()
            .await
            .expect("share")
            .status()
            .as_u16(),
        401
    );

    // Deleted messages have no images any more.
    t.graph
        .delete_message(&chat.id, &posted.id)
        .expect("delete");
    assert_eq!(
        member
            .download_hosted_content(&chat.id, &posted.id, &id, 100)
            .await,
        Err(GraphError::NotFound)
    );
}
