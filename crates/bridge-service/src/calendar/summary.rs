//! The daily summary job (C2). Users whose summary is due are claimed from `user_schedules`
//! (replicas split them), their day is read in `$batch`es of 20 users, and each summary goes out
//! through the delivery ledger under `summary:<local date>`, so a restart or a slow run neither
//! skips nor repeats one. The next due time is stored when the summary is done.

use std::sync::Arc;

use calendar_core::agenda::{MAX_POST_CHARS, agenda, day_bounds, render_agenda_parts};
use calendar_core::summary::{next_summary_at, summary_due};
use chrono::{NaiveDate, TimeDelta};
use futures_util::StreamExt as _;

use super::messages::Sent;
use super::metrics::DmKind;
use super::users::{CalendarUser, PendingSummary};
use super::{CalendarApp, JOB_SUMMARY};

/// Users claimed per round.
const ROUND: u32 = 400;
/// Graph's `$batch` holds 20 requests.
const BATCH: usize = 20;
/// `$batch` requests in flight at once.
const GRAPH_CONCURRENCY: usize = 4;
/// DMs in flight at once.
const POST_CONCURRENCY: usize = 16;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SummaryReport {
    pub claimed: usize,
    pub sent: usize,
    /// Sent before (a redo after a crash between posting and rescheduling).
    pub already: usize,
    /// Left for a later round (Graph or Mattermost failed; another replica holds it).
    pub retried: usize,
}

impl CalendarApp {
    pub(crate) async fn run_summaries(self: Arc<Self>) {
        loop {
            match self.summary_round().await {
                // A full round: more may be due now.
                Ok(report) if report.claimed == ROUND as usize => continue,
                Ok(report) => {
                    if report.claimed > 0 {
                        tracing::info!(?report, "daily summaries");
                    }
                }
                Err(err) => tracing::warn!(error = %err, "daily summary round failed; retrying"),
            }
            tokio::time::sleep(self.timing.tick).await;
        }
    }

    /// Claims the users whose summary is due and sends them.
    pub async fn summary_round(&self) -> Result<SummaryReport, store::StoreError> {
        let now = self.now();
        let holder = format!("{}#summary#{}", self.instance(), now.timestamp_millis());
        let due = self
            .store()
            .claim_due_schedules(
                JOB_SUMMARY,
                &holder,
                now,
                now + TimeDelta::minutes(5),
                ROUND,
            )
            .await?;
        let mut report = SummaryReport {
            claimed: due.len(),
            ..SummaryReport::default()
        };
        // Who is due for which date; the others are rescheduled (their settings changed).
        let mut todo: Vec<(CalendarUser, NaiveDate)> = Vec::new();
        for entry in &due {
            let user = self.calendar_user(&entry.mm_user_id).await?;
            let Some(user) = user else {
                self.store()
                    .finish_schedule(&entry.mm_user_id, JOB_SUMMARY, &holder, None, now)
                    .await?;
                continue;
            };
            let date = user
                .tz
                .and_then(|tz| summary_due(&user.settings.summary, tz, now, user.last_summary));
            match date {
                Some(date) => todo.push((user, date)),
                None => {
                    let next = user.tz.and_then(|tz| {
                        next_summary_at(&user.settings.summary, tz, now, user.last_summary)
                    });
                    self.store()
                        .finish_schedule(user.mm_user_id(), JOB_SUMMARY, &holder, next, now)
                        .await?;
                }
            }
        }
        // Each user's local day, twenty users a request.
        let mut reads = Vec::new();
        for chunk in todo.chunks(BATCH) {
            reads.push(self.read_days(chunk));
        }
        let reads: Vec<Vec<(&(CalendarUser, NaiveDate), EventsRead)>> =
            futures_util::stream::iter(reads)
                .buffer_unordered(GRAPH_CONCURRENCY)
                .collect()
                .await;
        let mut sends = Vec::new();
        for ((user, date), events) in reads.into_iter().flatten() {
            sends.push(self.send_summary(user, *date, events, &holder));
        }
        let outcomes: Vec<Result<Outcome, store::StoreError>> = futures_util::stream::iter(sends)
            .buffer_unordered(POST_CONCURRENCY)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome? {
                Outcome::Sent => report.sent += 1,
                Outcome::Already => report.already += 1,
                Outcome::Retry => report.retried += 1,
            }
        }
        Ok(report)
    }

    /// The local days of up to twenty users, in one request.
    async fn read_days<'a>(
        &self,
        chunk: &'a [(CalendarUser, NaiveDate)],
    ) -> Vec<(&'a (CalendarUser, NaiveDate), EventsRead)> {
        let windows: Vec<_> = chunk
            .iter()
            .map(|(user, date)| {
                let (from, to) = day_bounds(user.tz_or_utc(), *date);
                (user, from, to)
            })
            .collect();
        let results = self.read_events_batch(&windows).await;
        chunk.iter().zip(results).collect()
    }

    async fn send_summary(
        &self,
        user: &CalendarUser,
        date: NaiveDate,
        events: EventsRead,
        holder: &str,
    ) -> Result<Outcome, store::StoreError> {
        let mm_user_id = user.mm_user_id();
        let retry = |why: String| async move {
            tracing::warn!(mm_user_id, reason = %why, "daily summary not sent; retrying in a minute");
            self.store()
                .release_schedule(
                    mm_user_id,
                    JOB_SUMMARY,
                    holder,
                    self.now() + TimeDelta::minutes(1),
                )
                .await
                .map(|_| Outcome::Retry)
        };
        let events = match events {
            Ok(events) => events,
            Err(err) => return retry(format!("reading the calendar: {err}")).await,
        };
        let tz = user.tz_or_utc();
        // A long day goes out whole, as several posts within Mattermost's limit, each once. Its
        // split is kept until all went out, so that a retry after a failed part sends the rest of
        // the same split (a change meanwhile could shift events across a new one).
        let parts = match self.pending_summary(mm_user_id, date).await? {
            Some(parts) => parts,
            None => {
                let parts = render_agenda_parts(
                    "Your daily summary",
                    date,
                    tz.name(),
                    &agenda(&events, tz, date),
                    MAX_POST_CHARS,
                );
                if parts.len() > 1 {
                    self.keep_pending_summary(
                        mm_user_id,
                        Some(&PendingSummary {
                            date,
                            parts: parts.clone(),
                        }),
                    )
                    .await?;
                }
                parts
            }
        };
        let base = format!("summary:{}", date.format("%Y-%m-%d"));
        let mut outcome = Outcome::Already;
        for (i, text) in parts.iter().enumerate() {
            let key = if i == 0 {
                base.clone()
            } else {
                format!("{base}#{}", i + 1)
            };
            match self
                .dm_once(DmKind::Summary, mm_user_id, &key, text, &[])
                .await
            {
                Ok(Sent::Posted(_)) => outcome = Outcome::Sent,
                Ok(Sent::Already) => {}
                Ok(Sent::Held(until)) => {
                    // Another replica is sending it; look again when its hold lapses.
                    self.store()
                        .release_schedule(mm_user_id, JOB_SUMMARY, holder, until)
                        .await?;
                    return Ok(Outcome::Retry);
                }
                Err(err) => return retry(err.to_string()).await,
            }
        }
        self.save_last_summary(mm_user_id, date).await?;
        if parts.len() > 1 {
            self.keep_pending_summary(mm_user_id, None).await?;
        }
        let next = next_summary_at(&user.settings.summary, tz, self.now(), Some(date));
        self.store()
            .finish_schedule(mm_user_id, JOB_SUMMARY, holder, next, self.now())
            .await?;
        Ok(outcome)
    }
}

type EventsRead = Result<Vec<calendar_core::Event>, crate::graph::CallError>;

enum Outcome {
    Sent,
    Already,
    Retry,
}
