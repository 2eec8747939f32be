//! The ports the linking flows need. The service implements them with the store, the Mattermost
//! client and the Microsoft identity platform; tests implement them in memory.

use async_trait::async_trait;

use super::model::{BotMessage, LinkState, LoginMapping, MattermostUser, MicrosoftAccount};
use super::rules::LinkRefusal;

/// An adapter failed (store unreachable, Mattermost answered 500, ...). The message is for logs
/// and must hold no secret; users get a generic "try again" reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct PortError {
    pub what: String,
    pub message: String,
}

impl PortError {
    pub fn new(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

/// Why [`Accounts::connect`] did not write the link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// Someone else connected the same account between the check and the write.
    #[error("refused: {0:?}")]
    Refused(LinkRefusal),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// The link table, the user's preferences and the admin mappings.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// What a successful sign-in hands over (the token set); the adapter seals it at rest.
    type Credentials: Send + Sync;

    async fn link(&self, mm_user_id: &str) -> Result<Option<LinkState>, PortError>;
    /// The Mattermost user connected to this Microsoft account, if any.
    async fn holder_of(&self, microsoft_user_id: &str) -> Result<Option<String>, PortError>;
    /// Writes the link (or refreshes the token of the same link).
    async fn connect(
        &self,
        mm_user_id: &str,
        microsoft: &MicrosoftAccount,
        login: &str,
        credentials: &Self::Credentials,
    ) -> Result<(), ConnectError>;
    /// Marks the link disconnected and deletes its token; false if it was not connected.
    async fn disconnect(&self, mm_user_id: &str) -> Result<bool, PortError>;
    async fn notifications_enabled(&self, mm_user_id: &str) -> Result<bool, PortError>;
    async fn set_notifications(&self, mm_user_id: &str, on: bool) -> Result<(), PortError>;
    async fn mapping(&self, mm_user_id: &str) -> Result<Option<String>, PortError>;
    async fn set_mapping(&self, mapping: &LoginMapping, created_by: &str) -> Result<(), PortError>;
    /// False if there was none.
    async fn remove_mapping(&self, mm_user_id: &str) -> Result<bool, PortError>;
    async fn mappings(&self) -> Result<Vec<LoginMapping>, PortError>;
}

/// Mattermost's users.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn user(&self, mm_user_id: &str) -> Result<Option<MattermostUser>, PortError>;
    async fn user_by_username(&self, username: &str) -> Result<Option<MattermostUser>, PortError>;
}

/// A finished sign-in: whose it was, the Microsoft account, and its credentials.
#[derive(Debug)]
pub struct SignedIn<C> {
    pub mm_user_id: String,
    pub microsoft: MicrosoftAccount,
    pub credentials: C,
}

/// Why a sign-in round trip could not be finished. The state is used up in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInError {
    /// Never issued, already used, or for another service.
    UnknownState,
    Expired {
        mm_user_id: String,
    },
    /// Microsoft refused (the user declined consent, the code was rejected, ...). `reason` is safe
    /// to show.
    Rejected {
        mm_user_id: Option<String>,
        reason: String,
    },
    Unavailable(PortError),
}

/// The Microsoft sign-in round trip.
#[async_trait]
pub trait SignIn: Send + Sync {
    type Credentials: Send + Sync;

    /// Starts a sign-in for the user and returns the link they open (valid for a short while,
    /// once).
    async fn start(&self, mm_user_id: &str) -> Result<String, PortError>;
    /// Consumes `state`, redeems `code`, and reads the signed-in account.
    async fn finish(
        &self,
        state: &str,
        code: &str,
    ) -> Result<SignedIn<Self::Credentials>, SignInError>;
    /// Consumes `state` after Microsoft redirected back with an error instead of a code; returns
    /// whose sign-in it was.
    async fn abandon(&self, state: &str) -> Result<Option<String>, SignInError>;
}

/// The bot's direct messages.
#[async_trait]
pub trait Messenger: Send + Sync {
    async fn direct_message(&self, mm_user_id: &str, message: &BotMessage)
    -> Result<(), PortError>;
}
