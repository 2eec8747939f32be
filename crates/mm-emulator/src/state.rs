//! The emulated server: everything it knows, behind one lock that is never held across an
//! `.await`. Operations on it live beside their HTTP handlers (`users.rs`, `posts.rs`, ...) as
//! `impl Server` blocks; WebSocket events are queued and sent while the lock is held, so every
//! connection sees them in the order the changes happened.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::auth::TokenRecord;
use crate::channels::Channel;
use crate::commands::{Command, CommandHook};
use crate::error::AppError;
use crate::faults::FaultRule;
use crate::files::StoredFile;
use crate::posts::Post;
use crate::reactions::Reaction;
use crate::status::Status;
use crate::teams::Team;
use crate::users::{Bot, User};
use crate::websocket::SocketHub;

/// An ephemeral post and the one user who sees it.
#[derive(Debug, Clone)]
pub(crate) struct EphemeralRecord {
    pub(crate) user_id: String,
    pub(crate) post: Post,
}

#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) team: Team,
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) passwords: HashMap<String, String>,
    pub(crate) bots: BTreeMap<String, Bot>,
    pub(crate) tokens: HashMap<String, TokenRecord>,
    pub(crate) channels: BTreeMap<String, Channel>,
    /// Channel id to member user ids.
    pub(crate) members: HashMap<String, BTreeSet<String>>,
    pub(crate) posts: HashMap<String, Post>,
    /// Channel id to its post ids, oldest first.
    pub(crate) channel_posts: HashMap<String, Vec<String>>,
    /// `(user id, pending_post_id)` to the post it created, so a retried create is not doubled.
    pub(crate) pending_posts: HashMap<(String, String), String>,
    pub(crate) ephemeral: Vec<EphemeralRecord>,
    pub(crate) reactions: HashMap<String, Vec<Reaction>>,
    pub(crate) files: HashMap<String, StoredFile>,
    pub(crate) statuses: HashMap<String, Status>,
    pub(crate) commands: BTreeMap<String, Command>,
    pub(crate) hooks: HashMap<String, CommandHook>,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) counters: BTreeMap<String, u64>,
    pub(crate) sockets: SocketHub,
    pub(crate) max_file_size: u64,
    last_ms: i64,
}

impl Server {
    pub(crate) fn new(team: Team, max_file_size: u64, sockets: SocketHub) -> Self {
        Self {
            team,
            users: BTreeMap::new(),
            passwords: HashMap::new(),
            bots: BTreeMap::new(),
            tokens: HashMap::new(),
            channels: BTreeMap::new(),
            members: HashMap::new(),
            posts: HashMap::new(),
            channel_posts: HashMap::new(),
            pending_posts: HashMap::new(),
            ephemeral: Vec::new(),
            reactions: HashMap::new(),
            files: HashMap::new(),
            statuses: HashMap::new(),
            commands: BTreeMap::new(),
            hooks: HashMap::new(),
            faults: Vec::new(),
            counters: BTreeMap::new(),
            sockets,
            max_file_size,
            last_ms: 0,
        }
    }

    /// Milliseconds since the epoch, strictly increasing, so that `create_at` orders posts and
    /// `since` queries never miss a change made in the same millisecond.
    pub(crate) fn now_ms(&mut self) -> i64 {
        let now = chrono::Utc::now().timestamp_millis().max(self.last_ms + 1);
        self.last_ms = now;
        now
    }

    pub(crate) fn count(&mut self, route: String) {
        *self.counters.entry(route).or_insert(0) += 1;
    }

    pub(crate) fn is_member(&self, channel_id: &str, user_id: &str) -> bool {
        self.members
            .get(channel_id)
            .is_some_and(|members| members.contains(user_id))
    }

    pub(crate) fn channel_members(&self, channel_id: &str) -> Vec<String> {
        self.members
            .get(channel_id)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn channel(&self, channel_id: &str) -> Result<&Channel, AppError> {
        self.channels
            .get(channel_id)
            .ok_or_else(AppError::channel_not_found)
    }

    pub(crate) fn user(&self, user_id: &str) -> Result<&User, AppError> {
        self.users.get(user_id).ok_or_else(AppError::user_not_found)
    }
}
