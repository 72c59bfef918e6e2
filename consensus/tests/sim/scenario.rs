//! Scenario builders: what the network looks like and what goes wrong, in one readable chain,
//! e.g. `Scenario::new("minority", 4).lossy_until(3_000).partition(&[&[0], &[1, 2, 3]], 0, 3_000)`.

use tally_consensus::TimeoutConfig;

use super::checks::Outcome;
use super::world::World;

/// How a byzantine validator misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Byzantine {
    /// Two cores with the same key, each talking to a different subset of the peers.
    Twins,
    /// Never sends anything.
    Silent,
}

/// A network partition between groups of validators during `[from_ms, until_ms)`.
#[derive(Debug, Clone)]
pub struct Partition {
    /// Validator indices per group; validators in no group are cut off from everyone.
    pub groups: Vec<Vec<usize>>,
    /// Start (virtual ms).
    pub from_ms: u64,
    /// Heal (virtual ms).
    pub until_ms: u64,
}

/// Crashes and restarts.
#[derive(Debug, Clone, Default)]
pub struct CrashPlan {
    /// Honest validators crashed at a random time before GST, restarted after `down_ms`.
    pub random_restarts: usize,
    /// Honest validators crashed at the start and never restarted.
    pub down_forever: usize,
    /// Crash every honest validator at this time and restart all `down_ms` later.
    pub all_at: Option<u64>,
    /// How long a crashed node stays down.
    pub down_ms: u64,
    /// Negative control: restart from nothing, throwing the persisted state away.
    pub amnesia: bool,
}

/// Message delivery parameters.
#[derive(Debug, Clone, Copy)]
pub struct NetworkFaults {
    /// Until this time the network is asynchronous: long delays, drops, duplicates.
    pub gst_ms: u64,
    /// Delay range before GST (ms).
    pub delay_before_gst: (u64, u64),
    /// Delay range after GST (ms).
    pub delay_after_gst: (u64, u64),
    /// Drop probability before GST.
    pub drop_before_gst: f64,
    /// Duplicate probability (always).
    pub duplicate: f64,
}

/// A simulation scenario; [`Scenario::run`] plays it for one seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name for reports.
    pub name: &'static str,
    /// Voting power per validator.
    pub powers: Vec<u64>,
    /// Byzantine validators (the highest indices) and their behaviour.
    pub byzantine: Vec<(usize, Byzantine)>,
    /// Partitions.
    pub partitions: Vec<Partition>,
    /// Crashes.
    pub crashes: CrashPlan,
    /// Network.
    pub faults: NetworkFaults,
    /// Heights every live honest validator must commit.
    pub heights: u64,
    /// Virtual time budget after the last disruption (GST, heal, restart).
    pub budget_ms: u64,
    /// Probability that a built block is invalid.
    pub invalid_block_prob: f64,
    /// Liveness bound: a height that starts after the last disruption decides within this
    /// many rounds.
    pub max_rounds_after_gst: u32,
    /// Core timeouts.
    pub timeouts: TimeoutConfig,
    /// A window in which no honest validator may decide (a split without quorum).
    pub no_decision_window: Option<(u64, u64)>,
    /// Pause between committing a block and starting the next height (the node's
    /// empty-block interval, shortened so that runs stay cheap).
    pub commit_delay_ms: u64,
}

impl Scenario {
    /// `n` honest validators with power 1 on a well-behaved network.
    pub fn new(name: &'static str, n: usize) -> Self {
        Scenario {
            name,
            powers: vec![1; n],
            byzantine: Vec::new(),
            partitions: Vec::new(),
            crashes: CrashPlan { down_ms: 1_500, ..CrashPlan::default() },
            faults: NetworkFaults {
                gst_ms: 0,
                delay_before_gst: (1, 400),
                delay_after_gst: (1, 40),
                drop_before_gst: 0.15,
                duplicate: 0.02,
            },
            heights: 4,
            budget_ms: 30_000,
            invalid_block_prob: 0.0,
            max_rounds_after_gst: 4,
            timeouts: TimeoutConfig { propose_ms: 300, prevote_ms: 150, precommit_ms: 150, delta_ms: 100 },
            no_decision_window: None,
            commit_delay_ms: 250,
        }
    }

    /// Voting powers (also sets the number of validators).
    pub fn powers(mut self, powers: &[u64]) -> Self {
        self.powers = powers.to_vec();
        self
    }

    /// The last `k` validators equivocate as twins; honest validators on different sides
    /// cannot talk until GST (a byzantine-assisted partition).
    pub fn twins(mut self, k: usize) -> Self {
        self.mark_byzantine(k, Byzantine::Twins);
        self
    }

    /// The last `k` validators (after any already byzantine) never send anything.
    pub fn silent(mut self, k: usize) -> Self {
        self.mark_byzantine(k, Byzantine::Silent);
        self
    }

    fn mark_byzantine(&mut self, k: usize, how: Byzantine) {
        let taken = self.byzantine.len();
        let n = self.powers.len();
        for i in 0..k {
            self.byzantine.push((n - 1 - taken - i, how));
        }
    }

    /// Asynchronous (lossy, slow) network until `gst_ms`.
    pub fn lossy_until(mut self, gst_ms: u64) -> Self {
        self.faults.gst_ms = gst_ms;
        self
    }

    /// A partition between `groups` during `[from_ms, until_ms)`.
    pub fn partition(mut self, groups: &[&[usize]], from_ms: u64, until_ms: u64) -> Self {
        self.partitions.push(Partition { groups: groups.iter().map(|g| g.to_vec()).collect(), from_ms, until_ms });
        self
    }

    /// Like [`Scenario::partition`], and asserts that no honest validator decides during it
    /// (after the messages already in flight are delivered).
    pub fn split_without_quorum(self, groups: &[&[usize]], from_ms: u64, until_ms: u64) -> Self {
        let mut s = self.partition(groups, from_ms, until_ms);
        let slack = s.faults.delay_after_gst.1.max(s.faults.delay_before_gst.1) + 50;
        s.no_decision_window = Some((from_ms + slack, until_ms));
        s
    }

    /// `k` honest validators crash at random times before GST and restart.
    pub fn crash_restarts(mut self, k: usize) -> Self {
        self.crashes.random_restarts = k;
        self
    }

    /// `k` honest validators are down for the whole run.
    pub fn crashed_forever(mut self, k: usize) -> Self {
        self.crashes.down_forever = k;
        self
    }

    /// Every honest validator crashes at `at_ms` and restarts `down_ms` later.
    pub fn crash_all(mut self, at_ms: u64, down_ms: u64) -> Self {
        self.crashes.all_at = Some(at_ms);
        self.crashes.down_ms = down_ms;
        self
    }

    /// Negative control: restarts throw the persisted consensus state away.
    pub fn amnesia(mut self) -> Self {
        self.crashes.amnesia = true;
        self
    }

    /// Heights to commit.
    pub fn heights(mut self, heights: u64) -> Self {
        self.heights = heights;
        self
    }

    /// The pause between committing a height and starting the next.
    pub fn commit_delay(mut self, ms: u64) -> Self {
        self.commit_delay_ms = ms;
        self
    }

    /// Virtual time allowed after the last disruption.
    pub fn budget(mut self, ms: u64) -> Self {
        self.budget_ms = ms;
        self
    }

    /// Probability that a block built by a proposer is invalid.
    pub fn invalid_blocks(mut self, prob: f64) -> Self {
        self.invalid_block_prob = prob;
        self
    }

    /// Liveness bound in rounds for heights started after the last disruption.
    pub fn max_rounds(mut self, rounds: u32) -> Self {
        self.max_rounds_after_gst = rounds;
        self
    }

    /// The time after which the network is synchronous, every partition healed and every
    /// crashed node restarted.
    pub fn stable_after_ms(&self) -> u64 {
        let mut t = self.faults.gst_ms;
        for p in &self.partitions {
            t = t.max(p.until_ms);
        }
        if self.crashes.random_restarts > 0 {
            t = t.max(self.faults.gst_ms + self.crashes.down_ms);
        }
        if let Some(at) = self.crashes.all_at {
            t = t.max(at + self.crashes.down_ms);
        }
        t
    }

    /// Plays the scenario with `seed` and checks the result.
    pub fn run(&self, seed: u64) -> Outcome {
        World::new(self, seed).run()
    }
}
