//! The node's Prometheus metrics (SPEC §6); the RPC server registers its own beside them and
//! serves the registry at `GET /metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Handles to the node's metrics; cheap to clone, updated by the actors that own the facts.
#[derive(Clone)]
pub struct NodeMetrics {
    /// `tally_height`: the committed height.
    pub height: Gauge,
    /// `tally_peers`: connected peers of this chain.
    pub peers: Gauge,
    /// `tally_mempool_transfers`: transfers waiting.
    pub mempool_transfers: Gauge,
    /// `tally_mempool_bytes`: their encoded size.
    pub mempool_bytes: Gauge,
    /// `tally_transfers_committed_total`: transfers in committed blocks.
    pub transfers_committed: Counter,
    /// `tally_consensus_rounds`: rounds needed per height (1 = decided in round 0).
    pub consensus_rounds: Histogram,
    /// `tally_signatures_verified_total`: transfer signatures checked (each should be once).
    pub signatures_verified: Counter,
    /// `tally_gossip_batches_dropped_total`: gossiped transfer batches dropped because the
    /// mempool was backed up (their transfers still arrive in blocks).
    pub gossip_batches_dropped: Counter,
    /// `tally_submissions_shed_total`: client submissions refused as `mempool_full`, unchecked,
    /// because the mempool's admission queue was full (the node is past saturation).
    pub submissions_shed: Counter,
}

impl NodeMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> NodeMetrics {
        let metrics = NodeMetrics {
            height: Gauge::default(),
            peers: Gauge::default(),
            mempool_transfers: Gauge::default(),
            mempool_bytes: Gauge::default(),
            transfers_committed: Counter::default(),
            consensus_rounds: Histogram::new([1.0, 2.0, 3.0, 4.0, 6.0, 10.0]),
            signatures_verified: Counter::default(),
            gossip_batches_dropped: Counter::default(),
            submissions_shed: Counter::default(),
        };
        registry.register("tally_height", "Committed block height", metrics.height.clone());
        registry.register("tally_peers", "Connected peers of this chain", metrics.peers.clone());
        registry.register(
            "tally_mempool_transfers",
            "Transfers waiting in the mempool",
            metrics.mempool_transfers.clone(),
        );
        registry.register("tally_mempool_bytes", "Encoded bytes waiting in the mempool", metrics.mempool_bytes.clone());
        registry.register(
            "tally_transfers_committed",
            "Transfers included in committed blocks",
            metrics.transfers_committed.clone(),
        );
        registry.register(
            "tally_consensus_rounds",
            "Rounds needed to decide a height (1 means round 0)",
            metrics.consensus_rounds.clone(),
        );
        registry.register(
            "tally_signatures_verified",
            "Transfer signatures checked by the mempool",
            metrics.signatures_verified.clone(),
        );
        registry.register(
            "tally_gossip_batches_dropped",
            "Gossiped transfer batches dropped because the mempool was backed up",
            metrics.gossip_batches_dropped.clone(),
        );
        registry.register(
            "tally_submissions_shed",
            "Client submissions refused as mempool_full, unchecked, because the admission queue was full",
            metrics.submissions_shed.clone(),
        );
        metrics
    }

    /// Unregistered metrics, for tests.
    pub fn detached() -> NodeMetrics {
        NodeMetrics::register(&mut Registry::default())
    }
}
