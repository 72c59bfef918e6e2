//! Bookkeeping of the messages received for one height: per round, the proposal, the
//! prevotes and precommits (one per validator, first one wins), their tallies by value, and
//! who sent anything at all in the round (for the round skip of line 55).

use std::collections::{BTreeMap, HashMap};

use crate::message::{SignedProposal, SignedVote, VoteKind};
use crate::validator::ValidatorSet;
use crate::BlockHash;

/// What happened when a message was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Added<T> {
    /// New; counted.
    New,
    /// Identical to the one already held.
    Duplicate,
    /// Conflicts with the one already held (returned); not counted.
    Conflict(T),
}

/// The votes of one type in one round.
///
/// Each validator's first vote is its vote. A later vote of the same validator for another
/// value is equivocation: it is reported as evidence and, only when the caller asks for it
/// ([`VoteSet::add_equivocation`], for values of proposals held), also counted for its
/// value. Counting it is what the paper's model does (every received message counts towards
/// "2f+1 messages for v"); it is safe because a quorum for one value and a quorum for
/// another still intersect in more than 1/3 of the power, hence in an honest validator that
/// does not equivocate. It keeps the protocol live when an equivocator's votes are seen in
/// different orders: an honest node that locked on a value counting the equivocator's vote
/// relays that vote, and the others can count it too.
#[derive(Debug, Clone)]
pub(crate) struct VoteSet {
    /// Indexed by validator index: the first vote, then counted equivocations (each for a
    /// distinct value).
    votes: Vec<Vec<SignedVote>>,
    /// Power per value (`None` = nil).
    tally: HashMap<Option<BlockHash>, u128>,
    /// Power of the validators that voted, whatever their value, each counted once.
    total: u128,
}

impl VoteSet {
    fn new(n: usize) -> Self {
        VoteSet { votes: vec![Vec::new(); n], tally: HashMap::new(), total: 0 }
    }

    /// True when this exact vote is held.
    pub(crate) fn contains(&self, index: usize, vote: &SignedVote) -> bool {
        self.votes.get(index).is_some_and(|v| v.contains(vote))
    }

    fn add(&mut self, index: usize, power: u64, vote: SignedVote) -> Added<SignedVote> {
        let Some(held) = self.votes.get_mut(index) else {
            return Added::Duplicate;
        };
        match held.first() {
            // Same value: a duplicate even if the signature bytes differ.
            Some(first) if first.block_hash == vote.block_hash => Added::Duplicate,
            Some(first) => Added::Conflict(first.clone()),
            None => {
                *self.tally.entry(vote.block_hash).or_insert(0) += u128::from(power);
                self.total += u128::from(power);
                held.push(vote);
                Added::New
            }
        }
    }

    /// Counts an equivocating vote for its value (see the type's documentation); false when
    /// the validator already counts for that value or has no first vote.
    pub(crate) fn add_equivocation(&mut self, index: usize, power: u64, vote: SignedVote) -> bool {
        let Some(held) = self.votes.get_mut(index) else {
            return false;
        };
        if held.is_empty() || held.iter().any(|v| v.block_hash == vote.block_hash) {
            return false;
        }
        *self.tally.entry(vote.block_hash).or_insert(0) += u128::from(power);
        held.push(vote);
        true
    }

    /// Power of the votes for `value`.
    pub(crate) fn power_for(&self, value: &Option<BlockHash>) -> u128 {
        self.tally.get(value).copied().unwrap_or(0)
    }

    /// Power of all voters.
    pub(crate) fn total(&self) -> u128 {
        self.total
    }

    /// The value (possibly nil) that holds >2/3 of the power, if any: the lowest such hash
    /// when equivocations make several (nil first), so every node picks the same.
    pub(crate) fn quorum_value(&self, set: &ValidatorSet) -> Option<Option<BlockHash>> {
        self.tally.iter().filter(|(_, &p)| set.has_two_thirds(p)).map(|(v, _)| *v).min()
    }

    /// The votes for `value` in validator-index order (at most one per validator).
    pub(crate) fn votes_for<'a>(&'a self, value: &'a Option<BlockHash>) -> impl Iterator<Item = &'a SignedVote> + 'a {
        self.votes.iter().filter_map(move |held| held.iter().find(|v| v.block_hash == *value))
    }

    /// Every vote held.
    pub(crate) fn all(&self) -> impl Iterator<Item = &SignedVote> {
        self.votes.iter().flatten()
    }
}

/// Everything received for one round.
#[derive(Debug, Clone)]
pub(crate) struct RoundMessages {
    /// The proposal from the round's proposer (first one wins).
    pub(crate) proposal: Option<SignedProposal>,
    /// Prevotes.
    pub(crate) prevotes: VoteSet,
    /// Precommits.
    pub(crate) precommits: VoteSet,
    /// Validators that sent any message in this round.
    senders: Vec<bool>,
    /// Their power.
    sender_power: u128,
}

impl RoundMessages {
    fn new(n: usize) -> Self {
        RoundMessages {
            proposal: None,
            prevotes: VoteSet::new(n),
            precommits: VoteSet::new(n),
            senders: vec![false; n],
            sender_power: 0,
        }
    }

    /// The votes of `kind`.
    pub(crate) fn votes(&self, kind: VoteKind) -> &VoteSet {
        match kind {
            VoteKind::Prevote => &self.prevotes,
            VoteKind::Precommit => &self.precommits,
        }
    }

    /// Power of the validators that sent anything in this round.
    pub(crate) fn sender_power(&self) -> u128 {
        self.sender_power
    }

    /// True when the validator sent anything in this round.
    pub(crate) fn has_sender(&self, index: usize) -> bool {
        self.senders.get(index).copied().unwrap_or(false)
    }

    fn note_sender(&mut self, index: usize, power: u64) {
        if let Some(s) = self.senders.get_mut(index) {
            if !*s {
                *s = true;
                self.sender_power += u128::from(power);
            }
        }
    }
}

/// All rounds of one height.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeightMessages {
    rounds: BTreeMap<u32, RoundMessages>,
}

impl HeightMessages {
    /// The messages of `round`, if any arrived.
    pub(crate) fn round(&self, round: u32) -> Option<&RoundMessages> {
        self.rounds.get(&round)
    }

    /// All rounds with messages, lowest first.
    pub(crate) fn rounds(&self) -> impl DoubleEndedIterator<Item = (&u32, &RoundMessages)> {
        self.rounds.iter()
    }

    fn round_mut(&mut self, round: u32, n: usize) -> &mut RoundMessages {
        self.rounds.entry(round).or_insert_with(|| RoundMessages::new(n))
    }

    /// Adds a vote from validator `index` (signature already checked).
    pub(crate) fn add_vote(&mut self, set: &ValidatorSet, index: usize, vote: SignedVote) -> Added<SignedVote> {
        let power = set.power(index);
        let r = self.round_mut(vote.round, set.len());
        let added = match vote.kind {
            VoteKind::Prevote => r.prevotes.add(index, power, vote),
            VoteKind::Precommit => r.precommits.add(index, power, vote),
        };
        if added == Added::New {
            r.note_sender(index, power);
        }
        added
    }

    /// Adds a proposal from validator `index`, the round's proposer (signature and proposer
    /// already checked).
    pub(crate) fn add_proposal(
        &mut self,
        set: &ValidatorSet,
        index: usize,
        proposal: SignedProposal,
    ) -> Added<SignedProposal> {
        let power = set.power(index);
        let r = self.round_mut(proposal.round, set.len());
        match &r.proposal {
            Some(existing)
                if (existing.block_hash, existing.pol_round) == (proposal.block_hash, proposal.pol_round) =>
            {
                Added::Duplicate
            }
            Some(existing) => Added::Conflict(existing.clone()),
            None => {
                r.proposal = Some(proposal);
                r.note_sender(index, power);
                Added::New
            }
        }
    }

    /// True when this exact message is already held.
    pub(crate) fn contains_vote(&self, index: usize, vote: &SignedVote) -> bool {
        self.rounds.get(&vote.round).is_some_and(|r| r.votes(vote.kind).contains(index, vote))
    }

    /// Counts an equivocating vote for its value (see [`VoteSet`]).
    pub(crate) fn add_equivocation(&mut self, set: &ValidatorSet, index: usize, vote: SignedVote) -> bool {
        let power = set.power(index);
        let r = self.round_mut(vote.round, set.len());
        match vote.kind {
            VoteKind::Prevote => r.prevotes.add_equivocation(index, power, vote),
            VoteKind::Precommit => r.precommits.add_equivocation(index, power, vote),
        }
    }

    /// True when some round holds a proposal for `hash`.
    pub(crate) fn is_proposed(&self, hash: &BlockHash) -> bool {
        self.rounds.values().any(|r| r.proposal.as_ref().is_some_and(|p| p.block_hash == *hash))
    }

    /// Every message held, round by round: proposal, prevotes, precommits.
    pub(crate) fn all_messages(&self) -> Vec<crate::message::SignedMessage> {
        let mut out = Vec::new();
        for r in self.rounds.values() {
            out.extend(r.proposal.clone().map(Into::into));
            out.extend(r.prevotes.all().cloned().map(Into::into));
            out.extend(r.precommits.all().cloned().map(Into::into));
        }
        out
    }

    /// True when this exact proposal is already held.
    pub(crate) fn contains_proposal(&self, proposal: &SignedProposal) -> bool {
        self.rounds.get(&proposal.round).and_then(|r| r.proposal.as_ref()).is_some_and(|p| p == proposal)
    }

    /// Number of distinct rounds above `round` in which validator `index` sent something.
    pub(crate) fn future_rounds_of(&self, index: usize, round: u32) -> usize {
        self.rounds.range(round.saturating_add(1)..).filter(|(_, r)| r.has_sender(index)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::Validator;
    use ed25519_dalek::SigningKey;

    fn keys() -> Vec<SigningKey> {
        (1..=4u8).map(|i| SigningKey::from_bytes(&[i; 32])).collect()
    }

    fn set(keys: &[SigningKey]) -> ValidatorSet {
        ValidatorSet::new(
            keys.iter().map(|k| Validator { public_key: k.verifying_key().to_bytes(), power: 1 }).collect(),
        )
        .unwrap()
    }

    #[test]
    fn tallies_and_quorum() {
        let k = keys();
        let s = set(&k);
        let mut h = HeightMessages::default();
        let v = |i: usize, hash| SignedVote::sign("c", &k[i], 1, 0, VoteKind::Prevote, hash);
        assert_eq!(h.add_vote(&s, 0, v(0, Some([1; 32]))), Added::New);
        assert_eq!(h.add_vote(&s, 0, v(0, Some([1; 32]))), Added::Duplicate);
        assert!(matches!(h.add_vote(&s, 0, v(0, None)), Added::Conflict(_)));
        h.add_vote(&s, 1, v(1, Some([1; 32])));
        let r = h.round(0).unwrap();
        assert_eq!(r.prevotes.quorum_value(&s), None);
        h.add_vote(&s, 2, v(2, None));
        h.add_vote(&s, 3, v(3, Some([1; 32])));
        let r = h.round(0).unwrap();
        assert_eq!(r.prevotes.quorum_value(&s), Some(Some([1; 32])));
        assert_eq!(r.prevotes.total(), 4);
        assert_eq!(r.prevotes.power_for(&None), 1);
        assert_eq!(r.sender_power(), 4);
        let order: Vec<_> = r.prevotes.votes_for(&Some([1; 32])).map(|v| v.validator).collect();
        assert_eq!(
            order,
            vec![s.get(0).unwrap().public_key, s.get(1).unwrap().public_key, s.get(3).unwrap().public_key]
        );
    }

    #[test]
    fn proposals_first_wins_and_future_rounds_counted() {
        let k = keys();
        let s = set(&k);
        let mut h = HeightMessages::default();
        let p1 = SignedProposal::sign("c", &k[1], 1, 3, [1; 32], None);
        let p2 = SignedProposal::sign("c", &k[1], 1, 3, [2; 32], None);
        assert_eq!(h.add_proposal(&s, 1, p1.clone()), Added::New);
        assert!(h.contains_proposal(&p1));
        assert_eq!(h.add_proposal(&s, 1, p2), Added::Conflict(p1));
        h.add_vote(&s, 1, SignedVote::sign("c", &k[1], 1, 5, VoteKind::Prevote, None));
        assert_eq!(h.future_rounds_of(1, 0), 2);
        assert_eq!(h.future_rounds_of(1, 3), 1);
        assert_eq!(h.future_rounds_of(0, 0), 0);
    }
}
