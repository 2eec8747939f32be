//! The REST API v4 as a client sees it, driven with `mattermost_api` where it has the call and
//! with plain HTTP where it does not.

mod common;

use common::{api, http, multipart, seeded, url};
use mattermost_api::errors::ApiError;
use mattermost_api::models::PostBody;
use mm_emulator::{Fault, FaultRule, NewPost, Post, PostList, User};
use serde_json::{Value, json};

fn app_error(err: ApiError) -> mattermost_api::models::MattermostError {
    match err {
        ApiError::MattermostApiError(err) => err,
        other => panic!("expected a Mattermost error, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_with_the_app_error_body() {
    let s = seeded().await;
    let response = http()
        .get(url(&s.mm, "users/me"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    let request_id = response
        .headers()
        .get("X-Request-Id")
        .expect("X-Request-Id")
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["id"], "api.context.session_expired.app_error");
    assert_eq!(
        body["message"],
        "Invalid or expired session, please login again."
    );
    assert_eq!(body["detailed_error"], "");
    assert_eq!(body["status_code"], 401);
    assert_eq!(body["is_oauth"], false);
    assert_eq!(body["request_id"], request_id.as_str());

    let err = api(&s.mm, "not-a-token")
        .query::<Value>("GET", "users/me", None, None)
        .await
        .expect_err("401");
    let err = app_error(err);
    assert_eq!(err.status_code, 401);
    assert_eq!(err.id, "api.context.session_expired.app_error");
}

#[tokio::test]
async fn users_are_created_and_found_by_id_email_and_username() {
    let s = seeded().await;
    let admin = api(&s.mm, &s.admin_token);
    let created: User = admin
        .post(
            "users",
            None,
            &json!({"email": "Dana@Example.com", "username": "dana.teams", "password": "long-enough",
                    "first_name": "Dana", "props": {"teams_aad_id": "8ea0e38b"}}),
        )
        .await
        .expect("create");
    assert_eq!(created.id.len(), 26);
    assert!(
        created
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    assert_eq!(created.email, "dana@example.com");
    assert_eq!(created.roles, "system_user");
    assert_eq!(created.props["teams_aad_id"], "8ea0e38b");

    let alice = api(&s.mm, &s.alice_token);
    let by_id: User = alice
        .query("GET", &format!("users/{}", created.id), None, None)
        .await
        .expect("by id");
    let by_email: User = alice
        .query("GET", "users/email/dana@example.com", None, None)
        .await
        .expect("by email");
    let by_name: User = alice
        .query("GET", "users/username/dana.teams", None, None)
        .await
        .expect("by username");
    assert_eq!(by_id, created);
    assert_eq!(by_email, created);
    assert_eq!(by_name, created);
    let me: User = alice
        .query("GET", "users/me", None, None)
        .await
        .expect("me");
    assert_eq!(me.id, s.alice.id);

    let missing = app_error(
        alice
            .query::<User>("GET", "users/email/nobody@example.com", None, None)
            .await
            .expect_err("404"),
    );
    assert_eq!(missing.status_code, 404);
    let by_upper_name: User = alice
        .query("GET", "users/username/Dana.Teams", None, None)
        .await
        .expect("usernames are case-insensitive");
    assert_eq!(by_upper_name.id, created.id);
    let no_such_name = app_error(
        alice
            .query::<User>("GET", "users/username/nobody", None, None)
            .await
            .expect_err("404"),
    );
    assert_eq!(no_such_name.status_code, 404);
    assert_eq!(no_such_name.id, "app.user.missing_account.const");

    let by_ids: Vec<User> = alice
        .post(
            "users/ids",
            None,
            &json!([created.id, s.bob.id, "unknownunknownunknownunkn"]),
        )
        .await
        .expect("ids");
    assert_eq!(by_ids.len(), 2);
    let found: Vec<User> = alice
        .post("users/search", None, &json!({"term": "dan"}))
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        [created.id.as_str()]
    );

    // Only admins create users; duplicates are refused.
    let refused = app_error(
        alice
            .post::<_, User>(
                "users",
                None,
                &json!({"email": "e@example.com", "username": "eve", "password": "long-enough"}),
            )
            .await
            .expect_err("403"),
    );
    assert_eq!(refused.status_code, 403);
    let duplicate = app_error(
        admin
            .post::<_, User>("users", None, &json!({"email": "x@example.com", "username": "dana.teams", "password": "long-enough"}))
            .await
            .expect_err("400"),
    );
    assert_eq!(duplicate.id, "app.user.save.username_exists.app_error");

    // Patching: yourself, or anyone as an admin.
    let patched: User = alice
        .query(
            "PUT",
            &format!("users/{}/patch", s.alice.id),
            None,
            Some(&json!({"nickname": "Al", "props": {"k": "v"}}).to_string()),
        )
        .await
        .expect("patch self");
    assert_eq!(patched.nickname, "Al");
    assert_eq!(patched.props["k"], "v");
    let denied = app_error(
        alice
            .query::<User>(
                "PUT",
                &format!("users/{}/patch", s.bob.id),
                None,
                Some(r#"{"nickname":"B"}"#),
            )
            .await
            .expect_err("403"),
    );
    assert_eq!(denied.status_code, 403);
    assert_eq!(denied.id, "api.context.permissions.app_error");

    // Deactivating a user ends their tokens; reactivating needs an admin.
    let status: Value = admin
        .query("DELETE", &format!("users/{}", s.bob.id), None, None)
        .await
        .expect("deactivate");
    assert_eq!(status, json!({"status": "OK"}));
    assert!(s.mm.user(&s.bob.id).expect("bob").delete_at > 0);
    let gone = app_error(
        api(&s.mm, &s.bob_token)
            .query::<User>("GET", "users/me", None, None)
            .await
            .expect_err("401"),
    );
    assert_eq!(gone.status_code, 401);
    let _: Value = admin
        .query(
            "PUT",
            &format!("users/{}/active", s.bob.id),
            None,
            Some(r#"{"active":true}"#),
        )
        .await
        .expect("activate");
    let me: User = api(&s.mm, &s.bob_token)
        .query("GET", "users/me", None, None)
        .await
        .expect("bob back");
    assert_eq!(me.delete_at, 0);
}

#[tokio::test]
async fn bots_and_tokens_work_like_users() {
    let s = seeded().await;
    let admin = api(&s.mm, &s.admin_token);
    let bot: Value = admin
        .post(
            "bots",
            None,
            &json!({"username": "calendar", "display_name": "Calendar", "description": "d"}),
        )
        .await
        .expect("bot");
    let bot_id = bot["user_id"].as_str().expect("user_id").to_owned();
    assert_eq!(bot["owner_id"], s.admin.id.as_str());
    assert_eq!(bot["username"], "calendar");
    let fetched: Value = admin
        .query("GET", &format!("bots/{bot_id}"), None, None)
        .await
        .expect("get bot");
    assert_eq!(fetched, bot);
    let token: Value = admin
        .post(
            &format!("users/{bot_id}/tokens"),
            None,
            &json!({"description": "bridge"}),
        )
        .await
        .expect("token");
    assert_eq!(token["user_id"], bot_id.as_str());
    assert_eq!(token["description"], "bridge");
    let me: User = api(&s.mm, token["token"].as_str().expect("token"))
        .query("GET", "users/me", None, None)
        .await
        .expect("bot me");
    assert!(me.is_bot);
    // A regular user may not mint tokens for others.
    let denied = app_error(
        api(&s.mm, &s.alice_token)
            .post::<_, Value>(
                &format!("users/{}/tokens", s.bob.id),
                None,
                &json!({"description": "x"}),
            )
            .await
            .expect_err("403"),
    );
    assert_eq!(denied.status_code, 403);
}

#[tokio::test]
async fn direct_channels_are_idempotent_and_named_by_sorted_ids() {
    let s = seeded().await;
    let alice = api(&s.mm, &s.alice_token);
    let first = http()
        .post(url(&s.mm, "channels/direct"))
        .bearer_auth(&s.alice_token)
        .json(&json!([s.bob.id, s.alice.id]))
        .send()
        .await
        .expect("send");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    let second: Value = alice
        .post("channels/direct", None, &json!([s.alice.id, s.bob.id]))
        .await
        .expect("again");
    assert_eq!(first["id"], second["id"]);
    let mut ids = [s.alice.id.clone(), s.bob.id.clone()];
    ids.sort();
    assert_eq!(first["name"], format!("{}__{}", ids[0], ids[1]));
    assert_eq!(first["type"], "D");
    assert_eq!(first["team_id"], "");
    assert_eq!(
        s.mm.find_direct_channel(&s.bob.id, &s.alice.id)
            .expect("found")
            .id,
        first["id"].as_str().expect("id")
    );

    let one_id = app_error(
        alice
            .post::<_, Value>("channels/direct", None, &json!([s.bob.id]))
            .await
            .expect_err("400"),
    );
    assert_eq!(one_id.status_code, 400);
    let not_mine = app_error(
        alice
            .post::<_, Value>("channels/direct", None, &json!([s.bob.id, s.carol.id]))
            .await
            .expect_err("403"),
    );
    assert_eq!(not_mine.status_code, 403);
    let as_admin: Value = api(&s.mm, &s.admin_token)
        .post("channels/direct", None, &json!([s.bob.id, s.carol.id]))
        .await
        .expect("admin may");
    assert_eq!(as_admin["type"], "D");

    let group: Value = alice
        .post("channels/group", None, &json!([s.bob.id, s.carol.id]))
        .await
        .expect("group");
    assert_eq!(group["type"], "G");
    assert_eq!(group["display_name"], "alice, bob, carol");
    assert_eq!(group["name"].as_str().map(str::len), Some(40));
    let channel: Value = alice
        .query(
            "GET",
            &format!("channels/{}", first["id"].as_str().expect("id")),
            None,
            None,
        )
        .await
        .expect("get channel");
    assert_eq!(channel["id"], first["id"]);
    let outsider = app_error(
        api(&s.mm, &s.carol_token)
            .query::<Value>(
                "GET",
                &format!("channels/{}", first["id"].as_str().expect("id")),
                None,
                None,
            )
            .await
            .expect_err("403"),
    );
    assert_eq!(outsider.status_code, 403);
}

#[tokio::test]
async fn posts_are_created_read_patched_and_soft_deleted() {
    let s = seeded().await;
    let dm = s.mm.direct_channel(&s.alice.id, &s.bob.id).expect("dm");
    let alice = api(&s.mm, &s.alice_token);
    let created = alice
        .create_post(&PostBody {
            channel_id: dm.id.clone(),
            message: "Hello from Teams #launch".into(),
            root_id: None,
        })
        .await
        .expect("create");
    assert_eq!(created.user_id, s.alice.id);
    assert_eq!(created.hashtags, "#launch");
    assert_eq!(created.edit_at, 0);

    let response = http()
        .post(url(&s.mm, "posts"))
        .bearer_auth(&s.alice_token)
        .json(
            &json!({"channel_id": dm.id, "message": "a reply", "root_id": created.id,
                      "props": {"teams_message_id": "1616991463150", "from_bot": "true"}}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 201);
    let reply: Post = response.json().await.expect("post");
    assert_eq!(reply.root_id, created.id);
    assert_eq!(reply.props["teams_message_id"], "1616991463150");
    assert!(
        reply.props.get("from_bot").is_none(),
        "reserved props are dropped"
    );
    let bad_root = app_error(
        alice
            .post::<_, Value>(
                "posts",
                None,
                &json!({"channel_id": dm.id, "message": "x", "root_id": reply.id}),
            )
            .await
            .expect_err("400"),
    );
    assert_eq!(bad_root.id, "api.post.create_post.root_id.app_error");
    let outsider = app_error(
        api(&s.mm, &s.carol_token)
            .post::<_, Value>("posts", None, &json!({"channel_id": dm.id, "message": "x"}))
            .await
            .expect_err("403"),
    );
    assert_eq!(outsider.status_code, 403);

    // Bots' posts are marked.
    let bot_dm = s.mm.direct_channel(&s.bot_id, &s.alice.id).expect("bot dm");
    let bot_post: Post = api(&s.mm, &s.bot_token)
        .post(
            "posts",
            None,
            &json!({"channel_id": bot_dm.id, "message": "from the bridge"}),
        )
        .await
        .expect("bot post");
    assert_eq!(bot_post.props["from_bot"], "true");
    assert_eq!(s.mm.direct_messages_to(&s.alice.id), vec![bot_post.clone()]);

    let fetched: Post = alice
        .query("GET", &format!("posts/{}", created.id), None, None)
        .await
        .expect("get");
    assert_eq!(fetched.reply_count, 1);
    assert_eq!(fetched.message, "Hello from Teams #launch");

    let patched: Post = alice
        .query(
            "PUT",
            &format!("posts/{}/patch", created.id),
            None,
            Some(&json!({"message": "Edited", "props": {"edited_in": "teams"}}).to_string()),
        )
        .await
        .expect("patch");
    assert_eq!(patched.message, "Edited");
    assert!(patched.edit_at > 0);
    assert_eq!(
        patched.props,
        json!({"edited_in": "teams"})
            .as_object()
            .cloned()
            .expect("map")
    );
    let not_author = app_error(
        api(&s.mm, &s.bob_token)
            .query::<Post>(
                "PUT",
                &format!("posts/{}/patch", created.id),
                None,
                Some(r#"{"message":"x"}"#),
            )
            .await
            .expect_err("403"),
    );
    assert_eq!(not_author.status_code, 403);

    let before_delete = fetched.update_at;
    let deleted: Value = alice
        .query("DELETE", &format!("posts/{}", created.id), None, None)
        .await
        .expect("delete");
    assert_eq!(deleted, json!({"status": "OK"}));
    let gone = app_error(
        alice
            .query::<Post>("GET", &format!("posts/{}", created.id), None, None)
            .await
            .expect_err("404"),
    );
    assert_eq!(gone.status_code, 404);
    assert!(s.mm.post(&created.id).expect("kept").delete_at > 0);
    assert!(s.mm.post(&reply.id).expect("reply kept").delete_at > 0);

    // Changes since a time include the deletion; pages hide deleted posts.
    let since: PostList = alice
        .query(
            "GET",
            &format!("channels/{}/posts", dm.id),
            Some(&[("since", &before_delete.to_string())]),
            None,
        )
        .await
        .expect("since");
    assert!(since.order.contains(&created.id));
    assert!(since.posts[&created.id].delete_at > 0);
    for i in 0..3 {
        s.mm.create_post(&s.bob.id, NewPost::new(&dm.id, &format!("page {i}")))
            .expect("post");
    }
    let page: PostList = alice
        .query(
            "GET",
            &format!("channels/{}/posts", dm.id),
            Some(&[("page", "0"), ("per_page", "2")]),
            None,
        )
        .await
        .expect("page");
    let messages: Vec<&str> = page
        .order
        .iter()
        .map(|id| page.posts[id].message.as_str())
        .collect();
    assert_eq!(messages, ["page 2", "page 1"]);
    assert!(page.has_next);
    assert_eq!(page.prev_post_id.len(), 26);
}

#[tokio::test]
async fn ephemeral_posts_need_an_admin_and_reach_one_user() {
    let s = seeded().await;
    let dm = s.mm.direct_channel(&s.bot_id, &s.alice.id).expect("dm");
    let body = json!({"user_id": s.alice.id, "post": {"channel_id": dm.id, "message": "only you"}});
    let denied = app_error(
        api(&s.mm, &s.alice_token)
            .post::<_, Post>("posts/ephemeral", None, &body)
            .await
            .expect_err("403"),
    );
    assert_eq!(denied.status_code, 403);
    let response = http()
        .post(url(&s.mm, "posts/ephemeral"))
        .bearer_auth(&s.bot_token)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 201);
    let post: Post = response.json().await.expect("post");
    assert_eq!(post.post_type, "system_ephemeral");
    assert_eq!(post.user_id, s.bot_id);
    assert_eq!(s.mm.ephemeral_posts_for(&s.alice.id), vec![post]);
    assert!(s.mm.ephemeral_posts_for(&s.bob.id).is_empty());
    assert!(s.mm.channel_posts(&dm.id).is_empty());
}

#[tokio::test]
async fn reactions_are_added_listed_and_removed() {
    let s = seeded().await;
    let dm = s.mm.direct_channel(&s.alice.id, &s.bob.id).expect("dm");
    let post =
        s.mm.create_post(&s.bob.id, NewPost::new(&dm.id, "react to me"))
            .expect("post");
    let alice = api(&s.mm, &s.alice_token);
    let response = http()
        .post(url(&s.mm, "reactions"))
        .bearer_auth(&s.alice_token)
        .json(&json!({"user_id": s.alice.id, "post_id": post.id, "emoji_name": "+1"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 201);
    let reaction: Value = response.json().await.expect("json");
    assert_eq!(reaction["emoji_name"], "+1");
    assert!(reaction["create_at"].as_i64().expect("create_at") > 0);
    let impersonation = app_error(
        alice
            .post::<_, Value>(
                "reactions",
                None,
                &json!({"user_id": s.bob.id, "post_id": post.id, "emoji_name": "heart"}),
            )
            .await
            .expect_err("403"),
    );
    assert_eq!(impersonation.status_code, 403);
    let listed: Vec<Value> = alice
        .query("GET", &format!("posts/{}/reactions", post.id), None, None)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    let with_reactions = s.mm.post(&post.id).expect("post");
    assert!(with_reactions.has_reactions);
    assert_eq!(with_reactions.metadata.reactions.len(), 1);
    let removed: Value = alice
        .query(
            "DELETE",
            &format!("users/me/posts/{}/reactions/+1", post.id),
            None,
            None,
        )
        .await
        .expect("remove");
    assert_eq!(removed, json!({"status": "OK"}));
    assert!(!s.mm.post(&post.id).expect("post").has_reactions);
}

#[tokio::test]
async fn files_upload_attach_download_and_refuse_oversize() {
    let s = seeded().await;
    s.mm.set_max_file_size(1024);
    let dm = s.mm.direct_channel(&s.alice.id, &s.bob.id).expect("dm");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&32u32.to_be_bytes());
    png.extend_from_slice(&16u32.to_be_bytes());
    png.extend_from_slice(&[0; 20]);
    let (content_type, form) = multipart(&[
        ("channel_id", None, dm.id.as_bytes()),
        ("client_ids", None, b"client-1"),
        ("files", Some("image.png"), &png),
    ]);
    let response = http()
        .post(url(&s.mm, "files"))
        .bearer_auth(&s.alice_token)
        .header("content-type", content_type)
        .body(form)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 201);
    let uploaded: Value = response.json().await.expect("json");
    assert_eq!(uploaded["client_ids"], json!(["client-1"]));
    let info = &uploaded["file_infos"][0];
    assert_eq!(info["name"], "image.png");
    assert_eq!(info["extension"], "png");
    assert_eq!(info["mime_type"], "image/png");
    assert_eq!(info["size"], png.len());
    assert_eq!(info["width"], 32);
    assert_eq!(info["height"], 16);
    assert_eq!(info["post_id"], "");
    let file_id = info["id"].as_str().expect("id").to_owned();

    let post: Post = api(&s.mm, &s.alice_token)
        .post(
            "posts",
            None,
            &json!({"channel_id": dm.id, "message": "see", "file_ids": [file_id]}),
        )
        .await
        .expect("post");
    assert_eq!(post.file_ids, vec![file_id.clone()]);
    assert_eq!(post.metadata.files[0].post_id, post.id);

    let download = http()
        .get(url(&s.mm, &format!("files/{file_id}")))
        .bearer_auth(&s.bob_token)
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(
        download.bytes().await.expect("bytes").as_ref(),
        png.as_slice()
    );
    let info: Value = api(&s.mm, &s.bob_token)
        .query("GET", &format!("files/{file_id}/info"), None, None)
        .await
        .expect("info");
    assert_eq!(info["post_id"], post.id.as_str());
    let outsider = http()
        .get(url(&s.mm, &format!("files/{file_id}")))
        .bearer_auth(&s.carol_token)
        .send()
        .await
        .expect("send");
    assert_eq!(outsider.status(), 403);

    let (content_type, big) = multipart(&[
        ("channel_id", None, dm.id.as_bytes()),
        ("files", Some("big.bin"), &[7u8; 2048]),
    ]);
    let response = http()
        .post(url(&s.mm, "files"))
        .bearer_auth(&s.alice_token)
        .header("content-type", content_type)
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status_code"], 413);
    assert_eq!(
        body["id"],
        "api.file.upload_file.too_large_detailed.app_error"
    );
}

#[tokio::test]
async fn statuses_carry_dnd_end_time_in_seconds() {
    let s = seeded().await;
    let alice = api(&s.mm, &s.alice_token);
    let initial: Value = alice
        .query("GET", &format!("users/{}/status", s.bob.id), None, None)
        .await
        .expect("status");
    assert_eq!(initial["status"], "offline");
    assert_eq!(initial["manual"], false);

    let end = chrono::Utc::now().timestamp() + 3600;
    let set: Value = alice
        .query(
            "PUT",
            &format!("users/{}/status", s.alice.id),
            None,
            Some(&json!({"user_id": s.alice.id, "status": "dnd", "dnd_end_time": end}).to_string()),
        )
        .await
        .expect("set");
    assert_eq!(set["status"], "dnd");
    assert_eq!(set["manual"], true);
    assert_eq!(set["dnd_end_time"], end);
    assert!(set["last_activity_at"].as_i64().expect("ms") > 1_000_000_000_000);
    assert_eq!(s.mm.status(&s.alice.id).dnd_end_time, end);

    let others = app_error(
        alice
            .query::<Value>(
                "PUT",
                &format!("users/{}/status", s.bob.id),
                None,
                Some(&json!({"user_id": s.bob.id, "status": "away"}).to_string()),
            )
            .await
            .expect_err("403"),
    );
    assert_eq!(others.status_code, 403);
    let invalid = app_error(
        alice
            .query::<Value>(
                "PUT",
                &format!("users/{}/status", s.alice.id),
                None,
                Some(&json!({"user_id": s.alice.id, "status": "busy"}).to_string()),
            )
            .await
            .expect_err("400"),
    );
    assert_eq!(invalid.status_code, 400);

    s.mm.set_status(&s.bob.id, "away", 0).expect("bob away");
    let bulk: Vec<Value> = alice
        .post("users/status/ids", None, &json!([s.alice.id, s.bob.id]))
        .await
        .expect("bulk");
    let statuses: Vec<&str> = bulk.iter().filter_map(|s| s["status"].as_str()).collect();
    assert_eq!(statuses, ["dnd", "away"]);

    // An expired DND falls back to the status before it.
    s.mm.set_status(&s.bob.id, "dnd", chrono::Utc::now().timestamp() - 1)
        .expect("expired dnd");
    assert_eq!(s.mm.status(&s.bob.id).status, "away");

    let _: Value = alice
        .query(
            "PUT",
            "users/me/status/custom",
            None,
            Some(r#"{"emoji":"calendar","text":"In a meeting","duration":"one_hour","expires_at":"2999-01-01T10:00:00Z"}"#),
        )
        .await
        .expect("custom");
    let me = s.mm.user(&s.alice.id).expect("alice");
    let custom: Value =
        serde_json::from_str(me.props["customStatus"].as_str().expect("string")).expect("json");
    assert_eq!(custom["text"], "In a meeting");
}

#[tokio::test]
async fn others_statuses_need_edit_other_users_and_bulk_answers_every_id() {
    let s = seeded().await;
    let body = |user_id: &str, status: &str| {
        Some(json!({"user_id": user_id, "status": status}).to_string())
    };
    let put_status = |token: &str, user_id: &str, status: &str| {
        let client = api(&s.mm, token);
        let endpoint = format!("users/{user_id}/status");
        let body = body(user_id, status);
        async move {
            client
                .query::<Value>("PUT", &endpoint, None, body.as_deref())
                .await
        }
    };
    // The system admin, and the bot because it is one, set Alice's status for her.
    let set = put_status(&s.admin_token, &s.alice.id, "dnd")
        .await
        .expect("admin");
    assert_eq!(
        (
            set["user_id"].as_str(),
            set["status"].as_str(),
            set["manual"].as_bool()
        ),
        (Some(s.alice.id.as_str()), Some("dnd"), Some(true))
    );
    let set = put_status(&s.bot_token, &s.alice.id, "away")
        .await
        .expect("admin bot");
    assert_eq!(set["status"], "away");
    assert_eq!(s.mm.status(&s.alice.id).status, "away");

    // A plain user, or a bot that is not a system admin, may not.
    let plain_bot = s.mm.create_bot("calendar", "Calendar").expect("bot");
    for token in [&s.bob_token, &plain_bot.token] {
        let refused = app_error(
            put_status(token, &s.alice.id, "online")
                .await
                .expect_err("403"),
        );
        assert_eq!(refused.status_code, 403);
        assert_eq!(refused.id, "api.context.permissions.app_error");
    }
    assert_eq!(s.mm.status(&s.alice.id).status, "away");

    // The body must name the user of the URL.
    let mismatch = app_error(
        api(&s.mm, &s.admin_token)
            .query::<Value>(
                "PUT",
                &format!("users/{}/status", s.alice.id),
                None,
                body(&s.bob.id, "away").as_deref(),
            )
            .await
            .expect_err("400"),
    );
    assert_eq!(mismatch.status_code, 400);

    // Every well-formed id gets a status; unknown ones are offline.
    let unknown = "abcdefghijklmnopqrstuvwxyz";
    let bulk: Vec<Value> = api(&s.mm, &s.bob_token)
        .post("users/status/ids", None, &json!([s.alice.id, unknown]))
        .await
        .expect("bulk");
    assert_eq!(bulk.len(), 2);
    assert_eq!(bulk[0]["status"], "away");
    assert_eq!(bulk[1]["user_id"], unknown);
    assert_eq!(bulk[1]["status"], "offline");
    assert_eq!(bulk[1]["manual"], false);
    let malformed = app_error(
        api(&s.mm, &s.bob_token)
            .post::<_, Vec<Value>>("users/status/ids", None, &json!(["not an id"]))
            .await
            .expect_err("400"),
    );
    assert_eq!(malformed.status_code, 400);
}

#[tokio::test]
async fn custom_statuses_are_checked_and_kept_as_a_json_string_in_props() {
    let s = seeded().await;
    let put_custom = |token: &str, user_id: &str, body: Value| {
        let client = api(&s.mm, token);
        let endpoint = format!("users/{user_id}/status/custom");
        async move {
            client
                .query::<Value>("PUT", &endpoint, None, Some(&body.to_string()))
                .await
        }
    };
    let stored = |user_id: &str| -> String {
        s.mm.user(user_id).expect("user").props["customStatus"]
            .as_str()
            .expect("a string")
            .to_owned()
    };

    // Her own, with an end: Go's shape, field order and time format.
    let ok = put_custom(
        &s.alice_token,
        &s.alice.id,
        json!({"emoji": "calendar", "text": "In a meeting", "expires_at": "2999-01-01T10:30:00.500+02:00"}),
    )
    .await
    .expect("own");
    assert_eq!(ok, json!({"status": "OK"}));
    assert_eq!(
        stored(&s.alice.id),
        r#"{"emoji":"calendar","text":"In a meeting","duration":"date_and_time","expires_at":"2999-01-01T10:30:00.5+02:00"}"#
    );
    let read = s.mm.custom_status(&s.alice.id).expect("read").expect("set");
    assert_eq!(read.duration, "date_and_time");
    assert_eq!(
        read.expires_at.map(|t| t.to_rfc3339()),
        Some("2999-01-01T08:30:00.500+00:00".to_owned())
    );

    // No end: the zero time; no emoji: speech_balloon; long text: cut at 100 characters.
    put_custom(&s.alice_token, "me", json!({"text": "x".repeat(150)}))
        .await
        .expect("no end");
    let value: Value = serde_json::from_str(&stored(&s.alice.id)).expect("json");
    assert_eq!(value["emoji"], "speech_balloon");
    assert_eq!(value["text"].as_str().map(str::len), Some(100));
    assert_eq!(value["duration"], "");
    assert_eq!(value["expires_at"], "0001-01-01T00:00:00Z");
    assert_eq!(
        s.mm.custom_status(&s.alice.id)
            .expect("read")
            .expect("set")
            .expires_at,
        None
    );

    // Refused bodies: nothing to show, a duration without a future end, an end in the past, a
    // time that is not RFC 3339.
    for body in [
        json!({"emoji": "", "text": ""}),
        json!({"emoji": "calendar", "duration": "one_hour"}),
        json!({"emoji": "calendar", "duration": "forever", "expires_at": "2999-01-01T00:00:00Z"}),
        json!({"emoji": "calendar", "expires_at": "2000-01-01T00:00:00Z"}),
        json!({"emoji": "calendar", "expires_at": "tomorrow"}),
    ] {
        let refused = app_error(
            put_custom(&s.alice_token, &s.alice.id, body.clone())
                .await
                .expect_err("400"),
        );
        assert_eq!(refused.status_code, 400, "{body}");
        assert_eq!(refused.id, "api.context.invalid_param.app_error", "{body}");
    }

    // Someone else's: the admin (and the bot, a system admin) may, a plain user may not.
    let bobs = json!({"emoji": "palm_tree", "text": "Out of office"});
    let refused = app_error(
        put_custom(&s.alice_token, &s.bob.id, bobs.clone())
            .await
            .expect_err("403"),
    );
    assert_eq!(refused.status_code, 403);
    put_custom(&s.bot_token, &s.bob.id, bobs.clone())
        .await
        .expect("bot");
    put_custom(&s.admin_token, &s.bob.id, bobs)
        .await
        .expect("admin");
    assert_eq!(
        s.mm.custom_status(&s.bob.id).expect("read").map(|c| c.text),
        Some("Out of office".to_owned())
    );

    // Clearing leaves an empty string, as Mattermost does.
    let refused = app_error(
        api(&s.mm, &s.alice_token)
            .query::<Value>(
                "DELETE",
                &format!("users/{}/status/custom", s.bob.id),
                None,
                None,
            )
            .await
            .expect_err("403"),
    );
    assert_eq!(refused.status_code, 403);
    let cleared: Value = api(&s.mm, &s.bot_token)
        .query(
            "DELETE",
            &format!("users/{}/status/custom", s.bob.id),
            None,
            None,
        )
        .await
        .expect("clear");
    assert_eq!(cleared, json!({"status": "OK"}));
    assert_eq!(stored(&s.bob.id), "");
    assert_eq!(s.mm.custom_status(&s.bob.id).expect("read"), None);

    // An ended one reads as none, although the props still hold it.
    let ended = r#"{"emoji":"calendar","text":"Old","duration":"date_and_time","expires_at":"2001-01-01T00:00:00Z"}"#;
    let _: User = api(&s.mm, &s.admin_token)
        .query(
            "PUT",
            &format!("users/{}/patch", s.bob.id),
            None,
            Some(&json!({"props": {"customStatus": ended}}).to_string()),
        )
        .await
        .expect("patch");
    assert_eq!(stored(&s.bob.id), ended);
    assert_eq!(s.mm.custom_status(&s.bob.id).expect("read"), None);
}

#[tokio::test]
async fn injected_429_has_mattermost_headers_and_counters_count_routes() {
    let s = seeded().await;
    let dm = s.mm.direct_channel(&s.alice.id, &s.bob.id).expect("dm");
    s.mm.inject_fault(
        FaultRule::on_route(
            "POST /api/v4/posts",
            Fault::RateLimited {
                limit: 10,
                reset_seconds: 2,
            },
        )
        .times(1),
    );
    let send = || {
        http()
            .post(url(&s.mm, "posts"))
            .bearer_auth(&s.alice_token)
            .json(&json!({"channel_id": dm.id, "message": "hi"}))
            .send()
    };
    let limited = send().await.expect("send");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["X-Ratelimit-Limit"], "10");
    assert_eq!(limited.headers()["X-Ratelimit-Remaining"], "0");
    assert_eq!(limited.headers()["X-Ratelimit-Reset"], "2");
    assert!(
        limited.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    assert_eq!(
        limited.text().await.expect("text").trim_end(),
        "limit exceeded"
    );
    assert_eq!(send().await.expect("send").status(), 201);
    assert!(s.mm.channel_posts(&dm.id).len() == 1);

    // A lost answer: the post is made, the caller hears 502.
    s.mm.inject_fault(FaultRule::on_route("POST /api/v4/posts", Fault::AnswerLost(502)).times(1));
    assert_eq!(send().await.expect("send").status(), 502);
    assert_eq!(s.mm.channel_posts(&dm.id).len(), 2);

    // A fault that starts after one request got through.
    s.mm.inject_fault(
        FaultRule::on_route("POST /api/v4/posts", Fault::Status(503))
            .after(1)
            .times(1),
    );
    assert_eq!(send().await.expect("send").status(), 201);
    assert_eq!(send().await.expect("send").status(), 503);
    assert_eq!(send().await.expect("send").status(), 201);
    assert_eq!(s.mm.channel_posts(&dm.id).len(), 4);

    s.mm.inject_fault(FaultRule::on_path_prefix("/api/v4/users", Fault::Status(503)).times(1));
    let err = app_error(
        api(&s.mm, &s.alice_token)
            .query::<Value>("GET", &format!("users/{}", s.bob.id), None, None)
            .await
            .expect_err("503"),
    );
    assert_eq!(err.status_code, 503);
    let _: User = api(&s.mm, &s.alice_token)
        .query("GET", &format!("users/{}", s.bob.id), None, None)
        .await
        .expect("fault used up");

    s.mm.inject_fault(FaultRule::on_route(
        "GET /api/v4/users/me",
        Fault::Latency(std::time::Duration::from_millis(200)),
    ));
    let started = std::time::Instant::now();
    let _: User = api(&s.mm, &s.alice_token)
        .query("GET", "users/me", None, None)
        .await
        .expect("slow");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    s.mm.clear_faults();

    assert_eq!(s.mm.request_count("POST /api/v4/posts"), 6);
    assert_eq!(s.mm.request_count("GET /api/v4/users/{user_id}"), 2);
    assert_eq!(s.mm.request_count("GET /api/v4/users/me"), 1);
    s.mm.reset_counters();
    assert!(s.mm.request_counts().is_empty());
}
