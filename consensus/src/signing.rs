//! The exact bytes that votes and proposals are signed over (SPEC §4).
//!
//! ```text
//! "TALLY/VOTE/V1" (13 ASCII bytes) | u8 len(chain_id) | chain_id | height u64 LE | round u32 LE
//!   | type u8 (1 proposal, 2 prevote, 3 precommit) | block hash 32 (zero bytes for nil)
//!   [ | pol_round i32 LE   -- proposals only, -1 for none ]
//! ```
//!
//! Signatures are ed25519 (RFC 8032) over these bytes and are checked with `verify_strict`
//! only. Chain ids are 1..=64 bytes (checked by [`crate::ConsensusConfig::validate`]).

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::{BlockHash, Signature};

/// The domain-separation prefix of every vote and proposal signature.
pub const VOTE_DOMAIN: &[u8; 13] = b"TALLY/VOTE/V1";

/// The type byte of a proposal.
pub const TYPE_PROPOSAL: u8 = 1;
/// The type byte of a prevote.
pub const TYPE_PREVOTE: u8 = 2;
/// The type byte of a precommit.
pub const TYPE_PRECOMMIT: u8 = 3;

/// The common prefix: domain, chain id, height, round, type, block hash.
fn common(chain_id: &str, height: u64, round: u32, ty: u8, hash: &BlockHash) -> Vec<u8> {
    let id = chain_id.as_bytes();
    let mut out = Vec::with_capacity(13 + 1 + id.len() + 8 + 4 + 1 + 32 + 4);
    out.extend_from_slice(VOTE_DOMAIN);
    // Valid chain ids are at most 64 bytes; a longer one cannot be signed consistently
    // and is refused by config validation.
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(id);
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&round.to_le_bytes());
    out.push(ty);
    out.extend_from_slice(hash);
    out
}

/// Signing bytes of a prevote (`ty` = [`TYPE_PREVOTE`]) or precommit ([`TYPE_PRECOMMIT`]);
/// `None` is a nil vote and is signed with 32 zero bytes.
pub fn vote_signing_bytes(chain_id: &str, height: u64, round: u32, ty: u8, block_hash: Option<&BlockHash>) -> Vec<u8> {
    common(chain_id, height, round, ty, block_hash.unwrap_or(&[0u8; 32]))
}

/// Signing bytes of a proposal; `pol_round` `None` is signed as -1. A `pol_round` above
/// `i32::MAX` cannot occur in a well-formed proposal (it must be below the round, which is at
/// most [`crate::MAX_ROUND`]); it would be signed as `i32::MAX`.
pub fn proposal_signing_bytes(
    chain_id: &str,
    height: u64,
    round: u32,
    block_hash: &BlockHash,
    pol_round: Option<u32>,
) -> Vec<u8> {
    let mut out = common(chain_id, height, round, TYPE_PROPOSAL, block_hash);
    out.extend_from_slice(&pol_round_i32(pol_round).to_le_bytes());
    out
}

/// `pol_round` as its signed encoding: -1 for none.
pub(crate) fn pol_round_i32(pol_round: Option<u32>) -> i32 {
    match pol_round {
        None => -1,
        Some(r) => i32::try_from(r).unwrap_or(i32::MAX),
    }
}

/// Signs `bytes` (deterministic ed25519).
pub fn sign(key: &SigningKey, bytes: &[u8]) -> Signature {
    key.sign(bytes).to_bytes()
}

/// True iff `signature` is a valid ed25519 signature of `bytes` under `key` according to
/// `verify_strict`.
pub fn verify(key: &VerifyingKey, bytes: &[u8], signature: &Signature) -> bool {
    key.verify_strict(bytes, &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_a_nil_precommit() {
        let b = vote_signing_bytes("ab", 1, 2, TYPE_PRECOMMIT, None);
        let mut want = b"TALLY/VOTE/V1".to_vec();
        want.extend_from_slice(&[2, b'a', b'b', 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3]);
        want.extend_from_slice(&[0; 32]);
        assert_eq!(b, want);
    }

    #[test]
    fn proposal_appends_pol_round() {
        let b = proposal_signing_bytes("ab", 1, 2, &[7; 32], None);
        assert_eq!(&b[b.len() - 4..], &[0xff; 4]);
        let b = proposal_signing_bytes("ab", 1, 2, &[7; 32], Some(1));
        assert_eq!(&b[b.len() - 4..], &[1, 0, 0, 0]);
        assert_eq!(b[b.len() - 37], TYPE_PROPOSAL);
    }

    #[test]
    fn sign_then_verify() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let bytes = vote_signing_bytes("c", 5, 0, TYPE_PREVOTE, Some(&[1; 32]));
        let sig = sign(&key, &bytes);
        assert!(verify(&key.verifying_key(), &bytes, &sig));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!verify(&key.verifying_key(), &bytes, &bad));
    }
}
