//! The workers: claim inbox items by lease, fetch what each message needs, decide with the
//! `bridge-core` rules, read the recipients' presence in one batch for every message in flight,
//! and send the DMs through the delivery ledger, so each (message, recipient) pair is notified at
//! most once across redeliveries, restarts and replicas.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bridge_core::notify::html::{self, Mention, MentionNames};
use bridge_core::notify::message::{self, MAX_FILES, Notification};
use bridge_core::notify::model::{
    ChatKind, ChatMember, LinkedMember, MessageFacts, Presence, Sender,
};
use bridge_core::notify::policy::{self, SkipReason};
use chrono::TimeDelta;
use mm_client::{NewPost, PostProps};
use store::{InboxItem, Reservation};
use teams_graph::notifications::{ChangeNotification, LifecycleEvent};
use teams_graph::{ChatMessage, Downloaded, GraphClient, GraphError, MessageSender};

use super::webhook::{KIND_LIFECYCLE, KIND_MESSAGE};
use super::{ChatInfo, NotifyPipeline};
use crate::graph::{APP_CREDENTIALS_RETRY, CallError};
use crate::linking::ports::NOTIFICATIONS;

/// The post prop that names the Teams message a DM is about (`teams:<chat>:<message>`).
const POST_KEY: &str = "ms_teams_message";

/// How long a worker lets new items gather before claiming, when the queue is not full.
const BATCH_WINDOW: Duration = Duration::from_millis(20);

/// How many of a batch's messages are delivered at once: each DM is a few store statements and a
/// Mattermost post, mostly waiting, so one at a time leaves the machine idle.
const DELIVERY_CONCURRENCY: usize = 16;

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub delivered: usize,
    /// Messages or recipients given no DM, by reason.
    pub skipped: usize,
    pub retried: usize,
    pub dead: usize,
}

impl BatchReport {
    fn add(&mut self, other: &BatchReport) {
        self.claimed += other.claimed;
        self.delivered += other.delivered;
        self.skipped += other.skipped;
        self.retried += other.retried;
        self.dead += other.dead;
    }
}

/// Largest file copied into a DM. Mattermost's own default maximum is 100 MB (`MaxFileSize`);
/// half of it keeps a worker's memory bounded (one file at a time, held while it is uploaded)
/// and a DM from waiting on huge transfers. A server set lower answers 413, and the file is
/// named in the DM instead.
const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;

/// No new file transfer starts this long after a DM's first one: the others are named instead.
const FILES_BUDGET: Duration = Duration::from_secs(120);

/// Longest one file may take, download (with one retry) and upload together.
const FILE_TRANSFER_TIMEOUT: Duration = Duration::from_secs(90);

/// The longest `Retry-After` a file download waits out in place (within
/// [`FILE_TRANSFER_TIMEOUT`]); Graph asking for more ends the delivery attempt, and the item is
/// retried when Graph said.
const MAX_FILE_THROTTLE_WAIT: Duration = Duration::from_secs(30);

/// A message ready for delivery: the DM's text and who may get it.
struct Ready {
    item: InboxItem,
    key: String,
    /// Boxed: it is large, and most `Prepared` are not `Ready`.
    text: Box<DmDraft>,
    recipients: Vec<LinkedMember>,
}

/// A file of the message to copy into the DM.
#[derive(Debug, Clone)]
enum FileSource {
    /// A pasted image: the n-th (from 1) hosted content of the body.
    Image { n: usize, hosted_id: String },
    /// A shared file (`reference` attachment) with its SharePoint URL.
    Shared { name: String, content_url: String },
    /// A file attachment that names nothing to download.
    Unavailable { name: String },
}

impl FileSource {
    /// How the DM's note names it when it cannot be attached.
    fn label(&self) -> String {
        match self {
            Self::Image { n, .. } => format!("image-{n}"),
            Self::Shared { name, .. } | Self::Unavailable { name } => name.clone(),
        }
    }
}

/// The DM of a message, composed once its files are known (they are copied for each
/// recipient, into that recipient's DM channel).
struct DmDraft {
    sender_name: String,
    chat_kind: ChatKind,
    topic: Option<String>,
    member_count: usize,
    body_markdown: String,
    attachment_texts: Vec<String>,
    chat_id: String,
    message_id: String,
    web_url: Option<String>,
    /// At most [`MAX_FILES`], pasted images first.
    files: Vec<FileSource>,
    /// Files the message had beyond [`MAX_FILES`].
    files_over_limit: usize,
}

impl DmDraft {
    /// The text, naming the files that could not be attached.
    fn text(&self, files_left_out: &[String]) -> String {
        message::compose(&Notification {
            sender_name: &self.sender_name,
            chat_kind: self.chat_kind,
            topic: self.topic.as_deref(),
            member_count: self.member_count,
            body_markdown: &self.body_markdown,
            attachment_texts: &self.attachment_texts,
            files_left_out,
            files_over_limit: self.files_over_limit,
            chat_id: &self.chat_id,
            message_id: &self.message_id,
            web_url: self.web_url.as_deref(),
        })
    }

    /// How much longer than a plain post sending this DM may take.
    fn file_time(&self) -> TimeDelta {
        if self
            .files
            .iter()
            .all(|f| matches!(f, FileSource::Unavailable { .. }))
        {
            return TimeDelta::zero();
        }
        TimeDelta::from_std(FILES_BUDGET + FILE_TRANSFER_TIMEOUT).unwrap_or(TimeDelta::minutes(4))
    }
}

/// The extension for an image's content type (`image/png` is `png`).
fn image_extension(content_type: Option<&str>) -> &'static str {
    let media = content_type
        .and_then(|t| t.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let subtype = media.strip_prefix("image/").unwrap_or_default();
    match subtype {
        "png" => "png",
        "jpeg" | "jpg" | "pjpeg" => "jpg",
        "gif" => "gif",
        "webp" => "webp",
        "bmp" => "bmp",
        "svg+xml" => "svg",
        "heic" => "heic",
        "tiff" => "tiff",
        _ => "bin",
    }
}

enum Prepared {
    /// Finished without a DM (counted under the reason).
    Skipped(InboxItem, &'static str),
    Ready(Ready),
    /// Try again later.
    Retry(InboxItem, CallError),
    /// Will never work: kept as a dead letter.
    Dead(InboxItem, String),
}

/// Mentions shown as @username for linked users.
struct Usernames(HashMap<String, String>);

impl MentionNames for Usernames {
    fn mattermost_username(&self, microsoft_user_id: &str) -> Option<String> {
        self.0.get(microsoft_user_id).cloned()
    }
}

/// The Adaptive Card text a bot or connector put in an attachment.
fn card_text(content: &str) -> Option<String> {
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(text)) = map.get("text") {
                    out.push(text.clone());
                }
                for (key, v) in map {
                    if key != "text" {
                        walk(v, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let value: serde_json::Value = serde_json::from_str(content).ok()?;
    let mut texts = Vec::new();
    walk(&value, &mut texts);
    let text = texts.join("\n");
    (!text.trim().is_empty()).then(|| html::text_to_markdown(&text))
}

impl NotifyPipeline {
    /// Runs worker `n` until the process stops.
    pub(crate) async fn run_worker(&self, n: usize) {
        let name = format!("{}-w{n}", self.instance);
        let full = usize::try_from(self.settings.batch_size).unwrap_or(usize::MAX);
        loop {
            match self.process_batch(&name).await {
                Ok(report) if report.claimed == 0 => {
                    // Nothing to do: sleep until the webhook stores something, or a second
                    // passes (retries come due, another replica's lease lapses).
                    let woken =
                        tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                    if woken.is_ok() {
                        // Let a few more arrive, so one presence read serves several messages
                        // (Graph cost at moderate load) for a few milliseconds of latency.
                        tokio::time::sleep(BATCH_WINDOW).await;
                    }
                }
                Ok(report) if report.claimed < full => {
                    // A partial batch: the queue is drained; the same short wait before the next.
                    tokio::time::sleep(BATCH_WINDOW).await;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "notification worker could not reach the store; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Claims and handles one batch. Public for tests and benchmarks that drive the pipeline.
    pub async fn process_batch(&self, worker: &str) -> Result<BatchReport, store::StoreError> {
        let now = self.clock.now();
        let items = self
            .store
            .claim_inbox(
                worker,
                self.settings.batch_size,
                now + self.settings.claim_lease,
                now,
            )
            .await?;
        let mut report = BatchReport {
            claimed: items.len(),
            ..BatchReport::default()
        };
        if items.is_empty() {
            return Ok(report);
        }
        let prepared =
            futures_util::future::join_all(items.into_iter().map(|item| self.prepare(item))).await;
        let mut ready = Vec::new();
        for p in prepared {
            match p {
                Prepared::Ready(r) => ready.push(r),
                Prepared::Skipped(item, reason) => {
                    self.metrics.discarded(reason);
                    report.skipped += 1;
                    self.finish(&item).await?;
                }
                Prepared::Retry(item, err) => {
                    report.retried += 1;
                    self.retry(&item, &err, &mut report).await?;
                }
                Prepared::Dead(item, why) => {
                    report.dead += 1;
                    tracing::error!(item = item.claim.id, error = %why, "notification dead-lettered");
                    match self
                        .store
                        .dead_letter_inbox(&item.claim, &why, self.clock.now())
                        .await
                    {
                        Err(store::StoreError::LeaseLost { .. }) => {}
                        other => other?,
                    }
                }
            }
        }
        if ready.is_empty() {
            return Ok(report);
        }
        // One presence read for every recipient of every message in this batch.
        let ids: Vec<String> = ready
            .iter()
            .flat_map(|r| r.recipients.iter().map(|m| m.microsoft_user_id.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let presences = match self.presences(&ids).await {
            Ok(p) => p,
            Err(err) => {
                if err == CallError::Unauthorized {
                    self.graph.drop_token().await;
                }
                for r in ready {
                    report.retried += 1;
                    self.retry(&r.item, &err, &mut report).await?;
                }
                return Ok(report);
            }
        };
        use futures_util::StreamExt as _;
        let delivered: Vec<Result<BatchReport, store::StoreError>> =
            futures_util::stream::iter(ready.into_iter().map(|r| self.deliver(r, &presences)))
                .buffer_unordered(DELIVERY_CONCURRENCY)
                .collect()
                .await;
        for outcome in delivered {
            report.add(&outcome?);
        }
        Ok(report)
    }

    async fn finish(&self, item: &InboxItem) -> Result<(), store::StoreError> {
        match self
            .store
            .complete_inbox(&item.claim, self.clock.now())
            .await
        {
            // Another worker took the item over after our lease lapsed; it finishes it.
            Err(store::StoreError::LeaseLost { .. }) => Ok(()),
            other => other,
        }
    }

    async fn retry(
        &self,
        item: &InboxItem,
        err: &CallError,
        report: &mut BatchReport,
    ) -> Result<(), store::StoreError> {
        let now = self.clock.now();
        // Throttling, a held reservation and refused app credentials say "later", not "never"
        // about the item: they do not use up its attempts (the inbox counts failures apart from
        // claims), and the item is postponed rather than retried.
        let later = err.postpones();
        if !later && item.failures + 1 >= self.settings.max_attempts {
            report.dead += 1;
            tracing::error!(item = item.claim.id, error = %err, "notification failed too often; dead-lettered");
            return match self
                .store
                .dead_letter_inbox(&item.claim, &err.to_string(), now)
                .await
            {
                Err(store::StoreError::LeaseLost { .. }) => Ok(()),
                other => other,
            };
        }
        let wait = match err {
            CallError::Throttled(Some(after)) => *after,
            // Just after the holder's reservation lapses (or sooner, if it finishes, the
            // ledger then says delivered): not the doubling backoff, which overshoots it.
            CallError::Held(left) => (*left + Duration::from_secs(1)).min(Duration::from_secs(600)),
            // The admin has to act; the error was logged where the token was refused.
            CallError::AppCredentials(_) => APP_CREDENTIALS_RETRY,
            _ => backoff(item.failures + 1),
        };
        self.metrics.delivery_failed();
        tracing::debug!(item = item.claim.id, error = %err, ?wait, "notification will be retried");
        let at = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::minutes(1));
        let given_back = if later {
            self.store
                .postpone_inbox(&item.claim, &err.to_string(), at)
                .await
        } else {
            self.store
                .retry_inbox(&item.claim, &err.to_string(), at)
                .await
        };
        match given_back {
            Err(store::StoreError::LeaseLost { .. }) => Ok(()),
            other => other,
        }
    }

    async fn prepare(&self, item: InboxItem) -> Prepared {
        let notification = match ChangeNotification::from_stored(&item.payload) {
            Ok(n) => n,
            Err(err) => {
                return Prepared::Dead(item, format!("stored notification unreadable: {err}"));
            }
        };
        if item.kind == KIND_LIFECYCLE {
            return match self.lifecycle(&notification).await {
                Ok(()) => Prepared::Skipped(item, "lifecycle"),
                Err(err) => Prepared::Retry(item, err),
            };
        }
        if item.kind != KIND_MESSAGE {
            let why = format!("unknown inbox kind {:?}", item.kind);
            return Prepared::Dead(item, why);
        }
        let Some((chat_id, message_id)) = notification.chat_message_ids() else {
            return Prepared::Skipped(item, SkipReason::ChannelPost.label());
        };
        match self.prepare_message(&chat_id, &message_id).await {
            Ok(Ok((text, recipients))) => Prepared::Ready(Ready {
                key: format!("teams:{chat_id}:{message_id}"),
                item,
                text,
                recipients,
            }),
            Ok(Err(reason)) => Prepared::Skipped(item, reason),
            Err(CallError::NotFound) => Prepared::Skipped(item, SkipReason::Deleted.label()),
            Err(CallError::Unauthorized) => {
                self.graph.drop_token().await;
                Prepared::Retry(item, CallError::Unauthorized)
            }
            Err(CallError::Permanent(why)) => Prepared::Dead(item, why),
            Err(err) => Prepared::Retry(item, err),
        }
    }

    /// The DM text and the recipients who want it, or why there is none.
    async fn prepare_message(
        &self,
        chat_id: &str,
        message_id: &str,
    ) -> Result<Result<(Box<DmDraft>, Vec<LinkedMember>), &'static str>, CallError> {
        // The chat (cached) first: most chats of a tenant have nobody who wants notifications,
        // and then the message is not worth a Graph request.
        let chat = self.chat(chat_id).await?;
        let linked = self.linked_members(&chat.members).await?;
        if !linked.iter().any(|m| m.notifications_on) {
            return Ok(Err(if linked.is_empty() {
                SkipReason::NoLinkedRecipient.label()
            } else {
                SkipReason::NotificationsOff.label()
            }));
        }
        let graph = self.graph.client().await?;
        self.graph.permit().await;
        let message = graph.chat_message(chat_id, message_id).await?;
        let sender = sender_of(&message);
        let facts = MessageFacts {
            message_type: message.message_type.clone(),
            sender: sender.clone(),
            in_channel: message.channel_identity.is_some(),
            deleted: message.deleted_date_time.is_some(),
            is_reply: message.reply_to_id.is_some(),
        };
        if let Some(reason) = policy::message_skip(&facts) {
            return Ok(Err(reason.label()));
        }
        let Sender::User {
            microsoft_user_id: sender_id,
            display_name: sender_name,
        } = sender
        else {
            return Ok(Err(SkipReason::SystemEvent.label()));
        };
        let (due, off) = policy::recipients(&sender_id, &linked, message.created_date_time);
        for (_, reason) in &off {
            self.metrics.discarded(reason.label());
        }
        if due.is_empty() {
            return Ok(Err(off
                .first()
                .map_or(SkipReason::NoLinkedRecipient, |(_, reason)| *reason)
                .label()));
        }
        let due: Vec<LinkedMember> = due.into_iter().cloned().collect();
        // Usernames are only needed to show mentions.
        let names = if message.mentions.is_empty() {
            Usernames(HashMap::new())
        } else {
            self.usernames(&linked).await
        };
        let text = self.compose(&message, &sender_name, &chat, chat_id, &names);
        Ok(Ok((text, due)))
    }

    fn compose(
        &self,
        message: &ChatMessage,
        sender_name: &str,
        chat: &ChatInfo,
        chat_id: &str,
        names: &Usernames,
    ) -> Box<DmDraft> {
        let mentions: Vec<Mention> = message
            .mentions
            .iter()
            .map(|m| Mention {
                id: m.id,
                microsoft_user_id: m.user_id.clone(),
                display_name: m
                    .display_name
                    .clone()
                    .unwrap_or_else(|| m.mention_text.clone()),
            })
            .collect();
        let body = if message.body.content_type.eq_ignore_ascii_case("html") {
            html::to_markdown(&message.body.content, &mentions, names)
        } else {
            html::text_to_markdown(&message.body.content)
        };
        let mut attachment_texts = Vec::new();
        // Pasted images first, as the body shows them, then the shared files.
        let mut files: Vec<FileSource> = if message.body.content_type.eq_ignore_ascii_case("html") {
            teams_graph::hosted_content_ids(&message.body.content)
                .into_iter()
                .enumerate()
                .map(|(i, hosted_id)| FileSource::Image {
                    n: i + 1,
                    hosted_id,
                })
                .collect()
        } else {
            Vec::new()
        };
        for attachment in &message.attachments {
            match attachment.content_type.as_str() {
                "reference" | "file" => {
                    let name = attachment
                        .name
                        .clone()
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| "file".to_owned());
                    files.push(match attachment.content_url.clone() {
                        Some(content_url) if !content_url.trim().is_empty() => {
                            FileSource::Shared { name, content_url }
                        }
                        _ => FileSource::Unavailable { name },
                    });
                }
                "messageReference" => {}
                t if t.starts_with("application/vnd.microsoft.card") => {
                    if let Some(text) = attachment.content.as_deref().and_then(card_text) {
                        attachment_texts.push(text);
                    }
                }
                _ => {}
            }
        }
        let over = files.len().saturating_sub(MAX_FILES);
        files.truncate(MAX_FILES);
        Box::new(DmDraft {
            sender_name: sender_name.to_owned(),
            chat_kind: chat.kind,
            topic: chat.topic.clone(),
            member_count: chat.members.len(),
            body_markdown: body,
            attachment_texts,
            chat_id: chat_id.to_owned(),
            message_id: message.id.clone(),
            web_url: message.web_url.clone(),
            files,
            files_over_limit: over,
        })
    }

    async fn chat(&self, chat_id: &str) -> Result<Arc<ChatInfo>, CallError> {
        let entry = self.chat_entry(chat_id);
        entry
            .info
            .get_or_try_init(|| self.fetch_chat(chat_id))
            .await
            .cloned()
    }

    async fn fetch_chat(&self, chat_id: &str) -> Result<Arc<ChatInfo>, CallError> {
        let graph = self.graph.client().await?;
        self.graph.permit().await;
        let chat = graph.chat_with_members(chat_id).await?;
        let info = Arc::new(ChatInfo {
            kind: ChatKind::from_graph(&chat.chat_type),
            topic: chat.topic.filter(|t| !t.trim().is_empty()),
            members: chat
                .members
                .into_iter()
                .filter_map(|m| {
                    Some(ChatMember {
                        microsoft_user_id: m.user_id?,
                        display_name: m.display_name,
                    })
                })
                .collect(),
        });
        Ok(info)
    }

    /// The chat members who linked a Mattermost account, with their notification setting: one
    /// store query per message, however large the chat.
    async fn linked_members(&self, members: &[ChatMember]) -> Result<Vec<LinkedMember>, CallError> {
        let ids: Vec<String> = members
            .iter()
            .map(|m| m.microsoft_user_id.clone())
            .collect();
        let found = self
            .store
            .connected_links_with_preference(&ids, NOTIFICATIONS)
            .await
            .map_err(|e| CallError::Transient(format!("store: {e}")))?;
        Ok(found
            .into_iter()
            .map(|(link, setting)| LinkedMember {
                microsoft_user_id: link.teams_user_id,
                mm_user_id: link.mm_user_id,
                notifications_on: setting.as_deref() == Some("on"),
                connected_at: Some(link.connected_at),
            })
            .collect())
    }

    /// Mattermost usernames of the linked members, for mentions; one a user cannot be looked up
    /// is shown by display name.
    async fn usernames(&self, linked: &[LinkedMember]) -> Usernames {
        let mut names = HashMap::new();
        for member in linked {
            let cached = self
                .usernames
                .lock()
                .ok()
                .and_then(|u| u.get(&member.mm_user_id).cloned());
            let name = match cached {
                Some(name) => Some(name),
                None => match self.bot.user(&member.mm_user_id).await {
                    Ok(user) => {
                        if let Ok(mut u) = self.usernames.lock() {
                            u.insert(member.mm_user_id.clone(), user.username.clone());
                        }
                        Some(user.username)
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "could not look up a username for a mention");
                        None
                    }
                },
            };
            if let Some(name) = name {
                names.insert(member.microsoft_user_id.clone(), name);
            }
        }
        Usernames(names)
    }

    async fn presences(&self, ids: &[String]) -> Result<HashMap<String, Presence>, CallError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let graph = self.graph.client().await?;
        for _ in ids.chunks(teams_graph::MAX_PRESENCE_IDS) {
            self.graph.permit().await;
        }
        Ok(graph
            .presences_by_user_ids(ids)
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.id,
                    Presence {
                        availability: p.availability,
                        activity: p.activity,
                    },
                )
            })
            .collect())
    }

    /// Keeps the claim on an item alive for the next step: extended when less than half the
    /// lease is left. False when another worker has taken the item over (it finishes it).
    async fn keep_claim(&self, item: &mut InboxItem) -> Result<bool, store::StoreError> {
        let now = self.clock.now();
        if item.claim.lease_expires_at - now > self.settings.claim_lease / 2 {
            return Ok(true);
        }
        match self
            .store
            .extend_inbox_lease(&item.claim, now + self.settings.claim_lease)
            .await
        {
            Ok(claim) => {
                item.claim = claim;
                Ok(true)
            }
            Err(store::StoreError::LeaseLost { .. }) => {
                tracing::debug!(item = item.claim.id, "claim taken over by another worker");
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    /// Sends one message's DMs (those its recipients' presence allows) and finishes or retries
    /// the item: what it did, for the batch's report.
    async fn deliver(
        &self,
        mut ready: Ready,
        presences: &HashMap<String, Presence>,
    ) -> Result<BatchReport, store::StoreError> {
        let mut report = BatchReport::default();
        let mut failure: Option<CallError> = None;
        let recipients = std::mem::take(&mut ready.recipients);
        // Messages with files take turns (see `file_copies`); the wait comes before any
        // reservation is made, so it does not eat into one.
        let _files_turn = if ready.text.files.is_empty() {
            None
        } else {
            self.file_copies.acquire().await.ok()
        };
        for recipient in &recipients {
            if let Err(reason) = policy::presence_gate(presences.get(&recipient.microsoft_user_id))
            {
                self.metrics.discarded(reason.label());
                report.skipped += 1;
                continue;
            }
            if !self.keep_claim(&mut ready.item).await? {
                return Ok(report);
            }
            match self.send_once(&ready, &recipient.mm_user_id).await {
                Ok(true) => {
                    report.delivered += 1;
                    let waited = (self.clock.now() - ready.item.received_at)
                        .to_std()
                        .unwrap_or_default();
                    self.metrics.delivered(waited);
                }
                Ok(false) => {}
                Err(CallError::Permanent(why)) => {
                    // Mattermost refuses this recipient (deactivated, DMs not allowed): retrying
                    // will not change that, and the others must not wait for it.
                    tracing::warn!(mm_user_id = %recipient.mm_user_id, reason = %why, "Mattermost refused a notification DM; skipped");
                    self.metrics.discarded("mattermost_refused");
                    report.skipped += 1;
                }
                Err(err) => {
                    tracing::warn!(error = %err, mm_user_id = %recipient.mm_user_id, "could not send a notification; will retry");
                    failure = Some(err);
                }
            }
        }
        match failure {
            None => self.finish(&ready.item).await?,
            Some(err) => {
                report.retried += 1;
                self.retry(&ready.item, &err, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// Sends the DM unless the ledger says it went already. True if sent now.
    async fn send_once(&self, ready: &Ready, mm_user_id: &str) -> Result<bool, CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        // The claim (worker and attempt): a worker that lost its claim to another cannot pass
        // for it. The reservation outlives the claim by the longest a post can take.
        let claim = &ready.item.claim;
        let holder = format!("{}#{}#{}", claim.worker, claim.id, claim.attempt);
        // Copying the files happens under the reservation too.
        if !self
            .reserve(ready, mm_user_id, &holder, ready.text.file_time())
            .await?
        {
            return Ok(false);
        }
        let reserved = std::time::Instant::now();
        let channel_id = self.dm_channel(mm_user_id).await?;
        if ready.item.claim.attempt > 1
            && let Some(post_id) = self.already_posted(&channel_id, ready).await?
        {
            // An earlier attempt posted and then died before recording it: record it now.
            self.store
                .mark_delivered(
                    mm_user_id,
                    &ready.key,
                    &holder,
                    Some(&post_id),
                    self.clock.now(),
                )
                .await
                .map_err(store_err)?;
            return Ok(false);
        }
        // Uploads are not posts: one left behind by a failed attempt is never shown, so the
        // files are copied under the reservation, just before the one post that attaches them.
        let (file_ids, left_out) = match self.copy_files(&ready.text, &channel_id).await {
            Ok(copied) => copied,
            Err(err) => {
                let _ = self
                    .store
                    .release_delivery(mm_user_id, &ready.key, &holder)
                    .await;
                return Err(err);
            }
        };
        // Opening the DM channel, looking for an earlier post and copying the files may have
        // outlasted the reservation (a slow Mattermost), and another worker may have taken it
        // over since: renew it for the post, and stop if it is no longer ours to make. While
        // less than half the claim's lease has passed, the reservation still covers the post
        // (it runs a lease and a request timeout past its start), and no renewal is needed.
        let half_lease = (self.settings.claim_lease / 2).to_std().unwrap_or_default();
        if reserved.elapsed() >= half_lease
            && !self
                .reserve(ready, mm_user_id, &holder, TimeDelta::zero())
                .await?
        {
            tracing::info!(
                mm_user_id,
                key = %ready.key,
                "the delivery was taken over or made while this worker waited on Mattermost; not posting"
            );
            return Ok(false);
        }
        let mut props = PostProps::default();
        props.extra.insert(
            POST_KEY.to_owned(),
            serde_json::Value::String(ready.key.clone()),
        );
        let post = self
            .bot
            .create_post_with_files(
                &NewPost {
                    props: Some(props),
                    ..NewPost::new(channel_id, ready.text.text(&left_out))
                },
                &file_ids,
            )
            .await;
        let post = match post {
            Ok(post) => post,
            Err(err) => {
                let _ = self
                    .store
                    .release_delivery(mm_user_id, &ready.key, &holder)
                    .await;
                return Err(if err.is_transient() {
                    CallError::Transient(format!("Mattermost: {err}"))
                } else {
                    CallError::Permanent(format!("Mattermost refused the DM: {err}"))
                });
            }
        };
        self.store
            .mark_delivered(
                mm_user_id,
                &ready.key,
                &holder,
                Some(&post.id),
                self.clock.now(),
            )
            .await
            .map_err(store_err)?;
        Ok(true)
    }

    /// Reserves (or renews, as the same holder) the delivery of the message to `mm_user_id` for
    /// the claim's lease, the longest a post can take and `extra`: true if the caller may send,
    /// false if it was delivered already, `Held` if another worker holds it.
    async fn reserve(
        &self,
        ready: &Ready,
        mm_user_id: &str,
        holder: &str,
        extra: TimeDelta,
    ) -> Result<bool, CallError> {
        let now = self.clock.now();
        let until = now
            + self.settings.claim_lease
            + TimeDelta::from_std(mm_client::REQUEST_TIMEOUT).unwrap_or(TimeDelta::seconds(30))
            + extra;
        match self
            .store
            .reserve_delivery(mm_user_id, &ready.key, holder, until, now)
            .await
            .map_err(|e| CallError::Transient(format!("store: {e}")))?
        {
            Reservation::Reserved => Ok(true),
            Reservation::AlreadyDelivered { .. } => Ok(false),
            Reservation::InProgress { until, .. } => {
                let left = (until - now).to_std().unwrap_or_default();
                Err(CallError::Held(left))
            }
        }
    }

    /// On a retried item only: the post an earlier attempt made for this message in the DM
    /// channel, found by the key it carries. Closes the gap between posting and recording.
    async fn already_posted(
        &self,
        channel_id: &str,
        ready: &Ready,
    ) -> Result<Option<String>, CallError> {
        let since = (ready.item.received_at - TimeDelta::minutes(1)).timestamp_millis();
        let posts = self
            .bot
            .channel_posts_since(channel_id, since)
            .await
            .map_err(|e| CallError::Transient(format!("Mattermost: {e}")))?;
        Ok(posts
            .into_iter()
            .find(|p| p.props.get(POST_KEY).and_then(|v| v.as_str()) == Some(ready.key.as_str()))
            .map(|p| p.id))
    }

    async fn dm_channel(&self, mm_user_id: &str) -> Result<String, CallError> {
        if let Some(id) = self
            .dm_channels
            .lock()
            .ok()
            .and_then(|c| c.get(mm_user_id).cloned())
        {
            return Ok(id);
        }
        let mm_err = |e: mm_client::MmError| CallError::Transient(format!("Mattermost: {e}"));
        let bot_id = self
            .bot_user_id
            .get_or_try_init(|| async { self.bot.me().await.map(|me| me.id) })
            .await
            .map_err(mm_err)?;
        let id = self
            .bot
            .direct_channel(bot_id, mm_user_id)
            .await
            .map_err(mm_err)?;
        if let Ok(mut c) = self.dm_channels.lock() {
            c.insert(mm_user_id.to_owned(), id.clone());
        }
        Ok(id)
    }

    /// A lifecycle event: Graph removed the subscription, wants it reauthorized, or dropped
    /// notifications.
    async fn lifecycle(&self, notification: &ChangeNotification) -> Result<(), CallError> {
        match &notification.lifecycle_event {
            Some(LifecycleEvent::SubscriptionRemoved) => {
                tracing::warn!(subscription_id = ?notification.subscription_id, "Graph removed the chat-message subscription; recreating it and catching up");
                self.request_catch_up();
                self.ensure_subscription().await.map(|_| ())
            }
            Some(LifecycleEvent::ReauthorizationRequired) => {
                match self
                    .renew(&notification.subscription_id, self.clock.now())
                    .await?
                {
                    Some(_) => Ok(()),
                    // Gone already: the job recreates it.
                    None => self.ensure_subscription().await.map(|_| ()),
                }
            }
            Some(LifecycleEvent::Missed) => {
                tracing::warn!(subscription_id = ?notification.subscription_id, "Graph reports missed notifications; catching up");
                self.request_catch_up();
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The files of a DM, copied from Teams into Mattermost.
impl NotifyPipeline {
    /// Copies the draft's files into the DM channel, one at a time (one file in memory): the ids
    /// to attach, and the names of those that could not be (too large, unreadable, refused).
    /// `Throttled` when Graph asks to wait longer than [`MAX_FILE_THROTTLE_WAIT`]: the delivery
    /// is tried again then, rather than sent without the file.
    async fn copy_files(
        &self,
        dm: &DmDraft,
        channel_id: &str,
    ) -> Result<(Vec<String>, Vec<String>), CallError> {
        let mut ids = Vec::new();
        let mut left_out = Vec::new();
        if dm.files.is_empty() {
            return Ok((ids, left_out));
        }
        let graph = match self.graph.client().await {
            Ok(graph) => Some(graph),
            Err(err) => {
                tracing::warn!(error = %err, "no Graph token to download a message's files; naming them instead");
                None
            }
        };
        let started = tokio::time::Instant::now();
        for file in &dm.files {
            let copied = match &graph {
                None => Err(FileError::Skipped("no Graph token".to_owned())),
                Some(_) if started.elapsed() > FILES_BUDGET => Err(FileError::Skipped(
                    "the message's other files took too long".to_owned(),
                )),
                Some(graph) => tokio::time::timeout(
                    FILE_TRANSFER_TIMEOUT,
                    self.copy_file(graph, dm, file, channel_id),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(FileError::Skipped("the transfer took too long".to_owned()))
                }),
            };
            match copied {
                Ok(id) => ids.push(id),
                Err(FileError::Throttled(after)) => {
                    tracing::info!(
                        message_id = %dm.message_id,
                        file = %file.label(),
                        ?after,
                        "Graph throttles a file download for longer than a DM waits; the DM is retried then"
                    );
                    return Err(CallError::Throttled(Some(after)));
                }
                Err(FileError::Skipped(why)) => {
                    tracing::info!(
                        message_id = %dm.message_id,
                        file = %file.label(),
                        reason = %why,
                        "a file could not be attached to a notification; it is named instead"
                    );
                    left_out.push(file.label());
                }
            }
        }
        Ok((ids, left_out))
    }

    /// Downloads one file (app token, at most [`MAX_FILE_BYTES`]) and uploads it to the DM
    /// channel: the uploaded file's id, or why not.
    async fn copy_file(
        &self,
        graph: &GraphClient,
        dm: &DmDraft,
        file: &FileSource,
        channel_id: &str,
    ) -> Result<String, FileError> {
        let skipped = FileError::Skipped;
        let mut attempt = 0;
        let downloaded = loop {
            attempt += 1;
            self.graph.permit().await;
            let result = match file {
                FileSource::Image { hosted_id, .. } => {
                    graph
                        .download_hosted_content(
                            &dm.chat_id,
                            &dm.message_id,
                            hosted_id,
                            MAX_FILE_BYTES,
                        )
                        .await
                }
                FileSource::Shared { content_url, .. } => {
                    graph
                        .download_shared_file(content_url, MAX_FILE_BYTES)
                        .await
                }
                FileSource::Unavailable { .. } => {
                    return Err(skipped("the attachment has no URL".to_owned()));
                }
            };
            // Throttling or a dropped connection get one more try, not before Graph's
            // `Retry-After`; anything else is final.
            let pause = match &result {
                Err(GraphError::Throttled {
                    retry_after: Some(after),
                }) if *after > MAX_FILE_THROTTLE_WAIT => {
                    return Err(FileError::Throttled(*after));
                }
                Err(GraphError::Throttled { retry_after }) => {
                    retry_after.unwrap_or(Duration::from_secs(1))
                }
                Err(GraphError::Transport(_)) => Duration::from_secs(1),
                _ => break result,
            };
            if attempt >= 2 {
                break result;
            }
            tokio::time::sleep(pause).await;
        };
        let download = match downloaded {
            Ok(Downloaded::File(download)) => download,
            Ok(Downloaded::TooLarge { limit, .. }) => {
                return Err(skipped(format!("larger than {limit} bytes")));
            }
            Err(err) => return Err(skipped(format!("download failed: {err}"))),
        };
        let name = match file {
            FileSource::Image { n, .. } => format!(
                "image-{n}.{}",
                image_extension(download.content_type.as_deref())
            ),
            FileSource::Shared { name, .. } | FileSource::Unavailable { name } => name.clone(),
        };
        match self
            .bot
            .upload_file(channel_id, &name, download.bytes)
            .await
        {
            Ok(info) => Ok(info.id),
            Err(err) if err.is_too_large() => {
                Err(skipped("over Mattermost's maximum file size".to_owned()))
            }
            Err(err) => Err(skipped(format!("upload failed: {err}"))),
        }
    }
}

/// Why a file was not copied.
enum FileError {
    /// Named in the DM instead, for this reason.
    Skipped(String),
    /// Graph asked to wait this long (more than [`MAX_FILE_THROTTLE_WAIT`]) before downloading.
    Throttled(Duration),
}

fn sender_of(message: &ChatMessage) -> Sender {
    match &message.from {
        MessageSender::User { id, display_name } => Sender::User {
            microsoft_user_id: id.clone(),
            display_name: display_name.clone(),
        },
        MessageSender::Application { display_name, .. } => Sender::Application {
            display_name: display_name.clone(),
        },
        _ => Sender::Nobody,
    }
}

/// Exponential backoff with jitter: about 2, 4, 8 ... seconds, at most 5 minutes.
fn backoff(attempt: i64) -> Duration {
    let base = 2u64
        .saturating_pow(u32::try_from(attempt.clamp(1, 9)).unwrap_or(9))
        .min(300);
    let mut byte = [0u8; 1];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte);
    Duration::from_millis(base * 1000 / 2 + u64::from(byte[0]) * base * 1000 / 2 / 255)
}

#[cfg(test)]
mod file_tests {
    use super::*;

    fn draft(files: Vec<FileSource>, over: usize) -> DmDraft {
        DmDraft {
            sender_name: "Alice".into(),
            chat_kind: ChatKind::OneOnOne,
            topic: None,
            member_count: 2,
            body_markdown: "hi".into(),
            attachment_texts: Vec::new(),
            chat_id: "19:a@unq.gbl.spaces".into(),
            message_id: "1".into(),
            web_url: None,
            files,
            files_over_limit: over,
        }
    }

    #[test]
    fn images_are_named_by_their_content_type() {
        assert_eq!(image_extension(Some("image/png")), "png");
        assert_eq!(image_extension(Some("IMAGE/JPEG; q=1")), "jpg");
        assert_eq!(image_extension(Some("image/svg+xml")), "svg");
        assert_eq!(image_extension(Some("application/pdf")), "bin");
        assert_eq!(image_extension(None), "bin");
    }

    #[test]
    fn the_note_names_files_left_out_and_counts_those_over_the_limit() {
        let files = vec![
            FileSource::Image {
                n: 1,
                hosted_id: "aWQ=".into(),
            },
            FileSource::Shared {
                name: "big.zip".into(),
                content_url: "https://x.sharepoint.com/big.zip".into(),
            },
        ];
        assert_eq!(files[0].label(), "image-1");
        let dm = draft(files, 2);
        let text = dm.text(&["big.zip".to_owned()]);
        assert!(
            text.contains("_3 files could not be attached (big.zip); open the message in Teams"),
            "{text}"
        );
        assert!(!dm.text(&[]).contains("(big.zip)"));
        assert!(dm.file_time() > TimeDelta::zero());
        // Nothing to download: the reservation is a plain post's.
        let named_only = draft(vec![FileSource::Unavailable { name: "x".into() }], 0);
        assert_eq!(named_only.file_time(), TimeDelta::zero());
        assert!(
            named_only
                .text(&["x".to_owned()])
                .contains("_1 file could not be attached (x)")
        );
    }
}
