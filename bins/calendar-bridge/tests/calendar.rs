//! End-to-end tests of the Microsoft 365 Calendar integration: the real `calendar-bridge serve`
//! binary between the Microsoft Graph and Mattermost emulators. Every test starts its own bridge,
//! so they run in parallel; each asserts what a user would notice (DMs, statuses, Graph state).
//! One test binary (the cases live in `calendar/`) keeps the whole run short.

mod support;

#[path = "calendar/admin_log.rs"]
mod admin_log;
#[path = "calendar/commands.rs"]
mod commands;
#[path = "calendar/invitations.rs"]
mod invitations;
#[path = "calendar/metrics.rs"]
mod metrics;
#[path = "calendar/reminders.rs"]
mod reminders;
#[path = "calendar/replicas.rs"]
mod replicas;
#[path = "calendar/status.rs"]
mod status;
#[path = "calendar/subscriptions.rs"]
mod subscriptions;
#[path = "calendar/summary.rs"]
mod summary;
#[path = "calendar/tokens.rs"]
mod tokens;
