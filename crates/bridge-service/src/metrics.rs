//! What both products' metrics share: the count of Graph requests by endpoint and status, fed by
//! the [`GraphObserver`] that [`crate::graph::AppGraph`] and the delegated clients report to, and
//! the OpenMetrics text exposition.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use teams_graph::GraphObserver;

/// The content type of `GET /metrics`.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Metrics that count Graph requests; [`graph_observer`] makes the observer that feeds them.
pub(crate) trait CountsGraphRequests: Send + Sync + 'static {
    /// One Graph request: the endpoint's label and the HTTP status (0: no answer).
    fn graph_request(&self, endpoint: &'static str, status: u16);
}

/// The observer to give Graph clients so that `metrics` counts their requests.
pub(crate) fn graph_observer<M: CountsGraphRequests>(metrics: &Arc<M>) -> GraphObserver {
    let metrics = metrics.clone();
    Arc::new(move |endpoint, status| metrics.graph_request(endpoint, status))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GraphLabel {
    endpoint: &'static str,
    status: u16,
}

/// `<prefix>_graph_requests_total{endpoint,status}`.
#[derive(Clone, Debug, Default)]
pub(crate) struct GraphRequests(Family<GraphLabel, Counter>);

impl GraphRequests {
    /// The family, registered in `registry`.
    pub(crate) fn registered(registry: &mut Registry) -> Self {
        let requests = Self::default();
        registry.register(
            "graph_requests",
            "Microsoft Graph requests by endpoint and HTTP status (0: no answer)",
            requests.0.clone(),
        );
        requests
    }

    pub(crate) fn inc(&self, endpoint: &'static str, status: u16) {
        self.0.get_or_create(&GraphLabel { endpoint, status }).inc();
    }
}

/// The text exposition of `registries`, in order, with one `# EOF` at the end.
pub(crate) fn exposition(registries: &[&Registry]) -> String {
    let mut out = String::new();
    for registry in registries {
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, registry);
    }
    let _ = encode_eof(&mut out);
    out
}
