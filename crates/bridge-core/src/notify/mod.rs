//! Teams chat notifications (T6, T7): the rules that decide who gets a DM for a chat message,
//! the DM's text, and the conversion of Teams' HTML to Mattermost Markdown. Pure: the service
//! fetches the facts and does the sending.

pub mod html;
pub mod message;
pub mod model;
pub mod policy;
