//! The RPC server's Prometheus metrics.
//!
//! The node owns the [`Registry`]: it creates it, registers its own metrics, calls
//! [`RpcMetrics::register`], then hands the registry to the server (wrapped in an `Arc`), which
//! serves the whole of it at `GET /metrics`. Method labels come from the method table (unknown
//! names are counted as `unknown`), so clients cannot grow the label set.

use crate::methods::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// The `method` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    /// A served method's name, `unknown`, or `invalid` (requests that did not parse).
    pub method: &'static str,
}

impl MethodLabel {
    /// The label for a method name as a client sent it.
    pub fn for_name(name: &str) -> MethodLabel {
        MethodLabel { method: Method::from_name(name).map_or("unknown", Method::name) }
    }

    /// The label of requests that are not valid JSON-RPC.
    pub fn invalid() -> MethodLabel {
        MethodLabel { method: "invalid" }
    }
}

fn seconds_histogram() -> Histogram {
    // 0.5 ms .. ~33 s.
    Histogram::new(exponential_buckets(0.0005, 3.0, 11))
}

/// Handles to the server's metrics; clones share the same series.
#[derive(Clone, Debug)]
pub struct RpcMetrics {
    requests: Family<MethodLabel, Counter>,
    seconds: Family<MethodLabel, Histogram, fn() -> Histogram>,
    rate_limited: Counter,
    ws_connections: Gauge,
    ws_dropped: Counter,
}

impl Default for RpcMetrics {
    fn default() -> Self {
        RpcMetrics::new()
    }
}

impl RpcMetrics {
    /// Fresh, unregistered metrics.
    pub fn new() -> RpcMetrics {
        RpcMetrics {
            requests: Family::default(),
            seconds: Family::new_with_constructor(seconds_histogram),
            rate_limited: Counter::default(),
            ws_connections: Gauge::default(),
            ws_dropped: Counter::default(),
        }
    }

    /// Registers every series in `registry`: `tally_rpc_requests_total{method}`,
    /// `tally_rpc_request_seconds{method}`, `tally_rpc_rate_limited_total`,
    /// `tally_rpc_ws_connections`, `tally_rpc_ws_dropped_total`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("tally_rpc_requests", "JSON-RPC calls received, by method", self.requests.clone());
        registry.register(
            "tally_rpc_request_seconds",
            "Time to answer a JSON-RPC call, by method",
            self.seconds.clone(),
        );
        registry.register(
            "tally_rpc_rate_limited",
            "Requests refused by the per-client rate limit",
            self.rate_limited.clone(),
        );
        registry.register("tally_rpc_ws_connections", "Open WebSocket connections", self.ws_connections.clone());
        registry.register(
            "tally_rpc_ws_dropped",
            "WebSocket subscribers dropped because they fell behind",
            self.ws_dropped.clone(),
        );
    }

    /// Records one call and how long it took.
    pub fn observe(&self, label: &MethodLabel, elapsed: Duration) {
        self.requests.get_or_create(label).inc();
        self.seconds.get_or_create(label).observe(elapsed.as_secs_f64());
    }

    /// Calls recorded for `method` so far (for tests and diagnostics).
    pub fn requests(&self, method: &'static str) -> u64 {
        self.requests.get_or_create(&MethodLabel { method }).get()
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub(crate) fn ws_opened(&self) {
        self.ws_connections.inc();
    }

    pub(crate) fn ws_closed(&self) {
        self.ws_connections.dec();
    }

    pub(crate) fn ws_dropped(&self) {
        self.ws_dropped.inc();
    }

    /// Slow WebSocket subscribers dropped so far.
    pub fn ws_dropped_total(&self) -> u64 {
        self.ws_dropped.get()
    }
}

/// The registry as Prometheus/OpenMetrics text.
pub fn exposition(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out = String::from("# EOF\n");
    }
    out
}
