//! `calendar-bridge` shares the service runtime with `teams-bridge`; these tests pin what differs:
//! its name, environment prefix, default port and slash command.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_calendar-bridge");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_clear();
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run calendar-bridge")
}

const ENV: [(&str, &str); 7] = [
    (
        "CALENDAR_BRIDGE__MATTERMOST__URL",
        "https://chat.example.com",
    ),
    ("CALENDAR_BRIDGE__MATTERMOST__BOT_TOKEN", "bot-SECRET"),
    ("CALENDAR_BRIDGE__MATTERMOST__COMMAND_TOKEN", "cmd-SECRET"),
    (
        "CALENDAR_BRIDGE__MICROSOFT__TENANT_ID",
        "contoso.onmicrosoft.com",
    ),
    (
        "CALENDAR_BRIDGE__MICROSOFT__CLIENT_ID",
        "00000000-1111-2222-3333-444444444444",
    ),
    ("CALENDAR_BRIDGE__MICROSOFT__CLIENT_SECRET", "client-SECRET"),
    (
        "CALENDAR_BRIDGE__MICROSOFT__WEBHOOK_SECRET",
        "webhook-SECRET-long-enough",
    ),
];

#[test]
fn help_names_the_calendar_service_and_every_subcommand() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("calendar-bridge: Microsoft 365 Calendar bridge"),
        "{help}"
    );
    for sub in [
        "serve",
        "sandbox",
        "migrate",
        "check-config",
        "generate-key",
    ] {
        assert!(help.contains(sub), "{sub} missing from --help:\n{help}");
    }
}

#[test]
fn defaults_differ_from_the_teams_bridge() {
    let out = run(&["check-config"], &ENV);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("server.listen = 127.0.0.1:8081"),
        "{stdout}"
    );
    assert!(
        stdout.contains("store.url = sqlite://data/calendar-bridge.db"),
        "{stdout}"
    );
    assert!(!stdout.contains("SECRET"), "{stdout}");
}

#[test]
fn teams_variables_do_not_configure_the_calendar_bridge() {
    let env: Vec<_> = ENV
        .iter()
        .map(|(k, v)| (k.replace("CALENDAR_BRIDGE", "TEAMS_BRIDGE"), *v))
        .collect();
    let env: Vec<_> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let out = run(&["check-config"], &env);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CALENDAR_BRIDGE__MATTERMOST__URL"),
        "{stderr}"
    );
    assert!(stderr.contains("/mscalendar"), "{stderr}");
}
