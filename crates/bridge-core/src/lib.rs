#![doc = include_str!("../README.md")]

pub mod clock;

pub use clock::{Clock, ManualClock, SystemClock};
