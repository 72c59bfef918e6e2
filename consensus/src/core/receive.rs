//! Checks of every incoming message, before it can count: known validator, well-formed
//! round, height window, duplicate, `verify_strict` signature, the proposer of its round,
//! buffer bounds; then storage, with evidence on equivocation.

use super::Consensus;
use crate::error::Rejection;
use crate::evidence::Evidence;
use crate::io::Output;
use crate::message::SignedMessage;
use crate::votes::Added;
use crate::MAX_ROUND;

impl Consensus {
    /// An incoming message from the network.
    pub(super) fn receive(&mut self, msg: SignedMessage, out: &mut Vec<Output>) {
        let signer = *msg.signer();
        let Some(index) = self.config.validators.index_of(&signer) else {
            out.push(Output::Rejected(Rejection::UnknownValidator { validator: signer }));
            return;
        };
        let well_formed = match &msg {
            SignedMessage::Proposal(p) => p.is_well_formed(),
            SignedMessage::Vote(v) => v.round <= MAX_ROUND,
        };
        if !well_formed {
            out.push(Output::Rejected(Rejection::MalformedRound { validator: signer }));
            return;
        }
        let (height, current) = (msg.height(), self.height);
        if height < current || height == 0 || (height == current && !self.started) {
            out.push(Output::Rejected(Rejection::Stale { height, current }));
            return;
        }
        if height - current > self.config.future_height_buffer {
            out.push(Output::Rejected(Rejection::TooFarAhead { height, current }));
            return;
        }
        if height > current || !self.started {
            self.buffer_future(index, msg, out);
            return;
        }
        if self.decided || self.is_duplicate(index, &msg) {
            return;
        }
        if let Some(rejection) = self.check_signature_and_proposer(index, &msg) {
            out.push(Output::Rejected(rejection));
            return;
        }
        let round = msg.round();
        if round > self.round
            && !self.messages.round(round).is_some_and(|r| r.has_sender(index))
            && self.messages.future_rounds_of(index, self.round) >= self.config.future_rounds_per_validator
        {
            out.push(Output::Rejected(Rejection::BufferFull { validator: signer }));
            return;
        }
        self.store(index, msg, out);
    }

    /// True when this exact message is already held for the current height.
    fn is_duplicate(&self, index: usize, msg: &SignedMessage) -> bool {
        match msg {
            SignedMessage::Proposal(p) => self.messages.contains_proposal(p),
            SignedMessage::Vote(v) => self.messages.contains_vote(index, v),
        }
    }

    /// `verify_strict` of the signature, then (proposals) that the signer proposes in the
    /// message's height and round.
    fn check_signature_and_proposer(&mut self, index: usize, msg: &SignedMessage) -> Option<Rejection> {
        let validator = *msg.signer();
        let verified =
            self.config.validators.verifying_key(index).is_some_and(|key| msg.verify(&self.config.chain_id, key));
        if !verified {
            return Some(Rejection::InvalidSignature { validator });
        }
        if let SignedMessage::Proposal(p) = msg {
            let proposer = if p.height == self.height {
                self.rotation.proposer(p.height, p.round)
            } else {
                // Another height: query a copy so the cached anchor stays at this height.
                self.rotation.clone().proposer(p.height, p.round)
            };
            if proposer != index {
                return Some(Rejection::WrongProposer { validator, height: p.height, round: p.round });
            }
        }
        None
    }

    /// Stores a checked message of the current height; emits evidence on a conflict and asks
    /// for validation of a proposal of the current round.
    pub(super) fn store(&mut self, index: usize, msg: SignedMessage, out: &mut Vec<Output>) {
        let set = &self.config.validators;
        let conflict = match &msg {
            SignedMessage::Proposal(p) => match self.messages.add_proposal(set, index, p.clone()) {
                Added::Conflict(existing) => Some(SignedMessage::Proposal(existing)),
                Added::New | Added::Duplicate => None,
            },
            SignedMessage::Vote(v) => match self.messages.add_vote(set, index, v.clone()) {
                Added::Conflict(existing) => Some(SignedMessage::Vote(existing)),
                Added::New | Added::Duplicate => None,
            },
        };
        if let Some(first) = conflict {
            let key = (index, msg.round(), msg.type_byte());
            if self.evidence_sent.insert(key) {
                if let Some(evidence) = Evidence::from_pair(&first, &msg) {
                    out.push(Output::Evidence(evidence));
                }
            }
            // An equivocating vote for a proposed block also counts for that block (see
            // `VoteSet`); the bound is one per validator, round, type and proposed block.
            if let SignedMessage::Vote(v) = msg {
                if v.block_hash.is_some_and(|h| self.messages.is_proposed(&h)) {
                    self.messages.add_equivocation(set, index, v);
                }
            }
            return;
        }
        if matches!(msg, SignedMessage::Proposal(_)) && msg.round() == self.round {
            self.request_validation_of_current_proposal(out);
        }
    }

    /// Our own freshly signed (or restored) message: counted like any other, and our own
    /// proposal's block is valid by construction.
    pub(super) fn deliver_own(&mut self, msg: SignedMessage, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        if let SignedMessage::Proposal(p) = &msg {
            self.verdicts.insert(p.block_hash, true);
        }
        self.store(me, msg, out);
    }

    /// A message for a later height: verified now, kept within the per-validator bound,
    /// replayed by `StartHeight`.
    fn buffer_future(&mut self, index: usize, msg: SignedMessage, out: &mut Vec<Output>) {
        let height = msg.height();
        if self.future.get(&height).is_some_and(|msgs| msgs.iter().any(|(_, m)| *m == msg)) {
            return;
        }
        if let Some(rejection) = self.check_signature_and_proposer(index, &msg) {
            out.push(Output::Rejected(rejection));
            return;
        }
        let Some(count) = self.future_counts.get_mut(index) else {
            return;
        };
        if *count >= self.config.future_messages_per_validator {
            out.push(Output::Rejected(Rejection::BufferFull { validator: *msg.signer() }));
            return;
        }
        *count += 1;
        self.future.entry(height).or_default().push((index, msg));
    }

    /// Drops buffered messages below the current height and stores those at it.
    pub(super) fn replay_buffered(&mut self, out: &mut Vec<Output>) {
        let later = self.future.split_off(&(self.height + 1));
        let ready = std::mem::replace(&mut self.future, later);
        for (height, msgs) in ready {
            for (index, msg) in msgs {
                if let Some(count) = self.future_counts.get_mut(index) {
                    *count = count.saturating_sub(1);
                }
                if height == self.height && !self.is_duplicate(index, &msg) {
                    self.store(index, msg, out);
                }
            }
        }
    }
}
