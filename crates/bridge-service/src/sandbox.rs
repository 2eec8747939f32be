//! `sandbox`: the whole service on this machine with no accounts anywhere. It starts the Microsoft
//! Graph emulator, seeds a demo tenant, opens a throwaway SQLite store, and runs the real service
//! against them until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use chrono::{TimeDelta, Utc};
use graph_emulator::{
    AppRegistration, ChatType, EmulatorOptions, GraphEmulator, NewEvent, NewMessage, NewUser,
    Presence, Recurrence, User,
};
use secrecy::ExposeSecret as _;
use store::{EncryptionKey, NewLink};

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
    dan: User,
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
        dan,
        group_chat: group.id,
    }
}

/// Runs the sandbox until Ctrl-C. Everything it made is deleted on exit.
pub(crate) async fn run(
    product: Product,
    listen: Option<SocketAddr>,
) -> Result<ExitCode, ServiceError> {
    cli::init_logging(&LogConfig {
        level: "info".into(),
        format: LogFormat::Text,
    });
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-sandbox-", product.binary()))
        .tempdir()
        .map_err(ServiceError::file("create", &std::env::temp_dir()))?;
    let listen = listen.unwrap_or_else(|| product.default_listen());
    let public_url = format!("http://{listen}");
    let graph = start_graph(product).await?;
    let demo = seed(&graph, &public_url);

    let key = EncryptionKey::generate().map_err(|source| ServiceError::Key {
        key: "store.encryption_key",
        source,
    })?;
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
        setting("MATTERMOST__URL", "http://127.0.0.1:8065".into()),
        setting("MATTERMOST__BOT_TOKEN", "sandbox-bot-token".into()),
        setting("MATTERMOST__COMMAND_TOKEN", "sandbox-command-token".into()),
        setting("MICROSOFT__TENANT_ID", graph.tenant_id()),
        setting("MICROSOFT__CLIENT_ID", CLIENT_ID.into()),
        setting("MICROSOFT__CLIENT_SECRET", CLIENT_SECRET.into()),
        setting(
            "MICROSOFT__WEBHOOK_SECRET",
            format!("sandbox-{}", uuid_like()),
        ),
        setting("MICROSOFT__GRAPH_URL", graph.graph_url().to_string()),
        setting("MICROSOFT__LOGIN_URL", graph.login_url().to_string()),
    ];
    if product == Product::Teams {
        env.push(setting("MICROSOFT__BILLING_MODEL", "A".into()));
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

    // Alice is already linked, as if she had run `/msteams connect` before.
    let alice_mm_id = "sandboxalicemattermostid00";
    let context = store::link_token_context(alice_mm_id);
    let token = serde_json::json!({"access_token": graph.user_token(CLIENT_ID, &demo.alice.id)})
        .to_string();
    let sealed = service
        .sealer()
        .seal(token.as_bytes(), &context)
        .map_err(|e| ServiceError::Sandbox(format!("sealing the demo token: {e}")))?;
    let now = Utc::now();
    service
        .store()
        .link_account(&NewLink {
            mm_user_id: alice_mm_id,
            teams_user_id: &demo.alice.id,
            teams_login: "alice@contoso.com",
            token: &sealed,
            token_expires_at: Some(now + TimeDelta::hours(1)),
            now,
        })
        .await
        .map_err(ServiceError::store("linking the demo user"))?;

    let control = format!("{}_emulator/", graph.base_url());
    println!(
        "\n{name} sandbox: everything runs on this machine; Ctrl-C stops it and deletes its data.\n\n\
         Service\n  {public_url}/healthz   {public_url}/readyz\n  store: {store_url}\n\n\
         Microsoft Graph emulator (tenant {tenant})\n  graph_url:  {graph_url}\n  login_url:  {login_url}\n  control:    {control}\n\n\
         Demo tenant\n  Alice Smith  alice@contoso.com  linked to Mattermost user {alice_mm_id}, Away\n  \
         Bob Jones    bob@contoso.com    not linked, Available\n  Carol White  carol@contoso.com  not linked, Busy\n  \
         Dan Brown    dan@contoso.com    Teams only, Offline\n  Chats: Alice-Bob, Bob-Dan, and the group \"Launch plan\"; Alice has a daily stand-up.\n\n\
         Try\n  curl -s {control} | head -c 600\n  \
         curl -s -X POST {control}chats/{chat}/messages -H 'Content-Type: application/json' \\\n       \
         -d '{{\"from\":\"{bob}\",\"html\":\"<p>Are you there, Alice?</p>\"}}'\n  \
         curl -s {control}chats/{chat}/messages\n  \
         Sign in as anyone: {login_url}{tenant}/oauth2/v2.0/authorize?client_id={client}&response_type=code&redirect_uri={public_url}/oauth/redirect&scope=openid%20offline_access\n",
        name = product.display_name(),
        tenant = graph.tenant_id(),
        graph_url = graph.graph_url(),
        login_url = graph.login_url(),
        chat = demo.group_chat,
        bob = demo.bob.id,
        client = CLIENT_ID,
    );
    let _ = (&demo.carol, &demo.dan);
    service.run(server::shutdown_signal()).await?;
    drop(graph);
    drop(dir);
    Ok(ExitCode::SUCCESS)
}

fn uuid_like() -> String {
    let key = EncryptionKey::generate()
        .map(|k| k.id().to_owned())
        .unwrap_or_default();
    format!(
        "{key}{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}
