//! Unit tests of the core, driving one node by hand with messages signed by the others.

use ed25519_dalek::SigningKey;

use super::*;
use crate::error::Rejection;
use crate::evidence::Evidence;
use crate::message::{SignedProposal, SignedVote, VoteKind};
use crate::validator::{Validator, ValidatorSet};

const CHAIN: &str = "tally-test";

struct Fixture {
    keys: Vec<SigningKey>,
    set: ValidatorSet,
}

impl Fixture {
    fn new(n: u8) -> Self {
        let keys: Vec<SigningKey> = (1..=n).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let set = ValidatorSet::new(
            keys.iter().map(|k| Validator { public_key: k.verifying_key().to_bytes(), power: 1 }).collect(),
        )
        .unwrap();
        Fixture { keys, set }
    }

    fn config(&self, i: usize) -> ConsensusConfig {
        ConsensusConfig::new(CHAIN, self.set.clone(), Some(self.keys[i].clone()))
    }

    /// Node `i`, started at height 1.
    fn node(&self, i: usize) -> (Consensus, Vec<Output>) {
        let mut c = Consensus::new(self.config(i)).unwrap();
        let out = c.handle(Input::StartHeight { height: 1 });
        (c, out)
    }

    fn key_of_proposer(&self, height: u64, round: u32) -> &SigningKey {
        &self.keys[self.set.proposer(height, round)]
    }

    fn proposal(&self, height: u64, round: u32, hash: [u8; 32], pol: Option<u32>) -> Input {
        let k = self.key_of_proposer(height, round);
        Input::Proposal(SignedProposal::sign(CHAIN, k, height, round, hash, pol))
    }

    fn vote(&self, i: usize, round: u32, kind: VoteKind, hash: Option<[u8; 32]>) -> Input {
        Input::Vote(SignedVote::sign(CHAIN, &self.keys[i], 1, round, kind, hash))
    }
}

fn broadcasts(out: &[Output]) -> Vec<SignedMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn votes(out: &[Output]) -> Vec<(VoteKind, Option<[u8; 32]>)> {
    broadcasts(out)
        .into_iter()
        .filter_map(|m| match m {
            SignedMessage::Vote(v) => Some((v.kind, v.block_hash)),
            _ => None,
        })
        .collect()
}

/// Every broadcast is immediately preceded by a persist that already contains it.
fn assert_persist_before_broadcast(out: &[Output]) {
    for (i, o) in out.iter().enumerate() {
        if let Output::Broadcast(m) = o {
            match i.checked_sub(1).map(|j| &out[j]) {
                Some(Output::Persist(s)) => assert!(s.signed_messages.contains(m)),
                other => panic!("broadcast not preceded by persist: {other:?}"),
            }
        }
    }
}

#[test]
fn single_validator_decides_its_own_block() {
    let f = Fixture::new(1);
    let (mut c, out) = f.node(0);
    assert!(out.contains(&Output::RequestBlock { height: 1, round: 0 }));
    let out = c.handle(Input::ProposeBlock { height: 1, round: 0, block_hash: [7; 32] });
    assert_persist_before_broadcast(&out);
    assert_eq!(broadcasts(&out).len(), 3);
    let decided = out.iter().find_map(|o| match o {
        Output::Decided { certificate, .. } => Some(certificate.clone()),
        _ => None,
    });
    let cert = decided.expect("decided");
    assert_eq!(cert.block_hash, [7; 32]);
    assert_eq!(cert.verify(CHAIN, &f.set), Ok(()));
    assert!(c.is_decided());
    let out = c.handle(Input::StartHeight { height: 2 });
    assert!(out.contains(&Output::RequestBlock { height: 2, round: 0 }));
}

#[test]
fn follows_a_round_and_decides_with_certificate() {
    let f = Fixture::new(4);
    // Proposer of (1, 0) is validator 0; run node 1.
    assert_eq!(f.set.proposer(1, 0), 0);
    let (mut c, out) = f.node(1);
    assert!(out.iter().any(|o| matches!(o, Output::ScheduleTimeout { step: TimeoutStep::Propose, .. })));
    let out = c.handle(f.proposal(1, 0, [9; 32], None));
    assert_eq!(out, vec![Output::ValidateBlock { height: 1, round: 0, block_hash: [9; 32] }]);
    let out = c.handle(Input::BlockVerdict { height: 1, block_hash: [9; 32], valid: true });
    assert_persist_before_broadcast(&out);
    assert_eq!(votes(&out), vec![(VoteKind::Prevote, Some([9; 32]))]);
    c.handle(f.vote(0, 0, VoteKind::Prevote, Some([9; 32])));
    let out = c.handle(f.vote(2, 0, VoteKind::Prevote, Some([9; 32])));
    // Line 34 and line 36: lock and precommit.
    assert_eq!(votes(&out), vec![(VoteKind::Precommit, Some([9; 32]))]);
    assert_eq!(c.persisted_state().locked, Some((0, [9; 32])));
    c.handle(f.vote(0, 0, VoteKind::Precommit, Some([9; 32])));
    let out = c.handle(f.vote(3, 0, VoteKind::Precommit, Some([9; 32])));
    let cert = out
        .iter()
        .find_map(|o| match o {
            Output::Decided { certificate, .. } => Some(certificate.clone()),
            _ => None,
        })
        .unwrap();
    let signers: Vec<_> = cert.signatures.iter().map(|s| s.validator).collect();
    let expect: Vec<_> = [0, 1, 3].iter().map(|&i| f.set.get(i).unwrap().public_key).collect();
    assert_eq!(signers, expect);
    assert_eq!(cert.verify(CHAIN, &f.set), Ok(()));
}

#[test]
fn decides_on_precommits_without_the_proposal() {
    let f = Fixture::new(4);
    let (mut c, _) = f.node(1);
    for i in [0, 2] {
        c.handle(f.vote(i, 0, VoteKind::Precommit, Some([5; 32])));
    }
    let out = c.handle(f.vote(3, 0, VoteKind::Precommit, Some([5; 32])));
    assert!(out.iter().any(|o| matches!(o, Output::Decided { block_hash, .. } if *block_hash == [5; 32])));
}

#[test]
fn rejects_bad_messages_and_ignores_duplicates() {
    let f = Fixture::new(4);
    let (mut c, _) = f.node(1);
    // Wrong proposer: validator 2 does not propose in (1, 0).
    let bad = Input::Proposal(SignedProposal::sign(CHAIN, &f.keys[2], 1, 0, [1; 32], None));
    assert!(matches!(c.handle(bad)[..], [Output::Rejected(Rejection::WrongProposer { .. })]));
    // Unknown validator.
    let stranger = SigningKey::from_bytes(&[99; 32]);
    let v = SignedVote::sign(CHAIN, &stranger, 1, 0, VoteKind::Prevote, None);
    assert!(matches!(c.handle(Input::Vote(v))[..], [Output::Rejected(Rejection::UnknownValidator { .. })]));
    // Bad signature.
    let mut v = SignedVote::sign(CHAIN, &f.keys[0], 1, 0, VoteKind::Prevote, None);
    v.signature[3] ^= 1;
    let out = c.handle(Input::Vote(v));
    assert!(matches!(out[..], [Output::Rejected(ref r @ Rejection::InvalidSignature { .. })] if r.is_misbehaviour()));
    // Other chain.
    let v = SignedVote::sign("other", &f.keys[0], 1, 0, VoteKind::Prevote, None);
    assert!(matches!(c.handle(Input::Vote(v))[..], [Output::Rejected(Rejection::InvalidSignature { .. })]));
    // Stale and too far ahead.
    let v = SignedVote::sign(CHAIN, &f.keys[0], 9, 0, VoteKind::Prevote, None);
    assert!(matches!(
        c.handle(Input::Vote(v))[..],
        [Output::Rejected(Rejection::TooFarAhead { height: 9, current: 1 })]
    ));
    c.handle(Input::StartHeight { height: 3 });
    let v = SignedVote::sign(CHAIN, &f.keys[0], 2, 0, VoteKind::Prevote, None);
    let out = c.handle(Input::Vote(v));
    assert!(matches!(out[..], [Output::Rejected(ref r @ Rejection::Stale { .. })] if !r.is_misbehaviour()));
    // Duplicates produce nothing.
    let v = Input::Vote(SignedVote::sign(CHAIN, &f.keys[0], 3, 0, VoteKind::Prevote, None));
    assert!(c.handle(v.clone()).is_empty());
    assert!(c.handle(v).is_empty());
}

#[test]
fn equivocation_yields_evidence_once() {
    let f = Fixture::new(4);
    let (mut c, _) = f.node(1);
    c.handle(f.vote(2, 0, VoteKind::Prevote, Some([1; 32])));
    let out = c.handle(f.vote(2, 0, VoteKind::Prevote, Some([2; 32])));
    match &out[..] {
        [Output::Evidence(e)] => {
            assert_eq!(*e.validator(), f.set.get(2).unwrap().public_key);
            assert_eq!(e.type_byte(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.handle(f.vote(2, 0, VoteKind::Prevote, None)).is_empty());
    // Two proposals from the proposer.
    c.handle(f.proposal(1, 0, [1; 32], None));
    let out = c.handle(f.proposal(1, 0, [2; 32], None));
    assert!(matches!(out[..], [Output::Evidence(Evidence::DuplicateProposal { .. })]));
}

#[test]
fn locked_node_refuses_other_value_without_pol_and_accepts_with_pol() {
    let f = Fixture::new(4);
    let (mut c, _) = f.node(3);
    // Round 0: lock on A.
    c.handle(f.proposal(1, 0, [0xa; 32], None));
    c.handle(Input::BlockVerdict { height: 1, block_hash: [0xa; 32], valid: true });
    c.handle(f.vote(0, 0, VoteKind::Prevote, Some([0xa; 32])));
    c.handle(f.vote(1, 0, VoteKind::Prevote, Some([0xa; 32])));
    assert_eq!(c.persisted_state().locked, Some((0, [0xa; 32])));
    // Round 0 ends without decision.
    for i in [0, 1] {
        c.handle(f.vote(i, 0, VoteKind::Precommit, None));
    }
    c.handle(Input::Timeout { height: 1, round: 0, step: TimeoutStep::Precommit });
    assert_eq!(c.round(), 1);
    // Round 1: a fresh B without POL -> prevote nil (line 22).
    c.handle(f.proposal(1, 1, [0xb; 32], None));
    let out = c.handle(Input::BlockVerdict { height: 1, block_hash: [0xb; 32], valid: true });
    assert_eq!(votes(&out), vec![(VoteKind::Prevote, None)]);
    // Round 1 ends; round 2 proposes B with a POL from round 1 (line 28).
    for i in [0, 1, 2] {
        c.handle(f.vote(i, 1, VoteKind::Prevote, Some([0xb; 32])));
    }
    for i in [0, 1] {
        c.handle(f.vote(i, 1, VoteKind::Precommit, None));
    }
    c.handle(Input::Timeout { height: 1, round: 1, step: TimeoutStep::Precommit });
    assert_eq!(c.round(), 2);
    let out = c.handle(f.proposal(1, 2, [0xb; 32], Some(1)));
    assert_eq!(votes(&out), vec![(VoteKind::Prevote, Some([0xb; 32]))]);
}

#[test]
fn round_skip_on_f_plus_one_messages() {
    let f = Fixture::new(4);
    let (mut c, _) = f.node(1);
    c.handle(f.vote(0, 5, VoteKind::Prevote, None));
    assert_eq!(c.round(), 0);
    c.handle(f.vote(2, 5, VoteKind::Precommit, None));
    assert_eq!(c.round(), 5);
}

#[test]
fn future_heights_are_buffered_and_replayed() {
    let f = Fixture::new(4);
    let (mut c, _) = f.node(1);
    for i in [0, 2, 3] {
        let v = SignedVote::sign(CHAIN, &f.keys[i], 2, 0, VoteKind::Precommit, Some([2; 32]));
        assert!(c.handle(Input::Vote(v)).is_empty());
    }
    let out = c.handle(Input::StartHeight { height: 2 });
    assert!(out.iter().any(|o| matches!(o, Output::Decided { height: 2, .. })));
}

#[test]
fn future_buffer_is_bounded_per_validator() {
    let f = Fixture::new(4);
    let mut cfg = f.config(1);
    cfg.future_messages_per_validator = 2;
    let mut c = Consensus::new(cfg).unwrap();
    c.handle(Input::StartHeight { height: 1 });
    let v = |r| Input::Vote(SignedVote::sign(CHAIN, &f.keys[0], 2, r, VoteKind::Prevote, None));
    assert!(c.handle(v(0)).is_empty());
    assert!(c.handle(v(1)).is_empty());
    assert!(matches!(c.handle(v(2))[..], [Output::Rejected(Rejection::BufferFull { .. })]));
}

#[test]
fn restore_rebroadcasts_and_never_signs_conflicting() {
    let f = Fixture::new(4);
    let (mut c, _) = f.node(1);
    // Prevote nil on timeout, then crash.
    let out = c.handle(Input::Timeout { height: 1, round: 0, step: TimeoutStep::Propose });
    let state = match &out[0] {
        Output::Persist(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    let sent = broadcasts(&out);
    let (mut r, out) = Consensus::restore(f.config(1), state.clone()).unwrap();
    assert_eq!(broadcasts(&out), sent);
    // The proposal now arrives: the restored node must not prevote again in round 0.
    r.handle(f.proposal(1, 0, [3; 32], None));
    let out = r.handle(Input::BlockVerdict { height: 1, block_hash: [3; 32], valid: true });
    assert!(votes(&out).is_empty());
    // Even a restore that claims an earlier step refuses to sign at or below last_signed.
    let mut rewound = state;
    rewound.step = Step::Propose;
    let (mut r, _) = Consensus::restore(f.config(1), rewound).unwrap();
    r.handle(f.proposal(1, 0, [3; 32], None));
    let out = r.handle(Input::BlockVerdict { height: 1, block_hash: [3; 32], valid: true });
    assert!(votes(&out).is_empty());
}

#[test]
fn restored_proposer_without_proposal_requests_a_block() {
    let f = Fixture::new(4);
    let (mut c, _) = f.node(0);
    let out = c.handle(Input::ProposeBlock { height: 1, round: 0, block_hash: [1; 32] });
    let state = match &out[0] {
        Output::Persist(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(state.step, Step::Propose);
    let (_, out) = Consensus::restore(f.config(0), state).unwrap();
    // Re-sends its proposal, does not ask for (or sign) another block, prevotes its own.
    assert!(!out.iter().any(|o| matches!(o, Output::RequestBlock { .. })));
    let proposals = broadcasts(&out).into_iter().filter(|m| matches!(m, SignedMessage::Proposal(_))).count();
    assert_eq!(proposals, 1);
}

#[test]
fn full_node_follows_without_signing() {
    let f = Fixture::new(4);
    let mut c = Consensus::new(ConsensusConfig::new(CHAIN, f.set.clone(), None)).unwrap();
    c.handle(Input::StartHeight { height: 1 });
    let out = c.handle(Input::Timeout { height: 1, round: 0, step: TimeoutStep::Propose });
    assert!(broadcasts(&out).is_empty());
    for i in [0, 1, 2] {
        c.handle(f.vote(i, 0, VoteKind::Precommit, Some([4; 32])));
    }
    assert!(c.is_decided());
}

#[test]
fn start_height_only_moves_forward() {
    let f = Fixture::new(4);
    let mut c = Consensus::new(f.config(1)).unwrap();
    assert!(c.handle(Input::StartHeight { height: 0 }).is_empty());
    assert!(!c.handle(Input::StartHeight { height: 5 }).is_empty());
    assert!(c.handle(Input::StartHeight { height: 4 }).is_empty());
    assert!(c.handle(Input::StartHeight { height: 5 }).is_empty());
    assert_eq!(c.height(), 5);
}
