#![doc = include_str!("../README.md")]

pub use bridge_core::clock::{Clock, ManualClock, SystemClock};
