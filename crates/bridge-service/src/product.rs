use std::net::{Ipv4Addr, SocketAddr};

/// Which of the two services is running. Everything that differs between them by name lives here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    Teams,
    Calendar,
}

impl Product {
    /// The binary's name, also used for the default database and key file names.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Teams => "teams-bridge",
            Self::Calendar => "calendar-bridge",
        }
    }

    /// Prefix of environment overrides: `TEAMS_BRIDGE__SECTION__KEY`.
    pub fn env_prefix(self) -> &'static str {
        match self {
            Self::Teams => "TEAMS_BRIDGE__",
            Self::Calendar => "CALENDAR_BRIDGE__",
        }
    }

    pub fn default_listen(self) -> SocketAddr {
        let port = match self {
            Self::Teams => 8080,
            Self::Calendar => 8081,
        };
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    /// The slash command the service answers.
    pub fn slash_command(self) -> &'static str {
        match self {
            Self::Teams => "/msteams",
            Self::Calendar => "/mscalendar",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Self::Teams => "Microsoft Teams bridge",
            Self::Calendar => "Microsoft 365 Calendar bridge",
        }
    }
}
