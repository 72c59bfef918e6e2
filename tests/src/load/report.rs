//! Figures of a timed phase, the saturation table, and the JSON written by `--json`.

use super::keys::Signed;
use super::observe::Seen;
use super::procstat::{round, NodeUsage, OwnUsage};
use super::submit::{Fate, Record};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Submit→final latency percentiles, milliseconds, over committed transfers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    fn of(mut millis: Vec<f64>) -> Latency {
        if millis.is_empty() {
            return Latency::default();
        }
        millis.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = ((q * millis.len() as f64).ceil() as usize).clamp(1, millis.len());
            round(millis[rank - 1], 1)
        };
        let mean = millis.iter().sum::<f64>() / millis.len() as f64;
        Latency { p50: at(0.50), p90: at(0.90), p99: at(0.99), max: at(1.0), mean: round(mean, 1) }
    }
}

/// One rate's results.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Offered rate, transfers/s.
    pub offered_tps: u32,
    /// Length of the timed phase, s.
    pub duration_s: u64,
    /// Transfers scheduled.
    pub scheduled: usize,
    /// Transfers sent (answered or not).
    pub sent: usize,
    /// Sent per second over the phase (below the offered rate when the nodes answer slowly).
    pub sent_tps: f64,
    /// Transfers the nodes accepted.
    pub accepted: usize,
    /// Refused transfers by reason (`mempool_full`, `bad_nonce`, `http_503`, `transport`...).
    pub rejected: BTreeMap<String, usize>,
    /// Scheduled but not sent before the phase's time limit.
    pub not_sent: usize,
    /// Times a node shed a transfer (`mempool_full`) that was then sent again.
    pub shed_retries: usize,
    /// Accepted transfers seen in a committed block (during the phase or the drain).
    pub committed: usize,
    /// Accepted transfers never seen in a committed block.
    pub never_committed: usize,
    /// Our transfers committed during the phase, per second of the phase.
    pub committed_tps: f64,
    /// The same over the phase's second half only (no ramp-up).
    pub committed_tps_steady: f64,
    /// Submit→final latency of committed transfers, from the first send (or, for one held
    /// behind a shed transfer of its sender, from when it was due).
    pub latency_ms: Latency,
    /// Accepted→final latency of committed transfers: from the send the node accepted, after
    /// any sheds (equal to `latency_ms` when nothing was shed).
    pub accepted_latency_ms: Latency,
    /// Blocks committed during the phase.
    pub blocks: usize,
    /// Heights of the first and last of them (0 when none).
    pub heights: (u64, u64),
    /// Mean time between those blocks, ms.
    pub block_interval_ms: f64,
    /// The most transfers in one of those blocks.
    pub max_block_transfers: usize,
    /// How long the drain after the phase took, s.
    pub drain_s: f64,
    /// Each node's CPU and memory over the phase and drain.
    pub nodes: Vec<NodeUsage>,
    /// The load generator's own CPU over the phase and drain (it shares the cores).
    pub load_generator: OwnUsage,
}

/// Inputs of [`Step::measure`].
pub struct Measured<'a> {
    /// Offered rate.
    pub rate: u32,
    /// Phase length.
    pub duration: Duration,
    /// The scheduled transfers.
    pub signed: &'a [Signed],
    /// Their records.
    pub records: &'a [Record],
    /// What the observer saw.
    pub seen: &'a Seen,
    /// The phase's start.
    pub start: Instant,
    /// The drain's length.
    pub drain: Duration,
    /// Node figures.
    pub nodes: Vec<NodeUsage>,
    /// The load generator's figures.
    pub load_generator: OwnUsage,
}

impl Step {
    /// Computes the figures.
    pub fn measure(m: Measured<'_>) -> Step {
        let (start, end) = (m.start, m.start + m.duration);
        let half = m.start + m.duration / 2;
        let mut rejected = BTreeMap::new();
        let (mut sent, mut accepted, mut not_sent, mut committed, mut in_window, mut steady) = (0, 0, 0, 0, 0, 0);
        let mut latencies = Vec::new();
        let mut accepted_latencies = Vec::new();
        let mut last_sent = start;
        let mut shed_retries = 0;
        for (signed, record) in m.signed.iter().zip(m.records) {
            shed_retries += record.shed as usize;
            if let Some(at) = record.sent {
                sent += 1;
                last_sent = last_sent.max(at);
            }
            match &record.fate {
                Fate::NotSent => not_sent += 1,
                Fate::Rejected(label) => *rejected.entry(label.clone()).or_insert(0) += 1,
                Fate::Accepted => {
                    accepted += 1;
                    if let (Some(&(at, _)), Some(sent_at)) = (m.seen.committed.get(&signed.hash), record.sent) {
                        committed += 1;
                        latencies.push(at.saturating_duration_since(sent_at).as_secs_f64() * 1e3);
                        let accepted_at = record.accepted.unwrap_or(sent_at);
                        accepted_latencies.push(at.saturating_duration_since(accepted_at).as_secs_f64() * 1e3);
                        in_window += usize::from(at >= start && at <= end);
                        steady += usize::from(at >= half && at <= end);
                    }
                }
            }
        }
        let blocks: Vec<_> = m.seen.blocks.iter().filter(|b| b.at >= start && b.at <= end).collect();
        let block_interval_ms = match (blocks.first(), blocks.last()) {
            (Some(a), Some(b)) if blocks.len() > 1 => {
                b.at.duration_since(a.at).as_secs_f64() * 1e3 / (blocks.len() - 1) as f64
            }
            _ => 0.0,
        };
        let secs = m.duration.as_secs_f64().max(1e-9);
        let send_span = last_sent.duration_since(start).as_secs_f64().max(secs);
        Step {
            offered_tps: m.rate,
            duration_s: m.duration.as_secs(),
            scheduled: m.signed.len(),
            sent,
            sent_tps: round(sent as f64 / send_span, 1),
            accepted,
            rejected,
            not_sent,
            shed_retries,
            committed,
            never_committed: accepted - committed,
            committed_tps: round(in_window as f64 / secs, 1),
            committed_tps_steady: round(steady as f64 / (secs / 2.0), 1),
            latency_ms: Latency::of(latencies),
            accepted_latency_ms: Latency::of(accepted_latencies),
            blocks: blocks.len(),
            heights: (blocks.first().map_or(0, |b| b.height), blocks.last().map_or(0, |b| b.height)),
            block_interval_ms: round(block_interval_ms, 1),
            max_block_transfers: blocks.iter().map(|b| b.transfers).max().unwrap_or(0),
            drain_s: round(m.drain.as_secs_f64(), 2),
            nodes: m.nodes,
            load_generator: m.load_generator,
        }
    }
}

/// The whole run, as written by `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `tally-load`.
    pub tool: &'static str,
    /// Unix time of the start, s.
    pub started_unix: u64,
    /// Whether the network was started by the tool.
    pub spawned: bool,
    /// Nodes the load went to.
    pub nodes: usize,
    /// The chain id.
    pub chain_id: String,
    /// Sender accounts.
    pub accounts: u32,
    /// HTTP connections per node.
    pub connections: usize,
    /// Transfers per batch.
    pub batch: usize,
    /// CPU cores of the machine (nodes and load generator share them).
    pub cores: usize,
    /// Node settings passed with `--set` (on top of the test harness's).
    pub settings: Vec<String>,
    /// One entry per rate, in the order run.
    pub steps: Vec<Step>,
}

/// The saturation table's header.
pub fn table_header() -> String {
    format!(
        "{:>8} {:>8} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>5}  {}",
        "offered",
        "sent/s",
        "commit/s",
        "steady",
        "p50ms",
        "p90ms",
        "p99ms",
        "reject",
        "lost",
        "blocks",
        "maxtx",
        "cpu s / peak MiB per node"
    )
}

/// One table row.
pub fn table_row(step: &Step) -> String {
    let rejected: usize = step.rejected.values().sum();
    let nodes: Vec<String> = step.nodes.iter().map(|n| format!("{:.1}/{:.0}", n.cpu_seconds, n.peak_rss_mib)).collect();
    format!(
        "{:>8} {:>8.1} {:>9.1} {:>8.1} {:>7.1} {:>7.1} {:>7.1} {:>7} {:>7} {:>6} {:>5}  {}",
        step.offered_tps,
        step.sent_tps,
        step.committed_tps,
        step.committed_tps_steady,
        step.latency_ms.p50,
        step.latency_ms.p90,
        step.latency_ms.p99,
        rejected,
        step.never_committed + step.not_sent,
        step.blocks,
        step.max_block_transfers,
        nodes.join(" ")
    )
}
