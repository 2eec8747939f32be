#![doc = include_str!("../README.md")]

mod endpoints;
mod graph;
mod oauth;
mod pkce;
pub mod scopes;

pub use endpoints::{EndpointError, GraphEndpoints};
pub use graph::{GraphClient, GraphError, MicrosoftUser};
pub use oauth::{AppToken, OAuthClient, OAuthError, TokenSet};
pub use pkce::{Pkce, RandomError, random_state};
