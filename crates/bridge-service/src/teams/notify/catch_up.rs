//! Catch-up (B1): after downtime, a removed subscription or Graph's `missed` event, the linked
//! users' chats are read since where the bridge last saw them (with each user's own delegated
//! token) and the messages fed to the inbox as if Graph had notified them. The inbox's dedupe key
//! and the delivery ledger keep this from notifying anything twice; the horizon and the members'
//! connection times keep it from reading anything old.
//!
//! Nothing may be lost on the way, so:
//! - each chat is read once per run, from the earliest connection time among its linked members
//!   (not from whichever member happened to list it first);
//! - a chat's cursor only moves when everything since it has been read for every member who might
//!   need it: not when a member's chats could not be listed (no usable token, a failed call) and
//!   that member might need the skipped part;
//! - what a run could not finish (users without a usable token, users and chats whose calls
//!   failed) is tried again, alone, with a growing wait and a bound on the attempts;
//! - a run asked for while another replica (or task) holds the job is remembered in the store:
//!   the holder runs again when it finishes, and if it dies instead the asker runs once its lease
//!   lapses.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use store::{AccountLink, JobLease, NewInboxItem};
use teams_graph::GraphClient;
use tokio::time::Instant;

use super::NotifyPipeline;
use super::webhook::{KIND_MESSAGE, message_dedupe_key};
use crate::graph::CallError;

/// The job lease's name: one replica catches up at a time.
const JOB: &str = "teams-catch-up";
/// Not a lease but a counter kept in the job-lease table: its fence goes up each time a full
/// catch-up is asked for while someone else holds [`JOB`]. The holder reads it after taking the
/// lease and again after letting go, and runs once more if it moved.
const WANTED: &str = "teams-catch-up-wanted";
/// How long a run may hold the job before another replica may take it.
const LEASE_MINUTES: i64 = 30;
/// Links read per page.
const PAGE: u32 = 200;
/// The first wait before trying again what a run could not finish; it doubles with each attempt.
/// Users without a usable token are among these: the token refresh job renews theirs meanwhile.
const RETRY_FIRST: Duration = Duration::from_secs(10);
/// The longest wait between two attempts.
const RETRY_LONGEST: Duration = Duration::from_secs(600);
/// Attempts for a user's unfinished chats (the first, failed one included), about an hour and a
/// quarter of waiting in all, before they are given up (and logged as such).
const RETRY_ATTEMPTS: u32 = 12;
/// How often a lease held by another replica is looked at while this one waits for it.
const WATCH_EVERY: Duration = Duration::from_secs(30);
/// The wait after a run that failed as a whole (the store could not be read).
const RUN_RETRY: Duration = Duration::from_secs(60);

/// What to try again, by Mattermost user: `None` for all of the user's chats, or some chats.
type Unfinished = BTreeMap<String, Option<BTreeSet<String>>>;

/// What one catch-up did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CatchUpReport {
    pub users: usize,
    /// Users skipped because they have no usable token (the refresh job renews it); they are
    /// tried again.
    pub users_without_token: usize,
    pub chats: usize,
    /// Messages put in the inbox (not already there).
    pub queued: u64,
    /// Users whose chats could not be listed, and chats that could not be read with any
    /// member's token: they are tried again.
    pub failed_users: usize,
    pub failed_chats: usize,
    /// Another replica or task held the job: see [`CatchUpReport::holder`].
    pub skipped: bool,
    /// When skipped, the lease as it was then held.
    pub holder: Option<JobLease>,
    /// A full catch-up was asked for while this run held the job: it is due again.
    pub asked_again: bool,
    /// What this run could not finish, to try again.
    pub unfinished: BTreeMap<String, Option<BTreeSet<String>>>,
}

/// Whom a run covers.
#[derive(Debug, Clone)]
enum Scope {
    /// Every connected user.
    All,
    /// Only these users (and, for some, only some chats): retries.
    Only(Unfinished),
}

/// A chat to read in a run.
#[derive(Debug)]
struct ChatPlan {
    /// Read from here (or the cursor, if later): the earliest floor among its members.
    floor: DateTime<Utc>,
    /// Members whose token may read it (indexes into the run's links), in the order tried.
    readers: Vec<usize>,
    /// The reader to try next.
    next: usize,
}

/// Unfinished work waiting to be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Retry {
    chats: Option<BTreeSet<String>>,
    /// Attempts so far, the failed first one included.
    attempts: u32,
    due: Instant,
}

/// The catch-up job's memory of what to try again.
#[derive(Debug, Default)]
struct Retries {
    users: BTreeMap<String, Retry>,
}

/// The wait after `attempts` failed attempts.
fn retry_wait(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    RETRY_FIRST
        .saturating_mul(1 << doublings)
        .min(RETRY_LONGEST)
}

/// The union of two "what to read" values (`None`: everything).
fn merge_chats(
    a: Option<BTreeSet<String>>,
    b: Option<BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            Some(a)
        }
        _ => None,
    }
}

impl Retries {
    fn next_due(&self) -> Option<Instant> {
        self.users.values().map(|r| r.due).min()
    }

    /// What is due now, taken out (it is put back by [`Retries::after`]).
    fn take_due(&mut self, now: Instant) -> BTreeMap<String, Retry> {
        let due: Vec<String> = self
            .users
            .iter()
            .filter(|(_, r)| r.due <= now)
            .map(|(id, _)| id.clone())
            .collect();
        due.into_iter()
            .filter_map(|id| self.users.remove(&id).map(|r| (id, r)))
            .collect()
    }

    /// After a full run: it covered everyone, so only what it left unfinished is to do. Users
    /// who were already waiting keep their count of attempts (the bound holds across runs).
    fn after_full(&mut self, unfinished: &Unfinished, now: Instant) {
        let before = std::mem::take(&mut self.users);
        for (id, chats) in unfinished {
            let attempts = before.get(id).map_or(0, |r| r.attempts) + 1;
            self.schedule(id, chats.clone(), attempts, now);
        }
    }

    /// After a retry of `ran`: who is still unfinished waits longer, or is given up.
    fn after(&mut self, ran: BTreeMap<String, Retry>, unfinished: &Unfinished, now: Instant) {
        for (id, retry) in ran {
            if let Some(chats) = unfinished.get(&id) {
                self.schedule(&id, chats.clone(), retry.attempts + 1, now);
            }
        }
    }

    /// Puts back a retry that did not run (another replica held the job, the store failed),
    /// without counting an attempt.
    fn put_back(&mut self, ran: BTreeMap<String, Retry>, due: Instant) {
        for (id, retry) in ran {
            let chats = match self.users.remove(&id) {
                Some(newer) => merge_chats(newer.chats, retry.chats.clone()),
                None => retry.chats.clone(),
            };
            self.users.insert(
                id,
                Retry {
                    chats,
                    due,
                    ..retry
                },
            );
        }
    }

    fn schedule(&mut self, id: &str, chats: Option<BTreeSet<String>>, attempts: u32, now: Instant) {
        if attempts >= RETRY_ATTEMPTS {
            tracing::error!(
                mm_user_id = %id,
                attempts,
                "gave up catching up a user's chats; messages sent to them meanwhile may not be notified"
            );
            return;
        }
        let chats = match self.users.remove(id) {
            Some(newer) => merge_chats(newer.chats, chats),
            None => chats,
        };
        self.users.insert(
            id.to_owned(),
            Retry {
                chats,
                attempts,
                due: now + retry_wait(attempts),
            },
        );
    }

    fn scope(ran: &BTreeMap<String, Retry>) -> Scope {
        Scope::Only(
            ran.iter()
                .map(|(id, r)| (id.clone(), r.chats.clone()))
                .collect(),
        )
    }
}

/// What became of a lease another replica held when this one was asked to catch up.
enum Holder {
    /// Still held and not expired.
    Holding,
    /// Let go (or taken over after it lapsed): the holder saw the request.
    Done,
    /// Never let go and now expired: the holder died; this replica must run.
    Died,
}

impl NotifyPipeline {
    /// Asks the catch-up task to run soon.
    pub(crate) fn request_catch_up(&self) {
        self.catch_up.notify_one();
    }

    /// Runs catch-up whenever asked, and tries again what a run could not finish, until the
    /// process stops.
    pub(crate) async fn run_catch_up_job(&self) {
        let mut retries = Retries::default();
        // A lease another replica held when this one was asked, and when to look at it next.
        let mut watching: Option<(JobLease, Instant)> = None;
        // A full run that failed as a whole is tried again then.
        let mut full_again: Option<Instant> = None;
        loop {
            let wake_at = [
                retries.next_due(),
                watching.as_ref().map(|(_, at)| *at),
                full_again,
            ]
            .into_iter()
            .flatten()
            .min();
            let mut full = match wake_at {
                Some(at) => tokio::select! {
                    () = self.catch_up.notified() => true,
                    () = tokio::time::sleep_until(at) => false,
                },
                None => {
                    self.catch_up.notified().await;
                    true
                }
            };
            let now = Instant::now();
            if full_again.is_some_and(|at| at <= now) {
                full_again = None;
                full = true;
            }
            if let Some((seen, at)) = watching.take() {
                if full {
                    // This run covers the request.
                } else if at > now {
                    watching = Some((seen, at));
                } else {
                    match self.holder_of(&seen).await {
                        Holder::Holding => watching = Some((seen.clone(), self.watch_at(&seen))),
                        Holder::Done => {}
                        Holder::Died => {
                            tracing::warn!(holder = %seen.holder, "the replica that held catch-up let its lease lapse; catching up here");
                            full = true;
                        }
                    }
                }
            }
            if full {
                match self.catch_up_now().await {
                    Ok(report) if report.skipped => {
                        tracing::info!(holder = ?report.holder.as_ref().map(|l| &l.holder), "another replica is catching up; it runs again for this request");
                        watching = report.holder.map(|lease| {
                            let at = self.watch_at(&lease);
                            (lease, at)
                        });
                    }
                    Ok(report) => {
                        retries.after_full(&report.unfinished, Instant::now());
                        self.finished(&report);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "catch-up failed; retrying in a minute");
                        full_again = Some(Instant::now() + RUN_RETRY);
                    }
                }
                continue;
            }
            let due = retries.take_due(now);
            if due.is_empty() {
                continue;
            }
            match self.run_scope(&Retries::scope(&due)).await {
                Ok(report) if report.skipped => {
                    retries.put_back(due, Instant::now() + RETRY_FIRST);
                }
                Ok(report) => {
                    retries.after(due, &report.unfinished, Instant::now());
                    self.finished(&report);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "catch-up retry failed; trying again in a minute");
                    retries.put_back(due, Instant::now() + RUN_RETRY);
                }
            }
        }
    }

    /// Logs a run's outcome and asks for the run someone wanted meanwhile.
    fn finished(&self, report: &CatchUpReport) {
        if !report.unfinished.is_empty() {
            tracing::warn!(
                ?report,
                "catch-up incomplete; what is left is tried again later"
            );
        } else if report.queued > 0 {
            tracing::info!(?report, "chat messages caught up");
        } else {
            tracing::debug!(?report, "catch-up found nothing new");
        }
        if report.asked_again {
            tracing::info!("catch-up was asked for again during the run; running again");
            self.catch_up.notify_one();
        }
    }

    /// When to look again at a lease another replica holds: at its expiry, or sooner.
    fn watch_at(&self, lease: &JobLease) -> Instant {
        let left = (lease.expires_at - self.clock.now())
            .to_std()
            .unwrap_or_default();
        Instant::now() + (left + Duration::from_secs(1)).min(WATCH_EVERY)
    }

    async fn holder_of(&self, seen: &JobLease) -> Holder {
        match self.store.job_lease(JOB).await {
            Ok(Some(now))
                if now.holder == seen.holder
                    && now.fence == seen.fence
                    && now.expires_at == seen.expires_at =>
            {
                if now.expires_at <= self.clock.now() {
                    Holder::Died
                } else {
                    Holder::Holding
                }
            }
            Ok(_) => Holder::Done,
            Err(err) => {
                tracing::debug!(error = %err, "could not read the catch-up lease; looking again later");
                Holder::Holding
            }
        }
    }

    /// One catch-up over every connected user.
    pub async fn catch_up_now(&self) -> Result<CatchUpReport, CallError> {
        self.run_scope(&Scope::All).await
    }

    /// How often a full catch-up was asked for while someone else held the job.
    async fn times_wanted(&self) -> Result<i64, store::StoreError> {
        Ok(self.store.job_lease(WANTED).await?.map_or(0, |l| l.fence))
    }

    async fn run_scope(&self, scope: &Scope) -> Result<CatchUpReport, CallError> {
        let horizon = self.settings.catch_up_horizon;
        if horizon <= TimeDelta::zero() {
            return Ok(CatchUpReport::default());
        }
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let now = self.clock.now();
        let Some(lease) = self
            .store
            .try_acquire_job(
                JOB,
                &self.instance,
                now + TimeDelta::minutes(LEASE_MINUTES),
                now,
            )
            .await
            .map_err(store_err)?
        else {
            if matches!(scope, Scope::All) {
                // Remembered for the holder, which may have read the chats concerned already. An
                // expiry in the past makes every call a new "acquisition", which moves the fence.
                self.store
                    .try_acquire_job(WANTED, &self.instance, DateTime::UNIX_EPOCH, now)
                    .await
                    .map_err(store_err)?;
            }
            let holder = self.store.job_lease(JOB).await.map_err(store_err)?;
            return Ok(CatchUpReport {
                skipped: true,
                holder,
                ..CatchUpReport::default()
            });
        };
        let result = match self.times_wanted().await {
            Ok(wanted) => self
                .catch_up_leased(scope, now - horizon, now)
                .await
                .map(|report| (report, wanted)),
            Err(err) => Err(store_err(err)),
        };
        if let Err(err) = self.store.release_job(&lease, self.clock.now()).await {
            tracing::debug!(error = %err, "could not release the catch-up lease");
        }
        let (mut report, wanted_before) = result?;
        // Read after letting go: a request stored after this it finds the lease free and runs.
        report.asked_again = self.times_wanted().await.map_err(store_err)? > wanted_before;
        Ok(report)
    }

    async fn catch_up_leased(
        &self,
        scope: &Scope,
        horizon_start: DateTime<Utc>,
        started: DateTime<Utc>,
    ) -> Result<CatchUpReport, CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let mut run = Run {
            horizon_start,
            report: CatchUpReport::default(),
            links: Vec::new(),
            chats: BTreeMap::new(),
            unlisted_floor: None,
        };
        match scope {
            Scope::All => {
                let mut after: Option<String> = None;
                loop {
                    let links = self
                        .store
                        .connected_links(after.as_deref(), PAGE)
                        .await
                        .map_err(store_err)?;
                    let Some(last) = links.last() else {
                        break;
                    };
                    after = Some(last.mm_user_id.clone());
                    for link in links {
                        self.plan_user(&mut run, link, None).await;
                    }
                }
            }
            Scope::Only(users) => {
                for (mm_user_id, chats) in users {
                    match self
                        .store
                        .account_link(mm_user_id)
                        .await
                        .map_err(store_err)?
                    {
                        Some(link) if link.is_connected() => {
                            self.plan_user(&mut run, link, chats.as_ref()).await;
                        }
                        // Disconnected meanwhile: nothing to do for them.
                        _ => {}
                    }
                }
            }
        }
        // A read that starts later than the chat's cursor skips a part some member might need:
        // it may move the cursor only in a full run, and only if every member whose chats are
        // unknown (they could not be listed) would read from that point or later anyway.
        let may_start_up_to = match scope {
            Scope::All => Some(run.unlisted_floor.unwrap_or(DateTime::<Utc>::MAX_UTC)),
            Scope::Only(_) => None,
        };
        self.read_chats(&mut run, may_start_up_to, started).await?;
        Ok(run.report)
    }

    /// Lists a user's chats (or takes those given) and adds them to the run's plan.
    async fn plan_user(&self, run: &mut Run, link: AccountLink, only: Option<&BTreeSet<String>>) {
        // Nothing from before the user connected: they did not ask for it then.
        let floor = run.horizon_start.max(link.connected_at);
        let listed = match self.user_client(&link) {
            Ok(Some(client)) => {
                run.report.users += 1;
                match only {
                    Some(chats) => Ok(chats.iter().cloned().collect::<Vec<_>>()),
                    None => client
                        .my_chats()
                        .await
                        .map_err(|e| Some(CallError::from(e))),
                }
            }
            Ok(None) => {
                run.report.users_without_token += 1;
                tracing::info!(mm_user_id = %link.mm_user_id, "no usable token to catch up a user's chats; trying again after the token refresh");
                Err(None)
            }
            Err(err) => Err(Some(err)),
        };
        match listed {
            Ok(chat_ids) => {
                let index = run.links.len();
                for chat_id in chat_ids {
                    let plan = run.chats.entry(chat_id).or_insert_with(|| ChatPlan {
                        floor,
                        readers: Vec::new(),
                        next: 0,
                    });
                    plan.floor = plan.floor.min(floor);
                    plan.readers.push(index);
                }
                run.links.push(link);
            }
            Err(err) => {
                if let Some(err) = err {
                    // One user's failure (an unreadable token, a throttled call) does not stop
                    // the others; theirs is tried again.
                    tracing::warn!(mm_user_id = %link.mm_user_id, error = %err, "could not list a user's chats to catch up");
                    run.report.failed_users += 1;
                }
                run.unlisted_floor = Some(run.unlisted_floor.map_or(floor, |f| f.min(floor)));
                // Whatever was asked, all of their chats are to do now.
                run.report.unfinished.insert(link.mm_user_id.clone(), None);
            }
        }
    }

    /// Reads every planned chat once, with its members' tokens in turn until one works.
    async fn read_chats(
        &self,
        run: &mut Run,
        may_start_up_to: Option<DateTime<Utc>>,
        started: DateTime<Utc>,
    ) -> Result<(), CallError> {
        loop {
            // The chats left, by the member whose token is tried next: one client per member.
            let mut by_reader: BTreeMap<usize, Vec<String>> = BTreeMap::new();
            for (chat_id, plan) in &run.chats {
                by_reader
                    .entry(plan.readers[plan.next])
                    .or_default()
                    .push(chat_id.clone());
            }
            if by_reader.is_empty() {
                return Ok(());
            }
            for (reader, chat_ids) in by_reader {
                // The token was usable when the chats were listed; it may have run out since.
                let client = match self.user_client(&run.links[reader]) {
                    Ok(Some(client)) => Ok(client),
                    Ok(None) => Err(CallError::Transient("the token ran out".to_owned())),
                    Err(err) => Err(err),
                };
                for chat_id in chat_ids {
                    let Some(plan) = run.chats.get_mut(&chat_id) else {
                        continue;
                    };
                    let outcome = match &client {
                        Ok(client) => {
                            self.catch_up_chat(
                                client,
                                &chat_id,
                                plan.floor,
                                may_start_up_to,
                                started,
                            )
                            .await
                        }
                        Err(err) => Err(err.clone()),
                    };
                    match outcome {
                        Ok(queued) => {
                            run.report.chats += 1;
                            run.report.queued += queued;
                            run.chats.remove(&chat_id);
                        }
                        Err(err) => {
                            tracing::warn!(chat_id = %chat_id, error = %err, "could not catch up a chat with this member's token");
                            plan.next += 1;
                            if plan.next >= plan.readers.len() {
                                // Tried with every member's token: theirs is tried again.
                                run.report.failed_chats += 1;
                                if let Some(plan) = run.chats.remove(&chat_id) {
                                    for r in plan.readers {
                                        let id = run.links[r].mm_user_id.clone();
                                        let entry = run
                                            .report
                                            .unfinished
                                            .entry(id)
                                            .or_insert_with(|| Some(BTreeSet::new()));
                                        if let Some(chats) = entry {
                                            chats.insert(chat_id.clone());
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reads one chat since its watermark (or `floor`, if later) and queues what is new. The
    /// watermark (the chat cursor) says "read through this time" and only catch-up moves it:
    /// live traffic must not, or a message lost just before it would never be read. It moves
    /// only if the read started at it, or no later than `may_start_up_to`.
    async fn catch_up_chat(
        &self,
        client: &GraphClient,
        chat_id: &str,
        floor: DateTime<Utc>,
        may_start_up_to: Option<DateTime<Utc>>,
        started: DateTime<Utc>,
    ) -> Result<u64, CallError> {
        let store_err = |e: store::StoreError| CallError::Transient(format!("store: {e}"));
        let cursor = self
            .store
            .chat_cursor(chat_id)
            .await
            .map_err(store_err)?
            .map(|c| c.last_message_at);
        let since = cursor.map_or(floor, |at| at.max(floor));
        let messages = client.chat_messages_since(chat_id, since, 50).await?;
        let items: Vec<NewInboxItem> = messages
            .iter()
            // Created after the watermark: an old message edited since is not news.
            .filter(|m| m.created_date_time.is_some_and(|at| at > since))
            .filter(|m| m.message_type == "message")
            .map(|m| NewInboxItem {
                kind: KIND_MESSAGE.to_owned(),
                dedupe_key: Some(message_dedupe_key(chat_id, &m.id)),
                payload: serde_json::json!({
                    "subscriptionId": "catch-up",
                    "changeType": "created",
                    "resource": format!("chats('{chat_id}')/messages('{}')", m.id),
                })
                .to_string(),
            })
            .collect();
        let queued = if items.is_empty() {
            0
        } else {
            let n = self
                .store
                .enqueue(&items, self.clock.now())
                .await
                .map_err(store_err)?;
            self.wake_workers();
            n
        };
        let whole = cursor == Some(since) || may_start_up_to.is_some_and(|up_to| since <= up_to);
        if !whole {
            tracing::debug!(chat_id, %since, "chat read from a member's floor only; its cursor stays");
            return Ok(queued);
        }
        // Everything created before this run started (less a minute for clock skew between
        // Graph and us) has now been read or is in the inbox.
        self.store
            .advance_chat_cursor(
                chat_id,
                started - TimeDelta::minutes(1),
                "catch-up",
                self.clock.now(),
            )
            .await
            .map_err(store_err)?;
        Ok(queued)
    }

    /// A Graph client with the user's delegated token, if it has not expired.
    fn user_client(&self, link: &AccountLink) -> Result<Option<GraphClient>, CallError> {
        crate::graph::delegated_client(
            &self.sealer,
            self.graph.endpoints(),
            link,
            self.clock.now(),
            crate::metrics::graph_observer(&self.metrics),
        )
    }
}

/// One run's state.
struct Run {
    horizon_start: DateTime<Utc>,
    report: CatchUpReport,
    /// The users whose chats were listed.
    links: Vec<AccountLink>,
    /// The chats left to read.
    chats: BTreeMap<String, ChatPlan>,
    /// The earliest floor among users whose chats could not be listed.
    unlisted_floor: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(chats: &[&str]) -> Option<BTreeSet<String>> {
        Some(chats.iter().map(|c| (*c).to_owned()).collect())
    }

    #[test]
    fn waits_double_up_to_ten_minutes() {
        let waits: Vec<u64> = (1..=8).map(|n| retry_wait(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(retry_wait(u32::MAX), RETRY_LONGEST);
    }

    #[test]
    fn only_what_failed_is_retried_with_backoff_until_the_bound() {
        let start = Instant::now();
        let mut retries = Retries::default();
        let unfinished: Unfinished = [
            ("broken".to_owned(), None),
            ("forbidden".to_owned(), set(&["chat-1"])),
        ]
        .into();
        retries.after_full(&unfinished, start);
        assert_eq!(retries.next_due(), Some(start + RETRY_FIRST));
        assert!(retries.take_due(start).is_empty(), "nothing due yet");

        // The chat went through; the broken user keeps failing until given up.
        let mut now = start + RETRY_FIRST;
        let due = retries.take_due(now);
        assert_eq!(due.keys().collect::<Vec<_>>(), ["broken", "forbidden"]);
        match Retries::scope(&due) {
            Scope::Only(users) => {
                assert_eq!(users["broken"], None);
                assert_eq!(users["forbidden"], set(&["chat-1"]));
            }
            Scope::All => panic!("a retry covers only the unfinished"),
        }
        let still: Unfinished = [("broken".to_owned(), None)].into();
        retries.after(due, &still, now);
        let mut attempts = 2;
        while let Some(at) = retries.next_due() {
            assert_eq!(at, now + retry_wait(attempts), "attempt {attempts}");
            now = at;
            let due = retries.take_due(now);
            assert_eq!(due.keys().collect::<Vec<_>>(), ["broken"]);
            retries.after(due, &still, now);
            attempts += 1;
        }
        assert_eq!(attempts, RETRY_ATTEMPTS, "given up after the bound");

        // A retry that could not run (the job was taken) keeps its count and merges chats.
        retries.after_full(&[("u".to_owned(), set(&["a"]))].into(), now);
        let due = retries.take_due(now + RETRY_FIRST);
        retries.after_full(&Unfinished::new(), now);
        retries.users.insert(
            "u".to_owned(),
            Retry {
                chats: set(&["b"]),
                attempts: 1,
                due: now,
            },
        );
        retries.put_back(due, now + RETRY_FIRST);
        assert_eq!(
            retries.users["u"],
            Retry {
                chats: set(&["a", "b"]),
                attempts: 1,
                due: now + RETRY_FIRST
            }
        );
    }
}
