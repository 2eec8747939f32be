#![doc = include_str!("../README.md")]

pub mod calendar;
mod chats;
mod de;
mod endpoints;
mod files;
mod graph;
pub mod notifications;
mod oauth;
mod pkce;
mod presence;
pub mod scopes;
mod subscriptions;
mod tokens;
mod transport;

pub use chats::{
    Attachment, ChannelIdentity, Chat, ChatMember, ChatMessage, ItemBody, MAX_MESSAGES_PAGE,
    Mention, MessageSender,
};
pub use endpoints::{EndpointError, GraphEndpoints};
pub use files::{Download, Downloaded, encode_sharing_url, hosted_content_ids};
pub use graph::{GraphClient, GraphError, GraphObserver, MicrosoftUser};
pub use notifications::{
    ChangeNotification, ItemError, LifecycleEvent, NotificationError, NotificationParseError,
    RawNotification, ResourceData, parse_notification_batch, validation_token,
};
pub use oauth::{OAuthClient, OAuthError};
pub use pkce::{Pkce, RandomError, random_state};
pub use presence::{MAX_PRESENCE_IDS, Presence};
pub use subscriptions::{NewSubscription, Subscription};
pub use tokens::{AppToken, TokenSet};
