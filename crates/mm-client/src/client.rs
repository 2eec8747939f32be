//! An authenticated Mattermost REST client on mattermost_api. Calls the crate has no typed
//! function for go through its raw `query` / `post`, with our own models.

use mattermost_api::prelude::{AuthenticationData, Mattermost};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{MmError, describe, redacted};
use crate::models::{
    Attachment, CommandInfo, CommandSpec, CustomStatus, FileInfo, NewPost, Post, PostProps,
    StatusUpdate, Team, User, UserStatus,
};

/// How many ids one `POST /users/status/ids` carries: large lists go in several requests.
const STATUS_IDS_PER_REQUEST: usize = 200;

/// Mattermost's answer when a trigger is taken in the team.
const DUPLICATE_TRIGGER: &str = "api.command.duplicate_trigger.app_error";

/// A client acting with one token: a bot's access token, or an admin's personal access token
/// for what bots may not do (reading every user's email, registering commands). Cheap to
/// clone; clones share one connection pool. `Debug` never shows the token.
#[derive(Clone)]
pub struct MattermostClient {
    api: Mattermost,
    site: Url,
    /// For what mattermost_api cannot send (multipart uploads), made on first use and shared
    /// by clones.
    http: std::sync::Arc<std::sync::OnceLock<reqwest::Client>>,
    token: SecretString,
}

/// A post with files, as `POST /posts` takes it.
#[derive(Serialize)]
struct PostWithFiles<'a> {
    #[serde(flatten)]
    post: &'a NewPost,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    file_ids: &'a [String],
}

/// A name Mattermost can store and a multipart header can carry: no quotes, backslashes,
/// control characters or directories.
fn upload_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| if c.is_control() || c == '"' { '_' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "file".to_owned()
    } else {
        clean.to_owned()
    }
}

/// A multipart boundary that does not occur in `bytes`.
fn boundary_for(bytes: &[u8]) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let boundary = format!("mm-client-{:016x}{:016x}", hasher.finish(), {
            hasher.write_u8(1);
            hasher.finish()
        });
        if !bytes
            .windows(boundary.len())
            .any(|w| w == boundary.as_bytes())
        {
            return boundary;
        }
    }
}

impl std::fmt::Debug for MattermostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // mattermost_api's own `Debug` prints the token, so it is not delegated to.
        f.debug_struct("MattermostClient")
            .field("site", &redacted(&self.site))
            .finish_non_exhaustive()
    }
}

/// `value` as one URL path segment. Ids, emails and usernames never are empty, `.` or `..`,
/// which would change the path instead of naming something in it.
fn segment(value: &str) -> Result<String, MmError> {
    if matches!(value, "" | "." | "..") {
        return Err(MmError::NotFound);
    }
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'@') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(encoded)
}

/// Whether two command URLs name the same endpoint (`http://h:80/x` is `http://h/x`).
fn same_url(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[derive(Debug, Deserialize)]
struct Channel {
    id: String,
}

#[derive(Debug, Serialize)]
struct EphemeralBody<'a> {
    user_id: &'a str,
    post: EphemeralPost<'a>,
}

#[derive(Debug, Serialize)]
struct EphemeralPost<'a> {
    channel_id: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    props: Option<PostProps>,
}

#[derive(Debug, Serialize)]
struct PostPatch<'a> {
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    props: Option<PostProps>,
}

/// The `model.Command` fields we set; `id` only when updating.
#[derive(Debug, Clone, Copy, Serialize)]
struct CommandBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    team_id: &'a str,
    trigger: &'a str,
    url: &'a str,
    method: &'static str,
    display_name: &'a str,
    description: &'a str,
    auto_complete: bool,
    auto_complete_desc: &'a str,
    auto_complete_hint: &'a str,
    username: &'a str,
    icon_url: &'a str,
}

/// How long one request may take: the underlying client has no timeout of its own, and a hung
/// request must not hold a worker (or a delivery reservation) for ever.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn timed<T>(
    request: impl std::future::Future<Output = Result<T, mattermost_api::errors::ApiError>>,
) -> Result<T, MmError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(MmError::Transport(format!(
            "no answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        ))),
    }
}

impl MattermostClient {
    /// A client for the server at `site_url` (what Mattermost calls the Site URL, with or
    /// without a path prefix such as `https://example.com/chat`). Contacts nothing.
    pub fn new(site_url: &Url, token: &SecretString) -> Result<Self, MmError> {
        let invalid = || MmError::InvalidUrl(redacted(site_url));
        if site_url.query().is_some() || site_url.fragment().is_some() {
            return Err(invalid());
        }
        // mattermost_api adds `/api/v4/` only to a bare host, so the full base is built here.
        let api_base = crate::MattermostApi::new(site_url)
            .map_err(|_| invalid())?
            .endpoint("/");
        let api = Mattermost::new(
            &api_base,
            AuthenticationData::from_access_token(token.expose_secret()),
        )
        .map_err(|_| invalid())?;
        Ok(Self {
            api,
            site: site_url.clone(),
            http: std::sync::Arc::default(),
            token: token.clone(),
        })
    }

    /// The Site URL this client talks to.
    pub fn site_url(&self) -> &Url {
        &self.site
    }

    async fn get<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, MmError> {
        timed(self.api.query("GET", endpoint, None, None)).await
    }

    async fn put<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<T, MmError> {
        let body = serde_json::to_string(body).map_err(|e| MmError::Transport(e.to_string()))?;
        timed(self.api.query("PUT", endpoint, None, Some(&body))).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<T, MmError> {
        timed(self.api.post(endpoint, None, body)).await
    }

    async fn delete<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, MmError> {
        timed(self.api.query("DELETE", endpoint, None, None)).await
    }

    /// The account the token belongs to.
    pub async fn me(&self) -> Result<User, MmError> {
        self.get("users/me").await
    }

    /// A user by id; [`MmError::NotFound`] if there is none.
    pub async fn user(&self, user_id: &str) -> Result<User, MmError> {
        self.get(&format!("users/{}", segment(user_id)?)).await
    }

    /// A user by email; [`MmError::NotFound`] if there is none (or, on servers that hide
    /// emails, if the token may not see it).
    pub async fn user_by_email(&self, email: &str) -> Result<User, MmError> {
        self.get(&format!("users/email/{}", segment(email)?)).await
    }

    /// A user by username (without `@`); [`MmError::NotFound`] if there is none.
    pub async fn user_by_username(&self, username: &str) -> Result<User, MmError> {
        self.get(&format!("users/username/{}", segment(username)?))
            .await
    }

    /// A user's status (`GET /users/{user_id}/status`). Any token may read anyone's.
    pub async fn status(&self, user_id: &str) -> Result<UserStatus, MmError> {
        self.get(&format!("users/{}/status", segment(user_id)?))
            .await
    }

    /// The statuses of many users (`POST /users/status/ids`, at most 200 ids a request): one per
    /// distinct id, in no particular order, so match them by [`UserStatus::user_id`]. Users who
    /// never had a status (and unknown ids) come back `offline`. Mattermost refuses a request
    /// holding a malformed id (400), so pass real user ids. No ids make no request.
    pub async fn statuses(&self, user_ids: &[String]) -> Result<Vec<UserStatus>, MmError> {
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<&str> = user_ids
            .iter()
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect();
        let mut statuses = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(STATUS_IDS_PER_REQUEST) {
            let part: Vec<UserStatus> = self.post("users/status/ids", &chunk).await?;
            statuses.extend(part);
        }
        Ok(statuses)
    }

    /// Sets a user's status by hand (`PUT /users/{user_id}/status`): `online`, `away`, `dnd` or
    /// `offline`. Anything but `online` is `manual` and stays until set again; `online` hands it
    /// back to activity. `dnd_end_time` (epoch **seconds**) ends a `dnd` on its own, back to the
    /// status before it. Returns the new status.
    ///
    /// Pass the user's id, not `me`. Setting someone else's status needs `edit_other_users`: a
    /// system admin token, so a bot that sets users' statuses must be a system admin, else
    /// [`MmError::Forbidden`]. An unknown status is [`MmError::Api`] with status 400.
    pub async fn set_status(
        &self,
        user_id: &str,
        status: &str,
        dnd_end_time: Option<i64>,
    ) -> Result<UserStatus, MmError> {
        self.put(
            &format!("users/{}/status", segment(user_id)?),
            &StatusUpdate {
                user_id,
                status,
                dnd_end_time,
            },
        )
        .await
    }

    /// A user's custom status, read from the user's `props.customStatus` (`GET /users/{id}`):
    /// `None` when there is none, it was cleared, or its `expires_at` has passed (Mattermost
    /// leaves an ended status in the props; its clients stop showing it).
    pub async fn custom_status(&self, user_id: &str) -> Result<Option<CustomStatus>, MmError> {
        #[derive(Deserialize)]
        struct UserProps {
            #[serde(default)]
            props: Option<serde_json::Map<String, serde_json::Value>>,
        }
        let user: UserProps = self.get(&format!("users/{}", segment(user_id)?)).await?;
        let now = chrono::Utc::now();
        Ok(user
            .props
            .as_ref()
            .and_then(CustomStatus::from_props)
            .filter(|status| !status.is_expired_at(now)))
    }

    /// Sets a user's custom status (`PUT /users/{user_id}/status/custom`). Mattermost refuses
    /// (400, [`MmError::Api`]) one with neither emoji nor text, or with a `duration` or
    /// `expires_at` whose end has passed. Someone else's needs `edit_other_users` (a system
    /// admin token, so the bot must be a system admin), else [`MmError::Forbidden`].
    pub async fn set_custom_status(
        &self,
        user_id: &str,
        status: &CustomStatus,
    ) -> Result<(), MmError> {
        let _: serde::de::IgnoredAny = self
            .put(
                &format!("users/{}/status/custom", segment(user_id)?),
                status,
            )
            .await?;
        Ok(())
    }

    /// Clears a user's custom status (`DELETE /users/{user_id}/status/custom`); clearing none is
    /// fine. Same permission as [`set_custom_status`](Self::set_custom_status).
    pub async fn clear_custom_status(&self, user_id: &str) -> Result<(), MmError> {
        let _: serde::de::IgnoredAny = self
            .delete(&format!("users/{}/status/custom", segment(user_id)?))
            .await?;
        Ok(())
    }

    /// The direct channel of two users, created if needed; returns its id. The token's
    /// account must be one of the two unless it is a system admin.
    pub async fn direct_channel(&self, user_a: &str, user_b: &str) -> Result<String, MmError> {
        let channel: Channel = self.post("channels/direct", &[user_a, user_b]).await?;
        Ok(channel.id)
    }

    /// Posts as the token's account.
    pub async fn create_post(&self, post: &NewPost) -> Result<Post, MmError> {
        self.post("posts", post).await
    }

    /// Posts as the token's account with files attached: `file_ids` from
    /// [`upload_file`](Self::upload_file) to the same channel (Mattermost drops ids that are not
    /// the poster's unattached uploads there). No ids posts as [`create_post`](Self::create_post).
    pub async fn create_post_with_files(
        &self,
        post: &NewPost,
        file_ids: &[String],
    ) -> Result<Post, MmError> {
        self.post("posts", &PostWithFiles { post, file_ids }).await
    }

    /// Uploads a file to a channel (`POST /api/v4/files`, multipart), to attach to a post there
    /// with [`create_post_with_files`](Self::create_post_with_files). A file over the server's
    /// maximum size is refused with 413 ([`MmError::is_too_large`]). The name loses any
    /// directory and characters a header cannot carry.
    pub async fn upload_file(
        &self,
        channel_id: &str,
        name: &str,
        mut bytes: Vec<u8>,
    ) -> Result<FileInfo, MmError> {
        #[derive(Deserialize)]
        struct Uploaded {
            #[serde(default)]
            file_infos: Vec<FileInfo>,
        }
        #[derive(Deserialize, Default)]
        struct ErrorBody {
            #[serde(default)]
            id: String,
            #[serde(default)]
            message: String,
        }
        // Ids are alphanumeric; anything else would end up in the multipart headers.
        if channel_id.is_empty() || !channel_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(MmError::NotFound);
        }
        let http = match self.http.get() {
            Some(http) => http.clone(),
            None => {
                let built = reqwest::Client::builder()
                    .timeout(REQUEST_TIMEOUT)
                    .build()
                    .map_err(|e| MmError::Transport(describe(&e.without_url())))?;
                self.http.get_or_init(|| built).clone()
            }
        };
        let url = crate::MattermostApi::new(&self.site)
            .map_err(|_| MmError::InvalidUrl(redacted(&self.site)))?
            .endpoint("files");
        // The body is built around the bytes in place: one buffer, however large the file.
        let boundary = boundary_for(&bytes);
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"channel_id\"\r\n\r\n{channel_id}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            upload_name(name)
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        bytes.reserve_exact(head.len() + tail.len());
        bytes.splice(0..0, head.into_bytes());
        bytes.extend_from_slice(tail.as_bytes());
        let response = http
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(bytes)
            .send()
            .await
            .map_err(|e| MmError::Transport(describe(&e.without_url())))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| MmError::Transport(describe(&e.without_url())))?;
        if !(200..300).contains(&status) {
            let error: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            return Err(MmError::from_status(status, error.id, error.message));
        }
        let uploaded: Uploaded = serde_json::from_slice(&body)
            .map_err(|e| MmError::Transport(format!("unreadable upload answer: {e}")))?;
        uploaded
            .file_infos
            .into_iter()
            .next()
            .ok_or_else(|| MmError::Transport("the upload answer names no file".into()))
    }

    /// A direct message from the token's account (`from_user_id`, usually the bot) to
    /// `to_user_id`: opens the direct channel, then posts there.
    pub async fn dm(
        &self,
        from_user_id: &str,
        to_user_id: &str,
        message: &str,
        props: Option<PostProps>,
    ) -> Result<Post, MmError> {
        let channel_id = self.direct_channel(from_user_id, to_user_id).await?;
        self.create_post(&NewPost {
            channel_id,
            message: message.to_owned(),
            root_id: None,
            props,
        })
        .await
    }

    /// A post only `user_id` sees, in `channel_id`, until they reload. Needs a system admin
    /// token (`create_post_ephemeral`).
    pub async fn ephemeral(
        &self,
        user_id: &str,
        channel_id: &str,
        message: &str,
        attachments: Vec<Attachment>,
    ) -> Result<Post, MmError> {
        let props = (!attachments.is_empty()).then_some(PostProps {
            attachments,
            ..PostProps::default()
        });
        let body = EphemeralBody {
            user_id,
            post: EphemeralPost {
                channel_id,
                message,
                props,
            },
        };
        self.post("posts/ephemeral", &body).await
    }

    /// The posts of a channel created or changed after `since_ms` (milliseconds since the epoch),
    /// oldest first. Deleted posts are included, as Mattermost sends them.
    pub async fn channel_posts_since(
        &self,
        channel_id: &str,
        since_ms: i64,
    ) -> Result<Vec<Post>, MmError> {
        #[derive(serde::Deserialize)]
        struct PostList {
            #[serde(default)]
            posts: std::collections::HashMap<String, Post>,
        }
        let endpoint = format!("channels/{}/posts", segment(channel_id)?);
        let since = since_ms.to_string();
        let list: PostList =
            timed(
                self.api
                    .query("GET", &endpoint, Some(&[("since", since.as_str())]), None),
            )
            .await?;
        let mut posts: Vec<Post> = list.posts.into_values().collect();
        posts.sort_by_key(|p| (p.create_at, p.id.clone()));
        Ok(posts)
    }

    pub async fn get_post(&self, post_id: &str) -> Result<Post, MmError> {
        self.get(&format!("posts/{}", segment(post_id)?)).await
    }

    /// Rewrites a post's message and, when `props` is given, replaces its props (so
    /// `Some(PostProps::default())` removes its buttons). Author or admin only.
    pub async fn update_post(
        &self,
        post_id: &str,
        message: &str,
        props: Option<PostProps>,
    ) -> Result<Post, MmError> {
        self.put(
            &format!("posts/{}/patch", segment(post_id)?),
            &PostPatch { message, props },
        )
        .await
    }

    /// The teams the token's account can see: every team for a system admin, the open ones
    /// otherwise.
    pub async fn teams(&self) -> Result<Vec<Team>, MmError> {
        self.get("teams").await
    }

    /// The custom slash commands of a team, with their tokens. Needs `manage_slash_commands`
    /// (a system admin token), else [`MmError::Forbidden`].
    pub async fn commands(&self, team_id: &str) -> Result<Vec<CommandInfo>, MmError> {
        timed(self.api.query(
            "GET",
            "commands",
            Some(&[("team_id", team_id), ("custom_only", "true")]),
            None,
        ))
        .await
    }

    /// Registers `spec` in the team, or brings the command registered before up to date (same
    /// trigger, same URL), keeping its token. Safe to run at every start, and from several
    /// replicas at once: they all end up with the one command.
    ///
    /// A command with the same trigger that calls another URL belongs to another integration:
    /// [`MmError::CommandConflict`], and nothing changes. The returned
    /// [`token`](CommandInfo::token) is what Mattermost sends with each invocation. Needs
    /// `manage_slash_commands` (a system admin token).
    pub async fn ensure_command(
        &self,
        team_id: &str,
        spec: &CommandSpec,
    ) -> Result<CommandInfo, MmError> {
        let trigger = spec.trigger.trim().trim_start_matches('/').to_lowercase();
        let create = CommandBody {
            id: None,
            team_id,
            trigger: &trigger,
            url: &spec.url,
            method: "P",
            display_name: &spec.display_name,
            description: &spec.description,
            auto_complete: true,
            auto_complete_desc: &spec.auto_complete_desc,
            auto_complete_hint: &spec.auto_complete_hint,
            username: &spec.username,
            icon_url: &spec.icon_url,
        };
        // Twice at most: if another replica creates the command between our look and our
        // create, the second look finds it.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let existing = self
                .commands(team_id)
                .await?
                .into_iter()
                .find(|c| c.trigger.eq_ignore_ascii_case(&trigger));
            match existing {
                Some(command) if same_url(&command.url, &spec.url) => {
                    let mut updated: CommandInfo = self
                        .put(
                            &format!("commands/{}", segment(&command.id)?),
                            &CommandBody {
                                id: Some(&command.id),
                                ..create
                            },
                        )
                        .await?;
                    if updated.token.expose_secret().is_empty() {
                        updated.token = command.token;
                    }
                    tracing::debug!(team_id, trigger, "slash command brought up to date");
                    return Ok(updated);
                }
                Some(command) => {
                    tracing::warn!(
                        team_id,
                        trigger,
                        url = %command.url,
                        "slash command trigger taken by another integration"
                    );
                    return Err(MmError::CommandConflict {
                        trigger,
                        url: command.url,
                    });
                }
                None => match self.post::<CommandInfo>("commands", &create).await {
                    Ok(created) => {
                        tracing::info!(team_id, trigger, "slash command registered");
                        return Ok(created);
                    }
                    Err(MmError::Api { ref id, .. }) if id == DUPLICATE_TRIGGER && attempts < 2 => {
                        continue;
                    }
                    Err(err) => return Err(err),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = SecretString::from("tok-3n2v8s9c1x7q4z5b6m0k");
        let site = Url::parse("https://bot:pass@chat.example.com/mm").expect("url");
        let client = MattermostClient::new(&site, &token).expect("client");
        let shown = format!("{client:?}");
        assert!(!shown.contains("tok-3n2v8s9c1x7q4z5b6m0k"), "{shown}");
        assert!(!shown.contains("pass"), "{shown}");
        assert!(shown.contains("chat.example.com/mm"), "{shown}");
    }

    #[test]
    fn site_urls_must_be_plain_http() {
        let token = SecretString::from("t");
        for bad in [
            "mailto:a@b",
            "https://x.example/?q=1",
            "https://x.example/#f",
        ] {
            let url = Url::parse(bad).expect("url");
            assert!(
                matches!(
                    MattermostClient::new(&url, &token),
                    Err(MmError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn upload_names_and_boundaries_are_safe() {
        assert_eq!(upload_name("../../etc/pa\"ss\nwd"), "pa_ss_wd");
        assert_eq!(upload_name("C:\\Users\\x\\plan.docx"), "plan.docx");
        assert_eq!(upload_name("  "), "file");
        assert_eq!(upload_name(".."), "file");
        assert_eq!(upload_name("Grüße.txt"), "Grüße.txt");
        let a = boundary_for(b"data");
        assert_ne!(a, boundary_for(b"data"));
        assert!(a.starts_with("mm-client-") && a.len() == 42, "{a}");
    }

    #[test]
    fn posts_with_files_carry_their_ids_only_when_there_are_some() {
        let post = NewPost::new("c", "hi");
        let with = serde_json::to_value(PostWithFiles {
            post: &post,
            file_ids: &["f1".to_owned()],
        })
        .expect("json");
        assert_eq!(with["file_ids"], serde_json::json!(["f1"]));
        assert_eq!(with["channel_id"], "c");
        let without = serde_json::to_value(PostWithFiles {
            post: &post,
            file_ids: &[],
        })
        .expect("json");
        assert!(without.get("file_ids").is_none(), "{without}");
    }

    #[test]
    fn path_segments_are_encoded_and_never_climb() {
        assert_eq!(
            segment("alice+tag@example.com").expect("email"),
            "alice%2Btag@example.com"
        );
        assert_eq!(segment("a/b?c#d").expect("odd"), "a%2Fb%3Fc%23d");
        for bad in ["", ".", ".."] {
            assert_eq!(segment(bad), Err(MmError::NotFound));
        }
        assert!(same_url("http://h:80/x", "http://h/x"));
        assert!(!same_url("http://h/x", "http://h/y"));
    }
}
