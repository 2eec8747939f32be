#![doc = include_str!("../README.md")]

mod backend;
mod cursors;
mod deliveries;
mod error;
mod inbox;
mod job_leases;
mod links;
mod mappings;
mod oauth_states;
mod preferences;
mod schedules;
pub mod sealing;
mod subscriptions;

pub use backend::{BackendKind, MigrationReport, Store, StoreOptions, redact_url};
pub use cursors::ChatCursor;
pub use deliveries::{DeliveryState, Reservation};
pub use error::{LinkConflict, StoreError};
pub use inbox::{Claim, DeadLetter, InboxCounts, InboxItem, InboxListener, NewInboxItem};
pub use job_leases::JobLease;
pub use links::{AccountLink, NewLink, link_token_context};
pub use mappings::LoginMapping;
pub use oauth_states::{NewOAuthState, OAuthState, StateLookup};
pub use schedules::DueSchedule;
pub use sealing::{EncryptionKey, KeyError, SealError, Sealed, TokenSealer, fingerprint};
pub use subscriptions::{GraphSubscription, NewSubscription};
