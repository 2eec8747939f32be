//! Load benchmark of the Teams chat notifications: the release `teams-bridge serve` process
//! between the Microsoft Graph and Mattermost emulators (both in this process), with 10,000 linked
//! users on both sides.
//!
//! Run with `cargo bench -p teams-bridge --bench notifications`. Phases:
//!
//! 1. set-up: users, presence (everyone Away), one-on-one chats in a ring (user i writes to user
//!    i+1), links and preferences written straight to the store (no OAuth round trip), then the
//!    service is started and its start-up catch-up is waited for;
//! 2. warm-up: one message per chat, so chat members and DM channels are cached (cold numbers);
//! 3. maximum: messages are posted as fast as the bridge delivers them (a bounded number in
//!    flight) and the delivered DMs a second are counted at the Mattermost emulator;
//! 4. latency: messages at a fixed rate (half the target by default), then at half the measured
//!    maximum; the n-th DM seen at the Mattermost emulator (sampled every millisecond or so) is
//!    matched with the n-th message posted (the emulator's `create_at` runs ahead of the wall
//!    clock under load, see the latency phase);
//! 5. Graph requests per delivered DM over phases 3 and 4, overall and by phase (counters reset
//!    after the warm-up), and the service's peak RSS (`VmHWM`);
//! 6. the emulators' own ceilings for the same calls, with the service stopped.
//!
//! Settings (environment): `BENCH_USERS` (10000), `BENCH_MAX_SECS` (30), `BENCH_WINDOW` (1000
//! messages in flight in the maximum phase), `BENCH_LATENCY_RATE` (500 a second),
//! `BENCH_LATENCY_SECS` (30), `BENCH_CEILING_SECS` (5), `BENCH_CEILING_CONCURRENCY` (32),
//! `BENCH_HALF_MAX` (1: the latency phase again at half the measured maximum, when lower),
//! `BENCH_CATCH_UP` (1; 0 sets `catch_up_horizon = 0`), `BENCH_GRAPH_RATE_LIMIT` (0: the
//! service's `microsoft.graph_rate_limit`, off as for emulators; the default of the service is
//! 20 a second, Graph's own limit), `BENCH_STORE` (`sqlite`, or `postgres`
//! with `STORE_TEST_POSTGRES_URL`), `BENCH_KEEP_DIR` (1 keeps the service's directory and log).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use e2e_support::{PgDatabase, Service, ServiceConfig, free_port, proc_memory_mb};
use graph_emulator::{
    AppRegistration, ChatType, EmulatorOptions, GraphEmulator, NewMessage, NewUser, Presence,
};
use mm_emulator::{MattermostEmulator, NewCommand, NewUser as MmUser};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use store::{EncryptionKey, NewLink, Store, StoreOptions, TokenSealer};
use teams_graph::TokenSet;

const BIN: &str = env!("CARGO_BIN_EXE_teams-bridge");
const CLIENT_ID: &str = "0d8f3b2a-5c1e-4f7a-9b6d-2e4c8a1f3b5d";
const CLIENT_SECRET: &str = "bench-client-secret-VALUE";
const ENCRYPTION_KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const WEBHOOK_SECRET: &str = "bench-webhook-secret-0123456789";
/// The Mattermost route the bridge posts each DM with.
const MM_POSTS: &str = "POST /api/v4/posts";
/// The post prop naming the Teams message a DM is about.
const POST_KEY: &str = "ms_teams_message";

const TARGET_RATE: f64 = 1000.0;
const TARGET_P99_MS: f64 = 200.0;
const TARGET_GRAPH_PER_DM: f64 = 1.1;
const TARGET_RSS_MB: f64 = 150.0;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
struct Settings {
    users: usize,
    max_secs: u64,
    window: u64,
    latency_rate: f64,
    latency_secs: u64,
    ceiling_secs: u64,
    ceiling_concurrency: usize,
    catch_up: bool,
    half_max: bool,
    graph_rate_limit: u32,
    postgres: Option<String>,
    keep_dir: bool,
}

impl Settings {
    fn from_env() -> Self {
        let postgres = match std::env::var("BENCH_STORE").as_deref() {
            Ok("postgres") => Some(
                std::env::var("STORE_TEST_POSTGRES_URL")
                    .expect("BENCH_STORE=postgres needs STORE_TEST_POSTGRES_URL"),
            ),
            _ => None,
        };
        Self {
            users: env_or("BENCH_USERS", 10_000usize).max(2),
            max_secs: env_or("BENCH_MAX_SECS", 30),
            window: env_or("BENCH_WINDOW", 1000u64).max(1),
            latency_rate: env_or("BENCH_LATENCY_RATE", TARGET_RATE / 2.0),
            latency_secs: env_or("BENCH_LATENCY_SECS", 30),
            ceiling_secs: env_or("BENCH_CEILING_SECS", 5),
            ceiling_concurrency: env_or("BENCH_CEILING_CONCURRENCY", 32usize).max(1),
            catch_up: env_or("BENCH_CATCH_UP", 1u8) != 0,
            half_max: env_or("BENCH_HALF_MAX", 1u8) != 0,
            graph_rate_limit: env_or("BENCH_GRAPH_RATE_LIMIT", 0),
            postgres,
            keep_dir: env_or("BENCH_KEEP_DIR", 0u8) != 0,
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// The value at quantile `q` (nearest rank) of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Total CPU time (user + system) of a process so far, in seconds.
fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) / 100.0)
}

/// One value of the service's `/metrics` text (0 when absent).
fn metric(text: &str, sample: &str) -> f64 {
    e2e_support::metric(text, sample).unwrap_or(0.0)
}

/// A Prometheus histogram's cumulative buckets: (upper bound, count), by bound.
fn histogram_buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (le, rest) = rest.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// The linear-interpolated quantile of the observations a histogram gained between two scrapes.
fn histogram_quantile(before: &str, after: &str, name: &str, q: f64) -> Option<f64> {
    let old: HashMap<u64, f64> = histogram_buckets(before, name)
        .into_iter()
        .map(|(le, count)| (le.to_bits(), count))
        .collect();
    let buckets: Vec<(f64, f64)> = histogram_buckets(after, name)
        .into_iter()
        .map(|(le, count)| (le, count - old.get(&le.to_bits()).copied().unwrap_or(0.0)))
        .collect();
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let want = q * total;
    let mut lower = (0.0, 0.0);
    for (le, count) in buckets {
        if count >= want {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let span = count - lower.1;
            let part = if span > 0.0 {
                (want - lower.1) / span
            } else {
                1.0
            };
            return Some(lower.0 + (le - lower.0) * part);
        }
        lower = (le, count);
    }
    None
}

/// One side's ids of a benchmark user.
#[derive(Debug, Clone)]
struct Person {
    mm_id: String,
    ms_id: String,
}

/// A chat of the ring: `sender` writes, `recipient` (index into the people) gets the DM.
#[derive(Debug, Clone)]
struct RingChat {
    id: String,
    sender: String,
    recipient: usize,
}

/// What was posted in a phase: the DM key (`teams:<chat>:<message>`), when, and to whom.
#[derive(Debug, Default)]
struct Sent {
    at_ms: HashMap<String, i64>,
    /// When each message was posted, ms since the start of its phase (open loop only).
    sent_at_ms: Vec<f64>,
    recipients: Vec<usize>,
    messages: Vec<(String, String)>,
}

struct Bench {
    graph: GraphEmulator,
    mattermost: MattermostEmulator,
    people: Vec<Person>,
    chats: Vec<RingChat>,
    bot_mm: String,
    bot_token: String,
    public_url: String,
    http: reqwest::Client,
    /// Messages posted so far, across phases: the next chat is `next % chats`.
    next: usize,
}

impl Bench {
    /// Requests the Graph emulator has served since its counters were reset.
    fn graph_requests(&self) -> u64 {
        self.graph.request_counts().values().sum()
    }

    /// DMs the bridge has posted (requests at the Mattermost emulator's post route).
    fn mm_posts(&self) -> u64 {
        self.mattermost.request_count(MM_POSTS)
    }

    async fn metrics(&self) -> String {
        match self
            .http
            .get(format!("{}/metrics", self.public_url))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Posts the next ring message and records it.
    fn post_next(&mut self, sent: &mut Sent) {
        let chat = &self.chats[self.next % self.chats.len()];
        let at = now_ms();
        let message = self
            .graph
            .post_message(
                &chat.id,
                &chat.sender,
                NewMessage::html(&format!("<p>bench message <b>{}</b></p>", self.next)),
            )
            .expect("post");
        sent.at_ms
            .insert(format!("teams:{}:{}", chat.id, message.id), at);
        sent.recipients.push(chat.recipient);
        sent.messages.push((chat.id.clone(), message.id));
        self.next += 1;
    }

    /// Posts while fewer than `window` of this phase's messages wait for their DM, for `duration`
    /// or until `limit` messages are posted. Returns what was sent and per-second delivered
    /// counts.
    async fn closed_loop(
        &mut self,
        window: u64,
        duration: Duration,
        limit: Option<usize>,
    ) -> (Sent, Vec<u64>) {
        let mut sent = Sent::default();
        let base = self.mm_posts();
        let start = Instant::now();
        let mut per_second = Vec::new();
        let mut last_second = (start, base);
        let mut last_progress = (start, base);
        loop {
            let now = Instant::now();
            if now - start >= duration || limit.is_some_and(|l| sent.recipients.len() >= l) {
                break;
            }
            let delivered_total = self.mm_posts();
            if delivered_total != last_progress.1 {
                last_progress = (now, delivered_total);
            } else if now - last_progress.0 > Duration::from_secs(15) {
                eprintln!("  no DM for 15 s: stopping the phase early");
                break;
            }
            if now - last_second.0 >= Duration::from_secs(1) {
                per_second.push(delivered_total - last_second.1);
                last_second = (now, delivered_total);
                if per_second.len() % 5 == 0 {
                    eprintln!(
                        "  {} s: posted {}, delivered {}",
                        per_second.len(),
                        sent.recipients.len(),
                        delivered_total - base
                    );
                }
            }
            let delivered = delivered_total - base;
            let in_flight = (sent.recipients.len() as u64).saturating_sub(delivered);
            let mut room = window.saturating_sub(in_flight).min(64);
            if let Some(limit) = limit {
                room = room.min((limit - sent.recipients.len()) as u64);
            }
            for _ in 0..room {
                self.post_next(&mut sent);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (sent, per_second)
    }

    /// Posts at `rate` a second for `duration` (open loop: whatever the bridge does), then waits
    /// for the DMs (until none comes for `idle`). Returns what was sent, and when each DM was
    /// seen at the Mattermost emulator (ms since the start, in order of arrival), sampled every
    /// millisecond or so.
    async fn open_loop(
        &mut self,
        rate: f64,
        duration: Duration,
        idle: Duration,
    ) -> (Sent, Vec<f64>) {
        let mut sent = Sent::default();
        let mut sent_at = Vec::new();
        let mut seen_at = Vec::new();
        let base = self.mm_posts();
        let start = Instant::now();
        let mut last_progress = Instant::now();
        loop {
            let elapsed = start.elapsed();
            let ms = secs(elapsed) * 1000.0;
            let delivered = (self.mm_posts() - base) as usize;
            if delivered > seen_at.len() {
                seen_at.resize(delivered, ms);
                last_progress = Instant::now();
            }
            if elapsed < duration {
                let due = (secs(elapsed) * rate) as usize;
                while sent.recipients.len() < due {
                    self.post_next(&mut sent);
                    sent_at.push(secs(start.elapsed()) * 1000.0);
                }
            } else if seen_at.len() >= sent.recipients.len() || last_progress.elapsed() > idle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sent.sent_at_ms = sent_at;
        (sent, seen_at)
    }

    /// Waits until `count` DMs have been posted since `base`, or nothing happens for `idle`.
    /// Returns the number seen.
    async fn drain(&self, base: u64, count: u64, idle: Duration) -> u64 {
        let mut last = (Instant::now(), self.mm_posts());
        loop {
            let now_count = self.mm_posts();
            if now_count - base >= count {
                return now_count - base;
            }
            if now_count != last.1 {
                last = (Instant::now(), now_count);
            } else if last.0.elapsed() > idle {
                return now_count - base;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many of the DMs to the recipients of `sent` are about its messages (each at most
    /// once: a duplicate DM would count twice).
    fn matched(&self, sent: &Sent) -> usize {
        let mut recipients: Vec<usize> = sent.recipients.clone();
        recipients.sort_unstable();
        recipients.dedup();
        let mut count = 0;
        for r in recipients {
            let Some(channel) = self
                .mattermost
                .find_direct_channel(&self.bot_mm, &self.people[r].mm_id)
            else {
                continue;
            };
            count += self
                .mattermost
                .channel_posts(&channel.id)
                .iter()
                .filter(|post| post.user_id == self.bot_mm)
                .filter_map(|post| post.props.get(POST_KEY).and_then(Value::as_str))
                .filter(|key| sent.at_ms.contains_key(*key))
                .count();
        }
        count
    }
}

/// Runs `concurrency` loops of `call` for `duration`; returns successful calls a second.
async fn hammer<F, Fut>(concurrency: usize, duration: Duration, call: F) -> (f64, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency as u64 {
        let call = call.clone();
        let ok = ok.clone();
        let failed = failed.clone();
        tasks.spawn(async move {
            let mut i = worker;
            while start.elapsed() < duration {
                if call(i).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += concurrency as u64;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = secs(start.elapsed());
    (
        ok.load(Ordering::Relaxed) as f64 / elapsed,
        failed.load(Ordering::Relaxed),
    )
}

/// A trivial change-notification endpoint: answers the validation handshake, counts the rest.
async fn start_sink(counter: Arc<AtomicU64>) -> String {
    use axum::extract::{Query, State};
    async fn receive(
        State(counter): State<Arc<AtomicU64>>,
        Query(query): Query<HashMap<String, String>>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        if let Some(token) = query.get("validationToken") {
            return (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8",
                )],
                token.clone(),
            )
                .into_response();
        }
        counter.fetch_add(1, Ordering::Relaxed);
        axum::http::StatusCode::ACCEPTED.into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sink");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route("/sink", axum::routing::post(receive))
        .with_state(counter);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/sink")
}

#[derive(Default)]
struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn row(&mut self, what: &str, value: String, target: &str, verdict: &str) {
        self.rows.push([
            what.to_owned(),
            value,
            target.to_owned(),
            verdict.to_owned(),
        ]);
    }

    fn print(&self) {
        println!("| Measure | Value | Target | Met |");
        println!("|---|---|---|---|");
        for [a, b, c, d] in &self.rows {
            println!("| {a} | {b} | {c} | {d} |");
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench` (and any filter): there is only one benchmark, so
    // arguments are ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(Settings::from_env()));
    ExitCode::SUCCESS
}

async fn run(settings: Settings) {
    let overall = Instant::now();
    let n = settings.users;
    println!(
        "teams-bridge notification benchmark: {n} users, binary {BIN}\nsettings: {settings:?}"
    );

    // ---- Emulators and the tenant.
    let phase = Instant::now();
    let listen = free_port();
    let public_url = format!("http://{listen}");
    let graph = GraphEmulator::start_with(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        EmulatorOptions {
            retry_delays: vec![],
            ..EmulatorOptions::default()
        },
    )
    .await
    .expect("graph emulator");
    graph.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![format!("{public_url}/oauth/redirect")],
        display_name: "bridge bench".into(),
    });
    let mattermost = MattermostEmulator::start().await.expect("mm emulator");
    let admin = mattermost
        .create_user(MmUser::new("admin", "admin@example.com"))
        .expect("admin");
    mattermost.make_system_admin(&admin.id).expect("make admin");
    let bot = mattermost.create_bot("msteams", "MS Teams").expect("bot");
    let command = mattermost
        .register_command(
            &admin.id,
            NewCommand::new("msteams", &format!("{public_url}/mattermost/command")),
        )
        .expect("command");

    let mut people = Vec::with_capacity(n);
    for i in 0..n {
        let mail = format!("user{i}@contoso.com");
        let ms = graph.add_user(NewUser::new(&format!("User {i}"), &mail));
        let mm = mattermost
            .create_user(MmUser::new(&format!("user{i}"), &mail))
            .expect("mm user");
        graph.set_presence(&ms.id, Presence::new("Away", "Away"));
        people.push(Person {
            mm_id: mm.id,
            ms_id: ms.id,
        });
    }
    let chats: Vec<RingChat> = (0..n)
        .map(|i| {
            let j = (i + 1) % n;
            let chat = graph.add_chat(
                ChatType::OneOnOne,
                None,
                &[&people[i].ms_id, &people[j].ms_id],
            );
            RingChat {
                id: chat.id,
                sender: people[i].ms_id.clone(),
                recipient: j,
            }
        })
        .collect();
    println!(
        "tenant: {n} users on both sides, all Away, {} one-on-one chats, in {:.1} s",
        chats.len(),
        secs(phase.elapsed())
    );

    // ---- The store: links and preferences written directly, sealed as the service seals.
    let phase = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = match &settings.postgres {
        Some(admin_url) => Some(PgDatabase::create(admin_url, "bridge_bench").await),
        None => None,
    };
    let store_url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}/bridge.db", dir.path().display()),
    };
    {
        let store = Store::connect(&store_url, &StoreOptions::default())
            .await
            .expect("open store");
        store.migrate().await.expect("migrate");
        let key = EncryptionKey::from_base64(ENCRYPTION_KEY).expect("key");
        let sealer = TokenSealer::new(key, vec![]);
        let now = Utc::now();
        // The emulator's tokens last an hour; no refresh falls due during the run.
        let expires_at = now + TimeDelta::minutes(55);
        for (i, person) in people.iter().enumerate() {
            let tokens = TokenSet {
                access_token: SecretString::from(graph.user_token(CLIENT_ID, &person.ms_id)),
                refresh_token: None,
                expires_at,
                scopes: vec![
                    "User.Read".into(),
                    "Chat.Read".into(),
                    "offline_access".into(),
                ],
            };
            let json = tokens.to_json().expect("token json");
            let sealed = sealer
                .seal(
                    json.expose_secret().as_bytes(),
                    &store::link_token_context(&person.mm_id),
                )
                .expect("seal");
            let login = format!("user{i}@contoso.com");
            store
                .link_account(&NewLink {
                    mm_user_id: &person.mm_id,
                    teams_user_id: &person.ms_id,
                    teams_login: &login,
                    token: &sealed,
                    token_expires_at: Some(expires_at),
                    now,
                })
                .await
                .expect("link");
            store
                .set_preference(&person.mm_id, "notifications", "on", now)
                .await
                .expect("preference");
        }
        assert_eq!(
            store.count_connected_links().await.expect("count"),
            n as u64
        );
        store.close().await;
    }
    println!(
        "store: {n} links and preferences ({}) in {:.1} s",
        if pg.is_some() { "PostgreSQL" } else { "SQLite" },
        secs(phase.elapsed())
    );

    // ---- The service.
    let config = ServiceConfig {
        listen: listen.to_string(),
        public_url: public_url.clone(),
        store_url,
        encryption_key: ENCRYPTION_KEY.into(),
        mattermost_url: mattermost.site_url().to_string(),
        bot_token: bot.token.clone(),
        mattermost_extra: format!("command_token = \"{}\"", command.token),
        tenant_id: graph.tenant_id(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        graph_url: graph.graph_url().to_string(),
        login_url: graph.login_url().to_string(),
        microsoft_extra: format!(
            "billing_model = \"evaluation\"\ngraph_rate_limit = {}\n{}",
            settings.graph_rate_limit,
            if settings.catch_up {
                ""
            } else {
                "catch_up_horizon = 0"
            },
        ),
        rest: "[log]\nlevel = \"info\"".into(),
    };
    std::fs::write(dir.path().join("teams-bridge.toml"), config.render()).expect("write config");
    let phase = Instant::now();
    let mut service = Service::spawn(BIN, dir.path(), "teams-bridge.toml");
    let pid = service.pid();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{public_url}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service not ready; log:\n{}",
            service.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subscription = graph
        .subscriptions()
        .into_iter()
        .find(|s| s.notification_url == format!("{public_url}/graph/notifications"))
        .expect("the service's subscription");
    let ready_after = phase.elapsed();
    println!(
        "service ready (subscription {}) after {:.1} s",
        subscription.id,
        secs(ready_after)
    );

    // Peak memory is sampled all along; VmHWM at the end is the kernel's own peak.
    let rss_peak = Arc::new(AtomicU64::new(0));
    {
        let rss_peak = rss_peak.clone();
        tokio::spawn(async move {
            loop {
                match proc_memory_mb(pid, "VmRSS") {
                    Some(mb) => {
                        rss_peak.fetch_max((mb * 1024.0) as u64, Ordering::Relaxed);
                    }
                    None => return,
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }

    // Start-up catch-up reads every linked user's chats with their own token: wait for it to
    // finish (Graph requests stop) before measuring anything.
    let phase = Instant::now();
    let catch_up_secs = if settings.catch_up {
        let total = || graph.request_counts().values().sum::<u64>();
        let mut last = (Instant::now(), total());
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now_total = total();
            if now_total != last.1 {
                last = (Instant::now(), now_total);
            } else if last.0.elapsed() > Duration::from_secs(2)
                && graph.request_count("GET /v1.0/me/chats") >= n as u64
            {
                break;
            }
            if phase.elapsed() > Duration::from_secs(600) {
                println!("catch-up still running after 600 s; measuring anyway");
                break;
            }
        }
        let took = secs(last.0 - phase);
        println!(
            "start-up catch-up over {n} users: {:.1} s, Graph requests: {:?}",
            took,
            graph.request_counts()
        );
        Some(took)
    } else {
        None
    };
    let rss_after_catch_up = proc_memory_mb(pid, "VmRSS").unwrap_or(f64::NAN);

    let mut bench = Bench {
        graph,
        mattermost,
        people,
        chats,
        bot_mm: bot.bot.user_id.clone(),
        bot_token: bot.token.clone(),
        public_url: public_url.clone(),
        http: http.clone(),
        next: 0,
    };

    // ---- Warm-up: one message per chat (chat members and DM channels not cached yet).
    let phase = Instant::now();
    let base = bench.mm_posts();
    let (warm, _) = bench
        .closed_loop(settings.window, Duration::from_secs(600), Some(n))
        .await;
    let warm_delivered = bench
        .drain(base, warm.recipients.len() as u64, Duration::from_secs(15))
        .await;
    let warm_secs = secs(phase.elapsed());
    println!(
        "warm-up: {warm_delivered} of {} DMs in {warm_secs:.1} s ({:.0}/s, cold caches)",
        warm.recipients.len(),
        warm_delivered as f64 / warm_secs
    );
    let mut ceiling_messages = warm.messages.clone();

    // ---- Steady state from here: count Graph requests from zero.
    bench.graph.reset_request_counts();
    bench.mattermost.reset_counters();
    let metrics_before = bench.metrics().await;
    let delivered_before = metric(
        &metrics_before,
        "teams_bridge_notifications_delivered_total",
    );
    let cpu_before = proc_cpu_secs(pid).unwrap_or(f64::NAN);
    let own_cpu_before = proc_cpu_secs(std::process::id()).unwrap_or(f64::NAN);
    let steady_start = Instant::now();

    // ---- Maximum sustained rate.
    let phase = Instant::now();
    let base = bench.mm_posts();
    let (max_sent, per_second) = bench
        .closed_loop(
            settings.window,
            Duration::from_secs(settings.max_secs),
            None,
        )
        .await;
    let max_elapsed = phase.elapsed();
    let max_delivered_in_phase = bench.mm_posts() - base;
    // The first seconds ramp up; the rest is the sustained rate.
    let skip = per_second.len().min(3);
    let steady: &[u64] = &per_second[skip..];
    let sustained = if steady.is_empty() {
        max_delivered_in_phase as f64 / secs(max_elapsed)
    } else {
        steady.iter().sum::<u64>() as f64 / steady.len() as f64
    };
    let worst_second = steady.iter().copied().min().unwrap_or(0);
    let max_drained = bench
        .drain(
            base,
            max_sent.recipients.len() as u64,
            Duration::from_secs(15),
        )
        .await;
    println!(
        "maximum: posted {} in {:.1} s with at most {} in flight; delivered {} during the phase, \
         {max_drained} after draining; sustained {sustained:.0} DMs/s (seconds {}..{}, worst \
         second {worst_second}); per second: {per_second:?}",
        max_sent.recipients.len(),
        secs(max_elapsed),
        settings.window,
        max_delivered_in_phase,
        skip + 1,
        per_second.len(),
    );
    ceiling_messages.extend(max_sent.messages.iter().take(20_000).cloned());

    // Graph requests and DMs at the end of each steady phase, for per-phase ratios.
    let mut marks = vec![("maximum", bench.graph_requests(), bench.mm_posts())];
    // ---- Latency at a fixed rate.
    let metrics_before_latency = bench.metrics().await;
    let (lat_sent, seen_at) = bench
        .open_loop(
            settings.latency_rate,
            Duration::from_secs(settings.latency_secs),
            Duration::from_secs(15),
        )
        .await;
    let offered = lat_sent.recipients.len() as f64 / settings.latency_secs as f64;
    let lat_drained = seen_at.len() as u64;
    // The emulator's `create_at` cannot time the DMs: its clock is strictly increasing by a
    // millisecond per write and runs ahead of the wall clock once it serves more than one write a
    // millisecond (set-up, and two writes per DM at 500 DMs/s). So the n-th DM seen is matched to
    // the n-th message posted: the mean is exact whatever the order; quantiles are exact when
    // DMs leave in the order messages came (the inbox is claimed oldest first).
    let mut latencies: Vec<f64> = lat_sent
        .sent_at_ms
        .iter()
        .zip(&seen_at)
        .map(|(sent, seen)| seen - sent)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;
    let matched = bench.matched(&lat_sent);
    let (p50, p90, p99, pmax) = (
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.90),
        quantile(&latencies, 0.99),
        quantile(&latencies, 1.0),
    );
    println!(
        "latency: {} messages at {offered:.0}/s offered, {lat_drained} DMs, {matched} of them \
         for these messages; mean {mean:.0} ms, p50 {p50:.0} ms, p90 {p90:.0} ms, p99 {p99:.0} \
         ms, max {pmax:.0} ms",
        lat_sent.recipients.len(),
    );
    let metrics_after_latency = bench.metrics().await;
    marks.push(("500/s", bench.graph_requests(), bench.mm_posts()));

    // ---- The same at half the measured maximum, for comparison (when that is lower).
    let half_max = if settings.half_max && sustained / 2.0 < settings.latency_rate {
        let (sent, seen_at) = bench
            .open_loop(
                sustained / 2.0,
                Duration::from_secs(settings.latency_secs),
                Duration::from_secs(15),
            )
            .await;
        let mut latencies: Vec<f64> = sent
            .sent_at_ms
            .iter()
            .zip(&seen_at)
            .map(|(sent, seen)| seen - sent)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let offered = sent.recipients.len() as f64 / settings.latency_secs as f64;
        let summary = format!(
            "{:.0} / {:.0} / {:.0} / {:.0} ms ({} of {} DMs)",
            quantile(&latencies, 0.50),
            quantile(&latencies, 0.90),
            quantile(&latencies, 0.99),
            quantile(&latencies, 1.0),
            seen_at.len(),
            sent.recipients.len(),
        );
        println!("latency at half the measured maximum ({offered:.0}/s): {summary}");
        marks.push(("half maximum", bench.graph_requests(), bench.mm_posts()));
        Some((offered, summary))
    } else {
        None
    };
    // Leave the counts of the steady phases only.
    let steady_secs = secs(steady_start.elapsed());
    let cpu_after = proc_cpu_secs(pid).unwrap_or(f64::NAN);
    let own_cpu = proc_cpu_secs(std::process::id()).unwrap_or(f64::NAN) - own_cpu_before;
    let graph_counts = bench.graph.request_counts();
    let mm_counts = bench.mattermost.request_counts();
    let metrics_after = bench.metrics().await;
    let delivered_steady =
        metric(&metrics_after, "teams_bridge_notifications_delivered_total") - delivered_before;
    let graph_total: u64 = graph_counts.values().sum();
    let mm_total: u64 = mm_counts.values().sum();
    let graph_per_dm = graph_total as f64 / delivered_steady;
    let vm_hwm = proc_memory_mb(pid, "VmHWM").unwrap_or(f64::NAN);
    let rss_sampled = rss_peak.load(Ordering::Relaxed) as f64 / 1024.0;
    let bridge_p99 = histogram_quantile(
        &metrics_before_latency,
        &metrics_after_latency,
        "teams_bridge_notification_latency_seconds",
        0.99,
    );
    let failures = metric(&metrics_after, "teams_bridge_delivery_failures_total");
    println!(
        "steady state ({steady_secs:.1} s): {delivered_steady} DMs, Graph requests {graph_total} \
         ({graph_per_dm:.3} per DM): {graph_counts:?}; Mattermost requests {mm_total}: \
         {mm_counts:?}; service CPU {:.1} s ({:.0}% of one core); delivery failures (retried) \
         {failures}",
        cpu_after - cpu_before,
        (cpu_after - cpu_before) / steady_secs * 100.0,
    );
    let lost: usize = bench
        .graph
        .deliveries()
        .iter()
        .filter(|d| d.kind == "change" && !matches!(d.outcome, Ok(s) if (200..300).contains(&s)))
        .count();
    let bridge_lines: Vec<&str> = metrics_after
        .lines()
        .filter(|l| {
            !l.starts_with('#')
                && (l.starts_with("teams_bridge_graph_requests")
                    || l.starts_with("teams_bridge_notifications")
                    || l.starts_with("teams_bridge_inbox")
                    || l.starts_with("teams_bridge_delivery"))
        })
        .collect();
    println!("service metrics:\n  {}", bridge_lines.join("\n  "));
    let slow_statements = service.log_count("slow statement");
    println!(
        "service log: {} WARN, {} ERROR lines; {slow_statements} store statements slower than 1 s",
        service.log_count(" WARN "),
        service.log_count(" ERROR "),
    );

    // ---- Stop the service, then the emulators' own ceilings.
    service.kill();
    let app_token = bench.graph.app_token(CLIENT_ID);
    let graph_url = bench.graph.graph_url().to_string();
    let _ = http
        .delete(format!("{graph_url}/subscriptions/{}", subscription.id))
        .bearer_auth(&app_token)
        .send()
        .await;
    let ceiling = Duration::from_secs(settings.ceiling_secs);
    let conc = settings.ceiling_concurrency;

    let client = reqwest::Client::new();
    let messages = Arc::new(ceiling_messages);
    let (graph_get_ceiling, graph_get_failed) = {
        let (client, token, url, messages) = (
            client.clone(),
            app_token.clone(),
            graph_url.clone(),
            messages.clone(),
        );
        hammer(conc, ceiling, move |i| {
            let (chat, message) = messages[i as usize % messages.len()].clone();
            let request = client
                .get(format!("{url}/chats/{chat}/messages/{message}"))
                .bearer_auth(&token);
            async move {
                match request.send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await
    };
    let ids: Arc<Vec<String>> = Arc::new(bench.people.iter().map(|p| p.ms_id.clone()).collect());
    let (presence_ceiling, presence_failed) = {
        let (client, token, url, ids) = (
            client.clone(),
            app_token.clone(),
            graph_url.clone(),
            ids.clone(),
        );
        hammer(conc, ceiling, move |i| {
            let start = (i as usize * 64) % ids.len().saturating_sub(64).max(1);
            let batch: Vec<&String> = ids.iter().skip(start).take(64).collect();
            let request = client
                .post(format!("{url}/communications/getPresencesByUserId"))
                .bearer_auth(&token)
                .json(&json!({ "ids": batch }));
            async move {
                match request.send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await
    };
    let channels: Arc<Vec<String>> = Arc::new(
        bench
            .people
            .iter()
            .filter_map(|p| {
                bench
                    .mattermost
                    .find_direct_channel(&bench.bot_mm, &p.mm_id)
            })
            .map(|c| c.id)
            .collect(),
    );
    let (mm_post_ceiling, mm_post_failed) = {
        let (client, token, url, channels) = (
            client.clone(),
            bench.bot_token.clone(),
            bench.mattermost.site_url().to_string(),
            channels.clone(),
        );
        let url = format!("{}/api/v4/posts", url.trim_end_matches('/'));
        hammer(conc, ceiling, move |i| {
            let channel = channels[i as usize % channels.len()].clone();
            let request = client.post(&url).bearer_auth(&token).json(&json!({
                "channel_id": channel,
                "message": format!("**User {i}** in an MS Teams chat:\n> ceiling {i}"),
                "props": { "ms_teams_message": format!("ceiling:{i}") },
            }));
            async move {
                match request.send().await {
                    Ok(r) => r.status() == 201 && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await
    };
    // Change notifications the Graph emulator POSTs a second to an endpoint that only counts.
    let received = Arc::new(AtomicU64::new(0));
    let sink = start_sink(received.clone()).await;
    let created = http
        .post(format!("{graph_url}/subscriptions"))
        .bearer_auth(&app_token)
        .json(&json!({
            "changeType": "created",
            "notificationUrl": sink,
            "resource": "/chats/getAllMessages",
            "expirationDateTime": (Utc::now() + TimeDelta::minutes(50)).to_rfc3339(),
            "clientState": WEBHOOK_SECRET,
        }))
        .send()
        .await
        .expect("sink subscription");
    assert_eq!(created.status(), 201, "sink subscription");
    let dispatch_ceiling = {
        let start = Instant::now();
        let mut posted = 0u64;
        let mut sent = Sent::default();
        while start.elapsed() < ceiling {
            let in_flight = posted.saturating_sub(received.load(Ordering::Relaxed));
            for _ in 0..settings.window.saturating_sub(in_flight).min(64) {
                bench.post_next(&mut sent);
                posted += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let got = received.load(Ordering::Relaxed) as f64;
        got / secs(start.elapsed())
    };
    println!(
        "emulator ceilings ({conc} concurrent clients in this process, service stopped): \
         Graph GET message {graph_get_ceiling:.0}/s ({graph_get_failed} failed), Graph \
         getPresencesByUserId(64 ids) {presence_ceiling:.0}/s ({presence_failed} failed), \
         Mattermost POST /posts {mm_post_ceiling:.0}/s ({mm_post_failed} failed), Graph change \
         notifications dispatched {dispatch_ceiling:.0}/s"
    );

    // ---- Report.
    let mut table = Table::default();
    table.row(
        "Delivered DMs/s, sustained (max phase)",
        format!("{sustained:.0} (worst second {worst_second})"),
        ">= 1000",
        verdict(sustained >= TARGET_RATE),
    );
    table.row(
        &format!(
            "End-to-end latency at {:.0}/s offered: p50 / p90 / p99 / max",
            offered
        ),
        format!("{p50:.0} / {p90:.0} / {p99:.0} / {pmax:.0} ms (mean {mean:.0} ms)"),
        "p99 < 200 ms",
        verdict(
            p99 < TARGET_P99_MS
                && lat_drained == lat_sent.recipients.len() as u64
                && matched == lat_sent.recipients.len(),
        ),
    );
    table.row(
        "Graph requests per delivered DM (steady state)",
        format!("{graph_per_dm:.3} ({graph_total} / {delivered_steady})"),
        "<= 1.1",
        verdict(graph_per_dm <= TARGET_GRAPH_PER_DM),
    );
    let mut previous = (0u64, 0u64);
    let per_phase: Vec<String> = marks
        .iter()
        .map(|(name, graph, dms)| {
            let text = format!(
                "{name}: {:.3}",
                (graph - previous.0) as f64 / (dms - previous.1).max(1) as f64
            );
            previous = (*graph, *dms);
            text
        })
        .collect();
    println!("Graph requests per DM by phase: {}", per_phase.join(", "));
    table.row(
        "Graph requests per delivered DM, by phase",
        per_phase.join("; "),
        "",
        "",
    );
    if let Some((offered, summary)) = &half_max {
        table.row(
            &format!(
                "Latency at half the measured maximum ({offered:.0}/s): p50 / p90 / p99 / max"
            ),
            summary.clone(),
            "",
            "",
        );
    }
    table.row(
        "Peak RSS of the service (VmHWM)",
        format!("{vm_hwm:.1} MB (sampled VmRSS peak {rss_sampled:.1} MB)"),
        "< 150 MB",
        verdict(vm_hwm < TARGET_RSS_MB),
    );
    table.row(
        "Service-side latency p99 in the latency phase (webhook arrival to DM, from its histogram)",
        bridge_p99.map_or("n/a".into(), |s| format!("{:.0} ms", s * 1000.0)),
        "",
        "",
    );
    table.row(
        "Warm-up (cold caches), one message per chat",
        format!(
            "{:.0} DMs/s ({warm_delivered} in {warm_secs:.1} s)",
            warm_delivered as f64 / warm_secs
        ),
        "",
        "",
    );
    table.row(
        "Start-up catch-up over every linked user",
        catch_up_secs.map_or("off".into(), |s| format!("{s:.1} s")),
        "",
        "",
    );
    table.row(
        "Service RSS after start-up and catch-up",
        format!("{rss_after_catch_up:.1} MB"),
        "",
        "",
    );
    table.row(
        "Service CPU in steady state",
        format!(
            "{:.0}% of one core",
            (cpu_after - cpu_before) / steady_secs * 100.0
        ),
        "",
        "",
    );
    table.row(
        "Emulators and load generator (this process) CPU in steady state",
        format!("{:.0}% of one core", own_cpu / steady_secs * 100.0),
        "",
        "",
    );
    table.row(
        "Notifications the Graph emulator failed to deliver (no retries)",
        lost.to_string(),
        "0",
        verdict(lost == 0),
    );
    table.row(
        "Store statements slower than 1 s (sqlx warnings in the service log)",
        slow_statements.to_string(),
        "",
        "",
    );
    let ratio = |ceiling: f64| format!("{:.0}%", sustained / ceiling * 100.0);
    table.row(
        "Ceiling: Graph GET /chats/{id}/messages/{id}",
        format!(
            "{graph_get_ceiling:.0}/s (bridge at {})",
            ratio(graph_get_ceiling)
        ),
        "",
        "",
    );
    table.row(
        "Ceiling: Graph POST /communications/getPresencesByUserId (64 ids)",
        format!("{presence_ceiling:.0}/s"),
        "",
        "",
    );
    table.row(
        "Ceiling: Mattermost POST /api/v4/posts",
        format!(
            "{mm_post_ceiling:.0}/s (bridge at {})",
            ratio(mm_post_ceiling)
        ),
        "",
        "",
    );
    table.row(
        "Ceiling: Graph change notifications dispatched",
        format!(
            "{dispatch_ceiling:.0}/s (bridge at {})",
            ratio(dispatch_ceiling)
        ),
        "",
        "",
    );
    println!();
    table.print();
    println!(
        "\n{n} users, store {}, total run {:.0} s",
        if pg.is_some() { "PostgreSQL" } else { "SQLite" },
        secs(overall.elapsed())
    );
    if settings.keep_dir {
        let kept = dir.keep();
        println!("service directory kept: {}", kept.display());
    }
    drop(pg);
}
