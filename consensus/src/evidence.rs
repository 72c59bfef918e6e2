//! Evidence of equivocation: one validator signed two different messages for the same
//! height, round and type. Both signed messages are carried, so anyone can check the proof.

use crate::message::{SignedMessage, SignedProposal, SignedVote};
use crate::PublicKey;

/// Proof that a validator equivocated. Both messages carry valid signatures (checked before
/// the evidence is emitted) and share height, round, type and signer, but differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Evidence {
    /// Two different votes of one type for the same height and round.
    DuplicateVote {
        /// The vote received first.
        first: SignedVote,
        /// The conflicting vote.
        second: SignedVote,
    },
    /// Two different proposals for the same height and round.
    DuplicateProposal {
        /// The proposal received first.
        first: SignedProposal,
        /// The conflicting proposal.
        second: SignedProposal,
    },
}

impl Evidence {
    /// Builds evidence from two messages, or `None` when they do not conflict: different
    /// signer, height, round or type, or the same content (two signatures of one vote are
    /// not equivocation).
    pub fn from_pair(first: &SignedMessage, second: &SignedMessage) -> Option<Evidence> {
        if first.signer() != second.signer()
            || first.height() != second.height()
            || first.round() != second.round()
            || first.type_byte() != second.type_byte()
        {
            return None;
        }
        match (first, second) {
            (SignedMessage::Vote(a), SignedMessage::Vote(b)) if a.block_hash == b.block_hash => None,
            (SignedMessage::Proposal(a), SignedMessage::Proposal(b))
                if (a.block_hash, a.pol_round) == (b.block_hash, b.pol_round) =>
            {
                None
            }
            (SignedMessage::Vote(a), SignedMessage::Vote(b)) => {
                Some(Evidence::DuplicateVote { first: a.clone(), second: b.clone() })
            }
            (SignedMessage::Proposal(a), SignedMessage::Proposal(b)) => {
                Some(Evidence::DuplicateProposal { first: a.clone(), second: b.clone() })
            }
            _ => None,
        }
    }

    /// The equivocating validator.
    pub fn validator(&self) -> &PublicKey {
        match self {
            Evidence::DuplicateVote { first, .. } => &first.validator,
            Evidence::DuplicateProposal { first, .. } => &first.proposer,
        }
    }

    /// The height of both messages.
    pub fn height(&self) -> u64 {
        match self {
            Evidence::DuplicateVote { first, .. } => first.height,
            Evidence::DuplicateProposal { first, .. } => first.height,
        }
    }

    /// The round of both messages.
    pub fn round(&self) -> u32 {
        match self {
            Evidence::DuplicateVote { first, .. } => first.round,
            Evidence::DuplicateProposal { first, .. } => first.round,
        }
    }

    /// The SPEC §4 type byte of both messages (1 proposal, 2 prevote, 3 precommit).
    pub fn type_byte(&self) -> u8 {
        match self {
            Evidence::DuplicateVote { first, .. } => first.kind.type_byte(),
            Evidence::DuplicateProposal { .. } => crate::signing::TYPE_PROPOSAL,
        }
    }

    /// The two signed messages, first then second.
    pub fn messages(&self) -> (SignedMessage, SignedMessage) {
        match self {
            Evidence::DuplicateVote { first, second } => {
                (SignedMessage::Vote(first.clone()), SignedMessage::Vote(second.clone()))
            }
            Evidence::DuplicateProposal { first, second } => {
                (SignedMessage::Proposal(first.clone()), SignedMessage::Proposal(second.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::VoteKind;
    use ed25519_dalek::SigningKey;

    #[test]
    fn only_conflicting_pairs_are_evidence() {
        let k = SigningKey::from_bytes(&[1; 32]);
        let a: SignedMessage = SignedVote::sign("c", &k, 1, 0, VoteKind::Prevote, None).into();
        let b: SignedMessage = SignedVote::sign("c", &k, 1, 0, VoteKind::Prevote, Some([1; 32])).into();
        let c: SignedMessage = SignedVote::sign("c", &k, 1, 0, VoteKind::Precommit, Some([1; 32])).into();
        assert!(Evidence::from_pair(&a, &a).is_none());
        assert!(Evidence::from_pair(&b, &c).is_none());
        let e = Evidence::from_pair(&a, &b).unwrap();
        assert_eq!(e.validator(), a.signer());
        assert_eq!((e.height(), e.round(), e.type_byte()), (1, 0, 2));
        assert_eq!(e.messages(), (a, b));
    }
}
