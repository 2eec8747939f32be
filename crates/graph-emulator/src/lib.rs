#![doc = include_str!("../README.md")]

mod batch;
mod calendar;
mod chats;
mod control;
mod directory;
mod emulator;
mod error;
mod faults;
mod files;
mod identity;
mod model;
mod presence;
mod state;
mod subscriptions;
mod timezones;

pub use batch::BATCH_ITEMS_KEY;
pub use calendar::{AttendeeStatus, CalendarEvent, EventUpdate, NewEvent, Recurrence};
pub use emulator::{EmulatorOptions, GraphEmulator, SubscriptionInfo};
pub use error::EmulatorError;
pub use faults::{Fault, FaultRule};
pub use model::{
    Chat, ChatMessage, ChatType, DriveFile, HostedContent, Mention, NewMessage, NewUser, Presence,
    Reaction, Sender, User,
};
pub use state::{AppRegistration, DeliveryRecord};
pub use subscriptions::LifecycleEvent;
