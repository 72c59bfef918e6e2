//! Figures of a timed phase, the saturation table, and the JSON written by `--json`.

use super::keys::Signed;
use super::observe::Seen;
use super::submit::{Fate, Record};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
pub use tally_tests::load_report::{round, Latency, NodeUsage, OwnUsage, Report, Second, Step};

/// Inputs of [`measure`].
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
    /// Accepted transfers never committed that the node reports expired.
    pub expired: usize,
    /// Senders in the schedule (transfer `j` comes from sender `j mod senders`, in nonce order).
    pub senders: usize,
}

/// Computes a step's figures.
pub fn measure(m: Measured<'_>) -> Step {
    let (start, end) = (m.start, m.start + m.duration);
    let half = m.start + m.duration / 2;
    let mut rejected = BTreeMap::new();
    let (mut sent, mut accepted, mut not_sent, mut committed, mut in_window, mut steady) = (0, 0, 0, 0, 0, 0);
    let mut latencies = Vec::new();
    let mut accepted_latencies = Vec::new();
    let mut by_second = Seconds::new(m.start);
    let mut last_sent = start;
    let (mut shed_retries, mut ahead_retries, mut stranded) = (0, 0, 0);
    // Senders one of whose transfers so far was refused or never sent: their later nonces
    // cannot commit.
    let mut gapped = vec![false; m.senders.max(1)];
    for (j, (signed, record)) in m.signed.iter().zip(m.records).enumerate() {
        shed_retries += record.shed as usize;
        ahead_retries += record.ahead as usize;
        let sender = j % gapped.len();
        if let Some(at) = record.sent {
            sent += 1;
            last_sent = last_sent.max(at);
            by_second.at(at).sent += 1;
        }
        match &record.fate {
            Fate::NotSent => {
                not_sent += 1;
                gapped[sender] = true;
            }
            Fate::Rejected(label) => {
                *rejected.entry(label.clone()).or_insert(0) += 1;
                gapped[sender] = true;
            }
            Fate::Accepted => {
                accepted += 1;
                stranded += usize::from(gapped[sender] && !m.seen.committed.contains_key(&signed.hash));
                if let (Some(&(at, _)), Some(sent_at)) = (m.seen.committed.get(&signed.hash), record.sent) {
                    committed += 1;
                    let latency = at.saturating_duration_since(sent_at).as_secs_f64() * 1e3;
                    latencies.push(latency);
                    by_second.latencies(sent_at).push(latency);
                    let accepted_at = record.accepted.unwrap_or(sent_at);
                    accepted_latencies.push(at.saturating_duration_since(accepted_at).as_secs_f64() * 1e3);
                    in_window += usize::from(at >= start && at <= end);
                    steady += usize::from(at >= half && at <= end);
                }
            }
        }
    }
    for block in m.seen.blocks.iter().filter(|b| b.at >= start) {
        let second = by_second.at(block.at);
        second.blocks += 1;
        second.committed += block.transfers;
        second.max_block = second.max_block.max(block.transfers);
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
        ahead_retries,
        committed,
        stranded,
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
        expired: m.expired,
        seconds: by_second.finish(),
    }
}

/// A step's figures second by second ([`Second`]), filled as the records are read.
struct Seconds {
    start: Instant,
    seconds: Vec<Second>,
    latencies: Vec<Vec<f64>>,
}

impl Seconds {
    fn new(start: Instant) -> Seconds {
        Seconds { start, seconds: Vec::new(), latencies: Vec::new() }
    }

    fn index(&mut self, at: Instant) -> usize {
        let index = at.saturating_duration_since(self.start).as_secs() as usize;
        while self.seconds.len() <= index {
            self.seconds.push(Second { at_s: self.seconds.len() as u64, ..Second::default() });
            self.latencies.push(Vec::new());
        }
        index
    }

    fn at(&mut self, at: Instant) -> &mut Second {
        let index = self.index(at);
        &mut self.seconds[index]
    }

    fn latencies(&mut self, sent: Instant) -> &mut Vec<f64> {
        let index = self.index(sent);
        &mut self.latencies[index]
    }

    fn finish(mut self) -> Vec<Second> {
        for (second, latencies) in self.seconds.iter_mut().zip(self.latencies) {
            let latency = Latency::of(latencies);
            (second.p50_ms, second.p99_ms) = (latency.p50, latency.p99);
        }
        self.seconds
    }
}

/// The saturation table's header.
pub fn table_header() -> String {
    format!(
        "{:>8} {:>8} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7} {:>6} {:>5}  {}",
        "offered",
        "sent/s",
        "commit/s",
        "steady",
        "p50ms",
        "p90ms",
        "p99ms",
        "reject",
        "unsent",
        "expired",
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
        "{:>8} {:>8.1} {:>9.1} {:>8.1} {:>7.1} {:>7.1} {:>7.1} {:>7} {:>8} {:>7} {:>7} {:>6} {:>5}  {}",
        step.offered_tps,
        step.sent_tps,
        step.committed_tps,
        step.committed_tps_steady,
        step.latency_ms.p50,
        step.latency_ms.p90,
        step.latency_ms.p99,
        rejected,
        step.not_sent,
        step.expired,
        step.lost(),
        step.blocks,
        step.max_block_transfers,
        nodes.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_ledger::Hash;

    fn signed(j: u64) -> Signed {
        Signed { hash: Hash::digest(&j.to_le_bytes()), hex: String::new() }
    }

    fn record(fate: Fate, at: Instant) -> Record {
        Record { sent: Some(at), fate, shed: 0, ahead: 0, accepted: Some(at) }
    }

    #[test]
    fn transfers_accepted_behind_a_refused_one_of_their_sender_are_stranded_not_lost() {
        // Two senders, three rounds: transfer j is sender j % 2's nonce j / 2.
        let start = Instant::now();
        let signed: Vec<Signed> = (0..6).map(signed).collect();
        let accepted = || record(Fate::Accepted, start);
        let records = vec![
            accepted(),                                           // sender 0, nonce 0: committed
            accepted(),                                           // sender 1, nonce 0: committed
            record(Fate::Rejected("mempool_full".into()), start), // sender 0, nonce 1: refused
            accepted(),                                           // sender 1, nonce 1: never committed
            accepted(),                                           // sender 0, nonce 2: behind the gap
            Record { sent: None, fate: Fate::NotSent, shed: 0, ahead: 0, accepted: None },
        ];
        let mut seen = Seen::default();
        for j in [0, 1] {
            seen.committed.insert(signed[j].hash, (start + Duration::from_millis(50), 1));
        }
        let step = measure(Measured {
            rate: 6,
            duration: Duration::from_secs(1),
            signed: &signed,
            records: &records,
            seen: &seen,
            start,
            drain: Duration::ZERO,
            nodes: Vec::new(),
            load_generator: OwnUsage::default(),
            expired: 0,
            senders: 2,
        });
        assert_eq!((step.accepted, step.committed, step.never_committed), (4, 2, 2));
        assert_eq!(step.stranded, 1, "only sender 0's nonce 2 sits behind a refusal");
        assert_eq!(step.not_sent, 1);
        assert_eq!(step.lost(), 1, "sender 1's nonce 1 (no refusal before it); the unsent one is not lost");
        assert_eq!(step.rejected.get("mempool_full"), Some(&1));
        assert_eq!(step.seconds.len(), 1, "everything happened in the first second");
        assert_eq!((step.seconds[0].sent, step.seconds[0].p50_ms, step.seconds[0].p99_ms), (5, 50.0, 50.0));
    }
}
