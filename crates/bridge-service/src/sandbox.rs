//! `sandbox`: the whole service on this machine with no accounts anywhere. It starts the Microsoft
//! Graph and Mattermost emulators, seeds a demo tenant on both sides, opens a throwaway SQLite
//! store, and runs the real service against them until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use graph_emulator::{
    AppRegistration, ChatType, EmulatorOptions, GraphEmulator, NewEvent, NewMessage, NewUser,
    Presence, Recurrence, User,
};
use mm_emulator::{MattermostEmulator, NewCommand, NewUser as MmUser};
use secrecy::ExposeSecret as _;
use store::EncryptionKey;

#[path = "sandbox_calendar.rs"]
mod calendar_demo;

use crate::config::{self, LogConfig, LogFormat};
use crate::service::Service;
use crate::{Product, ServiceError, cli, server};

const CLIENT_ID: &str = "5a1d0b0e-0000-4000-8000-00000000b21d";
const CLIENT_SECRET: &str = "sandbox-client-secret";

/// Emulator ports tried first (so URLs are the same from one run to the next); a free port is
/// used when one is taken.
fn preferred_graph_port(product: Product) -> u16 {
    match product {
        Product::Teams => 9001,
        Product::Calendar => 9002,
    }
}

fn preferred_mattermost_port(product: Product) -> u16 {
    match product {
        Product::Teams => 8065,
        Product::Calendar => 8066,
    }
}

async fn start_mattermost(product: Product) -> Result<MattermostEmulator, ServiceError> {
    let preferred = SocketAddr::from(([127, 0, 0, 1], preferred_mattermost_port(product)));
    match MattermostEmulator::start_on(preferred).await {
        Ok(mattermost) => Ok(mattermost),
        Err(_) => MattermostEmulator::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| ServiceError::Sandbox(e.to_string())),
    }
}

/// The Mattermost side of the demo: an admin, the bot the service posts as, the people of the
/// Microsoft tenant (same emails, so they can link), and the slash command pointing at the service.
struct MattermostSide {
    admin_token: String,
    bot_token: String,
    bot_user_id: String,
    command_token: String,
    alice_id: String,
    bob_id: String,
    /// A channel everyone is in, to type slash commands in.
    channel_id: String,
}

fn seed_mattermost(
    mattermost: &MattermostEmulator,
    product: Product,
    public_url: &str,
) -> Result<MattermostSide, ServiceError> {
    let fail =
        |e: mm_emulator::EmulatorError| ServiceError::Sandbox(format!("seeding Mattermost: {e}"));
    let admin = mattermost
        .create_user(
            MmUser::new("admin", "admin@example.com")
                .name("Site", "Admin")
                .password("sandbox-admin"),
        )
        .map_err(fail)?;
    mattermost.make_system_admin(&admin.id).map_err(fail)?;
    let admin_token = mattermost
        .create_token(&admin.id, "sandbox admin")
        .map_err(fail)?
        .token;
    let (bot_name, bot_display) = match product {
        Product::Teams => ("msteams", "MS Teams"),
        Product::Calendar => ("mscalendar", "Microsoft Calendar"),
    };
    let bot = mattermost.create_bot(bot_name, bot_display).map_err(fail)?;
    let alice = mattermost
        .create_user(
            MmUser::new("alice", "alice@contoso.com")
                .name("Alice", "Smith")
                .password("sandbox-alice"),
        )
        .map_err(fail)?;
    let bob = mattermost
        .create_user(
            MmUser::new("bob", "bob@contoso.com")
                .name("Bob", "Jones")
                .password("sandbox-bob"),
        )
        .map_err(fail)?;
    let carol = mattermost
        .create_user(
            MmUser::new("carol", "carol@contoso.com")
                .name("Carol", "White")
                .password("sandbox-carol"),
        )
        .map_err(fail)?;
    let channel = mattermost
        .create_channel(
            &admin.id,
            "town-square",
            "Town Square",
            mm_emulator::ChannelType::Open,
        )
        .map_err(fail)?;
    for member in [&alice.id, &bob.id, &carol.id] {
        mattermost
            .add_channel_member(&channel.id, member)
            .map_err(fail)?;
    }
    let trigger = product.slash_command().trim_start_matches('/');
    let mut command = NewCommand::new(trigger, &format!("{public_url}/mattermost/command"));
    command.display_name = product.display_name().into();
    command.auto_complete_desc = format!("Use the {}", product.display_name());
    command.auto_complete_hint =
        "connect | disconnect | status | notifications | settings | help".into();
    let command = mattermost
        .register_command(&admin.id, command)
        .map_err(fail)?;
    Ok(MattermostSide {
        admin_token,
        bot_token: bot.token,
        bot_user_id: bot.bot.user_id,
        command_token: command.token,
        alice_id: alice.id,
        bob_id: bob.id,
        channel_id: channel.id,
    })
}

async fn start_graph(product: Product) -> Result<GraphEmulator, ServiceError> {
    let preferred = SocketAddr::from(([127, 0, 0, 1], preferred_graph_port(product)));
    match GraphEmulator::start_with(preferred, EmulatorOptions::default()).await {
        Ok(graph) => Ok(graph),
        Err(_) => GraphEmulator::start_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            EmulatorOptions::default(),
        )
        .await
        .map_err(|e| ServiceError::Sandbox(e.to_string())),
    }
}

/// The people of the demo tenant.
struct Demo {
    alice: User,
    bob: User,
    carol: User,
    /// The one-on-one chat of Alice and Bob.
    alice_bob_chat: String,
    group_chat: String,
}

fn seed(graph: &GraphEmulator, public_url: &str) -> Demo {
    graph.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![format!("{public_url}/oauth/redirect")],
        display_name: "Mattermost bridge (sandbox)".into(),
    });
    let alice = graph.add_user(NewUser::new("Alice Smith", "alice@contoso.com"));
    let bob = graph.add_user(NewUser::new("Bob Jones", "bob@contoso.com"));
    let carol = graph.add_user(NewUser::new("Carol White", "carol@contoso.com"));
    let dan = graph.add_user(NewUser::new("Dan Brown", "dan@contoso.com"));
    let one = graph.add_chat(ChatType::OneOnOne, None, &[&alice.id, &bob.id]);
    let group = graph.add_chat(
        ChatType::Group,
        Some("Launch plan"),
        &[&alice.id, &bob.id, &carol.id],
    );
    graph.add_chat(ChatType::OneOnOne, None, &[&bob.id, &dan.id]);
    let _ = graph.post_message(
        &one.id,
        &bob.id,
        NewMessage::html("<p>Morning! Did you see the <b>launch</b> doc?</p>"),
    );
    let _ = graph.post_message(
        &group.id,
        &carol.id,
        NewMessage::html("<p>Kick-off moved to 10:30.</p>"),
    );
    graph.set_presence(&alice.id, Presence::new("Away", "Away"));
    graph.set_presence(&bob.id, Presence::new("Available", "Available"));
    graph.set_presence(&carol.id, Presence::new("Busy", "InAMeeting"));
    graph.set_presence(&dan.id, Presence::new("Offline", "Offline"));
    graph.set_mailbox_time_zone(&alice.id, "W. Europe Standard Time");
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(8, 30, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(Utc::now);
    let mut standup = NewEvent::meeting(&alice.id, "Daily stand-up", today);
    standup.end = today + TimeDelta::minutes(15);
    standup.attendees = vec![bob.id.clone(), carol.id.clone()];
    standup.online_meeting = true;
    standup.time_zone = "W. Europe Standard Time".into();
    standup.recurrence = Some(Recurrence::Daily { count: 10 });
    graph.add_event(standup);
    let mut review = NewEvent::meeting(&bob.id, "Design review", today + TimeDelta::hours(5));
    review.attendees = vec![alice.id.clone()];
    review.online_meeting = true;
    graph.add_event(review);
    Demo {
        alice,
        bob,
        carol,
        alice_bob_chat: one.id,
        group_chat: group.id,
    }
}

/// Runs the sandbox until Ctrl-C. Everything it made is deleted on exit.
pub(crate) async fn run(
    product: Product,
    listen: Option<SocketAddr>,
) -> Result<ExitCode, ServiceError> {
    cli::init_logging(
        &LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        },
        None,
    );
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-sandbox-", product.binary()))
        .tempdir()
        .map_err(ServiceError::file("create", &std::env::temp_dir()))?;
    let listen = listen.unwrap_or_else(|| product.default_listen());
    let public_url = format!("http://{listen}");
    let graph = start_graph(product).await?;
    let demo = seed(&graph, &public_url);
    let mattermost = start_mattermost(product).await?;
    let mm = seed_mattermost(&mattermost, product, &public_url)?;

    let key = EncryptionKey::generate().map_err(|source| ServiceError::Key {
        key: "store.encryption_key",
        source,
    })?;
    // Any random text of 16 to 128 characters will do; a fresh key's base64 is one.
    let webhook_secret = EncryptionKey::generate()
        .map_err(|source| ServiceError::Key {
            key: "microsoft.webhook_secret",
            source,
        })?
        .to_base64()
        .expose_secret()
        .to_owned();
    let prefix = product.env_prefix();
    let setting = |key: &str, value: String| (format!("{prefix}{key}"), value);
    let store_url = format!("sqlite://{}/{}.db", dir.path().display(), product.binary());
    let mut env = vec![
        setting("SERVER__LISTEN", listen.to_string()),
        setting("SERVER__PUBLIC_URL", public_url.clone()),
        setting("STORE__URL", store_url.clone()),
        setting(
            "STORE__ENCRYPTION_KEY",
            key.to_base64().expose_secret().to_owned(),
        ),
        setting("MATTERMOST__URL", mattermost.site_url().to_string()),
        setting("MATTERMOST__BOT_TOKEN", mm.bot_token.clone()),
        setting("MATTERMOST__ADMIN_TOKEN", mm.admin_token.clone()),
        setting("MATTERMOST__COMMAND_TOKEN", mm.command_token.clone()),
        setting("MICROSOFT__TENANT_ID", graph.tenant_id()),
        setting("MICROSOFT__CLIENT_ID", CLIENT_ID.into()),
        setting("MICROSOFT__CLIENT_SECRET", CLIENT_SECRET.into()),
        setting("MICROSOFT__WEBHOOK_SECRET", webhook_secret),
        setting("MICROSOFT__GRAPH_URL", graph.graph_url().to_string()),
        setting("MICROSOFT__LOGIN_URL", graph.login_url().to_string()),
    ];
    if product == Product::Teams {
        env.push(setting("MICROSOFT__BILLING_MODEL", "A".into()));
    } else {
        // Short ticks, so the demo's reminder and status change show within seconds.
        env.push(setting("CALENDAR__TICK_INTERVAL", "2".into()));
        env.push(setting("MICROSOFT__GRAPH_RATE_LIMIT", "0".into()));
    }
    let loaded = config::load_from(product, None, env);
    let Some(config) = loaded.config else {
        let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        return Err(ServiceError::Sandbox(format!(
            "the sandbox configuration is invalid: {}",
            problems.join("; ")
        )));
    };
    let service = Service::start(config).await?;

    let running = tokio::spawn(service.run(server::shutdown_signal()));
    let alice_line = if product == Product::Teams {
        let steps = scripted_demo(&graph, &mattermost, &mm, &demo, &public_url).await?;
        for step in steps {
            println!("  {step}");
        }
        "linked just now (see above), notifications on, Available in Teams"
    } else {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ServiceError::Sandbox(format!("demo, HTTP client: {e}")))?;
        wait_for("the service to answer /healthz", || async {
            http.get(format!("{public_url}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
                .then_some(())
        })
        .await?;
        let steps = calendar_demo::scripted(&http, &graph, &mattermost, &mm, &demo).await?;
        for step in steps {
            println!("  {step}");
        }
        "connected just now (see above): summary daily, status sync on"
    };
    // From here on, a browser sign-in shows the emulator's account picker.
    graph.sign_in_as(None);

    let control = format!("{}_emulator/", graph.base_url());
    let mm_site = mattermost.site_url().to_string();
    let mm_site = mm_site.trim_end_matches('/');
    let slash = product.slash_command();
    let teams = product == Product::Teams;
    let by_hand = if product == Product::Teams {
        format!(
            "Chat notifications by hand (Alice is Available in Teams now, so nothing reaches her)\n  \
             1. Make Alice Away in Teams (Offline works too; Available, Busy or DoNotDisturb hold messages back):\n     \
             curl -s -X POST {control}presence/{alice} -H 'Content-Type: application/json' \\\n       \
             -d '{{\"availability\":\"Away\",\"activity\":\"Away\"}}'\n  \
             2. Post as Bob in the Alice-Bob chat (the emulator notifies the service, as Graph would):\n     \
             curl -s -X POST {control}chats/{chat}/messages -H 'Content-Type: application/json' \\\n       \
             -d '{{\"from\":\"{bob}\",\"html\":\"<p>Are you there, Alice?</p>\"}}'\n  \
             3. A moment later the bot's DM is the last one at\n     \
             curl -s {mm_site}/_emulator/users/{alice_mm}/direct-messages\n  \
             Set her \"Available\" again and post: no DM; /metrics counts it as reason=\"active_in_teams\":\n     \
             curl -s {public_url}/metrics | grep notifications_\n  \
             {slash} notifications off (or on) as Alice stops (or restarts) them; run it as in \"Link Bob by hand\".\n\n",
            alice = demo.alice.id,
            chat = demo.alice_bob_chat,
            bob = demo.bob.id,
            alice_mm = mm.alice_id,
        )
    } else {
        format!(
            "Calendar by hand (Alice is connected; her zone is W. Europe Standard Time)\n  \
             1. Ask for her agenda (the reply is the \"message\" of the ephemeral post):\n     \
             curl -s -X POST {mm_site}/_emulator/slash-commands -H 'Content-Type: application/json' \\\n       \
             -d '{{\"user_id\":\"{alice_mm}\",\"channel_id\":\"{channel}\",\"command\":\"/mscalendar today\"}}'\n  \
             2. Invite her to something (Bob organizes; the service DMs her with Accept / Tentative / Decline):\n     \
             curl -s -X POST {control}events -H 'Content-Type: application/json' \\\n       \
             -d '{{\"organizer\":\"{bob}\",\"attendees\":[\"{alice}\"],\"subject\":\"Lunch\",\"start\":\"{tomorrow}T12:00:00Z\",\"end\":\"{tomorrow}T13:00:00Z\"}}'\n  \
             3. Her DMs (summary, reminder, invitations, status prompts):\n     \
             curl -s {mm_site}/_emulator/users/{alice_mm}/direct-messages\n  \
             Also: /mscalendar settings, summary time 8:00 AM, settings status confirm, viewcal, help.\n\n",
            alice = demo.alice.id,
            bob = demo.bob.id,
            alice_mm = mm.alice_id,
            channel = mm.channel_id,
            tomorrow = (Utc::now() + TimeDelta::days(1)).format("%Y-%m-%d"),
        )
    };
    println!(
        "\n{name} sandbox: everything runs on this machine; Ctrl-C stops it and deletes its data.\n\n\
         Service\n  {public_url}/healthz   {public_url}/readyz   {public_url}/metrics\n  store: {store_url}\n\n\
         Microsoft Graph emulator (tenant {tenant})\n  graph_url:  {graph_url}\n  login_url:  {login_url}\n  control:    {control}\n\n\
         Mattermost emulator\n  site:       {mm_site}   (REST /api/v4, WebSocket /api/v4/websocket)\n  control:    {mm_site}/_emulator/\n  \
         admin token: {admin_token}   slash command: {slash} -> {public_url}/mattermost/command\n\n\
         Demo tenant (same people on both sides; passwords sandbox-<name>)\n  \
         Alice Smith  @alice  alice@contoso.com  {alice_line}\n  \
         Bob Jones    @bob    bob@contoso.com    not linked{bob_line} (id {bob_mm})\n  Carol White  @carol  carol@contoso.com  not linked{carol_line}\n  \
         Dan Brown    -       dan@contoso.com    Microsoft only{dan_line}\n  {extra_line}\n\n\
         {by_hand}\
         Link Bob by hand\n  \
         1. Run {slash} connect as Bob (the Mattermost emulator posts it to the service, as Mattermost would):\n     \
         curl -s -X POST {mm_site}/_emulator/slash-commands -H 'Content-Type: application/json' \\\n       \
         -d '{{\"user_id\":\"{bob_mm}\",\"channel_id\":\"{channel}\",\"command\":\"{slash} connect\"}}'\n  \
         2. Open the link in the reply's \"message\" in a browser and pick Bob Jones in the emulator's account picker.\n  \
         3. The page says Connected; the bot's confirmation DM is at\n     \
         curl -s {mm_site}/_emulator/users/{bob_mm}/direct-messages\n  \
         Try {slash} {try_next} or disconnect the same way.\n\n\
         More\n  curl -s {control} | head -c 600\n  \
         curl -s -X POST {control}chats/{group}/messages -H 'Content-Type: application/json' \\\n       \
         -d '{{\"from\":\"{carol}\",\"html\":\"<p>Slides are in the doc.</p>\"}}'\n  \
         curl -s {mm_site}/api/v4/users/me -H 'Authorization: Bearer {admin_token}'\n",
        name = product.display_name(),
        bob_line = if teams { ", Available" } else { "" },
        carol_line = if teams { ", Busy" } else { "" },
        dan_line = if teams { ", Offline" } else { "" },
        extra_line = if teams {
            "Chats: Alice-Bob, Bob-Dan, and the group \"Launch plan\"; Alice has a daily stand-up."
        } else {
            "Alice has a daily stand-up (Europe/Berlin) and Bob's design review today."
        },
        try_next = if teams {
            "status, settings"
        } else {
            "settings, today, help"
        },
        tenant = graph.tenant_id(),
        graph_url = graph.graph_url(),
        login_url = graph.login_url(),
        group = demo.group_chat,
        carol = demo.carol.id,
        bob_mm = mm.bob_id,
        channel = mm.channel_id,
        admin_token = mm.admin_token,
    );
    running
        .await
        .map_err(|e| ServiceError::Sandbox(format!("the service task failed: {e}")))??;
    mattermost.shutdown().await;
    drop(graph);
    drop(dir);
    Ok(ExitCode::SUCCESS)
}

/// How long the scripted demo waits for each thing it expects (the service answering, the
/// subscription, a DM, a metric) before giving up with an error.
const DEMO_WAIT: Duration = Duration::from_secs(30);

/// The scripted part of the demo: Alice links her account and her notifications are shown at
/// work, all through the same HTTP endpoints a real Mattermost and Microsoft would call. Returns
/// what happened, a line per step.
async fn scripted_demo(
    graph: &GraphEmulator,
    mattermost: &MattermostEmulator,
    mm: &MattermostSide,
    demo: &Demo,
    public_url: &str,
) -> Result<Vec<String>, ServiceError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ServiceError::Sandbox(format!("demo, HTTP client: {e}")))?;
    // Wait until the service answers.
    wait_for("the service to answer /healthz", || async {
        http.get(format!("{public_url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
            .then_some(())
    })
    .await?;
    let mut steps = vec!["Scripted demo:".to_owned()];
    link_alice(&http, graph, mattermost, mm, &demo.alice.id, &mut steps).await?;
    show_notifications(&http, graph, mattermost, mm, demo, public_url, &mut steps).await?;
    Ok(steps)
}

/// Polls `check` every 100 ms until it gives a value; after [`DEMO_WAIT`], an error saying what
/// was awaited.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEMO_WAIT;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(ServiceError::Sandbox(format!(
                "demo: gave up after {}s waiting for {what}; the log above may say why",
                DEMO_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Alice runs `/msteams connect`, follows the link through the Graph emulator's sign-in, gets
/// the bot's confirmation and clicks "Enable notifications".
async fn link_alice(
    http: &reqwest::Client,
    graph: &GraphEmulator,
    mattermost: &MattermostEmulator,
    mm: &MattermostSide,
    alice_ms_id: &str,
    steps: &mut Vec<String>,
) -> Result<(), ServiceError> {
    let dm = sign_in_alice(http, graph, mattermost, mm, alice_ms_id, "/msteams", steps).await?;
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e: String| ServiceError::Sandbox(format!("demo sign-in, {what}: {e}"))
    };
    let button = dm.props["attachments"][0]["actions"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let clicked = mattermost
        .click_button(&mm.alice_id, &dm.id, &button)
        .await
        .map_err(|e| fail("Enable notifications")(e.to_string()))?;
    // The button runs the same code as `/msteams notifications on`; its answer says so.
    let answer = clicked.ephemeral.map(|p| p.message).unwrap_or_default();
    if !answer.starts_with("Chat notifications are on") {
        return Err(fail("Enable notifications")(format!(
            "the service answered `{answer}`"
        )));
    }
    steps.push(format!(
        "@alice clicked Enable notifications -> {}",
        answer.split(':').next().unwrap_or(&answer)
    ));
    Ok(())
}

/// Alice runs `<trigger> connect`, follows the link through the Graph emulator's sign-in, and
/// gets the bot's confirmation DM, which is returned.
async fn sign_in_alice(
    http: &reqwest::Client,
    graph: &GraphEmulator,
    mattermost: &MattermostEmulator,
    mm: &MattermostSide,
    alice_ms_id: &str,
    trigger: &str,
    steps: &mut Vec<String>,
) -> Result<mm_emulator::Post, ServiceError> {
    let command = format!("{trigger} connect");
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e: String| ServiceError::Sandbox(format!("demo sign-in, {what}: {e}"))
    };
    let outcome = mattermost
        .run_slash_command(&mm.alice_id, &mm.channel_id, &command)
        .await
        .map_err(|e| fail(&command)(e.to_string()))?;
    let reply = outcome
        .ephemeral
        .first()
        .map(|p| p.message.clone())
        .ok_or_else(|| fail(&command)("no reply".into()))?;
    let link = reply
        .split("](")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .ok_or_else(|| fail(&command)(format!("no link in `{reply}`")))?
        .to_owned();
    steps.push(format!("@alice: {command} -> {link}"));
    graph.sign_in_as(Some(alice_ms_id));
    let mut url = link;
    for _ in 0..3 {
        let response = http
            .get(&url)
            .send()
            .await
            .map_err(|e| fail("following the sign-in")(e.to_string()))?;
        match response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
        {
            Some(next) => url = next.to_owned(),
            None => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                if !status.is_success() {
                    return Err(fail("sign-in page")(format!("{status}: {body}")));
                }
                break;
            }
        }
    }
    steps.push("Alice signed in to Microsoft as alice@contoso.com; the page said Connected".into());
    let dm = mattermost
        .direct_messages_to(&mm.alice_id)
        .into_iter()
        .find(|p| p.user_id == mm.bot_user_id)
        .ok_or_else(|| fail("confirmation")("no DM from the bot".into()))?;
    steps.push(format!(
        "bot -> @alice: {}",
        dm.message.lines().next().unwrap_or("")
    ));
    Ok(dm)
}

/// Presence-gated notifications at work: with Alice Away, Bob's Teams message becomes a DM from
/// the bot; with Alice Available, the next one is held back. Leaves Alice Available.
async fn show_notifications(
    http: &reqwest::Client,
    graph: &GraphEmulator,
    mattermost: &MattermostEmulator,
    mm: &MattermostSide,
    demo: &Demo,
    public_url: &str,
    steps: &mut Vec<String>,
) -> Result<(), ServiceError> {
    let notification_url = format!("{public_url}/graph/notifications");
    let subscription = wait_for("the service's chat-message subscription at Graph", || {
        let found = graph
            .subscriptions()
            .into_iter()
            .find(|s| s.notification_url == notification_url);
        std::future::ready(found)
    })
    .await?;
    steps.push(format!(
        "the service subscribed to {} at the Graph emulator (subscription {})",
        subscription.resource, subscription.id
    ));

    let (alice, bob, chat) = (&demo.alice.id, &demo.bob.id, &demo.alice_bob_chat);
    let post = |html: &str| {
        graph
            .post_message(chat, bob, NewMessage::html(html))
            .map(|_| ())
            .map_err(|e| ServiceError::Sandbox(format!("demo, Bob's Teams message: {e}")))
    };

    graph.set_presence(alice, Presence::new("Away", "Away"));
    post("<p>Are we still on for <b>3 pm</b>?</p>")?;
    steps.push(
        "Alice is Away in Teams; Bob, in their Teams chat: \"Are we still on for 3 pm?\"".into(),
    );
    let dm = wait_for("the bot's DM to @alice about Bob's message", || {
        let dm = mattermost
            .direct_messages_to(&mm.alice_id)
            .into_iter()
            .find(|p| p.user_id == mm.bot_user_id && p.message.contains("3 pm"));
        std::future::ready(dm)
    })
    .await?;
    // The sender line and the quoted message, without the blank line and the Teams link.
    let shown: Vec<&str> = dm
        .message
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .collect();
    steps.push(format!("bot -> @alice: {}", shown.join(" ")));

    let held_back = "teams_bridge_notifications_discarded_total{reason=\"active_in_teams\"}";
    let before = metric(http, public_url, held_back).await.unwrap_or(0.0);
    graph.set_presence(alice, Presence::new("Available", "Available"));
    post("<p>Never mind, I see you are online.</p>")?;
    steps.push("Alice is Available in Teams; Bob: \"Never mind, I see you are online.\"".into());
    wait_for("the service to hold back Bob's second message", || async {
        metric(http, public_url, held_back)
            .await
            .filter(|n| *n > before)
    })
    .await?;
    let forwarded = mattermost
        .direct_messages_to(&mm.alice_id)
        .iter()
        .any(|p| p.message.contains("Never mind"));
    if forwarded {
        return Err(ServiceError::Sandbox(
            "demo: Bob's second message reached Alice although she is Available in Teams".into(),
        ));
    }
    steps.push(
        "not forwarded: Alice is active in Teams, so the service held it back (see /metrics)"
            .into(),
    );
    Ok(())
}

/// The value of one sample of the service's `/metrics`, if it answered and has it.
async fn metric(http: &reqwest::Client, public_url: &str, sample: &str) -> Option<f64> {
    let text = http
        .get(format!("{public_url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix(sample)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}
