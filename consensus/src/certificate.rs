//! The commit certificate: >2/3 of the voting power precommitted a block. It makes the block
//! final and can be checked by anyone who knows the chain id and the validator set (block
//! sync, light clients). The layout is documented in `FORMAT-certificate.md`.

use sha2::{Digest, Sha256};

use crate::codec::Reader;
use crate::error::{CertificateError, DecodeError};
use crate::signing::{self, TYPE_PRECOMMIT};
use crate::validator::ValidatorSet;
use crate::{BlockHash, PublicKey, Signature, MAX_ROUND};

/// One validator's precommit signature inside a [`CommitCertificate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitSignature {
    /// The signer.
    pub validator: PublicKey,
    /// ed25519 signature over the precommit's SPEC §4 signing bytes for the certificate's
    /// height, round and block hash.
    pub signature: Signature,
}

/// Size of one encoded [`CommitSignature`].
const SIGNATURE_ENTRY_LEN: usize = 32 + 64;

/// Precommits for `block_hash` at `height`/`round` from more than 2/3 of the voting power,
/// sorted by validator index in the set, without duplicates.
///
/// Canonical encoding (little-endian):
/// `height u64 | round u32 | block_hash 32 | count u32 | count × (validator 32 | signature 64)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitCertificate {
    /// The decided height.
    pub height: u64,
    /// The round whose precommits decided it.
    pub round: u32,
    /// The decided block.
    pub block_hash: BlockHash,
    /// The precommit signatures, in validator-set order.
    pub signatures: Vec<CommitSignature>,
}

impl CommitCertificate {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 + 32 + 4 + SIGNATURE_ENTRY_LEN * self.signatures.len());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.round.to_le_bytes());
        out.extend_from_slice(&self.block_hash);
        // A certificate never holds more than u32::MAX signatures (one per validator).
        let count = u32::try_from(self.signatures.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for s in self.signatures.iter().take(count as usize) {
            out.extend_from_slice(&s.validator);
            out.extend_from_slice(&s.signature);
        }
        out
    }

    /// Decodes the canonical encoding. Structure only: call [`CommitCertificate::verify`] to
    /// check it against a validator set.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let height = r.u64()?;
        let round = r.u32()?;
        if round > MAX_ROUND {
            return Err(DecodeError::RoundOutOfRange { round });
        }
        let block_hash = r.array()?;
        let count = r.u32()?;
        let len = u64::from(count) * SIGNATURE_ENTRY_LEN as u64;
        if len > r.remaining() as u64 {
            return Err(DecodeError::LengthTooLarge { len });
        }
        let mut signatures = Vec::with_capacity(count as usize);
        for _ in 0..count {
            signatures.push(CommitSignature { validator: r.array()?, signature: r.array()? });
        }
        r.finish()?;
        Ok(CommitCertificate { height, round, block_hash, signatures })
    }

    /// SHA-256 of the canonical encoding: the next header's `last_commit_hash`.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.encode()).into()
    }

    /// The precommit signing bytes every signature of this certificate covers.
    pub fn signing_bytes(&self, chain_id: &str) -> Vec<u8> {
        signing::vote_signing_bytes(chain_id, self.height, self.round, TYPE_PRECOMMIT, Some(&self.block_hash))
    }

    /// Checks that the certificate proves its block final under `validators`: every signer is
    /// a validator, signers are strictly increasing in set order (so no duplicates), they
    /// hold more than 2/3 of the power, and every signature passes `verify_strict` over the
    /// precommit signing bytes. The caller checks that height and block are the ones it
    /// expects.
    pub fn verify(&self, chain_id: &str, validators: &ValidatorSet) -> Result<(), CertificateError> {
        if self.round > MAX_ROUND {
            return Err(CertificateError::RoundOutOfRange { round: self.round });
        }
        let mut indices = Vec::with_capacity(self.signatures.len());
        let mut signed: u128 = 0;
        for (position, s) in self.signatures.iter().enumerate() {
            let index = validators
                .index_of(&s.validator)
                .ok_or(CertificateError::UnknownValidator { validator: s.validator })?;
            if indices.last().is_some_and(|&last| index <= last) {
                return Err(CertificateError::NotSorted { position });
            }
            indices.push(index);
            signed += u128::from(validators.power(index));
        }
        if !validators.has_two_thirds(signed) {
            return Err(CertificateError::InsufficientPower { signed, total: validators.total_power() });
        }
        let bytes = self.signing_bytes(chain_id);
        for (s, &index) in self.signatures.iter().zip(&indices) {
            let ok = validators.verifying_key(index).is_some_and(|key| signing::verify(key, &bytes, &s.signature));
            if !ok {
                return Err(CertificateError::InvalidSignature { validator: s.validator });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{SignedVote, VoteKind};
    use crate::validator::Validator;
    use ed25519_dalek::SigningKey;

    fn keys(n: u8) -> Vec<SigningKey> {
        (0..n).map(|i| SigningKey::from_bytes(&[i + 1; 32])).collect()
    }

    fn set(keys: &[SigningKey], powers: &[u64]) -> ValidatorSet {
        ValidatorSet::new(
            keys.iter()
                .zip(powers)
                .map(|(k, &power)| Validator { public_key: k.verifying_key().to_bytes(), power })
                .collect(),
        )
        .unwrap()
    }

    fn cert(keys: &[SigningKey], signers: &[usize]) -> CommitCertificate {
        CommitCertificate {
            height: 7,
            round: 2,
            block_hash: [4; 32],
            signatures: signers
                .iter()
                .map(|&i| {
                    let v = SignedVote::sign("c", &keys[i], 7, 2, VoteKind::Precommit, Some([4; 32]));
                    CommitSignature { validator: v.validator, signature: v.signature }
                })
                .collect(),
        }
    }

    #[test]
    fn valid_certificate_verifies_and_round_trips() {
        let k = keys(4);
        let s = set(&k, &[1, 1, 1, 1]);
        let c = cert(&k, &[0, 1, 3]);
        assert_eq!(c.verify("c", &s), Ok(()));
        assert_eq!(CommitCertificate::decode(&c.encode()), Ok(c.clone()));
        assert_eq!(c.hash(), <[u8; 32]>::from(Sha256::digest(c.encode())));
    }

    #[test]
    fn rejects_weak_unsorted_foreign_and_forged_certificates() {
        let k = keys(5);
        let s = set(&k[..4], &[1, 1, 1, 1]);
        assert!(matches!(
            cert(&k, &[0, 1]).verify("c", &s),
            Err(CertificateError::InsufficientPower { signed: 2, total: 4 })
        ));
        assert_eq!(cert(&k, &[0, 2, 1]).verify("c", &s), Err(CertificateError::NotSorted { position: 2 }));
        assert_eq!(cert(&k, &[0, 1, 1, 2]).verify("c", &s), Err(CertificateError::NotSorted { position: 2 }));
        assert!(matches!(cert(&k, &[0, 1, 4]).verify("c", &s), Err(CertificateError::UnknownValidator { .. })));
        assert!(matches!(
            cert(&k, &[0, 1, 2]).verify("other-chain", &s),
            Err(CertificateError::InvalidSignature { .. })
        ));
        let mut c = cert(&k, &[0, 1, 2]);
        c.block_hash = [5; 32];
        assert!(matches!(c.verify("c", &s), Err(CertificateError::InvalidSignature { .. })));
    }

    #[test]
    fn power_not_count_decides() {
        let k = keys(4);
        let s = set(&k, &[10, 1, 1, 1]);
        assert_eq!(cert(&k, &[0]).verify("c", &s), Ok(()));
        assert!(cert(&k, &[1, 2, 3]).verify("c", &s).is_err());
    }

    #[test]
    fn decode_rejects_lies_about_length() {
        let k = keys(4);
        let mut bytes = cert(&k, &[0, 1, 2]).encode();
        bytes[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(CommitCertificate::decode(&bytes), Err(DecodeError::LengthTooLarge { .. })));
        let bytes = cert(&k, &[0, 1, 2]).encode();
        assert!(CommitCertificate::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes;
        long.push(0);
        assert_eq!(CommitCertificate::decode(&long), Err(DecodeError::TrailingBytes { extra: 1 }));
    }
}
