//! The crate's typed errors and rejection reasons.

use crate::PublicKey;

/// Why bytes could not be decoded into a consensus type. Decoders never panic and never
/// repair input: truncated input, trailing bytes, unknown tags and non-canonical fields are
/// all errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the layout did.
    #[error("truncated input: needed {needed} more bytes, {remaining} left")]
    Truncated {
        /// Bytes the next field needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// Bytes were left over after the layout ended.
    #[error("{extra} trailing bytes")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// A message tag that names no known message type.
    #[error("unknown message tag {tag}")]
    UnknownTag {
        /// The tag read.
        tag: u8,
    },
    /// A vote type byte other than 2 (prevote) or 3 (precommit).
    #[error("unknown vote type {kind}")]
    UnknownVoteKind {
        /// The type byte read.
        kind: u8,
    },
    /// A presence flag other than 0 or 1.
    #[error("invalid flag byte {flag}")]
    InvalidFlag {
        /// The flag byte read.
        flag: u8,
    },
    /// A nil vote whose hash field is not all zero (the encoding would not be canonical).
    #[error("nil vote with a non-zero block hash field")]
    NonCanonicalNil,
    /// A round above [`crate::MAX_ROUND`].
    #[error("round {round} exceeds the maximum round")]
    RoundOutOfRange {
        /// The round read.
        round: u32,
    },
    /// A proposal's `pol_round` below -1 or not below its round.
    #[error("invalid pol_round {pol_round} for round {round}")]
    InvalidPolRound {
        /// The pol_round read.
        pol_round: i64,
        /// The proposal's round.
        round: u32,
    },
    /// An unknown step byte in a persisted state.
    #[error("unknown step {step}")]
    UnknownStep {
        /// The step byte read.
        step: u8,
    },
    /// A length field larger than the remaining input allows.
    #[error("length {len} exceeds the remaining input")]
    LengthTooLarge {
        /// The length read.
        len: u64,
    },
}

/// Why a [`crate::CommitCertificate`] does not prove its block final.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// A signer that is not in the validator set.
    #[error("signer {} is not a validator", hex8(validator))]
    UnknownValidator {
        /// The unknown key.
        validator: PublicKey,
    },
    /// Signatures not strictly sorted by validator index (this includes duplicates).
    #[error("signatures not sorted by validator index or duplicated at position {position}")]
    NotSorted {
        /// Position in the signature list where the order breaks.
        position: usize,
    },
    /// A signature that `verify_strict` rejects.
    #[error("invalid signature from {}", hex8(validator))]
    InvalidSignature {
        /// The signer.
        validator: PublicKey,
    },
    /// The signers hold 2/3 of the voting power or less.
    #[error("signers hold {signed} of {total} voting power, more than 2/3 is needed")]
    InsufficientPower {
        /// Power of the signers.
        signed: u128,
        /// Total power of the set.
        total: u128,
    },
    /// A round above [`crate::MAX_ROUND`].
    #[error("round {round} exceeds the maximum round")]
    RoundOutOfRange {
        /// The certificate's round.
        round: u32,
    },
}

/// Why a [`crate::ValidatorSet`] or [`crate::ConsensusConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A validator set with no validators.
    #[error("the validator set is empty")]
    EmptyValidatorSet,
    /// A validator with zero voting power.
    #[error("validator {} has zero power", hex8(validator))]
    ZeroPower {
        /// The validator.
        validator: PublicKey,
    },
    /// The same key twice in the set.
    #[error("validator {} appears twice", hex8(validator))]
    DuplicateValidator {
        /// The validator.
        validator: PublicKey,
    },
    /// A key that is not a valid ed25519 point.
    #[error("validator {} has an invalid public key", hex8(validator))]
    InvalidPublicKey {
        /// The validator.
        validator: PublicKey,
    },
    /// A chain id outside `[a-z0-9-]{1,64}`.
    #[error("invalid chain id (1..=64 bytes of [a-z0-9-] expected)")]
    InvalidChainId,
    /// A zero propose, prevote or precommit timeout.
    #[error("timeouts must be positive")]
    ZeroTimeout,
}

/// Why the core refused an incoming message, reported as [`crate::Output::Rejected`] so that
/// the node can score the peer that relayed it. [`Rejection::is_misbehaviour`] separates
/// messages that no honest validator would sign or relay (drop and penalise) from messages
/// that are merely stale or over a buffer bound for this node (ignore, never hold against the
/// sender). Exact duplicates are ignored silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The signer is not in the validator set.
    UnknownValidator {
        /// The claimed signer.
        validator: PublicKey,
    },
    /// `verify_strict` rejected the signature.
    InvalidSignature {
        /// The claimed signer.
        validator: PublicKey,
    },
    /// A proposal signed by a validator that is not the proposer of its height and round.
    WrongProposer {
        /// The signer.
        validator: PublicKey,
        /// The proposal's height.
        height: u64,
        /// The proposal's round.
        round: u32,
    },
    /// A round above [`crate::MAX_ROUND`] or a proposal whose `pol_round` is not below its
    /// round: malformed, no honest validator signs it.
    MalformedRound {
        /// The signer.
        validator: PublicKey,
    },
    /// A message for a height this node has already left (or not yet started, before the
    /// first `StartHeight`).
    Stale {
        /// The message's height.
        height: u64,
        /// This node's height.
        current: u64,
    },
    /// A message more than `future_height_buffer` heights ahead of this node.
    TooFarAhead {
        /// The message's height.
        height: u64,
        /// This node's height.
        current: u64,
    },
    /// The per-validator bound on buffered future messages (later heights or later rounds)
    /// is reached; the message was dropped.
    BufferFull {
        /// The signer.
        validator: PublicKey,
    },
}

impl Rejection {
    /// True when the message proves that its signer or relayer misbehaves (bad signature,
    /// unknown validator, wrong proposer, malformed); false when it is merely stale or over
    /// a local bound.
    pub fn is_misbehaviour(&self) -> bool {
        match self {
            Rejection::UnknownValidator { .. }
            | Rejection::InvalidSignature { .. }
            | Rejection::WrongProposer { .. }
            | Rejection::MalformedRound { .. } => true,
            Rejection::Stale { .. } | Rejection::TooFarAhead { .. } | Rejection::BufferFull { .. } => false,
        }
    }
}

/// The first 8 hex characters of a key, for error messages.
fn hex8(key: &PublicKey) -> String {
    key.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misbehaviour_is_separated_from_staleness() {
        assert!(Rejection::InvalidSignature { validator: [0; 32] }.is_misbehaviour());
        assert!(Rejection::UnknownValidator { validator: [0; 32] }.is_misbehaviour());
        assert!(!Rejection::Stale { height: 1, current: 2 }.is_misbehaviour());
        assert!(!Rejection::BufferFull { validator: [0; 32] }.is_misbehaviour());
    }

    #[test]
    fn errors_name_the_key() {
        let e = CertificateError::UnknownValidator { validator: [0xab; 32] };
        assert!(e.to_string().contains("abababab"));
    }
}
