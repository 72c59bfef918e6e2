//! What goes into the core and what comes out of it.
//!
//! The node calls [`crate::Consensus::handle`] with one [`Input`] at a time and carries out
//! the returned [`Output`]s **in order**. The one ordering rule that safety depends on:
//! a [`Output::Persist`] must be durable before any [`Output::Broadcast`] that follows it.

use crate::certificate::CommitCertificate;
use crate::error::Rejection;
use crate::evidence::Evidence;
use crate::message::{SignedMessage, SignedProposal, SignedVote};
use crate::persist::PersistedState;
use crate::BlockHash;

/// The three timeouts of Algorithm 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeoutStep {
    /// `timeoutPropose`: no (valid) proposal in time; prevote nil (line 57).
    Propose,
    /// `timeoutPrevote`: >2/3 prevotes but no quorum for one value; precommit nil (line 61).
    Prevote,
    /// `timeoutPrecommit`: >2/3 precommits but no decision; go to the next round (line 65).
    Precommit,
}

/// An event the node feeds into the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Start (or jump to) `height`. The node calls it once with the first height to decide
    /// (1 on a fresh chain, or the committed height + 1), then after committing each decided
    /// block (or a block obtained by sync) with the next height. Heights at or below the
    /// current one are ignored. Buffered messages for `height` are replayed.
    StartHeight {
        /// The height to start.
        height: u64,
    },
    /// A proposal received from the network (decoded; the core checks it).
    Proposal(SignedProposal),
    /// A vote received from the network (decoded; the core checks it).
    Vote(SignedVote),
    /// A timer set by [`Output::ScheduleTimeout`] fired. Stale timeouts are ignored.
    Timeout {
        /// Height of the timer.
        height: u64,
        /// Round of the timer.
        round: u32,
        /// Which timeout.
        step: TimeoutStep,
    },
    /// The answer to [`Output::ValidateBlock`]: whether the block with this hash is valid
    /// (executes correctly and its time is at most 5 s ahead of the node's clock). A block
    /// the node could not fetch before giving up is answered `valid: false`. A positive
    /// verdict holds for the whole height; a negative one for the current round only (the
    /// core asks again if the block is proposed in a later round).
    BlockVerdict {
        /// Height of the block.
        height: u64,
        /// The block's hash.
        block_hash: BlockHash,
        /// True when valid.
        valid: bool,
    },
    /// The answer to [`Output::RequestBlock`]: the node built a block with this hash (and
    /// keeps its bytes to serve them). The core signs and broadcasts the proposal if it is
    /// still in the propose step of that round.
    ProposeBlock {
        /// Height requested.
        height: u64,
        /// Round requested.
        round: u32,
        /// Hash of the built block.
        block_hash: BlockHash,
    },
}

impl From<SignedMessage> for Input {
    fn from(msg: SignedMessage) -> Self {
        match msg {
            SignedMessage::Proposal(p) => Input::Proposal(p),
            SignedMessage::Vote(v) => Input::Vote(v),
        }
    }
}

/// An effect the core asks the node to carry out. Outputs are returned in the order they
/// must be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Make this state durable (write a temporary file, fsync, rename over the previous
    /// state, fsync the directory) **before** carrying out any following `Broadcast`; also
    /// append the newly signed message to the audit trail. After a crash the node passes the
    /// last durable state to [`crate::Consensus::restore`]. Emitted before every signature
    /// is released.
    Persist(PersistedState),
    /// Gossip this signed message to the peers (on the consensus topic). The core has
    /// already processed its own message; the node does not feed it back.
    Broadcast(SignedMessage),
    /// Start a timer; when it fires, feed back [`Input::Timeout`] with the same fields.
    ScheduleTimeout {
        /// Height of the timer.
        height: u64,
        /// Round of the timer.
        round: u32,
        /// Which timeout.
        step: TimeoutStep,
        /// Delay in milliseconds.
        duration_ms: u64,
    },
    /// This node proposes in `(height, round)` and holds no valid value: build a block
    /// (mempool transfers, header with this node as proposer) and answer
    /// [`Input::ProposeBlock`].
    RequestBlock {
        /// Height of the block to build.
        height: u64,
        /// Round it will be proposed in.
        round: u32,
    },
    /// A proposal names this block: obtain its bytes (they travel with the proposal or are
    /// fetched), execute it against the state at `height - 1`, check that its time is at
    /// most 5 s ahead of the local clock, and answer [`Input::BlockVerdict`]. Asked once per
    /// block per height (again in a later round after a negative verdict).
    ValidateBlock {
        /// Height of the block.
        height: u64,
        /// Round of the proposal.
        round: u32,
        /// The block's hash.
        block_hash: BlockHash,
    },
    /// `block_hash` is final at `height`: >2/3 of the power precommitted it in `round`.
    /// Commit the block with its certificate durably, then feed [`Input::StartHeight`] with
    /// `height + 1` (after the empty-block interval if the node wants one). The core may
    /// decide without having seen the proposal or a verdict (the quorum includes honest
    /// validators that validated it); the node then fetches the block by sync.
    Decided {
        /// The decided height.
        height: u64,
        /// The deciding round.
        round: u32,
        /// The decided block.
        block_hash: BlockHash,
        /// The proof, verifiable by anyone with [`CommitCertificate::verify`].
        certificate: CommitCertificate,
    },
    /// A validator equivocated; store and expose the evidence (RPC `getEvidence`).
    Evidence(Evidence),
    /// The input message was refused; see [`Rejection::is_misbehaviour`] to decide whether
    /// to penalise the peer that relayed it. Exact duplicates produce no output.
    Rejected(Rejection),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::VoteKind;

    #[test]
    fn messages_become_inputs() {
        let v = SignedVote {
            height: 1,
            round: 0,
            kind: VoteKind::Prevote,
            block_hash: None,
            validator: [0; 32],
            signature: [0; 64],
        };
        assert_eq!(Input::from(SignedMessage::Vote(v.clone())), Input::Vote(v));
    }
}
