//! `mm-emulator`: the Mattermost emulator as a process, with a small seeded team, scripted
//! through its control API.

use std::net::SocketAddr;

use clap::Parser;
use mm_emulator::{EmulatorOptions, MattermostEmulator, NewUser};

/// Mattermost server emulator (REST API v4 and WebSocket) for local development and tests.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8065")]
    listen: SocketAddr,
}

fn seed(mm: &MattermostEmulator) -> Result<(), mm_emulator::EmulatorError> {
    let admin = mm.create_user(
        NewUser::new("admin", "admin@example.com")
            .name("Ada", "Admin")
            .password("admin-password"),
    )?;
    mm.make_system_admin(&admin.id)?;
    let admin_token = mm.create_token(&admin.id, "emulator admin")?;
    let bot = mm.create_bot("msteams", "MS Teams")?;
    mm.make_system_admin(&bot.bot.user_id)?;
    let alice = mm.create_user(
        NewUser::new("alice", "alice@example.com")
            .name("Alice", "Smith")
            .password("alice-password"),
    )?;
    let bob = mm.create_user(
        NewUser::new("bob", "bob@example.com")
            .name("Bob", "Jones")
            .password("bob-password"),
    )?;
    let alice_token = mm.create_token(&alice.id, "emulator")?;
    mm.direct_channel(&alice.id, &bob.id)?;
    let team = mm.team();
    println!("Mattermost emulator");
    println!("  site_url:    {}", mm.site_url());
    println!("  websocket:   {}", mm.websocket_url());
    println!("  control API: {}", mm.control_url());
    println!("  team:        {} ({})", team.name, team.id);
    println!("  admin:       {} token {}", admin.id, admin_token.token);
    println!("  bot:         {} token {}", bot.bot.user_id, bot.token);
    println!("  alice:       {} token {}", alice.id, alice_token.token);
    println!("  bob:         {}", bob.id);
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mm = match MattermostEmulator::start_with(args.listen, EmulatorOptions::default()).await {
        Ok(mm) => mm,
        Err(err) => {
            eprintln!("error: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(err) = seed(&mm) {
        eprintln!("error: cannot seed the team: {err}");
        return std::process::ExitCode::FAILURE;
    }
    println!("Ctrl-C stops it.");
    let _ = tokio::signal::ctrl_c().await;
    mm.shutdown().await;
    std::process::ExitCode::SUCCESS
}
