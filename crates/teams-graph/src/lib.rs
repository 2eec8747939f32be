#![doc = include_str!("../README.md")]

mod endpoints;

pub use endpoints::{EndpointError, GraphEndpoints};
