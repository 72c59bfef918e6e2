//! Batch verification never changes a verdict (SPEC §2): the "Taming the many EdDSAs" edge
//! cases and freshly made mixed-order `A` and `R` get the same answer from `verify_strict` alone
//! and from the batch path, alone or hidden among valid signatures.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::Value;
use sha2::{Digest, Sha512};
use tally_ledger::crypto::{verify_strict, SignatureVerifier, SignedMessage};
use tally_ledger::PublicKey;

struct Case {
    key: PublicKey,
    message: Vec<u8>,
    signature: [u8; 64],
}

fn taming_cases() -> Vec<Case> {
    let vectors: Value = serde_json::from_str(include_str!("vectors/eddsa_edge_cases.json")).unwrap();
    vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            key: PublicKey(hex::decode(c["pub_key"].as_str().unwrap()).unwrap().try_into().unwrap()),
            message: hex::decode(c["message"].as_str().unwrap()).unwrap(),
            signature: hex::decode(c["signature"].as_str().unwrap()).unwrap().try_into().unwrap(),
        })
        .collect()
}

fn challenge(r: &EdwardsPoint, a: &EdwardsPoint, message: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r.compress().as_bytes());
    h.update(a.compress().as_bytes());
    h.update(message);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn scalar(seed: u8) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&[seed; 64])
}

fn signature(r: &EdwardsPoint, s: &Scalar) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r.compress().as_bytes());
    out[32..].copy_from_slice(s.as_bytes());
    out
}

/// Signatures with torsion components in `A` or `R`, made with the raw group operations.
fn mixed_order_cases() -> Vec<Case> {
    let torsion = EIGHT_TORSION[1];
    let message = b"mixed order".to_vec();
    let mut cases = Vec::new();
    for seed in 1..=4u8 {
        let a = scalar(seed);
        let r = scalar(seed + 100);
        // Mixed R: R = rB + T. Only a cofactored check would accept it.
        let big_a = EdwardsPoint::mul_base(&a);
        let big_r = EdwardsPoint::mul_base(&r) + torsion;
        let s = r + challenge(&big_r, &big_a, &message) * a;
        cases.push(Case {
            key: PublicKey(big_a.compress().0),
            message: message.clone(),
            signature: signature(&big_r, &s),
        });
        // Mixed A: A = aB + T with R = rB. Fails unless kT happens to vanish.
        let mixed_a = EdwardsPoint::mul_base(&a) + torsion;
        let plain_r = EdwardsPoint::mul_base(&r);
        let s = r + challenge(&plain_r, &mixed_a, &message) * a;
        cases.push(Case {
            key: PublicKey(mixed_a.compress().0),
            message: message.clone(),
            signature: signature(&plain_r, &s),
        });
        // Mixed A and R whose torsion parts cancel: R = rB - tT with k = t (mod 8), so the
        // cofactorless equation holds and verify_strict accepts.
        'search: for attempt in 0..200u8 {
            let r = scalar(seed.wrapping_mul(31).wrapping_add(attempt));
            for t in 0..8u8 {
                let big_r = EdwardsPoint::mul_base(&r) - Scalar::from(t) * torsion;
                let k = challenge(&big_r, &mixed_a, &message);
                if k.as_bytes()[0] % 8 == t {
                    let s = r + k * a;
                    cases.push(Case {
                        key: PublicKey(mixed_a.compress().0),
                        message: message.clone(),
                        signature: signature(&big_r, &s),
                    });
                    break 'search;
                }
            }
        }
    }
    cases
}

fn valid_cases(n: u8) -> Vec<Case> {
    (0..n)
        .map(|i| {
            let key = SigningKey::from_bytes(&[i.wrapping_add(50); 32]);
            let message = vec![i; 20];
            Case { key: PublicKey::from(&key.verifying_key()), signature: key.sign(&message).to_bytes(), message }
        })
        .collect()
}

fn single_verdicts(cases: &[Case]) -> Vec<bool> {
    cases.iter().map(|c| verify_strict(&c.key, &c.message, &c.signature).is_ok()).collect()
}

fn batch_verdicts(cases: &[Case]) -> Vec<bool> {
    let items: Vec<SignedMessage<'_>> = cases
        .iter()
        .map(|c| SignedMessage { public_key: &c.key, message: &c.message, signature: &c.signature })
        .collect();
    SignatureVerifier::new().verify_all(&items)
}

fn assert_same_verdicts(edge: Vec<Case>) {
    // Each case alone through the batch path.
    for case in &edge {
        let single = single_verdicts(std::slice::from_ref(case));
        assert_eq!(batch_verdicts(std::slice::from_ref(case)), single);
    }
    // All of them among valid signatures, in one batch.
    let mut all = valid_cases(16);
    all.extend(edge);
    all.extend(valid_cases(8));
    assert_eq!(batch_verdicts(&all), single_verdicts(&all));
    assert!(single_verdicts(&all)[..16].iter().all(|ok| *ok));
}

#[test]
fn taming_the_many_eddsas_vectors_get_identical_verdicts() {
    let cases = taming_cases();
    assert_eq!(cases.len(), 10);
    // verify_strict refuses every small-order or non-canonical case; what it accepts is
    // whatever the cofactorless equation says, and the batch path must agree either way.
    assert_same_verdicts(cases);
}

#[test]
fn mixed_order_keys_and_commitments_get_identical_verdicts() {
    let cases = mixed_order_cases();
    assert_eq!(cases.len(), 12, "every mixed case was constructed");
    let verdicts = single_verdicts(&cases);
    // Per seed: mixed R (always refused), mixed A (refused unless kT vanishes), cancelling
    // torsion (accepted by verify_strict, which is cofactorless).
    for seed in 0..4 {
        assert!(!verdicts[3 * seed], "mixed R accepted: {verdicts:?}");
        assert!(verdicts[3 * seed + 2], "cancelling torsion refused: {verdicts:?}");
    }
    assert_same_verdicts(cases);
}
