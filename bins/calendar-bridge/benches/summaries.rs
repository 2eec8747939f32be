//! Load benchmark of the daily summaries: 10,000 connected users whose summary falls due in the
//! same minute, the release `calendar-bridge serve` process between the Microsoft Graph and
//! Mattermost emulators (both in this process).
//!
//! Run with `cargo bench -p calendar-bridge --bench summaries`. Phases:
//!
//! 1. set-up: users on both sides, each with `BENCH_EVENTS` events today (4 time zones east and
//!    west of UTC), links, settings (summary on at the local minute of the due instant, reminders
//!    and status sync off) and mailbox time zones written straight to the store;
//! 2. the service starts and creates its event subscriptions (one per user) before the due
//!    instant, `BENCH_LEAD_SECS` (240) after the set-up;
//! 3. at the due instant every summary is due: the DMs are counted at the Mattermost emulator
//!    until all have arrived (or `BENCH_WAIT_SECS`, 180, passed), and the Graph requests made
//!    meanwhile are counted at the Graph emulator.
//!
//! Targets (issue 6): every summary within 60 s of the due minute, at most one Graph request per
//! 20 users. Settings: `BENCH_USERS` (10000), `BENCH_EVENTS` (2), `BENCH_LEAD_SECS`,
//! `BENCH_WAIT_SECS`, `BENCH_TICK` (the service's `calendar.tick_interval`, default 15 as
//! shipped), `BENCH_KEEP_DIR` (1 keeps the service's directory and log).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone as _, Timelike, Utc};
use e2e_support::{Service, ServiceConfig, free_port, proc_memory_mb};
use graph_emulator::{AppRegistration, EmulatorOptions, GraphEmulator, NewEvent, NewUser};
use mm_emulator::{MattermostEmulator, NewCommand, NewUser as MmUser};
use secrecy::{ExposeSecret, SecretString};
use store::{EncryptionKey, NewLink, Store, StoreOptions, TokenSealer};
use teams_graph::TokenSet;

const BIN: &str = env!("CARGO_BIN_EXE_calendar-bridge");
const CLIENT_ID: &str = "0d8f3b2a-5c1e-4f7a-9b6d-2e4c8a1f3b5d";
const CLIENT_SECRET: &str = "bench-client-secret-VALUE";
const ENCRYPTION_KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const WEBHOOK_SECRET: &str = "bench-webhook-secret-0123456789";
const MM_POSTS: &str = "POST /api/v4/posts";
/// (IANA zone the store holds, Windows name the mailbox says).
const ZONES: [(&str, &str); 4] = [
    ("Europe/Berlin", "W. Europe Standard Time"),
    ("America/New_York", "Eastern Standard Time"),
    ("Asia/Kolkata", "India Standard Time"),
    ("Pacific/Auckland", "New Zealand Standard Time"),
];

const TARGET_SECS: f64 = 60.0;
const TARGET_USERS_PER_REQUEST: f64 = 20.0;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if runtime.block_on(run()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run() -> bool {
    let users: usize = env_or("BENCH_USERS", 10_000);
    let events_per_user: usize = env_or("BENCH_EVENTS", 2);
    let lead = Duration::from_secs(env_or("BENCH_LEAD_SECS", 240));
    let wait = Duration::from_secs(env_or("BENCH_WAIT_SECS", 180));
    let tick: u64 = env_or("BENCH_TICK", 15);
    println!(
        "calendar-bridge summary benchmark: {users} users, {events_per_user} events each, tick {tick} s, binary {BIN}"
    );
    let overall = Instant::now();

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
    let bot = mattermost
        .create_bot("mscalendar", "Microsoft Calendar")
        .expect("bot");
    let command = mattermost
        .register_command(
            &admin.id,
            NewCommand::new("mscalendar", &format!("{public_url}/mattermost/command")),
        )
        .expect("command");
    // The due instant: the start of a whole minute far enough ahead for the set-up and the
    // service's subscriptions.
    let setup_budget = TimeDelta::from_std(lead).expect("lead");
    let due = {
        let at = Utc::now() + setup_budget;
        at - TimeDelta::seconds(i64::from(at.second()))
            - TimeDelta::nanoseconds(i64::from(at.nanosecond()))
            + TimeDelta::minutes(1)
    };
    let mut people = Vec::with_capacity(users);
    for i in 0..users {
        let (iana, windows) = ZONES[i % ZONES.len()];
        let mail = format!("user{i}@contoso.com");
        let ms = graph.add_user(NewUser::new(&format!("User {i}"), &mail));
        graph.set_mailbox_time_zone(&ms.id, windows);
        let mm = mattermost
            .create_user(MmUser::new(&format!("user{i}"), &mail))
            .expect("mm user");
        // Events on the user's local day of the due instant (whatever the time of day the bench
        // runs at): from 9 AM local time, an hour apart.
        let tz: chrono_tz::Tz = iana.parse().expect("zone");
        let local_day = due.with_timezone(&tz).date_naive();
        let nine = tz
            .from_local_datetime(&local_day.and_hms_opt(9, 0, 0).expect("9 AM"))
            .earliest()
            .expect("9 AM exists")
            .with_timezone(&Utc);
        for e in 0..events_per_user {
            let start = nine + TimeDelta::hours(e as i64);
            let mut event = NewEvent::meeting(&ms.id, &format!("Meeting {e} of user {i}"), start);
            event.end = start + TimeDelta::minutes(30);
            event.time_zone = windows.into();
            event.location = Some(format!("Room {e}"));
            graph.add_event(event);
        }
        people.push((mm.id, ms.id, iana));
    }
    println!(
        "tenant: {users} users on both sides in {} zones, {} events, in {:.1} s",
        ZONES.len(),
        users * events_per_user,
        secs(phase.elapsed())
    );

    // ---- The store: links, settings and zones written directly, sealed as the service seals.
    let phase = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let store_url = format!("sqlite://{}/bridge.db", dir.path().display());
    {
        let store = Store::connect(&store_url, &StoreOptions::default())
            .await
            .expect("open store");
        store.migrate().await.expect("migrate");
        let sealer = TokenSealer::new(
            EncryptionKey::from_base64(ENCRYPTION_KEY).expect("key"),
            vec![],
        );
        let now = Utc::now();
        let expires_at = now + TimeDelta::minutes(55);
        for (i, (mm_id, ms_id, iana)) in people.iter().enumerate() {
            let tokens = TokenSet {
                access_token: SecretString::from(graph.user_token(CLIENT_ID, ms_id)),
                refresh_token: None,
                expires_at,
                scopes: vec!["Calendars.ReadWrite".into(), "offline_access".into()],
            };
            let json = tokens.to_json().expect("token json");
            let sealed = sealer
                .seal(
                    json.expose_secret().as_bytes(),
                    &store::link_token_context(mm_id),
                )
                .expect("seal");
            let login = format!("user{i}@contoso.com");
            store
                .link_account(&NewLink {
                    mm_user_id: mm_id,
                    teams_user_id: ms_id,
                    teams_login: &login,
                    token: &sealed,
                    token_expires_at: Some(expires_at),
                    now,
                })
                .await
                .expect("link");
            let tz: chrono_tz::Tz = iana.parse().expect("zone");
            let mut settings = calendar_core::UserSettings::default();
            settings.summary.enabled = true;
            settings.summary.time = due.with_timezone(&tz).time();
            settings.summary.weekdays = calendar_core::summary::Weekdays::all();
            settings.reminders = false;
            let settings = serde_json::to_string(&settings).expect("settings json");
            store
                .set_preference(mm_id, "calendar.settings", &settings, now)
                .await
                .expect("settings");
            store
                .set_preference(mm_id, "calendar.time_zone", iana, now)
                .await
                .expect("zone");
            store
                .set_preference(
                    mm_id,
                    "calendar.time_zone_checked_at",
                    &now.to_rfc3339(),
                    now,
                )
                .await
                .expect("zone checked");
        }
        store.close().await;
    }
    println!(
        "store: {users} links with settings in {:.1} s",
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
        microsoft_extra: "graph_rate_limit = 0".into(),
        rest: format!("[calendar]\ntick_interval = {tick}\n\n[log]\nlevel = \"info\""),
    };
    std::fs::write(dir.path().join("calendar-bridge.toml"), config.render()).expect("write config");
    let service = Service::spawn(BIN, dir.path(), "calendar-bridge.toml");
    let pid = service.pid();
    let phase = Instant::now();
    let notification_url = format!("{public_url}/graph/notifications");
    loop {
        let n = graph
            .subscriptions()
            .iter()
            .filter(|s| s.notification_url == notification_url)
            .count();
        if n >= users {
            break;
        }
        if Utc::now() >= due - TimeDelta::seconds(5) {
            println!("warning: only {n} of {users} event subscriptions before the due instant");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "service: {users} event subscriptions after {:.1} s; RSS {:.1} MB",
        secs(phase.elapsed()),
        proc_memory_mb(pid, "VmRSS").unwrap_or(0.0)
    );
    let early = mattermost
        .request_counts()
        .get(MM_POSTS)
        .copied()
        .unwrap_or(0);
    if early > 0 {
        println!("warning: {early} posts before the due instant");
    }

    // ---- The due minute.
    let until_due = (due - Utc::now()).to_std().unwrap_or_default();
    println!("waiting {:.1} s for the due instant {due}", secs(until_due));
    tokio::time::sleep(until_due.saturating_sub(Duration::from_secs(1))).await;
    graph.reset_request_counts();
    mattermost.reset_counters();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut first: Option<Duration> = None;
    let mut last_count = 0;
    let mut done: Option<Duration> = None;
    let mut rss_peak: f64 = 0.0;
    while started.elapsed() < wait {
        let posts = mattermost
            .request_counts()
            .get(MM_POSTS)
            .copied()
            .unwrap_or(0) as usize;
        if posts > 0 && first.is_none() {
            first = Some(started.elapsed());
        }
        if posts != last_count {
            last_count = posts;
        }
        rss_peak = rss_peak.max(proc_memory_mb(pid, "VmRSS").unwrap_or(0.0));
        if posts >= users {
            done = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Late duplicates would show up here.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posts = mattermost
        .request_counts()
        .get(MM_POSTS)
        .copied()
        .unwrap_or(0) as usize;
    let counts = graph.request_counts();
    let graph_total = graph.requests_on_the_wire();
    let batches = counts.get("POST /v1.0/$batch").copied().unwrap_or(0);
    let mut summaries = 0usize;
    let mut with_events = 0usize;
    for (mm_id, _, _) in people.iter().take(200) {
        for post in mattermost.direct_messages_to(mm_id) {
            if post.message.contains("Your daily summary") {
                summaries += 1;
                if post.message.contains("Meeting 0 of user") {
                    with_events += 1;
                }
            }
        }
    }
    let hwm = proc_memory_mb(pid, "VmHWM").unwrap_or(0.0);
    let service_log = service.log_tail(30);
    drop(service);

    let all_secs = done.map(secs);
    let per_request = if graph_total > 0 {
        posts as f64 / graph_total as f64
    } else {
        f64::INFINITY
    };
    println!(
        "\nGraph requests in the summary window (\"{}\" ran inside `$batch`es): {counts:?}",
        graph_emulator::BATCH_ITEMS_KEY
    );
    println!("\n| Measure | Value | Target | Met |\n|---|---|---|---|");
    let met_time = all_secs.is_some_and(|s| s <= TARGET_SECS) && posts == users;
    println!(
        "| Summaries sent (DMs at the Mattermost emulator) | {posts} of {users} | all, once | {} |",
        if posts == users { "yes" } else { "no" }
    );
    println!(
        "| Time from the due minute to the last summary | {} (first after {:.1} s) | <= 60 s | {} |",
        all_secs.map_or("not all sent".to_owned(), |s| format!("{s:.1} s")),
        first.map(secs).unwrap_or(f64::NAN),
        if met_time { "yes" } else { "no" }
    );
    println!(
        "| Graph requests | {graph_total} ({batches} `$batch`), {per_request:.1} users a request | >= 20 users a request | {} |",
        if per_request >= TARGET_USERS_PER_REQUEST {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "| Summaries checked (first 200 users): one each, listing their events | {summaries} summaries, {with_events} with events | 200, 200 | {} |",
        if summaries == 200.min(users) && with_events == summaries {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "| Peak RSS of the service | {hwm:.1} MB (sampled in the window {rss_peak:.1} MB) |  |  |"
    );
    println!(
        "\n{users} users, store SQLite, tick {tick} s, total run {:.0} s",
        secs(overall.elapsed())
    );
    if std::env::var("BENCH_KEEP_DIR").is_ok_and(|v| v == "1") {
        let kept = dir.keep();
        println!("kept {}", kept.display());
    }
    if !met_time {
        println!("service log tail:\n{service_log}");
    }
    met_time && per_request >= TARGET_USERS_PER_REQUEST
}
