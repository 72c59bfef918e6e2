//! The consensus core: Algorithm 1 of "The latest gossip on BFT consensus" as a pure state
//! machine driven by [`Consensus::handle`].
//!
//! * `mod.rs` — the state, construction, restore, the input dispatch, `StartRound`.
//! * `receive.rs` — checks of incoming messages, duplicates, evidence, the future buffer.
//! * `rules.rs` — the `upon` rules and timeouts, each arm citing the paper's line numbers.
//! * `sign.rs` — signing behind the double-sign guard, persist-then-broadcast.

mod receive;
mod rules;
mod sign;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::config::ConsensusConfig;
use crate::error::ConfigError;
use crate::io::{Input, Output, TimeoutStep};
use crate::message::SignedMessage;
use crate::persist::{LastSigned, PersistedState, Step};
use crate::proposer::ProposerRotation;
use crate::votes::HeightMessages;
use crate::BlockHash;

/// The Tendermint state machine of one node.
///
/// Create it with [`Consensus::new`] (fresh) or [`Consensus::restore`] (after a crash), then
/// feed [`Input`]s to [`Consensus::handle`] and carry out the returned [`Output`]s in order.
/// Nothing happens before the first [`Input::StartHeight`] except buffering of messages for
/// the first heights.
#[derive(Debug)]
pub struct Consensus {
    config: ConsensusConfig,
    /// This node's index in the validator set, when it has a key in the set.
    me: Option<usize>,
    rotation: ProposerRotation,
    started: bool,
    /// `h_p`.
    height: u64,
    /// `round_p`.
    round: u32,
    /// `step_p`.
    step: Step,
    /// `decision_p[h_p] != nil`.
    decided: bool,
    /// `(lockedRound_p, lockedValue_p)`.
    locked: Option<(u32, BlockHash)>,
    /// `(validRound_p, validValue_p)`.
    valid: Option<(u32, BlockHash)>,
    messages: HeightMessages,
    /// `valid(v)` as answered by the node, per block of this height.
    verdicts: HashMap<BlockHash, bool>,
    /// Blocks for which a `ValidateBlock` is outstanding.
    validating: HashSet<BlockHash>,
    /// Round for which `RequestBlock` is outstanding.
    block_requested: Option<u32>,
    /// "for the first time" guards of the current round: lines 34, 36 and 47.
    prevote_timeout_scheduled: bool,
    line36_done: bool,
    precommit_timeout_scheduled: bool,
    /// Evidence already emitted, per (validator, round, type byte), for this height.
    evidence_sent: HashSet<(usize, u32, u8)>,
    last_signed: Option<LastSigned>,
    /// This height's signed messages.
    signed_messages: Vec<SignedMessage>,
    /// Verified messages for later heights, with the sender's index.
    future: BTreeMap<u64, Vec<(usize, SignedMessage)>>,
    /// Buffered future messages per validator index.
    future_counts: Vec<usize>,
}

impl Consensus {
    /// A fresh core. It does nothing until [`Input::StartHeight`].
    pub fn new(config: ConsensusConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let me = config.signing_key.as_ref().and_then(|k| config.validators.index_of(&k.verifying_key().to_bytes()));
        let n = config.validators.len();
        Ok(Consensus {
            rotation: ProposerRotation::new(&config.validators),
            config,
            me,
            started: false,
            height: 0,
            round: 0,
            step: Step::Propose,
            decided: false,
            locked: None,
            valid: None,
            messages: HeightMessages::default(),
            verdicts: HashMap::new(),
            validating: HashSet::new(),
            block_requested: None,
            prevote_timeout_scheduled: false,
            line36_done: false,
            precommit_timeout_scheduled: false,
            evidence_sent: HashSet::new(),
            last_signed: None,
            signed_messages: Vec::new(),
            future: BTreeMap::new(),
            future_counts: vec![0; n],
        })
    }

    /// Resumes from the last durable [`PersistedState`] after a crash.
    ///
    /// Returns the core and the outputs to carry out: the stored signed messages are
    /// re-broadcast unchanged (first), then the timeout of the current step is scheduled, and
    /// a proposer that had not yet proposed in the current round proposes. Nothing at or
    /// below `last_signed` (or any stored message's position) is ever signed again, so the
    /// restored node cannot sign anything conflicting with what it may already have sent.
    /// The node then calls [`Input::StartHeight`] if it committed `state.height` before the
    /// crash.
    pub fn restore(config: ConsensusConfig, state: PersistedState) -> Result<(Self, Vec<Output>), ConfigError> {
        let mut c = Consensus::new(config)?;
        let mut out = Vec::new();
        c.started = true;
        c.height = state.height;
        c.round = state.round.min(crate::MAX_ROUND);
        c.step = state.step;
        c.locked = state.locked;
        c.valid = state.valid;
        c.last_signed = state.last_signed;
        for msg in &state.signed_messages {
            let pos = sign::position(msg);
            if c.last_signed.is_none_or(|last| pos > last) {
                c.last_signed = Some(pos);
            }
            out.push(Output::Broadcast(msg.clone()));
        }
        for msg in state.signed_messages {
            if msg.height() == c.height {
                c.deliver_own(msg.clone(), &mut out);
                c.signed_messages.push(msg);
            }
        }
        let timeout = match c.step {
            Step::Propose => TimeoutStep::Propose,
            Step::Prevote => {
                c.prevote_timeout_scheduled = true;
                TimeoutStep::Prevote
            }
            Step::Precommit => {
                c.prevote_timeout_scheduled = true;
                c.precommit_timeout_scheduled = true;
                TimeoutStep::Precommit
            }
        };
        c.schedule(timeout, &mut out);
        if c.step == Step::Propose {
            c.propose_if_proposer(&mut out);
        }
        c.request_validation_of_current_proposal(&mut out);
        c.apply_rules(&mut out);
        Ok((c, out))
    }

    /// Handles one input and returns the outputs to carry out, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::StartHeight { height } => self.start_height(height, &mut out),
            Input::Proposal(p) => self.receive(SignedMessage::Proposal(p), &mut out),
            Input::Vote(v) => self.receive(SignedMessage::Vote(v), &mut out),
            Input::Timeout { height, round, step } => self.on_timeout(height, round, step, &mut out),
            Input::BlockVerdict { height, block_hash, valid } => {
                if self.started && height == self.height {
                    self.validating.remove(&block_hash);
                    self.verdicts.insert(block_hash, valid);
                }
            }
            Input::ProposeBlock { height, round, block_hash } => {
                self.on_block_built(height, round, block_hash, &mut out)
            }
        }
        self.apply_rules(&mut out);
        out
    }

    /// The height in progress (0 before the first `StartHeight`).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The round in progress.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The step in progress.
    pub fn step(&self) -> Step {
        self.step
    }

    /// True once the current height is decided (until the next `StartHeight`).
    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// The state that [`Output::Persist`] carries, as of now.
    pub fn persisted_state(&self) -> PersistedState {
        PersistedState {
            height: self.height,
            round: self.round,
            step: self.step,
            locked: self.locked,
            valid: self.valid,
            last_signed: self.last_signed,
            signed_messages: self.signed_messages.clone(),
        }
    }

    /// Every verified message held for the current height (proposals and votes of every
    /// round, this node's own included), for the node's gossip: send them to peers that may
    /// lack them, so that whatever one correct node received, every correct node eventually
    /// receives (the paper's gossip assumption, which liveness needs).
    pub fn gossip_messages(&self) -> Vec<SignedMessage> {
        if !self.started {
            return Vec::new();
        }
        self.messages.all_messages()
    }

    /// The configuration.
    pub fn config(&self) -> &ConsensusConfig {
        &self.config
    }

    /// Moves to `height` (ignored unless above the current height; height 0 is not a
    /// consensus height): resets the per-height
    /// state, runs `StartRound(0)` and replays buffered messages of the height.
    fn start_height(&mut self, height: u64, out: &mut Vec<Output>) {
        if height == 0 || (self.started && height <= self.height) {
            return;
        }
        self.started = true;
        self.height = height;
        self.decided = false;
        self.locked = None;
        self.valid = None;
        self.messages = HeightMessages::default();
        self.verdicts.clear();
        self.validating.clear();
        self.evidence_sent.clear();
        self.signed_messages.clear();
        self.start_round(0, out);
        self.replay_buffered(out);
    }

    /// `StartRound(round)`, lines 11–21: enter the propose step; the proposer proposes its
    /// validValue or asks the node for a new block; everybody schedules `timeoutPropose`
    /// (the proposer too, so that a node that never answers `RequestBlock` cannot stall it).
    fn start_round(&mut self, round: u32, out: &mut Vec<Output>) {
        self.round = round;
        self.step = Step::Propose;
        self.prevote_timeout_scheduled = false;
        self.line36_done = false;
        self.precommit_timeout_scheduled = false;
        self.block_requested = None;
        // A negative verdict holds for the round it was given in.
        self.verdicts.retain(|_, valid| *valid);
        self.propose_if_proposer(out);
        self.schedule(TimeoutStep::Propose, out);
        self.request_validation_of_current_proposal(out);
    }

    /// Lines 14–19: if this node proposes in the current round and has not signed a proposal
    /// for it, propose validValue (with its validRound) or request a fresh block.
    fn propose_if_proposer(&mut self, out: &mut Vec<Output>) {
        if self.me.is_none() || Some(self.proposer_index(self.round)) != self.me {
            return;
        }
        let pos = LastSigned { height: self.height, round: self.round, step: Step::Propose };
        if !self.may_sign(pos) {
            return;
        }
        match self.valid {
            Some((valid_round, value)) => {
                self.sign_proposal(value, Some(valid_round), out);
            }
            None => {
                self.block_requested = Some(self.round);
                out.push(Output::RequestBlock { height: self.height, round: self.round });
            }
        }
    }

    /// The answer to `RequestBlock`: line 18's `getValue()` returned; propose it (line 19).
    fn on_block_built(&mut self, height: u64, round: u32, hash: BlockHash, out: &mut Vec<Output>) {
        if !self.started
            || self.decided
            || height != self.height
            || round != self.round
            || self.step != Step::Propose
            || self.block_requested != Some(round)
        {
            return;
        }
        self.block_requested = None;
        self.sign_proposal(hash, None, out);
    }

    /// The proposer of `round` at the current height.
    fn proposer_index(&mut self, round: u32) -> usize {
        self.rotation.proposer(self.height, round)
    }

    fn schedule(&self, step: TimeoutStep, out: &mut Vec<Output>) {
        out.push(Output::ScheduleTimeout {
            height: self.height,
            round: self.round,
            step,
            duration_ms: self.config.timeouts.duration_ms(step, self.round),
        });
    }

    /// Asks the node to validate the current round's proposal, unless a verdict is known or
    /// pending.
    fn request_validation_of_current_proposal(&mut self, out: &mut Vec<Output>) {
        let Some(hash) = self.messages.round(self.round).and_then(|r| r.proposal.as_ref()).map(|p| p.block_hash) else {
            return;
        };
        if self.verdicts.contains_key(&hash) || !self.validating.insert(hash) {
            return;
        }
        out.push(Output::ValidateBlock { height: self.height, round: self.round, block_hash: hash });
    }
}
