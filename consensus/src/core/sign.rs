//! Signing behind the double-sign guard. Every signature goes through [`Consensus::release`]:
//! the guard, then `Persist` (durable before release), then `Broadcast`, then the message is
//! counted locally.

use super::Consensus;
use crate::io::Output;
use crate::message::{SignedMessage, SignedProposal, SignedVote, VoteKind};
use crate::persist::{LastSigned, Step};
use crate::signing::{TYPE_PREVOTE, TYPE_PROPOSAL};
use crate::BlockHash;

/// The signing position `(height, round, step)` of a message.
pub(super) fn position(msg: &SignedMessage) -> LastSigned {
    let step = match msg.type_byte() {
        TYPE_PROPOSAL => Step::Propose,
        TYPE_PREVOTE => Step::Prevote,
        _ => Step::Precommit,
    };
    LastSigned { height: msg.height(), round: msg.round(), step }
}

impl Consensus {
    /// The double-sign guard, keyed on `(height, round, type)`: a position may be signed
    /// only if it is strictly after the last signed one and nothing was signed there. Within
    /// Algorithm 1 signing positions only move forward, so this never blocks an honest step;
    /// after a restore it blocks anything that could conflict with a message sent before the
    /// crash.
    pub(super) fn may_sign(&self, pos: LastSigned) -> bool {
        self.last_signed.is_none_or(|last| pos > last) && !self.signed_messages.iter().any(|m| position(m) == pos)
    }

    /// Lines 16–19: sign and release a proposal for the current round.
    pub(super) fn sign_proposal(&mut self, block_hash: BlockHash, pol_round: Option<u32>, out: &mut Vec<Output>) {
        let Some(key) = self.config.signing_key.as_ref().filter(|_| self.me.is_some()) else {
            return;
        };
        let pos = LastSigned { height: self.height, round: self.round, step: Step::Propose };
        if !self.may_sign(pos) {
            return;
        }
        let p = SignedProposal::sign(&self.config.chain_id, key, self.height, self.round, block_hash, pol_round);
        self.release(SignedMessage::Proposal(p), out);
    }

    /// Signs and releases a vote of the current round. The caller has already moved `step`
    /// (and the lock) so that the persisted state reflects the vote.
    pub(super) fn sign_vote(&mut self, kind: VoteKind, block_hash: Option<BlockHash>, out: &mut Vec<Output>) {
        let Some(key) = self.config.signing_key.as_ref().filter(|_| self.me.is_some()) else {
            return;
        };
        let pos = LastSigned {
            height: self.height,
            round: self.round,
            step: match kind {
                VoteKind::Prevote => Step::Prevote,
                VoteKind::Precommit => Step::Precommit,
            },
        };
        if !self.may_sign(pos) {
            return;
        }
        let v = SignedVote::sign(&self.config.chain_id, key, self.height, self.round, kind, block_hash);
        self.release(SignedMessage::Vote(v), out);
    }

    /// Records the signature, emits `Persist` then `Broadcast`, and counts the message.
    fn release(&mut self, msg: SignedMessage, out: &mut Vec<Output>) {
        self.last_signed = Some(position(&msg));
        self.signed_messages.push(msg.clone());
        out.push(Output::Persist(self.persisted_state()));
        out.push(Output::Broadcast(msg.clone()));
        self.deliver_own(msg, out);
    }
}
