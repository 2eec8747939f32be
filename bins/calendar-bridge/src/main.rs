//! `calendar-bridge`: see `calendar-bridge --help` and the project README.
use std::process::ExitCode;

fn main() -> ExitCode {
    bridge_service::cli::main(bridge_service::Product::Calendar)
}
