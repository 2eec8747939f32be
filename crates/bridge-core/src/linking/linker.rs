//! The linking flows (T1-T5, T8, B5): commands, the end of the sign-in round trip, button clicks
//! and revoked credentials, written once against the ports.

use super::command::{self, MappingCommand, NotificationsArg, TeamsCommand};
use super::model::{BotMessage, ButtonAction, ClickOutcome, LoginMapping, SignInPage};
use super::ports::{Accounts, ConnectError, Directory, Messenger, PortError, SignIn, SignInError};
use super::replies;
use super::rules::{LinkCandidate, check_link};

/// The linking flows over their four ports.
#[derive(Debug, Clone)]
pub struct Linker<A, D, S, M> {
    accounts: A,
    directory: D,
    sign_in: S,
    messenger: M,
    wording: replies::Wording,
}

impl<A, D, S, M> Linker<A, D, S, M>
where
    S: SignIn,
    A: Accounts<Credentials = S::Credentials>,
    D: Directory,
    M: Messenger,
{
    pub fn new(accounts: A, directory: D, sign_in: S, messenger: M) -> Self {
        Self {
            accounts,
            directory,
            sign_in,
            messenger,
            wording: replies::Wording::TEAMS,
        }
    }

    /// The same flows for another product (the calendar): its command and service name in the
    /// texts, its welcome and revoked messages.
    pub fn with_wording(mut self, wording: replies::Wording) -> Self {
        self.wording = wording;
        self
    }

    pub fn wording(&self) -> &replies::Wording {
        &self.wording
    }

    pub fn accounts(&self) -> &A {
        &self.accounts
    }

    pub fn directory(&self) -> &D {
        &self.directory
    }

    /// Runs one `/msteams` invocation by `caller_id` and returns the private reply. Usage mistakes
    /// and refusals are replies; only adapter failures are errors (reply with
    /// [`replies::try_again_later`] then).
    pub async fn command(&self, caller_id: &str, text: &str) -> Result<BotMessage, PortError> {
        let command = match command::parse(text) {
            Ok(command) => command,
            Err(err) => return Ok(BotMessage::text(err.to_string())),
        };
        let text = match command {
            TeamsCommand::Connect => self.connect(caller_id).await?,
            TeamsCommand::Disconnect => {
                if self.accounts.disconnect(caller_id).await? {
                    self.accounts.set_notifications(caller_id, false).await?;
                    replies::disconnected()
                } else {
                    replies::not_connected()
                }
            }
            TeamsCommand::Status => {
                let link = self.accounts.link(caller_id).await?;
                let on = self.accounts.notifications_enabled(caller_id).await?;
                replies::status(link.as_ref(), on)
            }
            TeamsCommand::Notifications(arg) => self.notifications(caller_id, arg).await?,
            TeamsCommand::Settings => return self.settings(caller_id).await,
            TeamsCommand::Help => {
                let admin = self
                    .directory
                    .user(caller_id)
                    .await?
                    .is_some_and(|u| u.is_admin);
                command::help_text(admin)
            }
            TeamsCommand::Mapping(mapping) => self.mapping(caller_id, mapping).await?,
        };
        Ok(BotMessage::text(text))
    }

    /// The reply to `connect`: a one-time sign-in link, or where the user already stands.
    pub async fn connect(&self, caller_id: &str) -> Result<String, PortError> {
        if let Some(link) = self.accounts.link(caller_id).await?
            && link.is_connected()
        {
            return Ok(replies::already_connected_to(
                &self.wording,
                &link.teams_login,
            ));
        }
        let url = self.sign_in.start(caller_id).await?;
        Ok(replies::connect_link_to(&self.wording, &url))
    }

    pub async fn is_connected(&self, mm_user_id: &str) -> Result<bool, PortError> {
        Ok(self
            .accounts
            .link(mm_user_id)
            .await?
            .is_some_and(|l| l.is_connected()))
    }

    async fn notifications(
        &self,
        caller_id: &str,
        arg: NotificationsArg,
    ) -> Result<String, PortError> {
        let on = match arg {
            NotificationsArg::Status => {
                let on = self.accounts.notifications_enabled(caller_id).await?;
                return Ok(replies::notifications_status(on));
            }
            NotificationsArg::On => true,
            NotificationsArg::Off => false,
        };
        if on && !self.is_connected(caller_id).await? {
            return Ok(replies::notifications_need_connection());
        }
        self.accounts.set_notifications(caller_id, on).await?;
        Ok(replies::notifications_changed(on))
    }

    /// The settings message for a user (T8).
    pub async fn settings(&self, mm_user_id: &str) -> Result<BotMessage, PortError> {
        let link = self.accounts.link(mm_user_id).await?;
        let on = self.accounts.notifications_enabled(mm_user_id).await?;
        Ok(replies::settings(link.as_ref(), on))
    }

    async fn mapping(&self, caller_id: &str, command: MappingCommand) -> Result<String, PortError> {
        let is_admin = self
            .directory
            .user(caller_id)
            .await?
            .is_some_and(|u| u.is_admin);
        if !is_admin {
            return Ok(replies::admins_only());
        }
        match command {
            MappingCommand::Add {
                username,
                microsoft_login,
            } => {
                let Some(user) = self.directory.user_by_username(&username).await? else {
                    return Ok(replies::unknown_user(&username));
                };
                let mapping = LoginMapping {
                    mm_user_id: user.id,
                    microsoft_login,
                };
                self.accounts.set_mapping(&mapping, caller_id).await?;
                Ok(replies::mapping_added(
                    &user.username,
                    &mapping.microsoft_login,
                ))
            }
            MappingCommand::Remove { username } => {
                let Some(user) = self.directory.user_by_username(&username).await? else {
                    return Ok(replies::unknown_user(&username));
                };
                let existed = self.accounts.remove_mapping(&user.id).await?;
                Ok(replies::mapping_removed(&user.username, existed))
            }
            MappingCommand::List => {
                let mut named = Vec::new();
                for mapping in self.accounts.mappings().await? {
                    let username = match self.directory.user(&mapping.mm_user_id).await? {
                        Some(user) => user.username,
                        None => mapping.mm_user_id.clone(),
                    };
                    named.push((username, mapping));
                }
                named.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(replies::mapping_list(&named))
            }
        }
    }

    /// Ends the sign-in round trip: Microsoft redirected back with `state` and `code`.
    pub async fn finish_sign_in(&self, state: &str, code: &str) -> SignInPage {
        let signed_in = match self.sign_in.finish(state, code).await {
            Ok(signed_in) => signed_in,
            Err(err) => return sign_in_error_page(self.wording.trigger, err),
        };
        let mm_user_id = signed_in.mm_user_id.as_str();
        match self.link_signed_in(&signed_in).await {
            Ok(Ok((login, newly))) => {
                if newly {
                    let on = self
                        .accounts
                        .notifications_enabled(mm_user_id)
                        .await
                        .unwrap_or(false);
                    if let Err(err) = self
                        .messenger
                        .direct_message(mm_user_id, &(self.wording.welcome)(&login, on))
                        .await
                    {
                        tracing::warn!(error = %err, mm_user_id, "could not send the connection confirmation");
                    }
                }
                page(
                    true,
                    "Connected",
                    format!(
                        "Your Mattermost account is now connected to {} as {login}. \
                         You can close this window and go back to Mattermost.",
                        self.wording.service
                    ),
                )
            }
            Ok(Err(refusal)) => page(false, "Not connected", refusal),
            Err(err) => {
                tracing::error!(error = %err, mm_user_id, "could not finish a sign-in");
                page(false, "Not connected", replies::try_again_later())
            }
        }
    }

    /// Applies the rules to a finished sign-in and writes the link. `Ok(Err(text))` is a refusal;
    /// `Ok(Ok((login, newly_connected)))` a link.
    async fn link_signed_in(
        &self,
        signed_in: &super::ports::SignedIn<S::Credentials>,
    ) -> Result<Result<(String, bool), String>, PortError> {
        let mm_user_id = signed_in.mm_user_id.as_str();
        let Some(user) = self.directory.user(mm_user_id).await? else {
            return Ok(Err(
                "The Mattermost account that started this sign-in no longer exists.".to_owned(),
            ));
        };
        let mapping = self.accounts.mapping(mm_user_id).await?;
        let current = self.accounts.link(mm_user_id).await?;
        let holder = self.accounts.holder_of(&signed_in.microsoft.id).await?;
        let candidate = LinkCandidate {
            mattermost: &user,
            microsoft: &signed_in.microsoft,
            mapping: mapping.as_deref(),
            current: current.as_ref(),
            holder_of_microsoft_account: holder.as_deref(),
        };
        let login = match check_link(&candidate) {
            Ok(login) => login,
            Err(refusal) => return Ok(Err(replies::refusal(&refusal))),
        };
        let newly = !current.as_ref().is_some_and(|c| c.is_connected());
        match self
            .accounts
            .connect(
                mm_user_id,
                &signed_in.microsoft,
                &login,
                &signed_in.credentials,
            )
            .await
        {
            Ok(()) => Ok(Ok((login, newly))),
            Err(ConnectError::Refused(refusal)) => Ok(Err(replies::refusal(&refusal))),
            Err(ConnectError::Port(err)) => Err(err),
        }
    }

    /// Microsoft redirected back with an OAuth `error` code instead of a code (the user cancelled,
    /// or consent was denied). The state is used up either way.
    pub async fn abandon_sign_in(&self, state: &str, error_code: &str) -> SignInPage {
        match self.sign_in.abandon(state).await {
            Ok(_) => page(
                false,
                "Not connected",
                replies::sign_in_not_completed_for(self.wording.trigger, error_code),
            ),
            Err(err) => sign_in_error_page(self.wording.trigger, err),
        }
    }

    /// A button click by `caller_id` whose signed context named `action` for that same user.
    pub async fn click(
        &self,
        caller_id: &str,
        action: ButtonAction,
    ) -> Result<ClickOutcome, PortError> {
        let connected = self.is_connected(caller_id).await?;
        let ephemeral = match action {
            ButtonAction::NotificationsOn | ButtonAction::NotificationsOff => {
                let on = action == ButtonAction::NotificationsOn;
                if on && !connected {
                    Some(replies::notifications_need_connection())
                } else {
                    self.accounts.set_notifications(caller_id, on).await?;
                    Some(replies::notifications_changed(on))
                }
            }
            ButtonAction::Connect => Some(self.connect(caller_id).await?),
            ButtonAction::Disconnect => {
                if self.accounts.disconnect(caller_id).await? {
                    self.accounts.set_notifications(caller_id, false).await?;
                    Some(replies::disconnected())
                } else {
                    Some(replies::not_connected())
                }
            }
        };
        Ok(ClickOutcome {
            update: Some(self.settings(caller_id).await?),
            ephemeral,
        })
    }

    /// Microsoft refused to refresh the user's token (invalid_grant): the link is marked
    /// disconnected and the user told how to reconnect. True if a connected link was ended.
    ///
    /// An adapter that can end the link only if it still holds the refused token (so that a
    /// reconnect made meanwhile stands) does that itself and then calls
    /// [`Linker::tell_credentials_revoked`].
    pub async fn credentials_revoked(&self, mm_user_id: &str) -> Result<bool, PortError> {
        if !self.accounts.disconnect(mm_user_id).await? {
            return Ok(false);
        }
        self.tell_credentials_revoked(mm_user_id).await;
        Ok(true)
    }

    /// Tells a user whose link Microsoft ended how to reconnect. A failure to send is logged.
    pub async fn tell_credentials_revoked(&self, mm_user_id: &str) {
        if let Err(err) = self
            .messenger
            .direct_message(mm_user_id, &(self.wording.revoked)())
            .await
        {
            tracing::warn!(error = %err, mm_user_id, "could not tell a user their sign-in was revoked");
        }
    }
}

fn page(success: bool, title: &str, message: impl Into<String>) -> SignInPage {
    SignInPage {
        success,
        title: title.to_owned(),
        message: message.into(),
    }
}

fn sign_in_error_page(trigger: &str, err: SignInError) -> SignInPage {
    let again = format!("Run `/{trigger} connect` in Mattermost to get a new link.");
    match err {
        SignInError::UnknownState => page(
            false,
            "Link not valid",
            format!(
                "This sign-in link is not valid or has already been used. Nothing was changed. {again}"
            ),
        ),
        SignInError::Expired { .. } => page(
            false,
            "Link expired",
            format!("This sign-in link has expired. Nothing was changed. {again}"),
        ),
        SignInError::Rejected { reason, .. } => page(
            false,
            "Not connected",
            format!("Microsoft did not accept the sign-in: {reason}. Nothing was changed. {again}"),
        ),
        SignInError::Unavailable(err) => {
            tracing::error!(error = %err, "sign-in could not be finished");
            page(false, "Not connected", replies::try_again_later())
        }
    }
}
