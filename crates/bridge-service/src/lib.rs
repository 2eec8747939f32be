#![doc = include_str!("../README.md")]

pub mod admin_log;
pub mod calendar;
pub mod cli;
pub mod config;
mod error;
pub mod graph;
mod keys;
pub mod linking;
mod metrics;
mod product;
mod sandbox;
pub mod server;
mod service;
pub mod teams;

pub use error::ServiceError;
pub use keys::load_sealer;
pub use product::Product;
pub use service::Service;
