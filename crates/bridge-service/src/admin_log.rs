//! Admin log forwarding (calendar feature C6): the service's log events at the configured level
//! and above, copied to the admin users as direct messages from the bot.
//!
//! Two halves joined by a bounded channel:
//!
//! - [`AdminLogLayer`], a `tracing_subscriber` layer, turns each event it wants into one short
//!   line (level and message; with `verbose`, also the target, the event's fields and the fields
//!   of the spans it happened in) and hands it over with `try_send`: logging never waits, and
//!   when the channel is full the line is dropped and counted. Fields whose names look secret
//!   (token, secret, password, authorization, cookie, code, key, assertion, ...) show as
//!   `[redacted]`; bearer credentials, JWTs and secret-looking `name=value` pairs in messages are
//!   blanked too, and each line is cut at [`MAX_LINE_CHARS`].
//! - [`forward`], a task, gathers the lines arriving within a short window (2 s) into one post
//!   per admin, a code block of at most [`ForwardOptions::max_lines_per_post`] lines, posts at
//!   most once every 10 s, and says how many lines were dropped.
//!
//! It never forwards its own events (target [`OWN_TARGET`]) nor anything logged while it posts,
//! so a failing post cannot feed itself; its own failures are logged at debug level only. Events
//! of HTTP client and server internals (hyper, reqwest, h2, rustls, axum, tower, ...) are skipped
//! below WARN whatever the level, and `mattermost_api`'s at every level (it logs each non-2xx
//! answer at ERROR, including the 404 of an ordinary lookup; callers report real failures).
//!
//! Wiring: the CLI calls [`install`] while it builds the log subscriber and adds the returned
//! `Option<AdminLogLayer>` with `.with(layer)`; the receiver waits in a global slot until the
//! service, once it has a bot client, calls [`take_receiver`] and spawns [`forward`]. Lines
//! logged in between wait in the channel (up to [`CHANNEL_CAPACITY`]; later ones are counted as
//! dropped). The layer sees only events the subscriber's log filter lets through.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mm_client::MattermostClient;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The target of this module's own events, which are never forwarded.
pub const OWN_TARGET: &str = "bridge_service::admin_log";

/// Lines waiting to be posted; more are dropped (and counted) until the forwarder catches up.
pub const CHANNEL_CAPACITY: usize = 256;

/// The longest line forwarded, in characters; longer ones are cut and end with `…`.
pub const MAX_LINE_CHARS: usize = 500;

/// What replaces a secret.
const REDACTED: &str = "[redacted]";

/// Field names holding any of these (case-insensitive) are never shown.
const SECRET_WORDS: [&str; 10] = [
    "token",
    "secret",
    "password",
    "passwd",
    "authorization",
    "cookie",
    "code",
    "key",
    "assertion",
    "credential",
];

/// Crates whose events below WARN are transport noise, whatever the configured level.
const HTTP_INTERNALS: [&str; 12] = [
    "hyper",
    "hyper_util",
    "h2",
    "http",
    "reqwest",
    "rustls",
    "tokio_rustls",
    "axum",
    "tower",
    "tower_http",
    "tungstenite",
    "tokio_tungstenite",
];

tokio::task_local! {
    /// Set while the forwarder posts: anything logged then (by the HTTP stack, say) is not
    /// forwarded, so a failing post cannot feed itself.
    static FORWARDING: bool;
}

/// Who gets the copies and what they see (`[calendar]` `admin_log_level`, `admin_log_verbose`,
/// `admin_user_ids`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminLogSettings {
    /// Events at this level and above are copied (`WARN`: warnings and errors); `None`: off.
    pub level: Option<Level>,
    /// Whether a line carries the event's target, fields and spans besides its message.
    pub verbose: bool,
    /// The Mattermost users who receive the copies.
    pub admin_user_ids: Vec<String>,
}

impl AdminLogSettings {
    /// The settings of the `[calendar]` section.
    pub fn from_calendar(calendar: &crate::config::CalendarConfig) -> Self {
        Self {
            level: calendar.admin_log_level,
            verbose: calendar.admin_log_verbose,
            admin_user_ids: calendar.admin_user_ids.clone(),
        }
    }
}

/// The layer that copies log events into the channel; see the [module docs](self).
#[derive(Debug)]
pub struct AdminLogLayer {
    level: Level,
    verbose: bool,
    lines: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

/// The other end of the channel, for [`forward`].
#[derive(Debug)]
pub struct AdminLogReceiver {
    lines: mpsc::Receiver<String>,
    dropped: Arc<AtomicU64>,
}

impl AdminLogReceiver {
    /// The next line; `None` once every layer is gone and the channel is empty.
    pub async fn recv(&mut self) -> Option<String> {
        self.lines.recv().await
    }

    /// A line if one is waiting.
    pub fn try_recv(&mut self) -> Option<String> {
        self.lines.try_recv().ok()
    }

    /// How many lines were dropped since the last call (the channel was full), and resets it.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

/// A layer and its receiver with room for `capacity` lines; `None` when forwarding is off (no
/// level) or nobody would receive the copies.
pub fn channel(
    settings: &AdminLogSettings,
    capacity: usize,
) -> Option<(AdminLogLayer, AdminLogReceiver)> {
    let level = settings.level?;
    if settings.admin_user_ids.is_empty() {
        return None;
    }
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    Some((
        AdminLogLayer {
            level,
            verbose: settings.verbose,
            lines: sender,
            dropped: dropped.clone(),
        },
        AdminLogReceiver {
            lines: receiver,
            dropped,
        },
    ))
}

/// [`channel`] with [`CHANNEL_CAPACITY`], as a pair of options for a subscriber builder.
pub fn layer_for(settings: &AdminLogSettings) -> (Option<AdminLogLayer>, Option<AdminLogReceiver>) {
    match channel(settings, CHANNEL_CAPACITY) {
        Some((layer, receiver)) => (Some(layer), Some(receiver)),
        None => (None, None),
    }
}

/// Where [`install`] leaves the receiver for the service.
static RECEIVER: Mutex<Option<AdminLogReceiver>> = Mutex::new(None);

/// [`layer_for`], keeping the receiver for [`take_receiver`]: the layer goes into the log
/// subscriber (`.with(layer)`; `None` adds nothing). A second call replaces the kept receiver.
pub fn install(settings: &AdminLogSettings) -> Option<AdminLogLayer> {
    let (layer, receiver) = layer_for(settings);
    *RECEIVER.lock().unwrap_or_else(PoisonError::into_inner) = receiver;
    layer
}

/// The receiver [`install`] kept, once: the service spawns [`forward`] with it. `None` when
/// forwarding is off or it was taken already.
pub fn take_receiver() -> Option<AdminLogReceiver> {
    RECEIVER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

impl AdminLogLayer {
    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        let level = *metadata.level();
        // Levels compare by verbosity: ERROR < WARN < INFO < DEBUG < TRACE.
        if level > self.level {
            return false;
        }
        let target = metadata.target();
        // Exactly: the forwarder logs under this target (its tests, in a module below, do not).
        if target == OWN_TARGET {
            return false;
        }
        let krate = target.split("::").next().unwrap_or(target);
        if krate == "mattermost_api" {
            return false;
        }
        !(HTTP_INTERNALS.contains(&krate) && level > Level::WARN)
    }
}

/// The span fields kept for verbose lines, already redacted.
#[derive(Debug, Default)]
struct SpanFields(String);

impl<S> Layer<S> for AdminLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.verbose {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        span.extensions_mut()
            .insert(SpanFields(fields.pairs_text()));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if !self.verbose {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        let added = fields.pairs_text();
        if added.is_empty() {
            return;
        }
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(SpanFields(text)) if !text.is_empty() => {
                text.push(' ');
                text.push_str(&added);
            }
            Some(SpanFields(text)) => *text = added,
            None => extensions.insert(SpanFields(added)),
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if !self.wants(metadata) || FORWARDING.try_with(|on| *on).unwrap_or(false) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = metadata.level().to_string();
        if self.verbose {
            let _ = write!(line, " {}:", metadata.target());
        }
        if !fields.message.is_empty() {
            line.push(' ');
            line.push_str(&fields.message);
        }
        if self.verbose {
            let pairs = fields.pairs_text();
            if !pairs.is_empty() {
                line.push(' ');
                line.push_str(&pairs);
            }
            let spans: Vec<String> = ctx
                .event_scope(event)
                .into_iter()
                .flat_map(|scope| scope.from_root())
                .map(|span| {
                    let extensions = span.extensions();
                    match extensions.get::<SpanFields>() {
                        Some(SpanFields(text)) if !text.is_empty() => {
                            format!("{}{{{text}}}", span.name())
                        }
                        _ => span.name().to_owned(),
                    }
                })
                .collect();
            if !spans.is_empty() {
                let _ = write!(line, " (in {})", spans.join(" > "));
            }
        }
        if self.lines.try_send(clean_line(&line)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An event's or span's fields: the message apart, the others as `name=value`, redacted.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        let name = field.name();
        if name == "message" {
            self.message = scrub(&value);
        } else if name.starts_with("log.") {
            // tracing-log's record of where a `log` line came from.
        } else if is_secret_name(name) {
            self.pairs.push((name, REDACTED.to_owned()));
        } else {
            self.pairs.push((name, scrub(&value)));
        }
    }

    fn pairs_text(&self) -> String {
        let mut text = String::new();
        for (name, value) in &self.pairs {
            if !text.is_empty() {
                text.push(' ');
            }
            if value.is_empty() || value.contains(char::is_whitespace) {
                let _ = write!(text, "{name}={value:?}");
            } else {
                let _ = write!(text, "{name}={value}");
            }
        }
        text
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(inner) = source {
            let _ = write!(text, ": {inner}");
            source = inner.source();
        }
        self.put(field, text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// `text` with secrets blanked: values of secret-looking `name=value` and `"name": "value"`
/// pairs, credentials after `Bearer` / `Basic`, and JWTs.
fn scrub(text: &str) -> String {
    scrub_words(&scrub_pairs(text))
}

/// Characters of a name before `=` or `":`.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Where an unquoted value ends.
fn ends_value(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '&' | '"' | '\'' | ',' | ';' | ')' | ']' | '}' | '<' | '>'
        )
}

fn scrub_pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['=', ':']) {
        let (before, after) = rest.split_at(at);
        let separator = &after[..1];
        let after = &after[1..];
        out.push_str(before);
        out.push_str(separator);
        // `name=value`, or JSON's `"name": value`.
        let name_end = if separator == "=" {
            Some(before)
        } else {
            before.strip_suffix('"')
        };
        let name = name_end.map_or("", |end| {
            let start = end
                .char_indices()
                .rev()
                .take_while(|(_, c)| is_name_char(*c))
                .last()
                .map_or(end.len(), |(i, _)| i);
            &end[start..]
        });
        if name.is_empty() || !is_secret_name(name) || after.starts_with('=') {
            rest = after;
            continue;
        }
        let value = after.trim_start();
        out.push_str(&after[..after.len() - value.len()]);
        let (body, end) = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                out.push(quote);
                let body = &value[1..];
                (body, body.find(quote).unwrap_or(body.len()))
            }
            _ => (value, value.find(ends_value).unwrap_or(value.len())),
        };
        if end > 0 {
            out.push_str(REDACTED);
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

fn looks_like_jwt(word: &str) -> bool {
    word.len() > 20
        && word.starts_with("eyJ")
        && word.matches('.').count() >= 2
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '='))
}

fn scrub_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_scheme = false;
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let space = &piece[word.len()..];
        let core = word.trim_matches(|c: char| {
            matches!(
                c,
                '"' | '\'' | ',' | ';' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>'
            )
        });
        if !core.is_empty() && (after_scheme || looks_like_jwt(core)) && core != REDACTED {
            out.push_str(&word.replacen(core, REDACTED, 1));
        } else {
            out.push_str(word);
        }
        out.push_str(space);
        if !word.is_empty() {
            after_scheme =
                core.eq_ignore_ascii_case("bearer") || core.eq_ignore_ascii_case("basic");
        }
    }
    out
}

/// One line that cannot break out of a code block, at most [`MAX_LINE_CHARS`] long.
fn clean_line(line: &str) -> String {
    let flat: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.replace("```", "'''");
    if flat.chars().count() <= MAX_LINE_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(MAX_LINE_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// How [`forward_with`] batches and paces its posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardOptions {
    /// Lines arriving this long after the first of a batch go in the same post.
    pub batch_window: Duration,
    /// The least time between two posts to the admins.
    pub min_interval: Duration,
    /// Lines shown in one post; the rest are counted ("… and K more").
    pub max_lines_per_post: usize,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        Self {
            batch_window: Duration::from_secs(2),
            min_interval: Duration::from_secs(10),
            max_lines_per_post: 20,
        }
    }
}

/// Posts the lines as the bot (`bot` holds its token) to each admin with the default
/// [`ForwardOptions`], until every layer is gone, calling `posted` after each DM posted (the
/// metrics). Spawn it once the service has its bot client.
pub async fn forward(
    receiver: AdminLogReceiver,
    bot: Arc<MattermostClient>,
    admin_user_ids: Vec<String>,
    posted: impl Fn() + Send + Sync + 'static,
) {
    forward_with(
        receiver,
        bot,
        admin_user_ids,
        ForwardOptions::default(),
        posted,
    )
    .await;
}

/// [`forward`] with other timings.
pub async fn forward_with(
    mut receiver: AdminLogReceiver,
    bot: Arc<MattermostClient>,
    admin_user_ids: Vec<String>,
    options: ForwardOptions,
    posted: impl Fn() + Send + Sync + 'static,
) {
    let mut poster = Poster {
        bot,
        bot_id: None,
        admin_user_ids,
        posted: Box::new(posted),
    };
    let mut last_post: Option<Instant> = None;
    loop {
        let Some(first) = receiver.lines.recv().await else {
            return;
        };
        let mut batch = Batch::new(options.max_lines_per_post);
        batch.push(first);
        let mut ready_at = Instant::now() + options.batch_window;
        if let Some(last) = last_post {
            ready_at = ready_at.max(last + options.min_interval);
        }
        let mut closed = false;
        loop {
            match tokio::time::timeout_at(ready_at, receiver.lines.recv()).await {
                Ok(Some(line)) => batch.push(line),
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let message = batch.render(receiver.take_dropped());
        FORWARDING.scope(true, poster.post(&message)).await;
        last_post = Some(Instant::now());
        if closed {
            return;
        }
    }
}

/// The lines of one post.
#[derive(Debug)]
struct Batch {
    lines: Vec<String>,
    more: usize,
    max_lines: usize,
}

impl Batch {
    fn new(max_lines: usize) -> Self {
        Self {
            lines: Vec::new(),
            more: 0,
            max_lines: max_lines.max(1),
        }
    }

    fn push(&mut self, line: String) {
        if self.lines.len() < self.max_lines {
            self.lines.push(line);
        } else {
            self.more += 1;
        }
    }

    /// The post: a code block of the lines, then what did not fit and what was dropped.
    fn render(&self, dropped: u64) -> String {
        let total = self.lines.len() + self.more;
        let mut text = format!(
            "Service log, {total} new line{}:\n```\n",
            if total == 1 { "" } else { "s" }
        );
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str("```");
        if self.more > 0 {
            let _ = write!(text, "\n… and {} more", self.more);
        }
        if dropped > 0 {
            let _ = write!(
                text,
                "\n{dropped} more line{} dropped: they came faster than they could be sent.",
                if dropped == 1 { " was" } else { "s were" }
            );
        }
        text
    }
}

/// Posts as the bot to each admin; failures are logged at debug level under [`OWN_TARGET`].
struct Poster {
    bot: Arc<MattermostClient>,
    bot_id: Option<String>,
    admin_user_ids: Vec<String>,
    /// Called after each DM posted.
    posted: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Poster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster")
            .field("bot_id", &self.bot_id)
            .field("admin_user_ids", &self.admin_user_ids)
            .finish_non_exhaustive()
    }
}

impl Poster {
    async fn post(&mut self, message: &str) {
        let bot_id = match &self.bot_id {
            Some(id) => id.clone(),
            None => match self.bot.me().await {
                Ok(me) => self.bot_id.insert(me.id).clone(),
                Err(err) => {
                    tracing::debug!(
                        target: OWN_TARGET,
                        %err,
                        "admin log: cannot tell who the bot is"
                    );
                    return;
                }
            },
        };
        for admin in &self.admin_user_ids {
            match self.bot.dm(&bot_id, admin, message, None).await {
                Ok(_) => (self.posted)(),
                Err(err) => tracing::debug!(
                    target: OWN_TARGET,
                    admin = %admin,
                    %err,
                    "admin log: cannot send the copy"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mm_emulator::{MattermostEmulator, NewUser};
    use secrecy::SecretString;
    use tracing::dispatcher::{self, Dispatch};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    fn settings(level: Level, verbose: bool) -> AdminLogSettings {
        AdminLogSettings {
            level: Some(level),
            verbose,
            admin_user_ids: vec!["admin".to_owned()],
        }
    }

    /// A subscriber with only the admin layer, and its receiver.
    fn capture(settings: &AdminLogSettings, capacity: usize) -> (Dispatch, AdminLogReceiver) {
        let (layer, receiver) = channel(settings, capacity).expect("on");
        (
            Dispatch::new(tracing_subscriber::registry().with(layer)),
            receiver,
        )
    }

    fn drain(receiver: &mut AdminLogReceiver) -> Vec<String> {
        std::iter::from_fn(|| receiver.try_recv()).collect()
    }

    #[test]
    fn secret_fields_and_values_never_leave() {
        for verbose in [false, true] {
            let (dispatch, mut receiver) = capture(&settings(Level::WARN, verbose), 16);
            dispatcher::with_default(&dispatch, || {
                tracing::warn!(
                    access_token = "abc",
                    user_id = "u1",
                    "sign-in refresh failed"
                );
                tracing::error!(
                    clientSecret = %"s3cr3t-value",
                    Authorization = "Bearer tok-123",
                    "token endpoint answered 400: {{\"error\":\"invalid_grant\",\"refresh_token\": \"rt-456\"}}"
                );
                tracing::warn!(
                    "callback https://bridge.example.com/oauth?code=c0de-789&state=st1 failed; header Authorization: Bearer bear-000; jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
                );
            });
            let lines = drain(&mut receiver);
            assert_eq!(lines.len(), 3, "{lines:?}");
            let all = lines.join("\n");
            for secret in [
                "abc",
                "s3cr3t-value",
                "tok-123",
                "rt-456",
                "c0de-789",
                "bear-000",
                "eyJhbGciOiJIUzI1NiJ9",
            ] {
                assert!(!all.contains(secret), "{secret} in {all}");
            }
            assert!(lines[0].starts_with("WARN "), "{}", lines[0]);
            assert!(all.contains("sign-in refresh failed"), "{all}");
            assert!(
                all.contains("invalid_grant"),
                "what is not secret stays: {all}"
            );
            assert!(all.contains("state=st1"), "{all}");
            if verbose {
                assert!(lines[0].contains("access_token=[redacted]"), "{}", lines[0]);
                assert!(lines[0].contains("user_id=u1"), "{}", lines[0]);
                assert!(lines[1].contains("clientSecret=[redacted]"), "{}", lines[1]);
                assert!(
                    lines[1].contains("Authorization=[redacted]"),
                    "{}",
                    lines[1]
                );
            }
        }
    }

    #[test]
    fn events_below_the_level_are_not_forwarded() {
        let (dispatch, mut receiver) = capture(&settings(Level::WARN, false), 16);
        dispatcher::with_default(&dispatch, || {
            tracing::info!("started");
            tracing::debug!("details");
            tracing::warn!("slow answer");
            tracing::error!("gave up");
        });
        assert_eq!(drain(&mut receiver), ["WARN slow answer", "ERROR gave up"]);

        let (dispatch, mut receiver) = capture(&settings(Level::ERROR, false), 16);
        dispatcher::with_default(&dispatch, || {
            tracing::warn!("slow answer");
            tracing::error!("gave up");
        });
        assert_eq!(drain(&mut receiver), ["ERROR gave up"]);

        // Off, or nobody to tell: no layer at all.
        let off = AdminLogSettings {
            level: None,
            ..settings(Level::WARN, false)
        };
        assert!(channel(&off, 16).is_none());
        let nobody = AdminLogSettings {
            admin_user_ids: Vec::new(),
            ..settings(Level::WARN, false)
        };
        assert!(matches!(layer_for(&nobody), (None, None)));
    }

    #[test]
    fn its_own_events_and_transport_chatter_are_skipped() {
        let (dispatch, mut receiver) = capture(&settings(Level::DEBUG, false), 16);
        dispatcher::with_default(&dispatch, || {
            tracing::warn!(target: "bridge_service::admin_log", "cannot send the copy");
            tracing::debug!(target: "hyper_util::client::legacy", "connecting");
            tracing::info!(target: "reqwest::connect", "proxy");
            tracing::error!(target: "mattermost_api::client", "Got status 404");
            tracing::warn!(target: "hyper::proto", "connection reset");
            tracing::debug!(target: "bridge_service::calendar", "tick");
            FORWARDING.sync_scope(true, || tracing::error!("while posting"));
        });
        assert_eq!(
            drain(&mut receiver),
            ["WARN connection reset", "DEBUG tick"]
        );
    }

    #[test]
    fn verbose_lines_carry_target_fields_and_spans() {
        let emit = || {
            let outer = tracing::info_span!("sync", user_id = "u1", secret_key = "k1");
            let _outer = outer.enter();
            let inner = tracing::info_span!("fetch", attempt = tracing::field::Empty);
            inner.record("attempt", 3);
            let _inner = inner.enter();
            tracing::warn!(
                target: "bridge_service::calendar",
                status = 503,
                error = "Graph is busy",
                "could not read events"
            );
        };
        let (dispatch, mut receiver) = capture(&settings(Level::WARN, true), 16);
        dispatcher::with_default(&dispatch, emit);
        assert_eq!(
            drain(&mut receiver),
            [
                "WARN bridge_service::calendar: could not read events status=503 error=\"Graph is busy\" (in sync{user_id=u1 secret_key=[redacted]} > fetch{attempt=3})"
            ]
        );

        let (dispatch, mut receiver) = capture(&settings(Level::WARN, false), 16);
        dispatcher::with_default(&dispatch, emit);
        assert_eq!(drain(&mut receiver), ["WARN could not read events"]);
    }

    #[test]
    fn lines_are_capped_and_stay_one_line() {
        let (dispatch, mut receiver) = capture(&settings(Level::WARN, false), 16);
        dispatcher::with_default(&dispatch, || {
            tracing::warn!("{}", "x".repeat(2000));
            tracing::warn!("two\nlines with ``` fences");
        });
        let lines = drain(&mut receiver);
        assert_eq!(lines[0].chars().count(), MAX_LINE_CHARS);
        assert!(lines[0].ends_with('…'));
        assert_eq!(lines[1], "WARN two lines with ''' fences");
    }

    #[test]
    fn a_full_channel_drops_and_counts() {
        let (dispatch, mut receiver) = capture(&settings(Level::WARN, false), 2);
        dispatcher::with_default(&dispatch, || {
            for i in 0..5 {
                tracing::warn!("line {i}");
            }
        });
        assert_eq!(drain(&mut receiver), ["WARN line 0", "WARN line 1"]);
        assert_eq!(receiver.take_dropped(), 3);
        assert_eq!(receiver.take_dropped(), 0, "reset once read");
    }

    #[test]
    fn posts_show_what_fits_what_did_not_and_what_was_dropped() {
        let mut batch = Batch::new(2);
        for i in 0..5 {
            batch.push(format!("WARN line {i}"));
        }
        assert_eq!(
            batch.render(7),
            "Service log, 5 new lines:\n```\nWARN line 0\nWARN line 1\n```\n… and 3 more\n7 more lines were dropped: they came faster than they could be sent."
        );
        let mut one = Batch::new(20);
        one.push("ERROR gave up".to_owned());
        assert_eq!(
            one.render(0),
            "Service log, 1 new line:\n```\nERROR gave up\n```"
        );
    }

    #[test]
    fn the_cli_can_add_it_as_an_optional_layer() {
        // The shape `cli::init_logging` builds: a global filter, the optional layer, fmt.
        let build = |layer: Option<AdminLogLayer>| {
            let filter: tracing_subscriber::filter::Targets = "info".parse().expect("filter");
            Dispatch::new(
                tracing_subscriber::registry()
                    .with(filter)
                    .with(layer)
                    .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink)),
            )
        };
        let (layer, receiver) = layer_for(&settings(Level::WARN, false));
        let mut receiver = receiver.expect("receiver");
        let dispatch = build(layer);
        dispatcher::with_default(&dispatch, || {
            tracing::debug!("filtered out by the log level");
            tracing::warn!("copied");
        });
        assert_eq!(drain(&mut receiver), ["WARN copied"]);
        // Off: the same stack still logs.
        let dispatch = build(None);
        dispatcher::with_default(&dispatch, || tracing::warn!("not copied"));

        assert!(install(&settings(Level::WARN, false)).is_some());
        assert!(take_receiver().is_some());
        assert!(take_receiver().is_none(), "taken once");
    }

    struct Admins {
        mm: MattermostEmulator,
        bot: Arc<MattermostClient>,
        bot_id: String,
        admins: Vec<String>,
    }

    async fn admins() -> Admins {
        let mm = MattermostEmulator::start().await.expect("emulator");
        let bot = mm
            .create_bot("mscalendar", "Microsoft Calendar")
            .expect("bot");
        let admins = ["ops", "lead"]
            .iter()
            .map(|name| {
                mm.create_user(NewUser::new(name, &format!("{name}@example.com")))
                    .expect("admin")
                    .id
            })
            .collect();
        let client =
            MattermostClient::new(&mm.site_url(), &SecretString::from(bot.token)).expect("client");
        Admins {
            bot: Arc::new(client),
            bot_id: bot.bot.user_id,
            admins,
            mm,
        }
    }

    /// Waits until `admin` has `count` DMs (or a few seconds pass), and returns them.
    async fn dms(world: &Admins, admin: &str, count: usize) -> Vec<String> {
        for _ in 0..100 {
            let posts = world.mm.direct_messages_to(admin);
            if posts.len() >= count {
                return posts.into_iter().map(|p| p.message).collect();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        world
            .mm
            .direct_messages_to(admin)
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[tokio::test]
    async fn warnings_within_the_window_reach_each_admin_as_one_dm() {
        let world = admins().await;
        let settings = AdminLogSettings {
            level: Some(Level::WARN),
            verbose: false,
            admin_user_ids: world.admins.clone(),
        };
        let (layer, receiver) = channel(&settings, 16).expect("on");
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        let task = tokio::spawn(forward_with(
            receiver,
            world.bot.clone(),
            world.admins.clone(),
            ForwardOptions {
                batch_window: Duration::from_millis(500),
                ..ForwardOptions::default()
            },
            || {},
        ));
        dispatcher::with_default(&dispatch, || {
            tracing::warn!(access_token = "abc", "Graph subscription renewal failed");
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        dispatcher::with_default(&dispatch, || tracing::error!("calendar sync gave up"));

        for admin in &world.admins {
            let received = dms(&world, admin, 1).await;
            assert_eq!(
                received,
                [
                    "Service log, 2 new lines:\n```\nWARN Graph subscription renewal failed\nERROR calendar sync gave up\n```"
                ],
                "one DM with both lines, in a code block"
            );
            let channel = world
                .mm
                .find_direct_channel(&world.bot_id, admin)
                .expect("a DM from the bot");
            assert_eq!(world.mm.channel_posts(&channel.id)[0].user_id, world.bot_id);
        }

        // Every layer gone: the forwarder ends.
        drop(dispatch);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("ends")
            .expect("no panic");
    }

    #[tokio::test]
    async fn posts_are_paced_and_report_dropped_lines() {
        let world = admins().await;
        let admin = world.admins[0].clone();
        let settings = AdminLogSettings {
            level: Some(Level::WARN),
            verbose: false,
            admin_user_ids: vec![admin.clone()],
        };
        let (layer, receiver) = channel(&settings, 1).expect("on");
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        dispatcher::with_default(&dispatch, || {
            tracing::warn!("first");
            tracing::warn!("lost");
            tracing::warn!("lost too");
        });
        let task = tokio::spawn(forward_with(
            receiver,
            world.bot.clone(),
            vec![admin.clone()],
            ForwardOptions {
                batch_window: Duration::from_millis(50),
                min_interval: Duration::from_millis(2500),
                max_lines_per_post: 20,
            },
            || {},
        ));
        let first = dms(&world, &admin, 1).await;
        assert_eq!(
            first,
            [
                "Service log, 1 new line:\n```\nWARN first\n```\n2 more lines were dropped: they came faster than they could be sent."
            ]
        );

        // Soon after a post, new lines wait for the interval and go out together.
        dispatcher::with_default(&dispatch, || tracing::warn!("second"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        dispatcher::with_default(&dispatch, || tracing::warn!("third"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(world.mm.direct_messages_to(&admin).len(), 1, "not yet");
        let both = dms(&world, &admin, 2).await;
        assert_eq!(
            both[1],
            "Service log, 2 new lines:\n```\nWARN second\nWARN third\n```"
        );

        drop(dispatch);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("ends")
            .expect("no panic");
    }

    #[tokio::test]
    async fn a_failing_post_does_not_stop_the_others() {
        let world = admins().await;
        let mut admins = vec!["nosuchuser0000000000000000".to_owned()];
        admins.extend(world.admins.iter().cloned());
        let settings = AdminLogSettings {
            level: Some(Level::WARN),
            verbose: false,
            admin_user_ids: admins.clone(),
        };
        let (layer, receiver) = channel(&settings, 16).expect("on");
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        dispatcher::with_default(&dispatch, || tracing::warn!("disk almost full"));
        drop(dispatch);
        // The channel is closed: the forwarder posts what it has and ends.
        let posted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = posted.clone();
        tokio::time::timeout(
            Duration::from_secs(5),
            forward(receiver, world.bot.clone(), admins, move || {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }),
        )
        .await
        .expect("ends");
        for admin in &world.admins {
            assert_eq!(world.mm.direct_messages_to(admin).len(), 1);
        }
        // Only the DMs that went out are counted.
        assert_eq!(
            posted.load(std::sync::atomic::Ordering::SeqCst),
            world.admins.len()
        );
    }
}
