//! The simulated world: nodes around pure cores, the router, virtual time, the seeded RNG.
//! The harness plays the node's role exactly as the contract of each `Output` asks:
//! `Persist` is stored before the following `Broadcast` leaves, timers come back as inputs,
//! blocks are fake hashes, verdicts come back after a delay, decisions are committed with
//! their certificates and followed by `StartHeight`, lagging nodes catch up by block sync.

use std::collections::{BTreeMap, HashMap};

use ed25519_dalek::SigningKey;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use tally_consensus::{
    BlockHash, CommitCertificate, Consensus, ConsensusConfig, Input, Output, PersistedState, SignedMessage, Validator,
    ValidatorSet,
};

use super::checks::{Decision, Outcome, Recorder, Stats, Violation};
use super::network::{Endpoint, Links, Queue, Side};
use super::scenario::{Byzantine, Scenario};

#[path = "node_role.rs"]
mod node_role;

/// Chain id of every simulation.
pub const CHAIN_ID: &str = "tally-sim";
/// How often a node re-sends its own messages of the current height (gossip catch-up).
const GOSSIP_EVERY_MS: u64 = 400;
/// How often a node asks its peers for blocks it is missing (block sync).
const SYNC_EVERY_MS: u64 = 1_000;
/// Safety valve against runaway runs.
const MAX_EVENTS: u64 = 3_000_000;

enum Event {
    Start { node: usize, inc: u32, height: u64 },
    Deliver { from: usize, to: usize, bytes: Vec<u8> },
    Input { node: usize, inc: u32, input: Input },
    Gossip { node: usize },
    Sync { node: usize },
    Crash { node: usize, restart_at: Option<u64> },
    Restart { node: usize },
}

/// One simulated node: a core plus what the real node keeps around it.
struct Node {
    validator: usize,
    honest: bool,
    /// Never runs (silent byzantine or crashed for the whole run).
    inert: bool,
    core: Option<Consensus>,
    /// Incarnation: bumped by every crash, so timers of a dead process never fire.
    inc: u32,
    /// The last `Persist` made durable.
    durable: Option<PersistedState>,
    /// The block store: survives crashes.
    committed: BTreeMap<u64, CommitCertificate>,
    /// Crash during the next output batch, then restart at the given time.
    crash_pending: Option<Option<u64>>,
    builds: u64,
}

struct BlockInfo {
    height: u64,
    valid: bool,
}

/// A running simulation.
pub struct World<'s> {
    scenario: &'s Scenario,
    rng: ChaCha8Rng,
    now: u64,
    queue: Queue<Event>,
    links: Links,
    nodes: Vec<Node>,
    keys: Vec<SigningKey>,
    set: ValidatorSet,
    blocks: HashMap<BlockHash, BlockInfo>,
    rec: Recorder,
    stats: Stats,
    stable_ms: u64,
    deadline: u64,
    /// Height every live honest node must commit: fixed when the world becomes stable, as
    /// the highest committed height then plus the scenario's `heights`.
    target: Option<u64>,
}

/// The deterministic key of simulated validator `i`.
pub fn validator_key(i: usize) -> SigningKey {
    let seed: [u8; 32] = Sha256::digest(format!("tally-sim-validator-{i}")).into();
    SigningKey::from_bytes(&seed)
}

impl<'s> World<'s> {
    /// Builds the world for `scenario` and `seed`: nodes, twin sides, crash schedule.
    pub fn new(scenario: &'s Scenario, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let keys: Vec<SigningKey> = (0..scenario.powers.len()).map(validator_key).collect();
        let set = ValidatorSet::new(
            keys.iter()
                .zip(&scenario.powers)
                .map(|(k, &power)| Validator { public_key: k.verifying_key().to_bytes(), power })
                .collect(),
        )
        .expect("valid set");
        let byzantine = |v: usize| scenario.byzantine.iter().find(|(b, _)| *b == v).map(|b| b.1);
        let has_twins = scenario.byzantine.iter().any(|b| b.1 == Byzantine::Twins);
        let mut nodes = Vec::new();
        let mut endpoints = Vec::new();
        for v in 0..scenario.powers.len() {
            let sides: Vec<(Side, bool, bool)> = match byzantine(v) {
                Some(Byzantine::Twins) => vec![(Side::A, false, false), (Side::B, false, false)],
                Some(Byzantine::Silent) => vec![(Side::Both, false, true)],
                None if has_twins => {
                    let side = *[Side::A, Side::A, Side::B, Side::B, Side::Both].choose(&mut rng).expect("non-empty");
                    vec![(side, true, false)]
                }
                None => vec![(Side::Both, true, false)],
            };
            for (side, honest, inert) in sides {
                endpoints.push(Endpoint { validator: v, honest, side });
                nodes.push(Node {
                    validator: v,
                    honest,
                    inert,
                    core: None,
                    inc: 0,
                    durable: None,
                    committed: BTreeMap::new(),
                    crash_pending: None,
                    builds: 0,
                });
            }
        }
        let stable_ms = scenario.stable_after_ms();
        let links = Links {
            faults: scenario.faults,
            partitions: scenario.partitions.clone(),
            twin_partition_until: if has_twins { scenario.faults.gst_ms } else { 0 },
            endpoints,
        };
        let mut world = World {
            scenario,
            rng,
            now: 0,
            queue: Queue::new(),
            links,
            nodes,
            keys,
            set,
            blocks: HashMap::new(),
            rec: Recorder::default(),
            stats: Stats::default(),
            stable_ms,
            deadline: stable_ms + scenario.budget_ms,
            target: None,
        };
        world.schedule_crashes();
        for node in 0..world.nodes.len() {
            if world.nodes[node].inert {
                continue;
            }
            let core = Consensus::new(world.config(node)).expect("valid config");
            world.nodes[node].core = Some(core);
            let at = world.rng.gen_range(0..20);
            world.queue.push(at, Event::Start { node, inc: 0, height: 1 });
            let at = world.rng.gen_range(0..GOSSIP_EVERY_MS);
            world.queue.push(at, Event::Gossip { node });
            let at = world.rng.gen_range(0..SYNC_EVERY_MS);
            world.queue.push(at, Event::Sync { node });
        }
        world
    }

    fn config(&self, node: usize) -> ConsensusConfig {
        let mut c =
            ConsensusConfig::new(CHAIN_ID, self.set.clone(), Some(self.keys[self.nodes[node].validator].clone()));
        c.timeouts = self.scenario.timeouts;
        c
    }

    fn honest_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].honest && !self.nodes[i].inert).collect()
    }

    fn schedule_crashes(&mut self) {
        let plan = self.scenario.crashes.clone();
        let mut honest = self.honest_nodes();
        honest.shuffle(&mut self.rng);
        for _ in 0..plan.down_forever {
            if let Some(node) = honest.pop() {
                self.nodes[node].inert = true;
            }
        }
        let window = self.scenario.faults.gst_ms.max(1_000);
        for _ in 0..plan.random_restarts {
            if let Some(node) = honest.pop() {
                let at = self.rng.gen_range(0..window);
                let restart_at = Some(at + plan.down_ms);
                self.queue.push(at, Event::Crash { node, restart_at });
            }
        }
        if let Some(at) = plan.all_at {
            for node in self.honest_nodes() {
                let restart_at = Some(at + plan.down_ms);
                self.queue.push(at, Event::Crash { node, restart_at });
            }
        }
    }

    /// Runs until every live honest node committed the target heights or the deadline.
    pub fn run(mut self) -> Outcome {
        let mut events = 0u64;
        while let Some((at, event)) = self.queue.pop() {
            if at > self.deadline || events > MAX_EVENTS {
                break;
            }
            events += 1;
            self.now = at;
            if self.target.is_none() && self.now >= self.stable_ms {
                let highest = self.honest_nodes().into_iter().map(|n| self.committed_height(n)).max().unwrap_or(0);
                self.target = Some(highest + self.scenario.heights);
            }
            self.dispatch(event);
            if self.all_committed() {
                break;
            }
        }
        self.finish()
    }

    fn alive(&self, node: usize, inc: u32) -> bool {
        let n = &self.nodes[node];
        n.core.is_some() && n.inc == inc
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Start { node, inc, height } => {
                if self.alive(node, inc) {
                    if self.nodes[node].honest {
                        self.rec.height_started.entry(height).or_insert(self.now);
                    }
                    self.feed(node, Input::StartHeight { height });
                }
            }
            Event::Deliver { from, to, bytes } => {
                let inc = self.nodes[to].inc;
                if self.alive(to, inc) && self.links.connected(from, to, self.now) {
                    self.stats.delivered += 1;
                    let msg = SignedMessage::decode(&bytes).expect("router carries valid bytes");
                    self.feed(to, Input::from(msg));
                }
            }
            Event::Input { node, inc, input } => {
                if self.alive(node, inc) {
                    self.feed(node, input);
                }
            }
            Event::Gossip { node } => {
                self.gossip(node);
                self.queue.push(self.now + GOSSIP_EVERY_MS, Event::Gossip { node });
            }
            Event::Sync { node } => {
                self.sync(node);
                self.queue.push(self.now + SYNC_EVERY_MS, Event::Sync { node });
            }
            Event::Crash { node, restart_at } => {
                if self.nodes[node].core.is_some() {
                    if self.rng.gen_bool(0.5) {
                        self.crash(node, restart_at);
                    } else {
                        // Crash in the middle of the node's next batch of outputs.
                        self.nodes[node].crash_pending = Some(restart_at);
                    }
                }
            }
            Event::Restart { node } => self.restart(node),
        }
    }

    /// Feeds one input to a node's core and carries out the outputs.
    fn feed(&mut self, node: usize, input: Input) {
        let Some(core) = self.nodes[node].core.as_mut() else {
            return;
        };
        let mut outputs = core.handle(input);
        let crash = self.nodes[node].crash_pending.take();
        if crash.is_some() {
            let keep = self.rng.gen_range(0..=outputs.len());
            outputs.truncate(keep);
        }
        self.carry_out(node, outputs);
        if let Some(restart_at) = crash {
            self.crash(node, restart_at);
        }
    }

    fn carry_out(&mut self, node: usize, outputs: Vec<Output>) {
        let inc = self.nodes[node].inc;
        for output in outputs {
            match output {
                Output::Persist(state) => self.nodes[node].durable = Some(state),
                Output::Broadcast(msg) => {
                    if self.nodes[node].honest {
                        self.rec.signed(self.nodes[node].validator, &msg);
                    }
                    self.broadcast(node, &msg);
                }
                Output::ScheduleTimeout { height, round, step, duration_ms } => {
                    let input = Input::Timeout { height, round, step };
                    self.queue.push(self.now + duration_ms, Event::Input { node, inc, input });
                }
                Output::RequestBlock { height, round } => self.build_block(node, height, round),
                Output::ValidateBlock { height, block_hash, .. } => {
                    let valid = self.blocks.get(&block_hash).is_some_and(|b| b.valid && b.height == height);
                    let input = Input::BlockVerdict { height, block_hash, valid };
                    let at = self.now + self.rng.gen_range(1..30);
                    self.queue.push(at, Event::Input { node, inc, input });
                }
                Output::Decided { height, round, block_hash, certificate } => {
                    self.decided(node, height, round, block_hash, certificate)
                }
                Output::Evidence(evidence) => {
                    self.stats.evidence += 1;
                    let culprit = self.set.index_of(evidence.validator());
                    if let Some(v) = culprit.filter(|&v| self.is_honest_validator(v)) {
                        self.rec.violations.push(Violation::EvidenceAgainstHonest { validator: v });
                    }
                }
                Output::Rejected(_) => {}
            }
        }
    }

    fn is_honest_validator(&self, v: usize) -> bool {
        !self.scenario.byzantine.iter().any(|(b, _)| *b == v)
    }

    fn broadcast(&mut self, from: usize, msg: &SignedMessage) {
        let bytes = msg.encode();
        for to in 0..self.nodes.len() {
            if to == from || !self.links.connected(from, to, self.now) {
                continue;
            }
            let copies = if self.links.duplicate(&mut self.rng) { 2 } else { 1 };
            for _ in 0..copies {
                if let Some(delay) = self.links.delay(&mut self.rng, self.now) {
                    let bytes = bytes.clone();
                    self.queue.push(self.now + delay, Event::Deliver { from, to, bytes });
                }
            }
        }
    }

    fn decided(&mut self, node: usize, height: u64, round: u32, hash: BlockHash, certificate: CommitCertificate) {
        let cert_ok = certificate.verify(CHAIN_ID, &self.set).is_ok()
            && certificate.block_hash == hash
            && certificate.height == height
            && certificate.round == round;
        if !cert_ok {
            self.rec.violations.push(Violation::BadCertificate { height });
        }
        self.commit(node, certificate, false);
    }

    fn committed_height(&self, node: usize) -> u64 {
        self.nodes[node].committed.keys().next_back().copied().unwrap_or(0)
    }

    fn all_committed(&self) -> bool {
        let Some(target) = self.target else {
            return false;
        };
        self.honest_nodes().into_iter().all(|n| self.committed_height(n) >= target)
    }

    fn finish(mut self) -> Outcome {
        self.rec.check_agreement();
        for (&height, ds) in &self.rec.decisions {
            for d in ds {
                let ok = self.blocks.get(&d.hash).is_some_and(|b| b.valid && b.height == height);
                if !ok {
                    self.rec.violations.push(Violation::InvalidDecision { height });
                }
                if let Some((from, until)) = self.scenario.no_decision_window {
                    if !d.synced && d.at_ms > from && d.at_ms < until {
                        self.rec.violations.push(Violation::DecidedDuringSplit { height, at_ms: d.at_ms });
                    }
                }
            }
        }
        if std::env::var_os("SIM_TRACE").is_some() {
            for (i, n) in self.nodes.iter().enumerate() {
                let core = n.core.as_ref().map(|c| (c.height(), c.round(), c.step(), c.is_decided()));
                eprintln!(
                    "node {i} validator {} honest {} side {:?} core {core:?} committed {:?} state {:?}",
                    n.validator,
                    n.honest,
                    self.links.endpoints[i].side,
                    n.committed.keys().collect::<Vec<_>>(),
                    n.core.as_ref().map(|c| {
                        let s = c.persisted_state();
                        (s.locked, s.valid, s.last_signed)
                    })
                );
            }
            eprintln!("now {}", self.now);
        }
        for node in self.honest_nodes() {
            let committed = self.committed_height(node);
            if self.target.is_none_or(|target| committed < target) {
                self.rec.violations.push(Violation::NoLiveness { validator: self.nodes[node].validator, committed });
            }
        }
        for (height, rounds, after_gst) in self.rec.rounds_per_height(self.stable_ms) {
            self.stats.rounds_all.push(rounds);
            if after_gst {
                self.stats.rounds_after_gst.push(rounds);
                if rounds > self.scenario.max_rounds_after_gst {
                    self.rec.violations.push(Violation::TooManyRounds { height, rounds });
                }
            }
        }
        self.stats.runs = 1;
        self.stats.heights = self.rec.decisions.len() as u64;
        self.stats.virtual_ms = self.now;
        self.rec.violations.dedup();
        Outcome { violations: self.rec.violations, stats: self.stats }
    }
}
