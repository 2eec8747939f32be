#![doc = include_str!("../README.md")]

mod actions;
mod auth;
mod channels;
mod commands;
mod control;
mod error;
mod faults;
mod files;
mod ids;
mod posts;
mod reactions;
mod server;
mod state;
mod status;
mod teams;
mod users;
mod websocket;

pub use actions::ActionOutcome;
pub use auth::UserAccessToken;
pub use channels::{Channel, ChannelType};
pub use commands::{Command, CommandOutcome, CommandResponse, NewCommand};
pub use error::EmulatorError;
pub use faults::{Fault, FaultRule, FaultTarget};
pub use files::FileInfo;
pub use posts::{NewPost, Post, PostList, PostMetadata};
pub use reactions::Reaction;
pub use server::{EmulatorOptions, MattermostEmulator};
pub use status::{CustomStatus, Status};
pub use teams::Team;
pub use users::{Bot, BotAccount, NewUser, User};
