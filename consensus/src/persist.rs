//! The crash-safe part of the core's state, and its encoding.

use crate::codec::{read_round_hash, write_round_hash, Reader};
use crate::error::DecodeError;
use crate::message::SignedMessage;
use crate::BlockHash;

/// The step of a round in Algorithm 1 (also names what was signed last: a proposal is signed
/// in `Propose`, a prevote in `Prevote`, a precommit in `Precommit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Waiting for the round's proposal.
    Propose,
    /// Prevoted; waiting for prevotes.
    Prevote,
    /// Precommitted; waiting for precommits.
    Precommit,
}

impl Step {
    fn to_byte(self) -> u8 {
        match self {
            Step::Propose => 1,
            Step::Prevote => 2,
            Step::Precommit => 3,
        }
    }

    fn from_byte(step: u8) -> Result<Self, DecodeError> {
        match step {
            1 => Ok(Step::Propose),
            2 => Ok(Step::Prevote),
            3 => Ok(Step::Precommit),
            step => Err(DecodeError::UnknownStep { step }),
        }
    }
}

/// The position of the last message this validator signed. Signing positions only move
/// forward (height, then round, then step), which is what the double-sign guard enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LastSigned {
    /// Height of the last signed message.
    pub height: u64,
    /// Round of the last signed message.
    pub round: u32,
    /// Step of the last signed message (proposal = `Propose`).
    pub step: Step,
}

/// What the node must make durable before releasing a signature (SPEC §4 crash safety), and
/// what [`crate::Consensus::restore`] resumes from.
///
/// Encoding (little-endian): `version u8 (1) | height u64 | round u32 | step u8 (1..=3)
/// | locked | valid | last_signed | count u32 | count × SignedMessage`, where `locked` and
/// `valid` are `flag u8 (0/1) [| round u32 | hash 32]`, `last_signed` is
/// `flag u8 [| height u64 | round u32 | step u8]`, and each message is its canonical
/// [`SignedMessage`] encoding (self-delimiting: the tag fixes the length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedState {
    /// The height in progress.
    pub height: u64,
    /// The round in progress.
    pub round: u32,
    /// The step in progress.
    pub step: Step,
    /// `(lockedRound, lockedValue)`, if locked.
    pub locked: Option<(u32, BlockHash)>,
    /// `(validRound, validValue)`, if any.
    pub valid: Option<(u32, BlockHash)>,
    /// The last signed position; nothing at or below it is ever signed again.
    pub last_signed: Option<LastSigned>,
    /// Every message this validator signed at `height`, in signing order; restore
    /// re-broadcasts them unchanged.
    pub signed_messages: Vec<SignedMessage>,
}

const VERSION: u8 = 1;
/// The smallest encoded message (a tag plus a vote).
const MIN_MESSAGE_LEN: u64 = 1 + crate::message::VOTE_LEN as u64;

impl PersistedState {
    /// The encoding documented on the type.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 145 * self.signed_messages.len());
        out.push(VERSION);
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.round.to_le_bytes());
        out.push(self.step.to_byte());
        write_round_hash(&mut out, &self.locked);
        write_round_hash(&mut out, &self.valid);
        match &self.last_signed {
            None => out.push(0),
            Some(l) => {
                out.push(1);
                out.extend_from_slice(&l.height.to_le_bytes());
                out.extend_from_slice(&l.round.to_le_bytes());
                out.push(l.step.to_byte());
            }
        }
        let count = u32::try_from(self.signed_messages.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for m in self.signed_messages.iter().take(count as usize) {
            m.encode_into(&mut out);
        }
        out
    }

    /// Decodes [`PersistedState::encode`]'s output, rejecting anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        match r.u8()? {
            VERSION => {}
            tag => return Err(DecodeError::UnknownTag { tag }),
        }
        let height = r.u64()?;
        let round = r.u32()?;
        let step = Step::from_byte(r.u8()?)?;
        let locked = read_round_hash(&mut r)?;
        let valid = read_round_hash(&mut r)?;
        let last_signed = match r.u8()? {
            0 => None,
            1 => Some(LastSigned { height: r.u64()?, round: r.u32()?, step: Step::from_byte(r.u8()?)? }),
            flag => return Err(DecodeError::InvalidFlag { flag }),
        };
        let count = r.u32()?;
        if u64::from(count) * MIN_MESSAGE_LEN > r.remaining() as u64 {
            return Err(DecodeError::LengthTooLarge { len: u64::from(count) });
        }
        let mut signed_messages = Vec::with_capacity(count as usize);
        for _ in 0..count {
            signed_messages.push(SignedMessage::read(&mut r)?);
        }
        r.finish()?;
        Ok(PersistedState { height, round, step, locked, valid, last_signed, signed_messages })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{SignedProposal, SignedVote, VoteKind};
    use ed25519_dalek::SigningKey;

    #[test]
    fn round_trips() {
        let k = SigningKey::from_bytes(&[2; 32]);
        let state = PersistedState {
            height: 9,
            round: 2,
            step: Step::Precommit,
            locked: Some((2, [1; 32])),
            valid: Some((2, [1; 32])),
            last_signed: Some(LastSigned { height: 9, round: 2, step: Step::Precommit }),
            signed_messages: vec![
                SignedProposal::sign("c", &k, 9, 2, [1; 32], Some(1)).into(),
                SignedVote::sign("c", &k, 9, 2, VoteKind::Prevote, Some([1; 32])).into(),
                SignedVote::sign("c", &k, 9, 2, VoteKind::Precommit, None).into(),
            ],
        };
        let bytes = state.encode();
        assert_eq!(PersistedState::decode(&bytes), Ok(state));
        assert!(PersistedState::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes;
        long.push(0);
        assert!(PersistedState::decode(&long).is_err());
        assert!(Step::Propose < Step::Prevote && Step::Prevote < Step::Precommit);
    }
}
