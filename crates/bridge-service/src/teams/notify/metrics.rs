//! The notification pipeline's metrics, served at `GET /metrics` in Prometheus' text format
//! (S8): what arrived, what was discarded and why, what was delivered and how fast, and every
//! Graph call by endpoint and status.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::metrics::{CountsGraphRequests, GraphRequests, exposition};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// The pipeline's counters. Cheap to update from any task.
pub struct Metrics {
    registry: Mutex<Registry>,
    received: Family<KindLabel, Counter>,
    discarded: Family<ReasonLabel, Counter>,
    delivered: Counter,
    delivery_failures: Counter,
    graph_requests: GraphRequests,
    queue: Family<StateLabel, Gauge>,
    latency: Histogram,
    subscriptions_active: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("teams_bridge");
        let received = Family::<KindLabel, Counter>::default();
        registry.register(
            "graph_notifications_received",
            "Change and lifecycle notifications accepted from Graph",
            received.clone(),
        );
        let discarded = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "notifications_discarded",
            "Notifications or recipients given no DM, by reason",
            discarded.clone(),
        );
        let delivered = Counter::default();
        registry.register(
            "notifications_delivered",
            "Bot DMs sent for Teams chat messages",
            delivered.clone(),
        );
        let delivery_failures = Counter::default();
        registry.register(
            "delivery_failures",
            "Attempts that failed and were left for a retry",
            delivery_failures.clone(),
        );
        let graph_requests = GraphRequests::registered(&mut registry);
        let queue = Family::<StateLabel, Gauge>::default();
        registry.register(
            "inbox_items",
            "Items in the durable inbox by state",
            queue.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "notification_latency_seconds",
            "From a notification's arrival to its DM",
            latency.clone(),
        );
        let subscriptions_active = Gauge::default();
        registry.register(
            "graph_subscriptions_active",
            "Chat-message subscriptions this service holds with Graph",
            subscriptions_active.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            received,
            discarded,
            delivered,
            delivery_failures,
            graph_requests,
            queue,
            latency,
            subscriptions_active,
        }
    }

    pub fn received(&self, kind: &'static str, n: u64) {
        self.received.get_or_create(&KindLabel { kind }).inc_by(n);
    }

    pub fn discarded(&self, reason: &'static str) {
        self.discarded.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn delivered(&self, latency: std::time::Duration) {
        self.delivered.inc();
        self.latency.observe(latency.as_secs_f64());
    }

    pub fn delivery_failed(&self) {
        self.delivery_failures.inc();
    }

    pub fn set_subscriptions(&self, n: i64) {
        self.subscriptions_active.set(n);
    }

    pub fn set_queue(&self, counts: store::InboxCounts) {
        let set = |state, n: u64| {
            self.queue
                .get_or_create(&StateLabel { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        };
        set("pending", counts.pending);
        set("in_flight", counts.in_flight);
        set("dead", counts.dead);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        match self.registry.lock() {
            Ok(registry) => exposition(&[&registry]),
            Err(_) => String::new(),
        }
    }
}

impl CountsGraphRequests for Metrics {
    fn graph_request(&self, endpoint: &'static str, status: u16) {
        self.graph_requests.inc(endpoint, status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.received("notification", 3);
        metrics.discarded("client_state");
        metrics.graph_request("chat_message", 200);
        metrics.delivered(std::time::Duration::from_millis(30));
        let text = metrics.render();
        assert!(
            text.contains(
                "teams_bridge_graph_notifications_received_total{kind=\"notification\"} 3"
            ),
            "{text}"
        );
        assert!(
            text.contains("teams_bridge_notifications_discarded_total{reason=\"client_state\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "teams_bridge_graph_requests_total{endpoint=\"chat_message\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("teams_bridge_notifications_delivered_total 1"),
            "{text}"
        );
        assert!(
            text.contains("teams_bridge_notification_latency_seconds_bucket"),
            "{text}"
        );
    }
}
