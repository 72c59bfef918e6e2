//! Signature checks (SPEC §2): `verify_strict` is the verdict; batch verification only speeds it up.
//!
//! A signature may be accepted by a batch only when its public key `A` and its `R` are canonical
//! encodings of torsion-free points other than the identity, and its `S` is canonical. For such
//! signatures the cofactorless batch equation holds exactly when every single equation holds (up
//! to the 2^-128 chance of the random coefficients), so the batch can never accept what
//! `verify_strict` rejects. Every other signature, and every member of a batch that fails, is
//! checked alone with `verify_strict`.

use crate::address::PublicKey;
use crate::transfer::{Transfer, VerifiedTransfer};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};
use std::collections::HashMap;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The public key is not a valid point encoding.
    #[error("public key is not a valid ed25519 point")]
    BadPublicKey,
    /// The signature does not verify under `verify_strict`.
    #[error("signature does not verify")]
    BadSignature,
}

/// Checks `signature` on `message` under `public_key` with `verify_strict`.
pub fn verify_strict(public_key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> Result<(), VerifyError> {
    let key = StrictKey::from_bytes(public_key.as_bytes()).ok_or(VerifyError::BadPublicKey)?;
    if key.verify(message, signature) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// A public key decompressed once, for any number of strict checks.
///
/// [`StrictKey::verify`] gives exactly ed25519-dalek's `verify_strict` verdict, one square root
/// cheaper: `verify_strict` decompresses the signature's `R` only to refuse a small-order `R`,
/// then recomputes `R' = [s]B - [k]A` and compares its encoding with `R`'s bytes. An encoding
/// that matches is the canonical encoding of `R'`, so `R` is `R'` and the small-order test can be
/// made on `R'` (three doublings) after the comparison; bytes that are not a point, or not
/// canonical, never match. The tests below hold the two to the same verdicts, adversarial
/// inputs included.
#[derive(Clone, Copy)]
pub struct StrictKey {
    bytes: [u8; 32],
    minus_a: EdwardsPoint,
    weak: bool,
}

impl StrictKey {
    /// Decompresses `bytes`; `None` if they are not a point encoding.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<StrictKey> {
        let key = VerifyingKey::from_bytes(bytes).ok()?;
        Some(StrictKey { bytes: *bytes, minus_a: -key.to_edwards(), weak: key.is_weak() })
    }

    /// `verify_strict`'s verdict on `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let (r, s) = signature.split_at(32);
        let Ok(s) = <[u8; 32]>::try_from(s) else { return false };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else { return false };
        if self.weak {
            return false;
        }
        let digest: [u8; 64] =
            Sha512::new().chain_update(r).chain_update(self.bytes).chain_update(message).finalize().into();
        let k = Scalar::from_bytes_mod_order_wide(&digest);
        let expected_r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &self.minus_a, &s);
        expected_r.compress().as_bytes() == r && !expected_r.is_small_order()
    }
}

/// Checks one transfer's signature.
pub fn verify_transfer(transfer: Transfer) -> Result<VerifiedTransfer, (Transfer, VerifyError)> {
    match verify_strict(&transfer.from, &transfer.signing_bytes(), transfer.signature()) {
        Ok(()) => Ok(VerifiedTransfer::new_unchecked(transfer)),
        Err(error) => Err((transfer, error)),
    }
}

/// The largest number of public keys whose torsion verdict is remembered.
const KEY_CACHE_CAPACITY: usize = 1 << 16;

/// One signature to check: key, message, signature.
pub struct SignedMessage<'a> {
    /// The signer's public key.
    pub public_key: &'a PublicKey,
    /// The signed bytes.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a [u8; 64],
}

/// Verifies signatures in batches, behind the strict pre-checks described in the module docs.
///
/// It remembers, per public key, whether the key may take the batch path, so a sender's key is
/// decompressed and checked for torsion once.
///
/// It also keeps every valid key it has decompressed, so that checking a sender's next transfer
/// skips the square root that decompression costs (a fifth of a verification).
#[derive(Default)]
pub struct SignatureVerifier {
    batchable_keys: HashMap<[u8; 32], Option<VerifyingKey>>,
    keys: HashMap<[u8; 32], StrictKey>,
}

impl SignatureVerifier {
    /// A verifier with an empty key cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the key if it may take the batch path: a canonical, torsion-free, non-identity
    /// point. The verdict is cached.
    fn batchable_key(&mut self, public_key: &PublicKey) -> Option<VerifyingKey> {
        if let Some(verdict) = self.batchable_keys.get(public_key.as_bytes()) {
            return *verdict;
        }
        let verdict =
            strict_point(public_key.as_bytes()).and_then(|_| VerifyingKey::from_bytes(public_key.as_bytes()).ok());
        if self.batchable_keys.len() >= KEY_CACHE_CAPACITY {
            self.batchable_keys.clear();
        }
        self.batchable_keys.insert(*public_key.as_bytes(), verdict);
        verdict
    }

    /// Verifies every message; `result[i]` is exactly what `verify_strict` says of `items[i]`.
    pub fn verify_all(&mut self, items: &[SignedMessage<'_>]) -> Vec<bool> {
        let mut verdicts = vec![false; items.len()];
        let mut batch: Vec<usize> = Vec::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let key = self.batchable_key(item.public_key);
            match key {
                Some(key) if batchable_signature(item.signature) => {
                    batch.push(index);
                    keys.push(key);
                }
                _ => verdicts[index] = verify_strict(item.public_key, item.message, item.signature).is_ok(),
            }
        }
        if batch.is_empty() {
            return verdicts;
        }
        let messages: Vec<&[u8]> = batch.iter().map(|&i| items[i].message).collect();
        let signatures: Vec<Signature> = batch.iter().map(|&i| Signature::from_bytes(items[i].signature)).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            for &index in &batch {
                verdicts[index] = true;
            }
        } else {
            for &index in &batch {
                let item = &items[index];
                verdicts[index] = verify_strict(item.public_key, item.message, item.signature).is_ok();
            }
        }
        verdicts
    }

    /// Verifies transfers, each with `verify_strict`, spread over every core (rayon). On this
    /// implementation that beats the batch path, whose per-signature torsion check of `R` costs
    /// about as much as a verification (see `docs/BENCHMARKS.md`).
    pub fn verify_transfers(&mut self, transfers: Vec<Transfer>) -> Vec<Result<VerifiedTransfer, Transfer>> {
        use rayon::prelude::*;
        let keyed: Vec<(Transfer, Option<StrictKey>)> = transfers
            .into_iter()
            .map(|t| {
                let key = self.key(&t.from);
                (t, key)
            })
            .collect();
        // With a one-thread pool, handing the work to it only adds two thread switches.
        if keyed.len() < 4 || rayon::current_num_threads() == 1 {
            return keyed.into_iter().map(|(t, key)| verify_with(t, key)).collect();
        }
        keyed.into_par_iter().map(|(t, key)| verify_with(t, key)).collect()
    }

    /// The decompressed key, from the cache when this key was seen before; `None` if the bytes
    /// are not a point (such a key is not cached: it is refused whenever it comes).
    fn key(&mut self, public_key: &PublicKey) -> Option<StrictKey> {
        if let Some(key) = self.keys.get(public_key.as_bytes()) {
            return Some(*key);
        }
        let key = StrictKey::from_bytes(public_key.as_bytes())?;
        if self.keys.len() >= KEY_CACHE_CAPACITY {
            self.keys.clear();
        }
        self.keys.insert(*public_key.as_bytes(), key);
        Some(key)
    }

    /// Verifies transfers through the batch path ([`SignatureVerifier::verify_all`]).
    pub fn verify_transfers_batched(&mut self, transfers: Vec<Transfer>) -> Vec<Result<VerifiedTransfer, Transfer>> {
        let signing_bytes: Vec<Vec<u8>> = transfers.iter().map(|t| t.signing_bytes()).collect();
        let items: Vec<SignedMessage<'_>> = transfers
            .iter()
            .zip(&signing_bytes)
            .map(|(t, message)| SignedMessage { public_key: &t.from, message, signature: t.signature() })
            .collect();
        let verdicts = self.verify_all(&items);
        drop(items);
        transfers
            .into_iter()
            .zip(verdicts)
            .map(|(t, ok)| if ok { Ok(VerifiedTransfer::new_unchecked(t)) } else { Err(t) })
            .collect()
    }
}

/// `verify_strict` of one transfer under its already decompressed key (`None`: not a point).
fn verify_with(transfer: Transfer, key: Option<StrictKey>) -> Result<VerifiedTransfer, Transfer> {
    match key {
        Some(key) if key.verify(&transfer.signing_bytes(), transfer.signature()) => {
            Ok(VerifiedTransfer::new_unchecked(transfer))
        }
        _ => Err(transfer),
    }
}

/// Decompresses `bytes` if they are the canonical encoding of a torsion-free point other than
/// the identity.
fn strict_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    let canonical = point.compress().as_bytes() == bytes;
    (canonical && !point.is_identity() && is_torsion_free_vartime(&point)).then_some(point)
}

/// `[l]P = O`, computed as `[l - 1]P = -P` with variable-time arithmetic: the points checked are
/// public (keys and signature commitments), and this is about half the cost of the
/// constant-time `is_torsion_free`.
fn is_torsion_free_vartime(point: &EdwardsPoint) -> bool {
    let l_minus_one = -Scalar::ONE;
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&l_minus_one, point, &Scalar::ZERO) == -point
}

/// True if the signature's `R` passes [`strict_point`] and its `S` is a canonical scalar.
fn batchable_signature(signature: &[u8; 64]) -> bool {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    s.copy_from_slice(&signature[32..]);
    bool::from(Scalar::from_canonical_bytes(s).is_some()) && strict_point(&r).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// ed25519-dalek's own verdict, the reference.
    fn dalek_verdict(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        VerifyingKey::from_bytes(public_key)
            .is_ok_and(|key| key.verify_strict(message, &Signature::from_bytes(signature)).is_ok())
    }

    fn strict_verdict(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        StrictKey::from_bytes(public_key).is_some_and(|key| key.verify(message, signature))
    }

    /// Every encoding of a small-order point (canonical or not) and a few non-points.
    fn odd_encodings() -> Vec<[u8; 32]> {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let mut out: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|t| t.compress().to_bytes()).collect();
        for t in EIGHT_TORSION {
            // y + p, where it still fits in 255 bits, and the sign bit flipped.
            let mut bytes = t.compress().to_bytes();
            bytes[31] ^= 0x80;
            out.push(bytes);
        }
        let mut p_plus_1 = [0xff; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        out.push(p_plus_1); // y = p + 1 (non-canonical 1: the identity's y)
        out.extend((0..=255u8).map(|i| [i; 32]).filter(|b| CompressedEdwardsY(*b).decompress().is_none()).take(3));
        out
    }

    #[test]
    fn strict_key_gives_verify_stricts_verdicts() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        let mut cases: Vec<([u8; 32], Vec<u8>, [u8; 64])> = Vec::new();
        for i in 0..16u8 {
            let key = SigningKey::from_bytes(&[i + 1; 32]);
            let public = key.verifying_key().to_bytes();
            let message = vec![i; i as usize * 7];
            let good = key.sign(&message).to_bytes();
            cases.push((public, message.clone(), good));
            // Tampered message, R, and S; S + l (non-canonical); R swapped for odd encodings.
            cases.push((public, [message.as_slice(), b"x"].concat(), good));
            let mut bad_r = good;
            bad_r[3] ^= 4;
            cases.push((public, message.clone(), bad_r));
            let mut bad_s = good;
            bad_s[40] ^= 1;
            cases.push((public, message.clone(), bad_s));
            let s = Scalar::from_canonical_bytes(good[32..].try_into().unwrap()).unwrap();
            let mut wide = [0u8; 32];
            // s + l as a 256-bit integer: l = 2^252 + 27742317777372353535851937790883648493.
            let l: [u8; 32] = [
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
            ];
            let mut carry = 0u16;
            for (j, byte) in wide.iter_mut().enumerate() {
                let sum = s.to_bytes()[j] as u16 + l[j] as u16 + carry;
                *byte = sum as u8;
                carry = sum >> 8;
            }
            let mut s_plus_l = good;
            s_plus_l[32..].copy_from_slice(&wide);
            cases.push((public, message.clone(), s_plus_l));
            for r in odd_encodings() {
                let mut odd = good;
                odd[..32].copy_from_slice(&r);
                cases.push((public, message.clone(), odd));
            }
            // A mixed-order key (A + T) with the signature of A, and small-order keys.
            let mixed = (key.verifying_key().to_edwards() + EIGHT_TORSION[(i % 7 + 1) as usize]).compress().to_bytes();
            cases.push((mixed, message.clone(), good));
            cases.push((EIGHT_TORSION[(i % 8) as usize].compress().to_bytes(), message.clone(), good));
            // R' = identity: R is the identity's encoding and s = k * a, so [s]B - [k]A = O.
            // verify_strict refuses it for R's small order, after the equation holds.
            let a = key.to_scalar();
            assert_eq!(ED25519_BASEPOINT_POINT * a, key.verifying_key().to_edwards());
            let identity = EdwardsPoint::default().compress().to_bytes();
            let digest: [u8; 64] =
                Sha512::new().chain_update(identity).chain_update(public).chain_update(&message).finalize().into();
            let k = Scalar::from_bytes_mod_order_wide(&digest);
            let mut forged = [0u8; 64];
            forged[..32].copy_from_slice(&identity);
            forged[32..].copy_from_slice(&(k * a).to_bytes());
            cases.push((public, message, forged));
        }
        let mut accepted = 0;
        for (public, message, signature) in &cases {
            let expected = dalek_verdict(public, message, signature);
            assert_eq!(strict_verdict(public, message, signature), expected, "key {public:?} sig {signature:?}");
            accepted += usize::from(expected);
        }
        assert_eq!(accepted, 16, "exactly the untouched signatures pass");
    }

    #[test]
    fn vartime_torsion_check_agrees_with_the_constant_time_one() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        for k in 1..20u64 {
            let p = ED25519_BASEPOINT_POINT * Scalar::from(k);
            for t in EIGHT_TORSION {
                let q = p + t;
                assert_eq!(is_torsion_free_vartime(&q), q.is_torsion_free());
            }
        }
    }

    fn signed(key: &SigningKey, from: PublicKey, nonce: u64) -> Transfer {
        let body = crate::transfer::TransferBody {
            chain_id: crate::ChainId::new("t-devnet").unwrap(),
            from,
            to: PublicKey([9; 32]),
            amount: 10,
            fee: 1,
            nonce,
            valid_until: 0,
            memo: vec![],
        };
        body.sign(key).unwrap()
    }

    #[test]
    fn cached_keys_give_the_verdicts_of_verify_strict() {
        let keys: Vec<SigningKey> = (0..3u8).map(|i| SigningKey::from_bytes(&[i + 1; 32])).collect();
        let not_a_point = (0..=255u8).map(|i| [i; 32]).find(|b| CompressedEdwardsY(*b).decompress().is_none()).unwrap();
        let mut transfers = Vec::new();
        for nonce in 0..3 {
            for key in &keys {
                transfers.push(signed(key, PublicKey::from(&key.verifying_key()), nonce));
            }
            // Signed by one key in the name of another; and a sender that is not a point.
            transfers.push(signed(&keys[0], PublicKey::from(&keys[1].verifying_key()), nonce));
            transfers.push(signed(&keys[2], PublicKey(not_a_point), nonce));
        }
        let expected: Vec<bool> = transfers.iter().map(|t| verify_transfer(t.clone()).is_ok()).collect();
        assert_eq!(expected.iter().filter(|ok| **ok).count(), 9);
        let mut verifier = SignatureVerifier::new();
        // Twice: the second pass takes every valid key from the cache.
        for _ in 0..2 {
            let got: Vec<bool> = verifier.verify_transfers(transfers.clone()).iter().map(Result::is_ok).collect();
            assert_eq!(got, expected);
            let small: Vec<bool> =
                verifier.verify_transfers(transfers[..3].to_vec()).iter().map(Result::is_ok).collect();
            assert_eq!(small, expected[..3]);
        }
        assert_eq!(verifier.keys.len(), 3, "only points are cached");
    }

    #[test]
    fn batch_accepts_good_signatures_and_isolates_a_bad_one() {
        let keys: Vec<SigningKey> = (0..8u8).map(|i| SigningKey::from_bytes(&[i + 1; 32])).collect();
        let publics: Vec<PublicKey> = keys.iter().map(|k| PublicKey::from(&k.verifying_key())).collect();
        let messages: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let mut signatures: Vec<[u8; 64]> = keys.iter().zip(&messages).map(|(k, m)| k.sign(m).to_bytes()).collect();
        signatures[3][40] ^= 1;
        let items: Vec<SignedMessage<'_>> = (0..8)
            .map(|i| SignedMessage { public_key: &publics[i], message: &messages[i], signature: &signatures[i] })
            .collect();
        let verdicts = SignatureVerifier::new().verify_all(&items);
        assert_eq!(verdicts, vec![true, true, true, false, true, true, true, true]);
    }
}
