//! Account linking (T1-T5, T8, B5): a Mattermost user links one Microsoft account, whose mail or
//! UPN must equal their Mattermost email unless an admin mapped another address.
//!
//! - [`command`]: the `/msteams` grammar and its usage texts.
//! - [`rules`]: which links are allowed.
//! - [`Linker`]: the flows (commands, end of sign-in, buttons, revoked credentials) over the
//!   [`ports`] that the service implements with the store, Mattermost and Microsoft.
//! - [`replies`]: every text shown to users.

pub mod command;
mod linker;
mod model;
pub mod ports;
pub mod replies;
pub mod rules;

pub use linker::Linker;
pub use model::{
    BotMessage, Button, ButtonAction, ButtonStyle, ClickOutcome, LinkState, LoginMapping,
    MattermostUser, MicrosoftAccount, SignInPage,
};
pub use replies::Wording;
