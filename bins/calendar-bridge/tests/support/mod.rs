//! The harness of the calendar end-to-end tests: the real `calendar-bridge serve` process between
//! the Mattermost and Microsoft Graph emulators, with a seeded tenant on both sides (modelled on
//! `bins/teams-bridge/tests/support`).
//!
//! Every test starts its own bridge (its own emulators, store and port), so tests run in
//! parallel. The service ticks every second (`[calendar] tick_interval = 1`), refreshes tokens
//! every second and is not rate limited towards Graph.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use graph_emulator::{AppRegistration, EmulatorOptions, GraphEmulator, NewEvent, NewUser};
use mm_emulator::{ChannelType, MattermostEmulator, NewUser as MmUser, Post};
use serde_json::Value;
use store::{Store, StoreOptions};

pub use e2e_support::{
    PgDatabase, Service, ServiceConfig, eventually, free_port, location,
    markdown_link as connect_link,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_calendar-bridge");
pub const CLIENT_ID: &str = "5b1d7c3e-2a4f-4e8b-9c6d-1f3a5e7b9d2c";
pub const CLIENT_SECRET: &str = "calendar-e2e-client-secret-VALUE";
pub const ENCRYPTION_KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
pub const WEBHOOK_SECRET: &str = "calendar-e2e-webhook-secret-0123";
/// The Microsoft user who organizes meetings for others (no Mattermost account).
pub const ORGANIZER: &str = "olivia";

/// The service's configuration file in its directory.
const CONFIG_FILE: &str = "calendar-bridge.toml";

/// One person with an account on both sides (same address).
#[derive(Debug, Clone)]
pub struct Person {
    pub mm_id: String,
    pub ms_id: String,
}

/// How to start a bridge.
#[derive(Debug, Clone)]
pub struct Options {
    /// People with accounts on both sides (`<name>@contoso.com`); none is connected yet.
    pub people: Vec<&'static str>,
    /// People (of `people`) listed in `[calendar] admin_user_ids`.
    pub admins: Vec<&'static str>,
    /// Lifetime of the access tokens the identity platform issues.
    pub token_lifetime: TimeDelta,
    /// `microsoft.token_refresh_margin` in seconds (the service's default when `None`).
    pub refresh_margin: Option<u64>,
    /// `calendar.admin_log_level` (off when `None`).
    pub admin_log: Option<&'static str>,
    /// The store (a PostgreSQL database, for replica tests); SQLite in the test's directory when
    /// `None`.
    pub store_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            people: vec!["alice", "bob"],
            admins: Vec::new(),
            token_lifetime: TimeDelta::seconds(3599),
            refresh_margin: None,
            admin_log: None,
            store_url: None,
        }
    }
}

impl Options {
    pub fn people(people: &[&'static str]) -> Self {
        Self {
            people: people.to_vec(),
            ..Self::default()
        }
    }
}

pub struct Bridge {
    pub graph: GraphEmulator,
    pub mattermost: MattermostEmulator,
    pub service: Service,
    pub dir: tempfile::TempDir,
    pub public_url: String,
    pub store_url: String,
    pub people: BTreeMap<&'static str, Person>,
    /// The organizer's Microsoft id.
    pub organizer_ms: String,
    /// A Mattermost system admin (its token is `mattermost.admin_token`).
    pub sysadmin_mm: String,
    pub bot_mm: String,
    pub channel: String,
    pub http: reqwest::Client,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.service.kill();
        // `CALENDAR_E2E_LOGS=<dir>` keeps every bridge's log there (the test's port names it).
        if let Some(dir) = std::env::var_os("CALENDAR_E2E_LOGS") {
            let name = self.public_url.rsplit(':').next().unwrap_or("bridge");
            let _ = std::fs::copy(
                self.dir.path().join("service.log"),
                Path::new(&dir).join(format!("calendar-{name}.log")),
            );
        }
    }
}

impl Bridge {
    pub async fn start(options: Options) -> Self {
        let listen = free_port();
        let public_url = format!("http://{listen}");
        let graph = GraphEmulator::start_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            EmulatorOptions {
                access_token_lifetime: options.token_lifetime,
                delivery_timeout: Duration::from_secs(3),
                retry_delays: vec![Duration::from_millis(500), Duration::from_secs(1)],
                ..EmulatorOptions::default()
            },
        )
        .await
        .expect("graph emulator");
        graph.register_app(AppRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uris: vec![format!("{public_url}/oauth/redirect")],
            display_name: "calendar e2e".into(),
        });
        let organizer_ms = graph
            .add_user(NewUser::new("Olivia Organizer", "olivia@contoso.com"))
            .id;

        let mattermost = MattermostEmulator::start().await.expect("mm emulator");
        let sysadmin = mattermost
            .create_user(MmUser::new("sysadmin", "sysadmin@example.com"))
            .expect("admin");
        mattermost
            .make_system_admin(&sysadmin.id)
            .expect("make admin");
        let admin_token = mattermost
            .create_token(&sysadmin.id, "e2e")
            .expect("token")
            .token;
        let bot = mattermost
            .create_bot("mscalendar", "Microsoft 365 Calendar")
            .expect("bot");
        let channel = mattermost
            .create_channel(
                &sysadmin.id,
                "town-square",
                "Town Square",
                ChannelType::Open,
            )
            .expect("channel");
        let mut people = BTreeMap::new();
        for name in &options.people {
            let mail = format!("{name}@contoso.com");
            let mut display = name.to_string();
            display[..1].make_ascii_uppercase();
            let ms = graph.add_user(NewUser::new(&format!("{display} Example"), &mail));
            let mm = mattermost
                .create_user(MmUser::new(name, &mail))
                .expect("mm user");
            mattermost
                .add_channel_member(&channel.id, &mm.id)
                .expect("member");
            people.insert(
                *name,
                Person {
                    mm_id: mm.id,
                    ms_id: ms.id,
                },
            );
        }
        let admin_ids: Vec<String> = options
            .admins
            .iter()
            .map(|name| format!("\"{}\"", people[name].mm_id))
            .collect();
        let margin = options
            .refresh_margin
            .map(|m| format!("token_refresh_margin = {m}"))
            .unwrap_or_default();

        let dir = tempfile::tempdir().expect("tempdir");
        let store_url = options
            .store_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/calendar.db", dir.path().display()));
        let config = ServiceConfig {
            listen: listen.to_string(),
            public_url: public_url.clone(),
            store_url: store_url.clone(),
            encryption_key: ENCRYPTION_KEY.into(),
            mattermost_url: mattermost.site_url().to_string(),
            bot_token: bot.token.clone(),
            mattermost_extra: format!("admin_token = \"{admin_token}\""),
            tenant_id: graph.tenant_id().to_string(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
            graph_url: graph.graph_url().to_string(),
            login_url: graph.login_url().to_string(),
            microsoft_extra: format!("token_refresh_interval = 1\ngraph_rate_limit = 0\n{margin}"),
            rest: format!(
                r#"[calendar]
tick_interval = 1
admin_user_ids = [{admin_ids}]
admin_log_level = "{admin_log}"

[log]
level = "info,bridge_service=debug"
"#,
                admin_ids = admin_ids.join(", "),
                admin_log = options.admin_log.unwrap_or("off"),
            ),
        };
        std::fs::write(dir.path().join(CONFIG_FILE), config.render()).expect("write config");
        let service = Service::spawn(BIN, dir.path(), CONFIG_FILE);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let bridge = Self {
            graph,
            mattermost,
            service,
            dir,
            public_url,
            store_url,
            people,
            organizer_ms,
            sysadmin_mm: sysadmin.id,
            bot_mm: bot.bot.user_id.clone(),
            channel: channel.id,
            http,
        };
        bridge.wait_ready().await;
        bridge.wait_for_command().await;
        bridge
    }

    pub fn person(&self, name: &str) -> &Person {
        self.people
            .get(name)
            .unwrap_or_else(|| panic!("no person {name}"))
    }

    pub fn mm(&self, name: &str) -> &str {
        &self.person(name).mm_id
    }

    pub fn ms(&self, name: &str) -> &str {
        &self.person(name).ms_id
    }

    /// Kills the service (SIGKILL: no shutdown) and leaves it down.
    pub fn kill(&mut self) {
        self.service.kill();
    }

    /// Starts the service again on the same configuration and store; waits until it is ready.
    pub async fn restart(&mut self) {
        self.service.respawn();
        self.wait_ready().await;
    }

    pub fn log(&self) -> String {
        self.service.log()
    }

    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.public_url);
        e2e_support::wait_for_ok(
            &self.http,
            &url,
            Duration::from_secs(30),
            "service not ready",
            &self.service,
        )
        .await;
    }

    /// Another `serve` process on the same configuration, store and public URL (replicas behind
    /// one load balancer: Graph and Mattermost call the first one), on its own port. Returns it
    /// once it is ready.
    pub async fn start_replica(&self) -> Service {
        let (replica, listen) = Service::spawn_replica(BIN, self.dir.path(), CONFIG_FILE);
        e2e_support::wait_for_ok(
            &self.http,
            &format!("http://{listen}/readyz"),
            Duration::from_secs(30),
            "replica not ready",
            &replica,
        )
        .await;
        replica
    }

    /// Waits until the service registered `/mscalendar` with the admin token.
    async fn wait_for_command(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self
                .mattermost
                .run_slash_command(&self.sysadmin_mm, &self.channel, "/mscalendar help")
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/mscalendar never registered; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.store_url, &StoreOptions::default())
            .await
            .expect("open store")
    }

    /// Types `/mscalendar <args>` as `name` (a person, or a Mattermost user id) and returns the
    /// private reply's text and its post.
    pub async fn slash(&self, name: &str, args: &str) -> (String, Post) {
        let user = self.people.get(name).map_or(name, |p| p.mm_id.as_str());
        let outcome = self
            .mattermost
            .run_slash_command(user, &self.channel, &format!("/mscalendar {args}"))
            .await
            .unwrap_or_else(|e| panic!("/mscalendar {args}: {e}; log:\n{}", self.log()));
        let post = outcome
            .ephemeral
            .last()
            .unwrap_or_else(|| panic!("no ephemeral reply to /mscalendar {args}: {outcome:?}"))
            .clone();
        (post.message.clone(), post)
    }

    /// Posts `/mscalendar <text>` to the service directly with `token` (or none); returns the
    /// status and body.
    pub async fn slash_with_token(
        &self,
        user: &str,
        text: &str,
        token: Option<&str>,
    ) -> (u16, String) {
        let mut form = vec![
            ("user_id", user),
            ("channel_id", self.channel.as_str()),
            ("command", "/mscalendar"),
            ("text", text),
        ];
        if let Some(token) = token {
            form.push(("token", token));
        }
        let response = self
            .http
            .post(format!("{}/mattermost/command", self.public_url))
            .form(&form)
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Follows the connect link from a `/mscalendar connect` reply through the Graph emulator's
    /// sign-in as `ms_user`; returns the final page's status and HTML.
    pub async fn sign_in(&self, reply: &str, ms_user: &str) -> (u16, String) {
        let link = connect_link(reply);
        self.graph.sign_in_as(Some(ms_user));
        let to_microsoft = self.http.get(&link).send().await.expect("connect");
        assert_eq!(to_microsoft.status(), 303, "connect redirects to Microsoft");
        let authorize = location(&to_microsoft);
        let back = self.http.get(&authorize).send().await.expect("authorize");
        assert_eq!(back.status(), 302, "authorize redirects back");
        let redirect = location(&back);
        let page = self.http.get(&redirect).send().await.expect("page");
        let status = page.status().as_u16();
        (status, page.text().await.expect("html"))
    }

    /// Connects `name` through the real sign-in; returns the welcome DM once it came. Does not
    /// wait for the subscription.
    pub async fn connect(&self, name: &str) -> Post {
        let (reply, _) = self.slash(name, "connect").await;
        let (status, html) = self.sign_in(&reply, self.ms(name)).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("connected"), "{html}");
        self.wait_dm(name, 10, |p| p.message.contains("now connected"))
            .await
    }

    /// Connects `name` and waits until the service holds their event subscription at Graph and
    /// knows their mailbox's time zone, so that calendar changes reach it from now on.
    pub async fn connect_ready(&self, name: &str) -> Post {
        let welcome = self.connect(name).await;
        self.wait_for_subscription(name).await;
        self.wait_for_time_zone(name).await;
        welcome
    }

    /// The event subscription of `name` at the Graph emulator, once it exists.
    pub async fn wait_for_subscription(&self, name: &str) -> graph_emulator::SubscriptionInfo {
        let resource = format!("/users/{}/events", self.ms(name));
        let mut found = None;
        let held = eventually(15, || {
            found = self
                .graph
                .subscriptions()
                .into_iter()
                .find(|s| s.resource == resource);
            let ok = found.is_some();
            async move { ok }
        })
        .await;
        assert!(
            held,
            "no event subscription for {name}; log:\n{}",
            self.log()
        );
        found.expect("subscription")
    }

    /// The subscriptions at the Graph emulator for `name`'s events.
    pub fn subscriptions_of(&self, name: &str) -> Vec<graph_emulator::SubscriptionInfo> {
        let resource = format!("/users/{}/events", self.ms(name));
        self.graph
            .subscriptions()
            .into_iter()
            .filter(|s| s.resource == resource)
            .collect()
    }

    /// Waits until the service stored `name`'s mailbox time zone; returns it.
    pub async fn wait_for_time_zone(&self, name: &str) -> String {
        let store = self.store().await;
        let mm_id = self.mm(name).to_owned();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(tz) = store
                .preference(&mm_id, "calendar.time_zone")
                .await
                .expect("preference")
            {
                store.close().await;
                return tz;
            }
            assert!(
                Instant::now() < deadline,
                "no time zone learnt for {name}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bot's DMs to `name`, oldest first (as they are now: updates included).
    pub fn dms(&self, name: &str) -> Vec<Post> {
        let user = self.people.get(name).map_or(name, |p| p.mm_id.as_str());
        let mut dms: Vec<Post> = self
            .mattermost
            .direct_messages_to(user)
            .into_iter()
            .filter(|p| p.user_id == self.bot_mm)
            .collect();
        dms.sort_by_key(|p| p.create_at);
        dms
    }

    /// The bot's DMs to `name` that `matching` accepts.
    pub fn dms_matching(&self, name: &str, matching: impl Fn(&Post) -> bool) -> Vec<Post> {
        self.dms(name).into_iter().filter(|p| matching(p)).collect()
    }

    /// The first DM to `name` that `matching` accepts, within `secs`.
    pub async fn wait_dm(&self, name: &str, secs: u64, matching: impl Fn(&Post) -> bool) -> Post {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(post) = self.dms(name).into_iter().find(|p| matching(p)) {
                return post;
            }
            assert!(
                Instant::now() < deadline,
                "no matching DM to {name} within {secs} s; DMs: {:#?}\nlog:\n{}",
                self.dms(name)
                    .iter()
                    .map(|p| p.message.clone())
                    .collect::<Vec<_>>(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the button labelled `label` on `post` as `name`.
    pub async fn click(&self, name: &str, post: &Post, label: &str) -> mm_emulator::ActionOutcome {
        let user = self.people.get(name).map_or(name, |p| p.mm_id.as_str());
        let (id, _) = buttons(post)
            .into_iter()
            .find(|(_, l)| l == label)
            .unwrap_or_else(|| panic!("no button {label} on {post:#?}"));
        self.mattermost
            .click_button(user, &post.id, &id)
            .await
            .unwrap_or_else(|e| panic!("click {label}: {e}; log:\n{}", self.log()))
    }

    /// Posts a click to `/mattermost/action` directly, as Mattermost would, with `context`.
    pub async fn post_action(&self, user: &str, post_id: &str, context: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/mattermost/action", self.public_url))
            .json(&serde_json::json!({
                "user_id": user,
                "post_id": post_id,
                "channel_id": "",
                "team_id": "",
                "type": "button",
                "context": context,
            }))
            .send()
            .await
            .expect("action");
        assert_eq!(response.status(), 200);
        response.json().await.expect("action json")
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.public_url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of one sample of `/metrics` (`None` when absent).
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        e2e_support::metric(&self.metrics().await, sample)
    }

    /// A meeting organized by the organizer with `attendees` (people's names), as
    /// `NewEvent::meeting` makes it (busy, reminder 15 minutes).
    pub fn invite(
        &self,
        attendees: &[&str],
        subject: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> graph_emulator::CalendarEvent {
        let mut event = NewEvent::meeting(&self.organizer_ms, subject, start);
        event.end = end;
        event.attendees = attendees.iter().map(|a| self.ms(a).to_owned()).collect();
        self.graph.add_event(event)
    }

    /// `name`'s copy of the meeting `ical_uid`.
    pub fn copy_of(&self, name: &str, ical_uid: &str) -> graph_emulator::CalendarEvent {
        self.graph
            .events(self.ms(name))
            .into_iter()
            .find(|e| e.ical_uid == ical_uid)
            .unwrap_or_else(|| panic!("{name} has no copy of {ical_uid}"))
    }

    /// `name` answers the meeting `ical_uid` in Outlook (`accept`, `tentativelyAccept` or
    /// `decline`), telling the organizer.
    pub async fn answer_in_outlook(&self, name: &str, ical_uid: &str, answer: &str) {
        let copy = self.copy_of(name, ical_uid);
        let token = self.graph.user_token(CLIENT_ID, self.ms(name));
        let response = self
            .http
            .post(format!(
                "{}/me/events/{}/{answer}",
                self.graph.graph_url(),
                copy.id
            ))
            .bearer_auth(token)
            .json(&serde_json::json!({"sendResponse": true}))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 202, "{answer} {ical_uid} as {name}");
    }

    /// The Mattermost status of `name` (`online`, `dnd`, ...).
    pub fn status(&self, name: &str) -> String {
        self.mattermost.status(self.mm(name)).status
    }

    /// The custom status text of `name`, if any.
    pub fn custom_status(&self, name: &str) -> Option<String> {
        self.mattermost
            .custom_status(self.mm(name))
            .expect("custom status")
            .map(|c| c.text)
    }
}

/// The buttons of a post: (action id, label).
pub fn buttons(post: &Post) -> Vec<(String, String)> {
    post.props
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["id"].as_str().unwrap_or("").to_owned(),
                a["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The sealed context of the button labelled `label`.
pub fn button_context(post: &Post, label: &str) -> Value {
    post.props
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .find(|a| a["name"] == label)
        .map(|a| a["integration"]["context"].clone())
        .unwrap_or_else(|| panic!("no button {label}"))
}

/// Now, to the whole second (Graph times in the tests stay simple).
pub fn now_s() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now")
}

impl Bridge {
    /// What the service stores about `name` (calendar preferences and schedules), for failure
    /// messages.
    pub async fn state_of(&self, name: &str) -> String {
        let store = self.store().await;
        let mm_id = self.mm(name);
        let prefs = store.preferences(mm_id).await.expect("preferences");
        let summary = store.schedule(mm_id, "calendar.summary").await;
        let watch = store.schedule(mm_id, "calendar.watch").await;
        store.close().await;
        let raw = std::process::Command::new("sqlite3")
            .arg(self.dir.path().join("calendar.db"))
            .arg("select mm_user_id, name, substr(value,1,200) from user_preferences; select * from user_schedules;")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        format!(
            "{name} ({mm_id}): prefs {prefs:#?}\nsummary {summary:?}\nwatch {watch:?}\nraw:\n{raw}"
        )
    }
}
