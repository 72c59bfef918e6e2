//! Configuration of the consensus core.

use std::fmt;

use ed25519_dalek::SigningKey;

use crate::error::ConfigError;
use crate::io::TimeoutStep;
use crate::validator::ValidatorSet;

/// Timeouts of Algorithm 1, in milliseconds. Each grows linearly with the round:
/// `timeout(step, round) = base(step) + round * delta_ms` (saturating), so that after the
/// global stabilisation time some round is long enough for every correct process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutConfig {
    /// Base of `timeoutPropose`: how long to wait for the proposal of a round.
    pub propose_ms: u64,
    /// Base of `timeoutPrevote`: how long to wait after >2/3 of any prevotes.
    pub prevote_ms: u64,
    /// Base of `timeoutPrecommit`: how long to wait after >2/3 of any precommits.
    pub precommit_ms: u64,
    /// Growth of every timeout per round.
    pub delta_ms: u64,
}

impl Default for TimeoutConfig {
    /// CometBFT's defaults: 3 s to propose, 1 s for the vote steps, +0.5 s per round.
    fn default() -> Self {
        TimeoutConfig { propose_ms: 3_000, prevote_ms: 1_000, precommit_ms: 1_000, delta_ms: 500 }
    }
}

impl TimeoutConfig {
    /// The duration of the timeout of `step` in `round`.
    pub fn duration_ms(&self, step: TimeoutStep, round: u32) -> u64 {
        let base = match step {
            TimeoutStep::Propose => self.propose_ms,
            TimeoutStep::Prevote => self.prevote_ms,
            TimeoutStep::Precommit => self.precommit_ms,
        };
        base.saturating_add(self.delta_ms.saturating_mul(u64::from(round)))
    }
}

/// Everything a [`crate::Consensus`] needs to run.
#[derive(Clone)]
pub struct ConsensusConfig {
    /// The chain id, 1..=64 bytes of `[a-z0-9-]`; part of every signature.
    pub chain_id: String,
    /// The validators (fixed by the genesis).
    pub validators: ValidatorSet,
    /// This node's consensus key; `None` for a full node, which follows (decides) without
    /// signing. A key outside the set behaves the same way.
    pub signing_key: Option<SigningKey>,
    /// The timeouts.
    pub timeouts: TimeoutConfig,
    /// How many heights above the current one are buffered (messages further ahead are
    /// dropped as [`crate::Rejection::TooFarAhead`]); 3 is a good value.
    pub future_height_buffer: u64,
    /// Bound on buffered messages for future heights, per validator.
    pub future_messages_per_validator: usize,
    /// Bound on the number of distinct rounds above the current round in which one
    /// validator's messages are kept for the current height.
    pub future_rounds_per_validator: usize,
}

impl fmt::Debug for ConsensusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsensusConfig")
            .field("chain_id", &self.chain_id)
            .field("validators", &self.validators.len())
            .field("signing_key", &self.signing_key.as_ref().map(|k| k.verifying_key()))
            .field("timeouts", &self.timeouts)
            .field("future_height_buffer", &self.future_height_buffer)
            .field("future_messages_per_validator", &self.future_messages_per_validator)
            .field("future_rounds_per_validator", &self.future_rounds_per_validator)
            .finish()
    }
}

impl ConsensusConfig {
    /// A configuration with default timeouts and buffers.
    pub fn new(chain_id: impl Into<String>, validators: ValidatorSet, signing_key: Option<SigningKey>) -> Self {
        ConsensusConfig {
            chain_id: chain_id.into(),
            validators,
            signing_key,
            timeouts: TimeoutConfig::default(),
            future_height_buffer: 3,
            future_messages_per_validator: 64,
            future_rounds_per_validator: 4,
        }
    }

    /// Checks the chain id (`[a-z0-9-]{1,64}`) and that the base timeouts are positive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let id = self.chain_id.as_bytes();
        let id_ok = (1..=64).contains(&id.len())
            && id.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if !id_ok {
            return Err(ConfigError::InvalidChainId);
        }
        let t = &self.timeouts;
        if t.propose_ms == 0 || t.prevote_ms == 0 || t.precommit_ms == 0 {
            return Err(ConfigError::ZeroTimeout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::Validator;

    fn config(chain_id: &str) -> ConsensusConfig {
        let v = Validator { public_key: SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes(), power: 1 };
        ConsensusConfig::new(chain_id, ValidatorSet::new(vec![v]).unwrap(), None)
    }

    #[test]
    fn timeouts_grow_linearly() {
        let t = TimeoutConfig::default();
        assert_eq!(t.duration_ms(TimeoutStep::Propose, 0), 3_000);
        assert_eq!(t.duration_ms(TimeoutStep::Prevote, 2), 2_000);
        let huge = TimeoutConfig { delta_ms: u64::MAX / 2, ..t };
        assert_eq!(huge.duration_ms(TimeoutStep::Precommit, 3), u64::MAX);
    }

    #[test]
    fn validates_chain_id_and_timeouts() {
        assert_eq!(config("tally-devnet").validate(), Ok(()));
        assert_eq!(config("").validate(), Err(ConfigError::InvalidChainId));
        assert_eq!(config("Tally").validate(), Err(ConfigError::InvalidChainId));
        assert_eq!(config(&"a".repeat(65)).validate(), Err(ConfigError::InvalidChainId));
        let mut c = config("x");
        c.timeouts.prevote_ms = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroTimeout));
        assert!(!format!("{c:?}").contains("secret"));
    }
}
