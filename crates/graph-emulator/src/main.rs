//! `graph-emulator`: the Microsoft Graph and identity-platform emulator as a process, with a small
//! demo tenant, scripted through its control API.

use std::net::SocketAddr;

use clap::Parser;
use graph_emulator::{
    AppRegistration, ChatType, EmulatorOptions, GraphEmulator, NewMessage, NewUser, Presence,
};

/// Microsoft Graph and identity platform emulator for local development and tests.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Client id of the app registration to accept.
    #[arg(long, default_value = "00000000-0000-0000-0000-0000000000aa")]
    client_id: String,
    /// Client secret of that app.
    #[arg(long, default_value = "emulator-client-secret")]
    client_secret: String,
    /// Start with an empty tenant instead of the demo users and chats.
    #[arg(long)]
    empty: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let graph = match GraphEmulator::start_with(args.listen, EmulatorOptions::default()).await {
        Ok(graph) => graph,
        Err(err) => {
            eprintln!("error: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    graph.register_app(AppRegistration {
        client_id: args.client_id.clone(),
        client_secret: args.client_secret,
        redirect_uris: Vec::new(),
        display_name: "Local bridge".into(),
    });
    if !args.empty {
        let alice = graph.add_user(NewUser::new("Alice Smith", "alice@contoso.com"));
        let bob = graph.add_user(NewUser::new("Bob Jones", "bob@contoso.com"));
        let carol = graph.add_user(NewUser::new("Carol White", "carol@contoso.com"));
        let one = graph.add_chat(ChatType::OneOnOne, None, &[&alice.id, &bob.id]);
        graph.add_chat(
            ChatType::Group,
            Some("Launch plan"),
            &[&alice.id, &bob.id, &carol.id],
        );
        let _ = graph.post_message(
            &one.id,
            &bob.id,
            NewMessage::html("<p>Welcome to the emulated tenant.</p>"),
        );
        graph.set_presence(&alice.id, Presence::new("Away", "Away"));
        graph.set_presence(&bob.id, Presence::new("Available", "Available"));
    }
    println!("Microsoft Graph emulator");
    println!("  graph_url:   {}", graph.graph_url());
    println!("  login_url:   {}", graph.login_url());
    println!("  tenant_id:   {}", graph.tenant_id());
    println!("  client_id:   {}", args.client_id);
    println!("  control API: {}_emulator/", graph.base_url());
    println!("Ctrl-C stops it.");
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
