//! The validator set: who votes, with how much power, and the quorum arithmetic.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;

use crate::error::ConfigError;
use crate::proposer::ProposerRotation;
use crate::PublicKey;

/// One validator: its consensus public key and its voting power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Validator {
    /// The ed25519 public key that signs this validator's votes and proposals.
    pub public_key: PublicKey,
    /// Voting power, at least 1.
    pub power: u64,
}

/// An ordered, fixed list of validators (Tally's set is fixed by the genesis).
///
/// The order matters: it is the order of commit certificate signatures and the tie-break of
/// the proposer rotation. All power sums are `u128`, so no set of `u64` powers can overflow.
#[derive(Debug, Clone)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    keys: Vec<VerifyingKey>,
    index: HashMap<PublicKey, usize>,
    total_power: u128,
}

impl PartialEq for ValidatorSet {
    fn eq(&self, other: &Self) -> bool {
        self.validators == other.validators
    }
}

impl Eq for ValidatorSet {}

impl ValidatorSet {
    /// Builds a set, refusing an empty list, zero power, duplicate keys and keys that are not
    /// valid ed25519 points.
    pub fn new(validators: Vec<Validator>) -> Result<Self, ConfigError> {
        if validators.is_empty() {
            return Err(ConfigError::EmptyValidatorSet);
        }
        let mut index = HashMap::with_capacity(validators.len());
        let mut keys = Vec::with_capacity(validators.len());
        let mut total_power: u128 = 0;
        for (i, v) in validators.iter().enumerate() {
            if v.power == 0 {
                return Err(ConfigError::ZeroPower { validator: v.public_key });
            }
            if index.insert(v.public_key, i).is_some() {
                return Err(ConfigError::DuplicateValidator { validator: v.public_key });
            }
            let key = VerifyingKey::from_bytes(&v.public_key)
                .map_err(|_| ConfigError::InvalidPublicKey { validator: v.public_key })?;
            keys.push(key);
            total_power += u128::from(v.power);
        }
        Ok(ValidatorSet { validators, keys, index, total_power })
    }

    /// The validators in set order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Number of validators (never zero).
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false: a set has at least one validator. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The validator at `index` in set order.
    pub fn get(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }

    /// The position of `key` in the set, if it is a validator.
    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The decoded verifying key of the validator at `index`.
    pub fn verifying_key(&self, index: usize) -> Option<&VerifyingKey> {
        self.keys.get(index)
    }

    /// The power of the validator at `index` (0 when out of range).
    pub fn power(&self, index: usize) -> u64 {
        self.validators.get(index).map_or(0, |v| v.power)
    }

    /// The sum of all powers.
    pub fn total_power(&self) -> u128 {
        self.total_power
    }

    /// True when `power` is more than 2/3 of the total (`3 * power > 2 * total`): a quorum.
    pub fn has_two_thirds(&self, power: u128) -> bool {
        // total <= 2^64 * 2^32 here in practice; saturating keeps absurd inputs honest.
        power.saturating_mul(3) > self.total_power.saturating_mul(2)
    }

    /// True when `power` is more than 1/3 of the total (`3 * power > total`): at least one
    /// honest validator is among its holders when at most f < n/3 of the power is faulty.
    pub fn has_one_third(&self, power: u128) -> bool {
        power.saturating_mul(3) > self.total_power
    }

    /// The proposer of `(height, round)`, as an index into the set. This computes the
    /// rotation from scratch; see [`ProposerRotation`] for the algorithm and a cached form.
    pub fn proposer(&self, height: u64, round: u32) -> usize {
        ProposerRotation::new(self).proposer(height, round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    pub(crate) fn key(i: u8) -> PublicKey {
        SigningKey::from_bytes(&[i; 32]).verifying_key().to_bytes()
    }

    fn set(powers: &[u64]) -> ValidatorSet {
        ValidatorSet::new(
            powers.iter().enumerate().map(|(i, &power)| Validator { public_key: key(i as u8), power }).collect(),
        )
        .unwrap()
    }

    #[test]
    fn quorum_thresholds_are_strict() {
        let s = set(&[1, 1, 1, 1]);
        assert_eq!(s.total_power(), 4);
        assert!(!s.has_two_thirds(2));
        assert!(s.has_two_thirds(3));
        assert!(!s.has_one_third(1));
        assert!(s.has_one_third(2));
        let s = set(&[1, 1, 1]);
        assert!(!s.has_two_thirds(2));
        assert!(s.has_two_thirds(3));
        assert!(s.has_one_third(2));
        assert!(!s.has_one_third(1));
    }

    #[test]
    fn huge_powers_do_not_overflow() {
        let s = set(&[u64::MAX, u64::MAX, u64::MAX]);
        assert_eq!(s.total_power(), 3 * u128::from(u64::MAX));
        assert!(s.has_two_thirds(3 * u128::from(u64::MAX)));
        assert!(!s.has_two_thirds(2 * u128::from(u64::MAX)));
    }

    #[test]
    fn rejects_bad_sets() {
        assert_eq!(ValidatorSet::new(vec![]), Err(ConfigError::EmptyValidatorSet));
        let v = Validator { public_key: key(1), power: 1 };
        assert_eq!(ValidatorSet::new(vec![v, v]), Err(ConfigError::DuplicateValidator { validator: v.public_key }));
        assert_eq!(
            ValidatorSet::new(vec![Validator { power: 0, ..v }]),
            Err(ConfigError::ZeroPower { validator: v.public_key })
        );
    }

    #[test]
    fn index_lookup() {
        let s = set(&[1, 2, 3]);
        assert_eq!(s.index_of(&key(2)), Some(2));
        assert_eq!(s.index_of(&[0xee; 32]), None);
        assert_eq!(s.power(1), 2);
        assert_eq!(s.power(9), 0);
    }
}
