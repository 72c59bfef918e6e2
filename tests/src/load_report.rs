//! The network benchmark's report: what `tally-load --json` writes and `tally-bench-report`
//! reads back (one definition, so a renamed field breaks the build, not a later run).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `value` rounded to `digits` decimals.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Latency percentiles, milliseconds, over committed transfers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    /// The percentiles of `millis` (nearest rank; all zero when empty).
    pub fn of(mut millis: Vec<f64>) -> Latency {
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

/// One node's figures over a phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeUsage {
    /// The node's index.
    pub node: usize,
    /// Its process id.
    pub pid: u32,
    /// CPU seconds (user + system) used during the phase.
    pub cpu_seconds: f64,
    /// Average CPU use over the phase, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    /// Peak resident set size (VmHWM), MiB: over the phase if it could be reset at its start,
    /// else over the process's life.
    pub peak_rss_mib: f64,
    /// Whether `peak_rss_mib` covers only the phase.
    pub peak_reset: bool,
    /// Resident set size at the end of the phase, MiB.
    pub rss_mib: f64,
}

/// The load generator's own CPU use over a phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OwnUsage {
    /// CPU seconds (user + system) used during the phase.
    pub cpu_seconds: f64,
    /// Average CPU use over the phase, in cores.
    pub cpu_cores: f64,
}

/// One offered rate's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    /// Times a node refused a transfer as ahead of its nonce window (`bad_nonce`: it had not
    /// yet applied a block the load generator had seen) that was then sent again. Absent from
    /// reports that predate it: 0.
    #[serde(default)]
    pub ahead_retries: usize,
    /// Accepted transfers seen in a committed block (during the phase or the drain).
    pub committed: usize,
    /// Accepted transfers never seen in a committed block.
    pub never_committed: usize,
    /// Of those, the ones behind an earlier transfer of their sender that was refused or never
    /// sent: a gap in the sender's nonces no node can fill, so a consequence of that refusal
    /// (counted in `rejected` or `not_sent`) rather than a loss. Absent from reports that
    /// predate it: 0.
    #[serde(default)]
    pub stranded: usize,
    /// Of those, the ones the node reports `expired` (their `valid_until` height passed;
    /// only with `tally-load --valid-blocks`). Absent from reports that predate it: 0.
    #[serde(default)]
    pub expired: usize,
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
    /// Second by second through the phase and drain: where latency builds up.
    #[serde(default)]
    pub seconds: Vec<Second>,
}

/// One second of a step: the transfers first sent in it and how long they took, and the blocks
/// observed in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the phase started.
    pub at_s: u64,
    /// Transfers first sent in this second.
    pub sent: usize,
    /// Submit → final latency of those of them that committed, ms (p50 and p99).
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// Blocks observed in this second.
    pub blocks: usize,
    /// Transfers in those blocks.
    pub committed: usize,
    /// The largest of those blocks.
    pub max_block: usize,
}

impl Step {
    /// Transfers lost: accepted and never committed without having expired or been stranded.
    /// Transfers never sent (the load generator fell behind, or held them behind a refused
    /// transfer of their sender) are counted in `not_sent`.
    pub fn lost(&self) -> usize {
        self.never_committed.saturating_sub(self.expired + self.stranded)
    }
}

/// The whole run, as written by `--json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always `tally-load`.
    pub tool: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::of((1..=100).map(f64::from).collect());
        assert_eq!((l.p50, l.p90, l.p99, l.max, l.mean), (50.0, 90.0, 99.0, 100.0, 50.5));
        assert_eq!(Latency::of(Vec::new()), Latency::default());
    }

    #[test]
    fn a_report_reads_back_as_written() {
        let step =
            Step { offered_tps: 1000, not_sent: 2, never_committed: 4, expired: 1, stranded: 1, ..Step::default() };
        let report = Report {
            tool: "tally-load".into(),
            started_unix: 1,
            spawned: true,
            nodes: 4,
            chain_id: "tally-devnet".into(),
            accounts: 4000,
            connections: 4,
            batch: 64,
            cores: 2,
            settings: vec!["consensus.timeout_propose_ms=3000".into()],
            steps: vec![step],
        };
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), report);
        assert_eq!(report.steps[0].lost(), 2, "never committed, less expired and stranded");
    }
}
