#![doc = include_str!("../README.md")]

pub mod cli;
pub mod config;
mod keys;
mod product;
mod sandbox;
pub mod server;

pub use keys::load_sealer;
pub use product::Product;
