//! Weighted proposer rotation, CometBFT "proposer priority" style.
//!
//! Every node must compute the same proposer for `(height, round)`, so the algorithm is
//! spelled out exactly:
//!
//! 1. Each validator `i` (in set order) has a priority `p_i`, a signed integer (`i128`).
//!    Before height 1 every priority is 0.
//! 2. One *step*: for every `i`, `p_i += power_i`; then the validator `j` with the greatest
//!    `p_j` is picked, ties going to the lowest index in the set; then `p_j -= total_power`.
//! 3. The proposer of `(height, round)` is the validator picked by step number
//!    `k = height + round` (steps counted from 1; height 0 is treated as height 1). This is
//!    CometBFT's schedule for a fixed set: one increment at genesis, one per committed height,
//!    and `round` more within a height.
//!
//! The priorities always sum to 0 and stay within `(-total, total)`, so CometBFT's
//! re-centring and re-scaling never apply; the one difference from CometBFT is the tie-break
//! (set order rather than address order). Over `total_power` steps each validator is picked
//! exactly `power` times and the priorities return to 0; when the total is at most
//! [`MAX_CACHED_PERIOD`] the rotation checks that period once and reduces `k` modulo it, so
//! late heights cost no more than early ones.

use crate::validator::ValidatorSet;

/// The largest total power for which the period of the rotation is verified and used.
pub const MAX_CACHED_PERIOD: u128 = 1 << 16;

/// The rotation's state after some number of steps, cached so that moving from one height to
/// the next costs one step. Construct one per validator set with [`ProposerRotation::new`].
#[derive(Debug, Clone)]
pub struct ProposerRotation {
    powers: Vec<i128>,
    total: i128,
    /// Steps performed to reach `priorities` (0 = the initial all-zero state).
    anchor_step: u128,
    priorities: Vec<i128>,
    /// Proposer picked by step `anchor_step` (meaningless at step 0).
    anchor_pick: usize,
    /// `Some(p)` once checked that the state returns to zero after `p` steps; `None` when
    /// not checked or not applicable.
    period: Option<u128>,
    period_checked: bool,
}

impl ProposerRotation {
    /// A rotation at its initial state for `set`.
    pub fn new(set: &ValidatorSet) -> Self {
        let powers: Vec<i128> = set.validators().iter().map(|v| i128::from(v.power)).collect();
        let total = powers.iter().sum();
        ProposerRotation {
            priorities: vec![0; powers.len()],
            powers,
            total,
            anchor_step: 0,
            anchor_pick: 0,
            period: None,
            period_checked: false,
        }
    }

    /// The index (in set order) of the proposer of `(height, round)`.
    pub fn proposer(&mut self, height: u64, round: u32) -> usize {
        let k = u128::from(height.max(1)) + u128::from(round);
        let k = self.reduce(k);
        if k < self.anchor_step {
            self.reset();
        }
        if round == 0 {
            // Heights move forward one at a time: keep the anchor at round 0 of the height.
            while self.anchor_step < k {
                self.anchor_pick = step(&mut self.priorities, &self.powers, self.total);
                self.anchor_step += 1;
            }
            return self.anchor_pick;
        }
        if k == self.anchor_step {
            return self.anchor_pick;
        }
        let mut priorities = self.priorities.clone();
        let mut pick = self.anchor_pick;
        for _ in self.anchor_step..k {
            pick = step(&mut priorities, &self.powers, self.total);
        }
        pick
    }

    fn reset(&mut self) {
        self.priorities.iter_mut().for_each(|p| *p = 0);
        self.anchor_step = 0;
        self.anchor_pick = 0;
    }

    /// Maps step `k >= 1` to an equivalent step in `1..=period` when the period is known.
    fn reduce(&mut self, k: u128) -> u128 {
        let total = self.total as u128;
        if k <= total || total > MAX_CACHED_PERIOD {
            return k;
        }
        if !self.period_checked {
            self.period_checked = true;
            let mut p = vec![0; self.powers.len()];
            for _ in 0..total {
                step(&mut p, &self.powers, self.total);
            }
            if p.iter().all(|&x| x == 0) {
                self.period = Some(total);
            }
        }
        match self.period {
            Some(period) => (k - 1) % period + 1,
            None => k,
        }
    }
}

/// One step of the rotation; returns the picked index.
fn step(priorities: &mut [i128], powers: &[i128], total: i128) -> usize {
    let mut best = 0;
    for i in 0..priorities.len() {
        priorities[i] += powers[i];
        if priorities[i] > priorities[best] {
            best = i;
        }
    }
    priorities[best] -= total;
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::Validator;
    use ed25519_dalek::SigningKey;

    fn set(powers: &[u64]) -> ValidatorSet {
        ValidatorSet::new(
            powers
                .iter()
                .enumerate()
                .map(|(i, &power)| Validator {
                    public_key: SigningKey::from_bytes(&[i as u8 + 1; 32]).verifying_key().to_bytes(),
                    power,
                })
                .collect(),
        )
        .unwrap()
    }

    /// The rotation computed naively from zero, step by step.
    fn naive(powers: &[u64], height: u64, round: u32) -> usize {
        naive_steps(powers, height.max(1) + u64::from(round))
    }

    fn naive_steps(powers: &[u64], steps: u64) -> usize {
        let powers: Vec<i128> = powers.iter().map(|&p| i128::from(p)).collect();
        let total = powers.iter().sum();
        let mut p = vec![0; powers.len()];
        let mut pick = 0;
        for _ in 0..steps {
            pick = step(&mut p, &powers, total);
        }
        pick
    }

    #[test]
    fn equal_power_is_round_robin() {
        let s = set(&[1, 1, 1, 1]);
        let picks: Vec<usize> = (1..=8).map(|h| s.proposer(h, 0)).collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 0, 1, 2, 3]);
        assert_eq!(s.proposer(1, 1), 1);
        assert_eq!(s.proposer(5, 2), 2);
    }

    #[test]
    fn weighted_rotation_follows_power() {
        // Powers 3,1,1: the documented algorithm gives this exact schedule.
        let s = set(&[3, 1, 1]);
        let picks: Vec<usize> = (1..=5).map(|h| s.proposer(h, 0)).collect();
        assert_eq!(picks, vec![0, 1, 0, 2, 0]);
    }

    #[test]
    fn cached_rotation_matches_naive_in_any_query_order() {
        for powers in [&[1u64, 1, 1, 1][..], &[5, 3, 1, 1], &[10, 1, 7], &[2, 2, 3, 9, 1, 1, 4]] {
            let s = set(powers);
            let mut rot = ProposerRotation::new(&s);
            for h in 1..40u64 {
                for r in [0u32, 1, 2, 5, 0, 3] {
                    assert_eq!(rot.proposer(h, r), naive(powers, h, r), "{powers:?} {h} {r}");
                }
            }
            assert_eq!(rot.proposer(3, 0), naive(powers, 3, 0));
            // Far heights use the verified period (the total power).
            let total: u64 = powers.iter().sum();
            let k = 1_000_003u64 + 7;
            assert_eq!(rot.proposer(1_000_003, 7), naive_steps(powers, (k - 1) % total + 1));
            assert_eq!(naive_steps(powers, total + 3), naive_steps(powers, 3));
        }
    }

    #[test]
    fn each_validator_proposes_in_proportion_to_power() {
        let powers = [5u64, 3, 1, 1];
        let s = set(&powers);
        let mut rot = ProposerRotation::new(&s);
        let mut counts = [0u64; 4];
        for h in 1..=100 {
            counts[rot.proposer(h, 0)] += 1;
        }
        assert_eq!(counts, [50, 30, 10, 10]);
    }
}
