#![doc = include_str!("../README.md")]

pub mod cli;
pub mod config;
mod error;
mod keys;
mod product;
mod sandbox;
pub mod server;
mod service;
pub mod teams;

pub use error::ServiceError;
pub use keys::load_sealer;
pub use product::Product;
pub use service::Service;
