//! A user's calendar settings: stored as JSON, changed by `/mscalendar settings` and
//! `/mscalendar summary`, and shown back to the user.

use serde::{Deserialize, Serialize};

use crate::command::{SettingChange, SummaryCommand};
use crate::status::{BusyStatus, StatusSettings, SyncMode};
use crate::summary::{SummarySchedule, format_time};

/// Everything a user can set. Missing fields in stored JSON take their defaults, so settings
/// added later need no migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    /// The daily summary (C2).
    pub summary: SummarySchedule,
    /// A message before each event (C4).
    pub reminders: bool,
    /// A message for each new invitation (C5).
    pub invitations: bool,
    /// Status sync during meetings (C3).
    pub status: StatusSettings,
}

impl Default for UserSettings {
    /// Summary off (8:00 AM, Monday to Friday once on), reminders on, invitations on, status
    /// sync off.
    fn default() -> Self {
        Self {
            summary: SummarySchedule::default(),
            reminders: true,
            invitations: true,
            status: StatusSettings::default(),
        }
    }
}

impl UserSettings {
    /// Applies a `/mscalendar settings <name> <value>` change.
    pub fn apply(&mut self, change: SettingChange) {
        match change {
            SettingChange::StatusSync(mode) => self.status.mode = mode,
            SettingChange::BusyStatus(busy) => self.status.busy_status = busy,
            SettingChange::CustomStatus(on) => self.status.custom_status = on,
            SettingChange::Reminders(on) => self.reminders = on,
            SettingChange::Invitations(on) => self.invitations = on,
        }
    }

    /// Applies the setting part of a `/mscalendar summary` command; returns whether it was one
    /// (`view`, `today` and `tomorrow` change nothing). Setting the time or the days turns the
    /// summary on, since that is what someone choosing them wants.
    pub fn apply_summary(&mut self, command: SummaryCommand) -> bool {
        match command {
            SummaryCommand::View | SummaryCommand::Today | SummaryCommand::Tomorrow => {
                return false;
            }
            SummaryCommand::Enable => self.summary.enabled = true,
            SummaryCommand::Disable => self.summary.enabled = false,
            SummaryCommand::Time(time) => {
                self.summary.time = time;
                self.summary.enabled = true;
            }
            SummaryCommand::Weekdays(days) => {
                self.summary.weekdays = days;
                self.summary.enabled = true;
            }
        }
        true
    }

    /// The daily summary setting in words: "on, at 8:00 AM on Mon, Tue, Wed, Thu, Fri" or "off".
    pub fn describe_summary(&self) -> String {
        if self.summary.enabled {
            format!(
                "on, at {} on {}",
                format_time(self.summary.time),
                self.summary.weekdays
            )
        } else {
            "off".to_owned()
        }
    }

    /// The settings as Markdown, for `/mscalendar settings`.
    pub fn describe(&self) -> String {
        let on_off = |on: bool| if on { "on" } else { "off" };
        format!(
            "#### Your calendar settings\n\
             - **Daily summary:** {} (`/mscalendar summary on|off`, `summary time 8:00 AM`, `summary days mon-fri`)\n\
             - **Reminders before events:** {} (`/mscalendar settings reminders on|off`)\n\
             - **New invitations:** {} (`/mscalendar settings invitations on|off`)\n\
             - **Status during meetings:** {} (`/mscalendar settings status off|auto|confirm`, `settings busy dnd|away`, `settings custom-status on|off`)",
            self.describe_summary(),
            on_off(self.reminders),
            on_off(self.invitations),
            describe_status(&self.status),
        )
    }
}

fn busy_name(busy: BusyStatus) -> &'static str {
    match busy {
        BusyStatus::Dnd => "Do Not Disturb",
        BusyStatus::Away => "Away",
    }
}

fn describe_status(status: &StatusSettings) -> String {
    let custom = if status.custom_status {
        ", with an \"In a meeting\" custom status"
    } else {
        ""
    };
    match status.mode {
        SyncMode::Off => "not changed".to_owned(),
        SyncMode::Auto => format!(
            "set to {} automatically{custom}",
            busy_name(status.busy_status)
        ),
        SyncMode::Confirm => format!(
            "set to {} after asking you{custom}",
            busy_name(status.busy_status)
        ),
    }
}

/// The reply to a settings change: what it is now.
pub fn describe_change(change: SettingChange) -> String {
    let on_off = |on: bool| if on { "on" } else { "off" };
    match change {
        SettingChange::StatusSync(SyncMode::Off) => {
            "Your status will no longer be changed during meetings.".to_owned()
        }
        SettingChange::StatusSync(SyncMode::Auto) => {
            "Your status will be changed automatically during meetings.".to_owned()
        }
        SettingChange::StatusSync(SyncMode::Confirm) => {
            "You will be asked before your status is changed for a meeting.".to_owned()
        }
        SettingChange::BusyStatus(busy) => {
            format!("Your status during meetings will be {}.", busy_name(busy))
        }
        SettingChange::CustomStatus(on) => {
            format!("The \"In a meeting\" custom status is now {}.", on_off(on))
        }
        SettingChange::Reminders(on) => format!("Reminders before events are now {}.", on_off(on)),
        SettingChange::Invitations(on) => {
            format!("Messages for new invitations are now {}.", on_off(on))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Weekdays;
    use chrono::{NaiveTime, Weekday};

    #[test]
    fn defaults_and_json() {
        let settings = UserSettings::default();
        assert!(!settings.summary.enabled);
        assert_eq!(
            settings.summary.time,
            NaiveTime::from_hms_opt(8, 0, 0).unwrap()
        );
        assert_eq!(settings.summary.weekdays, Weekdays::workdays());
        assert!(settings.reminders && settings.invitations);
        assert_eq!(settings.status.mode, SyncMode::Off);
        let json = serde_json::to_string(&settings).unwrap();
        assert_eq!(
            serde_json::from_str::<UserSettings>(&json).unwrap(),
            settings
        );
        // Stored before a setting existed: the defaults fill in.
        let old: UserSettings = serde_json::from_str(r#"{"reminders":false}"#).unwrap();
        assert_eq!(
            old,
            UserSettings {
                reminders: false,
                ..UserSettings::default()
            }
        );
    }

    #[test]
    fn changes_apply() {
        let mut s = UserSettings::default();
        s.apply(SettingChange::StatusSync(SyncMode::Confirm));
        s.apply(SettingChange::BusyStatus(BusyStatus::Away));
        s.apply(SettingChange::CustomStatus(false));
        s.apply(SettingChange::Reminders(false));
        s.apply(SettingChange::Invitations(false));
        assert_eq!(
            s.status,
            StatusSettings {
                mode: SyncMode::Confirm,
                busy_status: BusyStatus::Away,
                custom_status: false
            }
        );
        assert!(!s.reminders && !s.invitations);
        assert!(!s.apply_summary(SummaryCommand::View));
        assert!(!s.summary.enabled);
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        assert!(s.apply_summary(SummaryCommand::Time(nine)));
        assert!(s.summary.enabled);
        assert!(s.apply_summary(SummaryCommand::Disable));
        assert!(s.apply_summary(SummaryCommand::Weekdays(
            Weekdays::none().with(Weekday::Sun)
        )));
        assert!(s.summary.enabled);
        assert_eq!(s.describe_summary(), "on, at 9:00 AM on Sun");
    }

    #[test]
    fn described() {
        let mut s = UserSettings::default();
        let text = s.describe();
        assert!(text.starts_with("#### Your calendar settings\n"), "{text}");
        assert!(text.contains("- **Daily summary:** off"), "{text}");
        assert!(text.contains("- **Reminders before events:** on"), "{text}");
        assert!(
            text.contains("- **Status during meetings:** not changed"),
            "{text}"
        );
        s.apply_summary(SummaryCommand::Enable);
        s.apply(SettingChange::StatusSync(SyncMode::Auto));
        let text = s.describe();
        assert!(
            text.contains("- **Daily summary:** on, at 8:00 AM on Mon, Tue, Wed, Thu, Fri"),
            "{text}"
        );
        assert!(
            text.contains(
                "- **Status during meetings:** set to Do Not Disturb automatically, with an \"In a meeting\" custom status"
            ),
            "{text}"
        );
        assert_eq!(
            describe_change(SettingChange::Reminders(false)),
            "Reminders before events are now off."
        );
        assert_eq!(
            describe_change(SettingChange::BusyStatus(BusyStatus::Away)),
            "Your status during meetings will be Away."
        );
    }
}
