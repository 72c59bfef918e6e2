//! The `upon` rules and timeouts of Algorithm 1 ("The latest gossip on BFT consensus",
//! Buchman, Kwon, Milosevic 2018). Line numbers refer to the paper's Algorithm 1.
//!
//! Rules are evaluated after every input until none fires (each rule changes the step or a
//! "first time" flag when it fires, so this terminates).
//!
//! One deliberate difference: line 49 requires the proposal and `valid(v)`. Because the
//! core works on hashes, it decides on >2/3 precommits for a hash alone: that quorum contains
//! honest validators that saw the proposal and judged the block valid, and the node fetches
//! the block by sync when it never received it.

use super::Consensus;
use crate::certificate::{CommitCertificate, CommitSignature};
use crate::io::{Output, TimeoutStep};
use crate::message::VoteKind;
use crate::persist::Step;
use crate::MAX_ROUND;

impl Consensus {
    /// Applies the rules until none fires.
    pub(super) fn apply_rules(&mut self, out: &mut Vec<Output>) {
        if !self.started {
            return;
        }
        while !self.decided {
            let fired = self.line_49_decide(out)
                || self.line_55_round_skip(out)
                || self.lines_22_28_prevote_proposal(out)
                || self.line_34_schedule_prevote_timeout(out)
                || self.line_36_lock(out)
                || self.line_44_precommit_nil(out)
                || self.line_47_schedule_precommit_timeout(out);
            if !fired {
                break;
            }
        }
    }

    /// Line 49: upon 2f+1 ⟨PRECOMMIT, h_p, r, id(v)⟩ (any round r) while decision_p[h_p] =
    /// nil: decide v, with a certificate of those precommits.
    fn line_49_decide(&mut self, out: &mut Vec<Output>) -> bool {
        let set = &self.config.validators;
        let found = self.messages.rounds().find_map(|(&round, msgs)| match msgs.precommits.quorum_value(set) {
            Some(Some(hash)) => Some((round, hash, msgs)),
            _ => None,
        });
        let Some((round, block_hash, msgs)) = found else {
            return false;
        };
        let signatures = msgs
            .precommits
            .votes_for(&Some(block_hash))
            .map(|v| CommitSignature { validator: v.validator, signature: v.signature })
            .collect();
        let certificate = CommitCertificate { height: self.height, round, block_hash, signatures };
        self.decided = true;
        out.push(Output::Decided { height: self.height, round, block_hash, certificate });
        true
    }

    /// Line 55: upon f+1 ⟨∗, h_p, round, ∗, ∗⟩ with round > round_p: StartRound(round).
    /// (The highest such round, to catch up at once.)
    fn line_55_round_skip(&mut self, out: &mut Vec<Output>) -> bool {
        let set = &self.config.validators;
        let target = self
            .messages
            .rounds()
            .rev()
            .take_while(|(&r, _)| r > self.round)
            .find(|(_, msgs)| set.has_one_third(msgs.sender_power()))
            .map(|(&r, _)| r);
        match target {
            Some(round) => {
                self.start_round(round, out);
                true
            }
            None => false,
        }
    }

    /// Lines 22 and 28, while step_p = propose, on the proposal of the current round once
    /// its verdict is known.
    fn lines_22_28_prevote_proposal(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Propose {
            return false;
        }
        let Some((hash, pol_round)) =
            self.messages.round(self.round).and_then(|r| r.proposal.as_ref()).map(|p| (p.block_hash, p.pol_round))
        else {
            return false;
        };
        let Some(&valid) = self.verdicts.get(&hash) else {
            return false;
        };
        let vote = match pol_round {
            // Line 22: ⟨PROPOSAL, h_p, round_p, v, −1⟩: prevote v if valid(v) and
            // (lockedRound_p = −1 or lockedValue_p = v), else nil.
            None => {
                let free = self.locked.is_none_or(|(_, locked)| locked == hash);
                (valid && free).then_some(hash)
            }
            // Line 28: ⟨PROPOSAL, h_p, round_p, v, vr⟩ and 2f+1 ⟨PREVOTE, h_p, vr, id(v)⟩
            // with 0 ≤ vr < round_p: prevote v if valid(v) and (lockedRound_p ≤ vr or
            // lockedValue_p = v), else nil. Without that quorum, wait (timeoutPropose).
            Some(vr) => {
                let set = &self.config.validators;
                let pol = vr < self.round
                    && self.messages.round(vr).is_some_and(|r| set.has_two_thirds(r.prevotes.power_for(&Some(hash))));
                if !pol {
                    return false;
                }
                let free = self.locked.is_none_or(|(locked_round, locked)| locked_round <= vr || locked == hash);
                (valid && free).then_some(hash)
            }
        };
        self.step = Step::Prevote;
        self.sign_vote(VoteKind::Prevote, vote, out);
        true
    }

    /// Line 34: upon 2f+1 ⟨PREVOTE, h_p, round_p, ∗⟩ while step_p = prevote for the first
    /// time: schedule OnTimeoutPrevote.
    fn line_34_schedule_prevote_timeout(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Prevote || self.prevote_timeout_scheduled {
            return false;
        }
        let total = self.messages.round(self.round).map_or(0, |r| r.prevotes.total());
        if !self.config.validators.has_two_thirds(total) {
            return false;
        }
        self.prevote_timeout_scheduled = true;
        self.schedule(TimeoutStep::Prevote, out);
        true
    }

    /// Line 36: upon ⟨PROPOSAL, h_p, round_p, v, ∗⟩ and 2f+1 ⟨PREVOTE, h_p, round_p, id(v)⟩
    /// while valid(v) and step_p ≥ prevote for the first time: if step_p = prevote, lock v
    /// and precommit it; in any case validValue_p ← v, validRound_p ← round_p.
    fn line_36_lock(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step < Step::Prevote || self.line36_done {
            return false;
        }
        let set = &self.config.validators;
        let Some(hash) = self.messages.round(self.round).and_then(|r| {
            let hash = r.proposal.as_ref()?.block_hash;
            set.has_two_thirds(r.prevotes.power_for(&Some(hash))).then_some(hash)
        }) else {
            return false;
        };
        if self.verdicts.get(&hash) != Some(&true) {
            return false;
        }
        self.line36_done = true;
        self.valid = Some((self.round, hash));
        if self.step == Step::Prevote {
            self.locked = Some((self.round, hash));
            self.step = Step::Precommit;
            self.sign_vote(VoteKind::Precommit, Some(hash), out);
        }
        true
    }

    /// Line 44: upon 2f+1 ⟨PREVOTE, h_p, round_p, nil⟩ while step_p = prevote: precommit nil.
    fn line_44_precommit_nil(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Prevote {
            return false;
        }
        let set = &self.config.validators;
        let nil_quorum =
            self.messages.round(self.round).is_some_and(|r| set.has_two_thirds(r.prevotes.power_for(&None)));
        if !nil_quorum {
            return false;
        }
        self.step = Step::Precommit;
        self.sign_vote(VoteKind::Precommit, None, out);
        true
    }

    /// Line 47: upon 2f+1 ⟨PRECOMMIT, h_p, round_p, ∗⟩ for the first time: schedule
    /// OnTimeoutPrecommit.
    fn line_47_schedule_precommit_timeout(&mut self, out: &mut Vec<Output>) -> bool {
        if self.precommit_timeout_scheduled {
            return false;
        }
        let total = self.messages.round(self.round).map_or(0, |r| r.precommits.total());
        if !self.config.validators.has_two_thirds(total) {
            return false;
        }
        self.precommit_timeout_scheduled = true;
        self.schedule(TimeoutStep::Precommit, out);
        true
    }

    /// The timeouts, lines 57–67. Stale ones (other height or round, or step already left)
    /// do nothing.
    pub(super) fn on_timeout(&mut self, height: u64, round: u32, step: TimeoutStep, out: &mut Vec<Output>) {
        if !self.started || self.decided || height != self.height || round != self.round {
            return;
        }
        match (step, self.step) {
            // Line 57: OnTimeoutPropose while step_p = propose: prevote nil.
            (TimeoutStep::Propose, Step::Propose) => {
                self.step = Step::Prevote;
                self.sign_vote(VoteKind::Prevote, None, out);
            }
            // Line 61: OnTimeoutPrevote while step_p = prevote: precommit nil.
            (TimeoutStep::Prevote, Step::Prevote) => {
                self.step = Step::Precommit;
                self.sign_vote(VoteKind::Precommit, None, out);
            }
            // Line 65: OnTimeoutPrecommit: StartRound(round_p + 1).
            (TimeoutStep::Precommit, _) if self.round < MAX_ROUND => {
                self.start_round(self.round + 1, out);
            }
            _ => {}
        }
    }
}
