//! Property tests of the decoders: random bytes never panic, encodings round-trip, and any
//! truncation or extension of a valid encoding is rejected.

use proptest::prelude::*;
use tally_consensus::{
    CommitCertificate, CommitSignature, LastSigned, PersistedState, SignedMessage, SignedProposal, SignedVote, Step,
    VoteKind, MAX_ROUND,
};

fn vote() -> impl Strategy<Value = SignedVote> {
    (
        any::<u64>(),
        0..=MAX_ROUND,
        any::<bool>(),
        proptest::option::of(any::<[u8; 32]>()),
        any::<[u8; 32]>(),
        proptest::collection::vec(any::<u8>(), 64),
    )
        .prop_map(|(height, round, pre, block_hash, validator, sig)| SignedVote {
            height,
            round,
            kind: if pre { VoteKind::Prevote } else { VoteKind::Precommit },
            block_hash,
            validator,
            signature: sig.try_into().unwrap(),
        })
}

fn proposal() -> impl Strategy<Value = SignedProposal> {
    (any::<u64>(), 1..=MAX_ROUND, any::<[u8; 32]>(), any::<Option<u32>>(), any::<[u8; 32]>(), any::<[u8; 32]>())
        .prop_map(|(height, round, block_hash, pol, proposer, half)| SignedProposal {
            height,
            round,
            block_hash,
            pol_round: pol.map(|p| p % round),
            proposer,
            signature: [half, half].concat().try_into().unwrap(),
        })
}

fn message() -> impl Strategy<Value = SignedMessage> {
    prop_oneof![vote().prop_map(SignedMessage::Vote), proposal().prop_map(SignedMessage::Proposal)]
}

fn certificate() -> impl Strategy<Value = CommitCertificate> {
    (
        any::<u64>(),
        0..=MAX_ROUND,
        any::<[u8; 32]>(),
        proptest::collection::vec((any::<[u8; 32]>(), any::<[u8; 32]>()), 0..8),
    )
        .prop_map(|(height, round, block_hash, sigs)| CommitCertificate {
            height,
            round,
            block_hash,
            signatures: sigs
                .into_iter()
                .map(|(validator, half)| CommitSignature {
                    validator,
                    signature: [half, half].concat().try_into().unwrap(),
                })
                .collect(),
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![Just(Step::Propose), Just(Step::Prevote), Just(Step::Precommit)]
}

fn persisted() -> impl Strategy<Value = PersistedState> {
    (
        any::<u64>(),
        any::<u32>(),
        step(),
        any::<Option<(u32, [u8; 32])>>(),
        any::<Option<(u32, [u8; 32])>>(),
        proptest::option::of((any::<u64>(), any::<u32>(), step())),
        proptest::collection::vec(message(), 0..6),
    )
        .prop_map(|(height, round, step, locked, valid, last, signed_messages)| PersistedState {
            height,
            round,
            step,
            locked,
            valid,
            last_signed: last.map(|(height, round, step)| LastSigned { height, round, step }),
            signed_messages,
        })
}

/// Every strict prefix and every one-byte extension of `bytes` is rejected by `decode`.
fn assert_exact<T, E>(bytes: &[u8], decode: impl Fn(&[u8]) -> Result<T, E>) {
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes accepted");
    }
    let mut long = bytes.to_vec();
    long.push(0);
    assert!(decode(&long).is_err(), "trailing byte accepted");
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedMessage::decode(&bytes);
        let _ = SignedVote::decode(&bytes);
        let _ = SignedProposal::decode(&bytes);
        let _ = CommitCertificate::decode(&bytes);
        let _ = PersistedState::decode(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(m in message(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = m.encode();
        let i = at % bytes.len();
        bytes[i] = byte;
        let _ = SignedMessage::decode(&bytes);
    }

    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.encode();
        prop_assert_eq!(SignedMessage::decode(&bytes), Ok(m.clone()));
        assert_exact(&bytes, SignedMessage::decode);
        match &m {
            SignedMessage::Vote(v) => prop_assert_eq!(SignedVote::decode(&v.encode()), Ok(v.clone())),
            SignedMessage::Proposal(p) => prop_assert_eq!(SignedProposal::decode(&p.encode()), Ok(p.clone())),
        }
    }

    #[test]
    fn certificates_round_trip(c in certificate()) {
        let bytes = c.encode();
        prop_assert_eq!(CommitCertificate::decode(&bytes), Ok(c));
        assert_exact(&bytes, CommitCertificate::decode);
    }

    #[test]
    fn persisted_states_round_trip(s in persisted()) {
        let bytes = s.encode();
        prop_assert_eq!(PersistedState::decode(&bytes), Ok(s));
        assert_exact(&bytes, PersistedState::decode);
    }
}
