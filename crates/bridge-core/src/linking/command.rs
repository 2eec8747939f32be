//! The `/msteams` command grammar: the text after the trigger, parsed into a [`TeamsCommand`], or a
//! usage error that says what was wrong and how to write it.

use std::fmt;

/// The slash command's trigger word.
pub const TRIGGER: &str = "msteams";

/// A parsed `/msteams` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamsCommand {
    Connect,
    Disconnect,
    Status,
    Notifications(NotificationsArg),
    Settings,
    Help,
    /// Admin only (B5).
    Mapping(MappingCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationsArg {
    On,
    Off,
    Status,
}

/// Admin mappings between a Mattermost user and a Microsoft address that differs from their email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingCommand {
    Add {
        username: String,
        microsoft_login: String,
    },
    Remove {
        username: String,
    },
    List,
}

/// One subcommand's help line: syntax and what it does. The same table feeds `help`, the usage
/// replies and the autocomplete hint registered with Mattermost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub syntax: &'static str,
    pub description: &'static str,
    pub admin_only: bool,
}

/// Every subcommand, in the order `help` lists them.
pub const USAGES: &[Usage] = &[
    Usage {
        syntax: "connect",
        description: "Connect your Mattermost account to your Microsoft Teams account.",
        admin_only: false,
    },
    Usage {
        syntax: "disconnect",
        description: "Disconnect your Mattermost account from your Microsoft Teams account.",
        admin_only: false,
    },
    Usage {
        syntax: "status",
        description: "Show your current connection status.",
        admin_only: false,
    },
    Usage {
        syntax: "notifications on|off|status",
        description: "Turn chat notifications from Microsoft Teams on or off, or show the setting.",
        admin_only: false,
    },
    Usage {
        syntax: "settings",
        description: "Show your settings with buttons to change them.",
        admin_only: false,
    },
    Usage {
        syntax: "help",
        description: "Show this help.",
        admin_only: false,
    },
    Usage {
        syntax: "mapping add <username> <microsoft-address>",
        description: "Let a user link a Microsoft account whose address differs from their Mattermost email.",
        admin_only: true,
    },
    Usage {
        syntax: "mapping remove <username>",
        description: "Remove a user's address mapping.",
        admin_only: true,
    },
    Usage {
        syntax: "mapping list",
        description: "List the address mappings.",
        admin_only: true,
    },
];

/// The autocomplete hint registered with the command.
pub const AUTOCOMPLETE_HINT: &str =
    "connect | disconnect | status | notifications on|off|status | settings | help";
/// The autocomplete description registered with the command.
pub const AUTOCOMPLETE_DESCRIPTION: &str =
    "Connect to Microsoft Teams and manage chat notifications";

/// Why a command line could not be parsed. `Display` is the whole reply: what was wrong, then usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    UnknownSubcommand(String),
    /// Right subcommand, wrong arguments; `syntax` is the subcommand's usage line(s).
    WrongArguments {
        subcommand: &'static str,
        problem: String,
        syntax: Vec<&'static str>,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSubcommand(word) => {
                writeln!(f, "Unknown subcommand `{word}`.")?;
                write!(f, "{}", help_text(false))
            }
            Self::WrongArguments {
                subcommand,
                problem,
                syntax,
            } => {
                writeln!(f, "`/{TRIGGER} {subcommand}`: {problem}")?;
                write!(f, "Usage:")?;
                for line in syntax {
                    write!(f, "\n- `/{TRIGGER} {line}`")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// The help reply; admin subcommands are listed for admins only.
pub fn help_text(for_admin: bool) -> String {
    let mut text = format!("Available commands for `/{TRIGGER}`:");
    for usage in USAGES.iter().filter(|u| for_admin || !u.admin_only) {
        let marker = if usage.admin_only { " (admins)" } else { "" };
        text.push_str(&format!(
            "\n- `/{TRIGGER} {}`: {}{marker}",
            usage.syntax, usage.description
        ));
    }
    text
}

fn syntax_of(prefix: &str) -> Vec<&'static str> {
    USAGES
        .iter()
        .filter(|u| u.syntax.starts_with(prefix))
        .map(|u| u.syntax)
        .collect()
}

fn wrong(subcommand: &'static str, problem: impl Into<String>) -> CommandError {
    CommandError::WrongArguments {
        subcommand,
        problem: problem.into(),
        syntax: syntax_of(subcommand),
    }
}

fn no_arguments(
    subcommand: &'static str,
    command: TeamsCommand,
    rest: &[&str],
) -> Result<TeamsCommand, CommandError> {
    if rest.is_empty() {
        Ok(command)
    } else {
        Err(wrong(subcommand, "takes no arguments."))
    }
}

/// A username as typed: `@alice` or `alice`.
fn username(word: &str) -> String {
    word.trim_start_matches('@').to_owned()
}

/// A plain mailbox address (`user@domain.tld`): what Microsoft's `mail` and
/// `userPrincipalName` look like. Anything else (markup, quotes, spaces) is refused, so a mapping
/// shows as it was meant wherever it is printed.
pub fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-'".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    text.len() <= 254 && local_ok && domain_ok
}

/// Parses the text Mattermost sends (`/msteams notifications on`, or just `notifications on`).
/// Words are case-insensitive; an empty line is `help`.
pub fn parse(text: &str) -> Result<TeamsCommand, CommandError> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    if words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case(&format!("/{TRIGGER}")))
    {
        words.remove(0);
    }
    let Some((first, rest)) = words.split_first() else {
        return Ok(TeamsCommand::Help);
    };
    match first.to_ascii_lowercase().as_str() {
        "connect" => no_arguments("connect", TeamsCommand::Connect, rest),
        "disconnect" => no_arguments("disconnect", TeamsCommand::Disconnect, rest),
        "status" => no_arguments("status", TeamsCommand::Status, rest),
        "settings" => no_arguments("settings", TeamsCommand::Settings, rest),
        "help" => Ok(TeamsCommand::Help),
        "notifications" => match rest {
            [] => Ok(TeamsCommand::Notifications(NotificationsArg::Status)),
            [arg] => match arg.to_ascii_lowercase().as_str() {
                "on" => Ok(TeamsCommand::Notifications(NotificationsArg::On)),
                "off" => Ok(TeamsCommand::Notifications(NotificationsArg::Off)),
                "status" => Ok(TeamsCommand::Notifications(NotificationsArg::Status)),
                other => Err(wrong(
                    "notifications",
                    format!("`{other}` is not one of on, off or status."),
                )),
            },
            _ => Err(wrong("notifications", "takes one argument.")),
        },
        "mapping" => {
            let Some((action, args)) = rest.split_first() else {
                return Err(wrong("mapping", "say add, remove or list."));
            };
            match (action.to_ascii_lowercase().as_str(), args) {
                ("add", [user, login]) if is_address(login) => {
                    Ok(TeamsCommand::Mapping(MappingCommand::Add {
                        username: username(user),
                        microsoft_login: (*login).to_owned(),
                    }))
                }
                ("add", [_, login]) => Err(wrong(
                    "mapping",
                    format!(
                        "`{}` is not a Microsoft address (user@domain).",
                        login.replace('`', "'")
                    ),
                )),
                ("add", _) => Err(wrong(
                    "mapping",
                    "add takes a username and a Microsoft address.",
                )),
                ("remove", [user]) => Ok(TeamsCommand::Mapping(MappingCommand::Remove {
                    username: username(user),
                })),
                ("remove", _) => Err(wrong("mapping", "remove takes one username.")),
                ("list", []) => Ok(TeamsCommand::Mapping(MappingCommand::List)),
                ("list", _) => Err(wrong("mapping", "list takes no arguments.")),
                (other, _) => Err(wrong(
                    "mapping",
                    format!("`{other}` is not one of add, remove or list."),
                )),
            }
        }
        _ => Err(CommandError::UnknownSubcommand((*first).to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_parses() {
        assert_eq!(parse("connect"), Ok(TeamsCommand::Connect));
        assert_eq!(parse("/msteams  Disconnect "), Ok(TeamsCommand::Disconnect));
        assert_eq!(parse("status"), Ok(TeamsCommand::Status));
        assert_eq!(parse(""), Ok(TeamsCommand::Help));
        assert_eq!(parse("help me"), Ok(TeamsCommand::Help));
        assert_eq!(parse("settings"), Ok(TeamsCommand::Settings));
        assert_eq!(
            parse("notifications ON"),
            Ok(TeamsCommand::Notifications(NotificationsArg::On))
        );
        assert_eq!(
            parse("notifications off"),
            Ok(TeamsCommand::Notifications(NotificationsArg::Off))
        );
        assert_eq!(
            parse("notifications"),
            Ok(TeamsCommand::Notifications(NotificationsArg::Status))
        );
        assert_eq!(
            parse("mapping add @alice Alice.W@contoso.com"),
            Ok(TeamsCommand::Mapping(MappingCommand::Add {
                username: "alice".into(),
                microsoft_login: "Alice.W@contoso.com".into()
            }))
        );
        assert_eq!(
            parse("mapping remove alice"),
            Ok(TeamsCommand::Mapping(MappingCommand::Remove {
                username: "alice".into()
            }))
        );
        assert_eq!(
            parse("mapping list"),
            Ok(TeamsCommand::Mapping(MappingCommand::List))
        );
    }

    #[test]
    fn mistakes_get_usage_replies() {
        let unknown = parse("conect").expect_err("unknown");
        let text = unknown.to_string();
        assert!(text.starts_with("Unknown subcommand `conect`."), "{text}");
        assert!(text.contains("/msteams connect"), "{text}");
        assert!(
            !text.contains("mapping"),
            "admin commands hidden from users: {text}"
        );

        let text = parse("notifications maybe")
            .expect_err("bad arg")
            .to_string();
        assert!(
            text.contains("`maybe` is not one of on, off or status"),
            "{text}"
        );
        assert!(
            text.contains("/msteams notifications on|off|status"),
            "{text}"
        );

        let text = parse("connect now").expect_err("extra").to_string();
        assert!(text.contains("takes no arguments"), "{text}");

        let text = parse("mapping add alice").expect_err("short").to_string();
        assert!(
            text.contains("/msteams mapping add <username> <microsoft-address>"),
            "{text}"
        );
        let text = parse("mapping add alice bob")
            .expect_err("no @")
            .to_string();
        assert!(text.contains("`bob` is not a Microsoft address"), "{text}");
        for odd in [
            "a@b",
            "@contoso.com",
            "a@@contoso.com",
            "**a**@contoso.com",
            "a@contoso.com)",
            "[x](y)@contoso.com",
            "a@-contoso.com",
            "a@contoso..com",
        ] {
            assert!(
                parse(&format!("mapping add alice {odd}")).is_err(),
                "{odd} is refused"
            );
        }
        assert!(is_address("o'brien+teams@sub.contoso-eu.com"));
        assert!(parse("mapping").is_err());
        assert!(parse("mapping drop x").is_err());
    }

    #[test]
    fn help_lists_admin_commands_only_for_admins() {
        assert!(!help_text(false).contains("mapping"));
        assert!(help_text(true).contains("/msteams mapping list"));
        assert!(help_text(false).contains("/msteams notifications on|off|status"));
    }
}
