//! Checkers and statistics of a simulation run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use tally_consensus::{BlockHash, SignedMessage};

/// A property the run broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two honest validators decided different blocks at one height.
    Disagreement { height: u64 },
    /// A decided block was never proposed, is invalid, or belongs to another height.
    InvalidDecision { height: u64 },
    /// An honest validator signed two different messages for one (height, round, type),
    /// possibly in different incarnations.
    ConflictingSignature { validator: usize, height: u64, round: u32, type_byte: u8 },
    /// A decision came with a certificate that does not verify or names another block.
    BadCertificate { height: u64 },
    /// Evidence was emitted against an honest validator.
    EvidenceAgainstHonest { validator: usize },
    /// A live honest validator did not commit the target heights in time.
    NoLiveness { validator: usize, committed: u64 },
    /// A height that started after the last disruption needed too many rounds.
    TooManyRounds { height: u64, rounds: u32 },
    /// An honest validator decided while the network was split without a quorum.
    DecidedDuringSplit { height: u64, at_ms: u64 },
}

impl Violation {
    /// True for violations of safety (as opposed to liveness).
    pub fn is_safety(&self) -> bool {
        matches!(
            self,
            Violation::Disagreement { .. }
                | Violation::InvalidDecision { .. }
                | Violation::ConflictingSignature { .. }
                | Violation::BadCertificate { .. }
                | Violation::EvidenceAgainstHonest { .. }
                | Violation::DecidedDuringSplit { .. }
        )
    }
}

/// Statistics of one or more runs.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Runs merged.
    pub runs: u64,
    /// Decisions (per validator per height).
    pub decisions: u64,
    /// Distinct heights decided.
    pub heights: u64,
    /// Rounds used per height (decision round + 1), for heights started after the last
    /// disruption.
    pub rounds_after_gst: Vec<u32>,
    /// Rounds used per height, all heights.
    pub rounds_all: Vec<u32>,
    /// Virtual time simulated (ms).
    pub virtual_ms: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Evidence outputs.
    pub evidence: u64,
    /// Heights committed by block sync rather than own decision.
    pub synced: u64,
}

impl Stats {
    /// Adds another run's statistics.
    pub fn merge(&mut self, other: &Stats) {
        self.runs += other.runs;
        self.decisions += other.decisions;
        self.heights += other.heights;
        self.rounds_after_gst.extend(&other.rounds_after_gst);
        self.rounds_all.extend(&other.rounds_all);
        self.virtual_ms += other.virtual_ms;
        self.delivered += other.delivered;
        self.evidence += other.evidence;
        self.synced += other.synced;
    }

    /// (median, max) of a list of rounds.
    pub fn median_max(rounds: &[u32]) -> (u32, u32) {
        let mut v = rounds.to_vec();
        v.sort_unstable();
        match v.len() {
            0 => (0, 0),
            n => (v[n / 2], v[n - 1]),
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (med, max) = Stats::median_max(&self.rounds_after_gst);
        let (med_all, max_all) = Stats::median_max(&self.rounds_all);
        write!(
            f,
            "runs={} heights={} decisions={} rounds/height after GST median={} max={} \
             (all heights median={} max={}) evidence={} synced={} delivered={} virtual={:.1}s",
            self.runs,
            self.heights,
            self.decisions,
            med,
            max,
            med_all,
            max_all,
            self.evidence,
            self.synced,
            self.delivered,
            self.virtual_ms as f64 / 1000.0
        )
    }
}

/// The result of one run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// What went wrong.
    pub violations: Vec<Violation>,
    /// What happened.
    pub stats: Stats,
}

/// One honest decision.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// Deciding validator.
    pub validator: usize,
    /// Decided block.
    pub hash: BlockHash,
    /// Deciding round.
    pub round: u32,
    /// Virtual time.
    pub at_ms: u64,
    /// Obtained by block sync rather than decided by the core.
    pub synced: bool,
}

/// What the checkers watch during a run.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every message an honest validator released, by position.
    pub signed: HashMap<(usize, u64, u32, u8), SignedMessage>,
    /// Honest decisions per height.
    pub decisions: BTreeMap<u64, Vec<Decision>>,
    /// First time any honest validator started each height.
    pub height_started: BTreeMap<u64, u64>,
    /// Violations found while running.
    pub violations: Vec<Violation>,
}

impl Recorder {
    /// An honest validator released `msg`: it must not conflict with anything it released
    /// before, in any incarnation.
    pub fn signed(&mut self, validator: usize, msg: &SignedMessage) {
        let key = (validator, msg.height(), msg.round(), msg.type_byte());
        match self.signed.get(&key) {
            Some(previous) if previous != msg => {
                self.violations.push(Violation::ConflictingSignature {
                    validator,
                    height: key.1,
                    round: key.2,
                    type_byte: key.3,
                });
            }
            Some(_) => {}
            None => {
                self.signed.insert(key, msg.clone());
            }
        }
    }

    /// Agreement: at every height, all honest decisions name the same block.
    pub fn check_agreement(&mut self) {
        for (&height, ds) in &self.decisions {
            if ds.iter().any(|d| d.hash != ds[0].hash) {
                self.violations.push(Violation::Disagreement { height });
            }
        }
    }

    /// Rounds used per height: (height, rounds, started after `stable_ms`).
    pub fn rounds_per_height(&self, stable_ms: u64) -> Vec<(u64, u32, bool)> {
        self.decisions
            .iter()
            .filter_map(|(&h, ds)| {
                let rounds = ds.iter().filter(|d| !d.synced).map(|d| d.round).min()? + 1;
                let started = self.height_started.get(&h).copied().unwrap_or(0);
                Some((h, rounds, started >= stable_ms))
            })
            .collect()
    }
}
