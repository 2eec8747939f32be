#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod agenda;
pub mod command;
pub mod event;
pub mod markdown;
pub mod reminders;
pub mod settings;
pub mod status;
pub mod summary;
pub mod tz;

pub use bridge_core::clock::{Clock, ManualClock, SystemClock};
pub use event::{Event, EventTime, ReminderSetting, ResponseStatus, ShowAs};
pub use settings::UserSettings;
