//! The `/mscalendar` slash command (C1): its grammar, its errors and its help.
//!
//! [`parse`] takes what follows the trigger. Words are case-insensitive and may be separated by
//! any amount of space. Errors are written for the user and quote what they typed in a code
//! span, so they can be posted as they are.

use chrono::NaiveTime;

use crate::status::{BusyStatus, SyncMode};
use crate::summary::{ParseError, Weekdays, parse_time, parse_weekdays};

/// The slash command's trigger word.
pub const TRIGGER: &str = "mscalendar";

/// The description shown in Mattermost's command autocomplete.
pub const AUTOCOMPLETE_DESCRIPTION: &str =
    "Microsoft 365 Calendar: your agenda, a daily summary, reminders and status during meetings";

/// The argument hint shown in Mattermost's command autocomplete.
pub const AUTOCOMPLETE_HINT: &str = "[connect|today|tomorrow|viewcal|summary|settings|info|help]";

/// A parsed `/mscalendar` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarCommand {
    /// `connect`: link a Microsoft 365 account.
    Connect,
    /// `disconnect`.
    Disconnect,
    /// `summary ...`.
    Summary(SummaryCommand),
    /// `viewcal`: the events of the coming week.
    ViewCal,
    /// `today`: today's agenda.
    Today,
    /// `tomorrow`: tomorrow's agenda.
    Tomorrow,
    /// `settings`, alone (show them) or with a change.
    Settings(Option<SettingChange>),
    /// `info`: about the integration and the user's connection.
    Info,
    /// `help`, or nothing at all.
    Help,
    /// `admin ...`; the service checks that the user is a system admin.
    Admin(AdminCommand),
}

/// `summary ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryCommand {
    /// `summary` or `summary view`: show the summary settings.
    View,
    /// `summary today`: post today's summary now.
    Today,
    /// `summary tomorrow`: post tomorrow's summary now.
    Tomorrow,
    /// `summary time 8:00 AM`.
    Time(NaiveTime),
    /// `summary on` / `summary enable`.
    Enable,
    /// `summary off` / `summary disable`.
    Disable,
    /// `summary days mon-fri` (or `summary weekdays ...`; `summary weekdays` alone is Monday to
    /// Friday).
    Weekdays(Weekdays),
}

/// `settings <name> <value>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingChange {
    /// `settings status off|auto|confirm`.
    StatusSync(SyncMode),
    /// `settings busy dnd|away`.
    BusyStatus(BusyStatus),
    /// `settings custom-status on|off`.
    CustomStatus(bool),
    /// `settings reminders on|off`.
    Reminders(bool),
    /// `settings invitations on|off`.
    Invitations(bool),
}

/// `admin ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCommand {
    /// `admin subscriptions`: list the Graph subscriptions.
    Subscriptions,
    /// `admin subscriptions renew`: renew them all now.
    RenewSubscriptions,
    /// `admin sync-status`: run status sync for everyone now.
    SyncStatusNow,
}

/// A command that could not be understood, with a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The first word is no command. `given` is what was typed, as a code span.
    #[error("Unknown command {given}. Try `/mscalendar help`.")]
    Unknown {
        /// The first word typed, as a code span.
        given: String,
    },
    /// A command that is missing something, has something too many, or was given a value it does
    /// not take. `message` says which, and what it takes.
    #[error("{message}")]
    Usage {
        /// The whole message, Markdown.
        message: String,
    },
    /// `summary time` with something that is not a time.
    #[error("{0}")]
    Time(ParseError),
    /// `summary days` with something that is not a set of days.
    #[error("{0}")]
    Days(ParseError),
}

/// What a user typed, shown as a code span: one line, at most 40 characters, no backticks.
fn code(text: &str) -> String {
    let clean: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| *c != '`' && !c.is_control())
        .collect();
    let mut shown: String = clean.chars().take(40).collect();
    if clean.chars().count() > 40 {
        shown.push('…');
    }
    format!("`{shown}`")
}

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage {
        message: message.into(),
    }
}

/// `command` takes one of `expected`; `given` was something else (or nothing).
fn choice(command: &str, expected: &str, given: Option<&str>) -> CommandError {
    match given {
        Some(given) => usage(format!(
            "`{command}` takes {expected}, not {}.",
            code(given)
        )),
        None => usage(format!("`{command}` needs {expected}.")),
    }
}

fn on_off(command: &str, words: &[&str]) -> Result<bool, CommandError> {
    match words {
        [word] => match word.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "enable" | "enabled" => Ok(true),
            "off" | "false" | "no" | "disable" | "disabled" => Ok(false),
            _ => Err(choice(command, "on or off", Some(word))),
        },
        [] => Err(choice(command, "on or off", None)),
        _ => Err(choice(command, "on or off", Some(&words.join(" ")))),
    }
}

fn nothing_after(command: &str, words: &[&str]) -> Result<(), CommandError> {
    if words.is_empty() {
        Ok(())
    } else {
        Err(usage(format!(
            "`{command}` takes nothing after it, not {}.",
            code(&words.join(" "))
        )))
    }
}

/// Parses what follows `/mscalendar` (a leading `/mscalendar` is ignored too).
///
/// ```
/// use calendar_core::command::{CalendarCommand, SummaryCommand, parse};
/// use chrono::NaiveTime;
/// assert_eq!(parse(""), Ok(CalendarCommand::Help));
/// assert_eq!(
///     parse("summary time 8:30 AM"),
///     Ok(CalendarCommand::Summary(SummaryCommand::Time(NaiveTime::from_hms_opt(8, 30, 0).unwrap())))
/// );
/// assert_eq!(
///     parse("foo").unwrap_err().to_string(),
///     "Unknown command `foo`. Try `/mscalendar help`."
/// );
/// ```
pub fn parse(text: &str) -> Result<CalendarCommand, CommandError> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    if words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case(&format!("/{TRIGGER}")))
    {
        words.remove(0);
    }
    let Some((first, rest)) = words.split_first() else {
        return Ok(CalendarCommand::Help);
    };
    let command = first.to_ascii_lowercase();
    let simple = |c: CalendarCommand| nothing_after(&command, rest).map(|()| c);
    match command.as_str() {
        "help" | "--help" | "-h" | "?" => Ok(CalendarCommand::Help),
        "connect" => simple(CalendarCommand::Connect),
        "disconnect" => simple(CalendarCommand::Disconnect),
        "viewcal" => simple(CalendarCommand::ViewCal),
        "today" => simple(CalendarCommand::Today),
        "tomorrow" => simple(CalendarCommand::Tomorrow),
        "info" => simple(CalendarCommand::Info),
        "summary" => parse_summary(rest).map(CalendarCommand::Summary),
        "settings" => parse_settings(rest).map(CalendarCommand::Settings),
        "admin" => parse_admin(rest).map(CalendarCommand::Admin),
        _ => Err(CommandError::Unknown { given: code(first) }),
    }
}

fn parse_summary(words: &[&str]) -> Result<SummaryCommand, CommandError> {
    let Some((first, rest)) = words.split_first() else {
        return Ok(SummaryCommand::View);
    };
    let sub = first.to_ascii_lowercase();
    let simple = |c: SummaryCommand| nothing_after(&format!("summary {sub}"), rest).map(|()| c);
    match sub.as_str() {
        "view" | "show" => simple(SummaryCommand::View),
        "today" => simple(SummaryCommand::Today),
        "tomorrow" => simple(SummaryCommand::Tomorrow),
        "on" | "enable" => simple(SummaryCommand::Enable),
        "off" | "disable" => simple(SummaryCommand::Disable),
        "time" => {
            if rest.is_empty() {
                return Err(usage("`summary time` needs a time such as 8:00 AM."));
            }
            parse_time(&rest.join(" "))
                .map(SummaryCommand::Time)
                .map_err(CommandError::Time)
        }
        "weekdays" if rest.is_empty() => Ok(SummaryCommand::Weekdays(Weekdays::workdays())),
        "days" | "weekdays" => {
            if rest.is_empty() {
                return Err(usage(
                    "`summary days` needs days such as mon-fri, mon,wed,fri, weekdays or all.",
                ));
            }
            parse_weekdays(&rest.join(" "))
                .map(SummaryCommand::Weekdays)
                .map_err(CommandError::Days)
        }
        _ => Err(usage(format!(
            "`summary` takes view, today, tomorrow, on, off, time or days, not {}. Try `/mscalendar help`.",
            code(first)
        ))),
    }
}

fn parse_settings(words: &[&str]) -> Result<Option<SettingChange>, CommandError> {
    let Some((first, rest)) = words.split_first() else {
        return Ok(None);
    };
    let value = match rest {
        [] => None,
        [one] => Some(one.to_ascii_lowercase()),
        many => Some(many.join(" ").to_ascii_lowercase()),
    };
    let change = match first.to_ascii_lowercase().as_str() {
        "status" => {
            let expected = "off, auto or confirm";
            match value.as_deref() {
                Some("off") => SettingChange::StatusSync(SyncMode::Off),
                Some("auto" | "on") => SettingChange::StatusSync(SyncMode::Auto),
                Some("confirm" | "ask") => SettingChange::StatusSync(SyncMode::Confirm),
                other => return Err(choice("settings status", expected, other)),
            }
        }
        "busy" | "busy-status" => {
            let expected = "dnd or away";
            match value.as_deref() {
                Some("dnd" | "do-not-disturb") => SettingChange::BusyStatus(BusyStatus::Dnd),
                Some("away") => SettingChange::BusyStatus(BusyStatus::Away),
                other => return Err(choice("settings busy", expected, other)),
            }
        }
        "custom-status" | "custom" => {
            SettingChange::CustomStatus(on_off("settings custom-status", rest)?)
        }
        "reminders" | "reminder" => SettingChange::Reminders(on_off("settings reminders", rest)?),
        "invitations" | "invites" => {
            SettingChange::Invitations(on_off("settings invitations", rest)?)
        }
        _ => {
            return Err(usage(format!(
                "`settings` takes status, busy, custom-status, reminders or invitations, not {}. Try `/mscalendar help`.",
                code(first)
            )));
        }
    };
    Ok(Some(change))
}

fn parse_admin(words: &[&str]) -> Result<AdminCommand, CommandError> {
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        ["subscriptions"] | ["subscriptions", "list"] => Ok(AdminCommand::Subscriptions),
        ["subscriptions", "renew"] => Ok(AdminCommand::RenewSubscriptions),
        ["sync-status"] | ["sync-status", "now"] => Ok(AdminCommand::SyncStatusNow),
        [] => Err(usage(
            "`admin` takes subscriptions, subscriptions renew or sync-status.",
        )),
        _ => Err(usage(format!(
            "`admin` takes subscriptions, subscriptions renew or sync-status, not {}.",
            code(&words.join(" "))
        ))),
    }
}

/// The help, in Markdown: every command, and the admin commands for admins.
pub fn help_text(is_admin: bool) -> String {
    let mut out = String::from(
        "#### Microsoft 365 Calendar\n\
         - `/mscalendar connect`: connect your Microsoft 365 account\n\
         - `/mscalendar disconnect`: disconnect it\n\
         - `/mscalendar today`, `/mscalendar tomorrow`: your agenda for the day\n\
         - `/mscalendar viewcal`: your events for the coming week\n\
         - `/mscalendar summary`: your daily summary settings\n\
         - `/mscalendar summary on` or `off`: turn the daily summary on or off\n\
         - `/mscalendar summary time 8:00 AM`: when the daily summary comes\n\
         - `/mscalendar summary days mon-fri`: on which days it comes (e.g. `mon,wed,fri`, `weekdays`, `all`)\n\
         - `/mscalendar summary today` or `tomorrow`: post that day's summary now\n\
         - `/mscalendar settings`: your settings\n\
         - `/mscalendar settings status off|auto|confirm`: change your status during meetings never, automatically, or after asking you\n\
         - `/mscalendar settings busy dnd|away`: the status to show during meetings\n\
         - `/mscalendar settings custom-status on|off`: also show an \"In a meeting\" custom status\n\
         - `/mscalendar settings reminders on|off`: a message before each event\n\
         - `/mscalendar settings invitations on|off`: a message for each new invitation\n\
         - `/mscalendar info`: about this integration and your connection\n\
         - `/mscalendar help`: this help",
    );
    if is_admin {
        out.push_str(
            "\n\n##### For system admins\n\
             - `/mscalendar admin subscriptions`: list the calendar subscriptions\n\
             - `/mscalendar admin subscriptions renew`: renew every subscription now\n\
             - `/mscalendar admin sync-status`: sync everyone's status now",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn ok(text: &str) -> CalendarCommand {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        parse(text).expect_err(text).to_string()
    }

    #[test]
    fn every_command() {
        use CalendarCommand as C;
        use SummaryCommand as S;
        let time = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        for (text, command) in [
            ("", C::Help),
            ("   ", C::Help),
            ("help", C::Help),
            ("HELP me", C::Help),
            ("connect", C::Connect),
            ("  Connect  ", C::Connect),
            ("disconnect", C::Disconnect),
            ("viewcal", C::ViewCal),
            ("today", C::Today),
            ("tomorrow", C::Tomorrow),
            ("info", C::Info),
            ("/mscalendar today", C::Today),
            ("summary", C::Summary(S::View)),
            ("summary view", C::Summary(S::View)),
            ("summary today", C::Summary(S::Today)),
            ("summary tomorrow", C::Summary(S::Tomorrow)),
            ("summary on", C::Summary(S::Enable)),
            ("Summary  Enable", C::Summary(S::Enable)),
            ("summary off", C::Summary(S::Disable)),
            ("summary disable", C::Summary(S::Disable)),
            ("summary time 8:00 AM", C::Summary(S::Time(time(8, 0)))),
            ("summary time   8:30pm", C::Summary(S::Time(time(20, 30)))),
            ("SUMMARY TIME 20:00", C::Summary(S::Time(time(20, 0)))),
            (
                "summary days mon-fri",
                C::Summary(S::Weekdays(Weekdays::workdays())),
            ),
            (
                "summary days mon, wed",
                C::Summary(S::Weekdays(
                    Weekdays::none().with(Weekday::Mon).with(Weekday::Wed),
                )),
            ),
            (
                "summary weekdays all",
                C::Summary(S::Weekdays(Weekdays::all())),
            ),
            (
                "summary weekdays",
                C::Summary(S::Weekdays(Weekdays::workdays())),
            ),
            ("settings", C::Settings(None)),
            (
                "settings status off",
                C::Settings(Some(SettingChange::StatusSync(SyncMode::Off))),
            ),
            (
                "settings status AUTO",
                C::Settings(Some(SettingChange::StatusSync(SyncMode::Auto))),
            ),
            (
                "settings status confirm",
                C::Settings(Some(SettingChange::StatusSync(SyncMode::Confirm))),
            ),
            (
                "settings busy dnd",
                C::Settings(Some(SettingChange::BusyStatus(BusyStatus::Dnd))),
            ),
            (
                "settings busy away",
                C::Settings(Some(SettingChange::BusyStatus(BusyStatus::Away))),
            ),
            (
                "settings custom-status off",
                C::Settings(Some(SettingChange::CustomStatus(false))),
            ),
            (
                "settings reminders on",
                C::Settings(Some(SettingChange::Reminders(true))),
            ),
            (
                "settings invitations off",
                C::Settings(Some(SettingChange::Invitations(false))),
            ),
            ("admin subscriptions", C::Admin(AdminCommand::Subscriptions)),
            (
                "admin subscriptions renew",
                C::Admin(AdminCommand::RenewSubscriptions),
            ),
            ("admin sync-status", C::Admin(AdminCommand::SyncStatusNow)),
        ] {
            assert_eq!(ok(text), command, "{text}");
        }
    }

    #[test]
    fn errors_say_what_to_do() {
        assert_eq!(err("foo"), "Unknown command `foo`. Try `/mscalendar help`.");
        assert_eq!(
            err("`@all` bar"),
            "Unknown command `@all`. Try `/mscalendar help`."
        );
        assert_eq!(
            err("summary time"),
            "`summary time` needs a time such as 8:00 AM."
        );
        assert_eq!(
            err("summary time 8:60 AM"),
            "\"8:60 AM\" is not a time; use h:mm AM/PM, e.g. 8:00 AM"
        );
        assert_eq!(
            err("summary time 13:00 PM"),
            "\"13:00 PM\" is not a time; use h:mm AM/PM, e.g. 8:00 AM"
        );
        assert!(matches!(
            parse("summary time 25:00"),
            Err(CommandError::Time(_))
        ));
        assert!(matches!(
            parse("summary time 8"),
            Err(CommandError::Time(_))
        ));
        assert!(matches!(
            parse("summary days funday"),
            Err(CommandError::Days(_))
        ));
        assert_eq!(
            err("summary days"),
            "`summary days` needs days such as mon-fri, mon,wed,fri, weekdays or all."
        );
        assert_eq!(
            err("summary later"),
            "`summary` takes view, today, tomorrow, on, off, time or days, not `later`. Try `/mscalendar help`."
        );
        assert_eq!(
            err("settings status maybe"),
            "`settings status` takes off, auto or confirm, not `maybe`."
        );
        assert_eq!(
            err("settings status"),
            "`settings status` needs off, auto or confirm."
        );
        assert_eq!(
            err("settings busy offline"),
            "`settings busy` takes dnd or away, not `offline`."
        );
        assert_eq!(
            err("settings reminders sometimes"),
            "`settings reminders` takes on or off, not `sometimes`."
        );
        assert_eq!(
            err("settings invitations"),
            "`settings invitations` needs on or off."
        );
        assert_eq!(
            err("settings colour blue"),
            "`settings` takes status, busy, custom-status, reminders or invitations, not `colour`. Try `/mscalendar help`."
        );
        assert_eq!(
            err("connect now"),
            "`connect` takes nothing after it, not `now`."
        );
        assert_eq!(
            err("today please"),
            "`today` takes nothing after it, not `please`."
        );
        assert_eq!(
            err("admin"),
            "`admin` takes subscriptions, subscriptions renew or sync-status."
        );
        assert_eq!(
            err("admin subscriptions delete"),
            "`admin` takes subscriptions, subscriptions renew or sync-status, not `subscriptions delete`."
        );
        let long = err(&"x".repeat(100));
        assert!(long.contains(&format!("`{}…`", "x".repeat(40))), "{long}");
    }

    #[test]
    fn help_lists_every_command() {
        let help = help_text(false);
        for command in [
            "connect",
            "disconnect",
            "today",
            "tomorrow",
            "viewcal",
            "summary on",
            "summary time",
            "summary days",
            "settings status",
            "settings busy",
            "settings custom-status",
            "settings reminders",
            "settings invitations",
            "info",
            "help",
        ] {
            assert!(
                help.contains(&format!("/mscalendar {command}")),
                "{command}"
            );
        }
        assert!(!help.contains("admin"));
        let admin = help_text(true);
        assert!(admin.starts_with(&help));
        for command in [
            "admin subscriptions",
            "admin subscriptions renew",
            "admin sync-status",
        ] {
            assert!(
                admin.contains(&format!("/mscalendar {command}`")),
                "{command}"
            );
        }
        // Every example in the help parses.
        for line in admin.lines().filter(|l| l.starts_with("- `")) {
            let example = &line[3..line[3..].find('`').map_or(3, |i| i + 3)];
            let example = example.split('|').next().unwrap_or(example);
            assert!(parse(example).is_ok(), "{example}");
        }
        assert_eq!(TRIGGER, "mscalendar");
        assert!(!AUTOCOMPLETE_DESCRIPTION.is_empty() && !AUTOCOMPLETE_HINT.is_empty());
    }
}
