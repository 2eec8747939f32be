//! File uploads against the Mattermost emulator: multipart upload to a channel, a post that
//! attaches the files, and the server's maximum file size (413).

mod common;

use common::world;
use mm_client::{MmError, NewPost};

#[tokio::test]
async fn files_are_uploaded_and_attached_to_a_post() {
    let w = world().await;
    let bot = w.bot();
    let channel = bot
        .direct_channel(&w.bot_id, &w.alice.id)
        .await
        .expect("channel");

    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&2u32.to_be_bytes());
    png.extend_from_slice(&3u32.to_be_bytes());
    png.extend_from_slice(b"rest of the image");
    let image = bot
        .upload_file(&channel, "pasted image.png", png.clone())
        .await
        .expect("upload image");
    assert_eq!(image.name, "pasted image.png");
    assert_eq!(image.size, png.len() as u64);
    assert_eq!(image.mime_type, "image/png");
    // Bytes that look like multipart framing travel untouched.
    let tricky = b"--boundary\r\n\r\n--\r\nContent-Disposition: x\r\n\"\0\xff".to_vec();
    let doc = bot
        .upload_file(&channel, "../notes \"v2\".txt", tricky.clone())
        .await
        .expect("upload doc");
    assert_eq!(doc.name, "notes _v2_.txt");
    assert_eq!(doc.size, tricky.len() as u64);

    let post = bot
        .create_post_with_files(
            &NewPost::new(channel.clone(), "two files"),
            &[image.id.clone(), doc.id.clone()],
        )
        .await
        .expect("post");
    assert_eq!(post.file_ids, [image.id.clone(), doc.id.clone()]);
    let seen = w.mm.post(&post.id).expect("stored post");
    let names: Vec<&str> = seen
        .metadata
        .files
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["pasted image.png", "notes _v2_.txt"]);
    assert_eq!(seen.metadata.files[0].width, 2);
    assert_eq!(seen.metadata.files[1].size, tricky.len() as u64);

    // No files: a plain post, without `file_ids`.
    let plain = bot
        .create_post_with_files(&NewPost::new(channel, "none"), &[])
        .await
        .expect("plain post");
    assert!(plain.file_ids.is_empty());
}

#[tokio::test]
async fn files_over_the_servers_maximum_are_refused_as_too_large() {
    let w = world().await;
    w.mm.set_max_file_size(1_000);
    let bot = w.bot();
    let channel = bot
        .direct_channel(&w.bot_id, &w.alice.id)
        .await
        .expect("channel");

    let ok = bot
        .upload_file(&channel, "small.bin", vec![7; 1_000])
        .await
        .expect("at the limit");
    assert_eq!(ok.size, 1_000);
    let err = bot
        .upload_file(&channel, "big.bin", vec![7; 1_001])
        .await
        .expect_err("over the limit");
    assert!(err.is_too_large(), "{err:?}");
    assert!(!err.is_transient());

    // An id that is not one, and a channel the uploader is not in.
    let err = bot
        .upload_file("not/an id", "x.txt", b"x".to_vec())
        .await
        .expect_err("bad id");
    assert_eq!(err, MmError::NotFound);
    let bobs = bot
        .direct_channel(&w.bot_id, &w.bob.id)
        .await
        .expect("bot and bob");
    let err = w
        .client(&w.alice_token)
        .upload_file(&bobs, "x.txt", b"x".to_vec())
        .await
        .expect_err("not a member");
    assert!(matches!(err, MmError::Forbidden(_)), "{err:?}");
}
