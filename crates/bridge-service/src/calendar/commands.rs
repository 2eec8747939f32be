//! `/mscalendar`: every command's reply (C1). Usage mistakes are replies; a failure of the store,
//! Graph or Mattermost is logged and answered with "try again".

use calendar_core::UserSettings;
use calendar_core::agenda::{agenda, render_agenda};
use calendar_core::command::{self, AdminCommand, CalendarCommand, SettingChange, SummaryCommand};
use calendar_core::settings::describe_change;
use calendar_core::status::SyncMode;
use chrono::{Days, TimeDelta};
use mm_client::ActionStyle;

use super::buttons::{Button, CalendarAction};
use super::users::CalendarUser;
use super::{CalendarApp, WORDING};

/// Why a command could not be answered (logged; the user is told to try again).
pub(crate) type Failure = Box<dyn std::error::Error + Send + Sync>;

/// What a command answers: text, and buttons under it.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub(crate) text: String,
    pub(crate) buttons: Vec<Button>,
}

impl Reply {
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            buttons: Vec::new(),
        }
    }
}

fn not_connected() -> Reply {
    Reply::text(format!(
        "Your Mattermost account is not connected to Microsoft 365 Calendar. Run `/{} connect` \
         to connect it.",
        WORDING.trigger
    ))
}

fn try_again() -> Reply {
    Reply::text(bridge_core::linking::replies::try_again_later())
}

/// The settings message with buttons that change them.
pub(crate) fn settings_message(settings: &UserSettings) -> Reply {
    let toggle = |on: bool, what: &str| {
        if on {
            (format!("Turn {what} off"), format!("{what} off"))
        } else {
            (format!("Turn {what} on"), format!("{what} on"))
        }
    };
    let mut buttons = Vec::new();
    let (label, setting) = toggle(settings.summary.enabled, "summary");
    buttons.push(Button::new(
        label,
        ActionStyle::Default,
        CalendarAction::Setting(setting),
    ));
    let (label, setting) = toggle(settings.reminders, "reminders");
    buttons.push(Button::new(
        label,
        ActionStyle::Default,
        CalendarAction::Setting(setting),
    ));
    let (label, setting) = toggle(settings.invitations, "invitations");
    buttons.push(Button::new(
        label,
        ActionStyle::Default,
        CalendarAction::Setting(setting),
    ));
    for (mode, label) in [
        (SyncMode::Off, "Status: leave it"),
        (SyncMode::Auto, "Status: change it"),
        (SyncMode::Confirm, "Status: ask me"),
    ] {
        if settings.status.mode != mode {
            let word = match mode {
                SyncMode::Off => "off",
                SyncMode::Auto => "auto",
                SyncMode::Confirm => "confirm",
            };
            buttons.push(Button::new(
                label,
                ActionStyle::Default,
                CalendarAction::Setting(format!("status {word}")),
            ));
        }
    }
    Reply {
        text: settings.describe(),
        buttons,
    }
}

impl CalendarApp {
    /// Runs one `/mscalendar` invocation by `caller_id`.
    pub(crate) async fn command(&self, caller_id: &str, text: &str) -> Reply {
        let parsed = match command::parse(text) {
            Ok(parsed) => parsed,
            Err(err) => return Reply::text(err.to_string()),
        };
        match self.run_command(caller_id, parsed).await {
            Ok(reply) => reply,
            Err(err) => {
                tracing::error!(error = %err, caller_id, "/mscalendar failed");
                try_again()
            }
        }
    }

    async fn run_command(
        &self,
        caller_id: &str,
        parsed: CalendarCommand,
    ) -> Result<Reply, Failure> {
        let linker = &self.linking.linker;
        Ok(match parsed {
            CalendarCommand::Help => {
                Reply::text(command::help_text(self.is_admin(caller_id).await))
            }
            CalendarCommand::Connect => Reply::text(linker.connect(caller_id).await?),
            CalendarCommand::Disconnect => {
                use bridge_core::linking::ports::Accounts as _;
                if linker.accounts().disconnect(caller_id).await? {
                    self.forget_user(caller_id).await?;
                    self.linking.signed_in.notify_one();
                    Reply::text(format!(
                        "Your Mattermost account is now disconnected from Microsoft 365 Calendar. \
                         Its sign-in was deleted, and summaries, reminders, invitations and status \
                         changes stop. Run `/{} connect` to connect again.",
                        WORDING.trigger
                    ))
                } else {
                    not_connected()
                }
            }
            CalendarCommand::Info => self.info(caller_id).await?,
            CalendarCommand::Settings(None) => {
                settings_message(&self.user_settings(caller_id).await?)
            }
            CalendarCommand::Settings(Some(change)) => {
                self.change_setting(caller_id, change).await?
            }
            CalendarCommand::Summary(summary) => self.summary_command(caller_id, summary).await?,
            CalendarCommand::Today => self.agenda_reply(caller_id, 0, 1, "Your agenda").await?,
            CalendarCommand::Tomorrow => self.agenda_reply(caller_id, 1, 1, "Your agenda").await?,
            CalendarCommand::ViewCal => self.agenda_reply(caller_id, 0, 7, "Your week").await?,
            CalendarCommand::Admin(admin) => {
                if !self.is_admin(caller_id).await {
                    return Ok(Reply::text(
                        "Only system admins and the configured admin users can run admin commands.",
                    ));
                }
                self.admin_command(admin).await?
            }
        })
    }

    async fn info(&self, caller_id: &str) -> Result<Reply, Failure> {
        let mut text = format!(
            "#### Microsoft 365 Calendar for Mattermost\n{} {}\n",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION")
        );
        match self.calendar_user(caller_id).await? {
            Some(user) => {
                let tz = match user.tz {
                    Some(tz) => tz.name().to_owned(),
                    None => "not known yet (read from your mailbox settings shortly)".to_owned(),
                };
                text.push_str(&format!(
                    "- Connected as **{}** since {}\n- Time zone: {tz}\n- Daily summary: {}",
                    user.link.teams_login,
                    user.link.connected_at.format("%Y-%m-%d"),
                    user.settings.describe_summary()
                ));
            }
            None => text.push_str(&not_connected().text),
        }
        Ok(Reply::text(text))
    }

    async fn change_setting(
        &self,
        caller_id: &str,
        change: SettingChange,
    ) -> Result<Reply, Failure> {
        let mut settings = self.user_settings(caller_id).await?;
        settings.apply(change);
        self.save_settings(caller_id, &settings).await?;
        let mut reply = settings_message(&settings);
        reply.text = format!("{}\n\n{}", describe_change(change), reply.text);
        Ok(reply)
    }

    async fn summary_command(
        &self,
        caller_id: &str,
        summary: SummaryCommand,
    ) -> Result<Reply, Failure> {
        match summary {
            SummaryCommand::Today => {
                return self
                    .agenda_reply(caller_id, 0, 1, "Your daily summary")
                    .await;
            }
            SummaryCommand::Tomorrow => {
                return self
                    .agenda_reply(caller_id, 1, 1, "Your daily summary")
                    .await;
            }
            _ => {}
        }
        let mut settings = self.user_settings(caller_id).await?;
        let changed = settings.apply_summary(summary);
        if changed {
            self.save_settings(caller_id, &settings).await?;
            // The schedule needs the zone; a user who just connected may not have it yet.
            if let Some(mut user) = self.calendar_user(caller_id).await?
                && user.tz.is_none()
            {
                self.learn_time_zone(&mut user).await;
            }
        }
        let mut text = format!("Your daily summary is {}.", settings.describe_summary());
        if settings.summary.enabled {
            match self.calendar_user(caller_id).await? {
                None => text.push_str(&format!("\n\n{}", not_connected().text)),
                Some(user) => {
                    let tz = user.tz_or_utc();
                    text.push_str(&format!(
                        " Times are in your Outlook time zone ({}).",
                        tz.name()
                    ));
                }
            }
        }
        Ok(Reply::text(text))
    }

    /// The agenda of `days` days from today plus `offset`, in the user's time zone.
    async fn agenda_reply(
        &self,
        caller_id: &str,
        offset: u64,
        days: u64,
        heading: &str,
    ) -> Result<Reply, Failure> {
        let Some(mut user) = self.calendar_user(caller_id).await? else {
            return Ok(not_connected());
        };
        if user.tz.is_none() {
            self.learn_time_zone(&mut user).await;
        }
        let tz = user.tz_or_utc();
        let today = self.now().with_timezone(&tz).date_naive();
        let first = today + Days::new(offset);
        let (from, _) = calendar_core::agenda::day_bounds(tz, first);
        let (_, to) = calendar_core::agenda::day_bounds(tz, first + Days::new(days - 1));
        let events = match self.read_events(&user, from, to).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(error = %err, caller_id, "could not read a calendar for a command");
                return Ok(Reply::text(
                    "Microsoft 365 did not answer just now; nothing was read. Try again in a minute.",
                ));
            }
        };
        let mut parts = Vec::new();
        for day in 0..days {
            let date = first + Days::new(day);
            let entries = agenda(&events, tz, date);
            parts.push(render_agenda(heading, date, tz.name(), &entries));
        }
        let mut text = parts.join("\n\n");
        let max = calendar_core::agenda::MAX_POST_CHARS;
        if text.chars().count() > max {
            // One reply is one post: the rest is in Outlook (a daily summary sends it all).
            let note = "\n\n_There is more than fits in one message; see the rest in Outlook._";
            let cut: String = text.chars().take(max - note.chars().count()).collect();
            let cut = cut
                .rsplit_once('\n')
                .map_or(cut.as_str(), |(head, _)| head)
                .to_owned();
            text = format!("{cut}{note}");
        }
        Ok(Reply::text(text))
    }

    /// Reads the user's mailbox time zone now (a command needs it before the jobs learnt it).
    pub(crate) async fn learn_time_zone(&self, user: &mut CalendarUser) {
        match self.read_time_zone(user).await {
            Ok(Some(tz)) => {
                user.tz = Some(tz);
                if let Err(err) = self.save_time_zone(user.mm_user_id(), tz).await {
                    tracing::warn!(error = %err, "could not store a time zone");
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "could not read a mailbox time zone"),
        }
    }

    async fn admin_command(&self, admin: AdminCommand) -> Result<Reply, Failure> {
        Ok(match admin {
            AdminCommand::Subscriptions => Reply::text(self.describe_subscriptions().await?),
            AdminCommand::RenewSubscriptions => {
                let report = self.renew_all_subscriptions().await?;
                Reply::text(format!("Subscriptions: {report}"))
            }
            AdminCommand::SyncStatusNow => {
                let now = self.now();
                let n = self.watch_everyone_now(now).await?;
                Reply::text(format!(
                    "Status sync will run for {n} connected users within {} seconds.",
                    self.timing.tick.as_secs().max(1)
                ))
            }
        })
    }
}

/// How long before its end a day's window is read again (the watch job keeps a day and a half).
pub(crate) const WINDOW: TimeDelta = TimeDelta::hours(36);
