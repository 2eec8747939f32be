//! Files in chat notifications end to end: the real `teams-bridge serve` process downloads a
//! message's pasted images and shared files from the Graph emulator and uploads them to the
//! recipient's DM at the Mattermost emulator, attached to the one DM; what cannot be attached
//! (over Mattermost's maximum file size, beyond ten files) is said in the DM.

mod support;

use graph_emulator::{ChatType, NewMessage, Presence};
use support::*;

async fn away_bob() -> (Bridge, String) {
    let b = Bridge::start(CommandSetup::ByHand).await;
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    (b, chat.id)
}

/// The one bot DM to `user` whose text contains `needle`, once it has arrived.
async fn the_dm(b: &Bridge, user: &str, needle: &str) -> mm_emulator::Post {
    let arrived = eventually(20, || async {
        b.dms_to(user).iter().any(|p| p.message.contains(needle))
    })
    .await;
    assert!(arrived, "no DM; log:\n{}", b.log());
    let dms: Vec<_> = b
        .dms_to(user)
        .into_iter()
        .filter(|p| p.message.contains(needle))
        .collect();
    assert_eq!(dms.len(), 1, "exactly one DM: {dms:?}");
    dms.into_iter().next().expect("dm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasted_images_and_shared_files_are_attached_and_a_too_large_one_is_named() {
    let (b, chat) = away_bob().await;
    b.mattermost.set_max_file_size(4_000);
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&16u32.to_be_bytes());
    png.extend_from_slice(&9u32.to_be_bytes());
    png.extend_from_slice(&[0u8; 200]);
    let notes: Vec<u8> = b"meeting notes\n".repeat(100);
    let video: Vec<u8> = vec![42; 10_000];
    b.graph
        .post_message(
            &chat,
            &b.alice.ms_id,
            NewMessage::html("<p>Files for the review</p>")
                .image("screenshot", png.clone(), "image/png")
                .shared_file("notes.txt", notes.clone())
                .shared_file("demo video.mp4", video),
        )
        .expect("post");

    let dm = the_dm(&b, &b.bob.mm_id, "Files for the review").await;
    assert_eq!(dm.user_id, b.bot_mm);
    assert_eq!(dm.file_ids.len(), 2, "{dm:?}");
    let files: Vec<(&str, u64)> = dm
        .metadata
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.size))
        .collect();
    assert_eq!(
        files,
        [
            ("image-1.png", png.len() as u64),
            ("notes.txt", notes.len() as u64)
        ],
        "{dm:?}"
    );
    assert_eq!(dm.metadata.files[0].width, 16, "the image is an image");
    assert!(
        dm.message.contains(
            "_1 file could not be attached (demo video.mp4); open the message in Teams to see it._"
        ),
        "{}",
        dm.message
    );
    assert!(
        dm.message
            .starts_with("**Alice Smith** in an MS Teams chat:\n> Files for the review"),
        "{}",
        dm.message
    );
    // The sender gets nothing, and nothing is sent twice.
    assert!(
        b.dms_to(&b.alice.mm_id)
            .iter()
            .all(|p| !p.message.contains("Files for the review"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_files_are_attached_and_more_are_counted() {
    let (b, chat) = away_bob().await;
    let mut message = NewMessage::html("<p>All the exports</p>");
    for n in 1..=12 {
        message = message.shared_file(&format!("export-{n:02}.csv"), format!("n,{n}\n"));
    }
    b.graph
        .post_message(&chat, &b.alice.ms_id, message)
        .expect("post");

    let dm = the_dm(&b, &b.bob.mm_id, "All the exports").await;
    let names: Vec<&str> = dm.metadata.files.iter().map(|f| f.name.as_str()).collect();
    let expected: Vec<String> = (1..=10).map(|n| format!("export-{n:02}.csv")).collect();
    assert_eq!(names, expected, "{dm:?}");
    assert_eq!(dm.file_ids.len(), 10);
    assert!(
        dm.message
            .contains("_2 files could not be attached; open the message in Teams to see it._"),
        "{}",
        dm.message
    );
}
