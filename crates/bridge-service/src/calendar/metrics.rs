//! The calendar's metrics, served at `GET /metrics` in the OpenMetrics text format: counters of
//! the bot's DMs, status-sync changes, Graph requests, webhook items and button clicks, kept in
//! memory since the process started, and gauges read from the store at scrape time. Labels are
//! fixed words, never user data (ids, subjects).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::{CountsGraphRequests, GraphRequests, exposition};

const PREFIX: &str = "calendar_bridge";

/// What a bot DM is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DmKind {
    /// A daily summary (each post of one split in several).
    Summary,
    Reminder,
    /// A new invitation, with the answer buttons.
    Invitation,
    /// A meeting's new time or place.
    Updated,
    Cancelled,
    /// The confirm-mode question of status sync.
    StatusQuestion,
    /// A copy of warnings and errors to an admin.
    AdminLog,
}

impl DmKind {
    const ALL: [Self; 7] = [
        Self::Summary,
        Self::Reminder,
        Self::Invitation,
        Self::Updated,
        Self::Cancelled,
        Self::StatusQuestion,
        Self::AdminLog,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Summary => "summary",
            Self::Reminder => "reminder",
            Self::Invitation => "invitation",
            Self::Updated => "updated",
            Self::Cancelled => "cancelled",
            Self::StatusQuestion => "status_question",
            Self::AdminLog => "admin_log",
        }
    }
}

/// What status sync did for a user, as the state machine moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusChange {
    /// Set to Do Not Disturb for a meeting (auto mode, or the question answered yes).
    SetDnd,
    /// Set to Away for a meeting.
    SetAway,
    /// The meeting ended (or sync stopped) and the previous status was put back.
    Restored,
    /// The user changed their status during the meeting: left as they set it.
    LeftChanged,
    /// The user already showed Do Not Disturb or the busy status: left alone.
    SkippedBusy,
    /// A meeting was on and the user was offline: left offline (counted at each look).
    SkippedOffline,
    /// Confirm mode: the user was asked.
    Asked,
    /// The user answered no to the question.
    Declined,
}

impl StatusChange {
    const ALL: [Self; 8] = [
        Self::SetDnd,
        Self::SetAway,
        Self::Restored,
        Self::LeftChanged,
        Self::SkippedBusy,
        Self::SkippedOffline,
        Self::Asked,
        Self::Declined,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::SetDnd => "set_dnd",
            Self::SetAway => "set_away",
            Self::Restored => "restored",
            Self::LeftChanged => "left_changed",
            Self::SkippedBusy => "skipped_busy",
            Self::SkippedOffline => "skipped_offline",
            Self::Asked => "asked",
            Self::Declined => "declined",
        }
    }
}

/// What became of an item posted to the Graph webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotificationOutcome {
    /// Stored for the event worker.
    Accepted,
    /// Its `clientState` is not the webhook secret: not from our subscription.
    Forged,
    /// Not a readable notification (an item, or the whole body).
    Malformed,
    /// Valid, but about nothing we handle (no event id, or no lifecycle event).
    Ignored,
    /// The store failed: answered 503, Graph sends it again.
    Unavailable,
}

impl NotificationOutcome {
    const ALL: [Self; 5] = [
        Self::Accepted,
        Self::Forged,
        Self::Malformed,
        Self::Ignored,
        Self::Unavailable,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Forged => "forged",
            Self::Malformed => "malformed",
            Self::Ignored => "ignored",
            Self::Unavailable => "unavailable",
        }
    }

    /// The outcome of an item [`crate::graph::checked_items`] dropped for `reason`.
    pub(crate) fn discarded(reason: &'static str) -> Self {
        match reason {
            "client_state" => Self::Forged,
            "malformed_item" => Self::Malformed,
            _ => Self::Ignored,
        }
    }
}

/// What became of a button click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClickOutcome {
    /// Handled (the answer may still be a polite no, such as a question that is over).
    Ok,
    /// Not one of our buttons, or altered.
    Invalid,
    /// Made for another user.
    WrongUser,
    /// Older than a button's lifetime.
    Expired,
    /// Not an interactive message action at all.
    Malformed,
    /// The store or Mattermost failed: the user was asked to try again.
    Failed,
}

impl ClickOutcome {
    const ALL: [Self; 6] = [
        Self::Ok,
        Self::Invalid,
        Self::WrongUser,
        Self::Expired,
        Self::Malformed,
        Self::Failed,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Invalid => "invalid",
            Self::WrongUser => "wrong_user",
            Self::Expired => "expired",
            Self::Malformed => "malformed",
            Self::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabel {
    change: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// A value read at scrape time, shown as a gauge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScrapeGauge {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) value: u64,
}

/// The calendar's counters. Updating one takes no lock held across an await: cheap from any
/// task.
pub(crate) struct CalendarMetrics {
    registry: Registry,
    dms_sent: Family<KindLabel, Counter>,
    status_changes: Family<ChangeLabel, Counter>,
    graph_requests: GraphRequests,
    change_notifications: Family<OutcomeLabel, Counter>,
    lifecycle_notifications: Family<OutcomeLabel, Counter>,
    button_clicks: Family<OutcomeLabel, Counter>,
}

impl std::fmt::Debug for CalendarMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalendarMetrics").finish_non_exhaustive()
    }
}

impl Default for CalendarMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A family with a series for each of `labels` (at 0), so rates start from the first scrape.
fn family<L, T>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    labels: impl IntoIterator<Item = T>,
    label: impl Fn(T) -> L,
) -> Family<L, Counter>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Counter>::default();
    for value in labels {
        let _ = family.get_or_create(&label(value));
    }
    registry.register(name, help, family.clone());
    family
}

impl CalendarMetrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let dms_sent = family(
            &mut registry,
            "dms_sent",
            "Bot DMs posted, by what they are about",
            DmKind::ALL,
            |kind| KindLabel { kind: kind.label() },
        );
        let status_changes = family(
            &mut registry,
            "status_changes",
            "Status sync outcomes",
            StatusChange::ALL,
            |change| ChangeLabel {
                change: change.label(),
            },
        );
        let graph_requests = GraphRequests::registered(&mut registry);
        let change_notifications = family(
            &mut registry,
            "change_notifications",
            "Event change notification items posted to the webhook, by outcome",
            NotificationOutcome::ALL,
            |outcome| OutcomeLabel {
                outcome: outcome.label(),
            },
        );
        let lifecycle_notifications = family(
            &mut registry,
            "lifecycle_notifications",
            "Subscription lifecycle notification items posted to the webhook, by outcome",
            NotificationOutcome::ALL,
            |outcome| OutcomeLabel {
                outcome: outcome.label(),
            },
        );
        let button_clicks = family(
            &mut registry,
            "button_clicks",
            "Clicks on the bot's buttons, by outcome",
            ClickOutcome::ALL,
            |outcome| OutcomeLabel {
                outcome: outcome.label(),
            },
        );
        Self {
            registry,
            dms_sent,
            status_changes,
            graph_requests,
            change_notifications,
            lifecycle_notifications,
            button_clicks,
        }
    }

    /// A DM was posted (not one the delivery ledger skipped).
    pub(crate) fn dm_sent(&self, kind: DmKind) {
        self.dms_sent
            .get_or_create(&KindLabel { kind: kind.label() })
            .inc();
    }

    pub(crate) fn status_changed(&self, change: StatusChange) {
        self.status_changes
            .get_or_create(&ChangeLabel {
                change: change.label(),
            })
            .inc();
    }

    /// `n` webhook items, on `/graph/lifecycle` when `lifecycle`, else `/graph/notifications`.
    pub(crate) fn notifications(&self, lifecycle: bool, outcome: NotificationOutcome, n: usize) {
        let family = if lifecycle {
            &self.lifecycle_notifications
        } else {
            &self.change_notifications
        };
        family
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    pub(crate) fn button_click(&self, outcome: ClickOutcome) {
        self.button_clicks
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// The text exposition: the counters, then `gauges`, then `# EOF`.
    pub(crate) fn render(&self, gauges: &[ScrapeGauge]) -> String {
        let mut scraped = Registry::with_prefix(PREFIX);
        for gauge in gauges {
            let value = Gauge::<i64>::default();
            value.set(i64::try_from(gauge.value).unwrap_or(i64::MAX));
            // The registry adds the final full stop.
            scraped.register(gauge.name, gauge.help.trim_end_matches('.'), value);
        }
        exposition(&[&self.registry, &scraped])
    }
}

impl CountsGraphRequests for CalendarMetrics {
    fn graph_request(&self, endpoint: &'static str, status: u16) {
        self.graph_requests.inc(endpoint, status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_gauges_show_in_one_exposition() {
        let metrics = CalendarMetrics::new();
        metrics.dm_sent(DmKind::Reminder);
        metrics.dm_sent(DmKind::Reminder);
        metrics.dm_sent(DmKind::StatusQuestion);
        metrics.status_changed(StatusChange::SetDnd);
        metrics.graph_request("calendar_views_batch", 200);
        metrics.notifications(false, NotificationOutcome::Accepted, 3);
        metrics.notifications(false, NotificationOutcome::discarded("client_state"), 1);
        metrics.notifications(true, NotificationOutcome::Accepted, 1);
        metrics.button_click(ClickOutcome::WrongUser);
        let text = metrics.render(&[ScrapeGauge {
            name: "connected_users",
            help: "Mattermost users with a connected Microsoft account.",
            value: 2,
        }]);
        for sample in [
            "calendar_bridge_dms_sent_total{kind=\"reminder\"} 2",
            "calendar_bridge_dms_sent_total{kind=\"status_question\"} 1",
            "calendar_bridge_dms_sent_total{kind=\"summary\"} 0",
            "calendar_bridge_status_changes_total{change=\"set_dnd\"} 1",
            "calendar_bridge_status_changes_total{change=\"restored\"} 0",
            "calendar_bridge_graph_requests_total{endpoint=\"calendar_views_batch\",status=\"200\"} 1",
            "calendar_bridge_change_notifications_total{outcome=\"accepted\"} 3",
            "calendar_bridge_change_notifications_total{outcome=\"forged\"} 1",
            "calendar_bridge_lifecycle_notifications_total{outcome=\"accepted\"} 1",
            "calendar_bridge_button_clicks_total{outcome=\"wrong_user\"} 1",
            "# HELP calendar_bridge_connected_users Mattermost users with a connected Microsoft account.\n",
            "# TYPE calendar_bridge_connected_users gauge\ncalendar_bridge_connected_users 2\n",
            "# TYPE calendar_bridge_dms_sent counter\n",
        ] {
            assert!(text.contains(sample), "{sample} missing:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }

    #[test]
    fn webhook_drop_reasons_have_an_outcome() {
        assert_eq!(
            NotificationOutcome::discarded("client_state"),
            NotificationOutcome::Forged
        );
        assert_eq!(
            NotificationOutcome::discarded("malformed_item"),
            NotificationOutcome::Malformed
        );
        assert_eq!(
            NotificationOutcome::discarded("not_an_event"),
            NotificationOutcome::Ignored
        );
    }
}
