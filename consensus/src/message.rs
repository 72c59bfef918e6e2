//! Signed votes and proposals and their canonical encodings.
//!
//! All integers are little-endian; every layout is fixed:
//!
//! ```text
//! SignedVote     (142 bytes) = height u64 | round u32 | type u8 (2 prevote, 3 precommit)
//!                              | flag u8 (0 nil, 1 block) | block_hash 32 (zero when nil)
//!                              | validator 32 | signature 64
//! SignedProposal (144 bytes) = height u64 | round u32 | block_hash 32 | pol_round i32 (-1 none)
//!                              | proposer 32 | signature 64
//! SignedMessage              = tag u8 (1 proposal, 2 vote) | SignedProposal or SignedVote
//! ```
//!
//! Decoding rejects truncated input, trailing bytes, unknown tags and types, a flag other
//! than 0/1, a nil vote with a non-zero hash field, a round above [`MAX_ROUND`], and a
//! `pol_round` below -1 or not below the round. Signatures are not checked by decoding.

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::codec::Reader;
use crate::error::DecodeError;
use crate::signing::{self, TYPE_PRECOMMIT, TYPE_PREVOTE, TYPE_PROPOSAL};
use crate::{BlockHash, PublicKey, Signature, MAX_ROUND};

/// The two kinds of vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VoteKind {
    /// First voting step of a round.
    Prevote,
    /// Second voting step of a round; >2/3 of them for one block decide it.
    Precommit,
}

impl VoteKind {
    /// The type byte of the signing bytes: 2 for prevote, 3 for precommit.
    pub fn type_byte(self) -> u8 {
        match self {
            VoteKind::Prevote => TYPE_PREVOTE,
            VoteKind::Precommit => TYPE_PRECOMMIT,
        }
    }

    fn from_type_byte(kind: u8) -> Result<Self, DecodeError> {
        match kind {
            TYPE_PREVOTE => Ok(VoteKind::Prevote),
            TYPE_PRECOMMIT => Ok(VoteKind::Precommit),
            kind => Err(DecodeError::UnknownVoteKind { kind }),
        }
    }
}

/// A prevote or precommit signed by a validator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignedVote {
    /// Consensus height.
    pub height: u64,
    /// Round within the height.
    pub round: u32,
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// The block voted for; `None` is a vote for nil.
    pub block_hash: Option<BlockHash>,
    /// The signer's public key.
    pub validator: PublicKey,
    /// ed25519 signature over [`SignedVote::signing_bytes`].
    pub signature: Signature,
}

/// Encoded size of a [`SignedVote`].
pub const VOTE_LEN: usize = 8 + 4 + 1 + 1 + 32 + 32 + 64;
/// Encoded size of a [`SignedProposal`].
pub const PROPOSAL_LEN: usize = 8 + 4 + 32 + 4 + 32 + 64;

impl SignedVote {
    /// Signs a vote with `key`.
    pub fn sign(
        chain_id: &str,
        key: &SigningKey,
        height: u64,
        round: u32,
        kind: VoteKind,
        block_hash: Option<BlockHash>,
    ) -> Self {
        let mut vote = SignedVote {
            height,
            round,
            kind,
            block_hash,
            validator: key.verifying_key().to_bytes(),
            signature: [0; 64],
        };
        vote.signature = signing::sign(key, &vote.signing_bytes(chain_id));
        vote
    }

    /// The SPEC §4 bytes this vote is signed over.
    pub fn signing_bytes(&self, chain_id: &str) -> Vec<u8> {
        signing::vote_signing_bytes(chain_id, self.height, self.round, self.kind.type_byte(), self.block_hash.as_ref())
    }

    /// True iff the signature verifies (`verify_strict`) under `key`.
    pub fn verify(&self, chain_id: &str, key: &VerifyingKey) -> bool {
        signing::verify(key, &self.signing_bytes(chain_id), &self.signature)
    }

    /// The canonical encoding (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(VOTE_LEN);
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.round.to_le_bytes());
        out.push(self.kind.type_byte());
        out.push(u8::from(self.block_hash.is_some()));
        out.extend_from_slice(&self.block_hash.unwrap_or([0; 32]));
        out.extend_from_slice(&self.validator);
        out.extend_from_slice(&self.signature);
    }

    /// Decodes the canonical encoding, rejecting anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let vote = Self::read(&mut r)?;
        r.finish()?;
        Ok(vote)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let height = r.u64()?;
        let round = read_round(r)?;
        let kind = VoteKind::from_type_byte(r.u8()?)?;
        let flag = r.u8()?;
        let hash: BlockHash = r.array()?;
        let block_hash = match flag {
            0 if hash == [0; 32] => None,
            0 => return Err(DecodeError::NonCanonicalNil),
            1 => Some(hash),
            flag => return Err(DecodeError::InvalidFlag { flag }),
        };
        Ok(SignedVote { height, round, kind, block_hash, validator: r.array()?, signature: r.array()? })
    }
}

/// A block proposal signed by the proposer of its height and round.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignedProposal {
    /// Consensus height.
    pub height: u64,
    /// Round within the height.
    pub round: u32,
    /// The proposed block.
    pub block_hash: BlockHash,
    /// The proof-of-lock round: the round in which >2/3 prevoted this block (the proposer's
    /// validRound), or `None` (signed as -1) for a fresh block.
    pub pol_round: Option<u32>,
    /// The proposer's public key.
    pub proposer: PublicKey,
    /// ed25519 signature over [`SignedProposal::signing_bytes`].
    pub signature: Signature,
}

impl SignedProposal {
    /// Signs a proposal with `key`.
    pub fn sign(
        chain_id: &str,
        key: &SigningKey,
        height: u64,
        round: u32,
        block_hash: BlockHash,
        pol_round: Option<u32>,
    ) -> Self {
        let mut proposal = SignedProposal {
            height,
            round,
            block_hash,
            pol_round,
            proposer: key.verifying_key().to_bytes(),
            signature: [0; 64],
        };
        proposal.signature = signing::sign(key, &proposal.signing_bytes(chain_id));
        proposal
    }

    /// The SPEC §4 bytes this proposal is signed over.
    pub fn signing_bytes(&self, chain_id: &str) -> Vec<u8> {
        signing::proposal_signing_bytes(chain_id, self.height, self.round, &self.block_hash, self.pol_round)
    }

    /// True iff the signature verifies (`verify_strict`) under `key`.
    pub fn verify(&self, chain_id: &str, key: &VerifyingKey) -> bool {
        signing::verify(key, &self.signing_bytes(chain_id), &self.signature)
    }

    /// True when the round is at most [`MAX_ROUND`] and `pol_round` is below the round:
    /// what decoding guarantees and what the core checks of every proposal.
    pub fn is_well_formed(&self) -> bool {
        self.round <= MAX_ROUND && self.pol_round.is_none_or(|p| p < self.round)
    }

    /// The canonical encoding (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PROPOSAL_LEN);
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.round.to_le_bytes());
        out.extend_from_slice(&self.block_hash);
        out.extend_from_slice(&signing::pol_round_i32(self.pol_round).to_le_bytes());
        out.extend_from_slice(&self.proposer);
        out.extend_from_slice(&self.signature);
    }

    /// Decodes the canonical encoding, rejecting anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let proposal = Self::read(&mut r)?;
        r.finish()?;
        Ok(proposal)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let height = r.u64()?;
        let round = read_round(r)?;
        let block_hash = r.array()?;
        let raw = r.i32()?;
        let pol_round = match raw {
            -1 => None,
            p if p >= 0 && (p as u32) < round => Some(p as u32),
            p => return Err(DecodeError::InvalidPolRound { pol_round: i64::from(p), round }),
        };
        Ok(SignedProposal { height, round, block_hash, pol_round, proposer: r.array()?, signature: r.array()? })
    }
}

fn read_round(r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    match r.u32()? {
        round if round <= MAX_ROUND => Ok(round),
        round => Err(DecodeError::RoundOutOfRange { round }),
    }
}

/// Any signed consensus message, as gossiped on the consensus topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignedMessage {
    /// A block proposal.
    Proposal(SignedProposal),
    /// A prevote or precommit.
    Vote(SignedVote),
}

/// Tag byte of an encoded proposal.
const TAG_PROPOSAL: u8 = 1;
/// Tag byte of an encoded vote.
const TAG_VOTE: u8 = 2;

impl SignedMessage {
    /// The message's height.
    pub fn height(&self) -> u64 {
        match self {
            SignedMessage::Proposal(p) => p.height,
            SignedMessage::Vote(v) => v.height,
        }
    }

    /// The message's round.
    pub fn round(&self) -> u32 {
        match self {
            SignedMessage::Proposal(p) => p.round,
            SignedMessage::Vote(v) => v.round,
        }
    }

    /// The SPEC §4 type byte: 1 proposal, 2 prevote, 3 precommit.
    pub fn type_byte(&self) -> u8 {
        match self {
            SignedMessage::Proposal(_) => TYPE_PROPOSAL,
            SignedMessage::Vote(v) => v.kind.type_byte(),
        }
    }

    /// The signer's public key.
    pub fn signer(&self) -> &PublicKey {
        match self {
            SignedMessage::Proposal(p) => &p.proposer,
            SignedMessage::Vote(v) => &v.validator,
        }
    }

    /// The block hash carried (`None` for a nil vote).
    pub fn block_hash(&self) -> Option<&BlockHash> {
        match self {
            SignedMessage::Proposal(p) => Some(&p.block_hash),
            SignedMessage::Vote(v) => v.block_hash.as_ref(),
        }
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        match self {
            SignedMessage::Proposal(p) => &p.signature,
            SignedMessage::Vote(v) => &v.signature,
        }
    }

    /// The SPEC §4 bytes the message is signed over.
    pub fn signing_bytes(&self, chain_id: &str) -> Vec<u8> {
        match self {
            SignedMessage::Proposal(p) => p.signing_bytes(chain_id),
            SignedMessage::Vote(v) => v.signing_bytes(chain_id),
        }
    }

    /// True iff the signature verifies (`verify_strict`) under `key`.
    pub fn verify(&self, chain_id: &str, key: &VerifyingKey) -> bool {
        signing::verify(key, &self.signing_bytes(chain_id), self.signature())
    }

    /// The canonical encoding: a tag byte then the message's own encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + PROPOSAL_LEN);
        self.encode_into(&mut out);
        out
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            SignedMessage::Proposal(p) => {
                out.push(TAG_PROPOSAL);
                p.encode_into(out);
            }
            SignedMessage::Vote(v) => {
                out.push(TAG_VOTE);
                v.encode_into(out);
            }
        }
    }

    /// Decodes the canonical encoding, rejecting anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = Self::read(&mut r)?;
        r.finish()?;
        Ok(msg)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            TAG_PROPOSAL => Ok(SignedMessage::Proposal(SignedProposal::read(r)?)),
            TAG_VOTE => Ok(SignedMessage::Vote(SignedVote::read(r)?)),
            tag => Err(DecodeError::UnknownTag { tag }),
        }
    }
}

impl From<SignedVote> for SignedMessage {
    fn from(v: SignedVote) -> Self {
        SignedMessage::Vote(v)
    }
}

impl From<SignedProposal> for SignedMessage {
    fn from(p: SignedProposal) -> Self {
        SignedMessage::Proposal(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    #[test]
    fn vote_round_trips_and_verifies() {
        let k = key();
        for hash in [None, Some([9; 32])] {
            let v = SignedVote::sign("tally-test", &k, 3, 1, VoteKind::Precommit, hash);
            assert!(v.verify("tally-test", &k.verifying_key()));
            assert!(!v.verify("tally-other", &k.verifying_key()));
            let bytes = v.encode();
            assert_eq!(bytes.len(), VOTE_LEN);
            assert_eq!(SignedVote::decode(&bytes), Ok(v.clone()));
            let m = SignedMessage::Vote(v);
            assert_eq!(SignedMessage::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn proposal_round_trips_and_verifies() {
        let k = key();
        for pol in [None, Some(0), Some(3)] {
            let p = SignedProposal::sign("c", &k, 3, 4, [1; 32], pol);
            assert!(p.verify("c", &k.verifying_key()));
            let bytes = p.encode();
            assert_eq!(bytes.len(), PROPOSAL_LEN);
            assert_eq!(SignedProposal::decode(&bytes), Ok(p.clone()));
        }
    }

    #[test]
    fn rejects_malformed_encodings() {
        let k = key();
        let v = SignedVote::sign("c", &k, 3, 1, VoteKind::Prevote, None).encode();
        let mut long = v.clone();
        long.push(0);
        assert_eq!(SignedVote::decode(&long), Err(DecodeError::TrailingBytes { extra: 1 }));
        assert!(matches!(SignedVote::decode(&v[..100]), Err(DecodeError::Truncated { .. })));
        let mut bad_kind = v.clone();
        bad_kind[12] = 1;
        assert_eq!(SignedVote::decode(&bad_kind), Err(DecodeError::UnknownVoteKind { kind: 1 }));
        let mut non_canonical = v.clone();
        non_canonical[20] = 1;
        assert_eq!(SignedVote::decode(&non_canonical), Err(DecodeError::NonCanonicalNil));
        assert_eq!(SignedMessage::decode(&[9]), Err(DecodeError::UnknownTag { tag: 9 }));
        let mut big_round = v;
        big_round[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(SignedVote::decode(&big_round), Err(DecodeError::RoundOutOfRange { .. })));
        // pol_round must be below the round.
        let p = SignedProposal::sign("c", &k, 3, 2, [1; 32], Some(2)).encode();
        assert!(matches!(SignedProposal::decode(&p), Err(DecodeError::InvalidPolRound { .. })));
    }
}
