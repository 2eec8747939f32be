//! `teams-bridge`: see `teams-bridge --help` and the project README.
use std::process::ExitCode;

fn main() -> ExitCode {
    bridge_service::cli::main(bridge_service::Product::Teams)
}
