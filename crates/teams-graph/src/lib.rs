#![doc = include_str!("../README.md")]

mod endpoints;
mod graph;
mod oauth;
mod pkce;
pub mod scopes;
mod tokens;
mod transport;

pub use endpoints::{EndpointError, GraphEndpoints};
pub use graph::{GraphClient, GraphError, MicrosoftUser};
pub use oauth::{OAuthClient, OAuthError};
pub use pkce::{Pkce, RandomError, random_state};
pub use tokens::{AppToken, TokenSet};
