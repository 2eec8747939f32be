//! The harness of the end-to-end tests: the real `teams-bridge serve` process between the
//! Mattermost and Microsoft Graph emulators, with a seeded tenant on both sides.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use graph_emulator::{AppRegistration, EmulatorOptions, GraphEmulator, NewUser};
use mm_emulator::{ChannelType, MattermostEmulator, NewCommand, NewUser as MmUser};
use serde_json::Value;
use store::{Store, StoreOptions};

pub use e2e_support::{
    PgDatabase, Service, ServiceConfig, eventually, free_port, location,
    markdown_link as connect_link,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_teams-bridge");
pub const CLIENT_ID: &str = "0d8f3b2a-5c1e-4f7a-9b6d-2e4c8a1f3b5d";
pub const CLIENT_SECRET: &str = "e2e-client-secret-VALUE";
pub const ENCRYPTION_KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

/// The service's configuration file in its directory.
const CONFIG_FILE: &str = "teams-bridge.toml";

/// What a test needs to know about one side's user.
#[derive(Debug, Clone)]
pub struct Person {
    pub mm_id: String,
    pub ms_id: String,
}

pub struct Bridge {
    pub graph: GraphEmulator,
    pub mattermost: MattermostEmulator,
    pub service: Service,
    pub dir: tempfile::TempDir,
    pub public_url: String,
    pub store_url: String,
    pub alice: Person,
    pub bob: Person,
    /// Microsoft account whose address matches no Mattermost user.
    pub mallory_ms: String,
    pub admin_mm: String,
    pub bot_mm: String,
    pub channel: String,
    pub command_token: String,
    pub http: reqwest::Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandSetup {
    /// The admin registered `/msteams` by hand and configured `command_token`.
    ByHand,
    /// Only `admin_token` is configured: the service registers the command itself.
    ByService,
    /// As `ByService`, but another integration already owns `/msteams` in the team.
    TakenByAnother,
}

impl Bridge {
    pub async fn start(setup: CommandSetup) -> Self {
        Self::start_with(setup, TimeDelta::seconds(3599)).await
    }

    pub async fn start_with(setup: CommandSetup, token_lifetime: TimeDelta) -> Self {
        Self::start_custom(
            setup,
            EmulatorOptions {
                access_token_lifetime: token_lifetime,
                ..EmulatorOptions::default()
            },
        )
        .await
    }

    pub async fn start_custom(setup: CommandSetup, options: EmulatorOptions) -> Self {
        Self::start_full(setup, options, None, "").await
    }

    /// A bridge whose store is `store_url` (a PostgreSQL database, for replica tests).
    pub async fn start_on_store(setup: CommandSetup, store_url: &str) -> Self {
        Self::start_full(
            setup,
            EmulatorOptions::default(),
            Some(store_url.to_owned()),
            "graph_rate_limit = 0",
        )
        .await
    }

    /// The most general start: emulator options, a store (SQLite in the test's directory when
    /// `None`) and extra `[microsoft]` settings (TOML lines).
    pub async fn start_full(
        setup: CommandSetup,
        options: EmulatorOptions,
        store_url: Option<String>,
        extra_microsoft: &str,
    ) -> Self {
        let listen = free_port();
        let public_url = format!("http://{listen}");
        let graph = GraphEmulator::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), options)
            .await
            .expect("graph emulator");
        graph.register_app(AppRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uris: vec![format!("{public_url}/oauth/redirect")],
            display_name: "bridge e2e".into(),
        });
        let ms_alice = graph.add_user(NewUser::new("Alice Smith", "alice@contoso.com"));
        let ms_bob = graph.add_user(NewUser::new("Bob Jones", "bob@contoso.com"));
        let ms_mallory = graph.add_user(NewUser::new("Mallory Moe", "mallory@contoso.com"));

        let mattermost = MattermostEmulator::start().await.expect("mm emulator");
        let admin = mattermost
            .create_user(MmUser::new("admin", "admin@example.com"))
            .expect("admin");
        mattermost.make_system_admin(&admin.id).expect("make admin");
        let admin_token = mattermost
            .create_token(&admin.id, "e2e")
            .expect("token")
            .token;
        let bot = mattermost.create_bot("msteams", "MS Teams").expect("bot");
        let alice = mattermost
            .create_user(MmUser::new("alice", "Alice@Contoso.com"))
            .expect("alice");
        let bob = mattermost
            .create_user(MmUser::new("bob", "bob@contoso.com"))
            .expect("bob");
        let channel = mattermost
            .create_channel(&admin.id, "town-square", "Town Square", ChannelType::Open)
            .expect("channel");
        for user in [&alice.id, &bob.id] {
            mattermost
                .add_channel_member(&channel.id, user)
                .expect("member");
        }

        let command_url = format!("{public_url}/mattermost/command");
        let (command_token, mattermost_settings) = match setup {
            CommandSetup::ByHand => {
                let command = mattermost
                    .register_command(&admin.id, NewCommand::new("msteams", &command_url))
                    .expect("command");
                (
                    command.token.clone(),
                    format!("command_token = \"{}\"", command.token),
                )
            }
            CommandSetup::ByService => (String::new(), format!("admin_token = \"{admin_token}\"")),
            CommandSetup::TakenByAnother => {
                mattermost
                    .register_command(
                        &admin.id,
                        NewCommand::new("msteams", "http://127.0.0.1:9/other-integration"),
                    )
                    .expect("other command");
                (String::new(), format!("admin_token = \"{admin_token}\""))
            }
        };

        let dir = tempfile::tempdir().expect("tempdir");
        let store_url =
            store_url.unwrap_or_else(|| format!("sqlite://{}/bridge.db", dir.path().display()));
        let config = ServiceConfig {
            listen: listen.to_string(),
            public_url: public_url.clone(),
            store_url: store_url.clone(),
            encryption_key: ENCRYPTION_KEY.into(),
            mattermost_url: mattermost.site_url().to_string(),
            bot_token: bot.token.clone(),
            mattermost_extra: mattermost_settings,
            tenant_id: graph.tenant_id().to_string(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            webhook_secret: "e2e-webhook-secret-0123456789".into(),
            graph_url: graph.graph_url().to_string(),
            login_url: graph.login_url().to_string(),
            microsoft_extra: format!(
                "billing_model = \"evaluation\"\ntoken_refresh_interval = 1\n{extra_microsoft}"
            ),
            rest: "[log]\nlevel = \"info,teams_bridge=debug\"".into(),
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
            alice: Person {
                mm_id: alice.id,
                ms_id: ms_alice.id,
            },
            bob: Person {
                mm_id: bob.id,
                ms_id: ms_bob.id,
            },
            mallory_ms: ms_mallory.id,
            admin_mm: admin.id,
            bot_mm: bot.bot.user_id.clone(),
            channel: channel.id,
            command_token,
            http,
        };
        bridge.wait_ready().await;
        bridge
    }

    /// Another `serve` process on the same configuration, store and public URL (as replicas behind
    /// one load balancer), listening on its own port. Returns it with its address once it answers.
    pub async fn start_replica(&self) -> (Service, String) {
        let (replica, listen) = Service::spawn_replica(BIN, self.dir.path(), CONFIG_FILE);
        let url = format!("http://{listen}");
        e2e_support::wait_for_ok(
            &self.http,
            &format!("{url}/healthz"),
            Duration::from_secs(30),
            "replica not up",
            &replica,
        )
        .await;
        (replica, url)
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
        e2e_support::wait_for_ok(
            &self.http,
            &format!("{}/readyz", self.public_url),
            Duration::from_secs(30),
            "service not ready",
            &self.service,
        )
        .await;
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.store_url, &StoreOptions::default())
            .await
            .expect("open store")
    }

    /// Types `/msteams <args>` as `user` and returns the private reply's text and its post.
    pub async fn slash(&self, user: &str, args: &str) -> (String, Value) {
        let outcome = self
            .mattermost
            .run_slash_command(user, &self.channel, &format!("/msteams {args}"))
            .await
            .unwrap_or_else(|e| panic!("/msteams {args}: {e}; log:\n{}", self.log()));
        let post = outcome
            .ephemeral
            .last()
            .unwrap_or_else(|| panic!("no ephemeral reply to /msteams {args}: {outcome:?}"));
        (
            post.message.clone(),
            serde_json::to_value(post).expect("post json"),
        )
    }

    /// Posts `/msteams <text>` to the service directly, as Mattermost would, with `token` (or
    /// none); returns the status and body.
    pub async fn slash_with_token(
        &self,
        user: &str,
        text: &str,
        token: Option<&str>,
    ) -> (u16, String) {
        let mut form = vec![
            ("user_id", user),
            ("channel_id", self.channel.as_str()),
            ("command", "/msteams"),
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

    /// Follows the connect link from a `/msteams connect` reply through the Graph emulator's
    /// sign-in as `ms_user`, and returns the final page's status and HTML.
    pub async fn sign_in(&self, reply: &str, ms_user: &str) -> (u16, String) {
        let link = connect_link(reply);
        self.graph.sign_in_as(Some(ms_user));
        let to_microsoft = self.http.get(&link).send().await.expect("connect");
        assert_eq!(to_microsoft.status(), 303, "connect redirects to Microsoft");
        let authorize = location(&to_microsoft);
        assert!(
            authorize.starts_with(self.graph.login_url().as_str()),
            "{authorize}"
        );
        assert!(
            authorize.contains("code_challenge_method=S256"),
            "{authorize}"
        );
        let back = self.http.get(&authorize).send().await.expect("authorize");
        assert_eq!(back.status(), 302);
        let redirect = location(&back);
        assert!(
            redirect.starts_with(&format!("{}/oauth/redirect", self.public_url)),
            "{redirect}"
        );
        self.get_page(&redirect).await
    }

    pub async fn get_page(&self, url: &str) -> (u16, String) {
        let page = self.http.get(url).send().await.expect("page");
        let status = page.status().as_u16();
        (status, page.text().await.expect("html"))
    }

    pub fn dms_to(&self, user: &str) -> Vec<mm_emulator::Post> {
        self.mattermost
            .direct_messages_to(user)
            .into_iter()
            .filter(|p| p.user_id == self.bot_mm)
            .collect()
    }

    pub async fn wait_for_dms(&self, user: &str, count: usize) -> Vec<mm_emulator::Post> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let dms = self.dms_to(user);
            if dms.len() >= count {
                return dms;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} DMs to {user}, got {dms:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn button_ids(post: &mm_emulator::Post) -> Vec<(String, String)> {
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

pub fn table_path(dir: &Path) -> PathBuf {
    dir.join("bridge.db")
}

pub async fn link_of(store: &Store, mm_user_id: &str) -> Option<store::AccountLink> {
    store.account_link(mm_user_id).await.expect("read the link")
}

pub async fn notifications_of(store: &Store, mm_user_id: &str) -> Option<String> {
    store
        .preference(mm_user_id, "notifications")
        .await
        .expect("read the preference")
}

/// Moves every stored sign-in state's expiry a minute into the past.
pub async fn age_states(store_url: &str) {
    let pool = sqlx::SqlitePool::connect(store_url).await.expect("pool");
    sqlx::query("UPDATE oauth_states SET expires_at = $1")
        .bind(chrono::Utc::now() - TimeDelta::minutes(1))
        .execute(&pool)
        .await
        .expect("age");
    pool.close().await;
}

impl Bridge {
    /// Links `person` through the real sign-in and turns their notifications on.
    pub async fn link_with_notifications(&self, person: &Person) {
        let (reply, _) = self.slash(&person.mm_id, "connect").await;
        let (status, html) = self.sign_in(&reply, &person.ms_id).await;
        assert_eq!(status, 200, "{html}");
        let (reply, _) = self.slash(&person.mm_id, "notifications on").await;
        assert!(reply.contains("on"), "{reply}");
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

    /// The value of one sample line of `/metrics` (0 when absent).
    pub async fn metric(&self, sample: &str) -> f64 {
        e2e_support::metric(&self.metrics().await, sample).unwrap_or(0.0)
    }

    /// Waits until the chat-message subscription exists at the Graph emulator.
    pub async fn wait_for_subscription(&self) -> graph_emulator::SubscriptionInfo {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) =
                self.graph.subscriptions().into_iter().find(|s| {
                    s.notification_url == format!("{}/graph/notifications", self.public_url)
                })
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no subscription; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
