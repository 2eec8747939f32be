#![doc = include_str!("../README.md")]

pub mod clock;
pub mod linking;
pub mod notify;

pub use clock::{Clock, ManualClock, SystemClock};
